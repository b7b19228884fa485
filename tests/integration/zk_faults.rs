//! The embedded coordinator's disk fills up under a running broker (simulated
//! with the test hook `GREGOR_TEST_HOOK_ZK_DISK_FULL`, which makes the
//! coordinator's log and snapshot writes fail with ENOSPC while a file exists):
//! topic creation fails meanwhile, the broker keeps answering, and once the
//! disk takes writes again a topic can be created without a restart. A
//! shutdown afterwards is clean and prompt.

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(60);

fn create_topic(b: &TestBroker, name: &str) -> i16 {
    let mut w = Wire::connect(b.addr);
    let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 4, &req);
    resp.topics[0].error_code
}

/// (error code, leader) of partition 0 of `topic` in the broker's Metadata answer.
fn partition_leader(b: &TestBroker, topic: &str) -> Option<(i16, i32)> {
    let mut w = Wire::connect(b.addr);
    let md: MetadataResponse = w.call(
        ApiKey::Metadata,
        4,
        &MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false),
    );
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))?;
    t.partitions.first().map(|p| (t.error_code, p.leader_id.0))
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn embedded_coordinator_survives_a_full_disk() {
    let hook_dir = tempfile::tempdir().expect("tempdir");
    let switch = hook_dir.path().join("disk-full");
    let switch_str = switch.to_str().expect("utf-8 temp path").to_string();
    let mut b = TestBroker::start_with_env(&[], &[("GREGOR_TEST_HOOK_ZK_DISK_FULL", &switch_str)]);
    assert_eq!(create_topic(&b, "before"), 0);
    wait_for("a leader for 'before'", || partition_leader(&b, "before").is_some_and(|(e, l)| e == 0 && l >= 0));

    std::fs::write(&switch, b"").expect("fill the disk");
    let refused = create_topic(&b, "during");
    assert_ne!(refused, 0, "creating a topic cannot succeed while the coordinator cannot write");
    // The broker keeps serving what it knows.
    assert_eq!(partition_leader(&b, "before").map(|(e, _)| e), Some(0));
    // Long enough for sessions and reconnect attempts to have gone wrong before the fix.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(partition_leader(&b, "before").map(|(e, _)| e), Some(0));

    std::fs::remove_file(&switch).expect("free the disk");
    wait_for("topic creation to work again", || match create_topic(&b, "after") {
        0 | 36 => true, // 36: TOPIC_ALREADY_EXISTS, an earlier attempt got through
        _ => false,
    });
    wait_for("a leader for 'after'", || partition_leader(&b, "after").is_some_and(|(e, l)| e == 0 && l >= 0));
    assert!(partition_leader(&b, "during").is_none(), "the refused topic must not exist");

    let log = b.log_text();
    assert!(log.contains("transaction log write failed"), "the failure is reported:\n{log}");
    assert!(!log.contains("request processor stopped"), "the coordinator must keep running:\n{log}");
    assert_eq!(b.terminate(), Some(0), "clean exit; log:\n{}", b.log_text());
    let log = b.log_text();
    assert!(!log.contains("did not stop within"), "shutdown must be prompt:\n{log}");
}
