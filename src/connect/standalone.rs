//! The standalone worker: one process runs the connectors it was given,
//! with Kafka's worker keys — `bootstrap.servers`, `key.converter` /
//! `value.converter` (and their `.`-prefixed settings),
//! `offset.storage.file.filename`, `offset.flush.interval.ms` (default
//! 60000), `producer.`/`consumer.` prefixed client settings.
//!
//! Source tasks: records are converted and sent; every flush interval (and
//! at shutdown) the producer's acknowledgements are awaited and only then
//! the tasks' latest source offsets are written to the offsets file, so a
//! restart resumes after the last acknowledged record. The file is JSON
//! (`{"<connector>": [{"partition": {…}, "offset": {…}}]}`; Kafka's is a
//! Java-serialized map) and is replaced atomically and durably.
//!
//! Sink tasks: a consumer in group `connect-<name>` reads `topics` from the
//! earliest offset when the group has none; records are converted and put;
//! every flush interval (and at shutdown) the task flushes and then the
//! group's offsets are committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::api::{self, int, required, OffsetReader, Plugin, SinkRecord, SourceMap};
use super::converter;
use super::{Config, ConnectError, Result};
use crate::client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};

/// How long an idle source task waits before polling again.
const IDLE_POLL: Duration = Duration::from_millis(100);

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

    pub fn get(&self, connector: &str, partition: &SourceMap) -> Option<SourceMap> {
        self.lock().get(connector)?.iter().find(|(p, _)| p == partition).map(|(_, o)| o.clone())
    }

    /// Records new offsets and writes the file (temporary file, then rename).
    pub fn put_all(&self, connector: &str, offsets: Vec<(SourceMap, SourceMap)>) -> Result<()> {
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

struct ConnectorOffsets<'a> {
    file: &'a OffsetFile,
    connector: &'a str,
}

impl OffsetReader for ConnectorOffsets<'_> {
    fn offset(&self, partition: &SourceMap) -> Option<SourceMap> {
        self.file.get(self.connector, partition)
    }
}

/// The worker's settings.
#[derive(Clone)]
pub struct WorkerConfig {
    pub props: Config,
    pub bootstrap: String,
    pub offsets_file: PathBuf,
    pub flush_interval: Duration,
}

impl WorkerConfig {
    pub fn from_props(props: Config) -> Result<WorkerConfig> {
        let bootstrap = required(&props, "bootstrap.servers")?.to_string();
        let offsets_file = PathBuf::from(required(&props, "offset.storage.file.filename")?);
        let flush = int(&props, "offset.flush.interval.ms", 60_000)?;
        if flush < 0 {
            return Err(ConnectError::Config(format!(
                "Invalid value {flush} for configuration offset.flush.interval.ms: Value must be at least 0"
            )));
        }
        // Both converters must exist before anything starts.
        converter::from_configs(&props, &Config::new(), "key")?;
        converter::from_configs(&props, &Config::new(), "value")?;
        Ok(WorkerConfig { props, bootstrap, offsets_file, flush_interval: Duration::from_millis(flush as u64) })
    }

    /// Client settings: `<prefix>`-prefixed keys, prefix removed.
    fn client_props(&self, prefix: &str) -> Vec<(String, String)> {
        self.props.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone()))).collect()
    }
}

/// One connector's validated setup.
pub struct ConnectorSetup {
    pub name: String,
    pub config: Config,
    plugin: Plugin,
}

/// Checks a connector config (name, class, the connector's own keys).
pub fn prepare(config: Config) -> Result<ConnectorSetup> {
    let name = required(&config, "name")?.trim().to_string();
    if name.is_empty() {
        return Err(ConnectError::Config("Invalid value for configuration name: must not be empty".into()));
    }
    let class = required(&config, "connector.class")?;
    let mut plugin = api::plugin(class)?;
    if int(&config, "tasks.max", 1)? < 1 {
        return Err(ConnectError::Config("Invalid value for configuration tasks.max: Value must be at least 1".into()));
    }
    match &mut plugin {
        Plugin::Source(c) => c.start(&config)?,
        Plugin::Sink(c) => {
            let topics = required(&config, "topics")?;
            if topics.split(',').all(|t| t.trim().is_empty()) {
                return Err(ConnectError::Config(
                    "Invalid value for configuration topics: must name at least one topic".into(),
                ));
            }
            c.start(&config)?
        }
    }
    Ok(ConnectorSetup { name, config, plugin })
}

