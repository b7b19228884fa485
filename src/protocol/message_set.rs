//! The message formats before record batches — magic 0 (Kafka 0.8/0.9) and
//! magic 1 (0.10, with timestamps) — as Produce v0–2 carry them: decoded,
//! validated as Kafka's log validator does, and **up-converted** to one record
//! batch v2, the only format the log stores. Owns the v0/v1 layout, its CRC,
//! the wrapper (compressed) messages and the conversion; it must not touch
//! broker state, sockets or files (`broker::handler::produce_v0` feeds it).
//!
//! Layout (big-endian):
//! ```text
//! MessageSet = (offset i64 | message_size i32 | message)*
//! message    = crc u32 (CRC-32 IEEE of magic..end) | magic i8 | attributes i8
//!              | timestamp i64 (magic 1 only) | key bytes | value bytes
//! bytes      = length i32 (-1 = null) | data
//! attributes: bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4);
//!             bit 3 (magic 1) timestamp type, 1 = LogAppendTime
//! ```
//! A compressed message is a *wrapper*: its value is a whole message set,
//! compressed; magic 1 inner offsets are relative (0..n-1) and the wrapper's
//! offset is the last of them. Kafka's rules for a produced set, kept here:
//! every shallow message has the first one's magic; a wrapper is the only
//! message of its set; inner messages carry the wrapper's magic, no codec of
//! their own (no nesting), a valid CRC and (magic 1) offsets 0..n-1; a
//! producer may not claim LogAppendTime. The conversion keeps the codec (a
//! gzip wrapper becomes one gzip batch), numbers records from 0, takes magic 1
//! timestamps (-1 for magic 0) and stamps LogAppendTime topics' batches as
//! Kafka does (attribute bit 3, maxTimestamp = the append time).
//!
//! Bounded by construction: a shallow message is checked against
//! max.message.bytes before anything else; decompression stops at a cap
//! (the Produce handler's, derived from max.message.bytes); keys and values
//! are slices of the request or of the one decompressed buffer, never
//! allocated from a length read off the wire. Never panics on any input.
//!
//! Old lz4: Kafka clients before 0.10 wrote the lz4 frame header checksum over
//! the wrong bytes (KAFKA-3160); Kafka ignores that checksum for magic 0, and
//! so do we (it is recomputed before decoding). Snappy comes in Java's (xerial)
//! framing or as one raw block; both are read.

use std::io::{Read, Write};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

use super::batch::{self, CRC_START, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2};
use super::records::{snappy_decompress, RecordsError};
use super::ErrorCode;

pub const MAGIC_V0: i8 = 0;
pub const MAGIC_V1: i8 = 1;
/// A magic 0 message's bytes besides key and value: crc, magic, attributes,
/// key length, value length.
pub(crate) const MESSAGE_OVERHEAD_V0: usize = 4 + 1 + 1 + 4 + 4;
/// Magic 1 adds the timestamp.
pub(crate) const MESSAGE_OVERHEAD_V1: usize = MESSAGE_OVERHEAD_V0 + 8;
/// Where the magic byte sits, counted from an entry's offset field, in every
/// format (v0/v1 messages and v2 batches alike).
const MAGIC_POSITION: usize = 16;
/// crc, magic, attributes, key length, value length.
const V0_MIN_SIZE: usize = 4 + 1 + 1 + 4 + 4;
/// The same with the timestamp.
const V1_MIN_SIZE: usize = V0_MIN_SIZE + 8;
const CODEC_MASK: u8 = 0x07;
const LOG_APPEND_TIME_BIT: u8 = 0x08;
/// Offsets in a v2 batch header that a LogAppendTime stamp rewrites.
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_MAX_TIMESTAMP: usize = 35;
const V2_LOG_APPEND_TIME: i16 = 0x08;
/// Block size of the xerial snappy stream written by [`encode`], as Java's.
const XERIAL_BLOCK: usize = 32 * 1024;
const XERIAL_HEADER: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// One message of a v0/v1 set, as a producer meant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// The producer's offset (inner offsets of a magic 1 wrapper are 0..n-1;
    /// the broker assigns the real ones).
    pub offset: i64,
    /// CreateTime of a magic 1 message; -1 for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// A decoded, validated message set: every message in order, with the codec
/// it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSet {
    pub magic: i8,
    pub compression: Compression,
    pub messages: Vec<LegacyMessage>,
}

/// The limits of the topic a set is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// max.message.bytes: the largest shallow message (with its 12-byte log
    /// overhead), and the largest converted batch.
    pub max_message_bytes: u64,
    /// segment.bytes: the largest message set.
    pub max_set_bytes: u64,
    /// Most bytes a wrapper may decompress to.
    pub max_decompressed_bytes: u64,
}

