//! [`ConsumerBuilder`]: the consumer's settings, and `build()`, which
//! refuses settings that would lose messages or get the channel closed
//! under load, and declares the queues before the consumer runs.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Consumer, Shared};
use crate::amqp::broker::{self, Broker};
use crate::amqp::topology::Topology;
use crate::backoff::Backoff;
use crate::consumer_settings::ConsumerSettings;
use crate::error::{Error, Result};
use crate::stats::Counters;

/// RabbitMQ's default `consumer_timeout` (30 minutes).
const RABBITMQ_CONSUMER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Builder for a [`Consumer`]; every setting has a production-safe default.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ConsumerBuilder {
    broker: Broker,
    queue: String,
    common: ConsumerSettings,
    bindings: Vec<(String, String)>,
    prefetch: Option<u16>,
    dead_letter_exchange: String,
    quorum: bool,
    delivery_limit: Option<u32>,
    single_active_consumer: bool,
    max_length: Option<u32>,
    broker_consumer_timeout: Duration,
}

impl ConsumerBuilder {
    pub(crate) fn new(broker: Broker, queue: String) -> Self {
        let common = ConsumerSettings::new(format!("{queue}.dlq"));
        Self {
            broker,
            queue,
            common,
            bindings: Vec::new(),
            prefetch: None,
            dead_letter_exchange: String::new(),
            quorum: false,
            delivery_limit: None,
            single_active_consumer: false,
            max_length: None,
            broker_consumer_timeout: RABBITMQ_CONSUMER_TIMEOUT,
        }
    }

    /// Binds the queue to `exchange` with `routing_key` (a pattern for topic
    /// exchanges). May be called several times. An exchange that does not
    /// exist is declared as a durable topic exchange.
    pub fn bind(mut self, exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        self.bindings.push((exchange.into(), routing_key.into()));
        self
    }

