//! Consumer-group administration (the admin side of issue #6): list and
//! describe groups, read, change and delete their committed offsets, delete
//! groups, remove members on their behalf (for `streams-application-reset --force`).
//!
//! Requests about one group go to its coordinator, found with FindCoordinator
//! (key type 0). NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
//! COORDINATOR_LOAD_IN_PROGRESS (and network errors) make the client look the
//! coordinator up again and retry, with backoff, within `request.timeout.ms`.
//! ListGroups goes to every broker, since each one only knows the groups it
//! coordinates.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use gregor::client::{Admin, ClientConfig, TopicPartition};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let admin = Admin::connect(ClientConfig::new("localhost:9092")).await?;
//! for group in admin.describe_groups(&["billing".to_string()]).await? {
//!     println!("{} is {} with {} members", group.group_id, group.state, group.members.len());
//! }
//! let committed = admin.list_group_offsets("billing", None).await?;
//! if let Some(c) = committed.get(&TopicPartition::new("orders", 0)) {
//!     println!("orders-0 committed at {}", c.offset);
//! }
//! // Rewind an inactive group to the start of orders-0.
//! admin.alter_group_offsets("billing", &BTreeMap::from([(TopicPartition::new("orders", 0), 0)])).await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, LeaveGroupRequest, ListGroupsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::cluster::Cluster;
use super::connection::Connection;
use super::{ClientError, ResponseError};

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    /// `topic-partition`, as Kafka prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `consumer` for consumer groups; empty for groups that only hold offsets.
    pub protocol_type: String,
    /// `Stable`, `Empty`, … (`None` when the broker is too old to say: ListGroups < v4).
    pub state: Option<String>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// The partitions assigned to it (empty when the group is not a consumer
    /// group or the assignment could not be decoded), sorted.
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups reports it, with its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance` or `Dead`
    /// (the classic coordinator describes unknown groups as `Dead`).
    pub state: String,
    pub protocol_type: String,
    /// The assignor in use (`range`, `roundrobin`, …); empty without members.
    pub assignor: String,
    pub members: Vec<MemberDescription>,
    pub coordinator: Coordinator,
}

/// The broker coordinating a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// `None` when the committer did not know the leader epoch.
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
}

/// Per-partition outcomes of [`Admin::delete_group_offsets`].
pub type PartitionResults = BTreeMap<TopicPartition, Result<(), ClientError>>;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn group_id(s: &str) -> GroupId {
    GroupId(sb(s))
}

/// Topic → partitions, in order, for requests that nest partitions in topics.
fn by_topic<'a>(tps: impl IntoIterator<Item = &'a TopicPartition>) -> BTreeMap<&'a str, Vec<i32>> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        out.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    out
}

/// Errors after which the coordinator must be looked up again.
fn needs_rediscovery(e: &ClientError) -> bool {
    match e {
        ClientError::Io { .. } | ClientError::Timeout { .. } => true,
        ClientError::Kafka { code, .. } => matches!(
            code,
            ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::CoordinatorLoadInProgress
                | ResponseError::RequestTimedOut
                | ResponseError::NetworkException
        ),
        _ => false,
    }
}

/// Decodes a member's ConsumerProtocolAssignment (the consumer's own
/// decoder: any version, bounded by the bytes). Garbage gives `None`, never a panic.
pub fn decode_assignment(bytes: &Bytes) -> Option<Vec<TopicPartition>> {
    let partitions = super::consumer::group::decode_assignment(bytes).ok()?;
    Some(partitions.into_iter().map(|(t, p)| TopicPartition::new(t, p)).collect())
}

impl Admin {
    fn groups_cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Every group the cluster knows, from ListGroups to every broker, sorted
    /// by id. `states` (case-insensitive, e.g. `stable`) keeps only groups in
    /// those states; empty keeps all.
    pub async fn list_groups(&self, states: &[String]) -> Result<Vec<GroupListing>, ClientError> {
        let cluster = self.groups_cluster();
        let md = cluster.retry(|| cluster.fetch_metadata(Some(&[]), false)).await?;
        let wanted: BTreeSet<String> = states.iter().map(|s| s.to_ascii_lowercase()).collect();
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        for id in md.brokers.keys() {
            let listed = cluster
                .retry(|| async {
                    let conn = cluster.broker_connection(*id).await?;
                    let version = conn.version(ApiKey::ListGroups)?;
                    let mut req = ListGroupsRequest::default();
                    if version >= 4 {
                        req.states_filter = states.iter().map(|s| sb(s)).collect();
                    }
                    let resp = conn.call(&req, version).await?;
                    ClientError::check(resp.error_code, None, || format!("list groups on broker {id}"))?;
                    Ok(resp
                        .groups
                        .into_iter()
                        .map(|g| GroupListing {
                            group_id: g.group_id.0.to_string(),
                            protocol_type: g.protocol_type.to_string(),
                            state: (version >= 4).then(|| g.group_state.to_string()),
                        })
                        .collect::<Vec<_>>())
                })
                .await?;
            for g in listed {
                groups.insert(g.group_id.clone(), g);
            }
        }
        Ok(groups
            .into_values()
            .filter(|g| wanted.is_empty() || g.state.as_ref().is_some_and(|s| wanted.contains(&s.to_ascii_lowercase())))
            .collect())
    }

    /// The coordinator of `group` (one FindCoordinator round trip).
    pub async fn find_group_coordinator(&self, group: &str) -> Result<Coordinator, ClientError> {
        let c = super::consumer::group::find_coordinator(self.groups_cluster(), group).await?;
        Ok(Coordinator { id: c.node, host: c.host, port: i32::from(c.port) })
    }

    /// Runs `op` against the coordinator of `group`, looking it up again and
    /// retrying as `with_coordinator_from` does.
    async fn with_coordinator<T, F, Fut>(&self, group: &str, op: F) -> Result<T, ClientError>
    where
        F: FnMut(Arc<Connection>, Coordinator) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let lookup = || async {
            let coordinator = self.find_group_coordinator(group).await?;
            let addr = format!("{}:{}", coordinator.host, coordinator.port);
            Ok((coordinator, addr))
        };
        self.with_coordinator_from(group, lookup, op).await
    }

    /// Runs `op` against the coordinator `lookup` finds (what `op` is told of
    /// it, and its address), looking it up again and retrying (with backoff,
    /// within `request.timeout.ms`) when the answer says the coordinator moved,
    /// is loading, or is unreachable. `key` (the group or transactional id)
    /// names the coordinator in the debug log.
    pub(super) async fn with_coordinator_from<C, T, L, LFut, F, Fut>(
        &self,
        key: &str,
        mut lookup: L,
        mut op: F,
    ) -> Result<T, ClientError>
    where
        L: FnMut() -> LFut,
        LFut: Future<Output = Result<(C, String), ClientError>>,
        F: FnMut(Arc<Connection>, C) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let cluster = self.groups_cluster();
        let deadline = Instant::now() + cluster.config.request_timeout;
        let mut backoff = cluster.config.retry_backoff;
        loop {
            let attempt = async {
                let (coordinator, addr) = lookup().await?;
                let conn = cluster.connection(&addr).await?;
                op(conn, coordinator).await
            };
            match attempt.await {
                Ok(v) => return Ok(v),
                Err(e) if needs_rediscovery(&e) && Instant::now() + backoff < deadline => {
                    tracing::debug!(key, err = %e, "looking the coordinator up again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Describes the groups, in the order asked. An unknown group is
    /// described with state `Dead` and no members, as Kafka's coordinator does.
    pub async fn describe_groups(&self, ids: &[String]) -> Result<Vec<GroupDescription>, ClientError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.describe_group(id).await?);
        }
        Ok(out)
    }

    async fn describe_group(&self, id: &str) -> Result<GroupDescription, ClientError> {
        self.with_coordinator(id, |conn, coordinator| async move {
            let version = conn.version(ApiKey::DescribeGroups)?;
            let req = DescribeGroupsRequest::default().with_groups(vec![group_id(id)]);
            let resp = conn.call(&req, version).await?;
            let g = resp
                .groups
                .into_iter()
                .find(|g| g.group_id.0.as_str() == id)
                .ok_or_else(|| ClientError::protocol(conn.addr(), "DescribeGroups answer lacks the group"))?;
            ClientError::check(g.error_code, g.error_message.as_ref(), || format!("describe group '{id}'"))?;
            let consumer = g.protocol_type.as_str() == "consumer";
            let mut members: Vec<MemberDescription> = g
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if consumer {
                        decode_assignment(&m.member_assignment).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
            Ok(GroupDescription {
                group_id: id.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                assignor: g.protocol_data.to_string(),
                members,
                coordinator,
            })
        })
        .await
    }

    /// The group's committed offsets: of the given partitions, or of every
    /// partition it has committed when `partitions` is `None`. Partitions
    /// without a committed offset are left out.
    pub async fn list_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>, ClientError> {
        self.with_coordinator(group, |conn, _| async move {
            let version = conn.version(ApiKey::OffsetFetch)?;
            let context = || format!("fetch the offsets of group '{group}'");
            let mut req = OffsetFetchRequest::default();
            if version >= 8 {
                let topics = partitions.map(|tps| {
                    by_topic(tps)
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default().with_name(TopicName(sb(t))).with_partition_indexes(ps)
                        })
                        .collect()
                });
                req.groups =
                    vec![OffsetFetchRequestGroup::default().with_group_id(group_id(group)).with_topics(topics)];
            } else {
                if partitions.is_none() && version < 2 {
                    return Err(ClientError::protocol(conn.addr(), "OffsetFetch v1 cannot ask for all partitions"));
                }
                req.group_id = group_id(group);
                req.topics = partitions.map(|tps| {
                    by_topic(tps)
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default().with_name(TopicName(sb(t))).with_partition_indexes(ps)
                        })
                        .collect()
                });
            }
            let resp = conn.call(&req, version).await?;
            // (topic, partition, offset, epoch, metadata, error)
            let mut rows = Vec::new();
            if version >= 8 {
                let g = resp
                    .groups
                    .into_iter()
                    .find(|g| g.group_id.0.as_str() == group)
                    .ok_or_else(|| ClientError::protocol(conn.addr(), "OffsetFetch answer lacks the group"))?;
                ClientError::check(g.error_code, None, context)?;
                for t in g.topics {
                    for p in t.partitions {
                        let e = (p.committed_leader_epoch, p.metadata, p.error_code);
                        rows.push((t.name.0.to_string(), p.partition_index, p.committed_offset, e.0, e.1, e.2));
                    }
                }
            } else {
                if version >= 2 {
                    ClientError::check(resp.error_code, None, context)?;
                }
                for t in resp.topics {
                    for p in t.partitions {
                        let e = (p.committed_leader_epoch, p.metadata, p.error_code);
                        rows.push((t.name.0.to_string(), p.partition_index, p.committed_offset, e.0, e.1, e.2));
                    }
                }
            }
            let mut out = BTreeMap::new();
            for (topic, partition, offset, epoch, metadata, error) in rows {
                ClientError::check(error, None, || format!("offset of group '{group}' for {topic}-{partition}"))?;
                if offset < 0 {
                    continue;
                }
                out.insert(
                    TopicPartition::new(topic, partition),
                    CommittedOffset {
                        offset,
                        leader_epoch: Some(epoch).filter(|e| *e >= 0),
                        metadata: metadata.map(|m| m.to_string()),
                    },
                );
            }
            Ok(out)
        })
        .await
    }

    /// Commits `offsets` for the group as an administrator (generation -1,
    /// no member id). The coordinator accepts this only while the group has
    /// no active members.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), ClientError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.with_coordinator(group, |conn, _| async move {
            let version = conn.version(ApiKey::OffsetCommit)?;
            let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            for (tp, offset) in offsets {
                topics.entry(tp.topic.as_str()).or_default().push(
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(tp.partition)
                        .with_committed_offset(*offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(sb(""))),
                );
            }
            let req = OffsetCommitRequest::default()
                .with_group_id(group_id(group))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(sb(""))
                .with_group_instance_id(None)
                .with_retention_time_ms(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetCommitRequestTopic::default().with_name(TopicName(sb(t))).with_partitions(ps)
                        })
                        .collect(),
                );
            let resp = conn.call(&req, version).await?;
            let mut answered = 0;
            for t in &resp.topics {
                for p in &t.partitions {
                    answered += 1;
                    ClientError::check(p.error_code, None, || {
                        format!("commit the offset of group '{group}' for {}-{}", t.name.0, p.partition_index)
                    })?;
                }
            }
            if answered != offsets.len() {
                return Err(ClientError::protocol(
                    conn.addr(),
                    format!("OffsetCommit answered {answered} partitions of {}", offsets.len()),
                ));
            }
            Ok(())
        })
        .await
    }

    /// Deletes the groups (which must have no active members). Returns each
    /// group's outcome; the outer error is for failures that are not about one
    /// group (the cluster unreachable, …).
    pub async fn delete_groups(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, Result<(), ClientError>>, ClientError> {
        let mut out = BTreeMap::new();
        for id in ids {
            let result = self
                .with_coordinator(id, |conn, _| async move {
                    let version = conn.version(ApiKey::DeleteGroups)?;
                    let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(id)]);
                    let resp = conn.call(&req, version).await?;
                    let r = resp
                        .results
                        .into_iter()
                        .find(|r| r.group_id.0.as_str() == id)
                        .ok_or_else(|| ClientError::protocol(conn.addr(), "DeleteGroups answer lacks the group"))?;
                    ClientError::check(r.error_code, None, || format!("delete group '{id}'"))
                })
                .await;
            match result {
                Err(e @ (ClientError::Kafka { .. } | ClientError::Protocol { .. })) => {
                    out.insert(id.clone(), Err(e));
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    out.insert(id.clone(), Ok(()));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the group's committed offsets of `partitions` (OffsetDelete).
    /// A group-level refusal (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, …) is the
    /// outer error; otherwise each partition's outcome.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<PartitionResults, ClientError> {
        self.with_coordinator(group, |conn, _| async move {
            let version = conn.version(ApiKey::OffsetDelete)?;
            let topics = by_topic(partitions)
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default().with_name(TopicName(sb(t))).with_partitions(
                        ps.into_iter()
                            .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                            .collect(),
                    )
                })
                .collect();
            let req = OffsetDeleteRequest::default().with_group_id(group_id(group)).with_topics(topics);
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || format!("delete offsets of group '{group}'"))?;
            let mut out = BTreeMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                    let result = ClientError::check(p.error_code, None, || format!("delete the offset of {tp}"));
                    out.insert(tp, result);
                }
            }
            for tp in partitions {
                if !out.contains_key(tp) {
                    return Err(ClientError::protocol(conn.addr(), format!("OffsetDelete answer lacks {tp}")));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Removes members from the group (LeaveGroup v3+, on their behalf, as
    /// Kafka's `removeMembersFromConsumerGroup`), so that an abandoned
    /// member with a long session timeout does not block offset changes.
    /// Each member is `(member id, group.instance.id)`; the first member the
    /// coordinator refuses is the error.
    pub async fn remove_group_members(
        &self,
        group: &str,
        members: &[(String, Option<String>)],
    ) -> Result<(), ClientError> {
        if members.is_empty() {
            return Ok(());
        }
        self.with_coordinator(group, |conn, _| async move {
            let version = conn.version(ApiKey::LeaveGroup)?;
            if version < 3 {
                return Err(ClientError::protocol(
                    conn.addr(),
                    "the broker cannot remove other members (LeaveGroup v3+)",
                ));
            }
            let identities = members
                .iter()
                .map(|(id, instance)| {
                    let m = MemberIdentity::default()
                        .with_member_id(sb(id))
                        .with_group_instance_id(instance.as_deref().map(sb));
                    if version >= 5 {
                        m.with_reason(Some(sb("removed by an administrator")))
                    } else {
                        m
                    }
                })
                .collect();
            let req = LeaveGroupRequest::default().with_group_id(group_id(group)).with_members(identities);
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || format!("remove members of group '{group}'"))?;
            for m in &resp.members {
                ClientError::check(m.error_code, None, || {
                    format!("remove member '{}' of group '{group}'", m.member_id.as_str())
                })?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as WireTopicPartition;
    use kafka_protocol::protocol::Encodable;

    fn encoded(version: i16, a: &ConsumerProtocolAssignment) -> Bytes {
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(version);
        a.encode(&mut buf, version).expect("encode");
        buf.freeze()
    }

    #[test]
    fn assignments_decode_at_their_version_sorted() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            WireTopicPartition::default().with_topic(TopicName(sb("b"))).with_partitions(vec![1, 0]),
            WireTopicPartition::default().with_topic(TopicName(sb("a"))).with_partitions(vec![2]),
        ]);
        for v in 0..=3 {
            let got = decode_assignment(&encoded(v, &a)).expect("decodes");
            assert_eq!(
                got,
                vec![TopicPartition::new("a", 2), TopicPartition::new("b", 0), TopicPartition::new("b", 1)]
            );
        }
    }

    #[test]
    fn empty_and_garbage_assignments_do_not_panic() {
        assert_eq!(decode_assignment(&Bytes::new()), Some(Vec::new()));
        assert_eq!(decode_assignment(&Bytes::from_static(&[0])), None);
        assert_eq!(decode_assignment(&Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])), None);
        assert_eq!(decode_assignment(&Bytes::from_static(&[0xff, 0xff])), None);
    }

    proptest::proptest! {
        /// Member assignments are bytes from other clients: any of them decode or
        /// give `None`, never a panic or a huge allocation.
        #[test]
        fn arbitrary_assignment_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode_assignment(&Bytes::from(b));
        }
    }

    #[test]
    fn topic_partitions_print_like_kafka() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
    }
}
