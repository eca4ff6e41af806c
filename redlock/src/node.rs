//! One Redis server: the lock scripts run against it.

use std::time::Duration;

use redis::{FromRedisValue, ScriptInvocation};

use crate::error::{Error, Result};
use crate::keys::LockKeys;
use crate::scripts;
use redis_support::Connection;

/// The answer to one acquisition attempt on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Acquired, with the fencing token handed out.
    Acquired { token: u64 },
    /// Held by another owner. `retry_in` is the remaining lease when known;
    /// `None` means "free, but an earlier fair waiter goes first".
    Busy { retry_in: Option<Duration> },
}

/// A connection to one Redis deployment (reconnecting on its own).
#[derive(Clone)]
pub(crate) struct Node {
    conn: Connection,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

/// Pause before retrying a script whose connection had dropped.
const RECONNECT_GRACE: Duration = Duration::from_millis(5);

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Node {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Runs a script, retrying once if the connection had dropped (the server
    /// restarted, a proxy reset it). The connection manager reports the
    /// failure of its previous reconnection attempt first and reconnects on
    /// that call, so without the retry the first call after a restart fails.
    /// Acquire, renew and retract are safe to repeat (acquire returns the
    /// caller's own token if it already holds the lock). A release whose
    /// first run went through but whose reply was lost reports "not owner"
    /// on the repeat: the lock is released either way, and the caller is told
    /// the conservative answer. A server that is really down costs two fast
    /// refusals and the pause between them.
    async fn invoke<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> Result<T> {
        let mut conn = self.conn.clone();
        match invocation.invoke_async(&mut conn).await {
            Err(error) if error.is_connection_dropped() => {
                // The reconnection runs in the background: give it a moment.
                tokio::time::sleep(RECONNECT_GRACE).await;
                invocation
                    .invoke_async(&mut conn)
                    .await
                    .map_err(Error::from_redis)
            }
            answer => answer.map_err(Error::from_redis),
        }
    }

    pub(crate) async fn acquire(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
        fair_wait: Option<Duration>,
    ) -> Result<Attempt> {
        let (acquired, value): (i64, i64) = match fair_wait {
            None => {
                self.invoke(
                    scripts::ACQUIRE
                        .key(&keys.lock)
                        .key(&keys.fence)
                        .key(&keys.deadlines)
                        .arg(owner)
                        .arg(millis(lease)),
                )
                .await?
            }
            Some(wait) => {
                self.invoke(
                    scripts::ACQUIRE_FAIR
                        .key(&keys.lock)
                        .key(&keys.fence)
                        .key(&keys.queue)
                        .key(&keys.deadlines)
                        .arg(owner)
                        .arg(millis(lease))
                        .arg(millis(wait))
                        .arg(&keys.channel),
                )
                .await?
            }
        };
        Ok(match acquired {
            1 => Attempt::Acquired {
                token: u64::try_from(value).unwrap_or_default(),
            },
            -1 => {
                return Err(Error::MixedFairness {
                    name: keys.name.clone(),
                });
            }
            _ => Attempt::Busy {
                // PTTL: -2 (gone) and -1 (no expiry) carry no wait; the caller bounds it.
                retry_in: u64::try_from(value).ok().map(Duration::from_millis),
            },
        })
    }

    pub(crate) async fn renew(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
    ) -> Result<bool> {
        let renewed: i64 = self
            .invoke(scripts::RENEW.key(&keys.lock).arg(owner).arg(millis(lease)))
            .await?;
        Ok(renewed == 1)
    }

    pub(crate) async fn release(&self, keys: &LockKeys, owner: &str) -> Result<bool> {
        let released: i64 = self
            .invoke(
                scripts::RELEASE
                    .key(&keys.lock)
                    .arg(owner)
                    .arg(&keys.channel),
            )
            .await?;
        Ok(released == 1)
    }

    /// Whether anyone holds the lock on this node.
    pub(crate) async fn is_locked(&self, keys: &LockKeys) -> Result<bool> {
        let mut conn = self.conn.clone();
        let held: i64 = redis::cmd("EXISTS")
            .arg(&keys.lock)
            .query_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(held == 1)
    }

    /// Deletes the lock whoever holds it and wakes the waiters; whether it
    /// was held.
    pub(crate) async fn force_unlock(&self, keys: &LockKeys) -> Result<bool> {
        let removed: i64 = self
            .invoke(scripts::FORCE_UNLOCK.key(&keys.lock).arg(&keys.channel))
            .await?;
        Ok(removed == 1)
    }

    /// Deletes the lock if `owner` holds it, without waking anyone.
    pub(crate) async fn retract(&self, keys: &LockKeys, owner: &str) -> Result<()> {
        let _: i64 = self
            .invoke(scripts::RETRACT.key(&keys.lock).arg(owner))
            .await?;
        Ok(())
    }

    pub(crate) async fn leave_queue(&self, keys: &LockKeys, owner: &str) -> Result<()> {
        let _: i64 = self
            .invoke(
                scripts::LEAVE_QUEUE
                    .key(&keys.queue)
                    .key(&keys.deadlines)
                    .arg(owner)
                    .arg(&keys.channel),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn raise_fence(&self, keys: &LockKeys, token: u64) -> Result<()> {
        let _: i64 = self
            .invoke(scripts::RAISE_FENCE.key(&keys.fence).arg(token))
            .await?;
        Ok(())
    }

    pub(crate) async fn semaphore_acquire(
        &self,
        keys: &LockKeys,
        permit: &str,
        permits: u32,
        lease: Duration,
    ) -> Result<Attempt> {
        let (acquired, wait): (i64, i64) = self
            .invoke(
                scripts::SEMAPHORE_ACQUIRE
                    .key(&keys.permits)
                    .arg(permit)
                    .arg(permits)
                    .arg(millis(lease)),
            )
            .await?;
        Ok(if acquired == 1 {
            Attempt::Acquired { token: 0 }
        } else {
            Attempt::Busy {
                retry_in: u64::try_from(wait).ok().map(Duration::from_millis),
            }
        })
    }

    pub(crate) async fn semaphore_renew(
        &self,
        keys: &LockKeys,
        permit: &str,
        lease: Duration,
    ) -> Result<bool> {
        let renewed: i64 = self
            .invoke(
                scripts::SEMAPHORE_RENEW
                    .key(&keys.permits)
                    .arg(permit)
                    .arg(millis(lease)),
            )
            .await?;
        Ok(renewed == 1)
    }

    pub(crate) async fn semaphore_release(&self, keys: &LockKeys, permit: &str) -> Result<bool> {
        let removed: i64 = self
            .invoke(
                scripts::SEMAPHORE_RELEASE
                    .key(&keys.permits)
                    .arg(permit)
                    .arg(&keys.channel),
            )
            .await?;
        Ok(removed == 1)
    }
}
