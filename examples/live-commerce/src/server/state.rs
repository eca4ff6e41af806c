//! What the catalog and order handlers can reach.

use std::sync::Arc;

use cache_aside::Cache;
use mq_reliable::amqp::{Broker, Publisher};
use sqlx::PgPool;

use crate::catalog::Item;
use crate::orders::PaymentTerms;
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
    /// RabbitMQ (order roles).
    pub broker: Option<Broker>,
    /// The payment window and the expiry route (order roles).
    pub payment: Option<PaymentTerms>,
}

impl AppState {
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
