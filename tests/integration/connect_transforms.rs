//! Connect's single message transforms and error handling, through a real
//! `gregor connect-standalone` and a real broker: a source routed by
//! `RegexRouter`, a sink whose records get fields inserted and removed, and
//! `errors.tolerance=all` with a dead letter queue that receives the bad
//! record's original bytes and Kafka's `__connect.errors.*` headers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gregor::client::{Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, ProducerRecord};

use crate::common::{bin_script, stderr, ChildGuard, TestBroker};

const WAIT: Duration = Duration::from_secs(60);

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

/// A worker config in `dir`: this broker, a free REST port, string keys,
/// short offset flushes, and `value_converter` (its properties).
fn worker_config(dir: &Path, bootstrap: &str, value_converter: &str) -> PathBuf {
    let path = dir.join("worker.properties");
    write(
        &path,
        &format!(
            "bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:0\noffset.storage.file.filename={}\n\
             offset.flush.interval.ms=500\nkey.converter=org.apache.kafka.connect.storage.StringConverter\n\
             {value_converter}",
            dir.join("offsets").display()
        ),
    );
    path
}

fn start(dir: &Path, worker: &Path, connectors: &[&Path]) -> ChildGuard {
    let log = std::fs::File::create(dir.join("worker.log")).expect("log");
    let mut cmd = bin_script("connect-standalone.sh");
    cmd.arg(worker).args(connectors).current_dir(dir).stdout(Stdio::null()).stderr(log);
    ChildGuard(Some(cmd.spawn().expect("start the worker")))
}

fn wait_for_file(path: &Path, lines: usize, log: &Path) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= lines {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {got:?}, want {lines} lines; worker log:\n{}",
            path.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn read(bootstrap: &str, topic: &str, count: usize) -> Vec<ConsumerRecord> {
    let mut c = ConsumerConfig::new(bootstrap.to_string());
    c.set("group.id", &format!("check-{topic}")).expect("property");
    c.set("auto.offset.reset", "earliest").expect("property");
    c.set("fetch.max.wait.ms", "100").expect("property");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    consumer.subscribe(vec![topic.to_string()]).await.expect("subscribe");
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    let _ = consumer.close().await;
    out
}

fn header<'a>(r: &'a ConsumerRecord, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref()).and_then(|v| std::str::from_utf8(v).ok())
}

#[test]
fn transforms_reshape_records_and_bad_records_go_to_the_dead_letter_queue() {
    let b = TestBroker::start(&[]);
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let worker = worker_config(
        d,
        &b.bootstrap(),
        "value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\n",
    );
    // Source: lines of a file into topic `lines-raw`, routed to `lines`.
    std::fs::write(d.join("in.txt"), "").expect("input");
    let source = d.join("source.properties");
    write(
        &source,
        "name=routed-source\nconnector.class=FileStreamSource\nfile=in.txt\ntopic=lines-raw\n\
         value.converter=org.apache.kafka.connect.storage.StringConverter\n\
         transforms=route\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
         transforms.route.regex=(.*)-raw\ntransforms.route.replacement=$1\n",
    );
    // Sink: JSON objects from `orders` into a file, each with its topic added and `secret` removed;
    // what is not JSON goes to `orders-dlq`.
    let sink = d.join("sink.properties");
    write(
        &sink,
        "name=orders-sink\nconnector.class=FileStreamSink\nfile=orders.txt\ntopics=orders\n\
         transforms=addTopic,dropSecret\n\
         transforms.addTopic.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.addTopic.topic.field=from\n\
         transforms.dropSecret.type=org.apache.kafka.connect.transforms.ReplaceField$Value\n\
         transforms.dropSecret.exclude=secret\n\
         errors.tolerance=all\nerrors.log.enable=true\n\
         errors.deadletterqueue.topic.name=orders-dlq\nerrors.deadletterqueue.topic.replication.factor=1\n\
         errors.deadletterqueue.context.headers.enable=true\n",
    );
    let mut w = start(d, &worker, &[&source, &sink]);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut pc = ProducerConfig::new(b.bootstrap());
        pc.set("acks", "all").expect("acks");
        let p = Producer::new(pc).await.expect("producer");
        for value in [r#"{"id":1,"secret":"a"}"#, "this is not json", r#"{"id":2,"secret":"b"}"#] {
            let record = ProducerRecord {
                topic: "orders".into(),
                partition: Some(0),
                key: Some("k".into()),
                value: Some(value.to_string().into()),
                headers: vec![("origin".into(), Some("test".into()))],
                timestamp: None,
            };
            p.send(record).await.expect("send").await.expect("acked");
        }
        p.close().await.expect("close");
    });
    std::fs::write(d.join("in.txt"), "first\nsecond\n").expect("append");

    // The good orders reach the file reshaped; the bad one did not stop the task.
    let lines = wait_for_file(&d.join("orders.txt"), 2, &d.join("worker.log"));
    assert_eq!(lines, ["{id=1, from=orders}", "{id=2, from=orders}"]);

    rt.block_on(async {
        let dlq = read(&b.bootstrap(), "orders-dlq", 1).await;
        assert_eq!(dlq.len(), 1, "one record in the dead letter queue: {dlq:?}");
        let r = &dlq[0];
        assert_eq!(r.value.as_deref(), Some(&b"this is not json"[..]), "the original bytes");
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(header(r, "origin"), Some("test"), "the original headers are kept");
        assert_eq!(header(r, "__connect.errors.topic"), Some("orders"));
        assert_eq!(header(r, "__connect.errors.partition"), Some("0"));
        assert_eq!(header(r, "__connect.errors.offset"), Some("1"));
        assert_eq!(header(r, "__connect.errors.connector.name"), Some("orders-sink"));
        assert_eq!(header(r, "__connect.errors.stage"), Some("VALUE_CONVERTER"));
        assert_eq!(header(r, "__connect.errors.class.name"), Some("org.apache.kafka.connect.json.JsonConverter"));

        // The source's lines went to the routed topic.
        let routed = read(&b.bootstrap(), "lines", 2).await;
        let values: Vec<_> = routed.iter().map(|r| r.value.clone().unwrap_or_default()).collect();
        assert_eq!(values, [&b"first"[..], &b"second"[..]]);
    });
    assert_eq!(w.terminate(WAIT), Some(0));
    let log = std::fs::read_to_string(d.join("worker.log")).unwrap_or_default();
    assert!(log.contains("Executing stage 'VALUE_CONVERTER'"), "errors.log.enable logs the skipped record:\n{log}");
}

