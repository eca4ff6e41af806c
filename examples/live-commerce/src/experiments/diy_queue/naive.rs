//! The naive queue: `LPUSH` to enqueue, `BRPOP` to take, many consumers.
//!
//! ```text
//! producer ──LPUSH──► [ 9 8 7 6 5 ] ──BRPOP──► consumer (job only in its memory)
//!                      left    right
//! ```
//!
//! `BRPOP` removes the job from Redis in the same step that hands it over.
//! From then until the work is done the only copy lives in the consumer's
//! memory, so a crash in that window (`kill -9`, out of memory, a deploy
//! that does not wait) loses the job, and nothing in Redis says it ever
//! existed: no error, no retry, no trace. With N consumers each holding a
//! job, a crash loses up to N jobs at once. It never duplicates (a job
//! leaves the list exactly once), so it is at-most-once delivery.

use std::ops::Range;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use super::keys::Keys;
use super::ledger::Ledger;
use super::{Stop, connection, job};

/// Jobs pushed per `LPUSH` when enqueueing.
const BATCH: u64 = 1_000;

/// Enqueues jobs `jobs` (their ids as strings) with `LPUSH`, in order: the
/// first job is the first taken. The reliable variant enqueues the same way.
pub async fn push(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    jobs: Range<u64>,
) -> redis::RedisResult<()> {
    let queue = keys.queue();
    let mut next = jobs.start;
    while next < jobs.end {
        let end = (next + BATCH).min(jobs.end);
        let batch: Vec<String> = (next..end).map(|job| job.to_string()).collect();
        conn.lpush::<_, _, ()>(&queue, batch).await?;
        next = end;
    }
    Ok(())
}

/// One naive consumer: pops a job, does it, pops the next.
#[derive(Debug, Clone)]
pub struct NaiveConsumer {
    /// The queue's keys.
    pub keys: Keys,
    /// Where the work is recorded.
    pub ledger: Ledger,
    /// How long each job holds the consumer.
    pub hold: Duration,
}

impl NaiveConsumer {
    /// Consumes until `stop` turns true (checked between jobs, and at least
    /// every [`connection::BLOCK`] while the queue is empty); returns the
    /// jobs it completed. A pop is never cancelled half-way: that would lose
    /// the job Redis hands to an abandoned pop.
    pub async fn run(&self, client: &redis::Client, stop: Stop) -> anyhow::Result<u64> {
        let mut blocking = connection::blocking(client).await?;
        let mut conn = connection::connect(client).await?;
        let queue = self.keys.queue();
        let mut done = 0;
        while !*stop.borrow() {
            let popped: Option<(String, String)> = blocking
                .brpop(&queue, connection::BLOCK.as_secs_f64())
                .await?;
            let Some((_, job)) = popped else { continue };
            // From here until `process` returns, this task holds the only copy.
            job::process(&self.ledger, &mut conn, &job, self.hold).await?;
            done += 1;
        }
        Ok(done)
    }
}
