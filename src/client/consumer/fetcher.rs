//! Fetch requests and the decoding of their answers into records.
//!
//! A fetch covers every assigned partition led by one broker. Its answer may
//! hold batches that start before the requested offset (a batch is returned
//! whole) and a partial batch at the end (cut by the byte limits): records
//! below the position are skipped and the partial batch is left for the next
//! fetch. Control batches (transaction markers) are never returned but
//! advance the position.
//!
//! In `read_committed` the broker answers only up to the last stable offset
//! and lists the aborted transactions (producer id, first offset) that touch
//! the fetched range; records of those are dropped as Kafka's fetcher does: a
//! producer's transactional batches are aborted from the listed first offset
//! until that producer's ABORT marker.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::{ConsumerConfig, ConsumerRecord, TimestampType};
use crate::client::cluster::Cluster;
use crate::client::ClientError;
use crate::protocol::batch::{check_header, BatchHeader, BatchIter, Compression};

/// Smallest encoded record: length, attributes, three deltas, key/value lengths, header count.
const MIN_RECORD_BYTES: i64 = 7;
/// Far above what any broker's max.message.bytes allows.
const MAX_RECORDS_PER_BATCH: i64 = 4_000_000;

/// One partition of a fetch, at the offset it was asked from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchTarget {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Sends one Fetch to `node` and waits for its answer (up to
/// `request.timeout.ms` + `fetch.max.wait.ms`).
pub(crate) async fn fetch(
    cluster: &Cluster,
    config: &ConsumerConfig,
    node: i32,
    targets: &[FetchTarget],
) -> Result<FetchResponse, ClientError> {
    let conn = cluster.broker_connection(node).await?;
    let version = conn.version(ApiKey::Fetch)?;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for t in targets {
        let p = FetchPartition::default()
            .with_partition(t.partition)
            .with_fetch_offset(t.offset)
            .with_partition_max_bytes(config.max_partition_fetch_bytes);
        match topics.iter_mut().find(|ft| ft.topic.0.as_str() == t.topic) {
            Some(ft) => ft.partitions.push(p),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let max_wait = i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX);
    let req = FetchRequest::default()
        .with_max_wait_ms(max_wait)
        .with_min_bytes(config.fetch_min_bytes)
        .with_max_bytes(config.fetch_max_bytes)
        .with_isolation_level(if version >= 4 { config.isolation_level.as_i8() } else { 0 })
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let timeout = config.client.request_timeout + config.fetch_max_wait + Duration::from_millis(500);
    conn.send(&req, version)?.with_timeout(timeout).await_response().await
}

/// Which transactional batches of one fetch answer belong to aborted
/// transactions (`read_committed` only).
#[derive(Debug, Default)]
pub(crate) struct AbortedFilter {
    /// Aborted transactions not reached yet, by (first offset, producer id).
    upcoming: BTreeSet<(i64, i64)>,
    /// Producers inside an aborted transaction at the current batch.
    aborting: HashSet<i64>,
}

impl AbortedFilter {
    /// From the answer's `aborted_transactions` as (producer id, first offset).
    pub(crate) fn new(aborted: impl IntoIterator<Item = (i64, i64)>) -> Self {
        AbortedFilter {
            upcoming: aborted.into_iter().map(|(pid, first)| (first, pid)).collect(),
            aborting: HashSet::new(),
        }
    }

    /// Whether the data batch with this header is to be dropped; also takes
    /// note of an ABORT marker (`abort_marker`) ending its producer's transaction.
    fn skip(&mut self, header: &BatchHeader, abort_marker: bool) -> bool {
        if header.producer_id < 0 {
            return false;
        }
        // Transactions that began at or before this batch's last offset are open by now.
        while let Some(&(first, pid)) = self.upcoming.first() {
            if first > header.last_offset() {
                break;
            }
            self.upcoming.pop_first();
            self.aborting.insert(pid);
        }
        if header.is_control() {
            if abort_marker {
                self.aborting.remove(&header.producer_id);
            }
            return false;
        }
        header.is_transactional() && self.aborting.contains(&header.producer_id)
    }
}

/// Whether a control batch is an ABORT marker: its one record's key is
/// (version i16, type i16).
fn is_abort_marker(batch: &Bytes) -> bool {
    let mut buf = batch.clone();
    let Ok(set) = RecordBatchDecoder::decode(&mut buf) else { return false };
    set.records
        .first()
        .and_then(|r| r.key.as_ref())
        .and_then(|k| crate::protocol::batch::control_marker_commit(k))
        .is_some_and(|commit| !commit)
}

/// Decodes the records of one partition at or after `position`, appending
/// them to `out`; returns the position after the last whole batch seen.
/// Control batches never reach `out`; with `aborted` (read_committed) the
/// batches of aborted transactions do not either.
pub(crate) fn decode_partition(
    topic: &str,
    partition: i32,
    records: &Bytes,
    position: i64,
    mut aborted: Option<&mut AbortedFilter>,
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, ClientError> {
    let mut next = position;
    let mut iter = BatchIter::new(records);
    let corrupt = |offset: i64, reason: String| {
        ClientError::kafka(
            kafka_protocol::ResponseError::CorruptMessage,
            Some(format!("Record batch at offset {offset} of partition {topic}-{partition} is corrupt: {reason}")),
            format!("partition {topic}-{partition}"),
        )
    };
    for (header, range) in iter.by_ref() {
        if let Some(filter) = aborted.as_deref_mut() {
            // Batches before the position still open or close transactions.
            let abort_marker = header.is_control() && is_abort_marker(&records.slice(range.clone()));
            if filter.skip(&header, abort_marker) {
                next = next.max(header.next_offset());
                continue;
            }
        }
        if header.next_offset() <= next {
            continue; // wholly before the position
        }
        if header.is_control() {
            next = header.next_offset();
            continue;
        }
        // The decoder reserves room for the announced record count: bound it by
        // what the bytes can hold before trusting it.
        check_header(&header).map_err(|e| corrupt(header.base_offset, e.to_string()))?;
        let plain = header.compression() == Compression::None;
        let count = i64::from(header.records_count);
        if (plain && count * MIN_RECORD_BYTES > i64::from(header.batch_length)) || count > MAX_RECORDS_PER_BATCH {
            return Err(corrupt(header.base_offset, format!("implausible record count {count}")));
        }
        let mut batch = records.slice(range);
        let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| corrupt(header.base_offset, e.to_string()))?;
        let log_append = header.timestamp_type_log_append();
        for r in set.records {
            if r.offset < next {
                continue;
            }
            let headers = r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            out.push(ConsumerRecord {
                topic: topic.to_string(),
                partition,
                offset: r.offset,
                timestamp: if log_append { header.max_timestamp } else { r.timestamp },
                timestamp_type: if log_append { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
                key: r.key,
                value: r.value,
                headers,
            });
        }
        next = next.max(header.next_offset());
    }
    if let Some(err) = iter.error() {
        if next == position {
            return Err(corrupt(position, err.to_string()));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions};

    use super::*;
    use kafka_protocol::records::Compression as C;

    fn batch(base: i64, count: i64, compression: kafka_protocol::records::Compression) -> Vec<u8> {
        let records: Vec<Record> = (0..count)
            .map(|i| {
                let key = Some(Bytes::from(format!("k{}", base + i)));
                let value = Some(Bytes::from(format!("v{}", base + i)));
                Record {
                    partition_leader_epoch: 0,
                    offset: base + i,
                    sequence: (i as i32) - 1,
                    ..crate::protocol::batch::new_record(key, value, Vec::new(), 1000 + i)
                }
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression })
            .expect("encode");
        buf.to_vec()
    }

    #[test]
    fn skips_records_before_the_position_and_partial_batches() {
        let mut bytes = batch(0, 5, C::None);
        bytes.extend(batch(5, 5, C::Gzip));
        let third = batch(10, 5, C::None);
        bytes.extend(&third[..third.len() - 3]); // cut short
        let bytes = Bytes::from(bytes);
        let mut out = Vec::new();
        let next = decode_partition("t", 0, &bytes, 3, None, &mut out).expect("decode");
        assert_eq!(next, 10);
        let offsets: Vec<i64> = out.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(out[0].key.as_deref(), Some(&b"k3"[..]));
        assert_eq!(out[0].timestamp, 1003);
    }

    #[test]
    fn corrupt_batch_is_an_error_not_a_panic() {
        let mut bytes = batch(0, 3, C::None);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut out = Vec::new();
        let err = decode_partition("t", 0, &Bytes::from(bytes), 0, None, &mut out).expect_err("crc");
        assert_eq!(err.code(), Some(kafka_protocol::ResponseError::CorruptMessage));
        // Garbage is not a panic either.
        let garbage = Bytes::from(vec![0xffu8; 100]);
        let _ = decode_partition("t", 0, &garbage, 0, None, &mut out);
    }

    /// A transactional batch of `pid` at `base` holding `values`, or a control
    /// marker (ABORT or COMMIT) when `marker` is given.
    fn txn_batch(pid: i64, base: i64, values: &[&str], marker: Option<bool>) -> Vec<u8> {
        let records: Vec<Record> = match marker {
            Some(commit) => {
                let key = Bytes::from(vec![0, 0, 0, u8::from(commit)]);
                let value = Bytes::from(vec![0, 0, 0, 0, 0, 0]);
                vec![Record { control: true, ..txn_record(pid, base, key, value) }]
            }
            None => values
                .iter()
                .enumerate()
                .map(|(i, v)| txn_record(pid, base + i as i64, Bytes::from("k"), Bytes::from(v.to_string())))
                .collect(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: C::None })
            .expect("encode");
        buf.to_vec()
    }

    fn txn_record(pid: i64, offset: i64, key: Bytes, value: Bytes) -> Record {
        Record {
            transactional: true,
            producer_id: pid,
            producer_epoch: 0,
            offset,
            sequence: offset as i32,
            ..crate::protocol::batch::new_record(Some(key), Some(value), Vec::new(), 1000)
        }
    }

    fn values(out: &[ConsumerRecord]) -> Vec<String> {
        out.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect()
    }

    /// Producer 1 commits a1 a2 (0-1, marker 3); producer 2 aborts b1 (2,
    /// marker 4), then opens b2 at 6 after a committed a3 (5, marker 7)…
    /// b2 is aborted too (marker 8).
    fn interleaved() -> Bytes {
        let mut bytes = txn_batch(1, 0, &["a1", "a2"], None);
        bytes.extend(txn_batch(2, 2, &["b1"], None));
        bytes.extend(txn_batch(1, 3, &[], Some(true)));
        bytes.extend(txn_batch(2, 4, &[], Some(false)));
        bytes.extend(txn_batch(1, 5, &["a3"], None));
        bytes.extend(txn_batch(2, 6, &["b2"], None));
        bytes.extend(txn_batch(1, 7, &[], Some(true)));
        bytes.extend(txn_batch(2, 8, &[], Some(false)));
        Bytes::from(bytes)
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_markers() {
        let bytes = interleaved();
        let mut out = Vec::new();
        let mut filter = AbortedFilter::new([(2, 2), (2, 6)]);
        let next = decode_partition("t", 0, &bytes, 0, Some(&mut filter), &mut out).expect("decode");
        assert_eq!(next, 9, "the position passes aborted batches and markers");
        assert_eq!(values(&out), ["a1", "a2", "a3"]);
        assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 5]);

        // read_uncommitted: every data record, still no control records.
        let mut out = Vec::new();
        let next = decode_partition("t", 0, &bytes, 0, None, &mut out).expect("decode");
        assert_eq!(next, 9);
        assert_eq!(values(&out), ["a1", "a2", "b1", "a3", "b2"]);
    }

    #[test]
    fn aborted_transactions_starting_before_the_position_still_hide_records() {
        // Fetching from 5: the answer starts with batches before the position and
        // lists only b2's transaction (first offset 6).
        let bytes = interleaved();
        let mut out = Vec::new();
        let mut filter = AbortedFilter::new([(2, 6)]);
        let next = decode_partition("t", 0, &bytes, 5, Some(&mut filter), &mut out).expect("decode");
        assert_eq!((next, values(&out)), (9, vec!["a3".to_string()]));
        // Without an entry in the list the batch is a committed one.
        let mut out = Vec::new();
        let mut filter = AbortedFilter::new([]);
        decode_partition("t", 0, &bytes, 5, Some(&mut filter), &mut out).expect("decode");
        assert_eq!(values(&out), ["a3", "b2"]);
    }
}
