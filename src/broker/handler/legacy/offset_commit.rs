//! OffsetCommit (8) v0–1, below the codec's v2.
//!
//! v0 (Kafka 0.8.1): `group_id, [topic, [partition, offset, metadata]]`.
//! Kafka's ZooKeeper mode stores these commits in ZooKeeper, not with the
//! group coordinator: `/consumers/<group>/offsets/<topic>/<partition>` holds
//! the offset as a decimal string (the metadata is checked against
//! `offset.metadata.max.bytes` but not kept). Any broker takes them.
//!
//! v1 (0.8.2) adds `generation_id, member_id` after the group and a commit
//! timestamp per partition; it goes to the group coordinator as v2 does.
//! The timestamp only set the offset's expiry in Kafka; gregor's coordinator
//! keeps no per-partition expiry from the request, so it is read and ignored.
//!
//! Both answer `[topic, [partition, error_code]]`.

use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetCommitResponse};

use super::{header, Answer};
use crate::broker::handler::{sb, topic_name};
use crate::coordinator::GroupCoordinator;
use crate::metadata::MetadataStore;
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

pub(super) fn parse(payload: &[u8], version: i16) -> Result<(i32, OffsetCommitRequest), String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let mut req = OffsetCommitRequest::default().with_group_id(GroupId(sb(r.str()?)));
    if version >= 1 {
        req = req.with_generation_id_or_member_epoch(r.i32()?).with_member_id(sb(r.str()?));
    }
    // The smallest partition: index + offset (+ timestamp in v1) + a null metadata.
    let min_partition = if version >= 1 { 22 } else { 14 };
    for _ in 0..r.count(6)? {
        let name = r.str()?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(min_partition)? {
            let index = r.i32()?;
            let offset = r.i64()?;
            if version >= 1 {
                let _commit_timestamp = r.i64()?;
            }
            let metadata = r.nullable_str()?;
            partitions.push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(index)
                    .with_committed_offset(offset)
                    .with_committed_metadata(metadata.map(sb)),
            );
        }
        req.topics.push(OffsetCommitRequestTopic::default().with_name(topic_name(name)).with_partitions(partitions));
    }
    Ok((correlation_id, req))
}

/// v0 writes ZooKeeper through `metadata` (refusing metadata longer than
/// `max_metadata`, `offset.metadata.max.bytes`); v1 goes to `groups`.
pub async fn handle(
    groups: &GroupCoordinator,
    metadata: &MetadataStore,
    max_metadata: usize,
    version: i16,
    payload: &[u8],
) -> Result<bytes::Bytes, String> {
    let (correlation_id, req) = parse(payload, version)?;
    let answered: Vec<(String, Vec<(i32, i16)>)> = if version == 0 {
        commit_in_zookeeper(metadata, max_metadata, &req).await
    } else {
        let resp: OffsetCommitResponse = crate::broker::handler::offset_commit::handle(groups, req, version).await;
        resp.topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partitions.iter().map(|p| (p.partition_index, p.error_code)).collect()))
            .collect()
    };
    let mut out = Answer::new(correlation_id);
    out.count(answered.len());
    for (name, partitions) in &answered {
        out.str(name);
        out.count(partitions.len());
        for &(partition, error) in partitions {
            out.i32(partition);
            out.i16(error);
        }
    }
    Ok(out.finish())
}

/// Kafka's v0 path: each partition of a known topic is written to ZooKeeper.
async fn commit_in_zookeeper(
    metadata: &MetadataStore,
    max_metadata: usize,
    req: &OffsetCommitRequest,
) -> Vec<(String, Vec<(i32, i16)>)> {
    let group = req.group_id.0.as_str();
    let mut answered = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.name.0.as_str();
        let known = metadata.topic(name).map_or(0, |m| m.partitions.len());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let metadata_len = p.committed_metadata.as_ref().map_or(0, |m| m.len());
            let error = if usize::try_from(p.partition_index).map_or(true, |i| i >= known) {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if group.is_empty() {
                // Not a path ZooKeeper takes; the coordinator refuses it the same way.
                Some(ErrorCode::InvalidGroupId)
            } else if metadata_len > max_metadata {
                Some(ErrorCode::OffsetMetadataTooLarge)
            } else {
                match metadata.commit_zk_offset(group, name, p.partition_index, p.committed_offset).await {
                    Ok(()) => None,
                    Err(err) => {
                        tracing::warn!(%err, group, topic = name, partition = p.partition_index, "v0 offset commit failed");
                        Some(ErrorCode::UnknownServerError)
                    }
                }
            };
            partitions.push((p.partition_index, crate::protocol::errors::code(error)));
        }
        answered.push((name.to_string(), partitions));
    }
    answered
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::super::test_support::{assert_prefixes_refused, request, str};
    use super::*;

    fn body(version: i16) -> BytesMut {
        let mut b = request(8, version);
        str(&mut b, "g");
        if version >= 1 {
            b.put_i32(3);
            str(&mut b, "m-1");
        }
        b.put_i32(1);
        str(&mut b, "t");
        b.put_i32(2);
        for (p, o) in [(0, 10i64), (1, 20)] {
            b.put_i32(p);
            b.put_i64(o);
            if version >= 1 {
                b.put_i64(-1);
            }
            if p == 0 {
                str(&mut b, "meta");
            } else {
                b.put_i16(-1);
            }
        }
        b
    }

    #[test]
    fn v0_and_v1_parse_into_the_codec_request() {
        let (cid, req) = parse(&body(0), 0).expect("v0");
        assert_eq!(cid, 9);
        assert_eq!(req.group_id.0.as_str(), "g");
        assert_eq!(req.generation_id_or_member_epoch, -1);
        let parts = &req.topics[0].partitions;
        assert_eq!((parts[0].committed_offset, parts[1].committed_offset), (10, 20));
        assert_eq!(parts[0].committed_metadata.as_deref(), Some("meta"));
        assert_eq!(parts[1].committed_metadata, None);

        let (_, req) = parse(&body(1), 1).expect("v1");
        assert_eq!(req.generation_id_or_member_epoch, 3);
        assert_eq!(req.member_id.as_str(), "m-1");
        assert_eq!(req.topics[0].partitions[1].committed_offset, 20);
        assert_eq!(req.retention_time_ms, -1);
    }

    #[test]
    fn truncated_and_hostile_bodies_are_refused() {
        assert_prefixes_refused(&body(0), |b| parse(b, 0));
        assert_prefixes_refused(&body(1), |b| parse(b, 1));
        let mut hostile = request(8, 0);
        str(&mut hostile, "g");
        hostile.put_i32(i32::MAX);
        assert!(parse(&hostile, 0).is_err());
    }
}
