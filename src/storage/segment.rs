//! One log segment: `{base:020}.log` plus its `.index` and `.timeindex`.
//!
//! Owns the segment's files and its in-memory summary (size, next offset, largest
//! timestamp). Appends are one positional write of the caller's bytes at the end of
//! the committed size; reads walk batch headers in buffers read with one or two
//! positional reads. Knows nothing about other segments, retention or checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoContext, StorageError};
use super::index::{OffsetIndex, TimeIndex};
use super::io::{FileIo, LogFile};
use crate::protocol::batch::{self, BatchHeader, Compression, HEADER_SIZE, LOG_OVERHEAD};

/// Reads during scans are done in chunks of this size (or one batch, if bigger).
const SCAN_CHUNK: usize = 256 * 1024;

pub(crate) fn segment_file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// Parses `00000000000000000123.log` style names; `ext` without the dot.
pub(crate) fn parse_segment_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// What an append tells the segment about each batch it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    /// Byte position within the appended buffer.
    pub(crate) position: usize,
    pub(crate) size: usize,
    pub(crate) base_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    log_path: PathBuf,
    log: Arc<dyn LogFile>,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Committed bytes of the `.log` file; nothing past it is ever read.
    pub(crate) size: u64,
    /// Offset after the last batch (for non-active trusted segments: an upper bound).
    pub(crate) next_offset: i64,
    /// Largest batch max timestamp, -1 if none.
    pub(crate) max_timestamp: i64,
    /// Last offset of the first batch that carried `max_timestamp`, -1 if none.
    pub(crate) offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch, for time-based rolling (Kafka's rule).
    pub(crate) rolling_timestamp: Option<i64>,
    /// When this segment was created or loaded (wall clock, ms).
    pub(crate) created_ms: i64,
    bytes_since_index: u64,
}

/// One step of a sequential scan.
#[derive(Debug)]
pub(crate) enum Scan {
    Batch {
        header: BatchHeader,
        position: u64,
    },
    End,
    /// Bytes at `position` are not a whole, well-formed batch (torn write or garbage).
    Invalid {
        position: u64,
        reason: String,
    },
}

/// Where whole batches lie in a segment's `.log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchRange {
    pub(crate) position: u64,
    pub(crate) len: usize,
    /// The offset after the last batch in the range (for an empty range, the
    /// base offset of the batch it stops at); for the last batch of a segment,
    /// the segment's next offset.
    pub(crate) next_offset: i64,
}

/// Reads batch headers only, a small chunk at a time: finding where a fetch's
/// batches start and end costs a few small reads, whatever their size.
struct HeaderScan<'a> {
    segment: &'a Segment,
    buf: Vec<u8>,
    buf_pos: u64,
}

/// Bytes read per header lookup: several small batches' headers at once.
const HEADER_CHUNK: usize = 8 * 1024;

impl<'a> HeaderScan<'a> {
    fn new(segment: &'a Segment) -> Self {
        HeaderScan { segment, buf: Vec::new(), buf_pos: 0 }
    }

    /// The header of the batch starting at `pos`; `None` at the committed end.
    fn header_at(&mut self, pos: u64) -> Result<Option<BatchHeader>, StorageError> {
        let end = self.segment.size;
        if pos >= end {
            return Ok(None);
        }
        let buffered = pos >= self.buf_pos && pos + HEADER_SIZE as u64 <= self.buf_pos + self.buf.len() as u64;
        if !buffered {
            let len = (HEADER_CHUNK as u64).min(end - pos) as usize;
            if len < HEADER_SIZE {
                return Err(corrupt(
                    &self.segment.log_path,
                    format!("partial batch at {pos} below the committed size {end}"),
                ));
            }
            self.buf = self.segment.read_vec(pos, len)?;
            self.buf_pos = pos;
        }
        let at = (pos - self.buf_pos) as usize;
        let header = batch::parse_header(&self.buf[at..at + HEADER_SIZE])
            .map_err(|e| corrupt(&self.segment.log_path, format!("at {pos}: {e}")))?;
        if pos + header.total_size() as u64 > end {
            return Err(corrupt(
                &self.segment.log_path,
                format!("batch at {pos} extends past the committed size {end}"),
            ));
        }
        Ok(Some(header))
    }

