//! Scenario 5 of the quickstart end to end: the word count demo run the way
//! the tutorial runs it (`bin/kafka-run-class.sh ...WordCountDemo`, topics
//! made and fed with the `bin/` scripts, counts read back by the console
//! consumer with Kafka's deserializer classes and by librdkafka), and two
//! `gregor streams word-count` instances sharing the work while one is
//! killed with SIGKILL — exact counts under exactly_once_v2, nothing lost
//! under at_least_once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gregor::client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, SeekTo};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::common::{bin_script, gregor_bin, ok, pipe_into, stderr, stdout, ChildGuard as Guard, TestBroker};

const WAIT: Duration = Duration::from_secs(180);
const DEMO: &str = "org.apache.kafka.streams.examples.wordcount.WordCountDemo";

fn broker() -> TestBroker {
    TestBroker::start(&[
        "group.initial.rebalance.delay.ms=0",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
    ])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn create_topic(bs: &str, topic: &str, partitions: u32) {
    ok(bin_script("kafka-topics.sh")
        .args(["--create", "--bootstrap-server", bs, "--replication-factor", "1"])
        .args(["--partitions", &partitions.to_string(), "--topic", topic])
        .output()
        .expect("kafka-topics.sh"));
}

/// A line of words per round, as a console producer would send them (no key).
async fn produce_lines(bs: &str, topic: &str, lines: &[String]) {
    let producer = Producer::new(ProducerConfig::new(bs)).await.expect("producer");
    let mut pending = Vec::new();
    for line in lines {
        pending.push(producer.send(ProducerRecord::new(topic, line.clone().into_bytes())).await.expect("send"));
    }
    for p in pending {
        p.await.expect("delivered");
    }
    producer.close().await.expect("close");
}

/// Reads every (word, count) of `topic` in `isolation` until `done` holds
/// for what was read; returns each word's counts in the order read.
async fn read_counts(
    bs: &str,
    topic: &str,
    isolation: &str,
    done: impl Fn(&BTreeMap<String, Vec<i64>>) -> bool,
) -> BTreeMap<String, Vec<i64>> {
    let mut c = ConsumerConfig::new(bs);
    c.set("isolation.level", isolation).expect("isolation");
    c.set("fetch.max.wait.ms", "100").expect("wait");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    let parts = consumer.partitions_for(topic).await.expect("partitions");
    consumer.assign(parts.iter().map(|p| (topic.to_string(), *p)).collect()).await.expect("assign");
    for p in &parts {
        consumer.seek(topic, *p, SeekTo::Beginning).await.expect("seek");
    }
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    let mut quiet_polls = 0;
    // Until done, then two more polls so that nothing beyond shows up.
    while quiet_polls < 2 {
        assert!(Instant::now() < deadline, "counts on {topic} never completed; seen {seen:?}");
        let records = consumer.poll(Duration::from_millis(500)).await.expect("poll");
        for r in records {
            let key = String::from_utf8(r.key.expect("a word as key").to_vec()).expect("utf8");
            let v = r.value.expect("a count");
            seen.entry(key).or_default().push(i64::from_be_bytes(v[..].try_into().expect("an 8-byte Long")));
        }
        if done(&seen) {
            quiet_polls += 1;
        }
    }
    seen
}

#[test]
fn the_quickstart_word_count_runs_verbatim_and_prints_kafkas_counts() {
    let b = broker();
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    create_topic(&bs, "streams-plaintext-input", 1);
    let sent = pipe_into(
        {
            let mut c = bin_script("kafka-console-producer.sh");
            c.args(["--broker-list", &bs, "--topic", "streams-plaintext-input"]);
            c
        },
        "all streams lead to kafka\nhello kafka streams\njoin kafka summit\n",
    );
    ok(sent);
    // The demo's optional argument: a properties file (here: where the broker and state are).
    let props = dir.path().join("streams.properties");
    std::fs::write(&props, format!("bootstrap.servers={bs}\nstate.dir={}\n", dir.path().join("state").display()))
        .expect("properties");
    let log = std::fs::File::create(dir.path().join("demo.log")).expect("log");
    let mut demo = Guard(Some(
        bin_script("kafka-run-class.sh")
            .args([DEMO, &props.display().to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run the demo"),
    ));
    let out = bin_script("kafka-console-consumer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "streams-wordcount-output", "--from-beginning"])
        .args(["--formatter", "kafka.tools.DefaultMessageFormatter"])
        .args(["--property", "print.key=true", "--property", "print.value=true"])
        .args(["--property", "key.deserializer=org.apache.kafka.common.serialization.StringDeserializer"])
        .args(["--property", "value.deserializer=org.apache.kafka.common.serialization.LongDeserializer"])
        .args(["--max-messages", "11", "--timeout-ms", "120000"])
        .output()
        .expect("console consumer");
    let printed = stdout(&out);
    let demo_log = || std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            "all\t1",
            "streams\t1",
            "lead\t1",
            "to\t1",
            "kafka\t1",
            "hello\t1",
            "kafka\t2",
            "streams\t2",
            "join\t1",
            "kafka\t3",
            "summit\t1"
        ],
        "console consumer stderr:\n{}\ndemo log:\n{}",
        stderr(&out),
        demo_log()
    );
    // librdkafka reads the same counts as 8-byte big-endian Longs.
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "rdkafka-reads-counts")
        .set("enable.auto.commit", "false")
        .create()
        .expect("rdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("streams-wordcount-output", 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut read = 0;
    let deadline = Instant::now() + WAIT;
    while read < 11 {
        assert!(Instant::now() < deadline, "librdkafka read {read} of 11 records");
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("message");
            let word = String::from_utf8(m.key().expect("key").to_vec()).expect("utf8");
            let count = i64::from_be_bytes(m.payload().expect("value").try_into().expect("an 8-byte Long"));
            last.insert(word, count);
            read += 1;
        }
    }
    let expected: BTreeMap<String, i64> =
        [("all", 1), ("hello", 1), ("join", 1), ("kafka", 3), ("lead", 1), ("streams", 2), ("summit", 1), ("to", 1)]
            .iter()
            .map(|(w, n)| (w.to_string(), *n))
            .collect();
    assert_eq!(last, expected);
    // SIGTERM closes the application cleanly: exit 0, offsets committed, a checkpoint written.
    assert_eq!(demo.terminate(WAIT), Some(0), "demo log:\n{}", demo_log());
    let state = dir.path().join("state").join("streams-wordcount");
    let checkpoints = walk(&state).into_iter().filter(|p| p.ends_with(".checkpoint")).count();
    assert!(checkpoints >= 1, "no checkpoint under {}", state.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Starts `gregor streams word-count` with quick failure detection.
fn word_count_instance(bs: &str, state: &Path, guarantee: &str, log: &Path) -> Guard {
    let log = std::fs::File::create(log).expect("log");
    Guard(Some(
        Command::new(gregor_bin())
            .args(["streams", "word-count", "--bootstrap-server", bs])
            .args(["--state-dir", &state.display().to_string(), "--processing-guarantee", guarantee])
            .args(["--property", "commit.interval.ms=100", "--property", "poll.ms=50"])
            .args(["--property", "session.timeout.ms=6000", "--property", "heartbeat.interval.ms=1000"])
            .args(["--property", "producer.transaction.timeout.ms=10000"])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start word count"),
    ))
}

/// Two instances count words of 2 partitions; one is killed with SIGKILL
/// in the middle; the survivor finishes. Returns each word's counts in the
/// order read, and how many times each word was sent.
fn two_instances_one_killed(guarantee: &str, isolation: &str) -> (BTreeMap<String, Vec<i64>>, i64) {
    let b = broker();
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    create_topic(&bs, "streams-plaintext-input", 2);
    create_topic(&bs, "streams-wordcount-output", 2);
    let rt = runtime();
    let logs = [dir.path().join("one.log"), dir.path().join("two.log")];
    let mut one = word_count_instance(&bs, &dir.path().join("s1"), guarantee, &logs[0]);
    let mut two = word_count_instance(&bs, &dir.path().join("s2"), guarantee, &logs[1]);
    let words: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
    let rounds = 30i64;
    let round = |r: i64| -> Vec<String> {
        // Each round sends every word once, spread over lines.
        words.chunks(3).map(|c| format!("{} r{r}", c.join(" ").to_uppercase())).collect()
    };
    let logs_text =
        || logs.iter().map(|l| std::fs::read_to_string(l).unwrap_or_default()).collect::<Vec<_>>().join("\n---\n");
    rt.block_on(async {
        for r in 0..rounds / 2 {
            produce_lines(&bs, "streams-plaintext-input", &round(r)).await;
        }
        // Both instances are at work (each word counted through round `rounds/2`) before one dies.
        let half = rounds / 2;
        read_counts(&bs, "streams-wordcount-output", "read_uncommitted", |seen| {
            words.iter().all(|w| seen.get(w).and_then(|v| v.iter().max()).is_some_and(|n| *n >= half))
        })
        .await;
        one.kill_9();
        for r in rounds / 2..rounds {
            produce_lines(&bs, "streams-plaintext-input", &round(r)).await;
        }
    });
    let seen = rt.block_on(read_counts(&bs, "streams-wordcount-output", isolation, |seen| {
        words.iter().all(|w| seen.get(w).and_then(|v| v.iter().max()).is_some_and(|n| *n >= rounds))
    }));
    assert_eq!(two.terminate(WAIT), Some(0), "logs:\n{}", logs_text());
    let mut seen = seen;
    // The round tags ("r0", "r1", ...) are words too; only the w-words are checked.
    seen.retain(|w, _| w.starts_with('w'));
    assert_eq!(seen.len(), words.len(), "{seen:?}");
    (seen, rounds)
}

#[test]
fn word_count_is_exact_under_exactly_once_when_an_instance_is_killed() {
    let (seen, rounds) = two_instances_one_killed("exactly_once_v2", "read_committed");
    for (word, counts) in &seen {
        assert_eq!(counts, &(1..=rounds).collect::<Vec<_>>(), "{word}: every count once, in order");
    }
}

#[test]
fn word_count_loses_nothing_under_at_least_once_when_an_instance_is_killed() {
    let (seen, rounds) = two_instances_one_killed("at_least_once", "read_uncommitted");
    for (word, counts) in &seen {
        // Records processed again after the crash may count twice; none may be missing.
        assert!(counts.last().is_some_and(|n| *n >= rounds), "{word}: {counts:?}");
        assert!(counts.starts_with(&[1]), "{word}: {counts:?}");
    }
}

#[test]
fn the_demo_reads_the_010_quickstart_topic_when_only_that_one_exists() {
    let b = broker();
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    create_topic(&bs, "streams-file-input", 1);
    ok(pipe_into(
        {
            let mut c = bin_script("kafka-console-producer.sh");
            c.args(["--broker-list", &bs, "--topic", "streams-file-input"]);
            c
        },
        "hello kafka\n",
    ));
    let props = dir.path().join("streams.properties");
    std::fs::write(&props, format!("bootstrap.servers={bs}\nstate.dir={}\n", dir.path().join("state").display()))
        .expect("properties");
    let mut demo = Guard(Some(
        bin_script("kafka-run-class.sh")
            .args([DEMO, &props.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run the demo"),
    ));
    let out = bin_script("kafka-console-consumer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "streams-wordcount-output", "--from-beginning"])
        .args(["--property", "print.key=true"])
        .args(["--property", "value.deserializer=org.apache.kafka.common.serialization.LongDeserializer"])
        .args(["--max-messages", "2", "--timeout-ms", "120000"])
        .output()
        .expect("console consumer");
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), ["hello\t1", "kafka\t1"], "{}", stderr(&out));
    assert_eq!(demo.terminate(WAIT), Some(0));
}
