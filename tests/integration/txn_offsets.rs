//! Transactional offset commits (TxnOffsetCommit) at the group coordinator,
//! driven by hand on the wire (no transaction coordinator needed): offsets
//! stay pending until WriteTxnMarkers writes the producer's COMMIT or ABORT on
//! the group's `__consumer_offsets` partition; OffsetFetch hides them
//! (UNSTABLE_OFFSET_COMMIT with require_stable); a later ordinary commit
//! wins; Kafka's error codes for bad requests; and after a `kill -9` and
//! restart the committed transactional offset is back while a pending one is
//! still pending and completes when its marker arrives; the same when the
//! coordinator of a three-broker cluster is killed and a follower takes over.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DeleteGroupsRequest, DeleteGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProducerId, SyncGroupRequest, SyncGroupResponse, TopicName,
    TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::txn::{init_producer_id, write_marker};
use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::TestBroker;

const TOPIC: &str = "t";
/// `offsets.topic.num.partitions` of these brokers.
const OFFSETS_PARTITIONS: i32 = 4;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn broker() -> TestBroker {
    TestBroker::start(&["offsets.topic.num.partitions=4", "group.initial.rebalance.delay.ms=0", "num.partitions=2"])
}

/// The group's partition of `__consumer_offsets` (the coordinator's own
/// function: Java's `String.hashCode`, absolute, modulo the partition count).
fn offsets_partition(group: &str) -> i32 {
    gregor::coordinator::records::partition_for(group, OFFSETS_PARTITIONS)
}

/// The fields of a TxnOffsetCommit that vary between the tests.
struct Txn<'a> {
    version: i16,
    group: &'a str,
    pid: i64,
    epoch: i16,
    generation: i32,
    member: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
    metadata: &'a str,
}

impl<'a> Txn<'a> {
    fn new(group: &'a str, (pid, epoch): (i64, i16), partition: i32, offset: i64) -> Txn<'a> {
        Txn { version: 3, group, pid, epoch, generation: -1, member: "", topic: TOPIC, partition, offset, metadata: "" }
    }

    /// Sends it; the one partition's error code.
    fn send(&self, w: &mut Wire) -> i16 {
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("tx")))
            .with_group_id(GroupId(s(self.group)))
            .with_producer_id(ProducerId(self.pid))
            .with_producer_epoch(self.epoch)
            .with_generation_id(self.generation)
            .with_member_id(s(self.member))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(self.topic)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(self.partition)
                    .with_committed_offset(self.offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(s(self.metadata)))])]);
        let r: TxnOffsetCommitResponse = w.call(ApiKey::TxnOffsetCommit, self.version, &req);
        assert_eq!(r.topics.len(), 1, "{r:?}");
        assert_eq!(r.topics[0].name.0.as_str(), self.topic);
        assert_eq!(r.topics[0].partitions[0].partition_index, self.partition);
        r.topics[0].partitions[0].error_code
    }
}

/// An ordinary OffsetCommit (generation −1: a group not managed by the coordinator).
fn commit(w: &mut Wire, group: &str, partition: i32, offset: i64) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(s(TOPIC))).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(partition).with_committed_offset(offset),
        ])]);
    let r: OffsetCommitResponse = w.call(ApiKey::OffsetCommit, 7, &req);
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of one partition: (group error, partition error, committed offset).
fn fetch(w: &mut Wire, group: &str, partition: i32, require_stable: bool) -> (i16, i16, i64) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![partition])]));
    let r: OffsetFetchResponse = w.call(ApiKey::OffsetFetch, 7, &req);
    match r.topics.first().and_then(|t| t.partitions.first()) {
        Some(p) => (r.error_code, p.error_code, p.committed_offset),
        None => (r.error_code, -1, -1),
    }
}

/// The committed offset, asserting no error.
fn committed(w: &mut Wire, group: &str, partition: i32) -> i64 {
    let (group_error, error, offset) = fetch(w, group, partition, false);
    assert_eq!((group_error, error), (0, 0));
    offset
}

/// WriteTxnMarkers for the producer on the group's `__consumer_offsets` partition: its error code.
fn marker(w: &mut Wire, group: &str, producer: (i64, i16), commit: bool) -> i16 {
    write_marker(w, "__consumer_offsets", offsets_partition(group), producer, commit)
}

/// Waits until the broker coordinates `group` (FindCoordinator creates
/// `__consumer_offsets`; then its partition must be loaded).
fn wait_coordinator(w: &mut Wire, group: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: FindCoordinatorResponse =
            w.call(ApiKey::FindCoordinator, 0, &FindCoordinatorRequest::default().with_key(s(group)));
        let (group_error, _, _) = fetch(w, group, 0, false);
        if found.error_code == 0 && group_error == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the coordinator of {group} never loaded: {found:?}, error {group_error}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A one-member consumer group (JoinGroup v2 + SyncGroup): (member id, generation).
fn join_group(w: &mut Wire, group: &str) -> (String, i32) {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(""))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"))]);
    let j: JoinGroupResponse = w.call(ApiKey::JoinGroup, 2, &req);
    assert_eq!(j.error_code, 0);
    let member = j.member_id.to_string();
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(j.generation_id)
        .with_member_id(s(&member))
        .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(s(&member))]);
    let sg: SyncGroupResponse = w.call(ApiKey::SyncGroup, 1, &sync);
    assert_eq!(sg.error_code, 0);
    (member, j.generation_id)
}

