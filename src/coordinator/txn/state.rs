//! One `__transaction_state` partition's transactional ids and Kafka's rules
//! for moving them between states, with no I/O.
//!
//! # How the caller drives it
//! Every request method answers with a [`Step`]: either a [`Reply`] to send
//! at once, or a [`Write`] — a record to append to this partition of
//! `__transaction_state`. While a write is in flight the transactional id
//! carries a *pending* transition (Kafka's `pendingState`), so concurrent
//! requests for it get CONCURRENT_TRANSACTIONS. When the append is committed
//! (or fails) the caller reports it with [`TxnPartition::complete_write`],
//! which applies the transition and returns the [`WriteOutcome`]: the reply
//! for the request, if any, and possibly a [`MarkerJob`].
//!
//! Ending a transaction is two-phase, as in Kafka:
//! 1. EndTxn (or an abort for a fenced producer or a timeout) writes
//!    `PrepareCommit`/`PrepareAbort`. Once that record is committed the
//!    outcome answers the client and carries a [`MarkerJob`]: the caller
//!    writes a COMMIT/ABORT control batch (producer id, epoch, coordinator
//!    epoch) to every partition of the job, grouping them by leader and
//!    retrying until each partition has taken its marker.
//! 2. Then the caller calls [`TxnPartition::markers_done`], which returns the
//!    `CompleteCommit`/`CompleteAbort` [`Write`]; its outcome replies to no
//!    one. If that append fails the caller may call `markers_done` again.
//!
//! After a failover, [`TxnPartition::load`] rebuilds the state from the
//! replayed records and returns a [`MarkerJob`] for every transaction left in
//! a `Prepare*` state, so the new coordinator finishes what the old began.
//!
//! Timers are the caller's: every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms` it calls
//! [`TxnPartition::timed_out`] and [`TxnPartition::abort_timed_out`] for each,
//! and every `transaction.remove.expired.transaction.cleanup.interval.ms`
//! [`TxnPartition::expire_idle`]; the writes these return are driven like any
//! other. Errors are Kafka's codes (PRODUCER_FENCED for a fenced epoch; the
//! handler turns it into INVALID_PRODUCER_EPOCH for old request versions with
//! [`fenced_error_for_version`]).

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;

use super::records::{self, TxnStatus, TxnValue};
use super::TxnConfig;
use crate::protocol::ErrorCode;
use crate::storage::TopicPartition;

/// The producer id of "none" in Kafka's records and requests.
pub const NO_PRODUCER_ID: i64 = -1;
/// The producer epoch of "none".
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// How a transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnResult {
    Commit,
    Abort,
}

/// Hands out new producer ids (the broker's producer-id block). An error is
/// answered to the client as is.
pub trait ProducerIdAllocator {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode>;
}

impl<F: FnMut() -> Result<i64, ErrorCode>> ProducerIdAllocator for F {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode> {
        self()
    }
}

/// InitProducerId with a transactional id, as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct InitProducerIdRequest {
    pub transactional_id: String,
    pub transaction_timeout_ms: i32,
    /// v3+ (KIP-360): the id and epoch the producer already has, or −1/−1.
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// What InitProducerId answers on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// AddPartitionsToTxn (v0–3, one transactional id), or AddOffsetsToTxn
/// turned into the group's `__consumer_offsets` partition.
#[derive(Clone, Debug)]
pub struct AddPartitionsRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: BTreeSet<TopicPartition>,
}

/// EndTxn.
#[derive(Clone, Debug)]
pub struct EndTxnRequest {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub result: TxnResult,
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// InitProducerId succeeded.
    ProducerId(InitProducerIdResponse),
    /// AddPartitionsToTxn, AddOffsetsToTxn or EndTxn succeeded.
    Ok,
    /// The request failed with this code (InitProducerId answers −1/−1).
    Err(ErrorCode),
}

/// What a request method asks the caller to do next.
#[derive(Debug)]
pub enum Step {
    /// Answer now; nothing was changed.
    Reply(Reply),
    /// Append this record, await its commit, then call
    /// [`TxnPartition::complete_write`]; the answer comes from there.
    Write(Write),
}

