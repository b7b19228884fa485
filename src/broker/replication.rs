//! Replication: follower fetchers, the leader's ISR maintenance and the
//! high-watermark checkpoint.
//!
//! - `replica-fetcher-manager` follows partition-sync: for the partitions this
//!   broker follows it keeps one fetcher task per leader broker, restarting a
//!   fetcher when its set of partitions changes and stopping it when none is
//!   left. A fetcher sends Fetch with `replica_id = broker.id` for all its
//!   partitions at their log end offsets, appends the leader's batches with
//!   their offsets and takes min(leader HW, own LEO) as its HW. A partition
//!   that just started following a new leader first asks it
//!   (OffsetForLeaderEpoch) where its latest epoch ended and truncates there.
//! - `isr-shrink` (every half of `replica.lag.time.max.ms`) drops followers
//!   that are behind and have not caught up within the lag time; expansion is
//!   decided by the leader's Fetch handler. Both write the state znode with a
//!   conditional update (same leader epoch, version check).
//! - `isr-update` writes the proposed ISR changes one at a time.
//! - Replication throttles (`throttle.rs`): a fetcher leaves out the replicas
//!   named by `follower.replication.throttled.replicas` while
//!   `follower.replication.throttled.rate` is used up, and counts what it
//!   fetched for them.
//! - `high-watermark-checkpoint` writes `replication-offset-checkpoint` in
//!   each log dir, which a restarted follower truncates to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;

use super::tasks::{log_failures, FinalTick, TaskRegistry};
use super::throttle::is_throttled;
use super::{now_ms, Broker, BrokerError, Partition};
use crate::client::connection::Connection;
use crate::metadata::PartitionState;
use crate::network::Shutdown;
use crate::protocol::ErrorCode;
use crate::storage::{read_checkpoint, write_checkpoint, StdFileIo, TopicPartition};

/// How long a follower whose throttled replicas are all held back waits before looking again.
const THROTTLE_PAUSE: Duration = Duration::from_millis(100);

/// Per log dir: the high watermark of each partition (Kafka's text format).
pub const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

/// Reads the HW checkpoints of all log dirs; `None` when no dir has one (logs
/// from before replication: their HW is their LEO).
pub fn read_hw_checkpoints(dirs: &[PathBuf]) -> Option<BTreeMap<TopicPartition, i64>> {
    let mut all: Option<BTreeMap<TopicPartition, i64>> = None;
    for dir in dirs {
        let path = dir.join(HW_CHECKPOINT);
        if !path.exists() {
            continue;
        }
        match read_checkpoint(&StdFileIo, &path) {
            Ok(points) => all.get_or_insert_with(BTreeMap::new).extend(points),
            Err(err) => {
                tracing::warn!(%err, "ignoring a malformed HW checkpoint; followers refetch from offset 0");
                all.get_or_insert_with(BTreeMap::new);
            }
        }
    }
    all
}

impl Broker {
    /// Writes every hosted partition's HW to its log dir's checkpoint.
    pub fn checkpoint_high_watermarks(&self) -> Result<(), BrokerError> {
        let mut per_dir: BTreeMap<PathBuf, BTreeMap<TopicPartition, i64>> =
            self.logs.log_dirs().iter().map(|d| (d.clone(), BTreeMap::new())).collect();
        for p in self.replicas.all_partitions() {
            let Some(log) = self.logs.get(&p.tp) else { continue };
            let parent = log.lock().unwrap_or_else(|e| e.into_inner()).dir().parent().map(|d| d.to_path_buf());
            if let Some(dir) = parent {
                per_dir.entry(dir).or_default().insert(p.tp.clone(), p.high_watermark());
            }
        }
        for (dir, points) in per_dir {
            if dir.is_dir() {
                write_checkpoint(&StdFileIo, &dir.join(HW_CHECKPOINT), &points)?;
            }
        }
        Ok(())
    }

    /// Writes an ISR change conditional on the state znode version this
    /// leader last saw, keeping the leader epoch.
    async fn write_isr(&self, partition: &Partition, isr: Vec<i32>) {
        let (old, version, epoch) = partition.isr_and_version();
        if !partition.is_leader() || old == isr {
            return;
        }
        let controller_epoch = self
            .metadata
            .partition_state(&partition.tp.topic, partition.tp.partition)
            .map_or(0, |s| s.controller_epoch);
        let state = PartitionState { leader: self.node_id, leader_epoch: epoch, isr: isr.clone(), controller_epoch };
        match self.metadata.update_partition_state(&partition.tp.topic, partition.tp.partition, state, version).await {
            Ok(()) => tracing::info!(partition = %partition.tp, from = ?old, to = ?isr, "ISR changed"),
            Err(err) => tracing::info!(partition = %partition.tp, %err, "ISR change not written; will retry"),
        }
    }
}

