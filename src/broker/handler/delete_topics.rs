//! DeleteTopics (20): requests the deletion in ZooKeeper
//! (`/admin/delete_topics/<t>`) and answers once the controller deleted the
//! topic and this broker its logs. Refused with TOPIC_DELETION_DISABLED when
//! delete.topic.enable=false.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::sb;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let names: Vec<TopicName> =
        if version >= 6 { req.topics.into_iter().filter_map(|t| t.name).collect() } else { req.topic_names };
    let timeout = super::admin_timeout(req.timeout_ms);
    let mut responses = Vec::with_capacity(names.len());
    for name in names {
        let result = DeletableTopicResult::default().with_name(Some(name.clone()));
        responses.push(match broker.delete_topic(name.0.as_str(), timeout).await {
            Ok(t) => result.with_error_code(0).with_topic_id(t.topic_id),
            Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(sb(e.message))),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
