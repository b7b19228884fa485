//! Transactions across failures on a 3-broker cluster, with librdkafka's
//! transactional producer: `kill -9` of the transaction coordinator in the
//! middle of a transaction, and of a partition leader while a commit's
//! markers are being written. Whatever happens, every transaction must end
//! all-visible or all-hidden to a read_committed consumer: never some of its
//! records and not others.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::common::txn::{self, txn_coordinator, WAIT};
use crate::common::zk::TestZk;
use crate::common::{bootstrap_of, TestBroker};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 4;

fn create_topic(bootstrap: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
        let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
        let res = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create topics");
        assert!(res[0].is_ok(), "{res:?}");
    });
}

fn producer(bootstrap: &str, transactional_id: &str) -> BaseProducer {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "20000")
        .set("message.timeout.ms", "20000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    p.init_transactions(WAIT).expect("init_transactions");
    p
}

/// Sends transaction `n`: `PER_PARTITION` records to every partition, values `t<n>-<i>`.
fn send_transaction(p: &BaseProducer, n: usize) {
    p.begin_transaction().expect("begin_transaction");
    for partition in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let value = format!("t{n}-{partition}-{i}");
            let mut record = BaseRecord::<(), _>::to(TOPIC).partition(partition).payload(&value);
            loop {
                match p.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        p.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => panic!("send failed: {e}"),
                }
            }
        }
    }
}

/// How a transaction's commit ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Committed,
    Aborted,
    /// The client could not tell (neither commit nor abort succeeded).
    Unknown,
}

/// Commits, retrying what librdkafka calls retriable and aborting what it
/// says requires an abort.
fn finish(p: &BaseProducer) -> Ended {
    for _ in 0..5 {
        match p.commit_transaction(WAIT) {
            Ok(()) => return Ended::Committed,
            Err(KafkaError::Transaction(e)) if e.is_retriable() => continue,
            Err(KafkaError::Transaction(e)) if e.txn_requires_abort() => {
                return match p.abort_transaction(WAIT) {
                    Ok(()) => Ended::Aborted,
                    Err(_) => Ended::Unknown,
                };
            }
            Err(e) => panic!("commit failed fatally: {e}"),
        }
    }
    Ended::Unknown
}

