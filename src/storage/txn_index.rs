//! The aborted-transaction index: `<base_offset:020>.txnindex` beside each
//! segment, in Kafka's format, listing the transactions aborted by an ABORT
//! marker written in that segment. A read_committed fetch answers with the
//! entries that overlap the records it returns (`aborted_transactions`), and
//! the consumer drops those producers' records from `first_offset` on.
//!
//! # Format (Kafka's `TransactionIndex`; big-endian, no header)
//!
//! ```text
//! 34-byte entries, in the order the markers were written:
//!   version i16 = 0, producer_id i64, first_offset i64 (the transaction's
//!   first record), last_offset i64 (the ABORT marker's offset),
//!   last_stable_offset i64 (the partition's LSO once this transaction ended)
//! ```
//!
//! The index is derived data. The log keeps every entry in memory (aborts are
//! rare); a file whose length is not a multiple of 34, or that holds another
//! version, is cut back to its valid prefix; entries whose marker is at or past
//! the log end (truncated away) are dropped; and the partition re-adds the
//! entries of markers it replays after its producer-state snapshot, so an entry
//! lost in a crash comes back. Files are written with plain appends and not
//! fsynced on their own: what a crash loses is rebuilt by that replay.

use std::path::{Path, PathBuf};

use super::error::{IoContext, StorageError};
use super::io::FileIo;
use super::segment::segment_file_name;

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[0..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    pub(super) fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(i64::from_be_bytes);
        if b.len() != ENTRY_SIZE || i16::from_be_bytes([b[0], b[1]]) != VERSION {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

/// The index file of the segment starting at `base_offset`.
pub fn index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(segment_file_name(base_offset, "txnindex"))
}

/// The valid entries of the segment's index (absent file: none), and whether
/// the file held anything else (the caller rewrites it).
pub fn read(io: &dyn FileIo, dir: &Path, base_offset: i64) -> Result<(Vec<AbortedTxn>, bool), StorageError> {
    let path = index_path(dir, base_offset);
    if !io.exists(&path) {
        return Ok((Vec::new(), false));
    }
    let file = io.open(&path, false).at(&path)?;
    let len = file.len().at(&path)?;
    // A million aborts per segment is 34 MB; far beyond is not an index of ours.
    if len > 1 << 30 {
        return Ok((Vec::new(), true));
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0).at(&path)?;
    let mut entries = Vec::with_capacity(buf.len() / ENTRY_SIZE);
    for chunk in buf.chunks(ENTRY_SIZE) {
        match AbortedTxn::decode(chunk) {
            Some(e) => entries.push(e),
            None => return Ok((entries, true)),
        }
    }
    Ok((entries, false))
}

/// Appends one entry to the segment's index.
pub fn append(io: &dyn FileIo, dir: &Path, base_offset: i64, entry: &AbortedTxn) -> Result<(), StorageError> {
    let path = index_path(dir, base_offset);
    let file = io.open(&path, true).at(&path)?;
    let len = file.len().at(&path)?;
    file.write_all_at(&entry.encode(), len).at(&path)
}

/// Replaces the segment's index with `entries` (none: the file is removed).
pub fn rewrite(io: &dyn FileIo, dir: &Path, base_offset: i64, entries: &[AbortedTxn]) -> Result<(), StorageError> {
    if entries.is_empty() {
        return remove(io, dir, base_offset);
    }
    let path = index_path(dir, base_offset);
    let file = io.open(&path, true).at(&path)?;
    let bytes: Vec<u8> = entries.iter().flat_map(AbortedTxn::encode).collect();
    file.set_len(0).at(&path)?;
    file.write_all_at(&bytes, 0).at(&path)
}

/// Removes the segment's index (absent is fine).
pub fn remove(io: &dyn FileIo, dir: &Path, base_offset: i64) -> Result<(), StorageError> {
    super::io::remove_if_present(io, &index_path(dir, base_offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StdFileIo;

    fn entry(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: last + 1 }
    }

    #[test]
    fn kafka_layout_round_trip_and_damage() {
        let tmp = tempfile::tempdir().expect("tmp");
        let io = StdFileIo;
        append(&io, tmp.path(), 100, &entry(7, 100, 105)).expect("append");
        append(&io, tmp.path(), 100, &entry(9, 101, 110)).expect("append");
        let path = tmp.path().join("00000000000000000100.txnindex");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[0..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &7i64.to_be_bytes());
        assert_eq!(&bytes[10..18], &100i64.to_be_bytes());
        assert_eq!(&bytes[18..26], &105i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &106i64.to_be_bytes());
        assert_eq!(read(&io, tmp.path(), 100).expect("read"), (vec![entry(7, 100, 105), entry(9, 101, 110)], false));
        // A torn tail: the valid prefix, flagged for a rewrite.
        std::fs::write(&path, &bytes[..50]).expect("tear");
        assert_eq!(read(&io, tmp.path(), 100).expect("read"), (vec![entry(7, 100, 105)], true));
        rewrite(&io, tmp.path(), 100, &[entry(7, 100, 105)]).expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read").len(), 34);
        rewrite(&io, tmp.path(), 100, &[]).expect("rewrite empty");
        assert!(!path.exists());
        assert_eq!(read(&io, tmp.path(), 100).expect("absent"), (Vec::new(), false));
    }
}
