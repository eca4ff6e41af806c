//! A local subscriber: its bounded buffer (the mailbox) and the stream the
//! application reads.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::envelope::{Envelope, Position, RawEnvelope};
use crate::policy::{CloseReason, SlowConsumer, SubscribeOptions};
use crate::router::RoomGuard;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What happened to a message offered to a mailbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Buffered.
    Queued,
    /// Buffered, after dropping the oldest message (`DropOldest`).
    DroppedOldest,
    /// Full, and the policy is `Block`: the subscriber must catch up.
    Full,
    /// Full, and the policy is `Disconnect`: the subscriber was closed now.
    Disconnected,
    /// The subscriber was closed earlier, or went away.
    Closed,
}

struct State {
    queue: VecDeque<Arc<RawEnvelope>>,
    closed: Option<CloseReason>,
    receiver_gone: bool,
    waker: Option<Waker>,
    /// The last offset accepted into the queue.
    last_offset: u64,
}

/// The bounded buffer between a room and one subscriber.
pub(crate) struct Mailbox {
    pub(crate) id: u64,
    pub(crate) policy: SlowConsumer,
    capacity: usize,
    state: Mutex<State>,
    space: Notify,
}

impl Mailbox {
    pub(crate) fn new(options: SubscribeOptions) -> Arc<Self> {
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            policy: options.policy,
            capacity: options.capacity,
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(options.capacity.min(1024)),
                closed: None,
                receiver_gone: false,
                waker: None,
                last_offset: 0,
            }),
            space: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("mailbox lock")
    }

    fn wake(state: &mut State) {
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// Offers a message without waiting.
    pub(crate) fn offer(&self, message: &Arc<RawEnvelope>) -> Offer {
        let mut state = self.lock();
        if state.receiver_gone || state.closed.is_some() {
            return Offer::Closed;
        }
        let outcome = if state.queue.len() < self.capacity {
            Offer::Queued
        } else {
            match self.policy {
                SlowConsumer::DropOldest => {
                    state.queue.pop_front();
                    Offer::DroppedOldest
                }
                SlowConsumer::Block => return Offer::Full,
                SlowConsumer::Disconnect => {
                    let last_offset = state.last_offset;
                    state.closed = Some(CloseReason::SlowConsumer { last_offset });
                    Self::wake(&mut state);
                    return Offer::Disconnected;
                }
            }
        };
        state.queue.push_back(message.clone());
        state.last_offset = message.offset;
        Self::wake(&mut state);
        outcome
    }

    /// Waits for room in the buffer, then queues (the `Block` catch-up).
    /// `false` if the subscriber is gone or closed.
    pub(crate) async fn push_waiting(&self, message: &Arc<RawEnvelope>) -> bool {
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut state = self.lock();
                if state.receiver_gone || state.closed.is_some() {
                    return false;
                }
                if state.queue.len() < self.capacity {
                    state.queue.push_back(message.clone());
                    state.last_offset = message.offset;
                    Self::wake(&mut state);
                    return true;
                }
            }
            space.await;
        }
    }

    /// Closes the subscription (after what is buffered has been read).
    pub(crate) fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(reason);
        }
        Self::wake(&mut state);
        drop(state);
        self.space.notify_waiters();
    }

    pub(crate) fn is_open(&self) -> bool {
        let state = self.lock();
        !state.receiver_gone && state.closed.is_none()
    }

    pub(crate) fn last_offset(&self) -> u64 {
        self.lock().last_offset
    }

    pub(crate) fn set_last_offset(&self, offset: u64) {
        self.lock().last_offset = offset;
    }

    fn receiver_dropped(&self) {
        let mut state = self.lock();
        state.receiver_gone = true;
        state.queue.clear();
        drop(state);
        self.space.notify_waiters();
    }

    fn poll_raw(&self, cx: &mut Context<'_>) -> Poll<Option<Arc<RawEnvelope>>> {
        let mut state = self.lock();
        if let Some(message) = state.queue.pop_front() {
            drop(state);
            self.space.notify_one();
            return Poll::Ready(Some(message));
        }
        if state.closed.is_some() {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A subscription to one room: a [`Stream`] of [`Envelope`]s in offset
/// order, without gaps (unless its policy is
/// [`DropOldest`](SlowConsumer::DropOldest)).
///
/// The stream ends when the subscription is closed; [`close_reason`]
/// says why. Dropping it unsubscribes (the hub's Redis subscription to the
/// room ends with the room's last local subscriber).
///
/// [`close_reason`]: Subscription::close_reason
pub struct Subscription<T> {
    mailbox: Arc<Mailbox>,
    start: Position,
    room: String,
    _guard: RoomGuard,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("room", &self.room)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl<T> Subscription<T> {
    pub(crate) fn new(
        room: String,
        mailbox: Arc<Mailbox>,
        start: Position,
        guard: RoomGuard,
    ) -> Self {
        Self {
            mailbox,
            start,
            room,
            _guard: guard,
            _type: PhantomData,
        }
    }

    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// Where the subscription started: it delivers every message after this
    /// position. Messages up to it are history ([`Hub::recover`](crate::Hub::recover)).
    pub fn start(&self) -> &Position {
        &self.start
    }

    /// Why the subscription was closed, once it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.mailbox.lock().closed.clone()
    }

    /// The next message; `None` once closed.
    pub async fn recv(&mut self) -> Option<Envelope<T>>
    where
        T: DeserializeOwned,
    {
        futures::StreamExt::next(self).await
    }
}

impl<T: DeserializeOwned> Stream for Subscription<T> {
    type Item = Envelope<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.mailbox.poll_raw(cx) {
            Poll::Ready(Some(raw)) => match raw.decode() {
                Ok(envelope) => Poll::Ready(Some(envelope)),
                Err(error) => {
                    tracing::warn!(room = %this.room, offset = raw.offset, %error, "closing a subscription: undecodable message");
                    this.mailbox.close(CloseReason::Undecodable {
                        offset: raw.offset,
                        reason: error.to_string(),
                    });
                    this.mailbox.lock().queue.clear();
                    Poll::Ready(None)
                }
            },
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.mailbox.receiver_dropped();
    }
}
