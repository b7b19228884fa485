//! Standby replicas and the `stream` assignor against a real broker: two
//! instances with `num.standby.replicas=1` on a two-partition input each run
//! one active task and keep a standby of the other's, the standby's store
//! follows the changelog (its checkpoint reaches the changelog's end), and
//! when one instance closes the survivor promotes its standby — restoring
//! only the tail after where the standby stood — and the counts go on
//! exactly, neither reset nor counted twice. Also: co-partitioned topics
//! whose partition counts drift apart while the application runs make the
//! leader's assignment carry an error that stops the application.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord,
};
use gregor::streams::runtime::state_dir::StateDirectory;
use gregor::streams::runtime::{KafkaStreams, State, StreamsConfig};
use gregor::streams::serde::Serdes;
use gregor::streams::topology::Topology;
use gregor::streams::TaskId;

use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(120);
const APP: &str = "standby-app";
const CHANGELOG: &str = "standby-app-counts-changelog";

fn counting_topology() -> Topology {
    crate::streams_runtime::counting_topology("sb-in", "sb-out")
}

fn config(broker: &TestBroker, state_dir: &std::path::Path) -> StreamsConfig {
    let props: BTreeMap<String, String> = [
        ("application.id", APP.to_string()),
        ("bootstrap.servers", broker.bootstrap()),
        ("state.dir", state_dir.display().to_string()),
        ("num.standby.replicas", "1".to_string()),
        ("commit.interval.ms", "200".to_string()),
        ("poll.ms", "50".to_string()),
        ("session.timeout.ms", "6000".to_string()),
        ("heartbeat.interval.ms", "1000".to_string()),
        ("fetch.max.wait.ms", "100".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    StreamsConfig::from_props(props).expect("config")
}

async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
    admin.create_topic(NewTopic::new(name, partitions), false).await.expect("create topic");
}

/// One record per (key, n): n records for each key, keyed.
async fn produce(broker: &TestBroker, keys: &[(&str, usize)]) {
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
    let mut futures = Vec::new();
    for (k, n) in keys {
        for i in 0..*n {
            let record = ProducerRecord::new("sb-in", format!("v{i}").into_bytes()).key(k.to_string());
            futures.push(producer.send(record).await.expect("send"));
        }
    }
    for f in futures {
        f.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

/// Every count per key on the output, in order, once the last count of
/// each key in `expected` showed up (plus a little longer for extras).
async fn read_counts(broker: &TestBroker, expected: &BTreeMap<String, i64>) -> BTreeMap<String, Vec<i64>> {
    let mut c = ConsumerConfig::new(broker.bootstrap());
    c.set("fetch.max.wait.ms", "100").expect("wait");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    consumer.assign(vec![("sb-out".to_string(), 0), ("sb-out".to_string(), 1)]).await.expect("assign");
    for p in 0..2 {
        consumer.seek("sb-out", p, gregor::client::SeekTo::Beginning).await.expect("seek");
    }
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let take = |records: Vec<gregor::client::consumer::ConsumerRecord>, seen: &mut BTreeMap<String, Vec<i64>>| {
        for r in records {
            let key = String::from_utf8(r.key.expect("key").to_vec()).expect("utf8");
            let n = i64::from_be_bytes(r.value.expect("value")[..].try_into().expect("8 bytes"));
            seen.entry(key).or_default().push(n);
        }
    };
    let deadline = Instant::now() + WAIT;
    while !expected.iter().all(|(k, n)| seen.get(k).and_then(|v| v.last()) == Some(n)) {
        assert!(Instant::now() < deadline, "counts never reached {expected:?}; seen {seen:?}");
        take(consumer.poll(Duration::from_millis(300)).await.expect("poll"), &mut seen);
    }
    take(consumer.poll(Duration::from_millis(500)).await.expect("poll"), &mut seen);
    seen
}

/// The end offset of a changelog partition.
async fn changelog_end(broker: &TestBroker, partition: i32) -> i64 {
    let mut consumer = Consumer::new(ConsumerConfig::new(broker.bootstrap())).await.expect("consumer");
    consumer.assign(vec![(CHANGELOG.to_string(), partition)]).await.expect("assign");
    consumer.seek(CHANGELOG, partition, gregor::client::SeekTo::End).await.expect("seek");
    let end = consumer.position(CHANGELOG, partition).expect("position");
    let _ = consumer.close().await;
    end
}

fn expect(n: i64) -> BTreeMap<String, i64> {
    ["a", "b", "c", "d"].iter().map(|k| (k.to_string(), n)).collect()
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool, describe: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}: {}", describe());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_standby_follows_the_changelog_and_is_promoted_with_its_state_when_the_active_leaves() {
    let broker = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        create_topic(&broker, "sb-in", 2).await;
        create_topic(&broker, "sb-out", 2).await;
        let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let one = KafkaStreams::new(counting_topology(), config(&broker, d1.path())).expect("one");
        one.start().await.expect("start one");
        assert!(one.wait_for_state(State::Running, WAIT).await, "one: {}", one.state());
        produce(&broker, &[("a", 2), ("b", 2), ("c", 2), ("d", 2)]).await;
        read_counts(&broker, &expect(2)).await;

        // A second instance: one active and one standby each, crosswise.
        let two = KafkaStreams::new(counting_topology(), config(&broker, d2.path())).expect("two");
        two.start().await.expect("start two");
        let all: BTreeSet<TaskId> = (0..2).map(|p| TaskId { subtopology: 0, partition: p }).collect();
        wait_until(
            "each instance runs one active and one standby task",
            || {
                let (a1, s1, a2, s2) = (
                    one.local_active_tasks(),
                    one.local_standby_tasks(),
                    two.local_active_tasks(),
                    two.local_standby_tasks(),
                );
                one.state() == State::Running
                    && two.state() == State::Running
                    && a1.len() == 1
                    && a2.len() == 1
                    && a1.union(&a2).copied().collect::<BTreeSet<_>>() == all
                    && s1 == a2
                    && s2 == a1
            },
            || {
                format!(
                    "one {} {:?}/{:?}, two {} {:?}/{:?}",
                    one.state(),
                    one.local_active_tasks(),
                    one.local_standby_tasks(),
                    two.state(),
                    two.local_active_tasks(),
                    two.local_standby_tasks()
                )
            },
        )
        .await;
        produce(&broker, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]).await;
        read_counts(&broker, &expect(3)).await;

        // Two's standby (one's active task) follows the changelog to its end.
        let standby = *two.local_standby_tasks().iter().next().expect("standby");
        let end = changelog_end(&broker, standby.partition).await;
        assert!(end > 0, "the changelog of {standby} has the counts");
        let state_dir = StateDirectory::new(d2.path(), APP).expect("state dir");
        let tp = (CHANGELOG.to_string(), standby.partition);
        let mut checkpointed = 0;
        wait_until(
            "the standby's checkpoint reaches the changelog end",
            || {
                checkpointed = state_dir.read_checkpoint(standby).ok().and_then(|c| c.get(&tp).copied()).unwrap_or(-1);
                checkpointed == end
            },
            || format!("end {end}"),
        )
        .await;

        // One leaves: two promotes its standby and restores only the tail.
        one.close().await;
        wait_until(
            "two runs both tasks",
            || two.local_active_tasks() == all && two.local_standby_tasks().is_empty() && two.state() == State::Running,
            || format!("two {} {:?}/{:?}", two.state(), two.local_active_tasks(), two.local_standby_tasks()),
        )
        .await;
        let restores = two.store_restorations();
        let promoted = restores.iter().rev().find(|r| r.task == standby).expect("the promoted task restored its store");
        assert!(promoted.warm, "the store came from the standby: {promoted:?}");
        let from = promoted.from.expect("restored from the standby's offset, not the beginning");
        assert!(from >= checkpointed && from > 0, "restore started at {from}, the standby stood at {checkpointed}");
        assert!(promoted.to >= from, "{promoted:?}");

        produce(&broker, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]).await;
        let seen = read_counts(&broker, &expect(4)).await;
        for (k, v) in &seen {
            assert_eq!(v, &vec![1, 2, 3, 4], "key {k}: counts go on after the failover, each once");
        }
        two.close().await;
        assert_eq!(two.state(), State::NotRunning);
    });
}

