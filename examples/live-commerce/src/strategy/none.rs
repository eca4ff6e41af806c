//! No lock at all: read the stock, check it, write the difference. Two
//! buyers who read the same figure both succeed and the second write
//! overwrites the first: more orders than stock (the race the experiment
//! shows).

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(purchase.item_id)
        .fetch_one(&state.pool)
        .await?;
    if stock < purchase.count {
        return Err(orders::insufficient(stock.into(), purchase.count));
    }
    sqlx::query("UPDATE items SET stock = $2 WHERE id = $1")
        .bind(purchase.item_id)
        .bind(stock - purchase.count)
        .execute(&state.pool)
        .await?;
    orders::insert_order(
        &state.pool,
        purchase,
        OrderStatus::Confirmed,
        Strategy::None,
    )
    .await?;
    Ok(OrderStatus::Confirmed)
}