/// Runs the connectors until `stop` is set, then flushes and commits; the
/// first task failure ends the run with its error.
pub async fn run(worker: WorkerConfig, connectors: Vec<ConnectorSetup>, stop: Arc<AtomicBool>) -> Result<()> {
    let offsets = Arc::new(OffsetFile::open(&worker.offsets_file)?);
    let mut handles = Vec::new();
    for setup in connectors {
        let max = int(&setup.config, "tasks.max", 1)?.max(1) as usize;
        match setup.plugin {
            Plugin::Source(c) => {
                for (i, task_config) in c.task_configs(max).into_iter().enumerate() {
                    let task = c.task();
                    let (w, o, s, name) = (worker.clone(), offsets.clone(), stop.clone(), setup.name.clone());
                    let conn = setup.config.clone();
                    tracing::info!(connector = name, task = i, "starting source task");
                    handles.push(tokio::spawn(async move { run_source(w, name, conn, task_config, task, o, s).await }));
                }
            }
            Plugin::Sink(c) => {
                for (i, task_config) in c.task_configs(max).into_iter().enumerate() {
                    let task = c.task();
                    let (w, s, name) = (worker.clone(), stop.clone(), setup.name.clone());
                    let conn = setup.config.clone();
                    tracing::info!(connector = name, task = i, "starting sink task");
                    handles.push(tokio::spawn(async move { run_sink(w, name, conn, task_config, task, s).await }));
                }
            }
        }
    }
    let mut first_error = None;
    for h in handles {
        let result = h.await.map_err(|e| ConnectError::Task(format!("a task panicked: {e}")))?;
        if let Err(e) = result {
            // One failed task stops the worker, as a standalone worker's only job is its connectors.
            stop.store(true, Ordering::Release);
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn run_source(
    worker: WorkerConfig,
    name: String,
    connector: Config,
    task_config: Config,
    mut task: Box<dyn api::SourceTask>,
    offsets: Arc<OffsetFile>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let key_conv = converter::from_configs(&worker.props, &connector, "key")?;
    let value_conv = converter::from_configs(&worker.props, &connector, "value")?;
    task.start(&task_config, &ConnectorOffsets { file: &offsets, connector: &name })?;
    let mut pc = ProducerConfig::new(worker.bootstrap.clone());
    pc.set("acks", "all")?;
    pc.set("client.id", &format!("connector-producer-{name}-0"))?;
    for (k, v) in worker.client_props("producer.") {
        pc.set(&k, &v)?;
    }
    let producer = Producer::new(pc).await?;
    let mut in_flight = Vec::new();
    let mut pending: Vec<(SourceMap, SourceMap)> = Vec::new();
    let mut last_flush = Instant::now();
    let result = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        let records = match task.poll() {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        if records.is_empty() {
            tokio::time::sleep(IDLE_POLL).await;
        }
        let mut failed = None;
        for r in records {
            let key = key_conv.to_bytes(&r.topic, r.key_schema.as_ref(), &r.key);
            let value = value_conv.to_bytes(&r.topic, r.value_schema.as_ref(), &r.value);
            let (key, value) = match (key, value) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(e), _) | (_, Err(e)) => {
                    failed = Some(e);
                    break;
                }
            };
            let record = ProducerRecord {
                topic: r.topic.clone(),
                partition: r.partition,
                key,
                value,
                headers: Vec::new(),
                timestamp: r.timestamp,
            };
            match producer.send(record).await {
                Ok(f) => in_flight.push(f),
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            }
            if !r.source_partition.is_empty() {
                pending.retain(|(p, _)| *p != r.source_partition);
                pending.push((r.source_partition, r.source_offset));
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if last_flush.elapsed() >= worker.flush_interval {
            last_flush = Instant::now();
            if let Err(e) = commit_source(&producer, &mut in_flight, &mut pending, &offsets, &name).await {
                break Err(e);
            }
        }
    };
    task.stop();
    // Offsets of what was acknowledged are kept even after a failure.
    let committed = commit_source(&producer, &mut in_flight, &mut pending, &offsets, &name).await;
    let _ = producer.close().await;
    result.and(committed)
}

/// Waits for every record sent, then writes the offsets they reached.
async fn commit_source(
    producer: &Producer,
    in_flight: &mut Vec<crate::client::DeliveryFuture>,
    pending: &mut Vec<(SourceMap, SourceMap)>,
    offsets: &OffsetFile,
    name: &str,
) -> Result<()> {
    producer.flush().await?;
    for f in std::mem::take(in_flight) {
        f.await?;
    }
    offsets.put_all(name, std::mem::take(pending))
}

/// A sink task and how far it has been given each partition, shared with
/// the consumer's revocation hook (a rebalance flushes and commits first).
struct SinkState {
    task: Box<dyn api::SinkTask>,
    /// Next offset per partition after the records put so far.
    put: BTreeMap<(String, i32), i64>,
}

fn lock_sink(s: &Mutex<SinkState>) -> std::sync::MutexGuard<'_, SinkState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn run_sink(
    worker: WorkerConfig,
    name: String,
    connector: Config,
    task_config: Config,
    mut task: Box<dyn api::SinkTask>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let key_conv = converter::from_configs(&worker.props, &connector, "key")?;
    let value_conv = converter::from_configs(&worker.props, &connector, "value")?;
    task.start(&task_config)?;
    let state = Arc::new(Mutex::new(SinkState { task, put: BTreeMap::new() }));
    let mut cc = ConsumerConfig::new(worker.bootstrap.clone());
    cc.set("group.id", &format!("connect-{name}"))?;
    cc.set("client.id", &format!("connector-consumer-{name}-0"))?;
    cc.set("enable.auto.commit", "false")?;
    cc.set("auto.offset.reset", "earliest")?;
    for (k, v) in worker.client_props("consumer.") {
        cc.set(&k, &v)?;
    }
    let mut consumer = Consumer::new(cc).await?;
    // Before partitions move (every rebalance under the eager protocol):
    // flush what was put and commit exactly that, so nothing is put twice.
    let hook_state = state.clone();
    let hook_name = name.clone();
    let hook: crate::client::consumer::RevocationHook = Arc::new(move |_partitions, _meta| {
        let state = hook_state.clone();
        let name = hook_name.clone();
        Box::pin(async move {
            let mut s = lock_sink(&state);
            match s.task.flush() {
                Ok(()) => std::mem::take(&mut s.put),
                Err(e) => {
                    tracing::error!(connector = name, error = %e, "flushing before a rebalance failed; not committing");
                    BTreeMap::new()
                }
            }
        })
    });
    consumer.set_revocation_hook(Some(hook));
    let topics: Vec<String> =
        required(&connector, "topics")?.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    consumer.subscribe(topics).await?;
    let mut last_flush = Instant::now();
    let result = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => break Err(e.into()),
        };
        let mut batch = Vec::with_capacity(records.len());
        let mut failed = None;
        for r in records {
            let key = key_conv.to_connect(&r.topic, r.key.as_deref());
            let value = value_conv.to_connect(&r.topic, r.value.as_deref());
            match (key, value) {
                (Ok((key_schema, key)), Ok((value_schema, value))) => batch.push(SinkRecord {
                    topic: r.topic,
                    partition: r.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key_schema,
                    key,
                    value_schema,
                    value,
                }),
                (Err(e), _) | (_, Err(e)) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let mut s = lock_sink(&state);
            let next: Vec<((String, i32), i64)> =
                batch.iter().map(|r| ((r.topic.clone(), r.partition), r.offset + 1)).collect();
            if let Err(e) = s.task.put(batch) {
                break Err(e);
            }
            s.put.extend(next);
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if last_flush.elapsed() >= worker.flush_interval {
            last_flush = Instant::now();
            // A rebalance under way refuses commits; the hook commits before it, or the next round does.
            match commit_sink(&state, &mut consumer).await {
                Ok(()) => {}
                Err(ConnectError::Client(e)) => {
                    tracing::warn!(connector = name, error = %e, "committing the sink's offsets failed; retrying later")
                }
                Err(e) => break Err(e),
            }
        }
    };
    // What was put is flushed and committed, also when stopping on an error.
    let committed = commit_sink(&state, &mut consumer).await;
    consumer.set_revocation_hook(None);
    lock_sink(&state).task.stop();
    let _ = consumer.close().await;
    result.and(committed)
}

async fn commit_sink(state: &Mutex<SinkState>, consumer: &mut Consumer) -> Result<()> {
    let offsets = {
        let mut s = lock_sink(state);
        s.task.flush()?;
        std::mem::take(&mut s.put)
    };
    if let Err(e) = consumer.commit_offsets(offsets.clone()).await {
        // Kept for the next commit unless newer records were put meanwhile.
        let mut s = lock_sink(state);
        for (tp, o) in offsets {
            s.put.entry(tp).or_insert(o);
        }
        return Err(e.into());
    }
    Ok(())
}
