//! The fault harness: real `gregor` processes, a real idempotent librdkafka
//! producer, real faults (`kill -9`, damaged segment files), and a read-back
//! that counts what the broker lost, duplicated or reordered.
//!
//! It is shared by the `faults` bench target (`cargo bench --bench faults --
//! <mode> …`, long runs, a report on stdout) and by the integration tests
//! (`tests/integration/faults.rs` includes this file with `#[path]`, a few
//! cycles of each mode). So it depends only on external crates, never on
//! either crate's own modules, and gets the binary to run from [`Settings`].
//!
//! Modes:
//! - [`leader_kills`]: `gregor cluster up` with three brokers, a topic with
//!   RF=3 and `min.insync.replicas=2`; the leader of a partition is killed with
//!   `gregor cluster kill` (SIGKILL) and brought back with `gregor cluster
//!   start` while the producer runs.
//! - [`crash_loop`]: one broker (its own private coordinator), RF=1, killed
//!   and restarted while the producer runs.
//! - [`corrupt`]: one broker; acknowledged records, `kill -9`, one kind of
//!   damage to the active segment ([`Damage`]), restart, read-back.
//!
//! Every record is distinct: key = the partition-local sequence number,
//! value = `p<partition>-<seq>`, produced to an explicit partition, so the
//! read-back can tell lost, duplicated and reordered records apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;

/// The topic every mode produces to.
pub const TOPIC: &str = "faults";

/// How long a broker may take to start, a restart to register, the ISR to fill.
const STARTUP: Duration = Duration::from_secs(90);
/// How long a read-back of the whole topic may take.
const READ_BACK: Duration = Duration::from_secs(180);

/// What to run and how hard.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `gregor` binary under test.
    pub gregor: PathBuf,
    /// Faults to inject (kills, or damaged segments in `corrupt`).
    pub cycles: usize,
    /// Partitions of the topic (`corrupt` always uses one).
    pub partitions: i32,
    /// A fault comes a random time in [min_interval, max_interval] after the previous one settled.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// How long a killed broker stays down before it is started again.
    pub restart_delay: Duration,
    /// Records sent but not yet reported (acknowledged or failed), at most.
    pub window: usize,
    /// Records per second, 0 for as fast as the window allows.
    pub rate: u32,
    /// librdkafka's `message.timeout.ms`: long enough to outlive every outage.
    pub message_timeout: Duration,
    /// `corrupt`: acknowledged records produced before each damage.
    pub records_per_cycle: usize,
    /// `leader-kills`: wait for a full ISR before the next kill, so that one
    /// fault is in play at a time and the cluster keeps two live replicas.
    pub wait_for_isr: bool,
    pub seed: u64,
    /// Keep the work directory (logs, segments) instead of deleting it.
    pub keep: bool,
    /// No progress lines on stderr.
    pub quiet: bool,
}

impl Settings {
    pub fn new(gregor: PathBuf) -> Settings {
        Settings {
            gregor,
            cycles: 10,
            partitions: 3,
            min_interval: Duration::from_millis(1000),
            max_interval: Duration::from_millis(3000),
            restart_delay: Duration::from_millis(500),
            window: 1000,
            rate: 0,
            message_timeout: Duration::from_secs(300),
            records_per_cycle: 500,
            wait_for_isr: true,
            seed: time_seed(),
            keep: false,
            quiet: false,
        }
    }
}

/// A seed from the clock, for runs that do not name one.
pub fn time_seed() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

/// What a run saw. `passed` is the verdict.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub mode: String,
    pub seed: u64,
    pub cycles: usize,
    /// Broker processes killed with SIGKILL.
    pub kills: usize,
    pub sent: u64,
    /// Delivery reports with an offset.
    pub acknowledged: u64,
    /// Delivery reports with an error (or none at all before the final flush gave up).
    pub failed: u64,
    /// Acknowledged but not read back (in `corrupt`: only records before the damaged point count).
    pub lost: u64,
    /// Distinct values read back more than once.
    pub duplicated: u64,
    /// Values read back after a larger sequence number of the same partition (first copies only).
    pub reordered: u64,
    /// Failed deliveries that are in the log all the same (allowed: the producer gave up, the write had happened).
    pub failed_but_written: u64,
    /// Acknowledged records read back at another offset than the acknowledgement named.
    pub offset_mismatches: u64,
    /// `corrupt`: records at or after a damaged point that did not survive (allowed).
    pub damaged_away: u64,
    /// Records read back.
    pub read: u64,
    /// The longest wall-clock gap between two consecutive acknowledgements.
    pub longest_unavailability_ms: u64,
    pub elapsed_ms: u64,
    /// Anything else that fails the run: a broker that did not come back, a
    /// panic in a broker log, read errors, corrupt values, a fatal producer error.
    pub problems: Vec<String>,
    /// Worth knowing, not a failure.
    pub notes: Vec<String>,
    /// A few of the lost, duplicated and reordered values, for a first look.
    pub examples: Vec<String>,
}

