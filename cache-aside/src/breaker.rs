//! A circuit breaker in front of Redis.
//!
//! A dead or unreachable Redis must not add its timeout to every request of
//! a fail-open cache. After `threshold` consecutive failures the breaker
//! opens: calls skip Redis for `cooldown`. Then one call is let through as a
//! probe; its success closes the breaker, its failure opens it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is in flight since `since`; other calls skip Redis until it
    /// reports, or until a cooldown has passed (a probe whose caller was
    /// cancelled never reports, and must not keep Redis bypassed forever).
    Probing {
        since: Instant,
    },
}

/// The breaker; cheap to consult on every call.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    /// May this call use Redis?
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::Probing {
                    since: Instant::now(),
                };
                true
            }
            State::Probing { since } if since.elapsed() >= self.cooldown => {
                *state = State::Probing {
                    since: Instant::now(),
                };
                true
            }
            State::Open { .. } | State::Probing { .. } => false,
        }
    }

    pub(crate) fn success(&self) {
        *self.state.lock().expect("breaker lock") = State::Closed { failures: 0 };
    }

    pub(crate) fn failure(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::Probing { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            State::Open {
                until: Instant::now() + self.cooldown,
            }
        } else {
            State::Closed { failures }
        };
    }

    pub(crate) fn is_open(&self) -> bool {
        !matches!(
            *self.state.lock().expect("breaker lock"),
            State::Closed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_probes_after_cooldown_and_closes_on_success() {
        let breaker = Breaker::new(3, Duration::from_secs(2));
        breaker.failure();
        breaker.failure();
        assert!(breaker.allow(), "still closed below the threshold");
        breaker.failure();
        assert!(!breaker.allow(), "open after 3 consecutive failures");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(breaker.allow(), "one probe after the cooldown");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.failure();
        assert!(!breaker.allow(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(breaker.allow());
        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_reports_is_replaced_after_a_cooldown() {
        let breaker = Breaker::new(1, Duration::from_secs(2));
        breaker.failure();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(breaker.allow(), "the probe (its caller is then cancelled)");
        assert!(!breaker.allow());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            breaker.allow(),
            "a new probe once the silent one is overdue"
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(1));
        breaker.failure();
        breaker.success();
        breaker.failure();
        assert!(breaker.allow());
    }
}
