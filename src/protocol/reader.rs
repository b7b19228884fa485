//! A bounds-checked big-endian cursor for the few Kafka formats read by hand
//! (the `__consumer_offsets` records, ListOffsets v0): every read checks the
//! length first, so malformed input is an error, never a panic.

use bytes::Bytes;

/// Reads fields from the front of a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("field of {n} bytes past the end at {}", self.pos))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }

    pub fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    pub fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    /// An i16-length string; length −1 is null.
    pub fn nullable_str(&mut self) -> Result<Option<String>, String> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| "string is not UTF-8".to_string())
    }

    pub fn str(&mut self) -> Result<String, String> {
        self.nullable_str()?.ok_or_else(|| "null where a string is required".to_string())
    }

    /// i32-length bytes; null reads as empty.
    pub fn bytes(&mut self) -> Result<Bytes, String> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }

    /// An i32 array count (a null array, −1, reads as empty), refused when the
    /// rest cannot hold that many items of at least `min_item` bytes.
    pub fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = usize::try_from(self.i32()?).unwrap_or(0);
        if n > self.remaining() / min_item.max(1) {
            return Err(format!("array of {n} items does not fit the {} bytes left", self.remaining()));
        }
        Ok(n)
    }
}
