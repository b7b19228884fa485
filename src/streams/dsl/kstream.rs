//! Stream operators of the DSL: the `KStream` calls that change keys,
//! values or the shape of a stream (map, select_key, flat_map, branch/split,
//! merge, peek, foreach), explicit repartitioning, and grouping.
//!
//! Operators that may change the key (`map`, `select_key`, `flat_map`) mark
//! the result `repartition_required` and drop the serdes, as Kafka does: the
//! key type may be the same but its meaning has changed, so a later grouping
//! or join must repartition and needs serdes for the new key (given with
//! `Grouped`, `Repartitioned` or [`KStream::with_key_serde`]). Value-only
//! operators keep the key serde.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::grouped::KGroupedStream;
use super::{lock, Data, FnProcessor, Grouped, KStream};
use crate::streams::error::Result;
use crate::streams::processor::{processor, ProcessorContext, Record};
use crate::streams::serde::SerdeRef;

type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;
/// A boxed branch predicate (for `KStream::branch`).
pub type BranchPredicate<K, V> = Box<dyn Fn(&K, &V) -> bool + Send + Sync>;
/// The split node's branches: predicate and child node, in order.
type Branches<K, V> = Arc<Mutex<Vec<(Predicate<K, V>, String)>>>;

/// How `repartition` writes its internal topic: name, serdes, partition count.
pub struct Repartitioned<K, V> {
    /// Names the topic `<application.id>-<name>-repartition` (else a generated name).
    pub name: Option<String>,
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V>>,
    /// Fixed partition count (else the upstream sources' count).
    pub num_partitions: Option<i32>,
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned { name: None, key: None, value: None, num_partitions: None }
    }
}

impl<K, V> Repartitioned<K, V> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>) -> Self {
        Repartitioned { key: Some(key), value: Some(value), ..Default::default() }
    }
    pub fn as_name(name: &str) -> Self {
        Repartitioned { name: Some(name.to_string()), ..Default::default() }
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    pub fn with_key_serde(mut self, key: SerdeRef<K>) -> Self {
        self.key = Some(key);
        self
    }
    pub fn with_value_serde(mut self, value: SerdeRef<V>) -> Self {
        self.value = Some(value);
        self
    }
    pub fn with_number_of_partitions(mut self, n: i32) -> Self {
        self.num_partitions = Some(n);
        self
    }
}

/// A branch of `split()`: its name (the result map's key is `<prefix><name>`).
#[derive(Debug, Clone, Default)]
pub struct Branched {
    pub name: Option<String>,
}

impl Branched {
    /// A named branch (Kafka's `Branched.as`).
    pub fn named(name: &str) -> Self {
        Branched { name: Some(name.to_string()) }
    }
}

impl From<&str> for Branched {
    fn from(name: &str) -> Self {
        Branched::named(name)
    }
}

/// The builder `KStream::split` returns: add branches, then end with
/// `default_branch` or `no_default_branch` to get the branches by name.
/// A record goes to the first branch whose predicate accepts it.
pub struct BranchedKStream<K, V> {
    source: KStream<K, V>,
    /// The split node's name, and the prefix of its branches' names.
    prefix: String,
    predicates: Branches<K, V>,
    default_child: Arc<Mutex<Option<String>>>,
    branches: BTreeMap<String, KStream<K, V>>,
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// Adds a branch for records `predicate` accepts (and no earlier branch took).
    pub fn branch(
        mut self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        branched: impl Into<Branched>,
    ) -> Self {
        let index = lock_vec(&self.predicates).len() + 1;
        let child = self.child_name(branched.into(), &index.to_string());
        lock_vec(&self.predicates).push((Arc::new(predicate), child.clone()));
        let stream = self.add_child(&child);
        self.branches.insert(child, stream);
        self
    }

