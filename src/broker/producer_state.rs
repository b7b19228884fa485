//! Idempotent-producer bookkeeping for one partition: per producer id, the
//! epoch and the sequence ranges of the last five batches (Kafka keeps five
//! because a producer has at most five requests in flight).
//!
//! A retried batch whose sequence range matches a cached one is a duplicate:
//! like Kafka, the broker answers it with the offsets of the original append
//! and writes nothing. A gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER;
//! an older epoch is INVALID_PRODUCER_EPOCH.

use std::collections::{HashMap, VecDeque};

use crate::protocol::batch::BatchHeader;
use crate::protocol::ErrorCode;

const CACHED_BATCHES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
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

    /// Forgets batches at or above `offset` (the log was truncated there), so
    /// that a retry of one is appended again rather than answered as a duplicate.
    pub fn truncate(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    /// Records an appended batch.
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64, last_offset: i64) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset,
            last_offset,
        });
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
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
        m.record(&b0, 10, 12);
        assert_eq!(m.check(&b0), Ok(SequenceCheck::Duplicate { first_offset: 10, last_offset: 12 }));
        let b1 = header(7, 0, 3, 2);
        assert_eq!(m.check(&b1), Ok(SequenceCheck::Append));
        m.record(&b1, 13, 14);
        assert_eq!(m.check(&header(7, 0, 9, 1)), Err(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(m.check(&header(7, 1, 0, 1)), Ok(SequenceCheck::Append));
        assert_eq!(m.check(&header(7, 1, 4, 1)), Err(ErrorCode::OutOfOrderSequenceNumber));
        m.record(&header(7, 1, 0, 1), 15, 15);
        assert_eq!(m.check(&header(7, 0, 5, 1)), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(m.check(&header(-1, -1, -1, 4)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn sequence_wraps() {
        let mut m = ProducerStateMap::default();
        let b = header(1, 0, i32::MAX - 1, 2);
        m.record(&b, 0, 1);
        assert_eq!(m.check(&header(1, 0, 0, 1)), Ok(SequenceCheck::Append));
    }
}
