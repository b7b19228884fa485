//! Window and session stores: key encodings over a byte store.
//!
//! Window store key: `u32 key length | key | start | seq` — all big-endian,
//! timestamps with the sign bit flipped so byte order is time order; `seq`
//! is 0 unless the store keeps duplicates (stream–stream joins). Session
//! store key: `u32 key length | key | end | start`. A length prefix keeps one
//! key's entries contiguous, so fetching one key is a range scan.

use std::marker::PhantomData;
use std::ops::Bound;

use bytes::{BufMut, Bytes, BytesMut};

use super::{StoreHandle, StoreKind};
use crate::streams::error::{Result, StreamsError};
use crate::streams::serde::SerdeRef;

/// A time window, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// A key with the window it was aggregated in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    pub key: K,
    pub window: Window,
}

fn ts(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

fn un_ts(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn prefix(key: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(key.len() + 24);
    b.put_u32(key.len() as u32);
    b.put_slice(key);
    b
}

/// Splits an encoded key into (user key bytes, the rest).
fn split(encoded: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(encoded.get(..4)?.try_into().ok()?) as usize;
    let key = encoded.get(4..4 + len)?;
    Some((key, &encoded[4 + len..]))
}

/// Window store key bytes.
pub fn window_key(key: &[u8], start: i64, seq: u32) -> Bytes {
    let mut b = prefix(key);
    b.put_u64(ts(start));
    b.put_u32(seq);
    b.freeze()
}

/// (key, start) of a window store key.
pub fn parse_window_key(encoded: &[u8]) -> Option<(&[u8], i64)> {
    let (key, rest) = split(encoded)?;
    (rest.len() == 12).then(|| (key, un_ts(&rest[..8])))
}

/// Session store key bytes.
pub fn session_key(key: &[u8], window: Window) -> Bytes {
    let mut b = prefix(key);
    b.put_u64(ts(window.end));
    b.put_u64(ts(window.start));
    b.freeze()
}

/// (key, window) of a session store key.
pub fn parse_session_key(encoded: &[u8]) -> Option<(&[u8], Window)> {
    let (key, rest) = split(encoded)?;
    (rest.len() == 16).then(|| (key, Window { end: un_ts(&rest[..8]), start: un_ts(&rest[8..]) }))
}

fn corrupt(store: &str) -> StreamsError {
    StreamsError::store(store, "malformed key in a window/session store")
}

/// A typed window store.
pub struct WindowStore<'a, K, V> {
    handle: StoreHandle<'a>,
    key: SerdeRef<K>,
    value: SerdeRef<V>,
    size_ms: i64,
    retention_ms: i64,
    retain_duplicates: bool,
    _t: PhantomData<fn(K, V)>,
}

impl<'a, K: 'static, V: 'static> WindowStore<'a, K, V> {
    pub fn new(handle: StoreHandle<'a>) -> Result<Self> {
        let StoreKind::Window { size_ms, retention_ms, retain_duplicates } = handle.spec.kind else {
            return Err(StreamsError::Type(format!("store {} is not a window store", handle.spec.name)));
        };
        let (key, value) = handle.spec.serdes::<K, V>()?;
        Ok(WindowStore { handle, key, value, size_ms, retention_ms, retain_duplicates, _t: PhantomData })
    }
    fn name(&self) -> &str {
        &self.handle.spec.name
    }
    fn kb(&self, key: &K) -> Result<Bytes> {
        self.key
            .serialize(self.name(), key)?
            .ok_or_else(|| StreamsError::store(self.name(), "a store key cannot serialize to null"))
    }
    pub fn window_size_ms(&self) -> i64 {
        self.size_ms
    }
    /// True when a window starting at `start` is past retention.
    pub fn expired(&self, start: i64) -> bool {
        self.handle.stream_time >= 0 && start + self.size_ms.max(0) <= self.handle.stream_time - self.retention_ms
    }
    /// Stores `value` for the window of `key` starting at `start` (`None`
    /// deletes, unless duplicates are kept). Expired windows are dropped.
    pub fn put(&mut self, key: &K, value: Option<&V>, start: i64) -> Result<()> {
        if self.expired(start) {
            return Ok(());
        }
        let seq = if self.retain_duplicates {
            if value.is_none() {
                return Ok(());
            }
            self.handle.next_seq()
        } else {
            0
        };
        let k = window_key(&self.kb(key)?, start, seq);
        let v = match value {
            Some(v) => self.value.serialize(self.name(), v)?,
            None => None,
        };
        self.handle.put(k, v)
    }
    /// The value of one window (the first one, with duplicates).
    pub fn fetch_one(&self, key: &K, start: i64) -> Result<Option<V>> {
        Ok(self.fetch(key, start, start)?.into_iter().next().map(|(_, v)| v))
    }
    /// Windows of `key` starting in `[from, to]`, in time order.
    pub fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        let kb = self.kb(key)?;
        let (lo, hi) = (window_key(&kb, from, 0), window_key(&kb, to, u32::MAX));
        let mut out = Vec::new();
        for (k, v) in self.handle.range(Bound::Included(&lo), Bound::Included(&hi))? {
            let (_, start) = parse_window_key(&k).ok_or_else(|| corrupt(self.name()))?;
            if !self.expired(start) {
                out.push((start, self.value.deserialize(self.name(), Some(&v))?));
            }
        }
        Ok(out)
    }
    /// Every window of every key starting in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(Windowed<K>, V)>> {
        let mut out = Vec::new();
        for (k, v) in self.handle.range(Bound::Unbounded, Bound::Unbounded)? {
            let (key, start) = parse_window_key(&k).ok_or_else(|| corrupt(self.name()))?;
            if start < from || start > to || self.expired(start) {
                continue;
            }
            let key = self.key.deserialize(self.name(), Some(key))?;
            let window = Window { start, end: start.saturating_add(self.size_ms) };
            out.push((Windowed { key, window }, self.value.deserialize(self.name(), Some(&v))?));
        }
        Ok(out)
    }
}

