//! DescribeLogDirs (35): this broker's log dirs, each with the replicas it
//! holds (size in bytes, offset lag, whether it is a future replica) and, from
//! v4, the file system's total and usable bytes (statvfs).
//!
//! A dir that cannot be read, or that holds a log taken offline by an I/O
//! failure, is answered with KAFKA_STORAGE_ERROR and no replicas, as Kafka
//! answers an offline log dir. The offset lag is how far the replica's log end
//! is behind the partition's high watermark (0 on the leader), Kafka's
//! definition for a current replica. Moves between log dirs are done in one
//! step (see AlterReplicaLogDirs), so no replica is ever reported as future.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::replicas::ReplicaManager;
use crate::protocol::ErrorCode;
use crate::storage::LogManager;

pub fn handle(replicas: &ReplicaManager, logs: &LogManager, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.as_ref().map(|topics| {
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect()
    });
    let mut per_dir: Vec<BTreeMap<String, Vec<DescribeLogDirsPartition>>> =
        vec![BTreeMap::new(); logs.log_dirs().len()];
    let mut offline = vec![false; logs.log_dirs().len()];
    for (tp, dir_index, log) in logs.placements() {
        let (size, leo, is_offline) = {
            let log = log.lock().unwrap_or_else(|e| e.into_inner());
            (log.size_bytes(), log.log_end_offset(), log.is_offline())
        };
        if is_offline {
            if let Some(o) = offline.get_mut(dir_index) {
                *o = true;
            }
        }
        if wanted.as_ref().is_some_and(|w| !w.contains(&(tp.topic.clone(), tp.partition))) {
            continue;
        }
        let lag = replicas.partition(&tp.topic, tp.partition).map_or(0, |p| {
            if p.is_leader() {
                0
            } else {
                (p.high_watermark() - leo).max(0)
            }
        });
        let Some(topics) = per_dir.get_mut(dir_index) else { continue };
        topics.entry(tp.topic.clone()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(tp.partition)
                .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                .with_offset_lag(lag)
                .with_is_future_key(false),
        );
    }
    let results = logs
        .log_dirs()
        .iter()
        .zip(per_dir)
        .zip(offline)
        .map(|((dir, topics), offline)| {
            let readable = std::fs::metadata(dir).is_ok_and(|m| m.is_dir());
            let (total, usable) = space(dir);
            let result = DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_string(dir.display().to_string()))
                .with_total_bytes(total)
                .with_usable_bytes(usable);
            if offline || !readable {
                return result.with_error_code(ErrorCode::KafkaStorageError.code());
            }
            let topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    DescribeLogDirsTopic::default().with_name(super::topic_name(name)).with_partitions(partitions)
                })
                .collect();
            result.with_topics(topics)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

/// The file system's total and usable (available to this user) bytes, −1 each
/// when they cannot be read.
fn space(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(st) => {
            let block = st.f_frsize;
            let total = st.f_blocks.saturating_mul(block);
            let usable = st.f_bavail.saturating_mul(block);
            (i64::try_from(total).unwrap_or(i64::MAX), i64::try_from(usable).unwrap_or(i64::MAX))
        }
        Err(_) => (-1, -1),
    }
}
