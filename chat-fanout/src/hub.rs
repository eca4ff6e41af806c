//! The hub: publish, subscribe, recover, presence.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::DropGuard;
use tracing::Instrument;

use crate::builder::HubBuilder;
use crate::envelope::Position;
use crate::error::{Error, Result};
use crate::keys::{RoomKeys, check_room};
use crate::policy::SubscribeOptions;
use crate::presence::Presence;
use crate::recovery::{Recovery, decode_page, recover_raw};
use crate::router::Router;
use crate::scripts;
use crate::shared::Shared;
use crate::stats::{HubStats, bump};
use crate::subscription::{Mailbox, Subscription};

struct Inner {
    shared: Arc<Shared>,
    router: Arc<Router>,
    #[cfg(feature = "kafka")]
    archive: Option<crate::archive::KafkaArchive>,
    _stop: DropGuard,
}

/// A process's handle on the rooms: cheap to clone, one pub/sub connection
/// and one command connection per hub, shut down when the last clone is
/// dropped (open subscriptions then end with
/// [`CloseReason::HubStopped`](crate::CloseReason::HubStopped)).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("prefix", &self.inner.shared.prefix)
            .field("rooms", &self.inner.router.room_count())
            .finish_non_exhaustive()
    }
}

fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Hub {
    /// Starts configuring a hub on this Redis (see [`HubBuilder`] for the
    /// defaults).
    pub fn builder(client: redis::Client) -> HubBuilder {
        HubBuilder::new(crate::builder::Source::Single(Box::new(client)))
    }

    /// Starts configuring a hub on a Redis Cluster (Redis 7+), given some of
    /// its nodes' URLs. Rooms use sharded pub/sub (`SPUBLISH` /
    /// `SSUBSCRIBE`): a room's messages stay on the shard that owns the
    /// room's slot instead of being broadcast to every node.
    pub fn cluster_builder<I, T>(nodes: I) -> HubBuilder
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        HubBuilder::new(crate::builder::Source::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }

    pub(crate) fn start(
        shared: Shared,
        subscriber: crate::router::Subscriber,
        #[cfg(feature = "kafka")] archive: Option<crate::archive::KafkaArchive>,
    ) -> Self {
        let shared = Arc::new(shared);
        let router = Router::start(shared.clone(), subscriber);
        Self {
            inner: Arc::new(Inner {
                _stop: shared.stop.clone().drop_guard(),
                shared,
                router,
                #[cfg(feature = "kafka")]
                archive,
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Publishes a message to a room and returns its offset.
    ///
    /// One script numbers the message, appends it to the room's history
    /// (trimmed to about `history` messages) and publishes it, so every
    /// subscriber on every instance sees it at that offset. With
    /// [`HubBuilder::durable_archive`], the same script records the room for
    /// an [`ArchiveRelay`](crate::archive::ArchiveRelay), which archives it
    /// from the stream (crash-safe; `publish` never waits for Kafka). With
    /// the best-effort [`HubBuilder::archive`], the message is then handed to
    /// an in-process Kafka producer (see
    /// [`KafkaArchive`](crate::archive::KafkaArchive)).
    pub async fn publish<T: Serialize + ?Sized>(&self, room: &str, message: &T) -> Result<u64> {
        self.publish_position(room, message)
            .await
            .map(|position| position.offset)
    }

    /// Like [`publish`](Hub::publish), returning the epoch too.
    pub async fn publish_position<T: Serialize + ?Sized>(
        &self,
        room: &str,
        message: &T,
    ) -> Result<Position> {
        check_room(room)?;
        let payload = serde_json::to_vec(message).map_err(|error| Error::Codec {
            room: room.to_string(),
            reason: error.to_string(),
        })?;
        let span = tracing::debug_span!("publish", room);
        self.publish_json(room, payload).instrument(span).await
    }

    pub(crate) async fn publish_json(&self, room: &str, payload: Vec<u8>) -> Result<Position> {
        let shared = &self.inner.shared;
        let keys = RoomKeys::new(&shared.prefix, room);
        let mut conn = shared.conn.clone();
        let mut invocation = scripts::PUBLISH.prepare_invoke();
        invocation
            .key(&keys.offset)
            .key(&keys.epoch)
            .key(&keys.stream)
            .arg(&keys.channel)
            .arg(new_epoch())
            .arg(shared.history)
            .arg(&payload)
            .arg(shared.retention_ms)
            .arg(if shared.sharded {
                "SPUBLISH"
            } else {
                "PUBLISH"
            })
            .arg(room);
        if shared.durable_archive {
            invocation
                .key(&keys.archive)
                .key(crate::keys::archive_pending(&shared.prefix))
                .key(&keys.archive_gaps);
        }
        let published: redis::RedisResult<(u64, String)> = invocation.invoke_async(&mut conn).await;
        let (offset, epoch) = published.inspect_err(|_| bump(&shared.counters.publish_errors))?;
        bump(&shared.counters.published);
        #[cfg(feature = "kafka")]
        if let Some(archive) = &self.inner.archive {
            archive
                .send(room, offset, &epoch, &payload, &shared.counters)
                .await;
        }
        Ok(Position { offset, epoch })
    }

    /// Subscribes to a room with the hub's default options (see
    /// [`HubBuilder::subscription`]).
    ///
    /// Returns once the hub is subscribed: every message published after
    /// [`Subscription::start`] is delivered, in offset order, without gaps.
    pub async fn subscribe<T: DeserializeOwned>(&self, room: &str) -> Result<Subscription<T>> {
        self.subscribe_with(room, self.inner.shared.default_subscription)
            .await
    }

    /// Subscribes to a room with its own buffer size and slow-consumer
    /// policy.
    pub async fn subscribe_with<T: DeserializeOwned>(
        &self,
        room: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription<T>> {
        check_room(room)?;
        let mailbox = Mailbox::new(options);
        let span = tracing::debug_span!("subscribe", room);
        let (start, guard) = self
            .inner
            .router
            .subscribe(room, mailbox.clone())
            .instrument(span)
            .await?;
        Ok(Subscription::new(room.to_string(), mailbox, start, guard))
    }

    /// Reads up to `limit` messages of a room after offset `since` of
    /// `epoch` (see [`Recovery`]). Call again from the last offset while
    /// [`Recovery::Page::more`] is true. `since = 0` reads from the start of
    /// the room (any epoch).
    pub async fn recover<T: DeserializeOwned>(
        &self,
        room: &str,
        since: u64,
        epoch: &str,
        limit: usize,
    ) -> Result<Recovery<T>> {
        check_room(room)?;
        let span = tracing::debug_span!("recover", room, since);
        let raw = recover_raw(&self.inner.shared, room, since, epoch, limit)
            .instrument(span)
            .await?;
        decode_page(room, raw)
    }

    /// The room's current position (last offset and epoch; the default
    /// position if the room has no history).
    pub async fn head(&self, room: &str) -> Result<Position> {
        check_room(room)?;
        Ok(crate::recovery::read_head(&self.inner.shared, room).await?)
    }

    /// The presence of members in a room.
    pub fn presence(&self, room: &str) -> Presence {
        Presence::new(self.clone(), room.to_string())
    }

    /// Whether the hub's pub/sub connection is up.
    pub fn is_connected(&self) -> bool {
        *self.inner.router.connected().borrow()
    }

    /// Waits until the pub/sub connection is up (or `timeout`); `false` on
    /// timeout.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.inner.router.connected();
        tokio::time::timeout(timeout, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    /// The number of rooms this hub is subscribed to.
    pub fn room_count(&self) -> usize {
        self.inner.router.room_count()
    }

    /// Waits until every message handed to the archive is acknowledged by
    /// Kafka, or `timeout` passes.
    #[cfg(feature = "kafka")]
    pub async fn flush_archive(&self, timeout: Duration) -> Result<()> {
        match &self.inner.archive {
            Some(archive) => archive.flush(timeout).await,
            None => Ok(()),
        }
    }

    /// A snapshot of the hub's counters.
    pub fn stats(&self) -> HubStats {
        #[allow(unused_mut)]
        let mut stats = self.inner.shared.counters.snapshot();
        #[cfg(feature = "kafka")]
        if let Some(archive) = &self.inner.archive {
            let (archived, errors) = archive.delivered();
            stats.archived = archived;
            stats.archive_errors += errors;
        }
        stats
    }
}
