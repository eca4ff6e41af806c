//! The ledger: what consumers write down, so "lost" and "duplicated" can be
//! counted from outside the process that gets killed.
//!
//! # Where the record goes, and why there
//!
//! A consumer process cannot count its own losses: the kill that loses a
//! job also wipes the process's memory. So every consumer, of every
//! variant, writes to Redis (a server the experiment never kills):
//!
//! - `HINCRBY started <job> 1` when it begins a job, and
//! - `HINCRBY completed <job> 1` when the job's work is done, **before** it
//!   acknowledges the job to its queue. The record stands for the job's
//!   effect (a row written, a mail sent): a real consumer also makes its
//!   effect first and acknowledges after, and a kill between the two is
//!   exactly the window where at-least-once delivery duplicates.
//!
//! Counting with `HINCRBY` rather than `SADD` keeps a second completion of
//! the same job visible as a duplicate instead of folding it away. The
//! reference is the producer's own list of job ids `0..jobs`, not whatever
//! the queue says it holds, so a job the queue forgot still counts as lost.
//! The tally is taken only once the queue side has nothing pending and the
//! last consumer stopped gracefully (no job in its hands).
//!
//! Worked example: 10 jobs, a consumer holding job 7 is killed; job 7 was
//! started, never completed. Naive: job 7 is nowhere, `completed` ends
//! with 9 distinct jobs: 1 lost. Reliable: job 7 went back to the queue and
//! ran again: 10 distinct, 0 lost. Had the kill come after job 7's record
//! but before its acknowledgement, the rerun would make `completed[7] = 2`:
//! 1 duplicated.

use std::collections::{HashMap, HashSet};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::keys::Keys;

/// Writes and reads one queue's ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    started: String,
    completed: String,
}

impl Ledger {
    /// The ledger of the queue named by `keys`.
    pub fn new(keys: &Keys) -> Self {
        Self {
            started: keys.started(),
            completed: keys.completed(),
        }
    }

    /// Records that a consumer began `job`.
    pub async fn started(
        &self,
        conn: &mut MultiplexedConnection,
        job: &str,
    ) -> redis::RedisResult<()> {
        conn.hincr::<_, _, _, ()>(&self.started, job, 1).await
    }

    /// Records that `job`'s work is done (call before acknowledging it).
    pub async fn completed(
        &self,
        conn: &mut MultiplexedConnection,
        job: &str,
    ) -> redis::RedisResult<()> {
        conn.hincr::<_, _, _, ()>(&self.completed, job, 1).await
    }

    /// How many distinct jobs completed so far.
    pub async fn completed_jobs(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<u64> {
        conn.hlen(&self.completed).await
    }

    /// Distinct jobs (started, completed) so far, read in one step. While
    /// no job ran twice, their difference is the jobs in consumers' hands.
    pub async fn progress(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<(u64, u64)> {
        redis::pipe()
            .atomic()
            .hlen(&self.started)
            .hlen(&self.completed)
            .query_async(conn)
            .await
    }

    /// Jobs begun but never completed: the ones in a consumer's hands when
    /// it died (read right after a kill).
    pub async fn in_flight(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<u64> {
        let started: Vec<String> = conn.hkeys(&self.started).await?;
        let completed: HashSet<String> = conn.hkeys(&self.completed).await?;
        Ok(started
            .iter()
            .filter(|job| !completed.contains(*job))
            .count() as u64)
    }

    /// The final count against the producer's jobs `0..jobs`.
    pub async fn tally(
        &self,
        conn: &mut MultiplexedConnection,
        jobs: u64,
    ) -> anyhow::Result<Tally> {
        let counts: HashMap<String, u64> = conn.hgetall(&self.completed).await?;
        Tally::count(jobs, &counts)
    }
}

/// Lost and duplicated jobs, counted from the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Jobs the producer enqueued.
    pub jobs: u64,
    /// Distinct jobs that completed at least once.
    pub completed: u64,
    /// Jobs that never completed.
    pub lost: u64,
    /// Completions beyond the first (a job done 3 times counts 2).
    pub duplicated: u64,
}

impl Tally {
    /// Counts `completions` (job id -> times completed) against jobs
    /// `0..jobs`; a job id outside that range is an error, not a number.
    pub fn count(jobs: u64, completions: &HashMap<String, u64>) -> anyhow::Result<Self> {
        let mut completed = 0;
        let mut duplicated = 0;
        for (job, &times) in completions {
            let id: u64 = job
                .parse()
                .map_err(|_| anyhow::anyhow!("the ledger holds a job `{job}` nobody enqueued"))?;
            anyhow::ensure!(
                id < jobs,
                "the ledger holds job {id}, beyond the {jobs} enqueued"
            );
            if times > 0 {
                completed += 1;
                duplicated += times - 1;
            }
        }
        Ok(Self {
            jobs,
            completed,
            lost: jobs - completed,
            duplicated,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::Tally;

    fn completions(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(job, n)| (job.to_string(), *n)).collect()
    }

    #[test]
    fn a_missing_job_is_lost_and_a_second_completion_is_a_duplicate() {
        let tally = Tally::count(4, &completions(&[("0", 1), ("1", 2), ("3", 1)])).unwrap();
        assert_eq!(
            tally,
            Tally {
                jobs: 4,
                completed: 3,
                lost: 1,
                duplicated: 1
            }
        );
    }

    #[test]
    fn a_job_nobody_enqueued_is_an_error() {
        assert!(Tally::count(2, &completions(&[("5", 1)])).is_err());
        assert!(Tally::count(2, &completions(&[("x", 1)])).is_err());
    }
}
