//! `/api/auth/…`: sign up, log in, log out (here or everywhere), who am I;
//! and the admin's `POST /api/admin/users/logout-all`.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use session_store::RedisStore;
use sqlx::PgPool;
use tower_sessions::Session;

use crate::api::{self, ApiError, JsonBody};
use crate::auth::accounts::{self, Account};
use crate::auth::login_limit::LoginLimiter;
use crate::auth::password::{self, Passwords};
use crate::auth::session::{self, Admin, CurrentUser, USER_KEY};
use crate::http::client_addr::ClientAddr;
use crate::mail::signup::WelcomeMails;

/// What the auth handlers share.
#[derive(Clone)]
pub struct AuthState {
    /// Accounts.
    pub pool: PgPool,
    /// The shared session store (for `logout-all`).
    pub sessions: RedisStore,
    /// Hashing, bounded.
    pub passwords: Passwords,
    /// Failed-login limits.
    pub limiter: LoginLimiter,
    /// The welcome mail of each new account.
    pub welcome: WelcomeMails,
}

impl FromRef<AuthState> for PgPool {
    fn from_ref(state: &AuthState) -> PgPool {
        state.pool.clone()
    }
}

/// The routes, with their state (merge into a router that has the session
/// layer).
pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout-all", post(logout_all))
        .route("/api/auth/me", get(me))
        .route("/api/admin/users/logout-all", post(admin_logout_all))
        .with_state(state)
}

/// The body of sign-up and login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The email address.
    pub email: String,
    /// The password, as typed.
    pub password: String,
}

/// `POST /api/auth/signup`: `201` with the account; `409 EMAIL_TAKEN`. The
/// welcome mail's job is enqueued in the account's transaction (`mq`) or
/// spawned once it committed (`in-process`).
async fn signup(
    State(state): State<AuthState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<api::Ok<Account>, ApiError> {
    let email = accounts::normalize_email(&body.email)?;
    password::check_strength(&body.password, &email)?;
    let hash = state
        .passwords
        .hash(body.password)
        .await
        .map_err(|error| ApiError::unavailable("password hashing", error))?;
    let mut tx = state.pool.begin().await?;
    let account = accounts::create(&mut *tx, &email, &hash)
        .await?
        .ok_or_else(|| ApiError::conflict("EMAIL_TAKEN", "an account with this email exists"))?;
    state
        .welcome
        .enqueue(&mut tx, &account)
        .await
        .map_err(|error| ApiError::unavailable("the mail queue", error))?;
    tx.commit().await?;
    state.welcome.after_commit(&account);
    tracing::info!(user_id = %account.user_id, "account created");
    Ok(api::Ok(StatusCode::CREATED, account))
}

/// `POST /api/auth/login`: a new session id holding the user; `401
/// INVALID_CREDENTIALS` (the same answer for an unknown email and a wrong
/// password); `429` past the failed-login limits.
async fn login(
    State(state): State<AuthState>,
    ClientAddr(address): ClientAddr,
    session: Session,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<api::Ok<Account>, ApiError> {
    let invalid = || ApiError::unauthorized("INVALID_CREDENTIALS", "wrong email or password");
    // An address that is not an email cannot have an account: count it as
    // a failure under its text, so it is limited like any other guess.
    let email = accounts::normalize_email(&body.email).unwrap_or_else(|_| body.email.clone());
    let email: String = email.chars().take(accounts::MAX_EMAIL_LENGTH).collect();
    state.limiter.check(&email, address).await?;
    let found = accounts::find_by_email(&state.pool, &email).await?;
    let (account, stored) = match found {
        Some((account, hash)) => (Some(account), Some(hash)),
        None => (None, None),
    };
    let password = body
        .password
        .chars()
        .take(password::MAX_LENGTH + 1)
        .collect();
    let matches = state
        .passwords
        .verify(password, stored)
        .await
        .map_err(|error| ApiError::unavailable("password checking", error))?;
    let Some(account) = account.filter(|_| matches) else {
        state.limiter.record_failure(&email, address).await?;
        return Err(invalid());
    };
    state.limiter.clear(&email).await?;
    // A new id at login (session fixation), and nothing of what the old
    // session held. The order matters: `cycle_id` loads the old record and
    // its successor's save deletes it; a `clear` before the load would
    // start a new record the store cannot tie to the old id.
    session_store::cycle_id(&session)
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))?;
    session.clear().await;
    session
        .insert(USER_KEY, account.user_id)
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))?;
    Ok(api::ok(account))
}

/// `POST /api/auth/logout`: ends this session (answers `200` without one
/// too: the outcome the caller wants holds either way).
async fn logout(session: Session) -> Result<api::Ok<Value>, ApiError> {
    let had_user = session::user_of(&session).await?.is_some();
    session
        .flush()
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))?;
    Ok(api::ok(json!({"loggedOut": had_user})))
}

/// `POST /api/auth/logout-all`: ends every session of the caller, on every
/// service and device.
async fn logout_all(
    State(state): State<AuthState>,
    user: CurrentUser,
    session: Session,
) -> Result<api::Ok<Value>, ApiError> {
    let revoked = revoke_all(&state, user).await?;
    // The record is gone already; this also drops the cookie.
    session
        .flush()
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))?;
    Ok(api::ok(json!({"revoked": revoked})))
}

/// `GET /api/auth/me`: the caller's account.
async fn me(
    State(state): State<AuthState>,
    user: CurrentUser,
) -> Result<api::Ok<Account>, ApiError> {
    accounts::find(&state.pool, user.user_id)
        .await?
        .map(api::ok)
        .ok_or_else(|| ApiError::unauthorized("NOT_AUTHENTICATED", "the account no longer exists"))
}

/// The body of `POST /api/admin/users/logout-all`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    email: String,
}

/// `POST /api/admin/users/logout-all`: an admin ends every session of
/// another account (a stolen laptop, a leaked password).
async fn admin_logout_all(
    State(state): State<AuthState>,
    Admin(admin): Admin,
    JsonBody(body): JsonBody<Target>,
) -> Result<api::Ok<Value>, ApiError> {
    let email = accounts::normalize_email(&body.email)?;
    let (target, _) = accounts::find_by_email(&state.pool, &email)
        .await?
        .ok_or_else(|| ApiError::not_found("ACCOUNT_NOT_FOUND", "no account with this email"))?;
    let user = CurrentUser {
        user_id: target.user_id,
    };
    let revoked = revoke_all(&state, user).await?;
    tracing::warn!(admin = %admin.user_id, user = %target.user_id, revoked, "sessions revoked by an admin");
    Ok(api::ok(json!({"revoked": revoked})))
}

async fn revoke_all(state: &AuthState, user: CurrentUser) -> Result<usize, ApiError> {
    state
        .sessions
        .revoke_all(&user.user_id.to_string())
        .await
        .map_err(|error| ApiError::unavailable("the session store", error))
}
