//! An idempotent producer that reports each record's fate.
//!
//! Settings that cannot be turned off: `enable.idempotence=true` (the broker
//! drops the duplicates librdkafka's own retries would create, and keeps
//! the order of a partition through them) and `acks=all` (a record counts
//! as written once every in-sync replica has it). Keys are hashed with
//! `murmur2_random`, the partitioner of the Java client, so a key lands on
//! the same partition whichever client produced it.
//!
//! [`Producer::send`] returns only when the broker acknowledged the record
//! (its partition and offset), or with the error that made librdkafka give up
//! within [`delivery_timeout`](ProducerBuilder::delivery_timeout). Every
//! record carries a message id in the `x-message-id` header (a UUID unless
//! the caller gives one), which consumers use to deduplicate.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use serde::Serialize;

use super::client::Kafka;
use super::headers;
use crate::envelope;
use crate::error::{Error, Result};

/// Builder for a [`Producer`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ProducerBuilder {
    kafka: Kafka,
    delivery_timeout: Duration,
    linger: Duration,
    settings: Vec<(String, String)>,
}

impl ProducerBuilder {
    pub(crate) fn new(kafka: Kafka) -> Self {
        Self {
            kafka,
            delivery_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(5),
            settings: Vec::new(),
        }
    }

    /// How long librdkafka keeps retrying a record before `send` fails
    /// (`delivery.timeout.ms`, default 30 s).
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// How long records wait to fill a batch (`linger.ms`, default 5 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Any other librdkafka producer setting (compression, batch size, …).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// Creates the producer. Fails with [`Error::Kafka`] for an invalid
    /// setting (fix it); the brokers are contacted lazily.
    pub fn build(self) -> Result<Producer> {
        let mut config = self.kafka.client_config();
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set(
                "delivery.timeout.ms",
                self.delivery_timeout.as_millis().max(1).to_string(),
            )
            .set("linger.ms", self.linger.as_millis().to_string());
        let inner: FutureProducer = config.create()?;
        Ok(Producer {
            inner,
            delivery_timeout: self.delivery_timeout,
        })
    }
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The partition (chosen from the key).
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// An idempotent, `acks=all` producer. Clone it freely (clones share one
/// librdkafka producer).
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    delivery_timeout: Duration,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("delivery_timeout", &self.delivery_timeout)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Produces `payload` as JSON to `topic` with `key` (which picks the
    /// partition) and a new message id; returns once the broker acknowledged it.
    pub async fn send<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        key: &str,
        payload: &T,
    ) -> Result<Delivery> {
        self.send_with_id(topic, key, payload, &uuid::Uuid::new_v4().to_string())
            .await
    }

    /// Like [`send`](Self::send) with a message id of the caller's choice
    /// (an outbox row id, so a re-sent row keeps its id).
    pub async fn send_with_id<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        key: &str,
        payload: &T,
        message_id: &str,
    ) -> Result<Delivery> {
        let body = serde_json::to_vec(payload)?;
        let headers = vec![(
            envelope::MESSAGE_ID.to_string(),
            message_id.as_bytes().to_vec(),
        )];
        self.send_raw(topic, Some(key.as_bytes()), &body, &headers)
            .await
    }

    /// Produces raw bytes with the given headers; returns once acknowledged.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<Delivery> {
        let pending = self.enqueue(topic, key, payload, headers).await?;
        pending.delivered().await
    }

    /// Hands a record to librdkafka's queue (waiting while the queue is
    /// full) without waiting for the broker. Records enqueued one after the
    /// other keep that order within a partition.
    pub(crate) async fn enqueue(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<PendingDelivery> {
        let owned = headers::to_owned_headers(headers);
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                .payload(payload)
                .headers(owned.clone());
            if let Some(key) = key {
                record = record.key(key);
            }
            match self.inner.send_result(record) {
                Ok(future) => return Ok(PendingDelivery { future }),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The local queue is full: give librdkafka time to send.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }

    /// Waits until every record handed over so far was delivered or failed.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush(Timeout::After(timeout)))
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))??;
        Ok(())
    }
}

/// A record in librdkafka's queue, not yet acknowledged.
pub(crate) struct PendingDelivery {
    future: DeliveryFuture,
}

impl PendingDelivery {
    /// The broker's answer.
    pub(crate) async fn delivered(self) -> Result<Delivery> {
        match self.future.await {
            Ok(Ok(delivery)) => Ok(Delivery {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((error, _message))) => Err(error.into()),
            Err(_canceled) => Err(Error::Unavailable(
                "the producer was dropped before the delivery report".into(),
            )),
        }
    }
}

/// Whether a Kafka error can go away by trying again.
pub(crate) fn is_transient(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as Code;
    let code = match error {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => return false,
        other => other.rdkafka_error_code(),
    };
    !matches!(
        code,
        Some(
            Code::UnknownTopicOrPartition
                | Code::UnknownTopic
                | Code::MessageSizeTooLarge
                | Code::InvalidMessageSize
                | Code::TopicAuthorizationFailed
                | Code::GroupAuthorizationFailed
                | Code::ClusterAuthorizationFailed
                | Code::InvalidConfig
                | Code::InvalidArgument
                | Code::InvalidTopic
                | Code::UnsupportedVersion
        )
    )
}
