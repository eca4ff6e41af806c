//! `POST /api/orders/{id}/pay`: confirms an order within its payment window.
//!
//! The request carries an `Idempotency-Key` header (1 to 128 visible ASCII
//! characters, chosen by the client per payment attempt). The key is stored
//! with the payment, so:
//!
//! | the order is | same key | another key |
//! |---|---|---|
//! | `PENDING_PAYMENT`, window open | `200`, confirmed now | `200`, confirmed now |
//! | `CONFIRMED` | `200`, the same answer again | `409 ALREADY_PAID` |
//! | past its window (`EXPIRED`) | `409 ORDER_EXPIRED` | `409 ORDER_EXPIRED` |
//! | still queued (`lua-mq`, `ACCEPTED`) | `409 ORDER_NOT_READY`, `Retry-After: 1` | same |
//! | someone else's, or unknown | `404 ORDER_NOT_FOUND` | same |
//!
//! The confirmation is one conditional `UPDATE` (still `PENDING_PAYMENT`,
//! still inside the window by the database's clock), so it cannot both
//! succeed and lose to the expiry: see [`expiry`](super::expiry).
//! Its transaction also records the buyer's `order-confirmed`
//! notification ([`notifications`](crate::notifications)): stored and
//! announced if and only if the payment commits.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use sqlx::PgPool;
use uuid::Uuid;

use super::{OrderStatus, OrderView};
use crate::api::{self, ApiError};
use crate::auth::session::CurrentUser;
use crate::notifications::{Kind, record};
use crate::server::AppState;

/// The header naming a payment attempt.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The longest key accepted.
pub const MAX_KEY_LENGTH: usize = 128;

/// What a payment attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Confirmed, by this attempt or by an earlier one with the same key.
    Confirmed,
    /// Paid before under another key.
    AlreadyPaid,
    /// The window has ended.
    Expired,
    /// A `FAILED` order cannot be paid.
    Failed,
    /// No such order of this user in the database.
    NotFound,
}

/// Pays `order_id` of `user_id` under `key`.
pub async fn pay(
    pool: &PgPool,
    order_id: Uuid,
    user_id: &str,
    key: &str,
) -> Result<Payment, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let confirmed: Option<(i64, i32)> = sqlx::query_as(
        "UPDATE orders SET status = 'CONFIRMED', paid_at = clock_timestamp(), payment_key = $3 \
         WHERE id = $1 AND user_id = $2 AND status = 'PENDING_PAYMENT' \
         AND expires_at > clock_timestamp() RETURNING item_id, count",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((item_id, count)) = confirmed {
        notify_confirmed(&mut tx, order_id, user_id, item_id, count).await?;
        tx.commit().await?;
        return Ok(Payment::Confirmed);
    }
    drop(tx);
    // Read after the refused update: a payment with this key that committed
    // in between is seen here as the same payment.
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT status, payment_key FROM orders WHERE id = $1 AND user_id = $2")
            .bind(order_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        None => Payment::NotFound,
        Some((status, paid_with)) => match OrderStatus::parse(&status) {
            OrderStatus::Confirmed if paid_with.as_deref() == Some(key) => Payment::Confirmed,
            OrderStatus::Confirmed => Payment::AlreadyPaid,
            OrderStatus::Failed => Payment::Failed,
            // PENDING_PAYMENT here means the window has ended.
            _ => Payment::Expired,
        },
    })
}

/// Records the buyer's `order-confirmed` notification in the payment's
/// transaction (announced only if it commits; see
/// [`notifications::record`](crate::notifications::record)).
async fn notify_confirmed(
    tx: &mut sqlx::PgConnection,
    order_id: Uuid,
    user_id: &str,
    item_id: i64,
    count: i32,
) -> Result<(), sqlx::Error> {
    let Ok(user) = Uuid::parse_str(user_id) else {
        return Ok(());
    };
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM items WHERE id = $1")
        .bind(item_id)
        .fetch_optional(&mut *tx)
        .await?;
    let payload = serde_json::json!({
        "orderId": order_id, "itemId": item_id, "itemName": name, "quantity": count,
    });
    let key = format!("order-confirmed:{order_id}");
    record(tx, user, &key, Kind::OrderConfirmed, &payload).await?;
    Ok(())
}

/// The `Idempotency-Key` of a request, checked.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get(IDEMPOTENCY_KEY).ok_or_else(|| {
        ApiError::bad_request(
            "MISSING_IDEMPOTENCY_KEY",
            "a payment needs an Idempotency-Key header",
        )
    })?;
    let key = value
        .to_str()
        .ok()
        .filter(|key| (1..=MAX_KEY_LENGTH).contains(&key.len()))
        .filter(|key| key.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_IDEMPOTENCY_KEY",
                format!(
                    "the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
                ),
            )
        })?;
    Ok(key.to_string())
}

/// `POST /api/orders/{id}/pay`
pub async fn pay_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<api::Ok<OrderView>, ApiError> {
    let order_id = super::parse_order_id(&id)?;
    let key = idempotency_key(&headers)?;
    let user_id = user.user_id.to_string();
    match pay(&state.pool, order_id, &user_id, &key).await? {
        Payment::Confirmed => {}
        Payment::AlreadyPaid => {
            return Err(ApiError::conflict(
                "ALREADY_PAID",
                "this order was paid under another Idempotency-Key",
            ));
        }
        Payment::Expired => {
            return Err(ApiError::conflict(
                "ORDER_EXPIRED",
                "the payment window of this order has ended",
            ));
        }
        Payment::Failed => {
            return Err(ApiError::conflict("ORDER_FAILED", "this order failed"));
        }
        Payment::NotFound if super::is_accepted(&state, order_id, &user_id).await? => {
            return Err(ApiError::conflict(
                "ORDER_NOT_READY",
                "the order is still being recorded; retry in a moment",
            )
            .retry_after(1));
        }
        Payment::NotFound => return Err(super::not_found(order_id)),
    }
    super::find_order(&state.pool, order_id, &user_id)
        .await?
        .map(api::ok)
        .ok_or_else(|| super::not_found(order_id))
}
