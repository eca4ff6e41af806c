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

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::broker::Broker;
use super::headers::{self, FailureRecord};
use super::publisher::Publisher;
use super::topology::Topology;
use super::wire::copy_properties;
use crate::attempt::{self, Failure};
use crate::backoff::Backoff;
use crate::envelope;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::outcome::{FailureKind, Outcome};
use crate::shutdown::ShutdownHandle;
use crate::stats::{ConsumerStats, Counters, StatsHandle};

/// RabbitMQ's default `consumer_timeout` (30 minutes).
const RABBITMQ_CONSUMER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Builder for a [`Consumer`]; every setting has a production-safe default.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ConsumerBuilder {
    broker: Broker,
    queue: String,
    bindings: Vec<(String, String)>,
    prefetch: Option<u16>,
    concurrency: usize,
    retry: Backoff,
    dead_letter_queue: Option<String>,
    dead_letter_exchange: String,
    quorum: bool,
    delivery_limit: Option<u32>,
    handler_timeout: Duration,
    broker_consumer_timeout: Duration,
    shutdown_timeout: Duration,
    consumer_id: Option<String>,
}

impl ConsumerBuilder {
    pub(crate) fn new(broker: Broker, queue: String) -> Self {
        let dead_letter_queue = Some(format!("{queue}.dlq"));
        Self {
            broker,
            queue,
            bindings: Vec::new(),
            prefetch: None,
            concurrency: 16,
            retry: Backoff::default(),
            dead_letter_queue,
            dead_letter_exchange: String::new(),
            quorum: false,
            delivery_limit: None,
            handler_timeout: Duration::from_secs(60),
            broker_consumer_timeout: RABBITMQ_CONSUMER_TIMEOUT,
            shutdown_timeout: Duration::from_secs(30),
            consumer_id: None,
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
        self.concurrency = concurrency.max(1);
        self
    }

    /// Retry schedule (default: 1 s doubling, 5 attempts). Each distinct delay
    /// becomes a retry queue `<queue>.retry.<ms>ms`.
    pub fn retry(mut self, backoff: Backoff) -> Self {
        self.retry = backoff;
        self
    }

    /// Name of the dead-letter queue (default `<queue>.dlq`).
    pub fn dead_letter_queue(mut self, queue: impl Into<String>) -> Self {
        self.dead_letter_queue = Some(queue.into());
        self
    }

    /// No dead-letter queue: messages that exhaust their attempts, are
    /// rejected or do not deserialize are logged and **discarded**. Refused
    /// at `build()` for a quorum queue with a delivery limit.
    pub fn without_dead_letter_queue(mut self) -> Self {
        self.dead_letter_queue = None;
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

    /// Longest a handler may run (default 60 s); past it the attempt counts as
    /// a retryable failure and the handler's task is aborted.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
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
        self.shutdown_timeout = timeout;
        self
    }

    /// The id written in dead-letter envelopes and used as consumer tag
    /// prefix (default `<queue>-<pid>-<random>`).
    pub fn consumer_id(mut self, id: impl Into<String>) -> Self {
        self.consumer_id = Some(id.into());
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
        if self.queue.is_empty() {
            return Err(Error::Config("the queue name is empty".into()));
        }
        if self.delivery_limit.is_some() && !self.quorum {
            return Err(Error::Config(
                "delivery_limit applies to quorum queues only; add .quorum(true)".into(),
            ));
        }
        if self.quorum && self.delivery_limit.is_some() && self.dead_letter_queue.is_none() {
            return Err(Error::Topology(format!(
                "quorum queue `{}` has a delivery limit but no dead-letter queue: the broker \
                 would drop messages that reach the limit. Keep a dead-letter queue",
                self.queue
            )));
        }
        let concurrency = self.concurrency;
        let prefetch = self
            .prefetch
            .unwrap_or_else(|| (concurrency * 2).min(u16::MAX as usize) as u16);
        // A delivery can wait in the prefetch buffer behind whole rounds of
        // handlers before its own starts: all of that counts towards the
        // broker's consumer timeout.
        let rounds = (prefetch as u32).div_ceil(concurrency.min(u32::MAX as usize) as u32);
        let worst = self.handler_timeout.saturating_mul(rounds.max(1));
        if worst >= self.broker_consumer_timeout {
            return Err(Error::Topology(format!(
                "handler timeout {:?} × {rounds} prefetch round(s) = {worst:?} is not shorter \
                 than the broker's consumer_timeout {:?}: the broker would close the channel \
                 under a slow handler. Lower the handler timeout or the prefetch, or raise \
                 consumer_timeout on the broker",
                self.handler_timeout, self.broker_consumer_timeout
            )));
        }
        let topology = Topology {
            queue: self.queue.clone(),
            quorum: self.quorum,
            delivery_limit: self.delivery_limit,
            bindings: self.bindings.clone(),
            retry_delays: self.retry.distinct_delays(),
            dead_letter_queue: self.dead_letter_queue.clone(),
            dead_letter_exchange: self.dead_letter_exchange.clone(),
        };
        topology.check_and_prepare(&self.broker).await?;
        let channel = self.broker.channel().await?;
        let declared = topology.declare(&channel).await;
        super::broker::close_quietly(&channel, "declared").await;
        declared?;
        let publisher = self.broker.publisher().build().await?;
        let consumer_id = self.consumer_id.unwrap_or_else(|| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("{}-{}-{}", self.queue, std::process::id(), &random[..8])
        });
        Ok(Consumer {
            shared: Arc::new(Shared {
                broker: self.broker,
                topology,
                publisher,
                retry: self.retry,
                prefetch,
                concurrency,
                handler_timeout: self.handler_timeout,
                shutdown_timeout: self.shutdown_timeout,
                consumer_id,
                counters: Arc::new(Counters::default()),
            }),
            stop: CancellationToken::new(),
        })
    }
}