    /// Ends the split: records no branch took go to a default branch
    /// (named `<prefix>0`).
    pub fn default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.default_branch_with(Branched::default())
    }

    /// Ends the split with a named default branch.
    pub fn default_branch_with(mut self, branched: Branched) -> BTreeMap<String, KStream<K, V>> {
        let child = self.child_name(branched, "0");
        *self.default_child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child.clone());
        let stream = self.add_child(&child);
        self.branches.insert(child, stream);
        self.branches
    }

    /// Ends the split: records no branch took are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.branches
    }

    fn child_name(&self, branched: Branched, fallback: &str) -> String {
        format!("{}{}", self.prefix, branched.name.as_deref().unwrap_or(fallback))
    }

    fn add_child(&self, child: &str) -> KStream<K, V> {
        let mut b = lock(&self.source.builder);
        // Kafka counts a BRANCHCHILD name even when the branch is named.
        b.new_name("KSTREAM-BRANCHCHILD-");
        b.add_processor(child, processor(child, passthrough::<K, V>), &[&self.prefix]);
        drop(b);
        KStream {
            builder: self.source.builder.clone(),
            node: child.to_string(),
            key_serde: self.source.key_serde.clone(),
            value_serde: self.source.value_serde.clone(),
            repartition_required: self.source.repartition_required,
        }
    }
}

