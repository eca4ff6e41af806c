//! Scheduled jobs that run once per tick across every instance (the
//! `scheduler` role; `all` runs it too).
//!
//! ## The problem
//!
//! A daily-statistics job must run at 00:05 every day. The service runs on
//! three instances for availability, so three schedulers fire at 00:05;
//! the job must run once, not three times, and not zero times when the
//! instance that started it dies halfway.
//!
//! ## The rule (ShedLock's, made exact)
//!
//! Java projects solve this with ShedLock: each instance fires; the first
//! to take a lock named after the job runs it; the lock is held *at least*
//! `lockAtLeastFor` (so an instance whose clock fires a little later finds
//! it taken) and *at most* `lockAtMostFor` (so a crashed holder does not
//! block the job forever). Here:
//!
//! - a **tick** is named by the schedule, not by a clock: every instance
//!   fires `daily-stats@2026-12-07T00:05:00Z` ([`ticks`]);
//! - a **lease** per tick (a redlock lock named after the tick) picks the one
//!   instance that runs it now; its watchdog keeps it while the runner
//!   lives, `max_hold` bounds it ("hold at most"), a dead runner loses it
//!   within one lease ([`once`]);
//! - a **record** per tick (`job_runs`) says whether the tick is done; the
//!   job's writes commit in the same transaction that marks it done, fenced
//!   by the attempt number ([`runs`]). "Hold at least" becomes "done is
//!   forever": a late instance finds the tick done whatever its clock says.
//!
//! ## A worked trace
//!
//! Three instances A, B, C; lease 10 s; the job takes 3 s.
//!
//! ```text
//! 00:05:00.000  A fires, locks daily-stats@00:05:00, claims it (attempt 1)
//! 00:05:00.004  B fires, waits for the lock
//! 00:05:00.350  C fires (its clock is late), waits for the lock
//! 00:05:01.500  A is killed (kill -9): its transaction rolls back, its
//!               lease stops being renewed
//! 00:05:10.000  the lease runs out; redlock wakes B: it locks, finds the
//!               tick claimed but not done, claims it (attempt 2), runs it
//! 00:05:13.020  B commits the figures and done, releases, puts the figures
//!               in the cache
//! 00:05:13.025  C locks, finds the tick done, releases: nothing to do
//! ```
//!
//! `job_runs` then holds one row for the tick: done, 2 attempts, runner B.
//! Without the kill, A commits at 00:05:03 and B and C each find it done.
//!
//! | file | concept |
//! |---|---|
//! | [`ticks`] | the cron loop: when each tick falls |
//! | [`once`] | the once-per-tick lease, the takeover |
//! | [`runs`] | the record of every tick (`job_runs`) |
//! | [`daily_stats`] | the job: sales per item per day, table and cache |
//! | [`api`] | `GET /api/stats/daily?day=` for admins |
//! | [`flags`] | `serve --stats-schedule …` and the lease flags |
//!
//! The loop is our own, over the `cron` crate's parser, rather than
//! `tokio-cron-scheduler`: the tick's scheduled time is the identity of a
//! run, and `cron` hands it over directly (`Schedule::after(&tick)`), while
//! a full scheduler crate hides it behind its own job store and
//! notifications and adds a second clock loop to reason about.

pub mod api;
pub mod daily_stats;
pub mod flags;
pub mod once;
pub mod runs;
pub mod ticks;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use daily_stats::DailyStats;
use once::{Job, OncePerTick, Outcome};

/// The daily-statistics job's default schedule: every day at 00:05:00 UTC.
pub const DEFAULT_STATS_SCHEDULE: &str = "0 5 0 * * *";

