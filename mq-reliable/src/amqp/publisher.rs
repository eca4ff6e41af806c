//! Publishing that returns only once the broker has taken the message.
//!
//! Every publish is `mandatory` (a message no queue is bound for comes back
//! and is reported as [`Error::Unroutable`] instead of vanishing) and
//! confirmed (the call returns after the broker's `basic.ack`, which for a
//! persistent message on a durable queue means it is on disk). Messages are
//! persistent, JSON, and carry a fresh UUID as message id, which consumers
//! use to deduplicate.
//!
//! When the connection or channel dies before the confirm arrives, the
//! publisher opens a new channel (reconnecting with backoff) and sends the
//! same message again, with the same id, until
//! [`retry_for`](PublisherBuilder::retry_for) runs out. The broker may then
//! hold it twice (it had taken the first copy but its confirm was lost): at
//! least once, and the id makes the duplicate harmless to an idempotent
//! consumer.
//!
//! A `Publisher` is cheap to clone and safe to use from many tasks at once:
//! they share one channel, and confirms are pipelined (each caller waits for
//! its own).

use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use lapin::protocol::AMQPSoftError;
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::delay::DelayRoute;
use super::publish_options::PublishOptions;
use super::wire::is_soft;
use crate::error::{Error, Result};

/// Builder for a [`Publisher`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct PublisherBuilder {
    broker: Broker,
    confirm_timeout: Duration,
    retry_for: Duration,
}

impl PublisherBuilder {
    pub(crate) fn new(broker: Broker) -> Self {
        Self {
            broker,
            confirm_timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(30),
        }
    }

    /// How long one attempt waits for the broker's confirm (default 10 s).
    /// Past it, `publish` returns [`Error::ConfirmTimeout`]: the outcome is
    /// unknown, and a retry may duplicate the message.
    pub fn confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }

    /// How long a publish keeps retrying after connection or channel loss
    /// (default 30 s); then it returns the last error.
    pub fn retry_for(mut self, window: Duration) -> Self {
        self.retry_for = window;
        self
    }

    /// Opens the publishing channel (confirm mode).
    pub async fn build(self) -> Result<Publisher> {
        let publisher = Publisher {
            inner: Arc::new(Inner {
                broker: self.broker,
                confirm_timeout: self.confirm_timeout,
                retry_for: self.retry_for,
                current: StdMutex::new(None),
                reopen: Mutex::new(()),
            }),
        };
        publisher.channel().await?;
        Ok(publisher)
    }
}

/// A confirmed, mandatory publisher. Clone it freely.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    broker: Broker,
    confirm_timeout: Duration,
    retry_for: Duration,
    current: StdMutex<Option<Channel>>,
    reopen: Mutex<()>,
}

/// What one attempt ended with.
enum Attempt {
    Done,
    /// Connection or channel trouble: reopen and send again.
    Transient(Error),
    /// Will not get better by retrying.
    Fatal(Error),
}

