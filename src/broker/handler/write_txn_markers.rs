//! WriteTxnMarkers (27): the transaction coordinator asks each partition
//! leader to end a producer's transaction with a COMMIT or ABORT control
//! batch. Per (producer, partition) the leader checks the producer epoch and
//! the coordinator epoch (`Partition::append_marker`), appends the marker,
//! and answers once it is committed (below the high watermark, as Kafka
//! appends markers with acks=all), so a coordinator that heard success knows
//! the marker survives a leader change.
//!
//! Errors per partition: NOT_LEADER_OR_FOLLOWER on a broker that does not lead
//! it, UNKNOWN_TOPIC_OR_PARTITION for one it does not host,
//! INVALID_PRODUCER_EPOCH for a marker of an older producer epoch,
//! TRANSACTION_COORDINATOR_FENCED for an older coordinator epoch, and
//! REQUEST_TIMED_OUT / NOT_ENOUGH_REPLICAS_AFTER_APPEND as for acks=all produce.
//!
//! A marker on a `__consumer_offsets` partition also completes the
//! producer's transactional offset commits in that partition's groups, once
//! committed (`GroupCoordinator::complete_transaction`). The transaction
//! coordinator's marker sender calls [`handle`] directly for partitions this
//! broker leads, so that hook sits here rather than in a network path.
//!
//! Only version 1 is served: the codec crate decodes no other (v0 is the same
//! request without flexible encoding, which Kafka 4 dropped too).

use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::internal_log::wait_committed;
use crate::broker::now_ms;
use crate::broker::producer_state::Marker;
use crate::broker::replicas::ReplicaManager;
use crate::coordinator::{GroupCoordinator, OFFSETS_TOPIC};

/// How long a marker may wait for its commit (Kafka uses its request timeout).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `replicas` takes the markers; `groups` completes the transactional
/// offset commits a `__consumer_offsets` marker decides.
pub async fn handle(
    replicas: &ReplicaManager,
    groups: &GroupCoordinator,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
    let mut results = Vec::with_capacity(req.markers.len());
    let mut appended_any = false;
    // Append every marker first, then wait: the waits overlap instead of adding up.
    let mut pending = Vec::new();
    for m in &req.markers {
        let marker = Marker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for topic in &m.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for &index in &topic.partition_indexes {
                let outcome = replicas
                    .leader_partition(topic.name.0.as_str(), index)
                    .and_then(|p| p.append_marker(&marker, now_ms()).map(|offset| (p, offset)));
                let code = match outcome {
                    Ok((p, offset)) => {
                        appended_any = true;
                        pending.push((results.len(), topics.len(), partitions.len(), p, offset));
                        0
                    }
                    Err(code) => code.code(),
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default().with_partition_index(index).with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions),
            );
        }
        results.push(WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(topics));
    }
    if appended_any {
        // Fetches parked on an empty read re-check (a single replica commits at once).
        replicas.notify_data_arrived();
    }
    for (m, t, i, partition, offset) in pending {
        match wait_committed(&partition, offset, deadline).await {
            Err(code) => results[m].topics[t].partitions[i].error_code = code.code(),
            // Offsets a TxnOffsetCommit left pending in this partition's
            // groups become committed (or are dropped) once the marker is.
            Ok(()) if partition.tp.topic == OFFSETS_TOPIC => {
                let marker = &req.markers[m];
                groups.complete_transaction(partition.tp.partition, marker.producer_id.0, marker.transaction_result);
            }
            Ok(()) => {}
        }
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}
