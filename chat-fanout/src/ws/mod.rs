//! WebSocket adapter for axum (feature `axum`).
//!
//! [`WsBridge::router`] serves `GET <path>?room=<room>[&offset=<n>&epoch=<e>]`
//! and bridges the socket to a subscription of the room:
//!
//! 1. **Auth.** The hook given to [`WsBridge::new`] sees the request headers
//!    (the session cookie) and the room, and answers with the user's
//!    [`Identity`] or an HTTP status that refuses the upgrade.
//! 2. **Resume.** The hub subscribes first, then, if the client sent the
//!    last `(offset, epoch)` it saw, the missed messages are sent from
//!    history page by page (any number of pages), then the live feed follows
//!    without duplicates. If history no longer reaches back, the client is
//!    told (`incomplete`) and gets what history still holds.
//! 3. **Live.** Each message goes out as a text frame; each text frame from
//!    the client is published to the room (as `{"from": user, "body": …}`
//!    unless [`WsBridge::inbound`] says otherwise).
//! 4. **Keepalive.** The server pings every `ping_interval`; a client silent
//!    for longer than `ping_interval + pong_timeout` is dropped.
//! 5. **Revocation.** Given a stream of [`Revoked`] events (for instance
//!    session-store's revocation subscription, mapped), every socket of a
//!    revoked session is closed at once with code 4001. When revocations may
//!    have been missed ([`Revoked::Recheck`]), every socket is re-checked
//!    with the [`verify`](WsBridge::verify) hook.
//!
//! Frames sent to the client (JSON text):
//!
//! | frame | when |
//! |---|---|
//! | `{"type":"message","offset":42,"epoch":"…","payload":…}` | each message, in offset order |
//! | `{"type":"incomplete","from":17,"epoch":"…"}` | history lost messages before offset `from` (read them from the archive) |
//! | `{"type":"live","offset":42,"epoch":"…"}` | caught up: what follows is live |
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::hub::Hub;
use crate::policy::{CloseReason, SlowConsumer, SubscribeOptions};
use crate::recovery::Recovery;

/// Close code: the session was revoked.
pub const CLOSE_REVOKED: u16 = 4001;
/// Close code: the client read too slowly; resume from the last offset.
pub const CLOSE_SLOW_CONSUMER: u16 = 4002;
/// Close code: history lost messages the client has not seen.
pub const CLOSE_HISTORY_LOST: u16 = 4003;

/// Who is on the other end of a socket (from the auth hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user.
    pub user_id: String,
    /// The session the socket was opened with, if sessions are tracked.
    pub session_id: Option<String>,
}

/// A revocation: the sockets it matches are closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// These sessions of the user ended (a socket without a session id
    /// matches any of the user's sessions).
    Sessions {
        /// The user.
        user_id: String,
        /// The sessions.
        session_ids: Vec<String>,
    },
    /// Every socket of the user.
    User(String),
    /// Revocations may have been missed (the revocation subscription was
    /// re-established): every socket is re-checked with the
    /// [`verify`](WsBridge::verify) hook, if one is set.
    Recheck,
}

impl Revoked {
    fn matches(&self, identity: &Identity) -> bool {
        match self {
            Revoked::Recheck => false,
            Revoked::User(user) => *user == identity.user_id,
            Revoked::Sessions {
                user_id,
                session_ids,
            } => {
                *user_id == identity.user_id
                    && identity
                        .session_id
                        .as_ref()
                        .is_none_or(|session| session_ids.contains(session))
            }
        }
    }
}

type AuthFuture = Pin<Box<dyn Future<Output = Result<Identity, StatusCode>> + Send>>;
type Auth = Arc<dyn Fn(HeaderMap, String) -> AuthFuture + Send + Sync>;
type Inbound = Arc<dyn Fn(&Identity, &str, Value) -> Option<Value> + Send + Sync>;
type VerifyFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
type Verify = Arc<dyn Fn(Identity) -> VerifyFuture + Send + Sync>;

/// Bridges WebSockets to a hub's rooms (see the [module docs](self)).
#[derive(Clone)]
pub struct WsBridge {
    hub: Hub,
    auth: Auth,
    inbound: Inbound,
    verify: Option<Verify>,
    revocations: broadcast::Sender<Revoked>,
    ping_interval: Duration,
    pong_timeout: Duration,
    buffer: usize,
}

impl std::fmt::Debug for WsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsBridge")
            .field("ping_interval", &self.ping_interval)
            .finish_non_exhaustive()
    }
}

/// The query of the upgrade request.
#[derive(Debug, Deserialize)]
struct Connect {
    room: String,
    offset: Option<u64>,
    epoch: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame<'a> {
    Message {
        offset: u64,
        epoch: &'a str,
        payload: &'a Value,
    },
    Incomplete {
        from: u64,
        epoch: &'a str,
    },
    Live {
        offset: u64,
        epoch: &'a str,
    },
}

impl WsBridge {
    /// A bridge whose sockets are authorized by `auth` (headers and room in,
    /// identity or refusal out). Defaults: ping every 20 s, drop after 10 s
    /// more of silence, a buffer of 1,024 messages per socket with
    /// [`SlowConsumer::Disconnect`].
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
            verify: None,
            revocations: broadcast::channel(1024).0,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            buffer: 1024,
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

    /// An axum router serving the upgrade at `path`.
    pub fn router<S: Clone + Send + Sync + 'static>(self, path: &str) -> axum::Router<S> {
        axum::Router::new()
            .route(path, axum::routing::get(upgrade))
            .with_state(self)
    }
}

