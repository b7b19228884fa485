//! Transactions through our client library (`gregor::client`): the
//! consumer's `isolation.level` over a log whose transactions were written by
//! hand on the wire (as `transactions_partition.rs` does, no transaction
//! coordinator needed), `console-consumer --isolation-level`, and the
//! transactional producer against the broker's transaction coordinator.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, ClientError, Consumer, ConsumerConfig, ConsumerGroupMetadata, IsolationLevel, NewTopic,
    Producer, ProducerConfig, ProducerRecord, ResponseError, SeekTo,
};

use crate::common::txn::{init_producer_id, produce, write_marker, WAIT};
use crate::common::wire::{producer_batch, Wire};
use crate::common::{gregor_bin, TestBroker};

const TOPIC: &str = "txn-client";

/// The log every consumer test reads, offsets in brackets:
/// a1 a2 [0-1] (a, committed), b1 [2] (b, aborted), a3 [3], COMMIT a [4],
/// ABORT b [5], c1 [6] (no transaction), a4 [7] + COMMIT a [8], b2 [9] (b,
/// left open: the last stable offset stays at 9, the high watermark is 10).
fn write_log(broker: &TestBroker) {
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let (a, a_epoch) = init_producer_id(&mut w);
    let (b, b_epoch) = init_producer_id(&mut w);
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(a, a_epoch, 0, &[b"a1", b"a2"], true)), (0, 0));
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(b, b_epoch, 0, &[b"b1"], true)), (0, 2));
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(a, a_epoch, 2, &[b"a3"], true)), (0, 3));
    assert_eq!(write_marker(&mut w, TOPIC, 0, (a, a_epoch), true), 0, "marker");
    assert_eq!(write_marker(&mut w, TOPIC, 0, (b, b_epoch), false), 0, "marker");
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(-1, -1, -1, &[b"c1"], false)), (0, 6));
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(a, a_epoch, 3, &[b"a4"], true)), (0, 7));
    assert_eq!(write_marker(&mut w, TOPIC, 0, (a, a_epoch), true), 0, "marker");
    assert_eq!(produce(&mut w, TOPIC, 0, producer_batch(b, b_epoch, 1, &[b"b2"], true)), (0, 9));
}

/// (offset, value) of everything our consumer returns from the beginning of
/// `TOPIC`-0 in `isolation` until its position reaches `end`; also the lag
/// it reports there and where `SeekTo::End` puts it.
async fn read_all(broker: &TestBroker, isolation: &str, end: i64) -> (Vec<(i64, String)>, Option<i64>, i64) {
    let mut config = ConsumerConfig::new(broker.bootstrap());
    config.set("isolation.level", isolation).expect("isolation.level");
    config.set("fetch.max.wait.ms", "100").expect("fetch.max.wait.ms");
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.assign(vec![(TOPIC.to_string(), 0)]).await.expect("assign");
    consumer.seek(TOPIC, 0, SeekTo::Beginning).await.expect("seek");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumer.position(TOPIC, 0) != Some(end) {
        assert!(Instant::now() < deadline, "{isolation}: position {:?}, got {seen:?}", consumer.position(TOPIC, 0));
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            seen.push((r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
        }
    }
    // A little longer: nothing past the end turns up (in read_committed, b2 stays hidden).
    for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
        seen.push((r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
    }
    let lag = consumer.current_lag(TOPIC, 0);
    consumer.seek(TOPIC, 0, SeekTo::End).await.expect("seek to end");
    let latest = consumer.position(TOPIC, 0).expect("position");
    consumer.close().await.expect("close");
    (seen, lag, latest)
}

fn pairs(list: &[(i64, &str)]) -> Vec<(i64, String)> {
    list.iter().map(|(o, v)| (*o, v.to_string())).collect()
}

#[test]
fn consumer_isolation_levels_over_hand_written_transactions() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    write_log(&broker);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // read_committed: a's records once each, b's aborted b1 and open b2 hidden,
        // no control record; the position stops at the last stable offset.
        let (seen, lag, latest) = read_all(&broker, "read_committed", 9).await;
        assert_eq!(seen, pairs(&[(0, "a1"), (1, "a2"), (3, "a3"), (6, "c1"), (7, "a4")]));
        assert_eq!(lag, Some(0), "lag is measured to the LSO");
        assert_eq!(latest, 9, "the end in read_committed is the LSO");

        // read_uncommitted: every data record, still no control record.
        let (seen, lag, latest) = read_all(&broker, "read_uncommitted", 10).await;
        assert_eq!(seen, pairs(&[(0, "a1"), (1, "a2"), (2, "b1"), (3, "a3"), (6, "c1"), (7, "a4"), (9, "b2")]));
        assert_eq!(lag, Some(0));
        assert_eq!(latest, 10, "the end in read_uncommitted is the high watermark");

        // An unknown level is a configuration error that names the key.
        let mut config = ConsumerConfig::new(broker.bootstrap());
        let err = config.set("isolation.level", "read_most").expect_err("unknown level");
        assert!(err.to_string().contains("isolation.level"), "{err}");
        assert_eq!(config.isolation_level, IsolationLevel::ReadUncommitted);
    });
}

