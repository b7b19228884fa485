//! Running connector tasks, shared by the standalone and distributed
//! herders: the worker's common keys ([`WorkerConfig`]), where source
//! offsets live ([`OffsetStore`]: a file in standalone mode, a compacted
//! topic in distributed mode), the source and sink task loops, and
//! [`Worker`], which starts and stops tasks and reports their state.
//!
//! Source tasks: records are converted and sent; every flush interval (and
//! when the task stops) the producer's acknowledgements are awaited, only
//! then the tasks' latest source offsets are stored, and then the task's
//! `commit` is called — so a restart resumes after the last acknowledged
//! record, and a source that keeps its own position (a replication slot)
//! moves it only past acknowledged data.
//!
//! Sink tasks: a consumer in group `connect-<name>` reads `topics` from the
//! earliest offset when the group has none; records are converted and put;
//! every flush interval (when the task stops, and before every rebalance)
//! the task flushes and then exactly what it was given is committed.
//!
//! Task methods run on tokio's blocking pool (`spawn_blocking`), as Kafka
//! runs each task on its own thread: a task may block on files, databases
//! or stdin, or drive an async client with `Handle::current().block_on`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::api::{self, int, required, OffsetReader, Plugin, SinkRecord, SinkTask, SourceMap, SourceTask};
use super::converter::{self, Converter};
use super::errors::{ErrorPolicy, Failed, Reporter, Stage};
use super::herder::TaskState;
use super::transforms::{self, Chain};
use super::{Config, ConnectError, Result};
use crate::client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};

/// How long an idle source task waits before polling again.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A boxed future, for [`OffsetStore`]'s one asynchronous method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where source offsets are kept.
pub trait OffsetStore: Send + Sync + 'static {
    /// The stored offset of one source partition of a connector.
    fn get(&self, connector: &str, partition: &SourceMap) -> Option<SourceMap>;
    /// Stores offsets durably (they were all acknowledged already).
    fn put_all<'a>(&'a self, connector: &'a str, offsets: Vec<(SourceMap, SourceMap)>) -> BoxFuture<'a, Result<()>>;
}

/// The worker keys both modes share.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub props: Config,
    pub bootstrap: String,
    pub flush_interval: Duration,
}

impl WorkerConfig {
    /// `bootstrap.servers`, `offset.flush.interval.ms` (60000), and both
    /// converters checked before anything starts.
    pub fn from_props(props: Config) -> Result<WorkerConfig> {
        let bootstrap = required(&props, "bootstrap.servers")?.to_string();
        let flush = int(&props, "offset.flush.interval.ms", 60_000)?;
        if flush < 0 {
            return Err(ConnectError::Config(format!(
                "Invalid value {flush} for configuration offset.flush.interval.ms: Value must be at least 0"
            )));
        }
        converter::from_configs(&props, &Config::new(), "key")?;
        converter::from_configs(&props, &Config::new(), "value")?;
        Ok(WorkerConfig { props, bootstrap, flush_interval: Duration::from_millis(flush as u64) })
    }

    /// Client settings: `<prefix>`-prefixed keys, prefix removed.
    pub fn client_props(&self, prefix: &str) -> Vec<(String, String)> {
        self.props.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone()))).collect()
    }
}

/// Runs `f` on the blocking pool with `value` and hands `value` back; a
/// panic in `f` is a task error (the value is lost with it).
async fn blocking<T, R>(mut value: T, f: impl FnOnce(&mut T) -> R + Send + 'static) -> Result<(T, R)>
where
    T: Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let r = f(&mut value);
        (value, r)
    })
    .await
    .map_err(|e| ConnectError::Task(format!("the task panicked: {e}")))
}

/// A task's view of its connector's stored offsets.
struct StoreReader {
    store: Arc<dyn OffsetStore>,
    connector: String,
}

impl OffsetReader for StoreReader {
    fn offset(&self, partition: &SourceMap) -> Option<SourceMap> {
        self.store.get(&self.connector, partition)
    }
}

