//! Behaviour tests of the storage layer (logs, recovery, retention, manager).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::protocol::batch::{self, build_batch, build_raw_batch, BatchHeader, BatchIter, TestRecord};

fn tp() -> TopicPartition {
    TopicPartition::new("my-topic.v1", 3)
}

/// A batch of `n` records with `value_len`-byte values, timestamps `ts, ts+1, ...`.
fn make_batch(n: usize, value_len: usize, ts: i64) -> Vec<u8> {
    let value = vec![b'x'; value_len];
    let records: Vec<TestRecord<'_>> = (0..n).map(|i| (Some(&b"key"[..]), Some(&value[..]), ts + i as i64)).collect();
    build_batch(0, &records)
}

fn small_config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, retention_ms: -1, ..LogConfig::default() }
}

/// Crash-simulating I/O without real fsyncs (fast); `StdFileIo` is covered by the
/// manager tests and `io.rs`.
fn fast_io() -> Arc<dyn FileIo> {
    Arc::new(CrashFileIo::new())
}

fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(dir.to_path_buf(), tp(), config, fast_io(), 0, true).unwrap()
}

fn reopen(dir: &Path, config: LogConfig, io: Arc<dyn FileIo>, rp: i64, clean: bool) -> Log {
    Log::open(dir.to_path_buf(), tp(), config, io, rp, clean).unwrap()
}

/// Every batch from the log start, via `read` with a modest `max_bytes`.
fn read_all(log: &Log) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1000, i64::MAX, true).unwrap();
        assert!(!bytes.is_empty(), "empty read at {offset} below the log end");
        let headers = batch::validate(&bytes).unwrap();
        let mut pos = 0;
        for h in headers {
            out.push((h, bytes[pos..pos + h.total_size()].to_vec()));
            pos += h.total_size();
            offset = h.next_offset();
        }
    }
    out
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn append_assigns_offsets_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let mut sent = Vec::new();
    for (i, n) in [3usize, 1, 5].iter().enumerate() {
        let mut b = make_batch(*n, 10, 1000 + i as i64);
        let info = log.append_as_leader(&mut b, 7, 0).unwrap();
        assert_eq!(info.records, *n as u64);
        assert_eq!(info.bytes, b.len());
        assert_eq!(info.log_append_time, -1);
        assert_eq!(info.last_offset - info.first_offset + 1, *n as i64);
        sent.push(b);
    }
    assert_eq!(log.log_end_offset(), 9);
    let got = read_all(&log);
    assert_eq!(got.len(), 3);
    let bases: Vec<i64> = got.iter().map(|(h, _)| h.base_offset).collect();
    assert_eq!(bases, vec![0, 3, 4]);
    for ((h, bytes), s) in got.iter().zip(&sent) {
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(bytes, s, "stored verbatim after patching");
    }
    assert_eq!(log.size_bytes(), sent.iter().map(|b| b.len() as u64).sum::<u64>());
    assert_eq!(
        list(dir.path()),
        vec!["00000000000000000000.index", "00000000000000000000.log", "00000000000000000000.timeindex"]
    );
}

#[test]
fn append_rejects_malformed_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut b = make_batch(2, 5, 0);
    let mut cut = b[..b.len() - 3].to_vec();
    assert!(matches!(log.append_as_leader(&mut cut, 0, 0), Err(StorageError::InvalidBatch(_))));
    assert!(matches!(log.append_as_leader(&mut [], 0, 0), Err(StorageError::InvalidBatch(_))));
    b[16] = 1;
    assert!(log.append_as_leader(&mut b, 0, 0).is_err());
    assert_eq!(log.log_end_offset(), 0);
    assert!(!log.is_offline());
}

#[test]
fn read_limits_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut sizes = Vec::new();
    for _ in 0..4 {
        let mut b = make_batch(2, 100, 0);
        sizes.push(b.len());
        log.append_as_leader(&mut b, 0, 0).unwrap();
    }
    let s = sizes[0];
    // Offsets 0..8, batches at 0, 2, 4, 6.
    assert_eq!(log.read(0, s * 2, i64::MAX, false).unwrap().len(), s * 2);
    assert_eq!(log.read(0, s * 2 + s / 2, i64::MAX, false).unwrap().len(), s * 2);
    assert_eq!(log.read(0, s - 1, i64::MAX, true).unwrap().len(), s);
    assert!(log.read(0, s - 1, i64::MAX, false).unwrap().is_empty());
    assert!(log.read(0, 0, i64::MAX, false).unwrap().is_empty());
    // Offset inside a batch gives that whole batch.
    let b = log.read(3, s, i64::MAX, false).unwrap();
    assert_eq!(batch::parse_header(&b).unwrap().base_offset, 2);
    // max_offset excludes batches whose base offset is >= it.
    let b = log.read(0, usize::MAX, 4, false).unwrap();
    assert_eq!(b.len(), s * 2);
    let b = log.read(0, usize::MAX, 5, false).unwrap();
    assert_eq!(b.len(), s * 3);
    assert!(log.read(4, usize::MAX, 4, true).unwrap().is_empty());
    // Ends.
    assert!(log.read(8, 100, i64::MAX, true).unwrap().is_empty());
    match log.read(9, 100, i64::MAX, true) {
        Err(StorageError::OffsetOutOfRange { offset: 9, log_start: 0, log_end: 8 }) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(log.read(-1, 100, i64::MAX, true), Err(StorageError::OffsetOutOfRange { .. })));
}

#[test]
fn index_is_sparse_and_used_for_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 300, ..LogConfig::default() };
    let mut log = open(dir.path(), config.clone());
    let mut bases = Vec::new();
    for i in 0..40 {
        let mut b = make_batch(1 + i % 3, 50 + i * 7, i as i64 * 10);
        bases.push(log.append_as_leader(&mut b, 0, 0).unwrap().first_offset);
    }
    let index_len = std::fs::metadata(dir.path().join("00000000000000000000.index")).unwrap().len();
    assert!(index_len > 0 && index_len.is_multiple_of(8));
    assert!(index_len / 8 < 40, "sparse: fewer entries than batches");
    let leo = log.log_end_offset();
    for offset in 0..leo {
        let b = log.read(offset, 1, i64::MAX, true).unwrap();
        let h = batch::parse_header(&b).unwrap();
        assert!(h.base_offset <= offset && offset <= h.last_offset());
        assert_eq!(b.len(), h.total_size());
    }
    // Same after a clean reopen (indexes loaded from disk).
    log.close().unwrap();
    let log = open(dir.path(), config);
    assert_eq!(log.log_end_offset(), leo);
    for offset in 0..leo {
        let b = log.read(offset, 1, i64::MAX, true).unwrap();
        let h = batch::parse_header(&b).unwrap();
        assert!(h.base_offset <= offset && offset <= h.last_offset());
    }
}

