//! Records waiting to be sent, batched per partition.
//!
//! `send` appends under one lock; the sender takes whole batches out. A
//! partition's queue holds full batches followed by at most one open batch (the
//! last). Records without a key go to the topic's sticky partition (KIP-480),
//! which moves to another random partition whenever it would need a new batch,
//! so null-key records fill whole batches yet spread over all partitions.
//!
//! Batches are encoded (and compressed) by the sender when they leave the
//! accumulator, with producer id, epoch and base sequence left at -1; those
//! are patched in when the batch is first sent (and again after an epoch bump).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions};

use super::delivery::{BatchShared, DeliveryFuture};
use crate::client::ClientError;

/// A topic and partition.
pub(crate) type TopicPartition = (Arc<str>, i32);

/// Fixed size of a v2 batch header.
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// Upper bound of a record's encoded size (varints at their widest).
pub(crate) fn estimate_size(key: Option<&Bytes>, value: Option<&Bytes>, headers: &[(String, Option<Bytes>)]) -> usize {
    let mut n = 5 + 1 + 10 + 5 + 5 + 5 + 5;
    n += key.map_or(0, Bytes::len);
    n += value.map_or(0, Bytes::len);
    for (k, v) in headers {
        n += 5 + k.len() + 5 + v.as_ref().map_or(0, Bytes::len);
    }
    n
}

/// A batch still accepting records (or full and waiting for the sender).
#[derive(Debug)]
pub(crate) struct OpenBatch {
    pub id: u64,
    pub records: Vec<Record>,
    /// Estimated encoded size; also the memory charged against `buffer.memory`.
    pub bytes: usize,
    pub created: Instant,
    pub shared: Arc<BatchShared>,
}

/// A batch taken out of the accumulator, encoded, on its way to the broker.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub id: u64,
    pub tp: TopicPartition,
    pub shared: Arc<BatchShared>,
    /// Bytes to give back to `buffer.memory` when the batch completes.
    pub memory: usize,
    pub created: Instant,
    pub record_count: i32,
    pub timestamps: Vec<i64>,
    /// The encoded v2 batch.
    pub encoded: Bytes,
    /// Sends so far.
    pub attempts: u32,
    /// Base sequence, once assigned (idempotent producer).
    pub sequence: Option<i32>,
    /// Not before this instant (retry backoff).
    pub retry_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct TopicQueues {
    /// Indexed by partition id.
    pub partitions: Vec<VecDeque<OpenBatch>>,
    sticky: Option<i32>,
}

impl TopicQueues {
    fn queue(&mut self, partition: i32) -> &mut VecDeque<OpenBatch> {
        let i = usize::try_from(partition).unwrap_or(0);
        if self.partitions.len() <= i {
            self.partitions.resize_with(i + 1, VecDeque::new);
        }
        &mut self.partitions[i]
    }
}

/// Every partition's queue of batches.
#[derive(Debug)]
pub(crate) struct Accumulator {
    pub topics: HashMap<Arc<str>, TopicQueues>,
    pub next_batch_id: u64,
    /// Batches currently queued (open or full).
    pub queued: usize,
    rng: u64,
}

impl Default for Accumulator {
    fn default() -> Self {
        Self::new()
    }
}

/// Where an appended record went.
pub(crate) struct Appended {
    pub future: DeliveryFuture,
    /// A new batch was started (the sender should look at its linger deadline).
    pub new_batch: bool,
    /// The id of the new batch, if one was started.
    pub new_batch_id: Option<u64>,
}

impl Accumulator {
    pub(crate) fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Accumulator { topics: HashMap::new(), next_batch_id: 0, queued: 0, rng: seed | 1 }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: plenty for spreading partitions.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random partition from `available` (partitions with a leader), or from
    /// all `num_partitions` if none is available, avoiding `previous` when possible.
    fn pick_partition(&mut self, num_partitions: i32, available: &[i32], previous: Option<i32>) -> i32 {
        let pool: Vec<i32> = if available.is_empty() { (0..num_partitions).collect() } else { available.to_vec() };
        let candidates: Vec<i32> =
            if pool.len() > 1 { pool.iter().copied().filter(|p| Some(*p) != previous).collect() } else { pool };
        if candidates.is_empty() {
            return 0;
        }
        let i = (self.random() % candidates.len() as u64) as usize;
        candidates[i]
    }

