//! Fetch responses (v4–12) written with their record bytes left out, so that the
//! connection can send those bytes straight from the segment files.
//!
//! The codec crate writes a whole response into one buffer, copying every
//! partition's records into it. Here the same bytes are written field by field
//! except the records: for each partition whose records come from a file, the
//! answer gets the records' length prefix and then a gap, filled by whatever the
//! caller attached to that partition. The tests check that, with the records put
//! back, the bytes are exactly the codec's.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{EpochEndOffset, LeaderIdAndEpoch, SnapshotId};
use kafka_protocol::messages::FetchResponse;

/// Fetch versions this writer knows (those served through the codec).
pub const VERSIONS: std::ops::RangeInclusive<i16> = 4..=12;

/// One piece of a framed answer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<T> {
    /// Bytes written here (length prefix, header, fields).
    Bytes(Bytes),
    /// A partition's records, sent by the caller from where they are.
    Records(T),
}

/// Writes `resp` as a framed Fetch answer (length prefix, header with
/// `correlation_id`, body) of `version`. `records(t, p)` is asked for the
/// records of the `p`th partition of the `t`th topic: `Some((len, x))` leaves
/// a gap of `len` bytes to be filled by `x` (that partition's `records` field is
/// not read), `None` writes the field's own bytes. `None` for the whole answer
/// when it has something this writer does not write (a version outside
/// [`VERSIONS`], a tagged field): the caller then encodes it with the codec.
pub fn encode<T>(
    version: i16,
    correlation_id: i32,
    resp: &FetchResponse,
    mut records: impl FnMut(usize, usize) -> Option<(usize, T)>,
) -> Option<Vec<Part<T>>> {
    if !VERSIONS.contains(&version) || !plain(resp) {
        return None;
    }
    let flexible = version >= 12;
    let mut parts = Vec::new();
    let mut buf = BytesMut::with_capacity(256);
    let mut gaps = 0usize;
    buf.put_i32(0); // size, patched below
    buf.put_i32(correlation_id);
    if flexible {
        buf.put_u8(0); // header tagged fields
    }
    buf.put_i32(resp.throttle_time_ms);
    if version >= 7 {
        buf.put_i16(resp.error_code);
        buf.put_i32(resp.session_id);
    }
    array_len(&mut buf, flexible, resp.responses.len())?;
    for (t, topic) in resp.responses.iter().enumerate() {
        string(&mut buf, flexible, topic.topic.0.as_bytes())?;
        array_len(&mut buf, flexible, topic.partitions.len())?;
        for (p, pd) in topic.partitions.iter().enumerate() {
            buf.put_i32(pd.partition_index);
            buf.put_i16(pd.error_code);
            buf.put_i64(pd.high_watermark);
            buf.put_i64(pd.last_stable_offset);
            if version >= 5 {
                buf.put_i64(pd.log_start_offset);
            }
            match &pd.aborted_transactions {
                None if flexible => uvarint(&mut buf, 0),
                None => buf.put_i32(-1),
                Some(list) => {
                    array_len(&mut buf, flexible, list.len())?;
                    for a in list {
                        buf.put_i64(a.producer_id.0);
                        buf.put_i64(a.first_offset);
                        if flexible {
                            buf.put_u8(0);
                        }
                    }
                }
            }
            if version >= 11 {
                buf.put_i32(pd.preferred_read_replica.0);
            }
            match records(t, p) {
                Some((len, x)) => {
                    nullable_len(&mut buf, flexible, Some(len))?;
                    gaps = gaps.checked_add(len)?;
                    parts.push(Part::Bytes(buf.split().freeze()));
                    parts.push(Part::Records(x));
                }
                None => {
                    let own = pd.records.as_ref();
                    nullable_len(&mut buf, flexible, own.map(Bytes::len))?;
                    if let Some(own) = own {
                        buf.extend_from_slice(own);
                    }
                }
            }
            if flexible {
                buf.put_u8(0); // partition tagged fields
            }
        }
        if flexible {
            buf.put_u8(0); // topic tagged fields
        }
    }
    if flexible {
        buf.put_u8(0); // response tagged fields
    }
    parts.push(Part::Bytes(buf.freeze()));
    let written: usize = parts.iter().map(|p| if let Part::Bytes(b) = p { b.len() } else { 0 }).sum();
    let size = i32::try_from(written.checked_add(gaps)? - 4).ok()?;
    if let Some(Part::Bytes(first)) = parts.first_mut() {
        let mut patched = BytesMut::from(&first[..]);
        patched[..4].copy_from_slice(&size.to_be_bytes());
        *first = patched.freeze();
    }
    Some(parts)
}

