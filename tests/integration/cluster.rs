//! `gregor cluster`: real coordinator and broker processes started, killed,
//! restarted and stopped through the tool, checked through its `status
//! --output json`, the generated files, `topics --describe` and /proc.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::gregor_bin;
use crate::common::zk::{free_port, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);

fn gregor(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").output().expect("run gregor")
}

fn cluster(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["cluster"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dir", dir.to_str().expect("utf-8 dir")]);
    gregor(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status(dir: &Path) -> Value {
    let out = cluster(dir, &["status", "--output", "json"]);
    assert!(out.status.success(), "status failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status json")
}

/// The broker rows of a status report.
fn brokers(status: &Value) -> Vec<Value> {
    status["nodes"].as_array().expect("nodes").iter().filter(|n| !n["id"].is_null()).cloned().collect()
}

fn broker(status: &Value, id: i64) -> Value {
    brokers(status).into_iter().find(|b| b["id"] == id).unwrap_or_else(|| panic!("broker {id} in {status}"))
}

fn pids(status: &Value) -> Vec<u32> {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .map(|p| u32::try_from(p).expect("pid"))
        .collect()
}

/// Running and not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// `cluster down` when a test ends, however it ends.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = cluster(self.0, &["down", "--timeout", "10"]);
    }
}

/// A short ZooKeeper tick and session, so a killed broker's registration
/// goes within seconds; one replicated topic.
const SPEC: &str = "\
zookeeper: {overrides: {tickTime: \"500\"}}
overrides: {zookeeper.session.timeout.ms: 3000}
topics:
  - {name: my-replicated-topic, partitions: 1, replication_factor: 3, configs: {retention.ms: \"86400000\"}}
";

#[test]
fn detached_cluster_up_status_kill_start_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let spec = tmp.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC).expect("spec");
    let _down = Down(&dir);

    let out = cluster(
        &dir,
        &["up", "--brokers", "3", "--ephemeral-ports", "--detach", "--spec", spec.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "up failed: {}", text(&out.stderr));
    let table = text(&out.stdout);
    assert_eq!(table.matches("PLAINTEXT://127.0.0.1:").count(), 3, "{table}");

    // The tutorial's keys, one file per broker.
    let dir = dir.canonicalize().expect("dir");
    for id in 0..3 {
        let props = std::fs::read_to_string(dir.join(format!("broker-{id}.properties"))).expect("properties");
        assert!(props.contains(&format!("broker.id={id}\n")), "{props}");
        assert!(props.contains("listeners=PLAINTEXT://127.0.0.1:"), "{props}");
        assert!(props.contains(&format!("log.dirs={}\n", dir.join(format!("kafka-logs-{id}")).display())), "{props}");
        assert!(props.contains("zookeeper.connect=127.0.0.1:"), "{props}");
        assert!(props.contains("zookeeper.session.timeout.ms=3000\n"), "{props}");
        assert!(dir.join(format!("logs/broker-{id}.log")).exists());
    }
    assert!(std::fs::read_to_string(dir.join("zookeeper.properties")).expect("zk").contains("tickTime=500\n"));

    let s = status(&dir);
    let bs = brokers(&s);
    assert_eq!(bs.len(), 3, "{s}");
    assert!(bs.iter().all(|b| b["alive"] == true && b["registered"] == true), "{s}");
    assert_eq!(bs.iter().filter(|b| b["controller"] == true).count(), 1, "one controller: {s}");
    assert!(s["supervisor_pid"].is_null(), "detached: {s}");
    let all_pids = pids(&s);
    assert_eq!(all_pids.len(), 4);

    let again = cluster(&dir, &["up", "--brokers", "3", "--ephemeral-ports", "--detach"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("a cluster is already running in"), "{}", text(&again.stderr));
    assert_eq!(pids(&status(&dir)), all_pids, "the running cluster is left alone");

    // The spec's topic exists, with three replicas.
    let endpoint = broker(&s, 0)["endpoint"].as_str().expect("endpoint").replace("PLAINTEXT://", "");
    let out = gregor(&["topics", "--describe", "--topic", "my-replicated-topic", "--bootstrap-server", &endpoint]);
    assert!(out.status.success(), "describe: {}", text(&out.stderr));
    let describe = text(&out.stdout);
    assert!(describe.starts_with("Topic:my-replicated-topic\tPartitionCount:1\tReplicationFactor:3\t"), "{describe}");
    assert!(describe.contains("retention.ms=86400000"), "{describe}");

    // A crash: dead at once, unregistered once the session times out.
    let old_pid = broker(&s, 1)["pid"].as_u64().expect("pid");
    let out = cluster(&dir, &["kill", "1"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    assert_eq!(broker(&status(&dir), 1)["alive"], false);
    assert!(
        wait_for(TIMEOUT, || broker(&status(&dir), 1)["registered"] == false),
        "broker 1 still registered: {}",
        status(&dir)
    );
    assert_eq!(broker(&status(&dir), 0)["alive"], true);

    let out = cluster(&dir, &["start", "1"]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    let s = status(&dir);
    let b1 = broker(&s, 1);
    assert_eq!((b1["alive"].clone(), b1["registered"].clone()), (Value::Bool(true), Value::Bool(true)), "{s}");
    assert_ne!(b1["pid"].as_u64(), Some(old_pid));
    let all_pids = pids(&s);

    let out = cluster(&dir, &["down"]);
    assert!(out.status.success(), "down: {}", text(&out.stderr));
    assert!(all_pids.iter().all(|p| !running(*p)), "processes left: {all_pids:?}");
    assert!(!dir.join("state.yaml").exists());
    assert!(dir.join("kafka-logs-0").exists(), "data is kept without --purge");
    let out = cluster(&dir, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no cluster in"), "{}", text(&out.stderr));
}

/// Starts a foreground `cluster up` with one broker and waits until it reports it registered.
fn foreground_up(dir: &Path) -> (Child, Vec<u32>) {
    let err_path = dir.with_extension("stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let child = Command::new(gregor_bin())
        .args(["cluster", "up", "--brokers", "1", "--ephemeral-ports", "--dir", dir.to_str().expect("utf-8")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn cluster up");
    let registered = wait_for(TIMEOUT, || {
        dir.join("state.yaml").exists() && {
            let s = status(dir);
            brokers(&s).first().is_some_and(|b| b["registered"] == true)
        }
    });
    if !registered {
        let logs = ["stderr of up", "logs/zookeeper.log", "logs/broker-0.log"].map(|name| {
            let path = if name == "stderr of up" { err_path.clone() } else { dir.join(name) };
            format!("--- {name}:\n{}", std::fs::read_to_string(path).unwrap_or_default())
        });
        panic!("the foreground cluster did not come up\n{}", logs.join("\n"));
    }
    let s = status(dir);
    assert!(s["supervisor_pid"].as_u64().is_some(), "{s}");
    (child, pids(&s))
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let mut code = None;
    let exited = wait_for(TIMEOUT, || match child.try_wait().expect("wait") {
        Some(s) => {
            code = s.code();
            true
        }
        None => false,
    });
    assert!(exited, "cluster up did not exit");
    code
}

#[test]
fn foreground_up_stops_its_children_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let _down = Down(&dir);
    let (mut up, children) = foreground_up(&dir);
    let ok = Command::new("kill").args(["-TERM", &up.id().to_string()]).status().expect("kill");
    assert!(ok.success());
    assert_eq!(wait_exit(&mut up), Some(0));
    assert!(children.iter().all(|p| !running(*p)), "children left: {children:?}");
    assert!(!dir.join("state.yaml").exists());
}

#[test]
fn foreground_up_exits_130_on_sigint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let _down = Down(&dir);
    let (mut up, children) = foreground_up(&dir);
    let ok = Command::new("kill").args(["-INT", &up.id().to_string()]).status().expect("kill");
    assert!(ok.success());
    assert_eq!(wait_exit(&mut up), Some(130));
    assert!(children.iter().all(|p| !running(*p)), "children left: {children:?}");
}

#[test]
fn children_exit_when_the_foreground_up_is_killed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("c");
    let _down = Down(&dir);
    let (mut up, children) = foreground_up(&dir);
    up.kill().expect("SIGKILL");
    let _ = up.wait();
    assert!(
        wait_for(TIMEOUT, || children.iter().all(|p| !running(*p))),
        "children outlived their parent: {children:?}"
    );
}

#[test]
fn up_refuses_a_port_in_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let zk = free_port().to_string();
    let out = cluster(tmp.path(), &["up", "--brokers", "1", "--base-port", &port, "--zookeeper-port", &zk, "--detach"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("port {port} for broker 0 is already in use")), "{err}");
    assert!(!tmp.path().join("state.yaml").exists());
}