impl Report {
    fn new(mode: &str, s: &Settings) -> Report {
        Report { mode: mode.into(), seed: s.seed, cycles: s.cycles, ..Report::default() }
    }

    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.problems.is_empty()
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "mode:                {} (seed {}, {} cycles)", self.mode, self.seed, self.cycles);
        let _ = writeln!(s, "kills:               {}", self.kills);
        let _ = writeln!(s, "sent:                {}", self.sent);
        let _ = writeln!(s, "acknowledged:        {}", self.acknowledged);
        let _ = writeln!(
            s,
            "failed:              {} ({} of them written all the same)",
            self.failed, self.failed_but_written
        );
        let _ = writeln!(s, "read back:           {}", self.read);
        let _ = writeln!(s, "lost:                {}", self.lost);
        let _ = writeln!(s, "duplicated:          {}", self.duplicated);
        let _ = writeln!(s, "reordered:           {}", self.reordered);
        let _ = writeln!(s, "offset mismatches:   {}", self.offset_mismatches);
        if self.mode == "corrupt" {
            let _ = writeln!(s, "damaged away:        {} (records at or after a damaged point)", self.damaged_away);
        }
        let _ = writeln!(
            s,
            "longest unavailable: {:.2} s (longest gap between two acknowledgements)",
            self.longest_unavailability_ms as f64 / 1000.0
        );
        let _ = writeln!(s, "elapsed:             {:.1} s", self.elapsed_ms as f64 / 1000.0);
        for p in &self.problems {
            let _ = writeln!(s, "problem: {p}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        for e in &self.examples {
            let _ = writeln!(s, "example: {e}");
        }
        let _ = writeln!(s, "verdict:             {}", if self.passed() { "PASS" } else { "FAIL" });
        s
    }

    fn example(&mut self, what: String) {
        if self.examples.len() < 20 {
            self.examples.push(what);
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers: randomness, progress, polling, locks.

/// xorshift64*: enough randomness for fault schedules, reproducible from `--seed`
/// (the crate has no `rand` dependency and this does not justify one).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
        Duration::from_millis(lo.min(hi) + self.below(hi.abs_diff(lo) + 1))
    }
}

/// Progress lines on stderr, stamped with the time since the run started.
#[derive(Clone, Copy)]
struct Progress {
    start: Instant,
    quiet: bool,
}

impl Progress {
    fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("[{:7.2}s] {msg}", self.start.elapsed().as_secs_f64());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking delivery callback must not hide the counts gathered so far.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `cond` every 100 ms until it holds or `timeout` passes.
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A temp dir that is deleted, or kept (and named) with `--keep`.
struct WorkDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl WorkDir {
    fn new(keep: bool, progress: Progress) -> anyhow::Result<WorkDir> {
        let dir = tempfile::Builder::new().prefix("gregor-faults-").tempdir().context("cannot create a temp dir")?;
        let path = dir.path().to_path_buf();
        if keep {
            progress.say(&format!("work directory (kept): {}", path.display()));
            return Ok(WorkDir { dir: None, path: dir.keep() });
        }
        Ok(WorkDir { dir: Some(dir), path })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().map_or(self.path.as_path(), |d| d.path())
    }
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn has_panic(log: &str) -> bool {
    log.contains("panicked at")
}

// ---------------------------------------------------------------------------
// Processes: a single broker run directly, a cluster run through `gregor cluster`.

/// One `gregor server-start` with its own log dir and private coordinator,
/// restarted on the same port. Killed on drop.
struct SingleBroker {
    gregor: PathBuf,
    dir: PathBuf,
    overrides: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl SingleBroker {
    fn start(gregor: &Path, dir: &Path, overrides: &[&str]) -> anyhow::Result<SingleBroker> {
        let mut b = SingleBroker {
            gregor: gregor.to_path_buf(),
            dir: dir.to_path_buf(),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            port: 0,
            child: None,
        };
        b.spawn()?;
        Ok(b)
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    fn log_text(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the process and waits for its "started … listener=" line; an
    /// exit before that is an error carrying the log's tail.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.gregor);
        cmd.arg("server-start")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port))
            .arg("--override")
            .arg(format!("log.dirs={}", self.log_dir().display()))
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for o in &self.overrides {
            cmd.arg("--override").arg(o);
        }
        let mut child = cmd.spawn().with_context(|| format!("cannot run {}", self.gregor.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (tx, rx) = mpsc::channel();
        let log_path = self.log_path();
        std::thread::spawn(move || {
            let mut log = fs::OpenOptions::new().create(true).append(true).open(&log_path).ok();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !sent {
                    if let Some(port) = listener_port(&line) {
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
            }
        });
        let deadline = Instant::now() + STARTUP;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(port) => {
                    self.port = port;
                    self.child = Some(child);
                    return Ok(());
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        // Let the log thread write the last lines.
                        std::thread::sleep(Duration::from_millis(200));
                        bail!(
                            "broker exited during startup ({status}); its log ends:\n{}",
                            log_tail(&self.log_path(), 15)
                        );
                    }
                    if Instant::now() >= deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        bail!(
                            "broker did not start within {STARTUP:?}; its log ends:\n{}",
                            log_tail(&self.log_path(), 15)
                        );
                    }
                }
            }
        }
    }

