//! The consumer process: `live-commerce experiment diy-queue-consumer`,
//! spawned by the experiment so that killing it is a real process death.
//!
//! It runs `--consumers` consumers of one variant (and, for the reliable
//! variant, a reaper), prints `ready` on stdout once started, and stops
//! gracefully when its stdin closes (the experiment drops its end): each
//! consumer finishes the job in its hands and takes no more. A `kill -9`
//! gives it no such chance, which is the point.

use std::time::Duration;

use mq_reliable::amqp::Broker;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::keys::Keys;
use super::ledger::Ledger;
use super::naive::NaiveConsumer;
use super::reaper::Reaper;
use super::reliable::ReliableConsumer;
use super::{Stop, Variant, connection, rabbit};
use crate::config::Config;

/// `live-commerce experiment diy-queue-consumer …` (spawned by `diy-queue`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumerArgs {
    /// Which queue to consume.
    #[arg(long, value_enum)]
    pub variant: Variant,
    /// The experiment run's id (names the keys and the queue).
    #[arg(long)]
    pub run: String,
    /// Consumer tasks in this process.
    #[arg(long, default_value_t = 8)]
    pub consumers: usize,
    /// How long each job holds its consumer, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub work_ms: u64,
    /// The reliable variant's heartbeat TTL, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub visibility_timeout_ms: u64,
}

impl ConsumerArgs {
    fn hold(&self) -> Duration {
        Duration::from_millis(self.work_ms)
    }

    fn visibility(&self) -> Duration {
        Duration::from_millis(self.visibility_timeout_ms)
    }
}

/// Runs the consumers until stdin closes.
pub async fn run(config: &Config, args: &ConsumerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.consumers > 0, "--consumers must be at least 1");
    let (stop_tx, stop) = watch::channel(false);
    // A plain thread, not the runtime's blocking pool: the runtime waits
    // for its blocking tasks at exit, and this read ends only with stdin.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stop_tx.send(true);
    });
    let redis = redis::Client::open(config.redis_url.as_str())?;
    let keys = super::keys_of(&args.run, args.variant);
    match args.variant {
        Variant::Naive => run_naive(&redis, keys, args, stop).await,
        Variant::Reliable => run_reliable(&redis, keys, args, stop).await,
        Variant::Rabbitmq => {
            let broker = Broker::connect(config.amqp_url.as_str()).await?;
            let queue = rabbit::queue_name(&args.run);
            let consumer = rabbit::consumer(&broker, &queue, args.consumers).await?;
            say_ready();
            rabbit::consume(&consumer, &redis, Ledger::new(&keys), args.hold(), stop).await
        }
    }
}

/// Tells the experiment the consumers run (stdout is line-buffered).
fn say_ready() {
    println!("ready");
}

async fn run_naive(
    redis: &redis::Client,
    keys: Keys,
    args: &ConsumerArgs,
    stop: Stop,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for _ in 0..args.consumers {
        let consumer = NaiveConsumer {
            keys: keys.clone(),
            ledger: Ledger::new(&keys),
            hold: args.hold(),
        };
        let (redis, stop) = (redis.clone(), stop.clone());
        tasks.spawn(async move { consumer.run(&redis, stop).await });
    }
    say_ready();
    join(tasks).await
}

async fn run_reliable(
    redis: &redis::Client,
    keys: Keys,
    args: &ConsumerArgs,
    stop: Stop,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for _ in 0..args.consumers {
        let consumer = ReliableConsumer::new(
            keys.clone(),
            Ledger::new(&keys),
            args.hold(),
            args.visibility(),
        );
        let (redis, stop) = (redis.clone(), stop.clone());
        tasks.spawn(async move { consumer.run(&redis, stop).await });
    }
    // Every consumer process reaps: whichever lives on recovers the others.
    let reaper = Reaper::new(keys);
    let mut conn = connection::connect(redis).await?;
    let every = args.visibility() / 4;
    tasks.spawn(async move {
        reaper.run(&mut conn, every, stop).await;
        Ok(0)
    });
    say_ready();
    join(tasks).await
}

/// Waits for every task; the first error (or panic) is the process's.
async fn join(mut tasks: JoinSet<anyhow::Result<u64>>) -> anyhow::Result<()> {
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}
