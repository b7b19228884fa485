//! Controlled shutdown: three real brokers on one `gregor zookeeper-start`.
//! A broker stopped with SIGTERM first hands its leaderships to in-sync
//! followers through the controller (ControlledShutdown), so the partition
//! state znodes show the new leaders — written before the broker's
//! registration went away — while an acks=all producer keeps going. With
//! `controlled.shutdown.enable=false` leadership moves only after the
//! registration is gone. The API itself is checked with raw frames.
//!
//! "Before the registration went away" is read from ZooKeeper itself: a
//! state znode's mzxid against the pzxid of `/brokers/ids` (the zxid of its
//! last child deletion), so nothing here depends on timing.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::common::producing::Producing;
use crate::common::wire::Wire;
use crate::common::zk::{wait_for, TestZk};
use crate::common::TestBroker;

const TOPIC: &str = "handover";
const TIMEOUT: Duration = Duration::from_secs(60);
/// Six partitions, each broker the preferred leader of two.
const ASSIGNMENT: [[i32; 3]; 6] = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [1, 0, 2], [2, 1, 0]];

fn start_broker(connect: &str, id: i32, extra: &[&str]) -> TestBroker {
    let mut overrides = vec![
        format!("zookeeper.connect={connect}"),
        format!("broker.id={id}"),
        "zookeeper.session.timeout.ms=6000".to_string(),
        // ISR changes come from the controller here, not from lagging followers.
        "replica.lag.time.max.ms=20000".to_string(),
        "replica.fetch.wait.max.ms=200".to_string(),
        "replica.fetch.backoff.ms=100".to_string(),
        "auto.leader.rebalance.enable=false".to_string(),
        "controlled.shutdown.retry.backoff.ms=500".to_string(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_for(TIMEOUT, cond), "timed out waiting for {what}");
}

// ---- ZooKeeper, read directly ----

/// A ZooKeeper client of its own, driven by a private runtime.
struct Zk {
    rt: tokio::runtime::Runtime,
    client: zookeeper_client::Client,
}

/// A partition state znode: leader, epoch, ISR and the zxid of its last change.
#[derive(Debug, Clone, PartialEq)]
struct State {
    leader: i32,
    epoch: i64,
    isr: Vec<i32>,
    mzxid: i64,
}

impl Zk {
    fn connect(zk: &TestZk) -> Zk {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let connect = zk.connect("");
        let client = rt
            .block_on(
                zookeeper_client::Client::connector().with_session_timeout(Duration::from_secs(20)).connect(&connect),
            )
            .expect("connect to ZooKeeper");
        Zk { rt, client }
    }

    fn state(&self, partition: usize) -> Option<State> {
        let path = format!("/brokers/topics/{TOPIC}/partitions/{partition}/state");
        let (data, stat) = match self.rt.block_on(self.client.get_data(&path)) {
            Ok(found) => found,
            Err(zookeeper_client::Error::NoNode) => return None,
            Err(e) => panic!("get {path}: {e}"),
        };
        let v: Value = serde_json::from_slice(&data).expect("state JSON");
        let num = |key: &str| v[key].as_i64().unwrap_or_else(|| panic!("{path}: no {key} in {v}"));
        let isr = v["isr"].as_array().expect("isr").iter().map(|b| b.as_i64().expect("isr id") as i32).collect();
        Some(State { leader: num("leader") as i32, epoch: num("leader_epoch"), isr, mzxid: stat.mzxid })
    }

    fn states(&self) -> Vec<State> {
        (0..ASSIGNMENT.len()).map(|p| self.state(p).expect("partition state")).collect()
    }

    /// The zxid of the last registration created or removed under `/brokers/ids`.
    fn registrations_pzxid(&self) -> i64 {
        let (_, stat) = self.rt.block_on(self.client.get_data("/brokers/ids")).expect("/brokers/ids");
        stat.pzxid
    }

    fn registered(&self, id: i32) -> bool {
        let path = format!("/brokers/ids/{id}");
        self.rt.block_on(self.client.check_stat(&path)).expect("check registration").is_some()
    }

    fn controller(&self) -> Option<i32> {
        match self.rt.block_on(self.client.get_data("/controller")) {
            Ok((data, _)) => serde_json::from_slice::<Value>(&data).ok()?["brokerid"].as_i64().map(|id| id as i32),
            Err(_) => None,
        }
    }
}

/// A cluster of three with the topic created and every partition led by its
/// preferred replica with a full ISR.
fn cluster(zk: &TestZk, extra: &[&[&str]; 3]) -> Vec<TestBroker> {
    let brokers: Vec<TestBroker> = (0..3).map(|id| start_broker(&zk.connect(""), id, extra[id as usize])).collect();
    let assignment: Vec<String> =
        ASSIGNMENT.iter().map(|r| r.iter().map(i32::to_string).collect::<Vec<_>>().join(":")).collect();
    let out = std::process::Command::new(crate::common::gregor_bin())
        .args(["topics", "--bootstrap-server", &brokers[0].bootstrap(), "--create", "--topic", TOPIC])
        .args(["--replica-assignment", &assignment.join(",")])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run gregor topics");
    assert!(out.status.success(), "create: {}", String::from_utf8_lossy(&out.stderr));
    let z = Zk::connect(zk);
    wait("every partition led by its preferred replica with a full ISR", || {
        (0..ASSIGNMENT.len()).all(|p| z.state(p).is_some_and(|s| s.leader == ASSIGNMENT[p][0] && s.isr.len() == 3))
    });
    brokers
}

/// The controller id as `b` reports it (Metadata).
fn controller_of(b: &TestBroker) -> i32 {
    let req = MetadataRequest::default().with_topics(Some(Vec::new())).with_allow_auto_topic_creation(false);
    let md: MetadataResponse = Wire::connect(b.addr).call(ApiKey::Metadata, 4, &req);
    md.controller_id.0
}

/// Asserts that every partition `gone` led (in `before`) is led by another
/// broker now, with a higher leader epoch; that `gone` left every ISR; and
/// that all these state writes came before its registration was removed.
fn assert_handed_over(z: &Zk, gone: i32, before: &[State]) {
    let deregistered = z.registrations_pzxid();
    let now = z.states();
    for (p, (old, new)) in before.iter().zip(&now).enumerate() {
        if !old.isr.contains(&gone) {
            continue;
        }
        assert!(!new.isr.contains(&gone), "partition {p}: {gone} still in the ISR: {new:?}");
        assert!(new.leader >= 0 && new.leader != gone, "partition {p}: no new leader: {new:?}");
        assert!(new.epoch > old.epoch, "partition {p}: leader epoch not bumped: {old:?} -> {new:?}");
        assert!(
            new.mzxid < deregistered,
            "partition {p}: state {new:?} written after broker {gone} left (pzxid {deregistered})"
        );
    }
}

/// Sends records with acks=all one after another until stopped; records
/// acknowledged values and counts failures.
fn start_producing(bootstrap: String) -> Producing {
    Producing::start(move |out| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("message.timeout.ms", "60000")
            .set("retry.backoff.ms", "100")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .expect("producer");
        let mut i = 0usize;
        while !out.stopped() {
            let value = format!("v{i}");
            let partition = (i % ASSIGNMENT.len()) as i32;
            let record = FutureRecord::<(), _>::to(TOPIC).partition(partition).payload(&value);
            match rt.block_on(producer.send(record, Duration::from_secs(60))) {
                Ok(_) => out.acked(value),
                Err((e, _)) => out.failed(format!("{value}: {e}")),
            }
            i += 1;
        }
    })
}

