//! Request-path metrics: what Kafka's `kafka.network:type=RequestMetrics`,
//! `type=RequestChannel`, `kafka.server:type=SocketServerMetrics`,
//! `type=BrokerTopicMetrics` and `type=DelayedOperationPurgatory` MBeans show,
//! under the names the JMX exporter gives them (see the module above).
//!
//! Everything a request touches is resolved before it is needed: one slot
//! per API key (plus Kafka's `FetchConsumer` / `FetchFollower` split), each
//! holding its histograms and, created on first use, one counter per version
//! and per error code. Recording a request is then a few atomic adds and no
//! allocation; only the first request of an API (or a new version or error
//! of it) takes the metric family's lock to create its series.
//!
//! Per-topic counters ([`TopicCounters`]) are created once per topic and
//! kept by whoever counts (a partition caches its topic's handle), and their
//! series are removed when the broker stops hosting the topic.
//!
//! It knows nothing of the broker: the broker classifies requests (which slot,
//! which version) and calls in; the network layer only measures times.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Kafka's request names (`ApiKeys.name`), indexed by API key.
pub const REQUEST_NAMES: [&str; 76] = [
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "LeaderAndIsr",
    "StopReplica",
    "UpdateMetadata",
    "ControlledShutdown",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "WriteTxnMarkers",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "AlterReplicaLogDirs",
    "DescribeLogDirs",
    "SaslAuthenticate",
    "CreatePartitions",
    "CreateDelegationToken",
    "RenewDelegationToken",
    "ExpireDelegationToken",
    "DescribeDelegationToken",
    "DeleteGroups",
    "ElectLeaders",
    "IncrementalAlterConfigs",
    "AlterPartitionReassignments",
    "ListPartitionReassignments",
    "OffsetDelete",
    "DescribeClientQuotas",
    "AlterClientQuotas",
    "DescribeUserScramCredentials",
    "AlterUserScramCredentials",
    "Vote",
    "BeginQuorumEpoch",
    "EndQuorumEpoch",
    "DescribeQuorum",
    "AlterPartition",
    "UpdateFeatures",
    "Envelope",
    "FetchSnapshot",
    "DescribeCluster",
    "DescribeProducers",
    "BrokerRegistration",
    "BrokerHeartbeat",
    "UnregisterBroker",
    "DescribeTransactions",
    "ListTransactions",
    "AllocateProducerIds",
    "ConsumerGroupHeartbeat",
    "ConsumerGroupDescribe",
    "ControllerRegistration",
    "GetTelemetrySubscriptions",
    "PushTelemetry",
    "AssignReplicasToDirs",
    "ListClientMetricsResources",
    "DescribeTopicPartitions",
];

/// The slot of a consumer's Fetch (Kafka records it as `FetchConsumer` and as `Fetch`).
pub const FETCH_CONSUMER: u16 = REQUEST_NAMES.len() as u16;
/// The slot of a follower's Fetch (`replica_id >= 0`): `FetchFollower` and `Fetch`.
pub const FETCH_FOLLOWER: u16 = FETCH_CONSUMER + 1;
/// How many request slots there are.
pub const SLOTS: usize = REQUEST_NAMES.len() + 2;
/// The slot of the plain `Fetch` series.
const FETCH: u16 = 1;

/// Versions 0..MAX_VERSIONS get a `version` series; no API has more today.
const MAX_VERSIONS: usize = 32;
const VERSION_LABELS: [&str; MAX_VERSIONS] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20",
    "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
];

/// Error codes −1..=MAX_ERROR_CODE get their own counter handle; others are
/// looked up by name each time (none exist today).
const MAX_ERROR_CODE: i16 = 160;

/// Millisecond buckets of every request-time histogram (and the log flush's).
pub const MS_BUCKETS: [f64; 16] =
    [0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0];

/// A request slot's name: Kafka's request name, or `FetchConsumer` / `FetchFollower`.
pub fn request_name(slot: u16) -> Option<&'static str> {
    match slot {
        FETCH_CONSUMER => Some("FetchConsumer"),
        FETCH_FOLLOWER => Some("FetchFollower"),
        s => REQUEST_NAMES.get(usize::from(s)).copied(),
    }
}