#[test]
fn segments_roll_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 1000, ..small_config() };
    let mut log = open(dir.path(), config);
    for _ in 0..10 {
        let mut b = make_batch(3, 80, 0); // ~360 bytes
        log.append_as_leader(&mut b, 0, 0).unwrap();
    }
    // Two batches fit in 1000 bytes, a third rolls.
    assert_eq!(log.segment_count(), 5);
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12, 18, 24]);
    assert!(dir.path().join("00000000000000000024.log").exists());
    // Rolling does not wait for the disk; the rolled flush (outside the lock) does.
    assert_eq!(log.recovery_point(), 0);
    let pending = log.begin_rolled_flush().unwrap();
    assert_eq!(pending.upto(), 24);
    let outcome = pending.run();
    log.finish_rolled_flush(pending, outcome).unwrap();
    assert_eq!(log.recovery_point(), 24);
    assert!(log.begin_rolled_flush().is_none());
    // A truncation in between voids a rolled flush begun before it.
    log.append_as_leader(&mut make_batch(3, 80, 0), 0, 0).unwrap();
    log.append_as_leader(&mut make_batch(3, 80, 0), 0, 0).unwrap();
    let pending = log.begin_rolled_flush().unwrap();
    assert_eq!(pending.upto(), 30);
    log.truncate_to(27).unwrap();
    log.finish_rolled_flush(pending, Ok(())).unwrap();
    assert_eq!(log.recovery_point(), 24);
    assert_eq!(log.log_end_offset(), 27);
    assert_eq!(read_all(&log).len(), 9);
    // A single append bigger than segment.bytes still goes in (into a fresh segment).
    let segments = log.segment_count();
    let mut big = make_batch(1, 3000, 0);
    log.append_as_leader(&mut big, 0, 0).unwrap();
    assert_eq!(log.segment_count(), segments + 1);
}

#[test]
fn segments_roll_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_ms: 1000, ..small_config() };
    let mut log = open(dir.path(), config);
    log.append_as_leader(&mut make_batch(1, 10, 5_000), 0, 5_000).unwrap();
    log.append_as_leader(&mut make_batch(1, 10, 5_900), 0, 5_900).unwrap();
    assert_eq!(log.segment_count(), 1);
    // Kafka's rule: the incoming batch's max timestamp vs the segment's first batch.
    log.append_as_leader(&mut make_batch(1, 10, 6_001), 0, 6_001).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);

    // Without timestamps, the segment's wall-clock age counts.
    let dir2 = tempfile::tempdir().unwrap();
    let mut log = open(dir2.path(), LogConfig { segment_ms: 1000, ..small_config() });
    let now = log::wall_clock_ms();
    log.append_as_leader(&mut make_batch(1, 10, -1), 0, now).unwrap();
    log.append_as_leader(&mut make_batch(1, 10, -1), 0, now + 500).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(&mut make_batch(1, 10, -1), 0, now + 60_000).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, index_interval_bytes: 100, ..small_config() };
    let mut log = open(dir.path(), config.clone());
    assert_eq!(log.max_timestamp_and_offset(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    let recs = |ts: &[i64]| -> Vec<u8> {
        let r: Vec<TestRecord<'_>> = ts.iter().map(|t| (None, Some(&b"value"[..]), *t)).collect();
        build_batch(0, &r)
    };
    log.append_as_leader(&mut recs(&[100, 105, 110]), 0, 0).unwrap(); // 0..=2
    log.append_as_leader(&mut recs(&[120, 300, 130]), 0, 0).unwrap(); // 3..=5
                                                                      // A "compressed" batch: opaque payload, 3 records, max timestamp 400.
    let mut gz = build_raw_batch(0, 1, 350, 400, 2, 3, &[0u8; 40]);
    log.append_as_leader(&mut gz, 0, 0).unwrap(); // 6..=8
    for i in 0..10 {
        log.append_as_leader(&mut recs(&[500 + i, 500 + i]), 0, 0).unwrap(); // 9..=28
    }
    assert!(log.segment_count() > 2);
    let check = |log: &Log| {
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
        assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((0, 100)));
        assert_eq!(log.offset_for_timestamp(106).unwrap(), Some((2, 110)));
        assert_eq!(log.offset_for_timestamp(111).unwrap(), Some((3, 120)));
        assert_eq!(log.offset_for_timestamp(125).unwrap(), Some((4, 300)));
        assert_eq!(log.offset_for_timestamp(301).unwrap(), Some((6, 400)));
        assert_eq!(log.offset_for_timestamp(401).unwrap(), Some((9, 500)));
        assert_eq!(log.offset_for_timestamp(505).unwrap(), Some((19, 505)));
        assert_eq!(log.offset_for_timestamp(509).unwrap(), Some((27, 509)));
        assert_eq!(log.offset_for_timestamp(510).unwrap(), None);
        assert_eq!(log.max_timestamp_and_offset(), Some((27, 509)));
    };
    check(&log);
    log.close().unwrap();
    let log = open(dir.path(), config.clone());
    check(&log);
    // And after a crash-style recovery that scans everything.
    drop(log);
    let log = reopen(dir.path(), config, fast_io(), 0, false);
    check(&log);

    // Max timestamp inside a batch, not at its end; and in a compressed batch.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append_as_leader(&mut recs(&[100, 300, 200]), 0, 0).unwrap();
    log.append_as_leader(&mut recs(&[250]), 0, 0).unwrap();
    assert_eq!(log.max_timestamp_and_offset(), Some((1, 300)));
    let mut gz = build_raw_batch(0, 2, 350, 900, 4, 5, &[1u8; 10]);
    log.append_as_leader(&mut gz, 0, 0).unwrap();
    assert_eq!(log.max_timestamp_and_offset(), Some((4, 900)));
}