    /// From the batch at `pos`, the first whose last offset is >= `offset`.
    fn first_ending_at_or_after(
        &mut self,
        mut pos: u64,
        offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        while let Some(header) = self.header_at(pos)? {
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
            pos += header.total_size() as u64;
        }
        Ok(None)
    }
}

/// Sequential batch reader over `[start, end)` of a file, in large chunks.
pub(crate) struct BatchReader<'a> {
    file: &'a dyn LogFile,
    path: &'a Path,
    buf: Vec<u8>,
    buf_pos: u64,
    cur: usize,
    end: u64,
    last: (usize, usize),
}

impl<'a> BatchReader<'a> {
    pub(crate) fn new(file: &'a dyn LogFile, path: &'a Path, start: u64, end: u64) -> Self {
        BatchReader { file, path, buf: Vec::new(), buf_pos: start, cur: 0, end, last: (0, 0) }
    }

    /// Makes sure `n` bytes from the cursor are buffered; false if the range ends first.
    fn ensure(&mut self, n: usize) -> Result<bool, StorageError> {
        if self.buf.len() - self.cur >= n {
            return Ok(true);
        }
        let file_pos = self.buf_pos + self.cur as u64;
        if self.end.saturating_sub(file_pos) < n as u64 {
            return Ok(false);
        }
        self.buf.drain(..self.cur);
        self.buf_pos = file_pos;
        self.cur = 0;
        self.last = (0, 0);
        let have = self.buf.len();
        let want = (n.max(SCAN_CHUNK) as u64).min(self.end - self.buf_pos) as usize;
        self.buf.resize(want, 0);
        self.file.read_exact_at(&mut self.buf[have..], self.buf_pos + have as u64).at(self.path)?;
        Ok(true)
    }

    pub(crate) fn next_batch(&mut self) -> Result<Scan, StorageError> {
        let position = self.buf_pos + self.cur as u64;
        if position >= self.end {
            return Ok(Scan::End);
        }
        if !self.ensure(LOG_OVERHEAD)? {
            return Ok(Scan::Invalid { position, reason: "partial batch header at end of segment".into() });
        }
        let length = batch::peek_batch_length(&self.buf[self.cur..]).unwrap_or(-1);
        if length < batch::MIN_BATCH_LENGTH {
            return Ok(Scan::Invalid { position, reason: format!("invalid batch length {length}") });
        }
        let total = length as usize + LOG_OVERHEAD;
        if !self.ensure(total)? {
            return Ok(Scan::Invalid {
                position,
                reason: format!("batch of {total} bytes extends past the end of the segment"),
            });
        }
        match batch::parse_header(&self.buf[self.cur..self.cur + total]) {
            Ok(header) => {
                self.last = (self.cur, self.cur + total);
                self.cur += total;
                Ok(Scan::Batch { header, position })
            }
            Err(e) => Ok(Scan::Invalid { position, reason: e.to_string() }),
        }
    }

    /// Bytes of the batch returned by the last `next_batch`.
    pub(crate) fn current(&self) -> &[u8] {
        &self.buf[self.last.0..self.last.1]
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt { path: path.to_path_buf(), detail: detail.into() }
}

/// Index entries produced while accounting for appended or scanned batches.
#[derive(Default)]
struct NewEntries {
    offsets: Vec<(u32, u32)>,
    times: Vec<(i64, u32)>,
}

impl Segment {
    pub(crate) fn paths(dir: &Path, base_offset: i64) -> [PathBuf; 3] {
        [
            dir.join(segment_file_name(base_offset, "log")),
            dir.join(segment_file_name(base_offset, "index")),
            dir.join(segment_file_name(base_offset, "timeindex")),
        ]
    }

