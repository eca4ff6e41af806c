//! The read-check-write of an item's stock row, shared by the strategies
//! that take stock in the database under some outside guarantee (or none).

use sqlx::PgConnection;

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, PaymentTerms, Purchase};
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
/// difference and records the order with its expiry, all on `conn` (a
/// transaction).
pub(super) async fn read_check_write(
    conn: &mut PgConnection,
    purchase: &Purchase,
    lock: RowLock,
    strategy: Strategy,
    terms: &PaymentTerms,
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
    // `none` writes the value it read (so a concurrent sale is overwritten:
    // the race it exists to show); the guarded strategies write the
    // difference, so an expiry's concurrent give-back is never overwritten.
    let write = if strategy == Strategy::None {
        "UPDATE items SET stock = $2 WHERE id = $1"
    } else {
        "UPDATE items SET stock = stock - $3 WHERE id = $1"
    };
    sqlx::query(write)
        .bind(purchase.item_id)
        .bind(stock - purchase.count)
        .bind(purchase.count)
        .execute(&mut *conn)
        .await?;
    orders::insert_order(&mut *conn, purchase, strategy, terms).await?;
    Ok(OrderStatus::PendingPayment)
}
