//! `transactions` (kafka-transactions.sh) against a real broker: open
//! transactions written by hand on the wire (transactional batches with no
//! marker, one of them stamped two hours ago), then describe-producers shows
//! them with their start offsets, find-hanging reports the old one only,
//! abort (by start offset, and by producer id/epoch) ends them so that the
//! last stable offset advances and read_committed consumers get past them;
//! bad flags are usage errors. `list` and `describe` need the transaction
//! coordinator and a librdkafka transactional producer.

use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use rdkafka::ClientConfig;

use crate::common::txn::{consume_until, init_producer_id, list_offset, produce, topic_name};
use crate::common::wire::{producer_batch, Wire};
use crate::common::{bin_script, gregor_bin, TestBroker};
use crate::common::{ok, run_tool, stderr};

const TOPIC: &str = "hanging";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// A transactional batch whose records (and max timestamp) are at `timestamp`.
fn txn_batch_at(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]], timestamp: i64) -> bytes::Bytes {
    let mut b = producer_batch(producer_id, epoch, seq, values, true).to_vec();
    // baseTimestamp and maxTimestamp; the records' deltas are 0.
    b[27..35].copy_from_slice(&timestamp.to_be_bytes());
    b[35..43].copy_from_slice(&timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&b[gregor::protocol::batch::CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes::Bytes::from(b)
}

/// The leader of the topic's partition 0: this broker's id.
fn leader_id(w: &mut Wire) -> i32 {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(TOPIC)))]));
    let md: MetadataResponse = w.call(ApiKey::Metadata, 9, &req);
    md.topics[0].partitions[0].leader_id.0
}

/// The rows of Kafka's plain table (cells trimmed), header first.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines().map(|l| l.trim_end_matches('\t').split('\t').map(|c| c.trim().to_string()).collect()).collect()
}

fn transactions(bs: &str, args: &[&str]) -> Output {
    run_tool("transactions", bs, args)
}

