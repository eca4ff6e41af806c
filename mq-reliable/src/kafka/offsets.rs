//! Which offset of each partition is safe to commit.
//!
//! Kafka commits a *position*: "everything before offset `n` of this
//! partition is done". With records handled concurrently, record 12 may
//! finish before record 10; committing 13 then would tell a successor that 10
//! is done when it is not. So each partition keeps the set of offsets
//! received and not yet completed; the safe position is the smallest of
//! them, or one past the highest offset received when none is pending.
//!
//! ```text
//! received:  10 11 12 13          completed: 11 13
//! pending:   {10, 12}             safe position: 10 (nothing committed past 10)
//! completed: 10                   pending {12}: safe position 12
//! completed: 12                   pending {}:   safe position 14
//! ```
//!
//! Every assignment of a partition gets a fresh *epoch*. A record carries the
//! epoch it was received under; when the partition is revoked its state is
//! dropped, and a completion from an older epoch is ignored, so work that
//! finishes after a revoke never commits for the partition's new owner.

use std::collections::{BTreeSet, HashMap};

/// A topic and partition.
pub(crate) type TopicPartition = (String, i32);

/// Offsets in flight for one partition.
#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionOffsets {
    pending: BTreeSet<i64>,
    next: Option<i64>,
    committed: Option<i64>,
}

impl PartitionOffsets {
    /// Records that `offset` was received and handed to a handler.
    pub(crate) fn received(&mut self, offset: i64) {
        self.pending.insert(offset);
        let next = offset + 1;
        if self.next.is_none_or(|current| next > current) {
            self.next = Some(next);
        }
    }

    /// Records that `offset` is done (handled, retried elsewhere or
    /// dead-lettered).
    pub(crate) fn completed(&mut self, offset: i64) {
        self.pending.remove(&offset);
    }

    /// The position that may be committed: nothing before it is pending.
    pub(crate) fn safe_position(&self) -> Option<i64> {
        match self.pending.first() {
            Some(&lowest) => Some(lowest),
            None => self.next,
        }
    }

    /// The safe position if it moved past what was last committed.
    pub(crate) fn uncommitted(&self) -> Option<i64> {
        let safe = self.safe_position()?;
        match self.committed {
            Some(done) if done >= safe => None,
            _ => Some(safe),
        }
    }

    /// Records that `position` was committed.
    pub(crate) fn mark_committed(&mut self, position: i64) {
        if self.committed.is_none_or(|done| position > done) {
            self.committed = Some(position);
        }
    }

    /// Forgets the last commit (it failed), so the position is committed again.
    pub(crate) fn forget_committed(&mut self) {
        self.committed = None;
    }

    /// Records received and not completed.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[derive(Debug)]
struct Assigned {
    epoch: u64,
    offsets: PartitionOffsets,
}

/// The offsets of every partition currently assigned to this consumer.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    partitions: HashMap<TopicPartition, Assigned>,
    epochs: u64,
}

impl OffsetTracker {
    /// Starts tracking a newly assigned partition (a no-op if it is tracked).
    pub(crate) fn assign(&mut self, partition: TopicPartition) {
        let epochs = &mut self.epochs;
        self.partitions.entry(partition).or_insert_with(|| {
            *epochs += 1;
            Assigned {
                epoch: *epochs,
                offsets: PartitionOffsets::default(),
            }
        });
    }

    /// Stops tracking a revoked partition; returns the position still to
    /// commit for it, if any.
    pub(crate) fn revoke(&mut self, partition: &TopicPartition) -> Option<i64> {
        self.partitions
            .remove(partition)
            .and_then(|assigned| assigned.offsets.uncommitted())
    }

    /// Records a received offset; returns the partition's epoch, or `None`
    /// when the partition is not assigned (a record from before a revoke).
    pub(crate) fn received(&mut self, partition: &TopicPartition, offset: i64) -> Option<u64> {
        let assigned = self.partitions.get_mut(partition)?;
        assigned.offsets.received(offset);
        Some(assigned.epoch)
    }

