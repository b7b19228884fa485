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

mod accumulator;
mod config;
mod delivery;
mod sender;

use std::collections::BTreeSet;
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

use super::cluster::{is_transient, Cluster};
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
        let rec = new_record(record.key, record.value, record.headers, timestamp);
        let appended = {
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
