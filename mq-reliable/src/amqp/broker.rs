//! One reconnecting AMQP connection, shared by publishers, consumers and the
//! dead-letter tools built from it.
//!
//! lapin's own recovery is off. When the connection dies (broker restart,
//! `rabbitmqctl close_all_connections`, network cut), the next caller that
//! needs a channel opens a new connection; consumers and publishers retry that
//! with backoff themselves and redo their setup (topology, prefetch, confirm
//! mode, consume) on the new channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::consumer::ConsumerBuilder;
use super::dead_letters::DeadLetters;
use super::publisher::PublisherBuilder;
use crate::error::{Error, Result};

/// Closes `channel`, giving up after a few seconds: the close of a channel
/// on a connection that no longer answers would otherwise never return.
pub(crate) async fn close_quietly(channel: &Channel, reason: &str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        channel.close(200, reason.to_string().into()),
    )
    .await;
}

/// Builder for a [`Broker`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BrokerBuilder {
    url: String,
    connection_name: String,
    connect_timeout: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
}

impl BrokerBuilder {
    /// The name shown for this connection in the management UI
    /// (default `mq-reliable`).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = name.into();
        self
    }

    /// How long one connection attempt may take, and one setup step on it
    /// (opening a channel, declaring the topology, subscribing) before the
    /// connection is given up as unresponsive (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The wait between reconnection attempts: starts at `min`, doubles up
    /// to `max`, with random jitter (default 100 ms to 5 s).
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Connects once; fails if the broker cannot be reached now (a wrong URL
    /// or credentials should not turn into an endless retry at start-up).
    pub async fn connect(self) -> Result<Broker> {
        let broker = Broker {
            inner: Arc::new(Inner {
                config: self,
                connection: Mutex::new(None),
                generation: AtomicU64::new(0),
            }),
        };
        broker.connection().await?;
        Ok(broker)
    }
}

/// A handle to a RabbitMQ broker: cheap to clone, reconnects on demand.
///
/// ```no_run
/// # async fn demo() -> mq_reliable::Result<()> {
/// let mq = mq_reliable::amqp::Broker::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
/// let publisher = mq.publisher().build().await?;
/// # let _ = publisher;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    config: BrokerBuilder,
    connection: Mutex<Option<Arc<Connection>>>,
    generation: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connection_name", &self.config.connection_name)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish()
    }
}

impl Broker {
    /// Connects to `url` (`amqp://user:pass@host:5672/vhost`) with the
    /// default settings; see [`Broker::builder`].
    pub async fn connect(url: impl Into<String>) -> Result<Broker> {
        Self::builder(url).connect().await
    }

