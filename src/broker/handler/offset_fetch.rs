//! OffsetFetch (9): v1–7 (one group). A partition with no committed offset
//! answers −1; `topics: null` (v2+) asks for every committed partition. v1
//! has no top-level error: a group-level error goes on every partition.
//! Offsets a transaction committed are not returned until its COMMIT marker;
//! with `require_stable` (v7+) such a partition answers UNSTABLE_OFFSET_COMMIT
//! (offset −1) so the client retries, as Kafka does.

use kafka_protocol::messages::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{sb, topic_name};
use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub fn handle(groups: &GroupCoordinator, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let requested: Option<Vec<(String, Vec<i32>)>> =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    let require_stable = version >= 7 && req.require_stable;
    match groups.fetch_offsets(&req.group_id, requested.as_deref(), require_stable) {
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetFetchResponseTopic::default().with_name(topic_name(topic)).with_partitions(
                        parts
                            .into_iter()
                            .map(|(p, v)| {
                                let (offset, epoch, metadata, error) = match v {
                                    Ok(Some(v)) => (v.offset, v.leader_epoch, v.metadata, None),
                                    Ok(None) => (-1, -1, String::new(), None),
                                    Err(code) => (-1, -1, String::new(), Some(code)),
                                };
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(sb(metadata)))
                                    .with_error_code(errors::code(error))
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
