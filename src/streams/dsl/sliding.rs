//! Sliding windows (Kafka's `SlidingWindows`, KIP-450) and the aggregations
//! of a grouped stream over them.
//!
//! A sliding window is `[start, start + time difference]`, both ends
//! inclusive, and windows exist only where records make them: each record
//! at `ts` has a *left* window `[ts - diff, ts]` that it closes, and a
//! *right* window `[ts + 1, ts + 1 + diff]` when a later record falls in it
//! (the window the record drops out of). Windows with the same records are
//! never stored twice, so per key there are at most two windows per record.
//! Records with `ts < diff` would have left windows starting before zero;
//! as Kafka does, they all share the window `[0, diff]`.
//!
//! The algorithm is Kafka's (`KStreamSlidingWindowAggregate`): a record
//! reads the key's windows starting in `[ts - 2·diff, ts + 1]`, adds itself
//! to every existing window that contains it, and creates its own left
//! window (seeded with the aggregate of the latest window ending before it
//! when the previous record is within reach), its right window (a copy of
//! the aggregate of the window that holds the records after it), and the
//! previous record's right window if it did not exist yet. No aggregate is
//! ever recomputed from raw records, so no record store is needed.
//! To tell which records a stored aggregate covers, every window keeps the
//! largest record timestamp it has seen next to the aggregate: the store's
//! values are Kafka's `ValueAndTimestamp` layout (8-byte big-endian
//! timestamp, then the aggregate's bytes). The emitted `KTable` values are
//! the plain aggregates; windowed keys use the time-windowed serde with the
//! time difference as the size (Kafka's `FullTimeWindowedSerde`).
//!
//! Lateness (as Kafka's javadoc says): a window is closed when stream time
//! is past its end plus grace (its end is inclusive, so a window ending
//! exactly at stream time minus grace is still open). A record whose right
//! window would end at or before stream time minus grace is dropped
//! (Kafka's check); otherwise it updates every open window it falls in and
//! skips the closed ones.
//! Retention defaults to `2·diff + grace` (Kafka's: creating a right window
//! may need windows that start `2·diff` back). Updates are forwarded as
//! they happen (no record cache), like session aggregations here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::grouped::{
    aggregate_step, count_materialized, count_step, is_null, reduce_materialized, reduce_step, KGroupedStream, Step,
};
use super::windows::{ms, WindowSpec, WindowedSerdes};
use super::{lock, Change, Data, KTable, Materialized};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{Serde, SerdeError, SerdeRef};
use crate::streams::state::{StoreSpec, Window, WindowStore, Windowed};

/// Sliding windows: a window for every distinct set of a key's records no
/// more than the time difference apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub time_difference_ms: i64,
    pub grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of `time_difference` (inclusive) that accept no late record.
    pub fn of_time_difference_with_no_grace(time_difference: Duration) -> Self {
        Self::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }
    /// Windows of `time_difference` (inclusive) that accept out-of-order
    /// records for `grace` after they end.
    pub fn of_time_difference_and_grace(time_difference: Duration, grace: Duration) -> Self {
        SlidingWindows { time_difference_ms: ms(time_difference), grace_ms: ms(grace) }
    }
    fn check(&self) -> Option<String> {
        // Durations cannot be negative; what is left to reject is a value
        // so large that window arithmetic would overflow.
        let limit = i64::MAX / 4;
        if self.time_difference_ms > limit || self.grace_ms > limit {
            return Some(format!(
                "sliding window time difference ({} ms) and grace period ({} ms) must each be at most {limit} ms",
                self.time_difference_ms, self.grace_ms
            ));
        }
        None
    }
}

