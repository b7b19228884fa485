//! Dynamic configuration changes (AlterConfigs, IncrementalAlterConfigs,
//! `kafka-configs`): which broker keys may change at run time and at which
//! level, and how incremental operations (SET, DELETE, APPEND, SUBTRACT) turn
//! a stored override set into a new one. Pure: the broker handlers and the
//! `--zookeeper` tool path both call it before writing ZooKeeper, so a change
//! is refused the same way whichever way it arrives.
//!
//! Topic overrides are validated by [`super::validate_topic_configs`]; this
//! module adds the broker rules (Kafka's `DynamicBrokerConfig.validateConfigs`):
//! a key Kafka cannot change at run time is refused (`Cannot update these
//! configs dynamically: Set(…)`), listener and keystore keys only per broker,
//! keystore/truststore keys only with a `listener.name.<l>.` prefix, every value
//! checked by type and range.

use std::collections::BTreeMap;

use super::broker::broker_key;
use super::value::{self, split_list, ValueType};
use super::ConfigError;

/// Keys Kafka keeps per broker (these and the keystore keys below): refused
/// on the cluster-wide default resource.
const PER_BROKER_KEYS: &[&str] = &["listeners", "advertised.listeners", "listener.security.protocol.map"];

/// Keystore and truststore keys: dynamic only with a listener prefix.
const LISTENER_ONLY_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
];

/// `listener.name.<listener>.<config>`.
fn listener_prefixed(key: &str) -> bool {
    key.strip_prefix("listener.name.")
        .is_some_and(|rest| rest.split_once('.').is_some_and(|(l, c)| !l.is_empty() && !c.is_empty()))
}

/// Checks a complete dynamic config set for one broker (`per_broker`) or for
/// the cluster-wide default, in Kafka's order: non-dynamic keys, unprefixed
/// security keys, then every value, then (default only) per-broker keys.
pub fn validate_dynamic_broker_configs(
    configs: &BTreeMap<String, String>,
    per_broker: bool,
) -> Result<(), ConfigError> {
    for key in configs.keys() {
        if broker_key(key).is_none() && !listener_prefixed(key) {
            return Err(ConfigError::UnknownBrokerConfig(key.clone()));
        }
    }
    let names =
        |test: &dyn Fn(&str) -> bool| -> Vec<String> { configs.keys().filter(|k| test(k.as_str())).cloned().collect() };
    let fixed = names(&|k| broker_key(k).is_some_and(|d| !d.dynamic));
    if !fixed.is_empty() {
        return Err(ConfigError::NotDynamic(fixed));
    }
    let unprefixed = names(&|k| LISTENER_ONLY_KEYS.contains(&k));
    if !unprefixed.is_empty() {
        return Err(ConfigError::ListenerPrefixOnly(unprefixed));
    }
    for (key, raw) in configs {
        if let Some(def) = broker_key(key) {
            value::parse(def, raw)?;
        }
    }
    if !per_broker {
        let per = names(&|k| PER_BROKER_KEYS.contains(&k) || LISTENER_ONLY_KEYS.contains(&k) || listener_prefixed(k));
        if !per.is_empty() {
            return Err(ConfigError::PerBrokerOnly(per));
        }
    }
    Ok(())
}

/// Whether a broker key takes a list; `None` for an unknown key.
pub fn is_broker_list_key(name: &str) -> Option<bool> {
    broker_key(name).map(|d| d.ty == ValueType::List)
}

/// One IncrementalAlterConfigs operation on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String),
    Delete,
    /// Adds list items not present yet.
    Append(String),
    /// Removes list items.
    Subtract(String),
}

impl AlterOp {
    /// From the wire: operation 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
    /// `None` for an unknown operation; a missing value counts as empty.
    pub fn from_wire(op: i8, value: Option<&str>) -> Option<AlterOp> {
        let v = value.unwrap_or("").to_string();
        Some(match op {
            0 => AlterOp::Set(v),
            1 => AlterOp::Delete,
            2 => AlterOp::Append(v),
            3 => AlterOp::Subtract(v),
            _ => return None,
        })
    }

    /// The wire code.
    pub fn wire(&self) -> i8 {
        match self {
            AlterOp::Set(_) => 0,
            AlterOp::Delete => 1,
            AlterOp::Append(_) => 2,
            AlterOp::Subtract(_) => 3,
        }
    }

    /// The value sent with the operation (empty for DELETE).
    pub fn value(&self) -> Option<&str> {
        match self {
            AlterOp::Set(v) | AlterOp::Append(v) | AlterOp::Subtract(v) => Some(v),
            AlterOp::Delete => None,
        }
    }
}