    /// Records a completion; `false` when the partition was revoked since
    /// (the completion is ignored, nothing will be committed for it).
    pub(crate) fn completed(
        &mut self,
        partition: &TopicPartition,
        epoch: u64,
        offset: i64,
    ) -> bool {
        match self.partitions.get_mut(partition) {
            Some(assigned) if assigned.epoch == epoch => {
                assigned.offsets.completed(offset);
                true
            }
            _ => false,
        }
    }

    /// Whether records received under `epoch` still belong to this consumer.
    pub(crate) fn is_current(&self, partition: &TopicPartition, epoch: u64) -> bool {
        self.partitions
            .get(partition)
            .is_some_and(|assigned| assigned.epoch == epoch)
    }

    /// Positions that moved since the last commit.
    pub(crate) fn to_commit(&self) -> Vec<(TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter_map(|(partition, assigned)| {
                assigned
                    .offsets
                    .uncommitted()
                    .map(|position| (partition.clone(), position))
            })
            .collect()
    }

    /// Records that these positions were committed.
    pub(crate) fn mark_committed(&mut self, positions: &[(TopicPartition, i64)]) {
        for (partition, position) in positions {
            if let Some(assigned) = self.partitions.get_mut(partition) {
                assigned.offsets.mark_committed(*position);
            }
        }
    }

    /// Forgets the last commit of `partition` (it failed).
    pub(crate) fn forget_committed(&mut self, partition: &TopicPartition) {
        if let Some(assigned) = self.partitions.get_mut(partition) {
            assigned.offsets.forget_committed();
        }
    }

    /// The partitions currently assigned, sorted.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        partitions.sort();
        partitions
    }

    /// Records received and not completed, over all partitions.
    pub(crate) fn pending(&self) -> usize {
        self.partitions
            .values()
            .map(|assigned| assigned.offsets.pending())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_commits_past_a_pending_offset() {
        let mut p = PartitionOffsets::default();
        for offset in 10..14 {
            p.received(offset);
        }
        p.completed(11);
        p.completed(13);
        assert_eq!(p.safe_position(), Some(10));
        p.completed(10);
        assert_eq!(p.safe_position(), Some(12));
        p.completed(12);
        assert_eq!(p.safe_position(), Some(14));
        p.mark_committed(14);
        assert_eq!(p.uncommitted(), None);
    }

    #[test]
    fn gaps_in_offsets_are_fine() {
        let mut p = PartitionOffsets::default();
        p.received(5);
        p.received(9); // 6..8 were compacted away or are transaction markers
        p.completed(9);
        assert_eq!(p.safe_position(), Some(5));
        p.completed(5);
        assert_eq!(p.safe_position(), Some(10));
    }

    #[test]
    fn a_completion_after_revoke_is_ignored() {
        let mut t = OffsetTracker::default();
        let tp = ("t".to_string(), 0);
        t.assign(tp.clone());
        let epoch = t.received(&tp, 0).unwrap();
        t.received(&tp, 1).unwrap();
        assert!(t.completed(&tp, epoch, 1));
        assert_eq!(t.revoke(&tp), Some(0));
        t.assign(tp.clone()); // assigned again: a new epoch
        assert!(!t.completed(&tp, epoch, 0));
        assert!(!t.is_current(&tp, epoch));
        assert_eq!(t.to_commit(), vec![]);
        assert_eq!(t.received(&("u".to_string(), 0), 3), None);
    }

    /// Model check: whatever order completions arrive in, the safe position
    /// is exactly the first offset not completed, and it never goes back.
    #[test]
    fn safe_position_matches_a_model_for_random_orders() {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let n = (next() % 60) as i64 + 1;
            let mut p = PartitionOffsets::default();
            for offset in 0..n {
                p.received(offset);
            }
            let mut order: Vec<i64> = (0..n).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut done = vec![false; n as usize];
            let mut last = 0;
            for offset in order {
                p.completed(offset);
                done[offset as usize] = true;
                let expected = done.iter().position(|d| !d).map_or(n, |i| i as i64);
                let safe = p.safe_position().unwrap();
                assert_eq!(safe, expected);
                assert!(safe >= last);
                last = safe;
            }
        }
    }
}
