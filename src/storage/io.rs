//! File I/O behind a small trait, so tests can simulate crashes and torn writes.
//!
//! Everything the storage layer does to the file system goes through [`FileIo`] and
//! [`LogFile`]. [`StdFileIo`] is the real thing (positional reads and writes, no shared
//! cursor, so one handle may serve readers and the writer). [`CrashFileIo`] wraps it
//! and remembers, per file, how many bytes were made durable by `sync`; its
//! [`CrashFileIo::crash`] cuts every file back to its synced length plus a prefix of
//! the unsynced tail of the caller's choosing, as a power loss may.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// One open file. All offsets are absolute; there is no cursor.
pub trait LogFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (short at EOF).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `data` at `pos`.
    fn write_all_at(&self, data: &[u8], pos: u64) -> io::Result<()>;
    /// fsync (data and metadata).
    fn sync(&self) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Last modification time, ms since the epoch.
    fn modified_ms(&self) -> io::Result<i64>;
    /// The operating system's file behind this handle, when there is one: the
    /// network layer then sends its bytes with `sendfile` instead of reading them.
    fn as_file(&self) -> Option<&File> {
        None
    }

    /// Fills `buf` from `pos` or fails with `UnexpectedEof`.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], pos + done as u64) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected")),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A directory entry as [`FileIo::list_dir`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

/// File-system operations of the storage layer.
pub trait FileIo: Send + Sync + fmt::Debug {
    /// Opens read-write; creates the file when `create` is true and it is absent.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    fn exists(&self, path: &Path) -> bool;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Entries with UTF-8 names (others are skipped), in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// fsync a directory so creations, renames and removals in it are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// Removes `path` through `io`; a file already gone is not an error (the
/// companions of a segment — indexes, snapshots — may never have been written).
pub fn remove_if_present(io: &dyn FileIo, path: &Path) -> Result<(), super::StorageError> {
    match io.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(super::StorageError::io(path, e)),
    }
}

/// Real files.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileIo;

#[derive(Debug)]
struct StdFile(File);

impl LogFile for StdFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        loop {
            match self.0.read_at(buf, pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
    fn write_all_at(&self, data: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(data, pos)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn modified_ms(&self) -> io::Result<i64> {
        let modified = self.0.metadata()?.modified()?;
        Ok(modified.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
    fn as_file(&self) -> Option<&File> {
        Some(&self.0)
    }
}

impl FileIo for StdFileIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                out.push(DirEntry { name, is_dir: entry.file_type()?.is_dir() });
            }
        }
        Ok(out)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// Crash-simulating [`FileIo`] for tests: real files underneath, plus a record of the
/// synced length of every file written through it.
///
/// Model (deliberately simple, and without real fsyncs, so tests stay fast): data is
/// durable once `sync` returns; a file's
/// unsynced bytes are its tail beyond the synced length (the storage layer only
/// appends, and rewrites files only after truncating them); shrinking a file shrinks
/// its synced length at once; creations, renames and removals are durable at once.
/// After [`CrashFileIo::crash`] every handle opened before it fails, like the dead
/// process's file descriptors.
#[derive(Debug, Clone, Default)]
pub struct CrashFileIo {
    state: Arc<Mutex<CrashState>>,
}

#[derive(Debug, Default)]
struct CrashState {
    generation: u64,
    synced: HashMap<PathBuf, u64>,
}

#[derive(Debug)]
struct CrashFile {
    path: PathBuf,
    file: StdFile,
    generation: u64,
    state: Arc<Mutex<CrashState>>,
}

fn poisoned() -> io::Error {
    io::Error::other("crash-io state lock poisoned")
}

impl CrashFile {
    fn check(&self) -> io::Result<std::sync::MutexGuard<'_, CrashState>> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        if state.generation != self.generation {
            return Err(io::Error::other("file handle from before a simulated crash"));
        }
        Ok(state)
    }
}

impl LogFile for CrashFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        drop(self.check()?);
        self.file.read_at(buf, pos)
    }
    fn write_all_at(&self, data: &[u8], pos: u64) -> io::Result<()> {
        let mut state = self.check()?;
        let synced = state.synced.entry(self.path.clone()).or_insert(0);
        // An overwrite inside the synced region makes that region unsynced again.
        *synced = (*synced).min(pos);
        drop(state);
        self.file.write_all_at(data, pos)
    }
    fn sync(&self) -> io::Result<()> {
        // No real fsync: durability is simulated, and tests stay fast.
        let mut state = self.check()?;
        let len = self.file.len()?;
        state.synced.insert(self.path.clone(), len);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        drop(self.check()?);
        self.file.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.check()?;
        self.file.set_len(len)?;
        let synced = state.synced.entry(self.path.clone()).or_insert(0);
        *synced = (*synced).min(len);
        Ok(())
    }
    fn modified_ms(&self) -> io::Result<i64> {
        drop(self.check()?);
        self.file.modified_ms()
    }
}

