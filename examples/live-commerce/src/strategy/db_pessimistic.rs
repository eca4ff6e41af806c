//! The database's row lock: `SELECT … FOR UPDATE` holds the item's row until
//! the transaction that decrements it and inserts the order commits. Correct,
//! and every buyer of the item queues on one row.

use crate::api::ApiError;
use crate::orders::{OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;
use crate::strategy::row::{RowLock, read_check_write};

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let mut tx = state.pool.begin().await?;
    let status = read_check_write(
        &mut tx,
        purchase,
        RowLock::ForUpdate,
        Strategy::DbPessimistic,
        state.payment(),
    )
    .await?;
    tx.commit().await?;
    Ok(status)
}
