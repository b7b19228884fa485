//! Kafka Connect's distributed mode with real processes: two
//! `bin/connect-distributed.sh` workers (REST on port 0) against a real
//! broker share a FileStreamSource and a FileStreamSink; a config written
//! through one worker is read through the other; the worker running the
//! source is killed with SIGKILL and the survivor takes its task over
//! after the session timeout, resuming from the offsets topic with no line
//! lost. A bad worker config exits 1 naming the key.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{bin_script, stderr, ChildGuard, TestBroker};

const WAIT: Duration = Duration::from_secs(90);

/// One HTTP/1.1 request with `Connection: close`; (status, body).
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    // Chunked bodies: keep the JSON between the chunk sizes.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn json(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, text) = http(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path} at {addr}: {e}"));
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// The shipped worker config with this broker, REST on port 0, and short timeouts.
fn worker_properties(dir: &Path, bootstrap: &str) -> PathBuf {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/connect-distributed.properties"))
            .expect("shipped worker config");
    let mut text: String = shipped
        .lines()
        .filter(|l| !l.starts_with("bootstrap.servers=") && !l.starts_with("offset.flush.interval.ms="))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!("bootstrap.servers={bootstrap}\n"));
    text.push_str("listeners=http://127.0.0.1:0\n");
    text.push_str("offset.flush.interval.ms=300\n");
    text.push_str("session.timeout.ms=6000\n");
    text.push_str("heartbeat.interval.ms=1000\n");
    let path = dir.join("connect-distributed.properties");
    std::fs::write(&path, text).expect("worker config");
    path
}

struct Worker {
    guard: ChildGuard,
    log: PathBuf,
    /// `127.0.0.1:port` of its REST API (also its worker_id).
    addr: String,
}

fn start_worker(dir: &Path, config: &Path, name: &str) -> Worker {
    let log = dir.join(format!("{name}.log"));
    let child = bin_script("connect-distributed.sh")
        .arg(config)
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start the worker");
    let guard = ChildGuard(Some(child));
    let deadline = Instant::now() + WAIT;
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("REST server listening at http://").nth(1) {
            break rest.split('/').next().expect("address").to_string();
        }
        assert!(Instant::now() < deadline, "{name} did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    Worker { guard, log, addr }
}

fn logs(workers: &[&Worker]) -> String {
    workers.iter().map(|w| std::fs::read_to_string(&w.log).unwrap_or_default()).collect::<Vec<_>>().join("\n----\n")
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    for l in lines {
        writeln!(f, "{l}").expect("append");
    }
}

/// Line → how often it is in the file.
fn counts(path: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *out.entry(l.to_string()).or_insert(0) += 1;
    }
    out
}

