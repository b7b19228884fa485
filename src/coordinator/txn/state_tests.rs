//! Tests of every transition and error code of [`super::state`], driven as
//! the wiring will drive it: request → write → commit → reply/markers.

use std::collections::BTreeSet;

use super::records::{self, TxnStatus, TxnValue};
use super::state::*;
use super::TxnConfig;
use crate::protocol::ErrorCode;
use crate::storage::TopicPartition;

const T0: i64 = 1_000_000;

struct Ids(i64);

impl ProducerIdAllocator for Ids {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode> {
        self.0 += 1;
        Ok(self.0)
    }
}

fn part() -> TxnPartition {
    TxnPartition::new(7, 3, TxnConfig::default())
}

fn init_req(id: &str) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: id.into(),
        transaction_timeout_ms: 60_000,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    }
}

fn tps(list: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    list.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect()
}

fn add_req(id: &str, pid: i64, epoch: i16, list: &[(&str, i32)]) -> AddPartitionsRequest {
    AddPartitionsRequest { transactional_id: id.into(), producer_id: pid, producer_epoch: epoch, partitions: tps(list) }
}

fn end_req(id: &str, pid: i64, epoch: i16, result: TxnResult) -> EndTxnRequest {
    EndTxnRequest { transactional_id: id.into(), producer_id: pid, producer_epoch: epoch, result }
}

fn write(step: Step) -> Write {
    match step {
        Step::Write(w) => w,
        Step::Reply(r) => panic!("expected a write, got {r:?}"),
    }
}

fn reply(step: Step) -> Reply {
    match step {
        Step::Reply(r) => r,
        Step::Write(w) => panic!("expected a reply, got a write for {}", w.transactional_id),
    }
}

fn stored(w: &Write) -> TxnValue {
    assert_eq!(records::decode_key(&w.key).expect("key"), Some(w.transactional_id.clone()));
    records::decode_value(w.value.as_ref().expect("a value, not a tombstone")).expect("value")
}

/// Commits the write the request makes and returns its outcome.
fn commit(p: &mut TxnPartition, request: impl FnOnce(&mut TxnPartition) -> Step) -> WriteOutcome {
    let w = write(request(p));
    p.complete_write(&w, Ok(()))
}

/// A fresh id initialised: (producer id, epoch).
fn init(p: &mut TxnPartition, ids: &mut Ids, id: &str) -> (i64, i16) {
    let out = commit(p, |p| p.init_producer_id(&init_req(id), T0, ids));
    match out.reply {
        Some(Reply::ProducerId(r)) => (r.producer_id, r.producer_epoch),
        other => panic!("init answered {other:?}"),
    }
}

/// Runs markers to completion for a job and commits the Complete* record.
fn finish(p: &mut TxnPartition, job: &MarkerJob) {
    let w = p.markers_done(job, T0 + 10).expect("complete write");
    let out = p.complete_write(&w, Ok(()));
    assert_eq!(out.reply, None);
    assert!(out.markers.is_none());
}

#[test]
fn init_new_id_allocates_a_producer_id_at_epoch_zero() {
    let mut p = part();
    let mut ids = Ids(999);
    let w = write(p.init_producer_id(&init_req("tx"), T0, &mut ids));
    let v = stored(&w);
    assert_eq!((v.producer_id, v.producer_epoch, v.status, v.timeout_ms), (1000, 0, TxnStatus::Empty, 60_000));
    assert_eq!(v.start_timestamp_ms, -1);
    assert_eq!(w.coordinator_epoch, 3);
    // While the record is in flight the id is busy.
    assert_eq!(p.get("tx").expect("meta").pending_status(), Some(TxnStatus::Empty));
    assert_eq!(reply(p.init_producer_id(&init_req("tx"), T0, &mut ids)), Reply::Err(ErrorCode::ConcurrentTransactions));
    let out = p.complete_write(&w, Ok(()));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: 1000, producer_epoch: 0 })));
    assert!(out.markers.is_none());
    let meta = p.get("tx").expect("meta");
    assert_eq!((meta.status, meta.producer_epoch, meta.pending_status()), (TxnStatus::Empty, 0, None));
}