fn lock_vec<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Passthrough<K, V> = FnProcessor<fn(&mut ProcessorContext<'_, K, V>, Record<K, V>) -> Result<()>>;

fn passthrough<K: Data, V: Data>() -> Passthrough<K, V> {
    FnProcessor(|ctx, r| ctx.forward(r))
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Sets the key serde (after `map`, `select_key` or `flat_map` dropped it).
    pub fn with_key_serde(mut self, key: SerdeRef<K>) -> Self {
        self.key_serde = Some(key);
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, value: SerdeRef<V>) -> Self {
        self.value_serde = Some(value);
        self
    }

    /// Changes each record's key and value (the stream needs repartitioning
    /// before a grouping or join).
    pub fn map<K2: Data, V2: Data>(
        &self,
        mapper: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let f = Arc::new(mapper);
        self.stateless("KSTREAM-MAP-", true, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K2, V2>, r: Record<K, V>| {
                let (k, v) = f(&r.key, &r.value);
                ctx.forward(r.with_key(k).with_value(v))
            })
        })
    }

    /// Gives each record a new key computed from it (repartitioning needed
    /// before a grouping or join).
    pub fn select_key<K2: Data>(&self, mapper: impl Fn(&K, &V) -> K2 + Send + Sync + 'static) -> KStream<K2, V> {
        let f = Arc::new(mapper);
        let value_serde = self.value_serde.clone();
        let mut out = self.stateless("KSTREAM-KEY-SELECT-", true, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K2, V>, r: Record<K, V>| {
                let k = f(&r.key, &r.value);
                ctx.forward(r.with_key(k))
            })
        });
        out.value_serde = value_serde;
        out
    }

    /// Turns each record into any number of records (repartitioning needed).
    pub fn flat_map<K2: Data, V2: Data, I>(
        &self,
        mapper: impl Fn(&K, &V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
    {
        let f = Arc::new(mapper);
        self.stateless("KSTREAM-FLATMAP-", true, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K2, V2>, r: Record<K, V>| {
                for (k, v) in f(&r.key, &r.value) {
                    ctx.forward(Record { key: k, value: v, timestamp: r.timestamp, headers: r.headers.clone() })?;
                }
                Ok(())
            })
        })
    }

    /// Turns each value into any number of values, keeping the key.
    pub fn flat_map_values<V2: Data, I>(&self, mapper: impl Fn(&V) -> I + Send + Sync + 'static) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
    {
        let f = Arc::new(mapper);
        self.stateless("KSTREAM-FLATMAPVALUES-", self.repartition_required, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V2>, r: Record<K, V>| {
                for v in f(&r.value) {
                    ctx.forward(Record {
                        key: r.key.clone(),
                        value: v,
                        timestamp: r.timestamp,
                        headers: r.headers.clone(),
                    })?;
                }
                Ok(())
            })
        })
        .with_serdes(self.key_serde.clone(), None)
    }

    /// Calls `action` for each record and passes it on unchanged.
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(action);
        self.stateless("KSTREAM-PEEK-", self.repartition_required, move || {
            let f = f.clone();
            FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
                f(&r.key, &r.value);
                ctx.forward(r)
            })
        })
        .with_serdes(self.key_serde.clone(), self.value_serde.clone())
    }

    /// Calls `action` for each record (a terminal operation).
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        let f = Arc::new(action);
        self.stateless::<K, V, _>("KSTREAM-FOREACH-", false, move || {
            let f = f.clone();
            FnProcessor(move |_: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
                f(&r.key, &r.value);
                Ok(())
            })
        });
    }

    /// One stream per predicate; a record goes to the first that accepts it
    /// (none: dropped). Kafka's deprecated `branch`; see [`KStream::split`].
    pub fn branch(&self, predicates: Vec<BranchPredicate<K, V>>) -> Vec<KStream<K, V>> {
        let mut b = lock(&self.builder);
        let parent = b.new_name("KSTREAM-BRANCH-");
        let children: Vec<String> = predicates.iter().map(|_| b.new_name("KSTREAM-BRANCHCHILD-")).collect();
        let preds: Vec<(Predicate<K, V>, String)> =
            predicates.into_iter().map(Arc::from).zip(children.iter().cloned()).collect();
        let preds = Arc::new(Mutex::new(preds));
        b.add_processor(&parent, splitter(&parent, preds, Arc::new(Mutex::new(None))), &[&self.node]);
        for c in &children {
            b.add_processor(c, processor(c, passthrough::<K, V>), &[&parent]);
        }
        drop(b);
        children
            .into_iter()
            .map(|c| KStream {
                builder: self.builder.clone(),
                node: c,
                key_serde: self.key_serde.clone(),
                value_serde: self.value_serde.clone(),
                repartition_required: self.repartition_required,
            })
            .collect()
    }

    /// Splits the stream into named branches (Kafka's `split()`); branch
    /// names are prefixed with the generated split node name.
    pub fn split(&self) -> BranchedKStream<K, V> {
        let prefix = lock(&self.builder).new_name("KSTREAM-BRANCH-");
        self.split_as(prefix)
    }

    /// `split()` with a prefix for the split node and its branches (Kafka's
    /// `split(Named.as(prefix))`).
    pub fn split_named(&self, prefix: &str) -> BranchedKStream<K, V> {
        self.split_as(prefix.to_string())
    }

    fn split_as(&self, prefix: String) -> BranchedKStream<K, V> {
        let predicates = Arc::new(Mutex::new(Vec::new()));
        let default_child = Arc::new(Mutex::new(None));
        lock(&self.builder).add_processor(
            &prefix,
            splitter(&prefix, predicates.clone(), default_child.clone()),
            &[&self.node],
        );
        BranchedKStream { source: self.clone(), prefix, predicates, default_child, branches: BTreeMap::new() }
    }

    /// Both streams' records in one stream. Keeps this stream's serdes.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut b = lock(&self.builder);
        let name = b.new_name("KSTREAM-MERGE-");
        b.add_processor(&name, processor(&name, passthrough::<K, V>), &[&self.node, &other.node]);
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone().or(other.key_serde.clone()),
            value_serde: self.value_serde.clone().or(other.value_serde.clone()),
            repartition_required: self.repartition_required || other.repartition_required,
        }
    }

    /// Repartitions by the current key through the internal topic
    /// `<name>-repartition` (`<application.id>-` prefixed by the runtime).
    pub fn repartition(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let base = match repartitioned.name.clone() {
            Some(n) => n,
            None => lock(&self.builder).new_name("KSTREAM-REPARTITION-"),
        };
        let (Some(k), Some(v)) =
            (repartitioned.key.or(self.key_serde.clone()), repartitioned.value.or(self.value_serde.clone()))
        else {
            lock(&self.builder).error(format!(
                "repartition {base}: no key or value serde for the repartition topic; give them with Repartitioned::with"
            ));
            return self.clone();
        };
        if let Some(n) = repartitioned.num_partitions {
            if n < 1 {
                lock(&self.builder)
                    .error(format!("repartition {base}: number of partitions must be positive, got {n}"));
            }
        }
        self.repartition_through(&base, k, v, repartitioned.num_partitions)
    }

    /// Groups by the current key (repartitioning first if the key changed).
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped, self.repartition_required)
    }

    /// Groups by a key computed from each record; always repartitions.
    pub fn group_by<K2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        let keyed = self.select_key(selector);
        KGroupedStream::new(keyed, grouped, true)
    }
}

