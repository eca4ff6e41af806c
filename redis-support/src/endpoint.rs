//! Where a client's Redis is: one server or a cluster, and the connections
//! each crate makes to it.
//!
//! An [`Endpoint`] is what a crate's `builder` / `cluster_builder` records;
//! at `build()` it yields the command [`Connection`] and the nodes a
//! [`Subscription`](crate::Subscription) may listen on. It is
//! `#[non_exhaustive]` so that a Sentinel-managed primary (a master name and
//! the sentinels' addresses, resolved again after a failover) can join as a
//! third kind without breaking a crate that matches on it.
//!
//! Connections fail fast: each command (and each connect) waits at most the
//! given timeout, with one quick retry, and then the error reaches the
//! caller, whose own policy (a circuit breaker, a retry with backoff) decides
//! what comes next. They are made on first use, so a client built while
//! Redis is down works once it is back.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::{RedisError, RedisResult};

use crate::Connection;

/// One Redis server, or a Redis Cluster by some of its nodes.
///
/// Its connections fail fast: each command (and each connect) waits at
/// most the given timeout, with one quick retry, then the error reaches the
/// caller. They are made on first use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Endpoint {
    /// One server (or a primary behind a stable address).
    Single(Box<redis::Client>),
    /// A Redis Cluster, by the URLs of some of its nodes (the rest are
    /// discovered).
    Cluster(Vec<String>),
}

impl Endpoint {
    /// One server.
    pub fn single(client: redis::Client) -> Self {
        Endpoint::Single(Box::new(client))
    }

    /// A cluster by some of its nodes' URLs.
    pub fn cluster<I, T>(nodes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Endpoint::Cluster(nodes.into_iter().map(Into::into).collect())
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Endpoint::Cluster(_))
    }

    /// The command connection, made on first use, failing fast (see the
    /// type's docs). Fails at once on a cluster without a node, or an
    /// unusable URL.
    pub fn lazy_connection(&self, timeout: Duration) -> RedisResult<Connection> {
        match self {
            Endpoint::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(5))
                    .set_max_delay(Duration::from_millis(100));
                let manager = ConnectionManager::new_lazy_with_config((**client).clone(), config)?;
                Ok(Connection::single(manager))
            }
            Endpoint::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(no_node());
                }
                let client = ClusterClient::builder(nodes.clone())
                    .response_timeout(timeout)
                    .connection_timeout(timeout)
                    .retries(1)
                    .build()?;
                Ok(Connection::lazy_cluster(client))
            }
        }
    }

    /// The nodes a subscription may listen on, in turn: the server, or every
    /// given node of a cluster (a `PUBLISH` reaches all of them).
    pub fn subscription_nodes(&self) -> RedisResult<Vec<redis::Client>> {
        match self {
            Endpoint::Single(client) => Ok(vec![(**client).clone()]),
            Endpoint::Cluster(nodes) if nodes.is_empty() => Err(no_node()),
            Endpoint::Cluster(nodes) => nodes
                .iter()
                .map(|node| redis::Client::open(node.as_str()))
                .collect(),
        }
    }
}

fn no_node() -> RedisError {
    RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "a cluster needs at least one node URL",
    ))
}
