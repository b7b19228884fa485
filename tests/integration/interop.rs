//! Interoperability with librdkafka (the `rdkafka` crate, bundled librdkafka):
//! admin operations, every compression codec, keys, headers, timestamps,
//! ListOffsets by timestamp, the idempotent producer, auto-creation.

use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(b: &TestBroker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", b.bootstrap()).create().expect("admin client")
}

fn producer(b: &TestBroker, extra: &[(&str, &str)]) -> ThreadedProducer<DefaultProducerContext> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", b.bootstrap()).set("message.timeout.ms", "30000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

fn consumer(b: &TestBroker) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", "interop-tests")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

async fn create_topic(b: &TestBroker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = admin(b).create_topics(&[t], &AdminOptions::new()).await.expect("create_topics");
    assert!(res[0].is_ok(), "{res:?}");
}

/// Reads `count` messages from partition 0 of `topic` from the beginning.
fn read_all(b: &TestBroker, topic: &str, partition: i32, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let c = consumer(b);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while out.len() < count && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            out.push(m.expect("message").detach());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_codec_round_trips_keys_headers_timestamps() {
    let b = TestBroker::start(&[]);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&b, &topic, 1, &[]).await;
        let p = producer(&b, &[("compression.codec", codec), ("acks", "all"), ("linger.ms", "5")]);
        for i in 0..200i64 {
            let key = format!("key-{i}");
            let value = format!("value-{i}-{}", "x".repeat((i % 50) as usize));
            let headers = OwnedHeaders::new().insert(Header { key: "h", value: Some(&i.to_be_bytes()[..]) });
            p.send(
                BaseRecord::to(&topic)
                    .partition(0)
                    .key(&key)
                    .payload(&value)
                    .timestamp(1_600_000_000_000 + i)
                    .headers(headers),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        }
        p.flush(TIMEOUT).expect("flush");
        let got = read_all(&b, &topic, 0, 200);
        assert_eq!(got.len(), 200, "codec {codec}");
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.offset(), i as i64, "codec {codec}");
            assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()));
            let expected = format!("value-{i}-{}", "x".repeat(i % 50));
            assert_eq!(m.payload(), Some(expected.as_bytes()));
            assert_eq!(m.timestamp().to_millis(), Some(1_600_000_000_000 + i as i64));
            let h = m.headers().expect("headers").get(0);
            assert_eq!(h.key, "h");
            assert_eq!(h.value, Some(&(i as i64).to_be_bytes()[..]));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_create_list_describe_delete() {
    let b = TestBroker::start(&[]);
    create_topic(&b, "adm", 3, &[("retention.ms", "86400000"), ("segment.bytes", "1048576")]).await;
    let a = admin(&b);
    // Duplicate.
    let res = a
        .create_topics(&[NewTopic::new("adm", 1, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create");
    assert!(matches!(&res[0], Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))), "{res:?}");
    // List via metadata.
    let md = a.inner().fetch_metadata(None, TIMEOUT).expect("metadata");
    let t = md.topics().iter().find(|t| t.name() == "adm").expect("listed");
    assert_eq!(t.partitions().len(), 3);
    // Describe configs: override and default with their sources.
    let res = a.describe_configs(&[ResourceSpecifier::Topic("adm")], &AdminOptions::new()).await.expect("describe");
    let cfg = res[0].as_ref().expect("resource");
    let retention = cfg.get("retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("86400000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let cleanup = cfg.get("cleanup.policy").expect("cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert!(cleanup.is_default);
    let res = a.describe_configs(&[ResourceSpecifier::Broker(0)], &AdminOptions::new()).await.expect("describe broker");
    let cfg = res[0].as_ref().expect("broker resource");
    assert_eq!(cfg.get("num.partitions").and_then(|e| e.value.clone()).as_deref(), Some("1"));
    // Grow partitions.
    let res =
        a.create_partitions(&[NewPartitions::new("adm", 5)], &AdminOptions::new()).await.expect("create_partitions");
    assert!(res[0].is_ok(), "{res:?}");
    let md = a.inner().fetch_metadata(Some("adm"), TIMEOUT).expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 5);
    // Delete.
    let res = a.delete_topics(&["adm"], &AdminOptions::new()).await.expect("delete");
    assert!(res[0].is_ok(), "{res:?}");
    let res = a.delete_topics(&["adm"], &AdminOptions::new()).await.expect("delete again");
    assert!(res[0].is_err());
    assert!(!b.log_dir().join("adm-0").exists(), "partition data removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_disabled_is_refused() {
    let b = TestBroker::start(&["delete.topic.enable=false"]);
    create_topic(&b, "keep", 1, &[]).await;
    let res = admin(&b).delete_topics(&["keep"], &AdminOptions::new()).await.expect("delete");
    assert!(matches!(&res[0], Err((_, rdkafka::types::RDKafkaErrorCode::TopicDeletionDisabled))), "{res:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_for_times_and_watermarks() {
    let b = TestBroker::start(&["log.index.interval.bytes=64"]);
    create_topic(&b, "times", 1, &[]).await;
    let p = producer(&b, &[("linger.ms", "0")]);
    for i in 0..100i64 {
        p.send(BaseRecord::<(), _>::to("times").partition(0).payload("v").timestamp(1_000_000 + i * 10))
            .map_err(|(e, _)| e)
            .expect("send");
        p.flush(TIMEOUT).expect("flush");
    }
    let c = consumer(&b);
    let (lo, hi) = c.fetch_watermarks("times", 0, TIMEOUT).expect("watermarks");
    assert_eq!((lo, hi), (0, 100));
    for (ts, expected) in [(1_000_000i64, 0i64), (1_000_005, 1), (1_000_500, 50), (1_000_990, 99)] {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("times", 0, Offset::Offset(ts)).expect("tpl");
        let res = c.offsets_for_times(tpl, TIMEOUT).expect("offsets_for_times");
        let off = res.find_partition("times", 0).expect("partition").offset();
        assert_eq!(off, Offset::Offset(expected), "timestamp {ts}");
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(9_000_000)).expect("tpl");
    let res = c.offsets_for_times(tpl, TIMEOUT).expect("offsets_for_times");
    assert_eq!(res.find_partition("times", 0).expect("partition").offset(), Offset::End);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_producer_writes_each_record_once() {
    let b = TestBroker::start(&[]);
    create_topic(&b, "idem", 1, &[]).await;
    let p = producer(&b, &[("enable.idempotence", "true"), ("acks", "all"), ("linger.ms", "2")]);
    for i in 0..2000 {
        p.send(BaseRecord::<(), _>::to("idem").partition(0).payload(&format!("{i}")))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    p.flush(TIMEOUT).expect("flush");
    let got = read_all(&b, "idem", 0, 2000);
    assert_eq!(got.len(), 2000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.payload(), Some(format!("{i}").as_bytes()));
    }
    let (_, hi) = consumer(&b).fetch_watermarks("idem", 0, TIMEOUT).expect("watermarks");
    assert_eq!(hi, 2000, "no duplicates written");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_created_topic_gets_num_partitions() {
    let mut b = TestBroker::start(&["num.partitions=4"]);
    let p = producer(&b, &[]);
    p.send(BaseRecord::<(), _>::to("auto-topic").payload("hello")).map_err(|(e, _)| e).expect("send");
    p.flush(TIMEOUT).expect("flush");
    let md = admin(&b).inner().fetch_metadata(Some("auto-topic"), TIMEOUT).expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 4);
    let off = b.terminate();
    assert_eq!(off, Some(0), "SIGTERM exits 0 after a graceful shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_record_is_refused_and_broker_stays_up() {
    let b = TestBroker::start(&["message.max.bytes=10000"]);
    create_topic(&b, "small", 1, &[]).await;
    let p = producer(&b, &[("message.max.bytes", "1000000"), ("compression.codec", "none")]);
    let big = vec![b'x'; 50_000];
    p.send(BaseRecord::<(), _>::to("small").partition(0).payload(&big)).map_err(|(e, _)| e).expect("enqueue");
    p.flush(TIMEOUT).expect("flush");
    p.send(BaseRecord::<(), _>::to("small").partition(0).payload("fits")).map_err(|(e, _)| e).expect("enqueue");
    p.flush(TIMEOUT).expect("flush");
    let got = read_all(&b, "small", 0, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), Some(&b"fits"[..]));
}