#[test]
fn init_again_bumps_the_epoch_and_fences_the_old_producer() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e0) = init(&mut p, &mut ids, "tx");
    let (pid2, e1) = init(&mut p, &mut ids, "tx");
    assert_eq!((pid2, e1), (pid, e0 + 1));
    assert_eq!(ids.0, 1, "no new producer id for a bump");
    // The zombie with the old epoch is fenced everywhere.
    assert_eq!(
        reply(p.add_partitions(&add_req("tx", pid, e0, &[("t", 0)]), T0)),
        Reply::Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e0, TxnResult::Commit), T0)), Reply::Err(ErrorCode::ProducerFenced));
    // A wrong producer id is a mapping error.
    assert_eq!(
        reply(p.add_partitions(&add_req("tx", pid + 5, e1, &[("t", 0)]), T0)),
        Reply::Err(ErrorCode::InvalidProducerIdMapping)
    );
}

#[test]
fn init_refuses_bad_requests() {
    let mut p = part();
    let mut ids = Ids(0);
    let mut req = init_req("tx");
    req.transaction_timeout_ms = 900_001;
    assert_eq!(reply(p.init_producer_id(&req, T0, &mut ids)), Reply::Err(ErrorCode::InvalidTransactionTimeout));
    req.transaction_timeout_ms = 0;
    assert_eq!(reply(p.init_producer_id(&req, T0, &mut ids)), Reply::Err(ErrorCode::InvalidTransactionTimeout));
    req.transaction_timeout_ms = 900_000;
    req.producer_epoch = 3; // an epoch without an id
    assert_eq!(reply(p.init_producer_id(&req, T0, &mut ids)), Reply::Err(ErrorCode::InvalidRequest));
    assert_eq!(reply(p.init_producer_id(&init_req(""), T0, &mut ids)), Reply::Err(ErrorCode::InvalidRequest));
    let mut failing = || -> Result<i64, ErrorCode> { Err(ErrorCode::CoordinatorLoadInProgress) };
    assert_eq!(
        reply(p.init_producer_id(&init_req("tx"), T0, &mut failing)),
        Reply::Err(ErrorCode::CoordinatorLoadInProgress)
    );
    assert!(p.get("tx").is_none());
}

#[test]
fn kip_360_recovery_with_the_current_id_and_retry_of_a_lost_answer() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e0) = init(&mut p, &mut ids, "tx");
    let recover = InitProducerIdRequest { producer_id: pid, producer_epoch: e0, ..init_req("tx") };
    let out = commit(&mut p, |p| p.init_producer_id(&recover, T0, &mut ids));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: pid, producer_epoch: e0 + 1 })));
    assert_eq!(p.get("tx").expect("meta").last_producer_epoch, e0);
    // The same request again (its answer was lost): same epoch, no bump.
    let out = commit(&mut p, |p| p.init_producer_id(&recover, T0, &mut ids));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: pid, producer_epoch: e0 + 1 })));
    // Another producer id, or an epoch that is neither current nor last.
    let stranger = InitProducerIdRequest { producer_id: pid + 100, producer_epoch: 0, ..init_req("tx") };
    assert_eq!(reply(p.init_producer_id(&stranger, T0, &mut ids)), Reply::Err(ErrorCode::ProducerFenced));
    let stale = InitProducerIdRequest { producer_id: pid, producer_epoch: 40, ..init_req("tx") };
    assert_eq!(reply(p.init_producer_id(&stale, T0, &mut ids)), Reply::Err(ErrorCode::ProducerFenced));
}

