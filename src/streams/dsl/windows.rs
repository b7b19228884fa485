//! Window specs (time, session) and the windowed aggregations of a grouped
//! stream, with the serdes for windowed keys.
//!
//! A time window is `[start, start + size)`; hopping windows advance by
//! less than their size, so a record falls into several. A session is the
//! records of a key no more than the inactivity gap apart; a record that
//! bridges two sessions merges them (the old sessions are emitted as
//! deletions). The grace period bounds lateness: once stream time has passed
//! a window's end plus grace, the window is closed and late records for it
//! are dropped; records inside grace still update it. Results live in window
//! and session stores (retention = size + grace unless
//! `Materialized::with_retention_ms` says more) and come out as a
//! `KTable<Windowed<K>, V>`. Time-window aggregations use the record cache
//! as key-value ones do; session aggregations forward every update.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::grouped::{
    aggregate_step, count_materialized, count_step, is_null, reduce_materialized, reduce_step, KGroupedStream,
    RecordCache, Step,
};
use super::{lock, Change, Data, KTable, Materialized};
use crate::streams::error::Result;
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{Serde, SerdeError, SerdeRef, Serdes};
use crate::streams::state::window::window_key;
use crate::streams::state::{StoreSpec, Window, WindowStore, Windowed};

pub(super) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Tumbling or hopping time windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub size_ms: i64,
    pub advance_ms: i64,
    pub grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size`; no record is accepted after a window ends.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }
    /// Tumbling windows of `size` that accept late records for `grace` after they end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        let size_ms = ms(size);
        TimeWindows { size_ms, advance_ms: size_ms, grace_ms: ms(grace) }
    }
    /// Hopping windows: a new window every `advance` (at most the size).
    pub fn advance_by(mut self, advance: Duration) -> Self {
        self.advance_ms = ms(advance);
        self
    }
    fn check(&self) -> Option<String> {
        if self.size_ms <= 0 {
            return Some(format!("window size must be positive, got {} ms", self.size_ms));
        }
        if self.advance_ms <= 0 || self.advance_ms > self.size_ms {
            return Some(format!(
                "window advance interval should be more than zero and less than or equal to window size \
                 (advance {} ms, size {} ms)",
                self.advance_ms, self.size_ms
            ));
        }
        None
    }
    /// The start times of the windows that contain `ts`, oldest first.
    pub fn windows_for(&self, ts: i64) -> Vec<i64> {
        let mut start = ((ts - self.size_ms + self.advance_ms).max(0) / self.advance_ms) * self.advance_ms;
        let mut out = Vec::new();
        while start <= ts {
            out.push(start);
            start += self.advance_ms;
        }
        out
    }
}

/// Session windows: a key's records no more than the gap apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub inactivity_gap_ms: i64,
    pub grace_ms: i64,
}

impl SessionWindows {
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows { inactivity_gap_ms: ms(gap), grace_ms: ms(grace) }
    }
    fn check(&self) -> Option<String> {
        (self.inactivity_gap_ms <= 0)
            .then(|| format!("session inactivity gap must be positive, got {} ms", self.inactivity_gap_ms))
    }
}

/// A window spec `KGroupedStream::windowed_by` accepts.
pub trait WindowSpec<K, V> {
    type Stream;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Stream;
}

impl<K: Data, V: Data> WindowSpec<K, V> for TimeWindows {
    type Stream = TimeWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Stream {
        if let Some(e) = self.check() {
            lock(&grouped.stream.builder).error(e);
        }
        TimeWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

impl<K: Data, V: Data> WindowSpec<K, V> for SessionWindows {
    type Stream = SessionWindowedKStream<K, V>;
    fn windowed(self, grouped: &KGroupedStream<K, V>) -> Self::Stream {
        if let Some(e) = self.check() {
            lock(&grouped.stream.builder).error(e);
        }
        SessionWindowedKStream { grouped: grouped.clone(), windows: self }
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregates per window: `TimeWindows` or `SessionWindows`.
    pub fn windowed_by<W: WindowSpec<K, V>>(&self, windows: W) -> W::Stream {
        windows.windowed(self)
    }
}

/// Serdes for windowed keys, in Kafka's formats.
pub struct WindowedSerdes;

impl WindowedSerdes {
    /// Kafka's TimeWindowedSerializer: key bytes then the 8-byte big-endian
    /// window start; reading needs the window size for the end.
    pub fn time_windowed<K: Send + Sync + 'static>(inner: SerdeRef<K>, window_size_ms: i64) -> SerdeRef<Windowed<K>> {
        Arc::new(TimeWindowedSerde { inner, size_ms: window_size_ms })
    }
    /// Kafka's SessionWindowedSerializer: key bytes, then the 8-byte
    /// big-endian session end, then its start.
    pub fn session_windowed<K: Send + Sync + 'static>(inner: SerdeRef<K>) -> SerdeRef<Windowed<K>> {
        Arc::new(SessionWindowedSerde { inner })
    }
}

fn inner_bytes<K: 'static>(
    inner: &SerdeRef<K>,
    topic: &str,
    key: &K,
    what: &str,
) -> std::result::Result<Bytes, SerdeError> {
    inner.serialize(topic, key)?.ok_or_else(|| SerdeError(format!("{what}: the inner key serialized to null")))
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    i64::from_be_bytes(a)
}

struct TimeWindowedSerde<K> {
    inner: SerdeRef<K>,
    size_ms: i64,
}

impl<K: Send + Sync + 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize(&self, topic: &str, w: &Windowed<K>) -> std::result::Result<Option<Bytes>, SerdeError> {
        let k = inner_bytes(&self.inner, topic, &w.key, "TimeWindowedSerializer")?;
        let mut b = BytesMut::with_capacity(k.len() + 8);
        b.put_slice(&k);
        b.put_i64(w.window.start);
        Ok(Some(b.freeze()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> std::result::Result<Windowed<K>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError("TimeWindowedDeserializer: null data".into()))?;
        if d.len() < 8 {
            return Err(SerdeError(format!("TimeWindowedDeserializer: {} bytes is too short", d.len())));
        }
        let (k, t) = d.split_at(d.len() - 8);
        let start = be_i64(t);
        let key = self.inner.deserialize(topic, Some(k))?;
        Ok(Windowed { key, window: Window { start, end: start.saturating_add(self.size_ms) } })
    }
}

struct SessionWindowedSerde<K> {
    inner: SerdeRef<K>,
}

impl<K: Send + Sync + 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, topic: &str, w: &Windowed<K>) -> std::result::Result<Option<Bytes>, SerdeError> {
        let k = inner_bytes(&self.inner, topic, &w.key, "SessionWindowedSerializer")?;
        let mut b = BytesMut::with_capacity(k.len() + 16);
        b.put_slice(&k);
        b.put_i64(w.window.end);
        b.put_i64(w.window.start);
        Ok(Some(b.freeze()))
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> std::result::Result<Windowed<K>, SerdeError> {
        let d = data.ok_or_else(|| SerdeError("SessionWindowedDeserializer: null data".into()))?;
        if d.len() < 16 {
            return Err(SerdeError(format!("SessionWindowedDeserializer: {} bytes is too short", d.len())));
        }
        let (k, t) = d.split_at(d.len() - 16);
        let key = self.inner.deserialize(topic, Some(k))?;
        Ok(Windowed { key, window: Window { end: be_i64(&t[..8]), start: be_i64(&t[8..]) } })
    }
}

/// A grouped stream aggregated per time window.
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
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
        let retention = m.retention_ms.unwrap_or(w.size_ms.saturating_add(w.grace_ms));
        let builder = g.stream.builder.clone();
        let failed = |k: Option<SerdeRef<K>>| KTable {
            builder: builder.clone(),
            node: g.stream.node.clone(),
            store: store.clone(),
            key_serde: k.map(|k| WindowedSerdes::time_windowed(k, w.size_ms)),
            value_serde: m.value.clone(),
        };
        if retention < w.size_ms.saturating_add(w.grace_ms) {
            lock(&builder).error(format!(
                "the retention period of the window store {store} must be no smaller than its window size plus \
                 the grace period. Got size=[{}], grace=[{}], retention=[{retention}]",
                w.size_ms, w.grace_ms
            ));
            return failed(g.key_serde.clone());
        }
        let Some(p) = g.prepare(op, &store) else { return failed(None) };
        let Some(value_serde) = m.value.clone() else {
            lock(&builder)
                .error(format!("{op}: no value serde for store {store}; give it with Materialized::with_value_serde"));
            return failed(Some(p.key));
        };
        let spec = m.apply(StoreSpec::window(&store, w.size_ms, retention, false, p.key.clone(), value_serde.clone()));
        let caching = spec.caching;
        let (s2, key, input_value, vs) = (store.clone(), p.key.clone(), p.value.clone(), value_serde.clone());
        let mut b = lock(&builder);
        b.add_processor(
            &node,
            processor(&node, move || WindowAggregate {
                store: s2.clone(),
                windows: w,
                key: key.clone(),
                input_value: input_value.clone(),
                value: vs.clone(),
                step: step.clone(),
                caching,
                observed: -1,
                cache: RecordCache::default(),
            }),
            &[&p.parent],
        );
        b.add_store(spec, &[&node]);
        drop(b);
        KTable {
            builder,
            node,
            store,
            key_serde: Some(WindowedSerdes::time_windowed(p.key, w.size_ms)),
            value_serde: Some(value_serde),
        }
    }
}

/// A time-windowed aggregation into a window store.
struct WindowAggregate<K, V, VA> {
    store: String,
    windows: TimeWindows,
    key: SerdeRef<K>,
    input_value: Option<SerdeRef<V>>,
    value: SerdeRef<VA>,
    step: Step<K, V, VA>,
    caching: bool,
    /// The largest timestamp this processor has seen (Kafka's observed stream time).
    observed: i64,
    cache: RecordCache<Windowed<K>, VA>,
}

impl<K: Data, V: Data, VA: Data> WindowAggregate<K, V, VA> {
    fn emit(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        key: Windowed<K>,
        value: VA,
        timestamp: i64,
    ) -> Result<()> {
        let old = {
            let mut h = ctx.erased().store(&self.store)?;
            h.timestamp = timestamp;
            let mut s = WindowStore::<K, VA>::new(h)?;
            let old = s.fetch_one(&key.key, key.window.start)?;
            s.put(&key.key, Some(&value), key.window.start)?;
            old
        };
        ctx.forward(Record::new(key, Change { new: Some(value), old }, timestamp))
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>> for WindowAggregate<K, V, VA> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>, r: Record<K, V>) -> Result<()> {
        let kb = match self.key.serialize(&self.store, &r.key) {
            Ok(Some(kb)) => kb,
            _ => return Ok(()),
        };
        if is_null(self.input_value.as_ref(), &self.store, &r.value) {
            return Ok(());
        }
        self.observed = self.observed.max(ctx.stream_time()).max(r.timestamp);
        let close = self.observed - self.windows.grace_ms;
        let max = ctx.cache_max_bytes();
        let cached = self.caching && max > 0;
        for start in self.windows.windows_for(r.timestamp) {
            let window = Window { start, end: start.saturating_add(self.windows.size_ms) };
            if window.end <= close {
                continue; // the window closed: a late record
            }
            let wk = window_key(&kb, start, 0);
            let old = match self.cache.get(&wk).filter(|_| cached) {
                Some(e) => e.value.clone(),
                None => ctx.window_store::<K, VA>(&self.store)?.fetch_one(&r.key, start)?,
            };
            let new = (self.step)(&r.key, &r.value, old);
            let key = Windowed { key: r.key.clone(), window };
            if !cached {
                self.emit(ctx, key, new, r.timestamp)?;
                continue;
            }
            let size = wk.len() + self.value.serialize(&self.store, &new)?.map_or(0, |b| b.len());
            self.cache.put(wk, key, Some(new), r.timestamp, size);
            while let Some((_, e)) = self.cache.evict_over(max) {
                if let Some(v) = e.value {
                    self.emit(ctx, e.key, v, e.timestamp)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>) -> Result<()> {
        while let Some((_, e)) = self.cache.pop_oldest() {
            if let Some(v) = e.value {
                self.emit(ctx, e.key, v, e.timestamp)?;
            }
        }
        Ok(())
    }
}

type SessionInit<VA> = Arc<dyn Fn() -> Option<VA> + Send + Sync>;
type SessionMerge<K, VA> = Arc<dyn Fn(&K, VA, VA) -> VA + Send + Sync>;

/// A grouped stream aggregated per session.
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// Counts records per key and session.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let m = Materialized { value: materialized.value.clone().or(Some(Serdes::long())), ..materialized };
        self.build(
            "KSTREAM-AGGREGATE-",
            "count",
            Arc::new(|| Some(0)),
            Arc::new(|_, _, old| old.unwrap_or(0) + 1),
            Arc::new(|_, a, b| a + b),
            m,
        )
    }

    /// Combines each session's values (merged sessions are reduced together).
    pub fn reduce(
        &self,
        reducer: impl Fn(&V, &V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let m = Materialized { value: materialized.value.clone().or(self.grouped.value_serde.clone()), ..materialized };
        let r = Arc::new(reducer);
        let r2 = r.clone();
        let step: Step<K, V, V> = Arc::new(move |_, v, old| match old {
            Some(agg) => r(&agg, v),
            None => v.clone(),
        });
        self.build("KSTREAM-REDUCE-", "reduce", Arc::new(|| None), step, Arc::new(move |_, a, b| r2(&a, &b)), m)
    }

    /// Folds each session's values; `merger` combines two sessions' aggregates
    /// when a record joins them.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, &VA, &VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let init = Arc::new(initializer);
        let i2 = init.clone();
        let step: Step<K, V, VA> = Arc::new(move |k, v, old| aggregator(k, v, &old.unwrap_or_else(|| i2())));
        self.build(
            "KSTREAM-AGGREGATE-",
            "aggregate",
            Arc::new(move || Some(init())),
            step,
            Arc::new(move |k, a, b| merger(k, &a, &b)),
            materialized,
        )
    }

    fn build<VA: Data>(
        &self,
        prefix: &str,
        op: &str,
        init: SessionInit<VA>,
        step: Step<K, V, VA>,
        merge: SessionMerge<K, VA>,
        m: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let g = KGroupedStream { key_serde: m.key.clone().or(self.grouped.key_serde.clone()), ..self.grouped.clone() };
        let (store, node) = g.names(prefix, &m);
        let w = self.windows;
        let min_retention = w.inactivity_gap_ms.saturating_add(w.grace_ms);
        let retention = m.retention_ms.unwrap_or(min_retention);
        let builder = g.stream.builder.clone();
        let failed = |k: Option<SerdeRef<K>>| KTable {
            builder: builder.clone(),
            node: g.stream.node.clone(),
            store: store.clone(),
            key_serde: k.map(WindowedSerdes::session_windowed),
            value_serde: m.value.clone(),
        };
        if retention < min_retention {
            lock(&builder).error(format!(
                "the retention period of the session store {store} must be no smaller than the session inactivity \
                 gap plus the grace period. Got gap=[{}], grace=[{}], retention=[{retention}]",
                w.inactivity_gap_ms, w.grace_ms
            ));
            return failed(g.key_serde.clone());
        }
        let Some(p) = g.prepare(op, &store) else { return failed(None) };
        let Some(value_serde) = m.value.clone() else {
            lock(&builder)
                .error(format!("{op}: no value serde for store {store}; give it with Materialized::with_value_serde"));
            return failed(Some(p.key));
        };
        let spec = m.apply(StoreSpec::session(&store, retention, p.key.clone(), value_serde.clone()));
        let (s2, key, input_value) = (store.clone(), p.key.clone(), p.value.clone());
        let mut b = lock(&builder);
        b.add_processor(
            &node,
            processor(&node, move || SessionAggregate {
                store: s2.clone(),
                windows: w,
                key: key.clone(),
                input_value: input_value.clone(),
                init: init.clone(),
                step: step.clone(),
                merge: merge.clone(),
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
            key_serde: Some(WindowedSerdes::session_windowed(p.key)),
            value_serde: Some(value_serde),
        }
    }
}

/// A session-windowed aggregation into a session store.
struct SessionAggregate<K, V, VA> {
    store: String,
    windows: SessionWindows,
    key: SerdeRef<K>,
    input_value: Option<SerdeRef<V>>,
    init: SessionInit<VA>,
    step: Step<K, V, VA>,
    merge: SessionMerge<K, VA>,
    observed: i64,
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>> for SessionAggregate<K, V, VA> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>, r: Record<K, V>) -> Result<()> {
        if !matches!(self.key.serialize(&self.store, &r.key), Ok(Some(_))) {
            return Ok(());
        }
        if is_null(self.input_value.as_ref(), &self.store, &r.value) {
            return Ok(());
        }
        self.observed = self.observed.max(ctx.stream_time()).max(r.timestamp);
        let close = self.observed - self.windows.grace_ms;
        let ts = r.timestamp;
        let gap = self.windows.inactivity_gap_ms;
        let new_window = Window { start: ts, end: ts };
        let (merged, agg, window) = {
            let store = ctx.session_store::<K, VA>(&self.store)?;
            let merged = store.find_sessions(&r.key, ts.saturating_sub(gap), ts.saturating_add(gap))?;
            let mut agg = (self.init)();
            let mut window = new_window;
            for (s, v) in &merged {
                agg = Some(match agg {
                    Some(a) => (self.merge)(&r.key, a, v.clone()),
                    None => v.clone(),
                });
                window = Window { start: window.start.min(s.window.start), end: window.end.max(s.window.end) };
            }
            (merged, agg, window)
        };
        if window.end < close {
            return Ok(()); // the session closed: a late record
        }
        if window != new_window {
            for (s, v) in merged {
                ctx.session_store::<K, VA>(&self.store)?.remove(&s)?;
                ctx.forward(Record::new(s, Change { new: None, old: Some(v) }, ts))?;
            }
        }
        let new = (self.step)(&r.key, &r.value, agg);
        let session = Windowed { key: r.key.clone(), window };
        ctx.session_store::<K, VA>(&self.store)?.put(&session, &new)?;
        ctx.forward(Record::new(session, Change { new: Some(new), old: None }, ts))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::dsl::grouped::tests::{cached_task, input};
    use crate::streams::dsl::{Consumed, FnProcessor, Grouped, Produced, StreamsBuilder};
    use crate::streams::test_driver::TopologyTestDriver;

    /// Writes a session table's changes, deletions as null values.
    fn changes_to(t: &KTable<Windowed<String>, i64>, topic: &str) {
        let mut b = lock(&t.builder);
        let name = b.new_name("TEST-CHANGES-");
        b.add_processor(
            &name,
            processor(&name, || {
                FnProcessor(
                    |ctx: &mut ProcessorContext<'_, Windowed<String>, Option<i64>>,
                     r: Record<Windowed<String>, Change<i64>>| {
                        let v = r.value.new;
                        ctx.forward(r.with_value(v))
                    },
                )
            }),
            &[&t.node],
        );
        let (k, v) = (WindowedSerdes::session_windowed(Serdes::string()), Serdes::nullable(Serdes::long()));
        b.topology.add_sink(&format!("{name}-sink"), topic, k, v, &[&name]).unwrap();
    }

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Pipes (key, ts) with value "v" and returns the output as (key, start, end, count).
    fn run(
        topo: crate::streams::topology::Topology,
        records: &[(&str, i64)],
        serde: SerdeRef<Windowed<String>>,
    ) -> Vec<(String, i64, i64, Option<i64>)> {
        let mut drv = TopologyTestDriver::new(topo, "app").unwrap();
        let s = Serdes::string();
        for (k, ts) in records {
            drv.pipe("in", &s, &k.to_string(), &s, &"v".to_string(), *ts).unwrap();
        }
        drv.read("out", &serde, &Serdes::nullable(Serdes::long()))
            .unwrap()
            .into_iter()
            .map(|(w, v, _)| (w.key, w.window.start, w.window.end, v))
            .collect()
    }

    fn time_count(windows: TimeWindows) -> crate::streams::topology::Topology {
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(windows)
            .count(Materialized::as_store("wc"))
            .to_stream()
            .to(
                "out",
                Produced::with(WindowedSerdes::time_windowed(Serdes::string(), windows.size_ms), Serdes::long()),
            );
        b.build().unwrap()
    }

    #[test]
    fn tumbling_counts_accept_late_records_within_grace_only() {
        let w = TimeWindows::of_size_and_grace(d(10), d(5));
        let out = run(
            time_count(w),
            &[("a", 1), ("a", 12), ("a", 3), ("a", 20), ("a", 4)],
            WindowedSerdes::time_windowed(Serdes::string(), 10),
        );
        let want = [("a", 0, 10, 1), ("a", 10, 20, 1), ("a", 0, 10, 2), ("a", 20, 30, 1)];
        assert_eq!(out, want.iter().map(|(k, s, e, n)| (k.to_string(), *s, *e, Some(*n))).collect::<Vec<_>>());
        // The window store is created with retention = size + grace.
        let topo = time_count(w);
        assert_eq!(
            topo.stores()["wc"].kind,
            crate::streams::state::StoreKind::Window { size_ms: 10, retention_ms: 15, retain_duplicates: false }
        );
        // No grace: a record for an ended window is dropped at once.
        let out = run(
            time_count(TimeWindows::of_size_with_no_grace(d(10))),
            &[("a", 12), ("a", 9)],
            WindowedSerdes::time_windowed(Serdes::string(), 10),
        );
        assert_eq!(out, vec![("a".to_string(), 10, 20, Some(1))]);
    }

    #[test]
    fn hopping_windows_count_a_record_in_each_window_it_falls_in() {
        let w = TimeWindows::of_size_with_no_grace(d(10)).advance_by(d(5));
        assert_eq!(w.windows_for(7), vec![0, 5]);
        assert_eq!(w.windows_for(3), vec![0]);
        let out = run(time_count(w), &[("a", 7), ("a", 8)], WindowedSerdes::time_windowed(Serdes::string(), 10));
        let want = [("a", 0, 10, 1), ("a", 5, 15, 1), ("a", 0, 10, 2), ("a", 5, 15, 2)];
        assert_eq!(out, want.iter().map(|(k, s, e, n)| (k.to_string(), *s, *e, Some(*n))).collect::<Vec<_>>());
        // Bad specs are reported by build().
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(TimeWindows::of_size_with_no_grace(d(10)).advance_by(d(20)))
            .count(Materialized::as_store("x").with_retention_ms(1));
        let err = b.build().err().unwrap().to_string();
        assert!(err.contains("advance interval") && err.contains("retention period"), "{err}");
    }

    #[test]
    fn windowed_aggregations_cache_until_flush() {
        let b = StreamsBuilder::new();
        b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(TimeWindows::of_size_with_no_grace(d(10)))
            .aggregate(
                String::new,
                |_, v, agg| format!("{agg}{v}"),
                Materialized::with(Serdes::string(), Serdes::string()),
            )
            .to_stream()
            .to("out", Produced::with(WindowedSerdes::time_windowed(Serdes::string(), 10), Serdes::string()));
        let (mut task, sent) = cached_task(b.build().unwrap(), 10_000);
        task.process(input("in", 0, "k", "x", 1)).unwrap();
        task.process(input("in", 1, "k", "y", 2)).unwrap();
        task.process(input("in", 2, "k", "z", 15)).unwrap();
        assert!(sent.lock().unwrap().is_empty());
        task.flush().unwrap();
        let ws = WindowedSerdes::time_windowed(Serdes::string(), 10);
        let out: Vec<(i64, String)> = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == "out")
            .map(|(_, k, v)| {
                (
                    ws.deserialize("out", k.as_deref()).unwrap().window.start,
                    String::from_utf8(v.clone().unwrap().to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(out, vec![(0, "xy".to_string()), (10, "z".to_string())]);
    }

    #[test]
    fn sessions_merge_and_emit_deletions_for_the_merged_ones() {
        let b = StreamsBuilder::new();
        let t = b
            .stream(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::default_serdes())
            .windowed_by(SessionWindows::of_inactivity_gap_and_grace(d(5), d(10)))
            .count(Materialized::as_store("sessions"));
        changes_to(&t, "out");
        let topo = b.build().unwrap();
        assert_eq!(topo.stores()["sessions"].kind, crate::streams::state::StoreKind::Session { retention_ms: 15 });
        let out = run(
            topo,
            &[("a", 1), ("a", 4), ("a", 20), ("a", 12), ("a", 16), ("a", 2)],
            WindowedSerdes::session_windowed(Serdes::string()),
        );
        let want: Vec<(&str, i64, i64, Option<i64>)> = vec![
            ("a", 1, 1, Some(1)),
            ("a", 1, 1, None),
            ("a", 1, 4, Some(2)),
            ("a", 20, 20, Some(1)),
            ("a", 12, 12, Some(1)),
            ("a", 12, 12, None),
            ("a", 20, 20, None),
            ("a", 12, 20, Some(3)),
            // ("a", 2): stream time 20, grace 10: the session [1,4] closed at 14.
        ];
        assert_eq!(out, want.into_iter().map(|(k, s, e, n)| (k.to_string(), s, e, n)).collect::<Vec<_>>());
    }

    #[test]
    fn session_reduce_and_aggregate_merge_values() {
        let b = StreamsBuilder::new();
        let g =
            b.stream(&["in"], Consumed::with(Serdes::string(), Serdes::long())).group_by_key(Grouped::default_serdes());
        // Grace keeps the first session in the store (retention = gap + grace) until the bridge.
        let sw = SessionWindows::of_inactivity_gap_and_grace(d(5), d(20));
        assert_eq!(SessionWindows::of_inactivity_gap_with_no_grace(d(5)).grace_ms, 0);
        g.windowed_by(sw)
            .reduce(|a, v| a + v, Materialized::as_store("sum"))
            .to_stream()
            .to("sum", Produced::with(WindowedSerdes::session_windowed(Serdes::string()), Serdes::long()));
        g.windowed_by(sw)
            .aggregate(|| 100, |_, v, a| a + v, |_, a, b| a + b, Materialized::with(Serdes::string(), Serdes::long()))
            .to_stream()
            .to("agg", Produced::with(WindowedSerdes::session_windowed(Serdes::string()), Serdes::long()));
        let mut drv = TopologyTestDriver::new(b.build().unwrap(), "app").unwrap();
        let (ks, ls) = (Serdes::string(), Serdes::long());
        for (v, ts) in [(1, 1), (2, 10), (4, 6)] {
            drv.pipe("in", &ks, &"k".to_string(), &ls, &v, ts).unwrap();
        }
        let ws = WindowedSerdes::session_windowed(Serdes::string());
        let last = |v: Vec<(Windowed<String>, i64, i64)>| v.last().map(|(w, n, _)| (w.window.start, w.window.end, *n));
        assert_eq!(last(drv.read("sum", &ws, &ls).unwrap()), Some((1, 10, 7)));
        // Two sessions of 101 and 102 merged (201 + the initial 100 of the
        // merge) plus the bridging record: 100 + 101 + 102 + 4.
        assert_eq!(last(drv.read("agg", &ws, &ls).unwrap()), Some((1, 10, 307)));
    }

    #[test]
    fn windowed_serdes_use_kafkas_layouts() {
        let t = WindowedSerdes::time_windowed(Serdes::string(), 100);
        let w = Windowed { key: "k".to_string(), window: Window { start: 5, end: 105 } };
        let b = t.serialize("t", &w).unwrap().unwrap();
        assert_eq!(&b[..], &[b'k', 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(t.deserialize("t", Some(&b)).unwrap(), w);
        let s = WindowedSerdes::session_windowed(Serdes::string());
        let w = Windowed { key: "k".to_string(), window: Window { start: 5, end: 9 } };
        let b = s.serialize("t", &w).unwrap().unwrap();
        assert_eq!(&b[..], &[b'k', 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), w);
        assert!(s.deserialize("t", Some(b"short")).is_err());
    }
}
