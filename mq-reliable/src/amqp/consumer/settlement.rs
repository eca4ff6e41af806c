//! What becomes of a delivery once its attempt is over: success is
//! acknowledged; a failure is copied to the retry queue of its delay, or to
//! the dead-letter queue with the envelope, and acknowledged once the
//! broker confirmed the copy. The retry-or-dead-letter decision is
//! [`Backoff::retry_delay`]'s, the same as on Kafka.
//!
//! A copy the broker refuses leaves the delivery unacknowledged: it is
//! requeued, and comes back.
//!
//! [`Backoff::retry_delay`]: crate::Backoff

use std::time::{Duration, SystemTime};

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::FieldTable;

use super::Shared;
use super::dispatch::Origin;
use crate::amqp::headers;
use crate::amqp::wire::copy_properties;
use crate::attempt::Failure;
use crate::envelope::{self, FailureRecord};
use crate::error::Error;
use crate::stats::Counters;

/// Sends a failed delivery to its retry queue or the dead-letter queue, then acks it.
pub(super) async fn settle_failure(
    shared: &Shared,
    delivery: &Delivery,
    origin: &Origin,
    failure: Failure,
) {
    let counters = &shared.counters;
    if delivery.acker.poisoned() {
        // The channel died: the broker delivers the message again anyway, so
        // a copy now would only be a duplicate.
        Counters::bump(&counters.acks_lost);
        tracing::warn!(kind = %failure.kind, "channel closed before the failure could be recorded; the broker will deliver the message again");
        return;
    }
    let retry_delay = shared.retry.retry_delay(failure.kind, origin.attempt);
    let (destination, attempt_recorded) = match retry_delay {
        Some(delay) => (
            Some((String::new(), shared.topology.retry_queue(delay))),
            origin.attempt + 1,
        ),
        None => (shared.topology.dead_letter_route(), origin.attempt),
    };
    let Some((exchange, routing_key)) = destination else {
        tracing::error!(
            kind = %failure.kind,
            error = %failure.message,
            "no dead-letter queue configured: message discarded"
        );
        Counters::bump(&counters.dead_lettered);
        ack(shared, delivery).await;
        return;
    };
    let properties = failure_copy(shared, delivery, origin, attempt_recorded, &failure);
    match shared
        .publisher
        .publish_raw(&exchange, &routing_key, &delivery.data, properties)
        .await
    {
        Ok(()) => {
            match retry_delay {
                Some(delay) => {
                    Counters::bump(&counters.retried);
                    tracing::info!(kind = %failure.kind, error = %failure.message, delay_ms = delay.as_millis() as u64, "message will be retried");
                }
                None => {
                    Counters::bump(&counters.dead_lettered);
                    tracing::warn!(kind = %failure.kind, error = %failure.message, attempts = origin.attempt, dead_letter_queue = %routing_key, "message dead-lettered");
                }
            }
            ack(shared, delivery).await;
        }
        Err(error) => requeue(delivery, error).await,
    }
}

/// The copy could not be stored: the delivery is not acknowledged, and the
/// broker keeps it. Given back (after a pause, so a broker that refuses
/// copies is not hammered).
async fn requeue(delivery: &Delivery, error: Error) {
    tracing::error!(%error, "could not store the retry/dead-letter copy; message requeued");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = delivery
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

/// The properties of a retry copy or dead letter: the delivery's own, its
/// headers without the broker's `x-death` family, and the failure recorded
/// with `attempt` as its `x-attempt`.
fn failure_copy(
    shared: &Shared,
    delivery: &Delivery,
    origin: &Origin,
    attempt: u32,
    failure: &Failure,
) -> BasicProperties {
    let empty = FieldTable::default();
    let original = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let now = envelope::to_millis(SystemTime::now());
    let mut copy_headers = headers::without_bookkeeping(original, false);
    let record = FailureRecord {
        attempt,
        original_exchange: &origin.exchange,
        original_routing_key: &origin.routing_key,
        original_position: None,
        kind: failure.kind,
        message: &failure.message,
        first_failure_ms: headers::number(original, envelope::FIRST_FAILURE).unwrap_or(now),
        last_failure_ms: now,
        consumer_id: &shared.consumer_id,
        source_queue: &shared.topology.queue,
    };
    headers::record_failure(&mut copy_headers, &record);
    copy_properties(&delivery.properties).with_headers(copy_headers)
}

/// Acknowledges the delivery; counted as lost when the ack cannot reach
/// the broker (the broker then delivers the message again).
pub(super) async fn ack(shared: &Shared, delivery: &Delivery) {
    // Bounded like every other broker call: an ack stuck on a connection
    // that no longer answers would hold its concurrency slot forever.
    let acked = tokio::time::timeout(
        shared.broker.setup_timeout(),
        delivery.ack(BasicAckOptions::default()),
    )
    .await;
    match acked {
        Ok(Ok(true)) => Counters::bump(&shared.counters.acked),
        Ok(Ok(false)) | Ok(Err(_)) | Err(_) => {
            Counters::bump(&shared.counters.acks_lost);
            tracing::warn!(
                "ack could not be sent (channel closed or unresponsive); the broker will deliver the message again"
            );
        }
    }
}
