//! Replication and failover: three real brokers on one `gregor zookeeper-start`,
//! clients through rdkafka (and raw requests where an exact error code
//! matters). Each replica's log is checked on disk (its segment files decoded),
//! so followers are verified without asking them to serve reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::wire::Wire;
use crate::common::zk::TestZk;
use crate::common::TestBroker;

const TOPIC: &str = "my-replicated-topic";
const TIMEOUT: Duration = Duration::from_secs(40);

fn start_broker(connect: &str, id: i32, session_timeout_ms: u32, lag_ms: u32) -> TestBroker {
    let overrides = [
        format!("zookeeper.connect={connect}"),
        format!("broker.id={id}"),
        format!("zookeeper.session.timeout.ms={session_timeout_ms}"),
        format!("replica.lag.time.max.ms={lag_ms}"),
        "replica.fetch.wait.max.ms=200".to_string(),
        "replica.fetch.backoff.ms=100".to_string(),
        "replica.high.watermark.checkpoint.interval.ms=200".to_string(),
    ];
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn cluster(zk: &TestZk) -> Vec<TestBroker> {
    (0..3).map(|id| start_broker(&zk.connect(""), id, 2000, 2000)).collect()
}

/// Polls a condition every 100 ms, panicking after `TIMEOUT`.
fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metadata(b: &TestBroker) -> MetadataResponse {
    let mut w = Wire::connect(b.addr);
    w.call(ApiKey::Metadata, 4, &MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false))
}

/// (leader, isr sorted) of partition 0 as `b` reports it.
fn leader_and_isr(b: &TestBroker) -> Option<(i32, Vec<i32>)> {
    let md = metadata(b);
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(TOPIC))?;
    let p = t.partitions.first()?;
    let mut isr: Vec<i32> = p.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort();
    Some((p.leader_id.0, isr))
}

fn leader_epoch(b: &TestBroker) -> i32 {
    let req = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
    let md: MetadataResponse = Wire::connect(b.addr).call(ApiKey::Metadata, 9, &req);
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(TOPIC)).expect("topic");
    t.partitions[0].leader_epoch
}

/// OffsetForLeaderEpoch v4 for partition 0: (epoch, end offset).
fn end_offset_for(b: &TestBroker, epoch: i32) -> (i32, i64) {
    let (code, epoch, end) = offset_for_leader_epoch(b, epoch);
    assert_eq!(code, 0);
    (epoch, end)
}

/// Waits until the leader others report acts as leader itself.
fn wait_for_leader(brokers: &[TestBroker]) {
    wait("the leader to lead", || {
        let Some(observer) = brokers.iter().find(|b| b.child.is_some()) else { return false };
        let Some((leader, _)) = leader_and_isr(observer) else { return false };
        leader >= 0 && offset_for_leader_epoch(&brokers[leader as usize], 0).0 == 0
    });
}

fn offset_for_leader_epoch(b: &TestBroker, epoch: i32) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(TOPIC.into())))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_leader_epoch(epoch)])]);
    let resp: OffsetForLeaderEpochResponse = Wire::connect(b.addr).call(ApiKey::OffsetForLeaderEpoch, 4, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

fn create_topic(b: &TestBroker, configs: &[(&str, &str)]) {
    let mut w = Wire::connect(b.addr);
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default().with_timeout_ms(20_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(TOPIC.into())))
        .with_num_partitions(1)
        .with_replication_factor(3)
        .with_configs(configs)]);
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 4, &req);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);
}

fn bootstrap(brokers: &[TestBroker]) -> String {
    brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",")
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "6000")
        .set("request.timeout.ms", "5000")
        .set("message.send.max.retries", "0")
        .set("enable.idempotence", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("producer")
}

/// Sends one record with acks=all; whether it was acknowledged.
async fn send(p: &FutureProducer, value: &str) -> bool {
    p.send(FutureRecord::<(), _>::to(TOPIC).partition(0).payload(value), Duration::from_secs(6)).await.is_ok()
}

/// The values in a replica's log for partition 0, read from its segment files.
fn replica_values(b: &TestBroker) -> Vec<String> {
    let dir = b.log_dir().join(format!("{TOPIC}-0"));
    read_segments(&dir)
}

