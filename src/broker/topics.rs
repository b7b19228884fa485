//! Topic administration shared by CreateTopics, DeleteTopics,
//! CreatePartitions and Metadata's auto-creation: checks, replica assignment,
//! the change in ZooKeeper, then a bounded wait until the controller and this
//! broker have acted on it (partition states written, local logs created or
//! deleted), so that a client can use the result as soon as it is answered.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Broker, BrokerError};
use crate::config::topic::validate_topic_configs;
use crate::metadata::{validate_topic_name, MetadataError, TopicMetadata};
use crate::protocol::ErrorCode;

/// A refused admin operation: the Kafka error and a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminError {
    pub code: ErrorCode,
    pub message: String,
}

impl AdminError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AdminError {
        AdminError { code, message: message.into() }
    }
}

impl From<BrokerError> for AdminError {
    fn from(err: BrokerError) -> AdminError {
        tracing::error!(%err, "topic administration failed");
        AdminError::new(ErrorCode::KafkaStorageError, err.to_string())
    }
}

impl From<MetadataError> for AdminError {
    fn from(err: MetadataError) -> AdminError {
        match err {
            MetadataError::TopicExists(name) => {
                AdminError::new(ErrorCode::TopicAlreadyExists, format!("Topic '{name}' already exists."))
            }
            MetadataError::UnknownTopic(name) => AdminError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("This server does not host this topic-partition: {name}"),
            ),

            other => {
                tracing::error!(err = %other, "metadata update failed");
                AdminError::new(ErrorCode::UnknownServerError, other.to_string())
            }
        }
    }
}

