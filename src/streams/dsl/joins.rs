//! Joins: stream–stream (windowed), stream–table, table–table and
//! stream–global-table, with Kafka's node and store names.
//!
//! Stream–stream: each side's records go through a `KSTREAM-WINDOWED-` node
//! into that side's window store (duplicates kept, records keyed by their
//! own timestamp, retention before + after + grace), then a join node looks
//! the key up in the *other* side's store over `[ts − before, ts + after]`
//! (mirrored for the other side) and a `KSTREAM-MERGE-` node unites both.
//! A result carries the larger of the two timestamps. A record whose own
//! window has closed past the grace period (`ts + after + grace < stream
//! time`, `before` for the other side) is dropped.
//!
//! Left and outer joins emit an unmatched record joined with `None` only once
//! its window has closed (Kafka 3.x, no spurious early results): an
//! unmatched record waits in a shared key-value store
//! (`KSTREAM-OUTERSHARED-…-store`, changelogged like the window stores),
//! keyed `timestamp | side | key` so a scan meets the oldest first; a later
//! match on the other side deletes it; whenever a record advances stream
//! time, waiting records whose window + grace has passed are emitted (with
//! their own timestamp) and deleted. An unmatched record that arrives after
//! its window closed but within grace is emitted at once, as Kafka does.
//! Stream time here is the task's (largest timestamp seen by the task),
//! and the scan runs on every advancing record (Kafka throttles it to once
//! a second of wall-clock time).
//!
//! Stream–table: the stream record looks its key up in the table's store
//! (connected to the join node); table updates trigger nothing. Table–table:
//! an update on either side looks the key up in the other table's store and
//! a `KTABLE-MERGE-` node materializes the result (old values from its own
//! store). Stream–global: the lookup key comes from a key mapper; global
//! stores are readable from every task, so no co-partitioning is needed.
//! Joined sides must be co-partitioned: their source topics are recorded as
//! a co-partition group, and a stream whose key changed is repartitioned
//! first (`<name>-repartition`).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::ktable::Materialize;
use super::{lock, BuilderInner, Change, Data, FnProcessor, GlobalKTable, KStream, KTable, Materialized};
use crate::streams::error::{Result, StreamsError};
use crate::streams::processor::{processor, Processor, ProcessorContext, Record};
use crate::streams::serde::{SerdeRef, Serdes};
use crate::streams::state::StoreSpec;
use crate::streams::topology::NodeKind;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time range a stream–stream join matches records in: a record at `t`
/// of this stream joins records of the other stream in `[t − before, t + after]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub before_ms: i64,
    pub after_ms: i64,
    /// How long after a window closes late records are still joined.
    pub grace_ms: i64,
}

impl JoinWindows {
    /// Records at most `time_difference` apart join; records up to `grace` late still count.
    pub fn of_time_difference_and_grace(time_difference: Duration, grace: Duration) -> Self {
        let d = ms(time_difference);
        JoinWindows { before_ms: d, after_ms: d, grace_ms: ms(grace) }
    }
    /// Records at most `time_difference` apart join; late records are dropped.
    pub fn of_time_difference_without_grace(time_difference: Duration) -> Self {
        Self::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }
    /// How far back from this stream's record the other stream's records join.
    pub fn before(mut self, time_difference: Duration) -> Self {
        self.before_ms = ms(time_difference);
        self
    }
    /// How far ahead of this stream's record the other stream's records join.
    pub fn after(mut self, time_difference: Duration) -> Self {
        self.after_ms = ms(time_difference);
        self
    }
    /// before + after.
    pub fn size_ms(&self) -> i64 {
        self.before_ms.saturating_add(self.after_ms)
    }
    fn retention_ms(&self) -> i64 {
        self.size_ms().saturating_add(self.grace_ms)
    }
}

/// Serdes, node names and stores of a stream–stream join.
pub struct StreamJoined<K, V1, V2> {
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V1>>,
    pub other_value: Option<SerdeRef<V2>>,
    /// Base of the node names (`<name>-this-join`, …) and repartition topics.
    pub name: Option<String>,
    /// Base of the store names (`<store>-this-join-store`, …).
    pub store_name: Option<String>,
    pub persistent: bool,
    pub logging: bool,
    pub log_config: std::collections::BTreeMap<String, String>,
}

