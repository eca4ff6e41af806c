//! The archive relay's counters, kept with the crate's own stats helpers
//! ([`crate::stats`]) as the hub's are.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a relay's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages acknowledged by Kafka (with `acks=all`) before their room's
    /// checkpoint moved past them. After a crash, a message may be counted
    /// by two relay processes (at-least-once).
    pub archived: u64,
    /// Checkpoint moves (one per batch).
    pub batches: u64,
    /// Gaps reported (see [`ArchiveGap`](super::ArchiveGap)).
    pub gaps: u64,
    /// Messages in the reported gaps whose end is known.
    pub gap_messages: u64,
    /// Failed room passes (Redis or Kafka errors); the room is retried from
    /// its checkpoint.
    pub errors: u64,
    /// Rooms skipped because another relay held their lease, or whose lease
    /// was lost before the checkpoint moved.
    pub lease_conflicts: u64,
}

/// The live counters behind [`RelayStats`]; bumped with
/// [`crate::stats::bump`] and [`crate::stats::add`].
#[derive(Debug, Default)]
pub(crate) struct RelayCounters {
    pub(crate) archived: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) gap_messages: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) lease_conflicts: AtomicU64,
}

impl RelayCounters {
    pub(crate) fn snapshot(&self) -> RelayStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RelayStats {
            archived: read(&self.archived),
            batches: read(&self.batches),
            gaps: read(&self.gaps),
            gap_messages: read(&self.gap_messages),
            errors: read(&self.errors),
            lease_conflicts: read(&self.lease_conflicts),
        }
    }
}