/// What a task loop runs: whose task it is and its configs.
pub struct TaskSpec {
    pub worker: WorkerConfig,
    /// The connector's name.
    pub name: String,
    pub task: usize,
    /// The connector's config (converters may be overridden there).
    pub connector: Config,
    /// What the connector's `task_configs` made for this task.
    pub task_config: Config,
}

/// Runs one source task until `stop` is set or it fails; offsets of what
/// was acknowledged are stored in both cases.
pub async fn run_source_task(
    spec: TaskSpec,
    task: Box<dyn SourceTask>,
    offsets: Arc<dyn OffsetStore>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let TaskSpec { worker, name, task: task_id, connector, task_config } = spec;
    let key_conv = converter::from_configs(&worker.props, &connector, "key")?;
    let value_conv = converter::from_configs(&worker.props, &connector, "value")?;
    let chain = Chain::from_config(&connector)?;
    let classes = ConverterClasses::of(&worker.props, &connector);
    let mut reporter =
        Reporter::new(ErrorPolicy::from_config(&connector, None)?, &name, task_id, &worker.bootstrap, Vec::new());
    let reader = StoreReader { store: offsets.clone(), connector: name.clone() };
    let (mut task, started) = blocking(task, move |t| t.start(&task_config, &reader)).await?;
    started?;
    let mut pc = ProducerConfig::new(worker.bootstrap.clone());
    pc.set("acks", "all")?;
    pc.set("client.id", &format!("connector-producer-{name}-{task_id}"))?;
    for (k, v) in worker.client_props("producer.") {
        pc.set(&k, &v)?;
    }
    let producer = match Producer::new(pc).await {
        Ok(p) => p,
        Err(e) => {
            let _ = blocking(task, |t| t.stop()).await;
            return Err(e.into());
        }
    };
    let mut in_flight = Vec::new();
    let mut pending: Vec<(SourceMap, SourceMap)> = Vec::new();
    let mut last_flush = Instant::now();
    let result = loop {
        if stop.load(Ordering::Acquire) {
            break Ok(());
        }
        let records = match blocking(task, |t| t.poll()).await {
            Ok((t, Ok(r))) => {
                task = t;
                r
            }
            Ok((t, Err(e))) => {
                task = t;
                break Err(e);
            }
            // The task is gone with its panic: store what was acknowledged, then fail.
            Err(e) => {
                let _ = commit_source(&producer, &mut in_flight, &mut pending, offsets.as_ref(), &name).await;
                let _ = producer.close().await;
                return Err(e);
            }
        };
        if records.is_empty() {
            tokio::time::sleep(IDLE_POLL).await;
        }
        let mut failed = None;
        for r in records {
            let api::SourceRecord {
                source_partition,
                source_offset,
                topic,
                partition,
                key_schema,
                key,
                value_schema,
                value,
                timestamp,
            } = r;
            let record =
                transforms::Record { topic, partition, offset: None, timestamp, key_schema, key, value_schema, value };
            match source_to_producer(record, &chain, key_conv.as_ref(), value_conv.as_ref(), &classes) {
                Ok(Some(record)) => match producer.send(record).await {
                    Ok(f) => in_flight.push(f),
                    Err(e) => {
                        failed = Some(e.into());
                        break;
                    }
                },
                // Dropped by a transform: its offset still counts as done.
                Ok(None) => {}
                Err((topic, partition, stage, class, e)) => {
                    let failure = Failed {
                        topic: &topic,
                        partition,
                        offset: None,
                        key: None,
                        value: None,
                        headers: &[],
                        stage,
                        class: &class,
                    };
                    if let Err(e) = reporter.tolerate(failure, e).await {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if !source_partition.is_empty() {
                // Mostly the same partition as the record before: replace in place.
                match pending.last_mut() {
                    Some((p, o)) if *p == source_partition => *o = source_offset,
                    _ => {
                        pending.retain(|(p, _)| *p != source_partition);
                        pending.push((source_partition, source_offset));
                    }
                }
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if last_flush.elapsed() >= worker.flush_interval {
            last_flush = Instant::now();
            if let Err(e) = commit_source(&producer, &mut in_flight, &mut pending, offsets.as_ref(), &name).await {
                break Err(e);
            }
            match blocking(task, |t| t.commit()).await {
                Ok((t, r)) => {
                    task = t;
                    if let Err(e) = r {
                        break Err(e);
                    }
                }
                Err(e) => {
                    let _ = producer.close().await;
                    return Err(e);
                }
            }
        }
    };
    // Offsets of what was acknowledged are kept even after a failure.
    let committed = commit_source(&producer, &mut in_flight, &mut pending, offsets.as_ref(), &name).await;
    let task_committed = if committed.is_ok() {
        blocking(task, |t| {
            let r = t.commit();
            t.stop();
            r
        })
        .await
        .and_then(|(_, r)| r)
    } else {
        blocking(task, |t| t.stop()).await.map(|_| ())
    };
    let _ = producer.close().await;
    reporter.close().await;
    result.and(committed).and(task_committed)
}

/// The converter classes, for error reports.
struct ConverterClasses {
    key: String,
    value: String,
}

impl ConverterClasses {
    fn of(worker: &Config, connector: &Config) -> ConverterClasses {
        let class = |k: &str| connector.get(k).or_else(|| worker.get(k)).cloned().unwrap_or_default();
        ConverterClasses { key: class("key.converter"), value: class("value.converter") }
    }
}

/// Why a record could not go on: (topic, partition, stage, class, error).
type RecordFailure = (String, Option<i32>, Stage, String, ConnectError);

/// A polled record through the transforms and converters; `None` when a
/// transform drops it.
fn source_to_producer(
    record: transforms::Record,
    chain: &Chain,
    key_conv: &dyn Converter,
    value_conv: &dyn Converter,
    classes: &ConverterClasses,
) -> Result<Option<ProducerRecord>, RecordFailure> {
    let record = if chain.is_empty() {
        record
    } else {
        let (topic, partition) = (record.topic.clone(), record.partition);
        match chain.apply_traced(record) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err((class, e)) => return Err((topic, partition, Stage::Transformation, class, e)),
        }
    };
    // Conversion errors name the record as the converter saw it (after the transforms).
    let key = key_conv
        .to_bytes(&record.topic, record.key_schema.as_ref(), &record.key)
        .map_err(|e| (record.topic.clone(), record.partition, Stage::KeyConverter, classes.key.clone(), e))?;
    let value = value_conv
        .to_bytes(&record.topic, record.value_schema.as_ref(), &record.value)
        .map_err(|e| (record.topic.clone(), record.partition, Stage::ValueConverter, classes.value.clone(), e))?;
    Ok(Some(ProducerRecord {
        topic: record.topic,
        partition: record.partition,
        key,
        value,
        headers: Vec::new(),
        timestamp: record.timestamp,
    }))
}

/// A consumed record through the converters and transforms; `None` when a
/// transform drops it. Offsets stay the consumed record's (a router may
/// change the topic the task sees).
fn consumer_to_sink(
    r: &crate::client::ConsumerRecord,
    chain: &Chain,
    key_conv: &dyn Converter,
    value_conv: &dyn Converter,
    classes: &ConverterClasses,
) -> Result<Option<SinkRecord>, (Stage, String, ConnectError)> {
    let (key_schema, key) =
        key_conv.to_connect(&r.topic, r.key.as_deref()).map_err(|e| (Stage::KeyConverter, classes.key.clone(), e))?;
    let (value_schema, value) = value_conv
        .to_connect(&r.topic, r.value.as_deref())
        .map_err(|e| (Stage::ValueConverter, classes.value.clone(), e))?;
    let record = transforms::Record {
        topic: r.topic.clone(),
        partition: Some(r.partition),
        offset: Some(r.offset),
        timestamp: Some(r.timestamp),
        key_schema,
        key,
        value_schema,
        value,
    };
    let record = match chain.apply_traced(record) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err((class, e)) => return Err((Stage::Transformation, class, e)),
    };
    Ok(Some(SinkRecord {
        topic: record.topic,
        partition: record.partition.unwrap_or(r.partition),
        offset: r.offset,
        timestamp: record.timestamp.unwrap_or(r.timestamp),
        key_schema: record.key_schema,
        key: record.key,
        value_schema: record.value_schema,
        value: record.value,
    }))
}

/// Waits for every record sent, then stores the offsets they reached.
async fn commit_source(
    producer: &Producer,
    in_flight: &mut Vec<crate::client::DeliveryFuture>,
    pending: &mut Vec<(SourceMap, SourceMap)>,
    offsets: &dyn OffsetStore,
    name: &str,
) -> Result<()> {
    producer.flush().await?;
    for f in std::mem::take(in_flight) {
        f.await?;
    }
    offsets.put_all(name, std::mem::take(pending)).await
}

/// A sink task and how far it has been given each partition, shared with
/// the consumer's revocation hook (a rebalance flushes and commits first).
struct SinkState {
    task: Box<dyn SinkTask>,
    /// Next offset per partition after the records put so far.
    put: BTreeMap<(String, i32), i64>,
}

fn lock_sink(s: &Mutex<SinkState>) -> std::sync::MutexGuard<'_, SinkState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the sink task on the blocking pool.
async fn with_sink<R: Send + 'static>(
    state: &Arc<Mutex<SinkState>>,
    f: impl FnOnce(&mut SinkState) -> R + Send + 'static,
) -> Result<R> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&mut lock_sink(&state)))
        .await
        .map_err(|e| ConnectError::Task(format!("the task panicked: {e}")))
}

