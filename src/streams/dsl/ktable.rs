//! Table operators: `filter`, `filter_not`, `map_values` on a [`KTable`].
//!
//! Every derived table is materialized in its own key-value store (named
//! by the user's `Materialized`, else Kafka's generated
//! `KTABLE-FILTER-STATE-STORE-0000000007` form). Kafka can skip that and
//! compute values from the parent's store on demand; we always keep a store
//! because joins and `queryable_store_name` look a table's values up by
//! store name, and because the store gives the old value each downstream
//! `Change` needs. The store is changelogged as `Materialized` says (on by
//! default) so a restarted task has the values again.
//!
//! Semantics as Kafka's: a key that stops passing a filter (or is deleted
//! upstream) is forwarded as a delete, `Change { new: None, old }`; an
//! update that is filtered out and had no previous value is not forwarded.

use std::sync::Arc;

use super::{lock, Change, Data, FnProcessor, KTable, Materialized};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::SerdeRef;

/// Stores a table's new value (computed from an upstream change) and
/// forwards the change with the old value read from its own store.
pub(crate) struct Materialize<K, VIn, VOut, F> {
    pub(crate) store: String,
    pub(crate) compute: F,
    pub(crate) _t: std::marker::PhantomData<fn(K, VIn, VOut)>,
}

