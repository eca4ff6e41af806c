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

use std::borrow::Cow;
use std::fmt;
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

/// One failure of one message, as both brokers record it on the copy they
/// send to a retry or dead-letter destination: what failed, how many
/// attempts, the error's text, and when. It is the writing side of
/// [`Envelope`]; each adapter turns [`headers`](Self::headers) into its own
/// header type, so the names and the values are the same on both brokers.
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
#[derive(Debug, Clone)]
pub(crate) struct FailureRecord<'a> {
    /// The `x-attempt` the copy carries: the next attempt on a retry copy,
    /// the attempts made on a dead letter.
    pub(crate) attempt: u32,
    /// Exchange (Kafka: topic) of the original publish.
    pub(crate) original_exchange: &'a str,
    /// Routing key (Kafka: record key as text) of the original publish.
    pub(crate) original_routing_key: &'a str,
    /// Kafka: the partition and offset the record was first consumed from.
    pub(crate) original_position: Option<(i32, i64)>,
    pub(crate) kind: FailureKind,
    /// The error's full text; cut to [`MAX_ERROR_LEN`] when written.
    pub(crate) message: &'a str,
    /// Unix milliseconds of the first failure (this one, if it is the first).
    pub(crate) first_failure_ms: i64,
    /// Unix milliseconds of this failure.
    pub(crate) last_failure_ms: i64,
    pub(crate) consumer_id: &'a str,
    /// The queue (Kafka: topic) the message was consumed from.
    pub(crate) source_queue: &'a str,
}

/// A header value before a broker gives it its type: AMQP writes numbers
/// as long-long integers and text as long strings, Kafka writes both as
/// UTF-8 text ([`Display`](fmt::Display) gives that text).
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderValue<'a> {
    Text(Cow<'a, str>),
    Number(i64),
}

impl fmt::Display for HeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Text(text) => f.write_str(text),
            HeaderValue::Number(number) => write!(f, "{number}"),
        }
    }
}

#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
impl<'a> FailureRecord<'a> {
    /// The headers that record this failure, in the order they are written
    /// (Kafka keeps header order; the partition and offset only when known).
    pub(crate) fn headers(&self) -> Vec<(&'static str, HeaderValue<'a>)> {
        let text = |value: &'a str| HeaderValue::Text(Cow::Borrowed(value));
        let mut headers = vec![
            (ATTEMPT, HeaderValue::Number(i64::from(self.attempt))),
            (ORIGINAL_EXCHANGE, text(self.original_exchange)),
            (ORIGINAL_ROUTING_KEY, text(self.original_routing_key)),
        ];
        if let Some((partition, offset)) = self.original_position {
            headers.push((
                ORIGINAL_PARTITION,
                HeaderValue::Number(i64::from(partition)),
            ));
            headers.push((ORIGINAL_OFFSET, HeaderValue::Number(offset)));
        }
        headers.extend([
            (ERROR_KIND, text(self.kind.as_str())),
            (
                ERROR_MESSAGE,
                HeaderValue::Text(Cow::Owned(truncate_error(self.message))),
            ),
            (FIRST_FAILURE, HeaderValue::Number(self.first_failure_ms)),
            (LAST_FAILURE, HeaderValue::Number(self.last_failure_ms)),
            (CONSUMER_ID, text(self.consumer_id)),
            (SOURCE_QUEUE, text(self.source_queue)),
        ]);
        headers
    }
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
    fn failure_record_headers() {
        let long = "x".repeat(MAX_ERROR_LEN + 10);
        let mut record = FailureRecord {
            attempt: 3,
            original_exchange: "orders",
            original_routing_key: "order.created",
            original_position: None,
            kind: FailureKind::Timeout,
            message: &long,
            first_failure_ms: 1_000,
            last_failure_ms: 2_000,
            consumer_id: "c-1",
            source_queue: "q",
        };
        let names: Vec<&str> = record.headers().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                ATTEMPT,
                ORIGINAL_EXCHANGE,
                ORIGINAL_ROUTING_KEY,
                ERROR_KIND,
                ERROR_MESSAGE,
                FIRST_FAILURE,
                LAST_FAILURE,
                CONSUMER_ID,
                SOURCE_QUEUE
            ]
        );
        let headers = record.headers();
        assert_eq!(headers[0].1, HeaderValue::Number(3));
        assert_eq!(headers[3].1.to_string(), "timeout");
        assert_eq!(headers[4].1.to_string().len(), MAX_ERROR_LEN);
        record.original_position = Some((4, 99));
        let headers = record.headers();
        assert_eq!(headers[3], (ORIGINAL_PARTITION, HeaderValue::Number(4)));
        assert_eq!(headers[4], (ORIGINAL_OFFSET, HeaderValue::Number(99)));
    }

    #[test]
    fn truncates_on_char_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let cut = truncate_error(&long);
        assert!(cut.len() <= MAX_ERROR_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
