//! `perf producer` / `perf consumer` (kafka-producer-perf-test.sh,
//! kafka-consumer-perf-test.sh): Kafka's load tools with Kafka's flags and
//! output lines, on our client library. A progress bar shows on a terminal.
//!
//! `perf machine` (no Kafka counterpart): the machine's own limits a broker
//! figure should be read against — loopback TCP bandwidth and the disk's
//! write rate with fdatasync (ours, and iperf3's / dd's when installed), from
//! [`crate::machine`], the same code the `perf` benchmark prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Arg, ArgAction, ArgMatches, Command};
use tokio::sync::mpsc;

use super::common;
use super::output;
use crate::client::{Consumer, ConsumerConfig, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, SeekTo};

const MB: f64 = 1024.0 * 1024.0;

pub fn command() -> Command {
    Command::new("perf")
        .about("Measure producer or consumer throughput and latency, or the machine's limits")
        .subcommand_required(true)
        .subcommand(producer_command())
        .subcommand(consumer_command())
        .subcommand(machine_command())
}

/// The default `--bytes` of `perf machine`: large enough to get past the
/// disk's and the page cache's write-back bursts on a typical machine.
const MACHINE_DEFAULT_BYTES: u64 = 2 << 30;

fn machine_command() -> Command {
    Command::new("machine")
        .about("Measure this machine's loopback bandwidth and disk write rate")
        .long_about(
            "Measure this machine's loopback bandwidth (one TCP stream over 127.0.0.1 in 1 MiB writes) \
             and the write rate of the file system holding --dir (--bytes in 1 MiB writes, then fdatasync, \
             like dd with conv=fdatasync). iperf3's and dd's figures are printed beside ours when they are \
             installed. The test file is removed afterwards.",
        )
        .arg(
            Arg::new("dir")
                .long("dir")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Directory on the file system to measure, e.g. the broker's log.dirs [default: the temp dir]"),
        )
        .arg(
            Arg::new("bytes")
                .long("bytes")
                .value_name("N")
                .default_value("2G")
                .value_parser(parse_bytes)
                .help("Bytes to write for the disk test; K, M, G suffixes are powers of 1024"),
        )
        .arg(
            Arg::new("seconds")
                .long("seconds")
                .value_name("S")
                .default_value("3")
                .value_parser(clap::value_parser!(u32).range(1..=600))
                .help("How long the loopback test runs"),
        )
}

/// A byte count: digits with an optional K, M or G (powers of 1024; a
/// trailing `B` or `iB` is accepted too). Zero is refused: nothing to time.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (digits, shift) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 10),
        Some('M') => (&stripped[..stripped.len() - 1], 20),
        Some('G') => (&stripped[..stripped.len() - 1], 30),
        _ => (stripped, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("'{s}' is not a byte count (e.g. 1048576, 512M, 2G)"))?;
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(|| format!("'{s}' is too large"))?;
    if bytes == 0 {
        return Err("the byte count must be at least 1".to_string());
    }
    Ok(bytes)
}

