//! The Streams runtime against real brokers: a counting topology built with
//! the processor API (a logged key-value store) run by `KafkaStreams` —
//! exact counts, restoration from the changelog after the state directory
//! is lost, two instances sharing and handing over tasks, exactly-once
//! output after an instance dies mid-stream, Kafka's internal topic names
//! and configs, and the deserialization exception handlers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord,
};
use gregor::streams::processor::{processor, Processor, ProcessorContext, Record};
use gregor::streams::runtime::{KafkaStreams, State, StreamsConfig};
use gregor::streams::serde::Serdes;
use gregor::streams::state::StoreSpec;
use gregor::streams::topology::Topology;
use gregor::streams::{Result as StreamsResult, TaskId};

use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(120);

/// Counts records per key in the store "counts" and forwards the new count.
pub(crate) struct Count;

impl Processor<String, String, String, i64> for Count {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, r: Record<String, String>) -> StreamsResult<()> {
        let n = {
            let mut store = ctx.kv_store::<String, i64>("counts")?;
            let n = store.get(&r.key)?.unwrap_or(0) + 1;
            store.put(&r.key, &n)?;
            n
        };
        ctx.forward(r.with_value(n))
    }
}

/// input (String, String) → count per key (persistent, logged store) → output (String, Long).
pub(crate) fn counting_topology(input: &str, output: &str) -> Topology {
    let mut t = Topology::new();
    t.add_source("source", &[input], Serdes::string(), Serdes::string()).expect("source");
    t.add_processor("count", processor("count", || Count), &["source"]).expect("processor");
    t.add_state_store(StoreSpec::key_value("counts", Serdes::string(), Serdes::long()), &["count"]).expect("store");
    t.add_sink("sink", output, Serdes::string(), Serdes::long(), &["count"]).expect("sink");
    t
}

fn broker() -> TestBroker {
    TestBroker::start(&[
        "group.initial.rebalance.delay.ms=0",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
    ])
}

