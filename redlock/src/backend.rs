//! One Redis server or a Redlock quorum behind the same operations.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Result;
use crate::keys::LockKeys;
use crate::node::{Attempt, Node};
use crate::quorum::{self, Quorum};

/// The outcome of one acquisition attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquisition {
    /// Held until `valid_until` unless renewed.
    Held { token: u64, valid_until: Instant },
    /// Not held; see [`Attempt::Busy`].
    Busy { retry_in: Option<Duration> },
}

/// What a watchdog renews and a release gives back.
#[derive(Debug, Clone)]
pub(crate) enum Leased {
    /// A lock, held by `owner`.
    Lock { keys: Arc<LockKeys>, owner: String },
    /// One permit of a semaphore.
    Permit { keys: Arc<LockKeys>, id: String },
}

impl Leased {
    pub(crate) fn name(&self) -> &str {
        match self {
            Leased::Lock { keys, .. } | Leased::Permit { keys, .. } => &keys.name,
        }
    }
}

/// Where lock state lives.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// One Redis deployment (a server, a replicated primary, or a cluster slot).
    Single(Node),
    /// The Redlock algorithm over independent servers.
    Quorum(Quorum),
}

impl Backend {
    /// Safety margin subtracted from a lease when judging how long it is valid.
    pub(crate) fn drift(&self, lease: Duration) -> Duration {
        match self {
            Backend::Single(_) => Duration::ZERO,
            Backend::Quorum(_) => quorum::drift(lease),
        }
    }

    pub(crate) async fn acquire(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
        fair_wait: Option<Duration>,
    ) -> Result<Acquisition> {
        match self {
            Backend::Single(node) => {
                let started = Instant::now();
                Ok(match node.acquire(keys, owner, lease, fair_wait).await? {
                    Attempt::Acquired { token } => Acquisition::Held {
                        token,
                        valid_until: started + lease,
                    },
                    Attempt::Busy { retry_in } => Acquisition::Busy { retry_in },
                })
            }
            Backend::Quorum(quorum) => quorum.acquire(keys, owner, lease).await,
        }
    }

    /// `Ok(true)` while the lease is still ours (renewed), `Ok(false)` once
    /// it is known not to be; an error when that could not be told (the
    /// watchdog retries those while the lease is still valid).
    pub(crate) async fn renew(&self, leased: &Leased, lease: Duration) -> Result<bool> {
        match (self, leased) {
            (Backend::Single(node), Leased::Lock { keys, owner }) => {
                node.renew(keys, owner, lease).await
            }
            (Backend::Single(node), Leased::Permit { keys, id }) => {
                node.semaphore_renew(keys, id, lease).await
            }
            (Backend::Quorum(quorum), Leased::Lock { keys, owner }) => {
                quorum.renew(keys, owner, lease).await
            }
            (Backend::Quorum(_), Leased::Permit { .. }) => Ok(false),
        }
    }

    /// True when the lease was still ours at release.
    pub(crate) async fn release(&self, leased: &Leased) -> Result<bool> {
        match (self, leased) {
            (Backend::Single(node), Leased::Lock { keys, owner }) => {
                node.release(keys, owner).await
            }
            (Backend::Single(node), Leased::Permit { keys, id }) => {
                node.semaphore_release(keys, id).await
            }
            (Backend::Quorum(quorum), Leased::Lock { keys, owner }) => {
                quorum.release(keys, owner).await
            }
            (Backend::Quorum(_), Leased::Permit { .. }) => Ok(false),
        }
    }

    /// Whether the lock is held (by anyone).
    pub(crate) async fn is_locked(&self, keys: &LockKeys) -> Result<bool> {
        match self {
            Backend::Single(node) => node.is_locked(keys).await,
            Backend::Quorum(quorum) => quorum.is_locked(keys).await,
        }
    }

    /// Removes the lock whoever holds it; whether it was held.
    pub(crate) async fn force_unlock(&self, keys: &LockKeys) -> Result<bool> {
        match self {
            Backend::Single(node) => node.force_unlock(keys).await,
            Backend::Quorum(quorum) => quorum.force_unlock(keys).await,
        }
    }

    /// A fair waiter that gives up leaves the queue (single node only: fair
    /// mode is refused for quorums at build time).
    pub(crate) async fn leave_queue(&self, keys: &LockKeys, owner: &str) -> Result<()> {
        match self {
            Backend::Single(node) => node.leave_queue(keys, owner).await,
            Backend::Quorum(_) => Ok(()),
        }
    }
}
