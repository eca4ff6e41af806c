//! RabbitMQ through lapin: a reconnecting [`Broker`], a confirmed
//! [`Publisher`], a [`Consumer`] with retry queues and a dead-letter queue,
//! [`DeadLetters`] to inspect and replay what failed, and [`DelayRoute`]s
//! for messages due later.
//!
//! See the [`consumer`] module for what happens to each delivery, and
//! [`topology`] for the queues declared.

mod broker;
pub mod consumer;
mod dead_letters;
pub mod delay;
mod headers;
mod publish_options;
mod publisher;
pub mod topology;
mod wire;

pub use crate::shutdown::ShutdownHandle;
pub use broker::{Broker, BrokerBuilder};
pub use consumer::{Consumer, ConsumerBuilder};
pub use dead_letters::{DeadLetter, DeadLetters, ReplayReport};
pub use delay::DelayRoute;
pub use publish_options::PublishOptions;
pub use publisher::{Publisher, PublisherBuilder};

/// Exchange types, for [`Broker::declare_exchange`].
pub use lapin::ExchangeKind;
