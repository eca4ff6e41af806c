//! The experiment: for each variant, enqueue the jobs, start a consumer
//! process, `kill -9` it mid-job, start another, wait until nothing is
//! pending, stop it gracefully, and count from the [`ledger`](super::ledger).
//!
//! ```text
//! enqueue 0..jobs ─► consumer #1 ─(kill_at completed, a job just begun)─► kill -9 ─► consumer #2 ─► pending = 0 ─► stop ─► tally
//!                    └── jobs/s measured here ──┘                 (again while the stop left some pending)
//! ```
//!
//! "Pending" is what the queue side still owes: the Redis variants count
//! the queue plus every registered processing list in one script; RabbitMQ
//! counts ready messages. A graceful stop can hand prefetched messages back
//! to RabbitMQ, so after each stop the experiment looks again and starts
//! another consumer while anything is pending.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mq_reliable::amqp::Broker;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use super::keys::Keys;
use super::ledger::Ledger;
use super::process::ConsumerProcess;
use super::report::{Outcome, Report};
use super::{Variant, connection, naive, rabbit, reliable};
use crate::config::Config;

/// How often the experiment looks at the ledger for the moment to kill
/// (often: a job in hand is held only `--work-ms`).
const POLL_KILL: Duration = Duration::from_millis(2);
/// How often it looks whether the queue drained.
const POLL_DRAIN: Duration = Duration::from_millis(20);

/// `live-commerce experiment diy-queue`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Jobs enqueued per variant.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: u64,
    /// Consumer tasks per consumer process.
    #[arg(long, default_value_t = 8)]
    pub consumers: usize,
    /// How long each job holds its consumer, in milliseconds (so that the
    /// kill finds jobs in the consumers' hands).
    #[arg(long, default_value_t = 5)]
    pub work_ms: u64,
    /// Kill the first consumer process once this many jobs completed
    /// (default: half the jobs).
    #[arg(long)]
    pub kill_at: Option<u64>,
    /// The reliable variant's heartbeat TTL: how long a dead consumer's
    /// jobs wait before the reaper returns them, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub visibility_timeout_ms: u64,
    /// How long each variant may take to drain, in seconds.
    #[arg(long, default_value_t = 300)]
    pub deadline_s: u64,
    /// Print one JSON object instead of the table (and write no page).
    #[arg(long)]
    pub json: bool,
    /// Where the docs page is written.
    #[command(flatten)]
    pub page: crate::experiments::page::PageOut,
}

impl Options {
    fn kill_at(&self) -> u64 {
        self.kill_at.unwrap_or(self.jobs / 2)
    }
}

/// Runs every variant and prints the outcome.
pub async fn run(config: &Config, options: &Options) -> anyhow::Result<()> {
    let report = measure(config, options, &std::env::current_exe()?).await?;
    if options.json {
        println!("{}", report.json());
    } else {
        let table = report.table();
        println!("{table}");
        options.page.record("diy-queue.md", &table)?;
    }
    Ok(())
}

/// Runs every variant with `exe` as the consumer process's program.
pub async fn measure(config: &Config, options: &Options, exe: &Path) -> anyhow::Result<Report> {
    anyhow::ensure!(options.jobs > 0, "--jobs must be at least 1");
    anyhow::ensure!(options.consumers > 0, "--consumers must be at least 1");
    anyhow::ensure!(
        options.kill_at() > 0 && options.kill_at() < options.jobs,
        "--kill-at must be between 1 and --jobs - 1"
    );
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut outcomes = Vec::new();
    for variant in Variant::ALL {
        let mut trial = Trial::prepare(config, options, exe, &run_id, variant).await?;
        let outcome = trial.measure().await;
        trial.clean_up().await;
        outcomes.push(outcome?);
    }
    Ok(Report {
        jobs: options.jobs,
        consumers: options.consumers,
        work_ms: options.work_ms,
        visibility_timeout_ms: options.visibility_timeout_ms,
        kill_at: options.kill_at(),
        total_s: started.elapsed().as_secs_f64(),
        outcomes,
    })
}

/// Where a variant's jobs wait.
enum Queue {
    Redis(Keys),
    Rabbit { broker: Broker, name: String },
}

/// One variant's run.
struct Trial<'a> {
    config: &'a Config,
    options: &'a Options,
    exe: &'a Path,
    run_id: &'a str,
    variant: Variant,
    redis: MultiplexedConnection,
    keys: Keys,
    ledger: Ledger,
    queue: Queue,
}

