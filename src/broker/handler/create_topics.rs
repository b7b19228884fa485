//! CreateTopics (19): partitions and replication factor (or an explicit
//! assignment), topic configs, validate_only, and Kafka's topic-name rules.
//! v5 answers also carry the resulting partition count, replication factor
//! and effective configs.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::sb;
use crate::broker::topics::NewTopic;
use crate::broker::Broker;
use crate::config::topic::describe_topic;

pub async fn handle(broker: &Broker, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let timeout = super::admin_timeout(req.timeout_ms);
    let mut results = Vec::with_capacity(req.topics.len());
    let mut seen = std::collections::HashSet::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if !seen.insert(name.clone()) {
            results.push(result.with_error_code(crate::protocol::ErrorCode::InvalidRequest.code()).with_error_message(
                Some(sb(format!("Create topics request from client contains multiple entries for topic {name}"))),
            ));
            continue;
        }
        let configs: BTreeMap<String, String> =
            t.configs.iter().filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string()))).collect();
        let assignments =
            t.assignments.iter().map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect())).collect();
        let new_topic = NewTopic {
            name: name.clone(),
            partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments,
            configs,
        };
        match broker.create_topic(new_topic, req.validate_only, timeout).await {
            Ok(topic) => {
                let mut r = result
                    .with_error_code(0)
                    .with_num_partitions(topic.partitions.len() as i32)
                    .with_replication_factor(topic.replication_factor() as i16);
                if !req.validate_only {
                    r = r.with_topic_id(topic.topic_id);
                }
                if version >= 5 {
                    let entries = describe_topic(&topic.configs, &broker.effective_config())
                        .into_iter()
                        .map(|e| {
                            CreatableTopicConfigs::default()
                                .with_name(sb(e.name))
                                .with_value(e.value.map(sb))
                                .with_read_only(e.read_only)
                                .with_config_source(e.source.code())
                                .with_is_sensitive(e.sensitive)
                        })
                        .collect();
                    r = r.with_configs(Some(entries));
                }
                results.push(r);
            }
            Err(e) => {
                results.push(result.with_error_code(e.code.code()).with_error_message(Some(sb(e.message))));
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
