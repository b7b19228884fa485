//! The state directory of one application instance:
//! `<state.dir>/<application.id>/`, with a directory per task (`0_1/`)
//! that holds the task's persistent stores (`redb/<store>.redb`), its
//! checkpoint (`.checkpoint`) and its lock file (`.lock`).
//!
//! The lock keeps two stream threads — of this process or of another
//! instance pointed at the same `state.dir` — from opening the same task's
//! stores at once (redb would refuse the second open anyway, but the lock
//! also covers the checkpoint and wiping). It is an OS file lock held by a
//! [`TaskLock`]; the OS releases it when the process dies, so a crash
//! never leaves a task locked.
//!
//! The checkpoint is Kafka's `OffsetCheckpoint` file, so the layout reads
//! the same as a Java instance's:
//! ```text
//! 0                       version
//! 2                       number of entries
//! app-counts-changelog 1 42   topic partition offset (the next offset to restore from)
//! app-other-changelog 1 7
//! ```
//! It is replaced atomically (write a temporary file, fsync, rename, fsync
//! the directory): a crash leaves the old or the new checkpoint, never a
//! torn one. A checkpoint that cannot be read is treated as missing (with
//! a warning): the task then restores its stores from the changelog's start.
//!
//! Nothing here talks to Kafka; the runtime decides when to lock, wipe,
//! checkpoint and clean up.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::storage::{self, StdFileIo, TopicPartition};
use crate::streams::error::{Result, StreamsError};
use crate::streams::processor::TaskId;
use crate::streams::state::{InMemoryStore, KeyValueBytesStore, PersistentStore, StoreSpec};

/// The checkpoint file in a task directory (Kafka's name).
pub const CHECKPOINT_FILE: &str = ".checkpoint";
/// The lock file in a task directory (Kafka's name).
pub const LOCK_FILE: &str = ".lock";
/// Where a task's persistent stores live, under its directory.
pub const STORES_DIR: &str = "redb";
/// Kafka's file with the instance's process id, in the application directory.
pub const PROCESS_FILE: &str = "kafka-streams-process-metadata";
/// Kafka's sentinel for "store has no changelog offset yet"; valid in a checkpoint.
pub const OFFSET_UNKNOWN: i64 = -4;

/// An application's directory under `state.dir`.
#[derive(Debug, Clone)]
pub struct StateDirectory {
    app_dir: PathBuf,
}

/// Holds a task directory's lock; dropping it releases the lock.
#[derive(Debug)]
pub struct TaskLock {
    task: TaskId,
    // The lock belongs to this open file: closing it (on drop) releases it.
    _file: File,
}

impl TaskLock {
    pub fn task(&self) -> TaskId {
        self.task
    }
}

fn io_error(action: &str, path: &Path, e: io::Error) -> StreamsError {
    StreamsError::store("state.dir", format!("cannot {action} {}: {e}", path.display()))
}

impl StateDirectory {
    /// Opens (creating it if needed) `<state_dir>/<application_id>/`.
    pub fn new(state_dir: &Path, application_id: &str) -> Result<Self> {
        if application_id.is_empty()
            || application_id.contains(['/', '\\'])
            || application_id == "."
            || application_id == ".."
        {
            return Err(StreamsError::Config {
                key: "application.id".into(),
                message: format!("{application_id:?} cannot name a directory under state.dir"),
            });
        }
        let app_dir = state_dir.join(application_id);
        fs::create_dir_all(&app_dir).map_err(|e| io_error("create", &app_dir, e))?;
        Ok(StateDirectory { app_dir })
    }

    /// `<state.dir>/<application.id>/`.
    pub fn app_dir(&self) -> &Path {
        &self.app_dir
    }

    /// `<state.dir>/<application.id>/<task>/` (not created).
    pub fn task_dir(&self, task: TaskId) -> PathBuf {
        self.app_dir.join(task.to_string())
    }

    /// The file of a task's persistent store.
    pub fn store_path(&self, task: TaskId, store: &str) -> PathBuf {
        self.task_dir(task).join(STORES_DIR).join(format!("{store}.redb"))
    }

