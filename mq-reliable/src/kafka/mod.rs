//! Kafka through rdkafka (feature `kafka`): the same handlers, outcomes,
//! backoff and dead-letter envelope as on RabbitMQ.
//!
//! ```no_run
//! use std::time::Duration;
//! use mq_reliable::{Backoff, Message, Outcome};
//! use mq_reliable::kafka::{Kafka, RetryMode};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct ChatLine { room: String, text: String }
//!
//! # async fn demo() -> mq_reliable::Result<()> {
//! let kafka = Kafka::new("127.0.0.1:9092");
//! let producer = kafka.producer().build()?;           // idempotent, acks=all
//! let line = ChatLine { room: "room-7".into(), text: "hi".into() };
//! producer.send("chat", &line.room, &line).await?;    // key = room: one partition, in order
//!
//! let consumer = kafka
//!     .consumer("chat", "chat-archive")                // topic, consumer group
//!     .concurrency(64)                                 // across keys; one key at a time
//!     .retry(Backoff::exponential(Duration::from_secs(1), 2.0).max_attempts(5))
//!     .retry_mode(RetryMode::Ordered)                  // park the failing room only
//!     .build()
//!     .await?;                                         // verifies / creates chat.dlt
//! consumer
//!     .run_until(
//!         |msg: Message<ChatLine>| async move {
//!             if msg.payload().text.is_empty() {
//!                 return Err(Outcome::reject(std::io::Error::other("empty line")));
//!             }
//!             Ok(()) // the offset may be committed once everything before it is done
//!         },
//!         mq_reliable::shutdown_signal(),
//!     )
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - [`Producer`]: idempotent (`enable.idempotence`, `acks=all`), key →
//!   partition with the Java client's hash, each `send` returns the
//!   partition and offset or the delivery error.
//! - [`Consumer`]: a consumer group with manual commits that never pass an
//!   unfinished record ([`offsets`]), per-key order with concurrency across
//!   keys ([`key_order`]), retry in place or through retry topics
//!   ([`retry`]), a dead-letter topic with the shared
//!   [envelope](crate::envelope), rebalances that abandon rather than commit
//!   unfinished work ([`consumer`]).
//! - [`topics`]: what `build()` verifies and creates.
//!
//! The message id of a record is its `x-message-id` header (set by
//! [`Producer`] and the outbox relay), or `<topic>-<partition>-<offset>` of
//! its first appearance for records produced by other clients: stable across
//! retries and redeliveries, so the [inbox](crate::inbox) works the same.

mod client;
pub mod consumer;
mod headers;
pub mod key_order;
pub mod offsets;
mod producer;
pub mod retry;
pub mod topics;

pub use crate::shutdown::ShutdownHandle;
pub use client::Kafka;
pub use consumer::{Consumer, ConsumerBuilder};
pub use headers::read_envelope;
pub use producer::{Delivery, Producer, ProducerBuilder};
pub use retry::{RetryMode, dead_letter_topic, retry_topic};

pub(crate) use producer::is_transient;
