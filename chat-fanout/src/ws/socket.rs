//! One socket's life: subscribe, catch up, then relay both ways until the
//! client leaves, the session is revoked or the keepalive gives up.

use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::broadcast;

use super::frames::{CLOSE_HISTORY_LOST, CLOSE_REVOKED, CLOSE_SLOW_CONSUMER, Frame, close};
use super::rate::UserBucket;
use super::resume::{CatchUp, Out, Stop};
use super::{Identity, Revoked, WsBridge};
use crate::envelope::{Envelope, Position};
use crate::policy::{CloseReason, SlowConsumer, SubscribeOptions};
use crate::subscription::Subscription;

/// Room messages forwarded, under a flood, per client frame read.
const FAIR_SHARE: usize = 64;

/// What the loop does after one event.
enum Next {
    Continue,
    Close(Option<Message>),
}

/// One socket of one user in one room.
pub(crate) struct Session {
    bridge: WsBridge,
    identity: Identity,
    room: String,
    revoked: broadcast::Receiver<Revoked>,
    bucket: UserBucket,
    revocations_open: bool,
    last_heard: tokio::time::Instant,
    forwarded: usize,
}

impl Session {
    pub(crate) fn new(
        bridge: WsBridge,
        identity: Identity,
        room: String,
        revoked: broadcast::Receiver<Revoked>,
    ) -> Self {
        let bucket = bridge.limiter.join(&identity.user_id, bridge.rate);
        Self {
            bridge,
            identity,
            room,
            revoked,
            bucket,
            revocations_open: true,
            last_heard: tokio::time::Instant::now(),
            forwarded: 0,
        }
    }

    /// Serves the socket, resuming after `since` when the client sent it.
    pub(crate) async fn serve(mut self, socket: WebSocket, since: Option<Position>) {
        let (mut out, mut incoming) = socket.split();
        let options = SubscribeOptions::new()
            .policy(SlowConsumer::Disconnect)
            .capacity(self.bridge.buffer);
        let hub = self.bridge.hub.clone();
        let mut sub = match hub.subscribe_with::<Value>(&self.room, options).await {
            Ok(sub) => sub,
            Err(error) => {
                tracing::warn!(%error, "cannot subscribe a socket");
                let _ = out.send(close(1011, "unavailable")).await;
                return;
            }
        };
        let Some(mut sent) = self.catch_up(&mut out, sub.start().clone(), since).await else {
            return;
        };
        let live = Frame::Live {
            offset: sent.offset,
            epoch: &sent.epoch,
        };
        if out.send(live.text()).await.is_err() {
            return;
        }
        let membership = self.join_presence().await;
        self.relay(&mut out, &mut incoming, &mut sub, &mut sent)
            .await;
        if let Some(membership) = membership
            && let Err(error) = membership.leave().await
        {
            tracing::debug!(%error, "leaving presence failed; the member expires");
        }
    }

    /// Joins the room's presence as `<user>/<socket id>`, if the bridge
    /// tracks presence; a failure is logged, not fatal to the chat.
    async fn join_presence(&self) -> Option<crate::presence::Membership> {
        let tracked = self.bridge.presence.as_ref()?;
        if !tracked(&self.room) {
            return None;
        }
        let member = format!("{}/{:016x}", self.identity.user_id, socket_id());
        match self.bridge.hub.presence(&self.room).join(&member).await {
            Ok(membership) => Some(membership),
            Err(error) => {
                tracing::warn!(%error, "joining presence failed");
                None
            }
        }
    }

    /// Relays both ways until the socket is done.
    async fn relay(
        &mut self,
        out: &mut Out,
        incoming: &mut SplitStream<WebSocket>,
        sub: &mut Subscription<Value>,
        sent: &mut Position,
    ) {
        self.last_heard = tokio::time::Instant::now();
        let mut pings = tokio::time::interval_at(
            tokio::time::Instant::now() + self.bridge.ping_interval,
            self.bridge.ping_interval,
        );
        loop {
            let next = match self.fair_read(out, incoming).await {
                Some(next) => next,
                None => self.next_event(out, incoming, sub, sent, &mut pings).await,
            };
            if let Next::Close(frame) = next {
                if let Some(frame) = frame {
                    let _ = out.send(frame).await;
                }
                return;
            }
        }
    }

