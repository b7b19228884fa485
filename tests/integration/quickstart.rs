//! Scenario 1 of the quickstart verbatim, `--zookeeper` topic commands
//! included: on our `zookeeper-start` and on Debian's ZooKeeper 3.8.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::zk::{RealZk, TestZk};
use crate::common::{bin_script, pipe_into, TestBroker};

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
    producer.args(["--broker-list", &bs, "--topic", "test"]);
    let out = pipe_into(producer, "This is a message\nThis is another message\n");
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

/// The partition line of `--describe`: (leader, replicas, isr).
type PartitionLine = (i32, Vec<i32>, Vec<i32>);

fn partition_line(out: &str) -> Option<PartitionLine> {
    let line = out.lines().find(|l| l.starts_with("\tTopic: my-replicated-topic\tPartition: 0\t"))?;
    let field = |name: &str| line.split('\t').find_map(|f| f.strip_prefix(name)).map(str::to_string);
    let ids = |s: String| s.split(',').filter(|x| !x.is_empty()).filter_map(|x| x.parse().ok()).collect::<Vec<i32>>();
    Some((field("Leader: ")?.parse().ok()?, ids(field("Replicas: ")?), ids(field("Isr: ")?)))
}

/// Scenario 2 verbatim through bin/*.sh: three brokers, a topic with
/// replication factor 3, kill -9 of the leader, the new leader and the shrunken
/// ISR in `--describe`, and the message still readable.
#[test]
fn scenario_2_verbatim_through_bin_scripts() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let mut brokers: Vec<TestBroker> = (0..3)
        .map(|id| {
            TestBroker::start(&[
                &format!("broker.id={id}"),
                &format!("zookeeper.connect={connect}"),
                "zookeeper.session.timeout.ms=3000",
                "replica.lag.time.max.ms=2000",
            ])
        })
        .collect();
    let out = run(bin_script("kafka-topics.sh").args([
        "--create",
        "--zookeeper",
        &connect,
        "--replication-factor",
        "3",
        "--partitions",
        "1",
        "--topic",
        "my-replicated-topic",
    ]));
    assert_eq!(text(&out.stdout), "Created topic \"my-replicated-topic\".\n", "{}", text(&out.stderr));
    let describe = || {
        text(
            &run(bin_script("kafka-topics.sh").args([
                "--describe",
                "--zookeeper",
                &connect,
                "--topic",
                "my-replicated-topic",
            ]))
            .stdout,
        )
    };
    let wait_for = |what: &str, ok: &dyn Fn(&PartitionLine) -> bool| -> PartitionLine {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = describe();
            if let Some(p) = partition_line(&out) {
                if ok(&p) {
                    assert!(
                        out.starts_with("Topic:my-replicated-topic\tPartitionCount:1\tReplicationFactor:3\tConfigs:\n"),
                        "{out}"
                    );
                    return p;
                }
            }
            assert!(Instant::now() < deadline, "{what}: {out}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (leader, replicas, _) = wait_for("all three in sync", &|(_, r, isr)| r.len() == 3 && isr.len() == 3);
    assert_eq!(replicas[0], leader, "the first replica leads");

    let bs = brokers[leader as usize].bootstrap();
    let mut producer = bin_script("kafka-console-producer.sh");
    producer.args(["--broker-list", &bs, "--topic", "my-replicated-topic"]);
    let out = pipe_into(producer, "my test message 1\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let consume = |bs: &str| {
        text(
            &run(bin_script("kafka-console-consumer.sh").args([
                "--bootstrap-server",
                bs,
                "--from-beginning",
                "--topic",
                "my-replicated-topic",
                "--max-messages",
                "1",
            ]))
            .stdout,
        )
    };
    assert_eq!(consume(&bs), "my test message 1\n");

    brokers[leader as usize].kill();
    let (new_leader, replicas_after, isr) =
        wait_for("a new leader and the dead broker out of the ISR", &|(l, _, isr)| {
            *l != leader && *l >= 0 && !isr.contains(&leader)
        });
    assert_eq!(replicas_after, replicas, "Replicas lists every assigned broker, alive or not");
    assert_eq!(isr.len(), 2);
    assert!(isr.contains(&new_leader));
    let survivor = brokers[new_leader as usize].bootstrap();
    assert_eq!(consume(&survivor), "my test message 1\n");
}
