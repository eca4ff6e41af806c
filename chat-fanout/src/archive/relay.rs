//! The crash-safe archive: a relay from the rooms' Redis streams to Kafka.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use redis::Value;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::{Position, RawEnvelope};
use crate::error::{Error, Result};
use crate::keys::{RoomKeys, archive_pending, check_room};
use crate::scripts;
use crate::stats::{add, bump};

use super::stats::{RelayCounters, RelayStats};

/// Messages of a room that will never reach the archive: Redis no longer
/// holds them and the relay had not archived them.
///
/// Reported by [`ArchiveRelay`] (on [`ArchiveRelay::gaps`], as an error log,
/// and in [`RelayStats::gaps`]) when a room's stream was trimmed past the
/// relay's checkpoint (the relay was down, or behind, for longer than
/// `history` messages), or when the room's epoch changed before the old epoch
/// was fully archived (the room expired, or Redis lost it). The messages may
/// still be in a client's hands, never in the archive: the application
/// decides what to do (alert, ask clients, accept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveGap {
    /// The room.
    pub room: String,
    /// The epoch the missing offsets belong to.
    pub epoch: String,
    /// The first missing offset.
    pub from: u64,
    /// The last missing offset; `None` when Redis no longer knows how far
    /// that epoch went (its data was lost outside the publish script), in
    /// which case everything from `from` on may be missing.
    pub to: Option<u64>,
}

impl ArchiveGap {
    /// How many messages are missing, if known.
    pub fn len(&self) -> Option<u64> {
        self.to.map(|to| (to + 1).saturating_sub(self.from))
    }

