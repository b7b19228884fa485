//! An active stream task: one partition group of one subtopology, as a
//! stream thread runs it — its [`TaskExecutor`], its input buffered per
//! partition, the offsets it consumed, its state directory lock and the
//! changelog offsets its stores hold.
//!
//! Lifecycle: [`StreamTask::open`] takes the task lock (retrying while
//! another thread of this process still holds it), opens the stores,
//! restores every logged store from its changelog (from the checkpoint
//! when the store is persistent and the checkpoint trustworthy; from where
//! a promoted standby stood when [`StreamTask::open_locked`] is given its
//! warm stores), then runs
//! the processors' `init`. Under exactly-once the checkpoint is deleted once
//! processing starts (a crash then leaves no checkpoint, so the store is
//! rebuilt from the committed changelog) and written again on a clean close.
//! [`StreamTask::close_clean`] flushes and checkpoints;
//! [`StreamTask::close_dirty`] does neither, and under exactly-once wipes
//! the local state, which may hold uncommitted writes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::streams::error::{Result, StreamsError};
use crate::streams::exec::{InputRecord, TaskExecutor, TaskSetup};
use crate::streams::processor::TaskId;
use crate::streams::state::{KeyValueBytesStore, SharedStore};
use crate::streams::topology::Topology;

use super::collector::Collector;
use super::config::StreamsConfig;
use super::restore::Restorer;
use super::state_dir::{StateDirectory, TaskLock};

/// How long a task waits for another thread of this process to release its lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What opening a task needs from its thread.
pub struct TaskContext<'a> {
    pub config: &'a StreamsConfig,
    pub topology: &'a Arc<Topology>,
    pub state_dir: &'a StateDirectory,
    pub restorer: &'a mut Restorer,
    pub collector: &'a Collector,
    pub globals: &'a BTreeMap<String, SharedStore>,
    /// Node indices of each subtopology.
    pub nodes: &'a BTreeMap<u32, Vec<usize>>,
    /// Stores of each subtopology.
    pub stores: &'a BTreeMap<u32, Vec<String>>,
    /// Share of the record cache per task.
    pub cache_max_bytes: usize,
}

/// A running active task.
pub struct StreamTask {
    pub id: TaskId,
    pub exec: TaskExecutor,
    /// Input partitions (cluster names).
    pub partitions: BTreeSet<(String, i32)>,
    queues: BTreeMap<(String, i32), VecDeque<InputRecord>>,
    /// Next offset to commit per input partition (last processed + 1).
    consumed: BTreeMap<(String, i32), i64>,
    /// Offsets consumed since the last commit.
    dirty: bool,
    /// Changelog (topic, partition) → offset the stores are at.
    pub changelog_offsets: BTreeMap<(String, i32), i64>,
    /// Whether any store is persistent (a checkpoint is worth writing).
    persistent: bool,
    _lock: TaskLock,
    /// Since when the task has waited for an empty partition (max.task.idle.ms).
    idle_since: Option<Instant>,
    /// How its logged stores were restored when it opened.
    pub restores: Vec<StoreRestore>,
}

/// A promoted standby's stores and where their changelogs continue.
pub struct WarmStores {
    pub stores: BTreeMap<String, Box<dyn KeyValueBytesStore>>,
    pub offsets: BTreeMap<(String, i32), i64>,
}

/// How one store of a task was restored when the task opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRestore {
    pub task: TaskId,
    pub store: String,
    pub changelog: String,
    /// Where the restore started (`None`: the changelog's beginning).
    pub from: Option<i64>,
    /// The changelog offset the store is at afterwards.
    pub to: i64,
    /// The store came warm from a standby of this instance.
    pub warm: bool,
}