    /// SIGKILL, and reap the process.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for SingleBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn listener_port(line: &str) -> Option<u16> {
    if !line.contains("started") {
        return None;
    }
    let rest = &line[line.find("listener=")? + "listener=".len()..];
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Runs the binary under test, an error naming the command and its stderr when it fails.
fn gregor(bin: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!("`gregor {}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A detached `gregor cluster up`; `cluster down` on drop.
struct Cluster {
    gregor: PathBuf,
    dir: PathBuf,
    bootstrap: String,
}

impl Cluster {
    fn up(gregor_bin: &Path, dir: &Path, brokers: usize) -> anyhow::Result<Cluster> {
        fs::create_dir_all(dir)?;
        // Short sessions so that a killed leader is noticed (and its id can
        // register again) within seconds; tickTime 500 lets sessions be that short.
        let spec = "zookeeper: {overrides: {tickTime: \"500\"}}\n\
                    overrides:\n  \
                    zookeeper.session.timeout.ms: \"3000\"\n  \
                    replica.lag.time.max.ms: \"5000\"\n  \
                    replica.fetch.wait.max.ms: \"200\"\n  \
                    replica.fetch.backoff.ms: \"100\"\n  \
                    unclean.leader.election.enable: \"false\"\n";
        let spec_path = dir.join("faults-cluster.yaml");
        fs::write(&spec_path, spec)?;
        let cluster_dir = dir.join("cluster");
        let cd = cluster_dir.display().to_string();
        let sp = spec_path.display().to_string();
        let n = brokers.to_string();
        let args = ["cluster", "up", "--brokers", &n, "--ephemeral-ports", "--detach", "--dir", &cd, "--spec", &sp];
        let mut cluster = Cluster { gregor: gregor_bin.to_path_buf(), dir: cluster_dir, bootstrap: String::new() };
        gregor(gregor_bin, &args)?;
        let status = gregor(gregor_bin, &["cluster", "status", "--dir", &cd, "--output", "json"])?;
        let json: serde_json::Value = serde_json::from_str(&status).context("cluster status is not JSON")?;
        let endpoints: Vec<String> = json["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter(|n| !n["id"].is_null())
                    .filter_map(|n| n["endpoint"].as_str())
                    .map(|e| e.trim_start_matches("PLAINTEXT://").to_string())
                    .collect()
            })
            .unwrap_or_default();
        if endpoints.len() != brokers {
            bail!("cluster status lists {} brokers, not {brokers}: {status}", endpoints.len());
        }
        cluster.bootstrap = endpoints.join(",");
        Ok(cluster)
    }

    fn ctl(&self) -> ClusterCtl {
        ClusterCtl { gregor: self.gregor.clone(), dir: self.dir.clone() }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.ctl().run(&["down"]);
    }
}

/// `gregor cluster <verb> … --dir <dir>`, usable from the fault thread.
#[derive(Clone)]
struct ClusterCtl {
    gregor: PathBuf,
    dir: PathBuf,
}

impl ClusterCtl {
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let dir = self.dir.display().to_string();
        let mut all = vec!["cluster"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--dir", &dir]);
        gregor(&self.gregor, &all)
    }

    fn broker_logs(&self) -> Vec<PathBuf> {
        fs::read_dir(self.dir.join("logs"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("broker-")))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn create_topic(bin: &Path, bootstrap: &str, partitions: i32, rf: i32, configs: &[&str]) -> anyhow::Result<()> {
    let (p, r) = (partitions.to_string(), rf.to_string());
    let mut args = vec![
        "topics",
        "--bootstrap-server",
        bootstrap,
        "--create",
        "--topic",
        TOPIC,
        "--partitions",
        &p,
        "--replication-factor",
        &r,
    ];
    for c in configs {
        args.extend_from_slice(&["--config", c]);
    }
    gregor(bin, &args).map(drop)
}

// ---------------------------------------------------------------------------
// Metadata.

fn metadata_client(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "gregor-faults-metadata")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .context("metadata client")
}

/// (leader, ISR) of each partition of [`TOPIC`], by partition id.
fn partition_states(client: &BaseConsumer) -> Option<Vec<(i32, Vec<i32>)>> {
    let md = client.fetch_metadata(Some(TOPIC), Duration::from_secs(5)).ok()?;
    let topic = md.topics().iter().find(|t| t.name() == TOPIC)?;
    if topic.error().is_some() {
        return None;
    }
    let mut parts: Vec<_> = topic.partitions().iter().map(|p| (p.id(), p.leader(), p.isr().to_vec())).collect();
    parts.sort();
    Some(parts.into_iter().map(|(_, l, isr)| (l, isr)).collect())
}

/// Every partition has a leader and an ISR of `isr` replicas.
fn healthy(client: &BaseConsumer, partitions: i32, isr: usize) -> bool {
    partition_states(client)
        .is_some_and(|ps| ps.len() == partitions as usize && ps.iter().all(|(l, i)| *l >= 0 && i.len() >= isr))
}

// ---------------------------------------------------------------------------
// The producer stream and its delivery reports.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    Pending,
    Acked(i64),
    Failed,
}

#[derive(Default)]
struct Deliveries {
    /// By partition, then sequence number.
    by_partition: Vec<Vec<Delivery>>,
    outstanding: usize,
    acked: u64,
    last_ack: Option<Instant>,
    longest_gap: Duration,
    /// Delivery errors by message, counted.
    errors: BTreeMap<String, u64>,
    /// Reports for records the harness did not send (should not happen).
    strays: u64,
}

/// The producer's context: records every delivery report.
#[derive(Clone, Default)]
struct Tracker(Arc<Mutex<Deliveries>>);

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let (msg, outcome) = match result {
            Ok(m) => (m, Delivery::Acked(m.offset())),
            Err((_, m)) => (m, Delivery::Failed),
        };
        let seq = msg.key().and_then(|k| std::str::from_utf8(k).ok()).and_then(|k| k.parse::<usize>().ok());
        let mut d = lock(&self.0);
        d.outstanding = d.outstanding.saturating_sub(1);
        let slot = usize::try_from(msg.partition())
            .ok()
            .zip(seq)
            .and_then(|(p, seq)| d.by_partition.get_mut(p).and_then(|v| v.get_mut(seq)));
        match slot {
            Some(slot) => *slot = outcome,
            None => d.strays += 1,
        }
        match result {
            Ok(_) => {
                let now = Instant::now();
                if let Some(last) = d.last_ack {
                    d.longest_gap = d.longest_gap.max(now - last);
                }
                d.last_ack = Some(now);
                d.acked += 1;
            }
            Err((e, _)) => *d.errors.entry(e.to_string()).or_default() += 1,
        }
    }
}

fn idempotent_producer(bootstrap: &str, s: &Settings, tracker: Tracker) -> anyhow::Result<BaseProducer<Tracker>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.send.max.retries", "2147483647")
        .set("retry.backoff.ms", "100")
        .set("retry.backoff.max.ms", "1000")
        .set("message.timeout.ms", s.message_timeout.as_millis().to_string())
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", (s.window.max(1) * 2).to_string())
        .set("topic.metadata.refresh.interval.ms", "1000")
        // Reconnect soon after a restart, so that the unavailability measured is the broker's.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .create_with_context(tracker)
        .context("producer")
}