    /// Unacknowledged deliveries the broker may send ahead (`basic.qos`);
    /// default twice the concurrency (at most 65535). See the module docs.
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = Some(prefetch.max(1));
        self
    }

    /// Handlers running at once (default 16).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.common.set_concurrency(concurrency);
        self
    }

    /// Retry schedule (default: 1 s doubling, 5 attempts). Each distinct delay
    /// becomes a retry queue `<queue>.retry.<ms>ms`.
    pub fn retry(mut self, backoff: Backoff) -> Self {
        self.common.set_retry(backoff);
        self
    }

    /// Name of the dead-letter queue (default `<queue>.dlq`).
    pub fn dead_letter_queue(mut self, queue: impl Into<String>) -> Self {
        self.common.set_dead_letter(Some(queue.into()));
        self
    }

    /// No dead-letter queue: messages that exhaust their attempts, are
    /// rejected or do not deserialize are logged and **discarded**. Refused
    /// at `build()` for a quorum queue with a delivery limit.
    pub fn without_dead_letter_queue(mut self) -> Self {
        self.common.set_dead_letter(None);
        self
    }

    /// Route dead letters through this exchange (which must exist; `build()`
    /// checks) instead of the default exchange; the dead-letter queue is bound
    /// to it with its own name as routing key.
    pub fn dead_letter_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.dead_letter_exchange = exchange.into();
        self
    }

    /// Declare the work queue and the dead-letter queue as quorum queues
    /// (replicated, for clusters). Default: classic durable queues.
    pub fn quorum(mut self, quorum: bool) -> Self {
        self.quorum = quorum;
        self
    }

    /// Quorum queues only: deliveries after which the broker dead-letters a
    /// message itself (`x-delivery-limit`), a guard against messages that
    /// crash every consumer before it can count attempts.
    pub fn delivery_limit(mut self, limit: u32) -> Self {
        self.delivery_limit = Some(limit);
        self
    }

    /// Only one consumer of the queue receives messages at a time
    /// (`x-single-active-consumer`); the others stand by and one takes over
    /// when it goes. Order of processing is then the queue's order, across
    /// processes (with `concurrency(1)`). Default: off.
    pub fn single_active_consumer(mut self, single: bool) -> Self {
        self.single_active_consumer = single;
        self
    }

    /// At most `limit` ready messages in the queue. A publish beyond it is
    /// refused (`x-overflow: reject-publish`), which the publisher sees as
    /// [`Error::Nacked`](crate::Error::Nacked): never RabbitMQ's default of
    /// silently dropping the oldest message. Default: no limit.
    pub fn max_length(mut self, limit: u32) -> Self {
        self.max_length = Some(limit);
        self
    }

    /// Longest a handler may run (default 60 s); past it the attempt counts as
    /// a retryable failure and the handler's task is aborted.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.common.set_handler_timeout(timeout);
        self
    }

    /// The broker's `consumer_timeout` (default RabbitMQ's 30 minutes): a
    /// delivery unacknowledged for longer makes the broker close the channel.
    /// `build()` refuses a handler timeout that could exceed it.
    pub fn broker_consumer_timeout(mut self, timeout: Duration) -> Self {
        self.broker_consumer_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for running handlers (default 30 s).
    /// Handlers still running then are dropped; their messages are not
    /// acknowledged and the broker delivers them again.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.common.set_shutdown_timeout(timeout);
        self
    }

    /// The id written in dead-letter envelopes and used as consumer tag
    /// prefix (default `<queue>-<pid>-<random>`).
    pub fn consumer_id(mut self, id: impl Into<String>) -> Self {
        self.common.set_consumer_id(id.into());
        self
    }

    /// Checks the configuration and the broker for unsafe topology, declares
    /// the queues, and returns the consumer (call [`Consumer::run`]).
    ///
    /// Refused with [`Error::Topology`]: a dead-letter exchange that does not
    /// exist, a quorum queue with a delivery limit but no dead-letter queue,
    /// a handler timeout that a delivery could outlast the broker's consumer
    /// timeout with, a queue that exists with other arguments.
    pub async fn build(self) -> Result<Consumer> {
        self.check_queue_settings()?;
        let prefetch = self.checked_prefetch()?;
        let topology = Topology {
            queue: self.queue.clone(),
            quorum: self.quorum,
            delivery_limit: self.delivery_limit,
            single_active_consumer: self.single_active_consumer,
            max_length: self.max_length,
            bindings: self.bindings.clone(),
            retry_delays: self.common.retry.distinct_delays(),
            dead_letter_queue: self.common.dead_letter.clone(),
            dead_letter_exchange: self.dead_letter_exchange.clone(),
        };
        topology.check_and_prepare(&self.broker).await?;
        let channel = self.broker.channel().await?;
        let declared = topology.declare(&channel).await;
        broker::close_quietly(&channel, "declared").await;
        declared?;
        let publisher = self.broker.publisher().build().await?;
        let consumer_id = self.common.consumer_id(&self.queue);
        let common = self.common;
        Ok(Consumer {
            shared: Arc::new(Shared {
                broker: self.broker,
                topology,
                publisher,
                retry: common.retry,
                prefetch,
                concurrency: common.concurrency,
                handler_timeout: common.handler_timeout,
                shutdown_timeout: common.shutdown_timeout,
                consumer_id,
                counters: Arc::new(Counters::default()),
            }),
            stop: CancellationToken::new(),
        })
    }

    /// The queue settings that cannot work: no queue name, a delivery limit
    /// on a classic queue, a delivery limit with nowhere to dead-letter to.
    fn check_queue_settings(&self) -> Result<()> {
        if self.queue.is_empty() {
            return Err(Error::Config("the queue name is empty".into()));
        }
        if self.delivery_limit.is_some() && !self.quorum {
            return Err(Error::Config(
                "delivery_limit applies to quorum queues only; add .quorum(true)".into(),
            ));
        }
        if self.quorum && self.delivery_limit.is_some() && self.common.dead_letter.is_none() {
            return Err(Error::Topology(format!(
                "quorum queue `{}` has a delivery limit but no dead-letter queue: the broker \
                 would drop messages that reach the limit. Keep a dead-letter queue",
                self.queue
            )));
        }
        Ok(())
    }

    /// The prefetch (set, or twice the concurrency), refused when a
    /// delivery could wait out the broker's consumer timeout behind it.
    fn checked_prefetch(&self) -> Result<u16> {
        let concurrency = self.common.concurrency;
        let handler_timeout = self.common.handler_timeout;
        let prefetch = self
            .prefetch
            .unwrap_or_else(|| (concurrency * 2).min(u16::MAX as usize) as u16);
        // A delivery can wait in the prefetch buffer behind whole rounds of
        // handlers before its own starts: all of that counts towards the
        // broker's consumer timeout.
        let rounds = (prefetch as u32).div_ceil(concurrency.min(u32::MAX as usize) as u32);
        let worst = handler_timeout.saturating_mul(rounds.max(1));
        if worst >= self.broker_consumer_timeout {
            return Err(Error::Topology(format!(
                "handler timeout {:?} × {rounds} prefetch round(s) = {worst:?} is not shorter \
                 than the broker's consumer_timeout {:?}: the broker would close the channel \
                 under a slow handler. Lower the handler timeout or the prefetch, or raise \
                 consumer_timeout on the broker",
                handler_timeout, self.broker_consumer_timeout
            )));
        }
        Ok(prefetch)
    }
}
