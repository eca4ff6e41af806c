//! The settings every consumer has, whatever the broker: how many handlers
//! run at once, the retry schedule, where messages go that are given up on,
//! the handler and shutdown timeouts, and the consumer's id.
//!
//! Both brokers' `ConsumerBuilder`s hold one and delegate their setters to
//! it, so the defaults and the limits are the same on RabbitMQ and Kafka.
//! The setters' docs stay on the builders, where they can say what each
//! setting means on that broker.

use std::time::Duration;

use crate::backoff::Backoff;

/// A consumer's broker-neutral settings, with their defaults.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    /// Handlers running at once (at least 1).
    pub(crate) concurrency: usize,
    pub(crate) retry: Backoff,
    /// The dead-letter queue or topic; `None` drops what is given up on.
    pub(crate) dead_letter: Option<String>,
    pub(crate) handler_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    consumer_id: Option<String>,
}

impl ConsumerSettings {
    /// The defaults: 16 handlers, [`Backoff::default`], 60 s per handler,
    /// 30 s for shutdown, dead letters to `dead_letter`.
    pub(crate) fn new(dead_letter: String) -> Self {
        Self {
            concurrency: 16,
            retry: Backoff::default(),
            dead_letter: Some(dead_letter),
            handler_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            consumer_id: None,
        }
    }

    pub(crate) fn set_concurrency(&mut self, concurrency: usize) {
        self.concurrency = concurrency.max(1);
    }

    pub(crate) fn set_retry(&mut self, backoff: Backoff) {
        self.retry = backoff;
    }

    pub(crate) fn set_dead_letter(&mut self, destination: Option<String>) {
        self.dead_letter = destination;
    }

    pub(crate) fn set_handler_timeout(&mut self, timeout: Duration) {
        self.handler_timeout = timeout;
    }

    pub(crate) fn set_shutdown_timeout(&mut self, timeout: Duration) {
        self.shutdown_timeout = timeout;
    }

    pub(crate) fn set_consumer_id(&mut self, id: String) {
        self.consumer_id = Some(id);
    }

    /// The consumer id that was set, or `<prefix>-<pid>-<random>`: unique
    /// per process and per consumer, and still telling which queue or group
    /// it served.
    pub(crate) fn consumer_id(&self, prefix: &str) -> String {
        self.consumer_id.clone().unwrap_or_else(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("{prefix}-{}-{}", std::process::id(), &random[..8])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_limits_and_generated_id() {
        let mut settings = ConsumerSettings::new("q.dlq".into());
        assert_eq!(settings.concurrency, 16);
        assert_eq!(settings.dead_letter.as_deref(), Some("q.dlq"));
        settings.set_concurrency(0);
        assert_eq!(settings.concurrency, 1);
        let generated = settings.consumer_id("orders");
        assert!(generated.starts_with(&format!("orders-{}-", std::process::id())));
        assert_eq!(
            generated.len(),
            "orders-".len() + std::process::id().to_string().len() + 9
        );
        settings.set_consumer_id("worker-1".into());
        assert_eq!(settings.consumer_id("orders"), "worker-1");
    }
}