fn read_segments(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut segments: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let mut by_offset = BTreeMap::new();
    for seg in segments {
        let Ok(data) = std::fs::read(&seg) else { continue };
        let mut buf = Bytes::from(data);
        // Stop at a torn or zero-filled tail (the file may be written right now).
        while buf.len() >= 61 {
            let len = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            let Ok(len) = usize::try_from(len) else { break };
            if len == 0 || buf.len() < 12 + len {
                break;
            }
            let mut one = buf.split_to(12 + len);
            let Ok(set) = RecordBatchDecoder::decode(&mut one) else { break };
            for r in set.records {
                let v = r.value.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default();
                by_offset.insert(r.offset, v);
            }
        }
    }
    by_offset.into_values().collect()
}

fn consume_all(bootstrap: &str, count: usize) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "replication-tests")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while out.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

fn live(brokers: &[TestBroker], dead: i32) -> Vec<&TestBroker> {
    brokers.iter().enumerate().filter(|(i, _)| *i as i32 != dead).map(|(_, b)| b).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_fail_over_and_the_old_leader_rejoins() {
    let zk = TestZk::start();
    let mut brokers = cluster(&zk);
    create_topic(&brokers[0], &[]);
    wait("all three in the ISR", || leader_and_isr(&brokers[1]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2]));
    wait_for_leader(&brokers);

    let p = producer(&bootstrap(&brokers));
    let first: Vec<String> = (0..10).map(|i| format!("my test message {i}")).collect();
    for v in &first {
        assert!(send(&p, v).await, "acks=all send of {v}");
    }
    for b in &brokers {
        wait("every replica holds the records", || replica_values(b) == first);
    }
    for b in &brokers {
        assert_eq!(leader_and_isr(b).map(|(_, isr)| isr), Some(vec![0, 1, 2]));
    }

    // kill -9 the leader: another one takes over, the ISR shrinks to the live two.
    let (old, _) = leader_and_isr(&brokers[0]).expect("state");
    brokers[old as usize].kill();
    let others = live(&brokers, old);
    let expected_isr: Vec<i32> = (0..3).filter(|i| *i != old).collect();
    wait("failover", || leader_and_isr(others[0]).is_some_and(|(l, isr)| l >= 0 && l != old && isr == expected_isr));
    wait_for_leader(&brokers);
    // The new leader reports its epoch and answers OffsetForLeaderEpoch from its epoch cache.
    let (new_leader, _) = leader_and_isr(others[0]).expect("state");
    let leader_broker = &brokers[new_leader as usize];
    let epoch = leader_epoch(leader_broker);
    assert!(epoch >= 1, "a failover bumps the leader epoch ({epoch})");
    assert_eq!(end_offset_for(leader_broker, epoch), (epoch, 10));
    assert_eq!(end_offset_for(leader_broker, 0), (0, 10), "epoch 0 ended where the new leader took over");
    let live_bootstrap = others.iter().map(|b| b.bootstrap()).collect::<Vec<_>>().join(",");
    assert_eq!(consume_all(&live_bootstrap, first.len()), first, "every acknowledged record survives");

    let p = producer(&live_bootstrap);
    let mut all = first.clone();
    for i in 10..15 {
        let v = format!("my test message {i}");
        assert!(send(&p, &v).await, "acks=all send with two in sync");
        all.push(v);
    }

    // The old leader comes back: it truncates, catches up and rejoins the ISR.
    brokers[old as usize].restart();
    wait("the old leader rejoins the ISR", || {
        leader_and_isr(&brokers[old as usize]).is_some_and(|(_, isr)| isr == [0, 1, 2])
    });
    for b in &brokers {
        wait("every replica holds every record", || replica_values(b) == all);
    }
    assert_eq!(consume_all(&bootstrap(&brokers), all.len()), all);
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_records_survive_repeated_leader_kills() {
    let zk = TestZk::start();
    let mut brokers = cluster(&zk);
    create_topic(&brokers[0], &[("min.insync.replicas", "2")]);
    wait("all three in the ISR", || leader_and_isr(&brokers[0]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2]));
    wait_for_leader(&brokers);
    let p = producer(&bootstrap(&brokers));
    let mut acked: Vec<String> = Vec::new();
    let mut n = 0;
    for round in 0..3 {
        // Some records with everyone in sync.
        for _ in 0..15 {
            let v = format!("r{round}-{n}");
            n += 1;
            if send(&p, &v).await {
                acked.push(v);
            }
        }
        let live_one = brokers.iter().find(|b| b.child.is_some()).expect("a live broker");
        let (old, _) = leader_and_isr(live_one).expect("state");
        assert!(old >= 0, "a leader in round {round}");
        brokers[old as usize].kill();
        // Keep producing through the failover (some sends fail; those are not counted).
        let observer = live(&brokers, old)[0].addr;
        let failed_over = || {
            let b = brokers.iter().find(|b| b.addr == observer).expect("observer");
            leader_and_isr(b).is_some_and(|(l, _)| l >= 0 && l != old)
        };
        let deadline = Instant::now() + TIMEOUT;
        let mut after = 0;
        while after < 10 {
            assert!(Instant::now() < deadline, "no failover in round {round}");
            if failed_over() {
                after += 1;
            }
            let v = format!("r{round}-{n}");
            n += 1;
            if send(&p, &v).await {
                acked.push(v);
            }
        }
        brokers[old as usize].restart();
        wait("the restarted broker rejoins the ISR", || {
            leader_and_isr(&brokers[old as usize]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2])
        });
    }
    // One more acknowledged write: every ISR member has everything before it.
    let v = format!("final-{n}");
    assert!(send(&p, &v).await, "acks=all with the full ISR");
    acked.push(v);
    assert!(acked.len() >= 60, "most sends succeed ({} of {n})", acked.len());

    let reference = replica_values(&brokers[0]);
    for b in &brokers {
        wait("replicas agree", || replica_values(b) == reference);
    }
    for b in &brokers {
        let log = replica_values(b);
        let mut last = None;
        for v in &acked {
            let positions: Vec<usize> = log.iter().enumerate().filter(|(_, x)| *x == v).map(|(i, _)| i).collect();
            assert_eq!(positions.len(), 1, "acknowledged {v} exactly once on every replica");
            assert!(last < Some(positions[0]), "acknowledged records in order ({v})");
            last = Some(positions[0]);
        }
    }
}

