//! Kafka record batch v2: header parsing, validation and in-place patching.
//!
//! Owns the byte layout of a v2 batch (see `docs/protocol-notes.md` §2). Pure: no I/O,
//! no decompression, never panics on any input. The storage layer and the produce
//! handler both build on it; neither should decode batch headers by hand. The
//! records inside a batch are checked by `protocol::records`.
//!
//! Layout (big-endian, 61-byte header, then the records):
//! ```text
//!  0 baseOffset i64         8 batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8              17 crc u32 (CRC-32C of bytes [21..end))
//! 21 attributes i16        23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64      43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32      57 recordsCount i32     61 records...
//! ```

use std::ops::Range;

/// Size of the fixed v2 batch header.
pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` counts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength` (a header with no records).
pub const MIN_BATCH_LENGTH: i32 = (HEADER_SIZE - LOG_OVERHEAD) as i32;
/// First byte covered by the CRC.
pub const CRC_START: usize = 21;
/// The only supported magic.
pub const MAGIC_V2: i8 = 2;
/// Timestamp value meaning "no timestamp".
pub const NO_TIMESTAMP: i64 = -1;

const OFF_BASE_OFFSET: usize = 0;
const OFF_LENGTH: usize = 8;
const OFF_LEADER_EPOCH: usize = 12;
const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_OFFSET_DELTA: usize = 23;
const OFF_BASE_TIMESTAMP: usize = 27;
const OFF_MAX_TIMESTAMP: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;
const OFF_RECORDS_COUNT: usize = 57;

const ATTR_COMPRESSION_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// Why a buffer is not a valid v2 batch (or sequence of batches).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("no record batch in an empty buffer")]
    Empty,
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("invalid record batch length {length}")]
    InvalidLength { length: i32 },
    #[error("unsupported record batch magic {magic} (only v2 is supported)")]
    UnsupportedMagic { magic: i8 },
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CorruptCrc { stored: u32, computed: u32 },
    #[error("invalid record count {records_count} for lastOffsetDelta {last_offset_delta}")]
    InvalidRecordCount { records_count: i32, last_offset_delta: i32 },
    #[error("unknown compression codec {codec}")]
    UnknownCompression { codec: u8 },
    #[error("records of a compressed batch cannot be read without decompression")]
    Compressed,
    #[error("malformed record: {0}")]
    InvalidRecord(&'static str),
}

/// Compression codec from attribute bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// Codec ids 5-7 are not defined by Kafka; `validate` rejects them.
    Unknown(u8),
}

impl Compression {
    fn from_attributes(attributes: i16) -> Compression {
        match (attributes & ATTR_COMPRESSION_MASK) as u8 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other),
        }
    }
}

/// The 61-byte v2 batch header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Offset of the last record (`base_offset + last_offset_delta`), saturating.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes)
    }

    pub fn timestamp_type_log_append(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Whole size of the batch on the wire and on disk: `batch_length + 12`.
    /// `parse_header` guarantees `batch_length >= 49`, so this is at least 61.
    pub fn total_size(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }
}

/// Control record type of a transaction ABORT marker.
pub const CONTROL_ABORT: i16 = 0;
/// Control record type of a transaction COMMIT marker.
pub const CONTROL_COMMIT: i16 = 1;

/// The transaction marker a control record's key names: `Some(true)` for
/// COMMIT, `Some(false)` for ABORT, `None` for anything else. The key is
/// version i16, type i16; the version is not checked, so a newer marker
/// version still reads.
pub fn control_marker_commit(key: &[u8]) -> Option<bool> {
    let kind = key.get(2..4)?;
    match i16::from_be_bytes([kind[0], kind[1]]) {
        CONTROL_ABORT => Some(false),
        CONTROL_COMMIT => Some(true),
        _ => None,
    }
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    if let Some(s) = buf.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    i64::from_be_bytes(b)
}

fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    if let Some(s) = buf.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    i32::from_be_bytes(b)
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    let mut b = [0u8; 2];
    if let Some(s) = buf.get(at..at + 2) {
        b.copy_from_slice(s);
    }
    i16::from_be_bytes(b)
}

