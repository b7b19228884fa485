//! The quickstart toolkit end to end through `bin/*.sh` and `gregor <tool>`:
//! topics, console-producer (pipe and REPL on a pseudo-terminal),
//! console-consumer, the perf tools, and generated completions/man pages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{bin_script, gregor_bin, pipe_into, TestBroker};

fn tool(args: &[&str]) -> Output {
    Command::new(gregor_bin()).args(args).env("NO_COLOR", "1").output().expect("run gregor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn quickstart_scenario_1_through_bin_scripts() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = bin_script("kafka-topics.sh")
        .args([
            "--create",
            "--bootstrap-server",
            &bs,
            "--replication-factor",
            "1",
            "--partitions",
            "1",
            "--topic",
            "test",
        ])
        .output()
        .expect("create");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Created topic \"test\".\n");

    let out = bin_script("kafka-topics.sh").args(["--list", "--bootstrap-server", &bs]).output().expect("list");
    assert_eq!(stdout(&out), "test\n");

    let mut producer = bin_script("kafka-console-producer.sh");
    producer.args(["--broker-list", &bs, "--topic", "test"]);
    let out = pipe_into(producer, "This is a message\nThis is another message\n");
    assert!(out.status.success(), "{}", stderr(&out));

    let out = bin_script("kafka-console-consumer.sh")
        .args(["--bootstrap-server", &bs, "--topic", "test", "--from-beginning", "--max-messages", "2"])
        .output()
        .expect("consume");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "This is a message\nThis is another message\n");
    assert!(stderr(&out).contains("Processed a total of 2 messages"), "{}", stderr(&out));

    let out = bin_script("kafka-topics.sh")
        .args(["--describe", "--bootstrap-server", &bs, "--topic", "test"])
        .output()
        .expect("describe");
    assert_eq!(
        stdout(&out),
        "Topic:test\tPartitionCount:1\tReplicationFactor:1\tConfigs:\n\tTopic: test\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n"
    );
}

