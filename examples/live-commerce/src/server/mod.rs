//! Assembling the services: roles, settings, start-up, shutdown.
//!
//! One binary plays every role (`serve --role gateway|auth|catalog|order|worker|chat|scheduler|all`);
//! each role opens only the connections it needs, and each runs as its own
//! process behind the gateway (`all` runs them in one, for the demo).
//!
//! | file | what it is |
//! |---|---|
//! | [`state`] | what the catalog and order handlers reach |
//! | [`routes`] | the routes of each role and the layers every request passes |
//! | [`listen`] | serving over HTTP or TLS, with graceful shutdown |

pub mod listen;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mq_reliable::StatsHandle;
use mq_reliable::amqp::Broker;
use mq_reliable::inbox::PgInbox;
use mq_reliable::outbox::{Outbox, Relay};
use session_store::RedisStore;
use sqlx::PgPool;

use crate::auth::login_limit::{LoginLimiter, LoginLimits};
use crate::auth::password::{HashCost, Passwords};
use crate::auth::routes::AuthState;
use crate::catalog::client::CatalogClient;
use crate::config::Config;
use crate::gateway::tls::{Tls, TlsSource};
use crate::gateway::{Gateway, Upstreams};
use crate::observe::{Observability, Probe, StatsSource};
use crate::orders::PaymentTerms;
use crate::strategy::Strategy;
use crate::worker::{self, Worker};

pub use state::AppState;

/// Largest request body accepted (an order is a few dozen bytes; a login a
/// few hundred).
pub const BODY_LIMIT: usize = 4 * 1024;

/// How long a buyer has to pay, unless `--payment-window` says otherwise.
pub const DEFAULT_PAYMENT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The outbox table (migration 0004).
pub const OUTBOX_TABLE: &str = "mq_outbox";

/// Which part of the system a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The entry point: TLS, request ids, routing to the other roles.
    Gateway,
    /// `/api/auth/…`: accounts, login, logout.
    Auth,
    /// `/api/items…` (reads; admin writes), `/api/stock/{id}`, views,
    /// search and rankings.
    Catalog,
    /// `/api/orders…`: entry, payment, the buyer's list; the dead-letter
    /// admin (and the catalog reads it needs).
    Order,
    /// Persists `lua-mq` orders and expires unpaid ones, from RabbitMQ
    /// (HTTP: health and metrics only).
    Worker,
    /// Runs the scheduled jobs, each tick once across every scheduler
    /// instance (HTTP: health and metrics only).
    Scheduler,
    /// `/api/chat/…` and `/api/notifications…`: live chat rooms and each
    /// user's notification feed over WebSockets.
    Chat,
    /// Everything in one process (the gateway's edge duties included).
    All,
}

impl Role {
    /// The role's name, as `--role` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Auth => "auth",
            Role::Catalog => "catalog",
            Role::Order => "order",
            Role::Worker => "worker",
            Role::Scheduler => "scheduler",
            Role::Chat => "chat",
            Role::All => "all",
        }
    }

    fn serves_auth(self) -> bool {
        matches!(self, Role::Auth | Role::All)
    }

    fn serves_catalog(self) -> bool {
        matches!(self, Role::Catalog | Role::Order | Role::All)
    }

    fn serves_orders(self) -> bool {
        matches!(self, Role::Order | Role::All)
    }

    fn runs_worker(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }

    fn runs_scheduler(self) -> bool {
        matches!(self, Role::Scheduler | Role::All)
    }

    fn serves_chat(self) -> bool {
        matches!(self, Role::Chat | Role::All)
    }

    /// Whether clients reach this role directly (it does the edge's duties).
    fn is_edge(self) -> bool {
        matches!(self, Role::Gateway | Role::All)
    }
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
    /// The gateway's upstream instances.
    pub upstreams: Upstreams,
    /// TLS at the edge (gateway, all); `None` serves plain HTTP.
    pub tls: Option<TlsSource>,
    /// Failed-login limits (auth).
    pub login_limits: LoginLimits,
    /// Password hashes computed at once (auth). Defaults to the core count.
    pub password_hashers: usize,
    /// The work each new password hash costs (auth): keep the default
    /// outside test suites.
    pub password_cost: HashCost,
    /// How long a buyer has to pay an order (order, worker).
    pub payment_window: Duration,
    /// The catalog service an order role reads items from over HTTP
    /// (through its own cache); `None` reads the database directly.
    pub catalog_url: Option<String>,
    /// How long a cached item stays fresh.
    pub item_cache_ttl: Duration,
    /// The chat sockets' history and limits (chat).
    pub chat: crate::chat::ChatSettings,
    /// The Kafka topic the worker archives chat messages through; `None`
    /// runs no archive (the sockets then resume from Redis history only).
    pub chat_archive_topic: Option<String>,
    /// The scheduled jobs (scheduler).
    pub scheduler: crate::scheduler::SchedulerSettings,
    /// How a sign-up's welcome mail is sent (auth).
    pub welcome_mail: crate::mail::Mode,
    /// How long composing a welcome mail takes (auth).
    pub welcome_mail_delay: Duration,
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
            upstreams: Upstreams::default(),
            tls: None,
            login_limits: LoginLimits::default(),
            password_hashers: std::thread::available_parallelism().map_or(2, usize::from),
            password_cost: HashCost::Standard,
            payment_window: DEFAULT_PAYMENT_WINDOW,
            catalog_url: None,
            item_cache_ttl: crate::catalog::DEFAULT_CACHE_TTL,
            chat: crate::chat::ChatSettings::default(),
            chat_archive_topic: None,
            scheduler: crate::scheduler::SchedulerSettings::default(),
            welcome_mail: crate::mail::Mode::Off,
            welcome_mail_delay: crate::mail::DEFAULT_DELAY,
        }
    }
}

