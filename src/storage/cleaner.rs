//! Log compaction (`cleanup.policy=compact`): keeps the last record of every
//! key, as Kafka's log cleaner does, so a compacted topic (`__consumer_offsets`
//! above all) holds one record per key instead of its whole history.
//!
//! One pass over a log, under its lock: the latest offset of every key is
//! taken from all segments (the active one included), then each closed
//! segment is rewritten without the records a later one of the same key
//! supersedes. Offsets never change; batches that lose some records are
//! re-encoded with the same codec, producer fields and leader epoch; batches
//! that lose all are dropped. Tombstones (null values) are kept until their
//! segment is older than `delete.retention.ms`, so that consumers still see
//! the deletion. Records without a key are kept. The active segment is never
//! touched.
//!
//! Transactions, as Kafka's cleaner treats them:
//! - a transactional batch at or past the cleanable end (the partition's last
//!   stable offset, which the caller passes) belongs to a transaction still
//!   open: it is kept whole and its records supersede nothing yet;
//! - a batch of an aborted transaction (its producer and offset fall inside
//!   an entry of the `.txnindex`) is dropped whole: no read_committed
//!   consumer may see it, and read_uncommitted ones lose nothing they could
//!   rely on;
//! - a batch of a committed transaction is compacted like any other;
//! - a COMMIT/ABORT marker stays while any batch of its transaction is left
//!   before it, and then until its segment is older than
//!   `delete.retention.ms`, like a tombstone. When an ABORT marker goes, its
//!   `.txnindex` entry goes first: an entry whose marker is gone would make a
//!   read_committed consumer skip the producer's later transactions, while a
//!   marker without an entry is ignored (so a crash between the two steps is
//!   harmless).
//!
//! Crash safety: the new contents are written to `<base>.log.cleaned` and
//! fsynced; the segment's indexes are emptied (an empty index is valid, only
//! slower); then the file is renamed over `<base>.log` and the indexes are
//! rebuilt. A crash before the rename leaves the old segment (the `.cleaned`
//! file is a leftover that loading removes), one after it the new one.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as Codec, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::error::{IoContext, StorageError};
use super::log::Log;
use super::segment::{BatchReader, Scan, Segment};
use super::txn_index::{self, AbortedTxn};
use crate::protocol::batch::{self, BatchHeader, Compression};

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn codec(c: Compression) -> Option<Codec> {
    Some(match c {
        Compression::None => Codec::None,
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
        Compression::Unknown(_) => return None,
    })
}

/// What a batch is to the cleaner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Not transactional.
    Plain,
    /// A COMMIT/ABORT marker.
    Marker,
    /// Of a transaction not decided yet (at or past the cleanable end).
    Open,
    Committed,
    Aborted,
}

fn fate(header: &BatchHeader, cleanable_end: i64, aborted: &[AbortedTxn]) -> Fate {
    if header.is_control() {
        Fate::Marker
    } else if !header.is_transactional() {
        Fate::Plain
    } else if header.last_offset() >= cleanable_end {
        Fate::Open
    } else if aborted.iter().any(|e| {
        e.producer_id == header.producer_id
            && e.first_offset <= header.base_offset
            && header.base_offset < e.last_offset
    }) {
        Fate::Aborted
    } else {
        Fate::Committed
    }
}

/// The records of one batch, or `None` when it is kept whole without looking
/// inside (control, unreadable).
fn records_of(header: &BatchHeader, bytes: &[u8]) -> Option<Vec<Record>> {
    if header.is_control() || batch::check_header(header).is_err() {
        return None;
    }
    // The decoder reserves room for the announced count: bound it by the bytes first.
    if header.compression() == Compression::None && i64::from(header.records_count) * 7 > i64::from(header.batch_length)
    {
        return None;
    }
    let mut buf = Bytes::copy_from_slice(bytes);
    RecordBatchDecoder::decode(&mut buf).ok().map(|set| set.records)
}