/// Why a write was made, which decides what its commit leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    InitProducerId,
    AddPartitions,
    /// Prepare* on a client's EndTxn.
    EndTxn,
    /// PrepareAbort fencing the producer of an ongoing transaction on
    /// InitProducerId: the client is told to retry (CONCURRENT_TRANSACTIONS).
    FenceOnInit,
    /// PrepareAbort of a timed-out transaction: nobody waits for it.
    TimeoutAbort,
    /// Complete* after the markers.
    Complete,
    /// The tombstone of an expired transactional id.
    Expire,
}

/// A record to append to this partition of `__transaction_state`.
#[derive(Clone, Debug)]
pub struct Write {
    pub transactional_id: String,
    pub key: Bytes,
    /// `None` is a tombstone (the id expired).
    pub value: Option<Bytes>,
    /// The coordinator epoch the write was made under (the partition's
    /// leader epoch at load); a write from an older load is refused.
    pub coordinator_epoch: i32,
    seq: u64,
    purpose: Purpose,
}

/// The transaction markers to write after a `Prepare*` record committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub result: TxnResult,
    /// Every partition needs a marker; the caller groups them by leader.
    pub partitions: Vec<TopicPartition>,
    seq: u64,
}

/// What the commit (or failure) of a [`Write`] leads to.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// The answer for the request that made the write; `None` when nobody
    /// waits (timeouts, expiry, Complete*).
    pub reply: Option<Reply>,
    /// Markers to send now (after a Prepare* record committed).
    pub markers: Option<MarkerJob>,
}

/// The ids whose ongoing transaction ran past its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOut {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// What loading a partition found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Transactions left in Prepare*: send their markers, then call
    /// [`TxnPartition::markers_done`].
    pub markers: Vec<MarkerJob>,
    /// Records that could not be read and were skipped (the caller logs).
    pub skipped: usize,
}

/// The target of a transition, applied when its record commits.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Transit {
    producer_id: i64,
    last_producer_id: i64,
    producer_epoch: i16,
    last_producer_epoch: i16,
    timeout_ms: i32,
    status: TxnStatus,
    partitions: BTreeSet<TopicPartition>,
    start_timestamp_ms: i64,
    last_update_timestamp_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// A record is being appended.
    Appending(Purpose),
    /// Markers are being written; the transit is the Complete* to write next.
    Markers,
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    target: Transit,
    phase: Phase,
}

/// One transactional id's state (Kafka's `TransactionMetadata`).
#[derive(Clone, Debug)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (KIP-360 retries).
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, while the producer may retry it; −1
    /// otherwise (not stored in the log).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    pub partitions: BTreeSet<TopicPartition>,
    /// When the first partition was added; −1 with no transaction.
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
    pending: Option<Pending>,
    /// A fencing bump whose write failed: the next fence reuses the epoch.
    has_failed_epoch_fence: bool,
}

impl TxnMetadata {
    /// The state a transition in flight is heading to, if any.
    pub fn pending_status(&self) -> Option<TxnStatus> {
        self.pending.as_ref().map(|p| p.target.status)
    }

    fn from_value(transactional_id: &str, v: TxnValue) -> TxnMetadata {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            last_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: v.timeout_ms,
            status: v.status,
            partitions: v.partitions,
            start_timestamp_ms: v.start_timestamp_ms,
            last_update_timestamp_ms: v.last_update_timestamp_ms,
            pending: None,
            has_failed_epoch_fence: false,
        }
    }

    /// A transition to `status` that keeps every other field (the caller
    /// changes what the transition changes).
    fn transit(&self, status: TxnStatus, now_ms: i64) -> Transit {
        Transit {
            producer_id: self.producer_id,
            // As Kafka: every transition records the current id as the last.
            last_producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            timeout_ms: self.timeout_ms,
            status,
            partitions: self.partitions.clone(),
            start_timestamp_ms: self.start_timestamp_ms,
            last_update_timestamp_ms: now_ms,
        }
    }

    fn apply(&mut self, t: Transit) {
        self.producer_id = t.producer_id;
        self.last_producer_id = t.last_producer_id;
        self.producer_epoch = t.producer_epoch;
        self.last_producer_epoch = t.last_producer_epoch;
        self.timeout_ms = t.timeout_ms;
        self.status = t.status;
        self.partitions = t.partitions;
        self.start_timestamp_ms = t.start_timestamp_ms;
        self.last_update_timestamp_ms = t.last_update_timestamp_ms;
    }

    fn epoch_exhausted(&self) -> bool {
        epoch_exhausted(self.producer_epoch)
    }
}

/// Kafka keeps `Short.MaxValue` free so a producer can always be fenced.
fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

