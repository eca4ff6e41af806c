//! Keeping leases alive while their holders live: one watchdog per manager.
//!
//! Every held lease (lock or permit) is an entry in the manager's watchdog
//! table. One task renews each entry `lease / 3` after its acquisition or
//! last renewal, on tokio's monotonic clock. With `max_hold` set, renewals
//! stop after that long and the lease runs out on its own.
//!
//! **When a lease counts as lost.** Each entry knows until when its lease is
//! *known valid*: a renewal sent at `t` and confirmed makes the lock ours
//! until `t + lease − drift` (Redis set the expiry at or after `t`; `drift`
//! is zero on one Redis and the Redlock allowance on a quorum). Within that
//! time nobody else can acquire, so a renewal that fails with an error or
//! gets no answer in time proves nothing and is retried, after a short
//! backoff (see [`retry_delay`]), each attempt bounded (see
//! [`attempt_timeout`]) so that one silent connection cannot use up the
//! validity. The holder's `lost` signal fires:
//!
//! - at once, when Redis answers that the lease is not ours (another owner
//!   holds it, or it is gone: a restart lost it, or it expired);
//! - when no renewal could be confirmed in time: the moment the next attempt
//!   could not start before `valid_until`, so at the latest at
//!   `valid_until`, before the lease can expire in Redis and another holder
//!   acquire it.
//!
//! ```text
//! lease 3 s, renewal due at t = 1 s (valid until 3 s), link down 0.9–1.4 s
//! t=1.000  renew: connection refused → retry in 10 ms
//! t=1.010  refused → 20 ms; 1.030 → 40 ms; 1.070 → 80 ms; 1.150 → 160 ms
//! t=1.310  refused → 300 ms (the cap, lease / 10)
//! t=1.610  renewed: valid until 4.61 s, next renewal at 2.61 s
//! ```
//!
//! Had the link stayed down, the attempt at 2.81 s would have failed with
//! the next one due at 3.11 s, past the validity: `lost` fires at 2.81 s.
//!
//! Acquiring inserts an entry and releasing removes it, under a mutex and
//! without waking the task: every new entry is due `lease / 3` after it is
//! added, and the task never sleeps longer than `lease / 3`, so it always
//! wakes in time. A lock + unlock therefore costs no task spawn and no
//! cross-thread wake-up. A removed entry is never renewed again (a renewal
//! being retried stops at its next attempt); a renewal already in flight is
//! owner-checked in Redis and cannot extend a released lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use crate::backend::{Backend, Leased};
use crate::gate::GatePass;
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

type Table = Arc<Mutex<HashMap<u64, Watched>>>;

/// The watchdog table of one manager; its renewal task stops when this is
/// dropped (with the manager's last clone, guard or permit).
pub(crate) struct Watchdog {
    table: Table,
    next_id: AtomicU64,
    _stop_on_drop: DropGuard,
}

/// What renewing needs of its manager: the backend to renew on, the
/// counters to bump, and the table of watched leases.
struct Renewer {
    backend: Backend,
    counters: Arc<Counters>,
    table: Table,
    lease: Duration,
}

/// Handle on one watched lease.
pub(crate) type WatchId = u64;

