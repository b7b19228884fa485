//! The consumer: manually assigned partitions or a group subscription
//! (`rebalance.rs`, `group.rs`, `assignor.rs`), positions, seeking, commits,
//! and polling with prefetch.
//!
//! `poll` keeps at most one Fetch in flight per leader broker, each covering
//! all assigned partitions that broker leads. When an answer arrives its
//! records are decoded, positions advance, and the next fetch to that broker
//! is sent *before* the records are handed to the caller, so the broker is
//! already collecting the next batch while the caller works. Answers for a
//! partition whose position changed meanwhile (a seek) are discarded.
//!
//! `isolation.level=read_committed` asks Fetch and ListOffsets for committed
//! data only: fetches stop at the last stable offset, `SeekTo::End` and a
//! reset to latest go to it, and records of aborted transactions are dropped
//! (`fetcher.rs`). Transaction markers never reach the caller at either level.

pub mod assignor;
mod config;
mod fetcher;
pub(crate) mod group;
mod rebalance;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::FetchResponse;
use tokio::sync::mpsc;

pub use assignor::{AssignmentStrategy, CustomAssignor, MemberAssignment, MemberSubscription};
pub use config::{ConsumerConfig, IsolationLevel, OffsetReset};
pub use rebalance::{RebalanceCallbacks, RebalanceListener, RevocationHook};

use fetcher::FetchTarget;

use super::admin::list_offset;
use super::cluster::Cluster;
use super::{ClientError, ResponseError};

/// Where to move a partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// The log start offset.
    Beginning,
    /// The log end: only records produced from now on.
    End,
    /// An exact offset (a fetch from outside the log triggers `auto.offset.reset`).
    Offset(i64),
    /// The first record with a timestamp at or after this (ms since the
    /// epoch); the end of the log if there is none.
    Timestamp(i64),
}

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the record.
    LogAppendTime,
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Offset of the next record to return; `None` until resolved.
    position: Option<i64>,
    /// Waiting after a retriable error (leader moved, …).
    backoff_until: Option<Instant>,
    /// The end of the partition as of the last fetch: the last stable offset
    /// in read_committed, else the high watermark.
    end_offset: Option<i64>,
    /// The group's committed offset was looked up (a later reset after
    /// OFFSET_OUT_OF_RANGE must not go back to it).
    committed_checked: bool,
}

/// A consumer group's identity as `send_offsets_to_transaction` passes it to
/// TxnOffsetCommit (Java's `ConsumerGroupMetadata`). A bare group id (from
/// `&str`) commits as a non-member; with the generation and member id of a
/// live member, the group coordinator also fences a zombie member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// -1 when not a member.
    pub generation_id: i32,
    /// Empty when not a member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata of a group without a member (generation -1).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

impl From<&str> for ConsumerGroupMetadata {
    fn from(group_id: &str) -> Self {
        ConsumerGroupMetadata::new(group_id)
    }
}

impl From<String> for ConsumerGroupMetadata {
    fn from(group_id: String) -> Self {
        ConsumerGroupMetadata::new(group_id)
    }
}

/// A finished fetch, reported by its task.
struct FetchDone {
    node: i32,
    id: u64,
    targets: Vec<FetchTarget>,
    result: Result<FetchResponse, ClientError>,
}

