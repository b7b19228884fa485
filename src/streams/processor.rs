//! The processor API: records, processors, and the context they run in.
//!
//! A topology is a graph of nodes that pass records along. Records travel
//! type-erased ([`DynRecord`], keys and values behind `Arc<dyn Any>`) so one
//! task can run nodes of many types; users write typed [`Processor`]s and the
//! [`processor`] adapter checks the types at the edge. A processor gets its
//! context with every call instead of keeping it (Rust borrows), and
//! punctuation comes back to the processor that scheduled it, by id.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::error::{Result, StreamsError};
use super::state::{KeyValueStore, SessionStore, StoreHandle, WindowStore};

/// A key or value in flight between nodes.
pub type AnyValue = Arc<dyn Any + Send + Sync>;

/// Record headers, as the client carries them.
pub type Headers = Vec<(String, Option<Bytes>)>;

/// A record between two nodes, type-erased.
#[derive(Clone)]
pub struct DynRecord {
    pub key: AnyValue,
    pub value: AnyValue,
    pub timestamp: i64,
    pub headers: Headers,
}

impl DynRecord {
    /// Erases a typed record.
    pub fn from_typed<K: Send + Sync + 'static, V: Send + Sync + 'static>(r: Record<K, V>) -> Self {
        DynRecord { key: Arc::new(r.key), value: Arc::new(r.value), timestamp: r.timestamp, headers: r.headers }
    }

    /// The typed record, or a type error naming `at` (a node name).
    pub fn into_typed<K: Clone + Send + Sync + 'static, V: Clone + Send + Sync + 'static>(
        self,
        at: &str,
    ) -> Result<Record<K, V>> {
        let key = take::<K>(self.key, at, "key")?;
        let value = take::<V>(self.value, at, "value")?;
        Ok(Record { key, value, timestamp: self.timestamp, headers: self.headers })
    }
}

fn take<T: Clone + Send + Sync + 'static>(v: AnyValue, at: &str, what: &str) -> Result<T> {
    let arc = v
        .downcast::<T>()
        .map_err(|_| StreamsError::Type(format!("{at}: the {what} is not a {}", std::any::type_name::<T>())))?;
    Ok(Arc::try_unwrap(arc).unwrap_or_else(|a| (*a).clone()))
}

/// A typed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    pub key: K,
    pub value: V,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record { key, value, timestamp, headers: Vec::new() }
    }
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record { key, value: self.value, timestamp: self.timestamp, headers: self.headers }
    }
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record { key: self.key, value, timestamp: self.timestamp, headers: self.headers }
    }
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }
}

/// Which clock drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// The task's stream time (the largest record timestamp seen), advanced by records.
    StreamTime,
    /// The system clock, checked by the stream thread between records.
    WallClockTime,
}

/// A scheduled punctuation, returned by `schedule` and passed back to `punctuate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PunctuatorId(pub u64);

/// A task: the subtopology it runs and the partition it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub subtopology: u32,
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    /// Kafka's form, `0_1`, also the task's state directory name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

impl std::str::FromStr for TaskId {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (a, b) = s.split_once('_').ok_or_else(|| format!("not a task id: {s}"))?;
        Ok(TaskId {
            subtopology: a.parse().map_err(|_| format!("not a task id: {s}"))?,
            partition: b.parse().map_err(|_| format!("not a task id: {s}"))?,
        })
    }
}

/// Where the record being processed came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a node sees of its task. Implemented by the task executor; nodes
/// reach it through [`ProcessorContext`].
pub trait NodeContext {
    /// Passes a record to the current node's children (or to the one named).
    fn forward(&mut self, record: DynRecord, child: Option<&str>) -> Result<()>;
    /// A state store connected to the current node, with changelogging.
    fn store(&mut self, name: &str) -> Result<StoreHandle<'_>>;
    /// Schedules the current node's `punctuate` every `interval`.
    fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId;
    /// Cancels a punctuation.
    fn cancel(&mut self, id: PunctuatorId);
    /// The input record being processed (none during punctuation).
    fn record_metadata(&self) -> Option<RecordMetadata>;
    /// The task's stream time (-1 before any record).
    fn stream_time(&self) -> i64;
    /// The system clock as the thread last read it, ms since the epoch.
    fn wall_clock_ms(&self) -> i64;
    fn task_id(&self) -> TaskId;
    fn application_id(&self) -> &str;
    /// Asks for a commit as soon as possible.
    fn request_commit(&mut self);
    /// This task's share of `cache.max.bytes.buffering` (0: no caching, emit every update).
    fn cache_max_bytes(&self) -> usize;
}

/// A node instance of one task, type-erased.
pub trait ErasedProcessor: Send {
    fn init(&mut self, _ctx: &mut dyn NodeContext) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, ctx: &mut dyn NodeContext, record: DynRecord) -> Result<()>;
    fn punctuate(&mut self, _ctx: &mut dyn NodeContext, _id: PunctuatorId, _timestamp: i64) -> Result<()> {
        Ok(())
    }
    /// Called before every commit: emit what a record cache holds back.
    fn flush(&mut self, _ctx: &mut dyn NodeContext) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) {}
}

/// Makes a fresh node instance for each task.
pub type ProcessorSupplier = Arc<dyn Fn() -> Box<dyn ErasedProcessor> + Send + Sync>;