fn run_machine(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    use crate::machine;
    let dir = m.get_one::<PathBuf>("dir").cloned().unwrap_or_else(std::env::temp_dir);
    let bytes = m.get_one::<u64>("bytes").copied().unwrap_or(MACHINE_DEFAULT_BYTES);
    let seconds = m.get_one::<u32>("seconds").copied().unwrap_or(3);
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let free = machine::free_bytes(&dir).with_context(|| format!("cannot read free space of {}", dir.display()))?;
    // Room for the file plus some slack, so the test never fills the disk.
    if free < bytes.saturating_add(bytes / 4) {
        bail!(
            "{} has {:.1} MB free, too little to write {:.1} MB safely; pass a smaller --bytes",
            dir.display(),
            free as f64 / 1e6,
            bytes as f64 / 1e6
        );
    }
    let rate = machine::loopback(Duration::from_secs(u64::from(seconds))).context("loopback test failed")?;
    println!(
        "loopback: {:.1} MB/s (one TCP stream over 127.0.0.1, 1 MiB writes, {:.1} MB in {:.2} s)",
        rate.mb_per_sec(),
        rate.bytes as f64 / 1e6,
        rate.elapsed.as_secs_f64()
    );
    match machine::iperf3_loopback(seconds) {
        Some(r) => println!(
            "loopback (iperf3): {:.1} MB/s ({:.1} Gbit/s, one stream)",
            r.mb_per_sec(),
            r.bytes_per_sec() * 8.0 / 1e9
        ),
        None => println!("loopback (iperf3): not measured (iperf3 is not installed or did not run)"),
    }
    let disk = machine::disk_write(&dir, bytes).with_context(|| format!("disk test in {} failed", dir.display()))?;
    println!(
        "disk write: {:.1} MB/s ({} bytes in 1 MiB writes + fdatasync in {}, {:.2} s)",
        disk.mb_per_sec(),
        disk.bytes,
        dir.display(),
        disk.elapsed.as_secs_f64()
    );
    match machine::dd_write(&dir, bytes) {
        Some(r) => println!(
            "disk write (dd bs=1M conv=fdatasync): {:.1} MB/s ({} bytes, {:.2} s)",
            r.mb_per_sec(),
            r.bytes,
            r.elapsed.as_secs_f64()
        ),
        None => println!("disk write (dd bs=1M conv=fdatasync): not measured (dd is not installed or failed)"),
    }
    println!("free space: {:.1} GB in {}", free as f64 / 1e9, dir.display());
    println!("CPU clock ticks: {} per second (getconf CLK_TCK)", machine::clock_ticks_per_sec());
    Ok(ExitCode::SUCCESS)
}

fn producer_command() -> Command {
    Command::new("producer")
        .about("Producer load test (kafka-producer-perf-test.sh)")
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").required(true).help("Topic to produce to"))
        .arg(
            Arg::new("num-records")
                .long("num-records")
                .value_name("N")
                .required(true)
                .value_parser(clap::value_parser!(u64))
                .help("Number of records to produce"),
        )
        .arg(
            Arg::new("record-size")
                .long("record-size")
                .value_name("BYTES")
                .value_parser(clap::value_parser!(usize))
                .help("Record size in bytes"),
        )
        .arg(
            Arg::new("payload-file")
                .long("payload-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Records are picked at random from this file's lines"),
        )
        .arg(
            Arg::new("payload-delimiter")
                .long("payload-delimiter")
                .value_name("DELIM")
                .default_value("\\n")
                .help("Delimiter between payloads in --payload-file"),
        )
        .arg(
            Arg::new("throughput")
                .long("throughput")
                .value_name("RECORDS/SEC")
                .required(true)
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(f64))
                .help("Throttle to this many records/sec; -1 = no limit"),
        )
        .arg(
            Arg::new("producer-props")
                .long("producer-props")
                .value_name("KEY=VALUE")
                .num_args(1..)
                .action(ArgAction::Append)
                .help("Producer configs, e.g. acks=1 linger.ms=5"),
        )
        .arg(common::config_file_arg("producer.config", "Producer configs in a properties file"))
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT")
                .help("Brokers (or bootstrap.servers in --producer-props)"),
        )
        .arg(
            Arg::new("print-metrics")
                .long("print-metrics")
                .action(ArgAction::SetTrue)
                .help("Accepted for compatibility"),
        )
}

