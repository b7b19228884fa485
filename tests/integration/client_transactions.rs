//! Transactions through our client library (`gregor::client`): the
//! consumer's `isolation.level` over a log whose transactions were written by
//! hand on the wire (as `transactions_partition.rs` does, no transaction
//! coordinator needed), `console-consumer --isolation-level`, and the
//! transactional producer against the broker's transaction coordinator.

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId, TopicName,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;

use gregor::client::{Consumer, ConsumerConfig, IsolationLevel, SeekTo};

use crate::common::wire::{producer_batch, Wire};
use crate::common::{gregor_bin, TestBroker};

const TOPIC: &str = "txn-client";

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Produces one batch to `TOPIC`-0 with acks=all; returns its base offset.
fn produce(w: &mut Wire, batch: bytes::Bytes) -> i64 {
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(name(TOPIC))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))]),
    ]);
    let resp: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce: {p:?}");
    p.base_offset
}

fn init_producer_id(w: &mut Wire) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let init: InitProducerIdResponse = w.call(ApiKey::InitProducerId, 4, &req);
    assert_eq!(init.error_code, 0);
    (init.producer_id.0, init.producer_epoch)
}

/// WriteTxnMarkers COMMIT or ABORT for one producer on `TOPIC`-0.
fn write_marker(w: &mut Wire, pid: i64, epoch: i16, commit: bool) {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(0)
        .with_topics(vec![WritableTxnMarkerTopic::default().with_name(name(TOPIC)).with_partition_indexes(vec![0])])]);
    let resp: WriteTxnMarkersResponse = w.call(ApiKey::WriteTxnMarkers, 1, &req);
    assert_eq!(resp.markers[0].topics[0].partitions[0].error_code, 0, "marker");
}

/// The log every consumer test reads, offsets in brackets:
/// a1 a2 [0-1] (a, committed), b1 [2] (b, aborted), a3 [3], COMMIT a [4],
/// ABORT b [5], c1 [6] (no transaction), a4 [7] + COMMIT a [8], b2 [9] (b,
/// left open: the last stable offset stays at 9, the high watermark is 10).
fn write_log(broker: &TestBroker) {
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let (a, a_epoch) = init_producer_id(&mut w);
    let (b, b_epoch) = init_producer_id(&mut w);
    assert_eq!(produce(&mut w, producer_batch(a, a_epoch, 0, &[b"a1", b"a2"], true)), 0);
    assert_eq!(produce(&mut w, producer_batch(b, b_epoch, 0, &[b"b1"], true)), 2);
    assert_eq!(produce(&mut w, producer_batch(a, a_epoch, 2, &[b"a3"], true)), 3);
    write_marker(&mut w, a, a_epoch, true);
    write_marker(&mut w, b, b_epoch, false);
    assert_eq!(produce(&mut w, producer_batch(-1, -1, -1, &[b"c1"], false)), 6);
    assert_eq!(produce(&mut w, producer_batch(a, a_epoch, 3, &[b"a4"], true)), 7);
    write_marker(&mut w, a, a_epoch, true);
    assert_eq!(produce(&mut w, producer_batch(b, b_epoch, 1, &[b"b2"], true)), 9);
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
