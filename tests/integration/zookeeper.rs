//! Brokers with their metadata in ZooKeeper: real `gregor zookeeper-start`
//! processes (and Debian's ZooKeeper 3.8), real brokers, the znodes checked
//! with the `zookeeper-client` crate, clients through rdkafka.

use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::common::wire::Wire;
use crate::common::zk::{RealZk, TestZk};
use crate::common::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn zk_client(connect: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

async fn json(c: &Client, path: &str) -> Option<Value> {
    match c.get_data(path).await {
        Ok((data, _)) => Some(serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{path}: {e}"))),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => panic!("get {path}: {e}"),
    }
}

async fn exists(c: &Client, path: &str) -> bool {
    c.check_stat(path).await.unwrap_or_else(|e| panic!("exists {path}: {e}")).is_some()
}

async fn children(c: &Client, path: &str) -> Vec<String> {
    let mut v = c.list_children(path).await.unwrap_or_else(|e| panic!("list {path}: {e}"));
    v.sort();
    v
}

async fn put(c: &Client, path: &str, data: &str) {
    c.create(path, data.as_bytes(), &CreateMode::Persistent.with_acls(Acls::anyone_all()))
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Polls an async condition every 50 ms.
async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn broker(connect: &str, id: i32, extra: &[&str]) -> TestBroker {
    let mut overrides = vec![format!("zookeeper.connect={connect}"), format!("broker.id={id}")];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    TestBroker::start(&refs)
}

fn metadata(b: &TestBroker) -> MetadataResponse {
    let mut w = Wire::connect(b.addr);
    w.call(ApiKey::Metadata, 4, &MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false))
}

fn create_topic(b: &TestBroker, name: &str, partitions: i32, rf: i16) -> i16 {
    let mut w = Wire::connect(b.addr);
    let req = CreateTopicsRequest::default().with_timeout_ms(20_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.into())))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)]);
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 4, &req);
    resp.topics[0].error_code
}

/// Leaders per partition of `topic` in `b`'s Metadata answer.
fn leaders(b: &TestBroker, topic: &str) -> Vec<i32> {
    let md = metadata(b);
    md.topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))
        .map(|t| t.partitions.iter().map(|p| p.leader_id.0).collect())
        .unwrap_or_default()
}

/// A topic config value as DescribeConfigs reports it.
fn topic_config(b: &TestBroker, topic: &str, key: &str) -> Option<String> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
    let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(topic.into()))
        .with_configuration_keys(Some(vec![StrBytes::from_string(key.into())]))]);
    let resp: DescribeConfigsResponse = Wire::connect(b.addr).call(ApiKey::DescribeConfigs, 1, &req);
    resp.results[0].configs.first().and_then(|c| c.value.as_ref().map(|v| v.to_string()))
}

fn produce(bootstrap: &str, topic: &str, values: &[&str]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for v in values {
        p.send(BaseRecord::<(), _>::to(topic).partition(0).payload(*v)).map_err(|(e, _)| e).expect("enqueue");
    }
    p.flush(TIMEOUT).expect("flush");
}

