//! A Redis distributed lock (redlock, with its watchdog) per item around the
//! same read-check-decrement as `none`: the lock makes it safe across every
//! instance of the order service, at the cost of one lock round per buyer.
//!
//! A lock alone is not enough: a holder paused past its lease (a GC pause, a
//! stopped process, a slow network) wakes up still inside its critical
//! section while another buyer holds the lock. So, as the crate's docs teach:
//! - the section is abandoned the moment the watchdog reports the lease lost
//!   (its transaction rolls back);
//! - the stock row is fenced: the transaction's first statement raises the
//!   row's fence to this holder's token ([`PgFence::raise`]), so a holder
//!   whose lease ran out is refused by the database itself, however late it
//!   wakes, and a newer holder waits for the older transaction and reads
//!   its write.
//!
//! The section's outcome is kept even when the release finds the lease gone:
//! a transaction that committed did so behind the fence, and the buyer must
//! be told. (`LockManager::with_lock` answers `NotOwner` there and drops the
//! outcome, which is right for unfenced work but not for this.)

use std::sync::LazyLock;

use redlock::fence::PgFence;

use crate::api::ApiError;
use crate::orders::{OrderStatus, Purchase};
use crate::server::AppState;
use crate::strategy::Strategy;
use crate::strategy::row::{RowLock, read_check_write};

/// The fence of `items` rows (migration `0002_items_fence.sql`).
static ITEM_FENCE: LazyLock<PgFence> =
    LazyLock::new(|| PgFence::new("items", "id", "fence").expect("plain identifiers"));

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let locks = state
        .locks
        .as_ref()
        .expect("the redis-lock strategy runs with a lock manager");
    let guard = locks
        .lock(&format!("item:{}", purchase.item_id))
        .await
        .map_err(|error| ApiError::unavailable("the stock lock", error))?;
    let outcome = tokio::select! {
        biased;
        () = guard.lost() => Err(lease_lost()),
        outcome = decrement(state, purchase, guard.fencing_token()) => outcome,
    };
    if let Err(error) = guard.unlock().await {
        // The lease expires by itself; the fenced outcome stands.
        tracing::warn!(%error, "could not release the stock lock");
    }
    outcome
}

async fn decrement(
    state: &AppState,
    purchase: &Purchase,
    token: u64,
) -> Result<OrderStatus, ApiError> {
    let mut tx = state.pool.begin().await?;
    ITEM_FENCE
        .raise(&mut tx, purchase.item_id, token)
        .await
        .map_err(|error| match error {
            redlock::Error::Fenced { .. } => lease_lost(),
            other => ApiError::unavailable("the database", other),
        })?;
    let status = read_check_write(
        &mut tx,
        purchase,
        RowLock::None,
        Strategy::RedisLock,
        state.payment(),
    )
    .await?;
    tx.commit().await?;
    Ok(status)
}

/// `503`: this buyer's lock lease ran out mid-order; nothing was sold.
fn lease_lost() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "LOCK_LOST",
        "the stock lock was lost before the order completed; nothing was sold, retry",
    )
}