    /// A builder for connection settings.
    pub fn builder(url: impl Into<String>) -> BrokerBuilder {
        BrokerBuilder {
            url: url.into(),
            connection_name: "mq-reliable".into(),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }

    /// A publisher with confirms and `mandatory` on.
    pub fn publisher(&self) -> PublisherBuilder {
        PublisherBuilder::new(self.clone())
    }

    /// A consumer of `queue` (declared durable by `build()`).
    pub fn consumer(&self, queue: impl Into<String>) -> ConsumerBuilder {
        ConsumerBuilder::new(self.clone(), queue.into())
    }

    /// Inspection and replay of a dead-letter queue.
    pub fn dead_letters(&self, queue: impl Into<String>) -> DeadLetters {
        DeadLetters::new(self.clone(), queue.into())
    }

    /// Declares a durable exchange of `kind` (idempotent when it exists with
    /// the same kind).
    pub async fn declare_exchange(&self, name: &str, kind: ExchangeKind) -> Result<()> {
        let channel = self.channel().await?;
        let declared = channel
            .exchange_declare(
                name.into(),
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        close_quietly(&channel, "done").await;
        declared.map_err(|e| super::wire::explain(e, &format!("declaring exchange `{name}`")))
    }

    /// Messages ready (not yet delivered) in `queue`, read with a passive
    /// declare: exact and immediate, unlike the management statistics.
    pub async fn ready_count(&self, queue: &str) -> Result<u64> {
        let channel = self.channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        close_quietly(&channel, "counted").await;
        let declared =
            declared.map_err(|e| super::wire::explain(e, &format!("reading queue `{queue}`")))?;
        Ok(declared.message_count() as u64)
    }

    /// Whether the current connection is open.
    pub fn is_connected(&self) -> bool {
        self.inner
            .connection
            .try_lock()
            .ok()
            .and_then(|guard| guard.as_ref().map(|c| c.status().connected()))
            .unwrap_or(false)
    }

    /// Closes the connection. Clones of this handle reconnect if used again.
    pub async fn close(&self) {
        let connection = self.inner.connection.lock().await.take();
        if let Some(connection) = connection {
            let _ = connection.close(200, "closed by application".into()).await;
        }
    }

    /// The open connection, opening a new one (a single attempt) if there is
    /// none or it died.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        let config = &self.inner.config;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("{}#{generation}", config.connection_name).into());
        let connection = tokio::time::timeout(
            config.connect_timeout,
            Connection::connect(&config.url, properties),
        )
        .await
        .map_err(|_| {
            Error::Unavailable(format!(
                "no AMQP connection within {:?}",
                config.connect_timeout
            ))
        })??;
        tracing::debug!(generation, "AMQP connection opened");
        let connection = Arc::new(connection);
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// A new channel on the current connection (a single attempt).
    pub(crate) async fn channel(&self) -> Result<Channel> {
        self.open_channel(false).await
    }

    /// A new channel in confirm mode (a single attempt).
    pub(crate) async fn confirm_channel(&self) -> Result<Channel> {
        self.open_channel(true).await
    }

    /// Opens a channel, and puts it in confirm mode if asked, within the
    /// connect timeout. A connection that does not answer in time is given
    /// up: a broker restart can leave one that still looks open while its
    /// replies never come, and every later caller would wait on it.
    async fn open_channel(&self, confirms: bool) -> Result<Channel> {
        let connection = self.connection().await?;
        let limit = self.inner.config.connect_timeout;
        let opening = async {
            let channel = connection.create_channel().await?;
            if confirms {
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
            }
            Ok::<_, lapin::Error>(channel)
        };
        match tokio::time::timeout(limit, opening).await {
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(error)) => {
                // The connection may have died between the check and the call.
                self.forget(&connection).await;
                Err(error.into())
            }
            Err(_) => {
                self.abandon(&connection).await;
                Err(Error::Unavailable(format!(
                    "the broker did not open a channel within {limit:?}; connection given up"
                )))
            }
        }
    }

    /// Forgets `stuck` and closes it in the background, so that the next
    /// caller opens a fresh connection.
    async fn abandon(&self, stuck: &Arc<Connection>) {
        tracing::warn!("AMQP connection unresponsive; opening a new one");
        self.forget(stuck).await;
        let stuck = stuck.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                stuck.close(200, "unresponsive".into()),
            )
            .await;
        });
    }

    /// How long one setup step (a channel, a declaration, a subscription)
    /// may take before the connection counts as unresponsive.
    pub(crate) fn setup_timeout(&self) -> Duration {
        self.inner.config.connect_timeout
    }

    /// Drops `dead` as the current connection if it still is.
    pub(crate) async fn forget(&self, dead: &Arc<Connection>) {
        let mut slot = self.inner.connection.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, dead)) {
            *slot = None;
        }
    }

    /// Waits for the reconnection delay of attempt `failures` (1-based), or
    /// returns false at once if `stop` is cancelled first.
    pub(crate) async fn reconnect_pause(&self, failures: u32, stop: &CancellationToken) -> bool {
        let delay = self.reconnect_delay(failures);
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    pub(crate) fn reconnect_delay(&self, failures: u32) -> Duration {
        let config = &self.inner.config;
        let exponent = failures.saturating_sub(1).min(16);
        let base = config
            .reconnect_min
            .saturating_mul(1 << exponent)
            .min(config.reconnect_max);
        // Up to 25 % jitter so many clients do not reconnect in lockstep.
        let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
        base + jitter
    }
}