    /// Under a flood the room's messages win ([`Self::next_event`]), but
    /// the client is still heard: one of its frames, when one is ready,
    /// every [`FAIR_SHARE`] messages (its pongs keep it alive, its messages
    /// get out).
    async fn fair_read(
        &mut self,
        out: &mut Out,
        incoming: &mut SplitStream<WebSocket>,
    ) -> Option<Next> {
        if self.forwarded < FAIR_SHARE {
            return None;
        }
        self.forwarded = 0;
        let message = incoming.next().now_or_never()?;
        Some(self.heard(out, message).await)
    }

    /// The next event, biased in this order: a revocation closes at once;
    /// the room's messages go out before the client's own are read, so a
    /// client busy publishing never overflows its own subscription and is
    /// cut off as a slow consumer by its own traffic.
    async fn next_event(
        &mut self,
        out: &mut Out,
        incoming: &mut SplitStream<WebSocket>,
        sub: &mut Subscription<Value>,
        sent: &mut Position,
        pings: &mut tokio::time::Interval,
    ) -> Next {
        tokio::select! {
            biased;
            event = self.revoked.recv(), if self.revocations_open => self.revocation(event).await,
            _ = pings.tick() => self.keepalive(out).await,
            envelope = sub.next() => {
                self.forwarded += 1;
                forward(out, sub, envelope, sent, self.bridge.pong_timeout).await
            }
            message = incoming.next() => self.heard(out, message).await,
        }
    }

    /// A frame (or the end) from the client.
    async fn heard(
        &mut self,
        out: &mut Out,
        message: Option<Result<Message, axum::Error>>,
    ) -> Next {
        self.last_heard = tokio::time::Instant::now();
        match message {
            Some(Ok(message)) => self.inbound(out, message).await,
            _ => Next::Close(None),
        }
    }

    /// A ping, or the close of a client silent past its keepalive.
    async fn keepalive(&self, out: &mut Out) -> Next {
        let silence_limit = self.bridge.ping_interval + self.bridge.pong_timeout;
        if self.last_heard.elapsed() > silence_limit {
            tracing::debug!("socket silent past its keepalive; closing");
            Next::Close(Some(close(1001, "keepalive timeout")))
        } else if out.send(Message::Ping(Default::default())).await.is_err() {
            Next::Close(None)
        } else {
            Next::Continue
        }
    }

    /// Sends what the client missed; the position of the last message
    /// sent, or `None` when the socket is done.
    async fn catch_up(
        &self,
        out: &mut Out,
        start: Position,
        since: Option<Position>,
    ) -> Option<Position> {
        let Some(since) = since.or_else(|| self.join_history(&start)) else {
            return Some(start);
        };
        let catch_up = CatchUp {
            hub: &self.bridge.hub,
            archive: self.bridge.archive.as_deref(),
            archive_wait: self.bridge.archive_wait,
            room: &self.room,
        };
        match catch_up.run(since, out).await {
            // Live messages at or before what was caught up are skipped.
            Ok(reached) if reached.epoch == start.epoch || start.epoch.is_empty() => {
                Some(Position {
                    offset: start.offset.max(reached.offset),
                    epoch: reached.epoch,
                })
            }
            Ok(_) => Some(start),
            Err(Stop::Gone) => None,
            Err(Stop::Unavailable(error)) => {
                tracing::warn!(%error, "cannot recover for a socket");
                let _ = out.send(close(1011, "unavailable")).await;
                None
            }
        }
    }

