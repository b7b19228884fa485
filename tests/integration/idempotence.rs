//! Idempotent producers across broker restarts, at the wire level: the retry
//! of an acknowledged batch is answered with its first offsets whether the
//! broker was stopped cleanly (state from the producer-state snapshot) or
//! killed with `kill -9` (state replayed from the log), and a sequence gap is
//! still OUT_OF_ORDER_SEQUENCE_NUMBER after the restart.

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::common::wire::Wire;
use crate::common::TestBroker;

fn idempotent_batch(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]]) -> bytes::Bytes {
    crate::common::wire::producer_batch(producer_id, epoch, seq, values, false)
}

/// Produces one batch with acks=all: (error code, base offset).
fn produce(w: &mut Wire, topic: &str, batch: &bytes::Bytes) -> (i16, i64) {
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch.clone()))]),
    ]);
    let resp: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn retries_survive(restart: impl FnOnce(&mut TestBroker)) {
    let mut broker = TestBroker::start(&["num.partitions=1"]);
    let mut w = Wire::connect_when_led(broker.addr, "idem");
    let init: InitProducerIdResponse = w.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let first = idempotent_batch(pid, epoch, 0, &[b"a"]);
    let second = idempotent_batch(pid, epoch, 1, &[b"b", b"c", b"d"]);
    assert_eq!(produce(&mut w, "idem", &first), (0, 0));
    assert_eq!(produce(&mut w, "idem", &second), (0, 1));
    assert_eq!(produce(&mut w, "idem", &second), (0, 1), "a retry before the restart");
    drop(w);
    restart(&mut broker);
    let mut w = Wire::connect_when_led(broker.addr, "idem");
    assert_eq!(produce(&mut w, "idem", &second), (0, 1), "the retry after the restart is not appended again");
    assert_eq!(produce(&mut w, "idem", &first), (0, 0));
    let gap = idempotent_batch(pid, epoch, 9, &[b"x"]);
    assert_eq!(produce(&mut w, "idem", &gap).0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let next = idempotent_batch(pid, epoch, 4, &[b"e"]);
    assert_eq!(produce(&mut w, "idem", &next), (0, 4), "the next batch follows the first four records");
}

#[test]
fn a_retry_after_kill_9_and_restart_is_not_written_twice() {
    retries_survive(|b| b.restart());
}

#[test]
fn a_retry_after_a_clean_restart_is_not_written_twice() {
    retries_survive(|b| {
        assert_eq!(b.terminate(), Some(0));
        let names: Vec<String> = std::fs::read_dir(b.log_dir().join("idem-0"))
            .expect("partition dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        assert!(names.contains(&format!("{:020}.snapshot", 4)), "a snapshot at the log end: {names:?}");
        b.restart();
    });
}