fn loaded(records: &[(String, Option<TxnValue>)]) -> (TxnPartition, LoadReport) {
    let encoded: Vec<(bytes::Bytes, Option<bytes::Bytes>)> =
        records.iter().map(|(id, v)| (records::encode_key(id), v.as_ref().map(records::encode_value))).collect();
    TxnPartition::load(7, 4, TxnConfig::default(), encoded.iter().map(|(k, v)| (&k[..], v.as_deref())))
}

fn value(pid: i64, epoch: i16, status: TxnStatus, parts: &[(&str, i32)]) -> TxnValue {
    TxnValue {
        producer_id: pid,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: epoch,
        timeout_ms: 60_000,
        status,
        partitions: tps(parts),
        last_update_timestamp_ms: T0 - 5,
        start_timestamp_ms: if parts.is_empty() { -1 } else { T0 - 10 },
        client_transaction_version: 0,
    }
}

#[test]
fn exhausted_epoch_rotates_to_a_new_producer_id() {
    let exhausted = || vec![("tx".to_string(), Some(value(50, i16::MAX - 1, TxnStatus::CompleteCommit, &[])))];
    let (mut p, _) = loaded(&exhausted());
    let mut ids = Ids(77);
    let out = commit(&mut p, |p| p.init_producer_id(&init_req("tx"), T0, &mut ids));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: 78, producer_epoch: 0 })));
    let meta = p.get("tx").expect("meta");
    assert_eq!((meta.last_producer_id, meta.last_producer_epoch), (50, NO_PRODUCER_EPOCH));

    // KIP-360: the producer itself asks with its exhausted id and epoch; the
    // rotation remembers that epoch, so a retry whose answer was lost gets
    // the new id again (case 3 of Kafka's check) without another bump.
    let (mut p, _) = loaded(&exhausted());
    let recover = InitProducerIdRequest { producer_id: 50, producer_epoch: i16::MAX - 1, ..init_req("tx") };
    let out = commit(&mut p, |p| p.init_producer_id(&recover, T0, &mut ids));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: 79, producer_epoch: 0 })));
    let out = commit(&mut p, |p| p.init_producer_id(&recover, T0, &mut ids));
    assert_eq!(out.reply, Some(Reply::ProducerId(InitProducerIdResponse { producer_id: 79, producer_epoch: 0 })));
    // Another old epoch of the rotated-away id is a zombie.
    let zombie = InitProducerIdRequest { producer_id: 50, producer_epoch: 10, ..init_req("tx") };
    assert_eq!(reply(p.init_producer_id(&zombie, T0, &mut ids)), Reply::Err(ErrorCode::ProducerFenced));
}

