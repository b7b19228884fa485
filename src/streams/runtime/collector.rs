//! The record collector: where a stream thread's tasks put what they emit
//! (sink records and changelog records), and how it reaches the producer.
//!
//! A task runs synchronously ([`RecordSink`] is a plain trait), while the
//! producer is async; so the task's sink only queues records, and the thread
//! hands the queue to the producer after each step ([`Sender::drain`]). The
//! sender keeps the delivery futures until the next commit, where a failed
//! send is the production error handler's business, and remembers the
//! offset of the last record written to each changelog partition: the
//! offsets a checkpoint records.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::client::{ClientError, DeliveryFuture, Producer, ProducerRecord};
use crate::streams::error::{Result, StreamsError};
use crate::streams::exec::RecordSink;
use crate::streams::processor::Headers;

/// A record waiting to be handed to the producer.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Headers,
}

/// What a thread's tasks share: the queue and the partition counts of the
/// topics they write (looked up by the thread before they are needed).
#[derive(Clone, Default)]
pub struct Collector {
    queue: Arc<Mutex<Vec<Outgoing>>>,
    counts: Arc<Mutex<HashMap<String, i32>>>,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }
    /// Records the partition count of a topic for partitioners.
    pub fn set_partition_count(&self, topic: &str, count: i32) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).insert(topic.to_string(), count);
    }
    /// Takes everything queued so far.
    pub fn take(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
    /// Drops everything queued (a task closed dirty).
    pub fn clear(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
    /// A sink for one task.
    pub fn sink(&self) -> Box<dyn RecordSink> {
        Box::new(self.clone())
    }
}

impl RecordSink for Collector {
    fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<()> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(Outgoing {
            topic: topic.to_string(),
            partition,
            key,
            value,
            timestamp,
            headers: headers.clone(),
        });
        Ok(())
    }

    fn partition_count(&mut self, topic: &str) -> Option<i32> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).get(topic).copied()
    }
}

/// Hands queued records to the producer and tracks their delivery.
pub struct Sender {
    pub producer: Producer,
    in_flight: Vec<DeliveryFuture>,
    /// Changelog (topic, partition) → offset after the last acknowledged record.
    pub changelog_offsets: BTreeMap<(String, i32), i64>,
    /// Whether failed sends stop the thread (`DefaultProductionExceptionHandler`).
    fail_on_error: bool,
}

fn is_changelog(topic: &str) -> bool {
    topic.ends_with("-changelog")
}

impl Sender {
    pub fn new(producer: Producer, fail_on_error: bool) -> Self {
        Sender { producer, in_flight: Vec::new(), changelog_offsets: BTreeMap::new(), fail_on_error }
    }

    /// Sends the queued records.
    pub async fn drain(&mut self, collector: &Collector) -> Result<()> {
        for r in collector.take() {
            let rec = ProducerRecord {
                topic: r.topic,
                partition: r.partition,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp: Some(r.timestamp),
            };
            let topic = rec.topic.clone();
            match self.producer.send(rec).await {
                Ok(f) => self.in_flight.push(f),
                Err(e) => self.failed(&topic, e)?,
            }
        }
        Ok(())
    }

    fn failed(&self, topic: &str, e: ClientError) -> Result<()> {
        if self.fail_on_error || matches!(e, ClientError::TransactionFatal(_) | ClientError::TransactionAbortable(_)) {
            return Err(production_error(topic, e));
        }
        tracing::warn!(topic, error = %e, "error sending a record; continuing as the production exception handler says");
        Ok(())
    }

    /// Flushes the producer and waits for every record sent so far.
    pub async fn flush(&mut self) -> Result<()> {
        self.producer.flush().await.map_err(|e| production_error("(flush)", e))?;
        let mut first_error = None;
        for f in std::mem::take(&mut self.in_flight) {
            match f.await {
                Ok(md) => {
                    if is_changelog(&md.topic) {
                        let e = self.changelog_offsets.entry((md.topic.clone(), md.partition)).or_insert(0);
                        *e = (*e).max(md.offset + 1);
                    }
                }
                Err(e) => {
                    let topic = String::new();
                    if let Err(err) = self.failed(&topic, e) {
                        first_error.get_or_insert(err);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Forgets what was sent (after an abort).
    pub fn reset(&mut self) {
        self.in_flight.clear();
    }
}

/// A send error as the thread reports it.
pub fn production_error(topic: &str, e: ClientError) -> StreamsError {
    match e {
        ClientError::TransactionFatal(_) => StreamsError::TaskMigrated(format!("producer fenced: {e}")),
        ClientError::TransactionAbortable(_) | ClientError::TransactionAborted => {
            StreamsError::TaskMigrated(format!("transaction aborted: {e}"))
        }
        other => StreamsError::Processing(format!(
            "Error encountered sending record to topic {topic}: {other}. Exception handler choose to FAIL the \
             processing, no more records would be sent."
        )),
    }
}
