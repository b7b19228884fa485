//! Transactional offset commits of one group (TxnOffsetCommit), without I/O.
//!
//! A transactional producer commits its consumer's offsets inside its
//! transaction: the group coordinator appends them to `__consumer_offsets`
//! as a transactional batch of that producer, and they stay *pending* for
//! (group, producer id) until the transaction's marker lands on the
//! partition. A COMMIT makes them the committed offsets, an ABORT drops them.
//! Until then OffsetFetch does not return them (and answers
//! UNSTABLE_OFFSET_COMMIT to a `require_stable` fetch).
//!
//! Which offset wins is decided as Kafka decides it, by log position: a
//! pending offset replaces the committed one only if its record comes later
//! in the log, so an ordinary OffsetCommit appended after the transactional
//! one (but before the marker) is kept. The same rules run live and when a
//! partition is loaded from the log (`persist.rs`), so both agree.

use std::collections::HashMap;

use super::records::OffsetValue;

/// A topic-partition as offsets are keyed.
pub type TopicPartitionKey = (String, i32);

/// An offset waiting for its transaction's marker.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingOffset {
    pub value: OffsetValue,
    /// The log offset of its record in `__consumer_offsets`.
    pub position: i64,
}

/// The committed offsets of a group with the log offset of the record that
/// set each (Kafka's `appendedBatchOffset`, used to order a transactional
/// commit against ordinary ones).
pub type Positions = HashMap<TopicPartitionKey, i64>;

/// One group's pending transactional offsets, by producer id.
#[derive(Debug, Default)]
pub struct TxnOffsets {
    pending: HashMap<i64, HashMap<TopicPartitionKey, PendingOffset>>,
}

impl TxnOffsets {
    /// Records an offset the producer committed in its open transaction (a
    /// later one for the same partition replaces it).
    pub fn add(&mut self, producer_id: i64, tp: TopicPartitionKey, value: OffsetValue, position: i64) {
        self.pending.entry(producer_id).or_default().insert(tp, PendingOffset { value, position });
    }

    /// No producer has offsets pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Some producer has an offset pending for the partition.
    pub fn is_pending(&self, tp: &TopicPartitionKey) -> bool {
        self.pending.values().any(|offsets| offsets.contains_key(tp))
    }

    /// The producer has offsets pending in this group.
    pub fn has_producer(&self, producer_id: i64) -> bool {
        self.pending.contains_key(&producer_id)
    }

    /// How many partition offsets are pending, over all producers.
    pub fn len(&self) -> usize {
        self.pending.values().map(HashMap::len).sum()
    }

    /// Every partition with an offset pending.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartitionKey> {
        self.pending.values().flat_map(HashMap::keys)
    }

    /// The partition's offset was deleted (an ordinary tombstone): pending
    /// offsets of it go too, so a later COMMIT does not bring it back
    /// (Kafka's coordinator does the same).
    pub fn forget(&mut self, tp: &TopicPartitionKey) {
        self.pending.retain(|_, offsets| {
            offsets.remove(tp);
            !offsets.is_empty()
        });
    }

    /// The producer's transaction ended (its marker is written): on COMMIT
    /// its pending offsets become committed where their record is later in
    /// the log than the committed one's; on ABORT they are dropped. Returns
    /// how many offsets became committed.
    pub fn complete(
        &mut self,
        producer_id: i64,
        commit: bool,
        committed: &mut HashMap<TopicPartitionKey, OffsetValue>,
        positions: &mut Positions,
    ) -> usize {
        let Some(offsets) = self.pending.remove(&producer_id) else { return 0 };
        if !commit {
            return 0;
        }
        let mut applied = 0;
        for (tp, pending) in offsets {
            // A committed offset without a known position predates every
            // pending one (it was loaded or committed before it).
            let newer = match (committed.contains_key(&tp), positions.get(&tp)) {
                (true, Some(&at)) => pending.position > at,
                (true, None) => true,
                (false, _) => true,
            };
            if newer {
                positions.insert(tp.clone(), pending.position);
                committed.insert(tp, pending.value);
                applied += 1;
            }
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: i64) -> OffsetValue {
        OffsetValue { offset, leader_epoch: -1, metadata: String::new(), commit_timestamp: 0, expire_timestamp: None }
    }

    fn tp(p: i32) -> TopicPartitionKey {
        ("t".to_string(), p)
    }

    #[test]
    fn commit_makes_pending_offsets_committed_and_abort_drops_them() {
        let mut txn = TxnOffsets::default();
        let (mut committed, mut positions) = (HashMap::new(), Positions::new());
        committed.insert(tp(0), value(5));
        positions.insert(tp(0), 10);
        txn.add(7, tp(0), value(8), 20);
        txn.add(7, tp(1), value(3), 20);
        txn.add(9, tp(0), value(99), 21);
        assert!(txn.is_pending(&tp(0)) && txn.is_pending(&tp(1)) && !txn.is_pending(&tp(2)));
        assert_eq!(txn.len(), 3);
        // Not yet visible.
        assert_eq!(committed[&tp(0)].offset, 5);

        assert_eq!(txn.complete(9, false, &mut committed, &mut positions), 0);
        assert_eq!(committed[&tp(0)].offset, 5, "an abort changes nothing");
        assert!(!txn.has_producer(9));

        assert_eq!(txn.complete(7, true, &mut committed, &mut positions), 2);
        assert_eq!(committed[&tp(0)].offset, 8);
        assert_eq!(committed[&tp(1)].offset, 3);
        assert_eq!(positions[&tp(0)], 20);
        assert!(txn.is_empty());
        // A second marker for the same producer finds nothing.
        assert_eq!(txn.complete(7, true, &mut committed, &mut positions), 0);
    }

    #[test]
    fn an_ordinary_commit_written_after_the_transactional_one_wins() {
        let mut txn = TxnOffsets::default();
        let (mut committed, mut positions) = (HashMap::new(), Positions::new());
        txn.add(7, tp(0), value(8), 20);
        // An OffsetCommit appended at 25, before the marker.
        committed.insert(tp(0), value(30));
        positions.insert(tp(0), 25);
        assert_eq!(txn.complete(7, true, &mut committed, &mut positions), 0);
        assert_eq!(committed[&tp(0)].offset, 30);
        assert_eq!(positions[&tp(0)], 25);
    }

    #[test]
    fn a_deleted_offset_takes_its_pending_ones_along() {
        let mut txn = TxnOffsets::default();
        let (mut committed, mut positions) = (HashMap::new(), Positions::new());
        txn.add(7, tp(0), value(8), 20);
        txn.add(7, tp(1), value(9), 20);
        txn.forget(&tp(0));
        assert!(!txn.is_pending(&tp(0)));
        assert_eq!(txn.complete(7, true, &mut committed, &mut positions), 1);
        assert!(!committed.contains_key(&tp(0)));
        txn.add(8, tp(2), value(1), 30);
        txn.forget(&tp(2));
        assert!(txn.is_empty(), "a producer left with nothing pending is forgotten");
    }
}
