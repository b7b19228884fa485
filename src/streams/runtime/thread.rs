//! A stream thread (a tokio task): its group member consumer, its producer,
//! its active and standby tasks, and the loop that runs them — poll, buffer,
//! process by stream time, punctuate, commit.
//!
//! The thread's mutable state (`Core`) sits behind an async mutex because
//! the consumer's [`RevocationHook`] needs it in the middle of `poll`: before
//! the member gives up its partitions for a rebalance, the hook commits
//! every task and closes them cleanly (checkpoints written), so the next
//! owner starts exactly where this one stopped. The loop never holds the
//! mutex across `poll`.
//!
//! Commit, at_least_once: flush the tasks (caches emit), hand their output
//! to the producer and wait for it, commit the consumed offsets, write the
//! checkpoints. exactly_once_v2: one transactional producer per thread
//! (`<application.id>-<process id>-<thread index>`); a transaction begins
//! before the first record of a commit interval and commits with the
//! consumed offsets (`send_offsets_to_transaction` with the member's group
//! metadata). A failed transaction is aborted and the tasks treated as
//! migrated: closed dirty (local state wiped), the consumer sent back to the
//! committed offsets, the tasks reopened and restored from their changelogs.
//!
//! Also here: the global stream thread, which fills the global stores from
//! their topics before the stream threads start and keeps them current.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use crate::client::consumer::RevocationHook;
use crate::client::{Consumer, ConsumerGroupMetadata, ConsumerRecord, Producer, SeekTo};

/// (topic, partition), as the consumer names them.
type TopicPartition = (String, i32);
use crate::streams::error::{Result, StreamsError};
use crate::streams::exec::{InputRecord, RecordSink, TaskExecutor, TaskSetup};
use crate::streams::processor::{Headers, TaskId};
use crate::streams::state::{InMemoryStore, KeyValueBytesStore, SharedStore};
use crate::streams::topology::Topology;

use super::assignor::{
    AssignedTasks, AssignorTopology, ClientState, StreamsAssignor, ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA,
    ERROR_SHUTDOWN_REQUESTED,
};
use super::collector::{production_error, Collector, Sender};
use super::config::{Consumer as Which, DeserializationHandler, StreamsConfig, TimestampExtractorKind};
use super::restore::Restorer;
use super::standby::{update_standbys, StandbyTask};
use super::state_dir::{StateDirectory, TaskLock};
use super::task::{StreamTask, TaskContext, WarmStores};
use super::topics::ResolvedTopics;
use super::{Inner, ThreadState};

/// Timeout of transactional producer calls.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// Records processed between looks at the commit timer and the producer.
const BATCH: usize = 1000;
/// How long one loop iteration waits for standby changelog records: short,
/// so that keeping replicas current never holds up active processing.
const STANDBY_POLL: Duration = Duration::from_millis(5);

/// What every thread of an instance shares (read-only).
pub(crate) struct Shared {
    pub topology: Arc<Topology>,
    pub config: Arc<StreamsConfig>,
    pub resolved: Arc<ResolvedTopics>,
    pub process_id: uuid::Uuid,
    pub state_dir: Arc<StateDirectory>,
    pub globals: BTreeMap<String, SharedStore>,
    /// Node indices and stores per subtopology.
    pub nodes: BTreeMap<u32, Vec<usize>>,
    pub stores: BTreeMap<u32, Vec<String>>,
    /// Partition counts of the topics tasks may write.
    pub counts: BTreeMap<String, i32>,
}

/// The thread's state the revocation hook also needs.
struct Core {
    shared: Arc<Shared>,
    inner: Arc<Inner>,
    index: usize,
    name: String,
    tasks: BTreeMap<TaskId, StreamTask>,
    collector: Collector,
    sender: Sender,
    restorer: Restorer,
    /// A transaction is open (exactly_once_v2).
    in_txn: bool,
    /// An error the hook ran into, for the loop to act on.
    failure: Option<StreamsError>,
    /// The tasks were closed by the hook; the next assignment reopens them.
    revoked: bool,
    /// Standby replicas kept current from their changelogs.
    standbys: BTreeMap<TaskId, Standby>,
    /// The standbys' own changelog reader (created with the first standby),
    /// so that their positions survive the active restores.
    standby_restorer: Option<Restorer>,
    /// What this thread reports to the assignor at each join.
    client_state: Arc<Mutex<ClientState>>,
    /// Where the assignor leaves this thread's assignment.
    assigned_slot: Arc<Mutex<Option<AssignedTasks>>>,
    /// The assignment being applied.
    current: Option<AssignedTasks>,
    /// The standby set last reported to the instance.
    reported_standbys: BTreeSet<TaskId>,
}

