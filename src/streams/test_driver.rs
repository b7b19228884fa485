//! An in-memory driver for topologies (Kafka's TopologyTestDriver): pipe
//! records in, read what comes out, no broker.
//!
//! Every subtopology runs as one task (partition 0) with in-memory stores;
//! records written to a repartition topic are fed back in to the subtopology
//! that reads it, so a whole DSL application runs end to end. Changelog
//! records are kept per topic like any output. Useful for tests of
//! processors and DSL operators, and for trying a topology out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::error::{Result, StreamsError};
use super::exec::{InputRecord, RecordSink, TaskExecutor, TaskSetup};
use super::processor::{Headers, TaskId};
use super::serde::SerdeRef;
use super::state::{InMemoryStore, KeyValueBytesStore, SharedStore};
use super::topology::Topology;

/// A record a topology wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub partition: Option<i32>,
}

#[derive(Default)]
struct Outputs {
    topics: HashMap<String, VecDeque<OutputRecord>>,
    /// Records for internal topics, to feed back in.
    feedback: VecDeque<(String, OutputRecord)>,
}

struct CollectSink {
    out: Arc<Mutex<Outputs>>,
    internal: Arc<Vec<String>>,
}

impl RecordSink for CollectSink {
    fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        _headers: &Headers,
    ) -> Result<()> {
        let rec = OutputRecord { key, value, timestamp, partition };
        let mut out = self.out.lock().map_err(|_| StreamsError::Processing("driver poisoned".into()))?;
        if self.internal.iter().any(|t| t == topic) {
            out.feedback.push_back((topic.to_string(), rec.clone()));
        }
        out.topics.entry(topic.to_string()).or_default().push_back(rec);
        Ok(())
    }
    fn partition_count(&mut self, _topic: &str) -> Option<i32> {
        Some(1)
    }
}

/// Runs a topology in memory.
pub struct TopologyTestDriver {
    tasks: Vec<TaskExecutor>,
    out: Arc<Mutex<Outputs>>,
    offsets: HashMap<String, i64>,
    wall_clock: i64,
}

impl TopologyTestDriver {
    /// Builds every task (and global store) with in-memory stores, and runs `init`.
    pub fn new(topology: Topology, application_id: &str) -> Result<Self> {
        let topology = Arc::new(topology);
        let internal: Arc<Vec<String>> =
            Arc::new(topology.repartition_topics().keys().map(|t| topology.resolve_topic(application_id, t)).collect());
        let out = Arc::new(Mutex::new(Outputs::default()));
        let mut groups: Vec<(TaskId, Vec<usize>, Vec<String>, bool)> = topology
            .subtopologies()
            .into_iter()
            .map(|s| (TaskId { subtopology: s.id, partition: 0 }, s.nodes, s.stores.into_iter().collect(), true))
            .collect();
        for (i, g) in topology.global_stores().iter().enumerate() {
            let mut nodes = vec![g.source];
            nodes.extend(topology.nodes()[g.source].children.iter().copied());
            groups.push((TaskId { subtopology: 1000 + i as u32, partition: 0 }, nodes, vec![g.store.clone()], false));
        }
        // A global store is one store: its feed writes it, every task reads it.
        let globals: BTreeMap<String, SharedStore> = topology
            .global_stores()
            .iter()
            .map(|g| (g.store.clone(), SharedStore::new(Box::new(InMemoryStore::new()))))
            .collect();
        let mut tasks = Vec::new();
        for (task, nodes, stores, logging) in groups {
            let mut opened: BTreeMap<String, Box<dyn KeyValueBytesStore>> = BTreeMap::new();
            for s in stores {
                let store: Box<dyn KeyValueBytesStore> = match globals.get(&s) {
                    Some(g) => Box::new(g.clone()),
                    None => Box::new(InMemoryStore::new()),
                };
                opened.insert(s, store);
            }
            if logging {
                for (name, g) in &globals {
                    opened.entry(name.clone()).or_insert_with(|| Box::new(g.clone()));
                }
            }
            let setup = TaskSetup {
                application_id: application_id.to_string(),
                task,
                topology: topology.clone(),
                nodes,
                stores: opened,
                cache_max_bytes: 0,
                logging,
                default_timestamp_extractor: None,
            };
            let sink = CollectSink { out: out.clone(), internal: internal.clone() };
            let mut exec = TaskExecutor::new(setup, Box::new(sink))?;
            exec.init()?;
            tasks.push(exec);
        }
        Ok(TopologyTestDriver { tasks, out, offsets: HashMap::new(), wall_clock: 0 })
    }

