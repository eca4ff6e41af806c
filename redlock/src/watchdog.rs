//! Keeping leases alive while their holders live: one watchdog per manager.
//!
//! Every held lease (lock or permit) is an entry in the manager's watchdog
//! table. One task renews each entry `lease / 3` after its acquisition or
//! last renewal, on tokio's monotonic clock. The moment a renewal fails,
//! times out, or finds that the lease is no longer ours, the holder's `lost`
//! signal fires: unlike a renewal that is only logged, the holder learns it
//! can no longer assume exclusion. With `max_hold` set, renewals stop after
//! that long and the lease runs out on its own.
//!
//! Acquiring inserts an entry and releasing removes it, under a mutex and
//! without waking the task: every new entry is due `lease / 3` after it is
//! added, and the task never sleeps longer than `lease / 3`, so it always
//! wakes in time. A lock + unlock therefore costs no task spawn and no
//! cross-thread wake-up. A removed entry is never renewed again; a renewal
//! already in flight is owner-checked in Redis and cannot extend a released
//! lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use crate::backend::Leased;
use crate::gate::GatePass;
use crate::manager::Shared;
use crate::stats::Counters;

/// A held lease as the watchdog tracks it.
struct Watched {
    leased: Leased,
    next_renewal: Instant,
    valid_until: Instant,
    stop_renewing_at: Option<Instant>,
    renewing: bool,
    lost: CancellationToken,
    gate: Arc<Mutex<Option<GatePass>>>,
}

/// The watchdog table of one manager.
pub(crate) struct Watchdog {
    table: Arc<Mutex<HashMap<u64, Watched>>>,
    next_id: AtomicU64,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

/// Handle on one watched lease.
pub(crate) type WatchId = u64;

impl Watchdog {
    pub(crate) fn new() -> Self {
        let stop = CancellationToken::new();
        Self {
            table: Arc::default(),
            next_id: AtomicU64::new(0),
            stop: stop.clone(),
            _stop_on_drop: stop.drop_guard(),
        }
    }

    /// Starts the renewal task (once the manager's shared state exists).
    pub(crate) fn run(&self, shared: Weak<Shared>, lease: Duration) {
        tokio::spawn(renew_forever(
            shared,
            self.table.clone(),
            lease,
            self.stop.clone(),
        ));
    }

    /// Starts watching a freshly acquired lease.
    pub(crate) fn watch(
        &self,
        leased: Leased,
        lease: Duration,
        max_hold: Option<Duration>,
        valid_until: Instant,
        lost: CancellationToken,
        gate: Arc<Mutex<Option<GatePass>>>,
    ) -> WatchId {
        let now = Instant::now();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watched = Watched {
            leased,
            next_renewal: now + lease / 3,
            valid_until,
            stop_renewing_at: max_hold.map(|max_hold| now + max_hold),
            renewing: false,
            lost,
            gate,
        };
        self.table
            .lock()
            .expect("watchdog lock")
            .insert(id, watched);
        id
    }

    /// Stops watching: no renewal is sent for it from now on.
    pub(crate) fn unwatch(&self, id: WatchId) {
        self.table.lock().expect("watchdog lock").remove(&id);
    }
}

/// What to do with one entry at a wake-up.
enum Due {
    Renew(u64, Leased, Instant),
    Expire(u64),
}

async fn renew_forever(
    shared: Weak<Shared>,
    table: Arc<Mutex<HashMap<u64, Watched>>>,
    lease: Duration,
    stop: CancellationToken,
) {
    let period = lease / 3;
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        let mut wake_at = now + period;
        {
            let mut table = table.lock().expect("watchdog lock");
            for (id, watched) in table.iter_mut() {
                if watched.renewing {
                    continue;
                }
                let stopped = watched
                    .stop_renewing_at
                    .is_some_and(|stop_at| watched.next_renewal >= stop_at);
                let at = if stopped {
                    watched.valid_until
                } else {
                    watched.next_renewal
                };
                if at <= now {
                    if stopped {
                        due.push(Due::Expire(*id));
                    } else {
                        watched.renewing = true;
                        due.push(Due::Renew(*id, watched.leased.clone(), watched.valid_until));
                    }
                } else {
                    wake_at = wake_at.min(at);
                }
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for item in due {
            match item {
                Due::Expire(id) => {
                    tracing::warn!("max_hold reached; the lease has expired");
                    declare_lost(&shared, &table, id);
                }
                Due::Renew(id, leased, valid_until) => {
                    tokio::spawn(renew_one(
                        shared.clone(),
                        table.clone(),
                        id,
                        leased,
                        valid_until,
                        lease,
                    ));
                }
            }
        }
        drop(shared);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sleep_until(wake_at) => {}
        }
    }
}

async fn renew_one(
    shared: Arc<Shared>,
    table: Arc<Mutex<HashMap<u64, Watched>>>,
    id: u64,
    leased: Leased,
    valid_until: Instant,
    lease: Duration,
) {
    let started = Instant::now();
    let renewal = shared
        .backend
        .renew(&leased, lease)
        .instrument(tracing::debug_span!("redlock.renew", lock = leased.name()));
    // A renewal that cannot finish while the lease is still valid is a lost lease.
    let outcome = timeout_at(valid_until, renewal).await;
    match outcome {
        Ok(Ok(true)) => {
            Counters::bump(&shared.counters.renewals);
            if let Some(watched) = table.lock().expect("watchdog lock").get_mut(&id) {
                watched.valid_until = started + lease - shared.backend.drift(lease);
                watched.next_renewal = started + lease / 3;
                watched.renewing = false;
            }
        }
        Ok(Ok(false)) => {
            tracing::warn!(
                lock = leased.name(),
                "lease lost: another owner holds it or it expired"
            );
            declare_lost(&shared, &table, id);
        }
        Ok(Err(error)) => {
            tracing::warn!(lock = leased.name(), %error, "lease lost: renewal failed");
            declare_lost(&shared, &table, id);
        }
        Err(_) => {
            tracing::warn!(
                lock = leased.name(),
                "lease lost: renewal did not finish before the lease expired"
            );
            declare_lost(&shared, &table, id);
        }
    }
}

/// Fires the holder's lost signal and opens its local gate, unless the lease
/// was released meanwhile.
fn declare_lost(shared: &Shared, table: &Mutex<HashMap<u64, Watched>>, id: u64) {
    let Some(watched) = table.lock().expect("watchdog lock").remove(&id) else {
        return; // released meanwhile: nothing was lost
    };
    Counters::bump(&shared.counters.lost_leases);
    watched.lost.cancel();
    // The lock is no longer ours: let the next local waiter try Redis, even
    // while the guard is still kept.
    watched.gate.lock().expect("gate lock").take();
}
