//! Producer-state snapshots: `<offset:020>.snapshot` files beside a partition's
//! segments, in Kafka's format, so that idempotent-producer state survives a
//! restart without replaying the whole log.
//!
//! A snapshot named `N.snapshot` holds the state of the producers as of the log
//! up to (not including) offset N. On start the partition loads the newest
//! snapshot at or below its log end offset and replays the batches from N on;
//! snapshots above the log end (the log was truncated, or a crash lost the tail
//! they describe) are deleted, and a snapshot that fails its CRC is deleted and
//! the next older one tried.
//!
//! # Format (Kafka's `ProducerStateManager`, version 1; big-endian)
//!
//! ```text
//! version i16 = 1
//! crc     u32          CRC-32C of every byte after this field
//! count   i32          then `count` entries of 46 bytes:
//!   producer_id i64, epoch i16, last_sequence i32, last_offset i64,
//!   offset_delta i32 (last_offset − first offset of the batch),
//!   timestamp i64 (the batch's max timestamp), coordinator_epoch i32 (of the
//!   producer's last transaction marker, −1 none),
//!   current_txn_first_offset i64 (first offset of the producer's open
//!   transaction, −1: none)
//! ```
//!
//! A producer with no cached batch (known only from a transaction marker) is
//! written as Kafka writes an empty entry: last_sequence −1, last_offset −1,
//! offset_delta 0.
//!
//! Kafka writes one entry per producer (its last batch). We write one entry per
//! cached batch, oldest first, so a retried batch from before a restart is still
//! recognised; Kafka's reader keeps the last entry it reads for each producer id,
//! so it reads our files as its own.
//!
//! Files go through [`FileIo`] like every other durable file of the log. A
//! snapshot is written to `.tmp` and renamed; it is fsynced only when the caller
//! asks (at clean shutdown), because a torn or lost snapshot is detected by its
//! CRC and replaced by replaying more of the log.

use std::path::{Path, PathBuf};

use super::error::{IoContext, StorageError};
use super::io::FileIo;

const VERSION: i16 = 1;
const HEADER: usize = 2 + 4 + 4;
const ENTRY: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// Suffix of snapshot files.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";

/// One batch of one producer, as a snapshot stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
    /// The coordinator epoch of the producer's last marker (−1 none).
    pub coordinator_epoch: i32,
    /// The first offset of the producer's open transaction (−1 none).
    pub txn_first_offset: i64,
}

