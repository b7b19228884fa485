//! The topology: a graph of source, processor and sink nodes with the state
//! stores they use, and its split into subtopologies.
//!
//! The DSL builds one; users of the processor API build one by hand with
//! Kafka's calls (`add_source`, `add_processor`, `add_sink`,
//! `add_state_store`). Nodes connected by edges or by a shared store form a
//! subtopology; a subtopology runs as one task per input partition. A
//! repartition topic cuts the graph: its sink ends one subtopology and its
//! source starts another. Internal topics (repartition, changelog) are named
//! without the application id here and prefixed by the runtime.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::error::{Result, StreamsError};
use super::processor::{AnyValue, DynRecord, ProcessorSupplier};
use super::serde::{SerdeError, SerdeRef};
use super::state::StoreSpec;

/// Turns a raw key and value into typed, erased ones.
pub type DeserializeFn =
    Arc<dyn Fn(&str, Option<&[u8]>, Option<&[u8]>) -> Result<(AnyValue, AnyValue), SerdeError> + Send + Sync>;
/// Turns an erased record's key and value into bytes.
pub type SerializeFn =
    Arc<dyn Fn(&str, &DynRecord) -> Result<(Option<Bytes>, Option<Bytes>), SerdeError> + Send + Sync>;
/// Picks a partition from (serialized key, record, partition count); `None` = the default partitioner.
pub type PartitionerFn = Arc<dyn Fn(Option<&[u8]>, &DynRecord, i32) -> Option<i32> + Send + Sync>;
/// A record's timestamp from (its metadata timestamp, key bytes, value bytes, the partition's time so far).
pub type TimestampExtractorFn = Arc<dyn Fn(i64, Option<&[u8]>, Option<&[u8]>, i64) -> i64 + Send + Sync>;

/// Deserialize with typed serdes.
pub fn deserializer<K: Send + Sync + 'static, V: Send + Sync + 'static>(
    k: SerdeRef<K>,
    v: SerdeRef<V>,
) -> DeserializeFn {
    Arc::new(move |topic, key, value| {
        let key: AnyValue = Arc::new(k.deserialize(topic, key)?);
        let value: AnyValue = Arc::new(v.deserialize(topic, value)?);
        Ok((key, value))
    })
}

/// Serialize with typed serdes.
pub fn serializer<K: Send + Sync + 'static, V: Send + Sync + 'static>(k: SerdeRef<K>, v: SerdeRef<V>) -> SerializeFn {
    Arc::new(move |topic, r| {
        let key = r
            .key
            .downcast_ref::<K>()
            .ok_or_else(|| SerdeError(format!("sink to {topic}: the key is not a {}", std::any::type_name::<K>())))?;
        let value = r
            .value
            .downcast_ref::<V>()
            .ok_or_else(|| SerdeError(format!("sink to {topic}: the value is not a {}", std::any::type_name::<V>())))?;
        Ok((k.serialize(topic, key)?, v.serialize(topic, value)?))
    })
}

/// A source: where records enter.
#[derive(Clone)]
pub struct SourceSpec {
    /// Topic names (internal ones unprefixed, see [`Topology::internal_topics`]).
    pub topics: Vec<String>,
    pub deserialize: DeserializeFn,
    /// Overrides `default.timestamp.extractor` for this source.
    pub timestamp_extractor: Option<TimestampExtractorFn>,
    /// Overrides `auto.offset.reset` for this source ("earliest"/"latest").
    pub offset_reset: Option<String>,
}

/// A sink: where records leave.
#[derive(Clone)]
pub struct SinkSpec {
    pub topic: String,
    pub serialize: SerializeFn,
    pub partitioner: Option<PartitionerFn>,
}

#[derive(Clone)]
pub enum NodeKind {
    Source(SourceSpec),
    Processor(ProcessorSupplier),
    Sink(SinkSpec),
}

#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub parents: Vec<usize>,
    pub children: Vec<usize>,
    /// Stores this node may open.
    pub stores: Vec<String>,
}

/// An internal topic the runtime creates before the application runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepartitionTopic {
    /// Fixed partition count; `None` takes the largest partition count of
    /// the source topics of the subtopology that writes it.
    pub partitions: Option<i32>,
}

/// A global store: every instance holds all partitions of its topic.
#[derive(Clone)]
pub struct GlobalStore {
    pub store: String,
    /// The source node feeding it (not part of any subtopology).
    pub source: usize,
}

