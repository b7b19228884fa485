//! Record-level validation of a v2 record batch before a leader appends it,
//! as Kafka's log validator does: every record of the batch is walked — for a
//! compressed batch after decompressing it, with a cap on the decompressed
//! size — and the batch is refused unless each record follows the record
//! format and the batch holds exactly the records its header declares.
//!
//! Why: the batch CRC only proves the bytes arrived as the client sent them. A
//! client that encodes a bad record (a negative length, a length past the
//! batch) gets a CRC-valid batch; stored verbatim it stops every consumer at
//! that offset for good. Kafka refuses such a batch with INVALID_RECORD.
//!
//! Record layout (see `docs/protocol-notes.md` §2; varints are zigzag):
//! ```text
//! length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
//! headerCount varint | headers: keyLength varint (>= 0) | key (UTF-8)
//!                               valueLength varint (-1 = null) | value
//! ```
//!
//! Cheap by construction: an uncompressed batch is walked in place — lengths
//! are read, keys and values skipped, nothing is copied or allocated. A
//! compressed batch is streamed through its decompressor in bounded chunks
//! (snappy, whose blocks carry their decompressed size, into one buffer
//! bounded by the same cap). Pure: no I/O, never panics on any input. The
//! follower append path does not use this: followers trust the leader's
//! validated bytes.

use std::io::{BufRead, BufReader, Read};

use super::batch::{BatchHeader, Compression, HEADER_SIZE};

/// Read-ahead of the decompressed stream; the memory a compressed batch costs
/// on top of its decompressor's own state.
const STREAM_CHUNK: usize = 64 * 1024;

/// Largest zstd window (log2) accepted: 16 MiB. Kafka's clients compress with
/// windows of 2 MiB or less; a frame asking for more would make the broker
/// allocate that much before producing a byte.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// A snappy block cannot expand more than ~21× (a 3-byte copy tag yields at
/// most 64 bytes); a block whose preamble claims more is corrupt and is refused
/// before its buffer is allocated.
const SNAPPY_MAX_EXPANSION: usize = 32;

/// Java's (xerial) snappy stream: an 8-byte magic, then two i32 versions, then
/// blocks of `i32 length | raw snappy block`.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_SIZE: usize = 16;

/// The rules that depend on the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRules {
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub require_keys: bool,
    /// Most bytes a compressed batch's records may decompress to.
    pub max_decompressed_bytes: u64,
}

/// One record refused for a rule it breaks although it parses (Kafka's
/// `RecordError`, sent back in the Produce response's `record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// Position of the record in its batch, from 0.
    pub batch_index: i32,
    pub message: String,
}

/// What is wrong with one record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordProblem {
    #[error("Invalid record size {size}")]
    InvalidSize { size: i32 },
    #[error(
        "Invalid record size: expected {size} bytes in record payload, but instead the batch has only {remaining} \
         remaining bytes"
    )]
    SizeBeyondBatch { size: i32, remaining: usize },
    #[error("the records end inside the record's {field}")]
    Truncated { field: &'static str },
    #[error("the record's {field} is not a valid varint")]
    BadVarint { field: &'static str },
    #[error("the record's {field} runs past its declared size {size}")]
    Overrun { field: &'static str, size: i32 },
    #[error(
        "Inner record offset delta {found} does not match the expected {expected}: offset deltas must be 0, 1, 2, …"
    )]
    OffsetDelta { expected: i32, found: i32 },
    #[error("Invalid {field} length {length} (-1 means null; other negative lengths are invalid)")]
    NegativeLength { field: &'static str, length: i32 },
    #[error("Found invalid number of record headers {count}")]
    HeaderCount { count: i32 },
    #[error("Invalid negative header key size {length}")]
    NullHeaderKey { length: i32 },
    #[error("header key is not valid UTF-8")]
    HeaderKeyNotUtf8,
    #[error("Invalid record size: expected to read {size} bytes in record payload, but instead read {read}")]
    SizeMismatch { size: i32, read: usize },
}

/// Why the records of a batch are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The compressed records cannot be decompressed.
    #[error("Failed to decompress the {codec} records of the batch: {reason}")]
    Decompress { codec: &'static str, reason: String },
    /// The compressed records decompress to more than the broker accepts.
    #[error("The compressed records of the batch decompress to more than {limit} bytes")]
    DecompressedTooLarge { limit: u64 },
    /// Record `index` does not follow the record format (or breaks the
    /// offset-delta rule); Kafka stops at the first such record.
    #[error("Record {index} of the batch is invalid: {problem}")]
    Invalid { index: i32, problem: RecordProblem },
    /// The records run out before the header's `recordsCount`.
    #[error("The batch declares {declared} records but holds {found}")]
    MissingRecords { declared: i32, found: i32 },
    /// Bytes follow the last declared record.
    #[error("Incorrect declared batch size, records still remaining after the {declared} declared records")]
    TrailingBytes { declared: i32 },
    /// Records that parse but break a rule of the topic, every one of them.
    #[error(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three \
         errors at most: {}",
        .0.len(),
        first_three(.0)
    )]
    Rejected(Vec<RejectedRecord>),
}

