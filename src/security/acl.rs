//! Kafka's ACL model, its authorization decision and its ZooKeeper formats,
//! all pure (no I/O): the broker's [`Authorizer`](super::authorizer::Authorizer)
//! holds an [`AclTable`] and asks [`AclTable::authorize`]; the metadata layer
//! reads and writes the znodes with the codecs at the bottom of this file.
//!
//! Names and codes are Kafka's: the enums carry the wire codes of
//! CreateAcls/DescribeAcls/DeleteAcls and of the authorized-operations
//! bitfields, and the spellings of Kafka's `AclAuthorizer` in ZooKeeper
//! (`/kafka-acl/Topic/orders`, `"operation":"Read"`). Reading accepts both
//! spellings Kafka versions wrote (`Topic` and `TOPIC`, `ClusterAction` and
//! `CLUSTER_ACTION`), case-insensitively.
//!
//! The decision follows Kafka's `AclAuthorizer`: super users are allowed
//! everything; otherwise the ACLs that apply to a resource are its literal
//! ACLs, the literal wildcard `*` ones and every prefixed ACL whose prefix
//! starts its name; a matching Deny wins; an Allow for the operation (or
//! `All`, or one that implies Describe/DescribeConfigs) allows; and a
//! resource without any ACL is allowed only with
//! `allow.everyone.if.no.acl.found=true`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The wildcard resource name, principal name and host.
pub const WILDCARD: &str = "*";
/// The principal every user matches.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Literal ACLs: `/kafka-acl/<Type>/<name>`.
pub const LITERAL_ROOT: &str = "/kafka-acl";
/// Prefixed ACLs: `/kafka-acl-extended/prefixed/<Type>/<prefix>`.
pub const EXTENDED_ROOT: &str = "/kafka-acl-extended";
const PREFIXED_ROOT: &str = "/kafka-acl-extended/prefixed";
/// Change notifications of literal ACLs (data `Topic:<name>`).
pub const LITERAL_CHANGES: &str = "/kafka-acl-changes";
/// Change notifications of prefixed ACLs (JSON).
pub const EXTENDED_CHANGES: &str = "/kafka-acl-extended-changes";
/// Prefix of the sequential notification znodes under either changes root.
pub const CHANGE_NODE_PREFIX: &str = "acl_changes_";

/// A value outside what a definite binding may hold, or one this broker does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclError(pub String);

/// Strips '_' and lowercases, so `CLUSTER_ACTION`, `ClusterAction` and `clusteraction` read alike.
fn folded(s: &str) -> String {
    s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $pascal:literal, $upper:literal;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            /// The value of a wire code; `None` for UNKNOWN (0) and codes we do not know.
            pub fn from_code(code: i8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Kafka's ZooKeeper spelling (`ClusterAction`, `Topic`).
            pub fn pascal(self) -> &'static str {
                match self { $($name::$variant => $pascal),* }
            }

            /// The Java enum name (`CLUSTER_ACTION`, `TOPIC`).
            pub fn upper(self) -> &'static str {
                match self { $($name::$variant => $upper),* }
            }

            /// Either spelling, case-insensitively.
            pub fn parse(s: &str) -> Option<$name> {
                let f = folded(s);
                $name::ALL.iter().copied().find(|v| folded(v.pascal()) == f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.pascal())
            }
        }
    };
}

wire_enum! {
    /// What an ACL protects (`ANY` only in filters).
    ResourceType {
        Any = 1, "Any", "ANY";
        Topic = 2, "Topic", "TOPIC";
        Group = 3, "Group", "GROUP";
        Cluster = 4, "Cluster", "CLUSTER";
        TransactionalId = 5, "TransactionalId", "TRANSACTIONAL_ID";
        DelegationToken = 6, "DelegationToken", "DELEGATION_TOKEN";
        User = 7, "User", "USER";
    }
}

wire_enum! {
    /// How an ACL's resource name matches (`ANY` and `MATCH` only in filters).
    PatternType {
        Any = 1, "Any", "ANY";
        Match = 2, "Match", "MATCH";
        Literal = 3, "Literal", "LITERAL";
        Prefixed = 4, "Prefixed", "PREFIXED";
    }
}

