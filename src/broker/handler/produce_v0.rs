//! Produce v0–2 (Kafka 0.8–0.10 clients; kafka-python with
//! `api_version=(0, 9)` or `(0, 10, x)`), read and answered by hand because
//! the codec crate starts at v3. Each partition's message set (format v0/v1)
//! is up-converted to one record batch v2 (`protocol::message_set`), and the
//! batches go through the one append path, `produce::handle`, with the real
//! request version so its error choices stay right. A partition whose set
//! cannot be converted gets its error code; the others are still appended and
//! the connection stays open.
//!
//! Request v0–2: `acks i16 | timeout i32 | [topic string | [partition i32 |
//! message_set bytes]]` (v3 put transactional_id in front). Response:
//! `[topic | [partition | error_code i16 | base_offset i64 | log_append_time
//! i64 (v2)]] | throttle_time_ms i32 (v1+)`, after a v0 response header.
//! acks=0 answers nothing; acks=all answers once replication caught up,
//! without holding up the connection's next requests.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::legacy::Answer as Response;
use super::produce::{self, Produced};
use super::topic_name;
use crate::broker::now_ms;
use crate::broker::replicas::ReplicaManager;
use crate::config::TimestampType;
use crate::network::Outcome;
use crate::protocol::message_set::{self, Converted, Limits};
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

/// The request's topics, each with its partitions' message sets.
type Topics = Vec<(String, Vec<(i32, Bytes)>)>;

#[derive(Debug)]
struct Request {
    correlation_id: i32,
    acks: i16,
    timeout_ms: i32,
    topics: Topics,
}

/// One partition's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    error_code: i16,
    base_offset: i64,
    log_append_time: i64,
}

impl Answer {
    fn error(code: ErrorCode) -> Answer {
        Answer { error_code: code.code(), base_offset: -1, log_append_time: -1 }
    }
}

/// Every partition's answer, by topic, in request order.
type Answers = Vec<(String, Vec<(i32, Answer)>)>;

fn parse(payload: &Bytes) -> Result<Request, String> {
    let mut r = Reader::new(payload);
    let correlation_id = super::legacy::header(&mut r)?;
    let acks = r.i16()?;
    let timeout_ms = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.count(6)? {
        let name = r.str()?;
        let mut partitions = Vec::new();
        for _ in 0..r.count(8)? {
            let index = r.i32()?;
            let size = r.i32()?;
            let size = usize::try_from(size).map_err(|_| format!("negative message set size {size}"))?;
            // A slice of the request, not a copy.
            let set = payload.slice_ref(r.take(size)?);
            partitions.push((index, set));
        }
        topics.push((name, partitions));
    }
    Ok(Request { correlation_id, acks, timeout_ms, topics })
}

/// Handles one Produce v0–2 frame; a malformed request closes the connection.
pub async fn handle(
    replicas: &ReplicaManager,
    authz: &crate::security::authorizer::Authz<'_>,
    payload: &Bytes,
    version: i16,
) -> Outcome {
    let req = match parse(payload) {
        Ok(r) => r,
        Err(reason) => return Outcome::Close(format!("malformed Produce v{version} request: {reason}")),
    };
    let acks_valid = (-1..=1).contains(&req.acks);
    let mut answers: Answers = Vec::with_capacity(req.topics.len());
    // (topic, partition) positions in `answers` of the batches handed on, in order.
    let mut handed_on = Vec::new();
    let mut topic_data = Vec::new();
    for (t, (name, partitions)) in req.topics.into_iter().enumerate() {
        let mut answered = Vec::with_capacity(partitions.len());
        let mut data = Vec::new();
        for (p, (index, set)) in partitions.into_iter().enumerate() {
            let answer = if !acks_valid {
                // Kafka refuses the whole request before looking at the records.
                Answer::error(ErrorCode::InvalidRequiredAcks)
            } else {
                match convert(replicas, &name, index, &set, version) {
                    Ok(Some(converted)) => {
                        handed_on.push((t, p));
                        data.push(
                            PartitionProduceData::default().with_index(index).with_records(Some(converted.batch)),
                        );
                        Answer { error_code: 0, base_offset: -1, log_append_time: converted.log_append_time }
                    }
                    // An empty set: nothing to append, as Kafka answers it.
                    Ok(None) => Answer { error_code: 0, base_offset: -1, log_append_time: -1 },
                    Err(code) => Answer::error(code),
                }
            };
            answered.push((index, answer));
        }
        if !data.is_empty() {
            topic_data.push(TopicProduceData::default().with_name(topic_name(name.as_str())).with_partition_data(data));
        }
        answers.push((name, answered));
    }
    let request =
        ProduceRequest::default().with_acks(req.acks).with_timeout_ms(req.timeout_ms).with_topic_data(topic_data);
    let correlation_id = req.correlation_id;
    match produce::handle(replicas, authz, request, version).await {
        // Only acks=0 answers nothing: an error only this path saw (conversion)
        // also closes, as Kafka does.
        Produced::Now(None) => match answers
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(i, a)| (t, i, a)))
            .find(|(_, _, a)| a.error_code != 0)
        {
            Some((topic, index, a)) => {
                Outcome::Close(format!("acks=0 produce failed: {topic}-{index}: error {}", a.error_code))
            }
            _ => Outcome::NoResponse,
        },
        Produced::CloseConnection(reason) => Outcome::Close(reason),
        Produced::Now(Some(resp)) => {
            merge(&mut answers, &handed_on, &resp);
            Outcome::Respond(encode(correlation_id, version, &answers))
        }
        Produced::Waiting(answer) => Outcome::Deferred(Box::pin(async move {
            let resp = answer.await;
            merge(&mut answers, &handed_on, &resp);
            Some(encode(correlation_id, version, &answers))
        })),
    }
}