/// Takes a task's lock, retrying while another thread of this process
/// still holds it (it lets go when it processes its own new assignment).
pub async fn lock_waiting(state_dir: &StateDirectory, id: TaskId) -> Result<TaskLock> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        if let Some(l) = state_dir.lock_task(id)? {
            return Ok(l);
        }
        if Instant::now() > deadline {
            return Err(StreamsError::Processing(format!(
                "task {id}: could not lock its state directory {} within {} s (another instance uses it?)",
                state_dir.task_dir(id).display(),
                LOCK_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl StreamTask {
    /// Locks, opens, restores and initialises a task.
    pub async fn open(ctx: TaskContext<'_>, id: TaskId, partitions: BTreeSet<(String, i32)>) -> Result<StreamTask> {
        let lock = lock_waiting(ctx.state_dir, id).await?;
        Self::open_locked(ctx, id, partitions, lock, None).await
    }

    /// Opens a task whose lock the caller holds. `warm`: a promoted
    /// standby's stores, used instead of opening them, and the offsets their
    /// changelogs continue from; only the tail after those is restored.
    pub async fn open_locked(
        ctx: TaskContext<'_>,
        id: TaskId,
        partitions: BTreeSet<(String, i32)>,
        lock: TaskLock,
        warm: Option<WarmStores>,
    ) -> Result<StreamTask> {
        let eos = ctx.config.exactly_once();
        let checkpoint = ctx.state_dir.read_checkpoint(id)?;
        let (mut warm_stores, warm_offsets) = warm.map(|w| (w.stores, w.offsets)).unwrap_or_default();
        let topo = ctx.topology;
        let mut stores: BTreeMap<String, Box<dyn KeyValueBytesStore>> = BTreeMap::new();
        let mut changelog_offsets = BTreeMap::new();
        let mut restores = Vec::new();
        let mut persistent = false;
        for name in ctx.stores.get(&id.subtopology).into_iter().flatten() {
            if ctx.globals.contains_key(name) {
                continue;
            }
            let spec = topo
                .stores()
                .get(name)
                .ok_or_else(|| StreamsError::Topology(format!("task {id}: unknown store {name}")))?;
            let (mut store, is_warm) = match warm_stores.remove(name) {
                Some(s) => (s, true),
                None => (ctx.state_dir.open_store(id, spec)?, false),
            };
            persistent |= store.persistent();
            if spec.logging {
                let topic = spec.changelog_topic(&ctx.config.application_id);
                let tp = (topic.clone(), id.partition);
                // A warm store holds what its standby applied, in memory or
                // not; a cold in-memory store starts empty: replay it all.
                let from = if is_warm {
                    warm_offsets.get(&tp).copied()
                } else if store.persistent() {
                    checkpoint.get(&tp).copied()
                } else {
                    None
                };
                let started = Instant::now();
                let end = ctx.restorer.restore(&topic, id.partition, from, store.as_mut()).await?;
                tracing::info!(task = %id, store = name, changelog = topic, from = ?from, to = end, warm = is_warm,
                    elapsed_ms = started.elapsed().as_millis() as u64, "restored state store");
                restores.push(StoreRestore {
                    task: id,
                    store: name.clone(),
                    changelog: topic,
                    from,
                    to: end,
                    warm: is_warm,
                });
                changelog_offsets.insert(tp, end);
            }
            stores.insert(name.clone(), store);
        }
        for (name, g) in ctx.globals {
            stores.insert(name.clone(), Box::new(g.clone()));
        }
        if eos {
            // From here on the local state may run ahead of what is committed.
            ctx.state_dir.delete_checkpoint(id)?;
        }
        let setup = TaskSetup {
            application_id: ctx.config.application_id.clone(),
            task: id,
            topology: topo.clone(),
            nodes: ctx.nodes.get(&id.subtopology).cloned().unwrap_or_default(),
            stores,
            cache_max_bytes: ctx.cache_max_bytes,
            logging: true,
            default_timestamp_extractor: ctx.config.timestamp_extractor.extractor(),
        };
        let mut exec = TaskExecutor::new(setup, ctx.collector.sink())?;
        exec.init()?;
        let queues = partitions.iter().map(|tp| (tp.clone(), VecDeque::new())).collect();
        Ok(StreamTask {
            id,
            exec,
            partitions,
            queues,
            consumed: BTreeMap::new(),
            dirty: false,
            changelog_offsets,
            persistent,
            _lock: lock,
            idle_since: None,
            restores,
        })
    }

    /// Buffers a polled record.
    pub fn add(&mut self, r: InputRecord) {
        if let Some(q) = self.queues.get_mut(&(r.topic.clone(), r.partition)) {
            q.push_back(r);
        }
    }

    pub fn buffered(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// The next record by stream time: the lowest head timestamp across the
    /// task's partitions. With `max.task.idle.ms` > 0 a task with an empty
    /// partition waits that long for it first (0: never waits).
    pub fn next_record(&mut self, max_idle_ms: i64) -> Option<InputRecord> {
        let any_empty = self.queues.values().any(VecDeque::is_empty);
        if any_empty && max_idle_ms > 0 && self.queues.len() > 1 {
            let since = *self.idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < Duration::from_millis(max_idle_ms as u64) {
                return None;
            }
        } else {
            self.idle_since = None;
        }
        let (tp, _) = self
            .queues
            .iter()
            .filter_map(|(tp, q)| q.front().map(|r| (tp.clone(), r.timestamp)))
            .min_by_key(|(_, ts)| *ts)?;
        let r = self.queues.get_mut(&tp)?.pop_front()?;
        Some(r)
    }

    /// Marks a record consumed (processed or skipped).
    pub fn consumed(&mut self, topic: &str, partition: i32, offset: i64) {
        self.consumed.insert((topic.to_string(), partition), offset + 1);
        self.dirty = true;
    }

    /// The offsets to commit (next offset per consumed partition).
    pub fn commit_offsets(&self) -> BTreeMap<(String, i32), i64> {
        self.consumed.clone()
    }

    pub fn needs_commit(&self) -> bool {
        self.dirty
    }

    pub fn committed(&mut self) {
        self.dirty = false;
    }

    /// Updates the changelog offsets from what the producer acknowledged.
    pub fn update_changelog_offsets(&mut self, acked: &BTreeMap<(String, i32), i64>) {
        for (tp, o) in self.changelog_offsets.iter_mut() {
            if let Some(a) = acked.get(tp) {
                *o = (*o).max(*a);
            }
        }
    }

    /// Writes the checkpoint (persistent stores only; nothing to trust for memory ones).
    pub fn checkpoint(&self, state_dir: &StateDirectory) -> Result<()> {
        if self.persistent && !self.changelog_offsets.is_empty() {
            state_dir.write_checkpoint(self.id, &self.changelog_offsets)?;
        }
        Ok(())
    }

    /// Drops the buffered records (the consumer re-fetches from the committed offsets).
    pub fn clear_buffers(&mut self) {
        for q in self.queues.values_mut() {
            q.clear();
        }
    }

    /// Closes after a commit: processors closed, stores flushed, checkpoint written.
    pub fn close_clean(mut self, state_dir: &StateDirectory, acked: &BTreeMap<(String, i32), i64>) -> Result<()> {
        self.exec.close();
        self.update_changelog_offsets(acked);
        let id = self.id;
        let offsets = self.changelog_offsets.clone();
        let persistent = self.persistent;
        let mut stores = self.exec.into_stores();
        for (_, s) in stores.iter_mut() {
            s.flush()?;
        }
        drop(stores);
        if persistent && !offsets.is_empty() {
            state_dir.write_checkpoint(id, &offsets)?;
        }
        Ok(())
    }

    /// Closes without committing (lost partitions, a failed transaction):
    /// no checkpoint; under exactly-once the local state is wiped so that
    /// the next owner restores from the committed changelog.
    pub fn close_dirty(mut self, state_dir: &StateDirectory, eos: bool) {
        self.exec.close();
        let id = self.id;
        drop(self.exec.into_stores());
        if eos {
            if let Err(e) = state_dir.wipe_task(id) {
                tracing::warn!(task = %id, error = %e, "cannot wipe the task's state after a dirty close");
            }
        }
    }
}
