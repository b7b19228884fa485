//! The distributed herder: connector configs, target states and restart
//! requests go into the config topic (whichever worker the REST call
//! reached writes them; Kafka forwards writes to the leader instead), and
//! every worker follows that topic. A change of connectors or of task
//! configs makes the workers rejoin the group; the leader deals connectors
//! and tasks round-robin; each worker then runs exactly what it was given
//! (eager protocol: everything is stopped before every join, so no task
//! ever runs twice). States are written to the status topic by the worker
//! that runs the task and read back from it by any worker.
//!
//! Differences from Kafka worth knowing: pausing stops the task (its
//! offsets are flushed and committed) and resuming starts it again from
//! them; a task restart on another worker travels as a
//! `restart-task-<name>-<n>` config record (Kafka forwards the REST call);
//! `scheduled.rebalance.max.delay.ms` is accepted and unused (no
//! incremental cooperative rebalancing).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::super::api::{self, Plugin};
use super::super::herder::{
    ConnectorInfo, ConnectorState, ConnectorStatus, ConnectorTaskId, ConnectorType, Herder, HerderError, HerderResult,
    TaskInfo, TaskState, TaskStatus,
};
use super::super::worker::{self, Worker};
use super::super::{Config, ConnectError, Result};
use super::config::DistributedConfig;
use super::group::GroupMember;
use super::log::{ensure_topic, TopicLog};
use super::offsets::KafkaOffsetStore;
use super::protocol::{self, Assignment, WorkerMetadata, NO_ERROR};
use super::records::{ConfigRecord, Status, StatusKey, TargetState};
use crate::client::{Admin, ClientConfig};

/// How long reading an internal topic to its end may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the herder looks at its tasks when nothing wakes it.
const TICK: Duration = Duration::from_millis(250);
/// Pause after a failed join before trying again.
const BACKOFF: Duration = Duration::from_millis(500);

/// What the config topic says, as far as this worker has read it.
#[derive(Debug, Default)]
struct ConfigState {
    connectors: BTreeMap<String, Config>,
    /// Committed task configs per connector.
    tasks: BTreeMap<String, Vec<Config>>,
    /// Task configs read but not yet committed.
    pending: BTreeMap<String, BTreeMap<usize, Config>>,
    targets: BTreeMap<String, TargetState>,
    /// Restart requests for the herder loop (only those written after startup).
    restarts: Vec<ConfigRecord>,
    /// Whether the startup read is over (older restart requests are history).
    live: bool,
    /// The next offset of the config topic.
    offset: i64,
}

impl ConfigState {
    /// Applies one record; true when the assignment must be made again.
    fn apply(&mut self, record: ConfigRecord) -> bool {
        match record {
            ConfigRecord::Connector { name, config: Some(c) } => {
                let changed = self.connectors.get(&name) != Some(&c);
                self.connectors.insert(name, c);
                changed
            }
            ConfigRecord::Connector { name, config: None } => {
                self.tasks.remove(&name);
                self.pending.remove(&name);
                self.targets.remove(&name);
                self.connectors.remove(&name).is_some()
            }
            ConfigRecord::Task { connector, task, config } => {
                self.pending.entry(connector).or_default().insert(task, config);
                false
            }
            ConfigRecord::Commit { connector, tasks } => {
                let mut pending = self.pending.remove(&connector).unwrap_or_default();
                let previous = self.tasks.get(&connector).cloned().unwrap_or_default();
                let configs: Vec<Config> = (0..tasks)
                    .map(|i| pending.remove(&i).or_else(|| previous.get(i).cloned()).unwrap_or_default())
                    .collect();
                self.tasks.insert(connector, configs);
                true
            }
            ConfigRecord::TargetState { connector, state } => {
                match state {
                    Some(s) => self.targets.insert(connector, s),
                    None => self.targets.remove(&connector),
                };
                false
            }
            r @ (ConfigRecord::RestartConnector { .. } | ConfigRecord::RestartTask { .. }) => {
                if self.live {
                    self.restarts.push(r);
                }
                false
            }
        }
    }

    fn target(&self, connector: &str) -> TargetState {
        self.targets.get(connector).copied().unwrap_or(TargetState::Started)
    }

