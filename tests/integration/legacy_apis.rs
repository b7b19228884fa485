//! The 0.8.1–0.11-era versions of the offset, group, topic and config APIs
//! (issue #11): kafka-python told to speak an old protocol (`api_version=`)
//! as a real old client, and hand-made frames for every hand-coded version,
//! malformed ones included. OffsetCommit/OffsetFetch v0 are checked where
//! Kafka's ZooKeeper mode keeps them: `/consumers/<group>/offsets/<topic>/<p>`.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::Value;
use zookeeper_client::Client;

use crate::common::python::{kafka_python, run_ok};
use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(120);

/// A broker whose topics get two partitions and whose groups start at once.
fn broker(extra: &[&str]) -> TestBroker {
    let mut o = vec!["offsets.topic.num.partitions=2", "group.initial.rebalance.delay.ms=0", "num.partitions=2"];
    o.extend_from_slice(extra);
    TestBroker::start(&o)
}

fn create_topic(b: &TestBroker, name: &str, partitions: u32) {
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &b.bootstrap(), "--create", "--topic", name])
        .args(["--partitions", &partitions.to_string()])
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn produce(b: &TestBroker, topic: &str, count: usize) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    for i in 0..count {
        let v = format!("v{i}");
        p.send(BaseRecord::<(), _>::to(topic).partition(0).payload(&v)).map_err(|(e, _)| e).expect("enqueue");
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// Python prelude: records the `XRequest(version=N)` kafka-python logs, so a
/// script can report which versions it really sent.
const SEEN: &str = r#"
import json, logging, re, sys, time
class Seen(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.versions = set()
    def emit(self, record):
        for api, v in re.findall(r"(\w+)Request\(version=(\d+)", record.getMessage()):
            self.versions.add(f"{api} v{v}")
seen = Seen()
logging.getLogger("kafka").addHandler(seen)
logging.getLogger("kafka").setLevel(logging.DEBUG)
"#;

fn python_json(script: &str, args: &[&str]) -> Option<Value> {
    let python = kafka_python()?;
    let out = run_ok(python, &format!("{SEEN}{script}"), args, TIMEOUT);
    let last = out.lines().last().unwrap_or_default();
    Some(serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {out}")))
}

fn sent(v: &Value) -> Vec<String> {
    v["sent"].as_array().expect("sent").iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect()
}

fn assert_sent(v: &Value, wanted: &[&str]) {
    let sent = sent(v);
    for w in wanted {
        assert!(sent.iter().any(|s| s == w), "{w} not among the requests sent: {sent:?}");
    }
}

const COMMIT_SCRIPT: &str = r#"
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
bs, topic, version = sys.argv[1], sys.argv[2], tuple(map(int, sys.argv[3].split(".")))
group = "g-" + sys.argv[3]
c = KafkaConsumer(bootstrap_servers=bs, group_id=group, api_version=version,
                  enable_auto_commit=False, request_timeout_ms=30000)
tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
c.assign(tps)
c.commit({tps[0]: OffsetAndMetadata(42, "m", -1), tps[1]: OffsetAndMetadata(7, "", -1)})
committed = [c.committed(tp) for tp in tps]
ends = c.end_offsets(tps)
starts = c.beginning_offsets(tps)
c.close(autocommit=False)
print(json.dumps({"committed": committed, "ends": [ends[tp] for tp in tps], "starts": [starts[tp] for tp in tps],
                  "sent": sorted(seen.versions)}))
"#;

#[test]
fn kafka_python_commits_and_reads_back_offsets_at_every_old_version() {
    let b = broker(&[]);
    create_topic(&b, "t", 2);
    produce(&b, "t", 3);
    // kafka-python's table: which versions each api_version sends.
    let cases = [
        ("0.8.1", &["OffsetCommit v0", "OffsetFetch v0", "ListOffsets v0", "Metadata v0"][..]),
        ("0.8.2", &["OffsetCommit v1", "OffsetFetch v1", "FindCoordinator v0", "ListOffsets v0"][..]),
        ("0.9", &["OffsetCommit v2", "OffsetFetch v1", "ListOffsets v0"][..]),
        ("0.10.1", &["OffsetCommit v2", "OffsetFetch v1", "ListOffsets v1", "Metadata v2"][..]),
    ];
    for (version, wanted) in cases {
        let Some(v) = python_json(COMMIT_SCRIPT, &[&b.bootstrap(), "t", version]) else { return };
        assert_eq!(v["committed"], serde_json::json!([42, 7]), "api_version {version}: {v}");
        assert_eq!(v["ends"], serde_json::json!([3, 0]), "api_version {version}: {v}");
        assert_eq!(v["starts"], serde_json::json!([0, 0]), "api_version {version}: {v}");
        assert_sent(&v, wanted);
    }
    // v0 commits went to ZooKeeper, v1+ to the group coordinator: each store
    // answers only its own versions, as in Kafka's ZooKeeper mode.
    let mut w = Wire::connect(b.addr);
    assert_eq!(offset_fetch(&mut w, 0, "g-0.8.1", "t", &[0, 1]), vec![(0, 42, 0), (1, 7, 0)]);
    assert_eq!(offset_fetch(&mut w, 1, "g-0.8.1", "t", &[0]), vec![(0, -1, 0)]);
    assert_eq!(offset_fetch(&mut w, 0, "g-0.8.2", "t", &[0]), vec![(0, -1, 0)]);
    assert_eq!(offset_fetch(&mut w, 1, "g-0.8.2", "t", &[0, 1]), vec![(0, 42, 0), (1, 7, 0)]);
}

const GROUP_SCRIPT: &str = r#"
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
bs, topic, version = sys.argv[1], sys.argv[2], tuple(map(int, sys.argv[3].split(".")))
c = KafkaConsumer(bootstrap_servers=bs, group_id="members-" + sys.argv[3], api_version=version,
                  enable_auto_commit=False, request_timeout_ms=30000,
                  session_timeout_ms=10000, heartbeat_interval_ms=100)
c.subscribe([topic])
deadline = time.time() + 90
# The coordinator's poll joins and syncs without fetching (old Fetch versions are not the point here).
while not c.assignment() and time.time() < deadline:
    c._coordinator.poll(timeout_ms=1000)
hb = c._coordinator.heartbeat
while hb.last_receive == float("-inf") and time.time() < deadline:
    c._coordinator.poll(timeout_ms=200)
    time.sleep(0.1)
tp = TopicPartition(topic, 1)
c.commit({tp: OffsetAndMetadata(5, "x", -1)})
out = {"assigned": sorted(p.partition for p in c.assignment()), "committed": c.committed(tp),
       "heartbeats": hb.last_receive != float("-inf"),
       "generation": c._coordinator._generation.generation_id}
c.close(autocommit=False)
print(json.dumps(dict(out, sent=sorted(seen.versions))))
"#;

#[test]
fn kafka_python_joins_a_group_with_the_0_9_and_0_10_protocols() {
    let b = broker(&[]);
    create_topic(&b, "t", 2);
    let cases = [
        ("0.9", &["FindCoordinator v0", "JoinGroup v0", "SyncGroup v0", "Heartbeat v0", "LeaveGroup v0"][..]),
        ("0.10.1", &["JoinGroup v1", "SyncGroup v0", "Heartbeat v0", "LeaveGroup v0"][..]),
    ];
    for (version, wanted) in cases {
        let Some(v) = python_json(GROUP_SCRIPT, &[&b.bootstrap(), "t", version]) else { return };
        assert_eq!(v["assigned"], serde_json::json!([0, 1]), "api_version {version}: {v}");
        assert_eq!(v["committed"], 5, "{v}");
        assert_eq!(v["heartbeats"], true, "{v}");
        assert!(v["generation"].as_i64().unwrap_or(0) >= 1, "{v}");
        assert_sent(&v, wanted);
    }
}

const ADMIN_SCRIPT: &str = r#"
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
import kafka.errors as Errors
bs = sys.argv[1]
out = {}
a = KafkaAdminClient(bootstrap_servers=bs, api_version=(0, 10, 1), request_timeout_ms=30000)
r = a.create_topics({"three": {"num_partitions": 3, "replication_factor": 1},
                     "kept": {"num_partitions": 2, "replication_factor": 1, "configs": {"retention.ms": "12345"}}})
out["created"] = sorted((t["name"], t["error_code"]) for t in r["topics"])
out["partitions"] = sorted((t["name"], len(t["partitions"])) for t in a.describe_topics(["three", "kept"]))
r = a.delete_topics(["three"])
out["deleted"] = [(t["name"], t["error_code"]) for t in r["topics"]]
out["after_delete"] = sorted(t for t in a.list_topics() if t in ("three", "kept"))
a.close()
a = KafkaAdminClient(bootstrap_servers=bs, api_version=(0, 10, 2), request_timeout_ms=30000)
a.create_topics({"validated": {"num_partitions": 1, "replication_factor": 1}}, validate_only=True)
try:
    a.create_topics({"kept": {"num_partitions": 1, "replication_factor": 1}})
    out["duplicate"] = "created"
except Errors.TopicAlreadyExistsError as e:
    out["duplicate"] = str(e)
out["validated_exists"] = "validated" in a.list_topics()
a.close()
a = KafkaAdminClient(bootstrap_servers=bs, api_version=(0, 11), request_timeout_ms=30000)
r = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kept")], config_filter="all")
out["topic_configs"] = r["topic"]["kept"]
r = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "0", {"log.retention.hours": None})],
                       config_filter="all")
