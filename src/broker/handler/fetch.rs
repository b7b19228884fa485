//! Fetch (1): read whole batches from each requested partition up to the high
//! watermark, honouring the response and per-partition byte limits (the first
//! batch of the first non-empty partition is returned whole even when it is
//! larger, KIP-74). When less than min_bytes is available the request waits
//! until an append anywhere wakes it or max_wait_ms passes. No incremental
//! fetch sessions: session_id 0 tells clients to send full requests.
//!
//! `isolation_level` read_committed (1) reads only below the last stable
//! offset and lists the aborted transactions overlapping what it returns
//! (`Partition::read_committed`), which the consumer uses to drop aborted
//! records; read_uncommitted reads up to the HW. Both report the LSO.
//!
//! A fetch with `replica_id ≥ 0` comes from a follower: it reads up to the log
//! end offset, and its fetch offsets are the follower's log end offsets, which
//! the leader records (advancing the HW, proposing the follower for the ISR)
//! once per request, before reading.
//!
//! Follower fetches of replicas named by `leader.replication.throttled.replicas`
//! are held to `leader.replication.throttled.rate` (`broker::throttle`).
//!
//! A partition fetched with a `current_leader_epoch` (v9+; followers and
//! KIP-320 consumers) other than the leader's is refused with
//! FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer), and a fenced
//! follower's offsets are not recorded: it must not count towards the ISR of
//! an epoch it does not know.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};

use crate::broker::replicas::ReplicaManager;
use crate::broker::throttle::{is_throttled, ReplicationQuota};
use crate::broker::{now_ms, Partition};
use crate::network::{Chunk, FileChunk, FileSource};
use crate::protocol::fetch_response::{self, Part};
use crate::protocol::{errors, ErrorCode};
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use crate::storage::{FileRecords, LogFile, StorageError};

/// Waiting is capped so a request cannot pin a connection forever.
const MAX_WAIT_CAP: Duration = Duration::from_secs(300);

/// The leader-side replication throttle: this broker's id (the replicas lists
/// name `partition:broker`) and `leader.replication.throttled.rate`.
#[derive(Clone, Copy)]
pub struct LeaderThrottle<'a> {
    pub broker_id: i32,
    pub quota: &'a ReplicationQuota,
}

/// The answer with its records read into memory (the old versions' path, which
/// converts them).
pub async fn handle(replicas: &ReplicaManager, authz: &Authz<'_>, req: FetchRequest, version: i16) -> FetchResponse {
    handle_timed(replicas, authz, None, req, version).await.0.into_response()
}

/// A Fetch answer whose records are still in the segment files: `resp` has
/// empty records for those partitions, `files` says where they are.
pub struct FetchAnswer {
    pub resp: FetchResponse,
    /// `(topic index, partition index, records)` in the order of `resp`.
    pub files: Vec<(usize, usize, FileRecords)>,
}

/// A segment file as the network layer sends it.
struct SegmentFile(Arc<dyn LogFile>);

impl FileSource for SegmentFile {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        self.0.read_exact_at(buf, position)
    }
    fn as_file(&self) -> Option<&std::fs::File> {
        self.0.as_file()
    }
}

impl FetchAnswer {
    /// Bytes of records in the answer.
    pub fn record_bytes(&self) -> usize {
        let inline: usize = self
            .resp
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.records.as_ref().map_or(0, Bytes::len))
            .sum();
        inline + self.files.iter().map(|(_, _, f)| f.len).sum::<usize>()
    }

    /// Drops every partition's records (a throttled answer has none).
    pub fn drop_records(&mut self) {
        self.files.clear();
        for p in self.resp.responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.records.is_some() {
                p.records = Some(Bytes::new());
            }
        }
    }

    /// The answer with the records read from the files (the copying path). A
    /// partition whose file cannot be read answers with the storage error.
    pub fn into_response(self) -> FetchResponse {
        let mut resp = self.resp;
        for (t, p, file) in self.files {
            let Some(pd) = resp.responses.get_mut(t).and_then(|t| t.partitions.get_mut(p)) else { continue };
            match file.read() {
                Ok(bytes) => pd.records = Some(bytes),
                Err(err) => {
                    tracing::error!(path = %file.path().display(), error = %err, "read failed");
                    pd.error_code = errors::from_storage(&err).code();
                }
            }
        }
        resp
    }

    /// The framed answer with its records left in the files (`None` when it has
    /// something only the codec writes; then use [`FetchAnswer::into_response`]).
    pub fn encode(&self, version: i16, correlation_id: i32) -> Option<Vec<Chunk>> {
        let mut files = self.files.iter().peekable();
        let parts = fetch_response::encode(version, correlation_id, &self.resp, |t, p| {
            let (_, _, f) = files.next_if(|(ft, fp, _)| (*ft, *fp) == (t, p))?;
            let file: Arc<dyn FileSource> = Arc::new(SegmentFile(f.file()?.clone()));
            Some((f.len, FileChunk { file, position: f.position, len: f.len }))
        })?;
        Some(
            parts
                .into_iter()
                .map(|part| match part {
                    Part::Bytes(b) => Chunk::Bytes(b),
                    Part::Records(f) => Chunk::File(f),
                })
                .collect(),
        )
    }
}