    /// Whether the range is known to be empty (never, for a reported gap).
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// Configures an [`ArchiveRelay`]; every setting has a production default.
#[must_use = "a builder does nothing until `build()` is called"]
pub struct ArchiveRelayBuilder {
    client: redis::Client,
    kafka: ClientConfig,
    topic: String,
    prefix: String,
    name: Option<String>,
    lease: Duration,
    batch: usize,
    concurrency: usize,
    idle_poll: Duration,
    response_timeout: Duration,
}

impl std::fmt::Debug for ArchiveRelayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveRelayBuilder")
            .field("topic", &self.topic)
            .field("prefix", &self.prefix)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ArchiveRelayBuilder {
    /// The prefix of the hubs whose rooms are archived (default `chat`, as
    /// [`HubBuilder::prefix`](crate::HubBuilder::prefix)).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The relay's name, held in the per-room leases (default: random per
    /// relay). A relay restarted under the same name takes its rooms back at
    /// once instead of waiting for their leases to expire; two running
    /// relays must never share a name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How long a room's lease lasts without renewal (default 30 s; renewed
    /// at every batch, released when the room is caught up). When a relay
    /// dies mid-room, that room waits this long for another relay (unless
    /// the relay comes back under the same [`name`](Self::name)). Keep it
    /// above the time Kafka may take to acknowledge a batch: a relay that
    /// outlives its lease loses the room (its checkpoint does not move) and
    /// the next holder produces the batch again.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// Messages read, produced and acknowledged per checkpoint move
    /// (default 1,000).
    pub fn batch(mut self, messages: usize) -> Self {
        self.batch = messages.max(1);
        self
    }

    /// Rooms archived at the same time (default 16).
    pub fn concurrency(mut self, rooms: usize) -> Self {
        self.concurrency = rooms.max(1);
        self
    }

    /// How long [`ArchiveRelay::run`] waits before looking again when no
    /// room had anything to archive (default 100 ms): the archive's latency
    /// when the chat is quiet.
    pub fn idle_poll(mut self, interval: Duration) -> Self {
        self.idle_poll = interval;
        self
    }

    /// Connects to Redis and creates the Kafka producer (with
    /// `enable.idempotence=true` and `acks=all` unless `kafka` sets them).
    pub async fn build(self) -> Result<ArchiveRelay> {
        if self.prefix.is_empty() || self.prefix.contains([' ', '{', '}']) {
            return Err(Error::Config(format!(
                "prefix {:?} must be non-empty, without spaces or braces",
                self.prefix
            )));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.response_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(self.client, config).await?;
        let mut kafka = self.kafka;
        super::kafka::safe_producer_config(&mut kafka);
        let producer: FutureProducer = kafka
            .create()
            .map_err(|error| Error::Archive(format!("creating the Kafka producer: {error}")))?;
        let (gaps, _) = broadcast::channel(1_024);
        Ok(ArchiveRelay {
            inner: Arc::new(Inner {
                conn,
                producer,
                topic: self.topic,
                prefix: self.prefix,
                name: self
                    .name
                    .unwrap_or_else(|| format!("relay-{:016x}", rand::random::<u64>())),
                lease_ms: self.lease.as_millis() as u64,
                batch: self.batch,
                concurrency: self.concurrency,
                idle_poll: self.idle_poll,
                gaps,
                counters: RelayCounters::default(),
            }),
        })
    }
}

struct Inner {
    conn: ConnectionManager,
    producer: FutureProducer,
    topic: String,
    prefix: String,
    name: String,
    lease_ms: u64,
    batch: usize,
    concurrency: usize,
    idle_poll: Duration,
    gaps: broadcast::Sender<ArchiveGap>,
    counters: RelayCounters,
}

/// Archives the rooms of hubs built with
/// [`HubBuilder::durable_archive`](crate::HubBuilder::durable_archive) from
/// their Redis streams to Kafka, crash-safely (see the
/// [module docs](crate::archive)).
///
/// Each pass takes the rooms of the pending set; for each room it takes the
/// room's lease (`SET NX PX`, so concurrent relays share the rooms), reads
/// the messages after the room's checkpoint, produces them keyed by room and
/// **waits for Kafka's acknowledgements** before moving the checkpoint.
/// A relay killed at any point resumes from the checkpoint: a message is
/// produced at least once, and [`PgArchive`](super::PgArchive) stores it
/// once per `(room, epoch, offset)`. What Redis trimmed or lost before the
/// relay read it is reported as an [`ArchiveGap`], never skipped silently.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct ArchiveRelay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ArchiveRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveRelay")
            .field("name", &self.inner.name)
            .field("topic", &self.inner.topic)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// What one read of a room gave.
struct Batch {
    epoch: String,
    head: u64,
    since: u64,
    gaps: Vec<ArchiveGap>,
    recorded_gaps: usize,
    messages: Vec<(u64, Vec<u8>)>,
}

type Entries = Vec<(String, Vec<Vec<u8>>)>;
/// The gaps the publish script recorded for the room, as `ArchiveGap`s
/// (an unreadable record is logged and skipped).
fn recorded_gaps(room: &str, recorded: &[String]) -> Vec<ArchiveGap> {
    let mut gaps = Vec::new();
    for entry in recorded {
        match parse_recorded_gap(room, entry) {
            Some(gap) => gaps.push(gap),
            None => tracing::error!(room, entry, "unreadable archive gap record"),
        }
    }
    gaps
}

/// A page of the room's stream as (offset, frame) pairs.
fn stream_messages(page: Entries) -> std::result::Result<Vec<(u64, Vec<u8>)>, String> {
    let mut messages = Vec::with_capacity(page.len());
    for (id, fields) in page {
        let offset = id
            .split('-')
            .next()
            .and_then(|offset| offset.parse().ok())
            .ok_or_else(|| format!("unexpected stream id {id}"))?;
        messages.push((offset, fields.into_iter().nth(1).unwrap_or_default()));
    }
    Ok(messages)
}

/// The last offset trimmed from the stream before the relay read it: the
/// page starts after `since + 1`, or is empty while the head moved on.
fn trimmed_before(messages: &[(u64, Vec<u8>)], head: u64, since: u64) -> Option<u64> {
    let wanted = since + 1;
    match messages.first() {
        Some((first, _)) if *first > wanted => Some(first - 1),
        None if head > since => Some(head),
        _ => None,
    }
}

fn parse_recorded_gap(room: &str, entry: &str) -> Option<ArchiveGap> {
    let mut parts = entry.split(' ');
    let epoch = parts.next()?.to_string();
    let from = parts.next()?.parse().ok()?;
    let to = parts.next()?.parse().ok()?;
    Some(ArchiveGap {
        room: room.to_string(),
        epoch,
        from,
        to: Some(to),
    })
}

impl ArchiveRelay {
    /// Starts configuring a relay reading the hubs' Redis and producing to
    /// `topic` with `kafka` (at least `bootstrap.servers`).
    pub fn builder(
        client: redis::Client,
        kafka: ClientConfig,
        topic: impl Into<String>,
    ) -> ArchiveRelayBuilder {
        ArchiveRelayBuilder {
            client,
            kafka,
            topic: topic.into(),
            prefix: "chat".into(),
            name: None,
            lease: Duration::from_secs(30),
            batch: 1_000,
            concurrency: 16,
            idle_poll: Duration::from_millis(100),
            response_timeout: Duration::from_secs(5),
        }
    }

    /// The relay's name (in the leases it holds).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The gaps this relay reports from now on. A receiver that falls more
    /// than 1,024 gaps behind gets `RecvError::Lagged` (the gaps are still
    /// logged and counted in [`RelayStats::gaps`]).
    pub fn gaps(&self) -> broadcast::Receiver<ArchiveGap> {
        self.inner.gaps.subscribe()
    }

    /// A snapshot of the relay's counters.
    pub fn stats(&self) -> RelayStats {
        self.inner.counters.snapshot()
    }

    /// A room's checkpoint: the last offset archived (acknowledged by Kafka)
    /// and its epoch; the default position if nothing was archived yet.
    pub async fn checkpoint(&self, room: &str) -> Result<Position> {
        check_room(room)?;
        let keys = RoomKeys::new(&self.inner.prefix, room);
        let mut conn = self.inner.conn.clone();
        let (epoch, offset): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(&keys.archive)
            .arg("epoch")
            .arg("offset")
            .query_async(&mut conn)
            .await?;
        Ok(Position {
            offset: offset.unwrap_or(0),
            epoch: epoch.unwrap_or_default(),
        })
    }

    /// How many rooms have messages not archived yet.
    pub async fn pending_rooms(&self) -> Result<u64> {
        let mut conn = self.inner.conn.clone();
        Ok(redis::cmd("SCARD")
            .arg(archive_pending(&self.inner.prefix))
            .query_async(&mut conn)
            .await?)
    }

    /// Archives until `stop` is cancelled: passes over the pending rooms
    /// back to back while there is work, one every
    /// [`idle_poll`](ArchiveRelayBuilder::idle_poll) otherwise. Errors are
    /// logged and counted ([`RelayStats::errors`]) and the rooms retried
    /// from their checkpoints; a room being archived when `stop` comes
    /// finishes its batch first.
    pub async fn run(&self, stop: CancellationToken) -> Result<()> {
        while !stop.is_cancelled() {
            let busy = match self.run_once().await {
                Ok(archived) => archived > 0,
                Err(error) => {
                    tracing::warn!(relay = %self.inner.name, %error, "archive pass failed; retrying");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(self.inner.idle_poll) => {}
                }
            }
        }
        Ok(())
    }

    /// One pass: archives every pending room up to its head (up to 16
    /// batches per room, so a hot room cannot hold the pass) and returns how
    /// many messages were archived. Fails with the first room's error after
    /// the other rooms were done (the failed rooms stay pending).
    pub async fn run_once(&self) -> Result<u64> {
        let mut conn = self.inner.conn.clone();
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(archive_pending(&self.inner.prefix))
            .query_async(&mut conn)
            .await?;
        let results: Vec<Result<u64>> = futures::stream::iter(rooms)
            .map(|room| async move {
                let span = tracing::debug_span!("archive_room", room = %room);
                self.archive_room(&room).instrument(span).await
            })
            .buffer_unordered(self.inner.concurrency)
            .collect()
            .await;
        let mut archived = 0;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(n) => archived += n,
                Err(error) => {
                    bump(&self.inner.counters.errors);
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(archived),
        }
    }

    async fn archive_room(&self, room: &str) -> Result<u64> {
        const BATCHES_PER_PASS: usize = 16;
        let inner = &self.inner;
        let keys = RoomKeys::new(&inner.prefix, room);
        let mut archived = 0;
        let mut rechecked = false;
        for _ in 0..BATCHES_PER_PASS {
            let Some(batch) = self.read(room, &keys).await? else {
                bump(&inner.counters.lease_conflicts);
                return Ok(archived);
            };
            for gap in &batch.gaps {
                self.report(gap);
            }
            self.produce(room, &batch.epoch, &batch.messages).await?;
            let last = match batch.messages.last() {
                Some((offset, _)) => *offset,
                None => batch.since.max(batch.head),
            };
            let mut conn = inner.conn.clone();
            let committed: i64 = scripts::ARCHIVE_COMMIT
                .key(&keys.offset)
                .key(&keys.epoch)
                .key(&keys.archive)
                .key(&keys.archive_lease)
                .key(&keys.archive_gaps)
                .key(archive_pending(&inner.prefix))
                .arg(&inner.name)
                .arg(inner.lease_ms)
                .arg(&batch.epoch)
                .arg(last)
                .arg(batch.recorded_gaps)
                .arg(room)
                .invoke_async(&mut conn)
                .await?;
            match committed {
                0 => {
                    tracing::warn!(room, "lost the room's archive lease before the checkpoint");
                    bump(&inner.counters.lease_conflicts);
                    return Ok(archived);
                }
                -1 => continue, // a new epoch started: read it
                _ => {}
            }
            let n = batch.messages.len() as u64;
            archived += n;
            add(&inner.counters.archived, n);
            bump(&inner.counters.batches);
            if batch.epoch.is_empty() {
                // The room is gone: the commit recorded what its epoch had
                // not archived; read once more to report it.
                if rechecked || batch.recorded_gaps > 0 {
                    break;
                }
                rechecked = true;
            } else if batch.messages.len() < inner.batch && last >= batch.head {
                break;
            }
        }
        Ok(archived)
    }

    /// Takes the lease and reads the next batch; `None` if another relay
    /// holds the room.
    async fn read(&self, room: &str, keys: &RoomKeys) -> Result<Option<Batch>> {
        let inner = &self.inner;
        let mut conn = inner.conn.clone();
        let raw: Vec<Value> = scripts::ARCHIVE_READ
            .key(&keys.offset)
            .key(&keys.epoch)
            .key(&keys.stream)
            .key(&keys.archive)
            .key(&keys.archive_lease)
            .key(&keys.archive_gaps)
            .arg(&inner.name)
            .arg(inner.lease_ms)
            .arg(inner.batch)
            .invoke_async(&mut conn)
            .await?;
        let codec = |reason: String| Error::Codec {
            room: room.to_string(),
            reason,
        };
        if raw.len() < 8 {
            return Ok(None);
        }
        let mut fields = raw.into_iter().skip(1);
        let mut next = || fields.next().unwrap_or(Value::Nil);
        let parse_error = |error: redis::ParsingError| codec(format!("archive read: {error}"));
        let epoch: String = redis::from_redis_value(next()).map_err(parse_error)?;
        let head: u64 = redis::from_redis_value(next()).map_err(parse_error)?;
        let checkpoint_epoch: String = redis::from_redis_value(next()).map_err(parse_error)?;
        let checkpoint: u64 = redis::from_redis_value(next()).map_err(parse_error)?;
        let since: u64 = redis::from_redis_value(next()).map_err(parse_error)?;
        let recorded: Vec<String> = redis::from_redis_value(next()).map_err(parse_error)?;
        let page: Entries = redis::from_redis_value(next()).map_err(parse_error)?;

        let messages = stream_messages(page).map_err(codec)?;
        let mut gaps = recorded_gaps(room, &recorded);
        if !epoch.is_empty() && !checkpoint_epoch.is_empty() && checkpoint_epoch != epoch {
            // The room's data changed epoch outside the publish script.
            gaps.push(ArchiveGap {
                room: room.to_string(),
                epoch: checkpoint_epoch,
                from: checkpoint + 1,
                to: None,
            });
        }
        if !epoch.is_empty()
            && let Some(to) = trimmed_before(&messages, head, since)
        {
            gaps.push(ArchiveGap {
                room: room.to_string(),
                epoch: epoch.clone(),
                from: since + 1,
                to: Some(to),
            });
        }
        Ok(Some(Batch {
            epoch,
            head,
            since,
            gaps,
            recorded_gaps: recorded.len(),
            messages,
        }))
    }

    fn report(&self, gap: &ArchiveGap) {
        let counters = &self.inner.counters;
        bump(&counters.gaps);
        add(&counters.gap_messages, gap.len().unwrap_or(0));
        tracing::error!(
            room = %gap.room,
            epoch = %gap.epoch,
            from = gap.from,
            to = ?gap.to,
            "messages lost before they were archived (history trimmed or the room's data lost)"
        );
        let _ = self.inner.gaps.send(gap.clone());
    }

    /// Produces the messages in offset order and waits for every
    /// acknowledgement.
    async fn produce(&self, room: &str, epoch: &str, messages: &[(u64, Vec<u8>)]) -> Result<()> {
        let inner = &self.inner;
        let mut pending: VecDeque<DeliveryFuture> = VecDeque::with_capacity(messages.len());
        for (offset, payload) in messages {
            let frame = RawEnvelope::frame(*offset, epoch, payload);
            loop {
                let record = FutureRecord::to(&inner.topic).key(room).payload(&frame);
                match inner.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        match pending.pop_front() {
                            Some(delivery) => acknowledged(room, delivery).await?,
                            // The queue is full of other rooms' messages.
                            None => tokio::time::sleep(Duration::from_millis(2)).await,
                        }
                    }
                    Err((error, _)) => {
                        return Err(Error::Archive(format!(
                            "producing offset {offset} of {room}: {error}"
                        )));
                    }
                }
            }
        }
        for delivery in pending {
            acknowledged(room, delivery).await?;
        }
        Ok(())
    }
}

async fn acknowledged(room: &str, delivery: DeliveryFuture) -> Result<()> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(Error::Archive(format!(
            "Kafka did not acknowledge a message of {room}: {error}"
        ))),
        Err(_) => Err(Error::Archive(format!(
            "the Kafka producer dropped a message of {room}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_gaps_parse() {
        let gap = parse_recorded_gap("r", "abc 6 40").unwrap();
        assert_eq!(
            gap,
            ArchiveGap {
                room: "r".into(),
                epoch: "abc".into(),
                from: 6,
                to: Some(40)
            }
        );
        assert_eq!(gap.len(), Some(35));
        assert!(parse_recorded_gap("r", "abc 6").is_none());
    }
}
