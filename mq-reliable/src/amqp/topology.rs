//! The queues and bindings a consumer needs, declared (and checked) by
//! `build()` and declared again after every reconnect.
//!
//! For a work queue `Q` with a retry schedule of delays `d1, d2, …`:
//!
//! ```text
//!  publisher ──► exchange ──(binding key)──► Q ──► consumer ──► handler
//!                                            ▲        │ Retry after attempt n
//!                                            │        ▼
//!                 x-dead-letter-exchange ""  │   Q.retry.<dn>ms   (x-message-ttl = dn)
//!                 x-dead-letter-routing-key Q└──────  (expires back to Q, x-attempt = n+1)
//!                                                     │ attempts used up, Reject,
//!                                                     ▼ undeserializable payload
//!                                                  Q.dlq  (envelope headers)
//! ```
//!
//! - Retry queues have one TTL each, so the oldest message is always the
//!   first to expire (RabbitMQ only expires messages at the head of a queue;
//!   mixing TTLs in one queue would hold short delays behind long ones).
//!   They need no plugin. A message waits in them, persistent, even while no
//!   consumer runs.
//! - The consumer publishes the retry or dead-letter copy with publisher
//!   confirms and acknowledges the original only after the broker confirmed
//!   the copy: a crash in between duplicates the message, never loses it.
//! - `Q` itself has `x-dead-letter-exchange` pointing at the dead-letter
//!   queue too, so what the broker dead-letters on its own (a quorum queue's
//!   delivery limit) is kept as well.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::AMQPSoftError;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::broker::Broker;
use super::wire::{explain, is_soft, string};
use crate::error::{Error, Result};

/// Everything declared for one consumer.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub(crate) queue: String,
    pub(crate) quorum: bool,
    pub(crate) delivery_limit: Option<u32>,
    /// One consumer of the queue at a time (`x-single-active-consumer`).
    pub(crate) single_active_consumer: bool,
    /// At most this many ready messages; a publish beyond is refused
    /// (`x-overflow: reject-publish`), never a message dropped.
    pub(crate) max_length: Option<u32>,
    pub(crate) bindings: Vec<(String, String)>,
    pub(crate) retry_delays: Vec<Duration>,
    /// `None`: no dead-letter queue (exhausted messages are discarded).
    pub(crate) dead_letter_queue: Option<String>,
    /// Exchange dead letters are published to (`""`: the default exchange).
    pub(crate) dead_letter_exchange: String,
}

