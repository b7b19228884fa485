//! The controller's decisions, as a pure function of the cluster view: what
//! partition state, topic-id and deletion writes bring ZooKeeper in line with
//! the live brokers and the admin requests. The sync task (`sync.rs`) runs
//! the election, calls [`plan`] after every batch of changes while this
//! broker is controller, and applies the result as fenced multis (each one
//! checks `/controller_epoch`, so a deposed controller writes nothing).
//!
//! Planning is level-triggered: it looks at the whole view rather than at
//! the events that led to it, so a lost event or a failed write is repaired
//! by the next pass.
//!
//! Rules (Kafka 2.x):
//! - a partition without state gets one once a replica is live: leader = first
//!   live replica in assignment order, ISR = live replicas, leader epoch 0;
//! - a partition whose leader is not live gets the first live ISR member in
//!   assignment order, or leader −1 when none is (keeping the last ISR so a
//!   member coming back can lead again); dead followers leave the ISR; each
//!   change bumps the leader epoch;
//! - a topic written without a topic id gets one;
//! - `/admin/delete_topics/<t>` deletes the topic's znodes and then the
//!   request, or only the request when deletion is disabled;
//! - a preferred election (`/admin/preferred_replica_election`, or the
//!   periodic rebalance) makes the first replica of the assignment leader when
//!   it is live and in the ISR, ISR unchanged; an unclean election
//!   (`/admin/unclean_leader_election`) gives a partition whose leader is gone
//!   and which has no live ISR member its first live replica as leader and
//!   sole ISR member. Partitions that do not qualify are left alone, and the
//!   request is removed after the partitions it names were written;
//! - with `unclean.leader.election.enable` (broker default false, or the
//!   topic's override) such a partition gets that unclean election at once;
//! - leaders' `/isr_change_notification/isr_change_<seq>` notices are removed
//!   (Kafka's controller then pushes metadata; our brokers watch the state
//!   znodes themselves).
//!
//! - controlled shutdown (Kafka's ControlledShutdownLeaderSelector): while a
//!   broker is shutting down (its ControlledShutdown request was accepted and
//!   its registration is the one that asked), a partition it leads goes to
//!   the first other live ISR member in assignment order, ISR without it; it
//!   leaves the ISR of the partitions it follows; it is elected nowhere
//!   (new partitions, failover, preferred and unclean elections) unless no
//!   other replica can lead. A partition with no other live ISR member stays
//!   with it. The rules are re-applied on every pass, so a leader that puts
//!   it back into an ISR is corrected.
//!
//! - partition reassignments progress and complete, and
//!   `/admin/reassign_partitions` is carried out (`reassignment.rs`).
//!
//! Every leader change bumps the leader epoch; the brokers follow the state
//! znodes and switch roles through their usual sync.

use std::collections::{BTreeMap, BTreeSet};

use super::cache::ClusterView;
use super::{ElectionType, PartitionState};

/// One change the controller wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// First states of a topic's partitions (topic creation, added partitions).
    CreateStates { topic: String, states: Vec<(i32, PartitionState)> },
    /// A new leader and/or ISR, conditional on the state znode's version.
    UpdateState { topic: String, partition: i32, state: PartitionState, version: i32 },
    /// Give a topic written without an id one, conditional on the znode's version.
    AssignTopicId { topic: String, topic_id: uuid::Uuid, version: i32 },
    /// Delete the topic's znodes and its deletion request.
    DeleteTopic { topic: String },
    /// Drop a deletion request without deleting (unknown topic or deletion disabled).
    DropDeleteRequest { topic: String },
    /// Remove an election request once its partitions were handled.
    DropElectionRequest { kind: ElectionType },
    /// Remove a leader's ISR change notification: the brokers follow the
    /// state znodes themselves, so the controller has nothing else to do.
    DropIsrChangeNotification { name: String },
    /// A topic's replica sets change (reassignments started, retargeted or
    /// completed) together with the partition states that must change with
    /// them: one multi, conditional on the topic znode's version and each
    /// state's `(partition, state, version)`.
    Reassign {
        topic: String,
        assignment: super::znode::TopicAssignment,
        version: i32,
        states: Vec<(i32, PartitionState, i32)>,
    },
    /// Rewrite `/admin/reassign_partitions` with the partitions still to do,
    /// or delete it when none is left; conditional on its version.
    UpdateReassignRequest { remaining: Vec<super::znode::ReassignEntry>, version: i32 },
}