/// Reads `batchLength` from the first 12 bytes, if present.
pub fn peek_batch_length(buf: &[u8]) -> Option<i32> {
    if buf.len() < LOG_OVERHEAD {
        None
    } else {
        Some(be_i32(buf, OFF_LENGTH))
    }
}

/// Decodes the header at the start of `buf`. Checks only what is needed to trust the
/// header's shape: enough bytes for a header, magic 2, `batchLength >= 49`. Does not
/// require the whole batch to be present and does not check the CRC.
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() <= OFF_MAGIC {
        return Err(BatchError::Truncated { needed: HEADER_SIZE, available: buf.len() });
    }
    let magic = buf[OFF_MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic { magic });
    }
    if buf.len() < HEADER_SIZE {
        return Err(BatchError::Truncated { needed: HEADER_SIZE, available: buf.len() });
    }
    let batch_length = be_i32(buf, OFF_LENGTH);
    if batch_length < MIN_BATCH_LENGTH {
        return Err(BatchError::InvalidLength { length: batch_length });
    }
    Ok(BatchHeader {
        base_offset: be_i64(buf, OFF_BASE_OFFSET),
        batch_length,
        partition_leader_epoch: be_i32(buf, OFF_LEADER_EPOCH),
        magic,
        crc: be_i32(buf, OFF_CRC) as u32,
        attributes: be_i16(buf, OFF_ATTRIBUTES),
        last_offset_delta: be_i32(buf, OFF_LAST_OFFSET_DELTA),
        base_timestamp: be_i64(buf, OFF_BASE_TIMESTAMP),
        max_timestamp: be_i64(buf, OFF_MAX_TIMESTAMP),
        producer_id: be_i64(buf, OFF_PRODUCER_ID),
        producer_epoch: be_i16(buf, OFF_PRODUCER_EPOCH),
        base_sequence: be_i32(buf, OFF_BASE_SEQUENCE),
        records_count: be_i32(buf, OFF_RECORDS_COUNT),
    })
}

/// Checks the header invariants that need no CRC: record count and codec.
pub fn check_header(header: &BatchHeader) -> Result<(), BatchError> {
    if header.records_count < 1 || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err(BatchError::InvalidRecordCount {
            records_count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    if let Compression::Unknown(codec) = header.compression() {
        return Err(BatchError::UnknownCompression { codec });
    }
    Ok(())
}

/// Validates the single batch at the start of `buf` (trailing bytes are ignored):
/// magic, length, CRC-32C, record count, codec id. No decompression.
pub fn validate_one(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(buf)?;
    let total = header.total_size();
    let Some(batch) = buf.get(..total) else {
        return Err(BatchError::Truncated { needed: total, available: buf.len() });
    };
    let computed = crc32c::crc32c(&batch[CRC_START..]);
    if computed != header.crc {
        return Err(BatchError::CorruptCrc { stored: header.crc, computed });
    }
    check_header(&header)?;
    Ok(header)
}

/// Validates a buffer of one or more whole batches and returns their headers.
pub fn validate(buf: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut headers = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let header = validate_one(rest)?;
        pos += header.total_size();
        headers.push(header);
    }
    Ok(headers)
}

/// Overwrites `baseOffset` of the batch at the start of `buf` (outside the CRC).
pub fn patch_base_offset(buf: &mut [u8], base_offset: i64) -> Result<(), BatchError> {
    let available = buf.len();
    let field = buf
        .get_mut(OFF_BASE_OFFSET..OFF_BASE_OFFSET + 8)
        .ok_or(BatchError::Truncated { needed: HEADER_SIZE, available })?;
    field.copy_from_slice(&base_offset.to_be_bytes());
    Ok(())
}

/// Overwrites `partitionLeaderEpoch` of the batch at the start of `buf` (outside the CRC).
pub fn patch_leader_epoch(buf: &mut [u8], epoch: i32) -> Result<(), BatchError> {
    let available = buf.len();
    let field = buf
        .get_mut(OFF_LEADER_EPOCH..OFF_LEADER_EPOCH + 4)
        .ok_or(BatchError::Truncated { needed: HEADER_SIZE, available })?;
    field.copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// Walks whole batches in a byte slice by their headers (no CRC check), yielding each
/// header and its byte range. Stops at the first partial trailing batch (as Fetch
/// responses may carry) or at the first malformed header; [`BatchIter::error`] and
/// [`BatchIter::position`] tell which and where.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    error: Option<BatchError>,
    done: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0, error: None, done: false }
    }

    /// Byte position of the first batch not yielded (the end of the last whole batch).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Set when iteration stopped on a malformed header (not on a merely partial batch).
    pub fn error(&self) -> Option<&BatchError> {
        self.error.as_ref()
    }

    /// True when every byte of the buffer belonged to a yielded batch.
    pub fn is_exhausted(&self) -> bool {
        self.pos == self.buf.len()
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (BatchHeader, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let Some(length) = peek_batch_length(rest) else {
            self.done = true;
            return None;
        };
        if length < MIN_BATCH_LENGTH {
            self.error = Some(BatchError::InvalidLength { length });
            self.done = true;
            return None;
        }
        let total = length as usize + LOG_OVERHEAD;
        if rest.len() < total {
            // Partial trailing batch: a clean stop, unless even the magic is wrong.
            if rest.len() > OFF_MAGIC && rest[OFF_MAGIC] as i8 != MAGIC_V2 {
                self.error = Some(BatchError::UnsupportedMagic { magic: rest[OFF_MAGIC] as i8 });
            }
            self.done = true;
            return None;
        }
        match parse_header(rest) {
            Ok(header) => {
                let range = self.pos..self.pos + total;
                self.pos += total;
                Some((header, range))
            }
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                None
            }
        }
    }
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, BatchError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let byte = *buf.get(*pos).ok_or(BatchError::InvalidRecord("varint past end of batch"))?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(BatchError::InvalidRecord("varint too long"))
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, BatchError> {
    let v = read_varlong(buf, pos)?;
    i32::try_from(v).map_err(|_| BatchError::InvalidRecord("varint out of i32 range"))
}

