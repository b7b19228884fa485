//! All partition logs of a broker, spread over its log dirs, and the per-dir files:
//! `recovery-point-offset-checkpoint` and the `.kafka_cleanshutdown` marker.
//!
//! Locking: the manager's map lock is held only to look up, insert or remove an
//! entry (and while creating a new partition's directory); it is never held while a
//! `Log` lock is taken, and a caller holding a `Log` lock must not call back into the
//! manager. Periodic work (flush, retention, checkpoints) snapshots the list of logs
//! first, then locks each log in turn.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{IoContext, StorageError};
use super::io::FileIo;
use super::log::{Log, LogConfig};

/// Per log dir: last flushed offset of every partition (Kafka's text format).
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Per log dir: the log start offset of every partition (Kafka's text format), so
/// that a start moved inside a segment (DeleteRecords) survives a restart.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Per log dir: present only between a clean shutdown and the next start.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".kafka_cleanshutdown";

/// A topic partition; its directory is named `topic-partition`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }

    /// The directory name, `topic-partition`.
    pub fn dir_name(&self) -> String {
        self.to_string()
    }

    /// Parses a directory name, splitting at the LAST '-' (topics may contain '-').
    /// Names such as `t-0.<uuid>-delete` or `t-0-future` give `None`.
    pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TopicPartition::new(topic, partition.parse().ok()?))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    dir_index: usize,
    log: Arc<Mutex<Log>>,
}

/// Every partition log of the broker.
#[derive(Debug)]
pub struct LogManager {
    dirs: Vec<PathBuf>,
    io: Arc<dyn FileIo>,
    default_config: LogConfig,
    logs: Mutex<BTreeMap<TopicPartition, Entry>>,
}

