//! LeaveGroup (13): v0–2 name one member; v3+ a batch of members (by member
//! id or group.instance.id) with an answer per member.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::sb;
use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    match groups.leave(&req.group_id, &members).await {
        Err(code) => LeaveGroupResponse::default().with_error_code(errors::code(Some(code))),
        Ok(results) if version < 3 => LeaveGroupResponse::default().with_error_code(errors::code(results[0])),
        Ok(results) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(results)
                .map(|((id, instance), error)| {
                    MemberResponse::default()
                        .with_member_id(sb(id))
                        .with_group_instance_id(instance.map(sb))
                        .with_error_code(errors::code(error))
                })
                .collect(),
        ),
    }
}
