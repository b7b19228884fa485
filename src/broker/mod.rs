//! The broker: wiring and lifecycle. [`Broker::start`] starts the embedded
//! ZooKeeper-compatible coordinator when `zookeeper.connect` is unset, opens
//! the logs, binds every listener ([`listeners`]), joins the cluster through the metadata store
//! (registration, cache, controller election), opens the partitions assigned
//! to it and starts the named tasks; [`RunningBroker::shutdown`] first hands
//! its leaderships over (controlled shutdown, while it still serves), then
//! stops accepting, drains, leaves the cluster (closing its ZooKeeper
//! session), flushes every log and writes the clean-shutdown marker.
//!
//! Request handling lives in [`handler`] (one file per Kafka API); per-partition
//! state in [`partition`]; the hosted partitions, the data-arrived signal,
//! ISR proposals and the startup HW checkpoint in [`replicas`]; following the metadata cache (creating, deleting
//! and re-configuring local partitions) in [`partition_sync`]; follower
//! fetchers, ISR updates and the HW checkpoint in [`replication`]; the
//! replication throttles in [`throttle`]. The static config (file and
//! `--override`) is [`Broker::config`]; partition sync layers the dynamic
//! broker configs from ZooKeeper over it ([`Broker::effective_config`]), which
//! topics inherit from. The broker never touches terminals or OS signals.

mod console;
pub mod handler;
pub mod internal_log;
pub mod listeners;
mod meta_properties;
pub mod metrics;
pub mod partition;
pub mod partition_sync;
pub mod producer_state;
pub mod quotas;
pub mod replicas;
pub mod replication;
mod request_metrics;
pub mod sasl;
pub mod session;
pub mod storage_io;
pub mod tasks;
pub mod throttle;
pub mod topics;
pub mod txn_markers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{BrokerConfig, TopicConfig};
use crate::metadata::{BrokerRegistration, MetadataConfig, MetadataError, MetadataStore};
use crate::network::{self, listener::Limits, shutdown};
use crate::storage::{FileIo, LogConfig, LogManager, StdFileIo, StorageError};
use crate::zk::{ZkConfig, ZkError, ZkServer};

pub use partition::Partition;

