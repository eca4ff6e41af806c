//! Configuring a hub.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::policy::SubscribeOptions;
use crate::router::Subscriber;
use crate::shared::Shared;
use crate::stats::Counters;
use redis_support::Connection;

pub(crate) enum Source {
    Single(Box<redis::Client>),
    Cluster(Vec<String>),
}

/// Configures a [`Hub`]; every setting has a production default.
#[must_use = "a builder does nothing until `build()` is called"]
pub struct HubBuilder {
    source: Source,
    prefix: String,
    history: usize,
    durable_archive: bool,
    retention: Option<Duration>,
    page_size: usize,
    room_buffer: usize,
    subscribe_timeout: Duration,
    response_timeout: Duration,
    keepalive: Duration,
    presence_ttl: Duration,
    subscription: SubscribeOptions,
    #[cfg(feature = "kafka")]
    archive: Option<crate::archive::KafkaArchive>,
}

impl std::fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubBuilder")
            .field("prefix", &self.prefix)
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl HubBuilder {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            prefix: "chat".into(),
            history: 1_000,
            durable_archive: false,
            retention: None,
            page_size: 500,
            room_buffer: 4_096,
            subscribe_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(2),
            keepalive: Duration::from_secs(10),
            presence_ttl: Duration::from_secs(30),
            subscription: SubscribeOptions::default(),
            #[cfg(feature = "kafka")]
            archive: None,
        }
    }

    /// The prefix of every key and channel (default `chat`). Hubs that
    /// should share rooms use the same prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many messages each room keeps for recovery (default 1,000; at
    /// least this many are kept: trimming is approximate, `MAXLEN ~`).
    pub fn history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// Deletes a room's history, offset and epoch after it has been idle
    /// this long (default: never). A room that comes back starts a new epoch.
    pub fn retention(mut self, idle: Duration) -> Self {
        self.retention = Some(idle);
        self
    }

    /// How many messages one history read fetches when the hub fills a gap
    /// itself (default 500).
    pub fn page_size(mut self, messages: usize) -> Self {
        self.page_size = messages.max(1);
        self
    }

    /// How many messages may wait between the pub/sub connection and one
    /// room (default 4,096). Beyond, the room refills from history.
    pub fn room_buffer(mut self, messages: usize) -> Self {
        self.room_buffer = messages.max(1);
        self
    }

    /// How long `subscribe` waits for Redis to confirm (default 5 s).
    pub fn subscribe_timeout(mut self, timeout: Duration) -> Self {
        self.subscribe_timeout = timeout;
        self
    }

    /// How long a command (publish, recover, presence) waits for Redis
    /// (default 2 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How often the pub/sub connection is pinged (default 10 s); an
    /// unanswered ping replaces the connection.
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = interval.max(Duration::from_millis(50));
        self
    }

    /// How long a presence member stays without a heartbeat (default 30 s;
    /// [`Membership`](crate::Membership) heartbeats every third of it).
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(100));
        self
    }

    /// The options of [`Hub::subscribe`] (default: 1,024 messages,
    /// [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect)).
    pub fn subscription(mut self, options: SubscribeOptions) -> Self {
        self.subscription = options;
        self
    }

    /// Records every room that receives a message, in the publish script's
    /// atomic step, so that an [`ArchiveRelay`](crate::archive::ArchiveRelay)
    /// archives it from the room's stream: the crash-safe archive, and the
    /// recommended one (default: off; single Redis endpoint only, not with
    /// [`Hub::cluster_builder`]). `publish` does not wait for the archive.
    ///
    /// Use the same [`prefix`](HubBuilder::prefix) on the relay, and a
    /// `history` long enough to cover the relay's worst outage: what is
    /// trimmed before the relay reads it is reported as an
    /// [`ArchiveGap`](crate::archive::ArchiveGap), not archived.
    #[cfg(feature = "kafka")]
    pub fn durable_archive(mut self) -> Self {
        self.durable_archive = true;
        self
    }

    /// Also hands every published message to an in-process Kafka producer
    /// after the publish script: lower latency to Kafka, but **best effort**
    /// — a message enqueued but not yet acknowledged is lost from the
    /// archive if the process dies. Prefer [`durable_archive`](HubBuilder::durable_archive)
    /// with an [`ArchiveRelay`](crate::archive::ArchiveRelay).
    #[cfg(feature = "kafka")]
    pub fn archive(mut self, archive: crate::archive::KafkaArchive) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Connects and starts the hub's pub/sub connection (which keeps
    /// reconnecting by itself).
    pub async fn build(self) -> Result<Hub> {
        if self.history == 0 {
            return Err(Error::Config("history must keep at least 1 message".into()));
        }
        if self.prefix.is_empty() || self.prefix.contains([' ', '{', '}']) {
            return Err(Error::Config(format!(
                "prefix {:?} must be non-empty, without spaces or braces",
                self.prefix
            )));
        }
        if self.durable_archive && matches!(self.source, Source::Cluster(_)) {
            return Err(Error::Config(
                "durable_archive needs a single Redis endpoint (its pending-rooms set spans slots)"
                    .into(),
            ));
        }
        let (conn, subscriber, sharded) = match self.source {
            Source::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.response_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                let conn = ConnectionManager::new_with_config((*client).clone(), config).await?;
                (Connection::single(conn), Subscriber::Single(client), false)
            }
            Source::Cluster(nodes) => {
                let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
                let client = ClusterClientBuilder::new(nodes)
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .connection_timeout(self.response_timeout)
                    .response_timeout(self.response_timeout)
                    .build()?;
                let conn = client.get_async_connection().await?;
                (
                    Connection::cluster(conn.clone()),
                    Subscriber::Cluster(conn, received),
                    true,
                )
            }
        };
        let shared = Shared {
            conn,
            sharded,
            prefix: self.prefix,
            history: self.history,
            durable_archive: self.durable_archive,
            retention_ms: self.retention.map_or(0, |r| r.as_millis().max(1) as u64),
            page_size: self.page_size,
            room_buffer: self.room_buffer,
            subscribe_timeout: self.subscribe_timeout,
            response_timeout: self.response_timeout,
            keepalive: self.keepalive,
            presence_ttl: self.presence_ttl,
            default_subscription: self.subscription,
            counters: Counters::default(),
            stop: CancellationToken::new(),
        };
        Ok(Hub::start(
            shared,
            subscriber,
            #[cfg(feature = "kafka")]
            self.archive,
        ))
    }
}