#[test]
fn retention_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let blen = make_batch(1, 100, 0).len() as u64;
    let config = LogConfig { segment_bytes: 3 * blen, retention_ms: 1000, ..small_config() };
    let mut log = open(dir.path(), config);
    for i in 0..9 {
        // Three segments with max timestamps 3_000, 6_000, 9_000 (3 batches each).
        let ts = 1_000 * (i + 1);
        log.append_as_leader(&mut make_batch(1, 100, ts), 0, ts).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.enforce_retention(5_500).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 3);
    assert!(matches!(log.read(2, 100, i64::MAX, true), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(!dir.path().join("00000000000000000000.log").exists());
    assert_eq!(log.enforce_retention(7_000).unwrap(), 0);
    assert_eq!(log.enforce_retention(7_001).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 6);
    // The active segment itself expired: roll, then delete it.
    assert_eq!(log.enforce_retention(100_000).unwrap(), 1);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.size_bytes(), 0);
    assert!(log.read(9, 100, i64::MAX, true).unwrap().is_empty());
    log.append_as_leader(&mut make_batch(1, 10, 100_000), 0, 100_000).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    // retention.ms = -1 keeps everything.
    log.set_config(LogConfig { retention_ms: -1, ..log.config().clone() });
    assert_eq!(log.enforce_retention(i64::MAX).unwrap(), 0);
}

#[test]
fn retention_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let blen = make_batch(1, 100, 0).len() as u64;
    let mut log = open(dir.path(), LogConfig { segment_bytes: 3 * blen, ..small_config() });
    let mut batch_size = 0;
    for _ in 0..10 {
        let mut b = make_batch(1, 100, 0);
        batch_size = b.len() as i64;
        log.append_as_leader(&mut b, 0, 0).unwrap();
    }
    // 3 batches per segment: [0,1,2] [3,4,5] [6,7,8] [9].
    assert_eq!(log.segment_count(), 4);
    log.set_config(LogConfig { retention_bytes: batch_size * 5, ..log.config().clone() });
    // 10 batches, keep <= 5: delete the first segment (7 left), not the second (4 < 5).
    assert_eq!(log.enforce_retention(0).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 3);
    log.set_config(LogConfig { retention_bytes: 0, ..log.config().clone() });
    assert_eq!(log.enforce_retention(0).unwrap(), 2);
    assert_eq!(log.segment_count(), 1, "active segment kept");
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(read_all(&log).len(), 1);
}

#[test]
fn truncate_to() {
    let dir = tempfile::tempdir().unwrap();
    let blen = make_batch(2, 100, 0).len() as u64;
    let config = LogConfig { segment_bytes: 2 * blen, index_interval_bytes: 50, ..small_config() };
    let mut log = open(dir.path(), config.clone());
    for i in 0..10 {
        log.append_as_leader(&mut make_batch(2, 100, i * 10), 0, 0).unwrap();
    }
    // Batches of 2 offsets, 2 batches per segment: bases 0,4,8,12,16.
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.segment_count(), 5);
    log.truncate_to(30).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    log.truncate_to(14).unwrap();
    assert_eq!(log.log_end_offset(), 14);
    assert_eq!(log.segment_count(), 4);
    assert!(!dir.path().join("00000000000000000016.log").exists());
    // Inside a batch: the whole batch goes.
    log.truncate_to(11).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(read_all(&log).len(), 5);
    assert_eq!(log.max_timestamp_and_offset(), Some((9, 41)));
    assert_eq!(log.offset_for_timestamp(45).unwrap(), None);
    let info = log.append_as_leader(&mut make_batch(1, 10, 500), 0, 0).unwrap();
    assert_eq!(info.first_offset, 10);
    log.close().unwrap();
    let mut log = open(dir.path(), config.clone());
    assert_eq!(log.log_end_offset(), 11);
    assert_eq!(read_all(&log).len(), 6);
    // Below the log start: empty log restarting there.
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn follower_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut buf = build_batch(0, &[(None, Some(b"a"), 1), (None, Some(b"b"), 2)]);
    buf.extend_from_slice(&build_batch(2, &[(None, Some(b"c"), 3)]));
    let info = log.append_as_follower(&buf, 0).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.records), (0, 2, 3));
    // Overlapping what the log has is refused.
    assert!(matches!(
        log.append_as_follower(&build_batch(2, &[(None, None, 1)]), 0),
        Err(StorageError::UnexpectedOffset { expected: 3, found: 2 })
    ));
    let mut bad = build_batch(3, &[(None, None, 1)]);
    bad.extend_from_slice(&build_batch(3, &[(None, None, 1)]));
    assert!(log.append_as_follower(&bad, 0).is_err());
    log.append_as_follower(&build_batch(3, &[(None, None, 1)]), 0).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    // A gap is fine: the leader compacted those offsets away (Kafka accepts it too).
    let info = log.append_as_follower(&build_batch(9, &[(None, None, 1)]), 0).unwrap();
    assert_eq!((info.first_offset, log.log_end_offset()), (9, 10));
    let read = log.read(4, 1000, i64::MAX, true).unwrap();
    assert_eq!(batch::validate(&read).unwrap()[0].base_offset, 9, "a read inside the gap starts after it");
}

#[test]
fn reopen_after_clean_shutdown_preserves_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let mut log = open(dir.path(), config.clone());
    for i in 0..30 {
        log.append_as_leader(&mut make_batch(1 + i % 4, 60, i as i64), 3, 0).unwrap();
    }
    let before = read_all(&log);
    let (leo, segs, size) = (log.log_end_offset(), log.segment_count(), log.size_bytes());
    let max = log.max_timestamp_and_offset();
    let files_before: Vec<_> =
        list(dir.path()).into_iter().map(|n| (n.clone(), std::fs::read(dir.path().join(&n)).unwrap())).collect();
    log.close().unwrap();
    assert!(matches!(log.append_as_leader(&mut make_batch(1, 1, 0), 0, 0), Err(StorageError::Closed { .. })));
    let log = reopen(dir.path(), config, fast_io(), leo, true);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.recovery_point(), leo);
    assert_eq!(log.segment_count(), segs);
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.max_timestamp_and_offset(), max);
    assert_eq!(read_all(&log), before);
    // .log and .index files are byte-identical (close only appended a time entry).
    for (name, content) in files_before {
        if !name.ends_with(".timeindex") {
            assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), content, "{name}");
        }
    }
}