#[test]
fn without_error_tolerance_a_bad_record_fails_the_task_and_bad_transform_configs_are_refused() {
    let b = TestBroker::start(&[]);
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let worker = worker_config(d, &b.bootstrap(), "value.converter=org.apache.kafka.connect.storage.StringConverter\n");
    let bad = d.join("bad.properties");
    write(
        &bad,
        "name=bad\nconnector.class=FileStreamSink\nfile=out.txt\ntopics=t\ntransforms=x\n\
         transforms.x.type=org.apache.kafka.connect.transforms.ExtractField$Value\n",
    );
    let out = bin_script("connect-standalone.sh").arg(&worker).arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("transforms.x.field"), "{}", stderr(&out));
    write(&bad, "name=bad\nconnector.class=FileStreamSink\nfile=out.txt\ntopics=t\nerrors.tolerance=sometimes\n");
    let out = bin_script("connect-standalone.sh").arg(&worker).arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("errors.tolerance"), "{}", stderr(&out));
    write(
        &bad,
        "name=bad\nconnector.class=FileStreamSink\nfile=out.txt\ntopics=t\nerrors.deadletterqueue.topic.name=t\n",
    );
    let out = bin_script("connect-standalone.sh").arg(&worker).arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("errors.deadletterqueue.topic.name"), "{}", stderr(&out));

    // A string value cannot take an inserted field: with the default tolerance the task fails.
    let sink = d.join("sink.properties");
    write(
        &sink,
        "name=strict\nconnector.class=FileStreamSink\nfile=out.txt\ntopics=plain\ntransforms=add\n\
         transforms.add.type=org.apache.kafka.connect.transforms.InsertField$Value\ntransforms.add.topic.field=t\n",
    );
    let mut w = start(d, &worker, &[&sink]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let p = Producer::new(ProducerConfig::new(b.bootstrap())).await.expect("producer");
        p.send(ProducerRecord::new("plain", "just text")).await.expect("send").await.expect("acked");
        p.close().await.expect("close");
    });
    let log = d.join("worker.log");
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Only Struct objects supported for [field insertion], found: String") {
            break;
        }
        assert!(Instant::now() < deadline, "the task should fail naming the transform's rule:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::fs::read_to_string(d.join("out.txt")).unwrap_or_default().is_empty(), "nothing was written");
    w.terminate(WAIT);
}