out["broker_configs"] = r["broker"]["0"]
a.close()
print(json.dumps(dict(out, sent=sorted(seen.versions))))
"#;

#[test]
fn kafka_python_admin_creates_deletes_and_describes_at_0_10_and_0_11() {
    let b = broker(&[]);
    let Some(v) = python_json(ADMIN_SCRIPT, &[&b.bootstrap()]) else { return };
    assert_eq!(v["created"], serde_json::json!([["kept", 0], ["three", 0]]), "{v}");
    assert_eq!(v["partitions"], serde_json::json!([["kept", 2], ["three", 3]]), "{v}");
    assert_eq!(v["deleted"], serde_json::json!([["three", 0]]), "{v}");
    assert_eq!(v["after_delete"], serde_json::json!(["kept"]), "{v}");
    let duplicate = v["duplicate"].as_str().unwrap_or_default();
    assert!(duplicate.contains("Topic 'kept' already exists."), "v1 carries the error message: {duplicate}");
    assert_eq!(v["validated_exists"], false, "validate_only creates nothing");
    let retention = &v["topic_configs"]["retention.ms"];
    assert_eq!((retention["value"].as_str(), retention["is_default"].as_bool()), (Some("12345"), Some(false)), "{v}");
    let cleanup = &v["topic_configs"]["cleanup.policy"];
    assert_eq!((cleanup["value"].as_str(), cleanup["is_default"].as_bool()), (Some("delete"), Some(true)), "{v}");
    let hours = &v["broker_configs"]["log.retention.hours"];
    assert_eq!(hours["value"].as_str(), Some("168"), "{v}");
    assert_eq!(v["broker_configs"].as_object().map(|o| o.len()), Some(1), "only the asked key: {v}");
    assert_sent(&v, &["CreateTopics v0", "DeleteTopics v0", "CreateTopics v1", "DescribeConfigs v0"]);
}

