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
//! is down are lost. The subscription reconnects by itself (it is the
//! family's shared [`redis_support::Subscription`]: a `PING` keepalive
//! detects a silently dead link, and on a cluster it moves to another node)
//! and then yields
//! [`RevocationEvent::Resubscribed`]: the listener should re-check its live
//! sessions ([`RedisStore::user_of`](crate::RedisStore::user_of) answers
//! `None` for a revoked one).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use redis_support::{Event, Listener, Subscription};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

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
    _subscription: Subscription,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// Subscribes on any of `nodes` (on a cluster a `PUBLISH` reaches every
    /// node), waiting up to `timeout` for the first subscription so that
    /// every revocation after this returns is seen.
    pub(crate) async fn subscribe(
        nodes: Vec<redis::Client>,
        channel: String,
        timeout: Duration,
    ) -> Result<Self> {
        if nodes.is_empty() {
            return Err(Error::Config("no Redis to subscribe on".into()));
        }
        let (sender, events) = mpsc::unbounded_channel();
        let subscription = Subscription::builder(nodes)
            .channels([channel.clone()])
            .timeout(timeout)
            .start(std::sync::Arc::new(Forwarder { channel, sender }));
        // One connect attempt's budget (the link then keeps trying, moving
        // to the next node, but the caller hears of a failure now).
        if !subscription.wait_up(timeout * 2).await {
            return Err(Error::Redis(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "subscribing to revocations timed out",
            ))));
        }
        Ok(Self {
            events,
            _subscription: subscription,
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

/// Turns the subscription's events into [`RevocationEvent`]s.
struct Forwarder {
    channel: String,
    sender: mpsc::UnboundedSender<RevocationEvent>,
}

impl Listener for Forwarder {
    async fn on_event(&self, event: Event) {
        match event {
            Event::Up { reconnected } => {
                if reconnected {
                    let _ = self.sender.send(RevocationEvent::Resubscribed);
                }
            }
            Event::Message(message) => {
                let Ok(payload) = message.get_payload::<String>() else {
                    return;
                };
                match serde_json::from_str::<Revocation>(&payload) {
                    Ok(revocation) => {
                        let _ = self.sender.send(RevocationEvent::Revoked(revocation));
                    }
                    Err(error) => {
                        tracing::warn!(channel = %self.channel, %error, "ignoring a malformed revocation message")
                    }
                }
            }
            Event::Down => {
                tracing::warn!(channel = %self.channel, "revocation subscription lost; reconnecting")
            }
        }
    }
}
