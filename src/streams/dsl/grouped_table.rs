//! `KTable::group_by` and the aggregations of a grouped table: `count`,
//! `reduce(adder, subtractor)` and `aggregate(initializer, adder,
//! subtractor)`.
//!
//! A table row can move to another group when it changes, so grouping a
//! table always repartitions: a `KTABLE-SELECT-` node maps every
//! [`Change`] to the new grouping key and value, and sends the old pair as
//! a subtraction (`Change { new: None, old }`) to the old key and then the
//! new pair as an addition (`Change { new, old: None }`) to the new key —
//! Kafka's two-step update, whose in-between result is visible downstream.
//! The records go through `<grouped name or store name>-repartition` (the
//! aggregations of one named grouping share its topic) with
//! values in the layout of Kafka's `ChangedSerializer` (a 4-byte big-endian
//! length of the new value's bytes, the new value's bytes, then the old
//! value's bytes; zero bytes stand for an absent value, as in Kafka). The
//! aggregation node after the repartition source subtracts the old value
//! from the key's aggregate and adds the new one, stores the result in a
//! key-value store and forwards the change.
//!
//! Differences from Kafka: updates are forwarded as they happen (no record
//! cache), and a result carries the timestamp of the record that caused it
//! (the store keeps no timestamps to take a maximum over).

use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::{lock, Change, Data, Grouped, KTable, Materialized, Shared};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{Serde, SerdeError, SerdeRef, Serdes};
use crate::streams::topology::{deserializer, serializer, SinkSpec, SourceSpec};

/// A table regrouped by a new key, ready to aggregate.
pub struct KGroupedTable<K, V> {
    builder: Shared,
    /// The `KTABLE-SELECT-` node emitting the regrouped changes.
    node: String,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<V>>,
    name: Option<String>,
    /// With a user-given name, every aggregation of this grouping reads the
    /// one repartition topic `<name>-repartition`: its source node, once made.
    shared_source: Arc<Mutex<Option<String>>>,
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Regroups the table: `selector` maps each row to its grouping key and
    /// the value to aggregate. The result is aggregated after a repartition
    /// topic; `grouped` gives its serdes (defaults: none, so give them
    /// unless the aggregation's `Materialized` has the key serde and the
    /// value type is the table's) and name.
    pub fn group_by<K2: Data, V2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2> {
        let f = Arc::new(selector);
        let mut b = lock(&self.builder);
        let node = b.new_name("KTABLE-SELECT-");
        b.add_processor(&node, processor(&node, move || TableSelect { selector: f.clone() }), &[&self.node]);
        drop(b);
        KGroupedTable {
            builder: self.builder.clone(),
            node,
            key_serde: grouped.key,
            value_serde: grouped.value,
            name: grouped.name,
            shared_source: Arc::default(),
        }
    }
}

type Selector<K, V, K2, V2> = Arc<dyn Fn(&K, &V) -> (K2, V2) + Send + Sync>;

/// Maps a table change to a subtraction from the old group and an addition to the new one.
struct TableSelect<K, V, K2, V2> {
    selector: Selector<K, V, K2, V2>,
}

impl<K: Data, V: Data, K2: Data, V2: Data> Processor<K, Change<V>, K2, Change<V2>> for TableSelect<K, V, K2, V2> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K2, Change<V2>>, r: Record<K, Change<V>>) -> Result<()> {
        // Subtract first: when the row stays in its group, the aggregate
        // must not count the row twice in between.
        if let Some(old) = &r.value.old {
            let (k, v) = (self.selector)(&r.key, old);
            ctx.forward(Record::new(k, Change { new: None, old: Some(v) }, r.timestamp))?;
        }
        if let Some(new) = &r.value.new {
            let (k, v) = (self.selector)(&r.key, new);
            ctx.forward(Record::new(k, Change { new: Some(v), old: None }, r.timestamp))?;
        }
        Ok(())
    }
}

/// Repartition values: Kafka's `ChangedSerializer` layout.
struct ChangeSerde<V> {
    inner: SerdeRef<V>,
}