fn first_three(records: &[RejectedRecord]) -> String {
    let shown: Vec<String> = records
        .iter()
        .take(3)
        .map(|r| format!("RecordError(batchIndex={}, message='{}')", r.batch_index, r.message))
        .collect();
    format!("[{}]", shown.join(", "))
}

/// Validates every record of the batch at the start of `batch`, whose header
/// `batch::validate` has already checked (CRC, counts, codec).
pub fn validate_records(batch: &[u8], header: &BatchHeader, rules: &RecordRules) -> Result<(), RecordsError> {
    let end = header.total_size().min(batch.len());
    let records = batch.get(HEADER_SIZE..end).unwrap_or(&[]);
    let limit = rules.max_decompressed_bytes;
    match header.compression() {
        Compression::None => walk(&mut SliceSource { buf: records, pos: 0 }, header, rules),
        Compression::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(records);
            walk(&mut StreamSource::new(decoder, limit, "gzip"), header, rules)
        }
        Compression::Snappy => {
            let plain = snappy_decompress(records, limit)?;
            walk(&mut SliceSource { buf: &plain, pos: 0 }, header, rules)
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(records).map_err(|e| decompress_error("lz4", &e))?;
            let mut src = StreamSource::new(decoder, limit, "lz4");
            walk(&mut src, header, rules)?;
            // A frame cut before its end mark reads as a clean end; only
            // `finish` tells.
            src.inner.into_inner().finish().1.map_err(|e| decompress_error("lz4", &e))
        }
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(records).map_err(|e| decompress_error("zstd", &e))?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| decompress_error("zstd", &e))?;
            walk(&mut StreamSource::new(decoder, limit, "zstd"), header, rules)
        }
        Compression::Unknown(codec) => {
            Err(RecordsError::Decompress { codec: "unknown", reason: format!("unknown compression codec {codec}") })
        }
    }
}

fn decompress_error(codec: &'static str, err: &dyn std::fmt::Display) -> RecordsError {
    RecordsError::Decompress { codec, reason: err.to_string() }
}

/// Decompresses a snappy records section (Java's framed stream, or one raw
/// block as some clients send) into one buffer of at most `limit` bytes.
pub(crate) fn snappy_decompress(records: &[u8], limit: u64) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    if records.len() >= XERIAL_HEADER_SIZE && records.starts_with(XERIAL_MAGIC) {
        let mut rest = &records[XERIAL_HEADER_SIZE..];
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(snappy_error("truncated block length"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            let block = tail.get(..len).ok_or_else(|| snappy_error("truncated block"))?;
            snappy_block(block, &mut out, limit)?;
            rest = &tail[len..];
        }
    } else {
        snappy_block(records, &mut out, limit)?;
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: u64) -> Result<(), RecordsError> {
    let claimed = snap::raw::decompress_len(block).map_err(|e| decompress_error("snappy", &e))?;
    if claimed > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(snappy_error("a block claims a decompressed size no snappy block can have"));
    }
    let start = out.len();
    if (start as u64).saturating_add(claimed as u64) > limit {
        return Err(RecordsError::DecompressedTooLarge { limit });
    }
    out.resize(start + claimed, 0);
    let written =
        snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(|e| decompress_error("snappy", &e))?;
    out.truncate(start + written);
    Ok(())
}

fn snappy_error(reason: &str) -> RecordsError {
    RecordsError::Decompress { codec: "snappy", reason: reason.to_string() }
}

/// The decompressed (or in-place) bytes of the records section.
trait Source {
    /// The next byte; `None` at the end of the records.
    fn byte(&mut self) -> Result<Option<u8>, RecordsError>;
    /// Skips up to `n` bytes; returns how many there were.
    fn skip(&mut self, n: usize) -> Result<usize, RecordsError>;
    /// Whether the next `n` bytes are valid UTF-8; `None` if fewer remain.
    fn utf8(&mut self, n: usize) -> Result<Option<bool>, RecordsError>;
    /// Bytes left, when known without decompressing further.
    fn remaining(&self) -> Option<usize>;
    fn at_end(&mut self) -> Result<bool, RecordsError>;
}

