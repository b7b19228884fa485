//! The broker's side of the coordinators' layer: [`BrokerInternalLog`]
//! implements `coordinator::log::InternalLog` (append and await commit,
//! replay, leadership) for one internal topic over this broker's partitions,
//! including the coordinator-origin transactional batches of TxnOffsetCommit
//! (`Partition::append_from_coordinator`) and the markers a replay reports,
//! and [`BrokerTopics`] implements `coordinator::log::TopicCatalog` over the
//! metadata cache. Coordinators hold these as trait objects, never the
//! `Broker`.
//!
//! [`wait_committed`] is also where a produce with acks=all waits: the
//! produce handler and every coordinator share it here, so neither imports
//! the other.
//!
//! Both hold a `Weak<Broker>`: the broker owns its coordinators, and a strong
//! reference back would keep a stopped broker (and its open logs) alive.

use std::sync::Weak;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use tokio::sync::watch;

use super::{now_ms, Broker, Partition};
use crate::coordinator::log::{
    Entry, InternalLog, Leadership, LogFuture, ReplayError, ReplayItem, Replayed, TopicCatalog, TxnProducer,
};
use crate::protocol::{batch, ErrorCode};

/// Waits until the high watermark passes `last_offset` (acks=all):
/// NOT_LEADER_OR_FOLLOWER if leadership is lost meanwhile,
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR drops below
/// min.insync.replicas, REQUEST_TIMED_OUT at `deadline`. Wakes on the
/// partition's change signal, no polling.
pub(crate) async fn wait_committed(
    partition: &Partition,
    last_offset: i64,
    deadline: tokio::time::Instant,
) -> Result<(), ErrorCode> {
    let mut changes = partition.subscribe();
    let min_isr = partition.config().min_insync_replicas as usize;
    loop {
        changes.borrow_and_update();
        if partition.high_watermark() > last_offset {
            return Ok(());
        }
        if !partition.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if partition.isr().len().max(1) < min_isr {
            return Err(ErrorCode::NotEnoughReplicasAfterAppend);
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ErrorCode::RequestTimedOut),
            Err(_) => {
                return if partition.high_watermark() > last_offset { Ok(()) } else { Err(ErrorCode::RequestTimedOut) };
            }
        }
    }
}

/// One internal topic's partitions on this broker.
pub struct BrokerInternalLog {
    broker: Weak<Broker>,
    topic: &'static str,
    /// How long an append waits for its commit (`offsets.commit.timeout.ms`…).
    commit_timeout: Duration,
    /// The broker's partition-sync signal, kept so that subscribing works
    /// even while the broker is being built.
    synced: watch::Receiver<u64>,
}

impl BrokerInternalLog {
    /// `synced` changes after every partition-sync pass, which is when this
    /// broker's leaderships change.
    pub(crate) fn new(
        broker: Weak<Broker>,
        topic: &'static str,
        commit_timeout: Duration,
        synced: watch::Receiver<u64>,
    ) -> BrokerInternalLog {
        BrokerInternalLog { broker, topic, commit_timeout, synced }
    }

    async fn append_and_wait(
        &self,
        partition: i32,
        leader_epoch: Option<i32>,
        txn: Option<TxnProducer>,
        entries: Vec<Entry>,
    ) -> Result<Option<i64>, ErrorCode> {
        if entries.is_empty() {
            return Ok(None);
        }
        let broker = self.broker.upgrade().ok_or(ErrorCode::NotLeaderOrFollower)?;
        let p = broker.replicas().leader_partition(self.topic, partition)?;
        if leader_epoch.is_some_and(|e| e != p.leader_epoch()) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let wall = now_ms();
        let records: Vec<Record> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| {
                let record = Record { offset: i as i64, ..batch::new_record(Some(key), value, Vec::new(), wall) };
                match txn {
                    // Kafka writes a coordinator's transactional batch with
                    // the producer's id and epoch but no sequence (−1).
                    Some(t) => Record {
                        transactional: true,
                        producer_id: t.producer_id,
                        producer_epoch: t.producer_epoch,
                        ..record
                    },
                    None => record,
                }
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .map_err(|e| {
            tracing::error!(topic = self.topic, %e, "cannot encode coordinator records");
            ErrorCode::UnknownServerError
        })?;
        let mut bytes = buf.to_vec();
        let header = batch::validate_one(&bytes).map_err(|e| {
            tracing::error!(topic = self.topic, %e, "a coordinator built an invalid batch");
            ErrorCode::UnknownServerError
        })?;
        let appended = if txn.is_some() {
            p.append_from_coordinator(&mut bytes, &header, wall)?
        } else {
            p.append(&mut bytes, &header, wall)?
        };
        broker.replicas().notify_data_arrived();
        // Waiting must not keep a stopping broker alive.
        drop(broker);
        let deadline = tokio::time::Instant::now() + self.commit_timeout;
        wait_committed(&p, appended.last_offset, deadline).await?;
        Ok(Some(appended.base_offset))
    }
}

impl InternalLog for BrokerInternalLog {
    fn topic(&self) -> &str {
        self.topic
    }

