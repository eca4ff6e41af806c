//! The lock manager: acquiring locks and semaphores.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::backend::{Backend, Leased};
use crate::builder::{Deployment, LockManagerBuilder};
use crate::error::{Error, Result};
use crate::guard::{HeldLock, LockGuard};
use crate::keys::LockKeys;
use crate::lease::HeldLease;
use crate::semaphore::Semaphore;
use crate::shared::{Shared, new_owner_id};
use crate::stats::{Counters, LockStats};
use crate::waiting::{self, SleepPolicy};

/// Hands out distributed locks and semaphores. Cheap to clone; clones share
/// connections, counters and the local wait queues.
#[derive(Debug, Clone)]
pub struct LockManager {
    shared: Arc<Shared>,
}

impl LockManager {
    /// A manager on one Redis deployment.
    pub fn builder(client: redis::Client) -> LockManagerBuilder {
        LockManagerBuilder::new(vec![client], Deployment::Single)
    }

    /// A manager using the Redlock algorithm over independent Redis servers
    /// (use an odd number, 5 is typical): a lock is held when a majority
    /// granted it. See the [`quorum`](crate#quorum) section.
    pub fn builder_quorum(clients: Vec<redis::Client>) -> LockManagerBuilder {
        LockManagerBuilder::new(clients, Deployment::Quorum)
    }

    /// A manager on a Redis Cluster, given one client per seed node. Every
    /// key of a lock carries the same hash tag, so each script runs on the
    /// one node that owns the lock's slot; release notifications are
    /// ordinary `PUBLISH`es, which the cluster delivers on every node (the
    /// manager listens on the first seed).
    pub fn cluster_builder(seeds: Vec<redis::Client>) -> LockManagerBuilder {
        LockManagerBuilder::new(seeds, Deployment::Cluster)
    }

