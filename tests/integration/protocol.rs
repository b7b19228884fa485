//! Wire-level behaviour: ApiVersions (and its v0 fallback), malformed,
//! truncated, oversized and unknown requests close only their own connection,
//! captured requests from real clients are served, and produced batches with
//! invalid records are refused without being stored.

use std::io::Write;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::{fixtures, TestBroker};

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

#[test]
fn api_versions_and_unknown_version_fallback() {
    let broker = TestBroker::start(&[]);
    let mut w = Wire::connect(broker.addr);
    let resp: ApiVersionsResponse = w.call(
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("t"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).expect("produce advertised");
    assert_eq!((produce.min_version, produce.max_version), (0, 9));
    assert!(resp.api_keys.iter().any(|k| k.api_key == 1 && k.max_version == 12));
    // The classic group protocol, from JoinGroup v0 (old librdkafka checks v0).
    let join = resp.api_keys.iter().find(|k| k.api_key == 11).expect("JoinGroup advertised");
    assert_eq!((join.min_version, join.max_version), (0, 7));

    // Version 99: answered at v0 with UNSUPPORTED_VERSION and our ranges (KIP-511).
    let mut raw = Vec::new();
    raw.extend_from_slice(&18i16.to_be_bytes());
    raw.extend_from_slice(&99i16.to_be_bytes());
    raw.extend_from_slice(&42i32.to_be_bytes());
    raw.extend_from_slice(&(-1i16).to_be_bytes());
    let mut framed = (raw.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&raw);
    w.send_raw(&framed);
    let mut frame = w.read_frame().expect("fallback response");
    use bytes::Buf;
    assert_eq!(frame.get_i32(), 42);
    let v0: ApiVersionsResponse = kafka_protocol::protocol::Decodable::decode(&mut frame, 0).expect("v0 body");
    assert_eq!(v0.error_code, 35);
    assert!(v0.api_keys.iter().any(|k| k.api_key == 3));
}

#[test]
fn bad_frames_close_only_their_connection() {
    let broker = TestBroker::start(&["socket.request.max.bytes=1048576"]);
    let mut healthy = Wire::connect(broker.addr);

    // Oversized: refused from the prefix alone.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&(512 * 1024 * 1024i32).to_be_bytes());
    assert!(w.is_closed(), "oversized frame must close the connection");

    // Unknown API key.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&[0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(w.is_closed(), "unknown api key must close the connection");

    // Truncated Metadata body.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&[0, 0, 0, 11, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x00]);
    assert!(w.is_closed(), "malformed request must close the connection");

    // Negative size.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&(-5i32).to_be_bytes());
    assert!(w.is_closed());

    // A Produce v2 header without its body is malformed.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&[0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(w.is_closed());

    // A tiny Metadata claiming 2^31 topics: refused without allocating for them.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&[0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]);
    assert!(w.is_closed(), "a huge array count must close the connection");
    // Same with a compact (varint) count in a flexible version.
    let mut w = Wire::connect(broker.addr);
    w.send_raw(&[0, 0, 0, 16, 0, 3, 0, 12, 0, 0, 0, 7, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(w.is_closed(), "a huge compact count must close the connection");

    // The first connection still works.
    let md: MetadataResponse = healthy.call(ApiKey::Metadata, 1, &MetadataRequest::default().with_topics(Some(vec![])));
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].port, i32::from(broker.addr.port()));
}

#[test]
fn create_topics_validation() {
    let broker = TestBroker::start(&["num.partitions=3"]);
    let mut w = Wire::connect(broker.addr);
    let mk = |name: &str, p: i32, rf: i16| {
        CreatableTopic::default().with_name(topic(name)).with_num_partitions(p).with_replication_factor(rf)
    };
    let req = CreateTopicsRequest::default().with_timeout_ms(5000).with_topics(vec![
        mk("good", -1, -1),
        mk("bad name!", 1, 1),
        mk("rf-too-big", 1, 3),
        mk("zero", 0, 1),
    ]);
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 5, &req);
    let codes: Vec<(String, i16)> = resp.topics.iter().map(|t| (t.name.0.to_string(), t.error_code)).collect();
    assert_eq!(
        codes,
        vec![("good".into(), 0), ("bad name!".into(), 17), ("rf-too-big".into(), 38), ("zero".into(), 37)]
    );
    assert_eq!(resp.topics[0].num_partitions, 3);
    let msg = resp.topics[2].error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
    assert!(msg.contains("larger than available brokers: 1"), "{msg}");
    // Duplicate.
    let resp: CreateTopicsResponse =
        w.call(ApiKey::CreateTopics, 5, &CreateTopicsRequest::default().with_topics(vec![mk("good", 1, 1)]));
    assert_eq!(resp.topics[0].error_code, 36);
    // validate_only creates nothing.
    let resp: CreateTopicsResponse = w.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default().with_validate_only(true).with_topics(vec![mk("ghost", 2, 1)]),
    );
    assert_eq!(resp.topics[0].error_code, 0);
    let md: MetadataResponse = w.call(
        ApiKey::Metadata,
        4,
        &MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic("ghost")))]))
            .with_allow_auto_topic_creation(false),
    );
    assert_eq!(md.topics[0].error_code, 3, "validate_only must not create the topic");
    // Bad config.
    let bad = mk("badcfg", 1, 1).with_configs(vec![
        kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("soon"))),
    ]);
    let resp: CreateTopicsResponse =
        w.call(ApiKey::CreateTopics, 5, &CreateTopicsRequest::default().with_topics(vec![bad]));
    assert_eq!(resp.topics[0].error_code, 40);
}

