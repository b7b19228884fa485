//! The transactional producer's state: Kafka's transaction state machine
//! ([`TxnState`], the rules of which call is allowed when), the partitions of
//! the current transaction, and the requests to the transaction coordinator
//! (FindCoordinator key type 1, InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn) and to the group coordinator (TxnOffsetCommit).
//!
//! [`TxnManager`] is plain data behind one lock, shared by `send` (which may
//! only append inside a transaction and registers each new partition), the
//! sender task (which sends a partition's batches only once the coordinator
//! has added it, and reports failed batches) and the API calls on
//! [`Producer`](super::Producer). Lock order: the manager before the
//! accumulator, never the other way round.
//!
//! Errors sort into three kinds, as in the Java client: retried here
//! (coordinator moving or loading, CONCURRENT_TRANSACTIONS), abortable (the
//! transaction is lost, `abort_transaction` recovers), and fatal (fenced by a
//! newer instance, not authorized: only closing helps).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, GroupId, InitProducerIdRequest,
    ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::accumulator::TopicPartition;
use crate::client::cluster::{is_transient, Cluster};
use crate::client::connection::Connection;
use crate::client::consumer::group::{find_coordinator, find_coordinator_request, parse_find_coordinator};
use crate::client::consumer::ConsumerGroupMetadata;
use crate::client::{ClientError, ResponseError};

/// The states of a transactional producer, named as in the Java client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    AbortableError,
    FatalError,
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxnState::Uninitialized => "UNINITIALIZED",
            TxnState::Initializing => "INITIALIZING",
            TxnState::Ready => "READY",
            TxnState::InTransaction => "IN_TRANSACTION",
            TxnState::Committing => "COMMITTING_TRANSACTION",
            TxnState::Aborting => "ABORTING_TRANSACTION",
            TxnState::AbortableError => "ABORTABLE_ERROR",
            TxnState::FatalError => "FATAL_ERROR",
        })
    }
}

/// What a transactional-API error means for the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnErrorKind {
    /// Look the coordinator up again, then retry.
    Relookup,
    /// Wait `retry.backoff.ms` and retry at the same coordinator.
    Retry,
    /// The transaction is lost; `abort_transaction` recovers.
    Abortable,
    /// The producer cannot go on.
    Fatal,
}

impl TxnErrorKind {
    pub(crate) fn of(err: &ClientError) -> TxnErrorKind {
        use ResponseError as E;
        match err.code() {
            Some(E::NotCoordinator | E::CoordinatorNotAvailable) => TxnErrorKind::Relookup,
            Some(E::CoordinatorLoadInProgress | E::ConcurrentTransactions | E::UnknownTopicOrPartition) => {
                TxnErrorKind::Retry
            }
            Some(
                E::ProducerFenced
                | E::InvalidProducerEpoch
                | E::TransactionalIdAuthorizationFailed
                | E::ClusterAuthorizationFailed
                | E::InvalidProducerIdMapping
                | E::UnsupportedVersion
                | E::UnsupportedForMessageFormat,
            ) => TxnErrorKind::Fatal,
            Some(_) => TxnErrorKind::Abortable,
            None if is_transient(err) => TxnErrorKind::Relookup,
            None => match err {
                ClientError::TransactionFatal(_) | ClientError::Protocol { .. } => TxnErrorKind::Fatal,
                _ => TxnErrorKind::Abortable,
            },
        }
    }
}

