//! Access control lists through the admin API: [`Admin::create_acls`]
//! (CreateAcls), [`Admin::describe_acls`] (DescribeAcls) and
//! [`Admin::delete_acls`] (DeleteAcls), with the client-side ACL model of
//! Kafka's `org.apache.kafka.common.acl` and `…resource` packages: resource
//! patterns, access control entries, bindings and their filters.
//!
//! The types print as Kafka's Java classes do (`ResourcePattern(resourceType=TOPIC,
//! name=t, patternType=LITERAL)`, `(principal=User:alice, host=*, operation=READ,
//! permissionType=ALLOW)`), because `kafka-acls` shows them and operators grep
//! for those lines. Wire codes are Kafka's. As Kafka's admin client does, the
//! requests go to any broker: ACLs live in ZooKeeper and every broker serves
//! them. A broker without an authorizer answers `SECURITY_DISABLED`.

use std::fmt;
use std::str::FromStr;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::ClientError;

/// Declares a wire-coded enum with its Kafka enum name (what `toString`
/// prints) and its code.
macro_rules! acl_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $kafka:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant,)*];

            /// The wire code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The value of a wire code, `None` for codes this client does not know.
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// Kafka's enum name, e.g. `TRANSACTIONAL_ID`.
            pub fn kafka_name(self) -> &'static str {
                match self {
                    $($name::$variant => $kafka,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.kafka_name())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Kafka's name in any case, with or without underscores:
            /// `IdempotentWrite`, `IDEMPOTENT_WRITE` and `idempotent-write`
            /// are the same (Kafka's tools accept both spellings).
            fn from_str(s: &str) -> Result<Self, String> {
                let wanted = squash(s);
                $name::ALL_VALUES
                    .iter()
                    .copied()
                    .find(|v| squash(v.kafka_name()) == wanted)
                    .ok_or_else(|| format!("unknown {} '{s}'", stringify!($name)))
            }
        }
    };
}

/// Lower case without `_`, `-` and spaces, for spelling-tolerant matching.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).flat_map(char::to_lowercase).collect()
}

acl_enum! {
    /// What kind of resource an ACL protects.
    ResourceType {
        /// In filters: every type.
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        /// The cluster itself; its one resource is named `kafka-cluster`.
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
}

acl_enum! {
    /// How a pattern's name matches resource names.
    PatternType {
        /// In filters: any pattern type.
        Any = 1, "ANY";
        /// In filters: every pattern that would match the named resource
        /// (the literal name, the wildcard `*`, and prefixes of it).
        Match = 2, "MATCH";
        /// The name as it is (or `*`: every resource of the type).
        Literal = 3, "LITERAL";
        /// Every resource whose name starts with the pattern's name.
        Prefixed = 4, "PREFIXED";
    }
}

acl_enum! {
    /// What an ACL allows or denies.
    AclOperation {
        /// In filters: every operation.
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

acl_enum! {
    /// Whether an ACL allows or denies.
    AclPermissionType {
        /// In filters: both.
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

/// The name of the one cluster resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// The host of an entry that applies from every host.
pub const WILDCARD_HOST: &str = "*";

impl ResourceType {
    /// The operations an ACL on this resource type may name (besides `All`),
    /// as Kafka's `AclEntry.supportedOperations`.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation as O;
        match self {
            ResourceType::Topic => {
                &[O::Read, O::Write, O::Create, O::Describe, O::Delete, O::Alter, O::DescribeConfigs, O::AlterConfigs]
            }
            ResourceType::Group => &[O::Read, O::Describe, O::Delete],
            ResourceType::Cluster => &[
                O::Create,
                O::ClusterAction,
                O::DescribeConfigs,
                O::AlterConfigs,
                O::IdempotentWrite,
                O::Alter,
                O::Describe,
            ],
            ResourceType::TransactionalId => &[O::Describe, O::Write],
            ResourceType::DelegationToken => &[O::Describe],
            ResourceType::User => &[O::CreateTokens, O::DescribeTokens],
            ResourceType::Any => &[],
        }
    }
}

/// A resource or a set of resources an ACL is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    /// `Literal` or `Prefixed`.
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    pub fn new(resource_type: ResourceType, name: impl Into<String>, pattern_type: PatternType) -> Self {
        ResourcePattern { resource_type, name: name.into(), pattern_type }
    }

    /// The cluster resource (`kafka-cluster`, literal).
    pub fn cluster() -> Self {
        ResourcePattern::new(ResourceType::Cluster, CLUSTER_RESOURCE_NAME, PatternType::Literal)
    }

    /// The filter that matches exactly this pattern.
    pub fn to_filter(&self) -> ResourcePatternFilter {
        ResourcePatternFilter {
            resource_type: self.resource_type,
            name: Some(self.name.clone()),
            pattern_type: self.pattern_type,
        }
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            self.resource_type, self.name, self.pattern_type
        )
    }
}

/// Who may or may not do what from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessControlEntry {
    /// `Type:name`, e.g. `User:alice` (`User:*`: every user).
    pub principal: String,
    /// An IP address or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AccessControlEntry {
    /// The filter that matches exactly this entry.
    pub fn to_filter(&self) -> AccessControlEntryFilter {
        AccessControlEntryFilter {
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission: self.permission,
        }
    }
}

impl fmt::Display for AccessControlEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={})",
            self.principal, self.host, self.operation, self.permission
        )
    }
}

