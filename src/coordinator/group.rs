//! One consumer group's state machine (Kafka's classic protocol), without I/O:
//! members and their protocols, the generation, the leader, and the waiting
//! JoinGroup and SyncGroup answers, which are oneshot senders completed when
//! the rebalance moves on.
//!
//! States: Empty → PreparingRebalance (members (re)join; the first join of an
//! empty group waits `group.initial.rebalance.delay.ms`, extended while new
//! members keep arriving) → CompletingRebalance (joins answered with a new
//! generation; waits for the leader's SyncGroup) → Stable (assignments
//! handed out). Dead is a deleted or unloaded group.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::records::{GroupValue, MemberValue, OffsetValue};
use super::txn_offsets::{Positions, TopicPartitionKey, TxnOffsets};
use crate::protocol::ErrorCode;

/// Kafka's group states, named as DescribeGroups and ListGroups report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        })
    }
}

/// The answer to one JoinGroup.
#[derive(Clone, Debug, Default)]
pub struct JoinResult {
    pub error: Option<ErrorCode>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// For the leader only: every member with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(code: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult { error: Some(code), generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// The answer to one SyncGroup.
#[derive(Clone, Debug, Default)]
pub struct SyncResult {
    pub error: Option<ErrorCode>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(code: ErrorCode) -> SyncResult {
        SyncResult { error: Some(code), ..Default::default() }
    }
}

/// One member.
#[derive(Debug)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// `(name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// When the session ends without a heartbeat.
    pub deadline: Instant,
    /// Order of arrival, to pick a leader as Kafka does (the first member).
    pub joined_seq: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    pub fn touch(&mut self, now: Instant) {
        self.deadline = now + ms(self.session_timeout_ms);
    }

    fn alive_while_waiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }
}

pub fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// A group and its committed offsets.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    /// Its partition of `__consumer_offsets`.
    pub partition: i32,
    pub state: GroupState,
    /// Wall-clock ms of the last state change (stored, used by retention).
    pub state_timestamp_ms: i64,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join (or expire).
    pub pending: HashMap<String, Instant>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// PreparingRebalance: when members that did not rejoin are dropped.
    pub rebalance_deadline: Option<Instant>,
    /// The initial delay of a first rebalance.
    pub initial_delay: Option<InitialDelay>,
    pub offsets: HashMap<(String, i32), OffsetValue>,
    /// The log offset of the record behind each committed offset.
    pub offset_positions: Positions,
    /// Offsets committed inside transactions that have not ended yet.
    pub txn_offsets: TxnOffsets,
    next_seq: u64,
}

/// `group.initial.rebalance.delay.ms` at work: a first rebalance waits this
/// long, and again (within the rebalance timeout) while new members arrive.
#[derive(Clone, Copy, Debug)]
pub struct InitialDelay {
    pub deadline: Instant,
    pub step: Duration,
    /// What may still be added, out of the rebalance timeout.
    pub remaining: Duration,
    /// A member arrived during the current delay.
    pub arrived: bool,
}

/// What the caller must do after a state change: persist the group as it now is.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    StoreGroup,
}