/// Every captured Produce/Metadata/ApiVersions/ListOffsets/Fetch/CreateTopics
/// request from real clients decodes on the broker and gets a response on
/// the same connection.
#[test]
fn captured_client_requests_are_answered() {
    let broker = TestBroker::start(&["num.partitions=1", "group.initial.rebalance.delay.ms=0"]);
    let dir = fixtures().join("kafka/requests");
    let served = [
        "ApiVersions",
        "Metadata",
        "Produce",
        "ListOffsets",
        "Fetch",
        "CreateTopics",
        "DescribeConfigs",
        "InitProducerId",
        "FindCoordinator",
        "DeleteTopics",
        "JoinGroup",
        "SyncGroup",
        "Heartbeat",
        "LeaveGroup",
        "OffsetCommit",
        "OffsetFetch",
        "DescribeGroups",
        "ListGroups",
    ];
    let mut answered = 0;
    let mut clients: Vec<_> =
        std::fs::read_dir(&dir).expect("fixtures").filter_map(Result::ok).map(|e| e.path()).collect();
    clients.sort();
    for client in clients {
        let mut files: Vec<_> =
            std::fs::read_dir(&client).expect("client dir").filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let api = name.split('_').next().unwrap_or_default();
            if !served.contains(&api) {
                continue;
            }
            let bytes = std::fs::read(&f).expect("read fixture");
            let version = i16::from_be_bytes([bytes[2], bytes[3]]);
            let acks0 = api == "Produce" && is_acks_zero(&bytes);
            // Versions above what we advertise are not sent by real clients to us.
            let max = match api {
                "Produce" => 9,
                "Fetch" => 12,
                "ListOffsets" => 7,
                "Metadata" => 12,
                "CreateTopics" => 5,
                "DeleteTopics" => 5,
                "InitProducerId" => 4,
                "FindCoordinator" => 3,
                "JoinGroup" => 7,
                "SyncGroup" => 5,
                "Heartbeat" | "LeaveGroup" | "ListGroups" => 4,
                "OffsetCommit" => 8,
                "OffsetFetch" => 7,
                "DescribeGroups" => 5,
                _ => 3,
            };
            let max = if api == "DescribeConfigs" { 4 } else { max };
            if version > max {
                continue;
            }
            let mut w = Wire::connect(broker.addr);
            let mut framed = (bytes.len() as i32).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            w.stream.write_all(&framed).expect("send");
            if acks0 {
                continue;
            }
            let resp = w.read_frame().unwrap_or_else(|| panic!("no response to {}", f.display()));
            assert_eq!(&resp[..4], &bytes[4..8], "correlation id of {}", f.display());
            answered += 1;
        }
    }
    assert!(answered >= 20, "only {answered} fixtures answered");
}

