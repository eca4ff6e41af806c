//! Counters a user would graph.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a hub's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Messages published by this hub.
    pub published: u64,
    /// Publishes that failed (Redis error or timeout).
    pub publish_errors: u64,
    /// Messages handed to local subscribers (one per subscriber).
    pub delivered: u64,
    /// Messages read back from a room's history to fill a gap (offset jump,
    /// resubscription, or a subscriber catching up).
    pub gaps_filled: u64,
    /// Gaps history could not fill any more (trimmed, or the epoch changed):
    /// strict subscribers of the room were closed with
    /// [`CloseReason::HistoryLost`](crate::CloseReason::HistoryLost).
    pub history_lost: u64,
    /// Messages dropped for `DropOldest` subscribers that fell behind.
    pub dropped: u64,
    /// `Disconnect` subscribers closed for falling behind.
    pub disconnected_slow: u64,
    /// `Block` subscribers that fell behind and caught up from history.
    pub catch_ups: u64,
    /// Times the pub/sub connection was re-established.
    pub resubscribes: u64,
    /// Pub/sub messages a busy room could not take at once (refilled from
    /// history, never lost while history reaches back).
    pub router_overflow: u64,
    /// Messages accepted by the archive sink (Kafka acknowledged).
    pub archived: u64,
    /// Messages the archive sink failed to deliver.
    pub archive_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) gaps_filled: AtomicU64,
    pub(crate) history_lost: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) disconnected_slow: AtomicU64,
    pub(crate) catch_ups: AtomicU64,
    pub(crate) resubscribes: AtomicU64,
    pub(crate) router_overflow: AtomicU64,
    pub(crate) archived: AtomicU64,
    pub(crate) archive_errors: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> HubStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HubStats {
            published: read(&self.published),
            publish_errors: read(&self.publish_errors),
            delivered: read(&self.delivered),
            gaps_filled: read(&self.gaps_filled),
            history_lost: read(&self.history_lost),
            dropped: read(&self.dropped),
            disconnected_slow: read(&self.disconnected_slow),
            catch_ups: read(&self.catch_ups),
            resubscribes: read(&self.resubscribes),
            router_overflow: read(&self.router_overflow),
            archived: read(&self.archived),
            archive_errors: read(&self.archive_errors),
        }
    }
}
