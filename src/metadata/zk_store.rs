//! Znode I/O: sessions (Kafka's `zookeeper.connect` form, chroot created when
//! missing), reads of the layout into cache values, and the writes brokers and
//! the controller make. Formats live in `znode.rs`; what to write and when is
//! decided by the callers.
//!
//! The client is swapped for a new one when a session ends (expiry); every
//! operation takes the current one, so a request racing a session change
//! fails with a retriable error instead of using a dead session.

use crate::security::scram::{ScramCredential, ScramMechanism, UserConfigZnode};
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use zookeeper_client::{self as zkc, Acls, Client, CreateMode, MultiWriteError};

use super::cache::{TopicEntry, VersionedState};
use super::znode::{self, BrokerRegistration};
use super::{BrokerInfo, MetadataError, TopicMetadata};

/// Producer ids are handed out in blocks of this size, as Kafka does.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// `zookeeper.connect` split into its parts: `h1:2181,h2:2181/chroot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectString {
    pub hosts: String,
    /// `None` for the root.
    pub chroot: Option<String>,
}

impl ConnectString {
    pub fn parse(s: &str) -> Result<ConnectString, MetadataError> {
        let invalid = |reason: &str| MetadataError::Invalid(format!("zookeeper.connect \"{s}\": {reason}"));
        let s = s.trim();
        let (hosts, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        if hosts.split(',').any(|h| h.trim().is_empty()) {
            return Err(invalid("expected host:port[,host:port…][/chroot]"));
        }
        for h in hosts.split(',') {
            if let Some((_, port)) = h.trim().rsplit_once(':') {
                if port.parse::<u16>().is_err() {
                    return Err(invalid(&format!("\"{port}\" is not a port")));
                }
            }
        }
        let chroot = match chroot {
            None | Some("/") => None,
            Some(c) if c.ends_with('/') || c.contains("//") => {
                return Err(invalid("the chroot must not end with '/' or contain an empty segment"))
            }
            Some(c) => Some(c.to_string()),
        };
        Ok(ConnectString { hosts: hosts.to_string(), chroot })
    }
}

/// A fenced controller write: the first op of every controller multi is a
/// version check of `/controller_epoch`.
#[derive(Clone, Debug)]
pub enum Op {
    Create(String, Vec<u8>),
    SetData(String, Vec<u8>, i32),
    Delete(String),
}

/// Why a fenced write did not happen.
#[derive(Debug)]
pub enum FencedError {
    /// `/controller_epoch` moved: another broker is controller now.
    Fenced,
    /// The write itself failed (stale cache, connection loss…).
    Failed(MetadataError),
}

fn persistent() -> zkc::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

fn ephemeral() -> zkc::CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

fn zk_err<'a>(action: &'static str, path: &'a str) -> impl FnOnce(zkc::Error) -> MetadataError + 'a {
    move |source| MetadataError::ZooKeeper { action, path: path.to_string(), source }
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct ZkSettings {
    pub connect: ConnectString,
    pub session_timeout: Duration,
    pub connection_timeout: Duration,
}

/// The ZooKeeper side of the metadata store.
#[derive(Debug)]
pub struct ZkStore {
    settings: ZkSettings,
    /// `None` once closed.
    client: RwLock<Option<Client>>,
}

impl ZkStore {
    /// Opens a first session.
    pub async fn open(settings: ZkSettings) -> Result<ZkStore, MetadataError> {
        let client = connect(&settings).await?;
        Ok(ZkStore { settings, client: RwLock::new(Some(client)) })
    }

    /// The current session's client.
    pub fn client(&self) -> Result<Client, MetadataError> {
        self.client.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or(MetadataError::Closed)
    }

    /// Drops this store's handle on the session; once every other clone is
    /// gone too, the client closes the session (its ephemerals go at once).
    pub fn close(&self) {
        self.client.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Opens a new session (after expiry) and makes it current.
    pub async fn reconnect(&self) -> Result<Client, MetadataError> {
        let client = connect(&self.settings).await?;
        let mut current = self.client.write().unwrap_or_else(|e| e.into_inner());
        if current.is_none() {
            return Err(MetadataError::Closed);
        }
        *current = Some(client.clone());
        Ok(client)
    }

    /// Creates Kafka's startup paths that are missing (reads first: a start
    /// on an existing cluster writes nothing).
    pub async fn ensure_startup_paths(&self) -> Result<(), MetadataError> {
        let c = self.client()?;
        let checks: Vec<_> = znode::STARTUP_PATHS.iter().map(|p| (p, c.check_stat(p))).collect();
        let mut missing = Vec::new();
        for (path, check) in checks {
            if check.await.map_err(zk_err("check", path))?.is_none() {
                missing.push(*path);
            }
        }
        for path in missing {
            c.mkdir(path, &persistent()).await.map_err(zk_err("create", path))?;
        }
        Ok(())
    }

    /// The cluster id from `/cluster/id`, created with `fresh` when absent.
    pub async fn get_or_create_cluster_id(&self, fresh: &str) -> Result<String, MetadataError> {
        let c = self.client()?;
        for _ in 0..3 {
            match c.get_data(znode::CLUSTER_ID).await {
                Ok((data, _)) => {
                    return znode::decode_cluster_id(&data)
                        .map_err(|reason| MetadataError::Corrupt { path: znode::CLUSTER_ID.into(), reason })
                }
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_err("read", znode::CLUSTER_ID)(e)),
            }
            c.mkdir("/cluster", &persistent()).await.map_err(zk_err("create", "/cluster"))?;
            match c.create(znode::CLUSTER_ID, &znode::encode_cluster_id(fresh), &persistent()).await {
                Ok(_) => return Ok(fresh.to_string()),
                Err(zkc::Error::NodeExists) => continue,
                Err(e) => return Err(zk_err("create", znode::CLUSTER_ID)(e)),
            }
        }
        Err(MetadataError::Invalid("/cluster/id keeps changing".into()))
    }

    /// Registers this broker with an ephemeral `/brokers/ids/<id>`. A node of
    /// another session is refused, unless `take_over` (the coordinator is
    /// private to this broker, so such a node was left by a previous process
    /// of this broker that was killed).
    pub async fn register_broker(&self, reg: &BrokerRegistration, take_over: bool) -> Result<(), MetadataError> {
        let c = self.client()?;
        let path = znode::broker_path(reg.id);
        let data = znode::encode_broker(reg);
        for _ in 0..3 {
            match c.create(&path, &data, &ephemeral()).await {
                Ok(_) => return Ok(()),
                Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(zk_err("create", &path)(e)),
            }
            let (existing, stat) = match c.get_data(&path).await {
                Ok(found) => found,
                Err(zkc::Error::NoNode) => continue,
                Err(e) => return Err(zk_err("read", &path)(e)),
            };
            if stat.ephemeral_owner == c.session_id().0 {
                // Ours already (a retried create after a connection loss): bring it up to date.
                c.set_data(&path, &data, None).await.map_err(zk_err("update", &path))?;
                return Ok(());
            }
            if take_over {
                tracing::info!(path, "removing the registration a previous run of this broker left behind");
                match c.delete(&path, Some(stat.version)).await {
                    Ok(()) | Err(zkc::Error::NoNode) | Err(zkc::Error::BadVersion) => continue,
                    Err(e) => return Err(zk_err("delete", &path)(e)),
                }
            }
            let endpoints = znode::decode_broker(reg.id, &existing).map(|b| b.endpoints.join(",")).unwrap_or_default();
            return Err(MetadataError::DuplicateBrokerId {
                id: reg.id,
                path,
                owner: stat.ephemeral_owner,
                endpoints,
                session_timeout_ms: self.settings.session_timeout.as_millis() as u64,
            });
        }
        Err(MetadataError::Invalid(format!("{path} keeps changing while registering")))
    }

    pub async fn read_brokers(&self) -> Result<BTreeMap<i32, BrokerInfo>, MetadataError> {
        let c = self.client()?;
        let ids = c.list_children(znode::BROKER_IDS).await.map_err(zk_err("list", znode::BROKER_IDS))?;
        let reads: Vec<_> = ids
            .iter()
            .filter_map(|s| s.parse::<i32>().ok())
            .map(|id| (id, c.get_data(&znode::broker_path(id))))
            .collect();
        let mut brokers = BTreeMap::new();
        for (id, read) in reads {
            match read.await {
                Ok((data, stat)) => match znode::decode_broker(id, &data) {
                    Ok(b) => {
                        brokers.insert(id, BrokerInfo { epoch: stat.czxid, ..b });
                    }
                    Err(reason) => tracing::warn!(broker = id, %reason, "skipping a malformed broker registration"),
                },
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_err("read", znode::BROKER_IDS)(e)),
            }
        }
        Ok(brokers)
    }

    pub async fn read_broker(&self, id: i32) -> Result<Option<BrokerInfo>, MetadataError> {
        let path = znode::broker_path(id);
        match self.client()?.get_data(&path).await {
            Ok((data, stat)) => Ok(znode::decode_broker(id, &data)
                .map(|b| BrokerInfo { epoch: stat.czxid, ..b })
                .map_err(|reason| tracing::warn!(broker = id, %reason, "skipping a malformed broker registration"))
                .ok()),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    pub async fn list(&self, path: &str) -> Result<Vec<String>, MetadataError> {
        match self.client()?.list_children(path).await {
            Ok(children) => Ok(children),
            Err(zkc::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(zk_err("list", path)(e)),
        }
    }

    /// A topic's assignment. `Ok(Err(reason))` when the znode is malformed.
    pub async fn read_topic(&self, name: &str) -> Result<Option<Result<TopicEntry, String>>, MetadataError> {
        let path = znode::topic_path(name);
        match self.client()?.get_data(&path).await {
            Ok((data, stat)) => Ok(Some(znode::decode_topic_assignment(&data).map(|a| TopicEntry {
                partitions: a.partitions,
                topic_id: a.topic_id,
                version: stat.version,
                adding: a.adding,
                removing: a.removing,
            }))),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// A topic's config overrides (`None` when there is no config znode or it is malformed).
    pub async fn read_config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, MetadataError> {
        let path = znode::config_path(name);
        match self.client()?.get_data(&path).await {
            Ok((data, _)) => Ok(znode::decode_config(&data)
                .map_err(|reason| tracing::warn!(topic = name, %reason, "ignoring malformed topic config"))
                .ok()),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// A dynamic broker config (`/config/brokers/<entity>`; `None` when absent or malformed).
    pub async fn read_broker_config(&self, entity: &str) -> Result<Option<BTreeMap<String, String>>, MetadataError> {
        let path = znode::broker_config_path(entity);
        match self.client()?.get_data(&path).await {
            Ok((data, _)) => Ok(znode::decode_config(&data)
                .map_err(|reason| tracing::warn!(entity, %reason, "ignoring a malformed dynamic broker config"))
                .ok()),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// The SCRAM credentials in `/config/users/<sanitized>` (`None`: no znode or a
    /// malformed one, which is logged and ignored).
    pub async fn read_user_scram(
        &self,
        sanitized: &str,
    ) -> Result<Option<BTreeMap<ScramMechanism, ScramCredential>>, MetadataError> {
        let path = format!("{}/{sanitized}", znode::CONFIG_USERS);
        match self.client()?.get_data(&path).await {
            Ok((data, _)) => Ok(UserConfigZnode::decode(&data)
                .map_err(|reason| tracing::warn!(user = sanitized, %reason, "ignoring a malformed user config"))
                .ok()
                .map(|z| z.credentials())),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// Replaces an entity's config znode (`/config/<entity_type>/<name>`,
    /// `entity_type` `topics` or `brokers`) and announces the change with a
    /// `/config/changes/config_change_<seq>` notification, as Kafka's admin
    /// code writes them (one multi here, so a failure leaves neither).
    pub async fn write_entity_config(
        &self,
        entity_type: &str,
        name: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        let c = self.client()?;
        let path = format!("/config/{entity_type}/{name}");
        let data = znode::encode_config(configs);
        let notification = znode::encode_config_change(&format!("{entity_type}/{name}"));
        let sequential = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        for _ in 0..3 {
            let exists = c.check_stat(&path).await.map_err(zk_err("check", &path))?.is_some();
            let mut multi = c.new_multi_writer();
            let add = |r: Result<(), zkc::Error>| r.map_err(zk_err("prepare", &path));
            if exists {
                add(multi.add_set_data(&path, &data, None))?;
            } else {
                add(multi.add_create(&path, &data, &persistent()))?;
            }
            add(multi.add_create(znode::CONFIG_CHANGE_PREFIX, &notification, &sequential))?;
            match multi.commit().await {
                Ok(_) => {
                    self.purge_config_changes().await;
                    return Ok(());
                }
                // Created or deleted by someone else between the check and the write: again.
                Err(MultiWriteError::OperationFailed {
                    index: 0,
                    source: zkc::Error::NodeExists | zkc::Error::NoNode,
                }) => {}
                Err(e) => return Err(zk_err("write", &path)(e.into())),
            }
        }
        Err(MetadataError::Conflict(path))
    }

    /// Removes change notifications older than Kafka's 15 minutes (its brokers
    /// purge them as they read them; ours watch the config znodes instead, so
    /// the writer does it). Best effort: a failure only leaves them for later.
    async fn purge_config_changes(&self) {
        const EXPIRY_MS: i64 = 15 * 60 * 1000;
        let Ok(c) = self.client() else { return };
        let parent = znode::CONFIG_CHANGE_PREFIX.rsplit_once('/').map_or("/config/changes", |(p, _)| p);
        let Ok(children) = c.list_children(parent).await else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        for child in children.into_iter().filter(|n| n.starts_with("config_change_")) {
            let path = format!("{parent}/{child}");
            if let Ok(Some(stat)) = c.check_stat(&path).await {
                if now - stat.ctime > EXPIRY_MS {
                    let _ = c.delete(&path, None).await;
                }
            }
        }
    }

    /// The state znodes of partitions `0..count`.
    pub async fn read_states(&self, name: &str, count: usize) -> Result<BTreeMap<i32, VersionedState>, MetadataError> {
        let c = self.client()?;
        let reads: Vec<_> = (0..count as i32).map(|p| (p, c.get_data(&znode::state_path(name, p)))).collect();
        let mut states = BTreeMap::new();
        for (p, read) in reads {
            match read.await {
                Ok((data, stat)) => match znode::decode_state(&data) {
                    Ok(state) => {
                        states.insert(p, VersionedState { state, version: stat.version });
                    }
                    Err(reason) => {
                        tracing::warn!(topic = name, partition = p, %reason, "skipping a malformed partition state")
                    }
                },
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_err("read", &znode::state_path(name, p))(e)),
            }
        }
        Ok(states)
    }

    pub async fn read_state(&self, name: &str, partition: i32) -> Result<Option<VersionedState>, MetadataError> {
        let path = znode::state_path(name, partition);
        match self.client()?.get_data(&path).await {
            Ok((data, stat)) => Ok(znode::decode_state(&data)
                .map(|state| VersionedState { state, version: stat.version })
                .map_err(|reason| tracing::warn!(path, %reason, "skipping a malformed partition state"))
                .ok()),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// The controller's broker id and the session owning `/controller`.
    pub async fn read_controller(&self) -> Result<Option<(i32, i64)>, MetadataError> {
        match self.client()?.get_data(znode::CONTROLLER).await {
            Ok((data, stat)) => match znode::decode_controller(&data) {
                Ok(id) => Ok(Some((id, stat.ephemeral_owner))),
                Err(reason) => {
                    tracing::warn!(%reason, "malformed /controller");
                    Ok(Some((-1, stat.ephemeral_owner)))
                }
            },
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", znode::CONTROLLER)(e)),
        }
    }

    /// Writes a new topic as Kafka's admin client does: its config, then its
    /// assignment (one multi, so a failure leaves neither).
    pub async fn create_topic(&self, topic: &TopicMetadata) -> Result<(), MetadataError> {
        let c = self.client()?;
        let config_path = znode::config_path(&topic.name);
        let topic_path = znode::topic_path(&topic.name);
        let config = znode::encode_config(&topic.configs);
        let assignment = znode::encode_topic(&topic.partitions, Some(topic.topic_id));
        // A config znode may exist without its topic (written ahead by a tool,
        // or left by an interrupted deletion): overwrite it then.
        let config_exists = c.check_stat(&config_path).await.map_err(zk_err("check", &config_path))?.is_some();
        let mut multi = c.new_multi_writer();
        let add = |r: Result<(), zkc::Error>| r.map_err(zk_err("prepare", &topic_path));
        if config_exists {
            add(multi.add_set_data(&config_path, &config, None))?;
        } else {
            add(multi.add_create(&config_path, &config, &persistent()))?;
        }
        add(multi.add_create(&topic_path, &assignment, &persistent()))?;
        match multi.commit().await {
            Ok(_) => Ok(()),
            Err(MultiWriteError::OperationFailed { index: 1, source: zkc::Error::NodeExists }) => {
                Err(MetadataError::TopicExists(topic.name.clone()))
            }
            Err(e) => Err(zk_err("create", &topic_path)(e.into())),
        }
    }

    /// Asks the controller to delete a topic (`/admin/delete_topics/<t>`).
    pub async fn request_topic_deletion(&self, name: &str) -> Result<(), MetadataError> {
        let path = znode::delete_request_path(name);
        match self.client()?.create(&path, b"", &persistent()).await {
            Ok(_) | Err(zkc::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("create", &path)(e)),
        }
    }

    /// A pending election request: `None` when there is none, an empty list
    /// when its content is malformed (the controller removes it anyway).
    pub async fn read_election(&self, kind: super::ElectionType) -> Result<Option<Vec<(String, i32)>>, MetadataError> {
        let path = znode::election_path(kind);
        match self.client()?.get_data(path).await {
            Ok((data, _)) => Ok(Some(znode::decode_election(&data).unwrap_or_else(|reason| {
                tracing::warn!(path, %reason, "malformed election request; it will be removed");
                Vec::new()
            }))),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", path)(e)),
        }
    }

    /// Asks the controller for elections. `Ok(false)`: a request of this kind
    /// is pending already (Kafka allows one at a time).
    pub async fn request_election(
        &self,
        kind: super::ElectionType,
        partitions: &[(String, i32)],
    ) -> Result<bool, MetadataError> {
        let path = znode::election_path(kind);
        match self.client()?.create(path, &znode::encode_election(partitions), &persistent()).await {
            Ok(_) => Ok(true),
            Err(zkc::Error::NodeExists) => Ok(false),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }

    /// The pending `/admin/reassign_partitions` request, if any (malformed:
    /// no entries, so that the controller removes it).
    pub async fn read_reassign_request(&self) -> Result<Option<super::cache::ReassignRequest>, MetadataError> {
        let path = znode::REASSIGN_PARTITIONS;
        match self.client()?.get_data(path).await {
            Ok((data, stat)) => {
                let entries = znode::decode_reassign_request(&data).unwrap_or_else(|reason| {
                    tracing::warn!(path, %reason, "malformed reassignment request; it will be removed");
                    Vec::new()
                });
                Ok(Some(super::cache::ReassignRequest { entries, version: stat.version }))
            }
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", path)(e)),
        }
    }

    /// Writes `/admin/reassign_partitions` as Kafka 0.10's tool does.
    /// `Ok(false)`: a request is pending already.
    pub async fn request_reassignment(&self, entries: &[znode::ReassignEntry]) -> Result<bool, MetadataError> {
        let path = znode::REASSIGN_PARTITIONS;
        match self.client()?.create(path, &znode::encode_reassign_request(entries), &persistent()).await {
            Ok(_) => Ok(true),
            Err(zkc::Error::NodeExists) => Ok(false),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }

    /// Tells the controller a leader changed ISRs (Kafka's
    /// `/isr_change_notification/isr_change_<seq>`).
    pub async fn notify_isr_change(&self, partitions: &[(String, i32)]) -> Result<(), MetadataError> {
        let options = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
        let path = znode::ISR_CHANGE_PREFIX;
        match self.client()?.create(path, &znode::encode_election(partitions), &options).await {
            Ok(_) => Ok(()),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }

    /// Whether a znode exists.
    pub async fn exists(&self, path: &str) -> Result<bool, MetadataError> {
        Ok(self.client()?.check_stat(path).await.map_err(zk_err("check", path))?.is_some())
    }

    /// Replaces a topic znode (reassignment maps included) if it still has `version`.
    pub async fn set_topic_assignment(
        &self,
        name: &str,
        assignment: &znode::TopicAssignment,
        version: i32,
    ) -> Result<i32, MetadataError> {
        let path = znode::topic_path(name);
        let data = znode::encode_topic_assignment(assignment);
        match self.client()?.set_data(&path, &data, Some(version)).await {
            Ok(stat) => Ok(stat.version),
            Err(zkc::Error::NoNode) => Err(MetadataError::UnknownTopic(name.into())),
            Err(zkc::Error::BadVersion) => Err(MetadataError::Conflict(path)),
            Err(e) => Err(zk_err("update", &path)(e)),
        }
    }

    /// Replaces a partition state znode if it still has `version` (a leader's
    /// ISR change); returns the new version.
    pub async fn set_state(
        &self,
        name: &str,
        partition: i32,
        state: &super::PartitionState,
        version: i32,
    ) -> Result<i32, MetadataError> {
        let path = znode::state_path(name, partition);
        match self.client()?.set_data(&path, &znode::encode_state(state), Some(version)).await {
            Ok(stat) => Ok(stat.version),
            Err(zkc::Error::NoNode) => Err(MetadataError::UnknownTopic(name.into())),
            Err(zkc::Error::BadVersion) => Err(MetadataError::Conflict(path)),
            Err(e) => Err(zk_err("update", &path)(e)),
        }
    }

    /// Reserves the next producer-id block with a conditional update of
    /// `/latest_producer_id_block`; returns `(first, end_exclusive)`.
    pub async fn allocate_producer_ids(&self, broker: i32) -> Result<(i64, i64), MetadataError> {
        let c = self.client()?;
        let path = znode::PRODUCER_ID_BLOCK;
        for _ in 0..10 {
            let (data, stat) = match c.get_data(path).await {
                Ok(found) => found,
                Err(zkc::Error::NoNode) => {
                    match c
                        .create(path, &znode::encode_producer_block(broker, 0, PRODUCER_ID_BLOCK - 1), &persistent())
                        .await
                    {
                        Ok(_) => return Ok((0, PRODUCER_ID_BLOCK)),
                        Err(zkc::Error::NodeExists) => continue,
                        Err(e) => return Err(zk_err("create", path)(e)),
                    }
                }
                Err(e) => return Err(zk_err("read", path)(e)),
            };
            let start = match znode::decode_producer_block_end(&data) {
                Ok(Some(end)) => end.saturating_add(1),
                Ok(None) => 0,
                Err(reason) => return Err(MetadataError::Corrupt { path: path.into(), reason }),
            };
            let end = start.saturating_add(PRODUCER_ID_BLOCK);
            let block = znode::encode_producer_block(broker, start, end - 1);
            match c.set_data(path, &block, Some(stat.version)).await {
                Ok(_) => return Ok((start, end)),
                Err(zkc::Error::BadVersion) => continue,
                Err(e) => return Err(zk_err("update", path)(e)),
            }
        }
        Err(MetadataError::Conflict(path.into()))
    }

    /// Makes sure no block handed out from now on starts at or below `end`.
    pub async fn raise_producer_block(&self, broker: i32, end: i64) -> Result<(), MetadataError> {
        let c = self.client()?;
        let path = znode::PRODUCER_ID_BLOCK;
        for _ in 0..10 {
            let (data, stat) = c.get_data(path).await.map_err(zk_err("read", path))?;
            let current = znode::decode_producer_block_end(&data)
                .map_err(|reason| MetadataError::Corrupt { path: path.into(), reason })?;
            if current.is_some_and(|c| c >= end) {
                return Ok(());
            }
            let block = znode::encode_producer_block(broker, (end + 1).saturating_sub(PRODUCER_ID_BLOCK).max(0), end);
            match c.set_data(path, &block, Some(stat.version)).await {
                Ok(_) => return Ok(()),
                Err(zkc::Error::BadVersion) => continue,
                Err(e) => return Err(zk_err("update", path)(e)),
            }
        }
        Err(MetadataError::Conflict(path.into()))
    }

    // ---- controller ----

    /// `/controller_epoch` and its data version, created as "0" when absent.
    pub async fn controller_epoch(&self) -> Result<(i32, i32), MetadataError> {
        let c = self.client()?;
        let path = znode::CONTROLLER_EPOCH;
        loop {
            match c.get_data(path).await {
                Ok((data, stat)) => {
                    let epoch = znode::decode_controller_epoch(&data)
                        .map_err(|reason| MetadataError::Corrupt { path: path.into(), reason })?;
                    return Ok((epoch, stat.version));
                }
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_err("read", path)(e)),
            }
            match c.create(path, &znode::encode_controller_epoch(0), &persistent()).await {
                Ok(_) | Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(zk_err("create", path)(e)),
            }
        }
    }

    /// Tries to become controller: creates the ephemeral `/controller` and
    /// bumps `/controller_epoch` in one multi. `Ok(Some((epoch, epoch_version)))`
    /// when this broker won.
    pub async fn try_become_controller(&self, me: i32, now_ms: i64) -> Result<Option<(i32, i32)>, MetadataError> {
        let (epoch, version) = self.controller_epoch().await?;
        let c = self.client()?;
        let mut multi = c.new_multi_writer();
        let prep = |r: Result<(), zkc::Error>| r.map_err(zk_err("prepare", znode::CONTROLLER));
        prep(multi.add_create(znode::CONTROLLER, &znode::encode_controller(me, now_ms), &ephemeral()))?;
        prep(multi.add_set_data(znode::CONTROLLER_EPOCH, &znode::encode_controller_epoch(epoch + 1), Some(version)))?;
        match multi.commit().await {
            Ok(_) => Ok(Some((epoch + 1, version + 1))),
            Err(MultiWriteError::OperationFailed {
                source: zkc::Error::NodeExists | zkc::Error::BadVersion, ..
            }) => Ok(None),
            Err(e) => Err(zk_err("elect", znode::CONTROLLER)(e.into())),
        }
    }

    /// Deletes `/controller` if a session other than ours owns it (a previous
    /// run of this broker on a private coordinator).
    pub async fn remove_stale_controller(&self) -> Result<(), MetadataError> {
        let c = self.client()?;
        if let Some(stat) = c.check_stat(znode::CONTROLLER).await.map_err(zk_err("check", znode::CONTROLLER))? {
            if stat.ephemeral_owner != c.session_id().0 {
                tracing::info!("removing the controller registration a previous run of this broker left behind");
                match c.delete(znode::CONTROLLER, Some(stat.version)).await {
                    Ok(()) | Err(zkc::Error::NoNode) | Err(zkc::Error::BadVersion) => {}
                    Err(e) => return Err(zk_err("delete", znode::CONTROLLER)(e)),
                }
            }
        }
        Ok(())
    }

    /// Applies `ops` only if `/controller_epoch` still has `epoch_version`.
    pub async fn fenced(&self, epoch_version: i32, ops: &[Op]) -> Result<(), FencedError> {
        let c = self.client().map_err(FencedError::Failed)?;
        let mut multi = c.new_multi_writer();
        let prep = |r: Result<(), zkc::Error>| {
            r.map_err(|e| FencedError::Failed(zk_err("prepare", znode::CONTROLLER_EPOCH)(e)))
        };
        prep(multi.add_check_version(znode::CONTROLLER_EPOCH, epoch_version))?;
        for op in ops {
            match op {
                Op::Create(path, data) => prep(multi.add_create(path, data, &persistent()))?,
                Op::SetData(path, data, version) => prep(multi.add_set_data(path, data, Some(*version)))?,
                Op::Delete(path) => prep(multi.add_delete(path, None))?,
            }
        }
        match multi.commit().await {
            Ok(_) => Ok(()),
            Err(MultiWriteError::OperationFailed { index: 0, .. }) => Err(FencedError::Fenced),
            Err(MultiWriteError::OperationFailed { index, source }) => {
                // The index comes from the server: never trust it to be in range.
                let path = match ops.get(index - 1) {
                    Some(Op::Create(p, _) | Op::SetData(p, _, _) | Op::Delete(p)) => p.clone(),
                    None => znode::CONTROLLER_EPOCH.to_string(),
                };
                Err(FencedError::Failed(MetadataError::ZooKeeper { action: "write", path, source }))
            }
            Err(MultiWriteError::RequestFailed { source }) => Err(FencedError::Failed(MetadataError::ZooKeeper {
                action: "write",
                path: znode::CONTROLLER_EPOCH.into(),
                source,
            })),
        }
    }

    /// A subtree's paths, children before their parents (for a delete multi).
    pub async fn subtree(&self, root: &str) -> Result<Vec<String>, MetadataError> {
        let mut out = Vec::new();
        let mut stack = vec![(root.to_string(), false)];
        while let Some((path, expanded)) = stack.pop() {
            if expanded {
                out.push(path);
                continue;
            }
            let children = match self.client()?.list_children(&path).await {
                Ok(children) => children,
                Err(zkc::Error::NoNode) => continue,
                Err(e) => return Err(zk_err("list", &path)(e)),
            };
            stack.push((path.clone(), true));
            for child in children {
                stack.push((format!("{path}/{child}"), false));
            }
        }
        Ok(out)
    }

    /// Writes a consumer offset znode (`/consumers/<group>/offsets/<topic>/<partition>`),
    /// creating it and its parents when missing, as Kafka's `setOrCreateConsumerOffset`.
    pub async fn set_consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), MetadataError> {
        let c = self.client()?;
        let path = znode::consumer_offset_path(group, topic, partition);
        let data = offset.to_string().into_bytes();
        // Set first: after the first commit of a partition the node exists.
        for _ in 0..3 {
            match c.set_data(&path, &data, None).await {
                Ok(_) => return Ok(()),
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_err("update", &path)(e)),
            }
            let parent = path.rsplit_once('/').map_or("/", |(p, _)| p);
            c.mkdir(parent, &persistent()).await.map_err(zk_err("create", parent))?;
            match c.create(&path, &data, &persistent()).await {
                Ok(_) => return Ok(()),
                // Another broker created it meanwhile: set it on the next round.
                Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(zk_err("create", &path)(e)),
            }
        }
        Err(MetadataError::Conflict(path))
    }

    /// A consumer offset znode's content (`None`: no node, or an empty one).
    pub async fn read_consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, MetadataError> {
        let path = znode::consumer_offset_path(group, topic, partition);
        let data = match self.client()?.get_data(&path).await {
            Ok((data, _)) => data,
            Err(zkc::Error::NoNode) => return Ok(None),
            Err(e) => return Err(zk_err("read", &path)(e)),
        };
        if data.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(&data).ok().map(str::trim);
        match text.and_then(|t| t.parse::<i64>().ok()) {
            Some(offset) => Ok(Some(offset)),
            None => Err(MetadataError::Corrupt { path, reason: "not a decimal offset".into() }),
        }
    }

    /// Creates an empty persistent node unless it exists (its parent must exist).
    pub async fn create_if_missing(&self, path: &str) -> Result<(), MetadataError> {
        match self.client()?.create(path, b"", &persistent()).await {
            Ok(_) | Err(zkc::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }
}

/// Opens a session: connects within the connection timeout, creates the
/// chroot when missing (as Kafka does) and roots the client there.
async fn connect(settings: &ZkSettings) -> Result<Client, MetadataError> {
    let hosts = &settings.connect.hosts;
    let connecting = Client::connector().with_session_timeout(settings.session_timeout).connect(hosts);
    let client = match tokio::time::timeout(settings.connection_timeout, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(MetadataError::Connect { connect: hosts.clone(), reason: e.to_string() }),
        Err(_) => {
            return Err(MetadataError::Connect {
                connect: hosts.clone(),
                reason: format!(
                    "no session within zookeeper.connection.timeout.ms ({} ms); is ZooKeeper (or `gregor \
                     zookeeper-start`) running there?",
                    settings.connection_timeout.as_millis()
                ),
            })
        }
    };
    let Some(chroot) = &settings.connect.chroot else { return Ok(client) };
    client.mkdir(chroot, &persistent()).await.map_err(zk_err("create chroot", chroot))?;
    client.chroot(chroot.as_str()).map_err(|_| MetadataError::Invalid(format!("invalid chroot \"{chroot}\"")))
}

/// SCRAM credentials (`/config/users/<sanitized user>`): the znode's raw data,
/// decoded by `security::scram::UserConfigZnode`, which keeps every key
/// (quota keys share the znode). Writes go through
/// [`ZkStore::write_entity_config`] with its change notification.
impl ZkStore {
    /// The raw data of `/config/users/<sanitized>`; `None` when absent.
    pub async fn read_user_config_data(&self, sanitized: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        let path = format!("/config/users/{sanitized}");
        match self.client()?.get_data(&path).await {
            Ok((data, _)) => Ok(Some(data)),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }
}

/// Client quotas (`/config/clients/…`, `/config/users/…[/clients/…]`, see `quotas.rs`).
impl ZkStore {
    /// Every key of a quota entity's znode (a user's SCRAM credentials included);
    /// `None` when absent. A malformed znode is an error: a write must not drop it.
    pub async fn read_entity_config(
        &self,
        entity: &super::quotas::QuotaEntity,
    ) -> Result<Option<BTreeMap<String, String>>, MetadataError> {
        let Some(path) = entity.znode_path() else { return Ok(None) };
        match self.client()?.get_data(&path).await {
            Ok((data, _)) => UserConfigZnode::decode(&data)
                .map(|z| Some(z.config))
                .map_err(|e| MetadataError::Corrupt { path, reason: e.to_string() }),
            Err(zkc::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("read", &path)(e)),
        }
    }

    /// The quota keys of an entity (`None`: no znode, or a malformed one, which is logged).
    pub async fn read_quotas(
        &self,
        entity: &super::quotas::QuotaEntity,
    ) -> Result<Option<super::quotas::QuotaValues>, MetadataError> {
        match self.read_entity_config(entity).await {
            Ok(c) => Ok(c.map(|c| super::quotas::quota_values(&c)).filter(|q| !q.is_empty())),
            Err(MetadataError::Corrupt { path, reason }) => {
                tracing::warn!(%path, %reason, "ignoring a malformed quota config");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces a quota entity's znode with `configs` (every key: the caller kept the
    /// ones it does not own) and writes the change notification Kafka writes
    /// (`entity_path` `clients/<c>`, `users/<u>` or `users/<u>/clients/<c>`). The
    /// parents of a user+client znode are created first, empty, as Kafka does.
    pub async fn write_quota_config(
        &self,
        entity: &super::quotas::QuotaEntity,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        let Some(path) = entity.entity_path() else {
            return Err(MetadataError::Invalid("a quota entity needs a user or a client id".into()));
        };
        let (entity_type, name) = path.rsplit_once('/').unwrap_or(("clients", path.as_str()));
        if let Some(user) = &entity.user {
            if entity.client.is_some() {
                let user_path = format!("{}/{}", znode::CONFIG_USERS, user.node());
                self.create_if_missing(&user_path).await?;
                self.create_if_missing(&format!("{user_path}/clients")).await?;
            }
        }
        self.write_entity_config(entity_type, name, configs).await
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectString;

    #[test]
    fn connect_strings() {
        let c = ConnectString::parse("h1:2181,h2:2182/kafka/a").expect("parse");
        assert_eq!(c.hosts, "h1:2181,h2:2182");
        assert_eq!(c.chroot.as_deref(), Some("/kafka/a"));
        assert_eq!(ConnectString::parse("h:1").expect("parse").chroot, None);
        assert_eq!(ConnectString::parse("h:1/").expect("parse").chroot, None);
        assert!(ConnectString::parse("h:1/kafka/").is_err());
        assert!(ConnectString::parse("h:x").is_err());
        assert!(ConnectString::parse(",h:1").is_err());
        assert!(ConnectString::parse("").is_err());
    }
}
