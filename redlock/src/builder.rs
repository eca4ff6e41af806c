//! Configuring a [`LockManager`].

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gate::Gates;
use crate::manager::LockManager;
use crate::node::Node;
use crate::quorum::Quorum;
use crate::shared::{Settings, Shared};
use crate::stats::Counters;
use crate::wakeups::Wakeups;
use crate::watchdog::Watchdog;
use redis_support::Connection;

/// Where the lock state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deployment {
    /// One server (or a replicated primary).
    Single,
    /// Independent servers, Redlock algorithm.
    Quorum,
    /// One Redis Cluster, given by seed nodes.
    Cluster,
}

/// Builder of a [`LockManager`]; every setting has a production-safe default.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct LockManagerBuilder {
    clients: Vec<redis::Client>,
    connection: Option<ConnectionManager>,
    deployment: Deployment,
    lease: Duration,
    fair: bool,
    fair_wait: Duration,
    max_hold: Option<Duration>,
    prefix: String,
    response_timeout: Duration,
    node_timeout: Option<Duration>,
    wakeup_keepalive: Duration,
    reentry_check: bool,
}

impl LockManagerBuilder {
    pub(crate) fn new(clients: Vec<redis::Client>, deployment: Deployment) -> Self {
        Self {
            clients,
            connection: None,
            deployment,
            lease: Duration::from_secs(30),
            fair: false,
            fair_wait: Duration::from_secs(5),
            max_hold: None,
            prefix: "redlock".into(),
            response_timeout: Duration::from_secs(2),
            node_timeout: None,
            wakeup_keepalive: Duration::from_secs(10),
            reentry_check: true,
        }
    }

    /// The lease: how long a lock outlives a holder that stopped renewing it
    /// (crashed, paused, cut off). The watchdog renews every `lease / 3`.
    /// Default: 30 s. Shorter frees a dead holder's locks sooner but
    /// tolerates shorter stalls.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Fair mode: waiters acquire in arrival order across all processes.
    /// Default: off (whoever asks first after a release wins, which is
    /// faster). Single Redis only.
    pub fn fair(mut self, fair: bool) -> Self {
        self.fair = fair;
        self
    }

    /// Fair mode: how long a waiter keeps its place in line without
    /// checking in (a live waiter checks in every third of it). A waiter that
    /// died is skipped after this. Default: 5 s.
    pub fn fair_wait_timeout(mut self, timeout: Duration) -> Self {
        self.fair_wait = timeout;
        self
    }

    /// Stops renewing a lease this long after acquisition, so a holder stuck
    /// in an endless critical section cannot keep a lock forever; its `lost`
    /// signal fires when the lease then expires. Default: none.
    pub fn max_hold(mut self, max_hold: Duration) -> Self {
        self.max_hold = Some(max_hold);
        self
    }