    /// (connector, task count) of every connector with committed tasks.
    fn task_counts(&self) -> Vec<(String, usize)> {
        self.tasks.iter().filter(|(c, _)| self.connectors.contains_key(*c)).map(|(c, t)| (c.clone(), t.len())).collect()
    }
}

type Statuses = BTreeMap<StatusKey, Status>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the REST side and the herder loop share.
struct Inner {
    worker_id: String,
    url: String,
    worker: Worker,
    offsets: Arc<KafkaOffsetStore>,
    config_log: TopicLog,
    status_log: TopicLog,
    state: Arc<Mutex<ConfigState>>,
    statuses: Arc<Mutex<Statuses>>,
    /// Set by the config reader when connectors or task configs changed.
    reassign: Arc<AtomicBool>,
    /// Woken by the config reader on every record.
    changes: Arc<Notify>,
    rebalancing: AtomicBool,
    /// What this worker was given, and in which generation.
    assignment: Mutex<Option<(i32, Assignment)>>,
    cluster_id: String,
    stop: AtomicBool,
    stopped: Notify,
}

/// A worker of a distributed Connect cluster; cheap to clone.
#[derive(Clone)]
pub struct DistributedHerder {
    inner: Arc<Inner>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl DistributedHerder {
    /// Creates the internal topics if missing, reads them, joins the group
    /// and starts running what it is given. `worker_id` is `host:port` of
    /// the REST listener, `url` its `http://host:port/`.
    pub async fn start(config: DistributedConfig, worker_id: String, url: String) -> Result<DistributedHerder> {
        let w = &config.worker;
        let mut client = ClientConfig::new(w.bootstrap.clone());
        client.client_id = format!("connect-{}-admin", config.group_id);
        let admin = Admin::connect(client).await?;
        let cluster_id = admin.cluster().await?.cluster_id.unwrap_or_default();
        for t in [&config.config_topic, &config.offset_topic, &config.status_topic] {
            ensure_topic(&admin, t).await?;
        }
        let offsets =
            Arc::new(KafkaOffsetStore::start(w, admin.clone(), &config.offset_topic.name, READ_TIMEOUT).await?);

        let statuses: Arc<Mutex<Statuses>> = Arc::default();
        let view = statuses.clone();
        let status_log = TopicLog::start(
            w,
            admin.clone(),
            &config.status_topic.name,
            Box::new(move |r| {
                let Some(key) = &r.key else { return };
                let key = match StatusKey::parse(key) {
                    Ok(k) => k,
                    Err(e) => return tracing::debug!(error = %e, "skipping a record of the status topic"),
                };
                let mut all = lock(&view);
                let Some(value) = &r.value else {
                    all.remove(&key);
                    return;
                };
                match Status::parse(&key.encode(), value) {
                    // A late write of an older generation by another worker does not hide the new owner's.
                    Ok(s) => {
                        let stale = all
                            .get(&key)
                            .is_some_and(|old| old.worker_id != s.worker_id && old.generation > s.generation);
                        if !stale {
                            all.insert(key, s);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "skipping a record of the status topic"),
                }
            }),
        )
        .await?;

        let state: Arc<Mutex<ConfigState>> = Arc::default();
        let reassign = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(Notify::new());
        let (view, flag, wake) = (state.clone(), reassign.clone(), changes.clone());
        let config_log = TopicLog::start(
            w,
            admin.clone(),
            &config.config_topic.name,
            Box::new(move |r| {
                let mut st = lock(&view);
                st.offset = st.offset.max(r.offset + 1);
                let Some(key) = &r.key else { return };
                match ConfigRecord::parse(key, r.value.as_deref()) {
                    Ok(Some(record)) => {
                        if st.apply(record) {
                            flag.store(true, Ordering::Release);
                        }
                        wake.notify_one();
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "skipping a record of the config topic"),
                }
            }),
        )
        .await?;
        config_log.read_to_end(READ_TIMEOUT).await?;
        status_log.read_to_end(READ_TIMEOUT).await?;
        lock(&state).live = true;

        let member = GroupMember::new(
            &w.bootstrap,
            &config.group_id,
            config.session_timeout,
            config.rebalance_timeout,
            config.heartbeat_interval,
        )?;
        let worker = Worker::new(config.worker.clone(), worker_id.clone(), offsets.clone());
        let inner = Arc::new(Inner {
            worker_id,
            url,
            worker,
            offsets,
            config_log,
            status_log,
            state,
            statuses,
            reassign,
            changes,
            rebalancing: AtomicBool::new(true),
            assignment: Mutex::new(None),
            cluster_id,
            stop: AtomicBool::new(false),
            stopped: Notify::new(),
        });
        let task = tokio::spawn(herder_loop(inner.clone(), member));
        tracing::info!(
            worker_id = inner.worker_id,
            group = config.group_id,
            "Kafka Connect distributed worker started"
        );
        Ok(DistributedHerder { inner, task: Arc::new(Mutex::new(Some(task))) })
    }

    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }

    /// The tasks this worker was given in the current generation.
    pub fn assigned_tasks(&self) -> Vec<ConnectorTaskId> {
        lock(&self.inner.assignment).as_ref().map(|(_, a)| a.tasks.clone()).unwrap_or_default()
    }

    /// Whether a rebalance is under way.
    pub fn is_rebalancing(&self) -> bool {
        self.inner.rebalancing.load(Ordering::Acquire)
    }

    /// Stops every task (they flush and commit), reports them UNASSIGNED,
    /// leaves the group and stops reading the internal topics.
    pub async fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.stopped.notify_one();
        let task = lock(&self.task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    async fn read_configs(&self) -> HerderResult<()> {
        self.inner.config_log.read_to_end(READ_TIMEOUT).await.map_err(internal)
    }

    fn connector_config(&self, name: &str) -> HerderResult<Config> {
        lock(&self.inner.state).connectors.get(name).cloned().ok_or_else(|| HerderError::connector_not_found(name))
    }

    async fn write(&self, records: Vec<ConfigRecord>) -> HerderResult<()> {
        let records = records.iter().map(|r| (r.key().into_bytes(), r.value())).collect();
        self.inner.config_log.send_all(records).await.map_err(internal)?;
        self.read_configs().await
    }
}

fn internal(e: ConnectError) -> HerderError {
    HerderError::Internal(e.to_string())
}

fn kind_of(config: &Config) -> ConnectorType {
    match config.get("connector.class").map(|c| api::plugin(c)) {
        Some(Ok(Plugin::Sink(_))) => ConnectorType::Sink,
        _ => ConnectorType::Source,
    }
}

fn task_ids(name: &str, n: usize) -> Vec<ConnectorTaskId> {
    (0..n).map(|task| ConnectorTaskId { connector: name.to_string(), task }).collect()
}

impl Herder for DistributedHerder {
    async fn connectors(&self) -> HerderResult<Vec<String>> {
        Ok(lock(&self.inner.state).connectors.keys().cloned().collect())
    }

    async fn connector_info(&self, name: &str) -> HerderResult<ConnectorInfo> {
        let st = lock(&self.inner.state);
        let config = st.connectors.get(name).cloned().ok_or_else(|| HerderError::connector_not_found(name))?;
        let n = st.tasks.get(name).map_or(0, Vec::len);
        Ok(ConnectorInfo { name: name.to_string(), kind: kind_of(&config), config, tasks: task_ids(name, n) })
    }

    async fn put_connector_config(
        &self,
        name: &str,
        mut config: Config,
        allow_replace: bool,
    ) -> HerderResult<(bool, ConnectorInfo)> {
        match config.get("name") {
            Some(n) if n != name => {
                return Err(HerderError::BadRequest(format!(
                    "Connector name configuration ({n}) doesn't match connector name in the URL ({name})"
                )))
            }
            Some(_) => {}
            None => {
                config.insert("name".into(), name.to_string());
            }
        }
        let (kind, _) = worker::task_configs(&config)?;
        self.read_configs().await?;
        let exists = lock(&self.inner.state).connectors.contains_key(name);
        if exists && !allow_replace {
            return Err(HerderError::Conflict(format!("Connector {name} already exists")));
        }
        self.write(vec![ConfigRecord::Connector { name: name.to_string(), config: Some(config.clone()) }]).await?;
        let n = lock(&self.inner.state).tasks.get(name).map_or(0, Vec::len);
        Ok((!exists, ConnectorInfo { name: name.to_string(), config, tasks: task_ids(name, n), kind }))
    }

    async fn delete_connector(&self, name: &str) -> HerderResult<()> {
        self.read_configs().await?;
        let n = {
            let st = lock(&self.inner.state);
            if !st.connectors.contains_key(name) {
                return Err(HerderError::connector_not_found(name));
            }
            st.tasks.get(name).map_or(0, Vec::len)
        };
        self.write(vec![
            ConfigRecord::Connector { name: name.to_string(), config: None },
            ConfigRecord::TargetState { connector: name.to_string(), state: None },
        ])
        .await?;
        // Its states go too (the tasks stop with the rebalance the deletion causes).
        let mut tombstones = vec![(StatusKey::Connector(name.to_string()).encode().into_bytes(), None)];
        for t in 0..n {
            tombstones.push((StatusKey::Task(name.to_string(), t).encode().into_bytes(), None));
        }
        self.inner.status_log.send_all(tombstones).await.map_err(internal)
    }

    async fn connector_status(&self, name: &str) -> HerderResult<ConnectorStatus> {
        let config = self.connector_config(name)?;
        if let Err(e) = self.inner.status_log.read_to_end(READ_TIMEOUT).await {
            tracing::debug!(error = %e, "answering from the statuses read so far");
        }
        let n = lock(&self.inner.state).tasks.get(name).map_or(0, Vec::len);
        let statuses = lock(&self.inner.statuses);
        let connector = match statuses.get(&StatusKey::Connector(name.to_string())) {
            Some(s) => ConnectorState { state: s.state, worker_id: s.worker_id.clone(), trace: s.trace.clone() },
            None => ConnectorState { state: TaskState::Unassigned, worker_id: String::new(), trace: None },
        };
        let tasks = (0..n)
            .map(|id| match statuses.get(&StatusKey::Task(name.to_string(), id)) {
                Some(s) => TaskStatus { id, state: s.state, worker_id: s.worker_id.clone(), trace: s.trace.clone() },
                None => TaskStatus { id, state: TaskState::Unassigned, worker_id: String::new(), trace: None },
            })
            .collect();
        Ok(ConnectorStatus { name: name.to_string(), connector, tasks, kind: kind_of(&config) })
    }

    async fn task_configs(&self, name: &str) -> HerderResult<Vec<TaskInfo>> {
        let st = lock(&self.inner.state);
        if !st.connectors.contains_key(name) {
            return Err(HerderError::connector_not_found(name));
        }
        Ok(st.tasks.get(name).map(|configs| TaskInfo::list(name, configs)).unwrap_or_default())
    }

    async fn pause_connector(&self, name: &str) -> HerderResult<()> {
        self.connector_config(name)?;
        self.write(vec![ConfigRecord::TargetState { connector: name.to_string(), state: Some(TargetState::Paused) }])
            .await
    }

    async fn resume_connector(&self, name: &str) -> HerderResult<()> {
        self.connector_config(name)?;
        self.write(vec![ConfigRecord::TargetState { connector: name.to_string(), state: Some(TargetState::Started) }])
            .await
    }

    async fn restart_connector(&self, name: &str, include_tasks: bool, only_failed: bool) -> HerderResult<()> {
        self.connector_config(name)?;
        self.write(vec![ConfigRecord::RestartConnector { connector: name.to_string(), include_tasks, only_failed }])
            .await
    }

    async fn restart_task(&self, name: &str, task: usize) -> HerderResult<()> {
        self.connector_config(name)?;
        let n = lock(&self.inner.state).tasks.get(name).map_or(0, Vec::len);
        if task >= n {
            return Err(HerderError::NotFound(format!("Task {name}-{task} not found")));
        }
        self.write(vec![ConfigRecord::RestartTask { connector: name.to_string(), task }]).await
    }

    async fn kafka_cluster_id(&self) -> HerderResult<String> {
        Ok(self.inner.cluster_id.clone())
    }
}

/// The herder loop's own bookkeeping of what it runs.
#[derive(Default)]
struct Local {
    generation: i32,
    connectors: BTreeSet<String>,
    tasks: BTreeSet<(String, usize)>,
    /// Tasks stopped because their connector is paused.
    paused: BTreeSet<(String, usize)>,
    /// Tasks whose failure was reported (start failures included).
    failed: BTreeSet<(String, usize)>,
    /// The connector states last written.
    connector_states: BTreeMap<String, TaskState>,
}

impl Inner {
    async fn put_status(&self, key: StatusKey, state: TaskState, trace: Option<String>, generation: i32) {
        let status = Status { state, trace, worker_id: self.worker_id.clone(), generation };
        if let Err(e) = self.status_log.send(key.encode().into_bytes(), Some(status.encode())).await {
            tracing::warn!(key = key.encode(), error = %e, "writing a status failed");
        }
    }

    /// Starts one assigned task (or reports it PAUSED).
    async fn start_task(&self, local: &mut Local, name: &str, task: usize) {
        let key = (name.to_string(), task);
        let (connector, task_config, target) = {
            let st = lock(&self.state);
            let Some(c) = st.connectors.get(name).cloned() else { return };
            let Some(t) = st.tasks.get(name).and_then(|t| t.get(task)).cloned() else { return };
            (c, t, st.target(name))
        };
        let skey = StatusKey::Task(name.to_string(), task);
        if target == TargetState::Paused {
            local.paused.insert(key);
            self.put_status(skey, TaskState::Paused, None, local.generation).await;
            return;
        }
        local.paused.remove(&key);
        match self.worker.start_task(name, task, &connector, task_config) {
            Ok(()) => {
                local.failed.remove(&key);
                self.put_status(skey, TaskState::Running, None, local.generation).await;
            }
            Err(e) => {
                tracing::error!(connector = name, task, error = %e, "starting a task failed");
                local.failed.insert(key);
                self.put_status(skey, TaskState::Failed, Some(e.to_string()), local.generation).await;
            }
        }
    }

    /// Checks an assigned connector's config, writes its task configs when
    /// they changed (which makes the group rebalance) and reports its state.
    async fn start_connector(&self, local: &mut Local, name: &str) {
        let (config, current, target) = {
            let st = lock(&self.state);
            let Some(c) = st.connectors.get(name).cloned() else { return };
            (c, st.tasks.get(name).cloned(), st.target(name))
        };
        let skey = StatusKey::Connector(name.to_string());
        match worker::task_configs(&config) {
            Ok((_, tasks)) => {
                if current.as_ref() != Some(&tasks) {
                    let mut records: Vec<ConfigRecord> = tasks
                        .iter()
                        .enumerate()
                        .map(|(task, c)| ConfigRecord::Task { connector: name.to_string(), task, config: c.clone() })
                        .collect();
                    records.push(ConfigRecord::Commit { connector: name.to_string(), tasks: tasks.len() });
                    let records = records.iter().map(|r| (r.key().into_bytes(), r.value())).collect();
                    if let Err(e) = self.config_log.send_all(records).await {
                        tracing::warn!(connector = name, error = %e, "writing task configs failed");
                    }
                }
                let state = if target == TargetState::Paused { TaskState::Paused } else { TaskState::Running };
                local.connector_states.insert(name.to_string(), state);
                self.put_status(skey, state, None, local.generation).await;
            }
            Err(e) => {
                local.connector_states.insert(name.to_string(), TaskState::Failed);
                self.put_status(skey, TaskState::Failed, Some(e.to_string()), local.generation).await;
            }
        }
    }

    /// Stops a task and starts it again (a restart request).
    async fn restart_task(&self, local: &mut Local, name: &str, task: usize) {
        tracing::info!(connector = name, task, "restarting task");
        self.worker.stop_task(name, task).await;
        self.start_task(local, name, task).await;
    }

    /// Steady state: pause and resume, restarts, failures.
    async fn tend(&self, local: &mut Local) {
        let targets: BTreeMap<String, TargetState> = {
            let st = lock(&self.state);
            local
                .connectors
                .iter()
                .chain(local.tasks.iter().map(|(c, _)| c))
                .map(|c| (c.clone(), st.target(c)))
                .collect()
        };
        for name in local.connectors.clone() {
            let want =
                if targets.get(&name) == Some(&TargetState::Paused) { TaskState::Paused } else { TaskState::Running };
            let now = local.connector_states.get(&name).copied();
            if now != Some(want) && now != Some(TaskState::Failed) {
                local.connector_states.insert(name.clone(), want);
                self.put_status(StatusKey::Connector(name.clone()), want, None, local.generation).await;
            }
        }
        for (name, task) in local.tasks.clone() {
            let key = (name.clone(), task);
            let paused = targets.get(&name) == Some(&TargetState::Paused);
            if paused && !local.paused.contains(&key) {
                // Stopping flushes and commits; resuming starts from the stored offsets.
                self.worker.stop_task(&name, task).await;
                local.failed.remove(&key);
                local.paused.insert(key);
                self.put_status(StatusKey::Task(name, task), TaskState::Paused, None, local.generation).await;
            } else if !paused && local.paused.contains(&key) {
                self.start_task(local, &name, task).await;
            }
        }
        let restarts = std::mem::take(&mut lock(&self.state).restarts);
        for r in restarts {
            match r {
                ConfigRecord::RestartConnector { connector, include_tasks, only_failed } => {
                    if local.connectors.contains(&connector) {
                        self.start_connector(local, &connector).await;
                    }
                    if include_tasks {
                        let mine: Vec<usize> =
                            local.tasks.iter().filter(|(c, _)| *c == connector).map(|(_, t)| *t).collect();
                        for t in mine {
                            if !only_failed || local.failed.contains(&(connector.clone(), t)) {
                                self.restart_task(local, &connector, t).await;
                            }
                        }
                    }
                }
                ConfigRecord::RestartTask { connector, task } if local.tasks.contains(&(connector.clone(), task)) => {
                    self.restart_task(local, &connector, task).await;
                }
                _ => {}
            }
        }
        for (name, task, trace) in self.worker.failures() {
            if local.failed.insert((name.clone(), task)) {
                self.put_status(StatusKey::Task(name, task), TaskState::Failed, Some(trace), local.generation).await;
            }
        }
    }

    /// Gives back everything this worker runs (eager rebalancing).
    async fn release(&self, local: &mut Local) {
        self.worker.stop_all().await;
        *lock(&self.assignment) = None;
        local.connectors.clear();
        local.tasks.clear();
        local.paused.clear();
        local.failed.clear();
        local.connector_states.clear();
    }

    /// One rebalance: join, assign if leader, sync, start what was given.
    async fn rebalance(&self, member: &mut GroupMember, local: &mut Local) -> Result<()> {
        self.rebalancing.store(true, Ordering::Release);
        self.release(local).await;
        self.reassign.store(false, Ordering::Release);
        self.config_log.read_to_end(READ_TIMEOUT).await?;
        let offset = lock(&self.state).offset;
        let joined = member.join(&WorkerMetadata { url: self.url.clone(), config_offset: offset }).await?;
        let mut assignments = Vec::new();
        if joined.leader == joined.member_id {
            // The leader assigns from a config at least as new as any member's.
            let newest = joined.members.iter().map(|(_, m)| m.config_offset).max().unwrap_or(offset);
            if newest > lock(&self.state).offset {
                self.config_log.read_to_end(READ_TIMEOUT).await?;
            }
            let (connectors, counts, offset) = {
                let st = lock(&self.state);
                (st.connectors.keys().cloned().collect::<Vec<_>>(), st.task_counts(), st.offset)
            };
            let ids: Vec<String> = joined.members.iter().map(|(m, _)| m.clone()).collect();
            let all = protocol::assign(&ids, &connectors, &counts, &joined.member_id, &self.url, offset);
            tracing::info!(generation = joined.generation, members = ids.len(), "assigning as the group leader");
            assignments = all.into_iter().map(|(m, a)| (m, a.encode())).collect();
        }
        let assignment = member.sync(joined.generation, assignments).await?;
        if assignment.error != NO_ERROR {
            member.request_rejoin();
            return Err(ConnectError::Task(format!("the leader refused the assignment (error {})", assignment.error)));
        }
        if assignment.config_offset > lock(&self.state).offset {
            self.config_log.read_to_end(READ_TIMEOUT).await?;
        }
        // Moved tasks resume from the offsets their previous worker stored.
        self.offsets.read_to_end(READ_TIMEOUT).await?;
        tracing::info!(
            generation = joined.generation,
            connectors = ?assignment.connectors,
            tasks = ?assignment.tasks.iter().map(|t| format!("{}-{}", t.connector, t.task)).collect::<Vec<_>>(),
            "joined the group"
        );
        local.generation = joined.generation;
        *lock(&self.assignment) = Some((joined.generation, assignment.clone()));
        self.rebalancing.store(false, Ordering::Release);
        for c in &assignment.connectors {
            local.connectors.insert(c.clone());
            self.start_connector(local, c).await;
        }
        for t in &assignment.tasks {
            local.tasks.insert((t.connector.clone(), t.task));
            self.start_task(local, &t.connector, t.task).await;
        }
        Ok(())
    }
}

/// The herder's one background task: rebalances, then tends its tasks
/// until the next one, until the herder stops.
async fn herder_loop(inner: Arc<Inner>, mut member: GroupMember) {
    let mut local = Local::default();
    let wake = member.wake();
    while !inner.stop.load(Ordering::Acquire) {
        if member.needs_rejoin() || inner.reassign.load(Ordering::Acquire) {
            if let Err(e) = inner.rebalance(&mut member, &mut local).await {
                tracing::warn!(error = %e, "rebalance failed; trying again");
                member.request_rejoin();
                tokio::select! {
                    _ = tokio::time::sleep(BACKOFF) => {}
                    _ = inner.stopped.notified() => {}
                }
            }
            continue;
        }
        inner.tend(&mut local).await;
        tokio::select! {
            _ = wake.notified() => {}
            _ = inner.changes.notified() => {}
            _ = inner.stopped.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
    // Shutdown: tasks flush and commit, their states say nobody runs them, the group moves on at once.
    let mine: Vec<(String, usize)> = local.tasks.iter().cloned().collect();
    inner.worker.stop_all().await;
    for (name, task) in mine {
        inner.put_status(StatusKey::Task(name, task), TaskState::Unassigned, None, local.generation).await;
    }
    member.leave().await;
    inner.config_log.close().await;
    inner.status_log.close().await;
    inner.offsets.close().await;
    tracing::info!("Kafka Connect distributed worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn task_configs_take_effect_at_their_commit() {
        let mut st = ConfigState::default();
        assert!(st.apply(ConfigRecord::Connector { name: "a".into(), config: Some(cfg(&[("x", "1")])) }));
        assert!(!st.apply(ConfigRecord::Task { connector: "a".into(), task: 0, config: cfg(&[("t", "0")]) }));
        assert!(!st.tasks.contains_key("a"));
        assert!(st.apply(ConfigRecord::Commit { connector: "a".into(), tasks: 1 }));
        assert_eq!(st.tasks["a"], vec![cfg(&[("t", "0")])]);
        assert_eq!(st.task_counts(), vec![("a".to_string(), 1)]);
        // The same config again changes nothing; a deletion forgets tasks and target state.
        assert!(!st.apply(ConfigRecord::Connector { name: "a".into(), config: Some(cfg(&[("x", "1")])) }));
        st.apply(ConfigRecord::TargetState { connector: "a".into(), state: Some(TargetState::Paused) });
        assert_eq!(st.target("a"), TargetState::Paused);
        assert!(st.apply(ConfigRecord::Connector { name: "a".into(), config: None }));
        assert!(st.tasks.is_empty() && st.targets.is_empty() && st.connectors.is_empty());
        assert_eq!(st.target("a"), TargetState::Started);
    }

    #[test]
    fn restart_requests_from_before_startup_are_history() {
        let mut st = ConfigState::default();
        st.apply(ConfigRecord::RestartTask { connector: "a".into(), task: 0 });
        assert!(st.restarts.is_empty());
        st.live = true;
        st.apply(ConfigRecord::RestartTask { connector: "a".into(), task: 0 });
        assert_eq!(st.restarts.len(), 1);
    }
}
