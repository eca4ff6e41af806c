//! Orders: entry, payment, expiry.
//!
//! | endpoint | what it does |
//! |---|---|
//! | `POST /api/orders` | takes stock with the configured [`Strategy`]; the order waits `PENDING_PAYMENT` |
//! | `POST /api/orders/{id}/pay` | confirms it ([`payment`]), idempotent under `Idempotency-Key` |
//! | `GET /api/orders/{id}` | one of the caller's orders |
//! | `GET /api/orders?mine` | the caller's orders, newest first |
//!
//! Every strategy shares the checks made before stock is touched: the user
//! (the session's, see [`CurrentUser`]), the count (1..=10), the item (404
//! when unknown) and the time deal's opening (409 before it). Then the
//! strategy takes the stock and records the order with its payment window;
//! a delayed message ([`expiry`]) gives the units back if it is not paid in
//! time.

pub mod expiry;
pub mod payment;
mod terms;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::api::{self, ApiError, JsonBody};
use crate::auth::session::CurrentUser;
use crate::server::AppState;
use crate::strategy::Strategy;

pub use terms::PaymentTerms;

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
///
/// ```text
///  ACCEPTED ──(worker)──► PENDING_PAYMENT ──pay──► CONFIRMED
///  (lua-mq only)                │
///                               └──payment window ends──► EXPIRED (units back on sale)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Taken from the Redis counter and queued; not persisted yet (the
    /// `lua-mq` strategy's worker will). Cannot be paid yet.
    Accepted,
    /// Recorded with its stock taken; waiting for payment until `expiresAt`.
    PendingPayment,
    /// Paid.
    Confirmed,
    /// Not paid in time; its units are on sale again.
    Expired,
    /// Could not be fulfilled (a `lua-mq` order the database stock could
    /// not cover).
    Failed,
}

impl OrderStatus {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Accepted => "ACCEPTED",
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Failed => "FAILED",
        }
    }

    /// Reads the database spelling.
    pub fn parse(status: &str) -> Self {
        match status {
            "PENDING_PAYMENT" => OrderStatus::PendingPayment,
            "CONFIRMED" => OrderStatus::Confirmed,
            "EXPIRED" => OrderStatus::Expired,
            "FAILED" => OrderStatus::Failed,
            _ => OrderStatus::Accepted,
        }
    }
}

/// The answer to an accepted order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The order id.
    pub order_id: Uuid,
    /// `PENDING_PAYMENT` for the synchronous strategies, `ACCEPTED` for
    /// `lua-mq`.
    pub status: OrderStatus,
    /// The end of the payment window.
    pub expires_at: DateTime<Utc>,
}

/// An order as `GET /api/orders/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id.
    pub order_id: Uuid,
    /// Where it stands (`EXPIRED` as soon as the window has ended, even
    /// before the expiry message has given the units back).
    pub status: OrderStatus,
    /// The item (unknown while accepted).
    pub item_id: Option<i64>,
    /// Units.
    pub count: Option<i32>,
    /// The strategy that took it.
    pub strategy: Option<String>,
    /// When it was placed.
    pub created_at: Option<DateTime<Utc>>,
    /// The end of the payment window.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// The item's price when it was placed.
    pub unit_price: Option<i64>,
}

impl OrderView {
    /// The view of a row of [`ORDER_COLUMNS`].
    fn from_row(row: &PgRow, now: DateTime<Utc>) -> Self {
        let expires_at: Option<DateTime<Utc>> = row.get("expires_at");
        let mut status = OrderStatus::parse(row.get("status"));
        if status == OrderStatus::PendingPayment && expires_at.is_some_and(|at| at <= now) {
            status = OrderStatus::Expired;
        }
        OrderView {
            order_id: row.get("id"),
            status,
            item_id: Some(row.get("item_id")),
            count: Some(row.get("count")),
            strategy: Some(row.get("strategy")),
            created_at: Some(row.get("created_at")),
            expires_at,
            paid_at: row.get("paid_at"),
            unit_price: row.get("unit_price"),
        }
    }
}

/// The columns [`OrderView::from_row`] reads.
const ORDER_COLUMNS: &str =
    "id, item_id, count, status, strategy, created_at, expires_at, paid_at, unit_price";

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
    /// When the order service accepted it (the payment window starts here).
    pub accepted_at: DateTime<Utc>,
    /// The item's price then.
    pub unit_price: i64,
}

