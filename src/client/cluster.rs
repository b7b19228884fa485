//! What a client knows about the cluster: the bootstrap list, one pooled
//! [`Connection`] per broker address, and a metadata cache (brokers, the
//! controller, and the topics this client cares about with their leaders).
//!
//! Metadata is refreshed on demand: when a topic is first used, when an error
//! says a leader moved (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, network
//! errors, …), and when it is older than `metadata.max.age.ms`. Concurrent
//! refresh requests are coalesced into one Metadata round trip.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::admin::{BrokerInfo, PartitionInfo, TopicDescription};
use super::connection::Connection;
use super::{ClientConfig, ClientError, ResponseError};

/// Cached cluster metadata; replaced as a whole on every refresh.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub controller: Option<i32>,
    pub cluster_id: Option<String>,
    /// Topics asked for, each either described or with the broker's error.
    pub topics: HashMap<String, Result<TopicDescription, ClientError>>,
    pub fetched: Option<Instant>,
}

impl Metadata {
    /// The partition's leader, if one is known.
    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.topics.get(topic)?.as_ref().ok()?;
        t.partitions.iter().find(|p| p.partition == partition)?.leader
    }

    /// `host:port` of a broker.
    pub(crate) fn address(&self, node: i32) -> Option<String> {
        self.brokers.get(&node).map(|b| format!("{}:{}", b.host, b.port))
    }
}