impl<K, V1, V2> StreamJoined<K, V1, V2> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V1>, other_value: SerdeRef<V2>) -> Self {
        StreamJoined { key: Some(key), value: Some(value), other_value: Some(other_value), ..Self::default_serdes() }
    }
    /// The streams' own serdes.
    pub fn default_serdes() -> Self {
        StreamJoined {
            key: None,
            value: None,
            other_value: None,
            name: None,
            store_name: None,
            persistent: true,
            logging: true,
            log_config: Default::default(),
        }
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    pub fn with_store_name(mut self, store: &str) -> Self {
        self.store_name = Some(store.to_string());
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
    fn apply(&self, mut spec: StoreSpec) -> StoreSpec {
        spec.persistent = self.persistent;
        spec.logging = self.logging;
        spec.log_config = self.log_config.clone();
        spec.caching = false;
        spec
    }
}

/// Serdes and node name of a stream–table join (the serdes are needed only
/// when the stream must be repartitioned first).
pub struct Joined<K, V, VO> {
    pub key: Option<SerdeRef<K>>,
    pub value: Option<SerdeRef<V>>,
    pub other_value: Option<SerdeRef<VO>>,
    pub name: Option<String>,
}

impl<K, V, VO> Joined<K, V, VO> {
    pub fn with(key: SerdeRef<K>, value: SerdeRef<V>, other_value: SerdeRef<VO>) -> Self {
        Joined { key: Some(key), value: Some(value), other_value: Some(other_value), name: None }
    }
    pub fn default_serdes() -> Self {
        Joined { key: None, value: None, other_value: None, name: None }
    }
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// Both sides' values to the result; `None` when this kind of join emits nothing.
type Joiner<A, B, R> = Arc<dyn Fn(Option<&A>, Option<&B>) -> Option<R> + Send + Sync>;

/// Every topic `node` reads from, through its ancestors (unprefixed names).
pub(crate) fn source_topics(b: &BuilderInner, node: &str) -> BTreeSet<String> {
    let topo = &b.topology;
    let mut out = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<usize> = topo.node_index(node).into_iter().collect();
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        let n = &topo.nodes()[i];
        if let NodeKind::Source(s) = &n.kind {
            out.extend(s.topics.iter().cloned());
        }
        stack.extend(n.parents.iter().copied());
    }
    out
}

/// Records that the sources of `a` and `b` must have equal partition counts.
fn copartition(b: &mut BuilderInner, a: &str, c: &str) {
    let mut topics = source_topics(b, a);
    topics.extend(source_topics(b, c));
    if topics.len() > 1 {
        b.topology.add_copartition_group(topics);
    }
}

// ---------------------------------------------------------------- stream–stream

fn flip(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

/// Outer-join store key: `timestamp | side (1 = left) | key`.
fn outer_key(ts: i64, left: bool, key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(9 + key.len());
    b.put_u64(flip(ts));
    b.put_u8(u8::from(left));
    b.put_slice(key);
    b.freeze()
}

fn parse_outer_key(k: &[u8]) -> Option<(i64, bool, &[u8])> {
    let t = u64::from_be_bytes(k.get(..8)?.try_into().ok()?);
    Some(((t ^ (1 << 63)) as i64, *k.get(8)? == 1, k.get(9..)?))
}

/// Outer-join store value: the values waiting under one key, each `u32 length | bytes`.
fn push_value(list: Option<Bytes>, v: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    if let Some(l) = list {
        b.put_slice(&l);
    }
    b.put_u32(v.len() as u32);
    b.put_slice(v);
    b.freeze()
}

fn split_values(mut l: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !l.is_empty() {
        let n = u32::from_be_bytes(l.get(..4)?.try_into().ok()?) as usize;
        out.push(l.get(4..4 + n)?);
        l = &l[4 + n..];
    }
    Some(out)
}

/// Puts a side's record into its window store, unless it is too late.
struct WindowedSide {
    store: String,
    /// How far ahead this side's records look (their window's end).
    lookahead: i64,
    grace: i64,
}

impl<K: Data, V: Data> Processor<K, V, K, V> for WindowedSide {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>) -> Result<()> {
        let stream_time = ctx.stream_time().max(r.timestamp);
        if r.timestamp.saturating_add(self.lookahead).saturating_add(self.grace) < stream_time {
            return Ok(()); // its window closed past the grace period
        }
        ctx.window_store::<K, V>(&self.store)?.put(&r.key, Some(&r.value), r.timestamp)?;
        ctx.forward(r)
    }
}

/// Joins one side's records with the other side's window store.
struct JoinSide<K, VThis, VOther, VR> {
    other_store: String,
    /// The window relative to this side's records.
    before: i64,
    after: i64,
    /// The window relative to the left side (what the outer store's entries need).
    left_after: i64,
    left_before: i64,
    grace: i64,
    this_is_left: bool,
    /// Emit this side's unmatched records (joined with `None`).
    outer: bool,
    outer_store: Option<String>,
    joiner: Joiner<VThis, VOther, VR>,
    key_serde: SerdeRef<K>,
    this_serde: SerdeRef<VThis>,
    other_serde: SerdeRef<VOther>,
}

impl<K: Data, VThis: Data, VOther: Data, VR: Data> JoinSide<K, VThis, VOther, VR> {
    fn key_bytes(&self, key: &K) -> Result<Bytes> {
        self.key_serde
            .serialize(&self.other_store, key)?
            .ok_or_else(|| StreamsError::Processing("a join key cannot serialize to null".into()))
    }

    /// Emits and deletes waiting unmatched records whose window + grace has passed.
    fn emit_closed(&self, ctx: &mut ProcessorContext<'_, K, VR>, store: &str, stream_time: i64) -> Result<()> {
        let earliest_close = self.left_after.min(self.left_before).saturating_add(self.grace);
        // Only entries older than this can have closed: scan up to it, not the whole store.
        let newest = stream_time.saturating_sub(earliest_close).saturating_sub(1);
        let mut upto = BytesMut::with_capacity(9);
        upto.put_u64(flip(newest));
        upto.put_u8(2); // above both sides' byte: includes every key at `newest`
        let entries = ctx.kv_store::<Bytes, Bytes>(store)?.range(&Bytes::new(), &upto.freeze())?;
        let corrupt = || StreamsError::store(store, "malformed outer-join entry");
        let mut emitted = Vec::new();
        for (k, v) in entries {
            let (ts, left, key) = parse_outer_key(&k).ok_or_else(corrupt)?;
            if ts.saturating_add(earliest_close) >= stream_time {
                break; // entries are in time order: nothing later is closed either
            }
            let lookahead = if left { self.left_after } else { self.left_before };
            if ts.saturating_add(lookahead).saturating_add(self.grace) >= stream_time {
                continue;
            }
            let key = self.key_serde.deserialize(store, Some(key))?;
            for vb in split_values(&v).ok_or_else(corrupt)? {
                let out = if left == self.this_is_left {
                    (self.joiner)(Some(&self.this_serde.deserialize(store, Some(vb))?), None)
                } else {
                    (self.joiner)(None, Some(&self.other_serde.deserialize(store, Some(vb))?))
                };
                if let Some(out) = out {
                    ctx.forward(Record::new(key.clone(), out, ts))?;
                }
            }
            emitted.push(k);
        }
        let mut s = ctx.kv_store::<Bytes, Bytes>(store)?;
        for k in emitted {
            s.delete(&k)?;
        }
        Ok(())
    }
}

impl<K: Data, VThis: Data, VOther: Data, VR: Data> Processor<K, VThis, K, VR> for JoinSide<K, VThis, VOther, VR> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, VThis>) -> Result<()> {
        let ts = r.timestamp;
        let stream_time = ctx.stream_time().max(ts);
        if let Some(store) = self.outer_store.clone() {
            if ts == stream_time {
                self.emit_closed(ctx, &store, stream_time)?;
            }
        }
        let matches = ctx.window_store::<K, VOther>(&self.other_store)?.fetch(
            &r.key,
            ts.saturating_sub(self.before),
            ts.saturating_add(self.after),
        )?;
        let unmatched = matches.is_empty();
        for (other_ts, other) in matches {
            if let Some(store) = &self.outer_store {
                // The other record is matched now: it must not come out as unmatched later.
                let k = outer_key(other_ts, !self.this_is_left, &self.key_bytes(&r.key)?);
                ctx.kv_store::<Bytes, Bytes>(store)?.delete(&k)?;
            }
            if let Some(out) = (self.joiner)(Some(&r.value), Some(&other)) {
                let rec =
                    Record { key: r.key.clone(), value: out, timestamp: ts.max(other_ts), headers: r.headers.clone() };
                ctx.forward(rec)?;
            }
        }
        if !(unmatched && self.outer) {
            return Ok(());
        }
        match &self.outer_store {
            // Its window is still open: wait for a match.
            Some(store) if ts.saturating_add(self.after) >= stream_time => {
                let k = outer_key(ts, self.this_is_left, &self.key_bytes(&r.key)?);
                let v = self
                    .this_serde
                    .serialize(store, &r.value)?
                    .ok_or_else(|| StreamsError::Processing("a join value cannot serialize to null".into()))?;
                let mut s = ctx.kv_store::<Bytes, Bytes>(store)?;
                let list = push_value(s.get(&k)?, &v);
                s.put(&k, &list)
            }
            // Out of order, its window already closed: no match can come.
            _ => match (self.joiner)(Some(&r.value), None) {
                Some(out) => ctx.forward(r.with_value(out)),
                None => Ok(()),
            },
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Inner windowed join: records of both streams with the same key and
    /// timestamps within `windows` are joined.
    pub fn join<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        let j: Joiner<V, V2, VR> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(joiner(a, b)),
            _ => None,
        });
        self.stream_stream_join(other, j, windows, joined, JoinKind::Inner)
    }

    /// Left windowed join: also every record of this stream that found no
    /// match, joined with `None` once its window has closed.
    pub fn left_join<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        let j: Joiner<V, V2, VR> = Arc::new(move |a, b| a.map(|a| joiner(a, b)));
        self.stream_stream_join(other, j, windows, joined, JoinKind::Left)
    }

    /// Outer windowed join: unmatched records of either stream come out
    /// joined with `None` once their window has closed.
    pub fn outer_join<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
    ) -> KStream<K, VR> {
        let j: Joiner<V, V2, VR> = Arc::new(move |a, b| (a.is_some() || b.is_some()).then(|| joiner(a, b)));
        self.stream_stream_join(other, j, windows, joined, JoinKind::Outer)
    }

    /// This stream, repartitioned by key if its key may have changed.
    fn for_join(&self, name: &str, key: &Option<SerdeRef<K>>, value: &Option<SerdeRef<V>>) -> Option<KStream<K, V>> {
        if !self.repartition_required {
            return Some(self.clone());
        }
        match (key, value) {
            (Some(k), Some(v)) => Some(self.repartition_through(name, k.clone(), v.clone(), None)),
            _ => None,
        }
    }

    fn stream_stream_join<V2: Data, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: Joiner<V, V2, VR>,
        windows: JoinWindows,
        joined: StreamJoined<K, V, V2>,
        kind: JoinKind,
    ) -> KStream<K, VR> {
        let key = joined.key.clone().or(self.key_serde.clone()).or(other.key_serde.clone());
        let v1 = joined.value.clone().or(self.value_serde.clone());
        let v2 = joined.other_value.clone().or(other.value_serde.clone());
        let failed = |msg: String| {
            lock(&self.builder).error(msg);
            KStream {
                builder: self.builder.clone(),
                node: self.node.clone(),
                key_serde: None,
                value_serde: None,
                repartition_required: false,
            }
        };
        let (Some(ks), Some(vs1), Some(vs2)) = (key.clone(), v1.clone(), v2.clone()) else {
            return failed(format!(
                "join of {} and {}: no key or value serdes for the join stores; give them with StreamJoined::with",
                self.node, other.node
            ));
        };
        if windows.size_ms() < 0 || windows.before_ms < 0 || windows.after_ms < 0 || windows.grace_ms < 0 {
            return failed(format!("join of {} and {}: invalid join windows {windows:?}", self.node, other.node));
        }
        let named = |suffix: &str| joined.name.as_ref().map(|n| format!("{n}{suffix}"));
        let left_base = named("-left").unwrap_or_else(|| self.node.clone());
        let right_base = named("-right").unwrap_or_else(|| other.node.clone());
        let (Some(left), Some(right)) = (self.for_join(&left_base, &key, &v1), other.for_join(&right_base, &key, &v2))
        else {
            return failed(format!("join of {} and {}: cannot repartition without serdes", self.node, other.node));
        };
        let outer_this = kind == JoinKind::Outer;
        let outer_other = kind != JoinKind::Inner;
        let mut b = lock(&self.builder);
        let mut gen = |suffix: &str, prefix: &str| named(suffix).unwrap_or_else(|| b.new_name(prefix));
        let this_windowed = gen("-this-windowed", "KSTREAM-WINDOWED-");
        let other_windowed = gen("-other-windowed", "KSTREAM-WINDOWED-");
        let this_join = if outer_this {
            gen("-outer-this-join", "KSTREAM-OUTERTHIS-")
        } else {
            gen("-this-join", "KSTREAM-JOINTHIS-")
        };
        let other_join = if outer_other {
            gen("-outer-other-join", "KSTREAM-OUTEROTHER-")
        } else {
            gen("-other-join", "KSTREAM-JOINOTHER-")
        };
        let shared = (kind != JoinKind::Inner).then(|| gen("-shared-join", "KSTREAM-OUTERSHARED-"));
        let merge = gen("-merge", "KSTREAM-MERGE-");
        let store_base = joined.store_name.clone().or(joined.name.clone());
        let store = |generated: &str, suffix: &str| match &store_base {
            Some(s) => format!("{s}-{suffix}-store"),
            None => format!("{generated}-store"),
        };
        let this_store = store(&this_join, "this-join");
        let other_store = store(&other_join, "other-join");
        let outer_store = shared.map(|s| store(&s, if outer_this { "outer-shared-join" } else { "left-shared-join" }));

        let retention = windows.retention_ms();
        let grace = windows.grace_ms;
        // Zero-size windows: a join store keys each record by its own
        // timestamp and keeps it for before + after + grace (Kafka's retention).
        let spec_this = joined.apply(StoreSpec::window(&this_store, 0, retention, true, ks.clone(), vs1.clone()));
        let spec_other = joined.apply(StoreSpec::window(&other_store, 0, retention, true, ks.clone(), vs2.clone()));
        let (s1, s2) = (this_store.clone(), other_store.clone());
        let after = windows.after_ms;
        let before = windows.before_ms;
        b.add_processor(
            &this_windowed,
            processor::<_, K, V, K, V>(&this_windowed, move || WindowedSide {
                store: s1.clone(),
                lookahead: after,
                grace,
            }),
            &[&left.node],
        );
        b.add_processor(
            &other_windowed,
            processor::<_, K, V2, K, V2>(&other_windowed, move || WindowedSide {
                store: s2.clone(),
                lookahead: before,
                grace,
            }),
            &[&right.node],
        );
        b.add_store(spec_this, &[&this_windowed]);
        b.add_store(spec_other, &[&other_windowed]);

        let (os, ks1, vs1c, vs2c, j1) = (other_store.clone(), ks.clone(), vs1.clone(), vs2.clone(), joiner.clone());
        let outer1 = outer_store.clone();
        b.add_processor(
            &this_join,
            processor(&this_join, move || JoinSide::<K, V, V2, VR> {
                other_store: os.clone(),
                before,
                after,
                left_after: after,
                left_before: before,
                grace,
                this_is_left: true,
                outer: kind != JoinKind::Inner,
                outer_store: outer1.clone(),
                joiner: j1.clone(),
                key_serde: ks1.clone(),
                this_serde: vs1c.clone(),
                other_serde: vs2c.clone(),
            }),
            &[&this_windowed],
        );
        let (ts_, ks2) = (this_store.clone(), ks.clone());
        let j2: Joiner<V2, V, VR> = Arc::new(move |o, t| joiner(t, o));
        let outer2 = outer_store.clone();
        b.add_processor(
            &other_join,
            processor(&other_join, move || JoinSide::<K, V2, V, VR> {
                other_store: ts_.clone(),
                before: after,
                after: before,
                left_after: after,
                left_before: before,
                grace,
                this_is_left: false,
                outer: kind == JoinKind::Outer,
                outer_store: outer2.clone(),
                joiner: j2.clone(),
                key_serde: ks2.clone(),
                this_serde: vs2.clone(),
                other_serde: vs1.clone(),
            }),
            &[&other_windowed],
        );
        if let Err(e) = b.topology.connect_processor_and_stores(&this_join, &[&other_store]) {
            b.error(e);
        }
        if let Err(e) = b.topology.connect_processor_and_stores(&other_join, &[&this_store]) {
            b.error(e);
        }
        if let Some(o) = &outer_store {
            let spec = joined.apply(StoreSpec::key_value(o, Serdes::bytes(), Serdes::bytes()));
            b.add_store(spec, &[&this_join, &other_join]);
        }
        b.add_processor(
            &merge,
            processor(&merge, || FnProcessor(|ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, VR>| ctx.forward(r))),
            &[&this_join, &other_join],
        );
        copartition(&mut b, &left.node, &right.node);
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: merge,
            key_serde: key,
            value_serde: None,
            repartition_required: false,
        }
    }
}