wire_enum! {
    /// An operation on a resource (`ANY` only in filters). The code is also
    /// the bit of the authorized-operations bitfields.
    AclOperation {
        Any = 1, "Any", "ANY";
        All = 2, "All", "ALL";
        Read = 3, "Read", "READ";
        Write = 4, "Write", "WRITE";
        Create = 5, "Create", "CREATE";
        Delete = 6, "Delete", "DELETE";
        Alter = 7, "Alter", "ALTER";
        Describe = 8, "Describe", "DESCRIBE";
        ClusterAction = 9, "ClusterAction", "CLUSTER_ACTION";
        DescribeConfigs = 10, "DescribeConfigs", "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "AlterConfigs", "ALTER_CONFIGS";
        IdempotentWrite = 12, "IdempotentWrite", "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CreateTokens", "CREATE_TOKENS";
        DescribeTokens = 14, "DescribeTokens", "DESCRIBE_TOKENS";
    }
}

wire_enum! {
    /// Allow or deny (`ANY` only in filters).
    PermissionType {
        Any = 1, "Any", "ANY";
        Deny = 2, "Deny", "DENY";
        Allow = 3, "Allow", "ALLOW";
    }
}

impl ResourceType {
    /// The operations an ACL on this resource type may name (Kafka's
    /// `AclEntry.supportedOperations`), `All` included.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs, All],
            ResourceType::Group => &[Read, Describe, Delete, All],
            ResourceType::Cluster => {
                &[Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe, All]
            }
            ResourceType::TransactionalId => &[Describe, Write, All],
            ResourceType::DelegationToken => &[Describe, All],
            ResourceType::User => &[CreateTokens, DescribeTokens, All],
            ResourceType::Any => &[],
        }
    }
}

impl AclOperation {
    /// The operations whose Allow also allows `self` (Kafka: Read, Write,
    /// Delete and Alter imply Describe; AlterConfigs implies DescribeConfigs).
    fn allowed_by(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            Describe => &[Describe, Read, Write, Delete, Alter, All],
            DescribeConfigs => &[DescribeConfigs, AlterConfigs, All],
            Read => &[Read, All],
            Write => &[Write, All],
            Create => &[Create, All],
            Delete => &[Delete, All],
            Alter => &[Alter, All],
            ClusterAction => &[ClusterAction, All],
            AlterConfigs => &[AlterConfigs, All],
            IdempotentWrite => &[IdempotentWrite, All],
            CreateTokens => &[CreateTokens, All],
            DescribeTokens => &[DescribeTokens, All],
            All => &[All],
            Any => &[],
        }
    }
}

/// A resource an ACL applies to: type, name (or prefix) and how it matches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
}

impl ResourcePattern {
    pub fn new(resource_type: ResourceType, name: impl Into<String>, pattern_type: PatternType) -> ResourcePattern {
        ResourcePattern { resource_type, name: name.into(), pattern_type }
    }

    /// A literal pattern.
    pub fn literal(resource_type: ResourceType, name: impl Into<String>) -> ResourcePattern {
        ResourcePattern::new(resource_type, name, PatternType::Literal)
    }

    /// The znode holding this pattern's ACLs.
    pub fn znode_path(&self) -> String {
        match self.pattern_type {
            PatternType::Prefixed => format!("{PREFIXED_ROOT}/{}/{}", self.resource_type.pascal(), self.name),
            _ => format!("{LITERAL_ROOT}/{}/{}", self.resource_type.pascal(), self.name),
        }
    }

    /// Which notifications root announces a change of this pattern, and the data written there.
    pub fn change_notification(&self) -> (&'static str, Vec<u8>) {
        match self.pattern_type {
            PatternType::Prefixed => {
                let event = ExtendedChange {
                    version: 1,
                    resource_type: self.resource_type.upper().to_string(),
                    name: self.name.clone(),
                    pattern_type: self.pattern_type.upper().to_string(),
                };
                (EXTENDED_CHANGES, serde_json::to_vec(&event).unwrap_or_default())
            }
            _ => (LITERAL_CHANGES, format!("{}:{}", self.resource_type.pascal(), self.name).into_bytes()),
        }
    }

