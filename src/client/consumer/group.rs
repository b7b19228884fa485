//! The wire side of consumer groups (Kafka's classic protocol) and the
//! member's state: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit and OffsetFetch, the embedded consumer protocol
//! (subscription and assignment, each a leading i16 version then the body),
//! and the named background heartbeat task.
//!
//! Nothing here touches the consumer's positions or assignment: the
//! rebalance flow that does lives in `rebalance.rs`. Errors are returned as
//! [`ClientError`]s with the broker's code; [`GroupError`] sorts those codes
//! into what the member has to do next, in one place.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorRequest, FindCoordinatorResponse,
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::assignor::{MemberAssignment, MemberSubscription, TopicPartition};
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::{ClientError, ResponseError};

/// The `protocol_type` of consumer groups.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";
/// Version of the embedded subscription and assignment we write (Kafka 3.5+ writes 3).
const EMBEDDED_VERSION: i16 = 3;

/// What a group error asks the member to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupError {
    /// Find the coordinator again, then retry.
    CoordinatorLost,
    /// Wait a little and retry (the coordinator is loading the group).
    Retry,
    /// Join again with the same member id.
    Rejoin,
    /// The member id or generation is no longer valid: forget them and join afresh.
    Reset,
    /// Nothing will help; report it.
    Fatal,
}

impl GroupError {
    pub(crate) fn of(err: &ClientError) -> GroupError {
        match err {
            ClientError::Io { .. } | ClientError::Timeout { .. } => GroupError::CoordinatorLost,
            ClientError::Kafka { code, .. } => match code {
                ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NetworkException
                | ResponseError::RequestTimedOut => GroupError::CoordinatorLost,
                ResponseError::CoordinatorLoadInProgress | ResponseError::UnstableOffsetCommit => GroupError::Retry,
                ResponseError::RebalanceInProgress => GroupError::Rejoin,
                ResponseError::IllegalGeneration | ResponseError::UnknownMemberId => GroupError::Reset,
                _ => GroupError::Fatal,
            },
            _ => GroupError::Fatal,
        }
    }
}

/// A coordinator found with FindCoordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoordinatorInfo {
    pub node: i32,
    pub host: String,
    pub port: u16,
    /// `host:port` to connect to (IPv6 literals bracketed).
    pub addr: String,
}

/// Asks any broker which broker coordinates `group_id`.
pub(crate) async fn find_coordinator(cluster: &Cluster, group_id: &str) -> Result<CoordinatorInfo, ClientError> {
    let conn = cluster.any_connection().await?;
    let version = conn.version(ApiKey::FindCoordinator)?;
    let resp = conn.call(&find_coordinator_request(group_id, version), version).await?;
    parse_find_coordinator(resp, group_id, version).map_err(|e| match e {
        ClientError::Protocol { reason, .. } => ClientError::protocol(conn.addr(), reason),
        other => other,
    })
}

/// FindCoordinator for a group (key type 0): v0–3 name one key, v4+ a list.
pub(crate) fn find_coordinator_request(group_id: &str, version: i16) -> FindCoordinatorRequest {
    let key = str_bytes(group_id);
    let req = FindCoordinatorRequest::default().with_key_type(0);
    if version >= 4 {
        req.with_coordinator_keys(vec![key])
    } else {
        req.with_key(key)
    }
}

pub(crate) fn parse_find_coordinator(
    resp: FindCoordinatorResponse,
    group_id: &str,
    version: i16,
) -> Result<CoordinatorInfo, ClientError> {
    let context = || format!("finding the coordinator of group '{group_id}'");
    let (code, message, node, host, port) = if version >= 4 {
        let Some(c) = resp.coordinators.into_iter().next() else {
            return Err(ClientError::protocol("", "FindCoordinator answer without a coordinator"));
        };
        (c.error_code, c.error_message, c.node_id.0, c.host, c.port)
    } else {
        (resp.error_code, resp.error_message, resp.node_id.0, resp.host, resp.port)
    };
    ClientError::check(code, message.as_ref(), context)?;
    let port = u16::try_from(port)
        .map_err(|_| ClientError::protocol("", format!("FindCoordinator answered with invalid port {port}")))?;
    if node < 0 || host.is_empty() {
        return Err(ClientError::kafka(ResponseError::CoordinatorNotAvailable, None, context()));
    }
    let host = host.to_string();
    // An IPv6 literal needs brackets in host:port.
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(CoordinatorInfo { node, host, port, addr })
}

