//! One internal topic read from its beginning for as long as the worker
//! runs, and written with `acks=all` (Kafka's `KafkaBasedLog`): the
//! config, offsets and status stores are each a [`TopicLog`] with a
//! function that applies every record to their in-memory view.
//!
//! [`TopicLog::read_to_end`] waits until every record that existed when it
//! was called has been applied, so a worker acts on what the cluster
//! wrote, not on what it happened to have read so far.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::super::worker::WorkerConfig;
use super::super::{ConnectError, Result};
use super::config::InternalTopic;
use crate::client::{
    Admin, ClientError, ConsumerConfig, ConsumerRecord, NewTopic, OffsetSpec, Producer, ProducerConfig, ProducerRecord,
    ResponseError, SeekTo,
};

/// Applies one record to a store's view.
pub type Apply = Box<dyn FnMut(&ConsumerRecord) + Send>;

/// Creates the topic compacted if it is missing; an existing one is used as it is.
pub async fn ensure_topic(admin: &Admin, topic: &InternalTopic) -> Result<()> {
    let mut new = NewTopic::new(topic.name.clone(), topic.partitions).config("cleanup.policy", "compact");
    new.replication_factor = topic.replication_factor;
    match admin.create_topic(new, false).await {
        Ok(()) => {
            tracing::info!(topic = topic.name, partitions = topic.partitions, "created internal topic");
            Ok(())
        }
        Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => Ok(()),
        Err(e) => Err(ConnectError::Config(format!("cannot create internal topic {}: {e}", topic.name))),
    }
}

/// A topic read continuously and written with acknowledgements.
pub struct TopicLog {
    topic: String,
    partitions: Vec<i32>,
    admin: Admin,
    producer: Producer,
    /// Next offset applied per partition, and a counter that moves with it.
    applied: Arc<Mutex<BTreeMap<i32, i64>>>,
    progress: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TopicLog {
    /// Starts reading `topic` from its beginning, `apply`ing each record.
    pub async fn start(worker: &WorkerConfig, admin: Admin, topic: &str, mut apply: Apply) -> Result<TopicLog> {
        let mut cc = ConsumerConfig::new(worker.bootstrap.clone());
        cc.set("auto.offset.reset", "earliest")?;
        cc.set("enable.auto.commit", "false")?;
        for (k, v) in worker.client_props("consumer.") {
            if k != "group.id" {
                cc.set(&k, &v)?;
            }
        }
        let mut consumer = crate::client::Consumer::new(cc).await?;
        let partitions = consumer.partitions_for(topic).await?;
        consumer.assign(partitions.iter().map(|p| (topic.to_string(), *p)).collect()).await?;
        for p in &partitions {
            consumer.seek(topic, *p, SeekTo::Beginning).await?;
        }
        let mut pc = ProducerConfig::new(worker.bootstrap.clone());
        for (k, v) in worker.client_props("producer.") {
            pc.set(&k, &v)?;
        }
        // Every write must be on all in-sync replicas before a worker acts on it.
        pc.set("acks", "all")?;
        let producer = Producer::new(pc).await?;
        let applied = Arc::new(Mutex::new(BTreeMap::new()));
        let (tx, progress) = watch::channel(0u64);
        let stop = Arc::new(AtomicBool::new(false));
        let (t, a, s) = (topic.to_string(), applied.clone(), stop.clone());
        let reader = tokio::spawn(async move {
            let mut ticks = 0u64;
            while !s.load(Ordering::Acquire) {
                match consumer.poll(Duration::from_millis(200)).await {
                    Ok(records) if records.is_empty() => {
                        // Nothing held back: the consumer's positions are what was applied.
                        let mut applied = lock(&a);
                        for p in consumer.assignment() {
                            if let Some(pos) = consumer.position(&p.0, p.1) {
                                let e = applied.entry(p.1).or_insert(pos);
                                *e = (*e).max(pos);
                            }
                        }
                    }
                    Ok(records) => {
                        for r in &records {
                            apply(r);
                        }
                        let mut applied = lock(&a);
                        for r in &records {
                            let e = applied.entry(r.partition).or_insert(r.offset + 1);
                            *e = (*e).max(r.offset + 1);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = t, error = %e, "reading an internal topic failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                ticks += 1;
                let _ = tx.send(ticks);
            }
            let _ = consumer.close().await;
        });
        Ok(TopicLog {
            topic: topic.to_string(),
            partitions,
            admin,
            producer,
            applied,
            progress,
            stop,
            reader: Mutex::new(Some(reader)),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits until everything written before the call has been applied.
    pub async fn read_to_end(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut ends = BTreeMap::new();
        for p in &self.partitions {
            ends.insert(*p, self.admin.list_offsets(&self.topic, *p, OffsetSpec::Latest).await?);
        }
        let mut progress = self.progress.clone();
        loop {
            let behind = {
                let applied = lock(&self.applied);
                ends.iter().any(|(p, end)| *end > 0 && applied.get(p).is_none_or(|a| a < end))
            };
            if !behind {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, progress.changed()).await.is_err() {
                return Err(ClientError::timeout(format!("reading {} to its end", self.topic), timeout).into());
            }
        }
    }

    /// Writes one record and waits for its acknowledgement.
    pub async fn send(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<()> {
        self.send_all(vec![(key, value)]).await
    }

    /// Writes records in order and waits for all acknowledgements.
    pub async fn send_all(&self, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let mut futures = Vec::with_capacity(records.len());
        for (key, value) in records {
            let record = ProducerRecord {
                topic: self.topic.clone(),
                partition: None,
                key: Some(key.into()),
                value: value.map(Into::into),
                headers: Vec::new(),
                timestamp: None,
            };
            futures.push(self.producer.send(record).await?);
        }
        self.producer.flush().await?;
        for f in futures {
            f.await?;
        }
        Ok(())
    }

    /// Stops reading and waits for the producer's last sends.
    pub async fn close(&self) {
        self.stop.store(true, Ordering::Release);
        let reader = lock(&self.reader).take();
        if let Some(r) = reader {
            let _ = r.await;
        }
        let _ = self.producer.flush().await;
    }
}
