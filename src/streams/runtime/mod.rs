//! The Streams runtime: [`KafkaStreams`] runs a [`Topology`] against a
//! cluster — internal topics, stream threads in a consumer group (one task
//! per partition group), state directories with checkpoints, changelog
//! restoration, standby replicas, global stores, at-least-once or
//! exactly-once commits — with Kafka Streams' states and config keys.
//!
//! Parts: [`config`] (StreamsConfig), [`topics`] (internal topics),
//! [`collector`] (task output to the producer), [`task`] (an active task's
//! lifecycle), [`thread`] (the stream thread loop and the global thread),
//! [`assignor`] (the `stream` partition assignor: tasks, stickiness,
//! standby placement); `state_dir`, `restore` and `standby` keep local
//! state, restore it and keep replicas of it.

pub mod assignor;
pub mod collector;
pub mod config;
pub mod restore;
pub mod standby;
pub mod state_dir;
pub mod task;
pub mod thread;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::streams::error::{Result, StreamsError};
use crate::streams::processor::TaskId;
use crate::streams::topology::Topology;

pub use config::{
    DeserializationHandler, ProcessingGuarantee, ProductionHandler, StreamsConfig, TimestampExtractorKind,
};

/// Kafka Streams' client states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Created,
    Rebalancing,
    Running,
    PendingShutdown,
    NotRunning,
    PendingError,
    Error,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Created => "CREATED",
            State::Rebalancing => "REBALANCING",
            State::Running => "RUNNING",
            State::PendingShutdown => "PENDING_SHUTDOWN",
            State::NotRunning => "NOT_RUNNING",
            State::PendingError => "PENDING_ERROR",
            State::Error => "ERROR",
        })
    }
}

impl State {
    /// RUNNING or REBALANCING (Kafka's `isRunningOrRebalancing`).
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, State::Running | State::Rebalancing)
    }
}

/// A stream thread's state (Kafka's StreamThread.State).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadState {
    Created,
    Starting,
    PartitionsRevoked,
    PartitionsAssigned,
    Running,
    PendingShutdown,
    Dead,
}

/// Called with (new state, old state) on every change.
pub type StateListener = Box<dyn Fn(State, State) + Send + Sync>;

struct Data {
    state: State,
    error: Option<StreamsError>,
    threads: Vec<ThreadState>,
    tasks: Vec<BTreeSet<TaskId>>,
    standbys: Vec<BTreeSet<TaskId>>,
    /// Every store restoration since start, oldest first (bounded).
    restores: std::collections::VecDeque<task::StoreRestore>,
}

/// How many store restorations [`KafkaStreams::store_restorations`] keeps.
const RESTORES_KEPT: usize = 1000;

/// What an instance and its threads share.
pub(crate) struct Inner {
    data: Mutex<Data>,
    tx: watch::Sender<State>,
    listener: Mutex<Option<StateListener>>,
    pub shutdown: AtomicBool,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn transition(&self, d: &mut Data, new: State) -> Option<(State, State)> {
        let old = d.state;
        if old == new {
            return None;
        }
        let ok = match old {
            State::Created => {
                matches!(new, State::Rebalancing | State::PendingShutdown | State::PendingError | State::Error)
            }
            State::Rebalancing | State::Running => {
                matches!(new, State::Running | State::Rebalancing | State::PendingShutdown | State::PendingError)
            }
            State::PendingShutdown => new == State::NotRunning,
            State::PendingError => new == State::Error,
            State::NotRunning | State::Error => false,
        };
        if !ok {
            return None;
        }
        d.state = new;
        Some((new, old))
    }

