//! The read-check-write of an item's stock row, shared by the strategies
//! that take stock in the database under some outside guarantee (or none).

use sqlx::PgConnection;

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::strategy::Strategy;

/// Whether the read takes the row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowLock {
    /// A plain read: only safe if something else serialises buyers.
    None,
    /// `SELECT … FOR UPDATE`: other buyers of the item wait until commit.
    ForUpdate,
}

/// Reads the stock, refuses if it cannot cover the purchase, writes the
/// difference and records the order, all on `conn` (a transaction, or a
/// plain connection where each statement commits on its own).
pub(super) async fn read_check_write(
    conn: &mut PgConnection,
    purchase: &Purchase,
    lock: RowLock,
    strategy: Strategy,
) -> Result<OrderStatus, ApiError> {
    let read = match lock {
        RowLock::None => "SELECT stock FROM items WHERE id = $1",
        RowLock::ForUpdate => "SELECT stock FROM items WHERE id = $1 FOR UPDATE",
    };
    let stock: i32 = sqlx::query_scalar(read)
        .bind(purchase.item_id)
        .fetch_one(&mut *conn)
        .await?;
    if stock < purchase.count {
        return Err(orders::insufficient(stock.into(), purchase.count));
    }
    sqlx::query("UPDATE items SET stock = $2 WHERE id = $1")
        .bind(purchase.item_id)
        .bind(stock - purchase.count)
        .execute(&mut *conn)
        .await?;
    orders::insert_order(&mut *conn, purchase, OrderStatus::Confirmed, strategy).await?;
    Ok(OrderStatus::Confirmed)
}