fn streams_config(
    broker: &TestBroker,
    app: &str,
    state_dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> StreamsConfig {
    let mut props: BTreeMap<String, String> = [
        ("application.id", app),
        ("bootstrap.servers", &broker.bootstrap()),
        ("state.dir", &state_dir.display().to_string()),
        ("commit.interval.ms", "200"),
        ("poll.ms", "50"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("fetch.max.wait.ms", "100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    StreamsConfig::from_props(props).expect("config")
}

async fn admin(broker: &TestBroker) -> Admin {
    Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin")
}

async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    admin(broker).await.create_topic(NewTopic::new(name, partitions), false).await.expect("create topic");
}

/// Writes `(key, value)` records, keyed, so each key stays on one partition.
async fn produce(broker: &TestBroker, topic: &str, records: &[(&str, Vec<u8>)]) {
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
    let mut futures = Vec::new();
    for (k, v) in records {
        futures.push(producer.send(ProducerRecord::new(topic, v.clone()).key(k.to_string())).await.expect("send"));
    }
    for f in futures {
        f.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

fn words(keys: &[(&str, usize)]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for (k, n) in keys {
        let k: &'static str = Box::leak(k.to_string().into_boxed_str());
        for i in 0..*n {
            out.push((k, format!("v{i}").into_bytes()));
        }
    }
    out
}

/// Reads `topic` (all partitions, from the beginning, in `isolation`)
/// until the last count of every key in `expected` is reached; returns
/// every (key, count) in the order read per key.
async fn read_counts(
    broker: &TestBroker,
    topic: &str,
    isolation: &str,
    expected: &BTreeMap<String, i64>,
) -> BTreeMap<String, Vec<i64>> {
    let mut c = ConsumerConfig::new(broker.bootstrap());
    c.set("isolation.level", isolation).expect("isolation");
    c.set("fetch.max.wait.ms", "100").expect("wait");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    let parts = consumer.partitions_for(topic).await.expect("partitions");
    consumer.assign(parts.iter().map(|p| (topic.to_string(), *p)).collect()).await.expect("assign");
    for p in &parts {
        consumer.seek(topic, *p, gregor::client::SeekTo::Beginning).await.expect("seek");
    }
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    let done =
        |seen: &BTreeMap<String, Vec<i64>>| expected.iter().all(|(k, n)| seen.get(k).and_then(|v| v.last()) == Some(n));
    while !done(&seen) {
        assert!(Instant::now() < deadline, "counts on {topic} never reached {expected:?}; seen {seen:?}");
        for r in consumer.poll(Duration::from_millis(300)).await.expect("poll") {
            let key = String::from_utf8(r.key.expect("key").to_vec()).expect("utf8");
            let v = r.value.expect("value");
            let n = i64::from_be_bytes(v[..].try_into().expect("8 bytes"));
            seen.entry(key).or_default().push(n);
        }
    }
    // A little longer: nothing beyond the expected counts shows up.
    for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
        let key = String::from_utf8(r.key.expect("key").to_vec()).expect("utf8");
        let n = i64::from_be_bytes(r.value.expect("value")[..].try_into().expect("8 bytes"));
        seen.entry(key).or_default().push(n);
    }
    seen
}

fn expect(kv: &[(&str, i64)]) -> BTreeMap<String, i64> {
    kv.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn counts_are_exact_and_restored_from_the_changelog_when_the_state_directory_is_lost() {
    let broker = broker();
    let rt = runtime();
    rt.block_on(async {
        create_topic(&broker, "words", 2).await;
        create_topic(&broker, "word-counts", 2).await;
        let state = tempfile::tempdir().expect("state dir");
        let config = streams_config(&broker, "wc", state.path(), &[]);
        let streams = KafkaStreams::new(counting_topology("words", "word-counts"), config.clone()).expect("new");
        assert_eq!(streams.state(), State::Created);
        streams.start().await.expect("start");
        assert!(streams.wait_for_state(State::Running, WAIT).await, "state {}", streams.state());
        assert_eq!(
            streams.local_active_tasks(),
            [TaskId { subtopology: 0, partition: 0 }, TaskId { subtopology: 0, partition: 1 }].into_iter().collect()
        );
        produce(&broker, "words", &words(&[("a", 3), ("b", 5), ("c", 1), ("d", 4)])).await;
        let seen =
            read_counts(&broker, "word-counts", "read_uncommitted", &expect(&[("a", 3), ("b", 5), ("c", 1), ("d", 4)]))
                .await;
        for (k, v) in &seen {
            let n = *v.last().expect("count");
            assert_eq!(v, &(1..=n).collect::<Vec<_>>(), "key {k}: each count once, in order");
        }
        // Internal topics: Kafka's names, compaction, one partition per task.
        let a = admin(&broker).await;
        let d = a.describe_topics(Some(&["wc-counts-changelog".to_string()])).await.expect("changelog exists");
        assert_eq!(d[0].partitions.len(), 2);
        let configs = a.describe_topic_configs("wc-counts-changelog").await.expect("configs");
        let policy = configs.iter().find(|c| c.name == "cleanup.policy").and_then(|c| c.value.clone());
        assert_eq!(policy.as_deref(), Some("compact"));
        let pid = streams.process_id().expect("process id");
        streams.close().await;
        assert_eq!(streams.state(), State::NotRunning);
        let file = state.path().join("wc").join("kafka-streams-process-metadata");
        assert!(std::fs::read_to_string(&file).expect("process file").contains(&pid.to_string()));
        assert!(state.path().join("wc").join("0_0").join(".checkpoint").exists(), "checkpoint written on close");

        // The state directory is lost; the counts come back from the changelog.
        streams.cleanup().expect("cleanup while not running");
        assert!(!state.path().join("wc").join("0_0").exists());
        let streams = KafkaStreams::new(counting_topology("words", "word-counts"), config).expect("new");
        streams.start().await.expect("start again");
        assert!(streams.wait_for_state(State::Running, WAIT).await);
        produce(&broker, "words", &words(&[("a", 2), ("c", 1)])).await;
        let seen =
            read_counts(&broker, "word-counts", "read_uncommitted", &expect(&[("a", 5), ("b", 5), ("c", 2), ("d", 4)]))
                .await;
        assert_eq!(seen["a"], vec![1, 2, 3, 4, 5]);
        assert_eq!(seen["c"], vec![1, 2]);
        streams.close().await;
    });
}

#[test]
fn two_instances_share_the_tasks_and_one_takes_over_when_the_other_closes() {
    let broker = broker();
    let rt = runtime();
    rt.block_on(async {
        create_topic(&broker, "in2", 2).await;
        create_topic(&broker, "out2", 2).await;
        let (s1, s2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let one = KafkaStreams::new(counting_topology("in2", "out2"), streams_config(&broker, "share", s1.path(), &[]))
            .expect("one");
        one.start().await.expect("start one");
        assert!(one.wait_for_state(State::Running, WAIT).await);
        produce(&broker, "in2", &words(&[("a", 2), ("b", 2), ("c", 2), ("d", 2)])).await;
        read_counts(&broker, "out2", "read_uncommitted", &expect(&[("a", 2), ("b", 2), ("c", 2), ("d", 2)])).await;
        let two = KafkaStreams::new(counting_topology("in2", "out2"), streams_config(&broker, "share", s2.path(), &[]))
            .expect("two");
        two.start().await.expect("start two");
        // Both run one task each once the group settled.
        let deadline = Instant::now() + WAIT;
        while !(one.local_active_tasks().len() == 1
            && two.local_active_tasks().len() == 1
            && one.state() == State::Running
            && two.state() == State::Running)
        {
            assert!(Instant::now() < deadline, "tasks {:?} / {:?}", one.local_active_tasks(), two.local_active_tasks());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        produce(&broker, "in2", &words(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)])).await;
        read_counts(&broker, "out2", "read_uncommitted", &expect(&[("a", 3), ("b", 3), ("c", 3), ("d", 3)])).await;
        one.close().await;
        let deadline = Instant::now() + WAIT;
        while two.local_active_tasks().len() != 2 || two.state() != State::Running {
            assert!(Instant::now() < deadline, "two has {:?}", two.local_active_tasks());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        produce(&broker, "in2", &words(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)])).await;
        let seen =
            read_counts(&broker, "out2", "read_uncommitted", &expect(&[("a", 4), ("b", 4), ("c", 4), ("d", 4)])).await;
        for (k, v) in &seen {
            assert_eq!(v, &vec![1, 2, 3, 4], "key {k}: commits on revocation leave no duplicates");
        }
        two.close().await;
    });
}

#[test]
fn exactly_once_output_is_exact_after_an_instance_dies_mid_stream() {
    let broker = broker();
    let main = runtime();
    main.block_on(async {
        create_topic(&broker, "in-eos", 2).await;
        create_topic(&broker, "out-eos", 2).await;
    });
    let (s1, s2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let eos = [("processing.guarantee", "exactly_once_v2")];
    // The first instance runs on its own runtime, dropped without a close.
    let mut doomed_rt = Some(runtime());
    let doomed = doomed_rt.as_ref().expect("runtime").block_on(async {
        let s =
            KafkaStreams::new(counting_topology("in-eos", "out-eos"), streams_config(&broker, "eos", s1.path(), &eos))
                .expect("one");
        s.start().await.expect("start");
        assert!(s.wait_for_state(State::Running, WAIT).await);
        s
    });
    main.block_on(async {
        let two =
            KafkaStreams::new(counting_topology("in-eos", "out-eos"), streams_config(&broker, "eos", s2.path(), &eos))
                .expect("two");
        two.start().await.expect("start two");
        let deadline = Instant::now() + WAIT;
        while !(doomed.local_active_tasks().len() == 1 && two.local_active_tasks().len() == 1) {
            assert!(
                Instant::now() < deadline,
                "tasks {:?} / {:?}",
                doomed.local_active_tasks(),
                two.local_active_tasks()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A stream in rounds; the first instance dies in the middle.
        let keys = ["a", "b", "c", "d", "e", "f"];
        for round in 0..20 {
            let batch: Vec<(&str, Vec<u8>)> = keys.iter().map(|k| (*k, format!("r{round}").into_bytes())).collect();
            produce(&broker, "in-eos", &batch).await;
            if round == 10 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Some(rt) = doomed_rt.take() {
                    rt.shutdown_background();
                }
            }
        }
        let expected: BTreeMap<String, i64> = keys.iter().map(|k| (k.to_string(), 20)).collect();
        let seen = read_counts(&broker, "out-eos", "read_committed", &expected).await;
        for (k, v) in &seen {
            assert_eq!(v, &(1..=20).collect::<Vec<_>>(), "key {k}: every count exactly once in read_committed");
        }
        assert_eq!(two.local_active_tasks().len(), 2);
        two.close().await;
        assert_eq!(two.state(), State::NotRunning);
    });
    drop(doomed);
}

#[test]
fn deserialization_errors_are_skipped_or_fail_the_app_per_handler_and_missing_topics_are_an_error() {
    let broker = broker();
    let rt = runtime();
    rt.block_on(async {
        create_topic(&broker, "nums", 1).await;
        create_topic(&broker, "nums-out", 1).await;
        // Values are Longs: a 3-byte value cannot be one.
        let t = |_app: &str| {
            let mut t = Topology::new();
            t.add_source("source", &["nums"], Serdes::string(), Serdes::long()).expect("source");
            t.add_sink("sink", "nums-out", Serdes::string(), Serdes::long(), &["source"]).expect("sink");
            t
        };
        produce(
            &broker,
            "nums",
            &[("k", 1i64.to_be_bytes().to_vec()), ("k", b"bad".to_vec()), ("k", 3i64.to_be_bytes().to_vec())],
        )
        .await;
        let dir = tempfile::tempdir().expect("dir");
        let skip = KafkaStreams::new(
            t("skip"),
            streams_config(
                &broker,
                "skip",
                dir.path(),
                &[(
                    "default.deserialization.exception.handler",
                    "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
                )],
            ),
        )
        .expect("skip");
        skip.start().await.expect("start");
        let seen = read_counts(&broker, "nums-out", "read_uncommitted", &expect(&[("k", 3)])).await;
        assert_eq!(seen["k"], vec![1, 3], "the bad record is skipped");
        assert_eq!(skip.state(), State::Running);
        skip.close().await;

        let fail = KafkaStreams::new(t("fail"), streams_config(&broker, "fail", dir.path(), &[])).expect("fail");
        fail.start().await.expect("start");
        assert!(fail.wait_for_state(State::Error, WAIT).await, "state {}", fail.state());
        let err = fail.error().expect("the cause").to_string();
        assert!(err.contains("deserialization"), "{err}");

        let mut missing = Topology::new();
        missing.add_source("source", &["no-such-topic"], Serdes::string(), Serdes::string()).expect("source");
        missing.add_sink("sink", "nums-out", Serdes::string(), Serdes::string(), &["source"]).expect("sink");
        let m = KafkaStreams::new(missing, streams_config(&broker, "missing", dir.path(), &[])).expect("new");
        let err = m.start().await.expect_err("missing source topic").to_string();
        assert!(err.contains("source topics were missing"), "{err}");
        assert!(err.contains("no-such-topic"), "{err}");
        assert_eq!(m.state(), State::Error);
    });
}

#[test]
fn state_of_tasks_no_longer_here_is_deleted_after_the_cleanup_delay_and_live_tasks_stay() {
    let broker = broker();
    let rt = runtime();
    rt.block_on(async {
        create_topic(&broker, "clean-in", 1).await;
        create_topic(&broker, "clean-out", 1).await;
        let state = tempfile::tempdir().expect("state dir");
        // A task this instance will not get (the input has one partition): left by an earlier owner.
        let stale = state.path().join("cleaner").join("0_7");
        std::fs::create_dir_all(&stale).expect("stale dir");
        std::fs::write(stale.join(".checkpoint"), "0\n0\n").expect("stale checkpoint");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let config = streams_config(&broker, "cleaner", state.path(), &[("state.cleanup.delay.ms", "500")]);
        let streams = KafkaStreams::new(counting_topology("clean-in", "clean-out"), config).expect("new");
        streams.start().await.expect("start");
        assert!(streams.wait_for_state(State::Running, WAIT).await, "state {}", streams.state());
        produce(&broker, "clean-in", &words(&[("a", 2)])).await;
        read_counts(&broker, "clean-out", "read_uncommitted", &expect(&[("a", 2)])).await;
        let deadline = Instant::now() + WAIT;
        while stale.exists() {
            assert!(Instant::now() < deadline, "{} was never cleaned up", stale.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Several cleaner rounds later the live task's state is still there (it is locked).
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let live = state.path().join("cleaner").join("0_0");
        assert!(live.exists(), "the running task's directory was deleted");
        produce(&broker, "clean-in", &words(&[("a", 1)])).await;
        let seen = read_counts(&broker, "clean-out", "read_uncommitted", &expect(&[("a", 3)])).await;
        assert_eq!(seen["a"], vec![1, 2, 3], "the count went on from the live state");
        streams.close().await;
    });
}
