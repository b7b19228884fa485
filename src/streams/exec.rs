//! The task executor: one task's instance of a subtopology — its processor
//! instances, its stores, its stream time and punctuations — and the context
//! nodes see while it runs them.
//!
//! It does no I/O of its own. The runtime feeds it input records and gives
//! it a [`RecordSink`] for everything it emits (sink topics and changelog
//! records); the [`super::test_driver`] feeds it from memory. Forwarding is a
//! depth-first call through the graph: a node is taken out of its slot while
//! it runs, so the context can run its children with `&mut self`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::error::{Result, StreamsError};
use super::processor::{
    DynRecord, ErasedProcessor, Headers, NodeContext, PunctuationType, PunctuatorId, RecordMetadata, TaskId,
};
use super::state::{
    window::{parse_session_key, parse_window_key},
    ChangelogWriter, KeyValueBytesStore, StoreHandle, StoreKind, StoreSpec,
};
use super::topology::{NodeKind, TimestampExtractorFn, Topology};

/// Where a task's output goes.
pub trait RecordSink: Send {
    /// Sends a record; `partition` `None` leaves it to the default
    /// partitioner (murmur2 of the key bytes, as Kafka's producer).
    fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<()>;
    /// The partition count of a topic, for custom partitioners.
    fn partition_count(&mut self, topic: &str) -> Option<i32>;
}

/// An input record as the consumer returned it.
#[derive(Debug, Clone)]
pub struct InputRecord {
    /// The topic as the cluster names it.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Headers,
}

/// What the runtime gives a task to start with.
pub struct TaskSetup {
    pub application_id: String,
    pub task: TaskId,
    pub topology: Arc<Topology>,
    /// Node indices of the subtopology (or the global feed).
    pub nodes: Vec<usize>,
    /// The opened stores, by name.
    pub stores: BTreeMap<String, Box<dyn KeyValueBytesStore>>,
    /// Share of `cache.max.bytes.buffering`.
    pub cache_max_bytes: usize,
    /// Write changelog records (false for global stores: their topic is their log).
    pub logging: bool,
    /// `default.timestamp.extractor`; `None` uses the record's own timestamp.
    pub default_timestamp_extractor: Option<TimestampExtractorFn>,
}

struct StoreSlot {
    spec: StoreSpec,
    store: Box<dyn KeyValueBytesStore>,
    seq: u32,
    changelog: String,
}

struct Punctuation {
    id: PunctuatorId,
    node: usize,
    interval: i64,
    kind: PunctuationType,
    /// Next due time; `None` for stream time before the first record.
    next: Option<i64>,
}

