//! When a session ends: one rule, applied by every write, read and touch.
//!
//! A session's hash holds three limits (Unix ms, see [`crate::schema`]):
//!
//! - `requested_expires_at`: the deadline the application asked for at the
//!   session's last create or save. With tower-sessions that is the record's
//!   expiry date: for `Expiry::OnInactivity(d)` the save's time + `d`, for
//!   `Expiry::AtDateTime(t)` `t`, for `Expiry::OnSessionEnd` (or no expiry)
//!   two weeks after the save, tower-sessions' default.
//! - `absolute_expires_at`: creation + the absolute timeout.
//! - the idle deadline: the time of the last use + the store's idle timeout.
//!
//! and the deadline that counts, `expires_at`, is
//!
//! ```text
//! expires_at = min(requested_expires_at, last use + idle timeout, absolute_expires_at)
//! ```
//!
//! A create or a save sets `requested_expires_at` and applies the rule at
//! once. A read (unless `extend_on_read(false)`) and a `touch` are uses that
//! move only the idle deadline, so they can extend `expires_at` up to the
//! other two limits and never past them. Under `Expiry::OnInactivity(d)` with
//! `d` no longer than the idle timeout, a read therefore extends nothing: the
//! session ends `d` after its last save, as tower-sessions specifies
//! ("reading a session is not considered activity") and as its `MemoryStore`
//! behaves. The idle timeout extends a session on reads only where the
//! application's deadline lies further out.
//!
//! A worked trace, idle timeout 30 min, the layer on `OnInactivity(5 min)`:
//!
//! | time | event | requested | expires_at |
//! |---|---|---|---|
//! | 0:00 | login (create) | 0:05 | min(0:05, 0:30) = 0:05 |
//! | 0:03 | read-only request | 0:05 | min(0:05, 0:33) = 0:05 (no write) |
//! | 0:04 | request that changes the cart (save) | 0:09 | 0:09 |
//! | 0:09 | `load` returns `None`; Redis has expired the key | | |
//!
//! With `OnSessionEnd` instead, requested would be two weeks out, and each
//! read would move `expires_at` to read + 30 min.
//!
//! Moving a deadline costs a write, so a read moves it only when it moves by
//! at least a tenth of the idle timeout (one second at most): a burst of
//! requests costs one write, and a session may end up to that step before
//! its nominal idle deadline, never after it. The Lua scripts apply the same
//! rule (`deadline` and `deadline_moved` in `scripts/common.lua`).

/// The deadline a session may have when used at `now`: what the application
/// asked for, capped by the idle timeout and the absolute lifetime.
pub(crate) fn deadline(requested: i64, now: i64, idle_ms: i64, absolute: Option<i64>) -> i64 {
    requested
        .min(now.saturating_add(idle_ms))
        .min(absolute.unwrap_or(i64::MAX))
}

/// How far a deadline must move before a read writes it.
pub(crate) fn step(idle_ms: i64) -> i64 {
    (idle_ms / 10).min(1000)
}

/// Where a read at `now` moves the deadline of a session stored with
/// `current` (`expires_at`), `requested` and `absolute`, if it moves it at
/// all. A session without `requested_expires_at` (written before it existed)
/// is not extended.
pub(crate) fn extension(
    current: i64,
    requested: Option<i64>,
    absolute: Option<i64>,
    now: i64,
    idle_ms: i64,
) -> Option<i64> {
    let target = deadline(requested.unwrap_or(current), now, idle_ms, absolute);
    (target > current && target - current >= step(idle_ms)).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1000;
    const MINUTE: i64 = 60 * SECOND;
    const IDLE: i64 = 30 * MINUTE;

    #[test]
    fn a_save_gets_the_earliest_of_the_three_limits() {
        assert_eq!(
            deadline(5 * MINUTE, 0, IDLE, Some(24 * 60 * MINUTE)),
            5 * MINUTE
        );
        assert_eq!(deadline(14 * 24 * 60 * MINUTE, 0, IDLE, None), IDLE);
        assert_eq!(deadline(i64::MAX, 0, IDLE, Some(10 * MINUTE)), 10 * MINUTE);
    }

    #[test]
    fn a_read_never_moves_a_deadline_past_what_the_application_asked_for() {
        // OnInactivity(2 s), saved at 0, read at 0.1 s: nothing to extend.
        assert_eq!(
            extension(2 * SECOND, Some(2 * SECOND), None, 100, IDLE),
            None
        );
        // OnInactivity(5 min), read at 3 min: still ends at 5 min.
        assert_eq!(
            extension(5 * MINUTE, Some(5 * MINUTE), None, 3 * MINUTE, IDLE),
            None
        );
        // AtDateTime(1 h) with a 30 min idle timeout: a read at 50 min
        // extends to the hour, not to 80 min.
        assert_eq!(
            extension(IDLE, Some(60 * MINUTE), None, 50 * MINUTE, IDLE),
            Some(60 * MINUTE)
        );
    }

    #[test]
    fn a_read_extends_by_the_idle_timeout_when_the_application_allows_it() {
        let two_weeks = 14 * 24 * 60 * MINUTE;
        assert_eq!(
            extension(IDLE, Some(two_weeks), None, 10 * MINUTE, IDLE),
            Some(40 * MINUTE)
        );
        assert_eq!(
            extension(IDLE, Some(two_weeks), Some(35 * MINUTE), 10 * MINUTE, IDLE),
            Some(35 * MINUTE),
            "capped by the absolute lifetime"
        );
    }

    #[test]
    fn a_burst_of_reads_writes_the_deadline_once_a_step() {
        let two_weeks = 14 * 24 * 60 * MINUTE;
        assert_eq!(step(IDLE), SECOND);
        assert_eq!(step(800), 80);
        assert_eq!(extension(IDLE, Some(two_weeks), None, 999, IDLE), None);
        assert_eq!(
            extension(IDLE, Some(two_weeks), None, SECOND, IDLE),
            Some(IDLE + SECOND)
        );
    }

    #[test]
    fn a_session_without_a_requested_deadline_is_not_extended() {
        assert_eq!(extension(IDLE, None, None, 10 * MINUTE, IDLE), None);
    }
}
