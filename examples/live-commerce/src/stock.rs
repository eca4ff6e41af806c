//! The Redis stock counter the Lua strategies sell from.
//!
//! `stock:<item id>` holds the units left. `reserve_stock.lua` takes a
//! multi-unit purchase all or nothing in one atomic step, so buying 2 when 1
//! is left fails cleanly while buying 1 still succeeds.

use std::sync::LazyLock;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

static RESERVE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("../scripts/reserve_stock.lua")));

/// The counter's key.
pub fn key(item_id: i64) -> String {
    format!("stock:{item_id}")
}

/// What a reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Taken; this many units are left.
    Taken {
        /// Units left after this purchase.
        left: i64,
    },
    /// Fewer units left than asked for; nothing taken.
    Insufficient {
        /// Units there are.
        left: i64,
    },
    /// The counter is not loaded.
    NotLoaded,
}

/// Takes `count` units of `item_id`, all or nothing.
pub async fn reserve(
    redis: &ConnectionManager,
    item_id: i64,
    count: i32,
) -> redis::RedisResult<Reservation> {
    let (outcome, left): (i64, i64) = RESERVE
        .key(key(item_id))
        .arg(count)
        .invoke_async(&mut redis.clone())
        .await?;
    Ok(match outcome {
        1 => Reservation::Taken { left },
        0 => Reservation::Insufficient { left },
        _ => Reservation::NotLoaded,
    })
}

/// Gives back `count` units (a reservation whose order could not be
/// recorded).
pub async fn release(
    redis: &ConnectionManager,
    item_id: i64,
    count: i32,
) -> redis::RedisResult<()> {
    redis.clone().incr::<_, _, ()>(key(item_id), count).await
}

/// Sets the counter (when an item is created).
pub async fn load(redis: &ConnectionManager, item_id: i64, units: i32) -> redis::RedisResult<()> {
    redis.clone().set::<_, _, ()>(key(item_id), units).await
}

/// Units left in Redis, if loaded.
pub async fn remaining(redis: &ConnectionManager, item_id: i64) -> redis::RedisResult<Option<i64>> {
    redis.clone().get(key(item_id)).await
}
