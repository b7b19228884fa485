//! CreateTopics (19) v0–1 (Kafka 0.10.1–0.10.2), below the codec's v2:
//! `[name, num_partitions, replication_factor, [partition, [broker]],
//! [config name, value]], timeout_ms`, v1 adding `validate_only`. Translated
//! into the codec's request and created by the one CreateTopics handler;
//! answered `[name, error_code]`, v1 adding `error_message`.

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest};

use super::{bool, header, Answer};
use crate::broker::handler::{sb, topic_name};
use crate::broker::Broker;
use crate::protocol::reader::Reader;

pub(super) fn parse(payload: &[u8], version: i16) -> Result<(i32, CreateTopicsRequest), String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let mut req = CreateTopicsRequest::default();
    // The smallest topic: name, partitions, replication factor, two empty arrays.
    for _ in 0..r.count(16)? {
        let name = r.str()?;
        let num_partitions = r.i32()?;
        let replication_factor = r.i16()?;
        let mut assignments = Vec::new();
        for _ in 0..r.count(8)? {
            let partition_index = r.i32()?;
            let mut broker_ids = Vec::new();
            for _ in 0..r.count(4)? {
                broker_ids.push(BrokerId(r.i32()?));
            }
            assignments.push(
                CreatableReplicaAssignment::default().with_partition_index(partition_index).with_broker_ids(broker_ids),
            );
        }
        let mut configs = Vec::new();
        for _ in 0..r.count(4)? {
            let name = r.str()?;
            let value = r.nullable_str()?;
            configs.push(CreatableTopicConfig::default().with_name(sb(name)).with_value(value.map(sb)));
        }
        req.topics.push(
            CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(num_partitions)
                .with_replication_factor(replication_factor)
                .with_assignments(assignments)
                .with_configs(configs),
        );
    }
    req.timeout_ms = r.i32()?;
    if version >= 1 {
        req.validate_only = bool(&mut r)?;
    }
    Ok((correlation_id, req))
}

pub async fn handle(
    broker: &Broker,
    authz: &crate::security::authorizer::Authz<'_>,
    version: i16,
    payload: &[u8],
) -> Result<Bytes, String> {
    use crate::broker::handler::authorize;
    let (correlation_id, req) = parse(payload, version)?;
    let (req, denied) = authorize::create_topics(authz, req);
    let resp = crate::broker::handler::create_topics::handle(broker, req, version).await;
    let resp = authorize::create_topics_denied(resp, denied);
    let mut out = Answer::new(correlation_id);
    out.count(resp.topics.len());
    for t in &resp.topics {
        out.str(t.name.0.as_str());
        out.i16(t.error_code);
        if version >= 1 {
            out.nullable_str(t.error_message.as_deref());
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::super::test_support::{assert_prefixes_refused, request, str};
    use super::*;

    fn body(version: i16) -> BytesMut {
        let mut b = request(19, version);
        b.put_i32(2);
        str(&mut b, "plain");
        b.put_i32(3);
        b.put_i16(1);
        b.put_i32(0);
        b.put_i32(1);
        str(&mut b, "retention.ms");
        str(&mut b, "1000");
        str(&mut b, "placed");
        b.put_i32(-1);
        b.put_i16(-1);
        b.put_i32(1);
        b.put_i32(0);
        b.put_i32(2);
        b.put_i32(1);
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(5000);
        if version >= 1 {
            b.put_u8(1);
        }
        b
    }

    #[test]
    fn v0_and_v1_parse_into_the_codec_request() {
        let (cid, req) = parse(&body(0), 0).expect("v0");
        assert_eq!(cid, 9);
        assert_eq!(req.timeout_ms, 5000);
        assert!(!req.validate_only);
        let plain = &req.topics[0];
        assert_eq!((plain.num_partitions, plain.replication_factor), (3, 1));
        assert_eq!(plain.configs[0].name.as_str(), "retention.ms");
        assert_eq!(plain.configs[0].value.as_deref(), Some("1000"));
        let placed = &req.topics[1];
        assert_eq!(placed.assignments[0].broker_ids, vec![BrokerId(1), BrokerId(2)]);

        let (_, req) = parse(&body(1), 1).expect("v1");
        assert!(req.validate_only);
    }

    #[test]
    fn truncated_and_hostile_bodies_are_refused() {
        assert_prefixes_refused(&body(0), |b| parse(b, 0));
        assert_prefixes_refused(&body(1), |b| parse(b, 1));
        let mut hostile = request(19, 0);
        hostile.put_i32(-7);
        hostile.put_i32(0);
        assert_eq!(parse(&hostile, 0).expect("a negative count is empty").1.topics.len(), 0);
        let mut hostile = request(19, 0);
        hostile.put_i32(1_000_000);
        assert!(parse(&hostile, 0).is_err());
    }
}
