//! End-to-end throughput against a release-built broker, with librdkafka as
//! the client: produce then consume 1,000,000 × 100 B and 200,000 × 1 KiB
//! records with acks=1 and acks=all; prints records/s and MB/s, the broker's
//! idle RSS, and the machine's loopback bandwidth (iperf3) for scale.
//!
//! Run: `cargo bench --bench throughput` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

mod common;

use common::{produce, start_broker};

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn consume(addr: &str, topic: &str, count: usize) -> Duration {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "2097151")
        .set("queued.min.messages", "10000000")
        .set("fetch.queue.backoff.ms", "1")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
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
            panic!("consume stalled at {seen}/{count}");
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
}
