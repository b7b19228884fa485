//! The broker: wiring and lifecycle. [`Broker::start`] opens the logs and the
//! metadata store, binds the listeners and starts the named periodic tasks;
//! [`RunningBroker::shutdown`] stops accepting, drains, flushes every log and
//! writes the clean-shutdown marker.
//!
//! Request handling lives in [`handler`] (one file per Kafka API); per-partition
//! state in [`partition`]. The broker never touches terminals or OS signals.

pub mod handler;
pub mod partition;
pub mod producer_state;
pub mod tasks;
pub mod topics;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{BrokerConfig, TopicConfig};
use crate::metadata::{MetadataError, MetadataStore, TopicMetadata};
use crate::network::{self, listener::Limits, shutdown};
use crate::storage::{FileIo, LogConfig, LogManager, StdFileIo, StorageError, TopicPartition};

pub use partition::Partition;

/// Failures that stop a broker from starting or shutting down cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
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
    pub config: BrokerConfig,
    pub node_id: i32,
    /// Host and port clients are told to connect to.
    pub advertised: (String, u16),
    pub logs: LogManager,
    pub metadata: MetadataStore,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped after every append so that waiting fetches re-check at once.
    data_arrived: watch::Sender<u64>,
    producer_ids: Mutex<(i64, i64)>,
    /// Serialises topic creation and deletion so that checks and effects agree.
    pub(crate) topic_admin: tokio::sync::Mutex<()>,
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
}

impl Broker {
    /// Opens storage and metadata, binds listeners, starts tasks.
    pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
        let io: Arc<dyn FileIo> = Arc::new(StdFileIo);
        let log_dirs: Vec<PathBuf> = config.log_dirs.clone();
        let first_dir = log_dirs.first().cloned().ok_or_else(|| BrokerError::Other("log.dirs is empty".into()))?;
        let metadata = MetadataStore::open(&first_dir)?;
        let default_log_config = log_config(&TopicConfig::resolve(&Default::default(), &config));
        let logs = LogManager::open(&log_dirs, default_log_config, io)?;
        let node_id = config.broker_id.max(0);

        let listener_cfg = config.listeners.first().cloned().ok_or(BrokerError::NoListener)?;
        let bind_host = if listener_cfg.host.is_empty() { "0.0.0.0".to_string() } else { listener_cfg.host.clone() };
        let bind = format!("{bind_host}:{}", listener_cfg.port);
        let listener =
            TcpListener::bind(&bind).await.map_err(|source| BrokerError::Bind { listener: bind.clone(), source })?;
        let local = listener.local_addr().map_err(|source| BrokerError::Bind { listener: bind, source })?;
        let advertised = match config.advertised_listeners.first() {
            Some(adv) if adv.port != 0 => {
                let host =
                    if adv.host.is_empty() || adv.host == "0.0.0.0" { "127.0.0.1".into() } else { adv.host.clone() };
                (host, adv.port)
            }
            _ => {
                let host = if bind_host == "0.0.0.0" { "127.0.0.1".to_string() } else { bind_host.clone() };
                (host, local.port())
            }
        };

        let (data_arrived, _) = watch::channel(0u64);
        let broker = Arc::new(Broker {
            node_id,
            advertised,
            logs,
            metadata,
            partitions: RwLock::new(HashMap::new()),
            data_arrived,
            producer_ids: Mutex::new((0, 0)),
            topic_admin: tokio::sync::Mutex::new(()),
            config,
        });
        broker.load_partitions()?;
        broker.remove_orphan_logs()?;

        let (trigger, shutdown) = shutdown::channel();
        let limits = Limits {
            max_connections: broker.config.max_connections as usize,
            max_frame_bytes: broker.config.socket_request_max_bytes as usize,
        };
        let mut tasks = vec![tokio::spawn(network::serve(listener, broker.clone(), limits, shutdown.clone()))];
        tasks.extend(tasks::spawn_all(broker.clone(), shutdown));
        tracing::info!(
            node_id,
            listener = %local,
            advertised = %format!("{}:{}", broker.advertised.0, broker.advertised.1),
            cluster_id = %broker.metadata.cluster_id(),
            "[KafkaServer id={node_id}] started"
        );
        Ok(RunningBroker { broker, addrs: vec![local], trigger, tasks })
    }

    /// Creates partition objects for every partition of every known topic.
    fn load_partitions(&self) -> Result<(), BrokerError> {
        for topic in self.metadata.topics() {
            self.open_topic_partitions(&topic, 0)?;
        }
        Ok(())
    }

    /// Deletes logs of topics the metadata no longer knows (deleted while down).
    fn remove_orphan_logs(&self) -> Result<(), BrokerError> {
        let known = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        for tp in self.logs.partitions() {
            if !known.contains_key(&tp) {
                tracing::info!(partition = %tp, "deleting log of a topic that no longer exists");
                self.logs.delete(&tp)?;
            }
        }
        Ok(())
    }

    /// Opens (creating as needed) the logs of a topic's partitions from `first` on.
    pub(crate) fn open_topic_partitions(&self, topic: &TopicMetadata, first: usize) -> Result<(), BrokerError> {
        let topic_config = TopicConfig::resolve(&topic.configs, &self.config);
        let lc = log_config(&topic_config);
        let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        for (index, replicas) in topic.partitions.iter().enumerate().skip(first) {
            if !replicas.contains(&self.node_id) {
                continue;
            }
            let tp = TopicPartition { topic: topic.name.clone(), partition: index as i32 };
            let log = self.logs.get_or_create(&tp, lc.clone())?;
            {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.set_config(lc.clone());
            }
            map.insert(tp.clone(), Arc::new(Partition::new(tp, log, topic_config.clone())));
        }
        Ok(())
    }

    /// Drops a topic's partitions and deletes their logs.
    pub(crate) fn remove_topic_partitions(&self, topic: &TopicMetadata) -> Result<(), BrokerError> {
        let removed: Vec<TopicPartition> = {
            let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<TopicPartition> = map.keys().filter(|tp| tp.topic == topic.name).cloned().collect();
            for k in &keys {
                map.remove(k);
            }
            keys
        };
        for tp in removed {
            self.logs.delete(&tp)?;
        }
        Ok(())
    }

    /// The partition object, if this broker hosts it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).get(&tp).cloned()
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Wakes waiting fetches.
    pub(crate) fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever data is appended anywhere.
    pub(crate) fn data_arrived(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }

    /// The next producer id, allocating a new durable block when one runs out.
    pub(crate) fn next_producer_id(&self) -> Result<i64, MetadataError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.0 >= ids.1 {
            *ids = self.metadata.allocate_producer_ids()?;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Live brokers (this one, until cluster metadata moves into ZooKeeper).
    pub fn live_brokers(&self) -> Vec<i32> {
        vec![self.node_id]
    }
}

/// The storage settings a topic's effective config implies.
pub fn log_config(tc: &TopicConfig) -> LogConfig {
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    LogConfig {
        segment_bytes: u64::from(tc.segment_bytes),
        segment_ms: signed(tc.segment_ms),
        retention_ms: tc.retention_ms.map_or(-1, signed),
        retention_bytes: tc.retention_bytes.map_or(-1, signed),
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

    /// Stops accepting, lets tasks run their final tick, flushes all logs,
    /// checkpoints and writes the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        tracing::info!(node_id = self.broker.node_id, "shutting down");
        self.trigger.trigger();
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
                tracing::warn!("a task did not stop within 10 s");
            }
        }
        self.broker.logs.shutdown()?;
        tracing::info!(node_id = self.broker.node_id, "shut down cleanly");
        Ok(())
    }
}