/// Registers the replication tasks: `replica-fetcher-manager`, `isr-shrink`,
/// `isr-update` and `high-watermark-checkpoint`.
pub(crate) fn register(registry: &mut TaskRegistry<Broker>, config: &crate::config::BrokerConfig) {
    let lag = config.replica_lag_time_max_ms.max(2);
    let hw_every = Duration::from_millis(config.replica_high_watermark_checkpoint_interval_ms.max(1));
    log_failures([
        registry.service("replica-fetcher-manager", fetcher_manager),
        registry.every("isr-shrink", Duration::from_millis(lag / 2), FinalTick::Skip, move |b: &Broker| {
            let now = now_ms();
            for p in b.replicas().all_partitions() {
                if let Some(isr) = p.shrunk_isr(now, i64::try_from(lag).unwrap_or(i64::MAX)) {
                    tracing::info!(partition = %p.tp, isr = ?isr, "shrinking the ISR (followers lagging)");
                    b.replicas().propose_isr(&p, isr);
                }
            }
            Ok(())
        }),
        registry.service("isr-update", isr_updater),
        registry
            .every("high-watermark-checkpoint", hw_every, FinalTick::Run, |b: &Broker| b.checkpoint_high_watermarks()),
    ]);
}

/// Writes the ISR changes proposed by the Fetch handler and `isr-shrink`; at
/// shutdown, the ones already queued (bounded, so a lost ZooKeeper cannot
/// hold the broker).
async fn isr_updater(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let Some(mut proposals) = broker.replicas().take_isr_proposals() else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            proposal = proposals.recv() => {
                let Some((partition, isr)) = proposal else { return };
                broker.write_isr(&partition, isr).await;
                partition.isr_update_in_flight.store(false, Ordering::Release);
            }
        }
    }
    let last = async {
        while let Ok((partition, isr)) = proposals.try_recv() {
            broker.write_isr(&partition, isr).await;
            partition.isr_update_in_flight.store(false, Ordering::Release);
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), last).await.is_err() {
        tracing::warn!(task = "isr-update", "queued ISR changes not written at shutdown");
    }
}

/// Partitions this broker follows, by leader.
fn followed(broker: &Broker) -> BTreeMap<i32, BTreeSet<TopicPartition>> {
    let mut by_leader: BTreeMap<i32, BTreeSet<TopicPartition>> = BTreeMap::new();
    if broker.replicas().following_stopped() {
        // Controlled shutdown handed everything over: follow nobody (Kafka's StopReplica).
        return by_leader;
    }
    for p in broker.replicas().all_partitions() {
        let leader = p.leader_id();
        if leader >= 0 && leader != broker.node_id() && !p.is_leader() {
            by_leader.entry(leader).or_default().insert(p.tp.clone());
        }
    }
    by_leader
}

struct Fetcher {
    partitions: BTreeSet<TopicPartition>,
    addr: String,
    task: JoinHandle<()>,
}

async fn fetcher_manager(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let mut synced = broker.sync_passes();
    let mut fetchers: HashMap<i32, Fetcher> = HashMap::new();
    // Also re-check now and then: a leader's address may appear after its state.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let wanted = followed(&broker);
        fetchers.retain(|leader, f| {
            let addr = broker_addr(&broker, *leader);
            let keep = wanted.get(leader) == Some(&f.partitions)
                && addr.as_deref() == Some(f.addr.as_str())
                && !f.task.is_finished();
            if !keep {
                f.task.abort();
            }
            keep
        });
        for (leader, partitions) in wanted {
            if fetchers.contains_key(&leader) {
                continue;
            }
            let Some(addr) = broker_addr(&broker, leader) else { continue };
            tracing::info!(leader, %addr, partitions = partitions.len(), "starting a replica fetcher");
            let task = tokio::spawn(run_fetcher(broker.clone(), leader, addr.clone(), partitions.clone()));
            fetchers.insert(leader, Fetcher { partitions, addr, task });
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            changed = synced.changed() => if changed.is_err() { break },
            _ = tick.tick() => {}
        }
    }
    for f in fetchers.into_values() {
        f.task.abort();
    }
}

pub(crate) fn broker_addr(broker: &Broker, id: i32) -> Option<String> {
    // The other broker's endpoint on the inter-broker listener, which the security of
    // `broker.inter_broker()` is made for.
    broker.metadata().view().brokers.get(&id).map(|b| b.dial_addr(&broker.inter_broker().listener))
}