/// One ACL: an entry bound to a resource pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(pattern={}, entry={})", self.pattern, self.entry)
    }
}

/// Which resource patterns a describe or delete is about; `None` names any.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePatternFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
}

impl ResourcePatternFilter {
    /// Every resource pattern.
    pub fn any() -> Self {
        ResourcePatternFilter { resource_type: ResourceType::Any, name: None, pattern_type: PatternType::Any }
    }
}

impl fmt::Display for ResourcePatternFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            self.resource_type,
            self.name.as_deref().unwrap_or("<any>"),
            self.pattern_type
        )
    }
}

/// Which entries a describe or delete is about; `None` names any.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessControlEntryFilter {
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AccessControlEntryFilter {
    /// Every entry.
    pub fn any() -> Self {
        AccessControlEntryFilter {
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }
}

/// A filter over ACL bindings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBindingFilter {
    pub pattern: ResourcePatternFilter,
    pub entry: AccessControlEntryFilter,
}

impl AclBindingFilter {
    /// Every ACL.
    pub fn any() -> Self {
        AclBindingFilter { pattern: ResourcePatternFilter::any(), entry: AccessControlEntryFilter::any() }
    }
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
                        format!("create ACL {binding}")
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
                        format!("delete ACLs matching {}", filter.pattern)
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
                        ClientError::check(m.error_code, m.error_message.as_ref(), || format!("delete ACL {binding}"))?;
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
    fn names_parse_in_either_spelling_and_print_as_kafka() {
        assert_eq!("IdempotentWrite".parse::<AclOperation>().unwrap(), AclOperation::IdempotentWrite);
        assert_eq!("IDEMPOTENT_WRITE".parse::<AclOperation>().unwrap(), AclOperation::IdempotentWrite);
        assert_eq!("describeconfigs".parse::<AclOperation>().unwrap(), AclOperation::DescribeConfigs);
        assert_eq!("All".parse::<AclOperation>().unwrap(), AclOperation::All);
        assert!("Fly".parse::<AclOperation>().is_err());
        assert_eq!("transactional-id".parse::<ResourceType>().unwrap(), ResourceType::TransactionalId);
        assert_eq!("prefixed".parse::<PatternType>().unwrap(), PatternType::Prefixed);
        assert_eq!(AclOperation::ClusterAction.to_string(), "CLUSTER_ACTION");
        for op in AclOperation::ALL_VALUES {
            assert_eq!(AclOperation::from_code(op.code()), Some(*op));
        }
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(ResourceType::from_code(99), None);
    }

    #[test]
    fn patterns_and_entries_print_as_kafka_does() {
        let p = ResourcePattern::new(ResourceType::Topic, "t", PatternType::Literal);
        assert_eq!(p.to_string(), "ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)");
        let e = AccessControlEntry {
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermissionType::Allow,
        };
        assert_eq!(e.to_string(), "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)");
        assert_eq!(
            ResourcePatternFilter::any().to_string(),
            "ResourcePattern(resourceType=ANY, name=<any>, patternType=ANY)"
        );
        assert_eq!(p.to_filter().name.as_deref(), Some("t"));
        assert_eq!(e.to_filter().operation, AclOperation::Read);
    }
}