fn consumer_command() -> Command {
    Command::new("consumer")
        .about("Consumer load test (kafka-consumer-perf-test.sh)")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .alias("broker-list")
                .value_name("HOST:PORT")
                .required(true)
                .help("Brokers to connect to"),
        )
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").required(true).help("Topic to consume from"))
        .arg(
            Arg::new("messages")
                .long("messages")
                .value_name("N")
                .required(true)
                .value_parser(clap::value_parser!(u64))
                .help("Number of records to consume"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("MS")
                .default_value("10000")
                .value_parser(clap::value_parser!(u64))
                .help("Give up if no record arrives for this long"),
        )
        .arg(
            Arg::new("fetch-size")
                .long("fetch-size")
                .value_name("BYTES")
                .default_value("1048576")
                .value_parser(clap::value_parser!(i32))
                .help("Bytes fetched per partition per request"),
        )
        .arg(
            Arg::new("from-latest")
                .long("from-latest")
                .action(ArgAction::SetTrue)
                .help("Start at the end instead of the beginning"),
        )
        .arg(
            Arg::new("hide-header").long("hide-header").action(ArgAction::SetTrue).help("Do not print the header line"),
        )
        .arg(
            Arg::new("show-detailed-stats")
                .long("show-detailed-stats")
                .action(ArgAction::SetTrue)
                .help("Print a line every --reporting-interval"),
        )
        .arg(
            Arg::new("reporting-interval")
                .long("reporting-interval")
                .value_name("MS")
                .default_value("5000")
                .value_parser(clap::value_parser!(u64))
                .help("Interval of detailed stats"),
        )
        .arg(common::config_file_arg("consumer.config", "Consumer configs in a properties file"))
        .arg(
            Arg::new("group")
                .long("group")
                .value_name("GROUP")
                .help("Join this consumer group and subscribe (default: assign every partition, no group)"),
        )
        .arg(
            Arg::new("print-metrics")
                .long("print-metrics")
                .action(ArgAction::SetTrue)
                .help("Accepted for compatibility"),
        )
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    match m.subcommand() {
        Some(("producer", sub)) => run_producer(sub),
        Some(("consumer", sub)) => run_consumer(sub),
        Some(("machine", sub)) => run_machine(sub),
        _ => bail!("perf needs a subcommand: producer, consumer or machine"),
    }
}

fn payloads(m: &ArgMatches) -> anyhow::Result<Vec<Bytes>> {
    match (m.get_one::<usize>("record-size"), m.get_one::<PathBuf>("payload-file")) {
        (Some(_), Some(_)) => bail!("Either --record-size or --payload-file must be specified but not both."),
        (None, None) => bail!("Either --record-size or --payload-file must be specified but not both."),
        (Some(&size), None) => {
            // Random uppercase letters, like Kafka's tool, so compression has something to do.
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let bytes: Vec<u8> = (0..size)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b'A' + (seed % 26) as u8
                })
                .collect();
            Ok(vec![Bytes::from(bytes)])
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let delim = m
                .get_one::<String>("payload-delimiter")
                .map_or("\n".to_string(), |d| d.replace("\\n", "\n").replace("\\t", "\t"));
            let list: Vec<Bytes> = text
                .split(delim.as_str())
                .filter(|s| !s.is_empty())
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect();
            if list.is_empty() {
                bail!("File {} contains no payloads", path.display());
            }
            println!("Reading payloads from: {}", path.display());
            println!("Number of messages read: {}", list.len());
            Ok(list)
        }
    }
}

/// Latency statistics of a window or of the whole run.
#[derive(Default)]
struct Window {
    count: u64,
    bytes: u64,
    latency_sum_ms: f64,
    latency_max_ms: f64,
    started: Option<Instant>,
}

impl Window {
    fn record(&mut self, bytes: usize, latency_ms: f64) {
        self.count += 1;
        self.bytes += bytes as u64;
        self.latency_sum_ms += latency_ms;
        self.latency_max_ms = self.latency_max_ms.max(latency_ms);
    }
}

