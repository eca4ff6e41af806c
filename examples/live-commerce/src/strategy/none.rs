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
    let mut conn = state.pool.acquire().await?;
    read_check_write(&mut conn, purchase, RowLock::None, Strategy::None).await
}