#[test]
fn recovery_rebuilds_missing_and_corrupt_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 2000, ..small_config() };
    let mut log = open(dir.path(), config.clone());
    for i in 0..40 {
        log.append_as_leader(&mut make_batch(2, 50, i as i64 * 3), 0, 0).unwrap();
    }
    log.close().unwrap();
    let before = read_all(&log);
    let leo = log.log_end_offset();
    let ts_answer = log.offset_for_timestamp(31).unwrap();
    let names = list(dir.path());
    let index0 = dir.path().join("00000000000000000000.index");
    let original_index = std::fs::read(&index0).unwrap();
    assert!(!original_index.is_empty());
    // Delete every index of two segments, garble a third's size.
    std::fs::remove_file(&index0).unwrap();
    std::fs::remove_file(dir.path().join("00000000000000000000.timeindex")).unwrap();
    let second = names.iter().filter(|n| n.ends_with(".timeindex")).nth(1).unwrap().clone();
    std::fs::remove_file(dir.path().join(&second)).unwrap();
    let third = names.iter().filter(|n| n.ends_with(".index")).nth(2).unwrap().clone();
    std::fs::write(dir.path().join(&third), [1u8, 2, 3]).unwrap();
    let log = reopen(dir.path(), config, fast_io(), leo, true);
    assert_eq!(list(dir.path()), names, "all files back");
    assert_eq!(std::fs::read(&index0).unwrap(), original_index);
    assert_eq!(std::fs::metadata(dir.path().join(&third)).unwrap().len() % 8, 0);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), before);
    assert_eq!(log.offset_for_timestamp(31).unwrap(), ts_answer);
}

#[test]
fn recovery_truncates_torn_and_corrupt_tail() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 100_000, ..small_config() };
    let mut log = open(dir.path(), config.clone());
    let mut sizes = Vec::new();
    for _ in 0..5 {
        let mut b = make_batch(2, 100, 0);
        sizes.push(b.len() as u64);
        log.append_as_leader(&mut b, 0, 0).unwrap();
    }
    drop(log); // no flush, no close: a crash
    let seg = dir.path().join("00000000000000000000.log");
    let full: u64 = sizes.iter().sum();
    // Tear the last batch.
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(full - 7).unwrap();
    let log = reopen(dir.path(), config.clone(), fast_io(), 0, false);
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), full - sizes[4]);
    drop(log);
    // Flip a byte inside the third batch: CRC mismatch truncates there.
    let mut raw = std::fs::read(&seg).unwrap();
    raw[(sizes[0] + sizes[1] + 70) as usize] ^= 0x55;
    std::fs::write(&seg, raw).unwrap();
    let mut log = reopen(dir.path(), config.clone(), fast_io(), 0, false);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(read_all(&log).len(), 2);
    // A clean-shutdown open trusts the data below the recovery point: garbage past the
    // end of a trusted active segment is found by the tail walk and recovered.
    log.close().unwrap();
    let mut raw = std::fs::read(&seg).unwrap();
    raw.extend_from_slice(&[0xff; 30]);
    std::fs::write(&seg, raw).unwrap();
    let log = reopen(dir.path(), config, fast_io(), 4, true);
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn empty_dir_stray_files_and_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t-0");
    // Nonexistent dir: created with an empty segment.
    let log = Log::open(p.clone(), tp(), small_config(), fast_io(), 0, false).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    drop(log);
    // Stray zero-length .log plus an orphan index and a leftover .deleted file.
    std::fs::write(p.join("00000000000000000050.log"), b"").unwrap();
    std::fs::write(p.join("00000000000000000077.index"), [0u8; 8]).unwrap();
    std::fs::write(p.join("00000000000000000003.log.deleted"), b"junk").unwrap();
    let log = Log::open(p.clone(), tp(), small_config(), fast_io(), 0, false).unwrap();
    // The empty first segment is dropped; the empty last one is the active segment.
    assert_eq!(log.segment_base_offsets(), vec![50]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert!(!p.join("00000000000000000077.index").exists());
    assert!(!p.join("00000000000000000003.log.deleted").exists());
}

#[test]
fn crash_recovery_drops_segments_after_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 700, ..small_config() };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..12 {
        log.append_as_leader(&mut make_batch(1, 200, 0), 0, 0).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    drop(log);
    // Corrupt the second segment: recovery from offset 0 truncates it and deletes later.
    let second = dir.path().join(format!("{:020}.log", bases[1]));
    let mut raw = std::fs::read(&second).unwrap();
    let n = raw.len();
    raw[n - 5] ^= 1;
    std::fs::write(&second, raw).unwrap();
    let log = reopen(dir.path(), config, fast_io(), 0, false);
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.log_end_offset(), bases[2] - 1);
    assert!(!dir.path().join(format!("{:020}.log", bases[2])).exists());
}

