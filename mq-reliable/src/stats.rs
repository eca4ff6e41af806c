//! Counters a user would graph, kept with relaxed atomics (no locking on the
//! hot path) and read as a snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a consumer's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Deliveries received from the broker (retries and redeliveries included).
    pub consumed: u64,
    /// Deliveries acknowledged after the handler succeeded (Kafka: records
    /// completed, whose offset may now be committed).
    pub acked: u64,
    /// Failures sent to a retry queue or topic, or (Kafka ordered retry)
    /// parked for a later attempt.
    pub retried: u64,
    /// Messages moved to the dead-letter queue (attempts used up, rejected,
    /// undeserializable).
    pub dead_lettered: u64,
    /// Deliveries the broker flagged as redelivered (a previous delivery was
    /// never acknowledged: consumer crash, connection loss, shutdown deadline).
    /// Always 0 on Kafka, which has no such flag.
    pub redelivered: u64,
    /// Handler panics (each also counted as a retry or dead letter).
    pub panicked: u64,
    /// Handler timeouts (each also counted as a retry or dead letter).
    pub timed_out: u64,
    /// Acknowledgements that could not be sent because the channel had died;
    /// the broker delivers those messages again. Kafka: records whose
    /// partition was revoked before they completed (abandoned, not
    /// committed: the partition's new owner processes them).
    pub acks_lost: u64,
    /// Times the consumer (re)connected and resumed consuming (Kafka: partition
    /// assignments received from the group).
    pub connects: u64,
}

// Broker adapters update these; without one (no broker feature) nothing does.
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) consumed: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) acks_lost: AtomicU64,
    pub(crate) connects: AtomicU64,
}

#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ConsumerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ConsumerStats {
            consumed: read(&self.consumed),
            acked: read(&self.acked),
            retried: read(&self.retried),
            dead_lettered: read(&self.dead_lettered),
            redelivered: read(&self.redelivered),
            panicked: read(&self.panicked),
            timed_out: read(&self.timed_out),
            acks_lost: read(&self.acks_lost),
            connects: read(&self.connects),
        }
    }
}

/// A consumer's counters that outlive the borrow of the consumer: read them
/// while the consumer's `run` holds it in another task, or after it
/// returned. Cheap to clone; every clone reads the same counters, which keep
/// counting as long as the consumer runs.
///
/// Get one with `Consumer::stats_handle()` (AMQP or Kafka).
#[derive(Debug, Clone)]
pub struct StatsHandle {
    counters: Arc<Counters>,
}

#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
impl StatsHandle {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    /// The counters now: what `Consumer::stats()` would answer.
    pub fn snapshot(&self) -> ConsumerStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_reads_the_counters_as_they_move_and_after_their_owner_is_gone() {
        let owner = Arc::new(Counters::default());
        let handle = StatsHandle::new(owner.clone());
        let clone = handle.clone();
        assert_eq!(handle.snapshot(), ConsumerStats::default());

        Counters::bump(&owner.consumed);
        Counters::bump(&owner.acked);
        Counters::bump(&owner.dead_lettered);
        drop(owner);

        let expected = ConsumerStats {
            consumed: 1,
            acked: 1,
            dead_lettered: 1,
            ..ConsumerStats::default()
        };
        assert_eq!(handle.snapshot(), expected);
        assert_eq!(clone.snapshot(), expected);
    }
}
