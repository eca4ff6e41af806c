//! Items and their stock: the catalog service.
//!
//! `GET /api/items/{id}` is served through cache-aside (a local tier over
//! Redis over PostgreSQL); stock changes on every sale, so it is never
//! cached: `GET /api/stock/{id}` reads it live. An admin creates and edits
//! items ([`admin`]); every edit invalidates the cached copies on every
//! instance. The order service reads items through [`client`].

pub mod admin;
pub mod client;
pub mod live_stock;

use std::time::Duration;

use cache_aside::{Cache, CacheBuilder};

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, PgPool, Row};

use crate::api::{self, ApiError};
use crate::server::AppState;
use crate::stock;

/// What kind of sale an item is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemKind {
    /// On sale now.
    General,
    /// On sale from `start_at`.
    TimeDeal,
}

impl ItemKind {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::General => "GENERAL",
            ItemKind::TimeDeal => "TIME_DEAL",
        }
    }

    fn parse(kind: &str) -> Self {
        if kind == "TIME_DEAL" {
            ItemKind::TimeDeal
        } else {
            ItemKind::General
        }
    }
}

/// An item's catalog entry (what is cached: everything but the stock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The item id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// General or time deal.
    pub kind: ItemKind,
    /// Price in the smallest currency unit.
    pub price: i64,
    /// When a time deal opens.
    pub start_at: Option<DateTime<Utc>>,
}

impl Item {
    /// Whether the item can be bought at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        match (self.kind, self.start_at) {
            (ItemKind::TimeDeal, Some(start)) => now >= start,
            _ => true,
        }
    }
}

/// A new item, as the seeding code and the flash-sale tool create it.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Display name.
    pub name: String,
    /// General or time deal.
    pub kind: ItemKind,
    /// Price.
    pub price: i64,
    /// Units in stock.
    pub stock: i32,
    /// When a time deal opens.
    pub start_at: Option<DateTime<Utc>>,
}

/// Creates an item in the database and loads its stock counter into Redis
/// (the Lua strategies sell from there).
pub async fn create_item(
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    item: &NewItem,
) -> Result<i64, ApiError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO items (name, kind, price, stock, start_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&item.name)
    .bind(item.kind.as_str())
    .bind(item.price)
    .bind(item.stock)
    .bind(item.start_at)
    .fetch_one(pool)
    .await?;
    stock::load(redis, id, item.stock).await?;
    Ok(id)
}

/// Reads one item from the database.
pub async fn find_item<'e>(db: impl PgExecutor<'e>, id: i64) -> Result<Option<Item>, sqlx::Error> {
    let row = sqlx::query("SELECT id, name, kind, price, start_at FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(item_from_row))
}

/// An item from a row of `SELECT id, name, kind, price, start_at`.
pub(crate) fn item_from_row(row: &PgRow) -> Item {
    Item {
        id: row.get("id"),
        name: row.get("name"),
        kind: ItemKind::parse(row.get("kind")),
        price: row.get("price"),
        start_at: row.get("start_at"),
    }
}

/// The catalog's own cache namespace.
pub const CACHE_NAMESPACE: &str = "item";
/// How long a cached item stays fresh, unless configured otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// The settings every item cache shares: fresh for `ttl`, a local tier of
/// 10,000 items for 5 s (invalidated across instances on every edit),
/// unknown ids remembered for 5 s, and the last copy served for an hour
/// when the source fails.
pub fn cache_builder(
    redis: redis::Client,
    namespace: &str,
    ttl: Duration,
) -> CacheBuilder<i64, Item> {
    Cache::<i64, Item>::builder(redis, namespace)
        .ttl(ttl)
        .local(10_000, Duration::from_secs(5))
        .negative_ttl(Duration::from_secs(5))
        .stale_if_error(client::STALE_IF_ERROR)
}

/// The item: from the catalog service when this service reads it over
/// HTTP, else from the database through the cache when the service has one.
pub async fn item(state: &AppState, id: i64) -> Result<Option<Item>, ApiError> {
    if let Some(catalog) = &state.catalog {
        return catalog.item(id).await;
    }
    match &state.items {
        Some(cache) => {
            let pool = state.pool.clone();
            cache
                .get_or_load(&id, move || async move { find_item(&pool, id).await })
                .await
                .map_err(|error| ApiError::unavailable("the catalog", error))
        }
        None => Ok(find_item(&state.pool, id).await?),
    }
}

/// Units left in the database.
pub async fn db_stock(pool: &PgPool, id: i64) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found("ITEM_NOT_FOUND", format!("no item {id}"))
}

/// `GET /api/items/{id}`
pub async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<api::Ok<Item>, ApiError> {
    item(&state, id)
        .await?
        .map(api::ok)
        .ok_or_else(|| not_found(id))
}

/// `GET /api/items`: the newest 100 items.
pub async fn list_items(State(state): State<AppState>) -> Result<api::Ok<Vec<Item>>, ApiError> {
    let rows =
        sqlx::query("SELECT id, name, kind, price, start_at FROM items ORDER BY id DESC LIMIT 100")
            .fetch_all(&state.pool)
            .await?;
    Ok(api::ok(rows.iter().map(item_from_row).collect()))
}

/// Stock as the catalog reports it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockView {
    /// The item id.
    pub item_id: i64,
    /// Units left according to the database (the orders persisted so far).
    pub stock: i32,
    /// Units left according to Redis (the Lua strategies' gate), if loaded.
    pub reservable: Option<i64>,
    /// Units a buyer can still get: `reservable` where orders sell from
    /// Redis, `stock` where they sell from the database.
    pub left: i64,
}

/// `GET /api/stock/{id}`
pub async fn get_stock(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<api::Ok<StockView>, ApiError> {
    let view = stock_view(&state, id).await?.ok_or_else(|| not_found(id))?;
    Ok(api::ok(view))
}

/// The stock of item `id`; `None` when there is no such item.
pub async fn stock_view(state: &AppState, id: i64) -> Result<Option<StockView>, ApiError> {
    let Some(stock) = db_stock(&state.pool, id).await? else {
        return Ok(None);
    };
    let reservable = stock::remaining(&state.redis, id).await?;
    let left = match reservable {
        Some(reservable) if state.strategy.sells_from_redis() => reservable,
        _ => i64::from(stock),
    };
    Ok(Some(StockView {
        item_id: id,
        stock,
        reservable,
        left,
    }))
}
