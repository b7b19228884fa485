//! Group membership of a subscribed consumer: the rebalance flow of Kafka's
//! classic protocol as the Java ConsumerCoordinator runs it, driven from
//! `poll`, plus commits and the rebalance listener.
//!
//! ```text
//! FindCoordinator ─► JoinGroup ─(79 MEMBER_ID_REQUIRED)─► JoinGroup with the given id
//!                       │ leader: run the chosen assignor over every member's subscription
//!                       ▼
//!                    SyncGroup ─► assignment ─► positions from OffsetFetch, else auto.offset.reset
//! ```
//! Eager assignors (range, roundrobin, sticky, and a plugged-in
//! [`CustomAssignor`]) revoke everything before joining. With only cooperative assignors configured the member keeps its
//! partitions through the rebalance, gives up just those assigned elsewhere
//! and joins again at once so they can be handed over.
//!
//! JoinGroup and SyncGroup (and the leader's assignment) run in a spawned
//! task, since the coordinator holds JoinGroup until every member rejoined;
//! `poll` waits for it only until its own timeout and applies the outcome.
//! Every step updates the state only after its answer arrived, so a poll
//! cancelled midway (Ctrl-C, a timeout) leaves a state the next poll resumes
//! from. The heartbeat task reports trouble through
//! [`HeartbeatState`](super::group::HeartbeatState); `poll` acts on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::assignor::{AssignmentStrategy, CustomAssignor, MemberAssignment, MemberSubscription, TopicPartition};
use bytes::Bytes;

use super::group::{
    self, CommitParams, CoordinatorInfo, Generation, GroupError, HeartbeatSettings, HeartbeatTask, JoinOutcome,
    JoinParams, SyncParams,
};
use super::{Consumer, PartitionState};
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::{ClientError, ResponseError};

/// How often a member whose subscribed topic is missing refreshes metadata.
const MISSING_TOPIC_RECHECK: Duration = Duration::from_secs(1);

/// Told when the group moves partitions to or away from this consumer. The
/// calls happen inside [`Consumer::poll`] (and `close`/`unsubscribe`).
pub trait RebalanceListener: Send {
    /// These partitions are being taken away; with `enable.auto.commit` their
    /// positions were committed just before.
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    /// These partitions were added to the assignment.
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
    /// These partitions were lost without a chance to commit (the member was
    /// dropped from the group, e.g. after a session timeout). By default the
    /// same as revoked, as in Kafka.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

/// Awaited by `poll` before this member gives up its partitions for a
/// rebalance (every one of them under the eager protocol, before JoinGroup),
/// with the partitions and the member's group metadata of the generation
/// ending; the offsets it returns are committed as that generation before
/// the member joins again. Kafka Streams commits its tasks here (Java's
/// `onPartitionsRevoked` calls `commitSync` itself, which a sync callback
/// here cannot).
pub type RevocationHook = Arc<
    dyn Fn(
            Vec<TopicPartition>,
            Option<super::ConsumerGroupMetadata>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = BTreeMap<TopicPartition, i64>> + Send>>
        + Send
        + Sync,
>;

/// A listener made of closures, for callers that only care about some events.
#[derive(Default)]
pub struct RebalanceCallbacks {
    #[allow(clippy::type_complexity)]
    revoked: Option<Box<dyn FnMut(&[TopicPartition]) + Send>>,
    #[allow(clippy::type_complexity)]
    assigned: Option<Box<dyn FnMut(&[TopicPartition]) + Send>>,
    #[allow(clippy::type_complexity)]
    lost: Option<Box<dyn FnMut(&[TopicPartition]) + Send>>,
}

impl RebalanceCallbacks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn on_revoked(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.revoked = Some(Box::new(f));
        self
    }

    pub fn on_assigned(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.assigned = Some(Box::new(f));
        self
    }

    pub fn on_lost(mut self, f: impl FnMut(&[TopicPartition]) + Send + 'static) -> Self {
        self.lost = Some(Box::new(f));
        self
    }
}

impl RebalanceListener for RebalanceCallbacks {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        if let Some(f) = self.revoked.as_mut() {
            f(partitions);
        }
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        if let Some(f) = self.assigned.as_mut() {
            f(partitions);
        }
    }

    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        match self.lost.as_mut() {
            Some(f) => f(partitions),
            None => self.on_partitions_revoked(partitions),
        }
    }
}

