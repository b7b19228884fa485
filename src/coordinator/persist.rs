//! Reading and writing `__consumer_offsets`: the coordinator appends its
//! records as the partition's leader (one uncompressed batch per call) and
//! waits until they are committed (the high watermark passes them, bounded by
//! `offsets.commit.timeout.ms`), as Kafka does with acks=all; loading reads the
//! partition from its start and keeps the last value of every key.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use super::records::{self, GroupValue, Key, OffsetValue};
use super::OFFSETS_TOPIC;
use crate::broker::handler::produce::wait_committed;
use crate::broker::{now_ms, Broker};
use crate::protocol::{batch, ErrorCode};

/// Appends `(key, value)` records (a `None` value is a tombstone) and waits
/// until they are committed.
pub async fn append(broker: &Broker, partition: i32, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<(), ErrorCode> {
    if entries.is_empty() {
        return Ok(());
    }
    let p = broker.leader_partition(OFFSETS_TOPIC, partition)?;
    let wall = now_ms();
    let records: Vec<Record> = entries
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record { offset: i as i64, ..batch::new_record(Some(key), value, Vec::new(), wall) })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: Compression::None })
        .map_err(|e| {
            tracing::error!(%e, "cannot encode coordinator records");
            ErrorCode::UnknownServerError
        })?;
    let mut bytes = buf.to_vec();
    let header = batch::validate_one(&bytes).map_err(|e| {
        tracing::error!(%e, "coordinator built an invalid batch");
        ErrorCode::UnknownServerError
    })?;
    let appended = p.append(&mut bytes, &header, wall)?;
    broker.notify_data_arrived();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(broker.config.offsets_commit_timeout_ms);
    wait_committed(&p, appended.last_offset, deadline).await
}

/// Stores a group's metadata (`None`: its tombstone).
pub async fn store_group(
    broker: &Broker,
    partition: i32,
    group_id: &str,
    value: Option<&GroupValue>,
) -> Result<(), ErrorCode> {
    let entry = (records::group_key(group_id), value.map(records::group_value));
    append(broker, partition, vec![entry]).await.map_err(group_error)
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

/// What loading found for one group: its metadata (if any) and offsets.
pub type Loaded = HashMap<String, (Option<GroupValue>, HashMap<(String, i32), OffsetValue>)>;

/// Why a partition could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{OFFSETS_TOPIC}-{0} is not hosted here")]
    NotHosted(i32),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// Reads a whole partition (blocking I/O): the last value of every key wins,
/// tombstones remove. Unreadable records are skipped with a warning.
pub fn read_partition(broker: &Broker, partition: i32) -> Result<Loaded, LoadError> {
    let p = broker.partition(OFFSETS_TOPIC, partition).ok_or(LoadError::NotHosted(partition))?;
    let end = p.log_end_offset();
    let mut offset = p.log_start_offset();
    let mut groups: HashMap<String, Option<GroupValue>> = HashMap::new();
    let mut offsets: HashMap<String, HashMap<(String, i32), Option<OffsetValue>>> = HashMap::new();
    while offset < end {
        let info = p.read(offset, 4 << 20, true, true)?;
        if info.records.is_empty() {
            break;
        }
        let mut next = offset;
        for (header, range) in batch::BatchIter::new(&info.records) {
            next = next.max(header.next_offset());
            // The decoder reserves room for the announced record count: bound it first.
            let plausible = header.compression() != batch::Compression::None
                || i64::from(header.records_count) * 7 <= i64::from(header.batch_length);
            if header.is_control() || batch::check_header(&header).is_err() || !plausible {
                continue;
            }
            let mut bytes = info.records.slice(range);
            let set = match RecordBatchDecoder::decode(&mut bytes) {
                Ok(set) => set,
                Err(e) => {
                    tracing::warn!(partition, base_offset = header.base_offset, %e, "skipping an unreadable batch");
                    continue;
                }
            };
            for r in set.records {
                if r.offset < offset {
                    continue;
                }
                apply(&mut groups, &mut offsets, r.key.as_deref(), r.value.as_deref(), partition, r.offset);
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    let mut out: Loaded = HashMap::new();
    for (id, value) in groups {
        out.entry(id).or_default().0 = value;
    }
    for (id, committed) in offsets {
        let entry = out.entry(id).or_default();
        entry.1 = committed.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    }
    Ok(out)
}

fn apply(
    groups: &mut HashMap<String, Option<GroupValue>>,
    offsets: &mut HashMap<String, HashMap<(String, i32), Option<OffsetValue>>>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    partition: i32,
    at: i64,
) {
    let Some(key) = key else { return };
    let warn = |e: records::RecordError| tracing::warn!(partition, offset = at, %e, "skipping a record");
    match records::decode_key(key) {
        Ok(Some(Key::Offset { group, topic, partition: p })) => {
            let value = match value.map(records::decode_offset_value).transpose() {
                Ok(v) => v,
                Err(e) => return warn(e),
            };
            offsets.entry(group).or_default().insert((topic, p), value);
        }
        Ok(Some(Key::Group { group })) => {
            let value = match value.map(records::decode_group_value).transpose() {
                Ok(v) => v,
                Err(e) => return warn(e),
            };
            groups.insert(group, value);
        }
        Ok(None) => {}
        Err(e) => warn(e),
    }
}
