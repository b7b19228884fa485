//! The rough edges a new user hit (issue #15): a refused connection, errors
//! that printed their cause twice, help and flags that were hard to find, a
//! README whose commands did not work as written, wrappers that missed a
//! binary built elsewhere, and a topic name that silently collided.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{gregor_bin, ok, run_tool, stderr, stdout, ChildGuard, TestBroker};

/// A port nothing listens on: bound once to get it, then released.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs `cmd` to its end, or kills it after `limit` and fails the test: far
/// longer than a refused connection may take, far shorter than the 30 s
/// request timeout a silent retry loop would wait.
fn run_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("still running after {limit:?}; stderr so far:\n{}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn gregor(args: &[&str]) -> Command {
    let mut c = Command::new(gregor_bin());
    c.args(args).env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// One `Error:` line, and the OS's words for the cause in it once.
fn assert_one_line_naming_cause_once(out: &Output, cause: &str) {
    let err = stderr(out);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("Error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].matches(cause).count(), 1, "{err}");
}

#[test]
fn a_refused_connection_fails_at_once_with_one_clear_line() {
    let bs = format!("127.0.0.1:{}", dead_port());
    let limit = Duration::from_secs(15);
    for args in [
        vec!["topics", "--bootstrap-server", &bs, "--list"],
        vec!["topics", "--bootstrap-server", &bs, "--create", "--topic", "t"],
        vec!["console-consumer", "--bootstrap-server", &bs, "--topic", "t"],
        vec!["console-producer", "--bootstrap-server", &bs, "--topic", "t"],
        vec!["consumer-groups", "--bootstrap-server", &bs, "--list"],
    ] {
        let out = run_within(gregor(&args), limit);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_one_line_naming_cause_once(&out, "Connection refused");
        assert!(stderr(&out).contains(&bs), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_taken_port_is_reported_once_and_the_coordinator_reads_nothing_first() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let tmp = tempfile::tempdir().expect("tempdir");

    // The broker's listener.
    let out = run_within(
        gregor(&[
            "server-start",
            "--override",
            &format!("log.dirs={}", tmp.path().join("logs").display()),
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_one_line_naming_cause_once(&out, "Address already in use");
    assert!(stderr(&out).contains("cannot bind listener"), "{}", stderr(&out));

    // The coordinator: fails on the port before it opens (and creates) its data dir.
    let data = tmp.path().join("zk-data");
    let props = tmp.path().join("zookeeper.properties");
    std::fs::write(&props, format!("dataDir={}\nclientPort={port}\n", data.display())).expect("write");
    let out = run_within(gregor(&["zookeeper-start", props.to_str().expect("utf-8")]), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_one_line_naming_cause_once(&out, "Address already in use");
    assert!(!data.exists(), "the data dir was opened before the port was bound");
}

#[test]
fn help_names_the_tool_asked_for_and_old_flags_are_shown() {
    let topics = ok(gregor(&["help", "topics"]).output().expect("run"));
    assert!(topics.contains("Usage: gregor topics"), "{topics}");
    let perf = ok(gregor(&["help", "perf", "producer"]).output().expect("run"));
    assert!(perf.contains("Usage: gregor perf producer"), "{perf}");
    let unknown = gregor(&["help", "no-such-tool"]).output().expect("run");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown tool 'no-such-tool'"), "{}", stderr(&unknown));

    let producer = ok(gregor(&["console-producer", "--help"]).output().expect("run"));
    assert!(producer.contains("--broker-list"), "{producer}");

    // Kafka 0.10's consumer-groups --zookeeper: refused, pointing the way.
    let out = gregor(&["consumer-groups", "--zookeeper", "127.0.0.1:2181", "--list"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--bootstrap-server") || stderr(&out).contains("[bootstrap-server]"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("zookeeper"), "{}", stderr(&out));
}

#[test]
fn an_unknown_server_property_is_warned_about_once() {
    let b = TestBroker::start(&["no.such.key=1"]);
    let log = b.log_text();
    assert_eq!(
        log.matches("The configuration 'no.such.key' was supplied but isn't a known config.").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_topic_colliding_with_another_by_period_and_underscore_is_refused() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = ok(run_tool("topics", &bs, &["--create", "--topic", "my.topic", "--partitions", "1"]));
    assert!(out.starts_with("WARNING: Due to limitations in metric names"), "{out}");
    assert!(out.ends_with("Created topic \"my.topic\".\n"), "{out}");

    let out = run_tool("topics", &bs, &["--create", "--topic", "my_topic", "--partitions", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("Topic 'my_topic' collides with existing topics: my.topic"), "{}", stderr(&out));
    let list = ok(run_tool("topics", &bs, &["--list"]));
    assert_eq!(list, "my.topic\n");

    // A name without either character neither warns nor collides.
    let out = ok(run_tool("topics", &bs, &["--create", "--topic", "plain", "--partitions", "1"]));
    assert_eq!(out, "Created topic \"plain\".\n");
}

/// The wrappers find the binary in the target directory cargo was told to use.
#[test]
fn wrappers_find_the_binary_under_cargo_target_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A checkout of just bin/, and a target dir elsewhere holding a release build.
    let checkout = tmp.path().join("checkout");
    std::fs::create_dir_all(checkout.join("bin")).expect("mkdir");
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("bin");
    for name in ["gregor-run.sh", "kafka-topics.sh"] {
        std::fs::copy(bin.join(name), checkout.join("bin").join(name)).expect("copy");
    }
    let target = tmp.path().join("elsewhere");
    std::fs::create_dir_all(target.join("release")).expect("mkdir");
    std::os::unix::fs::symlink(gregor_bin(), target.join("release/gregor")).expect("symlink");

    let out = Command::new(checkout.join("bin/kafka-topics.sh"))
        .arg("--help")
        .env_remove("GREGOR")
        .env("CARGO_TARGET_DIR", &target)
        // No `gregor` on PATH to fall back to, and no cargo to build one with.
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run");
    let text = ok(out);
    assert!(text.contains("Usage: gregor topics"), "{text}");
}

/// The README's multi-call quickstart, run as written: only its ports, its
/// data directories and the size of the perf runs are changed.
#[test]
fn the_readme_multi_call_quickstart_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let block: Vec<&str> = readme
        .split("The same with the multi-call binary")
        .nth(1)
        .expect("the multi-call section")
        .lines()
        .skip_while(|l| !l.starts_with("    "))
        .take_while(|l| l.starts_with("    "))
        .collect();
    // Continuation lines belong to the command before them.
    let mut commands: Vec<String> = Vec::new();
    for line in block {
        let line = line.trim();
        match commands.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push_str(line);
            }
            _ => commands.push(line.to_string()),
        }
    }
    assert!(commands.len() >= 4, "{commands:?}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let (kafka_port, zk_port) = (dead_port(), dead_port());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rewrite = |text: &str| text.replace("9092", &kafka_port.to_string()).replace("2181", &zk_port.to_string());
    std::fs::create_dir_all(tmp.path().join("config")).expect("mkdir");
    let zk_props = rewrite(&std::fs::read_to_string(repo.join("config/zookeeper.properties")).expect("read"))
        .replace("dataDir=/tmp/zookeeper", &format!("dataDir={}", tmp.path().join("zookeeper").display()));
    std::fs::write(tmp.path().join("config/zookeeper.properties"), zk_props).expect("write");
    let server_props: String = rewrite(&std::fs::read_to_string(repo.join("config/server.properties")).expect("read"))
        .lines()
        .map(|l| {
            if l.starts_with("log.dirs=") {
                format!("log.dirs={}", tmp.path().join("kafka-logs").display())
            } else {
                l.into()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tmp.path().join("config/server.properties"), server_props).expect("write");

    let path =
        format!("{}:{}", gregor_bin().parent().expect("bin dir").display(), std::env::var("PATH").unwrap_or_default());
    let shell = |cmd: &str| {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(cmd)
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("GREGOR");
        c
    };
    let mut background = Vec::new();
    let mut outputs = Vec::new();
    for cmd in &commands {
        let cmd = rewrite(cmd).replace("200000", "2000");
        if let Some(bg) = cmd.strip_suffix('&') {
            let mut child =
                shell(&format!("exec {bg}")).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
            // Wait for the server's "started" line, as a user waits before typing the next
            // command; the rest of its log is drained so that it never blocks on a full pipe.
            let lines = BufReader::new(child.stderr.take().expect("stderr"));
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in lines.lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            let mut seen = Vec::new();
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
                let started = line.contains("started");
                seen.push(line);
                if started {
                    break;
                }
            }
            assert!(seen.last().is_some_and(|l| l.contains("started")), "{cmd}: {seen:?}");
            background.push(ChildGuard(Some(child)));
            continue;
        }
        let out = shell(&cmd).output().expect("run");
        assert!(out.status.success(), "{cmd}\nexit {:?}\n{}\n{}", out.status.code(), stdout(&out), stderr(&out));
        outputs.push((cmd, stdout(&out)));
    }
    let consumed = outputs.iter().find(|(c, _)| c.contains("console-consumer")).expect("a console-consumer command");
    assert_eq!(consumed.1, "one\ntwo\n");
    for mut child in background.into_iter().rev() {
        child.terminate(Duration::from_secs(30));
    }
}
