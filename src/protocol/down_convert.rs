//! Down-conversion of stored record batches (v2) to the MessageSets of message
//! format v0 and v1 that Kafka 0.9/0.10 clients read (Fetch v0–1 → magic 0,
//! v2–3 → magic 1), as Kafka's `RecordsUtil.downConvert` does:
//!
//! - record headers are dropped, control batches skipped;
//! - an uncompressed batch becomes one message per record, only those at or
//!   after the fetch offset (some old clients rely on that);
//! - a compressed batch becomes one wrapper message compressed with the same
//!   codec, holding every record of the batch (old clients skip the ones below
//!   their fetch offset). The wrapper's offset is the last inner offset; with
//!   magic 1 the inner offsets are relative (0, 1, …) and the wrapper carries
//!   the largest timestamp (or the LogAppendTime) and its timestamp type;
//!   with magic 0 the inner offsets are absolute;
//! - zstd has no v0/v1 form: a zstd batch first in line is
//!   [`DownConvertError::UnsupportedCompression`] (UNSUPPORTED_COMPRESSION_TYPE),
//!   one later on ends the output before it, so the client reaches it on its
//!   next fetch and gets that error then.
//!
//! Codec framing is the one old Java clients read: snappy in xerial's stream
//! framing; lz4 as an LZ4 frame with independent 64 KiB blocks, and for magic 0
//! with the frame-descriptor checksum computed the way Kafka before 0.10 did
//! (over the magic number too, KAFKA-3160), since those clients check it.
//!
//! The output is bounded ([`Limits`]): it never exceeds `max_bytes` and stops
//! at a whole message, except that the first message may go out whole when the
//! caller says so (Fetch v3, KIP-74). When even the first message does not fit
//! and the caller asks for it (Fetch v0–2), the start of an oversized message is
//! sent instead — Kafka's "overflow" answer — which old clients report as a
//! record too large for their fetch size (or grow their fetch size on).
//!
//! Memory is proportional to the output plus one record: compressed records
//! are decompressed as a stream, each record read in bounded chunks (never
//! allocated from its declared length), and a wrapper's compressed bytes are
//! written into a buffer capped at what may still be sent. Pure: no I/O, never
//! panics on any input. The reverse direction (v0/v1 from Produce) lives in
//! `message_set.rs`.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::batch::{BatchHeader, BatchIter, Compression, HEADER_SIZE};
use super::message_set::{write_message, MESSAGE_OVERHEAD_V0, MESSAGE_OVERHEAD_V1};

/// Bytes before a message's own bytes: offset i64 + message size i32.
pub const LOG_OVERHEAD: usize = 12;
/// Attribute bit 3 of a v1 message: the timestamp is the broker's append time.
const ATTR_LOG_APPEND_TIME: u8 = 0x08;
/// Records are read in chunks of this size, whatever length they declare.
const READ_CHUNK: usize = 64 * 1024;
/// Raw bytes per xerial snappy block, as snappy-java writes them.
const SNAPPY_BLOCK: usize = 32 * 1024;
/// A snappy block cannot expand more than ~21×; a claim past this is corrupt.
const SNAPPY_MAX_EXPANSION: usize = 32;
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_SIZE: usize = 16;
/// Fewer bytes than any codec's stream framing takes.
const MIN_COMPRESSED: usize = 16;
/// LZ4 frame: magic 0x184D2204 (little-endian), FLG, BD, then the HC byte.
const LZ4_HC_AT: usize = 6;

/// The message format a Fetch version reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    V0,
    V1,
}

impl Magic {
    /// Fetch v0–1 read magic 0, v2–3 magic 1 (v4+ read record batches v2).
    pub fn for_fetch_version(version: i16) -> Magic {
        if version <= 1 {
            Magic::V0
        } else {
            Magic::V1
        }
    }

    fn byte(self) -> u8 {
        match self {
            Magic::V0 => 0,
            Magic::V1 => 1,
        }
    }

    fn overhead(self) -> usize {
        match self {
            Magic::V0 => MESSAGE_OVERHEAD_V0,
            Magic::V1 => MESSAGE_OVERHEAD_V1,
        }
    }
}

/// How much one partition's converted MessageSet may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of output.
    pub max_bytes: usize,
    /// The first message goes out whole even when larger than `max_bytes`
    /// (Fetch v3: the first partition with data, KIP-74).
    pub first_may_exceed: bool,
    /// When the first message does not fit, send the start of it (Fetch
    /// v0–2) so the client learns that its fetch size is too small.
    pub overflow_marker: bool,
    /// Most bytes the records of one compressed batch may decompress to.
    pub max_decompressed_bytes: u64,
}

