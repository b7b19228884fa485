//! [`Admin::alter_partition_reassignments`] and
//! [`Admin::list_partition_reassignments`] (KIP-455): start, retarget and
//! cancel partition reassignments and list the ongoing ones. Sent to the
//! controller as Kafka's admin client does (any broker of ours would serve
//! them), retried on NOT_CONTROLLER and network errors.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::{timeout_ms, Admin};
use super::ClientError;

/// An ongoing reassignment of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The whole replica set while moving (target first, then the replicas leaving).
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// One partition's outcome of an alteration (`None`: accepted).
#[derive(Debug, Clone)]
pub struct ReassignmentResult {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ClientError>,
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

impl Admin {
    /// Starts (`Some(target replicas)`) or cancels (`None`) reassignments.
    /// Results come per partition, sorted by topic and partition.
    pub async fn alter_partition_reassignments(
        &self,
        changes: &BTreeMap<(String, i32), Option<Vec<i32>>>,
    ) -> Result<Vec<ReassignmentResult>, ClientError> {
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for ((t, p), target) in changes {
            by_topic.entry(t.as_str()).or_default().push(
                ReassignablePartition::default()
                    .with_partition_index(*p)
                    .with_replicas(target.as_ref().map(|r| r.iter().copied().map(BrokerId).collect())),
            );
        }
        let topics: Vec<ReassignableTopic> = by_topic
            .into_iter()
            .map(|(t, parts)| ReassignableTopic::default().with_name(topic_name(t)).with_partitions(parts))
            .collect();
        // Leave the broker time to answer before our own request timeout fires.
        let total = timeout_ms(&self.cluster);
        let req = AlterPartitionReassignmentsRequest::default().with_timeout_ms(total - total / 5).with_topics(topics);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::AlterPartitionReassignments)?;
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || {
                    "alter partition reassignments".to_string()
                })?;
                let mut results = Vec::new();
                for topic in resp.responses {
                    let name = topic.name.0.to_string();
                    for p in topic.partitions {
                        let context = format!("partition {name}-{}", p.partition_index);
                        let error = ClientError::check(p.error_code, p.error_message.as_ref(), move || context).err();
                        results.push(ReassignmentResult { topic: name.clone(), partition: p.partition_index, error });
                    }
                }
                results.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                Ok(results)
            })
            .await
    }

    /// The ongoing reassignments (`None`: all of them; else only those of the
    /// listed partitions that are moving).
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<BTreeMap<(String, i32), PartitionReassignment>, ClientError> {
        let topics = partitions.map(|parts| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in parts {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    ListPartitionReassignmentsTopics::default().with_name(topic_name(t)).with_partition_indexes(ps)
                })
                .collect::<Vec<_>>()
        });
        let total = timeout_ms(&self.cluster);
        let req = ListPartitionReassignmentsRequest::default().with_timeout_ms(total - total / 5).with_topics(topics);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::ListPartitionReassignments)?;
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || {
                    "list partition reassignments".to_string()
                })?;
                let ids = |l: Vec<BrokerId>| l.into_iter().map(|b| b.0).collect::<Vec<i32>>();
                let mut out = BTreeMap::new();
                for topic in resp.topics {
                    for p in topic.partitions {
                        out.insert(
                            (topic.name.0.to_string(), p.partition_index),
                            PartitionReassignment {
                                replicas: ids(p.replicas),
                                adding: ids(p.adding_replicas),
                                removing: ids(p.removing_replicas),
                            },
                        );
                    }
                }
                Ok(out)
            })
            .await
    }
}
