//! Partition assignors run by the group leader: `range`, `roundrobin`,
//! `sticky` and `cooperative-sticky`, with the Java client's protocol names
//! and algorithms so that a group can mix our members with Java or
//! librdkafka members.
//!
//! Pure functions of the members' subscriptions and the partition counts:
//! no I/O, and the same input always yields the same assignment (members are
//! ordered by group.instance.id when they have one, else by member id, as in
//! Kafka), so tests can check balance and stickiness directly.
//!
//! [`CustomAssignor`] is the plug-in for assignors written outside the
//! consumer (Kafka Streams' `stream` assignor is one): they exchange opaque
//! user data both ways through the consumer protocol, which the built-in
//! assignors leave empty.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use bytes::Bytes;

use crate::client::ClientError;

/// A topic-partition.
pub type TopicPartition = (String, i32);

/// One member's subscription as the leader sees it in the JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
    /// Partitions the member owns now (cooperative protocol; empty under eager).
    pub owned: Vec<TopicPartition>,
    /// The generation in which it got them (-1 when unknown).
    pub generation: i32,
    /// The subscription's user data (a [`CustomAssignor`]'s, for its leader).
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// Kafka's member order: static members by instance id, then member id.
    fn sort_key(&self) -> (&str, &str) {
        (self.instance_id.as_deref().unwrap_or(&self.member_id), &self.member_id)
    }
}

/// What one member gets from a [`CustomAssignor`]: its partitions and the
/// assignment's user data, both carried in the SyncGroup
/// ConsumerProtocolAssignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberAssignment {
    pub partitions: Vec<TopicPartition>,
    pub user_data: Option<Bytes>,
}

/// An assignor plugged into the consumer through
/// [`ConsumerConfig::custom_assignor`](super::ConsumerConfig::custom_assignor).
/// When set it is the only protocol the member offers, and the eager
/// rebalance protocol is used (everything is revoked before each join).
pub trait CustomAssignor: Send + Sync + 'static {
    /// Protocol name in JoinGroup ("stream" for streams).
    fn name(&self) -> String;
    /// This member's subscription user data, asked at every JoinGroup.
    fn subscription_user_data(&self) -> Option<Bytes>;
    /// Leader only. `partitions`: partition counts of the subscribed topics
    /// (missing = unknown topic). Members left out of the result get nothing.
    /// An error fails this rebalance for the leader's caller (the consumer
    /// joins again at its next poll).
    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, MemberAssignment>, ClientError>;
    /// Every member after SyncGroup, before the assignment is used.
    fn on_assignment(&self, assignment: &MemberAssignment, generation: i32);
}

// So that `ConsumerConfig` keeps deriving Debug and PartialEq: an assignor is
// shown by its protocol name, and two are equal only when they are the same
// object.
impl std::fmt::Debug for dyn CustomAssignor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomAssignor({})", self.name())
    }
}

impl PartialEq for dyn CustomAssignor {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(self as *const Self, other as *const Self)
    }
}

impl Eq for dyn CustomAssignor {}

/// member id → its partitions, sorted.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStrategy {
    /// Per topic, consecutive ranges of partitions to members in order.
    Range,
    /// All partitions, sorted, dealt to members in turn.
    RoundRobin,
    /// Balanced, keeping owned partitions where possible (eager protocol).
    Sticky,
    /// As sticky, with the incremental (cooperative) rebalance protocol.
    CooperativeSticky,
}

impl FromStr for AssignmentStrategy {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => Ok(AssignmentStrategy::Range),
            "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => Ok(AssignmentStrategy::RoundRobin),
            "sticky" | "org.apache.kafka.clients.consumer.StickyAssignor" => Ok(AssignmentStrategy::Sticky),
            "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
                Ok(AssignmentStrategy::CooperativeSticky)
            }
            other => Err(ClientError::Config(format!(
                "partition.assignment.strategy: unknown assignor '{other}'; use range, roundrobin, sticky or \
                 cooperative-sticky (or the Java class names)"
            ))),
        }
    }
}

impl AssignmentStrategy {
    /// The protocol name sent in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::Sticky => "sticky",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Whether the assignor works with the cooperative rebalance protocol.
    pub fn is_cooperative(self) -> bool {
        self == AssignmentStrategy::CooperativeSticky
    }

