//! Optimistic locking: read the stock and its version, then decrement only
//! if the version is unchanged; a buyer who lost the race reads again. Each
//! lost race means another buyer won, so the stock still drains; the retries
//! are bounded (with jittered backoff) so a buyer under extreme contention
//! gets a clear `409 CONTENDED` instead of waiting forever.

use std::time::Duration;

use rand::Rng;

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;

/// Attempts before giving up.
const MAX_ATTEMPTS: u32 = 50;

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    for attempt in 0..MAX_ATTEMPTS {
        // Read and write on one connection: the window in which another
        // buyer can move the version is one round trip, not a wait for a
        // pooled connection.
        let mut tx = state.pool.begin().await?;
        let (stock, version): (i32, i64) =
            sqlx::query_as("SELECT stock, version FROM items WHERE id = $1")
                .bind(purchase.item_id)
                .fetch_one(&mut *tx)
                .await?;
        if stock < purchase.count {
            return Err(orders::insufficient(stock.into(), purchase.count));
        }
        let updated = sqlx::query(
            "UPDATE items SET stock = stock - $2, version = version + 1 \
             WHERE id = $1 AND version = $3",
        )
        .bind(purchase.item_id)
        .bind(purchase.count)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 1 {
            orders::insert_order(&mut tx, purchase, Strategy::DbOptimistic, state.payment())
                .await?;
            tx.commit().await?;
            return Ok(OrderStatus::PendingPayment);
        }
        tx.rollback().await?;
        let ceiling = 2u64 << attempt.min(5);
        let pause = rand::rng().random_range(1..=ceiling);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    Err(ApiError::conflict(
        "CONTENDED",
        format!("the stock changed under {MAX_ATTEMPTS} attempts in a row; retry"),
    ))
}
