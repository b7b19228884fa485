//! Reading and writing `__consumer_offsets` through the internal-log handle
//! (`log.rs`): the coordinator appends its records as the partition's leader
//! (one uncompressed batch per call) and waits until they are committed (the
//! high watermark passes them, bounded by `offsets.commit.timeout.ms`), as
//! Kafka does with acks=all; loading replays the partition from its start and
//! keeps the last value of every key. Transactional offsets (TxnOffsetCommit)
//! count once their producer's COMMIT marker follows, vanish with an ABORT,
//! and are loaded as pending when no marker follows yet (the transaction
//! coordinator sends it again after its own failover). Also Kafka's mapping of
//! a failed append to the errors group and commit requests answer.

use std::collections::HashMap;

use bytes::Bytes;

use super::log::{InternalLog, ReplayError, ReplayItem, TxnProducer};
use super::records::{self, GroupValue, Key, OffsetValue};
use super::txn_offsets::{Positions, TxnOffsets};
use crate::protocol::ErrorCode;

/// Appends `(key, value)` records (a `None` value is a tombstone) and waits
/// until they are committed.
pub async fn append(
    log: &dyn InternalLog,
    partition: i32,
    entries: Vec<(Bytes, Option<Bytes>)>,
) -> Result<(), ErrorCode> {
    log.append(partition, None, entries).await
}

/// As [`append`], answering the base offset of the batch (entry `i` is at
/// base + `i`); with `txn`, as a transactional batch of that producer.
pub async fn append_at(
    log: &dyn InternalLog,
    partition: i32,
    txn: Option<TxnProducer>,
    entries: Vec<(Bytes, Option<Bytes>)>,
) -> Result<Option<i64>, ErrorCode> {
    log.append_batch(partition, None, txn, entries).await
}

/// Stores a group's metadata (`None`: its tombstone).
pub async fn store_group(
    log: &dyn InternalLog,
    partition: i32,
    group_id: &str,
    value: Option<&GroupValue>,
) -> Result<(), ErrorCode> {
    let entry = (records::group_key(group_id), value.map(records::group_value));
    append(log, partition, vec![entry]).await.map_err(group_error)
}

/// Kafka's mapping of a failed append to the error a group request answers.
pub fn group_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge | ErrorCode::InvalidFetchSize => {
            ErrorCode::UnknownServerError
        }
        other => other,
    }
}

/// Kafka's mapping of a failed append to the error an offset commit answers.
pub fn commit_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge | ErrorCode::InvalidFetchSize => {
            ErrorCode::InvalidCommitOffsetSize
        }
        other => group_error(other),
    }
}

/// What loading found for one group.
#[derive(Debug, Default)]
pub struct LoadedGroup {
    /// Its metadata, if stored (and not deleted).
    pub value: Option<GroupValue>,
    /// Committed offsets: ordinary ones, and transactional ones whose COMMIT
    /// marker followed.
    pub offsets: HashMap<(String, i32), OffsetValue>,
    pub positions: Positions,
    /// Transactional offsets whose marker has not been written yet: the
    /// transaction coordinator sends it again after its own failover.
    pub txn: TxnOffsets,
}

impl LoadedGroup {
    /// Nothing is left of the group.
    pub fn is_empty(&self) -> bool {
        self.value.is_none() && self.offsets.is_empty() && self.txn.is_empty()
    }
}

/// What loading found, by group id.
pub type Loaded = HashMap<String, LoadedGroup>;

/// Reads a whole partition (blocking I/O): the last value of every key wins,
/// tombstones remove; transactional offsets count once their COMMIT marker
/// follows, vanish with an ABORT, and stay pending without a marker.
/// Unreadable records are skipped with a warning.
pub fn read_partition(log: &dyn InternalLog, partition: i32) -> Result<Loaded, ReplayError> {
    let mut loaded = Loaded::new();
    log.replay_with_markers(partition, &mut |item| apply(&mut loaded, item, partition))?;
    Ok(loaded)
}

