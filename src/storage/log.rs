//! The log of one partition: an ordered list of segments, the last one active.
//!
//! Owns offset assignment, segment rolling, flushing (and so the recovery point),
//! reads, timestamp lookups and truncation. Retention lives in `retention.rs`, the
//! loading/recovery of existing files in `recovery.rs`. A `Log` is not internally
//! synchronised: the manager hands it out as `Arc<Mutex<Log>>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::error::{IoContext, StorageError};
use super::file_records::FileRecords;
use super::io::{FileIo, LogFile};
use super::manager::TopicPartition;
use super::producer_snapshot::{self, SnapshotEntry};
use super::recovery;
use super::segment::{BatchMeta, Segment};
use super::txn_index::{self, AbortedTxn};
use crate::protocol::batch::{self, BatchError, BatchIter};

/// Per-log configuration, with Kafka's names and defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes` / `log.segment.bytes`; clamped to `[1, i32::MAX]` when used.
    pub segment_bytes: u64,
    /// `segment.ms` / `log.roll.ms`.
    pub segment_ms: i64,
    /// `retention.ms`; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`; -1 is unlimited.
    pub retention_bytes: i64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// `flush.messages`: fsync after this many messages (u64::MAX: never).
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync when this long has passed since the last flush (None: never).
    pub flush_interval_ms: Option<u64>,
}

pub const DEFAULT_SEGMENT_BYTES: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_SEGMENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: -1,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: None,
        }
    }
}

impl LogConfig {
    fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.clamp(1, i32::MAX as u64)
    }
}

/// What an append did (feeds the Produce response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// Largest batch max timestamp of the append.
    pub max_timestamp: i64,
    /// Always -1: the broker keeps CreateTime (LogAppendTime is not implemented).
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub bytes: usize,
    pub records: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogState {
    Open,
    /// An I/O error left the files in an unknown state; writes are refused.
    Offline,
    Closed,
}

/// The log of one partition.
#[derive(Debug)]
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) tp: TopicPartition,
    pub(crate) config: LogConfig,
    pub(crate) io: Arc<dyn FileIo>,
    /// Sorted by base offset; never empty while the log is open.
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) recovery_point: i64,
    last_flush_ms: Option<i64>,
    state: LogState,
    /// Bumped by every truncation, so a flush begun before it cannot move the
    /// recovery point over data written after it.
    truncations: u64,
    /// Base offset of the active segment at the last compaction (−1: never).
    pub(crate) cleaned_upto: i64,
    /// Every aborted transaction of the `.txnindex` files, with the base
    /// offset of the segment whose file holds it, ordered by marker offset.
    pub(super) aborted: Vec<(i64, AbortedTxn)>,
}

/// fsync work for segments that were rolled but not yet synced, taken out of the log
/// so it can run without holding the log's lock (see [`Log::begin_rolled_flush`]).
#[derive(Debug)]
pub struct PendingFlush {
    files: Vec<(PathBuf, Arc<dyn LogFile>)>,
    dir: PathBuf,
    io: Arc<dyn FileIo>,
    upto: i64,
    truncations: u64,
}

impl PendingFlush {
    /// The recovery point once this flush is done.
    pub fn upto(&self) -> i64 {
        self.upto
    }

    /// fsyncs the files and the partition directory. Call without the log's lock.
    pub fn run(&self) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        for (path, file) in &self.files {
            file.sync().at(path)?;
        }
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        crate::metrics::flush::observe(started.elapsed());
        Ok(())
    }
}

pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Log {
    /// Opens (creating the directory if needed) the log in `dir`. With
    /// `clean_shutdown` false, segments holding offsets >= `recovery_point` are
    /// scanned and truncated at the first invalid batch; see `recovery.rs`.
    pub fn open(
        dir: PathBuf,
        tp: TopicPartition,
        config: LogConfig,
        io: Arc<dyn FileIo>,
        recovery_point: i64,
        clean_shutdown: bool,
    ) -> Result<Log, StorageError> {
        let segments = recovery::load(io.as_ref(), &dir, &config, recovery_point, clean_shutdown, wall_clock_ms())?;
        let log_start_offset = segments.first().map_or(0, |s| s.base_offset);
        let log_end = segments.last().map_or(0, |s| s.next_offset);
        let aborted = load_aborted(io.as_ref(), &dir, &segments, log_end)?;
        tracing::debug!(
            partition = %tp,
            log_start_offset,
            log_end,
            segments = segments.len(),
            "opened log"
        );
        Ok(Log {
            dir,
            tp,
            config,
            io,
            segments,
            log_start_offset,
            // Recovery synced whatever it scanned and a clean shutdown flushed all.
            recovery_point: log_end,
            last_flush_ms: None,
            state: LogState::Open,
            truncations: 0,
            cleaned_upto: -1,
            aborted,
        })
    }

    /// Records an aborted transaction in the `.txnindex` of the segment that
    /// holds its ABORT marker (`entry.last_offset`). An entry already known
    /// (the same producer and marker: a replay after restart) is not added twice.
    pub fn add_aborted_txn(&mut self, entry: AbortedTxn) -> Result<(), StorageError> {
        self.check_writable()?;
        // `aborted` is sorted by marker offset: only the run at this marker can hold it.
        let first = self.aborted.partition_point(|(_, e)| e.last_offset < entry.last_offset);
        let mut same_marker = self.aborted[first..].iter().take_while(|(_, e)| e.last_offset == entry.last_offset);
        if same_marker.any(|(_, e)| e.producer_id == entry.producer_id) {
            return Ok(());
        }
        let Some(base) = self.segments.iter().rev().find(|s| s.base_offset <= entry.last_offset).map(|s| s.base_offset)
        else {
            return Ok(());
        };
        let result = txn_index::append(self.io.as_ref(), &self.dir, base, &entry);
        self.guard(result)?;
        let at = self.aborted.partition_point(|(_, e)| e.last_offset <= entry.last_offset);
        self.aborted.insert(at, (base, entry));
        Ok(())
    }

    /// The aborted transactions that overlap offsets `[from, upper)`: their
    /// marker is at or after `from` and their first record before `upper`
    /// (Kafka's `collectAbortedTransactions`), in marker order.
    pub fn aborted_txns(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        // Sorted by marker offset, so the markers before `from` are skipped at
        // once; the first offsets are in no order, so the rest is scanned.
        let start = self.aborted.partition_point(|(_, e)| e.last_offset < from);
        self.aborted[start..].iter().map(|(_, e)| *e).filter(|e| e.first_offset < upper).collect()
    }

    /// Drops the index entries whose marker is at or past `end` (truncated
    /// away) from memory and from their files.
    fn truncate_aborted(&mut self, end: i64) -> Result<(), StorageError> {
        let mut touched: Vec<i64> =
            self.aborted.iter().filter(|(_, e)| e.last_offset >= end).map(|(b, _)| *b).collect();
        if touched.is_empty() {
            return Ok(());
        }
        touched.dedup();
        self.aborted.retain(|(_, e)| e.last_offset < end);
        for base in touched {
            let kept: Vec<AbortedTxn> = self.aborted.iter().filter(|(b, _)| *b == base).map(|(_, e)| *e).collect();
            txn_index::rewrite(self.io.as_ref(), &self.dir, base, &kept)?;
        }
        Ok(())
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.segments.last().map_or(self.log_start_offset, |s| s.next_offset)
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Bytes in `.log` files (indexes not counted, as Kafka's `Log.size`).
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    /// Base offset of the active (last) segment.
    pub fn active_base_offset(&self) -> i64 {
        self.segments.last().map_or(self.log_start_offset, |s| s.base_offset)
    }

    /// Offsets of the producer-state snapshots beside the segments, ascending
    /// (see `producer_snapshot.rs`).
    pub fn producer_snapshots(&self) -> Result<Vec<i64>, StorageError> {
        producer_snapshot::list(self.io.as_ref(), &self.dir)
    }

    /// Reads one producer-state snapshot: `Ok(Err(reason))` when its content is bad.
    pub fn read_producer_snapshot(&self, offset: i64) -> Result<Result<Vec<SnapshotEntry>, String>, StorageError> {
        producer_snapshot::read(self.io.as_ref(), &self.dir, offset)
    }

    /// Writes the producer state as of `offset` (everything below it), fsynced
    /// with `sync`, and deletes snapshots below the log start offset except the
    /// newest one.
    pub fn write_producer_snapshot(
        &mut self,
        offset: i64,
        entries: &[SnapshotEntry],
        sync: bool,
    ) -> Result<(), StorageError> {
        self.check_writable()?;
        producer_snapshot::write(self.io.as_ref(), &self.dir, offset, entries, sync)?;
        self.prune_producer_snapshots()
    }

    /// Deletes one producer-state snapshot (a damaged one).
    pub fn remove_producer_snapshot(&self, offset: i64) -> Result<(), StorageError> {
        producer_snapshot::remove(self.io.as_ref(), &self.dir, offset)
    }

    /// Snapshots above the log end describe records the log no longer has.
    fn remove_producer_snapshots_above(&self, offset: i64) -> Result<(), StorageError> {
        for at in self.producer_snapshots()?.into_iter().filter(|o| *o > offset) {
            producer_snapshot::remove(self.io.as_ref(), &self.dir, at)?;
        }
        Ok(())
    }

    /// Snapshots below the log start offset are not needed once a newer one
    /// exists (their segments are gone, so nothing could be replayed after them).
    fn prune_producer_snapshots(&self) -> Result<(), StorageError> {
        let all = self.producer_snapshots()?;
        let Some(newest) = all.last().copied() else { return Ok(()) };
        for at in all.into_iter().filter(|o| *o < self.log_start_offset && *o != newest) {
            producer_snapshot::remove(self.io.as_ref(), &self.dir, at)?;
        }
        Ok(())
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// True after an I/O failure; the log must be reopened (and so recovered).
    pub fn is_offline(&self) -> bool {
        self.state == LogState::Offline
    }

    pub(crate) fn check_writable(&self) -> Result<(), StorageError> {
        match self.state {
            LogState::Open => Ok(()),
            LogState::Offline => Err(StorageError::LogOffline { path: self.dir.clone() }),
            LogState::Closed => Err(StorageError::Closed { path: self.dir.clone() }),
        }
    }

    /// Marks the log offline when `result` failed on I/O (file state unknown).
    pub(crate) fn guard<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e @ (StorageError::Io { .. } | StorageError::Corrupt { .. })) = &result {
            tracing::error!(partition = %self.tp, error = %e, "log is now offline");
            self.state = LogState::Offline;
        }
        result
    }

    pub(crate) fn active(&mut self) -> Result<&mut Segment, StorageError> {
        let path = self.dir.clone();
        self.segments.last_mut().ok_or(StorageError::Closed { path })
    }

    /// Appends client batches as the leader: assigns offsets from the log end by
    /// patching each batch's baseOffset and partitionLeaderEpoch in place, then writes
    /// the bytes verbatim. The caller must have validated the batches (CRC, magic,
    /// counts: `batch::validate`); only the header structure is re-checked here.
    pub fn append_as_leader(
        &mut self,
        batches: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.check_writable()?;
        let mut next = self.log_end_offset();
        let mut metas = scan_batches(batches)?;
        for meta in &mut metas {
            let span = meta.last_offset - meta.base_offset;
            let last =
                next.checked_add(span).ok_or(StorageError::AppendTooLarge { bytes: batches.len(), offsets: span })?;
            let at = &mut batches[meta.position..];
            batch::patch_base_offset(at, next)?;
            batch::patch_leader_epoch(at, leader_epoch)?;
            meta.base_offset = next;
            meta.last_offset = last;
            next = last + 1;
        }
        let result = self.append_metas(batches, &metas, now_ms);
        self.guard(result)
    }

    /// Appends batches whose offsets were assigned by the leader (replication).
    /// Nothing may overlap what the log holds and offsets must increase; gaps
    /// are allowed, since a compacted leader no longer has every offset.
    pub fn append_as_follower(&mut self, batches: &[u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        self.check_writable()?;
        let metas = scan_batches(batches)?;
        let mut expected = self.log_end_offset();
        for meta in &metas {
            if meta.base_offset < expected {
                return Err(StorageError::UnexpectedOffset { expected, found: meta.base_offset });
            }
            expected = meta.last_offset + 1;
        }
        let result = self.append_metas(batches, &metas, now_ms);
        self.guard(result)
    }

    fn append_metas(&mut self, data: &[u8], metas: &[BatchMeta], now_ms: i64) -> Result<AppendInfo, StorageError> {
        let (Some(first), Some(last)) = (metas.first(), metas.last()) else {
            return Err(BatchError::Empty.into());
        };
        let (first_offset, last_offset) = (first.base_offset, last.last_offset);
        let max_timestamp = metas.iter().map(|m| m.max_timestamp).max().unwrap_or(-1);
        if data.len() > i32::MAX as usize {
            return Err(StorageError::AppendTooLarge { bytes: data.len(), offsets: last_offset - first_offset + 1 });
        }
        if self.should_roll(data.len(), last_offset, max_timestamp, now_ms) {
            self.roll(first_offset, now_ms)?;
        }
        let interval = self.config.index_interval_bytes;
        let active = self.active()?;
        if !active.can_hold_offset(last_offset) || !active.can_hold_offset(first_offset) {
            return Err(StorageError::AppendTooLarge { bytes: data.len(), offsets: last_offset - first_offset + 1 });
        }
        active.append(data, metas, interval)?;
        let records: u64 = metas.iter().map(|m| (m.last_offset - m.base_offset + 1) as u64).sum();
        if self.unflushed_messages() >= self.config.flush_interval_messages {
            self.flush_inner()?;
        }
        Ok(AppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            bytes: data.len(),
            records,
        })
    }

    fn should_roll(&self, bytes: usize, last_offset: i64, max_timestamp: i64, now_ms: i64) -> bool {
        let Some(seg) = self.segments.last() else {
            return false;
        };
        if seg.size == 0 {
            return false;
        }
        let full = seg.size + bytes as u64 > self.config.effective_segment_bytes();
        // Kafka: with timestamps, compare the incoming max timestamp with the first
        // batch's; without, the wall-clock age of the segment.
        let waited = match seg.rolling_timestamp {
            Some(first) if first >= 0 => max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(seg.created_ms),
        };
        let old = waited > self.config.segment_ms;
        full || old || !seg.can_hold_offset(last_offset)
    }

    /// Messages (offsets) appended since the recovery point.
    fn unflushed_messages(&self) -> u64 {
        u64::try_from(self.log_end_offset() - self.recovery_point).unwrap_or(0)
    }

    /// Index of the first segment that may hold data not yet fsynced.
    fn first_unflushed_segment(&self) -> usize {
        self.segments.partition_point(|s| s.base_offset <= self.recovery_point).saturating_sub(1)
    }

    /// Seals the active segment (final time index entry) and starts a new one at
    /// `new_base`. Does not wait for the disk: the old segment is fsynced by the next
    /// `flush`, `close` or rolled flush ([`Log::begin_rolled_flush`]), which is
    /// what moves the recovery point, as Kafka's asynchronous flush after a roll.
    pub(crate) fn roll(&mut self, new_base: i64, now_ms: i64) -> Result<(), StorageError> {
        let active = self.active()?;
        if active.size == 0 && active.base_offset == new_base {
            return Ok(());
        }
        active.finish_time_index()?;
        active.shrink_indexes();
        let segment = Segment::create(self.io.as_ref(), &self.dir, new_base, now_ms)?;
        tracing::debug!(partition = %self.tp, base_offset = new_base, "rolled segment");
        self.segments.push(segment);
        Ok(())
    }

    /// Whether a rolled segment waits for its fsync (the recovery point is
    /// below the active segment): the cue to run a rolled flush soon, as
    /// Kafka schedules one right after each roll.
    pub fn has_unflushed_rolled(&self) -> bool {
        self.state == LogState::Open && self.segments.last().is_some_and(|s| self.recovery_point < s.base_offset)
    }

    /// Takes the fsync work for rolled segments that are not yet synced (`None` if
    /// there are none). Run it with [`PendingFlush::run`] outside the log's lock,
    /// then hand the result to [`Log::finish_rolled_flush`]. `LogManager::flush_due`
    /// does exactly this.
    pub fn begin_rolled_flush(&mut self) -> Option<PendingFlush> {
        if self.state != LogState::Open {
            return None;
        }
        let active_base = self.segments.last()?.base_offset;
        if self.recovery_point >= active_base {
            return None;
        }
        let first = self.first_unflushed_segment();
        let sealed = &self.segments[first..self.segments.len() - 1];
        Some(PendingFlush {
            files: sealed.iter().flat_map(|s| s.handles()).collect(),
            dir: self.dir.clone(),
            io: Arc::clone(&self.io),
            upto: active_base,
            truncations: self.truncations,
        })
    }

    /// Completes a rolled flush: advances the recovery point, or takes the log offline
    /// if the fsync failed.
    pub fn finish_rolled_flush(
        &mut self,
        flush: PendingFlush,
        result: Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if let Err(e) = result {
            if self.state == LogState::Open {
                return self.guard(Err(e));
            }
            return Err(e);
        }
        if self.state == LogState::Open && flush.truncations == self.truncations {
            let upto = flush.upto.min(self.log_end_offset());
            self.recovery_point = self.recovery_point.max(upto);
        }
        Ok(())
    }

    /// Whole batches starting with the one containing `offset`: at most `max_bytes`,
    /// except that with `min_one` a first batch bigger than `max_bytes` is returned
    /// alone (KIP-74); never a batch whose base offset is >= `max_offset`. Data comes
    /// from one segment only. `offset == log_end_offset` gives empty bytes.
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<Bytes, StorageError> {
        self.read_file(offset, max_bytes, max_offset, min_one)?.read()
    }

    /// Where [`Log::read`]'s bytes are, without reading them: the segment file and
    /// the byte range, for a caller that sends them straight from the file.
    pub fn read_file(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<FileRecords, StorageError> {
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(StorageError::OffsetOutOfRange { offset, log_start: self.log_start_offset, log_end });
        }
        let first = self.segments.partition_point(|s| s.base_offset <= offset).saturating_sub(1);
        if offset < log_end {
            for (i, segment) in self.segments.iter().enumerate().skip(first) {
                if let Some(range) = segment.read_range(offset, max_bytes, max_offset, min_one)? {
                    // A range that ends with its segment is followed by the next one's first offset.
                    let next_offset = if range.position + range.len as u64 == segment.size && range.len > 0 {
                        self.segments.get(i + 1).map_or(log_end, |s| s.base_offset)
                    } else {
                        range.next_offset
                    };
                    return Ok(FileRecords::new(
                        segment.log_file(),
                        segment.log_path().to_path_buf(),
                        range.position,
                        range.len,
                        next_offset,
                    ));
                }
            }
        }
        Ok(FileRecords::empty(offset))
    }

    /// ListOffsets by timestamp: `(offset, timestamp)` of the earliest record whose
    /// timestamp is >= `ts` (for compressed batches: the batch's base offset and max
    /// timestamp). `None` if there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for segment in &self.segments {
            if segment.size == 0 || segment.max_timestamp < ts {
                continue;
            }
            if let Some(found) = segment.find_offset_by_timestamp(ts, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the record with the largest timestamp (the earliest
    /// one on ties; for compressed batches the batch's base offset), or `None` if no
    /// record has a timestamp. Note the order: offset first, as `offset_for_timestamp`.
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        let mut best: Option<&Segment> = None;
        for segment in &self.segments {
            if segment.offset_of_max_timestamp < 0 {
                continue;
            }
            if best.is_none_or(|b| segment.max_timestamp > b.max_timestamp) {
                best = Some(segment);
            }
        }
        let segment = best?;
        match segment.max_timestamp_record() {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(partition = %self.tp, error = %e, "max timestamp lookup failed");
                Some((segment.offset_of_max_timestamp, segment.max_timestamp))
            }
        }
    }

    /// fsyncs every segment not yet synced and moves the recovery point to the log end.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        match self.state {
            LogState::Closed => return Ok(()),
            LogState::Offline => self.check_writable()?,
            LogState::Open => {}
        }
        let result = self.flush_inner();
        self.guard(result)
    }

    fn flush_inner(&mut self) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let log_end = self.log_end_offset();
        let first = self.first_unflushed_segment();
        self.active()?.finish_time_index()?;
        for segment in &self.segments[first..] {
            segment.sync()?;
        }
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        self.recovery_point = log_end;
        crate::metrics::flush::observe(started.elapsed());
        Ok(())
    }

    /// Flushes when `flush_interval_ms` has passed since the last flush (the first
    /// call only starts the clock).
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let Some(interval) = self.config.flush_interval_ms else {
            return Ok(());
        };
        if self.state != LogState::Open {
            return Ok(());
        }
        match self.last_flush_ms {
            None => self.last_flush_ms = Some(now_ms),
            Some(last) if now_ms.saturating_sub(last) >= i64::try_from(interval).unwrap_or(i64::MAX) => {
                if self.unflushed_messages() > 0 {
                    self.flush()?;
                }
                self.last_flush_ms = Some(now_ms);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Drops every record at or above `offset` (replication: follower truncation).
    /// A batch straddling `offset` is dropped whole, so the log end may end up below
    /// `offset`. Below the first segment the log is emptied and restarts at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_writable()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let result = self.truncate_inner(offset);
        self.guard(result)
    }

    fn truncate_inner(&mut self, offset: i64) -> Result<(), StorageError> {
        self.truncations += 1;
        let first_base = self.segments.first().map_or(0, |s| s.base_offset);
        if offset <= first_base || offset < self.log_start_offset {
            return self.truncate_fully(offset);
        }
        while self.segments.len() > 1 && self.segments.last().is_some_and(|s| s.base_offset >= offset) {
            if let Some(segment) = self.segments.pop() {
                segment.delete_files(self.io.as_ref())?;
            }
        }
        self.active()?.truncate_to(offset)?;
        self.truncate_aborted(self.log_end_offset())?;
        self.remove_producer_snapshots_above(self.log_end_offset())?;
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        Ok(())
    }

    /// Deletes every segment and starts an empty one at `offset`.
    pub(crate) fn truncate_fully(&mut self, offset: i64) -> Result<(), StorageError> {
        self.truncations += 1;
        for segment in std::mem::take(&mut self.segments) {
            segment.delete_files(self.io.as_ref())?;
        }
        // The producers of records that are gone are forgotten with them, and
        // so are their aborted transactions (the files went with the segments).
        self.aborted.clear();
        self.remove_producer_snapshots_above(i64::MIN)?;
        let segment = Segment::create(self.io.as_ref(), &self.dir, offset, wall_clock_ms())?;
        segment.sync()?;
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        self.segments.push(segment);
        self.log_start_offset = offset;
        self.recovery_point = offset;
        Ok(())
    }

    /// Flushes and closes; later writes fail with `Closed`. Fails (leaving the log
    /// closed) if the log was offline, so no clean-shutdown marker is written for it.
    pub fn close(&mut self) -> Result<(), StorageError> {
        match self.state {
            LogState::Closed => Ok(()),
            LogState::Offline => {
                self.state = LogState::Closed;
                Err(StorageError::LogOffline { path: self.dir.clone() })
            }
            LogState::Open => {
                let result = self.flush_inner();
                let result = self.guard(result);
                self.state = LogState::Closed;
                result
            }
        }
    }

    /// Removes the partition directory and every file in it.
    pub fn delete(mut self) -> Result<(), StorageError> {
        self.delete_in_place()
    }

    /// As [`Log::delete`], for a log shared behind a lock: the log is left closed and
    /// empty, so other holders get `Closed` errors.
    pub fn delete_in_place(&mut self) -> Result<(), StorageError> {
        self.state = LogState::Closed;
        self.segments.clear();
        self.aborted.clear();
        match self.io.remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&self.dir, e)),
        }
        if let Some(parent) = self.dir.parent() {
            self.io.sync_dir(parent).at(parent)?;
        }
        tracing::info!(partition = %self.tp, dir = %self.dir.display(), "deleted log");
        Ok(())
    }

    /// Advances the log start offset to `offset` (DeleteRecords on the leader, or a
    /// follower adopting its leader's start) and deletes every whole segment that
    /// lies below it; the segment holding `offset` stays, so reads below the new start
    /// are refused by the offset check rather than by missing files. `offset` is
    /// clamped to the log end offset; a lower or equal offset changes nothing.
    /// Returns the log start offset afterwards.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.check_writable()?;
        let offset = offset.min(self.log_end_offset());
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        self.recovery_point = self.recovery_point.max(offset);
        // A segment can go when the next one starts at or below the new start.
        let below = self.segments.windows(2).take_while(|w| w[1].base_offset <= offset).count();
        let result = self.delete_oldest(below);
        self.guard(result)?;
        tracing::info!(partition = %self.tp, log_start_offset = offset, segments_deleted = below, "advanced the log start offset");
        Ok(self.log_start_offset)
    }

    /// Applies a checkpointed log start offset on open: only ever raises the start
    /// (the first segment's base is the floor), never past the log end.
    pub(crate) fn restore_log_start_offset(&mut self, offset: i64) {
        let clamped = offset.min(self.log_end_offset());
        if clamped > self.log_start_offset {
            self.log_start_offset = clamped;
        }
    }

    /// Removes the oldest `n` segments (never the last one) and advances the log
    /// start offset.
    pub(crate) fn delete_oldest(&mut self, n: usize) -> Result<usize, StorageError> {
        let n = n.min(self.segments.len().saturating_sub(1));
        if n == 0 {
            return Ok(0);
        }
        let removed: Vec<Segment> = self.segments.drain(..n).collect();
        if let Some(first) = self.segments.first() {
            self.log_start_offset = self.log_start_offset.max(first.base_offset);
            // Their `.txnindex` files go with the segments (`delete_files`).
            let first_base = first.base_offset;
            self.aborted.retain(|(b, _)| *b >= first_base);
        }
        self.recovery_point = self.recovery_point.max(self.log_start_offset);
        for segment in removed {
            tracing::info!(partition = %self.tp, segment = %segment.log_path().display(), "deleting segment");
            segment.delete_files(self.io.as_ref())?;
        }
        self.prune_producer_snapshots()?;
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        Ok(n)
    }
}

