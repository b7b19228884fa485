//! JoinGroup (11): v0–7. v0 has no rebalance timeout (the session timeout
//! serves); v4+ hands unknown members an id first (MEMBER_ID_REQUIRED); v5+
//! carries group.instance.id (static membership).

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{client_host, sb};
use crate::coordinator::{GroupCoordinator, JoinParams};
use crate::protocol::errors;

pub async fn handle(
    groups: &GroupCoordinator,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
    peer: std::net::SocketAddr,
) -> JoinGroupResponse {
    let params = JoinParams {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        client_id: client_id.to_string(),
        client_host: client_host(peer),
        require_known_member_id: version >= 4,
    };
    let r = groups.join(params).await;
    JoinGroupResponse::default()
        .with_error_code(errors::code(r.error))
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(sb))
        .with_protocol_name(Some(sb(r.protocol.unwrap_or_default())))
        .with_leader(sb(r.leader))
        .with_member_id(sb(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(id))
                        .with_group_instance_id(instance.map(sb))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}
