//! One partition this broker hosts: its log, effective topic config, the
//! idempotent-producer state, the leader epoch and the high watermark.
//!
//! Replication (Kafka 2.x): the leader tracks each follower's log end offset
//! (from the fetch offsets of its replica fetches) and when it last caught
//! up; the high watermark is the lowest log end offset over the ISR and never
//! decreases. Followers append the leader's batches unchanged and take
//! min(leader HW, own LEO) as their HW. The leader-epoch cache
//! (`leader-epoch-checkpoint`) answers OffsetForLeaderEpoch; a broker that
//! starts following a new leader truncates to where its log diverges from the
//! leader's (asked by its fetcher), which discards an uncommitted tail it may
//! have written as leader — or, without an epoch to ask about, to its HW.
//!
//! Idempotent-producer state (`producer_state.rs`) is kept by leaders and
//! followers alike from every batch they append, written to a producer-state
//! snapshot beside the segments whenever the log rolls a new segment and at
//! clean shutdown, rebuilt on open from the newest snapshot plus the batches
//! after it, and rebuilt the same way whenever the log is truncated, so that a
//! retried batch is recognised by whichever replica leads next, restarted or not.
//!
//! Transactions (Kafka's partition side): the producer state tracks open
//! transactions; the last stable offset (LSO) is the first offset a
//! read_committed consumer may not read yet, min(first unstable offset, HW).
//! A WriteTxnMarkers request appends a control batch through
//! [`Partition::append_marker`], which ends the producer's transaction and,
//! for an ABORT, adds it to the log's aborted-transaction index. Followers and
//! the replay on open do the same for every marker they append or read, so the
//! LSO and the index are rebuilt after a restart, a truncation or a failover.
//!
//! Lock order: `producers` before the log's mutex before `repl`. The producer
//! lock is held across check-and-append so that two retries of one batch
//! cannot both pass the duplicate check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::watch;

use super::producer_state::{ActiveProducer, CompletedTxn, Marker, ProducerStateMap, SequenceCheck};
use crate::config::TopicConfig;
use crate::protocol::batch::{self, BatchHeader, BatchIter};
use crate::protocol::{errors, ErrorCode};
use crate::storage::{AbortedTxn, FileRecords, Log, StorageError, TopicPartition};

/// The result of a successful append (or of a recognised duplicate).
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
    pub records: u64,
}

/// What a read returns.
#[derive(Clone, Debug)]
pub struct ReadInfo<R = Bytes> {
    /// The batches read, or where they are ([`FileRecords`]).
    pub records: R,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The last stable offset when the read was made.
    pub last_stable_offset: i64,
    /// read_committed: the aborted transactions overlapping the records read.
    pub aborted: Vec<AbortedTxn>,
}

impl ReadInfo<FileRecords> {
    /// The same read with its bytes read from the file.
    pub fn read(self) -> Result<ReadInfo, StorageError> {
        Ok(ReadInfo {
            records: self.records.read()?,
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            last_stable_offset: self.last_stable_offset,
            aborted: self.aborted,
        })
    }
}

/// What the leader knows about one follower.
#[derive(Clone, Copy, Debug)]
struct FollowerState {
    /// −1 until its first fetch since this broker became leader.
    leo: i64,
    last_caught_up_ms: i64,
    /// The leader's LEO and the time when it last answered this follower.
    last_fetch_leader_leo: i64,
    last_fetch_ms: i64,
    /// Its log start offset as its last fetch reported it (−1 unknown): the
    /// leader's low watermark, which DeleteRecords waits on, is the lowest over the ISR.
    log_start: i64,
}

/// Leader, ISR and follower progress, from the state znode and replica fetches.
#[derive(Debug)]
struct ReplicaInfo {
    /// The leader's broker id, −1 unknown or none.
    leader: i32,
    isr: Vec<i32>,
    /// Assigned replicas.
    replicas: Vec<i32>,
    /// The state znode's data version (conditional ISR updates).
    zk_version: i32,
    /// The LEO when this broker became leader (ISR expansion needs followers past it).
    epoch_start_offset: i64,
    followers: HashMap<i32, FollowerState>,
    /// The leader-epoch cache: (epoch, start offset), epochs increasing
    /// (`leader-epoch-checkpoint` in the partition's directory).
    epochs: Vec<(i32, i64)>,
}

/// The per-partition leader-epoch checkpoint (Kafka's text format).
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

fn read_epochs(dir: &std::path::Path, leo: i64) -> Vec<(i32, i64)> {
    let Ok(text) = std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)) else { return Vec::new() };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Vec::new();
    }
    let _count = lines.next();
    let mut epochs: Vec<(i32, i64)> = Vec::new();
    for line in lines {
        let mut f = line.split_whitespace();
        let (Some(Ok(e)), Some(Ok(o))) = (f.next().map(str::parse::<i32>), f.next().map(str::parse::<i64>)) else {
            continue;
        };
        if o <= leo && epochs.last().is_none_or(|(le, lo)| e > *le && o >= *lo) {
            epochs.push((e, o));
        }
    }
    epochs
}

fn write_epochs(dir: &std::path::Path, epochs: &[(i32, i64)]) {
    let mut text = format!("0\n{}\n", epochs.len());
    for (e, o) in epochs {
        text.push_str(&format!("{e} {o}\n"));
    }
    let tmp = dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
    let result = std::fs::write(&tmp, text)
        .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, dir.join(LEADER_EPOCH_CHECKPOINT)));
    if let Err(err) = result {
        tracing::warn!(dir = %dir.display(), %err, "cannot write the leader-epoch checkpoint");
    }
}

/// Records that `epoch` starts at `start` if it is newer than the latest epoch.
fn assign_epoch(epochs: &mut Vec<(i32, i64)>, epoch: i32, start: i64, dir: &std::path::Path) {
    if epoch >= 0 && epochs.last().is_none_or(|(e, _)| epoch > *e) {
        epochs.push((epoch, start));
        write_epochs(dir, epochs);
    }
}

/// Drops epochs starting at or after `offset` (the log was truncated there).
fn truncate_epochs(epochs: &mut Vec<(i32, i64)>, offset: i64, dir: &std::path::Path) {
    let before = epochs.len();
    epochs.retain(|(_, o)| *o < offset);
    if epochs.len() != before {
        write_epochs(dir, epochs);
    }
}

/// How applying a partition state changed this broker's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Unchanged,
    BecameLeader,
    /// Now follows another leader (a new one, or after leading).
    NewLeader,
}

/// The partition state as `partition_sync` hands it over.
#[derive(Clone, Debug)]
pub struct StateUpdate {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
    pub zk_version: i32,
}

/// A partition this broker hosts, as leader or follower. Leadership, the
/// leader epoch and the ISR come from the partition's state znode
/// (`partition_sync`); until its state is known it is neither.
pub struct Partition {
    pub tp: TopicPartition,
    log: Arc<Mutex<Log>>,
    config: RwLock<TopicConfig>,
    producers: Mutex<ProducerStateMap>,
    /// `producer.id.expiration.ms`.
    producer_expiration_ms: i64,
    /// The active segment's base offset when the producer state was last
    /// snapshotted: a roll since then takes a new snapshot.
    snapshot_segment: AtomicI64,
    is_leader: AtomicBool,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    repl: Mutex<ReplicaInfo>,
    /// Bumped when the HW, the ISR or leadership changes (acks=all waiters).
    changed: watch::Sender<u64>,
    /// An ISR change of this leader is being written.
    pub(crate) isr_update_in_flight: AtomicBool,
    /// Follows a new leader and has not yet truncated to where its log diverges.
    pending_truncation: AtomicBool,
    /// This topic's `BrokerTopicMetrics` counters, once the data path first counted here.
    pub(crate) topic_metrics: std::sync::OnceLock<crate::metrics::requests::TopicHandle>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition").field("tp", &self.tp).finish_non_exhaustive()
    }
}

