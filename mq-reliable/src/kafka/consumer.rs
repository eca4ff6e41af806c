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

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::client::Kafka;
use super::headers::{self, HeaderList};
use super::key_order::{KeyLanes, LaneKey};
use super::offsets::{OffsetTracker, TopicPartition};
use super::producer::Producer;
use super::retry::{self, RetryMode};
use super::topics;
use crate::attempt::{self, Failure};
use crate::backoff::Backoff;
use crate::envelope;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::outcome::{FailureKind, Outcome};
use crate::shutdown::ShutdownHandle;
use crate::stats::{ConsumerStats, Counters, StatsHandle};

/// Builder for a [`Consumer`]; every setting has a production-safe default.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ConsumerBuilder {
    kafka: Kafka,
    topic: String,
    group: String,
    concurrency: usize,
    max_in_flight: usize,
    retry: Backoff,
    mode: RetryMode,
    dead_letter_topic: Option<String>,
    handler_timeout: Duration,
    shutdown_timeout: Duration,
    commit_interval: Duration,
    create_partitions: Option<i32>,
    replication: i32,
    consumer_id: Option<String>,
    settings: Vec<(String, String)>,
}

impl ConsumerBuilder {
    pub(crate) fn new(kafka: Kafka, topic: String, group: String) -> Self {
        let dead_letter_topic = Some(retry::dead_letter_topic(&topic));
        Self {
            kafka,
            topic,
            group,
            concurrency: 16,
            max_in_flight: 1_000,
            retry: Backoff::default(),
            mode: RetryMode::default(),
            dead_letter_topic,
            handler_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            commit_interval: Duration::from_millis(500),
            create_partitions: None,
            replication: 1,
            consumer_id: None,
            settings: Vec::new(),
        }
    }

    /// Handlers running at once, over all keys (default 16). Records of one
    /// key never run at the same time whatever this is.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Records read and not yet completed, over all partitions (default
    /// 1,000): the memory bound. When it is reached the consumer stops
    /// reading until records complete — for example while one key is parked
    /// in [`RetryMode::Ordered`] and its partition's records pile up behind it.
    pub fn max_in_flight(mut self, records: usize) -> Self {
        self.max_in_flight = records.max(1);
        self
    }

    /// Retry schedule (default: 1 s doubling, 5 attempts).
    pub fn retry(mut self, backoff: Backoff) -> Self {
        self.retry = backoff;
        self
    }

