//! FindCoordinator (10): v0–3 (v4's batched keys are answered too). A group's
//! coordinator is the leader of its `__consumer_offsets` partition, a
//! transactional id's (key type 1) the leader of its `__transaction_state`
//! partition. Each topic is created on first use, compacted, with its
//! configured partition count and replication factor (capped at the live
//! brokers): `offsets.topic.*` for groups, `transaction.state.log.*` for
//! transactions (whose min.insync.replicas is `transaction.state.log.min.isr`,
//! capped likewise). When this broker is the coordinator the answer waits
//! briefly for the partition to load, so the client's next request is not
//! told COORDINATOR_LOAD_IN_PROGRESS.

use crate::broker::listeners::{endpoint_for, ListenerContext};
use std::collections::BTreeMap;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;
use crate::broker::topics::NewTopic;
use crate::broker::Broker;
use crate::coordinator::records;
use crate::protocol::internal_topics::{OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC};
use crate::protocol::ErrorCode;

/// Node id, host, port, or the error.
type Found = Result<(i32, String, i32), ErrorCode>;

pub async fn handle(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
    listener: &ListenerContext,
) -> FindCoordinatorResponse {
    // The coordinator's endpoint on the listener the request came in on.
    let on_listener = |found: Found| -> Found {
        let (id, _, _) = found?;
        let info = broker.metadata().brokers().into_iter().find(|b| b.id == id);
        let own = (id == broker.node_id()).then(|| listener.advertised.clone());
        own.or_else(|| info.and_then(|b| endpoint_for(listener, broker.node_id(), &b)))
            .map(|(host, port)| (id, host, i32::from(port)))
            .ok_or(ErrorCode::CoordinatorNotAvailable)
    };
    let key_type = if version >= 1 { req.key_type } else { 0 };
    if version >= 4 {
        let mut coordinators = Vec::with_capacity(req.coordinator_keys.len());
        for key in req.coordinator_keys {
            let found = on_listener(find(broker, &key, key_type).await);
            let c = Coordinator::default().with_key(key);
            coordinators.push(match found {
                Ok((id, host, port)) => c.with_node_id(BrokerId(id)).with_host(sb(host)).with_port(port),
                Err(code) => c.with_node_id(BrokerId(-1)).with_port(-1).with_error_code(code.code()),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match on_listener(find(broker, &req.key, key_type).await) {
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
        1 => find_txn_coordinator(broker, key).await,
        _ => Err(ErrorCode::InvalidRequest),
    }
}

async fn find_group_coordinator(broker: &Broker, group: &str) -> Found {
    if group.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let topic = match broker.metadata().topic(OFFSETS_TOPIC) {
        Some(t) => t,
        None => create_offsets_topic(broker).await?,
    };
    let partition = records::partition_for(group, topic.partitions.len() as i32);
    let leader = leader_of(broker, OFFSETS_TOPIC, partition)?;
    if leader == broker.node_id() {
        // Answer once the group's partition is loaded here (bounded), so the
        // client's JoinGroup does not meet COORDINATOR_LOAD_IN_PROGRESS.
        broker.groups().wait_ready(group, std::time::Duration::from_secs(5)).await;
    }
    address_of(broker, leader)
}

async fn find_txn_coordinator(broker: &Broker, transactional_id: &str) -> Found {
    if transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let topic = match broker.metadata().topic(TRANSACTION_STATE_TOPIC) {
        Some(t) => t,
        None => create_transaction_state_topic(broker).await?,
    };
    let partition = crate::coordinator::txn::partition_for(transactional_id, topic.partitions.len() as i32);
    let leader = leader_of(broker, TRANSACTION_STATE_TOPIC, partition)?;
    if leader == broker.node_id() {
        broker.transactions().wait_ready(transactional_id, std::time::Duration::from_secs(5)).await;
    }
    address_of(broker, leader)
}

fn leader_of(broker: &Broker, topic: &str, partition: i32) -> Result<i32, ErrorCode> {
    broker
        .metadata()
        .partition_state(topic, partition)
        .map(|s| s.leader)
        .filter(|l| *l >= 0)
        .ok_or(ErrorCode::CoordinatorNotAvailable)
}

fn address_of(broker: &Broker, id: i32) -> Found {
    if id == broker.node_id() {
        return Ok((id, broker.advertised().0.clone(), i32::from(broker.advertised().1)));
    }
    broker
        .metadata()
        .brokers()
        .into_iter()
        .find(|b| b.id == id)
        .map(|b| (b.id, b.host, i32::from(b.port)))
        .ok_or(ErrorCode::CoordinatorNotAvailable)
}

/// What an internal topic is created with.
struct InternalTopic {
    name: &'static str,
    partitions: i32,
    replication_factor: i16,
    min_isr: Option<u32>,
    segment_bytes: u32,
}

async fn create_offsets_topic(broker: &Broker) -> Result<crate::metadata::TopicMetadata, ErrorCode> {
    let cfg = broker.config();
    create_internal_topic(
        broker,
        InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: cfg.offsets_topic_num_partitions,
            replication_factor: cfg.offsets_topic_replication_factor,
            min_isr: None,
            segment_bytes: cfg.offsets_topic_segment_bytes,
        },
    )
    .await
}

async fn create_transaction_state_topic(broker: &Broker) -> Result<crate::metadata::TopicMetadata, ErrorCode> {
    let cfg = broker.config();
    create_internal_topic(
        broker,
        InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: cfg.transaction_state_log_num_partitions,
            replication_factor: cfg.transaction_state_log_replication_factor,
            min_isr: Some(cfg.transaction_state_log_min_isr),
            segment_bytes: cfg.transaction_state_log_segment_bytes,
        },
    )
    .await
}

async fn create_internal_topic(
    broker: &Broker,
    topic: InternalTopic,
) -> Result<crate::metadata::TopicMetadata, ErrorCode> {
    let name = topic.name;
    let live = broker.live_brokers().len().max(1);
    let rf = usize::try_from(topic.replication_factor).unwrap_or(1).clamp(1, live);
    let mut configs = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
        ("segment.bytes".to_string(), topic.segment_bytes.to_string()),
    ]);
    if let Some(min_isr) = topic.min_isr {
        // Capped like the replication factor, or no append could commit.
        let min_isr = (min_isr as usize).clamp(1, rf);
        configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
    }
    let request = NewTopic {
        name: name.to_string(),
        partitions: topic.partitions.max(1),
        replication_factor: rf as i16,
        assignments: BTreeMap::new(),
        configs,
    };
    match broker.create_topic(request, false, std::time::Duration::from_secs(30)).await {
        Ok(created) => {
            tracing::info!(partitions = created.partitions.len(), replication_factor = rf, "created {name}");
            Ok(created)
        }
        Err(e) if e.code == ErrorCode::TopicAlreadyExists => {
            broker.metadata().topic(name).ok_or(ErrorCode::CoordinatorNotAvailable)
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot create {name}");
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}
