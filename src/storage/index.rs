//! Sparse offset index (`.index`) and time index (`.timeindex`) of one segment.
//!
//! Both are append-only files of fixed-size big-endian entries, mirrored in memory
//! for lookups. Offsets are stored relative to the segment's base offset (u32).
//! Entries are added by the segment at most once per `index.interval.bytes` of log
//! data, so lookups give a starting position that is then refined by walking
//! batch headers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoContext, StorageError};
use super::io::{FileIo, LogFile};

pub(crate) const OFFSET_ENTRY_SIZE: usize = 8;
pub(crate) const TIME_ENTRY_SIZE: usize = 12;

/// `.index`: entries `(relative offset u32, position u32)`; the relative offset is the
/// LAST offset of the batch that starts at `position` (Kafka's convention), both
/// strictly increasing.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries: Vec<(u32, u32)>,
}

/// `.timeindex`: entries `(timestamp i64, relative offset u32)`: "every record up to
/// this offset has a timestamp <= this one, and the record at this offset has it";
/// timestamps strictly increasing, offsets non-decreasing.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    path: PathBuf,
    file: Arc<dyn LogFile>,
    entries: Vec<(i64, u32)>,
}

/// Why an index file was found unusable (it is then rebuilt from the log).
#[derive(Debug)]
pub(crate) struct IndexProblem(pub String);

fn read_all(file: &dyn LogFile, path: &Path) -> Result<Vec<u8>, StorageError> {
    let len = file.len().at(path)?;
    let len = usize::try_from(len)
        .map_err(|_| StorageError::Corrupt { path: path.to_path_buf(), detail: "index file too large".into() })?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0).at(path)?;
    Ok(buf)
}

impl OffsetIndex {
    /// Opens (creating if absent) and loads the file. An unusable content is reported
    /// as `Ok(Err(problem))` with the index emptied, so the caller rebuilds it.
    pub(crate) fn open(
        io: &dyn FileIo,
        path: PathBuf,
        log_size: u64,
    ) -> Result<(OffsetIndex, Option<IndexProblem>), StorageError> {
        let existed = io.exists(&path);
        let file = io.open(&path, true).at(&path)?;
        let mut index = OffsetIndex { path, file, entries: Vec::new() };
        if !existed {
            return Ok((index, Some(IndexProblem("missing".into()))));
        }
        let raw = read_all(index.file.as_ref(), &index.path)?;
        match parse_offset_entries(&raw, log_size) {
            Ok(entries) => index.entries = entries,
            Err(p) => return Ok((index, Some(p))),
        }
        Ok((index, None))
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    /// Position of the last entry whose offset is <= `relative`, else 0.
    pub(crate) fn lookup(&self, relative: u32) -> u32 {
        let i = self.entries.partition_point(|e| e.0 <= relative);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].1
        }
    }

    /// The largest indexed position at or below `position` (0 when none is): always
    /// the start of a batch.
    pub(crate) fn floor_position(&self, position: u64) -> u64 {
        let i = self.entries.partition_point(|e| u64::from(e.1) <= position);
        if i == 0 {
            0
        } else {
            u64::from(self.entries[i - 1].1)
        }
    }

    /// Appends entries with one write.
    pub(crate) fn append(&mut self, new: &[(u32, u32)]) -> Result<(), StorageError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(new.len() * OFFSET_ENTRY_SIZE);
        for (o, p) in new {
            buf.extend_from_slice(&o.to_be_bytes());
            buf.extend_from_slice(&p.to_be_bytes());
        }
        let at = (self.entries.len() * OFFSET_ENTRY_SIZE) as u64;
        self.file.write_all_at(&buf, at).at(&self.path)?;
        self.entries.extend_from_slice(new);
        Ok(())
    }

    /// Replaces the whole content (rebuild after a scan).
    pub(crate) fn rewrite(&mut self, entries: Vec<(u32, u32)>) -> Result<(), StorageError> {
        self.file.set_len(0).at(&self.path)?;
        self.entries.clear();
        self.append(&entries)
    }

    /// Keeps only entries whose position is < `position`.
    pub(crate) fn truncate_to_position(&mut self, position: u32) -> Result<(), StorageError> {
        let keep = self.entries.partition_point(|e| e.1 < position);
        self.truncate_entries(keep)
    }

    fn truncate_entries(&mut self, keep: usize) -> Result<(), StorageError> {
        self.file.set_len((keep * OFFSET_ENTRY_SIZE) as u64).at(&self.path)?;
        self.entries.truncate(keep);
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.file.sync().at(&self.path)
    }

    /// Gives back the growth slack of the in-memory mirror (a sealed segment's
    /// index does not grow again; up to half its capacity would be unused).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn handle(&self) -> (PathBuf, Arc<dyn LogFile>) {
        (self.path.clone(), Arc::clone(&self.file))
    }
}