/// Applies one replayed record or marker to what was loaded so far.
pub fn apply(loaded: &mut Loaded, item: ReplayItem<'_>, partition: i32) {
    let (r, txn_producer) = match item {
        ReplayItem::Record { record, txn_producer } => (record, txn_producer),
        ReplayItem::Marker { producer_id, commit, .. } => {
            for g in loaded.values_mut() {
                if g.txn.has_producer(producer_id) {
                    g.txn.complete(producer_id, commit, &mut g.offsets, &mut g.positions);
                }
            }
            return;
        }
    };
    let Some(key) = r.key else { return };
    let at = r.offset;
    let warn = |e: records::RecordError| tracing::warn!(partition, offset = at, %e, "skipping a record");
    match records::decode_key(key) {
        Ok(Some(Key::Offset { group, topic, partition: p })) => {
            let value = match r.value.map(records::decode_offset_value).transpose() {
                Ok(v) => v,
                Err(e) => return warn(e),
            };
            let g = loaded.entry(group).or_default();
            let tp = (topic, p);
            match (txn_producer, value) {
                (Some(producer_id), Some(v)) => g.txn.add(producer_id, tp, v, at),
                // Our coordinator writes no transactional tombstones; one only
                // cancels what that transaction committed.
                (Some(_), None) => g.txn.forget(&tp),
                (None, Some(v)) => {
                    g.positions.insert(tp.clone(), at);
                    g.offsets.insert(tp, v);
                }
                (None, None) => {
                    g.txn.forget(&tp);
                    g.positions.remove(&tp);
                    g.offsets.remove(&tp);
                }
            }
        }
        Ok(Some(Key::Group { group })) => {
            let value = match r.value.map(records::decode_group_value).transpose() {
                Ok(v) => v,
                Err(e) => return warn(e),
            };
            loaded.entry(group).or_default().value = value;
        }
        Ok(None) => {}
        Err(e) => warn(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::log::Replayed;

    fn value(offset: i64) -> OffsetValue {
        OffsetValue { offset, leader_epoch: -1, metadata: String::new(), commit_timestamp: 1, expire_timestamp: None }
    }

    /// Replays `(log offset, topic partition, committed offset or None, producer of a transactional batch)`
    /// records of group "g" and `(log offset, producer, commit)` markers, in the order given.
    enum Item {
        Offset(i64, i32, Option<i64>, Option<i64>),
        Marker(i64, i64, bool),
    }

    fn load(items: &[Item]) -> Loaded {
        let mut loaded = Loaded::new();
        for item in items {
            match *item {
                Item::Offset(at, p, v, txn_producer) => {
                    let key = records::offset_key("g", "t", p);
                    let val = v.map(|v| records::offset_value(&value(v)));
                    let record = Replayed { offset: at, key: Some(&key), value: val.as_deref() };
                    apply(&mut loaded, ReplayItem::Record { record, txn_producer }, 0);
                }
                Item::Marker(at, producer_id, commit) => {
                    apply(&mut loaded, ReplayItem::Marker { offset: at, producer_id, commit }, 0)
                }
            }
        }
        loaded
    }

    fn committed(loaded: &Loaded, p: i32) -> Option<i64> {
        loaded.get("g")?.offsets.get(&("t".to_string(), p)).map(|v| v.offset)
    }

    #[test]
    fn transactional_offsets_count_only_after_their_commit_marker() {
        use Item::*;
        let loaded = load(&[
            Offset(0, 0, Some(5), None),
            // Producer 7 commits, producer 8 aborts, producer 9 has no marker yet.
            Offset(1, 0, Some(10), Some(7)),
            Offset(2, 1, Some(20), Some(8)),
            Offset(3, 2, Some(30), Some(9)),
            Marker(4, 7, true),
            Marker(5, 8, false),
        ]);
        assert_eq!(committed(&loaded, 0), Some(10));
        assert_eq!(committed(&loaded, 1), None, "aborted");
        assert_eq!(committed(&loaded, 2), None, "still pending");
        let g = &loaded["g"];
        assert!(g.txn.is_pending(&("t".to_string(), 2)));
        assert!(g.txn.has_producer(9) && !g.txn.has_producer(7) && !g.txn.has_producer(8));
        assert!(!g.is_empty());
    }

    #[test]
    fn a_later_ordinary_commit_wins_over_a_transaction_committed_after_it() {
        use Item::*;
        let loaded = load(&[Offset(0, 0, Some(10), Some(7)), Offset(1, 0, Some(3), None), Marker(2, 7, true)]);
        assert_eq!(committed(&loaded, 0), Some(3));
        // The transactional record written after the ordinary one wins.
        let loaded = load(&[Offset(0, 0, Some(3), None), Offset(1, 0, Some(10), Some(7)), Marker(2, 7, true)]);
        assert_eq!(committed(&loaded, 0), Some(10));
    }

    #[test]
    fn a_tombstone_deletes_pending_offsets_of_its_partition() {
        use Item::*;
        let loaded = load(&[Offset(0, 0, Some(10), Some(7)), Offset(1, 0, None, None), Marker(2, 7, true)]);
        assert_eq!(committed(&loaded, 0), None);
        assert!(loaded["g"].is_empty());
    }

    #[test]
    fn non_transactional_replay_is_unchanged() {
        use Item::*;
        let loaded = load(&[Offset(0, 0, Some(1), None), Offset(1, 0, Some(2), None), Offset(2, 1, Some(9), None)]);
        assert_eq!((committed(&loaded, 0), committed(&loaded, 1)), (Some(2), Some(9)));
        let loaded = load(&[Offset(0, 0, Some(1), None), Offset(1, 0, None, None)]);
        assert!(loaded["g"].is_empty());
    }
}
