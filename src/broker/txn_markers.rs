//! The broker's side of the transaction coordinator: [`BrokerMarkerSender`]
//! writes a transaction's COMMIT/ABORT markers to its partitions' leaders,
//! and [`BrokerProducerIds`] hands out producer ids from the broker's
//! durable blocks. The coordinator holds both as trait objects
//! (`coordinator::txn::service`), never the `Broker`.
//!
//! Markers are grouped by the partitions' current leaders (metadata cache).
//! Partitions this broker leads go through the WriteTxnMarkers handler
//! itself, not straight to the partition, so whatever that handler does on
//! a marker (completing pending transactional offset commits on
//! `__consumer_offsets`) happens for local markers too. Other leaders get
//! WriteTxnMarkers v1 over one inter-broker connection per leader, the
//! client connection the replica fetchers use. Each call makes one attempt
//! and classifies every partition's result; the coordinator retries.
//!
//! Both hold a `Weak<Broker>`: the broker owns its coordinators.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ApiKey, ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::handler::{self, topic_name};
use super::Broker;
use crate::client::connection::Connection;
use crate::coordinator::log::LogFuture;
use crate::coordinator::txn::state::{MarkerJob, TxnResult};
use crate::coordinator::txn::{MarkerOutcome, MarkerSender, ProducerIdSource};
use crate::protocol::ErrorCode;
use crate::storage::TopicPartition;

/// Writes markers for the transaction coordinator.
pub struct BrokerMarkerSender {
    broker: Weak<Broker>,
    /// One connection per remote leader, replaced when it breaks.
    connections: tokio::sync::Mutex<HashMap<i32, Arc<Connection>>>,
}

impl BrokerMarkerSender {
    pub(crate) fn new(broker: Weak<Broker>) -> BrokerMarkerSender {
        BrokerMarkerSender { broker, connections: tokio::sync::Mutex::new(HashMap::new()) }
    }

    async fn write(&self, job: &MarkerJob, partitions: &[TopicPartition]) -> Vec<(TopicPartition, MarkerOutcome)> {
        let Some(broker) = self.broker.upgrade() else {
            return partitions
                .iter()
                .map(|tp| (tp.clone(), MarkerOutcome::Retry(ErrorCode::BrokerNotAvailable)))
                .collect();
        };
        let mut out = Vec::with_capacity(partitions.len());
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in partitions {
            if broker.metadata().topic(&tp.topic).is_none() {
                out.push((tp.clone(), MarkerOutcome::TopicDeleted));
                continue;
            }
            match broker.metadata().partition_state(&tp.topic, tp.partition).map(|s| s.leader) {
                Some(leader) if leader >= 0 => by_leader.entry(leader).or_default().push(tp.clone()),
                Some(_) => out.push((tp.clone(), MarkerOutcome::Retry(ErrorCode::LeaderNotAvailable))),
                // The topic exists but has no such partition (yet): the
                // metadata cache may lag a partition increase.
                None => out.push((tp.clone(), MarkerOutcome::Retry(ErrorCode::UnknownTopicOrPartition))),
            }
        }
        for (leader, tps) in by_leader {
            let request = marker_request(job, &tps);
            let answer = if leader == broker.node_id() {
                Ok(handler::write_txn_markers::handle(broker.replicas(), broker.groups(), request).await)
            } else {
                self.send_remote(&broker, leader, request).await
            };
            match answer {
                Ok(resp) => out.extend(classify(&broker, &tps, &resp)),
                Err(code) => out.extend(tps.into_iter().map(|tp| (tp, MarkerOutcome::Retry(code)))),
            }
        }
        out
    }

    /// WriteTxnMarkers v1 to another broker; a broken connection is dropped
    /// so the next attempt reconnects.
    async fn send_remote(
        &self,
        broker: &Broker,
        leader: i32,
        request: WriteTxnMarkersRequest,
    ) -> Result<WriteTxnMarkersResponse, ErrorCode> {
        let timeout = Duration::from_millis(broker.config().request_timeout_ms.max(1000));
        let conn = {
            let mut conns = self.connections.lock().await;
            match conns.get(&leader) {
                Some(c) if !c.is_closed() => c.clone(),
                _ => {
                    let addr = super::replication::broker_addr(broker, leader).ok_or(ErrorCode::BrokerNotAvailable)?;
                    let client_id = format!("broker-{}-txn-markers", broker.node_id());
                    let c = Connection::connect(&addr, &client_id, timeout, &broker.inter_broker().security)
                        .await
                        .map_err(|err| {
                            tracing::debug!(leader, %addr, %err, "cannot connect to a partition leader for markers");
                            ErrorCode::NetworkException
                        })?;
                    conns.insert(leader, c.clone());
                    c
                }
            }
        };
        let version = conn.version(ApiKey::WriteTxnMarkers).map_err(|_| ErrorCode::UnsupportedVersion)?;
        match conn.call(&request, version).await {
            Ok(resp) => Ok(resp),
            Err(err) => {
                tracing::debug!(leader, %err, "WriteTxnMarkers failed");
                let mut conns = self.connections.lock().await;
                if conns.get(&leader).is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    conns.remove(&leader);
                }
                conn.close(err);
                Err(ErrorCode::NetworkException)
            }
        }
    }
}

