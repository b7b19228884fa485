//! The broker's ACL authorizer (Kafka's `AclAuthorizer`): whether it is on,
//! its policy (`super.users`, `allow.everyone.if.no.acl.found`) and the
//! decision with Kafka's authorizer log lines.
//!
//! # Configuration
//! - `authorizer.class.name`: empty (the default) runs without an
//!   authorizer — every request is allowed and the ACL APIs answer
//!   SECURITY_DISABLED, as Kafka does. `kafka.security.authorizer.AclAuthorizer`,
//!   its old name `kafka.security.auth.SimpleAclAuthorizer`, or gregor's short
//!   `acl` turn it on; any other class is a startup error naming the key.
//! - `super.users`: `;`-separated principals allowed everything, e.g.
//!   `User:admin;User:CN=broker0`.
//! - `allow.everyone.if.no.acl.found` (default false): a resource without
//!   any ACL is open to everyone.
//!
//! Brokers talk to each other with requests that need Cluster:ClusterAction
//! (follower fetches, WriteTxnMarkers, ControlledShutdown): with an
//! authorizer on, put the brokers' principals in `super.users` (or grant them
//! ClusterAction), as with Kafka.
//!
//! The ACLs themselves live in ZooKeeper and in the metadata cache
//! (`metadata::acls`); the authorizer only decides over a snapshot of them,
//! so a check takes no lock and does no I/O.

use std::net::IpAddr;

use super::acl::{AclOperation, AclTable, Policy, ResourceType};
use crate::config::{BrokerConfig, ConfigError};

/// The `authorizer.class.name` values that turn the ACL authorizer on.
pub const AUTHORIZER_CLASS_NAMES: &[&str] =
    &["kafka.security.authorizer.AclAuthorizer", "kafka.security.auth.SimpleAclAuthorizer", "acl"];

/// The ACL authorizer of a broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorizer {
    policy: Policy,
}

impl Authorizer {
    pub fn new(policy: Policy) -> Authorizer {
        Authorizer { policy }
    }

    /// The authorizer `config` asks for; `None` without `authorizer.class.name`.
    pub fn from_config(config: &BrokerConfig) -> Result<Option<Authorizer>, ConfigError> {
        let class = config.value_of("authorizer.class.name").unwrap_or_default();
        let class = class.trim();
        if class.is_empty() {
            return Ok(None);
        }
        if !AUTHORIZER_CLASS_NAMES.contains(&class) {
            return Err(ConfigError::InvalidValue {
                key: "authorizer.class.name".into(),
                value: class.into(),
                reason: format!(
                    "gregor's only authorizer is the ACL authorizer: use {} (or leave it empty for none)",
                    AUTHORIZER_CLASS_NAMES.join(", ")
                ),
            });
        }
        let super_users = Policy::parse_super_users(&config.value_of("super.users").unwrap_or_default());
        for user in &super_users {
            if !user.split_once(':').is_some_and(|(t, n)| !t.is_empty() && !n.is_empty()) {
                return Err(ConfigError::InvalidValue {
                    key: "super.users".into(),
                    value: user.clone(),
                    reason: "expected principals of the form Type:name separated by ';', e.g. User:admin".into(),
                });
            }
        }
        let allow_if_no_acl = config.value_of("allow.everyone.if.no.acl.found").is_some_and(|v| v == "true");
        Ok(Some(Authorizer { policy: Policy { super_users, allow_if_no_acl } }))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Kafka's decision, logged like Kafka's `kafka.authorizer.logger`:
    /// denials at debug, grants at trace.
    pub fn authorize(
        &self,
        acls: &AclTable,
        principal: &str,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let allowed = acls.authorize(&self.policy, principal, host, operation, resource_type, name);
        if allowed {
            tracing::trace!(
                target: "kafka.authorizer.logger",
                "Principal = {principal} is Allowed Operation = {operation} from host = {host} on resource = {}:LITERAL:{name}",
                resource_type.pascal()
            );
        } else {
            tracing::debug!(
                target: "kafka.authorizer.logger",
                "Principal = {principal} is Denied Operation = {operation} from host = {host} on resource = {}:LITERAL:{name}",
                resource_type.pascal()
            );
        }
        allowed
    }

    /// The authorized-operations bitfield of a resource for `principal`.
    pub fn authorized_operations(
        &self,
        acls: &AclTable,
        principal: &str,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        acls.authorized_operations(&self.policy, principal, host, resource_type, name)
    }
}

/// Kafka's authorized-operations value when they were not asked for.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// One request's authorization: who asks, from where, against one snapshot
/// of the ACLs. Handlers take this narrow handle instead of the authorizer;
/// without an authorizer it allows everything at the cost of an `Option`
/// check (no principal string, no ACL snapshot is made).
pub struct Authz<'a> {
    checker: Option<Checker<'a>>,
}

