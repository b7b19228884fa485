//! Our Rust client (`gregor::client`) against real broker processes: admin
//! operations and their errors, every codec through our producer and
//! consumer, key partitioning identical to librdkafka's, idempotence, acks,
//! sticky partitioning, seeking, offset resets, a broker restart under load
//! and long polls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor::client::{
    Acks, Admin, ClientConfig, ClientError, Consumer, ConsumerConfig, ConsumerRecord, NewTopic, OffsetSpec, Producer,
    ProducerConfig, ProducerRecord, ResponseError, SeekTo,
};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(20);

async fn admin(b: &TestBroker) -> Admin {
    Admin::connect(ClientConfig::new(b.bootstrap())).await.expect("admin connects")
}

async fn create(admin: &Admin, name: &str, partitions: i32) {
    admin.create_topic(NewTopic::new(name, partitions), false).await.expect("create topic");
}

async fn producer(b: &TestBroker, props: &[(&str, &str)]) -> Producer {
    let mut c = ProducerConfig::new(b.bootstrap());
    for (k, v) in props {
        c.set(k, v).expect("producer property");
    }
    Producer::new(c).await.expect("producer")
}

async fn consumer(b: &TestBroker, props: &[(&str, &str)]) -> Consumer {
    let mut c = ConsumerConfig::new(b.bootstrap());
    c.set("fetch.max.wait.ms", "100").expect("property");
    for (k, v) in props {
        c.set(k, v).expect("consumer property");
    }
    Consumer::new(c).await.expect("consumer")
}

/// Polls until `count` records arrived (or WAIT passed).
async fn read(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    out
}

