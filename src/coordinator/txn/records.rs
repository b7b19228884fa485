//! The records of `__transaction_state`, in Kafka's own layout so that a log
//! written here reads the same as one written by a JVM broker (Kafka's
//! `TransactionLogKey` / `TransactionLogValue` message definitions):
//!
//! - key, version 0: `version i16, transactional_id string`;
//! - value, version 0 (what Kafka writes for transactions without KIP-890,
//!   and what this broker writes):
//!   `version i16, producer_id i64, producer_epoch i16,
//!   transaction_timeout_ms i32, transaction_status i8,
//!   transaction_partitions nullable [topic string, partition_ids [i32]],
//!   transaction_last_update_timestamp_ms i64,
//!   transaction_start_timestamp_ms i64`;
//! - value, version 1 (flexible, read and written for completeness): the
//!   same fields with compact strings/arrays and tagged fields: tag 0
//!   `previous_producer_id i64` (default −1), tag 1 `next_producer_id i64`
//!   (default −1), tag 2 `client_transaction_version i16` (default 0);
//! - a null value (tombstone) deletes the transactional id.
//!
//! Big-endian throughout. Decoding checks every length against the bytes
//! left, so hostile input is an error, never a panic or a huge allocation.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::reader::Reader;
use crate::storage::TopicPartition;

pub use crate::protocol::internal_topics::TRANSACTION_STATE_TOPIC;

/// A transaction's status as stored (`transaction_status`), with Kafka's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnStatus {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnStatus {
    /// Kafka's id of the status.
    pub fn id(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnStatus> {
        Some(match id {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name Kafka shows (DescribeTransactions, ListTransactions filters).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// A transactional id's state as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    /// Version 1 only (tag 0); −1 when absent.
    pub previous_producer_id: i64,
    /// Version 1 only (tag 1); −1 when absent.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    /// Stored grouped by topic; a null list reads as empty.
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_timestamp_ms: i64,
    pub start_timestamp_ms: i64,
    /// Version 1 only (tag 2); 0 when absent.
    pub client_transaction_version: i16,
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unreadable __transaction_state record: {0}")]
pub struct TxnRecordError(pub String);

impl From<String> for TxnRecordError {
    fn from(reason: String) -> Self {
        TxnRecordError(reason)
    }
}

/// The key of a transactional id's record (version 0).
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + transactional_id.len());
    out.put_i16(0);
    put_str(&mut out, transactional_id);
    out.freeze()
}

/// Decodes a key; `Ok(None)` for key versions Kafka does not define here
/// (Kafka skips those when loading too).
pub fn decode_key(buf: &[u8]) -> Result<Option<String>, TxnRecordError> {
    let mut r = Reader::new(buf);
    match r.i16()? {
        0 => Ok(Some(r.str()?)),
        _ => Ok(None),
    }
}

/// Encodes a value as version 0, the layout Kafka writes for classic
/// (pre-KIP-890) transactions. The partition list is null in `Empty`, as
/// Kafka writes it, and grouped by topic otherwise.
pub fn encode_value(v: &TxnValue) -> Bytes {
    let mut out = BytesMut::with_capacity(48 + 16 * v.partitions.len());
    out.put_i16(0);
    out.put_i64(v.producer_id);
    out.put_i16(v.producer_epoch);
    out.put_i32(v.timeout_ms);
    out.put_i8(v.status.id());
    if v.status == TxnStatus::Empty {
        out.put_i32(-1);
    } else {
        let topics = by_topic(&v.partitions);
        out.put_i32(topics.len() as i32);
        for (topic, ids) in topics {
            put_str(&mut out, topic);
            out.put_i32(ids.len() as i32);
            for id in ids {
                out.put_i32(id);
            }
        }
    }
    out.put_i64(v.last_update_timestamp_ms);
    out.put_i64(v.start_timestamp_ms);
    out.freeze()
}

/// Encodes a value as version 1 (flexible), writing tagged fields only when
/// they differ from their defaults, as Kafka's generated code does. Our
/// coordinator writes version 0; this is for tests of reading what newer
/// Kafka brokers write.
#[cfg(test)]
pub fn encode_value_v1(v: &TxnValue) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + 16 * v.partitions.len());
    out.put_i16(1);
    out.put_i64(v.producer_id);
    out.put_i16(v.producer_epoch);
    out.put_i32(v.timeout_ms);
    out.put_i8(v.status.id());
    if v.status == TxnStatus::Empty {
        put_uvarint(&mut out, 0);
    } else {
        let topics = by_topic(&v.partitions);
        put_uvarint(&mut out, topics.len() as u64 + 1);
        for (topic, ids) in topics {
            put_uvarint(&mut out, topic.len() as u64 + 1);
            out.put_slice(topic.as_bytes());
            put_uvarint(&mut out, ids.len() as u64 + 1);
            for id in ids {
                out.put_i32(id);
            }
            put_uvarint(&mut out, 0); // no tagged fields in the element
        }
    }
    out.put_i64(v.last_update_timestamp_ms);
    out.put_i64(v.start_timestamp_ms);
    let mut tags: Vec<(u64, Vec<u8>)> = Vec::new();
    if v.previous_producer_id != -1 {
        tags.push((0, v.previous_producer_id.to_be_bytes().to_vec()));
    }
    if v.next_producer_id != -1 {
        tags.push((1, v.next_producer_id.to_be_bytes().to_vec()));
    }
    if v.client_transaction_version != 0 {
        tags.push((2, v.client_transaction_version.to_be_bytes().to_vec()));
    }
    put_uvarint(&mut out, tags.len() as u64);
    for (tag, data) in tags {
        put_uvarint(&mut out, tag);
        put_uvarint(&mut out, data.len() as u64);
        out.put_slice(&data);
    }
    out.freeze()
}

