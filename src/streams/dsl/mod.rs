//! The Streams DSL: `StreamsBuilder`, `KStream`, `KTable` and friends, in
//! Kafka Streams' terms, compiled into a [`Topology`].
//!
//! Every operator adds a node named as Kafka names them
//! (`KSTREAM-FILTER-0000000001`, …) unless the user names it. A `KTable`
//! always has a key-value store (its own or its source's) so joins can look
//! values up; its records carry a [`Change`] (new and old value) so
//! downstream aggregations can subtract what a key used to contribute.
//! Operators never fail at call time: problems (a missing serde, a bad
//! name) are recorded and `StreamsBuilder::build` returns them.
//!
//! Files: this one (builder, stream/table handles, the parameter types),
//! [`kstream`] (stream operators), [`ktable`] (table operators),
//! [`grouped`] (grouping and aggregations), [`grouped_table`]
//! (`KTable::group_by` and its aggregations), [`windows`] (window specs and
//! windowed aggregations), [`sliding`] (sliding windows), [`joins`] (all
//! joins).

mod global;
mod grouped;
mod grouped_table;
mod joins;
mod kstream;
mod ktable;
mod sliding;
mod windows;

pub use global::GlobalKTable;
pub use joins::{JoinWindows, Joined, StreamJoined};
pub use sliding::{SlidingWindowedKStream, SlidingWindows};

use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{Result, StreamsError};
use super::processor::{processor, Processor, ProcessorContext, ProcessorSupplier, Record};
use super::serde::{SerdeRef, Serdes};
use super::state::StoreSpec;
use super::topology::{deserializer, serializer, SinkSpec, SourceSpec, TimestampExtractorFn, Topology};

pub use grouped::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use kstream::{BranchPredicate, Branched, BranchedKStream, Repartitioned};
pub use windows::{
    SessionWindowedKStream, SessionWindows, TimeWindowedKStream, TimeWindows, WindowSpec, WindowedSerdes,
};

/// A table update: the key's value after and before (`None`: absent / deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct Change<V> {
    pub new: Option<V>,
    pub old: Option<V>,
}

pub(crate) struct BuilderInner {
    pub(crate) topology: Topology,
    index: u64,
    pub(crate) errors: Vec<String>,
}

/// The shared builder every stream and table handle points back to.
pub(crate) type Shared = Arc<Mutex<BuilderInner>>;

pub(crate) fn lock(b: &Shared) -> MutexGuard<'_, BuilderInner> {
    // A poisoned builder only means a panic in user code elsewhere; keep going.
    b.lock().unwrap_or_else(|e| e.into_inner())
}

impl BuilderInner {
    /// Kafka's generated name: `PREFIX` + a 10-digit sequence number.
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        let n = format!("{prefix}{:010}", self.index);
        self.index += 1;
        n
    }
    pub(crate) fn error(&mut self, e: impl std::fmt::Display) {
        self.errors.push(e.to_string());
    }
    /// Adds a processor node; records an error instead of failing.
    pub(crate) fn add_processor(&mut self, name: &str, supplier: ProcessorSupplier, parents: &[&str]) {
        if let Err(e) = self.topology.add_processor(name, supplier, parents) {
            self.error(e);
        }
    }
    pub(crate) fn add_store(&mut self, spec: StoreSpec, processors: &[&str]) {
        if let Err(e) = self.topology.add_state_store(spec, processors) {
            self.error(e);
        }
    }
}