/// The values of the topic, read from the beginning through `bootstrap`
/// until all of `expected` were seen (or the time is up). Retried sends may
/// have written some twice.
fn consume_all(bootstrap: &str, expected: &[String]) -> std::collections::BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "controlled-shutdown-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..ASSIGNMENT.len() {
        tpl.add_partition_offset(TOPIC, p as i32, Offset::Beginning).expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut values = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !expected.iter().all(|v| values.contains(v)) && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            values.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    values
}

#[test]
fn sigterm_hands_leaderships_over_before_the_broker_leaves() {
    let zk = TestZk::start();
    let mut brokers = cluster(&zk, &[&[], &[], &[]]);
    let z = Zk::connect(&zk);
    let controller = controller_of(&brokers[0]);
    assert!((0..3).contains(&controller), "controller {controller}");
    // First a broker that is not the controller (the request goes over the
    // network), then the controller itself, then the last one standing.
    let first = (0..3).find(|id| *id != controller).expect("a non-controller");
    let last = (0..3).find(|id| *id != controller && *id != first).expect("a third broker");
    let bootstrap = brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");

    let producing = start_producing(bootstrap.clone());
    producing.wait_for_more(30, TIMEOUT);
    let before = z.states();
    assert!(before.iter().any(|s| s.leader == first), "broker {first} leads nothing: {before:?}");
    assert_eq!(brokers[first as usize].terminate(), Some(0), "{}", brokers[first as usize].log_text());
    assert!(!z.registered(first));
    assert_handed_over(&z, first, &before);
    producing.wait_for_more(30, TIMEOUT);
    let (acked, failures) = producing.finish();
    assert!(failures.is_empty(), "acks=all sends failed during the handover: {failures:?}");

    let log = brokers[first as usize].log_text();
    assert!(log.contains("controlled shutdown succeeded"), "{log}");
    let controller_log = brokers[controller as usize].log_text();
    assert!(controller_log.contains("controlled shutdown requested"), "{controller_log}");

    // Nothing acknowledged was lost in the move.
    let survivors = format!("{},{}", brokers[controller as usize].bootstrap(), brokers[last as usize].bootstrap());
    let values = consume_all(&survivors, &acked);
    let missing: Vec<&String> = acked.iter().filter(|v| !values.contains(*v)).collect();
    assert!(missing.is_empty(), "acknowledged but not readable: {missing:?}");

    // The controller asks itself; its partitions go to the last broker.
    let before = z.states();
    assert!(before.iter().any(|s| s.leader == controller), "the controller leads nothing: {before:?}");
    assert_eq!(brokers[controller as usize].terminate(), Some(0), "{}", brokers[controller as usize].log_text());
    assert_handed_over(&z, controller, &before);
    assert!(z.states().iter().all(|s| s.leader == last && s.isr == vec![last]), "{:?}", z.states());
    assert!(brokers[controller as usize].log_text().contains("controlled shutdown succeeded"));

    // The last broker has nowhere to move its leaderships: it stops without retrying.
    wait("the last broker to become controller", || z.controller() == Some(last));
    assert_eq!(brokers[last as usize].terminate(), Some(0));
    let log = brokers[last as usize].log_text();
    assert!(log.contains("controlled shutdown succeeded"), "{log}");
    assert!(!log.contains("attempts failed") && !log.contains("still led here"), "{log}");
}