#[test]
fn flush_policies_and_offline_after_crash() {
    let dir = tempfile::tempdir().unwrap();
    let io = CrashFileIo::new();
    let config = LogConfig { flush_interval_messages: 5, flush_interval_ms: Some(1000), ..LogConfig::default() };
    let mut log = reopen(dir.path(), config, Arc::new(io.clone()), 0, false);
    let seg = dir.path().join("00000000000000000000.log");
    log.append_as_leader(&mut make_batch(3, 10, 0), 0, 0).unwrap();
    assert!(io.unsynced_bytes(&seg).unwrap() > 0);
    assert_eq!(log.recovery_point(), 0);
    log.append_as_leader(&mut make_batch(2, 10, 0), 0, 0).unwrap();
    assert_eq!(io.unsynced_bytes(&seg).unwrap(), 0, "5 messages: flushed");
    assert_eq!(log.recovery_point(), 5);
    log.append_as_leader(&mut make_batch(1, 10, 0), 0, 0).unwrap();
    log.flush_if_due(10_000).unwrap(); // starts the clock
    assert_eq!(log.recovery_point(), 5);
    log.flush_if_due(10_500).unwrap();
    assert_eq!(log.recovery_point(), 5);
    log.flush_if_due(11_000).unwrap();
    assert_eq!(log.recovery_point(), 6);
    // After a (simulated) crash the old handles fail and the log goes offline.
    log.append_as_leader(&mut make_batch(1, 10, 0), 0, 0).unwrap();
    io.crash(&mut |_, _, _| 0).unwrap();
    assert!(log.append_as_leader(&mut make_batch(1, 10, 0), 0, 0).is_err());
    assert!(log.is_offline());
    assert!(matches!(log.append_as_leader(&mut make_batch(1, 10, 0), 0, 0), Err(StorageError::LogOffline { .. })));
    assert!(log.close().is_err());
    let log = reopen(dir.path(), LogConfig::default(), Arc::new(io), 6, false);
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn topic_partition_names() {
    let t = TopicPartition::new("a-b.c-d", 12);
    assert_eq!(t.to_string(), "a-b.c-d-12");
    assert_eq!(TopicPartition::parse_dir_name("a-b.c-d-12"), Some(t));
    assert_eq!(TopicPartition::parse_dir_name("topic"), None);
    assert_eq!(TopicPartition::parse_dir_name("-3"), None);
    assert_eq!(TopicPartition::parse_dir_name("t-"), None);
    // Topic "t-", partition 1 (a legal topic name).
    assert_eq!(TopicPartition::parse_dir_name("t--1"), Some(TopicPartition::new("t-", 1)));
    assert_eq!(TopicPartition::parse_dir_name("t-0.abcdef-delete"), None);
    assert_eq!(TopicPartition::parse_dir_name("t-0-future"), None);
}

#[test]
fn checkpoint_format_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
    let mut points = std::collections::BTreeMap::new();
    points.insert(TopicPartition::new("a-b", 0), 10);
    points.insert(TopicPartition::new("c.d", 7), 0);
    write_checkpoint(&StdFileIo, &path, &points).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n2\na-b 0 10\nc.d 7 0\n");
    assert_eq!(read_checkpoint(&StdFileIo, &path).unwrap(), points);
    assert!(read_checkpoint(&StdFileIo, &dir.path().join("missing")).unwrap().is_empty());
    for bad in ["1\n0\n", "0\n2\na 0 1\n", "0\n1\na b c\n", ""] {
        std::fs::write(&path, bad).unwrap();
        assert!(matches!(read_checkpoint(&StdFileIo, &path), Err(StorageError::CorruptCheckpoint { .. })), "{bad:?}");
    }
}

#[test]
fn log_manager_lifecycle() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = vec![root.path().join("d1"), root.path().join("d2")];
    let io: Arc<dyn FileIo> = Arc::new(StdFileIo);
    let config = small_config();
    let manager = LogManager::open(&dirs, config.clone(), Arc::clone(&io)).unwrap();
    assert!(manager.partitions().is_empty());
    let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("my-topic.x", p)).collect();
    for (i, tp) in tps.iter().enumerate() {
        let log = manager.get_or_create(tp, config.clone()).unwrap();
        let mut guard = log.lock().unwrap();
        for _ in 0..=i {
            guard.append_as_leader(&mut make_batch(2, 20, 0), 0, 0).unwrap();
        }
    }
    // Spread evenly over the dirs.
    let in_d1 = list(&dirs[0]).iter().filter(|n| n.starts_with("my-topic.x-")).count();
    let in_d2 = list(&dirs[1]).iter().filter(|n| n.starts_with("my-topic.x-")).count();
    assert_eq!((in_d1, in_d2), (2, 2));
    // get_or_create of an existing log returns it.
    let again = manager.get_or_create(&tps[3], LogConfig::default()).unwrap();
    assert_eq!(again.lock().unwrap().log_end_offset(), 8);
    assert!(manager.get(&TopicPartition::new("nope", 0)).is_none());

    manager.delete(&tps[0]).unwrap();
    assert!(manager.get(&tps[0]).is_none());
    assert!(!dirs.iter().any(|d| d.join("my-topic.x-0").exists()));
    manager.delete(&tps[0]).unwrap();

    manager.checkpoint_recovery_points().unwrap();
    manager.flush_due(0).unwrap();
    assert_eq!(manager.enforce_retention(0).unwrap(), 0);
    manager.shutdown().unwrap();
    for d in &dirs {
        assert!(d.join(CLEAN_SHUTDOWN_MARKER).exists());
        let points = read_checkpoint(io.as_ref(), &d.join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        assert_eq!(points.len(), if d == &dirs[0] { 1 } else { 2 });
        for (tp, rp) in points {
            assert_eq!(rp, 2 * (i64::from(tp.partition) + 1));
        }
    }
    drop(manager);

    let manager = LogManager::open(&dirs, config.clone(), Arc::clone(&io)).unwrap();
    assert_eq!(manager.partitions(), tps[1..].to_vec());
    for d in &dirs {
        assert!(!d.join(CLEAN_SHUTDOWN_MARKER).exists(), "marker removed at start");
    }
    for tp in &tps[1..] {
        let log = manager.get(tp).unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.log_end_offset(), 2 * (i64::from(tp.partition) + 1));
        assert_eq!(log.recovery_point(), log.log_end_offset());
    }
    // Crash now (no shutdown), with a torn tail in one log: recovered on next open.
    let log = manager.get(&tps[1]).unwrap();
    log.lock().unwrap().append_as_leader(&mut make_batch(2, 20, 0), 0, 0).unwrap();
    let dir = log.lock().unwrap().dir().to_path_buf();
    drop(log);
    drop(manager);
    let seg = dir.join("00000000000000000000.log");
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 1).unwrap();
    let manager = LogManager::open(&dirs, config.clone(), Arc::clone(&io)).unwrap();
    let log = manager.get(&tps[1]).unwrap();
    assert_eq!(log.lock().unwrap().log_end_offset(), 4);

    // The same partition in both dirs is refused.
    drop(log);
    drop(manager);
    std::fs::create_dir_all(dirs[0].join("my-topic.x-1")).unwrap();
    std::fs::create_dir_all(dirs[1].join("my-topic.x-1")).unwrap();
    assert!(matches!(LogManager::open(&dirs, config, io), Err(StorageError::DuplicatePartition { .. })));
}

