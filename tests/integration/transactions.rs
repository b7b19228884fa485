//! Transactions end to end with librdkafka's transactional producer against
//! real brokers: the transaction coordinator (FindCoordinator key type 1,
//! InitProducerId with a transactional id, AddPartitionsToTxn, EndTxn,
//! markers) and read_committed consumers. Each test ends the partitions it
//! reads with a non-transactional sentinel record: a read_committed consumer
//! sees it only once every transaction before it is decided, so reading up
//! to the sentinels sees each transaction's final outcome.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use crate::common::txn::{self, txn_coordinator, WAIT};
use crate::common::wire::Wire;
use crate::common::zk::{wait_for, TestZk};
use crate::common::{bootstrap_of, TestBroker};

const SENTINEL: &str = "end";

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

fn transactional(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> TxnProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("transactional.id", id);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("transactional producer")
}

fn send(p: &TxnProducer, topic: &str, partition: i32, value: &str) {
    p.send(BaseRecord::<(), str>::to(topic).partition(partition).payload(value)).expect("enqueue");
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32, replication: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let t = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    let res = admin.create_topics(&[t], &AdminOptions::new()).await.expect("create_topics");
    assert!(res[0].is_ok(), "{res:?}");
}

/// Writes the sentinel to every partition with a plain idempotent producer.
fn write_sentinels(bootstrap: &str, partitions: &[(&str, i32)]) {
    let p: TxnProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    for (topic, partition) in partitions {
        send(&p, topic, *partition, SENTINEL);
    }
    p.flush(WAIT).expect("sentinels delivered");
}