/// One connected part of the topology; runs as a task per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtopology {
    pub id: u32,
    /// Node indices, in insertion order.
    pub nodes: Vec<usize>,
    /// Topics read (unprefixed names for internal ones).
    pub source_topics: BTreeSet<String>,
    /// Topics written.
    pub sink_topics: BTreeSet<String>,
    pub stores: BTreeSet<String>,
}

/// A processing graph.
#[derive(Clone, Default)]
pub struct Topology {
    pub(crate) nodes: Vec<Node>,
    names: HashMap<String, usize>,
    pub(crate) stores: BTreeMap<String, StoreSpec>,
    pub(crate) repartition_topics: BTreeMap<String, RepartitionTopic>,
    pub(crate) global_stores: Vec<GlobalStore>,
    /// Groups of source topics that must have equal partition counts (joins).
    pub(crate) copartition_groups: Vec<BTreeSet<String>>,
}

impl Topology {
    pub fn new() -> Self {
        Self::default()
    }

    fn add_node(&mut self, name: &str, kind: NodeKind, parents: &[&str]) -> Result<usize> {
        if name.is_empty() {
            return Err(StreamsError::Topology("a node name must not be empty".into()));
        }
        if self.names.contains_key(name) {
            return Err(StreamsError::Topology(format!("processor {name} is already added")));
        }
        let mut pidx = Vec::new();
        for p in parents {
            let i = *self
                .names
                .get(*p)
                .ok_or_else(|| StreamsError::Topology(format!("parent processor {p} is not added yet for {name}")))?;
            if matches!(self.nodes[i].kind, NodeKind::Sink(_)) {
                return Err(StreamsError::Topology(format!("sink {p} cannot be used as a parent of {name}")));
            }
            pidx.push(i);
        }
        let idx = self.nodes.len();
        for &p in &pidx {
            self.nodes[p].children.push(idx);
        }
        self.nodes.push(Node { name: name.to_string(), kind, parents: pidx, children: Vec::new(), stores: Vec::new() });
        self.names.insert(name.to_string(), idx);
        Ok(idx)
    }

