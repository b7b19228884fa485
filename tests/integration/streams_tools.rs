//! The command-line tools around Kafka Streams, against a real broker: the
//! console consumer reading Streams-style `Long` counts with Kafka's
//! deserializer classes (and failing or skipping on a payload of the wrong
//! size), `streams-application-reset` (offsets rewound, internal topics
//! deleted, dry run, refusal while the application runs, `--force`), and
//! `run-class` mapping Kafka's Java class names to our tools.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};

use crate::common::{bin_script, ok, run_tool, stderr, stdout, TestBroker};

const WAIT: Duration = Duration::from_secs(30);
const LONG: &str = "org.apache.kafka.common.serialization.LongDeserializer";
const STRING: &str = "org.apache.kafka.common.serialization.StringDeserializer";

fn broker() -> TestBroker {
    TestBroker::start(&["group.initial.rebalance.delay.ms=0", "offsets.topic.replication.factor=1"])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Creates the topics (name, partitions).
fn create_topics(rt: &tokio::runtime::Runtime, bs: &str, topics: &[(&str, i32)]) {
    rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs)).await.expect("admin");
        for (name, partitions) in topics {
            admin.create_topic(NewTopic::new(*name, *partitions), false).await.expect("create topic");
        }
    });
}

/// Sends (partition, key, value) records and waits for each to be written.
fn produce(rt: &tokio::runtime::Runtime, bs: &str, topic: &str, records: &[(i32, &str, Vec<u8>)]) {
    rt.block_on(async {
        let producer = Producer::new(ProducerConfig::new(bs)).await.expect("producer");
        for (p, key, value) in records {
            let r = ProducerRecord::new(topic, value.clone()).key(key.to_string()).partition(*p);
            producer.send(r).await.expect("send").await.expect("delivered");
        }
        producer.close().await.expect("close producer");
    });
}

#[test]
fn console_consumer_prints_long_counts_and_stops_on_a_payload_of_the_wrong_size() {
    let b = broker();
    let bs = b.bootstrap();
    let rt = runtime();
    create_topics(&rt, &bs, &[("streams-wordcount-output", 1)]);
    let long = |n: i64| n.to_be_bytes().to_vec();
    produce(
        &rt,
        &bs,
        "streams-wordcount-output",
        &[(0, "kafka", long(3)), (0, "streams", long(-1)), (0, "bad", b"abc".to_vec()), (0, "after", long(5))],
    );
    // The quickstart's command (with a stop after two records).
    let quickstart = [
        "--topic",
        "streams-wordcount-output",
        "--from-beginning",
        "--formatter",
        "kafka.tools.DefaultMessageFormatter",
        "--property",
        "print.key=true",
        "--property",
        "print.value=true",
        "--property",
        &format!("key.deserializer={STRING}"),
        "--property",
        &format!("value.deserializer={LONG}"),
    ];
    let out = run_tool("console-consumer", &bs, &[&quickstart[..], &["--max-messages", "2"]].concat());
    assert_eq!(ok(out), "kafka\t3\nstreams\t-1\n");

    // The 3-byte value stops the consumer after what came before it, with
    // Kafka's message naming the size, and exit code 1.
    let out = run_tool("console-consumer", &bs, &[&quickstart[..], &["--timeout-ms", "20000"]].concat());
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "kafka\t3\nstreams\t-1\n");
    assert!(stderr(&out).contains("Size of data received by LongDeserializer is not 8"), "stderr:\n{}", stderr(&out));

    // Skipped with --skip-message-on-error; the flag forms and Kafka 3.7's
    // formatter class name work too.
    let out = run_tool(
        "console-consumer",
        &bs,
        &[
            "--topic",
            "streams-wordcount-output",
            "--from-beginning",
            "--formatter",
            "org.apache.kafka.tools.consumer.DefaultMessageFormatter",
            "--property",
            "print.key=true",
            "--key-deserializer",
            STRING,
            "--value-deserializer",
            LONG,
            "--skip-message-on-error",
            "--max-messages",
            "4",
        ],
    );
    let err = stderr(&out);
    assert_eq!(ok(out), "kafka\t3\nstreams\t-1\nafter\t5\n");
    assert!(err.contains("skipping this message") && err.contains("LongDeserializer"), "stderr:\n{err}");

    // An unknown class is a usage error naming it and what is supported.
    let out = run_tool(
        "console-consumer",
        &bs,
        &["--topic", "streams-wordcount-output", "--property", "value.deserializer=com.example.AvroDeserializer"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("com.example.AvroDeserializer") && err.contains("LongDeserializer"), "stderr:\n{err}");
}

