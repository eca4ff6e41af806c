//! The Redlock algorithm over N independent Redis servers.
//!
//! A lock is held when a majority of nodes granted it within its validity:
//!
//! 1. Run the acquire script on every node in parallel.
//! 2. Held if a majority granted it and `validity = lease − elapsed − drift`
//!    is positive, where `drift = lease · 1 % + 2 ms` covers clock-rate
//!    differences between processes and servers. Every granting node set its
//!    key at or after the start, so the lock is known valid until
//!    `start + lease − drift`.
//! 3. Otherwise release on every node (a partial acquisition must not block
//!    others until it expires) and report busy or, when fewer than a
//!    majority of nodes even answered, [`Error::QuorumUnavailable`].
//!
//! **How long to wait for a node.** The per-node timeout exists so that a
//! dead or cut-off node cannot eat the lease: once it has passed, nobody
//! waits for a node whose answer no longer matters. But a live node that is
//! merely slow (a busy machine, a node that fsyncs every write to a busy
//! disk, a first connection or script load still under way) must not turn a
//! healthy quorum into [`Error::QuorumUnavailable`]. So the wait for answers
//! ends at the first of:
//!
//! - every node has answered (granted, refused, or failed, e.g. connection
//!   refused: a node that is really down fails at once);
//! - the per-node timeout has passed and the outcome is settled: a majority
//!   agreed, or too few nodes are left to make one;
//! - a third of the lease has passed (the *patience*): what has not answered
//!   by then counts as unavailable.
//!
//! Waiting past the per-node timeout costs only validity, which the elapsed
//! time is already subtracted from, and at most a third of it: a lock
//! acquired has at least two thirds of its lease (minus drift) left, and the
//! watchdog renews it a third of a lease after acquisition. The same rule
//! bounds renewals, releases and retractions.
//!
//! ```text
//! node_timeout 100 ms, lease 2 s (patience 667 ms), nodes 3 and 4 down
//! t=0     acquire sent to all five; nodes 3, 4: connection refused at once
//! t=100   nodes 0, 1, 2 have not answered (each fsyncs to a busy disk):
//!         granted 0, pending 3, a majority is still possible → keep waiting
//! t=250   node 0 granted; t=440 nodes 1, 2 granted → held,
//!         valid until t=0 + 2 s − 22 ms
//! ```
//!
//! **Fencing tokens across nodes.** Each node counts on its own, so a
//! holder's token is the largest of its granting nodes' counters, and before
//! the lock counts as held every granting node's counter is raised to that
//! value. Two majorities share at least one node, and on that node a later
//! holder's `INCR` lands above everything an earlier holder was given, so
//! tokens still strictly increase from holder to holder (as long as nodes
//! keep their data: run them with AOF if you rely on fencing).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::{Instant, sleep_until};

use crate::backend::Acquisition;
use crate::error::{Error, Result};
use crate::keys::LockKeys;
use crate::node::{Attempt, Node};

/// N independent nodes and how long to wait for them.
#[derive(Debug, Clone)]
pub(crate) struct Quorum {
    pub(crate) nodes: Vec<Node>,
    /// After this, a node's answer is waited for only while it can still
    /// decide the outcome.
    pub(crate) node_timeout: Duration,
    /// Nothing is waited for longer than this (a third of the lease).
    pub(crate) patience: Duration,
}

/// Clock drift allowance of the Redlock algorithm.
pub(crate) fn drift(lease: Duration) -> Duration {
    lease / 100 + Duration::from_millis(2)
}

/// True once waiting for the `pending` nodes can no longer change the
/// outcome: `agreed` already make a majority, or cannot make one even if
/// every pending node agrees.
fn settled(agreed: usize, pending: usize, needed: usize) -> bool {
    agreed >= needed || agreed + pending < needed
}