    fn append(
        &self,
        partition: i32,
        leader_epoch: Option<i32>,
        entries: Vec<Entry>,
    ) -> LogFuture<'_, Result<(), ErrorCode>> {
        Box::pin(async move { self.append_and_wait(partition, leader_epoch, None, entries).await.map(|_| ()) })
    }

    fn append_batch(
        &self,
        partition: i32,
        leader_epoch: Option<i32>,
        txn: Option<TxnProducer>,
        entries: Vec<Entry>,
    ) -> LogFuture<'_, Result<Option<i64>, ErrorCode>> {
        Box::pin(self.append_and_wait(partition, leader_epoch, txn, entries))
    }

    fn replay(&self, partition: i32, visit: &mut dyn FnMut(Replayed<'_>)) -> Result<(), ReplayError> {
        self.replay_with_markers(partition, &mut |item| {
            if let ReplayItem::Record { record, .. } = item {
                visit(record)
            }
        })
    }

    fn replay_with_markers(&self, partition: i32, visit: &mut dyn FnMut(ReplayItem<'_>)) -> Result<(), ReplayError> {
        let broker = self.broker.upgrade().ok_or(ReplayError::ShuttingDown)?;
        let p = broker
            .replicas()
            .partition(self.topic, partition)
            .ok_or_else(|| ReplayError::NotHosted { topic: self.topic.to_string(), partition })?;
        drop(broker);
        let end = p.log_end_offset();
        let mut offset = p.log_start_offset();
        while offset < end {
            let info = p.read(offset, 4 << 20, true, true)?;
            if info.records.is_empty() {
                break;
            }
            let mut next = offset;
            for (header, range) in batch::BatchIter::new(&info.records) {
                next = next.max(header.next_offset());
                // The decoder reserves room for the announced record count: bound it first.
                let plausible = header.compression() != batch::Compression::None
                    || i64::from(header.records_count) * 7 <= i64::from(header.batch_length);
                if batch::check_header(&header).is_err() || !plausible {
                    continue;
                }
                let mut bytes = info.records.slice(range);
                let set = match RecordBatchDecoder::decode(&mut bytes) {
                    Ok(set) => set,
                    Err(e) => {
                        tracing::warn!(topic = self.topic, partition, base_offset = header.base_offset, %e, "skipping an unreadable batch");
                        continue;
                    }
                };
                if header.is_control() {
                    // A transaction marker: one record whose key names COMMIT or ABORT.
                    let kind = set.records.first().and_then(|r| r.key.as_deref());
                    let Some(commit) = kind.and_then(batch::control_marker_commit) else { continue };
                    if header.base_offset >= offset {
                        visit(ReplayItem::Marker {
                            offset: header.base_offset,
                            producer_id: header.producer_id,
                            commit,
                        });
                    }
                    continue;
                }
                let txn_producer = header.is_transactional().then_some(header.producer_id);
                for r in set.records {
                    if r.offset < offset {
                        continue;
                    }
                    let record = Replayed { offset: r.offset, key: r.key.as_deref(), value: r.value.as_deref() };
                    visit(ReplayItem::Record { record, txn_producer });
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(())
    }

    fn leadership(&self) -> Leadership {
        let Some(broker) = self.broker.upgrade() else { return Leadership::default() };
        let partition_count = broker.metadata().topic(self.topic).map_or(0, |t| t.partitions.len() as i32);
        let led = broker
            .replicas()
            .all_partitions()
            .into_iter()
            .filter(|p| p.tp.topic == self.topic && p.is_leader())
            .map(|p| (p.tp.partition, p.leader_epoch()))
            .collect();
        Leadership { partition_count, led }
    }

    fn leadership_changes(&self) -> watch::Receiver<u64> {
        self.synced.clone()
    }
}

/// The metadata cache as coordinators read it.
pub struct BrokerTopics {
    broker: Weak<Broker>,
}

impl BrokerTopics {
    pub(crate) fn new(broker: Weak<Broker>) -> BrokerTopics {
        BrokerTopics { broker }
    }
}

impl TopicCatalog for BrokerTopics {
    fn partition_count(&self, topic: &str) -> Option<usize> {
        self.broker.upgrade()?.metadata.topic(topic).map(|t| t.partitions.len())
    }

    fn topic_names(&self) -> (std::collections::HashSet<String>, std::collections::HashSet<String>) {
        let Some(broker) = self.broker.upgrade() else { return Default::default() };
        let view = broker.metadata().view();
        (view.topics.keys().cloned().collect(), view.unreadable.iter().cloned().collect())
    }
}
