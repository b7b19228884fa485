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

/// The refused topics of a request, each with the partitions it named.
type Refused = Vec<(String, Vec<i32>)>;

/// Removes from `items` those `refused` gives a reason for, and returns the reasons.
fn refuse<T, D>(items: &mut Vec<T>, mut refused: impl FnMut(&T) -> Option<D>) -> Vec<D> {
    let mut denied = Vec::new();
    items.retain(|item| match refused(item) {
        Some(reason) => {
            denied.push(reason);
            false
        }
        None => true,
    });
    denied
}

/// Splits `items` into those `allowed` keeps and the names of the others.
fn split<T>(mut items: Vec<T>, allowed: impl Fn(&T) -> bool, name: impl Fn(&T) -> String) -> (Vec<T>, Vec<String>) {
    let denied = refuse(&mut items, |item| (!allowed(item)).then(|| name(item)));
    (items, denied)
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
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Describe, t.name.0.as_str()))
            .then(|| (t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()))
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
    let denied = refuse(&mut r.resources, |res| {
        config_denied(authz, res.resource_type, &res.resource_name, AclOperation::DescribeConfigs)
            .map(|code| (res.resource_type, res.resource_name.to_string(), code))
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
    let denied = refuse(&mut r.resources, |res| {
        config_denied(authz, res.resource_type, &res.resource_name, AclOperation::AlterConfigs)
            .map(|code| (res.resource_type, res.resource_name.to_string(), code))
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
    let denied = refuse(&mut r.resources, |res| {
        config_denied(authz, res.resource_type, &res.resource_name, AclOperation::AlterConfigs)
            .map(|code| (res.resource_type, res.resource_name.to_string(), code))
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
) -> Result<(OffsetCommitRequest, Refused), OffsetCommitResponse> {
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
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Read, t.name.0.as_str())).then(|| (t.name.0.to_string(), partitions(t)))
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
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Delete, t.name.0.as_str()))
            .then(|| (t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()))
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

// ---------- transactions and the rest ----------

/// InitProducerId: TransactionalId:Write for a transactional producer;
/// otherwise Cluster:IdempotentWrite or Write on some topic (KIP-679).
pub fn init_producer_id(authz: &Authz<'_>, r: &InitProducerIdRequest) -> Option<InitProducerIdResponse> {
    let code = match &r.transactional_id {
        Some(id) if !authz.transactional_id(AclOperation::Write, id) => TXN_DENIED,
        None if !authz.cluster(AclOperation::IdempotentWrite)
            && !authz.allows_any(AclOperation::Write, ResourceType::Topic) =>
        {
            CLUSTER_DENIED
        }
        _ => return None,
    };
    Some(
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

/// AddPartitionsToTxn (v0–3): TransactionalId:Write (every partition
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then Topic:Write: when a topic is
/// refused nothing is added — refused partitions get TOPIC_AUTHORIZATION_FAILED,
/// the others OPERATION_NOT_ATTEMPTED.
pub fn add_partitions_to_txn(authz: &Authz<'_>, r: &AddPartitionsToTxnRequest) -> Option<AddPartitionsToTxnResponse> {
    if !authz.enabled() {
        return None;
    }
    let txn_ok = authz.transactional_id(AclOperation::Write, &r.v3_and_below_transactional_id);
    let denied: Vec<bool> =
        r.v3_and_below_topics.iter().map(|t| !txn_ok || !authz.topic(AclOperation::Write, t.name.0.as_str())).collect();
    if !denied.iter().any(|d| *d) {
        return None;
    }
    let results = r
        .v3_and_below_topics
        .iter()
        .zip(denied)
        .map(|(t, refused)| {
            let code = match (txn_ok, refused) {
                (false, _) => TXN_DENIED,
                (true, true) => TOPIC_DENIED,
                (true, false) => 55, // OPERATION_NOT_ATTEMPTED
            };
            add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    Some(AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results))
}

/// AddOffsetsToTxn: TransactionalId:Write, then Group:Read.
pub fn add_offsets_to_txn(authz: &Authz<'_>, r: &AddOffsetsToTxnRequest) -> Option<AddOffsetsToTxnResponse> {
    let code = if !authz.transactional_id(AclOperation::Write, &r.transactional_id) {
        TXN_DENIED
    } else if !authz.group(AclOperation::Read, &r.group_id) {
        GROUP_DENIED
    } else {
        return None;
    };
    Some(AddOffsetsToTxnResponse::default().with_error_code(code))
}

/// EndTxn: TransactionalId:Write.
pub fn end_txn(authz: &Authz<'_>, r: &EndTxnRequest) -> Option<EndTxnResponse> {
    if authz.transactional_id(AclOperation::Write, &r.transactional_id) {
        return None;
    }
    Some(EndTxnResponse::default().with_error_code(TXN_DENIED).with_producer_id(ProducerId(-1)).with_producer_epoch(-1))
}

/// TxnOffsetCommit: TransactionalId:Write and Group:Read (every partition
/// refused otherwise), then Topic:Read per topic.
pub fn txn_offset_commit(
    authz: &Authz<'_>,
    mut r: TxnOffsetCommitRequest,
) -> Result<(TxnOffsetCommitRequest, Refused), TxnOffsetCommitResponse> {
    if !authz.enabled() {
        return Ok((r, Vec::new()));
    }
    let partitions = |t: &txn_offset_commit_request::TxnOffsetCommitRequestTopic| -> Vec<i32> {
        t.partitions.iter().map(|p| p.partition_index).collect()
    };
    let whole = if !authz.transactional_id(AclOperation::Write, &r.transactional_id) {
        Some(TXN_DENIED)
    } else if !authz.group(AclOperation::Read, &r.group_id) {
        Some(GROUP_DENIED)
    } else {
        None
    };
    if let Some(code) = whole {
        let all = r.topics.iter().map(|t| (t.name.0.to_string(), partitions(t))).collect();
        return Err(txn_offset_commit_denied(TxnOffsetCommitResponse::default(), all, code));
    }
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Read, t.name.0.as_str())).then(|| (t.name.0.to_string(), partitions(t)))
    });
    Ok((r, denied))
}

pub fn txn_offset_commit_denied(
    mut resp: TxnOffsetCommitResponse,
    denied: Vec<(String, Vec<i32>)>,
    code: i16,
) -> TxnOffsetCommitResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                .with_name(topic_name(name))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

/// WriteTxnMarkers (from transaction coordinators): Cluster:ClusterAction.
pub fn write_txn_markers_denied(r: &WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let markers = r
        .markers
        .iter()
        .map(|m| {
            write_txn_markers_response::WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(
                m.topics
                    .iter()
                    .map(|t| {
                        write_txn_markers_response::WritableTxnMarkerTopicResult::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|p| {
                                        write_txn_markers_response::WritableTxnMarkerPartitionResult::default()
                                            .with_partition_index(*p)
                                            .with_error_code(CLUSTER_DENIED)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// DescribeProducers: Topic:Read per topic.
pub fn describe_producers(
    authz: &Authz<'_>,
    mut r: DescribeProducersRequest,
) -> (DescribeProducersRequest, Vec<(String, Vec<i32>)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Read, t.name.0.as_str()))
            .then(|| (t.name.0.to_string(), t.partition_indexes.clone()))
    });
    (r, denied)
}

pub fn describe_producers_denied(
    mut resp: DescribeProducersResponse,
    denied: Vec<(String, Vec<i32>)>,
) -> DescribeProducersResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            describe_producers_response::TopicResponse::default().with_name(topic_name(name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|p| {
                        describe_producers_response::PartitionResponse::default()
                            .with_partition_index(p)
                            .with_error_code(TOPIC_DENIED)
                    })
                    .collect(),
            ),
        );
    }
    resp
}

/// DescribeTransactions: TransactionalId:Describe per id.
pub fn describe_transactions(
    authz: &Authz<'_>,
    mut r: DescribeTransactionsRequest,
) -> (DescribeTransactionsRequest, Vec<String>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let (kept, denied) =
        split(r.transactional_ids, |t| authz.transactional_id(AclOperation::Describe, t), |t| t.to_string());
    r.transactional_ids = kept;
    (r, denied)
}

pub fn describe_transactions_denied(
    authz: &Authz<'_>,
    mut resp: DescribeTransactionsResponse,
    denied: Vec<String>,
) -> DescribeTransactionsResponse {
    // Topics the principal may not describe are left out of the answer.
    if authz.enabled() {
        for state in &mut resp.transaction_states {
            state.topics.retain(|t| authz.topic(AclOperation::Describe, t.topic.0.as_str()));
        }
    }
    for id in denied {
        resp.transaction_states.push(
            describe_transactions_response::TransactionState::default()
                .with_error_code(TXN_DENIED)
                .with_transactional_id(TransactionalId(sb(id)))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1),
        );
    }
    resp
}