/// Decodes a value of version 0 or 1.
pub fn decode_value(buf: &[u8]) -> Result<TxnValue, TxnRecordError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(TxnRecordError(format!("unknown transaction value version {version}")));
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status_id = i8::from_be_bytes([r.take(1)?[0]]);
    let status = TxnStatus::from_id(status_id)
        .ok_or_else(|| TxnRecordError(format!("unknown transaction status {status_id}")))?;
    let mut partitions = BTreeSet::new();
    // Each topic entry takes at least 6 bytes (v0) or 3 (v1).
    let topics = if flexible { compact_count(&mut r, 3)? } else { Some(r.count(6)?) };
    for _ in 0..topics.unwrap_or(0) {
        let topic = if flexible { compact_str(&mut r)? } else { r.str()? };
        let ids = if flexible { compact_count(&mut r, 4)?.unwrap_or(0) } else { r.count(4)? };
        for _ in 0..ids {
            partitions.insert(TopicPartition::new(topic.clone(), r.i32()?));
        }
        if flexible {
            skip_tagged_fields(&mut r)?;
        }
    }
    let last_update_timestamp_ms = r.i64()?;
    let start_timestamp_ms = r.i64()?;
    let mut value = TxnValue {
        producer_id,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_timestamp_ms,
        start_timestamp_ms,
        client_transaction_version: 0,
    };
    if flexible {
        let count = uvarint(&mut r)?;
        for _ in 0..count {
            let tag = uvarint(&mut r)?;
            let size = usize::try_from(uvarint(&mut r)?).unwrap_or(usize::MAX);
            let data = r.take(size)?;
            match (tag, data.len()) {
                (0, 8) => value.previous_producer_id = i64::from_be_bytes(fixed(data)?),
                (1, 8) => value.next_producer_id = i64::from_be_bytes(fixed(data)?),
                (2, 2) => value.client_transaction_version = i16::from_be_bytes(fixed(data)?),
                (0..=2, n) => return Err(TxnRecordError(format!("tagged field {tag} has {n} bytes"))),
                _ => {} // unknown tags are skipped, as Kafka does
            }
        }
    }
    Ok(value)
}

fn by_topic(partitions: &BTreeSet<TopicPartition>) -> Vec<(&str, Vec<i32>)> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match topics.last_mut() {
            Some((topic, ids)) if *topic == tp.topic => ids.push(tp.partition),
            _ => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    topics
}

