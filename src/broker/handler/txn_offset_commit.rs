//! TxnOffsetCommit (28): v0–4. A transactional producer commits its
//! consumer's offsets inside its transaction (`sendOffsetsToTransaction`);
//! the group coordinator writes them to `__consumer_offsets` as a
//! transactional batch of the producer, and they become visible to
//! OffsetFetch only when the transaction's COMMIT marker lands there.
//!
//! Errors per partition, as Kafka answers them: NOT_COORDINATOR /
//! COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE, INVALID_GROUP_ID
//! for an empty group id, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE,
//! INVALID_PRODUCER_EPOCH for an older producer epoch than the partition has
//! seen, and from v3 (which carries the member id, group instance id and
//! generation, checked only when given) UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
//! FENCED_INSTANCE_ID.
//!
//! v5 (Kafka 4's transactions v2, KIP-890) is not advertised: with it the
//! broker would add the group's partition to the transaction itself, which
//! needs the transaction coordinator's AddPartitionsToTxn; clients use v4
//! and AddOffsetsToTxn until the `transaction.version` feature says 2.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{in_request_order, topic_name};
use crate::coordinator::{CommitEntry, GroupCoordinator, TxnCommitParams};
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitResponse {
    let mut offsets = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            offsets.push(CommitEntry {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            });
        }
    }
    let members = version >= 3;
    let params = TxnCommitParams {
        group_id: req.group_id.to_string(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        generation: if members { req.generation_id } else { -1 },
        member_id: if members { req.member_id.to_string() } else { String::new() },
        group_instance_id: if members { req.group_instance_id.as_ref().map(|s| s.to_string()) } else { None },
        offsets,
    };
    let results = groups.txn_commit(params).await;
    // Answer in the request's topic order.
    let order: Vec<String> = req.topics.iter().map(|t| t.name.to_string()).collect();
    let topics = in_request_order(&order, results)
        .into_iter()
        .map(|(topic, partitions)| {
            TxnOffsetCommitResponseTopic::default().with_name(topic_name(topic)).with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, error)| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(errors::code(error))
                    })
                    .collect(),
            )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
