//! Once per tick across instances: a redlock lease decides who runs a
//! tick now, the [`runs`] record decides whether it still needs running.
//!
//! Every instance calls [`OncePerTick::run`] for every tick. The lock is
//! named after the job *and the tick* (`daily-stats@2026-12-07T00:05:00Z`),
//! so each tick is a distinct run and a long run of one tick never delays
//! the next. Under the lock, the instance [claims](runs::claim) the tick:
//! the first claimant runs the job; every later one finds the tick done
//! and releases at once.
//!
//! **Hold at most: the watchdog, not a fixed lease.** ShedLock's
//! `lockAtMostFor` is a fixed lease that must exceed the longest run: set
//! it to 30 minutes and a crashed runner blocks the takeover for 30
//! minutes; set it too short and a slow but healthy run is started a
//! second time. redlock's watchdog renews the lease every `lease / 3` while
//! the runner lives, so a crash is noticed within one `lease` (seconds)
//! however long runs take, and `max_hold` = `lock_at_most` keeps the upper
//! bound: a runner stuck past it stops renewing, its `lost()` fires and the
//! job's future is dropped (its transaction rolls back) before anyone else
//! can take the lock.
//!
//! **Hold at least: the record, not a timer.** `lockAtLeastFor` keeps the
//! lock after a short run so that an instance whose clock fires later does
//! not run the tick again; it works only while clock skew stays below it.
//! Here the late instance gets the lock, finds the tick `done` and does
//! nothing, whatever the skew.
//!
//! **Takeover.** Instances that did not get the lock wait for it (up to
//! `lock_at_most + lease`): redlock wakes them on release, or when the
//! holder's lease runs out. If the holder died, the waiter that gets the
//! lock finds the tick claimed but not done, claims it again (attempt 2)
//! and completes it. [`OncePerTick::sweep`] does the same for ticks whose
//! waiters had all given up (every instance restarted, say).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use redlock::LockManager;
use sqlx::{PgConnection, PgPool};

use super::runs;

/// A job run on a schedule, once per tick across every instance.
pub trait Job: Send + Sync + 'static {
    /// What a run hands from its transaction to [`Job::publish`].
    type Output: Send;

    /// The job's name (its lock and its rows in `job_runs`).
    fn name(&self) -> &'static str;

    /// The run for `tick`: every write goes through `tx`, the transaction
    /// that also marks the tick done (so both commit, or neither).
    fn run<'a>(
        &'a self,
        tick: DateTime<Utc>,
        tx: &'a mut PgConnection,
    ) -> impl Future<Output = anyhow::Result<Self::Output>> + Send + 'a;

    /// After the commit: tell readers (fill caches). A failure is logged;
    /// the tick stays done.
    fn publish(&self, output: Self::Output)
    -> impl Future<Output = anyhow::Result<()>> + Send + '_;
}

/// What one instance did for one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This instance ran the job and committed it (attempt > 1: a takeover).
    Ran {
        /// The attempt number.
        attempt: i32,
    },
    /// The tick was already done.
    AlreadyDone,
    /// Another instance held the lock for the whole wait.
    Busy,
    /// This instance's attempt was taken over, or its lease was lost, before
    /// it committed: nothing of it stays.
    Superseded,
}

/// Runs a job at most once per tick, across every instance sharing the
/// Redis and the database.
pub struct OncePerTick<J> {
    job: Arc<J>,
    locks: LockManager,
    redis: redis::aio::ConnectionManager,
    pool: PgPool,
    runner: String,
    /// How long a waiter waits for the tick's lock.
    wait: Duration,
}

/// The prefix of the ticks' lock keys (`job-lock:{daily-stats@…}:lock`).
pub const LOCK_PREFIX: &str = "job-lock";

/// How long a tick's fencing counter stays in Redis after its last use.
/// redlock keeps a lock's counter forever, which is right for a lock name
/// used again and again; a tick's name is used for one tick, and the
/// attempt number in `job_runs` is the fence here, so the counter goes.
const FENCE_KEPT: Duration = Duration::from_secs(24 * 3600);

impl<J> Clone for OncePerTick<J> {
    fn clone(&self) -> Self {
        Self {
            job: self.job.clone(),
            locks: self.locks.clone(),
            redis: self.redis.clone(),
            pool: self.pool.clone(),
            runner: self.runner.clone(),
            wait: self.wait,
        }
    }
}