#[test]
fn describe_producers_find_hanging_and_abort_release_the_lso() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    let bs = broker.bootstrap();
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let broker_id = leader_id(&mut w);
    let (old, old_epoch) = init_producer_id(&mut w);
    let (new, new_epoch) = init_producer_id(&mut w);
    // `old` opened its transaction two hours ago (by its timestamps) and
    // never ended it; `new` has just opened one.
    let two_hours_ago = now_ms() - 2 * 3_600_000;
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch_at(old, old_epoch, 0, &[b"o1", b"o2"], two_hours_ago)), (0, 0));
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(new, new_epoch, 0, &[b"n1"], true)), (0, 2));
    assert_eq!(list_offset(&mut w, TOPIC, 1), 0, "the old transaction holds the LSO");

    // describe-producers: both, with their start offsets (Kafka's columns).
    let listed = rows(&ok(transactions(&bs, &["describe-producers", "--topic", TOPIC, "--partition", "0"])));
    assert_eq!(
        listed[0],
        [
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset"
        ]
    );
    let row_of = |pid: i64| listed.iter().find(|r| r[0] == pid.to_string()).cloned().expect("producer listed");
    assert_eq!(
        row_of(old),
        [old.to_string(), old_epoch.to_string(), "-1".into(), "1".into(), two_hours_ago.to_string(), "0".into()]
    );
    assert_eq!(row_of(new)[5], "2");
    assert_eq!(listed.len(), 3);

    // The same as JSON, from the leader named explicitly.
    let json = ok(transactions(
        &bs,
        &[
            "--output",
            "json",
            "describe-producers",
            "--topic",
            TOPIC,
            "--partition",
            "0",
            "--broker-id",
            &broker_id.to_string(),
        ],
    ));
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
    let starts: Vec<(i64, i64)> = parsed
        .as_array()
        .expect("array")
        .iter()
        .map(|p| {
            (p["producer_id"].as_i64().expect("id"), p["current_transaction_start_offset"].as_i64().expect("offset"))
        })
        .collect();
    assert!(starts.contains(&(old, 0)) && starts.contains(&(new, 2)), "{starts:?}");

    // find-hanging (15 minutes by default): the old transaction only; with a
    // 0-minute timeout the new one too (its coordinator, none, knows neither).
    let hanging = rows(&ok(transactions(&bs, &["find-hanging", "--topic", TOPIC])));
    assert_eq!(
        hanging[0],
        [
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)"
        ]
    );
    assert_eq!(hanging.len(), 2, "{hanging:?}");
    assert_eq!(
        hanging[1][..6],
        [TOPIC.to_string(), "0".into(), old.to_string(), old_epoch.to_string(), "-1".into(), "0".into()]
    );
    let minutes: i64 = hanging[1][7].parse().expect("minutes");
    assert!(minutes >= 120, "{minutes}");
    let all = rows(&ok(transactions(
        &bs,
        &["find-hanging", "--broker-id", &broker_id.to_string(), "--max-transaction-timeout", "0"],
    )));
    let mut found: Vec<i64> = all[1..].iter().map(|r| r[2].parse().expect("pid")).collect();
    found.sort_unstable();
    let mut expected = vec![old, new];
    expected.sort_unstable();
    assert_eq!(found, expected, "{all:?}");

    // Abort the old one by its start offset: the LSO moves to the new one's start.
    ok(transactions(&bs, &["abort", "--topic", TOPIC, "--partition", "0", "--start-offset", "0"]));
    assert_eq!(list_offset(&mut w, TOPIC, 1), 2);
    let after = rows(&ok(transactions(&bs, &["describe-producers", "--topic", TOPIC, "--partition", "0"])));
    let old_row = after.iter().find(|r| r[0] == old.to_string()).expect("old still known");
    assert_eq!(old_row[5], "None", "its transaction ended");
    let again = transactions(&bs, &["abort", "--topic", TOPIC, "--partition", "0", "--start-offset", "0"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again)
            .contains(&format!("Could not find any open transactions starting at offset 0 on partition {TOPIC}-0")),
        "{}",
        stderr(&again)
    );
    assert_eq!(rows(&ok(transactions(&bs, &["find-hanging", "--topic", TOPIC, "--partition", "0"]))).len(), 1);

    // Abort the new one by producer id and epoch (-1: it has no marker yet),
    // through the Kafka script name.
    let out = bin_script("kafka-transactions.sh")
        .args(["--bootstrap-server", &bs, "abort", "--topic", TOPIC, "--partition", "0"])
        .args(["--producer-id", &new.to_string(), "--producer-epoch", &new_epoch.to_string()])
        .args(["--coordinator-epoch", "-1"])
        .output()
        .expect("kafka-transactions.sh");
    ok(out);
    // Two records of old, one of new, two markers: everything is stable.
    assert_eq!(list_offset(&mut w, TOPIC, 1), 5);

    // read_committed consumers get past both aborted transactions.
    let mut producer_w = Wire::connect(broker.addr);
    let (plain, plain_epoch) = init_producer_id(&mut producer_w);
    let committed = producer_batch(plain, plain_epoch, 0, &[b"after"], false);
    assert_eq!(produce(&mut producer_w, TOPIC, 0, committed), (0, 5));
    assert_eq!(consume_until(&bs, TOPIC, "read_committed", "after"), ["after"]);
}

