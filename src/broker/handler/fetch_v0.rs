//! Fetch v0–3 (Kafka 0.9/0.10 clients), read and written by hand because the
//! codec crate starts at v4. The request is turned into the codec's
//! `FetchRequest` and served by the one fetch path (`fetch::handle`: long
//! poll, min_bytes, replica fetches, byte limits); each partition's v2 batches
//! are then down-converted to the MessageSet those clients read — magic 0 for
//! v0–1, magic 1 for v2–3 — by `protocol::down_convert`.
//!
//! Limits after conversion (a converted set can be larger or smaller than the
//! stored batches): each partition's set stays within its `partition_max_bytes`,
//! and with v3 the whole response within `max_bytes`, except that the first
//! message of the first partition with data goes out whole (KIP-74). Before v3
//! a first message that does not fit is answered with the start of it, which
//! those clients read as "message larger than the fetch size", as Kafka does.
//!
//! Per partition, as Kafka 3.x: `message.downconversion.enable=false` on the
//! topic answers UNSUPPORTED_VERSION; zstd batches, which have no v0/v1 form,
//! UNSUPPORTED_COMPRESSION_TYPE.
//!
//! Request v0–2: `replica_id i32, max_wait_ms i32, min_bytes i32, [topic
//! string, [partition i32, fetch_offset i64, partition_max_bytes i32]]`; v3
//! adds `max_bytes i32` after `min_bytes`. Response: `[throttle_time_ms i32]`
//! (v1+), `[topic string, [partition i32, error_code i16, high_watermark i64,
//! message_set_size i32, message_set]]`.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use super::legacy::Answer;
use super::{fetch, topic_name};
use crate::broker::replicas::ReplicaManager;
use crate::protocol::down_convert::{self, DownConvertError, Limits, Magic};
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

/// Decompressed bytes one compressed batch may take while converting, as a
/// multiple of the topic's `max.message.bytes` (the produce path's cap).
const MAX_DECOMPRESSION_RATIO: u64 = 64;
const MIN_DECOMPRESSED_LIMIT: u64 = 64 * 1024 * 1024;

/// One partition as asked: index, fetch offset, partition_max_bytes.
type Asked = (i32, i64, i32);

#[derive(Debug)]
struct Parsed {
    version: i16,
    correlation_id: i32,
    replica_id: i32,
    max_wait_ms: i32,
    min_bytes: i32,
    /// v3 only; `i32::MAX` before.
    max_bytes: i32,
    topics: Vec<(String, Vec<Asked>)>,
}

/// `version` is the one the request header announces (read by the dispatcher).
fn parse(payload: &[u8], version: i16) -> Result<Parsed, String> {
    let mut r = Reader::new(payload);
    let correlation_id = super::legacy::header(&mut r)?;
    let replica_id = r.i32()?;
    let max_wait_ms = r.i32()?;
    let min_bytes = r.i32()?;
    let max_bytes = if version >= 3 { r.i32()? } else { i32::MAX };
    let mut topics = Vec::new();
    // A topic is at least a name length and a partition count; a partition 16 bytes.
    for _ in 0..r.count(6)? {
        let name = r.nullable_str()?.ok_or("a null topic name")?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(16)? {
            partitions.push((r.i32()?, r.i64()?, r.i32()?));
        }
        topics.push((name, partitions));
    }
    Ok(Parsed { version, correlation_id, replica_id, max_wait_ms, min_bytes, max_bytes, topics })
}

