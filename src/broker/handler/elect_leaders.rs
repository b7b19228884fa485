//! ElectLeaders (43): preferred (0) and unclean (1, v1+) leader elections,
//! the ZooKeeper-mode way. Whatever broker receives the request checks each
//! partition against its metadata cache, hands the ones that need and allow
//! an election to the controller in one request znode, waits (bounded by the
//! request's timeout) until the controller removed it, and reports what the
//! partition states then say.
//!
//! Per partition, as Kafka answers: ELECTION_NOT_NEEDED when the preferred
//! replica leads already (preferred) or a live leader exists (unclean);
//! PREFERRED_LEADER_NOT_AVAILABLE when the preferred replica is not live or
//! not in the ISR; ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live;
//! UNKNOWN_TOPIC_OR_PARTITION; REQUEST_TIMED_OUT when the controller did not
//! act in time. With no partition list (all partitions), partitions that need
//! no election are left out of the answer, as Kafka does.

use std::collections::BTreeMap;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{sb, topic_name};
use crate::metadata::{ClusterView, ElectionType, MetadataError, MetadataStore, PartitionState};
use crate::protocol::ErrorCode;

/// One partition's answer: `None` = elected.
type Outcome = Option<(ErrorCode, String)>;

pub async fn handle(metadata: &MetadataStore, req: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    let all = req.topic_partitions.is_none();
    let mut wanted: Vec<(String, i32)> = match &req.topic_partitions {
        Some(topics) => {
            topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect()
        }
        None => {
            let view = metadata.view();
            view.topics
                .iter()
                .filter(|(name, _)| !view.delete_requests.contains(*name))
                .flat_map(|(name, t)| (0..t.partitions.len() as i32).map(move |p| (name.clone(), p)))
                .collect()
        }
    };
    wanted.sort();
    wanted.dedup();

    // v0 has no election type: it is always a preferred election.
    let kind = if version >= 1 { ElectionType::from_wire(req.election_type) } else { Some(ElectionType::Preferred) };
    let Some(kind) = kind else {
        let message = format!("Unknown election type {}", req.election_type);
        let outcomes = wanted.into_iter().map(|tp| (tp, Some((ErrorCode::InvalidRequest, message.clone())))).collect();
        return response(outcomes, ErrorCode::InvalidRequest.code());
    };

    let mut outcomes: BTreeMap<(String, i32), Outcome> = BTreeMap::new();
    let mut candidates = Vec::new();
    {
        let view = metadata.view();
        for tp in wanted {
            match check(&view, kind, &tp.0, tp.1) {
                Ok(()) => candidates.push(tp),
                Err(e) => {
                    if !(all && e.0 == ErrorCode::ElectionNotNeeded) {
                        outcomes.insert(tp, Some(e));
                    }
                }
            }
        }
    }

    if !candidates.is_empty() {
        let timeout = super::admin_timeout(req.timeout_ms);
        match metadata.elect_leaders(kind, &candidates, timeout).await {
            Ok(states) => {
                let view = metadata.view();
                for (tp, state) in candidates.into_iter().zip(states) {
                    let outcome = judge(&view, kind, &tp.0, tp.1, state.as_ref());
                    outcomes.insert(tp, outcome);
                }
            }
            Err(e) => {
                let code = match e {
                    MetadataError::Timeout(_) => ErrorCode::RequestTimedOut,
                    _ => {
                        tracing::warn!(error = %e, "leader election request failed");
                        ErrorCode::UnknownServerError
                    }
                };
                let message = e.to_string();
                for tp in candidates {
                    outcomes.insert(tp, Some((code, message.clone())));
                }
            }
        }
    }
    response(outcomes, 0)
}

/// Whether a partition needs and allows an election of this kind, from the cache.
fn check(view: &ClusterView, kind: ElectionType, topic: &str, partition: i32) -> Result<(), (ErrorCode, String)> {
    let replicas = view
        .topics
        .get(topic)
        .and_then(|t| usize::try_from(partition).ok().and_then(|p| t.partitions.get(p)))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| (ErrorCode::UnknownTopicOrPartition, "The partition does not exist.".to_string()))?;
    let Some(state) = view.state(topic, partition) else {
        return Err((
            ErrorCode::LeaderNotAvailable,
            format!("Partition {topic}-{partition} has no leader and ISR yet"),
        ));
    };
    match kind {
        ElectionType::Preferred => {
            let preferred = replicas[0];
            if state.leader == preferred {
                return Err(not_needed());
            }
            preferred_available(view, topic, partition, preferred, state)
        }
        ElectionType::Unclean => {
            if state.leader >= 0 && view.is_live(state.leader) {
                return Err(not_needed());
            }
            if !replicas.iter().any(|r| view.is_live(*r)) {
                return Err(no_eligible(topic, partition));
            }
            Ok(())
        }
    }
}

/// What the controller's outcome means for one partition.
fn judge(
    view: &ClusterView,
    kind: ElectionType,
    topic: &str,
    partition: i32,
    state: Option<&PartitionState>,
) -> Outcome {
    let Some(state) = state else {
        return Some((ErrorCode::UnknownTopicOrPartition, "The partition does not exist.".to_string()));
    };
    let replicas =
        view.topics.get(topic).and_then(|t| usize::try_from(partition).ok().and_then(|p| t.partitions.get(p)));
    match kind {
        ElectionType::Preferred => {
            let preferred = replicas.and_then(|r| r.first().copied()).unwrap_or(-1);
            if state.leader == preferred {
                return None;
            }
            // The controller found it unfit in the meantime (or it died).
            Some(preferred_available(view, topic, partition, preferred, state).err().unwrap_or_else(|| {
                (
                    ErrorCode::PreferredLeaderNotAvailable,
                    format!(
                        "Failed to elect the preferred replica {preferred} as leader of partition {topic}-{partition}"
                    ),
                )
            }))
        }
        ElectionType::Unclean => {
            if state.leader >= 0 {
                None
            } else {
                Some(no_eligible(topic, partition))
            }
        }
    }
}

fn preferred_available(
    view: &ClusterView,
    topic: &str,
    partition: i32,
    preferred: i32,
    state: &PartitionState,
) -> Result<(), (ErrorCode, String)> {
    let why = if !view.is_live(preferred) {
        "is not alive"
    } else if !state.isr.contains(&preferred) {
        "is not in the ISR"
    } else {
        return Ok(());
    };
    Err((
        ErrorCode::PreferredLeaderNotAvailable,
        format!("Failed to elect leader for partition {topic}-{partition}: the preferred replica {preferred} {why}"),
    ))
}

fn not_needed() -> (ErrorCode, String) {
    (ErrorCode::ElectionNotNeeded, "Leader election not needed for topic partition.".to_string())
}

fn no_eligible(topic: &str, partition: i32) -> (ErrorCode, String) {
    (
        ErrorCode::EligibleLeadersNotAvailable,
        format!("Failed to elect leader for partition {topic}-{partition}: no replica is alive"),
    )
}

fn response(outcomes: BTreeMap<(String, i32), Outcome>, error_code: i16) -> ElectLeadersResponse {
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), outcome) in outcomes {
        let result = match outcome {
            None => PartitionResult::default().with_partition_id(partition).with_error_code(0).with_error_message(None),
            Some((code, message)) => PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code.code())
                .with_error_message(Some(sb(message))),
        };
        by_topic.entry(topic).or_default().push(result);
    }
    let results = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            ReplicaElectionResult::default().with_topic(topic_name(topic)).with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_error_code(error_code).with_replica_election_results(results)
}