async fn upgrade(
    State(bridge): State<WsBridge>,
    Query(connect): Query<Connect>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if crate::keys::check_room(&connect.room).is_err() {
        return (StatusCode::BAD_REQUEST, "invalid room").into_response();
    }
    let identity = match (bridge.auth)(headers, connect.room.clone()).await {
        Ok(identity) => identity,
        Err(status) => return status.into_response(),
    };
    let revoked = bridge.revocations.subscribe();
    ws.on_upgrade(move |socket| async move {
        let span = tracing::debug_span!("ws", room = %connect.room, user = %identity.user_id);
        tracing::Instrument::instrument(serve(bridge, socket, identity, connect, revoked), span)
            .await
    })
}

fn close(code: u16, reason: impl Into<String>) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.into()),
    }))
}

fn text(frame: &Frame<'_>) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(frame).expect("frames serialize"),
    ))
}

async fn serve(
    bridge: WsBridge,
    socket: WebSocket,
    identity: Identity,
    connect: Connect,
    mut revoked: broadcast::Receiver<Revoked>,
) {
    let (mut out, mut incoming) = socket.split();
    let room = connect.room;
    let hub = bridge.hub.clone();
    let options = SubscribeOptions::new()
        .policy(SlowConsumer::Disconnect)
        .capacity(bridge.buffer);
    let mut sub = match hub.subscribe_with::<Value>(&room, options).await {
        Ok(sub) => sub,
        Err(error) => {
            tracing::warn!(%error, "cannot subscribe a socket");
            let _ = out.send(close(1011, "unavailable")).await;
            return;
        }
    };
    let start = sub.start().clone();
    // The last offset sent, in `epoch`.
    let mut sent = start.offset;
    let mut epoch = start.epoch.clone();
    if let Some(since) = connect.offset {
        let mut since = since;
        let mut since_epoch = connect.epoch.unwrap_or_default();
        loop {
            match hub.recover::<Value>(&room, since, &since_epoch, 500).await {
                Ok(Recovery::Page {
                    messages,
                    more,
                    head,
                }) => {
                    for message in &messages {
                        let frame = Frame::Message {
                            offset: message.offset,
                            epoch: &message.epoch,
                            payload: &message.payload,
                        };
                        if out.send(text(&frame)).await.is_err() {
                            return;
                        }
                    }
                    since = messages.last().map_or(since, |m| m.offset);
                    since_epoch = head.epoch;
                    if !more {
                        break;
                    }
                }
                Ok(Recovery::Incomplete { from, epoch: now }) => {
                    let frame = Frame::Incomplete { from, epoch: &now };
                    if out.send(text(&frame)).await.is_err() {
                        return;
                    }
                    if now.is_empty() {
                        break;
                    }
                    since = from - 1;
                    since_epoch = now;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot recover for a socket");
                    let _ = out.send(close(1011, "unavailable")).await;
                    return;
                }
            }
        }
        if since_epoch == epoch || epoch.is_empty() {
            sent = sent.max(since);
            epoch = since_epoch;
        }
    }
    let live = Frame::Live {
        offset: sent,
        epoch: &epoch,
    };
    if out.send(text(&live)).await.is_err() {
        return;
    }

    let silence_limit = bridge.ping_interval + bridge.pong_timeout;
    let mut last_heard = tokio::time::Instant::now();
    let mut revocations_open = true;
    let mut pings = tokio::time::interval_at(
        tokio::time::Instant::now() + bridge.ping_interval,
        bridge.ping_interval,
    );
    loop {
        tokio::select! {
            envelope = sub.next() => {
                let Some(envelope) = envelope else {
                    let frame = match sub.close_reason() {
                        Some(CloseReason::SlowConsumer { last_offset }) => close(
                            CLOSE_SLOW_CONSUMER,
                            format!("slow consumer: resume after offset {last_offset}"),
                        ),
                        Some(CloseReason::HistoryLost { missing_from, .. }) => close(
                            CLOSE_HISTORY_LOST,
                            format!("history lost from offset {missing_from}"),
                        ),
                        _ => close(1001, "going away"),
                    };
                    let _ = out.send(frame).await;
                    return;
                };
                if envelope.epoch == epoch && envelope.offset <= sent {
                    continue;
                }
                sent = envelope.offset;
                epoch.clone_from(&envelope.epoch);
                let frame = Frame::Message {
                    offset: envelope.offset,
                    epoch: &envelope.epoch,
                    payload: &envelope.payload,
                };
                if out.send(text(&frame)).await.is_err() {
                    return;
                }
            }
            message = incoming.next() => {
                let Some(Ok(message)) = message else { return };
                last_heard = tokio::time::Instant::now();
                match message {
                    Message::Text(body) => {
                        let Ok(body) = serde_json::from_str::<Value>(body.as_str()) else {
                            continue;
                        };
                        if let Some(message) = (bridge.inbound)(&identity, &room, body)
                            && let Err(error) = hub.publish(&room, &message).await
                        {
                            tracing::warn!(%error, "publishing a socket's message failed");
                        }
                    }
                    Message::Close(_) => return,
                    _ => {}
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > silence_limit {
                    tracing::debug!("socket silent past its keepalive; closing");
                    let _ = out.send(close(1001, "keepalive timeout")).await;
                    return;
                }
                if out.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            event = revoked.recv(), if revocations_open => match event {
                Ok(event) if event.matches(&identity) => {
                    let _ = out.send(close(CLOSE_REVOKED, "session revoked")).await;
                    return;
                }
                Ok(Revoked::Recheck) => {
                    if let Some(verify) = &bridge.verify
                        && !verify(identity.clone()).await
                    {
                        let _ = out.send(close(CLOSE_REVOKED, "session revoked")).await;
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // A revocation may have been missed: fail safe.
                    let _ = out.send(close(CLOSE_REVOKED, "revocations missed")).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => revocations_open = false,
            },
        }
    }
}