#[test]
fn pending_until_the_marker_commit_or_abort() {
    let b = broker();
    let mut w = Wire::connect_when_led(b.addr, TOPIC);
    wait_coordinator(&mut w, "g");
    assert_eq!(commit(&mut w, "g", 0, 5), 0);
    let a = init_producer_id(&mut w);

    // Committed in a transaction: invisible until the marker.
    assert_eq!(Txn::new("g", a, 0, 10).send(&mut w), 0);
    assert_eq!(committed(&mut w, "g", 0), 5);
    assert_eq!(fetch(&mut w, "g", 0, true), (0, UNSTABLE_OFFSET_COMMIT, -1));
    // Another partition without a pending offset is stable.
    assert_eq!(fetch(&mut w, "g", 1, true), (0, 0, -1));
    assert_eq!(marker(&mut w, "g", a, true), 0);
    assert_eq!(committed(&mut w, "g", 0), 10);
    assert_eq!(fetch(&mut w, "g", 0, true), (0, 0, 10));

    // Aborted: the old offset stays.
    assert_eq!(Txn::new("g", a, 0, 20).send(&mut w), 0);
    assert_eq!(marker(&mut w, "g", a, false), 0);
    assert_eq!(committed(&mut w, "g", 0), 10);
    assert_eq!(fetch(&mut w, "g", 0, true), (0, 0, 10));

    // An ordinary commit written after the transactional one wins (Kafka compares log positions).
    assert_eq!(Txn::new("g", a, 0, 30).send(&mut w), 0);
    assert_eq!(commit(&mut w, "g", 0, 25), 0);
    assert_eq!(marker(&mut w, "g", a, true), 0);
    assert_eq!(committed(&mut w, "g", 0), 25);

    // v0 (no member fields) works too.
    assert_eq!(Txn { version: 0, ..Txn::new("g", a, 1, 3) }.send(&mut w), 0);
    assert_eq!(marker(&mut w, "g", a, true), 0);
    assert_eq!(committed(&mut w, "g", 1), 3);

    // A group that is deleted while an offset is pending: Kafka deletes the
    // pending offset too, and the later COMMIT does not bring it back.
    wait_coordinator(&mut w, "gone");
    assert_eq!(Txn::new("gone", a, 0, 40).send(&mut w), 0);
    let del: DeleteGroupsResponse =
        w.call(ApiKey::DeleteGroups, 2, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("gone"))]));
    assert_eq!(del.results[0].error_code, 0);
    assert_eq!(marker(&mut w, "gone", a, true), 0);
    assert_eq!(committed(&mut w, "gone", 0), -1);
}