impl Quorum {
    pub(crate) fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// Runs `op` on the nodes at `indices` in parallel and collects their
    /// answers (see the module docs for when the wait ends; `agrees` says
    /// which answers count towards a majority). Nodes that had not answered
    /// are missing from the result. Nothing is waited for past `deadline`.
    async fn gather<'a, T, F, Fut>(
        &'a self,
        indices: impl IntoIterator<Item = usize>,
        op: F,
        agrees: impl Fn(&T) -> bool,
        deadline: Instant,
    ) -> Vec<(usize, Result<T>)>
    where
        F: Fn(&'a Node) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let needed = self.majority();
        let node_timeout_at = (Instant::now() + self.node_timeout).min(deadline);
        let mut pending: FuturesUnordered<_> = indices
            .into_iter()
            .map(|index| {
                let call = op(&self.nodes[index]);
                async move { (index, call.await) }
            })
            .collect();
        let mut answers = Vec::new();
        let mut agreed = 0;
        let mut past_node_timeout = false;
        loop {
            if pending.is_empty() || (past_node_timeout && settled(agreed, pending.len(), needed)) {
                break;
            }
            let wake_at = if past_node_timeout {
                deadline
            } else {
                node_timeout_at
            };
            tokio::select! {
                Some((index, answer)) = pending.next() => {
                    if answer.as_ref().is_ok_and(&agrees) {
                        agreed += 1;
                    }
                    answers.push((index, answer));
                }
                _ = sleep_until(wake_at) => {
                    if past_node_timeout {
                        break;
                    }
                    past_node_timeout = true;
                }
            }
        }
        // Nodes still pending are abandoned: their calls are dropped and they
        // are left out of the answers, which callers read as unavailable.
        answers
    }

    pub(crate) async fn acquire(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
    ) -> Result<Acquisition> {
        let started = Instant::now();
        let deadline = started + self.patience;
        let answers = self
            .gather(
                0..self.nodes.len(),
                |node| node.acquire(keys, owner, lease, None),
                |attempt| matches!(attempt, Attempt::Acquired { .. }),
                deadline,
            )
            .await;
        let votes = Votes::count(&answers);
        let needed = self.majority();
        if votes.granted.len() >= needed
            && let Some(held) = self
                .confirm(keys, &votes.granted, started, deadline, lease)
                .await
        {
            return Ok(held);
        }
        // Not held: undo whatever was granted, silently, so others need not
        // wait for it to expire and our own waiters are not woken by it.
        self.retract(keys, owner).await;
        if votes.answered < needed {
            return Err(Error::QuorumUnavailable {
                got: votes.granted.len(),
                needed,
            });
        }
        if !votes.granted.is_empty() {
            // A split vote (or a node that just came back): nobody may hold a
            // majority, and no release will be published. Retry after a
            // random delay, as the Redlock algorithm prescribes, so
            // competing callers do not retry in lockstep.
            let jitter = rand::random_range(5..=50);
            return Ok(Acquisition::Busy {
                retry_in: Some(Duration::from_millis(jitter)),
            });
        }
        Ok(Acquisition::Busy {
            retry_in: votes.busy_for,
        })
    }

    /// With a majority granted: raises the fence to the highest token on the
    /// granting nodes, and holds the lock if a majority raised it and the
    /// lease still has validity left after the time spent and the drift.
    async fn confirm(
        &self,
        keys: &LockKeys,
        granted: &[(usize, u64)],
        started: Instant,
        deadline: Instant,
        lease: Duration,
    ) -> Option<Acquisition> {
        let token = granted
            .iter()
            .map(|(_, token)| *token)
            .max()
            .unwrap_or_default();
        // The raise gets its per-node timeout even if the grants took all
        // the patience: the validity check below has the last word.
        let raise_deadline = deadline.max(Instant::now() + self.node_timeout);
        let raised = self
            .gather(
                granted.iter().map(|(index, _)| *index),
                |node| node.raise_fence(keys, token),
                |()| true,
                raise_deadline,
            )
            .await;
        let raised = raised.iter().filter(|(_, result)| result.is_ok()).count();
        let validity = lease
            .checked_sub(started.elapsed())
            .and_then(|left| left.checked_sub(drift(lease)));
        let valid = validity.is_some_and(|validity| !validity.is_zero());
        (raised >= self.majority() && valid).then(|| Acquisition::Held {
            token,
            valid_until: started + lease - drift(lease),
        })
    }

    async fn retract(&self, keys: &LockKeys, owner: &str) {
        self.gather(
            0..self.nodes.len(),
            |node| node.retract(keys, owner),
            |()| true,
            Instant::now() + self.patience,
        )
        .await;
    }

    /// Runs an owner-checked script on every node and reads the vote:
    /// `Ok(true)` when a majority confirmed, `Ok(false)` when so many nodes
    /// answered "not ours" that no majority can confirm any more, and
    /// [`Error::QuorumUnavailable`] when too few answered to tell.
    async fn vote<'a, F, Fut>(&'a self, op: F) -> Result<bool>
    where
        F: Fn(&'a Node) -> Fut,
        Fut: Future<Output = Result<bool>> + 'a,
    {
        let answers = self
            .gather(
                0..self.nodes.len(),
                op,
                |confirmed| *confirmed,
                Instant::now() + self.patience,
            )
            .await;
        let needed = self.majority();
        let confirmed = answers
            .iter()
            .filter(|(_, answer)| matches!(answer, Ok(true)))
            .count();
        let denied = answers
            .iter()
            .filter(|(_, answer)| matches!(answer, Ok(false)))
            .count();
        if confirmed >= needed {
            Ok(true)
        } else if self.nodes.len() - denied < needed {
            Ok(false)
        } else {
            Err(Error::QuorumUnavailable {
                got: confirmed,
                needed,
            })
        }
    }

    /// Renews on every node: `Ok(true)` while a majority renewed, `Ok(false)`
    /// once a majority can no longer be ours, an error when that cannot be
    /// told (the watchdog retries those while the lease is valid).
    pub(crate) async fn renew(
        &self,
        keys: &LockKeys,
        owner: &str,
        lease: Duration,
    ) -> Result<bool> {
        self.vote(|node| node.renew(keys, owner, lease)).await
    }

    /// Whether a majority of the nodes hold the lock (an error when too few
    /// answered to tell).
    pub(crate) async fn is_locked(&self, keys: &LockKeys) -> Result<bool> {
        self.vote(|node| node.is_locked(keys)).await
    }

    /// Deletes the lock on every node whoever holds it: `Ok(true)` when a
    /// majority had it.
    pub(crate) async fn force_unlock(&self, keys: &LockKeys) -> Result<bool> {
        self.vote(|node| node.force_unlock(keys)).await
    }

    /// Releases on every node: `Ok(true)` when a majority still had it,
    /// `Ok(false)` when a majority no longer did, an error when too few
    /// nodes answered to tell (the lock then expires with its lease).
    pub(crate) async fn release(&self, keys: &LockKeys, owner: &str) -> Result<bool> {
        self.vote(|node| node.release(keys, owner)).await
    }
}

