//! The producer: [`Producer::send`] partitions a record and appends it to its
//! partition's batch in the accumulator; one background sender
//! task per producer takes batches that are full, lingered long enough, or
//! flushed, encodes them (with the chosen compression) and sends one Produce
//! request per leader broker, pipelining up to `max.in.flight` requests per
//! connection. Retriable errors are retried after `retry.backoff.ms` with a
//! metadata refresh when leadership may have moved; `delivery.timeout.ms`
//! bounds the whole life of a record.
//!
//! With idempotence (the default with `acks=all`) the producer gets an id
//! from InitProducerId and numbers each partition's batches; retried batches
//! keep their numbers and are re-sent in order, so the broker writes each
//! record once and in order. A batch that fails for good leaves a gap in the
//! numbering: the sender then waits for in-flight requests, bumps the epoch
//! and renumbers what is still pending (KIP-360 style).
//!
//! With a `transactional.id` the producer is transactional (`transaction.rs`):
//! [`Producer::init_transactions`] gets the id and epoch from the transaction
//! coordinator, records may be sent only between
//! [`Producer::begin_transaction`] and [`Producer::commit_transaction`] /
//! [`Producer::abort_transaction`], each partition's batches wait until
//! AddPartitionsToTxn has put it into the transaction, and batches carry the
//! transactional flag. A failed batch fails the whole transaction, which
//! must then be aborted; a sequence gap it leaves is closed by a new epoch
//! after the abort. Without a `transactional.id` nothing of this is in play.

mod accumulator;
mod config;
mod delivery;
mod sender;
mod transaction;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

pub use config::{Acks, Compression, ProducerConfig};
pub use delivery::{DeliveryFuture, RecordMetadata};

use crate::protocol::batch::new_record;
use accumulator::{estimate_size, Accumulator};
use delivery::BatchAck;
use transaction::{TxnErrorKind, TxnShared};

use super::cluster::{is_transient, Cluster};
use super::consumer::ConsumerGroupMetadata;
use super::partitioner::partition_for_key;
use super::{ClientError, ResponseError};

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub topic: String,
    /// `None`: by key hash, or sticky for records without a key.
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Header names need not be unique.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch; `None` = now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with neither key nor value yet (e.g. a tombstone once a key is set).
    pub fn empty(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }
}

/// State shared by the producer handles and the sender task.
pub(crate) struct ProducerShared {
    pub config: ProducerConfig,
    pub idempotent: bool,
    pub cluster: Arc<Cluster>,
    pub accumulator: Mutex<Accumulator>,
    /// Wakes the sender (new batch, flush, close).
    pub wakeup: Notify,
    /// `buffer.memory`, one permit per byte of queued records.
    pub memory: Semaphore,
    /// Flushes in progress: while positive every batch is ready at once.
    pub flushing: AtomicUsize,
    pub closing: AtomicBool,
    /// A fatal error (e.g. no producer id) that fails every later send.
    pub fatal: Mutex<Option<ClientError>>,
    /// Ids of batches created and not yet completed (for flush).
    pub incomplete: Mutex<BTreeSet<u64>>,
    /// Signalled whenever a batch completes.
    pub completed: Notify,
    /// The transaction state, with a `transactional.id`.
    pub txn: Option<TxnShared>,
}

impl ProducerShared {
    /// Finishes a batch: tells its records, frees its memory, lets flush see it.
    pub(crate) fn finish(
        &self,
        id: u64,
        shared: &delivery::BatchShared,
        memory: usize,
        outcome: Result<BatchAck, ClientError>,
    ) {
        shared.complete(outcome);
        self.memory.add_permits(memory);
        self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        self.completed.notify_waiters();
    }
}

struct ProducerInner {
    shared: Arc<ProducerShared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for ProducerInner {
    fn drop(&mut self) {
        // The sender still delivers what is queued (bounded by delivery.timeout.ms), then exits.
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wakeup.notify_one();
    }
}

/// A Kafka producer. Cloning gives another handle to the same producer (one
/// sender task, one set of connections), so threads and tasks can share it.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<ProducerInner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.inner.shared.config).finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    /// Checks the config, connects to the cluster and starts the sender task.
    pub async fn new(config: ProducerConfig) -> Result<Producer, ClientError> {
        config.validate()?;
        let cluster = Cluster::new(config.client.clone(), true)?;
        cluster.retry(|| cluster.refresh()).await?;
        let idempotent = config.effective_idempotence();
        let txn = config.transactional_id.clone().map(|id| TxnShared::new(id, cluster.clone()));
        let shared = Arc::new(ProducerShared {
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            config,
            idempotent,
            cluster,
            accumulator: Mutex::new(Accumulator::new()),
            wakeup: Notify::new(),
            flushing: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            fatal: Mutex::new(None),
            incomplete: Mutex::new(BTreeSet::new()),
            completed: Notify::new(),
            txn,
        });
        let handle = tokio::spawn(sender::Sender::new(shared.clone()).run());
        Ok(Producer { inner: Arc::new(ProducerInner { shared, sender: Mutex::new(Some(handle)) }) })
    }

