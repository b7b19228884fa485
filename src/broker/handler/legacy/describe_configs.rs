//! DescribeConfigs (32) v0 (Kafka 0.11), below the codec's v1:
//! `[resource_type, resource_name, [config_name] (null: all)]`. Answered by
//! the one handler, written in v0's layout: `throttle_time_ms, [error_code,
//! error_message, resource_type, resource_name, [name, value, read_only,
//! is_default, is_sensitive]]` — v1 replaced `is_default` with the config
//! source and added synonyms; v0's flag is "the source is Kafka's default".

use bytes::Bytes;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::DescribeConfigsRequest;

use super::{header, i8, nullable_count, Answer};
use crate::broker::handler::sb;
use crate::broker::Broker;
use crate::config::ConfigSource;
use crate::protocol::reader::Reader;

pub(super) fn parse(payload: &[u8]) -> Result<(i32, DescribeConfigsRequest), String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let mut req = DescribeConfigsRequest::default();
    // The smallest resource: type, an empty name, a null key list.
    for _ in 0..r.count(7)? {
        let resource_type = i8(&mut r)?;
        let resource_name = r.str()?;
        let keys = match nullable_count(&mut r, 2)? {
            None => None,
            Some(n) => Some((0..n).map(|_| r.str().map(sb)).collect::<Result<Vec<_>, _>>()?),
        };
        req.resources.push(
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(resource_name))
                .with_configuration_keys(keys),
        );
    }
    Ok((correlation_id, req))
}

pub fn handle(
    broker: &Broker,
    authz: &crate::security::authorizer::Authz<'_>,
    payload: &[u8],
) -> Result<Bytes, String> {
    use crate::broker::handler::authorize;
    let (correlation_id, req) = parse(payload)?;
    let (req, denied) = authorize::describe_configs(authz, req);
    let resp = crate::broker::handler::describe_configs::handle(broker, req, 0);
    let resp = authorize::describe_configs_denied(resp, denied);
    let mut out = Answer::new(correlation_id);
    out.i32(0); // throttle_time_ms
    out.count(resp.results.len());
    for res in &resp.results {
        out.i16(res.error_code);
        out.nullable_str(res.error_message.as_deref());
        out.i8(res.resource_type);
        out.str(res.resource_name.as_str());
        out.count(res.configs.len());
        for c in &res.configs {
            out.str(c.name.as_str());
            out.nullable_str(c.value.as_deref());
            out.bool(c.read_only);
            out.bool(ConfigSource::from_code(c.config_source) == ConfigSource::DefaultConfig);
            out.bool(c.is_sensitive);
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
    fn parses_null_and_listed_keys_and_refuses_truncation() {
        let mut b = request(32, 0);
        b.put_i32(2);
        b.put_i8(2);
        str(&mut b, "t");
        b.put_i32(-1);
        b.put_i8(4);
        str(&mut b, "");
        b.put_i32(1);
        str(&mut b, "log.dirs");
        let (cid, req) = parse(&b).expect("parse");
        assert_eq!(cid, 9);
        assert_eq!(req.resources[0].resource_type, 2);
        assert_eq!(req.resources[0].configuration_keys, None);
        let keys = req.resources[1].configuration_keys.as_ref().expect("keys");
        assert_eq!(keys[0].as_str(), "log.dirs");
        assert!(!req.include_synonyms);
        assert_prefixes_refused(&b, parse);
    }
}