// ---------------------------------------------------------------- stream–table, stream–global

/// The lookup key of a stream record.
type KeyOf<K, V, LK> = Arc<dyn Fn(&K, &V) -> LK + Send + Sync>;
/// A stream value and the looked-up value to the result; `None`: emit nothing.
type LookupJoiner<V, LV, VR> = Arc<dyn Fn(&V, Option<&LV>) -> Option<VR> + Send + Sync>;

/// Looks each stream record up in a key-value store (a table's or a global one).
struct LookupJoin<K, V, LK, LV, VR> {
    store: String,
    key_of: KeyOf<K, V, LK>,
    joiner: LookupJoiner<V, LV, VR>,
}

impl<K: Data, V: Data, LK: Data, LV: Data, VR: Data> Processor<K, V, K, VR> for LookupJoin<K, V, LK, LV, VR> {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, VR>, r: Record<K, V>) -> Result<()> {
        let lk = (self.key_of)(&r.key, &r.value);
        let found = ctx.kv_store::<LK, LV>(&self.store)?.get(&lk)?;
        match (self.joiner)(&r.value, found.as_ref()) {
            Some(out) => ctx.forward(r.with_value(out)),
            None => Ok(()),
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Joins each record with the table's current value for its key;
    /// records whose key is not in the table are dropped.
    pub fn join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, Arc::new(move |v, t| t.map(|t| joiner(v, t))), joined, "KSTREAM-JOIN-")
    }

    /// Joins each record with the table's current value for its key, `None` when absent.
    pub fn left_join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, Arc::new(move |v, t| Some(joiner(v, t))), joined, "KSTREAM-LEFTJOIN-")
    }

    fn stream_table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: LookupJoiner<V, VT, VR>,
        joined: Joined<K, V, VT>,
        prefix: &str,
    ) -> KStream<K, VR> {
        let key = joined.key.clone().or(self.key_serde.clone());
        let value = joined.value.clone().or(self.value_serde.clone());
        let base = joined.name.clone().unwrap_or_else(|| self.node.clone());
        let stream = match self.for_join(&base, &key, &value) {
            Some(s) => s,
            None => {
                lock(&self.builder).error(format!(
                    "join of {} with table {}: the stream must be repartitioned but has no serdes; give them with \
                     Joined::with",
                    self.node, table.node
                ));
                self.clone()
            }
        };
        let mut b = lock(&self.builder);
        let name = joined.name.clone().unwrap_or_else(|| b.new_name(prefix));
        let store = table.store.clone();
        b.add_processor(
            &name,
            processor(&name, move || LookupJoin::<K, V, K, VT, VR> {
                store: store.clone(),
                key_of: Arc::new(|k: &K, _: &V| k.clone()),
                joiner: joiner.clone(),
            }),
            &[&stream.node],
        );
        if let Err(e) = b.topology.connect_processor_and_stores(&name, &[&table.store]) {
            b.error(e);
        }
        copartition(&mut b, &stream.node, &table.node);
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: key,
            value_serde: None,
            repartition_required: false,
        }
    }

    /// Joins each record with the global table's value for
    /// `key_mapper(key, value)`; records without one are dropped.
    pub fn join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_mapper: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, &GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.global_join(global, Arc::new(key_mapper), Arc::new(move |v, g| g.map(|g| joiner(v, g))), "KSTREAM-JOIN-")
    }

    /// Joins each record with the global table's value for
    /// `key_mapper(key, value)`, `None` when absent.
    pub fn left_join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_mapper: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.global_join(global, Arc::new(key_mapper), Arc::new(move |v, g| Some(joiner(v, g))), "KSTREAM-LEFTJOIN-")
    }

    fn global_join<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_of: KeyOf<K, V, GK>,
        joiner: LookupJoiner<V, GV, VR>,
        prefix: &str,
    ) -> KStream<K, VR> {
        let repartition_required = self.repartition_required;
        let store = global.store.clone();
        // Global stores are readable from every task: no connection, no co-partitioning.
        self.stateless(prefix, repartition_required, move || LookupJoin::<K, V, GK, GV, VR> {
            store: store.clone(),
            key_of: key_of.clone(),
            joiner: joiner.clone(),
        })
        .with_serdes(self.key_serde.clone(), None)
    }
}