/// A standby task with its state directory lock.
struct Standby {
    task: StandbyTask,
    lock: TaskLock,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn input(r: ConsumerRecord) -> InputRecord {
    InputRecord {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: r.headers,
    }
}

impl Core {
    fn eos(&self) -> bool {
        self.shared.config.exactly_once()
    }

    /// Hands queued output to the producer, opening a transaction first under EOS.
    async fn drain(&mut self) -> Result<()> {
        if self.eos() && !self.in_txn {
            if self.collector.is_empty() {
                return Ok(());
            }
            self.begin()?;
        }
        self.sender.drain(&self.collector).await
    }

    fn begin(&mut self) -> Result<()> {
        self.sender.producer.begin_transaction().map_err(|e| production_error("(begin transaction)", e))?;
        self.in_txn = true;
        Ok(())
    }

    /// Flushes every task and the producer; commits the transaction under
    /// EOS. Returns the offsets the consumer must commit (at_least_once).
    async fn commit(&mut self, meta: Option<ConsumerGroupMetadata>) -> Result<BTreeMap<TopicPartition, i64>> {
        for t in self.tasks.values_mut() {
            t.exec.flush()?;
        }
        self.drain().await?;
        self.sender.flush().await?;
        let mut offsets = BTreeMap::new();
        for t in self.tasks.values_mut() {
            t.update_changelog_offsets(&self.sender.changelog_offsets);
            if t.needs_commit() {
                offsets.extend(t.commit_offsets());
            }
        }
        if self.eos() {
            if !offsets.is_empty() && !self.in_txn {
                self.begin()?;
            }
            if self.in_txn {
                let meta =
                    meta.unwrap_or_else(|| ConsumerGroupMetadata::new(self.shared.config.application_id.clone()));
                if !offsets.is_empty() {
                    self.sender
                        .producer
                        .send_offsets_to_transaction(&offsets, meta)
                        .await
                        .map_err(|e| production_error("(offsets)", e))?;
                }
                self.sender
                    .producer
                    .commit_transaction(TXN_TIMEOUT)
                    .await
                    .map_err(|e| production_error("(commit transaction)", e))?;
                self.in_txn = false;
            }
            for t in self.tasks.values_mut() {
                t.committed();
            }
            return Ok(BTreeMap::new());
        }
        Ok(offsets)
    }

    /// After the consumer committed: checkpoints (at_least_once).
    fn committed(&mut self) -> Result<()> {
        for t in self.tasks.values_mut() {
            t.committed();
            if !self.shared.config.exactly_once() {
                t.checkpoint(&self.shared.state_dir)?;
            }
        }
        Ok(())
    }

    /// The hook: commit, then close every task cleanly.
    async fn revoke(&mut self, meta: Option<ConsumerGroupMetadata>) -> BTreeMap<TopicPartition, i64> {
        self.inner.thread_state(self.index, ThreadState::PartitionsRevoked);
        self.revoked = true;
        if self.tasks.is_empty() {
            return BTreeMap::new();
        }
        match self.commit(meta).await {
            Ok(offsets) => {
                let tasks = std::mem::take(&mut self.tasks);
                for (id, t) in tasks {
                    if let Err(e) = t.close_clean(&self.shared.state_dir, &self.sender.changelog_offsets) {
                        tracing::warn!(task = %id, error = %e, "closing a revoked task failed");
                    }
                }
                self.inner.thread_tasks(self.index, BTreeSet::new());
                // The checkpoints just written are what the next join reports.
                self.refresh_offset_sums();
                offsets
            }
            Err(StreamsError::TaskMigrated(why)) => {
                tracing::warn!(thread = self.name, why, "tasks migrated while committing for a rebalance");
                self.abort_and_close_dirty().await;
                BTreeMap::new()
            }
            Err(e) => {
                self.failure = Some(e);
                BTreeMap::new()
            }
        }
    }