/// Every value of `partitions` a consumer in `isolation` sees before the
/// sentinels (which are left out).
fn read_to_sentinels(bootstrap: &str, isolation: &str, partitions: &[(&str, i32)]) -> BTreeSet<String> {
    txn::read_to_sentinels(bootstrap, &format!("txn-tests-{isolation}"), isolation, partitions, SENTINEL)
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_is_read_committed_and_aborted_only_read_uncommitted() {
    let b = TestBroker::start(&[]);
    let bootstrap = b.bootstrap();
    create_topic(&bootstrap, "txn-orders", 2, 1).await;
    create_topic(&bootstrap, "txn-audit", 1, 1).await;
    let partitions = [("txn-orders", 0), ("txn-orders", 1), ("txn-audit", 0)];

    let p = transactional(&bootstrap, "orders-app", &[]);
    p.init_transactions(WAIT).expect("init_transactions");
    p.begin_transaction().expect("begin");
    for (i, (topic, partition)) in partitions.iter().enumerate() {
        send(&p, topic, *partition, &format!("committed-{i}"));
    }
    p.commit_transaction(WAIT).expect("commit");

    p.begin_transaction().expect("begin");
    for (i, (topic, partition)) in partitions.iter().enumerate() {
        send(&p, topic, *partition, &format!("aborted-{i}"));
    }
    p.flush(WAIT).expect("aborted records delivered before the abort");
    p.abort_transaction(WAIT).expect("abort");

    p.begin_transaction().expect("begin");
    send(&p, "txn-audit", 0, "committed-last");
    p.commit_transaction(WAIT).expect("commit");
    write_sentinels(&bootstrap, &partitions);

    let committed = set(&["committed-0", "committed-1", "committed-2", "committed-last"]);
    assert_eq!(read_to_sentinels(&bootstrap, "read_committed", &partitions), committed);
    let mut everything = committed;
    everything.extend(set(&["aborted-0", "aborted-1", "aborted-2"]));
    assert_eq!(read_to_sentinels(&bootstrap, "read_uncommitted", &partitions), everything);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_producer_with_the_same_id_fences_the_old_and_aborts_its_transaction() {
    let b = TestBroker::start(&["transaction.state.log.num.partitions=5"]);
    let bootstrap = b.bootstrap();
    create_topic(&bootstrap, "txn-zombie", 1, 1).await;
    let partitions = [("txn-zombie", 0)];

    let zombie = transactional(&bootstrap, "zombie-app", &[]);
    zombie.init_transactions(WAIT).expect("init_transactions");
    zombie.begin_transaction().expect("begin");
    send(&zombie, "txn-zombie", 0, "from-the-zombie");
    zombie.flush(WAIT).expect("delivered");

    let successor = transactional(&bootstrap, "zombie-app", &[]);
    successor.init_transactions(WAIT).expect("the successor inits (aborting the zombie's transaction)");

    let err = zombie.commit_transaction(WAIT).expect_err("the zombie's commit must fail");
    assert!(
        matches!(
            err.rdkafka_error_code(),
            Some(RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch | RDKafkaErrorCode::Fenced)
        ),
        "fenced, not {err:?}"
    );

    successor.begin_transaction().expect("begin");
    send(&successor, "txn-zombie", 0, "from-the-successor");
    successor.commit_transaction(WAIT).expect("commit");
    write_sentinels(&bootstrap, &partitions);
    assert_eq!(read_to_sentinels(&bootstrap, "read_committed", &partitions), set(&["from-the-successor"]));
    assert_eq!(
        read_to_sentinels(&bootstrap, "read_uncommitted", &partitions),
        set(&["from-the-zombie", "from-the-successor"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_past_its_timeout_is_aborted_by_the_coordinator() {
    let b = TestBroker::start(&[
        "transaction.state.log.num.partitions=5",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
    ]);
    let bootstrap = b.bootstrap();
    create_topic(&bootstrap, "txn-slow", 1, 1).await;
    let partitions = [("txn-slow", 0)];

    let slow = transactional(&bootstrap, "slow-app", &[("transaction.timeout.ms", "2000")]);
    slow.init_transactions(WAIT).expect("init_transactions");
    slow.begin_transaction().expect("begin");
    send(&slow, "txn-slow", 0, "never-committed");
    slow.flush(WAIT).expect("delivered");

    // Another producer's transaction after it: visible only once the slow
    // one is decided, which only the coordinator's timeout abort does.
    let other = transactional(&bootstrap, "other-app", &[]);
    other.init_transactions(WAIT).expect("init_transactions");
    other.begin_transaction().expect("begin");
    send(&other, "txn-slow", 0, "committed-after");
    other.commit_transaction(WAIT).expect("commit");
    write_sentinels(&bootstrap, &partitions);

    assert_eq!(read_to_sentinels(&bootstrap, "read_committed", &partitions), set(&["committed-after"]));
    // The slow producer was fenced by the abort: its commit fails.
    assert!(slow.commit_transaction(WAIT).is_err(), "a commit after the coordinator's abort must fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_timeout_above_the_maximum_is_refused() {
    let b = TestBroker::start(&["transaction.state.log.num.partitions=5", "transaction.max.timeout.ms=5000"]);
    let p = transactional(&b.bootstrap(), "greedy-app", &[("transaction.timeout.ms", "60000")]);
    let err = p.init_transactions(WAIT).expect_err("a timeout above transaction.max.timeout.ms");
    assert_eq!(err.rdkafka_error_code(), Some(RDKafkaErrorCode::InvalidTransactionTimeout), "{err:?}");

    let ok = transactional(&b.bootstrap(), "modest-app", &[("transaction.timeout.ms", "5000")]);
    ok.init_transactions(WAIT).expect("a timeout at the maximum is accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_the_coordinator_reloads_and_a_new_producer_aborts_the_leftover() {
    let mut b = TestBroker::start(&["transaction.state.log.num.partitions=5"]);
    let bootstrap = b.bootstrap();
    create_topic(&bootstrap, "txn-crash", 2, 1).await;
    let partitions = [("txn-crash", 0), ("txn-crash", 1)];

    let before = transactional(&bootstrap, "crash-app", &[]);
    before.init_transactions(WAIT).expect("init_transactions");
    before.begin_transaction().expect("begin");
    send(&before, "txn-crash", 0, "committed-before");
    send(&before, "txn-crash", 1, "committed-before-1");
    before.commit_transaction(WAIT).expect("commit");
    before.begin_transaction().expect("begin");
    send(&before, "txn-crash", 0, "open-at-the-crash");
    send(&before, "txn-crash", 1, "open-at-the-crash-1");
    before.flush(WAIT).expect("delivered");

    b.restart();
    drop(before);

    let after = transactional(&bootstrap, "crash-app", &[]);
    after.init_transactions(WAIT).expect("init_transactions after the restart");
    after.begin_transaction().expect("begin");
    send(&after, "txn-crash", 0, "committed-after");
    after.commit_transaction(WAIT).expect("commit");
    write_sentinels(&bootstrap, &partitions);

    assert_eq!(
        read_to_sentinels(&bootstrap, "read_committed", &partitions),
        set(&["committed-before", "committed-before-1", "committed-after"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_the_coordinator_mid_transaction_leaves_it_all_or_nothing() {
    let zk = TestZk::start();
    let mut brokers = txn::cluster(&zk, &[]);
    let bootstrap = bootstrap_of(&brokers);
    create_topic(&bootstrap, "txn-ha", 3, 3).await;
    let partitions = [("txn-ha", 0), ("txn-ha", 1), ("txn-ha", 2)];

    let p = transactional(&bootstrap, "ha-app", &[("topic.metadata.refresh.interval.ms", "500")]);
    p.init_transactions(WAIT).expect("init_transactions");
    p.begin_transaction().expect("begin");
    for (topic, partition) in &partitions {
        send(&p, topic, *partition, &format!("before-{partition}"));
    }
    p.commit_transaction(WAIT).expect("commit");

    p.begin_transaction().expect("begin");
    for (topic, partition) in &partitions {
        send(&p, topic, *partition, &format!("open-{partition}"));
    }
    p.flush(WAIT).expect("delivered");
    let coordinator = txn_coordinator(&brokers[0], "ha-app");
    brokers[coordinator as usize].kill();

    // The producer finds the new coordinator (which reloaded the ongoing
    // transaction) and commits: Some(true). Should that fail, the outcome is
    // known only if the abort is acknowledged: Some(false). Otherwise (None)
    // the new coordinator may still have completed the commit, so either
    // all-or-nothing outcome is allowed.
    let committed = match p.commit_transaction(WAIT) {
        Ok(()) => Some(true),
        Err(err) => {
            eprintln!("the commit after the coordinator's death failed: {err:?}");
            if err.rdkafka_error_code().is_some() && !matches!(&err, KafkaError::Transaction(e) if e.is_fatal()) {
                match p.abort_transaction(WAIT) {
                    Ok(()) => Some(false),
                    Err(err) => {
                        eprintln!("the abort after the failed commit failed too: {err:?}");
                        None
                    }
                }
            } else {
                None
            }
        }
    };
    drop(p);

    // A new incarnation inits (ending whatever is left open) and commits.
    let live = bootstrap_of(&brokers);
    let next = transactional(&live, "ha-app", &[]);
    next.init_transactions(WAIT).expect("init_transactions on the new coordinator");
    next.begin_transaction().expect("begin");
    for (topic, partition) in &partitions {
        send(&next, topic, *partition, &format!("after-{partition}"));
    }
    next.commit_transaction(WAIT).expect("commit");
    write_sentinels(&live, &partitions);

    let seen = read_to_sentinels(&live, "read_committed", &partitions);
    let aborted = set(&["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"]);
    let mut all = aborted.clone();
    all.extend(set(&["open-0", "open-1", "open-2"]));
    match committed {
        Some(true) => assert_eq!(seen, all, "committed after the kill"),
        Some(false) => assert_eq!(seen, aborted, "aborted after the kill"),
        None => {
            assert!(seen == all || seen == aborted, "outcome unknown after the kill, yet not all-or-nothing: {seen:?}")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn markers_reach_a_partition_whose_leader_died_before_the_commit() {
    let zk = TestZk::start();
    let mut brokers = txn::cluster(&zk, &[]);
    let bootstrap = bootstrap_of(&brokers);
    create_topic(&bootstrap, "txn-leaders", 3, 3).await;
    let partitions = [("txn-leaders", 0), ("txn-leaders", 1), ("txn-leaders", 2)];

    let p = transactional(&bootstrap, "leaders-app", &[("topic.metadata.refresh.interval.ms", "500")]);
    p.init_transactions(WAIT).expect("init_transactions");
    p.begin_transaction().expect("begin");
    for (topic, partition) in &partitions {
        send(&p, topic, *partition, &format!("spread-{partition}"));
    }
    p.flush(WAIT).expect("delivered");

    // Kill a broker that leads one of the partitions but does not
    // coordinate the transaction: its marker must wait for the new leader.
    let coordinator = txn_coordinator(&brokers[0], "leaders-app");
    let metadata = p.client().fetch_metadata(Some("txn-leaders"), WAIT).expect("metadata");
    let leaders: BTreeSet<i32> = metadata.topics()[0].partitions().iter().map(|p| p.leader()).collect();
    let victim = leaders.into_iter().find(|&l| l != coordinator && l >= 0).expect("a leader besides the coordinator");
    brokers[victim as usize].kill();
    p.commit_transaction(WAIT).expect("commit with a partition leader dead");
    drop(p);

    let live = bootstrap_of(&brokers);
    write_sentinels(&live, &partitions);
    assert_eq!(
        read_to_sentinels(&live, "read_committed", &partitions),
        set(&["spread-0", "spread-1", "spread-2"]),
        "every partition took its commit marker"
    );
}

#[test]
fn the_coordinator_apis_on_the_wire_answer_kafkas_codes_per_version() {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
        InitProducerIdResponse, ProducerId, TopicName, TransactionalId,
    };
    let b = TestBroker::start(&["transaction.state.log.num.partitions=5", "num.partitions=1"]);
    let mut w = Wire::connect_when_led(b.addr, "wire-txn");
    let node = txn_coordinator(&b, "wire-app");
    assert_eq!(node, 0);
    let txn_id = || TransactionalId(StrBytes::from_static_str("wire-app"));
    let init = |w: &mut Wire| -> InitProducerIdResponse {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id()))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        w.call(ApiKey::InitProducerId, 4, &req)
    };
    let first = init(&mut w);
    assert_eq!((first.error_code, first.producer_epoch), (0, 0), "{first:?}");

    // A partition that does not exist: the rest is not attempted.
    let topic = |name: &'static str, partitions: Vec<i32>| {
        AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_partitions(partitions)
    };
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id())
        .with_v3_and_below_producer_id(first.producer_id)
        .with_v3_and_below_producer_epoch(0)
        .with_v3_and_below_topics(vec![topic("wire-txn", vec![0]), topic("no-such-topic", vec![0])]);
    let r: AddPartitionsToTxnResponse = w.call(ApiKey::AddPartitionsToTxn, 3, &add);
    let codes: BTreeSet<(String, i16)> = r
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| (t.name.0.to_string(), p.partition_error_code)))
        .collect();
    assert_eq!(codes, BTreeSet::from([("wire-txn".into(), 55), ("no-such-topic".into(), 3)]), "{r:?}");
    let add = add.with_v3_and_below_topics(vec![topic("wire-txn", vec![0])]);
    let r: AddPartitionsToTxnResponse = w.call(ApiKey::AddPartitionsToTxn, 3, &add);
    assert_eq!(r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, 0, "{r:?}");

    // A second init aborts the open transaction: the client retries on
    // CONCURRENT_TRANSACTIONS (51) until the abort completes.
    let mut second = InitProducerIdResponse::default();
    let done = wait_for(WAIT, || {
        second = init(&mut w);
        second.error_code != 51
    });
    assert!(done && second.error_code == 0, "{second:?}");
    assert_eq!(second.producer_id, first.producer_id);
    assert!(second.producer_epoch > first.producer_epoch, "{second:?}");

    // The fenced producer: INVALID_PRODUCER_EPOCH (47) before EndTxn v2,
    // PRODUCER_FENCED (90) from v2 on (KIP-588).
    let end = EndTxnRequest::default()
        .with_transactional_id(txn_id())
        .with_producer_id(first.producer_id)
        .with_producer_epoch(first.producer_epoch)
        .with_committed(true);
    let r: EndTxnResponse = w.call(ApiKey::EndTxn, 1, &end);
    assert_eq!(r.error_code, 47);
    let r: EndTxnResponse = w.call(ApiKey::EndTxn, 3, &end);
    assert_eq!(r.error_code, 90);
    // Nothing to end for the current producer: INVALID_TXN_STATE (48).
    let r: EndTxnResponse =
        w.call(ApiKey::EndTxn, 3, &end.with_producer_epoch(second.producer_epoch).with_committed(true));
    assert_eq!(r.error_code, 48);
}

/// kafka-python's transactional producer (its own protocol code, flexible
/// versions) and its read_committed consumer.
const PYTHON_TRANSACTIONS: &str = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
bootstrap, topic = sys.argv[1], sys.argv[2]
p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="python-app")
p.init_transactions()
p.begin_transaction()
for i in range(3):
    p.send(topic, value=b"py-committed-%d" % i, partition=0)
p.commit_transaction()
p.begin_transaction()
p.send(topic, value=b"py-aborted", partition=0)
p.flush()
p.abort_transaction()
p.begin_transaction()
p.send(topic, value=b"py-last", partition=0)
p.commit_transaction()
p.close()
for isolation in ("read_committed", "read_uncommitted"):
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=20000)
    c.assign([TopicPartition(topic, 0)])
    seen = []
    for m in c:
        seen.append(m.value.decode())
        if m.value == b"py-last":
            break
    c.close()
    print(isolation + "=" + ",".join(seen))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn kafka_python_commits_and_aborts() {
    let Some(python) = crate::common::python::kafka_python() else { return };
    let b = TestBroker::start(&["transaction.state.log.num.partitions=5"]);
    create_topic(&b.bootstrap(), "txn-python", 1, 1).await;
    let out = crate::common::python::run_ok(
        python,
        PYTHON_TRANSACTIONS,
        &[&b.bootstrap(), "txn-python"],
        Duration::from_secs(120),
    );
    let committed = "py-committed-0,py-committed-1,py-committed-2";
    assert!(out.contains(&format!("read_committed={committed},py-last\n")), "{out}");
    assert!(out.contains(&format!("read_uncommitted={committed},py-aborted,py-last\n")), "{out}");
}