    /// Creates an empty segment (truncating any leftover files of the same name).
    pub(crate) fn create(
        io: &dyn FileIo,
        dir: &Path,
        base_offset: i64,
        created_ms: i64,
    ) -> Result<Segment, StorageError> {
        let [log_path, index_path, time_path] = Self::paths(dir, base_offset);
        let log = io.open(&log_path, true).at(&log_path)?;
        log.set_len(0).at(&log_path)?;
        let (mut index, _) = OffsetIndex::open(io, index_path, 0)?;
        index.rewrite(Vec::new())?;
        let (mut time_index, _) = TimeIndex::open(io, time_path)?;
        time_index.rewrite(Vec::new())?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            index,
            time_index,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: None,
            created_ms,
            bytes_since_index: 0,
        })
    }

    /// Opens an existing segment without scanning it. The summary fields are only
    /// provisional: the caller either recovers the segment or loads its tail state.
    /// Returns whether the index files need a rebuild.
    pub(crate) fn open_existing(
        io: &dyn FileIo,
        dir: &Path,
        base_offset: i64,
        created_ms: i64,
    ) -> Result<(Segment, Option<String>), StorageError> {
        let [log_path, index_path, time_path] = Self::paths(dir, base_offset);
        let log = io.open(&log_path, false).at(&log_path)?;
        let size = log.len().at(&log_path)?;
        let (index, p1) = OffsetIndex::open(io, index_path, size)?;
        let (time_index, p2) = TimeIndex::open(io, time_path)?;
        let problem = match (p1, p2) {
            (Some(p), _) => Some(format!("offset index: {}", p.0)),
            (None, Some(p)) => Some(format!("time index: {}", p.0)),
            (None, None) => None,
        };
        let mut seg = Segment {
            base_offset,
            log_path,
            log,
            index,
            time_index,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: None,
            created_ms,
            bytes_since_index: 0,
        };
        if let Some((ts, rel)) = seg.time_index.last() {
            seg.max_timestamp = ts;
            seg.offset_of_max_timestamp = seg.base_offset + i64::from(rel);
        }
        Ok((seg, problem))
    }

    /// Empties both indexes on disk (valid: lookups then scan from the start);
    /// done before the segment's file is replaced.
    pub(crate) fn clear_indexes(&mut self) -> Result<(), StorageError> {
        self.index.rewrite(Vec::new())?;
        self.time_index.rewrite(Vec::new())?;
        self.index.sync()?;
        self.time_index.sync()
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub(crate) fn relative(&self, offset: i64) -> u32 {
        offset.saturating_sub(self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Whether `last_offset` can be stored relative to this segment's base.
    pub(crate) fn can_hold_offset(&self, last_offset: i64) -> bool {
        last_offset.checked_sub(self.base_offset).is_some_and(|d| (0..=i64::from(i32::MAX)).contains(&d))
    }

    /// Updates the summary for one batch at file position `position` and collects
    /// the index entries Kafka would add (one per `index_interval` bytes).
    fn account(&mut self, position: u64, meta: &BatchMeta, index_interval: u32, entries: &mut NewEntries) {
        if self.size == 0 && self.rolling_timestamp.is_none() && position == 0 {
            self.rolling_timestamp = Some(meta.max_timestamp);
        }
        if meta.max_timestamp > self.max_timestamp {
            self.max_timestamp = meta.max_timestamp;
            self.offset_of_max_timestamp = meta.last_offset;
        }
        if self.bytes_since_index > u64::from(index_interval) {
            entries.offsets.push((self.relative(meta.last_offset), position as u32));
            let last_ts = entries.times.last().or(self.time_index.entries().last()).map_or(i64::MIN, |e| e.0);
            if self.max_timestamp > last_ts {
                entries.times.push((self.max_timestamp, self.relative(self.offset_of_max_timestamp)));
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += meta.size as u64;
        self.next_offset = meta.last_offset + 1;
    }

    /// Appends `data` (whole batches described by `metas`) with one write, then the
    /// index entries. On error nothing is committed in memory, and the next append
    /// overwrites whatever part of `data` reached the file.
    pub(crate) fn append(&mut self, data: &[u8], metas: &[BatchMeta], index_interval: u32) -> Result<(), StorageError> {
        self.log.write_all_at(data, self.size).at(&self.log_path)?;
        let saved = (
            self.max_timestamp,
            self.offset_of_max_timestamp,
            self.rolling_timestamp,
            self.bytes_since_index,
            self.next_offset,
        );
        let mut entries = NewEntries::default();
        for meta in metas {
            self.account(self.size + meta.position as u64, meta, index_interval, &mut entries);
        }
        let result = self.index.append(&entries.offsets).and_then(|()| self.time_index.append(&entries.times));
        if let Err(e) = result {
            (
                self.max_timestamp,
                self.offset_of_max_timestamp,
                self.rolling_timestamp,
                self.bytes_since_index,
                self.next_offset,
            ) = saved;
            return Err(e);
        }
        self.size += data.len() as u64;
        Ok(())
    }

    /// Adds a time index entry for the current largest timestamp, so the index's last
    /// entry gives the segment's largest timestamp after a restart. Done when a
    /// segment is sealed (roll) and before the active one is synced (flush, close).
    pub(crate) fn finish_time_index(&mut self) -> Result<(), StorageError> {
        if self.offset_of_max_timestamp >= 0 {
            let rel = self.relative(self.offset_of_max_timestamp);
            self.time_index.maybe_append(self.max_timestamp, rel)?;
        }
        Ok(())
    }

    /// Called when the segment is sealed (a roll): its index mirrors stop growing,
    /// so their spare capacity is released.
    pub(crate) fn shrink_indexes(&mut self) {
        self.index.shrink_to_fit();
        self.time_index.shrink_to_fit();
    }

    /// The three files, for an fsync done without holding the log's lock.
    pub(crate) fn handles(&self) -> [(PathBuf, Arc<dyn LogFile>); 3] {
        [(self.log_path.clone(), Arc::clone(&self.log)), self.index.handle(), self.time_index.handle()]
    }

    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.log.sync().at(&self.log_path)?;
        self.index.sync()?;
        self.time_index.sync()
    }

    /// The `.log` file's handle (reads of committed bytes may go on after a roll or a deletion).
    pub(crate) fn log_file(&self) -> Arc<dyn LogFile> {
        self.log.clone()
    }

    pub(crate) fn reader(&self, start: u64) -> BatchReader<'_> {
        BatchReader::new(self.log.as_ref(), &self.log_path, start, self.size)
    }

    fn read_vec(&self, pos: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, pos).at(&self.log_path)?;
        Ok(buf)
    }

    /// Where the whole batches starting with the one that holds `offset` are in
    /// the `.log` file (see `Log::read`), found from batch
    /// headers and the offset index without reading the records themselves:
    /// the batch holding `offset` is found from the index entry below it, the end
    /// from the high bound (`max_offset`'s batch) or from the index entry below
    /// the byte budget, each followed by a short scan of headers. `None` when this
    /// segment has no batch with a last offset >= `offset`.
    pub(crate) fn read_range(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<Option<BatchRange>, StorageError> {
        if offset >= self.next_offset || self.size == 0 {
            return Ok(None);
        }
        let mut scan = HeaderScan::new(self);
        let Some((start, header)) = self.locate_with(&mut scan, offset)? else {
            return Ok(None);
        };
        let empty = |position| Ok(Some(BatchRange { position, len: 0, next_offset: header.base_offset }));
        if header.base_offset >= max_offset {
            return empty(start);
        }
        let first = header.total_size() as u64;
        if first > max_bytes as u64 && !min_one {
            return empty(start);
        }
        // Batches from `max_offset`'s on are not returned; a batch that straddles it is.
        let high = if max_offset >= self.next_offset {
            self.size
        } else {
            match self.locate_with(&mut scan, max_offset)? {
                Some((pos, h)) if h.base_offset < max_offset => pos + h.total_size() as u64,
                Some((pos, _)) => pos,
                None => self.size,
            }
        };
        let budget = start.saturating_add((max_bytes as u64).max(first));
        let stop = if high <= budget {
            high
        } else {
            // Every batch between the first and an indexed position within the budget fits.
            let mut pos = self.index.floor_position(budget).max(start + first);
            while let Some(h) = scan.header_at(pos)? {
                let next = pos + h.total_size() as u64;
                if next > budget || h.base_offset >= max_offset {
                    break;
                }
                pos = next;
            }
            pos
        };
        // The offset after the range: the next batch's base offset, or the segment's end.
        let next_offset = match scan.header_at(stop)? {
            Some(h) => h.base_offset,
            None => self.next_offset,
        };
        Ok(Some(BatchRange { position: start, len: (stop - start) as usize, next_offset }))
    }

    /// Position and header of the first batch whose last offset is >= `offset`.
    pub(crate) fn locate(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        self.locate_with(&mut HeaderScan::new(self), offset)
    }

    /// [`Segment::locate`] through `scan` (whose buffer later lookups may reuse):
    /// from the index entry below `offset`, batch headers only.
    fn locate_with(&self, scan: &mut HeaderScan<'_>, offset: i64) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        scan.first_ending_at_or_after(u64::from(self.index.lookup(self.relative(offset))), offset)
    }

    /// The first record with timestamp >= `ts` and offset >= `min_offset`:
    /// `(offset, timestamp)`. Compressed batches answer their base offset and max
    /// timestamp, as do LogAppendTime batches.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        ts: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let mut start = match self.time_index.last_before(ts) {
            Some((_, rel)) => self.index.lookup(rel),
            None => 0,
        };
        if min_offset > self.base_offset {
            start = start.max(self.index.lookup(self.relative(min_offset)));
        }
        let mut reader = self.reader(u64::from(start));
        loop {
            let header = match reader.next_batch()? {
                Scan::Batch { header, .. } => header,
                Scan::End => return Ok(None),
                Scan::Invalid { position, reason } => {
                    return Err(corrupt(&self.log_path, format!("at {position}: {reason}")))
                }
            };
            if header.max_timestamp < ts || header.last_offset() < min_offset {
                continue;
            }
            if let Some(found) = first_record_at_or_after(reader.current(), &header, ts, min_offset) {
                return Ok(Some(found));
            }
        }
    }

    /// Resolves the segment's largest timestamp to a record offset:
    /// `(offset, timestamp)`, or `None` if the segment has no timestamps.
    pub(crate) fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, StorageError> {
        if self.offset_of_max_timestamp < 0 {
            return Ok(None);
        }
        let ts = self.max_timestamp;
        let Some((position, header)) = self.locate(self.offset_of_max_timestamp)? else {
            return Ok(Some((self.offset_of_max_timestamp, ts)));
        };
        let mut reader = self.reader(position);
        if let Scan::Batch { .. } = reader.next_batch()? {
            if let Some(found) = first_record_at_or_after(reader.current(), &header, ts, i64::MIN) {
                return Ok(Some(found));
            }
        }
        Ok(Some((header.base_offset, ts)))
    }

    /// Scans the whole `.log` file, validating every batch (CRC included), truncates
    /// it at the first invalid or torn batch, and rebuilds both indexes from the scan.
    /// Returns the number of bytes truncated. `min_offset` is the lowest acceptable
    /// base offset of the first batch.
    pub(crate) fn recover(&mut self, index_interval: u32, min_offset: i64) -> Result<u64, StorageError> {
        let file_len = self.log.len().at(&self.log_path)?;
        self.size = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.rolling_timestamp = None;
        self.bytes_since_index = 0;
        self.index.rewrite(Vec::new())?;
        self.time_index.rewrite(Vec::new())?;
        let mut entries = NewEntries::default();
        let mut expected = min_offset.max(self.base_offset);
        let mut valid_end = 0u64;
        let mut invalid: Option<(u64, String)> = None;
        {
            let mut reader = BatchReader::new(self.log.as_ref(), &self.log_path, 0, file_len);
            let mut metas = Vec::new();
            loop {
                match reader.next_batch()? {
                    Scan::Batch { header, position } => {
                        if let Err(e) = batch::validate_one(reader.current()) {
                            invalid = Some((position, e.to_string()));
                            break;
                        }
                        if header.base_offset < expected {
                            invalid = Some((
                                position,
                                format!("base offset {} below expected {expected}", header.base_offset),
                            ));
                            break;
                        }
                        if !self.can_hold_offset(header.last_offset()) {
                            invalid = Some((position, "offset too far from segment base".into()));
                            break;
                        }
                        expected = header.next_offset();
                        let size = header.total_size();
                        metas.push((
                            position,
                            BatchMeta {
                                position: 0,
                                size,
                                base_offset: header.base_offset,
                                last_offset: header.last_offset(),
                                max_timestamp: header.max_timestamp,
                            },
                        ));
                        valid_end = position + size as u64;
                    }
                    Scan::End => break,
                    Scan::Invalid { position, reason } => {
                        invalid = Some((position, reason));
                        break;
                    }
                }
            }
            for (position, meta) in &metas {
                self.account(*position, meta, index_interval, &mut entries);
                self.size = position + meta.size as u64;
            }
        }
        let truncated = file_len - valid_end;
        if let Some((position, reason)) = invalid {
            tracing::warn!(
                segment = %self.log_path.display(),
                position,
                truncated,
                "truncating log segment at invalid batch: {reason}"
            );
            self.log.set_len(valid_end).at(&self.log_path)?;
        }
        self.size = valid_end;
        self.index.rewrite(entries.offsets)?;
        self.time_index.rewrite(entries.times)?;
        self.finish_time_index()?;
        self.sync()?;
        Ok(truncated)
    }

    /// For a trusted (not scanned) active segment: finds the next offset by walking
    /// from the last index entry, and the first batch's timestamp for rolling.
    /// Returns false if the tail is not well-formed (the caller then recovers).
    pub(crate) fn load_tail_state(&mut self) -> Result<bool, StorageError> {
        let start = self.index.last().map_or(0, |(_, p)| u64::from(p));
        let mut reader = BatchReader::new(self.log.as_ref(), &self.log_path, start, self.size);
        let mut next = self.base_offset;
        let mut last_pos = start;
        loop {
            match reader.next_batch()? {
                Scan::Batch { header, position } => {
                    next = header.next_offset();
                    last_pos = position;
                    if header.max_timestamp > self.max_timestamp {
                        self.max_timestamp = header.max_timestamp;
                        self.offset_of_max_timestamp = header.last_offset();
                    }
                }
                Scan::End => break,
                Scan::Invalid { .. } => return Ok(false),
            }
        }
        self.next_offset = next;
        self.bytes_since_index = self.size - start.min(last_pos);
        if self.size > 0 {
            let mut reader = self.reader(0);
            if let Scan::Batch { header, .. } = reader.next_batch()? {
                self.rolling_timestamp = Some(header.max_timestamp);
            }
        }
        Ok(true)
    }

    /// Checks that index entries stay below `limit` (an exclusive offset bound).
    pub(crate) fn indexes_within(&self, limit: i64) -> bool {
        let ok_offset = |rel: u32| self.base_offset + i64::from(rel) < limit;
        self.index.last().is_none_or(|(rel, _)| ok_offset(rel))
            && self.time_index.last().is_none_or(|(_, rel)| ok_offset(rel))
    }

    /// Drops every batch whose last offset is >= `offset`; the segment then ends at
    /// `min(offset, base of the first dropped batch)`.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        let Some((position, dropped)) = self.locate(offset)? else {
            return Ok(());
        };
        let new_next = offset.min(dropped.base_offset).max(self.base_offset);
        // Largest timestamp of what remains: the last kept time index entry covers
        // everything up to its offset; batches after the last kept offset index entry
        // are walked.
        self.log.set_len(position).at(&self.log_path)?;
        self.index.truncate_to_position(position as u32)?;
        self.time_index.truncate_to_offset(self.relative(new_next))?;
        let old_size = self.size;
        self.size = position;
        self.next_offset = new_next;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        if let Some((ts, rel)) = self.time_index.last() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = self.base_offset + i64::from(rel);
        }
        let walk_from = self.index.last().map_or(0, |(_, p)| u64::from(p));
        let mut reader = BatchReader::new(self.log.as_ref(), &self.log_path, walk_from, self.size);
        loop {
            match reader.next_batch()? {
                Scan::Batch { header, .. } => {
                    if header.max_timestamp > self.max_timestamp {
                        self.max_timestamp = header.max_timestamp;
                        self.offset_of_max_timestamp = header.last_offset();
                    }
                }
                Scan::End => break,
                Scan::Invalid { position, reason } => {
                    return Err(corrupt(&self.log_path, format!("at {position}: {reason}")))
                }
            }
        }
        self.bytes_since_index = position - walk_from.min(position);
        if position == 0 {
            self.rolling_timestamp = None;
        }
        tracing::debug!(
            segment = %self.log_path.display(),
            from = old_size,
            to = position,
            "truncated segment"
        );
        self.sync()
    }

    /// The timestamp retention.ms compares against: the largest record timestamp, or
    /// the file's modification time when no record carries one (as Kafka).
    pub(crate) fn retention_timestamp(&self) -> Result<i64, StorageError> {
        if self.max_timestamp >= 0 {
            Ok(self.max_timestamp)
        } else {
            self.log.modified_ms().at(&self.log_path)
        }
    }

    /// Removes the segment's files, its `.txnindex` included (ignoring ones already gone).
    pub(crate) fn delete_files(self, io: &dyn FileIo) -> Result<(), StorageError> {
        let txn_index =
            super::txn_index::index_path(self.log_path.parent().unwrap_or_else(|| Path::new(".")), self.base_offset);
        let paths =
            [self.log_path.clone(), self.index.path().to_path_buf(), self.time_index.path().to_path_buf(), txn_index];
        drop(self);
        for path in paths {
            super::io::remove_if_present(io, &path)?;
        }
        Ok(())
    }
}