/// The slot of API key `api_key`, for a Fetch split by who sent it;
/// `None` for keys Kafka does not have.
pub fn slot(api_key: i16, follower: bool) -> Option<u16> {
    let key = usize::try_from(api_key).ok().filter(|k| *k < REQUEST_NAMES.len())?;
    Some(match key as u16 {
        FETCH if follower => FETCH_FOLLOWER,
        FETCH => FETCH_CONSUMER,
        k => k,
    })
}

/// Kafka's name of an error code (`Errors.name()`: `NONE`,
/// `UNKNOWN_TOPIC_OR_PARTITION`…); an unknown code is its number.
pub fn error_name(code: i16) -> String {
    if code == 0 {
        return "NONE".to_string();
    }
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(kafka_protocol::ResponseError::Unknown(_)) | None => code.to_string(),
        Some(err) => upper_snake(&format!("{err:?}")),
    }
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Milliseconds, as the histograms count them.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How long one request spent in each stage, as the connection measured it.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Frame fully read → handler started.
    pub request_queue: Duration,
    /// Handling, less any wait for others.
    pub local: Duration,
    /// Waiting for others: replication (acks=all), data (a fetch's long poll).
    pub remote: Duration,
    /// Answer ready → the writer starts writing it.
    pub response_queue: Duration,
    /// Writing the answer.
    pub response_send: Duration,
    /// Frame fully read → answer written.
    pub total: Duration,
}

/// One request slot's series.
struct SlotHandles {
    name: &'static str,
    request_queue: Histogram,
    local: Histogram,
    remote: Histogram,
    response_queue: Histogram,
    response_send: Histogram,
    total: Histogram,
    versions: [OnceLock<IntCounter>; MAX_VERSIONS],
    /// Indexed by error code + 1.
    errors: Box<[OnceLock<IntCounter>]>,
}

/// The per-API request metrics, the request channel's queue sizes and the
/// connection counts.
pub struct RequestMetrics {
    requests: IntCounterVec,
    request_queue_time: HistogramVec,
    local_time: HistogramVec,
    remote_time: HistogramVec,
    response_queue_time: HistogramVec,
    response_send_time: HistogramVec,
    total_time: HistogramVec,
    errors: IntCounterVec,
    request_queue_size: IntGauge,
    response_queue_size: IntGauge,
    connection_count: IntGaugeVec,
    connection_creation: IntCounterVec,
    connection_close: IntCounterVec,
    slots: Box<[OnceLock<SlotHandles>]>,
}

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics").finish_non_exhaustive()
    }
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics::new()
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn ms_histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(MS_BUCKETS.to_vec()), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

/// Registers every collector, logging (not failing on) a name already taken.
pub fn register_all(registry: &prometheus::Registry, collectors: Vec<Box<dyn Collector>>) {
    for c in collectors {
        if let Err(err) = registry.register(c) {
            tracing::debug!(%err, "metric not registered");
        }
    }
}