/// The `.txnindex` entries of `segments` (see `txn_index.rs`): damaged files
/// are cut back to their valid entries, entries whose marker lies outside
/// their segment or at or past the log end are dropped (and the file rewritten).
fn load_aborted(
    io: &dyn FileIo,
    dir: &Path,
    segments: &[Segment],
    log_end: i64,
) -> Result<Vec<(i64, AbortedTxn)>, StorageError> {
    let mut all = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let base = segment.base_offset;
        let end = segments.get(i + 1).map_or(log_end, |s| s.base_offset);
        let (entries, damaged) = txn_index::read(io, dir, base)?;
        let before = entries.len();
        let kept: Vec<AbortedTxn> =
            entries.into_iter().filter(|e| e.last_offset >= base && e.last_offset < end).collect();
        if damaged || kept.len() != before {
            tracing::info!(dir = %dir.display(), base, kept = kept.len(), "rewriting the aborted-transaction index");
            txn_index::rewrite(io, dir, base, &kept)?;
        }
        all.extend(kept.into_iter().map(|e| (base, e)));
    }
    all.sort_by_key(|(_, e)| e.last_offset);
    Ok(all)
}

/// Header walk of an append buffer: whole batches, structurally sound, offsets
/// increasing. No CRC check (the caller validated).
fn scan_batches(buf: &[u8]) -> Result<Vec<BatchMeta>, StorageError> {
    let mut iter = BatchIter::new(buf);
    let mut metas = Vec::with_capacity(1);
    for (header, range) in iter.by_ref() {
        batch::check_header(&header)?;
        metas.push(BatchMeta {
            position: range.start,
            size: range.len(),
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        });
    }
    if let Some(e) = iter.error() {
        return Err(e.clone().into());
    }
    if !iter.is_exhausted() {
        let rest = &buf[iter.position()..];
        let needed =
            batch::peek_batch_length(rest).map_or(batch::LOG_OVERHEAD, |l| l.max(0) as usize + batch::LOG_OVERHEAD);
        return Err(BatchError::Truncated { needed, available: rest.len() }.into());
    }
    if metas.is_empty() {
        return Err(BatchError::Empty.into());
    }
    Ok(metas)
}