/// A Produce v7 with one record and acks=all, sent to `b`; the partition's error code.
fn raw_produce_acks_all(b: &TestBroker, value: &str) -> i16 {
    raw_produce(b, value, -1)
}

fn raw_produce(b: &TestBroker, value: &str, acks: i16) -> i16 {
    let record = gregor::protocol::batch::new_record(None, Some(Bytes::from(value.to_string())), Vec::new(), 0);
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("encode");
    let req = ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(TOPIC.into())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(buf.freeze()))]),
    ]);
    let resp: ProduceResponse = Wire::connect(b.addr).call(ApiKey::Produce, 7, &req);
    resp.responses[0].partition_responses[0].error_code
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_all_is_refused_without_enough_in_sync_replicas() {
    let zk = TestZk::start();
    let mut brokers = cluster(&zk);
    create_topic(&brokers[0], &[("min.insync.replicas", "3")]);
    wait("all three in the ISR", || leader_and_isr(&brokers[0]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2]));
    let (leader, _) = leader_and_isr(&brokers[0]).expect("state");
    // The leader may learn of its leadership a moment after others report it.
    wait("acks=all with three in sync", || raw_produce_acks_all(&brokers[leader as usize], "with three") == 0);
    // One follower down: the ISR has two, below min.insync.replicas=3.
    let follower = (0..3).find(|i| *i != leader).expect("a follower");
    brokers[follower as usize].kill();
    wait("the ISR shrinks", || leader_and_isr(&brokers[leader as usize]).is_some_and(|(_, isr)| isr.len() == 2));
    let before = replica_values(&brokers[leader as usize]).len();
    assert_eq!(raw_produce_acks_all(&brokers[leader as usize], "with two"), 19, "NOT_ENOUGH_REPLICAS");
    assert_eq!(replica_values(&brokers[leader as usize]).len(), before, "nothing written");
}