/// Why a partition's records cannot be down-converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownConvertError {
    /// zstd (or an unknown codec id) has no message format v0/v1 form.
    #[error("down-conversion of {codec}-compressed batches to message format v{magic} is not supported")]
    UnsupportedCompression { codec: &'static str, magic: u8 },
    /// The stored batch at `offset` cannot be read.
    #[error("the record batch at offset {offset} cannot be down-converted: {reason}")]
    Corrupt { offset: i64, reason: String },
}

/// What converting one batch led to.
enum Flow {
    /// The batch is in the output (or had nothing to contribute).
    Next,
    /// The output is full: stop here.
    Full,
}

/// Converts the whole v2 batches in `batches` (a partial trailing batch is
/// ignored) to a MessageSet of `magic`, starting at `fetch_offset`, within
/// `limits`. An error is returned only when nothing could be converted before
/// it; otherwise the output ends before the batch that failed.
pub fn down_convert(
    batches: &[u8],
    fetch_offset: i64,
    magic: Magic,
    limits: &Limits,
) -> Result<Vec<u8>, DownConvertError> {
    let mut out = Vec::new();
    for (header, range) in BatchIter::new(batches) {
        if header.is_control() || header.last_offset() < fetch_offset {
            continue;
        }
        let batch = &batches[range];
        let step = match header.compression() {
            Compression::None => convert_plain(batch, &header, fetch_offset, magic, limits, &mut out),
            Compression::Zstd => Err(DownConvertError::UnsupportedCompression { codec: "zstd", magic: magic.byte() }),
            Compression::Unknown(_) => {
                Err(DownConvertError::UnsupportedCompression { codec: "unknown", magic: magic.byte() })
            }
            codec => convert_compressed(batch, &header, codec, magic, limits, &mut out),
        };
        match step {
            Ok(Flow::Next) => {}
            Ok(Flow::Full) => break,
            Err(err) if out.is_empty() => return Err(err),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// One message per record at or after `fetch_offset`.
fn convert_plain(
    batch: &[u8],
    header: &BatchHeader,
    fetch_offset: i64,
    magic: Magic,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<Flow, DownConvertError> {
    let body = batch.get(HEADER_SIZE..).unwrap_or(&[]);
    let mut records = RecordReader::new(body, header, u64::MAX);
    while let Some(r) = records.next_record()? {
        let offset = header.base_offset.saturating_add(i64::from(r.offset_delta));
        if offset < fetch_offset {
            continue;
        }
        let size = magic.overhead() + r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
        if out.len() + LOG_OVERHEAD + size > limits.max_bytes && !(out.is_empty() && limits.first_may_exceed) {
            if out.is_empty() && limits.overflow_marker {
                overflow_marker(out, offset, size, limits.max_bytes);
            }
            return Ok(Flow::Full);
        }
        let (attributes, timestamp) = timestamp_of(header, r.timestamp_delta, magic);
        write_message(out, offset, magic.byte() as i8, attributes, timestamp, r.key, r.value);
    }
    Ok(Flow::Next)
}

/// The attributes and timestamp of a record's message.
fn timestamp_of(header: &BatchHeader, timestamp_delta: i64, magic: Magic) -> (u8, i64) {
    match magic {
        Magic::V0 => (0, -1),
        Magic::V1 if header.timestamp_type_log_append() => (ATTR_LOG_APPEND_TIME, header.max_timestamp),
        Magic::V1 => (0, header.base_timestamp.saturating_add(timestamp_delta)),
    }
}

/// One wrapper message holding every record of the batch, compressed with `codec`.
fn convert_compressed(
    batch: &[u8],
    header: &BatchHeader,
    codec: Compression,
    magic: Magic,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<Flow, DownConvertError> {
    let corrupt = |reason: String| DownConvertError::Corrupt { offset: header.base_offset, reason };
    let unbounded = out.is_empty() && limits.first_may_exceed;
    let budget = if unbounded {
        usize::MAX
    } else {
        limits.max_bytes.saturating_sub(out.len() + LOG_OVERHEAD + magic.overhead())
    };
    let body = batch.get(HEADER_SIZE..).unwrap_or(&[]);
    let cap = limits.max_decompressed_bytes;
    let sink = Capped { buf: Vec::new(), cap: budget, full: false };
    let wrapper = match codec {
        // No compressed stream is this short (headers alone take 10–16 bytes).
        _ if budget < MIN_COMPRESSED => Ok(None),
        Compression::Gzip => {
            let src = BufReader::with_capacity(READ_CHUNK, flate2::bufread::MultiGzDecoder::new(body));
            let dst = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
            wrap(RecordReader::new(src, header, cap), dst, magic)
        }
        Compression::Snappy => {
            let src = BufReader::with_capacity(READ_CHUNK, SnappyReader::new(body));
            wrap(RecordReader::new(src, header, cap), XerialWriter::new(sink), magic)
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(body).map_err(|e| corrupt(e.to_string()))?;
            let src = BufReader::with_capacity(READ_CHUNK, decoder);
            let dst = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(sink)
                .map_err(|e| corrupt(e.to_string()))?;
            wrap(RecordReader::new(src, header, cap), Lz4Writer(dst), magic)
        }
        _ => return Err(corrupt("not a compressed batch".to_string())),
    }?;
    let Some(Wrapper { attributes, timestamp, last_offset, mut value }) = wrapper else {
        // Over budget: the wrapper cannot go out whole.
        if out.is_empty() && limits.overflow_marker {
            let claimed = limits.max_bytes.saturating_sub(LOG_OVERHEAD).saturating_add(1).max(magic.overhead());
            overflow_marker(out, header.base_offset, claimed, limits.max_bytes);
        }
        return Ok(Flow::Full);
    };
    if codec == Compression::Lz4 && magic == Magic::V0 {
        lz4_old_kafka_checksum(&mut value);
    }
    let codec_bits = match codec {
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        _ => 3,
    };
    write_message(out, last_offset, magic.byte() as i8, attributes | codec_bits, timestamp, None, Some(&value));
    Ok(Flow::Next)
}

/// A wrapper message before its codec bits and CRC.
struct Wrapper {
    /// The timestamp-type bit (magic 1).
    attributes: u8,
    timestamp: i64,
    /// The wrapper's offset: its last inner message's.
    last_offset: i64,
    /// The compressed inner messages.
    value: Vec<u8>,
}

/// Writes the inner messages of a wrapper into `dst`; `None` when the
/// compressed bytes outgrew the budget.
fn wrap<R: BufRead, W: Compressor>(
    mut records: RecordReader<R>,
    mut dst: W,
    magic: Magic,
) -> Result<Option<Wrapper>, DownConvertError> {
    let header = records.header;
    let corrupt = |reason: String| DownConvertError::Corrupt { offset: header.base_offset, reason };
    let mut first_offset = None;
    let mut last_offset = header.base_offset;
    let mut max_timestamp = -1i64;
    let mut message = Vec::new();
    while let Some(r) = records.next_record()? {
        let offset = header.base_offset.saturating_add(i64::from(r.offset_delta));
        let first = *first_offset.get_or_insert(offset);
        last_offset = offset;
        let (attributes, timestamp) = timestamp_of(&header, r.timestamp_delta, magic);
        max_timestamp = max_timestamp.max(timestamp);
        let inner_offset = match magic {
            Magic::V0 => offset,
            Magic::V1 => offset.saturating_sub(first),
        };
        message.clear();
        write_message(&mut message, inner_offset, magic.byte() as i8, attributes, timestamp, r.key, r.value);
        if let Err(e) = dst.write_all(&message) {
            return if dst.sink_full() { Ok(None) } else { Err(corrupt(e.to_string())) };
        }
    }
    let sink = match dst.finish() {
        Ok(sink) => sink,
        Err((e, full)) => return if full { Ok(None) } else { Err(corrupt(e.to_string())) },
    };
    let (attributes, timestamp) = match magic {
        Magic::V0 => (0, -1),
        Magic::V1 if header.timestamp_type_log_append() => (ATTR_LOG_APPEND_TIME, header.max_timestamp),
        Magic::V1 => (0, max_timestamp),
    };
    Ok(Some(Wrapper { attributes, timestamp, last_offset, value: sink.buf }))
}

/// Writes the start of a message too large for `max_bytes` (at most
/// `max_bytes` of it): its offset and a size that runs past the end. Clients
/// read that as a partial message, i.e. "your fetch size is too small".
fn overflow_marker(out: &mut Vec<u8>, offset: i64, size: usize, max_bytes: usize) {
    let mut marker = [0u8; LOG_OVERHEAD];
    marker[..8].copy_from_slice(&offset.to_be_bytes());
    marker[8..].copy_from_slice(&i32::try_from(size).unwrap_or(i32::MAX).to_be_bytes());
    out.extend_from_slice(&marker[..LOG_OVERHEAD.min(max_bytes)]);
}

/// One record of a v2 batch, borrowed from the reader's buffer.
struct RecordView<'a> {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

/// Reads the `recordsCount` records of one batch from its (decompressed)
/// records section, one record at a time.
struct RecordReader<R> {
    src: R,
    header: BatchHeader,
    left: i32,
    consumed: u64,
    cap: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> RecordReader<R> {
    fn new(src: R, header: &BatchHeader, cap: u64) -> Self {
        RecordReader { src, header: *header, left: header.records_count.max(0), consumed: 0, cap, buf: Vec::new() }
    }

    fn corrupt(&self, reason: impl Into<String>) -> DownConvertError {
        DownConvertError::Corrupt { offset: self.header.base_offset, reason: reason.into() }
    }

    fn byte(&mut self) -> Result<u8, DownConvertError> {
        let mut b = [0u8; 1];
        match self.src.read_exact(&mut b) {
            Ok(()) => Ok(b[0]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.corrupt("the records end early")),
            Err(e) => Err(self.corrupt(e.to_string())),
        }
    }

    /// A record's length varint.
    fn length(&mut self) -> Result<i64, DownConvertError> {
        let mut raw: u64 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(zigzag(raw));
            }
        }
        Err(self.corrupt("record size varint too long"))
    }

    fn next_record(&mut self) -> Result<Option<RecordView<'_>>, DownConvertError> {
        if self.left <= 0 {
            return Ok(None);
        }
        self.left -= 1;
        let length = self.length()?;
        let length = usize::try_from(length).map_err(|_| self.corrupt(format!("invalid record size {length}")))?;
        self.consumed = self.consumed.saturating_add(length as u64);
        if self.consumed > self.cap {
            return Err(self.corrupt(format!("the records decompress to more than {} bytes", self.cap)));
        }
        // Read in chunks: the buffer grows with the bytes that exist, not
        // with the length the record claims.
        self.buf.clear();
        while self.buf.len() < length {
            let start = self.buf.len();
            self.buf.resize(start + (length - start).min(READ_CHUNK), 0);
            let got = match self.src.read(&mut self.buf[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(self.corrupt(e.to_string())),
            };
            self.buf.truncate(start + got);
            if got == 0 {
                return Err(self.corrupt("a record runs past the end of its batch"));
            }
        }
        let offset = self.header.base_offset;
        parse_record(&self.buf)
            .map(Some)
            .map_err(|reason| DownConvertError::Corrupt { offset, reason: reason.to_string() })
    }
}

/// The fields of one record body (after its length): attributes, timestamp
/// delta, offset delta, key, value; headers are not read (they are dropped).
fn parse_record(body: &[u8]) -> Result<RecordView<'_>, &'static str> {
    let mut c = Cursor { body, pos: 0 };
    c.byte()?; // attributes
    let timestamp_delta = c.varlong()?;
    let offset_delta = i32::try_from(c.varlong()?).map_err(|_| "offset delta out of range")?;
    let key = c.bytes()?;
    let value = c.bytes()?;
    Ok(RecordView { timestamp_delta, offset_delta, key, value })
}

/// Reads the fields of one record body.
struct Cursor<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Result<u8, &'static str> {
        let b = *self.body.get(self.pos).ok_or("record fields run past its size")?;
        self.pos += 1;
        Ok(b)
    }

    fn varlong(&mut self) -> Result<i64, &'static str> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(zigzag(raw));
            }
        }
        Err("varint too long")
    }

    /// A varint-length byte field; length −1 is null.
    fn bytes(&mut self) -> Result<Option<&'a [u8]>, &'static str> {
        let len = self.varlong()?;
        if len < 0 {
            return Ok(None);
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&e| e <= self.body.len())
            .ok_or("a key or value runs past the record's size")?;
        let slice = &self.body[self.pos..end];
        self.pos = end;
        Ok(Some(slice))
    }
}

