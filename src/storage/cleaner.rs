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
//! the deletion. Control and transactional batches, and records without a
//! key, are kept as they are. The active segment is never touched.
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

/// The records of one batch, or `None` when it is kept whole without looking
/// inside (control, transactional, unreadable).
fn records_of(header: &BatchHeader, bytes: &[u8]) -> Option<Vec<Record>> {
    if header.is_control() || header.is_transactional() || batch::check_header(header).is_err() {
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
    /// `force`). `now_ms` and `delete_retention_ms` decide which tombstones go.
    pub fn compact(&mut self, now_ms: i64, delete_retention_ms: i64, force: bool) -> Result<CleanStats, StorageError> {
        self.check_writable()?;
        let closed = self.segments.len().saturating_sub(1);
        let closed_end = if closed == 0 { -1 } else { self.segments[closed].base_offset };
        if closed == 0 || (!force && closed_end <= self.cleaned_upto) {
            return Ok(CleanStats::default());
        }
        let result = self.compact_inner(closed, now_ms, delete_retention_ms);
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
    ) -> Result<CleanStats, StorageError> {
        // The latest offset of every key, over the whole log.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for segment in &self.segments {
            for_each_batch(segment, |header, bytes| {
                for r in records_of(header, bytes).unwrap_or_default() {
                    if let Some(key) = r.key {
                        latest.insert(key, r.offset);
                    }
                }
                Ok(())
            })?;
        }
        let mut stats = CleanStats::default();
        for i in 0..closed {
            let segment = &self.segments[i];
            let drop_tombstones =
                segment.max_timestamp >= 0 && now_ms.saturating_sub(segment.max_timestamp) > delete_retention_ms;
            let mut out: Vec<u8> = Vec::with_capacity(segment.size as usize);
            let mut removed = 0u64;
            for_each_batch(segment, |header, bytes| {
                let Some(records) = records_of(header, bytes) else {
                    out.extend_from_slice(bytes);
                    return Ok(());
                };
                let total = records.len();
                let kept: Vec<Record> = records
                    .into_iter()
                    .filter(|r| match &r.key {
                        None => true,
                        Some(key) => latest.get(key) == Some(&r.offset) && !(r.value.is_none() && drop_tombstones),
                    })
                    .collect();
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
            self.replace_segment(i, &out)?;
        }
        Ok(stats)
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
