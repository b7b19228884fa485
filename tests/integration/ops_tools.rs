//! The operator tools of issue #15 against real brokers and coordinators:
//! the verifiable producer and consumer (Kafka's JSON event lines),
//! e2e-latency, zookeeper-shell (our coordinator and Debian's ZooKeeper),
//! server-stop (only ever aimed at this test's own broker, by a broker id no
//! other test uses, since brokers of other tests run beside it), and
//! mirror-maker between two clusters.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::common::zk::{wait_for, RealZk, TestZk};
use crate::common::{bin_script, ok, pipe_into, run_tool, stderr, stdout, ChildGuard, TestBroker};

/// The JSON event lines of a verifiable tool's stdout.
fn events(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["name"] == name).collect()
}

fn create_topic(bs: &str, topic: &str, partitions: &str) {
    ok(run_tool(
        "topics",
        bs,
        &["--create", "--topic", topic, "--partitions", partitions, "--replication-factor", "1"],
    ));
}

#[test]
fn verifiable_producer_acks_are_all_consumed_and_committed_by_the_verifiable_consumer() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    create_topic(&bs, "verified", "3");

    let out = bin_script("kafka-verifiable-producer.sh")
        .args(["--broker-list", &bs, "--topic", "verified", "--max-messages", "300", "--repeating-keys", "7"])
        .output()
        .expect("producer");
    let text = ok(out);
    let ev = events(&text);
    assert_eq!(ev.first().map(|e| e["name"].clone()), Some(Value::from("startup_complete")), "{text}");
    let acks = named(&ev, "producer_send_success");
    assert_eq!(acks.len(), 300, "{text}");
    assert!(named(&ev, "producer_send_error").is_empty(), "{text}");
    let mut values: Vec<i64> = acks.iter().map(|a| a["value"].as_str().expect("value").parse().expect("int")).collect();
    values.sort_unstable();
    assert_eq!(values, (0..300).collect::<Vec<i64>>(), "values are the integers 0..N");
    let mut end_offsets: BTreeMap<i64, i64> = BTreeMap::new();
    for a in &acks {
        assert_eq!(a["topic"], "verified");
        let key: i64 = a["key"].as_str().expect("key").parse().expect("int key");
        assert!((0..7).contains(&key));
        let (p, o) = (a["partition"].as_i64().expect("partition"), a["offset"].as_i64().expect("offset"));
        assert!(o >= 0);
        let end = end_offsets.entry(p).or_insert(0);
        *end = (*end).max(o + 1);
    }
    let tail: Vec<&str> = ev.iter().rev().take(2).map(|e| e["name"].as_str().unwrap_or("")).collect();
    assert_eq!(tail, ["tool_data", "shutdown_complete"], "{text}");
    let data = named(&ev, "tool_data")[0];
    assert_eq!((data["sent"].as_i64(), data["acked"].as_i64()), (Some(300), Some(300)));
    assert_eq!(data["target_throughput"].as_i64(), Some(-1));

    let out = bin_script("kafka-verifiable-consumer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "verified", "--group-id", "checker", "--max-messages", "300"])
        .output()
        .expect("consumer");
    let text = ok(out);
    let ev = events(&text);
    assert_eq!(ev.first().map(|e| e["name"].clone()), Some(Value::from("startup_complete")), "{text}");
    assert_eq!(ev.last().map(|e| e["name"].clone()), Some(Value::from("shutdown_complete")), "{text}");
    let assigned = named(&ev, "partitions_assigned");
    assert_eq!(assigned[0]["partitions"].as_array().map(Vec::len), Some(3), "{text}");
    let consumed: i64 = named(&ev, "records_consumed").iter().map(|e| e["count"].as_i64().expect("count")).sum();
    assert_eq!(consumed, 300, "{text}");
    let commits = named(&ev, "offsets_committed");
    assert!(!commits.is_empty(), "{text}");
    assert!(commits.iter().all(|c| c["success"] == true), "{text}");
    // The last commit of each partition is just past the last acked offset.
    let mut committed: BTreeMap<i64, i64> = BTreeMap::new();
    for c in &commits {
        for o in c["offsets"].as_array().expect("offsets") {
            committed.insert(o["partition"].as_i64().expect("p"), o["offset"].as_i64().expect("o"));
        }
    }
    assert_eq!(committed, end_offsets, "{text}");
    let groups = ok(run_tool("consumer-groups", &bs, &["--describe", "--group", "checker"]));
    assert!(groups.contains("verified"), "{groups}");
}