    /// How failures are retried (default [`RetryMode::Ordered`]: the failing
    /// key waits, others go on). See [`retry`](super::retry).
    pub fn retry_mode(mut self, mode: RetryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Name of the dead-letter topic (default `<topic>.dlt`).
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// No dead-letter topic: records that exhaust their attempts, are
    /// rejected or do not deserialize are logged and **skipped**.
    pub fn without_dead_letter_topic(mut self) -> Self {
        self.dead_letter_topic = None;
        self
    }

    /// Longest a handler may run (default 60 s); past it the attempt counts
    /// as a retryable failure and the handler's task is aborted.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for running handlers (default
    /// 30 s). Their records are not committed if they do not finish.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How often completed offsets are committed (default 500 ms). Shorter
    /// means fewer records handled again after a crash; each commit is one
    /// request to the group coordinator. Revokes and shutdown always commit.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Create the consumed topic with `partitions` partitions if it does not
    /// exist. Without this, `build()` refuses a missing topic.
    pub fn create_topic(mut self, partitions: i32) -> Self {
        self.create_partitions = Some(partitions.max(1));
        self
    }

    /// Replication factor of the topics `build()` creates (default 1; use 3
    /// on a production cluster).
    pub fn replication_factor(mut self, replication: i32) -> Self {
        self.replication = replication.max(1);
        self
    }

    /// The id written in dead-letter envelopes and used as `client.id`
    /// (default `<group>-<pid>-<random>`).
    pub fn consumer_id(mut self, id: impl Into<String>) -> Self {
        self.consumer_id = Some(id.into());
        self
    }

    /// Any other librdkafka consumer setting (`session.timeout.ms`,
    /// `auto.offset.reset`, …). Offsets stay manual whatever is set here.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// Verifies (or creates) the topics, creates the producer for retry
    /// copies and dead letters, and returns the consumer (call
    /// [`Consumer::run`]). The group is joined when it runs.
    ///
    /// Refused with [`Error::Topology`] when the consumed topic does not
    /// exist (and [`create_topic`](Self::create_topic) was not called) or a
    /// retry or dead-letter topic can neither be found nor created.
    pub async fn build(self) -> Result<Consumer> {
        if self.topic.is_empty() || self.group.is_empty() {
            return Err(Error::Config(
                "the topic and the group must not be empty".into(),
            ));
        }
        let admin_config = self.kafka.client_config();
        let partitions = match topics::partitions(&admin_config, &self.topic).await? {
            Some(partitions) => partitions,
            None => match self.create_partitions {
                Some(partitions) => {
                    topics::ensure(
                        &admin_config,
                        std::slice::from_ref(&self.topic),
                        partitions,
                        self.replication,
                    )
                    .await?;
                    partitions
                }
                None => {
                    return Err(Error::Topology(format!(
                        "topic `{}` does not exist: create it, or call .create_topic(partitions)",
                        self.topic
                    )));
                }
            },
        };
        let retry_topics: Vec<String> = match self.mode {
            RetryMode::Topics => self
                .retry
                .distinct_delays()
                .into_iter()
                .map(|delay| retry::retry_topic(&self.topic, delay))
                .collect(),
            RetryMode::Ordered => Vec::new(),
        };
        let mut needed = retry_topics.clone();
        needed.extend(self.dead_letter_topic.iter().cloned());
        topics::ensure(&admin_config, &needed, partitions, self.replication).await?;
        let mut subscribed = vec![(self.topic.clone(), partitions)];
        for topic in &retry_topics {
            let count = topics::partitions(&admin_config, topic).await?;
            subscribed.push((topic.clone(), count.unwrap_or(partitions)));
        }

        let producer = self.kafka.producer().build()?;
        let consumer_id = self.consumer_id.unwrap_or_else(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("{}-{}-{}", self.group, std::process::id(), &random[..8])
        });
        let tracker = Arc::new(Mutex::new(OffsetTracker::default()));
        let counters = Arc::new(Counters::default());
        let (revoked, _) = watch::channel(0u64);
        let context = Context {
            tracker: tracker.clone(),
            counters: counters.clone(),
            revoked: revoked.clone(),
        };
        let mut config = self.kafka.client_config();
        config.set("auto.offset.reset", "earliest");
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
            .set("group.id", &self.group)
            .set("client.id", &consumer_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        let consumer: StreamConsumer<Context> = config.create_with_context(context)?;
        Ok(Consumer {
            shared: Arc::new(Shared {
                topic: self.topic,
                retry_topics,
                partitions: subscribed,
                dead_letter_topic: self.dead_letter_topic,
                producer,
                retry: self.retry,
                mode: self.mode,
                concurrency: self.concurrency,
                max_in_flight: self.max_in_flight,
                handler_timeout: self.handler_timeout,
                shutdown_timeout: self.shutdown_timeout,
                commit_interval: self.commit_interval,
                consumer_id,
                counters,
                tracker,
                revoked,
            }),
            consumer: Arc::new(consumer),
            stop: CancellationToken::new(),
        })
    }
}

/// librdkafka's callbacks: rebalances and commit results.
struct Context {
    tracker: Arc<Mutex<OffsetTracker>>,
    counters: Arc<Counters>,
    revoked: watch::Sender<u64>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                let mut commit = TopicPartitionList::new();
                let mut tracker = self.tracker.lock().expect("offset tracker lock");
                for element in list.elements() {
                    let partition = (element.topic().to_string(), element.partition());
                    if let Some(position) = tracker.revoke(&partition) {
                        let _ = commit.add_partition_offset(
                            element.topic(),
                            element.partition(),
                            Offset::Offset(position),
                        );
                    }
                }
                let abandoned = tracker.pending();
                drop(tracker);
                self.revoked.send_modify(|generation| *generation += 1);
                if commit.count() > 0
                    && let Err(error) = consumer.commit(&commit, CommitMode::Sync)
                {
                    tracing::warn!(%error, "commit on partition revoke failed; the new owner handles those records again");
                }
                tracing::info!(
                    partitions = list.count(),
                    still_pending_elsewhere = abandoned,
                    "partitions revoked: completed offsets committed, unfinished records abandoned"
                );
            }
            Rebalance::Assign(list) => {
                let mut tracker = self.tracker.lock().expect("offset tracker lock");
                for element in list.elements() {
                    tracker.assign((element.topic().to_string(), element.partition()));
                }
                Counters::bump(&self.counters.connects);
                tracing::info!(partitions = list.count(), "partitions assigned");
            }
            Rebalance::Error(error) => {
                tracing::warn!(%error, "rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, "offset commit failed; it will be tried again");
            let mut tracker = self.tracker.lock().expect("offset tracker lock");
            for element in offsets.elements() {
                tracker.forget_committed(&(element.topic().to_string(), element.partition()));
            }
        }
    }
}

