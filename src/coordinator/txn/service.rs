//! The transaction coordinator as a running service: [`TxnCoordinator`]
//! drives the pure state machine of [`super::state`] over the internal-log
//! layer ([`crate::coordinator::log`]) for `__transaction_state`.
//!
//! It owns the loaded partitions (one mutex over [`OwnedPartitions`]; no I/O
//! happens under it), and for every request runs the state machine's
//! [`Step`]: a reply is answered at once, a [`Write`] is appended to the
//! partition under the coordinator epoch it was made in, and its commit (or
//! failure) is reported back with `complete_write`. A committed `Prepare*`
//! record yields a [`MarkerJob`], which runs as its own task so that EndTxn
//! answers as soon as the decision is durable, as Kafka's does; the job
//! writes the markers through a [`MarkerSender`] until every partition has
//! taken its marker, then appends the `Complete*` record.
//!
//! The broker is reached through two narrow traits declared here and
//! implemented by the broker (`broker::txn_markers`): a [`ProducerIdSource`]
//! and a [`MarkerSender`]; dependencies point broker → coordinator only.
//!
//! One task per broker, [`run`], follows leadership of
//! `__transaction_state` (loading a partition by replaying it, then re-sending
//! the markers of transactions left in `Prepare*`; unloading on a
//! resignation) and runs the two timers Kafka runs: aborting timed-out
//! transactions every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms` and removing
//! expired transactional ids every
//! `transaction.remove.expired.transaction.cleanup.interval.ms`. The timers
//! live in this loop rather than the broker's task registry because they act
//! on the coordinator's own state and must stop with its leadership.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::records::TxnStatus;
use super::state::{
    AddPartitionsRequest, EndTxnRequest, InitProducerIdRequest, InitProducerIdResponse, LoadReport, MarkerJob, Reply,
    Step, TxnMetadata, TxnPartition, Write,
};
use super::{OwnedPartitions, TxnConfig, TRANSACTION_STATE_TOPIC};
use crate::coordinator::log::{InternalLog, LeadershipEvent, LeadershipFollower, LogFuture, ReplayError};
use crate::coordinator::now_ms;
use crate::network::Shutdown;
use crate::protocol::ErrorCode;
use crate::storage::TopicPartition;

/// Where new producer ids come from (the broker's durable id blocks).
pub trait ProducerIdSource: Send + Sync + 'static {
    /// The next unused producer id; an error is answered to the client.
    fn next_producer_id(&self) -> LogFuture<'_, Result<i64, ErrorCode>>;
}

/// What writing one partition's marker came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerOutcome {
    /// The marker is committed on the partition.
    Written,
    /// Try again later (no leader, leader moved, timeout, not enough
    /// replicas, connection failure…).
    Retry(ErrorCode),
    /// The partition's topic was deleted: nothing left to mark.
    TopicDeleted,
    /// The partition refused the marker for good (a newer producer epoch or
    /// coordinator epoch wrote there): this coordinator was superseded.
    Fenced(ErrorCode),
}

/// Writes transaction markers to partition leaders.
pub trait MarkerSender: Send + Sync + 'static {
    /// Writes `job`'s marker to each of `partitions` (a subset of the job's)
    /// once, grouping them by leader; answers one outcome per partition.
    fn write_markers<'a>(
        &'a self,
        job: &'a MarkerJob,
        partitions: &'a [TopicPartition],
    ) -> LogFuture<'a, Vec<(TopicPartition, MarkerOutcome)>>;
}

/// One transactional id's state as DescribeTransactions and
/// ListTransactions report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub state: TxnStatus,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// When the ongoing transaction began; −1 with none.
    pub start_timestamp_ms: i64,
    pub partitions: Vec<TopicPartition>,
}

impl TxnDescription {
    fn of(m: &TxnMetadata) -> TxnDescription {
        TxnDescription {
            transactional_id: m.transactional_id.clone(),
            state: m.status,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            timeout_ms: m.timeout_ms,
            start_timestamp_ms: m.start_timestamp_ms,
            partitions: m.partitions.iter().cloned().collect(),
        }
    }
}

/// The first wait between marker attempts; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often a partition's replay is tried before it is left unloaded
/// (NOT_COORDINATOR) until its leadership changes again.
const LOAD_ATTEMPTS: u32 = 10;