#[test]
fn a_whole_committed_transaction() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    // EndTxn with no transaction is an invalid state.
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)), Reply::Err(ErrorCode::InvalidTxnState));
    let w = write(p.add_partitions(&add_req("tx", pid, e, &[("a", 0), ("b", 1)]), T0 + 1));
    let v = stored(&w);
    assert_eq!((v.status, v.start_timestamp_ms, v.partitions.len()), (TxnStatus::Ongoing, T0 + 1, 2));
    // A second add while the first is in flight must wait.
    assert_eq!(
        reply(p.add_partitions(&add_req("tx", pid, e, &[("c", 0)]), T0)),
        Reply::Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(p.complete_write(&w, Ok(())).reply, Some(Reply::Ok));
    // Already in the transaction: answered at once, nothing written.
    assert_eq!(reply(p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0)), Reply::Ok);
    let out = commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("c", 2)]), T0 + 2));
    assert_eq!(out.reply, Some(Reply::Ok));
    assert_eq!(p.get("tx").expect("meta").start_timestamp_ms, T0 + 1, "start kept for later adds");

    let w = write(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0 + 3));
    assert_eq!(stored(&w).status, TxnStatus::PrepareCommit);
    assert_eq!(
        reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)),
        Reply::Err(ErrorCode::ConcurrentTransactions)
    );
    let out = p.complete_write(&w, Ok(()));
    assert_eq!(out.reply, Some(Reply::Ok), "the client is answered once Prepare* is committed");
    let job = out.markers.expect("markers");
    assert_eq!(
        (job.producer_id, job.producer_epoch, job.coordinator_epoch, job.result),
        (pid, e, 3, TxnResult::Commit)
    );
    assert_eq!(
        job.partitions,
        vec![TopicPartition::new("a", 0), TopicPartition::new("b", 1), TopicPartition::new("c", 2)]
    );
    // While markers are written everything waits.
    for step in [
        p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0),
        p.end_txn(&end_req("tx", pid, e, TxnResult::Abort), T0),
        p.add_partitions(&add_req("tx", pid, e, &[("d", 0)]), T0),
        p.init_producer_id(&init_req("tx"), T0, &mut ids),
    ] {
        assert_eq!(reply(step), Reply::Err(ErrorCode::ConcurrentTransactions));
    }
    assert_eq!(p.timed_out(T0 + 10_000_000), vec![], "a transaction being completed is not timed out");
    let w = p.markers_done(&job, T0 + 4).expect("complete write");
    let v = stored(&w);
    assert_eq!((v.status, v.partitions.len()), (TxnStatus::CompleteCommit, 0));
    assert!(p.markers_done(&job, T0 + 4).is_none(), "a job is finished once");
    let out = p.complete_write(&w, Ok(()));
    assert_eq!((out.reply, out.markers.is_none()), (None, true));
    let meta = p.get("tx").expect("meta");
    assert_eq!((meta.status, meta.partitions.len()), (TxnStatus::CompleteCommit, 0));
    // Retried EndTxn: the same result succeeds, the other is invalid.
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)), Reply::Ok);
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Abort), T0)), Reply::Err(ErrorCode::InvalidTxnState));
    // The next transaction starts afresh.
    let w = write(p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0 + 50));
    let v = stored(&w);
    assert_eq!((v.status, v.start_timestamp_ms, v.partitions.len()), (TxnStatus::Ongoing, T0 + 50, 1));
}

#[test]
fn an_aborted_transaction_and_end_txn_errors() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    assert_eq!(
        reply(p.end_txn(&end_req("nope", pid, e, TxnResult::Abort), T0)),
        Reply::Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        reply(p.add_partitions(&add_req("nope", pid, e, &[("a", 0)]), T0)),
        Reply::Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(reply(p.end_txn(&end_req("", pid, e, TxnResult::Abort), T0)), Reply::Err(ErrorCode::InvalidRequest));
    commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0));
    assert_eq!(
        reply(p.end_txn(&end_req("tx", pid + 1, e, TxnResult::Abort), T0)),
        Reply::Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        reply(p.end_txn(&end_req("tx", pid, e + 1, TxnResult::Abort), T0)),
        Reply::Err(ErrorCode::ProducerFenced)
    );
    let out = commit(&mut p, |p| p.end_txn(&end_req("tx", pid, e, TxnResult::Abort), T0));
    let job = out.markers.expect("markers");
    assert_eq!(job.result, TxnResult::Abort);
    finish(&mut p, &job);
    assert_eq!(p.get("tx").expect("meta").status, TxnStatus::CompleteAbort);
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Abort), T0)), Reply::Ok);
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)), Reply::Err(ErrorCode::InvalidTxnState));
}

