//! Catalog writes, for admins: `POST /api/items` creates an item with its
//! stock (and loads the sale's Redis counter), `PUT /api/items/{id}`
//! replaces its name, kind, price and opening time.
//!
//! An edit commits the row first and then invalidates every cached copy:
//! the catalog's own cache and the order service's
//! ([`client::READER_NAMESPACE`](super::client::READER_NAMESPACE)), in
//! Redis and in every instance's local tier. When the invalidation fails
//! (Redis down) the answer is `503` and the edit is committed: sending the
//! same `PUT` again is harmless and finishes the job. Stock is not edited
//! here: it moves with every sale, and rewriting it would race with them.
//!
//! A lower price notifies everyone who ordered the item (`price-drop`, in
//! the edit's transaction; see [`notifications`](crate::notifications)).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Item, ItemKind, NewItem};
use crate::api::{self, ApiError, JsonBody};
use crate::auth::session::Admin;
use crate::server::AppState;

/// The longest item name.
pub const MAX_NAME_LENGTH: usize = 200;
/// The highest price (in the smallest currency unit).
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// The most units one item may be created with.
pub const MAX_STOCK: i32 = 10_000_000;

/// The body of `POST /api/items`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateItem {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// General or time deal.
    pub kind: ItemKind,
    /// Price (0 to 10^12).
    pub price: i64,
    /// Units on sale (0 to 10^7).
    pub stock: i32,
    /// When a time deal opens (required for `TIME_DEAL`, refused otherwise).
    pub start_at: Option<DateTime<Utc>>,
}

/// The body of `PUT /api/items/{id}`: the whole entry but its stock.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateItem {
    /// Display name.
    pub name: String,
    /// General or time deal.
    pub kind: ItemKind,
    /// Price.
    pub price: i64,
    /// When a time deal opens.
    pub start_at: Option<DateTime<Utc>>,
}

/// Checks the fields every write shares; the trimmed name.
fn checked(
    name: &str,
    kind: ItemKind,
    price: i64,
    start_at: Option<DateTime<Utc>>,
) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LENGTH {
        return Err(ApiError::bad_request(
            "INVALID_NAME",
            format!("the name must be 1 to {MAX_NAME_LENGTH} characters"),
        ));
    }
    if !(0..=MAX_PRICE).contains(&price) {
        return Err(ApiError::bad_request(
            "INVALID_PRICE",
            format!("the price must be 0 to {MAX_PRICE}"),
        ));
    }
    match (kind, start_at) {
        (ItemKind::TimeDeal, None) => Err(ApiError::bad_request(
            "INVALID_START",
            "a TIME_DEAL needs its startAt",
        )),
        (ItemKind::General, Some(_)) => Err(ApiError::bad_request(
            "INVALID_START",
            "a GENERAL item is on sale now; startAt is for a TIME_DEAL",
        )),
        _ => Ok(name.to_string()),
    }
}

/// `POST /api/items` (admin): `201` with the new item.
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(body): JsonBody<CreateItem>,
) -> Result<api::Ok<Item>, ApiError> {
    let name = checked(&body.name, body.kind, body.price, body.start_at)?;
    if !(0..=MAX_STOCK).contains(&body.stock) {
        return Err(ApiError::bad_request(
            "INVALID_STOCK",
            format!("the stock must be 0 to {MAX_STOCK}"),
        ));
    }
    let item = NewItem {
        name,
        kind: body.kind,
        price: body.price,
        stock: body.stock,
        start_at: body.start_at,
    };
    let id = super::create_item(&state.pool, &state.redis, &item).await?;
    let created = super::find_item(&state.pool, id)
        .await?
        .ok_or_else(|| super::not_found(id))?;
    Ok(api::Ok(StatusCode::CREATED, created))
}

/// `PUT /api/items/{id}` (admin): the updated item, once every cached copy
/// is invalidated.
pub async fn update(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<UpdateItem>,
) -> Result<api::Ok<Item>, ApiError> {
    let name = checked(&body.name, body.kind, body.price, body.start_at)?;
    let mut tx = state.pool.begin().await?;
    // Locked, so the price compared is the one this edit replaces.
    let old_price: Option<i64> =
        sqlx::query_scalar("SELECT price FROM items WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(old_price) = old_price else {
        return Err(super::not_found(id));
    };
    sqlx::query("UPDATE items SET name = $2, kind = $3, price = $4, start_at = $5 WHERE id = $1")
        .bind(id)
        .bind(&name)
        .bind(body.kind.as_str())
        .bind(body.price)
        .bind(body.start_at)
        .execute(&mut *tx)
        .await?;
    if body.price < old_price {
        notify_price_drop(&mut tx, id, &name, old_price, body.price).await?;
    }
    tx.commit().await?;
    for cache in state.item_caches() {
        cache.invalidate(&id).await.map_err(|error| {
            ApiError::unavailable(
                "invalidating the cached item (the edit is saved; retry)",
                error,
            )
        })?;
    }
    let item = super::find_item(&state.pool, id)
        .await?
        .ok_or_else(|| super::not_found(id))?;
    Ok(api::ok(item))
}

/// Tells every buyer of item `id` its price dropped, in the edit's
/// transaction: one `price-drop` notification each, keyed by this edit.
async fn notify_price_drop(
    tx: &mut sqlx::PgConnection,
    id: i64,
    name: &str,
    old_price: i64,
    new_price: i64,
) -> Result<u64, sqlx::Error> {
    let key = format!("price-drop:{id}:{}", uuid::Uuid::new_v4());
    let payload = serde_json::json!({
        "itemId": id, "itemName": name, "oldPrice": old_price, "newPrice": new_price,
    });
    crate::notifications::record::record_for_buyers_of(
        tx,
        id,
        &key,
        crate::notifications::Kind::PriceDrop,
        &payload,
    )
    .await
}