/// Encodes a subscription with its leading version.
pub(crate) fn encode_subscription(
    topics: &[String],
    owned: &[TopicPartition],
    generation: i32,
    user_data: Option<Bytes>,
) -> Result<Bytes, ClientError> {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from_string(t.clone())).collect())
        .with_user_data(user_data)
        .with_owned_partitions(group_by_topic(owned, |name, partitions| {
            OwnedTopic::default().with_topic(name).with_partitions(partitions)
        }))
        .with_generation_id(generation);
    encode_embedded(&sub)
}

/// Encodes an assignment with its leading version.
pub(crate) fn encode_assignment(partitions: &[TopicPartition], user_data: Option<Bytes>) -> Result<Bytes, ClientError> {
    let a = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(group_by_topic(partitions, |name, partitions| {
            AssignedTopic::default().with_topic(name).with_partitions(partitions)
        }))
        .with_user_data(user_data);
    encode_embedded(&a)
}

fn encode_embedded<T: Encodable>(msg: &T) -> Result<Bytes, ClientError> {
    let fail = |e: String| ClientError::Config(format!("cannot encode the consumer protocol: {e}"));
    let size = msg.compute_size(EMBEDDED_VERSION).map_err(|e| fail(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(2 + size);
    buf.put_i16(EMBEDDED_VERSION);
    msg.encode(&mut buf, EMBEDDED_VERSION).map_err(|e| fail(e.to_string()))?;
    Ok(buf.freeze())
}

fn group_by_topic<T>(partitions: &[TopicPartition], make: impl Fn(TopicName, Vec<i32>) -> T) -> Vec<T> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic.into_iter().map(|(t, ps)| make(TopicName(StrBytes::from_string(t.to_string())), ps)).collect()
}

/// Decodes embedded bytes written at any version: newer versions only add
/// fields at the end, so they are read as the newest version we know.
fn decode_embedded<T: Decodable>(bytes: &Bytes, what: &str) -> Result<T, String> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(format!("{what} of {} bytes has no version", bytes.len()));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("{what} has invalid version {version}"));
    }
    let version = version.min(EMBEDDED_VERSION);
    crate::protocol::probe::fits::<T>(&buf, version).map_err(|e| format!("malformed {what}: {e}"))?;
    T::decode(&mut buf, version).map_err(|e| format!("malformed {what}: {e}"))
}

/// A member's subscription from the JoinGroup answer.
pub(crate) fn decode_subscription(
    member_id: &str,
    instance_id: Option<String>,
    metadata: &Bytes,
) -> Result<MemberSubscription, String> {
    let sub: ConsumerProtocolSubscription = decode_embedded(metadata, "subscription")?;
    let mut owned = Vec::new();
    for t in sub.owned_partitions {
        owned.extend(t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)));
    }
    Ok(MemberSubscription {
        member_id: member_id.to_string(),
        instance_id,
        topics: sub.topics.iter().map(|t| t.to_string()).collect(),
        owned,
        generation: sub.generation_id,
        user_data: sub.user_data,
    })
}

/// The partitions in a SyncGroup assignment (empty bytes: none).
pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>, String> {
    decode_member_assignment(bytes).map(|a| a.partitions)
}

/// A SyncGroup assignment with its user data (empty bytes: nothing).
pub(crate) fn decode_member_assignment(bytes: &Bytes) -> Result<MemberAssignment, String> {
    if bytes.is_empty() {
        return Ok(MemberAssignment::default());
    }
    let a: ConsumerProtocolAssignment = decode_embedded(bytes, "assignment")?;
    let mut out = Vec::new();
    for t in a.assigned_partitions {
        out.extend(t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)));
    }
    out.sort();
    out.dedup();
    Ok(MemberAssignment { partitions: out, user_data: a.user_data })
}

/// What the member sends in JoinGroup.
pub(crate) struct JoinParams<'a> {
    pub group_id: &'a str,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// (protocol name, metadata) in preference order.
    pub protocols: Vec<(String, Bytes)>,
}

