//! The standalone worker: one process runs the connectors it was given,
//! with Kafka's worker keys — `bootstrap.servers`, `key.converter` /
//! `value.converter` (and their `.`-prefixed settings),
//! `offset.storage.file.filename`, `offset.flush.interval.ms` (default
//! 60000), `producer.`/`consumer.` prefixed client settings. The task loops
//! themselves are in [`super::worker`].
//!
//! Source offsets live in one file (`{"<connector>": [{"partition": {…},
//! "offset": {…}}]}`; Kafka's is a Java-serialized map), replaced
//! atomically and durably each time offsets are stored. Sink offsets are
//! the consumer group `connect-<name>`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::api::{required, SourceMap};
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
}

impl StandaloneConfig {
    pub fn from_props(props: Config) -> Result<StandaloneConfig> {
        let offsets_file = PathBuf::from(required(&props, "offset.storage.file.filename")?);
        let worker = WorkerConfig::from_props(props)?;
        Ok(StandaloneConfig { worker, offsets_file })
    }
}

/// One connector's validated setup and task configs.
pub struct ConnectorSetup {
    pub name: String,
    pub config: Config,
    pub task_configs: Vec<Config>,
}

/// Checks a connector config (name, class, the connector's own keys).
pub fn prepare(config: Config) -> Result<ConnectorSetup> {
    let (_, task_configs) = worker::task_configs(&config)?;
    let name = required(&config, "name")?.trim().to_string();
    Ok(ConnectorSetup { name, config, task_configs })
}

/// Runs the connectors until `stop` is set, then flushes and commits; the
/// first task failure ends the run with its error.
pub async fn run(config: StandaloneConfig, connectors: Vec<ConnectorSetup>, stop: Arc<AtomicBool>) -> Result<()> {
    let offsets = Arc::new(OffsetFile::open(&config.offsets_file)?);
    let worker = Worker::new(config.worker, "standalone".into(), offsets);
    for setup in &connectors {
        for (i, task_config) in setup.task_configs.iter().enumerate() {
            if let Err(e) = worker.start_task(&setup.name, i, &setup.config, task_config.clone()) {
                worker.stop_all().await;
                return Err(e);
            }
        }
    }
    let failure = loop {
        if stop.load(Ordering::Acquire) {
            break None;
        }
        if let Some((name, task, trace)) = worker.failures().into_iter().next() {
            break Some(ConnectError::Task(format!("{name}-{task}: {trace}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    worker.stop_all().await;
    match failure {
        Some(e) => Err(e),
        None => match worker.failures().into_iter().next() {
            Some((name, task, trace)) => Err(ConnectError::Task(format!("{name}-{task}: {trace}"))),
            None => Ok(()),
        },
    }
}