impl RequestMetrics {
    /// The metrics, not yet registered (see [`RequestMetrics::register`]).
    // The names and label sets are constants: a failure is a bug caught by the tests.
    #[allow(clippy::panic)]
    pub fn new() -> RequestMetrics {
        const P: &str = "kafka_network_requestmetrics_";
        RequestMetrics {
            requests: counter_vec(
                &format!("{P}requests_total"),
                "Requests received, by Kafka request name and version.",
                &["request", "version"],
            ),
            request_queue_time: ms_histogram_vec(
                &format!("{P}requestqueuetimems"),
                "Milliseconds from a request's last byte read to its handler starting.",
                &["request"],
            ),
            local_time: ms_histogram_vec(
                &format!("{P}localtimems"),
                "Milliseconds the broker spent handling a request itself.",
                &["request"],
            ),
            remote_time: ms_histogram_vec(
                &format!("{P}remotetimems"),
                "Milliseconds a request waited on others: replication for acks=all, new data for a fetch.",
                &["request"],
            ),
            response_queue_time: ms_histogram_vec(
                &format!("{P}responsequeuetimems"),
                "Milliseconds from an answer being ready to its connection starting to write it.",
                &["request"],
            ),
            response_send_time: ms_histogram_vec(
                &format!("{P}responsesendtimems"),
                "Milliseconds spent writing an answer to the socket.",
                &["request"],
            ),
            total_time: ms_histogram_vec(
                &format!("{P}totaltimems"),
                "Milliseconds from a request's last byte read to its answer's last byte written.",
                &["request"],
            ),
            errors: counter_vec(
                &format!("{P}errors_total"),
                "Error codes in answers (NONE included), counted per partition or resource they were given for.",
                &["request", "error"],
            ),
            request_queue_size: gauge(
                "kafka_network_requestchannel_requestqueuesize",
                "Requests read from clients and not yet answered.",
            ),
            response_queue_size: gauge(
                "kafka_network_requestchannel_responsequeuesize",
                "Answers ready and waiting for their connection to write them.",
            ),
            connection_count: gauge_vec(
                "kafka_server_socketservermetrics_connection_count",
                "Client connections open, per listener.",
                &["listener"],
            ),
            connection_creation: counter_vec(
                "kafka_server_socketservermetrics_connection_creation_total",
                "Client connections accepted, per listener.",
                &["listener"],
            ),
            connection_close: counter_vec(
                "kafka_server_socketservermetrics_connection_close_total",
                "Client connections closed, per listener.",
                &["listener"],
            ),
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Registers these metrics into `registry`.
    pub fn register(&self, registry: &prometheus::Registry) {
        register_all(
            registry,
            vec![
                Box::new(self.requests.clone()),
                Box::new(self.request_queue_time.clone()),
                Box::new(self.local_time.clone()),
                Box::new(self.remote_time.clone()),
                Box::new(self.response_queue_time.clone()),
                Box::new(self.response_send_time.clone()),
                Box::new(self.total_time.clone()),
                Box::new(self.errors.clone()),
                Box::new(self.request_queue_size.clone()),
                Box::new(self.response_queue_size.clone()),
                Box::new(self.connection_count.clone()),
                Box::new(self.connection_creation.clone()),
                Box::new(self.connection_close.clone()),
            ],
        );
    }

    fn handles(&self, slot: u16) -> Option<&SlotHandles> {
        let cell = self.slots.get(usize::from(slot))?;
        Some(cell.get_or_init(|| {
            let name = request_name(slot).unwrap_or("Unknown");
            SlotHandles {
                name,
                request_queue: self.request_queue_time.with_label_values(&[name]),
                local: self.local_time.with_label_values(&[name]),
                remote: self.remote_time.with_label_values(&[name]),
                response_queue: self.response_queue_time.with_label_values(&[name]),
                response_send: self.response_send_time.with_label_values(&[name]),
                total: self.total_time.with_label_values(&[name]),
                versions: std::array::from_fn(|_| OnceLock::new()),
                errors: (0..=(MAX_ERROR_CODE + 1)).map(|_| OnceLock::new()).collect(),
            }
        }))
    }

    /// The slots a request of `slot` is recorded under: a Fetch counts as
    /// `FetchConsumer`/`FetchFollower` and as `Fetch`, as in Kafka.
    fn recorded_as(slot: u16) -> [Option<u16>; 2] {
        match slot {
            FETCH_CONSUMER | FETCH_FOLLOWER => [Some(slot), Some(FETCH)],
            s => [Some(s), None],
        }
    }

    /// One request of `slot` at `version`, answered (or not) after `times`.
    pub fn record(&self, slot: u16, version: i16, times: &StageTimes) {
        for slot in Self::recorded_as(slot).into_iter().flatten() {
            let Some(h) = self.handles(slot) else { return };
            if let Some(cell) = usize::try_from(version).ok().and_then(|v| h.versions.get(v)) {
                let v = usize::try_from(version).unwrap_or(0);
                cell.get_or_init(|| self.requests.with_label_values(&[h.name, VERSION_LABELS[v]])).inc();
            }
            h.request_queue.observe(ms(times.request_queue));
            h.local.observe(ms(times.local));
            h.remote.observe(ms(times.remote));
            h.response_queue.observe(ms(times.response_queue));
            h.response_send.observe(ms(times.response_send));
            h.total.observe(ms(times.total));
        }
    }

    /// `count` answers of `slot` carried error `code` (0 is `NONE`).
    pub fn record_error(&self, slot: u16, code: i16, count: u64) {
        if count == 0 {
            return;
        }
        for slot in Self::recorded_as(slot).into_iter().flatten() {
            let Some(h) = self.handles(slot) else { return };
            match usize::try_from(code + 1).ok().and_then(|i| h.errors.get(i)) {
                Some(cell) => {
                    cell.get_or_init(|| self.errors.with_label_values(&[h.name, error_name(code).as_str()]))
                        .inc_by(count);
                }
                None => self.errors.with_label_values(&[h.name, error_name(code).as_str()]).inc_by(count),
            }
        }
    }

    /// Requests read and not yet answered, and answers waiting to be written, changed by these amounts.
    pub fn queues_changed(&self, requests: i64, responses: i64) {
        if requests != 0 {
            self.request_queue_size.add(requests);
        }
        if responses != 0 {
            self.response_queue_size.add(responses);
        }
    }

    /// A connection was accepted on `listener`.
    pub fn connection_opened(&self, listener: &str) {
        self.connection_count.with_label_values(&[listener]).inc();
        self.connection_creation.with_label_values(&[listener]).inc();
    }

    /// A connection of `listener` was closed.
    pub fn connection_closed(&self, listener: &str) {
        self.connection_count.with_label_values(&[listener]).dec();
        self.connection_close.with_label_values(&[listener]).inc();
    }
}

/// One topic's `BrokerTopicMetrics` counters (the all-topics series is a
/// [`TopicCounters`] too, without the label).
#[derive(Clone, Debug)]
pub struct TopicCounters {
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    pub messages_in: IntCounter,
    pub bytes_rejected: IntCounter,
    pub total_produce_requests: IntCounter,
    pub total_fetch_requests: IntCounter,
    pub failed_produce_requests: IntCounter,
    pub failed_fetch_requests: IntCounter,
}

/// A topic's counters and the all-topics ones, bumped together (or the
/// all-topics ones alone, for a topic not hosted here).
#[derive(Clone, Debug)]
pub struct TopicHandle {
    topic: Option<Arc<TopicCounters>>,
    all: Arc<TopicCounters>,
}

impl TopicHandle {
    fn each(&self) -> impl Iterator<Item = &TopicCounters> {
        self.topic.as_deref().into_iter().chain(std::iter::once(&*self.all))
    }

    /// An append of `bytes` holding `messages` records.
    pub fn produced(&self, bytes: u64, messages: u64) {
        for c in self.each() {
            c.total_produce_requests.inc();
            c.bytes_in.inc_by(bytes);
            c.messages_in.inc_by(messages);
        }
    }

    /// An append refused; `rejected_bytes` when refused for its size (Kafka's BytesRejected).
    pub fn produce_failed(&self, rejected_bytes: Option<u64>) {
        for c in self.each() {
            c.total_produce_requests.inc();
            c.failed_produce_requests.inc();
            if let Some(b) = rejected_bytes {
                c.bytes_rejected.inc_by(b);
            }
        }
    }

    /// A partition read for a consumer (`bytes` out) or, with `failed`, refused.
    pub fn fetched(&self, bytes: u64, failed: bool) {
        for c in self.each() {
            c.total_fetch_requests.inc();
            if failed {
                c.failed_fetch_requests.inc();
            } else {
                c.bytes_out.inc_by(bytes);
            }
        }
    }

    /// A partition read for a follower: counted as a fetch, its bytes as replication.
    pub fn follower_fetched(&self, failed: bool) {
        for c in self.each() {
            c.total_fetch_requests.inc();
            if failed {
                c.failed_fetch_requests.inc();
            }
        }
    }
}

/// The names of [`TopicCounters`]' families, in field order.
const TOPIC_FAMILIES: [(&str, &str); 8] = [
    ("bytesin", "Bytes appended by producers (record batches as stored)."),
    ("bytesout", "Record bytes sent to consumers (follower fetches are replication)."),
    ("messagesin", "Records appended by producers."),
    ("bytesrejected", "Bytes of produced batches refused for their size."),
    ("totalproducerequests", "Partition appends requested by producers."),
    ("totalfetchrequests", "Partition reads requested by consumers and followers."),
    ("failedproducerequests", "Partition appends refused with an error."),
    ("failedfetchrequests", "Partition reads answered with an error."),
];

/// One `BrokerTopicMetrics` family: the per-topic series and the all-topics
/// one without a `topic` label, as Kafka has both. A registry refuses two
/// collectors of one name with different labels, so both are collected here.
#[derive(Clone)]
struct TopicFamily {
    per_topic: IntCounterVec,
    all: IntCounter,
}

impl Collector for TopicFamily {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.per_topic.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.per_topic.collect();
        let all = self.all.collect();
        match families.first_mut() {
            Some(family) => {
                for mut f in all {
                    family.mut_metric().extend(f.take_metric());
                }
                families
            }
            None => all,
        }
    }
}

/// The data path's metrics: per-topic counters, replication bytes, and the
/// purgatories.
pub struct DataPathMetrics {
    families: Vec<TopicFamily>,
    all: Arc<TopicCounters>,
    topics: RwLock<HashMap<String, Arc<TopicCounters>>>,
    pub replication_bytes_in: IntCounter,
    pub replication_bytes_out: IntCounter,
    purgatory_size: IntGaugeVec,
    delayed_operations: IntGaugeVec,
    produce_purgatory: [IntGauge; 2],
    fetch_purgatory: [IntGauge; 2],
}

impl std::fmt::Debug for DataPathMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPathMetrics").finish_non_exhaustive()
    }
}

