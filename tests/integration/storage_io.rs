//! Back-pressure from the storage-I/O slots (`num.io.threads`): with one
//! slot and an fsync after every append (`log.flush.interval.messages=1`,
//! small segments so appends also roll), many producers on their own
//! connections, each with several requests in flight, wait for the disk
//! instead of failing or being reordered: every batch is acknowledged, each
//! connection's answers come back in request order with increasing offsets,
//! and a consumer reads every acknowledged record at its acknowledged offset.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Buf;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::common::txn::topic_name;
use crate::common::wire::{producer_batch, Wire};
use crate::common::TestBroker;

const TOPIC: &str = "pressed";
const PRODUCERS: usize = 12;
const BATCHES: usize = 30;
const RECORDS: usize = 3;
/// Requests each producer keeps in flight on its connection.
const IN_FLIGHT: usize = 4;
const PRODUCE_VERSION: i16 = 9;

/// The values of batch `n` of producer `p`.
fn values(p: usize, n: usize) -> Vec<String> {
    (0..RECORDS).map(|k| format!("p{p}-b{n}-r{k}-{}", "x".repeat(200))).collect()
}

/// Sends one acks=1 batch of `values` without waiting for its answer.
fn send_batch(w: &mut Wire, partition: i32, values: &[String]) {
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    // Producer id -1: a plain (non-idempotent) batch.
    let batch = producer_batch(-1, -1, -1, &refs, false);
    let req = ProduceRequest::default().with_acks(1).with_timeout_ms(30_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(topic_name(TOPIC))
            .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(batch))]),
    ]);
    w.send(ApiKey::Produce, PRODUCE_VERSION, &req);
}

/// Reads the next answer: (correlation id, error code, base offset).
fn read_answer(w: &mut Wire) -> (i32, i16, i64) {
    let mut frame = w.read_frame().expect("a produce answer");
    let header = ResponseHeader::decode(&mut frame, ApiKey::Produce.response_header_version(PRODUCE_VERSION))
        .expect("response header");
    let resp = ProduceResponse::decode(&mut frame, PRODUCE_VERSION).expect("produce response");
    assert_eq!(frame.remaining(), 0, "response fully consumed");
    let p = &resp.responses[0].partition_responses[0];
    (header.correlation_id, p.error_code, p.base_offset)
}

/// One producer: `BATCHES` batches to `partition`, `IN_FLIGHT` at a time;
/// returns the base offset of each batch, in send order.
fn produce_all(broker: std::net::SocketAddr, p: usize, partition: i32) -> Vec<i64> {
    let mut w = Wire::connect_when_led(broker, TOPIC);
    let mut offsets = Vec::with_capacity(BATCHES);
    let mut last_correlation = i32::MIN;
    let mut sent = 0;
    while offsets.len() < BATCHES {
        while sent < BATCHES && sent - offsets.len() < IN_FLIGHT {
            send_batch(&mut w, partition, &values(p, sent));
            sent += 1;
        }
        let (correlation, code, base) = read_answer(&mut w);
        assert_eq!(code, 0, "producer {p}: batch {} refused", offsets.len());
        assert!(correlation > last_correlation, "producer {p}: answers out of request order");
        last_correlation = correlation;
        offsets.push(base);
    }
    offsets
}

/// Every record of `partitions` from the start, up to `count` of them: value by (partition, offset).
fn read_back(bootstrap: &str, partitions: i32, count: usize) -> BTreeMap<(i32, i64), String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "pressed-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("librdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions {
        tpl.add_partition_offset(TOPIC, partition, Offset::Beginning).expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while out.len() < count {
        assert!(Instant::now() < deadline, "read {} of {count} records", out.len());
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            assert!(out.insert((m.partition(), m.offset()), value).is_none(), "an offset read twice");
        }
    }
    out
}

#[test]
fn producers_wait_for_the_one_io_slot_and_every_acked_record_is_read_back_in_order() {
    let broker = TestBroker::start(&[
        "num.io.threads=1",
        "num.partitions=2",
        "log.flush.interval.messages=1",
        "log.segment.bytes=16384",
    ]);
    let addr = broker.addr;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let partition = (p % 2) as i32;
            std::thread::spawn(move || (p, partition, produce_all(addr, p, partition)))
        })
        .collect();
    let acked: Vec<(usize, i32, Vec<i64>)> = producers.into_iter().map(|t| t.join().expect("producer")).collect();

    for (p, _, offsets) in &acked {
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "producer {p}: offsets not in send order: {offsets:?}");
    }
    let total = PRODUCERS * BATCHES * RECORDS;
    let stored = read_back(&broker.bootstrap(), 2, total);
    assert_eq!(stored.len(), total, "exactly the acknowledged records");
    for (p, partition, offsets) in &acked {
        for (n, base) in offsets.iter().enumerate() {
            for (k, value) in values(*p, n).iter().enumerate() {
                let at = (*partition, base + k as i64);
                assert_eq!(stored.get(&at), Some(value), "producer {p} batch {n} record {k} at {at:?}");
            }
        }
    }
    let segments = std::fs::read_dir(broker.log_dir().join(format!("{TOPIC}-0")))
        .expect("partition dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log"))
        .count();
    assert!(segments > 1, "the appends rolled segments too ({segments})");
}

/// The recovery point of `topic`-0 in the broker's `recovery-point-offset-checkpoint`.
fn checkpointed_recovery_point(log_dir: &std::path::Path, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(log_dir.join("recovery-point-offset-checkpoint")).ok()?;
    text.lines().skip(2).find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(topic) && parts.next() == Some("0")).then(|| parts.next()?.parse().ok())?
    })
}

#[test]
fn a_rolled_segment_is_flushed_right_after_the_roll_not_at_the_flusher_tick() {
    // The flusher ticks once a minute here (log.flush.scheduler.interval.ms is
    // Long.MAX_VALUE, capped); the checkpoint is written every 100 ms.
    let broker = TestBroker::start(&[
        "num.partitions=1",
        "log.segment.bytes=16384",
        "log.flush.offset.checkpoint.interval.ms=100",
    ]);
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let mut last = 0;
    for n in 0..40 {
        send_batch(&mut w, 0, &values(0, n));
        let (_, code, base) = read_answer(&mut w);
        assert_eq!(code, 0);
        last = base;
    }
    assert!(last > 0);
    let segments: Vec<i64> = std::fs::read_dir(broker.log_dir().join(format!("{TOPIC}-0")))
        .expect("partition dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".log")?.parse().ok())
        .collect();
    let active = segments.iter().copied().max().expect("segments");
    assert!(active > 0, "the appends rolled: {segments:?}");
    let flushed = crate::common::zk::wait_for(Duration::from_secs(20), || {
        checkpointed_recovery_point(&broker.log_dir(), TOPIC).is_some_and(|rp| rp >= active)
    });
    assert!(
        flushed,
        "recovery point {:?} did not reach the active segment {active} soon after the roll",
        checkpointed_recovery_point(&broker.log_dir(), TOPIC)
    );
}
