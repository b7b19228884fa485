//! DeleteGroups (42): v0–2; only empty groups can be deleted.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::coordinator::GroupCoordinator;
use crate::protocol::errors;

pub async fn handle(groups: &GroupCoordinator, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let error = groups.delete_group(&id).await;
        results.push(DeletableGroupResult::default().with_group_id(id).with_error_code(errors::code(error)));
    }
    DeleteGroupsResponse::default().with_results(results)
}
