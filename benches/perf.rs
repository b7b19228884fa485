//! The broker beside the machine's own limits, in one run (issue #18): every
//! figure is printed with the limit it should be read against and the ratio.
//!
//! Limits, measured first with `gregor::machine` (the code behind
//! `gregor perf machine`): loopback bandwidth (one TCP stream, ours; iperf3's
//! too when installed) and the disk's write rate with fdatasync in the temp
//! dir — the file system the brokers' log dirs live on (set TMPDIR to move
//! both) — with the sustained run's byte count (ours; dd's too).
//!
//! Workloads (release brokers as child processes, librdkafka clients; the
//! broker's CPU seconds per GB from `/proc/PID/stat` before and after each):
//! - `produce`: 100 B and 1 KiB records, acks=1, from one client process and
//!   from two at once (this binary re-executed with `GREGOR_BENCH_ROLE=producer`,
//!   one partition each; their rates are summed);
//! - `consume`: 1 KiB records, one consumer, timed from the first record;
//! - `replication`: 1 KiB, RF=3 acks=all on three brokers (`gregor cluster up`:
//!   three brokers and one coordinator) against one broker with acks=1;
//! - `latency`: end-to-end p50/p99/p99.9 at 5,000 and 50,000 records/s of
//!   1 KiB (a paced producer; the consumer is fetching before the first record;
//!   latency from the create time the producer writes into each record, in µs,
//!   to its receipt);
//! - `sustained`: GREGOR_BENCH_SUSTAINED_GB (default 20) GB of 1 KiB records
//!   from two client processes, beside the disk rate for the same byte count;
//!   only when the temp dir's file system has 2.5× that free.
//!
//! Then a summary against #18's "done when" thresholds, met or not met.
//!
//! Run: `cargo bench --bench perf`. Knobs: GREGOR_BENCH_SCALE (record counts
//! and latency durations, e.g. 0.05 for a quick pass), GREGOR_BENCH_ONLY=
//! `machine|produce|consume|replication|latency|sustained` (comma-separated
//! for several; loopback is always measured, the disk with `machine` or
//! `sustained`), GREGOR_BENCH_SUSTAINED_GB,
//! GREGOR_BENCH_BROKER=/path/to/gregor to run another broker binary.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gregor::machine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

mod common;

use common::{broker_bin, start_broker, with_debug, StderrLog};

/// Set on the re-executed child: which role it plays.
const ROLE: &str = "GREGOR_BENCH_ROLE";
const KIB: usize = 1024;
const WORKLOADS: [&str; 6] = ["machine", "produce", "consume", "replication", "latency", "sustained"];

fn env_f64(name: &str) -> Option<f64> {
    let v = std::env::var(name).ok()?;
    match v.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Some(x),
        _ => panic!("{name}={v}: expected a positive number"),
    }
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Child: one producer process.

/// The producer child: `ready` once its metadata is in, then waits for a
/// line on stdin, produces, and prints `done <start µs> <end µs>`.
fn producer_child() {
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} not set for the producer child"));
    let addr = var("GREGOR_BENCH_ADDR");
    let topic = var("GREGOR_BENCH_TOPIC");
    let partition: i32 = var("GREGOR_BENCH_PARTITION").parse().expect("partition");
    let count: usize = var("GREGOR_BENCH_COUNT").parse().expect("count");
    let size: usize = var("GREGOR_BENCH_SIZE").parse().expect("size");
    let p = producer(&addr, "1");
    p.client().fetch_metadata(Some(&topic), Duration::from_secs(30)).expect("metadata");
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("stdin");
    let start = unix_micros();
    send_all(&p, &topic, partition, count, size);
    println!("done {start} {}", unix_micros());
}

fn producer(addr: &str, acks: &str) -> BaseProducer<StderrLog> {
    common::batching_producer(&mut ClientConfig::new(), addr, acks).create_with_context(StderrLog).expect("producer")
}