// ---- property tests -------------------------------------------------------------

/// (records, value length, timestamp step) per append.
fn appends() -> impl Strategy<Value = Vec<(usize, usize)>> {
    proptest::collection::vec((1usize..6, 0usize..400), 1..40)
}

fn append_all(log: &mut Log, plan: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let mut stored = Vec::new();
    for (i, &(n, len)) in plan.iter().enumerate() {
        let mut b = make_batch(n, len, 1_000 + i as i64);
        log.append_as_leader(&mut b, 1, 0).unwrap();
        stored.push(b);
    }
    stored
}

fn assert_contiguous(batches: &[(BatchHeader, Vec<u8>)], start: i64) {
    let mut next = start;
    for (h, _) in batches {
        assert_eq!(h.base_offset, next);
        next = h.next_offset();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn appends_read_back_exactly(plan in appends(), segment_bytes in 200u64..3000, interval in 0u32..600) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes, index_interval_bytes: interval, ..small_config() };
        let mut log = open(dir.path(), config.clone());
        let stored = append_all(&mut log, &plan);
        let check = |log: &Log| {
            let got = read_all(log);
            assert_contiguous(&got, 0);
            let got_bytes: Vec<&Vec<u8>> = got.iter().map(|(_, b)| b).collect();
            let want: Vec<&Vec<u8>> = stored.iter().collect();
            assert_eq!(got_bytes, want);
            let total: usize = plan.iter().map(|p| p.0).sum();
            assert_eq!(log.log_end_offset(), total as i64);
        };
        check(&log);
        let segments = log.segment_count();
        log.close().unwrap();
        let log2 = open(dir.path(), config.clone());
        prop_assert_eq!(log2.segment_count(), segments);
        check(&log2);
        drop(log2);
        // A full recovery scan gives the same.
        let log3 = reopen(dir.path(), config, fast_io(), 0, false);
        check(&log3);
    }

    #[test]
    fn crash_at_any_byte_recovers_a_prefix(
        plan in appends(),
        synced_frac in 0.0f64..1.0,
        cuts in proptest::collection::vec(0.0f64..=1.0, 3),
        segment_bytes in 300u64..5000,
        rolled_flush in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let io = CrashFileIo::new();
        let config = LogConfig { segment_bytes, index_interval_bytes: 200, ..small_config() };
        let mut log = reopen(dir.path(), config.clone(), Arc::new(io.clone()), 0, false);
        let split = ((plan.len() as f64) * synced_frac) as usize;
        let mut stored = append_all(&mut log, &plan[..split]);
        log.flush().unwrap();
        let synced_offset = log.recovery_point();
        let rest = append_all(&mut log, &plan[split..]);
        stored.extend(rest);
        if rolled_flush {
            if let Some(pending) = log.begin_rolled_flush() {
                let outcome = pending.run();
                log.finish_rolled_flush(pending, outcome).unwrap();
            }
        }
        let recovery_point = log.recovery_point();
        prop_assert!(recovery_point >= synced_offset);
        // Cut the unsynced tail of each file at an arbitrary byte.
        let mut i = 0;
        io.crash(&mut |_path: &Path, _synced: u64, unsynced: u64| {
            let keep = (cuts[i % cuts.len()] * unsynced as f64) as u64;
            i += 1;
            keep
        }).unwrap();
        drop(log);
        let log = reopen(dir.path(), config.clone(), Arc::new(io.clone()), recovery_point, false);
        let got = read_all(&log);
        assert_contiguous(&got, 0);
        prop_assert!(got.len() <= stored.len());
        for (k, (_, bytes)) in got.iter().enumerate() {
            prop_assert_eq!(bytes, &stored[k], "batch {} differs", k);
        }
        let end = got.last().map_or(0, |(h, _)| h.next_offset());
        prop_assert_eq!(log.log_end_offset(), end);
        prop_assert!(end >= recovery_point, "lost synced data: end {} < recovery point {}", end, recovery_point);
        // Recovery leaves a consistent, appendable log that reopens identically.
        drop(log);
        let mut log = reopen(dir.path(), config.clone(), Arc::new(io.clone()), 0, false);
        prop_assert_eq!(log.log_end_offset(), end);
        log.append_as_leader(&mut make_batch(1, 5, 0), 0, 0).unwrap();
        prop_assert_eq!(log.log_end_offset(), end + 1);
        prop_assert_eq!(read_all(&log).len(), got.len() + 1);
    }
}

#[test]
fn read_walks_batches_in_memory_across_large_gaps_between_index_entries() {
    // A huge index interval: lookups always start at position 0 and the locate phase
    // must page through several reads.
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { index_interval_bytes: 100_000, ..LogConfig::default() };
    let mut log = open(dir.path(), config.clone());
    for i in 0..200 {
        log.append_as_leader(&mut make_batch(1, 1000, i), 0, 0).unwrap();
    }
    // Indexes written with a coarse interval, read with a fine one (as after a config
    // change): the first read window is too small and the walk pages on.
    log.set_config(LogConfig { index_interval_bytes: 0, ..config });
    let b = log.read(150, 1, i64::MAX, true).unwrap();
    let headers: Vec<_> = BatchIter::new(&b).collect();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].0.base_offset, 150);
    let b = log.read(190, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(BatchIter::new(&b).count(), 10);
}

