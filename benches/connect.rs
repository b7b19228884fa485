//! What Kafka Connect's file source costs in gregor: N lines in a file,
//! `gregor connect-standalone` (release build) with `FileStreamSource`
//! against one broker, timed from the worker's start until librdkafka has
//! read every line back from the topic; with `StringConverter` and with
//! `JsonConverter` (schema envelopes, as in the quickstart). And PostgreSQL
//! change capture end to end: `PostgresConnector` streaming from a real
//! PostgreSQL (started for the run; skipped when not installed), N row
//! changes (inserts then updates, in transactions of 1000) timed from the
//! first statement until librdkafka has read every change event back.
//!
//! Run: `cargo bench --bench connect` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

#[allow(dead_code)]
mod common;

use common::start_broker;

#[allow(dead_code)]
#[path = "../tests/integration/common/postgres.rs"]
mod postgres;

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

/// `gregor connect-standalone` in `dir` with `converter` for keys and
/// values and one connector (`connector`: its properties); killed on drop.
fn start_worker(dir: &Path, addr: &str, converter: &str, connector: &str) -> Worker {
    let worker = dir.join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={addr}\nlisteners=http://127.0.0.1:0\nkey.converter={converter}\n\
             value.converter={converter}\noffset.storage.file.filename={}\noffset.flush.interval.ms=1000\n\
             producer.linger.ms=5\n",
            dir.join("offsets").display()
        ),
    )
    .expect("worker config");
    let source = dir.join("connector.properties");
    std::fs::write(&source, connector).expect("connector config");
    Worker(
        Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args(["connect-standalone"])
            .arg(&worker)
            .arg(&source)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the worker"),
    )
}

/// A librdkafka consumer that will read `topic` back.
fn reader(addr: &str, topic: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer")
}

/// Reads `count` records of `topic` from the beginning (the topic may not
/// exist yet: it is auto-created by the first record; assign once it exists).
fn read_all(c: &BaseConsumer, topic: &str, count: usize, started: Instant) {
    let mut assigned = false;
    let mut read = 0usize;
    while read < count {
        assert!(started.elapsed() < TIMEOUT, "read {read} of {count} records");
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
}

/// Change events/s from PostgreSQL into a topic through change capture:
/// `changes` row changes (half inserts, half updates), JsonConverter.
fn postgres_cdc(addr: &str, pg: &postgres::TestPostgres, changes: usize) -> Duration {
    let dir = tempfile::tempdir().expect("dir");
    pg.psql("CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL, n bigint NOT NULL)");
    let connector = format!(
        "name=bench-cdc\nconnector.class=PostgresConnector\ndatabase.hostname=127.0.0.1\ndatabase.port={}\n\
         database.user=postgres\ndatabase.dbname=postgres\ntopic.prefix=bench\nslot.name=bench_slot\n\
         snapshot.mode=no_data\ntable.include.list=public.bench\n",
        pg.port
    );
    let _worker = start_worker(dir.path(), addr, "org.apache.kafka.connect.json.JsonConverter", &connector);
    // Streaming has begun once the task made its private copy of the slot.
    let ready = Instant::now();
    while pg.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'bench\\_slot\\_r%'").trim() != "1" {
        assert!(ready.elapsed() < TIMEOUT, "the change capture task did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rows = changes / 2;
    let started = Instant::now();
    let mut from = 1;
    while from <= rows {
        let to = (from + 999).min(rows);
        pg.psql(&format!("INSERT INTO bench SELECT g, 'row ' || g, 0 FROM generate_series({from}, {to}) g"));
        from = to + 1;
    }
    let mut from = 1;
    while from <= rows {
        let to = (from + 999).min(rows);
        pg.psql(&format!("UPDATE bench SET n = n + 1 WHERE id BETWEEN {from} AND {to}"));
        from = to + 1;
    }
    read_all(&reader(addr, "bench.public.bench"), "bench.public.bench", rows * 2, started);
    started.elapsed()
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
    let c = reader(addr, topic);
    let started = Instant::now();
    let connector =
        format!("name=bench-{topic}\nconnector.class=FileStreamSource\nfile={}\ntopic={topic}\n", input.display());
    let _worker = start_worker(dir.path(), addr, converter, &connector);
    read_all(&c, topic, lines, started);
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
    match postgres::TestPostgres::start() {
        None => println!("PostgresConnector: skipped, PostgreSQL is not installed"),
        Some(pg) => {
            let changes = ((100_000.0 * scale()) as usize).max(2000);
            println!(
                "PostgresConnector: {changes} row changes (inserts, then updates; 1000 per transaction), pgoutput, \
                 JsonConverter, first statement → last change event read"
            );
            let took = postgres_cdc(&broker.addr, &pg, changes);
            println!(
                "  {:<16} {:>8.2} s {:>10.0} changes/s",
                "change capture",
                took.as_secs_f64(),
                changes as f64 / took.as_secs_f64()
            );
        }
    }
}
