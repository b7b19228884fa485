//! kafkajs, a third client family written independently of librdkafka and
//! kafka-python: its first release (1.0.0, 2018), which speaks Produce v2 and
//! Fetch v3 with message format v1 and gzip, beside its current release
//! (2.2.4, record batches). Each writes half of one topic and each reads all
//! of it back in its own consumer group. The packages are installed by
//! `.ci/run` (`npm ci --prefix tests/js`); a test skips without them, except
//! under `CI`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{gregor_bin, TestBroker};

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("js")
}

fn kafkajs_installed() -> bool {
    let dir = js_dir();
    let ok = ["kafkajs1", "kafkajs2"].iter().all(|m| dir.join("node_modules").join(m).join("package.json").exists())
        && Command::new("node").arg("--version").stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but kafkajs is not installed (npm ci --prefix tests/js)");
        }
        eprintln!("skipping: kafkajs is not installed (npm ci --prefix tests/js)");
    }
    ok
}

fn node(args: &[&str]) -> String {
    let out = Command::new("node").arg(js_dir().join("clients.js")).args(args).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "node {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `key value` lines of one label, in arrival order.
fn of(lines: &str, label: &str) -> Vec<String> {
    lines.lines().filter(|l| l.starts_with(&format!("{label} "))).map(str::to_string).collect()
}

#[test]
fn kafkajs_1_0_and_2_2_write_and_read_one_topic() {
    if !kafkajs_installed() {
        return;
    }
    let b = TestBroker::start(&[]);
    let bootstrap = b.bootstrap();
    let topic = "kafkajs";
    let created = Command::new(gregor_bin())
        .args(["topics", "--bootstrap-server", &bootstrap, "--create", "--topic", topic])
        .args(["--partitions", "2", "--replication-factor", "1"])
        .output()
        .expect("gregor topics");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    assert_eq!(node(&["kafkajs1", &bootstrap, topic, "produce", "old", "20"]).trim(), "ok");
    assert_eq!(node(&["kafkajs2", &bootstrap, topic, "produce", "new", "20"]).trim(), "ok");

    let want = |label: &str| (0..20).map(|i| format!("{label} {label}/{i}")).collect::<Vec<_>>();
    for (client, group) in [("kafkajs1", "g-old"), ("kafkajs2", "g-new")] {
        let lines = node(&[client, &bootstrap, topic, "consume", group, "40"]);
        assert_eq!(lines.lines().count(), 40, "{client} read:\n{lines}");
        // Each writer's lines share a key, so one partition: in order.
        assert_eq!(of(&lines, "old"), want("old"), "{client}");
        assert_eq!(of(&lines, "new"), want("new"), "{client}");
    }
}