#[test]
fn crash_losing_a_sealed_segment_tail_on_a_batch_boundary_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let io = CrashFileIo::new();
    let blen = make_batch(1, 100, 0).len() as u64;
    let config = LogConfig { segment_bytes: 3 * blen, ..small_config() };
    let mut log = reopen(dir.path(), config.clone(), Arc::new(io.clone()), 0, false);
    for _ in 0..9 {
        log.append_as_leader(&mut make_batch(1, 100, 0), 0, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
    let second = dir.path().join("00000000000000000003.log");
    // The second segment keeps exactly one whole batch; the others keep everything.
    io.crash(&mut |path: &Path, _, unsynced| if path == second { blen } else { unsynced }).unwrap();
    drop(log);
    let log = reopen(dir.path(), config, Arc::new(io), 0, false);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    assert_eq!(read_all(&log).len(), 4);
}

#[test]
fn manager_flush_due_syncs_rolled_segments() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().to_path_buf()];
    let io = CrashFileIo::new();
    let config = LogConfig { segment_bytes: 1000, ..small_config() };
    let manager = LogManager::open(&dirs, config.clone(), Arc::new(io.clone())).unwrap();
    let log = manager.get_or_create(&tp(), config).unwrap();
    for _ in 0..7 {
        log.lock().unwrap().append_as_leader(&mut make_batch(3, 80, 0), 0, 0).unwrap();
    }
    let seg0 = log.lock().unwrap().dir().join("00000000000000000000.log");
    assert!(io.unsynced_bytes(&seg0).unwrap() > 0);
    assert_eq!(log.lock().unwrap().recovery_point(), 0);
    manager.flush_due(0).unwrap();
    assert_eq!(io.unsynced_bytes(&seg0).unwrap(), 0);
    assert_eq!(log.lock().unwrap().recovery_point(), 18);
    manager.checkpoint_recovery_points().unwrap();
    let points = read_checkpoint(&StdFileIo, &root.path().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
    assert_eq!(points.get(&tp()), Some(&18));
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<std::sync::Mutex<Log>>();
    check::<LogManager>();
    check::<PendingFlush>();
}

// ---- compaction ----

/// `(offset, key, value)` of every record, read through `Log::read`.
fn keyed_records(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    for (_, bytes) in read_all(log) {
        let mut buf = bytes::Bytes::from(bytes);
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in set.records {
            let key = String::from_utf8(r.key.unwrap_or_default().to_vec()).unwrap();
            let value = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
            out.push((r.offset, key, value));
        }
    }
    out
}

/// Appends `(key, value)` records as batches of 3, timestamps `ts`.
fn append_keyed(log: &mut Log, pairs: &[(String, Option<String>)], ts: i64) {
    for chunk in pairs.chunks(3) {
        let records: Vec<TestRecord<'_>> =
            chunk.iter().map(|(k, v)| (Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes()), ts)).collect();
        let mut b = build_batch(0, &records);
        log.append_as_leader(&mut b, 1, 0).unwrap();
    }
}

#[test]
fn compaction_keeps_the_latest_record_of_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let io = fast_io();
    let config = LogConfig { segment_bytes: 600, ..small_config() };
    let mut log = reopen(dir.path(), config.clone(), io.clone(), 0, true);
    // 60 records over 5 keys: k0..k4, values v0..v59.
    let pairs: Vec<(String, Option<String>)> =
        (0..60).map(|i| (format!("k{}", i % 5), Some(format!("v{i}")))).collect();
    append_keyed(&mut log, &pairs, 1_000);
    let end = log.log_end_offset();
    assert!(log.segment_count() > 3, "several segments: {}", log.segment_count());
    let before = keyed_records(&log);
    let stats = log.compact(2_000, 86_400_000, i64::MAX, false).unwrap();
    assert!(stats.records_removed > 0 && stats.segments_rewritten > 0, "{stats:?}");
    assert!(stats.bytes_after < stats.bytes_before);
    let after = keyed_records(&log);
    assert_eq!(log.log_end_offset(), end, "the log end does not move");
    // Offsets never change and stay increasing; every record kept is one of the originals.
    assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
    for r in &after {
        assert!(before.contains(r), "{r:?} was not in the log");
    }
    // The latest value of every key survives.
    for k in 0..5 {
        let last = before.iter().rev().find(|r| r.1 == format!("k{k}")).unwrap();
        assert!(after.contains(last), "latest of k{k} lost");
    }
    // Closed segments hold no superseded record: every record before the active
    // segment is the latest of its key.
    let active_base = *log.segment_base_offsets().last().unwrap();
    for r in after.iter().filter(|r| r.0 < active_base) {
        let last = before.iter().rev().find(|x| x.1 == r.1).unwrap();
        assert_eq!(r, last);
    }
    // A second pass with nothing newly closed does nothing; after a reopen the
    // same records are there (indexes rebuilt, reads by offset still work).
    assert_eq!(log.compact(2_000, 86_400_000, i64::MAX, false).unwrap(), CleanStats::default());
    drop(log);
    let log = reopen(dir.path(), config, io, end, true);
    assert_eq!(keyed_records(&log), after);
    let mid = after[after.len() / 2].0;
    let bytes = log.read(mid, 100_000, i64::MAX, true).unwrap();
    let first = batch::validate(&bytes).unwrap()[0];
    assert!(first.base_offset <= mid && first.last_offset() >= mid);
}

#[test]
fn tombstones_stay_for_delete_retention_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..small_config() };
    let mut log = open(dir.path(), config);
    let mut pairs: Vec<(String, Option<String>)> =
        (0..9).map(|i| (format!("k{}", i % 3), Some(format!("v{i}")))).collect();
    pairs.push(("k0".into(), None));
    pairs.extend((0..12).map(|i| (format!("other{i}"), Some("x".into()))));
    append_keyed(&mut log, &pairs, 1_000);
    let _ = log.compact(1_500, 10_000, i64::MAX, true).unwrap();
    let records = keyed_records(&log);
    assert!(records.iter().any(|r| r.1 == "k0" && r.2.is_none()), "a fresh tombstone stays");
    assert_eq!(records.iter().filter(|r| r.1 == "k0").count(), 1, "older k0 values are gone");
    // Long after: the tombstone itself goes (its segment is closed and old).
    let _ = log.compact(1_000_000, 10_000, i64::MAX, true).unwrap();
    let records = keyed_records(&log);
    assert!(!records.iter().any(|r| r.1 == "k0"), "{records:?}");
    assert!(records.iter().any(|r| r.1 == "k1" && r.2.as_deref() == Some("v7")));
}