    /// A pattern a binding may be stored under: a definite type and pattern
    /// type, a non-empty name the ZooKeeper path can hold, and `kafka-cluster`
    /// for the cluster. The messages are Kafka's where it has one.
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_type == ResourceType::Any {
            return Err(AclError("Invalid ACL creation: resource type ANY is not allowed".into()));
        }
        if !matches!(self.pattern_type, PatternType::Literal | PatternType::Prefixed) {
            return Err(AclError(format!(
                "Invalid ACL creation: pattern type {} is not allowed",
                self.pattern_type.upper()
            )));
        }
        if self.name.is_empty() {
            return Err(AclError("Invalid empty resource name".into()));
        }
        if self.resource_type == ResourceType::Cluster && self.name != CLUSTER_NAME {
            return Err(AclError(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")));
        }
        if self.name.contains('/') || self.name == "." || self.name == ".." || self.name.contains('\0') {
            return Err(AclError(format!("Invalid resource name {:?}: it cannot be stored in ZooKeeper", self.name)));
        }
        Ok(())
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            self.resource_type.upper(),
            self.name,
            self.pattern_type.upper()
        )
    }
}

/// Who may (or may not) do what from where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessControlEntry {
    /// `Type:name`, e.g. `User:alice`, `User:*`.
    pub principal: String,
    /// A client IP address or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

impl AccessControlEntry {
    /// An entry that may be stored: a `Type:name` principal, a host, and a
    /// definite operation and permission the resource type supports.
    pub fn validate_for(&self, resource_type: ResourceType) -> Result<(), AclError> {
        match self.principal.split_once(':') {
            Some((t, n)) if !t.is_empty() && !n.is_empty() => {}
            _ => {
                return Err(AclError(format!(
                    "Invalid principal {:?}: expected the form Type:name, e.g. User:alice",
                    self.principal
                )))
            }
        }
        if self.host.is_empty() {
            return Err(AclError("Invalid empty host".into()));
        }
        if self.operation == AclOperation::Any {
            return Err(AclError("Invalid ACL creation: operation ANY is not allowed".into()));
        }
        if self.permission == PermissionType::Any {
            return Err(AclError("Invalid ACL creation: permission type ANY is not allowed".into()));
        }
        if !resource_type.supported_operations().contains(&self.operation) {
            let names: Vec<&str> = resource_type.supported_operations().iter().map(|o| o.upper()).collect();
            return Err(AclError(format!(
                "ResourceType {} only supports operations {}",
                resource_type.upper(),
                names.join(",")
            )));
        }
        Ok(())
    }
}

impl fmt::Display for AccessControlEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={})",
            self.principal,
            self.host,
            self.operation.upper(),
            self.permission.upper()
        )
    }
}

/// One ACL: an entry on a resource pattern.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl AclBinding {
    /// What CreateAcls accepts (Kafka's checks, INVALID_REQUEST otherwise).
    pub fn validate(&self) -> Result<(), AclError> {
        self.pattern.validate()?;
        self.entry.validate_for(self.pattern.resource_type)
    }
}

/// Selects resource patterns (Kafka's `ResourcePatternFilter`): `None` name matches any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePatternFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
}

impl ResourcePatternFilter {
    /// Whether `pattern` is selected. `ANY` pattern type selects any pattern
    /// with exactly this name; `MATCH` selects the patterns that would apply
    /// to a resource of this name (the literal one, the literal wildcard and
    /// every prefix of it).
    pub fn matches(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else { return true };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern.pattern_type {
            return *name == pattern.name;
        }
        match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&pattern.name),
            _ => false,
        }
    }
}

/// Selects entries (Kafka's `AccessControlEntryFilter`): `None` and `ANY` match anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessControlEntryFilter {
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

impl AccessControlEntryFilter {
    pub fn matches(&self, entry: &AccessControlEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == entry.principal)
            && self.host.as_ref().is_none_or(|h| *h == entry.host)
            && (self.operation == AclOperation::Any || self.operation == entry.operation)
            && (self.permission == PermissionType::Any || self.permission == entry.permission)
    }
}