    /// Aborts an open transaction (a new producer if it cannot) and closes
    /// every task dirty.
    async fn abort_and_close_dirty(&mut self) {
        let eos = self.eos();
        if eos && self.in_txn {
            if let Err(e) = self.sender.producer.abort_transaction(TXN_TIMEOUT).await {
                tracing::warn!(error = %e, "aborting the transaction failed; starting a new producer");
                if let Err(e) = self.new_producer().await {
                    self.failure.get_or_insert(e);
                }
            }
        }
        self.in_txn = false;
        self.collector.clear();
        self.sender.reset();
        let tasks = std::mem::take(&mut self.tasks);
        for (_, t) in tasks {
            t.close_dirty(&self.shared.state_dir, eos);
        }
    }

    async fn new_producer(&mut self) -> Result<()> {
        let producer = make_producer(&self.shared, self.index).await?;
        let old = std::mem::replace(&mut self.sender, Sender::new(producer, fail_on_production_error(&self.shared)));
        drop(old);
        Ok(())
    }

    /// Takes a new assignment from the assignor, if one came. An error code
    /// in it (every member gets the same) fails the thread.
    fn take_assignment(&mut self) -> Result<bool> {
        let Some(a) = self.assigned_slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(false);
        };
        if a.error_code != 0 {
            let message = a.error.clone().unwrap_or_else(|| format!("assignment error code {}", a.error_code));
            return Err(match a.error_code {
                ERROR_SHUTDOWN_REQUESTED => StreamsError::Processing(message),
                ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA => StreamsError::Topology(message),
                _ => StreamsError::Topology(message),
            });
        }
        tracing::info!(thread = self.name, generation = a.generation, active = ?a.active.keys().collect::<Vec<_>>(),
            standby = ?a.standby.keys().collect::<Vec<_>>(), "tasks assigned");
        self.current = Some(a);
        Ok(true)
    }

    /// The active tasks of the current assignment whose input partitions
    /// the consumer holds (none while a rebalance has them revoked).
    fn desired_active(&self, owned: &BTreeSet<TopicPartition>) -> BTreeMap<TaskId, BTreeSet<TopicPartition>> {
        let Some(a) = &self.current else { return BTreeMap::new() };
        a.active
            .iter()
            .filter(|(_, parts)| parts.iter().all(|tp| owned.contains(tp)))
            .map(|(id, parts)| (*id, parts.iter().cloned().collect()))
            .collect()
    }

    /// What the next join reports: the tasks of the current assignment.
    fn report_assignment(&mut self) {
        let standby: BTreeSet<TaskId> =
            self.current.as_ref().map(|a| a.standby.keys().copied().collect()).unwrap_or_default();
        {
            let mut s = self.client_state.lock().unwrap_or_else(|e| e.into_inner());
            s.prev_active = self.tasks.keys().copied().collect();
            s.prev_standby = standby;
        }
        self.refresh_offset_sums();
    }

    fn refresh_offset_sums(&self) {
        let sums = self.shared.state_dir.local_task_offset_sums();
        self.client_state.lock().unwrap_or_else(|e| e.into_inner()).task_offset_sums = sums;
    }

    /// Opens the tasks the assignment asks for and closes those it no longer does.
    async fn reconcile(&mut self, desired: BTreeMap<TaskId, BTreeSet<(String, i32)>>) -> Result<bool> {
        let lost: Vec<TaskId> =
            self.tasks.iter().filter(|(id, t)| desired.get(id) != Some(&t.partitions)).map(|(id, _)| *id).collect();
        let mut migrated = false;
        if !lost.is_empty() {
            if self.eos() {
                // The open transaction covers every task: all of them start over.
                tracing::warn!(thread = self.name, ?lost, "tasks lost; aborting and closing all tasks dirty");
                self.abort_and_close_dirty().await;
                migrated = true;
            } else {
                for id in lost {
                    if let Some(t) = self.tasks.remove(&id) {
                        tracing::warn!(task = %id, "task lost without a commit; closing it dirty");
                        t.close_dirty(&self.shared.state_dir, false);
                    }
                }
            }
        }
        let shared = self.shared.clone();
        let n_tasks = desired.len().max(1);
        for (id, parts) in desired {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let ctx = TaskContext {
                config: &shared.config,
                topology: &shared.topology,
                state_dir: &shared.state_dir,
                restorer: &mut self.restorer,
                collector: &self.collector,
                globals: &shared.globals,
                nodes: &shared.nodes,
                stores: &shared.stores,
                cache_max_bytes: shared.config.cache_max_bytes / shared.config.num_stream_threads / n_tasks,
            };
            let task = match self.standbys.remove(&id) {
                // Promotion: the warm stores move over with the lock.
                Some(Standby { task, lock }) => {
                    let (stores, offsets) = task.into_stores();
                    tracing::info!(thread = self.name, task = %id, "promoting the standby task to active");
                    StreamTask::open_locked(ctx, id, parts, lock, Some(WarmStores { stores, offsets })).await?
                }
                None => StreamTask::open(ctx, id, parts).await?,
            };
            self.inner.task_restored(&task.restores);
            tracing::info!(thread = self.name, task = %id, "task running");
            self.tasks.insert(id, task);
        }
        self.revoked = false;
        self.inner.thread_tasks(self.index, self.tasks.keys().copied().collect());
        Ok(migrated)
    }