// ---- hand-made frames ----

/// A request with a v1 header, built field by field.
struct Req(BytesMut);

impl Req {
    fn new(api: i16, version: i16) -> Req {
        let mut b = BytesMut::new();
        b.put_i16(api);
        b.put_i16(version);
        b.put_i32(1);
        Req(b).s("legacy-tests")
    }
    fn i8(mut self, v: i8) -> Req {
        self.0.put_i8(v);
        self
    }
    fn i16(mut self, v: i16) -> Req {
        self.0.put_i16(v);
        self
    }
    fn i32(mut self, v: i32) -> Req {
        self.0.put_i32(v);
        self
    }
    fn i64(mut self, v: i64) -> Req {
        self.0.put_i64(v);
        self
    }
    fn s(mut self, v: &str) -> Req {
        self.0.put_i16(v.len() as i16);
        self.0.put_slice(v.as_bytes());
        self
    }
    fn framed(&self) -> Vec<u8> {
        let mut f = (self.0.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&self.0);
        f
    }
}

/// Sends `req` and returns the body after the correlation id; `None` if the
/// broker closed the connection instead.
fn call(w: &mut Wire, req: &Req) -> Option<Resp> {
    w.send_raw(&req.framed());
    let mut frame = w.read_frame()?;
    assert_eq!(frame.get_i32(), 1, "correlation id");
    Some(Resp(frame))
}