#[test]
fn init_during_a_transaction_aborts_it_under_a_bumped_epoch() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0));
    let w = write(p.init_producer_id(&init_req("tx"), T0, &mut ids));
    let v = stored(&w);
    assert_eq!((v.status, v.producer_epoch), (TxnStatus::PrepareAbort, e + 1));
    // The old producer is fenced at once, before the abort is even written.
    assert_eq!(reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)), Reply::Err(ErrorCode::ProducerFenced));
    let out = p.complete_write(&w, Ok(()));
    assert_eq!(out.reply, Some(Reply::Err(ErrorCode::ConcurrentTransactions)), "the client retries");
    let job = out.markers.expect("abort markers");
    assert_eq!((job.result, job.producer_epoch), (TxnResult::Abort, e + 1));
    // The retry keeps getting CONCURRENT_TRANSACTIONS until the abort is done.
    assert_eq!(reply(p.init_producer_id(&init_req("tx"), T0, &mut ids)), Reply::Err(ErrorCode::ConcurrentTransactions));
    finish(&mut p, &job);
    let (pid2, e2) = init(&mut p, &mut ids, "tx");
    assert_eq!((pid2, e2), (pid, e + 2), "the returned epoch is bumped again");
}

#[test]
fn a_failed_fence_does_not_bump_the_epoch_twice() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0));
    let w = write(p.init_producer_id(&init_req("tx"), T0, &mut ids));
    let out = p.complete_write(&w, Err(ErrorCode::NotEnoughReplicas));
    assert_eq!(out.reply, Some(Reply::Err(ErrorCode::CoordinatorNotAvailable)));
    let meta = p.get("tx").expect("meta");
    assert_eq!((meta.status, meta.producer_epoch, meta.pending_status()), (TxnStatus::Ongoing, e + 1, None));
    let w = write(p.init_producer_id(&init_req("tx"), T0, &mut ids));
    assert_eq!(stored(&w).producer_epoch, e + 1);
    let job = p.complete_write(&w, Ok(())).markers.expect("markers");
    finish(&mut p, &job);
    // The next fence bumps again normally.
    assert_eq!(init(&mut p, &mut ids, "tx"), (pid, e + 2));
}

#[test]
fn failed_appends_clear_the_pending_state_with_kafkas_codes() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    for (append, client) in [
        (ErrorCode::NotEnoughReplicas, ErrorCode::CoordinatorNotAvailable),
        (ErrorCode::RequestTimedOut, ErrorCode::CoordinatorNotAvailable),
        (ErrorCode::NotLeaderOrFollower, ErrorCode::NotCoordinator),
        (ErrorCode::KafkaStorageError, ErrorCode::NotCoordinator),
        (ErrorCode::MessageTooLarge, ErrorCode::UnknownServerError),
    ] {
        let w = write(p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0));
        assert_eq!(p.complete_write(&w, Err(append)).reply, Some(Reply::Err(client)));
        let meta = p.get("tx").expect("meta");
        assert_eq!((meta.status, meta.pending_status()), (TxnStatus::Empty, None));
    }
    assert_eq!(commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0)).reply, Some(Reply::Ok));
}

#[test]
fn a_failed_complete_write_can_be_retried() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    commit(&mut p, |p| p.add_partitions(&add_req("tx", pid, e, &[("a", 0)]), T0));
    let job = commit(&mut p, |p| p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)).markers.expect("markers");
    let w = p.markers_done(&job, T0).expect("write");
    assert_eq!(p.complete_write(&w, Err(ErrorCode::NotEnoughReplicas)).reply, None);
    assert_eq!(p.get("tx").expect("meta").status, TxnStatus::PrepareCommit);
    assert_eq!(
        reply(p.end_txn(&end_req("tx", pid, e, TxnResult::Commit), T0)),
        Reply::Err(ErrorCode::ConcurrentTransactions)
    );
    finish(&mut p, &job);
    assert_eq!(p.get("tx").expect("meta").status, TxnStatus::CompleteCommit);
}

#[test]
fn writes_from_another_load_are_refused() {
    let mut p = part();
    let mut ids = Ids(0);
    let w = write(p.init_producer_id(&init_req("tx"), T0, &mut ids));
    let mut other = TxnPartition::new(7, 9, TxnConfig::default());
    assert_eq!(other.complete_write(&w, Ok(())).reply, Some(Reply::Err(ErrorCode::NotCoordinator)));
}

