//! The relay: publishes committed outbox rows, in order per key, and marks
//! them sent once the broker acknowledged them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use super::Outbox;
use crate::error::{Error, Result};

/// Where a relay publishes: RabbitMQ (destination = exchange, key = routing
/// key) or Kafka (destination = topic, key = record key), whichever of the
/// `amqp` and `kafka` features are on. Build it with `.into()` from a
/// publisher or a producer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Target {
    /// RabbitMQ through a [`Publisher`](crate::amqp::Publisher), each
    /// publish confirmed and `mandatory`.
    #[cfg(feature = "amqp")]
    RabbitMq(crate::amqp::Publisher),
    /// Kafka through a [`Producer`](crate::kafka::Producer), idempotent with
    /// `acks=all`.
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::Producer),
}

#[cfg(feature = "amqp")]
impl From<crate::amqp::Publisher> for Target {
    fn from(publisher: crate::amqp::Publisher) -> Self {
        Target::RabbitMq(publisher)
    }
}

#[cfg(feature = "kafka")]
impl From<crate::kafka::Producer> for Target {
    fn from(producer: crate::kafka::Producer) -> Self {
        Target::Kafka(producer)
    }
}

/// Builder for a [`Relay`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RelayBuilder {
    pool: PgPool,
    outbox: Outbox,
    target: Target,
    batch_size: i64,
    poll_interval: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
}

impl RelayBuilder {
    /// Rows taken per transaction (default 500).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.clamp(1, i64::MAX as usize) as i64;
        self
    }

    /// How long an idle relay waits before looking for new rows (default
    /// 200 ms). A relay that found a batch looks again at once.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Pause after a failed batch (broker or database down): `min`, doubling
    /// up to `max` (default 100 ms to 10 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }

    /// The relay (call [`Relay::run_until`] or [`Relay::run_once`]).
    pub fn build(self) -> Relay {
        Relay {
            inner: Arc::new(Inner {
                pool: self.pool,
                outbox: self.outbox,
                target: self.target,
                batch_size: self.batch_size,
                poll_interval: self.poll_interval,
                backoff_min: self.backoff_min,
                backoff_max: self.backoff_max,
                counters: RelayCounters::default(),
            }),
        }
    }
}

/// Publishes pending outbox rows. Run one or several per table (in one or
/// many processes); they share the rows without publishing one twice
/// (except after a crash, when the unsent batch is published again).
#[derive(Debug, Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    outbox: Outbox,
    target: Target,
    batch_size: i64,
    poll_interval: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    counters: RelayCounters,
}

#[derive(Debug, Default)]
struct RelayCounters {
    published: AtomicU64,
    batches: AtomicU64,
    failed_publishes: AtomicU64,
    failed_batches: AtomicU64,
}

/// A snapshot of a relay's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Rows published and marked sent.
    pub published: u64,
    /// Batches committed.
    pub batches: u64,
    /// Rows whose publish failed (left pending, tried again).
    pub failed_publishes: u64,
    /// Batches that failed (database or broker errors) and were rolled back
    /// or left rows pending; each is followed by a backoff pause.
    pub failed_batches: u64,
}

struct Row {
    seq: i64,
    id: uuid::Uuid,
    destination: String,
    key: String,
    payload: Vec<u8>,
}