#[test]
fn verifiable_producer_stops_cleanly_on_sigterm() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    create_topic(&bs, "forever", "1");
    let mut child = bin_script("kafka-verifiable-producer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "forever", "--throughput", "50", "--value-prefix", "9"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn producer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut guard = ChildGuard(Some(child));
    let mut lines = Vec::new();
    // Wait for the first ack, then stop it.
    while !lines.iter().any(|l: &String| l.contains("producer_send_success")) {
        lines.push(rx.recv_timeout(Duration::from_secs(60)).expect("an ack within 60 s"));
    }
    assert_eq!(guard.terminate(Duration::from_secs(60)), Some(0), "SIGTERM is a clean stop");
    lines.extend(rx.iter());
    let ev = events(&lines.join("\n"));
    let acks = named(&ev, "producer_send_success");
    assert!(acks.iter().all(|a| a["value"].as_str().is_some_and(|v| v.starts_with("9."))), "{lines:?}");
    let tail: Vec<&str> = ev.iter().rev().take(2).map(|e| e["name"].as_str().unwrap_or("")).collect();
    assert_eq!(tail, ["tool_data", "shutdown_complete"], "{lines:?}");
    let data = named(&ev, "tool_data")[0];
    assert_eq!(data["acked"].as_i64(), Some(acks.len() as i64));
    assert_eq!(data["sent"], data["acked"], "everything sent was flushed before exiting");
}

#[test]
fn e2e_latency_creates_its_topic_and_prints_kafkas_summary() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = bin_script("kafka-e2e-latency.sh").args([&bs, "latency", "50", "all", "128"]).output().expect("run");
    let text = ok(out);
    assert!(
        text.starts_with(
            "Topic \"latency\" does not exist. Will create topic with 1 partition(s) and replication factor = 1\n0\t"
        ),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("Avg latency: ") && l.ends_with(" ms")), "{text}");
    let last = text.lines().last().unwrap_or("");
    assert!(last.starts_with("Percentiles: 50th = ") && last.contains(", 99th = ") && last.contains(", 99.9th = "));

    let out = bin_script("kafka-e2e-latency.sh").args([&bs, "latency", "5", "0", "128"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "acks=0 cannot measure latency: {}", stderr(&out));
}

/// `zookeeper-shell <connect> <command...>`: exit code, stdout without the
/// connection lines, stderr.
fn zk_shell(connect: &str, command: &[&str]) -> (Option<i32>, String, String) {
    let out = bin_script("zookeeper-shell.sh").arg(connect).args(command).output().expect("zookeeper-shell");
    (out.status.code(), data_lines(&out), stderr(&out))
}

/// Stdout after ZooKeeper's connection banner.
fn data_lines(out: &Output) -> String {
    let text = stdout(out);
    match text.split_once("WatchedEvent state:SyncConnected type:None path:null\n") {
        Some((_, rest)) => rest.to_string(),
        None => text,
    }
}