/// The transaction state shared by `send`, the sender task and the API calls.
#[derive(Debug)]
pub(crate) struct TxnManager {
    pub state: TxnState,
    /// Why the producer is in `AbortableError` or `FatalError`.
    pub last_error: Option<ClientError>,
    /// Producer id and epoch from InitProducerId.
    pub producer: Option<(i64, i16)>,
    /// Partitions the coordinator has added to the current transaction.
    pub added: HashSet<TopicPartition>,
    /// Partitions written to, not yet asked for.
    pub pending: BTreeSet<TopicPartition>,
    /// Partitions in an AddPartitionsToTxn request now.
    pub adding: BTreeSet<TopicPartition>,
    /// AddOffsetsToTxn succeeded in this transaction.
    pub offsets_added: bool,
    /// A batch with sequence numbers failed: the next transaction needs a new
    /// epoch so that sequences can start again at 0.
    pub needs_bump: bool,
    /// Counts transactions, so a late AddPartitionsToTxn answer of an ended
    /// transaction is ignored.
    pub generation: u64,
}

impl Default for TxnManager {
    fn default() -> Self {
        TxnManager {
            state: TxnState::Uninitialized,
            last_error: None,
            producer: None,
            added: HashSet::new(),
            pending: BTreeSet::new(),
            adding: BTreeSet::new(),
            offsets_added: false,
            needs_bump: false,
            generation: 0,
        }
    }
}

fn invalid(what: &str, state: TxnState, hint: &str) -> ClientError {
    ClientError::InvalidState(format!("Cannot {what} in state {state}: {hint}"))
}

impl TxnManager {
    /// The error to return in the error states, if in one (the sender gives
    /// up on every queued batch then).
    pub fn error_state(&self) -> Option<ClientError> {
        let cause = || Box::new(self.last_error.clone().unwrap_or(ClientError::Closed("transaction")));
        match self.state {
            TxnState::AbortableError => Some(ClientError::TransactionAbortable(cause())),
            TxnState::FatalError => Some(ClientError::TransactionFatal(cause())),
            _ => None,
        }
    }

    /// `init_transactions`: only once, before anything else (a call that timed
    /// out may be repeated).
    pub fn begin_init(&mut self) -> Result<(), ClientError> {
        if let Some(err) = self.error_state() {
            return Err(err);
        }
        match self.state {
            TxnState::Uninitialized | TxnState::Initializing => {
                self.state = TxnState::Initializing;
                Ok(())
            }
            s => Err(invalid("init_transactions", s, "the producer is already initialized")),
        }
    }

    /// A producer id is in hand: ready for transactions.
    pub fn finish_init(&mut self, producer: (i64, i16)) {
        self.producer = Some(producer);
        self.needs_bump = false;
        if self.state == TxnState::Initializing {
            self.state = TxnState::Ready;
        }
    }

    /// `begin_transaction`.
    pub fn begin(&mut self) -> Result<(), ClientError> {
        if let Some(err) = self.error_state() {
            return Err(err);
        }
        match self.state {
            TxnState::Ready => {
                self.state = TxnState::InTransaction;
                self.generation += 1;
                Ok(())
            }
            s @ (TxnState::Uninitialized | TxnState::Initializing) => {
                Err(invalid("begin_transaction", s, "call init_transactions first"))
            }
            s @ TxnState::InTransaction => Err(invalid("begin_transaction", s, "a transaction is already in progress")),
            s => Err(invalid("begin_transaction", s, "the previous transaction is still being completed")),
        }
    }

    /// `send`: allowed only inside a transaction.
    pub fn check_send(&self) -> Result<(), ClientError> {
        if let Some(err) = self.error_state() {
            return Err(err);
        }
        match self.state {
            TxnState::InTransaction => Ok(()),
            s @ (TxnState::Uninitialized | TxnState::Initializing) => {
                Err(invalid("send", s, "call init_transactions and begin_transaction first"))
            }
            s @ (TxnState::Committing | TxnState::Aborting) => {
                Err(invalid("send", s, "the transaction is being completed; begin the next one first"))
            }
            s => Err(invalid("send", s, "no transaction is in progress; call begin_transaction first")),
        }
    }

    /// Notes a partition written to in this transaction; true if it is new.
    pub fn register(&mut self, tp: &TopicPartition) -> bool {
        if self.added.contains(tp) || self.adding.contains(tp) || self.pending.contains(tp) {
            return false;
        }
        self.pending.insert(tp.clone());
        true
    }