struct SliceSource<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Source for SliceSource<'_> {
    #[inline]
    fn byte(&mut self) -> Result<Option<u8>, RecordsError> {
        let b = self.buf.get(self.pos).copied();
        self.pos += usize::from(b.is_some());
        Ok(b)
    }

    #[inline]
    fn skip(&mut self, n: usize) -> Result<usize, RecordsError> {
        let n = n.min(self.buf.len() - self.pos);
        self.pos += n;
        Ok(n)
    }

    fn utf8(&mut self, n: usize) -> Result<Option<bool>, RecordsError> {
        let Some(bytes) = self.buf.get(self.pos..self.pos.saturating_add(n)) else {
            return Ok(None);
        };
        self.pos += n;
        Ok(Some(std::str::from_utf8(bytes).is_ok()))
    }

    #[inline]
    fn remaining(&self) -> Option<usize> {
        Some(self.buf.len() - self.pos)
    }

    #[inline]
    fn at_end(&mut self) -> Result<bool, RecordsError> {
        Ok(self.pos == self.buf.len())
    }
}

/// A decompressor read in chunks, counting what it yields against the cap.
struct StreamSource<R: Read> {
    inner: BufReader<R>,
    consumed: u64,
    limit: u64,
    codec: &'static str,
    /// Holds one header key at a time for the UTF-8 check.
    scratch: Vec<u8>,
}

impl<R: Read> StreamSource<R> {
    fn new(decoder: R, limit: u64, codec: &'static str) -> Self {
        StreamSource {
            inner: BufReader::with_capacity(STREAM_CHUNK, decoder),
            consumed: 0,
            limit,
            codec,
            scratch: Vec::new(),
        }
    }

    fn fill(&mut self) -> Result<&[u8], RecordsError> {
        let codec = self.codec;
        self.inner.fill_buf().map_err(|e| decompress_error(codec, &e))
    }

    fn count(&mut self, n: usize) -> Result<(), RecordsError> {
        self.consumed = self.consumed.saturating_add(n as u64);
        if self.consumed > self.limit {
            return Err(RecordsError::DecompressedTooLarge { limit: self.limit });
        }
        Ok(())
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn byte(&mut self) -> Result<Option<u8>, RecordsError> {
        let Some(&b) = self.fill()?.first() else {
            return Ok(None);
        };
        self.inner.consume(1);
        self.count(1)?;
        Ok(Some(b))
    }

    fn skip(&mut self, n: usize) -> Result<usize, RecordsError> {
        let mut left = n;
        while left > 0 {
            let available = self.fill()?.len();
            if available == 0 {
                break;
            }
            let take = available.min(left);
            self.inner.consume(take);
            self.count(take)?;
            left -= take;
        }
        Ok(n - left)
    }

    fn utf8(&mut self, n: usize) -> Result<Option<bool>, RecordsError> {
        // Never read past the cap, whatever length the record claims.
        let allowed = self.limit.saturating_sub(self.consumed).saturating_add(1);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let read = (&mut self.inner).take((n as u64).min(allowed)).read_to_end(&mut scratch);
        let result = match read {
            Ok(got) => self.count(got).map(|()| (got == n).then(|| std::str::from_utf8(&scratch).is_ok())),
            Err(e) => Err(decompress_error(self.codec, &e)),
        };
        self.scratch = scratch;
        result
    }

    fn remaining(&self) -> Option<usize> {
        None
    }

    fn at_end(&mut self) -> Result<bool, RecordsError> {
        Ok(self.fill()?.is_empty())
    }
}

/// Walks the records of one batch from `src`.
fn walk<S: Source>(src: &mut S, header: &BatchHeader, rules: &RecordRules) -> Result<(), RecordsError> {
    let declared = header.records_count;
    let mut rejected = Vec::new();
    for index in 0..declared {
        if src.at_end()? {
            return Err(RecordsError::MissingRecords { declared, found: index });
        }
        let has_key = record(src, index).map_err(|e| match e {
            Stop::Problem(problem) => RecordsError::Invalid { index, problem },
            Stop::Source(e) => e,
        })?;
        if rules.require_keys && !has_key {
            rejected.push(RejectedRecord {
                batch_index: index,
                message: "Compacted topic cannot accept message without key".to_string(),
            });
        }
    }
    if !src.at_end()? {
        return Err(RecordsError::TrailingBytes { declared });
    }
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(RecordsError::Rejected(rejected))
    }
}

