//! An atomic Lua decrement in Redis decides who gets stock (all units of a
//! purchase or none); the winners then decrement the database and insert
//! their order. If the database write fails, the units go back to Redis.

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;
use crate::stock::{self, Reservation};
use crate::strategy::Strategy;

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    reserve(state, purchase).await?;
    let recorded = async {
        let mut tx = state.pool.begin().await?;
        sqlx::query("UPDATE items SET stock = stock - $2 WHERE id = $1")
            .bind(purchase.item_id)
            .bind(purchase.count)
            .execute(&mut *tx)
            .await?;
        orders::insert_order(&mut tx, purchase, Strategy::Lua, state.payment()).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = recorded {
        give_back(state, purchase).await;
        return Err(error);
    }
    Ok(OrderStatus::PendingPayment)
}

/// Takes the purchase's units from the Redis counter, or answers `409`.
///
/// A counter that is not loaded is not rebuilt from the database here: the
/// database lags the counter (by the transactions in flight, and for
/// `lua-mq` by the whole queue), so a rebuilt counter could sell units twice.
/// The buyer gets `503 STOCK_NOT_LOADED` and an operator reloads it.
pub(super) async fn reserve(state: &AppState, purchase: &Purchase) -> Result<(), ApiError> {
    match stock::reserve(&state.redis, purchase.item_id, purchase.count).await? {
        Reservation::Taken { .. } => Ok(()),
        Reservation::Insufficient { left } => Err(orders::insufficient(left, purchase.count)),
        Reservation::NotLoaded => Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "STOCK_NOT_LOADED",
            format!(
                "the stock counter of item {} is not loaded; it cannot be rebuilt safely \
                 while orders may be in flight",
                purchase.item_id
            ),
        )),
    }
}

/// Returns a reservation's units after its order could not be recorded.
pub(super) async fn give_back(state: &AppState, purchase: &Purchase) {
    if let Err(error) = stock::release(&state.redis, purchase.item_id, purchase.count).await {
        tracing::error!(%error, item = purchase.item_id, units = purchase.count,
            "could not give reserved units back; the Redis counter is short by this much");
    }
}
