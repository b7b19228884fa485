//! Idempotent-producer bookkeeping for one partition: per producer id, the
//! epoch and the sequence ranges of the last five batches (Kafka keeps five
//! because a producer has at most five requests in flight).
//!
//! A retried batch whose sequence range matches a cached one is a duplicate:
//! like Kafka, the broker answers it with the offsets of the original append
//! and writes nothing. A gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER;
//! an older epoch is INVALID_PRODUCER_EPOCH. A producer this map does not know
//! is accepted at any sequence (Kafka 2.5+ does the same: its state may have
//! expired), so the map must know every producer the log still holds: leaders
//! and followers record every batch they append, truncation rebuilds the map
//! from the log, and a restart rebuilds it from the newest producer-state
//! snapshot plus the batches after it (`Partition`, `storage::producer_snapshot`).
//!
//! The map is pure: no I/O. It remembers how far into the log it reflects
//! (`end_offset`), which is the offset a snapshot of it is named after.
//!
//! Transactions (Kafka's partition side): a transactional batch opens a
//! transaction for its producer at its first offset unless one is open; a
//! COMMIT or ABORT marker (a control batch) ends it. The first offset of the
//! oldest open transaction bounds the last stable offset, and so does a
//! transaction whose marker is written but not yet below the high watermark
//! (a leader change could still lose the marker). An open transaction is kept
//! in the snapshot (Kafka's `current_txn_first_offset`) with the coordinator
//! epoch of the producer's last marker, and keeps its producer from expiring.
//! A coordinator's transactional batch (TxnOffsetCommit into
//! `__consumer_offsets`) has no sequence: only its epoch is checked
//! ([`ProducerStateMap::check_epoch`]), and it opens a transaction like any.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::protocol::batch::BatchHeader;
use crate::protocol::ErrorCode;
use crate::storage::SnapshotEntry;

const CACHED_BATCHES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
    /// The batch's max timestamp (producer expiry is measured from the last one).
    timestamp: i64,
}

#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
    /// The coordinator epoch of the last marker written for this producer (−1 none).
    coordinator_epoch: i32,
    /// The first offset of the producer's open transaction.
    txn_first_offset: Option<i64>,
    /// When the producer last wrote (a batch or a marker).
    last_timestamp: i64,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry {
            epoch: 0,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
            last_timestamp: -1,
        }
    }
}

/// A transaction ended by a marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// The first offset of the oldest transaction still open once this one
    /// ended, or the marker's offset + 1 (Kafka's `lastStableOffset` of the
    /// `.txnindex` entry).
    pub last_stable_offset: i64,
}

/// A transaction marker, as the control batch's single record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// One producer as DescribeProducers reports it (Kafka's `ProducerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last sequence number of its last cached batch (−1: none).
    pub last_sequence: i32,
    /// When it last wrote (−1: unknown).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last marker (−1: none yet).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (−1: none).
    pub txn_start_offset: i64,
}