impl<K: Data, V: Data> WindowSpec<K, V> for SlidingWindows {
    type Stream = SlidingWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Stream {
        if let Some(e) = self.check() {
            lock(&grouped.stream.builder).error(e);
        }
        SlidingWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

/// An aggregate and the largest timestamp of the records it covers.
type Slot<VA> = (VA, i64);

/// The store's value serde: Kafka's `ValueAndTimestamp` layout.
struct TimestampedSerde<VA> {
    inner: SerdeRef<VA>,
}

impl<VA: Send + Sync + 'static> Serde<Slot<VA>> for TimestampedSerde<VA> {
    fn serialize(&self, topic: &str, v: &Slot<VA>) -> std::result::Result<Option<Bytes>, SerdeError> {
        let inner = self
            .inner
            .serialize(topic, &v.0)?
            .ok_or_else(|| SerdeError("a sliding-window aggregate cannot serialize to null".into()))?;
        let mut b = BytesMut::with_capacity(inner.len() + 8);
        b.put_i64(v.1);
        b.put_slice(&inner);
        Ok(Some(b.freeze()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> std::result::Result<Slot<VA>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError("ValueAndTimestamp: null data".into()))?;
        let (t, v) = d.split_at_checked(8).ok_or_else(|| {
            SerdeError(format!("ValueAndTimestamp: {} bytes is too short for the 8-byte timestamp", d.len()))
        })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(t);
        Ok((self.inner.deserialize(topic, Some(v))?, i64::from_be_bytes(a)))
    }
}

/// A grouped stream aggregated per sliding window.
pub struct SlidingWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SlidingWindows,
}

impl<K: Data, V: Data> SlidingWindowedKStream<K, V> {
    /// Counts records per key and window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.build("KSTREAM-AGGREGATE-", "count", count_step(), count_materialized(materialized))
    }

    /// Combines the values of each key and window.
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let m = reduce_materialized(materialized, self.grouped.value_serde.clone());
        self.build("KSTREAM-REDUCE-", "reduce", reduce_step(reducer), m)
    }

    /// Folds the values of each key and window, starting at `initializer()`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.build("KSTREAM-AGGREGATE-", "aggregate", aggregate_step(initializer, aggregator), materialized)
    }

    fn build<VA: Data>(
        &self,
        prefix: &str,
        op: &str,
        step: Step<K, V, VA>,
        m: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let g = KGroupedStream { key_serde: m.key.clone().or(self.grouped.key_serde.clone()), ..self.grouped.clone() };
        let (store, node) = g.names(prefix, &m);
        let w = self.windows;
        let diff = w.time_difference_ms;
        let min_retention = diff.saturating_mul(2).saturating_add(w.grace_ms);
        let retention = m.retention_ms.unwrap_or(min_retention);
        let builder = g.stream.builder.clone();
        let failed = |k: Option<SerdeRef<K>>| KTable {
            builder: builder.clone(),
            node: g.stream.node.clone(),
            store: store.clone(),
            key_serde: k.map(|k| WindowedSerdes::time_windowed(k, diff)),
            value_serde: m.value.clone(),
        };
        if retention < min_retention {
            lock(&builder).error(format!(
                "the retention period of the window store {store} must be no smaller than 2 * time difference plus \
                 the grace period. Got time difference=[{diff}], grace=[{}], retention=[{retention}]",
                w.grace_ms
            ));
            return failed(g.key_serde.clone());
        }
        let Some(p) = g.prepare(op, &store) else { return failed(None) };
        let Some(value_serde) = m.value.clone() else {
            lock(&builder)
                .error(format!("{op}: no value serde for store {store}; give it with Materialized::with_value_serde"));
            return failed(Some(p.key));
        };
        let slot_serde: SerdeRef<Slot<VA>> = Arc::new(TimestampedSerde { inner: value_serde.clone() });
        let spec = m.apply(StoreSpec::window(&store, diff, retention, false, p.key.clone(), slot_serde));
        let (s2, key, input_value) = (store.clone(), p.key.clone(), p.value.clone());
        let mut b = lock(&builder);
        b.add_processor(
            &node,
            processor(&node, move || SlidingAggregate {
                store: s2.clone(),
                diff,
                grace: w.grace_ms,
                key: key.clone(),
                input_value: input_value.clone(),
                step: step.clone(),
                observed: -1,
            }),
            &[&p.parent],
        );
        b.add_store(spec, &[&node]);
        drop(b);
        KTable {
            builder,
            node,
            store,
            key_serde: Some(WindowedSerdes::time_windowed(p.key, diff)),
            value_serde: Some(value_serde),
        }
    }
}

/// A sliding-window aggregation into a window store of [`Slot`]s.
struct SlidingAggregate<K, V, VA> {
    store: String,
    diff: i64,
    grace: i64,
    key: SerdeRef<K>,
    input_value: Option<SerdeRef<V>>,
    step: Step<K, V, VA>,
    /// The largest timestamp this processor has seen (Kafka's observed stream time).
    observed: i64,
}

