//! Jute binary codec: the primitive encodings of the ZooKeeper wire protocol.
//!
//! Big-endian `int` (i32), `long` (i64), `boolean` (one byte), `ustring` and
//! `buffer` (i32 length, −1 meaning null, then the bytes) and `vector` (i32 count,
//! −1 meaning null, then the items). Every frame on the wire is an i32 length
//! followed by that many payload bytes.
//!
//! No I/O happens here. Two failure kinds are kept apart: a frame that has not fully
//! arrived yet is *incomplete* ([`frame_length`] returns `Ok(None)`), while bytes that
//! can never decode (a negative or oversized length, a record that ends inside a
//! field) are *malformed* ([`DecodeError`] / [`FrameError`]). Lengths are checked
//! against the bytes actually present before anything is allocated.

use thiserror::Error;

/// ZooKeeper's default `jute.maxbuffer` (0xfffff bytes).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Extra room allowed on top of `jute.maxbuffer` for request headers and paths
/// (ZooKeeper's `jute.maxbuffer.extrasize` plays the same role).
pub const FRAME_SLACK: usize = 1024;

/// A frame length prefix that can never be accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is negative.
    #[error("negative frame length {0}")]
    Negative(i32),
    /// The length prefix exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes (jute.maxbuffer)")]
    TooLarge { len: usize, max: usize },
}

/// Bytes inside a complete record that do not decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The record ends before a field does.
    #[error("record ends inside {what}: {needed} bytes needed, {available} left")]
    Truncated { what: &'static str, needed: usize, available: usize },
    /// A length or count prefix is negative (other than −1) or cannot fit.
    #[error("invalid length {len} for {what}")]
    BadLength { what: &'static str, len: i64 },
    /// A field holds a value the protocol does not allow here.
    #[error("invalid value {value} for {what}")]
    BadValue { what: &'static str, value: i64 },
}

/// Looks at the start of `buf` for one length-prefixed frame.
///
/// Returns `Ok(None)` while fewer than 4 + length bytes are present, and
/// `Ok(Some(len))` (the payload length, without the prefix) once the whole frame is
/// there. A negative or oversized prefix is an error before any allocation.
pub fn frame_length(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    let len = len as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if buf.len() - 4 < len {
        return Ok(None);
    }
    Ok(Some(len))
}

/// Reads jute primitives from one complete record.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread rest of the record.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated { what, needed: n, available: self.buf.len() });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Consumes and returns everything left.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.buf;
        self.buf = &[];
        rest
    }

    pub fn read_int(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_long(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// Java's `DataInput.readBoolean`: any non-zero byte is true.
    pub fn read_bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let b = self.take(1, what)?;
        Ok(b[0] != 0)
    }

    /// A `buffer`: `None` for the null encoding (length −1).
    pub fn read_buffer(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.read_buffer_ref(what)?.map(<[u8]>::to_vec))
    }

    /// Like [`Reader::read_buffer`] but borrowing.
    pub fn read_buffer_ref(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        let len = self.read_int(what)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::BadLength { what, len: len.into() });
        }
        Ok(Some(self.take(len as usize, what)?))
    }

    /// A `ustring`: `None` for the null encoding. Invalid UTF-8 is replaced the way
    /// Java's decoder does, so a hostile name cannot make decoding fail.
    pub fn read_ustring(&mut self, what: &'static str) -> Result<Option<String>, DecodeError> {
        Ok(self.read_buffer_ref(what)?.map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// A `ustring` where null is treated as the empty string (later validation rejects it).
    pub fn read_string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        Ok(self.read_ustring(what)?.unwrap_or_default())
    }

    /// A vector count; `None` for null. `min_item` is the smallest encoded size of
    /// one item, so a count that cannot fit in the remaining bytes is refused before
    /// any allocation.
    pub fn read_vec_len(&mut self, what: &'static str, min_item: usize) -> Result<Option<usize>, DecodeError> {
        let n = self.read_int(what)?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(DecodeError::BadLength { what, len: n.into() });
        }
        let n = n as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(DecodeError::BadLength { what, len: n as i64 });
        }
        Ok(Some(n))
    }

    /// A `vector<ustring>`, null read as empty.
    pub fn read_string_vec(&mut self, what: &'static str) -> Result<Vec<String>, DecodeError> {
        let n = self.read_vec_len(what, 4)?.unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.read_string(what)?);
        }
        Ok(out)
    }
}