/// Builds a topology with the DSL.
#[derive(Clone)]
pub struct StreamsBuilder {
    pub(crate) inner: Shared,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// How a topic is read: serdes, timestamp extractor, offset reset, node name.
pub struct Consumed<K, V> {
    pub key: SerdeRef<K>,
    pub value: SerdeRef<V>,
    pub timestamp_extractor: Option<TimestampExtractorFn>,
    pub offset_reset: Option<String>,
    pub name: Option<String>,
}

impl<K, V> Consumed<K, V> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>) -> Self {
        Consumed { key, value, timestamp_extractor: None, offset_reset: None, name: None }
    }
    pub fn with_timestamp_extractor(mut self, f: TimestampExtractorFn) -> Self {
        self.timestamp_extractor = Some(f);
        self
    }
    /// "earliest" or "latest".
    pub fn with_offset_reset(mut self, reset: &str) -> Self {
        self.offset_reset = Some(reset.to_string());
        self
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

/// How a stream is written: serdes, partitioner, node name.
pub struct Produced<K, V> {
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V>>,
    pub partitioner: Option<super::topology::PartitionerFn>,
    pub name: Option<String>,
}

impl<K, V> Produced<K, V> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>) -> Self {
        Produced { key: Some(key), value: Some(value), partitioner: None, name: None }
    }
    /// The stream's own serdes.
    pub fn default_serdes() -> Self {
        Produced { key: None, value: None, partitioner: None, name: None }
    }
    pub fn with_partitioner(mut self, p: super::topology::PartitionerFn) -> Self {
        self.partitioner = Some(p);
        self
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

/// How a grouping repartitions: serdes and the repartition topic's name.
pub struct Grouped<K, V> {
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V>>,
    pub name: Option<String>,
}

impl<K, V> Grouped<K, V> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>) -> Self {
        Grouped { key: Some(key), value: Some(value), name: None }
    }
    pub fn default_serdes() -> Self {
        Grouped { key: None, value: None, name: None }
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

/// How a table or aggregation result is stored: store name, serdes, kind,
/// logging, caching.
pub struct Materialized<K, V> {
    pub name: Option<String>,
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V>>,
    pub persistent: bool,
    pub logging: bool,
    pub log_config: std::collections::BTreeMap<String, String>,
    pub caching: bool,
    /// For window and session stores: how long windows are kept (default:
    /// window size + grace, at least one day as Kafka).
    pub retention_ms: Option<i64>,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key: None,
            value: None,
            persistent: true,
            logging: true,
            log_config: Default::default(),
            caching: true,
            retention_ms: None,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// A store with this name (queryable, and named in the changelog topic).
    pub fn as_store(name: &str) -> Self {
        Materialized { name: Some(name.to_string()), ..Default::default() }
    }
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>) -> Self {
        Materialized { key: Some(key), value: Some(value), ..Default::default() }
    }
    pub fn with_key_serde(mut self, key: SerdeRef<K>) -> Self {
        self.key = Some(key);
        self
    }
    pub fn with_value_serde(mut self, value: SerdeRef<V>) -> Self {
        self.value = Some(value);
        self
    }
    pub fn in_memory(mut self) -> Self {
        self.persistent = false;
        self
    }
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
    pub fn with_logging_enabled(mut self, config: std::collections::BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }
    pub fn with_retention_ms(mut self, ms: i64) -> Self {
        self.retention_ms = Some(ms);
        self
    }
    /// A key-value store spec with these settings; `default_name` when unnamed.
    pub(crate) fn kv_spec(&self, default_name: &str, key: SerdeRef<K>, value: SerdeRef<V>) -> StoreSpec
    where
        K: 'static,
        V: 'static,
    {
        let name = self.name.clone().unwrap_or_else(|| default_name.to_string());
        self.apply(StoreSpec::key_value(&name, key, value))
    }
    pub(crate) fn apply(&self, mut spec: StoreSpec) -> StoreSpec {
        spec.persistent = self.persistent;
        spec.logging = self.logging;
        spec.log_config = self.log_config.clone();
        spec.caching = self.caching;
        spec
    }
}

/// A record stream.
pub struct KStream<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    /// The key may have changed since the source: grouping or joining
    /// must go through a repartition topic first.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            builder: self.builder.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

