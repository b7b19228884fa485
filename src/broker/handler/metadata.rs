//! Metadata (3): brokers, the controller, and topics with their partitions.
//! Unknown topics are auto-created when `auto.create.topics.enable` is on and
//! the client allows it (v4+ carries the client's wish; older versions always
//! allow it, as in Kafka).
//!
//! Leader epochs are reported as -1 (unknown) until replication arrives:
//! clients then skip OffsetForLeaderEpoch validation, which we do not serve.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};

use super::{sb, topic_name};
use crate::broker::topics::NewTopic;
use crate::broker::Broker;
use crate::metadata::{validate_topic_name, TopicMetadata};
use crate::protocol::ErrorCode;

/// Kafka's internal topics (marked `is_internal`).
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

pub async fn handle(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let (host, port) = &broker.advertised;
    let brokers = vec![MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.node_id))
        .with_host(sb(host.clone()))
        .with_port(i32::from(*port))
        .with_rack(broker.config.broker_rack.clone().map(sb))];
    // v0: an empty list means all topics; v1+: null means all.
    let requested: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.into_iter().filter_map(|t| t.name.map(|n| n.0.to_string())).collect()),
    };
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    let mut topics = Vec::new();
    match requested {
        None => {
            for t in broker.metadata.topics() {
                topics.push(describe(broker, &t));
            }
        }
        Some(names) => {
            for name in names {
                let found = match broker.metadata.topic(&name) {
                    Some(t) => Ok(t),
                    None if allow_auto && broker.config.auto_create_topics_enable => auto_create(broker, &name).await,
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                };
                topics.push(match found {
                    Ok(t) => describe(broker, &t),
                    Err(code) => MetadataResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(Some(topic_name(name)))
                        .with_is_internal(false),
                });
            }
        }
    }
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(sb(broker.metadata.cluster_id())))
        .with_controller_id(BrokerId(broker.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(i32::MIN)
}

async fn auto_create(broker: &Broker, name: &str) -> Result<TopicMetadata, ErrorCode> {
    if validate_topic_name(name).is_err() {
        return Err(ErrorCode::InvalidTopicException);
    }
    let req = NewTopic { name: name.to_string(), partitions: -1, replication_factor: -1, ..NewTopic::default() };
    match broker.create_topic(req, false).await {
        Ok(t) => Ok(t),
        // Lost a race with another creator: fine, it exists now.
        Err(e) if e.code == ErrorCode::TopicAlreadyExists => {
            broker.metadata.topic(name).ok_or(ErrorCode::LeaderNotAvailable)
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e.message, "auto-creation failed");
            Err(e.code)
        }
    }
}

fn describe(broker: &Broker, t: &TopicMetadata) -> MetadataResponseTopic {
    let live = broker.live_brokers();
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(index, replicas)| {
            let leader = replicas.iter().copied().find(|r| live.contains(r));
            let isr: Vec<BrokerId> = replicas.iter().copied().filter(|r| live.contains(r)).map(BrokerId).collect();
            let offline: Vec<BrokerId> = replicas.iter().copied().filter(|r| !live.contains(r)).map(BrokerId).collect();
            MetadataResponsePartition::default()
                .with_error_code(if leader.is_some() { 0 } else { ErrorCode::LeaderNotAvailable.code() })
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                .with_leader_epoch(-1)
                .with_replica_nodes(replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(isr)
                .with_offline_replicas(offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(0)
        .with_name(Some(topic_name(t.name.clone())))
        .with_topic_id(t.topic_id)
        .with_is_internal(INTERNAL_TOPICS.contains(&t.name.as_str()))
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}