impl Topology {
    /// The retry queue for `delay`.
    pub(crate) fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.retry.{}ms", self.queue, delay.as_millis())
    }

    /// Exchange and routing key that reach the dead-letter queue.
    pub(crate) fn dead_letter_route(&self) -> Option<(String, String)> {
        self.dead_letter_queue
            .as_ref()
            .map(|dlq| (self.dead_letter_exchange.clone(), dlq.clone()))
    }

    /// Safety checks that need the broker: the dead-letter exchange must exist
    /// (RabbitMQ silently drops dead letters sent to a missing one), and bound
    /// exchanges are created (durable, topic) when missing.
    ///
    /// A bound exchange is declared, not probed first: a passive declare of a
    /// missing exchange is answered by closing the channel (`404 NOT_FOUND`),
    /// which lapin logs at `ERROR` level, so probing would print an error on
    /// every fresh broker, where a missing exchange is the normal case. When
    /// the declaration is refused (`406 PRECONDITION_FAILED`: it exists with
    /// another kind or other flags; `403 ACCESS_REFUSED`: this user may not
    /// declare it; both logged by lapin too), an exchange that exists is used
    /// as it is: a queue binds to any kind.
    pub(crate) async fn check_and_prepare(&self, broker: &Broker) -> Result<()> {
        if !self.dead_letter_exchange.is_empty()
            && !exchange_exists(broker, &self.dead_letter_exchange).await?
        {
            return Err(Error::Topology(format!(
                "dead-letter exchange `{}` does not exist; RabbitMQ would drop dead letters \
                 sent to it silently. Declare it first (Broker::declare_exchange)",
                self.dead_letter_exchange
            )));
        }
        for (exchange, _) in &self.bindings {
            if exchange.is_empty() || exchange.starts_with("amq.") {
                continue;
            }
            match broker.declare_exchange(exchange, ExchangeKind::Topic).await {
                Err(Error::Topology(_)) if exchange_exists(broker, exchange).await? => {}
                declared => declared?,
            }
        }
        Ok(())
    }

    /// Declares the queues and bindings (idempotent). The dead-letter queue
    /// comes first, so that what the work queue dead-letters has somewhere
    /// to go from the moment the work queue exists.
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<()> {
        self.declare_dead_letter_queue(channel).await?;
        self.declare_retry_queues(channel).await?;
        self.declare_work_queue(channel).await
    }

    /// The dead-letter queue (quorum when the work queue is), bound to the
    /// dead-letter exchange when there is one.
    async fn declare_dead_letter_queue(&self, channel: &Channel) -> Result<()> {
        let Some(dlq) = &self.dead_letter_queue else {
            return Ok(());
        };
        let mut args = FieldTable::default();
        if self.quorum {
            args.insert("x-queue-type".into(), string("quorum"));
        }
        channel
            .queue_declare(dlq.as_str().into(), durable(), args)
            .await
            .map_err(|e| explain(e, &format!("declaring dead-letter queue `{dlq}`")))?;
        if !self.dead_letter_exchange.is_empty() {
            channel
                .queue_bind(
                    dlq.as_str().into(),
                    self.dead_letter_exchange.as_str().into(),
                    dlq.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| explain(e, &format!("binding `{dlq}`")))?;
        }
        Ok(())
    }

    /// One queue per delay, whose messages expire back to the work queue.
    async fn declare_retry_queues(&self, channel: &Channel) -> Result<()> {
        for delay in &self.retry_delays {
            let name = self.retry_queue(*delay);
            let mut args = FieldTable::default();
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(delay.as_millis() as i64),
            );
            args.insert("x-dead-letter-exchange".into(), string(""));
            args.insert("x-dead-letter-routing-key".into(), string(&self.queue));
            channel
                .queue_declare(name.as_str().into(), durable(), args)
                .await
                .map_err(|e| explain(e, &format!("declaring retry queue `{name}`")))?;
        }
        Ok(())
    }

    /// The work queue, dead-lettering to the dead-letter queue, and its
    /// bindings.
    async fn declare_work_queue(&self, channel: &Channel) -> Result<()> {
        let mut args = FieldTable::default();
        if self.quorum {
            args.insert("x-queue-type".into(), string("quorum"));
            if let Some(limit) = self.delivery_limit {
                args.insert(
                    "x-delivery-limit".into(),
                    AMQPValue::LongLongInt(limit as i64),
                );
            }
        }
        if let Some((exchange, key)) = self.dead_letter_route() {
            args.insert("x-dead-letter-exchange".into(), string(&exchange));
            args.insert("x-dead-letter-routing-key".into(), string(&key));
        }
        if self.single_active_consumer {
            args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        }
        if let Some(limit) = self.max_length {
            args.insert("x-max-length".into(), AMQPValue::LongLongInt(limit.into()));
            // The broker's default, drop-head, loses the oldest message
            // without a word; a refused publish is an error the publisher sees.
            args.insert("x-overflow".into(), string("reject-publish"));
        }
        channel
            .queue_declare(self.queue.as_str().into(), durable(), args)
            .await
            .map_err(|e| explain(e, &format!("declaring queue `{}`", self.queue)))?;
        for (exchange, key) in &self.bindings {
            channel
                .queue_bind(
                    self.queue.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| explain(e, &format!("binding `{}` to `{exchange}`", self.queue)))?;
        }
        Ok(())
    }
}

/// Every queue here is durable.
fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// Whether `exchange` exists, asked on a throwaway channel (a passive declare
/// of a missing exchange closes its channel).
pub(crate) async fn exchange_exists(broker: &Broker, exchange: &str) -> Result<bool> {
    let channel = broker.channel().await?;
    let result = channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    match result {
        Ok(()) => {
            super::broker::close_quietly(&channel, "checked").await;
            Ok(true)
        }
        Err(error) if is_soft(&error, AMQPSoftError::NOTFOUND) => Ok(false),
        Err(error) => Err(error.into()),
    }
}