    /// `send_offsets_to_transaction`: only inside a transaction.
    pub fn check_send_offsets(&self) -> Result<(), ClientError> {
        if let Some(err) = self.error_state() {
            return Err(err);
        }
        match self.state {
            TxnState::InTransaction => Ok(()),
            s => Err(invalid("send_offsets_to_transaction", s, "no transaction is in progress")),
        }
    }

    /// `commit_transaction`: from a transaction, or again after one that timed out.
    pub fn begin_commit(&mut self) -> Result<(), ClientError> {
        if let Some(err) = self.error_state() {
            return Err(err);
        }
        match self.state {
            TxnState::InTransaction | TxnState::Committing => {
                self.state = TxnState::Committing;
                Ok(())
            }
            s => Err(invalid("commit_transaction", s, "no transaction is in progress")),
        }
    }

    /// `abort_transaction`: from a transaction or an abortable error, or again
    /// after one that timed out.
    pub fn begin_abort(&mut self) -> Result<(), ClientError> {
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError | TxnState::Aborting => {
                self.state = TxnState::Aborting;
                Ok(())
            }
            TxnState::FatalError => Err(self.error_state().unwrap_or(ClientError::Closed("producer"))),
            s => Err(invalid("abort_transaction", s, "no transaction is in progress")),
        }
    }

    /// Whether the coordinator knows of this transaction (so EndTxn is due).
    pub fn started(&self) -> bool {
        !self.added.is_empty() || self.offsets_added
    }

    /// The transaction ended (committed or aborted): ready for the next.
    pub fn complete(&mut self) {
        if matches!(self.state, TxnState::Committing | TxnState::Aborting) {
            self.state = TxnState::Ready;
        }
        self.last_error = None;
        self.added.clear();
        self.pending.clear();
        self.adding.clear();
        self.offsets_added = false;
        self.generation += 1;
    }

    /// The transaction failed: only abort is possible now. No effect while
    /// aborting (failures are expected then) or after a fatal error.
    pub fn set_abortable(&mut self, err: ClientError) {
        if matches!(self.state, TxnState::InTransaction | TxnState::Committing) {
            tracing::debug!(%err, "transaction failed; it must be aborted");
            self.state = TxnState::AbortableError;
            self.last_error = Some(err);
        }
    }

    /// The producer cannot go on.
    pub fn set_fatal(&mut self, err: ClientError) {
        if self.state != TxnState::FatalError {
            tracing::warn!(%err, "transactional producer failed fatally");
            self.state = TxnState::FatalError;
            self.last_error = Some(err);
        }
    }

    /// Records an error by its kind (retriable ones count as abortable here:
    /// the caller has given up retrying). Returns the error to hand back.
    pub fn fail_with(&mut self, err: ClientError) -> ClientError {
        match TxnErrorKind::of(&err) {
            TxnErrorKind::Fatal => {
                self.set_fatal(err.clone());
                ClientError::TransactionFatal(Box::new(err))
            }
            _ => {
                self.set_abortable(err.clone());
                if self.state == TxnState::AbortableError {
                    ClientError::TransactionAbortable(Box::new(err))
                } else {
                    err
                }
            }
        }
    }
}

/// What a transactional producer adds to the shared producer state.
pub(crate) struct TxnShared {
    pub manager: std::sync::Mutex<TxnManager>,
    pub coordinator: TxnCoordinator,
    /// Serialises init, commit, abort and send_offsets, as the Java client
    /// allows one of them at a time.
    pub ops: tokio::sync::Mutex<()>,
    /// Signalled when an AddPartitionsToTxn request ends.
    pub changed: tokio::sync::Notify,
}

