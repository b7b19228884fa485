//! The seed's protocol era end to end: kafka-python told to speak as a 0.9,
//! 0.10.0, 0.10.1 and 0.11 client (Produce v1/v2/v2/v3, Fetch v1/v2/v3/v4,
//! message formats 0/1/1/2) produces with every codec it had, and every one of
//! them reads everything back in a consumer group, commits, and resumes from
//! its commit; a new client (librdkafka) reads the old writes too. Old and new
//! formats end up interleaved on one topic, read in both directions.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

use crate::common::python::{kafka_python, run_ok};
use crate::common::{gregor_bin, TestBroker};

const PY_TIMEOUT: Duration = Duration::from_secs(180);

/// The client versions, as kafka-python's `api_version` and a label.
const VERSIONS: &[(&str, &str)] =
    &[("(0, 9)", "0.9"), ("(0, 10, 0)", "0.10.0"), ("(0, 10, 1)", "0.10.1"), ("(0, 11)", "0.11")];
const CODECS: &[&str] = &["none", "gzip", "snappy", "lz4"];
const PER_CODEC: usize = 3;

/// argv: bootstrap topic api_version label codecs...; one producer per codec,
/// each line keyed `<label>/<codec>` so it stays in one partition, in order.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
bootstrap, topic, version, label = sys.argv[1:5]
for codec in sys.argv[5:]:
    p = KafkaProducer(bootstrap_servers=bootstrap, api_version=eval(version), acks='all',
                      compression_type=None if codec == 'none' else codec, linger_ms=50)
    futures = [p.send(topic, key=f'{label}/{codec}'.encode(), value=f'{label}/{codec}/{i}'.encode())
               for i in range(3)]
    p.flush(60)
    for f in futures:
        f.get(timeout=60)
    p.close()
print('ok')
"#;

/// argv: bootstrap topic api_version group expected; prints `key value` per
/// record in arrival order, commits, closes.
const CONSUME: &str = r#"
import sys, time
from kafka import KafkaConsumer
bootstrap, topic, version, group, expected = sys.argv[1:6]
expected = int(expected)
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, api_version=eval(version), group_id=group,
                  auto_offset_reset='earliest', enable_auto_commit=False)
got = []
deadline = time.time() + 120
while len(got) < expected and time.time() < deadline:
    for tp, records in c.poll(timeout_ms=500).items():
        for r in records:
            got.append((r.key.decode(), r.value.decode()))
# A resumed member with nothing new still polls a little: a wrong commit would show here.
end = time.time() + (3 if expected == 0 else 0)
while time.time() < end:
    for tp, records in c.poll(timeout_ms=500).items():
        for r in records:
            got.append((r.key.decode(), r.value.decode()))
c.commit()
c.close()
for k, v in got:
    print(k, v)
"#;

fn create_topic(b: &TestBroker, topic: &str, partitions: u32) {
    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &b.bootstrap(), "--create", "--topic", topic])
        .args(["--partitions", &partitions.to_string(), "--replication-factor", "1"])
        .env("NO_COLOR", "1")
        .output()
        .expect("gregor topics");
    assert!(out.status.success(), "create topic: {}", String::from_utf8_lossy(&out.stderr));
}

/// Groups `key value` lines by key, keeping arrival order.
fn by_key(lines: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines.lines().filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    m
}

fn expected() -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for (_, label) in VERSIONS {
        for codec in CODECS {
            let key = format!("{label}/{codec}");
            m.insert(key.clone(), (0..PER_CODEC).map(|i| format!("{key}/{i}")).collect());
        }
    }
    m
}

#[test]
fn old_clients_produce_consume_and_commit_across_versions_and_codecs() {
    let Some(py) = kafka_python() else { return };
    let b = TestBroker::start(&["num.partitions=2"]);
    let topic = "legacy-clients";
    create_topic(&b, topic, 2);
    let bootstrap = b.bootstrap();

    for (version, label) in VERSIONS {
        let mut args = vec![bootstrap.as_str(), topic, version, label];
        args.extend(CODECS);
        run_ok(py, PRODUCE, &args, PY_TIMEOUT);
    }
    let want = expected();
    let total = want.values().map(Vec::len).sum::<usize>();

    for (version, label) in VERSIONS {
        let group = format!("legacy-{label}");
        let n = total.to_string();
        let first = run_ok(py, CONSUME, &[&bootstrap, topic, version, &group, &n], PY_TIMEOUT);
        assert_eq!(by_key(&first), want, "{label} consumer read something else");
        // The same group again: everything was committed, nothing is read twice.
        let again = run_ok(py, CONSUME, &[&bootstrap, topic, version, &group, "0"], PY_TIMEOUT);
        assert_eq!(again.trim(), "", "{label} consumer re-read after its commit");
    }

    // A new client reads the old formats (stored up-converted) in order.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "legacy-new-client")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("rdkafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut lines = String::new();
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while seen < total && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            lines.push_str(&format!("{key} {value}\n"));
            seen += 1;
        }
    }
    assert_eq!(by_key(&lines), want, "librdkafka read something else");
}