/// Sends the next record of partition `p`'s stream; false when the local queue is full.
fn send_next(producer: &BaseProducer<Tracker>, tracker: &Tracker, p: i32) -> Result<bool, KafkaError> {
    let seq = lock(&tracker.0).by_partition[p as usize].len();
    let key = seq.to_string();
    let value = format!("p{p}-{seq}");
    match producer.send(BaseRecord::<String, String>::to(TOPIC).partition(p).key(&key).payload(&value)) {
        Ok(()) => {
            // Delivery callbacks run only inside poll() on this thread, so the
            // slot exists before its report can arrive.
            let mut d = lock(&tracker.0);
            d.by_partition[p as usize].push(Delivery::Pending);
            d.outstanding += 1;
            Ok(true)
        }
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Ok(false),
        Err((e, _)) => Err(e),
    }
}

/// Produces round-robin over the partitions until `stop`, within the window
/// and rate; returns the number sent. A fatal producer error ends it early.
fn produce_until(
    producer: &BaseProducer<Tracker>,
    tracker: &Tracker,
    s: &Settings,
    partitions: i32,
    stop: &AtomicBool,
    report: &mut Report,
) -> u64 {
    let start = Instant::now();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            report.problems.push(format!("fatal producer error {code:?}: {reason}"));
            break;
        }
        let rate_ok = s.rate == 0 || (sent as f64) < start.elapsed().as_secs_f64() * f64::from(s.rate);
        if !rate_ok || lock(&tracker.0).outstanding >= s.window {
            producer.poll(Duration::from_millis(5));
            continue;
        }
        match send_next(producer, tracker, (sent % partitions as u64) as i32) {
            Ok(true) => sent += 1,
            Ok(false) => producer.poll(Duration::from_millis(10)),
            Err(e) => {
                *lock(&tracker.0).errors.entry(format!("send: {e}")).or_default() += 1;
                producer.poll(Duration::from_millis(100));
            }
        }
        producer.poll(Duration::ZERO);
    }
    sent
}

/// Waits for every outstanding delivery report; records without one count as failed.
fn drain(producer: &BaseProducer<Tracker>, s: &Settings, report: &mut Report) {
    if let Err(e) = producer.flush(s.message_timeout + Duration::from_secs(30)) {
        report.notes.push(format!("flush gave up: {e}"));
    }
    producer.poll(Duration::ZERO);
}

/// Folds the delivery reports into the report's counts.
fn count_deliveries(tracker: &Tracker, report: &mut Report) {
    let d = lock(&tracker.0);
    report.sent = d.by_partition.iter().map(|v| v.len() as u64).sum();
    report.acknowledged = d.by_partition.iter().flatten().filter(|x| matches!(x, Delivery::Acked(_))).count() as u64;
    report.failed = report.sent - report.acknowledged;
    report.longest_unavailability_ms = d.longest_gap.as_millis() as u64;
    let unreported = d.by_partition.iter().flatten().filter(|x| **x == Delivery::Pending).count();
    if unreported > 0 {
        report.notes.push(format!("{unreported} records got no delivery report (counted as failed)"));
    }
    for (e, n) in &d.errors {
        report.notes.push(format!("delivery error ×{n}: {e}"));
    }
    if d.strays > 0 {
        report.problems.push(format!("{} delivery reports for records the harness did not send", d.strays));
    }
}

// ---------------------------------------------------------------------------
// Read-back.

struct ReadRecord {
    offset: i64,
    /// The sequence number when the key and value are well-formed for the partition.
    seq: Option<usize>,
    value: String,
}

struct ReadBack {
    by_partition: Vec<Vec<ReadRecord>>,
    /// Consumer errors (CRC failures, …) and partitions not read to their end.
    problems: Vec<String>,
}