impl Partition {
    /// `checkpointed_hw`: the HW from `replication-offset-checkpoint`; `None`
    /// (no checkpoint at all: a log from before replication) takes the LEO.
    /// `producer_expiration_ms`: `producer.id.expiration.ms`. Rebuilds the
    /// idempotent-producer state from the log's snapshots and batches.
    pub fn new(
        tp: TopicPartition,
        log: Arc<Mutex<Log>>,
        config: TopicConfig,
        checkpointed_hw: Option<i64>,
        producer_expiration_ms: i64,
    ) -> Partition {
        let (leo, epochs, producers, active) = {
            let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
            let producers = rebuild_producer_state(&mut l, super::now_ms().saturating_sub(producer_expiration_ms));
            (l.log_end_offset(), read_epochs(l.dir(), l.log_end_offset()), producers, l.active_base_offset())
        };
        let hw = checkpointed_hw.map_or(leo, |hw| hw.clamp(0, leo));
        Partition {
            tp,
            log,
            config: RwLock::new(config),
            producers: Mutex::new(producers),
            producer_expiration_ms,
            snapshot_segment: AtomicI64::new(active),
            is_leader: AtomicBool::new(false),
            leader_epoch: AtomicI32::new(0),
            high_watermark: AtomicI64::new(hw),
            repl: Mutex::new(ReplicaInfo {
                leader: -1,
                isr: Vec::new(),
                replicas: Vec::new(),
                zk_version: -1,
                epoch_start_offset: 0,
                followers: HashMap::new(),
                epochs,
            }),
            changed: watch::channel(0).0,
            isr_update_in_flight: AtomicBool::new(false),
            pending_truncation: AtomicBool::new(false),
            topic_metrics: std::sync::OnceLock::new(),
        }
    }

    fn lock_repl(&self) -> std::sync::MutexGuard<'_, ReplicaInfo> {
        self.repl.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever the HW, the ISR or leadership does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The current leader's id (−1 none or unknown).
    pub fn leader_id(&self) -> i32 {
        self.lock_repl().leader
    }

    /// The in-sync replicas as the state znode lists them.
    pub fn isr(&self) -> Vec<i32> {
        self.lock_repl().isr.clone()
    }

    /// The ISR, the state znode version and the leader epoch, read together.
    pub fn isr_and_version(&self) -> (Vec<i32>, i32, i32) {
        let r = self.lock_repl();
        (r.isr.clone(), r.zk_version, self.leader_epoch())
    }

    /// Applies the partition's state znode. Becoming follower of a new leader
    /// truncates the log to the HW (uncommitted records may differ from the
    /// new leader's); becoming leader keeps the HW and forgets what it knew
    /// about followers.
    pub fn apply_state(&self, me: i32, update: &StateUpdate, now_ms: i64) -> Result<Transition, StorageError> {
        let is_leader = update.leader == me;
        let transition = {
            let log = self.lock_log();
            let mut r = self.lock_repl();
            let was_leader = self.is_leader();
            let transition = if is_leader && !was_leader {
                Transition::BecameLeader
            } else if !is_leader && update.leader >= 0 && (was_leader || r.leader != update.leader) {
                Transition::NewLeader
            } else {
                Transition::Unchanged
            };
            match transition {
                Transition::BecameLeader => {
                    r.epoch_start_offset = log.log_end_offset();
                    r.followers.clear();
                    assign_epoch(&mut r.epochs, update.leader_epoch, log.log_end_offset(), log.dir());
                }
                Transition::NewLeader => {
                    // The fetcher finds the divergence point (OffsetForLeaderEpoch) first.
                    self.pending_truncation.store(true, Ordering::Release);
                    r.followers.clear();
                }
                Transition::Unchanged => {}
            }
            if is_leader {
                for f in &update.isr {
                    if *f != me {
                        r.followers.entry(*f).or_insert(FollowerState {
                            leo: -1,
                            last_caught_up_ms: now_ms,
                            last_fetch_leader_leo: -1,
                            last_fetch_ms: now_ms,
                            log_start: -1,
                        });
                    }
                }
            }
            r.leader = update.leader;
            r.isr = update.isr.clone();
            r.replicas = update.replicas.clone();
            r.zk_version = update.zk_version;
            self.leader_epoch.store(update.leader_epoch.max(0), Ordering::Release);
            self.is_leader.store(is_leader, Ordering::Release);
            transition
        };
        if is_leader {
            self.maybe_advance_hw();
        }
        self.bump();
        Ok(transition)
    }

    /// The latest epoch in the leader-epoch cache (−1 when empty).
    pub fn latest_epoch(&self) -> i32 {
        self.lock_repl().epochs.last().map_or(-1, |(e, _)| *e)
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `requested` and its end
    /// offset (the start of the next epoch, or the LEO for the latest one);
    /// (−1, −1) when unknown (Kafka's LeaderEpochFileCache.endOffsetFor).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let leo = self.log_end_offset();
        let r = self.lock_repl();
        match r.epochs.last() {
            _ if requested < 0 => (-1, -1),
            Some((latest, _)) if *latest == requested => (requested, leo),
            _ => {
                let Some(higher) = r.epochs.iter().find(|(e, _)| *e > requested) else { return (-1, -1) };
                match r.epochs.iter().rev().find(|(e, _)| *e <= requested) {
                    Some((floor, _)) => (*floor, higher.1),
                    None => (requested, higher.1),
                }
            }
        }
    }

    /// Forgets leadership (no state known).
    pub fn clear_leadership(&self) {
        self.is_leader.store(false, Ordering::Release);
        self.lock_repl().leader = -1;
        self.bump();
    }

    /// As leader: HW = min LEO over the ISR, never decreasing. Before any
    /// state is known the partition is its own ISR. Returns whether it moved.
    pub fn maybe_advance_hw(&self) -> bool {
        let leo = self.log_end_offset();
        let new_hw = {
            let r = self.lock_repl();
            if r.leader >= 0 && !self.is_leader() {
                return false;
            }
            let mut min = leo;
            for id in r.isr.iter().filter(|id| **id != r.leader) {
                let f = r.followers.get(id).map_or(-1, |f| f.leo);
                min = min.min(f);
            }
            min
        };
        let old = self.high_watermark.fetch_max(new_hw, Ordering::AcqRel);
        if new_hw > old {
            self.bump();
            true
        } else {
            false
        }
    }

