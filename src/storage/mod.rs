//! The partition log: segment files, indexes, recovery, retention and the manager of
//! all logs of a broker.
//!
//! Owns everything under the configured `log.dirs`. Does not decode records (batches
//! are stored verbatim; only v2 headers are read, via `crate::protocol::batch`), does
//! not know about leaders, high watermarks or the network: callers pass bounds such
//! as the high watermark into [`Log::read`].
//!
//! # On-disk format
//!
//! Kafka's layout, so operators and Kafka's tools recognise it.
//!
//! ```text
//! <log.dir>/
//!   recovery-point-offset-checkpoint    per-dir recovery points (text, see below)
//!   log-start-offset-checkpoint         per-dir log start offsets above the first
//!                                       segment's base (DeleteRecords), same format
//!   .kafka_cleanshutdown                empty; present only after a clean shutdown
//!   <topic>-<partition>/                one dir per partition; the partition is the
//!                                       number after the LAST '-' (topics may hold
//!                                       '-' and '.')
//!     00000000000000000000.log          segment: base offset, 20 digits, zero-padded
//!     00000000000000000000.index
//!     00000000000000000000.timeindex
//!     00000000000000001234.log          next segment: its first batch's base offset
//!     ...
//!     00000000000000001234.snapshot     idempotent-producer state as of that offset
//!                                       (Kafka's format; see `producer_snapshot.rs`)
//!     00000000000000001234.txnindex     transactions aborted by markers in that
//!                                       segment (Kafka's format; see `txn_index.rs`)
//! ```
//!
//! **`.log`**: record batches v2 exactly as received (after the leader patched
//! `baseOffset` and `partitionLeaderEpoch`, which the CRC does not cover), back to
//! back, no framing of our own. The file's name is the base offset of its first batch;
//! offsets increase strictly through the segment and across segments. A segment is at
//! most `segment.bytes` long (clamped to `i32::MAX`) unless a single append is bigger,
//! and every offset in it is within `i32::MAX` of its base.
//!
//! **`.index`** (sparse offset index): 8-byte big-endian entries
//! `(relative_offset: u32, position: u32)`. `relative_offset` is the LAST offset of the
//! batch starting at byte `position` of the `.log`, minus the segment's base offset.
//! An entry is written before a batch when more than `index.interval.bytes` of log were
//! written since the previous entry (so the first batch of a segment has none, and
//! position 0 is implicit). Both fields strictly increase. Lookup: the last entry
//! with `relative_offset <= target`, then walk batch headers from its position.
//!
//! **`.timeindex`**: 12-byte big-endian entries `(timestamp: i64, relative_offset: u32)`
//! meaning "the largest timestamp among records up to this offset is `timestamp`, and
//! this offset is the last offset of the batch carrying it". Written at the same points
//! as `.index` entries when the largest timestamp grew since the last entry, and once
//! more when the segment is sealed by a roll and on every flush and close, so the last
//! entry of any segment below the recovery point gives its largest timestamp. Timestamps strictly increase, offsets never
//! decrease.
//!
//! Index files are written with plain appends (no preallocation, no mmap) and are
//! mirrored in memory. They are derived data: any that is missing or fails the sanity
//! check (size a multiple of the entry size, entries increasing, positions inside the
//! segment, offsets below the next segment) is rebuilt from the `.log`.
//!
//! **`recovery-point-offset-checkpoint`**: Kafka's offset checkpoint text format,
//! written atomically (`.tmp`, fsync, rename, fsync of the dir):
//!
//! ```text
//! 0                      version
//! 2                      number of entries
//! my-topic 0 1234        topic, partition, offset: every record below the offset
//! other.topic 3 0        is known to be on disk (fsynced)
//! ```
//!
//! # Durability and recovery
//!
//! Appends are not fsynced unless `flush.messages`/`flush.ms` say so. Rolling a segment
//! does not wait for the disk either: sealed segments are fsynced by the next
//! `LogManager::flush_due` tick (outside the log's lock), `flush` or `close`, and only
//! then does the recovery point advance. So only segments at or after the recovery
//! point can hold torn or lost writes, and a segment always starts at the offset where
//! the previous one ends (recovery relies on this to detect a tail lost on a batch
//! boundary; log compaction will have to revisit it). On start without the clean-shutdown marker those
//! segments are scanned (length, magic, CRC-32C, increasing offsets), the first bad
//! batch truncates its segment and removes every later segment, and indexes are
//! rebuilt; see `recovery.rs`. A failed write or fsync takes the log offline (writes
//! refused) until it is reopened, as redb and Kafka do, because the kernel may have
//! dropped the dirty pages.

mod cleaner;
mod error;
mod file_records;
mod index;
pub mod inspect;
mod io;
mod log;
mod manager;
mod producer_snapshot;
mod recovery;
mod retention;
mod segment;
mod txn_index;

pub use cleaner::CleanStats;
pub use error::StorageError;
pub use file_records::FileRecords;
pub use io::{replace_file, CrashFileIo, DirEntry, FileIo, LogFile, StdFileIo};
pub use log::{AppendInfo, Log, LogConfig, PendingFlush};
pub use manager::{
    read_checkpoint, write_checkpoint, LogManager, TopicPartition, CLEAN_SHUTDOWN_MARKER, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
pub use producer_snapshot::SnapshotEntry;
pub use txn_index::AbortedTxn;

#[cfg(test)]
mod tests;
