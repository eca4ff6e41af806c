//! The command connection: one Redis endpoint, or a Redis Cluster.
//!
//! On a cluster every key of a store carries the same hash tag (the prefix
//! in braces, see [`crate::keys`]), so each script's keys share one slot and
//! the script runs on the master that owns it. Scripts name one of their keys
//! in `KEYS` so the cluster client routes them there.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::OnceCell;

/// Every command of a store goes through this.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A standalone server (or a primary behind a stable address).
    Single(ConnectionManager),
    /// A Redis Cluster, connected on first use.
    Cluster(LazyCluster),
}

/// A cluster connection made on first use, so that a store can be built
/// while the cluster is unreachable (like the single-endpoint store). The
/// connection follows slot moves and reconnects by itself once made.
#[derive(Clone)]
pub(crate) struct LazyCluster {
    client: Arc<ClusterClient>,
    connection: Arc<OnceCell<ClusterConnection>>,
}

impl LazyCluster {
    pub(crate) fn new(client: ClusterClient) -> Self {
        Self {
            client: Arc::new(client),
            connection: Arc::new(OnceCell::new()),
        }
    }

    async fn get(&self) -> RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(_) => 0,
        }
    }
}