/// What the sequence check decided for a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// Already appended at these offsets: answer success, append nothing.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// All producers seen on one partition.
#[derive(Debug, Default)]
pub struct ProducerStateMap {
    producers: HashMap<i64, ProducerEntry>,
    /// The log offset up to which (exclusive) the map reflects the log.
    end_offset: i64,
    /// Open transactions: first offset → producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Ended transactions whose marker may not be below the high watermark
    /// yet: (first offset, marker offset), in marker order.
    unreplicated: VecDeque<(i64, i64)>,
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap from i32::MAX to 0.
    let span = h.last_offset_delta;
    ((i64::from(h.base_sequence) + i64::from(span)) % (i64::from(i32::MAX) + 1)) as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStateMap {
    /// Checks a batch against the producer's state without changing it.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, ErrorCode> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state predates a restart): accept.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        let last = last_seq(h);
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == last) {
            return Ok(SequenceCheck::Duplicate { first_offset: dup.first_offset, last_offset: dup.last_offset });
        }
        match entry.batches.back() {
            Some(prev) if next_seq(prev.last_seq) != h.base_sequence => Err(ErrorCode::OutOfOrderSequenceNumber),
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Checks a batch a coordinator writes (no sequence, Kafka's
    /// coordinator-origin append): only an older producer epoch is refused.
    pub fn check_epoch(&self, h: &BatchHeader) -> Result<SequenceCheck, ErrorCode> {
        match self.producers.get(&h.producer_id) {
            Some(entry) if h.producer_id >= 0 && h.producer_epoch < entry.epoch => Err(ErrorCode::InvalidProducerEpoch),
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// An empty map for a log that starts at `offset`.
    pub fn starting_at(offset: i64) -> ProducerStateMap {
        ProducerStateMap {
            producers: HashMap::new(),
            end_offset: offset,
            ongoing: BTreeMap::new(),
            unreplicated: VecDeque::new(),
        }
    }

    /// The log offset up to which (exclusive) the map reflects the log.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Producers known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Records an appended batch (as leader, as follower, or replayed from the
    /// log). `timestamp` is the batch's max timestamp.
    /// Control batches go through [`ProducerStateMap::record_marker`] instead.
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64, last_offset: i64, timestamp: i64) {
        self.end_offset = self.end_offset.max(last_offset + 1);
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        if h.is_transactional() {
            let entry = self.producers.entry(h.producer_id).or_default();
            if h.producer_epoch > entry.epoch {
                // A newer epoch (also for a coordinator's batch without a
                // sequence, which `push` below does not see) fences older ones.
                entry.epoch = h.producer_epoch;
                entry.batches.clear();
            }
            entry.last_timestamp = entry.last_timestamp.max(timestamp);
            if entry.txn_first_offset.is_none() {
                entry.txn_first_offset = Some(first_offset);
                self.ongoing.insert(first_offset, h.producer_id);
            }
        }
        if h.base_sequence < 0 {
            return;
        }
        self.push(
            h.producer_id,
            h.producer_epoch,
            CachedBatch { first_seq: h.base_sequence, last_seq: last_seq(h), first_offset, last_offset, timestamp },
        );
    }

    fn push(&mut self, producer_id: i64, epoch: i16, batch: CachedBatch) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = entry.last_timestamp.max(batch.timestamp);
        entry.batches.push_back(batch);
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// Checks a marker against the producer's state: an older producer epoch is
    /// INVALID_PRODUCER_EPOCH (Kafka's ProducerFenced on the partition side), an
    /// older coordinator epoch TRANSACTION_COORDINATOR_FENCED.
    pub fn check_marker(&self, m: &Marker) -> Result<(), ErrorCode> {
        let Some(entry) = self.producers.get(&m.producer_id) else { return Ok(()) };
        if m.producer_epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if m.coordinator_epoch < entry.coordinator_epoch {
            return Err(ErrorCode::TransactionCoordinatorFenced);
        }
        Ok(())
    }

    /// Records a marker appended at `offset`: the producer's transaction (if
    /// one is open) ends. Returns it, for the aborted-transaction index.
    pub fn record_marker(&mut self, m: &Marker, offset: i64, timestamp: i64) -> Option<CompletedTxn> {
        self.end_offset = self.end_offset.max(offset + 1);
        let entry = self.producers.entry(m.producer_id).or_default();
        if m.producer_epoch != entry.epoch {
            // A marker may carry a bumped epoch (the coordinator fenced the producer).
            entry.epoch = m.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = entry.coordinator_epoch.max(m.coordinator_epoch);
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
        let first_offset = entry.txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        self.unreplicated.push_back((first_offset, offset));
        let last_stable_offset = self.ongoing.keys().next().copied().unwrap_or(offset + 1);
        Some(CompletedTxn {
            producer_id: m.producer_id,
            first_offset,
            last_offset: offset,
            aborted: !m.commit,
            last_stable_offset,
        })
    }

    /// The first offset a read_committed consumer must not read past yet: the
    /// oldest open transaction's first offset, or that of an ended one whose
    /// marker is not below `high_watermark`; `None` when everything up to the
    /// high watermark is stable.
    pub fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        while self.unreplicated.front().is_some_and(|(_, marker)| *marker < high_watermark) {
            self.unreplicated.pop_front();
        }
        let open = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.iter().map(|(first, _)| *first).min();
        match (open, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Open transactions: (producer id, first offset), oldest first.
    #[cfg(test)]
    pub fn ongoing_txns(&self) -> Vec<(i64, i64)> {
        self.ongoing.iter().map(|(first, pid)| (*pid, *first)).collect()
    }

    /// Every producer the map knows, by producer id (read-only, for DescribeProducers).
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(id, e)| ActiveProducer {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_unstable_by_key(|p| p.producer_id);
        out
    }

    /// Every cached batch, oldest first per producer, for a snapshot.
    pub fn snapshot_entries(&self) -> Vec<SnapshotEntry> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        ids.into_iter()
            .flat_map(|id| {
                let entry = &self.producers[id];
                let txn_first_offset = entry.txn_first_offset.unwrap_or(-1);
                let batches = entry.batches.iter().map(move |b| SnapshotEntry {
                    producer_id: *id,
                    epoch: entry.epoch,
                    first_seq: b.first_seq,
                    last_seq: b.last_seq,
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                    timestamp: b.timestamp,
                    coordinator_epoch: entry.coordinator_epoch,
                    txn_first_offset,
                });
                // A producer known only from markers (or a non-idempotent
                // transactional one) has no batch: one entry without.
                let bare = entry.batches.is_empty().then_some(SnapshotEntry {
                    producer_id: *id,
                    epoch: entry.epoch,
                    first_seq: -1,
                    last_seq: -1,
                    first_offset: -1,
                    last_offset: -1,
                    timestamp: entry.last_timestamp,
                    coordinator_epoch: entry.coordinator_epoch,
                    txn_first_offset,
                });
                batches.chain(bare)
            })
            .collect()
    }

    /// The map a snapshot taken at `offset` describes, without the producers
    /// that [`ProducerStateMap::expire`] would drop at `expired_before`.
    pub fn from_snapshot(offset: i64, entries: &[SnapshotEntry], expired_before: i64) -> ProducerStateMap {
        let mut map = ProducerStateMap::starting_at(offset);
        for e in entries {
            if e.last_seq >= 0 {
                let batch = CachedBatch {
                    first_seq: e.first_seq,
                    last_seq: e.last_seq,
                    first_offset: e.first_offset,
                    last_offset: e.last_offset,
                    timestamp: e.timestamp,
                };
                map.push(e.producer_id, e.epoch, batch);
            }
            let entry = map.producers.entry(e.producer_id).or_default();
            entry.epoch = e.epoch;
            entry.coordinator_epoch = e.coordinator_epoch;
            entry.last_timestamp = entry.last_timestamp.max(e.timestamp);
            // The last entry of a producer holds its transaction (Kafka reads it so).
            if let Some(old) = entry.txn_first_offset.take() {
                map.ongoing.remove(&old);
            }
            if e.txn_first_offset >= 0 {
                entry.txn_first_offset = Some(e.txn_first_offset);
                map.ongoing.insert(e.txn_first_offset, e.producer_id);
            }
        }
        map.expire(expired_before);
        map
    }

    /// Forgets producers whose last write is at or before `cutoff` (now minus
    /// `producer.id.expiration.ms`, as Kafka: expired once that much time has
    /// passed) and that have no open transaction; returns how many.
    pub fn expire(&mut self, cutoff: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| e.txn_first_offset.is_some() || e.last_timestamp > cutoff);
        before - self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn a_coordinator_batch_opens_a_transaction_and_fences_older_epochs() {
        let mut m = ProducerStateMap::default();
        // A TxnOffsetCommit batch: transactional, no sequence.
        let h = BatchHeader { attributes: 0x10, ..header(7, 3, -1, 2) };
        assert_eq!(m.check_epoch(&h), Ok(SequenceCheck::Append));
        m.record(&h, 10, 11, 1);
        assert_eq!(m.ongoing_txns(), vec![(7, 10)]);
        let older = BatchHeader { attributes: 0x10, ..header(7, 2, -1, 1) };
        assert_eq!(m.check_epoch(&older), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(m.check_epoch(&h), Ok(SequenceCheck::Append), "the same epoch again is fine");
        let marker = Marker { producer_id: 7, producer_epoch: 3, coordinator_epoch: 0, commit: true };
        assert_eq!(m.check_marker(&marker), Ok(()));
        let done = m.record_marker(&marker, 12, 2).expect("the transaction ends");
        assert_eq!((done.first_offset, done.last_offset, done.aborted), (10, 12, false));
        assert!(m.ongoing_txns().is_empty());
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut m = ProducerStateMap::default();
        let b0 = header(7, 0, 0, 3);
        assert_eq!(m.check(&b0), Ok(SequenceCheck::Append));
        m.record(&b0, 10, 12, 0);
        assert_eq!(m.check(&b0), Ok(SequenceCheck::Duplicate { first_offset: 10, last_offset: 12 }));
        let b1 = header(7, 0, 3, 2);
        assert_eq!(m.check(&b1), Ok(SequenceCheck::Append));
        m.record(&b1, 13, 14, 0);
        assert_eq!(m.check(&header(7, 0, 9, 1)), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(m.check(&header(7, 1, 0, 1)), Ok(SequenceCheck::Append));
        assert_eq!(m.check(&header(7, 1, 4, 1)), Err(ErrorCode::OutOfOrderSequenceNumber));
        m.record(&header(7, 1, 0, 1), 15, 15, 0);
        assert_eq!(m.check(&header(7, 0, 5, 1)), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(m.check(&header(-1, -1, -1, 4)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn active_producers_show_open_transactions_and_marker_epochs() {
        let mut m = ProducerStateMap::starting_at(0);
        let mut txn = header(9, 2, 0, 3);
        txn.attributes = 0x10;
        m.record(&txn, 5, 7, 1_000);
        m.record(&header(4, 0, 0, 1), 8, 8, 2_000);
        let listed = m.active_producers();
        assert_eq!(listed.iter().map(|p| p.producer_id).collect::<Vec<_>>(), [4, 9], "sorted by id");
        assert_eq!(
            listed[1],
            ActiveProducer {
                producer_id: 9,
                epoch: 2,
                last_sequence: 2,
                last_timestamp: 1_000,
                coordinator_epoch: -1,
                txn_start_offset: 5,
            }
        );
        assert_eq!(listed[0].txn_start_offset, -1);
        let marker = Marker { producer_id: 9, producer_epoch: 2, coordinator_epoch: 3, commit: false };
        m.record_marker(&marker, 9, 3_000);
        let after = m.active_producers()[1];
        assert_eq!((after.txn_start_offset, after.coordinator_epoch, after.last_timestamp), (-1, 3, 3_000));
    }

    #[test]
    fn sequence_wraps() {
        let mut m = ProducerStateMap::default();
        let b = header(1, 0, i32::MAX - 1, 2);
        m.record(&b, 0, 1, 0);
        assert_eq!(m.check(&header(1, 0, 0, 1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn snapshot_entries_rebuild_the_same_answers() {
        let mut m = ProducerStateMap::starting_at(0);
        for i in 0..7 {
            m.record(&header(5, 2, i * 10, 10), i64::from(i) * 10, i64::from(i) * 10 + 9, 1_000 + i64::from(i));
        }
        m.record(&header(6, 0, 0, 1), 70, 70, 500);
        m.record(&header(-1, -1, -1, 3), 71, 73, 0);
        assert_eq!(m.end_offset(), 74);
        let entries = m.snapshot_entries();
        assert_eq!(entries.len(), 6, "five batches of producer 5, one of producer 6");
        let again = ProducerStateMap::from_snapshot(74, &entries, 499);
        assert_eq!(again.end_offset(), 74);
        // The five newest batches are still answered as duplicates.
        for i in 2..7 {
            let h = header(5, 2, i * 10, 10);
            assert_eq!(again.check(&h), m.check(&h));
            assert!(matches!(again.check(&h), Ok(SequenceCheck::Duplicate { .. })));
        }
        assert_eq!(again.check(&header(5, 2, 70, 1)), Ok(SequenceCheck::Append));
        assert_eq!(again.check(&header(5, 2, 71, 1)), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(again.check(&header(5, 1, 70, 1)), Err(ErrorCode::InvalidProducerEpoch));
        // Producer 6 last wrote at 500: expired when the cut-off passes it.
        let mut expired = ProducerStateMap::from_snapshot(74, &entries, 500);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired.expire(1_005), 0);
        assert_eq!(expired.expire(1_006), 1);
        assert!(expired.is_empty());
    }
}
