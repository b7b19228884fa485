//! The broker's `/metrics` scrape: the registry's hot-path metrics plus what
//! is read from the broker's state at scrape time.
//!
//! State is not mirrored into long-lived gauges: each scrape builds fresh
//! gauges in a throw-away registry from the replica manager, the metadata
//! cache, the logs and the group coordinator, so a deleted topic or a group
//! that moved to another coordinator simply stops being reported. Only the
//! ISR shrink/expand counters live across scrapes ([`StateMetrics`]), bumped
//! by partition sync when a state znode changes the ISR of a partition this
//! broker leads.
//!
//! Names (see `crate::metrics`): Kafka's `ReplicaManager`, `KafkaController`,
//! `Log` and `GroupMetadataManager` MBeans; consumer lag has no broker-side
//! MBean in Kafka, so it takes kafka_exporter's names
//! (`kafka_consumergroup_lag{consumergroup,topic,partition}`), which the
//! usual dashboards read. Lag is reported by the group's coordinator; high
//! watermarks of partitions led elsewhere are asked of their leaders
//! (ListOffsets, bounded by [`REMOTE_TIMEOUT`]) and kept for [`HW_CACHE_TTL`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::Broker;
use crate::client::connection::Connection;
use crate::coordinator::GroupState;
use crate::storage::TopicPartition;

/// How long the leaders of other partitions get to answer a scrape's
/// ListOffsets, all of them together.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long high watermarks asked of other leaders are reused.
pub const HW_CACHE_TTL: Duration = Duration::from_secs(2);

/// High watermarks by (topic, partition).
type HighWatermarks = HashMap<(String, i32), i64>;

/// Scrape-time state kept across scrapes: the ISR counters and the cache of
/// other leaders' high watermarks.
#[derive(Debug, Default)]
pub struct StateMetrics {
    isr_shrinks: AtomicU64,
    isr_expands: AtomicU64,
    remote_hws: Mutex<Option<(Instant, HighWatermarks)>>,
    /// Per followed partition: the leader's HW minus our LEO after the last fetch.
    fetcher_lags: Mutex<HashMap<TopicPartition, i64>>,
}

impl StateMetrics {
    pub fn new() -> StateMetrics {
        StateMetrics::default()
    }

