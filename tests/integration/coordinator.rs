//! The group coordinator on the wire: the classic protocol at the old
//! versions kafka-python 2.0 hard-codes, Kafka's error codes for fencing and
//! bad requests, static membership, offset expiry, reloading after a restart,
//! and committed offsets surviving kill -9 of the coordinator in a
//! three-broker cluster (through librdkafka).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest,
    ProduceResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(60);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A broker with a small offsets topic and no initial rebalance delay.
fn broker(extra: &[&str]) -> TestBroker {
    let mut o = vec!["offsets.topic.num.partitions=4", "group.initial.rebalance.delay.ms=0", "num.partitions=2"];
    o.extend_from_slice(extra);
    TestBroker::start(&o)
}

/// FindCoordinator v0 until it answers without an error; the coordinator's node id and port.
fn coordinator(w: &mut Wire, group: &str) -> (i32, i32) {
    let mut answer = (-1, -1);
    wait("a coordinator", || {
        let r: FindCoordinatorResponse =
            w.call(ApiKey::FindCoordinator, 0, &FindCoordinatorRequest::default().with_key(s(group)));
        answer = (r.node_id.0, r.port);
        r.error_code == 0
    });
    // Right after the offsets topic is created its partitions may still be
    // loading (COORDINATOR_LOAD_IN_PROGRESS), which clients retry.
    if answer.1 == w.stream.peer_addr().map_or(-1, |a| i32::from(a.port())) {
        wait("the coordinator to load", || {
            let r: DescribeGroupsResponse =
                w.call(ApiKey::DescribeGroups, 0, &DescribeGroupsRequest::default().with_groups(vec![gid(group)]));
            r.groups[0].error_code == 0
        });
    }
    answer
}

fn join(w: &mut Wire, version: i16, group: &str, member: &str, instance: Option<&str>) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"))]);
    w.call(ApiKey::JoinGroup, version, &req)
}

fn sync(
    w: &mut Wire,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    assignment: &[u8],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(Bytes::copy_from_slice(assignment))]);
    w.call(ApiKey::SyncGroup, version, &req)
}

fn heartbeat(w: &mut Wire, group: &str, generation: i32, member: &str, instance: Option<&str>) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s));
    let r: HeartbeatResponse = w.call(ApiKey::Heartbeat, if instance.is_some() { 3 } else { 1 }, &req);
    r.error_code
}

fn commit(w: &mut Wire, group: &str, generation: i32, member: &str, topic: &str, offset: i64, retention: i64) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_retention_time_ms(retention)
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset),
        ])]);
    let r: OffsetCommitResponse = w.call(ApiKey::OffsetCommit, 2, &req);
    r.topics[0].partitions[0].error_code
}

fn fetch_offset(w: &mut Wire, group: &str, topic: &str) -> i64 {
    let req = OffsetFetchRequest::default().with_group_id(gid(group)).with_topics(Some(vec![
        OffsetFetchRequestTopic::default().with_name(TopicName(s(topic))).with_partition_indexes(vec![0]),
    ]));
    let r: OffsetFetchResponse = w.call(ApiKey::OffsetFetch, 1, &req);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    r.topics[0].partitions[0].committed_offset
}

fn describe(w: &mut Wire, group: &str) -> (String, usize) {
    let r: DescribeGroupsResponse =
        w.call(ApiKey::DescribeGroups, 0, &DescribeGroupsRequest::default().with_groups(vec![gid(group)]));
    (r.groups[0].group_state.to_string(), r.groups[0].members.len())
}

fn create_topic(b: &TestBroker, name: &str) {
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &b.bootstrap(), "--create", "--topic", name, "--partitions", "1"])
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_old_protocol_versions_kafka_python_uses() {
    let b = broker(&[]);
    create_topic(&b, "t");
    let mut w = Wire::connect(b.addr);
    assert_eq!(coordinator(&mut w, "old").0, 0);
    // JoinGroup v2 with no member id: a new member, leader of generation 1.
    let j = join(&mut w, 2, "old", "", None);
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader, j.member_id);
    assert_eq!(j.members.len(), 1, "the leader sees its own subscription");
    let member = j.member_id.to_string();
    assert!(member.starts_with("gregor-tests-"), "{member}");
    let sg = sync(&mut w, 1, "old", 1, &member, b"assigned");
    assert_eq!(sg.error_code, 0);
    assert_eq!(&sg.assignment[..], b"assigned");
    assert_eq!(heartbeat(&mut w, "old", 1, &member, None), 0);
    assert_eq!(commit(&mut w, "old", 1, &member, "t", 7, -1), 0);
    assert_eq!(fetch_offset(&mut w, "old", "t"), 7);
    assert_eq!(describe(&mut w, "old"), ("Stable".to_string(), 1));
    let lg: ListGroupsResponse = w.call(ApiKey::ListGroups, 1, &ListGroupsRequest::default());
    assert!(lg.groups.iter().any(|g| g.group_id.0.as_str() == "old" && g.protocol_type.as_str() == "consumer"));
    let leave: LeaveGroupResponse = w.call(
        ApiKey::LeaveGroup,
        1,
        &LeaveGroupRequest::default().with_group_id(gid("old")).with_member_id(s(&member)),
    );
    assert_eq!(leave.error_code, 0);
    assert_eq!(describe(&mut w, "old"), ("Empty".to_string(), 0));
    // The offset outlives the members.
    assert_eq!(fetch_offset(&mut w, "old", "t"), 7);
}