impl CrashFileIo {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a power loss: for each file with unsynced bytes, `keep(path, synced,
    /// unsynced)` picks how many of the `unsynced` tail bytes survive (clamped).
    /// Handles opened before the crash stop working.
    pub fn crash(&self, keep: &mut dyn FnMut(&Path, u64, u64) -> u64) -> io::Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.generation += 1;
        let synced = std::mem::take(&mut state.synced);
        let mut paths: Vec<_> = synced.into_iter().collect();
        paths.sort();
        for (path, synced_len) in paths {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let len = meta.len();
            if len > synced_len {
                let unsynced = len - synced_len;
                let kept = keep(&path, synced_len, unsynced).min(unsynced);
                OpenOptions::new().write(true).open(&path)?.set_len(synced_len + kept)?;
            }
        }
        Ok(())
    }

    /// Bytes of `path` not yet made durable by `sync`.
    pub fn unsynced_bytes(&self, path: &Path) -> io::Result<u64> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let len = std::fs::metadata(path)?.len();
        Ok(len.saturating_sub(state.synced.get(path).copied().unwrap_or(len)))
    }
}

impl FileIo for CrashFileIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let existed = path.exists();
        let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
        if !state.synced.contains_key(path) {
            // A file found on disk is durable as it is; a new one is durable empty.
            let len = if existed { file.metadata()?.len() } else { 0 };
            state.synced.insert(path.to_path_buf(), len);
        }
        Ok(Arc::new(CrashFile {
            path: path.to_path_buf(),
            file: StdFile(file),
            generation: state.generation,
            state: Arc::clone(&self.state),
        }))
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.synced.remove(path);
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        std::fs::rename(from, to)?;
        match state.synced.remove(from) {
            Some(s) => state.synced.insert(to.to_path_buf(), s),
            None => state.synced.remove(to),
        };
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        StdFileIo.list_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.synced.retain(|p, _| !p.starts_with(path));
        std::fs::remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // Directory operations are modelled as durable at once; just check it exists.
        std::fs::metadata(path).map(|_| ())
    }
}

/// Replaces the file at `path` with `data` atomically: a synced temporary
/// file beside it (`<path>.tmp`) renamed over it, then the directory synced,
/// so a crash leaves the old file or the new one, never a torn one. For
/// small state files outside the log (Streams' process metadata, Connect's
/// standalone offsets).
pub fn replace_file(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let io = CrashFileIo::new();
        let p = dir.path().join("f");
        let f = io.open(&p, true).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.sync().unwrap();
        f.write_all_at(b" world", 5).unwrap();
        assert_eq!(io.unsynced_bytes(&p).unwrap(), 6);
        io.crash(&mut |_, synced, unsynced| {
            assert_eq!((synced, unsynced), (5, 6));
            2
        })
        .unwrap();
        assert!(f.len().is_err(), "old handles die with the crash");
        let g = io.open(&p, false).unwrap();
        let mut buf = vec![0; g.len().unwrap() as usize];
        g.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello w");
        assert_eq!(io.unsynced_bytes(&p).unwrap(), 0);
    }

    #[test]
    fn std_io_basics() {
        let dir = tempfile::tempdir().unwrap();
        let io = StdFileIo;
        let p = dir.path().join("a");
        let f = io.open(&p, true).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        f.sync().unwrap();
        assert_eq!(f.len().unwrap(), 3);
        let mut b = [0u8; 5];
        assert_eq!(f.read_at(&mut b, 1).unwrap(), 2);
        assert!(f.read_exact_at(&mut b, 0).is_err());
        f.set_len(1).unwrap();
        assert_eq!(f.len().unwrap(), 1);
        assert!(f.modified_ms().unwrap() > 0);
        let q = dir.path().join("b");
        io.rename(&p, &q).unwrap();
        assert!(!io.exists(&p) && io.exists(&q));
        let names: Vec<_> = io.list_dir(dir.path()).unwrap();
        assert_eq!(names.len(), 1);
        io.sync_dir(dir.path()).unwrap();
        io.remove_file(&q).unwrap();
        assert!(io.open(&q, false).is_err());
    }
}
