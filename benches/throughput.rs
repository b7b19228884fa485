//! End-to-end throughput against a release-built broker, with librdkafka as
//! the client: produce then consume 1,000,000 × 100 B and 200,000 × 1 KiB
//! records with acks=1 and acks=all; prints records/s and MB/s, the broker's
//! idle RSS, and the machine's loopback bandwidth (iperf3) for scale.
//!
//! Then TLS against plaintext: one broker with a PLAINTEXT and an SSL listener
//! (certificates generated with rcgen), the same produce + consume run over each
//! listener in turn, printing both MB/s and the TLS overhead in percent.
//!
//! Then metrics on against off: the instrumentation's own cost per request
//! (a loop recording what one request records), and the same produce run
//! against a broker with `metrics.listener` set and scraped every second and
//! against one without, printing both MB/s and the difference.
//!
//! Run: `cargo bench --bench throughput` (GREGOR_BENCH_SCALE=0.1 for a quick pass,
//! GREGOR_BENCH_ONLY=tls or GREGOR_BENCH_ONLY=metrics for one comparison alone).
//!
//! `GREGOR_BENCH_ONLY=partitions` runs only the memory-per-partition check: the
//! broker's RSS idle, after creating 1,000 and then 3,000 empty partitions
//! (`kafka-topics` through the binary) and after a clean restart that reopens
//! them (goal: 3,000 partitions within 64 MB).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

mod common;

use common::{produce, produce_with, start_broker, start_broker_with, StderrLog};

/// A CA and a broker certificate for 127.0.0.1/localhost, written into `dir`:
/// `(ca.pem, broker.pem with key and certificate)`.
fn certificates(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Distinct subjects: rcgen's default DN is the same for both, and a leaf whose
    // issuer equals its own subject looks self-signed to OpenSSL, which then
    // refuses it ("certificate verify failed").
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(rcgen::DnType::CommonName, "gregor bench CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("broker key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "broker");
    let cert = params.signed_by(&key, &issuer).expect("broker certificate");
    let ca_path = dir.join("ca.pem");
    let broker_path = dir.join("broker.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write CA");
    std::fs::write(&broker_path, format!("{}{}", key.serialize_pem(), cert.pem())).expect("write broker PEM");
    (ca_path, broker_path)
}

/// The same produce + consume over the PLAINTEXT and the SSL listener of one broker.
fn tls_overhead(scale: f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, keystore) = certificates(dir.path());
    let broker = start_broker_with(&[
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
    ]);
    let addr_of = |name: &str| {
        broker.listeners.iter().find(|(n, _)| n == name).map(|(_, a)| a.clone()).expect("listener in the started line")
    };
    let tls = [("security.protocol", "ssl".to_string()), ("ssl.ca.location", ca.display().to_string())];
    println!();
    println!("TLS vs PLAINTEXT (one broker, both listeners; librdkafka/OpenSSL client, rustls broker)");
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "workload", "plain P", "TLS P", "overhead", "plain C", "TLS C", "overhead"
    );
    for (count, size) in [(1_000_000usize, 100usize), (200_000, 1024)] {
        let count = ((count as f64) * scale) as usize;
        let mb = (count * size) as f64 / 1e6;
        let plain = addr_of("PLAINTEXT");
        let ssl = addr_of("SSL");
        let pp = mb / produce(&plain, &format!("plain-{size}"), count, size, "1").as_secs_f64();
        let pc = mb / consume(&plain, &format!("plain-{size}"), count).as_secs_f64();
        let tp = mb / produce_with(&ssl, &format!("tls-{size}"), count, size, "1", &tls).as_secs_f64();
        let tc = mb / consume_with(&ssl, &format!("tls-{size}"), count, &tls).as_secs_f64();
        let overhead = |plain: f64, tls: f64| (plain - tls) / plain * 100.0;
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>9.0}% {:>10.1} {:>10.1} {:>9.0}%",
            format!("{count} x {size} B acks=1"),
            pp,
            tp,
            overhead(pp, tp),
            pc,
            tc,
            overhead(pc, tc)
        );
    }
    println!("(MB/s; P = produce, C = consume; overhead = how much slower TLS is)");
}

