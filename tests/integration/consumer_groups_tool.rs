//! `consumer-groups` (kafka-consumer-groups.sh) against a real broker, with
//! librdkafka group consumers (the `rdkafka` crate) making the groups:
//! list, describe (lag, members, state), reset offsets (dry run, execute,
//! shift, durations), delete offsets, delete groups, and the usage errors.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, NewTopic, Producer, ProducerConfig, ProducerRecord, ResponseError, TopicPartition,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::{bin_script, gregor_bin, TestBroker};
use crate::common::{ok, run_tool, stderr, stdout};

fn groups(bs: &str, args: &[&str]) -> Output {
    run_tool("consumer-groups", bs, args)
}

const WAIT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "cg-tool-test";

fn broker() -> TestBroker {
    TestBroker::start(&["group.initial.rebalance.delay.ms=0", "offsets.topic.replication.factor=1"])
}

/// Creates `topic` with `counts[p]` records in each partition p.
fn setup(bs: &str, topic: &str, counts: &[usize]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs)).await.expect("admin");
        admin.create_topic(NewTopic::new(topic, counts.len() as i32), false).await.expect("create topic");
        let producer = Producer::new(ProducerConfig::new(bs)).await.expect("producer");
        for (p, n) in counts.iter().enumerate() {
            for i in 0..*n {
                let d = producer
                    .send(ProducerRecord::new(topic, format!("p{p}-{i}")).partition(p as i32))
                    .await
                    .expect("send");
                d.await.expect("delivered");
            }
        }
        producer.close().await.expect("close producer");
    });
}

fn group_consumer(bs: &str, group: &str) -> BaseConsumer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", group)
        .set("client.id", CLIENT_ID)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("rdkafka consumer")
}

/// Polls until the consumer has read `count` records; returns the first
/// offset seen per partition.
fn consume(c: &BaseConsumer, count: usize) -> BTreeMap<i32, i64> {
    let deadline = Instant::now() + WAIT;
    let mut first = BTreeMap::new();
    let mut seen = 0;
    while seen < count && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            first.entry(m.partition()).or_insert(m.offset());
            seen += 1;
        }
    }
    assert_eq!(seen, count, "records read before the deadline");
    first
}

/// The data rows of a plain `--describe` for `group`, keyed by (topic, partition).
fn describe_rows(bs: &str, group: &str) -> BTreeMap<(String, String), Vec<String>> {
    let out = ok(groups(bs, &["--describe", "--group", group]));
    let mut rows = BTreeMap::new();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(""), "a blank line before the table:\n{out}");
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    );
    for line in lines {
        let cols: Vec<String> = line.split_whitespace().map(String::from).collect();
        assert_eq!(cols.len(), 9, "row '{line}'");
        assert_eq!(cols[0], group);
        rows.insert((cols[1].clone(), cols[2].clone()), cols);
    }
    rows
}

/// Waits until `--describe --state` reports `state`.
fn wait_for_state(bs: &str, group: &str, state: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = groups(bs, &["--describe", "--group", group, "--state", "--output", "json"]);
        let text = stdout(&out);
        if text.contains(&format!("\"state\": \"{state}\"")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group '{group}' never reached {state}; last answer:\n{text}{}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn col<'a>(rows: &'a BTreeMap<(String, String), Vec<String>>, topic: &str, p: &str, i: usize) -> &'a str {
    rows.get(&(topic.to_string(), p.to_string()))
        .map_or_else(|| panic!("no row for {topic}-{p} in {rows:?}"), |r| &r[i])
}

