//! The order service's view of the catalog: item details read over HTTP
//! from the catalog service, through the order service's own cache-aside
//! cache (the seeds' `/item/{id}/cache` pattern).
//!
//! Services talk over HTTP, never through each other's tables: the order
//! service does not read `items`. Its cache (namespace
//! [`READER_NAMESPACE`], apart from the catalog's own so the two caches'
//! fleet-wide fill leases never wait on each other) keeps every item it has
//! read, so:
//!
//! - a hit costs no request to the catalog (local tier, then Redis);
//! - the catalog's `PUT /api/items/{id}` invalidates this namespace too, on
//!   every instance (cache-aside's coherence channel), so a new price is
//!   used at once;
//! - **stale-if-error**: when the catalog is down or failing and an entry
//!   has expired, the last known copy is served for up to an hour, so a
//!   catalog outage does not stop orders for items already read. An item
//!   never read answers `503` until the catalog is back.

use std::time::Duration;

use cache_aside::Cache;
use serde::Deserialize;

use super::Item;
use crate::api::ApiError;

/// The order service's item cache namespace.
pub const READER_NAMESPACE: &str = "catalog-item";
/// How long a stale copy is served while the catalog fails.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// How long one request to the catalog may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads items from the catalog service through a cache.
#[derive(Clone)]
pub struct CatalogClient {
    http: reqwest::Client,
    base: String,
    cache: Cache<i64, Item>,
}

/// The envelope of `GET /api/items/{id}`.
#[derive(Deserialize)]
struct Envelope {
    data: Item,
}

impl CatalogClient {
    /// A client of the catalog at `base` (`http://host:port`), caching in
    /// `redis` with entries fresh for `ttl`.
    pub async fn new(base: &str, redis: redis::Client, ttl: Duration) -> anyhow::Result<Self> {
        let cache = super::cache_builder(redis, READER_NAMESPACE, ttl)
            .build()
            .await?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            cache,
        })
    }

    /// The cache, for its counters.
    pub fn cache(&self) -> &Cache<i64, Item> {
        &self.cache
    }

    /// The item `id` (`None` when the catalog has no such item).
    pub async fn item(&self, id: i64) -> Result<Option<Item>, ApiError> {
        let (http, url) = (self.http.clone(), format!("{}/api/items/{id}", self.base));
        self.cache
            .get_or_load(&id, move || fetch(http, url))
            .await
            .map_err(|error| ApiError::unavailable("the catalog service", error))
    }
}

/// What a failed fetch tells the cache.
type LoadError = Box<dyn std::error::Error + Send + Sync>;

async fn fetch(http: reqwest::Client, url: String) -> Result<Option<Item>, LoadError> {
    let response = http.get(&url).send().await?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(Some(response.json::<Envelope>().await?.data)),
        reqwest::StatusCode::NOT_FOUND => Ok(None),
        status => Err(format!("GET {url} answered {status}").into()),
    }
}