impl<V: Send + Sync + 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, topic: &str, c: &Change<V>) -> std::result::Result<Option<Bytes>, SerdeError> {
        let bytes = |v: &Option<V>| -> std::result::Result<Bytes, SerdeError> {
            Ok(match v {
                Some(v) => self.inner.serialize(topic, v)?.unwrap_or_default(),
                None => Bytes::new(),
            })
        };
        if c.new.is_none() && c.old.is_none() {
            return Err(SerdeError("both old and new values are null in a change, which is not allowed".into()));
        }
        let (new, old) = (bytes(&c.new)?, bytes(&c.old)?);
        let len = u32::try_from(new.len()).map_err(|_| SerdeError("a change's new value is too large".into()))?;
        let mut b = BytesMut::with_capacity(4 + new.len() + old.len());
        b.put_u32(len);
        b.put_slice(&new);
        b.put_slice(&old);
        Ok(Some(b.freeze()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> std::result::Result<Change<V>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError("change: null data".into()))?;
        let (len, rest) = d
            .split_at_checked(4)
            .ok_or_else(|| SerdeError(format!("change: {} bytes is too short for the length", d.len())))?;
        let mut a = [0u8; 4];
        a.copy_from_slice(len);
        let (new, old) = rest.split_at_checked(u32::from_be_bytes(a) as usize).ok_or_else(|| {
            SerdeError(format!("change: the new value's length exceeds the {} bytes that follow", rest.len()))
        })?;
        let value = |b: &[u8]| -> std::result::Result<Option<V>, SerdeError> {
            if b.is_empty() {
                Ok(None)
            } else {
                self.inner.deserialize(topic, Some(b)).map(Some)
            }
        };
        Ok(Change { new: value(new)?, old: value(old)? })
    }
}

/// Adds a value to an aggregate (`None`: the key has none yet).
type Adder<K, V, VA> = Arc<dyn Fn(&K, &V, Option<VA>) -> VA + Send + Sync>;
/// Takes a value out of an aggregate.
type Subtractor<K, V, VA> = Arc<dyn Fn(&K, &V, VA) -> VA + Send + Sync>;

impl<K: Data, V: Data> KGroupedTable<K, V> {
    /// Counts the rows per group.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let m = Materialized { value: materialized.value.clone().or(Some(Serdes::long())), ..materialized };
        self.aggregate_with(
            "KTABLE-AGGREGATE-",
            "count",
            Arc::new(|_, _, agg| agg.unwrap_or(0) + 1),
            Arc::new(|_, _, agg| agg - 1),
            m,
        )
    }

    /// Combines each group's values: `adder(aggregate, new value)` when a
    /// row joins or changes, `subtractor(aggregate, old value)` when it
    /// leaves or changes. A group's first value is its start.
    pub fn reduce(
        &self,
        adder: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let m = Materialized { value: materialized.value.clone().or(self.value_serde.clone()), ..materialized };
        let add: Adder<K, V, V> = Arc::new(move |_, v, agg| match agg {
            Some(a) => adder(&a, v),
            None => v.clone(),
        });
        self.aggregate_with("KTABLE-REDUCE-", "reduce", add, Arc::new(move |_, v, agg| subtractor(&agg, v)), m)
    }

    /// Folds each group's values into an aggregate that starts at
    /// `initializer()`, adding new values and subtracting old ones.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let add: Adder<K, V, VA> = Arc::new(move |k, v, agg| adder(k, v, &agg.unwrap_or_else(&initializer)));
        let sub: Subtractor<K, V, VA> = Arc::new(move |k, v, agg| subtractor(k, v, &agg));
        self.aggregate_with("KTABLE-AGGREGATE-", "aggregate", add, sub, materialized)
    }

    fn aggregate_with<VA: Data>(
        &self,
        prefix: &str,
        op: &str,
        add: Adder<K, V, VA>,
        sub: Subtractor<K, V, VA>,
        m: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let key = m.key.clone().or(self.key_serde.clone());
        let mut b = lock(&self.builder);
        // Kafka's order: the store name (if generated), sink, source, node.
        let store = match &m.name {
            Some(n) => n.clone(),
            None => b.new_name(&format!("{prefix}STATE-STORE-")),
        };
        let topic = format!("{}-repartition", self.name.clone().unwrap_or_else(|| store.clone()));
        let failed = |key| KTable {
            builder: self.builder.clone(),
            node: self.node.clone(),
            store: store.clone(),
            key_serde: key,
            value_serde: m.value.clone(),
        };
        let Some(key) = key else {
            b.error(format!("{op}: no key serde for store {store}; give it with Grouped::with or Materialized::with"));
            return failed(None);
        };
        let Some(value) = self.value_serde.clone() else {
            b.error(format!("{op}: no value serde for the repartition topic {topic}; give it with Grouped::with"));
            return failed(Some(key));
        };
        let Some(agg_serde) = m.value.clone() else {
            b.error(format!("{op}: no value serde for store {store}; give it with Materialized::with_value_serde"));
            return failed(Some(key));
        };
        let mut shared = self.shared_source.lock().unwrap_or_else(|e| e.into_inner());
        let source = match shared.clone() {
            Some(source) => source,
            None => {
                let sink = b.new_name("KSTREAM-SINK-");
                let source = b.new_name("KSTREAM-SOURCE-");
                let change: SerdeRef<Change<V>> = Arc::new(ChangeSerde { inner: value });
                let spec = SinkSpec {
                    topic: topic.clone(),
                    serialize: serializer(key.clone(), change.clone()),
                    partitioner: None,
                };
                if let Err(e) = b.topology.add_sink_spec(&sink, spec, &[&self.node]) {
                    b.error(e);
                }
                b.topology.add_repartition_topic(&topic, None);
                let spec = SourceSpec {
                    topics: vec![topic],
                    deserialize: deserializer(key.clone(), change),
                    timestamp_extractor: None,
                    offset_reset: None,
                };
                if let Err(e) = b.topology.add_source_spec(&source, spec) {
                    b.error(e);
                }
                if self.name.is_some() {
                    *shared = Some(source.clone());
                }
                source
            }
        };
        drop(shared);
        let node = b.new_name(prefix);
        let spec = m.kv_spec(&store, key.clone(), agg_serde.clone());
        let (s2, k2) = (store.clone(), key.clone());
        b.add_processor(
            &node,
            processor(&node, move || TableAggregate {
                store: s2.clone(),
                key: k2.clone(),
                add: add.clone(),
                sub: sub.clone(),
            }),
            &[&source],
        );
        b.add_store(spec, &[&node]);
        drop(b);
        KTable { builder: self.builder.clone(), node, store, key_serde: Some(key), value_serde: Some(agg_serde) }
    }
}

