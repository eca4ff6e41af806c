//! The reliable queue: `BLMOVE` into a per-consumer processing list, a
//! heartbeat per consumer, acknowledgement by `LREM`, and the
//! [`reaper`](super::reaper) for consumers that die.
//!
//! ```text
//! producer ──LPUSH──► queue ──BLMOVE RIGHT LEFT──► processing:<id> ──LREM (ack)──► done
//!                       ▲                                │
//!                       └──── reaper, once heartbeat:<id> expired
//! ```
//!
//! # The rules
//!
//! 1. **Take by moving.** `BLMOVE` pops from the queue and pushes onto the
//!    consumer's processing list in one atomic step: at every instant a job
//!    is in the queue or in exactly one processing list, never in neither.
//! 2. **Say you are alive.** Each consumer sets `heartbeat:<id>` with a TTL
//!    (the visibility timeout) and registers in the consumers set, both in
//!    one `MULTI`, before its first take and then every third of the TTL.
//!    Registering on every beat brings back a consumer the reaper had
//!    already given up on.
//! 3. **Acknowledge after the work.** `LREM processing:<id> 1 <job>` once
//!    the job's effect is made. `LREM` removing nothing means the reaper
//!    already gave the job back: it will run again.
//! 4. **Leave cleanly.** On a graceful stop the consumer deletes its
//!    heartbeat and reaps itself, returning anything it still holds.
//!
//! # Where it duplicates, and where it can still lose
//!
//! At least once: a consumer killed after the job's effect but before its
//! `LREM` leaves the job in its processing list, the reaper returns it, and
//! it runs again. So does a consumer that stalls past the visibility
//! timeout. Effects must be idempotent (an inbox keyed by the job id).
//!
//! It loses nothing to a consumer crash. It is still only as durable as
//! Redis: a failover to a replica that had not received the latest moves,
//! or a restart with `appendfsync everysec`, can drop jobs or resurrect
//! finished ones.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Direction};

use super::keys::Keys;
use super::ledger::Ledger;
use super::reaper::Reaper;
use super::{Stop, connection, job};

static PENDING: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("pending.lua")));

/// Jobs not yet acknowledged: in the queue or in any registered consumer's
/// processing list (one atomic read). Zero means drained.
pub async fn pending(conn: &mut MultiplexedConnection, keys: &Keys) -> redis::RedisResult<u64> {
    PENDING
        .key(keys.queue())
        .key(keys.consumers())
        .arg(keys.processing(""))
        .invoke_async(conn)
        .await
}

/// One reliable consumer: its id, processing list and heartbeat.
#[derive(Debug, Clone)]
pub struct ReliableConsumer {
    id: String,
    keys: Keys,
    ledger: Ledger,
    hold: Duration,
    visibility: Duration,
}

impl ReliableConsumer {
    /// A consumer with a fresh id, holding each job for `hold`, declared
    /// dead `visibility` after its last heartbeat.
    pub fn new(keys: Keys, ledger: Ledger, hold: Duration, visibility: Duration) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Self {
            id,
            keys,
            ledger,
            hold,
            visibility,
        }
    }

    /// Its id (names its processing list and heartbeat).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Renews the heartbeat for one visibility timeout and (re)registers.
    pub async fn beat(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let ttl_ms = self.visibility.as_millis().clamp(1, u64::MAX as u128) as u64;
        redis::pipe()
            .atomic()
            .pset_ex(self.keys.heartbeat(&self.id), 1, ttl_ms)
            .ignore()
            .sadd(self.keys.consumers(), &self.id)
            .ignore()
            .query_async(conn)
            .await
    }

    /// Moves the next job into this consumer's processing list, waiting up
    /// to [`connection::BLOCK`]; `None` when the queue stayed empty. Call
    /// [`beat`](Self::beat) first: an unregistered consumer's jobs would
    /// never be reaped.
    pub async fn claim(
        &self,
        blocking: &mut MultiplexedConnection,
    ) -> redis::RedisResult<Option<String>> {
        blocking
            .blmove(
                self.keys.queue(),
                self.keys.processing(&self.id),
                Direction::Right,
                Direction::Left,
                connection::BLOCK.as_secs_f64(),
            )
            .await
    }

    /// Acknowledges `job`: removes it from the processing list. `false`:
    /// it was not there any more (reaped while this consumer was too slow),
    /// so it will run again.
    pub async fn ack(
        &self,
        conn: &mut MultiplexedConnection,
        job: &str,
    ) -> redis::RedisResult<bool> {
        let removed: u64 = conn.lrem(self.keys.processing(&self.id), 1, job).await?;
        Ok(removed == 1)
    }

    /// Deregisters after a graceful stop: deletes the heartbeat and reaps
    /// itself, so anything still held goes back to the queue.
    pub async fn leave(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        conn.del::<_, ()>(self.keys.heartbeat(&self.id)).await?;
        Reaper::new(self.keys.clone())
            .reap_consumer(conn, &self.id)
            .await
            .map(|_| ())
    }

    /// Consumes until `stop` turns true, beating all along; returns the
    /// jobs it completed. Leaves cleanly when stopped; a consumer that dies
    /// instead is reaped once its heartbeat expires.
    pub async fn run(&self, client: &redis::Client, stop: Stop) -> anyhow::Result<u64> {
        let mut conn = connection::connect(client).await?;
        let mut blocking = connection::blocking(client).await?;
        self.beat(&mut conn).await?;
        let done = tokio::select! {
            done = self.work(&mut blocking, conn.clone(), &stop) => done?,
            never = self.keep_beating(conn.clone()) => match never {},
        };
        self.leave(&mut conn).await?;
        Ok(done)
    }

    async fn work(
        &self,
        blocking: &mut MultiplexedConnection,
        mut conn: MultiplexedConnection,
        stop: &Stop,
    ) -> anyhow::Result<u64> {
        let mut done = 0;
        while !*stop.borrow() {
            let Some(job) = self.claim(blocking).await? else {
                continue;
            };
            job::process(&self.ledger, &mut conn, &job, self.hold).await?;
            if !self.ack(&mut conn, &job).await? {
                tracing::warn!(consumer = %self.id, %job,
                    "job reaped before its ack (heartbeat lapsed): it will run again");
            }
            done += 1;
        }
        Ok(done)
    }

    async fn keep_beating(&self, mut conn: MultiplexedConnection) -> Infallible {
        loop {
            tokio::time::sleep(self.visibility / 3).await;
            if let Err(error) = self.beat(&mut conn).await {
                tracing::warn!(consumer = %self.id, %error, "heartbeat failed");
            }
        }
    }
}
