//! Scenario 4 of the quickstart: `bin/connect-standalone.sh` with the
//! shipped `config/connect-file-source.properties` and
//! `config/connect-file-sink.properties` copies `test.txt` into topic
//! `connect-test` (JsonConverter envelopes) and on into `test.sink.txt`,
//! keeps tailing, and after a restart goes on with no line lost or doubled.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{bin_script, stderr, stdout, ChildGuard, TestBroker};

const WAIT: Duration = Duration::from_secs(60);

fn repo_config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name)
}

/// The shipped worker config with this broker, a temporary offsets file and short flushes.
fn worker_properties(dir: &Path, bootstrap: &str) -> PathBuf {
    let shipped = std::fs::read_to_string(repo_config("connect-standalone.properties")).expect("shipped worker config");
    let mut text = String::new();
    for line in shipped.lines() {
        if line.starts_with("bootstrap.servers=")
            || line.starts_with("offset.storage.file.filename=")
            || line.starts_with("offset.flush.interval.ms=")
        {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("bootstrap.servers={bootstrap}\n"));
    text.push_str(&format!("offset.storage.file.filename={}\n", dir.join("connect.offsets").display()));
    text.push_str("offset.flush.interval.ms=500\n");
    // The REST API on a free port, so parallel tests never race for 8083.
    text.push_str("listeners=http://127.0.0.1:0\n");
    let path = dir.join("connect-standalone.properties");
    std::fs::write(&path, text).expect("worker config");
    path
}

/// The worker, run the quickstart's way from `dir` with the shipped connector configs.
fn start_worker(dir: &Path, worker: &Path) -> ChildGuard {
    let log = std::fs::File::create(dir.join("worker.log")).expect("log");
    ChildGuard(Some(
        bin_script("connect-standalone.sh")
            .arg(worker)
            .arg(repo_config("connect-file-source.properties"))
            .arg(repo_config("connect-file-sink.properties"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the worker"),
    ))
}

fn wait_for_lines(path: &Path, want: &[&str], log: &Path) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines == want {
            return;
        }
        assert!(
            Instant::now() < deadline && lines.len() <= want.len(),
            "{} has {lines:?}, want {want:?}\nworker log:\n{}",
            path.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[test]
fn the_quickstart_file_connectors_copy_lines_through_a_topic_and_resume_after_a_restart() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    let (source, sink, log) =
        (dir.path().join("test.txt"), dir.path().join("test.sink.txt"), dir.path().join("worker.log"));
    std::fs::write(&source, "foo\nbar\n").expect("test.txt");
    let worker_config = worker_properties(dir.path(), &bs);
    let mut worker = start_worker(dir.path(), &worker_config);
    wait_for_lines(&sink, &["foo", "bar"], &log);
    let out = bin_script("kafka-console-consumer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "connect-test", "--from-beginning"])
        .args(["--max-messages", "2", "--timeout-ms", "60000"])
        .output()
        .expect("console consumer");
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#,
            r#"{"schema":{"type":"string","optional":false},"payload":"bar"}"#
        ],
        "{}",
        stderr(&out)
    );
    // The source keeps tailing the file.
    append(&source, "Another line\n");
    wait_for_lines(&sink, &["foo", "bar", "Another line"], &log);
    // A clean stop flushes offsets; what is written meanwhile comes after the restart, once.
    assert_eq!(worker.terminate(WAIT), Some(0), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    append(&source, "while stopped\n");
    let mut worker = start_worker(dir.path(), &worker_config);
    wait_for_lines(&sink, &["foo", "bar", "Another line", "while stopped"], &log);
    append(&source, "after restart\n");
    wait_for_lines(&sink, &["foo", "bar", "Another line", "while stopped", "after restart"], &log);
    // A little longer: nothing is copied twice.
    std::thread::sleep(Duration::from_millis(1500));
    wait_for_lines(&sink, &["foo", "bar", "Another line", "while stopped", "after restart"], &log);
    assert_eq!(worker.terminate(WAIT), Some(0));
}

#[test]
fn a_bad_connector_config_is_an_error_naming_the_key() {
    let b = TestBroker::start(&[]);
    let dir = tempfile::tempdir().expect("dir");
    let worker_config = worker_properties(dir.path(), &b.bootstrap());
    let connector = dir.path().join("bad.properties");
    std::fs::write(&connector, "name=bad\nconnector.class=FileStreamSource\nfile=x.txt\n").expect("config");
    let out = bin_script("connect-standalone.sh").arg(&worker_config).arg(&connector).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("\"topic\""), "{}", stderr(&out));
    std::fs::write(&connector, "name=bad\nconnector.class=com.example.NoSuchConnector\n").expect("config");
    let out = bin_script("connect-standalone.sh").arg(&worker_config).arg(&connector).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("com.example.NoSuchConnector"), "{}", stderr(&out));
    let worker = dir.path().join("worker.properties");
    std::fs::write(&worker, "bootstrap.servers=127.0.0.1:1\n").expect("config");
    let out = bin_script("connect-standalone.sh").arg(&worker).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("offset.storage.file.filename"), "{}", stderr(&out));
}
