//! The Kafka side of the archive.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::envelope::RawEnvelope;
use crate::error::{Error, Result};
use crate::stats::{Counters, bump};

/// Applies the archive's producer settings unless `config` sets them:
/// `enable.idempotence=true` (retries keep a room's order), `acks=all`,
/// `linger.ms=5`, `queue.buffering.max.messages=200000`.
pub(crate) fn safe_producer_config(config: &mut ClientConfig) {
    for (key, value) in [
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "5"),
        ("queue.buffering.max.messages", "200000"),
    ] {
        if config.get(key).is_none() {
            config.set(key, value);
        }
    }
}

/// Counts deliveries; the counters belong to the hub that owns the sink.
#[derive(Default)]
struct Deliveries {
    counters: std::sync::OnceLock<Arc<DeliveryCounters>>,
}

#[derive(Default)]
struct DeliveryCounters {
    archived: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        let counters = self.counters.get_or_init(Default::default);
        match result {
            Ok(_) => bump(&counters.archived),
            Err((error, _)) => {
                bump(&counters.errors);
                tracing::error!(%error, "a message could not be archived to Kafka");
            }
        }
    }
}

/// Produces every published message to a Kafka topic (see the
/// [module docs](crate::archive)).
#[derive(Clone)]
pub struct KafkaArchive {
    producer: Arc<ThreadedProducer<Deliveries>>,
    topic: String,
}

impl std::fmt::Debug for KafkaArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaArchive")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaArchive {
    /// A sink producing to `topic` with `config` (at least
    /// `bootstrap.servers`). Safe settings are applied unless `config` sets
    /// them: `enable.idempotence=true` (retries keep a room's order),
    /// `acks=all`, `linger.ms=5`, `queue.buffering.max.messages=200000`.
    pub fn new(mut config: ClientConfig, topic: impl Into<String>) -> Result<Self> {
        safe_producer_config(&mut config);
        let producer: ThreadedProducer<Deliveries> = config
            .create_with_context(Deliveries::default())
            .map_err(|error| Error::Archive(format!("creating the Kafka producer: {error}")))?;
        Ok(Self {
            producer: Arc::new(producer),
            topic: topic.into(),
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn deliveries(&self) -> &Arc<DeliveryCounters> {
        self.producer
            .context()
            .counters
            .get_or_init(Default::default)
    }

    /// Enqueues one message (waiting while the producer's queue is full).
    pub(crate) async fn send(
        &self,
        room: &str,
        offset: u64,
        epoch: &str,
        payload: &[u8],
        counters: &Counters,
    ) {
        let frame = RawEnvelope::frame(offset, epoch, payload);
        let mut record = BaseRecord::to(&self.topic).key(room).payload(&frame);
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((error, _)) => {
                    bump(&counters.archive_errors);
                    tracing::error!(room, offset, %error, "a message could not be handed to Kafka");
                    return;
                }
            }
        }
    }

    /// Waits for every enqueued message to be acknowledged.
    pub(crate) async fn flush(&self, timeout: Duration) -> Result<()> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|error| Error::Archive(error.to_string()))?
            .map_err(|error| Error::Archive(format!("flushing the Kafka producer: {error}")))
    }

    /// Messages acknowledged by Kafka and failed so far.
    pub fn delivered(&self) -> (u64, u64) {
        let counters = self.deliveries();
        let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        (read(&counters.archived), read(&counters.errors))
    }
}