pub(super) fn parse_offset_entries(raw: &[u8], log_size: u64) -> Result<Vec<(u32, u32)>, IndexProblem> {
    if !raw.len().is_multiple_of(OFFSET_ENTRY_SIZE) {
        return Err(IndexProblem(format!("size {} is not a multiple of {OFFSET_ENTRY_SIZE}", raw.len())));
    }
    let mut entries: Vec<(u32, u32)> = Vec::with_capacity(raw.len() / OFFSET_ENTRY_SIZE);
    for chunk in raw.chunks_exact(OFFSET_ENTRY_SIZE) {
        let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        if let Some(&(lo, lp)) = entries.last() {
            if o <= lo || p <= lp {
                return Err(IndexProblem(format!("entries not increasing at entry {}", entries.len())));
            }
        }
        if u64::from(p) >= log_size {
            return Err(IndexProblem(format!("position {p} beyond log size {log_size}")));
        }
        entries.push((o, p));
    }
    Ok(entries)
}

impl TimeIndex {
    pub(crate) fn open(io: &dyn FileIo, path: PathBuf) -> Result<(TimeIndex, Option<IndexProblem>), StorageError> {
        let existed = io.exists(&path);
        let file = io.open(&path, true).at(&path)?;
        let mut index = TimeIndex { path, file, entries: Vec::new() };
        if !existed {
            return Ok((index, Some(IndexProblem("missing".into()))));
        }
        let raw = read_all(index.file.as_ref(), &index.path)?;
        match parse_time_entries(&raw) {
            Ok(entries) => index.entries = entries,
            Err(p) => return Ok((index, Some(p))),
        }
        Ok((index, None))
    }

    pub(crate) fn entries(&self) -> &[(i64, u32)] {
        &self.entries
    }

    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    /// The last entry with a timestamp strictly below `ts`: every record up to its
    /// offset is older than `ts`, so a search for `ts` may start after it.
    pub(crate) fn last_before(&self, ts: i64) -> Option<(i64, u32)> {
        let i = self.entries.partition_point(|e| e.0 < ts);
        if i == 0 {
            None
        } else {
            Some(self.entries[i - 1])
        }
    }

    /// Appends `(ts, rel)` if `ts` is above the last entry's timestamp.
    pub(crate) fn maybe_append(&mut self, ts: i64, relative: u32) -> Result<(), StorageError> {
        if let Some((last_ts, last_rel)) = self.last() {
            if ts <= last_ts || relative < last_rel {
                return Ok(());
            }
        }
        let mut buf = [0u8; TIME_ENTRY_SIZE];
        buf[..8].copy_from_slice(&ts.to_be_bytes());
        buf[8..].copy_from_slice(&relative.to_be_bytes());
        let at = (self.entries.len() * TIME_ENTRY_SIZE) as u64;
        self.file.write_all_at(&buf, at).at(&self.path)?;
        self.entries.push((ts, relative));
        Ok(())
    }

    /// Appends entries with one write; the caller keeps them increasing.
    pub(crate) fn append(&mut self, new: &[(i64, u32)]) -> Result<(), StorageError> {
        if new.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(new.len() * TIME_ENTRY_SIZE);
        for (ts, rel) in new {
            buf.extend_from_slice(&ts.to_be_bytes());
            buf.extend_from_slice(&rel.to_be_bytes());
        }
        let at = (self.entries.len() * TIME_ENTRY_SIZE) as u64;
        self.file.write_all_at(&buf, at).at(&self.path)?;
        self.entries.extend_from_slice(new);
        Ok(())
    }

    pub(crate) fn rewrite(&mut self, entries: Vec<(i64, u32)>) -> Result<(), StorageError> {
        self.file.set_len(0).at(&self.path)?;
        self.entries.clear();
        self.append(&entries)
    }

    /// Keeps only entries whose relative offset is < `relative`.
    pub(crate) fn truncate_to_offset(&mut self, relative: u32) -> Result<(), StorageError> {
        let keep = self.entries.partition_point(|e| e.1 < relative);
        self.file.set_len((keep * TIME_ENTRY_SIZE) as u64).at(&self.path)?;
        self.entries.truncate(keep);
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.file.sync().at(&self.path)
    }