/// A built consumer. [`run`](Self::run) it with a handler.
pub struct Consumer {
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<Context>>,
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
    revoked: watch::Sender<u64>,
}

impl Shared {
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

/// One record on its way through the consumer.
struct Work {
    partition: TopicPartition,
    offset: i64,
    epoch: u64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: HeaderList,
    _in_flight: OwnedSemaphorePermit,
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
        crate::signal::stop_on(&self.stop, self.consume(Arc::new(handler)), signal).await
    }

    async fn consume<T, F, Fut>(&self, handler: Arc<F>) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
    {
        let shared = &self.shared;
        // Every known partition gets its own queue before the first fetch,
        // so that a partition waiting for an in-flight slot never stops the
        // main queue, which serves the group (see "Reading" above).
        let mut queues = Vec::new();
        for (topic, partitions) in &shared.partitions {
            for partition in 0..*partitions {
                if let Some(queue) = self.consumer.split_partition_queue(topic, partition) {
                    queues.push(queue);
                }
            }
        }
        let subscription: Vec<&str> = shared.partitions.iter().map(|(t, _)| t.as_str()).collect();
        self.consumer.subscribe(&subscription)?;

        let tasks = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        let dispatcher = Arc::new(Dispatcher {
            _payload: std::marker::PhantomData,
            shared: shared.clone(),
            handler,
            lanes: KeyLanes::new(),
            tasks: tasks.clone(),
            running: Arc::new(Semaphore::new(shared.concurrency)),
            stop: self.stop.clone(),
            hard_stop: hard_stop.clone(),
        });
        let intake = Arc::new(Intake {
            dispatcher,
            consumer: self.consumer.clone(),
            in_flight: Arc::new(Semaphore::new(shared.max_in_flight)),
            gates: Mutex::new(HashMap::new()),
            stop: self.stop.clone(),
        });
        let commit_stop = CancellationToken::new();
        let committer = tokio::spawn(commit_loop(
            self.consumer.clone(),
            shared.tracker.clone(),
            shared.commit_interval,
            commit_stop.clone(),
        ));
        let readers = TaskTracker::new();
        for queue in queues {
            let intake = intake.clone();
            readers.spawn(async move { intake.read(queue.stream()).await });
        }
        readers.close();
        // The main queue: rebalances, commit results and errors, plus the
        // records of partitions that did not exist at start-up.
        intake.read(self.consumer.stream()).await;
        readers.wait().await;
        intake.gates.lock().expect("gates lock").clear();
        drop(intake);
        tasks.close();
        if tokio::time::timeout(shared.shutdown_timeout, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(topic = %shared.topic, running = tasks.len(), "shutdown deadline passed; unfinished records will be handled again");
            hard_stop.cancel();
            tasks.wait().await;
        }
        commit_stop.cancel();
        let _ = committer.await;
        let consumer = self.consumer.clone();
        let tracker = shared.tracker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            commit_now(&consumer, &tracker, CommitMode::Sync);
            consumer.unsubscribe();
        })
        .await;
        Ok(())
    }
}

/// A record copied out of librdkafka's buffer, not yet holding a slot.
struct Received {
    partition: TopicPartition,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: HeaderList,
}

impl Received {
    fn from(record: &rdkafka::message::BorrowedMessage<'_>) -> Self {
        Self {
            partition: (record.topic().to_string(), record.partition()),
            offset: record.offset(),
            key: record.key().map(<[u8]>::to_vec),
            payload: record.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: headers::collect(rdkafka::Message::headers(record)),
        }
    }
}

/// Where records read from any queue enter the consumer: each takes an
/// in-flight slot, then goes to its key's lane (or, from a retry topic, to
/// its partition's due gate).
struct Intake<T, H> {
    dispatcher: Arc<Dispatcher<T, H>>,
    consumer: Arc<StreamConsumer<Context>>,
    in_flight: Arc<Semaphore>,
    gates: Mutex<HashMap<TopicPartition, mpsc::UnboundedSender<Work>>>,
    stop: CancellationToken,
}