impl TxnShared {
    pub(crate) fn new(transactional_id: String, cluster: Arc<Cluster>) -> Self {
        TxnShared {
            manager: std::sync::Mutex::new(TxnManager::default()),
            coordinator: TxnCoordinator::new(transactional_id, cluster),
            ops: tokio::sync::Mutex::new(()),
            changed: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, TxnManager> {
        self.manager.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a failed API call: abortable and fatal errors change the
    /// state; one that only ran out of time leaves it, so the call can be repeated.
    pub(crate) fn record_failure(&self, err: ClientError) -> ClientError {
        match TxnErrorKind::of(&err) {
            TxnErrorKind::Abortable | TxnErrorKind::Fatal => self.lock().fail_with(err),
            TxnErrorKind::Retry | TxnErrorKind::Relookup => err,
        }
    }
}

/// Talks to the transaction coordinator of one transactional id.
pub(crate) struct TxnCoordinator {
    pub transactional_id: String,
    cluster: Arc<Cluster>,
    /// The coordinator's address once found.
    addr: std::sync::Mutex<Option<String>>,
    retry_backoff: Duration,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Client-side version caps: newer versions of these APIs belong to
/// Kafka's transaction protocol v2 (KIP-890) or two-phase commit (KIP-939),
/// which this client does not speak.
fn capped(conn: &Connection, api: ApiKey, cap: i16) -> Result<i16, ClientError> {
    Ok(conn.version(api)?.min(cap))
}

impl TxnCoordinator {
    pub(crate) fn new(transactional_id: String, cluster: Arc<Cluster>) -> Self {
        let retry_backoff = cluster.config.retry_backoff;
        TxnCoordinator { transactional_id, cluster, addr: std::sync::Mutex::new(None), retry_backoff }
    }

    fn forget(&self) {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A connection to the coordinator, looking it up with FindCoordinator
    /// key type 1 when not known.
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        let known = self.addr.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let addr = match known {
            Some(a) => a,
            None => {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::FindCoordinator)?;
                if version < 1 {
                    return Err(ClientError::kafka(
                        ResponseError::UnsupportedVersion,
                        Some("The broker does not support transactions (FindCoordinator v1).".into()),
                        "finding the transaction coordinator",
                    ));
                }
                let req = find_coordinator_request(&self.transactional_id, version).with_key_type(1);
                let resp = conn.call(&req, version).await?;
                let info = parse_find_coordinator(resp, &self.transactional_id, version)?;
                tracing::debug!(coordinator = info.node, transactional_id = %self.transactional_id, "found the transaction coordinator");
                *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.addr.clone());
                info.addr
            }
        };
        match self.cluster.connection(&addr).await {
            Ok(c) => Ok(c),
            Err(e) => {
                self.forget();
                Err(e)
            }
        }
    }

    /// Runs `op` against the coordinator until it succeeds, fails with an
    /// abortable or fatal error, or `deadline` passes; looks the coordinator
    /// up again when it moved.
    async fn call<T, F, Fut>(&self, what: &str, deadline: Instant, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let start = Instant::now();
        loop {
            let result = match self.connection().await {
                Ok(conn) => op(conn).await,
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match TxnErrorKind::of(&err) {
                TxnErrorKind::Relookup => self.forget(),
                TxnErrorKind::Retry => {}
                TxnErrorKind::Abortable | TxnErrorKind::Fatal => return Err(err),
            }
            if Instant::now() + self.retry_backoff >= deadline {
                return Err(ClientError::timeout(format!("retrying {what}; last error: {err}"), start.elapsed()));
            }
            tracing::debug!(%err, what, "retrying a transaction request");
            tokio::time::sleep(self.retry_backoff).await;
            if err.invalidates_metadata() {
                let _ = self.cluster.refresh().await;
            }
        }
    }

    /// InitProducerId with the transactional id: a producer id and a new
    /// epoch, fencing older instances of the same id.
    pub(crate) async fn init_producer_id(
        &self,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(i64, i16), ClientError> {
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        self.call("InitProducerId", deadline, |conn| async move {
            let version = capped(&conn, ApiKey::InitProducerId, 4)?;
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(str_bytes(&self.transactional_id))))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || {
                format!("initializing transactional.id '{}'", self.transactional_id)
            })?;
            Ok((resp.producer_id.0, resp.producer_epoch))
        })
        .await
    }

    /// AddPartitionsToTxn (v3 or older, one transaction per request).
    pub(crate) async fn add_partitions(
        &self,
        producer: (i64, i16),
        partitions: &BTreeSet<TopicPartition>,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            topics.entry(t).or_default().push(*p);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = topics
            .into_iter()
            .map(|(t, ps)| AddPartitionsToTxnTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(ps))
            .collect();
        self.call("AddPartitionsToTxn", deadline, |conn| {
            let topics = topics.clone();
            async move {
                let version = capped(&conn, ApiKey::AddPartitionsToTxn, 3)?;
                let req = AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(str_bytes(&self.transactional_id)))
                    .with_v3_and_below_producer_id(ProducerId(producer.0))
                    .with_v3_and_below_producer_epoch(producer.1)
                    .with_v3_and_below_topics(topics);
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, None, || "adding partitions to the transaction".into())?;
                // The first real error wins; OPERATION_NOT_ATTEMPTED only says another partition failed.
                let mut first: Option<ClientError> = None;
                for t in &resp.results_by_topic_v3_and_below {
                    for p in &t.results_by_partition {
                        if let Err(e) = ClientError::check(p.partition_error_code, None, || {
                            format!("adding partition {}-{} to the transaction", t.name.0, p.partition_index)
                        }) {
                            if first.is_none()
                                || first.as_ref().and_then(|f| f.code()) == Some(ResponseError::OperationNotAttempted)
                            {
                                first = Some(e);
                            }
                        }
                    }
                }
                match first {
                    Some(e) if e.code() == Some(ResponseError::OperationNotAttempted) => {
                        Err(ClientError::kafka(ResponseError::ConcurrentTransactions, None, "adding partitions"))
                    }
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        })
        .await
    }

    /// AddOffsetsToTxn: puts the group's offsets partition into the transaction.
    pub(crate) async fn add_offsets(
        &self,
        producer: (i64, i16),
        group_id: &str,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        self.call("AddOffsetsToTxn", deadline, |conn| async move {
            let version = capped(&conn, ApiKey::AddOffsetsToTxn, 3)?;
            let req = AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(str_bytes(&self.transactional_id)))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_group_id(GroupId(str_bytes(group_id)));
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || {
                format!("adding the offsets of group '{group_id}' to the transaction")
            })
        })
        .await
    }

    /// EndTxn: commit or abort the transaction.
    pub(crate) async fn end_txn(
        &self,
        producer: (i64, i16),
        commit: bool,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let what = if commit { "EndTxn(commit)" } else { "EndTxn(abort)" };
        self.call(what, deadline, |conn| async move {
            let version = capped(&conn, ApiKey::EndTxn, 4)?;
            let req = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(str_bytes(&self.transactional_id)))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_committed(commit);
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || {
                format!("{} the transaction", if commit { "committing" } else { "aborting" })
            })
        })
        .await
    }

    /// TxnOffsetCommit at the group's coordinator: the offsets become the
    /// group's committed offsets when the transaction commits.
    pub(crate) async fn txn_offset_commit(
        &self,
        producer: (i64, i16),
        group: &ConsumerGroupMetadata,
        offsets: &BTreeMap<(String, i32), i64>,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for ((t, p), offset) in offsets {
            topics.entry(t).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1)
                    .with_committed_metadata(Some(StrBytes::from_static_str(""))),
            );
        }
        let topics: Vec<TxnOffsetCommitRequestTopic> = topics
            .into_iter()
            .map(|(t, ps)| {
                TxnOffsetCommitRequestTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(ps)
            })
            .collect();
        let mut group_addr: Option<String> = None;
        let start = Instant::now();
        loop {
            let attempt = async {
                let addr = match &group_addr {
                    Some(a) => a.clone(),
                    None => {
                        let info = find_coordinator(&self.cluster, &group.group_id).await?;
                        group_addr = Some(info.addr.clone());
                        info.addr
                    }
                };
                let conn = self.cluster.connection(&addr).await?;
                let version = capped(&conn, ApiKey::TxnOffsetCommit, 3)?;
                let mut req = TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(str_bytes(&self.transactional_id)))
                    .with_group_id(GroupId(str_bytes(&group.group_id)))
                    .with_producer_id(ProducerId(producer.0))
                    .with_producer_epoch(producer.1)
                    .with_topics(topics.clone());
                if version >= 3 {
                    req = req
                        .with_generation_id(group.generation_id)
                        .with_member_id(str_bytes(&group.member_id))
                        .with_group_instance_id(group.group_instance_id.as_deref().map(str_bytes));
                }
                let resp = conn.call(&req, version).await?;
                for t in &resp.topics {
                    for p in &t.partitions {
                        ClientError::check(p.error_code, None, || {
                            format!(
                                "committing the offset of {}-{} for group '{}' in the transaction",
                                t.name.0, p.partition_index, group.group_id
                            )
                        })?;
                    }
                }
                Ok::<(), ClientError>(())
            };
            let err = match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            match TxnErrorKind::of(&err) {
                TxnErrorKind::Relookup => group_addr = None,
                TxnErrorKind::Retry => {}
                TxnErrorKind::Abortable | TxnErrorKind::Fatal => return Err(err),
            }
            if Instant::now() + self.retry_backoff >= deadline {
                return Err(ClientError::timeout(
                    format!("retrying TxnOffsetCommit; last error: {err}"),
                    start.elapsed(),
                ));
            }
            tokio::time::sleep(self.retry_backoff).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        (Arc::from(t), p)
    }

    fn fenced() -> ClientError {
        ClientError::kafka(ResponseError::ProducerFenced, None, "EndTxn")
    }

    #[test]
    fn the_happy_path_walks_kafkas_states() {
        let mut m = TxnManager::default();
        assert_eq!(m.state, TxnState::Uninitialized);
        m.begin_init().expect("init");
        assert_eq!(m.state, TxnState::Initializing);
        m.begin_init().expect("a timed-out init may be repeated");
        m.finish_init((7, 0));
        assert_eq!(m.state, TxnState::Ready);
        m.begin().expect("begin");
        m.check_send().expect("send in a transaction");
        assert!(m.register(&tp("t", 0)), "new partition");
        assert!(!m.register(&tp("t", 0)), "asked for once");
        assert!(!m.started(), "nothing added yet");
        m.added.insert(tp("t", 0));
        m.pending.clear();
        assert!(m.started());
        m.begin_commit().expect("commit");
        assert_eq!(m.state, TxnState::Committing);
        m.begin_commit().expect("a timed-out commit may be repeated");
        m.complete();
        assert_eq!(m.state, TxnState::Ready);
        assert!(m.added.is_empty() && !m.offsets_added);
        m.begin().expect("next transaction");
        m.begin_abort().expect("abort");
        m.complete();
        assert_eq!(m.state, TxnState::Ready);
    }

    #[test]
    fn calls_out_of_order_are_refused_with_the_state_named() {
        let mut m = TxnManager::default();
        let err = m.begin().expect_err("begin before init");
        assert!(matches!(err, ClientError::InvalidState(_)));
        assert!(err.to_string().contains("init_transactions"), "{err}");
        assert!(m.check_send().is_err(), "send before init");
        m.begin_init().expect("init");
        m.finish_init((1, 0));
        assert!(m.begin_init().is_err(), "init twice");
        let err = m.check_send().expect_err("send outside a transaction");
        assert!(err.to_string().contains("READY") && err.to_string().contains("begin_transaction"), "{err}");
        assert!(m.begin_commit().is_err(), "commit outside a transaction");
        assert!(m.begin_abort().is_err(), "abort outside a transaction");
        assert!(m.check_send_offsets().is_err());
        m.begin().expect("begin");
        let err = m.begin().expect_err("begin twice");
        assert!(err.to_string().contains("IN_TRANSACTION"), "{err}");
        m.begin_commit().expect("commit");
        assert!(m.begin().is_err(), "begin while committing");
        assert!(m.check_send().is_err(), "send while committing");
        assert!(m.begin_abort().is_err(), "abort while committing");
    }

    #[test]
    fn an_abortable_error_allows_only_abort() {
        let mut m = TxnManager::default();
        m.begin_init().expect("init");
        m.finish_init((1, 0));
        m.begin().expect("begin");
        let cause = ClientError::kafka(ResponseError::InvalidTxnState, None, "partition t-0");
        let returned = m.fail_with(cause);
        assert!(matches!(returned, ClientError::TransactionAbortable(_)));
        assert_eq!(m.state, TxnState::AbortableError);
        for err in [m.check_send(), m.begin_commit(), m.begin(), m.check_send_offsets()] {
            let err = err.expect_err("refused");
            assert!(matches!(err, ClientError::TransactionAbortable(_)), "{err}");
            assert_eq!(err.code(), Some(ResponseError::InvalidTxnState));
        }
        m.begin_abort().expect("abort recovers");
        m.set_abortable(ClientError::Closed("x"));
        assert_eq!(m.state, TxnState::Aborting, "failures while aborting are expected");
        m.complete();
        assert_eq!(m.state, TxnState::Ready);
        m.begin().expect("a new transaction after the abort");
    }

    #[test]
    fn fencing_is_fatal_for_every_later_call() {
        let mut m = TxnManager::default();
        m.begin_init().expect("init");
        m.finish_init((1, 0));
        m.begin().expect("begin");
        let returned = m.fail_with(fenced());
        assert!(matches!(returned, ClientError::TransactionFatal(_)));
        assert_eq!(m.state, TxnState::FatalError);
        m.set_abortable(ClientError::Closed("x"));
        assert_eq!(m.state, TxnState::FatalError, "fatal is final");
        for err in [m.check_send(), m.begin_commit(), m.begin_abort(), m.begin(), m.begin_init()] {
            let err = err.expect_err("refused");
            assert!(matches!(err, ClientError::TransactionFatal(_)), "{err}");
            assert_eq!(err.code(), Some(ResponseError::ProducerFenced));
        }
        assert!(m.error_state().is_some());
    }

    #[test]
    fn errors_sort_into_retry_relookup_abortable_and_fatal() {
        let k = |code| TxnErrorKind::of(&ClientError::kafka(code, None, ""));
        assert_eq!(k(ResponseError::NotCoordinator), TxnErrorKind::Relookup);
        assert_eq!(k(ResponseError::CoordinatorNotAvailable), TxnErrorKind::Relookup);
        assert_eq!(k(ResponseError::CoordinatorLoadInProgress), TxnErrorKind::Retry);
        assert_eq!(k(ResponseError::ConcurrentTransactions), TxnErrorKind::Retry);
        assert_eq!(k(ResponseError::ProducerFenced), TxnErrorKind::Fatal);
        assert_eq!(k(ResponseError::InvalidProducerEpoch), TxnErrorKind::Fatal);
        assert_eq!(k(ResponseError::TransactionalIdAuthorizationFailed), TxnErrorKind::Fatal);
        assert_eq!(k(ResponseError::InvalidTxnState), TxnErrorKind::Abortable);
        assert_eq!(k(ResponseError::TopicAuthorizationFailed), TxnErrorKind::Abortable);
        let io = ClientError::io("b", std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(TxnErrorKind::of(&io), TxnErrorKind::Relookup);
    }
}
