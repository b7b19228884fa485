//! ACL checks of the APIs whose handlers do not check themselves (Kafka's
//! `KafkaApis` rules, table §4.4 of the security design): a request is
//! split before its handler runs — the items the principal may touch go to
//! the handler, the others get Kafka's authorization error — and the
//! refused items are added to the handler's answer (clients match answers
//! by name, not position). Whole-request refusals build the API's error
//! answer here. Produce, Fetch and Metadata check inside their handlers
//! (their per-partition loops), the ACL APIs in theirs.
//!
//! Without an authorizer every `Authz` check is `true` and nothing is split.

use kafka_protocol::messages::*;

use super::{sb, topic_name};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::{Authz, OPERATIONS_NOT_REQUESTED};

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_DENIED: i16 = 53;

/// Splits `items` into those `allowed` keeps and the names of the others.
fn split<T>(items: Vec<T>, allowed: impl Fn(&T) -> bool, name: impl Fn(&T) -> String) -> (Vec<T>, Vec<String>) {
    let mut kept = Vec::with_capacity(items.len());
    let mut denied = Vec::new();
    for item in items {
        if allowed(&item) {
            kept.push(item);
        } else {
            denied.push(name(&item));
        }
    }
    (kept, denied)
}

// ---------- topics ----------

/// CreateTopics: Cluster:Create or Topic:Create per topic.
pub fn create_topics(authz: &Authz<'_>, mut r: CreateTopicsRequest) -> (CreateTopicsRequest, Vec<String>) {
    if !authz.enabled() || authz.cluster(AclOperation::Create) {
        return (r, Vec::new());
    }
    let (kept, denied) =
        split(r.topics, |t| authz.topic(AclOperation::Create, t.name.0.as_str()), |t| t.name.0.to_string());
    r.topics = kept;
    (r, denied)
}

pub fn create_topics_denied(mut resp: CreateTopicsResponse, denied: Vec<String>) -> CreateTopicsResponse {
    for name in denied {
        resp.topics.push(
            create_topics_response::CreatableTopicResult::default()
                .with_name(topic_name(name))
                .with_error_code(TOPIC_DENIED)
                .with_error_message(Some(sb("Authorization failed.")))
                .with_topic_config_error_code(TOPIC_DENIED)
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        );
    }
    resp
}

/// DeleteTopics: Topic:Delete per topic (v0–5 name the topics in `topic_names`).
pub fn delete_topics(authz: &Authz<'_>, mut r: DeleteTopicsRequest) -> (DeleteTopicsRequest, Vec<String>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let (kept, mut denied) =
        split(r.topic_names, |t| authz.topic(AclOperation::Delete, t.0.as_str()), |t| t.0.to_string());
    r.topic_names = kept;
    let (kept, more) = split(
        r.topics,
        |t| t.name.as_ref().is_none_or(|n| authz.topic(AclOperation::Delete, n.0.as_str())),
        |t| t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
    );
    r.topics = kept;
    denied.extend(more);
    (r, denied)
}

pub fn delete_topics_denied(mut resp: DeleteTopicsResponse, denied: Vec<String>) -> DeleteTopicsResponse {
    for name in denied {
        resp.responses.push(
            delete_topics_response::DeletableTopicResult::default()
                .with_name(Some(topic_name(name)))
                .with_error_code(TOPIC_DENIED),
        );
    }
    resp
}

/// CreatePartitions: Topic:Alter per topic.
pub fn create_partitions(authz: &Authz<'_>, mut r: CreatePartitionsRequest) -> (CreatePartitionsRequest, Vec<String>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let (kept, denied) =
        split(r.topics, |t| authz.topic(AclOperation::Alter, t.name.0.as_str()), |t| t.name.0.to_string());
    r.topics = kept;
    (r, denied)
}