/// What a topic creation asks for.
#[derive(Clone, Debug, Default)]
pub struct NewTopic {
    pub name: String,
    /// -1 = num.partitions.
    pub partitions: i32,
    /// -1 = default.replication.factor.
    pub replication_factor: i16,
    /// Explicit replica assignment, partition index → brokers (empty = automatic).
    pub assignments: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

pub use crate::metadata::assignment::assign_replicas;
use crate::metadata::assignment::random_index;

impl Broker {
    /// Validates and (unless `validate_only`) creates a topic, then waits (at
    /// most `timeout`) until every partition has a leader and this broker's
    /// replicas exist locally.
    pub async fn create_topic(
        &self,
        req: NewTopic,
        validate_only: bool,
        timeout: Duration,
    ) -> Result<TopicMetadata, AdminError> {
        validate_topic_name(&req.name).map_err(|m| AdminError::new(ErrorCode::InvalidTopicException, m))?;
        let _guard = self.topic_admin.lock().await;
        if self.metadata.topic(&req.name).is_some() {
            return Err(AdminError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", req.name),
            ));
        }
        // Names only, and only for a name that can collide: the view's keys,
        // not every topic's metadata built for the comparison.
        let colliding = if crate::metadata::has_collision_chars(&req.name) {
            let view = self.metadata.view();
            crate::metadata::colliding_topics(&req.name, view.topics.keys().map(String::as_str))
        } else {
            Vec::new()
        };
        if !colliding.is_empty() {
            return Err(AdminError::new(
                ErrorCode::InvalidTopicException,
                crate::metadata::collision_message(&req.name, &colliding),
            ));
        }
        validate_topic_configs(&req.configs).map_err(|e| AdminError::new(ErrorCode::InvalidConfig, e.to_string()))?;
        let live = self.metadata.registered_brokers().await;
        let partitions = if req.assignments.is_empty() {
            let count = if req.partitions == -1 { self.config.num_partitions } else { req.partitions };
            if count <= 0 {
                return Err(AdminError::new(
                    ErrorCode::InvalidPartitions,
                    "Number of partitions must be larger than 0.",
                ));
            }
            let rf = if req.replication_factor == -1 {
                i32::from(self.config.default_replication_factor)
            } else {
                i32::from(req.replication_factor)
            };
            if rf <= 0 {
                return Err(AdminError::new(
                    ErrorCode::InvalidReplicationFactor,
                    "Replication factor must be larger than 0.",
                ));
            }
            if rf as usize > live.len() {
                return Err(AdminError::new(
                    ErrorCode::InvalidReplicationFactor,
                    format!("Replication factor: {rf} larger than available brokers: {}.", live.len()),
                ));
            }
            let start = random_index(live.len());
            assign_replicas(&live, count as usize, rf as usize, start, random_index(live.len()), 0)
        } else {
            if req.partitions != -1 || req.replication_factor != -1 {
                return Err(AdminError::new(
                    ErrorCode::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                ));
            }
            let expected: Vec<i32> = (0..req.assignments.len() as i32).collect();
            if req.assignments.keys().copied().collect::<Vec<_>>() != expected {
                return Err(AdminError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    "Partitions should be a consecutive 0-based integer sequence",
                ));
            }
            let parts: Vec<Vec<i32>> = req.assignments.values().cloned().collect();
            check_assignment(&parts, &live)?;
            parts
        };
        let topic = TopicMetadata { name: req.name, topic_id: uuid::Uuid::new_v4(), partitions, configs: req.configs };
        if validate_only {
            return Ok(topic);
        }
        self.metadata.create_topic(topic.clone()).await?;
        tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), "created topic");
        if !self.wait_topic_ready(&topic, timeout).await {
            return Err(AdminError::new(
                ErrorCode::RequestTimedOut,
                format!("Topic '{}' was created but its partitions were not ready within {timeout:?}.", topic.name),
            ));
        }
        Ok(topic)
    }

    /// Waits until the topic (with this id) has a state for every partition
    /// and this broker has opened its replicas.
    pub(crate) async fn wait_topic_ready(&self, topic: &TopicMetadata, timeout: Duration) -> bool {
        let name = topic.name.as_str();
        let count = topic.partitions.len();
        self.wait_synced(timeout, |b| {
            let view = b.metadata().view();
            let Some(entry) = view.topics.get(name) else { return false };
            if entry.topic_id.is_some_and(|id| id != topic.topic_id) || entry.partitions.len() < count {
                return false;
            }
            // Every partition has a leader, and this broker's replicas exist
            // locally and know whether they lead.
            view.has_all_states(name)
                && entry.partitions.iter().enumerate().all(|(p, replicas)| {
                    let p = p as i32;
                    let leads = view.state(name, p).is_some_and(|s| s.leader == b.node_id());
                    !replicas.contains(&b.node_id())
                        || b.replicas().partition(name, p).is_some_and(|hosted| hosted.is_leader() == leads)
                })
        })
        .await
    }

    /// Requests a topic's deletion and waits (at most `timeout`) until the
    /// controller deleted it and this broker removed its logs.
    pub async fn delete_topic(&self, name: &str, timeout: Duration) -> Result<TopicMetadata, AdminError> {
        if !self.config.delete_topic_enable {
            return Err(AdminError::new(ErrorCode::TopicDeletionDisabled, "Topic deletion is disabled."));
        }
        let _guard = self.topic_admin.lock().await;
        let topic = self.metadata.delete_topic(name).await?;
        let deleted = self
            .wait_synced(timeout, |b| {
                let present = b
                    .metadata()
                    .view()
                    .topics
                    .get(name)
                    .is_some_and(|t| t.topic_id.unwrap_or(topic.topic_id) == topic.topic_id);
                !present && b.replicas().all_partitions().iter().all(|p| p.tp.topic != name)
            })
            .await;
        if !deleted {
            return Err(AdminError::new(
                ErrorCode::RequestTimedOut,
                format!("Deletion of topic '{name}' was requested but did not complete within {timeout:?}."),
            ));
        }
        tracing::info!(topic = %name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
        timeout: Duration,
    ) -> Result<TopicMetadata, AdminError> {
        let _guard = self.topic_admin.lock().await;
        let topic = self.metadata.topic(name).ok_or_else(|| {
            AdminError::new(ErrorCode::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))
        })?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            let message = if count == current {
                format!("Topic already has {current} partitions.")
            } else {
                format!("Topic currently has {current} partitions, which is higher than the requested {count}.")
            };
            return Err(AdminError::new(ErrorCode::InvalidPartitions, message));
        }
        let live = self.metadata.registered_brokers().await;
        let added = (count - current) as usize;
        let new_parts = match assignments {
            Some(a) => {
                if a.len() != added {
                    return Err(AdminError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        format!("Increasing the number of partitions by {added} but {} assignments provided.", a.len()),
                    ));
                }
                check_assignment(&a, &live)?;
                a
            }
            None => {
                let rf = topic.replication_factor().max(1);
                if rf > live.len() {
                    return Err(AdminError::new(
                        ErrorCode::InvalidReplicationFactor,
                        format!("Replication factor: {rf} larger than available brokers: {}.", live.len()),
                    ));
                }
                assign_replicas(&live, added, rf, random_index(live.len()), random_index(live.len()), current as usize)
            }
        };
        if validate_only {
            let mut t = topic;
            t.partitions.extend(new_parts);
            return Ok(t);
        }
        let updated = self.metadata.add_partitions(name, new_parts).await?;
        if !self.wait_topic_ready(&updated, timeout).await {
            return Err(AdminError::new(
                ErrorCode::RequestTimedOut,
                format!("Partitions of '{name}' were added but were not ready within {timeout:?}."),
            ));
        }
        Ok(updated)
    }
}

fn check_assignment(parts: &[Vec<i32>], live: &[i32]) -> Result<(), AdminError> {
    crate::metadata::assignment::check_assignment(parts, live)
        .map_err(|m| AdminError::new(ErrorCode::InvalidReplicaAssignment, m))
}
