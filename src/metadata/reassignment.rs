//! Partition reassignment as Kafka 2.4+ does it (KIP-455), the pure part:
//! how a request changes a topic znode, and what the controller writes as
//! reassignments progress. No I/O; `store.rs` writes the requests and the
//! controller's plan (`controller.rs`) includes [`plan`].
//!
//! For a partition with original replicas ORS and target TRS, a request
//! writes the replica set ORS ∪ TRS (target first, in its order), with
//! `adding_replicas` = TRS − ORS and `removing_replicas` = ORS − TRS. Brokers
//! follow the replica set: a new replica opens its log and fetches from the
//! leader, which takes it into the ISR once caught up. When every target
//! replica is in the ISR, the controller writes, in one multi, the target as
//! the replica set (maps cleared) and a state with the ISR cut down to the
//! target, a new leader from the target when the current one is not in it
//! (or not live), and the leader epoch bumped; brokers left out stop their
//! replica and delete its log. Cancelling writes ORS back (RS − adding);
//! ISR members and a leader outside a settled replica set are then cleaned up
//! by the same plan. A target replica that is dead never joins the ISR, so
//! its reassignment stays in progress until it is cancelled or retargeted.
//!
//! `/admin/reassign_partitions` (Kafka 0.10's tool) is carried out by the
//! same rules: the controller starts each listed reassignment and removes
//! the partition from the request once its replica set is the target.

use std::collections::{BTreeMap, BTreeSet};

use super::cache::{ClusterView, TopicEntry};
use super::controller::Action;
use super::PartitionState;

/// Why a reassignment request for a partition is refused (Kafka's error codes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// UNKNOWN_TOPIC_OR_PARTITION.
    UnknownPartition,
    /// INVALID_REPLICA_ASSIGNMENT, with Kafka's message.
    InvalidReplicas(String),
    /// NO_REASSIGNMENT_IN_PROGRESS (a cancel for a partition not moving).
    NoReassignment,
}

/// One partition's replica set and its reassignment maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replicas {
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl Replicas {
    /// Partition `p` of a topic entry.
    pub fn of(entry: &TopicEntry, p: i32) -> Option<Replicas> {
        let replicas = entry.partitions.get(usize::try_from(p).ok()?)?.clone();
        Some(Replicas {
            replicas,
            adding: entry.adding.get(&p).cloned().unwrap_or_default(),
            removing: entry.removing.get(&p).cloned().unwrap_or_default(),
        })
    }

    /// Writes partition `p` back into a topic entry.
    pub fn store(self, entry: &mut TopicEntry, p: i32) {
        let Some(slot) = usize::try_from(p).ok().and_then(|i| entry.partitions.get_mut(i)) else { return };
        *slot = self.replicas;
        put_list(&mut entry.adding, p, self.adding);
        put_list(&mut entry.removing, p, self.removing);
    }

    pub fn in_progress(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// ORS: the replicas before the reassignment.
    pub fn original(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.adding.contains(r)).collect()
    }

    /// TRS: the replicas once the reassignment is done.
    pub fn target(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.removing.contains(r)).collect()
    }

    /// Kafka's `reassignTo`: the replica set ORS ∪ TRS (target first), adding
    /// TRS − ORS, removing ORS − TRS. A target with the same replicas as ORS
    /// (only reordered) settles at once.
    pub fn reassign_to(&self, target: &[i32]) -> Replicas {
        let original = self.original();
        let mut replicas = target.to_vec();
        replicas.extend(original.iter().copied().filter(|r| !target.contains(r)));
        let adding = replicas.iter().copied().filter(|r| !original.contains(r)).collect();
        let removing = replicas.iter().copied().filter(|r| !target.contains(r)).collect();
        Replicas { replicas, adding, removing }
    }

    /// Cancel: back to ORS, maps cleared.
    pub fn revert(&self) -> Replicas {
        Replicas { replicas: self.original(), adding: Vec::new(), removing: Vec::new() }
    }
}

fn put_list(map: &mut BTreeMap<i32, Vec<i32>>, p: i32, list: Vec<i32>) {
    if list.is_empty() {
        map.remove(&p);
    } else {
        map.insert(p, list);
    }
}

