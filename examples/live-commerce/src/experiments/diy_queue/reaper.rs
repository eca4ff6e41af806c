//! The reaper: returns the jobs of consumers that died to the queue.
//!
//! # The rule
//!
//! A consumer is alive while its heartbeat key exists. The key's TTL is the
//! **visibility timeout**: a consumer that stops renewing it (killed,
//! frozen, cut off from Redis) is dead once it expires, and every job in its
//! processing list goes back to the queue's head, to be taken by another
//! consumer. A consumer whose heartbeat exists is never touched, however
//! long its jobs take.
//!
//! # A pass, worked through
//!
//! ```text
//! consumers = {a, b}     heartbeat:a (ttl 1.2 s)    heartbeat:b (expired)
//! processing:a = [7]     processing:b = [9 8]       queue = [12 11 10]
//!
//! reap(a): heartbeat exists            -> -1, nothing moves
//! reap(b): no heartbeat -> LMOVE 9, 8  -> queue = [12 11 10 9 8], b unregistered
//!                                         (8 is taken first, then 9, 10, …)
//! ```
//!
//! Each consumer is reaped by one script (`reap.lua`), so the check and the
//! move are one atomic step: a heartbeat renewed at the last moment is seen,
//! and several reapers (one per consumer process here) can run at once: the
//! second finds the list already empty.
//!
//! # What it cannot fix
//!
//! - A consumer that was only slow (a GC-like pause, a stalled network)
//!   past the timeout loses its jobs to another consumer and then finishes
//!   them too: a duplicate. Its acknowledgement finds nothing to remove
//!   ([`ReliableConsumer::ack`](super::reliable::ReliableConsumer::ack)
//!   returns `false`), which is how it learns. The timeout trades recovery
//!   speed against such duplicates.
//! - A job that crashes every consumer comes back forever: there is no
//!   attempt count and no dead-letter list unless you build them.
//! - A returned job goes to the head of the queue, but jobs enqueued after
//!   it were taken and finished while it sat in a dead consumer's list:
//!   ordering is lost on every requeue.

use std::sync::LazyLock;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use super::Stop;
use super::keys::Keys;

static REAP: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("reap.lua")));

/// What reaping returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reaped {
    /// Dead consumers unregistered.
    pub consumers: u64,
    /// Jobs returned to the queue.
    pub jobs: u64,
}

impl Reaped {
    fn add(&mut self, other: Reaped) {
        self.consumers += other.consumers;
        self.jobs += other.jobs;
    }
}

/// Returns dead consumers' jobs to one queue.
#[derive(Debug, Clone)]
pub struct Reaper {
    keys: Keys,
}

impl Reaper {
    /// The reaper of the queue named by `keys`.
    pub fn new(keys: Keys) -> Self {
        Self { keys }
    }

    /// Reaps consumer `id` if its heartbeat is gone: `None` when it is
    /// alive (nothing touched), else the jobs returned to the queue.
    pub async fn reap_consumer(
        &self,
        conn: &mut MultiplexedConnection,
        id: &str,
    ) -> redis::RedisResult<Option<u64>> {
        let moved: i64 = REAP
            .key(self.keys.heartbeat(id))
            .key(self.keys.processing(id))
            .key(self.keys.queue())
            .key(self.keys.consumers())
            .arg(id)
            .invoke_async(conn)
            .await?;
        Ok(u64::try_from(moved).ok())
    }

    /// One pass over every registered consumer.
    pub async fn reap(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<Reaped> {
        let ids: Vec<String> = conn.smembers(self.keys.consumers()).await?;
        let mut reaped = Reaped::default();
        for id in ids {
            if let Some(jobs) = self.reap_consumer(conn, &id).await? {
                tracing::info!(consumer = %id, jobs, "reaped a dead consumer");
                reaped.add(Reaped { consumers: 1, jobs });
            }
        }
        Ok(reaped)
    }

    /// Passes `every` interval until `stop` turns true; a failed pass is
    /// logged and retried at the next interval. Returns the total reaped.
    pub async fn run(
        &self,
        conn: &mut MultiplexedConnection,
        every: Duration,
        mut stop: Stop,
    ) -> Reaped {
        let mut total = Reaped::default();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => return total,
                _ = ticks.tick() => {}
            }
            match self.reap(conn).await {
                Ok(reaped) => total.add(reaped),
                Err(error) => tracing::warn!(%error, "a reaper pass failed; retrying"),
            }
        }
    }
}
