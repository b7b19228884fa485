//! Dynamic configuration on real brokers: `gregor configs` (kafka-configs.sh)
//! through `--bootstrap-server` and `--zookeeper`, `topics --zookeeper --alter
//! --config`, AlterConfigs / IncrementalAlterConfigs through our admin client,
//! librdkafka and confluent-kafka (Python), DescribeCluster, retention that
//! changes without a restart, dynamic broker configs that survive one, and the
//! follower replication throttle.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use gregor::client::{
    Admin, AlterConfigOp, ClientConfig, ConfigResource, OffsetSpec, Producer, ProducerConfig, ProducerRecord,
};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::common::zk::{wait_for, TestZk};
use crate::common::{bootstrap_of, gregor_bin, ok, python, stderr, stdout, three_brokers, TestBroker};

const TIMEOUT: Duration = Duration::from_secs(60);

fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_for(TIMEOUT, cond), "timed out waiting for {what}");
}

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").env_remove("RUST_LOG").output().expect("run gregor")
}

fn configs(bs: &str, args: &[&str]) -> Output {
    let mut all = vec!["configs", "--bootstrap-server", bs];
    all.extend_from_slice(args);
    gregor(&all)
}

/// The `--describe` line of `key` (`  key=value sensitive=… synonyms={…}`), if listed.
fn line_of(out: &str, key: &str) -> Option<String> {
    out.lines().map(str::trim).find(|l| l.starts_with(&format!("{key}="))).map(str::to_string)
}

async fn admin(bs: &str) -> Admin {
    Admin::connect(ClientConfig::new(bs)).await.expect("admin")
}

fn create_topic(bs: &str, topic: &str, extra: &[&str]) {
    let mut args = vec!["topics", "--bootstrap-server", bs, "--create", "--topic", topic];
    args.extend_from_slice(extra);
    ok(gregor(&args));
}

