//! Transaction administration (KIP-664, the admin side of issue #12): the
//! producer state of partitions (DescribeProducers), the transactions the
//! coordinators hold (ListTransactions, DescribeTransactions), and aborting a
//! hanging transaction by writing its ABORT marker directly.
//!
//! Where each request goes, as in Kafka's admin client:
//! - DescribeProducers: to each partition's leader (or to one chosen broker,
//!   which may be a follower), retried after a metadata refresh when the
//!   leader moved;
//! - ListTransactions: to every broker, since each knows only the
//!   transactional ids it coordinates; the answers are merged;
//! - DescribeTransactions: to the coordinator of each transactional id, found
//!   with FindCoordinator key type 1, looked up again when it moved;
//! - abort: a WriteTxnMarkers ABORT for one producer on one partition, sent
//!   to the partition's leader with the producer id, producer epoch and
//!   coordinator epoch the operator (or DescribeProducers) gave.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeTransactionsRequest, FindCoordinatorRequest, ListTransactionsRequest,
    ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::admin_groups::TopicPartition;
use super::cluster::is_transient;
use super::{ClientError, ResponseError};

/// FindCoordinator key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// One producer a partition replica keeps state for (Kafka's `ProducerState`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProducerState {
    pub producer_id: i64,
    pub producer_epoch: i32,
    /// −1 when no sequenced batch is cached.
    pub last_sequence: i32,
    /// When it last wrote, ms since the epoch (−1 unknown).
    pub last_timestamp: i64,
    /// The coordinator epoch of its last marker; `None` before any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of its open transaction, if one is open.
    pub current_transaction_start_offset: Option<i64>,
}

/// A transaction as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TransactionListing {
    pub transactional_id: String,
    /// The broker coordinating it.
    pub coordinator: i32,
    pub producer_id: i64,
    /// `Ongoing`, `PrepareCommit`, `CompleteAbort`, … as the coordinator spells it.
    pub state: String,
}

/// Filters of [`Admin::list_transactions`] (all empty: every transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsOptions {
    /// Keep transactions in these states (e.g. `Ongoing`).
    pub states: Vec<String>,
    /// Keep transactions of these producer ids.
    pub producer_ids: Vec<i64>,
    /// Keep transactions running for longer than this (ListTransactions v1+).
    pub duration: Option<Duration>,
}

/// A transactional id's state at its coordinator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TransactionDescription {
    pub coordinator_id: i32,
    pub transactional_id: String,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    /// When the open transaction started; `None` when none is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions of the open transaction (or those still waiting for a marker), sorted.
    pub topic_partitions: Vec<TopicPartition>,
}