/// Selects bindings (DescribeAcls, DeleteAcls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub pattern: ResourcePatternFilter,
    pub entry: AccessControlEntryFilter,
}

impl AclBindingFilter {
    /// The filter of a request's wire fields; UNKNOWN or unheard-of codes are refused.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        name: Option<String>,
        pattern_type: i8,
        principal: Option<String>,
        host: Option<String>,
        operation: i8,
        permission: i8,
    ) -> Result<AclBindingFilter, AclError> {
        let resource_type = ResourceType::from_code(resource_type)
            .ok_or_else(|| AclError(format!("Invalid resource type {resource_type} in the filter")))?;
        let pattern_type = PatternType::from_code(pattern_type)
            .ok_or_else(|| AclError(format!("Invalid pattern type {pattern_type} in the filter")))?;
        let operation = AclOperation::from_code(operation)
            .ok_or_else(|| AclError(format!("Invalid operation {operation} in the filter")))?;
        let permission = PermissionType::from_code(permission)
            .ok_or_else(|| AclError(format!("Invalid permission type {permission} in the filter")))?;
        Ok(AclBindingFilter {
            pattern: ResourcePatternFilter { resource_type, name, pattern_type },
            entry: AccessControlEntryFilter { principal, host, operation, permission },
        })
    }

    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.pattern.matches(&binding.pattern) && self.entry.matches(&binding.entry)
    }
}

/// Everything an authorization decision needs beyond the ACLs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `super.users`: principals allowed everything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

impl Policy {
    /// `super.users` as Kafka reads it: `;`-separated principals, blanks ignored.
    pub fn parse_super_users(value: &str) -> Vec<String> {
        value.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

/// Every ACL of the cluster, by resource pattern (the authorizer's cache).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclTable {
    acls: BTreeMap<ResourcePattern, Vec<AccessControlEntry>>,
}

impl AclTable {
    /// The entries stored under `pattern` (empty when none).
    pub fn get(&self, pattern: &ResourcePattern) -> &[AccessControlEntry] {
        self.acls.get(pattern).map_or(&[], Vec::as_slice)
    }

    /// Replaces the entries of `pattern` (removes it when `entries` is empty).
    pub fn set(&mut self, pattern: ResourcePattern, entries: Vec<AccessControlEntry>) {
        if entries.is_empty() {
            self.acls.remove(&pattern);
        } else {
            self.acls.insert(pattern, entries);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }

    /// Every binding, sorted by pattern.
    pub fn bindings(&self) -> impl Iterator<Item = AclBinding> + '_ {
        self.acls.iter().flat_map(|(pattern, entries)| {
            entries.iter().map(move |entry| AclBinding { pattern: pattern.clone(), entry: entry.clone() })
        })
    }

    /// Every binding `filter` selects.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.acls
            .iter()
            .filter(|(p, _)| filter.pattern.matches(p))
            .flat_map(|(pattern, entries)| {
                entries
                    .iter()
                    .filter(|e| filter.entry.matches(e))
                    .map(move |entry| AclBinding { pattern: pattern.clone(), entry: entry.clone() })
            })
            .collect()
    }

