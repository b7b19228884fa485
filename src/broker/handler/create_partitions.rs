//! CreatePartitions (37): grows a topic's partition count (never shrinks it),
//! with an optional explicit assignment for the new partitions.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::sb;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: CreatePartitionsRequest, _version: i16) -> CreatePartitionsResponse {
    let timeout = super::admin_timeout(req.timeout_ms);
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let assignments =
            t.assignments.map(|a| a.into_iter().map(|x| x.broker_ids.into_iter().map(|b| b.0).collect()).collect());
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        results.push(
            match broker.add_partitions(t.name.0.as_str(), t.count, assignments, req.validate_only, timeout).await {
                Ok(_) => result.with_error_code(0),
                Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(sb(e.message))),
            },
        );
    }
    CreatePartitionsResponse::default().with_results(results)
}