/// Why a record walk stopped: the record is bad, or the source failed.
enum Stop {
    Problem(RecordProblem),
    Source(RecordsError),
}

impl From<RecordsError> for Stop {
    fn from(e: RecordsError) -> Self {
        Stop::Source(e)
    }
}

impl From<RecordProblem> for Stop {
    fn from(p: RecordProblem) -> Self {
        Stop::Problem(p)
    }
}

/// The raw (still zigzag-encoded) value of a varint of at most `max_bytes`
/// bytes; bits beyond 64 are refused rather than dropped.
#[inline]
fn raw_varint(mut next: impl FnMut() -> Result<u8, Stop>, max_bytes: u32, field: &'static str) -> Result<u64, Stop> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let b = next()?;
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return Err(RecordProblem::BadVarint { field }.into());
        }
        raw |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(raw);
        }
    }
    Err(RecordProblem::BadVarint { field }.into())
}

fn zigzag(raw: u64) -> i64 {
    (raw >> 1) as i64 ^ -((raw & 1) as i64)
}

/// A varint (i32): at most 5 bytes carrying at most 32 bits, as Kafka reads them.
#[inline]
fn varint32(next: impl FnMut() -> Result<u8, Stop>, field: &'static str) -> Result<i32, Stop> {
    let raw = raw_varint(next, 5, field)?;
    let raw = u32::try_from(raw).map_err(|_| Stop::Problem(RecordProblem::BadVarint { field }))?;
    // The zigzag value of 32 bits always fits i32.
    Ok(zigzag(u64::from(raw)) as i32)
}

/// One record's fields, bounded by its declared size.
struct RecordCursor<'s, S> {
    src: &'s mut S,
    size: i32,
    left: usize,
}

impl<S: Source> RecordCursor<'_, S> {
    #[inline]
    fn byte(&mut self, field: &'static str) -> Result<u8, Stop> {
        if self.left == 0 {
            return Err(RecordProblem::Overrun { field, size: self.size }.into());
        }
        self.left -= 1;
        self.src.byte()?.ok_or(Stop::Problem(RecordProblem::Truncated { field }))
    }

    #[inline]
    fn varint(&mut self, field: &'static str) -> Result<i32, Stop> {
        varint32(|| self.byte(field), field)
    }

    #[inline]
    fn varlong(&mut self, field: &'static str) -> Result<i64, Stop> {
        raw_varint(|| self.byte(field), 10, field).map(zigzag)
    }

    fn skip(&mut self, n: usize, field: &'static str) -> Result<(), Stop> {
        if n > self.left {
            return Err(RecordProblem::Overrun { field, size: self.size }.into());
        }
        self.left -= n;
        if self.src.skip(n)? < n {
            return Err(RecordProblem::Truncated { field }.into());
        }
        Ok(())
    }

    /// A nullable byte field; returns whether it is non-null.
    fn bytes(&mut self, field: &'static str) -> Result<bool, Stop> {
        let length = self.varint(field)?;
        match usize::try_from(length) {
            Ok(n) => self.skip(n, field).map(|()| true),
            Err(_) if length == -1 => Ok(false),
            Err(_) => Err(RecordProblem::NegativeLength { field, length }.into()),
        }
    }
}

