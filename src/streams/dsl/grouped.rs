//! Grouped streams and their aggregations: `count`, `reduce`, `aggregate`
//! into a `KTable`, and the record cache those aggregations use.
//!
//! A grouping of a stream whose key changed goes through a repartition
//! topic first, named `<grouped name or store name>-repartition` (the
//! runtime makes it `<application.id>-…`), so each key's records meet in one
//! task. The aggregation keeps its result in a key-value store and emits a
//! [`Change`] (new and old aggregate) per update.
//!
//! Record cache (Kafka's `cache.max.bytes.buffering`): when the store has
//! caching on and the task's cache share is above zero, updates stay in a
//! per-processor cache — the store, its changelog and downstream see only
//! the latest value per key, when the runtime commits (`flush`) or when the
//! cache outgrows its share (the least recently written keys go first). The
//! old value emitted is the one the store held before the cache, so
//! downstream sees one change per key per commit. With a zero share every
//! update is written and forwarded at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::{lock, Change, Data, Grouped, KStream, KTable, Materialized};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{SerdeRef, Serdes};
use crate::streams::state::KeyValueStore;

/// Per-entry bookkeeping bytes counted against the cache budget on top of
/// the key and value bytes (Kafka counts a similar fixed overhead).
const CACHE_ENTRY_OVERHEAD: usize = 64;

/// A stream grouped by key, ready to aggregate.
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            name: self.name.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

/// One step of an aggregation: the new aggregate from the record and the old one.
pub(crate) type Step<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;

/// The steps and value serdes of count, reduce and aggregate, shared by
/// grouped, time-windowed and sliding-windowed streams.
pub(crate) fn count_step<K, V>() -> Step<K, V, i64> {
    Arc::new(|_, _, old| old.unwrap_or(0) + 1)
}

/// Counts are Longs unless the user says otherwise.
pub(crate) fn count_materialized<K>(m: Materialized<K, i64>) -> Materialized<K, i64> {
    Materialized { value: m.value.clone().or(Some(Serdes::long())), ..m }
}

/// The first value starts the aggregate; later ones are `reducer(aggregate, value)`.
pub(crate) fn reduce_step<K, V: Clone + 'static>(
    reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
) -> Step<K, V, V> {
    Arc::new(move |_, v, old| match old {
        Some(agg) => reducer(&agg, v),
        None => v.clone(),
    })
}

/// A reduce stores values with the stream's value serde unless told otherwise.
pub(crate) fn reduce_materialized<K, V>(
    m: Materialized<K, V>,
    stream_value: Option<SerdeRef<V>>,
) -> Materialized<K, V> {
    Materialized { value: m.value.clone().or(stream_value), ..m }
}

/// `aggregator(key, value, aggregate)`, the aggregate starting at `initializer()`.
pub(crate) fn aggregate_step<K, V, VA: 'static>(
    initializer: impl Fn() -> VA + Send + Sync + 'static,
    aggregator: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
) -> Step<K, V, VA> {
    Arc::new(move |k, v, old| aggregator(k, v, &old.unwrap_or_else(&initializer)))
}