/// Iterates the records of an uncompressed batch, yielding `(offset_delta,
/// timestamp_delta)` per record; skips keys, values and headers by the record length.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: i32,
    failed: bool,
}

/// Records of the uncompressed batch at the start of `batch` (must hold the whole
/// batch). Fails with [`BatchError::Compressed`] for compressed batches.
pub fn records(batch: &[u8]) -> Result<RecordIter<'_>, BatchError> {
    let header = parse_header(batch)?;
    if header.compression() != Compression::None {
        return Err(BatchError::Compressed);
    }
    let total = header.total_size();
    let body = batch.get(..total).ok_or(BatchError::Truncated { needed: total, available: batch.len() })?;
    Ok(RecordIter { buf: body, pos: HEADER_SIZE, remaining: header.records_count.max(0), failed: false })
}

impl Iterator for RecordIter<'_> {
    type Item = Result<(i32, i64), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.remaining <= 0 {
            return None;
        }
        let result = self.next_record();
        match &result {
            Ok(_) => self.remaining -= 1,
            Err(_) => self.failed = true,
        }
        Some(result)
    }
}

impl RecordIter<'_> {
    fn next_record(&mut self) -> Result<(i32, i64), BatchError> {
        let length = read_varint(self.buf, &mut self.pos)?;
        let length = usize::try_from(length).map_err(|_| BatchError::InvalidRecord("negative length"))?;
        let start = self.pos;
        let end = start
            .checked_add(length)
            .filter(|&e| e <= self.buf.len())
            .ok_or(BatchError::InvalidRecord("record past end of batch"))?;
        let record = &self.buf[..end];
        let mut p = start;
        if record.get(p).is_none() {
            return Err(BatchError::InvalidRecord("record too short"));
        }
        p += 1; // attributes
        let timestamp_delta = read_varlong(record, &mut p)?;
        let offset_delta = read_varint(record, &mut p)?;
        self.pos = end;
        Ok((offset_delta, timestamp_delta))
    }
}

pub(crate) fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

