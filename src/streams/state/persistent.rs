//! The persistent store: a redb database file per store and task (Kafka
//! Streams keeps RocksDB there), so a restarted instance only replays the
//! changelog past its checkpoint instead of all of it.
//!
//! Puts land in an in-memory write-back buffer (key → value or tombstone)
//! and reach the file in one write transaction at [`flush`], which the
//! runtime calls at commit: a put costs a map insert, and a commit costs
//! one fsync however many keys changed. Reads merge the buffer over the
//! database. Because the checkpoint is written only after the flush, the
//! file never lags the checkpoint; it may run ahead of it (an automatic
//! flush of a large buffer, a crash between flush and checkpoint), which
//! replaying the changelog from the checkpoint repairs.
//!
//! A file that cannot be opened or read — garbage, a torn write, pages
//! altered behind redb's back — gives [`StreamsError::Store`], never a
//! panic, so the runtime can wipe the task directory and restore from the
//! changelog. The open verifies every page's checksum for that reason, and
//! every call into redb is also guarded against panics.
//!
//! [`flush`]: KeyValueBytesStore::flush

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::KeyValueBytesStore;
use crate::streams::error::{Result, StreamsError};

/// The one table of a store file.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

/// Page cache per open store. redb's default (1 GiB) assumes one database
/// per process; an instance has a file per store and task.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Buffered bytes past which a put flushes by itself, so a long commit
/// interval or a large restore cannot hold the whole store in memory.
const AUTO_FLUSH_BYTES: usize = 32 * 1024 * 1024;

/// Per-entry overhead counted in the buffer size (map node, `Bytes` headers).
const ENTRY_OVERHEAD: usize = 64;

/// A [`KeyValueBytesStore`] in a redb file, with a write-back buffer.
pub struct PersistentStore {
    /// The store's name in errors (the file's stem).
    name: String,
    path: PathBuf,
    /// `None` after a failure that may have left redb's handle unusable.
    db: Option<Database>,
    /// Changes since the last flush; `None` is a delete.
    buffer: BTreeMap<Bytes, Option<Bytes>>,
    buffered_bytes: usize,
    /// Entries in the file at the last flush.
    db_entries: u64,
}

impl std::fmt::Debug for PersistentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentStore")
            .field("path", &self.path)
            .field("buffered", &self.buffer.len())
            .field("db_entries", &self.db_entries)
            .finish()
    }
}

impl PersistentStore {
    /// Opens the store file at `path`, creating it (and its parent
    /// directories) if absent. An unreadable or corrupt file is an error.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "store".to_string());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StreamsError::store(&name, format!("cannot create {}: {e}", parent.display())))?;
        }
        let db = guarded(&name, "open", || {
            let db = Database::builder()
                .set_cache_size(CACHE_BYTES)
                .set_check_integrity_on_open(true)
                .create(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            // Create the table up front, so reads never meet a missing one.
            let txn = db.begin_write().map_err(|e| e.to_string())?;
            let entries = {
                let table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
                table.len().map_err(|e| e.to_string())?
            };
            txn.commit().map_err(|e| e.to_string())?;
            Ok((db, entries))
        })?;
        Ok(PersistentStore {
            name,
            path: path.to_path_buf(),
            db: Some(db.0),
            buffer: BTreeMap::new(),
            buffered_bytes: 0,
            db_entries: db.1,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of keys and values waiting for the next flush.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    fn db(&self) -> Result<&Database> {
        self.db.as_ref().ok_or_else(|| StreamsError::store(&self.name, "the store failed earlier and is closed"))
    }

    /// Runs `f` against the database; a panic inside redb closes the handle.
    fn with_db<T>(&mut self, what: &str, f: impl FnOnce(&Database) -> std::result::Result<T, String>) -> Result<T> {
        let db = self.db()?;
        let out = guarded(&self.name, what, || f(db));
        if out.is_err() {
            // redb reports I/O failures and corruption as errors, but its
            // handle may not be trustworthy afterwards: drop it.
            self.db = None;
        }
        out
    }

    fn read_db_range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        let db = self.db()?;
        guarded(&self.name, "range", || {
            let txn = db.begin_read().map_err(|e| e.to_string())?;
            let table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for entry in table.range((from, to)).map_err(|e| e.to_string())? {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                out.push((Bytes::copy_from_slice(k.value()), Bytes::copy_from_slice(v.value())));
            }
            Ok(out)
        })
    }
}

/// Runs a redb call, turning its errors and panics into a store error.
fn guarded<T>(store: &str, what: &str, f: impl FnOnce() -> std::result::Result<T, String>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(StreamsError::store(store, format!("{what}: {e}"))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(StreamsError::store(store, format!("{what}: the store file is unreadable ({msg})")))
        }
    }
}