/// Which transaction [`Admin::abort_transaction`] ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    pub topic_partition: TopicPartition,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Admin {
    /// The producers each partition's leader (or broker `broker_id`, leader or
    /// follower) keeps state for, sorted by producer id. A partition that
    /// fails after the retries fails the whole call, naming the partition.
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
        broker_id: Option<i32>,
    ) -> Result<BTreeMap<TopicPartition, Vec<ProducerState>>, ClientError> {
        let cluster = &self.cluster;
        let deadline = Instant::now() + cluster.config.request_timeout;
        let mut backoff = cluster.config.retry_backoff;
        let mut out = BTreeMap::new();
        let mut pending: Vec<TopicPartition> = partitions.to_vec();
        pending.sort();
        pending.dedup();
        for tp in &pending {
            cluster.add_interest(&tp.topic);
        }
        loop {
            let mut failed: Vec<(TopicPartition, ClientError)> = Vec::new();
            let mut targets: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            for tp in pending.drain(..) {
                match broker_id {
                    Some(b) => targets.entry(b).or_default().push(tp),
                    None => match self.leader_of(&tp).await {
                        Ok(leader) => targets.entry(leader).or_default().push(tp),
                        Err(e) => failed.push((tp, e)),
                    },
                }
            }
            for (broker, tps) in targets {
                match describe_producers_on(self, broker, &tps).await {
                    Ok(results) => {
                        for (tp, result) in results {
                            match result {
                                Ok(producers) => {
                                    out.insert(tp, producers);
                                }
                                Err(e) => failed.push((tp, e)),
                            }
                        }
                    }
                    Err(e) => failed.extend(tps.into_iter().map(|tp| (tp, e.clone()))),
                }
            }
            let Some((_, first)) = failed.first() else { return Ok(out) };
            let retry_all = failed.iter().all(|(_, e)| is_transient(e));
            // A chosen broker that is not a replica will not become one by waiting.
            let chosen_refused = broker_id.is_some() && first.code() == Some(ResponseError::NotLeaderOrFollower);
            if !retry_all || chosen_refused || Instant::now() + backoff >= deadline {
                return Err(first.clone());
            }
            tracing::debug!(err = %first, "describing producers again");
            tokio::time::sleep(backoff).await;
            let _ = cluster.refresh().await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            pending = failed.into_iter().map(|(tp, _)| tp).collect();
        }
    }

    /// The leader of a partition from the metadata (refreshed when the topic
    /// is not in it yet): UNKNOWN_TOPIC_OR_PARTITION for a partition the
    /// topic does not have, LEADER_NOT_AVAILABLE while it has no leader.
    async fn leader_of(&self, tp: &TopicPartition) -> Result<i32, ClientError> {
        let cluster = &self.cluster;
        let context = || format!("partition {tp}");
        let mut md = cluster.snapshot();
        if !md.topics.contains_key(&tp.topic) {
            cluster.add_interest(&tp.topic);
            cluster.refresh().await?;
            md = cluster.snapshot();
        }
        match md.topics.get(&tp.topic) {
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(t)) if !t.partitions.iter().any(|p| p.partition == tp.partition) => {
                return Err(ClientError::kafka(
                    ResponseError::UnknownTopicOrPartition,
                    Some(format!("Partition {} of topic '{}' does not exist.", tp.partition, tp.topic)),
                    context(),
                ))
            }
            None => {
                return Err(ClientError::kafka(
                    ResponseError::UnknownTopicOrPartition,
                    Some(format!("Topic '{}' does not exist.", tp.topic)),
                    context(),
                ))
            }
            _ => {}
        }
        md.leader(&tp.topic, tp.partition)
            .ok_or_else(|| ClientError::kafka(ResponseError::LeaderNotAvailable, None, context()))
    }

    /// Every transaction the coordinators hold, from ListTransactions to every
    /// broker, sorted by transactional id. A duration filter needs
    /// ListTransactions v1 (Kafka 3.8+ brokers).
    pub async fn list_transactions(
        &self,
        options: &ListTransactionsOptions,
    ) -> Result<Vec<TransactionListing>, ClientError> {
        let cluster = &self.cluster;
        let md = cluster.retry(|| cluster.fetch_metadata(Some(&[]), false)).await?;
        let duration_ms = match options.duration {
            Some(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            None => -1,
        };
        let req = ListTransactionsRequest::default()
            .with_state_filters(options.states.iter().map(|s| sb(s)).collect())
            .with_producer_id_filters(options.producer_ids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(duration_ms);
        let mut listings = Vec::new();
        for id in md.brokers.keys() {
            let listed = cluster
                .retry(|| async {
                    let conn = cluster.broker_connection(*id).await?;
                    // A broker without a transaction coordinator does not serve it.
                    let version = conn.version(ApiKey::ListTransactions).map_err(|e| {
                        ClientError::kafka(ResponseError::UnsupportedVersion, Some(e.to_string()), "list transactions")
                    })?;
                    if version < 1 && duration_ms >= 0 {
                        return Err(ClientError::kafka(
                            ResponseError::UnsupportedVersion,
                            Some(format!("broker {id} cannot filter transactions by duration (ListTransactions v0)")),
                            "list transactions",
                        ));
                    }
                    let resp = conn.call(&req, version).await?;
                    ClientError::check(resp.error_code, None, || format!("list transactions on broker {id}"))?;
                    Ok(resp
                        .transaction_states
                        .into_iter()
                        .map(|t| TransactionListing {
                            transactional_id: t.transactional_id.0.to_string(),
                            coordinator: *id,
                            producer_id: t.producer_id.0,
                            state: t.transaction_state.to_string(),
                        })
                        .collect::<Vec<_>>())
                })
                .await?;
            listings.extend(listed);
        }
        listings.sort_by(|a, b| (&a.transactional_id, a.coordinator).cmp(&(&b.transactional_id, b.coordinator)));
        Ok(listings)
    }

    /// The coordinator of a transactional id: (broker id, `host:port`).
    pub async fn find_transaction_coordinator(&self, transactional_id: &str) -> Result<(i32, String), ClientError> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::FindCoordinator)?;
        let context = || format!("finding the coordinator of transactional id '{transactional_id}'");
        if version < 1 {
            return Err(ClientError::kafka(
                ResponseError::UnsupportedVersion,
                Some("the broker cannot look up transaction coordinators (FindCoordinator v0)".into()),
                context(),
            ));
        }
        let mut req = FindCoordinatorRequest::default().with_key_type(KEY_TYPE_TRANSACTION);
        if version >= 4 {
            req.coordinator_keys = vec![sb(transactional_id)];
        } else {
            req.key = sb(transactional_id);
        }
        let resp = conn.call(&req, version).await?;
        let (code, message, node, host, port) = if version >= 4 {
            let c =
                resp.coordinators.into_iter().next().ok_or_else(|| {
                    ClientError::protocol(conn.addr(), "FindCoordinator answer without a coordinator")
                })?;
            (c.error_code, c.error_message, c.node_id.0, c.host, c.port)
        } else {
            (resp.error_code, resp.error_message, resp.node_id.0, resp.host, resp.port)
        };
        ClientError::check(code, message.as_ref(), context)?;
        if node < 0 || host.is_empty() {
            return Err(ClientError::kafka(ResponseError::CoordinatorNotAvailable, None, context()));
        }
        let host = host.to_string();
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok((node, addr))
    }

    /// Describes one transactional id at its coordinator. An id the
    /// coordinator does not know is TRANSACTIONAL_ID_NOT_FOUND.
    pub async fn describe_transaction(&self, transactional_id: &str) -> Result<TransactionDescription, ClientError> {
        let context = || format!("describe transactional id '{transactional_id}'");
        let lookup = || self.find_transaction_coordinator(transactional_id);
        self.with_coordinator_from(transactional_id, lookup, |conn, coordinator| async move {
            let version = conn.version(ApiKey::DescribeTransactions)?;
            let req = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(sb(transactional_id))]);
            let resp = conn.call(&req, version).await?;
            let t = resp
                .transaction_states
                .into_iter()
                .find(|t| t.transactional_id.0.as_str() == transactional_id)
                .ok_or_else(|| ClientError::protocol(conn.addr(), "DescribeTransactions answer lacks the id"))?;
            ClientError::check(t.error_code, None, context)?;
            let mut topic_partitions: Vec<TopicPartition> = t
                .topics
                .iter()
                .flat_map(|topic| topic.partitions.iter().map(|p| TopicPartition::new(topic.topic.0.as_str(), *p)))
                .collect();
            topic_partitions.sort();
            Ok(TransactionDescription {
                coordinator_id: coordinator,
                transactional_id: transactional_id.to_string(),
                state: t.transaction_state.to_string(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                transaction_timeout_ms: t.transaction_timeout_ms,
                transaction_start_time_ms: (t.transaction_start_time_ms >= 0).then_some(t.transaction_start_time_ms),
                topic_partitions,
            })
        })
        .await
    }

    /// Aborts one producer's transaction on one partition by writing the ABORT
    /// marker at the partition's leader, as Kafka's `Admin.abortTransaction`
    /// does. The leader refuses an older producer epoch
    /// (INVALID_PRODUCER_EPOCH) or coordinator epoch (TRANSACTION_COORDINATOR_FENCED).
    pub async fn abort_transaction(&self, spec: &AbortTransactionSpec) -> Result<(), ClientError> {
        let tp = &spec.topic_partition;
        let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(spec.producer_id))
            .with_producer_epoch(spec.producer_epoch)
            .with_transaction_result(false)
            .with_coordinator_epoch(spec.coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(sb(&tp.topic)))
                .with_partition_indexes(vec![tp.partition])])]);
        self.cluster.add_interest(&tp.topic);
        self.cluster
            .retry(|| async {
                let leader = self.leader_of(tp).await?;
                let conn = self.cluster.broker_connection(leader).await?;
                let version = conn.version(ApiKey::WriteTxnMarkers)?;
                let resp = conn.call(&req, version).await?;
                let code = resp
                    .markers
                    .iter()
                    .filter(|m| m.producer_id.0 == spec.producer_id)
                    .flat_map(|m| m.topics.iter().filter(|t| t.name.0.as_str() == tp.topic))
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition)
                    .map(|p| p.error_code)
                    .ok_or_else(|| ClientError::protocol(conn.addr(), "WriteTxnMarkers answer lacks the partition"))?;
                ClientError::check(code, None, || {
                    format!("abort the transaction of producer {} on {tp}", spec.producer_id)
                })
            })
            .await
    }
}