#[test]
fn load_rebuilds_state_and_resumes_prepared_transactions() {
    let mut garbage_key = records::encode_key("x").to_vec();
    garbage_key.truncate(3);
    let records = [
        ("done".to_string(), Some(value(1, 4, TxnStatus::CompleteCommit, &[]))),
        ("gone".to_string(), Some(value(2, 0, TxnStatus::Empty, &[]))),
        ("live".to_string(), Some(value(3, 1, TxnStatus::Ongoing, &[("a", 0)]))),
        ("live".to_string(), Some(value(3, 1, TxnStatus::Ongoing, &[("a", 0), ("b", 0)]))),
        ("commit".to_string(), Some(value(4, 2, TxnStatus::PrepareCommit, &[("a", 1), ("b", 2)]))),
        ("abort".to_string(), Some(value(5, 3, TxnStatus::PrepareAbort, &[("c", 0)]))),
        ("gone".to_string(), None),
    ];
    let mut encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
        .iter()
        .map(|(id, v)| (records::encode_key(id).to_vec(), v.as_ref().map(|v| records::encode_value(v).to_vec())))
        .collect();
    encoded.push((garbage_key, Some(vec![0])));
    encoded.push((records::encode_key("bad").to_vec(), Some(vec![0, 0, 1])));
    encoded.push((vec![0, 1, 0, 0], None)); // an unknown key version is skipped quietly
    let (mut p, report) =
        TxnPartition::load(7, 4, TxnConfig::default(), encoded.iter().map(|(k, v)| (&k[..], v.as_deref())));
    assert_eq!(report.skipped, 2);
    assert!(p.get("gone").is_none() && p.get("bad").is_none());
    assert_eq!(p.get("done").expect("done").producer_epoch, 4);
    assert_eq!(p.get("live").expect("live").partitions.len(), 2, "the last record wins");
    assert_eq!(p.iter().count(), 4);
    let jobs = report.markers;
    assert_eq!(jobs.len(), 2);
    let abort = jobs.iter().find(|j| j.transactional_id == "abort").expect("abort job");
    let commit_job = jobs.iter().find(|j| j.transactional_id == "commit").expect("commit job");
    assert_eq!(
        (abort.result, abort.producer_id, abort.producer_epoch, abort.coordinator_epoch),
        (TxnResult::Abort, 5, 3, 4)
    );
    assert_eq!(commit_job.partitions, vec![TopicPartition::new("a", 1), TopicPartition::new("b", 2)]);
    // Until the markers are done the prepared transactions are busy.
    let mut ids = Ids(100);
    assert_eq!(
        reply(p.end_txn(&end_req("commit", 4, 2, TxnResult::Commit), T0)),
        Reply::Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        reply(p.init_producer_id(&init_req("abort"), T0, &mut ids)),
        Reply::Err(ErrorCode::ConcurrentTransactions)
    );
    finish(&mut p, commit_job);
    finish(&mut p, abort);
    assert_eq!(p.get("commit").expect("meta").status, TxnStatus::CompleteCommit);
    assert_eq!(reply(p.end_txn(&end_req("commit", 4, 2, TxnResult::Commit), T0)), Reply::Ok);
    assert_eq!(init(&mut p, &mut ids, "abort"), (5, 4));
    // A loaded ongoing transaction carries on.
    assert_eq!(reply(p.add_partitions(&add_req("live", 3, 1, &[("b", 0)]), T0)), Reply::Ok);
}

