//! The cron loop: when each tick of a schedule falls, on this instance's
//! clock.
//!
//! Every instance runs this loop for every job. It names each tick by the
//! time the schedule gives it (`2026-12-07T00:05:00Z`), never by the moment
//! the instance woke up: two instances whose timers fire 300 ms apart still
//! name the same tick, and that name is what the lease and the record key
//! on (see [`once`](super::once)).
//!
//! The next tick is computed from the previous tick, not from "now", so a
//! timer that wakes late never skips a tick; a process that was suspended
//! for longer than [`CATCH_UP`] skips what it missed instead of firing a
//! burst of stale ticks (the other instances ran them).

use std::time::Duration;

use chrono::{DateTime, Utc};
use cron::Schedule;

/// How far in the past a tick may be and still fire (after a stall of the
/// process); older ones are skipped.
pub const CATCH_UP: Duration = Duration::from_secs(60);

/// The longest single sleep: the wall clock is read again after it, so a
/// daily schedule follows clock corrections instead of a monotonic timer
/// that drifted for a day.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Parses a cron expression with seconds: `sec min hour day-of-month month
/// day-of-week [year]` (`0 5 0 * * *` is daily at 00:05:00 UTC, `* * * * * *`
/// every second).
pub fn parse(expression: &str) -> Result<Schedule, String> {
    expression.parse::<Schedule>().map_err(|error| {
        format!("{expression:?} is not a cron expression with seconds (sec min hour day month weekday): {error}")
    })
}

/// The ticks of `schedule` from now on, in order.
#[derive(Debug)]
pub struct Ticks {
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
}

impl Ticks {
    /// The ticks of `schedule` after this moment.
    pub fn new(schedule: Schedule) -> Self {
        let next = schedule.upcoming(Utc).next();
        Self { schedule, next }
    }

    /// Sleeps until the next tick falls and returns its scheduled time;
    /// `None` when the schedule has no more ticks (a past year).
    pub async fn next(&mut self) -> Option<DateTime<Utc>> {
        loop {
            let tick = self.next?;
            let now = Utc::now();
            if tick > now {
                let left = (tick - now).to_std().unwrap_or_default();
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
                continue;
            }
            self.next = self.schedule.after(&tick).next();
            if (now - tick).to_std().unwrap_or_default() > CATCH_UP {
                tracing::warn!(%tick, "skipping a tick missed by more than the catch-up window");
                self.next = self.schedule.upcoming(Utc).next();
                continue;
            }
            return Some(tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_with_seconds_parse_and_five_are_refused() {
        let daily = parse("0 5 0 * * *").unwrap();
        let start: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let next: Vec<_> = daily
            .after(&start)
            .take(2)
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            next,
            ["2026-12-08T00:05:00+00:00", "2026-12-09T00:05:00+00:00"]
        );
        assert!(parse("5 0 * * *").is_err());
        assert!(parse("every day").is_err());
    }

    #[tokio::test]
    async fn ticks_come_in_order_one_second_apart() {
        let mut ticks = Ticks::new(parse("* * * * * *").unwrap());
        let first = ticks.next().await.unwrap();
        let second = ticks.next().await.unwrap();
        assert_eq!((second - first).num_seconds(), 1);
        assert!(second <= Utc::now());
    }
}
