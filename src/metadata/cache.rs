//! The broker's picture of the cluster, kept from ZooKeeper by the sync task
//! (`sync.rs`) and read by everything else. Readers never touch ZooKeeper:
//! Metadata requests, topic lookups and the broker's partition reconciliation
//! are served from here.
//!
//! Every change bumps a version published on a `watch` channel, so waiters
//! (topic creation waiting for its partitions, the broker's partition sync)
//! wake up without polling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::{BrokerInfo, ElectionType, PartitionState, TopicMetadata};

/// A topic as `/brokers/topics/<t>` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicEntry {
    /// Replica assignment per partition, partition index = position.
    pub partitions: Vec<Vec<i32>>,
    /// `None` for topics written by tools that do not set ids (the controller adds one).
    pub topic_id: Option<uuid::Uuid>,
    /// The znode's data version (for conditional updates).
    pub version: i32,
    /// Ongoing reassignments: partition → replicas joining (`adding_replicas`).
    pub adding: BTreeMap<i32, Vec<i32>>,
    /// Ongoing reassignments: partition → replicas leaving (`removing_replicas`).
    pub removing: BTreeMap<i32, Vec<i32>>,
}

impl TopicEntry {
    /// Whether a partition is being reassigned.
    pub fn reassigning(&self, partition: i32) -> bool {
        self.adding.contains_key(&partition) || self.removing.contains_key(&partition)
    }

    /// The znode content this entry stands for.
    pub fn assignment(&self) -> super::znode::TopicAssignment {
        super::znode::TopicAssignment {
            partitions: self.partitions.clone(),
            adding: self.adding.clone(),
            removing: self.removing.clone(),
            topic_id: self.topic_id,
        }
    }
}

/// `/admin/reassign_partitions`: its partitions with their targets (empty
/// when malformed, so that the controller removes it) and its data version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassignRequest {
    pub entries: Vec<super::znode::ReassignEntry>,
    pub version: i32,
}

/// A partition state znode's content and data version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedState {
    pub state: PartitionState,
    pub version: i32,
}

/// Everything the cache knows.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    pub cluster_id: String,
    /// Registered (live) brokers.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub controller: Option<i32>,
    pub topics: BTreeMap<String, TopicEntry>,
    /// `/config/topics/<t>` overrides, also for topics whose assignment is not there yet.
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Dynamic broker configs, `/config/brokers/<id or <default>>`.
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    pub states: BTreeMap<String, BTreeMap<i32, VersionedState>>,
    /// Children of `/admin/delete_topics`.
    pub delete_requests: BTreeSet<String>,
    /// Pending election requests (`/admin/preferred_replica_election`,
    /// `/admin/unclean_leader_election`) and their partitions; a malformed
    /// request is here with no partitions, so the controller still removes it.
    pub election_requests: BTreeMap<ElectionType, Vec<(String, i32)>>,
    /// Children of `/isr_change_notification` (the controller removes them).
    pub isr_change_notifications: BTreeSet<String>,
    /// Topics whose assignment znode exists but could not be read (malformed):
    /// their logs are left alone.
    pub unreadable: BTreeSet<String>,
    /// A pending `/admin/reassign_partitions` request.
    pub reassign_request: Option<ReassignRequest>,
    /// Every ACL (`/kafka-acl`, `/kafka-acl-extended`), shared so the
    /// authorizer takes a snapshot with one reference-count increment.
    pub acls: std::sync::Arc<crate::security::acl::AclTable>,
    /// SCRAM credentials from `/config/users/*`, by (desanitized) user name.
    pub scram_users:
        BTreeMap<String, BTreeMap<crate::security::scram::ScramMechanism, crate::security::scram::ScramCredential>>,
    /// Client quotas (`/config/clients/*`, `/config/users/*`, `/config/users/*/clients/*`):
    /// the quota keys of every entity that sets any.
    pub quotas: BTreeMap<super::quotas::QuotaEntity, super::quotas::QuotaValues>,
}

impl ClusterView {
    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        let entry = self.topics.get(name)?;
        Some(TopicMetadata {
            name: name.to_string(),
            topic_id: entry.topic_id.unwrap_or(uuid::Uuid::nil()),
            partitions: entry.partitions.clone(),
            configs: self.configs.get(name).cloned().unwrap_or_default(),
        })
    }

    pub fn state(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.states.get(topic)?.get(&partition).map(|v| &v.state)
    }

    pub fn is_live(&self, broker: i32) -> bool {
        self.brokers.contains_key(&broker)
    }

    /// Every partition of the topic has a state znode.
    pub fn has_all_states(&self, topic: &str) -> bool {
        let Some(entry) = self.topics.get(topic) else { return false };
        let states = self.states.get(topic);
        (0..entry.partitions.len() as i32).all(|p| states.is_some_and(|s| s.contains_key(&p)))
    }

    /// Drops everything about a topic (its assignment znode is gone).
    pub fn remove_topic(&mut self, name: &str) {
        self.topics.remove(name);
        self.states.remove(name);
        self.unreadable.remove(name);
    }
}

/// The shared, versioned cache.
#[derive(Debug)]
pub struct MetadataCache {
    view: RwLock<ClusterView>,
    version: watch::Sender<u64>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache { view: RwLock::new(ClusterView::default()), version: watch::channel(0).0 }
    }
}

impl MetadataCache {
    /// A read guard. Hold it briefly and never across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, ClusterView> {
        // A panic while writing leaves a view that the next reload repairs.
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the view and tells the waiters.
    pub fn update<R>(&self, f: impl FnOnce(&mut ClusterView) -> R) -> R {
        let r = {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            f(&mut view)
        };
        self.version.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    /// The version, which changes after every update.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Waits until `ready` holds for the view, at most `timeout`. Returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, ready: impl Fn(&ClusterView) -> bool) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if ready(&self.read()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return ready(&self.read()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_update() {
        let cache = std::sync::Arc::new(MetadataCache::default());
        let c = cache.clone();
        let waiter =
            tokio::spawn(async move { c.wait_until(Duration::from_secs(5), |v| v.topics.contains_key("t")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        cache
            .update(|v| v.topics.insert("t".into(), TopicEntry { partitions: vec![vec![0]], ..TopicEntry::default() }));
        assert!(waiter.await.expect("join"));
        assert!(!cache.wait_until(Duration::from_millis(10), |v| v.topics.contains_key("x")).await);
        let view = cache.read();
        assert!(!view.has_all_states("t"));
        assert_eq!(view.topic("t").map(|t| t.topic_id), Some(uuid::Uuid::nil()));
    }
}