/// Failures that stop a broker from starting or shutting down cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("cannot start the embedded ZooKeeper-compatible coordinator: {0}")]
    Coordinator(#[from] ZkError),
    #[error("cannot bind listener {listener}: {source}")]
    Bind { listener: String, source: std::io::Error },
    #[error("no listener configured")]
    NoListener,
    #[error("{0}")]
    Other(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Shared broker state, handed to every connection.
pub struct Broker {
    /// The static config (file and `--override`).
    config: BrokerConfig,
    /// The static config with the dynamic broker configs from ZooKeeper
    /// applied (partition sync replaces it when they change).
    effective: std::sync::RwLock<Arc<BrokerConfig>>,
    /// The dynamic layers as last read from the cache, to notice changes.
    applied_layers: Mutex<crate::config::DynamicLayers>,
    /// `leader.replication.throttled.rate` / `follower.replication.throttled.rate`.
    quotas: throttle::ReplicationQuotas,
    node_id: i32,
    /// Host and port clients of the first listener are told to connect to.
    advertised: (String, u16),
    /// Every bound listener, in `listeners` order.
    listeners: Vec<Arc<listeners::ListenerContext>>,
    /// How this broker connects to the other brokers.
    inter_broker: listeners::InterBroker,
    logs: LogManager,
    metadata: MetadataStore,
    /// The hosted partitions and what goes with them.
    replicas: replicas::ReplicaManager,
    /// What [`partition_sync`] last applied per topic (id and config overrides).
    local_topics: Mutex<HashMap<String, partition_sync::LocalTopic>>,
    /// The metadata-cache version [`partition_sync`] last applied.
    synced: watch::Sender<u64>,
    /// Producer ids for InitProducerId, shared with the transaction coordinator.
    producer_ids: Arc<txn_markers::BrokerProducerIds>,
    /// Serialises topic creation and deletion so that checks and effects agree.
    topic_admin: tokio::sync::Mutex<()>,
    /// The consumer-group coordinator for the groups whose `__consumer_offsets` partition this broker leads.
    coordinator: Arc<crate::coordinator::GroupCoordinator>,
    /// The transaction coordinator for the transactional ids whose `__transaction_state` partition this broker leads.
    txn_coordinator: Arc<crate::coordinator::txn::TxnCoordinator>,
    /// The ACL authorizer (`authorizer.class.name`); `None`: every request is allowed.
    authorizer: Option<crate::security::authorizer::Authorizer>,
    /// What the SASL listeners accept (mechanisms, PLAIN users, re-authentication).
    sasl: sasl::SaslSettings,
    /// Rate limit for "Failed authentication" log lines, per client address.
    sasl_failures: crate::network::warnings::PeerWarnings,
    /// The Prometheus registry (`metrics.listener` serves it).
    metrics: Arc<crate::metrics::BrokerMetrics>,
    /// ISR counters and cached remote high watermarks for the `/metrics` scrape.
    state_metrics: metrics::StateMetrics,
    /// Client quotas (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage`).
    client_quotas: Arc<quotas::ClientQuotas>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

/// A started broker.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    addrs: Vec<SocketAddr>,
    trigger: shutdown::ShutdownTrigger,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The embedded coordinator, when `zookeeper.connect` is unset.
    coordinator: Option<ZkServer>,
    /// Where `/metrics` is served (`metrics.listener`).
    metrics_addr: Option<SocketAddr>,
}

impl Broker {
    /// Starts the coordinator if embedded, opens storage, binds the listener,
    /// joins the cluster, opens assigned partitions, starts tasks.
    pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
        let io: Arc<dyn FileIo> = Arc::new(StdFileIo);
        let log_dirs: Vec<PathBuf> = config.log_dirs.clone();
        let first_dir = log_dirs.first().cloned().ok_or_else(|| BrokerError::Other("log.dirs is empty".into()))?;
        let node_id = config.broker_id.max(0);
        let authorizer = crate::security::authorizer::Authorizer::from_config(&config)
            .map_err(|e| BrokerError::Other(e.to_string()))?;

        let (sasl_settings, sasl_warnings) =
            sasl::config::build(&config).map_err(|e| BrokerError::Other(e.to_string()))?;
        for warning in sasl_warnings {
            tracing::warn!("{warning}");
        }
        let bound = listeners::bind_all(&config).await?;
        let inter_broker = listeners::inter_broker(&config)?;
        // Key stores are read before anything is registered, so a bad one stops the start cleanly.
        let acceptors = listeners::tls_acceptors(&config, bound.iter().map(|(_, l)| l))?;
        let advertised = bound[0].1.advertised.clone();
        // Side HTTP listeners are bound now too, so a taken port stops the start before registration.
        let metrics_socket = match &config.metrics_listener {
            Some(value) => {
                Some(crate::metrics::http::bind("metrics.listener", value).await.map_err(BrokerError::Other)?)
            }
            None => None,
        };
        let console_socket = match &config.console_listener {
            Some(value) => {
                Some(crate::metrics::http::bind("console.listener", value).await.map_err(BrokerError::Other)?)
            }
            None => None,
        };

        // Brokers used to keep metadata in a JSON file: import it once.
        let legacy = crate::metadata::legacy::read(&first_dir)?;
        // Recovery before joining: the broker is registered only once its logs are usable.
        let default_log_config = log_config(&TopicConfig::resolve(&Default::default(), &config));
        let logs = LogManager::open(&log_dirs, default_log_config, io)?;

        // Without zookeeper.connect the coordinator runs in-process, private to
        // this broker, with its data beside the logs.
        let (coordinator, zookeeper_connect) = match &config.zookeeper_connect {
            Some(connect) => (None, connect.clone()),
            None => {
                let mut zk_config = ZkConfig::new(first_dir.join("zookeeper"));
                zk_config.client_port_address = SocketAddr::from(([127, 0, 0, 1], 0));
                let server = ZkServer::start(zk_config).await?;
                let connect = server.local_addr().to_string();
                tracing::info!(coordinator = %connect, "started the embedded ZooKeeper-compatible coordinator");
                (Some(server), connect)
            }
        };
        let registration = BrokerRegistration {
            id: node_id,
            host: advertised.0.clone(),
            port: advertised.1,
            listeners: bound
                .iter()
                .map(|(_, l)| (l.name.clone(), l.protocol.name().to_string(), l.advertised.0.clone(), l.advertised.1))
                .collect(),
            rack: config.broker_rack.clone(),
            timestamp_ms: now_ms(),
        };
        let metadata_config = MetadataConfig {
            zookeeper_connect,
            session_timeout: Duration::from_millis(config.zookeeper_session_timeout_ms),
            connection_timeout: Duration::from_millis(config.zookeeper_connection_timeout_ms),
            registration,
            delete_topic_enable: config.delete_topic_enable,
            cluster_id_if_new: legacy.as_ref().map(|l| l.cluster_id.clone()),
            private_coordinator: coordinator.is_some(),
            leader_rebalance: config.auto_leader_rebalance_enable.then(|| crate::metadata::LeaderRebalance {
                interval: Duration::from_secs(config.leader_imbalance_check_interval_seconds),
                percentage: config.leader_imbalance_per_broker_percentage,
            }),
            unclean_leader_election: config.unclean_leader_election_enable,
        };
        let started = async {
            let metadata = MetadataStore::start(metadata_config).await?;
            let prepared = async {
                meta_properties::check_or_write(&log_dirs, node_id, &metadata.cluster_id())?;
                if let Some(legacy) = &legacy {
                    let imported = metadata.import_legacy(legacy).await?;
                    crate::metadata::legacy::mark_imported(legacy)?;
                    tracing::info!(topics = imported, file = %legacy.path.display(), "imported the old metadata file into ZooKeeper");
                }
                Ok::<(), BrokerError>(())
            };
            match prepared.await {
                Ok(()) => Ok(metadata),
                Err(e) => {
                    metadata.shutdown().await;
                    Err(e)
                }
            }
        };
        let metadata = match started.await {
            Ok(metadata) => metadata,
            Err(e) => {
                if let Some(server) = coordinator {
                    let _ = server.shutdown().await;
                }
                return Err(e);
            }
        };

        let (sockets, contexts): (Vec<TcpListener>, Vec<Arc<listeners::ListenerContext>>) =
            bound.into_iter().map(|(socket, context)| (socket, Arc::new(context))).unzip();
        let (synced, synced_rx) = watch::channel(0);
        let group_config = crate::coordinator::GroupConfig::from_broker(&config);
        let offsets_commit_timeout = Duration::from_millis(config.offsets_commit_timeout_ms);
        let txn_config = txn_config(&config);
        // Kafka waits for a `__transaction_state` append up to the transaction's
        // own timeout (expiry tombstones: `request.timeout.ms`); the handle has
        // one timeout for every append, so `request.timeout.ms` it is.
        let txn_commit_timeout = Duration::from_millis(config.request_timeout_ms.max(1));
        let txn_synced = synced_rx.clone();
        let broker = Arc::new_cyclic(|me: &std::sync::Weak<Broker>| {
            let producer_ids = Arc::new(txn_markers::BrokerProducerIds::new(me.clone()));
            Broker {
                node_id,
                advertised,
                listeners: contexts.clone(),
                inter_broker,
                sasl: sasl_settings,
                sasl_failures: crate::network::warnings::PeerWarnings::new(
                    "failed authentications",
                    crate::network::warnings::WARN_INTERVAL,
                ),
                logs,
                metadata,
                replicas: replicas::ReplicaManager::new(replication::read_hw_checkpoints(&log_dirs))
                    .with_io_threads(config.num_io_threads),
                local_topics: Mutex::new(HashMap::new()),
                synced,
                producer_ids: producer_ids.clone(),
                topic_admin: tokio::sync::Mutex::new(()),
                coordinator: Arc::new(crate::coordinator::GroupCoordinator::new(
                    group_config,
                    Arc::new(internal_log::BrokerInternalLog::new(
                        me.clone(),
                        crate::protocol::internal_topics::OFFSETS_TOPIC,
                        offsets_commit_timeout,
                        synced_rx,
                    )),
                    Arc::new(internal_log::BrokerTopics::new(me.clone())),
                )),
                txn_coordinator: Arc::new(crate::coordinator::txn::TxnCoordinator::new(
                    txn_config,
                    Arc::new(internal_log::BrokerInternalLog::new(
                        me.clone(),
                        crate::protocol::internal_topics::TRANSACTION_STATE_TOPIC,
                        txn_commit_timeout,
                        txn_synced,
                    )),
                    producer_ids,
                    Arc::new(txn_markers::BrokerMarkerSender::new(me.clone())),
                )),
                effective: std::sync::RwLock::new(Arc::new(config.clone())),
                applied_layers: Mutex::new(crate::config::DynamicLayers::default()),
                quotas: throttle::ReplicationQuotas::default(),
                metrics: Arc::new(crate::metrics::BrokerMetrics::new()),
                state_metrics: metrics::StateMetrics::new(),
                client_quotas: Arc::new(quotas::ClientQuotas::from_config(&config)),
                authorizer,
                config,
            }
        });
        broker.register_request_metrics();
        if let Err(e) = broker.sync_partitions().and_then(|()| broker.checkpoint_high_watermarks()) {
            // Leave the cluster cleanly so that a retry is not refused as a duplicate.
            broker.metadata().shutdown().await;
            if let Some(server) = coordinator {
                let _ = server.shutdown().await;
            }
            return Err(e);
        }
        // The client quota metrics are read from the sensors at each scrape.
        match quotas::QuotaCollector::new(broker.client_quotas.clone()) {
            Ok(collector) => {
                if let Err(err) = broker.metrics().registry().register(Box::new(collector)) {
                    tracing::warn!(%err, "client quota metrics not registered");
                }
            }
            Err(err) => tracing::warn!(%err, "client quota metrics not created"),
        }

        let (trigger, shutdown) = shutdown::channel();
        let limits = Limits {
            max_connections: broker.config().max_connections as usize,
            max_frame_bytes: broker.config().socket_request_max_bytes as usize,
            max_queued_request_bytes: broker.config().queued_max_request_bytes,
            idle_timeout: Duration::from_millis(broker.config().connections_max_idle_ms),
            partial_request_timeout: Duration::from_millis(broker.config().partial_request_timeout_ms),
        };
        let addrs: Vec<SocketAddr> = contexts.iter().map(|l| l.local).collect();
        let mut tasks: Vec<_> = sockets
            .into_iter()
            .zip(acceptors)
            .enumerate()
            .map(|(index, (socket, tls))| {
                tokio::spawn(network::serve(socket, index, tls, broker.clone(), limits, shutdown.clone()))
            })
            .collect();
        let mut metrics_addr = None;
        if let Some(socket) = metrics_socket {
            metrics_addr = socket.local_addr().ok();
            let scraped = broker.clone();
            let handler = crate::metrics::http::metrics_handler(Arc::new(move || scraped.scrape()));
            tasks.push(tokio::spawn(crate::metrics::http::serve(socket, handler, shutdown.clone())));
        }
        let mut console_addr = None;
        if let Some(socket) = console_socket {
            console_addr = socket.local_addr().ok();
            tasks.push(tokio::spawn(console::serve(broker.clone(), &contexts, socket, shutdown.clone())));
        }
        tasks.extend(tasks::spawn_all(broker.clone(), shutdown));
        tracing::info!(
            node_id,
            listener = %addrs[0],
            metrics = %metrics_addr.map(|a| format!("http://{a}/metrics")).unwrap_or_else(|| "off".into()),
            console = %console_addr.map(|a| format!("http://{a}/")).unwrap_or_else(|| "off".into()),
            listeners = %listeners::describe(&contexts),
            advertised = %format!("{}:{}", broker.advertised().0, broker.advertised().1),
            cluster_id = %broker.metadata().cluster_id(),
            "[KafkaServer id={node_id}] started"
        );
        Ok(RunningBroker { broker, addrs, trigger, tasks, coordinator, metrics_addr })
    }

    /// The broker's Prometheus metrics.
    pub fn metrics(&self) -> &Arc<crate::metrics::BrokerMetrics> {
        &self.metrics
    }

    /// The ACL authorizer, when `authorizer.class.name` turns it on.
    pub fn authorizer(&self) -> Option<&crate::security::authorizer::Authorizer> {
        self.authorizer.as_ref()
    }

    /// Host and port clients of the first listener are told to connect to.
    pub fn advertised(&self) -> &(String, u16) {
        &self.advertised
    }

    /// Every bound listener, in `listeners` order.
    pub fn listeners(&self) -> &[Arc<listeners::ListenerContext>] {
        &self.listeners
    }

    /// How this broker connects to the other brokers.
    pub fn inter_broker(&self) -> &listeners::InterBroker {
        &self.inter_broker
    }

    /// What the SASL listeners accept.
    pub(crate) fn sasl_settings(&self) -> &sasl::SaslSettings {
        &self.sasl
    }

    /// The rate limit of "Failed authentication" log lines.
    pub(crate) fn sasl_failures(&self) -> &crate::network::warnings::PeerWarnings {
        &self.sasl_failures
    }

    /// The partitions' logs on disk.
    pub fn logs(&self) -> &LogManager {
        &self.logs
    }

    /// The hosted partitions (replica management).
    pub fn replicas(&self) -> &replicas::ReplicaManager {
        &self.replicas
    }

    /// The broker's static settings (file and `--override`).
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The settings in force: the static ones with the dynamic broker
    /// configs (`/config/brokers/<default>` and `/config/brokers/<id>`) applied.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.effective.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The replication throttles.
    pub fn replication_quotas(&self) -> &throttle::ReplicationQuotas {
        &self.quotas
    }

    /// The client quota manager.
    pub fn client_quotas(&self) -> &Arc<quotas::ClientQuotas> {
        &self.client_quotas
    }

    /// Applies the dynamic broker configs found in the cache when they changed;
    /// true when they did (every topic's effective config must then be resolved again).
    pub(crate) fn apply_dynamic_config(&self, layers: crate::config::DynamicLayers) -> bool {
        let mut applied = self.applied_layers.lock().unwrap_or_else(|e| e.into_inner());
        if *applied == layers {
            return false;
        }
        let (config, warnings) = self.config.with_dynamic(layers.clone());
        for w in warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            default = ?layers.default.keys().collect::<Vec<_>>(),
            broker = ?layers.broker.keys().collect::<Vec<_>>(),
            "applying dynamic broker configs"
        );
        self.quotas.configure(&config);
        self.metadata.set_unclean_leader_election(config.unclean_leader_election_enable);
        *self.effective.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *applied = layers;
        true
    }

    /// This broker's id (`broker.id`).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The cluster metadata (ZooKeeper and its cache).
    pub fn metadata(&self) -> &MetadataStore {
        &self.metadata
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &Arc<crate::coordinator::GroupCoordinator> {
        &self.coordinator
    }

    /// The transaction coordinator.
    pub fn transactions(&self) -> &Arc<crate::coordinator::txn::TxnCoordinator> {
        &self.txn_coordinator
    }

    /// Where idempotent producers' ids come from.
    pub(crate) fn producer_ids(&self) -> &txn_markers::BrokerProducerIds {
        &self.producer_ids
    }

    /// Registered brokers (`/brokers/ids`), sorted.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.metadata.live_brokers()
    }
}