    /// The former name of [`cluster_builder`](Self::cluster_builder).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `cluster_builder`, as in the family's other crates"
    )]
    pub fn builder_cluster(seeds: Vec<redis::Client>) -> LockManagerBuilder {
        Self::cluster_builder(seeds)
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Waits until the lock is acquired.
    pub async fn lock(&self, name: &str) -> Result<LockGuard> {
        Ok(self
            .acquire(name, None)
            .await?
            .expect("no deadline, so never None"))
    }

    /// Waits at most `wait` for the lock; `Ok(None)` if it was not acquired in time.
    pub async fn try_lock(&self, name: &str, wait: Duration) -> Result<Option<LockGuard>> {
        self.acquire(name, Some(Instant::now() + wait)).await
    }

    /// Runs `critical_section` under the lock and releases it afterwards.
    ///
    /// If the lease is lost while the section runs, its future is dropped at
    /// its next await point and `Err(Error::LeaseLost)` is returned; if it is
    /// found lost at release, `Err(Error::NotOwner)`.
    pub async fn with_lock<F, Fut, T>(&self, name: &str, critical_section: F) -> Result<T>
    where
        F: FnOnce(HeldLock) -> Fut,
        Fut: Future<Output = T>,
    {
        let guard = self.lock(name).await?;
        run_guarded(guard, critical_section).await
    }

    /// Runs `critical_section` under the lock if it can be acquired within
    /// `wait`; `Ok(None)` (and the section not run) otherwise. The lease
    /// rules are [`with_lock`](Self::with_lock)'s.
    pub async fn try_with_lock<F, Fut, T>(
        &self,
        name: &str,
        wait: Duration,
        critical_section: F,
    ) -> Result<Option<T>>
    where
        F: FnOnce(HeldLock) -> Fut,
        Fut: Future<Output = T>,
    {
        match self.try_lock(name, wait).await? {
            Some(guard) => run_guarded(guard, critical_section).await.map(Some),
            None => Ok(None),
        }
    }

    /// Whether anyone (in any process) holds the lock `name` now. On a
    /// quorum: whether a majority of the servers hold it. The answer may be
    /// stale as soon as it arrives; decide with `try_lock`, not with this.
    pub async fn is_locked(&self, name: &str) -> Result<bool> {
        let keys = LockKeys::new(&self.shared.settings.prefix, name);
        self.shared.backend.is_locked(&keys).await
    }

    /// Removes the lock `name` whoever holds it, and wakes its waiters; an
    /// operator's action for a holder known to be gone. Returns whether it
    /// was held. The holder, if it still runs, learns of it at its next
    /// renewal: its guard's [`lost`](LockGuard::lost) completes and its
    /// `unlock` returns [`Error::NotOwner`]. Fencing tokens keep the
    /// protected resource safe meanwhile.
    pub async fn force_unlock(&self, name: &str) -> Result<bool> {
        let keys = LockKeys::new(&self.shared.settings.prefix, name);
        let span = tracing::warn_span!("redlock.force_unlock", lock = name);
        self.shared
            .backend
            .force_unlock(&keys)
            .instrument(span)
            .await
    }

    /// A semaphore of `permits` permits named `name`, shared by every
    /// process that uses the same name. Single Redis only.
    pub fn semaphore(&self, name: &str, permits: u32) -> Result<Semaphore> {
        if matches!(self.shared.backend, Backend::Quorum(_)) {
            return Err(Error::Config(
                "semaphores need a single Redis, not a quorum".into(),
            ));
        }
        if permits == 0 {
            return Err(Error::Config(
                "a semaphore needs at least one permit".into(),
            ));
        }
        Ok(Semaphore::new(self.shared.clone(), name, permits))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LockStats {
        self.shared.counters.snapshot()
    }

    async fn acquire(&self, name: &str, deadline: Option<Instant>) -> Result<Option<LockGuard>> {
        let span = tracing::debug_span!("redlock.acquire", lock = name);
        async {
            let shared = &self.shared;
            // The local FIFO gate spares Redis a herd of local waiters. Fair
            // mode skips it: every waiter must queue in Redis on arrival, or
            // local waiters would lose their place to later remote ones.
            let gate = if shared.settings.fair {
                shared.gates.mark(name)?
            } else {
                let Some(gate) = shared.gates.enter(name, deadline).await? else {
                    Counters::bump(&shared.counters.timeouts);
                    return Ok(None);
                };
                gate
            };
            let keys = Arc::new(LockKeys::new(&shared.settings.prefix, name));
            let owner = new_owner_id();
            let settings = &shared.settings;
            let fair_wait = settings.fair.then_some(settings.fair_wait);
            let policy = match fair_wait {
                // A fair waiter must check in every third of its wait timeout.
                Some(wait) => SleepPolicy {
                    max: wait / 3,
                    unknown: wait / 3,
                },
                None => SleepPolicy {
                    max: settings.lease,
                    unknown: Duration::from_millis(100),
                },
            };
            let acquired = waiting::acquire(shared, &keys.channel, deadline, policy, || {
                shared
                    .backend
                    .acquire(&keys, &owner, settings.lease, fair_wait)
            })
            .await;
            let acquired = match acquired {
                Ok(Some(acquired)) => acquired,
                Ok(None) | Err(_) => {
                    if settings.fair {
                        // Give our place in line to the next waiter.
                        let _ = shared.backend.leave_queue(&keys, &owner).await;
                    }
                    if acquired.is_err() {
                        // The acquire may have succeeded with its reply lost:
                        // release (owner-checked, so harmless otherwise)
                        // rather than leave the lock taken for a lease.
                        let leased = Leased::Lock {
                            keys: keys.clone(),
                            owner: owner.clone(),
                        };
                        let _ =
                            tokio::time::timeout(settings.lease, shared.backend.release(&leased))
                                .await;
                    }
                    if matches!(acquired, Ok(None)) {
                        Counters::bump(&shared.counters.timeouts);
                    }
                    return acquired.map(|_| None);
                }
            };
            let (token, valid_until) = acquired;
            let leased = Leased::Lock { keys, owner };
            let lease = HeldLease::start(shared.clone(), leased, valid_until, Some(gate));
            Ok(Some(LockGuard::new(lease, token)))
        }
        .instrument(span)
        .await
    }
}

/// Runs `critical_section` while `guard` holds, then releases: the section
/// is dropped at its next await once the lease is lost.
async fn run_guarded<F, Fut, T>(guard: LockGuard, critical_section: F) -> Result<T>
where
    F: FnOnce(HeldLock) -> Fut,
    Fut: Future<Output = T>,
{
    let held = guard.held();
    let output = tokio::select! {
        biased;
        _ = guard.lost() => None,
        output = critical_section(held) => Some(output),
    };
    match output {
        Some(output) => guard.unlock().await.map(|()| output),
        None => {
            let _ = guard.unlock().await;
            Err(Error::LeaseLost)
        }
    }
}