/// One DescribeProducers round trip to `broker` for `tps`: each partition's
/// producers or its error.
async fn describe_producers_on(
    admin: &Admin,
    broker: i32,
    tps: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Result<Vec<ProducerState>, ClientError>)>, ClientError> {
    let conn = admin.cluster.broker_connection(broker).await?;
    let version = conn.version(ApiKey::DescribeProducers)?;
    let mut by_topic: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(tp.topic.as_str()).or_default().insert(tp.partition);
    }
    let req = DescribeProducersRequest::default().with_topics(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                TopicRequest::default().with_name(TopicName(sb(t))).with_partition_indexes(ps.into_iter().collect())
            })
            .collect(),
    );
    let resp = conn.call(&req, version).await?;
    let mut out = Vec::with_capacity(tps.len());
    for tp in tps {
        let answer = resp
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == tp.topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == tp.partition);
        let result = match answer {
            None => Err(ClientError::protocol(conn.addr(), format!("DescribeProducers answer lacks {tp}"))),
            Some(p) => ClientError::check(p.error_code, p.error_message.as_ref(), || {
                format!("describe producers of partition {tp} on broker {broker}")
            })
            .map(|()| {
                let mut producers: Vec<ProducerState> = p
                    .active_producers
                    .iter()
                    .map(|s| ProducerState {
                        producer_id: s.producer_id.0,
                        producer_epoch: s.producer_epoch,
                        last_sequence: s.last_sequence,
                        last_timestamp: s.last_timestamp,
                        coordinator_epoch: (s.coordinator_epoch >= 0).then_some(s.coordinator_epoch),
                        current_transaction_start_offset: (s.current_txn_start_offset >= 0)
                            .then_some(s.current_txn_start_offset),
                    })
                    .collect();
                producers.sort_by_key(|s| s.producer_id);
                producers
            }),
        };
        out.push((tp.clone(), result));
    }
    Ok(out)
}
