//! # mq-reliable: work that must happen, delivered at least once
//!
//! A message that stands for work that must happen — an order placed, a
//! welcome mail — must survive a crashed worker, a restarted broker and a bug
//! in the handler. This crate makes that the easy path on RabbitMQ:
//!
//! ```no_run
//! use std::time::Duration;
//! use mq_reliable::{Backoff, Message, Outcome};
//!
//! # async fn demo() -> mq_reliable::Result<()> {
//! let mq = mq_reliable::amqp::Broker::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
//! let consumer = mq
//!     .consumer("mail.welcome")
//!     .bind("users", "user.signed_up")
//!     .concurrency(32)
//!     .retry(Backoff::exponential(Duration::from_secs(1), 2.0).max_attempts(5))
//!     .build()
//!     .await?;
//! consumer
//!     .run(|msg: Message<String>| async move {
//!         if msg.payload().is_empty() {
//!             return Err(Outcome::reject(std::io::Error::other("no address")));
//!         }
//!         Ok(()) // acknowledged only now
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## The pieces
//!
//! - **[`amqp::Broker`]**: one reconnecting connection; hands out publishers,
//!   consumers and dead-letter tools.
//! - **[`amqp::Publisher`]**: publisher confirms, `mandatory`, a message id on
//!   every message, resend after connection loss.
//! - **[`amqp::Consumer`]**: manual ack after success, handlers as tokio tasks
//!   bounded by `concurrency`, retries through TTL queues (no plugin), then a
//!   dead-letter queue with an [`Envelope`] saying why; reconnects and
//!   restores its setup; graceful shutdown.
//! - **[`amqp::DeadLetters`]**: count, list, replay (all, by filter, or one
//!   letter back to the queue that failed it) and discard dead letters.
//! - **[`amqp::DelayRoute`]**: delayed delivery through a per-delay TTL
//!   queue ([`amqp::Broker::delay_route`], [`amqp::Publisher::publish_delayed`]).
//! - **[`inbox`]**: make redeliveries harmless — record the message id in the
//!   same PostgreSQL transaction as the effect, or claim it in Redis.
//!
//! The broker-neutral parts — [`Message`], [`Outcome`], [`Backoff`],
//! [`Envelope`], [`ConsumerStats`] — are shared with the Kafka adapter.
//!
//! ## Guarantees
//!
//! At least once: a message is acknowledged only after its handler returned
//! `Ok`, or after its retry or dead-letter copy was confirmed by the broker.
//! Every failure (crash, connection loss, shutdown deadline) leaves the
//! message unacknowledged, and the broker delivers it again with
//! [`Message::redelivered`] set. Pair it with the [`inbox`] for effects that
//! happen exactly once.

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(any(feature = "amqp", feature = "kafka"))]
mod attempt;
mod backoff;
#[cfg(any(feature = "amqp", feature = "kafka"))]
mod consumer_settings;
pub mod envelope;
mod error;
pub mod inbox;
#[cfg(feature = "kafka")]
pub mod kafka;
mod message;
#[cfg(feature = "outbox")]
pub mod outbox;

// The relay publishes to a broker; without one it would have nowhere to go.
#[cfg(all(feature = "outbox", not(any(feature = "amqp", feature = "kafka"))))]
compile_error!("the `outbox` feature relays to a broker: enable `amqp` or `kafka` as well");
mod outcome;
mod shutdown;
mod signal;
mod sql_identifier;
mod stats;

pub use backoff::Backoff;
pub use envelope::Envelope;
pub use error::{Error, Result};
pub use message::Message;
pub use outcome::{BoxError, FailureKind, Outcome};
pub use shutdown::ShutdownHandle;
pub use signal::shutdown_signal;
pub use stats::{ConsumerStats, StatsHandle};

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
