//! What the catalog and order handlers can reach.

use std::sync::Arc;

use cache_aside::Cache;
use mq_reliable::amqp::Publisher;
use sqlx::PgPool;

use crate::catalog::Item;
use crate::strategy::Strategy;

/// The catalog and order services' shared state.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (stock counters, pending markers).
    pub redis: redis::aio::ConnectionManager,
    /// Item details through cache-aside, when enabled.
    pub items: Option<Cache<i64, Item>>,
    /// How orders take stock.
    pub strategy: Strategy,
    /// Locks for the `redis-lock` strategy.
    pub locks: Option<Arc<redlock::LockManager>>,
    /// The confirmed publisher for the `lua-mq` strategy.
    pub publisher: Option<Arc<Publisher>>,
}
