//! The Kafka log appender (`gregor::appender`) against real brokers: a
//! synchronous line is on the topic when the log call returns (also from
//! inside the application's tokio runtime), queued lines are delivered on
//! drop, a broker outage only costs undelivered lines, a full queue drops
//! instead of blocking, one logger's lines stay in order in one partition,
//! the client's own trace-level events do not loop back, bad configurations
//! are named, and scenario 3 of the quickstart end to end:
//! `examples/log_appender.rs` with the shipped `config/log4rs-kafka.yaml`
//! into a three-broker cluster while `kafka-console-consumer.sh --zookeeper`
//! prints the lines.
//!
//! Whatever installs a process-global logger (log4rs, a global tracing
//! subscriber) runs in a child process: this test binary started again on
//! one ignored test, so the other tests of the binary are not affected.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gregor::appender::{AppenderConfig, KafkaAppender, KafkaLayer, KeyChoice};
use gregor::client::{Admin, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord, NewTopic};
use log4rs::append::Append;

use crate::common::zk::TestZk;
use crate::common::{bin_script, TestBroker};

#[path = "../../examples/log_appender.rs"]
mod log_appender_example;

const WAIT: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(bootstrap)).await.expect("admin");
    admin.create_topic(NewTopic::new(name, partitions), false).await.expect("create topic");
}

/// Every record of `topic` from the beginning, polling until `count` arrived (or WAIT).
async fn read_topic(bootstrap: &str, topic: &str, count: usize) -> Vec<ConsumerRecord> {
    let mut config = ConsumerConfig::new(bootstrap);
    config.set("fetch.max.wait.ms", "100").expect("property");
    config.set("auto.offset.reset", "earliest").expect("property");
    let mut consumer = Consumer::new(config).await.expect("consumer");
    let partitions = consumer.partitions_for(topic).await.expect("partitions");
    consumer.assign(partitions.into_iter().map(|p| (topic.to_string(), p)).collect()).await.expect("assign");
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(300)).await.expect("poll"));
    }
    out
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
}

/// Appends one `log` record with `target` and `message` at INFO.
fn log_line(appender: &dyn Append, target: &str, message: &str) -> anyhow::Result<()> {
    appender.append(
        &log::Record::builder()
            .args(format_args!("{message}"))
            .level(log::Level::Info)
            .target(target)
            .module_path(Some(target))
            .file(Some("src/app.rs"))
            .line(Some(7))
            .build(),
    )
}

fn appender(bootstrap: &str, topic: &str, edit: impl FnOnce(&mut AppenderConfig)) -> KafkaAppender {
    let mut config = AppenderConfig::new(topic, bootstrap);
    edit(&mut config);
    KafkaAppender::new(config, None).expect("appender")
}

/// Runs this test binary again on one ignored test, with `env`; returns its output.
fn child(test: &str, env: &[(&str, String)], timeout: Duration) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn the child test");
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        _ => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("the child test {test} did not finish within {timeout:?} (deadlock?)");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn sync_send_line_is_on_the_topic_when_the_call_returns_even_inside_the_apps_runtime() {
    let b = TestBroker::start(&[]);
    create_topic(&b.bootstrap(), "app-sync", 1).await;
    let a = appender(&b.bootstrap(), "app-sync", |c| {
        c.sync_send = true;
        c.ignore_exceptions = false;
    });
    // Called on this current-thread runtime's only thread: the appender must
    // not need it (no block_on, its own runtime does the work).
    log_line(&a, "app::orders", "order 1 placed").expect("sync append");
    assert_eq!(a.stats().delivered, 1, "acknowledged before append returned: {:?}", a.stats());
    let records = read_topic(&b.bootstrap(), "app-sync", 1).await;
    assert_eq!(records.len(), 1);
    let line = value(&records[0]);
    assert!(line.contains(" [INFO ] [") && line.ends_with("] - [app::orders(src/app.rs:7)] order 1 placed"), "{line}");
    assert!(!line.ends_with('\n'), "the trailing newline of the pattern is not part of the record");
    assert_eq!(records[0].key.as_deref(), Some(&b"app::orders"[..]), "keyed by logger name");
    // The client's own targets are never appended.
    log_line(&a, "gregor::client::producer::sender", "internal").expect("ignored");
    assert_eq!(a.stats().delivered, 1);
    assert_eq!(a.dropped(), 0);
}