/// What one record found among its key's windows.
struct Found<VA> {
    starts: BTreeSet<i64>,
    /// The latest window ending before the record (its left window's seed).
    left: Option<Slot<VA>>,
    /// The latest window holding the record with records after it (its
    /// right window's content), as it was before the record was added.
    right: Option<Slot<VA>>,
    left_exists: bool,
    right_exists: bool,
    /// The timestamp of the key's latest record before this one.
    previous: Option<i64>,
}

// By hand: a derive would ask `VA: Default`.
impl<VA> Default for Found<VA> {
    fn default() -> Self {
        Found {
            starts: BTreeSet::new(),
            left: None,
            right: None,
            left_exists: false,
            right_exists: false,
            previous: None,
        }
    }
}

impl<K: Data, V: Data, VA: Data> SlidingAggregate<K, V, VA> {
    fn window(&self, start: i64) -> Window {
        Window { start, end: start + self.diff }
    }

    /// Stores a window's aggregate and forwards the change.
    fn put(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        key: &K,
        start: i64,
        slot: Slot<VA>,
        old: Option<VA>,
    ) -> Result<()> {
        let (agg, max_ts) = slot;
        {
            let mut h = ctx.erased().store(&self.store)?;
            h.timestamp = max_ts;
            let mut s = WindowStore::<K, Slot<VA>>::new(h)?;
            s.put(key, Some(&(agg.clone(), max_ts)), start)?;
        }
        let key = Windowed { key: key.clone(), window: self.window(start) };
        ctx.forward(Record::new(key, Change { new: Some(agg), old }, max_ts))
    }

    /// Adds the record to a window: an existing one (`existing` holds its
    /// slot) or a new one seeded with `seed`. Closed windows are left alone.
    fn add(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        start: i64,
        existing: Option<Slot<VA>>,
        seed: Option<VA>,
        close: i64,
    ) -> Result<()> {
        if self.window(start).end < close {
            return Ok(()); // closed: this part of a late record is dropped
        }
        let (base, max_ts, old) = match existing {
            Some((agg, t)) => (Some(agg.clone()), t.max(r.timestamp), Some(agg)),
            None => (seed, r.timestamp, None),
        };
        let new = (self.step)(&r.key, &r.value, base);
        self.put(ctx, &r.key, start, (new, max_ts), old)
    }

    /// The key's windows starting in `[from, to]`, in start order.
    fn fetch(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Slot<VA>)>> {
        ctx.window_store::<K, Slot<VA>>(&self.store)?.fetch(key, from, to)
    }

    /// A record at or after the time difference: its left window starts at
    /// or after zero.
    fn process_in_order(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        close: i64,
    ) -> Result<()> {
        let (ts, diff) = (r.timestamp, self.diff);
        let windows = self.fetch(ctx, &r.key, ts.saturating_sub(2 * diff).max(0), ts + 1)?;
        let mut f = Found::default();
        for (start, (agg, max_ts)) in windows {
            f.starts.insert(start);
            let end = start + diff;
            if end < ts {
                f.left = Some((agg, max_ts));
                f.previous = Some(max_ts);
            } else if end == ts {
                f.left_exists = true;
                if max_ts < ts {
                    f.previous = Some(max_ts);
                }
                self.add(ctx, r, start, Some((agg, max_ts)), None, close)?;
            } else if start <= ts {
                f.right = Some((agg.clone(), max_ts));
                self.add(ctx, r, start, Some((agg, max_ts)), None, close)?;
            } else if start == ts + 1 {
                f.right_exists = true;
            }
        }
        // The previous record's right window, if this record is its first content.
        if let Some(p) = f.previous {
            if !f.starts.contains(&(p + 1)) && p + 1 + diff >= ts {
                self.add(ctx, r, p + 1, None, None, close)?;
            }
        }
        if !f.left_exists {
            let seed = match f.previous {
                Some(p) if ts - diff <= p => f.left.take().map(|(agg, _)| agg),
                _ => None,
            };
            self.add(ctx, r, ts - diff, None, seed, close)?;
        }
        self.create_right(ctx, r, &f)
    }

    /// The record's own right window, when later records exist and it does not.
    fn create_right(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        f: &Found<VA>,
    ) -> Result<()> {
        match &f.right {
            Some((agg, max_ts)) if !f.right_exists && *max_ts > r.timestamp => {
                self.put(ctx, &r.key, r.timestamp + 1, (agg.clone(), *max_ts), None)
            }
            _ => Ok(()),
        }
    }

