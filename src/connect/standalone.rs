//! The standalone worker: one process runs the connectors it was given,
//! with Kafka's worker keys — `bootstrap.servers`, `key.converter` /
//! `value.converter` (and their `.`-prefixed settings),
//! `offset.storage.file.filename`, `offset.flush.interval.ms` (default
//! 60000), `producer.`/`consumer.` prefixed client settings. The task loops
//! themselves are in [`super::worker`]; [`StandaloneHerder`] answers the
//! REST API ([`super::rest`], on `listeners`) over one [`Worker`].
//!
//! Source offsets live in one file (`{"<connector>": [{"partition": {…},
//! "offset": {…}}]}`; Kafka's is a Java-serialized map), replaced
//! atomically and durably each time offsets are stored. Sink offsets are
//! the consumer group `connect-<name>`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::api::{required, ConnectorType, SourceMap};
use super::herder::{
    ConnectorInfo, ConnectorState, ConnectorStatus, ConnectorTaskId, Herder, HerderError, HerderResult, TaskInfo,
    TaskState, TaskStatus,
};
use super::rest::RestConfig;
use super::worker::{self, BoxFuture, OffsetStore, Worker, WorkerConfig};
use super::{Config, ConnectError, Result};

/// Source offsets by connector, persisted in one file.
pub struct OffsetFile {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Vec<(SourceMap, SourceMap)>>>,
}

