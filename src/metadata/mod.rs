//! Cluster metadata in ZooKeeper, in Kafka 2.x's znode layout: broker
//! registrations, topics with their assignments, ids and config overrides,
//! partition states, the controller and its epoch, the cluster id and
//! producer-id blocks.
//!
//! The broker reads and changes cluster metadata only through
//! [`MetadataStore`]. Reads are served from a cache that watches keep current;
//! writes go to ZooKeeper, and their effects come back through the same
//! watches, so a change made by another broker or an external tool is seen
//! exactly like one made here.
//!
//! # What lives where
//! - `znode.rs`: paths and Kafka's JSON formats (pure; never panics on input).
//! - `zk_store.rs`: sessions (`zookeeper.connect` with hosts and chroot) and
//!   znode reads and writes, including the controller's fenced multis.
//! - `cache.rs`: the watched view of the cluster and its change counter.
//! - `controller.rs`: what the elected controller writes (pure planning).
//! - `reassignment.rs`: partition reassignment's rules (pure).
//! - `sync.rs`: the background task that owns the session: registration,
//!   watches, reloads after reconnects, session expiry, election, and running
//!   the controller's plan.
//! - `store.rs`: [`MetadataStore`], the one interface the broker uses.
//! - `quotas.rs`: client quota entities (`/config/clients`, `/config/users`), their
//!   znode names and Kafka's precedence (pure).
//! - `legacy.rs`: the one-time import of the JSON file brokers used before.
//!
//! This module knows nothing about logs or partitions on disk: the broker
//! follows the cache (`MetadataStore::subscribe`) to create and delete them.

mod acls;
pub mod admin;
pub mod assignment;
mod cache;
mod controller;
pub mod legacy;
pub mod quotas;
pub mod reassignment;
mod store;
mod sync;
mod zk_store;
pub mod znode;

pub use cache::{ClusterView, TopicEntry, VersionedState};
pub use controller::{movable_leaderships, ShutdownOutcome};
pub use store::{MetadataConfig, MetadataStore};
pub use sync::LeaderRebalance;
pub use zk_store::{ConnectString, PRODUCER_ID_BLOCK};
pub use znode::BrokerRegistration;

use std::collections::BTreeMap;

/// Failures of the metadata store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error("cannot connect to ZooKeeper at {connect}: {reason}")]
    Connect { connect: String, reason: String },
    #[error("ZooKeeper {action} of {path} failed: {source}")]
    ZooKeeper { action: &'static str, path: String, source: zookeeper_client::Error },
    #[error("znode {path} is malformed: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(
        "broker.id {id} is already registered in ZooKeeper ({path}, endpoints [{endpoints}], session {owner:#x}): \
         another broker is running with this broker.id, or a previous process of this broker ended without \
         closing its session less than zookeeper.session.timeout.ms ({session_timeout_ms} ms) ago. \
         Use another broker.id, or wait for that session to expire"
    )]
    DuplicateBrokerId { id: i32, path: String, owner: i64, endpoints: String, session_timeout_ms: u64 },
    #[error("{0} changed concurrently; try again")]
    Conflict(String),
    #[error("the metadata store is shut down")]
    Closed,
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("Topic '{0}' does not exist.")]
    UnknownTopic(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Timeout(String),
}

pub use crate::protocol::election::ElectionType;

/// One topic as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// The topic id (Metadata v10+, Fetch v13+); nil until the controller gave
    /// an id to a topic written without one.
    pub topic_id: uuid::Uuid,
    /// Replica assignment per partition, partition index = position.
    pub partitions: Vec<Vec<i32>>,
    /// Topic-level config overrides (`retention.ms`, …).
    pub configs: BTreeMap<String, String>,
}

impl TopicMetadata {
    /// The replication factor (replicas of partition 0).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, Vec::len)
    }
}

/// A partition's leader and ISR (`…/partitions/<p>/state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// −1: no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
}

/// A registered broker (`/brokers/ids/<id>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    /// Where clients reach it (its first endpoint).
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    pub endpoints: Vec<String>,
    /// Kafka's broker epoch: the czxid of the registration znode, new with
    /// every registration (0 when unknown).
    pub epoch: i64,
}

impl BrokerInfo {
    /// The advertised host and port of this broker's listener `name` (case-insensitive),
    /// from its registered `NAME://host:port` endpoints; `None` when it has no such listener.
    pub fn endpoint(&self, name: &str) -> Option<(String, u16)> {
        self.endpoints.iter().find_map(|e| {
            let (listener, rest) = e.split_once("://")?;
            if !listener.eq_ignore_ascii_case(name) {
                return None;
            }
            let (host, port) = rest.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some((host.to_string(), port.parse().ok()?))
        })
    }

    /// `host:port` to dial on listener `name`, falling back to the first endpoint (brokers
    /// registered by older gregor versions list only that one).
    pub fn dial_addr(&self, name: &str) -> String {
        match self.endpoint(name) {
            Some((host, port)) if host.contains(':') => format!("[{host}]:{port}"),
            Some((host, port)) => format!("{host}:{port}"),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Topic-name rules shared by every path that creates topics (Kafka's):
/// 1–249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether a topic name has '.' or '_', which Kafka's metric names cannot tell apart.
pub fn has_collision_chars(name: &str) -> bool {
    name.contains(['.', '_'])
}

/// The existing topics `name` collides with: the same name once every '.' is
/// read as '_' (as metric names read them), other than `name` itself.
pub fn colliding_topics<'a>(name: &str, existing: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    if !has_collision_chars(name) {
        return Vec::new();
    }
    let unified = name.replace('.', "_");
    existing.into_iter().filter(|t| *t != name && t.replace('.', "_") == unified).map(str::to_string).collect()
}

/// Kafka's refusal of a topic whose name collides with existing ones.
pub fn collision_message(name: &str, colliding: &[String]) -> String {
    format!("Topic '{name}' collides with existing topics: {}", colliding.join(", "))
}

/// A fresh cluster id: a random UUID in Kafka's printed form.
pub fn new_cluster_id() -> String {
    znode::uuid_to_base64(uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod name_tests {
    use super::*;

    #[test]
    fn period_and_underscore_collide() {
        let existing = ["my.topic", "other", "my_topic_2"];
        assert_eq!(colliding_topics("my_topic", existing), ["my.topic"]);
        assert_eq!(colliding_topics("my.topic", existing), Vec::<String>::new());
        assert!(colliding_topics("plain", ["plain"]).is_empty());
        assert_eq!(
            collision_message("my_topic", &["my.topic".into()]),
            "Topic 'my_topic' collides with existing topics: my.topic"
        );
    }
}
