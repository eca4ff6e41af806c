//! A delivered message as a handler sees it, independent of the broker.

use std::collections::BTreeMap;

/// A message handed to a handler: the deserialized payload and what the
/// handler needs to process it safely at least once.
///
/// - [`id`](Self::id) is the message id the publisher set (our publisher
///   always sets one, a UUID). It stays the same across retries and
///   redeliveries, so it is the key for idempotency (see the `inbox` module).
/// - [`attempt`](Self::attempt) counts deliveries through the retry path:
///   1 on the first delivery, 2 after the first retry, …
/// - [`redelivered`](Self::redelivered) is the broker's flag: this delivery
///   may have been processed before (a consumer died or lost its connection
///   before its acknowledgement arrived).
#[derive(Debug, Clone)]
pub struct Message<T> {
    payload: T,
    id: Option<String>,
    correlation_id: Option<String>,
    attempt: u32,
    redelivered: bool,
    source: String,
    key: String,
    origin: String,
    position: Option<(i32, i64)>,
    headers: BTreeMap<String, String>,
}

impl<T> Message<T> {
    /// Builds a message. Broker adapters call this; tests of handlers can too.
    pub fn new(payload: T) -> Self {
        Self {
            payload,
            id: None,
            correlation_id: None,
            attempt: 1,
            redelivered: false,
            source: String::new(),
            key: String::new(),
            origin: String::new(),
            position: None,
            headers: BTreeMap::new(),
        }
    }

    /// Sets the message id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the attempt number (1-based).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt.max(1);
        self
    }

    /// Sets the broker's redelivery flag.
    pub fn with_redelivered(mut self, redelivered: bool) -> Self {
        self.redelivered = redelivered;
        self
    }

    /// Sets where the message was consumed from (queue or topic), the exchange
    /// (or partition) it was originally published to and its routing key.
    pub fn with_route(
        mut self,
        source: impl Into<String>,
        origin: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        self.source = source.into();
        self.origin = origin.into();
        self.key = key.into();
        self
    }

    /// Sets the Kafka partition and offset the record was consumed at.
    pub fn with_position(mut self, partition: i32, offset: i64) -> Self {
        self.position = Some((partition, offset));
        self
    }

    /// Adds a header (text values only).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The payload, by value.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// The correlation id the publisher set, if any (see
    /// [`PublishOptions::correlation_id`](crate::amqp::PublishOptions::correlation_id)).
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The message id set by the publisher, if it set one. Messages from
    /// [`amqp::Publisher`](crate::amqp::Publisher) always have one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Which attempt this is: 1 on the first delivery, `n + 1` after `n` failures.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// True when the broker says this message was delivered before without
    /// being acknowledged: its effect may already exist.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// The queue (or Kafka topic, a retry topic included) it was consumed from.
    pub fn queue(&self) -> &str {
        &self.source
    }

    /// The exchange the message was first published to (kept across retries);
    /// on Kafka, the topic it was first produced to.
    pub fn exchange(&self) -> &str {
        &self.origin
    }

    /// The routing key it was first published with (kept across retries); on
    /// Kafka, the record key as text (lossy UTF-8; empty for a null key).
    pub fn routing_key(&self) -> &str {
        &self.key
    }

    /// Kafka: the partition this record was consumed from (`None` on RabbitMQ).
    pub fn partition(&self) -> Option<i32> {
        self.position.map(|(partition, _)| partition)
    }

    /// Kafka: the offset of this record in its partition (`None` on RabbitMQ).
    pub fn offset(&self) -> Option<i64> {
        self.position.map(|(_, offset)| offset)
    }

    /// A text header set by the publisher.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Maps the payload, keeping everything else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Message<U> {
        Message {
            payload: f(self.payload),
            id: self.id,
            correlation_id: self.correlation_id,
            attempt: self.attempt,
            redelivered: self.redelivered,
            source: self.source,
            key: self.key,
            origin: self.origin,
            position: self.position,
            headers: self.headers,
        }
    }
}