    /// A record before the time difference: its left window is the shared
    /// `[0, diff]` window.
    fn process_early(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        close: i64,
    ) -> Result<()> {
        let ts = r.timestamp;
        let windows = self.fetch(ctx, &r.key, 0, ts + 1)?;
        let mut combined = None;
        let mut f = Found::default();
        for (start, (agg, max_ts)) in windows {
            f.starts.insert(start);
            if start == 0 {
                if max_ts < ts {
                    f.previous = Some(max_ts);
                }
                combined = Some((agg, max_ts));
            } else if start <= ts {
                f.right = Some((agg.clone(), max_ts));
                self.add(ctx, r, start, Some((agg, max_ts)), None, close)?;
            } else if start == ts + 1 {
                f.right_exists = true;
            }
        }
        // With nothing else after this record, the records of the combined
        // window after it are exactly its right window's.
        if f.right.is_none() {
            f.right = combined.clone().filter(|(_, max_ts)| *max_ts > ts);
        }
        self.create_right(ctx, r, &f)?;
        if let Some(p) = f.previous {
            if !f.starts.contains(&(p + 1)) {
                self.add(ctx, r, p + 1, None, None, close)?;
            }
        }
        self.add(ctx, r, 0, combined, None, close)
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>> for SlidingAggregate<K, V, VA> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>, r: Record<K, V>) -> Result<()> {
        // Kafka skips records with a null key or value in aggregations.
        if !matches!(self.key.serialize(&self.store, &r.key), Ok(Some(_))) {
            return Ok(());
        }
        if is_null(self.input_value.as_ref(), &self.store, &r.value) {
            return Ok(());
        }
        let ts = r.timestamp;
        // Windows start at zero. Timestamps past i64::MAX / 2 (year 146
        // million) are dropped too, so window arithmetic cannot overflow
        // (the time difference and grace are at most i64::MAX / 4).
        if !(0..=i64::MAX / 2).contains(&ts) {
            return Ok(());
        }
        self.observed = self.observed.max(ctx.stream_time()).max(ts);
        let close = self.observed - self.grace;
        if ts + 1 + self.diff <= close {
            return Ok(()); // even the record's right window has closed: late
        }
        if ts < self.diff {
            self.process_early(ctx, &r, close)
        } else {
            self.process_in_order(ctx, &r, close)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::streams::dsl::{Consumed, Grouped, Produced, StreamsBuilder};
    use crate::streams::serde::Serdes;
    use crate::streams::state::StoreKind;
    use crate::streams::test_driver::TopologyTestDriver;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// (key, window start, window end, count, record timestamp).
    type Row = (String, i64, i64, i64, i64);

    /// Counts per sliding window of "in" into "out".
    fn count_topology(w: SlidingWindows) -> crate::streams::topology::Topology {
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(w)
            .count(Materialized::as_store("sliding"))
            .to_stream()
            .to(
                "out",
                Produced::with(WindowedSerdes::time_windowed(Serdes::string(), w.time_difference_ms), Serdes::long()),
            );
        b.build().unwrap()
    }

    /// Pipes `records` (key, ts) one at a time and returns, after each, the
    /// output as (start, end, count, timestamp).
    fn counts(w: SlidingWindows, records: &[(&str, i64)]) -> Vec<Vec<Row>> {
        let mut drv = TopologyTestDriver::new(count_topology(w), "app").unwrap();
        let s = Serdes::string();
        let ws = WindowedSerdes::time_windowed(Serdes::string(), w.time_difference_ms);
        records
            .iter()
            .map(|(k, ts)| {
                drv.pipe("in", &s, &k.to_string(), &s, &"v".to_string(), *ts).unwrap();
                drv.read("out", &ws, &Serdes::long())
                    .unwrap()
                    .into_iter()
                    .map(|(w, n, t)| (w.key, w.window.start, w.window.end, n, t))
                    .collect()
            })
            .collect()
    }

    fn a(rows: &[(i64, i64, i64, i64)]) -> Vec<Row> {
        rows.iter().map(|(s, e, n, t)| ("A".to_string(), *s, *e, *n, *t)).collect()
    }

    #[test]
    fn kafkas_javadoc_example_makes_five_windows() {
        // SlidingWindows' javadoc: difference 5000 ms, records at 8000, 9200, 12400.
        let w = SlidingWindows::of_time_difference_with_no_grace(d(5000));
        let out = counts(w, &[("A", 8000), ("A", 9200), ("A", 12400)]);
        assert_eq!(out[0], a(&[(3000, 8000, 1, 8000)]));
        assert_eq!(out[1], a(&[(8001, 13001, 1, 9200), (4200, 9200, 2, 9200)]));
        assert_eq!(out[2], a(&[(8001, 13001, 2, 12400), (9201, 14201, 1, 12400), (7400, 12400, 3, 12400)]));
        // Store: window size = the difference, retention = 2 * difference + grace.
        let topo = count_topology(SlidingWindows::of_time_difference_and_grace(d(5000), d(300)));
        assert_eq!(
            topo.stores()["sliding"].kind,
            StoreKind::Window { size_ms: 5000, retention_ms: 10_300, retain_duplicates: false }
        );
        assert!(topo.stores().contains_key("sliding"));
    }

    #[test]
    fn out_of_order_records_within_grace_update_every_window_they_fall_in() {
        let w = SlidingWindows::of_time_difference_and_grace(d(10), d(20));
        let out = counts(w, &[("A", 100), ("A", 108), ("A", 104)]);
        assert_eq!(out[0], a(&[(90, 100, 1, 100)]));
        assert_eq!(out[1], a(&[(101, 111, 1, 108), (98, 108, 2, 108)]));
        // 104 joins [98,108] (100,104,108) and [101,111] (104,108), gets its
        // left window [94,104] (100,104) and a right window [105,115] (108).
        assert_eq!(out[2], a(&[(98, 108, 3, 108), (101, 111, 2, 108), (94, 104, 2, 104), (105, 115, 1, 108)]));

        // Records before the time difference share [0, diff].
        let out = counts(w, &[("A", 3), ("A", 7), ("A", 15), ("A", 1)]);
        assert_eq!(out[0], a(&[(0, 10, 1, 3)]));
        assert_eq!(out[1], a(&[(4, 14, 1, 7), (0, 10, 2, 7)]));
        assert_eq!(out[2], a(&[(8, 18, 1, 15), (5, 15, 2, 15)]));
        // 1 is out of order: its right window [2,12] holds 3 and 7.
        assert_eq!(out[3], a(&[(2, 12, 2, 7), (0, 10, 3, 7)]));
    }

    #[test]
    fn late_records_are_dropped_and_keys_are_separate() {
        let w = SlidingWindows::of_time_difference_and_grace(d(10), d(20));
        let out = counts(w, &[("A", 100), ("B", 200), ("A", 150), ("A", 169), ("A", 180)]);
        assert_eq!(out[0], a(&[(90, 100, 1, 100)]));
        assert_eq!(out[1], vec![("B".to_string(), 190, 200, 1, 200)]);
        // Stream time 200 (B's record counts for the task), grace 20:
        // windows ending before 180 are closed. 150 is dropped.
        assert!(out[2].is_empty(), "{:?}", out[2]);
        // 169: its right window would be [170,180]; Kafka drops a record
        // whose right window ends at or before stream time minus grace.
        assert!(out[3].is_empty(), "{:?}", out[3]);
        // 180: its left window ends exactly at the close time: still open.
        assert_eq!(out[4], a(&[(170, 180, 1, 180)]));
        // No grace: 89 is dropped at once; 95 still joins [90,100] (open
        // until stream time passes 100) and makes its right window, while
        // its own left window [85,95] is closed.
        let w = SlidingWindows::of_time_difference_with_no_grace(d(10));
        let out = counts(w, &[("A", 100), ("A", 89), ("A", 95)]);
        assert!(out[1].is_empty());
        assert_eq!(out[2], a(&[(90, 100, 2, 100), (96, 106, 1, 100)]));
    }

    #[test]
    fn reduce_and_aggregate_and_bad_retention() {
        let b = StreamsBuilder::new();
        let g =
            b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long())).group_by_key(Grouped::default_serdes());
        let w = SlidingWindows::of_time_difference_with_no_grace(d(10));
        let ws = WindowedSerdes::time_windowed(Serdes::string(), 10);
        g.windowed_by(w)
            .reduce(|a, v| a + v, Materialized::as_store("sum"))
            .to_stream()
            .to("sum", Produced::with(ws.clone(), Serdes::long()));
        g.windowed_by(w)
            .aggregate(
                String::new,
                |_, v, agg| format!("{agg}{v}"),
                Materialized::with(Serdes::string(), Serdes::string()),
            )
            .to_stream()
            .to("cat", Produced::with(ws.clone(), Serdes::string()));
        let topo = b.build().unwrap();
        let names: Vec<&str> = topo.stores().keys().map(|s| s.as_str()).collect();
        assert!(names.iter().any(|n| n.starts_with("KSTREAM-AGGREGATE-STATE-STORE-")), "{names:?}");
        let mut drv = TopologyTestDriver::new(topo, "app").unwrap();
        let (ks, ls) = (Serdes::string(), Serdes::long());
        for (v, ts) in [(1, 100), (2, 105), (4, 112)] {
            drv.pipe("in", &ks, &"k".to_string(), &ls, &v, ts).unwrap();
        }
        let sums: Vec<(i64, i64)> =
            drv.read("sum", &ws, &ls).unwrap().into_iter().map(|(w, v, _)| (w.window.start, v)).collect();
        assert_eq!(sums, vec![(90, 1), (101, 2), (95, 3), (106, 4), (102, 6)]);
        let cats: Vec<(i64, String)> =
            drv.read("cat", &ws, &ks).unwrap().into_iter().map(|(w, v, _)| (w.window.start, v)).collect();
        let want = [(90, "1"), (101, "2"), (95, "12"), (106, "4"), (102, "24")];
        assert_eq!(cats, want.iter().map(|(s, v)| (*s, v.to_string())).collect::<Vec<_>>());

        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(SlidingWindows::of_time_difference_and_grace(d(10), d(5)))
            .count(Materialized::as_store("x").with_retention_ms(24));
        let err = b.build().err().unwrap().to_string();
        assert!(err.contains("2 * time difference plus the grace period") && err.contains("retention=[24]"), "{err}");
    }