/// Applies regrouped changes to the per-group aggregates.
struct TableAggregate<K, V, VA> {
    store: String,
    key: SerdeRef<K>,
    add: Adder<K, V, VA>,
    sub: Subtractor<K, V, VA>,
}

impl<K: Data, V: Data, VA: Data> Processor<K, Change<V>, K, Change<VA>> for TableAggregate<K, V, VA> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>, r: Record<K, Change<V>>) -> Result<()> {
        // Kafka skips a null grouping key.
        if !matches!(self.key.serialize(&self.store, &r.key), Ok(Some(_))) {
            return Ok(());
        }
        let (old, new) = {
            let mut store = ctx.kv_store::<K, VA>(&self.store)?;
            let old = store.get(&r.key)?;
            let mut agg = match (&r.value.old, old.clone()) {
                (Some(v), Some(a)) => Some((self.sub)(&r.key, v, a)),
                (_, a) => a,
            };
            if let Some(v) = &r.value.new {
                agg = Some((self.add)(&r.key, v, agg));
            }
            match &agg {
                Some(a) => store.put(&r.key, a)?,
                None => return Ok(()), // a subtraction from a group that has nothing
            }
            (old, agg)
        };
        ctx.forward(r.with_value(Change { new, old }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::dsl::{Consumed, Produced, StreamsBuilder};
    use crate::streams::test_driver::TopologyTestDriver;

    #[test]
    fn count_per_region_moves_rows_between_groups() {
        let b = StreamsBuilder::new();
        let users = b.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
        users
            .group_by(|_, region| (region.clone(), 1i64), Grouped::with(Serdes::string(), Serdes::long()))
            .count(Materialized::as_store("per-region"))
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::long()));
        let topo = b.build().unwrap();
        assert!(topo.repartition_topics().contains_key("per-region-repartition"));
        let names: Vec<&str> = topo.nodes().iter().map(|n| n.name.as_str()).collect();
        assert!(names.iter().any(|n| n.starts_with("KTABLE-SELECT-")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("KTABLE-AGGREGATE-")), "{names:?}");
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let s = Serdes::string();
        let nullable = Serdes::nullable(Serdes::string());
        let rows: [(&str, Option<&str>); 6] = [
            ("alice", Some("EU")),
            ("bob", Some("US")),
            ("carol", Some("EU")),
            ("alice", Some("US")),
            ("bob", None),
            ("carol", Some("EU")),
        ];
        for (i, (k, v)) in rows.iter().enumerate() {
            d.pipe("users", &s, &k.to_string(), &nullable, &v.map(str::to_string), i as i64).unwrap();
        }
        let out: Vec<(String, i64)> =
            d.read("out", &s, &Serdes::long()).unwrap().into_iter().map(|(k, v, _)| (k, v)).collect();
        let want = [
            ("EU", 1),
            ("US", 1),
            ("EU", 2),
            ("EU", 1), // alice leaves EU …
            ("US", 2), // … and joins US
            ("US", 1), // bob deleted
            ("EU", 0), // carol's unchanged row: subtract …
            ("EU", 1), // … then add again
        ];
        assert_eq!(out, want.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>());
        // alice's move went through the repartition topic as two records.
        assert_eq!(d.read_raw("app-per-region-repartition").len(), 1 + 1 + 1 + 2 + 1 + 2);
    }

