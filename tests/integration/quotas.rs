//! Client quotas end to end: kafka-configs for clients and users over
//! `--bootstrap-server` and `--zookeeper`, DescribeClientQuotas filters, a
//! producer and a consumer held to their byte rates by throttling while an
//! unthrottled client is not, `throttle_time_ms` in Produce and Fetch answers, the
//! quota metrics, SCRAM credentials and quotas sharing a user's znode, and
//! Kafka's refusals of bad input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor::client::{Admin, ClientConfig, QuotaMatch};
use gregor::security::scram::UserConfigZnode;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::common::wire::{producer_batch, Wire};
use crate::common::zk::{wait_for, TestZk};
use crate::common::{ok, prom, run_tool, stderr, stdout, TestBroker};

const QUOTA: u64 = 256 * 1024;

/// Counts the bytes of acknowledged records.
struct Acks(Arc<AtomicU64>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            use rdkafka::Message;
            self.0.fetch_add(m.payload().map_or(0, |p| p.len() as u64), Ordering::Relaxed);
        }
    }
}

/// Sends 1 KiB records as fast as librdkafka lets it for `run`; returns
/// (acked bytes at 1 s after the first ack, acked bytes at the end, seconds between).
fn flood(bs: &str, client_id: &str, topic: &str, run: Duration) -> (u64, u64, f64) {
    let acked = Arc::new(AtomicU64::new(0));
    let p: BaseProducer<Acks> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("client.id", client_id)
        .set("linger.ms", "5")
        .set("batch.size", "65536")
        .set("message.timeout.ms", "120000")
        .create_with_context(Acks(acked.clone()))
        .expect("producer");
    let value = vec![b'x'; 1024];
    let end = Instant::now() + run;
    let mut first: Option<(Instant, u64)> = None;
    while Instant::now() < end {
        match p.send(BaseRecord::<(), [u8]>::to(topic).payload(&value[..])) {
            Ok(()) => {}
            Err((_, _)) => {
                p.poll(Duration::from_millis(5));
            }
        }
        p.poll(Duration::ZERO);
        if first.is_none() && acked.load(Ordering::Relaxed) > 0 {
            first = Some((Instant::now(), 0));
        }
        if let Some((t, 0)) = first {
            if t.elapsed() >= Duration::from_secs(1) {
                first = Some((t + Duration::from_secs(1), acked.load(Ordering::Relaxed).max(1)));
            }
        }
    }
    let at_end = acked.load(Ordering::Relaxed);
    let (start, at_start) = first.expect("something was acknowledged");
    let secs = Instant::now().duration_since(start).as_secs_f64();
    let _ = p.flush(Duration::from_secs(1));
    (at_start, at_end, secs)
}

fn configs(bs: &str, args: &[&str]) -> std::process::Output {
    run_tool("configs", bs, args)
}

#[test]
fn producer_byte_rate_holds_a_producer_to_its_quota_and_leaves_others_alone() {
    // A short quota window (2 × 1 s): with Kafka's default 11 samples the first 10 s
    // of quota pass at once and come again each time the oldest sample expires, so a
    // 12-second run would measure the window's phase rather than the rate.
    let broker = TestBroker::start(&["metrics.listener=http://127.0.0.1:0", "quota.window.num=2"]);
    let bs = broker.bootstrap();
    ok(run_tool("topics", &bs, &["--create", "--topic", "q", "--partitions", "1", "--replication-factor", "1"]));
    let out = ok(configs(
        &bs,
        &[
            "--alter",
            "--entity-type",
            "clients",
            "--entity-name",
            "slow",
            "--add-config",
            &format!("producer_byte_rate={QUOTA}"),
        ],
    ));
    assert_eq!(out.trim(), "Completed updating config for client slow.");
    let out = ok(configs(&bs, &["--describe", "--entity-type", "clients", "--entity-name", "slow"]));
    assert_eq!(out.trim(), "Quota configs for client-id 'slow' are producer_byte_rate=262144.0");

    let run = Duration::from_secs(12);
    let slow = {
        let bs = bs.clone();
        std::thread::spawn(move || flood(&bs, "slow", "q", run))
    };
    let fast = {
        let bs = bs.clone();
        std::thread::spawn(move || flood(&bs, "fast", "q", run))
    };
    let (s0, s1, s_secs) = slow.join().expect("slow producer");
    let (f0, f1, f_secs) = fast.join().expect("fast producer");
    let slow_rate = (s1 - s0) as f64 / s_secs;
    let fast_rate = (f1 - f0) as f64 / f_secs;
    let q = QUOTA as f64;
    eprintln!("slow {slow_rate:.0} B/s, fast {fast_rate:.0} B/s, quota {q} B/s");
    assert!(
        slow_rate > 0.8 * q && slow_rate < 1.2 * q,
        "the throttled producer runs at its quota: {slow_rate:.0} B/s against {q} B/s"
    );
    assert!(fast_rate >= 3.0 * q, "the other producer is not held back: {fast_rate:.0} B/s");

    let scrape = prom::scrape(broker.metrics.expect("metrics endpoint"));
    let slow_labels = [("user", ""), ("client_id", "slow")];
    assert!(scrape.get("kafka_server_produce_throttle_time", &slow_labels) > 0.0, "slow was throttled");
    assert!(scrape.get("kafka_server_produce_byte_rate", &slow_labels) > 0.0);
    assert_eq!(
        scrape.value("kafka_server_produce_throttle_time", &[("client_id", "fast")]).unwrap_or(0.0),
        0.0,
        "no quota, no throttle"
    );
}

