//! The group coordinator (Kafka's classic consumer-group protocol).
//!
//! Every group belongs to one partition of the internal compacted topic
//! `__consumer_offsets` (Java's `String.hashCode` of the group id modulo the
//! partition count); the broker that leads that partition coordinates the
//! group. Group metadata (after each completed rebalance) and committed
//! offsets are records in that partition, appended by the coordinator and
//! replicated like any other, so when leadership moves the new leader loads
//! the partition and carries on: members keep their generation and simply
//! heartbeat the new coordinator.
//!
//! [`GroupCoordinator`] keeps the groups of the partitions this broker leads
//! in memory behind one mutex; no I/O happens under it. Requests that must
//! wait (JoinGroup until the rebalance completes, SyncGroup until the leader
//! sends the assignment) hold a oneshot receiver. One task follows
//! leadership of `__consumer_offsets` partitions (loading and unloading
//! groups), expires sessions and rebalance deadlines, and expires old offsets
//! (`offsets.retention.minutes`).
//!
//! Transactional offset commits (TxnOffsetCommit, [`txn_offsets`]) are
//! written as transactional batches of the producer and stay pending for
//! (group, producer) until WriteTxnMarkers' marker for the producer is
//! committed on the group's partition, which the marker handler reports
//! through [`GroupCoordinator::complete_transaction`].
//!
//! The coordinator never sees the `Broker`: it reads and writes
//! `__consumer_offsets` through the internal-log handle of [`log`] (the layer
//! the transaction coordinator shares) and checks topics through a
//! [`log::TopicCatalog`], both implemented by the broker.

pub mod group;
pub mod log;
mod persist;
pub mod records;
pub mod txn;
pub mod txn_offsets;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use group::{After, Group, Member};
pub use group::{GroupState, JoinResult, SyncResult};
use records::OffsetValue;

use self::log::{InternalLog, LeadershipEvent, LeadershipFollower, TopicCatalog, TxnProducer};

use crate::config::BrokerConfig;
use crate::network::Shutdown;
use crate::protocol::ErrorCode;

/// The internal topic holding group metadata and committed offsets.
pub use crate::protocol::internal_topics::OFFSETS_TOPIC;

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The broker settings the group coordinator follows.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    pub group_max_size: u32,
    pub group_initial_rebalance_delay_ms: u64,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_minutes: u32,
    pub offsets_retention_check_interval_ms: u64,
}

impl GroupConfig {
    pub fn from_broker(cfg: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            group_min_session_timeout_ms: cfg.group_min_session_timeout_ms,
            group_max_session_timeout_ms: cfg.group_max_session_timeout_ms,
            group_max_size: cfg.group_max_size,
            group_initial_rebalance_delay_ms: cfg.group_initial_rebalance_delay_ms,
            offset_metadata_max_bytes: cfg.offset_metadata_max_bytes as usize,
            offsets_retention_minutes: cfg.offsets_retention_minutes,
            offsets_retention_check_interval_ms: cfg.offsets_retention_check_interval_ms,
        }
    }
}

/// Whether this broker coordinates a partition's groups yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    Loading(i32),
    Loaded(i32),
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    /// Partitions of `__consumer_offsets` this broker leads, by leader epoch.
    owned: HashMap<i32, Ownership>,
    partition_count: i32,
    /// Transaction markers written to a partition while it was loading:
    /// `(producer id, commit)`, applied once the load is in (the replay may
    /// have read the log before them).
    markers_while_loading: HashMap<i32, Vec<(i64, bool)>>,
}