    fn checkpoint_path(&self, task: TaskId) -> PathBuf {
        self.task_dir(task).join(CHECKPOINT_FILE)
    }

    /// Locks a task's directory (creating it). `None`: another thread or
    /// process holds the lock — try again later.
    pub fn lock_task(&self, task: TaskId) -> Result<Option<TaskLock>> {
        let dir = self.task_dir(task);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        // An exclusive lock on this open file: another open of the same
        // file, in this process or another, cannot take it meanwhile.
        match file.try_lock() {
            Ok(()) => Ok(Some(TaskLock { task, _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io_error("lock", &path, e)),
        }
    }

    /// A task's checkpointed changelog offsets; a missing or unreadable
    /// file gives none (an unreadable one with a warning).
    pub fn read_checkpoint(&self, task: TaskId) -> Result<BTreeMap<(String, i32), i64>> {
        let path = self.checkpoint_path(task);
        // Kafka's offset checkpoint format, as the broker's recovery points use it.
        let points = match storage::read_checkpoint(&StdFileIo, &path) {
            Ok(points) => points,
            Err(e) => {
                tracing::warn!("task {task}: unusable checkpoint {}: {e}; restoring as if none", path.display());
                return Ok(BTreeMap::new());
            }
        };
        let mut offsets = BTreeMap::new();
        for (tp, offset) in points {
            if valid_offset(offset) {
                offsets.insert((tp.topic, tp.partition), offset);
            } else {
                tracing::warn!("ignoring invalid offset {offset} for {}-{} in a checkpoint", tp.topic, tp.partition);
            }
        }
        Ok(offsets)
    }

    /// Replaces a task's checkpoint atomically (an empty map deletes it,
    /// as Kafka does). Offsets below zero, other than Kafka's "unknown"
    /// sentinel, are left out.
    pub fn write_checkpoint(&self, task: TaskId, offsets: &BTreeMap<(String, i32), i64>) -> Result<()> {
        if offsets.is_empty() {
            return self.delete_checkpoint(task);
        }
        let dir = self.task_dir(task);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let points: BTreeMap<TopicPartition, i64> = offsets
            .iter()
            .filter(|(_, o)| valid_offset(**o))
            .map(|((topic, partition), o)| (TopicPartition::new(topic.as_str(), *partition), *o))
            .collect();
        let path = self.checkpoint_path(task);
        storage::write_checkpoint(&StdFileIo, &path, &points)
            .map_err(|e| StreamsError::store(CHECKPOINT_FILE, e.to_string()))
    }

    /// Removes a task's checkpoint (before processing under exactly-once,
    /// so a crash leaves no checkpoint that the stores have moved past).
    pub fn delete_checkpoint(&self, task: TaskId) -> Result<()> {
        let path = self.checkpoint_path(task);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.task_dir(task)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", &path, e)),
        }
    }

    /// Opens a task's instance of a store: a redb file under the task
    /// directory if the spec is persistent, else an empty in-memory map.
    /// The caller should hold the task's lock.
    pub fn open_store(&self, task: TaskId, spec: &StoreSpec) -> Result<Box<dyn KeyValueBytesStore>> {
        if !spec.persistent {
            return Ok(Box::new(InMemoryStore::new()));
        }
        if spec.name.is_empty() || spec.name.contains(['/', '\\']) || spec.name.starts_with('.') {
            return Err(StreamsError::store(&spec.name, "the name cannot name a file under the task directory"));
        }
        Ok(Box::new(PersistentStore::open(&self.store_path(task, &spec.name))?))
    }

    /// Deletes a task's stores and checkpoint (keeping its lock file, which
    /// the caller may hold): its state is corrupt or cannot be trusted.
    /// Stores of the task must be closed first.
    pub fn wipe_task(&self, task: TaskId) -> Result<()> {
        let dir = self.task_dir(task);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &dir, e))?;
            if entry.file_name() == LOCK_FILE {
                continue;
            }
            remove_path(&entry.path())?;
        }
        sync_dir(&dir)
    }

    /// Task directories present on disk.
    pub fn task_dirs(&self) -> Vec<TaskId> {
        let Ok(entries) = fs::read_dir(&self.app_dir) else {
            return Vec::new();
        };
        let mut tasks: Vec<TaskId> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        tasks.sort();
        tasks
    }

    /// For every task directory with a checkpoint, the sum of its
    /// checkpointed changelog offsets: how much of the task's state this
    /// instance has, which the assignor uses to place tasks (and warm-ups)
    /// where restoring costs least.
    pub fn local_task_offset_sums(&self) -> BTreeMap<TaskId, i64> {
        let mut sums = BTreeMap::new();
        for task in self.task_dirs() {
            if !self.checkpoint_path(task).exists() {
                continue;
            }
            let Ok(offsets) = self.read_checkpoint(task) else { continue };
            if offsets.is_empty() {
                continue;
            }
            // The unknown sentinel counts as nothing restored.
            let sum = offsets.values().fold(0i64, |acc, &o| acc.saturating_add(o.max(0)));
            sums.insert(task, sum);
        }
        sums
    }

    /// Deletes the directories of tasks that are not locked and were last
    /// modified more than `older_than` ago (`state.cleanup.delay.ms`): state
    /// of tasks that moved to other instances. Returns the tasks deleted.
    pub fn clean_removed_tasks(&self, older_than: Duration) -> Vec<TaskId> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        for task in self.task_dirs() {
            let dir = self.task_dir(task);
            let age = fs::metadata(&dir).and_then(|m| m.modified()).ok().and_then(|m| now.duration_since(m).ok());
            if age.is_none_or(|age| age < older_than) {
                continue;
            }
            match self.lock_task(task) {
                Ok(Some(lock)) => match remove_path(&dir) {
                    Ok(()) => {
                        tracing::info!("deleted the state of task {task}, unused for {}s", older_than.as_secs());
                        removed.push(task);
                        drop(lock);
                    }
                    Err(e) => tracing::warn!("task {task}: {e}"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!("task {task}: {e}"),
            }
        }
        removed
    }

    /// `KafkaStreams::cleanUp`: deletes the application's local state. Task
    /// directories locked by a running thread are left alone (with a
    /// warning); the application directory goes once it is empty.
    pub fn clean_up(&self) -> Result<()> {
        let entries = match fs::read_dir(&self.app_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &self.app_dir, e)),
        };
        let mut kept = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &self.app_dir, e))?;
            let path = entry.path();
            let task = entry.file_name().to_str().and_then(|n| n.parse::<TaskId>().ok());
            match task {
                Some(task) if path.is_dir() => match self.lock_task(task)? {
                    Some(_lock) => remove_path(&path)?,
                    None => {
                        tracing::warn!("not deleting the state of task {task}: it is in use");
                        kept += 1;
                    }
                },
                _ => remove_path(&path)?,
            }
        }
        if kept == 0 {
            match fs::remove_dir(&self.app_dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete", &self.app_dir, e)),
            }
        }
        Ok(())
    }

    /// The instance's process id, kept in `kafka-streams-process-metadata`
    /// (Kafka's file and JSON form) so a restarted instance presents the
    /// same id and the assignor can give its tasks back. Created if absent
    /// or unreadable.
    pub fn process_id(&self) -> Result<uuid::Uuid> {
        let path = self.app_dir.join(PROCESS_FILE);
        if let Ok(text) = fs::read_to_string(&path) {
            let parsed = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("processId").and_then(|p| p.as_str()).and_then(|p| uuid::Uuid::parse_str(p).ok()));
            match parsed {
                Some(id) => return Ok(id),
                None => tracing::warn!("invalid {}; writing a new process id", path.display()),
            }
        }
        let id = uuid::Uuid::new_v4();
        let text = serde_json::json!({ "version": 0, "processId": id.to_string() }).to_string();
        storage::replace_file(&path, text.as_bytes()).map_err(|e| io_error("write", &path, e))?;
        Ok(id)
    }
}

