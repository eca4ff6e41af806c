//! A held lease: what locks and semaphore permits have in common.
//!
//! It is registered with the manager's watchdog, owns the `lost` signal, and
//! releases the lease exactly once: explicitly (`release`), or in the
//! background when dropped.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backend::Leased;
use crate::error::{Error, Result};
use crate::gate::GatePass;
use crate::shared::Shared;
use crate::stats::Counters;
use crate::watchdog::WatchId;

pub(crate) struct HeldLease {
    shared: Arc<Shared>,
    leased: Leased,
    lost: CancellationToken,
    /// `None` once released.
    watch: Option<WatchId>,
    /// Shared with the watchdog, which opens it when the lease is lost.
    gate: Arc<Mutex<Option<GatePass>>>,
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLease")
            .field("name", &self.leased.name())
            .field("lost", &self.lost.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl HeldLease {
    /// Registers a freshly acquired lease with the watchdog.
    pub(crate) fn start(
        shared: Arc<Shared>,
        leased: Leased,
        valid_until: Instant,
        gate: Option<GatePass>,
    ) -> Self {
        Counters::bump(&shared.counters.acquisitions);
        let lost = CancellationToken::new();
        let gate = Arc::new(Mutex::new(gate));
        let settings = &shared.settings;
        let watch = shared.watchdog.watch(
            leased.clone(),
            settings.lease,
            settings.max_hold,
            valid_until,
            lost.clone(),
            gate.clone(),
        );
        Self {
            shared,
            leased,
            lost,
            watch: Some(watch),
            gate,
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.leased.name()
    }

    /// Until when the lease is known valid; `None` once released or lost.
    pub(crate) fn valid_until(&self) -> Option<Instant> {
        self.watch
            .and_then(|watch| self.shared.watchdog.valid_until(watch))
    }

    pub(crate) fn lost_signal(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Stops renewing, then releases. `Err(NotOwner)` when the lease had
    /// been lost (signalled, or found taken by the release itself).
    pub(crate) async fn release(mut self) -> Result<()> {
        if let Some(watch) = self.watch.take() {
            // From here on no renewal is sent; one already on its way is
            // owner-checked and cannot extend the released lock.
            self.shared.watchdog.unwatch(watch);
        }
        let was_lost = self.lost.is_cancelled();
        let released = self
            .shared
            .backend
            .release(&self.leased)
            .instrument(tracing::debug_span!(
                "redlock.release",
                lock = self.leased.name()
            ))
            .await;
        self.gate.lock().expect("gate lock").take();
        Counters::bump(&self.shared.counters.releases);
        match released {
            Ok(true) if !was_lost => Ok(()),
            Ok(_) => Err(Error::NotOwner),
            Err(error) => Err(error),
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        let Some(watch) = self.watch.take() else {
            return; // released explicitly
        };
        self.shared.watchdog.unwatch(watch);
        Counters::bump(&self.shared.counters.dropped_releases);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to release on: the lease simply expires.
            return;
        };
        let shared = self.shared.clone();
        let leased = self.leased.clone();
        // The local gate opens only after the release, so the next local
        // waiter finds the lock free instead of waiting for the wake-up.
        let gate = self.gate.lock().expect("gate lock").take();
        runtime.spawn(async move {
            if let Err(error) = shared.backend.release(&leased).await {
                tracing::warn!(lock = leased.name(), %error, "background release failed; the lease will expire");
            }
            drop(gate);
        });
    }
}