/// A subscribed consumer's standing in its group.
pub(crate) struct Membership {
    /// Subscribed topics, sorted.
    pub topics: Vec<String>,
    pub member_id: String,
    /// -1 outside a generation.
    pub generation: i32,
    /// The assignor the group chose.
    pub protocol: Option<String>,
    /// A (re)join is due.
    pub rejoin_needed: bool,
    /// The pre-join steps (commit, eager revocation) ran for the pending join.
    pub prepared: bool,
    /// Partition counts of the subscribed topics when the assignment was made:
    /// a change (new partitions, a topic created) asks for a rebalance.
    pub partition_counts: BTreeMap<String, usize>,
    /// Under the eager protocol: what was revoked before this join (the
    /// partitions the subscription reports as owned).
    pub revoked_for_join: Vec<TopicPartition>,
    /// When metadata was last refreshed because a subscribed topic was missing.
    pub missing_topics_checked: Option<Instant>,
    /// In a mutex only so that the consumer stays `Sync` (its futures hold
    /// `&Consumer` across awaits) without asking listeners to be `Sync`.
    pub listener: Option<Mutex<Box<dyn RebalanceListener>>>,
    pub heartbeat: HeartbeatTask,
    /// The join under way, if any (JoinGroup waits for the whole group).
    pub join_task: Option<JoinTask>,
    /// The subscription changed while `join_task` was under way.
    pub stale_join: bool,
    /// `subscribe_pattern`: the topics are whichever (non-internal) topics match.
    pub pattern: Option<regex::Regex>,
    /// When the topic list was last matched against the pattern.
    pub pattern_checked: Option<Instant>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(t) = &self.join_task {
            t.abort();
        }
    }
}

impl Membership {
    fn notify(&mut self, f: impl FnOnce(&mut dyn RebalanceListener)) {
        if let Some(l) = self.listener.as_mut() {
            let l = l.get_mut().unwrap_or_else(|e| e.into_inner());
            f(l.as_mut());
        }
    }
}

impl Membership {
    fn generation_target(&self, coordinator: &CoordinatorInfo) -> Generation {
        Generation {
            coordinator: coordinator.addr.clone(),
            generation: self.generation,
            member_id: self.member_id.clone(),
        }
    }
}

impl Consumer {
    /// Joins `group.id` and consumes `topics`, with partitions assigned by the
    /// group. The join itself happens in [`poll`](Consumer::poll). Replaces an
    /// earlier subscription; an empty list unsubscribes.
    pub async fn subscribe(&mut self, topics: Vec<String>) -> Result<(), ClientError> {
        self.subscribe_inner(topics, None, None).await
    }

