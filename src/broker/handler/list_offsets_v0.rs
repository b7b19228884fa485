//! ListOffsets v0 (the "offset request" of Kafka 0.8–0.10), read and written
//! by hand because the codec crate starts at v1. Old clients still send it
//! without asking ApiVersions (Burrow 1.2, sarama configured for 0.8–0.10).
//!
//! v0 asks, per partition, for up to `max_num_offsets` offsets before a
//! time: -1 (latest) answers the high watermark, -2 (earliest) the log start
//! offset, any other time the first offset at or after it (through the time
//! index) when there is one. Kafka's v0 answered segment boundaries for
//! times; one offset per partition is what clients use.

use bytes::Bytes;

use super::legacy::Answer;

use crate::broker::replicas::ReplicaManager;
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

/// One partition of the request: index, time, how many offsets.
type Asked = (i32, i64, i32);
/// The request's topics with their partitions.
type Topics = Vec<(String, Vec<Asked>)>;

fn parse(payload: &[u8]) -> Result<(i32, Topics), String> {
    let mut r = Reader::new(payload);
    let correlation_id = super::legacy::header(&mut r)?;
    let _replica_id = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.count(6)? {
        let name = r.nullable_str()?.ok_or("a null topic name")?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(16)? {
            partitions.push((r.i32()?, r.i64()?, r.i32()?));
        }
        topics.push((name, partitions));
    }
    Ok((correlation_id, topics))
}

fn offsets_for(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    time: i64,
    max: i32,
) -> (Option<ErrorCode>, Vec<i64>) {
    let p = match replicas.leader_partition(topic, partition) {
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
pub fn handle(replicas: &ReplicaManager, payload: &[u8]) -> Result<Bytes, String> {
    let (correlation_id, topics) = parse(payload)?;
    let mut out = Answer::new(correlation_id);
    out.count(topics.len());
    for (name, partitions) in &topics {
        out.str(name);
        out.count(partitions.len());
        for &(partition, time, max) in partitions {
            let (code, offsets) = offsets_for(replicas, name, partition, time, max);
            out.i32(partition);
            out.i16(crate::protocol::errors::code(code));
            out.count(offsets.len());
            for o in offsets {
                out.i64(o);
            }
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

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