    #[test]
    fn reduce_and_aggregate_subtract_old_values() {
        let b = StreamsBuilder::new();
        let scores = b.table("scores", Consumed::with(Serdes::string(), Serdes::long()), Materialized::default());
        let g = scores.group_by(
            |user, score| (user[..1].to_string(), *score),
            Grouped::with(Serdes::string(), Serdes::long()).with_name("by-team"),
        );
        g.reduce(|a, v| a + v, |a, v| a - v, Materialized::as_store("sums"))
            .to_stream()
            .to("sums", Produced::with(Serdes::string(), Serdes::long()));
        g.aggregate(
            String::new,
            |_, v, agg| format!("{agg}+{v}"),
            |_, v, agg| format!("{agg}-{v}"),
            Materialized::with(Serdes::string(), Serdes::string()),
        )
        .to_stream()
        .to("log", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        // Both aggregations of the named grouping read one topic.
        assert_eq!(topo.repartition_topics().keys().collect::<Vec<_>>(), vec!["by-team-repartition"]);
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let (s, l) = (Serdes::string(), Serdes::nullable(Serdes::long()));
        for (i, (k, v)) in
            [("a1", Some(5)), ("a2", Some(3)), ("b1", Some(4)), ("a1", Some(10)), ("a2", None)].iter().enumerate()
        {
            d.pipe("scores", &s, &k.to_string(), &l, v, i as i64).unwrap();
        }
        let sums: Vec<(String, i64)> =
            d.read("sums", &s, &Serdes::long()).unwrap().into_iter().map(|(k, v, _)| (k, v)).collect();
        let want = [("a", 5), ("a", 8), ("b", 4), ("a", 3), ("a", 13), ("a", 10)];
        assert_eq!(sums, want.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>());
        let log: Vec<String> = d.read("log", &s, &s).unwrap().into_iter().map(|(_, v, _)| v).collect();
        assert_eq!(log.last().unwrap(), "+5+3-5+10-3");

        // Missing serdes are reported by build().
        let b = StreamsBuilder::new();
        b.table("t", Consumed::with(Serdes::string(), Serdes::long()), Materialized::default())
            .group_by(|k, v| (k.clone(), *v), Grouped::default_serdes())
            .count(Materialized::as_store("n"));
        let err = b.build().err().unwrap().to_string();
        assert!(err.contains("no key serde for store n"), "{err}");
    }

    #[test]
    fn change_serde_uses_kafkas_changed_layout() {
        let c = ChangeSerde { inner: Serdes::string() };
        let both = Change { new: Some("ab".to_string()), old: Some("c".to_string()) };
        let b = c.serialize("t", &both).unwrap().unwrap();
        assert_eq!(&b[..], &[0, 0, 0, 2, b'a', b'b', b'c']);
        assert_eq!(c.deserialize("t", Some(&b)).unwrap(), both);
        let old = Change { new: None, old: Some("x".to_string()) };
        let b = c.serialize("t", &old).unwrap().unwrap();
        assert_eq!(&b[..], &[0, 0, 0, 0, b'x']);
        assert_eq!(c.deserialize("t", Some(&b)).unwrap(), old);
        assert!(c.serialize("t", &Change { new: None, old: None }).is_err());
        assert!(c.deserialize("t", Some(&[0, 0, 0, 9, 1])).is_err());
        assert!(c.deserialize("t", Some(&[0])).is_err());
    }
}