/// Nothing beyond the fields written above: no tagged fields of any level
/// (diverging epoch, current leader, snapshot id, node endpoints, unknown ones).
fn plain(resp: &FetchResponse) -> bool {
    resp.unknown_tagged_fields.is_empty()
        && resp.node_endpoints.is_empty()
        && resp.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.partitions.iter().all(|p| {
                    p.unknown_tagged_fields.is_empty()
                        && p.diverging_epoch == EpochEndOffset::default()
                        && p.current_leader == LeaderIdAndEpoch::default()
                        && p.snapshot_id == SnapshotId::default()
                        && p.aborted_transactions.iter().flatten().all(|a| a.unknown_tagged_fields.is_empty())
                })
        })
}

fn uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn array_len(buf: &mut BytesMut, flexible: bool, n: usize) -> Option<()> {
    if flexible {
        uvarint(buf, u32::try_from(n).ok()?.checked_add(1)?);
    } else {
        buf.put_i32(i32::try_from(n).ok()?);
    }
    Some(())
}

fn string(buf: &mut BytesMut, flexible: bool, s: &[u8]) -> Option<()> {
    if flexible {
        uvarint(buf, u32::try_from(s.len()).ok()?.checked_add(1)?);
    } else {
        buf.put_i16(i16::try_from(s.len()).ok()?);
    }
    buf.extend_from_slice(s);
    Some(())
}

fn nullable_len(buf: &mut BytesMut, flexible: bool, len: Option<usize>) -> Option<()> {
    match (len, flexible) {
        (None, true) => uvarint(buf, 0),
        (None, false) => buf.put_i32(-1),
        (Some(n), true) => uvarint(buf, u32::try_from(n).ok()?.checked_add(1)?),
        (Some(n), false) => buf.put_i32(i32::try_from(n).ok()?),
    }
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, BrokerId, ProducerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::protocol::frame;

    fn sample() -> FetchResponse {
        let records = |n: usize| Some(Bytes::from((0..n).map(|i| i as u8).collect::<Vec<_>>()));
        let partition = |i: i32, n: usize| {
            PartitionData::default()
                .with_partition_index(i)
                .with_high_watermark(1000 + i64::from(i))
                .with_last_stable_offset(900)
                .with_log_start_offset(7)
                .with_preferred_read_replica(BrokerId(-1))
                .with_records(records(n))
        };
        let aborted = vec![AbortedTransaction::default().with_producer_id(ProducerId(42)).with_first_offset(17)];
        FetchResponse::default().with_throttle_time_ms(12).with_session_id(0).with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![
                    partition(0, 300).with_aborted_transactions(Some(aborted)),
                    partition(1, 0),
                    partition(2, 200).with_error_code(6).with_records(None),
                ]),
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![partition(5, 70_000)]),
        ])
    }

    /// The parts with every gap filled by the partition's own records.
    fn flatten(parts: &[Part<Bytes>]) -> Vec<u8> {
        parts
            .iter()
            .flat_map(|p| match p {
                Part::Bytes(b) | Part::Records(b) => b.to_vec(),
            })
            .collect()
    }

    #[test]
    fn matches_the_codec_with_records_put_back() {
        let resp = sample();
        for version in VERSIONS {
            let codec = frame::encode_response(ApiKey::Fetch, version, 77, &ResponseKind::Fetch(resp.clone())).unwrap();
            let parts = encode(version, 77, &resp, |t, p| {
                let r = resp.responses[t].partitions[p].records.clone()?;
                (!r.is_empty()).then(|| (r.len(), r))
            })
            .unwrap();
            assert_eq!(flatten(&parts), codec.to_vec(), "v{version}");
            let gaps = parts.iter().filter(|p| matches!(p, Part::Records(_))).count();
            assert_eq!(gaps, 2, "partitions 0 and 5 are gaps");
            // Written inline, the same bytes again.
            let inline = encode::<Bytes>(version, 77, &resp, |_, _| None).unwrap();
            assert_eq!(flatten(&inline), codec.to_vec(), "v{version} inline");
            assert_eq!(inline.len(), 1);
        }
    }

    #[test]
    fn unwritable_answers_are_left_to_the_codec() {
        let mut resp = sample();
        assert!(encode::<Bytes>(3, 1, &resp, |_, _| None).is_none(), "v3 is hand-coded elsewhere");
        assert!(encode::<Bytes>(13, 1, &resp, |_, _| None).is_none(), "topic ids are not written here");
        resp.responses[0].partitions[1].current_leader.leader_id = BrokerId(2);
        assert!(encode::<Bytes>(12, 1, &resp, |_, _| None).is_none(), "a tagged field");
    }
}
