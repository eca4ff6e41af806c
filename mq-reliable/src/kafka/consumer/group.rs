//! The consumer's side of the group protocol: librdkafka's callbacks for
//! rebalances and commit results.
//!
//! They run on the thread that polls the main queue, in the middle of the
//! rebalance, so what they do must be quick and must finish before the
//! partitions move: a revoke commits what is completed for the partitions
//! going away (synchronously) and abandons the rest; an assignment starts
//! tracking the new partitions; a failed commit is forgotten so that the
//! next commit sends it again.

use std::sync::{Arc, Mutex};

use rdkafka::consumer::StreamConsumer;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::kafka::offsets::OffsetTracker;
use crate::stats::Counters;

/// The group member as the consumer drives it.
pub(super) type GroupConsumer = StreamConsumer<Context>;

/// librdkafka's callbacks: rebalances and commit results.
pub(super) struct Context {
    tracker: Arc<Mutex<OffsetTracker>>,
    counters: Arc<Counters>,
    /// Bumped on every revoke (parked retries watch it).
    revoked: watch::Sender<u64>,
}

impl Context {
    pub(super) fn new(
        tracker: Arc<Mutex<OffsetTracker>>,
        counters: Arc<Counters>,
        revoked: watch::Sender<u64>,
    ) -> Self {
        Self {
            tracker,
            counters,
            revoked,
        }
    }

    /// Partitions taken away: commits what is completed for them, before
    /// they move, and abandons their unfinished records.
    fn revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) {
        let mut commit = TopicPartitionList::new();
        let mut tracker = self.tracker.lock().expect("offset tracker lock");
        for element in list.elements() {
            let partition = (element.topic().to_string(), element.partition());
            if let Some(position) = tracker.revoke(&partition) {
                let _ = commit.add_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(position),
                );
            }
        }
        let abandoned = tracker.pending();
        drop(tracker);
        self.revoked.send_modify(|generation| *generation += 1);
        if commit.count() > 0
            && let Err(error) = consumer.commit(&commit, CommitMode::Sync)
        {
            tracing::warn!(%error, "commit on partition revoke failed; the new owner handles those records again");
        }
        tracing::info!(
            partitions = list.count(),
            still_pending_elsewhere = abandoned,
            "partitions revoked: completed offsets committed, unfinished records abandoned"
        );
    }

    /// Partitions given to this member: their offsets are tracked from now.
    fn assign(&self, list: &TopicPartitionList) {
        let mut tracker = self.tracker.lock().expect("offset tracker lock");
        for element in list.elements() {
            tracker.assign((element.topic().to_string(), element.partition()));
        }
        Counters::bump(&self.counters.connects);
        tracing::info!(partitions = list.count(), "partitions assigned");
    }
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => self.revoke(consumer, list),
            Rebalance::Assign(list) => self.assign(list),
            Rebalance::Error(error) => {
                tracing::warn!(%error, "rebalance error");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, "offset commit failed; it will be tried again");
            let mut tracker = self.tracker.lock().expect("offset tracker lock");
            for element in offsets.elements() {
                tracker.forget_committed(&(element.topic().to_string(), element.partition()));
            }
        }
    }
}
