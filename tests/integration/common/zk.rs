//! Coordinators for the ZooKeeper tests: our `gregor zookeeper-start` as a
//! real process, and Debian's ZooKeeper 3.8 when it is installed (required
//! under `CI`). Each gets a temp data dir and a fixed free port, so it can be
//! killed and restarted on the same address.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::gregor_bin;

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// `gregor zookeeper-start` on a fixed port.
pub struct TestZk {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// Where `/metrics` is served (`metricsProvider.*`), from the started line.
    pub metrics: Option<SocketAddr>,
    _tmp: tempfile::TempDir,
}

impl TestZk {
    pub fn start() -> TestZk {
        TestZk::start_with("")
    }

    /// [`TestZk::start`] with more lines of `zookeeper.properties` (`key=value\n`…).
    pub fn start_with(extra: &str) -> TestZk {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        // tickTime 500 ms: sessions may be as short as 1 s (the expiry test needs that).
        let props = format!(
            "dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\ntickTime=500\n{extra}",
            dir.join("data").display(),
            addr.port()
        );
        std::fs::write(dir.join("zookeeper.properties"), props).expect("write properties");
        let mut zk = TestZk { child: None, addr, dir, metrics: None, _tmp: tmp };
        zk.spawn();
        zk
    }

    fn spawn(&mut self) {
        let mut child = Command::new(gregor_bin())
            .arg("zookeeper-start")
            .arg(self.dir.join("zookeeper.properties"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zookeeper-start");
        let stderr = child.stderr.take().expect("stderr");
        let log_path = self.dir.join("zookeeper.log");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).ok();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !sent && line.contains("server started") && line.contains("listener=") {
                    let _ = tx.send(metrics_field(&line));
                    sent = true;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(metrics) => self.metrics = metrics,
            Err(_) => {
                let log = std::fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default();
                panic!("zookeeper-start did not start; its log:\n{log}");
            }
        }
        self.child = Some(child);
    }

    /// `zookeeper.connect` for brokers, with an optional chroot.
    pub fn connect(&self, chroot: &str) -> String {
        format!("{}{chroot}", self.addr)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// The `metrics=http://ip:port/metrics` field of a started line (`off`: `None`).
fn metrics_field(line: &str) -> Option<SocketAddr> {
    let start = line.find(" metrics=")? + " metrics=".len();
    let value = line[start..].split_whitespace().next()?.trim_start_matches("http://");
    value.split('/').next()?.parse().ok()
}

impl Drop for TestZk {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where Debian's `zookeeper` package puts its jar.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Debian's ZooKeeper 3.8 server (`QuorumPeerMain` in standalone mode).
pub struct RealZk {
    child: Option<Child>,
    pub addr: SocketAddr,
    tmp: tempfile::TempDir,
}

impl RealZk {
    /// Starts it, or returns `None` when the package is not installed —
    /// except under `CI`, where a missing ZooKeeper fails the test.
    pub fn start() -> Option<RealZk> {
        let installed = Path::new(ZOOKEEPER_JAR).exists() && Path::new("/usr/bin/java").exists();
        if !installed {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but Debian's ZooKeeper is not installed (apt-get install zookeeper)");
            }
            eprintln!("skipping: Debian's ZooKeeper is not installed (apt-get install zookeeper)");
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        std::fs::write(
            tmp.path().join("zoo.cfg"),
            format!(
                "tickTime=500\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=*\n",
                tmp.path().join("data").display(),
                addr.port()
            ),
        )
        .expect("write zoo.cfg");
        let mut zk = RealZk { child: None, addr, tmp };
        zk.spawn();
        Some(zk)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join("zookeeper.log"))
            .expect("log file");
        let child = Command::new("java")
            .arg("-cp")
            .arg(format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}"))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.tmp.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn java");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if four_letter_word(self.addr, "ruok").as_deref() == Some("imok") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("Debian's ZooKeeper did not answer ruok within 60 s");
    }

    pub fn connect(&self, chroot: &str) -> String {
        format!("{}{chroot}", self.addr)
    }

    /// kill -9, then start again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill();
        std::thread::sleep(Duration::from_millis(300));
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RealZk {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a four-letter word and returns the answer.
pub fn four_letter_word(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