/// Reads every partition from the beginning up to its high watermark (or
/// end-of-partition), with CRC checks on.
fn read_back(bootstrap: &str, partitions: i32) -> anyhow::Result<ReadBack> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "gregor-faults-readback")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("check.crcs", "true")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("read-back consumer")?;
    let deadline = Instant::now() + READ_BACK;
    let mut high = Vec::new();
    for p in 0..partitions {
        let hw = loop {
            match consumer.fetch_watermarks(TOPIC, p, Duration::from_secs(5)) {
                Ok((_, hw)) => break hw,
                Err(e) if Instant::now() >= deadline => bail!("no watermarks for partition {p}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        high.push(hw);
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning).context("assignment")?;
    }
    consumer.assign(&tpl).context("assign")?;
    let mut out = ReadBack { by_partition: (0..partitions).map(|_| Vec::new()).collect(), problems: Vec::new() };
    let mut next = vec![0i64; partitions as usize];
    let mut ended = vec![false; partitions as usize];
    let done = |next: &[i64], ended: &[bool]| (0..partitions as usize).all(|p| ended[p] || next[p] >= high[p]);
    let mut errors = 0;
    while !done(&next, &ended) {
        if Instant::now() >= deadline {
            out.problems.push(format!("read-back timed out at offsets {next:?} of high watermarks {high:?}"));
            break;
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Ok(m)) => {
                let p = m.partition();
                let Some(records) = usize::try_from(p).ok().and_then(|i| out.by_partition.get_mut(i)) else {
                    continue;
                };
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
                let seq = key.and_then(|k| k.parse::<usize>().ok()).filter(|seq| value == format!("p{p}-{seq}"));
                records.push(ReadRecord { offset: m.offset(), seq, value });
                next[p as usize] = m.offset() + 1;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(i) = usize::try_from(p).ok().filter(|i| *i < ended.len()) {
                    if next[i] >= high[i] {
                        ended[i] = true;
                    }
                }
            }
            Some(Err(e)) => {
                errors += 1;
                if errors <= 10 {
                    out.problems.push(format!("read error: {e}"));
                }
            }
        }
    }
    if errors > 10 {
        out.problems.push(format!("{errors} read errors in all"));
    }
    Ok(out)
}

/// Lost, duplicated, reordered, and the rest, from the delivery reports and the read-back.
fn analyse(tracker: &Tracker, read: &ReadBack, report: &mut Report) {
    count_deliveries(tracker, report);
    report.problems.extend(read.problems.iter().cloned());
    let d = lock(&tracker.0);
    for (p, records) in read.by_partition.iter().enumerate() {
        report.read += records.len() as u64;
        let sent = d.by_partition.get(p).map(Vec::as_slice).unwrap_or_default();
        // seq → offsets it was read at.
        let mut seen: HashMap<usize, Vec<i64>> = HashMap::new();
        let mut max_seq: Option<usize> = None;
        let mut last_offset = -1;
        let mut malformed = 0;
        for r in records {
            if r.offset <= last_offset {
                report.problems.push(format!("partition {p}: offset {} read after offset {last_offset}", r.offset));
            }
            last_offset = r.offset;
            let Some(seq) = r.seq.filter(|s| *s < sent.len()) else {
                malformed += 1;
                if malformed <= 3 {
                    report
                        .problems
                        .push(format!("partition {p}: unexpected record {:?} at offset {}", r.value, r.offset));
                }
                continue;
            };
            let offsets = seen.entry(seq).or_default();
            offsets.push(r.offset);
            if offsets.len() == 2 {
                report.duplicated += 1;
                report.example(format!("duplicated p{p}-{seq}: offsets {offsets:?}"));
            }
            if offsets.len() > 1 {
                continue;
            }
            match max_seq {
                Some(m) if seq < m => {
                    report.reordered += 1;
                    report.example(format!("reordered p{p}-{seq} at offset {} after p{p}-{m}", r.offset));
                }
                _ => max_seq = Some(seq),
            }
        }
        if malformed > 3 {
            report.problems.push(format!("partition {p}: {malformed} unexpected records in all"));
        }
        for (seq, delivery) in sent.iter().enumerate() {
            match (delivery, seen.get(&seq)) {
                (Delivery::Acked(offset), None) => {
                    report.lost += 1;
                    report.example(format!("lost p{p}-{seq} (acknowledged at offset {offset})"));
                }
                (Delivery::Acked(offset), Some(at)) if !at.contains(offset) => {
                    report.offset_mismatches += 1;
                    report.example(format!("p{p}-{seq} acknowledged at offset {offset}, read at {at:?}"));
                }
                (Delivery::Failed | Delivery::Pending, Some(_)) => report.failed_but_written += 1,
                _ => {}
            }
        }
    }
}

/// Runs `faults` on a scoped thread while this thread produces; when the
/// faults are done, stops, drains the deliveries and reads everything back.
fn stream_with_faults(
    s: &Settings,
    bootstrap: &str,
    partitions: i32,
    progress: Progress,
    report: &mut Report,
    faults: impl FnOnce(&Tracker) -> Vec<String> + Send,
) -> anyhow::Result<Tracker> {
    let tracker = Tracker::default();
    lock(&tracker.0).by_partition = (0..partitions).map(|_| Vec::new()).collect();
    let producer = idempotent_producer(bootstrap, s, tracker.clone())?;
    let stop = AtomicBool::new(false);
    let fault_problems = std::thread::scope(|scope| {
        let faults = scope.spawn(|| {
            let problems = faults(&tracker);
            // Produce on until the stream is acknowledged again after the last
            // fault, so that its retries and their answers are part of the run.
            let acked = lock(&tracker.0).acked;
            if wait_for(STARTUP, || lock(&tracker.0).acked > acked) {
                std::thread::sleep(Duration::from_secs(1));
            }
            stop.store(true, Ordering::Relaxed);
            problems
        });
        report.sent = produce_until(&producer, &tracker, s, partitions, &stop, report);
        // The producer may have stopped early (a fatal error): let the faults finish anyway.
        faults.join().unwrap_or_else(|_| vec!["the fault thread panicked".to_string()])
    });
    report.problems.extend(fault_problems);
    progress.say(&format!("stopped producing after {} records; waiting for their delivery reports", report.sent));
    drain(&producer, s, report);
    drop(producer);
    Ok(tracker)
}

/// Waits until the stream has its first acknowledgement (so the faults hit a running producer).
fn wait_first_ack(tracker: &Tracker) -> bool {
    wait_for(STARTUP, || lock(&tracker.0).acked > 0)
}