    /// As leader, records a follower's fetch at `fetch_offset` (its LEO) and
    /// advances the HW. Returns (HW moved, the follower should join the ISR).
    pub fn record_follower_fetch(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> (bool, bool) {
        let leo = self.log_end_offset();
        let join = {
            let mut r = self.lock_repl();
            if !r.replicas.contains(&replica) {
                return (false, false);
            }
            let f = r.followers.entry(replica).or_insert(FollowerState {
                leo: -1,
                last_caught_up_ms: 0,
                last_fetch_leader_leo: -1,
                last_fetch_ms: now_ms,
                log_start: -1,
            });
            f.leo = fetch_offset.min(leo);
            if fetch_offset >= leo {
                f.last_caught_up_ms = now_ms;
            } else if f.last_fetch_leader_leo >= 0 && fetch_offset >= f.last_fetch_leader_leo {
                f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
            }
            f.last_fetch_leader_leo = leo;
            f.last_fetch_ms = now_ms;
            let hw = self.high_watermark();
            !r.isr.contains(&replica) && fetch_offset >= hw && fetch_offset >= r.epoch_start_offset
        };
        (self.maybe_advance_hw(), join)
    }

    /// As leader: records the log start offset a follower's fetch reported.
    pub fn record_follower_log_start(&self, replica: i32, log_start: i64) {
        if let Some(f) = self.lock_repl().followers.get_mut(&replica) {
            f.log_start = log_start;
        }
    }

    /// As leader: the low watermark, the lowest log start offset over the
    /// in-sync replicas (a follower that has not reported one yet counts as −1).
    pub fn low_watermark(&self) -> i64 {
        let own = self.log_start_offset();
        let r = self.lock_repl();
        r.isr
            .iter()
            .filter(|&&id| id != r.leader)
            .map(|id| r.followers.get(id).map_or(-1, |f| f.log_start))
            .fold(own, i64::min)
    }

    /// DeleteRecords as leader: moves the log start offset to `offset` (−1: the
    /// high watermark) and deletes the segments wholly below it; returns the new
    /// log start offset. OFFSET_OUT_OF_RANGE past the high watermark (or below
    /// −1), NOT_LEADER_OR_FOLLOWER on a follower, KAFKA_STORAGE_ERROR when the
    /// log cannot be changed.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ErrorCode> {
        if !self.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        let result = self.lock_log().advance_log_start_offset(target);
        result.map_err(|err| {
            tracing::warn!(partition = %self.tp, %err, "cannot advance the log start offset");
            errors::from_storage(&err)
        })
    }

    /// As follower: adopts the leader's log start offset from a fetch response
    /// (never past the own log end; a leader whose start lies beyond it answers
    /// the next fetch with OFFSET_OUT_OF_RANGE, which restarts the log there).
    pub fn adopt_leader_log_start(&self, leader_log_start: i64) -> Result<(), StorageError> {
        let mut log = self.lock_log();
        if leader_log_start > log.log_start_offset() {
            log.advance_log_start_offset(leader_log_start)?;
        }
        Ok(())
    }

    /// As leader: the ISR without followers that are behind and have not
    /// caught up for longer than `lag_max_ms`, if that drops anyone.
    pub fn shrunk_isr(&self, now_ms: i64, lag_max_ms: i64) -> Option<Vec<i32>> {
        if !self.is_leader() {
            return None;
        }
        let leo = self.log_end_offset();
        let r = self.lock_repl();
        let keep: Vec<i32> = r
            .isr
            .iter()
            .copied()
            .filter(|id| {
                *id == r.leader
                    || r.followers.get(id).is_some_and(|f| f.leo >= leo || now_ms - f.last_caught_up_ms <= lag_max_ms)
            })
            .collect();
        (keep.len() < r.isr.len()).then_some(keep)
    }

