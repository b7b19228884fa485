//! DeleteAcls (31): removes the ACL bindings each filter selects from
//! ZooKeeper (`metadata::acls`) and reports them per filter, as Kafka does.
//! Needs Cluster:Alter (CLUSTER_AUTHORIZATION_FAILED on every filter);
//! SECURITY_DISABLED without an authorizer; a filter with an unknown code is
//! INVALID_REQUEST on its own result.

use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::create_acls::NO_AUTHORIZER;
use super::sb;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;
use crate::security::acl::{AclBindingFilter, AclOperation};
use crate::security::authorizer::Authz;

fn failed(error: ErrorCode, message: impl Into<String>) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default().with_error_code(error.code()).with_error_message(Some(sb(message)))
}

pub async fn handle(metadata: &MetadataStore, authz: &Authz<'_>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let all = |error: ErrorCode, message: &str| {
        DeleteAclsResponse::default().with_filter_results(req.filters.iter().map(|_| failed(error, message)).collect())
    };
    if !authz.enabled() {
        return all(ErrorCode::SecurityDisabled, NO_AUTHORIZER);
    }
    if !authz.cluster(AclOperation::Alter) {
        return all(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.");
    }
    let parsed: Vec<Result<AclBindingFilter, String>> = req
        .filters
        .into_iter()
        .map(|f| {
            AclBindingFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.map(|s| s.to_string()),
                f.pattern_type_filter,
                f.principal_filter.map(|s| s.to_string()),
                f.host_filter.map(|s| s.to_string()),
                f.operation,
                f.permission_type,
            )
            .map_err(|e| e.0)
        })
        .collect();
    let valid: Vec<AclBindingFilter> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut deleted = metadata.delete_acls(&valid).await.into_iter();
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err(message) => failed(ErrorCode::InvalidRequest, message),
            Ok(_) => match deleted.next() {
                Some(Ok(bindings)) => {
                    for b in &bindings {
                        tracing::info!(principal = authz.principal(), "removed ACL {} on {}", b.entry, b.pattern);
                    }
                    DeleteAclsFilterResult::default().with_error_code(0).with_error_message(None).with_matching_acls(
                        bindings
                            .into_iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_error_code(0)
                                    .with_error_message(None)
                                    .with_resource_type(b.pattern.resource_type.code())
                                    .with_resource_name(sb(b.pattern.name))
                                    .with_pattern_type(b.pattern.pattern_type.code())
                                    .with_principal(sb(b.entry.principal))
                                    .with_host(sb(b.entry.host))
                                    .with_operation(b.entry.operation.code())
                                    .with_permission_type(b.entry.permission.code())
                            })
                            .collect(),
                    )
                }
                Some(Err(e)) => failed(ErrorCode::UnknownServerError, e.to_string()),
                None => failed(ErrorCode::UnknownServerError, "no result"),
            },
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
