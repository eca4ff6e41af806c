//! Committing offsets: every `commit_interval` while the consumer runs, and
//! once more, synchronously, when it stops.
//!
//! What is committed is, per partition, the first offset not completed
//! ([`offsets`](crate::kafka::offsets)), so a commit never passes
//! unfinished work. Revokes commit on their own, in the group callbacks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::group::GroupConsumer;
use crate::kafka::offsets::OffsetTracker;

/// The periodic commits of one run, and the last commit that ends it.
pub(super) struct Committer {
    consumer: Arc<GroupConsumer>,
    tracker: Arc<Mutex<OffsetTracker>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Committer {
    /// Starts committing every `interval`.
    pub(super) fn start(
        consumer: Arc<GroupConsumer>,
        tracker: Arc<Mutex<OffsetTracker>>,
        interval: Duration,
    ) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(commit_loop(
            consumer.clone(),
            tracker.clone(),
            interval,
            stop.clone(),
        ));
        Self {
            consumer,
            tracker,
            stop,
            task,
        }
    }

    /// Stops the periodic commits, commits what is completed (waiting for
    /// the broker's answer) and leaves the group.
    pub(super) async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
        let consumer = self.consumer;
        let tracker = self.tracker;
        let _ = tokio::task::spawn_blocking(move || {
            commit_now(&consumer, &tracker, CommitMode::Sync);
            consumer.unsubscribe();
        })
        .await;
    }
}

/// Commits the safe positions every `interval`.
async fn commit_loop(
    consumer: Arc<GroupConsumer>,
    tracker: Arc<Mutex<OffsetTracker>>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        commit_now(&consumer, &tracker, CommitMode::Async);
    }
}

/// Commits, per partition, the first offset not completed, if it moved
/// since the last commit.
fn commit_now(consumer: &GroupConsumer, tracker: &Mutex<OffsetTracker>, mode: CommitMode) {
    // Held across the commit so that a revoke cannot slip in between.
    let mut tracker = tracker.lock().expect("offset tracker lock");
    let positions = tracker.to_commit();
    if positions.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), position) in &positions {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*position));
    }
    match consumer.commit(&list, mode) {
        Ok(()) => tracker.mark_committed(&positions),
        Err(error) => tracing::warn!(%error, "offset commit failed; it will be tried again"),
    }
}