/// The controller's answer to a ControlledShutdown request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// This broker is not (or no longer) the controller: NOT_CONTROLLER.
    NotController,
    /// The broker is not registered: BROKER_NOT_AVAILABLE.
    UnknownBroker,
    /// The request names an older registration of the broker: STALE_BROKER_EPOCH.
    StaleBrokerEpoch,
    /// The pass ran; these partitions are still led by the broker although
    /// another live replica could lead them once in sync (see [`movable_leaderships`]).
    Done { remaining: Vec<(String, i32)> },
}

/// What the controller's pass is allowed to do besides keeping leaders alive.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `delete.topic.enable`.
    pub delete_enabled: bool,
    /// Check the leader imbalance in this pass: the
    /// `leader.imbalance.per.broker.percentage` above which a broker's
    /// partitions get preferred elections (`None`: no check this time).
    pub rebalance_percentage: Option<u32>,
    /// The broker's `unclean.leader.election.enable`: whether a partition with
    /// no live ISR member may be led by an out-of-sync replica (topics override it).
    pub unclean_default: bool,
    /// Live brokers in controlled shutdown: they hand over leadership (and
    /// are left out of the ISR of a partition that changes leader), and are
    /// elected only when nobody else can lead.
    pub shutting_down: BTreeSet<i32>,
    /// Brokers that leave the ISRs of the partitions they follow in this
    /// pass: the one whose ControlledShutdown request the pass serves. Later
    /// passes leave them be: a stopping broker fetches no more, and one that
    /// does (a tool asked) rejoins instead of being thrown out on every pass.
    pub leaving_isrs: BTreeSet<i32>,
}

impl Policy {
    /// Live and not shutting down: fit to lead and to stay in an ISR.
    fn eligible(&self, view: &ClusterView, broker: i32) -> bool {
        view.is_live(broker) && !self.shutting_down.contains(&broker)
    }
}

/// The partitions `broker` still leads that another live broker, not shutting
/// down, could take over once it is in sync: the remaining partitions of a
/// ControlledShutdown answer, worth retrying for. Kafka counts every
/// partition with more than one replica; one whose other replicas are all
/// dead (the last broker of a cluster stopping) has nowhere to go, and
/// counting it would only make the broker wait out every retry.
pub fn movable_leaderships(view: &ClusterView, broker: i32, shutting_down: &BTreeSet<i32>) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for (name, entry) in &view.topics {
        if view.delete_requests.contains(name) {
            continue;
        }
        for (index, replicas) in entry.partitions.iter().enumerate() {
            let partition = index as i32;
            if view.state(name, partition).is_none_or(|s| s.leader != broker) {
                continue;
            }
            if replicas.iter().any(|r| *r != broker && view.is_live(*r) && !shutting_down.contains(r)) {
                out.push((name.clone(), partition));
            }
        }
    }
    out
}