#[test]
fn describe_shows_lag_and_members_then_offsets_reset_and_groups_delete() {
    let b = broker();
    let bs = b.bootstrap();
    setup(&bs, "orders", &[5, 3]);

    // An active member that committed 3 in each partition.
    let c = group_consumer(&bs, "g1");
    c.subscribe(&["orders"]).expect("subscribe");
    consume(&c, 8);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("orders", 0, Offset::Offset(3)).expect("tpl");
    tpl.add_partition_offset("orders", 1, Offset::Offset(3)).expect("tpl");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
    wait_for_state(&bs, "g1", "Stable");

    assert!(ok(groups(&bs, &["--list"])).lines().any(|l| l == "g1"));
    let listed = ok(groups(&bs, &["--list", "--state"]));
    assert!(listed.starts_with("GROUP"), "{listed}");
    assert!(listed.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g1", "Stable"]), "{listed}");

    let rows = describe_rows(&bs, "g1");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(&rows[&("orders".into(), "0".into())][3..6], ["3", "5", "2"]);
    assert_eq!(&rows[&("orders".into(), "1".into())][3..6], ["3", "3", "0"]);
    for p in ["0", "1"] {
        assert!(col(&rows, "orders", p, 6).starts_with(CLIENT_ID), "consumer id of a librdkafka member: {rows:?}");
        assert_eq!(col(&rows, "orders", p, 8), CLIENT_ID);
        assert_ne!(col(&rows, "orders", p, 7), "-");
    }

    let members = ok(groups(&bs, &["--describe", "--group", "g1", "--members", "--verbose"]));
    let member_line = members.lines().find(|l| l.starts_with("g1 ")).unwrap_or_default();
    assert!(member_line.contains(CLIENT_ID) && member_line.ends_with("orders(0,1)"), "{members}");
    let state = ok(groups(&bs, &["--describe", "--group", "g1", "--state"]));
    let state_line: Vec<&str> = state.lines().last().unwrap_or_default().split_whitespace().collect();
    assert_eq!(state_line.first(), Some(&"g1"), "{state}");
    assert!(state_line.ends_with(&["Stable", "1"]), "{state}");

    // Offsets of an active group cannot be reset.
    let refused = groups(&bs, &["--reset-offsets", "--group", "g1", "--all-topics", "--to-earliest", "--execute"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "Error: Assignments can only be reset if the group 'g1' is inactive, but the current state is Stable."
        ),
        "{}",
        stderr(&refused)
    );

    // The coordinator itself refuses an administrator's commit (generation -1,
    // no member id) while the group has members.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let refused = rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs.as_str())).await.expect("admin");
        admin.alter_group_offsets("g1", &BTreeMap::from([(TopicPartition::new("orders", 0), 0)])).await
    });
    let code = refused.as_ref().err().and_then(|e| e.code());
    assert_eq!(code, Some(ResponseError::UnknownMemberId), "{refused:?}");

    // Once the member leaves, the committed offsets remain without an owner.
    drop(c);
    wait_for_state(&bs, "g1", "Empty");
    let out = groups(&bs, &["--describe", "--group", "g1"]);
    assert!(stderr(&out).contains("Consumer group 'g1' has no active members."), "{}", stderr(&out));
    let rows = describe_rows(&bs, "g1");
    assert_eq!(&rows[&("orders".into(), "0".into())][3..9], ["3", "5", "2", "-", "-", "-"]);

    // A dry run (the default) plans without committing; out-of-range targets clamp.
    let plan = ok(groups(&bs, &["--reset-offsets", "--group", "g1", "--topic", "orders", "--to-earliest"]));
    let planned: Vec<Vec<&str>> = plan.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(planned, [vec!["g1", "orders", "0", "0"], vec!["g1", "orders", "1", "0"]], "{plan}");
    let plan = ok(groups(&bs, &["--reset-offsets", "--group", "g1", "--topic", "orders:0", "--shift-by", "100"]));
    assert!(plan.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g1", "orders", "0", "5"]), "{plan}");
    let plan = ok(groups(&bs, &["--reset-offsets", "--group", "g1", "--all-topics", "--by-duration", "PT1H"]));
    assert!(plan.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g1", "orders", "1", "0"]), "{plan}");
    let rows = describe_rows(&bs, "g1");
    assert_eq!(col(&rows, "orders", "0", 3), "3", "a dry run leaves offsets alone");

    // --execute commits; a new member starts from the reset offsets.
    ok(groups(&bs, &["--reset-offsets", "--group", "g1", "--all-topics", "--to-earliest", "--execute"]));
    let rows = describe_rows(&bs, "g1");
    assert_eq!((col(&rows, "orders", "0", 3), col(&rows, "orders", "1", 3)), ("0", "0"));
    let again = group_consumer(&bs, "g1");
    again.subscribe(&["orders"]).expect("subscribe");
    assert_eq!(consume(&again, 8), BTreeMap::from([(0, 0), (1, 0)]), "re-read from the beginning");
    drop(again);
    wait_for_state(&bs, "g1", "Empty");

    ok(groups(&bs, &["--reset-offsets", "--group", "g1", "--topic", "orders:0", "--shift-by", "2", "--execute"]));
    let rows = describe_rows(&bs, "g1");
    assert_eq!((col(&rows, "orders", "0", 3), col(&rows, "orders", "0", 5)), ("2", "3"));
    assert_eq!(col(&rows, "orders", "1", 3), "0");

    let deleted = ok(groups(&bs, &["--delete-offsets", "--group", "g1", "--topic", "orders:1"]));
    assert!(deleted.starts_with("Request succeed for deleting offsets with topic orders group g1"), "{deleted}");
    let rows = describe_rows(&bs, "g1");
    assert_eq!(rows.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(), ["0"]);

    let out = ok(groups(&bs, &["--delete", "--group", "g1"]));
    assert_eq!(out, "Deletion of requested consumer groups ('g1') was successful.\n");
    assert!(!ok(groups(&bs, &["--list"])).lines().any(|l| l == "g1"));
    let gone = groups(&bs, &["--describe", "--group", "g1"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("Error: Consumer group 'g1' does not exist."), "{}", stderr(&gone));
}

#[test]
fn bad_flags_are_usage_errors_before_connecting() {
    // Usage errors are found before any connection: no broker needed.
    let unreachable = "127.0.0.1:1";
    for args in [
        &["--describe"][..],
        &["--list", "--describe"],
        &[],
        &["--describe", "--group", "g", "--members", "--state"],
        &["--reset-offsets", "--group", "g", "--to-earliest"],
        &["--reset-offsets", "--group", "g", "--all-topics"],
        &["--reset-offsets", "--group", "g", "--all-topics", "--to-datetime", "2020-01-01"],
        &["--reset-offsets", "--group", "g", "--all-topics", "--by-duration", "1h"],
        &["--reset-offsets", "--group", "g", "--topic", "t:a", "--to-latest"],
        &["--delete-offsets", "--group", "g"],
        &["--list", "--state", "sleepy"],
        &["--describe", "--group", "g", "--bogus"],
    ] {
        let out = groups(unreachable, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    let out = bin_script("kafka-consumer-groups.sh").arg("--list").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Missing required argument \"[bootstrap-server]\""), "{}", stderr(&out));
}

#[test]
fn unknown_groups_error_and_inactive_groups_print_as_json_and_yaml() {
    let b = broker();
    let bs = b.bootstrap();
    setup(&bs, "events", &[4]);
    let out = groups(&bs, &["--describe", "--group", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error: Consumer group 'nobody' does not exist."), "{}", stderr(&out));

    // An inactive group made by the tool itself, through the bin/ wrapper.
    let out = bin_script("kafka-consumer-groups.sh")
        .args(["--bootstrap-server", &bs, "--reset-offsets", "--group", "offline", "--topic", "events"])
        .args(["--to-offset", "1", "--execute"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let json = ok(groups(&bs, &["--describe", "--group", "offline", "--output", "json"]));
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
    let row = &parsed[0][0];
    assert_eq!(row["group"], "offline");
    assert_eq!(row["current_offset"], 1);
    assert_eq!(row["log_end_offset"], 4);
    assert_eq!(row["lag"], 3);
    assert_eq!(row["consumer_id"], "-");
    let yaml = ok(groups(&bs, &["--list", "--state", "--output", "yaml"]));
    assert!(yaml.contains("group: offline") && yaml.contains("state: Empty"), "{yaml}");

    // --export writes a plan that --from-file reads back.
    let csv =
        ok(groups(&bs, &["--reset-offsets", "--group", "offline", "--topic", "events:0", "--to-latest", "--export"]));
    assert_eq!(csv.trim_end(), "events,0,4");
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.csv");
    std::fs::write(&plan, &csv).expect("write plan");
    let plan = plan.to_string_lossy().into_owned();
    ok(groups(&bs, &["--reset-offsets", "--group", "offline", "--from-file", &plan, "--execute"]));
    let rows = describe_rows(&bs, "offline");
    assert_eq!(&rows[&("events".into(), "0".into())][3..6], ["4", "4", "0"]);
}

/// The assignment decoder against the bytes real clients put in SyncGroup
/// (librdkafka and kafka-python leaders) and a broker returned in
/// DescribeGroups, from the shared golden captures.
#[test]
fn member_assignments_of_real_clients_decode() {
    use bytes::Bytes;
    use gregor::client::admin_groups::decode_assignment;
    use kafka_protocol::messages::{ApiKey, DescribeGroupsResponse, RequestHeader, ResponseHeader, SyncGroupRequest};
    use kafka_protocol::protocol::Decodable;

    let root = crate::common::fixtures().join("kafka");
    let mut decoded = 0;
    for client in ["kcat", "confluent-kafka", "kafka-python"] {
        let dir = root.join("requests").join(client);
        for f in std::fs::read_dir(&dir).expect("fixtures").filter_map(Result::ok) {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.starts_with("SyncGroup_v") {
                continue;
            }
            let mut buf = Bytes::from(std::fs::read(f.path()).expect("read"));
            let version = i16::from_be_bytes([buf[2], buf[3]]);
            RequestHeader::decode(&mut buf, ApiKey::SyncGroup.request_header_version(version)).expect("header");
            let req = SyncGroupRequest::decode(&mut buf, version).expect("SyncGroup");
            for a in &req.assignments {
                let parts = decode_assignment(&a.assignment).unwrap_or_else(|| panic!("{client}/{name} decodes"));
                assert!(!parts.is_empty(), "{client}/{name}: a leader assigns partitions");
                decoded += 1;
            }
        }
    }
    let mut buf =
        Bytes::from(std::fs::read(root.join("responses-tansu/kafka-python/DescribeGroups_v5_0.bin")).expect("read"));
    ResponseHeader::decode(&mut buf, ApiKey::DescribeGroups.response_header_version(5)).expect("header");
    let resp = DescribeGroupsResponse::decode(&mut buf, 5).expect("DescribeGroups");
    for g in &resp.groups {
        for m in &g.members {
            assert!(decode_assignment(&m.member_assignment).is_some(), "described member {}", m.member_id);
            decoded += 1;
        }
    }
    assert!(decoded >= 3, "decoded {decoded} assignments");
}

/// Three brokers, groups spread over their coordinators, and the tool given
/// only one broker: ListGroups must ask every broker, group requests must go
/// to each group's coordinator, and when a coordinator dies the tool must
/// find the new one.
#[test]
fn groups_on_other_coordinators_are_found_and_followed_after_a_kill() {
    let zk = crate::common::zk::TestZk::start();
    let mut brokers = crate::common::group_cluster(&zk);
    let bs = brokers[0].bootstrap();
    let out = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &bs, "--create", "--topic", "t"])
        .args(["--partitions", "1", "--replication-factor", "3"])
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", stderr(&out));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut config = ProducerConfig::new(bs.as_str());
        config.set("acks", "all").expect("acks");
        let producer = Producer::new(config).await.expect("producer");
        for i in 0..4 {
            producer.send(ProducerRecord::new("t", format!("r{i}"))).await.expect("send").await.expect("delivered");
        }
        producer.close().await.expect("close");
    });

    // Six offline groups, made by the tool through broker 0 only.
    let names: Vec<String> = (0..6).map(|i| format!("spread-{i}")).collect();
    for g in &names {
        ok(groups(&bs, &["--reset-offsets", "--group", g, "--topic", "t", "--to-offset", "1", "--execute"]));
    }
    let listed = ok(groups(&bs, &["--list"]));
    for g in &names {
        assert!(listed.lines().any(|l| l == g), "{g} missing from:\n{listed}");
    }

    let coordinators: Vec<(String, i32)> = rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs.as_str())).await.expect("admin");
        let mut out = Vec::new();
        for g in &names {
            out.push((g.clone(), admin.find_group_coordinator(g).await.expect("coordinator").id));
        }
        out
    });
    let (group, victim) = coordinators
        .iter()
        .find(|(_, id)| *id != 0)
        .cloned()
        .unwrap_or_else(|| panic!("every group is on broker 0: {coordinators:?}"));
    let rows = describe_rows(&bs, &group);
    assert_eq!(col(&rows, "t", "0", 3), "1", "read from coordinator {victim} through broker 0");

    brokers[victim as usize].kill();
    let out = groups(&bs, &["--describe", "--group", &group, "--timeout", "60000"]);
    let text = ok(out);
    let row = text.lines().find(|l| l.starts_with(group.as_str())).unwrap_or_default();
    assert_eq!(row.split_whitespace().collect::<Vec<_>>()[..6], [group.as_str(), "t", "0", "1", "4", "3"], "{text}");
}