#[test]
fn topics_tool_formats_and_errors() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = tool(&[
        "topics",
        "--bootstrap-server",
        &bs,
        "--create",
        "--topic",
        "t3",
        "--partitions",
        "3",
        "--config",
        "retention.ms=1000000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Duplicate: Kafka's error line and exit 1; --if-not-exists silences it.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--topic", "t3", "--partitions", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Error while executing topic command : Topic 't3' already exists."),
        "{}",
        stderr(&out)
    );
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--topic", "t3", "--if-not-exists"]);
    assert!(out.status.success());
    // Describe shows the override.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--topic", "t3"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("Topic:t3\tPartitionCount:3\tReplicationFactor:1\tConfigs:retention.ms=1000000\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4);
    // JSON and YAML carry the same data.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--topic", "t3", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["partition_count"], 3);
    assert_eq!(json[0]["partitions"][2]["leader"], 0);
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--topic", "t3", "--output", "yaml"]);
    assert!(stdout(&out).contains("partition_count: 3"), "{}", stdout(&out));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--output", "table"]);
    assert!(stdout(&out).contains("LEADER") && stdout(&out).contains("t3"), "{}", stdout(&out));
    // Alter partitions.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--alter", "--topic", "t3", "--partitions", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Adding partitions succeeded!"));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--alter", "--topic", "t3", "--partitions", "2"]);
    assert_eq!(out.status.code(), Some(1));
    // Missing topic.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--topic", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Topic 'nope' does not exist as expected"), "{}", stderr(&out));
    // Delete.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--delete", "--topic", "t3"]);
    assert!(stdout(&out).contains("Topic t3 is marked for deletion."), "{}", stdout(&out));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--list"]);
    assert_eq!(stdout(&out), "");
    // Usage errors name the problem.
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--list"]);
    assert_eq!(out.status.code(), Some(2));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--list", "--partitons", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--partitons"), "{}", stderr(&out));
    let out = tool(&["topics", "--zookeeper", "127.0.0.1:2181/x//y", "--list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("zookeeper.connect"), "{}", stderr(&out));
}

#[test]
fn producer_keys_and_consumer_properties() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--topic", "kv", "--partitions", "1"]);
    assert!(out.status.success());
    let mut p = Command::new(gregor_bin());
    p.args([
        "console-producer",
        "--bootstrap-server",
        &bs,
        "--topic",
        "kv",
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        "--compression-codec",
        "lz4",
        "--sync",
    ]);
    let out = pipe_into(p, "a:1\nb:2\nno-separator\nc:3\n");
    assert_eq!(out.status.code(), Some(1), "a bad line fails the run");
    assert!(stderr(&out).contains("No key separator found on line number 3"), "{}", stderr(&out));
    let out = tool(&[
        "console-consumer",
        "--bootstrap-server",
        &bs,
        "--topic",
        "kv",
        "--from-beginning",
        "--max-messages",
        "3",
        "--property",
        "print.key=true",
        "--property",
        "print.offset=true",
        "--property",
        "print.partition=true",
        "--property",
        "key.separator=|",
    ]);
    assert_eq!(stdout(&out), "Partition:0|Offset:0|a|1\nPartition:0|Offset:1|b|2\nPartition:0|Offset:2|c|3\n");
    let out = tool(&[
        "console-consumer",
        "--bootstrap-server",
        &bs,
        "--topic",
        "kv",
        "--partition",
        "0",
        "--offset",
        "1",
        "--max-messages",
        "1",
        "--property",
        "print.timestamp=true",
    ]);
    let line = stdout(&out);
    assert!(line.starts_with("CreateTime:") && line.ends_with("\t2\n"), "{line}");
    // --timeout-ms ends an idle consumer and still reports the count.
    let out = tool(&["console-consumer", "--bootstrap-server", &bs, "--topic", "kv", "--timeout-ms", "1500"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("Processed a total of 0 messages"), "{}", stderr(&out));
    let out = tool(&["console-consumer", "--bootstrap-server", &bs, "--topic", "kv", "--offset", "3"]);
    assert!(stderr(&out).contains("The partition is required when offset is specified."), "{}", stderr(&out));
}

#[test]
fn repl_on_a_pseudo_terminal() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(gregor_bin());
    cmd.args(["console-producer", "--bootstrap-server", &bs, "--topic", "repl", "--timeout", "0"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"));
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawn on a pty");
    p.exp_string(">").expect("prompt");
    p.send_line("first line").expect("send");
    p.exp_string(">").expect("prompt");
    p.send_line("second line").expect("send");
    p.exp_string(">").expect("prompt");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("exits on ctrl-d");
    let out = tool(&[
        "console-consumer",
        "--bootstrap-server",
        &bs,
        "--topic",
        "repl",
        "--from-beginning",
        "--max-messages",
        "2",
    ]);
    assert_eq!(stdout(&out), "first line\nsecond line\n");
    let history: PathBuf = home.path().join("data/gregor/console-producer-history");
    let saved = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(saved.contains("second line"), "history at {}: {saved:?}", history.display());
}

#[test]
fn perf_tools_print_kafka_style_summaries() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let out = bin_script("kafka-producer-perf-test.sh")
        .args([
            "--topic",
            "perf",
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bs}"),
            "acks=1",
        ])
        .output()
        .expect("producer perf");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("20000 records sent, ") && last.contains("ms 99.9th."), "{text}");
    let out = bin_script("kafka-consumer-perf-test.sh")
        .args(["--bootstrap-server", &bs, "--topic", "perf", "--messages", "20000"])
        .output()
        .expect("consumer perf");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap_or_default().starts_with("start.time, end.time, data.consumed.in.MB"));
    let fields: Vec<&str> = lines.next().unwrap_or_default().split(", ").collect();
    assert_eq!(fields.len(), 10, "{text}");
    assert_eq!(fields[4], "20000");
    // With --group the tool joins the group, and what it read is committed when it leaves.
    let out = bin_script("kafka-consumer-perf-test.sh")
        .args(["--bootstrap-server", &bs, "--topic", "perf", "--messages", "20000", "--group", "perf-group"])
        .output()
        .expect("consumer perf with a group");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let fields: Vec<&str> = text.lines().nth(1).unwrap_or_default().split(", ").collect();
    assert_eq!(fields.get(4).copied(), Some("20000"), "{text}");
    let out = tool(&["consumer-groups", "--bootstrap-server", &bs, "--describe", "--group", "perf-group"]);
    let text = stdout(&out);
    let row: Vec<&str> =
        text.lines().find(|l| l.starts_with("perf-group")).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row.get(3), Some(&"20000"), "committed offset: {text}");
    assert_eq!(row.get(5), Some(&"0"), "lag: {text}");
}