fn write_bytes_field(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => write_varlong(out, -1),
        Some(b) => {
            write_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// A record as `kafka_protocol`'s batch encoder wants it: no producer id or
/// sequence, CreateTime, offset 0 (the encoder's caller numbers them).
pub fn new_record(
    key: Option<bytes::Bytes>,
    value: Option<bytes::Bytes>,
    headers: Vec<(String, Option<bytes::Bytes>)>,
    timestamp: i64,
) -> kafka_protocol::records::Record {
    kafka_protocol::records::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key,
        value,
        headers: headers.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    }
}

/// `(key, value, timestamp)` of one record, for [`build_batch`].
#[doc(hidden)]
pub type TestRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

/// Test helper: an uncompressed v2 batch (CreateTime, no producer id) holding
/// `(key, value, timestamp)` records, with a correct CRC. An empty `records` gives a
/// batch with recordsCount 0, which `validate` rejects.
#[doc(hidden)]
pub fn build_batch(base_offset: i64, records: &[TestRecord<'_>]) -> Vec<u8> {
    let base_timestamp = records.first().map_or(NO_TIMESTAMP, |r| r.2);
    let max_timestamp = records.iter().map(|r| r.2).max().unwrap_or(NO_TIMESTAMP);
    let mut payload = Vec::new();
    let mut record = Vec::new();
    for (i, (key, value, ts)) in records.iter().enumerate() {
        record.clear();
        record.push(0); // attributes
        write_varlong(&mut record, ts.wrapping_sub(base_timestamp));
        write_varlong(&mut record, i as i64);
        write_bytes_field(&mut record, *key);
        write_bytes_field(&mut record, *value);
        write_varlong(&mut record, 0); // headers
        write_varlong(&mut payload, record.len() as i64);
        payload.extend_from_slice(&record);
    }
    let count = records.len() as i32;
    build_raw_batch(base_offset, 0, base_timestamp, max_timestamp, count - 1, count, &payload)
}

/// Test helper: a v2 batch with the given header fields and opaque `payload` as its
/// records section (e.g. fake "compressed" data), with a correct CRC.
#[doc(hidden)]
pub fn build_raw_batch(
    base_offset: i64,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    last_offset_delta: i32,
    records_count: i32,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&base_offset.to_be_bytes());
    let length = (HEADER_SIZE - LOG_OVERHEAD + payload.len()) as i32;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0, 0, 0, 0]); // crc, patched below
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&last_offset_delta.to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&max_timestamp.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&records_count.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        build_batch(0, &[(Some(b"k1"), Some(b"v1"), 1000), (None, Some(b"v2"), 1005), (Some(b"k3"), None, 990)])
    }

    #[test]
    fn parse_and_validate_built_batch() {
        let b = sample();
        let h = validate_one(&b).unwrap();
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.total_size(), b.len());
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.last_offset(), 2);
        assert_eq!(h.base_timestamp, 1000);
        assert_eq!(h.max_timestamp, 1005);
        assert_eq!(h.magic, 2);
        assert_eq!(h.compression(), Compression::None);
        assert!(!h.is_transactional() && !h.is_control() && !h.timestamp_type_log_append());
        assert_eq!(parse_header(&b).unwrap(), h);
    }

    #[test]
    fn control_marker_keys() {
        assert_eq!(control_marker_commit(&[0, 0, 0, 1]), Some(true));
        assert_eq!(control_marker_commit(&[0, 0, 0, 0]), Some(false));
        assert_eq!(control_marker_commit(&[0, 1, 0, 0]), Some(false));
        assert_eq!(control_marker_commit(&[0, 0, 0, 2]), None);
        assert_eq!(control_marker_commit(&[0, 0, 0]), None);
    }

    #[test]
    fn attributes_bits() {
        let b = build_raw_batch(0, 0x4 | 0x8 | 0x10 | 0x20, 0, 0, 0, 1, b"x");
        let h = validate_one(&b).unwrap();
        assert_eq!(h.compression(), Compression::Zstd);
        assert!(h.timestamp_type_log_append() && h.is_transactional() && h.is_control());
        for (bits, c) in [(1, Compression::Gzip), (2, Compression::Snappy), (3, Compression::Lz4)] {
            let b = build_raw_batch(0, bits, 0, 0, 0, 1, b"x");
            assert_eq!(parse_header(&b).unwrap().compression(), c);
        }
        let bad = build_raw_batch(0, 6, 0, 0, 0, 1, b"x");
        assert_eq!(validate(&bad), Err(BatchError::UnknownCompression { codec: 6 }));
    }

    #[test]
    fn validate_many_and_errors() {
        let mut buf = sample();
        buf.extend_from_slice(&build_batch(3, &[(None, Some(b"x"), 5)]));
        let hs = validate(&buf).unwrap();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[1].base_offset, 3);

        assert_eq!(validate(&[]), Err(BatchError::Empty));
        assert!(matches!(validate(&buf[..buf.len() - 1]), Err(BatchError::Truncated { .. })));

        let mut bad_magic = sample();
        bad_magic[16] = 1;
        assert_eq!(validate(&bad_magic), Err(BatchError::UnsupportedMagic { magic: 1 }));

        let mut bad_crc = sample();
        let n = bad_crc.len();
        bad_crc[n - 1] ^= 0xff;
        assert!(matches!(validate(&bad_crc), Err(BatchError::CorruptCrc { .. })));

        let mut bad_len = sample();
        bad_len[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&bad_len), Err(BatchError::InvalidLength { length: 10 }));

        let bad_count = build_raw_batch(0, 0, 0, 0, 1, 3, b"");
        assert!(matches!(validate(&bad_count), Err(BatchError::InvalidRecordCount { .. })));
        let zero = build_batch(0, &[]);
        assert!(matches!(validate(&zero), Err(BatchError::InvalidRecordCount { .. })));
    }

    #[test]
    fn patching_keeps_crc_valid() {
        let mut b = sample();
        patch_base_offset(&mut b, 1234).unwrap();
        patch_leader_epoch(&mut b, 7).unwrap();
        let h = validate_one(&b).unwrap();
        assert_eq!(h.base_offset, 1234);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.last_offset(), 1236);
        let mut short = [0u8; 5];
        assert!(patch_base_offset(&mut short, 1).is_err());
        assert!(patch_leader_epoch(&mut short, 1).is_err());
    }

    #[test]
    fn iter_stops_at_partial_batch() {
        let a = sample();
        let b = build_batch(3, &[(None, Some(b"abc"), 5)]);
        let mut buf = a.clone();
        buf.extend_from_slice(&b);
        for cut in 0..=buf.len() {
            let mut it = BatchIter::new(&buf[..cut]);
            let got: Vec<_> = it.by_ref().collect();
            let expect = if cut == buf.len() {
                2
            } else if cut >= a.len() {
                1
            } else {
                0
            };
            assert_eq!(got.len(), expect, "cut {cut}");
            assert!(it.error().is_none());
            if expect >= 1 {
                assert_eq!(got[0].1, 0..a.len());
            }
        }
    }

    #[test]
    fn record_iteration() {
        let b = sample();
        let recs: Vec<_> = records(&b).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(recs, vec![(0, 0), (1, 5), (2, -10)]);
        let c = build_raw_batch(0, 1, 0, 0, 0, 1, b"zz");
        assert_eq!(records(&c).err(), Some(BatchError::Compressed));
        let garbage = build_raw_batch(0, 0, 0, 0, 0, 1, &[0x7f, 0x01]);
        let r: Vec<_> = records(&garbage).unwrap().collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
    }

    #[test]
    fn varint_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, i64::MAX, i64::MIN, -123456789] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let mut p = 0;
            assert_eq!(read_varlong(&out, &mut p).unwrap(), v);
            assert_eq!(p, out.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_header(&bytes);
            let _ = validate(&bytes);
            let _ = validate_one(&bytes);
            for (_h, r) in BatchIter::new(&bytes) {
                prop_assert!(r.end <= bytes.len());
            }
            if let Ok(it) = records(&bytes) {
                for r in it { let _ = r; }
            }
            let mut m = bytes.clone();
            let _ = patch_base_offset(&mut m, 5);
            let _ = patch_leader_epoch(&mut m, 5);
        }

        #[test]
        fn mutated_batches_never_panic(idx in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let mut b = sample();
            let n = b.len();
            b[idx % n] = byte;
            b.truncate(cut.min(n));
            let _ = validate(&b);
            if let Ok(it) = records(&b) {
                for r in it { let _ = r; }
            }
            // records() with a valid header but garbage records: skip the CRC.
            let mut c = sample();
            let n = c.len();
            c[HEADER_SIZE + (idx % (n - HEADER_SIZE))] = byte;
            if let Ok(it) = records(&c) {
                for r in it { let _ = r; }
            }
        }
    }
}