// ---------------------------------------------------------------------------
// Mode 1: leader kills on a three-broker cluster.

/// Kills partition leaders of a 3-broker RF=3 cluster while an idempotent
/// producer runs, then reads everything back.
pub fn leader_kills(s: &Settings) -> anyhow::Result<Report> {
    let progress = Progress { start: Instant::now(), quiet: s.quiet };
    let mut report = Report::new("leader-kills", s);
    let work = WorkDir::new(s.keep, progress)?;
    let cluster = Cluster::up(&s.gregor, work.path(), 3)?;
    progress.say(&format!("cluster up: {}", cluster.bootstrap));
    create_topic(&s.gregor, &cluster.bootstrap, s.partitions, 3, &["min.insync.replicas=2"])?;
    let meta = metadata_client(&cluster.bootstrap)?;
    if !wait_for(STARTUP, || healthy(&meta, s.partitions, 3)) {
        bail!("topic {TOPIC} did not get leaders and full ISRs: {:?}", partition_states(&meta));
    }
    progress.say(&format!("topic {TOPIC}: {} partitions, RF=3, min.insync.replicas=2", s.partitions));

    let ctl = cluster.ctl();
    let mut kills = 0;
    let tracker = stream_with_faults(s, &cluster.bootstrap, s.partitions, progress, &mut report, |tracker| {
        let mut problems = Vec::new();
        if !wait_first_ack(tracker) {
            return vec!["no record was acknowledged before the first fault".into()];
        }
        let mut rng = Rng::new(s.seed);
        for cycle in 1..=s.cycles {
            std::thread::sleep(rng.between(s.min_interval, s.max_interval));
            let partition = rng.below(s.partitions as u64) as usize;
            let mut leader = -1;
            wait_for(STARTUP, || {
                leader = partition_states(&meta).and_then(|ps| ps.get(partition).map(|p| p.0)).unwrap_or(-1);
                leader >= 0
            });
            if leader < 0 {
                problems.push(format!("cycle {cycle}: partition {partition} has no leader"));
                break;
            }
            if let Err(e) = ctl.run(&["kill", &leader.to_string()]) {
                problems.push(format!("cycle {cycle}: {e:#}"));
                break;
            }
            kills += 1;
            progress.say(&format!("cycle {cycle}/{}: killed broker {leader}, leader of {TOPIC}-{partition}", s.cycles));
            std::thread::sleep(s.restart_delay);
            if let Err(e) = ctl.run(&["start", &leader.to_string(), "--timeout", &STARTUP.as_secs().to_string()]) {
                problems.push(format!("cycle {cycle}: broker {leader} did not come back: {e:#}"));
                break;
            }
            progress.say(&format!("cycle {cycle}/{}: broker {leader} registered again", s.cycles));
            if s.wait_for_isr && !wait_for(STARTUP, || healthy(&meta, s.partitions, 3)) {
                progress.say(&format!("cycle {cycle}: the ISRs are not full after {STARTUP:?}; going on"));
            }
        }
        problems
    })?;
    report.kills = kills;

    progress.say("waiting for full ISRs before the read-back");
    if !wait_for(STARTUP, || healthy(&meta, s.partitions, 3)) {
        report.notes.push(format!("ISRs not full before the read-back: {:?}", partition_states(&meta)));
    }
    let read = read_back(&cluster.bootstrap, s.partitions)?;
    analyse(&tracker, &read, &mut report);
    for log in ctl.broker_logs() {
        if has_panic(&fs::read_to_string(&log).unwrap_or_default()) {
            report.problems.push(format!("a panic in {}", log.display()));
        }
    }
    report.elapsed_ms = progress.start.elapsed().as_millis() as u64;
    drop(cluster);
    Ok(report)
}

// ---------------------------------------------------------------------------
// Mode 2: crash loop of a single broker.

/// Kills and restarts a single broker while an idempotent producer runs, then reads everything back.
pub fn crash_loop(s: &Settings) -> anyhow::Result<Report> {
    let progress = Progress { start: Instant::now(), quiet: s.quiet };
    let mut report = Report::new("crash-loop", s);
    let work = WorkDir::new(s.keep, progress)?;
    // An fsync before every acknowledgement: acknowledged means on disk, and
    // the broker spends much of its time between appending a batch and
    // answering for it, which is where a kill tests its duplicate detection.
    let mut broker = SingleBroker::start(&s.gregor, work.path(), &["log.flush.interval.messages=1"])?;
    let bootstrap = broker.bootstrap();
    progress.say(&format!("broker up: {bootstrap}"));
    create_topic(&s.gregor, &bootstrap, s.partitions, 1, &[])?;
    let meta = metadata_client(&bootstrap)?;
    if !wait_for(STARTUP, || healthy(&meta, s.partitions, 1)) {
        bail!("topic {TOPIC} did not get leaders: {:?}", partition_states(&meta));
    }
    let mut kills = 0;
    let mut panicked = false;
    let tracker = stream_with_faults(s, &bootstrap, s.partitions, progress, &mut report, |tracker| {
        if !wait_first_ack(tracker) {
            return vec!["no record was acknowledged before the first fault".into()];
        }
        let mut rng = Rng::new(s.seed);
        for cycle in 1..=s.cycles {
            std::thread::sleep(rng.between(s.min_interval, s.max_interval));
            broker.kill();
            kills += 1;
            panicked |= has_panic(&broker.log_text());
            progress.say(&format!("cycle {cycle}/{}: killed the broker", s.cycles));
            std::thread::sleep(s.restart_delay);
            if let Err(e) = broker.restart() {
                return vec![format!("cycle {cycle}: the broker did not come back: {e:#}")];
            }
            progress.say(&format!("cycle {cycle}/{}: broker restarted", s.cycles));
        }
        Vec::new()
    })?;
    report.kills = kills;
    if !wait_for(STARTUP, || healthy(&meta, s.partitions, 1)) {
        report.notes.push(format!("partitions without a leader before the read-back: {:?}", partition_states(&meta)));
    }
    let read = read_back(&bootstrap, s.partitions)?;
    analyse(&tracker, &read, &mut report);
    if panicked || has_panic(&broker.log_text()) {
        report.problems.push(format!("a panic in the broker log {}", broker.log_path().display()));
    }
    report.elapsed_ms = progress.start.elapsed().as_millis() as u64;
    Ok(report)
}