impl Relay {
    /// A builder for a relay of `outbox` (in `pool`) to `target`.
    pub fn builder(pool: PgPool, outbox: Outbox, target: impl Into<Target>) -> RelayBuilder {
        RelayBuilder {
            pool,
            outbox,
            target: target.into(),
            batch_size: 500,
            poll_interval: Duration::from_millis(200),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }

    /// Counters since the relay was built.
    pub fn stats(&self) -> RelayStats {
        let c = &self.inner.counters;
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        RelayStats {
            published: read(&c.published),
            batches: read(&c.batches),
            failed_publishes: read(&c.failed_publishes),
            failed_batches: read(&c.failed_batches),
        }
    }

    /// Publishes until `signal` completes: batches back to back while rows
    /// are pending, a poll every `poll_interval` when idle, a growing pause
    /// after failures. The batch in progress when `signal` fires finishes.
    pub async fn run_until<S: Future + Send>(&self, signal: S) {
        let stop = CancellationToken::new();
        let watch = async {
            signal.await;
            stop.cancel();
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = self.run_loop(&stop) => {}
            _ = watch => {}
        }
    }

    async fn run_loop(&self, stop: &CancellationToken) {
        let inner = &self.inner;
        let mut failures: u32 = 0;
        while !stop.is_cancelled() {
            let pause = match self.run_once().await {
                Ok(n) if n > 0 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    inner.poll_interval
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let pause = inner
                        .backoff_min
                        .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
                        .min(inner.backoff_max);
                    tracing::warn!(%error, failures, pause_ms = pause.as_millis() as u64, "outbox relay batch failed; backing off");
                    pause
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes one batch; returns how many rows were published and marked
    /// sent. An error means nothing of the batch was lost: the failed rows
    /// are pending again (with `attempts` and `last_error` updated).
    pub async fn run_once(&self) -> Result<usize> {
        let inner = &self.inner;
        let mut tx = inner.pool.begin().await?;
        let rows = self.claim(&mut tx).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let rows = self.unblocked(&mut tx, rows).await?;
        let span = tracing::info_span!("mq.outbox.batch", table = %inner.outbox.table(), rows = rows.len());
        let results = tracing::Instrument::instrument(publish(&inner.target, &rows), span).await;
        let batch = BatchResult::of(&rows, results);
        self.mark(&mut tx, &batch).await?;
        tx.commit().await?;
        self.count(batch)
    }

    /// Claims up to a batch of pending rows, oldest first, skipping rows
    /// another relay holds (they stay locked until the transaction ends).
    async fn claim(&self, tx: &mut PgConnection) -> Result<Vec<Row>> {
        let inner = &self.inner;
        let rows: Vec<(i64, uuid::Uuid, String, String, Vec<u8>)> =
            sqlx::query_as(AssertSqlSafe(inner.outbox.statements().claim.clone()))
                .bind(inner.batch_size)
                .fetch_all(&mut *tx)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, id, destination, key, payload)| Row {
                seq,
                id,
                destination,
                key,
                payload,
            })
            .collect())
    }

    /// `rows` without those that must wait: an earlier pending row of a key
    /// that another relay holds blocks the key's later rows here, until the
    /// next batch.
    async fn unblocked(&self, tx: &mut PgConnection, rows: Vec<Row>) -> Result<Vec<Row>> {
        let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let blockers: Vec<(String, i64)> = sqlx::query_as(AssertSqlSafe(
            self.inner.outbox.statements().blockers.clone(),
        ))
        .bind(&keys)
        .bind(&seqs)
        .fetch_all(&mut *tx)
        .await?;
        let blockers: HashMap<String, i64> = blockers.into_iter().collect();
        Ok(rows
            .into_iter()
            .filter(|row| blockers.get(&row.key).is_none_or(|&first| row.seq < first))
            .collect())
    }

    /// Marks the published rows sent, and counts an attempt with the last
    /// error on the others.
    async fn mark(&self, tx: &mut PgConnection, batch: &BatchResult) -> Result<()> {
        let sql = self.inner.outbox.statements();
        sqlx::query(AssertSqlSafe(sql.mark_sent.clone()))
            .bind(&batch.sent)
            .execute(&mut *tx)
            .await?;
        if let Some(error) = &batch.last_error {
            sqlx::query(AssertSqlSafe(sql.mark_failed.clone()))
                .bind(&batch.failed)
                .bind(error.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Counts a committed batch; its result is the rows sent, or the last
    /// publish error when any row failed.
    fn count(&self, batch: BatchResult) -> Result<usize> {
        let counters = &self.inner.counters;
        counters
            .published
            .fetch_add(batch.sent.len() as u64, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        match batch.last_error {
            None => Ok(batch.sent.len()),
            Some(error) => {
                counters
                    .failed_publishes
                    .fetch_add(batch.failed.len() as u64, Ordering::Relaxed);
                counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
        }
    }
}

/// A published batch, row by row: the sequence numbers sent, those that
/// failed, and the last failure's error.
struct BatchResult {
    sent: Vec<i64>,
    failed: Vec<i64>,
    last_error: Option<Error>,
}

impl BatchResult {
    fn of(rows: &[Row], results: Vec<Result<()>>) -> Self {
        let mut batch = Self {
            sent: Vec::with_capacity(rows.len()),
            failed: Vec::new(),
            last_error: None,
        };
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => batch.sent.push(row.seq),
                Err(error) => {
                    batch.failed.push(row.seq);
                    batch.last_error = Some(error);
                }
            }
        }
        batch
    }
}

/// Publishes `rows`, in order per key; one result per row. After a key's
/// first failure its later rows are not attempted (they fail too), so a
/// key's published rows are always a prefix of its pending ones.
async fn publish(target: &Target, rows: &[Row]) -> Vec<Result<()>> {
    match target {
        #[cfg(feature = "amqp")]
        Target::RabbitMq(publisher) => publish_amqp(publisher, rows).await,
        #[cfg(feature = "kafka")]
        Target::Kafka(producer) => publish_kafka(producer, rows).await,
        #[allow(unreachable_patterns)]
        _ => rows
            .iter()
            .map(|_| {
                Err(Error::Config(
                    "no broker feature (amqp, kafka) enabled for the outbox".into(),
                ))
            })
            .collect(),
    }
}

/// Row indexes grouped by key, in order.
fn by_key(rows: &[Row]) -> Vec<Vec<usize>> {
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let group = groups.entry(row.key.as_str()).or_insert_with(|| {
            order.push(row.key.as_str());
            Vec::new()
        });
        group.push(index);
    }
    order
        .into_iter()
        .map(|key| groups.remove(key).unwrap_or_default())
        .collect()
}

#[cfg(feature = "amqp")]
async fn publish_amqp(publisher: &crate::amqp::Publisher, rows: &[Row]) -> Vec<Result<()>> {
    use lapin::BasicProperties;
    use lapin::types::FieldTable;

    let groups = by_key(rows);
    let lanes = groups.into_iter().map(|indexes| async move {
        let mut results = Vec::with_capacity(indexes.len());
        let mut broken: Option<String> = None;
        for &index in &indexes {
            let row = &rows[index];
            if let Some(reason) = &broken {
                results.push((
                    index,
                    Err(Error::Unavailable(format!(
                        "not attempted: an earlier row of key `{}` failed ({reason})",
                        row.key
                    ))),
                ));
                continue;
            }
            let properties = BasicProperties::default()
                .with_message_id(row.id.to_string().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_headers(FieldTable::default());
            let result = publisher
                .publish_raw(&row.destination, &row.key, &row.payload, properties)
                .await;
            if let Err(error) = &result {
                broken = Some(error.to_string());
            }
            results.push((index, result));
        }
        results
    });
    let mut ordered: Vec<Option<Result<()>>> = (0..rows.len()).map(|_| None).collect();
    for lane in futures::future::join_all(lanes).await {
        for (index, result) in lane {
            ordered[index] = Some(result);
        }
    }
    ordered
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Unavailable("not published".into()))))
        .collect()
}

#[cfg(feature = "kafka")]
async fn publish_kafka(producer: &crate::kafka::Producer, rows: &[Row]) -> Vec<Result<()>> {
    // Enqueued in seq order: the idempotent producer keeps that order within
    // each partition, so a key's rows reach the broker in order without
    // waiting for each acknowledgement.
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let headers = vec![(
            crate::envelope::MESSAGE_ID.to_string(),
            row.id.to_string().into_bytes(),
        )];
        pending.push(
            producer
                .enqueue(
                    &row.destination,
                    Some(row.key.as_bytes()),
                    &row.payload,
                    &headers,
                )
                .await,
        );
    }
    let deliveries = pending.into_iter().map(|enqueued| async move {
        match enqueued {
            Ok(delivery) => delivery.delivered().await.map(drop),
            Err(error) => Err(error),
        }
    });
    let mut results = futures::future::join_all(deliveries).await;
    // Keep each key's published rows a prefix: after a failure, later rows of
    // the key count as failed even if the broker took them (they are sent
    // again, the id makes the copy harmless).
    for indexes in by_key(rows) {
        let mut broken = false;
        for index in indexes {
            if broken && results[index].is_ok() {
                results[index] = Err(Error::Unavailable(format!(
                    "an earlier row of key `{}` failed",
                    rows[index].key
                )));
            }
            broken |= results[index].is_err();
        }
    }
    results
}
