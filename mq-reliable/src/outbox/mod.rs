//! The transactional outbox: a message is published if and only if the
//! database transaction that decided it committed.
//!
//! Writing a row and publishing a message are two systems; doing both
//! directly loses one of them whenever the process dies in between (the
//! order is saved but its event never sent, or the event sent for an order
//! that rolled back). The outbox makes the message part of the transaction:
//!
//! ```no_run
//! use mq_reliable::outbox::{Outbox, Relay};
//!
//! #[derive(serde::Serialize)]
//! struct OrderPlaced { order_id: i64 }
//!
//! # async fn demo(pool: sqlx::PgPool, publisher: mq_reliable::amqp::Publisher) -> mq_reliable::Result<()> {
//! let outbox = Outbox::new("mq_outbox")?;
//! outbox.create_table(&pool).await?; // once (or in a migration)
//!
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO orders (id) VALUES ($1)").bind(7_i64).execute(&mut *tx).await?;
//! // Destination: the exchange (RabbitMQ) or topic (Kafka); key: routing key or record key.
//! let message_id = outbox.enqueue(&mut tx, "orders", "order.placed", &OrderPlaced { order_id: 7 }).await?;
//! tx.commit().await?; // the order and its message, together
//!
//! // Elsewhere (any number of instances): publish what committed.
//! let relay = Relay::builder(pool.clone(), outbox, publisher).build();
//! relay.run_until(mq_reliable::shutdown_signal()).await;
//! # let _ = message_id; Ok(()) }
//! ```
//!
//! # The relay
//!
//! A [`Relay`] takes a batch of pending rows in one transaction
//! (`FOR UPDATE SKIP LOCKED`, so several relays share the work without
//! waiting on each other), publishes them — to RabbitMQ with publisher
//! confirms, to Kafka through the idempotent producer — and marks the rows
//! the broker acknowledged as sent, in the same transaction. A relay that
//! dies mid-batch leaves its rows unsent (the transaction rolls back) and
//! another relay publishes them again: at least once, never zero times.
//!
//! **Order per key.** Rows of one key are published in the order they were
//! enqueued (`seq`), one after the other (RabbitMQ: each waits for the
//! previous one's confirm; Kafka: one partition, idempotent producer). A
//! relay only publishes a key's rows while no earlier row of that key is
//! held by another relay, so two relays never interleave a key. (Rows of one
//! key enqueued by *concurrent* transactions are ordered by `seq`, i.e.
//! insertion; when order between such writers matters, serialize them, for
//! instance with a row lock on the aggregate the key names.)
//!
//! **Dedupe.** Every row has a UUID that becomes the message id (the AMQP
//! `message-id` property, the Kafka `x-message-id` header), so a consumer
//! with an [inbox](crate::inbox) applies a re-published row once.
//!
//! **Broker down.** A batch whose publishes fail is rolled back to pending
//! (the rows' `attempts` and `last_error` are updated) and the relay backs
//! off (100 ms doubling to 10 s by default) until the broker answers again.
//!
//! # The table
//!
//! ```sql
//! seq         bigserial PRIMARY KEY   -- publication order
//! id          uuid NOT NULL UNIQUE    -- the message id
//! destination text NOT NULL           -- exchange or topic
//! key         text NOT NULL           -- routing key or record key
//! payload     bytea NOT NULL          -- the JSON body
//! created_at  timestamptz NOT NULL DEFAULT now()
//! sent_at     timestamptz             -- NULL while pending
//! attempts    integer NOT NULL DEFAULT 0
//! last_error  text
//! ```
//!
//! Sent rows stay for inspection until [`Outbox::purge_sent_older_than`].
//! One table feeds one broker: give each broker its own table and relay.

mod relay;

pub use relay::{Relay, RelayBuilder, RelayStats, Target};

use std::time::Duration;

use serde::Serialize;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::error::Result;

/// An outbox table: [`enqueue`](Self::enqueue) in the caller's transaction,
/// published by a [`Relay`].
#[derive(Debug, Clone)]
pub struct Outbox {
    table: String,
    sql: Statements,
}

#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub(crate) insert: String,
    pub(crate) claim: String,
    pub(crate) blockers: String,
    pub(crate) mark_sent: String,
    pub(crate) mark_failed: String,
    pub(crate) pending: String,
    pub(crate) purge: String,
}

