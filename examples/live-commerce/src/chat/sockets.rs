//! The chat service's WebSockets: chat-fanout's [`WsBridge`] with the
//! system's session, room policy and limits.
//!
//! - **Who.** The `session` cookie (the one the auth service set, passed on
//!   by the gateway) is looked up in the shared session store; no session,
//!   `401` before the upgrade. A logout, "log out everywhere" or an
//!   eviction is announced by the store on its revocation channel and
//!   closes the session's sockets on every instance at once (close code
//!   4001); after a reconnect of that channel every socket is re-checked.
//! - **Where.** [`Room`] decides who may open and who may publish.
//! - **Limits.** The page's `Origin` must be this site (`403`), a frame is
//!   at most [`ChatSettings::max_message`] bytes, a message's text at most
//!   [`MAX_TEXT`] characters, and each user may publish
//!   [`ChatSettings::rate`] messages (an `error` frame past it).
//! - **Resume.** A client reconnects with `?offset=&epoch=` of the last
//!   message it saw; what Redis history no longer holds is read from the
//!   PostgreSQL archive, so it misses nothing.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use chat_fanout::Hub;
use chat_fanout::archive::PgArchive;
use chat_fanout::ws::{Identity, RateLimit, Revoked, WsBridge};
use futures::StreamExt;
use serde_json::{Value, json};
use session_store::{RedisStore, RevocationEvent};
use tower_sessions::session::Id;

use super::names::DisplayNames;
use super::rooms::Room;
use crate::auth::session::COOKIE_NAME;

/// The longest message text, in characters.
pub const MAX_TEXT: usize = 1_000;

/// How the chat service's sockets are limited.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Messages each room keeps in Redis (older ones come from the archive).
    pub history: usize,
    /// Messages a user may publish.
    pub rate: RateLimit,
    /// The largest frame a client may send, in bytes.
    pub max_message: usize,
    /// Messages a socket joining without a position gets first.
    pub history_on_join: u64,
}

impl Default for ChatSettings {
    /// 10,000 messages of history, 5 messages a second (bursts of 20),
    /// 4 KiB frames, the last 50 messages on join.
    fn default() -> Self {
        Self {
            history: 10_000,
            rate: RateLimit::new(5.0, 20),
            max_message: 4 * 1024,
            history_on_join: 50,
        }
    }
}

/// The session id in a request's `Cookie` header.
pub fn session_id(headers: &HeaderMap) -> Option<Id> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(tower_sessions::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == COOKIE_NAME)
        .and_then(|cookie| cookie.value().parse().ok())
}

/// The bridge serving every socket of this instance.
pub async fn bridge(
    hub: Hub,
    sessions: RedisStore,
    archive: PgArchive,
    names: DisplayNames,
    settings: &ChatSettings,
) -> anyhow::Result<WsBridge> {
    let auth_store = sessions.clone();
    let author_names = names.clone();
    let verify_store = sessions.clone();
    let revocations = sessions
        .revocations()
        .await?
        .filter_map(|event| async move {
            Some(match event {
                RevocationEvent::Revoked(revoked) => Revoked::Sessions {
                    user_id: revoked.user_id,
                    session_ids: revoked.session_ids,
                },
                RevocationEvent::Resubscribed => Revoked::Recheck,
            })
        });
    Ok(WsBridge::new(hub, move |headers, room| {
        let store = auth_store.clone();
        let names = names.clone();
        async move {
            let identity = authorize(&store, &headers, &room).await?;
            names.learn(&identity.user_id).await;
            Ok(identity)
        }
    })
    .can_publish(|identity, room| {
        Room::parse(room).is_some_and(|r| r.may_publish(&identity.user_id))
    })
    .inbound(move |identity, room, body| message(&author_names, identity, room, body))
    .presence(|room| matches!(Room::parse(room), Some(Room::Live(_))))
    .revocations(revocations)
    .verify(move |identity| {
        let store = verify_store.clone();
        async move {
            let Some(id) = identity.session_id.and_then(|id| id.parse().ok()) else {
                return false;
            };
            // Keep the socket while Redis cannot answer; close it once the
            // session is known to be gone.
            !matches!(store.user_of(&id).await, Ok(None))
        }
    })
    .archive(archive)
    .history_on_join(settings.history_on_join)
    .rate_limit(settings.rate)
    .max_message_size(settings.max_message)
    .keepalive(Duration::from_secs(20), Duration::from_secs(10)))
}

/// The handshake's who and where: a live session, and a room it may open.
async fn authorize(
    store: &RedisStore,
    headers: &HeaderMap,
    room: &str,
) -> Result<Identity, StatusCode> {
    let room = Room::parse(room).ok_or(StatusCode::NOT_FOUND)?;
    let id = session_id(headers).ok_or(StatusCode::UNAUTHORIZED)?;
    let user = store
        .user_of(&id)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::UNAUTHORIZED)?;
    if !room.may_read(&user) {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(Identity {
        user_id: user,
        session_id: Some(id.to_string()),
    })
}

/// What a client's frame `{"text": "…"}` becomes in the room: the text
/// with its author (id and display name), a message id and the time;
/// anything else is dropped.
fn message(names: &DisplayNames, identity: &Identity, _room: &str, body: Value) -> Option<Value> {
    let text = body.get("text")?.as_str()?.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return None;
    }
    Some(json!({
        "id": uuid::Uuid::new_v4(),
        "from": identity.user_id,
        "name": names.of(&identity.user_id),
        "text": text,
        "at": chrono::Utc::now(),
    }))
}
