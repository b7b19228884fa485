//! Scenario 1 of the quickstart verbatim, `--zookeeper` topic commands
//! included: on our `zookeeper-start` and on Debian's ZooKeeper 3.8.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::zk::{RealZk, TestZk};
use crate::common::{bin_script, TestBroker};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run tool")
}

fn scenario_1(zk: &str) {
    let b = TestBroker::start(&["broker.id=0", &format!("zookeeper.connect={zk}")]);
    let bs = b.bootstrap();
    let out = run(bin_script("kafka-topics.sh").args([
        "--create",
        "--zookeeper",
        zk,
        "--replication-factor",
        "1",
        "--partitions",
        "1",
        "--topic",
        "test",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Created topic \"test\".\n");
    let out = run(bin_script("kafka-topics.sh").args(["--list", "--zookeeper", zk]));
    assert_eq!(text(&out.stdout), "test\n", "{}", text(&out.stderr));

    // The controller gives the new partition a leader; describe shows it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = "Topic:test\tPartitionCount:1\tReplicationFactor:1\tConfigs:\n\tTopic: test\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n";
    loop {
        let out = run(bin_script("kafka-topics.sh").args(["--describe", "--zookeeper", zk, "--topic", "test"]));
        if text(&out.stdout) == expected {
            break;
        }
        assert!(Instant::now() < deadline, "describe never showed a leader: {}", text(&out.stdout));
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut producer = bin_script("kafka-console-producer.sh");
    producer
        .args(["--broker-list", &bs, "--topic", "test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = producer.spawn().expect("producer");
    child.stdin.take().expect("stdin").write_all(b"This is a message\nThis is another message\n").expect("write");
    let out = child.wait_with_output().expect("producer");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(bin_script("kafka-console-consumer.sh").args([
        "--bootstrap-server",
        &bs,
        "--topic",
        "test",
        "--from-beginning",
        "--max-messages",
        "2",
    ]));
    assert_eq!(text(&out.stdout), "This is a message\nThis is another message\n", "{}", text(&out.stderr));
    // The old-consumer form finds the brokers through ZooKeeper.
    let out = run(bin_script("kafka-console-consumer.sh").args([
        "--zookeeper",
        zk,
        "--topic",
        "test",
        "--from-beginning",
        "--max-messages",
        "2",
    ]));
    assert_eq!(text(&out.stdout), "This is a message\nThis is another message\n", "{}", text(&out.stderr));

    // Alter and delete through ZooKeeper too.
    let out =
        run(bin_script("kafka-topics.sh").args(["--alter", "--zookeeper", zk, "--topic", "test", "--partitions", "2"]));
    assert!(text(&out.stdout).contains("Adding partitions succeeded!"), "{}", text(&out.stderr));
    let out = run(bin_script("kafka-topics.sh").args([
        "--create",
        "--zookeeper",
        zk,
        "--topic",
        "test",
        "--partitions",
        "1",
        "--replication-factor",
        "1",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    let out = run(bin_script("kafka-topics.sh").args([
        "--create",
        "--zookeeper",
        zk,
        "--topic",
        "rf3",
        "--partitions",
        "1",
        "--replication-factor",
        "3",
    ]));
    assert!(
        text(&out.stderr).contains("Replication factor: 3 larger than available brokers: 1."),
        "{}",
        text(&out.stderr)
    );
    let out = run(bin_script("kafka-topics.sh").args(["--delete", "--zookeeper", zk, "--topic", "test"]));
    assert!(text(&out.stdout).contains("Topic test is marked for deletion."), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run(bin_script("kafka-topics.sh").args(["--list", "--zookeeper", zk]));
        if text(&out.stdout).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "topic never deleted: {}", text(&out.stdout));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn scenario_1_verbatim_on_our_coordinator() {
    let zk = TestZk::start();
    scenario_1(&zk.connect(""));
}

#[test]
fn scenario_1_verbatim_on_debian_zookeeper() {
    let Some(zk) = RealZk::start() else { return };
    scenario_1(&zk.connect(""));
}
