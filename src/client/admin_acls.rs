//! Access control lists through the admin API: [`Admin::create_acls`]
//! (CreateAcls), [`Admin::describe_acls`] (DescribeAcls) and
//! [`Admin::delete_acls`] (DeleteAcls), with the client-side ACL model of
//! Kafka's `org.apache.kafka.common.acl` and `…resource` packages: resource
//! patterns, access control entries, bindings and their filters.
//!
//! The model is the broker's own ([`crate::security::acl`], pure and shared),
//! re-exported here with a few filter constructors. Patterns and entries print
//! as Kafka's Java classes do (`ResourcePattern(resourceType=TOPIC, name=t,
//! patternType=LITERAL)`, `(principal=User:alice, host=*, operation=READ,
//! permissionType=ALLOW)`), because `kafka-acls` shows them and operators grep
//! for those lines. Wire codes are Kafka's. As Kafka's admin client does, the
//! requests go to any broker: ACLs live in ZooKeeper and every broker serves
//! them. A broker without an authorizer answers `SECURITY_DISABLED`.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::ClientError;

pub use crate::security::acl::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, AclOperation, PatternType,
    PermissionType as AclPermissionType, ResourcePattern, ResourcePatternFilter, ResourceType,
    CLUSTER_NAME as CLUSTER_RESOURCE_NAME, WILDCARD as WILDCARD_HOST,
};

/// Every ACL (Kafka's `AclBindingFilter.ANY`).
pub fn any_binding() -> AclBindingFilter {
    AclBindingFilter { pattern: any_pattern(), entry: any_entry() }
}

/// Every resource pattern.
pub fn any_pattern() -> ResourcePatternFilter {
    ResourcePatternFilter { resource_type: ResourceType::Any, name: None, pattern_type: PatternType::Any }
}

/// Every entry.
pub fn any_entry() -> AccessControlEntryFilter {
    AccessControlEntryFilter {
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission: AclPermissionType::Any,
    }
}

/// The filter that selects exactly `pattern`.
pub fn pattern_filter(pattern: &ResourcePattern) -> ResourcePatternFilter {
    ResourcePatternFilter {
        resource_type: pattern.resource_type,
        name: Some(pattern.name.clone()),
        pattern_type: pattern.pattern_type,
    }
}

/// The filter that selects exactly `entry`.
pub fn entry_filter(entry: &AccessControlEntry) -> AccessControlEntryFilter {
    AccessControlEntryFilter {
        principal: Some(entry.principal.clone()),
        host: Some(entry.host.clone()),
        operation: entry.operation,
        permission: entry.permission,
    }
}

/// A pattern filter as Kafka's `ResourcePatternFilter.toString` prints it
/// (`<any>` for no name).
pub fn describe_pattern_filter(filter: &ResourcePatternFilter) -> String {
    format!(
        "ResourcePattern(resourceType={}, name={}, patternType={})",
        filter.resource_type.upper(),
        filter.name.as_deref().unwrap_or("<any>"),
        filter.pattern_type.upper()
    )
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Decodes the codes of one ACL from an answer; an unknown code is a
/// protocol error (a newer broker's value this client cannot show).
#[allow(clippy::too_many_arguments)]
fn binding_from_wire(
    broker: &str,
    resource_type: i8,
    name: &StrBytes,
    pattern_type: i8,
    principal: &StrBytes,
    host: &StrBytes,
    operation: i8,
    permission: i8,
) -> Result<AclBinding, ClientError> {
    let unknown = |what: &str, code: i8| ClientError::protocol(broker, format!("unknown ACL {what} code {code}"));
    Ok(AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::from_code(resource_type)
                .ok_or_else(|| unknown("resource type", resource_type))?,
            name: name.to_string(),
            pattern_type: PatternType::from_code(pattern_type).ok_or_else(|| unknown("pattern type", pattern_type))?,
        },
        entry: AccessControlEntry {
            principal: principal.to_string(),
            host: host.to_string(),
            operation: AclOperation::from_code(operation).ok_or_else(|| unknown("operation", operation))?,
            permission: AclPermissionType::from_code(permission)
                .ok_or_else(|| unknown("permission type", permission))?,
        },
    })
}

