//! The Redlock algorithm over N independent Redis servers.
//!
//! A lock is held when a majority of nodes granted it within its validity:
//!
//! 1. Run the acquire script on every node in parallel, each bounded by a
//!    per-node timeout much shorter than the lease, so a dead node costs
//!    milliseconds, not the lease.
//! 2. Held if a majority granted it and `validity = lease − elapsed − drift`
//!    is positive, where `drift = lease · 1 % + 2 ms` covers clock-rate
//!    differences between processes and servers.
//! 3. Otherwise release on every node (a partial acquisition must not block
//!    others until it expires) and report busy or, when fewer than a
//!    majority of nodes even answered, [`Error::QuorumUnavailable`].
//!
//! **Fencing tokens across nodes.** Each node counts on its own, so a
//! holder's token is the largest of its granting nodes' counters, and before
//! the lock counts as held every granting node's counter is raised to that
//! value. Two majorities share at least one node, and on that node a later
//! holder's `INCR` lands above everything an earlier holder was given, so
//! tokens still strictly increase from holder to holder (as long as nodes
//! keep their data: run them with AOF if you rely on fencing).

use std::time::Duration;

use futures::future::join_all;
use tokio::time::{Instant, timeout};

use crate::backend::Acquisition;
use crate::error::{Error, Result};
use crate::keys::LockKeys;
use crate::node::{Attempt, Node};

/// N independent nodes and the per-node timeout.
#[derive(Debug, Clone)]
pub(crate) struct Quorum {
    pub(crate) nodes: Vec<Node>,
    pub(crate) node_timeout: Duration,
}

/// Clock drift allowance of the Redlock algorithm.
pub(crate) fn drift(lease: Duration) -> Duration {
    lease / 100 + Duration::from_millis(2)
}

impl Quorum {
    pub(crate) fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// Runs `op` on every node in parallel, each under the per-node timeout.
    async fn on_all<'a, T, F, Fut>(&'a self, op: F) -> Vec<Result<T>>
    where
        F: Fn(&'a Node) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + 'a,
    {
        let node_timeout = self.node_timeout;
        join_all(self.nodes.iter().map(|node| {
            let call = op(node);
            async move {
                timeout(node_timeout, call)
                    .await
                    .unwrap_or(Err(Error::Timeout))
            }
        }))
        .await
    }

    pub(crate) async fn acquire(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
    ) -> Result<Acquisition> {
        let started = Instant::now();
        let answers = self
            .on_all(|node| node.acquire(keys, owner, lease, None))
            .await;
        let mut granted = Vec::new();
        let mut busy_for: Option<Duration> = None;
        let mut answered = 0;
        for (index, answer) in answers.iter().enumerate() {
            match answer {
                Ok(Attempt::Acquired { token }) => {
                    answered += 1;
                    granted.push((index, *token));
                }
                Ok(Attempt::Busy { retry_in }) => {
                    answered += 1;
                    if let Some(wait) = retry_in {
                        busy_for = Some(busy_for.map_or(*wait, |current| current.min(*wait)));
                    }
                }
                Err(_) => {}
            }
        }
        let needed = self.majority();
        let validity = lease
            .checked_sub(started.elapsed())
            .and_then(|left| left.checked_sub(drift(lease)));
        if granted.len() >= needed
            && let Some(validity) = validity
        {
            let token = granted
                .iter()
                .map(|(_, token)| *token)
                .max()
                .unwrap_or_default();
            let raised = join_all(granted.iter().map(|(index, _)| {
                let node = &self.nodes[*index];
                async move {
                    timeout(self.node_timeout, node.raise_fence(keys, token))
                        .await
                        .unwrap_or(Err(Error::Timeout))
                }
            }))
            .await;
            if raised.iter().filter(|result| result.is_ok()).count() >= needed {
                return Ok(Acquisition::Held {
                    token,
                    valid_until: started + validity,
                });
            }
        }
        // Not held: undo whatever was granted, silently, so others need not
        // wait for it to expire and our own waiters are not woken by it.
        self.retract(keys, owner).await;
        if answered < needed {
            return Err(Error::QuorumUnavailable {
                got: granted.len(),
                needed,
            });
        }
        if !granted.is_empty() {
            // A split vote (or a node that just came back): nobody may hold a
            // majority, and no release will be published. Retry after a
            // random delay, as the Redlock algorithm prescribes, so
            // competing callers do not retry in lockstep.
            let jitter = rand::random_range(5..=50);
            return Ok(Acquisition::Busy {
                retry_in: Some(Duration::from_millis(jitter)),
            });
        }
        Ok(Acquisition::Busy { retry_in: busy_for })
    }

    async fn retract(&self, keys: &LockKeys, owner: &str) {
        self.on_all(|node| node.retract(keys, owner)).await;
    }

    /// Renews on every node; held while a majority renewed.
    pub(crate) async fn renew(&self, keys: &LockKeys, owner: &str, lease: Duration) -> bool {
        let answers = self.on_all(|node| node.renew(keys, owner, lease)).await;
        answers
            .iter()
            .filter(|answer| matches!(answer, Ok(true)))
            .count()
            >= self.majority()
    }

    /// Releases on every node; true when a majority still had it.
    pub(crate) async fn release(&self, keys: &LockKeys, owner: &str) -> bool {
        let answers = self.on_all(|node| node.release(keys, owner)).await;
        answers
            .iter()
            .filter(|answer| matches!(answer, Ok(true)))
            .count()
            >= self.majority()
    }
}
