//! The Redis inbox: a claim per message id, for effects outside a database.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::guarded::Guarded;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::outcome::Outcome;

/// The state a message id is found in by [`RedisInbox::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time (or an earlier claim expired): do the work, then call
    /// [`RedisInbox::complete`] (or [`RedisInbox::release`] if it failed).
    Acquired,
    /// Completed before: acknowledge and skip.
    Done,
    /// Another delivery of the same message is being processed right now
    /// (or its process died less than the claim TTL ago): return
    /// `Outcome::Retry` so it is looked at again later.
    InProgress,
}

/// Message ids in Redis: `SET key processing NX PX <claim_ttl>` before the
/// effect, `SET key done PX <done_ttl>` after it.
///
/// ```no_run
/// use mq_reliable::{Message, Outcome, inbox::{Claim, RedisInbox}};
///
/// async fn handle(inbox: &RedisInbox, msg: Message<String>) -> Result<(), Outcome> {
///     match inbox.claim(&msg).await.map_err(Outcome::retry)? {
///         Claim::Done => return Ok(()),
///         Claim::InProgress => return Err(Outcome::retry(std::io::Error::other("in progress"))),
///         Claim::Acquired => {}
///     }
///     match send_mail(msg.payload()).await {
///         Ok(()) => { inbox.complete(&msg).await.map_err(Outcome::retry)?; Ok(()) }
///         Err(e) => { let _ = inbox.release(&msg).await; Err(Outcome::retry(e)) }
///     }
/// }
/// # async fn send_mail(_: &str) -> Result<(), std::io::Error> { Ok(()) }
/// ```
///
/// Unlike [`PgInbox`](super::PgInbox), the claim and the effect are not one
/// transaction. If the process dies after the effect and before `complete`,
/// the claim expires after `claim_ttl` and the redelivered message does the
/// effect again; keep effects idempotent where you can, or keep the window
/// small. Ids are forgotten after `done_ttl` (default 7 days).
#[derive(Clone)]
pub struct RedisInbox {
    conn: ConnectionManager,
    prefix: String,
    claim_ttl: Duration,
    done_ttl: Duration,
}

impl std::fmt::Debug for RedisInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisInbox")
            .field("prefix", &self.prefix)
            .field("claim_ttl", &self.claim_ttl)
            .field("done_ttl", &self.done_ttl)
            .finish()
    }
}

impl RedisInbox {
    /// An inbox with keys `<prefix>:<message id>`, claims held 5 minutes and
    /// completed ids kept 7 days.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            claim_ttl: Duration::from_secs(300),
            done_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// How long a claim protects a message being processed (default 5
    /// minutes; longer than the handler timeout).
    pub fn claim_ttl(mut self, ttl: Duration) -> Self {
        self.claim_ttl = ttl;
        self
    }

    /// How long a completed id is remembered (default 7 days).
    pub fn done_ttl(mut self, ttl: Duration) -> Self {
        self.done_ttl = ttl;
        self
    }

    fn key<T>(&self, msg: &Message<T>) -> Result<String> {
        let id = msg.id().ok_or(Error::MissingMessageId)?;
        Ok(format!("{}:{id}", self.prefix))
    }

    /// Claims `msg` for processing.
    pub async fn claim<T>(&self, msg: &Message<T>) -> Result<Claim> {
        let key = self.key(msg)?;
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg("processing")
            .arg("NX")
            .arg("PX")
            .arg(self.claim_ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if set.is_some() {
            return Ok(Claim::Acquired);
        }
        let state: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        Ok(match state.as_deref() {
            Some("done") => Claim::Done,
            Some(_) => Claim::InProgress,
            // Expired between the two commands: try once more.
            None => {
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg("processing")
                    .arg("NX")
                    .arg("PX")
                    .arg(self.claim_ttl.as_millis() as u64)
                    .query_async(&mut conn)
                    .await?;
                if set.is_some() {
                    Claim::Acquired
                } else {
                    Claim::InProgress
                }
            }
        })
    }

    /// Marks `msg` as done (after its effect succeeded).
    pub async fn complete<T>(&self, msg: &Message<T>) -> Result<()> {
        self.complete_key(&self.key(msg)?).await
    }

    async fn complete_key(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("done")
            .arg("PX")
            .arg(self.done_ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Drops the claim on `msg` (its effect failed and will be retried).
    pub async fn release<T>(&self, msg: &Message<T>) -> Result<()> {
        self.release_key(&self.key(msg)?).await
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        // Only a claim in progress is dropped, never a completed id.
        let script = redis::Script::new(include_str!("../../scripts/inbox_release.lua"));
        let _: i64 = script.key(key).invoke_async(&mut conn).await?;
        Ok(())
    }

    /// Wraps `handler` so that each message id takes effect once: claimed
    /// before it runs, marked done after it succeeds, released after it
    /// fails (the retry claims again). A message already done is
    /// acknowledged without running the handler; one in progress elsewhere
    /// is retried later. Give the result to the consumer's `run`.
    pub fn wrap<T, F, Fut>(
        self,
        handler: F,
    ) -> impl Fn(Message<T>) -> Guarded + Send + Sync + 'static
    where
        T: Send + Sync + 'static,
        F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), Outcome>> + Send + 'static,
    {
        let (inbox, handler) = (Arc::new(self), Arc::new(handler));
        move |msg: Message<T>| {
            let (inbox, handler) = (inbox.clone(), handler.clone());
            Box::pin(async move {
                let key = inbox.key(&msg).map_err(Outcome::reject)?;
                match inbox.claim(&msg).await.map_err(Outcome::retry)? {
                    Claim::Done => return Ok(()),
                    Claim::InProgress => {
                        return Err(Outcome::retry(std::io::Error::other(
                            "another delivery of this message is being processed",
                        )));
                    }
                    Claim::Acquired => {}
                }
                match handler(msg).await {
                    Ok(()) => inbox.complete_key(&key).await.map_err(Outcome::retry),
                    Err(outcome) => {
                        let _ = inbox.release_key(&key).await;
                        Err(outcome)
                    }
                }
            }) as Guarded
        }
    }
}