fn console_consumer(broker: &TestBroker, extra: &[&str]) -> (bool, String, String) {
    let bs = broker.bootstrap();
    let mut args = vec!["console-consumer", "--bootstrap-server", &bs, "--topic", TOPIC, "--from-beginning"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--property", "print.offset=true", "--timeout-ms", "60000"]);
    let out = Command::new(gregor_bin()).args(&args).env("NO_COLOR", "1").output().expect("run console-consumer");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn console_consumer_isolation_level_flag_and_property() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    write_log(&broker);
    // Five records are all read_committed has; a sixth would be b1 or b2.
    let expected = "Offset:0\ta1\nOffset:1\ta2\nOffset:3\ta3\nOffset:6\tc1\nOffset:7\ta4\n";
    let (ok, out, err) = console_consumer(&broker, &["--isolation-level", "read_committed", "--max-messages", "5"]);
    assert!(ok, "{err}");
    assert_eq!(out, expected, "{err}");
    let (ok, out, err) =
        console_consumer(&broker, &["--consumer-property", "isolation.level=read_committed", "--max-messages", "5"]);
    assert!(ok, "{err}");
    assert_eq!(out, expected, "{err}");
    // read_uncommitted (the default) shows the aborted b1 in its place.
    let (ok, out, err) = console_consumer(&broker, &["--max-messages", "3"]);
    assert!(ok, "{err}");
    assert_eq!(out, "Offset:0\ta1\nOffset:1\ta2\nOffset:2\tb1\n", "{err}");
    // A bad level is refused by the flag and by the property.
    let (ok, _, err) = console_consumer(&broker, &["--isolation-level", "read_most"]);
    assert!(!ok && err.contains("read_most"), "{err}");
    let (ok, _, err) = console_consumer(&broker, &["--consumer-property", "isolation.level=read_most"]);
    assert!(!ok && err.contains("isolation.level"), "{err}");
}

// ---------------------------------------------------------------------------
// The transactional producer. Its tests read each partition up to a
// non-transactional sentinel record: a read_committed consumer passes the
// sentinel only once every transaction before it is decided.

const SENTINEL: &str = "end";

fn transactional_config(broker: &TestBroker, id: &str) -> ProducerConfig {
    let mut config = ProducerConfig::new(broker.bootstrap());
    config.set("transactional.id", id).expect("transactional.id");
    config.set("linger.ms", "0").expect("linger.ms");
    config
}

async fn create_topic(broker: &TestBroker, name: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
    admin.create_topic(NewTopic::new(name, partitions), false).await.expect("create topic");
}

async fn write_sentinels(broker: &TestBroker, partitions: &[(&str, i32)]) {
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
    for (topic, partition) in partitions {
        let delivery =
            producer.send(ProducerRecord::new(*topic, SENTINEL).partition(*partition)).await.expect("send sentinel");
        delivery.await.expect("sentinel delivered");
    }
    producer.close().await.expect("close");
}

/// Every value our consumer in `isolation` returns from `partitions` before
/// their sentinels.
async fn our_values(broker: &TestBroker, isolation: &str, partitions: &[(&str, i32)]) -> BTreeSet<String> {
    let mut config = ConsumerConfig::new(broker.bootstrap());
    config.set("isolation.level", isolation).expect("isolation.level");
    config.set("auto.offset.reset", "earliest").expect("reset");
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.assign(partitions.iter().map(|(t, p)| (t.to_string(), *p)).collect()).await.expect("assign");
    let mut values = BTreeSet::new();
    let mut ended = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while ended.len() < partitions.len() {
        assert!(Instant::now() < deadline, "{isolation}: sentinels of {ended:?} only; values {values:?}");
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            if value == SENTINEL {
                ended.insert((r.topic.clone(), r.partition));
            } else {
                values.insert(value);
            }
        }
    }
    values
}