/// Walks every batch of a segment.
fn for_each_batch(
    segment: &Segment,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut reader: BatchReader<'_> = segment.reader(0);
    loop {
        match reader.next_batch()? {
            Scan::Batch { header, .. } => f(&header, reader.current())?,
            Scan::End => return Ok(()),
            Scan::Invalid { position, reason } => {
                return Err(StorageError::Corrupt {
                    path: segment.log_path().to_path_buf(),
                    detail: format!("at byte {position}: {reason}"),
                })
            }
        }
    }
}

impl Log {
    /// Compacts the closed segments if one closed since the last pass (or
    /// `force`). `now_ms` and `delete_retention_ms` decide which tombstones
    /// and markers go; transactional batches at or past `cleanable_end` (the
    /// last stable offset) are left alone.
    pub fn compact(
        &mut self,
        now_ms: i64,
        delete_retention_ms: i64,
        cleanable_end: i64,
        force: bool,
    ) -> Result<CleanStats, StorageError> {
        self.check_writable()?;
        let closed = self.segments.len().saturating_sub(1);
        let closed_end = if closed == 0 { -1 } else { self.segments[closed].base_offset };
        if closed == 0 || (!force && closed_end <= self.cleaned_upto) {
            return Ok(CleanStats::default());
        }
        let result = self.compact_inner(closed, now_ms, delete_retention_ms, cleanable_end);
        if result.is_ok() {
            self.cleaned_upto = closed_end;
        }
        self.guard(result)
    }

    fn compact_inner(
        &mut self,
        closed: usize,
        now_ms: i64,
        delete_retention_ms: i64,
        cleanable_end: i64,
    ) -> Result<CleanStats, StorageError> {
        let aborted: Vec<AbortedTxn> = self.aborted_txns(i64::MIN, i64::MAX);
        // The latest offset of every key, over the whole log (open and
        // aborted transactions supersede nothing).
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for segment in &self.segments {
            for_each_batch(segment, |header, bytes| {
                if !matches!(fate(header, cleanable_end, &aborted), Fate::Plain | Fate::Committed) {
                    return Ok(());
                }
                for r in records_of(header, bytes).unwrap_or_default() {
                    if let Some(key) = r.key {
                        latest.insert(key, r.offset);
                    }
                }
                Ok(())
            })?;
        }
        let mut stats = CleanStats::default();
        // Producers with a batch kept since their last marker.
        let mut data_left: HashMap<i64, bool> = HashMap::new();
        for i in 0..closed {
            let segment = &self.segments[i];
            let past_horizon =
                segment.max_timestamp >= 0 && now_ms.saturating_sub(segment.max_timestamp) > delete_retention_ms;
            let mut out: Vec<u8> = Vec::with_capacity(segment.size as usize);
            let mut removed = 0u64;
            // ABORT/COMMIT markers dropped from this segment: (producer, offset).
            let mut markers_gone: Vec<(i64, i64)> = Vec::new();
            for_each_batch(segment, |header, bytes| {
                let batch_fate = fate(header, cleanable_end, &aborted);
                match batch_fate {
                    Fate::Marker => {
                        let had_data = data_left.remove(&header.producer_id).unwrap_or(false);
                        if !had_data && past_horizon && header.last_offset() < cleanable_end {
                            markers_gone.push((header.producer_id, header.base_offset));
                            removed += 1;
                        } else {
                            out.extend_from_slice(bytes);
                        }
                        return Ok(());
                    }
                    Fate::Aborted => {
                        removed += u64::try_from(header.records_count).unwrap_or(0);
                        return Ok(());
                    }
                    Fate::Open => {
                        data_left.insert(header.producer_id, true);
                        out.extend_from_slice(bytes);
                        return Ok(());
                    }
                    Fate::Plain | Fate::Committed => {}
                }
                let transactional = batch_fate == Fate::Committed;
                let Some(records) = records_of(header, bytes) else {
                    if transactional {
                        data_left.insert(header.producer_id, true);
                    }
                    out.extend_from_slice(bytes);
                    return Ok(());
                };
                let total = records.len();
                let kept: Vec<Record> = records
                    .into_iter()
                    .filter(|r| match &r.key {
                        None => true,
                        Some(key) => latest.get(key) == Some(&r.offset) && !(r.value.is_none() && past_horizon),
                    })
                    .collect();
                if transactional && !kept.is_empty() {
                    data_left.insert(header.producer_id, true);
                }
                removed += (total - kept.len()) as u64;
                if kept.len() == total {
                    out.extend_from_slice(bytes);
                } else if !kept.is_empty() {
                    let Some(compression) = codec(header.compression()) else {
                        out.extend_from_slice(bytes);
                        return Ok(());
                    };
                    let mut buf = BytesMut::new();
                    RecordBatchEncoder::encode(&mut buf, &kept, &RecordEncodeOptions { version: 2, compression })
                        .map_err(|e| StorageError::Corrupt {
                            path: self.dir.clone(),
                            detail: format!("cannot re-encode a batch at offset {}: {e}", header.base_offset),
                        })?;
                    let mut encoded = buf.to_vec();
                    batch::patch_leader_epoch(&mut encoded, header.partition_leader_epoch)?;
                    out.extend_from_slice(&encoded);
                }
                Ok(())
            })?;
            if removed == 0 {
                continue;
            }
            stats.records_removed += removed;
            stats.bytes_before += segment.size;
            stats.bytes_after += out.len() as u64;
            stats.segments_rewritten += 1;
            if !markers_gone.is_empty() {
                self.forget_aborted(i, &markers_gone)?;
            }
            self.replace_segment(i, &out)?;
        }
        Ok(stats)
    }

