//! The classic experiments of the original projects, each runnable with one
//! command (`live-commerce experiment <name>`), each printing its outcome as
//! a table and recording it in its docs page ([`page`]), or printing one
//! JSON object with `--json` so scripts can check it.
//!
//! | experiment | what it shows |
//! |---|---|
//! | `diy-queue` ([`diy_queue`]) | a Redis-list queue (`BRPOP`) loses the jobs in flight at a `kill -9`; `BLMOVE` + heartbeat + reaper loses none but duplicates; RabbitMQ with manual ack beside them |
//! | `async-vs-mq` ([`async_vs_mq`]) | a welcome mail sent by a spawned task (`@Async`) is lost at a `kill -9`; through RabbitMQ with manual ack it is sent after the restart, once |

pub mod async_vs_mq;
pub mod diy_queue;
pub mod page;

use clap::Subcommand;

use crate::config::Config;

/// `live-commerce experiment <name>`.
#[derive(Debug, Subcommand)]
pub enum Experiment {
    /// A job queue on a Redis list, naive and reliable, against RabbitMQ:
    /// consumers killed with `kill -9` mid-job, jobs lost and duplicated.
    DiyQueue(diy_queue::Options),
    /// The consumer process `diy-queue` spawns and kills (not for people).
    #[command(hide = true)]
    DiyQueueConsumer(diy_queue::consumer::ConsumerArgs),
    /// The welcome mail by `@Async` (a spawned task) against RabbitMQ with
    /// manual ack, through a `kill -9`: mails lost and duplicated.
    AsyncVsMq(async_vs_mq::AsyncVsMq),
}

impl Experiment {
    /// Runs the experiment and prints its outcome.
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        match self {
            Experiment::DiyQueue(options) => diy_queue::run(config, &options).await,
            Experiment::DiyQueueConsumer(args) => diy_queue::consumer::run(config, &args).await,
            Experiment::AsyncVsMq(options) => options.run(config).await,
        }
    }
}
