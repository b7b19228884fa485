//! AlterReplicaLogDirs (34): moves replicas this broker hosts into another
//! of its log dirs (`kafka-reassign-partitions.sh` with `log_dirs`, or an
//! admin client's `alterReplicaLogDirs`).
//!
//! Per partition, as Kafka answers: LOG_DIR_NOT_FOUND when the path is not
//! one of this broker's `log.dirs`, REPLICA_NOT_AVAILABLE when the partition
//! is not hosted here, KAFKA_STORAGE_ERROR when the move fails on disk. Kafka
//! copies into a future replica in the background and swaps when it caught
//! up; gregor moves in one step while the partition is paused (its log locked:
//! flush, copy into `<dir>/<topic>-<partition>-future`, sync, swap; see
//! `LogManager::move_log` for the crash-safe order), so the answer comes once
//! the replica is in its new dir.

use std::path::Path;

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};

use crate::broker::replicas::ReplicaManager;
use crate::protocol::ErrorCode;
use crate::storage::{LogManager, TopicPartition};

/// Which configured log dir `path` names (as configured, or the same directory).
fn dir_index(logs: &LogManager, path: &str) -> Option<usize> {
    let wanted = Path::new(path);
    let canonical = std::fs::canonicalize(wanted).ok();
    logs.log_dirs()
        .iter()
        .position(|d| d.as_path() == wanted || (canonical.is_some() && std::fs::canonicalize(d).ok() == canonical))
}

pub async fn handle(
    replicas: &ReplicaManager,
    logs: &LogManager,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in &req.dirs {
        let target = dir_index(logs, dir.path.as_str());
        for topic in &dir.topics {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|&partition| {
                    let code = match target {
                        None => Some(ErrorCode::LogDirNotFound),
                        Some(_) if replicas.partition(&name, partition).is_none() => {
                            Some(ErrorCode::ReplicaNotAvailable)
                        }
                        Some(target) => move_one(logs, &TopicPartition::new(name.clone(), partition), target),
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(partition)
                        .with_error_code(crate::protocol::errors::code(code))
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(super::topic_name(name))
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}

/// Moves one log, off the async workers when the runtime allows it (the copy
/// does blocking file I/O).
fn move_one(logs: &LogManager, tp: &TopicPartition, target: usize) -> Option<ErrorCode> {
    let work = || logs.move_log(tp, target);
    let result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    };
    match result {
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(partition = %tp, %err, "cannot move the replica to another log dir");
            Some(ErrorCode::KafkaStorageError)
        }
    }
}