// ---------------------------------------------------------------------------
// Mode 3: damaged segments.

/// One kind of damage to the newest segment of a partition, done while the broker is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The `.log` loses a random number of bytes at its end (a torn write).
    TornTail,
    /// Random bytes appended to the `.log`.
    Garbage,
    /// One bit flipped somewhere in the last batch of the `.log`.
    FlippedByte,
    /// The `.index` cut to a random shorter length.
    TruncatedIndex,
    /// The `.timeindex` cut to a random shorter length.
    TruncatedTimeIndex,
    /// The `.index` deleted.
    DeletedIndex,
}

impl Damage {
    pub const ALL: [Damage; 6] = [
        Damage::TornTail,
        Damage::Garbage,
        Damage::FlippedByte,
        Damage::TruncatedIndex,
        Damage::TruncatedTimeIndex,
        Damage::DeletedIndex,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Damage::TornTail => "torn-tail",
            Damage::Garbage => "garbage",
            Damage::FlippedByte => "flipped-byte",
            Damage::TruncatedIndex => "truncated-index",
            Damage::TruncatedTimeIndex => "truncated-timeindex",
            Damage::DeletedIndex => "deleted-index",
        }
    }
}

/// Where a record batch sits in a `.log` file.
struct BatchSpan {
    start: u64,
    end: u64,
    base_offset: i64,
}

/// The record batches (v2 headers: baseOffset i64, batchLength i32, …) of a
/// segment, up to the first one that does not fit.
fn batch_spans(bytes: &[u8]) -> Vec<BatchSpan> {
    const HEADER: usize = 61;
    let mut spans = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER <= bytes.len() {
        let word = |at: usize, n: usize| bytes[pos + at..pos + at + n].iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
        let base_offset = word(0, 8) as i64;
        let length = word(8, 4) as u32 as i32;
        let Some(end) = usize::try_from(length).ok().filter(|l| *l >= HEADER - 12).map(|l| pos + 12 + l) else {
            break;
        };
        if end > bytes.len() {
            break;
        }
        spans.push(BatchSpan { start: pos as u64, end: end as u64, base_offset });
        pos = end;
    }
    spans
}

/// The newest `.log` of partition 0 of [`TOPIC`] (the one the broker appends to).
fn active_segment(log_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = log_dir.join(format!("{TOPIC}-0"));
    let mut logs: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    // Names are zero-padded base offsets: the greatest name is the newest segment.
    logs.sort();
    logs.pop().with_context(|| format!("no segment in {}", dir.display()))
}

/// Damages the newest segment; returns what was done and the first offset
/// whose batch was touched (`None` when no record bytes were).
fn apply_damage(log_dir: &Path, damage: Damage, rng: &mut Rng) -> anyhow::Result<(String, Option<i64>)> {
    let log = active_segment(log_dir)?;
    let bytes = fs::read(&log).with_context(|| format!("cannot read {}", log.display()))?;
    let spans = batch_spans(&bytes);
    let len = bytes.len() as u64;
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let truncate = |path: &Path, to: u64| -> anyhow::Result<()> {
        let f =
            fs::OpenOptions::new().write(true).open(path).with_context(|| format!("cannot open {}", path.display()))?;
        f.set_len(to).with_context(|| format!("cannot truncate {}", path.display()))
    };
    match damage {
        Damage::TornTail => {
            let cut = 1 + rng.below(len.min(4096));
            let to = len.saturating_sub(cut);
            truncate(&log, to)?;
            let first = spans.iter().find(|b| b.end > to).map(|b| b.base_offset);
            Ok((format!("{name}: cut {cut} of {len} bytes"), first))
        }
        Damage::Garbage => {
            let n = 1 + rng.below(512) as usize;
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let mut f = fs::OpenOptions::new().append(true).open(&log)?;
            f.write_all(&junk)?;
            Ok((format!("{name}: {n} random bytes appended to {len}"), None))
        }
        Damage::FlippedByte => {
            let Some(last) = spans.last() else { bail!("{name} has no complete batch to damage") };
            let at = last.start + rng.below(last.end - last.start);
            let bit = rng.below(8) as u8;
            let mut damaged = bytes;
            damaged[at as usize] ^= 1 << bit;
            fs::write(&log, &damaged)?;
            Ok((
                format!(
                    "{name}: bit {bit} of byte {at} flipped (batch at {}..{}, offset {})",
                    last.start, last.end, last.base_offset
                ),
                Some(last.base_offset),
            ))
        }
        Damage::TruncatedIndex | Damage::TruncatedTimeIndex => {
            let index = log.with_extension(if damage == Damage::TruncatedIndex { "index" } else { "timeindex" });
            let ilen = fs::metadata(&index).map(|m| m.len()).with_context(|| format!("no {}", index.display()))?;
            let to = rng.below(ilen);
            truncate(&index, to)?;
            Ok((format!("{}: cut from {ilen} to {to} bytes", index.display()), None))
        }
        Damage::DeletedIndex => {
            let index = log.with_extension("index");
            fs::remove_file(&index).with_context(|| format!("cannot delete {}", index.display()))?;
            Ok((format!("{} deleted", index.display()), None))
        }
    }
}

