//! Metadata (3): brokers (registered under `/brokers/ids`; each with its endpoint on
//! the listener the request came in on, Kafka's rule), the controller
//! (`/controller`), and topics with their partitions: replicas from the
//! assignment, leader and ISR from the partition state znodes. Unknown topics
//! are auto-created when `auto.create.topics.enable` is on and the client
//! allows it (v4+ carries the client's wish; older versions always allow it,
//! as in Kafka).
//!
//! With an authorizer (§4.4 of the security design, Kafka's rules): a named
//! topic the client may not Describe is TOPIC_AUTHORIZATION_FAILED whether
//! or not it exists, an all-topics request leaves such topics out, and
//! auto-creation needs Cluster:Create or Topic:Create. Authorized-operation
//! bitfields are filled when asked for.
//!
//! Leader epochs are the state znodes' (−1 before a partition has a state);
//! clients validate their positions with OffsetForLeaderEpoch after a leader
//! change.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use std::time::Duration;

use super::{sb, topic_name};
use crate::broker::listeners::{endpoint_for, ListenerContext};
use crate::broker::topics::NewTopic;
use crate::broker::Broker;
use crate::metadata::{validate_topic_name, ClusterView, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::{Authz, OPERATIONS_NOT_REQUESTED};

/// How long an auto-created topic may take to get its leaders before the
/// answer goes out anyway (then with LEADER_NOT_AVAILABLE, which clients retry).
const AUTO_CREATE_WAIT: Duration = Duration::from_secs(5);

pub async fn handle(
    broker: &Broker,
    authz: &Authz<'_>,
    req: MetadataRequest,
    version: i16,
    listener: &ListenerContext,
) -> MetadataResponse {
    // v0: an empty list means all topics; v1+: null means all.
    let requested: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.into_iter().filter_map(|t| t.name.map(|n| n.0.to_string())).collect()),
    };
    let allow_auto = version < 4 || req.allow_auto_topic_creation;
    // Auto-creation first (it waits), then one consistent read of the cache.
    let mut found: Vec<(String, Result<(), ErrorCode>)> = Vec::new();
    if let Some(names) = &requested {
        for name in names {
            // Kafka: an undescribable topic is TOPIC_AUTHORIZATION_FAILED whether
            // it exists or not; auto-creation needs Cluster:Create or Topic:Create.
            let result = match broker.metadata().topic(name) {
                _ if !authz.topic(AclOperation::Describe, name) => Err(ErrorCode::TopicAuthorizationFailed),
                Some(_) => Ok(()),
                None if allow_auto && broker.config().auto_create_topics_enable => {
                    if authz.cluster(AclOperation::Create) || authz.topic(AclOperation::Create, name) {
                        auto_create(broker, name).await
                    } else {
                        Err(ErrorCode::TopicAuthorizationFailed)
                    }
                }
                None => Err(ErrorCode::UnknownTopicOrPartition),
            };
            found.push((name.clone(), result));
        }
    }
    let topic_operations = version >= 8 && req.include_topic_authorized_operations;
    let cluster_operations = if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        if authz.cluster(AclOperation::Describe) {
            authz.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            0
        }
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let with_operations = |t: MetadataResponseTopic| {
        if !topic_operations {
            return t;
        }
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        t.with_topic_authorized_operations(authz.authorized_operations(ResourceType::Topic, &name))
    };
    let view = broker.metadata().view();
    // Each broker's endpoint on the listener this request came in on; brokers without
    // that listener are left out, as in Kafka.
    let brokers = view
        .brokers
        .values()
        .filter_map(|b| {
            let (host, port) = endpoint_for(listener, broker.node_id(), b)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(sb(host))
                    .with_port(i32::from(port))
                    .with_rack(b.rack.clone().map(sb)),
            )
        })
        .collect();
    let mut topics = Vec::new();
    match requested {
        None => {
            for name in view.topics.keys() {
                // Undescribable topics are left out of an all-topics answer.
                if !authz.topic(AclOperation::Describe, name) {
                    continue;
                }
                if let Some(t) = view.topic(name) {
                    topics.push(with_operations(describe(&view, &t)));
                }
            }
        }
        Some(_) => {
            for (name, result) in found {
                let described = result.and_then(|()| view.topic(&name).ok_or(ErrorCode::UnknownTopicOrPartition));
                topics.push(match described {
                    Ok(t) => with_operations(describe(&view, &t)),
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
        .with_cluster_id(Some(sb(view.cluster_id.clone())))
        .with_controller_id(BrokerId(view.controller.unwrap_or(-1)))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

async fn auto_create(broker: &Broker, name: &str) -> Result<(), ErrorCode> {
    if validate_topic_name(name).is_err() {
        return Err(ErrorCode::InvalidTopicException);
    }
    let req = NewTopic { name: name.to_string(), partitions: -1, replication_factor: -1, ..NewTopic::default() };
    match broker.create_topic(req, false, AUTO_CREATE_WAIT).await {
        Ok(_) => Ok(()),
        // Lost a race with another creator, or still settling: it exists; the
        // partitions show their state (or LEADER_NOT_AVAILABLE) as they are.
        Err(e) if e.code == ErrorCode::TopicAlreadyExists || e.code == ErrorCode::RequestTimedOut => {
            broker.metadata().topic(name).map(|_| ()).ok_or(ErrorCode::LeaderNotAvailable)
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e.message, "auto-creation failed");
            Err(e.code)
        }
    }
}

fn describe(view: &ClusterView, t: &TopicMetadata) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(index, replicas)| {
            let state = view.state(&t.name, index as i32);
            let leader = state.map(|s| s.leader).filter(|l| *l >= 0 && view.is_live(*l));
            let isr: Vec<BrokerId> = state.map(|s| s.isr.iter().copied().map(BrokerId).collect()).unwrap_or_default();
            let offline: Vec<BrokerId> = replicas.iter().copied().filter(|r| !view.is_live(*r)).map(BrokerId).collect();
            MetadataResponsePartition::default()
                .with_error_code(if leader.is_some() { 0 } else { ErrorCode::LeaderNotAvailable.code() })
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                .with_leader_epoch(state.map_or(-1, |s| s.leader_epoch))
                .with_replica_nodes(replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(isr)
                .with_offline_replicas(offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(0)
        .with_name(Some(topic_name(t.name.clone())))
        .with_topic_id(t.topic_id)
        .with_is_internal(crate::protocol::internal_topics::is_internal(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}