impl OffsetFile {
    /// Loads the file; a missing one is empty, an unreadable one an error.
    pub fn open(path: &Path) -> Result<OffsetFile> {
        let mut entries: BTreeMap<String, Vec<(SourceMap, SourceMap)>> = BTreeMap::new();
        match std::fs::read(path) {
            Ok(bytes) if !bytes.is_empty() => {
                let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    ConnectError::Config(format!(
                        "offset.storage.file.filename {} is not an offsets file: {e}",
                        path.display()
                    ))
                })?;
                for (connector, list) in json.as_object().into_iter().flatten() {
                    for e in list.as_array().into_iter().flatten() {
                        if let (Some(Value::Object(p)), Some(Value::Object(o))) = (e.get("partition"), e.get("offset"))
                        {
                            entries.entry(connector.clone()).or_default().push((p.clone(), o.clone()));
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConnectError::io(path.display(), e)),
        }
        Ok(OffsetFile { path: path.to_path_buf(), entries: Mutex::new(entries) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<(SourceMap, SourceMap)>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records new offsets and writes the file (temporary file, then rename).
    fn write(&self, connector: &str, offsets: Vec<(SourceMap, SourceMap)>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let text = {
            let mut all = self.lock();
            let list = all.entry(connector.to_string()).or_default();
            for (p, o) in offsets {
                match list.iter_mut().find(|(q, _)| *q == p) {
                    Some(entry) => entry.1 = o,
                    None => list.push((p, o)),
                }
            }
            let json: serde_json::Map<String, Value> = all
                .iter()
                .map(|(c, list)| {
                    let items =
                        list.iter().map(|(p, o)| serde_json::json!({"partition": p, "offset": o})).collect::<Vec<_>>();
                    (c.clone(), Value::Array(items))
                })
                .collect();
            Value::Object(json).to_string()
        };
        crate::storage::replace_file(&self.path, text.as_bytes()).map_err(|e| ConnectError::io(self.path.display(), e))
    }
}

impl OffsetStore for OffsetFile {
    fn get(&self, connector: &str, partition: &SourceMap) -> Option<SourceMap> {
        self.lock().get(connector)?.iter().find(|(p, _)| p == partition).map(|(_, o)| o.clone())
    }

    fn put_all<'a>(&'a self, connector: &'a str, offsets: Vec<(SourceMap, SourceMap)>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.write(connector, offsets) })
    }
}

/// The standalone worker's settings: the common ones and the offsets file.
#[derive(Clone)]
pub struct StandaloneConfig {
    pub worker: WorkerConfig,
    pub offsets_file: PathBuf,
    /// `listeners`, `rest.advertised.host.name`, `rest.advertised.port`.
    pub rest: RestConfig,
}

impl StandaloneConfig {
    pub fn from_props(props: Config) -> Result<StandaloneConfig> {
        let offsets_file = PathBuf::from(required(&props, "offset.storage.file.filename")?);
        let rest = RestConfig::from_props(&props).map_err(|e| ConnectError::Config(e.to_string()))?;
        let worker = WorkerConfig::from_props(props)?;
        Ok(StandaloneConfig { worker, offsets_file, rest })
    }
}

/// A connector config from the command line, checked before the worker
/// binds anything so a bad file stops it at once (the herder makes the task
/// configs when the connector is created).
pub struct ConnectorSetup {
    pub name: String,
    pub config: Config,
}

/// Checks a connector config (name, class, the connector's own keys).
pub fn prepare(config: Config) -> Result<ConnectorSetup> {
    worker::task_configs(&config)?;
    let name = required(&config, "name")?.trim().to_string();
    Ok(ConnectorSetup { name, config })
}

/// One connector the standalone herder knows.
struct Connector {
    config: Config,
    kind: ConnectorType,
    task_configs: Vec<Config>,
    /// Set by `PUT …/pause`: its tasks are stopped until resumed.
    paused: bool,
    /// Why its tasks could not be started, shown as the connector's FAILED trace.
    failure: Option<String>,
}

/// Kafka's `StandaloneHerder`: connectors and their configs live in this
/// process only (those given on the command line are created at startup,
/// the REST API may add more); tasks run on one [`Worker`]. A failed task
/// shows as FAILED in the status and the worker keeps serving, as Kafka's.
///
/// One async mutex serializes every change: a pause or config update stops
/// tasks (they flush and commit, which may take a while) before the next
/// request sees the connector, so no request observes half a change.
pub struct StandaloneHerder {
    worker: Worker,
    connectors: tokio::sync::Mutex<BTreeMap<String, Connector>>,
    cluster_id: tokio::sync::OnceCell<String>,
}

impl StandaloneHerder {
    /// A herder whose worker reports `worker_id` (the REST `host:port`).
    pub fn new(config: StandaloneConfig, worker_id: String) -> Result<StandaloneHerder> {
        let offsets = Arc::new(OffsetFile::open(&config.offsets_file)?);
        Ok(StandaloneHerder {
            worker: Worker::new(config.worker, worker_id, offsets),
            connectors: tokio::sync::Mutex::new(BTreeMap::new()),
            cluster_id: tokio::sync::OnceCell::new(),
        })
    }

    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Stops every task (each flushes and commits); connectors stay known.
    pub async fn stop(&self) {
        let _guard = self.connectors.lock().await;
        self.worker.stop_all().await;
    }

    /// Starts a connector's tasks; a task that cannot start fails the connector.
    fn start_tasks(&self, name: &str, c: &mut Connector) {
        c.failure = None;
        for (i, task_config) in c.task_configs.iter().enumerate() {
            if let Err(e) = self.worker.start_task(name, i, &c.config, task_config.clone()) {
                tracing::error!(connector = name, task = i, error = %e, "cannot start the task");
                c.failure = Some(e.to_string());
                return;
            }
        }
    }

    fn status_of(&self, name: &str, c: &Connector) -> ConnectorStatus {
        let worker_id = self.worker.worker_id().to_string();
        let connector_state = match (&c.failure, c.paused) {
            (Some(trace), _) => {
                ConnectorState { state: TaskState::Failed, worker_id: worker_id.clone(), trace: Some(trace.clone()) }
            }
            (None, true) => ConnectorState { state: TaskState::Paused, worker_id: worker_id.clone(), trace: None },
            (None, false) => ConnectorState { state: TaskState::Running, worker_id: worker_id.clone(), trace: None },
        };
        let tasks = (0..c.task_configs.len())
            .map(|id| {
                let (state, trace) = match self.worker.task_state(name, id) {
                    Some((TaskState::Failed, trace)) => (TaskState::Failed, trace),
                    Some((state, _)) if !c.paused => (state, None),
                    _ if c.paused => (TaskState::Paused, None),
                    _ => (TaskState::Unassigned, None),
                };
                TaskStatus { id, state, worker_id: worker_id.clone(), trace }
            })
            .collect();
        ConnectorStatus { name: name.to_string(), connector: connector_state, tasks, kind: c.kind }
    }
}

fn info_of(name: &str, c: &Connector) -> ConnectorInfo {
    ConnectorInfo {
        name: name.to_string(),
        config: c.config.clone(),
        tasks: (0..c.task_configs.len()).map(|task| ConnectorTaskId { connector: name.to_string(), task }).collect(),
        kind: c.kind,
    }
}

impl Herder for StandaloneHerder {
    async fn connectors(&self) -> HerderResult<Vec<String>> {
        Ok(self.connectors.lock().await.keys().cloned().collect())
    }

    async fn connector_info(&self, name: &str) -> HerderResult<ConnectorInfo> {
        let all = self.connectors.lock().await;
        let c = all.get(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        Ok(info_of(name, c))
    }

    async fn put_connector_config(
        &self,
        name: &str,
        mut config: Config,
        allow_replace: bool,
    ) -> HerderResult<(bool, ConnectorInfo)> {
        match config.get("name") {
            Some(n) if n.trim() != name => {
                return Err(HerderError::BadRequest(format!(
                    "Connector name configuration ({n}) doesn't match connector name in the URL ({name})"
                )))
            }
            Some(_) => {}
            None => {
                config.insert("name".into(), name.to_string());
            }
        }
        let (kind, task_configs) = worker::task_configs(&config).map_err(|e| match e {
            // Kafka's wording for a config the validation refuses.
            ConnectError::Config(m) => HerderError::BadRequest(format!(
                "Connector configuration is invalid and contains the following 1 error(s):\n{m}\nYou can also find \
                 the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`"
            )),
            other => HerderError::from(other),
        })?;
        let mut all = self.connectors.lock().await;
        let created = match all.remove(name) {
            Some(old) if !allow_replace => {
                all.insert(name.to_string(), old);
                return Err(HerderError::Conflict(format!("Connector {name} already exists")));
            }
            Some(old) => {
                // The old tasks flush and commit before the new config runs.
                self.worker.stop_connector(name).await;
                let mut c = Connector { config, kind, task_configs, paused: old.paused, failure: None };
                if !c.paused {
                    self.start_tasks(name, &mut c);
                }
                all.insert(name.to_string(), c);
                false
            }
            None => {
                // Tasks of an earlier connector of this name that failed are forgotten.
                self.worker.stop_connector(name).await;
                let mut c = Connector { config, kind, task_configs, paused: false, failure: None };
                self.start_tasks(name, &mut c);
                all.insert(name.to_string(), c);
                true
            }
        };
        tracing::info!(connector = name, created, "connector config stored");
        let info = all.get(name).map(|c| info_of(name, c)).ok_or_else(|| HerderError::connector_not_found(name))?;
        Ok((created, info))
    }

    async fn delete_connector(&self, name: &str) -> HerderResult<()> {
        let mut all = self.connectors.lock().await;
        if all.remove(name).is_none() {
            return Err(HerderError::connector_not_found(name));
        }
        self.worker.stop_connector(name).await;
        tracing::info!(connector = name, "connector deleted");
        Ok(())
    }

    async fn connector_status(&self, name: &str) -> HerderResult<ConnectorStatus> {
        let all = self.connectors.lock().await;
        let c = all.get(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        Ok(self.status_of(name, c))
    }

    async fn task_configs(&self, name: &str) -> HerderResult<Vec<TaskInfo>> {
        let all = self.connectors.lock().await;
        let c = all.get(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        Ok(TaskInfo::list(name, &c.task_configs))
    }

    async fn pause_connector(&self, name: &str) -> HerderResult<()> {
        let mut all = self.connectors.lock().await;
        let c = all.get_mut(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        if !c.paused {
            c.paused = true;
            // Stopping flushes: what was read so far is in Kafka and its offsets stored.
            self.worker.stop_connector(name).await;
            tracing::info!(connector = name, "connector paused");
        }
        Ok(())
    }

    async fn resume_connector(&self, name: &str) -> HerderResult<()> {
        let mut all = self.connectors.lock().await;
        let c = all.get_mut(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        if c.paused {
            c.paused = false;
            self.start_tasks(name, c);
            tracing::info!(connector = name, "connector resumed");
        }
        Ok(())
    }

    async fn restart_connector(&self, name: &str, include_tasks: bool, only_failed: bool) -> HerderResult<()> {
        let mut all = self.connectors.lock().await;
        let c = all.get_mut(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        if c.paused {
            return Ok(());
        }
        // The connector itself: its config is checked again and its task
        // configs made anew; tasks restart when those changed.
        let connector_failed = c.failure.is_some();
        let (_, fresh) = worker::task_configs(&c.config)?;
        let changed = fresh != c.task_configs;
        let restart_connector = !only_failed || connector_failed;
        let tasks: Vec<usize> = if (restart_connector && changed) || (include_tasks && !only_failed) {
            (0..c.task_configs.len().max(fresh.len())).collect()
        } else if include_tasks || connector_failed {
            let failed = (0..c.task_configs.len())
                .filter(|&i| !matches!(self.worker.task_state(name, i), Some((TaskState::Running, _))));
            failed.collect()
        } else {
            Vec::new()
        };
        if restart_connector {
            c.task_configs = fresh;
            c.failure = None;
        }
        for &task in &tasks {
            self.worker.stop_task(name, task).await;
        }
        for task in tasks {
            let Some(task_config) = c.task_configs.get(task).cloned() else { continue };
            if let Err(e) = self.worker.start_task(name, task, &c.config, task_config) {
                c.failure = Some(e.to_string());
                break;
            }
        }
        tracing::info!(connector = name, include_tasks, only_failed, "connector restarted");
        Ok(())
    }

    async fn restart_task(&self, name: &str, task: usize) -> HerderResult<()> {
        let all = self.connectors.lock().await;
        let c = all.get(name).ok_or_else(|| HerderError::connector_not_found(name))?;
        let task_config = c
            .task_configs
            .get(task)
            .cloned()
            .ok_or_else(|| HerderError::NotFound(format!("Task {name}-{task} not found")))?;
        self.worker.stop_task(name, task).await;
        if !c.paused {
            self.worker.start_task(name, task, &c.config, task_config)?;
        }
        tracing::info!(connector = name, task, "task restarted");
        Ok(())
    }

    async fn kafka_cluster_id(&self) -> HerderResult<String> {
        let bootstrap = self.worker.config().bootstrap.clone();
        self.cluster_id
            .get_or_try_init(|| async move {
                let lookup = async {
                    let admin = crate::client::Admin::connect(crate::client::ClientConfig::new(bootstrap)).await?;
                    admin.cluster().await
                };
                match tokio::time::timeout(Duration::from_secs(30), lookup).await {
                    Ok(Ok(info)) => Ok(info.cluster_id.unwrap_or_default()),
                    Ok(Err(e)) => Err(HerderError::Internal(format!("Could not look up the Kafka cluster ID: {e}"))),
                    Err(_) => Err(HerderError::Internal("Could not look up the Kafka cluster ID: timed out".into())),
                }
            })
            .await
            .cloned()
    }
}
