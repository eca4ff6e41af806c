//! The record of every tick: the `job_runs` table (migration 0006).
//!
//! The lock says who may run a tick *now*; this record says whether the
//! tick has *ever* been done, which outlives every lock. Three statements
//! keep it:
//!
//! - [`claim`]: "I start tick T". Inserts the row (attempt 1) or, when a
//!   previous attempt never finished, bumps the attempt number. A `done`
//!   row is left alone and the claim returns `None`: the tick is not run
//!   again, however late an instance's clock fires (ShedLock's "lock at
//!   least", without depending on clock skew staying below it).
//! - [`finish`]: "attempt N finished T", as the **last statement of the
//!   job's own transaction**. It matches only while the row is still at
//!   attempt N, so an attempt that was taken over (its runner paused past
//!   its lease, then resumed) finds nothing to update and rolls its writes
//!   back: the attempt number is the fencing token, kept in PostgreSQL
//!   beside the data, so it survives a Redis restart.
//! - [`fail`]: "attempt N failed", with the error, for an operator.
//!
//! Trace, runner A paused by the operating system mid-job:
//!
//! ```text
//! A: claim(T)  -> attempt 1        row: running, 1, A
//! A: (paused; its lease runs out)
//! B: claim(T)  -> attempt 2        row: running, 2, B
//! B: writes; finish(T, 2) -> true; commit      row: done, 2, B
//! A: (resumes) writes; finish(T, 1) -> false; rollback   nothing of A's stays
//! C: claim(T)  -> None             (done: not run again)
//! ```

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Starts an attempt at `tick` of `job` as `runner`: its attempt number, or
/// `None` when the tick is already done.
pub async fn claim(
    pool: &PgPool,
    job: &str,
    tick: DateTime<Utc>,
    runner: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO job_runs (job, tick, status, attempts, runner, started_at) \
         VALUES ($1, $2, 'running', 1, $3, clock_timestamp()) \
         ON CONFLICT (job, tick) DO UPDATE \
            SET status = 'running', attempts = job_runs.attempts + 1, \
                runner = excluded.runner, started_at = excluded.started_at \
          WHERE job_runs.status <> 'done' \
         RETURNING attempts",
    )
    .bind(job)
    .bind(tick)
    .bind(runner)
    .fetch_optional(pool)
    .await
}

/// Marks `attempt` at `tick` done, inside the job's transaction: `false`
/// when a later attempt has taken the tick over (roll back then).
pub async fn finish(
    tx: &mut PgConnection,
    job: &str,
    tick: DateTime<Utc>,
    attempt: i32,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE job_runs SET status = 'done', finished_at = clock_timestamp(), last_error = NULL \
          WHERE job = $1 AND tick = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(job)
    .bind(tick)
    .bind(attempt)
    .execute(tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records that `attempt` at `tick` failed with `error` (unless a later
/// attempt has taken over).
pub async fn fail(
    pool: &PgPool,
    job: &str,
    tick: DateTime<Utc>,
    attempt: i32,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE job_runs SET status = 'failed', last_error = $4 \
          WHERE job = $1 AND tick = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(job)
    .bind(tick)
    .bind(attempt)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ticks of `job` before `before` that an attempt started and none
/// finished, oldest first (at most `limit`): candidates for a takeover.
pub async fn unfinished(
    pool: &PgPool,
    job: &str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT tick FROM job_runs \
          WHERE job = $1 AND status = 'running' AND tick < $2 \
          ORDER BY tick LIMIT $3",
    )
    .bind(job)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}
