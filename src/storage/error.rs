//! Errors of the storage layer.

use std::path::PathBuf;

use crate::protocol::batch::BatchError;

/// What went wrong in the partition log or the log manager.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Kafka's OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is out of range (log start {log_start}, log end {log_end})")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose content cannot be trusted and could not be repaired.
    #[error("corrupt file {}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A checkpoint file that does not follow Kafka's text format.
    #[error("malformed checkpoint file {}: {detail}", path.display())]
    CorruptCheckpoint { path: PathBuf, detail: String },
    /// The bytes handed to an append are not whole, well-formed v2 batches.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A follower append whose first offset is not the log end offset, or batches
    /// whose offsets do not increase.
    #[error("unexpected offset {found}, expected at least {expected}")]
    UnexpectedOffset { expected: i64, found: i64 },
    /// The append does not fit in a segment (its size or offset span is too big).
    #[error("append of {bytes} bytes / {offsets} offsets is too large for one segment")]
    AppendTooLarge { bytes: usize, offsets: i64 },
    /// A previous fsync or write failed in a way that leaves the file state unknown;
    /// the log refuses further writes until reopened (after recovery).
    #[error("log {} is offline after an earlier I/O failure", path.display())]
    LogOffline { path: PathBuf },
    /// The log was closed or deleted.
    #[error("log {} is closed", path.display())]
    Closed { path: PathBuf },
    /// The same partition directory exists in two log dirs.
    #[error("partition {partition} found in both {} and {}", first.display(), second.display())]
    DuplicatePartition { partition: String, first: PathBuf, second: PathBuf },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StorageError {
        StorageError::Io { path: path.into(), source }
    }
}

/// Attaches a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::io(path, e))
    }
}