    /// Where a client joining without a position starts: the last
    /// [`history_on_join`](WsBridge::history_on_join) messages, if any.
    fn join_history(&self, start: &Position) -> Option<Position> {
        let last = self.bridge.history_on_join;
        (last > 0 && start.offset > 0).then(|| Position {
            offset: start.offset.saturating_sub(last),
            epoch: start.epoch.clone(),
        })
    }

    /// A frame from the client.
    async fn inbound(&self, out: &mut Out, message: Message) -> Next {
        let body = match message {
            Message::Text(body) => body,
            Message::Close(_) => return Next::Close(None),
            _ => return Next::Continue,
        };
        let refusal = self.publish(body.as_str()).await;
        if let Some((code, message)) = refusal {
            let frame = Frame::Error { code, message };
            if out.send(frame.text()).await.is_err() {
                return Next::Close(None);
            }
        }
        Next::Continue
    }

    /// Publishes a client's frame; the refusal's code and message, if any.
    async fn publish(&self, body: &str) -> Option<(&'static str, &'static str)> {
        let Ok(body) = serde_json::from_str::<Value>(body) else {
            return Some(("bad_message", "a message must be JSON"));
        };
        if !(self.bridge.can_publish)(&self.identity, &self.room) {
            return Some(("forbidden", "you may not publish to this room"));
        }
        if !self.bucket.take(std::time::Instant::now()) {
            return Some(("rate_limited", "too many messages; slow down"));
        }
        let message = (self.bridge.inbound)(&self.identity, &self.room, body)?;
        if let Err(error) = self.bridge.hub.publish(&self.room, &message).await {
            tracing::warn!(%error, "publishing a socket's message failed");
            return Some(("unavailable", "the message was not sent; try again"));
        }
        None
    }

    /// A revocation event.
    async fn revocation(&mut self, event: Result<Revoked, broadcast::error::RecvError>) -> Next {
        let revoked = || Next::Close(Some(close(CLOSE_REVOKED, "session revoked")));
        match event {
            Ok(event) if event.matches(&self.identity) => revoked(),
            Ok(Revoked::Recheck) => match &self.bridge.verify {
                Some(verify) if !verify(self.identity.clone()).await => revoked(),
                _ => Next::Continue,
            },
            Ok(_) => Next::Continue,
            // A revocation may have been missed: fail safe.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                Next::Close(Some(close(CLOSE_REVOKED, "revocations missed")))
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.revocations_open = false;
                Next::Continue
            }
        }
    }
}

/// A message of the room, sent on unless the client already has it. A
/// client that stopped reading (its TCP window stays full for
/// `write_limit`) is dropped rather than left holding this socket's loop.
async fn forward(
    out: &mut Out,
    sub: &Subscription<Value>,
    envelope: Option<Envelope<Value>>,
    sent: &mut Position,
    write_limit: std::time::Duration,
) -> Next {
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
        return Next::Close(Some(frame));
    };
    if envelope.epoch == sent.epoch && envelope.offset <= sent.offset {
        return Next::Continue;
    }
    sent.offset = envelope.offset;
    sent.epoch.clone_from(&envelope.epoch);
    let frame = Frame::Message {
        offset: envelope.offset,
        epoch: &envelope.epoch,
        payload: &envelope.payload,
    };
    match tokio::time::timeout(write_limit, out.send(frame.text())).await {
        Ok(Ok(())) => Next::Continue,
        Ok(Err(_)) => Next::Close(None),
        Err(_) => {
            tracing::debug!("client stopped reading; dropping its socket");
            Next::Close(None)
        }
    }
}

/// A random 64-bit id for a socket's presence member: unique across
/// instances with overwhelming odds, without a UUID dependency.
/// `RandomState::new()` is documented to start from random keys; hashing a
/// per-process counter with them gives a fresh random value per socket.
fn socket_id() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SOCKETS: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(SOCKETS.fetch_add(1, Ordering::Relaxed))
}
