//! The `serve` flags of the scheduler role.

use std::time::Duration;

use super::{DEFAULT_STATS_SCHEDULE, SchedulerSettings, default_runner, ticks};

/// How the scheduler runs its jobs (`serve --role scheduler|all`).
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerFlags {
    /// When the daily-statistics job runs: cron with seconds, in UTC
    /// (`sec min hour day month weekday`; `* * * * * *` is every second).
    #[arg(long, default_value = DEFAULT_STATS_SCHEDULE, value_parser = valid_schedule)]
    pub stats_schedule: String,
    /// How long a tick's lock outlives a scheduler that stopped renewing it
    /// (crashed, paused) before another takes the tick over (`10s`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub job_lease: Duration,
    /// The longest a run may hold its tick; a run still going then is
    /// abandoned and taken over (`30m`).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub job_lock_at_most: Duration,
    /// An artificial pause at the start of each statistics run, to watch a
    /// takeover (`3s`).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub stats_pause: Duration,
}

/// The expression itself, once it parses (a parsed schedule is large, and
/// clap keeps its values in the command's enum).
fn valid_schedule(expression: &str) -> Result<String, String> {
    ticks::parse(expression).map(|_| expression.to_string())
}

impl SchedulerFlags {
    /// The settings these flags give.
    pub fn settings(&self) -> SchedulerSettings {
        SchedulerSettings {
            stats_schedule: ticks::parse(&self.stats_schedule).expect("checked by clap"),
            lease: self.job_lease,
            lock_at_most: self.job_lock_at_most,
            stats_pause: self.stats_pause,
            runner: default_runner(),
        }
    }
}