fn wait_for_all(path: &Path, want: &[String], workers: &[&Worker]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let have = counts(path);
        if want.iter().all(|l| have.contains_key(l)) {
            return;
        }
        let missing: Vec<&String> = want.iter().filter(|l| !have.contains_key(*l)).collect();
        assert!(Instant::now() < deadline, "missing {missing:?} in {}\n{}", path.display(), logs(workers));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls a connector's status until `ok` accepts it.
fn wait_status(
    addr: &str,
    name: &str,
    workers: &[&Worker],
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok((200, text)) = http(addr, "GET", &format!("/connectors/{name}/status"), None) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if ok(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "status of {name} never settled\n{}", logs(workers));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn task_running(v: &serde_json::Value) -> Option<String> {
    let t = v["tasks"].get(0)?;
    (t["state"] == "RUNNING").then(|| t["worker_id"].as_str().unwrap_or_default().to_string())
}

#[test]
fn two_workers_share_connectors_and_a_killed_workers_source_resumes_on_the_survivor() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let dir = tempfile::tempdir().expect("dir");
    let config = worker_properties(dir.path(), &b.bootstrap());
    let mut w1 = start_worker(dir.path(), &config, "worker1");
    let mut w2 = start_worker(dir.path(), &config, "worker2");
    // Both in the group before any connector exists, so the first assignment is the steady one.
    let deadline = Instant::now() + WAIT;
    while !logs(&[&w1, &w2]).contains("members=2") {
        assert!(Instant::now() < deadline, "the workers never formed one group\n{}", logs(&[&w1, &w2]));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (input, output) = (dir.path().join("in.txt"), dir.path().join("out.txt"));
    let lines = |from: usize, to: usize| (from..to).map(|i| format!("line-{i}")).collect::<Vec<_>>();
    append(&input, &lines(0, 20));

    // Created through worker 1 and worker 2, each read through the other.
    let source = format!(
        r#"{{"name":"src","config":{{"connector.class":"FileStreamSource","tasks.max":"1","file":"{}","topic":"dist-lines"}}}}"#,
        input.display()
    );
    let sink = format!(
        r#"{{"name":"sink","config":{{"connector.class":"FileStreamSink","tasks.max":"1","file":"{}","topics":"dist-lines"}}}}"#,
        output.display()
    );
    let (status, body) = json(&w1.addr, "POST", "/connectors", Some(&source));
    assert_eq!(status, 201, "{body}\n{}", logs(&[&w1, &w2]));
    let (status, body) = json(&w2.addr, "POST", "/connectors", Some(&sink));
    assert_eq!(status, 201, "{body}");
    let (status, body) = json(&w2.addr, "GET", "/connectors/src", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["topic"], "dist-lines");
    assert_eq!(body["type"], "source");
    let (status, body) = json(&w1.addr, "GET", "/connectors/sink", None);
    assert_eq!((status, body["type"].as_str()), (200, Some("sink")), "{body}");
    let (_, body) = json(&w1.addr, "POST", "/connectors", Some(&source));
    assert_eq!(body["error_code"], 409, "{body}");

    // Lines flow; both connectors' tasks run, between them on both workers.
    wait_for_all(&output, &lines(0, 20), &[&w1, &w2]);
    // Round-robin: one connector and one task per worker.
    let mut addrs = vec![w1.addr.clone(), w2.addr.clone()];
    addrs.sort();
    let deadline = Instant::now() + WAIT;
    let src_worker = loop {
        let src = task_running(&wait_status(&w2.addr, "src", &[&w1, &w2], |v| task_running(v).is_some()));
        let sink = task_running(&wait_status(&w1.addr, "sink", &[&w1, &w2], |v| task_running(v).is_some()));
        let mut ids = vec![src.clone().unwrap_or_default(), sink.unwrap_or_default()];
        ids.sort();
        if ids == addrs {
            break src.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "tasks run on {ids:?}, want one on each of {addrs:?}");
        std::thread::sleep(Duration::from_millis(200));
    };

    // Paused and resumed through the worker that does not run it: the target state travels in the config topic.
    let not_sinks = if src_worker == w1.addr { w1.addr.clone() } else { w2.addr.clone() };
    let (status, body) = json(&not_sinks, "PUT", "/connectors/sink/pause", None);
    assert_eq!(status, 202, "{body}");
    wait_status(&not_sinks, "sink", &[&w1, &w2], |v| v["tasks"][0]["state"] == "PAUSED");
    let (status, body) = json(&not_sinks, "PUT", "/connectors/sink/resume", None);
    assert_eq!(status, 202, "{body}");
    wait_status(&not_sinks, "sink", &[&w1, &w2], |v| task_running(v).is_some());

    // Let the offsets of everything so far be flushed (every 300 ms), then kill the source's worker
    // right after more lines: only those may come twice, never any line go missing.
    std::thread::sleep(Duration::from_secs(3));
    let before_kill = lines(20, 30);
    append(&input, &before_kill);
    let (victim, survivor) = if src_worker == w1.addr { (&mut w1, &w2) } else { (&mut w2, &w1) };
    victim.guard.kill_9();
    let after_kill = lines(30, 50);
    append(&input, &after_kill);

    // After the session timeout the survivor runs the source (and the sink).
    let status =
        wait_status(&survivor.addr, "src", &[survivor], |v| task_running(v).as_deref() == Some(&survivor.addr));
    assert_eq!(status["connector"]["worker_id"], survivor.addr.as_str(), "{status}");
    wait_for_all(&output, &lines(0, 50), &[survivor]);
    wait_status(&survivor.addr, "sink", &[survivor], |v| task_running(v).as_deref() == Some(&survivor.addr));
    let have = counts(&output);
    for l in lines(0, 20).iter().chain(&after_kill) {
        assert_eq!(have[l], 1, "{l} was flushed before the kill or written after it: exactly once\n{have:?}");
    }
    let duplicates: usize = have.values().map(|n| n - 1).sum();
    assert!(duplicates <= before_kill.len(), "{duplicates} duplicates: {have:?}");

    // The survivor stops cleanly and reports its tasks unassigned on the way out.
    let mut survivor_guard = if src_worker == w1.addr { w2.guard } else { w1.guard };
    assert_eq!(survivor_guard.terminate(WAIT), Some(0));
}

#[test]
fn a_bad_worker_config_exits_1_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let good = std::fs::read_to_string(worker_properties(dir.path(), "127.0.0.1:1")).expect("config");
    for (key, replacement) in [
        ("group.id", None),
        ("status.storage.topic", None),
        ("config.storage.topic", None),
        ("offset.storage.replication.factor", Some("0")),
        ("session.timeout.ms", Some("soon")),
        ("listeners", Some("https://127.0.0.1:0")),
    ] {
        let mut text: String =
            good.lines().filter(|l| !l.starts_with(&format!("{key}="))).map(|l| format!("{l}\n")).collect();
        if let Some(v) = replacement {
            text.push_str(&format!("{key}={v}\n"));
        }
        let path = dir.path().join("bad.properties");
        std::fs::write(&path, text).expect("config");
        let out = bin_script("connect-distributed.sh").arg(&path).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{key}: {}", stderr(&out));
        assert!(stderr(&out).contains("ERROR") && stderr(&out).contains(key), "{key}: {}", stderr(&out));
    }
}