/// How the scheduler runs its jobs.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// When the daily-statistics job runs (cron with seconds).
    /// Default: [`DEFAULT_STATS_SCHEDULE`].
    pub stats_schedule: cron::Schedule,
    /// How long a tick's lock outlives a runner that stopped renewing it
    /// (crashed, paused): the takeover delay. Renewed every third of it.
    /// Default: 10 s.
    pub lease: Duration,
    /// The longest a run may hold its tick ("lock at most"): a run still
    /// going then is abandoned and another instance takes the tick over.
    /// Default: 30 min.
    pub lock_at_most: Duration,
    /// An artificial pause at the start of each statistics run (demos and
    /// tests). Default: none.
    pub stats_pause: Duration,
    /// This instance's name in `job_runs`. Default: `pid:random`.
    pub runner: String,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            stats_schedule: ticks::parse(DEFAULT_STATS_SCHEDULE).expect("a valid expression"),
            lease: Duration::from_secs(10),
            lock_at_most: Duration::from_secs(30 * 60),
            stats_pause: Duration::ZERO,
            runner: default_runner(),
        }
    }
}

/// `pid:random`: the process id (to find the process) and a random part
/// (several instances may share a process in tests).
pub fn default_runner() -> String {
    format!("{}:{:08x}", std::process::id(), rand::random::<u32>())
}

/// Starts the scheduler: the daily-statistics job on its schedule. The
/// task runs until aborted; aborting it aborts the runs in flight too (a
/// run cut off mid-job rolls back, and another instance takes its tick
/// over).
pub async fn start(
    settings: &SchedulerSettings,
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    redis_client: &redis::Client,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let locks = redlock::LockManager::builder(redis_client.clone())
        .prefix(once::LOCK_PREFIX)
        .lease(settings.lease)
        .max_hold(settings.lock_at_most)
        .build()
        .await?;
    let job = DailyStats {
        cache: daily_stats::cache(redis_client.clone()).await?,
        pause: settings.stats_pause,
    };
    let wait = settings.lock_at_most + settings.lease;
    let once = OncePerTick::new(
        job,
        locks,
        redis.clone(),
        pool.clone(),
        settings.runner.clone(),
        wait,
    );
    let schedule = settings.stats_schedule.clone();
    Ok(tokio::spawn(run_schedule(schedule, once, wait)))
}

/// Fires every tick of `schedule`: runs it (or waits to take it over), and
/// looks for older ticks a dead runner left unfinished. At start it waits
/// up to `wait` for each (a predecessor's lease may still be running out),
/// so a restarted fleet completes what it left; at a tick it only takes
/// those whose lock is already free.
async fn run_schedule<J: Job>(schedule: cron::Schedule, once: OncePerTick<J>, wait: Duration) {
    let mut ticks = ticks::Ticks::new(schedule);
    // Dropped with this loop: aborting the loop aborts every run in flight.
    let mut runs = tokio::task::JoinSet::new();
    runs.spawn(sweep(once.clone(), Utc::now(), wait));
    while let Some(tick) = ticks.next().await {
        while runs.try_join_next().is_some() {}
        let run = once.clone();
        runs.spawn(async move { report(tick, run.run(tick).await) });
        runs.spawn(sweep(once.clone(), tick, Duration::ZERO));
    }
}

/// Completes the unfinished ticks before `now` whose runner is gone.
async fn sweep<J: Job>(once: OncePerTick<J>, now: DateTime<Utc>, wait: Duration) {
    match once.sweep(now, wait).await {
        Ok(outcomes) => {
            for (tick, outcome) in outcomes {
                report(tick, Ok(outcome));
            }
        }
        Err(error) => tracing::warn!(%now, "looking for unfinished ticks failed: {error:#}"),
    }
}

fn report(tick: DateTime<Utc>, outcome: anyhow::Result<Outcome>) {
    match outcome {
        Ok(Outcome::Ran { attempt }) if attempt > 1 => {
            tracing::info!(%tick, attempt, "took over an unfinished tick and completed it");
        }
        Ok(outcome) => tracing::debug!(%tick, ?outcome, "tick"),
        Err(error) => tracing::warn!(%tick, "the tick's run failed: {error:#}"),
    }
}