    /// As [`subscribe`](Consumer::subscribe), telling `listener` about partitions
    /// assigned, revoked and lost.
    pub async fn subscribe_with_listener(
        &mut self,
        topics: Vec<String>,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), ClientError> {
        self.subscribe_inner(topics, Some(Box::new(listener)), None).await
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a regular
    /// expression, as Java's `subscribe(Pattern)`; internal topics excluded).
    /// Topics created later join the subscription when the metadata is next
    /// refreshed (`metadata.max.age.ms`).
    pub async fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), ClientError> {
        let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| ClientError::Config(format!("invalid topic pattern '{pattern}': {e}")))?;
        let topics = self.matching_topics(&regex).await.unwrap_or_default();
        self.subscribe_inner(topics, None, Some(regex)).await
    }

    /// The topics that match a pattern now (one all-topics Metadata request).
    async fn matching_topics(&self, regex: &regex::Regex) -> Result<Vec<String>, ClientError> {
        let md = self.cluster.fetch_metadata(None, false).await?;
        let mut topics: Vec<String> = md
            .topics
            .iter()
            .filter(|(name, t)| t.as_ref().is_ok_and(|t| !t.internal) && regex.is_match(name))
            .map(|(name, _)| name.clone())
            .collect();
        topics.sort();
        Ok(topics)
    }

    async fn subscribe_inner(
        &mut self,
        topics: Vec<String>,
        listener: Option<Box<dyn RebalanceListener>>,
        pattern: Option<regex::Regex>,
    ) -> Result<(), ClientError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ClientError::Config(
                "subscribe needs a group.id; set one or use assign() for manual partitions".into(),
            ));
        };
        let mut topics: Vec<String> = topics.into_iter().map(|t| t.trim().to_string()).collect();
        topics.sort();
        topics.dedup();
        if topics.iter().any(String::is_empty) {
            return Err(ClientError::Config("subscribe: topic names must not be empty".into()));
        }
        if topics.is_empty() && pattern.is_none() {
            return self.unsubscribe().await;
        }
        if self.membership.is_none() && !self.assignment.is_empty() {
            return Err(ClientError::Config(
                "subscribe and assign are mutually exclusive: unassign (assign an empty list) first".into(),
            ));
        }
        for t in &topics {
            self.cluster.add_interest(t);
        }
        if let Err(err) = self.cluster.refresh().await {
            tracing::debug!(%err, "metadata refresh at subscribe failed; poll retries");
        }
        match self.membership.as_mut() {
            Some(m) => {
                m.pattern = pattern;
                m.pattern_checked = Some(Instant::now());
                if m.topics != topics {
                    m.topics = topics;
                    m.rejoin_needed = true;
                    // A join under way carries the old topics: join again after it.
                    m.stale_join = m.join_task.is_some();
                }
                if let Some(l) = listener {
                    m.listener = Some(Mutex::new(l));
                }
            }
            None => {
                let heartbeat = HeartbeatTask::start(
                    self.cluster.clone(),
                    HeartbeatSettings {
                        group_id,
                        instance_id: self.config.group_instance_id.clone(),
                        interval: self.config.heartbeat_interval,
                        max_poll_interval: self.config.max_poll_interval,
                    },
                );
                self.membership = Some(Membership {
                    topics,
                    member_id: String::new(),
                    generation: -1,
                    protocol: None,
                    rejoin_needed: true,
                    prepared: false,
                    partition_counts: BTreeMap::new(),
                    missing_topics_checked: None,
                    revoked_for_join: Vec::new(),
                    join_task: None,
                    stale_join: false,
                    listener: listener.map(Mutex::new),
                    heartbeat,
                    pattern_checked: pattern.as_ref().map(|_| Instant::now()),
                    pattern,
                });
            }
        }
        Ok(())
    }

    /// Sets (or clears) the [`RevocationHook`].
    pub fn set_revocation_hook(&mut self, hook: Option<RevocationHook>) {
        self.revocation_hook = hook;
    }

    /// The subscribed topics (empty when not subscribed).
    pub fn subscription(&self) -> Vec<String> {
        self.membership.as_ref().map(|m| m.topics.clone()).unwrap_or_default()
    }

    /// The member id the coordinator gave this consumer (empty before joining).
    pub fn member_id(&self) -> String {
        self.membership.as_ref().map(|m| m.member_id.clone()).unwrap_or_default()
    }

    /// The current group generation (-1 outside one).
    pub fn generation(&self) -> i32 {
        self.membership.as_ref().map_or(-1, |m| m.generation)
    }

    /// Leaves the group (committing first with `enable.auto.commit`) and
    /// drops the assignment.
    pub async fn unsubscribe(&mut self) -> Result<(), ClientError> {
        let result = self.leave(true).await;
        self.membership = None;
        self.assignment.clear();
        self.pending.clear();
        result
    }

    /// Commits (with `enable.auto.commit`), revokes and leaves the group
    /// (static members stay, as in Kafka). Errors of the commit are returned
    /// after leaving.
    pub(crate) async fn leave(&mut self, revoke: bool) -> Result<(), ClientError> {
        let mut result = Ok(());
        if self.config.enable_auto_commit && self.config.group_id.is_some() && !self.assignment.is_empty() {
            result = self.commit_sync().await;
        }
        let Some(m) = self.membership.as_mut() else { return result };
        m.heartbeat.lock().target = None;
        if let Some(t) = m.join_task.take() {
            t.abort();
        }
        let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        if revoke && !owned.is_empty() {
            m.notify(|l| l.on_partitions_revoked(&owned));
        }
        let dynamic = self.config.group_instance_id.is_none();
        let member_id = std::mem::take(&mut m.member_id);
        m.generation = -1;
        m.rejoin_needed = true;
        if dynamic && !member_id.is_empty() {
            if let (Some(c), Some(group_id)) = (self.coordinator.clone(), self.config.group_id.clone()) {
                match self.cluster.connection(&c.addr).await {
                    Ok(conn) => {
                        if let Err(err) = group::leave_group(&conn, &group_id, &member_id, None).await {
                            tracing::debug!(%err, "LeaveGroup failed; the session timeout removes the member");
                        }
                    }
                    Err(err) => tracing::debug!(%err, "cannot reach the coordinator to leave the group"),
                }
            }
        }
        result
    }

    fn cooperative(&self) -> bool {
        self.config.custom_assignor.is_none() && self.config.assignment_strategies.iter().all(|s| s.is_cooperative())
    }

    /// A connection to the group coordinator, finding it first if needed.
    pub(crate) async fn coordinator_connection(&mut self) -> Result<Arc<Connection>, ClientError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ClientError::Config("this needs a group.id".into()));
        };
        if self.coordinator.is_none() {
            let found = self.cluster.retry(|| group::find_coordinator(&self.cluster, &group_id)).await?;
            tracing::debug!(group = group_id, coordinator = found.node, "found the group coordinator");
            self.coordinator = Some(found);
        }
        let Some(c) = self.coordinator.clone() else {
            return Err(ClientError::kafka(ResponseError::CoordinatorNotAvailable, None, "no coordinator"));
        };
        match self.cluster.connection(&c.addr).await {
            Ok(conn) => Ok(conn),
            Err(e) => {
                self.coordinator = None;
                Err(e)
            }
        }
    }

    /// Acts on heartbeat news and runs a rebalance when one is due; called by
    /// `poll`. Returns without joining if `deadline` passes between attempts.
    pub(crate) async fn ensure_group(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let Some(m) = self.membership.as_mut() else { return Ok(()) };
        let (trouble, fatal, expired) = {
            let mut s = m.heartbeat.lock();
            s.last_poll = Instant::now();
            (s.trouble.take(), s.fatal.take(), std::mem::take(&mut s.poll_expired))
        };
        if let Some(err) = fatal {
            return Err(err);
        }
        let mut reset = expired;
        match trouble {
            Some(GroupError::CoordinatorLost) => self.coordinator = None,
            Some(GroupError::Rejoin) => m.rejoin_needed = true,
            Some(GroupError::Reset) => reset = true,
            _ => {}
        }
        if reset {
            self.lose_partitions();
        }
        self.rematch_pattern().await;
        let Some(m) = self.membership.as_mut() else { return Ok(()) };
        if !m.rejoin_needed && m.generation >= 0 {
            // Only topics the metadata describes now are compared, so that a
            // transient metadata error does not start a rebalance.
            let counts = partition_counts(&self.cluster.snapshot(), &m.topics);
            if counts.iter().any(|(t, n)| m.partition_counts.get(t) != Some(n)) {
                tracing::info!("the partitions of the subscribed topics changed; rebalancing");
                m.rejoin_needed = true;
            } else if counts.len() < m.topics.len()
                && m.missing_topics_checked.is_none_or(|t| t.elapsed() >= MISSING_TOPIC_RECHECK)
            {
                // A subscribed topic does not exist (yet): look again soon
                // rather than at metadata.max.age.ms, as Kafka's consumer does.
                m.missing_topics_checked = Some(Instant::now());
                self.spawn_refresh();
            }
        }
        let Some(m) = self.membership.as_mut() else { return Ok(()) };
        if !m.rejoin_needed {
            if self.coordinator.is_none() || m.heartbeat.lock().target.is_none() {
                // Coordinator moved (or came back): heartbeat the same generation
                // there. Looked for within this poll's time only: the next poll
                // looks again, and meanwhile the fetches go on.
                let until = deadline.max(Instant::now() + self.config.client.retry_backoff);
                match tokio::time::timeout_at(until.into(), self.coordinator_connection()).await {
                    Ok(Ok(_)) => {
                        if let (Some(m), Some(c)) = (self.membership.as_ref(), self.coordinator.as_ref()) {
                            m.heartbeat.lock().target = Some(m.generation_target(c));
                        }
                    }
                    Ok(Err(err)) => tracing::debug!(%err, "group coordinator not reachable yet"),
                    Err(_) => tracing::debug!("group coordinator not found yet"),
                }
            }
            return Ok(());
        }
        self.rejoin(deadline).await
    }

    /// With a pattern subscription, once per `metadata.max.age.ms`: the topics
    /// that match now; a change asks for a rebalance.
    async fn rematch_pattern(&mut self) {
        let max_age = self.config.client.metadata_max_age;
        let Some(m) = self.membership.as_ref() else { return };
        let Some(regex) = m.pattern.clone() else { return };
        if m.pattern_checked.is_some_and(|t| t.elapsed() < max_age) {
            return;
        }
        let matched = match self.matching_topics(&regex).await {
            Ok(t) => t,
            Err(err) => {
                tracing::debug!(%err, "cannot list topics for the pattern subscription; trying later");
                return;
            }
        };
        for t in &matched {
            self.cluster.add_interest(t);
        }
        let Some(m) = self.membership.as_mut() else { return };
        m.pattern_checked = Some(Instant::now());
        if m.topics != matched {
            tracing::info!(topics = ?matched, "the topics matching the subscribed pattern changed; rebalancing");
            m.topics = matched;
            m.rejoin_needed = true;
            m.stale_join = m.join_task.is_some();
        }
    }

    /// Drops every owned partition without committing (the generation is
    /// gone) and forgets the member id.
    fn lose_partitions(&mut self) {
        let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        self.assignment.clear();
        self.pending.clear();
        let Some(m) = self.membership.as_mut() else { return };
        tracing::info!(member = m.member_id, "the group dropped this member; joining again");
        m.heartbeat.lock().target = None;
        m.member_id.clear();
        m.generation = -1;
        m.rejoin_needed = true;
        m.prepared = false;
        m.revoked_for_join.clear();
        if !owned.is_empty() {
            m.notify(|l| l.on_partitions_lost(&owned));
        }
    }

    /// Before joining: commit, and under the eager protocol revoke everything.
    async fn prepare_rejoin(&mut self) {
        if let Some(hook) = self.revocation_hook.clone() {
            if !self.assignment.is_empty() {
                let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
                let offsets = hook(owned, self.group_metadata()).await;
                if let Err(err) = self.commit_offsets(offsets).await {
                    tracing::warn!(%err, "committing the revocation hook's offsets before the rebalance failed");
                }
            }
        }
        if self.config.enable_auto_commit && !self.assignment.is_empty() {
            if let Err(err) = self.commit_sync().await {
                tracing::warn!(%err, "committing before the rebalance failed");
            }
        }
        let cooperative = self.cooperative();
        let Some(m) = self.membership.as_mut() else { return };
        m.prepared = true;
        if cooperative {
            return;
        }
        let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        self.assignment.clear();
        self.pending.clear();
        if !owned.is_empty() {
            m.notify(|l| l.on_partitions_revoked(&owned));
        }
        // Still named as owned in the subscription, so that the eager sticky
        // assignor can keep them here.
        m.revoked_for_join = owned;
    }

    /// Runs the join in a background task and waits for it until `deadline`;
    /// a join still under way is picked up by the next poll, so `poll` keeps
    /// its timeout and a single thread can drive several members.
    async fn rejoin(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let backoff = self.config.client.retry_backoff.max(Duration::from_millis(100));
        loop {
            let Some(m) = self.membership.as_mut() else { return Ok(()) };
            if let Some(task) = m.join_task.as_mut() {
                let finished = match tokio::time::timeout_at(deadline.into(), task).await {
                    Err(_) => return Ok(()), // still joining
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => Err(JoinFailure {
                        err: ClientError::protocol("", format!("the join task ended: {e}")),
                        member_id: None,
                    }),
                };
                m.join_task = None;
                match finished {
                    Ok(done) => {
                        m.member_id = done.member_id;
                        m.generation = done.generation;
                        m.protocol = Some(done.protocol);
                        self.complete_rejoin(done.assigned);
                        continue; // done, unless a cooperative hand-over asks for another round
                    }
                    Err(JoinFailure { err, member_id }) => {
                        if let Some(id) = member_id {
                            m.member_id = id;
                        }
                        match GroupError::of(&err) {
                            GroupError::CoordinatorLost => {
                                tracing::debug!(%err, "rejoining after losing the coordinator");
                                self.coordinator = None;
                            }
                            GroupError::Retry => {}
                            GroupError::Rejoin => continue,
                            GroupError::Reset => {
                                self.lose_partitions();
                                continue;
                            }
                            GroupError::Fatal => return Err(err),
                        }
                    }
                }
                if Instant::now() + backoff >= deadline {
                    return Ok(()); // the next poll tries again
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
            if !m.rejoin_needed {
                return Ok(());
            }
            if !m.prepared {
                self.prepare_rejoin().await;
            }
            let conn = match self.coordinator_connection().await {
                Ok(c) => c,
                Err(err) if GroupError::of(&err) == GroupError::Fatal && !err.is_retriable() => return Err(err),
                Err(err) => {
                    tracing::debug!(%err, "group coordinator not available yet");
                    if Instant::now() + backoff >= deadline {
                        return Ok(());
                    }
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            self.start_join(conn)?;
        }
    }

    /// Spawns one JoinGroup (with the MEMBER_ID_REQUIRED round), the leader's
    /// assignment and SyncGroup.
    fn start_join(&mut self, conn: Arc<Connection>) -> Result<(), ClientError> {
        let cooperative = self.cooperative();
        let owned: Vec<TopicPartition> = if cooperative {
            self.assignment.keys().cloned().collect()
        } else {
            self.membership.as_ref().map(|m| m.revoked_for_join.clone()).unwrap_or_default()
        };
        let cluster = self.cluster.clone();
        let config = &self.config;
        let Some(m) = self.membership.as_mut() else { return Ok(()) };
        m.heartbeat.lock().target = None;
        let custom = config.custom_assignor.clone();
        let user_data = custom.as_ref().and_then(|c| c.subscription_user_data());
        let metadata = group::encode_subscription(&m.topics, &owned, m.generation, user_data)?;
        let protocols = match &custom {
            // A plugged-in assignor is the only protocol offered: its user
            // data means nothing to the built-in ones.
            Some(c) => vec![(c.name(), metadata)],
            None => config.assignment_strategies.iter().map(|s| (s.name().to_string(), metadata.clone())).collect(),
        };
        let job = JoinJob {
            group_id: config.group_id.clone().unwrap_or_default(),
            instance_id: config.group_instance_id.clone(),
            member_id: m.member_id.clone(),
            session_timeout: config.session_timeout,
            rebalance_timeout: config.max_poll_interval,
            protocols,
            custom,
        };
        m.stale_join = false;
        m.join_task = Some(tokio::spawn(join_and_sync(cluster, conn, job)));
        Ok(())
    }

    /// After SyncGroup: hand the assignment to a plugged-in assignor, apply
    /// it and tell the listener.
    fn complete_rejoin(&mut self, assigned: MemberAssignment) {
        if let (Some(c), Some(m)) = (&self.config.custom_assignor, &self.membership) {
            c.on_assignment(&assigned, m.generation);
        }
        let assigned = assigned.partitions;
        let cooperative = self.cooperative();
        let coordinator = self.coordinator.clone();
        let counts = self.membership.as_ref().map(|m| partition_counts(&self.cluster.snapshot(), &m.topics));
        let Some(m) = self.membership.as_mut() else { return };
        let new: BTreeSet<TopicPartition> = assigned.into_iter().collect();
        let owned: BTreeSet<TopicPartition> = self.assignment.keys().cloned().collect();
        let revoked: Vec<TopicPartition> =
            if cooperative { owned.difference(&new).cloned().collect() } else { Vec::new() };
        let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
        for tp in &revoked {
            self.assignment.remove(tp);
        }
        if !cooperative {
            // Eager: everything owned was revoked before joining.
            self.assignment.retain(|tp, _| new.contains(tp));
        }
        self.pending.retain(|r| new.contains(&(r.topic.clone(), r.partition)));
        for tp in &added {
            self.assignment.insert(tp.clone(), PartitionState::default());
        }
        m.prepared = false;
        m.revoked_for_join.clear();
        m.rejoin_needed = !revoked.is_empty() || m.stale_join;
        m.partition_counts = counts.unwrap_or_default();
        if let Some(c) = &coordinator {
            m.heartbeat.lock().target = Some(m.generation_target(c));
        }
        tracing::info!(
            generation = m.generation,
            assigned = ?new,
            "group assignment received"
        );
        m.notify(|l| {
            if !revoked.is_empty() {
                l.on_partitions_revoked(&revoked);
            }
            l.on_partitions_assigned(&added);
        });
    }

    /// Commits the position of every assigned partition (the offset of the
    /// next record the application has not been given yet).
    pub async fn commit_sync(&mut self) -> Result<(), ClientError> {
        let offsets = self.current_offsets();
        if offsets.is_empty() {
            return Ok(());
        }
        self.commit_offsets(offsets).await
    }

    /// The offsets `commit_sync` would commit.
    pub(crate) fn current_offsets(&self) -> BTreeMap<TopicPartition, i64> {
        let mut out = BTreeMap::new();
        for (tp, state) in &self.assignment {
            if let Some(p) = state.position {
                out.insert(tp.clone(), p);
            }
        }
        // Records decoded but not handed out yet are not consumed.
        for r in &self.pending {
            let key = (r.topic.clone(), r.partition);
            if let Some(o) = out.get_mut(&key) {
                *o = (*o).min(r.offset);
            }
        }
        out
    }

    /// Commits the given offsets (each the offset of the next record to read)
    /// for `group.id`; as a group member with its generation, otherwise as a
    /// consumer outside the group (generation -1).
    pub async fn commit_offsets(&mut self, offsets: BTreeMap<TopicPartition, i64>) -> Result<(), ClientError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ClientError::Config("committing offsets needs a group.id".into()));
        };
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.config.client.request_timeout;
        let mut backoff = self.config.client.retry_backoff;
        loop {
            let result = match self.coordinator_connection().await {
                Ok(conn) => {
                    let (generation, member_id) = match self.membership.as_ref() {
                        Some(m) => (m.generation, m.member_id.clone()),
                        None => (-1, String::new()),
                    };
                    let params = CommitParams {
                        group_id: &group_id,
                        generation,
                        member_id: &member_id,
                        instance_id: self.config.group_instance_id.as_deref(),
                    };
                    group::commit_offsets(&conn, &params, &offsets).await
                }
                Err(e) => Err(e),
            };
            let Err(err) = result else { return Ok(()) };
            let action = GroupError::of(&err);
            match action {
                GroupError::CoordinatorLost | GroupError::Retry if Instant::now() + backoff < deadline => {
                    if action == GroupError::CoordinatorLost {
                        self.coordinator = None;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                GroupError::Rejoin => {
                    if let Some(m) = self.membership.as_mut() {
                        m.rejoin_needed = true;
                    }
                    return Err(err);
                }
                GroupError::Reset => {
                    if self.membership.is_some() {
                        self.lose_partitions();
                    }
                    return Err(err);
                }
                _ => return Err(err),
            }
        }
    }

    /// The committed offsets of `partitions` in `group.id` (`None`: nothing committed).
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>, ClientError> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(ClientError::Config("committed offsets need a group.id".into()));
        };
        let deadline = Instant::now() + self.config.client.request_timeout;
        let mut backoff = self.config.client.retry_backoff;
        loop {
            let result = match self.coordinator_connection().await {
                Ok(conn) => group::fetch_offsets(&conn, &group_id, partitions).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(err) => {
                    let action = GroupError::of(&err);
                    let retry = matches!(action, GroupError::CoordinatorLost | GroupError::Retry)
                        || err.code() == Some(ResponseError::UnstableOffsetCommit);
                    if !retry || Instant::now() + backoff >= deadline {
                        return Err(err);
                    }
                    if action == GroupError::CoordinatorLost {
                        self.coordinator = None;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Commits the current positions when `auto.commit.interval.ms` passed;
    /// failures are logged, as in Kafka, and retried at the next interval.
    pub(crate) async fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || self.config.group_id.is_none() {
            return;
        }
        if Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        if self.membership.as_ref().is_some_and(|m| m.rejoin_needed) {
            return; // the rebalance commits
        }
        if let Err(err) = self.commit_sync().await {
            tracing::warn!(%err, "auto commit failed");
        }
    }
}

/// What a background join needs.
struct JoinJob {
    group_id: String,
    instance_id: Option<String>,
    member_id: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    custom: Option<Arc<dyn CustomAssignor>>,
}

/// A join that went through SyncGroup.
pub(crate) struct JoinDone {
    member_id: String,
    generation: i32,
    protocol: String,
    assigned: MemberAssignment,
}

/// A join that failed, with the member id the coordinator gave meanwhile.
pub(crate) struct JoinFailure {
    err: ClientError,
    member_id: Option<String>,
}

pub(crate) type JoinTask = tokio::task::JoinHandle<Result<JoinDone, JoinFailure>>;

async fn join_and_sync(cluster: Arc<Cluster>, conn: Arc<Connection>, job: JoinJob) -> Result<JoinDone, JoinFailure> {
    let mut member_id = job.member_id.clone();
    let fail = |err: ClientError, member_id: &str| JoinFailure { err, member_id: Some(member_id.to_string()) };
    let joined = loop {
        let params = JoinParams {
            group_id: &job.group_id,
            member_id: &member_id,
            instance_id: job.instance_id.as_deref(),
            session_timeout: job.session_timeout,
            rebalance_timeout: job.rebalance_timeout,
            protocols: job.protocols.clone(),
        };
        match group::join_group(&conn, &params).await {
            Ok(JoinOutcome::MemberIdRequired(id)) => {
                tracing::debug!(member = id, "the coordinator asked for a member id; joining with it");
                member_id = id;
            }
            Ok(JoinOutcome::Joined(j)) => break j,
            Err(err) => return Err(fail(err, &member_id)),
        }
    };
    tracing::debug!(
        member = joined.member_id,
        generation = joined.generation,
        protocol = joined.protocol,
        leader = joined.leader == joined.member_id,
        "joined the group"
    );
    let sync = |assignments| SyncParams {
        group_id: &job.group_id,
        generation: joined.generation,
        member_id: &joined.member_id,
        instance_id: job.instance_id.as_deref(),
        protocol: &joined.protocol,
        assignments,
        rebalance_timeout: job.rebalance_timeout,
    };
    let assignments = if joined.leader == joined.member_id && !joined.skip_assignment {
        match leader_assign(&cluster, &joined.protocol, &joined.members, job.custom.as_deref()).await {
            Ok(a) => a,
            Err(err @ ClientError::Assignor { .. }) => {
                // Still end this generation (everyone gets nothing) so that
                // the followers waiting in SyncGroup are released now rather
                // than at the rebalance timeout; the caller sees the error and
                // the next poll joins again, which starts a new rebalance.
                tracing::error!(%err, "the group leader could not assign partitions");
                if let Err(e) = group::sync_group(&conn, &sync(Vec::new())).await {
                    tracing::debug!(%e, "SyncGroup after the failed assignment failed");
                }
                return Err(fail(err, &joined.member_id));
            }
            Err(err) => return Err(fail(err, &joined.member_id)),
        }
    } else {
        Vec::new()
    };
    let assigned = group::sync_group(&conn, &sync(assignments)).await.map_err(|e| fail(e, &joined.member_id))?;
    Ok(JoinDone { member_id: joined.member_id, generation: joined.generation, protocol: joined.protocol, assigned })
}

/// The leader's part: every member's partitions by the chosen assignor.
async fn leader_assign(
    cluster: &Cluster,
    protocol: &str,
    members: &[(String, Option<String>, Bytes)],
    custom: Option<&dyn CustomAssignor>,
) -> Result<Vec<(String, Bytes)>, ClientError> {
    let unknown = || {
        ClientError::kafka(
            ResponseError::InconsistentGroupProtocol,
            Some(format!("the group chose assignor '{protocol}', which this consumer does not have")),
            "assigning partitions",
        )
    };
    let strategy = match custom {
        Some(c) if c.name() == protocol => None,
        Some(_) => return Err(unknown()),
        None => Some(protocol.parse::<AssignmentStrategy>().map_err(|_| unknown())?),
    };
    let mut subs: Vec<MemberSubscription> = Vec::new();
    for (id, instance, meta) in members {
        match group::decode_subscription(id, instance.clone(), meta) {
            Ok(s) => subs.push(s),
            Err(e) => {
                tracing::warn!(member = id, "unreadable subscription ({e}); the member gets no partitions");
                subs.push(MemberSubscription {
                    member_id: id.clone(),
                    instance_id: instance.clone(),
                    generation: -1,
                    ..Default::default()
                });
            }
        }
    }
    let topics: Vec<String> =
        subs.iter().flat_map(|s| s.topics.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    if !topics.is_empty() {
        let md = cluster.retry(|| cluster.fetch_metadata(Some(&topics), false)).await?;
        for (name, t) in &md.topics {
            if let Ok(t) = t {
                if !t.partitions.is_empty() {
                    counts.insert(name.clone(), i32::try_from(t.partitions.len()).unwrap_or(i32::MAX));
                }
            }
        }
    }
    let mut out = Vec::with_capacity(subs.len());
    match (strategy, custom) {
        (Some(strategy), _) => {
            let assignment = strategy.assign(&counts, &subs);
            tracing::debug!(?assignment, "assigned partitions as the group leader");
            for (member, partitions) in assignment {
                out.push((member, group::encode_assignment(&partitions, None)?));
            }
        }
        (None, Some(c)) => {
            let mut assignment = c
                .assign(&counts, &subs)
                .map_err(|e| ClientError::Assignor { assignor: protocol.to_string(), source: Box::new(e) })?;
            tracing::debug!(?assignment, "assigned partitions as the group leader");
            // Every member gets an answer, even one the assignor left out.
            for s in &subs {
                assignment.entry(s.member_id.clone()).or_default();
            }
            for (member, a) in assignment {
                let mut partitions = a.partitions;
                partitions.sort();
                partitions.dedup();
                out.push((member, group::encode_assignment(&partitions, a.user_data)?));
            }
        }
        (None, None) => return Err(unknown()),
    }
    Ok(out)
}

/// Partition counts of `topics` in the metadata (topics the broker does not
/// know count as absent; other errors keep the topic out of the comparison).
fn partition_counts(md: &crate::client::cluster::Metadata, topics: &[String]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in topics {
        if let Some(Ok(desc)) = md.topics.get(t) {
            out.insert(t.clone(), desc.partitions.len());
        }
    }
    out
}