/// A running system: the HTTP address (if the role serves HTTP) and the
/// background tasks.
pub struct Running {
    /// Where the HTTP API listens.
    pub addr: Option<SocketAddr>,
    /// The certificate served, as PEM, when the role serves TLS.
    pub tls_certificate_pem: Option<String>,
    pool: Option<PgPool>,
    redis: Option<redis::aio::ConnectionManager>,
    sessions: Option<RedisStore>,
    http: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    workers: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    relays: Vec<tokio::task::JoinHandle<()>>,
    stop: Vec<mq_reliable::amqp::ShutdownHandle>,
    consumers: Vec<(&'static str, StatsHandle)>,
}

impl Running {
    /// The database pool (tools and tests read results through it).
    ///
    /// # Panics
    /// For the gateway, which has none.
    pub fn pool(&self) -> &PgPool {
        self.pool.as_ref().expect("this role has no database")
    }

    /// Redis.
    ///
    /// # Panics
    /// For the gateway, which has none.
    pub fn redis(&self) -> &redis::aio::ConnectionManager {
        self.redis.as_ref().expect("this role has no Redis")
    }

    /// The counters of the consumer named `name` (`orders`, `expiries`,
    /// `welcome_mail`),
    /// for the roles that run it.
    pub fn consumer_stats(&self, name: &str) -> Option<StatsHandle> {
        self.consumers
            .iter()
            .find(|(consumer, _)| *consumer == name)
            .map(|(_, stats)| stats.clone())
    }