fn zigzag(raw: u64) -> i64 {
    (raw >> 1) as i64 ^ -((raw & 1) as i64)
}

/// The compressed bytes of a wrapper, refused past `cap`.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    full: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.cap {
            self.full = true;
            return Err(io::Error::other("the wrapper message outgrew the fetch size"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A compressing writer into a [`Capped`] sink.
trait Compressor {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    /// Whether a failed write was the sink being full.
    fn sink_full(&self) -> bool;
    /// The sink, or the error and whether it was the sink being full.
    fn finish(self) -> Result<Capped, (io::Error, bool)>;
}

impl Compressor for flate2::write::GzEncoder<Capped> {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        Write::write_all(self, data)
    }

    fn sink_full(&self) -> bool {
        self.get_ref().full
    }

    fn finish(self) -> Result<Capped, (io::Error, bool)> {
        // `try_finish` keeps the encoder, so the sink's state is readable on error.
        let mut this = self;
        match this.try_finish() {
            Ok(()) => this.finish().map_err(|e| (e, false)),
            Err(e) => {
                let full = this.get_ref().full;
                Err((e, full))
            }
        }
    }
}

struct Lz4Writer(lz4::Encoder<Capped>);

impl Compressor for Lz4Writer {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn sink_full(&self) -> bool {
        self.0.writer().full
    }

    fn finish(self) -> Result<Capped, (io::Error, bool)> {
        let (sink, result) = self.0.finish();
        match result {
            Ok(()) => Ok(sink),
            Err(e) => {
                let full = sink.full;
                Err((e, full))
            }
        }
    }
}

/// snappy-java's stream framing (what Java clients read): a 16-byte header,
/// then `i32 length | raw snappy block` per 32 KiB of input.
struct XerialWriter {
    sink: Capped,
    pending: Vec<u8>,
    header_written: bool,
}

impl XerialWriter {
    fn new(sink: Capped) -> Self {
        XerialWriter { sink, pending: Vec::with_capacity(SNAPPY_BLOCK), header_written: false }
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            let mut header = XERIAL_MAGIC.to_vec();
            header.extend_from_slice(&1i32.to_be_bytes()); // version
            header.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
            self.sink.write_all(&header)?;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = snap::raw::Encoder::new().compress_vec(&self.pending).map_err(io::Error::other)?;
        self.pending.clear();
        let len = i32::try_from(block.len()).map_err(io::Error::other)?;
        self.sink.write_all(&len.to_be_bytes())?;
        self.sink.write_all(&block)
    }
}

impl Compressor for XerialWriter {
    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (SNAPPY_BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == SNAPPY_BLOCK {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn sink_full(&self) -> bool {
        self.sink.full
    }

    fn finish(mut self) -> Result<Capped, (io::Error, bool)> {
        match self.flush_block() {
            Ok(()) => Ok(self.sink),
            Err(e) => Err((e, self.sink.full)),
        }
    }
}

/// Decompresses a snappy records section block by block: Java's xerial
/// framing, or one raw block as librdkafka writes it.
struct SnappyReader<'a> {
    rest: &'a [u8],
    framed: bool,
    block: Vec<u8>,
    pos: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(records: &'a [u8]) -> Self {
        let framed = records.len() >= XERIAL_HEADER_SIZE && records.starts_with(XERIAL_MAGIC);
        let rest = if framed { &records[XERIAL_HEADER_SIZE..] } else { records };
        SnappyReader { rest, framed, block: Vec::new(), pos: 0 }
    }

    /// Decompresses the next block into `self.block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let raw = if self.framed {
            let Some((len, tail)) = self.rest.split_first_chunk::<4>() else {
                return Err(io::Error::other("truncated snappy block length"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            let block = tail.get(..len).ok_or_else(|| io::Error::other("truncated snappy block"))?;
            self.rest = &tail[len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let claimed = snap::raw::decompress_len(raw).map_err(io::Error::other)?;
        if claimed > raw.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(io::Error::other("a snappy block claims a size no snappy block can have"));
        }
        self.block.resize(claimed, 0);
        let n = snap::raw::Decoder::new().decompress(raw, &mut self.block).map_err(io::Error::other)?;
        self.block.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Kafka before 0.10 computed the LZ4 frame-descriptor checksum over the
/// frame's magic number as well (KAFKA-3160); clients of magic 0 check it that
/// way, so a magic-0 wrapper carries it.
fn lz4_old_kafka_checksum(frame: &mut [u8]) {
    if frame.len() > LZ4_HC_AT {
        frame[LZ4_HC_AT] = (xxh32(&frame[..LZ4_HC_AT], 0) >> 8) as u8;
    }
}

/// xxHash32 (the checksum of LZ4 frames).
pub(crate) fn xxh32(input: &[u8], seed: u32) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let round = |acc: u32, lane: u32| acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(13).wrapping_mul(P1);
    let mut rest = input;
    let mut h = if input.len() >= 16 {
        let mut v = [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        while rest.len() >= 16 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, u32_at(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(input.len() as u32);
    while rest.len() >= 4 {
        h = h.wrapping_add(u32_at(rest).wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h.wrapping_add(u32::from(b).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{Compression as Codec, RecordBatchEncoder, RecordEncodeOptions};
    use proptest::prelude::*;

    /// A message as an old client sees it after unwrapping compressed wrappers.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Msg {
        offset: i64,
        /// `None` for magic 0.
        timestamp: Option<i64>,
        log_append: bool,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
    }

    type Input = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

    fn be_i32(b: &[u8]) -> i32 {
        i32::from_be_bytes(b[..4].try_into().unwrap())
    }

    fn be_i64(b: &[u8]) -> i64 {
        i64::from_be_bytes(b[..8].try_into().unwrap())
    }

    fn field(b: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
        let len = be_i32(&b[*pos..]);
        *pos += 4;
        if len < 0 {
            return None;
        }
        let v = b[*pos..*pos + len as usize].to_vec();
        *pos += len as usize;
        Some(v)
    }

    fn decompress(codec: u8, data: &[u8], magic: u8) -> Vec<u8> {
        let mut out = Vec::new();
        match codec {
            1 => {
                flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
            }
            2 => {
                assert!(data.starts_with(XERIAL_MAGIC), "snappy must be xerial-framed");
                assert_eq!(&data[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
                let mut rest = &data[16..];
                while !rest.is_empty() {
                    let len = be_i32(rest) as usize;
                    out.extend(snap::raw::Decoder::new().decompress_vec(&rest[4..4 + len]).unwrap());
                    rest = &rest[4 + len..];
                }
            }
            3 => {
                let mut frame = data.to_vec();
                let correct = (xxh32(&frame[4..6], 0) >> 8) as u8;
                let broken = (xxh32(&frame[..6], 0) >> 8) as u8;
                assert_eq!(frame[4] & 0x20, 0x20, "independent blocks");
                if magic == 0 {
                    assert_eq!(frame[6], broken, "magic 0 carries the pre-0.10 checksum");
                    frame[6] = correct;
                } else {
                    assert_eq!(frame[6], correct);
                }
                lz4::Decoder::new(&frame[..]).unwrap().read_to_end(&mut out).unwrap();
            }
            other => panic!("codec {other}"),
        }
        out
    }

    /// The test's own MessageSet reader: stops at a partial trailing message.
    fn decode(set: &[u8], magic: u8) -> Vec<Msg> {
        let mut out = Vec::new();
        let mut pos = 0;
        while set.len() - pos >= LOG_OVERHEAD {
            let offset = be_i64(&set[pos..]);
            let size = be_i32(&set[pos + 8..]) as usize;
            if set.len() - pos - LOG_OVERHEAD < size {
                break;
            }
            let m = &set[pos + LOG_OVERHEAD..pos + LOG_OVERHEAD + size];
            pos += LOG_OVERHEAD + size;
            let mut crc = flate2::Crc::new();
            crc.update(&m[4..]);
            assert_eq!(crc.sum(), u32::from_be_bytes(m[..4].try_into().unwrap()), "crc");
            assert_eq!(m[4], magic);
            let attributes = m[5];
            let mut p = 6;
            let timestamp = (magic == 1).then(|| {
                p += 8;
                be_i64(&m[6..])
            });
            let key = field(m, &mut p);
            let value = field(m, &mut p);
            assert_eq!(p, m.len(), "message size");
            let log_append = attributes & 0x08 != 0;
            match attributes & 0x07 {
                0 => out.push(Msg { offset, timestamp, log_append, key, value }),
                codec => {
                    assert!(key.is_none());
                    let inner = decode(&decompress(codec, &value.unwrap(), magic), magic);
                    let last = inner.last().unwrap().offset;
                    for mut msg in inner {
                        if magic == 1 {
                            msg.offset += offset - last;
                            assert_eq!(msg.log_append, log_append);
                        } else {
                            assert_eq!(last, offset, "v0 wrapper offset is the last inner offset");
                        }
                        out.push(msg);
                    }
                }
            }
        }
        out
    }

    fn codec_of(id: u8) -> Codec {
        match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            _ => Codec::Zstd,
        }
    }

    /// A v2 batch as a new client writes it, with headers on every record.
    fn batch(base: i64, codec: u8, records: &[Input]) -> Vec<u8> {
        let recs: Vec<_> = records
            .iter()
            .enumerate()
            .map(|(i, (k, v, ts))| {
                let mut r = super::super::batch::new_record(
                    k.clone().map(Bytes::from),
                    v.clone().map(Bytes::from),
                    vec![("h".to_string(), Some(Bytes::from_static(b"header")))],
                    *ts,
                );
                r.offset = base + i as i64;
                // The encoder batches records whose offset − sequence agree.
                r.sequence = i as i32;
                r
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &recs, &RecordEncodeOptions { version: 2, compression: codec_of(codec) })
            .unwrap();
        buf.to_vec()
    }

    /// Marks a batch LogAppendTime with `time` as its max timestamp.
    fn log_append(mut b: Vec<u8>, time: i64) -> Vec<u8> {
        b[22] |= 0x08;
        b[35..43].copy_from_slice(&time.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn control(base: i64) -> Vec<u8> {
        let mut b = batch(base, 0, &[(Some(vec![0, 0, 0, 0]), Some(vec![0; 6]), 5)]);
        b[22] |= 0x20;
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn expected(base: i64, records: &[Input], magic: Magic, from: usize) -> Vec<Msg> {
        records
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, (k, v, ts))| Msg {
                offset: base + i as i64,
                timestamp: (magic == Magic::V1).then_some(*ts),
                log_append: false,
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }

    fn roomy() -> Limits {
        Limits { max_bytes: 1 << 20, first_may_exceed: false, overflow_marker: true, max_decompressed_bytes: 1 << 26 }
    }

    fn sample() -> Vec<Input> {
        (0..5)
            .map(|i| {
                let key = (i != 2).then(|| format!("key-{i}").into_bytes());
                let value = (i != 3).then(|| format!("value-{i}-{}", "x".repeat(i * 7)).into_bytes());
                (key, value, 1_600_000_000_000 + i as i64 * 3)
            })
            .collect()
    }

    #[test]
    fn every_codec_converts_to_both_magics() {
        let records = sample();
        for codec in 0..4u8 {
            for magic in [Magic::V0, Magic::V1] {
                let b = batch(100, codec, &records);
                let out = down_convert(&b, 100, magic, &roomy()).unwrap();
                assert_eq!(decode(&out, magic.byte()), expected(100, &records, magic, 0), "codec {codec} {magic:?}");
            }
        }
    }

    #[test]
    fn fetch_from_the_middle_of_a_batch() {
        let records = sample();
        for magic in [Magic::V0, Magic::V1] {
            // Uncompressed: only the records at or after the fetch offset.
            let out = down_convert(&batch(10, 0, &records), 12, magic, &roomy()).unwrap();
            assert_eq!(decode(&out, magic.byte()), expected(10, &records, magic, 2));
            // Compressed: the whole batch in one wrapper; the client skips the rest.
            let out = down_convert(&batch(10, 1, &records), 12, magic, &roomy()).unwrap();
            assert_eq!(decode(&out, magic.byte()), expected(10, &records, magic, 0));
        }
    }

    #[test]
    fn v1_wrapper_has_relative_offsets_and_the_largest_timestamp() {
        let records = vec![(None, Some(b"a".to_vec()), 50), (None, Some(b"b".to_vec()), 90), (None, None, 70)];
        let out = down_convert(&batch(1000, 1, &records), 1000, Magic::V1, &roomy()).unwrap();
        assert_eq!(be_i64(&out), 1002, "wrapper offset is the last offset");
        assert_eq!(be_i64(&out[18..]), 90, "wrapper timestamp is the largest");
        assert_eq!(out[17], 1, "gzip, CreateTime");
        let inner = decompress(1, &out[12 + 4 + 1 + 1 + 8 + 4 + 4..], 1);
        assert_eq!(be_i64(&inner), 0, "first inner offset is relative");
    }

    #[test]
    fn log_append_time_is_carried_in_magic_1() {
        let records = sample();
        for codec in [0u8, 2] {
            let b = log_append(batch(0, codec, &records), 1_700_000_000_000);
            let got = decode(&down_convert(&b, 0, Magic::V1, &roomy()).unwrap(), 1);
            assert_eq!(got.len(), records.len());
            for m in got {
                assert!(m.log_append);
                assert_eq!(m.timestamp, Some(1_700_000_000_000));
            }
        }
    }

    #[test]
    fn control_batches_are_skipped_and_zstd_refused() {
        let records = sample();
        let mut log = control(0);
        log.extend(batch(1, 0, &records));
        let out = down_convert(&log, 0, Magic::V1, &roomy()).unwrap();
        assert_eq!(decode(&out, 1), expected(1, &records, Magic::V1, 0));

        let zstd = batch(0, 4, &records);
        assert!(matches!(
            down_convert(&zstd, 0, Magic::V1, &roomy()),
            Err(DownConvertError::UnsupportedCompression { codec: "zstd", magic: 1 })
        ));
        // After convertible data, a zstd batch ends the output before it.
        let mut log = batch(0, 0, &records);
        log.extend(batch(5, 4, &records));
        let out = down_convert(&log, 0, Magic::V0, &roomy()).unwrap();
        assert_eq!(decode(&out, 0), expected(0, &records, Magic::V0, 0));
    }

    #[test]
    fn output_stops_at_a_whole_message_within_the_limit() {
        let records: Vec<Input> = (0..10).map(|i| (None, Some(vec![b'v'; 20]), i)).collect();
        let b = batch(0, 0, &records);
        let one = LOG_OVERHEAD + MESSAGE_OVERHEAD_V1 + 20;
        for max_bytes in [one * 3, one * 3 + one - 1] {
            let limits = Limits { max_bytes, ..roomy() };
            let out = down_convert(&b, 0, Magic::V1, &limits).unwrap();
            assert_eq!(out.len(), one * 3);
            assert_eq!(decode(&out, 1).len(), 3);
        }
    }

    #[test]
    fn a_first_message_larger_than_the_limit() {
        // Incompressible, so that no codec shrinks it under the limit.
        let mut x = 12345u32;
        let big: Vec<u8> = (0..500)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let records: Vec<Input> = vec![(None, Some(big.clone()), 1), (None, Some(vec![8; 10]), 2)];
        for codec in [0u8, 3] {
            let b = batch(40, codec, &records);
            // Fetch v3, first partition: the first message goes out whole, alone.
            let v3 = Limits { max_bytes: 100, first_may_exceed: true, overflow_marker: false, ..roomy() };
            let out = down_convert(&b, 40, Magic::V1, &v3).unwrap();
            let got = decode(&out, 1);
            assert_eq!(got[0].value.as_deref(), Some(&big[..]), "codec {codec}");
            // Fetch v3, a later partition: nothing.
            let later = Limits { first_may_exceed: false, ..v3 };
            assert!(down_convert(&b, 40, Magic::V1, &later).unwrap().is_empty());
            // Fetch v0–2: the start of the message, which clients read as "too large".
            let old = Limits { max_bytes: 100, first_may_exceed: false, overflow_marker: true, ..roomy() };
            let out = down_convert(&b, 40, Magic::V0, &old).unwrap();
            assert_eq!(out.len(), LOG_OVERHEAD);
            assert!(be_i32(&out[8..]) as usize + LOG_OVERHEAD > 100);
            assert!(decode(&out, 0).is_empty());
            let tiny = Limits { max_bytes: 5, ..old };
            assert_eq!(down_convert(&b, 40, Magic::V0, &tiny).unwrap().len(), 5);
        }
    }

    #[test]
    fn xxh32_matches_reference_values() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 7), 0x57CF_D434);
        assert_eq!(xxh32(b"Nobody inspects the spammish repetition", 0), 0xE229_3B2F);
        let bytes: Vec<u8> = (0..40).collect();
        assert_eq!(xxh32(&bytes, 7), 0x443E_264C);
    }

    #[test]
    fn damaged_batches_are_errors_not_panics() {
        let records = sample();
        for codec in 0..4u8 {
            let mut b = batch(0, codec, &records);
            let n = b.len();
            b[n - 3] ^= 0xff;
            b.truncate(n - 1);
            // A partial batch is not converted at all.
            assert!(down_convert(&b, 0, Magic::V1, &roomy()).unwrap().is_empty());
            let mut b = batch(0, codec, &records);
            for byte in &mut b[HEADER_SIZE..HEADER_SIZE + 4] {
                *byte = 0xff;
            }
            let _ = down_convert(&b, 0, Magic::V1, &roomy());
        }
        // A record claiming a huge length reads only what is there.
        let mut b = batch(0, 0, &records);
        b[HEADER_SIZE] = 0xfe;
        b[HEADER_SIZE + 1] = 0xff;
        b[HEADER_SIZE + 2] = 0xff;
        b[HEADER_SIZE + 3] = 0x07;
        assert!(matches!(down_convert(&b, 0, Magic::V1, &roomy()), Err(DownConvertError::Corrupt { .. })));
    }

    fn input() -> impl Strategy<Value = Input> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            0i64..4_000_000_000_000,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn converted_messages_decode_to_the_records(
            batches in proptest::collection::vec((0u8..4, proptest::collection::vec(input(), 1..6)), 1..4),
            base in 0i64..1_000_000,
            skip in 0usize..8,
            v1 in any::<bool>(),
            max_bytes in prop_oneof![Just(usize::MAX), 0usize..3000],
            first_may_exceed in any::<bool>(),
        ) {
            let magic = if v1 { Magic::V1 } else { Magic::V0 };
            let mut log = Vec::new();
            let mut next = base;
            // Per batch: whether compressed, and its expected messages.
            let mut want: Vec<Vec<Msg>> = Vec::new();
            let fetch_offset = base + skip as i64;
            for (codec, records) in &batches {
                log.extend(batch(next, *codec, records));
                let last = next + records.len() as i64 - 1;
                if last >= fetch_offset {
                    let from = if *codec == 0 { (fetch_offset - next).max(0) as usize } else { 0 };
                    let msgs = expected(next, records, magic, from);
                    if *codec == 0 {
                        want.extend(msgs.into_iter().map(|m| vec![m]));
                    } else {
                        want.push(msgs);
                    }
                }
                next = last + 1;
            }
            let limits = Limits { max_bytes, first_may_exceed, overflow_marker: !first_may_exceed, ..roomy() };
            let out = down_convert(&log, fetch_offset, magic, &limits).unwrap();
            let got = decode(&out, magic.byte());
            // Whole messages (a wrapper is all of its batch), in order, a prefix of what is wanted.
            let mut units = 0;
            let mut at = 0;
            while at < got.len() {
                let unit = &want[units];
                prop_assert_eq!(&got[at..at + unit.len()], &unit[..]);
                at += unit.len();
                units += 1;
            }
            if max_bytes == usize::MAX {
                prop_assert_eq!(units, want.len());
            }
            if out.len() > max_bytes {
                prop_assert!(first_may_exceed && units == 1, "{} bytes over {}", out.len(), max_bytes);
            }
            if !want.is_empty() && got.is_empty() && !first_may_exceed {
                // Nothing fits: only the overflow marker, within the limit.
                prop_assert_eq!(out.len(), LOG_OVERHEAD.min(max_bytes));
            }
        }

        #[test]
        fn any_bytes_are_safe(data in proptest::collection::vec(any::<u8>(), 0..400), v1 in any::<bool>()) {
            let magic = if v1 { Magic::V1 } else { Magic::V0 };
            let _ = down_convert(&data, 0, magic, &roomy());
            // The same behind a valid-looking header.
            let b = super::super::batch::build_raw_batch(0, 0, 0, 0, 2, 3, &data);
            let _ = down_convert(&b, 0, magic, &roomy());
            for codec in 1i16..4 {
                let b = super::super::batch::build_raw_batch(0, codec, 0, 0, 2, 3, &data);
                let _ = down_convert(&b, 0, magic, &roomy());
            }
        }
    }
}