/// Turns a Metadata response into the cache's shape.
pub(crate) fn parse_metadata(resp: MetadataResponse) -> Metadata {
    let brokers = resp
        .brokers
        .into_iter()
        .filter_map(|b| {
            let port = u16::try_from(b.port).ok()?;
            Some((
                b.node_id.0,
                BrokerInfo { id: b.node_id.0, host: b.host.to_string(), port, rack: b.rack.map(|r| r.to_string()) },
            ))
        })
        .collect();
    let controller = Some(resp.controller_id.0).filter(|c| *c >= 0);
    let mut topics = HashMap::new();
    for t in resp.topics {
        let Some(name) = t.name.map(|n| n.0.to_string()) else { continue };
        let entry = match ClientError::check(t.error_code, None, || format!("topic '{name}'")) {
            Err(e) => Err(e),
            Ok(()) => {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: Some(p.leader_id.0).filter(|l| *l >= 0),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.into_iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.into_iter().map(|b| b.0).collect(),
                        offline: p.offline_replicas.into_iter().map(|b| b.0).collect(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Ok(TopicDescription {
                    name: name.clone(),
                    topic_id: Some(t.topic_id).filter(|id| !id.is_nil()),
                    internal: t.is_internal,
                    partitions,
                })
            }
        };
        topics.insert(name, entry);
    }
    Metadata {
        brokers,
        controller,
        cluster_id: resp.cluster_id.map(|c| c.to_string()),
        topics,
        fetched: Some(Instant::now()),
    }
}

/// Errors worth another attempt (after a metadata refresh) within an operation's deadline.
pub(crate) fn is_transient(err: &ClientError) -> bool {
    match err {
        ClientError::Io { .. } | ClientError::Timeout { .. } => true,
        ClientError::Kafka { code, .. } => matches!(
            code,
            ResponseError::NotController
                | ResponseError::LeaderNotAvailable
                | ResponseError::NotLeaderOrFollower
                | ResponseError::RequestTimedOut
                | ResponseError::NetworkException
                | ResponseError::BrokerNotAvailable
                | ResponseError::ReplicaNotAvailable
                | ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::KafkaStorageError
                | ResponseError::ThrottlingQuotaExceeded
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
        ),
        _ => false,
    }
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Connection>>,
    /// Last failed attempt: callers within `retry_backoff` get this error at once.
    failed: Option<(Instant, ClientError)>,
}

/// Connections and metadata shared by one client.
pub(crate) struct Cluster {
    pub(crate) config: ClientConfig,
    /// What each connection does after connecting (TLS, SASL), built once from the config.
    security: super::Security,
    bootstrap: Vec<String>,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// The established connections, readable without waiting on a connect in progress.
    live: Mutex<HashMap<String, Arc<Connection>>>,
    metadata: RwLock<Arc<Metadata>>,
    /// Serialises refreshes so that concurrent callers share one round trip.
    refresh_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    /// Topics the cache follows (the producer's and consumer's topics), with a
    /// version that grows with every topic added.
    interest: Mutex<(BTreeSet<String>, u64)>,
    /// The interest version the cache was last fetched for.
    fetched_interest: AtomicU64,
    /// Whether Metadata requests may auto-create topics (producers: yes).
    allow_auto_create: bool,
    /// Rotates the broker tried first for requests any broker can answer.
    rotation: AtomicUsize,
    /// Whether any broker ever accepted a connection. Until one has, a refused
    /// connection most likely means a wrong address or no broker at all, and
    /// operations give up after [`UNREACHABLE_GRACE`] instead of retrying for
    /// the whole request timeout.
    reached: AtomicBool,
}

/// How long an operation keeps retrying refused connections before any broker
/// was ever reached: long enough for a broker that is just starting, short
/// enough that a typo in `--bootstrap-server` is reported at once.
const UNREACHABLE_GRACE: Duration = Duration::from_millis(1500);

impl Cluster {
    pub(crate) fn new(config: ClientConfig, allow_auto_create: bool) -> Result<Arc<Cluster>, ClientError> {
        let security = super::Security::for_client(&config)?;
        Cluster::with_security(config, allow_auto_create, security)
    }

    /// Like [`Cluster::new`] with connection security built elsewhere (a
    /// broker's inter-broker settings) instead of from `config`'s keys.
    pub(crate) fn with_security(
        config: ClientConfig,
        allow_auto_create: bool,
        security: super::Security,
    ) -> Result<Arc<Cluster>, ClientError> {
        config.validate()?;
        let bootstrap = config.bootstrap_addresses()?;
        security.check_supported()?;
        Ok(Arc::new(Cluster {
            config,
            security,
            bootstrap,
            slots: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            metadata: RwLock::new(Arc::new(Metadata::default())),
            refresh_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            interest: Mutex::new((BTreeSet::new(), 0)),
            fetched_interest: AtomicU64::new(0),
            allow_auto_create,
            rotation: AtomicUsize::new(0),
            reached: AtomicBool::new(false),
        }))
    }

    /// The current metadata.
    pub(crate) fn snapshot(&self) -> Arc<Metadata> {
        self.metadata.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts completed refreshes; lets callers tell whether one happened since.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the cache is older than `metadata.max.age.ms` (or empty).
    pub(crate) fn is_stale(&self) -> bool {
        self.snapshot().fetched.is_none_or(|t| t.elapsed() >= self.config.metadata_max_age)
    }

    /// Starts following `topic`; true if it was not followed yet.
    pub(crate) fn add_interest(&self, topic: &str) -> bool {
        let mut i = self.interest.lock().unwrap_or_else(|e| e.into_inner());
        if i.0.contains(topic) {
            false
        } else {
            i.1 += 1;
            i.0.insert(topic.to_string())
        }
    }

    /// A connection to `addr`, reusing the pooled one while it is alive.
    pub(crate) async fn connection(&self, addr: &str) -> Result<Arc<Connection>, ClientError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(addr.to_string()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = &slot.conn {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
        }
        if let Some((at, err)) = &slot.failed {
            if at.elapsed() < self.config.retry_backoff {
                return Err(err.clone());
            }
        }
        match Connection::connect(addr, &self.config.client_id, self.config.request_timeout, &self.security).await {
            Ok(conn) => {
                self.reached.store(true, Ordering::Release);
                slot.conn = Some(conn.clone());
                slot.failed = None;
                self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), conn.clone());
                Ok(conn)
            }
            Err(err) => {
                tracing::debug!(broker = addr, %err, "connection failed");
                slot.conn = None;
                slot.failed = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    /// The pooled connection to `addr` if it is up, without waiting.
    pub(crate) fn ready_connection(&self, addr: &str) -> Option<Arc<Connection>> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(addr).filter(|c| !c.is_closed()).cloned()
    }

    /// A connection to broker `node` as the metadata lists it.
    pub(crate) async fn broker_connection(&self, node: i32) -> Result<Arc<Connection>, ClientError> {
        let addr = self.snapshot().address(node).ok_or_else(|| {
            ClientError::kafka(ResponseError::BrokerNotAvailable, None, format!("broker {node} is not in the metadata"))
        })?;
        self.connection(&addr).await
    }

    /// A connection to the controller (for topic creation and deletion).
    pub(crate) async fn controller_connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut md = self.snapshot();
        if md.controller.is_none() {
            self.refresh().await?;
            md = self.snapshot();
        }
        match md.controller {
            Some(id) => self.broker_connection(id).await,
            None => Err(ClientError::kafka(ResponseError::NotController, None, "the cluster reports no controller")),
        }
    }

    /// A connection to any reachable broker: known brokers first, then the bootstrap list.
    pub(crate) async fn any_connection(&self) -> Result<Arc<Connection>, ClientError> {
        let md = self.snapshot();
        let mut candidates: Vec<String> = md.brokers.keys().filter_map(|id| md.address(*id)).collect();
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        if !candidates.is_empty() {
            let n = candidates.len();
            candidates.rotate_left(start % n);
        }
        for b in &self.bootstrap {
            if !candidates.contains(b) {
                candidates.push(b.clone());
            }
        }
        // Prefer a connection that is already up.
        if let Some(conn) = candidates.iter().find_map(|a| self.ready_connection(a)) {
            return Ok(conn);
        }
        let mut last = None;
        for addr in &candidates {
            match self.connection(addr).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Config("no broker address to connect to".into())))
    }

    /// One Metadata round trip to any broker. `topics`: `None` = all topics.
    /// The cached broker list and controller are updated from the answer.
    pub(crate) async fn fetch_metadata(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<Metadata, ClientError> {
        let md = self.metadata_request(topics, allow_auto_create).await?;
        self.merge_brokers(&md);
        Ok(md)
    }

    async fn metadata_request(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<Metadata, ClientError> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::Metadata)?;
        let topics = match topics {
            // v0 has no way to say "all topics" except an empty list.
            None if version == 0 => Some(Vec::new()),
            None => None,
            Some(names) if names.is_empty() && version == 0 => {
                return Err(ClientError::protocol(conn.addr(), "Metadata v0 cannot ask for no topics"));
            }
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect(),
            ),
        };
        // Before v4 the field does not exist and the broker decides.
        let req = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(allow_auto_create || version < 4);
        let resp = match conn.call(&req, version).await {
            Ok(r) => r,
            Err(e) => {
                if e.invalidates_metadata() {
                    conn.close(e.clone());
                }
                return Err(e);
            }
        };
        Ok(parse_metadata(resp))
    }

    /// Keeps the broker list and controller current from any Metadata answer.
    fn merge_brokers(&self, md: &Metadata) {
        let mut cur = self.metadata.write().unwrap_or_else(|e| e.into_inner());
        if md.brokers.is_empty() {
            return;
        }
        let topics = cur.topics.clone();
        *cur = Arc::new(Metadata {
            brokers: md.brokers.clone(),
            controller: md.controller,
            cluster_id: md.cluster_id.clone(),
            topics,
            fetched: cur.fetched,
        });
    }

    /// Refreshes the cache for the followed topics; concurrent calls share one request.
    pub(crate) async fn refresh(&self) -> Result<(), ClientError> {
        let seen = self.generation();
        let wanted = self.interest.lock().unwrap_or_else(|e| e.into_inner()).1;
        let _guard = self.refresh_lock.lock().await;
        if self.generation() != seen && self.fetched_interest.load(Ordering::Acquire) >= wanted {
            return Ok(()); // someone refreshed, for at least our topics, while we waited
        }
        let (topics, version) = {
            let i = self.interest.lock().unwrap_or_else(|e| e.into_inner());
            (i.0.iter().cloned().collect::<Vec<String>>(), i.1)
        };
        let result = self.metadata_request(Some(&topics), self.allow_auto_create).await;
        let md = match result {
            Ok(md) => md,
            Err(e) => {
                // A broker that is down may be one of several: try once more elsewhere.
                if is_transient(&e) {
                    self.metadata_request(Some(&topics), self.allow_auto_create).await?
                } else {
                    return Err(e);
                }
            }
        };
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(md);
        self.fetched_interest.store(version, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether `err` is a refused connection and no broker was ever reached.
    pub(crate) fn never_reached(&self, err: &ClientError) -> bool {
        err.is_refused() && !self.reached.load(Ordering::Acquire)
    }

    /// Runs `op` again after `retry.backoff.ms` (refreshing metadata when the
    /// error suggests it) while it fails with a transient error, for at most
    /// `request.timeout.ms` in total.
    pub(crate) async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let started = Instant::now();
        let deadline = started + self.config.request_timeout;
        let mut backoff = self.config.retry_backoff;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if self.never_reached(&e) && started.elapsed() + backoff >= UNREACHABLE_GRACE => return Err(e),
                Err(e) if is_transient(&e) && Instant::now() + backoff < deadline => {
                    tracing::debug!(err = %e, "retrying");
                    tokio::time::sleep(backoff).await;
                    if e.invalidates_metadata() {
                        let _ = self.refresh().await;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