/// A successful JoinGroup.
#[derive(Debug)]
pub(crate) struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub protocol: String,
    pub leader: String,
    pub skip_assignment: bool,
    /// Filled for the leader: (member id, instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// The outcome of a JoinGroup that needs the member to act.
pub(crate) enum JoinOutcome {
    Joined(Joined),
    /// MEMBER_ID_REQUIRED: join again with this id.
    MemberIdRequired(String),
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) async fn join_group(conn: &Connection, p: &JoinParams<'_>) -> Result<JoinOutcome, ClientError> {
    let version = conn.version(ApiKey::JoinGroup)?;
    if p.instance_id.is_some() && version < 5 {
        return Err(ClientError::protocol(conn.addr(), "the broker does not support static membership (JoinGroup v5)"));
    }
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(str_bytes(p.group_id)))
        .with_session_timeout_ms(ms(p.session_timeout))
        .with_rebalance_timeout_ms(ms(p.rebalance_timeout))
        .with_member_id(str_bytes(p.member_id))
        .with_group_instance_id(p.instance_id.map(str_bytes))
        .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
        .with_protocols(
            p.protocols
                .iter()
                .map(|(name, meta)| {
                    JoinGroupRequestProtocol::default().with_name(str_bytes(name)).with_metadata(meta.clone())
                })
                .collect(),
        );
    // The coordinator holds a JoinGroup until every member rejoined (up to the
    // rebalance timeout), far longer than an ordinary request.
    let timeout = conn.request_timeout().max(p.rebalance_timeout + Duration::from_secs(5));
    let resp = conn.send(&req, version)?.with_timeout(timeout).await_response().await?;
    if resp.error_code == ResponseError::MemberIdRequired.code() && !resp.member_id.is_empty() {
        return Ok(JoinOutcome::MemberIdRequired(resp.member_id.to_string()));
    }
    ClientError::check(resp.error_code, None, || format!("joining group '{}'", p.group_id))?;
    Ok(JoinOutcome::Joined(Joined {
        generation: resp.generation_id,
        member_id: resp.member_id.to_string(),
        protocol: resp.protocol_name.map(|n| n.to_string()).unwrap_or_default(),
        leader: resp.leader.to_string(),
        skip_assignment: resp.skip_assignment,
        members: resp
            .members
            .into_iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.map(|i| i.to_string()), m.metadata))
            .collect(),
    }))
}

/// What the member sends in SyncGroup.
pub(crate) struct SyncParams<'a> {
    pub group_id: &'a str,
    pub generation: i32,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub protocol: &'a str,
    /// The leader's assignments (member id → encoded assignment); empty for followers.
    pub assignments: Vec<(String, Bytes)>,
    pub rebalance_timeout: Duration,
}

/// SyncGroup; returns this member's assignment.
pub(crate) async fn sync_group(conn: &Connection, p: &SyncParams<'_>) -> Result<MemberAssignment, ClientError> {
    let version = conn.version(ApiKey::SyncGroup)?;
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(str_bytes(p.group_id)))
        .with_generation_id(p.generation)
        .with_member_id(str_bytes(p.member_id))
        .with_group_instance_id(p.instance_id.map(str_bytes))
        .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
        .with_protocol_name(Some(str_bytes(p.protocol)))
        .with_assignments(
            p.assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default().with_member_id(str_bytes(m)).with_assignment(a.clone())
                })
                .collect(),
        );
    // Followers wait for the leader's assignment.
    let timeout = conn.request_timeout().max(p.rebalance_timeout + Duration::from_secs(5));
    let resp = conn.send(&req, version)?.with_timeout(timeout).await_response().await?;
    ClientError::check(resp.error_code, None, || format!("syncing group '{}'", p.group_id))?;
    decode_member_assignment(&resp.assignment).map_err(|e| ClientError::protocol(conn.addr(), e))
}

pub(crate) async fn heartbeat(
    conn: &Connection,
    group_id: &str,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ClientError> {
    let version = conn.version(ApiKey::Heartbeat)?;
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes(group_id)))
        .with_generation_id(generation)
        .with_member_id(str_bytes(member_id))
        .with_group_instance_id(instance_id.map(str_bytes));
    let resp = conn.call(&req, version).await?;
    ClientError::check(resp.error_code, None, || format!("heartbeat to group '{group_id}'"))
}

