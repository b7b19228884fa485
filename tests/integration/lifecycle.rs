//! Broker lifecycle: unknown keys warn, metadata and data survive a graceful
//! restart (with the clean-shutdown marker), retention deletes old segments
//! on its schedule.

use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::common::wire::Wire;
use crate::common::TestBroker;

fn produce(b: &TestBroker, topic: &str, n: usize, size: usize) {
    let p: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", b.bootstrap()).set("linger.ms", "0").create().expect("producer");
    let payload = vec![b'r'; size];
    for _ in 0..n {
        p.send(BaseRecord::<(), _>::to(topic).partition(0).payload(&payload)).map_err(|(e, _)| e).expect("send");
        p.flush(Duration::from_secs(30)).expect("flush");
    }
}

fn offsets(b: &TestBroker, topic: &str, ts: i64) -> i64 {
    let mut w = Wire::connect(b.addr);
    let req = ListOffsetsRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(ts)]),
    ]);
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 5, &req);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    resp.topics[0].partitions[0].offset
}

#[test]
fn unknown_key_warns_by_name() {
    let b = TestBroker::start(&["no.such.setting=1"]);
    assert!(b.log_text().contains("no.such.setting"), "{}", b.log_text());
}

#[test]
fn graceful_restart_keeps_topics_data_and_writes_clean_marker() {
    let mut b = TestBroker::start(&["num.partitions=2"]);
    produce(&b, "kept", 25, 100);
    assert_eq!(b.terminate(), Some(0));
    assert!(b.log_dir().join(".kafka_cleanshutdown").exists(), "clean-shutdown marker written");
    b.restart();
    assert!(!b.log_dir().join(".kafka_cleanshutdown").exists(), "marker removed once running");
    assert!(!b.log_text().contains("unclean shutdown"), "a clean restart does not recover");
    let mut w = Wire::connect(b.addr);
    let md: MetadataResponse = w.call(ApiKey::Metadata, 1, &MetadataRequest::default().with_topics(None));
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("kept")).expect("topic kept");
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(offsets(&b, "kept", -1), 25);
}

#[test]
fn retention_deletes_old_segments_on_schedule() {
    let b = TestBroker::start(&["log.retention.check.interval.ms=200", "log.segment.bytes=1024"]);
    let mut w = Wire::connect(b.addr);
    let req = kafka_protocol::messages::CreateTopicsRequest::default().with_topics(vec![
        kafka_protocol::messages::create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("short")))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.bytes"))
                .with_value(Some(StrBytes::from_static_str("2048")))]),
    ]);
    let resp: kafka_protocol::messages::CreateTopicsResponse = w.call(ApiKey::CreateTopics, 4, &req);
    assert_eq!(resp.topics[0].error_code, 0);
    produce(&b, "short", 40, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut start = 0;
    while Instant::now() < deadline {
        start = offsets(&b, "short", -2);
        if start > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(start > 0, "log start offset advanced by retention");
    assert_eq!(offsets(&b, "short", -1), 40, "the latest records are kept");
    // A retention pass may have run while records were still arriving: the
    // next passes bring the log within retention.bytes.
    let count_segments = || {
        std::fs::read_dir(b.log_dir().join("short-0"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .count()
    };
    let mut segments = count_segments();
    while segments > 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        segments = count_segments();
    }
    assert!(segments <= 4, "{segments} segments left");
}

/// `key:value` lines of a topic, read from the beginning with the console consumer.
fn read_keyed(b: &TestBroker, topic: &str, max: usize) -> Vec<String> {
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["console-consumer", "--bootstrap-server", &b.bootstrap(), "--topic", topic, "--from-beginning"])
        .args(["--property", "print.key=true", "--property", "key.separator=:", "--timeout-ms", "3000"])
        .args(["--max-messages", &max.to_string()])
        .output()
        .expect("console-consumer");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn compacted_topics_keep_the_latest_value_of_each_key() {
    let b = TestBroker::start(&["log.cleaner.backoff.ms=200"]);
    let create = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &b.bootstrap(), "--create", "--topic", "latest"])
        .args(["--partitions", "1", "--config", "cleanup.policy=compact", "--config", "segment.bytes=1024"])
        .output()
        .expect("topics");
    assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
    // 200 updates of 4 keys, one record per request so that segments roll.
    let lines: String = (0..200).map(|i| format!("user{}:state-{i}\n", i % 4)).collect();
    let mut producer = std::process::Command::new(crate::common::gregor_bin());
    producer
        .args(["console-producer", "--bootstrap-server", &b.bootstrap(), "--topic", "latest"])
        .args(["--property", "parse.key=true", "--property", "key.separator=:"])
        .args(["--producer-property", "linger.ms=0", "--producer-property", "batch.size=1"]);
    let out = crate::common::pipe_into(producer, &lines);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(offsets(&b, "latest", -1), 200);
    // The cleaner rewrites the closed segments: far fewer records remain, the
    // last value of every key among them, and the log end stays where it was.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = read_keyed(&b, "latest", 200);
    while seen.len() > 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        seen = read_keyed(&b, "latest", 200);
    }
    assert!(seen.len() <= 40, "{} records left", seen.len());
    for k in 0..4 {
        let last = (0..200).rev().find(|i| i % 4 == k).expect("a last value");
        assert!(seen.contains(&format!("user{k}:state-{last}")), "latest of user{k} missing: {seen:?}");
    }
    assert_eq!(offsets(&b, "latest", -1), 200);
    assert!(b.log_text().contains("compacted the log"));
}