impl State {
    /// The group's partition if this broker coordinates it now.
    fn owner(&self, group_id: &str) -> Result<i32, ErrorCode> {
        if self.partition_count <= 0 {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let partition = records::partition_for(group_id, self.partition_count);
        match self.owned.get(&partition) {
            Some(Ownership::Loaded(_)) => Ok(partition),
            Some(Ownership::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }
}

/// A JoinGroup as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct JoinParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: an unknown member is first handed an id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// A SyncGroup as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct SyncParams {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Clone, Debug)]
pub struct CommitEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// An OffsetCommit as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct CommitParams {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v2–4 only; −1 = the broker's retention.
    pub retention_time_ms: i64,
    pub offsets: Vec<CommitEntry>,
}

/// A member as DescribeGroups reports it.
#[derive(Clone, Debug)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Clone, Debug)]
pub struct GroupDescription {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One group as the metrics scrape sees it.
#[derive(Clone, Debug)]
pub struct GroupSnapshot {
    pub group_id: String,
    pub state: GroupState,
    /// Committed offsets: (topic, partition, offset), sorted.
    pub offsets: Vec<(String, i32, i64)>,
}

/// A group as ListGroups reports it.
#[derive(Clone, Debug)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// A TxnOffsetCommit as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct TxnCommitParams {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// v3+; −1 (and an empty member id, no instance id) when not given.
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<CommitEntry>,
}

/// One partition's answer to OffsetFetch: its committed offset (`None`:
/// none), or UNSTABLE_OFFSET_COMMIT for a `require_stable` fetch while a
/// transaction has an offset pending for it.
pub type FetchedOffset = (i32, Result<Option<OffsetValue>, ErrorCode>);

/// Per-partition results of OffsetCommit / OffsetDelete.
pub type PartitionResults = Vec<(String, i32, Option<ErrorCode>)>;

enum Outcome<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

/// The group coordinator of one broker.
pub struct GroupCoordinator {
    state: Mutex<State>,
    /// Deadlines changed: the timer task recomputes its next wake-up.
    wake: Notify,
    /// Bumped whenever partitions are (un)loaded.
    loads: tokio::sync::watch::Sender<u64>,
    config: GroupConfig,
    /// `__consumer_offsets` on this broker.
    log: Arc<dyn InternalLog>,
    topics: Arc<dyn TopicCatalog>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator").finish_non_exhaustive()
    }
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

/// The topics of an embedded consumer-protocol subscription (`None` when
/// unreadable). Every version (0–3) starts with the version and the topic
/// array, which is all the coordinator needs; it is read by hand so that a
/// hostile count cannot make a decoder reserve memory.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let count = i32::from_be_bytes(metadata.get(2..6)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    if count > metadata.len() / 2 {
        return None;
    }
    let mut pos = 6;
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i16::from_be_bytes(metadata.get(pos..pos + 2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let name = metadata.get(pos + 2..pos + 2 + len)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        pos += 2 + len;
    }
    Some(topics)
}

impl GroupCoordinator {
    /// A coordinator over `log` (the `__consumer_offsets` handle) that checks
    /// committed topics against `topics`; it does nothing until [`spawn`]ed.
    pub fn new(config: GroupConfig, log: Arc<dyn InternalLog>, topics: Arc<dyn TopicCatalog>) -> GroupCoordinator {
        GroupCoordinator {
            state: Mutex::default(),
            wake: Notify::new(),
            loads: tokio::sync::watch::channel(0).0,
            config,
            log,
            topics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (at most `timeout`) until this broker has loaded the group's
    /// partition, so that a client told "this broker coordinates your group"
    /// is not then told to come back later.
    pub async fn wait_ready(&self, group_id: &str, timeout: Duration) -> bool {
        let mut loads = self.loads.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            loads.borrow_and_update();
            if self.lock().owner(group_id).is_ok() {
                return true;
            }
            match tokio::time::timeout_at(deadline, loads.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// JoinGroup: waits until the rebalance this join is part of completes.
    pub async fn join(&self, p: JoinParams) -> JoinResult {
        let outcome = self.join_locked(&p);
        self.wake.notify_one();
        match outcome {
            Outcome::Ready(r) => r,
            Outcome::Wait(rx) => {
                rx.await.unwrap_or_else(|_| JoinResult::error(ErrorCode::NotCoordinator, &p.member_id))
            }
        }
    }

    fn join_locked(&self, p: &JoinParams) -> Outcome<JoinResult> {
        let cfg = &self.config;
        let ready = |code| Outcome::Ready(JoinResult::error(code, &p.member_id));
        if p.group_id.is_empty() {
            return ready(ErrorCode::InvalidGroupId);
        }
        let session = u64::try_from(p.session_timeout_ms).unwrap_or(0);
        if session < cfg.group_min_session_timeout_ms || session > cfg.group_max_session_timeout_ms {
            return ready(ErrorCode::InvalidSessionTimeout);
        }
        let mut st = self.lock();
        let partition = match st.owner(&p.group_id) {
            Ok(partition) => partition,
            Err(code) => return ready(code),
        };
        let (now, wall) = (Instant::now(), now_ms());
        let group = st.groups.entry(p.group_id.clone()).or_insert_with(|| Group::new(&p.group_id, partition, wall));
        if group.state == GroupState::Dead {
            // Being deleted: the client retries once it is gone.
            return ready(ErrorCode::CoordinatorNotAvailable);
        }
        if !group.supports(&p.protocol_type, &p.protocols) {
            return ready(ErrorCode::InconsistentGroupProtocol);
        }
        let initial_delay = Duration::from_millis(cfg.group_initial_rebalance_delay_ms);
        if p.member_id.is_empty() {
            let member_id = new_member_id(&p.client_id);
            if let Some(instance) = &p.group_instance_id {
                if let Some(old) = group.static_members.get(instance).cloned() {
                    return replace_static_member(group, p, &old, member_id, now, wall);
                }
            } else if p.require_known_member_id {
                if group.members.len() + group.pending.len() >= cfg.group_max_size as usize {
                    return ready(ErrorCode::GroupMaxSizeReached);
                }
                group.pending.insert(member_id.clone(), now + group::ms(p.session_timeout_ms));
                return Outcome::Ready(JoinResult::error(ErrorCode::MemberIdRequired, &member_id));
            }
            if group.members.len() >= cfg.group_max_size as usize {
                return ready(ErrorCode::GroupMaxSizeReached);
            }
            return add_member_and_rebalance(group, p, member_id, now, wall, initial_delay);
        }
        if group.pending.contains_key(&p.member_id) {
            return add_member_and_rebalance(group, p, p.member_id.clone(), now, wall, initial_delay);
        }
        if let Some(code) = fenced(group, &p.member_id, p.group_instance_id.as_deref()) {
            return ready(code);
        }
        let Some(member) = group.members.get_mut(&p.member_id) else {
            return ready(ErrorCode::UnknownMemberId);
        };
        let unchanged = member.protocols == p.protocols;
        member.touch(now);
        match group.state {
            GroupState::Empty | GroupState::Dead => ready(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => {
                let rx = rejoin(member, p);
                let _ = group.maybe_complete_join(now, wall);
                Outcome::Wait(rx)
            }
            GroupState::CompletingRebalance if unchanged => Outcome::Ready(current_join(group, &p.member_id)),
            GroupState::Stable if unchanged && group.leader.as_deref() != Some(p.member_id.as_str()) => {
                Outcome::Ready(current_join(group, &p.member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let rx = rejoin(member, p);
                group.prepare_rebalance(now, wall, Duration::ZERO);
                let _ = group.maybe_complete_join(now, wall);
                Outcome::Wait(rx)
            }
        }
    }

    /// SyncGroup: the leader's call carries every assignment, which is stored
    /// before anyone gets theirs; the others wait for it.
    pub async fn sync(&self, p: SyncParams) -> SyncResult {
        let (rx, store) = {
            let mut st = self.lock();
            let partition = match st.owner(&p.group_id) {
                Ok(partition) => partition,
                Err(code) => return SyncResult::error(code),
            };
            let Some(group) = st.groups.get_mut(&p.group_id) else {
                return SyncResult::error(ErrorCode::UnknownMemberId);
            };
            if let Some(code) = fenced(group, &p.member_id, p.group_instance_id.as_deref()) {
                return SyncResult::error(code);
            }
            if !group.members.contains_key(&p.member_id) {
                return SyncResult::error(ErrorCode::UnknownMemberId);
            }
            if p.generation != group.generation {
                return SyncResult::error(ErrorCode::IllegalGeneration);
            }
            if p.protocol_type.as_ref().is_some_and(|t| Some(t) != group.protocol_type.as_ref())
                || p.protocol.as_ref().is_some_and(|n| Some(n) != group.protocol.as_ref())
            {
                return SyncResult::error(ErrorCode::InconsistentGroupProtocol);
            }
            let now = Instant::now();
            match group.state {
                GroupState::Empty | GroupState::Dead => return SyncResult::error(ErrorCode::UnknownMemberId),
                GroupState::PreparingRebalance => return SyncResult::error(ErrorCode::RebalanceInProgress),
                GroupState::Stable => {
                    let member = group.members.get_mut(&p.member_id).expect("checked above");
                    member.touch(now);
                    return SyncResult {
                        error: None,
                        protocol_type: group.protocol_type.clone(),
                        protocol: group.protocol.clone(),
                        assignment: member.assignment.clone(),
                    };
                }
                GroupState::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            let member = group.members.get_mut(&p.member_id).expect("checked above");
            member.touch(now);
            member.sync_waiter = Some(tx);
            let store = if group.leader.as_deref() == Some(p.member_id.as_str()) {
                let assignments: HashMap<String, Bytes> = p.assignments.iter().cloned().collect();
                let mut stored = group.to_stored();
                for m in &mut stored.members {
                    m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
                }
                Some((partition, group.generation, assignments, stored))
            } else {
                None
            };
            (rx, store)
        };
        if let Some((partition, generation, assignments, stored)) = store {
            let written = persist::store_group(self.log.as_ref(), partition, &p.group_id, Some(&stored)).await;
            self.complete_sync(&p.group_id, generation, assignments, written);
        }
        rx.await.unwrap_or_else(|_| SyncResult::error(ErrorCode::NotCoordinator))
    }

    /// After the leader's assignment was stored (or not): Stable, or a new rebalance.
    fn complete_sync(
        &self,
        group_id: &str,
        generation: i32,
        assignments: HashMap<String, Bytes>,
        written: Result<(), ErrorCode>,
    ) {
        let mut st = self.lock();
        let Some(group) = st.groups.get_mut(group_id) else { return };
        if group.state != GroupState::CompletingRebalance || group.generation != generation {
            return;
        }
        let (now, wall) = (Instant::now(), now_ms());
        match written {
            Ok(()) => {
                group.transition(GroupState::Stable, wall);
                for m in group.members.values_mut() {
                    m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncResult {
                            error: None,
                            protocol_type: group.protocol_type.clone(),
                            protocol: group.protocol.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
            }
            Err(code) => {
                tracing::warn!(group = group_id, ?code, "cannot store the group's assignment; rebalancing again");
                for m in group.members.values_mut() {
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncResult::error(code));
                    }
                }
                group.prepare_rebalance(now, wall, Duration::ZERO);
                let _ = group.maybe_complete_join(now, wall);
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Heartbeat: keeps the session alive, and tells the member to rejoin
    /// while a rebalance is in progress.
    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> Option<ErrorCode> {
        let mut st = self.lock();
        if let Err(code) = st.owner(group_id) {
            return Some(code);
        }
        let Some(group) = st.groups.get_mut(group_id) else { return Some(ErrorCode::UnknownMemberId) };
        if let Some(code) = fenced(group, member_id, instance) {
            return Some(code);
        }
        let state = group.state;
        let current = group.generation;
        let Some(member) = group.members.get_mut(member_id) else { return Some(ErrorCode::UnknownMemberId) };
        match state {
            GroupState::Empty | GroupState::Dead => Some(ErrorCode::UnknownMemberId),
            _ if generation != current => Some(ErrorCode::IllegalGeneration),
            GroupState::PreparingRebalance => {
                member.touch(Instant::now());
                Some(ErrorCode::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.touch(Instant::now());
                None
            }
        }
    }

    /// LeaveGroup: `members` are `(member id, group.instance.id)`; the answer
    /// is a group-level error or one per member.
    pub async fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Option<ErrorCode>>, ErrorCode> {
        let (results, store) = {
            let mut st = self.lock();
            st.owner(group_id)?;
            let Some(group) = st.groups.get_mut(group_id) else { return Err(ErrorCode::UnknownMemberId) };
            let mut results = Vec::with_capacity(members.len());
            let mut removed = false;
            for (member_id, instance) in members {
                let target = match instance {
                    Some(instance) => match group.static_members.get(instance) {
                        Some(id) if member_id.is_empty() || id == member_id => Ok(id.clone()),
                        Some(_) => Err(ErrorCode::FencedInstanceId),
                        None => Err(ErrorCode::UnknownMemberId),
                    },
                    None if group.pending.remove(member_id).is_some() => {
                        removed = true;
                        results.push(None);
                        continue;
                    }
                    None if group.members.contains_key(member_id) => Ok(member_id.clone()),
                    None => Err(ErrorCode::UnknownMemberId),
                };
                match target {
                    Ok(id) => {
                        tracing::info!(group = group_id, member = %id, "member left the group");
                        group.remove_member(&id, ErrorCode::UnknownMemberId);
                        removed = true;
                        results.push(None);
                    }
                    Err(code) => results.push(Some(code)),
                }
            }
            let store = if removed {
                let (now, wall) = (Instant::now(), now_ms());
                (group.after_member_gone(now, wall) == After::StoreGroup).then(|| (group.partition, group.to_stored()))
            } else {
                None
            };
            (results, store)
        };
        self.wake.notify_one();
        if let Some((partition, stored)) = store {
            if let Err(code) = persist::store_group(self.log.as_ref(), partition, group_id, Some(&stored)).await {
                tracing::warn!(group = group_id, ?code, "cannot store the emptied group");
            }
        }
        Ok(results)
    }

    /// OffsetCommit: checks membership and generation (a group not managed
    /// by the coordinator commits with generation −1), stores the offsets in
    /// `__consumer_offsets` and then in memory.
    pub async fn commit(&self, p: CommitParams) -> PartitionResults {
        let all = |code: ErrorCode| -> PartitionResults {
            p.offsets.iter().map(|o| (o.topic.clone(), o.partition, Some(code))).collect()
        };
        let partition = {
            let mut st = self.lock();
            let partition = match st.owner(&p.group_id) {
                Ok(partition) => partition,
                Err(code) => return all(code),
            };
            match st.groups.get_mut(&p.group_id) {
                None if p.generation < 0 => {
                    st.groups.insert(p.group_id.clone(), Group::new(&p.group_id, partition, now_ms()));
                }
                None => return all(ErrorCode::IllegalGeneration),
                Some(group) => {
                    if let Some(code) = commit_check(group, &p) {
                        return all(code);
                    }
                }
            }
            partition
        };
        let wall = now_ms();
        let retention = (p.retention_time_ms >= 0).then_some(p.retention_time_ms);
        let (mut results, accepted) = self.check_offsets(&p.offsets, wall, retention);
        if accepted.is_empty() {
            return results;
        }
        let batch = offset_batch(&p.group_id, &results, &accepted);
        match persist::append_at(self.log.as_ref(), partition, None, batch).await {
            Ok(base) => {
                let base = base.unwrap_or(-1);
                let mut st = self.lock();
                let group =
                    st.groups.entry(p.group_id.clone()).or_insert_with(|| Group::new(&p.group_id, partition, wall));
                for (n, (i, v)) in accepted.into_iter().enumerate() {
                    let tp = (results[i].0.clone(), results[i].1);
                    group.offset_positions.insert(tp.clone(), base + n as i64);
                    group.offsets.insert(tp, v);
                }
            }
            Err(code) => {
                let code = persist::commit_error(code);
                for (i, _) in accepted {
                    results[i].2 = Some(code);
                }
            }
        }
        results
    }

    /// The per-partition checks of an offset commit (known topic-partition,
    /// metadata size): every partition's result so far, and the accepted
    /// ones as (index into the results, value to store).
    fn check_offsets(
        &self,
        offsets: &[CommitEntry],
        wall: i64,
        retention_ms: Option<i64>,
    ) -> (PartitionResults, Vec<(usize, OffsetValue)>) {
        let max_metadata = self.config.offset_metadata_max_bytes;
        let mut results: PartitionResults = Vec::with_capacity(offsets.len());
        let mut accepted: Vec<(usize, OffsetValue)> = Vec::new();
        for o in offsets {
            let known = self
                .topics
                .partition_count(&o.topic)
                .is_some_and(|count| o.partition >= 0 && (o.partition as usize) < count);
            let error = if !known {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if o.metadata.len() > max_metadata {
                Some(ErrorCode::OffsetMetadataTooLarge)
            } else {
                None
            };
            if error.is_none() {
                let value = OffsetValue {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_timestamp: wall,
                    expire_timestamp: retention_ms.map(|ms| wall.saturating_add(ms)),
                };
                accepted.push((results.len(), value));
            }
            results.push((o.topic.clone(), o.partition, error));
        }
        (results, accepted)
    }

    /// TxnOffsetCommit: offsets a transactional producer commits inside its
    /// transaction. They are appended as a transactional batch of the
    /// producer and stay pending for (group, producer) until the
    /// transaction's marker completes them ([`Self::complete_transaction`]).
    /// A group this coordinator does not know is created (Empty), as Kafka
    /// does; member id, instance id and generation (v3+) are checked only
    /// when given.
    pub async fn txn_commit(&self, p: TxnCommitParams) -> PartitionResults {
        let all = |code: ErrorCode| -> PartitionResults {
            p.offsets.iter().map(|o| (o.topic.clone(), o.partition, Some(code))).collect()
        };
        if p.group_id.is_empty() {
            return all(ErrorCode::InvalidGroupId);
        }
        let partition = {
            let mut st = self.lock();
            let partition = match st.owner(&p.group_id) {
                Ok(partition) => partition,
                Err(code) => return all(code),
            };
            let group =
                st.groups.entry(p.group_id.clone()).or_insert_with(|| Group::new(&p.group_id, partition, now_ms()));
            if let Some(code) = txn_commit_check(group, &p) {
                return all(code);
            }
            partition
        };
        let wall = now_ms();
        let (mut results, accepted) = self.check_offsets(&p.offsets, wall, None);
        if accepted.is_empty() {
            return results;
        }
        let batch = offset_batch(&p.group_id, &results, &accepted);
        let txn = TxnProducer { producer_id: p.producer_id, producer_epoch: p.producer_epoch };
        match persist::append_at(self.log.as_ref(), partition, Some(txn), batch).await {
            Ok(base) => {
                let base = base.unwrap_or(-1);
                let mut st = self.lock();
                let group =
                    st.groups.entry(p.group_id.clone()).or_insert_with(|| Group::new(&p.group_id, partition, wall));
                for (n, (i, v)) in accepted.into_iter().enumerate() {
                    let tp = (results[i].0.clone(), results[i].1);
                    group.txn_offsets.add(p.producer_id, tp, v, base + n as i64);
                }
            }
            Err(code) => {
                let code = persist::commit_error(code);
                for (i, _) in accepted {
                    results[i].2 = Some(code);
                }
            }
        }
        results
    }

    /// A COMMIT (`commit`) or ABORT marker of `producer_id` is written and
    /// committed on `__consumer_offsets` partition `partition`: the
    /// producer's pending offsets in that partition's groups become
    /// committed or are dropped. Markers for partitions not coordinated here
    /// are ignored (their leader's coordinator completes them, or a load
    /// replays the marker); while the partition loads, the marker is kept and
    /// applied after the load.
    pub fn complete_transaction(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut st = self.lock();
        match st.owned.get(&partition) {
            Some(Ownership::Loaded(_)) => {}
            Some(Ownership::Loading(_)) => {
                st.markers_while_loading.entry(partition).or_default().push((producer_id, commit));
                return;
            }
            None => return,
        }
        let applied = complete_in(&mut st, partition, producer_id, commit);
        if applied > 0 {
            tracing::debug!(partition, producer_id, commit, applied, "completed transactional offset commits");
        }
    }

    /// OffsetFetch: committed offsets of the requested partitions (or of all,
    /// with `topics: None`); `None` for a partition with no committed offset.
    /// With `require_stable` (v7+), a partition with a transactional offset
    /// still pending answers UNSTABLE_OFFSET_COMMIT, as Kafka's does.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Result<Vec<(String, Vec<FetchedOffset>)>, ErrorCode> {
        let st = self.lock();
        st.owner(group_id)?;
        let empty = HashMap::new();
        let group = st.groups.get(group_id);
        let offsets = group.map_or(&empty, |g| &g.offsets);
        let answer = |tp: (String, i32)| -> Result<Option<OffsetValue>, ErrorCode> {
            if require_stable && group.is_some_and(|g| g.txn_offsets.is_pending(&tp)) {
                return Err(ErrorCode::UnstableOffsetCommit);
            }
            Ok(offsets.get(&tp).cloned())
        };
        let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
        match topics {
            Some(topics) => {
                for (topic, partitions) in topics {
                    let parts = partitions.iter().map(|p| (*p, answer((topic.clone(), *p)))).collect();
                    out.push((topic.clone(), parts));
                }
            }
            None => {
                let mut by_topic: std::collections::BTreeMap<&str, Vec<FetchedOffset>> = Default::default();
                for (topic, partition) in offsets.keys() {
                    by_topic.entry(topic).or_default().push((*partition, answer((topic.clone(), *partition))));
                }
                for (topic, mut parts) in by_topic {
                    parts.sort_by_key(|(p, _)| *p);
                    out.push((topic.to_string(), parts));
                }
            }
        }
        Ok(out)
    }

    /// DescribeGroups for one group: an unknown group is reported Dead.
    pub fn describe(&self, group_id: &str) -> Result<GroupDescription, ErrorCode> {
        let st = self.lock();
        st.owner(group_id)?;
        let Some(group) = st.groups.get(group_id) else {
            return Ok(GroupDescription {
                state: GroupState::Dead.to_string(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        };
        let stable = group.state == GroupState::Stable;
        let protocol = group.protocol.clone().unwrap_or_default();
        let mut members: Vec<&Member> = group.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        Ok(GroupDescription {
            state: group.state.to_string(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// The groups of the loaded partitions, with their states and committed
    /// offsets, for the metrics scrape (one lock, no I/O).
    pub fn snapshot(&self) -> Vec<GroupSnapshot> {
        let st = self.lock();
        let mut out: Vec<GroupSnapshot> = st
            .groups
            .values()
            .filter(|g| matches!(st.owned.get(&g.partition), Some(Ownership::Loaded(_))))
            .map(|g| {
                let mut offsets: Vec<(String, i32, i64)> =
                    g.offsets.iter().map(|((t, p), v)| (t.clone(), *p, v.offset)).collect();
                offsets.sort();
                GroupSnapshot { group_id: g.id.clone(), state: g.state, offsets }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// ListGroups: every group this broker coordinates; COORDINATOR_LOAD_IN_PROGRESS
    /// (with what is loaded) while a partition is still loading.
    pub fn list(&self) -> (Option<ErrorCode>, Vec<GroupListing>) {
        let st = self.lock();
        let loading = st.owned.values().any(|o| matches!(o, Ownership::Loading(_)));
        let mut groups: Vec<GroupListing> = st
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.to_string(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        (loading.then_some(ErrorCode::CoordinatorLoadInProgress), groups)
    }

    /// DeleteGroups for one group: only an empty group can go; its offsets
    /// and metadata get tombstones.
    pub async fn delete_group(&self, group_id: &str) -> Option<ErrorCode> {
        let (partition, keys) = {
            let mut st = self.lock();
            let partition = match st.owner(group_id) {
                Ok(p) => p,
                Err(code) => return Some(code),
            };
            let Some(group) = st.groups.get_mut(group_id) else { return Some(ErrorCode::GroupIdNotFound) };
            match group.state {
                GroupState::Dead => return Some(ErrorCode::GroupIdNotFound),
                GroupState::Empty => {}
                _ => return Some(ErrorCode::NonEmptyGroup),
            }
            group.transition(GroupState::Dead, now_ms());
            // Pending transactional offsets go too (Kafka's coordinator writes
            // their tombstones as well), so a later COMMIT cannot revive them.
            let mut keys: Vec<(Bytes, Option<Bytes>)> =
                group.offset_keys().map(|(t, p)| (records::offset_key(group_id, t, *p), None)).collect();
            keys.push((records::group_key(group_id), None));
            (partition, keys)
        };
        let written = persist::append(self.log.as_ref(), partition, keys).await;
        let mut st = self.lock();
        match written {
            Ok(()) => {
                if st.groups.get(group_id).is_some_and(|g| g.state == GroupState::Dead) {
                    st.groups.remove(group_id);
                }
                tracing::info!(group = group_id, "deleted the group");
                None
            }
            Err(code) => {
                if let Some(g) = st.groups.get_mut(group_id) {
                    if g.state == GroupState::Dead {
                        g.transition(GroupState::Empty, now_ms());
                    }
                }
                Some(persist::group_error(code))
            }
        }
    }

    /// OffsetDelete: removes committed offsets of partitions the group does
    /// not consume (GROUP_SUBSCRIBED_TO_TOPIC for those it does).
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<PartitionResults, ErrorCode> {
        let (partition, mut results, doomed) = {
            let st = self.lock();
            let partition = st.owner(group_id)?;
            let Some(group) = st.groups.get(group_id) else { return Err(ErrorCode::GroupIdNotFound) };
            if group.state == GroupState::Dead {
                return Err(ErrorCode::GroupIdNotFound);
            }
            let subscribed: HashSet<String> = if group.state == GroupState::Empty {
                HashSet::new()
            } else {
                match group.subscribed_topics() {
                    Some(topics) => topics,
                    None => return Err(ErrorCode::NonEmptyGroup),
                }
            };
            let mut results: PartitionResults = Vec::new();
            let mut doomed = Vec::new();
            for (topic, p) in partitions {
                let error = if self.topics.partition_count(topic).is_none() {
                    Some(ErrorCode::UnknownTopicOrPartition)
                } else if subscribed.contains(topic) {
                    Some(ErrorCode::GroupSubscribedToTopic)
                } else {
                    None
                };
                let tp = (topic.clone(), *p);
                if error.is_none() && (group.offsets.contains_key(&tp) || group.txn_offsets.is_pending(&tp)) {
                    doomed.push(tp);
                }
                results.push((topic.clone(), *p, error));
            }
            (partition, results, doomed)
        };
        if doomed.is_empty() {
            return Ok(results);
        }
        let keys = doomed.iter().map(|(t, p)| (records::offset_key(group_id, t, *p), None)).collect();
        match persist::append(self.log.as_ref(), partition, keys).await {
            Ok(()) => {
                let mut st = self.lock();
                if let Some(g) = st.groups.get_mut(group_id) {
                    for key in &doomed {
                        g.remove_offset(key);
                    }
                }
                Ok(results)
            }
            Err(code) => {
                let code = persist::group_error(code);
                for r in &mut results {
                    if doomed.contains(&(r.0.clone(), r.1)) {
                        r.2 = Some(code);
                    }
                }
                Ok(results)
            }
        }
    }

    /// Applies leadership changes of `__consumer_offsets`: unloads partitions
    /// this broker no longer leads under the epoch it loaded them with, loads
    /// those it leads and has not loaded (a new leader epoch counts as new; a
    /// load that failed is retried).
    fn follow(self: &Arc<Self>, now: &log::Leadership, events: Vec<LeadershipEvent>) {
        let mut st = self.lock();
        st.partition_count = now.partition_count;
        for event in events {
            match event {
                LeadershipEvent::Unload { partition: p, .. } => {
                    st.markers_while_loading.remove(&p);
                    if st.owned.remove(&p).is_none() {
                        continue;
                    }
                    let gone: Vec<String> =
                        st.groups.values().filter(|g| g.partition == p).map(|g| g.id.clone()).collect();
                    for id in gone {
                        if let Some(mut g) = st.groups.remove(&id) {
                            g.abandon(ErrorCode::NotCoordinator);
                        }
                    }
                    tracing::info!(partition = p, "no longer coordinating the groups of {OFFSETS_TOPIC}-{p}");
                }
                // Loaded below, with any earlier load that failed.
                LeadershipEvent::Load { .. } => {}
            }
        }
        self.loads.send_modify(|n| *n = n.wrapping_add(1));
        for (&p, &epoch) in &now.led {
            if st.owned.contains_key(&p) {
                continue;
            }
            st.owned.insert(p, Ownership::Loading(epoch));
            let me = self.clone();
            tokio::spawn(async move { me.load(p, epoch).await });
        }
    }

    async fn load(&self, partition: i32, epoch: i32) {
        let started = std::time::Instant::now();
        let log = self.log.clone();
        let loaded = tokio::task::spawn_blocking(move || persist::read_partition(log.as_ref(), partition)).await;
        let mut st = self.lock();
        if st.owned.get(&partition) != Some(&Ownership::Loading(epoch)) {
            return;
        }
        let loaded = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(err)) => {
                tracing::error!(partition, %err, "cannot load the groups of {OFFSETS_TOPIC}-{partition}");
                st.owned.remove(&partition);
                return;
            }
            Err(err) => {
                tracing::error!(partition, %err, "loading {OFFSETS_TOPIC}-{partition} panicked");
                st.owned.remove(&partition);
                return;
            }
        };
        let now = Instant::now();
        let (mut groups, mut offsets, mut pending) = (0, 0, 0);
        for (id, found) in loaded {
            if found.is_empty() {
                continue;
            }
            let mut group = match &found.value {
                Some(v) => Group::from_stored(&id, partition, v, now),
                None => Group::new(&id, partition, now_ms()),
            };
            offsets += found.offsets.len();
            pending += found.txn.len();
            group.offsets = found.offsets;
            group.offset_positions = found.positions;
            group.txn_offsets = found.txn;
            groups += 1;
            st.groups.insert(id, group);
        }
        // Markers written while the log was being read: applying one the
        // replay already saw finds nothing pending, so each counts once.
        for (producer_id, commit) in st.markers_while_loading.remove(&partition).unwrap_or_default() {
            complete_in(&mut st, partition, producer_id, commit);
        }
        st.owned.insert(partition, Ownership::Loaded(epoch));
        drop(st);
        self.loads.send_modify(|n| *n = n.wrapping_add(1));
        self.wake.notify_one();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if groups > 0 {
            tracing::info!(
                partition,
                groups,
                offsets,
                pending,
                elapsed_ms,
                "loaded the groups of {OFFSETS_TOPIC}-{partition}"
            );
        } else {
            tracing::debug!(partition, elapsed_ms, "loaded {OFFSETS_TOPIC}-{partition}: no groups");
        }
    }

    /// Runs every group's timers; returns groups to store and the next deadline.
    fn tick(&self) -> (Vec<(i32, String, records::GroupValue)>, Option<Instant>) {
        let (now, wall) = (Instant::now(), now_ms());
        let mut st = self.lock();
        let mut store = Vec::new();
        let mut next: Option<Instant> = None;
        for group in st.groups.values_mut() {
            if group.tick(now, wall) == After::StoreGroup {
                store.push((group.partition, group.id.clone(), group.to_stored()));
            }
            if let Some(d) = group.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        (store, next)
    }

    /// Deleted topics: their committed offsets go too (with tombstones), as
    /// Kafka's coordinator does when it learns of a deletion.
    async fn forget_topics(&self, deleted: &HashSet<String>) {
        // Per partition: (group, topic-partition) whose offset goes.
        type Doomed = Vec<(String, (String, i32))>;
        let mut per_partition: HashMap<i32, Doomed> = HashMap::new();
        {
            let st = self.lock();
            for g in st.groups.values() {
                for (t, p) in g.offset_keys() {
                    if deleted.contains(t) {
                        per_partition.entry(g.partition).or_default().push((g.id.clone(), (t.clone(), *p)));
                    }
                }
            }
        }
        for (partition, entries) in per_partition {
            let keys = entries.iter().map(|(g, (t, p))| (records::offset_key(g, t, *p), None)).collect();
            if let Err(code) = persist::append(self.log.as_ref(), partition, keys).await {
                tracing::warn!(partition, ?code, "cannot remove the offsets of deleted topics");
                continue;
            }
            let mut st = self.lock();
            for (g, tp) in entries {
                if let Some(group) = st.groups.get_mut(&g) {
                    group.remove_offset(&tp);
                }
            }
        }
    }

    /// Offsets past retention: those of groups empty for longer than
    /// `offsets.retention.minutes` (or, for groups not managed here, committed
    /// that long ago), and explicit expire timestamps. A group left with no
    /// offsets and no members is removed.
    async fn expire_offsets(&self) {
        let wall = now_ms();
        let retention = i64::from(self.config.offsets_retention_minutes) * 60_000;
        // Per partition: (group, the offset's topic-partition, or None for the group's tombstone).
        type Doomed = Vec<(String, Option<(String, i32)>)>;
        let mut per_partition: HashMap<i32, Doomed> = HashMap::new();
        {
            let st = self.lock();
            for g in st.groups.values() {
                let mut expired: Vec<(String, i32)> = Vec::new();
                let empty = g.state == GroupState::Empty;
                for ((t, p), v) in &g.offsets {
                    let due = match v.expire_timestamp {
                        Some(at) => at <= wall,
                        None if g.protocol_type.is_none() => v.commit_timestamp.saturating_add(retention) <= wall,
                        None => empty && g.state_timestamp_ms.saturating_add(retention) <= wall,
                    };
                    if due && (empty || g.protocol_type.is_none()) {
                        expired.push((t.clone(), *p));
                    }
                }
                let entries = per_partition.entry(g.partition).or_default();
                // Offsets pending in a transaction keep the group (Kafka's `hasOffsets`).
                let all_gone =
                    expired.len() == g.offsets.len() && empty && g.members.is_empty() && g.txn_offsets.is_empty();
                if !expired.is_empty() {
                    entries.extend(expired.into_iter().map(|tp| (g.id.clone(), Some(tp))));
                }
                if all_gone && (!g.offsets.is_empty() || g.state_timestamp_ms.saturating_add(retention) <= wall) {
                    entries.push((g.id.clone(), None));
                }
            }
        }
        for (partition, entries) in per_partition {
            if entries.is_empty() {
                continue;
            }
            let keys = entries
                .iter()
                .map(|(g, tp)| match tp {
                    Some((t, p)) => (records::offset_key(g, t, *p), None),
                    None => (records::group_key(g), None),
                })
                .collect();
            if let Err(code) = persist::append(self.log.as_ref(), partition, keys).await {
                tracing::warn!(partition, ?code, "cannot write the tombstones of expired offsets");
                continue;
            }
            let mut st = self.lock();
            let mut removed = 0;
            for (g, tp) in entries {
                match tp {
                    Some(tp) => {
                        if let Some(group) = st.groups.get_mut(&g) {
                            group.remove_offset(&tp);
                            removed += 1;
                        }
                    }
                    None => {
                        if st
                            .groups
                            .get(&g)
                            .is_some_and(|x| x.members.is_empty() && x.offsets.is_empty() && x.txn_offsets.is_empty())
                        {
                            st.groups.remove(&g);
                            tracing::info!(group = %g, "removed the group: it has no members and no offsets left");
                        }
                    }
                }
            }
            if removed > 0 {
                tracing::info!(partition, removed, "removed expired offsets");
            }
        }
    }
}

/// Completes `producer_id`'s transaction in the groups of `partition`:
/// how many offsets became committed.
fn complete_in(st: &mut State, partition: i32, producer_id: i64, commit: bool) -> usize {
    let mut applied = 0;
    for g in st.groups.values_mut() {
        if g.partition == partition && g.txn_offsets.has_producer(producer_id) {
            applied += g.txn_offsets.complete(producer_id, commit, &mut g.offsets, &mut g.offset_positions);
        }
    }
    applied
}

/// The records of an offset commit: `accepted` are (index into `results`, value).
fn offset_batch(
    group_id: &str,
    results: &PartitionResults,
    accepted: &[(usize, OffsetValue)],
) -> Vec<(Bytes, Option<Bytes>)> {
    accepted
        .iter()
        .map(|(i, v)| (records::offset_key(group_id, &results[*i].0, results[*i].1), Some(records::offset_value(v))))
        .collect()
}

/// Kafka's member checks of a TxnOffsetCommit: none unless a member id,
/// instance id or generation is given (v0–2 carry none); then the member must
/// be current (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID) and the generation the
/// group's (ILLEGAL_GENERATION).
fn txn_commit_check(group: &mut Group, p: &TxnCommitParams) -> Option<ErrorCode> {
    if group.state == GroupState::Dead {
        return Some(ErrorCode::CoordinatorNotAvailable);
    }
    if p.generation < 0 && p.member_id.is_empty() && p.group_instance_id.is_none() {
        return None;
    }
    if let Some(code) = fenced(group, &p.member_id, p.group_instance_id.as_deref()) {
        return Some(code);
    }
    let Some(member) = group.members.get_mut(&p.member_id) else { return Some(ErrorCode::UnknownMemberId) };
    if p.generation != group.generation {
        return Some(ErrorCode::IllegalGeneration);
    }
    member.touch(Instant::now());
    None
}

/// FENCED_INSTANCE_ID when a static member's instance id now belongs to another member id.
fn fenced(group: &Group, member_id: &str, instance: Option<&str>) -> Option<ErrorCode> {
    let instance = instance?;
    match group.static_members.get(instance) {
        Some(current) if current != member_id => Some(ErrorCode::FencedInstanceId),
        _ => None,
    }
}

fn commit_check(group: &mut Group, p: &CommitParams) -> Option<ErrorCode> {
    if group.state == GroupState::Dead {
        return Some(ErrorCode::CoordinatorNotAvailable);
    }
    if let Some(code) = fenced(group, &p.member_id, p.group_instance_id.as_deref()) {
        return Some(code);
    }
    if p.generation < 0 && group.state == GroupState::Empty {
        return None;
    }
    if group.state == GroupState::CompletingRebalance {
        return Some(ErrorCode::RebalanceInProgress);
    }
    let Some(member) = group.members.get_mut(&p.member_id) else { return Some(ErrorCode::UnknownMemberId) };
    if p.generation != group.generation {
        return Some(ErrorCode::IllegalGeneration);
    }
    member.touch(Instant::now());
    None
}

/// The answer a member gets when it rejoins with nothing changed.
fn current_join(group: &Group, member_id: &str) -> JoinResult {
    let protocol = group.protocol.clone().unwrap_or_default();
    let leader = group.leader.clone().unwrap_or_default();
    JoinResult {
        error: None,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol: group.protocol.clone(),
        member_id: member_id.to_string(),
        members: if leader == member_id {
            group
                .members
                .values()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone(), m.metadata_for(&protocol)))
                .collect()
        } else {
            Vec::new()
        },
        leader,
    }
}

/// Updates a known member from its JoinGroup and parks it awaiting the join.
fn rejoin(member: &mut Member, p: &JoinParams) -> oneshot::Receiver<JoinResult> {
    member.protocols = p.protocols.clone();
    member.session_timeout_ms = p.session_timeout_ms;
    member.rebalance_timeout_ms = p.rebalance_timeout_ms;
    member.client_id = p.client_id.clone();
    member.client_host = p.client_host.clone();
    let (tx, rx) = oneshot::channel();
    if let Some(old) = member.join_waiter.replace(tx) {
        let _ = old.send(JoinResult::error(ErrorCode::UnknownMemberId, &member.member_id));
    }
    rx
}

fn add_member_and_rebalance(
    group: &mut Group,
    p: &JoinParams,
    member_id: String,
    now: Instant,
    wall: i64,
    initial_delay: Duration,
) -> Outcome<JoinResult> {
    let (tx, rx) = oneshot::channel();
    group.pending.remove(&member_id);
    if group.members.is_empty() {
        group.protocol_type = Some(p.protocol_type.clone());
    }
    let joined_seq = group.next_seq();
    let mut member = Member {
        member_id: member_id.clone(),
        group_instance_id: p.group_instance_id.clone(),
        client_id: p.client_id.clone(),
        client_host: p.client_host.clone(),
        rebalance_timeout_ms: p.rebalance_timeout_ms,
        session_timeout_ms: p.session_timeout_ms,
        protocols: p.protocols.clone(),
        assignment: Bytes::new(),
        join_waiter: Some(tx),
        sync_waiter: None,
        deadline: now,
        joined_seq,
    };
    member.touch(now);
    if let Some(instance) = &p.group_instance_id {
        group.static_members.insert(instance.clone(), member_id.clone());
    }
    group.members.insert(member_id.clone(), member);
    tracing::info!(group = %group.id, member = %member_id, "member joined; rebalancing");
    match group.state {
        GroupState::PreparingRebalance => {
            group.note_new_member_during_delay();
            // A longer rebalance timeout of the newcomer extends the deadline.
            let deadline = now + group::ms(p.rebalance_timeout_ms);
            if group.rebalance_deadline.is_none_or(|d| d < deadline) {
                group.rebalance_deadline = Some(deadline);
            }
        }
        GroupState::Empty => group.prepare_rebalance(now, wall, initial_delay),
        _ => group.prepare_rebalance(now, wall, Duration::ZERO),
    }
    let _ = group.maybe_complete_join(now, wall);
    Outcome::Wait(rx)
}

/// A static member came back with a new member id: the old one is fenced.
/// In a Stable group with unchanged protocols it keeps its assignment and
/// no rebalance happens.
fn replace_static_member(
    group: &mut Group,
    p: &JoinParams,
    old_id: &str,
    new_id: String,
    now: Instant,
    wall: i64,
) -> Outcome<JoinResult> {
    let Some(mut member) = group.members.remove(old_id) else {
        return add_member_and_rebalance(group, p, new_id, now, wall, Duration::ZERO);
    };
    if let Some(tx) = member.join_waiter.take() {
        let _ = tx.send(JoinResult::error(ErrorCode::FencedInstanceId, old_id));
    }
    if let Some(tx) = member.sync_waiter.take() {
        let _ = tx.send(SyncResult::error(ErrorCode::FencedInstanceId));
    }
    let unchanged = member.protocols == p.protocols;
    member.member_id = new_id.clone();
    member.touch(now);
    if let Some(instance) = &p.group_instance_id {
        group.static_members.insert(instance.clone(), new_id.clone());
    }
    if group.leader.as_deref() == Some(old_id) {
        group.leader = Some(new_id.clone());
    }
    tracing::info!(group = %group.id, old = old_id, new = %new_id, "static member rejoined under a new member id");
    if group.state == GroupState::Stable && unchanged {
        member.client_id = p.client_id.clone();
        member.client_host = p.client_host.clone();
        group.members.insert(new_id.clone(), member);
        return Outcome::Ready(current_join(group, &new_id));
    }
    group.members.insert(new_id.clone(), member);
    let rx = rejoin(group.members.get_mut(&new_id).expect("just inserted"), p);
    if group.state != GroupState::PreparingRebalance {
        group.prepare_rebalance(now, wall, Duration::ZERO);
    }
    let _ = group.maybe_complete_join(now, wall);
    Outcome::Wait(rx)
}

/// The broker's task `group-coordinator`: follows leadership of
/// `__consumer_offsets`, runs group timers and offset expiry; at shutdown it
/// answers its waiting members NOT_COORDINATOR.
pub async fn run(coordinator: Arc<GroupCoordinator>, mut shutdown: Shutdown) {
    let mut leadership = LeadershipFollower::new(coordinator.log.clone());
    let retention_every = Duration::from_millis(coordinator.config.offsets_retention_check_interval_ms.max(1));
    let mut next_expiry = Instant::now() + retention_every;
    let mut known_topics = coordinator.topics.topic_names().0;
    loop {
        // Leadership and topics change only with a partition-sync pass,
        // which is what the follower signals.
        if let Some(events) = leadership.poll() {
            coordinator.follow(leadership.current(), events);
            let (topics, unreadable) = coordinator.topics.topic_names();
            let deleted: HashSet<String> =
                known_topics.iter().filter(|t| !topics.contains(*t) && !unreadable.contains(*t)).cloned().collect();
            known_topics = topics;
            if !deleted.is_empty() {
                coordinator.forget_topics(&deleted).await;
            }
        }
        let (store, next) = coordinator.tick();
        for (partition, group_id, value) in store {
            let log = coordinator.log.clone();
            tokio::spawn(async move {
                if let Err(code) = persist::store_group(log.as_ref(), partition, &group_id, Some(&value)).await {
                    tracing::warn!(group = %group_id, ?code, "cannot store the group's metadata");
                }
            });
        }
        if Instant::now() >= next_expiry {
            next_expiry = Instant::now() + retention_every;
            coordinator.expire_offsets().await;
        }
        let wake_at = next.map_or(next_expiry, |n| n.min(next_expiry)).max(Instant::now() + Duration::from_millis(5));
        tokio::select! {
            _ = shutdown.wait() => {
                let mut st = coordinator.lock();
                for g in st.groups.values_mut() {
                    g.abandon(ErrorCode::NotCoordinator);
                }
                return;
            }
            alive = leadership.changed() => if !alive { return },
            _ = coordinator.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}
