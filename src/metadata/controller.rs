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
//! Rules (Kafka 2.x, unclean election off):
//! - a partition without state gets one once a replica is live: leader = first
//!   live replica in assignment order, ISR = live replicas, leader epoch 0;
//! - a partition whose leader is not live gets the first live ISR member in
//!   assignment order, or leader −1 when none is (keeping the last ISR so a
//!   member coming back can lead again); dead followers leave the ISR; each
//!   change bumps the leader epoch;
//! - a topic written without a topic id gets one;
//! - `/admin/delete_topics/<t>` deletes the topic's znodes and then the
//!   request, or only the request when deletion is disabled.

use super::cache::ClusterView;
use super::PartitionState;

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
}

/// Computes the writes that bring the cluster in line, as controller of `epoch`.
pub fn plan(view: &ClusterView, epoch: i32, delete_enabled: bool) -> Vec<Action> {
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
            let live: Vec<i32> = replicas.iter().copied().filter(|r| view.is_live(*r)).collect();
            match states.and_then(|s| s.get(&partition)) {
                None => {
                    if let Some(&leader) = live.first() {
                        new_states.push((
                            partition,
                            PartitionState { leader, leader_epoch: 0, isr: live, controller_epoch: epoch },
                        ));
                    }
                }
                Some(current) => {
                    if let Some(state) = next_state(view, replicas, &current.state, epoch) {
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
    actions
}

/// The state a partition should move to given the live brokers, if it must change.
fn next_state(view: &ClusterView, replicas: &[i32], s: &PartitionState, epoch: i32) -> Option<PartitionState> {
    let live_isr: Vec<i32> = s.isr.iter().copied().filter(|b| view.is_live(*b)).collect();
    if s.leader >= 0 && view.is_live(s.leader) {
        // Leader fine: only dead followers leave the ISR.
        if live_isr.len() == s.isr.len() {
            return None;
        }
        return Some(PartitionState {
            leader: s.leader,
            leader_epoch: s.leader_epoch + 1,
            isr: live_isr,
            controller_epoch: epoch,
        });
    }
    // Leader gone (or none): first live ISR member in assignment order.
    let candidate = replicas.iter().copied().find(|r| live_isr.contains(r)).or_else(|| {
        // ISR members not in the assignment (reassignment leftovers) still count.
        live_isr.first().copied()
    });
    match candidate {
        Some(leader) => {
            Some(PartitionState { leader, leader_epoch: s.leader_epoch + 1, isr: live_isr, controller_epoch: epoch })
        }
        None if s.leader != -1 => Some(PartitionState {
            leader: -1,
            leader_epoch: s.leader_epoch + 1,
            isr: s.isr.clone(),
            controller_epoch: epoch,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::cache::{TopicEntry, VersionedState};
    use crate::metadata::BrokerInfo;

    fn view(live: &[i32]) -> ClusterView {
        let mut v = ClusterView::default();
        for &b in live {
            v.brokers.insert(b, BrokerInfo { id: b, host: "h".into(), port: 1, rack: None, endpoints: Vec::new() });
        }
        v
    }

    fn topic(v: &mut ClusterView, name: &str, parts: Vec<Vec<i32>>) {
        v.topics
            .insert(name.into(), TopicEntry { partitions: parts, topic_id: Some(uuid::Uuid::new_v4()), version: 0 });
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
        let a = plan(&v, 5, true);
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
        let a = plan(&v, 2, true);
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
            plan(&v2, 3, true),
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
        v.topics.insert("noid".into(), TopicEntry { partitions: vec![vec![0]], topic_id: None, version: 2 });
        state(&mut v, "noid", 0, 0, vec![0]);
        v.delete_requests.insert("gone".into());
        v.delete_requests.insert("unknown".into());
        let a = plan(&v, 1, true);
        assert_eq!(a[0], Action::DeleteTopic { topic: "gone".into() });
        assert_eq!(a[1], Action::DropDeleteRequest { topic: "unknown".into() });
        assert!(matches!(&a[2], Action::AssignTopicId { topic, version: 2, .. } if topic == "noid"));
        assert_eq!(a.len(), 3);
        let a = plan(&v, 1, false);
        assert_eq!(a[0], Action::DropDeleteRequest { topic: "gone".into() });
        assert_eq!(a[1], Action::DropDeleteRequest { topic: "unknown".into() });
    }
}