fn send_all(p: &BaseProducer<StderrLog>, topic: &str, partition: i32, count: usize, size: usize) {
    common::send(p, topic, partition, count, size);
    if let Err(e) = p.flush(Duration::from_secs(600)) {
        panic!("flush to {topic}/{partition}: {e} ({} records not acknowledged)", p.in_flight_count());
    }
}

// ---------------------------------------------------------------------------
// The broker's CPU time.

struct Cpu {
    pids: Vec<u32>,
    ticks: u64,
}

impl Cpu {
    fn new(pids: Vec<u32>) -> Cpu {
        Cpu { pids, ticks: machine::clock_ticks_per_sec() }
    }

    fn seconds(&self) -> f64 {
        self.pids.iter().map(|&pid| machine::process_cpu_seconds(pid, self.ticks).unwrap_or(f64::NAN)).sum()
    }

    /// Runs `work` and returns what it returned with the broker CPU seconds it cost.
    fn around<T>(&self, work: impl FnOnce() -> T) -> (T, f64) {
        let before = self.seconds();
        let out = work();
        (out, self.seconds() - before)
    }
}

// ---------------------------------------------------------------------------
// Printing.

/// One figure with the limit it is read against.
struct Line<'a> {
    name: String,
    mb_s: f64,
    records_s: f64,
    limit_name: &'a str,
    limit_mb_s: f64,
    cpu_s_per_gb: Option<f64>,
}

fn print_header() {
    println!(
        "{:<34} {:>9} {:>11} {:>22} {:>6} {:>10}",
        "workload", "MB/s", "records/s", "limit MB/s", "ratio", "CPU s/GB"
    );
}

fn print_line(l: &Line<'_>) {
    let limit = format!("{} {:.1}", l.limit_name, l.limit_mb_s);
    let cpu = l.cpu_s_per_gb.map_or("-".to_string(), |c| format!("{c:.2}"));
    println!(
        "{:<34} {:>9.1} {:>11.0} {:>22} {:>6.2} {:>10}",
        l.name,
        l.mb_s,
        l.records_s,
        limit,
        ratio(l.mb_s, l.limit_mb_s),
        cpu
    );
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn cpu_per_gb(cpu_s: f64, bytes: u64) -> f64 {
    cpu_s / (bytes as f64 / 1e9)
}

fn size_name(size: usize) -> String {
    if size.is_multiple_of(KIB) {
        format!("{} KiB", size / KIB)
    } else {
        format!("{size} B")
    }
}

// ---------------------------------------------------------------------------
// Topics and clusters.

fn create_topic(rt: &tokio::runtime::Runtime, bootstrap: &str, name: &str, partitions: i32, rf: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    if rf > 1 {
        topic = topic.set("min.insync.replicas", "2");
    }
    let res = rt.block_on(admin.create_topics(&[topic], &AdminOptions::new())).expect("create topics");
    assert!(res.iter().all(Result::is_ok), "create {name}: {res:?}");
}

/// Three brokers and their coordinator from `gregor cluster up`; brought down on drop.
struct Cluster {
    dir: tempfile::TempDir,
    bootstrap: String,
    broker_pids: Vec<u32>,
}

impl Cluster {
    fn gregor(args: &[&str]) -> std::process::Output {
        Command::new(broker_bin())
            .args(args)
            .env("NO_COLOR", "1")
            .stderr(Stdio::inherit())
            .output()
            .expect("run gregor")
    }

    fn up() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster_dir = dir.path().join("cluster").display().to_string();
        let up = Cluster::gregor(&[
            "cluster",
            "up",
            "--brokers",
            "3",
            "--ephemeral-ports",
            "--detach",
            "--dir",
            &cluster_dir,
        ]);
        assert!(up.status.success(), "cluster up failed");
        let status = Cluster::gregor(&["cluster", "status", "--dir", &cluster_dir, "--output", "json"]);
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
        let brokers: Vec<&serde_json::Value> =
            json["nodes"].as_array().map(|n| n.iter().filter(|n| !n["id"].is_null()).collect()).unwrap_or_default();
        let bootstrap = brokers
            .iter()
            .filter_map(|n| n["endpoint"].as_str().map(|e| e.trim_start_matches("PLAINTEXT://").to_string()))
            .collect::<Vec<_>>()
            .join(",");
        let broker_pids = brokers.iter().filter_map(|n| n["pid"].as_u64().map(|p| p as u32)).collect();
        Cluster { dir, bootstrap, broker_pids }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let cluster_dir = self.dir.path().join("cluster").display().to_string();
        let _ = Cluster::gregor(&["cluster", "down", "--dir", &cluster_dir]);
    }
}

