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

use std::collections::{HashMap, VecDeque};

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

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
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

    /// An empty map for a log that starts at `offset`.
    pub fn starting_at(offset: i64) -> ProducerStateMap {
        ProducerStateMap { producers: HashMap::new(), end_offset: offset }
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
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64, last_offset: i64, timestamp: i64) {
        self.end_offset = self.end_offset.max(last_offset + 1);
        if h.producer_id < 0 || h.base_sequence < 0 {
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
        entry.batches.push_back(batch);
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// Every cached batch, oldest first per producer, for a snapshot.
    pub fn snapshot_entries(&self) -> Vec<SnapshotEntry> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        ids.into_iter()
            .flat_map(|id| {
                let entry = &self.producers[id];
                entry.batches.iter().map(move |b| SnapshotEntry {
                    producer_id: *id,
                    epoch: entry.epoch,
                    first_seq: b.first_seq,
                    last_seq: b.last_seq,
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                    timestamp: b.timestamp,
                })
            })
            .collect()
    }

    /// The map a snapshot taken at `offset` describes, without the producers
    /// that [`ProducerStateMap::expire`] would drop at `expired_before`.
    pub fn from_snapshot(offset: i64, entries: &[SnapshotEntry], expired_before: i64) -> ProducerStateMap {
        let mut map = ProducerStateMap::starting_at(offset);
        for e in entries {
            let batch = CachedBatch {
                first_seq: e.first_seq,
                last_seq: e.last_seq,
                first_offset: e.first_offset,
                last_offset: e.last_offset,
                timestamp: e.timestamp,
            };
            map.push(e.producer_id, e.epoch, batch);
        }
        map.expire(expired_before);
        map
    }

    /// Forgets producers whose last batch is at or before `cutoff` (now minus
    /// `producer.id.expiration.ms`, as Kafka: expired once that much time has
    /// passed); returns how many.
    pub fn expire(&mut self, cutoff: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| e.batches.back().is_some_and(|b| b.timestamp > cutoff));
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
