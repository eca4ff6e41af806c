//! The PostgreSQL side of the archive.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sqlx::{AssertSqlSafe, PgPool};
use tokio_util::sync::CancellationToken;

use crate::envelope::RawEnvelope;
use crate::error::{Error, Result};

/// One archived message, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// The room (the Kafka key).
    pub room: String,
    /// The epoch of the room's history.
    pub epoch: String,
    /// The realtime offset.
    pub offset: u64,
    /// The message's JSON.
    pub payload: String,
}

impl ArchivedMessage {
    /// Parses a Kafka record produced by [`KafkaArchive`](super::KafkaArchive).
    pub fn from_record(key: &[u8], value: &[u8]) -> Option<Self> {
        let raw = RawEnvelope::parse_frame(value)?;
        Some(Self {
            room: String::from_utf8(key.to_vec()).ok()?,
            epoch: raw.epoch.to_string(),
            offset: raw.offset,
            payload: String::from_utf8(raw.payload.to_vec()).ok()?,
        })
    }
}

/// One page of a room's archive ([`PgArchive::read`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchivePage {
    /// Archived messages in offset order. Offsets are consecutive unless a
    /// message was never archived (an [`ArchiveGap`](super::ArchiveGap)
    /// was reported for it) or has not been archived yet.
    pub messages: Vec<ArchivedMessage>,
    /// More archived messages of the epoch follow this page.
    pub more: bool,
}

impl ArchivePage {
    /// The offset to read after for the next page (the page's last offset,
    /// or `after` itself when the page is empty).
    pub fn next(&self, after: u64) -> u64 {
        self.messages.last().map_or(after, |m| m.offset)
    }
}

/// Writes the archive topic into a PostgreSQL table, idempotently (see the
/// [module docs](crate::archive)).
///
/// The table (default `chat_archive`):
///
/// ```sql
/// CREATE TABLE chat_archive (
///     room        text        NOT NULL,
///     epoch       text        NOT NULL,
///     "offset"    bigint      NOT NULL,
///     payload     jsonb       NOT NULL,
///     archived_at timestamptz NOT NULL DEFAULT now(),
///     PRIMARY KEY (room, epoch, "offset")
/// );
/// ```
#[derive(Debug, Clone)]
pub struct PgArchive {
    pool: PgPool,
    table: String,
    batch: usize,
    linger: Duration,
}

