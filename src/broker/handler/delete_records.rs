//! DeleteRecords (21): moves a partition's log start offset forward, as Kafka's
//! `kafka-delete-records.sh` and `AdminClient::deleteRecords` ask.
//!
//! Per partition, on its leader: the requested offset (−1 means the high
//! watermark) must not lie past the high watermark (OFFSET_OUT_OF_RANGE); the
//! log start offset moves there, the segments wholly below it are deleted, and
//! the new start is checkpointed (`log-start-offset-checkpoint`) before the
//! answer so that it survives a restart. Followers learn the leader's start from
//! their fetch responses and move theirs. As Kafka's purgatory does, the answer
//! waits (within the request's timeout) until the low watermark — the lowest
//! log start offset over the in-sync replicas, as their fetches report it —
//! reaches the requested offset, and answers REQUEST_TIMED_OUT when it does not.
//! NOT_LEADER_OR_FOLLOWER on a follower, UNKNOWN_TOPIC_OR_PARTITION for a
//! partition this broker does not host.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::admin_timeout;
use crate::broker::replicas::ReplicaManager;
use crate::broker::Partition;
use crate::protocol::ErrorCode;
use crate::storage::LogManager;

/// How often a waiting answer re-reads the low watermark: followers report
/// their start with every fetch, at most `replica.fetch.wait.max.ms` apart.
const POLL: Duration = Duration::from_millis(25);

/// One partition of the answer: its index, its result so far, and (while the
/// answer waits for the low watermark) the partition and the offset to reach.
type PartitionOutcome = (i32, Result<i64, ErrorCode>, Option<(Arc<Partition>, i64)>);

pub async fn handle(replicas: &ReplicaManager, logs: &LogManager, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut results: Vec<(String, Vec<PartitionOutcome>)> = Vec::new();
    let mut changed = false;
    for topic in &req.topics {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            // Deleting segments and syncing the directory: in a storage-I/O slot.
            let outcome = match replicas.leader_partition(&name, p.partition_index) {
                Ok(partition) => replicas
                    .storage_io()
                    .run(|| partition.delete_records_before(p.offset))
                    .await
                    .map(|start| (partition, start)),
                Err(code) => Err(code),
            };
            match outcome {
                Ok((partition, start)) => {
                    changed = true;
                    partitions.push((p.partition_index, Ok(start), Some((partition, start))));
                }
                Err(code) => partitions.push((p.partition_index, Err(code), None)),
            }
        }
        results.push((name, partitions));
    }
    if changed {
        if let Err(err) = replicas.storage_io().run(|| logs.checkpoint_log_start_offsets()).await {
            tracing::warn!(%err, "cannot checkpoint the log start offsets after DeleteRecords");
        }
    }

    let deadline = tokio::time::Instant::now() + admin_timeout(req.timeout_ms);
    loop {
        let mut waiting = false;
        for (_, partitions) in &mut results {
            for (_, result, wait) in partitions.iter_mut() {
                let Some((partition, target)) = wait else { continue };
                if !partition.is_leader() {
                    *result = Err(ErrorCode::NotLeaderOrFollower);
                    *wait = None;
                    continue;
                }
                let low = partition.low_watermark();
                if low >= *target {
                    *result = Ok(low);
                    *wait = None;
                } else {
                    waiting = true;
                }
            }
        }
        if !waiting {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            for (_, partitions) in &mut results {
                for (_, result, wait) in partitions.iter_mut() {
                    if wait.take().is_some() {
                        *result = Err(ErrorCode::RequestTimedOut);
                    }
                }
            }
            break;
        }
        tokio::time::sleep(POLL).await;
    }

    let topics = results
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, result, _)| {
                    let (low_watermark, error_code) = match result {
                        Ok(low) => (low, 0),
                        Err(code) => (-1, code.code()),
                    };
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_low_watermark(low_watermark)
                        .with_error_code(error_code)
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(super::topic_name(name)).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