struct Checker<'a> {
    authorizer: &'a Authorizer,
    acls: std::sync::Arc<AclTable>,
    principal: String,
    host: IpAddr,
}

impl<'a> Authz<'a> {
    /// Allows everything (no authorizer).
    pub fn allow_all() -> Authz<'static> {
        Authz { checker: None }
    }

    /// The handle of a request from `principal` at `host`; `acls` is asked
    /// for a snapshot only when there is an authorizer.
    pub fn new(
        authorizer: Option<&'a Authorizer>,
        acls: impl FnOnce() -> std::sync::Arc<AclTable>,
        principal: &impl std::fmt::Display,
        host: IpAddr,
    ) -> Authz<'a> {
        Authz {
            checker: authorizer.map(|authorizer| Checker {
                authorizer,
                acls: acls(),
                principal: principal.to_string(),
                host,
            }),
        }
    }

    /// Whether an authorizer decides (false: everything is allowed).
    pub fn enabled(&self) -> bool {
        self.checker.is_some()
    }

    /// May the requester perform `operation` on the resource?
    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        match &self.checker {
            None => true,
            Some(c) => c.authorizer.authorize(&c.acls, &c.principal, c.host, operation, resource_type, name),
        }
    }

    /// `allows` on the cluster resource.
    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, super::acl::CLUSTER_NAME)
    }

    /// `allows` on a topic.
    pub fn topic(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    /// `allows` on a consumer group.
    pub fn group(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Group, name)
    }

    /// `allows` on a transactional id.
    pub fn transactional_id(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, name)
    }

    /// Kafka's authorized-operations bitfield: the resource type's
    /// operations the requester may perform (all of them without an authorizer).
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        match &self.checker {
            None => resource_type
                .supported_operations()
                .iter()
                .filter(|op| **op != AclOperation::All)
                .fold(0, |bits, op| bits | (1 << op.code())),
            Some(c) => c.authorizer.authorized_operations(&c.acls, &c.principal, c.host, resource_type, name),
        }
    }

    /// The requester's principal (`User:ANONYMOUS`…) for log lines; empty without an authorizer.
    pub fn principal(&self) -> &str {
        self.checker.as_ref().map_or("", |c| c.principal.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        let mut text = String::from("log.dirs=/tmp/x\n");
        for (k, v) in pairs {
            text.push_str(&format!("{k}={v}\n"));
        }
        let raw = RawConfig::parse_str(&text).unwrap();
        BrokerConfig::from_raw(raw).unwrap().0
    }

    #[test]
    fn class_names() {
        assert_eq!(Authorizer::from_config(&config(&[])).unwrap(), None);
        for name in AUTHORIZER_CLASS_NAMES {
            assert!(Authorizer::from_config(&config(&[("authorizer.class.name", name)])).unwrap().is_some());
        }
        let err = Authorizer::from_config(&config(&[("authorizer.class.name", "com.example.Custom")])).unwrap_err();
        assert!(err.to_string().contains("authorizer.class.name"), "{err}");
    }

    #[test]
    fn policy_from_config() {
        let a = Authorizer::from_config(&config(&[
            ("authorizer.class.name", "acl"),
            ("super.users", "User:admin;User:CN=broker0"),
            ("allow.everyone.if.no.acl.found", "true"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.policy().super_users, ["User:admin", "User:CN=broker0"]);
        assert!(a.policy().allow_if_no_acl);
        let err = Authorizer::from_config(&config(&[("authorizer.class.name", "acl"), ("super.users", "admin")]))
            .unwrap_err();
        assert!(err.to_string().contains("super.users"), "{err}");
    }
}