/// Writes jute primitives into a growable buffer, optionally as a length-prefixed frame.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// Starts a frame: reserves the 4-byte length prefix that [`Writer::finish_frame`] fills in.
    pub fn frame() -> Self {
        Writer { buf: vec![0; 4] }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn write_int(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_long(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Raw bytes with no length prefix.
    pub fn write_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A `buffer`; `None` is written as length −1.
    pub fn write_buffer(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.write_int(-1),
            Some(b) => {
                self.write_len(b.len());
                self.buf.extend_from_slice(b);
            }
        }
    }

    /// A non-null `ustring`.
    pub fn write_str(&mut self, s: &str) {
        self.write_buffer(Some(s.as_bytes()));
    }

    /// A `vector<ustring>`.
    pub fn write_string_vec<S: AsRef<str>>(&mut self, v: &[S]) {
        self.write_len(v.len());
        for s in v {
            self.write_str(s.as_ref());
        }
    }

    /// A length or count. Lengths beyond i32 cannot be represented; they are clamped,
    /// which only happens for inputs far beyond every size limit of this server.
    pub fn write_len(&mut self, n: usize) {
        self.write_int(i32::try_from(n).unwrap_or(i32::MAX));
    }

    /// Fills in the length prefix reserved by [`Writer::frame`] and returns the bytes.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = i32::try_from(self.buf.len().saturating_sub(4)).unwrap_or(i32::MAX);
        if self.buf.len() >= 4 {
            self.buf[..4].copy_from_slice(&len.to_be_bytes());
        }
        self.buf
    }

    /// The bytes written (no prefix handling).
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_length_distinguishes_incomplete_from_malformed() {
        assert_eq!(frame_length(&[0, 0], 10), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0, 3, 1, 2], 10), Ok(None));
        assert_eq!(frame_length(&[0, 0, 0, 3, 1, 2, 3], 10), Ok(Some(3)));
        assert_eq!(frame_length(&[0xff, 0xff, 0xff, 0xfe], 10), Err(FrameError::Negative(-2)));
        assert_eq!(frame_length(&[0, 0, 0, 11], 10), Err(FrameError::TooLarge { len: 11, max: 10 }));
    }

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.write_int(-7);
        w.write_long(1 << 40);
        w.write_bool(true);
        w.write_buffer(None);
        w.write_buffer(Some(b"ab"));
        w.write_str("/x");
        w.write_string_vec(&["a", "bc"]);
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_int("i"), Ok(-7));
        assert_eq!(r.read_long("l"), Ok(1 << 40));
        assert_eq!(r.read_bool("b"), Ok(true));
        assert_eq!(r.read_buffer("n"), Ok(None));
        assert_eq!(r.read_buffer("d"), Ok(Some(b"ab".to_vec())));
        assert_eq!(r.read_ustring("s"), Ok(Some("/x".to_string())));
        assert_eq!(r.read_string_vec("v"), Ok(vec!["a".to_string(), "bc".to_string()]));
        assert!(r.is_empty());
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocating() {
        let bytes = [0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(Reader::new(&bytes).read_buffer("d"), Err(DecodeError::Truncated { .. })));
        assert!(matches!(Reader::new(&bytes).read_vec_len("v", 4), Err(DecodeError::BadLength { .. })));
        let bytes = [0xff, 0xff, 0xff, 0xfd];
        assert!(matches!(Reader::new(&bytes).read_buffer("d"), Err(DecodeError::BadLength { .. })));
    }

    #[test]
    fn finish_frame_back_patches_length() {
        let mut w = Writer::frame();
        w.write_int(5);
        assert_eq!(w.finish_frame(), vec![0, 0, 0, 4, 0, 0, 0, 5]);
    }
}
