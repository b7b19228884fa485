//! AddPartitionsToTxn (24), v0–3: a transactional producer adds the
//! partitions it is about to write to its ongoing transaction (the first
//! add starts the transaction). Partitions that do not exist are answered
//! UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED without
//! asking the coordinator, as Kafka does; otherwise every partition carries
//! the coordinator's answer. v4+ (KIP-890's broker-side batched form, sent
//! by brokers verifying a produce) is not served.

use std::collections::BTreeSet;

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::topic_name;
use crate::coordinator::txn::state::{fenced_error_for_version, unknown_partitions_answer, FencedApi};
use crate::coordinator::txn::{AddPartitionsRequest, TxnCoordinator};
use crate::metadata::MetadataStore;
use crate::storage::TopicPartition;

/// `metadata` tells which partitions exist; `txns` does the rest.
pub async fn handle(
    txns: &Arc<TxnCoordinator>,
    metadata: &MetadataStore,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let partitions: BTreeSet<TopicPartition> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| TopicPartition::new(t.name.0.as_str(), p)))
        .collect();
    let unknown = {
        // One look at the cached view, released before the coordinator is awaited.
        let view = metadata.view();
        unknown_partitions_answer(&partitions, |tp: &TopicPartition| {
            view.topics
                .get(tp.topic.as_str())
                .is_some_and(|t| tp.partition >= 0 && (tp.partition as usize) < t.partitions.len())
        })
    };
    let answers: Vec<(TopicPartition, i16)> = match unknown {
        Some(answers) => answers.into_iter().map(|(tp, code)| (tp, code.code())).collect(),
        None => {
            let request = AddPartitionsRequest {
                transactional_id: req.v3_and_below_transactional_id.0.to_string(),
                producer_id: req.v3_and_below_producer_id.0,
                producer_epoch: req.v3_and_below_producer_epoch,
                partitions: partitions.clone(),
            };
            let code = match txns.add_partitions(request).await {
                Ok(()) => 0,
                Err(code) => fenced_error_for_version(FencedApi::AddPartitionsToTxn, version, code).code(),
            };
            partitions.into_iter().map(|tp| (tp, code)).collect()
        }
    };
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(by_topic(answers))
}

fn by_topic(answers: Vec<(TopicPartition, i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut topics: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (tp, code) in answers {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(tp.partition)
            .with_partition_error_code(code);
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == tp.topic => t.results_by_partition.push(result),
            _ => topics.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name(tp.topic))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    topics
}