pub(crate) async fn leave_group(
    conn: &Connection,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ClientError> {
    let version = conn.version(ApiKey::LeaveGroup)?;
    let req = leave_group_request(group_id, member_id, instance_id, version);
    let resp = conn.call(&req, version).await?;
    let context = || format!("leaving group '{group_id}'");
    ClientError::check(resp.error_code, None, context)?;
    for m in &resp.members {
        ClientError::check(m.error_code, None, context)?;
    }
    Ok(())
}

/// LeaveGroup: v0–2 name the member, v3+ list members (v5 with a reason).
pub(crate) fn leave_group_request(
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    version: i16,
) -> LeaveGroupRequest {
    let req = LeaveGroupRequest::default().with_group_id(GroupId(str_bytes(group_id)));
    if version >= 3 {
        let mut m = MemberIdentity::default()
            .with_member_id(str_bytes(member_id))
            .with_group_instance_id(instance_id.map(str_bytes));
        if version >= 5 {
            m = m.with_reason(Some(StrBytes::from_static_str("the consumer is closing")));
        }
        req.with_members(vec![m])
    } else {
        req.with_member_id(str_bytes(member_id))
    }
}

/// Who commits: `generation` -1 and an empty member id for a consumer
/// outside the group (manual assignment).
pub(crate) struct CommitParams<'a> {
    pub group_id: &'a str,
    pub generation: i32,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
}

/// OffsetCommit; the first partition error (if any) is returned.
pub(crate) async fn commit_offsets(
    conn: &Connection,
    p: &CommitParams<'_>,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), ClientError> {
    let version = conn.version(ApiKey::OffsetCommit)?;
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, part), offset) in offsets {
        topics.entry(t).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*part)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str(""))),
        );
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(p.group_id)))
        .with_generation_id_or_member_epoch(p.generation)
        .with_member_id(str_bytes(p.member_id))
        .with_group_instance_id(if version >= 7 { p.instance_id.map(str_bytes) } else { None })
        .with_retention_time_ms(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, parts)| {
                    OffsetCommitRequestTopic::default().with_name(TopicName(str_bytes(t))).with_partitions(parts)
                })
                .collect(),
        );
    let resp = conn.call(&req, version).await?;
    for t in &resp.topics {
        for part in &t.partitions {
            ClientError::check(part.error_code, None, || {
                format!("committing offsets of {}-{} for group '{}'", t.name.0, part.partition_index, p.group_id)
            })?;
        }
    }
    Ok(())
}

/// OffsetFetch: the committed offset of each partition, `None` when there is none.
pub(crate) async fn fetch_offsets(
    conn: &Connection,
    group_id: &str,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, Option<i64>>, ClientError> {
    let version = conn.version(ApiKey::OffsetFetch)?;
    let resp = conn.call(&offset_fetch_request(group_id, partitions, version), version).await?;
    parse_offset_fetch(resp, group_id, partitions, version).map_err(|e| match e {
        ClientError::Protocol { reason, .. } => ClientError::protocol(conn.addr(), reason),
        other => other,
    })
}

/// OffsetFetch for one group: v1–7 name it at the top, v8+ in a list of groups.
pub(crate) fn offset_fetch_request(group_id: &str, partitions: &[TopicPartition], version: i16) -> OffsetFetchRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let req = OffsetFetchRequest::default().with_require_stable(version >= 7);
    if version >= 8 {
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopics::default().with_name(TopicName(str_bytes(t))).with_partition_indexes(ps)
            })
            .collect();
        req.with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes(group_id)))
            .with_member_epoch(-1)
            .with_topics(Some(topics))])
    } else {
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default().with_name(TopicName(str_bytes(t))).with_partition_indexes(ps)
            })
            .collect();
        req.with_group_id(GroupId(str_bytes(group_id))).with_topics(Some(topics))
    }
}

