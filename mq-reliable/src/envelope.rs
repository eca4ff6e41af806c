//! The envelope a dead letter carries: why it failed, where it came from.
//!
//! Every message moved to a dead-letter queue (RabbitMQ) or dead-letter topic
//! (Kafka) carries these headers, so an operator (or
//! [`DeadLetters`](crate::amqp::DeadLetters)) can tell what happened and send
//! it back where it came from. The names are the same on both brokers; where
//! a broker has no such notion the header is left out. On RabbitMQ the values
//! are AMQP strings and integers; on Kafka every value is UTF-8 text
//! (numbers in decimal).
//!
//! | header | RabbitMQ | Kafka |
//! |---|---|---|
//! | `x-attempt` | attempts made (also carried while retrying) | same |
//! | `x-original-exchange` | exchange of the first publish (`""` = default exchange) | topic of the first produce |
//! | `x-original-routing-key` | routing key of the first publish | the record key (text) |
//! | `x-original-partition` | — | partition the record was first consumed from |
//! | `x-original-offset` | — | offset it had there |
//! | `x-error-kind` | [`FailureKind`] name: `retry`, `rejected`, `panic`, `timeout`, `deserialize`, `broker` | same |
//! | `x-error-message` | the last error's text (at most 4 KiB) | same |
//! | `x-first-failure-ms` | Unix time of the first failure, in milliseconds | same |
//! | `x-last-failure-ms` | Unix time of the last failure, in milliseconds | same |
//! | `x-consumer-id` | the consumer that gave up (see `ConsumerBuilder::consumer_id`) | same |
//! | `x-source-queue` | the queue it was consumed from | the topic it was consumed from (a retry topic, say) |
//! | `x-due-ms` | — | on a retry topic: Unix milliseconds before which the record is not handled |
//! | `x-message-id` | — (AMQP has a `message-id` property) | the message id, kept through retries and dead letters |
//!
//! Our own headers are used instead of RabbitMQ's `x-death`, which the broker
//! only writes when it dead-letters a message itself, and which RabbitMQ 4
//! ignores when a client sends it. Kafka has no dead-letter headers of its
//! own; Spring Kafka's `kafka_dlt-*` names are not used, so that one tool can
//! read the dead letters of both brokers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::outcome::FailureKind;

/// Header: attempts made so far (1 on the first delivery).
pub const ATTEMPT: &str = "x-attempt";
/// Header: exchange of the original publish.
pub const ORIGINAL_EXCHANGE: &str = "x-original-exchange";
/// Header: routing key of the original publish.
pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
/// Header (Kafka): partition the record was first consumed from.
pub const ORIGINAL_PARTITION: &str = "x-original-partition";
/// Header (Kafka): offset the record had in its original partition.
pub const ORIGINAL_OFFSET: &str = "x-original-offset";
/// Header (Kafka retry topics): Unix milliseconds when the retry is due.
pub const DUE: &str = "x-due-ms";
/// Header (Kafka): the message id (AMQP carries it as a message property).
pub const MESSAGE_ID: &str = "x-message-id";
/// Header: [`FailureKind`] of the last failure.
pub const ERROR_KIND: &str = "x-error-kind";
/// Header: text of the last error.
pub const ERROR_MESSAGE: &str = "x-error-message";
/// Header: Unix milliseconds of the first failure.
pub const FIRST_FAILURE: &str = "x-first-failure-ms";
/// Header: Unix milliseconds of the last failure.
pub const LAST_FAILURE: &str = "x-last-failure-ms";
/// Header: id of the consumer that dead-lettered the message.
pub const CONSUMER_ID: &str = "x-consumer-id";
/// Header: the queue the message was consumed from.
pub const SOURCE_QUEUE: &str = "x-source-queue";

/// Every header this crate writes; replay removes them (and the broker's
/// `x-death` family) so the message starts over.
pub const ALL: &[&str] = &[
    ATTEMPT,
    ORIGINAL_EXCHANGE,
    ORIGINAL_ROUTING_KEY,
    ERROR_KIND,
    ERROR_MESSAGE,
    FIRST_FAILURE,
    LAST_FAILURE,
    CONSUMER_ID,
    SOURCE_QUEUE,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    DUE,
];

/// Longest error message kept in a header, in bytes.
pub const MAX_ERROR_LEN: usize = 4096;

/// The reason and origin of a dead letter, read from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Exchange of the original publish (`""` is the default exchange);
    /// on Kafka, the topic of the original produce.
    pub original_exchange: String,
    /// Routing key of the original publish (Kafka: the record key).
    pub original_routing_key: String,
    /// Kafka: partition the record was first consumed from (`None` on RabbitMQ).
    pub original_partition: Option<i32>,
    /// Kafka: offset the record had in that partition (`None` on RabbitMQ).
    pub original_offset: Option<i64>,
    /// Attempts made before giving up.
    pub attempts: u32,
    /// The last failure's kind, when known.
    pub error_kind: Option<FailureKind>,
    /// The last failure's text.
    pub error_message: String,
    /// When the first attempt failed.
    pub first_failure: Option<SystemTime>,
    /// When the last attempt failed.
    pub last_failure: Option<SystemTime>,
    /// The consumer that dead-lettered it.
    pub consumer_id: String,
    /// The queue (Kafka: topic) it was consumed from.
    pub source_queue: String,
}

/// Unix milliseconds of `time`, as written in the failure-time headers.
pub fn to_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The time `millis` Unix milliseconds denote (the failure-time headers).
pub fn from_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

/// Cuts `text` to at most [`MAX_ERROR_LEN`] bytes on a character boundary,
/// as error messages are cut before they go into a header.
pub fn truncate_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_LEN {
        return text.to_string();
    }
    let mut end = MAX_ERROR_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let now = SystemTime::now();
        let back = from_millis(to_millis(now));
        assert!(now.duration_since(back).unwrap() < Duration::from_millis(1));
    }

    #[test]
    fn truncates_on_char_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let cut = truncate_error(&long);
        assert!(cut.len() <= MAX_ERROR_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