#[test]
fn timed_out_transactions_are_aborted_with_a_bumped_epoch() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "slow");
    let (qid, f) = init(&mut p, &mut ids, "quick");
    commit(&mut p, |p| p.add_partitions(&add_req("slow", pid, e, &[("a", 0)]), T0));
    commit(&mut p, |p| p.add_partitions(&add_req("quick", qid, f, &[("a", 1)]), T0 + 59_000));
    assert_eq!(p.timed_out(T0 + 60_000), vec![], "not past the timeout yet");
    let due = p.timed_out(T0 + 60_001);
    assert_eq!(due, vec![TimedOut { transactional_id: "slow".into(), producer_id: pid, producer_epoch: e }]);
    let w = p.abort_timed_out(&due[0], T0 + 60_001).expect("abort write");
    let v = stored(&w);
    assert_eq!((v.status, v.producer_epoch), (TxnStatus::PrepareAbort, e + 1));
    assert!(p.abort_timed_out(&due[0], T0 + 60_001).is_none(), "already being aborted");
    let out = p.complete_write(&w, Ok(()));
    assert_eq!(out.reply, None, "nobody waits for a timeout abort");
    let job = out.markers.expect("markers");
    assert_eq!((job.result, job.producer_epoch), (TxnResult::Abort, e + 1));
    finish(&mut p, &job);
    // The producer that let it time out is fenced.
    assert_eq!(
        reply(p.add_partitions(&add_req("slow", pid, e, &[("a", 0)]), T0)),
        Reply::Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(p.get("slow").expect("meta").status, TxnStatus::CompleteAbort);
}

#[test]
fn idle_ids_expire_with_a_tombstone() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "idle");
    init(&mut p, &mut ids, "busy");
    let (bid, be) = (p.get("busy").expect("busy").producer_id, 0);
    commit(&mut p, |p| p.add_partitions(&add_req("busy", bid, be, &[("a", 0)]), T0));
    let expiry = TxnConfig::default().id_expiration_ms;
    assert!(p.expire_idle(T0 + expiry - 1).is_empty());
    let writes = p.expire_idle(T0 + expiry);
    assert_eq!(writes.len(), 1, "only the idle id, not the one in a transaction");
    let w = &writes[0];
    assert_eq!((w.transactional_id.as_str(), w.value.is_none()), ("idle", true));
    assert_eq!(
        reply(p.add_partitions(&add_req("idle", pid, e, &[("a", 0)]), T0)),
        Reply::Err(ErrorCode::ConcurrentTransactions),
        "expiry in flight"
    );
    assert_eq!(p.complete_write(w, Ok(())).reply, None);
    assert!(p.get("idle").is_none());
    // A new producer with that id starts from scratch.
    let (pid2, e2) = init(&mut p, &mut ids, "idle");
    assert_ne!(pid2, pid);
    assert_eq!(e2, 0);
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut p = part();
    let mut ids = Ids(0);
    let (pid, e) = init(&mut p, &mut ids, "tx");
    let w = write(p.add_offsets("tx", pid, e, super::partition_for("my-group", 50), T0));
    let want = TopicPartition::new("__consumer_offsets", super::partition_for("my-group", 50));
    assert_eq!(stored(&w).partitions, [want].into());
    assert_eq!(p.complete_write(&w, Ok(())).reply, Some(Reply::Ok));
    assert_eq!(reply(p.add_offsets("tx", pid, e - 1, 0, T0)), Reply::Err(ErrorCode::ProducerFenced));
}

#[test]
fn fenced_error_depends_on_the_request_version() {
    let f = ErrorCode::ProducerFenced;
    assert_eq!(fenced_error_for_version(FencedApi::InitProducerId, 3, f), ErrorCode::InvalidProducerEpoch);
    assert_eq!(fenced_error_for_version(FencedApi::InitProducerId, 4, f), f);
    for api in [FencedApi::AddPartitionsToTxn, FencedApi::AddOffsetsToTxn, FencedApi::EndTxn] {
        assert_eq!(fenced_error_for_version(api, 1, f), ErrorCode::InvalidProducerEpoch);
        assert_eq!(fenced_error_for_version(api, 2, f), f);
        assert_eq!(
            fenced_error_for_version(api, 0, ErrorCode::ConcurrentTransactions),
            ErrorCode::ConcurrentTransactions
        );
    }
}

