//! Shared by the benchmarks: a release broker process on an ephemeral port
//! and the librdkafka producer loop they time.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

/// Prints librdkafka's own log lines (its warnings, and its debug output when
/// `GREGOR_BENCH_RDKAFKA_DEBUG` names contexts such as `broker,topic,msg,protocol`)
/// to stderr: the benchmarks install no `log` logger, and without this a stuck
/// run shows nothing about why.
pub struct StderrLog;

impl ClientContext for StderrLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!("librdkafka {level:?} {fac}: {log_message}");
    }
}

impl ProducerContext for StderrLog {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

impl ConsumerContext for StderrLog {}

/// `config` with librdkafka's debug contexts from `GREGOR_BENCH_RDKAFKA_DEBUG`, if set.
pub fn with_debug(config: &mut ClientConfig) -> &mut ClientConfig {
    if let Ok(contexts) = std::env::var("GREGOR_BENCH_RDKAFKA_DEBUG") {
        config.set("debug", contexts);
    }
    config
}

/// A broker started by [`start_broker`]; killed on drop.
pub struct Broker {
    pub child: Child,
    pub addr: String,
    /// Every listener's `NAME` and `host:port`, from the `started` line.
    #[allow(dead_code)] // only some benchmarks use several listeners
    pub listeners: Vec<(String, String)>,
    /// `host:port` of `/metrics`, when `metrics.listener` is set.
    #[allow(dead_code)] // only the metrics comparison scrapes
    pub metrics: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The broker binary the benchmarks run: `GREGOR_BENCH_BROKER` when set (to
/// compare another build, e.g. a copy of an older binary as "before"), else
/// the one cargo built beside this benchmark.
pub fn broker_bin() -> std::path::PathBuf {
    std::env::var_os("GREGOR_BENCH_BROKER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_BIN_EXE_gregor")))
}

pub fn start_broker() -> Broker {
    start_broker_with(&[])
}

/// [`start_broker`] with extra `--override key=value` settings (they win).
pub fn start_broker_with(overrides: &[String]) -> Broker {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(broker_bin())
        .args(["server-start", "--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().join("logs").display()))
        .args(overrides.iter().flat_map(|o| ["--override", o.as_str()]))
        .env("RUST_LOG", std::env::var("GREGOR_BENCH_RUST_LOG").unwrap_or_else(|_| "info".to_string()))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn broker");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut metrics = None;
    let (addr, listeners) = loop {
        let line = lines.next().expect("broker exited").expect("read");
        // Only the `[KafkaServer id=N] started` line: with GREGOR_BENCH_RUST_LOG=debug
        // earlier lines carry `listener=` fields too.
        if !line.contains("] started") {
            continue;
        }
        if let Some(i) = line.find(" metrics=http://") {
            let rest = &line[i + 16..];
            metrics = rest.split_whitespace().next().and_then(|a| a.strip_suffix("/metrics")).map(str::to_string);
        }
        if let Some(i) = line.find(" listener=") {
            let rest = &line[i + 10..];
            let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
            let listeners = line
                .find(" listeners=")
                .map(|j| line[j + 11..].split_whitespace().next().unwrap_or_default())
                .unwrap_or_default()
                .split(',')
                .filter_map(|p| p.split_once('=').map(|(n, a)| (n.to_string(), a.to_string())))
                .collect();
            break (addr, listeners);
        }
    };
    // Keep draining stderr so the broker never blocks on a full pipe; with
    // GREGOR_BENCH_BROKER_LOG=path the lines are kept there for a post-mortem.
    let mut keep = std::env::var_os("GREGOR_BENCH_BROKER_LOG").and_then(|p| std::fs::File::create(p).ok());
    std::thread::spawn(move || {
        for line in lines {
            match line {
                Ok(line) => {
                    if let Some(f) = keep.as_mut() {
                        let _ = writeln!(f, "{line}");
                    }
                }
                // A line that is not UTF-8 is skipped, not the end of the stream.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {}
                Err(_) => break,
            }
        }
    });
    Broker { child, addr, listeners, metrics, _dir: dir }
}

/// Produces `count` records of `size` bytes to partition 0 and waits for every acknowledgement.
/// Queues `count` records of `size` bytes for `topic`/`partition`, polling while
/// librdkafka's queue is full (the caller flushes).
pub fn send(p: &BaseProducer<StderrLog>, topic: &str, partition: i32, count: usize, size: usize) {
    let payload = vec![b'x'; size];
    for _ in 0..count {
        loop {
            match p.send(BaseRecord::<(), _>::to(topic).partition(partition).payload(&payload)) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("produce to {topic}/{partition} failed: {e}"),
            }
        }
    }
}

/// librdkafka consumer settings for streaming as fast as it can: big fetches,
/// a deep queue, short waits.
/// librdkafka producer settings the benchmarks share: 5 ms linger, 1 MB batches,
/// a deep queue, no compression.
pub fn batching_producer<'a>(config: &'a mut ClientConfig, addr: &str, acks: &str) -> &'a mut ClientConfig {
    with_debug(config)
        .set("bootstrap.servers", addr)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.codec", "none")
}

#[allow(dead_code)] // the consuming benchmarks use it
pub fn streaming_consumer<'a>(config: &'a mut ClientConfig, addr: &str, group: &str) -> &'a mut ClientConfig {
    with_debug(config)
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "2097151")
        .set("queued.min.messages", "10000000")
        .set("fetch.queue.backoff.ms", "1")
        .set("fetch.wait.max.ms", "10")
}

pub fn produce(addr: &str, topic: &str, count: usize, size: usize, acks: &str) -> Duration {
    produce_with(addr, topic, count, size, acks, &[])
}

/// [`produce`] with extra librdkafka settings (e.g. `security.protocol=ssl`).
pub fn produce_with(
    addr: &str,
    topic: &str,
    count: usize,
    size: usize,
    acks: &str,
    extra: &[(&str, String)],
) -> Duration {
    let mut config = ClientConfig::new();
    for (k, v) in extra {
        config.set(*k, v);
    }
    let p: BaseProducer<StderrLog> =
        batching_producer(&mut config, addr, acks).create_with_context(StderrLog).expect("producer");
    let start = Instant::now();
    send(&p, topic, 0, count, size);
    // Name the address: a stuck flush (e.g. a TLS handshake that keeps failing, so
    // the records wait out message.timeout.ms) must say which listener it was.
    if let Err(e) = p.flush(Duration::from_secs(300)) {
        panic!("flush to {addr}: {e} ({} records not acknowledged)", p.in_flight_count());
    }
    start.elapsed()
}