impl PgArchive {
    /// An archive writing to `chat_archive`, in batches of up to 1,000 rows
    /// gathered for at most 50 ms.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            table: "chat_archive".into(),
            batch: 1_000,
            linger: Duration::from_millis(50),
        }
    }

    /// The table's name (letters, digits and `_` only).
    pub fn table(mut self, table: impl Into<String>) -> Result<Self> {
        let table = table.into();
        if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Config(format!("invalid table name {table:?}")));
        }
        self.table = table;
        Ok(self)
    }

    /// Rows per insert (default 1,000).
    pub fn batch(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    fn db(error: sqlx::Error) -> Error {
        Error::Archive(format!("postgres: {error}"))
    }

    /// Creates the table if it does not exist.
    pub async fn migrate(&self) -> Result<()> {
        let sql = format!(
            r#"CREATE TABLE IF NOT EXISTS {} (
                room text NOT NULL,
                epoch text NOT NULL,
                "offset" bigint NOT NULL,
                payload jsonb NOT NULL,
                archived_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (room, epoch, "offset")
            )"#,
            self.table
        );
        // The table name is checked to be a plain identifier.
        sqlx::query(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map_err(Self::db)?;
        Ok(())
    }

    /// Inserts messages, skipping those already archived. Returns how many
    /// rows were new.
    pub async fn write(&self, messages: &[ArchivedMessage]) -> Result<u64> {
        if messages.is_empty() {
            return Ok(0);
        }
        let rooms: Vec<&str> = messages.iter().map(|m| m.room.as_str()).collect();
        let epochs: Vec<&str> = messages.iter().map(|m| m.epoch.as_str()).collect();
        let offsets: Vec<i64> = messages.iter().map(|m| m.offset as i64).collect();
        let payloads: Vec<&str> = messages.iter().map(|m| m.payload.as_str()).collect();
        let sql = format!(
            r#"INSERT INTO {} (room, epoch, "offset", payload)
               SELECT r, e, o, p::jsonb
               FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[]) AS t(r, e, o, p)
               ON CONFLICT DO NOTHING"#,
            self.table
        );
        // The table name is checked to be a plain identifier.
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(rooms)
            .bind(epochs)
            .bind(offsets)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .map_err(Self::db)?;
        Ok(done.rows_affected())
    }

    /// Reads one page of room `room`'s archive: the messages of `epoch`
    /// after offset `after`, in offset order, at most `limit` of them (see
    /// [`ArchivePage`]). This is where a client goes when
    /// [`Recovery::Incomplete`](crate::Recovery::Incomplete) says Redis no
    /// longer holds what it missed; [`WsBridge::archive`](crate::ws::WsBridge)
    /// does it for WebSocket clients.
    ///
    /// The page is read with the primary key's index (`room, epoch, offset`),
    /// so its cost does not grow with the archive's size. The archive lags
    /// the room by the relay's and the archiver's delay: a page may end
    /// before the offset a caller needs; [`ArchivePage::next`] says where to
    /// read on.
    pub async fn read(
        &self,
        room: &str,
        epoch: &str,
        after: u64,
        limit: usize,
    ) -> Result<ArchivePage> {
        let sql = format!(
            r#"SELECT "offset", payload::text FROM {}
               WHERE room = $1 AND epoch = $2 AND "offset" > $3
               ORDER BY "offset" LIMIT $4"#,
            self.table
        );
        let limit = limit.clamp(1, 10_000);
        // The table name is checked to be a plain identifier.
        let rows: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(room)
            .bind(epoch)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(Self::db)?;
        let more = rows.len() > limit;
        let messages = rows
            .into_iter()
            .take(limit)
            .map(|(offset, payload)| ArchivedMessage {
                room: room.to_string(),
                epoch: epoch.to_string(),
                offset: offset as u64,
                payload,
            })
            .collect();
        Ok(ArchivePage { messages, more })
    }

    /// Consumes `topic` with `config` (which must set `bootstrap.servers`
    /// and `group.id`) and archives every message until `stop`; commits
    /// Kafka offsets only after the rows are written. Returns how many rows
    /// were new.
    pub async fn run(
        &self,
        mut config: ClientConfig,
        topic: &str,
        stop: CancellationToken,
    ) -> Result<u64> {
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        if config.get("auto.offset.reset").is_none() {
            config.set("auto.offset.reset", "earliest");
        }
        let consumer: StreamConsumer = config
            .create()
            .map_err(|error| Error::Archive(format!("creating the Kafka consumer: {error}")))?;
        consumer
            .subscribe(&[topic])
            .map_err(|error| Error::Archive(format!("subscribing to {topic}: {error}")))?;
        let mut written = 0;
        let mut stream = consumer.stream();
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => break,
                next = stream.next() => next,
            };
            let Some(first) = first else { break };
            let mut batch = Vec::with_capacity(self.batch);
            let mut positions: HashMap<(String, i32), i64> = HashMap::new();
            let take = |batch: &mut Vec<ArchivedMessage>,
                        positions: &mut HashMap<(String, i32), i64>,
                        message: rdkafka::message::BorrowedMessage<'_>| {
                positions.insert(
                    (message.topic().to_string(), message.partition()),
                    message.offset(),
                );
                match ArchivedMessage::from_record(
                    message.key().unwrap_or_default(),
                    message.payload().unwrap_or_default(),
                ) {
                    Some(archived) => batch.push(archived),
                    None => tracing::warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        "skipping a record that is not an archived chat message"
                    ),
                }
            };
            take(
                &mut batch,
                &mut positions,
                first.map_err(|error| Error::Archive(format!("consuming: {error}")))?,
            );
            let deadline = tokio::time::Instant::now() + self.linger;
            while batch.len() < self.batch {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(Ok(message))) => take(&mut batch, &mut positions, message),
                    Ok(Some(Err(error))) => {
                        return Err(Error::Archive(format!("consuming: {error}")));
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            written += self.write(&batch).await?;
            let mut commit = TopicPartitionList::new();
            for ((topic, partition), offset) in &positions {
                commit
                    .add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
                    .map_err(|error| Error::Archive(error.to_string()))?;
            }
            consumer
                .commit(&commit, CommitMode::Async)
                .map_err(|error| Error::Archive(format!("committing offsets: {error}")))?;
        }
        Ok(written)
    }
}
