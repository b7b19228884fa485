//! Topic administration straight against ZooKeeper, as Kafka 0.10's
//! `kafka-topics.sh --zookeeper` works: the tool writes the assignment and
//! config znodes (or a deletion request) and the controller does the rest.
//! Used by `topics --zookeeper`; the brokers never call it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::assignment::{assign_replicas, check_assignment, random_index};
use super::zk_store::{ZkSettings, ZkStore};
use super::{validate_topic_name, ConnectString, MetadataError, TopicMetadata};
use crate::config::topic::validate_topic_configs;

/// One partition as ZooKeeper records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionView {
    pub partition: i32,
    pub replicas: Vec<i32>,
    /// `None` when there is no state yet or no leader.
    pub leader: Option<i32>,
    pub isr: Vec<i32>,
}

/// One topic as ZooKeeper records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicView {
    pub name: String,
    pub partitions: Vec<PartitionView>,
    pub configs: BTreeMap<String, String>,
    /// A deletion request is pending.
    pub marked_for_deletion: bool,
}

/// A ZooKeeper session used as an admin tool.
#[derive(Debug)]
pub struct ZkAdmin {
    store: ZkStore,
}

impl ZkAdmin {
    /// Connects to `host:port[,host:port…][/chroot]` (Kafka's tools wait 30 s).
    pub async fn connect(connect: &str) -> Result<ZkAdmin, MetadataError> {
        let settings = ZkSettings {
            connect: ConnectString::parse(connect)?,
            session_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_secs(30),
        };
        Ok(ZkAdmin { store: ZkStore::open(settings).await? })
    }

    /// Topic names, sorted, and which of them are marked for deletion.
    pub async fn list_topics(&self) -> Result<Vec<(String, bool)>, MetadataError> {
        let mut topics = self.store.list(super::znode::BROKER_TOPICS).await?;
        topics.sort();
        let pending = self.store.list(super::znode::DELETE_TOPICS).await?;
        Ok(topics
            .into_iter()
            .map(|t| {
                let marked = pending.contains(&t);
                (t, marked)
            })
            .collect())
    }

