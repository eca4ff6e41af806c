//! Assembling the services: shared state, routes per role, serving.
//!
//! One binary plays every role (`serve --role catalog|order|worker|all`);
//! each role gets only the connections it needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cache_aside::Cache;
use mq_reliable::amqp::{Broker, Publisher};
use mq_reliable::inbox::PgInbox;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::catalog::{self, Item};
use crate::config::Config;
use crate::orders;
use crate::strategy::Strategy;
use crate::worker::{self, Worker};

/// Largest request body accepted (an order is a few dozen bytes).
pub const BODY_LIMIT: usize = 4 * 1024;

/// Which part of the system a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// `GET /api/items…`, `GET /api/stock/{id}`.
    Catalog,
    /// `POST /api/orders`, `GET /api/orders/{id}` (and the catalog reads it needs).
    Order,
    /// Consumes `OrderPlaced` and persists orders.
    Worker,
    /// Everything in one process.
    All,
}

/// How a service is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The roles.
    pub role: Role,
    /// How orders take stock.
    pub strategy: Strategy,
    /// Serve item details through cache-aside (on by default; off to measure
    /// the database alone).
    pub item_cache: bool,
    /// Database connections.
    pub db_connections: u32,
    /// The worker's pause per order (demos and tests).
    pub worker_delay: Duration,
    /// The `redis-lock` strategy's lease: how long a lock outlives a holder
    /// that stopped renewing it (crashed, paused, cut off).
    pub lock_lease: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            role: Role::All,
            strategy: Strategy::Lua,
            item_cache: true,
            db_connections: 16,
            worker_delay: Duration::ZERO,
            lock_lease: Duration::from_secs(10),
        }
    }
}

/// What every handler can reach.
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

/// A running system: the HTTP address (if the role serves HTTP) and the
/// background tasks.
pub struct Running {
    /// Where the HTTP API listens.
    pub addr: Option<SocketAddr>,
    /// The database pool (tools and tests read results through it).
    pub pool: PgPool,
    /// Redis.
    pub redis: redis::aio::ConnectionManager,
    http: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    workers: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    stop: Vec<mq_reliable::amqp::ShutdownHandle>,
}

impl Running {
    /// Runs until every role has stopped (SIGTERM / Ctrl-C stops them
    /// gracefully) or one fails.
    pub async fn wait(self) -> anyhow::Result<()> {
        let tasks = self
            .http
            .into_iter()
            .chain(self.workers)
            .map(|task| async move { task.await? });
        futures::future::try_join_all(tasks).await?;
        Ok(())
    }

    /// Stops the HTTP server, then the workers gracefully (in-flight orders
    /// finish and are acknowledged).
    pub async fn shutdown(self) {
        for task in self.http {
            task.abort();
            let _ = task.await;
        }
        for handle in &self.stop {
            handle.shutdown();
        }
        for task in self.workers {
            let _ = task.await;
        }
    }
}

/// Starts the roles in `settings` on `listen` (port 0 picks one).
pub async fn start(
    config: &Config,
    settings: &Settings,
    listen: SocketAddr,
) -> anyhow::Result<Running> {
    let pool = crate::db::connect(&config.database_url, settings.db_connections).await?;
    let redis_client = redis::Client::open(config.redis_url.as_str())?;
    // A flash sale queues a thousand requests on one multiplexed connection:
    // give an answer seconds, not the default half second, before a 503.
    let redis_config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    let redis =
        redis::aio::ConnectionManager::new_with_config(redis_client.clone(), redis_config).await?;
    let serves_http = settings.role != Role::Worker;
    let orders = matches!(settings.role, Role::Order | Role::All);
    let needs_broker = settings.role == Role::Worker
        || settings.role == Role::All
        || (orders && settings.strategy == Strategy::LuaMq);
    let broker = if needs_broker {
        Some(Broker::connect(config.amqp_url.clone()).await?)
    } else {
        None
    };

    let mut http = Vec::new();
    let mut workers = Vec::new();
    let mut stop = Vec::new();
    let mut addr = None;
    if serves_http {
        let items = if settings.item_cache {
            Some(
                Cache::<i64, Item>::builder(redis_client.clone(), "item")
                    .ttl(Duration::from_secs(300))
                    .local(10_000, Duration::from_secs(5))
                    .negative_ttl(Duration::from_secs(5))
                    .build()
                    .await?,
            )
        } else {
            None
        };
        let locks = if orders && settings.strategy == Strategy::RedisLock {
            Some(Arc::new(
                redlock::LockManager::builder(redis_client.clone())
                    .lease(settings.lock_lease)
                    .build()
                    .await?,
            ))
        } else {
            None
        };
        let publisher = match (&broker, orders && settings.strategy == Strategy::LuaMq) {
            (Some(broker), true) => {
                // Declared here too, so orders wait in the queue while no worker runs.
                drop(worker::order_consumer(broker).await?);
                Some(Arc::new(broker.publisher().build().await?))
            }
            _ => None,
        };
        let state = AppState {
            pool: pool.clone(),
            redis: redis.clone(),
            items,
            strategy: settings.strategy,
            locks,
            publisher,
        };
        let listener = TcpListener::bind(listen).await?;
        addr = Some(listener.local_addr()?);
        let app = router(state, settings.role);
        http.push(tokio::spawn(async move {
            // SIGTERM / Ctrl-C: stop accepting, finish the requests in flight.
            axum::serve(listener, app)
                .with_graceful_shutdown(mq_reliable::shutdown_signal())
                .await?;
            Ok(())
        }));
    }
    if matches!(settings.role, Role::Worker | Role::All) {
        let broker = broker.as_ref().expect("the worker has a broker");
        let consumer = worker::order_consumer(broker).await?;
        stop.push(consumer.shutdown_handle());
        let worker = Worker {
            pool: pool.clone(),
            redis: redis.clone(),
            inbox: PgInbox::new("inbox")?,
            delay: settings.worker_delay,
        };
        workers.push(tokio::spawn(async move {
            consumer
                .run_until(
                    move |message| {
                        let worker = worker.clone();
                        async move { worker.apply(message).await }
                    },
                    mq_reliable::shutdown_signal(),
                )
                .await?;
            Ok(())
        }));
    }
    Ok(Running {
        addr,
        pool,
        redis,
        http,
        workers,
        stop,
    })
}

/// The HTTP routes of `role`.
pub fn router(state: AppState, role: Role) -> Router {
    let mut app = Router::new();
    if matches!(role, Role::Catalog | Role::Order | Role::All) {
        app = app
            .route("/api/items", get(catalog::list_items))
            .route("/api/items/{id}", get(catalog::get_item))
            .route("/api/stock/{id}", get(catalog::get_stock));
    }
    if matches!(role, Role::Order | Role::All) {
        app = app
            .route("/api/orders", post(orders::place_order))
            .route("/api/orders/{id}", get(orders::get_order));
    }
    app.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
