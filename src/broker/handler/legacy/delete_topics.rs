//! DeleteTopics (20) v0 (Kafka 0.10.1), below the codec's v1:
//! `[name], timeout_ms`, answered `[name, error_code]` (v1 put the throttle
//! time first). Translated into the codec's request and deleted by the one
//! DeleteTopics handler.

use bytes::Bytes;
use kafka_protocol::messages::DeleteTopicsRequest;

use super::{header, Answer};
use crate::broker::handler::topic_name;
use crate::broker::Broker;
use crate::protocol::reader::Reader;

pub(super) fn parse(payload: &[u8]) -> Result<(i32, DeleteTopicsRequest), String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let mut req = DeleteTopicsRequest::default();
    for _ in 0..r.count(2)? {
        req.topic_names.push(topic_name(r.str()?));
    }
    req.timeout_ms = r.i32()?;
    Ok((correlation_id, req))
}

pub async fn handle(
    broker: &Broker,
    authz: &crate::security::authorizer::Authz<'_>,
    payload: &[u8],
) -> Result<Bytes, String> {
    use crate::broker::handler::authorize;
    let (correlation_id, req) = parse(payload)?;
    let (req, denied) = authorize::delete_topics(authz, req);
    let resp = crate::broker::handler::delete_topics::handle(broker, req, 0).await;
    let resp = authorize::delete_topics_denied(resp, denied);
    let mut out = Answer::new(correlation_id);
    out.count(resp.responses.len());
    for t in &resp.responses {
        out.str(t.name.as_ref().map_or("", |n| n.0.as_str()));
        out.i16(t.error_code);
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::super::test_support::{assert_prefixes_refused, request, str};
    use super::*;

    #[test]
    fn parses_and_refuses_truncation() {
        let mut b = request(20, 0);
        b.put_i32(2);
        str(&mut b, "a");
        str(&mut b, "bb");
        b.put_i32(3000);
        let (cid, req) = parse(&b).expect("parse");
        assert_eq!(cid, 9);
        let names: Vec<&str> = req.topic_names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(names, ["a", "bb"]);
        assert_eq!(req.timeout_ms, 3000);
        assert_prefixes_refused(&b, parse);
    }
}