/// Kafka's checks of a target replica list (the ZooKeeper controller's
/// `validateReplicas`): not empty, no duplicates, no negative ids, and every
/// replica it adds is a live broker.
pub fn check_target(current: &Replicas, target: &[i32], live: &dyn Fn(i32) -> bool) -> Result<(), Refusal> {
    let list = |l: &[i32]| l.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    if target.is_empty() {
        return Err(Refusal::InvalidReplicas("Empty replica list specified in partition reassignment.".into()));
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if distinct.len() != target.len() {
        return Err(Refusal::InvalidReplicas(format!(
            "Duplicate replica ids in partition reassignment replica list: [{}]",
            list(target)
        )));
    }
    if target.iter().any(|r| *r < 0) {
        return Err(Refusal::InvalidReplicas(format!("Invalid broker id in replica list: [{}]", list(target))));
    }
    let adding = current.reassign_to(target).adding;
    if let Some(dead) = adding.iter().find(|r| !live(**r)) {
        return Err(Refusal::InvalidReplicas(format!(
            "Replica assignment has brokers that are not alive. Replica list: [{}], broker {dead} is not alive",
            list(&adding)
        )));
    }
    Ok(())
}

/// The new replicas of partition `p` after an AlterPartitionReassignments
/// entry: `Some(target)` starts (or retargets) a reassignment, `None` cancels one.
pub fn alter(
    entry: &TopicEntry,
    p: i32,
    target: Option<&[i32]>,
    live: &dyn Fn(i32) -> bool,
) -> Result<Replicas, Refusal> {
    let current = Replicas::of(entry, p).ok_or(Refusal::UnknownPartition)?;
    match target {
        Some(target) => {
            check_target(&current, target, live)?;
            Ok(current.reassign_to(target))
        }
        None if current.in_progress() => Ok(current.revert()),
        None => Err(Refusal::NoReassignment),
    }
}

/// The controller's reassignment writes for this pass. `busy_topics`: topics
/// whose znode another action of the pass writes (or deletes); `busy`:
/// partitions whose state another action writes. Both are left for the next
/// pass, which sees the result.
pub(super) fn plan(
    view: &ClusterView,
    epoch: i32,
    busy_topics: &BTreeSet<&str>,
    busy: &BTreeSet<(&str, i32)>,
    eligible: &dyn Fn(i32) -> bool,
) -> Vec<Action> {
    let mut actions = Vec::new();
    // Requests of /admin/reassign_partitions, by topic.
    let mut requested: BTreeMap<&str, Vec<(i32, &[i32])>> = BTreeMap::new();
    let mut finished: BTreeSet<(String, i32)> = BTreeSet::new();
    if let Some(request) = &view.reassign_request {
        for ((topic, p), target) in &request.entries {
            match view.topics.get(topic) {
                Some(_) if !view.delete_requests.contains(topic) => {
                    requested.entry(topic.as_str()).or_default().push((*p, target.as_slice()));
                }
                _ => {
                    tracing::warn!(topic, partition = p, "dropping a reassignment request for an unknown topic");
                    finished.insert((topic.clone(), *p));
                }
            }
        }
    }
    for (name, entry) in &view.topics {
        if busy_topics.contains(name.as_str()) || view.delete_requests.contains(name) {
            continue;
        }
        let mut updated = entry.clone();
        let mut states = Vec::new();
        let mut retargeted = BTreeSet::new();
        for &(p, target) in requested.get(name.as_str()).map(Vec::as_slice).unwrap_or_default() {
            let Some(current) = Replicas::of(entry, p) else {
                tracing::warn!(topic = %name, partition = p, "dropping a reassignment request for an unknown partition");
                finished.insert((name.clone(), p));
                continue;
            };
            if current.in_progress() {
                if current.target() != target {
                    // Another target than the running one: the request wins, as in Kafka.
                    if let Err(refusal) = check_target(&current, target, &|_| true) {
                        tracing::warn!(topic = %name, partition = p, ?refusal, "dropping a reassignment request");
                        finished.insert((name.clone(), p));
                        continue;
                    }
                    current.reassign_to(target).store(&mut updated, p);
                    retargeted.insert(p);
                }
            } else if current.replicas == target {
                finished.insert((name.clone(), p));
            } else if let Err(refusal) = check_target(&current, target, &|_| true) {
                tracing::warn!(topic = %name, partition = p, ?refusal, "dropping a reassignment request");
                finished.insert((name.clone(), p));
            } else {
                current.reassign_to(target).store(&mut updated, p);
                retargeted.insert(p);
            }
        }
        for index in 0..entry.partitions.len() {
            let p = index as i32;
            if retargeted.contains(&p) || busy.contains(&(name.as_str(), p)) {
                continue;
            }
            let (Some(current), Some(versioned)) =
                (Replicas::of(entry, p), view.states.get(name).and_then(|s| s.get(&p)))
            else {
                continue;
            };
            let s = &versioned.state;
            if current.in_progress() {
                if let Some(state) = completed(view, &current, s, epoch, eligible) {
                    let target = current.target();
                    Replicas { replicas: target, ..Replicas::default() }.store(&mut updated, p);
                    states.push((p, state, versioned.version));
                }
            } else if let Some(state) = settled(view, &current.replicas, s, epoch, eligible) {
                actions.push(Action::UpdateState {
                    topic: name.clone(),
                    partition: p,
                    state,
                    version: versioned.version,
                });
            }
        }
        if updated != *entry {
            actions.push(Action::Reassign {
                topic: name.clone(),
                assignment: updated.assignment(),
                version: entry.version,
                states,
            });
        }
    }
    if let Some(request) = &view.reassign_request {
        if !finished.is_empty() || request.entries.is_empty() {
            let remaining = request.entries.iter().filter(|(k, _)| !finished.contains(k)).cloned().collect();
            actions.push(Action::UpdateReassignRequest { remaining, version: request.version });
        }
    }
    actions
}

/// The state that completes a reassignment once every target replica is
/// live and in the ISR: the leader stays if it is live and in the target,
/// else the first target replica in the ISR leads (one fit to lead first);
/// the ISR is cut down to the target; the leader epoch is bumped either way,
/// as Kafka's controller does.
fn completed(
    view: &ClusterView,
    r: &Replicas,
    s: &PartitionState,
    epoch: i32,
    eligible: &dyn Fn(i32) -> bool,
) -> Option<PartitionState> {
    let target = r.target();
    if !target.iter().all(|b| s.isr.contains(b) && view.is_live(*b)) {
        return None;
    }
    let leader = if target.contains(&s.leader) && view.is_live(s.leader) {
        s.leader
    } else {
        target.iter().copied().find(|b| eligible(*b)).or_else(|| target.first().copied())?
    };
    let isr = s.isr.iter().copied().filter(|b| target.contains(b)).collect();
    Some(PartitionState { leader, leader_epoch: s.leader_epoch + 1, isr, controller_epoch: epoch })
}

/// For a partition not being reassigned: a leader or ISR members outside its
/// replica set (a cancelled reassignment's leftovers) are replaced and
/// dropped. Left alone when no replica of the set is live and in the ISR.
fn settled(
    view: &ClusterView,
    replicas: &[i32],
    s: &PartitionState,
    epoch: i32,
    eligible: &dyn Fn(i32) -> bool,
) -> Option<PartitionState> {
    let leader_outside = s.leader >= 0 && !replicas.contains(&s.leader);
    if !leader_outside && s.isr.iter().all(|b| replicas.contains(b)) {
        return None;
    }
    let isr: Vec<i32> = s.isr.iter().copied().filter(|b| replicas.contains(b)).collect();
    let leader = if leader_outside {
        let live_isr = |b: &i32| isr.contains(b) && view.is_live(*b);
        replicas
            .iter()
            .copied()
            .find(|b| live_isr(b) && eligible(*b))
            .or_else(|| replicas.iter().copied().find(live_isr))?
    } else {
        s.leader
    };
    if isr.is_empty() {
        return None;
    }
    Some(PartitionState { leader, leader_epoch: s.leader_epoch + 1, isr, controller_epoch: epoch })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(replicas: &[i32], adding: &[i32], removing: &[i32]) -> Replicas {
        Replicas { replicas: replicas.to_vec(), adding: adding.to_vec(), removing: removing.to_vec() }
    }

    #[test]
    fn reassign_to_and_revert() {
        let plain = r(&[0, 1, 2], &[], &[]);
        let moving = plain.reassign_to(&[1, 2, 3]);
        assert_eq!(moving, r(&[1, 2, 3, 0], &[3], &[0]));
        assert_eq!((moving.original(), moving.target()), (vec![1, 2, 0], vec![1, 2, 3]));
        assert!(moving.in_progress());
        assert_eq!(moving.revert(), r(&[1, 2, 0], &[], &[]));
        // Retargeting starts from the original replicas, not the current set.
        assert_eq!(moving.reassign_to(&[4, 0]), r(&[4, 0, 1, 2], &[4], &[1, 2]));
        // A reorder settles at once.
        assert_eq!(plain.reassign_to(&[2, 1, 0]), r(&[2, 1, 0], &[], &[]));
    }

    #[test]
    fn target_checks() {
        let current = r(&[0, 1], &[], &[]);
        let live = |b: i32| b < 4;
        let invalid = |t: &[i32]| matches!(check_target(&current, t, &live), Err(Refusal::InvalidReplicas(_)));
        assert!(invalid(&[]));
        assert!(invalid(&[1, 1]));
        assert!(invalid(&[-1, 1]));
        assert!(invalid(&[0, 7]), "new replicas must be live");
        assert_eq!(check_target(&current, &[2, 3], &live), Ok(()));
        // Existing replicas may be dead: only the added ones are checked.
        assert_eq!(check_target(&r(&[9], &[], &[]), &[9, 1], &live), Ok(()));
        let entry = TopicEntry { partitions: vec![vec![0, 1]], ..TopicEntry::default() };
        assert_eq!(alter(&entry, 1, Some(&[0]), &live), Err(Refusal::UnknownPartition));
        assert_eq!(alter(&entry, -1, None, &live), Err(Refusal::UnknownPartition));
        assert_eq!(alter(&entry, 0, None, &live), Err(Refusal::NoReassignment));
        let started = alter(&entry, 0, Some(&[1, 2]), &live).expect("start");
        assert_eq!(started, r(&[1, 2, 0], &[2], &[0]));
        let mut moving = entry.clone();
        started.store(&mut moving, 0);
        assert!(moving.reassigning(0));
        assert_eq!(alter(&moving, 0, None, &live), Ok(r(&[1, 0], &[], &[])));
    }

    // ---- the controller's part, through the whole plan ----

    use crate::metadata::cache::{ReassignRequest, VersionedState};
    use crate::metadata::controller::{plan as controller_plan, Policy};
    use crate::metadata::BrokerInfo;

    fn view(live: &[i32]) -> ClusterView {
        let mut v = ClusterView::default();
        for &b in live {
            let info = BrokerInfo { id: b, host: "h".into(), port: 1, rack: None, endpoints: Vec::new(), epoch: 0 };
            v.brokers.insert(b, info);
        }
        v
    }

    /// Topic `t`, one partition with replica set `replicas` (and maps), led by `leader` with `isr`.
    fn topic(v: &mut ClusterView, replicas: &[i32], adding: &[i32], removing: &[i32], leader: i32, isr: &[i32]) {
        let mut entry = TopicEntry { topic_id: Some(uuid::Uuid::nil()), version: 5, ..TopicEntry::default() };
        entry.partitions.push(Vec::new());
        r(replicas, adding, removing).store(&mut entry, 0);
        v.topics.insert("t".into(), entry);
        let state = PartitionState { leader, leader_epoch: 3, isr: isr.to_vec(), controller_epoch: 1 };
        v.states.entry("t".into()).or_default().insert(0, VersionedState { state, version: 7 });
    }

    fn state(leader: i32, isr: &[i32]) -> PartitionState {
        PartitionState { leader, leader_epoch: 4, isr: isr.to_vec(), controller_epoch: 2 }
    }

    fn assignment(replicas: &[i32], adding: &[i32], removing: &[i32]) -> crate::metadata::znode::TopicAssignment {
        let mut entry =
            TopicEntry { topic_id: Some(uuid::Uuid::nil()), partitions: vec![Vec::new()], ..TopicEntry::default() };
        r(replicas, adding, removing).store(&mut entry, 0);
        entry.assignment()
    }

    fn reassign(replicas: &[i32], adding: &[i32], removing: &[i32], states: Vec<(i32, PartitionState, i32)>) -> Action {
        Action::Reassign { topic: "t".into(), assignment: assignment(replicas, adding, removing), version: 5, states }
    }

    #[test]
    fn waits_until_every_target_replica_is_in_the_isr() {
        // 0,1,2 → 1,2,3: the new replica 3 has not caught up yet.
        let mut v = view(&[0, 1, 2, 3]);
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2]);
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![]);
        // It joined: the removed leader hands over to the first target replica,
        // the ISR is cut to the target, the replica set becomes the target.
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2, 3]);
        assert_eq!(
            controller_plan(&v, 2, &Policy::default()),
            vec![reassign(&[1, 2, 3], &[], &[], vec![(0, state(1, &[1, 2, 3]), 7)])]
        );
        // A leader that stays keeps leading, with a new epoch.
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 2, &[2, 0, 1, 3]);
        assert_eq!(
            controller_plan(&v, 2, &Policy::default()),
            vec![reassign(&[1, 2, 3], &[], &[], vec![(0, state(2, &[2, 1, 3]), 7)])]
        );
        // A target replica fit to lead is preferred over one shutting down.
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2, 3]);
        let shutting = Policy { shutting_down: [1].into(), ..Policy::default() };
        assert_eq!(
            controller_plan(&v, 2, &shutting),
            vec![reassign(&[1, 2, 3], &[], &[], vec![(0, state(2, &[1, 2, 3]), 7)])]
        );
    }

    #[test]
    fn a_dead_new_replica_keeps_the_reassignment_in_progress() {
        let mut v = view(&[0, 1, 2]);
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2]);
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![]);
        // Still listed in the ISR but dead: it first leaves the ISR, nothing completes.
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2, 3]);
        let expected = Action::UpdateState { topic: "t".into(), partition: 0, state: state(0, &[0, 1, 2]), version: 7 };
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![expected]);
    }

    #[test]
    fn leftovers_of_a_cancelled_reassignment_leave_the_isr_and_leadership() {
        // Cancelled 0,1,2 → 1,2,3 after 3 joined the ISR: back to [1,2,0].
        let mut v = view(&[0, 1, 2, 3]);
        topic(&mut v, &[1, 2, 0], &[], &[], 0, &[0, 1, 2, 3]);
        let update = |leader, isr: &[i32]| Action::UpdateState {
            topic: "t".into(),
            partition: 0,
            state: state(leader, isr),
            version: 7,
        };
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![update(0, &[0, 1, 2])]);
        // Led by the replica that was being added: the first replica of the set in the ISR takes over.
        topic(&mut v, &[1, 2, 0], &[], &[], 3, &[3, 2, 0]);
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![update(2, &[2, 0])]);
        // Nobody of the set in sync: left alone rather than leaderless.
        topic(&mut v, &[1, 2, 0], &[], &[], 3, &[3]);
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![]);
    }

    #[test]
    fn legacy_requests_start_and_are_removed_when_done() {
        let mut v = view(&[0, 1, 2, 3]);
        topic(&mut v, &[0, 1, 2], &[], &[], 0, &[0, 1, 2]);
        let entries = vec![
            (("t".to_string(), 0), vec![1, 2, 3]),
            (("gone".to_string(), 0), vec![1]),
            (("t".to_string(), 9), vec![1]),
        ];
        v.reassign_request = Some(ReassignRequest { entries: entries.clone(), version: 4 });
        assert_eq!(
            controller_plan(&v, 2, &Policy::default()),
            vec![
                reassign(&[1, 2, 3, 0], &[3], &[0], vec![]),
                Action::UpdateReassignRequest { remaining: entries[..1].to_vec(), version: 4 },
            ]
        );
        // In progress with the requested target: nothing to do until 3 is in sync.
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2]);
        v.reassign_request = Some(ReassignRequest { entries: entries[..1].to_vec(), version: 5 });
        assert_eq!(controller_plan(&v, 2, &Policy::default()), vec![]);
        // Done: the request goes.
        topic(&mut v, &[1, 2, 3], &[], &[], 1, &[1, 2, 3]);
        assert_eq!(
            controller_plan(&v, 2, &Policy::default()),
            vec![Action::UpdateReassignRequest { remaining: vec![], version: 5 }]
        );
        // A malformed request (no entries) is removed too.
        v.reassign_request = Some(ReassignRequest { entries: vec![], version: 0 });
        assert_eq!(
            controller_plan(&v, 2, &Policy::default()),
            vec![Action::UpdateReassignRequest { remaining: vec![], version: 0 }]
        );
    }

    #[test]
    fn partitions_with_other_writes_this_pass_wait() {
        // The leader died: the failover goes first, the completion next pass.
        let mut v = view(&[1, 2, 3]);
        topic(&mut v, &[1, 2, 3, 0], &[3], &[0], 0, &[0, 1, 2, 3]);
        let a = controller_plan(&v, 2, &Policy::default());
        assert_eq!(
            a,
            vec![Action::UpdateState { topic: "t".into(), partition: 0, state: state(1, &[1, 2, 3]), version: 7 }]
        );
    }
}
