//! FindCoordinator (10): v0–3 (v4's batched keys are answered too). A group's
//! coordinator is the leader of its `__consumer_offsets` partition; the topic
//! is created on first use with `offsets.topic.num.partitions` partitions
//! and `offsets.topic.replication.factor` replicas (capped at the live
//! brokers), compacted. Transaction keys are answered with this broker, as
//! before (transactions are refused by InitProducerId).

use std::collections::BTreeMap;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;
use crate::broker::topics::NewTopic;
use crate::broker::Broker;
use crate::coordinator::records;
use crate::protocol::internal_topics::OFFSETS_TOPIC;
use crate::protocol::ErrorCode;

/// Node id, host, port, or the error.
type Found = Result<(i32, String, i32), ErrorCode>;

pub async fn handle(broker: &Broker, req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let key_type = if version >= 1 { req.key_type } else { 0 };
    if version >= 4 {
        let mut coordinators = Vec::with_capacity(req.coordinator_keys.len());
        for key in req.coordinator_keys {
            let found = find(broker, &key, key_type).await;
            let c = Coordinator::default().with_key(key);
            coordinators.push(match found {
                Ok((id, host, port)) => c.with_node_id(BrokerId(id)).with_host(sb(host)).with_port(port),
                Err(code) => c.with_node_id(BrokerId(-1)).with_port(-1).with_error_code(code.code()),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match find(broker, &req.key, key_type).await {
        Ok((id, host, port)) => {
            FindCoordinatorResponse::default().with_node_id(BrokerId(id)).with_host(sb(host)).with_port(port)
        }
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code.code())
            .with_node_id(BrokerId(-1))
            .with_host(sb(""))
            .with_port(-1),
    }
}

async fn find(broker: &Broker, key: &str, key_type: i8) -> Found {
    match key_type {
        0 => find_group_coordinator(broker, key).await,
        1 => Ok((broker.node_id, broker.advertised.0.clone(), i32::from(broker.advertised.1))),
        _ => Err(ErrorCode::InvalidRequest),
    }
}

async fn find_group_coordinator(broker: &Broker, group: &str) -> Found {
    if group.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let topic = match broker.metadata.topic(OFFSETS_TOPIC) {
        Some(t) => t,
        None => create_offsets_topic(broker).await?,
    };
    let partition = records::partition_for(group, topic.partitions.len() as i32);
    let leader = broker
        .metadata
        .partition_state(OFFSETS_TOPIC, partition)
        .map(|s| s.leader)
        .filter(|l| *l >= 0)
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    if leader == broker.node_id {
        // Answer once the group's partition is loaded here (bounded), so the
        // client's JoinGroup does not meet COORDINATOR_LOAD_IN_PROGRESS.
        broker.coordinator.wait_ready(group, std::time::Duration::from_secs(5)).await;
        return Ok((leader, broker.advertised.0.clone(), i32::from(broker.advertised.1)));
    }
    broker
        .metadata
        .brokers()
        .into_iter()
        .find(|b| b.id == leader)
        .map(|b| (b.id, b.host, i32::from(b.port)))
        .ok_or(ErrorCode::CoordinatorNotAvailable)
}

async fn create_offsets_topic(broker: &Broker) -> Result<crate::metadata::TopicMetadata, ErrorCode> {
    let cfg = &broker.config;
    let live = broker.live_brokers().len().max(1);
    let rf = usize::try_from(cfg.offsets_topic_replication_factor).unwrap_or(1).clamp(1, live);
    let configs = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
        ("segment.bytes".to_string(), cfg.offsets_topic_segment_bytes.to_string()),
    ]);
    let request = NewTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: cfg.offsets_topic_num_partitions.max(1),
        replication_factor: rf as i16,
        assignments: BTreeMap::new(),
        configs,
    };
    match broker.create_topic(request, false, std::time::Duration::from_secs(30)).await {
        Ok(topic) => {
            tracing::info!(partitions = topic.partitions.len(), replication_factor = rf, "created {OFFSETS_TOPIC}");
            Ok(topic)
        }
        Err(e) if e.code == ErrorCode::TopicAlreadyExists => {
            broker.metadata.topic(OFFSETS_TOPIC).ok_or(ErrorCode::CoordinatorNotAvailable)
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot create {OFFSETS_TOPIC}");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}
