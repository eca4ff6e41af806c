//! The comparison: the same jobs through RabbitMQ, consumed with manual
//! acknowledgement by this workspace's `mq-reliable` (as the
//! [`worker`](crate::worker) consumes orders).
//!
//! The broker does what the reliable Redis variant builds by hand: a
//! delivered message stays on the broker, unacknowledged, until the
//! handler returns `Ok`; when the consumer's connection dies (a `kill -9`
//! closes its socket), every unacknowledged message goes back to the queue
//! at once, flagged `redelivered`. No heartbeat key, no reaper, no
//! visibility timeout to tune: the TCP connection is the heartbeat. Like
//! the reliable variant it is at least once: a message whose effect was
//! made but whose ack never left is delivered again.
//!
//! The queue is declared by mq-reliable with a retry queue and a
//! dead-letter queue (`<queue>.retry.100ms`, `<queue>.dlq`); the handler
//! only fails when Redis (the ledger) does.

use std::ops::Range;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use lapin::options::QueueDeleteOptions;
use mq_reliable::amqp::{Broker, Consumer};
use mq_reliable::{Backoff, Message, Outcome};

use super::ledger::Ledger;
use super::{Stop, connection, job};

/// Confirmed publishes in flight while enqueueing.
const PUBLISH_WINDOW: usize = 256;
/// The delay before a failed job's single retry queue sends it back.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// The RabbitMQ queue of run `run`.
pub fn queue_name(run: &str) -> String {
    format!("diy-queue.{run}")
}

/// Declares the queue (with its retry and dead-letter queues) and returns
/// a consumer of it with `consumers` handlers at once and as many
/// deliveries prefetched.
pub async fn consumer(
    broker: &Broker,
    queue: &str,
    consumers: usize,
) -> mq_reliable::Result<Consumer> {
    let prefetch = u16::try_from(consumers).unwrap_or(u16::MAX);
    broker
        .consumer(queue)
        .prefetch(prefetch)
        .concurrency(consumers)
        .retry(Backoff::fixed(RETRY_DELAY).max_attempts(5))
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .await
}

/// Publishes jobs `jobs` (their ids as JSON numbers), each confirmed by
/// the broker, 256 at a time.
pub async fn publish(broker: &Broker, queue: &str, jobs: Range<u64>) -> anyhow::Result<()> {
    let publisher = broker.publisher().build().await?;
    futures::stream::iter(jobs)
        .map(|job| {
            let publisher = publisher.clone();
            async move { publisher.publish("", queue, &job).await }
        })
        .buffer_unordered(PUBLISH_WINDOW)
        .try_collect::<()>()
        .await?;
    publisher.close().await;
    Ok(())
}

/// Runs `consumer` until `stop` turns true: each job is processed (start,
/// hold, completion recorded in `ledger`), then acknowledged.
pub async fn consume(
    consumer: &Consumer,
    redis: &redis::Client,
    ledger: Ledger,
    hold: Duration,
    mut stop: Stop,
) -> anyhow::Result<()> {
    let conn = connection::connect(redis).await?;
    let handler = move |message: Message<u64>| {
        let (ledger, mut conn) = (ledger.clone(), conn.clone());
        async move {
            let job = message.payload().to_string();
            job::process(&ledger, &mut conn, &job, hold)
                .await
                .map_err(Outcome::retry)
        }
    };
    consumer
        .run_until(handler, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await?;
    Ok(())
}

/// Deletes `queue` and the retry and dead-letter queues declared with it.
pub async fn delete(amqp_url: &str, queue: &str) -> anyhow::Result<()> {
    let connection =
        lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let retry = format!("{queue}.retry.{}ms", RETRY_DELAY.as_millis());
    let dead = format!("{queue}.dlq");
    for name in [queue, retry.as_str(), dead.as_str()] {
        channel
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await?;
    }
    let _ = connection.close(200, "deleted".into()).await;
    Ok(())
}
