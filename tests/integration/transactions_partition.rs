//! The partition side of transactions, driven by hand on the wire (no
//! transaction coordinator needed): transactional batches from two producers,
//! WriteTxnMarkers COMMIT for one and ABORT for the other, then Fetch
//! read_committed (LSO, aborted_transactions), ListOffsets by isolation level,
//! librdkafka consumers in both isolation levels, an open transaction holding
//! the LSO, and the same answers after a `kill -9` and restart.

use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest,
    ListOffsetsResponse, ProduceRequest, ProduceResponse, ProducerId, TopicName, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::common::wire::Wire;
use crate::common::TestBroker;

const TOPIC: &str = "txn";

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A transactional batch (attributes bit 4) of `values` from the producer at `seq`.
fn txn_batch(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]]) -> bytes::Bytes {
    crate::common::wire::producer_batch(producer_id, epoch, seq, values, true)
}

/// Produces one batch with acks=all: (error code, base offset).
fn produce(w: &mut Wire, batch: bytes::Bytes) -> (i16, i64) {
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(name(TOPIC))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))]),
    ]);
    let resp: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn init_producer_id(w: &mut Wire) -> (i64, i16) {
    let init: InitProducerIdResponse = w.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(init.error_code, 0);
    (init.producer_id.0, init.producer_epoch)
}

/// WriteTxnMarkers for one producer on `topic`-0: the partition's error code.
fn write_marker(w: &mut Wire, topic: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(0)
        .with_topics(vec![WritableTxnMarkerTopic::default().with_name(name(topic)).with_partition_indexes(vec![0])])]);
    let resp: WriteTxnMarkersResponse = w.call(ApiKey::WriteTxnMarkers, 1, &req);
    assert_eq!(resp.markers[0].producer_id.0, pid);
    resp.markers[0].topics[0].partitions[0].error_code
}

fn fetch(w: &mut Wire, offset: i64, isolation_level: i8) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(name(TOPIC)).with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)
                .with_current_leader_epoch(-1)
                .with_log_start_offset(-1),
        ])]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &req);
    let p = resp.responses[0].partitions[0].clone();
    assert_eq!(p.error_code, 0, "{p:?}");
    p
}

/// (producer id, first offset) of the aborted transactions in a fetch answer.
fn aborted(p: &PartitionData) -> Option<Vec<(i64, i64)>> {
    p.aborted_transactions.as_ref().map(|a| a.iter().map(|t| (t.producer_id.0, t.first_offset)).collect())
}

/// The offset after the last batch of a fetch answer (−1: no batch).
fn end_of(p: &PartitionData) -> i64 {
    let records = p.records.clone().unwrap_or_default();
    gregor::protocol::batch::BatchIter::new(&records).last().map_or(-1, |(h, _)| h.next_offset())
}

fn latest(w: &mut Wire, isolation_level: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 7, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Values librdkafka delivers from the start of the partition in
/// `isolation`, until it delivers `last`.
fn consume_until(broker: &TestBroker, isolation: &str, last: &str) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", format!("txn-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.last().map(String::as_str) != Some(last) {
        assert!(Instant::now() < deadline, "{isolation}: {last} not delivered, got {out:?}");
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

#[test]
fn committed_visible_aborted_hidden_open_holds_the_lso_and_restart_rebuilds_it() {
    let mut broker = TestBroker::start(&["num.partitions=1"]);
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let (a, a_epoch) = init_producer_id(&mut w);
    let (b, b_epoch) = init_producer_id(&mut w);
    assert_ne!(a, b);
    assert_eq!(produce(&mut w, txn_batch(a, a_epoch, 0, &[b"a1", b"a2"])), (0, 0));
    assert_eq!(produce(&mut w, txn_batch(b, b_epoch, 0, &[b"b1"])), (0, 2));
    assert_eq!(produce(&mut w, txn_batch(a, a_epoch, 2, &[b"a3"])), (0, 3));

    // Both transactions open: nothing is stable yet.
    let open = fetch(&mut w, 0, 1);
    assert_eq!((open.high_watermark, open.last_stable_offset, end_of(&open)), (4, 0, -1));
    assert_eq!(aborted(&open), Some(vec![]));
    let uncommitted = fetch(&mut w, 0, 0);
    assert_eq!((uncommitted.last_stable_offset, end_of(&uncommitted)), (0, 4), "read_uncommitted unchanged");
    assert_eq!(aborted(&uncommitted), None);
    assert_eq!((latest(&mut w, 1), latest(&mut w, 0)), (0, 4));

    // COMMIT a, ABORT b; a stale epoch and an unknown partition are refused.
    assert_eq!(write_marker(&mut w, TOPIC, a, a_epoch, true), 0);
    assert_eq!(write_marker(&mut w, TOPIC, b, b_epoch, false), 0);
    assert_eq!(write_marker(&mut w, TOPIC, b, b_epoch - 1, false), 47, "INVALID_PRODUCER_EPOCH");
    assert_eq!(write_marker(&mut w, "no-such-topic", b, b_epoch, false), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let done = fetch(&mut w, 0, 1);
    assert_eq!((done.high_watermark, done.last_stable_offset, end_of(&done)), (6, 6, 6));
    assert_eq!(aborted(&done), Some(vec![(b, 2)]));
    assert_eq!(aborted(&fetch(&mut w, 6, 1)), Some(vec![]), "nothing aborted past the marker");
    assert_eq!(latest(&mut w, 1), 6);

    // One more committed transaction of a (offsets 6, marker 7), then b opens
    // a transaction at 8 and leaves it open.
    assert_eq!(produce(&mut w, txn_batch(a, a_epoch, 3, &[b"a4"])), (0, 6));
    assert_eq!(write_marker(&mut w, TOPIC, a, a_epoch, true), 0);
    assert_eq!(produce(&mut w, txn_batch(b, b_epoch, 1, &[b"b2"])), (0, 8));
    let held = fetch(&mut w, 0, 1);
    assert_eq!((held.high_watermark, held.last_stable_offset, end_of(&held)), (9, 8, 8));
    assert_eq!((latest(&mut w, 1), latest(&mut w, 0)), (8, 9));

    // librdkafka filters with the aborted list: read_committed sees a's records only.
    assert_eq!(consume_until(&broker, "read_committed", "a4"), ["a1", "a2", "a3", "a4"]);
    assert_eq!(consume_until(&broker, "read_uncommitted", "b2"), ["a1", "a2", "b1", "a3", "a4", "b2"]);
    let index = broker.log_dir().join(format!("{TOPIC}-0")).join(format!("{:020}.txnindex", 0));
    assert_eq!(std::fs::metadata(&index).expect("txnindex").len(), 34, "one aborted transaction");

    // kill -9 and restart: the LSO (b's open transaction) and the index come back.
    drop(w);
    broker.restart();
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let again = fetch(&mut w, 0, 1);
    assert_eq!((again.high_watermark, again.last_stable_offset, end_of(&again)), (9, 8, 8));
    assert_eq!(aborted(&again), Some(vec![(b, 2)]));
    assert_eq!(latest(&mut w, 1), 8);
    // Aborting b's open transaction after the restart releases the LSO.
    assert_eq!(write_marker(&mut w, TOPIC, b, b_epoch, false), 0);
    let released = fetch(&mut w, 0, 1);
    assert_eq!((released.last_stable_offset, end_of(&released)), (10, 10));
    assert_eq!(aborted(&released), Some(vec![(b, 2), (b, 8)]));
    assert_eq!(consume_until(&broker, "read_committed", "a4"), ["a1", "a2", "a3", "a4"]);
}
