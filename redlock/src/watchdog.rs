//! Keeping a lease alive while its holder lives.
//!
//! Every `lease / 3` (on tokio's monotonic clock) the watchdog renews the
//! lease. The moment a renewal fails, times out, or finds that the lease is
//! no longer ours, the holder's `lost` signal fires: unlike a renewal that is
//! only logged, the holder learns it can no longer assume exclusion. With
//! `max_hold` set, renewals stop after that long and the lease runs out on
//! its own. The task is aborted when the guard is released, so no renewal
//! outlives the release.

use std::sync::{Arc, Mutex};

use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backend::Leased;
use crate::gate::GatePass;
use crate::manager::Shared;
use crate::stats::Counters;

/// Renews `leased` until it is lost; fires `lost` and returns then.
pub(crate) async fn run(
    shared: Arc<Shared>,
    leased: Leased,
    mut valid_until: Instant,
    lost: CancellationToken,
    gate: Arc<Mutex<Option<GatePass>>>,
) {
    let lease = shared.settings.lease;
    let acquired_at = Instant::now();
    let stop_renewing_at = shared
        .settings
        .max_hold
        .map(|max_hold| acquired_at + max_hold);
    let mut next_renewal = acquired_at + lease / 3;
    loop {
        if let Some(stop_at) = stop_renewing_at
            && next_renewal >= stop_at
        {
            // max_hold reached: let the lease run out, then say so.
            sleep_until(valid_until).await;
            tracing::warn!(
                lock = leased.name(),
                "max_hold reached; the lease has expired"
            );
            break;
        }
        sleep_until(next_renewal).await;
        let started = Instant::now();
        let renewal = shared
            .backend
            .renew(&leased, lease)
            .instrument(tracing::debug_span!("redlock.renew", lock = leased.name()));
        // A renewal that cannot finish while the lease is still valid is a lost lease.
        match timeout_at(valid_until, renewal).await {
            Ok(Ok(true)) => {
                Counters::bump(&shared.counters.renewals);
                valid_until = started + lease - shared.backend.drift(lease);
                next_renewal = started + lease / 3;
            }
            Ok(Ok(false)) => {
                tracing::warn!(
                    lock = leased.name(),
                    "lease lost: another owner holds it or it expired"
                );
                break;
            }
            Ok(Err(error)) => {
                tracing::warn!(lock = leased.name(), %error, "lease lost: renewal failed");
                break;
            }
            Err(_) => {
                tracing::warn!(
                    lock = leased.name(),
                    "lease lost: renewal did not finish before the lease expired"
                );
                break;
            }
        }
    }
    Counters::bump(&shared.counters.lost_leases);
    lost.cancel();
    // The lock is no longer ours: let the next local waiter try Redis, even
    // while this guard is still kept.
    gate.lock().expect("gate lock").take();
}