/// Why a message set is refused. [`MessageSetError::code`] maps each to
/// the Kafka error the Produce answer carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageSetError {
    /// The set ends inside a message (a partial trailing message).
    #[error("The message set ends inside a message at byte {position}: {needed} bytes more were expected")]
    Truncated { position: usize, needed: usize },
    #[error("Message at byte {position} has size {size}, less than the minimum of {min} for its format")]
    InvalidSize { position: usize, size: i32, min: usize },
    #[error("Message at byte {position} is corrupt (stored crc = {stored}, computed crc = {computed})")]
    Crc { position: usize, stored: u32, computed: u32 },
    #[error("Invalid magic {magic} in the message at byte {position}")]
    Magic { position: usize, magic: i8 },
    /// A key or value length that does not fit its message.
    #[error("Message at byte {position} is malformed: {reason}")]
    Malformed { position: usize, reason: &'static str },
    #[error("Unknown compression codec {codec} in the message at byte {position}")]
    UnknownCodec { position: usize, codec: u8 },
    #[error("ZStandard compression is not supported with message format v0/v1 (Produce before v7)")]
    Zstd,
    #[error("Failed to decompress the {codec} wrapper message: {reason}")]
    Decompress { codec: &'static str, reason: String },
    #[error("The compressed wrapper message decompresses to more than {limit} bytes")]
    DecompressedTooLarge { limit: u64 },
    /// Breaks a rule of Kafka's log validator (its InvalidRecordException).
    #[error("{0}")]
    Invalid(String),
    #[error("Invalid timestamp type in the message at byte {position}: a producer may not set LogAppendTime")]
    LogAppendTime { position: usize },
    /// A timestamp below -1 (Kafka's record builder refuses it), or a spread
    /// of timestamps a v2 batch cannot express as deltas.
    #[error("Invalid timestamp {timestamp} in the message at byte {position}")]
    Timestamp { position: usize, timestamp: i64 },
    #[error(
        "The request included a message larger than the max message size the server will accept ({size} > {max})."
    )]
    MessageTooLarge { size: u64, max: u64 },
    #[error("Message set of {size} bytes exceeds the maximum configured segment size of {max} (segment.bytes).")]
    SetTooLarge { size: u64, max: u64 },
    #[error("Cannot encode the converted record batch: {0}")]
    Encode(String),
}

impl MessageSetError {
    /// The Kafka error code of this refusal. Kafka's InvalidRecordException
    /// cases are INVALID_RECORD from Produce v8 and CORRUPT_MESSAGE before it,
    /// as `errors::from_records` decides for record batches (the Produce
    /// v0–2 clients that send these sets predate INVALID_RECORD).
    pub fn code(&self, produce_version: i16) -> ErrorCode {
        match self {
            MessageSetError::Invalid(_) if produce_version >= 8 => ErrorCode::InvalidRecord,
            MessageSetError::Zstd => ErrorCode::UnsupportedCompressionType,
            MessageSetError::LogAppendTime { .. } | MessageSetError::Timestamp { .. } => ErrorCode::InvalidTimestamp,
            MessageSetError::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            MessageSetError::SetTooLarge { .. } => ErrorCode::RecordListTooLarge,
            MessageSetError::Encode(_) => ErrorCode::UnknownServerError,
            _ => ErrorCode::CorruptMessage,
        }
    }
}

impl From<RecordsError> for MessageSetError {
    fn from(e: RecordsError) -> Self {
        match e {
            RecordsError::Decompress { codec, reason } => MessageSetError::Decompress { codec, reason },
            RecordsError::DecompressedTooLarge { limit } => MessageSetError::DecompressedTooLarge { limit },
            other => MessageSetError::Decompress { codec: "snappy", reason: other.to_string() },
        }
    }
}

/// One message as read: where it starts and its fields.
struct Entry {
    position: usize,
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

impl Entry {
    fn codec(&self) -> u8 {
        self.attributes & CODEC_MASK
    }

    fn into_message(self) -> LegacyMessage {
        LegacyMessage { offset: self.offset, timestamp: self.timestamp, key: self.key, value: self.value }
    }
}

/// Reads every message of `set` (shallow: wrappers stay wrappers), checking
/// sizes, CRCs and field lengths. `max_message` bounds each message with its
/// log overhead (the shallow level only).
fn entries(set: &Bytes, max_message: Option<u64>) -> Result<Vec<Entry>, MessageSetError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < set.len() {
        let position = pos;
        let rest = &set[pos..];
        let Some((head, _)) = rest.split_first_chunk::<LOG_OVERHEAD>() else {
            return Err(MessageSetError::Truncated { position, needed: LOG_OVERHEAD - rest.len() });
        };
        let offset = i64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let size = i32::from_be_bytes(head[8..].try_into().unwrap_or_default());
        let magic = rest.get(MAGIC_POSITION).map(|&m| m as i8);
        let min = if magic == Some(MAGIC_V1) { V1_MIN_SIZE } else { V0_MIN_SIZE };
        let len = usize::try_from(size).ok().filter(|&n| n >= min);
        let len = len.ok_or(MessageSetError::InvalidSize { position, size, min })?;
        if let Some(max) = max_message {
            let total = (LOG_OVERHEAD + len) as u64;
            if total > max {
                return Err(MessageSetError::MessageTooLarge { size: total, max });
            }
        }
        let available = rest.len() - LOG_OVERHEAD;
        if len > available {
            return Err(MessageSetError::Truncated { position, needed: len - available });
        }
        let start = pos + LOG_OVERHEAD;
        out.push(message(set.slice(start..start + len), position, offset)?);
        pos = start + len;
    }
    Ok(out)
}

