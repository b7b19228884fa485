//! OffsetDelete (47): v0; removes a group's committed offsets for
//! partitions it does not consume.

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::topic_name;
use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index)))
        .collect();
    match groups.delete_offsets(&req.group_id, &wanted).await {
        Err(code) => OffsetDeleteResponse::default().with_error_code(errors::code(Some(code))),
        Ok(results) => {
            let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
            for (topic, partition, error) in results {
                let part = OffsetDeleteResponsePartition::default()
                    .with_partition_index(partition)
                    .with_error_code(errors::code(error));
                match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                    Some(t) => t.partitions.push(part),
                    None => topics.push(
                        OffsetDeleteResponseTopic::default().with_name(topic_name(topic)).with_partitions(vec![part]),
                    ),
                }
            }
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