#[test]
fn async_lines_are_delivered_on_flush_and_drop() {
    let b = TestBroker::start(&[]);
    let rt = runtime();
    rt.block_on(create_topic(&b.bootstrap(), "app-async", 1));
    let a = appender(&b.bootstrap(), "app-async", |c| c.linger = Duration::from_millis(50));
    for i in 0..100 {
        log_line(&a, "app", &format!("line {i}")).expect("queued");
    }
    a.flush();
    assert_eq!(a.stats().delivered, 100, "{:?}", a.stats());
    for i in 100..200 {
        log_line(&a, "app", &format!("line {i}")).expect("queued");
    }
    drop(a); // waits for delivery (at most maxBlockMs)
    let records = rt.block_on(read_topic(&b.bootstrap(), "app-async", 200));
    let lines: Vec<String> = records.iter().map(value).collect();
    assert_eq!(lines.len(), 200);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.ends_with(&format!("] line {i}")), "record {i}: {line}");
    }
}

#[test]
fn a_broker_outage_costs_lines_but_never_blocks_the_application() {
    let mut b = TestBroker::start(&[]);
    let rt = runtime();
    rt.block_on(create_topic(&b.bootstrap(), "app-outage", 1));
    let a = appender(&b.bootstrap(), "app-outage", |c| {
        c.sync_send = true;
        c.ignore_exceptions = false;
        c.max_block = Duration::from_millis(1500);
        c.delivery_timeout = Duration::from_secs(4);
        c.properties.insert("request.timeout.ms".into(), "1000".into());
        c.properties.insert("retry.backoff.ms".into(), "100".into());
    });
    log_line(&a, "app", "before").expect("delivered while the broker is up");
    b.kill();
    // Each call comes back (with an error: not acknowledged within maxBlockMs).
    for i in 0..3 {
        let err = log_line(&a, "app", &format!("during {i}")).expect_err("no broker");
        let msg = err.to_string();
        assert!(msg.contains("app-outage"), "{msg}");
    }
    b.restart();
    // Lines after recovery arrive; the producer reconnects by itself.
    let deadline = Instant::now() + WAIT;
    let mut after = 0;
    loop {
        if log_line(&a, "app", &format!("after {after}")).is_ok() {
            break;
        }
        after += 1;
        assert!(Instant::now() < deadline, "never recovered: {:?}", a.stats());
    }
    // Every line logged is accounted for: delivered, or counted as undelivered.
    let deadline = Instant::now() + WAIT;
    while a.stats().pending > 0 {
        assert!(Instant::now() < deadline, "lines never settled: {:?}", a.stats());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = a.stats();
    let logged = 1 + 3 + after as u64 + 1;
    assert_eq!(stats.delivered + stats.undelivered, logged, "{stats:?}");
    drop(a);
    let lines: Vec<String> =
        rt.block_on(read_topic(&b.bootstrap(), "app-outage", stats.delivered as usize)).iter().map(value).collect();
    assert!(lines.iter().any(|l| l.ends_with("] before")), "{lines:?}");
    assert!(lines.iter().any(|l| l.ends_with(&format!("] after {after}"))), "{lines:?}");
    assert_eq!(lines.len() as u64, stats.delivered, "{lines:?}");
}

/// With no broker to send to, a full queue drops lines at once (counted, and
/// with ignoreExceptions=false returned as errors) instead of blocking.
#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let a = appender("127.0.0.1:1", "nowhere", |c| {
        c.queue_size = 5;
        c.ignore_exceptions = false;
        c.max_block = Duration::from_millis(1000);
        c.properties.insert("request.timeout.ms".into(), "3000".into());
    });
    let mut refused = Vec::new();
    for i in 0..20 {
        if let Err(e) = log_line(&a, "app", &format!("line {i}")) {
            refused.push(e.to_string());
        }
    }
    assert!(refused.len() >= 15, "{refused:?}");
    assert!(refused[0].contains("queue for topic nowhere is full (5 lines)"), "{refused:?}");
    assert!(a.dropped() >= 15, "{:?}", a.stats());
    assert_eq!(a.stats().undelivered + a.stats().pending + a.stats().delivered, 20, "{:?}", a.stats());
    drop(a); // returns after at most maxBlockMs (and a little), whatever the broker does
}

