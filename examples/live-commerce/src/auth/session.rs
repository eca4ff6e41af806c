//! The session every service shares, and who it says the caller is.
//!
//! Sessions live in Redis through `session-store` under tower-sessions: the
//! auth service writes the user's id into the session at login, and every
//! other service (orders, a separate process) reads the same record from
//! the same Redis with the cookie the gateway forwards. The user id is the
//! store's `user_key`, so `session-store` indexes sessions by user and
//! `logout-all` can end all of them ([`RedisStore::revoke_all`]).
//!
//! The cookie (`session`): `HttpOnly` (scripts cannot read it),
//! `SameSite=Lax` (not sent on cross-site POSTs), `Secure` when the edge
//! serves TLS (the edge adds it to every `Set-Cookie`), `Path=/`. A session
//! ends 30 minutes after its last change or 12 hours after login, whichever
//! comes first.

use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use session_store::RedisStore;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use uuid::Uuid;

use crate::api::ApiError;
use crate::auth::accounts::{self, Account};

/// The session key holding the user's id (and the store's user index key).
pub const USER_KEY: &str = "user_id";
/// The cookie's name.
pub const COOKIE_NAME: &str = "session";
/// A session ends this long after its last change.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after it began, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

/// The shared store: the same prefix and limits in every service.
pub fn store(redis: redis::Client) -> anyhow::Result<RedisStore> {
    Ok(RedisStore::builder(redis)
        .user_key(USER_KEY)
        .idle_timeout(IDLE_TIMEOUT)
        .absolute_timeout(ABSOLUTE_TIMEOUT)
        .build()?)
}

/// The tower-sessions layer over `store`. The cookie is not marked
/// `Secure` here: the edge adds it when it serves TLS (see
/// [`edge`](crate::http::edge)), in one process or behind the gateway alike.
pub fn layer(store: RedisStore) -> SessionManagerLayer<RedisStore> {
    let idle = time::Duration::seconds(IDLE_TIMEOUT.as_secs() as i64);
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(false)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// The logged-in caller: the user id of the request's session. A request
/// without a live session is refused with `401 NOT_AUTHENTICATED`: no
/// header or body can stand in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentUser {
    /// The account id.
    pub user_id: Uuid,
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, message)| ApiError::unavailable("the session layer", message))?;
        user_of(&session)
            .await?
            .map(|user_id| CurrentUser { user_id })
            .ok_or_else(|| {
                ApiError::unauthorized("NOT_AUTHENTICATED", "log in first (POST /api/auth/login)")
            })
    }
}

/// The user id `session` holds, if any.
pub async fn user_of(session: &Session) -> Result<Option<Uuid>, ApiError> {
    session
        .get::<Uuid>(USER_KEY)
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))
}

/// A logged-in caller holding the admin role (`403 NOT_ADMIN` otherwise).
/// The role is read from the database on every request, so granting or
/// withdrawing it takes effect at once, without a new login.
#[derive(Debug, Clone)]
pub struct Admin(pub Account);

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    sqlx::PgPool: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let pool = sqlx::PgPool::from_ref(state);
        match accounts::find(&pool, user.user_id).await? {
            Some(account) if account.admin => Ok(Admin(account)),
            Some(_) => Err(ApiError::forbidden(
                "NOT_ADMIN",
                "this needs the admin role",
            )),
            None => Err(ApiError::unauthorized(
                "NOT_AUTHENTICATED",
                "the account no longer exists",
            )),
        }
    }
}
