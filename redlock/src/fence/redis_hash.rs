//! Fenced values in Redis: a hash with fields `value` and `fence`, changed
//! only by Lua scripts that compare the caller's token with the fence.

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, ScriptInvocation, ToRedisArgs, Value};

use crate::error::{Error, Result};
use crate::scripts;

/// Reads the value under `key` for the holder of `token`, and raises the
/// key's fence to `token`: from now on no holder with an older token can
/// [`write()`] it. `Ok(None)` when no value has been written yet.
///
/// `Err(Error::Fenced)` when a newer holder has already read or written the
/// key: this holder's lease has run out, so it must not go on.
///
/// ```no_run
/// # async fn demo(locks: redlock::LockManager, mut conn: redis::aio::MultiplexedConnection) -> redlock::Result<()> {
/// use redlock::fence;
///
/// let guard = locks.lock("counter").await?;
/// let token = guard.fencing_token();
/// let count: Option<i64> = fence::read(&mut conn, "counter:value", token).await?;
/// // ... the holder may be paused here; a newer holder's read fences it out ...
/// fence::write(&mut conn, "counter:value", count.unwrap_or(0) + 1, token).await?;
/// guard.unlock().await?;
/// # Ok(()) }
/// ```
pub async fn read<C, V>(conn: &mut C, key: &str, token: u64) -> Result<Option<V>>
where
    C: ConnectionLike + Send,
    V: FromRedisValue,
{
    let value = run_fenced(conn, scripts::FENCED_READ.key(key).arg(token), token).await?;
    Option::<V>::from_redis_value(value).map_err(|error| Error::Redis(error.into()))
}

/// Writes `value` under `key` for the holder of `token`, unless a newer
/// holder has read or written the key since (`Err(Error::Fenced)`, nothing
/// written). The same holder may write as often as it likes.
pub async fn write<C, V>(conn: &mut C, key: &str, value: V, token: u64) -> Result<()>
where
    C: ConnectionLike + Send,
    V: ToRedisArgs + Send + Sync,
{
    let mut invocation = scripts::FENCED_WRITE.key(key);
    invocation.arg(value).arg(token);
    run_fenced(conn, &invocation, token).await.map(drop)
}

/// [`read()`], `change`, [`write()`]: the read-modify-write of one fenced value.
/// Returns the value written. A holder fenced out at either step gets
/// `Err(Error::Fenced)`, and then nothing was written.
pub async fn update<C, V, F>(conn: &mut C, key: &str, token: u64, change: F) -> Result<V>
where
    C: ConnectionLike + Send,
    V: FromRedisValue + ToRedisArgs + Send + Sync,
    F: FnOnce(Option<V>) -> V,
{
    let current = read(conn, key, token).await?;
    let next = change(current);
    write(conn, key, &next, token).await?;
    Ok(next)
}

/// Stores `value` under `key` only if `token` is greater than the token of
/// the last accepted write; returns whether it was written.
///
/// This fences **blind writes** only: a value that does not depend on what
/// the resource held. A read is not recorded, so a read → modify → write
/// through this function can lose an update (see the [module
/// docs](crate::fence)); use [`read()`] and [`write()`] for that.
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

/// Runs a fenced script, which answers `{1, result}` when it let `token`
/// through and `{0, fence}` when the key's fence is newer.
async fn run_fenced<C>(conn: &mut C, invocation: &ScriptInvocation<'_>, token: u64) -> Result<Value>
where
    C: ConnectionLike + Send,
{
    let (passed, answer): (i64, Value) = invocation
        .invoke_async(conn)
        .await
        .map_err(Error::from_redis)?;
    if passed == 1 {
        return Ok(answer);
    }
    let fence = u64::from_redis_value(answer).map_err(|error| Error::Redis(error.into()))?;
    Err(Error::Fenced { token, fence })
}