    /// Counts an ISR change of a partition this broker led before and after
    /// the change: a shrink when a member left, an expansion when one joined
    /// (both, when one replaced another).
    pub(crate) fn record_isr_change(&self, before: &[i32], after: &[i32]) {
        if before.iter().any(|r| !after.contains(r)) {
            self.isr_shrinks.fetch_add(1, Ordering::Relaxed);
        }
        if after.iter().any(|r| !before.contains(r)) {
            self.isr_expands.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes how far behind the leader's high watermark the fetched
    /// partitions are (one lock per fetch answer).
    pub(crate) fn record_fetcher_lags(&self, lags: Vec<(TopicPartition, i64)>) {
        if lags.is_empty() {
            return;
        }
        let mut all = self.fetcher_lags.lock().unwrap_or_else(|e| e.into_inner());
        for (tp, lag) in lags {
            all.insert(tp, lag.max(0));
        }
    }

    /// The largest recorded lag among `followed` (0 when none).
    fn max_fetcher_lag(&self, followed: &HashSet<(&str, i32)>) -> i64 {
        let mut all = self.fetcher_lags.lock().unwrap_or_else(|e| e.into_inner());
        // Forget partitions no longer followed here, so the map stays bounded.
        all.retain(|tp, _| followed.contains(&(tp.topic.as_str(), tp.partition)));
        all.values().copied().max().unwrap_or(0)
    }

    /// ISR shrinks counted so far.
    pub fn isr_shrinks(&self) -> u64 {
        self.isr_shrinks.load(Ordering::Relaxed)
    }

    /// ISR expansions counted so far.
    pub fn isr_expands(&self) -> u64 {
        self.isr_expands.load(Ordering::Relaxed)
    }
}

/// A throw-away registry for one scrape's gauges.
struct Gauges {
    registry: Registry,
}

impl Gauges {
    fn new() -> Gauges {
        Gauges { registry: Registry::new() }
    }

    fn register(&self, collector: Box<dyn Collector>, name: &str) {
        if let Err(err) = self.registry.register(collector) {
            tracing::debug!(%err, name, "scrape gauge not registered");
        }
    }

    fn gauge(&self, name: &str, help: &str, value: i64) {
        if let Ok(g) = IntGauge::with_opts(Opts::new(name, help)) {
            g.set(value);
            self.register(Box::new(g), name);
        }
    }

    /// A counter kept elsewhere (an atomic), exposed with its current value.
    fn counter(&self, name: &str, help: &str, value: u64) {
        if let Ok(c) = IntCounter::with_opts(Opts::new(name, help)) {
            c.inc_by(value);
            self.register(Box::new(c), name);
        }
    }

    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Option<IntGaugeVec> {
        let g = IntGaugeVec::new(Opts::new(name, help), labels).ok()?;
        self.register(Box::new(g.clone()), name);
        Some(g)
    }

    fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

/// Sets one labelled value (label counts are fixed by the callers).
fn set(vec: &Option<IntGaugeVec>, labels: &[&str], value: i64) {
    if let Some(v) = vec {
        if let Ok(g) = v.get_metric_with_label_values(labels) {
            g.set(value);
        }
    }
}

/// What the scrape needs of one hosted partition, read without holding two
/// locks at once.
struct Hosted {
    topic: String,
    partition: i32,
    leader: bool,
    isr: Vec<i32>,
    replicas: usize,
    min_isr: usize,
    hw: i64,
    log: Option<(u64, usize, i64, i64, bool)>,
}

impl Broker {
    /// Everything `/metrics` shows, in Prometheus's text format. Reads broker
    /// state and may ask other brokers for high watermarks (bounded): call it
    /// off the async workers (the metrics listener uses `spawn_blocking`).
    pub fn scrape(&self) -> String {
        let mut families = self.metrics().registry().gather();
        families.extend(self.state_families());
        let mut out = Vec::with_capacity(32 * 1024);
        if let Err(err) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(%err, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// The scrape-time metric families: replica manager, controller, logs,
    /// group coordinator and consumer lag.
    pub fn state_families(&self) -> Vec<MetricFamily> {
        let gauges = Gauges::new();
        let hosted = self.hosted_partitions();
        self.replica_manager_gauges(&gauges, &hosted);
        self.controller_gauges(&gauges);
        log_gauges(&gauges, &hosted);
        self.group_gauges(&gauges, &hosted);
        gauges.counter(
            "kafka_server_replicamanager_isrshrinks_total",
            "Times this broker, as leader, saw a partition's in-sync replica set lose members.",
            self.state_metrics.isr_shrinks(),
        );
        gauges.counter(
            "kafka_server_replicamanager_isrexpands_total",
            "Times this broker, as leader, saw a partition's in-sync replica set gain members.",
            self.state_metrics.isr_expands(),
        );
        gauges.gather()
    }

    fn hosted_partitions(&self) -> Vec<Hosted> {
        let assignments: HashMap<(String, i32), usize> = {
            let view = self.metadata().view();
            view.topics
                .iter()
                .flat_map(|(t, e)| {
                    e.partitions
                        .iter()
                        .enumerate()
                        .map(move |(i, r)| ((t.clone(), i32::try_from(i).unwrap_or(-1)), r.len()))
                })
                .collect()
        };
        let mut hosted: Vec<Hosted> = self
            .replicas()
            .all_partitions()
            .into_iter()
            .map(|p| {
                let log = self.logs().get(&p.tp).map(|l| {
                    let l = l.lock().unwrap_or_else(|e| e.into_inner());
                    (l.size_bytes(), l.segment_count(), l.log_start_offset(), l.log_end_offset(), l.is_offline())
                });
                let key = (p.tp.topic.clone(), p.tp.partition);
                Hosted {
                    replicas: assignments.get(&key).copied().unwrap_or(0),
                    topic: key.0,
                    partition: key.1,
                    leader: p.is_leader(),
                    isr: p.isr(),
                    min_isr: p.config().min_insync_replicas as usize,
                    hw: p.high_watermark(),
                    log,
                }
            })
            .collect();
        hosted.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        hosted
    }

    fn replica_manager_gauges(&self, g: &Gauges, hosted: &[Hosted]) {
        let led: Vec<&Hosted> = hosted.iter().filter(|h| h.leader).collect();
        let count = |f: &dyn Fn(&Hosted) -> bool| led.iter().filter(|h| f(h)).count() as i64;
        g.gauge(
            "kafka_server_replicamanager_partitioncount",
            "Partitions this broker hosts a replica of.",
            hosted.len() as i64,
        );
        g.gauge("kafka_server_replicamanager_leadercount", "Partitions this broker leads.", led.len() as i64);
        g.gauge(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions led here whose in-sync replica set is smaller than their replica set.",
            count(&|h| h.isr.len() < h.replicas),
        );
        g.gauge(
            "kafka_server_replicamanager_underminisrpartitioncount",
            "Partitions led here with fewer in-sync replicas than min.insync.replicas.",
            count(&|h| h.isr.len() < h.min_isr),
        );
        g.gauge(
            "kafka_server_replicamanager_atminisrpartitioncount",
            "Partitions led here with exactly min.insync.replicas in-sync replicas.",
            count(&|h| h.isr.len() == h.min_isr),
        );
        g.gauge(
            "kafka_server_replicamanager_offlinereplicacount",
            "Replicas hosted here whose log directory has failed.",
            hosted.iter().filter(|h| h.log.is_some_and(|l| l.4)).count() as i64,
        );
        let followed: HashSet<(&str, i32)> =
            hosted.iter().filter(|h| !h.leader).map(|h| (h.topic.as_str(), h.partition)).collect();
        let max_lag = g.gauge_vec(
            "kafka_server_replicafetchermanager_maxlag",
            "The most messages a partition followed here is behind its leader's high watermark.",
            &["clientId"],
        );
        set(&max_lag, &["Replica"], self.state_metrics.max_fetcher_lag(&followed));
    }

    fn controller_gauges(&self, g: &Gauges) {
        let view = self.metadata().view();
        let active = view.controller == Some(self.node_id());
        let (mut topics, mut partitions, mut offline, mut imbalance) = (0i64, 0i64, 0i64, 0i64);
        if active {
            for (name, entry) in &view.topics {
                topics += 1;
                partitions += entry.partitions.len() as i64;
                if view.delete_requests.contains(name) {
                    continue;
                }
                for (index, replicas) in entry.partitions.iter().enumerate() {
                    let Some(state) = view.state(name, i32::try_from(index).unwrap_or(-1)) else { continue };
                    if state.leader < 0 || !view.is_live(state.leader) {
                        offline += 1;
                    } else if replicas.first().is_some_and(|preferred| *preferred != state.leader) {
                        imbalance += 1;
                    }
                }
            }
        }
        g.gauge(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the broker that is the active controller, 0 elsewhere.",
            i64::from(active),
        );
        g.gauge(
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics in the cluster (reported by the active controller).",
            topics,
        );
        g.gauge(
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions in the cluster (reported by the active controller).",
            partitions,
        );
        g.gauge(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a live leader (reported by the active controller).",
            offline,
        );
        g.gauge(
            "kafka_controller_kafkacontroller_preferredreplicaimbalancecount",
            "Partitions led by a replica other than their preferred one (reported by the active controller).",
            imbalance,
        );
    }

    fn group_gauges(&self, g: &Gauges, hosted: &[Hosted]) {
        let groups = self.groups().snapshot();
        let in_state = |s: GroupState| groups.iter().filter(|gr| gr.state == s).count() as i64;
        let prefix = "kafka_coordinator_group_groupmetadatamanager_";
        g.gauge(&format!("{prefix}numgroups"), "Consumer groups this broker coordinates.", groups.len() as i64);
        for (suffix, state) in [
            ("stable", GroupState::Stable),
            ("preparingrebalance", GroupState::PreparingRebalance),
            ("completingrebalance", GroupState::CompletingRebalance),
            ("empty", GroupState::Empty),
            ("dead", GroupState::Dead),
        ] {
            g.gauge(
                &format!("{prefix}numgroups{suffix}"),
                &format!("Consumer groups this broker coordinates that are in state {state}."),
                in_state(state),
            );
        }
        let offsets: usize = groups.iter().map(|gr| gr.offsets.len()).sum();
        g.gauge(
            &format!("{prefix}numoffsets"),
            "Committed offsets of the groups this broker coordinates.",
            offsets as i64,
        );

        let current = g.gauge_vec(
            "kafka_consumergroup_current_offset",
            "A group's committed offset per partition (reported by the group's coordinator).",
            &["consumergroup", "topic", "partition"],
        );
        let lag = g.gauge_vec(
            "kafka_consumergroup_lag",
            "A partition's high watermark minus the group's committed offset (reported by the group's coordinator).",
            &["consumergroup", "topic", "partition"],
        );
        let lag_sum = g.gauge_vec(
            "kafka_consumergroup_lag_sum",
            "A group's lag summed over its partitions (reported by the group's coordinator).",
            &["consumergroup"],
        );
        if groups.iter().all(|gr| gr.offsets.is_empty()) {
            return;
        }
        let wanted: BTreeSet<(String, i32)> =
            groups.iter().flat_map(|gr| gr.offsets.iter().map(|(t, p, _)| (t.clone(), *p))).collect();
        let hws = self.high_watermarks(&wanted, hosted);
        for gr in &groups {
            let mut sum = 0i64;
            for (topic, partition, offset) in &gr.offsets {
                let p = partition.to_string();
                set(&current, &[&gr.group_id, topic, &p], *offset);
                if let Some(hw) = hws.get(&(topic.clone(), *partition)) {
                    let l = (hw - offset).max(0);
                    sum += l;
                    set(&lag, &[&gr.group_id, topic, &p], l);
                }
            }
            set(&lag_sum, &[&gr.group_id], sum);
        }
    }

    /// High watermarks of `wanted`: those led here read locally, the others
    /// asked of their leaders (or taken from the cache).
    fn high_watermarks(&self, wanted: &BTreeSet<(String, i32)>, hosted: &[Hosted]) -> HashMap<(String, i32), i64> {
        let mut out: HashMap<(String, i32), i64> = HashMap::new();
        for h in hosted.iter().filter(|h| h.leader) {
            let key = (h.topic.clone(), h.partition);
            if wanted.contains(&key) {
                out.insert(key, h.hw);
            }
        }
        let remote: Vec<&(String, i32)> = wanted.iter().filter(|k| !out.contains_key(*k)).collect();
        if remote.is_empty() {
            return out;
        }
        let cached = {
            let cache = self.state_metrics.remote_hws.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .as_ref()
                .filter(|(at, hws)| at.elapsed() < HW_CACHE_TTL && remote.iter().all(|k| hws.contains_key(*k)))
                .map(|(_, hws)| hws.clone())
        };
        let fetched = match cached {
            Some(hws) => hws,
            None => {
                let hws = self.ask_leaders(&remote);
                *self.state_metrics.remote_hws.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), hws.clone()));
                hws
            }
        };
        for k in remote {
            if let Some(hw) = fetched.get(k) {
                out.insert(k.clone(), *hw);
            }
        }
        out
    }

    /// ListOffsets (latest) to the leaders of `partitions`, run on the
    /// broker's runtime; whatever is not answered within [`REMOTE_TIMEOUT`]
    /// is left out. Blocks the calling (blocking) thread.
    fn ask_leaders(&self, partitions: &[&(String, i32)]) -> HashMap<(String, i32), i64> {
        let mut by_leader: BTreeMap<i32, (String, Vec<(String, i32)>)> = BTreeMap::new();
        {
            let view = self.metadata().view();
            for (topic, partition) in partitions {
                let Some(state) = view.state(topic, *partition) else { continue };
                if state.leader < 0 || state.leader == self.node_id() {
                    continue;
                }
                let Some(info) = view.brokers.get(&state.leader) else { continue };
                let addr = info.dial_addr(&self.inter_broker().listener);
                by_leader.entry(state.leader).or_insert_with(|| (addr, Vec::new())).1.push((topic.clone(), *partition));
            }
        }
        if by_leader.is_empty() {
            return HashMap::new();
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return HashMap::new();
        };
        let security = self.inter_broker().security.clone();
        let client_id = format!("broker-{}-metrics", self.node_id());
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let asks = by_leader.into_iter().map(|(leader, (addr, parts))| {
                let security = security.clone();
                let client_id = client_id.clone();
                async move {
                    match list_latest(&addr, &client_id, &security, &parts).await {
                        Ok(hws) => hws,
                        Err(err) => {
                            tracing::debug!(leader, %addr, %err, "metrics: cannot ask a leader for high watermarks");
                            Vec::new()
                        }
                    }
                }
            });
            let all = tokio::time::timeout(REMOTE_TIMEOUT, futures_join_all(asks)).await.unwrap_or_default();
            let _ = tx.send(all.into_iter().flatten().collect::<HashMap<_, _>>());
        });
        rx.recv_timeout(REMOTE_TIMEOUT + Duration::from_millis(200)).unwrap_or_default()
    }
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// One leader's high watermarks (ListOffsets with timestamp −1).
async fn list_latest(
    addr: &str,
    client_id: &str,
    security: &crate::client::security::Security,
    parts: &[(String, i32)],
) -> Result<Vec<((String, i32), i64)>, crate::client::ClientError> {
    let conn = Connection::connect(addr, client_id, REMOTE_TIMEOUT, security).await?;
    let version = conn.version(ApiKey::ListOffsets)?;
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (topic, partition) in parts {
        topics.entry(topic.as_str()).or_default().push(
            ListOffsetsPartition::default()
                .with_partition_index(*partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1),
        );
    }
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(0).with_topics(
        topics
            .into_iter()
            .map(|(t, p)| {
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(p)
            })
            .collect(),
    );
    let result = conn.call(&request, version).await;
    conn.close(crate::client::ClientError::protocol(addr, "metrics scrape done"));
    let response = result?;
    Ok(response
        .topics
        .iter()
        .flat_map(|t| {
            let name = t.name.0.to_string();
            t.partitions
                .iter()
                .filter(|p| p.error_code == 0)
                .map(move |p| ((name.clone(), p.partition_index), p.offset))
        })
        .collect())
}

/// `kafka_log_log_*{topic,partition}` for every hosted replica.
fn log_gauges(g: &Gauges, hosted: &[Hosted]) {
    let labels = ["topic", "partition"];
    let size = g.gauge_vec("kafka_log_log_size", "Bytes of a partition's log on this broker.", &labels);
    let end = g.gauge_vec(
        "kafka_log_log_logendoffset",
        "The offset after a partition's last record on this broker.",
        &labels,
    );
    let start = g.gauge_vec(
        "kafka_log_log_logstartoffset",
        "The first offset a partition's log on this broker still holds.",
        &labels,
    );
    let segments =
        g.gauge_vec("kafka_log_log_numlogsegments", "Segments of a partition's log on this broker.", &labels);
    for h in hosted {
        let Some((bytes, count, log_start, log_end, _)) = h.log else { continue };
        let p = h.partition.to_string();
        let l = [h.topic.as_str(), p.as_str()];
        set(&size, &l, i64::try_from(bytes).unwrap_or(i64::MAX));
        set(&end, &l, log_end);
        set(&start, &l, log_start);
        set(&segments, &l, count as i64);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn isr_changes_count_shrinks_and_expansions() {
        let m = StateMetrics::new();
        m.record_isr_change(&[0, 1, 2], &[0, 1]);
        assert_eq!((m.isr_shrinks(), m.isr_expands()), (1, 0));
        m.record_isr_change(&[0, 1], &[0, 1, 2]);
        assert_eq!((m.isr_shrinks(), m.isr_expands()), (1, 1));
        m.record_isr_change(&[0, 1], &[1, 0]);
        assert_eq!((m.isr_shrinks(), m.isr_expands()), (1, 1), "reordering is no change");
        m.record_isr_change(&[0, 1], &[0, 2]);
        assert_eq!((m.isr_shrinks(), m.isr_expands()), (2, 2));
    }

    #[test]
    fn max_lag_is_over_the_partitions_still_followed() {
        let m = StateMetrics::new();
        m.record_fetcher_lags(vec![(TopicPartition::new("a", 0), 5), (TopicPartition::new("b", 0), 9)]);
        m.record_fetcher_lags(vec![(TopicPartition::new("a", 1), -3)]);
        let both: HashSet<(&str, i32)> = [("a", 0), ("b", 0), ("a", 1)].into_iter().collect();
        assert_eq!(m.max_fetcher_lag(&both), 9);
        let only_a: HashSet<(&str, i32)> = [("a", 0), ("a", 1)].into_iter().collect();
        assert_eq!(m.max_fetcher_lag(&only_a), 5, "b is no longer followed");
        assert_eq!(m.max_fetcher_lag(&HashSet::new()), 0);
    }

    #[test]
    fn scrape_gauges_render_with_labels() {
        let g = Gauges::new();
        g.gauge("kafka_test_gauge", "A test gauge.", 7);
        let v = g.gauge_vec("kafka_test_vec", "A test vector.", &["topic", "partition"]);
        set(&v, &["t", "0"], 3);
        let mut out = Vec::new();
        TextEncoder::new().encode(&g.gather(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("kafka_test_gauge 7"), "{text}");
        assert!(text.contains("kafka_test_vec{partition=\"0\",topic=\"t\"} 3"), "{text}");
    }
}