/// Reads Kafka's checkpoint text.
/// A checkpoint offset: an offset, or Kafka's "unknown" sentinel.
fn valid_offset(offset: i64) -> bool {
    offset >= 0 || offset == OFFSET_UNKNOWN
}

fn remove_path(path: &Path) -> Result<()> {
    let result = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("delete", path, e)),
    }
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error("sync", dir, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::serde::Serdes;

    fn t(s: u32, p: i32) -> TaskId {
        TaskId { subtopology: s, partition: p }
    }

    fn offsets(entries: &[(&str, i32, i64)]) -> BTreeMap<(String, i32), i64> {
        entries.iter().map(|(t, p, o)| ((t.to_string(), *p), *o)).collect()
    }

    #[test]
    fn checkpoint_round_trip_in_kafka_format() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        assert_eq!(sd.task_dir(t(0, 1)), root.path().join("app").join("0_1"));
        assert!(sd.read_checkpoint(t(0, 1)).unwrap().is_empty());
        let cp = offsets(&[("app-a-changelog", 1, 42), ("app-b-changelog", 1, 7), ("app-c-changelog", 1, -4)]);
        sd.write_checkpoint(t(0, 1), &cp).unwrap();
        let text = fs::read_to_string(sd.task_dir(t(0, 1)).join(".checkpoint")).unwrap();
        assert_eq!(text, "0\n3\napp-a-changelog 1 42\napp-b-changelog 1 7\napp-c-changelog 1 -4\n");
        assert_eq!(sd.read_checkpoint(t(0, 1)).unwrap(), cp);
        assert!(!sd.task_dir(t(0, 1)).join(".checkpoint.tmp").exists());
        // Invalid offsets are left out.
        sd.write_checkpoint(t(0, 1), &offsets(&[("x", 0, 5), ("y", 0, -1)])).unwrap();
        assert_eq!(sd.read_checkpoint(t(0, 1)).unwrap(), offsets(&[("x", 0, 5)]));
        sd.delete_checkpoint(t(0, 1)).unwrap();
        sd.delete_checkpoint(t(0, 1)).unwrap();
        assert!(sd.read_checkpoint(t(0, 1)).unwrap().is_empty());
        // An empty map deletes the file.
        sd.write_checkpoint(t(0, 1), &cp).unwrap();
        sd.write_checkpoint(t(0, 1), &BTreeMap::new()).unwrap();
        assert!(!sd.task_dir(t(0, 1)).join(".checkpoint").exists());
    }

    #[test]
    fn unreadable_checkpoint_reads_as_missing() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        let path = sd.task_dir(t(1, 0)).join(".checkpoint");
        fs::create_dir_all(sd.task_dir(t(1, 0))).unwrap();
        for bad in ["", "1\n1\nt 0 5\n", "0\n2\nt 0 5\n", "0\n1\nt zero 5\n", "0\nx\n", "0\n1\nt 0\n"] {
            fs::write(&path, bad).unwrap();
            assert!(sd.read_checkpoint(t(1, 0)).unwrap().is_empty(), "{bad:?}");
        }
        // Java's writer output, with extra whitespace, reads fine.
        fs::write(&path, "0\n1\nt  0   5\n").unwrap();
        assert_eq!(sd.read_checkpoint(t(1, 0)).unwrap(), offsets(&[("t", 0, 5)]));
    }

    #[test]
    fn task_lock_is_exclusive_until_dropped() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        let other = StateDirectory::new(root.path(), "app").unwrap();
        let lock = sd.lock_task(t(0, 0)).unwrap().expect("first lock");
        assert_eq!(lock.task(), t(0, 0));
        assert!(sd.lock_task(t(0, 0)).unwrap().is_none(), "same directory object");
        assert!(other.lock_task(t(0, 0)).unwrap().is_none(), "another handle of the same directory");
        let from_thread = {
            let other = other.clone();
            std::thread::spawn(move || other.lock_task(t(0, 0)).unwrap().is_some()).join().unwrap()
        };
        assert!(!from_thread, "another thread");
        assert!(sd.lock_task(t(0, 1)).unwrap().is_some(), "another task");
        drop(lock);
        assert!(other.lock_task(t(0, 0)).unwrap().is_some(), "released on drop");
    }

    #[test]
    fn open_store_wipe_and_offset_sums() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        let spec = StoreSpec::key_value("counts", Serdes::string(), Serdes::long());
        {
            let _lock = sd.lock_task(t(0, 2)).unwrap().unwrap();
            let mut store = sd.open_store(t(0, 2), &spec).unwrap();
            assert!(store.persistent());
            store.put(bytes::Bytes::from("k"), Some(bytes::Bytes::from("v"))).unwrap();
            store.flush().unwrap();
            drop(store);
            assert!(sd.store_path(t(0, 2), "counts").exists());
            assert_eq!(sd.store_path(t(0, 2), "counts"), root.path().join("app/0_2/redb/counts.redb"));
            let store = sd.open_store(t(0, 2), &spec).unwrap();
            assert_eq!(store.get(b"k").unwrap(), Some(bytes::Bytes::from("v")));
            let mem = sd.open_store(t(0, 2), &spec.clone().in_memory()).unwrap();
            assert!(!mem.persistent());
            drop(store);
            sd.write_checkpoint(t(0, 2), &offsets(&[("app-counts-changelog", 2, 10), ("b", 2, 5)])).unwrap();
            sd.write_checkpoint(t(1, 0), &offsets(&[("c", 0, 3), ("d", 0, -4)])).unwrap();
            fs::create_dir_all(sd.task_dir(t(2, 0))).unwrap(); // no checkpoint: not counted
            fs::create_dir_all(sd.app_dir().join("not-a-task")).unwrap();
            assert_eq!(sd.local_task_offset_sums(), BTreeMap::from([(t(0, 2), 15), (t(1, 0), 3)]));
            sd.wipe_task(t(0, 2)).unwrap();
            assert!(!sd.store_path(t(0, 2), "counts").exists());
            assert!(sd.task_dir(t(0, 2)).join(".lock").exists(), "the held lock file stays");
            assert!(sd.read_checkpoint(t(0, 2)).unwrap().is_empty());
            let store = sd.open_store(t(0, 2), &spec).unwrap();
            assert_eq!(store.get(b"k").unwrap(), None);
        }
        assert!(sd.open_store(t(0, 0), &StoreSpec::key_value("../x", Serdes::string(), Serdes::string())).is_err());
    }

    #[test]
    fn clean_up_skips_locked_tasks() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        sd.write_checkpoint(t(0, 0), &offsets(&[("a", 0, 1)])).unwrap();
        sd.write_checkpoint(t(0, 1), &offsets(&[("a", 1, 1)])).unwrap();
        let id = sd.process_id().unwrap();
        assert_eq!(sd.process_id().unwrap(), id, "the process id persists");
        let held = sd.lock_task(t(0, 1)).unwrap().unwrap();
        sd.clean_up().unwrap();
        assert!(!sd.task_dir(t(0, 0)).exists());
        assert!(sd.task_dir(t(0, 1)).exists(), "a locked task stays");
        assert!(!sd.app_dir().join(PROCESS_FILE).exists());
        drop(held);
        sd.clean_up().unwrap();
        assert!(!sd.app_dir().exists());
        sd.clean_up().unwrap();
        // The directory object still works afterwards (recreates what it needs).
        assert!(sd.lock_task(t(0, 0)).unwrap().is_some());
    }

    #[test]
    fn removed_tasks_are_cleaned_after_the_delay() {
        let root = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(root.path(), "app").unwrap();
        sd.write_checkpoint(t(0, 0), &offsets(&[("a", 0, 1)])).unwrap();
        sd.write_checkpoint(t(0, 1), &offsets(&[("a", 1, 1)])).unwrap();
        assert!(sd.clean_removed_tasks(Duration::from_secs(3600)).is_empty());
        let _held = sd.lock_task(t(0, 1)).unwrap().unwrap();
        assert_eq!(sd.clean_removed_tasks(Duration::ZERO), vec![t(0, 0)]);
        assert_eq!(sd.task_dirs(), vec![t(0, 1)]);
    }

    #[test]
    fn bad_application_id_is_a_config_error() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(StateDirectory::new(root.path(), "a/b"), Err(StreamsError::Config { .. })));
        assert!(matches!(StateDirectory::new(root.path(), ".."), Err(StreamsError::Config { .. })));
    }
}