/// A typed session store.
pub struct SessionStore<'a, K, V> {
    handle: StoreHandle<'a>,
    key: SerdeRef<K>,
    value: SerdeRef<V>,
    retention_ms: i64,
    _t: PhantomData<fn(K, V)>,
}

impl<'a, K: Clone + 'static, V: 'static> SessionStore<'a, K, V> {
    pub fn new(handle: StoreHandle<'a>) -> Result<Self> {
        let StoreKind::Session { retention_ms } = handle.spec.kind else {
            return Err(StreamsError::Type(format!("store {} is not a session store", handle.spec.name)));
        };
        let (key, value) = handle.spec.serdes::<K, V>()?;
        Ok(SessionStore { handle, key, value, retention_ms, _t: PhantomData })
    }
    fn name(&self) -> &str {
        &self.handle.spec.name
    }
    fn kb(&self, key: &K) -> Result<Bytes> {
        self.key
            .serialize(self.name(), key)?
            .ok_or_else(|| StreamsError::store(self.name(), "a store key cannot serialize to null"))
    }
    /// True when a session ending at `end` is past retention.
    pub fn expired(&self, end: i64) -> bool {
        self.handle.stream_time >= 0 && end <= self.handle.stream_time - self.retention_ms
    }
    pub fn put(&mut self, session: &Windowed<K>, value: &V) -> Result<()> {
        if self.expired(session.window.end) {
            return Ok(());
        }
        let k = session_key(&self.kb(&session.key)?, session.window);
        let v = self.value.serialize(self.name(), value)?;
        self.handle.put(k, v)
    }
    pub fn remove(&mut self, session: &Windowed<K>) -> Result<()> {
        let k = session_key(&self.kb(&session.key)?, session.window);
        self.handle.put(k, None)
    }
    /// Sessions of `key` that end at or after `earliest_end` and start at or
    /// before `latest_start` (the ones a new record may merge with).
    pub fn find_sessions(&self, key: &K, earliest_end: i64, latest_start: i64) -> Result<Vec<(Windowed<K>, V)>> {
        let kb = self.kb(key)?;
        let lo = session_key(&kb, Window { end: earliest_end, start: i64::MIN });
        let hi = session_key(&kb, Window { end: i64::MAX, start: i64::MAX });
        let mut out = Vec::new();
        for (k, v) in self.handle.range(Bound::Included(&lo), Bound::Included(&hi))? {
            let (_, window) = parse_session_key(&k).ok_or_else(|| corrupt(self.name()))?;
            if window.start <= latest_start && !self.expired(window.end) {
                out.push((Windowed { key: key.clone(), window }, self.value.deserialize(self.name(), Some(&v))?));
            }
        }
        Ok(out)
    }
    /// Every session of `key`.
    pub fn fetch(&self, key: &K) -> Result<Vec<(Windowed<K>, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_sort_by_time() {
        let a = window_key(b"k", -5, 0);
        let b = window_key(b"k", 3, 0);
        assert!(a < b);
        assert_eq!(parse_window_key(&b), Some((&b"k"[..], 3)));
        let w = Window { start: 10, end: 20 };
        assert_eq!(parse_session_key(&session_key(b"key", w)), Some((&b"key"[..], w)));
        assert!(window_key(b"a", 100, 0) < window_key(b"ab", 0, 0), "one key's windows are contiguous");
        assert_eq!(parse_window_key(b"\0\0"), None);
    }
}
