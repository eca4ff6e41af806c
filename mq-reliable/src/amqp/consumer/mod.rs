//! The consumer: manual ack, bounded concurrency, delayed retry, dead letters,
//! reconnects and graceful shutdown.
//!
//! # Concurrency and prefetch
//!
//! Each delivery is handled in its own tokio task; at most
//! [`concurrency`](ConsumerBuilder::concurrency) handlers run at once (a
//! semaphore permit is taken *before* the next delivery is read, so nothing
//! waits half-started). [`prefetch`](ConsumerBuilder::prefetch) is how many
//! unacknowledged deliveries the broker sends ahead (`basic.qos`): the
//! effective parallelism is `min(prefetch, concurrency)`, and a prefetch a
//! little above the concurrency keeps the next messages already in memory
//! when a handler finishes. Messages prefetched but not yet started are
//! still unacknowledged: a crash returns them to the queue.
//!
//! Tasks are cheap, so a concurrency in the hundreds is fine for handlers that
//! mostly wait on I/O — what Java does with virtual threads.
//!
//! # What happens to a delivery
//!
//! | handler result | what the consumer does |
//! |---|---|
//! | `Ok(())` | ack |
//! | `Err(Outcome::Retry(e))`, a panic, or the handler timeout | copy to the retry queue for this attempt's delay with `x-attempt + 1` (confirmed), then ack; after the last attempt: copy to the DLQ with the envelope, then ack |
//! | `Err(Outcome::Reject(e))` | copy to the DLQ (confirmed), then ack |
//! | payload does not deserialize | copy to the DLQ on the first delivery, then ack |
//!
//! # Connection loss
//!
//! lapin's recovery is not used. When the delivery stream ends (channel or
//! connection closed), the consumer reconnects with backoff, declares the
//! topology again, restores the prefetch and consumes again. Handlers still
//! running from the dead channel finish, but their acks cannot reach the broker
//! any more; that is counted in [`ConsumerStats::acks_lost`] (never ignored),
//! and the broker delivers those messages again with `redelivered` set.

mod builder;
mod dispatch;
mod intake;
mod session;
mod settlement;

pub use builder::ConsumerBuilder;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::publisher::Publisher;
use super::topology::Topology;
use crate::backoff::Backoff;
use crate::error::Result;
use crate::message::Message;
use crate::outcome::Outcome;
use crate::shutdown::ShutdownHandle;
use crate::stats::{ConsumerStats, Counters, StatsHandle};

/// A built consumer. [`run`](Self::run) it with a handler.
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// What every part of a running consumer reads: the broker and the
/// topology to restore after a reconnect, the publisher for retry copies
/// and dead letters, the settings, and the counters.
#[derive(Debug)]
struct Shared {
    broker: Broker,
    topology: Topology,
    publisher: Publisher,
    retry: Backoff,
    prefetch: u16,
    concurrency: usize,
    handler_timeout: Duration,
    shutdown_timeout: Duration,
    consumer_id: String,
    counters: Arc<Counters>,
}

impl Consumer {
    /// Counters since the consumer was built.
    pub fn stats(&self) -> ConsumerStats {
        self.shared.counters.snapshot()
    }

    /// The same counters as [`stats`](Self::stats), through a handle that
    /// does not borrow the consumer (for a metrics endpoint while `run`
    /// holds it elsewhere).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle::new(self.shared.counters.clone())
    }

    /// A handle that stops [`run`](Self::run) gracefully. A consumer that was
    /// shut down stays stopped: build a new one to consume again.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.stop.clone())
    }

    /// The id written in dead-letter envelopes.
    pub fn consumer_id(&self) -> &str {
        &self.shared.consumer_id
    }

    /// The queue consumed.
    pub fn queue(&self) -> &str {
        &self.shared.topology.queue
    }

    /// Consumes until [`ShutdownHandle::shutdown`] is called, reconnecting
    /// after connection loss. Each message's payload is deserialized from
    /// JSON into `T` and passed to `handler`.
    pub async fn run<T, F, Fut>(&self, handler: F) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
    {
        self.run_until(handler, std::future::pending::<()>()).await
    }

    /// Like [`run`](Self::run), and also shuts down gracefully when `signal`
    /// completes (for example [`crate::shutdown_signal()`]).
    pub async fn run_until<T, F, Fut, S>(&self, handler: F, signal: S) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
        S: Future + Send,
    {
        crate::signal::stop_on(&self.stop, self.consume::<T, F>(Arc::new(handler)), signal).await
    }
}
