//! State stores: byte-level key-value stores, the changelog that makes them
//! recoverable, and the typed views processors use.
//!
//! Every store is a [`KeyValueBytesStore`] (in memory, or persistent on disk);
//! window and session stores are key encodings on top of one (see
//! [`window`]), so changelogging, restoration, checkpoints and standby
//! replicas work the same for all kinds. A processor reaches a store through
//! a [`StoreHandle`], which writes every change to the store's changelog
//! topic (`<application.id>-<store>-changelog`, partition = task partition)
//! before it is visible — the task executor sends those records with the
//! task's output, so they commit together.

pub mod memory;
pub mod persistent;
pub mod window;

use std::any::Any;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::error::{Result, StreamsError};
use super::processor::AnyValue;
use super::serde::SerdeRef;

pub use memory::{InMemoryStore, SharedStore};
pub use persistent::PersistentStore;
pub use window::{SessionStore, Window, WindowStore, Windowed};

/// A store of byte keys and byte values, ordered by key bytes.
pub trait KeyValueBytesStore: Send {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>>;
    /// `None` deletes the key.
    fn put(&mut self, key: Bytes, value: Option<Bytes>) -> Result<()>;
    /// Entries with keys in the bounds, in key order.
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>>;
    fn approximate_num_entries(&self) -> u64;
    /// Makes every put so far durable (a no-op in memory).
    fn flush(&mut self) -> Result<()>;
    /// True when the contents survive a restart (then a checkpoint is worth writing).
    fn persistent(&self) -> bool;
}

/// What kind of store a spec describes (how its keys are encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    KeyValue,
    /// Keys are (key, window start); entries older than stream time − retention expire.
    Window {
        size_ms: i64,
        retention_ms: i64,
        retain_duplicates: bool,
    },
    /// Keys are (key, session end, session start).
    Session {
        retention_ms: i64,
    },
}

/// A store as a topology declares it; each task opens its own instance.
#[derive(Clone)]
pub struct StoreSpec {
    pub name: String,
    pub kind: StoreKind,
    /// On disk under `state.dir` (else in memory).
    pub persistent: bool,
    /// Changes go to `<application.id>-<name>-changelog`.
    pub logging: bool,
    /// Topic configs for the changelog topic (on top of compaction).
    pub log_config: BTreeMap<String, String>,
    /// Whether DSL processors on this store hold updates in a record cache.
    pub caching: bool,
    /// `SerdeRef<K>` and `SerdeRef<V>`, erased.
    pub key_serde: AnyValue,
    pub value_serde: AnyValue,
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("persistent", &self.persistent)
            .field("logging", &self.logging)
            .field("caching", &self.caching)
            .finish()
    }
}

impl StoreSpec {
    fn new<K: 'static, V: 'static>(name: &str, kind: StoreKind, k: SerdeRef<K>, v: SerdeRef<V>) -> Self {
        StoreSpec {
            name: name.to_string(),
            kind,
            persistent: true,
            logging: true,
            log_config: BTreeMap::new(),
            caching: true,
            key_serde: Arc::new(k),
            value_serde: Arc::new(v),
        }
    }
    /// A persistent, logged key-value store.
    pub fn key_value<K: 'static, V: 'static>(name: &str, k: SerdeRef<K>, v: SerdeRef<V>) -> Self {
        Self::new(name, StoreKind::KeyValue, k, v)
    }
    /// A window store; `retention_ms` must cover `size_ms` plus the grace period.
    pub fn window<K: 'static, V: 'static>(
        name: &str,
        size_ms: i64,
        retention_ms: i64,
        retain_duplicates: bool,
        k: SerdeRef<K>,
        v: SerdeRef<V>,
    ) -> Self {
        Self::new(name, StoreKind::Window { size_ms, retention_ms, retain_duplicates }, k, v)
    }
    /// A session store.
    pub fn session<K: 'static, V: 'static>(name: &str, retention_ms: i64, k: SerdeRef<K>, v: SerdeRef<V>) -> Self {
        Self::new(name, StoreKind::Session { retention_ms }, k, v)
    }
    pub fn in_memory(mut self) -> Self {
        self.persistent = false;
        self
    }
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
    pub fn with_logging(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }
    pub fn with_caching(mut self, enabled: bool) -> Self {
        self.caching = enabled;
        self
    }
    /// The typed serdes, if the spec was declared with these types.
    pub fn serdes<K: 'static, V: 'static>(&self) -> Result<(SerdeRef<K>, SerdeRef<V>)> {
        let k = serde_of::<K>(&*self.key_serde, &self.name, "key")?;
        let v = serde_of::<V>(&*self.value_serde, &self.name, "value")?;
        Ok((k, v))
    }
    /// The changelog topic's name for an application.
    pub fn changelog_topic(&self, application_id: &str) -> String {
        changelog_topic(application_id, &self.name)
    }
}

/// `<application.id>-<store>-changelog`, Kafka's name.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

