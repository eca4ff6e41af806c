//! # testkit: real servers for tests, and ways to break them
//!
//! Every test in this workspace that claims to exercise Redis, RabbitMQ, a
//! Kafka-API broker or PostgreSQL talks to a real one obtained here.
//!
//! | call | what the test gets | isolation |
//! |---|---|---|
//! | [`redis()`] | its own `redis-server` on a free port | a whole server, removed on drop |
//! | [`redis_servers(n)`](redis_servers) | `n` independent servers (Redlock quorum) | idem |
//! | [`redis_cluster()`] | a local 3-master Redis Cluster | idem |
//! | [`rabbitmq()`] | a fresh vhost on the shared broker | vhost, deleted on drop |
//! | [`rabbitmq_node()`] | a private broker node it may stop, kill, restart | a whole node |
//! | [`kafka()`] | a unique topic/group prefix on the shared broker | prefix; its topics deleted on drop |
//! | [`postgres()`] | a fresh database on the shared server | database, dropped on drop |
//!
//! Redis starts in milliseconds, so each test spawns its own. RabbitMQ, the
//! Kafka-API broker and PostgreSQL start in seconds, so tests share the ones
//! that `scripts/dev-services up` starts and get a private namespace on them.
//!
//! ## Where servers come from
//!
//! 1. A URL from the environment when one is given: `TESTKIT_REDIS_URL` (one
//!    shared Redis; fault injection refused), `AMQP_URL` with
//!    `RABBITMQ_MANAGEMENT_URL`, `KAFKA_BROKERS`, `DATABASE_URL`.
//! 2. For per-test Redis servers, containers when a Docker engine answers
//!    (`docker info`), otherwise the installed binary spawned as a child
//!    process. `TESTKIT_BACKEND=process|container` forces the choice.
//! 3. The shared services' defaults are those of `scripts/dev-services env`.
//!
//! A test that cannot get its server fails with a message naming the install
//! command. It never passes by skipping.
//!
//! ## Breaking things
//!
//! - [`RedisServer::kill`], [`pause`](RedisServer::pause) /
//!   [`resume`](RedisServer::resume) (SIGSTOP / SIGCONT),
//!   [`restart`](RedisServer::restart) on the same port.
//! - [`proxy()`]: a TCP proxy in front of any server, with
//!   [`cut`](Proxy::cut), [`blackhole`](Proxy::blackhole),
//!   [`delay`](Proxy::delay) and [`restore`](Proxy::restore).
//! - [`RabbitVhost::close_connections`] and the private [`RabbitNode`]'s
//!   `stop` / `kill` / `restart`.
//! - [`ChildProcess`]: run a worker binary, wait for a line of its output, and
//!   `kill -9` it.
//!
//! ```no_run
//! # async fn demo() {
//! let mut server = testkit::redis().await;
//! let proxy = testkit::proxy(server.addr()).await;
//! let client = redis::Client::open(proxy.redis_url()).unwrap();
//! proxy.cut();               // the client's connection is reset
//! proxy.restore();
//! server.restart().await;    // same port, data gone (no persistence by default)
//! # let _ = client;
//! # }
//! ```

mod backend;
mod binary;
mod cleanup;
mod container;
mod error;
mod kafka;
mod ports;
mod postgres;
mod process;
mod proxy;
mod rabbitmq;
mod rabbitmq_node;
mod rabbitmqctl;
mod redis_cluster;
mod redis_server;
pub mod wait;

pub use backend::{Backend, backend, docker_engine_answers};
pub use error::{Result, TestkitError};
pub use kafka::KafkaNamespace;
pub use ports::free_port;
pub use postgres::PgDatabase;
pub use process::ChildProcess;
pub use proxy::{LinkState, Proxy};
pub use rabbitmq::RabbitVhost;
pub use rabbitmq_node::RabbitNode;
pub use redis_cluster::RedisCluster;
pub use redis_server::{RedisOptions, RedisServer, ping_url, redis_connection, redis_manager};

use std::net::SocketAddr;

/// Unwraps a fixture or fails the test with the kit's explanatory message.
fn or_fail<T>(what: &str, result: Result<T>) -> T {
    result.unwrap_or_else(|error| panic!("test kit could not provide {what}: {error}"))
}

/// A private Redis server for this test (see [`RedisServer`]).
pub async fn redis() -> RedisServer {
    or_fail("a Redis server", try_redis().await)
}

/// Like [`redis()`], returning the error instead of failing the test.
pub async fn try_redis() -> Result<RedisServer> {
    RedisServer::options().start().await
}

/// `n` independent Redis servers, started concurrently (for a Redlock quorum).
pub async fn redis_servers(n: usize) -> Vec<RedisServer> {
    let starts = (0..n).map(|_| try_redis());
    let servers = futures::future::join_all(starts).await;
    servers
        .into_iter()
        .map(|server| or_fail("a Redis server", server))
        .collect()
}

/// A local Redis Cluster of three masters (see [`RedisCluster`]).
pub async fn redis_cluster() -> RedisCluster {
    or_fail("a Redis Cluster", RedisCluster::start().await)
}

/// A fresh vhost on the shared RabbitMQ broker (see [`RabbitVhost`]).
pub async fn rabbitmq() -> RabbitVhost {
    or_fail("a RabbitMQ vhost", RabbitVhost::create().await)
}

/// A private RabbitMQ node this test may stop, kill and restart (see [`RabbitNode`]).
pub async fn rabbitmq_node() -> RabbitNode {
    or_fail("a private RabbitMQ node", RabbitNode::start_new().await)
}

/// A private topic namespace on the shared Kafka-API broker (see [`KafkaNamespace`]).
pub async fn kafka() -> KafkaNamespace {
    or_fail("a Kafka namespace", KafkaNamespace::create().await)
}

/// A fresh database on the shared PostgreSQL server (see [`PgDatabase`]).
pub async fn postgres() -> PgDatabase {
    or_fail("a PostgreSQL database", PgDatabase::create().await)
}

/// A fault-injecting TCP proxy in front of `upstream` (see [`Proxy`]).
pub async fn proxy(upstream: SocketAddr) -> Proxy {
    or_fail("a TCP proxy", Proxy::start(upstream).await)
}