/// What an aggregation's setup resolved: where the processor hangs and its serdes.
pub(crate) struct Prepared<K, V> {
    pub(crate) parent: String,
    pub(crate) key: SerdeRef<K>,
    pub(crate) value: Option<SerdeRef<V>>,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>, repartition_required: bool) -> Self {
        KGroupedStream {
            key_serde: grouped.key.or(stream.key_serde.clone()),
            value_serde: grouped.value.or(stream.value_serde.clone()),
            name: grouped.name,
            repartition_required,
            stream,
        }
    }

    /// Resolves serdes and inserts the repartition topic if the key changed.
    /// `store` names the topic when the grouping is unnamed. `None` (with
    /// an error recorded) when a serde is missing.
    pub(crate) fn prepare(&self, op: &str, store: &str) -> Option<Prepared<K, V>> {
        let Some(key) = self.key_serde.clone() else {
            lock(&self.stream.builder).error(format!(
                "{op}: no key serde for store {store}; give it with Grouped::with or Materialized::with"
            ));
            return None;
        };
        if !self.repartition_required {
            return Some(Prepared { parent: self.stream.node.clone(), key, value: self.value_serde.clone() });
        }
        let base = self.name.clone().unwrap_or_else(|| store.to_string());
        let Some(value) = self.value_serde.clone() else {
            lock(&self.stream.builder).error(format!(
                "{op}: no value serde for the repartition topic {base}-repartition; give it with Grouped::with"
            ));
            return None;
        };
        let s = self.stream.repartition_through(&base, key.clone(), value.clone(), None);
        Some(Prepared { parent: s.node, key, value: Some(value) })
    }

    /// Store and processor names as Kafka generates them: the store name
    /// (if unnamed) first, then the processor.
    pub(crate) fn names<VA>(&self, prefix: &str, m: &Materialized<K, VA>) -> (String, String) {
        let mut b = lock(&self.stream.builder);
        let store = match &m.name {
            Some(n) => n.clone(),
            None => b.new_name(&format!("{prefix}STATE-STORE-")),
        };
        let node = b.new_name(prefix);
        (store, node)
    }

    /// Counts records per key.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.aggregate_with("KSTREAM-AGGREGATE-", "count", count_step(), count_materialized(materialized))
    }

    /// Combines each key's values with `reducer(aggregate, value)`; the first
    /// value is the start.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let m = reduce_materialized(materialized, self.value_serde.clone());
        self.aggregate_with("KSTREAM-REDUCE-", "reduce", reduce_step(reducer), m)
    }

    /// Folds each key's values into an aggregate that starts at `initializer()`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        self.aggregate_with("KSTREAM-AGGREGATE-", "aggregate", aggregate_step(initializer, aggregator), materialized)
    }

    fn aggregate_with<VA: Data>(
        &self,
        prefix: &str,
        op: &str,
        step: Step<K, V, VA>,
        m: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let (store, node) = self.names(prefix, &m);
        let key_serde = m.key.clone().or(self.key_serde.clone());
        let grouping = KGroupedStream { key_serde: key_serde.clone(), ..self.clone() };
        let failed = || KTable {
            builder: self.stream.builder.clone(),
            node: self.stream.node.clone(),
            store: store.clone(),
            key_serde: key_serde.clone(),
            value_serde: m.value.clone(),
        };
        let Some(p) = grouping.prepare(op, &store) else { return failed() };
        let Some(value_serde) = m.value.clone() else {
            lock(&self.stream.builder)
                .error(format!("{op}: no value serde for store {store}; give it with Materialized::with_value_serde"));
            return failed();
        };
        let spec = m.kv_spec(&store, p.key.clone(), value_serde.clone());
        let caching = spec.caching;
        let (s2, key, input_value) = (store.clone(), p.key.clone(), p.value.clone());
        let vs = value_serde.clone();
        let mut b = lock(&self.stream.builder);
        b.add_processor(
            &node,
            processor(&node, move || KvAggregate {
                store: s2.clone(),
                key: key.clone(),
                input_value: input_value.clone(),
                value: vs.clone(),
                step: step.clone(),
                caching,
                cache: RecordCache::default(),
            }),
            &[&p.parent],
        );
        b.add_store(spec, &[&node]);
        drop(b);
        KTable {
            builder: self.stream.builder.clone(),
            node,
            store,
            key_serde: Some(p.key),
            value_serde: Some(value_serde),
        }
    }
}

/// True when a key or value is a null record field (its serde writes null).
pub(crate) fn is_null<T: 'static>(serde: Option<&SerdeRef<T>>, topic: &str, v: &T) -> bool {
    serde.is_some_and(|s| matches!(s.serialize(topic, v), Ok(None)))
}

/// A cached update waiting for a flush.
pub(crate) struct CacheEntry<KS, V> {
    pub(crate) key: KS,
    pub(crate) value: Option<V>,
    pub(crate) timestamp: i64,
    size: usize,
    seq: u64,
}

/// Dirty entries by store key bytes, in the order they were last written.
pub(crate) struct RecordCache<KS, V> {
    entries: HashMap<Bytes, CacheEntry<KS, V>>,
    order: BTreeMap<u64, Bytes>,
    next: u64,
    bytes: usize,
}

impl<KS, V> Default for RecordCache<KS, V> {
    fn default() -> Self {
        RecordCache { entries: HashMap::new(), order: BTreeMap::new(), next: 0, bytes: 0 }
    }
}

impl<KS, V> RecordCache<KS, V> {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&CacheEntry<KS, V>> {
        self.entries.get(key)
    }

    /// Caches an update; `size` is its key and value bytes.
    pub(crate) fn put(&mut self, kb: Bytes, key: KS, value: Option<V>, timestamp: i64, size: usize) {
        let size = size + CACHE_ENTRY_OVERHEAD;
        if let Some(old) = self.entries.remove(&kb) {
            self.order.remove(&old.seq);
            self.bytes -= old.size;
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, kb.clone());
        self.bytes += size;
        self.entries.insert(kb, CacheEntry { key, value, timestamp, size, seq });
    }