fn reset_tool(bs: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = bin_script("kafka-streams-application-reset.sh");
    cmd.args(["--bootstrap-server", bs]).args(args);
    cmd.output().expect("run kafka-streams-application-reset.sh")
}

fn committed(rt: &tokio::runtime::Runtime, bs: &str, group: &str) -> BTreeMap<TopicPartition, i64> {
    rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs)).await.expect("admin");
        let offsets = admin.list_group_offsets(group, None).await.expect("group offsets");
        offsets.into_iter().map(|(tp, c)| (tp, c.offset)).collect()
    })
}

fn commit(rt: &tokio::runtime::Runtime, bs: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs)).await.expect("admin");
        let offsets = offsets.iter().map(|(t, p, o)| (TopicPartition::new(*t, *p), *o)).collect();
        admin.alter_group_offsets(group, &offsets).await.expect("commit");
    });
}

fn topics(rt: &tokio::runtime::Runtime, bs: &str) -> Vec<String> {
    rt.block_on(async {
        let admin = Admin::connect(ClientConfig::new(bs)).await.expect("admin");
        admin.list_topics(false).await.expect("list topics")
    })
}

fn offsets(pairs: &[(&str, i32, i64)]) -> BTreeMap<TopicPartition, i64> {
    pairs.iter().map(|(t, p, o)| (TopicPartition::new(*t, *p), *o)).collect()
}