/// The transaction coordinator of one broker.
pub struct TxnCoordinator {
    config: TxnConfig,
    owned: Mutex<OwnedPartitions>,
    log: Arc<dyn InternalLog>,
    ids: Arc<dyn ProducerIdSource>,
    markers: Arc<dyn MarkerSender>,
    /// Bumped whenever a partition finished loading (or was unloaded).
    loads: watch::Sender<u64>,
}

impl std::fmt::Debug for TxnCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnCoordinator").field("topic", &self.log.topic()).finish_non_exhaustive()
    }
}

impl TxnCoordinator {
    /// A coordinator over `log` (the `__transaction_state` handle); it loads
    /// nothing until [`run`] runs.
    pub fn new(
        config: TxnConfig,
        log: Arc<dyn InternalLog>,
        ids: Arc<dyn ProducerIdSource>,
        markers: Arc<dyn MarkerSender>,
    ) -> TxnCoordinator {
        TxnCoordinator {
            config,
            owned: Mutex::new(OwnedPartitions::new(0)),
            log,
            ids,
            markers,
            loads: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, OwnedPartitions> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (at most `timeout`) until the partition of `transactional_id` is
    /// loaded here, so that FindCoordinator does not send a client to a
    /// coordinator that answers COORDINATOR_LOAD_IN_PROGRESS.
    pub async fn wait_ready(&self, transactional_id: &str, timeout: Duration) -> bool {
        let mut loads = self.loads.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            loads.borrow_and_update();
            if self.lock().for_id(transactional_id).is_ok() {
                return true;
            }
            match tokio::time::timeout_at(deadline, loads.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// InitProducerId with a transactional id.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        req: InitProducerIdRequest,
    ) -> Result<InitProducerIdResponse, ErrorCode> {
        // The state machine asks for ids synchronously, under the lock; the
        // broker's source is async. So: run the step with what was fetched so
        // far, and when it needed an id it did not have (it changes nothing
        // then), fetch one outside the lock and run it again.
        let mut fetched: Option<i64> = None;
        for _ in 0..4 {
            let mut needed = false;
            let step = {
                let mut owned = self.lock();
                let partition = owned.for_id(&req.transactional_id)?;
                let mut alloc = || {
                    fetched.take().ok_or_else(|| {
                        needed = true;
                        ErrorCode::CoordinatorNotAvailable
                    })
                };
                partition.init_producer_id(&req, now_ms(), &mut alloc)
            };
            if needed {
                fetched = Some(self.ids.next_producer_id().await?);
                continue;
            }
            return match self.run(step).await {
                Reply::ProducerId(r) => Ok(r),
                Reply::Err(code) => Err(code),
                Reply::Ok => Err(ErrorCode::UnknownServerError),
            };
        }
        Err(ErrorCode::CoordinatorNotAvailable)
    }

    /// AddPartitionsToTxn (v0–3).
    pub async fn add_partitions(self: &Arc<Self>, req: AddPartitionsRequest) -> Result<(), ErrorCode> {
        let step = {
            let mut owned = self.lock();
            owned.for_id(&req.transactional_id)?.add_partitions(&req, now_ms())
        };
        reply_ok(self.run(step).await)
    }

    /// AddOffsetsToTxn: `offsets_partition` is the group's partition of
    /// `__consumer_offsets` (the caller knows that topic's partition count).
    pub async fn add_offsets(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: i32,
    ) -> Result<(), ErrorCode> {
        let step = {
            let mut owned = self.lock();
            owned.for_id(transactional_id)?.add_offsets(
                transactional_id,
                producer_id,
                producer_epoch,
                offsets_partition,
                now_ms(),
            )
        };
        reply_ok(self.run(step).await)
    }

    /// EndTxn: answers once the Prepare* record is committed; the markers
    /// and the Complete* record follow in the background.
    pub async fn end_txn(self: &Arc<Self>, req: EndTxnRequest) -> Result<(), ErrorCode> {
        let step = {
            let mut owned = self.lock();
            owned.for_id(&req.transactional_id)?.end_txn(&req, now_ms())
        };
        reply_ok(self.run(step).await)
    }

    /// DescribeTransactions: TRANSACTIONAL_ID_NOT_FOUND for an id this
    /// coordinator does not know, or the lookup's error.
    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, ErrorCode> {
        let mut owned = self.lock();
        let partition = owned.for_id(transactional_id)?;
        partition.get(transactional_id).map(TxnDescription::of).ok_or(ErrorCode::TransactionalIdNotFound)
    }

    /// ListTransactions: the ids this broker coordinates that pass `keep`,
    /// sorted, and whether some partition is still loading (Kafka answers
    /// COORDINATOR_LOAD_IN_PROGRESS with what it has then).
    pub fn list(&self, keep: impl Fn(&TxnDescription) -> bool) -> (Vec<TxnDescription>, bool) {
        let mut owned = self.lock();
        let loading = owned.is_loading();
        let mut out: Vec<TxnDescription> = owned
            .loaded_mut()
            .flat_map(|p| p.iter().map(TxnDescription::of).collect::<Vec<_>>())
            .filter(|d| d.state != TxnStatus::Dead && keep(d))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (out, loading)
    }

    /// Runs a step: a reply is returned as is; a write is appended and its
    /// outcome applied (starting its markers, if any).
    async fn run(self: &Arc<Self>, step: Step) -> Reply {
        match step {
            Step::Reply(reply) => reply,
            Step::Write(write) => self.write(write).await.unwrap_or(Reply::Err(ErrorCode::UnknownServerError)),
        }
    }

    /// Appends `write` under its coordinator epoch and applies the result:
    /// the reply for the request that made it, if anyone waits.
    async fn write(self: &Arc<Self>, write: Write) -> Option<Reply> {
        let result = self.append_write(&write).await;
        if let Err(code) = result {
            tracing::debug!(transactional_id = %write.transactional_id, ?code, "cannot append to {TRANSACTION_STATE_TOPIC}");
        }
        let outcome = {
            let mut owned = self.lock();
            match owned.for_id(&write.transactional_id) {
                Ok(state) => state.complete_write(&write, result),
                // Unloaded meanwhile: whoever waits learns to look again.
                Err(_) => return Some(Reply::Err(ErrorCode::NotCoordinator)),
            }
        };
        if let Some(job) = outcome.markers {
            self.start_markers(job);
        }
        outcome.reply
    }

    /// The `__transaction_state` partition of an id, as loaded now.
    fn partition_of(&self, transactional_id: &str) -> Option<i32> {
        self.lock().for_id(transactional_id).ok().map(|p| p.partition())
    }

    /// Appends `w`'s record to its id's `__transaction_state` partition,
    /// fenced by the write's coordinator epoch; NOT_COORDINATOR once that
    /// partition is no longer loaded here.
    async fn append_write(&self, w: &Write) -> Result<(), ErrorCode> {
        match self.partition_of(&w.transactional_id) {
            Some(p) => self.log.append(p, Some(w.coordinator_epoch), vec![(w.key.clone(), w.value.clone())]).await,
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    /// Whether `job` is still this coordinator's to finish: its id's
    /// partition is loaded here under the job's coordinator epoch.
    fn owns(&self, job: &MarkerJob) -> bool {
        self.lock().for_id(&job.transactional_id).is_ok_and(|p| p.coordinator_epoch() == job.coordinator_epoch)
    }

    fn start_markers(self: &Arc<Self>, job: MarkerJob) {
        let me = self.clone();
        tokio::spawn(async move { me.finish(job).await });
    }

    /// Writes the markers of `job` until every partition has taken its own,
    /// then appends the Complete* record. Stops when this coordinator no
    /// longer owns the id under the job's epoch: the new owner redoes the
    /// job after loading.
    async fn finish(self: Arc<Self>, job: MarkerJob) {
        if !self.send_markers(&job).await {
            return;
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let write = {
                let mut owned = self.lock();
                match owned.for_id(&job.transactional_id) {
                    Ok(state) => state.markers_done(&job, now_ms()),
                    Err(_) => None,
                }
            };
            let Some(write) = write else { return };
            let result = self.append_write(&write).await;
            {
                let mut owned = self.lock();
                if let Ok(state) = owned.for_id(&job.transactional_id) {
                    state.complete_write(&write, result);
                }
            }
            match result {
                Ok(()) => {
                    tracing::debug!(transactional_id = %job.transactional_id, result = ?job.result, "transaction completed");
                    return;
                }
                Err(code) => {
                    tracing::warn!(transactional_id = %job.transactional_id, ?code, "cannot write the transaction's completion; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Sends the markers of `job` with retries; `false` if the job was given
    /// up (no longer owned, or fenced).
    async fn send_markers(&self, job: &MarkerJob) -> bool {
        let mut remaining: Vec<TopicPartition> = job.partitions.clone();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        while !remaining.is_empty() {
            if !self.owns(job) {
                tracing::info!(transactional_id = %job.transactional_id, "no longer coordinating the transaction; its markers are left to the new coordinator");
                return false;
            }
            let results = self.markers.write_markers(job, &remaining).await;
            let mut retry = BTreeSet::new();
            for (tp, outcome) in results {
                match outcome {
                    MarkerOutcome::Written => {}
                    MarkerOutcome::TopicDeleted => {
                        tracing::info!(partition = %tp, transactional_id = %job.transactional_id, "topic deleted; no marker to write");
                    }
                    MarkerOutcome::Retry(code) => {
                        if attempts > 0 && attempts.is_multiple_of(20) {
                            tracing::warn!(partition = %tp, transactional_id = %job.transactional_id, ?code, attempts, "a transaction marker is still not written; retrying");
                        }
                        retry.insert(tp);
                    }
                    MarkerOutcome::Fenced(code) => {
                        tracing::warn!(partition = %tp, transactional_id = %job.transactional_id, ?code, "a partition refused the transaction marker; giving up the transaction");
                        return false;
                    }
                }
            }
            // Partitions the sender did not answer for are retried too.
            remaining.retain(|tp| retry.contains(tp));
            if !remaining.is_empty() {
                attempts += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        true
    }

    /// Applies leadership changes of `__transaction_state`.
    fn follow(self: &Arc<Self>, partition_count: i32, events: Vec<LeadershipEvent>) {
        let mut loads = Vec::new();
        {
            let mut owned = self.lock();
            owned.set_partition_count(partition_count);
            for event in events {
                match event {
                    LeadershipEvent::Unload { partition, leader_epoch } => {
                        owned.unload(partition, Some(leader_epoch));
                        tracing::info!(
                            partition,
                            "no longer coordinating the transactions of {TRANSACTION_STATE_TOPIC}-{partition}"
                        );
                    }
                    LeadershipEvent::Load { partition, leader_epoch } => {
                        owned.begin_loading(partition, leader_epoch);
                        loads.push((partition, leader_epoch));
                    }
                }
            }
        }
        self.loads.send_modify(|n| *n = n.wrapping_add(1));
        for (partition, epoch) in loads {
            let me = self.clone();
            tokio::spawn(async move { me.load(partition, epoch).await });
        }
    }

    async fn load(self: Arc<Self>, partition: i32, epoch: i32) {
        let started = std::time::Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        let (state, report) = loop {
            attempts += 1;
            let log = self.log.clone();
            let config = self.config.clone();
            // Records are applied as they are replayed, not collected first.
            let replayed = tokio::task::spawn_blocking(move || {
                let mut state = TxnPartition::new(partition, epoch, config);
                let mut report = LoadReport::default();
                let replayed = log.replay(partition, &mut |r| {
                    if let Some(key) = r.key {
                        state.apply_record(key, r.value, &mut report);
                    }
                });
                replayed.map(|()| {
                    state.finish_load(&mut report);
                    (state, report)
                })
            })
            .await;
            match replayed {
                Ok(Ok(loaded)) => break loaded,
                Ok(Err(ReplayError::ShuttingDown)) => return,
                Ok(Err(err)) if attempts < LOAD_ATTEMPTS => {
                    tracing::warn!(partition, %err, "cannot load {TRANSACTION_STATE_TOPIC}-{partition}; retrying");
                }
                Ok(Err(err)) => {
                    tracing::error!(partition, %err, attempts, "cannot load {TRANSACTION_STATE_TOPIC}-{partition}");
                    self.lock().unload(partition, Some(epoch));
                    return;
                }
                Err(err) => {
                    tracing::error!(partition, %err, "loading {TRANSACTION_STATE_TOPIC}-{partition} panicked");
                    self.lock().unload(partition, Some(epoch));
                    return;
                }
            }
            // A later leadership supersedes this load anyway (its result
            // would be dropped); retrying a stale one costs one replay.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        let ids = state.iter().count();
        let kept = self.lock().finish_loading(state);
        if !kept {
            return;
        }
        self.loads.send_modify(|n| *n = n.wrapping_add(1));
        if report.skipped > 0 {
            tracing::warn!(
                partition,
                skipped = report.skipped,
                "skipped unreadable records of {TRANSACTION_STATE_TOPIC}-{partition}"
            );
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            partition,
            coordinator_epoch = epoch,
            transactional_ids = ids,
            resumed = report.markers.len(),
            elapsed_ms,
            "loaded the transactions of {TRANSACTION_STATE_TOPIC}-{partition}"
        );
        for job in report.markers {
            self.start_markers(job);
        }
    }

    /// Aborts every transaction that ran past its timeout (bumping the
    /// producer's epoch, as Kafka does, so the producer is fenced).
    async fn abort_timed_out(self: &Arc<Self>) {
        let now = now_ms();
        let writes: Vec<Write> = {
            let mut owned = self.lock();
            let mut writes = Vec::new();
            for state in owned.loaded_mut() {
                for t in state.timed_out(now) {
                    if let Some(w) = state.abort_timed_out(&t, now) {
                        tracing::info!(transactional_id = %t.transactional_id, producer_id = t.producer_id, "aborting a transaction that ran past its timeout");
                        writes.push(w);
                    }
                }
            }
            writes
        };
        self.spawn_writes(writes);
    }

    /// Removes transactional ids idle for `transactional.id.expiration.ms`.
    async fn expire_idle(self: &Arc<Self>) {
        let now = now_ms();
        let writes: Vec<Write> = {
            let mut owned = self.lock();
            owned.loaded_mut().flat_map(|state| state.expire_idle(now)).collect()
        };
        if !writes.is_empty() {
            tracing::info!(
                expired = writes.len(),
                "removing expired transactional ids (transactional.id.expiration.ms)"
            );
        }
        self.spawn_writes(writes);
    }

    fn spawn_writes(self: &Arc<Self>, writes: Vec<Write>) {
        for w in writes {
            let me = self.clone();
            tokio::spawn(async move {
                me.write(w).await;
            });
        }
    }

    /// Forgets every partition (shutdown): marker jobs stop at their next
    /// ownership check.
    fn unload_all(&self) {
        let mut owned = self.lock();
        let partitions: Vec<i32> = owned.loaded_mut().map(|p| p.partition()).collect();
        for p in partitions {
            owned.unload(p, None);
        }
        owned.set_partition_count(0);
    }
}

fn reply_ok(reply: Reply) -> Result<(), ErrorCode> {
    match reply {
        Reply::Ok => Ok(()),
        Reply::Err(code) => Err(code),
        Reply::ProducerId(_) => Err(ErrorCode::UnknownServerError),
    }
}

/// The event-driven task `txn-coordinator`: follows leadership of
/// `__transaction_state` and runs the abort and expiry timers until
/// `shutdown`, then forgets every partition (marker jobs stop at their next
/// ownership check; a new leader redoes them after loading).
pub async fn run(coordinator: Arc<TxnCoordinator>, mut shutdown: Shutdown) {
    let mut leadership = LeadershipFollower::new(coordinator.log.clone());
    let abort_every = Duration::from_millis(coordinator.config.abort_timed_out_interval_ms.max(1) as u64);
    let expire_every = Duration::from_millis(coordinator.config.remove_expired_interval_ms.max(1) as u64);
    let mut abort_timer = tokio::time::interval_at(Instant::now() + abort_every, abort_every);
    let mut expire_timer = tokio::time::interval_at(Instant::now() + expire_every, expire_every);
    abort_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    expire_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(events) = leadership.poll() {
            coordinator.follow(leadership.current().partition_count, events);
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            alive = leadership.changed() => if !alive { break },
            _ = abort_timer.tick() => coordinator.abort_timed_out().await,
            _ = expire_timer.tick() => coordinator.expire_idle().await,
        }
    }
    coordinator.unload_all();
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