    /// Appends a record. `partition` `None` = sticky partitioning, with
    /// `available` computing the partitions that currently have a leader.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        num_partitions: i32,
        available: impl FnOnce() -> Vec<i32>,
        record: Record,
        size: usize,
        batch_size: usize,
        now: Instant,
    ) -> Appended {
        let key: Arc<str> = match self.topics.get_key_value(topic) {
            Some((k, _)) => k.clone(),
            None => Arc::from(topic),
        };
        let has_room = |q: &VecDeque<OpenBatch>| {
            q.back().is_some_and(|b| b.records.is_empty() || b.bytes + size <= batch_size.max(BATCH_OVERHEAD))
        };
        let partition = match partition {
            Some(p) => p,
            None => {
                let sticky = self.topics.get(topic).and_then(|t| t.sticky).filter(|p| *p < num_partitions);
                let stay = match sticky {
                    Some(p) => {
                        let tq = self.topics.entry(key.clone()).or_default();
                        has_room(tq.queue(p))
                    }
                    None => false,
                };
                match (sticky, stay) {
                    (Some(p), true) => p,
                    (previous, _) => {
                        let available = available();
                        let p = self.pick_partition(num_partitions, &available, previous);
                        self.topics.entry(key.clone()).or_default().sticky = Some(p);
                        p
                    }
                }
            }
        };
        let id = self.next_batch_id;
        let tq = self.topics.entry(key.clone()).or_default();
        let q = tq.queue(partition);
        if has_room(q) {
            if let Some(batch) = q.back_mut() {
                let future = push_record(batch, record, size);
                return Appended { future, new_batch: false, new_batch_id: None };
            }
        }
        let mut batch = OpenBatch {
            id,
            records: Vec::new(),
            bytes: BATCH_OVERHEAD,
            created: now,
            shared: BatchShared::new(key, partition),
        };
        let future = push_record(&mut batch, record, size);
        q.push_back(batch);
        self.next_batch_id += 1;
        self.queued += 1;
        Appended { future, new_batch: true, new_batch_id: Some(id) }
    }
}

fn push_record(batch: &mut OpenBatch, mut record: Record, size: usize) -> DeliveryFuture {
    let index = batch.records.len();
    record.offset = index as i64;
    // Every record's (offset - sequence) must be equal for the encoder to keep
    // them in one batch; base sequence -1 until the sender assigns one.
    record.sequence = (index as i32).wrapping_sub(1);
    batch.records.push(record);
    batch.bytes += size;
    DeliveryFuture::new(batch.shared.clone(), index)
}

/// Producer id, epoch and base sequence of an idempotent batch.
pub(crate) type Stamp = (i64, i16, i32);

/// Encodes a batch taken from the accumulator, stamping it for the
/// idempotent producer when `stamp` is given. A transactional producer's
/// records carry `transactional`, which the encoder turns into the batch flag.
pub(crate) fn encode(
    batch: OpenBatch,
    tp: TopicPartition,
    compression: kafka_protocol::records::Compression,
    stamp: Option<Stamp>,
) -> Result<ProducerBatch, (OpenBatchParts, ClientError)> {
    let mut buf = BytesMut::with_capacity(batch.bytes);
    let options = RecordEncodeOptions { version: 2, compression };
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, &batch.records, &options) {
        let err = ClientError::Config(format!("cannot encode a record batch for {}-{}: {e}", tp.0, tp.1));
        return Err((OpenBatchParts { shared: batch.shared, memory: batch.bytes, id: batch.id }, err));
    }
    if let Some(stamp) = stamp {
        stamp_in_place(&mut buf, stamp);
    }
    let timestamps = batch.records.iter().map(|r| r.timestamp).collect();
    Ok(ProducerBatch {
        id: batch.id,
        tp,
        shared: batch.shared,
        memory: batch.bytes,
        created: batch.created,
        record_count: batch.records.len() as i32,
        timestamps,
        encoded: buf.freeze(),
        attempts: 0,
        sequence: stamp.map(|s| s.2),
        retry_at: None,
    })
}

/// What is left of a batch that could not be encoded, to fail it.
#[derive(Debug)]
pub(crate) struct OpenBatchParts {
    pub shared: Arc<BatchShared>,
    pub memory: usize,
    pub id: u64,
}