/// One task's running subtopology.
pub struct TaskExecutor {
    app: String,
    task: TaskId,
    topology: Arc<Topology>,
    in_task: Vec<bool>,
    nodes: Vec<Option<Box<dyn ErasedProcessor>>>,
    stores: BTreeMap<String, StoreSlot>,
    /// Cluster topic name → source node.
    sources: HashMap<String, usize>,
    /// Sink node → cluster topic name.
    sink_topics: HashMap<usize, String>,
    sink: Box<dyn RecordSink>,
    logging: bool,
    stream_time: i64,
    partition_time: HashMap<(String, i32), i64>,
    wall_clock: i64,
    punctuations: Vec<Punctuation>,
    next_punctuator: u64,
    current: Option<usize>,
    current_meta: Option<RecordMetadata>,
    current_ts: i64,
    commit_requested: bool,
    cache_max_bytes: usize,
    default_extractor: Option<TimestampExtractorFn>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl TaskExecutor {
    pub fn new(setup: TaskSetup, sink: Box<dyn RecordSink>) -> Result<Self> {
        let topo = setup.topology;
        let n = topo.nodes.len();
        let mut in_task = vec![false; n];
        let mut nodes: Vec<Option<Box<dyn ErasedProcessor>>> = (0..n).map(|_| None).collect();
        let mut sources = HashMap::new();
        let mut sink_topics = HashMap::new();
        for &i in &setup.nodes {
            let node =
                topo.nodes.get(i).ok_or_else(|| StreamsError::Topology(format!("task {}: no node {i}", setup.task)))?;
            in_task[i] = true;
            match &node.kind {
                NodeKind::Source(s) => {
                    for t in &s.topics {
                        sources.insert(topo.resolve_topic(&setup.application_id, t), i);
                    }
                }
                NodeKind::Processor(supplier) => nodes[i] = Some(supplier()),
                NodeKind::Sink(s) => {
                    sink_topics.insert(i, topo.resolve_topic(&setup.application_id, &s.topic));
                }
            }
        }
        let mut stores = BTreeMap::new();
        for (name, store) in setup.stores {
            let spec = topo
                .stores
                .get(&name)
                .ok_or_else(|| StreamsError::Topology(format!("task {}: unknown store {name}", setup.task)))?
                .clone();
            let changelog = spec.changelog_topic(&setup.application_id);
            // Duplicate-keeping window stores need sequence numbers unique
            // across restarts: start from the clock.
            let seq = (now_ms() as u32).wrapping_mul(1000);
            stores.insert(name, StoreSlot { spec, store, seq, changelog });
        }
        Ok(TaskExecutor {
            app: setup.application_id,
            task: setup.task,
            topology: topo,
            in_task,
            nodes,
            stores,
            sources,
            sink_topics,
            sink,
            logging: setup.logging,
            stream_time: -1,
            partition_time: HashMap::new(),
            wall_clock: now_ms(),
            punctuations: Vec::new(),
            next_punctuator: 0,
            current: None,
            current_meta: None,
            current_ts: -1,
            commit_requested: false,
            cache_max_bytes: setup.cache_max_bytes,
            default_extractor: setup.default_timestamp_extractor,
        })
    }

    pub fn task_id(&self) -> TaskId {
        self.task
    }

    /// Runs every processor's `init`, in node order.
    pub fn init(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.with_node(i, None, |p, ctx| p.init(ctx))?;
            }
        }
        Ok(())
    }

    fn with_node(
        &mut self,
        idx: usize,
        ts: Option<i64>,
        f: impl FnOnce(&mut Box<dyn ErasedProcessor>, &mut dyn NodeContext) -> Result<()>,
    ) -> Result<()> {
        let Some(mut p) = self.nodes[idx].take() else {
            return Err(StreamsError::Topology(format!(
                "node {} ran while it was running (a cycle?)",
                self.topology.nodes[idx].name
            )));
        };
        let prev = self.current.replace(idx);
        let prev_ts = self.current_ts;
        if let Some(t) = ts {
            self.current_ts = t;
        }
        let r = f(&mut p, self);
        self.nodes[idx] = Some(p);
        self.current = prev;
        self.current_ts = prev_ts;
        r
    }

    /// The timestamp a record is processed with (extractor applied).
    fn extract(&self, source: usize, r: &InputRecord, partition_time: i64) -> i64 {
        let extractor = match &self.topology.nodes[source].kind {
            NodeKind::Source(s) => s.timestamp_extractor.as_ref().or(self.default_extractor.as_ref()),
            _ => None,
        };
        match extractor {
            Some(f) => f(r.timestamp, r.key.as_deref(), r.value.as_deref(), partition_time),
            None => r.timestamp,
        }
    }

    /// Processes one input record: deserialize at its source, run the graph,
    /// advance stream time and fire due stream-time punctuations. A
    /// deserialization error is returned before anything ran (the caller's
    /// handler may skip the record).
    pub fn process(&mut self, r: InputRecord) -> Result<()> {
        let source = *self
            .sources
            .get(&r.topic)
            .ok_or_else(|| StreamsError::Topology(format!("task {}: no source reads topic {}", self.task, r.topic)))?;
        let NodeKind::Source(spec) = &self.topology.nodes[source].kind else {
            return Err(StreamsError::Topology("not a source".into()));
        };
        let deserialize = spec.deserialize.clone();
        let pkey = (r.topic.clone(), r.partition);
        let ptime = self.partition_time.get(&pkey).copied().unwrap_or(-1);
        let ts = self.extract(source, &r, ptime);
        if ts < 0 {
            return Err(StreamsError::Processing(format!(
                "input record from {}-{} at offset {} has an invalid (negative) timestamp {ts}",
                r.topic, r.partition, r.offset
            )));
        }
        let (key, value) = deserialize(&r.topic, r.key.as_deref(), r.value.as_deref())?;
        self.partition_time.insert(pkey, ptime.max(ts));
        self.current_meta = Some(RecordMetadata { topic: r.topic, partition: r.partition, offset: r.offset });
        let rec = DynRecord { key, value, timestamp: ts, headers: r.headers };
        let prev = self.current.replace(source);
        let prev_ts = std::mem::replace(&mut self.current_ts, ts);
        let res = self.forward_from(source, rec, None);
        self.current = prev;
        self.current_ts = prev_ts;
        self.current_meta = None;
        res?;
        if ts > self.stream_time {
            self.stream_time = ts;
            self.punctuate(PunctuationType::StreamTime, ts)?;
        }
        Ok(())
    }

    fn forward_from(&mut self, from: usize, rec: DynRecord, child: Option<&str>) -> Result<()> {
        let children = self.topology.nodes[from].children.clone();
        let mut matched = child.is_none();
        let last = children.len().saturating_sub(1);
        let mut rec = Some(rec);
        for (n, c) in children.into_iter().enumerate() {
            if !self.in_task[c] {
                continue;
            }
            if let Some(name) = child {
                if self.topology.nodes[c].name != name {
                    continue;
                }
                matched = true;
            }
            let r = if n == last { rec.take() } else { rec.clone() };
            let Some(r) = r else { break };
            self.run_node(c, r)?;
        }
        if !matched {
            return Err(StreamsError::Topology(format!(
                "{} has no child named {}",
                self.topology.nodes[from].name,
                child.unwrap_or_default()
            )));
        }
        Ok(())
    }

    fn run_node(&mut self, idx: usize, rec: DynRecord) -> Result<()> {
        if let Some(topic) = self.sink_topics.get(&idx).cloned() {
            let NodeKind::Sink(spec) = &self.topology.nodes[idx].kind else {
                return Err(StreamsError::Topology("not a sink".into()));
            };
            let (serialize, partitioner) = (spec.serialize.clone(), spec.partitioner.clone());
            let (k, v) = serialize(&topic, &rec)?;
            let partition = match partitioner {
                Some(p) => match self.sink.partition_count(&topic) {
                    Some(n) => p(k.as_deref(), &rec, n),
                    None => None,
                },
                None => None,
            };
            return self.sink.send(&topic, partition, k, v, rec.timestamp, &rec.headers);
        }
        let ts = rec.timestamp;
        self.with_node(idx, Some(ts), |p, ctx| p.process(ctx, rec))
    }

    /// Fires due punctuations of one kind at time `now`.
    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<()> {
        let mut due = Vec::new();
        for p in self.punctuations.iter_mut().filter(|p| p.kind == kind) {
            match p.next {
                None => {
                    p.next = Some(now + p.interval);
                    due.push((p.id, p.node));
                }
                Some(t) if t <= now => {
                    let skipped = (now - t) / p.interval;
                    p.next = Some(t + (skipped + 1) * p.interval);
                    due.push((p.id, p.node));
                }
                _ => {}
            }
        }
        for (id, node) in due {
            // A punctuator cancelled by an earlier one in this round does not fire.
            if !self.punctuations.iter().any(|p| p.id == id) {
                continue;
            }
            self.with_node(node, Some(now), |p, ctx| p.punctuate(ctx, id, now))?;
        }
        Ok(())
    }

    /// Fires due wall-clock punctuations; the thread calls this between records.
    pub fn punctuate_wall_clock(&mut self, now_ms: i64) -> Result<()> {
        self.wall_clock = now_ms;
        self.punctuate(PunctuationType::WallClockTime, now_ms)
    }

    /// Before a commit: processors emit what their caches hold, stores
    /// persist their writes, expired windows go.
    pub fn flush(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.with_node(i, None, |p, ctx| p.flush(ctx))?;
            }
        }
        self.expire_windows()?;
        for slot in self.stores.values_mut() {
            slot.store.flush()?;
        }
        Ok(())
    }

    fn expire_windows(&mut self) -> Result<()> {
        if self.stream_time < 0 {
            return Ok(());
        }
        for slot in self.stores.values_mut() {
            let old: Vec<Bytes> = match slot.spec.kind {
                StoreKind::KeyValue => continue,
                StoreKind::Window { size_ms, retention_ms, .. } => {
                    let limit = self.stream_time - retention_ms;
                    slot.store
                        .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)?
                        .into_iter()
                        .filter(|(k, _)| parse_window_key(k).is_some_and(|(_, s)| s + size_ms.max(0) <= limit))
                        .map(|(k, _)| k)
                        .collect()
                }
                StoreKind::Session { retention_ms } => {
                    let limit = self.stream_time - retention_ms;
                    slot.store
                        .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)?
                        .into_iter()
                        .filter(|(k, _)| parse_session_key(k).is_some_and(|(_, w)| w.end <= limit))
                        .map(|(k, _)| k)
                        .collect()
                }
            };
            for k in old {
                slot.store.put(k, None)?;
            }
        }
        Ok(())
    }

    /// Closes every processor (stores stay open for the caller to flush or drop).
    pub fn close(&mut self) {
        for p in self.nodes.iter_mut().flatten() {
            p.close();
        }
    }

    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }
    /// Restores stream time (e.g. from committed metadata) after a move.
    pub fn set_stream_time(&mut self, t: i64) {
        self.stream_time = self.stream_time.max(t);
    }
    /// Takes a processor's pending commit request.
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.commit_requested)
    }
    /// A store, for restoration (writes here bypass the changelog).
    pub fn store_mut(&mut self, name: &str) -> Option<&mut (dyn KeyValueBytesStore + 'static)> {
        self.stores.get_mut(name).map(|s| &mut *s.store)
    }
    /// Store names with their changelog topics.
    pub fn changelogs(&self) -> Vec<(String, String)> {
        self.stores.iter().filter(|(_, s)| s.spec.logging).map(|(n, s)| (n.clone(), s.changelog.clone())).collect()
    }
    /// Hands the stores back (closing the task).
    pub fn into_stores(self) -> BTreeMap<String, Box<dyn KeyValueBytesStore>> {
        self.stores.into_iter().map(|(n, s)| (n, s.store)).collect()
    }
    pub fn sink_mut(&mut self) -> &mut dyn RecordSink {
        &mut *self.sink
    }
    /// Cluster topic names this task reads.
    pub fn source_topics(&self) -> Vec<String> {
        self.sources.keys().cloned().collect()
    }
}

