//! DescribeConfigs (32): a topic's effective configs (overrides, inherited
//! broker values and defaults, each with its source) or this broker's
//! configs, with the dynamic broker configs applied and Kafka's synonyms
//! (DYNAMIC_TOPIC_CONFIG > DYNAMIC_BROKER_CONFIG > DYNAMIC_DEFAULT_BROKER_CONFIG >
//! STATIC_BROKER_CONFIG > DEFAULT_CONFIG). The cluster-wide default broker
//! resource (empty name) lists only what `/config/brokers/<default>` sets, as
//! Kafka does. `kafka-topics --describe`, `kafka-configs` and admin clients use it.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::sb;
use crate::broker::Broker;
use crate::config::topic::describe_topic;
use crate::config::ConfigEntry;
use crate::protocol::ErrorCode;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

pub fn handle(broker: &Broker, req: DescribeConfigsRequest, _version: i16) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let entries = match res.resource_type {
                TOPIC => match broker.metadata().topic(&name) {
                    Some(t) => Ok(describe_topic(&t.configs, &broker.effective_config())),
                    None => Err((ErrorCode::UnknownTopicOrPartition, format!("Topic '{name}' does not exist."))),
                },
                BROKER if name.is_empty() => Ok(broker.effective_config().describe_default()),
                BROKER if name == broker.node_id().to_string() => Ok(broker.effective_config().describe()),
                BROKER => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unexpected broker id, expected {} or empty string, but received {name}", broker.node_id()),
                )),
                other => Err((ErrorCode::InvalidRequest, format!("Unsupported resource type {other}"))),
            };
            match entries {
                Ok(entries) => {
                    let keys: Option<Vec<String>> =
                        res.configuration_keys.map(|k| k.iter().map(|s| s.to_string()).collect());
                    let configs = entries
                        .into_iter()
                        .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                        .map(|e| entry(e, req.include_synonyms))
                        .collect();
                    result.with_error_code(0).with_configs(configs)
                }
                Err((code, message)) => result.with_error_code(code.code()).with_error_message(Some(sb(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(e: ConfigEntry, include_synonyms: bool) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        e.synonyms
            .iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(sb(s.name.clone()))
                    .with_value(if e.sensitive { None } else { s.value.clone().map(sb) })
                    .with_source(s.source.code())
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(sb(e.name))
        .with_value(if e.sensitive { None } else { e.value.map(sb) })
        .with_read_only(e.read_only)
        .with_config_source(e.source.code())
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms)
}