#[test]
fn co_partitioned_topics_that_drift_apart_stop_the_application_with_the_assignors_error() {
    let broker = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        create_topic(&broker, "cp-left", 2).await;
        create_topic(&broker, "cp-right", 2).await;
        create_topic(&broker, "cp-out", 2).await;
        let mut t = Topology::new();
        t.add_source("source", &["cp-left", "cp-right"], Serdes::string(), Serdes::string()).expect("source");
        t.add_sink("sink", "cp-out", Serdes::string(), Serdes::string(), &["source"]).expect("sink");
        t.add_copartition_group(["cp-left".to_string(), "cp-right".to_string()].into());
        let dir = tempfile::tempdir().expect("dir");
        let mut props = config(&broker, dir.path());
        props.set("application.id", "copartition-app").expect("application.id");
        props.set("metadata.max.age.ms", "500").expect("metadata.max.age.ms");
        let streams = KafkaStreams::new(t, props).expect("new");
        streams.start().await.expect("start");
        assert!(streams.wait_for_state(State::Running, WAIT).await, "state {}", streams.state());
        let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
        admin.create_partitions("cp-right", 3).await.expect("add a partition");
        assert!(streams.wait_for_state(State::Error, WAIT).await, "state {}", streams.state());
        let error = streams.error().expect("an error").to_string();
        assert!(error.contains("co-partitioned topics have different partition counts"), "{error}");
        assert!(error.contains("cp-left=2") && error.contains("cp-right=3"), "{error}");
        streams.close().await;
    });
}
