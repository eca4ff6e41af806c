//! Records with the same key in order, different keys at the same time.
//!
//! Kafka keeps a partition in order, but handling a partition one record at a
//! time wastes the parallelism of I/O-bound handlers, and handling it fully
//! concurrently breaks the order of a key (a room's chat messages, an order's
//! state changes). Between the two: a *lane* per key. The first record of a
//! key starts a lane task; records of the same key that arrive while it runs
//! queue behind it; when its queue is empty the lane ends. Different keys'
//! lanes run concurrently, bounded by the consumer's concurrency (a semaphore
//! taken around each handler call), and the total of queued records is
//! bounded by `max_in_flight`.
//!
//! A lane is keyed by topic, partition and key: a key always maps to the same
//! partition, and revoking a partition then abandons exactly its lanes.
//! Records without a key have no order to keep; each gets a lane of its own.
//!
//! Ordered retry ([`RetryMode::Ordered`](super::RetryMode::Ordered)) parks
//! the lane itself: the failing record waits out its backoff at the head of
//! its lane, so later records of *that key* wait, while every other lane
//! goes on.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_util::task::TaskTracker;

/// Identifies a lane: topic, partition and key (or a unique id for records
/// without a key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LaneKey {
    /// A keyed record.
    Keyed(String, i32, Vec<u8>),
    /// A record without a key: its own lane.
    Unkeyed(String, i32, i64),
}

/// Queues of the lanes that are running.
pub(crate) struct KeyLanes<W> {
    queues: Mutex<HashMap<LaneKey, VecDeque<W>>>,
}

impl<W: Send + 'static> KeyLanes<W> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(HashMap::new()),
        })
    }

    /// Hands `work` to its lane: queued behind the lane's running work, or a
    /// new lane task (on `tracker`) that runs `run` for it and then for
    /// whatever queued up meanwhile, in order.
    pub(crate) fn dispatch<F, Fut>(
        self: &Arc<Self>,
        key: LaneKey,
        work: W,
        tracker: &TaskTracker,
        run: F,
    ) where
        F: Fn(W) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        {
            let mut queues = self.queues.lock().expect("lane lock");
            if let Some(queue) = queues.get_mut(&key) {
                queue.push_back(work);
                return;
            }
            queues.insert(key.clone(), VecDeque::new());
        }
        let lanes = self.clone();
        tracker.spawn(async move {
            let mut next = Some(work);
            while let Some(work) = next {
                run(work).await;
                let mut queues = lanes.queues.lock().expect("lane lock");
                next = queues.get_mut(&key).and_then(VecDeque::pop_front);
                if next.is_none() {
                    queues.remove(&key);
                }
            }
        });
    }

    /// Lanes running now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.queues.lock().expect("lane lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_key_in_order_other_keys_concurrently() {
        let lanes = KeyLanes::<(u8, u32)>::new();
        let tracker = TaskTracker::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..200u32 {
            let key = (i % 4) as u8;
            let seen = seen.clone();
            lanes.dispatch(
                LaneKey::Keyed("t".into(), 0, vec![key]),
                (key, i),
                &tracker,
                move |(key, i)| {
                    let seen = seen.clone();
                    async move {
                        if i % 7 == 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        seen.lock().unwrap().push((key, i));
                    }
                },
            );
        }
        tracker.close();
        tracker.wait().await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 200);
        for key in 0..4u8 {
            let order: Vec<u32> = seen
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, i)| *i)
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "key {key}: {order:?}"
            );
        }
        assert_eq!(lanes.running(), 0);
    }
}