/// One leader's fetcher: reconnects with a backoff until aborted.
async fn run_fetcher(broker: Arc<Broker>, leader: i32, addr: String, partitions: BTreeSet<TopicPartition>) {
    let backoff = Duration::from_millis(broker.config().replica_fetch_backoff_ms.clamp(10, 1000));
    let timeout = Duration::from_millis(broker.config().replica_socket_timeout_ms.max(1000));
    let client_id = format!("broker-{}-fetcher-{leader}", broker.node_id());
    loop {
        match Connection::connect(&addr, &client_id, timeout, &broker.inter_broker().security).await {
            Ok(conn) => {
                if let Err(err) = fetch_loop(&broker, leader, &conn, &partitions, backoff).await {
                    tracing::debug!(leader, %addr, %err, "replica fetch failed; reconnecting");
                }
                conn.close(crate::client::ClientError::protocol(&addr, "fetcher restarts"));
            }
            Err(err) => tracing::debug!(leader, %addr, %err, "cannot connect to the leader"),
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn fetch_loop(
    broker: &Arc<Broker>,
    leader: i32,
    conn: &Connection,
    partitions: &BTreeSet<TopicPartition>,
    backoff: Duration,
) -> Result<(), crate::client::ClientError> {
    let version = conn.version(ApiKey::Fetch)?;
    let cfg = broker.config();
    loop {
        if broker.replicas().following_stopped() {
            // Controlled shutdown: no fetch may put this broker back into an ISR.
            tokio::time::sleep(backoff).await;
            continue;
        }
        truncate_diverged(broker, leader, conn, partitions).await?;
        let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        let mut local: HashMap<(String, i32), Arc<Partition>> = HashMap::new();
        // Follower throttle (KIP-73): throttled replicas sit out while the quota is used up.
        let quota = &broker.replication_quotas().follower;
        let rate = quota.rate();
        let held_back = rate.is_some() && quota.exceeded();
        let mut throttled: BTreeSet<(String, i32)> = BTreeSet::new();
        for tp in partitions {
            let Some(p) = broker.replicas().partition(&tp.topic, tp.partition) else { continue };
            if p.is_leader() || p.leader_id() != leader || p.needs_truncation() {
                continue;
            }
            let mut max_bytes = cfg.replica_fetch_max_bytes;
            if let Some(rate) = rate {
                if is_throttled(&p.config().follower_replication_throttled_replicas, tp.partition, broker.node_id()) {
                    if held_back {
                        continue;
                    }
                    // Ask for about a second's worth, so one answer does not overshoot by much.
                    max_bytes = max_bytes.min(u32::try_from(rate).unwrap_or(u32::MAX).max(1));
                    throttled.insert((tp.topic.clone(), tp.partition));
                }
            }
            by_topic.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_fetch_offset(p.log_end_offset())
                    .with_log_start_offset(p.log_start_offset())
                    // The leader fences us when we missed a leader change (KIP-320).
                    .with_current_leader_epoch(p.leader_epoch())
                    .with_last_fetched_epoch(-1)
                    .with_partition_max_bytes(i32::try_from(max_bytes).unwrap_or(i32::MAX)),
            );
            local.insert((tp.topic.clone(), tp.partition), p);
        }
        if local.is_empty() {
            // Nothing to fetch until the manager gives this fetcher new work
            // (or, when throttled, until the quota refills a little).
            tokio::time::sleep(if held_back { THROTTLE_PAUSE.min(backoff) } else { backoff }).await;
            continue;
        }
        let topics: Vec<FetchTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                FetchTopic::default().with_topic(TopicName(StrBytes::from_string(t.to_string()))).with_partitions(ps)
            })
            .collect();
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(broker.node_id()))
            .with_max_wait_ms(i32::try_from(cfg.replica_fetch_wait_max_ms).unwrap_or(500))
            .with_min_bytes(i32::try_from(cfg.replica_fetch_min_bytes).unwrap_or(1))
            .with_max_bytes(i32::try_from(cfg.replica_fetch_response_max_bytes).unwrap_or(i32::MAX))
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        let resp = conn.call(&req, version).await?;
        if resp.error_code != 0 {
            tokio::time::sleep(backoff).await;
            continue;
        }
        let mut any_error = false;
        let mut appended = false;
        // Leader HW − our LEO per partition, for the `maxlag` metric.
        let mut lags: Vec<(TopicPartition, i64)> = Vec::new();
        for topic in resp.responses {
            let name = topic.topic.0.to_string();
            for pd in topic.partitions {
                let Some(p) = local.get(&(name.clone(), pd.partition_index)) else { continue };
                if p.is_leader() || p.leader_id() != leader {
                    continue;
                }
                match pd.error_code {
                    0 => {
                        let records = pd.records.unwrap_or_else(Bytes::new);
                        appended |= !records.is_empty();
                        if throttled.contains(&(name.clone(), pd.partition_index)) {
                            quota.record(records.len());
                        }
                        broker.replicas().metrics().replication_bytes_in.inc_by(records.len() as u64);
                        // The append (and any roll or fsync it brings) and the start
                        // offset's segment deletion: in one storage-I/O slot, in
                        // partition order as before.
                        let stored = broker
                            .replicas()
                            .storage_io()
                            .run(|| {
                                p.append_as_follower(&records, pd.high_watermark, now_ms())
                                    .map_err(|e| (e, "cannot append the leader's records"))?;
                                if p.has_unflushed_rolled() {
                                    broker.replicas().notify_rolled();
                                }
                                p.adopt_leader_log_start(pd.log_start_offset)
                                    .map_err(|e| (e, "cannot adopt the leader's log start offset"))
                            })
                            .await;
                        if let Err((err, what)) = stored {
                            // Kafka's followers also move their start with the leader's (DeleteRecords).
                            tracing::warn!(partition = %p.tp, %err, "{what}");
                            any_error = true;
                        } else {
                            lags.push((p.tp.clone(), pd.high_watermark - p.log_end_offset()));
                        }
                    }
                    code if code == ErrorCode::OffsetOutOfRange.code() => {
                        // The leader does not have what we would fetch next: our tail is not
                        // committed, drop it down to our HW (or restart from the leader's start).
                        let hw = p.high_watermark();
                        let target = if p.log_end_offset() > hw { hw } else { pd.log_start_offset.max(0) };
                        tracing::warn!(partition = %p.tp, target, "fetch offset out of range at the leader; truncating");
                        let io = broker.replicas().storage_io();
                        if target < p.log_end_offset() {
                            if let Err(err) = io.run(|| p.truncate_to(target)).await {
                                tracing::warn!(partition = %p.tp, %err, "cannot truncate");
                            }
                        } else if let Err(err) = io.run(|| p.reset_to(target)).await {
                            tracing::warn!(partition = %p.tp, %err, "cannot restart the log at the leader's start");
                        }
                        any_error = true;
                    }
                    _ => any_error = true,
                }
            }
        }
        if appended {
            broker.replicas().notify_data_arrived();
        }
        broker.state_metrics.record_fetcher_lags(lags);
        if any_error {
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Before fetching from a new leader: asks it (OffsetForLeaderEpoch) where our
/// latest epoch ended and truncates there; partitions without a usable epoch
/// fall back to their high watermark.
async fn truncate_diverged(
    broker: &Arc<Broker>,
    leader: i32,
    conn: &Connection,
    partitions: &BTreeSet<TopicPartition>,
) -> Result<(), crate::client::ClientError> {
    let pending: Vec<Arc<Partition>> = partitions
        .iter()
        .filter_map(|tp| broker.replicas().partition(&tp.topic, tp.partition))
        .filter(|p| p.needs_truncation() && !p.is_leader() && p.leader_id() == leader)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut answers: HashMap<(String, i32), (i32, i64)> = HashMap::new();
    let asked: Vec<&Arc<Partition>> = pending.iter().filter(|p| p.latest_epoch() >= 0).collect();
    if let (false, Ok(version)) = (asked.is_empty(), conn.version(ApiKey::OffsetForLeaderEpoch)) {
        let mut by_topic: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for p in &asked {
            by_topic.entry(p.tp.topic.as_str()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(p.tp.partition)
                    .with_current_leader_epoch(p.leader_epoch())
                    .with_leader_epoch(p.latest_epoch()),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let req =
            OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(broker.node_id())).with_topics(topics);
        let resp = conn.call(&req, version).await?;
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code == 0 {
                    answers.insert((t.topic.0.to_string(), p.partition), (p.leader_epoch, p.end_offset));
                } else {
                    // The leader does not lead yet (or no more): ask again later.
                    answers.insert((t.topic.0.to_string(), p.partition), (i32::MIN, -1));
                }
            }
        }
    }
    for p in pending {
        let answer = answers.get(&(p.tp.topic.clone(), p.tp.partition)).copied();
        if answer.is_some_and(|(e, _)| e == i32::MIN) {
            continue;
        }
        if let Err(err) = broker.replicas().storage_io().run(|| p.truncate_to_divergence(answer)).await {
            tracing::warn!(partition = %p.tp, %err, "cannot truncate before following the new leader");
        }
    }
    Ok(())
}