/// ListTransactions: only the ids the principal may describe.
pub fn list_transactions(authz: &Authz<'_>, mut resp: ListTransactionsResponse) -> ListTransactionsResponse {
    if authz.enabled() {
        resp.transaction_states.retain(|t| authz.transactional_id(AclOperation::Describe, &t.transactional_id));
    }
    resp
}

/// OffsetForLeaderEpoch: followers (`replica_id` ≥ 0) need
/// Cluster:ClusterAction (every partition CLUSTER_AUTHORIZATION_FAILED),
/// consumers Topic:Describe per topic.
pub fn offset_for_leader_epoch(
    authz: &Authz<'_>,
    mut r: OffsetForLeaderEpochRequest,
) -> (OffsetForLeaderEpochRequest, Vec<(String, Vec<i32>, i16)>) {
    if !authz.enabled() {
        return (r, Vec::new());
    }
    let follower = r.replica_id.0 >= 0;
    let follower_ok = !follower || authz.cluster(AclOperation::ClusterAction);
    let denied = refuse(&mut r.topics, |t| {
        let code = if !follower_ok {
            CLUSTER_DENIED
        } else if !follower && !authz.topic(AclOperation::Describe, t.topic.0.as_str()) {
            TOPIC_DENIED
        } else {
            return None;
        };
        Some((t.topic.0.to_string(), t.partitions.iter().map(|p| p.partition).collect(), code))
    });
    (r, denied)
}