    /// Feeds one raw record to every task that reads `topic`, then any
    /// repartition records it caused.
    pub fn pipe_raw(&mut self, topic: &str, key: Option<Bytes>, value: Option<Bytes>, timestamp: i64) -> Result<()> {
        self.feed(topic, key, value, timestamp)?;
        loop {
            let next =
                self.out.lock().map_err(|_| StreamsError::Processing("driver poisoned".into()))?.feedback.pop_front();
            let Some((t, r)) = next else { break };
            self.feed(&t, r.key, r.value, r.timestamp)?;
        }
        Ok(())
    }

    fn feed(&mut self, topic: &str, key: Option<Bytes>, value: Option<Bytes>, timestamp: i64) -> Result<()> {
        let offset = self.offsets.entry(topic.to_string()).or_insert(0);
        let rec = InputRecord {
            topic: topic.to_string(),
            partition: 0,
            offset: *offset,
            timestamp,
            key,
            value,
            headers: Vec::new(),
        };
        *offset += 1;
        let mut found = false;
        for t in self.tasks.iter_mut().filter(|t| t.source_topics().iter().any(|s| s == topic)) {
            found = true;
            t.process(rec.clone())?;
        }
        if !found {
            return Err(StreamsError::Topology(format!("no source reads topic {topic}")));
        }
        Ok(())
    }

    /// Feeds a typed record.
    pub fn pipe<K: 'static, V: 'static>(
        &mut self,
        topic: &str,
        k: &SerdeRef<K>,
        key: &K,
        v: &SerdeRef<V>,
        value: &V,
        timestamp: i64,
    ) -> Result<()> {
        let kb = k.serialize(topic, key)?;
        let vb = v.serialize(topic, value)?;
        self.pipe_raw(topic, kb, vb, timestamp)
    }

    /// Takes everything written to `topic` so far.
    pub fn read_raw(&mut self, topic: &str) -> Vec<OutputRecord> {
        match self.out.lock() {
            Ok(mut o) => o.topics.get_mut(topic).map(|q| q.drain(..).collect()).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Takes everything written to `topic`, typed: (key, value, timestamp).
    pub fn read<K: 'static, V: 'static>(
        &mut self,
        topic: &str,
        k: &SerdeRef<K>,
        v: &SerdeRef<V>,
    ) -> Result<Vec<(K, V, i64)>> {
        self.read_raw(topic)
            .into_iter()
            .map(|r| {
                Ok((k.deserialize(topic, r.key.as_deref())?, v.deserialize(topic, r.value.as_deref())?, r.timestamp))
            })
            .collect()
    }

    /// Advances the wall clock and fires due wall-clock punctuations.
    pub fn advance_wall_clock(&mut self, ms: i64) -> Result<()> {
        self.wall_clock += ms;
        let now = self.wall_clock_base() + self.wall_clock;
        for t in &mut self.tasks {
            t.punctuate_wall_clock(now)?;
        }
        Ok(())
    }

    fn wall_clock_base(&self) -> i64 {
        // Tasks start from the real clock; the driver moves them forward from there.
        static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        })
    }

    /// Runs a commit's flush on every task (record caches emit).
    pub fn flush(&mut self) -> Result<()> {
        for t in &mut self.tasks {
            t.flush()?;
        }
        Ok(())
    }