const OFF_CRC: usize = 17;
const CRC_START: usize = 21;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;

/// Writes producer id, epoch and base sequence into an encoded batch and
/// recomputes its CRC-32C (which covers those fields).
fn stamp_in_place(buf: &mut [u8], (producer_id, epoch, base_sequence): Stamp) {
    if buf.len() < BATCH_OVERHEAD {
        return;
    }
    buf[OFF_PRODUCER_ID..OFF_PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    buf[OFF_PRODUCER_EPOCH..OFF_PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    buf[OFF_BASE_SEQUENCE..OFF_BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A copy of an encoded batch with a new stamp (renumbering after an epoch bump).
pub(crate) fn restamp(encoded: &Bytes, stamp: Stamp) -> Bytes {
    let mut buf = BytesMut::from(&encoded[..]);
    stamp_in_place(&mut buf, stamp);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch;

    fn append(acc: &mut Accumulator, key: Option<i32>, size: usize) -> Appended {
        let rec = batch::new_record(None, Some(Bytes::from(vec![b'x'; size])), Vec::new(), 1000);
        acc.append("t", key, 4, || vec![0, 1, 2, 3], rec, size + 36, 1000, Instant::now())
    }

    #[test]
    fn batches_fill_then_roll_over() {
        let mut acc = Accumulator::new();
        let a = append(&mut acc, Some(1), 400);
        assert!(a.new_batch);
        let b = append(&mut acc, Some(1), 400);
        assert!(!b.new_batch);
        let c = append(&mut acc, Some(1), 400);
        assert!(c.new_batch, "third record does not fit in 1000 bytes");
        assert_eq!(acc.topics["t"].partitions[1].len(), 2);
        assert_eq!(acc.queued, 2);
        // A record bigger than batch.size gets a batch of its own.
        let d = append(&mut acc, Some(2), 5000);
        assert!(d.new_batch);
    }

    #[test]
    fn sticky_partition_moves_when_a_batch_fills() {
        let mut acc = Accumulator::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut switches = 0;
        let mut last = None;
        for _ in 0..200 {
            append(&mut acc, None, 300);
            let p = acc.topics["t"].sticky.expect("sticky");
            if last.is_some_and(|l| l != p) {
                switches += 1;
            }
            last = Some(p);
            seen.insert(p);
        }
        assert!(switches > 10, "switches {switches}");
        assert!(seen.len() > 1);
        // Every batch is full except possibly the last of each partition.
        for q in &acc.topics["t"].partitions {
            for b in q.iter().rev().skip(1) {
                assert!(b.records.len() >= 2, "full batches hold several records");
            }
        }
    }

    #[test]
    fn encoded_batch_is_valid_and_stamping_keeps_the_crc_right() {
        let mut acc = Accumulator::new();
        for _ in 0..3 {
            append(&mut acc, Some(0), 10);
        }
        let open = acc.topics.get_mut("t").expect("topic").partitions[0].pop_front().expect("batch");
        let pb = encode(open, (Arc::from("t"), 0), kafka_protocol::records::Compression::Lz4, None).expect("encode");
        let h = batch::validate_one(&pb.encoded).expect("valid");
        assert_eq!((h.records_count, h.base_sequence, h.producer_id), (3, -1, -1));
        let stamped = restamp(&pb.encoded, (42, 3, 100));
        let h = batch::validate_one(&stamped).expect("valid after stamping");
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (42, 3, 100));
    }

    #[test]
    fn transactional_batches_carry_the_flag_and_a_valid_crc() {
        let mut acc = Accumulator::new();
        let mut rec = batch::new_record(None, Some(Bytes::from(vec![b'x'; 10])), Vec::new(), 1000);
        rec.transactional = true;
        acc.append("t", Some(0), 4, || vec![0, 1, 2, 3], rec, 46, 1000, Instant::now());
        let open = acc.topics.get_mut("t").expect("topic").partitions[0].pop_front().expect("batch");
        let codec = kafka_protocol::records::Compression::None;
        let pb = encode(open, (Arc::from("t"), 0), codec, Some((9, 1, 0))).expect("encode");
        let h = batch::validate_one(&pb.encoded).expect("valid");
        assert!(h.is_transactional() && !h.is_control());
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (9, 1, 0));
    }
}