#[test]
fn bad_requests_get_kafkas_errors_and_the_broker_stays_up() {
    let b = broker();
    let mut w = Wire::connect_when_led(b.addr, TOPIC);
    wait_coordinator(&mut w, "g");
    let versions: ApiVersionsResponse = w.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let advertised =
        versions.api_keys.iter().find(|k| k.api_key == ApiKey::TxnOffsetCommit as i16).expect("TxnOffsetCommit");
    assert_eq!((advertised.min_version, advertised.max_version), (0, 4));

    let a = init_producer_id(&mut w);
    assert_eq!(Txn { topic: "no-such-topic", ..Txn::new("g", a, 0, 1) }.send(&mut w), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(Txn::new("g", a, 7, 1).send(&mut w), 3, "a partition the topic does not have");
    assert_eq!(Txn::new("", a, 0, 1).send(&mut w), 24, "INVALID_GROUP_ID");
    let big = "m".repeat(5000);
    assert_eq!(Txn { metadata: &big, ..Txn::new("g", a, 0, 1) }.send(&mut w), 12, "OFFSET_METADATA_TOO_LARGE");

    // v3+: the member fields are checked when given.
    let (member, generation) = join_group(&mut w, "members");
    let ok = Txn { member: &member, generation, ..Txn::new("members", a, 0, 8) };
    assert_eq!(ok.send(&mut w), 0);
    assert_eq!(Txn { generation: generation + 1, ..ok }.send(&mut w), 22, "ILLEGAL_GENERATION");
    assert_eq!(Txn { member: "nobody", ..ok }.send(&mut w), 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(marker(&mut w, "members", a, true), 0);
    assert_eq!(committed(&mut w, "members", 0), 8);

    // A producer epoch older than the one the partition has seen is fenced.
    let c = init_producer_id(&mut w);
    assert_eq!(Txn::new("g", (c.0, 5), 0, 1).send(&mut w), 0);
    assert_eq!(Txn::new("g", (c.0, 4), 0, 1).send(&mut w), 47, "INVALID_PRODUCER_EPOCH");

    // A truncated request closes that connection only.
    let mut bad = Wire::connect(b.addr);
    let mut frame = Vec::new();
    let body: &[u8] = &[0, 28, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0, 5];
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(body);
    bad.send_raw(&frame);
    assert!(bad.is_closed(), "a malformed TxnOffsetCommit closes the connection");
    let mut again = Wire::connect(b.addr);
    assert_eq!(committed(&mut again, "g", 0), -1);
    assert_eq!(committed(&mut again, "members", 0), 8);
}

#[test]
fn restart_reloads_committed_aborted_and_pending_transactional_offsets() {
    let mut b = broker();
    let mut w = Wire::connect_when_led(b.addr, TOPIC);
    wait_coordinator(&mut w, "r");
    let (a, bb, c) = (init_producer_id(&mut w), init_producer_id(&mut w), init_producer_id(&mut w));
    assert_eq!(commit(&mut w, "r", 0, 5), 0);
    assert_eq!(commit(&mut w, "r", 1, 7), 0);
    // a commits 10 on partition 0; c aborts 99 there; b leaves 20 pending on partition 1.
    assert_eq!(Txn::new("r", a, 0, 10).send(&mut w), 0);
    assert_eq!(Txn::new("r", c, 0, 99).send(&mut w), 0);
    assert_eq!(Txn::new("r", bb, 1, 20).send(&mut w), 0);
    assert_eq!(marker(&mut w, "r", a, true), 0);
    assert_eq!(marker(&mut w, "r", c, false), 0);
    assert_eq!(committed(&mut w, "r", 0), 10);
    assert_eq!(committed(&mut w, "r", 1), 7);

    drop(w);
    b.restart();
    let mut w = Wire::connect_when_led(b.addr, TOPIC);
    wait_coordinator(&mut w, "r");
    assert_eq!(committed(&mut w, "r", 0), 10);
    assert_eq!(fetch(&mut w, "r", 0, true), (0, 0, 10));
    assert_eq!(committed(&mut w, "r", 1), 7, "still pending after the reload");
    assert_eq!(fetch(&mut w, "r", 1, true), (0, UNSTABLE_OFFSET_COMMIT, -1));
    // The marker the transaction coordinator sends again completes it.
    assert_eq!(marker(&mut w, "r", bb, true), 0);
    assert_eq!(committed(&mut w, "r", 1), 20);
    assert_eq!(fetch(&mut w, "r", 1, true), (0, 0, 20));
}

/// FindCoordinator v0 until a broker other than `not` answers: its node id.
fn find_coordinator(w: &mut Wire, group: &str, not: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r: FindCoordinatorResponse =
            w.call(ApiKey::FindCoordinator, 0, &FindCoordinatorRequest::default().with_key(s(group)));
        if r.error_code == 0 && r.node_id.0 != not {
            return r.node_id.0;
        }
        assert!(Instant::now() < deadline, "no coordinator for {group}: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_new_coordinator_after_failover_keeps_the_offset_pending_until_its_marker() {
    let zk = TestZk::start();
    let mut brokers = crate::common::group_cluster(&zk);
    let bootstrap = crate::common::bootstrap_of(&brokers);
    crate::common::ok(crate::common::run_tool(
        "topics",
        &bootstrap,
        &["--create", "--topic", TOPIC, "--partitions", "1", "--replication-factor", "3"],
    ));
    let group = "failover";
    // group_cluster's offsets topic has three partitions, each with three replicas.
    let partition = gregor::coordinator::records::partition_for(group, 3);
    let first = find_coordinator(&mut Wire::connect(brokers[0].addr), group, -1);
    let mut w = Wire::connect(brokers[first as usize].addr);
    wait_coordinator(&mut w, group);
    assert_eq!(commit(&mut w, group, 0, 5), 0);
    let a = init_producer_id(&mut w);
    assert_eq!(Txn::new(group, a, 0, 10).send(&mut w), 0);
    assert_eq!(fetch(&mut w, group, 0, true), (0, UNSTABLE_OFFSET_COMMIT, -1));
    drop(w);

    brokers[first as usize].kill();
    let survivor = brokers.iter().find(|b| b.child.is_some()).expect("a live broker");
    let next = find_coordinator(&mut Wire::connect(survivor.addr), group, first);
    let mut w = Wire::connect(brokers[next as usize].addr);
    wait_coordinator(&mut w, group);
    assert_eq!(committed(&mut w, group, 0), 5);
    assert_eq!(fetch(&mut w, group, 0, true), (0, UNSTABLE_OFFSET_COMMIT, -1));
    // The new leader knows the open transaction (its follower copy recorded
    // it): the re-sent COMMIT marker lands and completes the offset.
    assert_eq!(write_marker(&mut w, "__consumer_offsets", partition, a, true), 0);
    assert_eq!(committed(&mut w, group, 0), 10);
    assert_eq!(fetch(&mut w, group, 0, true), (0, 0, 10));
}