/// The znode round trip every coordinator must pass.
fn shell_round_trip(connect: &str) {
    let (code, out, err) = zk_shell(connect, &["create", "/ops", "first"]);
    assert_eq!((code, out.as_str()), (Some(0), "Created /ops\n"), "{err}");
    assert_eq!(zk_shell(connect, &["get", "/ops"]).1, "first\n");
    let (code, out, err) = zk_shell(connect, &["set", "/ops", "second value"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let (_, out, _) = zk_shell(connect, &["get", "-s", "/ops"]);
    assert!(out.starts_with("second value\ncZxid = 0x"), "{out}");
    assert!(out.contains("\ndataVersion = 1\n") && out.contains("\ndataLength = 12\n"), "{out}");
    let (_, out, _) = zk_shell(connect, &["stat", "/ops"]);
    let keys: Vec<&str> = out.lines().filter_map(|l| l.split(" = ").next()).collect();
    assert_eq!(
        keys,
        [
            "cZxid",
            "ctime",
            "mZxid",
            "mtime",
            "pZxid",
            "cversion",
            "dataVersion",
            "aclVersion",
            "ephemeralOwner",
            "dataLength",
            "numChildren"
        ],
        "{out}"
    );
    // Commands from a pipe, one per line.
    let mut piped = bin_script("zookeeper-shell.sh");
    piped.arg(connect);
    let out = pipe_into(piped, "create /ops/b\ncreate /ops/a 1\nls /ops\nls -R /ops\ndelete -v 7 /ops/a\n");
    assert_eq!(out.status.code(), Some(1), "the bad version failed the run");
    assert_eq!(data_lines(&out), "Created /ops/b\nCreated /ops/a\n[a, b]\n/ops\n/ops/a\n/ops/b\n");
    assert_eq!(stderr(&out).trim(), "version No is not valid : /ops/a");
    let (code, _, err) = zk_shell(connect, &["delete", "/ops"]);
    assert_eq!((code, err.trim()), (Some(1), "Node not empty: /ops"));
    assert_eq!(zk_shell(connect, &["deleteall", "/ops"]).0, Some(0));
    let (code, out, err) = zk_shell(connect, &["get", "/ops"]);
    assert_eq!((code, out.as_str(), err.trim()), (Some(1), "", "Node does not exist: /ops"));
    let (code, _, err) = zk_shell(connect, &["stat", "/missing/node"]);
    assert_eq!((code, err.trim()), (Some(1), "Node does not exist: /missing/node"));
}

#[test]
fn zookeeper_shell_on_our_coordinator_sees_the_brokers() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let _b = TestBroker::start(&[&format!("zookeeper.connect={connect}"), "broker.id=31"]);
    let (code, out, err) = zk_shell(&connect, &["ls", "/brokers/ids"]);
    assert_eq!((code, out.as_str()), (Some(0), "[31]\n"), "{err}");
    let (_, out, _) = zk_shell(&connect, &["ls", "/"]);
    assert!(out.starts_with('[') && out.contains("brokers, ") && out.contains("controller"), "{out}");
    let (_, out, _) = zk_shell(&connect, &["get", "/brokers/ids/31"]);
    assert!(out.contains("\"endpoints\""), "{out}");
    shell_round_trip(&connect);

    // On a terminal: ZooKeeper's prompt, counting commands.
    let mut cmd = Command::new(crate::common::gregor_bin());
    cmd.args(["zookeeper-shell", &connect]).env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawn on a pty");
    p.exp_string(&format!("[zk: {connect}(CONNECTED) 0] ")).expect("first prompt");
    p.send_line("create /repl typed").expect("send");
    p.exp_string("Created /repl").expect("created");
    p.exp_string(&format!("[zk: {connect}(CONNECTED) 1] ")).expect("second prompt");
    p.send_line("get /repl").expect("send");
    p.exp_string("typed").expect("data");
    p.send_line("quit").expect("send");
    p.exp_eof().expect("quit exits");
}

#[test]
fn zookeeper_shell_on_debians_zookeeper() {
    let Some(zk) = RealZk::start() else { return };
    shell_round_trip(&zk.connect(""));
}

/// Polls until the broker process exits; its exit code.
fn wait_exit(b: &mut TestBroker, within: Duration) -> Option<i32> {
    let mut code = None;
    let exited = wait_for(within, || match b.child.as_mut().map(|c| c.try_wait()) {
        Some(Ok(Some(status))) => {
            code = status.code();
            true
        }
        _ => false,
    });
    assert!(exited, "the broker did not stop within {within:?}");
    b.child = None;
    code
}

#[test]
fn server_stop_stops_only_the_broker_with_the_given_node_id() {
    // Ids no other test uses: brokers of other tests run on this machine too.
    let mut target = TestBroker::start(&["broker.id=4242"]);
    let mut bystander = TestBroker::start(&["broker.id=4243"]);
    let out = bin_script("kafka-server-stop.sh").args(["--node-id", "4242"]).output().expect("stop");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(wait_exit(&mut target, Duration::from_secs(60)), Some(0), "SIGTERM gives a clean shutdown");
    assert!(target.log_text().contains("shut down cleanly"), "{}", target.log_text());
    let still = bystander.child.as_mut().map(|c| c.try_wait().ok().flatten().is_none());
    assert_eq!(still, Some(true), "the other broker keeps running");

    let out = bin_script("kafka-server-stop.sh").args(["--node-id", "4242"]).output().expect("stop");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "No kafka server with node id 4242 to stop\n");
    let out = Command::new(crate::common::gregor_bin())
        .args(["server-stop", "--node-id", "1", "--process-role", "broker"])
        .output()
        .expect("stop");
    assert_eq!(out.status.code(), Some(2), "the two selectors exclude each other");
    bystander.kill();
}