#[test]
fn without_controlled_shutdown_leadership_moves_only_after_the_broker_left() {
    let zk = TestZk::start();
    let off: &[&str] = &["controlled.shutdown.enable=false"];
    let mut brokers = cluster(&zk, &[&[], &[], off]);
    let z = Zk::connect(&zk);
    let before = z.states();
    let led: Vec<usize> = (0..ASSIGNMENT.len()).filter(|p| before[*p].leader == 2).collect();
    assert!(!led.is_empty(), "broker 2 leads nothing: {before:?}");

    assert_eq!(brokers[2].terminate(), Some(0), "{}", brokers[2].log_text());
    wait("the partitions of broker 2 to fail over", || {
        let now = z.states();
        led.iter().all(|p| now[*p].leader >= 0 && now[*p].leader != 2)
    });
    let deregistered = z.registrations_pzxid();
    for p in &led {
        let now = z.state(*p).expect("state");
        assert!(now.mzxid > deregistered, "partition {p}: moved before broker 2 left: {now:?} (pzxid {deregistered})");
        assert!(now.epoch > before[*p].epoch);
    }
    assert!(!brokers[2].log_text().contains("controlled shutdown"), "{}", brokers[2].log_text());
    let survivors = [&brokers[0], &brokers[1]];
    assert!(survivors.iter().all(|b| !b.log_text().contains("controlled shutdown requested")));
}

// ---- the API, in raw frames ----

