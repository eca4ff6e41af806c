//! Fencing: the protected resource refuses writes from stale lock holders.
//!
//! A lease can expire while its holder is paused (a GC pause, a stopped
//! process, a slow network): another process acquires the lock and writes,
//! then the first one wakes up and writes too, still believing it holds the
//! lock. No lock alone prevents this. The fix is at the resource: every
//! acquisition carries a [fencing token](crate::LockGuard::fencing_token) that
//! strictly increases, and the resource accepts a write only with a token
//! newer than the last one it accepted.
//!
//! **In Redis**, [`set_if_newer`] does that check and the write in one script.
//!
//! **In SQL**, keep the last accepted token in a column and make it part of
//! the update's condition:
//!
//! ```sql
//! UPDATE stock
//!    SET quantity = $quantity, fence = $token
//!  WHERE item_id = $item_id AND fence < $token;
//! -- 0 rows updated: a newer holder has written; this holder's write is refused.
//! ```
//!
//! Tokens restart if the Redis that counts them loses its data (a restart
//! without persistence), so run it with AOF when you rely on fencing.

use redis::ToRedisArgs;
use redis::aio::ConnectionLike;

use crate::error::{Error, Result};
use crate::scripts;

/// Stores `value` under `key` only if `token` is greater than the token of
/// the last accepted write; returns whether it was written.
///
/// `key` holds a hash with fields `value` and `fence`, readable with
/// `HGET key value`.
pub async fn set_if_newer<C, V>(conn: &mut C, key: &str, value: V, token: u64) -> Result<bool>
where
    C: ConnectionLike + Send,
    V: ToRedisArgs + Send + Sync,
{
    let written: i64 = scripts::SET_IF_NEWER
        .key(key)
        .arg(value)
        .arg(token)
        .invoke_async(conn)
        .await
        .map_err(Error::from_redis)?;
    Ok(written == 1)
}
