//! Partition reassignment on a real four-broker cluster: `reassign-partitions`
//! (bootstrap and Kafka 0.10's `--zookeeper` path), AlterPartitionReassignments
//! and ListPartitionReassignments through our client, with an idempotent
//! acks=all producer writing throughout the move.

use std::collections::BTreeMap;
use std::time::Duration;

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, ResponseError,
};

use crate::common::producing::Producing;
use crate::common::zk::{wait_for, TestZk};
use crate::common::{bin_script, ok, run_tool, stderr, three_brokers, TestBroker};

const WAIT: Duration = Duration::from_secs(90);

/// Broker `id` joining the cluster of `three_brokers` with the same settings.
fn fourth_broker(zk: &TestZk, id: i32) -> TestBroker {
    let overrides = [
        format!("zookeeper.connect={}", zk.connect("")),
        format!("broker.id={id}"),
        "zookeeper.session.timeout.ms=3000".to_string(),
        "replica.lag.time.max.ms=3000".to_string(),
        "replica.fetch.wait.max.ms=200".to_string(),
    ];
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn write_json(dir: &std::path::Path, name: &str, json: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, json).expect("write json");
    path.display().to_string()
}

fn reassign(bs: &str, args: &[&str]) -> std::process::Output {
    run_tool("reassign-partitions", bs, args)
}

/// Sends to partition 0 of `topic` one record at a time (idempotent,
/// acks=all) until stopped; keeps the acknowledged values in order.
fn start_producing(bootstrap: String, topic: &'static str) -> Producing {
    Producing::start(move |out| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        rt.block_on(async move {
            let mut c = ProducerConfig::new(bootstrap);
            c.set("acks", "all").expect("acks");
            c.set("enable.idempotence", "true").expect("idempotence");
            c.set("linger.ms", "1").expect("linger");
            let p = Producer::new(c).await.expect("producer");
            let mut i = 0usize;
            while !out.stopped() {
                let value = format!("v{i}");
                let sent = match p.send(ProducerRecord::new(topic, value.clone()).partition(0)).await {
                    Ok(delivery) => delivery.await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => out.acked(value),
                    Err(e) => out.failed(format!("{value}: {e}")),
                }
                i += 1;
            }
        });
    })
}

async fn admin(bs: &str) -> Admin {
    Admin::connect(ClientConfig::new(bs.to_string())).await.expect("admin")
}

async fn replicas(a: &Admin, topic: &str) -> Vec<i32> {
    let t = a.describe_topics(Some(&[topic.to_string()])).await.expect("describe");
    t[0].partitions[0].replicas.clone()
}

