//! OffsetFetch (9): v1–7 (one group). A partition with no committed offset
//! answers −1; `topics: null` (v2+) asks for every committed partition. v1
//! has no top-level error: a group-level error goes on every partition.

use kafka_protocol::messages::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{sb, topic_name};
use crate::broker::Broker;
use crate::protocol::errors;

pub fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let requested: Option<Vec<(String, Vec<i32>)>> =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    match broker.coordinator.fetch_offsets(&req.group_id, requested.as_deref()) {
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetFetchResponseTopic::default().with_name(topic_name(topic)).with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, v)| {
                                let (offset, epoch, metadata) = match v {
                                    Some(v) => (v.offset, v.leader_epoch, v.metadata),
                                    None => (-1, -1, String::new()),
                                };
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(sb(metadata)))
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(errors::code(Some(code))),
        Err(code) => OffsetFetchResponse::default().with_topics(
            requested
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetFetchResponseTopic::default().with_name(topic_name(topic)).with_partitions(
                        parts
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_committed_leader_epoch(-1)
                                    .with_metadata(Some(sb("")))
                                    .with_error_code(errors::code(Some(code)))
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}