impl<'a> Trial<'a> {
    /// Connects and enqueues the jobs.
    async fn prepare(
        config: &'a Config,
        options: &'a Options,
        exe: &'a Path,
        run_id: &'a str,
        variant: Variant,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let mut redis = connection::connect(&client).await?;
        let keys = super::keys_of(run_id, variant);
        let queue = match variant {
            Variant::Naive | Variant::Reliable => {
                naive::push(&mut redis, &keys, 0..options.jobs).await?;
                Queue::Redis(keys.clone())
            }
            Variant::Rabbitmq => {
                let broker = Broker::connect(config.amqp_url.as_str()).await?;
                let name = rabbit::queue_name(run_id);
                rabbit::consumer(&broker, &name, options.consumers).await?;
                rabbit::publish(&broker, &name, 0..options.jobs).await?;
                Queue::Rabbit { broker, name }
            }
        };
        Ok(Self {
            config,
            options,
            exe,
            run_id,
            variant,
            redis,
            ledger: Ledger::new(&keys),
            keys,
            queue,
        })
    }

    /// Kill, restart, drain, count.
    async fn measure(&mut self) -> anyhow::Result<Outcome> {
        let deadline = Instant::now() + Duration::from_secs(self.options.deadline_s);
        let mut first = self.spawn().await?;
        let started = Instant::now();
        let kill_at = self.options.kill_at();
        // Kill once enough jobs completed *and* a job started since the last
        // look (at most a poll ago, so it still has most of its hold ahead).
        // Killing on the completion count alone strikes just after a
        // completion, when consumers working in lockstep (same start, same
        // hold) are all between two jobs or about to finish.
        let mut last_started = u64::MAX;
        let reached = self
            .wait(&mut first, deadline, POLL_KILL, async |trial: &mut Self| {
                let (started, completed) = trial.ledger.progress(&mut trial.redis).await?;
                let fresh_start = started > std::mem::replace(&mut last_started, started);
                // Once every job has begun no start can come: kill anyway.
                let last_ones = started >= trial.options.jobs;
                Ok(completed >= kill_at && (fresh_start && started > completed || last_ones))
            })
            .await?;
        anyhow::ensure!(
            reached,
            "{}: {kill_at} jobs did not complete in time",
            self.variant.name()
        );
        let before_kill = self.ledger.completed_jobs(&mut self.redis).await?;
        let jobs_per_s = before_kill as f64 / started.elapsed().as_secs_f64();
        first.kill9().await?;
        let in_flight_at_kill = self.ledger.in_flight(&mut self.redis).await?;
        let drained = self.drain(deadline).await?;
        let drain_s = started.elapsed().as_secs_f64();
        let tally = self
            .ledger
            .tally(&mut self.redis, self.options.jobs)
            .await?;
        Ok(Outcome {
            variant: self.variant,
            tally,
            in_flight_at_kill,
            jobs_per_s,
            drain_s,
            drained,
        })
    }

    /// Runs consumer processes until nothing is pending (`true`) or the
    /// deadline passes (`false`).
    async fn drain(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        loop {
            let mut consumer = self.spawn().await?;
            let empty = self
                .wait(
                    &mut consumer,
                    deadline,
                    POLL_DRAIN,
                    async |trial: &mut Self| Ok(trial.pending().await? == 0),
                )
                .await?;
            consumer.stop().await?;
            if self.pending().await? == 0 {
                return Ok(true);
            }
            if !empty || Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }

    /// Jobs the queue side still owes.
    async fn pending(&mut self) -> anyhow::Result<u64> {
        Ok(match &self.queue {
            Queue::Redis(keys) => reliable::pending(&mut self.redis, keys).await?,
            Queue::Rabbit { broker, name } => broker.ready_count(name).await?,
        })
    }

    /// Polls `done` `every` interval until it holds (`true`) or the deadline passes
    /// (`false`); fails if the consumer process exits on its own.
    async fn wait(
        &mut self,
        consumer: &mut ConsumerProcess,
        deadline: Instant,
        every: Duration,
        mut done: impl AsyncFnMut(&mut Self) -> anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        loop {
            if done(self).await? {
                return Ok(true);
            }
            consumer.check_running()?;
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn spawn(&self) -> anyhow::Result<ConsumerProcess> {
        ConsumerProcess::spawn(
            self.exe,
            self.config,
            self.options,
            self.run_id,
            self.variant,
        )
        .await
    }

    /// Deletes the run's keys (and queues); failures are only logged.
    async fn clean_up(&mut self) {
        let keys: Vec<String> = match self.redis.scan_match(self.keys.pattern()).await {
            Ok(iter) => {
                iter.filter_map(|key| async move { key.ok() })
                    .collect()
                    .await
            }
            Err(error) => {
                tracing::warn!(%error, "listing the run's keys failed");
                Vec::new()
            }
        };
        if !keys.is_empty()
            && let Err(error) = self.redis.del::<_, ()>(keys).await
        {
            tracing::warn!(%error, "deleting the run's keys failed");
        }
        if let Queue::Rabbit { broker, name } = &self.queue {
            broker.close().await;
            if let Err(error) = rabbit::delete(&self.config.amqp_url, name).await {
                tracing::warn!(%error, queue = %name, "deleting the run's queues failed");
            }
        }
    }
}