    /// As follower: appends the leader's batches with their offsets and takes
    /// min(leader HW, own LEO) as HW.
    pub fn append_as_follower(&self, records: &[u8], leader_hw: i64, now_ms: i64) -> Result<i64, StorageError> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = self.lock_log();
        let fresh = skip_below(records, log.log_end_offset());
        if !fresh.is_empty() {
            log.append_as_follower(fresh, now_ms)?;
            // Keep the idempotent-producer state too, so that a retry reaching
            // this broker after a failover is still recognised as a duplicate.
            let mut rest = fresh;
            let mut r = self.lock_repl();
            while let Ok(h) = batch::parse_header(rest) {
                record_batch(&mut producers, &mut log, &h, rest, batch_time(&h, now_ms));
                assign_epoch(&mut r.epochs, h.partition_leader_epoch, h.base_offset, log.dir());
                match rest.get(h.total_size()..) {
                    Some(next) if !next.is_empty() => rest = next,
                    _ => break,
                }
            }
            self.snapshot_if_rolled(&producers, &mut log);
        }
        drop(producers);
        let leo = log.log_end_offset();
        let hw = leader_hw.min(leo);
        if hw != self.high_watermark.swap(hw, Ordering::AcqRel) {
            drop(log);
            self.bump();
        }
        Ok(leo)
    }

    /// As follower of a new leader: whether the log must be truncated to the
    /// divergence point before fetching.
    pub fn needs_truncation(&self) -> bool {
        self.pending_truncation.load(Ordering::Acquire)
    }

    /// As follower of a new leader: truncates to where the logs diverge, given
    /// the leader's answer for our latest epoch (KIP-101/279): the leader's end
    /// offset for it, or, when the leader answers an older epoch, our own end
    /// offset for that one if lower. Without an answer (`None`, or an unknown
    /// epoch) it falls back to the high watermark.
    pub fn truncate_to_divergence(&self, leader_answer: Option<(i32, i64)>) -> Result<i64, StorageError> {
        let target = match leader_answer {
            Some((epoch, end)) if epoch >= 0 && end >= 0 => {
                let own = if epoch < self.latest_epoch() { self.end_offset_for_epoch(epoch).1 } else { i64::MAX };
                end.min(if own < 0 { i64::MAX } else { own })
            }
            _ => self.high_watermark(),
        };
        let leo = self.log_end_offset();
        if target < leo {
            tracing::info!(partition = %self.tp, from = leo, to = target, "truncating to where the new leader's log diverges");
            self.truncate_to(target)?;
        }
        self.pending_truncation.store(false, Ordering::Release);
        Ok(self.log_end_offset())
    }

    /// As follower: empties the log and restarts it at `offset` (the leader's
    /// log starts past our end).
    pub fn reset_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = self.lock_log();
        log.truncate_fully(offset)?;
        *producers = ProducerStateMap::starting_at(offset);
        truncate_epochs(&mut self.lock_repl().epochs, i64::MIN, log.dir());
        self.high_watermark.store(offset, Ordering::Release);
        Ok(())
    }

    /// As follower: truncates to `offset` (the leader no longer has what we fetched).
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = self.lock_log();
        log.truncate_to(offset)?;
        let leo = log.log_end_offset();
        // A truncated tail may hold the only cached batches of a producer whose
        // earlier batches are still in the log: rebuild rather than forget it.
        *producers = rebuild_producer_state(&mut log, super::now_ms().saturating_sub(self.producer_expiration_ms));
        self.snapshot_segment.store(log.active_base_offset(), Ordering::Release);
        truncate_epochs(&mut self.lock_repl().epochs, leo, log.dir());
        self.high_watermark.fetch_min(leo, Ordering::AcqRel);
        Ok(())
    }

    /// After an append: when the log rolled a new segment since the last
    /// snapshot, snapshots the producer state as of the log end, so a restart
    /// replays at most the active segment. A failed write is logged and retried
    /// at the next roll; the older snapshots still describe the log correctly.
    fn snapshot_if_rolled(&self, producers: &ProducerStateMap, log: &mut Log) {
        let active = log.active_base_offset();
        if self.snapshot_segment.swap(active, Ordering::AcqRel) == active {
            return;
        }
        if let Err(err) = log.write_producer_snapshot(producers.end_offset(), &producers.snapshot_entries(), false) {
            tracing::warn!(partition = %self.tp, %err, "cannot write the producer-state snapshot");
        }
    }

    /// Writes an fsynced producer-state snapshot at the log end (clean shutdown).
    pub fn snapshot_producer_state(&self) -> Result<(), StorageError> {
        let producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        // The log refuses the write itself when it is offline or closed.
        self.lock_log().write_producer_snapshot(producers.end_offset(), &producers.snapshot_entries(), true)
    }

    /// Forgets producers idle for longer than `producer.id.expiration.ms`;
    /// returns how many.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        let cutoff = now_ms.saturating_sub(self.producer_expiration_ms);
        self.producers.lock().unwrap_or_else(|e| e.into_inner()).expire(cutoff)
    }

    /// Producers whose state this partition keeps.
    pub fn producer_count(&self) -> usize {
        self.producers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The producers whose state this partition keeps, by producer id (DescribeProducers).
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        self.producers.lock().unwrap_or_else(|e| e.into_inner()).active_producers()
    }

    /// Whether a segment rolled by an append still waits for its fsync
    /// (see `ReplicaManager::notify_rolled`).
    pub fn has_unflushed_rolled(&self) -> bool {
        self.lock_log().has_unflushed_rolled()
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The effective topic config.
    pub fn config(&self) -> TopicConfig {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the effective topic config (its overrides changed).
    pub fn set_config(&self, config: TopicConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// KIP-320: a request naming the leader epoch it believes current
    /// (`current_leader_epoch` ≥ 0) must agree with ours: an older one is
    /// FENCED_LEADER_EPOCH (its sender missed a leader change), a newer one
    /// UNKNOWN_LEADER_EPOCH (this broker has not caught up yet). −1 skips the check.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), crate::protocol::ErrorCode> {
        let ours = self.leader_epoch();
        if current_leader_epoch < 0 || current_leader_epoch == ours {
            Ok(())
        } else if current_leader_epoch < ours {
            Err(crate::protocol::ErrorCode::FencedLeaderEpoch)
        } else {
            Err(crate::protocol::ErrorCode::UnknownLeaderEpoch)
        }
    }

    /// Whether this broker leads the partition (clients produce and fetch here).
    pub fn is_leader(&self) -> bool {
        self.is_leader.load(Ordering::Acquire)
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock_log().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock_log().log_end_offset()
    }

    /// Appends one validated client batch as leader: checks idempotence,
    /// assigns offsets by patching the bytes, and advances the high watermark
    /// as far as the ISR allows (a single-replica partition is committed as
    /// soon as it is written).
    pub fn append(&self, batch: &mut [u8], header: &BatchHeader, now_ms: i64) -> Result<Appended, ErrorCode> {
        self.append_checked(batch, header, now_ms, false)
    }

    /// As leader, a batch a coordinator wrote into its internal topic (a
    /// TxnOffsetCommit's transactional batch in `__consumer_offsets`). As
    /// Kafka does for coordinator-origin appends, the batch carries no
    /// sequence and only the producer epoch is checked (an older one is
    /// INVALID_PRODUCER_EPOCH); a transactional batch still opens the
    /// producer's transaction, so its marker and the LSO work as for a client's.
    pub fn append_from_coordinator(
        &self,
        batch: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<Appended, ErrorCode> {
        self.append_checked(batch, header, now_ms, true)
    }

    fn append_checked(
        &self,
        batch: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
        from_coordinator: bool,
    ) -> Result<Appended, ErrorCode> {
        if header.is_control() {
            // Only WriteTxnMarkers writes markers (Kafka refuses them from clients too).
            return Err(ErrorCode::InvalidRecord);
        }
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let check = if from_coordinator { producers.check_epoch(header) } else { producers.check(header) };
        match check? {
            SequenceCheck::Duplicate { first_offset, last_offset } => {
                let log_start_offset = self.log_start_offset();
                return Ok(Appended { base_offset: first_offset, last_offset, log_start_offset, records: 0 });
            }
            SequenceCheck::Append => {}
        }
        let epoch = self.leader_epoch();
        let info = {
            let mut log = self.lock_log();
            let info = log.append_as_leader(batch, epoch, now_ms).map_err(|e| {
                tracing::error!(partition = %self.tp, error = %e, "append failed");
                errors::from_storage(&e)
            })?;
            if self.is_leader() {
                assign_epoch(&mut self.lock_repl().epochs, epoch, info.first_offset, log.dir());
            }
            producers.record(header, info.first_offset, info.last_offset, batch_time(header, now_ms));
            self.snapshot_if_rolled(&producers, &mut log);
            info
        };
        drop(producers);
        self.maybe_advance_hw();
        Ok(Appended {
            base_offset: info.first_offset,
            last_offset: info.last_offset,
            log_start_offset: info.log_start_offset,
            records: info.records,
        })
    }

    /// As leader, for WriteTxnMarkers: appends a COMMIT or ABORT marker for
    /// the producer, ending its transaction (an ABORT goes into the aborted-
    /// transaction index). Returns the marker's offset. A marker of an older
    /// producer epoch is INVALID_PRODUCER_EPOCH, of an older coordinator
    /// epoch TRANSACTION_COORDINATOR_FENCED; on a follower NOT_LEADER_OR_FOLLOWER.
    pub fn append_marker(&self, marker: &Marker, now_ms: i64) -> Result<i64, ErrorCode> {
        if !self.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        producers.check_marker(marker)?;
        let mut bytes = control_batch(marker, now_ms).map_err(|err| {
            tracing::error!(partition = %self.tp, %err, "cannot encode a transaction marker");
            ErrorCode::UnknownServerError
        })?;
        let epoch = self.leader_epoch();
        let offset = {
            let mut log = self.lock_log();
            let info = log.append_as_leader(&mut bytes, epoch, now_ms).map_err(|e| {
                tracing::error!(partition = %self.tp, error = %e, "marker append failed");
                errors::from_storage(&e)
            })?;
            assign_epoch(&mut self.lock_repl().epochs, epoch, info.first_offset, log.dir());
            if let Some(done) = producers.record_marker(marker, info.first_offset, now_ms) {
                index_if_aborted(&mut log, &done);
            }
            self.snapshot_if_rolled(&producers, &mut log);
            info.first_offset
        };
        drop(producers);
        self.maybe_advance_hw();
        Ok(offset)
    }

    /// The last stable offset: a read_committed consumer reads below it.
    pub fn last_stable_offset(&self) -> i64 {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        let hw = self.high_watermark();
        producers.first_unstable_offset(hw).map_or(hw, |first| first.min(hw))
    }

    /// Open transactions: (producer id, first offset), oldest first.
    #[cfg(test)]
    pub fn ongoing_txns(&self) -> Vec<(i64, i64)> {
        self.producers.lock().unwrap_or_else(|e| e.into_inner()).ongoing_txns()
    }

    /// Reads whole batches from `offset`, never past the high watermark
    /// (`to_leo`: a follower's fetch, up to the log end offset).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, to_leo: bool) -> Result<ReadInfo, StorageError> {
        self.read_file(offset, max_bytes, min_one, to_leo)?.read()
    }

    /// [`Partition::read`] without reading the bytes: where they are in a segment file.
    pub fn read_file(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        to_leo: bool,
    ) -> Result<ReadInfo<FileRecords>, StorageError> {
        let upto = if to_leo { ReadUpto::LogEnd } else { ReadUpto::HighWatermark };
        self.read_upto(offset, max_bytes, min_one, upto)
    }

    /// A read_committed consumer's read: whole batches from `offset` below the
    /// last stable offset, with the aborted transactions that overlap them
    /// (Kafka's `collectAbortedTransactions`: marker at or after `offset`,
    /// first record before the end of what is returned).
    pub fn read_committed(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo, StorageError> {
        self.read_committed_file(offset, max_bytes, min_one)?.read()
    }

    /// [`Partition::read_committed`] without reading the bytes.
    pub fn read_committed_file(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadInfo<FileRecords>, StorageError> {
        self.read_upto(offset, max_bytes, min_one, ReadUpto::LastStable)
    }

    /// The one read behind [`Partition::read`] and [`Partition::read_committed`].
    fn read_upto(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        upto: ReadUpto,
    ) -> Result<ReadInfo<FileRecords>, StorageError> {
        let last_stable_offset = self.last_stable_offset();
        let log = self.lock_log();
        let high_watermark = self.high_watermark();
        let bound = match upto {
            ReadUpto::LogEnd => log.log_end_offset(),
            ReadUpto::HighWatermark => high_watermark,
            ReadUpto::LastStable => last_stable_offset.min(high_watermark),
        };
        let records = log.read_file(offset, max_bytes, bound, min_one)?;
        let aborted = if upto == ReadUpto::LastStable && !records.is_empty() {
            log.aborted_txns(offset, records.next_offset)
        } else {
            Vec::new()
        };
        Ok(ReadInfo {
            records,
            high_watermark,
            log_start_offset: log.log_start_offset(),
            last_stable_offset: last_stable_offset.min(high_watermark),
            aborted,
        })
    }

    /// ListOffsets by timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.lock_log().offset_for_timestamp(ts)
    }

    /// ListOffsets MAX_TIMESTAMP.
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        self.lock_log().max_timestamp_and_offset()
    }
}

/// The time a batch counts as written for producer expiry: its max timestamp
/// (Kafka's choice), or now for batches without one or stamped by the broker.
fn batch_time(h: &BatchHeader, now_ms: i64) -> i64 {
    if h.max_timestamp < 0 || h.timestamp_type_log_append() {
        now_ms
    } else {
        h.max_timestamp
    }
}

/// Records one appended or replayed batch (`bytes` starts with it) in the
/// producer state; a marker ends its producer's transaction, and an ABORT is
/// added to the aborted-transaction index (a replayed one already there is
/// not added twice).
fn record_batch(producers: &mut ProducerStateMap, log: &mut Log, h: &BatchHeader, bytes: &[u8], timestamp: i64) {
    if !h.is_control() {
        producers.record(h, h.base_offset, h.last_offset(), timestamp);
        return;
    }
    match marker_of(h, bytes) {
        Some(marker) => {
            if let Some(done) = producers.record_marker(&marker, h.base_offset, timestamp) {
                index_if_aborted(log, &done);
            }
        }
        // Not a transaction marker we know: only the end offset moves.
        None => producers.record(h, h.base_offset, h.last_offset(), timestamp),
    }
}

/// How far a [`Partition`] read may go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadUpto {
    /// The log end offset: a follower's fetch.
    LogEnd,
    /// The high watermark: a read_uncommitted consumer.
    HighWatermark,
    /// The last stable offset, with the aborted transactions: read_committed.
    LastStable,
}

