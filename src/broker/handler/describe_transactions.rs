//! DescribeTransactions (65, KIP-664): the coordinator's state of each
//! transactional id — state, producer id and epoch, timeout, when the open
//! transaction started and its partitions — read without changing it.
//! Errors per id as in Kafka: NOT_COORDINATOR when another broker
//! coordinates it, COORDINATOR_LOAD_IN_PROGRESS while its partition loads,
//! TRANSACTIONAL_ID_NOT_FOUND for an id the coordinator does not know.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId};

use crate::broker::handler::{sb, topic_name};
use crate::coordinator::txn::TxnCoordinator;
use crate::protocol::ErrorCode;

pub fn handle(txns: &TxnCoordinator, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let answer = TransactionState::default().with_transactional_id(id.clone()).with_transaction_state(sb(""));
            if id.0.is_empty() {
                return answer.with_error_code(ErrorCode::InvalidRequest.code());
            }
            match txns.describe(id.0.as_str()) {
                Err(code) => answer.with_error_code(code.code()),
                Ok(d) => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for tp in &d.partitions {
                        by_topic.entry(tp.topic.clone()).or_default().push(tp.partition);
                    }
                    answer
                        .with_error_code(0)
                        .with_transaction_state(sb(d.state.name()))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_timestamp_ms)
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_topics(
                            by_topic
                                .into_iter()
                                .map(|(t, ps)| TopicData::default().with_topic(topic_name(t)).with_partitions(ps))
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