fn produce_request(topic: &str, batch: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default().with_acks(1).with_timeout_ms(10_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))])])
}

#[test]
fn throttled_answers_carry_throttle_time_ms_and_a_throttled_fetch_has_no_records() {
    let broker = TestBroker::start(&["quota.window.num=2"]);
    let bs = broker.bootstrap();
    // The raw-protocol helper's client id.
    ok(configs(
        &bs,
        &["--alter", "--client", "gregor-tests", "--add-config", "producer_byte_rate=10000,consumer_byte_rate=10000"],
    ));
    let mut w = Wire::connect_when_led(broker.addr, "thr");
    let value = vec![b'v'; 20_000];
    let batch = || producer_batch(-1, -1, 0, &[&value[..]], false);
    // 20 kB against 10 kB/s over a 1 s minimum span: over the quota at once.
    let resp: ProduceResponse = w.call(ApiKey::Produce, 7, &produce_request("thr", batch()));
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    assert!(resp.throttle_time_ms > 0, "Produce v7 answers at once with the throttle: {resp:?}");
    // Before KIP-219 (v5) the answer itself waits, and still says how long.
    let mut old = Wire::connect(broker.addr);
    let resp: ProduceResponse = old.call(ApiKey::Produce, 5, &produce_request("thr", batch()));
    assert!(resp.throttle_time_ms > 0, "{resp:?}");

    let fetch = FetchRequest::default()
        .with_replica_id(gregor_broker_id(-1))
        .with_max_wait_ms(100)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("thr")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let mut c = Wire::connect(broker.addr);
    let resp: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch);
    let p = &resp.responses[0].partitions[0];
    assert!(resp.throttle_time_ms > 0, "40 kB against 10 kB/s: {}", resp.throttle_time_ms);
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()), "a throttled fetch carries no records");
    assert!(p.high_watermark >= 2, "{p:?}");
}

#[test]
fn request_percentage_throttle_is_in_throttle_time_ms() {
    let broker = TestBroker::start(&["quota.window.num=2"]);
    let bs = broker.bootstrap();
    // A hundredth of a percent of one thread: a few requests go over it.
    ok(configs(&bs, &["--alter", "--client", "gregor-tests", "--add-config", "request_percentage=0.01"]));
    let mut w = Wire::connect(broker.addr);
    let mut throttled = None;
    for _ in 0..50 {
        let resp: kafka_protocol::messages::MetadataResponse =
            w.call(ApiKey::Metadata, 9, &kafka_protocol::messages::MetadataRequest::default());
        if resp.throttle_time_ms > 0 {
            throttled = Some(resp.throttle_time_ms);
            break;
        }
    }
    let ms = throttled.expect("a Metadata answer reports the request quota's throttle");
    assert!(ms <= 2_000, "at most the quota window's span: {ms}");
    // Another client id has no request quota: never throttled.
    ok(configs(&bs, &["--alter", "--client", "gregor-tests", "--delete-config", "request_percentage"]));
    let mut w = Wire::connect(broker.addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let resp: kafka_protocol::messages::MetadataResponse =
            w.call(ApiKey::Metadata, 9, &kafka_protocol::messages::MetadataRequest::default());
        if resp.throttle_time_ms == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still throttled after the quota was removed");
    }
}

