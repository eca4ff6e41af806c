//! The database's row lock: `SELECT … FOR UPDATE` holds the item's row until
//! the transaction that decrements it and inserts the order commits. Correct,
//! and every buyer of the item queues on one row.

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let mut tx = state.pool.begin().await?;
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1 FOR UPDATE")
        .bind(purchase.item_id)
        .fetch_one(&mut *tx)
        .await?;
    if stock < purchase.count {
        return Err(orders::insufficient(stock.into(), purchase.count));
    }
    sqlx::query("UPDATE items SET stock = stock - $2 WHERE id = $1")
        .bind(purchase.item_id)
        .bind(purchase.count)
        .execute(&mut *tx)
        .await?;
    orders::insert_order(
        &mut *tx,
        purchase,
        OrderStatus::Confirmed,
        Strategy::DbPessimistic,
    )
    .await?;
    tx.commit().await?;
    Ok(OrderStatus::Confirmed)
}
