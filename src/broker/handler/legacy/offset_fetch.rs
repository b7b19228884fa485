//! OffsetFetch (9) v0, below the codec's v1: `group_id, [topic, [partition]]`
//! answered with `[topic, [partition, offset, metadata, error_code]]` (no
//! top-level error; v2 added it).
//!
//! As in Kafka's ZooKeeper mode, v0 reads the offsets OffsetCommit v0 wrote
//! to ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`), not the
//! group coordinator's: a partition of an unknown topic, or one never
//! committed there, answers offset −1 with no error; the metadata is always
//! empty (ZooKeeper keeps only the offset).

use bytes::Bytes;

use super::{header, Answer};
use crate::metadata::MetadataStore;
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

/// The request: correlation id, group, and the partitions asked per topic.
type Parsed = (i32, String, Vec<(String, Vec<i32>)>);

pub(super) fn parse(payload: &[u8]) -> Result<Parsed, String> {
    let mut r = Reader::new(payload);
    let correlation_id = header(&mut r)?;
    let group = r.str()?;
    let mut topics = Vec::new();
    for _ in 0..r.count(6)? {
        let name = r.str()?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(4)? {
            partitions.push(r.i32()?);
        }
        topics.push((name, partitions));
    }
    Ok((correlation_id, group, topics))
}

/// v0 reads ZooKeeper (`/consumers/<group>/offsets`) through `metadata`.
pub async fn handle(metadata: &MetadataStore, payload: &[u8]) -> Result<Bytes, String> {
    let (correlation_id, group, topics) = parse(payload)?;
    let mut out = Answer::new(correlation_id);
    out.count(topics.len());
    for (name, partitions) in &topics {
        let known = metadata.topic(name).map_or(0, |m| m.partitions.len());
        out.str(name);
        out.count(partitions.len());
        for &partition in partitions {
            let (offset, error) = if usize::try_from(partition).map_or(true, |i| i >= known) {
                (-1, None)
            } else if group.is_empty() {
                (-1, Some(ErrorCode::InvalidGroupId))
            } else {
                match metadata.zk_offset(&group, name, partition).await {
                    Ok(found) => (found.unwrap_or(-1), None),
                    Err(err) => {
                        tracing::warn!(%err, group, topic = name, partition, "v0 offset fetch failed");
                        (-1, Some(ErrorCode::UnknownServerError))
                    }
                }
            };
            out.i32(partition);
            out.i64(offset);
            out.str("");
            out.i16(crate::protocol::errors::code(error));
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::super::test_support::{assert_prefixes_refused, request, str};
    use super::*;

    #[test]
    fn parses_and_refuses_truncation() {
        let mut b = request(9, 0);
        str(&mut b, "g");
        b.put_i32(2);
        for t in ["a", "b"] {
            str(&mut b, t);
            b.put_i32(2);
            b.put_i32(0);
            b.put_i32(1);
        }
        let (cid, group, topics) = parse(&b).expect("parse");
        assert_eq!((cid, group.as_str()), (9, "g"));
        assert_eq!(topics, vec![("a".to_string(), vec![0, 1]), ("b".to_string(), vec![0, 1])]);
        assert_prefixes_refused(&b, parse);
    }
}
