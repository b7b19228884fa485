//! One partition this broker hosts: its log, effective topic config, the
//! idempotent-producer state, the leader epoch and the high watermark.
//!
//! Lock order: `producers` before the log's mutex. The producer lock is held
//! across check-and-append so that two retries of one batch cannot both pass
//! the duplicate check.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use super::producer_state::{ProducerStateMap, SequenceCheck};
use crate::config::TopicConfig;
use crate::protocol::batch::BatchHeader;
use crate::protocol::{errors, ErrorCode};
use crate::storage::{Log, StorageError, TopicPartition};

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
pub struct ReadInfo {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// A partition this broker hosts, as leader or (until replication arrives,
/// idle) follower. Leadership and the leader epoch come from the partition's
/// state znode (`partition_sync`); until its state is known it is neither.
pub struct Partition {
    pub tp: TopicPartition,
    log: Arc<Mutex<Log>>,
    config: RwLock<TopicConfig>,
    producers: Mutex<ProducerStateMap>,
    is_leader: AtomicBool,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition").field("tp", &self.tp).finish_non_exhaustive()
    }
}

impl Partition {
    pub fn new(tp: TopicPartition, log: Arc<Mutex<Log>>, config: TopicConfig) -> Partition {
        let leo = log.lock().unwrap_or_else(|e| e.into_inner()).log_end_offset();
        Partition {
            tp,
            log,
            config: RwLock::new(config),
            producers: Mutex::new(ProducerStateMap::default()),
            is_leader: AtomicBool::new(false),
            leader_epoch: AtomicI32::new(0),
            high_watermark: AtomicI64::new(leo),
        }
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

    /// Whether this broker leads the partition (clients produce and fetch here).
    pub fn is_leader(&self) -> bool {
        self.is_leader.load(Ordering::Acquire)
    }

    /// Records the leader and epoch from the partition's state znode.
    pub fn set_leadership(&self, is_leader: bool, leader_epoch: i32) {
        self.leader_epoch.store(leader_epoch.max(0), Ordering::Release);
        self.is_leader.store(is_leader, Ordering::Release);
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
    /// (a single-replica partition is committed as soon as it is written).
    pub fn append(&self, batch: &mut [u8], header: &BatchHeader, now_ms: i64) -> Result<Appended, ErrorCode> {
        let mut producers = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        match producers.check(header)? {
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
            self.high_watermark.store(log.log_end_offset(), Ordering::Release);
            info
        };
        producers.record(header, info.first_offset, info.last_offset);
        Ok(Appended {
            base_offset: info.first_offset,
            last_offset: info.last_offset,
            log_start_offset: info.log_start_offset,
            records: info.records,
        })
    }

    /// Reads whole batches from `offset`, never past the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo, StorageError> {
        let log = self.lock_log();
        let high_watermark = self.high_watermark();
        let records = log.read(offset, max_bytes, high_watermark, min_one)?;
        Ok(ReadInfo { records, high_watermark, log_start_offset: log.log_start_offset() })
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
