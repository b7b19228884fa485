//! What Kafka Connect's file source costs in gregor: N lines in a file,
//! `gregor connect-standalone` (release build) with `FileStreamSource`
//! against one broker, timed from the worker's start until librdkafka has
//! read every line back from the topic; with `StringConverter` and with
//! `JsonConverter` (schema envelopes, as in the quickstart).
//!
//! Run: `cargo bench --bench connect` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

#[allow(dead_code)]
mod common;

use common::start_broker;

const TIMEOUT: Duration = Duration::from_secs(600);

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scale() -> f64 {
    std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0)
}

/// Lines/s from a file into `topic` through the file source with `converter`.
fn file_source(addr: &str, lines: usize, converter: &str, topic: &str) -> Duration {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("in.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("input"));
    for i in 0..lines {
        writeln!(f, "line {i:08} of the connect benchmark, some forty bytes").expect("write");
    }
    f.flush().expect("flush");
    drop(f);
    let worker = dir.path().join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={addr}\nlisteners=http://127.0.0.1:0\nkey.converter={converter}\nvalue.converter={converter}\n\
             offset.storage.file.filename={}\noffset.flush.interval.ms=1000\nproducer.linger.ms=5\n",
            dir.path().join("offsets").display()
        ),
    )
    .expect("worker config");
    let source = dir.path().join("source.properties");
    std::fs::write(
        &source,
        format!("name=bench-{topic}\nconnector.class=FileStreamSource\nfile={}\ntopic={topic}\n", input.display()),
    )
    .expect("connector config");
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    let started = Instant::now();
    let _worker = Worker(
        Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args(["connect-standalone"])
            .arg(&worker)
            .arg(&source)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the worker"),
    );
    // The topic is auto-created by the first record; assign once it exists.
    let mut assigned = false;
    let mut read = 0usize;
    while read < lines {
        assert!(started.elapsed() < TIMEOUT, "read {read} of {lines} lines");
        if !assigned {
            let md = c.fetch_metadata(Some(topic), Duration::from_secs(5));
            if md.is_ok_and(|m| m.topics().first().is_some_and(|t| !t.partitions().is_empty())) {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
                c.assign(&tpl).expect("assign");
                assigned = true;
            } else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            m.expect("read");
            read += 1;
        }
    }
    started.elapsed()
}

fn main() {
    let broker = start_broker();
    let lines = ((500_000.0 * scale()) as usize).max(1000);
    println!("FileStreamSource: {lines} lines of 56 bytes, one partition, start of the worker → last line read");
    for (name, class) in [
        ("StringConverter", "org.apache.kafka.connect.storage.StringConverter"),
        ("JsonConverter", "org.apache.kafka.connect.json.JsonConverter"),
    ] {
        let took = file_source(&broker.addr, lines, class, &format!("connect-bench-{}", name.to_lowercase()));
        println!("  {name:<16} {:>8.2} s {:>10.0} lines/s", took.as_secs_f64(), lines as f64 / took.as_secs_f64());
    }
}