/// Encodes entries in Kafka's snapshot format.
pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entries.len() * ENTRY);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&e.last_seq.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        let delta = i32::try_from(e.last_offset - e.first_offset).unwrap_or(0);
        out.extend_from_slice(&delta.to_be_bytes());
        out.extend_from_slice(&e.timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.txn_first_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[6..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes a snapshot; `Err` names what is wrong (the caller deletes the file).
pub fn decode(buf: &[u8]) -> Result<Vec<SnapshotEntry>, String> {
    if buf.len() < HEADER {
        return Err(format!("{} bytes, shorter than the header", buf.len()));
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let crc = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    let actual = crc32c::crc32c(&buf[6..]);
    if crc != actual {
        return Err(format!("CRC mismatch: stored {crc:#010x}, computed {actual:#010x}"));
    }
    let count = i32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
    let count = usize::try_from(count).map_err(|_| format!("negative entry count {count}"))?;
    if buf.len() != HEADER + count.saturating_mul(ENTRY) {
        return Err(format!("{} bytes for {count} entries", buf.len()));
    }
    let mut entries = Vec::with_capacity(count);
    for chunk in buf[HEADER..].chunks_exact(ENTRY) {
        let i64_at = |at: usize| i64::from_be_bytes(chunk[at..at + 8].try_into().unwrap_or([0; 8]));
        let i32_at = |at: usize| i32::from_be_bytes(chunk[at..at + 4].try_into().unwrap_or([0; 4]));
        let producer_id = i64_at(0);
        let epoch = i16::from_be_bytes([chunk[8], chunk[9]]);
        let last_seq = i32_at(10);
        let last_offset = i64_at(14);
        let delta = i32_at(22);
        let timestamp = i64_at(26);
        let coordinator_epoch = i32_at(34);
        let txn_first_offset = i64_at(38);
        if delta < 0 || last_seq < -1 {
            return Err(format!("invalid entry for producer {producer_id}"));
        }
        let (first_seq, first_offset) = if last_seq < 0 {
            (-1, -1) // no batch: a producer known from a marker
        } else {
            let first_seq = ((i64::from(last_seq) - i64::from(delta)).rem_euclid(i64::from(i32::MAX) + 1)) as i32;
            (first_seq, last_offset - i64::from(delta))
        };
        entries.push(SnapshotEntry {
            producer_id,
            epoch,
            first_seq,
            last_seq,
            first_offset,
            last_offset,
            timestamp,
            coordinator_epoch,
            txn_first_offset: txn_first_offset.max(-1),
        });
    }
    Ok(entries)
}

/// The snapshot file for `offset` in `dir`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// Offsets of the snapshots in `dir`, ascending.
pub fn list(io: &dyn FileIo, dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut offsets: Vec<i64> = io
        .list_dir(dir)
        .at(dir)?
        .into_iter()
        .filter(|e| !e.is_dir)
        .filter_map(|e| {
            let stem = e.name.strip_suffix(SNAPSHOT_SUFFIX)?;
            (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
        })
        .collect();
    offsets.sort_unstable();
    Ok(offsets)
}

/// Reads the snapshot at `offset`: `Ok(Err(reason))` when its content is bad.
pub fn read(io: &dyn FileIo, dir: &Path, offset: i64) -> Result<Result<Vec<SnapshotEntry>, String>, StorageError> {
    let path = snapshot_path(dir, offset);
    let file = io.open(&path, false).at(&path)?;
    let len = file.len().at(&path)?;
    // A snapshot of a million producers is 46 MB; anything far beyond is not ours.
    if len > 1 << 30 {
        return Ok(Err(format!("{len} bytes is too large")));
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0).at(&path)?;
    Ok(decode(&buf))
}

/// Writes the snapshot at `offset` (`.tmp`, then renamed over); with `sync`,
/// fsyncs the file and the directory.
pub fn write(
    io: &dyn FileIo,
    dir: &Path,
    offset: i64,
    entries: &[SnapshotEntry],
    sync: bool,
) -> Result<(), StorageError> {
    let path = snapshot_path(dir, offset);
    let tmp = dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}.tmp"));
    let file = io.open(&tmp, true).at(&tmp)?;
    file.set_len(0).at(&tmp)?;
    file.write_all_at(&encode(entries), 0).at(&tmp)?;
    if sync {
        file.sync().at(&tmp)?;
    }
    drop(file);
    io.rename(&tmp, &path).at(&path)?;
    if sync {
        io.sync_dir(dir).at(dir)?;
    }
    Ok(())
}

/// Deletes the snapshot at `offset` (absent is fine).
pub fn remove(io: &dyn FileIo, dir: &Path, offset: i64) -> Result<(), StorageError> {
    super::io::remove_if_present(io, &snapshot_path(dir, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StdFileIo;

    fn entry(pid: i64, first_seq: i32, last_seq: i32, first_offset: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id: pid,
            epoch: 3,
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + i64::from(last_seq - first_seq),
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            txn_first_offset: -1,
        }
    }

    #[test]
    fn round_trip_and_kafka_layout() {
        let entries = vec![entry(7, 0, 4, 10), entry(7, 5, 5, 15), entry(9, 100, 109, 16)];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 10 + 3 * 46);
        assert_eq!(&bytes[0..2], &[0, 1], "version 1");
        assert_eq!(&bytes[6..10], &[0, 0, 0, 3], "entry count");
        // First entry: producer id, epoch, last sequence, last offset, offset delta.
        assert_eq!(&bytes[10..18], &7i64.to_be_bytes());
        assert_eq!(&bytes[18..20], &3i16.to_be_bytes());
        assert_eq!(&bytes[20..24], &4i32.to_be_bytes());
        assert_eq!(&bytes[24..32], &14i64.to_be_bytes());
        assert_eq!(&bytes[32..36], &4i32.to_be_bytes());
        assert_eq!(decode(&bytes), Ok(entries));
    }

    #[test]
    fn damage_is_detected() {
        let mut bytes = encode(&[entry(1, 0, 0, 0)]);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "torn");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode(&bytes).expect_err("damaged").contains("CRC"));
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn files_are_listed_read_and_removed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let io = StdFileIo;
        write(&io, tmp.path(), 42, &[entry(1, 0, 9, 32)], true).expect("write");
        write(&io, tmp.path(), 7, &[], false).expect("write");
        std::fs::write(tmp.path().join("00000000000000000000.log"), b"").expect("log");
        assert_eq!(list(&io, tmp.path()).expect("list"), vec![7, 42]);
        assert_eq!(read(&io, tmp.path(), 42).expect("read"), Ok(vec![entry(1, 0, 9, 32)]));
        assert!(tmp.path().join("00000000000000000042.snapshot").exists());
        remove(&io, tmp.path(), 42).expect("remove");
        remove(&io, tmp.path(), 42).expect("absent is fine");
        assert_eq!(list(&io, tmp.path()).expect("list"), vec![7]);
    }
}