#[test]
fn streams_reset_rewinds_inputs_and_deletes_internal_topics() {
    let b = broker();
    let bs = b.bootstrap();
    let rt = runtime();
    create_topics(
        &rt,
        &bs,
        &[
            ("in", 2),
            ("inter", 1),
            ("app-counts-changelog", 1),
            ("app-x-repartition", 1),
            ("other-counts-changelog", 1),
        ],
    );
    let v = || b"v".to_vec();
    produce(&rt, &bs, "in", &[(0, "a", v()), (0, "b", v()), (0, "c", v()), (1, "d", v()), (1, "e", v())]);
    produce(&rt, &bs, "inter", &[(0, "a", v()), (0, "b", v())]);
    commit(&rt, &bs, "app", &[("in", 0, 3), ("in", 1, 2), ("inter", 0, 0)]);
    let before = committed(&rt, &bs, "app");
    assert_eq!(before, offsets(&[("in", 0, 3), ("in", 1, 2), ("inter", 0, 0)]));

    // A dry run says what it would do and changes nothing.
    let args = ["--application-id", "app", "--input-topics", "in", "--intermediate-topics", "inter"];
    let out = ok(reset_tool(&bs, &[&args[..], &["--dry-run"]].concat()));
    for line in [
        "----Dry run displays the actions which will be performed when running Streams Reset Tool----",
        "Reset-offsets for input topics [in]",
        "Following input topics offsets will be reset to (for consumer group app)",
        "Topic: in Partition: 0 Offset: 0",
        "Topic: in Partition: 1 Offset: 0",
        "Following intermediate topics offsets will be reset to end (for consumer group app)",
        "Deleting inferred internal topics [app-counts-changelog, app-x-repartition]",
        "Done.",
    ] {
        assert!(out.lines().any(|l| l == line), "no line '{line}' in:\n{out}");
    }
    assert_eq!(committed(&rt, &bs, "app"), before, "a dry run commits nothing");
    let present = topics(&rt, &bs);
    assert!(present.contains(&"app-counts-changelog".to_string()), "a dry run deletes nothing: {present:?}");

    // The reset: inputs to the earliest offset, intermediate to the end,
    // the application's internal topics deleted and nothing else.
    let out = ok(reset_tool(&bs, &args));
    assert!(out.contains("Topic: in Partition: 1 Offset: 0"), "{out}");
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 0), ("in", 1, 0), ("inter", 0, 2)]));
    let deadline = Instant::now() + WAIT;
    loop {
        let present = topics(&rt, &bs);
        let internal_left = present.iter().any(|t| t == "app-counts-changelog" || t == "app-x-repartition");
        if !internal_left {
            for kept in ["in", "inter", "other-counts-changelog"] {
                assert!(present.contains(&kept.to_string()), "{kept} must stay: {present:?}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "internal topics still there: {present:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Other reset options: --to-offset (kept within the log) and --shift-by.
    ok(reset_tool(&bs, &["--application-id", "app", "--input-topics", "in", "--to-offset", "2"]));
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 2), ("in", 1, 2), ("inter", 0, 2)]));
    ok(reset_tool(&bs, &["--application-id", "app", "--input-topics", "in", "--shift-by", "-1"]));
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 1), ("in", 1, 1), ("inter", 0, 2)]));

    // --from-file plans and --by-duration (every record is younger than a day).
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.csv");
    std::fs::write(&plan, "in,0,1\nin,1,2\n").expect("write plan");
    let plan = plan.to_str().expect("utf-8 path");
    ok(reset_tool(&bs, &["--application-id", "app", "--input-topics", "in", "--from-file", plan]));
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 1), ("in", 1, 2), ("inter", 0, 2)]));
    ok(reset_tool(&bs, &["--application-id", "app", "--input-topics", "in", "--by-duration", "P1D"]));
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 0), ("in", 1, 0), ("inter", 0, 2)]));

    // A missing input topic is reported, exits 1, and does not stop the rest.
    let out = reset_tool(&bs, &["--application-id", "app", "--input-topics", "nope,in", "--to-latest"]);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Following input topics are not found, skipping them\nTopic: nope"), "{text}");
    assert_eq!(committed(&rt, &bs, "app"), offsets(&[("in", 0, 3), ("in", 1, 2), ("inter", 0, 2)]));

    // --internal-topics must name internal topics of the application.
    let out = reset_tool(&bs, &["--application-id", "app", "--internal-topics", "in"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--internal-topics"), "{}", stderr(&out));
}

#[test]
fn streams_reset_refuses_while_the_application_runs_unless_forced() {
    let b = broker();
    let bs = b.bootstrap();
    let rt = runtime();
    create_topics(&rt, &bs, &[("live-in", 1)]);
    produce(&rt, &bs, "live-in", &[(0, "a", b"1".to_vec()), (0, "b", b"2".to_vec())]);
    commit(&rt, &bs, "live", &[("live-in", 0, 2)]);

    // A member of the application's group, as a running instance would be.
    let mut consumer = rt.block_on(async {
        let mut cfg = ConsumerConfig::new(bs.clone());
        cfg.set("group.id", "live").expect("group.id");
        cfg.set("enable.auto.commit", "false").expect("auto commit");
        let mut c = Consumer::new(cfg).await.expect("consumer");
        c.subscribe(vec!["live-in".to_string()]).await.expect("subscribe");
        let deadline = Instant::now() + WAIT;
        while c.assignment().is_empty() {
            assert!(Instant::now() < deadline, "the consumer never got its partition");
            c.poll(Duration::from_millis(200)).await.expect("poll");
        }
        c
    });

    let args = ["--application-id", "live", "--input-topics", "live-in"];
    let out = reset_tool(&bs, &args);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Consumer group 'live' is still active") && err.contains("--force"), "stderr:\n{err}");
    assert_eq!(committed(&rt, &bs, "live"), offsets(&[("live-in", 0, 2)]), "nothing reset");

    // --force removes the member, then resets.
    let out = ok(reset_tool(&bs, &[&args[..], &["--force"]].concat()));
    assert!(out.contains("Force deleting all active members in the group: live"), "{out}");
    assert_eq!(committed(&rt, &bs, "live"), offsets(&[("live-in", 0, 0)]));
    rt.block_on(async {
        // The removed member finds out at its next poll; closing it may fail.
        let _ = consumer.poll(Duration::from_millis(10)).await;
        let _ = consumer.close().await;
    });
}

#[test]
fn run_class_maps_kafka_classes_to_tools() {
    let b = broker();
    let bs = b.bootstrap();
    let rt = runtime();
    create_topics(&rt, &bs, &[("rc-topic", 1)]);
    for class in ["kafka.admin.TopicCommand", "org.apache.kafka.tools.TopicCommand"] {
        let out = bin_script("kafka-run-class.sh")
            .args(["-name", "topics", "-loggc", class, "--bootstrap-server", &bs, "--list"])
            .output()
            .expect("run kafka-run-class.sh");
        assert!(ok(out).lines().any(|l| l == "rc-topic"), "{class} --list lists the topic");
    }
    let out =
        bin_script("kafka-run-class.sh").args(["kafka.tools.JmxTool", "--object-name", "x"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Error: Could not find or load main class kafka.tools.JmxTool"), "stderr:\n{err}");
    assert!(err.contains("kafka.admin.TopicCommand"), "the hint lists the classes:\n{err}");
    let out = bin_script("kafka-run-class.sh").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("USAGE: kafka-run-class.sh"), "{}", stderr(&out));
}
