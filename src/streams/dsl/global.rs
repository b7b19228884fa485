//! Global tables: `StreamsBuilder::global_table` and the `GlobalKTable` handle.
//!
//! A global table holds every partition of its topic in every application
//! instance, so a stream can join it on any key without co-partitioning. It
//! is a global store in the topology (`Topology::add_global_store`): a
//! source and a `KTABLE-SOURCE-` node outside every subtopology, fed by the
//! runtime's global thread (or the test driver) and read by all tasks
//! through one shared store. It has no changelog: its topic is its log.

use std::marker::PhantomData;

use super::{lock, Consumed, Data, Materialized, StreamsBuilder};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{SerdeRef, Serdes};
use crate::streams::topology::{deserializer, SourceSpec};

/// A table replicated in full to every instance; joinable from any stream.
pub struct GlobalKTable<K, V> {
    pub(crate) store: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        GlobalKTable {
            store: self.store.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The name of the store holding the table.
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
    pub fn key_serde(&self) -> &SerdeRef<K> {
        &self.key_serde
    }
    pub fn value_serde(&self) -> &SerdeRef<V> {
        &self.value_serde
    }
}

/// Writes each record of the global topic into the store (a null deletes).
struct GlobalFeed<K, V> {
    store: String,
    _t: PhantomData<fn(K, V)>,
}

impl<K: Data, V: Data> Processor<K, Option<V>, K, V> for GlobalFeed<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, Option<V>>) -> Result<()> {
        let mut store = ctx.kv_store::<K, V>(&self.store)?;
        match &r.value {
            Some(v) => store.put(&r.key, v),
            None => store.delete(&r.key).map(|_| ()),
        }
    }
}

impl StreamsBuilder {
    /// A global table of `topic`: every instance reads all its partitions
    /// into one store (`materialized` names it; logging settings are
    /// ignored, the topic is the changelog).
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let mut b = lock(&self.inner);
        let source = consumed.name.clone().unwrap_or_else(|| b.new_name("KSTREAM-SOURCE-"));
        let node = b.new_name("KTABLE-SOURCE-");
        let default_store = b.new_name(&format!("{topic}-STATE-STORE-"));
        let spec = materialized.kv_spec(&default_store, consumed.key.clone(), consumed.value.clone());
        let store = spec.name.clone();
        let source_spec = SourceSpec {
            topics: vec![topic.to_string()],
            // A null value is a delete, not a deserialization error.
            deserialize: deserializer(consumed.key.clone(), Serdes::nullable(consumed.value.clone())),
            timestamp_extractor: consumed.timestamp_extractor.clone(),
            offset_reset: consumed.offset_reset.clone(),
        };
        let s2 = store.clone();
        let feed = processor(&node, move || GlobalFeed::<K, V> { store: s2.clone(), _t: PhantomData });
        if let Err(e) = b.topology.add_global_store(spec, &source, source_spec, &node, feed) {
            b.error(e);
        }
        drop(b);
        GlobalKTable { store, key_serde: consumed.key, value_serde: consumed.value }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Produced;
    use super::*;
    use crate::streams::test_driver::TopologyTestDriver;

    #[test]
    fn global_table_feeds_a_store_every_task_joins_against() {
        let b = StreamsBuilder::new();
        let g = b.global_table(
            "products",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_store("products-store"),
        );
        assert_eq!(g.queryable_store_name(), "products-store");
        let orders = b.stream(&["orders"], Consumed::with(Serdes::string(), Serdes::string()));
        // Order key: order id; value: product id.
        orders
            .join_global(&g, |_, product: &String| product.clone(), |p, name: &String| format!("{p}:{name}"))
            .to("joined", Produced::with(Serdes::string(), Serdes::string()));
        orders
            .left_join_global(&g, |_, p: &String| p.clone(), |p, name: Option<&String>| format!("{p}:{name:?}"))
            .to("left", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        assert!(desc.contains("for global store"), "{desc}");
        assert!(topo.copartition_groups().is_empty());
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let s = Serdes::string();
        d.pipe("products", &s, &"p1".to_string(), &s, &"apple".to_string(), 1).unwrap();
        d.pipe("orders", &s, &"o1".to_string(), &s, &"p1".to_string(), 2).unwrap();
        d.pipe("orders", &s, &"o2".to_string(), &s, &"p2".to_string(), 3).unwrap();
        d.pipe_raw("products", Some("p1".into()), None, 4).unwrap();
        d.pipe("orders", &s, &"o3".to_string(), &s, &"p1".to_string(), 5).unwrap();
        assert_eq!(d.read("joined", &s, &s).unwrap(), vec![("o1".into(), "p1:apple".into(), 2)]);
        assert_eq!(
            d.read("left", &s, &s).unwrap(),
            vec![
                ("o1".into(), "p1:Some(\"apple\")".into(), 2),
                ("o2".into(), "p2:None".into(), 3),
                ("o3".into(), "p1:None".into(), 5)
            ]
        );
        assert!(d.read_raw("app-products-store-changelog").is_empty(), "global stores are not changelogged");
    }
}
