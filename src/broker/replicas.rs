//! The replica manager: the partitions this broker hosts and the state that
//! goes with them, apart from the rest of the broker so that the data-path
//! handlers (Produce, Fetch, ListOffsets, OffsetForLeaderEpoch,
//! WriteTxnMarkers, DescribeProducers) receive only this.
//!
//! It owns the partition map (filled and emptied by [`super::partition_sync`],
//! the one writer), the "data arrived" signal that wakes waiting fetches and
//! produces, the queue of ISR changes leaders propose (written by the
//! `isr-update` task in [`super::replication`]), the high watermarks read
//! from `replication-offset-checkpoint` at startup, and the "stop following"
//! switch a controlled shutdown throws. Logs stay with the broker's
//! `LogManager`; a [`Partition`] holds its own log.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};

use tokio::sync::{mpsc, watch};

use super::Partition;
use crate::protocol::ErrorCode;
use crate::storage::TopicPartition;

/// A leader's wanted ISR for one partition.
pub(crate) type IsrProposal = (Arc<Partition>, Vec<i32>);

/// The hosted partitions and their shared signals.
pub struct ReplicaManager {
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// `replication-offset-checkpoint` as read at startup (`None`: no log dir had one).
    hw_checkpoint: Option<BTreeMap<TopicPartition, i64>>,
    /// ISR changes a leader wants written (by the `isr-update` task).
    isr_proposals: mpsc::UnboundedSender<IsrProposal>,
    isr_proposals_rx: Mutex<Option<mpsc::UnboundedReceiver<IsrProposal>>>,
    /// Bumped after every append so that waiting fetches re-check at once.
    data_arrived: watch::Sender<u64>,
    /// Set while a controlled shutdown moves this broker out of the ISRs, and
    /// after: it fetches for no partition, so that no leader takes it back.
    following_stopped: AtomicBool,
    /// Per-topic byte and request counters and the purgatory gauges (registered by the broker).
    metrics: Arc<crate::metrics::requests::DataPathMetrics>,
    /// The storage-I/O slots (`num.io.threads`) every blocking storage call goes through.
    storage_io: super::storage_io::StorageIo,
    /// Raised after an append rolled a segment: wakes the `log-roll-flusher`.
    rolled: tokio::sync::Notify,
}

impl std::fmt::Debug for ReplicaManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosted = self.partitions.read().unwrap_or_else(|e| e.into_inner()).len();
        f.debug_struct("ReplicaManager").field("partitions", &hosted).finish_non_exhaustive()
    }
}

impl ReplicaManager {
    /// An empty manager; `hw_checkpoint` is what the log dirs' checkpoints held.
    pub(crate) fn new(hw_checkpoint: Option<BTreeMap<TopicPartition, i64>>) -> ReplicaManager {
        let (isr_proposals, isr_proposals_rx) = mpsc::unbounded_channel();
        ReplicaManager {
            partitions: RwLock::new(HashMap::new()),
            hw_checkpoint,
            isr_proposals,
            isr_proposals_rx: Mutex::new(Some(isr_proposals_rx)),
            data_arrived: watch::channel(0u64).0,
            following_stopped: AtomicBool::new(false),
            metrics: Arc::new(crate::metrics::requests::DataPathMetrics::new()),
            storage_io: super::storage_io::StorageIo::default(),
            rolled: tokio::sync::Notify::new(),
        }
    }

    /// An append rolled a segment: the `log-roll-flusher` fsyncs it soon, in
    /// the background (Kafka flushes the old segment asynchronously right
    /// after a roll), instead of at the next `log.flush.scheduler.interval.ms` tick.
    pub(crate) fn notify_rolled(&self) {
        self.rolled.notify_one();
    }

    /// Resolves after the next [`ReplicaManager::notify_rolled`] (or at once if
    /// one came since the last wait).
    pub(crate) async fn rolled(&self) {
        self.rolled.notified().await;
    }

    /// With `threads` storage-I/O slots (`num.io.threads`) instead of Kafka's default 8.
    pub(crate) fn with_io_threads(mut self, threads: usize) -> ReplicaManager {
        self.storage_io = super::storage_io::StorageIo::new(threads);
        self
    }

    /// The storage-I/O slots: run blocking storage calls through
    /// [`StorageIo::run`](super::storage_io::StorageIo::run).
    pub fn storage_io(&self) -> &super::storage_io::StorageIo {
        &self.storage_io
    }

    /// The partition object, if this broker hosts it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).get(&tp).cloned()
    }

    /// The partition if this broker leads it: UNKNOWN_TOPIC_OR_PARTITION when
    /// not hosted here, NOT_LEADER_OR_FOLLOWER when another broker leads it.
    pub fn leader_partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, ErrorCode> {
        let p = self.partition(topic, partition).ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.is_leader() {
            Ok(p)
        } else {
            Err(ErrorCode::NotLeaderOrFollower)
        }
    }

    /// The data path's metrics: per-topic counters, replication bytes, purgatories.
    pub(crate) fn metrics(&self) -> &crate::metrics::requests::DataPathMetrics {
        &self.metrics
    }

    /// `partition`'s topic counters, looked up once per partition and kept on it.
    pub(crate) fn topic_metrics<'a>(&self, partition: &'a Partition) -> &'a crate::metrics::requests::TopicHandle {
        partition.topic_metrics.get_or_init(|| self.metrics.topic(&partition.tp.topic))
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// The partition map for [`super::partition_sync`], which opens and drops
    /// partitions under this lock so that a lookup never sees half a change.
    pub(crate) fn partitions_mut(&self) -> RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes waiting fetches.
    pub(crate) fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever data is appended anywhere.
    pub(crate) fn data_arrived(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }

    /// The checkpointed HW a partition opens with.
    pub(crate) fn checkpointed_hw(&self, tp: &TopicPartition) -> Option<i64> {
        self.hw_checkpoint.as_ref().map(|c| c.get(tp).copied().unwrap_or(0))
    }

    /// Asks the `isr-update` task to write a leader's ISR change, at most one
    /// pending per partition.
    pub(crate) fn propose_isr(&self, partition: &Arc<Partition>, isr: Vec<i32>) {
        if partition.isr_update_in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.isr_proposals.send((partition.clone(), isr)).is_err() {
            partition.isr_update_in_flight.store(false, Ordering::Release);
        }
    }

    /// The receiving end of the ISR proposals, for the one `isr-update` task
    /// (`None` once taken).
    pub(crate) fn take_isr_proposals(&self) -> Option<mpsc::UnboundedReceiver<IsrProposal>> {
        self.isr_proposals_rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Stops fetching as a follower (controlled shutdown): fetchers send no
    /// more requests at once and the fetcher manager ends them on its next tick.
    pub(crate) fn stop_following(&self) {
        self.following_stopped.store(true, Ordering::Release);
    }

    /// Undoes [`ReplicaManager::stop_following`] (a controlled-shutdown attempt failed).
    pub(crate) fn resume_following(&self) {
        self.following_stopped.store(false, Ordering::Release);
    }

    /// Whether [`ReplicaManager::stop_following`] was called.
    pub(crate) fn following_stopped(&self) -> bool {
        self.following_stopped.load(Ordering::Acquire)
    }
}