pub(crate) fn parse_offset_fetch(
    resp: OffsetFetchResponse,
    group_id: &str,
    partitions: &[TopicPartition],
    version: i16,
) -> Result<BTreeMap<TopicPartition, Option<i64>>, ClientError> {
    let context = || format!("fetching committed offsets of group '{group_id}'");
    let mut out: BTreeMap<TopicPartition, Option<i64>> = partitions.iter().map(|tp| (tp.clone(), None)).collect();
    let mut record = |topic: &str, partition: i32, offset: i64, code: i16| -> Result<(), ClientError> {
        ClientError::check(code, None, || format!("committed offset of {topic}-{partition} in group '{group_id}'"))?;
        if let Some(slot) = out.get_mut(&(topic.to_string(), partition)) {
            *slot = Some(offset).filter(|o| *o >= 0);
        }
        Ok(())
    };
    if version >= 8 {
        let Some(g) = resp.groups.into_iter().next() else {
            return Err(ClientError::protocol("", "OffsetFetch answer without the group"));
        };
        ClientError::check(g.error_code, None, context)?;
        for t in g.topics {
            for p in t.partitions {
                record(&t.name.0, p.partition_index, p.committed_offset, p.error_code)?;
            }
        }
    } else {
        ClientError::check(resp.error_code, None, context)?;
        for t in resp.topics {
            for p in t.partitions {
                record(&t.name.0, p.partition_index, p.committed_offset, p.error_code)?;
            }
        }
    }
    Ok(out)
}

/// The member's standing in a generation, shared with the heartbeat task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generation {
    pub coordinator: String,
    pub generation: i32,
    pub member_id: String,
}

/// What the heartbeat task and the polling side tell each other.
#[derive(Debug)]
pub(crate) struct HeartbeatState {
    /// Set while the member is in a stable generation: heartbeat it.
    pub target: Option<Generation>,
    /// What the last heartbeat asked for (the poll side acts and clears it).
    pub trouble: Option<GroupError>,
    /// A heartbeat error nothing can fix (FENCED_INSTANCE_ID, …).
    pub fatal: Option<ClientError>,
    /// When the application last called poll.
    pub last_poll: Instant,
    /// max.poll.interval.ms passed without a poll: the member left the group.
    pub poll_expired: bool,
}

/// The settings the heartbeat task needs.
#[derive(Debug, Clone)]
pub(crate) struct HeartbeatSettings {
    pub group_id: String,
    pub instance_id: Option<String>,
    pub interval: Duration,
    pub max_poll_interval: Duration,
}