pub fn create_partitions_denied(mut resp: CreatePartitionsResponse, denied: Vec<String>) -> CreatePartitionsResponse {
    for name in denied {
        resp.results.push(
            create_partitions_response::CreatePartitionsTopicResult::default()
                .with_name(topic_name(name))
                .with_error_code(TOPIC_DENIED),
        );
    }
    resp
}

/// ListOffsets: Topic:Describe per topic; the refused topics' partitions.
pub fn list_offsets(authz: &Authz<'_>, mut r: ListOffsetsRequest) -> (ListOffsetsRequest, Vec<(String, Vec<i32>)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let mut denied = Vec::new();
    r.topics.retain(|t| {
        let ok = authz.topic(AclOperation::Describe, t.name.0.as_str());
        if !ok {
            denied.push((t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()));
        }
        ok
    });
    (r, denied)
}

pub fn list_offsets_denied(mut resp: ListOffsetsResponse, denied: Vec<(String, Vec<i32>)>) -> ListOffsetsResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            list_offsets_response::ListOffsetsTopicResponse::default().with_name(topic_name(name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|p| {
                        list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(p)
                            .with_error_code(TOPIC_DENIED)
                            .with_timestamp(-1)
                            .with_offset(-1)
                            .with_leader_epoch(-1)
                    })
                    .collect(),
            ),
        );
    }
    resp
}

/// Config resources: TOPIC (2) needs Topic:`topic_op`, BROKER (4) and
/// BROKER_LOGGER (8) Cluster:`cluster_op`. The error of a refused resource.
fn config_denied(authz: &Authz<'_>, resource_type: i8, name: &str, op: AclOperation) -> Option<i16> {
    match resource_type {
        2 if !authz.topic(op, name) => Some(TOPIC_DENIED),
        4 | 8 if !authz.cluster(op) => Some(CLUSTER_DENIED),
        _ => None,
    }
}

/// DescribeConfigs: the refused resources as (type, name, error).
pub fn describe_configs(
    authz: &Authz<'_>,
    mut r: DescribeConfigsRequest,
) -> (DescribeConfigsRequest, Vec<(i8, String, i16)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let mut denied = Vec::new();
    r.resources.retain(|res| {
        match config_denied(authz, res.resource_type, &res.resource_name, AclOperation::DescribeConfigs) {
            Some(code) => {
                denied.push((res.resource_type, res.resource_name.to_string(), code));
                false
            }
            None => true,
        }
    });
    (r, denied)
}

pub fn describe_configs_denied(
    mut resp: DescribeConfigsResponse,
    denied: Vec<(i8, String, i16)>,
) -> DescribeConfigsResponse {
    for (t, name, code) in denied {
        resp.results.push(
            describe_configs_response::DescribeConfigsResult::default()
                .with_error_code(code)
                .with_error_message(Some(sb("Authorization failed.")))
                .with_resource_type(t)
                .with_resource_name(sb(name)),
        );
    }
    resp
}

/// AlterConfigs: the refused resources as (type, name, error).
pub fn alter_configs(authz: &Authz<'_>, mut r: AlterConfigsRequest) -> (AlterConfigsRequest, Vec<(i8, String, i16)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let mut denied = Vec::new();
    r.resources.retain(|res| {
        match config_denied(authz, res.resource_type, &res.resource_name, AclOperation::AlterConfigs) {
            Some(code) => {
                denied.push((res.resource_type, res.resource_name.to_string(), code));
                false
            }
            None => true,
        }
    });
    (r, denied)
}

pub fn alter_configs_denied(mut resp: AlterConfigsResponse, denied: Vec<(i8, String, i16)>) -> AlterConfigsResponse {
    for (t, name, code) in denied {
        resp.responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(Some(sb("Authorization failed.")))
                .with_resource_type(t)
                .with_resource_name(sb(name)),
        );
    }
    resp
}

