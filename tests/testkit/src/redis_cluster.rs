//! A local three-master Redis Cluster, for code that must work with hash tags
//! and `MOVED` redirections.
//!
//! Each master is a private [`RedisServer`] started with `--cluster-enabled
//! yes`; the kit assigns slots and introduces the nodes itself (`CLUSTER
//! ADDSLOTSRANGE`, `CLUSTER MEET`), so neither `redis-cli` nor a container
//! network is needed. Always spawned as local processes: cluster nodes
//! announce their own addresses, which must be reachable from the test.

use std::time::Duration;

use crate::backend::Backend;
use crate::error::{Result, TestkitError};
use crate::redis_server::RedisServer;
use crate::wait;

const SLOTS: u16 = 16384;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Three cluster masters with all 16384 slots assigned and the cluster state `ok`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three masters and waits until every node reports `cluster_state:ok`.
    pub async fn start() -> Result<Self> {
        let masters = 3u16;
        let mut nodes = Vec::new();
        for _ in 0..masters {
            let node = RedisServer::options()
                .backend(Backend::Process)
                .arg("--cluster-enabled")
                .arg("yes")
                .arg("--cluster-config-file")
                .arg("nodes.conf")
                .arg("--cluster-node-timeout")
                .arg("2000")
                .start()
                .await?;
            nodes.push(node);
        }
        let per_node = SLOTS / masters;
        for (index, node) in nodes.iter().enumerate() {
            let index = index as u16;
            let first = index * per_node;
            let last = if index == masters - 1 {
                SLOTS - 1
            } else {
                first + per_node - 1
            };
            let mut conn = node.connection().await;
            redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| TestkitError::setup("assigning cluster slots", e))?;
        }
        let mut first = nodes[0].connection().await;
        for node in &nodes[1..] {
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .query_async::<()>(&mut first)
                .await
                .map_err(|e| TestkitError::setup("introducing cluster nodes", e))?;
        }
        let cluster = Self { nodes };
        cluster.wait_until_ok().await?;
        Ok(cluster)
    }

    async fn wait_until_ok(&self) -> Result<()> {
        for node in &self.nodes {
            let client = node.client();
            wait::until_ok(READY_TIMEOUT, || {
                let client = client.clone();
                async move {
                    let mut conn = crate::redis_connection(&client)
                        .await
                        .map_err(|e| e.to_string())?;
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    let known_all =
                        info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()));
                    if info.contains("cluster_state:ok") && known_all {
                        Ok(())
                    } else {
                        Err(info)
                    }
                }
            })
            .await
            .map_err(|detail| TestkitError::NotReady {
                what: format!("redis cluster node {}", node.port()),
                timeout: READY_TIMEOUT,
                detail,
            })?;
        }
        Ok(())
    }

    /// The seed URLs, one per master (what `redis::cluster::ClusterClient::new` takes).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The masters, for fault injection on one of them.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// The masters.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}
