//! The Kafka consumer: a consumer group, offsets committed only behind
//! completed work, per-key order with concurrency across keys, retry, a
//! dead-letter topic, and rebalances that never commit unfinished work.
//!
//! # What happens to a record
//!
//! 1. It is read from its partition's queue (the topic's partitions, and in
//!    [`RetryMode::Topics`] its retry topics'), its offset is recorded as
//!    pending for its partition, and it waits for an in-flight slot
//!    ([`max_in_flight`](ConsumerBuilder::max_in_flight) bounds the records
//!    held in memory).
//! 2. It joins the lane of its key ([`key_order`](super::key_order)): same
//!    key, one after the other; different keys, up to
//!    [`concurrency`](ConsumerBuilder::concurrency) handlers at once.
//! 3. The handler runs in its own task (a panic or the handler timeout is a
//!    retryable failure, as on RabbitMQ).
//! 4. `Ok(())` completes the offset. A failure is retried ([`RetryMode`]) or
//!    dead-lettered; the offset completes only once the retry copy or the
//!    dead letter is acknowledged by the broker.
//! 5. Every [`commit_interval`](ConsumerBuilder::commit_interval) the
//!    consumer commits, per partition, the first offset not completed
//!    ([`offsets`](super::offsets)): never past unfinished work.
//!
//! # Reading
//!
//! librdkafka delivers the group's events (rebalances, commit results) on
//! the consumer's main queue, and only to a caller that polls it. If records
//! came through that queue too, a consumer with every slot taken would stop
//! polling, and a rebalance would wait for its handlers to finish — while
//! every other member of the group waits too (an eager rebalance stops the
//! whole group), and past the session timeout the broker drops the member.
//! So each partition known at start-up gets its own queue
//! ([`split_partition_queue`](rdkafka::consumer::StreamConsumer::split_partition_queue))
//! and reader task, which holds at most one record while it waits for a
//! slot; the main queue is polled all the time and serves the group at once.
//! Records of partitions added to the topic after start-up arrive on the
//! main queue and do wait for a slot there; restart the consumer after
//! adding partitions.
//!
//! # Rebalance
//!
//! When the group takes partitions away, the consumer commits what is
//! completed for them (synchronously, before the partitions move), then
//! abandons the rest: records queued in their lanes never start, parked
//! retries stop waiting, and handlers still running finish but their
//! completions are ignored. The new owner starts from the committed offset
//! and handles those records again — at least once, so pair the handler with
//! an [inbox](crate::inbox) for effects that must happen once.
//!
//! # Shutdown
//!
//! [`ShutdownHandle::shutdown`] (or the signal of
//! [`run_until`](Consumer::run_until)) stops reading; no new handler
//! starts; running handlers finish within
//! [`shutdown_timeout`](ConsumerBuilder::shutdown_timeout); the completed
//! offsets are committed; the consumer leaves the group.

mod builder;
mod commits;
mod dispatch;
mod group;
mod intake;
mod settlement;

pub use builder::ConsumerBuilder;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::commits::Committer;
use self::dispatch::Dispatcher;
use self::group::{Context, GroupConsumer};
use self::intake::{Intake, Work};
use super::offsets::OffsetTracker;
use super::producer::Producer;
use super::retry::RetryMode;
use crate::attempt::HandlerFn;
use crate::backoff::Backoff;
use crate::error::Result;
use crate::message::Message;
use crate::outcome::Outcome;
use crate::shutdown::{self, ShutdownHandle};
use crate::stats::{ConsumerStats, Counters, StatsHandle};

/// A built consumer. [`run`](Self::run) it with a handler.
pub struct Consumer {
    shared: Arc<Shared>,
    consumer: Arc<GroupConsumer>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("topic", &self.shared.topic)
            .field("consumer_id", &self.shared.consumer_id)
            .finish_non_exhaustive()
    }
}

/// What every part of a running consumer reads: the settings it was built
/// with, the producer for retry copies and dead letters, the counters, and
/// the offset tracker that decides what may be committed.
struct Shared {
    topic: String,
    retry_topics: Vec<String>,
    /// Every subscribed topic (the topic, then its retry topics) with its
    /// partition count at build time.
    partitions: Vec<(String, i32)>,
    dead_letter_topic: Option<String>,
    producer: Producer,
    retry: Backoff,
    mode: RetryMode,
    concurrency: usize,
    max_in_flight: usize,
    handler_timeout: Duration,
    shutdown_timeout: Duration,
    commit_interval: Duration,
    consumer_id: String,
    counters: Arc<Counters>,
    tracker: Arc<Mutex<OffsetTracker>>,
    /// Bumped on every revoke, so that parked retries notice it.
    revoked: watch::Sender<u64>,
}

