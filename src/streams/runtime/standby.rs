//! Standby tasks: replicas of another instance's task state, kept current
//! from the task's changelog partitions (`num.standby.replicas`), so that
//! when the task moves here it restores only the last few records.
//!
//! A standby runs no processors. The stream thread calls
//! [`update_standbys`] (or [`StandbyTask::update`]) every loop iteration
//! with a short timeout — all of its standbys share one [`Restorer`], so one
//! poll serves them all — and [`StandbyTask::commit`] at its commit
//! interval: the stores are flushed, then the checkpoint is written, so the
//! checkpoint never runs ahead of the stores. On promotion to active,
//! [`StandbyTask::into_stores`] hands the warm stores and their offsets to
//! the active task, which restores the rest with [`Restorer::restore`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::restore::{apply, Restorer};
use super::state_dir::StateDirectory;
use crate::streams::error::{Result, StreamsError};
use crate::streams::processor::TaskId;
use crate::streams::state::KeyValueBytesStore;

/// A task's opened stores by name.
pub type OpenStores = BTreeMap<String, Box<dyn KeyValueBytesStore>>;

/// One standby replica: its stores and how far each changelog was applied.
pub struct StandbyTask {
    pub task: TaskId,
    pub stores: BTreeMap<String, Box<dyn KeyValueBytesStore>>,
    /// (store, changelog topic); the partition is the task's.
    changelogs: Vec<(String, String)>,
    /// Next offset to apply per changelog topic; `None`: from the beginning.
    offsets: BTreeMap<String, Option<i64>>,
    /// Records applied since the last commit.
    applied_since_commit: u64,
}

impl std::fmt::Debug for StandbyTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandbyTask")
            .field("task", &self.task)
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .field("offsets", &self.offsets)
            .finish()
    }
}

impl StandbyTask {
    /// A standby over opened stores. `changelogs` pairs each logged store
    /// with its changelog topic; `checkpoint` (from
    /// [`StateDirectory::read_checkpoint`]) says where each changelog
    /// continues; a changelog without an entry is read from the start.
    /// Stores without a changelog are kept but never updated.
    pub fn new(
        task: TaskId,
        stores: BTreeMap<String, Box<dyn KeyValueBytesStore>>,
        changelogs: Vec<(String, String)>,
        checkpoint: &BTreeMap<(String, i32), i64>,
    ) -> Self {
        let offsets = changelogs
            .iter()
            .map(|(_, topic)| {
                // Kafka's "unknown" sentinel (and anything negative) means no offset yet.
                let from = checkpoint.get(&(topic.clone(), task.partition)).copied().filter(|o| *o >= 0);
                (topic.clone(), from)
            })
            .collect();
        StandbyTask { task, stores, changelogs, offsets, applied_since_commit: 0 }
    }

    /// The changelog partitions this standby reads.
    pub fn changelog_partitions(&self) -> Vec<(String, i32)> {
        self.changelogs.iter().map(|(_, topic)| (topic.clone(), self.task.partition)).collect()
    }

    /// Records applied since the last [`commit`](Self::commit) (Kafka also
    /// commits a standby early once this passes 10000).
    pub fn applied_since_commit(&self) -> u64 {
        self.applied_since_commit
    }

    /// Polls this standby's changelogs once (waiting at most `timeout`)
    /// and applies what came; returns the number of records applied.
    pub async fn update(&mut self, restorer: &mut Restorer, timeout: Duration) -> Result<usize> {
        update_standbys(restorer, std::iter::once(self), timeout).await
    }

    /// The next offset of every changelog read so far, for the checkpoint
    /// (only stores that persist; in-memory ones start over anyway).
    pub fn checkpoint_offsets(&self) -> BTreeMap<(String, i32), i64> {
        self.changelogs
            .iter()
            .filter(|(store, _)| self.stores.get(store).is_some_and(|s| s.persistent()))
            .filter_map(|(_, topic)| {
                let offset = (*self.offsets.get(topic)?)?;
                Some(((topic.clone(), self.task.partition), offset))
            })
            .collect()
    }

    /// Makes the applied records durable in the stores.
    pub fn flush(&mut self) -> Result<()> {
        for store in self.stores.values_mut() {
            store.flush()?;
        }
        Ok(())
    }

    /// Flushes the stores, then writes the checkpoint (if any store persists).
    pub fn commit(&mut self, state_dir: &StateDirectory) -> Result<()> {
        self.flush()?;
        let offsets = self.checkpoint_offsets();
        if !offsets.is_empty() {
            state_dir.write_checkpoint(self.task, &offsets)?;
        }
        self.applied_since_commit = 0;
        Ok(())
    }

    /// For promotion to active: the stores and the offset each changelog
    /// continues from (missing: from the beginning).
    pub fn into_stores(self) -> (OpenStores, BTreeMap<(String, i32), i64>) {
        let partition = self.task.partition;
        let offsets = self.offsets.into_iter().filter_map(|(t, o)| Some(((t, partition), o?))).collect();
        (self.stores, offsets)
    }
}

/// Polls the changelogs of all `tasks` with one consumer poll (waiting at
/// most `timeout`) and applies the records to their stores; returns the
/// number of records applied. Tasks may come and go between calls.
pub async fn update_standbys<'a>(
    restorer: &mut Restorer,
    tasks: impl IntoIterator<Item = &'a mut StandbyTask>,
    timeout: Duration,
) -> Result<usize> {
    let mut tasks: Vec<&mut StandbyTask> = tasks.into_iter().collect();
    // (topic, partition) → (task index, store); topics are per store and
    // partitions per task, so each changelog partition has one owner.
    let mut owners: BTreeMap<(String, i32), (usize, String)> = BTreeMap::new();
    let mut positions: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for (i, task) in tasks.iter().enumerate() {
        for (store, topic) in &task.changelogs {
            let key = (topic.clone(), task.task.partition);
            positions.insert(key.clone(), task.offsets.get(topic).copied().flatten());
            owners.insert(key, (i, store.clone()));
        }
    }
    if positions.is_empty() {
        return Ok(0);
    }
    let before = positions.clone();
    let records = restorer.poll_changelogs(&mut positions, timeout).await?;
    let mut applied = 0;
    for record in &records {
        let key = (record.topic.clone(), record.partition);
        let Some((i, store_name)) = owners.get(&key) else { continue };
        // A record before where this changelog stands was applied already
        // (a stale prefetch cannot get here, but be exact).
        if before.get(&key).copied().flatten().is_some_and(|from| record.offset < from) {
            continue;
        }
        let task = &mut tasks[*i];
        let store = task
            .stores
            .get_mut(store_name)
            .ok_or_else(|| StreamsError::store(store_name, format!("standby task {} has no such store", task.task)))?;
        apply(store.as_mut(), record)?;
        task.applied_since_commit += 1;
        applied += 1;
    }
    for (key, position) in positions {
        if let Some((i, _)) = owners.get(&key) {
            let task = &mut tasks[*i];
            if position.is_none() && before.get(&key).copied().flatten().is_some() {
                tracing::warn!(
                    "standby task {}: changelog {}-{} no longer has offset {:?}; reading it from the start",
                    task.task,
                    key.0,
                    key.1,
                    before.get(&key)
                );
            }
            task.offsets.insert(key.0, position);
        }
    }
    Ok(applied)
}