/// The split/branch node: forwards each record to the first branch whose
/// predicate accepts it, or to the default branch.
fn splitter<K: Data, V: Data>(
    name: &str,
    predicates: Branches<K, V>,
    default_child: Arc<Mutex<Option<String>>>,
) -> crate::streams::processor::ProcessorSupplier {
    processor(name, move || {
        // Branches are fixed once the topology is built: take them per task.
        let preds = lock_vec(&predicates).clone();
        let default = lock_vec(&default_child).clone();
        FnProcessor(move |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
            for (p, child) in &preds {
                if p(&r.key, &r.value) {
                    return ctx.forward_to(child, r);
                }
            }
            match &default {
                Some(child) => ctx.forward_to(child, r),
                None => Ok(()),
            }
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::streams::dsl::{Consumed, Produced, StreamsBuilder};
    use crate::streams::serde::Serdes;
    use crate::streams::test_driver::TopologyTestDriver;

    fn strings() -> (SerdeRef<String>, SerdeRef<String>) {
        (Serdes::string(), Serdes::string())
    }

    fn pipe(d: &mut TopologyTestDriver, topic: &str, k: &str, v: &str, ts: i64) {
        let (ks, vs) = strings();
        d.pipe(topic, &ks, &k.to_string(), &vs, &v.to_string(), ts).unwrap();
    }

    fn read(d: &mut TopologyTestDriver, topic: &str) -> Vec<(String, String)> {
        let (ks, vs) = strings();
        d.read(topic, &ks, &vs).unwrap().into_iter().map(|(k, v, _)| (k, v)).collect()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn map_select_key_and_flat_maps_change_records_and_mark_repartitioning() {
        let b = StreamsBuilder::new();
        let s = b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()));
        let m = s.map(|k, v| (v.clone(), k.clone()));
        assert!(m.repartition_required && m.key_serde.is_none() && m.value_serde.is_none());
        m.to("mapped", Produced::with(Serdes::string(), Serdes::string()));
        let sk = s.select_key(|_, v| v.len() as i64);
        assert!(sk.repartition_required && sk.key_serde.is_none() && sk.value_serde.is_some());
        sk.map_values(|v| v.to_uppercase()).to("selected", Produced::with(Serdes::long(), Serdes::string()));
        s.flat_map(|k, v| v.split(',').map(|p| (p.to_string(), k.clone())).collect::<Vec<_>>())
            .with_key_serde(Serdes::string())
            .with_value_serde(Serdes::string())
            .to("flat", Produced::default_serdes());
        let fmv = s.flat_map_values(|v| v.split(',').map(str::to_string).collect::<Vec<_>>());
        assert!(!fmv.repartition_required && fmv.key_serde.is_some());
        fmv.to("flatv", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        for n in ["KSTREAM-MAP-0000000001", "KSTREAM-KEY-SELECT-", "KSTREAM-FLATMAP-", "KSTREAM-FLATMAPVALUES-"] {
            assert!(desc.contains(n), "{n} in {desc}");
        }
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "in", "k", "a,b", 7);
        assert_eq!(read(&mut d, "mapped"), vec![kv("a,b", "k")]);
        let sel = d.read("selected", &Serdes::long(), &Serdes::string()).unwrap();
        assert_eq!(sel, vec![(3, "A,B".to_string(), 7)]);
        assert_eq!(read(&mut d, "flat"), vec![kv("a", "k"), kv("b", "k")]);
        assert_eq!(read(&mut d, "flatv"), vec![kv("k", "a"), kv("k", "b")]);
    }

    #[test]
    fn peek_and_foreach_see_every_record() {
        let b = StreamsBuilder::new();
        let s = b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()));
        let peeked = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let p2 = peeked.clone();
        let s2 = seen.clone();
        s.peek(move |_, _| {
            p2.fetch_add(1, Ordering::SeqCst);
        })
        .to("out", Produced::default_serdes());
        s.foreach(move |k, v| s2.lock().unwrap().push(format!("{k}={v}")));
        let mut d = TopologyTestDriver::new(b.build().unwrap(), "app").unwrap();
        pipe(&mut d, "in", "a", "1", 1);
        pipe(&mut d, "in", "b", "2", 2);
        assert_eq!(peeked.load(Ordering::SeqCst), 2);
        assert_eq!(*seen.lock().unwrap(), vec!["a=1".to_string(), "b=2".to_string()]);
        assert_eq!(read(&mut d, "out"), vec![kv("a", "1"), kv("b", "2")]);
    }

    #[test]
    fn branch_and_split_send_each_record_to_the_first_match() {
        let b = StreamsBuilder::new();
        let s = b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()));
        let branches = s.branch(vec![Box::new(|k: &String, _: &String| k.starts_with('a')), Box::new(|_, _| true)]);
        assert_eq!(branches.len(), 2);
        assert_eq!(branches[0].node_name(), "KSTREAM-BRANCHCHILD-0000000002");
        branches[0].to("a-out", Produced::default_serdes());
        branches[1].to("rest-out", Produced::default_serdes());
        let named = s
            .split_named("Branch-")
            .branch(|_, v: &String| v == "x", "X")
            .branch(|_, v: &String| v == "y", Branched::default())
            .default_branch();
        assert_eq!(named.keys().cloned().collect::<Vec<_>>(), vec!["Branch-0", "Branch-2", "Branch-X"]);
        named["Branch-X"].to("x-out", Produced::default_serdes());
        named["Branch-2"].to("y-out", Produced::default_serdes());
        named["Branch-0"].to("other-out", Produced::default_serdes());
        let gen = s.split().branch(|_, _| false, Branched::default()).no_default_branch();
        let gen_name = gen.keys().next().unwrap().clone();
        assert!(gen_name.starts_with("KSTREAM-BRANCH-") && gen_name.ends_with('1'), "{gen_name}");
        let mut d = TopologyTestDriver::new(b.build().unwrap(), "app").unwrap();
        pipe(&mut d, "in", "a1", "x", 1);
        pipe(&mut d, "in", "b1", "y", 2);
        pipe(&mut d, "in", "c1", "z", 3);
        assert_eq!(read(&mut d, "a-out"), vec![kv("a1", "x")]);
        assert_eq!(read(&mut d, "rest-out"), vec![kv("b1", "y"), kv("c1", "z")]);
        assert_eq!(read(&mut d, "x-out"), vec![kv("a1", "x")]);
        assert_eq!(read(&mut d, "y-out"), vec![kv("b1", "y")]);
        assert_eq!(read(&mut d, "other-out"), vec![kv("c1", "z")]);
    }

    #[test]
    fn merge_and_repartition() {
        let b = StreamsBuilder::new();
        let s1 = b.stream(&["in1"], Consumed::with(Serdes::string(), Serdes::string()));
        let s2 = b.stream(&["in2"], Consumed::with(Serdes::string(), Serdes::string()));
        let merged = s1.merge(&s2.map(|k, v| (k.clone(), v.clone())));
        assert!(merged.repartition_required);
        merged.to("merged", Produced::default_serdes());
        s1.repartition(Repartitioned::as_name("by-key").with_number_of_partitions(3))
            .to("rep", Produced::default_serdes());
        s2.select_key(|_, v| v.clone()).repartition(Repartitioned::default()).to("never", Produced::default_serdes());
        // The select_key dropped the key serde: repartition records an error.
        assert!(b.build().err().unwrap().to_string().contains("no key or value serde"));

        let b = StreamsBuilder::new();
        let s1 = b.stream(&["in1"], Consumed::with(Serdes::string(), Serdes::string()));
        let s2 = b.stream(&["in2"], Consumed::with(Serdes::string(), Serdes::string()));
        s1.merge(&s2).to("merged", Produced::default_serdes());
        s1.repartition(Repartitioned::as_name("by-key").with_number_of_partitions(3))
            .to("rep", Produced::default_serdes());
        s2.select_key(|_, v| v.clone())
            .repartition(Repartitioned::with(Serdes::string(), Serdes::string()))
            .to("rekeyed", Produced::default_serdes());
        let topo = b.build().unwrap();
        assert_eq!(topo.repartition_topics()["by-key-repartition"].partitions, Some(3));
        assert!(topo
            .repartition_topics()
            .keys()
            .any(|t| t.starts_with("KSTREAM-REPARTITION-") && t.ends_with("-repartition")));
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "in1", "a", "1", 1);
        pipe(&mut d, "in2", "b", "2", 2);
        assert_eq!(read(&mut d, "merged"), vec![kv("a", "1"), kv("b", "2")]);
        assert_eq!(read(&mut d, "rep"), vec![kv("a", "1")]);
        assert_eq!(d.read_raw("app-by-key-repartition").len(), 1);
        assert_eq!(read(&mut d, "rekeyed"), vec![kv("2", "2")]);
    }
}