fn put_str(out: &mut BytesMut, s: &str) {
    // Topic names and transactional ids are far below 32 KiB; a longer one
    // is cut rather than written with a wrapped length.
    let len = s.len().min(i16::MAX as usize);
    out.put_i16(len as i16);
    out.put_slice(&s.as_bytes()[..len]);
}

#[cfg(test)]
fn put_uvarint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn uvarint(r: &mut Reader<'_>) -> Result<u64, TxnRecordError> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let b = r.take(1)?[0];
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(TxnRecordError("varint longer than 5 bytes".into()))
}

/// A compact array length (n + 1, 0 = null), bounded by the bytes left.
fn compact_count(r: &mut Reader<'_>, min_item: usize) -> Result<Option<usize>, TxnRecordError> {
    let raw = uvarint(r)?;
    if raw == 0 {
        return Ok(None);
    }
    let n = usize::try_from(raw - 1).unwrap_or(usize::MAX);
    if n > r.remaining() / min_item {
        return Err(TxnRecordError(format!("array of {n} items does not fit the {} bytes left", r.remaining())));
    }
    Ok(Some(n))
}

fn compact_str(r: &mut Reader<'_>) -> Result<String, TxnRecordError> {
    let raw = uvarint(r)?;
    if raw == 0 {
        return Err(TxnRecordError("null where a string is required".into()));
    }
    let len = usize::try_from(raw - 1).unwrap_or(usize::MAX);
    let bytes = r.take(len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| TxnRecordError("string is not UTF-8".into()))
}

fn skip_tagged_fields(r: &mut Reader<'_>) -> Result<(), TxnRecordError> {
    let count = uvarint(r)?;
    for _ in 0..count {
        uvarint(r)?;
        let size = usize::try_from(uvarint(r)?).unwrap_or(usize::MAX);
        r.take(size)?;
    }
    Ok(())
}