#[test]
fn a_leftover_cleaned_file_is_removed_and_the_segment_kept() {
    let dir = tempfile::tempdir().unwrap();
    let io = fast_io();
    let config = LogConfig { segment_bytes: 600, ..small_config() };
    let mut log = reopen(dir.path(), config.clone(), io.clone(), 0, true);
    let pairs: Vec<(String, Option<String>)> =
        (0..30).map(|i| (format!("k{}", i % 2), Some(format!("v{i}")))).collect();
    append_keyed(&mut log, &pairs, 1_000);
    let before = keyed_records(&log);
    let end = log.log_end_offset();
    drop(log);
    // A pass that crashed before its rename left this behind.
    let stray = dir.path().join("00000000000000000000.log.cleaned");
    std::fs::write(&stray, b"half-written").unwrap();
    let log = reopen(dir.path(), config, io, end, false);
    assert!(!stray.exists());
    assert_eq!(keyed_records(&log), before);
}

/// A transactional batch of `(key, value)` records from `producer_id`, or
/// (with `marker`) its COMMIT (`Some(true)`) / ABORT (`Some(false)`) control batch.
fn txn_batch(producer_id: i64, pairs: &[(&str, &str)], marker: Option<bool>, ts: i64) -> Vec<u8> {
    let record = |i: usize, key: Vec<u8>, value: Vec<u8>| kafka_protocol::records::Record {
        transactional: true,
        control: marker.is_some(),
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: 0,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset: i as i64,
        sequence: if marker.is_some() { -1 } else { i as i32 },
        timestamp: ts,
        key: Some(bytes::Bytes::from(key)),
        value: Some(bytes::Bytes::from(value)),
        headers: Default::default(),
    };
    let records: Vec<_> = match marker {
        Some(commit) => vec![record(0, vec![0, 0, 0, u8::from(commit)], vec![0, 0, 0, 0, 0, 0])],
        None => pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| record(i, k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
    };
    let mut buf = bytes::BytesMut::new();
    let options = kafka_protocol::records::RecordEncodeOptions {
        version: 2,
        compression: kafka_protocol::records::Compression::None,
    };
    kafka_protocol::records::RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.to_vec()
}

/// `(offset, producer id, control, key)` of every record (keys of data records as text).
fn txn_view(log: &Log) -> Vec<(i64, i64, bool, String)> {
    let mut out = Vec::new();
    for (_, bytes) in read_all(log) {
        let mut buf = bytes::Bytes::from(bytes);
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in set.records {
            let key =
                if r.control { String::new() } else { String::from_utf8(r.key.unwrap_or_default().to_vec()).unwrap() };
            out.push((
                r.offset,
                r.producer_id,
                r.control,
                format!("{key}={}", String::from_utf8_lossy(&r.value.unwrap_or_default())),
            ));
        }
    }
    out
}

#[test]
fn compaction_drops_aborted_transactions_keeps_open_ones_and_expires_markers_with_their_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, ..small_config() };
    let mut log = open(dir.path(), config);
    let ts = 1_000;
    // 0-1: producer 7 commits k0=a0, k1=a1; 2: producer 8 writes k0=bad and aborts.
    log.append_as_leader(&mut txn_batch(7, &[("k0", "a0"), ("k1", "a1")], None, ts), 1, 0).unwrap();
    log.append_as_leader(&mut txn_batch(8, &[("k0", "bad")], None, ts), 1, 0).unwrap();
    log.append_as_leader(&mut txn_batch(7, &[], Some(true), ts), 1, 0).unwrap(); // 3
    log.append_as_leader(&mut txn_batch(8, &[], Some(false), ts), 1, 0).unwrap(); // 4
    log.add_aborted_txn(AbortedTxn { producer_id: 8, first_offset: 2, last_offset: 4, last_stable_offset: 2 }).unwrap();
    // 5: a plain k0 supersedes a0; then filler, an open transaction of producer 9, more filler.
    append_keyed(&mut log, &[("k0".into(), Some("p0".into()))], ts);
    let filler: Vec<(String, Option<String>)> = (0..12).map(|i| (format!("f{i}"), Some("x".into()))).collect();
    append_keyed(&mut log, &filler, ts);
    let open_at = log.log_end_offset();
    log.append_as_leader(&mut txn_batch(9, &[("k1", "open")], None, ts), 1, 0).unwrap();
    let more: Vec<(String, Option<String>)> = (0..12).map(|i| (format!("g{i}"), Some("y".into()))).collect();
    append_keyed(&mut log, &more, ts);
    assert!(log.segment_count() >= 3, "several segments: {}", log.segment_count());
    assert!(*log.segment_base_offsets().last().unwrap() > open_at, "the open transaction is in a closed segment");

    // Within delete.retention.ms: aborted data and superseded records go, markers stay.
    let stats = log.compact(2_000, 10_000, open_at, true).unwrap();
    assert!(stats.records_removed >= 2, "{stats:?}");
    let view = txn_view(&log);
    let has =
        |pid: i64, control: bool, kv: &str| view.iter().any(|r| r.1 == pid && r.2 == control && (control || r.3 == kv));
    assert!(!has(8, false, "k0=bad"), "aborted data is dropped: {view:?}");
    assert!(!has(7, false, "k0=a0"), "a committed record superseded by a later one goes: {view:?}");
    assert!(has(7, false, "k1=a1"), "a committed record is only superseded by decided ones: {view:?}");
    assert!(has(9, false, "k1=open"), "an open transaction is left alone: {view:?}");
    assert!(has(7, true, "") && has(8, true, ""), "markers stay within delete.retention.ms: {view:?}");
    assert_eq!(log.aborted_txns(0, i64::MAX).len(), 1);

    // Past the horizon: the ABORT marker (no data left) goes with its index
    // entry; the COMMIT marker stays while its transaction's k1=a1 is there.
    log.compact(1_000_000, 10_000, open_at, true).unwrap();
    let view = txn_view(&log);
    let has = |pid: i64, control: bool| view.iter().any(|r| r.1 == pid && r.2 == control);
    assert!(!has(8, true), "the ABORT marker is cleaned once nothing of its transaction is left: {view:?}");
    assert!(log.aborted_txns(0, i64::MAX).is_empty(), "and its .txnindex entry with it");
    assert!(has(7, true), "the COMMIT marker stays while k1=a1 does: {view:?}");
    assert!(has(9, false), "the open transaction is still untouched");
    drop(log);
    let log = open(dir.path(), LogConfig { segment_bytes: 300, ..small_config() });
    assert!(log.aborted_txns(0, i64::MAX).is_empty(), "the .txnindex file agrees after a reopen");
}