/// A poisoned lock means a panic in another thread while it held the lock; the
/// storage structures stay usable (every mutation either completes or errors
/// before changing in-memory state), so the guard is taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LogManager {
    /// Opens every `topic-partition` directory of each log dir (creating the dirs),
    /// recovering logs from their checkpointed recovery point when the dir has no
    /// clean-shutdown marker, then removes the marker.
    pub fn open(
        log_dirs: &[PathBuf],
        default_config: LogConfig,
        io: Arc<dyn FileIo>,
    ) -> Result<LogManager, StorageError> {
        let mut logs: BTreeMap<TopicPartition, Entry> = BTreeMap::new();
        // `<topic>-<partition>-future` dirs left by a log dir move (see `move_log`).
        let mut futures: Vec<(TopicPartition, usize, PathBuf)> = Vec::new();
        let mut cleans: Vec<bool> = Vec::new();
        for (dir_index, dir) in log_dirs.iter().enumerate() {
            io.create_dir_all(dir).at(dir)?;
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            let clean = io.exists(&marker);
            let checkpoint_path = dir.join(RECOVERY_POINT_CHECKPOINT);
            let recovery_points = match read_checkpoint(io.as_ref(), &checkpoint_path) {
                Ok(points) => points,
                Err(e @ StorageError::CorruptCheckpoint { .. }) => {
                    tracing::warn!(error = %e, "ignoring malformed checkpoint; logs recover from offset 0");
                    BTreeMap::new()
                }
                Err(e) => return Err(e),
            };
            let start_path = dir.join(LOG_START_OFFSET_CHECKPOINT);
            let log_starts = match read_checkpoint(io.as_ref(), &start_path) {
                Ok(starts) => starts,
                Err(e @ StorageError::CorruptCheckpoint { .. }) => {
                    tracing::warn!(error = %e, "ignoring malformed log start offset checkpoint");
                    BTreeMap::new()
                }
                Err(e) => return Err(e),
            };
            let mut names: Vec<_> =
                io.list_dir(dir).at(dir)?.into_iter().filter(|e| e.is_dir).map(|e| e.name).collect();
            names.sort();
            let mut opened = 0usize;
            for name in names {
                let path = dir.join(&name);
                if name.ends_with("-delete") {
                    tracing::info!(dir = %path.display(), "removing partition dir left by a delete");
                    io.remove_dir_all(&path).at(&path)?;
                    continue;
                }
                if let Some(tp) = name.strip_suffix(FUTURE_SUFFIX).and_then(TopicPartition::parse_dir_name) {
                    futures.push((tp, dir_index, path));
                    continue;
                }
                let Some(tp) = TopicPartition::parse_dir_name(&name) else {
                    continue;
                };
                if let Some(existing) = logs.get(&tp) {
                    return Err(StorageError::DuplicatePartition {
                        partition: tp.to_string(),
                        first: log_dirs[existing.dir_index].join(&name),
                        second: path,
                    });
                }
                let recovery_point = recovery_points.get(&tp).copied().unwrap_or(0);
                let mut log =
                    Log::open(path, tp.clone(), default_config.clone(), Arc::clone(&io), recovery_point, clean)?;
                if let Some(&start) = log_starts.get(&tp) {
                    log.restore_log_start_offset(start);
                }
                logs.insert(tp, Entry { dir_index, log: Arc::new(Mutex::new(log)) });
                opened += 1;
            }
            cleans.push(clean);
            if clean {
                // From here on a crash must be detected: remove the marker durably.
                io.remove_file(&marker).at(&marker)?;
                io.sync_dir(dir).at(dir)?;
            } else if opened > 0 {
                tracing::warn!(dir = %dir.display(), logs = opened, "no clean-shutdown marker: recovered logs after an unclean shutdown");
            }
        }
        for (tp, dir_index, path) in futures {
            if logs.contains_key(&tp) {
                // The move had not swapped yet: the original is whole, the copy is not needed.
                tracing::info!(dir = %path.display(), "removing the copy of an unfinished log dir move");
                io.remove_dir_all(&path).at(&path)?;
                continue;
            }
            // The original was already retired: the copy is complete (it was synced
            // before the swap began), so the swap is finished here.
            let dest = log_dirs[dir_index].join(tp.dir_name());
            tracing::info!(from = %path.display(), to = %dest.display(), "finishing an interrupted log dir move");
            io.rename(&path, &dest).at(&dest)?;
            io.sync_dir(&log_dirs[dir_index]).at(&log_dirs[dir_index])?;
            let clean = cleans.get(dir_index).copied().unwrap_or(false);
            let log = Log::open(dest, tp.clone(), default_config.clone(), Arc::clone(&io), 0, clean)?;
            logs.insert(tp, Entry { dir_index, log: Arc::new(Mutex::new(log)) });
        }
        Ok(LogManager { dirs: log_dirs.to_vec(), io, default_config, logs: Mutex::new(logs) })
    }

    /// Moves `tp`'s log into log dir number `target` (AlterReplicaLogDirs); `Ok(false)`
    /// when it is there already. The log is locked throughout, so its partition
    /// pauses (appends and reads wait) while it is flushed and copied.
    ///
    /// Crash-safe order: the files are copied into `<target>/<tp>-future` and
    /// synced; the original dir is renamed to `<tp>.moved-delete` (removed on the
    /// next open, as a deleted partition's); the copy is renamed to `<tp>`. A start
    /// that finds a `-future` dir beside the original drops the copy; one that
    /// finds it without the original finishes the rename. Nothing acknowledged is
    /// lost: the copy is complete and durable before the original is retired.
    pub fn move_log(&self, tp: &TopicPartition, target: usize) -> Result<bool, StorageError> {
        let entry = lock(&self.logs).get(tp).cloned().ok_or_else(|| StorageError::Corrupt {
            path: PathBuf::new(),
            detail: format!("partition {tp} has no log here"),
        })?;
        let target_dir = self.dirs.get(target).cloned().ok_or_else(|| StorageError::Corrupt {
            path: PathBuf::new(),
            detail: format!("no log dir number {target}"),
        })?;
        if entry.dir_index == target {
            return Ok(false);
        }
        let io = self.io.as_ref();
        let mut log = lock(&entry.log);
        log.flush()?;
        let src = log.dir().to_path_buf();
        let future = target_dir.join(format!("{}{FUTURE_SUFFIX}", tp.dir_name()));
        if io.exists(&future) {
            io.remove_dir_all(&future).at(&future)?;
        }
        io.create_dir_all(&future).at(&future)?;
        for file in io.list_dir(&src).at(&src)?.into_iter().filter(|e| !e.is_dir) {
            copy_file(io, &src.join(&file.name), &future.join(&file.name))?;
        }
        io.sync_dir(&future).at(&future)?;
        io.sync_dir(&target_dir).at(&target_dir)?;
        let retired = src.with_file_name(format!("{}.moved-delete", tp.dir_name()));
        io.rename(&src, &retired).at(&retired)?;
        if let Some(parent) = src.parent() {
            io.sync_dir(parent).at(parent)?;
        }
        let dest = target_dir.join(tp.dir_name());
        io.rename(&future, &dest).at(&dest)?;
        io.sync_dir(&target_dir).at(&target_dir)?;
        let mut moved =
            Log::open(dest, tp.clone(), log.config().clone(), Arc::clone(&self.io), log.log_end_offset(), true)?;
        moved.restore_log_start_offset(log.log_start_offset());
        let mut old = std::mem::replace(&mut *log, moved);
        drop(log);
        old.dir = retired;
        if let Some(e) = lock(&self.logs).get_mut(tp) {
            e.dir_index = target;
        }
        tracing::info!(partition = %tp, from = %src.display(), to = %target_dir.display(), "moved the log to another log dir");
        if let Err(err) = old.delete_in_place() {
            // The next start removes the `-delete` dir.
            tracing::warn!(partition = %tp, %err, "cannot remove the old copy of a moved log yet");
        }
        self.checkpoint_recovery_points()?;
        Ok(true)
    }

    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Mutex<Log>>> {
        lock(&self.logs).get(tp).map(|e| Arc::clone(&e.log))
    }

    /// The log of `tp`, creating it (in the log dir holding the fewest partitions)
    /// with `config` if absent. An existing log keeps its config.
    pub fn get_or_create(&self, tp: &TopicPartition, config: LogConfig) -> Result<Arc<Mutex<Log>>, StorageError> {
        let mut logs = lock(&self.logs);
        if let Some(entry) = logs.get(tp) {
            return Ok(Arc::clone(&entry.log));
        }
        let mut counts = vec![0usize; self.dirs.len()];
        for entry in logs.values() {
            counts[entry.dir_index] += 1;
        }
        let dir_index = (0..self.dirs.len())
            .min_by_key(|&i| counts[i])
            .ok_or_else(|| StorageError::Corrupt { path: PathBuf::new(), detail: "no log dirs configured".into() })?;
        let dir = &self.dirs[dir_index];
        let log = Log::open(dir.join(tp.dir_name()), tp.clone(), config, Arc::clone(&self.io), 0, true)?;
        self.io.sync_dir(dir).at(dir)?;
        let log = Arc::new(Mutex::new(log));
        logs.insert(tp.clone(), Entry { dir_index, log: Arc::clone(&log) });
        Ok(log)
    }

    /// Removes the partition's log and its directory. Holders of the log's `Arc` see
    /// it closed afterwards. Unknown partitions are not an error.
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        let entry = lock(&self.logs).remove(tp);
        match entry {
            Some(entry) => lock(&entry.log).delete_in_place(),
            None => Ok(()),
        }
    }

    pub fn partitions(&self) -> Vec<TopicPartition> {
        lock(&self.logs).keys().cloned().collect()
    }

    fn snapshot(&self) -> Vec<(TopicPartition, Entry)> {
        lock(&self.logs).iter().map(|(tp, e)| (tp.clone(), e.clone())).collect()
    }

    /// Writes every dir's `recovery-point-offset-checkpoint` atomically (temporary
    /// file, fsync, rename, fsync of the dir), and its `log-start-offset-checkpoint`.
    pub fn checkpoint_recovery_points(&self) -> Result<(), StorageError> {
        let mut per_dir: Vec<BTreeMap<TopicPartition, i64>> = vec![BTreeMap::new(); self.dirs.len()];
        for (tp, entry) in self.snapshot() {
            let recovery_point = lock(&entry.log).recovery_point();
            per_dir[entry.dir_index].insert(tp, recovery_point);
        }
        for (dir, points) in self.dirs.iter().zip(per_dir) {
            write_checkpoint(self.io.as_ref(), &dir.join(RECOVERY_POINT_CHECKPOINT), &points)?;
        }
        self.checkpoint_log_start_offsets()
    }

    /// Writes every dir's `log-start-offset-checkpoint` (Kafka's format and
    /// name): only logs whose start lies above their first segment's base need
    /// an entry, as Kafka writes it; the others recover their start from the files.
    pub fn checkpoint_log_start_offsets(&self) -> Result<(), StorageError> {
        let mut per_dir: Vec<BTreeMap<TopicPartition, i64>> = vec![BTreeMap::new(); self.dirs.len()];
        for (tp, entry) in self.snapshot() {
            let log = lock(&entry.log);
            let first_base = log.segment_base_offsets().first().copied().unwrap_or(0);
            if log.log_start_offset() > first_base {
                per_dir[entry.dir_index].insert(tp, log.log_start_offset());
            }
        }
        for (dir, starts) in self.dirs.iter().zip(per_dir) {
            write_checkpoint(self.io.as_ref(), &dir.join(LOG_START_OFFSET_CHECKPOINT), &starts)?;
        }
        Ok(())
    }

    /// Every log with the number of the log dir holding it.
    pub fn placements(&self) -> Vec<(TopicPartition, usize, Arc<Mutex<Log>>)> {
        lock(&self.logs).iter().map(|(tp, e)| (tp.clone(), e.dir_index, Arc::clone(&e.log))).collect()
    }

    /// The log dir holding `tp`'s log.
    pub fn dir_of(&self, tp: &TopicPartition) -> Option<&Path> {
        let index = lock(&self.logs).get(tp).map(|e| e.dir_index)?;
        self.dirs.get(index).map(PathBuf::as_path)
    }

    /// Periodic flush work, meant to run every second or so: fsyncs segments rolled
    /// since the last call (without holding the log's lock while the disk works,
    /// advancing the recovery point afterwards), then applies `flush.ms` via
    /// `Log::flush_if_due`. Returns the first error after trying every log.
    pub fn flush_due(&self, now_ms: i64) -> Result<(), StorageError> {
        let mut first_error = None;
        for (tp, entry) in self.snapshot() {
            let pending = lock(&entry.log).begin_rolled_flush();
            let result = match pending {
                Some(flush) => {
                    let outcome = flush.run();
                    lock(&entry.log).finish_rolled_flush(flush, outcome)
                }
                None => Ok(()),
            };
            if let Err(e) = result.and_then(|()| lock(&entry.log).flush_if_due(now_ms)) {
                tracing::error!(partition = %tp, error = %e, "flush failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The rolled-segment part of [`LogManager::flush_due`] alone, for the logs
    /// that have one waiting (`Log::has_unflushed_rolled`): run right after a
    /// roll. Returns the first error after trying every log.
    pub fn flush_rolled(&self) -> Result<(), StorageError> {
        let mut first_error = None;
        for (tp, entry) in self.snapshot() {
            let Some(flush) = lock(&entry.log).begin_rolled_flush() else { continue };
            let outcome = flush.run();
            if let Err(e) = lock(&entry.log).finish_rolled_flush(flush, outcome) {
                tracing::error!(partition = %tp, error = %e, "flush of a rolled segment failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `Log::enforce_retention` on every log; returns the number of segments deleted,
    /// or the first error after trying all.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let mut deleted = 0;
        let mut first_error = None;
        for (tp, entry) in self.snapshot() {
            match lock(&entry.log).enforce_retention(now_ms) {
                Ok(n) => deleted += n,
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "retention failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(deleted), Err)
    }

    /// Closes (flushing) every log, checkpoints recovery points and writes the
    /// clean-shutdown marker in every dir whose logs all closed cleanly.
    ///
    /// A log already offline after an earlier I/O failure is skipped with a
    /// warning: there is nothing left to flush, and its dir gets no marker, so
    /// the next start recovers it. That is not a failure of the shutdown. A
    /// failure that happens now (a flush, the checkpoint, the marker) is
    /// returned, after everything else has been tried.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        let mut unclean = vec![false; self.dirs.len()];
        let mut first_error = None;
        for (tp, entry) in self.snapshot() {
            match lock(&entry.log).close() {
                Ok(()) => {}
                Err(StorageError::LogOffline { path }) => {
                    tracing::warn!(
                        partition = %tp,
                        dir = %path.display(),
                        "skipping the offline log at shutdown; its log dir is not marked clean, so the next start recovers it"
                    );
                    unclean[entry.dir_index] = true;
                }
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "closing log failed");
                    unclean[entry.dir_index] = true;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Err(e) = self.checkpoint_recovery_points() {
            unclean.iter_mut().for_each(|u| *u = true);
            first_error.get_or_insert(e);
        }
        for (dir, unclean) in self.dirs.iter().zip(unclean) {
            if unclean {
                continue;
            }
            let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
            let result =
                self.io.open(&marker, true).and_then(|f| f.sync()).and_then(|()| self.io.sync_dir(dir)).at(&marker);
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Suffix of the copy a log dir move makes before it swaps (Kafka's name for a
/// future replica's dir is `<topic>-<partition>.<id>-future`).
const FUTURE_SUFFIX: &str = "-future";

/// Copies one file in 1 MiB pieces through `io` and syncs the copy.
fn copy_file(io: &dyn FileIo, from: &Path, to: &Path) -> Result<(), StorageError> {
    let src = io.open(from, false).at(from)?;
    let dst = io.open(to, true).at(to)?;
    dst.set_len(0).at(to)?;
    let len = src.len().at(from)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = usize::try_from((len - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        src.read_exact_at(&mut buf[..n], pos).at(from)?;
        dst.write_all_at(&buf[..n], pos).at(to)?;
        pos += n as u64;
    }
    dst.sync().at(to)
}

/// Reads a Kafka offset checkpoint: `0`, the entry count, then `topic partition
/// offset` lines. A missing file is an empty checkpoint.
pub fn read_checkpoint(io: &dyn FileIo, path: &Path) -> Result<BTreeMap<TopicPartition, i64>, StorageError> {
    if !io.exists(path) {
        return Ok(BTreeMap::new());
    }
    let file = io.open(path, false).at(path)?;
    let len = file.len().at(path)?;
    let mut raw = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(64 << 20)];
    file.read_exact_at(&mut raw, 0).at(path)?;
    let bad = |detail: String| StorageError::CorruptCheckpoint { path: path.to_path_buf(), detail };
    let text = String::from_utf8(raw).map_err(|_| bad("not UTF-8".into()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(bad(format!("unsupported version line {other:?}"))),
    }
    let count: usize =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| bad("missing or invalid entry count".into()))?;
    let mut points = BTreeMap::new();
    for (i, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [topic, partition, offset] => partition
                .parse::<i32>()
                .ok()
                .zip(offset.parse::<i64>().ok())
                .map(|(p, o)| (TopicPartition::new(*topic, p), o)),
            _ => None,
        };
        let (tp, offset) = parsed.ok_or_else(|| bad(format!("invalid entry line {}: {line:?}", i + 3)))?;
        points.insert(tp, offset);
    }
    if points.len() != count {
        return Err(bad(format!("header says {count} entries, found {}", points.len())));
    }
    Ok(points)
}

/// Writes a checkpoint atomically: `<path>.tmp`, fsync, rename over `path`, fsync dir.
pub fn write_checkpoint(
    io: &dyn FileIo,
    path: &Path,
    points: &BTreeMap<TopicPartition, i64>,
) -> Result<(), StorageError> {
    let mut text = format!("0\n{}\n", points.len());
    for (tp, offset) in points {
        text.push_str(&format!("{} {} {}\n", tp.topic, tp.partition, offset));
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let file = io.open(&tmp, true).at(&tmp)?;
    file.set_len(0).at(&tmp)?;
    file.write_all_at(text.as_bytes(), 0).at(&tmp)?;
    file.sync().at(&tmp)?;
    drop(file);
    io.rename(&tmp, path).at(path)?;
    if let Some(dir) = path.parent() {
        io.sync_dir(dir).at(dir)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::protocol::batch::build_batch;
    use crate::storage::io::{CrashFileIo, StdFileIo};

    #[test]
    fn shutdown_skips_an_offline_log_and_leaves_only_its_dir_unclean() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().join("d0"), root.path().join("d1")];
        let io: Arc<dyn FileIo> = Arc::new(CrashFileIo::new());
        let manager = LogManager::open(&dirs, LogConfig::default(), io).unwrap();
        // Each new log goes to the dir holding the fewest: one per dir.
        let small = LogConfig { segment_bytes: 200, ..LogConfig::default() };
        let broken = manager.get_or_create(&TopicPartition::new("broken", 0), small).unwrap();
        let healthy = manager.get_or_create(&TopicPartition::new("healthy", 0), LogConfig::default()).unwrap();
        let value = [b'v'; 150];
        let batch = || build_batch(0, &[(Some(&b"k"[..]), Some(&value[..]), 1)]);
        lock(&broken).append_as_leader(&mut batch(), 0, 0).unwrap();
        lock(&healthy).append_as_leader(&mut batch(), 0, 0).unwrap();

        // Take the partition dir away: the next roll cannot create its segment,
        // the append fails on I/O and the log goes offline.
        let broken_dir = dirs[0].join("broken-0");
        std::fs::rename(&broken_dir, root.path().join("elsewhere")).unwrap();
        assert!(lock(&broken).append_as_leader(&mut batch(), 0, 0).is_err());
        assert!(lock(&broken).is_offline());

        manager.shutdown().unwrap();
        assert!(!dirs[0].join(CLEAN_SHUTDOWN_MARKER).exists(), "a dir with an offline log must be recovered");
        assert!(dirs[1].join(CLEAN_SHUTDOWN_MARKER).exists(), "the healthy dir is clean");
        let points = read_checkpoint(&StdFileIo, &dirs[1].join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        assert_eq!(points.get(&TopicPartition::new("healthy", 0)), Some(&1), "the healthy log was flushed");
        assert!(lock(&healthy).append_as_leader(&mut batch(), 0, 0).is_err(), "closed after shutdown");
    }

    #[test]
    fn advancing_the_log_start_deletes_whole_segments_and_the_checkpoint_keeps_it() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().join("d0")];
        let io: Arc<dyn FileIo> = Arc::new(StdFileIo);
        let manager = LogManager::open(&dirs, LogConfig::default(), Arc::clone(&io)).unwrap();
        let tp = TopicPartition::new("t", 0);
        let small = LogConfig { segment_bytes: 200, ..LogConfig::default() };
        let log = manager.get_or_create(&tp, small).unwrap();
        let value = [b'v'; 120];
        for _ in 0..6 {
            lock(&log).append_as_leader(&mut build_batch(0, &[(None, Some(&value[..]), 1)]), 0, 0).unwrap();
        }
        let bases = lock(&log).segment_base_offsets();
        assert!(bases.len() >= 3, "{bases:?}");
        // Inside the third segment: the two before it go, the third stays.
        let target = bases[2];
        assert_eq!(lock(&log).advance_log_start_offset(target).unwrap(), target);
        assert_eq!(lock(&log).segment_base_offsets().first(), Some(&target));
        assert!(lock(&log).read(target - 1, 1 << 20, 6, true).is_err(), "below the start is out of range");
        // Lower offsets change nothing; past the end is clamped to it.
        assert_eq!(lock(&log).advance_log_start_offset(1).unwrap(), target);
        lock(&log).append_as_leader(&mut build_batch(0, &[(None, Some(&b"x"[..]), 1)]), 0, 0).unwrap();
        let inside = lock(&log).log_end_offset() - 1;
        // The last batch shares the active segment with earlier ones: only the checkpoint keeps this start.
        assert_eq!(lock(&log).advance_log_start_offset(inside).unwrap(), inside);
        manager.checkpoint_log_start_offsets().unwrap();
        drop(log);
        drop(manager);
        let reopened = LogManager::open(&dirs, LogConfig::default(), io).unwrap();
        assert_eq!(lock(&reopened.get(&tp).unwrap()).log_start_offset(), inside);
    }

    #[test]
    fn a_log_dir_move_keeps_the_data_and_an_interrupted_one_recovers_on_open() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().join("d0"), root.path().join("d1")];
        let io: Arc<dyn FileIo> = Arc::new(StdFileIo);
        let manager = LogManager::open(&dirs, LogConfig::default(), Arc::clone(&io)).unwrap();
        let tp = TopicPartition::new("m", 0);
        let log = manager.get_or_create(&tp, LogConfig::default()).unwrap();
        for _ in 0..3 {
            lock(&log).append_as_leader(&mut build_batch(0, &[(None, Some(&b"v"[..]), 1)]), 0, 0).unwrap();
        }
        let from = manager.dirs.iter().position(|d| Some(d.as_path()) == manager.dir_of(&tp)).unwrap();
        let to = 1 - from;
        assert!(manager.move_log(&tp, to).unwrap());
        assert!(!manager.move_log(&tp, to).unwrap(), "already there");
        assert_eq!(manager.dir_of(&tp), Some(dirs[to].as_path()));
        assert!(!dirs[from].join("m-0").exists());
        // The same Arc serves the moved log: appends and reads go on.
        lock(&log).append_as_leader(&mut build_batch(0, &[(None, Some(&b"v"[..]), 1)]), 0, 0).unwrap();
        assert_eq!(lock(&log).log_end_offset(), 4);
        manager.shutdown().unwrap();
        drop(log);
        drop(manager);

        // Interrupted before the swap: a copy beside the original is dropped.
        std::fs::create_dir_all(dirs[from].join("m-0-future")).unwrap();
        std::fs::write(dirs[from].join("m-0-future").join("00000000000000000000.log"), b"partial").unwrap();
        let manager = LogManager::open(&dirs, LogConfig::default(), Arc::clone(&io)).unwrap();
        assert!(!dirs[from].join("m-0-future").exists());
        assert_eq!(lock(&manager.get(&tp).unwrap()).log_end_offset(), 4);
        manager.shutdown().unwrap();
        drop(manager);

        // Interrupted after the original was retired: the complete copy is promoted.
        std::fs::rename(dirs[to].join("m-0"), dirs[from].join("m-0-future")).unwrap();
        let manager = LogManager::open(&dirs, LogConfig::default(), io).unwrap();
        assert_eq!(manager.dir_of(&tp), Some(dirs[from].as_path()));
        assert_eq!(lock(&manager.get(&tp).unwrap()).log_end_offset(), 4);
    }
}
