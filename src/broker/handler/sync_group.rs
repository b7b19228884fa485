//! SyncGroup (14): v0–5; the leader sends every member's assignment.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::sb;
use crate::coordinator::{GroupCoordinator, SyncParams};
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: SyncGroupRequest) -> SyncGroupResponse {
    let params = SyncParams {
        group_id: req.group_id.to_string(),
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol: req.protocol_name.map(|s| s.to_string()),
        assignments: req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let r = groups.sync(params).await;
    SyncGroupResponse::default()
        .with_error_code(errors::code(r.error))
        .with_protocol_type(r.protocol_type.map(sb))
        .with_protocol_name(r.protocol.map(sb))
        .with_assignment(r.assignment)
}
