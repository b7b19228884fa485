//! Shared by the transaction tests: a producer id and transactional batches
//! written by hand on the wire, WriteTxnMarkers, librdkafka consumers that
//! read to a known end in either isolation level, and a three-broker cluster
//! with a small `__transaction_state`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, ProducerId, TopicName,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::wire::Wire;
use super::zk::{wait_for, TestZk};
use super::TestBroker;

/// How long the helpers wait for a record, a coordinator or a sentinel.
pub const WAIT: Duration = Duration::from_secs(60);

pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A producer id and epoch from InitProducerId v4 without a transactional id.
pub fn init_producer_id(w: &mut Wire) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let init: InitProducerIdResponse = w.call(ApiKey::InitProducerId, 4, &req);
    assert_eq!(init.error_code, 0, "InitProducerId");
    (init.producer_id.0, init.producer_epoch)
}

/// Produces one batch to `topic`-`partition` with acks=all (Produce v9):
/// (error code, base offset).
pub fn produce(w: &mut Wire, topic: &str, partition: i32, batch: bytes::Bytes) -> (i16, i64) {
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(partition).with_records(Some(batch))]),
    ]);
    let resp: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// The latest offset of `topic`-0 by ListOffsets v7 in `isolation` (0
/// read_uncommitted: the high watermark; 1 read_committed: the last stable
/// offset), asserting no error.
pub fn list_offset(w: &mut Wire, topic: &str, isolation: i8) -> i64 {
    let req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_isolation_level(isolation).with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
        ]);
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 7, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// WriteTxnMarkers (v1, coordinator epoch 0) ending one producer's
/// transaction on `topic`-`partition`: the partition's error code.
pub fn write_marker(w: &mut Wire, topic: &str, partition: i32, producer: (i64, i16), commit: bool) -> i16 {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_transaction_result(commit)
        .with_coordinator_epoch(0)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition])])]);
    let resp: WriteTxnMarkersResponse = w.call(ApiKey::WriteTxnMarkers, 1, &req);
    assert_eq!(resp.markers[0].producer_id.0, producer.0);
    resp.markers[0].topics[0].partitions[0].error_code
}

fn assigned_consumer(bootstrap: &str, group: &str, isolation: &str, partitions: &[(&str, i32)]) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("librdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition_offset(topic, *partition, Offset::Beginning).expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    c
}

/// The values of `topic`-0 a librdkafka consumer in `isolation` reads from
/// the start up to and including `last`.
pub fn consume_until(bootstrap: &str, topic: &str, isolation: &str, last: &str) -> Vec<String> {
    let c = assigned_consumer(bootstrap, &format!("txn-{isolation}"), isolation, &[(topic, 0)]);
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.last().map(String::as_str) != Some(last) {
        assert!(Instant::now() < deadline, "{isolation}: {last} not delivered, got {out:?}");
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

/// Every value of `partitions` a librdkafka consumer in `isolation` reads
/// before each partition's `sentinel` (sentinels left out).
pub fn read_to_sentinels(
    bootstrap: &str,
    group: &str,
    isolation: &str,
    partitions: &[(&str, i32)],
    sentinel: &str,
) -> BTreeSet<String> {
    let c = assigned_consumer(bootstrap, group, isolation, partitions);
    let mut values = BTreeSet::new();
    let mut ended = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while ended.len() < partitions.len() {
        assert!(
            Instant::now() < deadline,
            "{isolation}: sentinels of {ended:?} only, of {partitions:?}; values so far {values:?}"
        );
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            if value == sentinel {
                ended.insert((m.topic().to_string(), m.partition()));
            } else {
                values.insert(value);
            }
        }
    }
    values
}

/// Three brokers (ids 0–2) on one ZooKeeper with quick failure detection and
/// a three-partition `__transaction_state`, plus `extra` overrides.
pub fn cluster(zk: &TestZk, extra: &[&str]) -> Vec<TestBroker> {
    let mut overrides = vec!["transaction.state.log.num.partitions=3"];
    overrides.extend_from_slice(extra);
    super::three_brokers(zk, &overrides)
}

/// The node id coordinating `transactional_id`, asked of `b` (FindCoordinator
/// v1, key type 1) until it answers without an error.
pub fn txn_coordinator(b: &TestBroker, transactional_id: &str) -> i32 {
    let mut node = -1;
    let found = wait_for(WAIT, || {
        let mut w = Wire::connect(b.addr);
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(transactional_id.to_string()))
            .with_key_type(1);
        let r: FindCoordinatorResponse = w.call(ApiKey::FindCoordinator, 1, &req);
        node = r.node_id.0;
        r.error_code == 0
    });
    assert!(found, "no transaction coordinator for {transactional_id}");
    node
}
