//! Idempotent producers across broker restarts, at the wire level: the retry
//! of an acknowledged batch is answered with its first offsets whether the
//! broker was stopped cleanly (state from the producer-state snapshot) or
//! killed with `kill -9` (state replayed from the log), and a sequence gap is
//! still OUT_OF_ORDER_SEQUENCE_NUMBER after the restart.

use crate::common::txn::{init_producer_id, produce};
use crate::common::wire::Wire;
use crate::common::TestBroker;

fn idempotent_batch(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]]) -> bytes::Bytes {
    crate::common::wire::producer_batch(producer_id, epoch, seq, values, false)
}

fn retries_survive(restart: impl FnOnce(&mut TestBroker)) {
    let mut broker = TestBroker::start(&["num.partitions=1"]);
    let mut w = Wire::connect_when_led(broker.addr, "idem");
    let (pid, epoch) = init_producer_id(&mut w);
    let first = idempotent_batch(pid, epoch, 0, &[b"a"]);
    let second = idempotent_batch(pid, epoch, 1, &[b"b", b"c", b"d"]);
    assert_eq!(produce(&mut w, "idem", 0, first.clone()), (0, 0));
    assert_eq!(produce(&mut w, "idem", 0, second.clone()), (0, 1));
    assert_eq!(produce(&mut w, "idem", 0, second.clone()), (0, 1), "a retry before the restart");
    drop(w);
    restart(&mut broker);
    let mut w = Wire::connect_when_led(broker.addr, "idem");
    assert_eq!(produce(&mut w, "idem", 0, second), (0, 1), "the retry after the restart is not appended again");
    assert_eq!(produce(&mut w, "idem", 0, first), (0, 0));
    let gap = idempotent_batch(pid, epoch, 9, &[b"x"]);
    assert_eq!(produce(&mut w, "idem", 0, gap).0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let next = idempotent_batch(pid, epoch, 4, &[b"e"]);
    assert_eq!(produce(&mut w, "idem", 0, next), (0, 4), "the next batch follows the first four records");
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