/// One message's fields, after its CRC.
fn message(msg: Bytes, position: usize, offset: i64) -> Result<Entry, MessageSetError> {
    // The caller checked the minimum size of either format.
    let stored = u32::from_be_bytes(msg[..4].try_into().unwrap_or_default());
    let magic = msg[4] as i8;
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(MessageSetError::Magic { position, magic });
    }
    let computed = crc32(&msg[4..]);
    if computed != stored {
        return Err(MessageSetError::Crc { position, stored, computed });
    }
    let attributes = msg[5];
    let mut pos = 6;
    let timestamp = if magic == MAGIC_V1 {
        pos += 8;
        i64::from_be_bytes(msg[6..14].try_into().unwrap_or_default())
    } else {
        -1
    };
    if timestamp < -1 {
        return Err(MessageSetError::Timestamp { position, timestamp });
    }
    let key = bytes_field(&msg, &mut pos, position, "key")?;
    let value = bytes_field(&msg, &mut pos, position, "value")?;
    if pos != msg.len() {
        return Err(MessageSetError::Malformed { position, reason: "bytes follow the value inside the message" });
    }
    Ok(Entry { position, offset, magic, attributes, timestamp, key, value })
}

/// An i32-length nullable byte field at `*pos` of `msg`.
fn bytes_field(
    msg: &Bytes,
    pos: &mut usize,
    position: usize,
    field: &'static str,
) -> Result<Option<Bytes>, MessageSetError> {
    let raw = msg.get(*pos..*pos + 4).ok_or(MessageSetError::Malformed { position, reason: "length past the end" })?;
    let len = i32::from_be_bytes(raw.try_into().unwrap_or_default());
    *pos += 4;
    if len == -1 {
        return Ok(None);
    }
    let reason = if field == "key" { "a key length that does not fit" } else { "a value length that does not fit" };
    let n = usize::try_from(len).map_err(|_| MessageSetError::Malformed { position, reason })?;
    if n > msg.len() - *pos {
        return Err(MessageSetError::Malformed { position, reason });
    }
    let out = msg.slice(*pos..*pos + n);
    *pos += n;
    Ok(Some(out))
}

/// CRC-32 (IEEE), the checksum of magic 0/1 messages.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Decodes and validates a produced v0/v1 message set; `None` for an empty
/// set (Kafka appends nothing and answers offset -1).
pub fn decode(set: &Bytes, limits: &Limits) -> Result<Option<MessageSet>, MessageSetError> {
    let size = set.len() as u64;
    if size > limits.max_set_bytes {
        return Err(MessageSetError::SetTooLarge { size, max: limits.max_set_bytes });
    }
    let shallow = entries(set, Some(limits.max_message_bytes))?;
    let Some(first) = shallow.first() else {
        return Ok(None);
    };
    let magic = first.magic;
    for e in &shallow {
        if e.magic != magic {
            return Err(MessageSetError::Invalid(format!(
                "Message magic {} is not the same as the first message's magic {magic}",
                e.magic
            )));
        }
        if magic == MAGIC_V1 && e.attributes & LOG_APPEND_TIME_BIT != 0 {
            return Err(MessageSetError::LogAppendTime { position: e.position });
        }
    }
    let compressed = shallow.iter().any(|e| e.codec() != 0);
    if !compressed {
        let messages = shallow.into_iter().map(Entry::into_message).collect();
        return Ok(Some(MessageSet { magic, compression: Compression::None, messages }));
    }
    let mut shallow = shallow;
    let (Some(wrapper), true) = (shallow.pop(), shallow.is_empty()) else {
        return Err(MessageSetError::Invalid("Compressed outer record has more than one batch".to_string()));
    };
    let compression = codec(wrapper.codec(), wrapper.position)?;
    let value = wrapper
        .value
        .ok_or_else(|| MessageSetError::Invalid("The compressed wrapper message has a null value".to_string()))?;
    let plain = decompress(&value, compression, magic, limits.max_decompressed_bytes)?;
    let inner = entries(&Bytes::from(plain), None)?;
    if inner.is_empty() {
        return Err(MessageSetError::Invalid("Found invalid compressed record set with no inner records".to_string()));
    }
    let mut messages = Vec::with_capacity(inner.len());
    for (index, e) in inner.into_iter().enumerate() {
        if e.codec() != 0 {
            return Err(MessageSetError::Invalid(
                "Compressed outer record should not have an inner record with a compression attribute set".to_string(),
            ));
        }
        if e.magic != magic {
            return Err(MessageSetError::Invalid(format!(
                "Inner message magic {} does not match the wrapper's magic {magic}",
                e.magic
            )));
        }
        if magic == MAGIC_V1 && e.offset != index as i64 {
            return Err(MessageSetError::Invalid(format!(
                "Inner record inside the compressed record batch does not have incremental offsets, expected offset \
                 is {index} but found {}",
                e.offset
            )));
        }
        messages.push(e.into_message());
    }
    Ok(Some(MessageSet { magic, compression, messages }))
}

fn codec(id: u8, position: usize) -> Result<Compression, MessageSetError> {
    match id {
        0 => Ok(Compression::None),
        1 => Ok(Compression::Gzip),
        2 => Ok(Compression::Snappy),
        3 => Ok(Compression::Lz4),
        4 => Err(MessageSetError::Zstd),
        codec => Err(MessageSetError::UnknownCodec { position, codec }),
    }
}

/// The inner message set of a wrapper, at most `limit` bytes of it.
fn decompress(value: &[u8], compression: Compression, magic: i8, limit: u64) -> Result<Vec<u8>, MessageSetError> {
    match compression {
        Compression::Gzip => read_capped(flate2::bufread::MultiGzDecoder::new(value), limit, "gzip"),
        Compression::Snappy => Ok(snappy_decompress(value, limit)?),
        Compression::Lz4 => {
            let header = lz4_header(value, magic);
            let rest = value.get(header.len()..).unwrap_or_default();
            let decoder = lz4::Decoder::new(std::io::Cursor::new(header).chain(rest))
                .map_err(|e| MessageSetError::Decompress { codec: "lz4", reason: e.to_string() })?;
            let mut decoder = decoder;
            let plain = read_capped(&mut decoder, limit, "lz4")?;
            // A frame cut before its end mark reads as a clean end; only
            // `finish` tells.
            decoder.finish().1.map_err(|e| MessageSetError::Decompress { codec: "lz4", reason: e.to_string() })?;
            Ok(plain)
        }
        _ => Ok(value.to_vec()),
    }
}

