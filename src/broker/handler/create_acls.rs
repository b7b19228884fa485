//! CreateAcls (30): adds ACL bindings to ZooKeeper (`metadata::acls`), as
//! Kafka's ZooKeeper-mode brokers do. Needs Cluster:Alter
//! (CLUSTER_AUTHORIZATION_FAILED on every creation otherwise); without an
//! authorizer every creation is SECURITY_DISABLED. Each creation is checked
//! on its own (INVALID_REQUEST with Kafka's message: a definite type,
//! pattern type, operation and permission, `kafka-cluster` for the cluster,
//! an operation the resource type supports), and the valid ones are written
//! grouped by resource pattern.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::sb;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;
use crate::security::acl::{
    AccessControlEntry, AclBinding, AclError, AclOperation, PatternType, PermissionType, ResourcePattern, ResourceType,
};
use crate::security::authorizer::Authz;

/// Kafka's message when the broker has no authorizer.
pub(crate) const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn result(error: ErrorCode, message: impl Into<String>) -> AclCreationResult {
    AclCreationResult::default().with_error_code(error.code()).with_error_message(Some(sb(message)))
}

fn binding_of(c: &kafka_protocol::messages::create_acls_request::AclCreation) -> Result<AclBinding, AclError> {
    let unknown = |what: &str, code: i8| AclError(format!("Invalid ACL creation: unknown {what} {code}"));
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::from_code(c.resource_type)
                .ok_or_else(|| unknown("resource type", c.resource_type))?,
            pattern_type: PatternType::from_code(c.resource_pattern_type)
                .ok_or_else(|| unknown("pattern type", c.resource_pattern_type))?,
            name: c.resource_name.to_string(),
        },
        entry: AccessControlEntry {
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: AclOperation::from_code(c.operation).ok_or_else(|| unknown("operation", c.operation))?,
            permission: PermissionType::from_code(c.permission_type)
                .ok_or_else(|| unknown("permission type", c.permission_type))?,
        },
    };
    binding.validate()?;
    Ok(binding)
}

pub async fn handle(metadata: &MetadataStore, authz: &Authz<'_>, req: CreateAclsRequest) -> CreateAclsResponse {
    let all = |error: ErrorCode, message: &str| {
        CreateAclsResponse::default().with_results(req.creations.iter().map(|_| result(error, message)).collect())
    };
    if !authz.enabled() {
        return all(ErrorCode::SecurityDisabled, NO_AUTHORIZER);
    }
    if !authz.cluster(AclOperation::Alter) {
        return all(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.");
    }
    let mut results: Vec<Option<AclCreationResult>> = Vec::with_capacity(req.creations.len());
    let mut by_pattern: BTreeMap<ResourcePattern, Vec<(usize, AccessControlEntry)>> = BTreeMap::new();
    for (i, creation) in req.creations.iter().enumerate() {
        match binding_of(creation) {
            Ok(b) => {
                results.push(None);
                by_pattern.entry(b.pattern).or_default().push((i, b.entry));
            }
            Err(e) => results.push(Some(result(ErrorCode::InvalidRequest, e.0))),
        }
    }
    for (pattern, entries) in by_pattern {
        let list: Vec<AccessControlEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
        let outcome = match metadata.add_acls(&pattern, &list).await {
            Ok(()) => {
                for e in &list {
                    tracing::info!(principal = authz.principal(), "added ACL {e} on {pattern}");
                }
                AclCreationResult::default().with_error_code(0).with_error_message(None)
            }
            Err(e) => {
                tracing::warn!(error = %e, %pattern, "cannot store ACLs");
                result(ErrorCode::UnknownServerError, format!("Failed to create ACLs: {e}"))
            }
        };
        for (i, _) in entries {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(outcome.clone());
            }
        }
    }
    CreateAclsResponse::default().with_results(results.into_iter().flatten().collect())
}