/// A ControlledShutdown request frame, written independently of the broker's codec.
fn request(version: i16, broker_id: i32, epoch: i64) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(7);
    b.put_i16(version);
    b.put_i32(42);
    if version >= 1 {
        b.put_i16(5);
        b.put_slice(b"tests");
    }
    if version >= 3 {
        b.put_u8(0); // no header tags
    }
    b.put_i32(broker_id);
    if version >= 2 {
        b.put_i64(epoch);
    }
    if version >= 3 {
        b.put_u8(0);
    }
    let mut framed = (b.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&b);
    framed
}

/// Sends one request and reads (error code, remaining partitions).
fn controlled_shutdown(b: &TestBroker, version: i16, broker_id: i32, epoch: i64) -> (i16, Vec<(String, i32)>) {
    let mut wire = Wire::connect(b.addr);
    wire.send_raw(&request(version, broker_id, epoch));
    let frame = wire.read_frame().expect("a response");
    let mut r: &[u8] = &frame;
    let take = |r: &mut &[u8], n: usize| {
        let (head, tail) = r.split_at(n);
        *r = tail;
        head.to_vec()
    };
    let i16_at = |r: &mut &[u8]| i16::from_be_bytes(take(r, 2).try_into().expect("i16"));
    let i32_at = |r: &mut &[u8]| i32::from_be_bytes(take(r, 4).try_into().expect("i32"));
    assert_eq!(i32_at(&mut r), 42, "correlation id");
    if version >= 3 {
        assert_eq!(take(&mut r, 1), vec![0], "no header tags");
    }
    let error = i16_at(&mut r);
    let mut remaining = Vec::new();
    // Single-byte varints suffice for the few partitions of these tests.
    let count = if version >= 3 { take(&mut r, 1)[0] as usize - 1 } else { i32_at(&mut r) as usize };
    for _ in 0..count {
        let len = if version >= 3 { take(&mut r, 1)[0] as usize - 1 } else { i16_at(&mut r) as usize };
        let topic = String::from_utf8(take(&mut r, len)).expect("topic");
        let partition = i32_at(&mut r);
        if version >= 3 {
            take(&mut r, 1);
        }
        remaining.push((topic, partition));
    }
    if version >= 3 {
        assert_eq!(take(&mut r, 1), vec![0], "no tags");
    }
    assert!(r.is_empty(), "trailing bytes in the response");
    (error, remaining)
}

#[test]
fn the_api_is_answered_by_the_controller_only() {
    let zk = TestZk::start();
    let brokers = cluster(&zk, &[&[], &[], &[]]);
    let z = Zk::connect(&zk);
    let controller = controller_of(&brokers[0]) as usize;
    let other = (0..3).find(|id| *id != controller).expect("another broker");

    let versions: ApiVersionsResponse =
        Wire::connect(brokers[other].addr).call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let advertised = versions.api_keys.iter().find(|k| k.api_key == 7).map(|k| (k.min_version, k.max_version));
    assert_eq!(advertised, Some((0, 3)));

    for version in 0..=3 {
        assert_eq!(controlled_shutdown(&brokers[other], version, other as i32, -1), (41, Vec::new()), "v{version}");
    }
    assert_eq!(controlled_shutdown(&brokers[controller], 1, 99, -1), (8, Vec::new()), "unknown broker");
    assert_eq!(controlled_shutdown(&brokers[controller], 2, other as i32, 0), (77, Vec::new()), "stale epoch");

    let before = z.states();
    assert_eq!(controlled_shutdown(&brokers[controller], 3, other as i32, -1), (0, Vec::new()));
    // The controller acted before answering: the broker leads nothing. (It
    // keeps fetching, not being shut down, so leaders may take it back into
    // their ISRs at any time.)
    let now = z.states();
    let mut moved = BTreeMap::new();
    for (p, (old, new)) in before.iter().zip(&now).enumerate() {
        assert!(new.leader != other as i32, "partition {p}: {new:?}");
        if old.leader == other as i32 {
            assert!(new.epoch > old.epoch);
            moved.insert(p, new.leader);
        }
    }
    assert!(!moved.is_empty(), "broker {other} led nothing: {before:?}");
    // Asked again, it still has nothing to move.
    assert_eq!(controlled_shutdown(&brokers[controller], 0, other as i32, -1), (0, Vec::new()));
}