/// A changelog stream: the latest value per key. Its records carry
/// `Change<V>`; `store` holds the current values (K → V).
pub struct KTable<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: String,
    pub(crate) store: String,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            builder: self.builder.clone(),
            node: self.node.clone(),
            store: self.store.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

/// Bounds every DSL key and value type needs.
pub trait Data: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Data for T {}

impl StreamsBuilder {
    pub fn new() -> Self {
        StreamsBuilder {
            inner: Arc::new(Mutex::new(BuilderInner { topology: Topology::new(), index: 0, errors: Vec::new() })),
        }
    }

    fn source<K: Data, V: Data>(
        &self,
        topics: &[&str],
        consumed: &Consumed<K, V>,
        key: SerdeRef<K>,
        value_deser: super::topology::DeserializeFn,
    ) -> String {
        let _ = key;
        let mut b = lock(&self.inner);
        let name = consumed.name.clone().unwrap_or_else(|| b.new_name("KSTREAM-SOURCE-"));
        let spec = SourceSpec {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            deserialize: value_deser,
            timestamp_extractor: consumed.timestamp_extractor.clone(),
            offset_reset: consumed.offset_reset.clone(),
        };
        if let Err(e) = b.topology.add_source_spec(&name, spec) {
            b.error(e);
        }
        name
    }

    /// A stream of the records in `topics`.
    pub fn stream<K: Data, V: Data>(&self, topics: &[&str], consumed: Consumed<K, V>) -> KStream<K, V> {
        let de = deserializer(consumed.key.clone(), consumed.value.clone());
        let node = self.source(topics, &consumed, consumed.key.clone(), de);
        KStream {
            builder: self.inner.clone(),
            node,
            key_serde: Some(consumed.key),
            value_serde: Some(consumed.value),
            repartition_required: false,
        }
    }

    /// A table of the latest value per key in `topic` (a null value deletes).
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        // Read values as Option<V>: a null is a tombstone, not an error.
        let de = deserializer(consumed.key.clone(), Serdes::nullable(consumed.value.clone()));
        let source = self.source(&[topic], &consumed, consumed.key.clone(), de);
        let mut b = lock(&self.inner);
        let node = b.new_name("KTABLE-SOURCE-");
        let default_store = format!("{topic}-STATE-STORE-{:010}", b.index);
        b.index += 1;
        let spec = materialized.kv_spec(&default_store, consumed.key.clone(), consumed.value.clone());
        let store = spec.name.clone();
        let s2 = store.clone();
        b.add_processor(
            &node,
            processor(&node, move || TableSource::<K, V> { store: s2.clone(), _t: Default::default() }),
            &[&source],
        );
        b.add_store(spec, &[&node]);
        drop(b);
        KTable {
            builder: self.inner.clone(),
            node,
            store,
            key_serde: Some(consumed.key),
            value_serde: Some(consumed.value),
        }
    }

    /// The topology built so far, or every problem found while building it.
    pub fn build(&self) -> Result<Topology> {
        let b = lock(&self.inner);
        if !b.errors.is_empty() {
            return Err(StreamsError::Topology(b.errors.join("; ")));
        }
        Ok(b.topology.clone())
    }
}

/// Materializes a table topic: store the new value, emit the change.
struct TableSource<K, V> {
    store: String,
    _t: std::marker::PhantomData<fn(K, V)>,
}