fn run_producer(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let num = m.get_one::<u64>("num-records").copied().unwrap_or(0);
    let throughput = m.get_one::<f64>("throughput").copied().unwrap_or(-1.0);
    let payloads = payloads(m)?;
    let mut props = std::collections::BTreeMap::new();
    if let Some(path) = m.get_one::<PathBuf>("producer.config") {
        props.extend(common::read_properties(path)?);
    }
    if let Some(items) = m.get_many::<String>("producer-props") {
        props.extend(common::parse_kv(items, "--producer-props")?);
    }
    let bootstrap = match m.get_one::<String>("bootstrap-server").cloned().or_else(|| props.remove("bootstrap.servers"))
    {
        Some(b) => b,
        None => {
            bail!("Missing bootstrap servers: pass --bootstrap-server or --producer-props bootstrap.servers=HOST:PORT")
        }
    };
    props.remove("bootstrap.servers");
    let mut cfg = ProducerConfig::new(bootstrap);
    for (k, v) in &props {
        cfg.set(k, v)?;
    }
    let rt = common::runtime()?;
    rt.block_on(async move {
        let producer = Producer::new(cfg).await.context("cannot start the producer")?;
        let bar = output::progress(num, "producing");
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, usize, DeliveryFuture)>();
        let bar2 = bar.clone();
        let stats = tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut total = Window { started: Some(Instant::now()), ..Window::default() };
            let mut window = Window { started: Some(Instant::now()), ..Window::default() };
            let mut errors = 0u64;
            while let Some((sent, size, fut)) = rx.recv().await {
                match fut.await {
                    Ok(_) => {
                        let ms = sent.elapsed().as_secs_f64() * 1000.0;
                        latencies.push(ms as u32);
                        total.record(size, ms);
                        window.record(size, ms);
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 10 {
                            eprintln!("Error producing record: {e}");
                        }
                    }
                }
                bar2.inc(1);
                if window.started.is_some_and(|s| s.elapsed() >= Duration::from_secs(5)) {
                    let secs = window.started.map_or(1.0, |s| s.elapsed().as_secs_f64());
                    bar2.suspend(|| {
                        println!(
                            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                            window.count,
                            window.count as f64 / secs,
                            window.bytes as f64 / MB / secs,
                            window.latency_sum_ms / window.count.max(1) as f64,
                            window.latency_max_ms
                        )
                    });
                    window = Window { started: Some(Instant::now()), ..Window::default() };
                }
            }
            (latencies, total, errors)
        });
        let start = Instant::now();
        for i in 0..num {
            if throughput > 0.0 {
                let due = start + Duration::from_secs_f64(i as f64 / throughput);
                let now = Instant::now();
                if due > now {
                    tokio::time::sleep(due - now).await;
                }
            }
            let payload = payloads[(i as usize) % payloads.len()].clone();
            let size = payload.len();
            let sent = Instant::now();
            let fut = producer.send(ProducerRecord::new(topic.clone(), payload)).await?;
            if tx.send((sent, size, fut)).is_err() {
                bail!("the statistics task stopped");
            }
        }
        producer.flush().await?;
        drop(tx);
        let (mut latencies, total, errors) = stats.await.context("statistics task")?;
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let pct = |p: f64| -> u32 {
            if latencies.is_empty() {
                return 0;
            }
            let idx = ((latencies.len() as f64) * p) as usize;
            latencies[idx.min(latencies.len() - 1)]
        };
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            total.count,
            total.count as f64 / secs,
            total.bytes as f64 / MB / secs,
            total.latency_sum_ms / total.count.max(1) as f64,
            total.latency_max_ms,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        );
        producer.close().await?;
        Ok(if errors > 0 { ExitCode::from(super::EXIT_FAILURE) } else { ExitCode::SUCCESS })
    })
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in UTC, Kafka's perf-tool date format.
fn format_time(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}:{milli:03}", rem / 3600, (rem / 60) % 60, rem % 60)
}