/// argv: bootstrap topic client_id count; kafka-python speaking 0.10.1 (Produce v2,
/// message format v1); prints the seconds from the first send to the last ack.
const OLD_PRODUCER: &str = r#"
import sys, time
from kafka import KafkaProducer
bootstrap, topic, client_id, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=bootstrap, api_version=(0, 10, 1), client_id=client_id, acks=1,
                  linger_ms=5, batch_size=16384, request_timeout_ms=60000)
value = b'x' * 1024
start = time.time()
for i in range(count):
    p.send(topic, value)
p.flush(timeout=120)
print(time.time() - start)
p.close()
"#;

#[test]
fn old_produce_versions_are_held_to_the_quota() {
    let Some(py) = crate::common::python::kafka_python() else { return };
    let broker = TestBroker::start(&["quota.window.num=2"]);
    let bs = broker.bootstrap();
    ok(run_tool("topics", &bs, &["--create", "--topic", "old", "--partitions", "1", "--replication-factor", "1"]));
    ok(configs(&bs, &["--alter", "--client", "old-slow", "--add-config", "producer_byte_rate=65536"]));
    let seconds = |client: &str| -> f64 {
        let out =
            crate::common::python::run_ok(py, OLD_PRODUCER, &[&bs, "old", client, "320"], Duration::from_secs(150));
        out.trim().parse().unwrap_or_else(|e| panic!("{out:?}: {e}"))
    };
    // 320 KiB at 64 KiB/s, less the one window a fresh client may send at once: about 4 s.
    let slow = seconds("old-slow");
    let fast = seconds("old-fast");
    eprintln!("kafka-python 0.10.1, 320 KiB: {slow:.2} s with a 64 KiB/s quota, {fast:.2} s without");
    assert!(slow >= 2.5, "Produce v2 over its quota must be held back: {slow:.2} s for 320 KiB at 64 KiB/s");
    assert!(fast < slow / 2.0, "a client without a quota is not held back: {fast:.2} s against {slow:.2} s");
}

fn gregor_broker_id(id: i32) -> kafka_protocol::messages::BrokerId {
    kafka_protocol::messages::BrokerId(id)
}