pub fn offset_for_leader_epoch_denied(
    mut resp: OffsetForLeaderEpochResponse,
    denied: Vec<(String, Vec<i32>, i16)>,
) -> OffsetForLeaderEpochResponse {
    for (name, partitions, code) in denied {
        resp.topics.push(
            offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                .with_topic(topic_name(name))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            offset_for_leader_epoch_response::EpochEndOffset::default()
                                .with_error_code(code)
                                .with_partition(p)
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        })
                        .collect(),
                ),
        );
    }
    resp
}

/// OffsetDelete: Group:Delete (whole request), then Topic:Read per topic.
pub fn offset_delete(
    authz: &Authz<'_>,
    mut r: OffsetDeleteRequest,
) -> Result<(OffsetDeleteRequest, Refused), OffsetDeleteResponse> {
    if !authz.enabled() {
        return Ok((r, Vec::new()));
    }
    if !authz.group(AclOperation::Delete, &r.group_id) {
        return Err(OffsetDeleteResponse::default().with_error_code(GROUP_DENIED));
    }
    let denied = refuse(&mut r.topics, |t| {
        (!authz.topic(AclOperation::Read, t.name.0.as_str()))
            .then(|| (t.name.0.to_string(), t.partitions.iter().map(|p| p.partition_index).collect()))
    });
    Ok((r, denied))
}

pub fn offset_delete_denied(mut resp: OffsetDeleteResponse, denied: Vec<(String, Vec<i32>)>) -> OffsetDeleteResponse {
    for (name, partitions) in denied {
        resp.topics.push(
            offset_delete_response::OffsetDeleteResponseTopic::default().with_name(topic_name(name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|p| {
                        offset_delete_response::OffsetDeleteResponsePartition::default()
                            .with_partition_index(p)
                            .with_error_code(TOPIC_DENIED)
                    })
                    .collect(),
            ),
        );
    }
    resp
}
