//! The two ways a failed record is tried again.
//!
//! Kafka cannot put one record back: a partition is a log, and a consumer
//! only moves its position. So a failure either holds the log or leaves it.
//!
//! - [`RetryMode::Ordered`] (the default) holds **only the failing key**: the
//!   record waits out its backoff at the head of its key's lane and is
//!   handled again in place; later records of the same key wait behind it,
//!   records of every other key go on. The partition's committed offset stays
//!   before the parked record, so a crash while it waits brings it back.
//!   Order per key is kept — what a chat room or an order's state machine
//!   needs. Spring Kafka's alternative here is a blocking seek-back that
//!   stalls the whole partition.
//! - [`RetryMode::Topics`] leaves the log: the record is copied to
//!   `<topic>.retry.<delay>ms` with the attempt count and the due time
//!   (`x-due-ms`) in its headers, and its offset completes. The consumer
//!   reads the retry topics too; a record not yet due pauses its retry
//!   partition (nothing more is fetched from it) until the time comes, then
//!   resumes it. Nothing waits in the main topic, but a key's later records
//!   can overtake its retried one — use it for records without an order.
//!
//! In both modes, once [`Backoff::attempts`](crate::Backoff::attempts) are
//! used up (or at once for [`Outcome::Reject`](crate::Outcome::Reject) and
//! payloads that do not deserialize) the record goes to the dead-letter topic
//! `<topic>.dlt` with the [envelope](crate::envelope) headers, and only then
//! does its offset complete.

use std::time::Duration;

/// How a consumer retries a failed record; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryMode {
    /// Park the failing key in place (others go on); order per key is kept.
    #[default]
    Ordered,
    /// Copy to a retry topic per delay and go on; order per key is not kept.
    Topics,
}

/// `<topic>.retry.<ms>ms`: the retry topic for `delay`.
pub fn retry_topic(topic: &str, delay: Duration) -> String {
    format!("{topic}.retry.{}ms", delay.as_millis())
}

/// `<topic>.dlt`: the default dead-letter topic.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            retry_topic("orders", Duration::from_secs(2)),
            "orders.retry.2000ms"
        );
        assert_eq!(dead_letter_topic("orders"), "orders.dlt");
    }
}