// ---------------------------------------------------------------------------
// Workloads.

/// What the producer children did: the sum of their rates and the
/// wall-clock span from the first start to the last end.
struct Produced {
    bytes: u64,
    records: u64,
    summed_mb_s: f64,
    span: Duration,
}

/// `clients` producer processes at once, each `count / clients` records of
/// `size` bytes into its own partition of `topic` (which has `clients` partitions).
fn produce_processes(addr: &str, topic: &str, clients: usize, count: usize, size: usize, cpu: &Cpu) -> (Produced, f64) {
    let per = count / clients;
    let exe = std::env::current_exe().expect("own binary");
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = (0..clients)
        .map(|i| {
            let mut child = Command::new(&exe)
                .env(ROLE, "producer")
                .env("GREGOR_BENCH_ADDR", addr)
                .env("GREGOR_BENCH_TOPIC", topic)
                .env("GREGOR_BENCH_PARTITION", i.to_string())
                .env("GREGOR_BENCH_COUNT", per.to_string())
                .env("GREGOR_BENCH_SIZE", size.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn producer child");
            let out = BufReader::new(child.stdout.take().expect("child stdout"));
            (child, out)
        })
        .collect();
    let read_line = |out: &mut BufReader<std::process::ChildStdout>| {
        let mut line = String::new();
        out.read_line(&mut line).expect("read child");
        line
    };
    for (_, out) in &mut children {
        let line = read_line(out);
        assert_eq!(line.trim(), "ready", "producer child did not get ready");
    }
    let (spans, cpu_s) = cpu.around(|| {
        for (child, _) in &mut children {
            let stdin = child.stdin.as_mut().expect("child stdin");
            stdin.write_all(b"go\n").and_then(|()| stdin.flush()).expect("start child");
        }
        children
            .iter_mut()
            .map(|(_, out)| {
                let line = read_line(out);
                let mut f = line.split_whitespace();
                assert_eq!(f.next(), Some("done"), "producer child failed: {line:?}");
                let start: u64 = f.next().and_then(|s| s.parse().ok()).expect("start");
                let end: u64 = f.next().and_then(|s| s.parse().ok()).expect("end");
                (start, end.max(start + 1))
            })
            .collect::<Vec<_>>()
    });
    for (mut child, _) in children {
        let status = child.wait().expect("wait child");
        assert!(status.success(), "producer child exited with {status}");
    }
    let bytes_each = (per * size) as f64;
    let summed_mb_s = spans.iter().map(|(s, e)| bytes_each / ((e - s) as f64 / 1e6) / 1e6).sum();
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let last = spans.iter().map(|s| s.1).max().unwrap_or(1);
    let produced = Produced {
        bytes: (per * size * clients) as u64,
        records: (per * clients) as u64,
        summed_mb_s,
        span: Duration::from_micros(last.saturating_sub(first).max(1)),
    };
    (produced, cpu_s)
}

/// Figures the summary needs.
#[derive(Default)]
struct Results {
    produce_1k_two: Option<f64>,
    consume: Option<(f64, f64)>,
    replication: Option<f64>,
    sustained: Option<Result<f64, String>>,
}

fn run_produce(rt: &tokio::runtime::Runtime, scale: f64, loopback: f64, results: &mut Results) {
    let broker = start_broker();
    let cpu = Cpu::new(vec![broker.child.id()]);
    for (count, size) in [(2_000_000usize, 100usize), (1_000_000, KIB)] {
        let count = ((count as f64 * scale) as usize).max(1000);
        for clients in [1usize, 2] {
            let topic = format!("produce-{size}-{clients}");
            create_topic(rt, &broker.addr, &topic, clients as i32, 1);
            let (p, cpu_s) = produce_processes(&broker.addr, &topic, clients, count, size, &cpu);
            let records_s = p.records as f64 * (p.summed_mb_s * 1e6 / p.bytes as f64);
            let which = if clients == 1 { "1 client" } else { "2 clients" };
            print_line(&Line {
                name: format!("produce {}, {which}", size_name(size)),
                mb_s: p.summed_mb_s,
                records_s,
                limit_name: "loopback",
                limit_mb_s: loopback,
                cpu_s_per_gb: Some(cpu_per_gb(cpu_s, p.bytes)),
            });
            if size == KIB && clients == 2 {
                results.produce_1k_two = Some(ratio(p.summed_mb_s, loopback));
            }
        }
    }
}

fn consumer(addr: &str) -> BaseConsumer<StderrLog> {
    common::streaming_consumer(&mut ClientConfig::new(), addr, "bench-perf")
        .create_with_context(StderrLog)
        .expect("consumer")
}

fn run_consume(rt: &tokio::runtime::Runtime, scale: f64, loopback: f64, results: &mut Results) {
    let broker = start_broker();
    let cpu = Cpu::new(vec![broker.child.id()]);
    let count = ((1_000_000f64 * scale) as usize).max(1000);
    create_topic(rt, &broker.addr, "consume", 1, 1);
    common::produce(&broker.addr, "consume", count, KIB, "1");
    let (elapsed, cpu_s) = cpu.around(|| {
        let c = consumer(&broker.addr);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("consume", 0, Offset::Beginning).expect("tpl");
        c.assign(&tpl).expect("assign");
        let mut start = Instant::now();
        let mut seen = 0;
        while seen < count {
            match c.poll(Duration::from_secs(10)) {
                Some(m) => {
                    m.expect("message");
                    if seen == 0 {
                        start = Instant::now();
                    }
                    seen += 1;
                }
                None => panic!("consume stalled at {seen}/{count}"),
            }
        }
        start.elapsed()
    });
    let bytes = (count * KIB) as u64;
    let mb_s = bytes as f64 / 1e6 / elapsed.as_secs_f64();
    let per_gb = cpu_per_gb(cpu_s, bytes);
    print_line(&Line {
        name: "consume 1 KiB, 1 consumer".to_string(),
        mb_s,
        records_s: count as f64 / elapsed.as_secs_f64(),
        limit_name: "loopback",
        limit_mb_s: loopback,
        cpu_s_per_gb: Some(per_gb),
    });
    results.consume = Some((ratio(mb_s, loopback), per_gb));
}

fn run_replication(rt: &tokio::runtime::Runtime, scale: f64, results: &mut Results) {
    let count = ((500_000f64 * scale) as usize).max(1000);
    let bytes = (count * KIB) as u64;
    let (single_mb_s, single_cpu) = {
        let broker = start_broker();
        let cpu = Cpu::new(vec![broker.child.id()]);
        create_topic(rt, &broker.addr, "acks1", 1, 1);
        let (elapsed, cpu_s) = cpu.around(|| common::produce(&broker.addr, "acks1", count, KIB, "1"));
        (bytes as f64 / 1e6 / elapsed.as_secs_f64(), cpu_per_gb(cpu_s, bytes))
    };
    let cluster = Cluster::up();
    let cpu = Cpu::new(cluster.broker_pids.clone());
    create_topic(rt, &cluster.bootstrap, "rf3", 1, 3);
    let (elapsed, cpu_s) = cpu.around(|| common::produce(&cluster.bootstrap, "rf3", count, KIB, "all"));
    drop(cluster);
    let rf3_mb_s = bytes as f64 / 1e6 / elapsed.as_secs_f64();
    print_line(&Line {
        name: "1 KiB, 1 broker acks=1".to_string(),
        mb_s: single_mb_s,
        records_s: single_mb_s * 1e6 / KIB as f64,
        limit_name: "acks=1",
        limit_mb_s: single_mb_s,
        cpu_s_per_gb: Some(single_cpu),
    });
    print_line(&Line {
        name: "1 KiB, 3 brokers RF=3 acks=all".to_string(),
        mb_s: rf3_mb_s,
        records_s: rf3_mb_s * 1e6 / KIB as f64,
        limit_name: "acks=1",
        limit_mb_s: single_mb_s,
        cpu_s_per_gb: Some(cpu_per_gb(cpu_s, bytes)),
    });
    results.replication = Some(ratio(rf3_mb_s, single_mb_s));
}

/// The `q`-quantile (0..=1) of sorted values (nearest rank).
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn run_latency(rt: &tokio::runtime::Runtime, scale: f64) {
    let broker = start_broker();
    let cpu = Cpu::new(vec![broker.child.id()]);
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>12} {:>8} {:>10}",
        "end-to-end latency, 1 KiB", "p50 ms", "p99 ms", "p99.9 ms", "records/s", "of rate", "CPU s/GB"
    );
    for rate in [5_000u64, 50_000] {
        let seconds = (10.0 * scale).max(1.0);
        let count = (rate as f64 * seconds) as usize;
        let topic = format!("latency-{rate}");
        create_topic(rt, &broker.addr, &topic, 1, 1);
        let c = with_debug(&mut ClientConfig::new())
            .set("bootstrap.servers", &broker.addr)
            .set("group.id", "bench-latency")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "100")
            .set("fetch.queue.backoff.ms", "0")
            .create_with_context::<_, BaseConsumer<StderrLog>>(StderrLog)
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning).expect("tpl");
        c.assign(&tpl).expect("assign");
        // The consumer is fetching (an empty partition) before the first record.
        assert!(c.poll(Duration::from_secs(1)).is_none(), "{topic} is not empty");
        let ((latencies, sent_rate), cpu_s) = cpu.around(|| {
            let addr = broker.addr.clone();
            let t = topic.clone();
            let sender = std::thread::spawn(move || paced_send(&addr, &t, rate, count));
            let mut latencies = Vec::with_capacity(count);
            while latencies.len() < count {
                match c.poll(Duration::from_secs(10)) {
                    Some(m) => {
                        let now = unix_micros();
                        let m = m.expect("message");
                        let created = m
                            .payload()
                            .and_then(|p| p.get(..8))
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                            .expect("create time in the payload");
                        latencies.push(now.saturating_sub(created));
                    }
                    None => panic!("latency run stalled at {}/{count}", latencies.len()),
                }
            }
            (latencies, sender.join().expect("sender"))
        });
        let mut sorted = latencies;
        sorted.sort_unstable();
        let ms = |q: f64| quantile(&sorted, q) as f64 / 1000.0;
        println!(
            "{:<34} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>8.2} {:>10.2}",
            format!("at {rate} records/s ({count} records)"),
            ms(0.50),
            ms(0.99),
            ms(0.999),
            sent_rate,
            sent_rate / rate as f64,
            cpu_per_gb(cpu_s, (count * KIB) as u64)
        );
    }
    println!("(\"of rate\" = the rate the producer kept up against the target; CPU includes the idle broker's)");
}