    fn notify(&self, change: Option<(State, State)>) {
        if let Some((new, old)) = change {
            tracing::info!("State transition from {old} to {new}");
            self.tx.send_replace(new);
            if let Some(l) = self.listener.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                l(new, old);
            }
        }
    }

    fn set_state(&self, new: State) -> bool {
        let change = {
            let mut d = self.lock();
            self.transition(&mut d, new)
        };
        let changed = change.is_some();
        self.notify(change);
        changed
    }

    /// A thread's state changed: RUNNING once every live thread runs.
    pub(crate) fn thread_state(&self, index: usize, ts: ThreadState) {
        let change = {
            let mut d = self.lock();
            if let Some(t) = d.threads.get_mut(index) {
                *t = ts;
            }
            if d.state.is_running_or_rebalancing() {
                let all_running = d.threads.iter().all(|t| matches!(t, ThreadState::Running | ThreadState::Dead));
                let target = if all_running { State::Running } else { State::Rebalancing };
                self.transition(&mut d, target)
            } else {
                None
            }
        };
        self.notify(change);
    }

    pub(crate) fn thread_tasks(&self, index: usize, tasks: BTreeSet<TaskId>) {
        let mut d = self.lock();
        if let Some(t) = d.tasks.get_mut(index) {
            *t = tasks;
        }
    }

    pub(crate) fn thread_standbys(&self, index: usize, tasks: BTreeSet<TaskId>) {
        let mut d = self.lock();
        if let Some(t) = d.standbys.get_mut(index) {
            *t = tasks;
        }
    }

    pub(crate) fn task_restored(&self, restores: &[task::StoreRestore]) {
        let mut d = self.lock();
        for r in restores {
            if d.restores.len() >= RESTORES_KEPT {
                d.restores.pop_front();
            }
            d.restores.push_back(r.clone());
        }
    }

    /// A thread ended; with an error the instance goes to PENDING_ERROR,
    /// the other threads stop, and ERROR follows when all are gone.
    pub(crate) fn thread_finished(&self, index: usize, err: Option<StreamsError>) {
        let mut changes = Vec::new();
        {
            let mut d = self.lock();
            if let Some(t) = d.threads.get_mut(index) {
                *t = ThreadState::Dead;
            }
            if let Some(t) = d.tasks.get_mut(index) {
                t.clear();
            }
            if let Some(t) = d.standbys.get_mut(index) {
                t.clear();
            }
            if let Some(e) = err {
                tracing::error!(thread = index + 1, error = %e, "stream thread failed; shutting the client down");
                d.error.get_or_insert(e);
                self.shutdown.store(true, Ordering::Release);
                changes.push(self.transition(&mut d, State::PendingError));
            }
            if d.threads.iter().all(|t| *t == ThreadState::Dead) {
                let next = match d.state {
                    State::PendingError => Some(State::Error),
                    State::PendingShutdown => Some(State::NotRunning),
                    _ => None,
                };
                if let Some(n) = next {
                    changes.push(self.transition(&mut d, n));
                }
            }
        }
        for c in changes {
            self.notify(c);
        }
    }

    pub(crate) fn global_failed(&self, e: StreamsError) {
        let change = {
            let mut d = self.lock();
            d.error.get_or_insert(e);
            self.shutdown.store(true, Ordering::Release);
            self.transition(&mut d, State::PendingError)
        };
        self.notify(change);
    }
}

/// A Kafka Streams client: runs a topology with `num.stream.threads`
/// stream threads (tokio tasks on the runtime that calls `start`).
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    inner: Arc<Inner>,
    rx: watch::Receiver<State>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// Deletes task directories no thread has used for `state.cleanup.delay.ms`.
    cleaner: Mutex<Option<JoinHandle<()>>>,
    process_id: Mutex<Option<uuid::Uuid>>,
}