/// A built consumer. [`run`](Self::run) it with a handler.
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

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
        crate::signal::stop_on(&self.stop, self.consume(Arc::new(handler)), signal).await
    }

    async fn consume<T, F, Fut>(&self, handler: Arc<F>) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
    {
        let shared = &self.shared;
        let permits = Arc::new(Semaphore::new(shared.concurrency));
        let tracker = TaskTracker::new();
        // Cancelled when the shutdown deadline passes: handlers still running are dropped.
        let hard_stop = CancellationToken::new();
        let mut failures = 0u32;
        let mut session_number = 0u64;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            session_number += 1;
            let opened = tokio::select! {
                _ = self.stop.cancelled() => break,
                opened = self.open_session(session_number) => opened,
            };
            let (channel, mut deliveries, tag) = match opened {
                Ok(session) => {
                    failures = 0;
                    session
                }
                Err(error @ Error::Topology(_)) => return Err(error),
                Err(error) => {
                    failures += 1;
                    tracing::warn!(queue = %shared.topology.queue, %error, failures, "consumer could not connect; retrying");
                    if !shared.broker.reconnect_pause(failures, &self.stop).await {
                        break;
                    }
                    continue;
                }
            };
            Counters::bump(&shared.counters.connects);
            tracing::info!(queue = %shared.topology.queue, consumer = %tag, "consuming");
            let stopping = loop {
                let permit = tokio::select! {
                    _ = self.stop.cancelled() => break true,
                    permit = permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
                };
                let next = tokio::select! {
                    _ = self.stop.cancelled() => break true,
                    next = deliveries.next() => next,
                };
                match next {
                    Some(Ok(delivery)) if delivery.acker.poisoned() => {
                        // Buffered before the channel died: the broker has
                        // requeued it already, so handling it now would only
                        // do the work twice.
                        drop(permit);
                    }
                    Some(Ok(delivery)) => {
                        let shared = self.shared.clone();
                        let handler = handler.clone();
                        let hard_stop = hard_stop.clone();
                        tracker.spawn(async move {
                            handle_delivery(&shared, handler.as_ref(), delivery, &hard_stop).await;
                            drop(permit);
                        });
                    }
                    Some(Err(error)) => {
                        tracing::warn!(queue = %shared.topology.queue, %error, "delivery stream failed; reconnecting");
                        break false;
                    }
                    None => {
                        tracing::warn!(queue = %shared.topology.queue, "delivery stream ended; reconnecting");
                        break false;
                    }
                }
            };
            if stopping {
                // No new deliveries; prefetched ones stay unacknowledged and
                // return to the queue when the channel closes.
                let _ = tokio::time::timeout(
                    shared.broker.setup_timeout(),
                    channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()),
                )
                .await;
                self.drain(&tracker, &hard_stop).await;
                super::broker::close_quietly(&channel, "consumer shut down").await;
                return Ok(());
            }
            drop(deliveries);
            super::broker::close_quietly(&channel, "reconnecting").await;
            failures += 1;
            if !shared.broker.reconnect_pause(failures, &self.stop).await {
                break;
            }
        }
        self.drain(&tracker, &hard_stop).await;
        Ok(())
    }

    /// Waits for running handlers up to the shutdown timeout, then drops the rest.
    async fn drain(&self, tracker: &TaskTracker, hard_stop: &CancellationToken) {
        tracker.close();
        if tokio::time::timeout(self.shared.shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                queue = %self.shared.topology.queue,
                running = tracker.len(),
                "shutdown deadline passed; unfinished messages will be delivered again"
            );
            hard_stop.cancel();
            tracker.wait().await;
        }
    }

    /// A fresh channel with the topology declared, prefetch set and consuming.
    async fn open_session(&self, number: u64) -> Result<(Channel, lapin::Consumer, String)> {
        let shared = &self.shared;
        let channel = shared.broker.channel().await?;
        let limit = shared.broker.setup_timeout();
        match tokio::time::timeout(limit, self.subscribe(&channel, number)).await {
            Ok(Ok((deliveries, tag))) => Ok((channel, deliveries, tag)),
            Ok(Err(error)) => Err(error),
            Err(_) => {
                super::broker::close_quietly(&channel, "setup timed out").await;
                Err(Error::Unavailable(format!(
                    "declaring and subscribing took longer than {limit:?}"
                )))
            }
        }
    }

    /// Declares the topology, sets the prefetch and starts consuming.
    async fn subscribe(&self, channel: &Channel, number: u64) -> Result<(lapin::Consumer, String)> {
        let shared = &self.shared;
        shared.topology.declare(channel).await?;
        channel
            .basic_qos(shared.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("{}#{number}", shared.consumer_id);
        let deliveries = channel
            .basic_consume(
                shared.topology.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((deliveries, tag))
    }
}

/// One delivery from receipt to ack (or to its retry / dead-letter copy).
async fn handle_delivery<T, F, Fut>(
    shared: &Arc<Shared>,
    handler: &F,
    delivery: Delivery,
    hard_stop: &CancellationToken,
) where
    T: DeserializeOwned + Send + 'static,
    F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
{
    let counters = &shared.counters;
    Counters::bump(&counters.consumed);
    if delivery.redelivered {
        Counters::bump(&counters.redelivered);
    }
    let empty = FieldTable::default();
    let headers = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let attempt = headers::attempt(headers);
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_string());
    let span = tracing::info_span!(
        "mq.message",
        queue = %shared.topology.queue,
        message_id = message_id.as_deref().unwrap_or(""),
        attempt,
        redelivered = delivery.redelivered,
    );
    async {
        let origin_exchange = headers::text(headers, envelope::ORIGINAL_EXCHANGE)
            .unwrap_or_else(|| delivery.exchange.as_str().to_string());
        let origin_key = headers::text(headers, envelope::ORIGINAL_ROUTING_KEY)
            .unwrap_or_else(|| delivery.routing_key.as_str().to_string());
        let payload = match serde_json::from_slice::<T>(&delivery.data) {
            Ok(payload) => payload,
            Err(error) => {
                let failure = Failure {
                    kind: FailureKind::Deserialize,
                    message: format!("payload does not deserialize: {error}"),
                };
                settle_failure(
                    shared,
                    &delivery,
                    attempt,
                    &origin_exchange,
                    &origin_key,
                    failure,
                )
                .await;
                return;
            }
        };
        let mut message = Message::new(payload)
            .with_attempt(attempt)
            .with_redelivered(delivery.redelivered)
            .with_route(
                shared.topology.queue.as_str(),
                origin_exchange.as_str(),
                origin_key.as_str(),
            );
        if let Some(id) = &message_id {
            message = message.with_id(id.as_str());
        }
        for (name, value) in headers.inner() {
            if let Some(text) = headers::text(headers, name.as_str()) {
                message = message.with_header(name.as_str(), text);
            } else {
                let _ = value;
            }
        }
        let outcome = attempt::run(
            handler(message),
            shared.handler_timeout,
            hard_stop,
            counters,
        )
        .await;
        let failure = match outcome {
            // Stopped hard: unacknowledged, so delivered again.
            None => return,
            Some(Ok(())) => {
                ack(shared, &delivery).await;
                return;
            }
            Some(Err(failure)) => failure,
        };
        settle_failure(
            shared,
            &delivery,
            attempt,
            &origin_exchange,
            &origin_key,
            failure,
        )
        .await;
    }
    .instrument(span)
    .await
}

