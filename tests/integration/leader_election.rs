//! Preferred-leader election: three real brokers on one `gregor
//! zookeeper-start`. A killed preferred leader comes back, rejoins the ISR and
//! gets its leadership back, once through `gregor leader-election` (the
//! ElectLeaders API, the controller's election znode) and once through the
//! controller's periodic imbalance check alone.

use std::process::{Command, Output};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::zk::{wait_for, TestZk};
use crate::common::{bin_script, gregor_bin, TestBroker};

const TOPIC: &str = "elect";
const TIMEOUT: Duration = Duration::from_secs(60);

fn start_broker(connect: &str, id: i32, extra: &[&str]) -> TestBroker {
    let mut overrides = vec![
        format!("zookeeper.connect={connect}"),
        format!("broker.id={id}"),
        "zookeeper.session.timeout.ms=2000".to_string(),
        "replica.lag.time.max.ms=2000".to_string(),
        "replica.fetch.wait.max.ms=200".to_string(),
        "replica.fetch.backoff.ms=100".to_string(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").env_remove("RUST_LOG").output().expect("run gregor")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// (leader, ISR sorted) of each partition of the topic, as `b` reports them.
fn partitions(b: &TestBroker) -> Vec<(i32, Vec<i32>)> {
    let req = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
    let md: MetadataResponse = Wire::connect(b.addr).call(ApiKey::Metadata, 4, &req);
    let Some(t) = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(TOPIC)) else {
        return Vec::new();
    };
    let mut parts: Vec<_> = t
        .partitions
        .iter()
        .map(|p| {
            let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
            isr.sort();
            (p.partition_index, p.leader_id.0, isr)
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, l, isr)| (l, isr)).collect()
}

/// The leader epoch of a partition as `b` reports it (Metadata v9).
fn leader_epoch(b: &TestBroker, partition: i32) -> i32 {
    let req = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
    let md: MetadataResponse = Wire::connect(b.addr).call(ApiKey::Metadata, 9, &req);
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(TOPIC)).expect("topic");
    t.partitions.iter().find(|p| p.partition_index == partition).expect("partition").leader_epoch
}

/// The error code of a consumer Fetch v12 of one partition naming `current_leader_epoch`.
fn fetch_error(b: &TestBroker, partition: i32, current_leader_epoch: i32) -> i16 {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(TOPIC.into())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_log_start_offset(-1)
                .with_current_leader_epoch(current_leader_epoch)
                .with_last_fetched_epoch(-1)
                .with_partition_max_bytes(1 << 20)])]);
    let resp: FetchResponse = Wire::connect(b.addr).call(ApiKey::Fetch, 12, &req);
    resp.responses[0].partitions[0].error_code
}

fn leaders(b: &TestBroker) -> Vec<i32> {
    partitions(b).into_iter().map(|(l, _)| l).collect()
}

fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_for(TIMEOUT, cond), "timed out waiting for {what}");
}

/// Three brokers and a topic whose partitions prefer brokers 0, 1 and 2, all in sync.
fn cluster_with_topic(zk: &TestZk, extra: &[&str]) -> Vec<TestBroker> {
    let brokers: Vec<TestBroker> = (0..3).map(|id| start_broker(&zk.connect(""), id, extra)).collect();
    let out = gregor(&[
        "topics",
        "--bootstrap-server",
        &brokers[0].bootstrap(),
        "--create",
        "--topic",
        TOPIC,
        "--replica-assignment",
        "0:1:2,1:2:0,2:0:1",
    ]);
    assert!(out.status.success(), "create: {:?}", text(&out));
    wait("every partition led by its preferred replica with a full ISR", || {
        partitions(&brokers[1]) == vec![(0, vec![0, 1, 2]), (1, vec![0, 1, 2]), (2, vec![0, 1, 2])]
    });
    brokers
}

/// kill -9 of broker 0: partition 0 moves to broker 1; broker 0 comes back
/// and rejoins the ISR as a follower.
fn kill_and_restart_broker_0(brokers: &mut [TestBroker]) {
    brokers[0].kill();
    wait("partition 0 fails over to broker 1", || {
        partitions(&brokers[1]).first().is_some_and(|(l, isr)| *l == 1 && isr == &[1, 2])
    });
    brokers[0].restart();
    wait("broker 0 back in the ISR of partition 0", || {
        partitions(&brokers[1]).first().is_some_and(|(_, isr)| isr == &[0, 1, 2])
    });
}

