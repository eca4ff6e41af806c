//! The PostgreSQL inbox: message ids recorded in the handler's transaction.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};

use super::guarded::Guarded;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::outcome::Outcome;

/// Records processed message ids in a table, inside the caller's transaction.
///
/// ```no_run
/// use mq_reliable::{Message, Outcome, inbox::PgInbox};
///
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = PgInbox::new("mq_inbox")?;
/// inbox.create_table(&pool).await?; // once, at start-up (or in a migration)
///
/// async fn handle(pool: &sqlx::PgPool, inbox: &PgInbox, msg: Message<u64>) -> Result<(), Outcome> {
///     let mut tx = pool.begin().await?;
///     if !inbox.record(&mut tx, &msg).await.map_err(Outcome::retry)? {
///         return Ok(()); // processed before: acknowledge, do nothing
///     }
///     sqlx::query("UPDATE stock SET sold = sold + 1 WHERE item = $1")
///         .bind(*msg.payload() as i64)
///         .execute(&mut *tx)
///         .await?;
///     tx.commit().await?; // the effect and the id, together
///     Ok(())
/// }
/// # Ok(()) }
/// ```
///
/// Two deliveries of the same message at the same time are safe too: the
/// second insert waits for the first transaction and then finds the id.
#[derive(Debug, Clone)]
pub struct PgInbox {
    table: String,
}

impl PgInbox {
    /// An inbox in `table` (a plain identifier: letters, digits, `_`,
    /// optionally `schema.table`).
    pub fn new(table: impl Into<String>) -> Result<Self> {
        let table = crate::sql_identifier::checked_table("inbox", table.into())?;
        Ok(Self { table })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if it does not exist: `message_id text primary key,
    /// processed_at timestamptz`.
    pub async fn create_table(&self, pool: &PgPool) -> Result<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (message_id text PRIMARY KEY, \
             processed_at timestamptz NOT NULL DEFAULT now())",
            self.table
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await?;
        Ok(())
    }

    /// Records `msg`'s id on `conn` (pass `&mut tx` of the transaction that
    /// makes the handler's effect). `Ok(true)`: first time, go ahead;
    /// `Ok(false)`: already processed, skip the effect and acknowledge.
    pub async fn record<T>(&self, conn: &mut PgConnection, msg: &Message<T>) -> Result<bool> {
        let id = msg.id().ok_or(Error::MissingMessageId)?;
        self.record_id(conn, id).await
    }

    /// [`record`](Self::record) with an explicit id.
    pub async fn record_id(&self, conn: &mut PgConnection, message_id: &str) -> Result<bool> {
        let sql = format!(
            "INSERT INTO {} (message_id) VALUES ($1) ON CONFLICT (message_id) DO NOTHING",
            self.table
        );
        let inserted = sqlx::query(AssertSqlSafe(sql))
            .bind(message_id)
            .execute(conn)
            .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Wraps `handler` so that its effect and the message id commit in one
    /// transaction: the wrapper begins it and records the id; a message
    /// processed before is acknowledged without running the handler;
    /// otherwise the handler makes its effect in the transaction it is
    /// given and hands it back, and the wrapper commits. A handler that
    /// fails drops the transaction: nothing of it, the id included, is
    /// kept, and the retry starts afresh. Give the result to the consumer's
    /// `run`.
    ///
    /// ```no_run
    /// use mq_reliable::{Message, Outcome, inbox::PgInbox};
    ///
    /// # fn demo(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = PgInbox::new("mq_inbox")?.wrap(pool, |msg: Message<i64>, mut tx| async move {
    ///     sqlx::query("UPDATE stock SET sold = sold + 1 WHERE item = $1")
    ///         .bind(*msg.payload())
    ///         .execute(&mut *tx)
    ///         .await
    ///         .map_err(Outcome::retry)?;
    ///     Ok(tx)
    /// });
    /// // consumer.run(handler).await?;
    /// # let _ = handler; Ok(()) }
    /// ```
    pub fn wrap<T, F, Fut>(
        self,
        pool: PgPool,
        handler: F,
    ) -> impl Fn(Message<T>) -> Guarded + Send + Sync + 'static
    where
        T: Send + 'static,
        F: Fn(Message<T>, Transaction<'static, Postgres>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Transaction<'static, Postgres>, Outcome>>
            + Send
            + 'static,
    {
        let (inbox, handler) = (Arc::new(self), Arc::new(handler));
        move |msg: Message<T>| {
            let (inbox, handler, pool) = (inbox.clone(), handler.clone(), pool.clone());
            Box::pin(async move {
                let id = msg
                    .id()
                    .ok_or(Error::MissingMessageId)
                    .map_err(Outcome::reject)?;
                let id = id.to_string();
                let mut tx = pool.begin().await.map_err(Outcome::retry)?;
                if !inbox
                    .record_id(&mut tx, &id)
                    .await
                    .map_err(Outcome::retry)?
                {
                    return Ok(()); // processed before: nothing to do
                }
                let tx = handler(msg, tx).await?;
                tx.commit().await.map_err(Outcome::retry)
            }) as Guarded
        }
    }

    /// Whether `message_id` was processed (committed).
    pub async fn contains(&self, pool: &PgPool, message_id: &str) -> Result<bool> {
        let sql = format!("SELECT 1 FROM {} WHERE message_id = $1", self.table);
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(message_id)
            .fetch_optional(pool)
            .await?;
        Ok(found.is_some())
    }

    /// Deletes ids older than `age` (keep them longer than a message can be
    /// redelivered or replayed from a dead-letter queue). Returns how many.
    pub async fn purge_older_than(&self, pool: &PgPool, age: Duration) -> Result<u64> {
        let sql = format!(
            "DELETE FROM {} WHERE processed_at < now() - make_interval(secs => $1)",
            self.table
        );
        let deleted = sqlx::query(AssertSqlSafe(sql))
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
        assert!(PgInbox::new("mq_inbox").is_ok());
        assert!(PgInbox::new("app.mq_inbox").is_ok());
        assert!(PgInbox::new("x; drop table y").is_err());
        assert!(PgInbox::new("1abc").is_err());
        assert!(PgInbox::new("a.b.c").is_err());
        assert!(PgInbox::new("").is_err());
    }
}