impl Outbox {
    /// An outbox in `table` (a plain identifier: letters, digits, `_`,
    /// optionally `schema.table`).
    pub fn new(table: impl Into<String>) -> Result<Self> {
        let table = crate::sql_identifier::checked_table("outbox", table.into())?;
        let t = &table;
        let sql = Statements {
            insert: format!(
                "INSERT INTO {t} (id, destination, key, payload) VALUES ($1, $2, $3, $4)"
            ),
            claim: format!(
                "SELECT seq, id, destination, key, payload FROM {t} WHERE sent_at IS NULL \
                 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            blockers: format!(
                "SELECT key, min(seq) FROM {t} WHERE sent_at IS NULL AND key = ANY($1) \
                 AND NOT (seq = ANY($2)) GROUP BY key"
            ),
            mark_sent: format!("UPDATE {t} SET sent_at = now() WHERE seq = ANY($1)"),
            mark_failed: format!(
                "UPDATE {t} SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1)"
            ),
            pending: format!("SELECT count(*) FROM {t} WHERE sent_at IS NULL"),
            purge: format!(
                "DELETE FROM {t} WHERE sent_at IS NOT NULL \
                 AND sent_at < now() - make_interval(secs => $1)"
            ),
        };
        Ok(Self { table, sql })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn statements(&self) -> &Statements {
        &self.sql
    }

    /// Creates the table and its pending-row indexes if they do not exist.
    pub async fn create_table(&self, pool: &PgPool) -> Result<()> {
        let t = &self.table;
        let index = t.replace('.', "_");
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                seq bigserial PRIMARY KEY,
                id uuid NOT NULL UNIQUE,
                destination text NOT NULL,
                key text NOT NULL,
                payload bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                sent_at timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                last_error text
             );
             CREATE INDEX IF NOT EXISTS {index}_pending ON {t} (seq) WHERE sent_at IS NULL;
             CREATE INDEX IF NOT EXISTS {index}_pending_key ON {t} (key, seq) WHERE sent_at IS NULL;"
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await?;
        Ok(())
    }

    /// Adds a message to the outbox on `conn` — pass `&mut tx` of the
    /// transaction that makes the change the message announces. It is
    /// published after that transaction commits, and never if it rolls back.
    /// `destination` is the exchange (RabbitMQ) or topic (Kafka), `key` the
    /// routing key or record key; the payload is stored as JSON. Returns the
    /// message id consumers will see.
    pub async fn enqueue<T: Serialize + ?Sized>(
        &self,
        conn: &mut PgConnection,
        destination: &str,
        key: &str,
        payload: &T,
    ) -> Result<uuid::Uuid> {
        let id = uuid::Uuid::new_v4();
        self.enqueue_with_id(conn, id, destination, key, payload)
            .await?;
        Ok(id)
    }

    /// Like [`enqueue`](Self::enqueue) with a message id of the caller's
    /// choice: the id of the thing the message is about, when the message
    /// may also reach the broker another way (a direct publish that timed
    /// out) and the consumer's [inbox](crate::inbox) must see both copies as
    /// one. A second row with the same id fails (the id is unique).
    pub async fn enqueue_with_id<T: Serialize + ?Sized>(
        &self,
        conn: &mut PgConnection,
        id: uuid::Uuid,
        destination: &str,
        key: &str,
        payload: &T,
    ) -> Result<()> {
        let body = serde_json::to_vec(payload)?;
        sqlx::query(AssertSqlSafe(self.sql.insert.clone()))
            .bind(id)
            .bind(destination)
            .bind(key)
            .bind(body)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Rows not yet published (committed ones only).
    pub async fn pending(&self, pool: &PgPool) -> Result<i64> {
        let (count,): (i64,) = sqlx::query_as(AssertSqlSafe(self.sql.pending.clone()))
            .fetch_one(pool)
            .await?;
        Ok(count)
    }

    /// Deletes rows sent more than `age` ago. Returns how many.
    pub async fn purge_sent_older_than(&self, pool: &PgPool, age: Duration) -> Result<u64> {
        let deleted = sqlx::query(AssertSqlSafe(self.sql.purge.clone()))
            .bind(age.as_secs_f64())
            .execute(pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        assert!(Outbox::new("mq_outbox").is_ok());
        assert!(Outbox::new("app.outbox").is_ok());
        assert!(Outbox::new("x; drop table y").is_err());
        assert!(Outbox::new("").is_err());
    }
}