    /// Parses a comma-separated list, keeping its order (the preference order).
    pub fn parse_list(value: &str) -> Result<Vec<AssignmentStrategy>, ClientError> {
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let s: AssignmentStrategy = item.parse()?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.is_empty() {
            return Err(ClientError::Config("partition.assignment.strategy must name at least one assignor".into()));
        }
        Ok(out)
    }

    /// Assigns the partitions of the subscribed topics. `partitions` maps a
    /// topic to its partition count; topics missing there are not assigned.
    /// Every member appears in the result, possibly with no partitions.
    pub fn assign(self, partitions: &BTreeMap<String, i32>, members: &[MemberSubscription]) -> GroupAssignment {
        let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
        sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        sorted.dedup_by(|a, b| a.member_id == b.member_id);
        let mut out: GroupAssignment = match self {
            AssignmentStrategy::Range => range(partitions, &sorted),
            AssignmentStrategy::RoundRobin => round_robin(partitions, &sorted),
            AssignmentStrategy::Sticky => sticky(partitions, &sorted, false),
            AssignmentStrategy::CooperativeSticky => sticky(partitions, &sorted, true),
        };
        for m in &sorted {
            out.entry(m.member_id.clone()).or_default();
        }
        for list in out.values_mut() {
            list.sort();
        }
        out
    }
}

fn subscribes(m: &MemberSubscription, topic: &str) -> bool {
    m.topics.iter().any(|t| t == topic)
}

/// Subscribed topics with a known partition count, sorted.
fn subscribed_topics(partitions: &BTreeMap<String, i32>, members: &[&MemberSubscription]) -> BTreeSet<String> {
    members.iter().flat_map(|m| m.topics.iter()).filter(|t| partitions.contains_key(*t)).cloned().collect()
}

fn range(partitions: &BTreeMap<String, i32>, members: &[&MemberSubscription]) -> GroupAssignment {
    let mut out = GroupAssignment::new();
    for topic in subscribed_topics(partitions, members) {
        let count = partitions.get(&topic).copied().unwrap_or(0).max(0);
        let consumers: Vec<&&MemberSubscription> = members.iter().filter(|m| subscribes(m, &topic)).collect();
        if consumers.is_empty() {
            continue;
        }
        let n = consumers.len() as i32;
        let (per, extra) = (count / n, count % n);
        for (i, m) in consumers.iter().enumerate() {
            let i = i as i32;
            let start = per * i + i.min(extra);
            let len = per + i32::from(i < extra);
            let list = out.entry(m.member_id.clone()).or_default();
            list.extend((start..start + len).map(|p| (topic.clone(), p)));
        }
    }
    out
}

fn round_robin(partitions: &BTreeMap<String, i32>, members: &[&MemberSubscription]) -> GroupAssignment {
    let mut out = GroupAssignment::new();
    if members.is_empty() {
        return out;
    }
    let mut next = 0usize;
    for topic in subscribed_topics(partitions, members) {
        let count = partitions.get(&topic).copied().unwrap_or(0).max(0);
        for p in 0..count {
            // The next member in the circle that subscribes to this topic
            // (there is one: the topic came from some member's subscription).
            for step in 0..members.len() {
                let m = members[(next + step) % members.len()];
                if subscribes(m, &topic) {
                    out.entry(m.member_id.clone()).or_default().push((topic.clone(), p));
                    next = (next + step + 1) % members.len();
                    break;
                }
            }
        }
    }
    out
}