impl<T, H> Intake<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    /// Takes one record in: waits for a slot (or the stop) and hands it on.
    async fn take(&self, record: Received) {
        let shared = &self.dispatcher.shared;
        Counters::bump(&shared.counters.consumed);
        // The epoch is taken on arrival, before the wait for a slot: a
        // revoke during the wait makes this record stale, so it is dropped
        // instead of being handled under a later assignment.
        let epoch = shared
            .tracker
            .lock()
            .expect("offset tracker lock")
            .received(&record.partition, record.offset);
        let Some(epoch) = epoch else {
            // Fetched before its partition was revoked: not ours any more.
            return;
        };
        let permit = tokio::select! {
            _ = self.stop.cancelled() => return,
            permit = self.in_flight.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let work = Work {
            partition: record.partition,
            offset: record.offset,
            epoch,
            key: record.key,
            payload: record.payload,
            headers: record.headers,
            _in_flight: permit,
        };
        if shared.retry_topics.contains(&work.partition.0) {
            let mut gates = self.gates.lock().expect("gates lock");
            let gate = gates.entry(work.partition.clone()).or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                self.dispatcher.tasks.spawn(due_gate(
                    receiver,
                    self.dispatcher.clone(),
                    self.consumer.clone(),
                    work.partition.clone(),
                    self.stop.clone(),
                ));
                sender
            });
            let _ = gate.send(work);
        } else {
            self.dispatcher.dispatch(work);
        }
    }

    /// Takes in the records of one queue (a partition's, or the main one)
    /// until the consumer stops.
    async fn read(&self, mut queue: rdkafka::consumer::MessageStream<'_, Context>) {
        loop {
            let next = tokio::select! {
                _ = self.stop.cancelled() => return,
                next = queue.next() => next,
            };
            match next {
                Some(Ok(record)) => {
                    // Copied out, so librdkafka's buffer is not held while
                    // the record waits for a slot.
                    let received = Received::from(&record);
                    drop(record);
                    self.take(received).await;
                }
                Some(Err(error)) => {
                    let topic = &self.dispatcher.shared.topic;
                    tracing::warn!(%topic, %error, "consumer error (librdkafka retries by itself)");
                }
                None => return,
            }
        }
    }
}

/// Commits the safe positions every `interval`.
async fn commit_loop(
    consumer: Arc<StreamConsumer<Context>>,
    tracker: Arc<Mutex<OffsetTracker>>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        commit_now(&consumer, &tracker, CommitMode::Async);
    }
}

fn commit_now(
    consumer: &StreamConsumer<Context>,
    tracker: &Mutex<OffsetTracker>,
    mode: CommitMode,
) {
    // Held across the commit so that a revoke cannot slip in between.
    let mut tracker = tracker.lock().expect("offset tracker lock");
    let positions = tracker.to_commit();
    if positions.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), position) in &positions {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*position));
    }
    match consumer.commit(&list, mode) {
        Ok(()) => tracker.mark_committed(&positions),
        Err(error) => tracing::warn!(%error, "offset commit failed; it will be tried again"),
    }
}