/// A response body read field by field.
struct Resp(Bytes);

impl Resp {
    fn i8(&mut self) -> i8 {
        self.0.get_i8()
    }
    fn bool(&mut self) -> bool {
        self.0.get_u8() != 0
    }
    fn i16(&mut self) -> i16 {
        self.0.get_i16()
    }
    fn i32(&mut self) -> i32 {
        self.0.get_i32()
    }
    fn i64(&mut self) -> i64 {
        self.0.get_i64()
    }
    fn s(&mut self) -> Option<String> {
        let n = self.0.get_i16();
        if n < 0 {
            return None;
        }
        let raw = self.0.split_to(n as usize);
        Some(String::from_utf8(raw.to_vec()).expect("utf-8"))
    }
    fn done(&self) {
        assert_eq!(self.0.remaining(), 0, "the whole response read");
    }
}

/// OffsetCommit v0/v1 of one topic; `(partition, error)` per partition.
fn offset_commit(
    w: &mut Wire,
    version: i16,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64, &str)],
) -> Vec<(i32, i16)> {
    let mut r = Req::new(8, version).s(group);
    if version >= 1 {
        r = r.i32(-1).s("");
    }
    r = r.i32(1).s(topic).i32(offsets.len() as i32);
    for &(p, o, m) in offsets {
        r = r.i32(p).i64(o);
        if version >= 1 {
            r = r.i64(-1);
        }
        r = r.s(m);
    }
    let mut resp = call(w, &r).expect("OffsetCommit answer");
    assert_eq!(resp.i32(), 1);
    assert_eq!(resp.s().as_deref(), Some(topic));
    let out = (0..resp.i32()).map(|_| (resp.i32(), resp.i16())).collect();
    resp.done();
    out
}

/// OffsetFetch v0/v1 of one topic; `(partition, offset, error)` per partition.
fn offset_fetch(w: &mut Wire, version: i16, group: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64, i16)> {
    let mut r = Req::new(9, version).s(group).i32(1).s(topic).i32(partitions.len() as i32);
    for &p in partitions {
        r = r.i32(p);
    }
    let mut resp = call(w, &r).expect("OffsetFetch answer");
    assert_eq!(resp.i32(), 1);
    assert_eq!(resp.s().as_deref(), Some(topic));
    let n = resp.i32();
    let out = (0..n)
        .map(|_| {
            let (p, o) = (resp.i32(), resp.i64());
            let _metadata = resp.s();
            (p, o, resp.i16())
        })
        .collect();
    resp.done();
    out
}

