//! Unit tests of the transaction coordinator service over an in-memory
//! internal log, producer-id source and marker sender: the async driving of
//! the state machine (ids fetched outside the lock, EndTxn answered before
//! the markers, markers retried, Complete* appended), the hand-over of a
//! marker job to a new coordinator after a reload, and the timeout abort.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::*;
use crate::coordinator::log::{Entry, Leadership, ReplayError, Replayed};
use crate::coordinator::txn::records;
use crate::coordinator::txn::TxnResult;

/// `__transaction_state` in memory: one partition, appends always commit.
struct MemLog {
    records: Mutex<Vec<Entry>>,
    changes: watch::Sender<u64>,
}

impl MemLog {
    fn new() -> Arc<MemLog> {
        Arc::new(MemLog { records: Mutex::new(Vec::new()), changes: watch::channel(0).0 })
    }

    /// The statuses written for `id`, in order.
    fn statuses(&self, id: &str) -> Vec<TxnStatus> {
        let records = self.records.lock().expect("lock");
        records
            .iter()
            .filter(|(k, _)| records::decode_key(k).ok().flatten().as_deref() == Some(id))
            .filter_map(|(_, v)| v.as_ref().and_then(|v| records::decode_value(v).ok()).map(|v| v.status))
            .collect()
    }
}

impl InternalLog for MemLog {
    fn topic(&self) -> &str {
        TRANSACTION_STATE_TOPIC
    }

    fn append(&self, _: i32, _: Option<i32>, entries: Vec<Entry>) -> LogFuture<'_, Result<(), ErrorCode>> {
        self.records.lock().expect("lock").extend(entries);
        Box::pin(async { Ok(()) })
    }

    fn replay(&self, _: i32, visit: &mut dyn FnMut(Replayed<'_>)) -> Result<(), ReplayError> {
        let records: Vec<(Bytes, Option<Bytes>)> = self.records.lock().expect("lock").clone();
        for (i, (k, v)) in records.iter().enumerate() {
            visit(Replayed { offset: i as i64, key: Some(k), value: v.as_deref() });
        }
        Ok(())
    }

    fn leadership(&self) -> Leadership {
        Leadership { partition_count: 1, led: BTreeMap::from([(0, 5)]) }
    }

    fn leadership_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

struct Ids(AtomicI64);

impl ProducerIdSource for Ids {
    fn next_producer_id(&self) -> LogFuture<'_, Result<i64, ErrorCode>> {
        let id = self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(id) })
    }
}

/// Answers each partition with the next scripted outcome (then Written),
/// and counts the attempts per partition and coordinator epoch.
#[derive(Default)]
struct Markers {
    script: Mutex<HashMap<TopicPartition, Vec<MarkerOutcome>>>,
    /// Never write anything (a leader that stays away).
    stuck: std::sync::atomic::AtomicBool,
    calls: Mutex<Vec<(TopicPartition, i32)>>,
}

impl MarkerSender for Markers {
    fn write_markers<'a>(
        &'a self,
        job: &'a MarkerJob,
        partitions: &'a [TopicPartition],
    ) -> LogFuture<'a, Vec<(TopicPartition, MarkerOutcome)>> {
        let mut script = self.script.lock().expect("lock");
        let mut calls = self.calls.lock().expect("lock");
        let out = partitions
            .iter()
            .map(|tp| {
                calls.push((tp.clone(), job.coordinator_epoch));
                let outcome = if self.stuck.load(Ordering::SeqCst) {
                    MarkerOutcome::Retry(ErrorCode::NotLeaderOrFollower)
                } else {
                    script
                        .get_mut(tp)
                        .and_then(|s| (!s.is_empty()).then(|| s.remove(0)))
                        .unwrap_or(MarkerOutcome::Written)
                };
                (tp.clone(), outcome)
            })
            .collect();
        Box::pin(async move { out })
    }
}

fn coordinator(log: Arc<MemLog>, markers: Arc<Markers>) -> Arc<TxnCoordinator> {
    Arc::new(TxnCoordinator::new(TxnConfig::default(), log, Arc::new(Ids(AtomicI64::new(1000))), markers))
}

async fn loaded(c: &Arc<TxnCoordinator>, epoch: i32) {
    c.follow(1, vec![LeadershipEvent::Load { partition: 0, leader_epoch: epoch }]);
    assert!(c.wait_ready("app", Duration::from_secs(10)).await, "loaded");
}

/// Polls until `cond` holds (the marker jobs run as their own tasks).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn init(timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: "app".into(),
        transaction_timeout_ms: timeout_ms,
        producer_id: -1,
        producer_epoch: -1,
    }
}