/// Runs one sink task until `stop` is set or it fails; what was put is
/// flushed and committed in both cases.
pub async fn run_sink_task(spec: TaskSpec, task: Box<dyn SinkTask>, stop: Arc<AtomicBool>) -> Result<()> {
    let TaskSpec { worker, name, task: task_id, connector, task_config } = spec;
    let key_conv = converter::from_configs(&worker.props, &connector, "key")?;
    let value_conv = converter::from_configs(&worker.props, &connector, "value")?;
    let chain = Chain::from_config(&connector)?;
    let classes = ConverterClasses::of(&worker.props, &connector);
    let topics: Vec<String> =
        required(&connector, "topics")?.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    let policy = ErrorPolicy::from_config(&connector, Some(&topics))?;
    let mut reporter = Reporter::new(policy, &name, task_id, &worker.bootstrap, worker.client_props("producer."));
    let (task, started) = blocking(task, move |t| t.start(&task_config)).await?;
    started?;
    let state = Arc::new(Mutex::new(SinkState { task, put: BTreeMap::new() }));
    let mut cc = ConsumerConfig::new(worker.bootstrap.clone());
    cc.set("group.id", &format!("connect-{name}"))?;
    cc.set("client.id", &format!("connector-consumer-{name}-{task_id}"))?;
    cc.set("enable.auto.commit", "false")?;
    cc.set("auto.offset.reset", "earliest")?;
    for (k, v) in worker.client_props("consumer.") {
        cc.set(&k, &v)?;
    }
    let mut consumer = match Consumer::new(cc).await {
        Ok(c) => c,
        Err(e) => {
            let _ = with_sink(&state, |s| s.task.stop()).await;
            return Err(e.into());
        }
    };
    // Before partitions move (every rebalance under the eager protocol):
    // flush what was put and commit exactly that, so nothing is put twice.
    let hook_state = state.clone();
    let hook_name = name.clone();
    let hook: crate::client::consumer::RevocationHook = Arc::new(move |_partitions, _meta| {
        let state = hook_state.clone();
        let name = hook_name.clone();
        Box::pin(async move {
            let flushed = with_sink(&state, |s| s.task.flush().map(|()| std::mem::take(&mut s.put))).await;
            match flushed {
                Ok(Ok(put)) => put,
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(connector = name, error = %e, "flushing before a rebalance failed; not committing");
                    BTreeMap::new()
                }
            }
        })
    });
    consumer.set_revocation_hook(Some(hook));
    let mut last_flush = Instant::now();
    let result = match consumer.subscribe(topics).await {
        Err(e) => Err(e.into()),
        Ok(()) => loop {
            if stop.load(Ordering::Acquire) {
                break Ok(());
            }
            let records = match consumer.poll(Duration::from_millis(200)).await {
                Ok(r) => r,
                Err(e) => break Err(e.into()),
            };
            let mut batch = Vec::with_capacity(records.len());
            // Next offset per partition of every record handled (put, dropped or skipped).
            let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
            let mut failed = None;
            for r in &records {
                match consumer_to_sink(r, &chain, key_conv.as_ref(), value_conv.as_ref(), &classes) {
                    Ok(Some(record)) => batch.push(record),
                    Ok(None) => {}
                    Err((stage, class, e)) => {
                        let failure = Failed {
                            topic: &r.topic,
                            partition: Some(r.partition),
                            offset: Some(r.offset),
                            key: r.key.as_ref(),
                            value: r.value.as_ref(),
                            headers: &r.headers,
                            stage,
                            class: &class,
                        };
                        if let Err(e) = reporter.tolerate(failure, e).await {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                next.insert((r.topic.clone(), r.partition), r.offset + 1);
            }
            if !batch.is_empty() || !next.is_empty() {
                let put = with_sink(&state, move |s| {
                    if !batch.is_empty() {
                        s.task.put(batch)?;
                    }
                    s.put.extend(next);
                    Ok(())
                })
                .await;
                if let Err(e) = put.and_then(|r| r) {
                    break Err(e);
                }
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
        },
    };
    // What was put is flushed and committed, also when stopping on an error.
    let committed = commit_sink(&state, &mut consumer).await;
    consumer.set_revocation_hook(None);
    let _ = with_sink(&state, |s| s.task.stop()).await;
    let _ = consumer.close().await;
    reporter.close().await;
    result.and(committed)
}

async fn commit_sink(state: &Arc<Mutex<SinkState>>, consumer: &mut Consumer) -> Result<()> {
    let offsets = with_sink(state, |s| s.task.flush().map(|()| std::mem::take(&mut s.put))).await??;
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

/// A task this worker runs.
struct RunningTask {
    stop: Arc<AtomicBool>,
    /// RUNNING until the task ends; FAILED with its error, or UNASSIGNED
    /// after a clean stop.
    state: Arc<Mutex<(TaskState, Option<String>)>>,
    join: tokio::task::JoinHandle<()>,
}

/// Starts, stops and reports on the tasks of one worker process.
pub struct Worker {
    config: WorkerConfig,
    /// `host:port` of the worker's REST listener, as Kafka reports `worker_id`.
    worker_id: String,
    offsets: Arc<dyn OffsetStore>,
    tasks: Mutex<BTreeMap<(String, usize), RunningTask>>,
}

impl Worker {
    pub fn new(config: WorkerConfig, worker_id: String, offsets: Arc<dyn OffsetStore>) -> Worker {
        Worker { config, worker_id, offsets, tasks: Mutex::new(BTreeMap::new()) }
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, usize), RunningTask>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts task `task` of connector `name` (stopping a previous run of it
    /// first is the caller's business: a task already running is an error).
    /// The connector config names the plugin; the task config is what the
    /// connector's `task_configs` made for this task.
    pub fn start_task(&self, name: &str, task: usize, connector: &Config, task_config: Config) -> Result<()> {
        let key = (name.to_string(), task);
        if self.lock().get(&key).is_some_and(|t| !t.join.is_finished()) {
            return Err(ConnectError::Task(format!("task {name}-{task} is already running")));
        }
        let class = required(connector, "connector.class")?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new((TaskState::Running, None)));
        let spec = TaskSpec {
            worker: self.config.clone(),
            name: name.to_string(),
            task,
            connector: connector.clone(),
            task_config,
        };
        let s = stop.clone();
        // The connector config was checked (and its task configs made) by
        // `task_configs`; a task needs only the plugin's task type, so the
        // connector is not started again here (a JDBC source would reconnect
        // and rediscover its tables per task, on an async thread).
        let fut: BoxFuture<'static, Result<()>> = match api::plugin(class)? {
            Plugin::Source(connector_plugin) => {
                let t = connector_plugin.task();
                let offsets = self.offsets.clone();
                tracing::info!(connector = name, task, "starting source task");
                Box::pin(run_source_task(spec, t, offsets, s))
            }
            Plugin::Sink(connector_plugin) => {
                let t = connector_plugin.task();
                tracing::info!(connector = name, task, "starting sink task");
                Box::pin(run_sink_task(spec, t, s))
            }
        };
        let report = state.clone();
        let label = format!("{name}-{task}");
        let join = tokio::spawn(async move {
            let outcome = fut.await;
            let mut st = report.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                Ok(()) => *st = (TaskState::Unassigned, None),
                Err(e) => {
                    tracing::error!(task = label, error = %e, "task failed");
                    *st = (TaskState::Failed, Some(e.to_string()));
                }
            }
        });
        self.lock().insert(key, RunningTask { stop, state, join });
        Ok(())
    }

    /// Stops a task and waits until it has flushed and committed.
    pub async fn stop_task(&self, name: &str, task: usize) {
        let running = self.lock().remove(&(name.to_string(), task));
        if let Some(t) = running {
            t.stop.store(true, Ordering::Release);
            let _ = t.join.await;
        }
    }

    /// Stops every task of a connector.
    pub async fn stop_connector(&self, name: &str) {
        for task in self.tasks_of(name) {
            self.stop_task(name, task).await;
        }
    }

    /// Stops every task (all at once, then waits for each).
    pub async fn stop_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        for t in all.values() {
            t.stop.store(true, Ordering::Release);
        }
        for (_, t) in all {
            let _ = t.join.await;
        }
    }

    /// The task numbers of a connector this worker runs (or ran and saw fail).
    pub fn tasks_of(&self, name: &str) -> Vec<usize> {
        self.lock().keys().filter(|(n, _)| n == name).map(|(_, t)| *t).collect()
    }

    /// A task's state here and, when FAILED, its error; `None` if this
    /// worker does not have the task.
    pub fn task_state(&self, name: &str, task: usize) -> Option<(TaskState, Option<String>)> {
        let tasks = self.lock();
        let t = tasks.get(&(name.to_string(), task))?;
        let st = t.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(st)
    }

    /// The tasks that failed, with their errors.
    pub fn failures(&self) -> Vec<(String, usize, String)> {
        self.lock()
            .iter()
            .filter_map(|((n, t), r)| {
                let st = r.state.lock().unwrap_or_else(|e| e.into_inner());
                match &*st {
                    (TaskState::Failed, trace) => Some((n.clone(), *t, trace.clone().unwrap_or_default())),
                    _ => None,
                }
            })
            .collect()
    }
}

/// Checks a connector config (name, class, `tasks.max`, the connector's own
/// keys) and returns its task configs.
pub fn task_configs(config: &Config) -> Result<(api::ConnectorType, Vec<Config>)> {
    let name = required(config, "name")?.trim().to_string();
    if name.is_empty() {
        return Err(ConnectError::Config("Invalid value for configuration name: must not be empty".into()));
    }
    let class = required(config, "connector.class")?;
    let plugin = api::plugin(class)?;
    let max = int(config, "tasks.max", 1)?;
    if max < 1 {
        return Err(ConnectError::Config("Invalid value for configuration tasks.max: Value must be at least 1".into()));
    }
    let max = max as usize;
    Chain::from_config(config)?;
    match plugin {
        Plugin::Source(mut c) => {
            ErrorPolicy::from_config(config, None)?;
            c.start(config)?;
            Ok((api::ConnectorType::Source, c.task_configs(max)))
        }
        Plugin::Sink(mut c) => {
            let topics = required(config, "topics")?;
            if topics.split(',').all(|t| t.trim().is_empty()) {
                return Err(ConnectError::Config(
                    "Invalid value for configuration topics: must name at least one topic".into(),
                ));
            }
            let list: Vec<String> = topics.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
            ErrorPolicy::from_config(config, Some(&list))?;
            c.start(config)?;
            Ok((api::ConnectorType::Sink, c.task_configs(max)))
        }
    }
}