/// False when the bounds select nothing (std's and redb's range calls panic on some of these).
fn bounds_nonempty(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(f), Bound::Included(t)) => f <= t,
        (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) => f < t,
        _ => true,
    }
}

impl KeyValueBytesStore for PersistentStore {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        if let Some(v) = self.buffer.get(key) {
            return Ok(v.clone());
        }
        let db = self.db()?;
        guarded(&self.name, "get", || {
            let txn = db.begin_read().map_err(|e| e.to_string())?;
            let table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            let v = table.get(key).map_err(|e| e.to_string())?;
            Ok(v.map(|v| Bytes::copy_from_slice(v.value())))
        })
    }

    fn put(&mut self, key: Bytes, value: Option<Bytes>) -> Result<()> {
        self.buffered_bytes += key.len() + value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        if let Some(old) = self.buffer.insert(key, value) {
            // The replaced entry's key stays (same key); only its value goes.
            self.buffered_bytes = self.buffered_bytes.saturating_sub(old.map_or(0, |v| v.len()) + ENTRY_OVERHEAD);
        }
        if self.buffered_bytes >= AUTO_FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        if !bounds_nonempty(from, to) {
            return Ok(Vec::new());
        }
        let stored = self.read_db_range(from, to)?;
        if self.buffer.is_empty() {
            return Ok(stored);
        }
        // Merge two key-ordered sequences; on equal keys the buffer wins
        // (a tombstone hides the stored entry).
        let mut out = Vec::with_capacity(stored.len());
        let mut buffered = self.buffer.range::<[u8], _>((from, to)).peekable();
        let mut stored = stored.into_iter().peekable();
        loop {
            let order = match (stored.peek(), buffered.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((sk, _)), Some((bk, _))) => sk[..].cmp(&bk[..]),
            };
            if order == Ordering::Less {
                if let Some(entry) = stored.next() {
                    out.push(entry);
                }
                continue;
            }
            if order == Ordering::Equal {
                stored.next();
            }
            if let Some((k, Some(v))) = buffered.next() {
                out.push((k.clone(), v.clone()));
            }
        }
        Ok(out)
    }

    fn approximate_num_entries(&self) -> u64 {
        // Buffered puts may overwrite stored keys and deletes may miss: an estimate.
        let (puts, deletes) =
            self.buffer.values().fold((0u64, 0u64), |(p, d), v| if v.is_some() { (p + 1, d) } else { (p, d + 1) });
        (self.db_entries + puts).saturating_sub(deletes)
    }

    /// Writes the buffer to the file in one durable transaction.
    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let result = self.with_db("flush", |db| {
            let txn = db.begin_write().map_err(|e| e.to_string())?;
            let entries = {
                let mut table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
                for (k, v) in &buffer {
                    match v {
                        Some(v) => {
                            table.insert(&k[..], &v[..]).map_err(|e| e.to_string())?;
                        }
                        None => {
                            table.remove(&k[..]).map_err(|e| e.to_string())?;
                        }
                    }
                }
                table.len().map_err(|e| e.to_string())?
            };
            txn.commit().map_err(|e| e.to_string())?;
            Ok(entries)
        });
        match result {
            Ok(entries) => {
                self.db_entries = entries;
                self.buffered_bytes = 0;
                Ok(())
            }
            Err(e) => {
                // Keep the changes visible to reads; the store is closed anyway.
                self.buffer = buffer;
                Err(e)
            }
        }
    }

    fn persistent(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn all(s: &PersistentStore) -> Vec<(Bytes, Bytes)> {
        s.range(Bound::Unbounded, Bound::Unbounded).unwrap()
    }

    #[test]
    fn put_get_delete_across_flush_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redb").join("counts.redb");
        {
            let mut s = PersistentStore::open(&path).unwrap();
            assert!(s.persistent());
            s.put(b("a"), Some(b("1"))).unwrap();
            s.put(b("b"), Some(b("2"))).unwrap();
            s.put(b("c"), Some(b("3"))).unwrap();
            assert_eq!(s.get(b"a").unwrap(), Some(b("1")));
            s.flush().unwrap();
            s.put(b("b"), None).unwrap();
            s.put(b("a"), Some(b("10"))).unwrap();
            assert_eq!(s.get(b"b").unwrap(), None, "a buffered delete hides the stored value");
            assert_eq!(s.get(b"a").unwrap(), Some(b("10")));
            s.flush().unwrap();
            s.put(b("d"), Some(b("4"))).unwrap();
            // Not flushed: lost at close, like an uncommitted write.
        }
        let s = PersistentStore::open(&path).unwrap();
        assert_eq!(s.get(b"a").unwrap(), Some(b("10")));
        assert_eq!(s.get(b"b").unwrap(), None);
        assert_eq!(s.get(b"d").unwrap(), None);
        assert_eq!(all(&s), vec![(b("a"), b("10")), (b("c"), b("3"))]);
        assert_eq!(s.approximate_num_entries(), 2);
    }

    #[test]
    fn range_merges_buffer_over_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = PersistentStore::open(&dir.path().join("s.redb")).unwrap();
        for k in ["a", "c", "e", "g"] {
            s.put(b(k), Some(b(&k.to_uppercase()))).unwrap();
        }
        s.flush().unwrap();
        s.put(b("b"), Some(b("B"))).unwrap(); // new, between stored keys
        s.put(b("c"), Some(b("C2"))).unwrap(); // overwrite
        s.put(b("e"), None).unwrap(); // delete
        s.put(b("h"), Some(b("H"))).unwrap(); // after the last stored key
        s.put(b("x"), None).unwrap(); // delete of an absent key
        assert_eq!(
            all(&s),
            vec![(b("a"), b("A")), (b("b"), b("B")), (b("c"), b("C2")), (b("g"), b("G")), (b("h"), b("H"))]
        );
        assert_eq!(
            s.range(Bound::Excluded(b"a"), Bound::Included(b"g")).unwrap(),
            vec![(b("b"), b("B")), (b("c"), b("C2")), (b("g"), b("G"))]
        );
        assert!(s.range(Bound::Included(b"z"), Bound::Included(b"a")).unwrap().is_empty());
        assert!(s.range(Bound::Excluded(b"c"), Bound::Excluded(b"c")).unwrap().is_empty());
        assert_eq!(s.range(Bound::Included(b"c"), Bound::Included(b"c")).unwrap(), vec![(b("c"), b("C2"))]);
        s.flush().unwrap();
        assert_eq!(
            all(&s),
            vec![(b("a"), b("A")), (b("b"), b("B")), (b("c"), b("C2")), (b("g"), b("G")), (b("h"), b("H"))]
        );
        assert_eq!(s.approximate_num_entries(), 5);
    }

    #[test]
    fn large_buffer_flushes_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.redb");
        let mut s = PersistentStore::open(&path).unwrap();
        let value = Bytes::from(vec![7u8; 1024 * 1024]);
        for i in 0..40 {
            s.put(Bytes::from(format!("k{i:03}")), Some(value.clone())).unwrap();
        }
        assert!(s.buffered_bytes() < AUTO_FLUSH_BYTES);
        drop(s);
        let s = PersistentStore::open(&path).unwrap();
        assert!(s.get(b"k000").unwrap().is_some(), "the automatic flush reached the file");
    }

    #[test]
    fn garbage_file_is_a_store_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.redb");
        std::fs::write(&path, vec![0x5a; 10_000]).unwrap();
        match PersistentStore::open(&path) {
            Err(StreamsError::Store { store, message }) => {
                assert_eq!(store, "bad");
                assert!(message.contains("open"), "{message}");
            }
            other => panic!("expected a store error, got {other:?}"),
        }
    }

    #[test]
    fn damaged_file_is_a_store_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dmg.redb");
        {
            let mut s = PersistentStore::open(&path).unwrap();
            for i in 0..2000 {
                s.put(Bytes::from(format!("key-{i:05}")), Some(Bytes::from(format!("value-{i}")))).unwrap();
            }
            s.flush().unwrap();
        }
        // Overwrite everything past the header: the tree pages no longer match their checksums.
        let mut data = std::fs::read(&path).unwrap();
        assert!(data.len() > 8192);
        for byte in &mut data[4096..] {
            *byte ^= 0xa5;
        }
        std::fs::write(&path, &data).unwrap();
        assert!(matches!(PersistentStore::open(&path), Err(StreamsError::Store { .. })));
        // A truncated file too.
        std::fs::write(&path, &data[..1000]).unwrap();
        assert!(matches!(PersistentStore::open(&path), Err(StreamsError::Store { .. })));
    }
}