/// IncrementalAlterConfigs: the refused resources as (type, name, error).
pub fn incremental_alter_configs(
    authz: &Authz<'_>,
    mut r: IncrementalAlterConfigsRequest,
) -> (IncrementalAlterConfigsRequest, Vec<(i8, String, i16)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let mut denied = Vec::new();
    r.resources.retain(|res| {
        match config_denied(authz, res.resource_type, &res.resource_name, AclOperation::AlterConfigs) {
            Some(code) => {
                denied.push((res.resource_type, res.resource_name.to_string(), code));
                false
            }
            None => true,
        }
    });
    (r, denied)
}

pub fn incremental_alter_configs_denied(
    mut resp: IncrementalAlterConfigsResponse,
    denied: Vec<(i8, String, i16)>,
) -> IncrementalAlterConfigsResponse {
    for (t, name, code) in denied {
        resp.responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(Some(sb("Authorization failed.")))
                .with_resource_type(t)
                .with_resource_name(sb(name)),
        );
    }
    resp
}

// ---------- groups ----------

/// JoinGroup, SyncGroup, Heartbeat, LeaveGroup: Group:Read, else the whole
/// request is GROUP_AUTHORIZATION_FAILED.
pub fn group_read(authz: &Authz<'_>, group: &str) -> bool {
    authz.group(AclOperation::Read, group)
}

pub fn join_group_denied() -> JoinGroupResponse {
    JoinGroupResponse::default().with_error_code(GROUP_DENIED).with_generation_id(-1)
}

pub fn sync_group_denied() -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(GROUP_DENIED)
}

pub fn heartbeat_denied() -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(GROUP_DENIED)
}

pub fn leave_group_denied() -> LeaveGroupResponse {
    LeaveGroupResponse::default().with_error_code(GROUP_DENIED)
}

/// FindCoordinator (v0–3): Group:Describe (key type 0) or
/// TransactionalId:Describe (key type 1); the refusal's error code.
pub fn find_coordinator(authz: &Authz<'_>, r: &FindCoordinatorRequest) -> Option<i16> {
    match r.key_type {
        1 if !authz.transactional_id(AclOperation::Describe, &r.key) => Some(TXN_DENIED),
        0 if !authz.group(AclOperation::Describe, &r.key) => Some(GROUP_DENIED),
        _ => None,
    }
}

pub fn find_coordinator_denied(code: i16) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_error_message(Some(sb("Authorization failed.")))
        .with_node_id(BrokerId(-1))
        .with_host(sb(""))
        .with_port(-1)
}

/// OffsetCommit: Group:Read (every partition GROUP_AUTHORIZATION_FAILED),
/// then Topic:Read per topic. `Err`: the whole answer.
pub fn offset_commit(
    authz: &Authz<'_>,
    mut r: OffsetCommitRequest,
) -> Result<(OffsetCommitRequest, Vec<(String, Vec<i32>)>), OffsetCommitResponse> {
    if !authz.enabled() {
        return Ok((r, Vec::new()));
    }
    let partitions = |t: &offset_commit_request::OffsetCommitRequestTopic| -> Vec<i32> {
        t.partitions.iter().map(|p| p.partition_index).collect()
    };
    if !authz.group(AclOperation::Read, &r.group_id) {
        let all = r.topics.iter().map(|t| (t.name.0.to_string(), partitions(t))).collect();
        return Err(offset_commit_denied(OffsetCommitResponse::default(), all, GROUP_DENIED));
    }
    let mut denied = Vec::new();
    r.topics.retain(|t| {
        let ok = authz.topic(AclOperation::Read, t.name.0.as_str());
        if !ok {
            denied.push((t.name.0.to_string(), partitions(t)));
        }
        ok
    });
    Ok((r, denied))
}

pub fn offset_commit_denied(
    mut resp: OffsetCommitResponse,
    denied: Vec<(String, Vec<i32>)>,
    code: i16,
) -> OffsetCommitResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            offset_commit_response::OffsetCommitResponseTopic::default().with_name(topic_name(name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|p| {
                        offset_commit_response::OffsetCommitResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        );
    }
    resp
}

