//! Client quota entities as Kafka stores them in ZooKeeper: `/config/clients/<client-id>`,
//! `/config/users/<user>` and `/config/users/<user>/clients/<client-id>`, with `<default>`
//! standing for "every user" / "every client id" and names sanitized (URL-encoded, Kafka's
//! `Sanitizer`). The znode data is the usual `{"version":1,"config":{…}}`; a user's znode
//! also holds SCRAM credentials, which quota writes keep.
//!
//! Pure: names, paths and the precedence of entities. Reading and watching the znodes is
//! `sync.rs`'s job; the cache keeps the quota keys of every entity (`ClusterView::quotas`).

use std::collections::BTreeMap;

use crate::security::scram::{desanitize_user, sanitize_user};

/// The node name Kafka uses for "every user" / "every client id".
pub const DEFAULT_NODE: &str = "<default>";

/// The quota keys Kafka knows (ZooKeeper mode).
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const QUOTA_KEYS: [&str; 3] = [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE];

/// One side of a quota entity: a named user/client id or the default.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaName {
    Default,
    Named(String),
}

impl QuotaName {
    /// From a znode name (`<default>` or a sanitized name); `None` when it does not decode.
    pub fn from_node(node: &str) -> Option<QuotaName> {
        if node == DEFAULT_NODE {
            Some(QuotaName::Default)
        } else {
            desanitize_user(node).map(QuotaName::Named)
        }
    }

    /// The znode name.
    pub fn node(&self) -> String {
        match self {
            QuotaName::Default => DEFAULT_NODE.to_string(),
            QuotaName::Named(n) => sanitize_user(n),
        }
    }

    /// The name as the protocol carries it (`None` for the default).
    pub fn name(&self) -> Option<&str> {
        match self {
            QuotaName::Default => None,
            QuotaName::Named(n) => Some(n),
        }
    }
}

/// A quota entity: a user, a client id, or both (at least one is set).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    pub user: Option<QuotaName>,
    pub client: Option<QuotaName>,
}

impl QuotaEntity {
    pub fn client(name: QuotaName) -> QuotaEntity {
        QuotaEntity { user: None, client: Some(name) }
    }

    pub fn user(name: QuotaName) -> QuotaEntity {
        QuotaEntity { user: Some(name), client: None }
    }

    /// The entity path under `/config` as change notifications name it:
    /// `clients/<c>`, `users/<u>` or `users/<u>/clients/<c>`; `None` for an empty entity.
    pub fn entity_path(&self) -> Option<String> {
        match (&self.user, &self.client) {
            (Some(u), Some(c)) => Some(format!("users/{}/clients/{}", u.node(), c.node())),
            (Some(u), None) => Some(format!("users/{}", u.node())),
            (None, Some(c)) => Some(format!("clients/{}", c.node())),
            (None, None) => None,
        }
    }

    /// The znode path (`/config/…`).
    pub fn znode_path(&self) -> Option<String> {
        self.entity_path().map(|p| format!("/config/{p}"))
    }

    /// The entity a `/config/...` path names (chroot-relative), if it is a quota entity.
    pub fn from_path(path: &str) -> Option<QuotaEntity> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["config", "clients", c] => Some(QuotaEntity::client(QuotaName::from_node(c)?)),
            ["config", "users", u] => Some(QuotaEntity::user(QuotaName::from_node(u)?)),
            ["config", "users", u, "clients", c] => {
                Some(QuotaEntity { user: Some(QuotaName::from_node(u)?), client: Some(QuotaName::from_node(c)?) })
            }
            _ => None,
        }
    }
}

/// The quota values of one entity, only Kafka's quota keys, parsed.
pub type QuotaValues = BTreeMap<String, f64>;

/// Keeps the quota keys of a config map (other keys, SCRAM credentials, are dropped);
/// a value that is not a number is left out.
pub fn quota_values(config: &BTreeMap<String, String>) -> QuotaValues {
    config
        .iter()
        .filter(|(k, _)| QUOTA_KEYS.contains(&k.as_str()))
        .filter_map(|(k, v)| v.trim().parse::<f64>().ok().map(|v| (k.clone(), v)))
        .collect()
}

/// The entities whose quota applies to (`user`, `client_id`), most specific first, as
/// Kafka's precedence orders them: user+client, user+default-client, user,
/// default-user+client, default-user+default-client, default-user, client, default-client.
pub fn precedence(user: &str, client_id: &str) -> [QuotaEntity; 8] {
    let u = || Some(QuotaName::Named(user.to_string()));
    let c = || Some(QuotaName::Named(client_id.to_string()));
    let du = || Some(QuotaName::Default);
    let dc = || Some(QuotaName::Default);
    [
        QuotaEntity { user: u(), client: c() },
        QuotaEntity { user: u(), client: dc() },
        QuotaEntity { user: u(), client: None },
        QuotaEntity { user: du(), client: c() },
        QuotaEntity { user: du(), client: dc() },
        QuotaEntity { user: du(), client: None },
        QuotaEntity { user: None, client: c() },
        QuotaEntity { user: None, client: dc() },
    ]
}

/// The quota `key` for (`user`, `client_id`): the value of the most specific entity that
/// sets it, with that entity (the one whose sensors Kafka shares between its clients).
pub fn resolve(
    quotas: &BTreeMap<QuotaEntity, QuotaValues>,
    user: &str,
    client_id: &str,
    key: &str,
) -> Option<(QuotaEntity, f64)> {
    precedence(user, client_id).into_iter().find_map(|e| {
        let v = quotas.get(&e)?.get(key).copied()?;
        Some((e, v))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let e = QuotaEntity { user: Some(QuotaName::Named("alice@x y".into())), client: Some(QuotaName::Default) };
        let path = e.znode_path().unwrap();
        assert_eq!(path, "/config/users/alice%40x%20y/clients/<default>");
        assert_eq!(QuotaEntity::from_path(&path), Some(e));
        assert_eq!(
            QuotaEntity::from_path("/config/clients/slow"),
            Some(QuotaEntity::client(QuotaName::Named("slow".into())))
        );
        assert_eq!(QuotaEntity::from_path("/config/topics/t"), None);
    }

    #[test]
    fn most_specific_wins() {
        let mut q = BTreeMap::new();
        let set = |q: &mut BTreeMap<QuotaEntity, QuotaValues>, e: QuotaEntity, v: f64| {
            q.insert(e, [(PRODUCER_BYTE_RATE.to_string(), v)].into_iter().collect());
        };
        set(&mut q, QuotaEntity::client(QuotaName::Default), 1.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 1.0);
        set(&mut q, QuotaEntity::client(QuotaName::Named("c".into())), 2.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 2.0);
        set(&mut q, QuotaEntity::user(QuotaName::Default), 3.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 3.0);
        set(&mut q, QuotaEntity { user: Some(QuotaName::Default), client: Some(QuotaName::Named("c".into())) }, 4.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 4.0);
        set(&mut q, QuotaEntity::user(QuotaName::Named("u".into())), 5.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 5.0);
        set(&mut q, QuotaEntity { user: Some(QuotaName::Named("u".into())), client: Some(QuotaName::Default) }, 6.0);
        assert_eq!(resolve(&q, "u", "c", PRODUCER_BYTE_RATE).unwrap().1, 6.0);
        assert_eq!(resolve(&q, "v", "c", PRODUCER_BYTE_RATE).unwrap().1, 4.0);
        assert!(resolve(&q, "u", "c", CONSUMER_BYTE_RATE).is_none());
    }
}