// ---------------------------------------------------------------- table–table

/// Joins an update of one table with the other table's current value; the
/// merge node after it stores the result and works out the old value.
struct TableJoinSide<K, VThis, VOther, VR> {
    other_store: String,
    joiner: Joiner<VThis, VOther, VR>,
    _t: std::marker::PhantomData<fn(K)>,
}

impl<K: Data, VThis: Data, VOther: Data, VR: Data> Processor<K, Change<VThis>, K, Change<VR>>
    for TableJoinSide<K, VThis, VOther, VR>
{
    fn process(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>, r: Record<K, Change<VThis>>) -> Result<()> {
        let other = ctx.kv_store::<K, VOther>(&self.other_store)?.get(&r.key)?;
        let new = (self.joiner)(r.value.new.as_ref(), other.as_ref());
        ctx.forward(r.with_value(Change { new, old: None }))
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Inner join of two tables on their key; the result's value type must
    /// be this table's (else use `join_materialized` with a value serde).
    pub fn join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.join_materialized(other, joiner, Materialized::default())
    }
    pub fn join_materialized<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let j: Joiner<V, V2, VR> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(joiner(a, b)),
            _ => None,
        });
        self.table_join(other, j, JoinKind::Inner, materialized)
    }
    /// Left join: every key of this table, with the other's value or `None`.
    pub fn left_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.left_join_materialized(other, joiner, Materialized::default())
    }
    pub fn left_join_materialized<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.table_join(other, Arc::new(move |a, b| a.map(|a| joiner(a, b))), JoinKind::Left, materialized)
    }
    /// Outer join: every key of either table.
    pub fn outer_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.outer_join_materialized(other, joiner, Materialized::default())
    }
    pub fn outer_join_materialized<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let j: Joiner<V, V2, VR> = Arc::new(move |a, b| (a.is_some() || b.is_some()).then(|| joiner(a, b)));
        self.table_join(other, j, JoinKind::Outer, materialized)
    }

    fn table_join<V2: Data, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: Joiner<V, V2, VR>,
        kind: JoinKind,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let (this_prefix, other_prefix) = match kind {
            JoinKind::Inner => ("KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"),
            JoinKind::Left => ("KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"),
            JoinKind::Outer => ("KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"),
        };
        let mut b = lock(&self.builder);
        let this_name = b.new_name(this_prefix);
        let other_name = b.new_name(other_prefix);
        let (os, j1) = (other.store.clone(), joiner.clone());
        b.add_processor(
            &this_name,
            processor(&this_name, move || TableJoinSide::<K, V, V2, VR> {
                other_store: os.clone(),
                joiner: j1.clone(),
                _t: Default::default(),
            }),
            &[&self.node],
        );
        let ts_ = self.store.clone();
        let j2: Joiner<V2, V, VR> = Arc::new(move |o, t| joiner(t, o));
        b.add_processor(
            &other_name,
            processor(&other_name, move || TableJoinSide::<K, V2, V, VR> {
                other_store: ts_.clone(),
                joiner: j2.clone(),
                _t: Default::default(),
            }),
            &[&other.node],
        );
        if let Err(e) = b.topology.connect_processor_and_stores(&this_name, &[&other.store]) {
            b.error(e);
        }
        if let Err(e) = b.topology.connect_processor_and_stores(&other_name, &[&self.store]) {
            b.error(e);
        }
        copartition(&mut b, &self.node, &other.node);
        let store = match materialized.name.clone() {
            Some(n) => n,
            None => b.new_name("KTABLE-MERGE-STATE-STORE-"),
        };
        let merge = b.new_name("KTABLE-MERGE-");
        let key = materialized.key.clone().or(self.key_serde.clone()).or(other.key_serde.clone());
        let same: Option<SerdeRef<VR>> = self
            .value_serde
            .clone()
            .and_then(|s| (Box::new(s) as Box<dyn std::any::Any>).downcast::<SerdeRef<VR>>().ok().map(|b| *b));
        let value = materialized.value.clone().or(same);
        let (Some(ks), Some(vs)) = (key.clone(), value.clone()) else {
            b.error(format!(
                "{merge}: no key or value serde for the join's store {store}; give them with Materialized::with"
            ));
            drop(b);
            return KTable { builder: self.builder.clone(), node: merge, store, key_serde: key, value_serde: value };
        };
        let spec = materialized.kv_spec(&store, ks, vs);
        let s2 = store.clone();
        b.add_processor(
            &merge,
            processor(&merge, move || Materialize::<K, VR, VR, _> {
                store: s2.clone(),
                compute: |_: &K, v: Option<&VR>| v.cloned(),
                _t: Default::default(),
            }),
            &[&this_name, &other_name],
        );
        b.add_store(spec, &[&merge]);
        drop(b);
        KTable { builder: self.builder.clone(), node: merge, store, key_serde: key, value_serde: value }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Consumed, Produced, StreamsBuilder};
    use super::*;
    use crate::streams::test_driver::TopologyTestDriver;

    fn strings(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
        b.stream(&[topic], Consumed::with(Serdes::string(), Serdes::string()))
    }

    fn pipe(d: &mut TopologyTestDriver, topic: &str, k: &str, v: &str, ts: i64) {
        let s = Serdes::string();
        d.pipe(topic, &s, &k.to_string(), &s, &v.to_string(), ts).unwrap();
    }

    fn read(d: &mut TopologyTestDriver, topic: &str) -> Vec<(String, String, i64)> {
        d.read(topic, &Serdes::string(), &Serdes::string()).unwrap()
    }

    fn rec(k: &str, v: &str, ts: i64) -> (String, String, i64) {
        (k.to_string(), v.to_string(), ts)
    }

    #[test]
    fn stream_table_join_looks_up_the_table_and_repartitions_a_rekeyed_stream() {
        let b = StreamsBuilder::new();
        let orders = strings(&b, "orders");
        let customers =
            b.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_store("cust"));
        orders
            .join_table(&customers, |o, c| format!("{o}@{c}"), Joined::default_serdes())
            .to("inner", Produced::with(Serdes::string(), Serdes::string()));
        orders
            .left_join_table(&customers, |o, c: Option<&String>| format!("{o}@{c:?}"), Joined::default_serdes())
            .to("left", Produced::with(Serdes::string(), Serdes::string()));
        // A stream whose key changed goes through a repartition topic first.
        let rekeyed = orders
            .stateless("KSTREAM-MAP-", true, || {
                FnProcessor(|ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>| {
                    let k = r.value.clone();
                    ctx.forward(r.with_key(k))
                })
            })
            .with_serdes(Some(Serdes::string()), Some(Serdes::string()));
        rekeyed
            .join_table(&customers, |o, c| format!("by-value {o}@{c}"), Joined::default_serdes())
            .to("rekeyed", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        assert!(desc.contains("Processor: KSTREAM-JOIN-0000000004 (stores: [cust])"), "{desc}");
        assert!(topo.repartition_topics().contains_key("KSTREAM-MAP-0000000008-repartition"), "{desc}");
        let groups = topo.copartition_groups();
        assert!(groups.contains(&BTreeSet::from(["orders".to_string(), "customers".to_string()])), "{groups:?}");
        assert!(groups
            .contains(&BTreeSet::from(["KSTREAM-MAP-0000000008-repartition".to_string(), "customers".to_string()])));
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "orders", "c1", "o1", 1);
        pipe(&mut d, "customers", "c1", "alice", 2);
        pipe(&mut d, "orders", "c1", "o2", 3);
        pipe(&mut d, "customers", "c1", "alicia", 4);
        pipe(&mut d, "orders", "c1", "c1", 5);
        assert_eq!(read(&mut d, "inner"), vec![rec("c1", "o2@alice", 3), rec("c1", "c1@alicia", 5)]);
        assert_eq!(
            read(&mut d, "left"),
            vec![rec("c1", "o1@None", 1), rec("c1", "o2@Some(\"alice\")", 3), rec("c1", "c1@Some(\"alicia\")", 5)]
        );
        assert_eq!(read(&mut d, "rekeyed"), vec![rec("c1", "by-value c1@alicia", 5)], "o1, o2 are not customers");
    }

    #[test]
    fn stream_stream_inner_join_within_the_window_and_grace() {
        let b = StreamsBuilder::new();
        let (l, r) = (strings(&b, "L"), strings(&b, "R"));
        let w = JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::from_millis(5));
        l.join(&r, |a, b| format!("{a}+{b}"), w, StreamJoined::default_serdes())
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        for want in [
            "Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])",
            "Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-JOINOTHER-0000000005-store])",
            "Processor: KSTREAM-JOINOTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store])",
            "Processor: KSTREAM-MERGE-0000000006",
        ] {
            assert!(desc.contains(want), "{want} in {desc}");
        }
        assert_eq!(topo.copartition_groups(), &[BTreeSet::from(["L".to_string(), "R".to_string()])]);
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "L", "a", "l0", 0);
        pipe(&mut d, "R", "a", "r5", 5);
        pipe(&mut d, "R", "a", "r20", 20);
        pipe(&mut d, "L", "a", "l12", 12);
        pipe(&mut d, "L", "b", "lb", 12);
        pipe(&mut d, "L", "a", "l4", 4); // 4 + 10 + 5 < 20: too late, dropped
        pipe(&mut d, "L", "a", "l6", 6); // within grace: joins r5
        assert_eq!(
            read(&mut d, "out"),
            vec![rec("a", "l0+r5", 5), rec("a", "l12+r5", 12), rec("a", "l12+r20", 20), rec("a", "l6+r5", 6)]
        );
        assert!(!d.read_raw("app-KSTREAM-JOINTHIS-0000000004-store-changelog").is_empty());
    }

    #[test]
    fn stream_stream_left_join_emits_unmatched_records_after_the_window_closes() {
        let b = StreamsBuilder::new();
        let (l, r) = (strings(&b, "L"), strings(&b, "R"));
        let w = JoinWindows::of_time_difference_without_grace(Duration::from_millis(10));
        l.left_join(&r, |a, b: Option<&String>| format!("{a}+{b:?}"), w, StreamJoined::default_serdes().with_name("j"))
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        assert!(
            desc.contains("Processor: j-this-join (stores: [j-other-join-store, j-left-shared-join-store])"),
            "{desc}"
        );
        assert!(desc.contains("Processor: j-outer-other-join"), "{desc}");
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "L", "a", "la", 0);
        pipe(&mut d, "L", "b", "lb", 1);
        assert!(read(&mut d, "out").is_empty(), "no result before the window closes");
        pipe(&mut d, "R", "a", "ra", 5);
        assert_eq!(read(&mut d, "out"), vec![rec("a", "la+Some(\"ra\")", 5)]);
        pipe(&mut d, "R", "c", "rc", 30); // an unmatched right record: nothing in a left join
        assert_eq!(read(&mut d, "out"), vec![rec("b", "lb+None", 1)], "a was matched, b's window closed");
        pipe(&mut d, "L", "d", "ld", 25);
        pipe(&mut d, "R", "x", "rx", 35);
        assert!(read(&mut d, "out").is_empty(), "d's window is open until 35");
        pipe(&mut d, "R", "x", "rx", 36);
        assert_eq!(read(&mut d, "out"), vec![rec("d", "ld+None", 25)]);
        assert!(!d.read_raw("app-j-left-shared-join-store-changelog").is_empty());
    }

    #[test]
    fn stream_stream_outer_join_emits_both_sides_unmatched() {
        let b = StreamsBuilder::new();
        let (l, r) = (strings(&b, "L"), strings(&b, "R"));
        let w = JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::from_millis(5));
        let j = |a: Option<&String>, b: Option<&String>| format!("{}|{}", a.map_or("-", |s| s), b.map_or("-", |s| s));
        l.outer_join(&r, j, w, StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()))
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topo = b.build().unwrap();
        let desc = topo.describe();
        assert!(desc.contains("KSTREAM-OUTERTHIS-0000000004") && desc.contains("KSTREAM-OUTEROTHER-0000000005"));
        assert!(desc.contains("KSTREAM-OUTERSHARED-0000000006-store"), "{desc}");
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        pipe(&mut d, "L", "a", "la", 0);
        pipe(&mut d, "R", "b", "rb", 3);
        pipe(&mut d, "R", "m", "rm", 4);
        pipe(&mut d, "L", "m", "lm", 9);
        assert_eq!(read(&mut d, "out"), vec![rec("m", "lm|rm", 9)]);
        pipe(&mut d, "R", "z", "rz", 40);
        assert_eq!(read(&mut d, "out"), vec![rec("a", "la|-", 0), rec("b", "-|rb", 3)], "m was matched");
        pipe(&mut d, "L", "y", "ly", 28); // its window closed, within grace: emitted at once
        assert_eq!(read(&mut d, "out"), vec![rec("y", "ly|-", 28)]);
    }

    #[test]
    fn table_table_joins_propagate_changes() {
        let b = StreamsBuilder::new();
        let c = || Consumed::with(Serdes::string(), Serdes::string());
        let ta = b.table("A", c(), Materialized::default());
        let tb = b.table("B", c(), Materialized::default());
        ta.join(&tb, |a, b| format!("{a}+{b}")).to_change_stream().to("inner", Produced::default_serdes());
        ta.left_join(&tb, |a, b: Option<&String>| format!("{a}+{b:?}"))
            .to_change_stream()
            .to("left", Produced::default_serdes());
        ta.outer_join(&tb, |a: Option<&String>, b: Option<&String>| format!("{a:?}|{b:?}"))
            .to_change_stream()
            .to("outer", Produced::default_serdes());
        let topo = b.build().unwrap();
        let desc = topo.describe();
        assert!(desc.contains("Processor: KTABLE-JOINTHIS-0000000006 (stores: [B-STATE-STORE-0000000005])"), "{desc}");
        assert!(desc.contains("KTABLE-LEFTOTHER-") && desc.contains("KTABLE-OUTERTHIS-"), "{desc}");
        assert_eq!(topo.subtopologies().len(), 1);
        assert_eq!(topo.copartition_groups()[0], BTreeSet::from(["A".to_string(), "B".to_string()]));
        let mut d = TopologyTestDriver::new(topo, "app").unwrap();
        let ns = Serdes::nullable(Serdes::string());
        let read = |d: &mut TopologyTestDriver, t: &str| -> Vec<Option<String>> {
            d.read(t, &Serdes::string(), &ns).unwrap().into_iter().map(|(_, v, _)| v).collect()
        };
        pipe(&mut d, "A", "k", "a1", 1);
        pipe(&mut d, "B", "k", "b1", 2);
        d.pipe_raw("A", Some("k".into()), None, 3).unwrap();
        d.pipe_raw("B", Some("k".into()), None, 4).unwrap();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(read(&mut d, "inner"), vec![s("a1+b1"), None]);
        assert_eq!(read(&mut d, "left"), vec![s("a1+None"), s("a1+Some(\"b1\")"), None]);
        assert_eq!(
            read(&mut d, "outer"),
            vec![s("Some(\"a1\")|None"), s("Some(\"a1\")|Some(\"b1\")"), s("None|Some(\"b1\")"), None]
        );
    }
}