/// A typed processor (the processor API).
pub trait Processor<KIn, VIn, KOut, VOut>: Send + 'static {
    fn init(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        Ok(())
    }
    fn process(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>, record: Record<KIn, VIn>) -> Result<()>;
    /// A punctuation this processor scheduled is due; `timestamp` is the
    /// stream time or wall-clock time it fired at.
    fn punctuate(
        &mut self,
        _ctx: &mut ProcessorContext<'_, KOut, VOut>,
        _id: PunctuatorId,
        _timestamp: i64,
    ) -> Result<()> {
        Ok(())
    }
    /// Before every commit.
    fn flush(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) {}
}

/// A typed window onto the task for a processor that emits `Record<KOut, VOut>`.
pub struct ProcessorContext<'a, KOut, VOut> {
    inner: &'a mut dyn NodeContext,
    _out: PhantomData<fn(KOut, VOut)>,
}

impl<'a, KOut: Send + Sync + 'static, VOut: Send + Sync + 'static> ProcessorContext<'a, KOut, VOut> {
    pub fn new(inner: &'a mut dyn NodeContext) -> Self {
        ProcessorContext { inner, _out: PhantomData }
    }
    /// Passes a record to every child.
    pub fn forward(&mut self, record: Record<KOut, VOut>) -> Result<()> {
        self.inner.forward(DynRecord::from_typed(record), None)
    }
    /// Passes a record to the named child only.
    pub fn forward_to(&mut self, child: &str, record: Record<KOut, VOut>) -> Result<()> {
        self.inner.forward(DynRecord::from_typed(record), Some(child))
    }
    /// A key-value store connected to this processor.
    pub fn kv_store<K: 'static, V: 'static>(&mut self, name: &str) -> Result<KeyValueStore<'_, K, V>> {
        KeyValueStore::new(self.inner.store(name)?)
    }
    /// A window store connected to this processor.
    pub fn window_store<K: 'static, V: 'static>(&mut self, name: &str) -> Result<WindowStore<'_, K, V>> {
        WindowStore::new(self.inner.store(name)?)
    }
    /// A session store connected to this processor.
    pub fn session_store<K: Clone + 'static, V: 'static>(&mut self, name: &str) -> Result<SessionStore<'_, K, V>> {
        SessionStore::new(self.inner.store(name)?)
    }
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        self.inner.schedule(interval, kind)
    }
    pub fn cancel(&mut self, id: PunctuatorId) {
        self.inner.cancel(id)
    }
    pub fn record_metadata(&self) -> Option<RecordMetadata> {
        self.inner.record_metadata()
    }
    pub fn stream_time(&self) -> i64 {
        self.inner.stream_time()
    }
    pub fn wall_clock_ms(&self) -> i64 {
        self.inner.wall_clock_ms()
    }
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id()
    }
    pub fn application_id(&self) -> &str {
        self.inner.application_id()
    }
    pub fn commit(&mut self) {
        self.inner.request_commit()
    }
    pub fn cache_max_bytes(&self) -> usize {
        self.inner.cache_max_bytes()
    }
    /// The erased context, for DSL nodes that forward other shapes.
    pub fn erased(&mut self) -> &mut dyn NodeContext {
        self.inner
    }
}

/// Wraps a typed processor factory as a topology node supplier.
pub fn processor<P, KIn, VIn, KOut, VOut>(name: &str, make: impl Fn() -> P + Send + Sync + 'static) -> ProcessorSupplier
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: Clone + Send + Sync + 'static,
    VIn: Clone + Send + Sync + 'static,
    KOut: Send + Sync + 'static,
    VOut: Send + Sync + 'static,
{
    let name = name.to_string();
    Arc::new(move || {
        Box::new(Typed::<P, KIn, VIn, KOut, VOut> { name: name.clone(), inner: make(), _types: PhantomData })
            as Box<dyn ErasedProcessor>
    })
}

struct Typed<P, KIn, VIn, KOut, VOut> {
    name: String,
    inner: P,
    _types: PhantomData<fn(KIn, VIn, KOut, VOut)>,
}

impl<P, KIn, VIn, KOut, VOut> ErasedProcessor for Typed<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: Clone + Send + Sync + 'static,
    VIn: Clone + Send + Sync + 'static,
    KOut: Send + Sync + 'static,
    VOut: Send + Sync + 'static,
{
    fn init(&mut self, ctx: &mut dyn NodeContext) -> Result<()> {
        self.inner.init(&mut ProcessorContext::new(ctx))
    }
    fn process(&mut self, ctx: &mut dyn NodeContext, record: DynRecord) -> Result<()> {
        let r = record.into_typed::<KIn, VIn>(&self.name)?;
        self.inner.process(&mut ProcessorContext::new(ctx), r)
    }
    fn punctuate(&mut self, ctx: &mut dyn NodeContext, id: PunctuatorId, timestamp: i64) -> Result<()> {
        self.inner.punctuate(&mut ProcessorContext::new(ctx), id, timestamp)
    }
    fn flush(&mut self, ctx: &mut dyn NodeContext) -> Result<()> {
        self.inner.flush(&mut ProcessorContext::new(ctx))
    }
    fn close(&mut self) {
        self.inner.close()
    }
}