/// Sends `count` records of 1 KiB at `rate` per second, each starting with
/// its create time in µs since the epoch; returns the rate achieved.
fn paced_send(addr: &str, topic: &str, rate: u64, count: usize) -> f64 {
    let p: BaseProducer<StderrLog> = with_debug(&mut ClientConfig::new())
        .set("bootstrap.servers", addr)
        .set("acks", "1")
        .set("linger.ms", "0")
        .set("compression.codec", "none")
        .create_with_context(StderrLog)
        .expect("producer");
    p.client().fetch_metadata(Some(topic), Duration::from_secs(30)).expect("metadata");
    let mut payload = vec![b'x'; KIB];
    let start = Instant::now();
    let mut sent = 0usize;
    while sent < count {
        // Catch up to where the schedule says we should be, then sleep a little.
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as usize + 1).min(count);
        while sent < due {
            payload[..8].copy_from_slice(&unix_micros().to_le_bytes());
            match p.send(BaseRecord::<(), _>::to(topic).partition(0).payload(&payload)) {
                Ok(()) => sent += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("produce to {topic} failed: {e}"),
            }
        }
        p.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(200));
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    p.flush(Duration::from_secs(60)).expect("flush");
    rate
}

fn run_sustained(rt: &tokio::runtime::Runtime, bytes: u64, disk: &machine::Rate, results: &mut Results) {
    let broker = start_broker();
    let cpu = Cpu::new(vec![broker.child.id()]);
    let count = (bytes / KIB as u64) as usize;
    create_topic(rt, &broker.addr, "sustained", 2, 1);
    let (p, cpu_s) = produce_processes(&broker.addr, "sustained", 2, count, KIB, &cpu);
    let mb_s = p.bytes as f64 / 1e6 / p.span.as_secs_f64();
    print_line(&Line {
        name: format!("sustained {:.1} GB 1 KiB, 2 clients", p.bytes as f64 / 1e9),
        mb_s,
        records_s: p.records as f64 / p.span.as_secs_f64(),
        limit_name: "disk",
        limit_mb_s: disk.mb_per_sec(),
        cpu_s_per_gb: Some(cpu_per_gb(cpu_s, p.bytes)),
    });
    println!(
        "(sustained: all bytes over the wall-clock span of both clients; the disk figure wrote the same byte count)"
    );
    results.sustained = Some(Ok(ratio(mb_s, disk.mb_per_sec())));
}

