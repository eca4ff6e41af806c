//! WebSocket adapter for axum (feature `axum`).
//!
//! [`WsBridge::router`] serves `GET <path>?room=<room>[&offset=<n>&epoch=<e>]`
//! ([`WsBridge::accept`] serves any route an application chooses, e.g. one
//! with the room in its path) and bridges the socket to a subscription of
//! the room:
//!
//! 1. **Handshake checks**, secure by default: the page's `Origin` must be
//!    this host ([`origin`]: cross-site WebSocket hijacking is refused with
//!    `403`); then the hook given to [`WsBridge::new`] sees the request
//!    headers (the session cookie) and the room, and answers with the user's
//!    [`Identity`] or an HTTP status that refuses the upgrade.
//! 2. **Resume.** The hub subscribes first, then, if the client sent the
//!    last `(offset, epoch)` it saw, the missed messages are sent from
//!    history page by page (any number of pages), and past history from the
//!    archive when one is set ([`WsBridge::archive`], module [`resume`]),
//!    then the live feed follows without duplicates. Only what neither holds
//!    is reported (`incomplete`). A client joining without a position gets
//!    the last [`history_on_join`](WsBridge::history_on_join) messages the
//!    same way (none by default).
//! 3. **Live.** Each message goes out as a text frame; each text frame from
//!    the client is published to the room (as `{"from": user, "body": …}`
//!    unless [`WsBridge::inbound`] says otherwise) when the user may publish
//!    there ([`WsBridge::can_publish`], no room by default) and is within
//!    their rate
//!    ([`rate`]); otherwise the client gets an `error` frame. Frames larger
//!    than [`WsBridge::max_message_size`] (16 KiB by default) end the
//!    socket.
//! 4. **Keepalive.** The server pings every `ping_interval`; a client silent
//!    for longer than `ping_interval + pong_timeout` is dropped, and so is
//!    one that stops reading (a write blocked for `pong_timeout`).
//! 5. **Revocation.** Given a stream of [`Revoked`] events (for instance
//!    session-store's revocation subscription, mapped), every socket of a
//!    revoked session is closed at once with code 4001. When revocations may
//!    have been missed ([`Revoked::Recheck`]), every socket is re-checked
//!    with the [`verify`](WsBridge::verify) hook.
//! 6. **Presence** (off by default, [`WsBridge::presence`]): while a socket
//!    of a chosen room is open its user is a member of the room's
//!    [`Presence`](crate::Presence), as `<user id>/<socket id>` (a user with
//!    two tabs is two members; [`Presence::users`](crate::Presence::users)
//!    counts people), heartbeated, and removed when the socket ends.
//!
//! Frames sent to the client (JSON text):
//!
//! | frame | when |
//! |---|---|
//! | `{"type":"message","offset":42,"epoch":"…","payload":…}` | each message, in offset order |
//! | `{"type":"incomplete","from":17,"epoch":"…"}` | history lost messages before offset `from` (read them from the archive) |
//! | `{"type":"live","offset":42,"epoch":"…"}` | caught up: what follows is live |
//! | `{"type":"error","code":"rate_limited","message":"…"}` | a frame was not published: `rate_limited`, `forbidden` (the room's policy) or `bad_message` (not JSON) |
//!
//! Close codes: 4001 session revoked, 4002 slow consumer (resume from the
//! last offset received), 4003 history lost (resume after the archive),
//! 1001 keepalive timeout or the hub stopped, 1011 Redis unavailable.
//!
//! ```no_run
//! use chat_fanout::ws::{Identity, Revoked, WsBridge};
//! use futures::StreamExt;
//!
//! # async fn demo(hub: chat_fanout::Hub, store: session_store::RedisStore) -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = store.clone();
//! let bridge = WsBridge::new(hub, move |headers, _room| {
//!     let sessions = sessions.clone();
//!     async move {
//!         let id = headers
//!             .get("x-session")
//!             .and_then(|v| v.to_str().ok())
//!             .and_then(|v| v.parse().ok())
//!             .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
//!         let user = sessions
//!             .user_of(&id)
//!             .await
//!             .map_err(|_| axum::http::StatusCode::SERVICE_UNAVAILABLE)?
//!             .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
//!         Ok(Identity { user_id: user, session_id: Some(id.to_string()) })
//!     }
//! })
//! // Sockets are read-only until a room is opened to publishing.
//! .can_publish(|_identity, room| room.starts_with("live:"))
//! .revocations(store.revocations().await?.filter_map(|event| async move {
//!     match event {
//!         session_store::RevocationEvent::Revoked(r) => Some(Revoked::Sessions {
//!             user_id: r.user_id,
//!             session_ids: r.session_ids,
//!         }),
//!         // Revocations may have been missed while it reconnected.
//!         session_store::RevocationEvent::Resubscribed => Some(Revoked::Recheck),
//!     }
//! }))
//! .verify(move |identity| {
//!     let store = store.clone();
//!     async move {
//!         let Some(id) = identity.session_id.and_then(|id| id.parse().ok()) else { return true };
//!         // Keep the socket if Redis cannot answer; close it if the session is gone.
//!         !matches!(store.user_of(&id).await, Ok(None))
//!     }
//! });
//! let app: axum::Router = bridge.router("/ws");
//! # let _ = app; Ok(())
//! # }
//! ```