/// Serves a Fetch, with follower fetches of throttled replicas held to the
/// leader's replication quota (while it is used up they get no records, and
/// no error, as in Kafka), also saying how long the request waited for data
/// (its time in the fetch purgatory, which Kafka counts as remote time).
pub async fn handle_timed(
    replicas: &ReplicaManager,
    authz: &Authz<'_>,
    throttle: Option<LeaderThrottle<'_>>,
    req: FetchRequest,
    version: i16,
) -> (FetchAnswer, Duration) {
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0)).min(MAX_WAIT_CAP);
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let max_bytes = if version >= 3 { usize::try_from(req.max_bytes).unwrap_or(0) } else { usize::MAX };
    let read_committed = req.isolation_level == 1;
    let replica = if version <= 14 { req.replica_id.0 } else { -1 };
    // Kafka: followers need Cluster:ClusterAction (else every partition is
    // TOPIC_AUTHORIZATION_FAILED), consumers Topic:Read per topic.
    let follower_allowed = replica < 0 || authz.cluster(AclOperation::ClusterAction);
    let denied: Vec<bool> = req
        .topics
        .iter()
        .map(|t| if replica >= 0 { !follower_allowed } else { !authz.topic(AclOperation::Read, t.topic.0.as_str()) })
        .collect();
    let mut arrivals = replicas.data_arrived();
    if replica >= 0 && follower_allowed {
        record_follower(replicas, &req, replica);
    }
    // Set while the request waits for data: counted in the fetch purgatory.
    let mut waiting: Option<(std::time::Instant, crate::metrics::requests::Delayed)> = None;
    let waited =
        |waiting: &Option<(std::time::Instant, _)>| waiting.as_ref().map_or(Duration::ZERO, |(t, _)| t.elapsed());
    loop {
        arrivals.borrow_and_update();
        let throttle = throttle.filter(|t| replica >= 0 && t.quota.rate().is_some());
        let mut reads = Vec::new();
        let mut files = Vec::new();
        // Finding the batches reads headers and index entries from disk: in a storage-I/O slot.
        let (responses, bytes, any_error) = replicas
            .storage_io()
            .run(|| {
                read_all(
                    replicas,
                    &req,
                    &denied,
                    max_bytes,
                    read_committed,
                    replica >= 0,
                    throttle,
                    &mut reads,
                    &mut files,
                )
            })
            .await;
        let done = bytes >= min_bytes || any_error || tokio::time::Instant::now() >= deadline;
        if done {
            count_reads(replicas, &reads, replica >= 0);
            let resp = FetchResponse::default().with_error_code(0).with_session_id(0).with_responses(responses);
            return (FetchAnswer { resp, files }, waited(&waiting));
        }
        if waiting.is_none() {
            let partitions = req.topics.iter().map(|t| t.partitions.len()).sum();
            let delayed = replicas.metrics().delayed(crate::metrics::requests::Purgatory::Fetch, partitions);
            waiting = Some((std::time::Instant::now(), delayed));
        }
        tokio::select! {
            changed = arrivals.changed() => {
                if changed.is_err() {
                    let resp = FetchResponse::default().with_responses(responses);
                    return (FetchAnswer { resp, files }, waited(&waiting));
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// One partition read of a fetch, for the topic counters: the partition
/// when hosted here, the bytes read, whether it failed.
type PartitionRead = (Option<Arc<Partition>>, u64, bool);

/// The answer's partition reads in the topic counters: a consumer's bytes
/// are bytes out, a follower's are replication bytes out.
fn count_reads(replicas: &ReplicaManager, reads: &[PartitionRead], follower: bool) {
    let metrics = replicas.metrics();
    for (partition, bytes, failed) in reads {
        let handle = match partition {
            Some(p) => replicas.topic_metrics(p).clone(),
            None => metrics.all_topics(),
        };
        if follower {
            handle.follower_fetched(*failed);
            metrics.replication_bytes_out.inc_by(*bytes);
        } else {
            handle.fetched(*bytes, *failed);
        }
    }
}

/// A follower's fetch offsets are its log end offsets.
fn record_follower(replicas: &ReplicaManager, req: &FetchRequest, replica: i32) {
    let now = now_ms();
    let mut hw_moved = false;
    for topic in &req.topics {
        for fp in &topic.partitions {
            let Ok(partition) = replicas.leader_partition(topic.topic.0.as_str(), fp.partition) else { continue };
            if partition.check_leader_epoch(fp.current_leader_epoch).is_err() {
                continue;
            }
            let (moved, join) = partition.record_follower_fetch(replica, fp.fetch_offset, now);
            partition.record_follower_log_start(replica, fp.log_start_offset);
            hw_moved |= moved;
            if join {
                let mut isr = partition.isr();
                isr.push(replica);
                replicas.propose_isr(&partition, isr);
            }
        }
    }
    if hw_moved {
        // Consumers waiting for committed data re-check.
        replicas.notify_data_arrived();
    }
}

#[allow(clippy::too_many_arguments)]
fn read_all(
    replicas: &ReplicaManager,
    req: &FetchRequest,
    denied: &[bool],
    max_bytes: usize,
    read_committed: bool,
    from_replica: bool,
    throttle: Option<LeaderThrottle<'_>>,
    reads: &mut Vec<PartitionRead>,
    files: &mut Vec<(usize, usize, FileRecords)>,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let held_back = throttle.is_some_and(|t| t.quota.exceeded());
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for (t, topic) in req.topics.iter().enumerate() {
        let name = topic.topic.0.as_str();
        let topic_denied = denied.get(t).copied().unwrap_or(false);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for fp in &topic.partitions {
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_preferred_read_replica(BrokerId(-1))
                .with_records(Some(Bytes::new()))
                .with_aborted_transactions(read_committed.then(Vec::new));
            if topic_denied {
                any_error = true;
                partitions.push(
                    pd.with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1),
                );
                continue;
            }
            // Consumers and followers (replica_id ≥ 0) read from the leader.
            let partition = match replicas.leader_partition(name, fp.partition).and_then(|p| {
                p.check_leader_epoch(fp.current_leader_epoch)?;
                Ok(p)
            }) {
                Ok(p) => p,
                Err(code) => {
                    any_error = true;
                    reads.push((None, 0, true));
                    partitions.push(
                        pd.with_error_code(code.code())
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1),
                    );
                    continue;
                }
            };
            let throttled = throttle.filter(|t| {
                is_throttled(&partition.config().leader_replication_throttled_replicas, fp.partition, t.broker_id)
            });
            if throttled.is_some() && held_back {
                partitions.push(
                    pd.with_error_code(0)
                        .with_high_watermark(partition.high_watermark())
                        .with_last_stable_offset(partition.last_stable_offset())
                        .with_log_start_offset(partition.log_start_offset()),
                );
                continue;
            }
            let remaining = max_bytes.saturating_sub(total);
            let mut limit = usize::try_from(fp.partition_max_bytes).unwrap_or(0).min(remaining);
            if let Some(rate) = throttled.and_then(|t| t.quota.rate()) {
                // About a second's worth at a time, so one answer does not overshoot by much.
                limit = limit.min(usize::try_from(rate).unwrap_or(usize::MAX).max(1));
            }
            let min_one = total == 0;
            let read = if read_committed && !from_replica {
                partition.read_committed_file(fp.fetch_offset, limit, min_one)
            } else {
                partition.read_file(fp.fetch_offset, limit, min_one, from_replica)
            };
            match read {
                Ok(read) => {
                    let len = read.records.len;
                    total += len;
                    reads.push((Some(partition.clone()), len as u64, false));
                    if let Some(t) = throttled {
                        t.quota.record(len);
                    }
                    let aborted = read_committed.then(|| {
                        read.aborted
                            .iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_first_offset(a.first_offset)
                            })
                            .collect()
                    });
                    pd = pd
                        .with_error_code(0)
                        .with_high_watermark(read.high_watermark)
                        .with_last_stable_offset(read.last_stable_offset)
                        .with_log_start_offset(read.log_start_offset)
                        .with_aborted_transactions(aborted);
                    if !read.records.is_empty() {
                        files.push((t, partitions.len(), read.records));
                    }
                }
                Err(err) => {
                    any_error = true;
                    reads.push((Some(partition.clone()), 0, true));
                    if !matches!(err, StorageError::OffsetOutOfRange { .. }) {
                        tracing::error!(partition = %partition.tp, error = %err, "read failed");
                    }
                    pd = pd
                        .with_error_code(errors::from_storage(&err).code())
                        .with_high_watermark(partition.high_watermark())
                        .with_last_stable_offset(partition.last_stable_offset())
                        .with_log_start_offset(partition.log_start_offset());
                }
            }
            partitions.push(pd);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    (topics, total, any_error)
}