// ---------------------------------------------------------------------------

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn print_summary(r: &Results) {
    println!();
    println!("summary against #18's \"done when\":");
    match r.consume {
        Some((of_loopback, per_gb)) => println!(
            "  consume >= 0.6 of loopback with <= 0.3 s broker CPU/GB: {of_loopback:.2} of loopback, {per_gb:.2} s/GB — {}",
            verdict(of_loopback >= 0.6 && per_gb <= 0.3)
        ),
        None => println!("  consume >= 0.6 of loopback with <= 0.3 s broker CPU/GB: not run"),
    }
    match r.produce_1k_two {
        Some(x) => println!("  produce 1 KiB, 2 clients >= 0.4 of loopback: {x:.2} — {}", verdict(x >= 0.4)),
        None => println!("  produce 1 KiB, 2 clients >= 0.4 of loopback: not run"),
    }
    match r.replication {
        Some(x) => println!("  RF=3 acks=all >= 0.6 of acks=1: {x:.2} — {}", verdict(x >= 0.6)),
        None => println!("  RF=3 acks=all >= 0.6 of acks=1: not run"),
    }
    match &r.sustained {
        Some(Ok(x)) => println!("  sustained writes within 20% of the disk (>= 0.8): {x:.2} — {}", verdict(*x >= 0.8)),
        Some(Err(why)) => println!("  sustained writes within 20% of the disk (>= 0.8): skipped ({why})"),
        None => println!("  sustained writes within 20% of the disk (>= 0.8): not run"),
    }
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        match role.as_str() {
            "producer" => producer_child(),
            other => panic!("{ROLE}={other}: unknown role"),
        }
        return;
    }
    let scale = env_f64("GREGOR_BENCH_SCALE").unwrap_or(1.0);
    let sustained_gb = env_f64("GREGOR_BENCH_SUSTAINED_GB").unwrap_or(20.0);
    let only: Option<Vec<String>> = std::env::var("GREGOR_BENCH_ONLY")
        .ok()
        .map(|s| s.split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect());
    if let Some(names) = &only {
        for n in names {
            assert!(WORKLOADS.contains(&n.as_str()), "GREGOR_BENCH_ONLY={n}: expected one of {}", WORKLOADS.join(", "));
        }
    }
    let runs = |w: &str| only.as_ref().is_none_or(|names| names.iter().any(|n| n == w));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let broker = broker_bin();
    println!("broker binary: {}", broker.display());
    println!(
        "scale {scale}; sustained {sustained_gb} GB; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // The machine's limits.
    println!();
    println!("machine limits (measured now):");
    let loopback = machine::loopback(Duration::from_secs(3)).expect("loopback test");
    println!(
        "  loopback, ours (one TCP stream, 1 MiB writes, {:.1} s): {:.1} MB/s — the limit below",
        loopback.elapsed.as_secs_f64(),
        loopback.mb_per_sec()
    );
    match machine::iperf3_loopback(3) {
        Some(r) => println!(
            "  loopback, iperf3 (one stream): {:.1} MB/s ({:.2} of ours)",
            r.mb_per_sec(),
            ratio(r.mb_per_sec(), loopback.mb_per_sec())
        ),
        None => println!("  loopback, iperf3: not measured (not installed; apt-get install iperf3)"),
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let sustained_bytes = (sustained_gb * 1e9) as u64;
    let free = machine::free_bytes(tmp.path()).expect("free space of the temp dir");
    let room = free as f64 >= 2.5 * sustained_bytes as f64;
    let mut disk = None;
    let mut results = Results::default();
    if runs("sustained") || runs("machine") {
        if room {
            disk = Some(measure_disk(tmp.path(), sustained_bytes));
        } else {
            let why = format!(
                "{:.1} GB free in {}, the sustained run needs 2.5 x {sustained_gb} GB",
                free as f64 / 1e9,
                std::env::temp_dir().display()
            );
            println!("  disk: too little room for the sustained size: {why}");
            if runs("sustained") {
                results.sustained = Some(Err(why));
            }
            // Still show the disk's rate, at a size that fits.
            let fits = (free / 4).min(2 << 30);
            measure_disk(tmp.path(), fits);
        }
    } else {
        println!("  disk: not measured (only the sustained workload is read against it)");
    }
    println!("  broker CPU from /proc/PID/stat, {} ticks/s", machine::clock_ticks_per_sec());
    let loopback_mb_s = loopback.mb_per_sec();

    let any_table = ["produce", "consume", "replication"].iter().any(|w| runs(w));
    if any_table || (runs("sustained") && disk.is_some()) {
        println!();
        print_header();
    }
    if runs("produce") {
        run_produce(&rt, scale, loopback_mb_s, &mut results);
    }
    if runs("consume") {
        run_consume(&rt, scale, loopback_mb_s, &mut results);
    }
    if runs("replication") {
        run_replication(&rt, scale, &mut results);
    }
    if let (true, Some(disk)) = (runs("sustained"), disk.as_ref()) {
        run_sustained(&rt, sustained_bytes, disk, &mut results);
    }
    if runs("latency") {
        println!();
        run_latency(&rt, scale);
    }
    print_summary(&results);
}

/// Ours and dd's disk rate for `bytes` in `dir`; returns ours.
fn measure_disk(dir: &Path, bytes: u64) -> machine::Rate {
    let ours = machine::disk_write(dir, bytes).expect("disk test");
    println!(
        "  disk write, ours ({:.2} GB in 1 MiB writes + fdatasync, {}): {:.1} MB/s — the limit below",
        bytes as f64 / 1e9,
        std::env::temp_dir().display(),
        ours.mb_per_sec()
    );
    match machine::dd_write(dir, bytes) {
        Some(r) => println!(
            "  disk write, dd bs=1M conv=fdatasync (same size): {:.1} MB/s ({:.2} of ours)",
            r.mb_per_sec(),
            ratio(r.mb_per_sec(), ours.mb_per_sec())
        ),
        None => println!("  disk write, dd: not measured (dd missing or failed)"),
    }
    ours
}
