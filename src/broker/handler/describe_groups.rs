//! DescribeGroups (15): v0–5. An unknown group is reported in state Dead
//! with no error, as Kafka does up to v5; members carry metadata and
//! assignment only while the group is Stable.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::sb;
use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub fn handle(groups: &GroupCoordinator, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let base = DescribedGroup::default().with_group_id(id.clone()).with_authorized_operations(i32::MIN);
            match groups.describe(&id) {
                Err(code) => base.with_error_code(errors::code(Some(code))),
                Ok(d) => base
                    .with_group_state(sb(d.state))
                    .with_protocol_type(sb(d.protocol_type))
                    .with_protocol_data(sb(d.protocol))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(sb(m.member_id))
                                    .with_group_instance_id(m.group_instance_id.map(sb))
                                    .with_client_id(sb(m.client_id))
                                    .with_client_host(sb(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