/// Sends a failed delivery to its retry queue or the dead-letter queue, then acks it.
async fn settle_failure(
    shared: &Arc<Shared>,
    delivery: &Delivery,
    attempt: u32,
    origin_exchange: &str,
    origin_key: &str,
    failure: Failure,
) {
    let counters = &shared.counters;
    if delivery.acker.poisoned() {
        // The channel died: the broker delivers the message again anyway, so
        // a copy now would only be a duplicate.
        Counters::bump(&counters.acks_lost);
        tracing::warn!(kind = %failure.kind, "channel closed before the failure could be recorded; the broker will deliver the message again");
        return;
    }
    let empty = FieldTable::default();
    let original = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let now = SystemTime::now();
    let first_failure_ms = headers::number(original, envelope::FIRST_FAILURE)
        .unwrap_or_else(|| envelope::to_millis(now));
    let retry_delay = shared.retry.retry_delay(failure.kind, attempt);
    let (destination, attempt_recorded) = match retry_delay {
        Some(delay) => (
            Some((String::new(), shared.topology.retry_queue(delay))),
            attempt + 1,
        ),
        None => (shared.topology.dead_letter_route(), attempt),
    };
    let Some((exchange, routing_key)) = destination else {
        tracing::error!(
            kind = %failure.kind,
            error = %failure.message,
            "no dead-letter queue configured: message discarded"
        );
        Counters::bump(&counters.dead_lettered);
        ack(shared, delivery).await;
        return;
    };
    let mut copy_headers = headers::without_bookkeeping(original, false);
    headers::record_failure(
        &mut copy_headers,
        &FailureRecord {
            attempt_next: attempt_recorded,
            original_exchange: origin_exchange,
            original_routing_key: origin_key,
            kind: failure.kind,
            message: &failure.message,
            first_failure_ms,
            now,
            consumer_id: &shared.consumer_id,
            source_queue: &shared.topology.queue,
        },
    );
    let properties = copy_properties(&delivery.properties).with_headers(copy_headers);
    match shared
        .publisher
        .publish_raw(&exchange, &routing_key, &delivery.data, properties)
        .await
    {
        Ok(()) => {
            if retry_delay.is_some() {
                Counters::bump(&counters.retried);
                tracing::info!(kind = %failure.kind, error = %failure.message, delay_ms = retry_delay.map(|d| d.as_millis() as u64), "message will be retried");
            } else {
                Counters::bump(&counters.dead_lettered);
                tracing::warn!(kind = %failure.kind, error = %failure.message, attempts = attempt, dead_letter_queue = %routing_key, "message dead-lettered");
            }
            ack(shared, delivery).await;
        }
        Err(error) => {
            // Not acknowledged: the broker keeps it. Give it back (after a
            // pause, so a broker that refuses copies is not hammered).
            tracing::error!(%error, "could not store the retry/dead-letter copy; message requeued");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
        }
    }
}

async fn ack(shared: &Shared, delivery: &Delivery) {
    // Bounded like every other broker call: an ack stuck on a connection
    // that no longer answers would hold its concurrency slot forever.
    let acked = tokio::time::timeout(
        shared.broker.setup_timeout(),
        delivery.ack(BasicAckOptions::default()),
    )
    .await;
    match acked {
        Ok(Ok(true)) => Counters::bump(&shared.counters.acked),
        Ok(Ok(false)) | Ok(Err(_)) | Err(_) => {
            Counters::bump(&shared.counters.acks_lost);
            tracing::warn!(
                "ack could not be sent (channel closed or unresponsive); the broker will deliver the message again"
            );
        }
    }
}