/// Every value our consumer in `isolation` returns from `topic`-0, in order,
/// before its sentinel: duplicates and order are kept, unlike `our_values`.
async fn our_sequence(broker: &TestBroker, isolation: &str, topic: &str) -> Vec<String> {
    let mut config = ConsumerConfig::new(broker.bootstrap());
    config.set("isolation.level", isolation).expect("isolation.level");
    config.set("auto.offset.reset", "earliest").expect("reset");
    let mut consumer = Consumer::new(config).await.expect("consumer");
    consumer.assign(vec![(topic.to_string(), 0)]).await.expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "{isolation}: no sentinel in {topic}-0; values {values:?}");
        for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            if value == SENTINEL {
                return values;
            }
            values.push(value);
        }
    }
}

/// The same through librdkafka's consumer.
fn librdkafka_values(broker: &TestBroker, isolation: &str, partitions: &[(&str, i32)]) -> BTreeSet<String> {
    let group = format!("client-txn-{isolation}");
    crate::common::txn::read_to_sentinels(&broker.bootstrap(), &group, isolation, partitions, SENTINEL)
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// Runs in a plain test (no tokio test macro) so librdkafka's blocking polls stay off the runtime.
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

#[test]
fn transactional_api_rules_hold_before_any_coordinator_is_involved() {
    let broker = TestBroker::start(&["num.partitions=1"]);
    run(async {
        // Config: a transactional producer is idempotent with acks=all.
        let mut config = transactional_config(&broker, "rules");
        config.set("enable.idempotence", "false").expect("set");
        let err = Producer::new(config).await.expect_err("transactional without idempotence");
        assert!(matches!(err, ClientError::Config(_)) && err.to_string().contains("transactional.id"), "{err}");
        let mut config = transactional_config(&broker, "rules");
        config.set("acks", "1").expect("set");
        let err = Producer::new(config).await.expect_err("transactional with acks=1");
        assert!(err.to_string().contains("acks=all"), "{err}");

        // Calls out of order are refused before anything is sent.
        let producer = Producer::new(transactional_config(&broker, "rules")).await.expect("producer");
        let err = producer.send(ProducerRecord::new("rules", "x")).await.expect_err("send before init");
        assert!(matches!(err, ClientError::InvalidState(_)), "{err}");
        let err = producer.begin_transaction().expect_err("begin before init");
        assert!(err.to_string().contains("init_transactions"), "{err}");
        let err = producer.commit_transaction(WAIT).await.expect_err("commit before init");
        assert!(matches!(err, ClientError::InvalidState(_)), "{err}");
        producer.close().await.expect("close");

        // A producer without a transactional.id has no transactions, and its
        // idempotent path works as before.
        let plain = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
        let err = plain.init_transactions(WAIT).await.expect_err("no transactional.id");
        assert!(err.to_string().contains("transactional.id"), "{err}");
        assert!(plain.begin_transaction().is_err());
        let meta = plain.send(ProducerRecord::new("rules", "plain")).await.expect("send").await.expect("delivered");
        assert_eq!(meta.offset, 0);
        plain.close().await.expect("close");
    });
}

#[test]
fn committed_transactions_are_read_committed_and_aborted_ones_hidden() {
    let broker = TestBroker::start(&[]);
    let partitions = [("ctx-orders", 0), ("ctx-orders", 1), ("ctx-audit", 0)];
    run(async {
        create_topic(&broker, "ctx-orders", 2).await;
        create_topic(&broker, "ctx-audit", 1).await;
        let producer = Producer::new(transactional_config(&broker, "client-orders")).await.expect("producer");
        producer.init_transactions(WAIT).await.expect("init_transactions");

        producer.begin_transaction().expect("begin");
        let mut deliveries = Vec::new();
        for (i, (topic, partition)) in partitions.iter().enumerate() {
            let record = ProducerRecord::new(*topic, format!("committed-{i}")).partition(*partition);
            deliveries.push(producer.send(record).await.expect("send"));
        }
        producer.commit_transaction(WAIT).await.expect("commit");
        for d in deliveries {
            d.await.expect("a committed record was acknowledged");
        }
        let err = producer.send(ProducerRecord::new("ctx-audit", "between")).await.expect_err("outside");
        assert!(matches!(err, ClientError::InvalidState(_)), "{err}");

        producer.begin_transaction().expect("begin");
        for (i, (topic, partition)) in partitions.iter().enumerate() {
            let record = ProducerRecord::new(*topic, format!("aborted-{i}")).partition(*partition);
            let _unsent_or_sent = producer.send(record).await.expect("send");
        }
        producer.flush().await.expect("aborted records written before the abort");
        producer.abort_transaction(WAIT).await.expect("abort");

        // Aborted without a flush: whatever had not left is dropped.
        producer.begin_transaction().expect("begin");
        let unflushed =
            producer.send(ProducerRecord::new("ctx-audit", "aborted-unflushed").partition(0)).await.expect("send");
        producer.abort_transaction(WAIT).await.expect("abort");
        match unflushed.await {
            Ok(_) | Err(ClientError::TransactionAborted) => {} // written (then aborted) or dropped unsent
            Err(e) => panic!("unexpected outcome of an aborted record: {e}"),
        }

        producer.begin_transaction().expect("begin");
        let last = producer.send(ProducerRecord::new("ctx-audit", "committed-last").partition(0)).await.expect("send");
        producer.commit_transaction(WAIT).await.expect("commit");
        last.await.expect("acknowledged");
        producer.close().await.expect("close");
        write_sentinels(&broker, &partitions).await;

        let committed = set(&["committed-0", "committed-1", "committed-2", "committed-last"]);
        assert_eq!(our_values(&broker, "read_committed", &partitions).await, committed);
        let uncommitted = our_values(&broker, "read_uncommitted", &partitions).await;
        assert!(uncommitted.is_superset(&committed), "{uncommitted:?}");
        assert!(uncommitted.is_superset(&set(&["aborted-0", "aborted-1", "aborted-2"])), "{uncommitted:?}");
    });
    let committed = set(&["committed-0", "committed-1", "committed-2", "committed-last"]);
    assert_eq!(librdkafka_values(&broker, "read_committed", &partitions), committed);
}

#[test]
fn a_second_instance_with_the_same_transactional_id_fences_the_first() {
    let broker = TestBroker::start(&[]);
    let partitions = [("ctx-fence", 0)];
    run(async {
        create_topic(&broker, "ctx-fence", 1).await;
        let zombie = Producer::new(transactional_config(&broker, "client-fence")).await.expect("producer");
        zombie.init_transactions(WAIT).await.expect("init");
        zombie.begin_transaction().expect("begin");
        let written = zombie.send(ProducerRecord::new("ctx-fence", "zombie").partition(0)).await.expect("send");
        zombie.flush().await.expect("flush");
        written.await.expect("written in the open transaction");

        // The new instance bumps the epoch; the coordinator aborts the zombie's transaction.
        let fresh = Producer::new(transactional_config(&broker, "client-fence")).await.expect("producer");
        fresh.init_transactions(WAIT).await.expect("init fences the zombie");

        let err = zombie.commit_transaction(WAIT).await.expect_err("a fenced producer cannot commit");
        assert!(matches!(err, ClientError::TransactionFatal(_)), "{err}");
        assert!(
            matches!(err.code(), Some(ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch)),
            "{err}"
        );
        let err = zombie.begin_transaction().expect_err("fatal stays fatal");
        assert!(matches!(err, ClientError::TransactionFatal(_)), "{err}");
        let err = zombie.abort_transaction(WAIT).await.expect_err("no way out but close");
        assert!(matches!(err, ClientError::TransactionFatal(_)), "{err}");

        fresh.begin_transaction().expect("begin");
        let fresh_record = fresh.send(ProducerRecord::new("ctx-fence", "fresh").partition(0)).await.expect("send");
        fresh.commit_transaction(WAIT).await.expect("commit");
        fresh_record.await.expect("acknowledged");
        fresh.close().await.expect("close");
        write_sentinels(&broker, &partitions).await;
        assert_eq!(our_values(&broker, "read_committed", &partitions).await, set(&["fresh"]));
    });
    assert_eq!(librdkafka_values(&broker, "read_committed", &partitions), set(&["fresh"]));
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it() {
    let broker = TestBroker::start(&[]);
    run(async {
        create_topic(&broker, "ctx-in", 1).await;
        let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
        let producer = Producer::new(transactional_config(&broker, "client-offsets")).await.expect("producer");
        producer.init_transactions(WAIT).await.expect("init");
        let tp = gregor::client::TopicPartition::new("ctx-in", 0);
        let committed = |admin: &Admin| {
            let tp = tp.clone();
            let admin = admin.clone();
            async move {
                let offsets =
                    admin.list_group_offsets("ctx-group", Some(std::slice::from_ref(&tp))).await.expect("offsets");
                offsets.get(&tp).map(|c| c.offset)
            }
        };

        // Aborted: the group's offset does not move (checked below, once the abort has surely completed).
        producer.begin_transaction().expect("begin");
        let offsets = BTreeMap::from([(("ctx-in".to_string(), 0), 5i64)]);
        producer.send_offsets_to_transaction(&offsets, "ctx-group").await.expect("send offsets");
        producer.abort_transaction(WAIT).await.expect("abort");

        // Committed (with nothing produced): the offset is the group's.
        producer.begin_transaction().expect("begin");
        let offsets = BTreeMap::from([(("ctx-in".to_string(), 0), 7i64)]);
        let group = ConsumerGroupMetadata::new("ctx-group");
        producer.send_offsets_to_transaction(&offsets, group).await.expect("send offsets");
        // EndTxn answered at PrepareAbort; AddOffsetsToTxn above was refused
        // (CONCURRENT_TRANSACTIONS) until CompleteAbort, so the ABORT marker is
        // in __consumer_offsets now and offset 5 must not have become the group's.
        assert_eq!(committed(&admin).await, None);
        producer.commit_transaction(WAIT).await.expect("commit");
        let deadline = Instant::now() + WAIT;
        while committed(&admin).await != Some(7) {
            assert!(Instant::now() < deadline, "offset 7 never became the group's");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        producer.close().await.expect("close");
    });
}

#[test]
fn a_failed_record_makes_the_transaction_abortable_and_abort_recovers() {
    let broker = TestBroker::start(&[]);
    let partitions = [("ctx-small", 0)];
    run(async {
        let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
        admin
            .create_topic(NewTopic::new("ctx-small", 1).config("max.message.bytes", "200"), false)
            .await
            .expect("create topic");
        let producer = Producer::new(transactional_config(&broker, "client-abortable")).await.expect("producer");
        producer.init_transactions(WAIT).await.expect("init");

        producer.begin_transaction().expect("begin");
        let big = producer
            .send(ProducerRecord::new("ctx-small", vec![b'x'; 1000]).partition(0))
            .await
            .expect("queued (the client's own limit is larger)");
        let err = big.await.expect_err("the broker refuses the batch");
        assert_eq!(err.code(), Some(ResponseError::MessageTooLarge), "{err}");
        let err = producer.commit_transaction(WAIT).await.expect_err("a transaction with a lost record");
        assert!(matches!(err, ClientError::TransactionAbortable(_)), "{err}");
        assert_eq!(err.code(), Some(ResponseError::MessageTooLarge), "{err}");
        let err = producer.send(ProducerRecord::new("ctx-small", "more").partition(0)).await.expect_err("send");
        assert!(matches!(err, ClientError::TransactionAbortable(_)), "{err}");
        producer.abort_transaction(WAIT).await.expect("abort recovers");

        // The failed batch left a gap in the sequence numbers: the abort took
        // a new epoch, so the next transaction's records are accepted.
        producer.begin_transaction().expect("begin");
        let after = producer.send(ProducerRecord::new("ctx-small", "after").partition(0)).await.expect("send");
        producer.commit_transaction(WAIT).await.expect("commit");
        after.await.expect("acknowledged");
        producer.close().await.expect("close");
        write_sentinels(&broker, &partitions).await;
        assert_eq!(our_values(&broker, "read_committed", &partitions).await, set(&["after"]));
    });
}

/// Consume-transform-produce: each transaction writes the upper-cased
/// input and the consumer group's next offset, so after an aborted attempt
/// and a restart every input is in the output once and the group's offset
/// is at the end.
#[test]
fn consume_transform_produce_is_exactly_once_across_an_abort_and_a_restart() {
    let broker = TestBroker::start(&[]);
    run(async {
        create_topic(&broker, "ctx-src", 1).await;
        create_topic(&broker, "ctx-dst", 1).await;
        let seed = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
        for i in 0..6 {
            seed.send(ProducerRecord::new("ctx-src", format!("n{i}")).partition(0))
                .await
                .expect("send")
                .await
                .expect("ok");
        }
        seed.close().await.expect("close");
        let producer = Producer::new(transactional_config(&broker, "client-eos")).await.expect("producer");
        producer.init_transactions(WAIT).await.expect("init");

        let member = || async {
            let mut config = ConsumerConfig::new(broker.bootstrap());
            for (k, v) in [
                ("group.id", "ctx-eos"),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
                ("isolation.level", "read_committed"),
            ] {
                config.set(k, v).expect("consumer config");
            }
            let mut consumer = Consumer::new(config).await.expect("consumer");
            consumer.subscribe(vec!["ctx-src".to_string()]).await.expect("subscribe");
            consumer
        };
        // Polls until the record at offset `last` arrived; returns everything polled.
        async fn take(consumer: &mut Consumer, last: i64) -> Vec<(i64, String)> {
            let mut got: Vec<(i64, String)> = Vec::new();
            let deadline = Instant::now() + WAIT;
            while got.last().is_none_or(|(o, _)| *o < last) {
                assert!(Instant::now() < deadline, "offset {last} not read; got {got:?}");
                for r in consumer.poll(Duration::from_millis(500)).await.expect("poll") {
                    got.push((r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
                }
            }
            got
        }
        async fn transform(producer: &Producer, consumer: &Consumer, input: &[(i64, String)], commit: bool) {
            producer.begin_transaction().expect("begin");
            let mut deliveries = Vec::new();
            for (_, v) in input {
                let record = ProducerRecord::new("ctx-dst", v.to_uppercase()).partition(0);
                deliveries.push(producer.send(record).await.expect("send"));
            }
            let next = input.last().map(|(o, _)| o + 1).expect("input");
            let offsets = BTreeMap::from([(("ctx-src".to_string(), 0), next)]);
            let group = consumer.group_metadata().expect("a group member");
            assert!(group.generation_id >= 1 && !group.member_id.is_empty(), "{group:?}");
            producer.send_offsets_to_transaction(&offsets, group).await.expect("send offsets");
            if commit {
                producer.commit_transaction(WAIT).await.expect("commit");
                for d in deliveries {
                    d.await.expect("acknowledged");
                }
            } else {
                producer.flush().await.expect("flush");
                producer.abort_transaction(WAIT).await.expect("abort");
            }
        }

        let mut first = member().await;
        let input = take(&mut first, 5).await;
        assert_eq!(input.len(), 6, "{input:?}");
        transform(&producer, &first, &input[..3], true).await;
        transform(&producer, &first, &input[3..], false).await;
        first.close().await.expect("close");

        // A restarted member resumes from the committed offset 3, not from 6.
        let mut second = member().await;
        let input = take(&mut second, 5).await;
        assert_eq!(input.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [3, 4, 5], "{input:?}");
        transform(&producer, &second, &input, true).await;
        second.close().await.expect("close");
        producer.close().await.expect("close");

        let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
        let tp = gregor::client::TopicPartition::new("ctx-src", 0);
        let offsets = admin.list_group_offsets("ctx-eos", Some(std::slice::from_ref(&tp))).await.expect("offsets");
        assert_eq!(offsets.get(&tp).map(|c| c.offset), Some(6));
        write_sentinels(&broker, &[("ctx-dst", 0)]).await;
        assert_eq!(
            our_values(&broker, "read_committed", &[("ctx-dst", 0)]).await,
            set(&["N0", "N1", "N2", "N3", "N4", "N5"])
        );
        // In order and counted: the aborted N3–N5 must not show up beside their committed retry.
        assert_eq!(our_sequence(&broker, "read_committed", "ctx-dst").await, ["N0", "N1", "N2", "N3", "N4", "N5"]);
    });
    // Each input once in what read_committed shows, counted (not just as a set) by librdkafka.
    assert_eq!(librdkafka_values(&broker, "read_committed", &[("ctx-dst", 0)]).len(), 6);
    assert_eq!(
        crate::common::txn::consume_until(&broker.bootstrap(), "ctx-dst", "read_committed", SENTINEL),
        ["N0", "N1", "N2", "N3", "N4", "N5", SENTINEL]
    );
}