fn index_if_aborted(log: &mut Log, done: &CompletedTxn) {
    if !done.aborted {
        return;
    }
    let entry = AbortedTxn {
        producer_id: done.producer_id,
        first_offset: done.first_offset,
        last_offset: done.last_offset,
        last_stable_offset: done.last_stable_offset,
    };
    if let Err(err) = log.add_aborted_txn(entry) {
        tracing::warn!(partition = %log.topic_partition(), %err, "cannot write the aborted-transaction index");
    }
}

/// The transaction marker a control batch carries (its single record: key =
/// version, type; value = version, coordinator epoch), if it is one.
fn marker_of(h: &BatchHeader, bytes: &[u8]) -> Option<Marker> {
    let mut buf = Bytes::copy_from_slice(bytes.get(..h.total_size())?);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).ok()?;
    let record = set.records.first()?;
    let commit = batch::control_marker_commit(record.key.as_ref()?)?;
    let coordinator_epoch =
        record.value.as_ref().and_then(|v| v.get(2..6)).and_then(|b| b.try_into().ok()).map_or(-1, i32::from_be_bytes);
    Some(Marker { producer_id: h.producer_id, producer_epoch: h.producer_epoch, coordinator_epoch, commit })
}

/// A control batch holding `marker` (transactional + control attributes).
fn control_batch(marker: &Marker, now_ms: i64) -> Result<Vec<u8>, String> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if marker.commit { batch::CONTROL_COMMIT } else { batch::CONTROL_ABORT }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let record = kafka_protocol::records::Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: marker.producer_id,
        producer_epoch: marker.producer_epoch,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    let options = kafka_protocol::records::RecordEncodeOptions {
        version: 2,
        compression: kafka_protocol::records::Compression::None,
    };
    kafka_protocol::records::RecordBatchEncoder::encode(&mut buf, [&record], &options).map_err(|e| e.to_string())?;
    Ok(buf.to_vec())
}

/// The idempotent-producer state of `log`: the newest readable snapshot at or
/// below the log end (snapshots above it describe records the log lost and are
/// deleted, as are damaged ones), then every batch after it. Without any
/// snapshot (a log written before snapshots existed) the last two segments are
/// replayed, as Kafka does, to bound the time a start takes. Producers last
/// seen before `expired_before` are left out. I/O errors are logged: the state
/// is then what could be read, and the partition stays usable.
fn rebuild_producer_state(log: &mut Log, expired_before: i64) -> ProducerStateMap {
    let tp = log.topic_partition().clone();
    let leo = log.log_end_offset();
    let snapshots = log.producer_snapshots().unwrap_or_else(|err| {
        tracing::warn!(partition = %tp, %err, "cannot list producer-state snapshots");
        Vec::new()
    });
    let mut map = None;
    for &offset in snapshots.iter().rev() {
        let bad = if offset > leo {
            Some("it is past the log end".to_string())
        } else {
            match log.read_producer_snapshot(offset) {
                Ok(Ok(entries)) => {
                    map = Some(ProducerStateMap::from_snapshot(offset, &entries, expired_before));
                    break;
                }
                Ok(Err(reason)) => Some(reason),
                Err(err) => {
                    tracing::warn!(partition = %tp, offset, %err, "cannot read a producer-state snapshot");
                    continue;
                }
            }
        };
        if let Some(reason) = bad {
            tracing::info!(partition = %tp, offset, reason, "deleting producer-state snapshot");
            if let Err(err) = log.remove_producer_snapshot(offset) {
                tracing::warn!(partition = %tp, offset, %err, "cannot delete a producer-state snapshot");
            }
        }
    }
    let mut map = map.unwrap_or_else(|| {
        let bases = log.segment_base_offsets();
        let from = bases.len().checked_sub(2).map_or(log.log_start_offset(), |i| bases[i]);
        ProducerStateMap::starting_at(from.max(log.log_start_offset()))
    });
    let now = super::now_ms();
    let mut offset = map.end_offset().max(log.log_start_offset());
    while offset < leo {
        let bytes = match log.read(offset, 1 << 20, leo, true) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(partition = %tp, offset, %err, "cannot replay the log into the producer state");
                break;
            }
        };
        let before = offset;
        for (h, range) in BatchIter::new(&bytes) {
            if h.last_offset() >= offset {
                record_batch(&mut map, log, &h, &bytes[range], batch_time(&h, now));
                offset = h.next_offset();
            }
        }
        if offset == before {
            // Nothing readable here (an empty segment after compaction): go on
            // with the next segment, if any.
            match log.segment_base_offsets().into_iter().find(|b| *b > offset) {
                Some(next) => offset = next,
                None => break,
            }
        }
    }
    map.expire(expired_before);
    map
}