/// Produces `count` records of `size` bytes; `one_by_one` waits for each
/// (one batch per record, so small segments roll).
async fn produce(bs: &str, topic: &str, count: usize, size: usize, one_by_one: bool) {
    let mut config = ProducerConfig::new(bs);
    config.set("acks", "all").expect("acks");
    let producer = Producer::new(config).await.expect("producer");
    let value = vec![b'x'; size];
    let mut deliveries = Vec::with_capacity(count);
    for _ in 0..count {
        let delivery = producer.send(ProducerRecord::new(topic, value.clone())).await.expect("send");
        if one_by_one {
            delivery.await.expect("delivered");
        } else {
            deliveries.push(delivery);
        }
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

/// Bytes in the `.log` segments of a partition's directory under a broker's log dir.
fn log_bytes(broker: &TestBroker, topic: &str, partition: i32) -> u64 {
    let dir = broker.log_dir().join(format!("{topic}-{partition}"));
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn change_notifications(zk_connect: &str) -> Vec<String> {
    let admin = gregor::metadata::admin::ZkAdmin::connect(zk_connect).await.expect("zk");
    admin.config_entities("changes").await.expect("list /config/changes")
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_and_broker_configs_through_the_tool_the_admin_api_and_librdkafka() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let mut brokers = three_brokers(&zk, &[]);
    let bs = bootstrap_of(&brokers);
    create_topic(&bs, "cfg", &["--partitions", "3", "--replication-factor", "3"]);

    // --bootstrap-server: every broker reports the override as DYNAMIC_TOPIC_CONFIG.
    let out = ok(configs(
        &bs,
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "cfg",
            "--add-config",
            "retention.ms=86400000,cleanup.policy=[compact,delete]",
        ],
    ));
    assert_eq!(out.trim(), "Completed updating config for topic cfg.");
    for b in &brokers {
        let described = ok(configs(&b.bootstrap(), &["--describe", "--topic", "cfg"]));
        assert!(described.starts_with("Dynamic configs for topic cfg are:"), "{described}");
        assert_eq!(
            line_of(&described, "retention.ms").as_deref(),
            Some("retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000, DEFAULT_CONFIG:log.retention.hours=168}")
        );
        assert!(line_of(&described, "cleanup.policy").is_some_and(|l| l.starts_with("cleanup.policy=compact,delete ")));
    }
    // --zookeeper (the 0.10 form): written to /config/topics/cfg with a change notification.
    let before = change_notifications(&connect).await;
    assert!(!before.is_empty() && before.iter().all(|n| n.starts_with("config_change_")), "{before:?}");
    let out = ok(gregor(&[
        "configs",
        "--zookeeper",
        &connect,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        "cfg",
        "--add-config",
        "segment.ms=3600000",
    ]));
    assert_eq!(out.trim(), "Completed Updating config for entity: topic 'cfg'.");
    assert!(change_notifications(&connect).await.len() > before.len(), "a new change notification");
    let out = ok(gregor(&[
        "configs",
        "--zookeeper",
        &connect,
        "--describe",
        "--entity-type",
        "topics",
        "--entity-name",
        "cfg",
    ]));
    assert_eq!(
        out.trim(),
        "Configs for topic 'cfg' are cleanup.policy=compact,delete,retention.ms=86400000,segment.ms=3600000"
    );
    for b in &brokers {
        wait("every broker sees the ZooKeeper change", || {
            line_of(&stdout(&configs(&b.bootstrap(), &["--describe", "--topic", "cfg"])), "segment.ms")
                .is_some_and(|l| l.starts_with("segment.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"))
        });
    }
    // topics --zookeeper --alter --config / --delete-config (Kafka 0.10's way).
    let out = ok(gregor(&[
        "topics",
        "--zookeeper",
        &connect,
        "--alter",
        "--topic",
        "cfg",
        "--config",
        "max.message.bytes=200000",
        "--delete-config",
        "segment.ms",
    ]));
    assert!(out.contains("Updated config for topic \"cfg\"."), "{out}");
    wait("the topics tool's change applied", || {
        let d = stdout(&configs(&bs, &["--describe", "--topic", "cfg"]));
        line_of(&d, "max.message.bytes").is_some() && line_of(&d, "segment.ms").is_none()
    });
    // With --bootstrap-server, Kafka 3.x's tool points to kafka-configs.
    let out = gregor(&["topics", "--bootstrap-server", &bs, "--alter", "--topic", "cfg", "--config", "a=b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the kafka-configs CLI supports altering topic configs"), "{}", stderr(&out));

    // Refusals, with Kafka's messages and exit 1.
    let out = configs(&bs, &["--alter", "--topic", "cfg", "--add-config", "no.such.config=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Unknown topic config name: no.such.config"), "{}", stderr(&out));
    let out = configs(&bs, &["--alter", "--topic", "cfg", "--add-config", "retention.ms=soon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Invalid config value for resource ConfigResource(type=TOPIC, name='cfg'): Invalid value soon for configuration retention.ms"),
        "{}",
        stderr(&out)
    );
    let out = configs(
        &bs,
        &["--alter", "--entity-type", "brokers", "--entity-name", "1", "--add-config", "log.dirs=/elsewhere"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Cannot update these configs dynamically: Set(log.dirs)"), "{}", stderr(&out));
    let out = configs(&bs, &["--alter", "--topic", "missing", "--add-config", "retention.ms=1"]);
    assert_eq!(out.status.code(), Some(1));
    let out = configs(&bs, &["--describe", "--entity-type", "ips"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not supported"), "{}", stderr(&out));
    let out = configs(&bs, &["--alter", "--topic", "cfg"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {}", stderr(&out));

    // --delete-config restores the inherited value.
    ok(configs(&bs, &["--alter", "--topic", "cfg", "--delete-config", "retention.ms"]));
    let all = ok(configs(&bs, &["--describe", "--all", "--topic", "cfg"]));
    assert!(all.starts_with("All configs for topic cfg are:"), "{all}");
    assert_eq!(
        line_of(&all, "retention.ms").as_deref(),
        Some("retention.ms=604800000 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}")
    );

    // Dynamic broker configs: the cluster default, then broker 1's own, live.
    let out = ok(configs(
        &bs,
        &["--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=7200000"],
    ));
    assert_eq!(out.trim(), "Completed updating default config for brokers in the cluster.");
    let out =
        ok(configs(&bs, &["--alter", "--broker", "1", "--add-config", "log.retention.ms=3600000,num.io.threads=4"]));
    assert_eq!(out.trim(), "Completed updating config for broker 1.");
    let b1 = brokers[1].bootstrap();
    let described = ok(configs(&b1, &["--describe", "--broker", "1"]));
    assert_eq!(
        line_of(&described, "log.retention.ms").as_deref(),
        Some("log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=3600000, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, DEFAULT_CONFIG:log.retention.hours=168}")
    );
    let defaults = ok(configs(&bs, &["--describe", "--broker-defaults"]));
    assert!(defaults.contains("Default configs for brokers in the cluster are:"), "{defaults}");
    assert!(defaults.contains("log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000}"), "{defaults}");
    // Topics inherit the new broker values: broker 1 its own, broker 2 the default.
    let a = admin(&bs).await;
    wait("broker 2 applies the default to the topic", || {
        line_of(&stdout(&configs(&brokers[2].bootstrap(), &["--describe", "--all", "--topic", "cfg"])), "retention.ms")
            .is_some_and(|l| l.starts_with("retention.ms=7200000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000"))
    });
    let on_b1 = ok(configs(&b1, &["--describe", "--all", "--topic", "cfg"]));
    assert!(line_of(&on_b1, "retention.ms").is_some_and(|l| l.starts_with("retention.ms=3600000 ")), "{on_b1}");

    // Every broker and the default, listed through DescribeCluster.
    let all_brokers = ok(configs(&bs, &["--describe", "--entity-type", "brokers"]));
    for header in [
        "Dynamic configs for broker 0 are:",
        "Dynamic configs for broker 1 are:",
        "Dynamic configs for broker 2 are:",
        "Default configs for brokers in the cluster are:",
    ] {
        assert!(all_brokers.contains(header), "{header} in {all_brokers}");
    }
    let cluster = a.describe_cluster().await.expect("describe cluster");
    assert_eq!(cluster.brokers.iter().map(|b| b.id).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(cluster.controller.is_some_and(|c| (0..3).contains(&c)));
    assert_eq!(cluster.cluster_id, a.cluster().await.expect("metadata").cluster_id);
    assert!(cluster.brokers.iter().all(|b| b.host == "127.0.0.1" && b.port > 0));

    // IncrementalAlterConfigs: APPEND / SUBTRACT on a list, validate_only leaves nothing.
    let topic = ConfigResource::Topic("cfg".into());
    let policy = |described: Vec<gregor::client::DescribedConfig>| {
        described.into_iter().find(|c| c.entry.name == "cleanup.policy").and_then(|c| c.entry.value)
    };
    a.incremental_alter_configs(
        &[(topic.clone(), vec![AlterConfigOp::Subtract("cleanup.policy".into(), "delete".into())])],
        false,
    )
    .await
    .expect("subtract");
    assert_eq!(policy(a.describe_resource_configs(&topic).await.expect("describe")).as_deref(), Some("compact"));
    a.incremental_alter_configs(
        &[(topic.clone(), vec![AlterConfigOp::Append("cleanup.policy".into(), "delete".into())])],
        false,
    )
    .await
    .expect("append");
    assert_eq!(policy(a.describe_resource_configs(&topic).await.expect("describe")).as_deref(), Some("compact,delete"));
    let err = a
        .incremental_alter_configs(
            &[(topic.clone(), vec![AlterConfigOp::Append("retention.ms".into(), "1".into())])],
            false,
        )
        .await
        .expect_err("append to a non-list");
    assert!(err.to_string().contains("Config value append is not allowed for config key: retention.ms"), "{err}");
    a.incremental_alter_configs(
        &[(topic.clone(), vec![AlterConfigOp::Set("retention.bytes".into(), "12345".into())])],
        true,
    )
    .await
    .expect("validate only");
    a.alter_configs(&[(ConfigResource::Broker(0), [("log.segment.bytes".to_string(), "1".to_string())].into())], true)
        .await
        .expect_err("validate_only still validates");
    let described = a.describe_resource_configs(&topic).await.expect("describe");
    let bytes = described.iter().find(|c| c.entry.name == "retention.bytes").expect("retention.bytes");
    assert_eq!((bytes.entry.value.as_deref(), bytes.entry.source), (Some("-1"), 5), "validate_only wrote nothing");

    // librdkafka's alter_configs on a topic and on a broker.
    let rd: AdminClient<DefaultClientContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &bs).create().expect("rdkafka admin");
    let results = rd
        .alter_configs(
            &[
                AlterConfig::new(ResourceSpecifier::Topic("cfg")).set("retention.ms", "123456"),
                AlterConfig::new(ResourceSpecifier::Broker(2)).set("log.cleaner.backoff.ms", "20000"),
            ],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("rdkafka alter_configs");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let topic_now = ok(configs(&bs, &["--describe", "--topic", "cfg"]));
    assert!(line_of(&topic_now, "retention.ms").is_some_and(|l| l.starts_with("retention.ms=123456 ")), "{topic_now}");
    // AlterConfigs replaced the whole set: the cleanup.policy override is gone.
    assert!(line_of(&topic_now, "cleanup.policy").is_none(), "{topic_now}");
    let b2 = ok(configs(&brokers[2].bootstrap(), &["--describe", "--broker", "2"]));
    assert!(line_of(&b2, "log.cleaner.backoff.ms").is_some_and(|l| l.contains("DYNAMIC_BROKER_CONFIG:")), "{b2}");

    // Dynamic broker configs live in ZooKeeper: a restarted broker reads them back.
    brokers[1].terminate();
    brokers[1].restart();
    wait("broker 1 back with its dynamic config", || {
        let d = stdout(&configs(&brokers[1].bootstrap(), &["--describe", "--broker", "1"]));
        line_of(&d, "log.retention.ms").is_some_and(|l| l.starts_with("log.retention.ms=3600000 "))
            && line_of(&d, "num.io.threads").is_some_and(|l| l.starts_with("num.io.threads=4 "))
    });
    let zk_view = ok(gregor(&["configs", "--zookeeper", &connect, "--describe", "--entity-type", "brokers"]));
    assert!(zk_view.contains("Configs for default brokers are log.retention.ms=7200000"), "{zk_view}");
    assert!(zk_view.contains("Configs for brokers '1' are log.retention.ms=3600000,num.io.threads=4"), "{zk_view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smaller_retention_deletes_old_segments_without_a_restart() {
    let broker = TestBroker::start(&["log.retention.check.interval.ms=300", "log.segment.delete.delay.ms=0"]);
    let bs = broker.bootstrap();
    create_topic(&bs, "shrink", &["--partitions", "1", "--replication-factor", "1"]);
    ok(configs(&bs, &["--alter", "--topic", "shrink", "--add-config", "segment.bytes=2048"]));
    produce(&bs, "shrink", 60, 200, true).await;
    let a = admin(&bs).await;
    let end = a.list_offsets("shrink", 0, OffsetSpec::Latest).await.expect("end");
    assert_eq!(end, 60);
    assert_eq!(a.list_offsets("shrink", 0, OffsetSpec::Earliest).await.expect("start"), 0);
    let segments = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "log")).count())
            .unwrap_or(0)
    };
    let dir = broker.log_dir().join("shrink-0");
    assert!(segments(&dir) > 2, "small segments rolled");

    ok(configs(&bs, &["--alter", "--topic", "shrink", "--add-config", "retention.ms=1"]));
    let mut start = 0;
    for _ in 0..600 {
        start = a.list_offsets("shrink", 0, OffsetSpec::Earliest).await.expect("start");
        if start > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(start > 0, "old segments deleted after the retention change");
    wait("only the active segment is left", || segments(&dir) == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_throttles_slow_a_catching_up_replica_on_either_side() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let start = |id: i32| {
        TestBroker::start(&[
            &format!("zookeeper.connect={connect}"),
            &format!("broker.id={id}"),
            "zookeeper.session.timeout.ms=3000",
            "replica.lag.time.max.ms=3000",
            "replica.fetch.wait.max.ms=200",
            "replica.fetch.backoff.ms=100",
        ])
    };
    let leader = start(0);
    let mut follower = start(1);
    let bs = leader.bootstrap();
    create_topic(&bs, "slow", &["--replica-assignment", "0:1"]);
    follower.terminate();
    // 1.5 MB while the follower is away, then throttle its catching up to 150 kB/s.
    produce(&bs, "slow", 1500, 1000, false).await;
    let a = admin(&bs).await;
    a.incremental_alter_configs(
        &[
            (
                ConfigResource::BrokerDefault,
                vec![AlterConfigOp::Set("follower.replication.throttled.rate".into(), "150000".into())],
            ),
            (
                ConfigResource::Topic("slow".into()),
                vec![AlterConfigOp::Set("follower.replication.throttled.replicas".into(), "*".into())],
            ),
        ],
        false,
    )
    .await
    .expect("throttle");
    let first = log_bytes(&leader, "slow", 0);
    assert!(first > 1_500_000, "{first}");
    follower.restart();
    // Throttled: seen part-way, then caught up.
    let mut partial = false;
    wait("the follower catches up", || {
        let have = log_bytes(&follower, "slow", 0);
        partial |= have > 0 && have < first;
        have >= first
    });
    assert!(partial, "the follower was seen catching up part-way (throttled), not all at once");

    // The leader side: broker 0 limits what it sends for replica 0:0 (this
    // leader's replica of partition 0, as Kafka's lists name it); the follower
    // throttle is off again.
    follower.terminate();
    produce(&bs, "slow", 1500, 1000, false).await;
    a.incremental_alter_configs(
        &[
            (ConfigResource::BrokerDefault, vec![AlterConfigOp::Delete("follower.replication.throttled.rate".into())]),
            (
                ConfigResource::Broker(0),
                vec![AlterConfigOp::Set("leader.replication.throttled.rate".into(), "150000".into())],
            ),
            (
                ConfigResource::Topic("slow".into()),
                vec![
                    AlterConfigOp::Delete("follower.replication.throttled.replicas".into()),
                    AlterConfigOp::Set("leader.replication.throttled.replicas".into(), "0:0".into()),
                ],
            ),
        ],
        false,
    )
    .await
    .expect("leader throttle");
    let target = log_bytes(&leader, "slow", 0);
    assert!(target > 3_000_000, "{target}");
    follower.restart();
    let mut partial = false;
    wait("the follower catches up again", || {
        let have = log_bytes(&follower, "slow", 0);
        partial |= have > first && have < target;
        have >= target
    });
    assert!(partial, "the leader throttle held the follower back part of the way");
}

#[test]
fn confluent_kafka_incremental_alter_configs() {
    let Some(python) = python::confluent_kafka() else { return };
    let broker = TestBroker::start(&[]);
    let bs = broker.bootstrap();
    create_topic(&bs, "ck", &["--partitions", "1", "--replication-factor", "1"]);
    let script = r#"
import sys
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigEntry, AlterConfigOpType
a = AdminClient({"bootstrap.servers": sys.argv[1]})
res = ConfigResource("TOPIC", "ck", incremental_configs=[
    ConfigEntry("retention.ms", "4321", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
])
for f in a.incremental_alter_configs([res], request_timeout=30).values():
    f.result()
desc = a.describe_configs([ConfigResource("TOPIC", "ck")], request_timeout=30)
for f in desc.values():
    cfg = f.result()
    print("retention.ms=%s" % cfg["retention.ms"].value)
    print("cleanup.policy=%s" % cfg["cleanup.policy"].value)
bad = ConfigResource("TOPIC", "ck", incremental_configs=[
    ConfigEntry("no.such", "1", incremental_operation=AlterConfigOpType.SET)])
try:
    for f in a.incremental_alter_configs([bad], request_timeout=30).values():
        f.result()
    print("unexpected success")
except Exception as e:
    print("refused: %s" % e)
"#;
    let out = python::run_ok(python, script, &[&bs], TIMEOUT);
    assert!(out.contains("retention.ms=4321"), "{out}");
    assert!(out.contains("cleanup.policy=delete,compact"), "{out}");
    assert!(out.contains("refused:") && out.contains("Unknown topic config name: no.such"), "{out}");
}