#[test]
fn the_tool_moves_leadership_back_to_the_preferred_replica() {
    let zk = TestZk::start();
    let mut brokers = cluster_with_topic(&zk, &["auto.leader.rebalance.enable=false"]);
    let bs = brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");
    kill_and_restart_broker_0(&mut brokers);
    assert_eq!(leaders(&brokers[2]), vec![1, 1, 2], "without an election broker 1 keeps partition 0");
    let before = leader_epoch(&brokers[1], 0);

    let out = gregor(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--all-topic-partitions",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Only the partition that needed an election is reported (Kafka leaves
    // ELECTION_NOT_NEEDED out of all-partition answers).
    assert_eq!(stdout, format!("Successfully completed leader election (PREFERRED) for partitions {TOPIC}-0\n"));
    for b in &brokers {
        wait("every broker reports the preferred leaders", || leaders(b) == vec![0, 1, 2]);
    }
    assert_eq!(partitions(&brokers[0])[0], (0, vec![0, 1, 2]), "a preferred election keeps the ISR");
    // The election bumped the leader epoch: a fetcher that missed it is fenced (KIP-320).
    let after = leader_epoch(&brokers[0], 0);
    assert!(after > before, "leader epoch {before} -> {after}");
    wait("broker 0 leads in the new epoch", || fetch_error(&brokers[0], 0, after) == 0);
    assert_eq!(fetch_error(&brokers[0], 0, before), 74, "FENCED_LEADER_EPOCH");
    assert_eq!(fetch_error(&brokers[0], 0, after + 1), 75, "UNKNOWN_LEADER_EPOCH");
    assert_eq!(fetch_error(&brokers[0], 0, -1), 0, "no epoch, no check");

    // Asked again for the partitions by name (JSON file, Kafka's format): nothing to do.
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("election.json");
    std::fs::write(
        &json,
        format!(
            r#"{{"partitions":[{{"topic":"{TOPIC}","partition":0}},{{"topic":"{TOPIC}","partition":1}},{{"topic":"{TOPIC}","partition":2}}]}}"#
        ),
    )
    .expect("write json");
    let json_path = json.to_string_lossy().into_owned();
    let out = bin_script("kafka-leader-election.sh")
        .args(["--bootstrap-server", &bs, "--election-type", "PREFERRED", "--path-to-json-file", &json_path])
        .output()
        .expect("run script");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, format!("Valid replica already elected for partitions {TOPIC}-0, {TOPIC}-1, {TOPIC}-2\n"));

    // An unclean election where a live leader exists is not needed either.
    let out = gregor(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "unclean",
        "--topic",
        TOPIC,
        "--partition",
        "1",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, format!("Valid replica already elected for partitions {TOPIC}-1\n"));

    // A partition that does not exist fails the run.
    let out = gregor(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--topic",
        TOPIC,
        "--partition",
        "9",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("Error completing leader election (PREFERRED) for partition: {TOPIC}-9: ")),
        "{stdout}"
    );
    assert!(stderr.contains("1 replica(s) could not be elected"), "{stderr}");
    assert_eq!(leaders(&brokers[1]), vec![0, 1, 2], "nothing moved");
}

#[test]
fn the_tool_refuses_bad_flag_combinations_with_exit_2() {
    let common = ["leader-election", "--bootstrap-server", "127.0.0.1:1"];
    let cases: &[&[&str]] = &[
        &["--election-type", "preferred"],
        &["--election-type", "preferred", "--all-topic-partitions", "--topic", "t", "--partition", "0"],
        &["--election-type", "preferred", "--all-topic-partitions", "--path-to-json-file", "x.json"],
        &["--election-type", "preferred", "--topic", "t", "--path-to-json-file", "x.json"],
        &["--election-type", "preferred", "--partition", "0"],
        &["--election-type", "preferred", "--topic", "t"],
        &["--election-type", "sideways", "--all-topic-partitions"],
        &["--all-topic-partitions"],
    ];
    for case in cases {
        let args: Vec<&str> = common.iter().chain(case.iter()).copied().collect();
        let out = gregor(&args);
        assert_eq!(out.status.code(), Some(2), "{case:?}: {:?}", text(&out));
        assert!(out.stdout.is_empty(), "{case:?}: usage errors go to stderr");
    }
    let out = gregor(&["leader-election", "--election-type", "preferred", "--all-topic-partitions"]);
    assert_eq!(out.status.code(), Some(2), "--bootstrap-server is required");
}

