//! The in-memory store: an ordered map, rebuilt from the changelog whenever
//! a task opens (nothing to checkpoint).

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::KeyValueBytesStore;
use crate::streams::error::Result;

#[derive(Debug, Default)]
pub struct InMemoryStore {
    map: BTreeMap<Bytes, Bytes>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyValueBytesStore for InMemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.map.get(key).cloned())
    }
    fn put(&mut self, key: Bytes, value: Option<Bytes>) -> Result<()> {
        match value {
            Some(v) => {
                self.map.insert(key, v);
            }
            None => {
                self.map.remove(&key[..]);
            }
        }
        Ok(())
    }
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        if let (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) = (from, to) {
            if f > t {
                return Ok(Vec::new());
            }
        }
        Ok(self.map.range::<[u8], _>((from, to)).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
    fn approximate_num_entries(&self) -> u64 {
        self.map.len() as u64
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn persistent(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ordered_range_and_delete() {
        let mut s = InMemoryStore::new();
        for k in ["b", "a", "c"] {
            s.put(Bytes::from(k), Some(Bytes::from(k.to_uppercase()))).unwrap();
        }
        s.put(Bytes::from("c"), None).unwrap();
        let got = s.range(Bound::Included(b"a"), Bound::Unbounded).unwrap();
        assert_eq!(got, vec![(Bytes::from("a"), Bytes::from("A")), (Bytes::from("b"), Bytes::from("B"))]);
        assert!(s.range(Bound::Included(b"z"), Bound::Included(b"a")).unwrap().is_empty());
        assert_eq!(s.approximate_num_entries(), 2);
    }
}

/// One store opened by several tasks (a global store: its feed writes, every
/// task of the instance reads). Each call takes the lock briefly.
#[derive(Clone)]
pub struct SharedStore(pub std::sync::Arc<std::sync::Mutex<Box<dyn KeyValueBytesStore>>>);

impl SharedStore {
    pub fn new(inner: Box<dyn KeyValueBytesStore>) -> Self {
        SharedStore(std::sync::Arc::new(std::sync::Mutex::new(inner)))
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn KeyValueBytesStore>>> {
        self.0.lock().map_err(|_| crate::streams::error::StreamsError::store("global", "lock poisoned"))
    }
}

impl KeyValueBytesStore for SharedStore {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.lock()?.get(key)
    }
    fn put(&mut self, key: Bytes, value: Option<Bytes>) -> Result<()> {
        self.lock()?.put(key, value)
    }
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        self.lock()?.range(from, to)
    }
    fn approximate_num_entries(&self) -> u64 {
        self.lock().map(|s| s.approximate_num_entries()).unwrap_or(0)
    }
    fn flush(&mut self) -> Result<()> {
        self.lock()?.flush()
    }
    fn persistent(&self) -> bool {
        self.lock().map(|s| s.persistent()).unwrap_or(false)
    }
}