    /// The least recently written entry while the cache is over `max` bytes.
    pub(crate) fn evict_over(&mut self, max: usize) -> Option<(Bytes, CacheEntry<KS, V>)> {
        if self.bytes <= max {
            return None;
        }
        self.pop_oldest()
    }

    pub(crate) fn pop_oldest(&mut self) -> Option<(Bytes, CacheEntry<KS, V>)> {
        let (_, kb) = self.order.pop_first()?;
        let e = self.entries.remove(&kb)?;
        self.bytes -= e.size;
        Some((kb, e))
    }
}

/// count / reduce / aggregate into a key-value store.
struct KvAggregate<K, V, VA> {
    store: String,
    key: SerdeRef<K>,
    input_value: Option<SerdeRef<V>>,
    value: SerdeRef<VA>,
    step: Step<K, V, VA>,
    caching: bool,
    cache: RecordCache<K, VA>,
}

impl<K: Data, V: Data, VA: Data> KvAggregate<K, V, VA> {
    /// Writes one update to the store (and changelog) and forwards its change.
    fn emit(&self, ctx: &mut ProcessorContext<'_, K, Change<VA>>, key: K, value: VA, timestamp: i64) -> Result<()> {
        let old = {
            let mut h = ctx.erased().store(&self.store)?;
            h.timestamp = timestamp;
            let mut s = KeyValueStore::<K, VA>::new(h)?;
            let old = s.get(&key)?;
            s.put(&key, &value)?;
            old
        };
        ctx.forward(Record::new(key, Change { new: Some(value), old }, timestamp))
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, K, Change<VA>> for KvAggregate<K, V, VA> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>, r: Record<K, V>) -> Result<()> {
        // Kafka skips records with a null key or value in aggregations.
        let kb = match self.key.serialize(&self.store, &r.key) {
            Ok(Some(kb)) => kb,
            _ => return Ok(()),
        };
        if is_null(self.input_value.as_ref(), &self.store, &r.value) {
            return Ok(());
        }
        let max = ctx.cache_max_bytes();
        if !(self.caching && max > 0) {
            let old = ctx.kv_store::<K, VA>(&self.store)?.get(&r.key)?;
            let new = (self.step)(&r.key, &r.value, old);
            return self.emit(ctx, r.key, new, r.timestamp);
        }
        let old = match self.cache.get(&kb) {
            Some(e) => e.value.clone(),
            None => ctx.kv_store::<K, VA>(&self.store)?.get(&r.key)?,
        };
        let new = (self.step)(&r.key, &r.value, old);
        let vlen = self.value.serialize(&self.store, &new)?.map_or(0, |b| b.len());
        let size = kb.len() + vlen;
        self.cache.put(kb, r.key, Some(new), r.timestamp, size);
        while let Some((_, e)) = self.cache.evict_over(max) {
            if let Some(v) = e.value {
                self.emit(ctx, e.key, v, e.timestamp)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<()> {
        while let Some((_, e)) = self.cache.pop_oldest() {
            if let Some(v) = e.value {
                self.emit(ctx, e.key, v, e.timestamp)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::streams::dsl::{Consumed, Produced, StreamsBuilder};
    use crate::streams::exec::{InputRecord, RecordSink, TaskExecutor, TaskSetup};
    use crate::streams::processor::{Headers, TaskId};
    use crate::streams::state::{InMemoryStore, KeyValueBytesStore};
    use crate::streams::test_driver::TopologyTestDriver;
    use crate::streams::topology::Topology;

    type Sent = Arc<Mutex<Vec<(String, Option<Bytes>, Option<Bytes>)>>>;

    struct VecSink(Sent);
    impl RecordSink for VecSink {
        fn send(
            &mut self,
            topic: &str,
            _p: Option<i32>,
            key: Option<Bytes>,
            value: Option<Bytes>,
            _ts: i64,
            _h: &Headers,
        ) -> Result<()> {
            self.0.lock().unwrap().push((topic.to_string(), key, value));
            Ok(())
        }
        fn partition_count(&mut self, _topic: &str) -> Option<i32> {
            Some(1)
        }
    }

    /// A single-subtopology task with a record cache share (the test driver runs without a cache).
    pub(crate) fn cached_task(topo: Topology, cache_max_bytes: usize) -> (TaskExecutor, Sent) {
        let st = topo.subtopologies();
        assert_eq!(st.len(), 1);
        let stores: BTreeMap<String, Box<dyn KeyValueBytesStore>> = st[0]
            .stores
            .iter()
            .map(|s| (s.clone(), Box::new(InMemoryStore::new()) as Box<dyn KeyValueBytesStore>))
            .collect();
        let sent: Sent = Arc::default();
        let setup = TaskSetup {
            application_id: "app".into(),
            task: TaskId { subtopology: 0, partition: 0 },
            topology: Arc::new(topo),
            nodes: st[0].nodes.clone(),
            stores,
            cache_max_bytes,
            logging: true,
            default_timestamp_extractor: None,
        };
        let mut t = TaskExecutor::new(setup, Box::new(VecSink(sent.clone()))).unwrap();
        t.init().unwrap();
        (t, sent)
    }

    pub(crate) fn input(topic: &str, offset: i64, key: &str, value: &str, ts: i64) -> InputRecord {
        InputRecord {
            topic: topic.into(),
            partition: 0,
            offset,
            timestamp: ts,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Vec::new(),
        }
    }

    /// (key, value) strings of what went to `topic`, longs decoded.
    fn longs(sent: &Sent, topic: &str) -> Vec<(String, i64)> {
        let l = Serdes::long();
        sent.lock()
            .unwrap()
            .drain(..)
            .filter(|(t, _, _)| t == topic)
            .map(|(_, k, v)| {
                (String::from_utf8(k.unwrap().to_vec()).unwrap(), l.deserialize(topic, v.as_deref()).unwrap())
            })
            .collect()
    }

    fn count_topology(m: Materialized<String, i64>) -> Topology {
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .count(m)
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::long()));
        b.build().unwrap()
    }

    #[test]
    fn count_names_stores_as_kafka_and_emits_every_update_without_a_cache() {
        let topo = count_topology(Materialized::default());
        let desc = topo.describe();
        assert!(
            desc.contains(
                "Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])"
            ),
            "{desc}"
        );
        assert!(topo.repartition_topics().is_empty(), "group_by_key of an unchanged key does not repartition");
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let s = Serdes::string();
        for (k, ts) in [("a", 1), ("b", 2), ("a", 3)] {
            d.pipe("in", &s, &k.to_string(), &s, &"v".to_string(), ts).unwrap();
        }
        let out = d.read("out", &s, &Serdes::long()).unwrap();
        assert_eq!(out, vec![("a".into(), 1, 1), ("b".into(), 1, 2), ("a".into(), 2, 3)]);
        let log = d.read("app-KSTREAM-AGGREGATE-STATE-STORE-0000000001-changelog", &s, &Serdes::long()).unwrap();
        assert_eq!(log.len(), 3);
        // A null value is skipped (nullable value serde: the record's value is None).
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())))
            .group_by_key(Grouped::default_serdes())
            .count(Materialized::as_store("c"))
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::long()));
        let mut d = TopologyTestDriver::new(b.build().unwrap(), "app").unwrap();
        d.pipe_raw("in", Some("k".into()), None, 1).unwrap();
        d.pipe_raw("in", Some("k".into()), Some("v".into()), 2).unwrap();
        assert_eq!(d.read("out", &s, &Serdes::long()).unwrap(), vec![("k".into(), 1, 2)]);
    }

    #[test]
    fn the_cache_forwards_the_latest_value_per_key_on_flush_with_the_old_value() {
        let b = StreamsBuilder::new();
        let t = b
            .stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .count(Materialized::as_store("counts"));
        // The Change records: new,old as "new/old" strings.
        t.to_stream().to("out", Produced::with(Serdes::string(), Serdes::long()));
        let mut bi = lock(&b.inner);
        let changes = bi.new_name("TEST-CHANGES-");
        bi.add_processor(
            &changes,
            processor(&changes, || {
                super::super::FnProcessor(
                    |ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, Change<i64>>| {
                        let v = format!("{:?}/{:?}", r.value.new, r.value.old);
                        ctx.forward(r.with_value(v))
                    },
                )
            }),
            &[&t.node],
        );
        bi.topology
            .add_sink(&format!("{changes}-sink"), "changes", Serdes::string(), Serdes::string(), &[&changes])
            .unwrap();
        drop(bi);
        let (mut task, sent) = cached_task(b.build().unwrap(), 10_000);
        for (i, k) in ["a", "b", "a", "a"].iter().enumerate() {
            task.process(input("in", i as i64, k, "v", i as i64 + 1)).unwrap();
        }
        assert!(sent.lock().unwrap().is_empty(), "nothing leaves the cache before a commit");
        task.flush().unwrap();
        let all = sent.lock().unwrap().clone();
        let changes: Vec<String> = all
            .iter()
            .filter(|(t, _, _)| t == "changes")
            .map(|(_, k, v)| {
                format!(
                    "{}={}",
                    std::str::from_utf8(k.as_ref().unwrap()).unwrap(),
                    std::str::from_utf8(v.as_ref().unwrap()).unwrap()
                )
            })
            .collect();
        assert_eq!(changes, vec!["b=Some(1)/None", "a=Some(3)/None"], "latest per key, in last-written order");
        // The changelog got one record per key.
        let log_count = all.iter().filter(|(t, _, _)| t == "app-counts-changelog").count();
        assert_eq!(log_count, 2);
        sent.lock().unwrap().clear();
        task.process(input("in", 4, "a", "v", 5)).unwrap();
        task.flush().unwrap();
        let changes: Vec<_> = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == "changes")
            .map(|(_, _, v)| v.clone().unwrap())
            .collect();
        assert_eq!(changes, vec![Bytes::from("Some(4)/Some(3)")], "old = the value before the cache");
        sent.lock().unwrap().clear();

        // A tiny budget evicts at once: every update goes through.
        let (mut task, sent) = cached_task(count_topology(Materialized::as_store("counts")), 1);
        task.process(input("in", 0, "a", "v", 1)).unwrap();
        task.process(input("in", 1, "a", "v", 2)).unwrap();
        assert_eq!(longs(&sent, "out"), vec![("a".into(), 1), ("a".into(), 2)]);
        // Caching disabled on the store: the same.
        let (mut task, sent) =
            cached_task(count_topology(Materialized::as_store("counts").with_caching_disabled()), 10_000);
        task.process(input("in", 0, "a", "v", 1)).unwrap();
        task.process(input("in", 1, "a", "v", 2)).unwrap();
        assert_eq!(longs(&sent, "out"), vec![("a".into(), 1), ("a".into(), 2)]);
        // A budget of two entries evicts the least recently written.
        let (mut task, sent) =
            cached_task(count_topology(Materialized::as_store("counts")), 2 * (CACHE_ENTRY_OVERHEAD + 9));
        task.process(input("in", 0, "a", "v", 1)).unwrap();
        task.process(input("in", 1, "b", "v", 2)).unwrap();
        task.process(input("in", 2, "a", "v", 3)).unwrap();
        assert!(longs(&sent, "out").is_empty());
        task.process(input("in", 3, "c", "v", 4)).unwrap();
        assert_eq!(longs(&sent, "out"), vec![("b".into(), 1)]);
        task.flush().unwrap();
        assert_eq!(longs(&sent, "out"), vec![("a".into(), 2), ("c".into(), 1)]);
    }

    #[test]
    fn reduce_and_aggregate_after_group_by_repartition() {
        let b = StreamsBuilder::new();
        let s = b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()));
        s.group_by(|k, _| k.to_uppercase(), Grouped::with(Serdes::string(), Serdes::long()).with_name("upper"))
            .reduce(|a, v| a + v, Materialized::as_store("sums"))
            .to_stream()
            .to("sums-out", Produced::with(Serdes::string(), Serdes::long()));
        s.group_by_key(Grouped::default_serdes())
            .aggregate(
                String::new,
                |_, v, agg| format!("{agg}{v}"),
                Materialized::with(Serdes::string(), Serdes::string()),
            )
            .to_stream()
            .to("cat-out", Produced::default_serdes());
        // No serdes for the new key: recorded.
        let b2 = StreamsBuilder::new();
        b2.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()))
            .map(|k, v| (k.clone(), *v))
            .group_by_key(Grouped::default_serdes())
            .count(Materialized::as_store("n"));
        let err = b2.build().err().unwrap().to_string();
        assert!(err.contains("no key serde for store n"), "{err}");

        let topo = b.build().unwrap();
        assert!(topo.repartition_topics().contains_key("upper-repartition"), "{:?}", topo.repartition_topics());
        assert!(
            topo.stores().contains_key("KSTREAM-AGGREGATE-STATE-STORE-0000000000")
                || topo.stores().keys().any(|s| s.starts_with("KSTREAM-AGGREGATE-STATE-STORE-"))
        );
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let (ks, ls) = (Serdes::string(), Serdes::long());
        for (k, v) in [("a", 1), ("A", 2), ("b", 5)] {
            d.pipe("in", &ks, &k.to_string(), &ls, &v, 1).unwrap();
        }
        assert_eq!(
            d.read("sums-out", &ks, &ls).unwrap(),
            vec![("A".into(), 1, 1), ("A".into(), 3, 1), ("B".into(), 5, 1)]
        );
        assert_eq!(d.read_raw("app-upper-repartition").len(), 3);
        let cat = d.read("cat-out", &ks, &ks).unwrap();
        assert_eq!(cat, vec![("a".into(), "1".into(), 1), ("A".into(), "2".into(), 1), ("b".into(), "5".into(), 1)]);
    }
}
