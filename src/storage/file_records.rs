//! A read's answer as a place in a segment file: the network layer sends the
//! bytes straight from the file (`sendfile`), and everything else reads them.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::error::{IoContext, StorageError};
use super::io::LogFile;

/// Whole batches of one segment's `.log` file, by position. The handle keeps the
/// file open: a segment deleted or rolled meanwhile can still be read to the end
/// of the range, which only ever covers bytes committed when the range was taken.
#[derive(Clone, Debug)]
pub struct FileRecords {
    file: Option<Arc<dyn LogFile>>,
    path: PathBuf,
    /// Where the first batch starts in the file.
    pub position: u64,
    /// How many bytes the batches take.
    pub len: usize,
    /// The offset after the last batch (for an empty read, where the next read starts).
    pub next_offset: i64,
}

impl FileRecords {
    pub(crate) fn new(file: Arc<dyn LogFile>, path: PathBuf, position: u64, len: usize, next_offset: i64) -> Self {
        let file = (len > 0).then_some(file);
        FileRecords { file, path, position, len, next_offset }
    }

    /// No batches.
    pub(crate) fn empty(next_offset: i64) -> Self {
        FileRecords { file: None, path: PathBuf::new(), position: 0, len: 0, next_offset }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open segment file (`None` when empty).
    pub fn file(&self) -> Option<&Arc<dyn LogFile>> {
        self.file.as_ref()
    }

    /// The segment file's path, for messages.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Reads the bytes (the copying path: TLS, down-conversion, internal readers).
    pub fn read(&self) -> Result<Bytes, StorageError> {
        let Some(file) = &self.file else { return Ok(Bytes::new()) };
        let mut buf = vec![0u8; self.len];
        file.read_exact_at(&mut buf, self.position).at(&self.path)?;
        Ok(Bytes::from(buf))
    }
}