/// Every value of partition 0 of `topic`, from the beginning, until `count` arrived.
async fn read_all(bs: &str, topic: &str, count: usize) -> Vec<String> {
    let mut c = ConsumerConfig::new(bs.to_string());
    c.set("auto.offset.reset", "earliest").expect("reset");
    c.set("fetch.max.wait.ms", "100").expect("wait");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    consumer.assign(vec![(topic.to_string(), 0)]).await.expect("assign");
    let deadline = std::time::Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && std::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            out.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    // Anything beyond `count` would be a duplicate: give it a moment to show up.
    out.extend(
        consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
            .into_iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()),
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn reassignment_moves_replicas_under_load_and_can_be_listed_and_cancelled() {
    let zk = TestZk::start();
    let mut brokers = three_brokers(&zk, &[]);
    brokers.push(fourth_broker(&zk, 3));
    let bs = brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");
    let files = tempfile::tempdir().expect("tempdir");
    let dir = files.path();
    for (topic, assignment) in [("moving", "0:1:2"), ("legacy", "0:1"), ("stuck", "3")] {
        ok(run_tool(
            "topics",
            &bs,
            &["--create", "--topic", topic, "--replica-assignment", assignment, "--config", "min.insync.replicas=2"],
        ));
    }
    let a = admin(&bs).await;

    // --generate proposes only the listed brokers, in Kafka's JSON.
    let topics = write_json(dir, "topics.json", r#"{"topics":[{"topic":"moving"}],"version":1}"#);
    let out = ok(reassign(&bs, &["--generate", "--topics-to-move-json-file", &topics, "--broker-list", "1,2,3"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Current partition replica assignment", "{out}");
    let current: serde_json::Value = serde_json::from_str(lines[1]).expect("current JSON");
    assert_eq!(current["partitions"][0]["replicas"], serde_json::json!([0, 1, 2]));
    assert_eq!(lines[3], "Proposed partition reassignment configuration", "{out}");
    let proposed: serde_json::Value = serde_json::from_str(lines[4]).expect("proposed JSON");
    let mut proposed_replicas: Vec<i64> = proposed["partitions"][0]["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .map(|r| r.as_i64().expect("id"))
        .collect();
    proposed_replicas.sort_unstable();
    assert_eq!(proposed_replicas, [1, 2, 3], "{out}");

    // Bad input: Kafka's errors, exit 1.
    let bad = write_json(dir, "bad.json", "{not json");
    let o = reassign(&bs, &["--execute", "--reassignment-json-file", &bad]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("Error: "), "{}", stderr(&o));
    let unknown = write_json(
        dir,
        "unknown.json",
        r#"{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[1,2,7]}]}"#,
    );
    let o = reassign(&bs, &["--execute", "--reassignment-json-file", &unknown]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Error: Unknown broker id 7"), "{}", stderr(&o));
    let o = reassign(&bs, &["--execute"]);
    assert_eq!(o.status.code(), Some(2), "a missing file is a usage error: {}", stderr(&o));
    // The API itself refuses replicas on brokers that are not alive, and unknown partitions.
    let refused: BTreeMap<(String, i32), Option<Vec<i32>>> =
        [(("moving".to_string(), 0), Some(vec![1, 2, 7])), (("moving".to_string(), 5), Some(vec![1]))].into();
    let results = a.alter_partition_reassignments(&refused).await.expect("alter");
    let codes: Vec<Option<ResponseError>> = results.iter().map(|r| r.error.as_ref().and_then(|e| e.code())).collect();
    assert_eq!(codes, [Some(ResponseError::InvalidReplicaAssignment), Some(ResponseError::UnknownTopicOrPartition)]);

    // The move 0,1,2 → 1,2,3 while an acks=all producer writes.
    let producing = start_producing(bs.clone(), "moving");
    producing.wait_for_more(50, WAIT);
    let plan = write_json(
        dir,
        "plan.json",
        r#"{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[1,2,3],"log_dirs":["any","any","any"]}]}"#,
    );
    let out = ok(reassign(&bs, &["--execute", "--reassignment-json-file", &plan]));
    assert!(out.contains("Save this to use as the --reassignment-json-file option during rollback"), "{out}");
    assert!(
        out.contains(r#"{"topic":"moving","partition":0,"replicas":[0,1,2],"log_dirs":["any","any","any"]}"#),
        "{out}"
    );
    assert!(out.contains("Successfully started partition reassignment for moving-0"), "{out}");
    let mut verified = String::new();
    assert!(
        wait_for(WAIT, || {
            verified = ok(reassign(&bs, &["--verify", "--reassignment-json-file", &plan]));
            verified.contains("Reassignment of partition moving-0 is completed.")
        }),
        "never completed: {verified}"
    );
    assert!(verified.starts_with("Status of partition reassignment:"), "{verified}");
    assert!(verified.contains("Clearing broker-level throttles on brokers 0,1,2,3"), "{verified}");
    assert!(verified.contains("Clearing topic-level throttles on topic moving"), "{verified}");
    producing.wait_for_more(50, WAIT);
    let (acked, failures) = producing.finish();
    assert!(failures.is_empty(), "acks=all sends failed during the move: {failures:?}");

    // Every acknowledged record once, in order, read from the new replicas.
    let values = read_all(&bs, "moving", acked.len()).await;
    assert_eq!(values, acked, "acknowledged records lost, duplicated or reordered");
    assert_eq!(replicas(&a, "moving").await, [1, 2, 3]);
    let old = brokers[0].log_dir().join("moving-0");
    assert!(wait_for(WAIT, || !old.exists()), "broker 0 kept {}", old.display());
    assert!(brokers[3].log_dir().join("moving-0").exists());
    assert_eq!(ok(reassign(&bs, &["--list"])).trim(), "No partition reassignments found.");

    // Kafka 0.10's path: the request znode, carried out by the controller.
    let legacy = write_json(
        dir,
        "legacy.json",
        r#"{"version":1,"partitions":[{"topic":"legacy","partition":0,"replicas":[2,3]}]}"#,
    );
    let connect = zk.connect("");
    let zk_tool = |args: &[&str]| {
        let mut cmd = bin_script("kafka-reassign-partitions.sh");
        cmd.args(["--zookeeper", connect.as_str()]).args(args);
        cmd.output().expect("run the wrapper")
    };
    let out = ok(zk_tool(&["--execute", "--reassignment-json-file", &legacy]));
    assert!(out.contains("Successfully started reassignment of partitions."), "{out}");
    let mut verified = String::new();
    assert!(
        wait_for(WAIT, || {
            verified = ok(zk_tool(&["--verify", "--reassignment-json-file", &legacy]));
            verified.contains("Reassignment of partition [legacy,0] completed successfully")
        }),
        "never completed: {verified}"
    );
    assert_eq!(replicas(&a, "legacy").await, [2, 3]);
    assert!(wait_for(WAIT, || !brokers[0].log_dir().join("legacy-0").exists()));

    // A reassignment that cannot finish: stuck-0 lives on broker 3 alone, which
    // stops; its new replica 0 has no leader to fetch from.
    assert_eq!(brokers[3].terminate(), Some(0), "{}", brokers[3].log_text());
    let stuck =
        write_json(dir, "stuck.json", r#"{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[0]}]}"#);
    ok(reassign(&bs_of(&brokers), &["--execute", "--reassignment-json-file", &stuck]));
    let bs = bs_of(&brokers);
    let mut listed = String::new();
    let expected = "Current partition reassignments:\nstuck-0: replicas: 0,3. adding: 0. removing: 3.\n";
    assert!(
        wait_for(WAIT, || {
            listed = ok(reassign(&bs, &["--list"]));
            listed == expected
        }),
        "{listed}"
    );
    let a = admin(&bs).await;
    let ongoing = a.list_partition_reassignments(None).await.expect("list");
    let entry = &ongoing[&("stuck".to_string(), 0)];
    assert_eq!(
        (entry.replicas.as_slice(), entry.adding.as_slice(), entry.removing.as_slice()),
        (&[0, 3][..], &[0][..], &[3][..])
    );
    let verified = ok(reassign(&bs, &["--verify", "--reassignment-json-file", &stuck]));
    assert!(verified.contains("Reassignment of partition stuck-0 is still in progress."), "{verified}");
    assert!(!verified.contains("Clearing"), "{verified}");
    // Cancel: back to the original replica, nothing left in progress.
    let out = ok(reassign(&bs, &["--cancel", "--reassignment-json-file", &stuck]));
    assert!(out.contains("Successfully cancelled partition reassignment for: stuck-0"), "{out}");
    assert_eq!(replicas(&a, "stuck").await, [3]);
    assert!(a.list_partition_reassignments(None).await.expect("list").is_empty());
    let again: BTreeMap<(String, i32), Option<Vec<i32>>> = [(("stuck".to_string(), 0), None)].into();
    let results = a.alter_partition_reassignments(&again).await.expect("cancel again");
    assert_eq!(results[0].error.as_ref().and_then(|e| e.code()), Some(ResponseError::NoReassignmentInProgress));
    let out = ok(reassign(&bs, &["--cancel", "--reassignment-json-file", &stuck]));
    assert!(out.contains("None of the specified partition reassignments are active."), "{out}");
    assert!(wait_for(WAIT, || !brokers[0].log_dir().join("stuck-0").exists()), "the cancelled replica stays");
}

fn bs_of(brokers: &[TestBroker]) -> String {
    crate::common::bootstrap_of(brokers)
}

/// `--throttle` sets Kafka's throttle keys on the brokers and the topic of a
/// move (leader side: the existing replicas, follower side: the added ones),
/// and `--verify` removes them once the move is done; the same through
/// Kafka 0.10's `--zookeeper` form.
#[test]
fn throttle_is_set_for_the_move_and_cleared_by_verify() {
    let zk = TestZk::start();
    let brokers = three_brokers(&zk, &[]);
    let bs = crate::common::bootstrap_of(&brokers);
    let tmp = tempfile::tempdir().expect("tempdir");
    ok(run_tool("topics", &bs, &["--create", "--topic", "thr", "--replica-assignment", "0,0"]));
    let file = write_json(
        tmp.path(),
        "move.json",
        r#"{"version":1,"partitions":[{"topic":"thr","partition":0,"replicas":[1]},{"topic":"thr","partition":1,"replicas":[2]}]}"#,
    );
    let out = ok(reassign(&bs, &["--execute", "--reassignment-json-file", &file, "--throttle", "5000000"]));
    assert!(out.contains("The inter-broker throttle limit was set to 5000000 B/s"), "{out}");
    let describe = |args: &[&str]| ok(run_tool("configs", &bs, args));
    // Set on every broker of the move and on the topic (unless the move already finished and --verify ran).
    let topic = describe(&["--describe", "--entity-type", "topics", "--entity-name", "thr"]);
    assert!(topic.contains("leader.replication.throttled.replicas=0:0,1:0"), "{topic}");
    assert!(topic.contains("follower.replication.throttled.replicas=0:1,1:2"), "{topic}");
    for id in ["0", "1", "2"] {
        let broker = describe(&["--describe", "--entity-type", "brokers", "--entity-name", id]);
        assert!(broker.contains("leader.replication.throttled.rate=5000000"), "broker {id}: {broker}");
        assert!(broker.contains("follower.replication.throttled.rate=5000000"), "broker {id}: {broker}");
    }
    wait_for(WAIT, || {
        let out = ok(reassign(&bs, &["--verify", "--reassignment-json-file", &file]));
        out.contains("Clearing broker-level throttles")
    });
    let topic = describe(&["--describe", "--entity-type", "topics", "--entity-name", "thr"]);
    assert!(!topic.contains("throttled"), "{topic}");
    for id in ["0", "1", "2"] {
        let broker = describe(&["--describe", "--entity-type", "brokers", "--entity-name", id]);
        assert!(!broker.contains("throttled"), "broker {id}: {broker}");
    }

    // Kafka 0.10's form: the same keys through the config znodes, removed by --verify.
    let back = write_json(
        tmp.path(),
        "back.json",
        r#"{"version":1,"partitions":[{"topic":"thr","partition":0,"replicas":[0]}]}"#,
    );
    let zk_args = |extra: &[&str]| {
        let mut args = vec!["--zookeeper".to_string(), zk.connect("")];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| ok(bin_script("kafka-reassign-partitions.sh").args(args).output().expect("run"));
    let out = run(zk_args(&["--execute", "--reassignment-json-file", &back, "--throttle", "7000000"]));
    assert!(out.contains("The inter-broker throttle limit was set to 7000000 B/s"), "{out}");
    wait_for(WAIT, || {
        let out = run(zk_args(&["--verify", "--reassignment-json-file", &back]));
        out.contains("Throttle was removed.")
    });
    let topic = describe(&["--describe", "--entity-type", "topics", "--entity-name", "thr"]);
    assert!(!topic.contains("throttled"), "{topic}");
    drop(brokers);
}

/// A reassignment file naming a log dir puts the moved replica there:
/// `--execute` creates it through the reassignment, then asks its broker to
/// move it (AlterReplicaLogDirs) once it exists; `--verify` reports it done
/// when the broker describes the replica in that dir.
#[test]
fn a_replica_is_moved_into_the_log_dir_the_file_names() {
    let zk = TestZk::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (d0, d1) = (tmp.path().join("b1-a"), tmp.path().join("b1-b"));
    let broker0 = fourth_broker(&zk, 0);
    let dirs = format!("log.dirs={},{}", d0.display(), d1.display());
    let overrides = [
        format!("zookeeper.connect={}", zk.connect("")),
        "broker.id=1".to_string(),
        "zookeeper.session.timeout.ms=3000".to_string(),
        "replica.lag.time.max.ms=3000".to_string(),
        "replica.fetch.wait.max.ms=200".to_string(),
        dirs,
    ];
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker1 = TestBroker::start(&refs);
    let brokers = [broker0, broker1];
    let bs = crate::common::bootstrap_of(&brokers);
    ok(run_tool("topics", &bs, &["--create", "--topic", "ld", "--replica-assignment", "0"]));
    // Whichever dir the new replica lands in, it is asked to end in the second one.
    let file = write_json(
        tmp.path(),
        "move.json",
        &format!(
            r#"{{"version":1,"partitions":[{{"topic":"ld","partition":0,"replicas":[0,1],"log_dirs":["any","{}"]}}]}}"#,
            d1.display()
        ),
    );
    let out = ok(reassign(&bs, &["--execute", "--reassignment-json-file", &file]));
    assert!(out.contains("Successfully started log directory move for: ld-0-1"), "{out}");
    let done = wait_for(WAIT, || {
        let out = ok(reassign(&bs, &["--verify", "--reassignment-json-file", &file]));
        out.contains("Reassignment of replica ld-0-1 completed successfully.")
            && out.contains("Reassignment of partition ld-0 is completed.")
    });
    assert!(done, "the replica reached its log dir");
    assert!(d1.join("ld-0").is_dir(), "broker 1's replica is in {}", d1.display());
    assert!(!d0.join("ld-0").exists(), "and not left in {}", d0.display());

    // Back into the first dir: the replica exists now, so this is a move for sure.
    let back = write_json(
        tmp.path(),
        "back.json",
        &format!(
            r#"{{"version":1,"partitions":[{{"topic":"ld","partition":0,"replicas":[0,1],"log_dirs":["any","{}"]}}]}}"#,
            d0.display()
        ),
    );
    let out = ok(reassign(&bs, &["--execute", "--reassignment-json-file", &back]));
    assert!(out.contains("Successfully started log directory move for: ld-0-1"), "{out}");
    assert!(wait_for(WAIT, || {
        ok(reassign(&bs, &["--verify", "--reassignment-json-file", &back]))
            .contains("Reassignment of replica ld-0-1 completed successfully.")
    }));
    assert!(d0.join("ld-0").is_dir() && !d1.join("ld-0").exists());

    // A relative dir is refused before anything starts.
    let bad = write_json(
        tmp.path(),
        "bad.json",
        r#"{"version":1,"partitions":[{"topic":"ld","partition":0,"replicas":[0,1],"log_dirs":["any","rel"]}]}"#,
    );
    let out = reassign(&bs, &["--execute", "--reassignment-json-file", &bad]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("must be \"any\" or an absolute path"), "{}", stderr(&out));
    drop(brokers);
}
