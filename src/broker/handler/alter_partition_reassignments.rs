//! AlterPartitionReassignments (45, KIP-455): starts, retargets or (with
//! null replicas) cancels partition reassignments. Any broker serves it: the
//! request is written to the topic znodes (replica set ORS ∪ TRS with
//! `adding_replicas` / `removing_replicas`, see `metadata::reassignment`) and
//! the controller carries it out; the answer comes once the write is done,
//! not once the data moved (ListPartitionReassignments shows progress).
//!
//! Per partition, as Kafka answers: UNKNOWN_TOPIC_OR_PARTITION for a topic or
//! partition that does not exist (or a topic being deleted);
//! INVALID_REPLICA_ASSIGNMENT for an empty list, duplicates, negative ids, or
//! added replicas on brokers that are not alive; NO_REASSIGNMENT_IN_PROGRESS
//! for a cancel of a partition that is not moving.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse};

use super::sb;
use crate::metadata::reassignment::Refusal;
use crate::metadata::{MetadataError, MetadataStore};
use crate::protocol::ErrorCode;

pub async fn handle(
    metadata: &MetadataStore,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let timeout = super::admin_timeout(req.timeout_ms);
    let mut responses = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let changes: Vec<(i32, Option<Vec<i32>>)> = topic
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect())))
            .collect();
        let outcomes: Vec<Option<(ErrorCode, Option<String>)>> =
            match metadata.alter_reassignments(topic.name.0.as_str(), &changes, timeout).await {
                Ok(outcomes) => outcomes.into_iter().map(|o| o.err().map(refusal)).collect(),
                Err(e) => {
                    let code = match e {
                        MetadataError::Timeout(_) | MetadataError::Conflict(_) => ErrorCode::RequestTimedOut,
                        _ => ErrorCode::UnknownServerError,
                    };
                    tracing::warn!(topic = %topic.name.0, error = %e, "cannot write partition reassignments");
                    changes.iter().map(|_| Some((code, Some(e.to_string())))).collect()
                }
            };
        let partitions = changes
            .iter()
            .zip(outcomes)
            .map(|((p, _), outcome)| {
                let answer = ReassignablePartitionResponse::default().with_partition_index(*p);
                match outcome {
                    None => answer.with_error_code(0),
                    Some((code, message)) => answer.with_error_code(code.code()).with_error_message(message.map(sb)),
                }
            })
            .collect();
        responses.push(ReassignableTopicResponse::default().with_name(topic.name).with_partitions(partitions));
    }
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}

/// A refusal as Kafka's error code and message.
fn refusal(r: Refusal) -> (ErrorCode, Option<String>) {
    match r {
        Refusal::UnknownPartition => (ErrorCode::UnknownTopicOrPartition, None),
        Refusal::InvalidReplicas(message) => (ErrorCode::InvalidReplicaAssignment, Some(message)),
        Refusal::NoReassignment => (ErrorCode::NoReassignmentInProgress, None),
    }
}