/// Kafka's state cleaner: every `state.cleanup.delay.ms`, the directories
/// of tasks that no thread holds (their locks are free) and that were last
/// changed more than that long ago go — state of tasks that moved to other
/// instances. A task dir in use is locked, so it is never touched.
async fn clean_state_periodically(state_dir: Arc<state_dir::StateDirectory>, delay_ms: u64) {
    let delay = Duration::from_millis(delay_ms);
    let mut tick = tokio::time::interval(delay.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: nothing has had time to go stale yet.
    tick.tick().await;
    loop {
        tick.tick().await;
        let sd = state_dir.clone();
        // Each deletion is logged by clean_removed_tasks.
        let _ = tokio::task::spawn_blocking(move || sd.clean_removed_tasks(delay)).await;
    }
}

impl KafkaStreams {
    /// Checks the config and the topology; nothing connects yet.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self> {
        config.validate()?;
        if topology.subtopologies().is_empty() && topology.global_stores().is_empty() {
            return Err(StreamsError::Topology(
                "Topology has no stream threads and no global threads, must subscribe to at least one source topic \
                 or global table."
                    .into(),
            ));
        }
        let threads = config.num_stream_threads;
        let (tx, rx) = watch::channel(State::Created);
        let inner = Arc::new(Inner {
            data: Mutex::new(Data {
                state: State::Created,
                error: None,
                threads: vec![ThreadState::Created; threads],
                tasks: vec![BTreeSet::new(); threads],
                standbys: vec![BTreeSet::new(); threads],
                restores: std::collections::VecDeque::new(),
            }),
            tx,
            listener: Mutex::new(None),
            shutdown: AtomicBool::new(false),
        });
        Ok(KafkaStreams {
            topology: Arc::new(topology),
            config: Arc::new(config),
            inner,
            rx,
            handles: Mutex::new(Vec::new()),
            cleaner: Mutex::new(None),
            process_id: Mutex::new(None),
        })
    }

    /// Called with (new, old) on every state change (set before `start`).
    pub fn set_state_listener(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        *self.inner.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(listener));
    }

    pub fn state(&self) -> State {
        self.inner.lock().state
    }

    /// Why the client is in ERROR (the first failure of a thread).
    pub fn error(&self) -> Option<StreamsError> {
        self.inner.lock().error.clone()
    }

    /// The process id (after `start`): persisted in
    /// `<state.dir>/<application.id>/kafka-streams-process-metadata`.
    pub fn process_id(&self) -> Option<uuid::Uuid> {
        *self.process_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> &StreamsConfig {
        &self.config
    }

    /// The active tasks of this instance's threads now.
    pub fn local_active_tasks(&self) -> BTreeSet<TaskId> {
        self.inner.lock().tasks.iter().flatten().copied().collect()
    }

    /// The standby tasks of this instance's threads now (replicas kept
    /// current from their changelogs, `num.standby.replicas`).
    pub fn local_standby_tasks(&self) -> BTreeSet<TaskId> {
        self.inner.lock().standbys.iter().flatten().copied().collect()
    }

    /// How this instance's tasks restored their logged stores when they
    /// opened (the last 1000), oldest first: from which changelog offset,
    /// to which, and whether the store came warm from a standby.
    pub fn store_restorations(&self) -> Vec<task::StoreRestore> {
        self.inner.lock().restores.iter().cloned().collect()
    }

    /// Waits until the state is `state` (true) or `timeout` passes (false).
    pub async fn wait_for_state(&self, state: State, timeout: Duration) -> bool {
        let mut rx = self.rx.clone();
        let result = tokio::time::timeout(timeout, rx.wait_for(|s| *s == state)).await;
        matches!(result, Ok(Ok(_)))
    }

    fn fail_start(&self, e: StreamsError) -> StreamsError {
        let change = {
            let mut d = self.inner.lock();
            d.error.get_or_insert(e.clone());
            let a = self.inner.transition(&mut d, State::PendingError);
            let b = self.inner.transition(&mut d, State::Error);
            [a, b]
        };
        for c in change {
            self.inner.notify(c);
        }
        e
    }

    /// Creates the internal topics, checks the source topics, fills the
    /// global stores and starts the stream threads. A missing source topic
    /// or a bad internal topic puts the client in ERROR and is returned.
    pub async fn start(&self) -> Result<()> {
        if !self.inner.set_state(State::Rebalancing) {
            return Err(StreamsError::Processing(format!(
                "The client is either already started or already stopped, cannot re-start (state {})",
                self.state()
            )));
        }
        match self.start_inner().await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail_start(e)),
        }
    }

    async fn start_inner(&self) -> Result<()> {
        let config = &self.config;
        let admin = topics::admin(config).await?;
        let counts = topics::partition_counts(&admin).await?;
        let resolved = topics::resolve(&self.topology, config, &counts)?;
        topics::ensure(&admin, config, &resolved).await?;
        let state_dir = Arc::new(state_dir::StateDirectory::new(&config.state_dir, &config.application_id)?);
        let pid = state_dir.process_id().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot persist the process id; it changes with every start");
            uuid::Uuid::new_v4()
        });
        *self.process_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(pid);
        tracing::info!(application_id = config.application_id, process_id = %pid, "starting Kafka Streams");
        let mut all_counts = counts;
        for t in resolved.repartition.iter().chain(resolved.changelog.iter()) {
            all_counts.insert(t.name.clone(), t.partitions);
        }
        let (global, globals) = if self.topology.global_stores().is_empty() {
            (None, BTreeMap::new())
        } else {
            let (g, s) = thread::GlobalThread::start(&self.topology, config, &resolved).await?;
            (Some(g), s)
        };
        let mut nodes = BTreeMap::new();
        let mut stores = BTreeMap::new();
        for s in self.topology.subtopologies() {
            nodes.insert(s.id, s.nodes.clone());
            stores.insert(s.id, s.stores.iter().cloned().collect::<Vec<_>>());
        }
        let shared = Arc::new(thread::Shared {
            topology: self.topology.clone(),
            config: config.clone(),
            resolved: Arc::new(resolved),
            process_id: pid,
            state_dir,
            globals,
            nodes,
            stores,
            counts: all_counts,
        });
        *self.cleaner.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::spawn(clean_state_periodically(shared.state_dir.clone(), config.state_cleanup_delay_ms)));
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = global {
            handles.push(tokio::spawn(g.run(config.clone(), self.inner.clone())));
        }
        if shared.resolved.subtopologies.is_empty() {
            // Only global stores: nothing to rebalance.
            self.inner.set_state(State::Running);
        }
        for i in 0..config.num_stream_threads {
            if shared.resolved.subtopologies.is_empty() {
                self.inner.thread_state(i, ThreadState::Dead);
                continue;
            }
            handles.push(tokio::spawn(thread::run(shared.clone(), self.inner.clone(), i)));
        }
        Ok(())
    }

    /// Stops the threads: each commits, flushes, checkpoints and leaves the
    /// group. Waits without limit.
    pub async fn close(&self) {
        self.close_timeout(Duration::from_secs(u32::MAX as u64)).await;
    }

    /// As [`close`](Self::close), waiting at most `timeout`; false if the
    /// threads had not stopped by then.
    pub async fn close_timeout(&self, timeout: Duration) -> bool {
        self.inner.set_state(State::PendingShutdown);
        self.inner.shutdown.store(true, Ordering::Release);
        if let Some(cleaner) = self.cleaner.lock().unwrap_or_else(|e| e.into_inner()).take() {
            cleaner.abort();
        }
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = Instant::now() + timeout.min(Duration::from_secs(365 * 24 * 3600));
        let mut all = true;
        for h in handles {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, h).await.is_err() {
                all = false;
            }
        }
        if all {
            let change = {
                let mut d = self.inner.lock();
                for t in d.threads.iter_mut() {
                    *t = ThreadState::Dead;
                }
                let target = if d.state == State::PendingError { State::Error } else { State::NotRunning };
                self.inner.transition(&mut d, target)
            };
            self.inner.notify(change);
        }
        all
    }

    /// Deletes this application's local state directory; only while not running.
    pub fn cleanup(&self) -> Result<()> {
        let s = self.state();
        if s.is_running_or_rebalancing() || s == State::PendingShutdown || s == State::PendingError {
            return Err(StreamsError::Processing(format!("Cannot clean up while running (state {s}).")));
        }
        state_dir::StateDirectory::new(&self.config.state_dir, &self.config.application_id)?.clean_up()
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        // Threads see the flag at their next poll and close.
        self.inner.shutdown.store(true, Ordering::Release);
    }
}
