//! Revocation events: telling other components that sessions are gone.
//!
//! Whenever sessions of a user end before their time (logout, `revoke_all`,
//! `revoke_others`, eviction by `max_sessions_per_user`), the script that
//! deletes them publishes, in the same atomic step, a JSON message on
//! `<prefix>:revocations`:
//!
//! ```json
//! {"user_id":"alice","session_ids":["x2kq…","Lw9a…"],"reason":"revoked"}
//! ```
//!
//! A component holding live connections per session (the chat service's
//! WebSockets) subscribes with [`RedisStore::revocations`](crate::RedisStore::revocations)
//! and closes the matching ones.
//!
//! Pub/sub delivers at most once: messages published while the subscription
//! is down are lost. The subscription reconnects by itself (a `PING`
//! keepalive detects a silently dead link) and then yields
//! [`RevocationEvent::Resubscribed`]: the listener should re-check its live
//! sessions ([`RedisStore::user_of`](crate::RedisStore::user_of) answers
//! `None` for a revoked one).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::{Error, Result};

const KEEPALIVE: Duration = Duration::from_secs(5);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Why sessions were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The session was deleted (logout).
    Logout,
    /// `revoke_all` or `revoke_others`.
    Revoked,
    /// Evicted because the user exceeded `max_sessions_per_user`.
    Evicted,
    /// A reason this version does not know (published by a newer one).
    #[serde(other)]
    Other,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::Revoked => "revoked",
            Reason::Evicted => "evicted",
            Reason::Other => "other",
        }
    }
}

/// Sessions of one user that just ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The user they belonged to.
    pub user_id: String,
    /// The session ids (as in the session cookie).
    pub session_ids: Vec<String>,
    /// Why.
    pub reason: Reason,
}

/// What a [`Revocations`] subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationEvent {
    /// Sessions were revoked.
    Revoked(Revocation),
    /// The subscription was lost and is back: revocations published in
    /// between were missed, so re-check live sessions.
    Resubscribed,
}

/// A subscription to revocation events; a [`Stream`] of
/// [`RevocationEvent`]s. Unsubscribes when dropped.
pub struct Revocations {
    events: mpsc::UnboundedReceiver<RevocationEvent>,
    _stop: DropGuard,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// Subscribes, waiting up to `timeout` for the first subscription so
    /// that every revocation after this returns is seen.
    pub(crate) async fn subscribe(
        clients: Vec<redis::Client>,
        channel: String,
        timeout: Duration,
    ) -> Result<Self> {
        let mut nodes = Nodes::new(clients);
        let mut last_error = None;
        let mut first = None;
        // Any node will do (on a cluster a PUBLISH reaches every node).
        for _ in 0..nodes.len() {
            match tokio::time::timeout(timeout, open(nodes.next(), &channel)).await {
                Ok(Ok(subscribed)) => {
                    first = Some(subscribed);
                    break;
                }
                Ok(Err(error)) => last_error = Some(error),
                Err(_) => {
                    last_error = Some(Error::Redis(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "subscribing to revocations timed out",
                    ))))
                }
            }
        }
        let Some(first) = first else {
            return Err(
                last_error.unwrap_or_else(|| Error::Config("no Redis to subscribe on".into()))
            );
        };
        let (sender, events) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        tokio::spawn(listen(nodes, channel, first, sender, stop.clone()));
        Ok(Self {
            events,
            _stop: stop.drop_guard(),
        })
    }

    /// The next event; `None` only if the listener stopped (it does not
    /// while this subscription lives).
    pub async fn recv(&mut self) -> Option<RevocationEvent> {
        self.events.recv().await
    }
}

impl Stream for Revocations {
    type Item = RevocationEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

async fn open(client: &redis::Client, channel: &str) -> Result<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// The endpoints a subscription may use, taken in turn: after a node is
/// lost the listener resubscribes on the next one.
struct Nodes {
    clients: Vec<redis::Client>,
    next: usize,
}

impl Nodes {
    fn new(clients: Vec<redis::Client>) -> Self {
        Self { clients, next: 0 }
    }

    fn len(&self) -> usize {
        self.clients.len()
    }

    fn next(&mut self) -> &redis::Client {
        let client = &self.clients[self.next % self.clients.len()];
        self.next = self.next.wrapping_add(1);
        client
    }
}

async fn listen(
    mut nodes: Nodes,
    channel: String,
    first: redis::aio::PubSub,
    events: mpsc::UnboundedSender<RevocationEvent>,
    stop: CancellationToken,
) {
    let mut pubsub = Some(first);
    let mut delay = Duration::from_millis(25);
    loop {
        if let Some(subscribed) = pubsub.take() {
            delay = Duration::from_millis(25);
            let (mut sink, mut messages) = subscribed.split();
            let mut heartbeat =
                tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = heartbeat.tick() => {
                        let pong = tokio::time::timeout(KEEPALIVE, sink.ping::<redis::Value>()).await;
                        if matches!(pong, Ok(Ok(_))) {
                            continue;
                        }
                        break;
                    }
                    message = messages.next() => message,
                };
                let Some(message) = message else { break };
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Revocation>(&payload) {
                    Ok(revocation) => {
                        if events.send(RevocationEvent::Revoked(revocation)).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%channel, %error, "ignoring a malformed revocation message")
                    }
                }
            }
            tracing::warn!(%channel, "revocation subscription lost; reconnecting");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
        let reopened = tokio::select! {
            _ = stop.cancelled() => return,
            reopened = tokio::time::timeout(MAX_RECONNECT_DELAY, open(nodes.next(), &channel)) => reopened,
        };
        if let Ok(Ok(subscribed)) = reopened {
            if events.send(RevocationEvent::Resubscribed).is_err() {
                return;
            }
            pubsub = Some(subscribed);
        }
    }
}
