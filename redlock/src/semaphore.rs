//! A distributed semaphore: at most N holders of a named permit at once,
//! across every process.
//!
//! Permits are leased like locks (renewed by the same watchdog, freed when a
//! holder crashes and stops renewing) and waiters are woken through the same
//! pub/sub channel. State: one sorted set of permit ids scored by lease
//! expiry, changed only by Lua scripts.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::backend::{Acquisition, Backend, Leased};
use crate::error::Result;
use crate::keys::LockKeys;
use crate::lease::HeldLease;
use crate::shared::{Shared, new_owner_id};
use crate::stats::Counters;
use crate::waiting::{self, SleepPolicy};

/// A named semaphore with a fixed number of permits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Semaphore {
    shared: Arc<Shared>,
    keys: Arc<LockKeys>,
    permits: u32,
}

impl Semaphore {
    pub(crate) fn new(shared: Arc<Shared>, name: &str, permits: u32) -> Self {
        let keys = Arc::new(LockKeys::new(&shared.settings.prefix, name));
        Self {
            shared,
            keys,
            permits,
        }
    }

    /// The number of permits.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> Result<Permit> {
        Ok(self
            .acquire_until(None)
            .await?
            .expect("no deadline, so never None"))
    }

    /// Waits at most `wait` for a permit; `None` if none was free in time.
    pub async fn try_acquire(&self, wait: Duration) -> Result<Option<Permit>> {
        self.acquire_until(Some(Instant::now() + wait)).await
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<Permit>> {
        let Backend::Single(node) = &self.shared.backend else {
            unreachable!("semaphores are refused for quorum managers at creation");
        };
        let id = new_owner_id();
        let lease = self.shared.settings.lease;
        let policy = SleepPolicy {
            max: lease,
            unknown: Duration::from_millis(100),
        };
        let acquired = waiting::acquire(
            &self.shared,
            &self.keys.channel,
            deadline,
            policy,
            || async {
                let started = Instant::now();
                Ok(
                    match node
                        .semaphore_acquire(&self.keys, &id, self.permits, lease)
                        .await?
                    {
                        crate::node::Attempt::Acquired { .. } => Acquisition::Held {
                            token: 0,
                            valid_until: started + lease,
                        },
                        crate::node::Attempt::Busy { retry_in } => Acquisition::Busy { retry_in },
                    },
                )
            },
        )
        .instrument(tracing::debug_span!("redlock.semaphore.acquire", semaphore = %self.keys.name))
        .await?;
        let Some((_, valid_until)) = acquired else {
            Counters::bump(&self.shared.counters.timeouts);
            return Ok(None);
        };
        let leased = Leased::Permit {
            keys: self.keys.clone(),
            id,
        };
        Ok(Some(Permit {
            lease: HeldLease::start(self.shared.clone(), leased, valid_until, None),
        }))
    }
}

/// One permit of a [`Semaphore`]; renewed while held, released on
/// [`release`](Self::release) or in the background when dropped.
#[derive(Debug)]
pub struct Permit {
    lease: HeldLease,
}

impl Permit {
    /// True once the permit's lease is known to be lost.
    pub fn is_lost(&self) -> bool {
        self.lease.lost_signal().is_cancelled()
    }

    /// Completes when the permit's lease is lost.
    pub async fn lost(&self) {
        self.lease.lost_signal().cancelled().await;
    }

    /// Returns the permit. `Err(Error::NotOwner)` if its lease had been lost.
    ///
    /// [`Error::NotOwner`]: crate::Error::NotOwner
    pub async fn release(self) -> Result<()> {
        self.lease.release().await
    }
}
