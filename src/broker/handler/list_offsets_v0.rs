//! ListOffsets v0 (the "offset request" of Kafka 0.8–0.10), read and written
//! by hand because the codec crate starts at v1. Old clients still send it
//! without asking ApiVersions (Burrow 1.2, sarama configured for 0.8–0.10).
//!
//! v0 asks, per partition, for up to `max_num_offsets` offsets before a
//! time: -1 (latest) answers the high watermark, -2 (earliest) the log start
//! offset, any other time the first offset at or after it (through the time
//! index) when there is one. Kafka's v0 answered segment boundaries for
//! times; one offset per partition is what clients use.

use bytes::{BufMut, Bytes, BytesMut};

use crate::broker::Broker;
use crate::protocol::ErrorCode;

/// A bounds-checked cursor over the request.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("ListOffsets v0 request ends early at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
    fn string(&mut self) -> Result<Option<String>, String> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| "a string is not UTF-8".to_string())
    }
    /// An array count, bounded by what the rest of the request can hold.
    fn count(&mut self, min_item: usize) -> Result<usize, String> {
        let n = self.i32()?;
        let n = usize::try_from(n).unwrap_or(0);
        if n > (self.buf.len() - self.pos) / min_item.max(1) {
            return Err(format!("array of {n} items does not fit the request"));
        }
        Ok(n)
    }
}

/// One partition of the request: index, time, how many offsets.
type Asked = (i32, i64, i32);
/// The request's topics with their partitions.
type Topics = Vec<(String, Vec<Asked>)>;

fn parse(payload: &[u8]) -> Result<(i32, Topics), String> {
    let mut r = Reader { buf: payload, pos: 0 };
    let _api_key = r.i16()?;
    let _version = r.i16()?;
    let correlation_id = r.i32()?;
    let _client_id = r.string()?;
    let _replica_id = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.count(6)? {
        let name = r.string()?.ok_or("a null topic name")?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(16)? {
            partitions.push((r.i32()?, r.i64()?, r.i32()?));
        }
        topics.push((name, partitions));
    }
    Ok((correlation_id, topics))
}

fn offsets_for(broker: &Broker, topic: &str, partition: i32, time: i64, max: i32) -> (Option<ErrorCode>, Vec<i64>) {
    let p = match broker.leader_partition(topic, partition) {
        Ok(p) => p,
        Err(code) => return (Some(code), Vec::new()),
    };
    let found = match time {
        -1 => Ok(Some(p.high_watermark())),
        -2 => Ok(Some(p.log_start_offset())),
        t => p.offset_for_timestamp(t).map(|o| o.map(|(offset, _)| offset)),
    };
    match found {
        Ok(o) => (None, o.into_iter().take(usize::try_from(max).unwrap_or(0)).collect()),
        Err(err) => (Some(crate::protocol::errors::from_storage(&err)), Vec::new()),
    }
}

/// The framed answer, or why the request is malformed (the connection closes).
pub fn handle(broker: &Broker, payload: &[u8]) -> Result<Bytes, String> {
    let (correlation_id, topics) = parse(payload)?;
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0); // size, patched below
    out.put_i32(correlation_id);
    out.put_i32(topics.len() as i32);
    for (name, partitions) in &topics {
        out.put_i16(name.len() as i16);
        out.put_slice(name.as_bytes());
        out.put_i32(partitions.len() as i32);
        for &(partition, time, max) in partitions {
            let (code, offsets) = offsets_for(broker, name, partition, time, max);
            out.put_i32(partition);
            out.put_i16(crate::protocol::errors::code(code));
            out.put_i32(offsets.len() as i32);
            for o in offsets {
                out.put_i64(o);
            }
        }
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(topics: &[(&str, &[Asked])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_i16(2);
        b.put_i16(0);
        b.put_i32(77);
        b.put_i16(3);
        b.put_slice(b"cli");
        b.put_i32(-1);
        b.put_i32(topics.len() as i32);
        for (name, parts) in topics {
            b.put_i16(name.len() as i16);
            b.put_slice(name.as_bytes());
            b.put_i32(parts.len() as i32);
            for (p, t, m) in *parts {
                b.put_i32(*p);
                b.put_i64(*t);
                b.put_i32(*m);
            }
        }
        b.to_vec()
    }

    #[test]
    fn parses_and_refuses_hostile_input() {
        let req = request(&[("t", &[(0, -1, 1), (1, -2, 1)])]);
        let (cid, topics) = parse(&req).expect("parse");
        assert_eq!(cid, 77);
        assert_eq!(topics, vec![("t".to_string(), vec![(0, -1, 1), (1, -2, 1)])]);
        for cut in 0..req.len() {
            assert!(parse(&req[..cut]).is_err(), "cut at {cut}");
        }
        let mut hostile = request(&[]);
        let n = hostile.len();
        hostile[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(parse(&hostile).is_err());
    }
}