fn consume(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "zk-tests")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while out.len() < count && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// Registration, startup paths, cluster id, controller, and a topic created
/// through the broker in Kafka's formats.
async fn check_layout(connect: &str, zk_connect_for_client: &str) {
    let b = broker(connect, 0, &[]);
    let c = zk_client(zk_connect_for_client).await;
    for path in [
        "/consumers",
        "/brokers/ids",
        "/brokers/topics",
        "/brokers/seqid",
        "/config/changes",
        "/config/topics",
        "/config/clients",
        "/config/users",
        "/config/brokers",
        "/admin/delete_topics",
        "/isr_change_notification",
        "/latest_producer_id_block",
        "/log_dir_event_notification",
    ] {
        assert!(exists(&c, path).await, "{path} exists");
    }
    let reg = json(&c, "/brokers/ids/0").await.expect("/brokers/ids/0");
    assert_eq!(reg["version"], 4);
    assert_eq!(reg["port"], i64::from(b.addr.port()));
    assert_eq!(reg["endpoints"], serde_json::json!([format!("PLAINTEXT://127.0.0.1:{}", b.addr.port())]));
    assert_eq!(reg["listener_security_protocol_map"]["PLAINTEXT"], "PLAINTEXT");
    let (_, stat) = c.get_data("/brokers/ids/0").await.expect("stat");
    assert_ne!(stat.ephemeral_owner, 0, "registration is ephemeral");

    let controller = json(&c, "/controller").await.expect("/controller");
    assert_eq!(controller["brokerid"], 0);
    let (epoch, _) = c.get_data("/controller_epoch").await.expect("/controller_epoch");
    assert!(String::from_utf8_lossy(&epoch).parse::<i32>().expect("epoch") >= 1);
    let cluster = json(&c, "/cluster/id").await.expect("/cluster/id");
    assert_eq!(cluster["version"], "1");
    let md = metadata(&b);
    assert_eq!(md.cluster_id.as_ref().map(|s| s.to_string()), cluster["id"].as_str().map(str::to_string));
    assert_eq!(md.controller_id.0, 0);

    assert_eq!(create_topic(&b, "t", 2, 1), 0);
    let t = json(&c, "/brokers/topics/t").await.expect("/brokers/topics/t");
    assert_eq!(t["partitions"], serde_json::json!({"0": [0], "1": [0]}));
    assert_eq!(t["topic_id"].as_str().map(str::len), Some(22));
    assert_eq!(json(&c, "/config/topics/t").await.expect("config")["version"], 1);
    for p in 0..2 {
        let s = json(&c, &format!("/brokers/topics/t/partitions/{p}/state")).await.expect("state");
        assert_eq!(
            (s["leader"].clone(), s["isr"].clone(), s["leader_epoch"].clone()),
            (0.into(), serde_json::json!([0]), 0.into())
        );
        assert_eq!(s["version"], 1);
        assert!(s["controller_epoch"].as_i64().expect("controller_epoch") >= 1);
    }
    assert_eq!(leaders(&b, "t"), vec![0, 0]);
    produce(&b.bootstrap(), "t", &["one", "two"]);
    assert_eq!(consume(&b.bootstrap(), "t", 2), ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_keeps_metadata_in_kafkas_layout() {
    let zk = TestZk::start();
    check_layout(&zk.connect(""), &zk.connect("")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chroot_puts_everything_under_it() {
    let zk = TestZk::start();
    // Kafka's form with several hosts (the first one down) and a chroot that does not exist yet.
    let dead = crate::common::zk::free_port();
    let connect = format!("127.0.0.1:{dead},{}", zk.connect("/kafka/prod"));
    check_layout(&connect, &zk.connect("/kafka/prod")).await;
    let root = zk_client(&zk.connect("")).await;
    assert_eq!(children(&root, "/").await, ["kafka", "zookeeper"]);
    assert!(exists(&root, "/kafka/prod/brokers/ids/0").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_broker_id_is_refused() {
    let zk = TestZk::start();
    let b = broker(&zk.connect(""), 0, &[]);
    let (code, stderr) =
        TestBroker::run_to_exit(&[&format!("zookeeper.connect={}", zk.connect("")), "broker.id=0"], TIMEOUT);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("broker.id 0 is already registered"), "{stderr}");
    // The first broker is unaffected.
    let md = metadata(&b);
    assert_eq!(md.brokers.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_written_in_zookeeper_is_served_and_deleted_through_admin_path() {
    let zk = TestZk::start();
    let b = broker(&zk.connect(""), 0, &[]);
    let c = zk_client(&zk.connect("")).await;
    // What `kafka-topics --zookeeper` writes.
    put(&c, "/config/topics/ext", r#"{"version":1,"config":{"retention.ms":"86400000"}}"#).await;
    put(&c, "/brokers/topics/ext", r#"{"version":1,"partitions":{"0":[0]}}"#).await;
    until("the controller's partition state", || async {
        json(&c, "/brokers/topics/ext/partitions/0/state").await.is_some()
    })
    .await;
    until("a topic id added by the controller", || async {
        json(&c, "/brokers/topics/ext").await.is_some_and(|t| t["topic_id"].is_string())
    })
    .await;
    produce(&b.bootstrap(), "ext", &["a", "b", "c"]);
    assert_eq!(consume(&b.bootstrap(), "ext", 3), ["a", "b", "c"]);
    assert!(b.log_dir().join("ext-0").is_dir());
    assert_eq!(topic_config(&b, "ext", "retention.ms").as_deref(), Some("86400000"));
    // A config change written in ZooKeeper (as `kafka-configs --zookeeper` does) is applied.
    c.set_data("/config/topics/ext", br#"{"version":1,"config":{"retention.ms":"3600000"}}"#, None)
        .await
        .expect("set config");
    until("the new retention.ms", || async { topic_config(&b, "ext", "retention.ms").as_deref() == Some("3600000") })
        .await;

    put(&c, "/admin/delete_topics/ext", "").await;
    until("the topic's znodes to go", || async {
        !exists(&c, "/brokers/topics/ext").await
            && !exists(&c, "/config/topics/ext").await
            && !exists(&c, "/admin/delete_topics/ext").await
    })
    .await;
    let dir = b.log_dir().join("ext-0");
    until("the log to go", || async { !dir.exists() }).await;
    // Only the internal offsets topic (created by the consumer's group) is left.
    let left: Vec<String> = metadata(&b).topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
    assert!(left.iter().all(|t| t == "__consumer_offsets"), "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_request_is_dropped_when_deletion_is_disabled() {
    let zk = TestZk::start();
    let b = broker(&zk.connect(""), 0, &["delete.topic.enable=false"]);
    assert_eq!(create_topic(&b, "keep", 1, 1), 0);
    let c = zk_client(&zk.connect("")).await;
    put(&c, "/admin/delete_topics/keep", "").await;
    until("the request to be dropped", || async { !exists(&c, "/admin/delete_topics/keep").await }).await;
    assert!(exists(&c, "/brokers/topics/keep").await);
    assert_eq!(leaders(&b, "keep"), vec![0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_survives_a_coordinator_restart() {
    let mut zk = TestZk::start();
    let b = broker(&zk.connect(""), 0, &[]);
    assert_eq!(create_topic(&b, "before", 1, 1), 0);
    produce(&b.bootstrap(), "before", &["1"]);

    zk.kill();
    // The data path keeps working without the coordinator.
    produce(&b.bootstrap(), "before", &["2"]);
    std::thread::sleep(Duration::from_millis(500));
    zk.restart();

    let c = zk_client(&zk.connect("")).await;
    until("the registration", || async { exists(&c, "/brokers/ids/0").await }).await;
    // Watches were re-armed: a topic created now gets its state and its log.
    assert_eq!(create_topic(&b, "after", 1, 1), 0);
    put(&c, "/brokers/topics/ext-after", r#"{"version":1,"partitions":{"0":[0]}}"#).await;
    until("state of a topic written after the restart", || async {
        exists(&c, "/brokers/topics/ext-after/partitions/0/state").await
    })
    .await;
    produce(&b.bootstrap(), "after", &["x"]);
    assert_eq!(consume(&b.bootstrap(), "before", 2), ["1", "2"]);
    assert_eq!(consume(&b.bootstrap(), "after", 1), ["x"]);
    assert!(b.log_text().contains("reconnected to ZooKeeper"), "{}", b.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_re_registers_after_its_session_expired() {
    let zk = TestZk::start();
    let b = broker(&zk.connect(""), 0, &["zookeeper.session.timeout.ms=1500"]);
    assert_eq!(create_topic(&b, "t", 1, 1), 0);
    let c = zk_client(&zk.connect("")).await;
    let (_, before) = c.get_data("/brokers/ids/0").await.expect("registered");
    let pid = b.pid().expect("pid").to_string();
    // Frozen past its session timeout: the coordinator expires the session.
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill").success());
    until("the registration to expire", || async { !exists(&c, "/brokers/ids/0").await }).await;
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().expect("kill").success());
    until("a new registration", || async {
        matches!(c.get_data("/brokers/ids/0").await, Ok((_, s)) if s.ephemeral_owner != before.ephemeral_owner)
    })
    .await;
    until("the controller to come back", || async { exists(&c, "/controller").await }).await;
    produce(&b.bootstrap(), "t", &["still here"]);
    assert_eq!(consume(&b.bootstrap(), "t", 1), ["still here"]);
    assert!(b.log_text().contains("session ended"), "{}", b.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_brokers_one_controller_and_a_replicated_topic() {
    let zk = TestZk::start();
    let b0 = broker(&zk.connect(""), 0, &[]);
    let mut b1 = broker(&zk.connect(""), 1, &[]);
    let c = zk_client(&zk.connect("")).await;
    until("both registrations", || async { children(&c, "/brokers/ids").await == ["0", "1"] }).await;
    let controller = json(&c, "/controller").await.expect("controller")["brokerid"].as_i64().expect("id") as i32;
    assert_eq!(controller, 0, "the first broker up is elected");
    for b in [&b0, &b1] {
        let md = metadata(b);
        assert_eq!(md.brokers.len(), 2);
        assert_eq!(md.controller_id.0, controller);
    }

    assert_eq!(create_topic(&b1, "rep", 2, 2), 0);
    for b in [&b0, &b1] {
        let md = metadata(b);
        let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("rep")).expect("rep");
        assert_eq!(t.partitions.len(), 2);
        for p in &t.partitions {
            assert_eq!(p.error_code, 0);
            assert_eq!(p.replica_nodes.len(), 2);
            assert_eq!(p.isr_nodes.len(), 2);
            assert!(p.leader_id.0 == 0 || p.leader_id.0 == 1);
        }
    }
    // Each broker hosts both partitions (as leader or follower).
    let dir = b0.log_dir().join("rep-1");
    until("broker 0's replica", || async { dir.is_dir() }).await;
    let dir = b1.log_dir().join("rep-1");
    until("broker 1's replica", || async { dir.is_dir() }).await;
    produce(&format!("{},{}", b0.bootstrap(), b1.bootstrap()), "rep", &["r"]);

    // Broker 1 leaves: broker 0 leads everything, with broker 1 out of the ISR.
    assert_eq!(b1.terminate(), Some(0));
    until("failover to broker 0", || async { leaders(&b0, "rep") == [0, 0] }).await;
    let s = json(&c, "/brokers/topics/rep/partitions/1/state").await.expect("state");
    assert_eq!(s["isr"], serde_json::json!([0]));
    assert_eq!(metadata(&b0).brokers.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_moves_when_the_controller_leaves() {
    let zk = TestZk::start();
    let mut b0 = broker(&zk.connect(""), 0, &[]);
    let b1 = broker(&zk.connect(""), 1, &[]);
    let c = zk_client(&zk.connect("")).await;
    until("broker 1 registered", || async { exists(&c, "/brokers/ids/1").await }).await;
    assert_eq!(json(&c, "/controller").await.expect("controller")["brokerid"], 0);
    assert_eq!(b0.terminate(), Some(0));
    until("broker 1 elected", || async { json(&c, "/controller").await.is_some_and(|v| v["brokerid"] == 1) }).await;
    // The new controller acts: a topic created through broker 1 is served.
    assert_eq!(create_topic(&b1, "later", 1, 1), 0);
    produce(&b1.bootstrap(), "later", &["ok"]);
    assert_eq!(metadata(&b1).controller_id.0, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn against_debian_zookeeper_3_8() {
    let Some(mut zk) = RealZk::start() else { return };
    check_layout(&zk.connect("/gregor"), &zk.connect("/gregor")).await;

    let connect = zk.connect("/gregor2");
    let b = broker(&connect, 5, &[]);
    let c = zk_client(&connect).await;
    put(&c, "/config/topics/ext", r#"{"version":1,"config":{}}"#).await;
    put(&c, "/brokers/topics/ext", r#"{"version":1,"partitions":{"0":[5]}}"#).await;
    until("state", || async { exists(&c, "/brokers/topics/ext/partitions/0/state").await }).await;
    produce(&b.bootstrap(), "ext", &["real"]);
    assert_eq!(consume(&b.bootstrap(), "ext", 1), ["real"]);
    put(&c, "/admin/delete_topics/ext", "").await;
    until("deletion", || async { !exists(&c, "/brokers/topics/ext").await }).await;
    let (code, stderr) = TestBroker::run_to_exit(&[&format!("zookeeper.connect={connect}"), "broker.id=5"], TIMEOUT);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("already registered"), "{stderr}");

    // A restart of the real server: the session survives, the watches are re-armed.
    drop(c);
    zk.restart();
    let c = zk_client(&connect).await;
    until("the registration", || async { exists(&c, "/brokers/ids/5").await }).await;
    put(&c, "/brokers/topics/after", r#"{"version":1,"partitions":{"0":[5]}}"#).await;
    until("state of a topic written after the restart", || async {
        exists(&c, "/brokers/topics/after/partitions/0/state").await
    })
    .await;
    produce(&b.bootstrap(), "after", &["again"]);
    assert_eq!(consume(&b.bootstrap(), "after", 1), ["again"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_imports_the_old_json_metadata() {
    let mut b = TestBroker::start(&[]);
    assert_eq!(create_topic(&b, "old", 2, 1), 0);
    produce(&b.bootstrap(), "old", &["kept"]);
    let cluster_id = metadata(&b).cluster_id.expect("cluster id").to_string();
    assert_eq!(b.terminate(), Some(0));
    // What a broker of the JSON-store era leaves behind: logs and the file, no coordinator data.
    let logs = b.log_dir();
    std::fs::remove_dir_all(logs.join("zookeeper")).expect("remove coordinator data");
    std::fs::remove_file(logs.join("meta.properties")).expect("remove meta.properties");
    let id = uuid::Uuid::new_v4();
    std::fs::write(
        logs.join("gregor-metadata.json"),
        format!(
            r#"{{"cluster_id":"{cluster_id}","topics":{{"old":{{"name":"old","topic_id":"{id}",
            "partitions":[[0],[0]],"configs":{{"retention.ms":"86400000"}}}}}},"next_producer_id_block":5000}}"#
        ),
    )
    .expect("write legacy file");
    b.restart();
    let md: MetadataResponse =
        Wire::connect(b.addr).call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None));
    assert_eq!(md.cluster_id.as_ref().map(|s| s.to_string()), Some(cluster_id));
    let t = md.topics.iter().find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("old")).expect("topic imported");
    assert_eq!(t.topic_id, id);
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(consume(&b.bootstrap(), "old", 1), ["kept"]);
    assert!(logs.join("gregor-metadata.json.imported").exists());
}
