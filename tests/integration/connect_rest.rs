//! Kafka Connect's REST API on a real `gregor connect-standalone` worker
//! started with no connector files and `listeners=http://127.0.0.1:0`:
//! connectors are created, inspected, paused, resumed, reconfigured,
//! restarted and deleted over HTTP, with data checked in the real broker;
//! bad requests get Kafka's error bodies, and a failed task shows FAILED
//! while the worker keeps serving.

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gregor::client::{Consumer, ConsumerConfig};
use serde_json::{json, Value};

use crate::common::http::{request, HttpResponse};
use crate::common::{gregor_bin, ChildGuard, TestBroker};

const WAIT: Duration = Duration::from_secs(60);

/// A worker with string converters and short flushes, and its REST address.
struct Worker {
    child: ChildGuard,
    addr: SocketAddr,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, bootstrap: &str) -> Worker {
        let config = dir.join("worker.properties");
        std::fs::write(
            &config,
            format!(
                "bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:0\n\
                 key.converter=org.apache.kafka.connect.storage.StringConverter\n\
                 value.converter=org.apache.kafka.connect.storage.StringConverter\n\
                 offset.storage.file.filename={}\noffset.flush.interval.ms=500\n",
                dir.join("connect.offsets").display()
            ),
        )
        .expect("worker config");
        let log = dir.join("worker.log");
        let mut child = Command::new(gregor_bin())
            .arg("connect-standalone")
            .arg(&config)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the worker");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).ok();
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if !sent {
                    if let Some(addr) = rest_address(&line) {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let child = ChildGuard(Some(child));
        let addr = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("the worker did not log its REST address:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
        });
        Worker { child, addr, log }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        request(self.addr, method, path, body.map(Value::to_string).as_deref())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Calls until the status is `want`, or fails with the last answer and the log.
    fn expect(&self, method: &str, path: &str, body: Option<&Value>, want: u16) -> HttpResponse {
        let r = self.call(method, path, body);
        assert_eq!(r.status, want, "{method} {path}: {}\nworker log:\n{}", r.body, self.log_text());
        r
    }

    /// Polls a connector's status until `check` holds on it.
    fn wait_status(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = self.call("GET", &format!("/connectors/{name}/status"), None);
            if r.status == 200 && check(&r.json()) {
                return r.json();
            }
            assert!(Instant::now() < deadline, "{name}: never {what}; last {}\n{}", r.body, self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The port in `REST server listening at http://127.0.0.1:PORT/, advertising URL …`.
fn rest_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("REST server listening at http://")? + "REST server listening at http://".len()..];
    rest.split('/').next()?.parse().ok()
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

/// A consumer of one topic from its beginning (the topic is created by the
/// source's first record; until then its partitions are looked up again).
struct TopicReader {
    consumer: Consumer,
    seen: Vec<String>,
}

impl TopicReader {
    async fn open(bootstrap: &str, topic: &str) -> TopicReader {
        let mut config = ConsumerConfig::new(bootstrap);
        config.set("fetch.max.wait.ms", "100").expect("property");
        config.set("auto.offset.reset", "earliest").expect("property");
        let mut consumer = Consumer::new(config).await.expect("consumer");
        let deadline = Instant::now() + WAIT;
        let partitions = loop {
            match consumer.partitions_for(topic).await {
                Ok(p) if !p.is_empty() => break p,
                other => assert!(Instant::now() < deadline, "topic {topic} never appeared: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        consumer.assign(partitions.into_iter().map(|p| (topic.to_string(), p)).collect()).await.expect("assign");
        TopicReader { consumer, seen: Vec::new() }
    }

    async fn poll(&mut self) {
        for r in self.consumer.poll(Duration::from_millis(300)).await.expect("poll") {
            self.seen.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }

    /// Polls until `want` was read; returns everything read so far.
    async fn until(&mut self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        while !self.seen.iter().any(|v| v == want) {
            assert!(Instant::now() < deadline, "{want:?} never arrived; read {:?}", self.seen);
            self.poll().await;
        }
        self.seen.clone()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn the_rest_api_creates_pauses_resumes_reconfigures_restarts_and_deletes_connectors() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("source.txt");
    std::fs::write(&source, "").expect("source file");
    let mut w = Worker::start(dir.path(), &bs);
    let rt = runtime();

    let root = w.expect("GET", "/", None, 200).json();
    assert!(root["version"].is_string(), "{root}");
    assert!(root["kafka_cluster_id"].as_str().is_some_and(|c| !c.is_empty()), "{root}");
    let plugins = w.expect("GET", "/connector-plugins", None, 200).json();
    let classes: Vec<&str> = plugins.as_array().expect("list").iter().filter_map(|p| p["class"].as_str()).collect();
    assert!(classes.contains(&"org.apache.kafka.connect.file.FileStreamSourceConnector"), "{plugins}");
    assert!(classes.contains(&"org.apache.kafka.connect.file.FileStreamSinkConnector"), "{plugins}");
    assert_eq!(w.expect("GET", "/connectors", None, 200).json(), json!([]));

    // Create: 201 with Kafka's ConnectorInfo.
    let file = source.display().to_string();
    let create =
        json!({"name": "src", "config": {"connector.class": "FileStreamSource", "file": file, "topic": "rest-a"}});
    let created = w.expect("POST", "/connectors", Some(&create), 201);
    let info = created.json();
    assert_eq!(info["name"], "src");
    assert_eq!(info["type"], "source");
    assert_eq!(info["tasks"], json!([{"connector": "src", "task": 0}]));
    assert_eq!(info["config"]["topic"], "rest-a");
    assert_eq!(created.header("location"), Some("/connectors/src"));
    assert_eq!(w.expect("GET", "/connectors", None, 200).json(), json!(["src"]));
    assert_eq!(w.expect("GET", "/connectors/src", None, 200).json(), info);
    assert_eq!(w.expect("GET", "/connectors/src/config", None, 200).json()["file"], json!(file));

    // Lines appended to the file reach the topic.
    append(&source, "one\n");
    let mut topic_a = rt.block_on(TopicReader::open(&bs, "rest-a"));
    assert_eq!(rt.block_on(topic_a.until("one")), ["one"]);
    let status = w.wait_status("src", "RUNNING", |s| s["tasks"][0]["state"] == "RUNNING");
    let worker_id = format!("127.0.0.1:{}", w.addr.port());
    assert_eq!(status["name"], "src");
    assert_eq!(status["type"], "source");
    assert_eq!(status["connector"], json!({"state": "RUNNING", "worker_id": worker_id}));
    assert_eq!(status["tasks"], json!([{"id": 0, "state": "RUNNING", "worker_id": worker_id}]));
    let tasks = w.expect("GET", "/connectors/src/tasks", None, 200).json();
    assert_eq!(tasks[0]["id"], json!({"connector": "src", "task": 0}), "{tasks}");
    assert_eq!(tasks[0]["config"]["topic"], "rest-a", "{tasks}");
    let task = w.expect("GET", "/connectors/src/tasks/0/status", None, 200).json();
    assert_eq!(task, json!({"id": 0, "state": "RUNNING", "worker_id": worker_id}));
    w.expect("GET", "/connectors/src/tasks/7/status", None, 404);
    let expanded = w.expect("GET", "/connectors?expand=status&expand=info", None, 200).json();
    assert_eq!(expanded["src"]["status"]["connector"]["state"], "RUNNING", "{expanded}");
    assert_eq!(expanded["src"]["info"]["name"], "src", "{expanded}");

    // Pause: the answer comes once the task has stopped (and flushed), so a
    // line appended after it cannot move until the connector is resumed.
    w.expect("PUT", "/connectors/src/pause", None, 202);
    let paused = w.expect("GET", "/connectors/src/status", None, 200).json();
    assert_eq!(paused["connector"]["state"], "PAUSED", "{paused}");
    assert_eq!(paused["tasks"][0]["state"], "PAUSED", "{paused}");
    append(&source, "while paused\n");
    rt.block_on(async {
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            topic_a.poll().await;
        }
    });
    assert_eq!(topic_a.seen, ["one"], "a paused connector moved data");
    w.expect("PUT", "/connectors/src/resume", None, 202);
    assert_eq!(rt.block_on(topic_a.until("while paused")), ["one", "while paused"]);
    w.wait_status("src", "RUNNING again", |s| {
        s["connector"]["state"] == "RUNNING" && s["tasks"][0]["state"] == "RUNNING"
    });

    // A new config: 200 (updated); the task restarts from its stored offset on the new topic.
    let mut config = info["config"].clone();
    config["topic"] = json!("rest-b");
    let updated = w.expect("PUT", "/connectors/src/config", Some(&config), 200).json();
    assert_eq!(updated["config"]["topic"], "rest-b");
    append(&source, "to b\n");
    let mut topic_b = rt.block_on(TopicReader::open(&bs, "rest-b"));
    assert_eq!(rt.block_on(topic_b.until("to b")), ["to b"], "the new topic starts after what was already read");

    // Restarts.
    w.expect("POST", "/connectors/src/restart", None, 204);
    let restarted = w.expect("POST", "/connectors/src/restart?includeTasks=true", None, 202).json();
    assert_eq!(restarted["name"], "src", "{restarted}");
    w.expect("POST", "/connectors/src/tasks/0/restart", None, 204);
    w.expect("POST", "/connectors/src/tasks/9/restart", None, 404);
    append(&source, "after restarts\n");
    assert_eq!(rt.block_on(topic_b.until("after restarts")), ["to b", "after restarts"]);

    // Errors, in Kafka's shape.
    let dup = w.expect("POST", "/connectors", Some(&create), 409).json();
    assert_eq!(dup["error_code"], 409, "{dup}");
    let no_topic = json!({"name": "bad", "config": {"connector.class": "FileStreamSource", "file": file}});
    let bad = w.expect("POST", "/connectors", Some(&no_topic), 400).json();
    assert_eq!(bad["error_code"], 400);
    assert!(bad["message"].as_str().is_some_and(|m| m.contains("\"topic\"")), "{bad}");
    let missing = w.expect("GET", "/connectors/nope", None, 404).json();
    assert_eq!(missing, json!({"error_code": 404, "message": "Connector nope not found"}));
    let r = request(w.addr, "POST", "/connectors", Some("{not json"));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error_code"], 400);
    assert_eq!(w.expect("GET", "/no/such/path", None, 404).json()["error_code"], 404);
    assert_eq!(w.expect("DELETE", "/connectors", None, 405).json()["error_code"], 405);
    let mismatch = json!({"name": "x", "config": {"name": "y", "connector.class": "FileStreamSource"}});
    w.expect("POST", "/connectors", Some(&mismatch), 400);
    let validated = w
        .expect(
            "PUT",
            "/connector-plugins/FileStreamSourceConnector/config/validate",
            Some(&json!({"connector.class": "FileStreamSource", "name": "v", "file": "x"})),
            200,
        )
        .json();
    assert_eq!(validated["error_count"], 1, "{validated}");

    // A task that fails (its file is a directory) shows FAILED with a trace; the worker goes on.
    let sink = json!({"name": "bad-sink", "config": {
        "connector.class": "FileStreamSink", "topics": "rest-a", "file": dir.path().display().to_string()}});
    w.expect("POST", "/connectors", Some(&sink), 201);
    let failed = w.wait_status("bad-sink", "FAILED", |s| s["tasks"][0]["state"] == "FAILED");
    assert!(failed["tasks"][0]["trace"].as_str().is_some_and(|t| !t.is_empty()), "{failed}");
    w.expect("GET", "/", None, 200);
    append(&source, "still moving\n");
    rt.block_on(topic_b.until("still moving"));

    // Delete: 204, then 404; the other connector stays.
    w.expect("DELETE", "/connectors/src", None, 204);
    w.expect("GET", "/connectors/src", None, 404);
    w.expect("DELETE", "/connectors/src", None, 404);
    assert_eq!(w.expect("GET", "/connectors", None, 200).json(), json!(["bad-sink"]));

    assert_eq!(w.child.terminate(WAIT), Some(0), "{}", w.log_text());
}