/// The lock of one tick of `job`.
pub fn lock_name(job: &str, tick: DateTime<Utc>) -> String {
    format!("{job}@{}", tick.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl<J: Job> OncePerTick<J> {
    /// `job` under `locks` (prefix [`LOCK_PREFIX`], built with the lease
    /// and `max_hold`), recorded in `pool` as `runner`; waiters wait up to
    /// `wait` for a tick's lock.
    pub fn new(
        job: J,
        locks: LockManager,
        redis: redis::aio::ConnectionManager,
        pool: PgPool,
        runner: String,
        wait: Duration,
    ) -> Self {
        Self {
            job: Arc::new(job),
            locks,
            redis,
            pool,
            runner,
            wait,
        }
    }

    /// Runs `tick` unless it is done or another instance is running it.
    pub async fn run(&self, tick: DateTime<Utc>) -> anyhow::Result<Outcome> {
        self.run_waiting(tick, self.wait).await
    }

    async fn run_waiting(&self, tick: DateTime<Utc>, wait: Duration) -> anyhow::Result<Outcome> {
        let name = lock_name(self.job.name(), tick);
        let Some(guard) = self.locks.try_lock(&name, wait).await? else {
            return Ok(Outcome::Busy);
        };
        let outcome = tokio::select! {
            biased;
            () = guard.lost() => Ok(Outcome::Superseded),
            outcome = self.run_held(tick) => outcome,
        };
        // A lease lost meanwhile answers NotOwner: the record already says
        // what happened, so there is nothing more to do about it.
        let _ = guard.unlock().await;
        // After every acquisition: a late one may have made a new counter.
        self.expire_fence(&name).await;
        outcome
    }

    async fn expire_fence(&self, name: &str) {
        let key = format!("{LOCK_PREFIX}:{{{name}}}:fence");
        let seconds = FENCE_KEPT.as_secs() as i64;
        let expired: redis::RedisResult<bool> = redis::cmd("EXPIRE")
            .arg(&key)
            .arg(seconds)
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(error) = expired {
            tracing::debug!(%key, "could not set the fence counter's expiry: {error}");
        }
    }

    /// Under the tick's lock: claim, run, finish.
    async fn run_held(&self, tick: DateTime<Utc>) -> anyhow::Result<Outcome> {
        let job = self.job.name();
        let Some(attempt) = runs::claim(&self.pool, job, tick, &self.runner).await? else {
            return Ok(Outcome::AlreadyDone);
        };
        match self.execute(tick, attempt).await {
            Ok(Some(output)) => {
                if let Err(error) = self.job.publish(output).await {
                    tracing::warn!(job, %tick, "publishing the run failed: {error:#}");
                }
                Ok(Outcome::Ran { attempt })
            }
            Ok(None) => Ok(Outcome::Superseded),
            Err(error) => {
                let message = format!("{error:#}");
                if let Err(record) = runs::fail(&self.pool, job, tick, attempt, &message).await {
                    tracing::warn!(job, %tick, "recording the failure failed: {record}");
                }
                Err(error)
            }
        }
    }

    /// The job's writes and the tick's `done`, in one transaction; `None`
    /// when a later attempt took the tick over (rolled back).
    async fn execute(
        &self,
        tick: DateTime<Utc>,
        attempt: i32,
    ) -> anyhow::Result<Option<J::Output>> {
        let mut tx = self.pool.begin().await?;
        let output = self.job.run(tick, &mut tx).await?;
        if !runs::finish(&mut tx, self.job.name(), tick, attempt).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(output))
    }

    /// Completes ticks before `now` that were started and never finished,
    /// once their lock is free (their runner died and its lease ran out),
    /// waiting up to `wait` for each. Ticks whose lock stays held are left
    /// to their holder.
    pub async fn sweep(
        &self,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> anyhow::Result<Vec<(DateTime<Utc>, Outcome)>> {
        let ticks = runs::unfinished(&self.pool, self.job.name(), now, 10).await?;
        let mut outcomes = Vec::with_capacity(ticks.len());
        for tick in ticks {
            outcomes.push((tick, self.run_waiting(tick, wait).await?));
        }
        Ok(outcomes)
    }
}