#[test]
fn consumer_byte_rate_holds_a_consumer_to_its_quota() {
    let broker = TestBroker::start(&["quota.window.num=2"]);
    let bs = broker.bootstrap();
    ok(run_tool("topics", &bs, &["--create", "--topic", "c", "--partitions", "1", "--replication-factor", "1"]));
    // 8 MB to read, far more than 12 s at the quota.
    let (_, produced, _) = flood(&bs, "loader", "c", Duration::from_secs(4));
    assert!(produced > 4 * 1024 * 1024, "{produced}");
    ok(configs(&bs, &["--alter", "--client", "reader", "--add-config", &format!("consumer_byte_rate={QUOTA}")]));

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("client.id", "reader")
        .set("group.id", "readers")
        .set("auto.offset.reset", "earliest")
        .set("max.partition.fetch.bytes", "16384")
        .create()
        .expect("consumer");
    consumer.subscribe(&["c"]).expect("subscribe");
    let mut bytes = 0u64;
    let mut start: Option<(Instant, u64)> = None;
    let end_after = Duration::from_secs(13);
    let began = Instant::now();
    while began.elapsed() < end_after {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            bytes += m.payload().map_or(0, |p| p.len() as u64);
            if start.is_none() {
                start = Some((Instant::now(), bytes));
            }
        }
    }
    let (t0, b0) = start.expect("something was consumed");
    let rate = (bytes - b0) as f64 / t0.elapsed().as_secs_f64();
    assert!(bytes < produced, "the consumer did not read everything: {bytes} of {produced}");
    let q = QUOTA as f64;
    eprintln!("consumer {rate:.0} B/s, quota {q} B/s");
    assert!(rate > 0.8 * q && rate < 1.2 * q, "the throttled consumer runs at its quota: {rate:.0} B/s against {q}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_in_zookeeper_precedence_filters_and_scram_sharing_a_users_znode() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let broker = TestBroker::start(&[&format!("zookeeper.connect={connect}"), "quota.window.num=2"]);
    let bs = broker.bootstrap();
    let zk_configs = |args: &[&str]| {
        let mut all = vec!["configs", "--zookeeper", connect.as_str()];
        all.extend_from_slice(args);
        std::process::Command::new(crate::common::gregor_bin())
            .args(&all)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("run gregor")
    };

    // --zookeeper writes Kafka's znode and notification, and the running broker enforces it.
    let out = ok(zk_configs(&[
        "--alter",
        "--entity-type",
        "clients",
        "--entity-name",
        "gregor-tests",
        "--add-config",
        "producer_byte_rate=1000",
    ]));
    assert_eq!(out.trim(), "Completed Updating config for entity: client-id 'gregor-tests'.");
    let (data, changes) = znode(&connect, "/config/clients/gregor-tests").await;
    let json: serde_json::Value = serde_json::from_slice(&data.expect("znode")).expect("JSON");
    assert_eq!(json, serde_json::json!({"version": 1, "config": {"producer_byte_rate": "1000"}}));
    assert!(changes.contains(&"clients/gregor-tests".to_string()), "{changes:?}");
    let mut w = Wire::connect_when_led(broker.addr, "zkq");
    let value = vec![b'z'; 5_000];
    assert!(
        wait_for(Duration::from_secs(30), || {
            let resp: ProduceResponse =
                w.call(ApiKey::Produce, 7, &produce_request("zkq", producer_batch(-1, -1, 0, &[&value[..]], false)));
            resp.throttle_time_ms > 0
        }),
        "the broker follows the quota written to ZooKeeper"
    );
    assert_eq!(
        ok(zk_configs(&["--describe", "--entity-type", "clients", "--entity-name", "gregor-tests"])).trim(),
        "Configs for client-id 'gregor-tests' are producer_byte_rate=1000"
    );

    // Layers of one user and client id, each its own znode.
    ok(configs(&bs, &["--alter", "--user-defaults", "--add-config", "producer_byte_rate=100"]));
    ok(configs(
        &bs,
        &["--alter", "--entity-type", "clients", "--entity-default", "--add-config", "consumer_byte_rate=200"],
    ));
    ok(configs(
        &bs,
        &[
            "--alter",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
            "--entity-type",
            "clients",
            "--entity-name",
            "app",
            "--add-config",
            "producer_byte_rate=300,request_percentage=12.5",
        ],
    ));
    ok(configs(&bs, &["--alter", "--user", "bob", "--client-defaults", "--add-config", "producer_byte_rate=400"]));
    let (data, changes) = znode(&connect, "/config/users/alice/clients/app").await;
    assert!(data.is_some());
    assert!(changes.contains(&"users/alice/clients/app".to_string()), "{changes:?}");
    assert!(changes.contains(&"users/<default>".to_string()), "{changes:?}");
    assert!(changes.contains(&"users/bob/clients/<default>".to_string()), "{changes:?}");
    assert_eq!(
        ok(configs(&bs, &["--describe", "--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app"])).trim(),
        "Quota configs for user-principal 'alice', client-id 'app' are producer_byte_rate=300.0, request_percentage=12.5"
    );
    assert_eq!(
        ok(configs(&bs, &["--describe", "--entity-type", "clients", "--entity-default"])).trim(),
        "Quota configs for the default client-id are consumer_byte_rate=200.0"
    );

    let admin = Admin::connect(ClientConfig::new(bs.clone())).await.expect("admin");
    let names = |entries: &[(gregor::client::QuotaEntity, Vec<(String, f64)>)]| {
        let mut v: Vec<String> =
            entries.iter().map(|(e, _)| gregor::client::admin_quotas::describe_entity(e)).collect();
        v.sort();
        v
    };
    // Strict: only entities made of exactly the named types.
    let users_only = admin.describe_client_quotas(&[("user".into(), QuotaMatch::Any)], true).await.expect("describe");
    assert_eq!(names(&users_only), ["the default user-principal"]);
    // Not strict: every entity with a user side.
    let any_user = admin.describe_client_quotas(&[("user".into(), QuotaMatch::Any)], false).await.expect("describe");
    assert_eq!(
        names(&any_user),
        [
            "the default user-principal",
            "user-principal 'alice', client-id 'app'",
            "user-principal 'bob', the default client-id"
        ]
    );
    let default_clients =
        admin.describe_client_quotas(&[("client-id".into(), QuotaMatch::Default)], false).await.expect("describe");
    assert_eq!(names(&default_clients), ["the default client-id", "user-principal 'bob', the default client-id"]);
    let exact = admin
        .describe_client_quotas(
            &[
                ("user".into(), QuotaMatch::Exact("alice".into())),
                ("client-id".into(), QuotaMatch::Exact("app".into())),
            ],
            true,
        )
        .await
        .expect("describe");
    assert_eq!(exact.len(), 1);
    let mut values = exact[0].1.clone();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(values, [("producer_byte_rate".to_string(), 300.0), ("request_percentage".to_string(), 12.5)]);

    // SCRAM and quotas share /config/users/<user>: neither write drops the other's keys.
    ok(configs(
        &bs,
        &["--alter", "--user", "carol", "--add-config", "SCRAM-SHA-256=[iterations=4096,password=carol-secret]"],
    ));
    ok(configs(&bs, &["--alter", "--user", "carol", "--add-config", "consumer_byte_rate=5000"]));
    let keys = user_keys(&connect, "carol").await;
    assert_eq!(keys, ["SCRAM-SHA-256", "consumer_byte_rate"]);
    ok(configs(&bs, &["--alter", "--user", "carol", "--add-config", "SCRAM-SHA-512=[password=carol-secret]"]));
    assert_eq!(user_keys(&connect, "carol").await, ["SCRAM-SHA-256", "SCRAM-SHA-512", "consumer_byte_rate"]);
    ok(zk_configs(&[
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "carol",
        "--add-config",
        "producer_byte_rate=7000",
    ]));
    assert_eq!(
        user_keys(&connect, "carol").await,
        ["SCRAM-SHA-256", "SCRAM-SHA-512", "consumer_byte_rate", "producer_byte_rate"]
    );
    let described = ok(configs(&bs, &["--describe", "--user", "carol"]));
    assert!(
        described.contains(
            "Quota configs for user-principal 'carol' are consumer_byte_rate=5000.0, producer_byte_rate=7000.0"
        ),
        "{described}"
    );
    assert!(
        described.contains("SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=4096"),
        "{described}"
    );

    // --delete-config removes one key; deleting one that is not set is refused.
    ok(configs(&bs, &["--alter", "--user", "carol", "--delete-config", "consumer_byte_rate"]));
    assert_eq!(user_keys(&connect, "carol").await, ["SCRAM-SHA-256", "SCRAM-SHA-512", "producer_byte_rate"]);
    let out = configs(&bs, &["--alter", "--client", "nobody", "--delete-config", "producer_byte_rate"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Invalid config(s): producer_byte_rate"), "{}", stderr(&out));
}

#[test]
fn bad_quota_input_is_refused_with_kafkas_errors_and_nothing_is_written() {
    let broker = TestBroker::start(&[]);
    let bs = broker.bootstrap();
    let refused = |add: &str, expected: &str| {
        let out = configs(&bs, &["--alter", "--entity-type", "clients", "--entity-name", "bad", "--add-config", add]);
        assert_eq!(out.status.code(), Some(1), "{add}: {}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains(expected), "{add}: {}", stderr(&out));
    };
    refused("producer_byte_rate=abc", "Cannot parse quota configuration value for producer_byte_rate: abc");
    refused("bogus_rate=5", "Invalid configuration key bogus_rate");
    refused("consumer_byte_rate=-5", "consumer_byte_rate");
    refused("producer_byte_rate=10.5", "Configuration producer_byte_rate must be a Long value");
    let out = ok(configs(&bs, &["--describe", "--entity-type", "clients"]));
    assert_eq!(out.trim(), "", "nothing was written");
    let out = configs(&bs, &["--alter", "--entity-type", "clients", "--add-config", "producer_byte_rate=5"]);
    assert_ne!(out.status.code(), Some(0), "an alter needs a name or the default");
}

/// A znode's data and the entity paths of the change notifications.
async fn znode(connect: &str, path: &str) -> (Option<Vec<u8>>, Vec<String>) {
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(connect)
        .await
        .expect("zk");
    let data = match client.get_data(path).await {
        Ok((data, _)) => Some(data),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => panic!("read {path}: {e}"),
    };
    let mut changes = Vec::new();
    for child in client.list_children("/config/changes").await.expect("list /config/changes") {
        if let Ok((data, _)) = client.get_data(&format!("/config/changes/{child}")).await {
            let v: serde_json::Value = serde_json::from_slice(&data).expect("change JSON");
            assert_eq!(v["version"], 2, "{v}");
            changes.push(v["entity_path"].as_str().expect("entity_path").to_string());
        }
    }
    (data, changes)
}

async fn user_keys(connect: &str, user: &str) -> Vec<String> {
    let (data, _) = znode(connect, &format!("/config/users/{user}")).await;
    UserConfigZnode::decode(&data.expect("user znode")).expect("JSON").config.into_keys().collect()
}