impl<K: Data, V: Data> Processor<K, Option<V>, K, Change<V>> for TableSource<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>, r: Record<K, Option<V>>) -> Result<()> {
        let old = {
            let mut store = ctx.kv_store::<K, V>(&self.store)?;
            let old = store.get(&r.key)?;
            match &r.value {
                Some(v) => store.put(&r.key, v)?,
                None => {
                    if old.is_none() {
                        return Ok(()); // deleting nothing changes nothing
                    }
                    store.delete(&r.key)?;
                }
            }
            old
        };
        let change = Change { new: r.value.clone(), old };
        ctx.forward(r.with_value(change))
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Keeps records the predicate accepts.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(predicate);
        self.stateless("KSTREAM-FILTER-", self.repartition_required, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
                if f(&r.key, &r.value) {
                    ctx.forward(r)?;
                }
                Ok(())
            })
        })
        .with_serdes(self.key_serde.clone(), self.value_serde.clone())
    }

    /// Changes each value, keeping the key.
    pub fn map_values<V2: Data>(&self, mapper: impl Fn(&V) -> V2 + Send + Sync + 'static) -> KStream<K, V2> {
        let f = Arc::new(mapper);
        self.stateless("KSTREAM-MAPVALUES-", self.repartition_required, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V2>, r: Record<K, V>| {
                let v = f(&r.value);
                ctx.forward(r.with_value(v))
            })
        })
        .with_serdes(self.key_serde.clone(), None)
    }

    /// Writes the stream to `topic`.
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        let mut b = lock(&self.builder);
        let name = produced.name.clone().unwrap_or_else(|| b.new_name("KSTREAM-SINK-"));
        let (Some(k), Some(v)) = (produced.key.or(self.key_serde.clone()), produced.value.or(self.value_serde.clone()))
        else {
            b.error(format!("{name}: no serdes for writing to {topic}; give them with Produced::with"));
            return;
        };
        let spec =
            SinkSpec { topic: topic.to_string(), serialize: serializer(k, v), partitioner: produced.partitioner };
        if let Err(e) = b.topology.add_sink_spec(&name, spec, &[&self.node]) {
            b.error(e);
        }
    }

    /// Adds a processor node generated with `prefix` after this stream.
    pub(crate) fn stateless<K2: Data, V2: Data, P: Processor<K, V, K2, V2>>(
        &self,
        prefix: &str,
        repartition_required: bool,
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let mut b = lock(&self.builder);
        let name = b.new_name(prefix);
        b.add_processor(&name, processor(&name, make), &[&self.node]);
        drop(b);
        KStream { builder: self.builder.clone(), node: name, key_serde: None, value_serde: None, repartition_required }
    }

    pub(crate) fn with_serdes(mut self, k: Option<SerdeRef<K>>, v: Option<SerdeRef<V>>) -> Self {
        self.key_serde = k;
        self.value_serde = v;
        self
    }

    /// Sends the stream through the internal topic `<base>-repartition`
    /// (created by the runtime as `<application.id>-<base>-repartition`) so
    /// records are partitioned by their current key; records with a null
    /// key (as serialized) are dropped first, as Kafka does. `partitions`
    /// `None` lets the runtime size the topic from the upstream sources.
    pub(crate) fn repartition_through(
        &self,
        base: &str,
        key: SerdeRef<K>,
        value: SerdeRef<V>,
        partitions: Option<i32>,
    ) -> KStream<K, V> {
        let topic = format!("{base}-repartition");
        let mut b = lock(&self.builder);
        let filter = b.new_name("KSTREAM-FILTER-");
        let ks = key.clone();
        let t2 = topic.clone();
        b.add_processor(
            &filter,
            processor(&filter, move || {
                let ks = ks.clone();
                let t2 = t2.clone();
                FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
                    if matches!(ks.serialize(&t2, &r.key), Ok(Some(_))) {
                        ctx.forward(r)?;
                    }
                    Ok(())
                })
            }),
            &[&self.node],
        );
        let sink = b.new_name("KSTREAM-SINK-");
        let spec =
            SinkSpec { topic: topic.clone(), serialize: serializer(key.clone(), value.clone()), partitioner: None };
        if let Err(e) = b.topology.add_sink_spec(&sink, spec, &[&filter]) {
            b.error(e);
        }
        b.topology.add_repartition_topic(&topic, partitions);
        let source = b.new_name("KSTREAM-SOURCE-");
        let spec = SourceSpec {
            topics: vec![topic],
            deserialize: deserializer(key.clone(), value.clone()),
            timestamp_extractor: None,
            offset_reset: None,
        };
        if let Err(e) = b.topology.add_source_spec(&source, spec) {
            b.error(e);
        }
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: source,
            key_serde: Some(key),
            value_serde: Some(value),
            repartition_required: false,
        }
    }

    /// The node this stream comes out of.
    pub fn node_name(&self) -> &str {
        &self.node
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// The stream of this table's updates (deletes as `None` values are dropped; use
    /// `to_change_stream` to see them).
    pub fn to_stream(&self) -> KStream<K, V> {
        let mut b = lock(&self.builder);
        let name = b.new_name("KTABLE-TOSTREAM-");
        b.add_processor(
            &name,
            processor(&name, || {
                FnProcessor(|ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, Change<V>>| {
                    let Some(v) = r.value.new.clone() else { return Ok(()) };
                    ctx.forward(r.with_value(v))
                })
            }),
            &[&self.node],
        );
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: false,
        }
    }

    /// The name of the store holding this table's current values.
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
}