impl Publisher {
    /// Publishes `payload` as JSON to `exchange` with `routing_key` and a new
    /// message id; returns once the broker confirmed it.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &T,
    ) -> Result<()> {
        self.publish_with(exchange, routing_key, payload, &PublishOptions::new())
            .await
    }

    /// Like [`publish`](Self::publish) with a message id of the caller's choice
    /// (for instance an outbox row id, so a re-sent row keeps its id).
    pub async fn publish_with_id<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &T,
        message_id: &str,
    ) -> Result<()> {
        let options = PublishOptions::new().message_id(message_id);
        self.publish_with(exchange, routing_key, payload, &options)
            .await
    }

    /// Like [`publish`](Self::publish) with a correlation id, a priority, a
    /// per-message TTL, headers or a message id of the caller's choice (see
    /// [`PublishOptions`]).
    pub async fn publish_with<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &T,
        options: &PublishOptions,
    ) -> Result<()> {
        let body = serde_json::to_vec(payload)?;
        let properties = options.properties(options.id_or_new())?;
        self.send(exchange, routing_key, &body, properties).await
    }

    /// Publishes `payload` to a [`DelayRoute`]: it reaches the route's
    /// destination after the route's delay (see [`delay`](super::delay)).
    /// Returns once the broker confirmed the message into the delay queue.
    pub async fn publish_delayed<T: Serialize + ?Sized>(
        &self,
        route: &DelayRoute,
        payload: &T,
        message_id: &str,
    ) -> Result<()> {
        self.publish_with_id(route.exchange(), route.routing_key(), payload, message_id)
            .await
    }

    /// Publishes raw bytes with the given properties (confirmed, mandatory,
    /// retried like [`publish`](Self::publish)). Used to move messages
    /// between queues without touching their body.
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<()> {
        self.send(exchange, routing_key, body, properties).await
    }

    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<()> {
        let deadline = Instant::now() + self.inner.retry_for;
        let never = CancellationToken::new();
        let mut failures = 0;
        loop {
            let outcome = match self.channel().await {
                Ok(channel) => {
                    self.attempt(&channel, exchange, routing_key, body, properties.clone())
                        .await
                }
                Err(error) => Attempt::Transient(error),
            };
            match outcome {
                Attempt::Done => return Ok(()),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Transient(error) => {
                    failures += 1;
                    if Instant::now() + self.inner.broker.reconnect_delay(failures) > deadline {
                        return Err(error);
                    }
                    tracing::debug!(%error, failures, "publish will be retried");
                    self.inner.broker.reconnect_pause(failures, &never).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Attempt {
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let sending = channel.basic_publish(
            exchange.into(),
            routing_key.into(),
            options,
            body,
            properties,
        );
        let confirm = match tokio::time::timeout(self.inner.confirm_timeout, sending).await {
            Ok(Ok(confirm)) => confirm,
            Ok(Err(error)) => return self.failed(channel, error),
            Err(_) => {
                // Not even handed to the connection: a wedged channel. Send
                // again on a new one (same message id).
                self.discard(channel);
                return Attempt::Transient(Error::Unavailable(format!(
                    "publish not sent within {:?}",
                    self.inner.confirm_timeout
                )));
            }
        };
        let confirmation = match tokio::time::timeout(self.inner.confirm_timeout, confirm).await {
            Err(_) => return Attempt::Fatal(Error::ConfirmTimeout(self.inner.confirm_timeout)),
            Ok(Err(error)) => return self.failed(channel, error),
            Ok(Ok(confirmation)) => confirmation,
        };
        if confirmation.is_nack() {
            return Attempt::Fatal(Error::Nacked);
        }
        if confirmation.take_message().is_some() {
            return Attempt::Fatal(Error::Unroutable {
                exchange: exchange.to_string(),
                routing_key: routing_key.to_string(),
            });
        }
        Attempt::Done
    }

    fn failed(&self, channel: &Channel, error: lapin::Error) -> Attempt {
        self.discard(channel);
        if is_soft(&error, AMQPSoftError::NOTFOUND) {
            // Publishing to an exchange that does not exist.
            Attempt::Fatal(Error::Topology(error.to_string()))
        } else if error.is_amqp_soft_error() {
            Attempt::Fatal(error.into())
        } else {
            Attempt::Transient(error.into())
        }
    }

    /// Forgets `channel` if it is still the current one.
    fn discard(&self, channel: &Channel) {
        let mut current = self.inner.current.lock().expect("publisher channel lock");
        if current.as_ref().is_some_and(|c| c.id() == channel.id()) {
            *current = None;
        }
    }

    /// The open confirm-mode channel, opening one (a single attempt) if needed.
    async fn channel(&self) -> Result<Channel> {
        if let Some(channel) = self.usable() {
            return Ok(channel);
        }
        let _reopening = self.inner.reopen.lock().await;
        if let Some(channel) = self.usable() {
            return Ok(channel);
        }
        let channel = self.inner.broker.confirm_channel().await?;
        *self.inner.current.lock().expect("publisher channel lock") = Some(channel.clone());
        Ok(channel)
    }

    fn usable(&self) -> Option<Channel> {
        let current = self.inner.current.lock().expect("publisher channel lock");
        current
            .as_ref()
            .filter(|channel| channel.status().connected())
            .cloned()
    }

    /// Closes the publishing channel (after waiting for outstanding confirms).
    pub async fn close(&self) {
        let channel = self
            .inner
            .current
            .lock()
            .expect("publisher channel lock")
            .take();
        if let Some(channel) = channel {
            let _ = channel.wait_for_confirms().await;
            let _ = channel.close(200, "publisher closed".into()).await;
        }
    }
}