    /// The shared session store, for the roles that read sessions.
    pub fn sessions(&self) -> Option<&RedisStore> {
        self.sessions.as_ref()
    }

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
        // A relay stopped mid-batch rolls its batch back: those rows stay
        // pending for the next relay.
        for task in self.relays {
            task.abort();
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
    if settings.role == Role::Gateway {
        return start_gateway(settings, listen).await;
    }
    let role = settings.role;
    let pool = crate::db::connect(&config.database_url, settings.db_connections).await?;
    let redis_client = redis::Client::open(config.redis_url.as_str())?;
    let redis = connect_redis(&redis_client).await?;
    // Order roles schedule expiries; the worker consumes them.
    let queued_mail = role.serves_auth() && settings.welcome_mail == crate::mail::Mode::Mq;
    let needs_broker = role.runs_worker() || role.serves_orders() || queued_mail;
    let broker = if needs_broker {
        Some(Broker::connect(config.amqp_url.clone()).await?)
    } else {
        None
    };
    let mut running = Running {
        addr: None,
        tls_certificate_pem: None,
        pool: Some(pool.clone()),
        redis: Some(redis.clone()),
        sessions: None,
        http: Vec::new(),
        workers: Vec::new(),
        relays: Vec::new(),
        stop: Vec::new(),
        consumers: Vec::new(),
    };
    // The worker's consumer first: its counters go on this process's /metrics.
    let consumers = match (&broker, role.runs_worker()) {
        (Some(broker), true) => Some((
            worker::order_consumer(broker).await?,
            crate::orders::expiry::consumer(broker).await?,
        )),
        _ => None,
    };
    // The catalog reads sessions for its admin writes.
    let sessions = (role.serves_auth() || role.serves_catalog() || role.serves_chat())
        .then(|| crate::auth::session::store(redis_client.clone()))
        .transpose()?;
    let mut observe = Observability::new(role.name());
    if let Some((orders, expiries)) = &consumers {
        running.consumers = vec![
            ("orders", orders.stats_handle()),
            ("expiries", expiries.stats_handle()),
        ];
        observe = observe
            .stats(StatsSource::consumer("orders", orders.stats_handle()))
            .stats(StatsSource::consumer("expiries", expiries.stats_handle()));
    }
    let mail = if role.serves_auth() {
        Some(welcome_mail(config, settings, &pool, broker.as_ref()).await?)
    } else {
        None
    };
    if let Some(queue) = mail.as_ref().and_then(|mail| mail.queue.as_ref()) {
        running.consumers.push(("welcome_mail", queue.stats()));
        observe = observe.stats(StatsSource::consumer("welcome_mail", queue.stats()));
    }
    let app = app_state(settings, &pool, &redis, &redis_client, broker.as_ref()).await?;
    let terms = match (&broker, role.runs_worker() || role.serves_orders()) {
        (Some(broker), true) => Some(payment_terms(broker, settings).await?),
        _ => None,
    };
    if let (Some(broker), Some(terms)) = (&broker, &terms) {
        start_relay(&mut running, broker, &pool, terms).await?;
    }
    let parts = routes::Parts {
        role,
        app: app.map(|app| AppState {
            payment: terms.clone().filter(|_| role.serves_orders()),
            ..app
        }),
        auth: match (&sessions, role.serves_auth()) {
            (Some(sessions), true) => Some(AuthState {
                pool: pool.clone(),
                sessions: sessions.clone(),
                passwords: Passwords::new(settings.password_hashers, settings.password_cost)?,
                limiter: LoginLimiter::new(redis.clone(), settings.login_limits),
                welcome: mail
                    .as_ref()
                    .map(|mail| mail.welcome.clone())
                    .unwrap_or_default(),
            }),
            _ => None,
        },
        sessions: sessions.clone(),
        gateway: None,
        chat: match (&sessions, role.serves_chat()) {
            (Some(sessions), true) => Some(
                crate::chat::ChatState::start(&settings.chat, &redis_client, &pool, sessions)
                    .await?,
            ),
            _ => None,
        },
        tls: settings.tls.is_some(),
        observe,
    };
    let parts = observed(parts, &pool, &redis, broker.as_ref(), config);
    if let Some(chat) = &parts.chat {
        running.relays.push(chat.spawn_delivery());
    }
    running.sessions = sessions;
    if let (true, Some(topic)) = (role.runs_worker(), &settings.chat_archive_topic) {
        let (redis, pool, brokers) = (
            redis_client.clone(),
            pool.clone(),
            config.kafka_brokers.clone(),
        );
        running.relays.push(crate::chat::archive::spawn(
            redis,
            pool,
            brokers,
            topic.clone(),
        ));
    }
    // Every role serves HTTP, the worker too: /healthz, /readyz, /metrics.
    serve_http(&mut running, routes::router(parts), settings, listen).await?;
    if let (Some((orders, expiries)), Some(terms)) = (consumers, terms) {
        start_worker(&mut running, orders, settings, &pool, &redis, terms)?;
        start_expiries(&mut running, expiries, &pool, &redis);
    }
    if role.runs_scheduler() {
        // Runs until aborted (shutdown aborts it with the relays).
        let scheduler = crate::scheduler::start(&settings.scheduler, &pool, &redis, &redis_client);
        running.relays.push(scheduler.await?);
    }
    if let Some(queue) = mail.and_then(|mail| mail.queue) {
        let started = queue.spawn();
        running.workers.push(started.worker);
        running.relays.push(started.relay);
        running.stop.push(started.stop);
    }
    Ok(running)
}

async fn start_gateway(settings: &Settings, listen: SocketAddr) -> anyhow::Result<Running> {
    let gateway = Gateway::start(&settings.upstreams);
    let mut observe = Observability::new(Role::Gateway.name());
    for probe in upstream_probes(&gateway) {
        observe = observe.probe(probe);
    }
    let parts = routes::Parts {
        role: Role::Gateway,
        app: None,
        auth: None,
        sessions: None,
        gateway: Some(gateway),
        chat: None,
        tls: settings.tls.is_some(),
        observe,
    };
    let mut running = Running {
        addr: None,
        tls_certificate_pem: None,
        pool: None,
        redis: None,
        sessions: None,
        http: Vec::new(),
        workers: Vec::new(),
        relays: Vec::new(),
        stop: Vec::new(),
        consumers: Vec::new(),
    };
    serve_http(&mut running, routes::router(parts), settings, listen).await?;
    Ok(running)
}

/// What a service's `/readyz` checks and its `/metrics` export: each
/// dependency it holds, and each crate component's counters.
fn observed(
    mut parts: routes::Parts,
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    broker: Option<&Broker>,
    config: &Config,
) -> routes::Parts {
    let mut observe = parts
        .observe
        .clone()
        .probe(Probe::postgres(pool.clone()))
        .probe(Probe::redis(redis.clone()));
    if broker.is_some() {
        observe = observe.probe(Probe::rabbitmq(config.amqp_url.clone()));
    }
    if let Some(sessions) = &parts.sessions {
        observe = observe.stats(StatsSource::sessions(sessions));
    }
    if let Some(app) = &parts.app {
        if let Some(items) = &app.items {
            observe = observe.stats(StatsSource::cache("item", items));
        }
        if let Some(catalog) = &app.catalog {
            observe = observe.stats(StatsSource::cache("catalog_item", catalog.cache()));
        }
        if let Some(locks) = &app.locks {
            observe = observe.stats(StatsSource::locks(locks));
        }
    }
    parts.observe = observe;
    parts
}

/// One readiness probe per upstream instance (`order 127.0.0.1:8083`). A
/// probe's answer also marks the instance, so `/readyz` and the routing
/// never disagree about it.
fn upstream_probes(gateway: &Gateway) -> Vec<Probe> {
    let mut probes = Vec::new();
    for pool in gateway.pools() {
        for (index, instance) in pool.instances().iter().enumerate() {
            let authority = instance.base.authority().map_or("?", |a| a.as_str());
            // Probe names are `'static`: a few short strings made once at start.
            let name: &'static str =
                Box::leak(format!("{} {authority}", pool.role).into_boxed_str());
            let (client, pool) = (gateway.client().clone(), pool.clone());
            probes.push(Probe::from_fn(name, move || {
                let (client, pool) = (client.clone(), pool.clone());
                Box::pin(async move {
                    let instance = &pool.instances()[index];
                    let healthy = crate::gateway::upstream::probe(&client, &instance.base).await;
                    instance.mark(healthy);
                    healthy
                        .then_some(())
                        .ok_or_else(|| "GET /healthz did not answer 200 in time".to_string())
                })
            }));
        }
    }
    probes
}

async fn serve_http(
    running: &mut Running,
    app: axum::Router,
    settings: &Settings,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    let tls = match (&settings.tls, settings.role.is_edge()) {
        (Some(source), true) => Some(Tls::load(source).await?),
        _ => None,
    };
    running.tls_certificate_pem = tls.as_ref().map(|tls| tls.certificate_pem().to_string());
    let listener = listen::bind(listen)?;
    running.addr = Some(listener.local_addr()?);
    running
        .http
        .push(tokio::spawn(listen::serve(listener, app, tls)));
    Ok(())
}

async fn connect_redis(client: &redis::Client) -> anyhow::Result<redis::aio::ConnectionManager> {
    // A flash sale queues a thousand requests on one multiplexed connection:
    // give an answer seconds, not the default half second, before a 503.
    let redis_config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    Ok(redis::aio::ConnectionManager::new_with_config(client.clone(), redis_config).await?)
}

/// The catalog and order state, for the roles that serve them.
async fn app_state(
    settings: &Settings,
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    redis_client: &redis::Client,
    broker: Option<&Broker>,
) -> anyhow::Result<Option<AppState>> {
    let role = settings.role;
    if !role.serves_catalog() {
        return Ok(None);
    }
    let orders = role.serves_orders();
    let cache = |namespace| {
        crate::catalog::cache_builder(redis_client.clone(), namespace, settings.item_cache_ttl)
            .build()
    };
    let catalog = match (&settings.catalog_url, orders) {
        (Some(url), true) => {
            Some(CatalogClient::new(url, redis_client.clone(), settings.item_cache_ttl).await?)
        }
        _ => None,
    };
    // An order role reading the catalog over HTTP has no database cache.
    let items = if settings.item_cache && catalog.is_none() {
        Some(cache(crate::catalog::CACHE_NAMESPACE).await?)
    } else {
        None
    };
    let reader_view = if catalog.is_none() {
        Some(cache(crate::catalog::client::READER_NAMESPACE).await?)
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
    let publisher = match (broker, orders && settings.strategy == Strategy::LuaMq) {
        (Some(broker), true) => {
            // Declared here too, so orders wait in the queue while no worker runs.
            drop(worker::order_consumer(broker).await?);
            Some(Arc::new(broker.publisher().build().await?))
        }
        _ => None,
    };
    let stats = if matches!(role, Role::Catalog | Role::All) {
        Some(crate::scheduler::daily_stats::cache(redis_client.clone()).await?)
    } else {
        None
    };
    Ok(Some(AppState {
        pool: pool.clone(),
        redis: redis.clone(),
        items,
        reader_view,
        catalog,
        strategy: settings.strategy,
        locks,
        publisher,
        broker: broker.filter(|_| orders).cloned(),
        payment: None,
        stats,
        stock_feeds: Default::default(),
    }))
}

/// The welcome-mail parts of a process serving auth ([`crate::mail::service`]).
async fn welcome_mail(
    config: &Config,
    settings: &Settings,
    pool: &PgPool,
    broker: Option<&Broker>,
) -> anyhow::Result<crate::mail::service::MailService> {
    crate::mail::service::MailService::prepare(
        settings.welcome_mail,
        &config.smtp_url,
        settings.welcome_mail_delay,
        pool,
        broker,
    )
    .await
}

/// The payment window and its expiry route (declared on the broker).
async fn payment_terms(broker: &Broker, settings: &Settings) -> anyhow::Result<PaymentTerms> {
    let route = crate::orders::expiry::route(broker, settings.payment_window).await?;
    Ok(PaymentTerms::new(
        settings.payment_window,
        route,
        Outbox::new(OUTBOX_TABLE)?,
    ))
}

/// Publishes what the outbox holds (expiries, and `lua-mq` orders taken
/// while the broker was down). Every order and worker process runs one;
/// they share the rows.
async fn start_relay(
    running: &mut Running,
    broker: &Broker,
    pool: &PgPool,
    terms: &PaymentTerms,
) -> anyhow::Result<()> {
    let publisher = broker.publisher().build().await?;
    let relay = Relay::builder(pool.clone(), terms.outbox().clone(), publisher)
        .poll_interval(Duration::from_millis(100))
        .backoff(Duration::from_millis(100), Duration::from_secs(2))
        .build();
    running.relays.push(tokio::spawn(async move {
        relay.run_until(std::future::pending::<()>()).await;
    }));
    Ok(())
}

/// Consumes expiry messages: each unpaid order's window ends here.
fn start_expiries(
    running: &mut Running,
    consumer: mq_reliable::amqp::Consumer,
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
) {
    running.stop.push(consumer.shutdown_handle());
    let (pool, redis) = (pool.clone(), redis.clone());
    running.workers.push(tokio::spawn(async move {
        consumer
            .run_until(
                move |message| {
                    let (pool, redis) = (pool.clone(), redis.clone());
                    async move { crate::orders::expiry::handle(&pool, &redis, message).await }
                },
                mq_reliable::shutdown_signal(),
            )
            .await?;
        Ok(())
    }));
}

fn start_worker(
    running: &mut Running,
    consumer: mq_reliable::amqp::Consumer,
    settings: &Settings,
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    terms: PaymentTerms,
) -> anyhow::Result<()> {
    running.stop.push(consumer.shutdown_handle());
    let worker = Worker {
        pool: pool.clone(),
        redis: redis.clone(),
        inbox: PgInbox::new("inbox")?,
        delay: settings.worker_delay,
        terms,
    };
    running.workers.push(tokio::spawn(async move {
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
    Ok(())
}
