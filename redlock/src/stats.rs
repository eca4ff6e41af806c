//! Counters a user would graph, kept with relaxed atomics (no locking on the
//! hot path) and read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a lock manager's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Locks and permits acquired.
    pub acquisitions: u64,
    /// Acquisitions that found the lock held and had to wait.
    pub waits: u64,
    /// Waiters asleep right now, until a release, the holder's lease or
    /// their deadline (a gauge, not a count).
    pub waiting: u64,
    /// Sleeping waiters woken by a release announced over pub/sub (or by
    /// the wake-up connection coming back), rather than by a timer. Close
    /// to `waits` when wake-ups work; far below it, waiters are finding the
    /// lock by the end of leases.
    pub wakeups: u64,
    /// `try_lock` / `try_acquire` calls that gave up at their deadline.
    pub timeouts: u64,
    /// Successful lease renewals by the watchdog.
    pub renewals: u64,
    /// Renewal attempts repeated because the previous one failed or timed
    /// out while the lease was still valid. A rising count with no lost
    /// leases is an unreliable link the leases rode out.
    pub renewal_retries: u64,
    /// Leases lost: a renewal found another owner, no renewal could be
    /// confirmed before the lease would expire, or `max_hold` ran out.
    pub lost_leases: u64,
    /// Explicit releases (`unlock`, `release`).
    pub releases: u64,
    /// Guards and permits dropped without release, released in the background.
    pub dropped_releases: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) acquisitions: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) wakeups: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) renewals: AtomicU64,
    pub(crate) renewal_retries: AtomicU64,
    pub(crate) lost_leases: AtomicU64,
    pub(crate) releases: AtomicU64,
    pub(crate) dropped_releases: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LockStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LockStats {
            acquisitions: read(&self.acquisitions),
            waits: read(&self.waits),
            waiting: read(&self.waiting),
            wakeups: read(&self.wakeups),
            timeouts: read(&self.timeouts),
            renewals: read(&self.renewals),
            renewal_retries: read(&self.renewal_retries),
            lost_leases: read(&self.lost_leases),
            releases: read(&self.releases),
            dropped_releases: read(&self.dropped_releases),
        }
    }
}
