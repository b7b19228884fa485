//! [`MetadataStore`]: the one metadata interface of the broker. Reads come
//! from the watched cache; writes go to ZooKeeper in Kafka's layout and are
//! seen by every broker (this one included) through their watches.

use std::sync::{Arc, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::cache::{ClusterView, MetadataCache};
use super::reassignment::{self, Refusal};
use super::sync::{self, LeaderRebalance, Shared};
use super::zk_store::{ConnectString, ZkSettings, ZkStore};
use super::znode::BrokerRegistration;
use super::{new_cluster_id, BrokerInfo, ElectionType, MetadataError, PartitionState, ShutdownOutcome, TopicMetadata};

/// What the store needs to know about the broker and ZooKeeper.
#[derive(Clone, Debug)]
pub struct MetadataConfig {
    /// `zookeeper.connect`: `host:port[,host:port…][/chroot]`.
    pub zookeeper_connect: String,
    pub session_timeout: Duration,
    /// How long the first connection may take.
    pub connection_timeout: Duration,
    /// This broker's registration (`/brokers/ids/<id>`).
    pub registration: BrokerRegistration,
    /// `delete.topic.enable`, obeyed when this broker is controller.
    pub delete_topic_enable: bool,
    /// The cluster id to write when `/cluster/id` does not exist yet (an
    /// upgraded broker keeps its old one); `None`: a new random id.
    pub cluster_id_if_new: Option<String>,
    /// The coordinator runs inside this broker and nobody else uses it: a
    /// registration or `/controller` of another session can only be left over
    /// from a previous run of this broker (killed), and is removed.
    pub private_coordinator: bool,
    /// `auto.leader.rebalance.enable` with its interval and threshold, obeyed
    /// when this broker is controller (`None`: off).
    pub leader_rebalance: Option<LeaderRebalance>,
    /// `unclean.leader.election.enable`, the default for topics without the override.
    pub unclean_leader_election: bool,
}

/// How often a requester looks whether the controller took its election request.
const ELECTION_POLL: Duration = Duration::from_millis(50);

/// Cluster metadata, kept in ZooKeeper.
pub struct MetadataStore {
    pub(super) shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// ControlledShutdown requests for the task, answered while it is controller.
    shutdown_requests: mpsc::UnboundedSender<sync::ShutdownRequest>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore").field("broker", &self.shared.broker_id).finish_non_exhaustive()
    }
}

impl MetadataStore {
    /// Connects, creates Kafka's startup paths and the cluster id when missing,
    /// registers the broker, loads the cache, runs the controller election,
    /// and keeps all of it current in a background task.
    pub async fn start(config: MetadataConfig) -> Result<MetadataStore, MetadataError> {
        let connect = ConnectString::parse(&config.zookeeper_connect)?;
        let settings = ZkSettings {
            connect,
            session_timeout: config.session_timeout,
            connection_timeout: config.connection_timeout,
        };
        let zk = ZkStore::open(settings).await?;
        zk.ensure_startup_paths().await?;
        let fresh = config.cluster_id_if_new.clone().unwrap_or_else(new_cluster_id);
        let cluster_id = zk.get_or_create_cluster_id(&fresh).await?;
        let cache = MetadataCache::default();
        cache.update(|v| v.cluster_id = cluster_id);
        let shared = Arc::new(Shared {
            zk,
            cache,
            broker_id: config.registration.id,
            registration: config.registration,
            delete_topic_enable: config.delete_topic_enable,
            private_coordinator: config.private_coordinator,
            leader_rebalance: config.leader_rebalance,
            unclean_leader_election: std::sync::atomic::AtomicBool::new(config.unclean_leader_election),
        });
        let session = match sync::Session::establish(&shared, true).await {
            Ok(s) => s,
            Err(e) => {
                shared.zk.close();
                return Err(e);
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let (shutdown_requests, requests_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(sync::run(shared.clone(), session, stop_rx, requests_rx));
        Ok(MetadataStore { shared, stop, shutdown_requests, task: std::sync::Mutex::new(Some(task)) })
    }

    /// Closes the session (this broker's registration, and `/controller` if it
    /// holds it, disappear at once) and stops the background task.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            // The task stops promptly by itself (a stop interrupts its ZooKeeper
            // calls); the deadline is a backstop, and the task never outlives it.
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                tracing::warn!("the metadata task did not stop within 5 s; aborting it");
                task.abort();
                self.shared.zk.close();
            }
        }
    }