mod frames;
mod identity;
pub mod origin;
pub mod rate;
pub mod resume;
mod socket;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::envelope::Position;
use crate::hub::Hub;

pub use frames::{CLOSE_HISTORY_LOST, CLOSE_REVOKED, CLOSE_SLOW_CONSUMER};
pub use identity::{Identity, Revoked};
pub use origin::Origins;
pub use rate::RateLimit;
pub use resume::ArchiveSource;

type AuthFuture = Pin<Box<dyn Future<Output = Result<Identity, StatusCode>> + Send>>;
type Auth = Arc<dyn Fn(HeaderMap, String) -> AuthFuture + Send + Sync>;
type Inbound = Arc<dyn Fn(&Identity, &str, Value) -> Option<Value> + Send + Sync>;
type CanPublish = Arc<dyn Fn(&Identity, &str) -> bool + Send + Sync>;
type RoomFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type VerifyFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
type Verify = Arc<dyn Fn(Identity) -> VerifyFuture + Send + Sync>;

/// Bridges WebSockets to a hub's rooms (see the [module docs](self)).
#[derive(Clone)]
pub struct WsBridge {
    hub: Hub,
    auth: Auth,
    inbound: Inbound,
    can_publish: CanPublish,
    verify: Option<Verify>,
    revocations: broadcast::Sender<Revoked>,
    origins: Origins,
    rate: RateLimit,
    limiter: rate::Limiter,
    archive: Option<Arc<dyn ArchiveSource>>,
    archive_wait: Duration,
    max_message_size: usize,
    ping_interval: Duration,
    pong_timeout: Duration,
    buffer: usize,
    presence: Option<RoomFilter>,
    history_on_join: u64,
}

impl std::fmt::Debug for WsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBridge")
            .field("origins", &self.origins)
            .field("rate", &self.rate)
            .field("max_message_size", &self.max_message_size)
            .field("ping_interval", &self.ping_interval)
            .finish_non_exhaustive()
    }
}

/// Where a reconnecting client resumes: after `offset` of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Resume {
    /// The last offset the client saw.
    pub offset: u64,
    /// Its epoch (empty when the client saw none).
    #[serde(default)]
    pub epoch: String,
}

/// The query of [`WsBridge::router`]'s upgrade request.
#[derive(Debug, Deserialize)]
struct Connect {
    room: String,
    offset: Option<u64>,
    epoch: Option<String>,
}

impl WsBridge {
    /// A bridge whose sockets are authorized by `auth` (headers and room in,
    /// identity or refusal out). Defaults: same-host origins only, 16 KiB
    /// frames, 5 messages a second per user (bursts of 20), no room open
    /// to publish (see [`can_publish`](Self::can_publish)), ping every 20 s
    /// and drop after 10 s more of
    /// silence, a buffer of 1,024 messages per socket with
    /// [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect), no
    /// archive.
    pub fn new<F, Fut>(hub: Hub, auth: F) -> Self
    where
        F: Fn(HeaderMap, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Identity, StatusCode>> + Send + 'static,
    {
        Self {
            hub,
            auth: Arc::new(move |headers, room| Box::pin(auth(headers, room))),
            inbound: Arc::new(|identity, _room, body| {
                Some(serde_json::json!({ "from": identity.user_id, "body": body }))
            }),
            can_publish: Arc::new(|_, _| false),
            verify: None,
            revocations: broadcast::channel(1024).0,
            origins: Origins::default(),
            rate: RateLimit::default(),
            limiter: rate::Limiter::default(),
            archive: None,
            archive_wait: Duration::from_secs(5),
            max_message_size: 16 * 1024,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            buffer: 1024,
            presence: None,
            history_on_join: 0,
        }
    }

    /// What a client's text frame becomes in the room (`None`: dropped).
    pub fn inbound<F>(mut self, inbound: F) -> Self
    where
        F: Fn(&Identity, &str, Value) -> Option<Value> + Send + Sync + 'static,
    {
        self.inbound = Arc::new(inbound);
        self
    }

    /// Whether a user may publish to a room from a socket; a refused frame
    /// gets an `error` frame with code `forbidden`. Defaults to no room:
    /// sockets are read-only (a notification feed, a price ticker) until
    /// this opens the rooms where clients may speak, so a forgotten policy
    /// cannot let any client write into any room.
    pub fn can_publish<F>(mut self, policy: F) -> Self
    where
        F: Fn(&Identity, &str) -> bool + Send + Sync + 'static,
    {
        self.can_publish = Arc::new(policy);
        self
    }

    /// Whether an open socket's identity is still valid (for instance: its
    /// session still exists), asked for every socket on
    /// [`Revoked::Recheck`]; `false` closes the socket with 4001.
    pub fn verify<F, Fut>(mut self, verify: F) -> Self
    where
        F: Fn(Identity) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.verify = Some(Arc::new(move |identity| Box::pin(verify(identity))));
        self
    }

