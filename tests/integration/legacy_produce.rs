//! Produce v0–2 with message formats v0/v1 against a real broker: kafka-python
//! told to speak Kafka 0.8.2 (Produce v0, magic 0), 0.9 (Produce v1, magic 0)
//! and 0.10.1 (Produce v2, magic 1) with every codec, and hand-made message sets sent raw — each codec
//! in a wrapper, old clients' lz4, a bad CRC, a truncated set, acks=0 and
//! acks=all, a LogAppendTime topic — all read back with our (record batch v2)
//! consumer.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use gregor::client::{Admin, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord, NewTopic, TimestampType};
use gregor::protocol::message_set::{self, LegacyMessage, MAGIC_V0, MAGIC_V1};
use kafka_protocol::records::Compression;

use crate::common::python;
use crate::common::wire::Wire;
use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(30);
const CODECS: [(&str, Compression); 4] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
];

async fn create(b: &TestBroker, topic: NewTopic) {
    let admin = Admin::connect(ClientConfig::new(b.bootstrap())).await.expect("admin connects");
    admin.create_topic(topic, false).await.expect("create topic");
}

/// Every record of one partition from the beginning, `count` of them.
async fn read_partition(b: &TestBroker, topic: &str, partition: i32, count: usize) -> Vec<ConsumerRecord> {
    let mut c = ConsumerConfig::new(b.bootstrap());
    c.set("fetch.max.wait.ms", "100").expect("property");
    c.set("auto.offset.reset", "earliest").expect("property");
    let mut c = Consumer::new(c).await.expect("consumer");
    c.assign(vec![(topic.to_string(), partition)]).await.expect("assign");
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    out
}

/// Produces 30 keyed records to partition 0 of `<prefix>-<codec>` for every
/// codec; prints `codec offset…` per codec.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
boot, api, prefix, acks = sys.argv[1], tuple(int(x) for x in sys.argv[2].split('.')), sys.argv[3], sys.argv[4]
acks = 'all' if acks == 'all' else int(acks)
for codec in ['none', 'gzip', 'snappy', 'lz4']:
    p = KafkaProducer(bootstrap_servers=boot, api_version=api, acks=acks, linger_ms=200,
                      compression_type=None if codec == 'none' else codec,
                      request_timeout_ms=30000, max_block_ms=30000, retries=0)
    futures = []
    for i in range(30):
        ts = 1700000000000 + i if api >= (0, 10) else None
        futures.append(p.send(prefix + '-' + codec, key=b'k%d' % i, value=b'v%d-' % i + b'x' * (i * 10),
                              partition=0, timestamp_ms=ts))
    p.flush(30)
    print(codec, ' '.join(str(f.get(30).offset) for f in futures), flush=True)
    p.close(timeout=10)
"#;

