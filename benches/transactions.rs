//! What transactions cost: one broker (release build), librdkafka as the
//! client, 1 KiB records to one partition.
//! - idempotent, non-transactional produce of N records;
//! - transactional produce of the same N records, 1,000 per transaction,
//!   in the same run: throughput, and the latency of `commit_transaction`
//!   (EndTxn, answered once PrepareCommit is committed; the markers follow)
//!   at p50, p99 and max, measured after the transaction's records were
//!   delivered (that time is reported too).
//!
//! Afterwards it checks the outcome: the read_committed end of the
//! transactional partition (its last stable offset) must be N records plus
//! one COMMIT marker per transaction.
//!
//! Run: `cargo bench --bench transactions` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[allow(dead_code)] // the shared producer loop sets no idempotence; this bench has its own
mod common;

use common::start_broker;

const RECORD: usize = 1024;
const PER_TXN: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(60);

fn producer(addr: &str, transactional_id: Option<&str>) -> BaseProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.codec", "none");
    if let Some(id) = transactional_id {
        cfg.set("transactional.id", id);
    }
    cfg.create().expect("producer")
}

fn send(p: &BaseProducer, topic: &str, payload: &[u8]) {
    loop {
        match p.send(BaseRecord::<(), _>::to(topic).partition(0).payload(payload)) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("produce failed: {e}"),
        }
    }
}

/// Waits until every record sent is acknowledged, polling in 1 ms steps
/// (the rdkafka crate's `flush` polls in 100 ms steps, which would be timed
/// instead of the broker).
fn deliver(p: &BaseProducer) {
    let deadline = Instant::now() + TIMEOUT;
    while p.in_flight_count() > 0 {
        assert!(Instant::now() < deadline, "records not delivered within {TIMEOUT:?}");
        p.poll(Duration::from_millis(1));
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(label: &str, count: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{label:<28} {count:>9} records  {secs:>7.2} s  {:>10.0} records/s  {:>7.1} MB/s",
        count as f64 / secs,
        (count * RECORD) as f64 / secs / 1e6
    );
}

#[tokio::main]
async fn main() {
    let scale: f64 = std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let transactions = ((200.0 * scale) as usize).max(1);
    let count = transactions * PER_TXN;
    let broker = start_broker();
    let addr = broker.addr.clone();

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &addr).create().expect("admin");
    let topics = [
        NewTopic::new("idempotent", 1, TopicReplication::Fixed(1)),
        NewTopic::new("txn", 1, TopicReplication::Fixed(1)),
    ];
    for r in admin.create_topics(&topics, &AdminOptions::new()).await.expect("create topics") {
        r.expect("topic created");
    }
    let payload = vec![b'x'; RECORD];

    let idempotent = producer(&addr, None);
    let start = Instant::now();
    for _ in 0..count {
        send(&idempotent, "idempotent", &payload);
    }
    deliver(&idempotent);
    let idempotent_took = start.elapsed();
    drop(idempotent);

    let txn = producer(&addr, Some("gregor-bench-txn"));
    txn.init_transactions(TIMEOUT).expect("init_transactions");
    let mut commits = Vec::with_capacity(transactions);
    let mut flushes = Vec::with_capacity(transactions);
    let start = Instant::now();
    for _ in 0..transactions {
        txn.begin_transaction().expect("begin_transaction");
        for _ in 0..PER_TXN {
            send(&txn, "txn", &payload);
        }
        // Deliver first: commit_transaction starts with the crate's coarse flush.
        let delivered = Instant::now();
        deliver(&txn);
        flushes.push(delivered.elapsed());
        let commit = Instant::now();
        txn.commit_transaction(TIMEOUT).expect("commit_transaction");
        commits.push(commit.elapsed());
    }
    let txn_took = start.elapsed();
    drop(txn);

    println!("one broker, 1 KiB records, partition 0; transactions of {PER_TXN} records");
    report("idempotent", count, idempotent_took);
    report("transactional", count, txn_took);
    println!("transactional / idempotent throughput: {:.2}", idempotent_took.as_secs_f64() / txn_took.as_secs_f64());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (what, samples) in
        [("commit_transaction (EndTxn)", &mut commits), ("delivering a transaction's records", &mut flushes)]
    {
        samples.sort();
        println!(
            "{what} over {} transactions: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            samples.len(),
            ms(percentile(samples, 0.50)),
            ms(percentile(samples, 0.99)),
            ms(percentile(samples, 1.0)),
        );
    }

    // The outcome: everything committed, one marker per transaction, the LSO at the end.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("group.id", "gregor-bench-check")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    // EndTxn answers once PrepareCommit is durable, before the last transaction's
    // markers are written, so the stable end may still trail: poll until it
    // reaches `expected` or TIMEOUT passes, then judge what was last seen.
    let expected = (count + transactions) as i64;
    let deadline = Instant::now() + TIMEOUT;
    let (low, stable_end) = loop {
        let (low, end) = consumer.fetch_watermarks("txn", 0, TIMEOUT).expect("watermarks");
        if end == expected || Instant::now() >= deadline {
            break (low, end);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("read_committed end of txn-0: {stable_end} (expected {expected}, log start {low})");
    assert_eq!(stable_end, expected, "the last stable offset must cover every record and marker");
}
