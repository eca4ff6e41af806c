//! The holder's side of a lock.

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::lease::HeldLease;

/// Proof of holding a lock, while its watchdog keeps the lease alive.
///
/// Release it with [`unlock`](Self::unlock), which reports whether the lock
/// was still held. A guard dropped without `unlock` stops renewing at once
/// and is released by a background task on the current tokio runtime (or,
/// outside a runtime, expires with its lease): dropping never blocks.
#[derive(Debug)]
pub struct LockGuard {
    lease: HeldLease,
    token: u64,
}

impl LockGuard {
    pub(crate) fn new(lease: HeldLease, token: u64) -> Self {
        Self { lease, token }
    }

    /// The fencing token of this acquisition: strictly larger than every
    /// token handed out for this lock before. Pass it to the protected
    /// resource (see [`crate::fence`]) so a write from a holder whose lease
    /// expired (a paused process) can be refused.
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        self.lease.name()
    }

    /// True once the lease is known to be lost.
    pub fn is_lost(&self) -> bool {
        self.lease.lost_signal().is_cancelled()
    }

    /// How much longer the lock is known to be ours: until the end of the
    /// lease the last confirmed acquisition or renewal gave (less the clock
    /// drift allowance on a quorum). The watchdog pushes it forward every
    /// third of the lease; zero once the lease is lost or has run out.
    pub fn valid_for(&self) -> std::time::Duration {
        if self.is_lost() {
            return std::time::Duration::ZERO;
        }
        self.lease
            .valid_until()
            .map_or(std::time::Duration::ZERO, |until| {
                until.saturating_duration_since(tokio::time::Instant::now())
            })
    }

    /// Completes when the lease is lost: a renewal found another owner (or no
    /// lock), no renewal could be confirmed before the lease would expire,
    /// or `max_hold` ran out. In the second case it completes no later than
    /// the end of the validity the last confirmed renewal gave, so before the
    /// lock can expire in Redis and be taken by another holder. It does not
    /// complete while the lock is still confirmed held.
    pub async fn lost(&self) {
        self.lease.lost_signal().cancelled().await;
    }

    /// A cheap handle on this acquisition for code that must not own the guard.
    pub fn held(&self) -> HeldLock {
        HeldLock {
            name: self.name().to_string(),
            token: self.token,
            lost: self.lease.lost_signal(),
        }
    }

    /// Releases the lock. `Err(Error::NotOwner)` if the lease had been lost
    /// before: another holder may have run meanwhile.
    ///
    /// [`Error::NotOwner`]: crate::Error::NotOwner
    pub async fn unlock(self) -> Result<()> {
        self.lease.release().await
    }
}

/// What the closure of [`LockManager::with_lock`](crate::LockManager::with_lock)
/// gets: the lock's name, fencing token and lost signal.
#[derive(Debug, Clone)]
pub struct HeldLock {
    name: String,
    token: u64,
    lost: CancellationToken,
}

impl HeldLock {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// See [`LockGuard::fencing_token`].
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// True once the lease is known to be lost.
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Completes when the lease is lost.
    pub async fn lost(&self) {
        self.lost.cancelled().await;
    }
}