async fn kafka_python_produces(api: &str, acks: &str) {
    let Some(py) = python::kafka_python() else { return };
    let b = TestBroker::start(&[]);
    let prefix = format!("py{}", api.replace('.', ""));
    for (codec, _) in CODECS {
        create(&b, NewTopic::new(format!("{prefix}-{codec}"), 1)).await;
    }
    let out = tokio::task::spawn_blocking({
        let (boot, api, prefix, acks) = (b.bootstrap(), api.to_string(), prefix.clone(), acks.to_string());
        move || python::run_ok(py, PRODUCE, &[&boot, &api, &prefix, &acks], Duration::from_secs(180))
    })
    .await
    .expect("python");
    let offsets: String = (0..30).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
    for (codec, _) in CODECS {
        assert!(out.lines().any(|l| l == format!("{codec} {offsets}")), "{codec}: {out}");
        let records = read_partition(&b, &format!("{prefix}-{codec}"), 0, 30).await;
        assert_eq!(records.len(), 30, "{codec}");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "{codec}");
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "{codec}");
            let value = [format!("v{i}-").into_bytes(), vec![b'x'; i * 10]].concat();
            assert_eq!(r.value.as_deref(), Some(&value[..]), "{codec}");
            assert_eq!(r.timestamp_type, TimestampType::CreateTime);
            let want = if api.starts_with("0.10") { 1_700_000_000_000 + i as i64 } else { -1 };
            assert_eq!(r.timestamp, want, "{codec} timestamp of record {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_0_8_2_produces_with_produce_v0() {
    kafka_python_produces("0.8.2", "1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_0_9_produces_magic_0_with_every_codec() {
    kafka_python_produces("0.9", "1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_0_10_1_produces_magic_1_with_every_codec() {
    kafka_python_produces("0.10.1", "all").await;
}

/// One partition's answer: (partition, error_code, base_offset, log_append_time).
type Answer = (i32, i16, i64, i64);

/// A framed Produce v0–2 request of `(topic, partition, message set)`, one
/// topic entry per partition.
fn produce_frame(version: i16, correlation_id: i32, acks: i16, parts: &[(&str, i32, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes()); // client id
    b.extend_from_slice(&acks.to_be_bytes());
    b.extend_from_slice(&10_000i32.to_be_bytes());
    b.extend_from_slice(&(parts.len() as i32).to_be_bytes());
    for (topic, partition, set) in parts {
        b.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        b.extend_from_slice(topic.as_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&partition.to_be_bytes());
        b.extend_from_slice(&(set.len() as i32).to_be_bytes());
        b.extend_from_slice(set);
    }
    [(b.len() as i32).to_be_bytes().to_vec(), b].concat()
}

fn read_answer(w: &mut Wire, version: i16, correlation_id: i32) -> Vec<Answer> {
    let mut f = w.read_frame().expect("a Produce response");
    assert_eq!(f.get_i32(), correlation_id, "correlation id");
    let mut out = Vec::new();
    for _ in 0..f.get_i32() {
        let n = f.get_i16() as usize;
        f.advance(n);
        for _ in 0..f.get_i32() {
            let (p, code, base) = (f.get_i32(), f.get_i16(), f.get_i64());
            let log_append_time = if version >= 2 { f.get_i64() } else { -1 };
            out.push((p, code, base, log_append_time));
        }
    }
    if version >= 1 {
        assert_eq!(f.get_i32(), 0, "throttle_time_ms");
    }
    assert!(f.is_empty(), "response fully read");
    out
}

fn produce(w: &mut Wire, version: i16, correlation_id: i32, acks: i16, parts: &[(&str, i32, &[u8])]) -> Vec<Answer> {
    w.send_raw(&produce_frame(version, correlation_id, acks, parts));
    read_answer(w, version, correlation_id)
}

fn messages(tag: &str, magic: i8, n: usize) -> Vec<LegacyMessage> {
    (0..n)
        .map(|i| LegacyMessage {
            offset: i as i64,
            timestamp: if magic == MAGIC_V0 { -1 } else { 1_600_000_000_000 + i as i64 },
            key: (i != 1).then(|| Bytes::from(format!("{tag}-k{i}"))),
            value: (i != 2).then(|| Bytes::from(format!("{tag}-v{i}"))),
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_made_message_sets_over_the_wire() {
    let b = TestBroker::start(&[]);
    create(&b, NewTopic::new("raw", 2)).await;
    create(&b, NewTopic::new("stamped", 1).config("message.timestamp.type", "LogAppendTime")).await;
    create(&b, NewTopic::new("compacted", 1).config("cleanup.policy", "compact")).await;
    create(&b, NewTopic::new("small", 1).config("max.message.bytes", "1000")).await;
    let mut w = Wire::connect(b.addr);
    // Every (request version, magic) with every codec; acks=all on v2 takes the deferred path.
    let mut expected: Vec<LegacyMessage> = Vec::new();
    let mut correlation_id = 10;
    for (version, magic, acks) in [(0, MAGIC_V0, 1), (1, MAGIC_V0, 1), (2, MAGIC_V1, -1)] {
        for (name, codec) in CODECS {
            let batch = messages(&format!("v{version}-{name}"), magic, 3);
            let set = message_set::encode(magic, codec, &batch).expect("encode");
            correlation_id += 1;
            let answer = produce(&mut w, version, correlation_id, acks, &[("raw", 0, &set)]);
            assert_eq!(answer, vec![(0, 0, expected.len() as i64, -1)], "v{version} magic {magic} {name}");
            expected.extend(batch);
        }
    }
    // lz4 as Kafka clients before 0.10 framed it (wrong header checksum), magic 0.
    let old = messages("old-lz4", MAGIC_V0, 2);
    let plain = message_set::encode(MAGIC_V0, Compression::None, &old).expect("encode");
    let mut frame = Vec::new();
    {
        use std::io::Write;
        let mut e = lz4::EncoderBuilder::new().build(&mut frame).expect("lz4");
        e.write_all(&plain).expect("lz4");
        e.finish().1.expect("lz4");
    }
    message_set::break_lz4_header_checksum_as_old_clients(&mut frame);
    let mut set = Vec::new();
    message_set::write_message(&mut set, 1, MAGIC_V0, 3, -1, None, Some(&frame));
    let answer = produce(&mut w, 1, 50, 1, &[("raw", 0, &set)]);
    assert_eq!(answer, vec![(0, 0, expected.len() as i64, -1)]);
    expected.extend(old);

    // A bad CRC refuses its partition only; the connection keeps answering.
    let good = message_set::encode(MAGIC_V1, Compression::Gzip, &messages("p1", MAGIC_V1, 2)).expect("encode");
    let mut bad = message_set::encode(MAGIC_V1, Compression::None, &messages("bad", MAGIC_V1, 2)).expect("encode");
    let last = bad.len() - 1;
    bad[last] ^= 0x20;
    let answer = produce(&mut w, 2, 51, 1, &[("raw", 0, &bad), ("raw", 1, &good)]);
    assert_eq!(answer, vec![(0, 2, -1, -1), (1, 0, 0, -1)], "CORRUPT_MESSAGE for the bad set only");
    // A truncated set (a partial trailing message), and a topic that does not exist.
    let whole = message_set::encode(MAGIC_V0, Compression::None, &messages("cut", MAGIC_V0, 2)).expect("encode");
    let answer = produce(&mut w, 0, 52, 1, &[("raw", 0, &whole[..whole.len() - 3]), ("nope", 0, &whole)]);
    assert_eq!(answer, vec![(0, 2, -1, -1), (0, 3, -1, -1)]);
    // A record without a key on a compacted topic goes through the one append
    // path's record rules (CORRUPT_MESSAGE before Produce v8); a message over
    // max.message.bytes is MESSAGE_TOO_LARGE.
    let keyless = message_set::encode(MAGIC_V1, Compression::Gzip, &messages("c", MAGIC_V1, 2)).expect("encode");
    let big = LegacyMessage { offset: 0, timestamp: 1, key: None, value: Some(Bytes::from(vec![b'x'; 2000])) };
    let big = message_set::encode(MAGIC_V1, Compression::None, &[big]).expect("encode");
    let answer = produce(&mut w, 2, 60, 1, &[("compacted", 0, &keyless), ("small", 0, &big)]);
    assert_eq!(answer, vec![(0, 2, -1, -1), (0, 10, -1, -1)]);
    // acks=0: no answer at all; the next request's answer comes next and the records are there.
    let quiet = messages("quiet", MAGIC_V1, 2);
    let set = message_set::encode(MAGIC_V1, Compression::Snappy, &quiet).expect("encode");
    w.send_raw(&produce_frame(2, 53, 0, &[("raw", 0, &set)]));
    expected.extend(quiet);
    let after = messages("after", MAGIC_V1, 1);
    let set = message_set::encode(MAGIC_V1, Compression::None, &after).expect("encode");
    let answer = produce(&mut w, 2, 54, 1, &[("raw", 0, &set)]);
    assert_eq!(answer, vec![(0, 0, expected.len() as i64, -1)], "the acks=0 records were appended first");
    expected.extend(after);

    // A LogAppendTime topic answers the time it stamped, in v2.
    let before = now_ms();
    let set = message_set::encode(MAGIC_V1, Compression::Lz4, &messages("lat", MAGIC_V1, 2)).expect("encode");
    let answer = produce(&mut w, 2, 55, -1, &[("stamped", 0, &set)]);
    let after = now_ms();
    let (_, code, base, stamp) = answer[0];
    assert_eq!((code, base), (0, 0));
    assert!((before..=after).contains(&stamp), "log_append_time {stamp} not within [{before}, {after}]");

    // Read everything back through the record-batch v2 protocol.
    let records = read_partition(&b, "raw", 0, expected.len()).await;
    assert_eq!(records.len(), expected.len());
    for (i, (r, m)) in records.iter().zip(&expected).enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!((&r.key, &r.value, r.timestamp), (&m.key, &m.value, m.timestamp), "record {i}");
        assert_eq!(r.timestamp_type, TimestampType::CreateTime);
    }
    let p1 = read_partition(&b, "raw", 1, 2).await;
    assert_eq!(
        p1.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        vec![Some(Bytes::from("p1-v0")), Some(Bytes::from("p1-v1"))]
    );
    let stamped = read_partition(&b, "stamped", 0, 2).await;
    assert_eq!(stamped.len(), 2);
    for r in &stamped {
        assert_eq!((r.timestamp_type, r.timestamp), (TimestampType::LogAppendTime, stamp));
    }
}
