//! DescribeAcls (29): the ACL bindings a filter selects, from the metadata
//! cache's ACL table, grouped by resource pattern as Kafka answers. Needs
//! Cluster:Describe (CLUSTER_AUTHORIZATION_FAILED); SECURITY_DISABLED without
//! an authorizer; a filter with an unknown code is INVALID_REQUEST.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::create_acls::NO_AUTHORIZER;
use super::sb;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;
use crate::security::acl::{AccessControlEntry, AclBindingFilter, AclOperation, ResourcePattern};
use crate::security::authorizer::Authz;

fn failed(error: ErrorCode, message: impl Into<String>) -> DescribeAclsResponse {
    DescribeAclsResponse::default().with_error_code(error.code()).with_error_message(Some(sb(message)))
}

pub fn handle(metadata: &MetadataStore, authz: &Authz<'_>, req: DescribeAclsRequest) -> DescribeAclsResponse {
    if !authz.enabled() {
        return failed(ErrorCode::SecurityDisabled, NO_AUTHORIZER);
    }
    if !authz.cluster(AclOperation::Describe) {
        return failed(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.");
    }
    let filter = match AclBindingFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.map(|s| s.to_string()),
        req.pattern_type_filter,
        req.principal_filter.map(|s| s.to_string()),
        req.host_filter.map(|s| s.to_string()),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(e) => return failed(ErrorCode::InvalidRequest, e.0),
    };
    let mut grouped: BTreeMap<ResourcePattern, Vec<AccessControlEntry>> = BTreeMap::new();
    for b in metadata.acls().matching(&filter) {
        grouped.entry(b.pattern).or_default().push(b.entry);
    }
    let resources = grouped
        .into_iter()
        .map(|(pattern, entries)| {
            DescribeAclsResource::default()
                .with_resource_type(pattern.resource_type.code())
                .with_resource_name(sb(pattern.name))
                .with_pattern_type(pattern.pattern_type.code())
                .with_acls(
                    entries
                        .into_iter()
                        .map(|e| {
                            AclDescription::default()
                                .with_principal(sb(e.principal))
                                .with_host(sb(e.host))
                                .with_operation(e.operation.code())
                                .with_permission_type(e.permission.code())
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeAclsResponse::default().with_error_code(0).with_error_message(None).with_resources(resources)
}