/// What one request costs the request metrics: the connection's six clock
/// reads and queue-gauge changes, the dispatcher's error count, the produce
/// handler's topic counters, and the six stage histograms plus version counter.
fn instrumentation_ns_per_request() -> f64 {
    use gregor::metrics::requests::{DataPathMetrics, RequestMetrics, StageTimes};
    let requests = RequestMetrics::new();
    let data = DataPathMetrics::new();
    let topic = data.topic("bench");
    let n = 1_000_000u32;
    let start = Instant::now();
    for i in 0..n {
        let read = Instant::now();
        requests.queues_changed(1, 0);
        let started = Instant::now();
        topic.produced(1024, 10);
        requests.record_error(0, 0, 1);
        let handled = Instant::now();
        requests.queues_changed(-1, 1);
        let writing = Instant::now();
        requests.queues_changed(0, -1);
        let written = Instant::now();
        let times = StageTimes {
            request_queue: started - read,
            local: handled - started,
            remote: Duration::ZERO,
            response_queue: writing - handled,
            response_send: written - writing,
            total: Instant::now() - read,
        };
        requests.record(0, (i % 10) as i16, &times);
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// GETs `/metrics` from `addr` every second until `stop`; returns how many scrapes succeeded.
fn scrape_every_second(
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut scrapes = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                let mut body = Vec::new();
                if s.write_all(request.as_bytes()).is_ok()
                    && s.read_to_end(&mut body).is_ok()
                    && body.starts_with(b"HTTP/1.1 200")
                {
                    scrapes += 1;
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        scrapes
    })
}

/// The same produce workload against a broker whose metrics are served and
/// scraped every second and against one without `metrics.listener`.
fn metrics_overhead(scale: f64) {
    println!();
    println!("request instrumentation alone: {:.0} ns per request (one thread)", instrumentation_ns_per_request());
    let on = start_broker_with(&["metrics.listener=http://127.0.0.1:0".to_string()]);
    let off = start_broker();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = scrape_every_second(on.metrics.clone().expect("metrics endpoint in the started line"), stop.clone());
    println!("metrics on (metrics.listener, scraped every second) vs off (one broker each, librdkafka, acks=1)");
    println!("{:<28} {:>10} {:>10} {:>10}", "workload", "off MB/s", "on MB/s", "difference");
    for (count, size) in [(1_000_000usize, 100usize), (200_000, 1024)] {
        let count = ((count as f64) * scale) as usize;
        let mb = (count * size) as f64 / 1e6;
        // Two rounds in alternating order, best of each: the machine's noise
        // is larger than what is measured.
        let (mut best_off, mut best_on) = (0f64, 0f64);
        for round in 0..2 {
            let run = |broker: &common::Broker, which: &str| {
                mb / produce(&broker.addr, &format!("metrics-{which}-{size}-{round}"), count, size, "1").as_secs_f64()
            };
            if round == 0 {
                best_off = best_off.max(run(&off, "off"));
                best_on = best_on.max(run(&on, "on"));
            } else {
                best_on = best_on.max(run(&on, "on"));
                best_off = best_off.max(run(&off, "off"));
            }
        }
        println!(
            "{:<28} {:>10.1} {:>10.1} {:>9.1}%",
            format!("{count} x {size} B acks=1"),
            best_off,
            best_on,
            (best_on - best_off) / best_off * 100.0
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let scrapes = scraper.join().unwrap_or(0);
    println!("(MB/s, best of 2 rounds; difference = on relative to off; {scrapes} scrapes during the run)");
}

/// Runs a `gregor` tool against `addr`; its stdout, or a panic with its stderr.
fn gregor_tool(tool: &str, addr: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gregor"))
        .arg(tool)
        .args(["--bootstrap-server", addr])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run gregor");
    assert!(out.status.success(), "gregor {tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the broker answers ListOffsets for all `count` partitions of
/// `topic`, i.e. it has opened their logs and leads them.
fn wait_partitions_served(addr: &str, topic: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args(["kafka-get-offsets", "--bootstrap-server", addr, "--topic", topic])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("run gregor");
        let prefix = format!("{topic}:");
        let served = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(&prefix)).count();
        if served >= count {
            return;
        }
        assert!(Instant::now() < deadline, "only {served}/{count} partitions of {topic} served after 10 minutes");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// RSS of one broker idle, after creating 1,000 and then 3,000 empty partitions
/// (RF=1), and after a clean restart (SIGTERM) that reopens them.
fn partitions_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = format!("log.dirs={}", dir.path().join("logs").display());
    let mut broker = start_broker_with(std::slice::from_ref(&logs));
    std::thread::sleep(Duration::from_secs(1));
    let mb = |pid: u32| rss_kib(pid).map_or(f64::NAN, |k| k as f64 / 1024.0);
    let idle = mb(broker.child.id());
    println!("memory per partition (one broker, empty partitions, RF=1; goal: 3,000 partitions <= 64 MB RSS)");
    println!("{:<36} {:>9} {:>12}", "state", "RSS MB", "KB/partition");
    println!("{:<36} {:>9.1} {:>12}", "idle", idle, "-");
    let mut total = 0usize;
    // Creating thousands of partitions can outlast the admin client's default 30 s.
    let admin = dir.path().join("admin.properties");
    std::fs::write(&admin, "request.timeout.ms=600000\n").expect("write admin config");
    for (topic, count) in [("parts-a", 1000usize), ("parts-b", 2000)] {
        let started = Instant::now();
        gregor_tool(
            "kafka-topics",
            &broker.addr,
            &[
                "--create",
                "--topic",
                topic,
                "--partitions",
                &count.to_string(),
                "--replication-factor",
                "1",
                "--command-config",
                admin.to_str().expect("utf-8 path"),
            ],
        );
        wait_partitions_served(&broker.addr, topic, count);
        total += count;
        std::thread::sleep(Duration::from_secs(2));
        let rss = mb(broker.child.id());
        println!(
            "{:<36} {:>9.1} {:>12.1}",
            format!("after creating {total} partitions ({:.1} s)", started.elapsed().as_secs_f64()),
            rss,
            (rss - idle) * 1024.0 / total as f64
        );
    }
    let _ = Command::new("kill").arg("-TERM").arg(broker.child.id().to_string()).status();
    let _ = broker.child.wait();
    drop(broker);
    let started = Instant::now();
    let broker = start_broker_with(&[logs]);
    wait_partitions_served(&broker.addr, "parts-a", 1000);
    wait_partitions_served(&broker.addr, "parts-b", 2000);
    std::thread::sleep(Duration::from_secs(2));
    let rss = mb(broker.child.id());
    println!(
        "{:<36} {:>9.1} {:>12.1}",
        format!("after a restart ({:.1} s to serve all)", started.elapsed().as_secs_f64()),
        rss,
        (rss - idle) * 1024.0 / total as f64
    );
    println!("(KB/partition: growth over the idle broker divided by the partitions it hosts)");
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn consume(addr: &str, topic: &str, count: usize) -> Duration {
    consume_with(addr, topic, count, &[])
}

fn consume_with(addr: &str, topic: &str, count: usize, extra: &[(&str, String)]) -> Duration {
    let mut config = ClientConfig::new();
    for (k, v) in extra {
        config.set(*k, v);
    }
    let c: BaseConsumer<StderrLog> =
        common::streaming_consumer(&mut config, addr, "bench").create_with_context(StderrLog).expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    // Timed from the first record, so connection set-up and the offset
    // lookup are not counted as streaming time.
    let mut start = Instant::now();
    let mut seen = 0;
    while seen < count {
        if let Some(m) = c.poll(Duration::from_secs(10)) {
            m.expect("message");
            if seen == 0 {
                start = Instant::now();
            }
            seen += 1;
        } else {
            panic!("consume of {topic} from {addr} stalled at {seen}/{count}");
        }
    }
    start.elapsed()
}

fn iperf3_gbits() -> Option<f64> {
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-p", "5299"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new("iperf3").args(["-c", "127.0.0.1", "-p", "5299", "-t", "3", "-J"]).output().ok()?;
    let _ = server.wait();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["end"]["sum_received"]["bits_per_second"].as_f64().map(|b| b / 1e9)
}

fn main() {
    let scale: f64 = std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    if std::env::var("GREGOR_BENCH_ONLY").as_deref() == Ok("tls") {
        tls_overhead(scale);
        return;
    }
    if std::env::var("GREGOR_BENCH_ONLY").as_deref() == Ok("metrics") {
        metrics_overhead(scale);
        return;
    }
    if std::env::var("GREGOR_BENCH_ONLY").as_deref() == Ok("partitions") {
        partitions_memory();
        return;
    }
    let broker = start_broker();
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss_kib(broker.child.id());
    match iperf3_gbits() {
        Some(g) => println!("loopback bandwidth (iperf3, 1 stream): {g:.1} Gbit/s = {:.0} MB/s", g * 1e9 / 8.0 / 1e6),
        None => println!("loopback bandwidth: iperf3 not installed (apt-get install iperf3)"),
    }
    if let Some(kib) = idle {
        println!("idle broker RSS: {:.1} MB", kib as f64 / 1024.0);
    }
    println!("{:<28} {:>12} {:>10} {:>12} {:>10}", "workload", "produce r/s", "MB/s", "consume r/s", "MB/s");
    for (count, size) in [(1_000_000usize, 100usize), (200_000, 1024)] {
        let count = ((count as f64) * scale) as usize;
        for acks in ["1", "all"] {
            let topic = format!("bench-{size}-{acks}");
            let pt = produce(&broker.addr, &topic, count, size, acks);
            let ct = consume(&broker.addr, &topic, count);
            let mb = (count * size) as f64 / 1e6;
            println!(
                "{:<28} {:>12.0} {:>10.1} {:>12.0} {:>10.1}",
                format!("{count} x {size} B acks={acks}"),
                count as f64 / pt.as_secs_f64(),
                mb / pt.as_secs_f64(),
                count as f64 / ct.as_secs_f64(),
                mb / ct.as_secs_f64()
            );
        }
    }
    if let Some(kib) = rss_kib(broker.child.id()) {
        println!("broker RSS after the run: {:.1} MB", kib as f64 / 1024.0);
    }
    drop(broker);
    tls_overhead(scale);
    metrics_overhead(scale);
}
