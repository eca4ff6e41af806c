//! A Redis distributed lock (redlock, with its watchdog) per item around the
//! same read-check-decrement as `none`: the lock makes it safe across every
//! instance of the order service, at the cost of one lock round per buyer.

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let locks = state
        .locks
        .as_ref()
        .expect("the redis-lock strategy runs with a lock manager");
    let guard = locks
        .lock(&format!("item:{}", purchase.item_id))
        .await
        .map_err(|error| ApiError::unavailable("the stock lock", error))?;
    let outcome = decrement(state, purchase).await;
    if let Err(error) = guard.unlock().await {
        // The lease expires by itself; the decrement's outcome stands.
        tracing::warn!(%error, "could not release the stock lock");
    }
    outcome
}

async fn decrement(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let mut tx = state.pool.begin().await?;
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(purchase.item_id)
        .fetch_one(&mut *tx)
        .await?;
    if stock < purchase.count {
        return Err(orders::insufficient(stock.into(), purchase.count));
    }
    sqlx::query("UPDATE items SET stock = $2 WHERE id = $1")
        .bind(purchase.item_id)
        .bind(stock - purchase.count)
        .execute(&mut *tx)
        .await?;
    orders::insert_order(
        &mut *tx,
        purchase,
        OrderStatus::Confirmed,
        Strategy::RedisLock,
    )
    .await?;
    tx.commit().await?;
    Ok(OrderStatus::Confirmed)
}
