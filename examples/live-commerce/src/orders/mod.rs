//! Orders: `POST /api/orders` and `GET /api/orders/{id}`.
//!
//! Every strategy shares the checks made before stock is touched: the user
//! (the session's, see [`CurrentUser`]),
//! the count (1..=10), the item (404 when unknown) and the time deal's
//! opening (409 before it). Then the configured [`Strategy`] takes the stock
//! and records the order.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

use crate::api::{self, ApiError, JsonBody};
use crate::auth::session::CurrentUser;
use crate::catalog;
use crate::server::AppState;
use crate::strategy::Strategy;

/// The most units one order may buy.
pub const MAX_COUNT: i32 = 10;

/// The body of `POST /api/orders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrder {
    /// The item to buy.
    pub item_id: i64,
    /// How many units (1..=10).
    pub count: i32,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted; not persisted yet (the `lua-mq` strategy's worker will).
    Pending,
    /// Persisted with its stock taken.
    Confirmed,
    /// Could not be fulfilled.
    Failed,
}

impl OrderStatus {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Failed => "FAILED",
        }
    }

    fn parse(status: &str) -> Self {
        match status {
            "CONFIRMED" => OrderStatus::Confirmed,
            "FAILED" => OrderStatus::Failed,
            _ => OrderStatus::Pending,
        }
    }
}

/// The answer to an accepted order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The order id.
    pub order_id: Uuid,
    /// `CONFIRMED` for the synchronous strategies, `PENDING` for `lua-mq`.
    pub status: OrderStatus,
}

/// An order as `GET /api/orders/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id.
    pub order_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// The item (unknown while pending).
    pub item_id: Option<i64>,
    /// Units.
    pub count: Option<i32>,
    /// The strategy that took it.
    pub strategy: Option<String>,
}

/// One validated purchase, handed to a strategy.
#[derive(Debug, Clone)]
pub struct Purchase {
    /// The new order's id.
    pub order_id: Uuid,
    /// The item.
    pub item_id: i64,
    /// The buyer.
    pub user_id: String,
    /// Units.
    pub count: i32,
}

/// Inserts a confirmed order row.
pub async fn insert_order<'e>(
    db: impl PgExecutor<'e>,
    purchase: &Purchase,
    status: OrderStatus,
    strategy: Strategy,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO orders (id, item_id, user_id, count, status, strategy) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(purchase.order_id)
    .bind(purchase.item_id)
    .bind(&purchase.user_id)
    .bind(purchase.count)
    .bind(status.as_str())
    .bind(strategy.name())
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The key marking an accepted order not yet persisted (its value is the
/// buyer's id).
pub fn pending_key(order_id: Uuid) -> String {
    format!("order:{order_id}:pending")
}

/// `409` for a purchase the stock cannot cover.
pub fn insufficient(left: i64, count: i32) -> ApiError {
    if left <= 0 {
        ApiError::conflict("SOLD_OUT", "sold out")
    } else {
        ApiError::conflict(
            "INSUFFICIENT_STOCK",
            format!("only {left} left; {count} requested"),
        )
    }
}

/// `POST /api/orders`: the buyer is the session's user.
pub async fn place_order(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<PlaceOrder>,
) -> Result<api::Ok<Accepted>, ApiError> {
    let user_id = user.user_id.to_string();
    if !(1..=MAX_COUNT).contains(&body.count) {
        return Err(ApiError::bad_request(
            "INVALID_COUNT",
            format!("count must be between 1 and {MAX_COUNT}"),
        ));
    }
    let item = catalog::item(&state, body.item_id).await?.ok_or_else(|| {
        ApiError::not_found("ITEM_NOT_FOUND", format!("no item {}", body.item_id))
    })?;
    if !item.is_open(Utc::now()) {
        let opens = item.start_at.map(|at| at.to_rfc3339()).unwrap_or_default();
        return Err(ApiError::conflict(
            "NOT_OPEN",
            format!("this time deal opens at {opens}"),
        ));
    }
    let purchase = Purchase {
        order_id: Uuid::new_v4(),
        item_id: item.id,
        user_id,
        count: body.count,
    };
    let status = state.strategy.place(&state, &purchase).await?;
    Ok(api::Ok(
        StatusCode::ACCEPTED,
        Accepted {
            order_id: purchase.order_id,
            status,
        },
    ))
}

/// `GET /api/orders/{id}`: the caller's own orders only (another user's
/// order is `404`, as if it did not exist).
pub async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<api::Ok<OrderView>, ApiError> {
    let order_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::bad_request("INVALID_ORDER_ID", "the order id is not a UUID"))?;
    let user_id = user.user_id.to_string();
    let row = sqlx::query(
        "SELECT item_id, count, status, strategy FROM orders WHERE id = $1 AND user_id = $2",
    )
    .bind(order_id)
    .bind(&user_id)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(row) = row {
        return Ok(api::ok(OrderView {
            order_id,
            status: OrderStatus::parse(row.get("status")),
            item_id: Some(row.get("item_id")),
            count: Some(row.get("count")),
            strategy: Some(row.get("strategy")),
        }));
    }
    // The marker holds the buyer's id (see the `lua-mq` strategy).
    let pending: Option<String> = state.redis.clone().get(pending_key(order_id)).await?;
    if pending.as_deref() == Some(user_id.as_str()) {
        return Ok(api::ok(OrderView {
            order_id,
            status: OrderStatus::Pending,
            item_id: None,
            count: None,
            strategy: None,
        }));
    }
    Err(ApiError::not_found(
        "ORDER_NOT_FOUND",
        format!("no order {order_id}"),
    ))
}