    /// Queues a record. Waits only while `buffer.memory` is full or the topic's
    /// metadata is not known yet (at most `max.block.ms`). The returned future
    /// resolves when the broker acknowledged the record or it failed for good.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        let shared = &self.inner.shared;
        if shared.closing.load(Ordering::Acquire) {
            return Err(ClientError::Closed("producer"));
        }
        if let Some(err) = shared.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(err);
        }
        if let Some(txn) = &shared.txn {
            txn.lock().check_send()?;
        }
        let config = &shared.config;
        let size = estimate_size(record.key.as_ref(), record.value.as_ref(), &record.headers);
        if size + accumulator::BATCH_OVERHEAD > config.max_request_size {
            return Err(too_large(&record.topic, size, "max.request.size", config.max_request_size));
        }
        if size > config.buffer_memory {
            return Err(too_large(&record.topic, size, "buffer.memory", config.buffer_memory));
        }
        let num_partitions = self.partition_count(&record.topic, record.partition).await?;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => Some(p),
            (None, Some(key)) => Some(partition_for_key(key, num_partitions)),
            (None, None) => None,
        };
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        match shared.memory.acquire_many(permits).await {
            Ok(p) => p.forget(),
            Err(_) => return Err(ClientError::Closed("producer")),
        }
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let mut rec = new_record(record.key, record.value, record.headers, timestamp);
        // The encoder sets the batch's transactional flag from its records.
        rec.transactional = shared.txn.is_some();
        let appended = {
            // Lock order: the transaction before the accumulator. Checking the
            // state again under the lock keeps a record from slipping in after
            // a commit or abort began.
            let mut txn = shared.txn.as_ref().map(|t| t.lock());
            if let Some(txn) = &txn {
                if let Err(err) = txn.check_send() {
                    shared.memory.add_permits(permits as usize);
                    return Err(err);
                }
            }
            let mut acc = shared.accumulator.lock().unwrap_or_else(|e| e.into_inner());
            let cluster = &shared.cluster;
            let topic = record.topic.as_str();
            let available = || {
                let md = cluster.snapshot();
                match md.topics.get(topic) {
                    Some(Ok(t)) => t.partitions.iter().filter(|p| p.leader.is_some()).map(|p| p.partition).collect(),
                    _ => Vec::new(),
                }
            };
            let appended =
                acc.append(topic, partition, num_partitions, available, rec, size, config.batch_size, Instant::now());
            if let Some(id) = appended.new_batch_id {
                shared.incomplete.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
            }
            if let Some(txn) = txn.as_mut() {
                // A partition new to the transaction: the sender asks the coordinator to add it.
                if txn.register(&appended.future.topic_partition()) {
                    shared.wakeup.notify_one();
                }
            }
            appended
        };
        if appended.new_batch {
            shared.wakeup.notify_one();
        }
        Ok(appended.future)
    }

    /// Sends every queued record now and waits until all records sent before
    /// this call are acknowledged (or failed).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let shared = &self.inner.shared;
        let watermark = shared.accumulator.lock().unwrap_or_else(|e| e.into_inner()).next_batch_id;
        let _flushing = FlushGuard::new(&shared.flushing);
        shared.wakeup.notify_one();
        loop {
            let notified = shared.completed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let done = {
                let incomplete = shared.incomplete.lock().unwrap_or_else(|e| e.into_inner());
                incomplete.first().is_none_or(|first| *first >= watermark)
            };
            if done {
                return Ok(());
            }
            if shared.sender_finished() {
                return Err(ClientError::Closed("producer"));
            }
            // Re-check now and then in case the sender task died.
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    /// Flushes, then stops the sender task. Other clones of this producer can
    /// no longer send.
    pub async fn close(self) -> Result<(), ClientError> {
        let flushed = self.flush().await;
        let shared = &self.inner.shared;
        shared.closing.store(true, Ordering::Release);
        shared.wakeup.notify_one();
        let handle = self.inner.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        flushed
    }

    fn txn(&self, what: &str) -> Result<&TxnShared, ClientError> {
        self.inner.shared.txn.as_ref().ok_or_else(|| {
            ClientError::InvalidState(format!("Cannot call {what}: the producer has no transactional.id"))
        })
    }

    /// Registers the `transactional.id` with its transaction coordinator
    /// (FindCoordinator, then InitProducerId): gets the producer id and a new
    /// epoch, which fences older producers with the same id and completes or
    /// aborts a transaction they left open. Call once, before the first
    /// transaction; a call that timed out may be repeated.
    pub async fn init_transactions(&self, timeout: Duration) -> Result<(), ClientError> {
        let txn = self.txn("init_transactions")?;
        let _op = txn.ops.lock().await;
        txn.lock().begin_init()?;
        let deadline = Instant::now() + timeout;
        let transaction_timeout = self.inner.shared.config.transaction_timeout;
        let result = tokio::time::timeout(timeout, txn.coordinator.init_producer_id(transaction_timeout, deadline))
            .await
            .unwrap_or_else(|_| Err(ClientError::timeout("initializing transactions (init_transactions)", timeout)));
        match result {
            Ok(producer) => {
                tracing::debug!(producer_id = producer.0, epoch = producer.1, "transactional producer initialised");
                txn.lock().finish_init(producer);
                self.inner.shared.wakeup.notify_one();
                Ok(())
            }
            Err(err) if TxnErrorKind::of(&err) == TxnErrorKind::Fatal => {
                txn.lock().set_fatal(err.clone());
                Err(ClientError::TransactionFatal(Box::new(err)))
            }
            Err(err) => Err(err),
        }
    }

    /// Starts a transaction: records sent from now until the commit or abort
    /// belong to it.
    pub fn begin_transaction(&self) -> Result<(), ClientError> {
        self.txn("begin_transaction")?.lock().begin()
    }

    /// Makes `offsets` (the next offsets to consume, per topic and partition)
    /// the committed offsets of the consumer group when this transaction
    /// commits, for consume-transform-produce exactly once: AddOffsetsToTxn
    /// at the transaction coordinator, then TxnOffsetCommit at the group's
    /// coordinator. `group` is a group id or a member's [`ConsumerGroupMetadata`].
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &BTreeMap<(String, i32), i64>,
        group: impl Into<ConsumerGroupMetadata>,
    ) -> Result<(), ClientError> {
        let group = group.into();
        let txn = self.txn("send_offsets_to_transaction")?;
        if group.group_id.is_empty() {
            return Err(ClientError::Config("send_offsets_to_transaction needs a group id".into()));
        }
        let _op = txn.ops.lock().await;
        let producer = {
            let m = txn.lock();
            m.check_send_offsets()?;
            m.producer.ok_or_else(|| ClientError::InvalidState("no producer id".into()))?
        };
        let timeout = self.inner.shared.config.max_block;
        let deadline = Instant::now() + timeout;
        let work = async {
            txn.coordinator.add_offsets(producer, &group.group_id, deadline).await?;
            txn.lock().offsets_added = true;
            txn.coordinator.txn_offset_commit(producer, &group, offsets, deadline).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(txn.lock().fail_with(err)),
            Err(_) => Err(txn
                .lock()
                .fail_with(ClientError::timeout("sending offsets to the transaction (max.block.ms)", timeout))),
        }
    }

    /// Sends everything of the transaction, waits for it, and commits it
    /// (EndTxn). If a record of it failed the transaction is not committed:
    /// the error says so and `abort_transaction` is due. A call that timed
    /// out may be repeated.
    pub async fn commit_transaction(&self, timeout: Duration) -> Result<(), ClientError> {
        let txn = self.txn("commit_transaction")?;
        let _op = txn.ops.lock().await;
        txn.lock().begin_commit()?;
        let deadline = Instant::now() + timeout;
        let work = async {
            self.flush().await?;
            let (producer, started) = {
                let m = txn.lock();
                if let Some(err) = m.error_state() {
                    return Err(err);
                }
                (m.producer, m.started())
            };
            if let (Some(producer), true) = (producer, started) {
                txn.coordinator.end_txn(producer, true, deadline).await.map_err(|e| txn.record_failure(e))?;
            }
            txn.lock().complete();
            Ok(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(ClientError::timeout("committing the transaction (commit_transaction)", timeout)))
    }

    /// Aborts the transaction: records not sent yet are dropped (their
    /// futures fail with [`ClientError::TransactionAborted`]), those in flight
    /// are waited for, and the coordinator writes ABORT markers (EndTxn).
    /// Also the way out of an abortable error. A call that timed out may be repeated.
    pub async fn abort_transaction(&self, timeout: Duration) -> Result<(), ClientError> {
        let txn = self.txn("abort_transaction")?;
        let _op = txn.ops.lock().await;
        txn.lock().begin_abort()?;
        // The sender drops what is queued once it sees the state.
        self.inner.shared.wakeup.notify_one();
        let deadline = Instant::now() + timeout;
        let work = async {
            // An AddPartitionsToTxn in flight decides whether the coordinator knows the partition.
            loop {
                let changed = txn.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if txn.lock().adding.is_empty() {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
            }
            self.flush().await?;
            let (producer, started, needs_bump) = {
                let m = txn.lock();
                (m.producer, m.started(), m.needs_bump)
            };
            if let (Some(producer), true) = (producer, started) {
                txn.coordinator.end_txn(producer, false, deadline).await.map_err(|e| txn.record_failure(e))?;
            }
            if needs_bump {
                // A batch that failed left a gap in its partition's sequence
                // numbers: a new epoch lets them start again at 0.
                let transaction_timeout = self.inner.shared.config.transaction_timeout;
                let producer = txn
                    .coordinator
                    .init_producer_id(transaction_timeout, deadline)
                    .await
                    .map_err(|e| txn.record_failure(e))?;
                txn.lock().finish_init(producer);
            }
            txn.lock().complete();
            self.inner.shared.wakeup.notify_one();
            Ok(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(ClientError::timeout("aborting the transaction (abort_transaction)", timeout)))
    }

    /// The topic's partition count, waiting for metadata (and auto-creation)
    /// up to `max.block.ms`. A partition given explicitly must exist.
    async fn partition_count(&self, topic: &str, partition: Option<i32>) -> Result<i32, ClientError> {
        let shared = &self.inner.shared;
        let cluster = &shared.cluster;
        if let Some(Ok(t)) = cluster.snapshot().topics.get(topic) {
            let n = t.partitions.len() as i32;
            if n > 0 && partition.is_none_or(|p| p < n) {
                return Ok(n);
            }
        }
        if topic.is_empty() {
            return Err(ClientError::Config("a record needs a topic name".into()));
        }
        let deadline = Instant::now() + shared.config.max_block;
        cluster.add_interest(topic);
        let mut refreshed = 0;
        loop {
            let before = cluster.generation();
            match cluster.refresh().await {
                Ok(()) => {}
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
            if cluster.generation() != before {
                refreshed += 1;
            }
            match cluster.snapshot().topics.get(topic) {
                Some(Ok(t)) if !t.partitions.is_empty() => {
                    let n = t.partitions.len() as i32;
                    match partition {
                        Some(p) if p < 0 || (p >= n && refreshed >= 2) => {
                            return Err(ClientError::kafka(
                                ResponseError::UnknownTopicOrPartition,
                                Some(format!(
                                    "Partition {p} of topic '{topic}' does not exist (it has {n} partitions)."
                                )),
                                format!("topic '{topic}'"),
                            ))
                        }
                        Some(p) if p >= n => {}
                        _ => return Ok(n),
                    }
                }
                Some(Err(e)) if e.code() == Some(ResponseError::UnknownTopicOrPartition) && refreshed >= 1 => {
                    return Err(ClientError::kafka(
                        ResponseError::UnknownTopicOrPartition,
                        Some(format!("Topic '{topic}' does not exist and was not created automatically.")),
                        format!("topic '{topic}'"),
                    ));
                }
                Some(Err(e)) if !e.is_retriable() => return Err(e.clone()),
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(ClientError::timeout(
                    format!("waiting for metadata of topic '{topic}' (max.block.ms)"),
                    shared.config.max_block,
                ));
            }
            tokio::time::sleep(shared.config.client.retry_backoff).await;
        }
    }
}

impl ProducerShared {
    fn sender_finished(&self) -> bool {
        // The sender exits only when closing with nothing left; a flush racing
        // with close is answered by the loop's timeout re-check.
        self.closing.load(Ordering::Acquire) && self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

fn too_large(topic: &str, size: usize, setting: &str, limit: usize) -> ClientError {
    ClientError::kafka(
        ResponseError::MessageTooLarge,
        Some(format!("The record is {size} bytes when serialized, which is larger than {setting} ({limit}).")),
        format!("topic '{topic}'"),
    )
}

struct FlushGuard<'a>(&'a AtomicUsize);

impl<'a> FlushGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        FlushGuard(counter)
    }
}

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