fn run_consumer(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let messages = m.get_one::<u64>("messages").copied().unwrap_or(0);
    let timeout = Duration::from_millis(m.get_one::<u64>("timeout").copied().unwrap_or(10_000));
    let mut cfg = ConsumerConfig::new(bootstrap);
    for (k, v) in common::config_file_values(m, "consumer.config")? {
        cfg.set(&k, &v)?;
    }
    cfg.set("max.partition.fetch.bytes", &m.get_one::<i32>("fetch-size").copied().unwrap_or(1_048_576).to_string())?;
    let from_latest = m.get_flag("from-latest");
    let group = m.get_one::<String>("group").cloned();
    if let Some(g) = &group {
        cfg.set("group.id", g)?;
        cfg.set("auto.offset.reset", if from_latest { "latest" } else { "earliest" })?;
        cfg.set("enable.auto.commit", "true")?;
    }
    let detailed = m.get_flag("show-detailed-stats");
    let interval = Duration::from_millis(m.get_one::<u64>("reporting-interval").copied().unwrap_or(5000).max(1));
    if !m.get_flag("hide-header") {
        if detailed {
            println!("time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
        } else {
            println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
        }
    }
    let rt = common::runtime()?;
    rt.block_on(async move {
        let start_wall = SystemTime::now();
        let start = Instant::now();
        let mut consumer = Consumer::new(cfg).await.context("cannot start the consumer")?;
        let assigned_at: std::sync::Arc<std::sync::Mutex<Option<Instant>>> = Default::default();
        if group.is_some() {
            // As Kafka's tool: subscribe, and count the wait for the first assignment as rebalance time.
            let assigned_at = assigned_at.clone();
            let listener = crate::client::RebalanceCallbacks::new().on_assigned(move |parts| {
                let mut first = assigned_at.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() && !parts.is_empty() {
                    *first = Some(Instant::now());
                }
            });
            consumer.subscribe_with_listener(vec![topic.clone()], listener).await?;
        } else {
            let partitions = consumer.partitions_for(&topic).await?;
            consumer.assign(partitions.iter().map(|p| (topic.clone(), *p)).collect()).await?;
            for p in &partitions {
                consumer.seek(&topic, *p, if from_latest { SeekTo::End } else { SeekTo::Beginning }).await?;
            }
        }
        let setup_ms = start.elapsed().as_millis();

        let bar = output::progress(messages, "consuming");
        let (mut count, mut bytes) = (0u64, 0u64);
        let mut last_data = Instant::now();
        let mut last_report = Instant::now();
        let (mut report_count, mut report_bytes) = (0u64, 0u64);
        let fetch_start = Instant::now();
        while count < messages {
            let records = consumer.poll(Duration::from_millis(500)).await?;

            if records.is_empty() {
                if last_data.elapsed() >= timeout {
                    eprintln!("WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.", timeout.as_millis());
                    break;
                }
                continue;
            }
            last_data = Instant::now();
            for r in records.iter().take((messages - count) as usize) {
                count += 1;
                bytes += (r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)) as u64;
            }
            bar.set_position(count);
            if detailed && last_report.elapsed() >= interval {
                let secs = last_report.elapsed().as_secs_f64();
                let (dc, db) = (count - report_count, bytes - report_bytes);
                bar.suspend(|| {
                    println!(
                        "{}, 0, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
                        format_time(SystemTime::now()),
                        bytes as f64 / MB,
                        db as f64 / MB / secs,
                        count,
                        dc as f64 / secs,
                        (secs * 1000.0) as u64,
                        db as f64 / MB / secs,
                        dc as f64 / secs
                    )
                });
                last_report = Instant::now();
                report_count = count;
                report_bytes = bytes;
            }
        }
        bar.finish_and_clear();
        let total_secs = start.elapsed().as_secs_f64().max(1e-9);
        // With a group, Kafka's fetch time is what follows the first assignment.
        let first_assignment = *assigned_at.lock().unwrap_or_else(|e| e.into_inner());
        let (setup_ms, fetch_secs) = match first_assignment {
            Some(at) => {
                let r = at.duration_since(start);
                (r.as_millis(), (total_secs - r.as_secs_f64()).max(1e-9))
            }
            None => (setup_ms, fetch_start.elapsed().as_secs_f64().max(1e-9)),
        };
        if group.is_some() {
            // Commit what was read and leave the group.
            if let Err(e) = consumer.close().await {
                eprintln!("WARNING: closing the consumer: {e}");
            }
        }
        if !detailed {
            println!(
                "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
                format_time(start_wall),
                format_time(SystemTime::now()),
                bytes as f64 / MB,
                bytes as f64 / MB / total_secs,
                count,
                count as f64 / total_secs,
                setup_ms,
                (fetch_secs * 1000.0) as u64,
                bytes as f64 / MB / fetch_secs,
                count as f64 / fetch_secs
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::{format_time, parse_bytes};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn kafka_date_format() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_072_000_123);
        assert_eq!(format_time(t), "2025-11-25 12:00:00:123");
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01 00:00:00:000");
    }

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("8k"), Ok(8192));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1MB"), Ok(1 << 20));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }
}