    /// Opens the standbys the assignment asks for (a task directory another
    /// thread of this process still locks is tried again next time) and
    /// closes, after a last commit, those it no longer does.
    fn reconcile_standbys(&mut self) -> Result<()> {
        let desired: BTreeSet<TaskId> = match &self.current {
            Some(a) => a.standby.keys().filter(|t| !a.active.contains_key(t)).copied().collect(),
            None => BTreeSet::new(),
        };
        let before: BTreeSet<TaskId> = self.standbys.keys().copied().collect();
        let gone: Vec<TaskId> = before.difference(&desired).copied().collect();
        for id in gone {
            if let Some(mut s) = self.standbys.remove(&id) {
                if let Err(e) = s.task.commit(&self.shared.state_dir) {
                    tracing::warn!(task = %id, error = %e, "committing a standby task before closing it failed");
                }
                tracing::info!(thread = self.name, task = %id, "standby task closed");
            }
        }
        for id in desired {
            if self.standbys.contains_key(&id) || self.tasks.contains_key(&id) {
                continue;
            }
            let Some(lock) = self.shared.state_dir.lock_task(id)? else {
                tracing::debug!(task = %id, "standby task's directory still locked; trying again later");
                continue;
            };
            let task = self.open_standby(id)?;
            tracing::info!(thread = self.name, task = %id, "standby task running");
            self.standbys.insert(id, Standby { task, lock });
        }
        // Compared with what was reported: a promotion removes a standby elsewhere.
        let now: BTreeSet<TaskId> = self.standbys.keys().copied().collect();
        if now != self.reported_standbys {
            self.reported_standbys = now.clone();
            self.inner.thread_standbys(self.index, now);
        }
        Ok(())
    }

    /// Opens a standby's stores; its logged ones continue from the
    /// checkpoint when they persist (an in-memory store starts empty).
    fn open_standby(&self, id: TaskId) -> Result<StandbyTask> {
        let shared = &self.shared;
        let checkpoint = shared.state_dir.read_checkpoint(id)?;
        let mut stores: BTreeMap<String, Box<dyn KeyValueBytesStore>> = BTreeMap::new();
        let mut changelogs = Vec::new();
        let mut from = BTreeMap::new();
        for name in shared.stores.get(&id.subtopology).into_iter().flatten() {
            if shared.globals.contains_key(name) {
                continue;
            }
            let spec = shared
                .topology
                .stores()
                .get(name)
                .ok_or_else(|| StreamsError::Topology(format!("task {id}: unknown store {name}")))?;
            let store = shared.state_dir.open_store(id, spec)?;
            if spec.logging {
                let topic = spec.changelog_topic(&shared.config.application_id);
                let tp = (topic.clone(), id.partition);
                if store.persistent() {
                    if let Some(o) = checkpoint.get(&tp) {
                        from.insert(tp, *o);
                    }
                }
                changelogs.push((name.clone(), topic));
            }
            stores.insert(name.clone(), store);
        }
        Ok(StandbyTask::new(id, stores, changelogs, &from))
    }