/// The transaction coordinator's settings from the broker's (Kafka's key
/// names; the config layer validated each as at least 1).
fn txn_config(cfg: &BrokerConfig) -> crate::coordinator::txn::TxnConfig {
    let int = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    let long = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    crate::coordinator::txn::TxnConfig {
        max_timeout_ms: int(cfg.transaction_max_timeout_ms),
        id_expiration_ms: long(cfg.transactional_id_expiration_ms),
        abort_timed_out_interval_ms: long(cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms),
        remove_expired_interval_ms: long(cfg.transaction_remove_expired_transaction_cleanup_interval_ms),
    }
}

/// The storage settings a topic's effective config implies.
pub fn log_config(tc: &TopicConfig) -> LogConfig {
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    LogConfig {
        segment_bytes: u64::from(tc.segment_bytes),
        segment_ms: signed(tc.segment_ms),
        // A compact-only topic keeps its segments: nothing is deleted by age or size.
        retention_ms: if tc.cleanup_policy.delete { tc.retention_ms.map_or(-1, signed) } else { -1 },
        retention_bytes: if tc.cleanup_policy.delete { tc.retention_bytes.map_or(-1, signed) } else { -1 },
        index_interval_bytes: tc.index_interval_bytes,
        flush_interval_messages: tc.flush_messages,
        // Kafka's "never" is Long.MAX_VALUE.
        flush_interval_ms: (tc.flush_ms < i64::MAX as u64).then_some(tc.flush_ms),
    }
}