#[test]
fn one_loggers_lines_stay_in_order_in_one_partition() {
    let b = TestBroker::start(&[]);
    let rt = runtime();
    rt.block_on(create_topic(&b.bootstrap(), "app-order", 3));
    let a = appender(&b.bootstrap(), "app-order", |c| c.linger = Duration::from_millis(20));
    let loggers = ["app::orders", "app::billing", "app::shipping", "app::web"];
    for i in 0..60 {
        for l in loggers {
            log_line(&a, l, &format!("{l} {i}")).expect("queued");
        }
    }
    drop(a);
    let records = rt.block_on(read_topic(&b.bootstrap(), "app-order", 240));
    assert_eq!(records.len(), 240);
    let mut by_logger: BTreeMap<String, Vec<(i32, i64, String)>> = BTreeMap::new();
    for r in &records {
        let key = String::from_utf8_lossy(r.key.as_deref().expect("keyed")).into_owned();
        by_logger.entry(key).or_default().push((r.partition, r.offset, value(r)));
    }
    assert_eq!(by_logger.len(), 4);
    for (logger, mut lines) in by_logger {
        let partition = lines[0].0;
        assert!(lines.iter().all(|(p, _, _)| *p == partition), "{logger} spread over partitions");
        lines.sort_by_key(|(_, offset, _)| *offset);
        for (i, (_, _, line)) in lines.iter().enumerate() {
            assert!(line.ends_with(&format!("] {logger} {i}")), "{logger} out of order at {i}: {line}");
        }
    }
}

#[test]
fn bad_configurations_name_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    let codec = write(
        "codec.yaml",
        "appenders:\n  kafka:\n    kind: kafka\n    topic: t\n    brokerList: 127.0.0.1:9\n    compressionType: brotli\n\
         root:\n  level: info\n  appenders: [kafka]\n",
    );
    let msg = gregor::appender::load_config(&codec).expect_err("codec").to_string();
    assert!(
        msg.contains("appender 'kafka'") && msg.contains("compressionType: 'brotli' must be one of none, gzip"),
        "{msg}"
    );
    let no_topic = write("topic.yaml", "appenders:\n  kafka:\n    kind: kafka\n    brokerList: 127.0.0.1:9\n");
    let msg = gregor::appender::load_config(&no_topic).expect_err("topic").to_string();
    // serde-value (through which log4rs hands the options over) words it "Missing field topic".
    assert!(msg.to_lowercase().contains("missing field") && msg.contains("topic"), "{msg}");
    let typo = write(
        "typo.yaml",
        "appenders:\n  kafka:\n    kind: kafka\n    topic: t\n    brokerList: a:1\n    synSend: true\n",
    );
    let msg = gregor::appender::load_config(&typo).expect_err("typo").to_string();
    assert!(msg.to_lowercase().contains("unknown field") && msg.contains("synSend"), "{msg}");
    let kind = write("kind.yaml", "appenders:\n  k:\n    kind: kafkaa\n");
    let msg = gregor::appender::load_config(&kind).expect_err("kind").to_string();
    assert!(msg.contains("kafkaa"), "{msg}");
    let missing = dir.path().join("none.yaml");
    let msg = gregor::appender::load_config(&missing).expect_err("missing file").to_string();
    assert!(msg.contains("none.yaml"), "{msg}");
    // The shipped configuration loads (its appender connects in the background).
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/log4rs-kafka.yaml");
    let config = gregor::appender::load_config(shipped).expect("shipped config");
    assert_eq!(config.appenders().len(), 1);
    // So does the README's example with every option.
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let example = readme
        .split("```yaml\nappenders:")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .map(|body| format!("appenders:{body}"))
        .expect("the README's appender example")
        // Nothing listens at its brokers: closing it waits at most this long.
        .replace("maxBlockMs: 60000", "maxBlockMs: 1000");
    let readme_config = write("readme.yaml", &example);
    let config = gregor::appender::load_config(&readme_config).expect("the README's appender example");
    assert_eq!(config.appenders().len(), 1);
    assert_eq!(
        AppenderConfig::new("t", "").producer_config().expect_err("no brokers").to_string(),
        "invalid Kafka appender configuration: brokerList: a Kafka appender needs brokerList (or \
         bootstrap.servers), e.g. localhost:9092"
    );
}

/// The client's own trace-level events, with a global subscriber that holds
/// our layer, neither loop back into the topic nor deadlock.
#[test]
fn the_clients_own_trace_events_do_not_recurse() {
    let b = TestBroker::start(&[]);
    let rt = runtime();
    rt.block_on(create_topic(&b.bootstrap(), "app-trace", 1));
    let (ok, out) = child(
        "appender::child_global_tracing_at_trace_level",
        &[("GREGOR_APPENDER_CHILD_BROKERS", b.bootstrap())],
        Duration::from_secs(180),
    );
    assert!(ok, "{out}");
    let records = rt.block_on(read_topic(&b.bootstrap(), "app-trace", 20));
    let lines: Vec<String> = records.iter().map(value).collect();
    assert_eq!(lines.len(), 20, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.contains(&format!("] traced {i} n={i}")), "{line}");
        assert!(!line.contains("gregor::client"), "{line}");
    }
}