#[test]
fn fencing_and_bad_requests_get_kafkas_errors() {
    let b = broker(&[]);
    create_topic(&b, "t");
    let mut w = Wire::connect(b.addr);
    coordinator(&mut w, "g");
    // JoinGroup v4+: an unknown member is first handed its id.
    let first = join(&mut w, 5, "g", "", None);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.to_string();
    assert!(!member.is_empty());
    let j = join(&mut w, 5, "g", &member, None);
    assert_eq!((j.error_code, j.generation_id), (0, 1));
    // Too short a session.
    let bad: JoinGroupResponse = w.call(
        ApiKey::JoinGroup,
        5,
        &JoinGroupRequest::default()
            .with_group_id(gid("g2"))
            .with_session_timeout_ms(1000)
            .with_rebalance_timeout_ms(1000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]),
    );
    assert_eq!(bad.error_code, 26, "INVALID_SESSION_TIMEOUT");
    // Wrong generation, unknown member.
    assert_eq!(sync(&mut w, 3, "g", 7, &member, b"x").error_code, 22, "ILLEGAL_GENERATION");
    assert_eq!(heartbeat(&mut w, "g", 1, "nobody", None), 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(sync(&mut w, 3, "g", 1, &member, b"x").error_code, 0);
    // A commit outside the group's generation, and to a topic that does not exist.
    assert_eq!(commit(&mut w, "g", 0, &member, "t", 1, -1), 22, "ILLEGAL_GENERATION");
    assert_eq!(commit(&mut w, "g", 1, &member, "no-such-topic", 1, -1), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    // A group with members cannot be deleted; an unknown one is not found.
    let del: DeleteGroupsResponse =
        w.call(ApiKey::DeleteGroups, 1, &DeleteGroupsRequest::default().with_groups_names(vec![gid("g"), gid("none")]));
    assert_eq!(del.results[0].error_code, 68, "NON_EMPTY_GROUP");
    assert_eq!(del.results[1].error_code, 69, "GROUP_ID_NOT_FOUND");
    // A different protocol type is refused while the group has members.
    let other: JoinGroupResponse = w.call(
        ApiKey::JoinGroup,
        2,
        &JoinGroupRequest::default()
            .with_group_id(gid("g"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("connect"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("default"))]),
    );
    assert_eq!(other.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    // Clients cannot write to the offsets topic.
    let batch = gregor::protocol::batch::build_batch(0, &[(Some(&b"k"[..]), Some(&b"v"[..]), 1)]);
    let produce =
        ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s("__consumer_offsets")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(batch)))])]);
    let r: ProduceResponse = w.call(ApiKey::Produce, 7, &produce);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    // The broker is still fine for its other clients.
    assert_eq!(heartbeat(&mut w, "g", 1, &member, None), 0);
}

#[test]
fn a_static_member_rejoins_without_a_rebalance_and_fences_its_old_id() {
    let b = broker(&[]);
    let mut w = Wire::connect(b.addr);
    coordinator(&mut w, "static");
    let j = join(&mut w, 5, "static", "", Some("instance-1"));
    assert_eq!(j.error_code, 0, "static members join at once");
    let old = j.member_id.to_string();
    assert_eq!(sync(&mut w, 5, "static", 1, &old, b"mine").error_code, 0);
    // Restarted: same instance id, no member id.
    let again = join(&mut w, 5, "static", "", Some("instance-1"));
    assert_eq!(again.error_code, 0);
    assert_eq!(again.generation_id, 1, "no rebalance");
    let new = again.member_id.to_string();
    assert_ne!(new, old);
    let sg = sync(&mut w, 5, "static", 1, &new, b"ignored in Stable");
    assert_eq!(&sg.assignment[..], b"mine", "it keeps its assignment");
    assert_eq!(heartbeat(&mut w, "static", 1, &old, Some("instance-1")), 82, "FENCED_INSTANCE_ID");
    assert_eq!(heartbeat(&mut w, "static", 1, &new, Some("instance-1")), 0);
}