/// Holds the records of one retry-topic partition until they are due,
/// pausing the partition meanwhile (nothing more is fetched from it).
async fn due_gate<T, H>(
    mut receiver: mpsc::UnboundedReceiver<Work>,
    dispatcher: Arc<Dispatcher<T, H>>,
    consumer: Arc<StreamConsumer<Context>>,
    partition: TopicPartition,
    stop: CancellationToken,
) where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    let mut list = TopicPartitionList::new();
    list.add_partition(&partition.0, partition.1);
    let mut paused = false;
    loop {
        let work = if paused {
            match receiver.try_recv() {
                Ok(work) => work,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let _ = consumer.resume(&list);
                    paused = false;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        } else {
            tokio::select! {
                _ = stop.cancelled() => return,
                work = receiver.recv() => match work {
                    Some(work) => work,
                    None => return,
                },
            }
        };
        let due = headers::number(&work.headers, envelope::DUE).unwrap_or(0);
        let wait = due - envelope::to_millis(SystemTime::now());
        if wait > 0 {
            if !paused {
                let _ = consumer.pause(&list);
                paused = true;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
        dispatcher.dispatch(work);
    }
}

/// The handler, with its future type named (so it can be a type parameter).
trait HandlerFn<T>: Send + Sync + 'static {
    type Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static;
    fn call(&self, message: Message<T>) -> Self::Fut;
}

impl<T, F, Fut> HandlerFn<T> for F
where
    F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
{
    type Fut = Fut;
    fn call(&self, message: Message<T>) -> Fut {
        self(message)
    }
}

/// Everything a lane needs to handle a record.
struct Dispatcher<T, H> {
    _payload: std::marker::PhantomData<fn(T)>,
    shared: Arc<Shared>,
    handler: Arc<H>,
    lanes: Arc<KeyLanes<Work>>,
    tasks: TaskTracker,
    running: Arc<Semaphore>,
    stop: CancellationToken,
    hard_stop: CancellationToken,
}

impl<T, H> Dispatcher<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    fn dispatch(self: &Arc<Self>, work: Work) {
        let lane = match &work.key {
            Some(key) => LaneKey::Keyed(work.partition.0.clone(), work.partition.1, key.clone()),
            None => LaneKey::Unkeyed(work.partition.0.clone(), work.partition.1, work.offset),
        };
        let this = self.clone();
        self.lanes.dispatch(lane, work, &self.tasks, move |work| {
            let this = this.clone();
            async move { this.process(work).await }
        });
    }

    /// One record, from its first attempt here to completion (or abandonment).
    async fn process(&self, work: Work) {
        let shared = &self.shared;
        if self.stop.is_cancelled() || !shared.is_current(&work) {
            // Shutting down, or the partition moved: not committed, handled again.
            Counters::bump(&shared.counters.acks_lost);
            return;
        }
        let mut attempt = headers::number(&work.headers, envelope::ATTEMPT)
            .map(|n| n.clamp(1, u32::MAX as i64) as u32)
            .unwrap_or(1);
        let origin_topic = headers::text(&work.headers, envelope::ORIGINAL_EXCHANGE)
            .unwrap_or_else(|| work.partition.0.clone());
        let origin_partition = headers::number(&work.headers, envelope::ORIGINAL_PARTITION)
            .map(|p| p as i32)
            .unwrap_or(work.partition.1);
        let origin_offset =
            headers::number(&work.headers, envelope::ORIGINAL_OFFSET).unwrap_or(work.offset);
        let message_id = headers::text(&work.headers, envelope::MESSAGE_ID)
            .unwrap_or_else(|| format!("{origin_topic}-{origin_partition}-{origin_offset}"));
        let key_text = work
            .key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let mut first_failure_ms = headers::number(&work.headers, envelope::FIRST_FAILURE);
        let span = tracing::info_span!(
            "mq.message",
            topic = %work.partition.0,
            partition = work.partition.1,
            offset = work.offset,
            key = %key_text,
            message_id = %message_id,
            attempt = tracing::field::Empty,
        );
        async {
            loop {
                tracing::Span::current().record("attempt", attempt);
                let failure = match serde_json::from_slice::<T>(&work.payload) {
                    Err(error) => Failure {
                        kind: FailureKind::Deserialize,
                        message: format!("payload does not deserialize: {error}"),
                    },
                    Ok(payload) => {
                        let mut message = Message::new(payload)
                            .with_id(message_id.as_str())
                            .with_attempt(attempt)
                            .with_route(work.partition.0.as_str(), origin_topic.as_str(), key_text.as_str())
                            .with_position(work.partition.1, work.offset);
                        for (name, value) in &work.headers {
                            if let Ok(text) = std::str::from_utf8(value) {
                                message = message.with_header(name.as_str(), text);
                            }
                        }
                        match self.run_handler(message).await {
                            Some(Ok(())) => {
                                Counters::bump(&shared.counters.acked);
                                shared.complete(&work);
                                return;
                            }
                            Some(Err(failure)) => failure,
                            None => {
                                Counters::bump(&shared.counters.acks_lost);
                                return;
                            }
                        }
                    }
                };
                let now = SystemTime::now();
                let first = *first_failure_ms.get_or_insert_with(|| envelope::to_millis(now));
                let delay = shared.retry.retry_delay(failure.kind, attempt);
                let copy = |attempt_recorded: u32, due: Option<i64>| {
                    let mut list: HeaderList = work
                        .headers
                        .iter()
                        .filter(|(name, _)| !envelope::ALL.contains(&name.as_str()))
                        .cloned()
                        .collect();
                    headers::set(&mut list, envelope::ATTEMPT, attempt_recorded);
                    headers::set(&mut list, envelope::ORIGINAL_EXCHANGE, &origin_topic);
                    headers::set(&mut list, envelope::ORIGINAL_ROUTING_KEY, &key_text);
                    headers::set(&mut list, envelope::ORIGINAL_PARTITION, origin_partition);
                    headers::set(&mut list, envelope::ORIGINAL_OFFSET, origin_offset);
                    headers::set(&mut list, envelope::ERROR_KIND, failure.kind.as_str());
                    headers::set(
                        &mut list,
                        envelope::ERROR_MESSAGE,
                        envelope::truncate_error(&failure.message),
                    );
                    headers::set(&mut list, envelope::FIRST_FAILURE, first);
                    headers::set(&mut list, envelope::LAST_FAILURE, envelope::to_millis(now));
                    headers::set(&mut list, envelope::CONSUMER_ID, &shared.consumer_id);
                    headers::set(&mut list, envelope::SOURCE_QUEUE, &work.partition.0);
                    headers::set(&mut list, envelope::MESSAGE_ID, &message_id);
                    if let Some(due) = due {
                        headers::set(&mut list, envelope::DUE, due);
                    }
                    list
                };
                match (delay, shared.mode) {
                    (Some(delay), RetryMode::Ordered) => {
                        Counters::bump(&shared.counters.retried);
                        tracing::info!(kind = %failure.kind, error = %failure.message, delay_ms = delay.as_millis() as u64, "key parked until the retry");
                        if !self.park(&work, delay).await {
                            Counters::bump(&shared.counters.acks_lost);
                            return;
                        }
                        attempt += 1;
                    }
                    (Some(delay), RetryMode::Topics) => {
                        let topic = retry::retry_topic(&shared.topic, delay);
                        let due = envelope::to_millis(now) + delay.as_millis() as i64;
                        if !self.produce_copy(&work, &topic, &copy(attempt + 1, Some(due))).await {
                            Counters::bump(&shared.counters.acks_lost);
                            return;
                        }
                        Counters::bump(&shared.counters.retried);
                        tracing::info!(kind = %failure.kind, error = %failure.message, retry_topic = %topic, "record sent to its retry topic");
                        shared.complete(&work);
                        return;
                    }
                    (None, _) => {
                        match &shared.dead_letter_topic {
                            Some(topic) => {
                                if !self.produce_copy(&work, topic, &copy(attempt, None)).await {
                                    Counters::bump(&shared.counters.acks_lost);
                                    return;
                                }
                                tracing::warn!(kind = %failure.kind, error = %failure.message, attempts = attempt, dead_letter_topic = %topic, "record dead-lettered");
                            }
                            None => {
                                tracing::error!(kind = %failure.kind, error = %failure.message, "no dead-letter topic configured: record skipped");
                            }
                        }
                        Counters::bump(&shared.counters.dead_lettered);
                        shared.complete(&work);
                        return;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs the handler in its own task under a concurrency permit. `None`
    /// when the consumer is being stopped hard (the record is abandoned).
    async fn run_handler(&self, message: Message<T>) -> Option<std::result::Result<(), Failure>> {
        let shared = &self.shared;
        let _permit = tokio::select! {
            _ = self.hard_stop.cancelled() => return None,
            permit = self.running.acquire() => permit.expect("semaphore never closed"),
        };
        attempt::run(
            self.handler.call(message),
            shared.handler_timeout,
            &self.hard_stop,
            &shared.counters,
        )
        .await
    }

    /// Ordered retry: waits `delay` at the head of the key's lane. `false`
    /// when the wait was cut short by a revoke of the partition or a shutdown.
    async fn park(&self, work: &Work, delay: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + delay;
        let mut revoked = self.shared.revoked.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return !self.stop.is_cancelled() && self.shared.is_current(work);
                }
                _ = self.stop.cancelled() => return false,
                changed = revoked.changed() => {
                    if changed.is_err() || !self.shared.is_current(work) {
                        return false;
                    }
                }
            }
        }
    }

    /// Produces a retry copy or dead letter, trying again while the broker
    /// refuses; `false` if the partition moved or the consumer is stopped
    /// hard first (the record is then not completed, and comes back).
    async fn produce_copy(&self, work: &Work, topic: &str, headers: &[(String, Vec<u8>)]) -> bool {
        let mut failures: u32 = 0;
        loop {
            if !self.shared.is_current(work) {
                return false;
            }
            match self
                .shared
                .producer
                .send_raw(topic, work.key.as_deref(), &work.payload, headers)
                .await
            {
                Ok(_) => return true,
                Err(error) => {
                    failures += 1;
                    let pause = Duration::from_millis(100u64 << failures.min(6))
                        .min(Duration::from_secs(5));
                    tracing::error!(%error, %topic, failures, "could not produce the retry copy / dead letter; trying again");
                    tokio::select! {
                        _ = self.hard_stop.cancelled() => return false,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
}