fn add(pid: i64, epoch: i16, tps: &[(&str, i32)]) -> AddPartitionsRequest {
    AddPartitionsRequest {
        transactional_id: "app".into(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: tps.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect(),
    }
}

#[tokio::test]
async fn a_commit_answers_after_prepare_then_retries_markers_and_completes() {
    let (log, markers) = (MemLog::new(), Arc::new(Markers::default()));
    let slow = TopicPartition::new("orders", 1);
    markers.script.lock().expect("lock").insert(
        slow.clone(),
        vec![MarkerOutcome::Retry(ErrorCode::NotLeaderOrFollower), MarkerOutcome::Retry(ErrorCode::RequestTimedOut)],
    );
    let c = coordinator(log.clone(), markers.clone());
    assert_eq!(
        c.init_producer_id(init(60_000)).await.err(),
        Some(ErrorCode::CoordinatorNotAvailable),
        "before the topic exists"
    );
    loaded(&c, 5).await;

    // The id is fetched from the async source outside the lock.
    let r = c.init_producer_id(init(60_000)).await.expect("init");
    assert_eq!((r.producer_id, r.producer_epoch), (1000, 0));
    c.add_partitions(add(1000, 0, &[("orders", 0), ("orders", 1)])).await.expect("add");
    assert_eq!(c.describe("app").map(|d| d.state), Ok(TxnStatus::Ongoing));
    let end = EndTxnRequest {
        transactional_id: "app".into(),
        producer_id: 1000,
        producer_epoch: 0,
        result: TxnResult::Commit,
    };
    c.end_txn(end.clone()).await.expect("end");
    assert!(log.statuses("app").contains(&TxnStatus::PrepareCommit), "answered once PrepareCommit is written");

    eventually("CompleteCommit written", || log.statuses("app").last() == Some(&TxnStatus::CompleteCommit)).await;
    assert_eq!(
        log.statuses("app"),
        [TxnStatus::Empty, TxnStatus::Ongoing, TxnStatus::PrepareCommit, TxnStatus::CompleteCommit]
    );
    let calls = markers.calls.lock().expect("lock").clone();
    assert_eq!(calls.iter().filter(|(tp, _)| *tp == slow).count(), 3, "retried until written: {calls:?}");
    assert_eq!(calls.iter().filter(|(tp, _)| tp.partition == 0).count(), 1, "{calls:?}");
    let d = c.describe("app").expect("describe");
    assert_eq!((d.state, d.producer_epoch, d.partitions.len()), (TxnStatus::CompleteCommit, 0, 0));
    // A retried EndTxn of the completed commit is answered success.
    c.end_txn(end).await.expect("retried end");
    let (listed, loading) = c.list(|d| d.state == TxnStatus::CompleteCommit);
    assert_eq!((listed.len(), loading), (1, false));
}

#[tokio::test]
async fn a_new_coordinator_finishes_the_markers_and_the_old_one_stops() {
    let (log, markers) = (MemLog::new(), Arc::new(Markers::default()));
    markers.stuck.store(true, Ordering::SeqCst);
    let old = coordinator(log.clone(), markers.clone());
    loaded(&old, 5).await;
    let r = old.init_producer_id(init(60_000)).await.expect("init");
    old.add_partitions(add(r.producer_id, r.producer_epoch, &[("orders", 0)])).await.expect("add");
    let end = EndTxnRequest {
        transactional_id: "app".into(),
        producer_id: r.producer_id,
        producer_epoch: r.producer_epoch,
        result: TxnResult::Abort,
    };
    old.end_txn(end).await.expect("end");
    eventually("the old coordinator tries", || !markers.calls.lock().expect("lock").is_empty()).await;

    // Leadership moves: the old coordinator unloads, a new one loads epoch 6.
    old.follow(1, vec![LeadershipEvent::Unload { partition: 0, leader_epoch: 5 }]);
    assert_eq!(old.describe("app").err(), Some(ErrorCode::NotCoordinator));
    markers.stuck.store(false, Ordering::SeqCst);
    let new = coordinator(log.clone(), markers.clone());
    loaded(&new, 6).await;
    eventually("CompleteAbort written", || log.statuses("app").last() == Some(&TxnStatus::CompleteAbort)).await;
    let calls = markers.calls.lock().expect("lock").clone();
    assert!(calls.iter().any(|(_, epoch)| *epoch == 6), "markers re-sent under the new epoch: {calls:?}");
    let settled = calls.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(markers.calls.lock().expect("lock").len(), settled, "the old job stopped");
    assert_eq!(new.describe("app").map(|d| d.state), Ok(TxnStatus::CompleteAbort));
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let (log, markers) = (MemLog::new(), Arc::new(Markers::default()));
    let c = coordinator(log.clone(), markers);
    loaded(&c, 5).await;
    let r = c.init_producer_id(init(1)).await.expect("init");
    c.add_partitions(add(r.producer_id, r.producer_epoch, &[("orders", 0)])).await.expect("add");
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.abort_timed_out().await;
    eventually("CompleteAbort written", || log.statuses("app").last() == Some(&TxnStatus::CompleteAbort)).await;
    let d = c.describe("app").expect("describe");
    assert_eq!(d.producer_epoch, r.producer_epoch + 1, "the abort bumped the epoch");
    let end = EndTxnRequest {
        transactional_id: "app".into(),
        producer_id: r.producer_id,
        producer_epoch: r.producer_epoch,
        result: TxnResult::Commit,
    };
    assert_eq!(c.end_txn(end).await.err(), Some(ErrorCode::ProducerFenced));
}