    /// A source node reading `topics` with typed serdes.
    pub fn add_source<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        name: &str,
        topics: &[&str],
        key: SerdeRef<K>,
        value: SerdeRef<V>,
    ) -> Result<&mut Self> {
        let spec = SourceSpec {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            deserialize: deserializer(key, value),
            timestamp_extractor: None,
            offset_reset: None,
        };
        self.add_source_spec(name, spec)?;
        Ok(self)
    }

    /// A source node from a full spec.
    pub fn add_source_spec(&mut self, name: &str, spec: SourceSpec) -> Result<usize> {
        if spec.topics.is_empty() {
            return Err(StreamsError::Topology(format!("source {name} has no topics")));
        }
        for t in &spec.topics {
            if let Some(other) = self.source_of(t) {
                return Err(StreamsError::Topology(format!("topic {t} is already read by source {other}")));
            }
        }
        self.add_node(name, NodeKind::Source(spec), &[])
    }

    fn source_of(&self, topic: &str) -> Option<&str> {
        self.nodes.iter().find_map(|n| match &n.kind {
            NodeKind::Source(s) if s.topics.iter().any(|t| t == topic) => Some(n.name.as_str()),
            _ => None,
        })
    }

    /// A processor node fed by `parents`.
    pub fn add_processor(&mut self, name: &str, supplier: ProcessorSupplier, parents: &[&str]) -> Result<&mut Self> {
        if parents.is_empty() {
            return Err(StreamsError::Topology(format!("processor {name} must have at least one parent")));
        }
        self.add_node(name, NodeKind::Processor(supplier), parents)?;
        Ok(self)
    }

    /// A sink node writing to `topic` with typed serdes.
    pub fn add_sink<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key: SerdeRef<K>,
        value: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        let spec = SinkSpec { topic: topic.to_string(), serialize: serializer(key, value), partitioner: None };
        self.add_sink_spec(name, spec, parents)?;
        Ok(self)
    }

    pub fn add_sink_spec(&mut self, name: &str, spec: SinkSpec, parents: &[&str]) -> Result<usize> {
        if parents.is_empty() {
            return Err(StreamsError::Topology(format!("sink {name} must have at least one parent")));
        }
        self.add_node(name, NodeKind::Sink(spec), parents)
    }

    /// Declares a store and connects it to `processors`.
    pub fn add_state_store(&mut self, spec: StoreSpec, processors: &[&str]) -> Result<&mut Self> {
        if self.stores.contains_key(&spec.name) {
            return Err(StreamsError::Topology(format!("state store {} is already added", spec.name)));
        }
        let name = spec.name.clone();
        self.stores.insert(name.clone(), spec);
        self.connect_processor_and_stores_inner(processors, &[name.as_str()])?;
        Ok(self)
    }

    /// Lets `processor` open already declared stores.
    pub fn connect_processor_and_stores(&mut self, processor: &str, stores: &[&str]) -> Result<&mut Self> {
        self.connect_processor_and_stores_inner(&[processor], stores)?;
        Ok(self)
    }

    fn connect_processor_and_stores_inner(&mut self, processors: &[&str], stores: &[&str]) -> Result<()> {
        for s in stores {
            if !self.stores.contains_key(*s) {
                return Err(StreamsError::Topology(format!("state store {s} is not added yet")));
            }
        }
        for p in processors {
            let i =
                *self.names.get(*p).ok_or_else(|| StreamsError::Topology(format!("processor {p} is not added yet")))?;
            if !matches!(self.nodes[i].kind, NodeKind::Processor(_)) {
                return Err(StreamsError::Topology(format!("{p} is not a processor; only processors use stores")));
            }
            for s in stores {
                if !self.nodes[i].stores.iter().any(|x| x == s) {
                    self.nodes[i].stores.push(s.to_string());
                }
            }
        }
        Ok(())
    }

    /// A global store fed from `topic` through `processor` (which writes
    /// the store). The topic is the store's changelog: logging is disabled.
    pub fn add_global_store(
        &mut self,
        spec: StoreSpec,
        source_name: &str,
        source: SourceSpec,
        processor_name: &str,
        processor: ProcessorSupplier,
    ) -> Result<&mut Self> {
        let store = spec.name.clone();
        self.add_state_store(spec.with_logging_disabled(), &[])?;
        let src = self.add_source_spec(source_name, source)?;
        self.add_node(processor_name, NodeKind::Processor(processor), &[source_name])?;
        self.connect_processor_and_stores_inner(&[processor_name], &[store.as_str()])?;
        self.global_stores.push(GlobalStore { store, source: src });
        Ok(self)
    }

    /// Marks `name` (unprefixed) as a repartition topic the runtime creates.
    pub fn add_repartition_topic(&mut self, name: &str, partitions: Option<i32>) {
        self.repartition_topics.insert(name.to_string(), RepartitionTopic { partitions });
    }

    /// Source topics that must be co-partitioned (the two sides of a join).
    pub fn add_copartition_group(&mut self, topics: BTreeSet<String>) {
        self.copartition_groups.push(topics);
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.names.get(name).copied()
    }
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub fn stores(&self) -> &BTreeMap<String, StoreSpec> {
        &self.stores
    }
    pub fn repartition_topics(&self) -> &BTreeMap<String, RepartitionTopic> {
        &self.repartition_topics
    }
    pub fn global_stores(&self) -> &[GlobalStore] {
        &self.global_stores
    }
    pub fn copartition_groups(&self) -> &[BTreeSet<String>] {
        &self.copartition_groups
    }

    /// True for a node that belongs to a global store's feed.
    fn is_global(&self, idx: usize) -> bool {
        self.global_stores.iter().any(|g| g.source == idx || self.nodes[g.source].children.contains(&idx))
    }

    /// The topic name as the cluster knows it.
    pub fn resolve_topic(&self, application_id: &str, topic: &str) -> String {
        if self.repartition_topics.contains_key(topic) {
            format!("{application_id}-{topic}")
        } else {
            topic.to_string()
        }
    }

    /// Splits the graph (minus global feeds) into subtopologies, numbered
    /// in the order of their first node.
    pub fn subtopologies(&self) -> Vec<Subtopology> {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let union = |p: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(p, a), find(p, b));
            if ra != rb {
                let (lo, hi) = (ra.min(rb), ra.max(rb));
                p[hi] = lo;
            }
        };
        let mut by_store: HashMap<&str, usize> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for &c in &node.children {
                union(&mut parent, i, c);
            }
            for s in &node.stores {
                match by_store.get(s.as_str()) {
                    Some(&j) => union(&mut parent, i, j),
                    None => {
                        by_store.insert(s, i);
                    }
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..n {
            if self.is_global(i) {
                continue;
            }
            let r = find(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        let mut roots: Vec<(usize, Vec<usize>)> = groups.into_iter().collect();
        roots.sort_by_key(|(_, nodes)| nodes[0]);
        roots
            .into_iter()
            .enumerate()
            .map(|(id, (_, nodes))| {
                let mut st = Subtopology {
                    id: id as u32,
                    nodes: nodes.clone(),
                    source_topics: BTreeSet::new(),
                    sink_topics: BTreeSet::new(),
                    stores: BTreeSet::new(),
                };
                for &i in &nodes {
                    let node = &self.nodes[i];
                    match &node.kind {
                        NodeKind::Source(s) => st.source_topics.extend(s.topics.iter().cloned()),
                        NodeKind::Sink(s) => {
                            st.sink_topics.insert(s.topic.clone());
                        }
                        NodeKind::Processor(_) => {}
                    }
                    st.stores.extend(node.stores.iter().cloned());
                }
                st
            })
            .collect()
    }

    /// Kafka's TopologyDescription text.
    pub fn describe(&self) -> String {
        let mut out = String::from("Topologies:\n");
        let names = |v: &[usize]| v.iter().map(|&i| self.nodes[i].name.clone()).collect::<Vec<_>>().join(", ");
        let none = |s: String| if s.is_empty() { "none".to_string() } else { s };
        let node_lines = |out: &mut String, i: usize| {
            let node = &self.nodes[i];
            match &node.kind {
                NodeKind::Source(s) => {
                    out.push_str(&format!("    Source: {} (topics: [{}])\n", node.name, s.topics.join(", ")))
                }
                NodeKind::Processor(_) => {
                    out.push_str(&format!("    Processor: {} (stores: [{}])\n", node.name, node.stores.join(", ")))
                }
                NodeKind::Sink(s) => out.push_str(&format!("    Sink: {} (topic: {})\n", node.name, s.topic)),
            }
            out.push_str(&format!("      --> {}\n", none(names(&node.children))));
            out.push_str(&format!("      <-- {}\n", none(names(&node.parents))));
        };
        for st in self.subtopologies() {
            out.push_str(&format!("   Sub-topology: {}\n", st.id));
            for &i in &st.nodes {
                node_lines(&mut out, i);
            }
            out.push('\n');
        }
        for (gi, g) in self.global_stores.iter().enumerate() {
            out.push_str(&format!("   Sub-topology: {} for global store (will not generate tasks)\n", gi));
            node_lines(&mut out, g.source);
            for &c in &self.nodes[g.source].children {
                node_lines(&mut out, c);
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
    use crate::streams::serde::Serdes;

    struct Upper;
    impl Processor<String, String, String, String> for Upper {
        fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> Result<()> {
            let v = r.value.to_uppercase();
            ctx.forward(r.with_value(v))
        }
    }

    #[test]
    fn stores_and_edges_join_nodes_into_subtopologies() {
        let mut t = Topology::new();
        t.add_source("src-a", &["a"], Serdes::string(), Serdes::string()).unwrap();
        t.add_source("src-b", &["b"], Serdes::string(), Serdes::string()).unwrap();
        t.add_processor("pa", processor("pa", || Upper), &["src-a"]).unwrap();
        t.add_processor("pb", processor("pb", || Upper), &["src-b"]).unwrap();
        t.add_sink("out", "o", Serdes::string(), Serdes::string(), &["pa"]).unwrap();
        let st = t.subtopologies();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].source_topics, BTreeSet::from(["a".to_string()]));
        assert_eq!(st[0].sink_topics, BTreeSet::from(["o".to_string()]));
        t.add_state_store(StoreSpec::key_value("s", Serdes::string(), Serdes::long()), &["pa", "pb"]).unwrap();
        let st = t.subtopologies();
        assert_eq!(st.len(), 1, "a shared store joins the two");
        assert_eq!(st[0].stores, BTreeSet::from(["s".to_string()]));
        assert!(t.add_processor("pa", processor("pa", || Upper), &["src-a"]).is_err());
        assert!(t.add_processor("px", processor("px", || Upper), &["nope"]).is_err());
        assert!(t.add_source("src-c", &["a"], Serdes::string(), Serdes::string()).is_err());
        let d = t.describe();
        assert!(d.contains("Source: src-a (topics: [a])\n      --> pa\n      <-- none\n"), "{d}");
    }
}