/// The background heartbeat: a named task owned by the consumer, aborted when
/// the consumer closes or is dropped.
pub(crate) struct HeartbeatTask {
    pub state: Arc<Mutex<HeartbeatState>>,
    /// Signalled when the task leaves news in the state.
    pub notify: Arc<Notify>,
    handle: JoinHandle<()>,
}

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl HeartbeatTask {
    pub(crate) fn start(cluster: Arc<Cluster>, settings: HeartbeatSettings) -> HeartbeatTask {
        let state = Arc::new(Mutex::new(HeartbeatState {
            target: None,
            trouble: None,
            fatal: None,
            last_poll: Instant::now(),
            poll_expired: false,
        }));
        let notify = Arc::new(Notify::new());
        let handle = tokio::spawn(heartbeat_loop(cluster, settings, state.clone(), notify.clone()));
        HeartbeatTask { state, notify, handle }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HeartbeatState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn heartbeat_loop(
    cluster: Arc<Cluster>,
    settings: HeartbeatSettings,
    state: Arc<Mutex<HeartbeatState>>,
    notify: Arc<Notify>,
) {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (target, since_poll) = {
            let s = lock();
            (s.target.clone(), s.last_poll.elapsed())
        };
        let Some(target) = target else { continue };
        if since_poll > settings.max_poll_interval {
            // As Kafka: a member that stopped polling leaves so that its
            // partitions move on; the next poll joins again.
            tracing::warn!(
                group = settings.group_id,
                "no poll for longer than max.poll.interval.ms ({} ms): leaving the group",
                settings.max_poll_interval.as_millis()
            );
            {
                let mut s = lock();
                s.target = None;
                s.poll_expired = true;
            }
            notify.notify_one();
            if settings.instance_id.is_none() {
                if let Ok(conn) = cluster.connection(&target.coordinator).await {
                    let _ = leave_group(&conn, &settings.group_id, &target.member_id, None).await;
                }
            }
            continue;
        }
        let result = match cluster.connection(&target.coordinator).await {
            Ok(conn) => {
                heartbeat(
                    &conn,
                    &settings.group_id,
                    target.generation,
                    &target.member_id,
                    settings.instance_id.as_deref(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        let Err(err) = result else { continue };
        tracing::debug!(group = settings.group_id, %err, "heartbeat failed");
        let mut s = lock();
        if s.target.as_ref() != Some(&target) {
            continue; // the generation moved on meanwhile
        }
        match GroupError::of(&err) {
            GroupError::Retry => {}
            // Keep heartbeating until the poll side rejoins, as Kafka's
            // client does: the session stays alive and max.poll.interval.ms
            // is still watched.
            GroupError::Rejoin => s.trouble = Some(GroupError::Rejoin),
            GroupError::Fatal => {
                s.fatal = Some(err);
                s.target = None;
            }
            other => {
                s.trouble = Some(other);
                // Stop heartbeating a generation the coordinator refused; a
                // lost coordinator is found again by the poll side.
                s.target = None;
            }
        }
        drop(s);
        notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        (t.to_string(), p)
    }

    #[test]
    fn subscription_round_trips_with_owned_partitions_and_generation() {
        let bytes = encode_subscription(&["b".into(), "a".into()], &[tp("a", 1), tp("a", 0), tp("b", 2)], 7, None)
            .expect("encode");
        assert_eq!(&bytes[..2], &[0, 3], "leading i16 version");
        let m = decode_subscription("m-1", Some("i".into()), &bytes).expect("decode");
        assert_eq!(m.member_id, "m-1");
        assert_eq!(m.instance_id.as_deref(), Some("i"));
        assert_eq!(m.topics, vec!["b".to_string(), "a".to_string()]);
        let mut owned = m.owned.clone();
        owned.sort();
        assert_eq!(owned, vec![tp("a", 0), tp("a", 1), tp("b", 2)]);
        assert_eq!(m.generation, 7);
        assert_eq!(m.user_data, None);
    }

    #[test]
    fn user_data_round_trips_in_subscription_and_assignment() {
        let data = Bytes::from_static(b"{\"v\":1}");
        let bytes = encode_subscription(&["t".into()], &[], -1, Some(data.clone())).expect("encode");
        let m = decode_subscription("m", None, &bytes).expect("decode");
        assert_eq!(m.user_data, Some(data.clone()));
        assert_eq!(m.topics, vec!["t".to_string()]);
        let bytes = encode_assignment(&[tp("t", 1), tp("t", 0)], Some(data.clone())).expect("encode");
        let a = decode_member_assignment(&bytes).expect("decode");
        assert_eq!(a, MemberAssignment { partitions: vec![tp("t", 0), tp("t", 1)], user_data: Some(data) });
        assert_eq!(decode_member_assignment(&Bytes::new()).expect("empty"), MemberAssignment::default());
    }

    /// The layout Kafka's ConsumerProtocol writes (non-flexible, big-endian):
    /// version, topics, user_data, owned_partitions, generation_id, rack_id.
    #[test]
    fn subscription_bytes_match_kafkas_v3_layout() {
        let bytes = encode_subscription(&["ab".into()], &[tp("ab", 1)], 5, None).expect("encode");
        let mut want = Vec::new();
        want.extend_from_slice(&3i16.to_be_bytes()); // version
        want.extend_from_slice(&1i32.to_be_bytes()); // topics: 1
        want.extend_from_slice(&2i16.to_be_bytes());
        want.extend_from_slice(b"ab");
        want.extend_from_slice(&(-1i32).to_be_bytes()); // user_data: null
        want.extend_from_slice(&1i32.to_be_bytes()); // owned_partitions: 1 topic
        want.extend_from_slice(&2i16.to_be_bytes());
        want.extend_from_slice(b"ab");
        want.extend_from_slice(&1i32.to_be_bytes()); // 1 partition
        want.extend_from_slice(&1i32.to_be_bytes()); // partition 1
        want.extend_from_slice(&5i32.to_be_bytes()); // generation_id
        want.extend_from_slice(&(-1i16).to_be_bytes()); // rack_id: null
        assert_eq!(&bytes[..], &want[..]);
        let assignment = encode_assignment(&[tp("ab", 0)], None).expect("encode");
        let mut want = Vec::new();
        want.extend_from_slice(&3i16.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&2i16.to_be_bytes());
        want.extend_from_slice(b"ab");
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes()); // user_data: null
        assert_eq!(&assignment[..], &want[..]);
    }

    #[test]
    fn version_zero_subscription_from_older_clients_decodes() {
        // v0: topics ["t"], user_data null.
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(-1);
        let m = decode_subscription("m", None, &b.freeze()).expect("decode v0");
        assert_eq!(m.topics, vec!["t".to_string()]);
        assert!(m.owned.is_empty());
        assert_eq!(m.generation, -1);
    }

    #[test]
    fn newer_versions_decode_as_the_newest_known() {
        let bytes = encode_subscription(&["t".into()], &[tp("t", 0)], 3, None).expect("encode");
        let mut b = BytesMut::from(&bytes[..]);
        b[1] = 9; // a future version with fields appended
        b.put_slice(&[1, 2, 3]);
        let m = decode_subscription("m", None, &b.freeze()).expect("decode");
        assert_eq!(m.owned, vec![tp("t", 0)]);
    }

    #[test]
    fn assignment_round_trips_and_empty_means_none() {
        let bytes = encode_assignment(&[tp("x", 3), tp("a", 0), tp("x", 1)], None).expect("encode");
        assert_eq!(decode_assignment(&bytes).expect("decode"), vec![tp("a", 0), tp("x", 1), tp("x", 3)]);
        assert!(decode_assignment(&Bytes::new()).expect("empty").is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_embedded_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let bytes = Bytes::from(bytes);
            let _ = decode_assignment(&bytes);
            let _ = decode_subscription("m", None, &bytes);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b"\x00"[..], b"\xff\xff", b"\x00\x01\x7f\xff\xff\xff", b"\x00\x00\x00\x00\x00\x01\x00"] {
            assert!(decode_assignment(&Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
            assert!(decode_subscription("m", None, &Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
    }

    /// Encodes at `version` and decodes it back, as the broker would read it.
    fn wire<T: Encodable + Decodable>(msg: &T, version: i16) -> T {
        let mut buf = BytesMut::new();
        msg.encode(&mut buf, version).expect("encode");
        T::decode(&mut buf.freeze(), version).expect("decode")
    }

    #[test]
    fn find_coordinator_uses_the_key_list_from_v4() {
        for version in 0..=6 {
            let req = wire(&find_coordinator_request("g1", version), version);
            if version >= 4 {
                assert_eq!(req.coordinator_keys, vec![StrBytes::from_static_str("g1")], "v{version}");
            } else {
                assert_eq!(req.key.as_str(), "g1", "v{version}");
            }
            assert_eq!(req.key_type, 0);
        }
        use kafka_protocol::messages::find_coordinator_response::Coordinator;
        use kafka_protocol::messages::BrokerId;
        let old = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(2))
            .with_host(StrBytes::from_static_str("h"))
            .with_port(9092);
        assert_eq!(
            parse_find_coordinator(old, "g", 3).expect("v3"),
            CoordinatorInfo { node: 2, host: "h".into(), port: 9092, addr: "h:9092".into() }
        );
        let new = FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default()
            .with_key(StrBytes::from_static_str("g"))
            .with_node_id(BrokerId(1))
            .with_host(StrBytes::from_static_str("::1"))
            .with_port(9093)]);
        assert_eq!(parse_find_coordinator(new, "g", 4).expect("v4").addr, "[::1]:9093");
        let unavailable = FindCoordinatorResponse::default().with_error_code(15).with_node_id(BrokerId(-1));
        let err = parse_find_coordinator(unavailable, "g", 3).expect_err("error code");
        assert_eq!(GroupError::of(&err), GroupError::CoordinatorLost);
        assert!(parse_find_coordinator(FindCoordinatorResponse::default(), "g", 4).is_err());
        let bad_port = FindCoordinatorResponse::default().with_host(StrBytes::from_static_str("h")).with_port(-5);
        assert!(parse_find_coordinator(bad_port, "g", 2).is_err());
    }

    #[test]
    fn offset_fetch_shapes_by_version() {
        let parts = vec![tp("t", 1), tp("t", 0), tp("u", 0)];
        for version in 1..=9 {
            let req = wire(&offset_fetch_request("g", &parts, version), version);
            if version >= 8 {
                assert_eq!(req.groups.len(), 1, "v{version}");
                assert_eq!(req.groups[0].group_id.0.as_str(), "g");
                let topics = req.groups[0].topics.as_ref().expect("topics");
                assert_eq!(topics.len(), 2);
                assert_eq!(topics[0].partition_indexes, vec![1, 0]);
            } else {
                assert_eq!(req.group_id.0.as_str(), "g", "v{version}");
                assert_eq!(req.topics.as_ref().expect("topics").len(), 2);
            }
            assert_eq!(req.require_stable, version >= 7);
        }
        use kafka_protocol::messages::offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
            OffsetFetchResponseTopic, OffsetFetchResponseTopics,
        };
        let old = OffsetFetchResponse::default().with_topics(vec![OffsetFetchResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                OffsetFetchResponsePartition::default().with_partition_index(0).with_committed_offset(42),
                OffsetFetchResponsePartition::default().with_partition_index(1).with_committed_offset(-1),
            ])]);
        let got = parse_offset_fetch(wire(&old, 5), "g", &parts, 5).expect("v5");
        assert_eq!(got[&tp("t", 0)], Some(42));
        assert_eq!(got[&tp("t", 1)], None, "-1 means nothing committed");
        assert_eq!(got[&tp("u", 0)], None, "absent from the answer");
        let new = OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_topics(vec![OffsetFetchResponseTopics::default()
                .with_name(TopicName(StrBytes::from_static_str("u")))
                .with_partitions(vec![OffsetFetchResponsePartitions::default()
                    .with_partition_index(0)
                    .with_committed_offset(7)])])]);
        let got = parse_offset_fetch(wire(&new, 8), "g", &parts, 8).expect("v8");
        assert_eq!(got[&tp("u", 0)], Some(7));
        let loading = OffsetFetchResponse::default().with_error_code(14);
        let err = parse_offset_fetch(loading, "g", &parts, 7).expect_err("group error");
        assert_eq!(GroupError::of(&err), GroupError::Retry);
        assert!(parse_offset_fetch(OffsetFetchResponse::default(), "g", &parts, 9).is_err(), "no group in v9 answer");
    }

    #[test]
    fn leave_group_names_the_member_at_every_version() {
        for version in 0..=5 {
            let req = wire(&leave_group_request("g", "m-1", Some("i"), version), version);
            if version >= 3 {
                assert_eq!(req.members.len(), 1, "v{version}");
                assert_eq!(req.members[0].member_id.as_str(), "m-1");
                assert_eq!(req.members[0].group_instance_id.as_deref(), Some("i"));
            } else {
                assert_eq!(req.member_id.as_str(), "m-1", "v{version}");
            }
        }
    }

    #[test]
    fn group_errors_map_to_actions() {
        let k = |c| ClientError::kafka(c, None, "");
        assert_eq!(GroupError::of(&k(ResponseError::NotCoordinator)), GroupError::CoordinatorLost);
        assert_eq!(GroupError::of(&k(ResponseError::CoordinatorNotAvailable)), GroupError::CoordinatorLost);
        assert_eq!(GroupError::of(&k(ResponseError::CoordinatorLoadInProgress)), GroupError::Retry);
        assert_eq!(GroupError::of(&k(ResponseError::RebalanceInProgress)), GroupError::Rejoin);
        assert_eq!(GroupError::of(&k(ResponseError::IllegalGeneration)), GroupError::Reset);
        assert_eq!(GroupError::of(&k(ResponseError::UnknownMemberId)), GroupError::Reset);
        assert_eq!(GroupError::of(&k(ResponseError::FencedInstanceId)), GroupError::Fatal);
        assert_eq!(GroupError::of(&k(ResponseError::GroupAuthorizationFailed)), GroupError::Fatal);
        let io = ClientError::io("b:1", std::io::Error::other("down"));
        assert_eq!(GroupError::of(&io), GroupError::CoordinatorLost);
    }
}