#[test]
#[ignore = "run in a child process by the_clients_own_trace_events_do_not_recurse"]
fn child_global_tracing_at_trace_level() {
    use tracing_subscriber::layer::SubscriberExt;
    let Ok(brokers) = std::env::var("GREGOR_APPENDER_CHILD_BROKERS") else { return };
    let layer = KafkaLayer::builder("app-trace", brokers)
        .sync_send(true)
        .key(KeyChoice::Fixed("trace".into()))
        .max_block(Duration::from_secs(30))
        .build()
        .expect("layer");
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::set_global_default(subscriber).expect("global subscriber");
    for i in 0..20 {
        tracing::info!(n = i, "traced {i}");
    }
    assert!(handle.flush());
    let stats = handle.stats();
    assert_eq!((stats.delivered, stats.undelivered), (20, 0), "{stats:?}");
}

/// Scenario 3 of the quickstart: three brokers, my-replicated-topic with
/// replication factor 3, the console consumer (`--zookeeper`, the old
/// consumer flag) started first, then the example program with the shipped
/// configuration pointed at this cluster.
#[test]
fn tutorial_end_to_end() {
    let zk = TestZk::start();
    let connect = zk.connect("");
    let brokers: Vec<TestBroker> = (0..3)
        .map(|id| TestBroker::start(&[&format!("broker.id={id}"), &format!("zookeeper.connect={connect}")]))
        .collect();
    let out = bin_script("kafka-topics.sh")
        .args(["--create", "--zookeeper", &connect, "--replication-factor", "3", "--partitions", "1"])
        .args(["--topic", "my-replicated-topic"])
        .output()
        .expect("kafka-topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + WAIT;
    loop {
        let out = bin_script("kafka-topics.sh")
            .args(["--describe", "--zookeeper", &connect, "--topic", "my-replicated-topic"])
            .output()
            .expect("describe");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let isr = text.lines().find_map(|l| l.split('\t').find_map(|f| f.strip_prefix("Isr: ")).map(str::to_string));
        if isr.is_some_and(|isr| isr.split(',').count() == 3) {
            break;
        }
        assert!(Instant::now() < deadline, "the topic never got three in-sync replicas: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut consumer = bin_script("kafka-console-consumer.sh")
        .args(["--zookeeper", &connect, "--topic", "my-replicated-topic", "--from-beginning", "--max-messages", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("console consumer");
    let stdout = consumer.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // The shipped configuration, with this cluster's brokers.
    let shipped =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/log4rs-kafka.yaml"))
            .expect("config/log4rs-kafka.yaml");
    let list = brokers.iter().map(TestBroker::bootstrap).collect::<Vec<_>>().join(",");
    let config = shipped.replace("localhost:9092,localhost:9093,localhost:9094", &list);
    assert_ne!(config, shipped, "the shipped config names the quickstart's brokers");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log4rs-kafka.yaml");
    std::fs::write(&path, config).expect("write config");
    let args = format!("{}\n--count\n10\n--interval-ms\n200", path.display());
    let (ok, out) = child(
        "appender::child_log_appender_example",
        &[("GREGOR_APPENDER_EXAMPLE_ARGS", args)],
        Duration::from_secs(180),
    );
    assert!(ok, "{out}");
    assert!(out.contains("10 lines delivered, 0 undelivered, 0 unconfirmed"), "{out}");

    let pattern = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[INFO \] \[[^\]]+\] - \[[\w:]+\([^():]+:\d+\)\] Kafka Test \[(\d)\]$",
    )
    .expect("regex");
    let deadline = Instant::now() + WAIT;
    let mut lines = Vec::new();
    while lines.len() < 10 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = consumer.kill();
    let _ = consumer.wait();
    assert_eq!(lines.len(), 10, "{lines:#?}");
    eprintln!("{}", lines.join("\n"));
    for (i, line) in lines.iter().enumerate() {
        let caps = pattern.captures(line).unwrap_or_else(|| panic!("line {i} does not match the pattern: {line}"));
        assert_eq!(caps[1].parse::<usize>().expect("digit"), i, "{line}");
    }
}

#[test]
#[ignore = "run in a child process by tutorial_end_to_end"]
fn child_log_appender_example() {
    let Ok(args) = std::env::var("GREGOR_APPENDER_EXAMPLE_ARGS") else { return };
    let args: Vec<String> = args.lines().map(str::to_string).collect();
    log_appender_example::run(&args).expect("the example runs");
}