    /// The cluster id (`/cluster/id`).
    pub fn cluster_id(&self) -> String {
        self.view().cluster_id.clone()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<TopicMetadata> {
        let view = self.view();
        view.topics.keys().filter_map(|name| view.topic(name)).collect()
    }

    /// One topic.
    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.view().topic(name)
    }

    /// A partition's leader and ISR, once the controller wrote them.
    pub fn partition_state(&self, topic: &str, partition: i32) -> Option<PartitionState> {
        self.view().state(topic, partition).cloned()
    }

    /// Registered brokers, sorted by id.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        self.view().brokers.values().cloned().collect()
    }

    /// Ids of registered brokers, sorted.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.view().brokers.keys().copied().collect()
    }

    /// Ids of the brokers registered in ZooKeeper at this moment, sorted: read
    /// there, as Kafka's admin path does, because the cache may not yet have
    /// seen a broker leave (a new replica assignment must not name it). The
    /// cache's view when ZooKeeper cannot be read.
    pub async fn registered_brokers(&self) -> Vec<i32> {
        match self.shared.zk.read_brokers().await {
            Ok(brokers) => brokers.keys().copied().collect(),
            Err(err) => {
                tracing::debug!(%err, "cannot read /brokers/ids; assigning from the cached view");
                self.live_brokers()
            }
        }
    }

    /// The controller's broker id, if one is elected.
    pub fn controller_id(&self) -> Option<i32> {
        self.view().controller
    }

    /// The whole cached view. Hold the guard briefly and never across an await.
    pub fn view(&self) -> RwLockReadGuard<'_, ClusterView> {
        self.shared.cache.read()
    }

    /// A counter that changes whenever the cached view does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.cache.subscribe()
    }

    /// Waits (at most `timeout`) until `ready` holds for the cached view.
    pub async fn wait_until(&self, timeout: Duration, ready: impl Fn(&ClusterView) -> bool) -> bool {
        self.shared.cache.wait_until(timeout, ready).await
    }

    /// Writes a new topic (`/config/topics/<t>`, then `/brokers/topics/<t>`).
    /// The controller then writes its partition states; the caller waits for
    /// them on the cache.
    pub async fn create_topic(&self, topic: TopicMetadata) -> Result<(), MetadataError> {
        self.shared.zk.create_topic(&topic).await
    }

    /// Changes the `unclean.leader.election.enable` default this broker's
    /// controller applies to topics without an override (a dynamic broker config).
    pub fn set_unclean_leader_election(&self, enabled: bool) {
        self.shared.unclean_leader_election.store(enabled, std::sync::atomic::Ordering::Relaxed);
    }

    /// Replaces a topic's config overrides (`/config/topics/<t>`) and writes
    /// the change notification; every broker applies them through its watch.
    pub async fn set_topic_config(
        &self,
        name: &str,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.shared.zk.write_entity_config("topics", name, configs).await
    }

    /// Replaces a dynamic broker config (`/config/brokers/<entity>`, entity a
    /// broker id or `<default>`) and writes the change notification.
    pub async fn set_broker_config(
        &self,
        entity: &str,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.shared.zk.write_entity_config("brokers", entity, configs).await
    }

    /// A topic's stored overrides, read from ZooKeeper (not the cache), for a
    /// read-modify-write.
    pub async fn read_topic_config(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, MetadataError> {
        Ok(self.shared.zk.read_config(name).await?.unwrap_or_default())
    }

    /// The raw data of a user's config znode (`/config/users/<sanitized>`,
    /// SCRAM credentials and quotas), read from ZooKeeper; `None` when absent.
    pub async fn read_user_config_data(&self, sanitized: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        self.shared.zk.read_user_config_data(sanitized).await
    }

    /// Replaces a user's config znode and writes the change notification
    /// (`users/<sanitized>`), as Kafka's SCRAM admin APIs do.
    pub async fn set_user_config(
        &self,
        sanitized: &str,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.shared.zk.write_entity_config("users", sanitized, configs).await
    }

    /// Every key of a client quota entity's znode, read from ZooKeeper (a user's
    /// SCRAM credentials included, so that a quota write keeps them); `None` when absent.
    pub async fn read_quota_entity_config(
        &self,
        entity: &super::quotas::QuotaEntity,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, MetadataError> {
        self.shared.zk.read_entity_config(entity).await
    }

    /// Replaces a client quota entity's znode and writes Kafka's change notification.
    pub async fn set_quota_config(
        &self,
        entity: &super::quotas::QuotaEntity,
        configs: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.shared.zk.write_quota_config(entity, configs).await
    }

    /// Every client quota entity with its quota keys, read from ZooKeeper (not the
    /// cache, so a describe right after an alter sees it).
    pub async fn read_all_quotas(
        &self,
    ) -> Result<std::collections::BTreeMap<super::quotas::QuotaEntity, super::quotas::QuotaValues>, MetadataError> {
        super::sync::read_all_quotas(&self.shared.zk).await
    }

    /// The client quotas as the watches last saw them.
    pub fn quotas(&self) -> std::collections::BTreeMap<super::quotas::QuotaEntity, super::quotas::QuotaValues> {
        self.view().quotas.clone()
    }

    /// The (sanitized) user names under `/config/users`.
    pub async fn user_config_names(&self) -> Result<Vec<String>, MetadataError> {
        self.shared.zk.list("/config/users").await
    }

    /// A dynamic broker config as stored in ZooKeeper (empty when none).
    pub async fn read_broker_config(
        &self,
        entity: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, MetadataError> {
        Ok(self.shared.zk.read_broker_config(entity).await?.unwrap_or_default())
    }

    /// Requests a topic's deletion (`/admin/delete_topics/<t>`), which the
    /// controller carries out. Returns the topic as it was.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicMetadata, MetadataError> {
        let topic = self.topic(name).ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
        self.shared.zk.request_topic_deletion(name).await?;
        Ok(topic)
    }

    /// Appends partitions (with their replica assignments) to a topic, with a
    /// conditional update of its assignment znode.
    pub async fn add_partitions(&self, name: &str, added: Vec<Vec<i32>>) -> Result<TopicMetadata, MetadataError> {
        let expected = self.topic(name).ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
        let fresh = match self.shared.zk.read_topic(name).await? {
            Some(Ok(entry)) => entry,
            Some(Err(reason)) => return Err(MetadataError::Corrupt { path: super::znode::topic_path(name), reason }),
            None => return Err(MetadataError::UnknownTopic(name.into())),
        };
        if fresh.partitions != expected.partitions {
            return Err(MetadataError::Conflict(super::znode::topic_path(name)));
        }
        // Ongoing reassignments of the existing partitions stay as they are.
        let mut assignment = fresh.assignment();
        assignment.partitions.extend(added);
        self.shared.zk.set_topic_assignment(name, &assignment, fresh.version).await?;
        let partitions = assignment.partitions;
        Ok(TopicMetadata { partitions, ..expected })
    }

    /// Imports what the old JSON metadata file held: topics ZooKeeper does
    /// not have yet are created (with their ids and configs), producer-id
    /// blocks continue after the last one handed out, and the call returns
    /// once the imported topics are in the cache (so their logs are kept).
    pub async fn import_legacy(&self, legacy: &super::legacy::LegacyMetadata) -> Result<usize, MetadataError> {
        let mut imported = 0;
        for topic in &legacy.topics {
            if self.topic(&topic.name).is_some() {
                continue;
            }
            match self.create_topic(topic.clone()).await {
                Ok(()) => imported += 1,
                Err(MetadataError::TopicExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if legacy.next_producer_id_block > 0 {
            self.shared.zk.raise_producer_block(self.shared.broker_id, legacy.next_producer_id_block - 1).await?;
        }
        let names: Vec<String> = legacy.topics.iter().map(|t| t.name.clone()).collect();
        if !self.wait_until(Duration::from_secs(30), |v| names.iter().all(|n| v.topics.contains_key(n))).await {
            return Err(MetadataError::Invalid("imported topics did not show up in ZooKeeper within 30 s".into()));
        }
        Ok(imported)
    }

    /// A partition leader's ISR change: writes the state znode if it still has
    /// `version` (Kafka's conditional update; the controller's changes win),
    /// announces it under `/isr_change_notification` as Kafka's leaders do,
    /// and updates the cache at once so the leader acts on it without waiting
    /// for the watch.
    pub async fn update_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
        version: i32,
    ) -> Result<(), MetadataError> {
        let new_version = self.shared.zk.set_state(topic, partition, &state, version).await?;
        // Kafka's leaders announce ISR changes for the controller; every broker
        // here follows the state znodes anyway, so a lost notice costs nothing.
        if let Err(e) = self.shared.zk.notify_isr_change(&[(topic.to_string(), partition)]).await {
            tracing::warn!(error = %e, topic, partition, "cannot write the ISR change notification");
        }
        self.shared.cache.update(|v| {
            if let Some(states) = v.states.get_mut(topic) {
                let stale = states.get(&partition).is_some_and(|s| s.version >= new_version);
                if !stale {
                    states.insert(partition, super::VersionedState { state, version: new_version });
                }
            }
        });
        Ok(())
    }

    /// Asks the controller for elections of `partitions` and waits (at most
    /// `timeout`) until it carried them out, as Kafka's ZooKeeper-mode tools
    /// do: the request znode is created (after a pending one of the same kind
    /// is gone) and the controller deletes it once it wrote the new states.
    /// Returns the partitions' states as ZooKeeper then holds them (`None`:
    /// no state), after this broker's cache caught up with them.
    pub async fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: &[(String, i32)],
        timeout: Duration,
    ) -> Result<Vec<Option<PartitionState>>, MetadataError> {
        let zk = &self.shared.zk;
        let path = super::znode::election_path(kind);
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || {
            MetadataError::Timeout(format!(
                "the controller did not complete the election within {} ms",
                timeout.as_millis()
            ))
        };
        while !zk.request_election(kind, partitions).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(timed_out());
            }
            tokio::time::sleep(ELECTION_POLL).await;
        }
        while zk.exists(path).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(timed_out());
            }
            tokio::time::sleep(ELECTION_POLL).await;
        }
        let mut states = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            states.push(zk.read_state(topic, *partition).await?);
        }
        // Answer only once Metadata requests to this broker show the outcome.
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_until(remaining, |v| {
            partitions.iter().zip(&states).all(|((t, p), s)| match s {
                Some(s) => v.states.get(t).and_then(|m| m.get(p)).is_some_and(|c| c.version >= s.version),
                None => true,
            })
        })
        .await;
        Ok(states.into_iter().map(|s| s.map(|s| s.state)).collect())
    }

    /// AlterPartitionReassignments for one topic: per partition, `Some(target)`
    /// starts or retargets a reassignment, `None` cancels one. The topic
    /// znode is rewritten (conditionally, retried on a concurrent change)
    /// with the new replica sets and `adding_replicas`/`removing_replicas`;
    /// the controller carries the reassignments out. Returns one outcome per
    /// entry, once this broker's cache shows the write.
    pub async fn alter_reassignments(
        &self,
        topic: &str,
        changes: &[(i32, Option<Vec<i32>>)],
        timeout: Duration,
    ) -> Result<Vec<Result<(), Refusal>>, MetadataError> {
        let zk = &self.shared.zk;
        for _ in 0..5 {
            let entry = match zk.read_topic(topic).await? {
                Some(Ok(entry)) if !self.view().delete_requests.contains(topic) => entry,
                Some(Err(reason)) => {
                    return Err(MetadataError::Corrupt { path: super::znode::topic_path(topic), reason })
                }
                _ => return Ok(changes.iter().map(|_| Err(Refusal::UnknownPartition)).collect()),
            };
            // Added replicas must be live now, so ask ZooKeeper rather than the cache.
            let live = self.registered_brokers().await;
            let is_live = |b: i32| live.contains(&b);
            let mut updated = entry.clone();
            let mut outcomes = Vec::with_capacity(changes.len());
            for (p, target) in changes {
                // Each entry applies to the topic as the earlier ones left it.
                let outcome = reassignment::alter(&updated, *p, target.as_deref(), &is_live);
                outcomes.push(outcome.map(|replicas| replicas.store(&mut updated, *p)));
            }
            if updated == entry {
                return Ok(outcomes);
            }
            match zk.set_topic_assignment(topic, &updated.assignment(), entry.version).await {
                Ok(version) => {
                    self.wait_until(timeout, |v| v.topics.get(topic).is_some_and(|t| t.version >= version)).await;
                    return Ok(outcomes);
                }
                Err(MetadataError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(MetadataError::Conflict(super::znode::topic_path(topic)))
    }

    /// The ongoing reassignments (ListPartitionReassignments), by topic and partition.
    pub fn reassignments(&self) -> Vec<((String, i32), reassignment::Replicas)> {
        let view = self.view();
        let mut out = Vec::new();
        for (name, entry) in &view.topics {
            for p in
                entry.adding.keys().chain(entry.removing.keys()).copied().collect::<std::collections::BTreeSet<_>>()
            {
                if let Some(replicas) = reassignment::Replicas::of(entry, p) {
                    out.push(((name.clone(), p), replicas));
                }
            }
        }
        out
    }

    /// This broker's epoch (its registration's czxid) as the cache knows it; −1 when unknown.
    pub fn broker_epoch(&self) -> i64 {
        self.view().brokers.get(&self.shared.broker_id).map_or(-1, |b| b.epoch)
    }

    /// A ControlledShutdown request for `broker`, carried out by this
    /// broker's controller task: NotController unless this broker holds the
    /// controller role. Waits at most `timeout` for the controller's pass.
    pub async fn controlled_shutdown(
        &self,
        broker: i32,
        broker_epoch: i64,
        timeout: Duration,
    ) -> Result<ShutdownOutcome, MetadataError> {
        let (reply, answer) = oneshot::channel();
        self.shutdown_requests
            .send(sync::ShutdownRequest { broker, broker_epoch, reply })
            .map_err(|_| MetadataError::Closed)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(MetadataError::Closed),
            Err(_) => Err(MetadataError::Timeout(format!(
                "the controller did not handle the controlled shutdown of broker {broker} within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// Stores a consumer offset in ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`),
    /// where Kafka's ZooKeeper mode keeps the commits of OffsetCommit v0.
    pub async fn commit_zk_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), MetadataError> {
        self.shared.zk.set_consumer_offset(group, topic, partition, offset).await
    }

    /// A consumer offset stored in ZooKeeper (OffsetFetch v0); `None` when never committed there.
    pub async fn zk_offset(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>, MetadataError> {
        self.shared.zk.read_consumer_offset(group, topic, partition).await
    }

    /// Reserves the next block of producer ids; returns `(first, end_exclusive)`.
    pub async fn allocate_producer_ids(&self) -> Result<(i64, i64), MetadataError> {
        self.shared.zk.allocate_producer_ids(self.shared.broker_id).await
    }
}

impl Drop for MetadataStore {
    fn drop(&mut self) {
        // Without a graceful shutdown the task still ends and the session closes.
        let _ = self.stop.send(true);
    }
}
