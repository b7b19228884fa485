//! Reading and writing `__consumer_offsets` through the internal-log handle
//! (`log.rs`): the coordinator appends its records as the partition's leader
//! (one uncompressed batch per call) and waits until they are committed (the
//! high watermark passes them, bounded by `offsets.commit.timeout.ms`), as
//! Kafka does with acks=all; loading replays the partition from its start and
//! keeps the last value of every key. Also Kafka's mapping of a failed append
//! to the errors group and commit requests answer.

use std::collections::HashMap;

use bytes::Bytes;

use super::log::{InternalLog, ReplayError};
use super::records::{self, GroupValue, Key, OffsetValue};
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

/// What loading found for one group: its metadata (if any) and offsets.
pub type Loaded = HashMap<String, (Option<GroupValue>, HashMap<(String, i32), OffsetValue>)>;

/// Reads a whole partition (blocking I/O): the last value of every key wins,
/// tombstones remove. Unreadable records are skipped with a warning.
pub fn read_partition(log: &dyn InternalLog, partition: i32) -> Result<Loaded, ReplayError> {
    let mut groups: HashMap<String, Option<GroupValue>> = HashMap::new();
    let mut offsets: HashMap<String, HashMap<(String, i32), Option<OffsetValue>>> = HashMap::new();
    log.replay(partition, &mut |r| apply(&mut groups, &mut offsets, r.key, r.value, partition, r.offset))?;
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
