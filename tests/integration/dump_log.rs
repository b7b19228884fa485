//! `kafka-dump-log.sh` on files a real broker wrote: the batches and records
//! of a segment match what was produced, `--print-data-log` shows the values,
//! the offset and time indexes pass the broker's sanity check and agree with
//! the log; a truncated copy ends with Kafka's "invalid bytes" line and a
//! corrupted copy stops with the position named — never a panic.

use std::path::{Path, PathBuf};

use gregor::client::{Admin, ClientConfig, NewTopic, Producer, ProducerConfig, ProducerRecord};

use crate::common::{bin_script, ok, stderr, stdout, TestBroker};

const RECORDS: usize = 40;

fn dump(files: &[&Path], extra: &[&str]) -> std::process::Output {
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    bin_script("kafka-dump-log.sh").args(["--files", &list.join(",")]).args(extra).output().expect("run dump-log")
}

fn segment_file(dir: &Path, ext: &str) -> PathBuf {
    dir.join(format!("00000000000000000000.{ext}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn dump_log_reads_a_brokers_segment_indexes_and_damaged_copies() {
    let mut b = TestBroker::start(&[]);
    let bs = b.bootstrap();
    let admin = Admin::connect(ClientConfig::new(&bs)).await.expect("admin");
    // A small index interval so that the offset and time indexes get entries.
    let topic = NewTopic::new("dump", 1).config("index.interval.bytes", "100");
    admin.create_topic(topic, false).await.expect("create");
    let producer = Producer::new(ProducerConfig::new(&bs)).await.expect("producer");
    for i in 0..RECORDS {
        let mut record = ProducerRecord::new("dump", format!("value-{i}"));
        record.key = Some(format!("key-{i}").into());
        record.partition = Some(0);
        producer.send(record).await.expect("send").await.expect("delivered");
    }
    drop(producer);
    // A clean shutdown seals the time index with its last entry.
    assert_eq!(b.terminate(), Some(0));
    let dir = b.log_dir().join("dump-0");
    let log = segment_file(&dir, "log");

    let text = ok(dump(&[&log], &["--print-data-log"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("Dumping {}", log.display()));
    assert_eq!(lines[1], "Log starting offset: 0");
    let batches: Vec<&&str> = lines.iter().filter(|l| l.starts_with("baseOffset: ")).collect();
    assert_eq!(batches.len(), RECORDS, "one batch per acknowledged send: {text}");
    assert!(batches.iter().all(|l| l.contains(" magic: 2 compresscodec: none crc: ") && l.ends_with(" isvalid: true")));
    assert!(batches[0].starts_with("baseOffset: 0 lastOffset: 0 count: 1 "), "{}", batches[0]);
    let records: Vec<&&str> = lines.iter().filter(|l| l.starts_with("| offset: ")).collect();
    assert_eq!(records.len(), RECORDS);
    for (i, line) in records.iter().enumerate() {
        assert!(line.starts_with(&format!("| offset: {i} CreateTime: ")), "{line}");
        assert!(line.ends_with(&format!(" key: key-{i} payload: value-{i}")), "{line}");
    }
    assert!(!text.contains("invalid bytes"), "{text}");

    // Indexes: the broker's sanity check, then every entry against the log.
    let index = segment_file(&dir, "index");
    let timeindex = segment_file(&dir, "timeindex");
    let text = ok(dump(&[&index, &timeindex], &["--index-sanity-check"]));
    assert!(text.contains(&format!("{} passed sanity check.", index.display())), "{text}");
    assert!(text.contains(&format!("{} passed sanity check.", timeindex.display())), "{text}");
    let out = dump(&[&index, &timeindex], &[]);
    let text = ok(out.clone());
    assert!(text.lines().filter(|l| l.starts_with("offset: ")).count() > 1, "the index has entries: {text}");
    assert!(text.lines().any(|l| l.starts_with("timestamp: ")), "{text}");
    assert_eq!(stderr(&out), "", "no mismatches");

    // Kafka 0.10-style launch through kafka-run-class.sh.
    let out = bin_script("kafka-run-class.sh")
        .args(["kafka.tools.DumpLogSegments", "--files"])
        .arg(&log)
        .output()
        .expect("run");
    assert!(stdout(&out).contains("baseOffset: 0 lastOffset: 0"), "{out:?}");

    // A truncated copy: Kafka's trailing-bytes line, exit 0.
    let tmp = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(&log).expect("read segment");
    let copy = segment_file(tmp.path(), "log");
    std::fs::write(&copy, &bytes[..bytes.len() - 10]).expect("write");
    let text = ok(dump(&[&copy], &[]));
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Found ") && last.ends_with(" invalid bytes at the end of 00000000000000000000.log"),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("baseOffset: ")).count(), RECORDS - 1);

    // A corrupted copy: the second batch's length zeroed stops the walk there.
    let first_size = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize + 12;
    let mut damaged = bytes.clone();
    damaged[first_size + 8..first_size + 12].copy_from_slice(&[0, 0, 0, 0]);
    std::fs::write(&copy, &damaged).expect("write");
    let out = dump(&[&copy], &["--deep-iteration"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout(&out).lines().filter(|l| l.starts_with("baseOffset: ")).count(), 1);
    assert!(
        stderr(&out).contains(&format!(
            "Error: Found record size 0 smaller than minimum record overhead (14) in file {} at position {first_size}.",
            copy.display()
        )),
        "{}",
        stderr(&out)
    );
    // A payload byte flipped: the CRC no longer matches, the walk goes on.
    let mut flipped = bytes.clone();
    flipped[first_size - 1] ^= 0xff;
    std::fs::write(&copy, &flipped).expect("write");
    let text = ok(dump(&[&copy], &[]));
    let batch_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("baseOffset: ")).collect();
    assert!(batch_lines[0].ends_with("isvalid: false"), "{}", batch_lines[0]);
    assert!(batch_lines[1].ends_with("isvalid: true"), "{}", batch_lines[1]);
    assert_eq!(batch_lines.len(), RECORDS);
}