impl Default for DataPathMetrics {
    fn default() -> Self {
        DataPathMetrics::new()
    }
}

/// Which purgatory a delayed operation waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purgatory {
    /// acks=all produces waiting for replication.
    Produce,
    /// Fetches waiting for data (long poll).
    Fetch,
}

/// A delayed operation counted in its purgatory until dropped.
#[derive(Debug)]
pub struct Delayed {
    operations: IntGauge,
    watched: IntGauge,
    keys: i64,
}

impl Drop for Delayed {
    fn drop(&mut self) {
        self.operations.dec();
        self.watched.sub(self.keys);
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

impl DataPathMetrics {
    /// The metrics, not yet registered (see [`DataPathMetrics::register`]).
    // The names and label sets are constants: a failure is a bug caught by the tests.
    #[allow(clippy::panic)]
    pub fn new() -> DataPathMetrics {
        let families: Vec<TopicFamily> = TOPIC_FAMILIES
            .iter()
            .map(|(n, help)| {
                let name = format!("kafka_server_brokertopicmetrics_{n}_total");
                TopicFamily { per_topic: counter_vec(&name, help, &["topic"]), all: counter(&name, help) }
            })
            .collect();
        let all = |i: usize| families[i].all.clone();
        let all = Arc::new(TopicCounters {
            bytes_in: all(0),
            bytes_out: all(1),
            messages_in: all(2),
            bytes_rejected: all(3),
            total_produce_requests: all(4),
            total_fetch_requests: all(5),
            failed_produce_requests: all(6),
            failed_fetch_requests: all(7),
        });
        let purgatory_size = gauge_vec(
            "kafka_server_delayedoperationpurgatory_purgatorysize",
            "Partitions watched by delayed operations (an operation counts once per partition it waits on).",
            &["delayedOperation"],
        );
        let delayed_operations = gauge_vec(
            "kafka_server_delayedoperationpurgatory_numdelayedoperations",
            "Requests waiting: acks=all produces for replication, fetches for data.",
            &["delayedOperation"],
        );
        DataPathMetrics {
            families,
            all,
            topics: RwLock::new(HashMap::new()),
            replication_bytes_in: counter(
                "kafka_server_brokertopicmetrics_replicationbytesin_total",
                "Record bytes this broker appended as a follower.",
            ),
            replication_bytes_out: counter(
                "kafka_server_brokertopicmetrics_replicationbytesout_total",
                "Record bytes this broker sent to followers.",
            ),
            produce_purgatory: [
                delayed_operations.with_label_values(&["Produce"]),
                purgatory_size.with_label_values(&["Produce"]),
            ],
            fetch_purgatory: [
                delayed_operations.with_label_values(&["Fetch"]),
                purgatory_size.with_label_values(&["Fetch"]),
            ],
            purgatory_size,
            delayed_operations,
        }
    }

    /// Registers these metrics into `registry`.
    pub fn register(&self, registry: &prometheus::Registry) {
        let mut collectors: Vec<Box<dyn Collector>> =
            self.families.iter().map(|f| Box::new(f.clone()) as Box<dyn Collector>).collect();
        collectors.push(Box::new(self.replication_bytes_in.clone()));
        collectors.push(Box::new(self.replication_bytes_out.clone()));
        collectors.push(Box::new(self.purgatory_size.clone()));
        collectors.push(Box::new(self.delayed_operations.clone()));
        register_all(registry, collectors);
    }

    /// The all-topics counters alone.
    pub fn all_topics(&self) -> TopicHandle {
        TopicHandle { topic: None, all: self.all.clone() }
    }

    /// The counters of `topic` (created on first use).
    pub fn topic(&self, topic: &str) -> TopicHandle {
        if let Some(c) = self.topics.read().unwrap_or_else(|e| e.into_inner()).get(topic) {
            return TopicHandle { topic: Some(c.clone()), all: self.all.clone() };
        }
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let c = topics
            .entry(topic.to_string())
            .or_insert_with(|| {
                let h = |i: usize| self.families[i].per_topic.with_label_values(&[topic]);
                Arc::new(TopicCounters {
                    bytes_in: h(0),
                    bytes_out: h(1),
                    messages_in: h(2),
                    bytes_rejected: h(3),
                    total_produce_requests: h(4),
                    total_fetch_requests: h(5),
                    failed_produce_requests: h(6),
                    failed_fetch_requests: h(7),
                })
            })
            .clone();
        TopicHandle { topic: Some(c), all: self.all.clone() }
    }

    /// Removes `topic`'s series (the broker no longer hosts it).
    pub fn forget_topic(&self, topic: &str) {
        if self.topics.write().unwrap_or_else(|e| e.into_inner()).remove(topic).is_some() {
            for family in &self.families {
                let _ = family.per_topic.remove_label_values(&[topic]);
            }
        }
    }

    /// Counts an operation in `purgatory`, waiting on `keys` partitions, until the result is dropped.
    pub fn delayed(&self, purgatory: Purgatory, keys: usize) -> Delayed {
        let [operations, watched] = match purgatory {
            Purgatory::Produce => &self.produce_purgatory,
            Purgatory::Fetch => &self.fetch_purgatory,
        };
        let keys = i64::try_from(keys).unwrap_or(i64::MAX);
        operations.inc();
        watched.add(keys);
        Delayed { operations: operations.clone(), watched: watched.clone(), keys }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_names_follow_kafka() {
        assert_eq!(request_name(slot(0, false).unwrap()), Some("Produce"));
        assert_eq!(request_name(slot(1, false).unwrap()), Some("FetchConsumer"));
        assert_eq!(request_name(slot(1, true).unwrap()), Some("FetchFollower"));
        assert_eq!(request_name(slot(3, true).unwrap()), Some("Metadata"));
        assert_eq!(request_name(slot(18, false).unwrap()), Some("ApiVersions"));
        assert_eq!(request_name(slot(11, false).unwrap()), Some("JoinGroup"));
        assert_eq!(request_name(slot(56, false).unwrap()), Some("AlterPartition"));
        assert_eq!(request_name(slot(75, false).unwrap()), Some("DescribeTopicPartitions"));
        assert_eq!(slot(76, false), None);
        assert_eq!(slot(-1, false), None);
        // Every key the codec crate knows has the same name there.
        for key in 0..REQUEST_NAMES.len() as i16 {
            if let Ok(api) = kafka_protocol::messages::ApiKey::try_from(key) {
                let ours = REQUEST_NAMES[key as usize];
                let theirs = format!("{api:?}");
                // Kafka 4.1 renamed 74 ListConfigResources (KIP-1142); we keep the 3.x name.
                if key == 74 {
                    continue;
                }
                assert!(theirs == ours || theirs == format!("{ours}Key"), "{key}: {ours} vs {theirs}");
            }
        }
    }

    #[test]
    fn error_names_follow_kafka() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(20), "NOT_ENOUGH_REPLICAS_AFTER_APPEND");
        assert_eq!(error_name(10), "MESSAGE_TOO_LARGE");
        assert_eq!(error_name(9999), "9999");
    }

    #[test]
    fn records_fetch_under_both_names_and_counts_errors() {
        let registry = prometheus::Registry::new();
        let m = RequestMetrics::new();
        m.register(&registry);
        let times = StageTimes { total: Duration::from_millis(3), ..Default::default() };
        m.record(FETCH_FOLLOWER, 11, &times);
        m.record(0, 9, &times);
        m.record(0, 9, &times);
        m.record_error(0, 0, 5);
        m.record_error(0, 3, 1);
        m.connection_opened("PLAINTEXT");
        let text = crate::metrics::render(&registry);
        for line in [
            r#"kafka_network_requestmetrics_requests_total{request="FetchFollower",version="11"} 1"#,
            r#"kafka_network_requestmetrics_requests_total{request="Fetch",version="11"} 1"#,
            r#"kafka_network_requestmetrics_requests_total{request="Produce",version="9"} 2"#,
            r#"kafka_network_requestmetrics_totaltimems_count{request="Produce"} 2"#,
            r#"kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="2.5"} 0"#,
            r#"kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="5"} 2"#,
            r#"kafka_network_requestmetrics_errors_total{error="NONE",request="Produce"} 5"#,
            r#"kafka_network_requestmetrics_errors_total{error="UNKNOWN_TOPIC_OR_PARTITION",request="Produce"} 1"#,
            r#"kafka_server_socketservermetrics_connection_count{listener="PLAINTEXT"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn topic_series_have_an_all_topics_twin_and_go_away() {
        let registry = prometheus::Registry::new();
        let m = DataPathMetrics::new();
        m.register(&registry);
        m.topic("a").produced(100, 2);
        m.topic("b").produced(10, 1);
        m.all_topics().produce_failed(Some(7));
        let text = crate::metrics::render(&registry);
        assert!(text.contains(r#"kafka_server_brokertopicmetrics_bytesin_total{topic="a"} 100"#), "{text}");
        assert!(text.contains("kafka_server_brokertopicmetrics_bytesin_total 110\n"), "{text}");
        assert!(text.contains("kafka_server_brokertopicmetrics_messagesin_total 3\n"), "{text}");
        assert!(text.contains("kafka_server_brokertopicmetrics_bytesrejected_total 7\n"), "{text}");
        m.forget_topic("a");
        let text = crate::metrics::render(&registry);
        assert!(!text.contains(r#"topic="a""#), "{text}");
        assert!(text.contains(r#"kafka_server_brokertopicmetrics_bytesin_total{topic="b"} 10"#), "{text}");

        let waiting = m.delayed(Purgatory::Fetch, 3);
        let text = crate::metrics::render(&registry);
        assert!(text.contains(r#"purgatorysize{delayedOperation="Fetch"} 3"#), "{text}");
        assert!(text.contains(r#"numdelayedoperations{delayedOperation="Fetch"} 1"#), "{text}");
        drop(waiting);
        let text = crate::metrics::render(&registry);
        assert!(text.contains(r#"purgatorysize{delayedOperation="Fetch"} 0"#), "{text}");
    }

    /// The instrumentation's cost per request: one Produce recorded (six
    /// histogram observations, a version counter) plus one error count and
    /// the queue gauges, as the connection and dispatcher do. Prints ns per
    /// request; run with `cargo test --release --lib metrics::requests -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn cost_per_request() {
        let m = RequestMetrics::new();
        let d = DataPathMetrics::new();
        let topic = d.topic("t");
        let times =
            StageTimes { total: Duration::from_micros(700), local: Duration::from_micros(500), ..Default::default() };
        let n = 2_000_000u32;
        let start = std::time::Instant::now();
        for i in 0..n {
            let read = std::time::Instant::now();
            m.queues_changed(1, 0);
            m.queues_changed(-1, 1);
            m.queues_changed(0, -1);
            topic.produced(1024, 10);
            m.record_error(0, 0, 1);
            let t = StageTimes { request_queue: read.elapsed(), ..times };
            m.record(0, (i % 10) as i16, &t);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!("request instrumentation: {ns:.0} ns per request ({n} requests, one thread)");
        assert!(ns > 0.0);
    }
}