/// The same request as the codec's struct, with the defaults of the fields
/// v0–3 do not have (no leader epoch, read_uncommitted).
fn to_fetch_request(p: &Parsed) -> FetchRequest {
    let topics = p
        .topics
        .iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .iter()
                .map(|&(partition, fetch_offset, max)| {
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(-1)
                        .with_fetch_offset(fetch_offset)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(max)
                })
                .collect();
            FetchTopic::default().with_topic(topic_name(name.clone())).with_partitions(partitions)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id(BrokerId(p.replica_id))
        .with_max_wait_ms(p.max_wait_ms)
        .with_min_bytes(p.min_bytes)
        .with_max_bytes(p.max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// The framed answer, or why the request is malformed (the connection closes).
pub async fn handle(
    replicas: &ReplicaManager,
    authz: &crate::security::authorizer::Authz<'_>,
    payload: &[u8],
    version: i16,
) -> Result<Bytes, String> {
    let parsed = parse(payload, version)?;
    let response = fetch::handle(replicas, authz, to_fetch_request(&parsed), parsed.version).await;
    let multi_thread = tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
    if multi_thread {
        // Decompressing and recompressing may take a while: keep it off the async worker.
        Ok(tokio::task::block_in_place(|| encode(replicas, &parsed, &response)))
    } else {
        Ok(encode(replicas, &parsed, &response))
    }
}

fn encode(replicas: &ReplicaManager, req: &Parsed, response: &FetchResponse) -> Bytes {
    let mut out = Answer::new(req.correlation_id);
    if req.version >= 1 {
        out.i32(response.throttle_time_ms);
    }
    // Converted bytes so far, for v3's response limit.
    let mut total = 0usize;
    out.count(req.topics.len());
    for (i, (name, asked)) in req.topics.iter().enumerate() {
        let answered = response.responses.get(i).map_or(&[][..], |t| &t.partitions[..]);
        out.str(name);
        out.count(asked.len());
        for (j, &(partition, fetch_offset, max)) in asked.iter().enumerate() {
            let (code, high_watermark, set) = match answered.get(j) {
                Some(pd) => {
                    let (code, set) = convert(replicas, req, name, pd, fetch_offset, max, &mut total);
                    (code, pd.high_watermark, set)
                }
                None => (ErrorCode::UnknownServerError.code(), -1, Vec::new()),
            };
            out.i32(partition);
            out.i16(code);
            out.i64(high_watermark);
            out.bytes(&set);
        }
    }
    out.finish()
}

/// One partition's error code and MessageSet.
fn convert(
    replicas: &ReplicaManager,
    req: &Parsed,
    topic: &str,
    pd: &kafka_protocol::messages::fetch_response::PartitionData,
    fetch_offset: i64,
    partition_max_bytes: i32,
    total: &mut usize,
) -> (i16, Vec<u8>) {
    if pd.error_code != 0 {
        return (pd.error_code, Vec::new());
    }
    let config = match replicas.leader_partition(topic, pd.partition_index) {
        Ok(p) => p.config(),
        Err(code) => return (code.code(), Vec::new()),
    };
    if req.replica_id < 0 && !config.message_downconversion_enable {
        // Kafka's answer when the topic forbids converting for old clients.
        return (ErrorCode::UnsupportedVersion.code(), Vec::new());
    }
    let records = pd.records.as_deref().unwrap_or(&[]);
    if records.is_empty() {
        return (0, Vec::new());
    }
    let mut max_bytes = usize::try_from(partition_max_bytes).unwrap_or(0);
    if req.version >= 3 {
        max_bytes = max_bytes.min(usize::try_from(req.max_bytes).unwrap_or(0).saturating_sub(*total));
    }
    let limits = Limits {
        max_bytes,
        first_may_exceed: req.version >= 3 && *total == 0,
        overflow_marker: req.version < 3,
        max_decompressed_bytes: (u64::from(config.max_message_bytes) * MAX_DECOMPRESSION_RATIO)
            .max(MIN_DECOMPRESSED_LIMIT),
    };
    match down_convert::down_convert(records, fetch_offset, Magic::for_fetch_version(req.version), &limits) {
        Ok(set) => {
            *total += set.len();
            (0, set)
        }
        Err(err @ DownConvertError::UnsupportedCompression { .. }) => {
            tracing::debug!(topic, partition = pd.partition_index, %err, "fetch v{}", req.version);
            (ErrorCode::UnsupportedCompressionType.code(), Vec::new())
        }
        Err(err) => {
            tracing::error!(topic, partition = pd.partition_index, %err, "cannot down-convert stored records");
            (ErrorCode::CorruptMessage.code(), Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn request(version: i16, topics: &[(&str, &[Asked])]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i16(version);
        b.put_i32(77);
        b.put_i16(3);
        b.put_slice(b"cli");
        b.put_i32(-1);
        b.put_i32(500);
        b.put_i32(1);
        if version >= 3 {
            b.put_i32(4096);
        }
        b.put_i32(topics.len() as i32);
        for (name, parts) in topics {
            b.put_i16(name.len() as i16);
            b.put_slice(name.as_bytes());
            b.put_i32(parts.len() as i32);
            for (p, offset, max) in *parts {
                b.put_i32(*p);
                b.put_i64(*offset);
                b.put_i32(*max);
            }
        }
        b.to_vec()
    }

    #[test]
    fn parses_v0_and_v3_and_refuses_hostile_input() {
        for version in 0..=3 {
            let req = request(version, &[("t", &[(0, 5, 1024), (1, 0, 10)]), ("u", &[])]);
            let p = parse(&req, version).expect("parse");
            assert_eq!(
                (p.version, p.correlation_id, p.replica_id, p.max_wait_ms, p.min_bytes),
                (version, 77, -1, 500, 1)
            );
            assert_eq!(p.max_bytes, if version >= 3 { 4096 } else { i32::MAX });
            assert_eq!(p.topics, vec![("t".to_string(), vec![(0, 5, 1024), (1, 0, 10)]), ("u".to_string(), vec![])]);
            let codec = to_fetch_request(&p);
            assert_eq!(codec.topics[0].partitions[0].fetch_offset, 5);
            assert_eq!(codec.topics[0].partitions[1].partition_max_bytes, 10);
            assert_eq!(codec.topics[0].partitions[0].current_leader_epoch, -1);
            assert_eq!(codec.isolation_level, 0);
            for cut in 0..req.len() {
                assert!(parse(&req[..cut], version).is_err(), "v{version} cut at {cut}");
            }
        }
        let mut hostile = request(0, &[]);
        let n = hostile.len();
        hostile[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(parse(&hostile, 0).is_err());
    }
}