impl Shared {
    /// Whether the record's partition is still assigned under the epoch it
    /// was read in (a revoke makes every record read before it stale).
    fn is_current(&self, work: &Work) -> bool {
        self.tracker
            .lock()
            .expect("offset tracker lock")
            .is_current(&work.partition, work.epoch)
    }

    /// The record's offset may be committed now.
    fn complete(&self, work: &Work) {
        let current = self.tracker.lock().expect("offset tracker lock").completed(
            &work.partition,
            work.epoch,
            work.offset,
        );
        if !current {
            Counters::bump(&self.counters.acks_lost);
        }
    }
}

impl Consumer {
    /// Counters since the consumer was built (see [`ConsumerStats`] for what
    /// each means on Kafka).
    pub fn stats(&self) -> ConsumerStats {
        self.shared.counters.snapshot()
    }

    /// The same counters as [`stats`](Self::stats), through a handle that
    /// does not borrow the consumer (for a metrics endpoint while `run`
    /// holds it elsewhere).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle::new(self.shared.counters.clone())
    }

    /// A handle that stops [`run`](Self::run) gracefully. A consumer that was
    /// shut down stays stopped.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.stop.clone())
    }

    /// The id written in dead-letter envelopes (also the `client.id`).
    pub fn consumer_id(&self) -> &str {
        &self.shared.consumer_id
    }

    /// The partitions the group assigned to this consumer right now, as
    /// `(topic, partition)` sorted (empty before the first assignment and
    /// while a rebalance has revoked everything). Retry-topic partitions are
    /// included in [`RetryMode::Topics`].
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.shared
            .tracker
            .lock()
            .expect("offset tracker lock")
            .assigned()
    }

    /// The consumed topic.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The retry topics read besides the topic ([`RetryMode::Topics`] only).
    pub fn retry_topics(&self) -> &[String] {
        &self.shared.retry_topics
    }

    /// The dead-letter topic, if any.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.shared.dead_letter_topic.as_deref()
    }

    /// Consumes until [`ShutdownHandle::shutdown`] is called. Each record's
    /// payload is deserialized from JSON into `T` and passed to `handler`.
    pub async fn run<T, F, Fut>(&self, handler: F) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
    {
        self.run_until(handler, std::future::pending::<()>()).await
    }

    /// Like [`run`](Self::run), and also shuts down gracefully when `signal`
    /// completes (for example [`crate::shutdown_signal()`]).
    pub async fn run_until<T, F, Fut, S>(&self, handler: F, signal: S) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
        S: Future + Send,
    {
        crate::signal::stop_on(&self.stop, self.consume::<T, F>(Arc::new(handler)), signal).await
    }

    /// One run: reads every partition until the stop, then lets running
    /// handlers finish, commits what they completed and leaves the group.
    async fn consume<T, H>(&self, handler: Arc<H>) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        H: HandlerFn<T>,
    {
        let shared = &self.shared;
        // Every known partition gets its own queue before the first fetch,
        // so that a partition waiting for an in-flight slot never stops the
        // main queue, which serves the group (see "Reading" above).
        let queues = self.split_partition_queues();
        let subscription: Vec<&str> = shared.partitions.iter().map(|(t, _)| t.as_str()).collect();
        self.consumer.subscribe(&subscription)?;

        let tasks = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        let dispatcher = Dispatcher::new(
            shared.clone(),
            handler,
            tasks.clone(),
            self.stop.clone(),
            hard_stop.clone(),
        );
        let intake = Intake::new(dispatcher, self.consumer.clone(), self.stop.clone());
        let committer = Committer::start(
            self.consumer.clone(),
            shared.tracker.clone(),
            shared.commit_interval,
        );
        intake.read_all(queues).await;
        drop(intake);
        shutdown::drain(&tasks, shared.shutdown_timeout, &hard_stop, |running| {
            tracing::warn!(topic = %shared.topic, running, "shutdown deadline passed; unfinished records will be handled again");
        })
        .await;
        committer.finish().await;
        Ok(())
    }

    /// A queue of its own for every partition of every subscribed topic
    /// known at build time.
    fn split_partition_queues(&self) -> Vec<StreamPartitionQueue<Context>> {
        let mut queues = Vec::new();
        for (topic, partitions) in &self.shared.partitions {
            for partition in 0..*partitions {
                if let Some(queue) = self.consumer.split_partition_queue(topic, partition) {
                    queues.push(queue);
                }
            }
        }
        queues
    }
}