    /// One short poll of every standby's changelogs.
    async fn update_standbys(&mut self) -> Result<()> {
        if self.standbys.is_empty() {
            return Ok(());
        }
        if self.standby_restorer.is_none() {
            let config = &self.shared.config;
            self.standby_restorer = Some(
                Restorer::new(&config.bootstrap_servers, &config.restore_consumer_props(), config.exactly_once())
                    .await?,
            );
        }
        let Some(restorer) = self.standby_restorer.as_mut() else { return Ok(()) };
        update_standbys(restorer, self.standbys.values_mut().map(|s| &mut s.task), STANDBY_POLL).await?;
        Ok(())
    }

    /// Flushes every standby's stores and writes its checkpoint.
    fn commit_standbys(&mut self) -> Result<()> {
        for s in self.standbys.values_mut() {
            s.task.commit(&self.shared.state_dir)?;
        }
        Ok(())
    }

    /// Processes buffered records, up to `BATCH`, round robin over tasks.
    async fn process(&mut self) -> Result<usize> {
        let config = self.shared.config.clone();
        let mut done = 0;
        loop {
            let mut progressed = false;
            for t in self.tasks.values_mut() {
                for _ in 0..100 {
                    let Some(r) = t.next_record(config.max_task_idle_ms) else { break };
                    progressed = true;
                    done += 1;
                    let (topic, partition, offset) = (r.topic.clone(), r.partition, r.offset);
                    if r.timestamp < 0 && config.timestamp_extractor == TimestampExtractorKind::LogAndSkipOnInvalid {
                        tracing::warn!(topic, partition, offset, timestamp = r.timestamp,
                            "input record has an invalid (negative) timestamp; skipping it (LogAndSkipOnInvalidTimestamp)");
                        t.consumed(&topic, partition, offset);
                        continue;
                    }
                    match t.exec.process(r) {
                        Ok(()) => t.consumed(&topic, partition, offset),
                        Err(StreamsError::Serde(e)) => match config.deserialization_handler {
                            DeserializationHandler::LogAndContinue => {
                                tracing::warn!(task = %t.id, topic, partition, offset, error = %e,
                                    "Exception caught during Deserialization; skipping the record (LogAndContinueExceptionHandler)");
                                t.consumed(&topic, partition, offset);
                            }
                            DeserializationHandler::LogAndFail => {
                                return Err(StreamsError::Processing(format!(
                                    "Deserialization exception handler is set to fail upon a deserialization \
                                     error. If you would rather have the streaming pipeline continue after a \
                                     deserialization error, please set the default.deserialization.exception.handler \
                                     appropriately. Task {}, topic {topic}, partition {partition}, offset {offset}: {e}",
                                    t.id
                                )));
                            }
                        },
                        Err(e) => {
                            return Err(StreamsError::Processing(format!(
                                "Exception caught in process. taskId={}, topic={topic}, partition={partition}, \
                                 offset={offset}: {e}",
                                t.id
                            )))
                        }
                    }
                }
            }
            if !progressed || done >= BATCH {
                break;
            }
        }
        let now = now_ms();
        for t in self.tasks.values_mut() {
            t.exec.punctuate_wall_clock(now)?;
        }
        self.drain().await?;
        Ok(done)
    }

    fn commit_requested(&mut self) -> bool {
        let mut any = false;
        for t in self.tasks.values_mut() {
            any |= t.exec.take_commit_request();
        }
        any
    }

    fn route(&mut self, records: Vec<ConsumerRecord>) {
        let mut by_tp: BTreeMap<(String, i32), TaskId> = BTreeMap::new();
        for (id, t) in &self.tasks {
            for tp in &t.partitions {
                by_tp.insert(tp.clone(), *id);
            }
        }
        for r in records {
            match by_tp.get(&(r.topic.clone(), r.partition)).and_then(|id| self.tasks.get_mut(id)) {
                Some(t) => t.add(input(r)),
                None => {
                    tracing::debug!(topic = r.topic, partition = r.partition, "record of a partition without a task")
                }
            }
        }
    }
}

fn fail_on_production_error(shared: &Shared) -> bool {
    shared.config.production_handler == super::config::ProductionHandler::Fail
}

/// The thread's producer, transactional under exactly_once_v2 (initialised).
async fn make_producer(shared: &Shared, index: usize) -> Result<Producer> {
    let config = &shared.config;
    let txn_id =
        config.exactly_once().then(|| format!("{}-{}-{}", config.application_id, shared.process_id, index + 1));
    let pc = config.producer_config(&format!("StreamThread-{}-producer", index + 1), txn_id)?;
    let producer = Producer::new(pc).await?;
    if config.exactly_once() {
        producer.init_transactions(TXN_TIMEOUT).await.map_err(|e| production_error("(init transactions)", e))?;
    }
    Ok(producer)
}