/// The batches of `records` from the first one that ends at or past `offset`
/// (a leader answers a fetch inside a batch with the whole batch).
fn skip_below(records: &[u8], offset: i64) -> &[u8] {
    let mut rest = records;
    while rest.len() >= 27 {
        let base = i64::from_be_bytes(rest[0..8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap_or([0; 4]));
        let delta = i32::from_be_bytes(rest[23..27].try_into().unwrap_or([0; 4]));
        let Ok(len) = usize::try_from(len) else { break };
        if base + i64::from(delta) >= offset || rest.len() < 12 + len {
            break;
        }
        rest = &rest[12 + len..];
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BrokerConfig, RawConfig};
    use crate::storage::{LogConfig, StdFileIo};

    fn partition(dir: &std::path::Path) -> Partition {
        partition_with_segment_bytes(dir, LogConfig::default().segment_bytes)
    }

    fn state(leader: i32, isr: &[i32]) -> StateUpdate {
        StateUpdate { leader, leader_epoch: 1, isr: isr.to_vec(), replicas: vec![0, 1, 2], zk_version: 0 }
    }

    fn append(p: &Partition, n: usize) -> Appended {
        let records: Vec<batch::TestRecord<'_>> = (0..n).map(|_| (None, Some(&b"v"[..]), 1)).collect();
        let mut b = batch::build_batch(0, &records);
        let h = batch::validate(&b).expect("valid")[0];
        p.append(&mut b, &h, 1).expect("append")
    }

    #[test]
    fn leader_hw_is_the_lowest_leo_in_the_isr_and_never_decreases() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        assert_eq!(p.apply_state(0, &state(0, &[0, 1, 2]), 0).expect("apply"), Transition::BecameLeader);
        for _ in 0..3 {
            append(&p, 1);
        }
        assert_eq!(p.high_watermark(), 0, "followers have nothing yet");
        assert_eq!(p.record_follower_fetch(1, 3, 10), (false, false));
        assert_eq!(p.record_follower_fetch(2, 2, 10), (true, false));
        assert_eq!(p.high_watermark(), 2);
        // A follower refetching from lower (it truncated) does not move the HW back.
        p.record_follower_fetch(2, 1, 11);
        assert_eq!(p.high_watermark(), 2);
        // Reads for consumers stop at the HW, for followers at the LEO.
        assert!(p.read(2, 1 << 20, true, false).expect("read").records.is_empty());
        assert!(!p.read(2, 1 << 20, true, true).expect("read").records.is_empty());
    }

    #[test]
    fn delete_records_moves_the_start_up_to_the_hw_and_the_low_watermark_follows_the_isr() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0, 1, 2]), 0).expect("apply");
        for _ in 0..4 {
            append(&p, 1);
        }
        p.record_follower_fetch(1, 3, 10);
        p.record_follower_fetch(2, 3, 10);
        assert_eq!(p.high_watermark(), 3);
        assert_eq!(p.delete_records_before(4), Err(ErrorCode::OffsetOutOfRange), "past the HW");
        assert_eq!(p.delete_records_before(-2), Err(ErrorCode::OffsetOutOfRange));
        assert_eq!(p.delete_records_before(2), Ok(2));
        assert_eq!(p.log_start_offset(), 2);
        assert!(p.read(1, 1 << 20, true, false).is_err(), "below the start is out of range");
        // Followers have not reported their start yet.
        assert_eq!(p.low_watermark(), -1);
        p.record_follower_log_start(1, 2);
        p.record_follower_log_start(2, 0);
        assert_eq!(p.low_watermark(), 0);
        p.record_follower_log_start(2, 2);
        assert_eq!(p.low_watermark(), 2);
        // −1 is the high watermark.
        assert_eq!(p.delete_records_before(-1), Ok(3));

        // A follower adopts the leader's start, never past its own end.
        let tmp = tempfile::tempdir().expect("tmp");
        let f = partition(tmp.path());
        f.apply_state(1, &state(0, &[0, 1, 2]), 0).expect("apply");
        assert_eq!(f.delete_records_before(0), Err(ErrorCode::NotLeaderOrFollower));
        let mut b = batch::build_batch(0, &[(None, Some(&b"v"[..]), 1), (None, Some(&b"w"[..]), 1)]);
        batch::patch_leader_epoch(&mut b, 1).expect("patch");
        f.append_as_follower(&b, 2, 1).expect("follower append");
        f.adopt_leader_log_start(1).expect("adopt");
        assert_eq!(f.log_start_offset(), 1);
        f.adopt_leader_log_start(10).expect("adopt");
        assert_eq!(f.log_start_offset(), 2, "clamped to the log end");
    }

    #[test]
    fn isr_shrinks_for_laggards_and_expands_for_caught_up_followers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0, 1]), 1_000).expect("apply");
        append(&p, 2);
        p.record_follower_fetch(1, 2, 1_100);
        assert_eq!(p.high_watermark(), 2);
        assert_eq!(p.shrunk_isr(1_200, 500), None);
        append(&p, 1);
        // Broker 1 stops fetching while behind: out after the lag time.
        assert_eq!(p.shrunk_isr(1_500, 500), None);
        assert_eq!(p.shrunk_isr(1_700, 500), Some(vec![0]));
        p.apply_state(0, &state(0, &[0]), 1_700).expect("apply");
        assert_eq!(p.high_watermark(), 3);
        // Broker 2 (not in the ISR) catches up to the HW: proposed for the ISR.
        assert_eq!(p.record_follower_fetch(2, 1, 1_800), (false, false));
        assert_eq!(p.record_follower_fetch(2, 3, 1_900), (false, true));
    }

    #[test]
    fn follower_appends_leader_batches_and_truncates_to_hw_on_a_new_leader() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("apply");
        let b = batch::build_batch(0, &[(None, Some(&b"a"[..]), 1), (None, Some(&b"b"[..]), 1)]);
        assert_eq!(p.append_as_follower(&b, 1, 5).expect("append"), 2);
        assert_eq!(p.high_watermark(), 1, "min(leader HW, own LEO)");
        // The same batch again (a fetch answered from inside it) is skipped.
        assert_eq!(p.append_as_follower(&b, 2, 5).expect("append"), 2);
        assert_eq!(p.high_watermark(), 2);
        let c = batch::build_batch(2, &[(None, Some(&b"c"[..]), 1)]);
        p.append_as_follower(&c, 2, 5).expect("append");
        assert_eq!(p.log_end_offset(), 3);
        // A new leader: without an epoch answer, the uncommitted tail above the HW goes.
        assert_eq!(p.apply_state(0, &state(2, &[2, 0]), 0).expect("apply"), Transition::NewLeader);
        assert!(p.needs_truncation());
        assert_eq!(p.truncate_to_divergence(None).expect("truncate"), 2);
        assert!(!p.needs_truncation());
        assert_eq!(p.log_end_offset(), 2);
        assert_eq!(p.leader_id(), 2);
        // Another leader whose log ends our latest epoch at offset 1: the
        // batch holding offsets 0–1 goes whole.
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("apply");
        assert_eq!(p.truncate_to_divergence(Some((0, 1))).expect("truncate"), 0);
        assert_eq!(p.high_watermark(), 0);
    }

    #[test]
    fn leader_epoch_cache_answers_offset_for_leader_epoch_and_survives_reopening() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        append(&p, 1);
        append(&p, 1);
        // The controller bumps the epoch (an ISR change); this broker still leads.
        let mut bumped = state(0, &[0]);
        bumped.leader_epoch = 3;
        p.apply_state(0, &bumped, 0).expect("apply");
        append(&p, 1);
        assert_eq!(p.end_offset_for_epoch(1), (1, 2));
        assert_eq!(p.end_offset_for_epoch(2), (1, 2));
        assert_eq!(p.end_offset_for_epoch(3), (3, 3));
        assert_eq!(p.end_offset_for_epoch(0), (0, 0));
        assert_eq!(p.end_offset_for_epoch(4), (-1, -1));
        let text = std::fs::read_to_string(tmp.path().join("t-0").join(LEADER_EPOCH_CHECKPOINT)).expect("checkpoint");
        assert_eq!(text, "0\n2\n1 0\n3 2\n");
        drop(p);
        let again = partition(tmp.path());
        assert_eq!(again.latest_epoch(), 3);
        // Truncation drops the epochs that started in the removed part.
        again.truncate_to(2).expect("truncate");
        assert_eq!(again.latest_epoch(), 1);
    }

    /// An uncompressed batch of `n` records from producer `pid` at `seq`.
    fn idempotent_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
        let now = crate::broker::now_ms();
        let records: Vec<batch::TestRecord<'_>> = (0..n).map(|_| (None, Some(&b"v"[..]), now)).collect();
        let mut b = batch::build_batch(0, &records);
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[batch::CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn produce(p: &Partition, pid: i64, seq: i32, n: usize) -> Result<Appended, ErrorCode> {
        let mut b = idempotent_batch(pid, 0, seq, n);
        let h = batch::validate(&b).expect("valid")[0];
        p.append(&mut b, &h, 1)
    }

    fn partition_with_segment_bytes(dir: &std::path::Path, segment_bytes: u64) -> Partition {
        let tp = TopicPartition::new("t", 0);
        let config = LogConfig { segment_bytes, ..LogConfig::default() };
        let log = Log::open(dir.join("t-0"), tp.clone(), config, Arc::new(StdFileIo), 0, false).expect("open log");
        let broker = BrokerConfig::from_raw(RawConfig::parse_str("").expect("parse")).expect("config").0;
        let config = TopicConfig::resolve(&Default::default(), &broker);
        Partition::new(tp, Arc::new(Mutex::new(log)), config, Some(0), 86_400_000)
    }

    fn snapshots(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("t-0"))
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".snapshot"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_retry_after_a_crash_restart_is_answered_with_its_first_offsets() {
        // The defect: the state lived only in memory, so after `kill -9` and a
        // restart the retry was appended a second time.
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        produce(&p, 9, 0, 1).expect("first");
        let first = produce(&p, 9, 1, 3).expect("second");
        assert_eq!((first.base_offset, first.last_offset), (1, 3));
        drop(p); // no clean shutdown, no snapshot: the log is replayed
        let p = partition(tmp.path());
        assert!(snapshots(tmp.path()).is_empty());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        let retry = produce(&p, 9, 1, 3).expect("retry");
        assert_eq!((retry.base_offset, retry.last_offset, retry.records), (1, 3, 0), "a duplicate, not appended");
        assert_eq!(p.log_end_offset(), 4);
        assert_eq!(produce(&p, 9, 5, 1).err(), Some(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(produce(&p, 9, 4, 1).expect("next").base_offset, 4);
    }

    #[test]
    fn snapshots_are_taken_at_rolls_and_shutdown_and_bound_the_replay() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition_with_segment_bytes(tmp.path(), 200);
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        for seq in 0..10 {
            produce(&p, 3, seq, 1).expect("append");
        }
        let rolled = snapshots(tmp.path());
        assert!(!rolled.is_empty(), "each roll writes a snapshot");
        p.snapshot_producer_state().expect("snapshot");
        assert!(snapshots(tmp.path()).contains(&format!("{:020}.snapshot", 10)));
        drop(p);
        // Reopened from the snapshot at the log end (nothing left to replay).
        let p = partition_with_segment_bytes(tmp.path(), 200);
        assert_eq!(p.producer_count(), 1);
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        for seq in 5..10 {
            assert_eq!(produce(&p, 3, seq, 1).expect("retry").records, 0, "seq {seq} is a duplicate");
        }
        assert_eq!(produce(&p, 3, 11, 1).err(), Some(ErrorCode::OutOfOrderSequenceNumber));
    }

    #[test]
    fn a_damaged_or_stale_snapshot_falls_back_to_the_log() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        produce(&p, 4, 0, 2).expect("append");
        p.snapshot_producer_state().expect("snapshot");
        drop(p);
        let dir = tmp.path().join("t-0");
        // A snapshot from beyond the log end (the tail it describes was lost)
        // and a damaged one: both deleted, the log replayed instead.
        std::fs::copy(dir.join(format!("{:020}.snapshot", 2)), dir.join(format!("{:020}.snapshot", 50))).expect("copy");
        let mut bytes = std::fs::read(dir.join(format!("{:020}.snapshot", 2))).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(dir.join(format!("{:020}.snapshot", 2)), bytes).expect("damage");
        let p = partition(tmp.path());
        assert!(snapshots(tmp.path()).is_empty());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        assert_eq!(produce(&p, 4, 0, 2).expect("retry").records, 0);
    }

    #[test]
    fn truncation_rebuilds_the_producer_state_from_the_log() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0, 1]), 0).expect("apply");
        for seq in 0..8 {
            produce(&p, 2, seq, 1).expect("append");
        }
        // Follow a new leader whose log ends at 2: the six newest batches go,
        // and with them every batch the cache held. The producer is still
        // known from the two batches left, so a gap is refused, not accepted.
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("apply");
        p.truncate_to(2).expect("truncate");
        assert_eq!(p.log_end_offset(), 2);
        p.apply_state(0, &state(0, &[0]), 0).expect("lead again");
        assert_eq!(produce(&p, 2, 5, 1).err(), Some(ErrorCode::OutOfOrderSequenceNumber));
        assert_eq!(produce(&p, 2, 1, 1).expect("dup").records, 0);
        assert_eq!(produce(&p, 2, 2, 1).expect("next").base_offset, 2);
    }

    #[test]
    fn followers_keep_producer_state_that_survives_their_restart() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("apply");
        let mut b = idempotent_batch(8, 0, 0, 2);
        batch::patch_base_offset(&mut b, 0).expect("patch");
        p.append_as_follower(&b, 2, 5).expect("append");
        drop(p);
        let p = partition(tmp.path());
        // This broker now leads; the producer's retry reaches it.
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        assert_eq!(produce(&p, 8, 0, 2).expect("retry").records, 0);
        assert_eq!(p.log_end_offset(), 2);
    }

    fn txn_produce(p: &Partition, pid: i64, seq: i32, n: usize) -> Appended {
        let mut b = idempotent_batch(pid, 0, seq, n);
        b[21..23].copy_from_slice(&0x10i16.to_be_bytes()); // transactional
        let crc = crc32c::crc32c(&b[batch::CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let h = batch::validate(&b).expect("valid")[0];
        assert!(h.is_transactional());
        p.append(&mut b, &h, 1).expect("append")
    }

    fn marker(pid: i64, commit: bool) -> Marker {
        Marker { producer_id: pid, producer_epoch: 0, coordinator_epoch: 3, commit }
    }

    fn txn_index_files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("t-0"))
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".txnindex"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn open_transactions_hold_the_lso_and_markers_end_them() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        assert_eq!(txn_produce(&p, 1, 0, 2).base_offset, 0);
        assert_eq!(txn_produce(&p, 2, 0, 2).base_offset, 2);
        append(&p, 1); // offset 4, not transactional
        txn_produce(&p, 1, 2, 1); // offset 5, same transaction of producer 1
        assert_eq!(p.high_watermark(), 6);
        assert_eq!(p.last_stable_offset(), 0);
        assert_eq!(p.ongoing_txns(), vec![(1, 0), (2, 2)]);
        // read_committed sees nothing below the LSO; read_uncommitted everything.
        assert!(p.read_committed(0, 1 << 20, true).expect("read").records.is_empty());
        assert_eq!(p.read(0, 1 << 20, true, false).expect("read").last_stable_offset, 0);
        assert_eq!(p.append_marker(&marker(1, true), 1).expect("commit"), 6);
        assert_eq!(p.last_stable_offset(), 2);
        assert_eq!(p.append_marker(&marker(2, false), 1).expect("abort"), 7);
        assert_eq!(p.last_stable_offset(), 8);
        assert!(p.ongoing_txns().is_empty());
        let read = p.read_committed(0, 1 << 20, true).expect("read");
        assert_eq!(read.last_stable_offset, 8);
        let aborted = AbortedTxn { producer_id: 2, first_offset: 2, last_offset: 7, last_stable_offset: 8 };
        assert_eq!(read.aborted, vec![aborted]);
        assert!(p.read_committed(8, 1 << 20, true).expect("read").aborted.is_empty());
        assert_eq!(txn_index_files(tmp.path()), vec![format!("{:020}.txnindex", 0)]);
        // A stale producer epoch or coordinator epoch is fenced; a control batch
        // from a client is refused.
        let mut stale = marker(2, true);
        stale.producer_epoch = -1;
        assert_eq!(p.append_marker(&stale, 1), Err(ErrorCode::InvalidProducerEpoch));
        let mut old_coordinator = marker(2, true);
        old_coordinator.coordinator_epoch = 2;
        assert_eq!(p.append_marker(&old_coordinator, 1), Err(ErrorCode::TransactionCoordinatorFenced));
        let mut control = control_batch(&marker(9, true), 1).expect("encode");
        let h = batch::validate(&control).expect("valid")[0];
        assert_eq!(p.append(&mut control, &h, 1).err(), Some(ErrorCode::InvalidRecord));
        // A follower refuses markers.
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("follow");
        assert_eq!(p.append_marker(&marker(1, true), 1), Err(ErrorCode::NotLeaderOrFollower));
    }

    #[test]
    fn a_coordinator_batch_opens_a_transaction_without_a_sequence() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        // A TxnOffsetCommit batch as the group coordinator writes it: transactional, sequence −1.
        let append = |epoch: i16| {
            let mut b = idempotent_batch(5, epoch, -1, 2);
            b[21..23].copy_from_slice(&0x10i16.to_be_bytes());
            let crc = crc32c::crc32c(&b[batch::CRC_START..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
            let h = batch::validate(&b).expect("valid")[0];
            p.append_from_coordinator(&mut b, &h, 1).map(|a| a.base_offset)
        };
        assert_eq!(append(1), Ok(0));
        assert_eq!(p.ongoing_txns(), vec![(5, 0)]);
        assert_eq!(p.last_stable_offset(), 0);
        // No sequence, so no duplicate detection: a second batch is appended.
        assert_eq!(append(1), Ok(2));
        assert_eq!(append(0), Err(ErrorCode::InvalidProducerEpoch));
        let commit = Marker { producer_id: 5, producer_epoch: 1, coordinator_epoch: 0, commit: true };
        assert_eq!(p.append_marker(&commit, 1), Ok(4));
        assert!(p.ongoing_txns().is_empty());
        assert_eq!(p.last_stable_offset(), 5);
    }

    #[test]
    fn lso_and_aborted_index_survive_restart_and_follow_truncation() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        txn_produce(&p, 1, 0, 2); // 0-1
        p.append_marker(&marker(1, false), 1).expect("abort"); // 2
        txn_produce(&p, 2, 0, 1); // 3, left open
        assert_eq!(p.last_stable_offset(), 3);
        drop(p); // no snapshot: replayed from the log
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        assert_eq!(p.last_stable_offset(), 3);
        let aborted = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 2, last_stable_offset: 3 };
        assert_eq!(p.read_committed(0, 1 << 20, true).expect("read").aborted, vec![aborted]);
        // From a snapshot, with the index file lost: the open transaction comes
        // from the snapshot; markers after it are replayed into the index.
        p.snapshot_producer_state().expect("snapshot");
        p.append_marker(&marker(2, false), 1).expect("abort"); // 4
        drop(p);
        std::fs::remove_file(tmp.path().join("t-0").join(format!("{:020}.txnindex", 0))).expect("lose the index");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        assert_eq!(p.last_stable_offset(), 5);
        let second = AbortedTxn { producer_id: 2, first_offset: 3, last_offset: 4, last_stable_offset: 5 };
        assert_eq!(p.read_committed(3, 1 << 20, true).expect("read").aborted, vec![second]);
        // Truncating the second marker away reopens its transaction and drops its entry.
        p.apply_state(0, &state(1, &[1, 0]), 0).expect("follow");
        p.truncate_to(4).expect("truncate");
        assert_eq!(p.ongoing_txns(), vec![(2, 3)]);
        p.apply_state(0, &state(0, &[0]), 0).expect("lead");
        assert!(p.read_committed(3, 1 << 20, true).expect("read").aborted.is_empty());
        assert_eq!(p.last_stable_offset(), 3);
    }

    #[test]
    fn idle_producers_expire() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = partition(tmp.path());
        p.apply_state(0, &state(0, &[0]), 0).expect("apply");
        let mut b = idempotent_batch(1, 0, 0, 1);
        b[35..43].copy_from_slice(&1_000i64.to_be_bytes()); // max timestamp
        let crc = crc32c::crc32c(&b[batch::CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let h = batch::validate(&b).expect("valid")[0];
        p.append(&mut b, &h, 1).expect("append");
        assert_eq!(p.expire_producers(1_000 + 86_400_000 - 1), 0);
        assert_eq!(p.expire_producers(1_000 + 86_400_000), 1);
        assert_eq!(p.producer_count(), 0);
    }
}