/// Records an order `PENDING_PAYMENT` on `conn` (the transaction that took
/// its stock) and, in the same transaction, its expiry message: the order
/// and its timer commit together or not at all.
pub async fn insert_order(
    conn: &mut PgConnection,
    purchase: &Purchase,
    strategy: Strategy,
    terms: &PaymentTerms,
) -> mq_reliable::Result<bool> {
    let inserted = insert_row(
        &mut *conn,
        purchase,
        OrderStatus::PendingPayment,
        strategy,
        Some(terms.expires_at(purchase.accepted_at)),
    )
    .await?;
    if inserted {
        expiry::schedule(conn, terms, purchase.order_id).await?;
    }
    Ok(inserted)
}

/// Records an order that could not be fulfilled (`FAILED`, no window).
pub async fn insert_failed_order(
    conn: &mut PgConnection,
    purchase: &Purchase,
    strategy: Strategy,
) -> Result<bool, sqlx::Error> {
    insert_row(conn, purchase, OrderStatus::Failed, strategy, None).await
}

async fn insert_row(
    conn: &mut PgConnection,
    purchase: &Purchase,
    status: OrderStatus,
    strategy: Strategy,
    expires_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO orders \
         (id, item_id, user_id, count, status, strategy, created_at, expires_at, unit_price) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(purchase.order_id)
    .bind(purchase.item_id)
    .bind(&purchase.user_id)
    .bind(purchase.count)
    .bind(status.as_str())
    .bind(strategy.name())
    .bind(purchase.accepted_at)
    .bind(expires_at)
    .bind(purchase.unit_price)
    .execute(conn)
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
    let item = crate::catalog::item(&state, body.item_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("ITEM_NOT_FOUND", format!("no item {}", body.item_id))
        })?;
    let now = Utc::now();
    if !item.is_open(now) {
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
        accepted_at: now,
        unit_price: item.price,
    };
    let status = state.strategy.place(&state, &purchase).await?;
    Ok(api::Ok(
        StatusCode::ACCEPTED,
        Accepted {
            order_id: purchase.order_id,
            status,
            expires_at: state.payment().expires_at(now),
        },
    ))
}

/// Parses an order id from the path (`400 INVALID_ORDER_ID` otherwise).
pub fn parse_order_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request("INVALID_ORDER_ID", "the order id is not a UUID"))
}

/// The caller's order `order_id`, if it is persisted.
pub async fn find_order(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    user_id: &str,
) -> Result<Option<OrderView>, sqlx::Error> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND user_id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(order_id)
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|row| OrderView::from_row(&row, Utc::now())))
}

/// Whether `order_id` is a `lua-mq` order of `user_id` still in the queue.
pub async fn is_accepted(
    state: &AppState,
    order_id: Uuid,
    user_id: &str,
) -> Result<bool, ApiError> {
    // The marker holds the buyer's id (see the `lua-mq` strategy).
    let marker: Option<String> = state.redis.clone().get(pending_key(order_id)).await?;
    Ok(marker.as_deref() == Some(user_id))
}

/// `GET /api/orders/{id}`: the caller's own orders only (another user's
/// order is `404`, as if it did not exist).
pub async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<api::Ok<OrderView>, ApiError> {
    let order_id = parse_order_id(&id)?;
    let user_id = user.user_id.to_string();
    if let Some(view) = find_order(&state.pool, order_id, &user_id).await? {
        return Ok(api::ok(view));
    }
    if is_accepted(&state, order_id, &user_id).await? {
        return Ok(api::ok(OrderView {
            order_id,
            status: OrderStatus::Accepted,
            item_id: None,
            count: None,
            strategy: None,
            created_at: None,
            expires_at: None,
            paid_at: None,
            unit_price: None,
        }));
    }
    Err(not_found(order_id))
}

/// `404 ORDER_NOT_FOUND`.
pub fn not_found(order_id: Uuid) -> ApiError {
    ApiError::not_found("ORDER_NOT_FOUND", format!("no order {order_id}"))
}

/// The query of `GET /api/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `?mine` (the only listing there is: a buyer sees their own orders).
    #[serde(default)]
    pub mine: Option<String>,
    /// Orders per page (1..=100, default 20).
    pub limit: Option<i64>,
    /// Orders to skip (0..=10,000).
    pub offset: Option<i64>,
}

/// `GET /api/orders?mine&limit=20&offset=0`: the caller's persisted orders,
/// newest first (a `lua-mq` order appears once the worker persisted it).
pub async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<api::Ok<Vec<OrderView>>, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("INVALID_QUERY", rejection.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    let offset = query.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) || !(0..=10_000).contains(&offset) {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            "limit must be 1..=100 and offset 0..=10000",
        ));
    }
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(user.user_id.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.pool)
        .await?;
    let now = Utc::now();
    Ok(api::ok(
        rows.iter()
            .map(|row| OrderView::from_row(row, now))
            .collect(),
    ))
}
