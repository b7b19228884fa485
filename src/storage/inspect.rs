//! Offline views of a partition's files for `gregor dump-log`
//! (kafka-dump-log.sh): the raw entries of `.index`, `.timeindex` and
//! `.txnindex` files, the sanity checks the broker applies when it opens an
//! index, and producer-state snapshots, each from bytes the caller read. The
//! formats live in `index.rs`, `txn_index.rs` and `producer_snapshot.rs`;
//! this module only lends their parsers to a reader that must show damaged
//! files as they are rather than rebuild them.

use super::index::{self, OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE};
use super::producer_snapshot::{self, SnapshotEntry};
use super::txn_index::{self, AbortedTxn};

/// Every whole `(relative offset, position)` entry of an `.index` file, and
/// the number of bytes after the last whole entry.
pub fn offset_index_entries(raw: &[u8]) -> (Vec<(u32, u32)>, usize) {
    let chunks = raw.chunks_exact(OFFSET_ENTRY_SIZE);
    let rest = chunks.remainder().len();
    let entries = chunks
        .map(|c| (u32::from_be_bytes([c[0], c[1], c[2], c[3]]), u32::from_be_bytes([c[4], c[5], c[6], c[7]])))
        .collect();
    (entries, rest)
}

/// Every whole `(timestamp, relative offset)` entry of a `.timeindex` file, and
/// the number of bytes after the last whole entry.
pub fn time_index_entries(raw: &[u8]) -> (Vec<(i64, u32)>, usize) {
    let chunks = raw.chunks_exact(TIME_ENTRY_SIZE);
    let rest = chunks.remainder().len();
    let entries = chunks
        .map(|c| {
            let mut t = [0u8; 8];
            t.copy_from_slice(&c[..8]);
            (i64::from_be_bytes(t), u32::from_be_bytes([c[8], c[9], c[10], c[11]]))
        })
        .collect();
    (entries, rest)
}

/// The check the broker applies when it opens an `.index` beside a `.log` of
/// `log_size` bytes (an index failing it is rebuilt): `Err` says why.
pub fn offset_index_sanity(raw: &[u8], log_size: u64) -> Result<(), String> {
    index::parse_offset_entries(raw, log_size).map(|_| ()).map_err(|p| p.0)
}

/// The check the broker applies when it opens a `.timeindex`.
pub fn time_index_sanity(raw: &[u8]) -> Result<(), String> {
    index::parse_time_entries(raw).map(|_| ()).map_err(|p| p.0)
}

/// The entries of a `.txnindex` file up to the first bad one, and the byte
/// position of that one (`None`: the whole file is valid).
pub fn txn_index_entries(raw: &[u8]) -> (Vec<AbortedTxn>, Option<usize>) {
    let mut entries = Vec::with_capacity(raw.len() / txn_index::ENTRY_SIZE);
    for (i, chunk) in raw.chunks(txn_index::ENTRY_SIZE).enumerate() {
        match AbortedTxn::decode(chunk) {
            Some(e) => entries.push(e),
            None => return (entries, Some(i * txn_index::ENTRY_SIZE)),
        }
    }
    (entries, None)
}

/// A producer-state snapshot's entries (`Err` names what is wrong).
pub fn producer_snapshot_entries(raw: &[u8]) -> Result<Vec<SnapshotEntry>, String> {
    producer_snapshot::decode(raw)
}
