//! The archive: every message, durably, outside Redis (feature `kafka`).
//!
//! Redis keeps a room's recent history; the archive keeps all of it.
//!
//! 1. **Crash-safe relay (the default to use).** A hub built with
//!    [`HubBuilder::durable_archive`](crate::HubBuilder::durable_archive)
//!    records, in the same atomic publish script that numbers, stores and
//!    sends the message, that the room has something to archive (a pending
//!    set, and the room's head in its archive record). An [`ArchiveRelay`]
//!    (any number of processes) tails the rooms' streams from each room's
//!    checkpoint (last archived offset + epoch, in Redis), produces to a
//!    Kafka topic with the room as key (one room, one partition: a room
//!    stays in order) and the frame `<offset> <epoch> <payload>` as value,
//!    waits for the acknowledgements (`acks=all`, idempotent producer), and
//!    only then moves the checkpoint. A relay killed at any point resumes
//!    from the checkpoint (at-least-once into Kafka). Concurrent relays
//!    share the rooms through a per-room lease (`SET NX PX`, renewed every
//!    batch; the checkpoint moves only while the lease is held). If Redis
//!    trimmed or lost messages before the relay read them, the relay reports
//!    an [`ArchiveGap`] (event, error log, counter): never a silent skip.
//!    `publish` never waits for Kafka.
//! 2. [`PgArchive`] consumes the topic and writes each message into
//!    PostgreSQL, idempotently: the primary key is `(room, epoch, offset)`
//!    and inserts skip rows that exist, so a redelivered batch, or a message
//!    a restarted relay produced twice, changes nothing. Kafka offsets are
//!    committed only after the rows are, so a crash replays rather than
//!    skips. [`PgArchive::read`] pages through a room's archive by offset:
//!    the fallback a [`Recovery::Incomplete`](crate::Recovery::Incomplete)
//!    points to when Redis has trimmed what a client missed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chat_fanout::Error> {
//! use chat_fanout::archive::{ArchiveRelay, PgArchive};
//! use tokio_util::sync::CancellationToken;
//!
//! let redis = redis::Client::open("redis://127.0.0.1:6379")?;
//! let hub = chat_fanout::Hub::builder(redis.clone())
//!     .history(100_000) // covers the relay's longest outage
//!     .durable_archive()
//!     .build()
//!     .await?;
//!
//! let mut kafka = rdkafka::ClientConfig::new();
//! kafka.set("bootstrap.servers", "127.0.0.1:9092");
//! let relay = ArchiveRelay::builder(redis, kafka, "chat-archive").build().await?;
//! let mut gaps = relay.gaps();
//! tokio::spawn(async move {
//!     while let Ok(gap) = gaps.recv().await {
//!         eprintln!("never archived: {gap:?}"); // alert
//!     }
//! });
//! let stop = CancellationToken::new();
//! tokio::spawn({
//!     let stop = stop.clone();
//!     async move { relay.run(stop).await }
//! });
//! hub.publish("room:1", &"hello").await?;
//! # Ok(())
//! # }
//! ```
//!
//! **Best-effort in-process mode.** [`KafkaArchive`] given to
//! [`HubBuilder::archive`](crate::HubBuilder::archive) hands each message to
//! an in-process Kafka producer right after the publish script, without
//! waiting for the acknowledgement: lower latency to Kafka and no relay to
//! run, but a message enqueued and not yet acknowledged when the process
//! dies never reaches the archive, and nothing reports it. Failures that the
//! process lives to see are counted in
//! [`HubStats::archive_errors`](crate::HubStats::archive_errors) and logged,
//! and [`Hub::flush_archive`](crate::Hub::flush_archive) waits for what is
//! outstanding.

mod kafka;
mod postgres;
mod relay;
mod stats;

pub use kafka::KafkaArchive;
pub use postgres::{ArchivePage, ArchivedMessage, PgArchive};
pub use relay::{ArchiveGap, ArchiveRelay, ArchiveRelayBuilder};
pub use stats::RelayStats;