#[test]
fn unknown_partitions_are_answered_without_the_coordinator() {
    let parts = tps(&[("known", 0), ("missing", 0)]);
    assert_eq!(unknown_partitions_answer(&parts, |_| true), None);
    let answer = unknown_partitions_answer(&parts, |tp| tp.topic == "known").expect("answer");
    assert_eq!(
        answer,
        vec![
            (TopicPartition::new("known", 0), ErrorCode::OperationNotAttempted),
            (TopicPartition::new("missing", 0), ErrorCode::UnknownTopicOrPartition),
        ]
    );
}

#[test]
fn replaying_the_committed_writes_rebuilds_the_same_state() {
    // Every committed write is kept as the log would keep it; loading the
    // log must give back what the live state machine holds.
    let mut p = part();
    let mut ids = Ids(0);
    let mut log: Vec<Write> = Vec::new();
    fn run(
        p: &mut TxnPartition,
        log: &mut Vec<Write>,
        request: impl FnOnce(&mut TxnPartition) -> Step,
    ) -> WriteOutcome {
        let w = write(request(p));
        let out = p.complete_write(&w, Ok(()));
        log.push(w);
        out
    }
    for id in ["a", "b", "c", "d"] {
        run(&mut p, &mut log, |p| p.init_producer_id(&init_req(id), T0, &mut ids));
    }
    let pid = |p: &TxnPartition, id: &str| p.get(id).expect("meta").producer_id;
    // a: committed; b: ongoing; c: prepared (markers not done); d: fenced mid-transaction.
    let (a, b, c, d) = (pid(&p, "a"), pid(&p, "b"), pid(&p, "c"), pid(&p, "d"));
    run(&mut p, &mut log, |p| p.add_partitions(&add_req("a", a, 0, &[("t", 0)]), T0));
    let job = run(&mut p, &mut log, |p| p.end_txn(&end_req("a", a, 0, TxnResult::Commit), T0)).markers.expect("job");
    let w = p.markers_done(&job, T0 + 1).expect("write");
    run(&mut p, &mut log, |_| Step::Write(w));
    run(&mut p, &mut log, |p| p.add_partitions(&add_req("b", b, 0, &[("t", 1), ("u", 0)]), T0));
    run(&mut p, &mut log, |p| p.add_partitions(&add_req("c", c, 0, &[("t", 2)]), T0));
    run(&mut p, &mut log, |p| p.end_txn(&end_req("c", c, 0, TxnResult::Abort), T0));
    run(&mut p, &mut log, |p| p.add_partitions(&add_req("d", d, 0, &[("t", 3)]), T0));
    run(&mut p, &mut log, |p| p.init_producer_id(&init_req("d"), T0, &mut ids));

    let (q, report) =
        TxnPartition::load(7, 4, TxnConfig::default(), log.iter().map(|w| (&w.key[..], w.value.as_deref())));
    assert_eq!(report.skipped, 0);
    for id in ["a", "b", "c", "d"] {
        let (live, back) = (p.get(id).expect("live"), q.get(id).expect("loaded"));
        assert_eq!(
            (live.producer_id, live.producer_epoch, live.status, &live.partitions, live.timeout_ms),
            (back.producer_id, back.producer_epoch, back.status, &back.partitions, back.timeout_ms),
            "{id}"
        );
        assert_eq!(
            (live.start_timestamp_ms, live.last_update_timestamp_ms),
            (back.start_timestamp_ms, back.last_update_timestamp_ms),
            "{id}"
        );
    }
    let mut resumed: Vec<(String, TxnResult, i16)> =
        report.markers.iter().map(|j| (j.transactional_id.clone(), j.result, j.producer_epoch)).collect();
    resumed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(resumed, vec![("c".into(), TxnResult::Abort, 0), ("d".into(), TxnResult::Abort, 1)]);
}