/// The partition's message set as one v2 batch (or nothing, for an empty
/// set), under the topic's limits and timestamp type; else the error code.
fn convert(
    replicas: &ReplicaManager,
    topic: &str,
    index: i32,
    set: &Bytes,
    version: i16,
) -> Result<Option<Converted>, ErrorCode> {
    let partition = replicas.leader_partition(topic, index)?;
    let config = partition.config();
    let limits = Limits {
        max_message_bytes: u64::from(config.max_message_bytes),
        max_set_bytes: u64::from(config.segment_bytes),
        max_decompressed_bytes: produce::decompressed_limit(config.max_message_bytes),
    };
    let stamp = (config.message_timestamp_type == TimestampType::LogAppendTime).then(now_ms);
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let converted = if multi_thread && (looks_compressed(set) || set.len() > 64 * 1024) {
        // Decompressing and re-encoding may take a while: keep it off the async worker.
        tokio::task::block_in_place(|| message_set::up_convert(set, &limits, stamp))
    } else {
        message_set::up_convert(set, &limits, stamp)
    };
    converted.map_err(|err| {
        tracing::debug!(%topic, partition = index, %err, "refused a v0/v1 message set");
        err.code(version)
    })
}

/// Whether the set's first message is a compressed wrapper (its attributes
/// byte, after offset, size, crc and magic).
fn looks_compressed(set: &[u8]) -> bool {
    set.get(17).is_some_and(|a| a & 0x07 != 0)
}

/// Copies the append path's answers into the partitions handed to it (it
/// answers them in the order they were given).
fn merge(answers: &mut Answers, handed_on: &[(usize, usize)], resp: &ProduceResponse) {
    let given = resp.responses.iter().flat_map(|t| t.partition_responses.iter());
    for (&(t, p), r) in handed_on.iter().zip(given) {
        let answer = &mut answers[t].1[p].1;
        answer.error_code = r.error_code;
        answer.base_offset = r.base_offset;
        if r.error_code != 0 {
            answer.log_append_time = -1;
        }
    }
}

/// The framed v0–2 response (response header v0: the correlation id only).
fn encode(correlation_id: i32, version: i16, answers: &Answers) -> Bytes {
    let mut out = Response::new(correlation_id);
    out.count(answers.len());
    for (name, partitions) in answers {
        out.str(name);
        out.count(partitions.len());
        for (index, a) in partitions {
            out.i32(*index);
            out.i16(a.error_code);
            out.i64(a.base_offset);
            if version >= 2 {
                out.i64(a.log_append_time);
            }
        }
    }
    if version >= 1 {
        out.i32(0); // throttle_time_ms
    }
    out.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    /// `(topic, [(partition, message set)])`.
    type TestTopic<'a> = (&'a str, &'a [(i32, &'a [u8])]);

    fn request(acks: i16, topics: &[TestTopic<'_>]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i16(2);
        b.put_i32(41);
        b.put_i16(-1);
        b.put_i16(acks);
        b.put_i32(1500);
        b.put_i32(topics.len() as i32);
        for (name, parts) in topics {
            b.put_i16(name.len() as i16);
            b.put_slice(name.as_bytes());
            b.put_i32(parts.len() as i32);
            for (p, set) in *parts {
                b.put_i32(*p);
                b.put_i32(set.len() as i32);
                b.put_slice(set);
            }
        }
        b.to_vec()
    }

    #[test]
    fn parses_and_refuses_hostile_input() {
        let req = Bytes::from(request(-1, &[("t", &[(0, b"abc"), (3, b"")]), ("u", &[])]));
        let parsed = parse(&req).unwrap();
        assert_eq!((parsed.correlation_id, parsed.acks, parsed.timeout_ms), (41, -1, 1500));
        let want: Topics = vec![
            ("t".to_string(), vec![(0, Bytes::from_static(b"abc")), (3, Bytes::new())]),
            ("u".to_string(), vec![]),
        ];
        assert_eq!(parsed.topics, want);
        for cut in 0..req.len() {
            assert!(parse(&req.slice(..cut)).is_err(), "cut at {cut}");
        }
        // A message set size of -1, and one past the end.
        let mut bad = request(1, &[("t", &[(0, b"")])]);
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(parse(&Bytes::from(bad.clone())).is_err());
        bad[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(parse(&Bytes::from(bad)).is_err());
    }

    #[test]
    fn responses_per_version() {
        let answers: Answers = vec![(
            "t".to_string(),
            vec![
                (0, Answer { error_code: 0, base_offset: 7, log_append_time: 99 }),
                (1, Answer::error(ErrorCode::CorruptMessage)),
            ],
        )];
        let v0 = encode(5, 0, &answers);
        let mut want = Vec::new();
        want.extend_from_slice(&5i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b't']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&0i16.to_be_bytes());
        want.extend_from_slice(&7i64.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&2i16.to_be_bytes());
        want.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(&v0[4..], &want[..]);
        assert_eq!(i32::from_be_bytes(v0[..4].try_into().unwrap()) as usize, want.len());
        let v1 = encode(5, 1, &answers);
        assert_eq!(v1.len(), v0.len() + 4, "v1 adds throttle_time_ms");
        assert_eq!(&v1[v1.len() - 4..], &[0, 0, 0, 0]);
        let v2 = encode(5, 2, &answers);
        assert_eq!(v2.len(), v1.len() + 16, "v2 adds log_append_time per partition");
        assert_eq!(&v2[4 + 4 + 4 + 3 + 4 + 4 + 2 + 8..][..8], &99i64.to_be_bytes());
    }
}