fn stored(t: &Transit) -> TxnValue {
    TxnValue {
        producer_id: t.producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: t.producer_epoch,
        timeout_ms: t.timeout_ms,
        status: t.status,
        partitions: t.partitions.clone(),
        last_update_timestamp_ms: t.last_update_timestamp_ms,
        start_timestamp_ms: t.start_timestamp_ms,
        client_transaction_version: 0,
    }
}

/// The transactional ids of one `__transaction_state` partition that this
/// broker leads, at one coordinator epoch.
#[derive(Debug)]
pub struct TxnPartition {
    partition: i32,
    coordinator_epoch: i32,
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
    next_seq: u64,
}

impl TxnPartition {
    /// An empty partition (a new topic, or tests).
    pub fn new(partition: i32, coordinator_epoch: i32, config: TxnConfig) -> TxnPartition {
        TxnPartition { partition, coordinator_epoch, config, txns: HashMap::new(), next_seq: 0 }
    }

    /// Rebuilds the partition from its records replayed in offset order
    /// (`(key, value)`, a `None` value being a tombstone). Unreadable records
    /// are skipped and counted; the last record of an id wins. The service
    /// does the same while replaying, with [`TxnPartition::apply_record`]
    /// and [`TxnPartition::finish_load`].
    pub fn load<'a>(
        partition: i32,
        coordinator_epoch: i32,
        config: TxnConfig,
        records: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> (TxnPartition, LoadReport) {
        let mut state = TxnPartition::new(partition, coordinator_epoch, config);
        let mut report = LoadReport::default();
        for (key, value) in records {
            state.apply_record(key, value, &mut report);
        }
        state.finish_load(&mut report);
        (state, report)
    }

    /// Loading, one replayed record at a time (in log order, on a state
    /// fresh from [`TxnPartition::new`]): the latest value of each id wins,
    /// a tombstone or Dead removes it, unreadable records are counted.
    pub fn apply_record(&mut self, key: &[u8], value: Option<&[u8]>, report: &mut LoadReport) {
        let id = match records::decode_key(key) {
            Ok(Some(id)) => id,
            Ok(None) => return,
            Err(_) => {
                report.skipped += 1;
                return;
            }
        };
        match value.map(records::decode_value) {
            None => {
                self.txns.remove(&id);
            }
            Some(Ok(v)) if v.status == TxnStatus::Dead => {
                self.txns.remove(&id);
            }
            Some(Ok(v)) => {
                self.txns.insert(id.clone(), TxnMetadata::from_value(&id, v));
            }
            Some(Err(_)) => report.skipped += 1,
        }
    }

