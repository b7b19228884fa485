//! The data side of the operator toolbox against real brokers:
//! `kafka-delete-records.sh` (DeleteRecords) on a three-broker cluster with
//! replication factor 3 — the low watermark it reports, consumers starting
//! there, followers adopting the start so that a new leader keeps it after a
//! failover, errors past the high watermark, librdkafka's `delete_records` —
//! the log start surviving a hard restart (`log-start-offset-checkpoint`),
//! `kafka-get-offsets.sh` / `kafka-run-class.sh kafka.tools.GetOffsetShell`,
//! and `kafka-broker-api-versions.sh`.

use std::time::{Duration, Instant};

use gregor::client::{
    Acks, Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord,
};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::zk::{wait_for, TestZk};
use crate::common::{bin_script, bootstrap_of, ok, stdout, three_brokers, TestBroker};

const WAIT: Duration = Duration::from_secs(60);

async fn admin(bs: &str) -> Admin {
    Admin::connect(ClientConfig::new(bs)).await.expect("admin connects")
}

/// Sends `count` records to partition 0 one at a time (one batch each), acks=all.
async fn produce(bs: &str, topic: &str, count: usize) {
    let mut c = ProducerConfig::new(bs);
    c.acks = Acks::All;
    let p = Producer::new(c).await.expect("producer");
    for i in 0..count {
        let mut record = ProducerRecord::new(topic, format!("value-{i}"));
        record.partition = Some(0);
        let d = p.send(record).await.expect("send");
        d.await.expect("delivered");
    }
}

/// The offset of the first record a fresh consumer reads from the earliest position.
async fn first_consumed_offset(bs: &str, topic: &str) -> Option<i64> {
    let mut c = ConsumerConfig::new(bs);
    c.set("auto.offset.reset", "earliest").expect("property");
    c.set("fetch.max.wait.ms", "100").expect("property");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    consumer.assign(vec![(topic.to_string(), 0)]).await.expect("assign");
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(500)).await.expect("poll");
        if let Some(r) = records.first() {
            return Some(r.offset);
        }
    }
    None
}