/// Every record of one partition from the beginning.
async fn read_partition(b: &TestBroker, topic: &str, partition: i32, count: usize) -> Vec<ConsumerRecord> {
    let mut c = consumer(b, &[("auto.offset.reset", "earliest")]).await;
    c.assign(vec![(topic.to_string(), partition)]).await.expect("assign");
    read(&mut c, count).await
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_create_list_describe_configs_partitions_delete() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    let topic = NewTopic::new("adm", 3).config("retention.ms", "86400000");
    a.create_topic(topic.clone(), true).await.expect("validate only");
    assert!(!a.list_topics(false).await.expect("list").contains(&"adm".to_string()), "validate_only creates nothing");
    a.create_topic(topic.clone(), false).await.expect("create");

    let err = a.create_topic(topic, false).await.expect_err("duplicate");
    assert_eq!(err.code(), Some(ResponseError::TopicAlreadyExists));
    assert_eq!(err.to_string(), "Topic 'adm' already exists.");

    create(&a, "another", 1).await;
    let names = a.list_topics(false).await.expect("list");
    assert_eq!(names, vec!["adm".to_string(), "another".to_string()], "sorted");

    let all = a.describe_topics(None).await.expect("describe all");
    assert_eq!(all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["adm", "another"]);
    let d = &a.describe_topics(Some(&["adm".to_string()])).await.expect("describe")[0];
    assert_eq!(d.partitions.len(), 3);
    assert!(d.topic_id.is_some());
    assert!(!d.internal);
    for (i, p) in d.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert!(p.leader.is_some());
        assert_eq!(p.replicas.len(), 1);
        assert_eq!(p.isr, p.replicas);
    }
    let err = a.describe_topics(Some(&["nope".to_string()])).await.expect_err("unknown topic");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition));

    let configs = a.describe_topic_configs("adm").await.expect("topic configs");
    let retention = configs.iter().find(|c| c.name == "retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("86400000"));
    assert_eq!(retention.source, 1, "dynamic topic config");
    assert!(!retention.is_default);
    let cleanup = configs.iter().find(|c| c.name == "cleanup.policy").expect("cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert!(cleanup.is_default);
    let err = a.describe_topic_configs("nope").await.expect_err("unknown topic configs");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition));

    let cluster = a.cluster().await.expect("cluster");
    assert_eq!(cluster.brokers.len(), 1);
    let broker = cluster.brokers[0].clone();
    assert_eq!(cluster.controller, Some(broker.id));
    assert!(cluster.cluster_id.is_some());
    let broker_configs = a.describe_broker_configs(broker.id).await.expect("broker configs");
    let np = broker_configs.iter().find(|c| c.name == "num.partitions").expect("num.partitions");
    assert_eq!(np.value.as_deref(), Some("1"));

    a.create_partitions("adm", 5).await.expect("grow");
    let d = &a.describe_topics(Some(&["adm".to_string()])).await.expect("describe")[0];
    assert_eq!(d.partitions.len(), 5);
    let err = a.create_partitions("adm", 2).await.expect_err("shrink");
    assert_eq!(err.code(), Some(ResponseError::InvalidPartitions));

    a.delete_topic("adm").await.expect("delete");
    assert_eq!(a.list_topics(false).await.expect("list"), vec!["another".to_string()]);
    let err = a.delete_topic("adm").await.expect_err("delete again");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_codec_round_trips_through_our_producer_and_consumer() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create(&a, &topic, 1).await;
        let p = producer(&b, &[("compression.type", codec), ("linger.ms", "5")]).await;
        let mut deliveries = Vec::new();
        for i in 0..300i64 {
            let mut r = ProducerRecord::new(&topic, format!("value-{i}-{}", "x".repeat((i % 50) as usize)))
                .key(format!("key-{i}"))
                .partition(0)
                .timestamp(1_600_000_000_000 + i)
                .header("h", Bytes::copy_from_slice(&i.to_be_bytes()));
            if i % 7 == 0 {
                r.headers.push(("empty".to_string(), None));
            }
            deliveries.push(p.send(r).await.expect("send"));
        }
        for (i, d) in deliveries.into_iter().enumerate() {
            let m = d.await.expect("delivered");
            assert_eq!((m.partition, m.offset, m.timestamp), (0, i as i64, 1_600_000_000_000 + i as i64));
        }
        p.close().await.expect("close");
        let got = read_partition(&b, &topic, 0, 300).await;
        assert_eq!(got.len(), 300, "codec {codec}");
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            let value = format!("value-{i}-{}", "x".repeat(i % 50));
            assert_eq!(r.value.as_deref(), Some(value.as_bytes()));
            assert_eq!(r.timestamp, 1_600_000_000_000 + i as i64);
            assert_eq!(r.headers[0], ("h".to_string(), Some(Bytes::copy_from_slice(&(i as i64).to_be_bytes()))));
            if i % 7 == 0 {
                assert_eq!(r.headers[1], ("empty".to_string(), None));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_land_on_the_partition_librdkafka_picks() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "keyed-ours", 7).await;
    create(&a, "keyed-rdkafka", 7).await;
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}-{}", "k".repeat(i % 13))).collect();

    let ours = producer(&b, &[("linger.ms", "1")]).await;
    let mut mine = Vec::new();
    for k in &keys {
        mine.push(ours.send(ProducerRecord::new("keyed-ours", "v").key(k.clone())).await.expect("send"));
    }
    let mut our_partitions = Vec::new();
    for d in mine {
        our_partitions.push(d.await.expect("delivered").partition);
    }

    let rd: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("rdkafka producer");
    let mut theirs = Vec::new();
    for k in &keys {
        let delivery = rd
            .send(FutureRecord::to("keyed-rdkafka").key(k.as_str()).payload("v"), Duration::from_secs(5))
            .await
            .map_err(|(e, _)| e)
            .expect("rdkafka delivery");
        theirs.push(delivery.partition);
    }
    assert_eq!(our_partitions, theirs);
    assert!(our_partitions.iter().collect::<BTreeSet<_>>().len() == 7, "keys use every partition");
    for (k, p) in keys.iter().zip(&our_partitions) {
        assert_eq!(gregor::client::partition_for_key(k.as_bytes(), 7), *p);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_producer_writes_each_record_once_and_in_order() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "idem", 2).await;
    // Small batches so that several requests per partition are in flight.
    let p = producer(&b, &[("enable.idempotence", "true"), ("batch.size", "2000"), ("linger.ms", "2")]).await;
    let mut deliveries = Vec::new();
    for i in 0..3000 {
        deliveries.push(p.send(ProducerRecord::new("idem", format!("{i}")).partition(i % 2)).await.expect("send"));
    }
    p.flush().await.expect("flush");
    for d in deliveries {
        d.await.expect("delivered");
    }
    for partition in 0..2 {
        let got = read_partition(&b, "idem", partition, 1500).await;
        let values: Vec<String> =
            got.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect();
        let expected: Vec<String> = (0..3000).filter(|i| i % 2 == partition).map(|i| i.to_string()).collect();
        assert_eq!(values, expected, "partition {partition}");
        let end = a.list_offsets("idem", partition, OffsetSpec::Latest).await.expect("latest");
        assert_eq!(end, 1500, "no duplicates");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_none_leader_and_all() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "acks", 1).await;
    for (acks, expected) in [("0", Acks::None), ("1", Acks::Leader), ("all", Acks::All)] {
        let mut c = ProducerConfig::new(b.bootstrap());
        c.set("acks", acks).expect("acks");
        assert_eq!(c.acks, expected);
        let p = Producer::new(c).await.expect("producer");
        let mut offsets = Vec::new();
        for i in 0..100 {
            let d = p.send(ProducerRecord::new("acks", format!("{acks}-{i}"))).await.expect("send");
            offsets.push(d);
        }
        p.flush().await.expect("flush");
        let mut got = Vec::new();
        for d in offsets {
            got.push(d.await.expect("delivered").offset);
        }
        if expected == Acks::None {
            assert!(got.iter().all(|o| *o == -1), "acks=0 reports no offsets");
        } else {
            assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "consecutive offsets: {got:?}");
        }
        p.close().await.expect("close");
    }
    let got = read_partition(&b, "acks", 0, 300).await;
    assert_eq!(got.len(), 300);
    assert_eq!(got[0].value.as_deref(), Some(&b"0-0"[..]));
    assert_eq!(got[299].value.as_deref(), Some(&b"all-99"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sticky_partitioning_spreads_records_without_keys() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "sticky", 6).await;
    let p = producer(&b, &[("batch.size", "1024"), ("linger.ms", "50")]).await;
    let mut deliveries = Vec::new();
    for _ in 0..600 {
        deliveries.push(p.send(ProducerRecord::new("sticky", vec![b'x'; 100])).await.expect("send"));
    }
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for d in deliveries {
        let m = d.await.expect("delivered");
        per_partition.entry(m.partition).or_default().push(m.offset);
    }
    assert!(per_partition.len() >= 4, "spread over partitions: {:?}", per_partition.keys());
    // Sticky: consecutive records share a batch, so runs of offsets are contiguous.
    let runs: usize = per_partition.values().map(|o| o.len()).sum();
    assert_eq!(runs, 600);
    let mut total = 0;
    for partition in 0..6 {
        total += a.list_offsets("sticky", partition, OffsetSpec::Latest).await.expect("latest");
    }
    assert_eq!(total, 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn seek_to_beginning_end_offset_and_timestamp() {
    let b = TestBroker::start(&["log.index.interval.bytes=64"]);
    let a = admin(&b).await;
    create(&a, "seek", 1).await;
    let p = producer(&b, &[]).await;
    let mut deliveries = Vec::new();
    for i in 0..100i64 {
        deliveries.push(
            p.send(ProducerRecord::new("seek", format!("{i}")).timestamp(1_000_000 + i * 10)).await.expect("send"),
        );
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    assert_eq!(a.list_offsets("seek", 0, OffsetSpec::Earliest).await.expect("earliest"), 0);
    assert_eq!(a.list_offsets("seek", 0, OffsetSpec::Latest).await.expect("latest"), 100);
    assert_eq!(a.list_offsets("seek", 0, OffsetSpec::MaxTimestamp).await.expect("max ts"), 99);
    assert_eq!(a.list_offsets("seek", 0, OffsetSpec::Timestamp(1_000_500)).await.expect("ts"), 50);
    assert_eq!(a.list_offsets("seek", 0, OffsetSpec::Timestamp(9_000_000)).await.expect("ts"), -1);

    let mut c = consumer(&b, &[]).await; // auto.offset.reset=latest
    c.assign(vec![("seek".to_string(), 0)]).await.expect("assign");
    assert_eq!(c.position("seek", 0), None, "resolved lazily");

    c.seek("seek", 0, SeekTo::Beginning).await.expect("seek beginning");
    assert_eq!(c.position("seek", 0), Some(0));
    assert_eq!(read(&mut c, 1).await[0].offset, 0);

    c.seek("seek", 0, SeekTo::Offset(42)).await.expect("seek offset");
    let got = read(&mut c, 58).await;
    assert_eq!(got.first().map(|r| r.offset), Some(42));
    assert_eq!(got.len(), 58);
    assert_eq!(c.position("seek", 0), Some(100));

    c.seek("seek", 0, SeekTo::Timestamp(1_000_505)).await.expect("seek timestamp");
    assert_eq!(c.position("seek", 0), Some(51));
    assert_eq!(read(&mut c, 1).await[0].value.as_deref(), Some(&b"51"[..]));

    c.seek("seek", 0, SeekTo::Timestamp(9_000_000)).await.expect("seek past the end");
    assert_eq!(c.position("seek", 0), Some(100));

    c.seek("seek", 0, SeekTo::End).await.expect("seek end");
    assert_eq!(c.position("seek", 0), Some(100));
    assert!(c.poll(Duration::from_millis(300)).await.expect("poll").is_empty());
    p.send(ProducerRecord::new("seek", "new")).await.expect("send").await.expect("delivered");
    let got = read(&mut c, 1).await;
    assert_eq!((got[0].offset, got[0].value.as_deref()), (100, Some(&b"new"[..])));

    assert!(c.seek("other", 0, SeekTo::Beginning).await.is_err(), "not assigned");
    let err = c.assign(vec![("missing".to_string(), 0)]).await.expect_err("unknown topic");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition));
    let err = c.partitions_for("missing").await.expect_err("unknown topic");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition));
    assert_eq!(c.partitions_for("seek").await.expect("partitions"), vec![0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn offset_out_of_range_follows_auto_offset_reset() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "oor", 1).await;
    let p = producer(&b, &[]).await;
    let mut deliveries = Vec::new();
    for i in 0..10 {
        deliveries.push(p.send(ProducerRecord::new("oor", format!("{i}"))).await.expect("send"));
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    let tp = vec![("oor".to_string(), 0)];

    let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
    c.assign(tp.clone()).await.expect("assign");
    c.seek("oor", 0, SeekTo::Offset(1000)).await.expect("seek");
    let got = read(&mut c, 10).await;
    assert_eq!(got.first().map(|r| r.offset), Some(0), "reset to earliest");
    assert_eq!(got.len(), 10);

    let mut c = consumer(&b, &[("auto.offset.reset", "latest")]).await;
    c.assign(tp.clone()).await.expect("assign");
    c.seek("oor", 0, SeekTo::Offset(1000)).await.expect("seek");
    let deadline = Instant::now() + WAIT;
    while c.position("oor", 0) != Some(10) && Instant::now() < deadline {
        assert!(c.poll(Duration::from_millis(200)).await.expect("poll").is_empty(), "nothing after latest");
    }
    assert_eq!(c.position("oor", 0), Some(10), "reset to latest");

    let mut c = consumer(&b, &[("auto.offset.reset", "none")]).await;
    c.assign(tp.clone()).await.expect("assign");
    let err = c.poll(Duration::from_millis(200)).await.expect_err("no position");
    assert!(matches!(err, ClientError::NoOffset { .. }), "{err}");
    c.seek("oor", 0, SeekTo::Offset(1000)).await.expect("seek");
    let deadline = Instant::now() + WAIT;
    let err = loop {
        match c.poll(Duration::from_millis(500)).await {
            Err(e) => break e,
            Ok(r) => assert!(r.is_empty() && Instant::now() < deadline, "expected an error"),
        }
    };
    assert_eq!(err.code(), Some(ResponseError::OffsetOutOfRange), "{err}");
    c.seek("oor", 0, SeekTo::Offset(5)).await.expect("seek");
    assert_eq!(read(&mut c, 5).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_survives_a_broker_restart() {
    let mut b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "restart", 2).await;
    drop(a);
    let p = producer(&b, &[("linger.ms", "2"), ("retry.backoff.ms", "50"), ("delivery.timeout.ms", "30000")]).await;
    let mut deliveries = Vec::new();
    for i in 0..200 {
        deliveries.push((i, p.send(ProducerRecord::new("restart", format!("{i}"))).await.expect("send")));
    }
    p.flush().await.expect("flush");

    tokio::task::block_in_place(|| b.kill());
    // Keep sending while the broker is down; these wait and retry.
    let sender = {
        let p = p.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 200..600 {
                out.push((i, p.send(ProducerRecord::new("restart", format!("{i}"))).await.expect("send")));
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            out
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| b.restart());
    deliveries.extend(sender.await.expect("sender task"));
    let mut acknowledged = BTreeSet::new();
    for (i, d) in deliveries {
        let m = d.await.expect("delivered despite the restart");
        assert!(m.offset >= 0);
        acknowledged.insert(i.to_string());
    }
    assert_eq!(acknowledged.len(), 600);
    p.close().await.expect("close");

    let mut seen = BTreeSet::new();
    for partition in 0..2 {
        let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
        c.assign(vec![("restart".to_string(), partition)]).await.expect("assign");
        let end = admin(&b).await.list_offsets("restart", partition, OffsetSpec::Latest).await.expect("end");
        let got = read(&mut c, usize::try_from(end).expect("end")).await;
        seen.extend(
            got.into_iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()),
        );
    }
    let missing: Vec<_> = acknowledged.difference(&seen).collect();
    assert!(missing.is_empty(), "acknowledged but not readable: {missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_poll_returns_as_soon_as_data_arrives() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    create(&a, "longpoll", 1).await;
    let mut c = consumer(&b, &[("fetch.max.wait.ms", "10000")]).await;
    c.assign(vec![("longpoll".to_string(), 0)]).await.expect("assign");
    c.seek("longpoll", 0, SeekTo::End).await.expect("seek end");
    // Start the long poll (the fetch parks at the broker), then produce.
    let p = producer(&b, &[("linger.ms", "0")]).await;
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let d = p.send(ProducerRecord::new("longpoll", "ping")).await.expect("send");
        d.await.expect("delivered");
        Instant::now()
    });
    let got = c.poll(Duration::from_secs(15)).await.expect("poll");
    let received = Instant::now();
    let sent = writer.await.expect("writer");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_deref(), Some(&b"ping"[..]));
    let lag = received.saturating_duration_since(sent);
    assert!(lag < Duration::from_secs(2), "poll returned {lag:?} after the record was acknowledged");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_topics_and_oversized_records_are_errors() {
    let b = TestBroker::start(&["auto.create.topics.enable=false", "message.max.bytes=10000"]);
    let a = admin(&b).await;
    create(&a, "small", 1).await;
    let p = producer(&b, &[("max.block.ms", "5000")]).await;
    let err = p.send(ProducerRecord::new("does-not-exist", "x")).await.expect_err("unknown topic");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition), "{err}");
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let err = p.send(ProducerRecord::new("small", "x").partition(3)).await.expect_err("unknown partition");
    assert_eq!(err.code(), Some(ResponseError::UnknownTopicOrPartition), "{err}");

    // Larger than the broker accepts: a per-record error with the broker's message.
    // The broker already knows this idempotent producer, so the records queued
    // behind the refused one are first rejected as out of sequence; the producer
    // then bumps its epoch, renumbers them and they are written once, in order.
    let first = p.send(ProducerRecord::new("small", "first").partition(0)).await.expect("enqueue");
    assert_eq!(first.await.expect("delivered").offset, 0);
    let big = p.send(ProducerRecord::new("small", vec![b'x'; 50_000]).partition(0)).await.expect("enqueue");
    let mut after = Vec::new();
    for i in 0..5 {
        after.push(p.send(ProducerRecord::new("small", format!("after-{i}")).partition(0)).await.expect("enqueue"));
    }
    let err = big.await.expect_err("too large");
    assert_eq!(err.code(), Some(ResponseError::MessageTooLarge), "{err}");
    assert!(err.to_string().contains("larger than the max message size"), "{err}");
    for (i, d) in after.into_iter().enumerate() {
        assert_eq!(d.await.expect("small record still delivered").offset, i as i64 + 1);
    }
    let got = read_partition(&b, "small", 0, 6).await;
    let values: Vec<_> = got.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())).collect();
    assert_eq!(values, ["first", "after-0", "after-1", "after-2", "after-3", "after-4"]);
    // Larger than max.request.size: refused before sending.
    let err = p.send(ProducerRecord::new("small", vec![b'x'; 2_000_000])).await.expect_err("client-side limit");
    assert!(err.to_string().contains("max.request.size"), "{err}");
    // A closed producer refuses records on every handle.
    let other = p.clone();
    p.close().await.expect("close");
    let err = other.send(ProducerRecord::new("small", "late")).await.expect_err("closed");
    assert!(matches!(err, ClientError::Closed(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_auto_creates_topics_when_the_broker_allows() {
    let b = TestBroker::start(&["num.partitions=3"]);
    let p = producer(&b, &[]).await;
    let m = p.send(ProducerRecord::new("auto-made", "hello")).await.expect("send").await.expect("delivered");
    assert_eq!(m.topic, "auto-made");
    let d = admin(&b).await.describe_topics(Some(&["auto-made".to_string()])).await.expect("describe");
    assert_eq!(d[0].partitions.len(), 3);
    let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
    c.assign(vec![("auto-made".to_string(), m.partition)]).await.expect("assign");
    assert_eq!(read(&mut c, 1).await[0].value.as_deref(), Some(&b"hello"[..]));
}

/// Throughput on loopback; run with
/// `cargo test --release --test integration client::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run explicitly in release mode"]
async fn throughput() {
    let b = TestBroker::start(&[]);
    let a = admin(&b).await;
    // (name, records, record size, producer properties)
    type Case<'a> = (&'a str, usize, usize, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        ("100 B, acks=1, defaults", 1_000_000, 100, &[("acks", "1")]),
        ("100 B, acks=all, batch 256 KiB", 1_000_000, 100, &[("batch.size", "262144")]),
        ("1 KiB, acks=all, defaults", 300_000, 1024, &[]),
        ("1 KiB, acks=1, batch 256 KiB", 300_000, 1024, &[("acks", "1"), ("batch.size", "262144")]),
        (
            "1 KiB, acks=all, batch 256 KiB, lz4",
            300_000,
            1024,
            &[("batch.size", "262144"), ("compression.type", "lz4")],
        ),
    ];
    for (i, (name, count, size, props)) in cases.into_iter().enumerate() {
        let topic = format!("perf-{i}");
        create(&a, &topic, 1).await;
        let p = producer(&b, props).await;
        let payload = Bytes::from(vec![b'x'; size]);
        let start = Instant::now();
        let mut last = None;
        for _ in 0..count {
            last = Some(p.send(ProducerRecord::new(&topic, payload.clone()).partition(0)).await.expect("send"));
        }
        p.flush().await.expect("flush");
        if let Some(d) = last {
            d.await.expect("delivered");
        }
        let secs = start.elapsed().as_secs_f64();
        let mb = (count * size) as f64 / 1e6;
        println!("produce {name}: {:.0} records/s, {:.1} MB/s", count as f64 / secs, mb / secs);
        p.close().await.expect("close");

        let mut c = consumer(&b, &[("auto.offset.reset", "earliest")]).await;
        c.assign(vec![(topic.clone(), 0)]).await.expect("assign");
        let start = Instant::now();
        let mut n = 0;
        while n < count {
            n += c.poll(Duration::from_secs(5)).await.expect("poll").len();
        }
        let secs = start.elapsed().as_secs_f64();
        println!("consume {name}: {:.0} records/s, {:.1} MB/s", count as f64 / secs, mb / secs);
    }
}

/// With `fetch.max.wait.ms=0` every fetch comes back at once, often empty:
/// one record at a time, each produced only after the last one was read, is
/// still read by the next poll (an empty answer drained at the start of a
/// poll used to leave no fetch in flight, so the poll waited out its timeout).
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_never_waits_on_the_broker_keeps_fetching() {
    let b = TestBroker::start(&[]);
    let admin = admin(&b).await;
    create(&admin, "no-wait", 1).await;
    let producer = producer(&b, &[("linger.ms", "0")]).await;
    let mut consumer = consumer(&b, &[("fetch.max.wait.ms", "0")]).await;
    consumer.assign(vec![("no-wait".to_string(), 0)]).await.expect("assign");
    consumer.seek("no-wait", 0, SeekTo::End).await.expect("seek");
    for i in 0..20 {
        let value = format!("v{i}");
        producer
            .send(ProducerRecord::new("no-wait", value.clone()))
            .await
            .expect("enqueue")
            .await
            .expect("acknowledged");
        // One poll with a long timeout: the record must be in its answer.
        let records = consumer.poll(Duration::from_secs(30)).await.expect("poll");
        let values: Vec<_> = records.iter().map(|r| r.value.clone()).collect();
        assert_eq!(values, vec![Some(Bytes::from(value))], "record {i}");
    }
}