#[test]
fn committed_completions_and_man_pages_are_fresh() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for shell in ["bash", "zsh", "fish"] {
        let out = tool(&["generate", "completions", shell]);
        assert!(out.status.success());
        let name = match shell {
            "bash" => "gregor.bash",
            "zsh" => "_gregor",
            _ => "gregor.fish",
        };
        let committed = std::fs::read(root.join("completions").join(name)).unwrap_or_default();
        assert!(
            committed == out.stdout,
            "completions/{name} is stale: run `gregor generate completions {shell} --dir completions`"
        );
    }
    let out = tool(&["generate", "man", "--dir", &dir.path().display().to_string()]);
    assert!(out.status.success());
    let mut pages = 0;
    for e in std::fs::read_dir(dir.path()).expect("dir").filter_map(Result::ok) {
        let name = e.file_name();
        let fresh = std::fs::read(e.path()).expect("read");
        let committed = std::fs::read(root.join("man").join(&name)).unwrap_or_default();
        assert!(committed == fresh, "man/{} is stale: run `gregor generate man`", name.to_string_lossy());
        pages += 1;
    }
    assert!(pages >= 6, "{pages} man pages");
}

#[test]
fn remaining_tool_flags() {
    let b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    // Explicit assignment, then the health filters (a healthy topic lists nothing).
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--topic", "ra", "--replica-assignment", "0,0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", "--topic", "ra"]);
    assert!(stdout(&out).starts_with("Topic:ra\tPartitionCount:2\tReplicationFactor:1"), "{}", stdout(&out));
    for filter in ["--under-replicated-partitions", "--unavailable-partitions"] {
        let out = tool(&["topics", "--bootstrap-server", &bs, "--describe", filter]);
        assert!(out.status.success());
        assert_eq!(stdout(&out), "", "{filter}");
    }
    let out = tool(&["topics", "--bootstrap-server", &bs, "--delete", "--topic", "missing", "--if-exists"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tool(&["topics", "--bootstrap-server", &bs, "--create", "--topic", "bad", "--replica-assignment", "0:x"]);
    assert_eq!(out.status.code(), Some(1));

    // Producer properties, acks and a properties file; consumer line separator.
    let dir = tempfile::tempdir().expect("tmp");
    let props = dir.path().join("producer.properties");
    std::fs::write(&props, "linger.ms=0\n").expect("write");
    let mut p = Command::new(gregor_bin());
    p.args(["console-producer", "--bootstrap-server", &bs, "--topic", "ra", "--request-required-acks", "1"])
        .args(["--producer-property", "batch.size=1000", "--producer.config"])
        .arg(&props);
    let out = pipe_into(p, "x\ny\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tool(&[
        "console-consumer",
        "--bootstrap-server",
        &bs,
        "--topic",
        "ra",
        "--from-beginning",
        "--max-messages",
        "2",
        "--property",
        "line.separator=;",
        "--formatter",
        "kafka.tools.DefaultMessageFormatter",
    ]);
    let text = stdout(&out);
    let mut got: Vec<&str> = text.split(';').filter(|s| !s.is_empty()).collect();
    got.sort_unstable();
    assert_eq!(got, vec!["x", "y"]);
    // Unknown producer property and unknown formatter are clear errors.
    let mut p = Command::new(gregor_bin());
    p.args(["console-producer", "--bootstrap-server", &bs, "--topic", "ra", "--producer-property", "no.such.key=1"]);
    let out = pipe_into(p, "z\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no.such.key"), "{}", stderr(&out));
    let out =
        tool(&["console-consumer", "--bootstrap-server", &bs, "--topic", "ra", "--formatter", "com.example.Fancy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("com.example.Fancy"));
    // No bootstrap server: an error naming the flag.
    let out = tool(&["topics", "--list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("bootstrap-server"), "{}", stderr(&out));
}