    /// Every entry of a store (raw bytes), from the first task that has it.
    pub fn store_entries(&mut self, store: &str) -> Option<Vec<(Bytes, Bytes)>> {
        self.tasks.iter_mut().find_map(|t| {
            t.store_mut(store).and_then(|s| s.range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).ok())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::streams::processor::{processor, Processor, ProcessorContext, PunctuationType, PunctuatorId, Record};
    use crate::streams::serde::Serdes;
    use crate::streams::state::StoreSpec;

    /// Counts words into a store; emits all counts every 10 ms of stream time.
    struct Counter;
    impl Processor<Option<String>, String, String, i64> for Counter {
        fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<()> {
            ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime);
            Ok(())
        }
        fn process(
            &mut self,
            ctx: &mut ProcessorContext<'_, String, i64>,
            r: Record<Option<String>, String>,
        ) -> Result<()> {
            let mut store = ctx.kv_store::<String, i64>("counts")?;
            for w in r.value.split_whitespace() {
                let n = store.get(&w.to_string())?.unwrap_or(0) + 1;
                store.put(&w.to_string(), &n)?;
            }
            Ok(())
        }
        fn punctuate(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, _id: PunctuatorId, ts: i64) -> Result<()> {
            let all = ctx.kv_store::<String, i64>("counts")?.all()?;
            for (k, v) in all {
                ctx.forward(Record::new(k, v, ts))?;
            }
            Ok(())
        }
    }

    #[test]
    fn processor_api_with_store_changelog_and_stream_time_punctuation() {
        let mut t = Topology::new();
        t.add_source("in", &["lines"], Serdes::nullable(Serdes::string()), Serdes::string()).unwrap();
        t.add_processor("count", processor("count", || Counter), &["in"]).unwrap();
        t.add_state_store(StoreSpec::key_value("counts", Serdes::string(), Serdes::long()), &["count"]).unwrap();
        t.add_sink("out", "counts-out", Serdes::string(), Serdes::long(), &["count"]).unwrap();
        let mut d = TopologyTestDriver::new(t, "app").unwrap();
        let (ks, vs) = (Serdes::nullable(Serdes::string()), Serdes::string());
        // The first record fires the punctuation (schedule aligned to it).
        d.pipe("lines", &ks, &None, &vs, &"a b a".to_string(), 100).unwrap();
        let first = d.read("counts-out", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(first, vec![("a".to_string(), 2, 100), ("b".to_string(), 1, 100)]);
        d.pipe("lines", &ks, &None, &vs, &"b".to_string(), 105).unwrap();
        assert!(d.read_raw("counts-out").is_empty(), "not due before 110");
        d.pipe("lines", &ks, &None, &vs, &"c".to_string(), 111).unwrap();
        let second = d.read("counts-out", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(second, vec![("a".to_string(), 2, 111), ("b".to_string(), 2, 111), ("c".to_string(), 1, 111)]);
        let log = d.read("app-counts-changelog", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(log.len(), 5, "every store write is logged: {log:?}");
        assert_eq!(log[4], ("c".to_string(), 1, 111));
        // A null value is a deserialization error for a non-nullable serde.
        let err = d.pipe_raw("lines", None, None, 120).unwrap_err();
        assert!(matches!(err, StreamsError::Serde(_)), "{err}");
        assert!(d.pipe_raw("nope", None, None, 1).is_err());
    }

    /// Emits how many wall-clock punctuations it has seen, every second of wall-clock time.
    struct Ticker(i64);
    impl Processor<String, String, String, i64> for Ticker {
        fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<()> {
            ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime);
            Ok(())
        }
        fn process(&mut self, _ctx: &mut ProcessorContext<'_, String, i64>, _r: Record<String, String>) -> Result<()> {
            Ok(())
        }
        fn punctuate(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, _id: PunctuatorId, ts: i64) -> Result<()> {
            self.0 += 1;
            ctx.forward(Record::new("tick".to_string(), self.0, ts))
        }
    }

    #[test]
    fn wall_clock_punctuation_fires_as_the_clock_moves_not_as_records_arrive() {
        let mut t = Topology::new();
        t.add_source("in", &["in"], Serdes::string(), Serdes::string()).unwrap();
        t.add_processor("tick", processor("tick", || Ticker(0)), &["in"]).unwrap();
        t.add_sink("out", "ticks", Serdes::string(), Serdes::long(), &["tick"]).unwrap();
        let mut d = TopologyTestDriver::new(t, "app").unwrap();
        // Records, however far apart in stream time, do not move the wall clock.
        d.pipe("in", &Serdes::string(), &"k".to_string(), &Serdes::string(), &"v".to_string(), 1).unwrap();
        d.pipe("in", &Serdes::string(), &"k".to_string(), &Serdes::string(), &"v".to_string(), 10_000_000).unwrap();
        assert!(d.read_raw("ticks").is_empty());
        d.advance_wall_clock(500).unwrap();
        assert!(d.read_raw("ticks").is_empty(), "not due after half a second");
        d.advance_wall_clock(600).unwrap();
        let ticks = d.read("ticks", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(ticks.iter().map(|t| t.1).collect::<Vec<_>>(), vec![1]);
        d.advance_wall_clock(1000).unwrap();
        let ticks = d.read("ticks", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(ticks.iter().map(|t| t.1).collect::<Vec<_>>(), vec![2]);
    }
}