    /// The windows sliding-window semantics define for one key's record
    /// timestamps: every record's left window (`[0, diff]` for records
    /// before the difference) and its right window when a later record
    /// falls in it, each with the timestamps it holds.
    fn model(diff: i64, records: &[i64]) -> BTreeMap<i64, Vec<i64>> {
        let within = |start: i64| {
            let mut v: Vec<i64> = records.iter().copied().filter(|t| *t >= start && *t <= start + diff).collect();
            v.sort();
            v
        };
        let mut out = BTreeMap::new();
        for &t in records {
            let left = (t - diff).max(0);
            out.insert(left, within(left));
            if records.iter().any(|r| *r > t && *r <= t + 1 + diff) {
                out.insert(t + 1, within(t + 1));
            }
        }
        out
    }

    #[test]
    fn any_arrival_order_within_grace_ends_in_the_defined_windows() {
        let mut seed: u64 = 0x5eed;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % n) as i64
        };
        for round in 0..60 {
            let diff = [1, 5, 10, 37][round % 4];
            let dup = round % 3 == 0;
            let mut ts: Vec<i64> = Vec::new();
            while ts.len() < 25 {
                let t = next(200);
                if dup || !ts.contains(&t) {
                    ts.push(t);
                }
            }
            let b = StreamsBuilder::new();
            let w = SlidingWindows::of_time_difference_and_grace(d(diff as u64), d(1_000_000));
            let ws = WindowedSerdes::time_windowed(Serdes::string(), diff);
            b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long()))
                .group_by_key(Grouped::default_serdes())
                .windowed_by(w)
                .aggregate(
                    String::new,
                    |_, v, agg| format!("{agg},{v}"),
                    Materialized::with(Serdes::string(), Serdes::string()),
                )
                .to_stream()
                .to("out", Produced::with(ws.clone(), Serdes::string()));
            let mut drv = TopologyTestDriver::new(b.build().unwrap(), "app").unwrap();
            for t in &ts {
                drv.pipe("in", &Serdes::string(), &"k".to_string(), &Serdes::long(), t, *t).unwrap();
            }
            let mut got = BTreeMap::new();
            for (w, v, _) in drv.read("out", &ws, &Serdes::string()).unwrap() {
                let mut v: Vec<i64> = v.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
                v.sort();
                got.insert(w.window.start, v);
            }
            assert_eq!(got, model(diff, &ts), "diff {diff}, records in arrival order {ts:?}");
        }
    }

    #[test]
    fn store_values_use_kafkas_value_and_timestamp_layout() {
        let s = TimestampedSerde { inner: Serdes::long() };
        let b = s.serialize("t", &(7, 300)).unwrap().unwrap();
        assert_eq!(&b[..8], &300i64.to_be_bytes());
        assert_eq!(&b[8..], &7i64.to_be_bytes());
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), (7, 300));
        assert!(s.deserialize("t", Some(b"short")).is_err());
    }
}