/// OffsetFetch (single group, v0–7): Group:Describe, else the whole answer.
pub fn offset_fetch_group(authz: &Authz<'_>, r: &OffsetFetchRequest) -> Option<OffsetFetchResponse> {
    if authz.group(AclOperation::Describe, &r.group_id) {
        return None;
    }
    let topics = r
        .topics
        .iter()
        .flatten()
        .map(|t| {
            offset_fetch_response::OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partition_indexes
                    .iter()
                    .map(|p| {
                        offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(-1)
                            .with_committed_leader_epoch(-1)
                            .with_error_code(GROUP_DENIED)
                    })
                    .collect(),
            )
        })
        .collect();
    Some(OffsetFetchResponse::default().with_error_code(GROUP_DENIED).with_topics(topics))
}

/// OffsetFetch's answer with Topic:Describe applied: named topics the
/// principal may not describe get TOPIC_AUTHORIZATION_FAILED, an all-topics
/// fetch leaves them out.
pub fn offset_fetch_topics(authz: &Authz<'_>, named: bool, mut resp: OffsetFetchResponse) -> OffsetFetchResponse {
    if !authz.enabled() {
        return resp;
    }
    if named {
        for t in &mut resp.topics {
            if !authz.topic(AclOperation::Describe, t.name.0.as_str()) {
                for p in &mut t.partitions {
                    p.committed_offset = -1;
                    p.committed_leader_epoch = -1;
                    p.metadata = None;
                    p.error_code = TOPIC_DENIED;
                }
            }
        }
    } else {
        resp.topics.retain(|t| authz.topic(AclOperation::Describe, t.name.0.as_str()));
    }
    resp
}

/// DescribeGroups: Group:Describe per group.
pub fn describe_groups(authz: &Authz<'_>, mut r: DescribeGroupsRequest) -> (DescribeGroupsRequest, Vec<String>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let (kept, denied) = split(r.groups, |g| authz.group(AclOperation::Describe, g), |g| g.to_string());
    r.groups = kept;
    (r, denied)
}

pub fn describe_groups_denied(
    authz: &Authz<'_>,
    include_operations: bool,
    mut resp: DescribeGroupsResponse,
    denied: Vec<String>,
) -> DescribeGroupsResponse {
    if include_operations {
        for g in &mut resp.groups {
            g.authorized_operations = authz.authorized_operations(ResourceType::Group, &g.group_id);
        }
    }
    for name in denied {
        resp.groups.push(
            describe_groups_response::DescribedGroup::default()
                .with_group_id(GroupId(sb(name)))
                .with_error_code(GROUP_DENIED)
                .with_authorized_operations(OPERATIONS_NOT_REQUESTED),
        );
    }
    resp
}

/// ListGroups: every group with Cluster:Describe, else the describable ones.
pub fn list_groups(authz: &Authz<'_>, mut resp: ListGroupsResponse) -> ListGroupsResponse {
    if authz.enabled() && !authz.cluster(AclOperation::Describe) {
        resp.groups.retain(|g| authz.group(AclOperation::Describe, &g.group_id));
    }
    resp
}

/// DeleteGroups: Group:Delete per group.
pub fn delete_groups(authz: &Authz<'_>, mut r: DeleteGroupsRequest) -> (DeleteGroupsRequest, Vec<String>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let (kept, denied) = split(r.groups_names, |g| authz.group(AclOperation::Delete, g), |g| g.to_string());
    r.groups_names = kept;
    (r, denied)
}

pub fn delete_groups_denied(mut resp: DeleteGroupsResponse, denied: Vec<String>) -> DeleteGroupsResponse {
    for name in denied {
        resp.results.push(
            delete_groups_response::DeletableGroupResult::default()
                .with_group_id(GroupId(sb(name)))
                .with_error_code(GROUP_DENIED),
        );
    }
    resp
}

