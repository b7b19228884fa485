//! DescribeProducers (61, KIP-664): the producers a replica of each requested
//! partition keeps state for — producer id and epoch, last sequence and
//! timestamp, the coordinator epoch of its last marker, and the first offset
//! of its open transaction (−1 when none). `kafka-transactions.sh
//! describe-producers` and `find-hanging` read it to find transactions that
//! no coordinator will ever end.
//!
//! As in Kafka, any replica answers (a leader or a follower, so that an
//! operator can compare replicas with `--broker-id`); a partition this broker
//! does not host is NOT_LEADER_OR_FOLLOWER when the topic has it, else
//! UNKNOWN_TOPIC_OR_PARTITION. Read-only: nothing here changes the state.

use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::broker::replicas::ReplicaManager;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;

/// `replicas` holds the producer states; `metadata` tells an unhosted
/// partition of an existing topic from an unknown one.
pub fn handle(
    replicas: &ReplicaManager,
    metadata: &MetadataStore,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| describe_partition(replicas, metadata, &name, index))
                .collect();
            TopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

fn describe_partition(
    replicas: &ReplicaManager,
    metadata: &MetadataStore,
    topic: &str,
    index: i32,
) -> PartitionResponse {
    let answer = PartitionResponse::default().with_partition_index(index);
    let Some(partition) = replicas.partition(topic, index) else {
        let known = metadata.topic(topic).is_some_and(|t| usize::try_from(index).is_ok_and(|i| i < t.partitions.len()));
        let code = if known { ErrorCode::NotLeaderOrFollower } else { ErrorCode::UnknownTopicOrPartition };
        return answer.with_error_code(code.code());
    };
    let producers = partition
        .active_producers()
        .into_iter()
        .map(|p| {
            ProducerState::default()
                .with_producer_id(ProducerId(p.producer_id))
                .with_producer_epoch(i32::from(p.epoch))
                .with_last_sequence(p.last_sequence)
                .with_last_timestamp(p.last_timestamp)
                .with_coordinator_epoch(p.coordinator_epoch)
                .with_current_txn_start_offset(p.txn_start_offset)
        })
        .collect();
    answer.with_error_code(0).with_active_producers(producers)
}
