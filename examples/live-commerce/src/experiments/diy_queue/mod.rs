//! # A job queue on a Redis list, and where it stops being enough
//!
//! `live-commerce experiment diy-queue` enqueues the same jobs into three
//! queues, consumes each with a separate process that it kills with
//! `kill -9` mid-job, restarts the consumer, waits for the queue to drain,
//! and counts what was lost and what was done twice.
//!
//! | variant | take | acknowledge | after a consumer dies | delivery |
//! |---|---|---|---|---|
//! | [`naive`] | `BRPOP` (the job leaves Redis) | nothing to acknowledge | the jobs it held are gone | at most once: **loses** |
//! | [`reliable`] | `BLMOVE` into the consumer's processing list | `LREM` from that list | the [`reaper`] returns its list once its heartbeat expires | at least once: **duplicates** |
//! | [`rabbit`] (RabbitMQ, mq-reliable) | broker delivery | manual ack | the broker requeues its unacked messages when its connection drops | at least once: **duplicates** |
//!
//! ## The naive queue loses
//!
//! `LPUSH` + `BRPOP` is a queue in two commands, and it works until a
//! consumer dies holding a job: the pop removed it from Redis, the only
//! copy was in the dead process. Eight consumers each holding a job lose
//! up to eight jobs per crash, silently.
//!
//! ## The reliable queue duplicates
//!
//! `BLMOVE` never lets go of a job: it moves it atomically into the
//! consumer's own processing list, where it stays until the consumer's
//! `LREM` after the work. A consumer that dies leaves its list behind; its
//! heartbeat key (a TTL it keeps renewing) expires, and a reaper moves the
//! list back onto the queue. Nothing is lost, but a consumer killed after
//! the job's effect and before its `LREM` (or one that stalled past the
//! visibility timeout) has the job run again: effects must be idempotent.
//! Recovery waits for the visibility timeout, where RabbitMQ requeues the
//! moment the connection drops.
//!
//! ## What a list still does not give
//!
//! No dead letters (a job that crashes every consumer cycles forever), no
//! attempt count, no delay, no fan-out to several consumer groups, memory
//! as the only bound, and ordering lost on every requeue. The measured run
//! and the full analysis: `docs/diy-queue.md`.
//!
//! ## How the counting stays honest
//!
//! See [`ledger`]: consumers record each job's start and completion in
//! Redis (which is never killed), the completion before the
//! acknowledgement, counted per completion; lost and duplicated are read
//! against the producer's own job ids once nothing is pending.
//!
//! | file | concept |
//! |---|---|
//! | [`keys`] | the Redis keys of one queue |
//! | [`connection`] | connections that can block on a pop without losing it |
//! | [`job`] | a job: an id held for a moment of work |
//! | [`ledger`] | the record of starts and completions, and the tally |
//! | [`naive`] | `LPUSH` / `BRPOP` |
//! | [`reliable`] | `BLMOVE`, heartbeat, `LREM` ack |
//! | [`reaper`] | returns a dead consumer's jobs (`reap.lua`) |
//! | [`rabbit`] | the RabbitMQ comparison |
//! | [`consumer`] | the consumer process the experiment kills |
//! | [`process`] | that process seen from the experiment: spawn, kill -9, stop |
//! | [`runner`] | the experiment: enqueue, kill, restart, drain, count |
//! | [`report`] | the table and the JSON |

pub mod connection;
pub mod consumer;
pub mod job;
pub mod keys;
pub mod ledger;
pub mod naive;
pub mod process;
pub mod rabbit;
pub mod reaper;
pub mod reliable;
pub mod report;
pub mod runner;

pub use runner::{Options, run};

/// Tells consumers to stop taking jobs: they stop once it reads `true`.
pub type Stop = tokio::sync::watch::Receiver<bool>;

/// The queues compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// `LPUSH` / `BRPOP`.
    Naive,
    /// `BLMOVE` into a processing list, heartbeat, reaper, `LREM` ack.
    Reliable,
    /// RabbitMQ with manual ack (mq-reliable).
    Rabbitmq,
}

impl Variant {
    /// Every variant, in the order the experiment runs them.
    pub const ALL: [Variant; 3] = [Variant::Naive, Variant::Reliable, Variant::Rabbitmq];

    /// Its name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Naive => "naive",
            Variant::Reliable => "reliable",
            Variant::Rabbitmq => "rabbitmq",
        }
    }
}

/// The Redis keys of `variant` in run `run` (the RabbitMQ variant uses
/// only their ledger).
pub fn keys_of(run: &str, variant: Variant) -> keys::Keys {
    keys::Keys::new(&format!("{run}:{}", variant.name()))
}