/// Runs one stream thread until shutdown or failure; reports to `inner`.
pub(crate) async fn run(shared: Arc<Shared>, inner: Arc<Inner>, index: usize) {
    let result = run_inner(shared, inner.clone(), index).await;
    inner.thread_finished(index, result.err());
}

async fn run_inner(shared: Arc<Shared>, inner: Arc<Inner>, index: usize) -> Result<()> {
    let name = format!("StreamThread-{}", index + 1);
    let config = shared.config.clone();
    inner.thread_state(index, ThreadState::Starting);
    let producer = make_producer(&shared, index).await?;
    let mut cc = config.consumer_config(Which::Main, &format!("{name}-consumer"))?;
    let client_state = Arc::new(Mutex::new(ClientState {
        process_id: shared.process_id,
        thread: index,
        task_offset_sums: shared.state_dir.local_task_offset_sums(),
        ..ClientState::default()
    }));
    let assigned_slot = Arc::new(Mutex::new(None));
    let topology = AssignorTopology {
        subtopologies: shared
            .resolved
            .subtopologies
            .iter()
            .map(|(id, st)| {
                (*id, st.sources.iter().cloned().collect(), st.changelogs.iter().map(|(_, t)| t.clone()).collect())
            })
            .collect(),
        copartition_groups: shared.resolved.copartition_groups.clone(),
    };
    cc.custom_assignor = Some(Arc::new(StreamsAssignor::new(
        Arc::new(topology),
        config.num_standby_replicas,
        client_state.clone(),
        assigned_slot.clone(),
    )));
    let mut consumer = Consumer::new(cc).await?;
    let restorer =
        Restorer::new(&config.bootstrap_servers, &config.restore_consumer_props(), config.exactly_once()).await?;
    let collector = Collector::new();
    for (t, n) in &shared.counts {
        collector.set_partition_count(t, *n);
    }
    let core = Arc::new(AsyncMutex::new(Core {
        shared: shared.clone(),
        inner: inner.clone(),
        index,
        name: name.clone(),
        tasks: BTreeMap::new(),
        collector,
        sender: Sender::new(producer, fail_on_production_error(&shared)),
        restorer,
        in_txn: false,
        failure: None,
        revoked: false,
        standbys: BTreeMap::new(),
        standby_restorer: None,
        client_state,
        assigned_slot,
        current: None,
        reported_standbys: BTreeSet::new(),
    }));
    let hook_core = core.clone();
    let hook: RevocationHook = Arc::new(move |_partitions, meta| {
        let core = hook_core.clone();
        Box::pin(async move {
            let mut c = core.lock().await;
            c.revoke(meta).await
        })
    });
    consumer.set_revocation_hook(Some(hook));
    let topics: Vec<String> = shared.resolved.all_sources.iter().cloned().collect();
    consumer.subscribe(topics).await?;
    let result = run_loop(&shared, &inner, index, &core, &mut consumer).await;
    // Shut down: a clean close commits and checkpoints; after a failure the tasks close dirty.
    let mut c = core.lock().await;
    inner.thread_state(index, ThreadState::PendingShutdown);
    match &result {
        Ok(()) => match c.commit(consumer.group_metadata()).await {
            Ok(offsets) => {
                if let Err(e) = consumer.commit_offsets(offsets).await {
                    tracing::warn!(thread = name, error = %e, "committing at shutdown failed");
                }
                let tasks = std::mem::take(&mut c.tasks);
                for (id, t) in tasks {
                    if let Err(e) = t.close_clean(&shared.state_dir, &c.sender.changelog_offsets) {
                        tracing::warn!(task = %id, error = %e, "closing a task failed");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(thread = name, error = %e, "committing at shutdown failed; closing tasks dirty");
                c.abort_and_close_dirty().await;
            }
        },
        Err(_) => c.abort_and_close_dirty().await,
    }
    if let Err(e) = c.commit_standbys() {
        tracing::warn!(thread = name, error = %e, "committing standby tasks at shutdown failed");
    }
    c.standbys.clear();
    inner.thread_standbys(index, BTreeSet::new());
    if let Some(r) = c.standby_restorer.take() {
        if let Err(e) = r.close().await {
            tracing::debug!(error = %e, "closing the standby restorer");
        }
    }
    consumer.set_revocation_hook(None);
    if let Err(e) = consumer.close().await {
        tracing::debug!(error = %e, "closing the consumer");
    }
    let producer = c.sender.producer.clone();
    drop(c);
    if let Err(e) = producer.close().await {
        tracing::debug!(error = %e, "closing the producer");
    }
    result
}

async fn run_loop(
    shared: &Arc<Shared>,
    inner: &Arc<Inner>,
    index: usize,
    core: &Arc<AsyncMutex<Core>>,
    consumer: &mut Consumer,
) -> Result<()> {
    let config = shared.config.clone();
    let poll = Duration::from_millis(config.poll_ms.max(1));
    let mut last_commit = Instant::now();
    let mut busy = false;
    loop {
        if inner.shutdown.load(Ordering::Acquire) {
            return Ok(());
        }
        // With records still buffered in the tasks, only look for news:
        // blocking here would cap a thread at BATCH records per poll.ms.
        let records = consumer.poll(if busy { Duration::ZERO } else { poll }).await?;
        let mut c = core.lock().await;
        if let Some(e) = c.failure.take() {
            return Err(e);
        }
        let generation = consumer.generation();
        let fresh = c.take_assignment()?;
        let owned: BTreeSet<TopicPartition> = consumer.assignment().into_iter().collect();
        let desired = c.desired_active(&owned);
        let migrated = c.reconcile(desired).await?;
        c.reconcile_standbys()?;
        if fresh {
            c.report_assignment();
        }
        if migrated {
            drop(c);
            reset_positions(consumer).await?;
            continue;
        }
        c.update_standbys().await?;
        if generation >= 0 && !c.revoked {
            inner.thread_state(index, ThreadState::Running);
        }
        c.route(records);
        let step = c.process().await;
        let step = match step {
            Err(StreamsError::TaskMigrated(why)) => {
                tracing::warn!(why, "tasks migrated; closing them dirty and starting over from the committed offsets");
                c.abort_and_close_dirty().await;
                drop(c);
                reset_positions(consumer).await?;
                continue;
            }
            other => other,
        };
        let processed = step?;
        // Progress and more to do (a task waiting out max.task.idle.ms is not progress).
        busy = processed > 0 && c.tasks.values().any(|t| t.buffered() > 0);
        let requested = c.commit_requested();
        if requested || last_commit.elapsed() >= config.commit_interval() {
            last_commit = Instant::now();
            c.commit_standbys()?;
            match c.commit(consumer.group_metadata()).await {
                Ok(offsets) => {
                    match consumer.commit_offsets(offsets).await {
                        Ok(()) => {
                            c.committed()?;
                            c.refresh_offset_sums();
                        }
                        // A rebalance is under way: the hook commits again before the partitions move.
                        Err(e) => tracing::warn!(error = %e, "committing offsets failed"),
                    }
                }
                Err(StreamsError::TaskMigrated(why)) => {
                    tracing::warn!(
                        why,
                        "commit failed; closing tasks dirty and starting over from the committed offsets"
                    );
                    c.abort_and_close_dirty().await;
                    drop(c);
                    reset_positions(consumer).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sends the consumer back to the committed offsets of its assignment.
async fn reset_positions(consumer: &mut Consumer) -> Result<()> {
    let parts: Vec<TopicPartition> = consumer.assignment();
    if parts.is_empty() {
        return Ok(());
    }
    let committed = consumer.committed(&parts).await?;
    for tp in parts {
        let to = match committed.get(&tp).copied().flatten() {
            Some(o) => SeekTo::Offset(o),
            None => SeekTo::Beginning,
        };
        consumer.seek(&tp.0, tp.1, to).await?;
    }
    Ok(())
}

/// A sink for global feeds: their processors only write their store.
struct NullSink;

impl RecordSink for NullSink {
    fn send(
        &mut self,
        topic: &str,
        _partition: Option<i32>,
        _key: Option<bytes::Bytes>,
        _value: Option<bytes::Bytes>,
        _timestamp: i64,
        _headers: &Headers,
    ) -> Result<()> {
        Err(StreamsError::Topology(format!("a global store's processor cannot forward records (to {topic})")))
    }
    fn partition_count(&mut self, _topic: &str) -> Option<i32> {
        None
    }
}

/// The global stores and the tasks that feed them.
pub(crate) struct GlobalThread {
    feeds: Vec<TaskExecutor>,
    consumer: Consumer,
    /// Topic → feed index.
    by_topic: BTreeMap<String, usize>,
}

impl GlobalThread {
    /// Opens the global stores (in memory) and their feeds; fills them from
    /// the beginning of their topics to the end as of now.
    pub async fn start(
        topology: &Arc<Topology>,
        config: &StreamsConfig,
        resolved: &ResolvedTopics,
    ) -> Result<(GlobalThread, BTreeMap<String, SharedStore>)> {
        let mut stores = BTreeMap::new();
        let mut feeds = Vec::new();
        let mut by_topic = BTreeMap::new();
        let mut assignment = Vec::new();
        for (i, g) in topology.global_stores().iter().enumerate() {
            let store = SharedStore::new(Box::new(InMemoryStore::new()));
            stores.insert(g.store.clone(), store.clone());
            let mut nodes = vec![g.source];
            nodes.extend(topology.nodes()[g.source].children.iter().copied());
            let mut opened: BTreeMap<String, Box<dyn KeyValueBytesStore>> = BTreeMap::new();
            opened.insert(g.store.clone(), Box::new(store));
            let setup = TaskSetup {
                application_id: config.application_id.clone(),
                task: TaskId { subtopology: 1000 + i as u32, partition: -1 },
                topology: topology.clone(),
                nodes,
                stores: opened,
                cache_max_bytes: 0,
                logging: false,
                default_timestamp_extractor: config.timestamp_extractor.extractor(),
            };
            let mut exec = TaskExecutor::new(setup, Box::new(NullSink))?;
            exec.init()?;
            if let Some((topic, n)) = resolved.global_sources.get(&g.store) {
                by_topic.insert(topic.clone(), feeds.len());
                for p in 0..*n {
                    assignment.push((topic.clone(), p));
                }
            }
            feeds.push(exec);
        }
        let cc = config.consumer_config(Which::Global, "global-consumer")?;
        let mut consumer = Consumer::new(cc).await?;
        let mut ends = BTreeMap::new();
        if !assignment.is_empty() {
            consumer.assign(assignment.clone()).await?;
            for (t, p) in &assignment {
                consumer.seek(t, *p, SeekTo::End).await?;
                if let Some(end) = consumer.position(t, *p) {
                    ends.insert((t.clone(), *p), end);
                }
                consumer.seek(t, *p, SeekTo::Beginning).await?;
            }
        }
        let mut g = GlobalThread { feeds, consumer, by_topic };
        // Bootstrap: everything up to the end offsets read at start.
        let deadline = Instant::now() + Duration::from_secs(300);
        while ends.iter().any(|((t, p), end)| g.consumer.position(t, *p).is_none_or(|pos| pos < *end)) {
            if Instant::now() > deadline {
                return Err(StreamsError::Processing("global stores did not restore within 300 s".into()));
            }
            g.step(config, Duration::from_millis(200)).await?;
        }
        Ok((g, stores))
    }

    async fn step(&mut self, config: &StreamsConfig, timeout: Duration) -> Result<()> {
        for r in self.consumer.poll(timeout).await? {
            let Some(&i) = self.by_topic.get(&r.topic) else { continue };
            let (topic, partition, offset) = (r.topic.clone(), r.partition, r.offset);
            match self.feeds[i].process(input(r)) {
                Ok(()) => {}
                Err(StreamsError::Serde(e))
                    if config.deserialization_handler == DeserializationHandler::LogAndContinue =>
                {
                    tracing::warn!(topic, partition, offset, error = %e, "skipping a global record that cannot be deserialized");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Keeps the stores current until shutdown.
    pub async fn run(mut self, config: Arc<StreamsConfig>, inner: Arc<Inner>) {
        let poll = Duration::from_millis(config.poll_ms.max(1));
        while !inner.shutdown.load(Ordering::Acquire) {
            if let Err(e) = self.step(&config, poll).await {
                tracing::error!(error = %e, "the global stream thread failed");
                inner.global_failed(e);
                break;
            }
        }
        for f in &mut self.feeds {
            f.close();
        }
        let _ = self.consumer.close().await;
    }
}