impl Admin {
    /// Creates ACLs (existing ones are kept; creating one twice is not an
    /// error). The first binding the broker refuses is the error, naming it.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<(), ClientError> {
        if bindings.is_empty() {
            return Ok(());
        }
        let creations = bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.pattern.resource_type.code())
                    .with_resource_name(sb(&b.pattern.name))
                    .with_resource_pattern_type(b.pattern.pattern_type.code())
                    .with_principal(sb(&b.entry.principal))
                    .with_host(sb(&b.entry.host))
                    .with_operation(b.entry.operation.code())
                    .with_permission_type(b.entry.permission.code())
            })
            .collect();
        let req = CreateAclsRequest::default().with_creations(creations);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::CreateAcls)?;
                let resp = conn.call(&req, version).await?;
                if resp.results.len() != bindings.len() {
                    return Err(ClientError::protocol(
                        conn.addr(),
                        format!("CreateAcls answered {} results for {} ACLs", resp.results.len(), bindings.len()),
                    ));
                }
                for (result, binding) in resp.results.iter().zip(bindings) {
                    ClientError::check(result.error_code, result.error_message.as_ref(), || {
                        format!("create ACL {} {}", binding.pattern, binding.entry)
                    })?;
                }
                Ok(())
            })
            .await
    }

    /// The ACLs matching `filter`, sorted by pattern then entry.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>, ClientError> {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.pattern.resource_type.code())
            .with_resource_name_filter(filter.pattern.name.as_deref().map(sb))
            .with_pattern_type_filter(filter.pattern.pattern_type.code())
            .with_principal_filter(filter.entry.principal.as_deref().map(sb))
            .with_host_filter(filter.entry.host.as_deref().map(sb))
            .with_operation(filter.entry.operation.code())
            .with_permission_type(filter.entry.permission.code());
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::DescribeAcls)?;
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || "describe ACLs".to_string())?;
                let mut out = Vec::new();
                for resource in &resp.resources {
                    for acl in &resource.acls {
                        out.push(binding_from_wire(
                            conn.addr(),
                            resource.resource_type,
                            &resource.resource_name,
                            resource.pattern_type,
                            &acl.principal,
                            &acl.host,
                            acl.operation,
                            acl.permission_type,
                        )?);
                    }
                }
                out.sort();
                Ok(out)
            })
            .await
    }

    /// Deletes the ACLs matching each filter; per filter, the ACLs it deleted
    /// (sorted). The first filter the broker refuses is the error.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<Vec<AclBinding>>, ClientError> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let wire = filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.pattern.resource_type.code())
                    .with_resource_name_filter(f.pattern.name.as_deref().map(sb))
                    .with_pattern_type_filter(f.pattern.pattern_type.code())
                    .with_principal_filter(f.entry.principal.as_deref().map(sb))
                    .with_host_filter(f.entry.host.as_deref().map(sb))
                    .with_operation(f.entry.operation.code())
                    .with_permission_type(f.entry.permission.code())
            })
            .collect();
        let req = DeleteAclsRequest::default().with_filters(wire);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::DeleteAcls)?;
                let resp = conn.call(&req, version).await?;
                if resp.filter_results.len() != filters.len() {
                    return Err(ClientError::protocol(
                        conn.addr(),
                        format!(
                            "DeleteAcls answered {} results for {} filters",
                            resp.filter_results.len(),
                            filters.len()
                        ),
                    ));
                }
                let mut out = Vec::with_capacity(filters.len());
                for (result, filter) in resp.filter_results.iter().zip(filters) {
                    ClientError::check(result.error_code, result.error_message.as_ref(), || {
                        format!("delete ACLs matching {}", describe_pattern_filter(&filter.pattern))
                    })?;
                    let mut deleted = Vec::with_capacity(result.matching_acls.len());
                    for m in &result.matching_acls {
                        let binding = binding_from_wire(
                            conn.addr(),
                            m.resource_type,
                            &m.resource_name,
                            m.pattern_type,
                            &m.principal,
                            &m.host,
                            m.operation,
                            m.permission_type,
                        )?;
                        ClientError::check(m.error_code, m.error_message.as_ref(), || {
                            format!("delete ACL {} {}", binding.pattern, binding.entry)
                        })?;
                        deleted.push(binding);
                    }
                    deleted.sort();
                    out.push(deleted);
                }
                Ok(out)
            })
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn filters_print_as_kafka_does() {
        assert_eq!(
            describe_pattern_filter(&any_pattern()),
            "ResourcePattern(resourceType=ANY, name=<any>, patternType=ANY)"
        );
        let p = ResourcePattern::new(ResourceType::Topic, "t", PatternType::Prefixed);
        assert_eq!(describe_pattern_filter(&pattern_filter(&p)), p.to_string());
        let e = AccessControlEntry {
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermissionType::Allow,
        };
        assert!(entry_filter(&e).matches(&e));
        assert!(any_binding().matches(&AclBinding { pattern: p, entry: e }));
    }
}