/// OffsetFetch v1 of one partition once FindCoordinator v0 found the group's
/// coordinator (the first FindCoordinator creates the offsets topic), asked
/// again while the coordinator is still loading.
fn coordinated_fetch(w: &mut Wire, group: &str, topic: &str, partition: i32) -> (i32, i64, i16) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let mut resp = call(w, &Req::new(10, 0).s(group)).expect("FindCoordinator v0 answer");
        if resp.i16() == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no coordinator for {group}");
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let answer = offset_fetch(w, 1, group, topic, &[partition])[0];
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
        if ![14, 15, 16].contains(&answer.2) || std::time::Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn zk_client(connect: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn v0_offsets_live_in_zookeeper_where_kafka_keeps_them() {
    let zk = TestZk::start();
    let b = broker(&[&format!("zookeeper.connect={}", zk.connect("/kafka"))]);
    create_topic(&b, "t", 2);
    let mut w = Wire::connect(b.addr);
    assert_eq!(offset_commit(&mut w, 0, "old", "t", &[(0, 42, "m"), (1, 7, "")]), vec![(0, 0), (1, 0)]);
    let c = zk_client(&zk.connect("/kafka")).await;
    let (data, _) = c.get_data("/consumers/old/offsets/t/0").await.expect("the v0 offset znode");
    assert_eq!(data, b"42");
    // Overwritten in place; and what an 0.8 tool writes there is what v0 reads.
    assert_eq!(offset_commit(&mut w, 0, "old", "t", &[(0, 43, "")]), vec![(0, 0)]);
    assert_eq!(c.get_data("/consumers/old/offsets/t/0").await.expect("znode").0, b"43");
    c.set_data("/consumers/old/offsets/t/1", b"99", None).await.expect("set");
    assert_eq!(offset_fetch(&mut w, 0, "old", "t", &[0, 1, 5]), vec![(0, 43, 0), (1, 99, 0), (5, -1, 0)]);
    // The coordinator never saw them.
    assert_eq!(coordinated_fetch(&mut w, "old", "t", 0), (0, -1, 0));
    // Kafka's answers for an unknown partition, too much metadata, an empty group id.
    assert_eq!(offset_commit(&mut w, 0, "old", "t", &[(9, 1, "")]), vec![(9, 3)], "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(offset_commit(&mut w, 0, "old", "nope", &[(0, 1, "")]), vec![(0, 3)]);
    let big = "x".repeat(5000);
    assert_eq!(offset_commit(&mut w, 0, "old", "t", &[(0, 1, &big)]), vec![(0, 12)], "OFFSET_METADATA_TOO_LARGE");
    assert_eq!(offset_commit(&mut w, 0, "", "t", &[(0, 1, "")]), vec![(0, 24)], "INVALID_GROUP_ID");
    assert_eq!(offset_fetch(&mut w, 0, "nobody", "nope", &[0]), vec![(0, -1, 0)]);
    assert_eq!(offset_fetch(&mut w, 0, "old", "t", &[0]), vec![(0, 43, 0)], "the refused commits changed nothing");
    // v1 goes to the coordinator (generation −1: a group it does not manage).
    assert_eq!(offset_commit(&mut w, 1, "new", "t", &[(0, 5, "m")]), vec![(0, 0)]);
    assert_eq!(coordinated_fetch(&mut w, "new", "t", 0), (0, 5, 0));
    assert!(c.check_stat("/consumers/new").await.expect("stat").is_none(), "v1 is not written to ZooKeeper");
}

#[test]
fn old_topic_and_config_versions_on_the_wire() {
    let b = broker(&[]);
    let mut w = Wire::connect(b.addr);
    // CreateTopics v0: one by count, one by assignment; v1: validate_only and error messages.
    let r = Req::new(19, 0)
        .i32(2)
        .s("counted")
        .i32(3)
        .i16(1)
        .i32(0)
        .i32(1)
        .s("retention.ms")
        .s("5000")
        .s("placed")
        .i32(-1)
        .i16(-1)
        .i32(2)
        .i32(0)
        .i32(1)
        .i32(0)
        .i32(1)
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(30_000);
    let mut resp = call(&mut w, &r).expect("CreateTopics v0 answer");
    assert_eq!(resp.i32(), 2);
    assert_eq!((resp.s().as_deref(), resp.i16()), (Some("counted"), 0));
    assert_eq!((resp.s().as_deref(), resp.i16()), (Some("placed"), 0));
    resp.done();
    let r = Req::new(19, 1).i32(1).s("counted").i32(1).i16(1).i32(0).i32(0).i32(30_000).i8(0);
    let mut resp = call(&mut w, &r).expect("CreateTopics v1 answer");
    assert_eq!(resp.i32(), 1);
    assert_eq!((resp.s().as_deref(), resp.i16()), (Some("counted"), 36), "TOPIC_ALREADY_EXISTS");
    assert_eq!(resp.s().as_deref(), Some("Topic 'counted' already exists."));
    resp.done();
    let r = Req::new(19, 1).i32(1).s("dry").i32(1).i16(1).i32(0).i32(0).i32(30_000).i8(1);
    let mut resp = call(&mut w, &r).expect("validate_only answer");
    assert_eq!((resp.i32(), resp.s().as_deref(), resp.i16()), (1, Some("dry"), 0));
    assert_eq!(resp.s().unwrap_or_default(), "", "no error message");
    resp.done();

    // Metadata v0: an empty list is every topic; a named one is just that.
    let topics = metadata_v0(&mut w, &[]);
    assert!(topics.contains(&("counted".to_string(), 3)) && topics.contains(&("placed".to_string(), 2)), "{topics:?}");
    assert!(!topics.iter().any(|(t, _)| t == "dry"), "validate_only created nothing: {topics:?}");
    assert_eq!(metadata_v0(&mut w, &["placed"]), vec![("placed".to_string(), 2)]);

    // DescribeConfigs v0: the asked keys with v0's is_default; an unknown topic's error.
    let r =
        Req::new(32, 0).i32(2).i8(2).s("counted").i32(2).s("retention.ms").s("cleanup.policy").i8(2).s("nope").i32(-1);
    let mut resp = call(&mut w, &r).expect("DescribeConfigs v0 answer");
    assert_eq!(resp.i32(), 0, "throttle time");
    assert_eq!(resp.i32(), 2);
    assert_eq!(resp.i16(), 0);
    assert_eq!(resp.s().unwrap_or_default(), "", "no error message");
    assert_eq!((resp.i8(), resp.s().as_deref()), (2, Some("counted")));
    let mut configs = Vec::new();
    for _ in 0..resp.i32() {
        let (name, value) = (resp.s().expect("name"), resp.s());
        let (_read_only, is_default, sensitive) = (resp.bool(), resp.bool(), resp.bool());
        configs.push((name, value, is_default, sensitive));
    }
    configs.sort();
    assert_eq!(
        configs,
        vec![
            ("cleanup.policy".to_string(), Some("delete".to_string()), true, false),
            ("retention.ms".to_string(), Some("5000".to_string()), false, false),
        ]
    );
    assert_eq!((resp.i16(), resp.s().as_deref()), (3, Some("Topic 'nope' does not exist.")));
    assert_eq!((resp.i8(), resp.s().as_deref(), resp.i32()), (2, Some("nope"), 0));
    resp.done();

    // OffsetForLeaderEpoch v0/v1 after three records in epoch 0.
    produce(&b, "counted", 3);
    for version in [0, 1] {
        let r = Req::new(23, version).i32(1).s("counted").i32(2).i32(0).i32(0).i32(7).i32(0);
        let mut resp = call(&mut w, &r).expect("OffsetForLeaderEpoch answer");
        assert_eq!((resp.i32(), resp.s().as_deref(), resp.i32()), (1, Some("counted"), 2));
        assert_eq!((resp.i16(), resp.i32()), (0, 0));
        if version >= 1 {
            assert_eq!(resp.i32(), 0, "leader epoch");
        }
        assert_eq!(resp.i64(), 3, "v{version}: the end offset of epoch 0");
        assert_eq!((resp.i16(), resp.i32()), (3, 7), "UNKNOWN_TOPIC_OR_PARTITION");
        if version >= 1 {
            assert_eq!(resp.i32(), -1);
        }
        assert_eq!(resp.i64(), -1);
        resp.done();
    }

    // ListOffsets v0 still answers through the same routing.
    let r = Req::new(2, 0).i32(-1).i32(1).s("counted").i32(1).i32(0).i64(-1).i32(1);
    let mut resp = call(&mut w, &r).expect("ListOffsets v0 answer");
    assert_eq!((resp.i32(), resp.s().as_deref(), resp.i32()), (1, Some("counted"), 1));
    assert_eq!((resp.i32(), resp.i16(), resp.i32(), resp.i64()), (0, 0, 1, 3));

    // DeleteTopics v0.
    let mut resp = call(&mut w, &Req::new(20, 0).i32(2).s("placed").s("nope").i32(30_000)).expect("DeleteTopics v0");
    assert_eq!(resp.i32(), 2);
    let mut answers = vec![(resp.s().expect("name"), resp.i16()), (resp.s().expect("name"), resp.i16())];
    answers.sort();
    assert_eq!(answers, vec![("nope".to_string(), 3), ("placed".to_string(), 0)]);
    resp.done();
    assert!(!metadata_v0(&mut w, &[]).iter().any(|(t, _)| t == "placed"));

    // ApiVersions v0 advertises Kafka 3.x's minimums.
    let mut resp = call(&mut w, &Req::new(18, 0)).expect("ApiVersions v0");
    assert_eq!(resp.i16(), 0);
    let ranges: Vec<(i16, i16, i16)> = (0..resp.i32()).map(|_| (resp.i16(), resp.i16(), resp.i16())).collect();
    for api in [2, 8, 9, 19, 20, 23, 32] {
        assert!(ranges.iter().any(|&(a, min, _)| a == api && min == 0), "api {api} from v0: {ranges:?}");
    }
}

/// Metadata v0 for `topics`; `(name, partition count)` of the topics answered.
fn metadata_v0(w: &mut Wire, topics: &[&str]) -> Vec<(String, usize)> {
    let mut r = Req::new(3, 0).i32(topics.len() as i32);
    for t in topics {
        r = r.s(t);
    }
    let mut resp = call(w, &r).expect("Metadata v0 answer");
    for _ in 0..resp.i32() {
        let _broker = (resp.i32(), resp.s(), resp.i32());
    }
    let mut out = Vec::new();
    for _ in 0..resp.i32() {
        let (error, name) = (resp.i16(), resp.s().expect("name"));
        assert_eq!(error, 0, "{name}");
        let n = resp.i32();
        for _ in 0..n {
            let _partition = (resp.i16(), resp.i32(), resp.i32());
            for _ in 0..2 {
                for _ in 0..resp.i32() {
                    resp.i32();
                }
            }
        }
        out.push((name, n as usize));
    }
    resp.done();
    out
}

#[test]
fn malformed_old_bodies_close_only_their_connection() {
    let b = broker(&[]);
    create_topic(&b, "t", 1);
    let well_formed = [
        Req::new(8, 0).s("g").i32(1).s("t").i32(1).i32(0).i64(1).s(""),
        Req::new(8, 1).s("g").i32(-1).s("").i32(1).s("t").i32(1).i32(0).i64(1).i64(-1).s(""),
        Req::new(9, 0).s("g").i32(1).s("t").i32(1).i32(0),
        Req::new(19, 0).i32(1).s("x").i32(1).i16(1).i32(0).i32(0).i32(1000),
        Req::new(19, 1).i32(1).s("x").i32(1).i16(1).i32(0).i32(0).i32(1000).i8(1),
        Req::new(20, 0).i32(1).s("y").i32(1000),
        Req::new(23, 0).i32(1).s("t").i32(1).i32(0).i32(0),
        Req::new(23, 1).i32(1).s("t").i32(1).i32(0).i32(0),
        Req::new(32, 0).i32(1).i8(2).s("t").i32(-1),
    ];
    // A client connected throughout, untouched by the others' bad requests.
    let mut bystander = Wire::connect(b.addr);
    assert!(metadata_v0(&mut bystander, &["t"]).contains(&("t".to_string(), 1)));
    let header_len = Req::new(0, 0).0.len();
    for req in &well_formed {
        let what = format!("api {} v{}", i16::from_be_bytes([req.0[0], req.0[1]]), req.0[3]);
        // Cut short inside the body: the connection closes.
        let mut short = Req(BytesMut::from(&req.0[..req.0.len() - 1]));
        let mut w = Wire::connect(b.addr);
        assert!(call(&mut w, &short).is_none(), "{what}: a truncated body is answered");
        assert!(w.is_closed(), "{what}");
        // A count or length far beyond the frame: refused before allocating, closed.
        short.0.truncate(header_len);
        short.0.put_i32(i32::MAX);
        let mut w = Wire::connect(b.addr);
        assert!(call(&mut w, &short).is_none(), "{what}: a hostile count is answered");
        // The whole request still works on a fresh connection.
        let mut w = Wire::connect(b.addr);
        assert!(call(&mut w, req).is_some(), "{what}: the well-formed request is not answered");
    }
    // Everyone else carries on.
    assert!(metadata_v0(&mut bystander, &["t"]).contains(&("t".to_string(), 1)));
    let mut w = Wire::connect(b.addr);
    assert_eq!(offset_fetch(&mut w, 0, "g", "t", &[0]), vec![(0, 1, 0)], "the well-formed v0 commit stored");
    // Closed for the stated reason, not by a panicking handler.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !b.log_text().contains("closing connection: malformed OffsetCommit v0 request") {
        assert!(std::time::Instant::now() < deadline, "no reason logged:\n{}", b.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!b.log_text().contains("panicked"), "{}", b.log_text());
}