/// The sticky assignment: every member keeps the partitions it validly owns,
/// the rest go to the least loaded eligible member, then partitions move from
/// the most to the least loaded members until no two eligible members differ
/// by more than one. With `cooperative`, partitions that would move from one
/// owner to another are held back this round: the owner revokes them and
/// rejoins, and the next round hands them over.
fn sticky(partitions: &BTreeMap<String, i32>, members: &[&MemberSubscription], cooperative: bool) -> GroupAssignment {
    let all: BTreeSet<TopicPartition> = subscribed_topics(partitions, members)
        .into_iter()
        .flat_map(|t| {
            let count = partitions.get(&t).copied().unwrap_or(0).max(0);
            (0..count).map(move |p| (t.clone(), p))
        })
        .collect();
    // Who validly owns what: the claim from the newest generation wins; the
    // owner must still subscribe to the topic and the partition must exist.
    let mut owner: BTreeMap<TopicPartition, (i32, usize)> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.owned {
            if !all.contains(tp) || !subscribes(m, &tp.0) {
                continue;
            }
            match owner.get(tp) {
                Some((g, _)) if *g >= m.generation => {}
                _ => {
                    owner.insert(tp.clone(), (m.generation, i));
                }
            }
        }
    }
    let mut current: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];
    for (tp, (_, i)) in &owner {
        current[*i].insert(tp.clone());
    }
    let eligible_for = |tp: &TopicPartition| -> Vec<usize> {
        members.iter().enumerate().filter(|(_, m)| subscribes(m, &tp.0)).map(|(i, _)| i).collect()
    };
    let unassigned: Vec<TopicPartition> = all.iter().filter(|tp| !owner.contains_key(*tp)).cloned().collect();
    for tp in unassigned {
        let best = eligible_for(&tp).into_iter().min_by_key(|i| (current[*i].len(), *i));
        if let Some(i) = best {
            current[i].insert(tp);
        }
    }
    // Balance: move one partition at a time from the most loaded member to the
    // least loaded member able to take one of its partitions. Each move lowers
    // the sum of squared loads, so this ends; the bound is a safety net.
    let mut budget = all.len() * members.len().max(1) + 1;
    while budget > 0 {
        budget -= 1;
        let mut best: Option<(usize, usize, TopicPartition)> = None;
        let mut donors: Vec<usize> = (0..members.len()).collect();
        donors.sort_by_key(|i| (std::cmp::Reverse(current[*i].len()), *i));
        'search: for &d in &donors {
            let mut takers: Vec<usize> =
                (0..members.len()).filter(|r| current[*r].len() + 1 < current[d].len()).collect();
            takers.sort_by_key(|r| (current[*r].len(), *r));
            for &r in &takers {
                // Prefer giving away a partition the donor did not own before.
                let candidates = current[d].iter().rev().filter(|tp| subscribes(members[r], &tp.0));
                let pick = candidates.clone().find(|tp| owner.get(*tp).map(|o| o.1) != Some(d)).or_else(|| {
                    let mut c = candidates;
                    c.next()
                });
                if let Some(tp) = pick {
                    best = Some((d, r, tp.clone()));
                    break 'search;
                }
            }
        }
        let Some((d, r, tp)) = best else { break };
        current[d].remove(&tp);
        current[r].insert(tp);
    }
    let mut out = GroupAssignment::new();
    for (i, set) in current.into_iter().enumerate() {
        let list =
            set.into_iter().filter(|tp| !cooperative || owner.get(tp).is_none_or(|(_, o)| *o == i)).collect::<Vec<_>>();
        out.insert(members[i].member_id.clone(), list);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation: -1,
            ..Default::default()
        }
    }

    fn owning(mut m: MemberSubscription, owned: &[(&str, i32)], generation: i32) -> MemberSubscription {
        m.owned = owned.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        m.generation = generation;
        m
    }

    fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn tps(pairs: &[(&str, i32)]) -> Vec<TopicPartition> {
        pairs.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    /// Every partition of the subscribed topics exactly once.
    fn assert_complete(a: &GroupAssignment, parts: &BTreeMap<String, i32>) {
        let mut seen = BTreeSet::new();
        for list in a.values() {
            for tp in list {
                assert!(seen.insert(tp.clone()), "{tp:?} assigned twice in {a:?}");
            }
        }
        let total: i32 = parts.values().sum();
        assert_eq!(seen.len(), total as usize, "{a:?}");
    }

    fn loads(a: &GroupAssignment) -> Vec<usize> {
        a.values().map(Vec::len).collect()
    }

    #[test]
    fn names_and_java_class_names_parse_in_order() {
        let list = AssignmentStrategy::parse_list(
            "range, org.apache.kafka.clients.consumer.CooperativeStickyAssignor,roundrobin,range",
        )
        .expect("parse");
        assert_eq!(
            list,
            vec![AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky, AssignmentStrategy::RoundRobin]
        );
        assert_eq!(
            "org.apache.kafka.clients.consumer.RoundRobinAssignor".parse::<AssignmentStrategy>().expect("rr"),
            AssignmentStrategy::RoundRobin
        );
        let err = AssignmentStrategy::parse_list("range,fancy").expect_err("unknown");
        assert!(err.to_string().contains("fancy"), "{err}");
        assert!(AssignmentStrategy::parse_list(" , ").is_err());
        assert_eq!(AssignmentStrategy::CooperativeSticky.name(), "cooperative-sticky");
    }

    #[test]
    fn range_gives_consecutive_ranges_per_topic_extra_to_the_first_members() {
        let parts = counts(&[("a", 5), ("b", 2)]);
        let members = vec![member("m2", &["a", "b"]), member("m1", &["a", "b"])];
        let a = AssignmentStrategy::Range.assign(&parts, &members);
        assert_eq!(a["m1"], tps(&[("a", 0), ("a", 1), ("a", 2), ("b", 0)]));
        assert_eq!(a["m2"], tps(&[("a", 3), ("a", 4), ("b", 1)]));
        assert_complete(&a, &parts);
    }

    #[test]
    fn range_only_uses_members_subscribed_to_the_topic() {
        let parts = counts(&[("a", 2), ("b", 3)]);
        let members = vec![member("m1", &["a"]), member("m2", &["a", "b"]), member("m3", &["c"])];
        let a = AssignmentStrategy::Range.assign(&parts, &members);
        assert_eq!(a["m1"], tps(&[("a", 0)]));
        assert_eq!(a["m2"], tps(&[("a", 1), ("b", 0), ("b", 1), ("b", 2)]));
        assert!(a["m3"].is_empty(), "a member of an unknown topic gets nothing but is listed");
        assert_complete(&a, &parts);
    }

    #[test]
    fn range_orders_static_members_by_instance_id() {
        let parts = counts(&[("a", 2)]);
        let mut x = member("zzz", &["a"]);
        x.instance_id = Some("i1".into());
        let mut y = member("aaa", &["a"]);
        y.instance_id = Some("i2".into());
        let a = AssignmentStrategy::Range.assign(&parts, &[y, x]);
        assert_eq!(a["zzz"], tps(&[("a", 0)]));
        assert_eq!(a["aaa"], tps(&[("a", 1)]));
    }

    #[test]
    fn roundrobin_deals_sorted_partitions_in_turn() {
        let parts = counts(&[("a", 3), ("b", 3)]);
        let members = vec![member("m1", &["a", "b"]), member("m2", &["a", "b"])];
        let a = AssignmentStrategy::RoundRobin.assign(&parts, &members);
        assert_eq!(a["m1"], tps(&[("a", 0), ("a", 2), ("b", 1)]));
        assert_eq!(a["m2"], tps(&[("a", 1), ("b", 0), ("b", 2)]));
        assert_complete(&a, &parts);
    }

    #[test]
    fn roundrobin_skips_members_not_subscribed() {
        let parts = counts(&[("a", 2), ("b", 2)]);
        let members = vec![member("m1", &["a"]), member("m2", &["a", "b"]), member("m3", &["b"])];
        let a = AssignmentStrategy::RoundRobin.assign(&parts, &members);
        assert_eq!(a["m1"], tps(&[("a", 0)]));
        assert_eq!(a["m2"], tps(&[("a", 1), ("b", 1)]));
        assert_eq!(a["m3"], tps(&[("b", 0)]));
        assert_complete(&a, &parts);
    }

    #[test]
    fn no_members_or_no_partitions_is_not_an_error() {
        let parts = counts(&[("a", 0)]);
        for s in [
            AssignmentStrategy::Range,
            AssignmentStrategy::RoundRobin,
            AssignmentStrategy::Sticky,
            AssignmentStrategy::CooperativeSticky,
        ] {
            assert!(s.assign(&parts, &[]).is_empty());
            let a = s.assign(&parts, &[member("m", &["a", "missing"])]);
            assert_eq!(a["m"], Vec::<TopicPartition>::new());
        }
    }

    #[test]
    fn sticky_fresh_group_is_balanced() {
        let parts = counts(&[("a", 7), ("b", 3)]);
        let members = vec![member("m1", &["a", "b"]), member("m2", &["a", "b"]), member("m3", &["a", "b"])];
        for s in [AssignmentStrategy::Sticky, AssignmentStrategy::CooperativeSticky] {
            let a = s.assign(&parts, &members);
            assert_complete(&a, &parts);
            let l = loads(&a);
            assert!(l.iter().max().expect("max") - l.iter().min().expect("min") <= 1, "{a:?}");
        }
    }

    #[test]
    fn sticky_keeps_owned_partitions_when_a_member_joins() {
        let parts = counts(&[("a", 6)]);
        let m1 = owning(member("m1", &["a"]), &[("a", 0), ("a", 1), ("a", 2)], 3);
        let m2 = owning(member("m2", &["a"]), &[("a", 3), ("a", 4), ("a", 5)], 3);
        let m3 = member("m3", &["a"]);
        let a = AssignmentStrategy::Sticky.assign(&parts, &[m1.clone(), m2.clone(), m3.clone()]);
        assert_complete(&a, &parts);
        assert_eq!(loads(&a), vec![2, 2, 2]);
        // Each old member gives up exactly one partition and keeps the others.
        for (m, owned) in [("m1", &m1.owned), ("m2", &m2.owned)] {
            assert!(a[m].iter().all(|tp| owned.contains(tp)), "{m} kept only owned partitions: {a:?}");
        }
        // Cooperative: the moving partitions are held back for one round.
        let c = AssignmentStrategy::CooperativeSticky.assign(&parts, &[m1.clone(), m2.clone(), m3]);
        assert_eq!(c["m1"], a["m1"]);
        assert_eq!(c["m2"], a["m2"]);
        assert!(c["m3"].is_empty(), "partitions still owned elsewhere are not handed over yet: {c:?}");
        // Next round: the owners revoked them; now they are assigned.
        let m1b = owning(member("m1", &["a"]), &c["m1"].iter().map(|(t, p)| (t.as_str(), *p)).collect::<Vec<_>>(), 4);
        let m2b = owning(member("m2", &["a"]), &c["m2"].iter().map(|(t, p)| (t.as_str(), *p)).collect::<Vec<_>>(), 4);
        let m3b = owning(member("m3", &["a"]), &[], 4);
        let d = AssignmentStrategy::CooperativeSticky.assign(&parts, &[m1b, m2b, m3b]);
        assert_complete(&d, &parts);
        assert_eq!(d["m1"], c["m1"]);
        assert_eq!(d["m2"], c["m2"]);
        assert_eq!(d["m3"].len(), 2);
    }

    #[test]
    fn sticky_hands_a_leaving_members_partitions_to_the_rest_without_moving_others() {
        let parts = counts(&[("a", 6)]);
        let m1 = owning(member("m1", &["a"]), &[("a", 0), ("a", 1)], 5);
        let m2 = owning(member("m2", &["a"]), &[("a", 2), ("a", 3)], 5);
        // m3 (owning 4 and 5) left.
        let a = AssignmentStrategy::CooperativeSticky.assign(&parts, &[m1, m2]);
        assert_complete(&a, &parts);
        assert_eq!(loads(&a), vec![3, 3]);
        assert!(a["m1"].starts_with(&tps(&[("a", 0), ("a", 1)])));
        assert!(a["m2"].starts_with(&tps(&[("a", 2), ("a", 3)])));
    }

    #[test]
    fn sticky_ignores_stale_and_invalid_ownership_claims() {
        let parts = counts(&[("a", 4)]);
        // Both claim a-0: the newer generation wins. m2 also claims a partition
        // that does not exist and one of a topic it no longer subscribes to.
        let m1 = owning(member("m1", &["a"]), &[("a", 0), ("a", 1)], 7);
        let m2 = owning(member("m2", &["a"]), &[("a", 0), ("a", 9), ("b", 0)], 6);
        let a = AssignmentStrategy::CooperativeSticky.assign(&parts, &[m1, m2]);
        assert_eq!(a["m1"], tps(&[("a", 0), ("a", 1)]));
        assert_eq!(a["m2"], tps(&[("a", 2), ("a", 3)]));
    }

    #[test]
    fn sticky_balances_members_with_different_subscriptions() {
        let parts = counts(&[("a", 4), ("b", 4)]);
        let m1 = owning(member("m1", &["a", "b"]), &[("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 0), ("b", 1)], 2);
        let m2 = member("m2", &["b"]);
        let m3 = member("m3", &["a"]);
        let a = AssignmentStrategy::Sticky.assign(&parts, &[m1, m2, m3]);
        assert_complete(&a, &parts);
        let l = loads(&a);
        assert!(l.iter().max().expect("max") - l.iter().min().expect("min") <= 1, "{a:?}");
        assert!(a["m2"].iter().all(|tp| tp.0 == "b"));
        assert!(a["m3"].iter().all(|tp| tp.0 == "a"));
    }

    #[test]
    fn every_assignor_is_deterministic_and_complete_for_many_shapes() {
        for s in [
            AssignmentStrategy::Range,
            AssignmentStrategy::RoundRobin,
            AssignmentStrategy::Sticky,
            AssignmentStrategy::CooperativeSticky,
        ] {
            for n_members in 1..6 {
                for n_parts in [0, 1, 3, 8, 13] {
                    let parts = counts(&[("x", n_parts), ("y", 2)]);
                    let members: Vec<MemberSubscription> =
                        (0..n_members).map(|i| member(&format!("c-{i}"), &["x", "y"])).collect();
                    let a = s.assign(&parts, &members);
                    let mut reversed = members.clone();
                    reversed.reverse();
                    assert_eq!(a, s.assign(&parts, &reversed), "{s:?} depends on member order");
                    assert_complete(&a, &parts);
                    assert_eq!(a.len(), n_members);
                    if s != AssignmentStrategy::Range {
                        let l = loads(&a);
                        assert!(l.iter().max().expect("max") - l.iter().min().expect("min") <= 1, "{s:?} {a:?}");
                    }
                }
            }
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const TOPICS: [&str; 3] = ["a", "b", "c"];

        /// Members with random subscriptions and random (possibly stale or
        /// conflicting) ownership claims, and random partition counts.
        fn group() -> impl Strategy<Value = (BTreeMap<String, i32>, Vec<MemberSubscription>)> {
            let counts = proptest::collection::vec(0i32..8, 3);
            let member = (
                proptest::collection::vec(any::<bool>(), 3),
                proptest::collection::vec((0usize..3, 0i32..9), 0..6),
                -1i32..4,
            );
            (counts, proptest::collection::vec(member, 1..7)).prop_map(|(counts, members)| {
                let parts: BTreeMap<String, i32> = TOPICS.iter().zip(counts).map(|(t, n)| (t.to_string(), n)).collect();
                let members = members
                    .into_iter()
                    .enumerate()
                    .map(|(i, (subs, owned, generation))| MemberSubscription {
                        member_id: format!("m-{i}"),
                        instance_id: None,
                        topics: TOPICS.iter().zip(subs).filter(|(_, s)| *s).map(|(t, _)| t.to_string()).collect(),
                        owned: owned.into_iter().map(|(t, p)| (TOPICS[t].to_string(), p)).collect(),
                        generation,
                        user_data: None,
                    })
                    .collect();
                (parts, members)
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn assignments_are_valid_complete_and_deterministic((parts, members) in group()) {
                let wanted: BTreeSet<TopicPartition> = members
                    .iter()
                    .flat_map(|m| m.topics.iter())
                    .flat_map(|t| (0..parts[t]).map(move |p| (t.clone(), p)))
                    .collect();
                for s in [
                    AssignmentStrategy::Range,
                    AssignmentStrategy::RoundRobin,
                    AssignmentStrategy::Sticky,
                    AssignmentStrategy::CooperativeSticky,
                ] {
                    let a = s.assign(&parts, &members);
                    prop_assert_eq!(a.len(), members.len());
                    let mut seen = BTreeSet::new();
                    for (id, list) in &a {
                        let m = members.iter().find(|m| &m.member_id == id).expect("member");
                        for tp in list {
                            prop_assert!(m.topics.contains(&tp.0), "{:?} got {:?} outside its subscription", s, tp);
                            prop_assert!(seen.insert(tp.clone()), "{:?} assigned {:?} twice", s, tp);
                        }
                    }
                    if s == AssignmentStrategy::CooperativeSticky {
                        prop_assert!(seen.is_subset(&wanted));
                    } else {
                        prop_assert_eq!(&seen, &wanted, "{:?} left partitions out", s);
                    }
                    let mut reversed = members.clone();
                    reversed.reverse();
                    prop_assert_eq!(&a, &s.assign(&parts, &reversed), "{:?} depends on member order", s);
                }
            }

            #[test]
            fn sticky_is_balanced_when_everyone_subscribes_to_everything((parts, members) in group()) {
                let members: Vec<MemberSubscription> = members
                    .into_iter()
                    .map(|mut m| {
                        m.topics = TOPICS.iter().map(|t| t.to_string()).collect();
                        m
                    })
                    .collect();
                let a = AssignmentStrategy::Sticky.assign(&parts, &members);
                let loads: Vec<usize> = a.values().map(Vec::len).collect();
                let (max, min) = (loads.iter().max().copied().unwrap_or(0), loads.iter().min().copied().unwrap_or(0));
                prop_assert!(max - min <= 1, "{:?}", a);
                // Cooperative: the same, minus what is still owned elsewhere;
                // nothing a member validly owns and keeps is taken from it.
                let c = AssignmentStrategy::CooperativeSticky.assign(&parts, &members);
                for (id, list) in &c {
                    prop_assert!(list.iter().all(|tp| a[id].contains(tp)));
                }
            }
        }
    }
}