fn is_acks_zero(request: &[u8]) -> bool {
    // header v1/v2: key, version, correlation, client_id (i16 len + bytes), [tagged], then transactional_id, acks
    let version = i16::from_be_bytes([request[2], request[3]]);
    let client_len = i16::from_be_bytes([request[8], request[9]]).max(0) as usize;
    let mut pos = 10 + client_len;
    if version >= 9 {
        pos += 1; // empty header tagged fields
                  // compact nullable string: varint length+1
        let len = request[pos] as usize;
        pos += 1 + len.saturating_sub(1);
    } else {
        let len = i16::from_be_bytes([request[pos], request[pos + 1]]);
        pos += 2 + len.max(0) as usize;
    }
    i16::from_be_bytes([request[pos], request[pos + 1]]) == 0
}

/// Golden inputs: every captured request frame decodes completely with the
/// codecs the broker uses and re-encodes to the same bytes (or, where a field
/// has two valid encodings, to bytes that decode to the same request).
#[test]
fn captured_requests_decode_and_reencode() {
    use bytes::{Buf, Bytes, BytesMut};
    use kafka_protocol::messages::{RequestHeader, RequestKind};
    use kafka_protocol::protocol::{Decodable, Encodable};

    let dir = fixtures().join("kafka/requests");
    let mut checked = 0;
    let mut trailing = Vec::new();
    for client in std::fs::read_dir(&dir).expect("fixtures").filter_map(Result::ok) {
        for f in std::fs::read_dir(client.path()).expect("client").filter_map(Result::ok) {
            let bytes = Bytes::from(std::fs::read(f.path()).expect("read"));
            let api = ApiKey::try_from(i16::from_be_bytes([bytes[0], bytes[1]])).expect("known api key");
            let version = i16::from_be_bytes([bytes[2], bytes[3]]);
            let range = api.valid_versions();
            if version < range.min || version > range.max {
                continue;
            }
            let mut buf = bytes.clone();
            let hv = api.request_header_version(version);
            let header =
                RequestHeader::decode(&mut buf, hv).unwrap_or_else(|e| panic!("{}: header {e}", f.path().display()));
            let body =
                RequestKind::decode(api, &mut buf, version).unwrap_or_else(|e| panic!("{}: {e}", f.path().display()));
            if buf.remaining() != 0 {
                eprintln!("{}: {} trailing bytes", f.path().display(), buf.remaining());
                trailing.push(f.path());
                continue;
            }
            let mut out = BytesMut::new();
            header.encode(&mut out, hv).expect("encode header");
            body.encode(&mut out, version).expect("encode body");
            if out[..] != bytes[..] {
                let mut again = out.freeze();
                let h2 = RequestHeader::decode(&mut again, hv).expect("re-decode header");
                let b2 = RequestKind::decode(api, &mut again, version).expect("re-decode body");
                assert_eq!(h2, header, "{}", f.path().display());
                assert_eq!(format!("{b2:?}"), format!("{body:?}"), "{}", f.path().display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} fixtures checked");
    // librdkafka 2.16's Metadata v12 carries 3 bytes beyond the v12 schema
    // (the broker reads what the schema defines and ignores the rest, as Kafka does).
    trailing.retain(|p| !p.ends_with("confluent-kafka/Metadata_v12_1.bin"));
    assert!(trailing.is_empty(), "not fully decoded: {trailing:?}");
}

/// ListOffsets v0, hand-framed as old clients (Burrow 1.2, sarama for 0.10) send it.
#[test]
fn list_offsets_v0_answers_old_clients() {
    use bytes::{Buf, BufMut, BytesMut};
    let broker = TestBroker::start(&["num.partitions=1"]);
    let out = crate::common::pipe_into(
        {
            let mut c = std::process::Command::new(crate::common::gregor_bin());
            c.args(["console-producer", "--bootstrap-server", &broker.bootstrap(), "--topic", "old"]);
            c
        },
        "a\nb\nc\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut req = BytesMut::new();
    req.put_i16(2); // ListOffsets
    req.put_i16(0);
    req.put_i32(9);
    req.put_i16(-1); // no client id
    req.put_i32(-1); // replica id
    req.put_i32(1);
    req.put_i16(3);
    req.put_slice(b"old");
    req.put_i32(3);
    for (partition, time) in [(0, -1i64), (0, -2), (5, -1)] {
        req.put_i32(partition);
        req.put_i64(time);
        req.put_i32(1);
    }
    let mut w = Wire::connect(broker.addr);
    let mut framed = (req.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&req);
    w.send_raw(&framed);
    let mut resp = w.read_frame().expect("answer");
    assert_eq!(resp.get_i32(), 9, "correlation id");
    assert_eq!(resp.get_i32(), 1, "one topic");
    let len = resp.get_i16() as usize;
    assert_eq!(&resp.split_to(len)[..], b"old");
    assert_eq!(resp.get_i32(), 3);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (partition, error) = (resp.get_i32(), resp.get_i16());
        let offsets: Vec<i64> = (0..resp.get_i32()).map(|_| resp.get_i64()).collect();
        answers.push((partition, error, offsets));
    }
    assert_eq!(answers, vec![(0, 0, vec![3]), (0, 0, vec![0]), (5, 3, vec![])]);
    assert_eq!(resp.remaining(), 0);
    // A truncated v0 request closes only that connection.
    let mut w2 = Wire::connect(broker.addr);
    let cut = &req[..req.len() - 5];
    let mut framed = (cut.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(cut);
    w2.send_raw(&framed);
    assert!(w2.is_closed());
}

/// A record batch with a valid CRC-32C whose one record has the size varint
/// `ff ff ff ff 0f` (i32::MIN), sent at `version` to partition 0 of `topic`.
fn produce_poison(w: &mut Wire, topic_name: &str, version: i16) -> PartitionProduceResponse {
    let mut records = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    // attributes, timestamp delta 0, offset delta 0, null key, value "x", no headers
    records.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x02, b'x', 0x00]);
    let batch = gregor::protocol::batch::build_raw_batch(0, 0, 1_000, 1_000, 0, 1, &records);
    gregor::protocol::batch::validate_one(&batch).expect("the batch itself (CRC, counts) is valid");
    let req = ProduceRequest::default().with_acks(1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic(topic_name)).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(bytes::Bytes::from(batch))),
        ]),
    ]);
    let resp: ProduceResponse = w.call(ApiKey::Produce, version, &req);
    resp.responses[0].partition_responses[0].clone()
}