    /// Prefix of every Redis key and channel. Default: `redlock`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Longest wait for a Redis answer before an operation fails with
    /// [`Error::Timeout`]. Default: 2 s.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Quorum mode: how long every node's answer is waited for. After it, a
    /// node is waited for only while its answer can still decide the outcome
    /// (no majority has agreed yet and one is still possible), and never
    /// longer than a third of the lease, so a dead node costs little and a
    /// live but slow one is not mistaken for a dead one. Default:
    /// `lease / 100`, at least 10 ms.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = Some(timeout);
        self
    }

    /// How often the pub/sub connection that wakes waiters is pinged; a
    /// ping not answered within the same interval counts as a lost
    /// connection (reconnect, and every waiter looks again). Default: 10 s.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.wakeup_keepalive = every;
        self
    }

    /// The former name of [`keepalive`](Self::keepalive).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `keepalive`, as in the family's other crates"
    )]
    pub fn wakeup_keepalive(self, every: Duration) -> Self {
        self.keepalive(every)
    }

    /// Whether a task that holds a lock and asks for it again gets
    /// [`Error::WouldDeadlock`](crate::Error::WouldDeadlock) at once (default
    /// `true`) rather than wait for itself for ever. Turn it off for code
    /// that runs several futures locking the same name inside one task
    /// (`join!`, `for_each_concurrent`): there the second future may wait for
    /// the first, which the check cannot tell from a nested lock.
    pub fn reentry_check(mut self, check: bool) -> Self {
        self.reentry_check = check;
        self
    }

    /// Uses an existing connection manager for commands instead of opening
    /// one (single-server managers only; the client still opens the pub/sub
    /// connection).
    pub fn connection(mut self, connection: ConnectionManager) -> Self {
        self.connection = Some(connection);
        self
    }

    /// Connects, and starts the wake-up connection(s), waiting up to the
    /// response timeout for them to be up.
    pub async fn build(mut self) -> Result<LockManager> {
        self.check()?;
        let backend = self.connect_backend().await?;
        // One wake-up connection per independent server; a cluster forwards
        // every PUBLISH to all its nodes, so one link over its nodes is enough.
        let wakeup_servers = match self.deployment {
            Deployment::Cluster => vec![self.clients],
            _ => self
                .clients
                .into_iter()
                .map(|client| vec![client])
                .collect(),
        };
        let counters = Arc::new(Counters::default());
        let watchdog = Watchdog::start(backend.clone(), counters.clone(), self.lease);
        let wakeups = Wakeups::start(wakeup_servers, self.wakeup_keepalive, self.response_timeout);
        // Waiters work without wake-ups (lease-bounded sleeps), so a server
        // that is down does not fail the build; a live one is listened to
        // before the first lock is asked for.
        wakeups.wait_up(self.response_timeout).await;
        let shared = Shared {
            backend,
            wakeups,
            gates: Arc::new(Gates::new(self.reentry_check)),
            settings: Settings {
                prefix: self.prefix,
                lease: self.lease,
                fair: self.fair,
                fair_wait: self.fair_wait,
                max_hold: self.max_hold,
            },
            counters,
            watchdog,
        };
        Ok(LockManager::from_shared(Arc::new(shared)))
    }

    /// Refuses a configuration that cannot work.
    fn check(&self) -> Result<()> {
        if self.lease < Duration::from_millis(30) {
            return Err(Error::Config("the lease must be at least 30 ms".into()));
        }
        if self.fair && self.fair_wait < Duration::from_millis(30) {
            return Err(Error::Config(
                "the fair wait timeout must be at least 30 ms".into(),
            ));
        }
        if self.clients.is_empty() {
            return Err(Error::Config("at least one Redis client is needed".into()));
        }
        let quorum = self.deployment == Deployment::Quorum;
        if quorum && self.fair {
            return Err(Error::Config(
                "fair mode needs a single Redis, not a quorum".into(),
            ));
        }
        if quorum && self.clients.len() < 3 {
            return Err(Error::Config(
                "a quorum needs at least 3 independent Redis servers".into(),
            ));
        }
        Ok(())
    }

    /// The command side: one connection, a cluster connection, or one lazy
    /// connection per quorum node.
    async fn connect_backend(&mut self) -> Result<Backend> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.response_timeout))
            // Fail fast and reconnect fast: a lock operation that cannot
            // reach Redis should say so within milliseconds, and a restarted
            // server should be usable on the next call.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(5))
            .set_max_delay(Duration::from_millis(50));
        match self.deployment {
            Deployment::Quorum => self.quorum(&config),
            Deployment::Cluster => {
                let seeds: Vec<redis::ConnectionInfo> = self
                    .clients
                    .iter()
                    .map(|client| client.get_connection_info().clone())
                    .collect();
                let conn = ClusterClient::builder(seeds)
                    .response_timeout(self.response_timeout)
                    .connection_timeout(self.response_timeout)
                    .build()
                    .map_err(Error::from_redis)?
                    .get_async_connection()
                    .await
                    .map_err(Error::from_redis)?;
                Ok(Backend::Single(Node::new(Connection::cluster(conn))))
            }
            Deployment::Single => {
                let conn = match self.connection.take() {
                    Some(conn) => conn,
                    None => ConnectionManager::new_with_config(self.clients[0].clone(), config)
                        .await
                        .map_err(Error::from_redis)?,
                };
                Ok(Backend::Single(Node::new(Connection::single(conn))))
            }
        }
    }

    /// A quorum's nodes, connected lazily: a quorum must be buildable while
    /// a minority is down.
    fn quorum(&self, config: &ConnectionManagerConfig) -> Result<Backend> {
        let mut nodes = Vec::with_capacity(self.clients.len());
        for client in &self.clients {
            let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                .map_err(Error::from_redis)?;
            nodes.push(Node::new(Connection::single(conn)));
        }
        let node_timeout = self
            .node_timeout
            .unwrap_or_else(|| (self.lease / 100).max(Duration::from_millis(10)));
        Ok(Backend::Quorum(Quorum {
            nodes,
            node_timeout,
            patience: (self.lease / 3).max(node_timeout),
        }))
    }
}