    /// The entries that apply to the resource `name` of `resource_type`:
    /// literal, literal wildcard and prefixed.
    fn applicable<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AccessControlEntry> + 'a {
        let literal = self.get(&ResourcePattern::literal(resource_type, name));
        let wildcard =
            if name == WILDCARD { &[][..] } else { self.get(&ResourcePattern::literal(resource_type, WILDCARD)) };
        // Prefixed patterns of one type are contiguous in the map's order.
        let start = ResourcePattern::new(resource_type, "", PatternType::Prefixed);
        let prefixed = self
            .acls
            .range(start..)
            .take_while(move |(p, _)| p.resource_type == resource_type && p.pattern_type == PatternType::Prefixed)
            .filter(move |(p, _)| name.starts_with(&p.name))
            .flat_map(|(_, entries)| entries.iter());
        literal.iter().chain(wildcard.iter()).chain(prefixed)
    }

    /// Kafka's decision: may `principal` from `host` perform `operation` on
    /// the resource `name` of `resource_type`?
    pub fn authorize(
        &self,
        policy: &Policy,
        principal: &str,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if policy.super_users.iter().any(|s| s == principal) {
            return true;
        }
        let host = host.to_string();
        let applies = |e: &&AccessControlEntry| {
            (e.principal == principal || e.principal == WILDCARD_PRINCIPAL) && (e.host == host || e.host == WILDCARD)
        };
        let mut any = false;
        let mut allowed = false;
        let allowed_by = operation.allowed_by();
        for entry in self.applicable(resource_type, name) {
            any = true;
            if !applies(&entry) {
                continue;
            }
            match entry.permission {
                PermissionType::Deny if entry.operation == operation || entry.operation == AclOperation::All => {
                    return false
                }
                PermissionType::Allow if allowed_by.contains(&entry.operation) => allowed = true,
                _ => {}
            }
        }
        if !any {
            return policy.allow_if_no_acl;
        }
        allowed
    }

    /// The authorized-operations bitfield of a resource: bit `code` set for
    /// every operation the resource type supports that `principal` may perform.
    pub fn authorized_operations(
        &self,
        policy: &Policy,
        principal: &str,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        resource_type
            .supported_operations()
            .iter()
            .filter(|op| **op != AclOperation::All)
            .filter(|op| self.authorize(policy, principal, host, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// One entry as Kafka's `AclAuthorizer` writes it in ZooKeeper.
#[derive(Serialize, Deserialize)]
struct ZkEntry {
    principal: String,
    #[serde(rename = "permissionType")]
    permission_type: String,
    operation: String,
    host: String,
}

#[derive(Serialize, Deserialize)]
struct ZkAcls {
    version: i32,
    acls: Vec<ZkEntry>,
}

#[derive(Serialize, Deserialize)]
struct ExtendedChange {
    version: i32,
    #[serde(rename = "resourceType")]
    resource_type: String,
    name: String,
    #[serde(rename = "patternType")]
    pattern_type: String,
}

/// The data of an ACL znode: `{"version":1,"acls":[{"principal":…,"permissionType":"Allow","operation":"Read","host":"*"}]}`.
pub fn encode_entries(entries: &[AccessControlEntry]) -> Vec<u8> {
    let doc = ZkAcls {
        version: 1,
        acls: entries
            .iter()
            .map(|e| ZkEntry {
                principal: e.principal.clone(),
                permission_type: e.permission.pascal().to_string(),
                operation: e.operation.pascal().to_string(),
                host: e.host.clone(),
            })
            .collect(),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Reads an ACL znode's data (empty data: no entries).
pub fn decode_entries(data: &[u8]) -> Result<Vec<AccessControlEntry>, AclError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let doc: ZkAcls = serde_json::from_slice(data).map_err(|e| AclError(format!("malformed ACL JSON: {e}")))?;
    doc.acls
        .into_iter()
        .map(|e| {
            Ok(AccessControlEntry {
                operation: AclOperation::parse(&e.operation)
                    .filter(|o| *o != AclOperation::Any)
                    .ok_or_else(|| AclError(format!("unknown operation {:?}", e.operation)))?,
                permission: PermissionType::parse(&e.permission_type)
                    .filter(|p| *p != PermissionType::Any)
                    .ok_or_else(|| AclError(format!("unknown permission type {:?}", e.permission_type)))?,
                principal: e.principal,
                host: e.host,
            })
        })
        .collect()
}

/// The resource pattern an ACL znode path stands for (`None`: not an ACL
/// znode, e.g. a root or a type directory).
pub fn pattern_of_path(path: &str) -> Option<ResourcePattern> {
    let (pattern_type, rest) = if let Some(rest) = path.strip_prefix(PREFIXED_ROOT).and_then(|r| r.strip_prefix('/')) {
        (PatternType::Prefixed, rest)
    } else {
        (PatternType::Literal, path.strip_prefix(LITERAL_ROOT)?.strip_prefix('/')?)
    };
    let (type_name, name) = rest.split_once('/')?;
    let resource_type = ResourceType::parse(type_name).filter(|t| *t != ResourceType::Any)?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(ResourcePattern::new(resource_type, name, pattern_type))
}

/// The resource type directories under a root (`/kafka-acl` or `/kafka-acl-extended/prefixed`)
/// to list when loading every ACL.
pub fn type_dirs() -> Vec<(PatternType, String)> {
    let mut out = Vec::new();
    for t in ResourceType::ALL.iter().filter(|t| **t != ResourceType::Any) {
        out.push((PatternType::Literal, format!("{LITERAL_ROOT}/{}", t.pascal())));
        out.push((PatternType::Prefixed, format!("{PREFIXED_ROOT}/{}", t.pascal())));
    }
    out
}

/// The persistent roots the ACL store needs.
pub const ROOTS: &[&str] = &[LITERAL_ROOT, EXTENDED_ROOT, PREFIXED_ROOT, LITERAL_CHANGES, EXTENDED_CHANGES];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(principal: &str, host: &str, op: AclOperation, perm: PermissionType) -> AccessControlEntry {
        AccessControlEntry { principal: principal.into(), host: host.into(), operation: op, permission: perm }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const ALICE: &str = "User:alice";
    const LOCAL: &str = "127.0.0.1";

    fn topic_table(pattern: ResourcePattern, entries: Vec<AccessControlEntry>) -> AclTable {
        let mut t = AclTable::default();
        t.set(pattern, entries);
        t
    }

    fn can(t: &AclTable, p: &Policy, principal: &str, op: AclOperation, topic: &str) -> bool {
        t.authorize(p, principal, ip(LOCAL), op, ResourceType::Topic, topic)
    }

    #[test]
    fn codes_and_names_are_kafkas() {
        assert_eq!(ResourceType::TransactionalId.code(), 5);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(PermissionType::Allow.code(), 3);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(AclOperation::parse("CLUSTER_ACTION"), Some(AclOperation::ClusterAction));
        assert_eq!(AclOperation::parse("ClusterAction"), Some(AclOperation::ClusterAction));
        assert_eq!(ResourceType::parse("TRANSACTIONAL_ID"), Some(ResourceType::TransactionalId));
        assert_eq!(ResourceType::parse("bogus"), None);
    }

    #[test]
    fn no_acl_denies_unless_allow_everyone() {
        let t = AclTable::default();
        assert!(!can(&t, &Policy::default(), ALICE, AclOperation::Read, "t"));
        let open = Policy { allow_if_no_acl: true, ..Policy::default() };
        assert!(can(&t, &open, ALICE, AclOperation::Read, "t"));
        // An ACL for someone else on the resource: no longer "no ACL found".
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![entry("User:bob", "*", AclOperation::Read, PermissionType::Allow)],
        );
        assert!(!can(&t, &open, ALICE, AclOperation::Read, "t"));
        assert!(can(&t, &open, ALICE, AclOperation::Read, "other"));
    }

    #[test]
    fn super_users_are_allowed_everything() {
        let p =
            Policy { super_users: Policy::parse_super_users(" User:admin ;User:CN=broker0;"), allow_if_no_acl: false };
        assert_eq!(p.super_users, ["User:admin", "User:CN=broker0"]);
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![entry("User:admin", "*", AclOperation::All, PermissionType::Deny)],
        );
        assert!(can(&t, &p, "User:admin", AclOperation::Write, "t"));
        assert!(!can(&t, &p, ALICE, AclOperation::Write, "t"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![
                entry(ALICE, "*", AclOperation::All, PermissionType::Allow),
                entry(ALICE, "*", AclOperation::Write, PermissionType::Deny),
            ],
        );
        let p = Policy::default();
        assert!(can(&t, &p, ALICE, AclOperation::Read, "t"));
        assert!(!can(&t, &p, ALICE, AclOperation::Write, "t"));
        // A wildcard deny from a prefixed pattern also wins.
        let mut t = t;
        t.set(
            ResourcePattern::new(ResourceType::Topic, "t", PatternType::Prefixed),
            vec![entry(WILDCARD_PRINCIPAL, "*", AclOperation::Read, PermissionType::Deny)],
        );
        assert!(!can(&t, &p, ALICE, AclOperation::Read, "t"));
    }

    #[test]
    fn implied_describe_and_describe_configs() {
        let p = Policy::default();
        for op in [AclOperation::Read, AclOperation::Write, AclOperation::Delete, AclOperation::Alter] {
            let t = topic_table(
                ResourcePattern::literal(ResourceType::Topic, "t"),
                vec![entry(ALICE, "*", op, PermissionType::Allow)],
            );
            assert!(can(&t, &p, ALICE, AclOperation::Describe, "t"), "{op} implies Describe");
            assert!(!can(&t, &p, ALICE, AclOperation::DescribeConfigs, "t"));
        }
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![entry(ALICE, "*", AclOperation::AlterConfigs, PermissionType::Allow)],
        );
        assert!(can(&t, &p, ALICE, AclOperation::DescribeConfigs, "t"));
        assert!(!can(&t, &p, ALICE, AclOperation::Describe, "t"));
        // A Read deny does not deny Describe.
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![
                entry(ALICE, "*", AclOperation::Write, PermissionType::Allow),
                entry(ALICE, "*", AclOperation::Read, PermissionType::Deny),
            ],
        );
        assert!(can(&t, &p, ALICE, AclOperation::Describe, "t"));
    }

    #[test]
    fn wildcard_resource_prefix_principal_and_host() {
        let p = Policy::default();
        let mut t = AclTable::default();
        t.set(
            ResourcePattern::literal(ResourceType::Topic, WILDCARD),
            vec![entry(WILDCARD_PRINCIPAL, "*", AclOperation::Describe, PermissionType::Allow)],
        );
        t.set(
            ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed),
            vec![entry(ALICE, "10.0.0.1", AclOperation::Write, PermissionType::Allow)],
        );
        t.set(
            ResourcePattern::new(ResourceType::Group, "orders-", PatternType::Prefixed),
            vec![entry(ALICE, "*", AclOperation::Read, PermissionType::Allow)],
        );
        assert!(can(&t, &p, "User:bob", AclOperation::Describe, "anything"));
        assert!(!can(&t, &p, ALICE, AclOperation::Write, "orders-eu"), "wrong host");
        assert!(t.authorize(&p, ALICE, ip("10.0.0.1"), AclOperation::Write, ResourceType::Topic, "orders-eu"));
        assert!(!t.authorize(&p, ALICE, ip("10.0.0.1"), AclOperation::Write, ResourceType::Topic, "order"));
        assert!(t.authorize(&p, ALICE, ip(LOCAL), AclOperation::Read, ResourceType::Group, "orders-x"));
        assert!(!t.authorize(&p, ALICE, ip(LOCAL), AclOperation::Read, ResourceType::Group, "payments"));
        // Topic ACLs do not reach groups of the same name.
        assert!(!t.authorize(&p, ALICE, ip(LOCAL), AclOperation::Describe, ResourceType::Group, "anything"));
    }

    #[test]
    fn authorized_operations_bitfield() {
        let t = topic_table(
            ResourcePattern::literal(ResourceType::Topic, "t"),
            vec![entry(ALICE, "*", AclOperation::Read, PermissionType::Allow)],
        );
        let bits = t.authorized_operations(&Policy::default(), ALICE, ip(LOCAL), ResourceType::Topic, "t");
        assert_eq!(bits, (1 << 3) | (1 << 8));
    }

    #[test]
    fn filters_follow_kafka() {
        let lit = ResourcePattern::literal(ResourceType::Topic, "orders");
        let wild = ResourcePattern::literal(ResourceType::Topic, "*");
        let pre = ResourcePattern::new(ResourceType::Topic, "ord", PatternType::Prefixed);
        let other = ResourcePattern::new(ResourceType::Topic, "pay", PatternType::Prefixed);
        let f = |name: Option<&str>, pt| ResourcePatternFilter {
            resource_type: ResourceType::Topic,
            name: name.map(str::to_string),
            pattern_type: pt,
        };
        let m = f(Some("orders"), PatternType::Match);
        assert!(m.matches(&lit) && m.matches(&wild) && m.matches(&pre) && !m.matches(&other));
        let a = f(Some("ord"), PatternType::Any);
        assert!(a.matches(&pre) && !a.matches(&lit));
        let l = f(None, PatternType::Literal);
        assert!(l.matches(&lit) && l.matches(&wild) && !l.matches(&pre));
        let any =
            ResourcePatternFilter { resource_type: ResourceType::Any, name: None, pattern_type: PatternType::Any };
        assert!(any.matches(&lit) && any.matches(&pre));
        assert!(!f(None, PatternType::Any).matches(&ResourcePattern::literal(ResourceType::Group, "orders")));
    }

    #[test]
    fn creation_checks() {
        let good = AclBinding {
            pattern: ResourcePattern::literal(ResourceType::Topic, "t"),
            entry: entry(ALICE, "*", AclOperation::Read, PermissionType::Allow),
        };
        assert!(good.validate().is_ok());
        let mut bad = good.clone();
        bad.entry.operation = AclOperation::ClusterAction;
        assert_eq!(
            bad.validate().unwrap_err().0,
            "ResourceType TOPIC only supports operations READ,WRITE,CREATE,DESCRIBE,DELETE,ALTER,DESCRIBE_CONFIGS,ALTER_CONFIGS,ALL"
        );
        let mut bad = good.clone();
        bad.pattern = ResourcePattern::literal(ResourceType::Cluster, "c");
        assert!(bad.validate().unwrap_err().0.contains("kafka-cluster"));
        let mut bad = good.clone();
        bad.pattern.pattern_type = PatternType::Match;
        assert!(bad.validate().is_err());
        let mut bad = good;
        bad.entry.principal = "alice".into();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn znode_data_round_trips_in_kafkas_format() {
        // As Kafka 2.x/3.x's AclAuthorizer writes it.
        let kafka = br#"{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"},{"principal":"User:*","permissionType":"Deny","operation":"IdempotentWrite","host":"10.0.0.1"}]}"#;
        let entries = decode_entries(kafka).unwrap();
        assert_eq!(
            entries,
            [
                entry(ALICE, "*", AclOperation::Read, PermissionType::Allow),
                entry("User:*", "10.0.0.1", AclOperation::IdempotentWrite, PermissionType::Deny),
            ]
        );
        assert_eq!(encode_entries(&entries), kafka.to_vec());
        assert!(decode_entries(b"").unwrap().is_empty());
        assert!(decode_entries(b"{").is_err());
        assert!(decode_entries(
            br#"{"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Fly","host":"*"}]}"#
        )
        .is_err());
    }

    #[test]
    fn paths_and_notifications() {
        let lit = ResourcePattern::literal(ResourceType::TransactionalId, "tx-1");
        assert_eq!(lit.znode_path(), "/kafka-acl/TransactionalId/tx-1");
        assert_eq!(pattern_of_path("/kafka-acl/TransactionalId/tx-1"), Some(lit.clone()));
        let pre = ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed);
        assert_eq!(pre.znode_path(), "/kafka-acl-extended/prefixed/Topic/orders-");
        assert_eq!(pattern_of_path(&pre.znode_path()), Some(pre.clone()));
        assert_eq!(pattern_of_path("/kafka-acl/Topic"), None);
        assert_eq!(pattern_of_path("/kafka-acl"), None);
        assert_eq!(pattern_of_path("/kafka-acl-changes/acl_changes_0000000001"), None);
        assert_eq!(pattern_of_path("/kafka-acl/Bogus/x"), None);
        assert_eq!(lit.change_notification(), (LITERAL_CHANGES, b"TransactionalId:tx-1".to_vec()));
        let (root, data) = pre.change_notification();
        assert_eq!(root, EXTENDED_CHANGES);
        assert_eq!(
            String::from_utf8(data).unwrap(),
            r#"{"version":1,"resourceType":"TOPIC","name":"orders-","patternType":"PREFIXED"}"#
        );
    }
}
