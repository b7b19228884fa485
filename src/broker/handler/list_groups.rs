//! ListGroups (16): v0–4; v4 filters by state (case-insensitive, as Kafka).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::sb;
use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub fn handle(groups: &GroupCoordinator, req: ListGroupsRequest) -> ListGroupsResponse {
    let (error, groups) = groups.list();
    let wanted: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = groups
        .into_iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.state.to_lowercase()))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(sb(g.group_id)))
                .with_protocol_type(sb(g.protocol_type))
                .with_group_state(sb(g.state))
        })
        .collect();
    ListGroupsResponse::default().with_error_code(errors::code(error)).with_groups(groups)
}
