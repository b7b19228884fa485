//! OffsetCommit (8): v2–8. Generation −1 with an empty member id commits for
//! a group the coordinator does not manage (or an empty one).

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{in_request_order, topic_name};
use crate::coordinator::{CommitEntry, CommitParams, GroupCoordinator};
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
    let mut offsets = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            offsets.push(CommitEntry {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            });
        }
    }
    let params = CommitParams {
        group_id: req.group_id.to_string(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        retention_time_ms: if (2..=4).contains(&version) { req.retention_time_ms } else { -1 },
        offsets,
    };
    let results = groups.commit(params).await;
    // Answer in the request's topic order.
    let order: Vec<String> = req.topics.iter().map(|t| t.name.to_string()).collect();
    let topics = in_request_order(&order, results)
        .into_iter()
        .map(|(topic, partitions)| {
            OffsetCommitResponseTopic::default().with_name(topic_name(topic)).with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, error)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(errors::code(error))
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