impl RunningBroker {
    /// The address the (first) listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Where `/metrics` is served, when `metrics.listener` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// With `controlled.shutdown.enable`, hands this broker's leaderships
    /// over first (it keeps serving meanwhile); then stops accepting, lets
    /// tasks run their final tick, flushes all logs, checkpoints and writes
    /// the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        let handover = self.broker.config().controlled_shutdown_enable;
        self.stop(handover).await
    }

    /// As [`RunningBroker::shutdown`] without the controlled shutdown: for a
    /// broker whose whole cluster stops with it (`gregor cluster up`'s
    /// children when `up` dies), where nobody is left to take over.
    pub async fn shutdown_without_handover(self) -> Result<(), BrokerError> {
        self.stop(false).await
    }

    async fn stop(self, handover: bool) -> Result<(), BrokerError> {
        tracing::info!(node_id = self.broker.node_id(), "shutting down");
        if handover {
            handler::controlled_shutdown::hand_over(&self.broker).await;
        }
        self.trigger.trigger();
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
                tracing::warn!("a task did not stop within 10 s");
            }
        }
        // Leave the cluster: closing the session removes the registration (and
        // /controller) at once, so a restart does not find them.
        self.broker.metadata().shutdown().await;
        if let Some(server) = self.coordinator {
            if let Err(e) = server.shutdown().await {
                tracing::warn!(error = %e, "the embedded coordinator did not shut down cleanly");
            }
        }
        // Producer state as of the log end, so the next start replays nothing.
        for partition in self.broker.replicas().all_partitions() {
            if let Err(err) = partition.snapshot_producer_state() {
                tracing::warn!(partition = %partition.tp, %err, "cannot snapshot the producer state at shutdown");
            }
        }
        self.broker.logs().shutdown()?;
        tracing::info!(node_id = self.broker.node_id(), "shut down cleanly");
        Ok(())
    }
}