impl Group {
    pub fn new(id: &str, partition: i32, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            partition,
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay: None,
            offsets: HashMap::new(),
            offset_positions: Positions::new(),
            txn_offsets: TxnOffsets::default(),
            next_seq: 0,
        }
    }

    /// Every partition the group has an offset for, committed or pending in
    /// a transaction, once each: the keys a tombstone must cover.
    pub fn offset_keys(&self) -> impl Iterator<Item = &TopicPartitionKey> {
        let pending: HashSet<&TopicPartitionKey> =
            self.txn_offsets.partitions().filter(|tp| !self.offsets.contains_key(*tp)).collect();
        self.offsets.keys().chain(pending)
    }

    /// The partition's offset is deleted (its tombstone is written): the
    /// committed offset, its log position and any pending transactional
    /// offset go, so a later COMMIT cannot bring it back.
    pub fn remove_offset(&mut self, tp: &TopicPartitionKey) {
        self.offsets.remove(tp);
        self.offset_positions.remove(tp);
        self.txn_offsets.forget(tp);
    }

    /// A group as loaded from `__consumer_offsets`: Stable with its members
    /// (each given a fresh session), or Empty.
    pub fn from_stored(id: &str, partition: i32, v: &GroupValue, now: Instant) -> Group {
        let mut g = Group::new(id, partition, v.current_state_timestamp);
        g.protocol_type = (!v.protocol_type.is_empty()).then(|| v.protocol_type.clone());
        g.protocol = v.protocol.clone();
        g.generation = v.generation;
        g.leader = v.leader.clone();
        for m in &v.members {
            let protocol = v.protocol.clone().unwrap_or_default();
            let mut member = Member {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout,
                session_timeout_ms: m.session_timeout,
                protocols: vec![(protocol, m.subscription.clone())],
                assignment: m.assignment.clone(),
                join_waiter: None,
                sync_waiter: None,
                deadline: now,
                joined_seq: g.next_seq,
            };
            g.next_seq += 1;
            member.touch(now);
            if let Some(instance) = &m.group_instance_id {
                g.static_members.insert(instance.clone(), m.member_id.clone());
            }
            g.members.insert(m.member_id.clone(), member);
        }
        g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        g
    }

    /// What is written to `__consumer_offsets` for this group.
    pub fn to_stored(&self) -> GroupValue {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The protocols every member supports.
    fn candidates(&self) -> HashSet<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else { return HashSet::new() };
        let mut set: HashSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            let theirs: HashSet<&String> = m.protocols.iter().map(|(n, _)| n).collect();
            set.retain(|n| theirs.contains(n));
        }
        set
    }

    /// Whether a (new or rejoining) member with these protocols fits the group.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidates();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Each member votes for its most preferred protocol among those all
    /// support; the most votes wins (ties: the leader's, then the first
    /// member's, preference).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        let preference = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().min_by_key(|m| m.joined_seq))?;
        preference
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| votes.get(n) == Some(&best))
            .or_else(|| votes.iter().find(|(_, v)| **v == best).map(|(n, _)| *n))
            .map(str::to_string)
    }

    /// Starts (or restarts) a rebalance. Pending SyncGroups are answered
    /// REBALANCE_IN_PROGRESS and assignments dropped.
    pub fn prepare_rebalance(&mut self, now: Instant, now_ms: i64, initial_delay: Duration) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::error(ErrorCode::RebalanceInProgress));
                }
            }
        }
        let max_rebalance = self.members.values().map(|m| ms(m.rebalance_timeout_ms)).max().unwrap_or_default();
        if self.state == GroupState::Empty && !initial_delay.is_zero() {
            self.initial_delay = Some(InitialDelay {
                deadline: now + initial_delay,
                step: initial_delay,
                remaining: max_rebalance.saturating_sub(initial_delay),
                arrived: false,
            });
        }
        self.rebalance_deadline = Some(now + max_rebalance);
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    /// Adds a member to a group that is (now) preparing a rebalance.
    pub fn note_new_member_during_delay(&mut self) {
        if let Some(delay) = &mut self.initial_delay {
            delay.arrived = true;
        }
    }

    /// Removes a member: its waiting answers get `code`.
    pub fn remove_member(&mut self, member_id: &str, code: ErrorCode) -> Option<Member> {
        let mut m = self.members.remove(member_id)?;
        if let Some(instance) = &m.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(JoinResult::error(code, member_id));
        }
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(SyncResult::error(code));
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.values().min_by_key(|m| m.joined_seq).map(|m| m.member_id.clone());
        }
        Some(m)
    }

    /// After a member left or expired: rebalance, or check whether the
    /// current rebalance can complete now.
    pub fn after_member_gone(&mut self, now: Instant, now_ms: i64) -> After {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, now_ms, Duration::ZERO);
                self.maybe_complete_join(now, now_ms)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now, now_ms),
            GroupState::Empty | GroupState::Dead => After::Nothing,
        }
    }

    /// Completes the join phase when every member has rejoined (and no
    /// member id handed out is still expected), or the rebalance timed out.
    pub fn maybe_complete_join(&mut self, now: Instant, now_ms: i64) -> After {
        if self.state != GroupState::PreparingRebalance {
            return After::Nothing;
        }
        if let Some(delay) = self.initial_delay {
            if now < delay.deadline {
                return After::Nothing;
            }
            if delay.arrived && !delay.remaining.is_zero() {
                // Members are still arriving: wait a little longer, within the rebalance timeout.
                let step = delay.step.min(delay.remaining);
                self.initial_delay = Some(InitialDelay {
                    deadline: now + step,
                    step,
                    remaining: delay.remaining.saturating_sub(step),
                    arrived: false,
                });
                return After::Nothing;
            }
            self.initial_delay = None;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some()) && self.pending.is_empty();
        let timed_out = self.rebalance_deadline.is_none_or(|d| now >= d);
        if !all_joined && !timed_out {
            return After::Nothing;
        }
        // Members that did not rejoin in time are out.
        let absent: Vec<String> =
            self.members.values().filter(|m| m.join_waiter.is_none()).map(|m| m.member_id.clone()).collect();
        for id in absent {
            self.remove_member(&id, ErrorCode::UnknownMemberId);
        }
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            return After::StoreGroup;
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.values().min_by_key(|m| m.joined_seq).map(|m| m.member_id.clone());
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let all: Vec<(String, Option<String>, Bytes)> = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone(), m.metadata_for(&protocol)))
            .collect();
        for m in self.members.values_mut() {
            m.touch(now);
            if let Some(tx) = m.join_waiter.take() {
                let result = JoinResult {
                    error: None,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol: self.protocol.clone(),
                    leader: leader.clone(),
                    member_id: m.member_id.clone(),
                    members: if m.member_id == leader { all.clone() } else { Vec::new() },
                };
                let _ = tx.send(result);
            }
        }
        After::Nothing
    }

    /// Expires sessions, pending member ids and rebalance deadlines.
    pub fn tick(&mut self, now: Instant, now_ms: i64) -> After {
        let mut after = After::Nothing;
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.alive_while_waiting() && m.deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "member's session expired; removing it from the group");
            self.remove_member(id, ErrorCode::UnknownMemberId);
        }
        if !expired.is_empty() && self.after_member_gone(now, now_ms) == After::StoreGroup {
            after = After::StoreGroup;
        }
        if self.maybe_complete_join(now, now_ms) == After::StoreGroup {
            after = After::StoreGroup;
        }
        after
    }

    /// The next moment [`Group::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.values().filter(|m| !m.alive_while_waiting()).map(|m| m.deadline);
        let pending = self.pending.values().copied();
        let rebalance = self.rebalance_deadline.filter(|_| self.state == GroupState::PreparingRebalance);
        let delay = self.initial_delay.map(|d| d.deadline);
        members.chain(pending).chain(rebalance).chain(delay).min()
    }

    /// Answers every waiting request (the group moved away or was deleted).
    pub fn abandon(&mut self, code: ErrorCode) {
        for m in self.members.values_mut() {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult::error(code, &m.member_id));
            }
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncResult::error(code));
            }
        }
    }

    /// Topics the members' consumer subscriptions name (consumer groups only).
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.clone()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            topics.extend(super::subscription_topics(&m.metadata_for(&protocol))?);
        }
        Some(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(g: &mut Group, id: &str, protocols: &[&str], now: Instant) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        let seq = g.next_seq();
        g.members.insert(
            id.to_string(),
            Member {
                member_id: id.into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 10_000,
                session_timeout_ms: 6_000,
                protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from(id.to_string()))).collect(),
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                deadline: now + Duration::from_secs(6),
                joined_seq: seq,
            },
        );
        rx
    }

    #[test]
    fn first_rebalance_waits_the_initial_delay_then_answers_everyone() {
        let now = Instant::now();
        let mut g = Group::new("g", 0, 0);
        g.protocol_type = Some("consumer".into());
        g.prepare_rebalance(now, 0, Duration::from_millis(3000));
        let mut a = member(&mut g, "a", &["range", "roundrobin"], now);
        let mut b = member(&mut g, "b", &["roundrobin", "range"], now);
        assert_eq!(g.maybe_complete_join(now, 0), After::Nothing);
        assert!(a.try_recv().is_err(), "answered before the initial delay");
        let later = now + Duration::from_millis(3000);
        assert_eq!(g.maybe_complete_join(later, 1), After::Nothing);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let ra = a.try_recv().expect("a answered");
        let rb = b.try_recv().expect("b answered");
        assert_eq!(ra.generation, 1);
        assert_eq!(ra.leader, "a");
        assert_eq!(ra.members.len(), 2, "the leader sees every member");
        assert!(rb.members.is_empty());
        // One vote each: the leader's preference wins the tie.
        assert_eq!(ra.protocol.as_deref(), Some("range"));
    }

    /// A consumer group whose members (all with "range") completed generation 1.
    fn stable_group(ids: &[&str], now: Instant) -> Group {
        let mut g = Group::new("g", 0, 0);
        g.protocol_type = Some("consumer".into());
        for id in ids {
            drop(member(&mut g, id, &["range"], now));
        }
        g.prepare_rebalance(now, 0, Duration::ZERO);
        let _ = g.maybe_complete_join(now, 0);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        g.transition(GroupState::Stable, 0);
        g
    }

    #[test]
    fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
        let now = Instant::now();
        let mut g = stable_group(&["a", "b"], now);
        // b rejoins, a does not.
        g.prepare_rebalance(now, 0, Duration::ZERO);
        let (tx, mut rx) = oneshot::channel();
        g.members.get_mut("b").expect("test member").join_waiter = Some(tx);
        assert_eq!(g.maybe_complete_join(now + Duration::from_secs(1), 0), After::Nothing);
        assert!(rx.try_recv().is_err());
        let _ = g.maybe_complete_join(now + Duration::from_secs(10), 0);
        let r = rx.try_recv().expect("answered at the timeout");
        assert_eq!(r.generation, 2);
        assert_eq!(r.leader, "b");
        assert!(!g.members.contains_key("a"));
    }

    #[test]
    fn the_last_member_leaving_empties_the_group() {
        let now = Instant::now();
        let mut g = stable_group(&["a"], now);
        g.remove_member("a", ErrorCode::UnknownMemberId);
        assert_eq!(g.after_member_gone(now, 5), After::StoreGroup);
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation, 2);
    }

    #[test]
    fn sessions_expire_unless_waiting() {
        let now = Instant::now();
        let mut g = stable_group(&["a", "b"], now);
        g.members.get_mut("a").expect("test member").touch(now + Duration::from_secs(5));
        let _ = g.tick(now + Duration::from_secs(7), 0);
        assert!(g.members.contains_key("a"));
        assert!(!g.members.contains_key("b"));
        assert_eq!(g.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn members_with_nothing_in_common_are_refused() {
        let now = Instant::now();
        let mut g = Group::new("g", 0, 0);
        g.protocol_type = Some("consumer".into());
        drop(member(&mut g, "a", &["range"], now));
        assert!(!g.supports("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports("connect", &[("range".into(), Bytes::new())]));
        assert!(g.supports("consumer", &[("roundrobin".into(), Bytes::new()), ("range".into(), Bytes::new())]));
        assert!(!g.supports("", &[("range".into(), Bytes::new())]));
    }
}
