//! [`ConsumerBuilder`]: the consumer's settings, and `build()`, which makes
//! sure every topic the consumer reads or writes exists before it runs and
//! creates the librdkafka group member with manual offsets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::group::{Context, GroupConsumer};
use super::{Consumer, Shared};
use crate::backoff::Backoff;
use crate::consumer_settings::ConsumerSettings;
use crate::error::{Error, Result};
use crate::kafka::client::Kafka;
use crate::kafka::offsets::OffsetTracker;
use crate::kafka::retry::{self, RetryMode};
use crate::kafka::topics;
use crate::stats::Counters;

/// Builder for a [`Consumer`]; every setting has a production-safe default.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ConsumerBuilder {
    kafka: Kafka,
    topic: String,
    group: String,
    common: ConsumerSettings,
    max_in_flight: usize,
    mode: RetryMode,
    commit_interval: Duration,
    create_partitions: Option<i32>,
    replication: i32,
    /// librdkafka settings given with [`set`](Self::set).
    client_settings: Vec<(String, String)>,
}

impl ConsumerBuilder {
    pub(crate) fn new(kafka: Kafka, topic: String, group: String) -> Self {
        let common = ConsumerSettings::new(retry::dead_letter_topic(&topic));
        Self {
            kafka,
            topic,
            group,
            common,
            max_in_flight: 1_000,
            mode: RetryMode::default(),
            commit_interval: Duration::from_millis(500),
            create_partitions: None,
            replication: 1,
            client_settings: Vec::new(),
        }
    }

    /// Handlers running at once, over all keys (default 16). Records of one
    /// key never run at the same time whatever this is.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.common.set_concurrency(concurrency);
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
        self.common.set_retry(backoff);
        self
    }

    /// How failures are retried (default [`RetryMode::Ordered`]: the failing
    /// key waits, others go on). See [`retry`].
    pub fn retry_mode(mut self, mode: RetryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Name of the dead-letter topic (default `<topic>.dlt`).
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.common.set_dead_letter(Some(topic.into()));
        self
    }

    /// No dead-letter topic: records that exhaust their attempts, are
    /// rejected or do not deserialize are logged and **skipped**.
    pub fn without_dead_letter_topic(mut self) -> Self {
        self.common.set_dead_letter(None);
        self
    }

    /// Longest a handler may run (default 60 s); past it the attempt counts
    /// as a retryable failure and the handler's task is aborted.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.common.set_handler_timeout(timeout);
        self
    }

    /// How long a graceful shutdown waits for running handlers (default
    /// 30 s). Their records are not committed if they do not finish.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.common.set_shutdown_timeout(timeout);
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
        self.common.set_consumer_id(id.into());
        self
    }

    /// Any other librdkafka consumer setting (`session.timeout.ms`,
    /// `auto.offset.reset`, …). Offsets stay manual whatever is set here.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client_settings.push((key.into(), value.into()));
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
        let partitions = self.topic_partitions(&admin_config).await?;
        let retry_topics = self.retry_topics();
        let subscribed = self
            .ensure_topics(&admin_config, &retry_topics, partitions)
            .await?;
        let producer = self.kafka.producer().build()?;
        let consumer_id = self.common.consumer_id(&self.group);
        let tracker = Arc::new(Mutex::new(OffsetTracker::default()));
        let counters = Arc::new(Counters::default());
        let (revoked, _) = watch::channel(0u64);
        let context = Context::new(tracker.clone(), counters.clone(), revoked.clone());
        let consumer = self.group_member(&consumer_id, context)?;
        let common = self.common;
        Ok(Consumer {
            shared: Arc::new(Shared {
                topic: self.topic,
                retry_topics,
                partitions: subscribed,
                dead_letter_topic: common.dead_letter,
                producer,
                retry: common.retry,
                mode: self.mode,
                concurrency: common.concurrency,
                max_in_flight: self.max_in_flight,
                handler_timeout: common.handler_timeout,
                shutdown_timeout: common.shutdown_timeout,
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

    /// The partition count of the consumed topic, which is created first
    /// when it is missing and [`create_topic`](Self::create_topic) allows it.
    async fn topic_partitions(&self, admin_config: &ClientConfig) -> Result<i32> {
        if let Some(partitions) = topics::partitions(admin_config, &self.topic).await? {
            return Ok(partitions);
        }
        let Some(partitions) = self.create_partitions else {
            return Err(Error::Topology(format!(
                "topic `{}` does not exist: create it, or call .create_topic(partitions)",
                self.topic
            )));
        };
        topics::ensure(
            admin_config,
            std::slice::from_ref(&self.topic),
            partitions,
            self.replication,
        )
        .await?;
        Ok(partitions)
    }

    /// The retry topics the schedule needs ([`RetryMode::Topics`] only).
    fn retry_topics(&self) -> Vec<String> {
        match self.mode {
            RetryMode::Topics => self
                .common
                .retry
                .distinct_delays()
                .into_iter()
                .map(|delay| retry::retry_topic(&self.topic, delay))
                .collect(),
            RetryMode::Ordered => Vec::new(),
        }
    }

    /// Makes sure the retry topics and the dead-letter topic exist (created
    /// with the topic's partition count), and returns every topic to
    /// subscribe to with its partition count.
    async fn ensure_topics(
        &self,
        admin_config: &ClientConfig,
        retry_topics: &[String],
        partitions: i32,
    ) -> Result<Vec<(String, i32)>> {
        let mut needed = retry_topics.to_vec();
        needed.extend(self.common.dead_letter.iter().cloned());
        topics::ensure(admin_config, &needed, partitions, self.replication).await?;
        let mut subscribed = vec![(self.topic.clone(), partitions)];
        for topic in retry_topics {
            let count = topics::partitions(admin_config, topic).await?;
            subscribed.push((topic.clone(), count.unwrap_or(partitions)));
        }
        Ok(subscribed)
    }

    /// The group member: the user's settings, then the ones this consumer
    /// depends on (group, client id, manual offsets), which always win.
    fn group_member(&self, consumer_id: &str, context: Context) -> Result<GroupConsumer> {
        let mut config = self.kafka.client_config();
        config.set("auto.offset.reset", "earliest");
        for (key, value) in &self.client_settings {
            config.set(key, value);
        }
        config
            .set("group.id", &self.group)
            .set("client.id", consumer_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        Ok(config.create_with_context(context)?)
    }
}
