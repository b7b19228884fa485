//! Heartbeat (12): v0–4.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub fn handle(groups: &GroupCoordinator, req: HeartbeatRequest) -> HeartbeatResponse {
    let error = groups.heartbeat(&req.group_id, req.generation_id, &req.member_id, req.group_instance_id.as_deref());
    HeartbeatResponse::default().with_error_code(errors::code(error))
}