// ---------- cluster ----------

/// DescribeCluster: Cluster:Describe, and the bitfield when asked for.
pub fn describe_cluster(
    authz: &Authz<'_>,
    include_operations: bool,
    resp: DescribeClusterResponse,
) -> DescribeClusterResponse {
    if !authz.cluster(AclOperation::Describe) {
        return DescribeClusterResponse::default()
            .with_error_code(CLUSTER_DENIED)
            .with_error_message(Some(sb("Cluster authorization failed.")))
            .with_controller_id(BrokerId(-1))
            .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED);
    }
    if include_operations {
        let bits = authz.authorized_operations(ResourceType::Cluster, CLUSTER_NAME);
        return resp.with_cluster_authorized_operations(bits);
    }
    resp
}

pub fn elect_leaders_denied(r: &ElectLeadersRequest) -> ElectLeadersResponse {
    let results = r
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            elect_leaders_response::ReplicaElectionResult::default().with_topic(t.topic.clone()).with_partition_result(
                t.partitions
                    .iter()
                    .map(|p| {
                        elect_leaders_response::PartitionResult::default()
                            .with_partition_id(*p)
                            .with_error_code(CLUSTER_DENIED)
                            .with_error_message(Some(sb("Cluster authorization failed.")))
                    })
                    .collect(),
            )
        })
        .collect();
    ElectLeadersResponse::default().with_error_code(CLUSTER_DENIED).with_replica_election_results(results)
}

pub fn alter_partition_reassignments_denied() -> AlterPartitionReassignmentsResponse {
    AlterPartitionReassignmentsResponse::default()
        .with_error_code(CLUSTER_DENIED)
        .with_error_message(Some(sb("Cluster authorization failed.")))
}

pub fn list_partition_reassignments_denied() -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
        .with_error_code(CLUSTER_DENIED)
        .with_error_message(Some(sb("Cluster authorization failed.")))
}

/// DescribeLogDirs: v3+ carry the error; older versions get no log dirs.
pub fn describe_log_dirs_denied(version: i16) -> DescribeLogDirsResponse {
    let code = if version >= 3 { CLUSTER_DENIED } else { 0 };
    DescribeLogDirsResponse::default().with_error_code(code)
}

pub fn alter_replica_log_dirs_denied(r: &AlterReplicaLogDirsRequest) -> AlterReplicaLogDirsResponse {
    let mut topics: Vec<alter_replica_log_dirs_response::AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in &r.dirs {
        for t in &dir.topics {
            topics.push(
                alter_replica_log_dirs_response::AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                alter_replica_log_dirs_response::AlterReplicaLogDirPartitionResult::default()
                                    .with_partition_index(*p)
                                    .with_error_code(CLUSTER_DENIED)
                            })
                            .collect(),
                    ),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(topics)
}

/// DeleteRecords: Topic:Delete per topic.
pub fn delete_records(
    authz: &Authz<'_>,
    mut r: DeleteRecordsRequest,
) -> (DeleteRecordsRequest, Vec<(String, Vec<i32>)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let mut denied = Vec::new();
    r.topics.retain(|t| {
        let ok = authz.topic(AclOperation::Delete, t.name.0.as_str());
        if !ok {
            denied.push((t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()));
        }
        ok
    });
    (r, denied)
}

pub fn delete_records_denied(
    mut resp: DeleteRecordsResponse,
    denied: Vec<(String, Vec<i32>)>,
) -> DeleteRecordsResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            delete_records_response::DeleteRecordsTopicResult::default().with_name(topic_name(name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|p| {
                        delete_records_response::DeleteRecordsPartitionResult::default()
                            .with_partition_index(p)
                            .with_low_watermark(-1)
                            .with_error_code(TOPIC_DENIED)
                    })
                    .collect(),
            ),
        );
    }
    resp
}
