//! The connection settings every Kafka producer, consumer and admin call
//! starts from.

use rdkafka::ClientConfig;

use super::consumer::ConsumerBuilder;
use super::producer::ProducerBuilder;

/// Bootstrap servers plus any librdkafka settings shared by the producers
/// and consumers made from it. Cheap to clone.
///
/// ```no_run
/// let kafka = mq_reliable::kafka::Kafka::new("127.0.0.1:9092")
///     .set("security.protocol", "plaintext");
/// ```
#[derive(Debug, Clone)]
pub struct Kafka {
    settings: Vec<(String, String)>,
}

impl Kafka {
    /// Settings for the cluster reachable at `brokers` (`host:port,…`).
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            settings: vec![("bootstrap.servers".into(), brokers.into())],
        }
    }

    /// Adds a librdkafka setting (TLS, SASL, timeouts, …) for every client
    /// made from this handle. The crate's own safety settings
    /// (idempotence, manual commits) are applied after these and win.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// A builder for an idempotent [`Producer`](super::Producer).
    pub fn producer(&self) -> ProducerBuilder {
        ProducerBuilder::new(self.clone())
    }

    /// A builder for a [`Consumer`](super::Consumer) of `topic` in consumer
    /// group `group`.
    pub fn consumer(&self, topic: impl Into<String>, group: impl Into<String>) -> ConsumerBuilder {
        ConsumerBuilder::new(self.clone(), topic.into(), group.into())
    }

    /// The librdkafka configuration with these settings.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
    }
}
