//! The books after a sale: what PostgreSQL (and the Redis stock counter)
//! hold, read once every answer is in (and, for `lua-mq`, once the worker
//! has persisted every accepted order).

use std::time::{Duration, Instant};

/// What the database (and Redis) hold after a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseFigures {
    /// Order rows for the item.
    pub order_rows: i64,
    /// Units in `PENDING_PAYMENT` and `CONFIRMED` orders (taken from the sale).
    pub sold_units: i64,
    /// Order rows marked `FAILED`.
    pub failed_rows: i64,
    /// Stock left in the database.
    pub stock_left: i64,
    /// Stock left in the Redis counter.
    pub redis_left: Option<i64>,
}

/// Reads the figures of `item_id`.
pub(crate) async fn read(
    pool: &sqlx::PgPool,
    redis: &redis::aio::ConnectionManager,
    item_id: i64,
) -> anyhow::Result<DatabaseFigures> {
    let (order_rows, sold_units, failed_rows): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), \
                coalesce(sum(count) FILTER (WHERE status IN ('PENDING_PAYMENT', 'CONFIRMED')), 0), \
                count(*) FILTER (WHERE status = 'FAILED') \
         FROM orders WHERE item_id = $1",
    )
    .bind(item_id)
    .fetch_one(pool)
    .await?;
    let stock_left: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(item_id)
        .fetch_one(pool)
        .await?;
    Ok(DatabaseFigures {
        order_rows,
        sold_units,
        failed_rows,
        stock_left: stock_left.into(),
        redis_left: crate::stock::remaining(redis, item_id).await?,
    })
}

/// How long the worker may take to persist the `lua-mq` orders.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the order rows are counted while the worker drains.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Waits until the worker has persisted `expected` orders of the item (a
/// condition polled with a deadline; no fixed pause).
pub(crate) async fn drained(
    pool: &sqlx::PgPool,
    item_id: i64,
    expected: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE item_id = $1")
            .bind(item_id)
            .fetch_one(pool)
            .await?;
        if rows as usize >= expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the worker persisted {rows} of {expected} orders within {DRAIN_TIMEOUT:?}"
            );
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}
