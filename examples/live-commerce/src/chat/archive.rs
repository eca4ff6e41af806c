//! The archive's two movers, run by the worker role: every chat message
//! into Kafka, and from Kafka into PostgreSQL.
//!
//! 1. chat-fanout's [`ArchiveRelay`] tails the rooms' Redis streams (the
//!    chat service publishes with a durable archive, so each publish marks
//!    its room as pending in the same script) and produces each message to
//!    the topic with the room as key: one room, one partition, in order.
//!    Its checkpoint moves only after Kafka acknowledged, so a relay killed
//!    at any point resumes without a gap.
//! 2. [`PgArchive`] consumes the topic into `chat_archive` (primary key
//!    `(room, epoch, offset)`, inserts that skip existing rows), committing
//!    Kafka offsets only after the rows: a message produced or consumed
//!    twice is one row.
//!
//! 3. The mention scanner ([`notifications::mentions`](crate::notifications::mentions))
//!    reads the same topic in its own group (`<topic>-mentions`) and
//!    records a notification for each `@<email>` in a live room.
//!
//! Each mover restarts after a failure (Kafka or PostgreSQL away), from
//! where its checkpoint or committed offset says.

use std::time::Duration;

use chat_fanout::archive::{ArchiveRelay, PgArchive};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Partitions of a new archive topic: rooms spread over them by key.
pub const PARTITIONS: i32 = 3;
/// The pause before a failed mover starts again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// A Kafka client configuration for `brokers`.
pub fn kafka_config(brokers: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// Creates `topic` unless it exists.
pub async fn ensure_topic(brokers: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka_config(brokers).create()?;
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating the Kafka topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Runs [`run`] in the background until the task is aborted; a failure
/// that ends it is logged.
pub fn spawn(
    redis: redis::Client,
    pool: PgPool,
    brokers: String,
    topic: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stop = CancellationToken::new();
        if let Err(error) = run(redis, pool, brokers, topic, stop).await {
            tracing::error!(error = format!("{error:#}"), "the chat archive stopped");
        }
    })
}

/// Runs the relay and the archiver until `stop`.
pub async fn run(
    redis: redis::Client,
    pool: PgPool,
    brokers: String,
    topic: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // Kafka may come up after the worker: wait for it rather than give up.
    while let Err(error) = ensure_topic(&brokers, &topic).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "the chat archive waits for Kafka"
        );
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(RESTART_AFTER * 5) => {}
        }
    }
    let relay = ArchiveRelay::builder(redis, kafka_config(&brokers), topic.clone())
        .build()
        .await?;
    let relaying = again_until(stop.clone(), "the chat archive relay", move |stop| {
        let relay = relay.clone();
        async move { relay.run(stop).await.map_err(anyhow::Error::from) }
    });
    let archive = PgArchive::new(pool.clone());
    let (archive_brokers, archive_topic) = (brokers.clone(), topic.clone());
    let archiving = again_until(stop.clone(), "the chat archiver", move |stop| {
        let (archive, brokers, topic) = (
            archive.clone(),
            archive_brokers.clone(),
            archive_topic.clone(),
        );
        async move {
            let mut consumer = kafka_config(&brokers);
            consumer.set("group.id", format!("{topic}-archiver"));
            archive.run(consumer, &topic, stop).await?;
            Ok(())
        }
    });
    let mentions = again_until(stop.clone(), "the chat mention scanner", move |stop| {
        let (pool, brokers, topic) = (pool.clone(), brokers.clone(), topic.clone());
        async move {
            let mut consumer = kafka_config(&brokers);
            consumer.set("group.id", format!("{topic}-mentions"));
            crate::notifications::mentions::run(&pool, consumer, &topic, stop).await
        }
    });
    tokio::join!(relaying, archiving, mentions);
    Ok(())
}

/// Runs `task` until `stop`, starting it again after each failure.
async fn again_until<F, Fut>(stop: CancellationToken, what: &str, task: F)
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    while !stop.is_cancelled() {
        if let Err(error) = task(stop.clone()).await {
            tracing::warn!(%error, "{what} failed; starting it again");
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(RESTART_AFTER) => {}
            }
        }
    }
}
