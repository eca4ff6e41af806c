//! An isolated topic namespace per test on the shared Kafka-API broker.
//!
//! The broker (`tansu`, started by `scripts/dev-services up`) is shared; each
//! test gets a unique prefix for its topics and consumer groups, and the topics
//! it created are deleted when it ends.
//!
//! Environment: `KAFKA_BROKERS` (default `127.0.0.1:9092`).

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::backend::env_url;
use crate::cleanup::block_on_detached;
use crate::error::{Result, TestkitError};

const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A per-test prefix on the shared broker; topics created through it are deleted on drop.
#[derive(Debug)]
pub struct KafkaNamespace {
    brokers: String,
    prefix: String,
    created: Mutex<Vec<String>>,
}

impl KafkaNamespace {
    /// Checks that the broker answers a metadata request and picks a fresh prefix.
    pub async fn create() -> Result<Self> {
        let brokers = env_url("KAFKA_BROKERS").unwrap_or_else(|| DEFAULT_BROKERS.into());
        let probe_brokers = brokers.clone();
        let probe = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &probe_brokers)
                .create()
                .map_err(|e| e.to_string())?;
            consumer
                .fetch_metadata(None, PROBE_TIMEOUT)
                .map(|metadata| metadata.brokers().len())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|answer| answer);
        if let Err(reason) = probe {
            return Err(TestkitError::ServiceDown {
                service: "kafka",
                url: brokers,
                env_var: "KAFKA_BROKERS",
                reason,
            });
        }
        Ok(Self {
            brokers,
            prefix: format!("testkit-{}", uuid::Uuid::new_v4().simple()),
            created: Mutex::new(Vec::new()),
        })
    }

    /// The bootstrap servers, e.g. `127.0.0.1:9092`.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// This test's prefix for topics and consumer groups.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<name>`: a topic or group name private to this test.
    pub fn name(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// A client configuration with `bootstrap.servers` set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        config
    }

    /// Creates the topic `<prefix>.<name>` with `partitions` partitions and
    /// returns its full name. It is deleted when the namespace is dropped.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<String> {
        let topic = self.name(name);
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .map_err(|e| TestkitError::setup("creating a Kafka admin client", e))?;
        let results = admin
            .create_topics(
                &[NewTopic::new(
                    &topic,
                    partitions,
                    TopicReplication::Fixed(1),
                )],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .map_err(|e| TestkitError::setup(format!("creating topic {topic}"), e))?;
        for result in results {
            result.map_err(|(topic, code)| {
                TestkitError::setup(format!("creating topic {topic}"), code)
            })?;
        }
        self.created
            .lock()
            .expect("topic list lock")
            .push(topic.clone());
        Ok(topic)
    }
}

impl Drop for KafkaNamespace {
    fn drop(&mut self) {
        let topics = std::mem::take(&mut *self.created.lock().expect("topic list lock"));
        if topics.is_empty() {
            return;
        }
        let config = self.client_config();
        block_on_detached("deleting Kafka topics", async move {
            let admin: AdminClient<DefaultClientContext> =
                config.create().map_err(|e| e.to_string())?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            admin
                .delete_topics(&names, &AdminOptions::new())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        });
    }
}