/// Within one whole batch: the first record with timestamp >= `ts` and offset >=
/// `min_offset`. Compressed or LogAppendTime batches (and unreadable records) answer
/// the batch's first eligible offset with its max timestamp.
fn first_record_at_or_after(bytes: &[u8], header: &BatchHeader, ts: i64, min_offset: i64) -> Option<(i64, i64)> {
    let batch_answer = (header.base_offset.max(min_offset), header.max_timestamp);
    if header.compression() != Compression::None || header.timestamp_type_log_append() {
        return (header.max_timestamp >= ts).then_some(batch_answer);
    }
    let Ok(records) = batch::records(bytes) else {
        return (header.max_timestamp >= ts).then_some(batch_answer);
    };
    for record in records {
        let Ok((offset_delta, ts_delta)) = record else {
            return (header.max_timestamp >= ts).then_some(batch_answer);
        };
        let offset = header.base_offset.saturating_add(i64::from(offset_delta));
        let timestamp = header.base_timestamp.saturating_add(ts_delta);
        if timestamp >= ts && offset >= min_offset {
            return Some((offset, timestamp));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(parse_segment_file_name("00000000000000000042.log", "log"), Some(42));
        assert_eq!(parse_segment_file_name("00000000000000000042.index", "index"), Some(42));
        assert_eq!(parse_segment_file_name("0042.log", "log"), None);
        assert_eq!(parse_segment_file_name("00000000000000000042.log.deleted", "log"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.log", "log"), None);
    }
}