fn offset_file(dir: &std::path::Path, topic: &str, offset: i64) -> std::path::PathBuf {
    let path = dir.join(format!("offsets-{offset}.json"));
    let json = format!(r#"{{"partitions":[{{"topic":"{topic}","partition":0,"offset":{offset}}}],"version":1}}"#);
    std::fs::write(&path, json).expect("write offset file");
    path
}

fn delete_records(bs: &str, file: &std::path::Path) -> std::process::Output {
    bin_script("kafka-delete-records.sh")
        .args(["--bootstrap-server", bs, "--offset-json-file"])
        .arg(file)
        .output()
        .expect("run kafka-delete-records.sh")
}

fn get_offsets(bs: &str, args: &[&str]) -> String {
    ok(bin_script("kafka-get-offsets.sh").args(["--bootstrap-server", bs]).args(args).output().expect("run"))
}

/// The segment base offsets in a broker's partition directory.
fn segment_bases(b: &TestBroker, dir_name: &str) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(b.log_dir().join(dir_name))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    bases.sort();
    bases
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_records_moves_the_start_on_every_replica_and_survives_failover() {
    let zk = TestZk::start();
    let mut brokers = three_brokers(&zk, &[]);
    let bs = bootstrap_of(&brokers);
    let a = admin(&bs).await;
    let mut topic = NewTopic::new("dr", 1).config("segment.bytes", "1024");
    topic.replication_factor = 3;
    a.create_topic(topic, false).await.expect("create");
    produce(&bs, "dr", 100).await;
    let tmp = tempfile::tempdir().expect("tempdir");

    let out = delete_records(&bs, &offset_file(tmp.path(), "dr", 40));
    let text = ok(out);
    assert_eq!(
        text,
        "Executing records delete operation\nRecords delete operation completed:\npartition: dr-0\tlow_watermark: 40\n"
    );
    assert_eq!(first_consumed_offset(&bs, "dr").await, Some(40), "consumers start at the new log start");
    assert_eq!(get_offsets(&bs, &["--topic", "dr", "--time", "-2"]), "dr:0:40\n");
    assert_eq!(get_offsets(&bs, &["--topic", "dr", "--time", "-1"]), "dr:0:100\n");

    // Whole segments below the start are gone on every replica (the answer
    // waited for the followers' low watermark).
    for b in &brokers {
        let bases = segment_bases(b, "dr-0");
        assert!(bases.first().is_some_and(|first| *first > 0 && *first <= 40), "segments left: {bases:?}");
    }

    // Past the high watermark: Kafka's error line, exit 0 as Kafka's tool.
    let out = delete_records(&bs, &offset_file(tmp.path(), "dr", 1000));
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("partition: dr-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException"),
        "{}",
        stdout(&out)
    );

    // Kill the leader: the new leader keeps the start.
    let leader =
        a.describe_topics(Some(&["dr".to_string()])).await.expect("describe")[0].partitions[0].leader.expect("leader");
    brokers[leader as usize].kill();
    let rest = bootstrap_of(&brokers);
    let moved = wait_for(WAIT, || {
        let out = bin_script("kafka-get-offsets.sh")
            .args(["--bootstrap-server", &rest, "--topic", "dr", "--time", "-2"])
            .output()
            .expect("run");
        out.status.success() && stdout(&out) == "dr:0:40\n"
    });
    assert!(moved, "the new leader answers earliest = 40");

    // librdkafka's AdminClient::delete_records against the new leader.
    let client: AdminClient<DefaultClientContext> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &rest).create().expect("rdkafka admin");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("dr", 0, Offset::Offset(60)).expect("tpl");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let result = client.delete_records(&tpl, &opts).await.expect("delete_records");
    let elem = result.find_partition("dr", 0).expect("partition in result");
    assert!(elem.error().is_ok(), "{:?}", elem.error());
    assert_eq!(elem.offset(), Offset::Offset(60));
    assert_eq!(get_offsets(&rest, &["--topic", "dr", "--time", "-2"]), "dr:0:60\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_start_survives_a_hard_restart_and_get_offsets_answers_every_form() {
    let mut b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let a = admin(&bs).await;
    a.create_topic(NewTopic::new("go", 2), false).await.expect("create");
    produce(&bs, "go", 10).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // Offset 3 lies inside the only segment: only the checkpoint keeps it.
    ok(delete_records(&bs, &offset_file(tmp.path(), "go", 3)));
    b.restart();
    // An unknown topic is reported per partition at once, exit 0 as Kafka's tool.
    let text = ok(delete_records(&bs, &offset_file(tmp.path(), "nope", 1)));
    assert!(
        text.contains("partition: nope-0\terror: org.apache.kafka.common.errors.UnknownTopicOrPartitionException"),
        "{text}"
    );

    let wanted = "go:0:3\ngo:1:0\n".to_string();
    let got = (0..60)
        .map(|_| {
            let out = bin_script("kafka-get-offsets.sh")
                .args(["--bootstrap-server", &bs, "--topic", "go", "--time", "-2"])
                .output()
                .expect("run");
            std::thread::sleep(Duration::from_millis(250));
            stdout(&out)
        })
        .find(|s| s == &wanted);
    assert_eq!(got.as_deref(), Some(wanted.as_str()), "the log start survived a SIGKILL restart");

    assert_eq!(get_offsets(&bs, &["--topic", "go", "--time", "latest"]), "go:0:10\ngo:1:0\n");
    assert_eq!(get_offsets(&bs, &["--topic-partitions", "go:1"]), "go:1:0\n");
    assert_eq!(get_offsets(&bs, &["--topic", "g.", "--partitions", "0"]), "go:0:10\n");
    // Kafka 0.10's form through the launcher.
    let out = ok(bin_script("kafka-run-class.sh")
        .args(["kafka.tools.GetOffsetShell", "--broker-list", &bs, "--topic", "go", "--time", "-1"])
        .output()
        .expect("run"));
    assert_eq!(out, "go:0:10\ngo:1:0\n");
    // A timestamp after every record matches none: Kafka leaves the partitions out.
    assert_eq!(get_offsets(&bs, &["--topic", "go", "--time", "99999999999999"]), "");

    // kafka-broker-api-versions.sh lists what the broker advertises.
    let text = ok(bin_script("kafka-broker-api-versions.sh").args(["--bootstrap-server", &bs]).output().expect("run"));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(format!("{bs} (id: 0 rack: null) -> (").as_str()));
    assert_eq!(lines.next(), Some("\tProduce(0): 0 to 9 [usable: 9],"));
    assert!(text.contains("\n\tDeleteRecords(21): 0 to 2 [usable: 2],\n"), "{text}");
    assert!(text.contains("\n\tApiVersions(18): 0 to 3 [usable: 3],\n"), "{text}");
    assert!(text.ends_with("\n)\n"), "{text}");

    // Usage and runtime errors.
    let out = bin_script("kafka-get-offsets.sh")
        .args(["--bootstrap-server", &bs, "--topic-partitions", "go:0", "--topic", "go"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out =
        bin_script("kafka-get-offsets.sh").args(["--bootstrap-server", &bs, "--topic", "nope"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::common::stderr(&out).contains("Could not match any topic-partitions with the specified filters"),
        "{out:?}"
    );
}

/// Every record of partition 0 of `topic`, read from the start.
async fn values_of_partition0(bs: &str, topic: &str, count: usize) -> Vec<String> {
    let mut c = ConsumerConfig::new(bs);
    c.set("auto.offset.reset", "earliest").expect("property");
    c.set("fetch.max.wait.ms", "100").expect("property");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    consumer.assign(vec![(topic.to_string(), 0)]).await.expect("assign");
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            out.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// The JSON document of `kafka-log-dirs.sh --describe` (after its two status lines).
fn describe_log_dirs(bs: &str, extra: &[&str]) -> serde_json::Value {
    let text = ok(bin_script("kafka-log-dirs.sh")
        .args(["--bootstrap-server", bs, "--describe"])
        .args(extra)
        .output()
        .expect("run kafka-log-dirs.sh"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "Querying brokers for log directories information");
    assert_eq!(lines[1], "Received log directory information from brokers 0");
    serde_json::from_str(lines[2]).expect("JSON document")
}

/// The log dir holding `partition` per the document.
fn dir_holding(doc: &serde_json::Value, partition: &str) -> Option<String> {
    doc["brokers"][0]["logDirs"].as_array()?.iter().find_map(|d| {
        let held = d["partitions"].as_array()?.iter().any(|p| p["partition"] == partition);
        held.then(|| d["logDir"].as_str().map(String::from)).flatten()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn log_dirs_are_described_and_a_replica_moves_between_them() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let d0 = dirs.path().join("d0");
    let d1 = dirs.path().join("d1");
    let log_dirs = format!("log.dirs={},{}", d0.display(), d1.display());
    let mut b = TestBroker::start(&[&log_dirs]);
    let bs = b.bootstrap();
    let a = admin(&bs).await;
    a.create_topic(NewTopic::new("ld", 2), false).await.expect("create");
    a.create_topic(NewTopic::new("other", 1), false).await.expect("create");
    produce(&bs, "ld", 10).await;

    let doc = describe_log_dirs(&bs, &["--topic-list", "ld"]);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["brokers"][0]["broker"], 0);
    let dirs_doc = doc["brokers"][0]["logDirs"].as_array().expect("logDirs");
    assert_eq!(dirs_doc.len(), 2, "{doc}");
    assert!(dirs_doc.iter().all(|d| d["error"].is_null()), "{doc}");
    let listed: Vec<&str> = dirs_doc
        .iter()
        .flat_map(|d| d["partitions"].as_array().into_iter().flatten())
        .filter_map(|p| p["partition"].as_str())
        .collect();
    assert!(!listed.contains(&"other-0"), "--topic-list filters: {doc}");
    let from = dir_holding(&doc, "ld-0").expect("ld-0 is in a log dir");
    let size = dirs_doc
        .iter()
        .flat_map(|d| d["partitions"].as_array().into_iter().flatten())
        .find(|p| p["partition"] == "ld-0")
        .and_then(|p| p["size"].as_i64());
    assert!(size.is_some_and(|s| s > 0), "{doc}");
    let to = if from == d0.display().to_string() { d1.clone() } else { d0.clone() };

    // AlterReplicaLogDirs: an unknown dir is refused, a configured one takes the replica.
    let moved = a
        .alter_replica_log_dirs(0, &[("ld".to_string(), 0, "/no/such/dir".to_string())])
        .await
        .expect("alter replica log dirs");
    assert_eq!(moved[0].1.as_ref().and_then(|e| e.code()), Some(gregor::client::ResponseError::LogDirNotFound));
    let moved = a
        .alter_replica_log_dirs(0, &[("ld".to_string(), 0, to.display().to_string())])
        .await
        .expect("alter replica log dirs");
    assert!(moved[0].1.is_none(), "{moved:?}");
    assert!(to.join("ld-0").join("00000000000000000000.log").exists(), "the files moved");
    assert!(!std::path::Path::new(&from).join("ld-0").exists(), "the old copy is gone");
    let doc = describe_log_dirs(&bs, &[]);
    assert_eq!(dir_holding(&doc, "ld-0"), Some(to.display().to_string()));
    let expected: Vec<String> = (0..10).map(|i| format!("value-{i}")).collect();
    assert_eq!(values_of_partition0(&bs, "ld", 10).await, expected);

    // Still writable, and in the new dir after a hard restart.
    produce(&bs, "ld", 2).await;
    b.restart();
    let bs = b.bootstrap();
    let doc = describe_log_dirs(&bs, &[]);
    assert_eq!(dir_holding(&doc, "ld-0"), Some(to.display().to_string()));
    let mut expected = expected;
    expected.extend(["value-0".to_string(), "value-1".to_string()]);
    assert_eq!(values_of_partition0(&bs, "ld", 12).await, expected);

    // A log dir that disappears is reported as failed, with no replicas.
    std::fs::remove_dir_all(&from).expect("remove a log dir");
    let doc = describe_log_dirs(&bs, &[]);
    let failed = doc["brokers"][0]["logDirs"]
        .as_array()
        .and_then(|dirs| dirs.iter().find(|d| d["logDir"] == from.as_str()))
        .cloned()
        .expect("the removed dir is still listed");
    assert_eq!(failed["error"], "org.apache.kafka.common.errors.KafkaStorageException", "{doc}");
    assert_eq!(failed["partitions"], serde_json::json!([]), "{doc}");
}
