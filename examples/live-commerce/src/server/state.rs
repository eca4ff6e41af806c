//! What the catalog and order handlers can reach.

use std::sync::Arc;

use axum::extract::FromRef;

use cache_aside::Cache;
use mq_reliable::amqp::{Broker, Publisher};
use sqlx::PgPool;

use crate::catalog::Item;
use crate::catalog::client::CatalogClient;
use crate::orders::PaymentTerms;
use crate::strategy::Strategy;

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> PgPool {
        state.pool.clone()
    }
}

/// The catalog and order services' shared state.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (stock counters, pending markers).
    pub redis: redis::aio::ConnectionManager,
    /// Item details through cache-aside, when enabled.
    pub items: Option<Cache<i64, Item>>,
    /// The order service's cache of items read from the catalog (catalog
    /// roles hold it to invalidate it on every edit; an order role reading
    /// over HTTP holds it inside [`catalog`](Self::catalog)).
    pub reader_view: Option<Cache<i64, Item>>,
    /// The catalog service, when this order role reads items over HTTP.
    pub catalog: Option<CatalogClient>,
    /// How orders take stock.
    pub strategy: Strategy,
    /// Locks for the `redis-lock` strategy.
    pub locks: Option<Arc<redlock::LockManager>>,
    /// The confirmed publisher for the `lua-mq` strategy.
    pub publisher: Option<Arc<Publisher>>,
    /// RabbitMQ (order roles).
    pub broker: Option<Broker>,
    /// The payment window and the expiry route (order roles).
    pub payment: Option<PaymentTerms>,
    /// The daily sales the scheduler computes (catalog roles serve them).
    pub stats: Option<crate::scheduler::daily_stats::SalesCache>,
    /// The items whose stock this instance pushes to sockets.
    pub stock_feeds: crate::catalog::live_stock::StockFeeds,
}

impl AppState {
    /// Every cache holding copies of items, to invalidate on an edit.
    pub fn item_caches(&self) -> impl Iterator<Item = &Cache<i64, Item>> {
        self.items
            .iter()
            .chain(&self.reader_view)
            .chain(self.catalog.iter().map(CatalogClient::cache))
    }

    /// The payment terms.
    ///
    /// # Panics
    /// In a role that does not take orders.
    pub fn payment(&self) -> &PaymentTerms {
        self.payment
            .as_ref()
            .expect("the order roles have payment terms")
    }
}
