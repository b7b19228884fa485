//! What Kafka Streams costs in gregor: the quickstart's word count
//! (`gregor streams word-count`, release build) against one broker, with
//! librdkafka producing the input and reading the output.
//! - throughput: N lines of 10 words (a 1,000-word vocabulary) on a
//!   4-partition input, counted by one instance and then by two (fresh
//!   application ids), with Kafka's default 10 MB record cache and
//!   commit.interval.ms=1000 (a commit flushes the caches); timed from the
//!   application's start until the output holds every word's final count;
//!   reported as lines/s and words/s (so it includes start-up, the group's
//!   first rebalance and up to one commit interval);
//! - latency through the stateful count: lines of one word produced at a
//!   steady rate, each output count read back; latency = arrival of the
//!   count − the input record's CreateTime (a count carries its input's
//!   timestamp), at p50/p99, for at_least_once and exactly_once_v2
//!   (where counts become visible at each commit, commit.interval.ms=100).
//!
//! Run: `cargo bench --bench streams` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Timestamp;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;

#[allow(dead_code)]
mod common;

use common::start_broker;

const WORDS_PER_LINE: usize = 10;
const VOCABULARY: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(600);

fn scale() -> f64 {
    std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0)
}

fn create_topic(addr: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", addr).create().expect("admin");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let res = rt
        .block_on(
            admin.create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &AdminOptions::new()),
        )
        .expect("create topics");
    for r in res {
        r.expect("topic created");
    }
}

fn producer(addr: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer")
}