/// Computes the writes that bring the cluster in line, as controller of `epoch`.
pub fn plan(view: &ClusterView, epoch: i32, policy: &Policy) -> Vec<Action> {
    let delete_enabled = policy.delete_enabled;
    let mut elections: BTreeMap<(&str, i32), ElectionType> = BTreeMap::new();
    if let Some(percentage) = policy.rebalance_percentage {
        for (topic, partition) in imbalanced(view, percentage) {
            elections.insert((topic, partition), ElectionType::Preferred);
        }
    }
    for (kind, partitions) in &view.election_requests {
        for (topic, partition) in partitions {
            // An unclean request wins over a preferred one for the same partition:
            // it applies only where the preferred election cannot.
            let entry = elections.entry((topic.as_str(), *partition)).or_insert(*kind);
            if *kind == ElectionType::Unclean {
                *entry = ElectionType::Unclean;
            }
        }
    }
    let mut actions = Vec::new();
    for topic in &view.delete_requests {
        if delete_enabled && (view.topics.contains_key(topic) || view.unreadable.contains(topic)) {
            actions.push(Action::DeleteTopic { topic: topic.clone() });
        } else {
            actions.push(Action::DropDeleteRequest { topic: topic.clone() });
        }
    }
    for (name, entry) in &view.topics {
        if delete_enabled && view.delete_requests.contains(name) {
            continue;
        }
        if entry.topic_id.is_none() {
            actions.push(Action::AssignTopicId {
                topic: name.clone(),
                topic_id: uuid::Uuid::new_v4(),
                version: entry.version,
            });
        }
        let states = view.states.get(name);
        let mut new_states = Vec::new();
        for (index, replicas) in entry.partitions.iter().enumerate() {
            let partition = index as i32;
            match states.and_then(|s| s.get(&partition)) {
                None => {
                    if let Some(state) = first_state(view, replicas, epoch, policy) {
                        new_states.push((partition, state));
                    }
                }
                Some(current) => {
                    let wanted = if delete_enabled && view.delete_requests.contains(name) {
                        None
                    } else {
                        elections.get(&(name.as_str(), partition)).copied()
                    };
                    let s = &current.state;
                    let state = match wanted {
                        Some(ElectionType::Unclean) => unclean_state(view, replicas, s, epoch, policy)
                            .or_else(|| next_state(view, replicas, s, epoch, policy)),
                        Some(ElectionType::Preferred) => next_state(view, replicas, s, epoch, policy)
                            .or_else(|| preferred_state(view, replicas, s, epoch, policy)),
                        None => next_state(view, replicas, s, epoch, policy).or_else(|| {
                            if unclean_enabled(view, name, policy.unclean_default) {
                                unclean_state(view, replicas, s, epoch, policy)
                            } else {
                                None
                            }
                        }),
                    };
                    if let Some(state) = state {
                        actions.push(Action::UpdateState {
                            topic: name.clone(),
                            partition,
                            state,
                            version: current.version,
                        });
                    }
                }
            }
        }
        if !new_states.is_empty() {
            actions.push(Action::CreateStates { topic: name.clone(), states: new_states });
        }
    }
    // Reassignments go after the state changes above and leave alone what
    // those write this pass; the next pass sees their result.
    let mut busy_topics = BTreeSet::new();
    let mut busy = BTreeSet::new();
    for action in &actions {
        match action {
            Action::UpdateState { topic, partition, .. } => {
                busy.insert((topic.as_str(), *partition));
            }
            Action::CreateStates { topic, .. }
            | Action::AssignTopicId { topic, .. }
            | Action::DeleteTopic { topic } => {
                busy_topics.insert(topic.as_str());
            }
            _ => {}
        }
    }
    let eligible = |b: i32| policy.eligible(view, b);
    let reassignments = super::reassignment::plan(view, epoch, &busy_topics, &busy, &eligible);
    actions.extend(reassignments);
    for kind in view.election_requests.keys() {
        actions.push(Action::DropElectionRequest { kind: *kind });
    }
    for name in &view.isr_change_notifications {
        actions.push(Action::DropIsrChangeNotification { name: name.clone() });
    }
    actions
}

/// A new partition's first state: the first live replica in assignment order
/// leads (one not shutting down when there is one); the ISR is the live
/// replicas, without those shutting down unless leading.
fn first_state(view: &ClusterView, replicas: &[i32], epoch: i32, policy: &Policy) -> Option<PartitionState> {
    let leader = replicas
        .iter()
        .copied()
        .find(|r| policy.eligible(view, *r))
        .or_else(|| replicas.iter().copied().find(|r| view.is_live(*r)))?;
    let isr = replicas.iter().copied().filter(|r| *r == leader || policy.eligible(view, *r)).collect();
    Some(PartitionState { leader, leader_epoch: 0, isr, controller_epoch: epoch })
}

/// Preferred election: the first assigned replica leads if it is live, not
/// shutting down, in the ISR and not leading already; the ISR stays as it is.
fn preferred_state(
    view: &ClusterView,
    replicas: &[i32],
    s: &PartitionState,
    epoch: i32,
    policy: &Policy,
) -> Option<PartitionState> {
    let preferred = *replicas.first()?;
    if s.leader == preferred || !policy.eligible(view, preferred) || !s.isr.contains(&preferred) {
        return None;
    }
    Some(PartitionState {
        leader: preferred,
        leader_epoch: s.leader_epoch + 1,
        isr: s.isr.clone(),
        controller_epoch: epoch,
    })
}

/// `unclean.leader.election.enable` for a topic: its override, else the broker's.
fn unclean_enabled(view: &ClusterView, topic: &str, default: bool) -> bool {
    match view.configs.get(topic).and_then(|c| c.get("unclean.leader.election.enable")) {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => default,
    }
}

