//! Test harness: real `gregor` processes on 127.0.0.1 with ephemeral ports and
//! temp dirs. Nothing here mocks the broker.

#![allow(dead_code)]

pub mod http;
pub mod postgres;
pub mod producing;
pub mod prom;
pub mod python;
pub mod tls;
pub mod txn;
pub mod wire;
pub mod zk;

use std::io::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `bin/*.sh` wrapper of this checkout, running the binary under test,
/// without colors or log settings from the caller's environment.
pub fn bin_script(name: &str) -> Command {
    let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("bin").join(name));
    c.env("GREGOR", gregor_bin()).env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// Runs `cmd` with `input` on its stdin and collects its output.
pub fn pipe_into(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    // A tool that exits early (bad flags) closes its stdin: that is its answer, not a test failure.
    let _ = child.stdin.take().expect("stdin").write_all(input.as_bytes());
    child.wait_with_output().expect("wait")
}

/// A child process (a tool under test) that is killed with SIGKILL if the
/// test ends before it.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// SIGTERM, then its exit code; SIGKILL and `None` if it is still
    /// running after `within`.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.0.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to commit, flush or leave a group.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// The binary under test.
pub fn gregor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gregor"))
}

/// A broker process with its own log dir.
pub struct TestBroker {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub overrides: Vec<String>,
    /// Extra environment of the process (test hooks).
    pub env: Vec<(String, String)>,
    /// Every listener's name and bound address, from the `started` line.
    pub listeners: Vec<(String, SocketAddr)>,
    /// Where `/metrics` is served (`metrics.listener`), from the `started` line.
    pub metrics: Option<SocketAddr>,
    /// Where the web console is served (`console.listener`), from the `started` line.
    pub console: Option<SocketAddr>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// Starts a broker on an ephemeral port with `overrides` (key=value).
    pub fn start(overrides: &[&str]) -> TestBroker {
        TestBroker::start_with_env(overrides, &[])
    }

    /// [`TestBroker::start`] with extra environment variables (test hooks).
    pub fn start_with_env(overrides: &[&str], env: &[(&str, &str)]) -> TestBroker {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut b = TestBroker {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            listeners: Vec::new(),
            metrics: None,
            console: None,
            _tmp: Some(tmp),
        };
        b.spawn("127.0.0.1:0", None);
        b
    }