#[test]
fn the_controller_rebalances_leadership_by_itself() {
    let zk = TestZk::start();
    let mut brokers = cluster_with_topic(
        &zk,
        &[
            "auto.leader.rebalance.enable=true",
            "leader.imbalance.check.interval.seconds=1",
            "leader.imbalance.per.broker.percentage=10",
        ],
    );
    brokers[0].kill();
    wait("partition 0 fails over to broker 1", || leaders(&brokers[1]).first() == Some(&1));
    brokers[0].restart();
    // Broker 0 leads none of the one partition it prefers: 100 % > 10 %, so the
    // controller's check elects it once it is back in the ISR, with no tool run.
    for b in &brokers {
        wait("the preferred leaders return", || leaders(b) == vec![0, 1, 2]);
    }
    assert_eq!(partitions(&brokers[2])[0], (0, vec![0, 1, 2]));
}

#[test]
fn unclean_election_gives_a_partition_without_live_isr_a_leader() {
    let zk = TestZk::start();
    let mut brokers: Vec<TestBroker> =
        (0..3).map(|id| start_broker(&zk.connect(""), id, &["auto.leader.rebalance.enable=false"])).collect();
    let bs = brokers[2].bootstrap();
    let out =
        gregor(&["topics", "--bootstrap-server", &bs, "--create", "--topic", TOPIC, "--replica-assignment", "0:1"]);
    assert!(out.status.success(), "create: {:?}", text(&out));
    wait("both replicas in sync", || partitions(&brokers[2]) == vec![(0, vec![0, 1])]);

    // The follower dies (and leaves the ISR), then the leader: no leader, ISR [0].
    brokers[1].kill();
    wait("broker 1 leaves the ISR", || partitions(&brokers[2]) == vec![(0, vec![0])]);
    brokers[0].kill();
    wait("the partition loses its leader", || partitions(&brokers[2]).first().is_some_and(|(l, _)| *l == -1));
    brokers[1].restart();
    let registered = |b: &TestBroker| {
        let req = MetadataRequest::default().with_topics(Some(Vec::new())).with_allow_auto_topic_creation(false);
        let md: MetadataResponse = Wire::connect(b.addr).call(ApiKey::Metadata, 4, &req);
        md.brokers.iter().any(|x| x.node_id.0 == 1)
    };
    wait("broker 1 registered again", || registered(&brokers[2]));
    assert_eq!(partitions(&brokers[2]).first().map(|(l, _)| *l), Some(-1), "unclean election is off by default");

    // Preferred: broker 0 is not alive.
    let elect = |kind: &str| {
        gregor(&[
            "leader-election",
            "--bootstrap-server",
            &bs,
            "--election-type",
            kind,
            "--topic",
            TOPIC,
            "--partition",
            "0",
        ])
    };
    let out = elect("preferred");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!(
            "Error completing leader election (PREFERRED) for partition: {TOPIC}-0: Failed to elect leader for \
             partition {TOPIC}-0: the preferred replica 0 is not alive\n"
        )
    );

    // Unclean: the live replica outside the ISR leads, alone in the ISR.
    let out = elect("UNCLEAN");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, format!("Successfully completed leader election (UNCLEAN) for partitions {TOPIC}-0\n"));
    wait("broker 1 leads", || partitions(&brokers[2]) == vec![(1, vec![1])]);
    assert_eq!(partitions(&brokers[1]), vec![(1, vec![1])]);
}

/// Kafka 0.10's `kafka-preferred-replica-election.sh --zookeeper`: the request
/// goes to `/admin/preferred_replica_election` and the controller carries it out.
#[test]
fn the_old_zookeeper_tool_requests_the_election_through_the_controller() {
    let zk = TestZk::start();
    let mut brokers = cluster_with_topic(&zk, &["auto.leader.rebalance.enable=false"]);
    kill_and_restart_broker_0(&mut brokers);
    assert_eq!(leaders(&brokers[2]), vec![1, 1, 2]);
    let out = bin_script("kafka-preferred-replica-election.sh")
        .args(["--zookeeper", &zk.connect("")])
        .output()
        .expect("run script");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("Created preferred replica election path with {"), "{stdout}");
    assert!(first.contains(r#""version":1"#) && first.contains(&format!(r#""topic":"{TOPIC}""#)), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Successfully started preferred replica election for partitions Set([{TOPIC},0], [{TOPIC},1], [{TOPIC},2])"
        )),
        "{stdout}"
    );
    for b in &brokers {
        wait("the preferred leaders back", || leaders(b) == vec![0, 1, 2]);
    }
}