fn log_end_offset(w: &mut Wire, topic_name: &str) -> i64 {
    let req = ListOffsetsRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(topic(topic_name))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
    ]);
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 1, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

fn console_produce(broker: &TestBroker, topic_name: &str, lines: &str) {
    let out = crate::common::pipe_into(
        {
            let mut c = std::process::Command::new(crate::common::gregor_bin());
            c.args(["console-producer", "--bootstrap-server", &broker.bootstrap(), "--topic", topic_name]);
            c
        },
        lines,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The defect: a CRC-valid batch with an unparseable record was acknowledged
/// and stored, and every consumer then stopped at it. Now the partition is
/// answered CORRUPT_MESSAGE (Produce < v8) or INVALID_RECORD (v8+, as Kafka),
/// nothing is stored, and a consumer reads the partition to its end.
#[test]
fn batch_with_an_unparseable_record_is_refused_and_not_stored() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    console_produce(&broker, "poison", "a\nb\n");
    let mut w = Wire::connect(broker.addr);
    assert_eq!(log_end_offset(&mut w, "poison"), 2);

    let v7 = produce_poison(&mut w, "poison", 7);
    assert_eq!(v7.error_code, 2, "CORRUPT_MESSAGE below v8");
    assert_eq!(v7.base_offset, -1);
    let v9 = produce_poison(&mut w, "poison", 9);
    assert_eq!(v9.error_code, 87, "INVALID_RECORD from v8");
    let message = v9.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
    assert!(message.contains("Invalid record size -2147483648"), "{message}");
    assert!(message.contains("in topic partition poison-0"), "{message}");
    assert_eq!(log_end_offset(&mut w, "poison"), 2, "nothing of the refused batch is stored");

    console_produce(&broker, "poison", "c\n");
    assert_eq!(log_end_offset(&mut w, "poison"), 3);
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["console-consumer", "--bootstrap-server", &broker.bootstrap(), "--topic", "poison"])
        .args(["--from-beginning", "--max-messages", "3", "--timeout-ms", "30000"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run console-consumer");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), vec!["a", "b", "c"]);
}

/// Records refused by a rule of the topic are listed in `record_errors`
/// (Produce v8+): a compacted topic takes no record without a key.
#[test]
fn compacted_topic_refuses_records_without_key_and_lists_them() {
    let broker = TestBroker::start(&[]);
    let mut w = Wire::connect(broker.addr);
    let compacted = CreatableTopic::default()
        .with_name(topic("compacted"))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(vec![kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("cleanup.policy"))
            .with_value(Some(StrBytes::from_static_str("compact")))]);
    let created: CreateTopicsResponse =
        w.call(ApiKey::CreateTopics, 5, &CreateTopicsRequest::default().with_topics(vec![compacted]));
    assert_eq!(created.topics[0].error_code, 0);
    let mk = |key: Option<&'static [u8]>| (key, Some(&b"v"[..]), 1_000i64);
    let batch = gregor::protocol::batch::build_batch(0, &[mk(Some(b"k")), mk(None), mk(Some(b"k2")), mk(None)]);
    let req = ProduceRequest::default().with_acks(1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default().with_name(topic("compacted")).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(bytes::Bytes::from(batch))),
        ]),
    ]);
    // Retry until the new partition has its leader.
    let mut resp: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
    for _ in 0..100 {
        let code = resp.responses[0].partition_responses[0].error_code;
        if code != 3 && code != 5 && code != 6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        resp = w.call(ApiKey::Produce, 9, &req);
    }
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "{p:?}");
    let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![1, 3]);
    let first = p.record_errors[0].batch_index_error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
    assert_eq!(first, "Compacted topic cannot accept message without key in topic partition compacted-0.");
    assert_eq!(log_end_offset(&mut w, "compacted"), 0);
}

/// acks=0 has no answer to carry an error, so Kafka closes the connection
/// when a partition fails and the producer notices (reconnects, refreshes
/// its metadata). A good acks=0 request leaves the connection open.
#[test]
fn acks_zero_failure_closes_the_connection() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    console_produce(&broker, "acks0", "a\n");
    let good = gregor::protocol::batch::build_batch(0, &[(None, Some(&b"ok"[..]), 1_000)]);
    let request = |records: Vec<u8>| {
        ProduceRequest::default().with_acks(0).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default(
        )
        .with_name(topic("acks0"))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(bytes::Bytes::from(records)))])])
    };
    let mut w = Wire::connect(broker.addr);
    w.send(ApiKey::Produce, 7, &request(good.clone()));
    // Still open: the next request is answered, after the record was stored.
    assert_eq!(log_end_offset(&mut w, "acks0"), 2);

    let mut bad = good;
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // the CRC-32C no longer matches
    w.send(ApiKey::Produce, 7, &request(bad));
    assert!(w.is_closed(), "an acks=0 produce that failed must close the connection");

    let mut other = Wire::connect(broker.addr);
    assert_eq!(log_end_offset(&mut other, "acks0"), 2, "nothing of the refused batch is stored");
}