/// Waits until no transaction is open on any partition (read_committed end
/// = log end), then reads every partition to its end with read_committed:
/// the values seen per transaction number.
fn committed_view(bootstrap: &str) -> BTreeMap<usize, usize> {
    let consumer = |isolation: &str| -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("check-{isolation}"))
            .set("isolation.level", isolation)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer")
    };
    let committed = consumer("read_committed");
    let uncommitted = consumer("read_uncommitted");
    let deadline = Instant::now() + WAIT * 2;
    let mut ends = Vec::new();
    for partition in 0..PARTITIONS {
        loop {
            let stable = committed.fetch_watermarks(TOPIC, partition, WAIT).map(|w| w.1);
            let end = uncommitted.fetch_watermarks(TOPIC, partition, WAIT).map(|w| w.1);
            match (stable, end) {
                (Ok(s), Ok(e)) if s == e => {
                    ends.push(e);
                    break;
                }
                other => {
                    assert!(Instant::now() < deadline, "partition {partition} stays unstable: {other:?}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    let mut tpl = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, partition, Offset::Beginning).expect("assign");
    }
    committed.assign(&tpl).expect("assign");
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut positions = vec![0i64; PARTITIONS as usize];
    while positions.iter().zip(&ends).any(|(p, e)| p < e) {
        assert!(Instant::now() < deadline, "read_committed did not reach {ends:?}: at {positions:?}");
        match committed.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                positions[m.partition() as usize] = m.offset() + 1;
                let value = std::str::from_utf8(m.payload().unwrap_or_default()).expect("utf-8").to_string();
                let n: usize =
                    value.trim_start_matches('t').split('-').next().and_then(|s| s.parse().ok()).expect("value");
                *seen.entry(n).or_default() += 1;
            }
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => {
                // Markers take offsets no message reports: compare with the position.
                if let Ok(tpl) = committed.position() {
                    for el in tpl.elements() {
                        if let Offset::Offset(o) = el.offset() {
                            let i = el.partition() as usize;
                            positions[i] = positions[i].max(o);
                        }
                    }
                }
            }
        }
    }
    seen
}

/// Every transaction is whole or absent, and matches what the client saw
/// where it knew.
fn check_all_or_nothing(seen: &BTreeMap<usize, usize>, outcomes: &[Ended]) {
    let whole = PARTITIONS as usize * PER_PARTITION;
    for (n, ended) in outcomes.iter().enumerate() {
        let count = seen.get(&n).copied().unwrap_or(0);
        assert!(count == 0 || count == whole, "transaction {n} is partial: {count} of {whole} records visible");
        match ended {
            Ended::Committed => assert_eq!(count, whole, "committed transaction {n} is not visible"),
            Ended::Aborted => assert_eq!(count, 0, "aborted transaction {n} is visible"),
            Ended::Unknown => {}
        }
    }
}

/// ZooKeeper, three brokers with a replicated `__transaction_state`, the
/// topic, an initialised producer for `transactional_id`, and its coordinator.
fn start(transactional_id: &str) -> (TestZk, Vec<TestBroker>, BaseProducer, i32) {
    let zk = TestZk::start();
    let brokers = txn::cluster(
        &zk,
        &[
            "replica.fetch.backoff.ms=100",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "offsets.topic.num.partitions=3",
        ],
    );
    let all = bootstrap_of(&brokers);
    create_topic(&all);
    let p = producer(&all, transactional_id);
    let coordinator = txn_coordinator(&brokers[0], transactional_id);
    (zk, brokers, p, coordinator)
}

#[test]
fn killing_the_transaction_coordinator_mid_transaction_leaves_every_transaction_whole_or_absent() {
    let id = "failover-coordinator";
    let (_zk, mut brokers, p, coordinator) = start(id);
    let mut outcomes = Vec::new();
    for n in 0..8 {
        send_transaction(&p, n);
        if n == 3 {
            // Records sent, commit not yet asked: the coordinator dies.
            brokers[usize::try_from(coordinator).expect("node id")].kill();
        }
        outcomes.push(finish(&p));
    }
    assert!(
        outcomes[4..].contains(&Ended::Committed),
        "the producer carries on with the new coordinator: {outcomes:?}"
    );
    let new_coordinator = txn_coordinator(brokers.iter().find(|b| b.child.is_some()).expect("a live broker"), id);
    assert_ne!(new_coordinator, coordinator, "another broker took the transactional id over");
    drop(p);
    let seen = committed_view(&bootstrap_of(&brokers));
    check_all_or_nothing(&seen, &outcomes);
}

#[test]
fn killing_a_partition_leader_while_markers_are_written_leaves_every_transaction_whole_or_absent() {
    let id = "failover-leader";
    let (_zk, mut brokers, p, coordinator) = start(id);
    // A broker that leads data partitions but does not coordinate the id.
    let victim = (0..3).find(|b| *b != coordinator).expect("another broker");
    let mut outcomes = Vec::new();
    for n in 0..8 {
        send_transaction(&p, n);
        if n == 3 {
            // The commit's markers go out while the victim dies.
            p.flush(WAIT).expect("flush");
            let killer = std::thread::spawn({
                let pid = brokers[usize::try_from(victim).expect("id")].pid();
                move || {
                    std::thread::sleep(Duration::from_millis(5));
                    if let Some(pid) = pid {
                        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
                    }
                }
            });
            outcomes.push(finish(&p));
            killer.join().expect("killer");
            brokers[usize::try_from(victim).expect("id")].kill();
        } else {
            outcomes.push(finish(&p));
        }
    }
    assert!(outcomes[4..].contains(&Ended::Committed), "the producer carries on: {outcomes:?}");
    drop(p);
    let seen = committed_view(&bootstrap_of(&brokers));
    check_all_or_nothing(&seen, &outcomes);
    // The killed leader comes back and catches up: the answer does not change.
    brokers[usize::try_from(victim).expect("id")].restart();
    let again = committed_view(&bootstrap_of(&brokers));
    assert_eq!(again, seen, "the same transactions are visible after the old leader returns");
}
