//! The command connection: one server, or a Redis Cluster, behind one type.
//!
//! - **One server** (or a replicated primary behind a stable address): a
//!   `ConnectionManager`, which reconnects by itself.
//! - **A cluster**: the cluster client's connection, which follows slot
//!   moves and routes each command (a script by its first key) to the
//!   master owning its slot. It is either made by the caller
//!   ([`Connection::cluster`]) or made on first use
//!   ([`Connection::lazy_cluster`]), so that a client can be built while
//!   the cluster is unreachable, as a `ConnectionManager` can.
//!
//! Scripts must name a key in `KEYS` so the cluster client can route them,
//! and the family's crates give all of a script's keys one hash tag, so a
//! script never spans slots.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::OnceCell;

/// A single-server or cluster connection, usable wherever `redis` takes an
/// async connection (`query_async`, `Script::invoke_async`, pipelines).
/// Cheap to clone; clones share the underlying connection.
#[derive(Clone)]
pub struct Connection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(Cluster),
}

/// A cluster connection, made now or on first use.
#[derive(Clone)]
struct Cluster {
    client: Option<Arc<ClusterClient>>,
    connection: Arc<OnceCell<ClusterConnection>>,
}

impl Connection {
    /// One server, through a reconnecting connection manager.
    pub fn single(manager: ConnectionManager) -> Self {
        Self {
            inner: Inner::Single(manager),
        }
    }

    /// A cluster, through a connection already made.
    pub fn cluster(connection: ClusterConnection) -> Self {
        let cell = OnceCell::new_with(Some(connection));
        Self {
            inner: Inner::Cluster(Cluster {
                client: None,
                connection: Arc::new(cell),
            }),
        }
    }

    /// A cluster, connected on first use (each use retries until one
    /// connection is made; the connection then reconnects by itself).
    pub fn lazy_cluster(client: ClusterClient) -> Self {
        Self {
            inner: Inner::Cluster(Cluster {
                client: Some(Arc::new(client)),
                connection: Arc::new(OnceCell::new()),
            }),
        }
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }
}

impl Cluster {
    async fn get(&self) -> RedisResult<ClusterConnection> {
        let client = self.client.as_ref();
        self.connection
            .get_or_try_init(|| async move {
                let client = client.expect("a cluster connection without a client is made at once");
                client.get_async_connection().await
            })
            .await
            .cloned()
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Single(conn) => conn.req_packed_command(cmd),
            Inner::Cluster(cluster) => Box::pin(async move {
                let mut conn = cluster.get().await?;
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
        match &mut self.inner {
            Inner::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(cluster) => Box::pin(async move {
                let mut conn = cluster.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(conn) => conn.get_db(),
            Inner::Cluster(_) => 0,
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Single(_) => "single",
            Inner::Cluster(_) => "cluster",
        };
        f.debug_struct("Connection").field("kind", &kind).finish()
    }
}