/// A processor from a closure (stateless operators).
pub(crate) struct FnProcessor<F>(pub(crate) F);

impl<F, KIn, VIn, KOut, VOut> Processor<KIn, VIn, KOut, VOut> for FnProcessor<F>
where
    F: FnMut(&mut ProcessorContext<'_, KOut, VOut>, Record<KIn, VIn>) -> Result<()> + Send + 'static,
    KOut: Send + Sync + 'static,
    VOut: Send + Sync + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>, r: Record<KIn, VIn>) -> Result<()> {
        (self.0)(ctx, r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::test_driver::TopologyTestDriver;

    #[test]
    fn filter_map_values_to_and_a_table() {
        let b = StreamsBuilder::new();
        let s = b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()));
        s.filter(|_, v| *v > 1).map_values(|v| v * 10).to("out", Produced::with(Serdes::string(), Serdes::long()));
        let t = b.table("tab", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_store("tab-store"));
        t.to_stream().to("tab-out", Produced::default_serdes());
        let topo = b.build().unwrap();
        assert!(topo.describe().contains("KSTREAM-FILTER-0000000001"), "{}", topo.describe());
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let (ks, ls) = (Serdes::string(), Serdes::long());
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            d.pipe("in", &ks, &k.to_string(), &ls, &v, 5).unwrap();
        }
        let out = d.read("out", &ks, &ls).unwrap();
        assert_eq!(out, vec![("b".to_string(), 20, 5), ("c".to_string(), 30, 5)]);
        d.pipe_raw("tab", Some("k".into()), Some("v1".into()), 1).unwrap();
        d.pipe_raw("tab", Some("k".into()), None, 2).unwrap();
        d.pipe_raw("tab", Some("k".into()), None, 3).unwrap();
        let tab = d.read_raw("tab-out");
        assert_eq!(tab.len(), 1, "the delete is not a stream record; deleting nothing is nothing: {tab:?}");
        assert_eq!(d.read_raw("app-tab-store-changelog").len(), 2);
        // Through a repartition topic and back.
        let b2 = StreamsBuilder::new();
        let s2 = b2.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()));
        s2.repartition_through("x", Serdes::string(), Serdes::long(), None).to("o", Produced::default_serdes());
        let topo = b2.build().unwrap();
        assert_eq!(topo.subtopologies().len(), 2);
        let mut d2 = TopologyTestDriver::new(topo, "app").unwrap();
        d2.pipe("in", &ks, &"k".to_string(), &ls, &7, 9).unwrap();
        assert_eq!(d2.read_raw("app-x-repartition").len(), 1);
        assert_eq!(d2.read("o", &ks, &ls).unwrap(), vec![("k".to_string(), 7, 9)]);
        // A missing serde is reported by build().
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()))
            .map_values(|v| v + 1)
            .to("o", Produced::default_serdes());
        assert!(b.build().is_err());
    }
}