    /// Removes the `.txnindex` entries of segment `i` whose ABORT markers
    /// (producer, offset) are about to be cleaned away.
    fn forget_aborted(&mut self, i: usize, markers: &[(i64, i64)]) -> Result<(), StorageError> {
        let base = self.segments[i].base_offset;
        let gone = |e: &AbortedTxn| markers.contains(&(e.producer_id, e.last_offset));
        let kept: Vec<AbortedTxn> =
            self.aborted.iter().filter(|(b, e)| *b == base && !gone(e)).map(|(_, e)| *e).collect();
        if kept.len() == self.aborted.iter().filter(|(b, _)| *b == base).count() {
            return Ok(());
        }
        txn_index::rewrite(self.io.as_ref(), &self.dir, base, &kept)?;
        self.aborted.retain(|(b, e)| *b != base || !gone(e));
        Ok(())
    }

    /// Swaps segment `i`'s contents for `data` (see the module docs for the order).
    fn replace_segment(&mut self, i: usize, data: &[u8]) -> Result<(), StorageError> {
        let base = self.segments[i].base_offset;
        let created_ms = self.segments[i].created_ms;
        let log_path = self.segments[i].log_path().to_path_buf();
        let cleaned = log_path.with_extension("log.cleaned");
        let file = self.io.open(&cleaned, true).at(&cleaned)?;
        file.set_len(0).at(&cleaned)?;
        file.write_all_at(data, 0).at(&cleaned)?;
        file.sync().at(&cleaned)?;
        drop(file);
        self.segments[i].clear_indexes()?;
        self.io.rename(&cleaned, &log_path).at(&log_path)?;
        self.io.sync_dir(&self.dir).at(&self.dir)?;
        let (mut segment, _) = Segment::open_existing(self.io.as_ref(), &self.dir, base, created_ms)?;
        segment.recover(self.config.index_interval_bytes, base)?;
        segment.finish_time_index()?;
        segment.sync()?;
        self.segments[i] = segment;
        Ok(())
    }
}