impl<K, VIn, VOut, F> Processor<K, Change<VIn>, K, Change<VOut>> for Materialize<K, VIn, VOut, F>
where
    K: Data,
    VIn: Data,
    VOut: Data,
    F: Fn(&K, Option<&VIn>) -> Option<VOut> + Send + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VOut>>, r: Record<K, Change<VIn>>) -> Result<()> {
        let new = (self.compute)(&r.key, r.value.new.as_ref());
        let old = {
            let mut store = ctx.kv_store::<K, VOut>(&self.store)?;
            let old = store.get(&r.key)?;
            match &new {
                Some(v) => store.put(&r.key, v)?,
                None if old.is_some() => {
                    store.delete(&r.key)?;
                }
                // Nothing before, nothing now: no change to tell anyone.
                None => return Ok(()),
            }
            old
        };
        ctx.forward(r.with_value(Change { new, old }))
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Adds a materializing node after this table: `compute` turns the
    /// upstream new value into this table's value.
    pub(crate) fn derive<V2: Data>(
        &self,
        prefix: &str,
        materialized: Materialized<K, V2>,
        value_serde: Option<SerdeRef<V2>>,
        compute: impl Fn(&K, Option<&V>) -> Option<V2> + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        let mut b = lock(&self.builder);
        // Kafka numbers a generated store name before the node.
        let store = match materialized.name.clone() {
            Some(n) => n,
            None => b.new_name(&format!("{prefix}STATE-STORE-")),
        };
        let name = b.new_name(prefix);
        let key = materialized.key.clone().or(self.key_serde.clone());
        let value = materialized.value.clone().or(value_serde);
        let (Some(ks), Some(vs)) = (key.clone(), value.clone()) else {
            b.error(format!(
                "{name}: no key or value serde for the table's store {store}; give them with Materialized::with"
            ));
            drop(b);
            return KTable { builder: self.builder.clone(), node: name, store, key_serde: key, value_serde: value };
        };
        let spec = materialized.kv_spec(&store, ks, vs);
        let compute = Arc::new(compute);
        let s2 = store.clone();
        b.add_processor(
            &name,
            processor(&name, move || {
                let compute = compute.clone();
                Materialize::<K, V, V2, _> {
                    store: s2.clone(),
                    compute: move |k: &K, v: Option<&V>| compute(k, v),
                    _t: Default::default(),
                }
            }),
            &[&self.node],
        );
        b.add_store(spec, &[&name]);
        drop(b);
        KTable { builder: self.builder.clone(), node: name, store, key_serde: key, value_serde: value }
    }

    /// A table of the entries the predicate accepts; a key that stops
    /// matching is deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.filter_materialized(predicate, Materialized::default())
    }

    /// `filter`, with the result's store as `materialized` says.
    pub fn filter_materialized(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        self.derive("KTABLE-FILTER-", materialized, self.value_serde.clone(), move |k, v| {
            v.filter(|v| predicate(k, v)).cloned()
        })
    }

    /// A table of the entries the predicate rejects.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.filter_materialized(move |k, v| !predicate(k, v), Materialized::default())
    }

    /// `filter_not`, with the result's store as `materialized` says.
    pub fn filter_not_materialized(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        self.filter_materialized(move |k, v| !predicate(k, v), materialized)
    }

    /// A table of changed values. The result is stored, so it needs a value
    /// serde: use `map_values_materialized` with `Materialized::with` unless
    /// the value type is the same (then this table's serde is used).
    pub fn map_values<V2: Data>(&self, mapper: impl Fn(&V) -> V2 + Send + Sync + 'static) -> KTable<K, V2> {
        self.map_values_materialized(mapper, Materialized::default())
    }

    /// `map_values`, with the result's store as `materialized` says.
    pub fn map_values_materialized<V2: Data>(
        &self,
        mapper: impl Fn(&V) -> V2 + Send + Sync + 'static,
        materialized: Materialized<K, V2>,
    ) -> KTable<K, V2> {
        // Same value type: the parent's serde fits.
        let same: Option<SerdeRef<V2>> =
            self.value_serde.clone().and_then(|s| (Box::new(s) as Box<dyn std::any::Any>).downcast().ok().map(|b| *b));
        self.derive("KTABLE-MAPVALUES-", materialized, same, move |_, v| v.map(&mapper))
    }

    /// The stream of every change, deletes included (`None`).
    pub fn to_change_stream(&self) -> super::KStream<K, Option<V>> {
        let mut b = lock(&self.builder);
        let name = b.new_name("KTABLE-TOSTREAM-");
        b.add_processor(
            &name,
            processor(&name, || {
                FnProcessor(|ctx: &mut ProcessorContext<'_, K, Option<V>>, r: Record<K, Change<V>>| {
                    let v = r.value.new.clone();
                    ctx.forward(r.with_value(v))
                })
            }),
            &[&self.node],
        );
        drop(b);
        super::KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone().map(crate::streams::serde::Serdes::nullable),
            repartition_required: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Consumed, Produced, StreamsBuilder};
    use super::*;
    use crate::streams::serde::Serdes;
    use crate::streams::test_driver::TopologyTestDriver;

    #[test]
    fn filter_emits_deletes_when_a_key_stops_matching() {
        let b = StreamsBuilder::new();
        let t = b.table("t", Consumed::with(Serdes::string(), Serdes::long()), Materialized::as_store("t-store"));
        let big = t.filter(|_, v| *v >= 10);
        let small = t.filter_not(|_, v| *v >= 10);
        big.to_change_stream().to("big", Produced::default_serdes());
        small.to_change_stream().to("small", Produced::default_serdes());
        let topo = b.build().unwrap();
        let d = topo.describe();
        assert!(
            d.contains("Processor: KTABLE-FILTER-0000000004 (stores: [KTABLE-FILTER-STATE-STORE-0000000003])"),
            "{d}"
        );
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let (ks, ls, nl) = (Serdes::string(), Serdes::long(), Serdes::nullable(Serdes::long()));
        d.pipe("t", &ks, &"a".to_string(), &ls, &5, 1).unwrap();
        d.pipe("t", &ks, &"a".to_string(), &ls, &15, 2).unwrap();
        d.pipe("t", &ks, &"a".to_string(), &ls, &20, 3).unwrap();
        d.pipe("t", &ks, &"a".to_string(), &ls, &1, 4).unwrap();
        d.pipe_raw("t", Some("a".into()), None, 5).unwrap();
        let big = d.read("big", &ks, &nl).unwrap();
        assert_eq!(
            big,
            vec![("a".into(), Some(15), 2), ("a".into(), Some(20), 3), ("a".into(), None, 4)],
            "5 never matched: nothing; 1 stops matching: a delete; the upstream delete: nothing left to delete"
        );
        let small = d.read("small", &ks, &nl).unwrap();
        assert_eq!(
            small,
            vec![("a".into(), Some(5), 1), ("a".into(), None, 2), ("a".into(), Some(1), 4), ("a".into(), None, 5)]
        );
        assert_eq!(d.read_raw("app-KTABLE-FILTER-STATE-STORE-0000000003-changelog").len(), 3);
    }

    #[test]
    fn map_values_materialized_and_chained() {
        let b = StreamsBuilder::new();
        let t = b.table("t", Consumed::with(Serdes::string(), Serdes::long()), Materialized::default());
        let doubled = t.map_values(|v| v * 2);
        let text = doubled.map_values_materialized(
            |v| format!("n={v}"),
            Materialized::as_store("text-store").with_value_serde(Serdes::string()).with_logging_disabled(),
        );
        assert_eq!(text.queryable_store_name(), "text-store");
        text.to_stream().to("out", Produced::default_serdes());
        let topo = b.build().unwrap();
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let (ks, ls) = (Serdes::string(), Serdes::long());
        d.pipe("t", &ks, &"k".to_string(), &ls, &4, 10).unwrap();
        d.pipe("t", &ks, &"k".to_string(), &ls, &5, 11).unwrap();
        let out = d.read("out", &ks, &Serdes::string()).unwrap();
        assert_eq!(out, vec![("k".into(), "n=8".into(), 10), ("k".into(), "n=10".into(), 11)]);
        assert!(d.read_raw("app-text-store-changelog").is_empty(), "logging disabled");
        let entries = d.store_entries("text-store").unwrap();
        assert_eq!(entries, vec![(bytes::Bytes::from("k"), bytes::Bytes::from("n=10"))]);
        // A new value type without a serde is a build error naming the fix.
        let b = StreamsBuilder::new();
        let t = b.table("t", Consumed::with(Serdes::string(), Serdes::long()), Materialized::default());
        t.map_values(|v| v.to_string());
        let err = b.build().err().unwrap().to_string();
        assert!(err.contains("Materialized::with"), "{err}");
    }
}
