//! No lock at all: read the stock, check it, write the difference, each
//! statement on its own. Two buyers who read the same figure both succeed
//! and the second write overwrites the first: more orders than stock (the
//! race the experiment shows).

use crate::api::ApiError;
use crate::orders::{OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;
use crate::strategy::row::{RowLock, read_check_write};

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    // A transaction only so the order and its expiry commit together: the
    // stock read takes no lock, so buyers still race on it.
    let mut tx = state.pool.begin().await?;
    let status = read_check_write(
        &mut tx,
        purchase,
        RowLock::None,
        Strategy::None,
        state.payment(),
    )
    .await?;
    tx.commit().await?;
    Ok(status)
}