/// Applies incremental operations to a stored override set, as Kafka does:
/// APPEND starts from the stored value, else the effective one (`current_of`),
/// and adds the items not present; SUBTRACT removes items from the stored value.
/// Both need a list key (`is_list`: `Some(true)`); unknown keys are left for
/// the validation that follows to refuse.
pub fn apply_incremental(
    stored: &BTreeMap<String, String>,
    ops: &[(String, AlterOp)],
    is_list: impl Fn(&str) -> Option<bool>,
    current_of: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = stored.clone();
    for (key, op) in ops {
        match op {
            AlterOp::Set(v) => {
                out.insert(key.clone(), v.clone());
            }
            AlterOp::Delete => {
                out.remove(key);
            }
            AlterOp::Append(v) | AlterOp::Subtract(v) => {
                let name = if matches!(op, AlterOp::Append(_)) { "append" } else { "subtract" };
                if is_list(key) == Some(false) {
                    return Err(ConfigError::ListOpNotAllowed { op: name, key: key.clone() });
                }
                let given = split_list(v);
                let items = if matches!(op, AlterOp::Append(_)) {
                    let mut items = split_list(&out.get(key).cloned().or_else(|| current_of(key)).unwrap_or_default());
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                    items
                } else {
                    let mut items = split_list(out.get(key).map_or("", String::as_str));
                    items.retain(|i| !given.contains(i));
                    items
                };
                out.insert(key.clone(), items.join(","));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn broker_validation_follows_kafka() {
        assert!(validate_dynamic_broker_configs(&map(&[("log.retention.ms", "1000")]), true).is_ok());
        assert!(
            validate_dynamic_broker_configs(&map(&[("follower.replication.throttled.rate", "1024")]), false).is_ok()
        );
        let err = validate_dynamic_broker_configs(&map(&[("log.dirs", "/x"), ("broker.id", "3")]), true).unwrap_err();
        assert_eq!(err.to_string(), "Cannot update these configs dynamically: Set(broker.id, log.dirs)");
        let err = validate_dynamic_broker_configs(&map(&[("zookeeper.connect", "h:1")]), false).unwrap_err();
        assert!(matches!(err, ConfigError::NotDynamic(_)));
        let err = validate_dynamic_broker_configs(&map(&[("log.retention.ms", "soon")]), true).unwrap_err();
        assert_eq!(err.to_string(), "Invalid value soon for configuration log.retention.ms: Not a number of type LONG");
        let err = validate_dynamic_broker_configs(&map(&[("no.such.key", "1")]), true).unwrap_err();
        assert_eq!(err.to_string(), "Unknown broker config name: no.such.key");
        let err = validate_dynamic_broker_configs(&map(&[("ssl.keystore.location", "/k")]), true).unwrap_err();
        assert!(matches!(err, ConfigError::ListenerPrefixOnly(_)), "{err}");
        let listener = map(&[("listener.name.plaintext.ssl.keystore.location", "/k")]);
        assert!(validate_dynamic_broker_configs(&listener, true).is_ok());
        let err = validate_dynamic_broker_configs(&listener, false).unwrap_err();
        assert!(err.to_string().starts_with("Cannot update these configs at default cluster level"), "{err}");
    }

    #[test]
    fn incremental_operations() {
        let stored = map(&[("retention.ms", "1000"), ("cleanup.policy", "delete")]);
        let list = |k: &str| crate::config::topic::is_list_key(k);
        let out = apply_incremental(
            &stored,
            &[
                ("retention.ms".into(), AlterOp::Delete),
                ("cleanup.policy".into(), AlterOp::Append("compact".into())),
                ("segment.bytes".into(), AlterOp::Set("1048576".into())),
            ],
            list,
            |_| None,
        )
        .unwrap();
        assert_eq!(out, map(&[("cleanup.policy", "delete,compact"), ("segment.bytes", "1048576")]));
        let out =
            apply_incremental(&out, &[("cleanup.policy".into(), AlterOp::Subtract("delete".into()))], list, |_| None)
                .unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("compact"));
        // APPEND to an unset list starts from the effective value.
        let out = apply_incremental(
            &BTreeMap::new(),
            &[("cleanup.policy".into(), AlterOp::Append("compact".into()))],
            list,
            |_| Some("delete".into()),
        )
        .unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("delete,compact"));
        let err = apply_incremental(&stored, &[("retention.ms".into(), AlterOp::Append("1".into()))], list, |_| None)
            .unwrap_err();
        assert_eq!(err.to_string(), "Config value append is not allowed for config key: retention.ms");
        assert_eq!(AlterOp::from_wire(2, Some("x")), Some(AlterOp::Append("x".into())));
        assert_eq!(AlterOp::from_wire(9, None), None);
    }
}