/// Unclean election: only for a partition whose leader is gone and whose ISR
/// has no live member; the first live replica (one not shutting down when
/// there is one) leads and is the whole ISR.
fn unclean_state(
    view: &ClusterView,
    replicas: &[i32],
    s: &PartitionState,
    epoch: i32,
    policy: &Policy,
) -> Option<PartitionState> {
    if s.leader >= 0 && view.is_live(s.leader) {
        return None;
    }
    if s.isr.iter().any(|b| view.is_live(*b)) {
        return None;
    }
    let leader = replicas
        .iter()
        .copied()
        .find(|r| policy.eligible(view, *r))
        .or_else(|| replicas.iter().copied().find(|r| view.is_live(*r)))?;
    Some(PartitionState { leader, leader_epoch: s.leader_epoch + 1, isr: vec![leader], controller_epoch: epoch })
}

/// Kafka's auto-rebalance check: per broker, the share of the partitions it is
/// preferred leader of that it does not lead; above `percentage` %, those of
/// them whose preferred replica is live and in the ISR get a preferred
/// election. Topics queued for deletion are left out.
pub fn imbalanced(view: &ClusterView, percentage: u32) -> Vec<(&str, i32)> {
    /// Per preferred broker: how many partitions it should lead, and those it does not.
    #[derive(Default)]
    struct Share<'a> {
        total: usize,
        not_led: Vec<(&'a str, i32)>,
    }
    let mut by_broker: BTreeMap<i32, Share> = BTreeMap::new();
    for (name, entry) in &view.topics {
        if view.delete_requests.contains(name) {
            continue;
        }
        for (index, replicas) in entry.partitions.iter().enumerate() {
            let Some(&preferred) = replicas.first() else { continue };
            let partition = index as i32;
            let Some(state) = view.state(name, partition) else { continue };
            let slot = by_broker.entry(preferred).or_default();
            slot.total += 1;
            if state.leader != preferred {
                slot.not_led.push((name.as_str(), partition));
            }
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (broker, Share { total, not_led }) in by_broker {
        if total == 0 || not_led.is_empty() || !view.is_live(broker) {
            continue;
        }
        // ratio > percentage / 100, in integers.
        if not_led.len() * 100 <= total * percentage as usize {
            continue;
        }
        for (topic, partition) in not_led {
            let eligible = view.state(topic, partition).is_some_and(|s| s.isr.contains(&broker));
            if eligible && seen.insert((topic, partition)) {
                out.push((topic, partition));
            }
        }
    }
    out
}

/// The state a partition should move to given the live brokers and those
/// shutting down, if it must change.
fn next_state(
    view: &ClusterView,
    replicas: &[i32],
    s: &PartitionState,
    epoch: i32,
    policy: &Policy,
) -> Option<PartitionState> {
    let live_isr: Vec<i32> = s.isr.iter().copied().filter(|b| view.is_live(*b)).collect();
    // First in assignment order among `fit` ISR members; ISR members not in
    // the assignment (reassignment leftovers) still count.
    let pick = |fit: &dyn Fn(i32) -> bool| {
        replicas
            .iter()
            .copied()
            .find(|r| live_isr.contains(r) && fit(*r))
            .or_else(|| live_isr.iter().copied().find(|b| fit(*b)))
    };
    // The ISR once `leader` leads: live members, without those shutting down.
    let isr_under = |leader: i32| -> Vec<i32> {
        live_isr.iter().copied().filter(|b| *b == leader || policy.eligible(view, *b)).collect()
    };
    let bumped = |leader: i32, isr: Vec<i32>| PartitionState {
        leader,
        leader_epoch: s.leader_epoch + 1,
        isr,
        controller_epoch: epoch,
    };
    if s.leader >= 0 && view.is_live(s.leader) {
        if policy.shutting_down.contains(&s.leader) {
            // Controlled shutdown: another live ISR member takes over.
            if let Some(leader) = pick(&|b| policy.eligible(view, b)) {
                return Some(bumped(leader, isr_under(leader)));
            }
            // Nobody else in sync: it keeps leading until it is gone.
        }
        // Leader stays: dead followers leave the ISR, and those asked to.
        let isr: Vec<i32> =
            live_isr.iter().copied().filter(|b| *b == s.leader || !policy.leaving_isrs.contains(b)).collect();
        if isr.len() == s.isr.len() {
            return None;
        }
        return Some(bumped(s.leader, isr));
    }
    // Leader gone (or none): the first live ISR member in assignment order,
    // one not shutting down if there is one.
    match pick(&|b| policy.eligible(view, b)).or_else(|| pick(&|_| true)) {
        Some(leader) => Some(bumped(leader, isr_under(leader))),
        None if s.leader != -1 => Some(bumped(-1, s.isr.clone())),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::cache::{TopicEntry, VersionedState};
    use crate::metadata::BrokerInfo;

    fn deleting() -> Policy {
        Policy { delete_enabled: true, ..Policy::default() }
    }

    fn view(live: &[i32]) -> ClusterView {
        let mut v = ClusterView::default();
        for &b in live {
            v.brokers.insert(
                b,
                BrokerInfo { id: b, host: "h".into(), port: 1, rack: None, endpoints: Vec::new(), epoch: 0 },
            );
        }
        v
    }

    fn topic(v: &mut ClusterView, name: &str, parts: Vec<Vec<i32>>) {
        v.topics.insert(
            name.into(),
            TopicEntry { partitions: parts, topic_id: Some(uuid::Uuid::new_v4()), ..TopicEntry::default() },
        );
    }

    fn state(v: &mut ClusterView, name: &str, p: i32, leader: i32, isr: Vec<i32>) {
        v.states.entry(name.into()).or_default().insert(
            p,
            VersionedState { state: PartitionState { leader, leader_epoch: 3, isr, controller_epoch: 1 }, version: 7 },
        );
    }

    #[test]
    fn new_topic_gets_states_from_live_replicas() {
        let mut v = view(&[0, 2]);
        topic(&mut v, "t", vec![vec![1, 2, 0], vec![1]]);
        let a = plan(&v, 5, &deleting());
        assert_eq!(
            a,
            vec![Action::CreateStates {
                topic: "t".into(),
                states: vec![(0, PartitionState { leader: 2, leader_epoch: 0, isr: vec![2, 0], controller_epoch: 5 })],
            }]
        );
    }

    #[test]
    fn failover_and_isr_shrink() {
        let mut v = view(&[1, 2]);
        topic(&mut v, "t", vec![vec![0, 1, 2], vec![1, 0], vec![0], vec![1, 2]]);
        state(&mut v, "t", 0, 0, vec![0, 2, 1]);
        state(&mut v, "t", 1, 1, vec![1, 0]);
        state(&mut v, "t", 2, 0, vec![0]);
        state(&mut v, "t", 3, 1, vec![1, 2]);
        let a = plan(&v, 2, &deleting());
        let expect = |p, leader, isr| Action::UpdateState {
            topic: "t".into(),
            partition: p,
            state: PartitionState { leader, leader_epoch: 4, isr, controller_epoch: 2 },
            version: 7,
        };
        assert_eq!(a, vec![expect(0, 1, vec![2, 1]), expect(1, 1, vec![1]), expect(2, -1, vec![0])]);
        // Broker 0 comes back: partition 2 gets its leader again.
        let mut v2 = view(&[0, 1, 2]);
        topic(&mut v2, "t", vec![vec![0]]);
        v2.states.entry("t".into()).or_default().insert(
            0,
            VersionedState {
                state: PartitionState { leader: -1, leader_epoch: 4, isr: vec![0], controller_epoch: 2 },
                version: 8,
            },
        );
        assert_eq!(
            plan(&v2, 3, &deleting()),
            vec![Action::UpdateState {
                topic: "t".into(),
                partition: 0,
                state: PartitionState { leader: 0, leader_epoch: 5, isr: vec![0], controller_epoch: 3 },
                version: 8,
            }]
        );
    }

    #[test]
    fn deletion_requests_and_topic_ids() {
        let mut v = view(&[0]);
        topic(&mut v, "gone", vec![vec![0]]);
        state(&mut v, "gone", 0, 0, vec![0]);
        v.topics.insert("noid".into(), TopicEntry { partitions: vec![vec![0]], version: 2, ..TopicEntry::default() });
        state(&mut v, "noid", 0, 0, vec![0]);
        v.delete_requests.insert("gone".into());
        v.delete_requests.insert("unknown".into());
        let a = plan(&v, 1, &deleting());
        assert_eq!(a[0], Action::DeleteTopic { topic: "gone".into() });
        assert_eq!(a[1], Action::DropDeleteRequest { topic: "unknown".into() });
        assert!(matches!(&a[2], Action::AssignTopicId { topic, version: 2, .. } if topic == "noid"));
        assert_eq!(a.len(), 3);
        let a = plan(&v, 1, &Policy::default());
        assert_eq!(a[0], Action::DropDeleteRequest { topic: "gone".into() });
        assert_eq!(a[1], Action::DropDeleteRequest { topic: "unknown".into() });
    }

    fn update(p: i32, leader: i32, isr: Vec<i32>) -> Action {
        Action::UpdateState {
            topic: "t".into(),
            partition: p,
            state: PartitionState { leader, leader_epoch: 4, isr, controller_epoch: 2 },
            version: 7,
        }
    }

    #[test]
    fn preferred_election_requests() {
        let mut v = view(&[0, 1, 2]);
        topic(&mut v, "t", vec![vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1], vec![0, 1, 2]]);
        state(&mut v, "t", 0, 1, vec![1, 2, 0]); // preferred 0 live, in ISR: elected
        state(&mut v, "t", 1, 1, vec![1, 2, 0]); // already led by its preferred replica
        state(&mut v, "t", 2, 0, vec![0, 1]); // preferred 2 not in the ISR
        state(&mut v, "t", 3, 1, vec![1, 0]); // not asked for
        v.election_requests
            .insert(ElectionType::Preferred, vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2), ("x".into(), 0)]);
        let a = plan(&v, 2, &deleting());
        assert_eq!(a, vec![update(0, 0, vec![1, 2, 0]), Action::DropElectionRequest { kind: ElectionType::Preferred }]);
        // A dead preferred replica is not elected; the request is still removed.
        let mut v = view(&[1, 2]);
        topic(&mut v, "t", vec![vec![0, 1, 2]]);
        state(&mut v, "t", 0, 1, vec![1, 2]);
        v.election_requests.insert(ElectionType::Preferred, vec![("t".into(), 0)]);
        assert_eq!(plan(&v, 2, &deleting()), vec![Action::DropElectionRequest { kind: ElectionType::Preferred }]);
    }

    #[test]
    fn unclean_election_requests() {
        let mut v = view(&[2]);
        topic(&mut v, "t", vec![vec![0, 1, 2], vec![0, 2, 1], vec![2, 1]]);
        state(&mut v, "t", 0, -1, vec![0]); // no live ISR member: 2 takes over alone
        state(&mut v, "t", 1, 0, vec![0, 2]); // a live ISR member: a clean election
        state(&mut v, "t", 2, 2, vec![2]); // led by a live broker: nothing to do
        v.election_requests.insert(ElectionType::Unclean, vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2)]);
        assert_eq!(
            plan(&v, 2, &deleting()),
            vec![
                update(0, 2, vec![2]),
                update(1, 2, vec![2]),
                Action::DropElectionRequest { kind: ElectionType::Unclean }
            ]
        );
        // Without the request, partition 0 stays leaderless.
        v.election_requests.clear();
        assert_eq!(plan(&v, 2, &deleting()), vec![update(1, 2, vec![2])]);
        // unclean.leader.election.enable, on the broker or the topic, does it without a request.
        let automatic = Policy { unclean_default: true, ..deleting() };
        assert_eq!(plan(&v, 2, &automatic), vec![update(0, 2, vec![2]), update(1, 2, vec![2])]);
        v.configs.insert("t".into(), [("unclean.leader.election.enable".to_string(), "true".to_string())].into());
        assert_eq!(plan(&v, 2, &deleting()), vec![update(0, 2, vec![2]), update(1, 2, vec![2])]);
        v.configs.insert("t".into(), [("unclean.leader.election.enable".to_string(), "false".to_string())].into());
        assert_eq!(plan(&v, 2, &automatic), vec![update(1, 2, vec![2])]);
        // No live replica at all: nothing to elect.
        let mut v = view(&[5]);
        topic(&mut v, "t", vec![vec![0, 1]]);
        state(&mut v, "t", 0, -1, vec![0]);
        v.election_requests.insert(ElectionType::Unclean, vec![("t".into(), 0)]);
        assert_eq!(plan(&v, 2, &deleting()), vec![Action::DropElectionRequest { kind: ElectionType::Unclean }]);
    }

    #[test]
    fn controlled_shutdown_moves_leaders_and_leaves_isrs() {
        let mut v = view(&[0, 1, 2]);
        topic(&mut v, "t", vec![vec![0, 1, 2], vec![0, 2, 1], vec![1, 0, 2], vec![0], vec![0, 1], vec![2, 1]]);
        state(&mut v, "t", 0, 0, vec![0, 1, 2]); // led by 0: goes to 1
        state(&mut v, "t", 1, 0, vec![0, 1]); // 2 not in sync: goes to 1
        state(&mut v, "t", 2, 1, vec![1, 0, 2]); // followed by 0: 0 leaves the ISR
        state(&mut v, "t", 3, 0, vec![0]); // RF=1: stays
        state(&mut v, "t", 4, 0, vec![0]); // 1 live but out of sync: stays, movable later
        state(&mut v, "t", 5, 2, vec![2, 1]); // not concerned
        let policy = Policy { shutting_down: BTreeSet::from([0]), leaving_isrs: BTreeSet::from([0]), ..deleting() };
        assert_eq!(
            plan(&v, 2, &policy),
            vec![update(0, 1, vec![1, 2]), update(1, 1, vec![1]), update(2, 1, vec![1, 2])]
        );
        assert_eq!(
            movable_leaderships(&v, 0, &policy.shutting_down),
            vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 4)]
        );
        // With 1 shutting down too, 0 hands partition 0 to 2, and 1 is elected nowhere.
        let both = Policy { shutting_down: BTreeSet::from([0, 1]), leaving_isrs: BTreeSet::from([1]), ..deleting() };
        assert_eq!(plan(&v, 2, &both)[0], update(0, 2, vec![2]));
        assert_eq!(plan(&v, 2, &both)[1], update(1, 0, vec![0]));
        // In a later pass, a shutting-down follower back in an ISR stays there.
        let later = Policy { leaving_isrs: BTreeSet::new(), ..policy.clone() };
        assert_eq!(plan(&v, 2, &later).len(), 2);
        // The last broker standing: nothing is movable, nothing is remaining.
        let mut alone = view(&[0]);
        topic(&mut alone, "t", vec![vec![0, 1, 2]]);
        state(&mut alone, "t", 0, 0, vec![0]);
        assert_eq!(plan(&alone, 2, &policy), vec![]);
        assert!(movable_leaderships(&alone, 0, &policy.shutting_down).is_empty());
        // A shutting-down broker is not the preferred leader's comeback target,
        // and not a failover target while another ISR member is live.
        let mut v = view(&[0, 1, 2]);
        topic(&mut v, "t", vec![vec![0, 1, 2], vec![3, 0, 2]]);
        state(&mut v, "t", 0, 1, vec![1, 0, 2]);
        state(&mut v, "t", 1, 3, vec![3, 0, 2]);
        v.election_requests.insert(ElectionType::Preferred, vec![("t".into(), 0)]);
        assert_eq!(
            plan(&v, 2, &policy),
            vec![
                update(0, 1, vec![1, 2]),
                update(1, 2, vec![2]),
                Action::DropElectionRequest { kind: ElectionType::Preferred }
            ]
        );
    }

    #[test]
    fn auto_rebalance_above_the_imbalance_percentage() {
        let mut v = view(&[0, 1, 2]);
        topic(
            &mut v,
            "t",
            vec![vec![0, 1, 2], vec![0, 2, 1], vec![1, 2, 0], vec![1, 0, 2], vec![2, 0, 1], vec![0, 1, 2]],
        );
        state(&mut v, "t", 0, 1, vec![1, 2, 0]); // 0's, led by 1
        state(&mut v, "t", 1, 2, vec![2, 1]); // 0's, 0 not in the ISR
        state(&mut v, "t", 2, 1, vec![1, 2, 0]);
        state(&mut v, "t", 3, 1, vec![1, 0, 2]);
        state(&mut v, "t", 4, 2, vec![2, 0, 1]);
        state(&mut v, "t", 5, 0, vec![0, 1, 2]);
        let rebalance = |pct| Policy { delete_enabled: true, rebalance_percentage: Some(pct), ..Policy::default() };
        // Broker 0 leads 1 of its 3 partitions: 67 % imbalance.
        assert_eq!(imbalanced(&v, 10), vec![("t", 0)]);
        assert_eq!(plan(&v, 2, &rebalance(10)), vec![update(0, 0, vec![1, 2, 0])]);
        assert!(imbalanced(&v, 66).len() == 1 && imbalanced(&v, 67).is_empty());
        assert_eq!(plan(&v, 2, &rebalance(67)), vec![]);
        assert_eq!(plan(&v, 2, &deleting()), vec![]);
    }
}