/// Produces `n` records to partition 0 with a fresh idempotent producer and
/// returns offset → value of the acknowledged ones.
fn produce_acked(bootstrap: &str, s: &Settings, tracker: &Tracker, n: usize) -> anyhow::Result<BTreeMap<i64, String>> {
    let producer = idempotent_producer(bootstrap, s, tracker.clone())?;
    let first = lock(&tracker.0).by_partition[0].len();
    let mut sent = 0;
    while sent < n {
        if send_next(&producer, tracker, 0).map_err(|e| anyhow!("send: {e}"))? {
            sent += 1;
        } else {
            producer.poll(Duration::from_millis(10));
        }
        // Small batches, so that the segment has many and damage to its tail
        // leaves whole batches before the damaged point.
        if sent % 25 == 0 {
            producer.flush(Duration::from_secs(120)).context("flush")?;
        }
    }
    producer.flush(Duration::from_secs(120)).context("flush")?;
    let d = lock(&tracker.0);
    Ok(d.by_partition[0][first..]
        .iter()
        .enumerate()
        .filter_map(|(i, x)| match x {
            Delivery::Acked(o) => Some((*o, format!("p0-{}", first + i))),
            _ => None,
        })
        .collect())
}

/// Acknowledged records, kill -9, one [`Damage`] per cycle, restart, read-back.
pub fn corrupt(s: &Settings) -> anyhow::Result<Report> {
    let progress = Progress { start: Instant::now(), quiet: s.quiet };
    let mut report = Report::new("corrupt", s);
    let work = WorkDir::new(s.keep, progress)?;
    // Index entries every 256 bytes, so that the index files have something to damage.
    let mut broker = SingleBroker::start(&s.gregor, work.path(), &["log.index.interval.bytes=256"])?;
    let bootstrap = broker.bootstrap();
    create_topic(&s.gregor, &bootstrap, 1, 1, &[])?;
    let meta = metadata_client(&bootstrap)?;
    if !wait_for(STARTUP, || healthy(&meta, 1, 1)) {
        bail!("topic {TOPIC} did not get a leader");
    }
    drop(meta);
    let tracker = Tracker::default();
    lock(&tracker.0).by_partition = vec![Vec::new()];
    let mut rng = Rng::new(s.seed);
    // What the partition holds, as far as the harness knows: offset → value.
    let mut known: BTreeMap<i64, String> = BTreeMap::new();
    for cycle in 0..=s.cycles {
        match produce_acked(&bootstrap, s, &tracker, s.records_per_cycle) {
            Ok(acked) => known.extend(acked),
            Err(e) => {
                report.problems.push(format!("producing after {} restarts failed: {e:#}", report.kills));
                break;
            }
        }
        let last_round = cycle == s.cycles;
        let mut damaged_from = None;
        if !last_round {
            let damage = Damage::ALL[cycle % Damage::ALL.len()];
            broker.kill();
            report.kills += 1;
            let (what, first) = apply_damage(&broker.log_dir(), damage, &mut rng)?;
            damaged_from = first;
            progress.say(&format!("cycle {}/{}: {}: {what}", cycle + 1, s.cycles, damage.name()));
            if let Err(e) = broker.restart() {
                report.problems.push(format!(
                    "cycle {} ({}): the broker did not start: {e:#}",
                    cycle + 1,
                    damage.name()
                ));
                break;
            }
        }
        let read = read_back(&bootstrap, 1)?;
        let label = if last_round { "final read".to_string() } else { format!("cycle {}", cycle + 1) };
        for p in &read.problems {
            report.problems.push(format!("{label}: {p}"));
        }
        let records = read.by_partition.into_iter().next().unwrap_or_default();
        let mut got: BTreeMap<i64, String> = BTreeMap::new();
        let mut last = -1;
        for r in records {
            if r.seq.is_none() {
                report.problems.push(format!("{label}: corrupt record {:?} at offset {}", r.value, r.offset));
            }
            if r.offset <= last {
                report.problems.push(format!("{label}: offset {} read after offset {last}", r.offset));
            }
            last = r.offset;
            got.insert(r.offset, r.value);
        }
        let values: HashSet<&String> = got.values().collect();
        for (offset, value) in &known {
            if got.get(offset) == Some(value) {
                continue;
            }
            if damaged_from.is_some_and(|d| *offset >= d) {
                if !values.contains(value) {
                    report.damaged_away += 1;
                }
                continue;
            }
            report.lost += 1;
            report.example(format!(
                "{label}: {value} at offset {offset} (before the damaged point) read as {:?}",
                got.get(offset)
            ));
        }
        progress.say(&format!("{label}: {} records read back, damaged point {damaged_from:?}", got.len()));
        report.read = got.len() as u64;
        known = got;
    }
    count_deliveries(&tracker, &mut report);
    if has_panic(&broker.log_text()) {
        report.problems.push(format!("a panic in the broker log {}", broker.log_path().display()));
    }
    report.elapsed_ms = progress.start.elapsed().as_millis() as u64;
    Ok(report)
}