#[test]
fn offsets_expire_and_survive_a_restart() {
    let mut b = broker(&["offsets.retention.check.interval.ms=200"]);
    create_topic(&b, "t");
    let mut w = Wire::connect(b.addr);
    coordinator(&mut w, "simple");
    coordinator(&mut w, "short");
    // Generation −1: a group the coordinator does not manage.
    assert_eq!(commit(&mut w, "simple", -1, "", "t", 42, -1), 0);
    // Committed with a 300 ms retention (OffsetCommit v2): gone soon after.
    assert_eq!(commit(&mut w, "short", -1, "", "t", 5, 300), 0);
    assert_eq!(fetch_offset(&mut w, "short", "t"), 5);
    wait("the short-lived offset to expire", || fetch_offset(&mut w, "short", "t") == -1);
    assert_eq!(fetch_offset(&mut w, "simple", "t"), 42);
    drop(w);
    b.kill();
    b.restart();
    let mut w = Wire::connect(b.addr);
    // Loaded back from __consumer_offsets; the expired one stays gone.
    coordinator(&mut w, "simple");
    wait("the offsets to load", || {
        let r: OffsetFetchResponse = w.call(
            ApiKey::OffsetFetch,
            3,
            &OffsetFetchRequest::default().with_group_id(gid("simple")).with_topics(Some(vec![
                OffsetFetchRequestTopic::default().with_name(TopicName(s("t"))).with_partition_indexes(vec![0]),
            ])),
        );
        r.error_code == 0
    });
    assert_eq!(fetch_offset(&mut w, "simple", "t"), 42);
    assert_eq!(fetch_offset(&mut w, "short", "t"), -1);
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer")
}

fn poll_values(c: &BaseConsumer, count: usize, within: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    while out.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_kill_of_the_coordinator() {
    let zk = TestZk::start();
    let mut brokers = crate::common::group_cluster(&zk);
    let bootstrap = brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &bootstrap, "--create", "--topic", "orders"])
        .args(["--partitions", "3", "--replication-factor", "3"])
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("producer");
    for i in 0..30 {
        let v = format!("first-{i}");
        producer.send(FutureRecord::<(), _>::to("orders").payload(&v), Duration::from_secs(10)).await.expect("send");
    }
    let c = consumer(&bootstrap, "survivors");
    c.subscribe(&["orders"]).expect("subscribe");
    let seen = poll_values(&c, 30, TIMEOUT);
    assert_eq!(seen.len(), 30);
    c.commit_consumer_state(CommitMode::Sync).expect("commit");
    drop(c);

    // The coordinator's __consumer_offsets partition has three replicas.
    let mut w = Wire::connect(brokers[0].addr);
    let (coordinator_id, _) = coordinator(&mut w, "survivors");
    drop(w);
    brokers[coordinator_id as usize].kill();
    let survivor = brokers.iter().find(|b| b.child.is_some()).expect("a live broker");
    let mut w = Wire::connect(survivor.addr);
    wait("a new coordinator", || {
        let r: FindCoordinatorResponse =
            w.call(ApiKey::FindCoordinator, 0, &FindCoordinatorRequest::default().with_key(s("survivors")));
        r.error_code == 0 && r.node_id.0 != coordinator_id
    });

    let live: String =
        brokers.iter().filter(|b| b.child.is_some()).map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");
    for i in 0..5 {
        let v = format!("second-{i}");
        producer.send(FutureRecord::<(), _>::to("orders").payload(&v), Duration::from_secs(20)).await.expect("send");
    }
    // The group resumes where it committed: only the new records, none of the first.
    let c = consumer(&live, "survivors");
    c.subscribe(&["orders"]).expect("subscribe");
    let mut after = poll_values(&c, 5, TIMEOUT);
    after.extend(poll_values(&c, 1, Duration::from_secs(2)));
    after.sort();
    assert_eq!(after, (0..5).map(|i| format!("second-{i}")).collect::<Vec<_>>());
}

#[test]
fn deleting_a_topic_removes_its_committed_offsets() {
    let b = broker(&[]);
    create_topic(&b, "kept");
    create_topic(&b, "doomed");
    let mut w = Wire::connect(b.addr);
    coordinator(&mut w, "cleanup");
    assert_eq!(commit(&mut w, "cleanup", -1, "", "kept", 3, -1), 0);
    assert_eq!(commit(&mut w, "cleanup", -1, "", "doomed", 4, -1), 0);
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &b.bootstrap(), "--delete", "--topic", "doomed"])
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // OffsetFetch v2+ with no topics lists every committed partition.
    let all = |w: &mut Wire| -> Vec<String> {
        let r: OffsetFetchResponse = w.call(
            ApiKey::OffsetFetch,
            3,
            &OffsetFetchRequest::default().with_group_id(gid("cleanup")).with_topics(None),
        );
        r.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    wait("the deleted topic's offsets to go", || all(&mut w) == ["kept"]);
    assert_eq!(fetch_offset(&mut w, "cleanup", "kept"), 3);
}
