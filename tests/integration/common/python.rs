//! kafka-python (PyPI) as an independent client, the one client family that
//! can still be told to speak the 0.9/0.10 protocol (`api_version=(0, 10, 1)`).
//! A test gets `None` when it is not installed and skips — except under `CI`,
//! where `.ci/run` installs it and a missing module fails the test.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The modules a kafka-python test needs: the client and its codecs (xxhash:
/// kafka-python reads lz4 of message format v0 through it).
const MODULES: &str = "import kafka, lz4.frame, snappy, xxhash";

/// The interpreter, when kafka-python (with lz4 and python-snappy) imports.
pub fn kafka_python() -> Option<&'static str> {
    python_with(MODULES, "kafka-python", "pip install kafka-python lz4 python-snappy xxhash")
}

/// The interpreter, when confluent-kafka (PyPI; it bundles librdkafka) imports.
/// `None` (skip) when it does not, except under `CI`, where `.ci/run`
/// installs it and a missing module fails the test.
pub fn confluent_kafka() -> Option<&'static str> {
    python_with("import confluent_kafka.admin", "confluent-kafka", "pip install 'confluent-kafka==2.*'")
}

/// `python3` when `imports` succeed; else a skip note, or a failure under `CI`.
fn python_with(imports: &str, package: &str, install: &str) -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return Some("python3");
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {package} is not installed ({install})");
    }
    eprintln!("skipping: {package} is not installed ({install})");
    None
}

/// Runs `script` (fed on stdin) with `args` as `sys.argv[1:]`, killing it after
/// `timeout`. The output is returned whatever the exit status; callers assert.
pub fn run(python: &str, script: &str, args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(python)
        .arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write script");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait python3").is_some() {
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("python3 output")
}

/// `run`, asserting success; returns stdout. On failure the panic shows both streams.
pub fn run_ok(python: &str, script: &str, args: &[&str], timeout: Duration) -> String {
    let out = run(python, script, args, timeout);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python3 failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
