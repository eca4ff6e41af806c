//! Shared by the example's tests: fresh services, a running system, and
//! buyers logged in to it.

#![allow(dead_code)]

pub mod chat;
pub mod shop;

use std::time::Duration;

use live_commerce::auth::password::HashCost;
use live_commerce::config::Config;
use live_commerce::server::{self, Role, Running, Settings};
use live_commerce::strategy::Strategy;

/// How long a spawned `serve` process may take to say it is ready.
const READY_PATIENCE: Duration = Duration::from_secs(60);

/// The password every test buyer uses: long, uncommon, and not made of
/// the email's local part, so the auth service accepts it.
pub const PASSWORD: &str = "correct horse battery staple";

/// Fresh, isolated services: a Redis server, a RabbitMQ vhost and a database.
pub struct Services {
    pub redis: testkit::RedisServer,
    pub rabbit: testkit::RabbitVhost,
    pub postgres: testkit::PgDatabase,
}

impl Services {
    pub async fn start() -> Self {
        log_to_the_test_output();
        let (redis, rabbit, postgres) =
            tokio::join!(testkit::redis(), testkit::rabbitmq(), testkit::postgres());
        Self {
            redis,
            rabbit,
            postgres,
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::from_env();
        config.redis_url = self.redis.url();
        config.amqp_url = self.rabbit.url();
        config.database_url = self.postgres.url().to_string();
        config
    }
}

/// Warnings and errors of the servers a test runs in process, in the test's
/// captured output (shown when it fails); `RUST_LOG` can ask for more.
fn log_to_the_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// One `live-commerce serve` process and the URL it serves on.
pub struct Instance {
    pub process: testkit::ChildProcess,
    /// `http://127.0.0.1:port` or `https://127.0.0.1:port`.
    pub url: String,
}

/// Runs `live-commerce serve <args> --listen 127.0.0.1:0` against
/// `services` and waits for its `ready: <role> on <url> (strategy …)` line.
pub async fn spawn_serve(services: &Services, args: &[&str]) -> Instance {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"));
    command
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("REDIS_URL", services.redis.url())
        .env("AMQP_URL", services.rabbit.url())
        .env("DATABASE_URL", services.postgres.url())
        // Tests that archive chat pass their own --chat-archive-topic.
        .env("CHAT_ARCHIVE_TOPIC", "none")
        .env("RUST_LOG", "warn");
    let process = testkit::ChildProcess::spawn(command).unwrap();
    let ready = process
        .wait_for_output("ready:", READY_PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("serve {args:?} did not get ready: {error:#}"));
    let url = ready
        .split_once(" on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {ready:?}"))
        .to_string();
    Instance { process, url }
}

/// The settings of a test's `role`: few database connections (tests share
/// the machine) and the cheapest password hashes.
pub fn settings(role: Role, strategy: Strategy) -> Settings {
    Settings {
        role,
        strategy,
        db_connections: 4,
        password_cost: HashCost::Minimal,
        ..Settings::default()
    }
}

/// Starts `role` in this process on a free port, with [`settings`].
pub async fn start_role(services: &Services, role: Role, strategy: Strategy) -> Running {
    start_with(services, &settings(role, strategy)).await
}

/// Starts `settings.role` in this process on a free port.
pub async fn start_with(services: &Services, settings: &Settings) -> Running {
    server::start(&services.config(), settings, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap_or_else(|error| panic!("starting {}: {error:#}", settings.role.name()))
}

/// The base URL (`http://addr`) of an in-process role that serves HTTP.
pub fn base_url(running: &Running) -> String {
    format!("http://{}", running.addr.expect("this role serves HTTP"))
}

/// Signs the buyer `name` (`name@buyers.example`) up at the auth service
/// `base` (an existing account is fine) and logs in; returns the `Cookie`
/// header value to send with the buyer's requests.
pub async fn buyer(http: &reqwest::Client, base: &str, name: &str) -> String {
    let email = format!("{name}@buyers.example");
    live_commerce::auth::client::sign_up_and_log_in(http, base, &email, PASSWORD)
        .await
        .unwrap_or_else(|error| panic!("buyer {email}: {error:#}"))
}

/// `count` buyers (`buyer-0` …) signed up and logged in at once; their
/// `Cookie` values, in order.
pub async fn buyers(http: &reqwest::Client, base: &str, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|n| format!("buyer-{n}")).collect();
    futures::future::join_all(names.iter().map(|name| buyer(http, base, name))).await
}

/// Publishes a poison message (not an order) with message id `id` to the
/// order queue, and waits until the worker has dead-lettered it.
pub async fn poison_the_order_queue(broker: &mq_reliable::amqp::Broker, id: &str) {
    use live_commerce::strategy::{ORDER_PLACED_ROUTE, ORDERS_EXCHANGE};
    let publisher = broker.publisher().build().await.unwrap();
    publisher
        .publish_with_id(ORDERS_EXCHANGE, ORDER_PLACED_ROUTE, &"not an order", id)
        .await
        .unwrap();
    let dead_letters = broker.dead_letters(live_commerce::worker::DEAD_LETTER_QUEUE);
    testkit::wait::until(
        Duration::from_secs(60),
        "the worker to dead-letter the poison message",
        || async { dead_letters.count().await.unwrap_or(0) > 0 },
    )
    .await;
}