/// A consumer of manually assigned partitions or of a group subscription.
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    assignment: BTreeMap<(String, i32), PartitionState>,
    /// The fetch in flight per broker.
    in_flight: HashMap<i32, u64>,
    next_fetch_id: u64,
    done_tx: mpsc::UnboundedSender<FetchDone>,
    done_rx: mpsc::UnboundedReceiver<FetchDone>,
    /// Records decoded but not yet returned (kept when poll failed midway).
    pending: Vec<ConsumerRecord>,
    /// Group membership after `subscribe`; `None` with manual assignment.
    membership: Option<rebalance::Membership>,
    /// The coordinator of `group.id`, once found.
    coordinator: Option<group::CoordinatorInfo>,
    /// When `enable.auto.commit` commits next.
    next_auto_commit: Instant,
    /// Awaited before partitions are revoked (see [`RevocationHook`]).
    revocation_hook: Option<RevocationHook>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("config", &self.config)
            .field("assignment", &self.assignment.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Checks the config and connects to the cluster.
    pub async fn new(config: ConsumerConfig) -> Result<Consumer, ClientError> {
        let security = crate::client::Security::for_client(&config.client)?;
        Consumer::with_security(config, security).await
    }

    /// Like [`Consumer::new`] with connection security built by the caller (a
    /// broker's inter-broker settings) rather than from the `security.*` keys.
    pub async fn with_security(
        config: ConsumerConfig,
        security: crate::client::Security,
    ) -> Result<Consumer, ClientError> {
        config.validate()?;
        let config_auto_commit_interval = config.auto_commit_interval;
        let cluster = Cluster::with_security(config.client.clone(), false, security)?;
        cluster.retry(|| cluster.refresh()).await?;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(Consumer {
            cluster,
            config,
            assignment: BTreeMap::new(),
            in_flight: HashMap::new(),
            next_fetch_id: 0,
            done_tx,
            done_rx,
            pending: Vec::new(),
            membership: None,
            coordinator: None,
            next_auto_commit: Instant::now() + config_auto_commit_interval,
            revocation_hook: None,
        })
    }

    /// The partition ids of a topic, sorted; an error if the topic does not exist.
    pub async fn partitions_for(&self, topic: &str) -> Result<Vec<i32>, ClientError> {
        let names = [topic.to_string()];
        let md = self.cluster.retry(|| self.cluster.fetch_metadata(Some(&names), false)).await?;
        match md.topics.get(topic) {
            Some(Ok(t)) => Ok(t.partitions.iter().map(|p| p.partition).collect()),
            Some(Err(e)) if e.code() != Some(ResponseError::UnknownTopicOrPartition) => Err(e.clone()),
            _ => Err(ClientError::kafka(
                ResponseError::UnknownTopicOrPartition,
                Some(format!("Topic '{topic}' does not exist.")),
                format!("topic '{topic}'"),
            )),
        }
    }

    /// Replaces the assignment. Partitions kept from the previous assignment
    /// keep their positions; new ones start per `auto.offset.reset` unless
    /// sought first. Unknown topics or partitions are an error.
    pub async fn assign(&mut self, partitions: Vec<(String, i32)>) -> Result<(), ClientError> {
        if self.membership.is_some() {
            return Err(ClientError::Config("assign and subscribe are mutually exclusive: unsubscribe first".into()));
        }
        let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        for t in &topics {
            self.cluster.add_interest(t);
        }
        self.cluster.retry(|| self.cluster.refresh()).await?;
        let md = self.cluster.snapshot();
        for (topic, partition) in &partitions {
            let exists = match md.topics.get(topic) {
                Some(Ok(t)) => t.partitions.iter().any(|p| p.partition == *partition),
                Some(Err(e)) if e.code() != Some(ResponseError::UnknownTopicOrPartition) => return Err(e.clone()),
                _ => false,
            };
            if !exists {
                return Err(ClientError::kafka(
                    ResponseError::UnknownTopicOrPartition,
                    Some(format!("Partition {topic}-{partition} does not exist.")),
                    format!("partition {topic}-{partition}"),
                ));
            }
        }
        let mut next = BTreeMap::new();
        for key in partitions {
            let state = self.assignment.remove(&key).unwrap_or_default();
            next.insert(key, state);
        }
        self.assignment = next;
        self.pending.retain(|r| self.assignment.contains_key(&(r.topic.clone(), r.partition)));
        Ok(())
    }

    /// Closes the consumer: with a `group.id` and `enable.auto.commit` the
    /// positions are committed, and a subscribed (dynamic) member leaves its
    /// group so the others take over its partitions at once. A commit error is
    /// returned after leaving.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let result = if self.membership.is_some() {
            self.leave(true).await
        } else if self.config.enable_auto_commit && self.config.group_id.is_some() {
            self.commit_sync().await
        } else {
            Ok(())
        };
        self.membership = None;
        result
    }

    /// The current assignment.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.assignment.keys().cloned().collect()
    }

    /// Moves an assigned partition's position; Beginning, End and Timestamp
    /// are looked up at once with ListOffsets.
    pub async fn seek(&mut self, topic: &str, partition: i32, to: SeekTo) -> Result<(), ClientError> {
        let key = (topic.to_string(), partition);
        if !self.assignment.contains_key(&key) {
            return Err(ClientError::Config(format!("cannot seek {topic}-{partition}: it is not assigned")));
        }
        let position = match to {
            SeekTo::Offset(o) => o,
            SeekTo::Beginning => self.lookup(topic, partition, -2).await?,
            SeekTo::End => self.lookup(topic, partition, -1).await?,
            SeekTo::Timestamp(ts) => match self.lookup(topic, partition, ts).await? {
                -1 => self.lookup(topic, partition, -1).await?,
                o => o,
            },
        };
        if let Some(state) = self.assignment.get_mut(&key) {
            state.position = Some(position);
            state.backoff_until = None;
        }
        self.pending.retain(|r| !(r.topic == topic && r.partition == partition));
        Ok(())
    }

    /// The group and, for a subscribed member, its generation and member id:
    /// what [`Producer::send_offsets_to_transaction`](crate::client::Producer::send_offsets_to_transaction)
    /// needs so that the group coordinator refuses offsets of a member that
    /// is no longer in the group. `None` without a `group.id`.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let group_id = self.config.group_id.clone()?;
        let mut meta = ConsumerGroupMetadata::new(group_id);
        meta.group_instance_id = self.config.group_instance_id.clone();
        if let Some(m) = &self.membership {
            meta.generation_id = m.generation;
            meta.member_id = m.member_id.clone();
        }
        Some(meta)
    }

    /// The offset of the next record `poll` returns for this partition, once known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.assignment.get(&(topic.to_string(), partition)).and_then(|s| s.position)
    }

    /// How far the position is behind the end of the partition as of the
    /// last fetch answer (Java's `currentLag`): the end is the last stable
    /// offset in read_committed and the high watermark otherwise. `None`
    /// before the partition was fetched.
    pub fn current_lag(&self, topic: &str, partition: i32) -> Option<i64> {
        let s = self.assignment.get(&(topic.to_string(), partition))?;
        Some((s.end_offset? - s.position?).max(0))
    }

    /// Returns the next records of the assigned partitions, in offset order
    /// per partition, or an empty Vec once `timeout` passes with nothing new.
    ///
    /// A subscribed consumer also takes part in its group here: it joins,
    /// rebalances when the group asks, and with `enable.auto.commit` commits
    /// the positions of what earlier polls returned every
    /// `auto.commit.interval.ms`. JoinGroup and SyncGroup run in a background
    /// task that `poll` waits for only until `timeout`, so one task can drive
    /// several members; dropping the future midway is safe, the next call
    /// carries on.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = Instant::now() + timeout;
        self.ensure_group(deadline).await?;
        self.maybe_auto_commit().await;
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        let wakeup = self.membership.as_ref().map(|m| m.heartbeat.notify.clone());
        loop {
            self.ensure_group(deadline).await?;
            self.resolve_positions().await?;
            // Answers that came in since the last poll first: each one ends its
            // broker's fetch, so the next fetches go out only after them (an
            // empty answer, quick with fetch.max.wait.ms=0, left none in flight).
            let mut records = Vec::new();
            while let Ok(done) = self.done_rx.try_recv() {
                self.process(done, &mut records)?;
            }
            let blocked = self.send_fetches();
            if !records.is_empty() {
                return Ok(records);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(records);
            }
            // With partitions waiting on metadata or backoff, look again soon.
            let wake = if blocked { deadline.min(now + self.config.client.retry_backoff) } else { deadline };
            // The heartbeat task wakes us when the group needs attention.
            let group_news = async {
                match &wakeup {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                r = tokio::time::timeout_at(wake.into(), self.done_rx.recv()) => r,
                () = group_news => continue,
            };
            match next {
                Ok(Some(done)) => {
                    self.process(done, &mut records)?;
                    self.send_fetches();
                    if !records.is_empty() {
                        return Ok(records);
                    }
                }
                Ok(None) => return Err(ClientError::Closed("consumer")),
                Err(_) => {
                    if Instant::now() >= deadline {
                        return Ok(records);
                    }
                }
            }
        }
    }

    async fn lookup(&self, topic: &str, partition: i32, timestamp: i64) -> Result<i64, ClientError> {
        list_offset(&self.cluster, topic, partition, timestamp, self.config.isolation_level.as_i8()).await
    }

    /// Gives every partition without a position one: the group's committed
    /// offset when there is a `group.id` and one was committed, else per
    /// `auto.offset.reset`.
    async fn resolve_positions(&mut self) -> Result<(), ClientError> {
        if self.config.group_id.is_some() {
            let unchecked: Vec<(String, i32)> = self
                .assignment
                .iter()
                .filter(|(_, s)| s.position.is_none() && !s.committed_checked)
                .map(|(k, _)| k.clone())
                .collect();
            if !unchecked.is_empty() {
                let committed = match self.committed(&unchecked).await {
                    Ok(c) => c,
                    Err(err) if err.is_retriable() || group::GroupError::of(&err) != group::GroupError::Fatal => {
                        // Try again at the next round rather than fall back to a reset.
                        tracing::debug!(%err, "fetching committed offsets failed; retrying");
                        return Ok(());
                    }
                    Err(err) => return Err(err),
                };
                for (tp, offset) in committed {
                    if let Some(s) = self.assignment.get_mut(&tp) {
                        s.committed_checked = true;
                        if s.position.is_none() {
                            s.position = offset;
                        }
                    }
                }
            }
        }
        let unresolved: Vec<(String, i32)> =
            self.assignment.iter().filter(|(_, s)| s.position.is_none()).map(|(k, _)| k.clone()).collect();
        for (topic, partition) in unresolved {
            let spec = match self.config.auto_offset_reset {
                OffsetReset::Earliest => -2,
                OffsetReset::Latest => -1,
                OffsetReset::None => return Err(ClientError::NoOffset { topic, partition }),
            };
            let offset = self.lookup(&topic, partition, spec).await?;
            if let Some(s) = self.assignment.get_mut(&(topic, partition)) {
                s.position = Some(offset);
            }
        }
        Ok(())
    }

    /// Sends a fetch to every leader without one in flight. Returns true if
    /// some partition could not be fetched (no leader or backing off).
    fn send_fetches(&mut self) -> bool {
        let md = self.cluster.snapshot();
        let now = Instant::now();
        let mut blocked = false;
        let mut by_node: BTreeMap<i32, Vec<FetchTarget>> = BTreeMap::new();
        for ((topic, partition), state) in &mut self.assignment {
            let Some(position) = state.position else { continue };
            if state.backoff_until.is_some_and(|t| t > now) {
                blocked = true;
                continue;
            }
            state.backoff_until = None;
            let Some(leader) = md.leader(topic, *partition) else {
                blocked = true;
                continue;
            };
            if self.in_flight.contains_key(&leader) {
                continue;
            }
            by_node.entry(leader).or_default().push(FetchTarget {
                topic: topic.clone(),
                partition: *partition,
                offset: position,
            });
        }
        if blocked || self.cluster.is_stale() {
            self.spawn_refresh();
        }
        for (node, targets) in by_node {
            let id = self.next_fetch_id;
            self.next_fetch_id += 1;
            self.in_flight.insert(node, id);
            let cluster = self.cluster.clone();
            let config = self.config.clone();
            let tx = self.done_tx.clone();
            tokio::spawn(async move {
                let result = fetcher::fetch(&cluster, &config, node, &targets).await;
                let _ = tx.send(FetchDone { node, id, targets, result });
            });
        }
        blocked
    }

    fn spawn_refresh(&self) {
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            if let Err(err) = cluster.refresh().await {
                tracing::debug!(%err, "consumer metadata refresh failed");
            }
        });
    }

    /// Turns a finished fetch into records and position updates.
    fn process(&mut self, done: FetchDone, out: &mut Vec<ConsumerRecord>) -> Result<(), ClientError> {
        if self.in_flight.get(&done.node) == Some(&done.id) {
            self.in_flight.remove(&done.node);
        }
        let backoff = self.config.client.retry_backoff;
        let resp = match done.result {
            Ok(resp) if resp.error_code == 0 => resp,
            Ok(resp) => {
                let err = ClientError::kafka(
                    ResponseError::try_from_code(resp.error_code).unwrap_or(ResponseError::UnknownServerError),
                    None,
                    format!("fetch from broker {}", done.node),
                );
                return self.retry_later(&done.targets, err, backoff);
            }
            Err(err) => return self.retry_later(&done.targets, err, backoff),
        };
        let mut failure = None;
        let mut refresh = false;
        for topic in resp.responses {
            let name = topic.topic.0.to_string();
            for p in topic.partitions {
                let key = (name.clone(), p.partition_index);
                let asked = done.targets.iter().find(|t| t.topic == name && t.partition == p.partition_index);
                let Some(asked) = asked else { continue };
                let Some(state) = self.assignment.get_mut(&key) else { continue };
                if state.position != Some(asked.offset) {
                    continue; // sought elsewhere meanwhile
                }
                match ResponseError::try_from_code(p.error_code) {
                    None => {
                        // The end a lag is measured to: the LSO in read_committed, as Kafka does.
                        let end = match self.config.isolation_level {
                            IsolationLevel::ReadCommitted if p.last_stable_offset >= 0 => p.last_stable_offset,
                            _ => p.high_watermark,
                        };
                        if end >= 0 {
                            state.end_offset = Some(end);
                        }
                        let Some(records) = &p.records else { continue };
                        let mut filter = match self.config.isolation_level {
                            IsolationLevel::ReadCommitted => Some(fetcher::AbortedFilter::new(
                                p.aborted_transactions.iter().flatten().map(|t| (t.producer_id.0, t.first_offset)),
                            )),
                            IsolationLevel::ReadUncommitted => None,
                        };
                        let start = out.len();
                        match fetcher::decode_partition(
                            &name,
                            p.partition_index,
                            records,
                            asked.offset,
                            filter.as_mut(),
                            out,
                        ) {
                            Ok(next) => state.position = Some(next),
                            Err(e) => {
                                out.truncate(start);
                                failure.get_or_insert(e);
                            }
                        }
                    }
                    Some(ResponseError::OffsetOutOfRange) => match self.config.auto_offset_reset {
                        OffsetReset::None => {
                            failure.get_or_insert(ClientError::kafka(
                                ResponseError::OffsetOutOfRange,
                                Some(format!(
                                    "Fetch position {} is out of range for partition {}-{} (log {}..{}).",
                                    asked.offset, name, p.partition_index, p.log_start_offset, p.high_watermark
                                )),
                                format!("partition {}-{}", name, p.partition_index),
                            ));
                        }
                        // Resolved again by the next poll round.
                        _ => state.position = None,
                    },
                    Some(code) => {
                        let err = ClientError::kafka(code, None, format!("partition {}-{}", name, p.partition_index));
                        if crate::client::cluster::is_transient(&err) || code == ResponseError::UnknownTopicOrPartition
                        {
                            refresh |= err.invalidates_metadata();
                            state.backoff_until = Some(Instant::now() + backoff);
                        } else {
                            failure.get_or_insert(err);
                        }
                    }
                }
            }
        }
        if refresh {
            self.spawn_refresh();
        }
        match failure {
            Some(err) => {
                self.pending.append(out);
                Err(err)
            }
            None => Ok(()),
        }
    }

    /// Backs off the fetched partitions after a failed fetch; fatal errors are returned.
    fn retry_later(&mut self, targets: &[FetchTarget], err: ClientError, backoff: Duration) -> Result<(), ClientError> {
        if !(crate::client::cluster::is_transient(&err) || err.is_retriable()) {
            return Err(err);
        }
        tracing::debug!(%err, "fetch failed; retrying");
        let until = Instant::now() + backoff;
        for t in targets {
            if let Some(s) = self.assignment.get_mut(&(t.topic.clone(), t.partition)) {
                s.backoff_until = Some(until);
            }
        }
        if err.invalidates_metadata() {
            self.spawn_refresh();
        }
        Ok(())
    }
}