impl Watchdog {
    /// Starts the renewal task for leases of `lease` on `backend`.
    pub(crate) fn start(backend: Backend, counters: Arc<Counters>, lease: Duration) -> Self {
        let stop = CancellationToken::new();
        let table = Table::default();
        let renewer = Arc::new(Renewer {
            backend,
            counters,
            table: table.clone(),
            lease,
        });
        tokio::spawn(renew_forever(renewer, stop.clone()));
        Self {
            table,
            next_id: AtomicU64::new(0),
            _stop_on_drop: stop.drop_guard(),
        }
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

    /// Until when a watched lease is known valid; `None` once it is not
    /// watched any more (released, or declared lost).
    pub(crate) fn valid_until(&self, id: WatchId) -> Option<Instant> {
        let table = self.table.lock().expect("watchdog lock");
        table.get(&id).map(|watched| watched.valid_until)
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

async fn renew_forever(renewer: Arc<Renewer>, stop: CancellationToken) {
    let (table, lease) = (&renewer.table, renewer.lease);
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
        for item in due {
            match item {
                Due::Expire(id) => {
                    tracing::warn!("max_hold reached; the lease has expired");
                    renewer.declare_lost(id);
                }
                Due::Renew(id, leased, valid_until) => {
                    tokio::spawn(renew_one(renewer.clone(), id, leased, valid_until));
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sleep_until(wake_at) => {}
        }
    }
}

/// The first retry of a failed renewal waits this long; each next one twice
/// as long, up to [`retry_delay`]'s cap.
const FIRST_RETRY: Duration = Duration::from_millis(10);

/// How long to wait before retry number `retry` (0 for the first) of a
/// failed renewal: 10 ms, doubling, at most a tenth of the lease and at
/// most a second, so a link that comes back is used again soon after.
pub(crate) fn retry_delay(lease: Duration, retry: u32) -> Duration {
    let cap = (lease / 10).min(Duration::from_secs(1));
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(retry))
        .min(cap)
}

/// The longest one renewal attempt may take before it is abandoned and
/// retried: a sixth of the lease, so that after a reply lost on a silent
/// connection at least two more attempts start within the two thirds of the
/// lease left when a renewal falls due, while a slow but live Redis still
/// has ample time to answer.
pub(crate) fn attempt_timeout(lease: Duration) -> Duration {
    lease / 6
}

/// Renews one lease, retrying failures while it is known valid.
async fn renew_one(renewer: Arc<Renewer>, id: u64, leased: Leased, valid_until: Instant) {
    let (table, lease, counters) = (&renewer.table, renewer.lease, &renewer.counters);
    let mut retry = 0;
    loop {
        let started = Instant::now();
        let renewal = renewer
            .backend
            .renew(&leased, lease)
            .instrument(tracing::debug_span!(
                "redlock.renew",
                lock = leased.name(),
                retry
            ));
        // Never past the validity the renewal is trying to extend.
        let attempt_ends = (started + attempt_timeout(lease)).min(valid_until);
        let failure = match timeout_at(attempt_ends, renewal).await {
            Ok(Ok(true)) => {
                Counters::bump(&counters.renewals);
                if let Some(watched) = table.lock().expect("watchdog lock").get_mut(&id) {
                    watched.valid_until = started + lease - renewer.backend.drift(lease);
                    watched.next_renewal = started + lease / 3;
                    watched.renewing = false;
                }
                return;
            }
            Ok(Ok(false)) => {
                tracing::warn!(
                    lock = leased.name(),
                    "lease lost: another owner holds it or it expired"
                );
                renewer.declare_lost(id);
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer in time".to_string(),
        };
        let retry_at = Instant::now() + retry_delay(lease, retry);
        if retry_at >= valid_until {
            tracing::warn!(
                lock = leased.name(),
                %failure,
                retries = retry,
                "lease lost: no renewal could be confirmed before it would expire"
            );
            renewer.declare_lost(id);
            return;
        }
        tracing::debug!(
            lock = leased.name(),
            %failure,
            retry,
            "renewal failed; retrying while the lease is valid"
        );
        sleep_until(retry_at).await;
        let stop_renewing_at = match table.lock().expect("watchdog lock").get(&id) {
            None => return, // released meanwhile: nothing to renew
            Some(watched) => watched.stop_renewing_at,
        };
        if stop_renewing_at.is_some_and(|stop_at| Instant::now() >= stop_at) {
            // max_hold reached while retrying: let the lease run out.
            sleep_until(valid_until).await;
            tracing::warn!("max_hold reached; the lease has expired");
            renewer.declare_lost(id);
            return;
        }
        Counters::bump(&counters.renewal_retries);
        retry += 1;
    }
}

impl Renewer {
    /// Fires the holder's lost signal and opens its local gate, unless the
    /// lease was released meanwhile.
    fn declare_lost(&self, id: u64) {
        let Some(watched) = self.table.lock().expect("watchdog lock").remove(&id) else {
            return; // released meanwhile: nothing was lost
        };
        Counters::bump(&self.counters.lost_leases);
        watched.lost.cancel();
        // The lock is no longer ours: let the next local waiter try Redis,
        // even while the guard is still kept.
        watched.gate.lock().expect("gate lock").take();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{attempt_timeout, retry_delay};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn retries_start_small_and_double() {
        let lease = Duration::from_secs(3);
        let delays: Vec<_> = (0..7).map(|retry| retry_delay(lease, retry)).collect();
        assert_eq!(
            delays,
            [
                10 * MS,
                20 * MS,
                40 * MS,
                80 * MS,
                160 * MS,
                300 * MS,
                300 * MS
            ]
        );
    }

    #[test]
    fn the_delay_is_capped_at_a_tenth_of_the_lease_and_a_second() {
        assert_eq!(retry_delay(Duration::from_millis(200), 5), 20 * MS);
        assert_eq!(
            retry_delay(Duration::from_secs(30), 20),
            Duration::from_secs(1)
        );
        // A shortest lease (30 ms) still retries, every 3 ms.
        assert_eq!(retry_delay(Duration::from_millis(30), 0), 3 * MS);
    }

    #[test]
    fn the_delay_never_overflows() {
        let lease = Duration::from_secs(30);
        assert_eq!(retry_delay(lease, u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn unanswered_attempts_leave_room_for_more_before_the_lease_expires() {
        // A renewal falls due with two thirds of the lease left; even if
        // every attempt goes unanswered until its bound, with the largest
        // backoff between them, two retries still start in time.
        for lease in [
            30 * MS,
            300 * MS,
            Duration::from_secs(3),
            Duration::from_secs(30),
        ] {
            let one_try = attempt_timeout(lease) + retry_delay(lease, u32::MAX);
            assert!(one_try * 2 < lease * 2 / 3, "{lease:?}");
        }
    }
}
