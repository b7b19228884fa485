//! ListPartitionReassignments (46, KIP-455): the ongoing reassignments as
//! the topic znodes record them (replica set, adding and removing replicas),
//! from this broker's metadata cache. With a topic list, only those
//! partitions are answered, and only those being reassigned, as Kafka does.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};

use super::topic_name;
use crate::metadata::MetadataStore;

pub fn handle(metadata: &MetadataStore, req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
    let wanted: Option<BTreeSet<(String, i32)>> = req.topics.map(|topics| {
        topics.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.0.to_string(), *p))).collect()
    });
    let ids = |l: Vec<i32>| l.into_iter().map(BrokerId).collect::<Vec<_>>();
    let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
    for ((topic, p), r) in metadata.reassignments() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&(topic.clone(), p))) {
            continue;
        }
        by_topic.entry(topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(p)
                .with_replicas(ids(r.replicas))
                .with_adding_replicas(ids(r.adding))
                .with_removing_replicas(ids(r.removing)),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            OngoingTopicReassignment::default().with_name(topic_name(name)).with_partitions(partitions)
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