    /// Writes a new topic's config and assignment.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
        assignment: Option<Vec<Vec<i32>>>,
    ) -> Result<(), MetadataError> {
        validate_topic_name(name).map_err(MetadataError::Invalid)?;
        if super::has_collision_chars(name) {
            let existing = self.list_topics().await?;
            let colliding = super::colliding_topics(name, existing.iter().map(|(t, _)| t.as_str()));
            if !colliding.is_empty() {
                return Err(MetadataError::Invalid(super::collision_message(name, &colliding)));
            }
        }
        validate_topic_configs(&configs).map_err(|e| MetadataError::Invalid(e.to_string()))?;
        let brokers: Vec<i32> = self.store.read_brokers().await?.into_keys().collect();
        let parts = match assignment {
            Some(parts) => {
                check_assignment(&parts, &brokers).map_err(MetadataError::Invalid)?;
                parts
            }
            None => {
                if partitions <= 0 {
                    return Err(MetadataError::Invalid("The number of partitions must be larger than 0.".into()));
                }
                if replication_factor <= 0 {
                    return Err(MetadataError::Invalid("Replication factor must be larger than 0.".into()));
                }
                if replication_factor as usize > brokers.len() {
                    return Err(MetadataError::Invalid(format!(
                        "Replication factor: {replication_factor} larger than available brokers: {}.",
                        brokers.len()
                    )));
                }
                let n = brokers.len();
                assign_replicas(
                    &brokers,
                    partitions as usize,
                    replication_factor as usize,
                    random_index(n),
                    random_index(n),
                    0,
                )
            }
        };
        let topic =
            TopicMetadata { name: name.to_string(), topic_id: uuid::Uuid::new_v4(), partitions: parts, configs };
        self.store.create_topic(&topic).await
    }

    /// Every topic (or the named ones; a missing name is an error).
    pub async fn describe(&self, names: Option<&[String]>) -> Result<Vec<TopicView>, MetadataError> {
        let listed = self.list_topics().await?;
        let wanted: Vec<(String, bool)> = match names {
            None => listed,
            Some(names) => {
                let mut out = Vec::new();
                for n in names {
                    match listed.iter().find(|(t, _)| t == n) {
                        Some(found) => out.push(found.clone()),
                        None => return Err(MetadataError::UnknownTopic(n.clone())),
                    }
                }
                out
            }
        };
        let mut views = Vec::with_capacity(wanted.len());
        for (name, marked) in wanted {
            let Some(Ok(entry)) = self.store.read_topic(&name).await? else {
                continue;
            };
            let states = self.store.read_states(&name, entry.partitions.len()).await?;
            let partitions = entry
                .partitions
                .iter()
                .enumerate()
                .map(|(i, replicas)| {
                    let state = states.get(&(i as i32)).map(|s| &s.state);
                    PartitionView {
                        partition: i as i32,
                        replicas: replicas.clone(),
                        leader: state.and_then(|s| (s.leader >= 0).then_some(s.leader)),
                        isr: state.map(|s| s.isr.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            let configs = self.store.read_config(&name).await?.unwrap_or_default();
            views.push(TopicView { name, partitions, configs, marked_for_deletion: marked });
        }
        Ok(views)
    }

    /// Requests deletion (the controller carries it out).
    pub async fn delete_topic(&self, name: &str) -> Result<(), MetadataError> {
        if self.store.read_topic(name).await?.is_none() {
            return Err(MetadataError::UnknownTopic(name.into()));
        }
        self.store.request_topic_deletion(name).await
    }

    /// Grows a topic to `count` partitions.
    pub async fn add_partitions(&self, name: &str, count: i32) -> Result<(), MetadataError> {
        let entry = match self.store.read_topic(name).await? {
            Some(Ok(e)) => e,
            Some(Err(reason)) => return Err(MetadataError::Corrupt { path: super::znode::topic_path(name), reason }),
            None => return Err(MetadataError::UnknownTopic(name.into())),
        };
        let current = entry.partitions.len() as i32;
        if count <= current {
            return Err(MetadataError::Invalid(format!(
                "The number of partitions for a topic can only be increased. Topic {name} currently has {current} partitions, {count} would not be an increase."
            )));
        }
        let brokers: Vec<i32> = self.store.read_brokers().await?.into_keys().collect();
        let rf = entry.partitions.first().map_or(1, Vec::len);
        if rf > brokers.len() {
            return Err(MetadataError::Invalid(format!(
                "Replication factor: {rf} larger than available brokers: {}.",
                brokers.len()
            )));
        }
        let n = brokers.len();
        let mut all = entry.partitions.clone();
        all.extend(assign_replicas(
            &brokers,
            (count - current) as usize,
            rf,
            random_index(n),
            random_index(n),
            current as usize,
        ));
        // Ongoing reassignments of the existing partitions stay as they are.
        let assignment = super::znode::TopicAssignment { partitions: all, ..entry.assignment() };
        self.store.set_topic_assignment(name, &assignment, entry.version).await.map(|_| ())
    }

    /// Asks the controller for preferred-replica elections of `partitions`
    /// (`None`: every partition of every topic), as Kafka 0.10's
    /// `kafka-preferred-replica-election.sh --zookeeper` does. Returns the
    /// partitions asked for, or `Err` with them when a request is pending already.
    pub async fn request_preferred_election(
        &self,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Result<Vec<(String, i32)>, Vec<(String, i32)>>, MetadataError> {
        let partitions = match partitions {
            Some(p) => p,
            None => self
                .describe(None)
                .await?
                .into_iter()
                .flat_map(|t| t.partitions.into_iter().map(move |p| (t.name.clone(), p.partition)))
                .collect(),
        };
        let created = self.store.request_election(super::ElectionType::Preferred, &partitions).await?;
        Ok(if created { Ok(partitions) } else { Err(partitions) })
    }

    /// Writes `/admin/reassign_partitions` for the controller, as Kafka
    /// 0.10's `kafka-reassign-partitions.sh --zookeeper --execute` does.
    /// `Ok(false)`: a reassignment request is pending already.
    pub async fn request_reassignment(&self, entries: &[super::znode::ReassignEntry]) -> Result<bool, MetadataError> {
        self.store.request_reassignment(entries).await
    }

    /// The partitions of the pending `/admin/reassign_partitions` request (empty: none).
    pub async fn pending_reassignments(&self) -> Result<Vec<super::znode::ReassignEntry>, MetadataError> {
        Ok(self.store.read_reassign_request().await?.map(|r| r.entries).unwrap_or_default())
    }

    /// Ids of the registered brokers, sorted.
    pub async fn broker_ids(&self) -> Result<Vec<i32>, MetadataError> {
        Ok(self.store.read_brokers().await?.into_keys().collect())
    }

    /// `host:port` of every registered broker (for `console-consumer --zookeeper`).
    pub async fn broker_endpoints(&self) -> Result<Vec<String>, MetadataError> {
        Ok(self.store.read_brokers().await?.into_values().map(|b| format!("{}:{}", b.host, b.port)).collect())
    }

    /// Whether the topic's assignment znode exists.
    pub async fn topic_exists(&self, name: &str) -> Result<bool, MetadataError> {
        self.store.exists(&super::znode::topic_path(name)).await
    }

    /// The stored overrides of a topic (`entity_type` `topics`) or the dynamic
    /// config of a broker (`brokers`, name an id or `<default>`); empty when none.
    pub async fn entity_config(
        &self,
        entity_type: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>, MetadataError> {
        let read = if entity_type == "topics" {
            self.store.read_config(name).await?
        } else {
            self.store.read_broker_config(name).await?
        };
        Ok(read.unwrap_or_default())
    }

    /// Replaces an entity's config znode and writes the change notification,
    /// as Kafka's `kafka-configs --zookeeper` does; validation is the caller's.
    pub async fn set_entity_config(
        &self,
        entity_type: &str,
        name: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.store.write_entity_config(entity_type, name, configs).await
    }

    /// Creates Kafka's startup paths that are missing (`/config/users`,
    /// `/config/changes`, …), as a broker's first start does: tools that write
    /// before any broker ran (the first SCRAM user) need them.
    pub async fn ensure_startup_paths(&self) -> Result<(), MetadataError> {
        self.store.ensure_startup_paths().await
    }

    /// The raw data of `/config/users/<sanitized>` (SCRAM credentials and
    /// quotas); `None` when absent.
    pub async fn user_config_data(&self, sanitized: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        self.store.read_user_config_data(sanitized).await
    }

    /// Every key of a client quota entity's znode (a user's SCRAM credentials too).
    pub async fn quota_entity_config(
        &self,
        entity: &super::quotas::QuotaEntity,
    ) -> Result<Option<BTreeMap<String, String>>, MetadataError> {
        self.store.read_entity_config(entity).await
    }

    /// Replaces a client quota entity's znode and writes Kafka's change notification.
    pub async fn set_quota_config(
        &self,
        entity: &super::quotas::QuotaEntity,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        self.store.write_quota_config(entity, configs).await
    }

    /// Every client quota entity with its quota keys.
    pub async fn all_quotas(
        &self,
    ) -> Result<BTreeMap<super::quotas::QuotaEntity, super::quotas::QuotaValues>, MetadataError> {
        super::sync::read_all_quotas(&self.store).await
    }

    /// The names under `/config/<entity_type>`, sorted.
    pub async fn config_entities(&self, entity_type: &str) -> Result<Vec<String>, MetadataError> {
        let mut names = self.store.list(&format!("/config/{entity_type}")).await?;
        names.sort();
        Ok(names)
    }
}