fn serde_of<T: 'static>(any: &(dyn Any + Send + Sync), store: &str, what: &str) -> Result<SerdeRef<T>> {
    any.downcast_ref::<SerdeRef<T>>().cloned().ok_or_else(|| {
        StreamsError::Type(format!("store {store}: the {what} type is not {}", std::any::type_name::<T>()))
    })
}

/// Where a store handle writes changelog records.
pub trait ChangelogWriter {
    fn log(&mut self, key: Bytes, value: Option<Bytes>, timestamp: i64) -> Result<()>;
}

/// A processor's access to one store of its task: reads from the store,
/// writes to the changelog and the store.
pub struct StoreHandle<'a> {
    pub(crate) spec: &'a StoreSpec,
    pub(crate) store: &'a mut dyn KeyValueBytesStore,
    pub(crate) log: Option<Box<dyn ChangelogWriter + 'a>>,
    /// Timestamp given to changelog records (the current record's).
    pub(crate) timestamp: i64,
    /// The task's stream time (window retention).
    pub(crate) stream_time: i64,
    /// Sequence for window stores that keep duplicates.
    pub(crate) seq: &'a mut u32,
}

impl<'a> StoreHandle<'a> {
    pub fn new(
        spec: &'a StoreSpec,
        store: &'a mut dyn KeyValueBytesStore,
        log: Option<Box<dyn ChangelogWriter + 'a>>,
        timestamp: i64,
        stream_time: i64,
        seq: &'a mut u32,
    ) -> Self {
        StoreHandle { spec, store, log, timestamp, stream_time, seq }
    }
    pub fn spec(&self) -> &StoreSpec {
        self.spec
    }
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.store.get(key)
    }
    /// Writes (or with `None` deletes) a key, changelog first.
    pub fn put(&mut self, key: Bytes, value: Option<Bytes>) -> Result<()> {
        if let Some(log) = self.log.as_mut() {
            log.log(key.clone(), value.clone(), self.timestamp)?;
        }
        self.store.put(key, value)
    }
    pub fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        self.store.range(from, to)
    }
    pub fn approximate_num_entries(&self) -> u64 {
        self.store.approximate_num_entries()
    }
    pub(crate) fn next_seq(&mut self) -> u32 {
        *self.seq = self.seq.wrapping_add(1);
        *self.seq
    }
}

/// A typed key-value store.
pub struct KeyValueStore<'a, K, V> {
    handle: StoreHandle<'a>,
    key: SerdeRef<K>,
    value: SerdeRef<V>,
    _t: PhantomData<fn(K, V)>,
}

impl<'a, K: 'static, V: 'static> KeyValueStore<'a, K, V> {
    pub fn new(handle: StoreHandle<'a>) -> Result<Self> {
        if handle.spec.kind != StoreKind::KeyValue {
            return Err(StreamsError::Type(format!("store {} is not a key-value store", handle.spec.name)));
        }
        let (key, value) = handle.spec.serdes::<K, V>()?;
        Ok(KeyValueStore { handle, key, value, _t: PhantomData })
    }
    fn topic(&self) -> String {
        self.handle.spec.name.clone()
    }
    fn key_bytes(&self, key: &K) -> Result<Bytes> {
        self.key
            .serialize(&self.topic(), key)?
            .ok_or_else(|| StreamsError::store(&self.handle.spec.name, "a store key cannot serialize to null"))
    }
    fn decode(&self, v: Option<Bytes>) -> Result<Option<V>> {
        v.map(|b| self.value.deserialize(&self.topic(), Some(&b))).transpose().map_err(Into::into)
    }
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        self.decode(self.handle.get(&k)?)
    }
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        let k = self.key_bytes(key)?;
        let v = self.value.serialize(&self.topic(), value)?;
        self.handle.put(k, v)
    }
    /// Stores `value` unless the key has one; returns the existing value.
    pub fn put_if_absent(&mut self, key: &K, value: &V) -> Result<Option<V>> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, value)?;
        }
        Ok(existing)
    }
    /// Removes the key; returns its old value.
    pub fn delete(&mut self, key: &K) -> Result<Option<V>> {
        let k = self.key_bytes(key)?;
        let old = self.decode(self.handle.get(&k)?)?;
        if old.is_some() {
            self.handle.put(k, None)?;
        }
        Ok(old)
    }
    /// Entries from `from` to `to` inclusive, in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (f, t) = (self.key_bytes(from)?, self.key_bytes(to)?);
        self.decode_all(self.handle.range(Bound::Included(&f), Bound::Included(&t))?)
    }
    /// Every entry, in serialized-key order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.decode_all(self.handle.range(Bound::Unbounded, Bound::Unbounded)?)
    }
    fn decode_all(&self, entries: Vec<(Bytes, Bytes)>) -> Result<Vec<(K, V)>> {
        let topic = self.topic();
        entries
            .into_iter()
            .map(|(k, v)| Ok((self.key.deserialize(&topic, Some(&k))?, self.value.deserialize(&topic, Some(&v))?)))
            .collect()
    }
    pub fn approximate_num_entries(&self) -> u64 {
        self.handle.approximate_num_entries()
    }
}