#[test]
fn bad_flags_and_unknown_partitions_are_clear_errors() {
    // Usage errors need no broker: exit 2 with the reason.
    let usage = |args: &[&str], expected: &str| {
        let out = transactions("127.0.0.1:1", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    };
    usage(&["abort", "--topic", "t", "--partition", "0"], "must be identified either with --start-offset");
    usage(
        &["abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"],
        "--coordinator-epoch",
    );
    usage(
        &["abort", "--topic", "t", "--partition", "0", "--start-offset", "1", "--producer-id", "1"],
        "cannot be used with",
    );
    usage(&["find-hanging"], "requires either --topic or --broker-id");
    usage(&["describe-producers", "--topic", "t", "--partition", "x"], "invalid value 'x'");
    usage(&["describe-producers", "--topic", "t"], "--partition");
    usage(&["describe"], "--transactional-id");
    usage(&["bogus"], "unrecognized subcommand");
    let no_bootstrap = Command::new(gregor_bin()).args(["transactions", "list"]).output().expect("run");
    assert_eq!(no_bootstrap.status.code(), Some(2));
    assert!(stderr(&no_bootstrap).contains("--bootstrap-server"), "{}", stderr(&no_bootstrap));

    // A partition the cluster does not have: exit 1, naming it.
    let broker = TestBroker::start(&["num.partitions=1", "auto.create.topics.enable=false"]);
    let out = transactions(&broker.bootstrap(), &["describe-producers", "--topic", "nope", "--partition", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Failed to describe producers for partition nope-0 on leader"), "{}", stderr(&out));
    let missing_config = transactions(&broker.bootstrap(), &["--command-config", "/no/such/file", "list"]);
    assert_eq!(missing_config.status.code(), Some(1));
    assert!(stderr(&missing_config).contains("Failed to load admin client properties"), "{}", stderr(&missing_config));
}

#[test]
fn describe_producers_on_a_follower_and_refused_by_a_non_replica() {
    use gregor::client::{Admin, NewTopic};

    const REPL: &str = "replicated";
    let zk = crate::common::zk::TestZk::start();
    let brokers = crate::common::group_cluster(&zk);
    let bs = brokers[0].bootstrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let admin = Admin::connect(gregor::client::ClientConfig::new(bs.as_str())).await.expect("admin");
        let mut topic = NewTopic::new(REPL, 1);
        topic.assignments.insert(0, vec![0, 1]);
        admin.create_topic(topic, false).await.expect("create topic");
    });
    // Broker 0 leads (the preferred replica), broker 1 follows, broker 2 has no replica.
    let mut w = Wire::connect_when_led(brokers[0].addr, REPL);
    let (pid, epoch) = init_producer_id(&mut w);
    assert_eq!(produce(&mut w, REPL, 0, producer_batch(pid, epoch, 0, &[b"r1"], true)).0, 0);

    // The follower keeps the producer state too: it shows the open transaction.
    let on_follower = || {
        let out = transactions(&bs, &["describe-producers", "--topic", REPL, "--partition", "0", "--broker-id", "1"]);
        rows(&ok(out)).into_iter().find(|r| r[0] == pid.to_string()).map(|r| r[5].clone())
    };
    assert!(
        crate::common::zk::wait_for(Duration::from_secs(60), || on_follower().as_deref() == Some("0")),
        "follower never showed the transaction"
    );
    let hanging = rows(&ok(transactions(&bs, &["find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0"])));
    assert!(hanging.iter().any(|r| r[0] == REPL && r[2] == pid.to_string()), "{hanging:?}");

    // A broker without a replica: NOT_LEADER_OR_FOLLOWER at once, and nothing to search.
    let refused = transactions(&bs, &["describe-producers", "--topic", REPL, "--partition", "0", "--broker-id", "2"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let text = stderr(&refused);
    assert!(
        text.contains(&format!("Failed to describe producers for partition {REPL}-0 on broker 2"))
            && text.contains("NOT_LEADER_OR_FOLLOWER"),
        "{text}"
    );
    let none = rows(&ok(transactions(&bs, &["find-hanging", "--broker-id", "2", "--max-transaction-timeout", "0"])));
    assert!(none[1..].iter().all(|r| r[0] != REPL), "{none:?}");
}

/// Polls `list` until `id` is listed in `state`; returns its row.
fn listed_in_state(bs: &str, id: &str, state: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = rows(&ok(transactions(bs, &["list"])));
        assert_eq!(listed[0], ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]);
        let row = listed.iter().find(|r| r[0] == id).cloned();
        if let Some(row) = row.filter(|r| r[3] == state) {
            return row;
        }
        assert!(Instant::now() < deadline, "{id} not listed as {state}: {listed:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn list_and_describe_show_an_open_librdkafka_transaction() {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

    const ID: &str = "tool-txn";
    let broker = TestBroker::start(&["num.partitions=1", "offsets.topic.replication.factor=1"]);
    let bs = broker.bootstrap();
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let broker_id = leader_id(&mut w).to_string();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("transactional.id", ID)
        .set("transaction.timeout.ms", "300000")
        .create()
        .expect("producer");
    producer.init_transactions(Duration::from_secs(60)).expect("init_transactions");
    producer.begin_transaction().expect("begin_transaction");
    producer.send(BaseRecord::<(), _>::to(TOPIC).partition(0).payload("open")).map_err(|(e, _)| e).expect("send");
    producer.flush(Duration::from_secs(60)).expect("flush");

    // list: the open transaction at its coordinator (this broker).
    let row = listed_in_state(&bs, ID, "Ongoing");
    assert_eq!(row[1], broker_id);
    let producer_id = row[2].clone();

    // Filters: a duration longer than the transaction has run, other states
    // and other producer ids leave it out; a state Kafka does not know filters nothing.
    let long = rows(&ok(transactions(&bs, &["list", "--duration-filter", "3600000"])));
    assert!(long.iter().all(|r| r[0] != ID), "{long:?}");
    let listed_with = |options: gregor::client::ListTransactionsOptions| -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let admin =
                gregor::client::Admin::connect(gregor::client::ClientConfig::new(bs.as_str())).await.expect("admin");
            admin.list_transactions(&options).await.expect("list").into_iter().map(|l| l.transactional_id).collect()
        })
    };
    let pid: i64 = producer_id.parse().expect("producer id");
    let states = |s: &[&str]| gregor::client::ListTransactionsOptions {
        states: s.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(listed_with(states(&["Ongoing"])), [ID]);
    assert!(listed_with(states(&["CompleteCommit"])).is_empty());
    assert_eq!(listed_with(states(&["NoSuchState"])), [ID]);
    let producers = |p: i64| gregor::client::ListTransactionsOptions { producer_ids: vec![p], ..Default::default() };
    assert_eq!(listed_with(producers(pid)), [ID]);
    assert!(listed_with(producers(pid + 1000)).is_empty());

    // describe: Kafka's columns, the partition it writes to.
    let described = rows(&ok(transactions(&bs, &["describe", "--transactional-id", ID])));
    assert_eq!(
        described[0],
        [
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions"
        ]
    );
    let d = &described[1];
    assert_eq!(
        (&d[0], &d[1], &d[2], &d[4], &d[5]),
        (&broker_id, &ID.to_string(), &producer_id, &"Ongoing".to_string(), &"300000".to_string())
    );
    assert!(d[6].parse::<i64>().is_ok_and(|t| t > 0) && d[7].parse::<i64>().is_ok_and(|t| t >= 0), "{d:?}");
    assert_eq!(d[8], format!("{TOPIC}-0"));

    // describe-producers shows its open transaction; find-hanging does not
    // report it, even with no timeout: its coordinator will end it.
    let producers = rows(&ok(transactions(&bs, &["describe-producers", "--topic", TOPIC, "--partition", "0"])));
    let p = producers.iter().find(|r| r[0] == producer_id).expect("producer listed");
    assert_eq!(p[5], "0");
    let hanging = rows(&ok(transactions(&bs, &["find-hanging", "--topic", TOPIC, "--max-transaction-timeout", "0"])));
    assert_eq!(hanging.len(), 1, "nothing hanging: {hanging:?}");

    // An id nobody uses: exit 1, in Kafka's words.
    let unknown = transactions(&bs, &["describe", "--transactional-id", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("Failed to describe transaction state of transactional-id `nobody`"),
        "{}",
        stderr(&unknown)
    );

    // Committed: the coordinator completes it and the partition has no open transaction.
    producer.commit_transaction(Duration::from_secs(60)).expect("commit_transaction");
    listed_in_state(&bs, ID, "CompleteCommit");
    let json = ok(transactions(&bs, &["--output", "json", "describe", "--transactional-id", ID]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["state"], "CompleteCommit");
    assert_eq!(consume_until(&bs, TOPIC, "read_committed", "open"), ["open"]);
}