fn send(p: &BaseProducer, topic: &str, payload: &[u8], timestamp: Option<i64>) {
    loop {
        let mut rec = BaseRecord::<(), _>::to(topic).payload(payload);
        if let Some(ts) = timestamp {
            rec = rec.timestamp(ts);
        }
        match p.send(rec) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("produce failed: {e}"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One `gregor streams word-count` process; killed on drop.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_app(addr: &str, app_id: &str, input: &str, output: &str, state: &std::path::Path, extra: &[&str]) -> App {
    let child = Command::new(env!("CARGO_BIN_EXE_gregor"))
        .args(["streams", "word-count", "--bootstrap-server", addr, "--input", input, "--output", output])
        .args(["--application-id", app_id])
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn word count");
    App(child)
}

fn consumer(addr: &str, topic: &str, group: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

fn long_value(m: &rdkafka::message::BorrowedMessage<'_>) -> i64 {
    let v = m.payload().expect("a count");
    i64::from_be_bytes(v.try_into().expect("an 8-byte big-endian Long"))
}

/// Produces the input, runs `instances` word counts, returns the time until
/// the output holds every final count.
fn throughput(addr: &str, lines: usize, instances: usize, run: usize) -> Duration {
    let input = format!("wc-in-{run}");
    let output = format!("wc-out-{run}");
    create_topic(addr, &input, 4);
    create_topic(addr, &output, 4);
    let p = producer(addr);
    let mut expected: HashMap<String, i64> = HashMap::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ run as u64;
    for _ in 0..lines {
        let mut line = String::new();
        for w in 0..WORDS_PER_LINE {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word = format!("word{}", x % VOCABULARY as u64);
            *expected.entry(word.clone()).or_default() += 1;
            if w > 0 {
                line.push(' ');
            }
            line.push_str(&word);
        }
        send(&p, &input, line.as_bytes(), None);
    }
    p.flush(TIMEOUT).expect("input delivered");
    let state = tempfile::tempdir().expect("tempdir");
    let app_id = format!("wc-bench-{run}");
    let started = Instant::now();
    let apps: Vec<App> = (0..instances)
        .map(|i| {
            let dir = state.path().join(i.to_string());
            // Kafka's default record cache; commits (which flush the caches) every second.
            let props = ["--property", "cache.max.bytes.buffering=10485760", "--property", "commit.interval.ms=1000"];
            start_app(addr, &app_id, &input, &output, &dir, &props)
        })
        .collect();
    let c = consumer(addr, &output, &format!("reader-{run}"));
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut done = 0usize;
    while done < expected.len() {
        assert!(started.elapsed() < TIMEOUT, "counts incomplete after {TIMEOUT:?}: {done}/{}", expected.len());
        let Some(m) = c.poll(Duration::from_millis(100)) else { continue };
        let m = m.expect("read output");
        let word = String::from_utf8_lossy(m.key().expect("a word")).into_owned();
        let n = long_value(&m);
        let before = seen.insert(word.clone(), n);
        let want = expected[&word];
        if n == want && before != Some(want) {
            done += 1;
        }
    }
    let took = started.elapsed();
    drop(apps);
    took
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * q).round() as usize]
}

/// Count latency at a steady input rate; returns sorted latencies in ms.
fn latency(addr: &str, guarantee: &str, count: usize, rate: usize, run: usize) -> Vec<i64> {
    let input = format!("lat-in-{run}");
    let output = format!("lat-out-{run}");
    create_topic(addr, &input, 1);
    create_topic(addr, &output, 1);
    let state = tempfile::tempdir().expect("tempdir");
    let _app = start_app(
        addr,
        &format!("lat-bench-{run}"),
        &input,
        &output,
        state.path(),
        &["--processing-guarantee", guarantee, "--property", "commit.interval.ms=100"],
    );
    let c = consumer(addr, &output, &format!("lat-reader-{run}"));
    let p = producer(addr);
    // Warm up: the application has joined once a first count comes back.
    let warm = Instant::now();
    loop {
        send(&p, &input, b"warmup", Some(now_ms()));
        p.flush(Duration::from_secs(10)).expect("warm-up delivered");
        if let Some(Ok(_)) = c.poll(Duration::from_millis(500)) {
            break;
        }
        assert!(warm.elapsed() < TIMEOUT, "the application never answered");
    }
    while let Some(Ok(_)) = c.poll(Duration::from_millis(300)) {}
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut lat = Vec::with_capacity(count);
    let start = Instant::now();
    let mut sent = 0usize;
    while lat.len() < count {
        assert!(start.elapsed() < TIMEOUT, "latency run incomplete: {}/{count}", lat.len());
        while sent < count && start.elapsed() >= gap * sent as u32 {
            send(&p, &input, format!("k{}", sent % 100).as_bytes(), Some(now_ms()));
            sent += 1;
        }
        p.poll(Duration::ZERO);
        if let Some(Ok(m)) = c.poll(Duration::from_millis(1)) {
            if let Timestamp::CreateTime(ts) = m.timestamp() {
                if m.key() != Some(&b"warmup"[..]) {
                    lat.push(now_ms() - ts);
                }
            }
        }
    }
    lat.sort_unstable();
    lat
}

fn main() {
    let broker = start_broker();
    let addr = broker.addr.clone();
    let lines = ((200_000.0 * scale()) as usize).max(1000);
    println!("word count throughput: {lines} lines of {WORDS_PER_LINE} words, 4 input partitions");
    for (run, instances) in [(0usize, 1usize), (1, 2)] {
        let took = throughput(&addr, lines, instances, run);
        let secs = took.as_secs_f64();
        println!(
            "  {instances} instance(s): {:>8.2} s  {:>10.0} lines/s  {:>10.0} words/s",
            secs,
            lines as f64 / secs,
            (lines * WORDS_PER_LINE) as f64 / secs
        );
    }
    let count = ((5000.0 * scale()) as usize).max(500);
    println!("count latency: {count} records at 1,000/s, input CreateTime → output read");
    for (run, g) in [(10usize, "at_least_once"), (11, "exactly_once_v2")] {
        let lat = latency(&addr, g, count, 1000, run);
        println!(
            "  {g:<16} p50 {:>4} ms  p99 {:>4} ms  max {:>4} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(0)
        );
    }
}