fn fixed<const N: usize>(data: &[u8]) -> Result<[u8; N], TxnRecordError> {
    data.try_into().map_err(|_| TxnRecordError(format!("expected {N} bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(status: TxnStatus) -> TxnValue {
        let partitions = if status == TxnStatus::Empty {
            BTreeSet::new()
        } else {
            [TopicPartition::new("a", 0), TopicPartition::new("a", 3), TopicPartition::new("b", 1)].into()
        };
        TxnValue {
            producer_id: 4000,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 7,
            timeout_ms: 60_000,
            status,
            partitions,
            last_update_timestamp_ms: 1_700_000_000_123,
            start_timestamp_ms: 1_700_000_000_000,
            client_transaction_version: 0,
        }
    }

    #[test]
    fn status_ids_are_kafkas() {
        let all = [
            (TxnStatus::Empty, 0),
            (TxnStatus::Ongoing, 1),
            (TxnStatus::PrepareCommit, 2),
            (TxnStatus::PrepareAbort, 3),
            (TxnStatus::CompleteCommit, 4),
            (TxnStatus::CompleteAbort, 5),
            (TxnStatus::Dead, 6),
            (TxnStatus::PrepareEpochFence, 7),
        ];
        for (status, id) in all {
            assert_eq!(status.id(), id);
            assert_eq!(TxnStatus::from_id(id), Some(status));
        }
        assert_eq!(TxnStatus::from_id(8), None);
        assert_eq!(TxnStatus::from_id(-1), None);
    }

    #[test]
    fn key_layout_and_round_trip() {
        assert_eq!(&encode_key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&encode_key("my-txn")).expect("test value"), Some("my-txn".to_string()));
        assert_eq!(decode_key(&[0, 5, 0, 0]).expect("test value"), None);
        assert!(decode_key(&[0, 0, 0, 9, b'x']).is_err());
        assert!(decode_key(&[]).is_err());
    }

    #[test]
    fn value_v0_exact_layout() {
        let v = TxnValue { partitions: [TopicPartition::new("t", 2)].into(), ..sample(TxnStatus::Ongoing) };
        let mut want = BytesMut::new();
        want.put_i16(0);
        want.put_i64(4000);
        want.put_i16(7);
        want.put_i32(60_000);
        want.put_i8(1);
        want.put_i32(1);
        want.put_i16(1);
        want.put_u8(b't');
        want.put_i32(1);
        want.put_i32(2);
        want.put_i64(1_700_000_000_123);
        want.put_i64(1_700_000_000_000);
        assert_eq!(&encode_value(&v)[..], &want[..]);
    }

    #[test]
    fn empty_state_writes_a_null_partition_list() {
        let bytes = encode_value(&sample(TxnStatus::Empty));
        // version, producer id, epoch, timeout, status, then −1
        assert_eq!(&bytes[2 + 8 + 2 + 4 + 1..2 + 8 + 2 + 4 + 1 + 4], &(-1i32).to_be_bytes());
        assert_eq!(decode_value(&bytes).expect("test value"), sample(TxnStatus::Empty));
    }

    #[test]
    fn every_status_round_trips_in_both_versions() {
        for id in 0..8 {
            let status = TxnStatus::from_id(id).expect("test value");
            let v = sample(status);
            assert_eq!(decode_value(&encode_value(&v)).expect("test value"), v, "v0 {status:?}");
            assert_eq!(decode_value(&encode_value_v1(&v)).expect("test value"), v, "v1 {status:?}");
        }
    }

    #[test]
    fn v1_tagged_fields_round_trip_and_unknown_tags_are_skipped() {
        let v = TxnValue {
            previous_producer_id: 3999,
            next_producer_id: 4001,
            client_transaction_version: 2,
            ..sample(TxnStatus::PrepareCommit)
        };
        let bytes = encode_value_v1(&v);
        assert_eq!(decode_value(&bytes).expect("test value"), v);
        // Append an unknown tag 9 by rewriting the tag section.
        let plain = encode_value_v1(&sample(TxnStatus::Ongoing));
        let mut with_unknown = BytesMut::from(&plain[..plain.len() - 1]);
        with_unknown.put_slice(&[1, 9, 3, 1, 2, 3]);
        assert_eq!(decode_value(&with_unknown).expect("test value"), sample(TxnStatus::Ongoing));
    }

    #[test]
    fn truncated_and_hostile_values_are_errors() {
        for bytes in [encode_value(&sample(TxnStatus::Ongoing)), encode_value_v1(&sample(TxnStatus::Ongoing))] {
            for cut in 0..bytes.len() {
                assert!(decode_value(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut hostile = BytesMut::new();
        hostile.put_i16(0);
        hostile.put_i64(1);
        hostile.put_i16(0);
        hostile.put_i32(1000);
        hostile.put_i8(1);
        hostile.put_i32(i32::MAX); // a topic count nothing could hold
        assert!(decode_value(&hostile).is_err());
        let mut bad_status = BytesMut::from(&encode_value(&sample(TxnStatus::Ongoing))[..]);
        bad_status[16] = 42;
        assert!(decode_value(&bad_status).is_err());
        assert!(decode_value(&[0, 2]).is_err(), "unknown version");
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_value(&bytes);
            let _ = decode_key(&bytes);
        }

        #[test]
        fn values_round_trip(
            producer_id in any::<i64>(),
            epoch in any::<i16>(),
            timeout in any::<i32>(),
            status in 0i8..8,
            parts in proptest::collection::btree_set(("[a-z._-]{1,12}", 0i32..1000), 0..20),
            last in any::<i64>(),
            start in any::<i64>(),
            prev in any::<i64>(),
            next in any::<i64>(),
            ctv in any::<i16>(),
        ) {
            let status = TxnStatus::from_id(status).expect("test value");
            let partitions = if status == TxnStatus::Empty {
                BTreeSet::new()
            } else {
                parts.into_iter().map(|(t, p)| TopicPartition::new(t, p)).collect()
            };
            let v = TxnValue {
                producer_id, previous_producer_id: -1, next_producer_id: -1, producer_epoch: epoch,
                timeout_ms: timeout, status, partitions, last_update_timestamp_ms: last,
                start_timestamp_ms: start, client_transaction_version: 0,
            };
            prop_assert_eq!(decode_value(&encode_value(&v)).expect("test value"), v.clone());
            let v1 = TxnValue { previous_producer_id: prev, next_producer_id: next, client_transaction_version: ctv, ..v };
            prop_assert_eq!(decode_value(&encode_value_v1(&v1)).expect("test value"), v1);
        }
    }
}