    /// `last` is a `listeners=` override given after the test's own (a restart
    /// of a broker with several listeners keeps their ports).
    fn spawn(&mut self, listen: &str, last: Option<String>) {
        let logs = self.dir.join("logs");
        let mut cmd = Command::new(gregor_bin());
        cmd.arg("server-start")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://{listen}"))
            .arg("--override")
            .arg(format!("log.dirs={}", logs.display()))
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for o in &self.overrides {
            cmd.arg("--override").arg(o);
        }
        if let Some(o) = last {
            cmd.arg("--override").arg(o);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut child = cmd.spawn().expect("spawn gregor");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log_path = self.dir.join("broker.log");
        std::thread::spawn(move || {
            let mut sent = false;
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !sent {
                    if let Some(addr) = parse_listener(&line) {
                        let side = (parse_http_field(&line, "metrics="), parse_http_field(&line, "console="));
                        let _ = tx.send((addr, parse_listeners(&line), side));
                        sent = true;
                    }
                }
            }
        });
        let (addr, listeners, (metrics, console)) = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let log = std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
            panic!("broker did not start; its log:\n{log}")
        });
        self.addr = addr;
        self.listeners = listeners;
        self.metrics = metrics;
        self.console = console;
        self.child = Some(child);
    }

    /// The bound address of the listener named `name` (`SSL`, `SASL_PLAINTEXT`, …).
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no listener {name}; the broker has {:?}", self.listeners))
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        c.wait().ok().and_then(|s| s.code())
    }

    /// Starts again on the same port and log dir.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        let last = (self.listeners.len() > 1).then(|| {
            let all: Vec<String> = self.listeners.iter().map(|(n, a)| format!("{n}://{a}")).collect();
            format!("listeners={}", all.join(","))
        });
        // Side listeners keep their ports too (a scraper keeps its target).
        for (key, addr) in [("metrics.listener", self.metrics), ("console.listener", self.console)] {
            if let Some(addr) = addr {
                self.overrides.push(format!("{key}=http://{addr}"));
            }
        }
        self.spawn(&listen, last);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }

    /// The process id (for SIGSTOP/SIGCONT).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs a broker that is expected to fail at startup; returns its exit
    /// code and stderr (panics if it is still running after `timeout`).
    pub fn run_to_exit(overrides: &[&str], timeout: Duration) -> (Option<i32>, String) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(gregor_bin());
        cmd.arg("server-start")
            .arg("--override")
            .arg("listeners=PLAINTEXT://127.0.0.1:0")
            .arg("--override")
            .arg(format!("log.dirs={}", tmp.path().join("logs").display()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for o in overrides {
            cmd.arg("--override").arg(o);
        }
        let mut child = cmd.spawn().expect("spawn gregor");
        let mut stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status.code(), reader.join().unwrap_or_default());
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("broker still running after {timeout:?}; stderr:\n{}", reader.join().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn parse_listener(line: &str) -> Option<SocketAddr> {
    if !line.contains("started") {
        return None;
    }
    let start = line.find("listener=")? + "listener=".len();
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A side listener's address from a `started` line field such as
/// `metrics=http://127.0.0.1:9404/metrics` (`off` or absent: `None`).
fn parse_http_field(line: &str, field: &str) -> Option<SocketAddr> {
    let start = line.find(&format!(" {field}"))? + field.len() + 1;
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let value = rest[..end].trim_start_matches("http://");
    value.split('/').next()?.parse().ok()
}

/// The `listeners=NAME=ip:port,…` field of the `started` line.
fn parse_listeners(line: &str) -> Vec<(String, SocketAddr)> {
    let Some(start) = line.find("listeners=").map(|i| i + "listeners=".len()) else {
        return Vec::new();
    };
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest[..end]
        .split(',')
        .filter_map(|entry| {
            let (name, addr) = entry.split_once('=')?;
            Some((name.to_string(), addr.parse().ok()?))
        })
        .collect()
}

/// The bootstrap list of the brokers of `brokers` still running (a killed
/// one has no child): all of them until one is killed.
pub fn bootstrap_of(brokers: &[TestBroker]) -> String {
    brokers.iter().filter(|b| b.child.is_some()).map(TestBroker::bootstrap).collect::<Vec<_>>().join(",")
}

/// Runs `gregor <tool> --bootstrap-server <bs> <args>` without colours or log
/// output and waits for it.
pub fn run_tool(tool: &str, bs: &str, args: &[&str]) -> Output {
    Command::new(gregor_bin())
        .arg(tool)
        .args(["--bootstrap-server", bs])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("run gregor {tool}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stdout of a run that must have succeeded (else the exit code and both streams).
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), stdout(&o), stderr(&o));
    stdout(&o)
}

/// The shared fixtures directory.
pub fn fixtures() -> PathBuf {
    if let Ok(p) = std::env::var("GREGOR_FIXTURES") {
        return PathBuf::from(p);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if local.exists() {
        return local;
    }
    PathBuf::from("/work/shared/fixtures")
}

/// Three brokers (ids 0–2) on one coordinator, tuned for group tests: quick
/// failure detection, a three-partition offsets topic, no initial rebalance delay.
pub fn group_cluster(zk: &zk::TestZk) -> Vec<TestBroker> {
    three_brokers(zk, &["offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0"])
}

/// Three brokers (ids 0–2) on `zk` with quick failure detection (3 s ZooKeeper
/// session, 3 s replica lag, 200 ms follower fetch wait), plus `extra`
/// overrides, which come after these and so win.
pub fn three_brokers(zk: &zk::TestZk, extra: &[&str]) -> Vec<TestBroker> {
    let connect = zk.connect("");
    (0..3)
        .map(|id| {
            let mut overrides = vec![
                format!("zookeeper.connect={connect}"),
                format!("broker.id={id}"),
                "zookeeper.session.timeout.ms=3000".to_string(),
                "replica.lag.time.max.ms=3000".to_string(),
                "replica.fetch.wait.max.ms=200".to_string(),
            ];
            overrides.extend(extra.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
            TestBroker::start(&refs)
        })
        .collect()
}