struct SinkLog<'a> {
    sink: &'a mut dyn RecordSink,
    topic: &'a str,
    partition: i32,
}

impl ChangelogWriter for SinkLog<'_> {
    fn log(&mut self, key: Bytes, value: Option<Bytes>, timestamp: i64) -> Result<()> {
        self.sink.send(self.topic, Some(self.partition), Some(key), value, timestamp.max(0), &Vec::new())
    }
}

impl NodeContext for TaskExecutor {
    fn forward(&mut self, record: DynRecord, child: Option<&str>) -> Result<()> {
        let cur = self.current.ok_or_else(|| StreamsError::Topology("forward outside a node".into()))?;
        self.forward_from(cur, record, child)
    }

    fn store(&mut self, name: &str) -> Result<StoreHandle<'_>> {
        let cur = self.current.ok_or_else(|| StreamsError::Topology("store access outside a node".into()))?;
        let node = &self.topology.nodes[cur];
        let global = self.topology.global_stores.iter().any(|g| g.store == name);
        if !global && !node.stores.iter().any(|s| s == name) {
            return Err(StreamsError::Topology(format!(
                "processor {} has no access to state store {name}; connect them in the topology",
                node.name
            )));
        }
        let slot = self
            .stores
            .get_mut(name)
            .ok_or_else(|| StreamsError::store(name, format!("not open in task {}", self.task)))?;
        let log: Option<Box<dyn ChangelogWriter + '_>> = if self.logging && slot.spec.logging {
            Some(Box::new(SinkLog { sink: &mut *self.sink, topic: &slot.changelog, partition: self.task.partition }))
        } else {
            None
        };
        Ok(StoreHandle::new(&slot.spec, &mut *slot.store, log, self.current_ts, self.stream_time, &mut slot.seq))
    }

    fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        self.next_punctuator += 1;
        let id = PunctuatorId(self.next_punctuator);
        let interval = (interval.as_millis() as i64).max(1);
        let next = match kind {
            PunctuationType::StreamTime => None,
            PunctuationType::WallClockTime => Some(self.wall_clock + interval),
        };
        if let Some(node) = self.current {
            self.punctuations.push(Punctuation { id, node, interval, kind, next });
        }
        id
    }

    fn cancel(&mut self, id: PunctuatorId) {
        self.punctuations.retain(|p| p.id != id);
    }

    fn record_metadata(&self) -> Option<RecordMetadata> {
        self.current_meta.clone()
    }
    fn stream_time(&self) -> i64 {
        self.stream_time
    }
    fn wall_clock_ms(&self) -> i64 {
        self.wall_clock
    }
    fn task_id(&self) -> TaskId {
        self.task
    }
    fn application_id(&self) -> &str {
        &self.app
    }
    fn request_commit(&mut self) {
        self.commit_requested = true;
    }
    fn cache_max_bytes(&self) -> usize {
        self.cache_max_bytes
    }
}