fn signal(b: &TestBroker, sig: &str) {
    let pid = b.pid().expect("running");
    let ok = std::process::Command::new("kill").arg(sig).arg(pid.to_string()).status().expect("kill").success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_returning_leader_discards_its_uncommitted_tail() {
    let zk = TestZk::start();
    // Sessions and lag time long enough to outlast the followers' freeze.
    let mut brokers: Vec<TestBroker> = (0..3).map(|id| start_broker(&zk.connect(""), id, 6000, 10_000)).collect();
    create_topic(&brokers[0], &[]);
    wait("all three in the ISR", || leader_and_isr(&brokers[0]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2]));
    wait_for_leader(&brokers);
    let (old, _) = leader_and_isr(&brokers[0]).expect("state");
    let mut expected: Vec<String> = Vec::new();
    for i in 0..5 {
        let v = format!("committed {i}");
        wait("acks=all", || raw_produce_acks_all(&brokers[old as usize], &v) == 0);
        expected.push(v);
    }
    // Followers frozen: the leader takes three acks=1 records nobody else gets, then dies.
    let followers: Vec<usize> = (0..3).filter(|i| *i != old as usize).collect();
    for f in &followers {
        signal(&brokers[*f], "-STOP");
    }
    for i in 0..3 {
        assert_eq!(raw_produce(&brokers[old as usize], &format!("uncommitted {i}"), 1), 0);
    }
    brokers[old as usize].kill();
    for f in &followers {
        signal(&brokers[*f], "-CONT");
    }
    wait("failover", || leader_and_isr(&brokers[followers[0]]).is_some_and(|(l, _)| l >= 0 && l != old));
    wait_for_leader(&brokers);
    let (new_leader, _) = leader_and_isr(&brokers[followers[0]]).expect("state");
    for i in 0..2 {
        let v = format!("after {i}");
        wait("acks=all on the new leader", || raw_produce_acks_all(&brokers[new_leader as usize], &v) == 0);
        expected.push(v);
    }
    brokers[old as usize].restart();
    wait("the old leader rejoins the ISR", || {
        leader_and_isr(&brokers[old as usize]).is_some_and(|(_, isr)| isr == [0, 1, 2])
    });
    // The frozen followers may still have read the tail from a fetch answered just before
    // the freeze; whatever the new leader has is the truth, and the returning leader ends
    // up with exactly that (its own tail, where it diverged, is gone).
    let reference = replica_values(&brokers[new_leader as usize]);
    let mut rest = reference.iter();
    for v in &expected {
        assert!(rest.any(|x| x == v), "{v} in order in {reference:?}");
    }
    for b in &brokers {
        wait("every replica equals the new leader", || replica_values(b) == reference);
    }
}

/// A follower that was down while its leader compacted the log fetches
/// across the offsets the leader no longer has, catches up and rejoins the ISR.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_catches_up_across_offsets_its_compacted_leader_removed() {
    let zk = TestZk::start();
    let mut brokers: Vec<TestBroker> = (0..3)
        .map(|id| {
            let overrides = [
                format!("zookeeper.connect={}", zk.connect("")),
                format!("broker.id={id}"),
                "zookeeper.session.timeout.ms=2000".to_string(),
                "replica.lag.time.max.ms=2000".to_string(),
                "replica.fetch.wait.max.ms=200".to_string(),
                "log.cleaner.backoff.ms=200".to_string(),
            ];
            let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
            TestBroker::start(&refs)
        })
        .collect();
    create_topic(&brokers[0], &[("cleanup.policy", "compact"), ("segment.bytes", "1024")]);
    wait("all three in the ISR", || leader_and_isr(&brokers[1]).is_some_and(|(l, isr)| l >= 0 && isr == [0, 1, 2]));
    wait_for_leader(&brokers);
    let (leader, _) = leader_and_isr(&brokers[0]).expect("state");
    let follower = (0..3).find(|b| *b != leader).expect("a follower") as usize;
    brokers[follower].kill();

    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(&brokers))
        .set("acks", "1")
        .set("linger.ms", "0")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("producer");
    for i in 0..300 {
        let (key, value) = (format!("k{}", i % 10), format!("v{i}"));
        let record = FutureRecord::to(TOPIC).partition(0).key(&key).payload(&value);
        p.send(record, Duration::from_secs(10)).await.expect("acks=1 send");
    }
    let leader_broker = &brokers[leader as usize];
    wait("the leader's log to be compacted", || replica_values(leader_broker).len() < 150);

    // Its session must end before it can register again.
    wait("the killed follower's registration to go", || {
        !metadata(leader_broker).brokers.iter().any(|b| b.node_id.0 == follower as i32)
    });
    wait("the ISR without the killed follower", || {
        leader_and_isr(leader_broker).is_some_and(|(_, isr)| !isr.contains(&(follower as i32)))
    });
    brokers[follower].restart();
    wait("the follower back in the ISR", || {
        leader_and_isr(&brokers[leader as usize]).is_some_and(|(_, isr)| isr.contains(&(follower as i32)))
    });
    // Its log ends where the leader's does and holds the latest value of every key.
    let values = replica_values(&brokers[follower]);
    for k in 0..10 {
        let last = (0..300).rev().find(|i| i % 10 == k).expect("last");
        assert!(values.contains(&format!("v{last}")), "the follower lacks v{last}: {values:?}");
    }
}