/// A record as the mirror must keep it: partition, key, value, headers, timestamp.
type Mirrored = (i32, Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>, i64);

/// Produces `range` into `topic` with keys, headers and set timestamps.
fn produce_with_headers(bs: &str, topic: &str, range: std::ops::Range<i64>) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    let p: BaseProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", bs).set("acks", "all").create().expect("producer");
    for i in range {
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        let headers = OwnedHeaders::new().insert(Header { key: "origin", value: Some(&i.to_be_bytes()[..]) });
        p.send(
            BaseRecord::to(topic)
                .partition((i % 2) as i32)
                .key(&key)
                .payload(&value)
                .timestamp(1_700_000_000_000 + i)
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .expect("enqueue");
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// Reads every record of `topic` (two partitions) from the beginning until
/// `count` arrived or a minute passed.
fn read_mirrored(bs: &str, topic: &str, count: usize) -> Vec<Mirrored> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", "mirror-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("partition");
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while out.len() < count && std::time::Instant::now() < deadline {
        let Some(Ok(m)) = c.poll(Duration::from_millis(500)) else { continue };
        let headers = m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec())).collect())
            .unwrap_or_default();
        out.push((
            m.partition(),
            m.key().unwrap_or_default().to_vec(),
            m.payload().unwrap_or_default().to_vec(),
            headers,
            m.timestamp().to_millis().unwrap_or(-1),
        ));
    }
    out.sort_by_key(|m| (m.4, m.0));
    out
}

fn expected_mirror(range: std::ops::Range<i64>) -> Vec<Mirrored> {
    range
        .map(|i| {
            (
                (i % 2) as i32,
                format!("k{i}").into_bytes(),
                format!("v{i}").into_bytes(),
                vec![("origin".to_string(), i.to_be_bytes().to_vec())],
                1_700_000_000_000 + i,
            )
        })
        .collect()
}

fn start_mirror_maker(dir: &std::path::Path) -> ChildGuard {
    let child = bin_script("kafka-mirror-maker.sh")
        .arg("--consumer.config")
        .arg(dir.join("consumer.properties"))
        .arg("--producer.config")
        .arg(dir.join("producer.properties"))
        .args(["--whitelist", "mirrored", "--offset.commit.interval.ms", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("mirror.log")).expect("log")))
        .spawn()
        .expect("spawn mirror-maker");
    ChildGuard(Some(child))
}

#[test]
fn mirror_maker_copies_a_topic_and_a_restart_loses_nothing() {
    let source = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let target = TestBroker::start(&[]);
    let (src, dst) = (source.bootstrap(), target.bootstrap());
    create_topic(&src, "mirrored", "2");
    produce_with_headers(&src, "mirrored", 0..30);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("consumer.properties"),
        format!("bootstrap.servers={src}\ngroup.id=mirror\nauto.offset.reset=earliest\n"),
    )
    .expect("consumer config");
    std::fs::write(dir.path().join("producer.properties"), format!("bootstrap.servers={dst}\n")).expect("config");

    let mut mm = start_mirror_maker(dir.path());
    let log = || std::fs::read_to_string(dir.path().join("mirror.log")).unwrap_or_default();
    let got = read_mirrored(&dst, "mirrored", 30);
    assert_eq!(got, expected_mirror(0..30), "{}", log());
    let described = ok(run_tool("topics", &dst, &["--describe", "--topic", "mirrored"]));
    assert!(described.contains("PartitionCount:2"), "created with the source's partition count: {described}");
    assert_eq!(mm.terminate(Duration::from_secs(60)), Some(0), "{}", log());

    // Written while the mirror is down: picked up from the committed offsets.
    produce_with_headers(&src, "mirrored", 30..50);
    let mut mm = start_mirror_maker(dir.path());
    let got = read_mirrored(&dst, "mirrored", 50);
    assert_eq!(got, expected_mirror(0..50), "nothing lost, nothing copied twice: {}", log());
    assert_eq!(mm.terminate(Duration::from_secs(60)), Some(0), "{}", log());
}