fn read_capped(reader: impl Read, limit: u64, codec: &'static str) -> Result<Vec<u8>, MessageSetError> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| MessageSetError::Decompress { codec, reason: e.to_string() })?;
    if out.len() as u64 > limit {
        return Err(MessageSetError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// The lz4 frame's magic and descriptor, with the header checksum recomputed
/// for magic 0 (old clients computed it over the magic too); empty when the
/// frame does not start as one (the decoder then reports it).
fn lz4_header(frame: &[u8], magic: i8) -> Vec<u8> {
    let Some(&flags) = frame.get(4) else {
        return Vec::new();
    };
    if !frame.starts_with(&LZ4_FRAME_MAGIC) {
        return Vec::new();
    }
    // FLG, BD, then the content size (FLG bit 3) and dictionary id (bit 0).
    let descriptor = 2 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 };
    let Some(header) = frame.get(..4 + descriptor + 1) else {
        return Vec::new();
    };
    let mut header = header.to_vec();
    if magic == MAGIC_V0 {
        header[4 + descriptor] = lz4_header_checksum(&header[4..4 + descriptor]);
    }
    header
}

/// The lz4 frame header checksum: the second byte of the descriptor's xxh32.
fn lz4_header_checksum(descriptor: &[u8]) -> u8 {
    (super::down_convert::xxh32(descriptor, 0) >> 8) as u8
}

/// One record batch v2 holding `set`'s messages in order: offsets 0..n-1, no
/// producer id, no headers, the set's codec. With `log_append_time` the batch
/// is stamped LogAppendTime with that max timestamp, as Kafka's validator does
/// for a topic with message.timestamp.type=LogAppendTime.
pub fn to_batch(set: &MessageSet, log_append_time: Option<i64>) -> Result<Bytes, MessageSetError> {
    // The encoder writes each timestamp as a delta from the smallest.
    let min = set.messages.iter().map(|m| m.timestamp).min().unwrap_or(-1);
    let max = set.messages.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    if max.checked_sub(min).is_none() {
        return Err(MessageSetError::Timestamp { position: 0, timestamp: max });
    }
    let records: Vec<Record> = set
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut r = batch::new_record(m.key.clone(), m.value.clone(), Vec::new(), m.timestamp);
            r.offset = i as i64;
            // The encoder keeps records in one batch while offset - sequence
            // stays the same; base sequence -1 (no producer id).
            r.sequence = (i as i32).wrapping_sub(1);
            r
        })
        .collect();
    let size: usize = set
        .messages
        .iter()
        .map(|m| 16 + m.key.as_ref().map_or(0, Bytes::len) + m.value.as_ref().map_or(0, Bytes::len))
        .sum();
    let mut buf = BytesMut::with_capacity(HEADER_SIZE + size.min(1 << 20));
    let options = RecordEncodeOptions { version: MAGIC_V2, compression: set.compression };
    RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|e| MessageSetError::Encode(e.to_string()))?;
    if let Some(now) = log_append_time {
        stamp_log_append_time(&mut buf, now);
    }
    Ok(buf.freeze())
}

/// Marks an encoded batch LogAppendTime with max timestamp `now` and
/// recomputes its CRC-32C.
fn stamp_log_append_time(buf: &mut [u8], now: i64) {
    if buf.len() < HEADER_SIZE {
        return;
    }
    let attributes = i16::from_be_bytes([buf[OFF_ATTRIBUTES], buf[OFF_ATTRIBUTES + 1]]) | V2_LOG_APPEND_TIME;
    buf[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    buf[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c(&buf[CRC_START..]);
    buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A produced set made ready for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// One record batch v2.
    pub batch: Bytes,
    /// The batch's LogAppendTime stamp, or -1 (CreateTime): what Produce v2
    /// answers as `log_append_time`.
    pub log_append_time: i64,
}

/// What a produced set becomes: one v2 batch to append, or nothing for an
/// empty set. `log_append_time` is the time to stamp for a topic with
/// message.timestamp.type=LogAppendTime.
pub fn up_convert(
    set: &Bytes,
    limits: &Limits,
    log_append_time: Option<i64>,
) -> Result<Option<Converted>, MessageSetError> {
    if set.get(MAGIC_POSITION).is_some_and(|&m| m as i8 == MAGIC_V2) {
        // Kafka reads entries by their magic, whatever the request version:
        // a v2 batch goes to the ordinary produce path as it is.
        return Ok(Some(Converted { batch: set.clone(), log_append_time: -1 }));
    }
    let Some(decoded) = decode(set, limits)? else {
        return Ok(None);
    };
    let batch = to_batch(&decoded, log_append_time)?;
    let size = batch.len() as u64;
    if size > limits.max_message_bytes {
        return Err(MessageSetError::MessageTooLarge { size, max: limits.max_message_bytes });
    }
    Ok(Some(Converted { batch, log_append_time: log_append_time.unwrap_or(-1) }))
}

/// Encodes `messages` as a v0/v1 message set, in one wrapper when
/// `compression` is not `None` (magic 1 inner offsets made relative). The
/// producer side of the format, for tests and tools that must speak it; zstd
/// is refused as Kafka refuses it below magic 2.
pub fn encode(magic: i8, compression: Compression, messages: &[LegacyMessage]) -> Result<Vec<u8>, MessageSetError> {
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(MessageSetError::Magic { position: 0, magic });
    }
    let mut plain = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let offset = if compression != Compression::None && magic == MAGIC_V1 { i as i64 } else { m.offset };
        write_message(&mut plain, offset, magic, 0, m.timestamp, m.key.as_deref(), m.value.as_deref());
    }
    let codec_id = match compression {
        Compression::None => return Ok(plain),
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        _ => return Err(MessageSetError::Zstd),
    };
    let compressed = compress(&plain, compression)?;
    let last = messages.last().map_or(0, |m| if magic == MAGIC_V1 { messages.len() as i64 - 1 } else { m.offset });
    let max_ts = messages.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    let mut out = Vec::new();
    write_message(&mut out, last, magic, codec_id, max_ts, None, Some(&compressed));
    Ok(out)
}