impl MarkerSender for BrokerMarkerSender {
    fn write_markers<'a>(
        &'a self,
        job: &'a MarkerJob,
        partitions: &'a [TopicPartition],
    ) -> LogFuture<'a, Vec<(TopicPartition, MarkerOutcome)>> {
        Box::pin(self.write(job, partitions))
    }
}

fn marker_request(job: &MarkerJob, partitions: &[TopicPartition]) -> WriteTxnMarkersRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| WritableTxnMarkerTopic::default().with_name(topic_name(t)).with_partition_indexes(ps))
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.result == TxnResult::Commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(topics)])
}

/// One outcome per asked partition; a partition missing from the answer is
/// retried.
fn classify(
    broker: &Broker,
    asked: &[TopicPartition],
    resp: &WriteTxnMarkersResponse,
) -> Vec<(TopicPartition, MarkerOutcome)> {
    let mut codes: HashMap<(&str, i32), i16> = HashMap::new();
    for m in &resp.markers {
        for t in &m.topics {
            for p in &t.partitions {
                codes.insert((t.name.0.as_str(), p.partition_index), p.error_code);
            }
        }
    }
    asked
        .iter()
        .map(|tp| {
            let outcome = match codes.get(&(tp.topic.as_str(), tp.partition)) {
                None => MarkerOutcome::Retry(ErrorCode::UnknownServerError),
                Some(0) => MarkerOutcome::Written,
                Some(&code) => outcome_of(
                    ErrorCode::try_from_code(code).unwrap_or(ErrorCode::UnknownServerError),
                    broker.metadata().topic(&tp.topic).is_some(),
                ),
            };
            (tp.clone(), outcome)
        })
        .collect()
}

/// What a partition's error means for its marker, as Kafka's marker
/// channel treats it: fencing errors end the job (a newer coordinator or
/// producer epoch owns the partition's producer state), everything else is
/// retried, except a partition whose topic is gone.
fn outcome_of(code: ErrorCode, topic_exists: bool) -> MarkerOutcome {
    match code {
        ErrorCode::UnknownTopicOrPartition if !topic_exists => MarkerOutcome::TopicDeleted,
        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced | ErrorCode::TransactionCoordinatorFenced => {
            MarkerOutcome::Fenced(code)
        }
        code => MarkerOutcome::Retry(code),
    }
}

/// Producer ids for idempotent producers (InitProducerId without a
/// transactional id) and the transaction coordinator, handed out from
/// blocks reserved in ZooKeeper (`/latest_producer_id_block`).
pub struct BrokerProducerIds {
    broker: Weak<Broker>,
    /// The current block: next id and end (exclusive).
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl BrokerProducerIds {
    pub(crate) fn new(broker: Weak<Broker>) -> BrokerProducerIds {
        BrokerProducerIds { broker, block: tokio::sync::Mutex::new((0, 0)) }
    }

    /// The next producer id, allocating a new durable block when one runs out.
    async fn next(&self) -> Result<i64, ErrorCode> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let broker = self.broker.upgrade().ok_or(ErrorCode::CoordinatorNotAvailable)?;
            *block = broker.metadata().allocate_producer_ids().await.map_err(|err| {
                tracing::error!(%err, "cannot allocate producer ids");
                ErrorCode::CoordinatorNotAvailable
            })?;
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

impl ProducerIdSource for BrokerProducerIds {
    fn next_producer_id(&self) -> LogFuture<'_, Result<i64, ErrorCode>> {
        Box::pin(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_ends_a_job_deleted_topics_are_dropped_the_rest_retries() {
        assert_eq!(outcome_of(ErrorCode::UnknownTopicOrPartition, false), MarkerOutcome::TopicDeleted);
        assert_eq!(
            outcome_of(ErrorCode::UnknownTopicOrPartition, true),
            MarkerOutcome::Retry(ErrorCode::UnknownTopicOrPartition)
        );
        assert_eq!(
            outcome_of(ErrorCode::TransactionCoordinatorFenced, true),
            MarkerOutcome::Fenced(ErrorCode::TransactionCoordinatorFenced)
        );
        for code in [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::NotEnoughReplicas,
            ErrorCode::NotEnoughReplicasAfterAppend,
            ErrorCode::RequestTimedOut,
        ] {
            assert_eq!(outcome_of(code, true), MarkerOutcome::Retry(code));
        }
    }
}