    /// Loading is done (every record applied): the transactions left
    /// prepared get their markers sent again.
    pub fn finish_load(&mut self, report: &mut LoadReport) {
        let mut prepared: Vec<String> = self
            .txns
            .values()
            .filter(|m| matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort))
            .map(|m| m.transactional_id.clone())
            .collect();
        prepared.sort();
        for id in prepared {
            if let Some(job) = self.start_markers(&id, 0) {
                report.markers.push(job);
            }
        }
    }

    /// The partition of `__transaction_state` this state belongs to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// One transactional id's state (DescribeTransactions).
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id's state (ListTransactions).
    pub fn iter(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Marks `id` as heading to `target` and builds the record to append.
    fn begin(&mut self, id: &str, target: Transit, purpose: Purpose) -> Write {
        let seq = self.seq();
        self.begin_as(seq, id, target, purpose)
    }

    /// [`Self::begin`] under a given sequence number: the Complete* write
    /// keeps its marker job's, so a failed append returns to that job.
    fn begin_as(&mut self, seq: u64, id: &str, target: Transit, purpose: Purpose) -> Write {
        let value = if target.status == TxnStatus::Dead { None } else { Some(records::encode_value(&stored(&target))) };
        if let Some(meta) = self.txns.get_mut(id) {
            meta.pending = Some(Pending { seq, target, phase: Phase::Appending(purpose) });
        }
        Write {
            transactional_id: id.to_string(),
            key: records::encode_key(id),
            value,
            coordinator_epoch: self.coordinator_epoch,
            seq,
            purpose,
        }
    }

    /// InitProducerId with a transactional id: a new id gets a producer id
    /// and epoch 0; a known one gets its epoch bumped (a new producer id
    /// when the epoch is exhausted), which fences older producers. An
    /// ongoing transaction is aborted first, and the client retries on
    /// CONCURRENT_TRANSACTIONS until that abort completes.
    pub fn init_producer_id(
        &mut self,
        req: &InitProducerIdRequest,
        now_ms: i64,
        ids: &mut dyn ProducerIdAllocator,
    ) -> Step {
        match self.prepare_init(req, now_ms, ids) {
            Ok(step) => step,
            Err(code) => Step::Reply(Reply::Err(code)),
        }
    }

    fn prepare_init(
        &mut self,
        req: &InitProducerIdRequest,
        now_ms: i64,
        ids: &mut dyn ProducerIdAllocator,
    ) -> Result<Step, ErrorCode> {
        let id = req.transactional_id.as_str();
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let expected = match (req.producer_id, req.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return Err(ErrorCode::InvalidRequest),
            (pid, epoch) => Some((pid, epoch)),
        };
        if req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > self.config.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        if !self.txns.contains_key(id) {
            let producer_id = ids.next_producer_id()?;
            self.txns.insert(
                id.to_string(),
                TxnMetadata {
                    transactional_id: id.to_string(),
                    producer_id,
                    last_producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                    last_producer_epoch: NO_PRODUCER_EPOCH,
                    timeout_ms: req.transaction_timeout_ms,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    start_timestamp_ms: -1,
                    last_update_timestamp_ms: now_ms,
                    pending: None,
                    has_failed_epoch_fence: false,
                },
            );
        }
        let meta = self.txns.get(id).ok_or(ErrorCode::UnknownServerError)?;
        if meta.pending.is_some() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        // KIP-360: a producer recovering with its old id and epoch is
        // accepted only when it still owns the id (or just rotated off it).
        if let Some((pid, epoch)) = expected {
            let valid = meta.producer_epoch == NO_PRODUCER_EPOCH
                || pid == meta.producer_id
                || (pid == meta.last_producer_id && epoch_exhausted(epoch));
            if !valid {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match meta.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => Err(ErrorCode::ConcurrentTransactions),
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                let expected_epoch = expected.map(|(_, e)| e);
                let target = if meta.epoch_exhausted() && expected_epoch.is_none_or(|e| e == meta.producer_epoch) {
                    let new_id = ids.next_producer_id()?;
                    let last_epoch = if expected.is_some() { meta.producer_epoch } else { NO_PRODUCER_EPOCH };
                    Transit {
                        producer_id: new_id,
                        producer_epoch: 0,
                        last_producer_epoch: last_epoch,
                        timeout_ms: req.transaction_timeout_ms,
                        partitions: BTreeSet::new(),
                        start_timestamp_ms: -1,
                        ..meta.transit(TxnStatus::Empty, now_ms)
                    }
                } else {
                    if meta.epoch_exhausted() {
                        // An exhausted epoch with a stale expected epoch:
                        // Kafka cannot bump either; the caller is a zombie.
                        return Err(ErrorCode::ProducerFenced);
                    }
                    let bumped = meta.producer_epoch + 1;
                    let (epoch, last_epoch) = match expected_epoch {
                        None => (bumped, NO_PRODUCER_EPOCH),
                        Some(e) if meta.producer_epoch == NO_PRODUCER_EPOCH || e == meta.producer_epoch => {
                            (bumped, meta.producer_epoch)
                        }
                        // A retry of a bump whose answer was lost.
                        Some(e) if e == meta.last_producer_epoch => (meta.producer_epoch, meta.last_producer_epoch),
                        Some(_) => return Err(ErrorCode::ProducerFenced),
                    };
                    Transit {
                        producer_epoch: epoch,
                        last_producer_epoch: last_epoch,
                        timeout_ms: req.transaction_timeout_ms,
                        partitions: BTreeSet::new(),
                        start_timestamp_ms: -1,
                        ..meta.transit(TxnStatus::Empty, now_ms)
                    }
                };
                Ok(Step::Write(self.begin(id, target, Purpose::InitProducerId)))
            }
            TxnStatus::Ongoing => {
                // Abort the transaction under a bumped epoch, fencing the old
                // producer at every partition; that epoch is never returned,
                // so the retry bumps again (or rotates the producer id).
                let write = self.fence_and_abort(id, now_ms, Purpose::FenceOnInit)?;
                Ok(Step::Write(write))
            }
            TxnStatus::Dead | TxnStatus::PrepareEpochFence => Err(ErrorCode::UnknownServerError),
        }
    }

    /// Kafka's epoch fence: bump the epoch in place (unless a previous
    /// fence's write failed) and write PrepareAbort under it.
    fn fence_and_abort(&mut self, id: &str, now_ms: i64, purpose: Purpose) -> Result<Write, ErrorCode> {
        let meta = self.txns.get_mut(id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.producer_epoch == i16::MAX {
            return Err(ErrorCode::UnknownServerError);
        }
        if !meta.has_failed_epoch_fence {
            meta.producer_epoch += 1;
        }
        meta.last_producer_epoch = NO_PRODUCER_EPOCH;
        let target = meta.transit(TxnStatus::PrepareAbort, now_ms);
        Ok(self.begin(id, target, purpose))
    }

    /// AddPartitionsToTxn: adds partitions to the ongoing transaction (or
    /// starts one). Already-added partitions answer at once.
    pub fn add_partitions(&mut self, req: &AddPartitionsRequest, now_ms: i64) -> Step {
        let id = req.transactional_id.as_str();
        let check = (|| {
            if id.is_empty() {
                return Err(ErrorCode::InvalidRequest);
            }
            let meta = self.txns.get(id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
            if meta.producer_id != req.producer_id {
                return Err(ErrorCode::InvalidProducerIdMapping);
            }
            if meta.producer_epoch != req.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
            if meta.pending.is_some() {
                return Err(ErrorCode::ConcurrentTransactions);
            }
            match meta.status {
                TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => Err(ErrorCode::ConcurrentTransactions),
                TxnStatus::Ongoing if req.partitions.is_subset(&meta.partitions) => Ok(None),
                TxnStatus::Dead | TxnStatus::PrepareEpochFence => Err(ErrorCode::UnknownServerError),
                status => {
                    let start = match status {
                        TxnStatus::Ongoing => meta.start_timestamp_ms,
                        _ => now_ms,
                    };
                    let mut target = meta.transit(TxnStatus::Ongoing, now_ms);
                    target.partitions.extend(req.partitions.iter().cloned());
                    target.start_timestamp_ms = start;
                    Ok(Some(target))
                }
            }
        })();
        match check {
            Err(code) => Step::Reply(Reply::Err(code)),
            Ok(None) => Step::Reply(Reply::Ok),
            Ok(Some(target)) => Step::Write(self.begin(id, target, Purpose::AddPartitions)),
        }
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition
    /// (`offsets_partition`) to the transaction.
    pub fn add_offsets(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: i32,
        now_ms: i64,
    ) -> Step {
        let partition = TopicPartition::new(crate::coordinator::OFFSETS_TOPIC, offsets_partition);
        let req = AddPartitionsRequest {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch,
            partitions: [partition].into(),
        };
        self.add_partitions(&req, now_ms)
    }

    /// EndTxn: writes PrepareCommit/PrepareAbort; a retry of an EndTxn that
    /// already completed answers success, one still completing answers
    /// CONCURRENT_TRANSACTIONS.
    pub fn end_txn(&mut self, req: &EndTxnRequest, now_ms: i64) -> Step {
        match self.prepare_end(&req.transactional_id, req.producer_id, req.producer_epoch, req.result, true, now_ms) {
            Ok(Some(target)) => Step::Write(self.begin(&req.transactional_id, target, Purpose::EndTxn)),
            Ok(None) => Step::Reply(Reply::Ok),
            Err(code) => Step::Reply(Reply::Err(code)),
        }
    }

    fn prepare_end(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TxnResult,
        from_client: bool,
        now_ms: i64,
    ) -> Result<Option<Transit>, ErrorCode> {
        if id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let meta = self.txns.get(id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        // Clients must match the epoch exactly; the coordinator's own
        // aborts come with a bumped one.
        if (from_client && producer_epoch != meta.producer_epoch) || producer_epoch < meta.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        if meta.pending.is_some() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        match (meta.status, result) {
            (TxnStatus::Ongoing, TxnResult::Commit) => Ok(Some(meta.transit(TxnStatus::PrepareCommit, now_ms))),
            (TxnStatus::Ongoing, TxnResult::Abort) => Ok(Some(meta.transit(TxnStatus::PrepareAbort, now_ms))),
            (TxnStatus::CompleteCommit, TxnResult::Commit) | (TxnStatus::CompleteAbort, TxnResult::Abort) => Ok(None),
            (TxnStatus::PrepareCommit, TxnResult::Commit) | (TxnStatus::PrepareAbort, TxnResult::Abort) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            (TxnStatus::Dead | TxnStatus::PrepareEpochFence, _) => Err(ErrorCode::UnknownServerError),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Reports the append of `write`: `Ok` once committed, else the append's
    /// error code (mapped to what the client should see, as Kafka does).
    pub fn complete_write(&mut self, write: &Write, result: Result<(), ErrorCode>) -> WriteOutcome {
        let waiting = matches!(
            write.purpose,
            Purpose::InitProducerId | Purpose::AddPartitions | Purpose::EndTxn | Purpose::FenceOnInit
        );
        let fail = |code: ErrorCode| WriteOutcome { reply: waiting.then_some(Reply::Err(code)), markers: None };
        if write.coordinator_epoch != self.coordinator_epoch {
            return fail(ErrorCode::NotCoordinator);
        }
        let Some(meta) = self.txns.get_mut(&write.transactional_id) else {
            return fail(ErrorCode::NotCoordinator);
        };
        let matches =
            meta.pending.as_ref().is_some_and(|p| p.seq == write.seq && matches!(p.phase, Phase::Appending(_)));
        if !matches {
            return fail(ErrorCode::NotCoordinator);
        }
        let Some(pending) = meta.pending.take() else {
            return fail(ErrorCode::NotCoordinator);
        };
        if let Err(code) = result {
            match write.purpose {
                // The epoch stays bumped in memory (older producers remain
                // fenced) but is not bumped again by the next fence.
                Purpose::FenceOnInit | Purpose::TimeoutAbort => meta.has_failed_epoch_fence = true,
                // Markers are written; keep the Complete* to write for a retry.
                Purpose::Complete => {
                    meta.pending = Some(Pending { phase: Phase::Markers, ..pending });
                }
                _ => {}
            }
            return fail(append_error(code));
        }
        if write.purpose == Purpose::Expire {
            self.txns.remove(&write.transactional_id);
            return WriteOutcome::default();
        }
        meta.apply(pending.target);
        let reply = match write.purpose {
            Purpose::InitProducerId => Some(Reply::ProducerId(InitProducerIdResponse {
                producer_id: meta.producer_id,
                producer_epoch: meta.producer_epoch,
            })),
            Purpose::AddPartitions | Purpose::EndTxn => Some(Reply::Ok),
            Purpose::FenceOnInit => Some(Reply::Err(ErrorCode::ConcurrentTransactions)),
            Purpose::TimeoutAbort | Purpose::Complete | Purpose::Expire => None,
        };
        if matches!(write.purpose, Purpose::Complete) {
            meta.has_failed_epoch_fence = false;
        }
        let markers = match write.purpose {
            Purpose::EndTxn | Purpose::FenceOnInit | Purpose::TimeoutAbort => {
                let now = self.txns.get(&write.transactional_id).map_or(0, |m| m.last_update_timestamp_ms);
                self.start_markers(&write.transactional_id, now)
            }
            _ => None,
        };
        WriteOutcome { reply, markers }
    }

    /// Sets a Prepare* transaction's pending Complete* and describes its
    /// markers.
    fn start_markers(&mut self, id: &str, now_ms: i64) -> Option<MarkerJob> {
        let seq = self.seq();
        let coordinator_epoch = self.coordinator_epoch;
        let meta = self.txns.get_mut(id)?;
        let (result, complete) = match meta.status {
            TxnStatus::PrepareCommit => (TxnResult::Commit, TxnStatus::CompleteCommit),
            TxnStatus::PrepareAbort => (TxnResult::Abort, TxnStatus::CompleteAbort),
            _ => return None,
        };
        let mut target = meta.transit(complete, now_ms);
        target.partitions.clear();
        meta.pending = Some(Pending { seq, target, phase: Phase::Markers });
        Some(MarkerJob {
            transactional_id: id.to_string(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            coordinator_epoch,
            result,
            partitions: meta.partitions.iter().cloned().collect(),
            seq,
        })
    }

    /// Every marker of `job` was written: returns the Complete* record to
    /// append (`None` if the job is stale, e.g. after a reload).
    pub fn markers_done(&mut self, job: &MarkerJob, now_ms: i64) -> Option<Write> {
        if job.coordinator_epoch != self.coordinator_epoch {
            return None;
        }
        let meta = self.txns.get_mut(&job.transactional_id)?;
        let pending = meta.pending.take_if(|p| p.seq == job.seq && p.phase == Phase::Markers)?;
        let mut target = pending.target;
        target.last_update_timestamp_ms = target.last_update_timestamp_ms.max(now_ms);
        Some(self.begin_as(job.seq, &job.transactional_id, target, Purpose::Complete))
    }

    /// The ids whose ongoing transaction started more than its timeout ago
    /// and has no transition in flight.
    pub fn timed_out(&self, now_ms: i64) -> Vec<TimedOut> {
        let mut out: Vec<TimedOut> = self
            .txns
            .values()
            .filter(|m| {
                m.status == TxnStatus::Ongoing
                    && m.pending.is_none()
                    && m.start_timestamp_ms.saturating_add(i64::from(m.timeout_ms)) < now_ms
            })
            .map(|m| TimedOut {
                transactional_id: m.transactional_id.clone(),
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
            })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// Aborts a timed-out transaction as Kafka does: bumps the epoch (so the
    /// producer is fenced) and writes PrepareAbort. `None` if the id moved on
    /// since [`TxnPartition::timed_out`] listed it.
    pub fn abort_timed_out(&mut self, t: &TimedOut, now_ms: i64) -> Option<Write> {
        let meta = self.txns.get(&t.transactional_id)?;
        if meta.producer_id != t.producer_id || meta.pending.is_some() || meta.status != TxnStatus::Ongoing {
            return None;
        }
        self.fence_and_abort(&t.transactional_id, now_ms, Purpose::TimeoutAbort).ok()
    }

    /// Tombstones for ids idle (no transaction) for longer than
    /// `transactional.id.expiration.ms`.
    pub fn expire_idle(&mut self, now_ms: i64) -> Vec<Write> {
        let cutoff = now_ms.saturating_sub(self.config.id_expiration_ms);
        let mut ids: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                matches!(m.status, TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort)
                    && m.pending.is_none()
                    && m.last_update_timestamp_ms <= cutoff
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        ids.sort();
        let mut writes = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(meta) = self.txns.get(&id) else { continue };
            let mut target = meta.transit(TxnStatus::Dead, meta.last_update_timestamp_ms);
            target.partitions.clear();
            writes.push(self.begin(&id, target, Purpose::Expire));
        }
        writes
    }
}

/// The error a client sees when appending to `__transaction_state` failed,
/// as Kafka maps it.
pub fn append_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::RequestTimedOut
        | ErrorCode::CoordinatorNotAvailable => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError | ErrorCode::NotCoordinator => {
            ErrorCode::NotCoordinator
        }
        ErrorCode::CoordinatorLoadInProgress => ErrorCode::CoordinatorLoadInProgress,
        _ => ErrorCode::UnknownServerError,
    }
}

/// The requests whose fencing error depends on their version (KIP-588).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FencedApi {
    InitProducerId,
    AddPartitionsToTxn,
    AddOffsetsToTxn,
    EndTxn,
}

/// PRODUCER_FENCED exists for InitProducerId v4+ and AddPartitionsToTxn,
/// AddOffsetsToTxn, EndTxn v2+; older versions get INVALID_PRODUCER_EPOCH.
pub fn fenced_error_for_version(api: FencedApi, version: i16, code: ErrorCode) -> ErrorCode {
    let first = match api {
        FencedApi::InitProducerId => 4,
        FencedApi::AddPartitionsToTxn | FencedApi::AddOffsetsToTxn | FencedApi::EndTxn => 2,
    };
    if code == ErrorCode::ProducerFenced && version < first {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// AddPartitionsToTxn's per-partition answer when some partitions do not
/// exist: those get UNKNOWN_TOPIC_OR_PARTITION and the rest
/// OPERATION_NOT_ATTEMPTED, and the coordinator is not asked (as Kafka).
/// `None` when every partition exists.
pub fn unknown_partitions_answer(
    partitions: &BTreeSet<TopicPartition>,
    exists: impl Fn(&TopicPartition) -> bool,
) -> Option<Vec<(TopicPartition, ErrorCode)>> {
    if partitions.iter().all(&exists) {
        return None;
    }
    Some(
        partitions
            .iter()
            .map(|tp| {
                let code =
                    if exists(tp) { ErrorCode::OperationNotAttempted } else { ErrorCode::UnknownTopicOrPartition };
                (tp.clone(), code)
            })
            .collect(),
    )
}
