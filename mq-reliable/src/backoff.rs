//! How long to wait before the next attempt, and how many attempts there are.
//!
//! A [`Backoff`] is a pure schedule: attempt 1 is the first delivery, and
//! [`delay_after`](Backoff::delay_after)`(n)` is the wait between attempt `n`
//! failing and attempt `n + 1` starting — or `None` once `n` reached
//! [`max_attempts`](Backoff::max_attempts), when the message is dead-lettered.
//!
//! ```
//! use std::time::Duration;
//! use mq_reliable::Backoff;
//!
//! let backoff = Backoff::exponential(Duration::from_secs(1), 2.0).max_attempts(4);
//! assert_eq!(backoff.delay_after(1), Some(Duration::from_secs(1)));
//! assert_eq!(backoff.delay_after(2), Some(Duration::from_secs(2)));
//! assert_eq!(backoff.delay_after(3), Some(Duration::from_secs(4)));
//! assert_eq!(backoff.delay_after(4), None); // the fourth failure dead-letters
//! ```
//!
//! Delays are whole milliseconds (a broker TTL is), and there is no random
//! jitter: on RabbitMQ each distinct delay is one retry queue, so the schedule
//! must be a small fixed set. Failed messages still spread out, because each
//! waits from the moment it failed.

use std::time::Duration;

use crate::outcome::FailureKind;

/// A retry schedule: exponential (or fixed) delays with a cap, and an attempt limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    max_attempts: u32,
}

impl Default for Backoff {
    /// 1 s, doubling, at most 5 attempts (delays 1 s, 2 s, 4 s, 8 s), capped at 5 minutes.
    fn default() -> Self {
        Self::exponential(Duration::from_secs(1), 2.0)
    }
}

impl Backoff {
    /// Delays of `initial`, `initial × factor`, `initial × factor²`, … capped at
    /// [`max_delay`](Self::max_delay) (default 5 minutes), with 5 attempts in all
    /// unless [`max_attempts`](Self::max_attempts) says otherwise.
    /// A `factor` below 1 (or not a number) is treated as 1.
    pub fn exponential(initial: Duration, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor >= 1.0 {
            factor
        } else {
            1.0
        };
        Self {
            initial: round_to_millis(initial),
            factor,
            max_delay: Duration::from_secs(300),
            max_attempts: 5,
        }
    }

    /// The same delay before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Self::exponential(delay, 1.0)
    }

    /// No retry: the first failure dead-letters the message.
    pub fn none() -> Self {
        Self::fixed(Duration::ZERO).max_attempts(1)
    }

    /// Total attempts, the first delivery included (at least 1; default 5).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Upper bound for any single delay (default 5 minutes).
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = round_to_millis(max);
        self
    }

    /// The configured attempt limit.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The retry-or-dead-letter decision both brokers' consumers make after
    /// attempt `attempt` failed with `kind`: `Some(wait)` to try again,
    /// `None` to dead-letter (the failure is not retryable, or that was the
    /// last attempt allowed).
    #[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
    pub(crate) fn retry_delay(&self, kind: FailureKind, attempt: u32) -> Option<Duration> {
        if kind.is_retryable() {
            self.delay_after(attempt)
        } else {
            None
        }
    }

    /// The wait after attempt `attempt` (1-based) failed, or `None` when that
    /// was the last attempt allowed.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let exponent = (attempt - 1) as i32;
        let millis = self.initial.as_millis() as f64 * self.factor.powi(exponent);
        let capped = millis.min(self.max_delay.as_millis() as f64);
        Some(Duration::from_millis(capped.round() as u64))
    }

    /// Every distinct delay the schedule can produce, shortest first. On
    /// RabbitMQ each one is a retry queue.
    pub fn distinct_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = (1..self.max_attempts)
            .filter_map(|attempt| self.delay_after(attempt))
            .collect();
        delays.sort();
        delays.dedup();
        delays
    }
}

fn round_to_millis(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis().min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_failures_with_attempts_left_are_retried() {
        let b = Backoff::fixed(Duration::from_millis(50)).max_attempts(3);
        for kind in [FailureKind::Retry, FailureKind::Panic, FailureKind::Timeout] {
            assert_eq!(
                b.retry_delay(kind, 2),
                Some(Duration::from_millis(50)),
                "{kind}"
            );
            assert_eq!(b.retry_delay(kind, 3), None, "{kind}: out of attempts");
        }
        for kind in [FailureKind::Rejected, FailureKind::Deserialize] {
            assert_eq!(b.retry_delay(kind, 1), None, "{kind}: never retried");
        }
    }

    #[test]
    fn exponential_schedule() {
        let b = Backoff::exponential(Duration::from_millis(100), 3.0).max_attempts(5);
        let delays: Vec<_> = (1..=5).map(|a| b.delay_after(a)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(300)),
                Some(Duration::from_millis(900)),
                Some(Duration::from_millis(2700)),
                None
            ]
        );
    }

    #[test]
    fn capped_and_deduplicated() {
        let b = Backoff::exponential(Duration::from_secs(1), 2.0)
            .max_delay(Duration::from_secs(3))
            .max_attempts(10);
        assert_eq!(b.delay_after(9), Some(Duration::from_secs(3)));
        assert_eq!(
            b.distinct_delays(),
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3)
            ]
        );
    }

    #[test]
    fn none_and_fixed() {
        assert_eq!(Backoff::none().delay_after(1), None);
        assert!(Backoff::none().distinct_delays().is_empty());
        let f = Backoff::fixed(Duration::from_millis(50)).max_attempts(3);
        assert_eq!(f.distinct_delays(), vec![Duration::from_millis(50)]);
        assert_eq!(f.delay_after(0), None);
    }

    #[test]
    fn silly_inputs_are_tamed() {
        let b = Backoff::exponential(Duration::from_millis(10), f64::NAN).max_attempts(0);
        assert_eq!(b.attempts(), 1);
        let b = Backoff::exponential(Duration::from_millis(10), 0.5).max_attempts(3);
        assert_eq!(b.delay_after(2), Some(Duration::from_millis(10)));
    }

    /// Property check over many schedules (a small deterministic generator,
    /// no extra dependency): delays never shrink, never exceed the cap, stop
    /// exactly at the attempt limit, and the distinct set is what the
    /// schedule produces.
    #[test]
    fn properties_hold_for_many_schedules() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000 {
            let initial = Duration::from_millis(next() % 5_000);
            let factor = 1.0 + (next() % 400) as f64 / 100.0;
            let cap = Duration::from_millis(next() % 600_000);
            let attempts = (next() % 20) as u32 + 1;
            let b = Backoff::exponential(initial, factor)
                .max_delay(cap)
                .max_attempts(attempts);
            let mut previous = Duration::ZERO;
            for attempt in 1..attempts {
                let delay = b.delay_after(attempt).expect("a retry remains");
                assert!(delay >= previous, "{b:?} shrank at {attempt}");
                assert!(delay <= cap, "{b:?} exceeded its cap");
                previous = delay;
            }
            assert_eq!(b.delay_after(attempts), None);
            assert_eq!(b.delay_after(attempts + 1), None);
            let distinct = b.distinct_delays();
            assert!(distinct.len() < attempts as usize || attempts == 1 && distinct.is_empty());
            assert!(distinct.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
