//! One Redis server: the lock scripts run against it.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::error::{Error, Result};
use crate::keys::LockKeys;
use crate::scripts;

/// The answer to one acquisition attempt on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Acquired, with the fencing token handed out.
    Acquired { token: u64 },
    /// Held by another owner. `retry_in` is the remaining lease when known;
    /// `None` means "free, but an earlier fair waiter goes first".
    Busy { retry_in: Option<Duration> },
}

/// A connection to one Redis server (reconnecting on its own).
#[derive(Clone)]
pub(crate) struct Node {
    conn: ConnectionManager,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Node {
    pub(crate) fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    pub(crate) async fn acquire(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
        fair_wait: Option<Duration>,
    ) -> Result<Attempt> {
        let mut conn = self.conn.clone();
        let (acquired, value): (i64, i64) = match fair_wait {
            None => scripts::ACQUIRE
                .key(&keys.lock)
                .key(&keys.fence)
                .arg(owner)
                .arg(millis(lease))
                .invoke_async(&mut conn)
                .await
                .map_err(Error::from_redis)?,
            Some(wait) => scripts::ACQUIRE_FAIR
                .key(&keys.lock)
                .key(&keys.fence)
                .key(&keys.queue)
                .key(&keys.deadlines)
                .arg(owner)
                .arg(millis(lease))
                .arg(millis(wait))
                .arg(&keys.channel)
                .invoke_async(&mut conn)
                .await
                .map_err(Error::from_redis)?,
        };
        Ok(if acquired == 1 {
            Attempt::Acquired {
                token: u64::try_from(value).unwrap_or_default(),
            }
        } else {
            Attempt::Busy {
                // PTTL: -2 (gone) and -1 (no expiry) carry no wait; the caller bounds it.
                retry_in: u64::try_from(value).ok().map(Duration::from_millis),
            }
        })
    }

    pub(crate) async fn renew(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
    ) -> Result<bool> {
        let mut conn = self.conn.clone();
        let renewed: i64 = scripts::RENEW
            .key(&keys.lock)
            .arg(owner)
            .arg(millis(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(renewed == 1)
    }

    pub(crate) async fn release(&self, keys: &LockKeys, owner: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let released: i64 = scripts::RELEASE
            .key(&keys.lock)
            .arg(owner)
            .arg(&keys.channel)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(released == 1)
    }

    pub(crate) async fn leave_queue(&self, keys: &LockKeys, owner: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = scripts::LEAVE_QUEUE
            .key(&keys.queue)
            .key(&keys.deadlines)
            .arg(owner)
            .arg(&keys.channel)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(())
    }

    pub(crate) async fn raise_fence(&self, keys: &LockKeys, token: u64) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = scripts::RAISE_FENCE
            .key(&keys.fence)
            .arg(token)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(())
    }

    pub(crate) async fn semaphore_acquire(
        &self,
        keys: &LockKeys,
        permit: &str,
        permits: u32,
        lease: Duration,
    ) -> Result<Attempt> {
        let mut conn = self.conn.clone();
        let (acquired, wait): (i64, i64) = scripts::SEMAPHORE_ACQUIRE
            .key(&keys.permits)
            .arg(permit)
            .arg(permits)
            .arg(millis(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
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
        let mut conn = self.conn.clone();
        let renewed: i64 = scripts::SEMAPHORE_RENEW
            .key(&keys.permits)
            .arg(permit)
            .arg(millis(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(renewed == 1)
    }

    pub(crate) async fn semaphore_release(&self, keys: &LockKeys, permit: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let removed: i64 = scripts::SEMAPHORE_RELEASE
            .key(&keys.permits)
            .arg(permit)
            .arg(&keys.channel)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from_redis)?;
        Ok(removed == 1)
    }
}
