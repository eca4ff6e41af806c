//! The crate's error type. Each variant says what the caller can do about it.

use std::time::Duration;

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The AMQP client failed (connection refused or lost, channel closed by
    /// the broker). Usually transient: retry the operation. Consumers and
    /// publishers reconnect by themselves; this surfaces only where a caller
    /// must decide (the first connect, a publish whose retry window ran out).
    #[cfg(feature = "amqp")]
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    /// The Kafka client failed: a produce whose delivery timed out or was
    /// refused, a broker unreachable, a commit refused during a rebalance.
    /// [`Error::is_transient`] tells a configuration mistake (unknown topic,
    /// record too large, invalid setting) from trouble worth retrying.
    #[cfg(feature = "kafka")]
    #[error("Kafka error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The broker could not be reached within the time allowed. Retry later,
    /// or fail the request that needed it.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker did not confirm a publish within the confirm timeout. The
    /// message may or may not have been taken; publishing it again is safe
    /// when consumers deduplicate by message id (ours always set one).
    #[error("publish not confirmed within {0:?}")]
    ConfirmTimeout(Duration),
    /// The broker refused the message (a negative confirm, e.g. a queue at its
    /// length limit with `reject-publish`). Retry later.
    #[error("the broker refused the message (nack)")]
    Nacked,
    /// No queue is bound for this exchange and routing key: the message was
    /// returned, not stored. Fix the binding (or the routing key); retrying
    /// as is will fail again.
    #[error("unroutable: no queue bound to exchange `{exchange}` with routing key `{routing_key}`")]
    Unroutable {
        /// The exchange published to.
        exchange: String,
        /// The routing key used.
        routing_key: String,
    },
    /// The topology is unsafe or contradicts what exists on the broker (a
    /// missing dead-letter exchange, a queue redeclared with other arguments,
    /// a delivery limit that would drop messages, a handler timeout longer
    /// than the broker's consumer timeout). Fix the configuration; retrying
    /// does not help.
    #[error("unsafe or conflicting topology: {0}")]
    Topology(String),
    /// The builder was given an unusable value. Fix the call.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A payload could not be (de)serialized as JSON.
    #[error("payload (de)serialization failed: {0}")]
    Serde(#[from] serde_json::Error),
    /// The message has no id, so it cannot be deduplicated. Publish with
    /// [`amqp::Publisher`](crate::amqp::Publisher), which always sets one.
    #[error("the message has no id; it cannot be deduplicated")]
    MissingMessageId,
    /// The idempotency inbox's (or the outbox's) database failed. Retry the
    /// message (or the transaction).
    #[cfg(any(feature = "postgres", feature = "outbox"))]
    #[error("inbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The idempotency inbox's Redis failed. Retry the message.
    #[cfg(feature = "redis")]
    #[error("inbox redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Error {
    /// Whether trying the same operation again later can succeed (as opposed
    /// to a configuration or routing mistake that needs fixing).
    pub fn is_transient(&self) -> bool {
        match self {
            #[cfg(feature = "amqp")]
            Error::Amqp(_) => true,
            Error::Unavailable(_) | Error::ConfirmTimeout(_) | Error::Nacked => true,
            #[cfg(feature = "kafka")]
            Error::Kafka(error) => crate::kafka::is_transient(error),
            #[cfg(any(feature = "postgres", feature = "outbox"))]
            Error::Database(_) => true,
            #[cfg(feature = "redis")]
            Error::Redis(_) => true,
            Error::Unroutable { .. }
            | Error::Topology(_)
            | Error::Config(_)
            | Error::Serde(_)
            | Error::MissingMessageId => false,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
