//! OffsetForLeaderEpoch (23) v0–1 (Kafka 0.11–1.1, then only between
//! brokers), below the codec's v2: `[topic, [partition, leader_epoch]]` with
//! no current leader epoch (nothing to fence against) and no replica id.
//! Answered by the one handler: `[topic, [error_code, partition, end_offset]]`,
//! v1 adding the leader epoch of that end offset before it.

use bytes::Bytes;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::OffsetForLeaderEpochRequest;

use super::{header, Answer};
use crate::broker::handler::topic_name;
use crate::broker::replicas::ReplicaManager;
use crate::protocol::reader::Reader;

pub(super) fn parse(payload: &[u8]) -> Result<(i32, OffsetForLeaderEpochRequest), String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let mut req = OffsetForLeaderEpochRequest::default();
    for _ in 0..r.count(6)? {
        let name = r.str()?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(8)? {
            let partition = r.i32()?;
            let leader_epoch = r.i32()?;
            partitions.push(
                OffsetForLeaderPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_leader_epoch(leader_epoch),
            );
        }
        req.topics.push(OffsetForLeaderTopic::default().with_topic(topic_name(name)).with_partitions(partitions));
    }
    Ok((correlation_id, req))
}

pub fn handle(
    replicas: &ReplicaManager,
    authz: &crate::security::authorizer::Authz<'_>,
    version: i16,
    payload: &[u8],
) -> Result<Bytes, String> {
    use crate::broker::handler::authorize;
    let (correlation_id, req) = parse(payload)?;
    let (req, denied) = authorize::offset_for_leader_epoch(authz, req);
    let resp = crate::broker::handler::offset_for_leader_epoch::handle(replicas, req);
    let resp = authorize::offset_for_leader_epoch_denied(resp, denied);
    let mut out = Answer::new(correlation_id);
    out.count(resp.topics.len());
    for t in &resp.topics {
        out.str(t.topic.0.as_str());
        out.count(t.partitions.len());
        for p in &t.partitions {
            out.i16(p.error_code);
            out.i32(p.partition);
            if version >= 1 {
                out.i32(p.leader_epoch);
            }
            out.i64(p.end_offset);
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::super::test_support::{assert_prefixes_refused, request, str};
    use super::*;

    #[test]
    fn parses_without_a_current_epoch_and_refuses_truncation() {
        let mut b = request(23, 0);
        b.put_i32(1);
        str(&mut b, "t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(4);
        b.put_i32(1);
        b.put_i32(0);
        let (cid, req) = parse(&b).expect("parse");
        assert_eq!(cid, 9);
        let p = &req.topics[0].partitions;
        assert_eq!((p[0].partition, p[0].leader_epoch, p[0].current_leader_epoch), (0, 4, -1));
        assert_eq!((p[1].partition, p[1].leader_epoch), (1, 0));
        assert_prefixes_refused(&b, parse);
    }
}
