//! The partition side of transactions, driven by hand on the wire (no
//! transaction coordinator needed): transactional batches from two producers,
//! WriteTxnMarkers COMMIT for one and ABORT for the other, then Fetch
//! read_committed (LSO, aborted_transactions), ListOffsets by isolation level,
//! librdkafka consumers in both isolation levels, an open transaction holding
//! the LSO, and the same answers after a `kill -9` and restart.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse};

use crate::common::txn::{consume_until, init_producer_id, list_offset, produce, topic_name, write_marker};
use crate::common::wire::Wire;
use crate::common::TestBroker;

const TOPIC: &str = "txn";

/// A transactional batch (attributes bit 4) of `values` from the producer at `seq`.
fn txn_batch(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]]) -> bytes::Bytes {
    crate::common::wire::producer_batch(producer_id, epoch, seq, values, true)
}

fn fetch(w: &mut Wire, offset: i64, isolation_level: i8) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(TOPIC)).with_partitions(vec![
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

#[test]
fn committed_visible_aborted_hidden_open_holds_the_lso_and_restart_rebuilds_it() {
    let mut broker = TestBroker::start(&["num.partitions=1"]);
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let (a, a_epoch) = init_producer_id(&mut w);
    let (b, b_epoch) = init_producer_id(&mut w);
    assert_ne!(a, b);
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch(a, a_epoch, 0, &[b"a1", b"a2"])), (0, 0));
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch(b, b_epoch, 0, &[b"b1"])), (0, 2));
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch(a, a_epoch, 2, &[b"a3"])), (0, 3));

    // Both transactions open: nothing is stable yet.
    let open = fetch(&mut w, 0, 1);
    assert_eq!((open.high_watermark, open.last_stable_offset, end_of(&open)), (4, 0, -1));
    assert_eq!(aborted(&open), Some(vec![]));
    let uncommitted = fetch(&mut w, 0, 0);
    assert_eq!((uncommitted.last_stable_offset, end_of(&uncommitted)), (0, 4), "read_uncommitted unchanged");
    assert_eq!(aborted(&uncommitted), None);
    assert_eq!((list_offset(&mut w, TOPIC, 1), list_offset(&mut w, TOPIC, 0)), (0, 4));

    // COMMIT a, ABORT b; a stale epoch and an unknown partition are refused.
    assert_eq!(write_marker(&mut w, TOPIC, 0, (a, a_epoch), true), 0);
    assert_eq!(write_marker(&mut w, TOPIC, 0, (b, b_epoch), false), 0);
    assert_eq!(write_marker(&mut w, TOPIC, 0, (b, b_epoch - 1), false), 47, "INVALID_PRODUCER_EPOCH");
    assert_eq!(write_marker(&mut w, "no-such-topic", 0, (b, b_epoch), false), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let done = fetch(&mut w, 0, 1);
    assert_eq!((done.high_watermark, done.last_stable_offset, end_of(&done)), (6, 6, 6));
    assert_eq!(aborted(&done), Some(vec![(b, 2)]));
    assert_eq!(aborted(&fetch(&mut w, 6, 1)), Some(vec![]), "nothing aborted past the marker");
    assert_eq!(list_offset(&mut w, TOPIC, 1), 6);

    // One more committed transaction of a (offsets 6, marker 7), then b opens
    // a transaction at 8 and leaves it open.
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch(a, a_epoch, 3, &[b"a4"])), (0, 6));
    assert_eq!(write_marker(&mut w, TOPIC, 0, (a, a_epoch), true), 0);
    assert_eq!(produce(&mut w, TOPIC, 0, txn_batch(b, b_epoch, 1, &[b"b2"])), (0, 8));
    let held = fetch(&mut w, 0, 1);
    assert_eq!((held.high_watermark, held.last_stable_offset, end_of(&held)), (9, 8, 8));
    assert_eq!((list_offset(&mut w, TOPIC, 1), list_offset(&mut w, TOPIC, 0)), (8, 9));

    // librdkafka filters with the aborted list: read_committed sees a's records only.
    assert_eq!(consume_until(&broker.bootstrap(), TOPIC, "read_committed", "a4"), ["a1", "a2", "a3", "a4"]);
    assert_eq!(
        consume_until(&broker.bootstrap(), TOPIC, "read_uncommitted", "b2"),
        ["a1", "a2", "b1", "a3", "a4", "b2"]
    );
    let index = broker.log_dir().join(format!("{TOPIC}-0")).join(format!("{:020}.txnindex", 0));
    assert_eq!(std::fs::metadata(&index).expect("txnindex").len(), 34, "one aborted transaction");

    // kill -9 and restart: the LSO (b's open transaction) and the index come back.
    drop(w);
    broker.restart();
    let mut w = Wire::connect_when_led(broker.addr, TOPIC);
    let again = fetch(&mut w, 0, 1);
    assert_eq!((again.high_watermark, again.last_stable_offset, end_of(&again)), (9, 8, 8));
    assert_eq!(aborted(&again), Some(vec![(b, 2)]));
    assert_eq!(list_offset(&mut w, TOPIC, 1), 8);
    // Aborting b's open transaction after the restart releases the LSO.
    assert_eq!(write_marker(&mut w, TOPIC, 0, (b, b_epoch), false), 0);
    let released = fetch(&mut w, 0, 1);
    assert_eq!((released.last_stable_offset, end_of(&released)), (10, 10));
    assert_eq!(aborted(&released), Some(vec![(b, 2), (b, 8)]));
    assert_eq!(consume_until(&broker.bootstrap(), TOPIC, "read_committed", "a4"), ["a1", "a2", "a3", "a4"]);
}
