//! Live chat across instances (`serve --role chat`; scenario 6).
//!
//! Users connected to different chat instances talk to each other: each
//! instance holds its sockets, and chat-fanout's hub carries every message
//! through Redis to every instance.
//!
//! ```text
//!  ann ──ws──► chat A ──publish (Lua: number, store, PUBLISH)──► Redis ──► chat B ──ws──► bob
//!                                                                  │
//!                                   worker: ArchiveRelay ◄─ stream ┘
//!                                     └─► Kafka (key = room) ─► PgArchive ─► chat_archive
//! ```
//!
//! - `GET /api/chat/rooms/{room}/ws[?offset=&epoch=]`: a room's socket
//!   ([`sockets`]: session, origin, limits, resume). Frames to the client:
//!   `message` (offset, epoch, payload `{id, from, name, text, at}`), `live`,
//!   `incomplete`, `error`; from the client: `{"text": "…"}`.
//! - `GET /api/notifications/ws`: the caller's notification feed (the
//!   read-only room `user.<id>`), live on whichever instance they reach;
//!   each `message` frame's payload is one notification `{id, kind,
//!   payload, createdAt}`, pushed by [`notifications`](crate::notifications).
//! - `GET /api/chat/rooms/{room}/presence`: how many users have the room
//!   open ([`presence`]).
//!
//! | file | what it is |
//! |---|---|
//! | [`rooms`] | which rooms exist, who reads and who publishes |
//! | [`names`] | the author names messages carry |
//! | [`presence`] | the count of users in a room |
//! | [`sockets`] | the WebSocket bridge with the system's session and limits |
//! | [`archive`] | the worker's relay (Redis → Kafka) and archiver (Kafka → PostgreSQL) |

pub mod archive;
mod args;
pub mod names;
pub mod presence;
pub mod rooms;
pub mod sockets;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chat_fanout::Hub;
use chat_fanout::ws::{Resume, WsBridge};
use serde::Deserialize;

use crate::api::ApiError;
use crate::auth::session::CurrentUser;
use rooms::Room;

pub use args::ChatArgs;
pub use sockets::ChatSettings;

/// What the chat routes reach.
#[derive(Clone)]
pub struct ChatState {
    /// The rooms, shared with every instance through Redis.
    pub hub: Hub,
    /// The sockets.
    pub bridge: WsBridge,
    /// The database (the notification list and its live delivery).
    pub pool: sqlx::PgPool,
    /// Rooms' recent presence counts.
    pub presence: presence::PresenceCounts,
}

impl ChatState {
    /// The rooms and sockets of a chat instance: a hub whose rooms keep
    /// `settings.history` messages and feed the archive relay, and a bridge
    /// that resumes from the PostgreSQL archive past that.
    pub async fn start(
        settings: &ChatSettings,
        redis: &redis::Client,
        pool: &sqlx::PgPool,
        sessions: &session_store::RedisStore,
    ) -> anyhow::Result<Self> {
        let hub = Hub::builder(redis.clone())
            .history(settings.history)
            .durable_archive()
            .build()
            .await?;
        let archive = chat_fanout::archive::PgArchive::new(pool.clone());
        let names = names::DisplayNames::new(pool.clone());
        let bridge =
            sockets::bridge(hub.clone(), sessions.clone(), archive, names, settings).await?;
        Ok(Self {
            hub,
            bridge,
            pool: pool.clone(),
            presence: Default::default(),
        })
    }

    /// Pushes each new notification to its user's feed, for as long as the
    /// task runs (one instance delivers each row).
    pub fn spawn_delivery(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(crate::notifications::deliver::run(
            self.pool.clone(),
            self.hub.clone(),
        ))
    }
}

/// `?offset=&epoch=`: where a reconnecting client resumes.
#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    offset: Option<u64>,
    epoch: Option<String>,
}

impl ResumeQuery {
    fn resume(self) -> Option<Resume> {
        self.offset.map(|offset| Resume {
            offset,
            epoch: self.epoch.unwrap_or_default(),
        })
    }
}

/// The chat routes.
pub fn routes(state: ChatState) -> Router {
    Router::new()
        .route("/api/chat/rooms/{room}/ws", get(room_socket))
        .route("/api/chat/rooms/{room}/presence", get(presence::presence))
        .route("/api/notifications/ws", get(feed_socket))
        .with_state(state)
}

/// `GET /api/chat/rooms/{room}/ws`.
async fn room_socket(
    State(chat): State<ChatState>,
    Path(room): Path<String>,
    Query(resume): Query<ResumeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if Room::parse(&room).is_none() {
        return ApiError::not_found("NO_SUCH_ROOM", "rooms are live.<name>").into_response();
    }
    chat.bridge.accept(room, resume.resume(), headers, ws).await
}

/// `GET /api/notifications/ws`: the caller's notification feed, live.
async fn feed_socket(
    State(chat): State<ChatState>,
    user: CurrentUser,
    Query(resume): Query<ResumeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let room = Room::feed_of(user.user_id);
    chat.bridge.accept(room, resume.resume(), headers, ws).await
}