    /// Closes the sockets of revoked sessions as `events` reports them.
    pub fn revocations<S>(self, events: S) -> Self
    where
        S: Stream<Item = Revoked> + Send + 'static,
    {
        let sender = self.revocations.clone();
        tokio::spawn(async move {
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let _ = sender.send(event);
            }
        });
        self
    }

    /// The pages allowed to open sockets. Defaults to [`Origins::SameHost`].
    pub fn origins(mut self, origins: Origins) -> Self {
        self.origins = origins;
        self
    }

    /// How many messages each user may publish. Defaults to 5 a second,
    /// bursts of 20.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate = limit;
        self
    }

    /// The largest frame a client may send, in bytes; a larger one ends the
    /// socket. Defaults to 16 KiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(128);
        self
    }

    /// Where resuming clients read what Redis history no longer holds
    /// (e.g. [`PgArchive`](crate::archive::PgArchive)). Defaults to none:
    /// such clients get an `incomplete` frame.
    pub fn archive(mut self, archive: impl ArchiveSource) -> Self {
        self.archive = Some(Arc::new(archive));
        self
    }

    /// How long a resume waits for the archive to catch up with offsets
    /// Redis has already trimmed. Defaults to 5 s.
    pub fn archive_wait(mut self, wait: Duration) -> Self {
        self.archive_wait = wait;
        self
    }

    /// How often sockets are pinged, and how long past that a silent one
    /// is kept.
    pub fn keepalive(mut self, ping_interval: Duration, pong_timeout: Duration) -> Self {
        self.ping_interval = ping_interval.max(Duration::from_millis(10));
        self.pong_timeout = pong_timeout;
        self
    }

    /// Messages buffered per socket before it is closed as a slow consumer.
    pub fn buffer(mut self, messages: usize) -> Self {
        self.buffer = messages.max(1);
        self
    }

    /// A client joining without a position (no `offset`) first gets the
    /// room's last `messages` messages, as a resume would send them (Redis
    /// history, then the archive), then `live`. Default 0: only what is
    /// published from now on.
    pub fn history_on_join(mut self, messages: u64) -> Self {
        self.history_on_join = messages;
        self
    }

    /// In the rooms `rooms` accepts, each open socket is a member of the
    /// room's presence (see the [module docs](self), item 6). Off by
    /// default: it costs a write to Redis per socket every third of the
    /// hub's presence ttl.
    pub fn presence<F>(mut self, rooms: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.presence = Some(Arc::new(rooms));
        self
    }

    /// An axum router serving the upgrade at `path`
    /// (`?room=<room>[&offset=<n>&epoch=<e>]`).
    pub fn router<S: Clone + Send + Sync + 'static>(self, path: &str) -> axum::Router<S> {
        axum::Router::new()
            .route(path, axum::routing::get(upgrade))
            .with_state(self)
    }

    /// Checks a handshake for `room` and upgrades it: for applications that
    /// mount sockets on their own routes (the room in the path, say).
    pub async fn accept(
        &self,
        room: String,
        resume: Option<Resume>,
        headers: HeaderMap,
        ws: WebSocketUpgrade,
    ) -> Response {
        if crate::keys::check_room(&room).is_err() {
            return (StatusCode::BAD_REQUEST, "invalid room").into_response();
        }
        if !self.origins.allows(&headers) {
            return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
        }
        let identity = match (self.auth)(headers, room.clone()).await {
            Ok(identity) => identity,
            Err(status) => return status.into_response(),
        };
        let bridge = self.clone();
        let revoked = bridge.revocations.subscribe();
        let since = resume.map(|resume| Position {
            offset: resume.offset,
            epoch: resume.epoch,
        });
        ws.max_message_size(self.max_message_size)
            .max_frame_size(self.max_message_size)
            .on_upgrade(move |socket| async move {
                let span = tracing::debug_span!("ws", %room, user = %identity.user_id);
                let session = socket::Session::new(bridge, identity, room, revoked);
                tracing::Instrument::instrument(session.serve(socket, since), span).await
            })
    }
}

async fn upgrade(
    State(bridge): State<WsBridge>,
    Query(connect): Query<Connect>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let resume = connect.offset.map(|offset| Resume {
        offset,
        epoch: connect.epoch.unwrap_or_default(),
    });
    bridge.accept(connect.room, resume, headers, ws).await
}