/// The nodes' answers to an acquire, counted.
struct Votes {
    /// The nodes that granted the lock, with the fencing token each gave.
    granted: Vec<(usize, u64)>,
    /// How many nodes answered at all (granted or busy).
    answered: usize,
    /// The shortest remaining lease a busy node reported.
    busy_for: Option<Duration>,
}

impl Votes {
    fn count(answers: &[(usize, Result<Attempt>)]) -> Self {
        let mut votes = Votes {
            granted: Vec::new(),
            answered: 0,
            busy_for: None,
        };
        for (index, answer) in answers {
            match answer {
                Ok(Attempt::Acquired { token }) => {
                    votes.answered += 1;
                    votes.granted.push((*index, *token));
                }
                Ok(Attempt::Busy { retry_in }) => {
                    votes.answered += 1;
                    if let Some(wait) = retry_in {
                        votes.busy_for = Some(votes.busy_for.map_or(*wait, |now| now.min(*wait)));
                    }
                }
                Err(_) => {}
            }
        }
        votes
    }
}

#[cfg(test)]
mod tests {
    use super::settled;

    #[test]
    fn a_majority_settles_the_vote() {
        assert!(settled(3, 2, 3));
        assert!(settled(3, 0, 3));
    }

    #[test]
    fn a_majority_out_of_reach_settles_the_vote() {
        // Two of five refused, one granted, one pending: 1 + 1 < 3.
        assert!(settled(1, 1, 3));
        assert!(settled(0, 0, 3));
    }

    #[test]
    fn pending_nodes_that_could_still_make_a_majority_are_waited_for() {
        // The reported case: three live nodes, none answered yet.
        assert!(!settled(0, 3, 3));
        assert!(!settled(2, 1, 3));
    }
}
