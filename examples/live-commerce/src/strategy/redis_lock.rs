//! A Redis distributed lock (redlock, with its watchdog) per item around the
//! same read-check-decrement as `none`: the lock makes it safe across every
//! instance of the order service, at the cost of one lock round per buyer.

use crate::api::ApiError;
use crate::orders::{OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;
use crate::strategy::row::{RowLock, read_check_write};

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
    let status = read_check_write(&mut tx, purchase, RowLock::None, Strategy::RedisLock).await?;
    tx.commit().await?;
    Ok(status)
}
