//! The waiting loop shared by locks and semaphores.
//!
//! Try; if busy, subscribe to the release channel and then, in a loop:
//! arm the wake-up, try again, and sleep until woken, until the holder's
//! lease would have run out (a crashed holder never publishes), or until the
//! caller's deadline. Never a fixed-interval poll.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use crate::backend::Acquisition;
use crate::error::Result;
use crate::shared::Shared;
use crate::stats::Counters;

/// How long to sleep when the answer carries no remaining lease.
pub(crate) struct SleepPolicy {
    /// Longest single sleep (a fair waiter must refresh its place in line).
    pub(crate) max: Duration,
    /// When the lock is free but promised to an earlier fair waiter, or
    /// holds no expiry: wait this long for a wake-up before looking again.
    pub(crate) unknown: Duration,
}

/// Returns `Some((token, valid_until))` once acquired, `None` at the deadline.
pub(crate) async fn acquire<F, Fut>(
    shared: &Arc<Shared>,
    channel: &str,
    deadline: Option<Instant>,
    policy: SleepPolicy,
    mut attempt: F,
) -> Result<Option<(u64, Instant)>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Acquisition>>,
{
    if let Acquisition::Held { token, valid_until } = attempt().await? {
        return Ok(Some((token, valid_until)));
    }
    Counters::bump(&shared.counters.waits);
    // Subscribing may wait on a slow pub/sub connection: never past the
    // caller's deadline. Without a subscription the lease-bounded sleep
    // still finds the lock.
    let subscribing = shared.wakeups.subscribe(channel);
    let subscription = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, subscribing).await.ok(),
        None => Some(subscribing.await),
    };
    let never = Notify::new();
    loop {
        let woken = match &subscription {
            Some(subscription) => subscription.notified(),
            None => never.notified(),
        };
        tokio::pin!(woken);
        woken.as_mut().enable(); // armed before the attempt: no missed release
        let retry_in = match attempt().await? {
            Acquisition::Held { token, valid_until } => return Ok(Some((token, valid_until))),
            Acquisition::Busy { retry_in } => retry_in,
        };
        let sleep = retry_in
            .unwrap_or(policy.unknown)
            .min(policy.max)
            .max(Duration::from_millis(1));
        let mut wake_at = Instant::now() + sleep;
        if let Some(deadline) = deadline {
            if Instant::now() >= deadline {
                return Ok(None);
            }
            wake_at = wake_at.min(deadline);
        }
        let _asleep = Asleep::count(&shared.counters);
        tokio::select! {
            _ = &mut woken => Counters::bump(&shared.counters.wakeups),
            _ = sleep_until(wake_at) => {}
        }
    }
}

/// One waiter counted in the `waiting` gauge while it sleeps, however the
/// sleep ends (a cancelled `lock()` future included).
struct Asleep<'a>(&'a Counters);

impl<'a> Asleep<'a> {
    fn count(counters: &'a Counters) -> Self {
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}