    /// Gives back the growth slack of the in-memory mirror (a sealed segment's
    /// index does not grow again; up to half its capacity would be unused).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn handle(&self) -> (PathBuf, Arc<dyn LogFile>) {
        (self.path.clone(), Arc::clone(&self.file))
    }
}

pub(super) fn parse_time_entries(raw: &[u8]) -> Result<Vec<(i64, u32)>, IndexProblem> {
    if !raw.len().is_multiple_of(TIME_ENTRY_SIZE) {
        return Err(IndexProblem(format!("size {} is not a multiple of {TIME_ENTRY_SIZE}", raw.len())));
    }
    let mut entries: Vec<(i64, u32)> = Vec::with_capacity(raw.len() / TIME_ENTRY_SIZE);
    for chunk in raw.chunks_exact(TIME_ENTRY_SIZE) {
        let mut t = [0u8; 8];
        t.copy_from_slice(&chunk[..8]);
        let ts = i64::from_be_bytes(t);
        let rel = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
        if let Some(&(lt, lr)) = entries.last() {
            if ts <= lt || rel < lr {
                return Err(IndexProblem(format!("entries not increasing at entry {}", entries.len())));
            }
        }
        entries.push((ts, rel));
    }
    Ok(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::io::StdFileIo;

    #[test]
    fn offset_index_lookup_append_truncate_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let (mut idx, problem) = OffsetIndex::open(&StdFileIo, path.clone(), 0).unwrap();
        assert!(problem.is_some(), "new file reported missing");
        idx.append(&[(9, 100), (19, 200)]).unwrap();
        idx.append(&[(29, 300)]).unwrap();
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(8), 0);
        assert_eq!(idx.lookup(9), 100);
        assert_eq!(idx.lookup(25), 200);
        assert_eq!(idx.lookup(u32::MAX), 300);
        idx.sync().unwrap();
        drop(idx);

        let (mut idx, problem) = OffsetIndex::open(&StdFileIo, path.clone(), 400).unwrap();
        assert!(problem.is_none());
        assert_eq!(idx.entries(), &[(9, 100), (19, 200), (29, 300)]);
        idx.truncate_to_position(300).unwrap();
        assert_eq!(idx.last(), Some((19, 200)));
        drop(idx);

        // Positions beyond the log are insane.
        let (_, problem) = OffsetIndex::open(&StdFileIo, path.clone(), 150).unwrap();
        assert!(problem.is_some());
        // Size not a multiple of 8.
        std::fs::write(&path, [0u8; 7]).unwrap();
        let (_, problem) = OffsetIndex::open(&StdFileIo, path.clone(), 150).unwrap();
        assert!(problem.is_some());
        // Non-monotonic.
        let mut raw = Vec::new();
        for (o, p) in [(5u32, 10u32), (4, 20)] {
            raw.extend_from_slice(&o.to_be_bytes());
            raw.extend_from_slice(&p.to_be_bytes());
        }
        std::fs::write(&path, raw).unwrap();
        let (_, problem) = OffsetIndex::open(&StdFileIo, path, 150).unwrap();
        assert!(problem.is_some());
    }

    #[test]
    fn time_index_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let (mut idx, _) = TimeIndex::open(&StdFileIo, path.clone()).unwrap();
        idx.maybe_append(100, 3).unwrap();
        idx.maybe_append(100, 5).unwrap(); // not greater: skipped
        idx.maybe_append(200, 7).unwrap();
        assert_eq!(idx.entries(), &[(100, 3), (200, 7)]);
        assert_eq!(idx.last_before(100), None);
        assert_eq!(idx.last_before(101), Some((100, 3)));
        assert_eq!(idx.last_before(1000), Some((200, 7)));
        drop(idx);
        let (mut idx, problem) = TimeIndex::open(&StdFileIo, path.clone()).unwrap();
        assert!(problem.is_none());
        assert_eq!(idx.entries().len(), 2);
        idx.truncate_to_offset(7).unwrap();
        assert_eq!(idx.entries(), &[(100, 3)]);
        idx.rewrite(vec![(1, 0), (2, 1)]).unwrap();
        drop(idx);
        let (idx, _) = TimeIndex::open(&StdFileIo, path).unwrap();
        assert_eq!(idx.entries(), &[(1, 0), (2, 1)]);
    }
}