/// Checks one record; returns whether it has a key.
fn record<S: Source>(src: &mut S, index: i32) -> Result<bool, Stop> {
    let size = varint32(|| src.byte()?.ok_or(Stop::Problem(RecordProblem::Truncated { field: "size" })), "size")?;
    let Ok(len) = usize::try_from(size) else {
        return Err(RecordProblem::InvalidSize { size }.into());
    };
    if len == 0 {
        return Err(RecordProblem::InvalidSize { size }.into());
    }
    if let Some(remaining) = src.remaining().filter(|&r| r < len) {
        return Err(RecordProblem::SizeBeyondBatch { size, remaining }.into());
    }
    let mut r = RecordCursor { src, size, left: len };
    r.byte("attributes")?;
    r.varlong("timestamp delta")?;
    let offset_delta = r.varint("offset delta")?;
    if offset_delta != index {
        return Err(RecordProblem::OffsetDelta { expected: index, found: offset_delta }.into());
    }
    let has_key = r.bytes("key")?;
    r.bytes("value")?;
    let count = r.varint("header count")?;
    // Each header takes at least two bytes: refuse an impossible count at once.
    if count < 0 || count as usize > r.left {
        return Err(RecordProblem::HeaderCount { count }.into());
    }
    for _ in 0..count {
        let length = r.varint("header key length")?;
        let Ok(n) = usize::try_from(length) else {
            return Err(RecordProblem::NullHeaderKey { length }.into());
        };
        if n > r.left {
            return Err(RecordProblem::Overrun { field: "header key", size }.into());
        }
        r.left -= n;
        match r.src.utf8(n)? {
            None => return Err(RecordProblem::Truncated { field: "header key" }.into()),
            Some(false) => return Err(RecordProblem::HeaderKeyNotUtf8.into()),
            Some(true) => {}
        }
        r.bytes("header value")?;
    }
    if r.left != 0 {
        return Err(RecordProblem::SizeMismatch { size, read: len - r.left }.into());
    }
    Ok(has_key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::protocol::batch::{self, build_raw_batch, write_varlong};
    use proptest::prelude::*;

    const RULES: RecordRules = RecordRules { require_keys: false, max_decompressed_bytes: 1 << 20 };
    const GZIP: i16 = 1;
    const SNAPPY: i16 = 2;
    const LZ4: i16 = 3;
    const ZSTD: i16 = 4;
    const CODECS: [i16; 4] = [GZIP, SNAPPY, LZ4, ZSTD];

    /// A nullable field: its length (any value, for bad lengths) and bytes.
    fn field(out: &mut Vec<u8>, len: i64, bytes: &[u8]) {
        write_varlong(out, len);
        out.extend_from_slice(bytes);
    }

    fn opt(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
        match bytes {
            None => field(out, -1, b""),
            Some(b) => field(out, b.len() as i64, b),
        }
    }

    /// A record body (no length prefix) with the given offset delta, key, value and headers.
    fn body(
        offset_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Vec<u8> {
        let mut out = vec![0]; // attributes
        write_varlong(&mut out, 7); // timestamp delta
        write_varlong(&mut out, offset_delta);
        opt(&mut out, key);
        opt(&mut out, value);
        write_varlong(&mut out, headers.len() as i64);
        for (k, v) in headers {
            field(&mut out, k.len() as i64, k);
            opt(&mut out, *v);
        }
        out
    }

    /// `body` with its length prefix.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(body);
        out
    }

    fn rec(offset_delta: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        framed(&body(offset_delta, key, value, &[]))
    }

    fn batch_of(attributes: i16, count: i32, records: &[u8]) -> Vec<u8> {
        build_raw_batch(0, attributes, 1000, 1007, count - 1, count, records)
    }

    fn check_with(b: &[u8], rules: &RecordRules) -> Result<(), RecordsError> {
        let header = batch::validate_one(b).unwrap();
        validate_records(b, &header, rules)
    }

    fn check(b: &[u8]) -> Result<(), RecordsError> {
        check_with(b, &RULES)
    }

    fn problem(b: &[u8]) -> (i32, RecordProblem) {
        match check(b) {
            Err(RecordsError::Invalid { index, problem }) => (index, problem),
            other => panic!("expected an invalid record, got {other:?}"),
        }
    }

    fn compress(codec: i16, plain: &[u8]) -> Vec<u8> {
        match codec {
            GZIP => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(plain).unwrap();
                e.finish().unwrap()
            }
            SNAPPY => {
                // Java's framing, in 32 KiB blocks as its producer writes them.
                let mut out = XERIAL_MAGIC.to_vec();
                out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
                for chunk in plain.chunks(32 * 1024) {
                    let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                out
            }
            LZ4 => {
                let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                e.write_all(plain).unwrap();
                let (out, result) = e.finish();
                result.unwrap();
                out
            }
            ZSTD => zstd::encode_all(plain, 3).unwrap(),
            _ => unreachable!(),
        }
    }

    fn encoded(compression: kafka_protocol::records::Compression) -> Vec<u8> {
        let records: Vec<_> = (0..5)
            .map(|i| {
                let mut r = batch::new_record(
                    (i % 2 == 0).then(|| bytes::Bytes::from(format!("k{i}"))),
                    (i != 3).then(|| bytes::Bytes::from(vec![b'v'; 100 * i as usize])),
                    vec![("h".to_string(), Some(bytes::Bytes::from_static(b"x"))), ("n".to_string(), None)],
                    1000 + i,
                );
                r.offset = i;
                r
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        kafka_protocol::records::RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &kafka_protocol::records::RecordEncodeOptions { version: 2, compression },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn batches_from_real_encoders_pass() {
        use kafka_protocol::records::Compression as C;
        for c in [C::None, C::Gzip, C::Snappy, C::Lz4, C::Zstd] {
            assert_eq!(check(&encoded(c)), Ok(()), "{c:?}");
        }
        let plain = batch::build_batch(0, &[(Some(b"k"), Some(b"v"), 1), (None, None, 2)]);
        assert_eq!(check(&plain), Ok(()));
        let mut records = rec(0, Some(b"k"), Some(b"v"));
        records.extend(framed(&body(1, None, Some(b""), &[(b"", None), (b"key", Some(b"val"))])));
        for codec in CODECS {
            assert_eq!(check(&batch_of(codec, 2, &compress(codec, &records))), Ok(()), "codec {codec}");
        }
    }

    /// The reported defect: a record length of `ff ff ff ff 0f` (i32::MIN).
    #[test]
    fn negative_record_size() {
        let mut records = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        records.extend_from_slice(&body(0, None, Some(b"v"), &[]));
        assert_eq!(problem(&batch_of(0, 1, &records)), (0, RecordProblem::InvalidSize { size: i32::MIN }));
        let mut second = rec(0, None, Some(b"ok"));
        second.extend_from_slice(&[0x01, 0x00]); // size -1
        assert_eq!(problem(&batch_of(0, 2, &second)), (1, RecordProblem::InvalidSize { size: -1 }));
        assert_eq!(problem(&batch_of(0, 1, &[0x00])).1, RecordProblem::InvalidSize { size: 0 });
    }

    #[test]
    fn bad_varints() {
        // Six bytes for a varint (i32): Kafka reads at most five.
        let mut b = vec![0, 0];
        b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, RecordProblem::BadVarint { field: "offset delta" });
        // Five bytes carrying more than 32 bits.
        let mut b = vec![0, 0];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, RecordProblem::BadVarint { field: "offset delta" });
        // An eleven-byte varlong timestamp delta.
        let mut b = vec![0];
        b.extend_from_slice(&[0x80; 10]);
        b.push(0);
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, RecordProblem::BadVarint { field: "timestamp delta" });
        // A size varint cut by the end of the batch.
        assert_eq!(problem(&batch_of(0, 1, &[0x80, 0x80])).1, RecordProblem::Truncated { field: "size" });
    }

    #[test]
    fn truncated_records() {
        let full = rec(0, Some(b"key"), Some(b"value"));
        // The size claims more than the batch holds.
        let cut = &full[..full.len() - 2];
        assert_eq!(
            problem(&batch_of(0, 1, cut)).1,
            RecordProblem::SizeBeyondBatch { size: (full.len() - 1) as i32, remaining: full.len() - 3 }
        );
        // The size is honest but the fields run past it.
        let b = body(0, Some(b"key"), Some(b"value"), &[]);
        let short = framed(&b[..b.len() - 3]);
        assert_eq!(
            problem(&batch_of(0, 1, &short)).1,
            RecordProblem::Overrun { field: "value", size: (b.len() - 3) as i32 }
        );
        let tiny = framed(&[0, 2]);
        assert_eq!(problem(&batch_of(0, 1, &tiny)).1, RecordProblem::Overrun { field: "offset delta", size: 2 });
    }

    #[test]
    fn trailing_bytes() {
        // Inside a record: the fields end before its declared size.
        let mut b = body(0, None, Some(b"v"), &[]);
        b.extend_from_slice(b"xx");
        let size = b.len() as i32;
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, RecordProblem::SizeMismatch { size, read: b.len() - 2 });
        // After the last declared record.
        let mut records = rec(0, None, Some(b"v"));
        records.push(0);
        assert_eq!(check(&batch_of(0, 1, &records)), Err(RecordsError::TrailingBytes { declared: 1 }));
        for codec in CODECS {
            let err = check(&batch_of(codec, 1, &compress(codec, &records)));
            assert_eq!(err, Err(RecordsError::TrailingBytes { declared: 1 }), "codec {codec}");
        }
    }

    #[test]
    fn wrong_record_count() {
        let mut two = rec(0, None, Some(b"a"));
        two.extend(rec(1, None, Some(b"b")));
        assert_eq!(check(&batch_of(0, 3, &two)), Err(RecordsError::MissingRecords { declared: 3, found: 2 }));
        assert_eq!(check(&batch_of(0, 1, &two)), Err(RecordsError::TrailingBytes { declared: 1 }));
        assert_eq!(check(&batch_of(0, 2, &two)), Ok(()));
        let gz = compress(GZIP, &two);
        assert_eq!(check(&batch_of(GZIP, 3, &gz)), Err(RecordsError::MissingRecords { declared: 3, found: 2 }));
    }

    #[test]
    fn offset_deltas_must_count_up_from_zero() {
        let mut records = rec(0, None, Some(b"a"));
        records.extend(rec(2, None, Some(b"b")));
        assert_eq!(problem(&batch_of(0, 2, &records)), (1, RecordProblem::OffsetDelta { expected: 1, found: 2 }));
        let first = rec(1, None, Some(b"a"));
        assert_eq!(problem(&batch_of(0, 1, &first)), (0, RecordProblem::OffsetDelta { expected: 0, found: 1 }));
        let mut repeated = rec(0, None, Some(b"a"));
        repeated.extend(rec(0, None, Some(b"b")));
        let zs = batch_of(ZSTD, 2, &compress(ZSTD, &repeated));
        assert!(matches!(
            check(&zs),
            Err(RecordsError::Invalid { index: 1, problem: RecordProblem::OffsetDelta { .. } })
        ));
    }

    #[test]
    fn negative_lengths_other_than_null() {
        let mut b = vec![0, 0, 0];
        field(&mut b, -2, b"");
        opt(&mut b, Some(b"v"));
        b.push(0);
        let want = RecordProblem::NegativeLength { field: "key", length: -2 };
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, want);
        let mut b = vec![0, 0, 0];
        opt(&mut b, None);
        field(&mut b, -7, b"");
        b.push(0);
        let want = RecordProblem::NegativeLength { field: "value", length: -7 };
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, want);
        // A header value may be null, but not -3.
        let mut b = body(0, None, None, &[]);
        b.pop();
        b.push(2); // one header
        field(&mut b, 1, b"h");
        field(&mut b, -3, b"");
        let want = RecordProblem::NegativeLength { field: "header value", length: -3 };
        assert_eq!(problem(&batch_of(0, 1, &framed(&b))).1, want);
    }

    #[test]
    fn header_rules() {
        let headerless = body(0, None, Some(b"v"), &[]);
        let with = |tail: &[u8]| {
            let mut b = headerless[..headerless.len() - 1].to_vec();
            b.extend_from_slice(tail);
            batch_of(0, 1, &framed(&b))
        };
        // Null header key (length -1, zigzag 0x01).
        assert_eq!(problem(&with(&[0x02, 0x01, 0x01])).1, RecordProblem::NullHeaderKey { length: -1 });
        // Negative header count, and a count beyond the record.
        assert_eq!(problem(&with(&[0x03])).1, RecordProblem::HeaderCount { count: -2 });
        assert_eq!(problem(&with(&[0x40])).1, RecordProblem::HeaderCount { count: 32 });
        // A header key that is not UTF-8.
        assert_eq!(problem(&with(&[0x02, 0x02, 0xff, 0x01])).1, RecordProblem::HeaderKeyNotUtf8);
        let mut b = headerless[..headerless.len() - 1].to_vec();
        b.extend_from_slice(&[0x02, 0x02, 0xc3]);
        let records = framed(&b);
        for codec in CODECS {
            let err = check(&batch_of(codec, 1, &compress(codec, &records)));
            assert!(matches!(err, Err(RecordsError::Invalid { index: 0, .. })), "codec {codec}: {err:?}");
        }
    }

    #[test]
    fn compacted_topics_need_keys() {
        let rules = RecordRules { require_keys: true, ..RULES };
        let mut records = rec(0, Some(b"k"), Some(b"a"));
        records.extend(rec(1, None, Some(b"b")));
        records.extend(rec(2, None, None));
        let err = check_with(&batch_of(0, 3, &records), &rules).unwrap_err();
        let RecordsError::Rejected(rejected) = &err else { panic!("{err:?}") };
        assert_eq!(rejected.iter().map(|r| r.batch_index).collect::<Vec<_>>(), vec![1, 2]);
        assert!(err.to_string().starts_with("One or more records have been rejected due to 2 record errors"), "{err}");
        assert!(err.to_string().contains("RecordError(batchIndex=1, message='Compacted topic cannot accept"), "{err}");
        assert_eq!(check(&batch_of(0, 3, &records)), Ok(()));
    }

    #[test]
    fn compressed_batch_with_a_corrupt_record_inside() {
        let mut records = rec(0, Some(b"k"), Some(b"v"));
        records.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        records.extend_from_slice(&body(1, None, Some(b"v"), &[]));
        for codec in CODECS {
            let err = check(&batch_of(codec, 2, &compress(codec, &records)));
            let want = Err(RecordsError::Invalid { index: 1, problem: RecordProblem::InvalidSize { size: i32::MIN } });
            assert_eq!(err, want, "codec {codec}");
        }
    }

    #[test]
    fn payload_that_fails_to_decompress() {
        let records = rec(0, None, Some(b"value"));
        for codec in CODECS {
            let garbage = batch_of(codec, 1, b"\x00\x01 not compressed at all \xff\xfe");
            assert!(matches!(check(&garbage), Err(RecordsError::Decompress { .. })), "codec {codec}");
            // A valid stream cut short.
            let mut cut = compress(codec, &records);
            cut.truncate(cut.len() - 3);
            let err = check(&batch_of(codec, 1, &cut));
            assert!(
                matches!(err, Err(RecordsError::Decompress { .. }) | Err(RecordsError::MissingRecords { .. })),
                "codec {codec}: {err:?}"
            );
        }
        // gzip: one flipped byte in the deflate data fails the stream's CRC or its decoding.
        let mut gz = compress(GZIP, &records);
        gz[12] ^= 0x55;
        let err = check(&batch_of(GZIP, 1, &gz));
        assert!(err.is_err(), "{err:?}");
    }

    #[test]
    fn decompression_is_capped() {
        // One record whose 4 MiB value of zeros compresses to a few KiB.
        let value = vec![0u8; 4 << 20];
        let records = rec(0, None, Some(&value));
        let rules = RecordRules { require_keys: false, max_decompressed_bytes: 1 << 20 };
        let roomy = RecordRules { max_decompressed_bytes: 8 << 20, ..rules };
        for codec in CODECS {
            let b = batch_of(codec, 1, &compress(codec, &records));
            assert!(b.len() < 1 << 20, "codec {codec} compressed to {}", b.len());
            assert_eq!(check_with(&b, &rules), Err(RecordsError::DecompressedTooLarge { limit: 1 << 20 }), "{codec}");
            assert_eq!(check_with(&b, &roomy), Ok(()), "codec {codec}");
        }
        // A raw snappy block whose preamble claims 2 GiB is refused before allocating.
        let mut claim = Vec::new();
        claim.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
        claim.extend_from_slice(&[0; 8]);
        let huge = RecordRules { max_decompressed_bytes: u64::MAX, ..rules };
        assert!(matches!(check_with(&batch_of(SNAPPY, 1, &claim), &huge), Err(RecordsError::Decompress { .. })));
    }

    /// Cost of the record walk next to the CRC check the broker already did,
    /// on 1,000 batches of 1,000 records of 100 B (1M records). A measurement,
    /// not a test of speed: run it in a release build,
    /// `cargo test --release --lib measure_record_validation -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing measurement; run in release with --ignored --nocapture"]
    fn measure_record_validation() {
        use std::hint::black_box;
        use std::time::Instant;
        let value = [b'x'; 100];
        let recs: Vec<batch::TestRecord<'_>> = (0..1000).map(|i| (None, Some(&value[..]), 1000 + i)).collect();
        let plain = batch::build_batch(0, &recs);
        let header = batch::validate_one(&plain).unwrap();
        let mut records = Vec::new();
        for i in 0..1000 {
            records.extend(rec(i, None, Some(&value)));
        }
        let lz4 = batch_of(LZ4, 1000, &compress(LZ4, &records));
        let lz4_header = batch::validate_one(&lz4).unwrap();
        let time = |name: &str, f: &dyn Fn()| {
            f();
            let start = Instant::now();
            for _ in 0..1000 {
                f();
            }
            let spent = start.elapsed();
            println!(
                "{name:<40} {:>8.1} ms per 1M records ({:.1} ns/record)",
                spent.as_secs_f64() * 1e3,
                spent.as_nanos() as f64 / 1e6
            );
        };
        time("header + CRC-32C (batch::validate)", &|| assert!(batch::validate(black_box(&plain)).is_ok()));
        time("record walk, uncompressed", &|| {
            assert!(validate_records(black_box(&plain), &header, &RULES).is_ok());
        });
        time("record walk, lz4 (decompress + walk)", &|| {
            assert!(validate_records(black_box(&lz4), &lz4_header, &RULES).is_ok());
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn mutated_records_never_panic(idx in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
            let mut records = rec(0, Some(b"key"), Some(b"value"));
            records.extend(framed(&body(1, None, Some(&[7; 40]), &[(b"h", Some(b"x")), (b"n", None)])));
            let n = records.len();
            records[idx % n] = byte;
            records.truncate(cut.min(n));
            let _ = check(&batch_of(0, 2, &records));
            for codec in CODECS {
                let mut c = compress(codec, &records);
                let m = c.len();
                c[idx % m] = byte;
                let _ = check(&batch_of(codec, 2, &c));
                let _ = check(&batch_of(codec, 2, &c[..cut.min(m)]));
            }
        }
    }
}