/// Appends one message (offset, size, crc, fields) to `out`: the one writer
/// of message formats v0/v1, for tests here and for down-conversion on fetch.
/// The CRC is CRC-32 (IEEE) over magic..end; `timestamp` is written for magic 1.
pub fn write_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let overhead = if magic >= MAGIC_V1 { MESSAGE_OVERHEAD_V1 } else { MESSAGE_OVERHEAD_V0 };
    let size = overhead + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    out.reserve(LOG_OVERHEAD + size);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&i32::try_from(size).unwrap_or(i32::MAX).to_be_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]); // patched below
    out.push(magic as u8);
    out.push(attributes);
    if magic >= MAGIC_V1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&i32::try_from(b.len()).unwrap_or(i32::MAX).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    let crc = crc32(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

fn compress(plain: &[u8], compression: Compression) -> Result<Vec<u8>, MessageSetError> {
    let io = |codec: &'static str| move |e: std::io::Error| MessageSetError::Encode(format!("{codec}: {e}"));
    match compression {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(plain).map_err(io("gzip"))?;
            e.finish().map_err(io("gzip"))
        }
        Compression::Snappy => {
            let mut out = XERIAL_HEADER.to_vec();
            let mut encoder = snap::raw::Encoder::new();
            for block in plain.chunks(XERIAL_BLOCK) {
                let c = encoder.compress_vec(block).map_err(|e| MessageSetError::Encode(format!("snappy: {e}")))?;
                out.extend_from_slice(&(c.len() as i32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new().build(Vec::new()).map_err(io("lz4"))?;
            e.write_all(plain).map_err(io("lz4"))?;
            let (out, result) = e.finish();
            result.map_err(io("lz4"))?;
            Ok(out)
        }
        _ => Ok(plain.to_vec()),
    }
}

/// Breaks an lz4 frame's header checksum the way Kafka clients before 0.10
/// did (over the magic too), to test that magic 0 sets still read.
#[doc(hidden)]
pub fn break_lz4_header_checksum_as_old_clients(frame: &mut [u8]) {
    let Some(&flags) = frame.get(4) else { return };
    let descriptor = 2 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 };
    if frame.len() > 4 + descriptor && 4 + descriptor < 16 {
        frame[4 + descriptor] = (super::down_convert::xxh32(&frame[..4 + descriptor], 0) >> 8) as u8;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kafka_protocol::records::RecordBatchDecoder;
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::records::{validate_records, RecordRules};

    const LIMITS: Limits =
        Limits { max_message_bytes: 1 << 20, max_set_bytes: 1 << 30, max_decompressed_bytes: 64 << 20 };
    const CODECS: [Compression; 4] = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4];

    fn msg(offset: i64, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> LegacyMessage {
        LegacyMessage {
            offset,
            timestamp,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    fn sample(magic: i8) -> Vec<LegacyMessage> {
        let ts = |t: i64| if magic == MAGIC_V0 { -1 } else { t };
        vec![
            msg(0, ts(1_700_000_000_000), Some(b"k0"), Some(b"v0")),
            msg(1, ts(1_700_000_000_005), None, Some(b"no key")),
            msg(2, ts(1_699_999_999_000), Some(b"tombstone"), None),
            msg(3, ts(1_700_000_000_009), Some(b""), Some(&[7; 300])),
        ]
    }

    fn set(magic: i8, compression: Compression, messages: &[LegacyMessage]) -> Bytes {
        Bytes::from(encode(magic, compression, messages).unwrap())
    }

    fn err(bytes: &[u8]) -> MessageSetError {
        decode(&Bytes::copy_from_slice(bytes), &LIMITS).unwrap_err()
    }

    /// The records of a converted batch: (key, value, timestamp).
    fn records_of(batch: &Bytes) -> Vec<(Option<Bytes>, Option<Bytes>, i64)> {
        let header = batch::validate_one(batch).unwrap();
        let rules = RecordRules { require_keys: false, max_decompressed_bytes: 64 << 20 };
        validate_records(batch, &header, &rules).unwrap();
        let mut buf = batch.clone();
        let decoded = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert!(buf.is_empty(), "one batch");
        decoded.records.into_iter().map(|r| (r.key, r.value, r.timestamp)).collect()
    }

    #[test]
    fn every_codec_and_magic_round_trips_and_converts() {
        for magic in [MAGIC_V0, MAGIC_V1] {
            for codec in CODECS {
                let messages = sample(magic);
                let decoded = decode(&set(magic, codec, &messages), &LIMITS).unwrap().unwrap();
                assert_eq!((decoded.magic, decoded.compression), (magic, codec));
                assert_eq!(decoded.messages, messages, "magic {magic} {codec:?}");
                let converted = up_convert(&set(magic, codec, &messages), &LIMITS, None).unwrap().unwrap();
                assert_eq!(converted.log_append_time, -1);
                let header = batch::validate_one(&converted.batch).unwrap();
                assert_eq!(header.attributes & 0x07, codec as i16, "the codec is kept");
                assert_eq!((header.producer_id, header.records_count), (-1, 4));
                assert!(!header.timestamp_type_log_append());
                let want: Vec<_> = messages.iter().map(|m| (m.key.clone(), m.value.clone(), m.timestamp)).collect();
                assert_eq!(records_of(&converted.batch), want);
                let max = messages.iter().map(|m| m.timestamp).max().unwrap();
                assert_eq!(header.max_timestamp, max);
            }
        }
    }

    #[test]
    fn log_append_time_topics_get_a_stamped_batch() {
        let now = 1_800_000_000_000;
        for codec in CODECS {
            let converted = up_convert(&set(MAGIC_V1, codec, &sample(MAGIC_V1)), &LIMITS, Some(now)).unwrap().unwrap();
            assert_eq!(converted.log_append_time, now);
            let header = batch::validate_one(&converted.batch).unwrap();
            assert!(header.timestamp_type_log_append(), "{codec:?}");
            assert_eq!(header.max_timestamp, now);
        }
        // A producer may not claim LogAppendTime itself.
        let mut raw = Vec::new();
        write_message(&mut raw, 0, MAGIC_V1, LOG_APPEND_TIME_BIT, 5, None, Some(b"v"));
        assert_eq!(err(&raw), MessageSetError::LogAppendTime { position: 0 });
        assert_eq!(err(&raw).code(2), ErrorCode::InvalidTimestamp);
    }

    #[test]
    fn timestamps_a_batch_cannot_hold() {
        let mut raw = Vec::new();
        write_message(&mut raw, 0, MAGIC_V1, 0, -2, None, Some(b"v"));
        assert_eq!(err(&raw), MessageSetError::Timestamp { position: 0, timestamp: -2 });
        assert_eq!(err(&raw).code(1), ErrorCode::InvalidTimestamp);
        let spread = set(MAGIC_V1, Compression::Gzip, &[msg(0, -1, None, None), msg(1, i64::MAX, None, None)]);
        assert!(matches!(up_convert(&spread, &LIMITS, None), Err(MessageSetError::Timestamp { .. })));
        let fine = set(MAGIC_V1, Compression::Gzip, &[msg(0, 0, None, None), msg(1, i64::MAX, None, None)]);
        assert!(up_convert(&fine, &LIMITS, None).is_ok());
    }

    #[test]
    fn empty_sets_and_v2_batches() {
        assert_eq!(decode(&Bytes::new(), &LIMITS), Ok(None));
        assert_eq!(up_convert(&Bytes::new(), &LIMITS, None), Ok(None));
        let v2 = Bytes::from(batch::build_batch(0, &[(Some(b"k"), Some(b"v"), 1)]));
        assert_eq!(up_convert(&v2, &LIMITS, Some(5)).unwrap().unwrap(), Converted { batch: v2, log_append_time: -1 });
    }

    #[test]
    fn corrupt_sets_are_corrupt_message() {
        let good = encode(MAGIC_V1, Compression::None, &sample(MAGIC_V1)).unwrap();
        // A flipped bit in the value of the second message.
        let mut bad = good.clone();
        let second = 12 + i32::from_be_bytes(good[8..12].try_into().unwrap()) as usize;
        let at = second + 12 + 4 + 1 + 1 + 8 + 4 + 2;
        bad[at] ^= 0x01;
        let e = err(&bad);
        assert!(matches!(e, MessageSetError::Crc { position, .. } if position == second), "{e:?}");
        assert_eq!(e.code(2), ErrorCode::CorruptMessage);
        // Every cut inside a message leaves a partial trailing message.
        let mut ends = Vec::new();
        let mut pos = 0;
        while pos < good.len() {
            pos += 12 + i32::from_be_bytes(good[pos + 8..pos + 12].try_into().unwrap()) as usize;
            ends.push(pos);
        }
        for cut in 1..good.len() {
            if ends.contains(&cut) {
                assert!(decode(&Bytes::copy_from_slice(&good[..cut]), &LIMITS).is_ok());
                continue;
            }
            let e = err(&good[..cut]);
            assert!(
                matches!(e, MessageSetError::Truncated { .. } | MessageSetError::InvalidSize { .. }),
                "cut at {cut}: {e:?}"
            );
            assert_eq!(e.code(0), ErrorCode::CorruptMessage);
        }
        // Unknown magic, a size below the minimum, a negative size.
        let mut magic = good.clone();
        magic[16] = 3;
        assert!(matches!(err(&magic), MessageSetError::Magic { magic: 3, .. }));
        let mut small = good.clone();
        small[8..12].copy_from_slice(&13i32.to_be_bytes());
        assert!(matches!(err(&small), MessageSetError::InvalidSize { size: 13, .. }));
        small[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(err(&small), MessageSetError::InvalidSize { size: -1, .. }));
    }

    /// A message whose CRC is right but whose key or value length is not.
    #[test]
    fn bad_lengths_inside_a_valid_crc() {
        for (key_len, value_len) in [(-2, 1), (100, 1), (0, 50), (0, -5), (0, 0)] {
            let mut body = vec![MAGIC_V0 as u8, 0];
            body.extend_from_slice(&i32::to_be_bytes(key_len));
            body.extend_from_slice(&i32::to_be_bytes(value_len));
            body.push(b'x'); // one byte, right for (0, 1) only
            let mut raw = 0i64.to_be_bytes().to_vec();
            raw.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
            raw.extend_from_slice(&crc32(&body).to_be_bytes());
            raw.extend_from_slice(&body);
            let e = err(&raw);
            assert!(matches!(e, MessageSetError::Malformed { position: 0, .. }), "{key_len}/{value_len}: {e:?}");
        }
    }

    #[test]
    fn wrapper_rules() {
        let messages = sample(MAGIC_V1);
        // A wrapper inside a wrapper.
        let inner = encode(MAGIC_V1, Compression::Gzip, &messages[..1]).unwrap();
        let mut nested = Vec::new();
        write_message(&mut nested, 0, MAGIC_V1, 1, 5, None, Some(&compress(&inner, Compression::Gzip).unwrap()));
        let e = err(&nested);
        assert!(matches!(&e, MessageSetError::Invalid(m) if m.contains("inner record with a compression")), "{e:?}");
        assert_eq!(e.code(2), ErrorCode::CorruptMessage);
        assert_eq!(e.code(8), ErrorCode::InvalidRecord);
        // Two wrappers, and a wrapper after a plain message.
        let wrapper = encode(MAGIC_V1, Compression::Lz4, &messages).unwrap();
        let plain = encode(MAGIC_V1, Compression::None, &messages[..1]).unwrap();
        for two in [[wrapper.clone(), wrapper.clone()].concat(), [plain.clone(), wrapper.clone()].concat()] {
            assert!(matches!(err(&two), MessageSetError::Invalid(m) if m.contains("more than one batch")));
        }
        // Mixed magic at the shallow level and inside a wrapper.
        let v0 = encode(MAGIC_V0, Compression::None, &sample(MAGIC_V0)[..1]).unwrap();
        assert!(
            matches!(err(&[plain.clone(), v0.clone()].concat()), MessageSetError::Invalid(m) if m.contains("magic"))
        );
        let mut mixed = Vec::new();
        write_message(&mut mixed, 0, MAGIC_V1, 2, 5, None, Some(&compress(&v0, Compression::Snappy).unwrap()));
        assert!(matches!(err(&mixed), MessageSetError::Invalid(m) if m.contains("wrapper's magic")));
        // Magic 1 inner offsets must count from 0; magic 0 ones are free.
        let mut skewed = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            write_message(&mut skewed, 10 + i as i64, MAGIC_V1, 0, m.timestamp, m.key.as_deref(), m.value.as_deref());
        }
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 13, MAGIC_V1, 1, 5, None, Some(&compress(&skewed, Compression::Gzip).unwrap()));
        assert!(matches!(err(&wrapper), MessageSetError::Invalid(m) if m.contains("incremental offsets")));
        let v0_set =
            sample(MAGIC_V0).into_iter().map(|m| LegacyMessage { offset: m.offset + 100, ..m }).collect::<Vec<_>>();
        let decoded = decode(&set(MAGIC_V0, Compression::Gzip, &v0_set), &LIMITS).unwrap().unwrap();
        assert_eq!(decoded.messages, v0_set);
        // An empty wrapper, a null wrapper value, a corrupt inner CRC.
        let mut empty = Vec::new();
        write_message(&mut empty, 0, MAGIC_V1, 1, 5, None, Some(&compress(&[], Compression::Gzip).unwrap()));
        assert!(matches!(err(&empty), MessageSetError::Invalid(m) if m.contains("no inner records")));
        let mut null = Vec::new();
        write_message(&mut null, 0, MAGIC_V1, 3, 5, None, None);
        assert!(matches!(err(&null), MessageSetError::Invalid(m) if m.contains("null value")));
        let mut bad_inner = encode(MAGIC_V1, Compression::None, &messages).unwrap();
        let n = bad_inner.len();
        bad_inner[n - 1] ^= 0xff;
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 3, MAGIC_V1, 1, 5, None, Some(&compress(&bad_inner, Compression::Gzip).unwrap()));
        assert!(matches!(err(&wrapper), MessageSetError::Crc { .. }));
    }

    #[test]
    fn codecs_kafka_does_not_take_below_magic_2() {
        for (id, want) in [
            (4u8, ErrorCode::UnsupportedCompressionType),
            (5, ErrorCode::CorruptMessage),
            (7, ErrorCode::CorruptMessage),
        ] {
            let mut raw = Vec::new();
            write_message(&mut raw, 0, MAGIC_V1, id, 5, None, Some(b"whatever"));
            assert_eq!(err(&raw).code(2), want, "codec {id}");
        }
        // Not compressed at all although the codec says so.
        for id in 1..=3u8 {
            let mut raw = Vec::new();
            write_message(&mut raw, 0, MAGIC_V0, id, -1, None, Some(b"\x00\x01 not compressed \xff"));
            assert!(matches!(err(&raw), MessageSetError::Decompress { .. }), "codec {id}");
        }
    }

    #[test]
    fn snappy_raw_block_and_old_lz4_header_checksum() {
        let plain = encode(MAGIC_V0, Compression::None, &sample(MAGIC_V0)).unwrap();
        // Raw snappy (no xerial framing), as some non-Java clients send it.
        let raw = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 3, MAGIC_V0, 2, -1, None, Some(&raw));
        assert_eq!(decode(&Bytes::from(wrapper), &LIMITS).unwrap().unwrap().messages, sample(MAGIC_V0));
        // lz4 with the header checksum of Kafka clients before 0.10: read for
        // magic 0, refused for magic 1 (as Kafka does).
        let mut frame = compress(&plain, Compression::Lz4).unwrap();
        let good_checksum = frame[6];
        assert_eq!(lz4_header_checksum(&frame[4..6]), good_checksum, "xxh32 agrees with liblz4");
        break_lz4_header_checksum_as_old_clients(&mut frame);
        assert_ne!(frame[6], good_checksum);
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 3, MAGIC_V0, 3, -1, None, Some(&frame));
        assert_eq!(decode(&Bytes::from(wrapper), &LIMITS).unwrap().unwrap().messages, sample(MAGIC_V0));
        let plain1 = encode(MAGIC_V1, Compression::None, &sample(MAGIC_V1)).unwrap();
        let mut frame1 = compress(&plain1, Compression::Lz4).unwrap();
        break_lz4_header_checksum_as_old_clients(&mut frame1);
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 3, MAGIC_V1, 3, 5, None, Some(&frame1));
        assert!(matches!(err(&wrapper), MessageSetError::Decompress { codec: "lz4", .. }));
        // A frame cut before its end mark.
        let frame = compress(&plain, Compression::Lz4).unwrap();
        let mut wrapper = Vec::new();
        write_message(&mut wrapper, 3, MAGIC_V0, 3, -1, None, Some(&frame[..frame.len() - 4]));
        assert!(matches!(err(&wrapper), MessageSetError::Decompress { codec: "lz4", .. }));
    }

    #[test]
    fn sizes_are_capped() {
        let big = vec![0u8; 4 << 20];
        let messages = vec![msg(0, 1, None, Some(&big))];
        let small = Limits { max_message_bytes: 1 << 20, max_set_bytes: 1 << 30, max_decompressed_bytes: 1 << 20 };
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let s = set(MAGIC_V1, codec, &messages);
            assert!((s.len() as u64) < small.max_message_bytes, "{codec:?} compressed to {}", s.len());
            assert_eq!(decode(&s, &small), Err(MessageSetError::DecompressedTooLarge { limit: 1 << 20 }), "{codec:?}");
        }
        let plain = set(MAGIC_V1, Compression::None, &messages);
        let e = decode(&plain, &small).unwrap_err();
        assert_eq!(e, MessageSetError::MessageTooLarge { size: plain.len() as u64, max: 1 << 20 });
        assert_eq!(e.code(2), ErrorCode::MessageTooLarge);
        let tight = Limits { max_set_bytes: 100, ..LIMITS };
        let e = decode(&set(MAGIC_V1, Compression::None, &sample(MAGIC_V1)), &tight).unwrap_err();
        assert_eq!(e.code(2), ErrorCode::RecordListTooLarge);
        // Many small messages whose v2 batch is over max.message.bytes.
        let many: Vec<_> = (0..100).map(|i| msg(i, 1, None, Some(&[1; 100]))).collect();
        let limits = Limits { max_message_bytes: 2000, ..LIMITS };
        let e = up_convert(&set(MAGIC_V1, Compression::None, &many), &limits, None).unwrap_err();
        assert!(matches!(e, MessageSetError::MessageTooLarge { max: 2000, .. }), "{e:?}");
    }

    fn arb_message() -> impl Strategy<Value = LegacyMessage> {
        let bytes = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64));
        (-1i64..(1i64 << 50), bytes.clone(), bytes).prop_map(|(timestamp, key, value)| LegacyMessage {
            offset: 0,
            timestamp,
            key: key.map(Bytes::from),
            value: value.map(Bytes::from),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let b = Bytes::from(bytes);
            let _ = decode(&b, &LIMITS);
            let _ = up_convert(&b, &LIMITS, Some(1));
        }

        #[test]
        fn mutated_sets_never_panic(
            messages in proptest::collection::vec(arb_message(), 1..6),
            codec in 0usize..4,
            idx in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<usize>(),
        ) {
            let mut raw = encode(MAGIC_V1, CODECS[codec], &messages).unwrap();
            let n = raw.len();
            raw[idx % n] = byte;
            raw.truncate(1 + cut % n);
            let _ = up_convert(&Bytes::from(raw), &LIMITS, None);
        }

        #[test]
        fn random_sets_round_trip(
            messages in proptest::collection::vec(arb_message(), 1..20),
            codec in 0usize..4,
            v1 in any::<bool>(),
        ) {
            let magic = if v1 { MAGIC_V1 } else { MAGIC_V0 };
            let messages: Vec<_> = messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| LegacyMessage { offset: i as i64, timestamp: if v1 { m.timestamp } else { -1 }, ..m })
                .collect();
            let s = set(magic, CODECS[codec], &messages);
            let decoded = decode(&s, &LIMITS).unwrap().unwrap();
            prop_assert_eq!(&decoded.messages, &messages);
            let converted = up_convert(&s, &LIMITS, None).unwrap().unwrap();
            let want: Vec<_> = messages.iter().map(|m| (m.key.clone(), m.value.clone(), m.timestamp)).collect();
            prop_assert_eq!(records_of(&converted.batch), want);
        }
    }
}
