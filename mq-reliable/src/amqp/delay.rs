//! Delayed delivery: a message published now reaches its destination after
//! a fixed delay, with no plugin and no polling.
//!
//! It is the mechanism the consumer's retries already use (see
//! [`topology`](super::topology)): a durable queue with one
//! `x-message-ttl` and no consumer, whose expired messages RabbitMQ
//! dead-letters to the real destination.
//!
//! ```text
//!  publish ──► "" (default exchange) ──► <key>.delay.<ms>ms   x-message-ttl = ms
//!                                                 │ expires
//!                                                 ▼ x-dead-letter-exchange / -routing-key
//!                                         exchange ──(routing key)──► queues bound to it
//! ```
//!
//! ```no_run
//! use std::time::Duration;
//! # async fn demo(mq: mq_reliable::amqp::Broker) -> mq_reliable::Result<()> {
//! // Once at start-up: the route for "order.expire in 10 minutes".
//! let expiry = mq.delay_route("orders", "order.expire", Duration::from_secs(600)).await?;
//! let publisher = mq.publisher().build().await?;
//! publisher.publish_delayed(&expiry, &"order 7", "expire-7").await?;
//! // Or inside a database transaction, through the outbox:
//! // outbox.enqueue(&mut tx, expiry.exchange(), expiry.routing_key(), &payload)
//! # Ok(()) }
//! ```
//!
//! **One delay per queue.** RabbitMQ expires messages only at the head of a
//! queue, so a queue holding several delays would keep a short one waiting
//! behind a long one. Each delay gets its own queue (named for it), so every
//! message in it is due in the order it was published.
//!
//! **Never early, at least once.** A message is due at *publish time +
//! delay* by the broker's clock; it may arrive later (a busy broker, no
//! consumer on the destination), never earlier. Messages wait on disk: a
//! broker restart keeps them, and their TTL keeps counting.
//!
//! **A missing destination loses messages**: RabbitMQ drops what it
//! dead-letters to an exchange that does not exist, or what the exchange
//! routes nowhere. [`Broker::delay_route`] refuses a missing exchange; bind
//! the destination queue before publishing (declaring its consumer does).

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};

use super::broker::Broker;
use super::topology::exchange_exists;
use super::wire::{explain, string};
use crate::error::{Error, Result};

/// Where a delayed message goes: publish to [`exchange`](Self::exchange)
/// with [`routing_key`](Self::routing_key) (the delay queue), and it reaches
/// the destination's exchange and routing key after [`delay`](Self::delay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayRoute {
    queue: String,
    destination_exchange: String,
    destination_routing_key: String,
    delay: Duration,
}

impl DelayRoute {
    /// The exchange to publish to: `""`, the default exchange, which routes
    /// by queue name.
    pub fn exchange(&self) -> &str {
        ""
    }

    /// The routing key to publish with: the delay queue's name
    /// (`<destination routing key>.delay.<ms>ms`).
    pub fn routing_key(&self) -> &str {
        &self.queue
    }

    /// The exchange the message reaches when it is due.
    pub fn destination_exchange(&self) -> &str {
        &self.destination_exchange
    }

    /// The routing key it reaches that exchange with.
    pub fn destination_routing_key(&self) -> &str {
        &self.destination_routing_key
    }

    /// How long a message waits.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

/// The delay queue's name for a destination routing key and a delay.
fn queue_name(routing_key: &str, delay: Duration) -> String {
    format!("{routing_key}.delay.{}ms", delay.as_millis())
}

impl Broker {
    /// Declares (idempotently) the queue that holds messages for `delay`
    /// and then hands them to `exchange` with `routing_key` (`""` and a
    /// queue name reach that queue directly). Call it once at start-up and
    /// keep the route; every process that publishes may declare it.
    ///
    /// Errors: [`Error::Topology`] when `exchange` does not exist (its
    /// messages would be dropped when due) or when `delay` is zero or longer
    /// than RabbitMQ's TTL limit (about 49 days).
    pub async fn delay_route(
        &self,
        exchange: &str,
        routing_key: &str,
        delay: Duration,
    ) -> Result<DelayRoute> {
        let millis = delay.as_millis();
        if millis == 0 || millis > u128::from(u32::MAX) {
            return Err(Error::Topology(format!(
                "a delay must be between 1 ms and {} ms, not {delay:?}",
                u32::MAX
            )));
        }
        if !exchange.is_empty() && !exchange_exists(self, exchange).await? {
            return Err(Error::Topology(format!(
                "exchange `{exchange}` does not exist; RabbitMQ would drop the delayed \
                 messages sent to it when due. Declare it first (Broker::declare_exchange)"
            )));
        }
        let queue = queue_name(routing_key, delay);
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(millis as i64),
        );
        args.insert("x-dead-letter-exchange".into(), string(exchange));
        args.insert("x-dead-letter-routing-key".into(), string(routing_key));
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let channel = self.channel().await?;
        let declared = channel
            .queue_declare(queue.as_str().into(), options, args)
            .await;
        super::broker::close_quietly(&channel, "declared").await;
        declared.map_err(|e| explain(e, &format!("declaring delay queue `{queue}`")))?;
        Ok(DelayRoute {
            queue,
            destination_exchange: exchange.to_string(),
            destination_routing_key: routing_key.to_string(),
            delay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delay_has_its_own_queue() {
        assert_eq!(
            queue_name("order.expire", Duration::from_secs(600)),
            "order.expire.delay.600000ms"
        );
        assert_ne!(
            queue_name("k", Duration::from_millis(1500)),
            queue_name("k", Duration::from_millis(1501))
        );
    }
}
