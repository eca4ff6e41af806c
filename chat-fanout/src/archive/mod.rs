//! The archive: every message, durably, outside Redis (feature `kafka`).
//!
//! Redis keeps a room's recent history; the archive keeps all of it.
//!
//! 1. [`KafkaArchive`] is given to the hub ([`HubBuilder::archive`](crate::HubBuilder::archive)):
//!    after the publish script succeeds, the message is produced to a Kafka
//!    topic with the room as key (one room, one partition: a room stays in
//!    order) and the frame `<offset> <epoch> <payload>` as value, so the
//!    realtime offset travels with it.
//! 2. [`PgArchive`] consumes the topic and writes each message into
//!    PostgreSQL, idempotently: the primary key is `(room, epoch, offset)`
//!    and inserts skip rows that exist, so a redelivered batch changes
//!    nothing. Kafka offsets are committed only after the rows are, so a
//!    crash replays rather than skips.
//!
//! Delivery to Kafka is asynchronous (`publish` does not wait for Kafka):
//! failures are counted in [`HubStats::archive_errors`](crate::HubStats::archive_errors)
//! and logged, and [`Hub::flush_archive`](crate::Hub::flush_archive) waits
//! for what is outstanding. The producer is idempotent with `acks=all`.

mod kafka;
mod postgres;

pub use kafka::KafkaArchive;
pub use postgres::{ArchivedMessage, PgArchive};
