//! Client quotas in `configs` (kafka-configs.sh): `--entity-type clients|users` with
//! `--entity-name`/`--entity-default` (both types together for a user's client id),
//! or `--client`, `--client-defaults`, `--user`, `--user-defaults`; keys
//! `producer_byte_rate`, `consumer_byte_rate`, `request_percentage`.
//!
//! With `--bootstrap-server` it uses DescribeClientQuotas / AlterClientQuotas and
//! prints Kafka's lines (`Quota configs for client-id 'c' are producer_byte_rate=1024.0`,
//! `the default client-id`, `Completed updating config for client c.`). With
//! `--zookeeper` it reads and writes the quota znodes with their change notifications
//! (`Configs for client-id 'c' are producer_byte_rate=1024`), keeping a user's SCRAM
//! credentials.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::ArgMatches;

use crate::client::{Admin, QuotaEntity as AdminEntity, QuotaMatch};
use crate::metadata::admin::ZkAdmin;
use crate::metadata::quotas::{self as mq, QuotaEntity, QuotaName};

/// One side of the entity as the flags name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Named(String),
    Default,
    /// Describe only: every entity of the type.
    All,
}

/// The entity: user side and client side (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<Side>,
    pub client: Option<Side>,
}

/// Whether the flags name a quota entity (anything with clients, a default user, or
/// the user/client shortcuts); `Err` is a usage message.
pub fn target(m: &ArgMatches) -> Result<Option<Target>, String> {
    let user_flag = m.get_one::<String>("user").cloned();
    let client_flag = m.get_one::<String>("client").cloned();
    let user_defaults = m.get_flag("user-defaults");
    let client_defaults = m.get_flag("client-defaults");
    let types: Vec<(usize, String)> = indexed(m, "entity-type");
    let shortcut_user = user_flag.is_some() || user_defaults;
    let shortcut_client = client_flag.is_some() || client_defaults;
    if shortcut_client || user_defaults {
        if !types.is_empty() {
            return Err(
                "--entity-type cannot be combined with --client, --client-defaults, --user or --user-defaults".into()
            );
        }
        if user_flag.is_some() && user_defaults || client_flag.is_some() && client_defaults {
            return Err("Only one of --user/--user-defaults and one of --client/--client-defaults may be given".into());
        }
        let user = user_flag.map(Side::Named).or(user_defaults.then_some(Side::Default));
        let client = client_flag.map(Side::Named).or(client_defaults.then_some(Side::Default));
        return Ok(Some(Target { user, client }));
    }
    if shortcut_user {
        return Ok(None);
    }
    let wanted = types.iter().any(|(_, t)| t == "clients")
        || (types.iter().any(|(_, t)| t == "users") && (m.get_count("entity-default") > 0 || types.len() > 1));
    if !wanted {
        return Ok(None);
    }
    // Pair each --entity-type with the --entity-name / --entity-default that follows it.
    let names = indexed(m, "entity-name");
    // A flag that was not given still has an index (its default value's): only real occurrences count.
    let defaults: Vec<usize> = if m.get_count("entity-default") > 0 {
        m.indices_of("entity-default").map(Iterator::collect).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut target = Target { user: None, client: None };
    for (i, (at, kind)) in types.iter().enumerate() {
        let next = types.get(i + 1).map_or(usize::MAX, |(n, _)| *n);
        let name = names.iter().find(|(n, _)| *n > *at && *n < next).map(|(_, v)| Side::Named(v.clone()));
        let default = defaults.iter().any(|d| *d > *at && *d < next).then_some(Side::Default);
        let side = match (name, default) {
            (Some(_), Some(_)) => return Err("Only one of --entity-name or --entity-default may be given".into()),
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => Side::All,
        };
        let slot = match kind.as_str() {
            "users" => &mut target.user,
            "clients" => &mut target.client,
            other => return Err(format!("--entity-type {other} cannot be combined with users or clients")),
        };
        if slot.is_some() {
            return Err(format!("--entity-type {kind} is given twice"));
        }
        *slot = Some(side);
    }
    Ok(Some(target))
}

fn indexed(m: &ArgMatches, id: &str) -> Vec<(usize, String)> {
    match (m.indices_of(id), m.get_many::<String>(id)) {
        (Some(i), Some(v)) => i.zip(v.cloned()).collect(),
        _ => Vec::new(),
    }
}

impl Target {
    /// The entity to alter (every side named or default).
    fn entity(&self) -> Option<QuotaEntity> {
        let side = |s: &Option<Side>| -> Result<Option<QuotaName>, ()> {
            match s {
                None => Ok(None),
                Some(Side::Named(n)) => Ok(Some(QuotaName::Named(n.clone()))),
                Some(Side::Default) => Ok(Some(QuotaName::Default)),
                Some(Side::All) => Err(()),
            }
        };
        Some(QuotaEntity { user: side(&self.user).ok()?, client: side(&self.client).ok()? })
    }

    fn admin_entity(&self) -> AdminEntity {
        let mut out = Vec::new();
        for (t, s) in [("user", &self.user), ("client-id", &self.client)] {
            match s {
                Some(Side::Named(n)) => out.push((t.to_string(), Some(n.clone()))),
                Some(Side::Default) => out.push((t.to_string(), None)),
                _ => {}
            }
        }
        out
    }

    /// `users` / `clients` and the name, for Kafka's completion line.
    fn head(&self) -> (&'static str, String) {
        match (&self.user, &self.client) {
            (Some(s), _) => ("users", name_of(s)),
            (None, Some(s)) => ("clients", name_of(s)),
            (None, None) => ("clients", String::new()),
        }
    }
}

fn name_of(s: &Side) -> String {
    match s {
        Side::Named(n) => n.clone(),
        _ => String::new(),
    }
}

/// Java's `Double.toString`, as Kafka prints quota values: `1024.0`, `12.5`, `1.048576E7`.
pub fn java_double(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e7) {
        let s = format!("{v:?}");
        if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// Kafka's `--zookeeper` name of a quota entity: `client-id 'c'`,
/// `user-principal 'u', client-id 'c'`, `default client-id`.
fn zk_entity_name(entity: &QuotaEntity) -> String {
    let side = |t: &str, n: &QuotaName| match n {
        QuotaName::Default => format!("default {t}"),
        QuotaName::Named(n) => format!("{t} '{n}'"),
    };
    let mut parts = Vec::new();
    parts.extend(entity.user.as_ref().map(|n| side("user-principal", n)));
    parts.extend(entity.client.as_ref().map(|n| side("client-id", n)));
    parts.join(", ")
}

/// Checks a value the way Kafka's quota config definitions do, for `--zookeeper`
/// (the broker checks what comes over `--bootstrap-server`).
pub fn zk_value(key: &str, value: &str) -> anyhow::Result<String> {
    if !mq::QUOTA_KEYS.contains(&key) {
        bail!("Unknown Dynamic Configuration '{key}'.");
    }
    let long = key != mq::REQUEST_PERCENTAGE;
    let parsed =
        if long { value.trim().parse::<i64>().map(|v| v as f64).ok() } else { value.trim().parse::<f64>().ok() };
    let Some(v) = parsed.filter(|v| v.is_finite()) else {
        let t = if long { "LONG" } else { "DOUBLE" };
        bail!("Invalid value {value} for configuration {key}: Not a number of type {t}");
    };
    if v <= 0.0 {
        bail!("Invalid value {value} for configuration {key}: Value must be positive");
    }
    Ok(value.trim().to_string())
}

/// Parses the added values as Kafka's tool does before sending them.
fn parse_values(adds: &BTreeMap<String, String>) -> anyhow::Result<Vec<(String, Option<f64>)>> {
    adds.iter()
        .map(|(k, v)| match v.trim().parse::<f64>() {
            Ok(d) => Ok((k.clone(), Some(d))),
            Err(_) => bail!("Cannot parse quota configuration value for {k}: {v}"),
        })
        .collect()
}

pub async fn alter_via_admin(
    admin: &Admin,
    target: &Target,
    adds: &BTreeMap<String, String>,
    deletes: &[String],
) -> anyhow::Result<()> {
    if target.entity().is_none() {
        bail!("an entity name or --entity-default must be specified with --alter of users and clients");
    }
    let entity = target.admin_entity();
    let mut ops = parse_values(adds)?;
    if !deletes.is_empty() {
        // As Kafka's tool: what is deleted must be set now.
        let components: Vec<(String, QuotaMatch)> =
            entity.iter().map(|(t, n)| (t.clone(), n.clone().map_or(QuotaMatch::Default, QuotaMatch::Exact))).collect();
        let current = admin.describe_client_quotas(&components, true).await?;
        let set: Vec<&String> = current.iter().flat_map(|(_, v)| v.iter().map(|(k, _)| k)).collect();
        let invalid: Vec<&str> = deletes.iter().filter(|d| !set.contains(d)).map(String::as_str).collect();
        if !invalid.is_empty() {
            bail!("Invalid config(s): {}", invalid.join(","));
        }
        ops.extend(deletes.iter().map(|d| (d.clone(), None)));
    }
    for (entity, outcome) in admin.alter_client_quotas(&[(entity, ops)], false).await? {
        if let Err(e) = outcome {
            bail!("{e} ({})", crate::client::admin_quotas::describe_entity(&entity));
        }
    }
    let (kind, name) = target.head();
    if name.is_empty() {
        println!("Completed updating default config for {kind} in the cluster.");
    } else {
        println!("Completed updating config for {} {name}.", kind.trim_end_matches('s'));
    }
    Ok(())
}

pub async fn describe_via_admin(admin: &Admin, target: &Target) -> anyhow::Result<()> {
    let mut components = Vec::new();
    for (t, s) in [("user", &target.user), ("client-id", &target.client)] {
        match s {
            Some(Side::Named(n)) => components.push((t.to_string(), QuotaMatch::Exact(n.clone()))),
            Some(Side::Default) => components.push((t.to_string(), QuotaMatch::Default)),
            Some(Side::All) => components.push((t.to_string(), QuotaMatch::Any)),
            None => {}
        }
    }
    let mut entries = admin.describe_client_quotas(&components, true).await?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (entity, mut values) in entries {
        values.sort_by(|a, b| a.0.cmp(&b.0));
        let values: Vec<String> = values.iter().map(|(k, v)| format!("{k}={}", java_double(*v))).collect();
        println!(
            "Quota configs for {} are {}",
            crate::client::admin_quotas::describe_entity(&entity),
            values.join(", ")
        );
    }
    Ok(())
}

pub async fn zk_alter(
    admin: &ZkAdmin,
    target: &Target,
    adds: &BTreeMap<String, String>,
    deletes: &[String],
) -> anyhow::Result<()> {
    let Some(entity) = target.entity() else {
        bail!("an entity name or --entity-default must be specified with --alter of users and clients");
    };
    let mut config = admin.quota_entity_config(&entity).await?.unwrap_or_default();
    let invalid: Vec<&str> = deletes.iter().filter(|d| !config.contains_key(*d)).map(String::as_str).collect();
    if !invalid.is_empty() {
        bail!("Invalid config(s): {}", invalid.join(","));
    }
    for (k, v) in adds {
        config.insert(k.clone(), zk_value(k, v)?);
    }
    for d in deletes {
        config.remove(d);
    }
    admin.ensure_startup_paths().await?;
    admin.set_quota_config(&entity, &config).await?;
    println!("Completed Updating config for entity: {}.", zk_entity_name(&entity));
    Ok(())
}

pub async fn zk_describe(admin: &ZkAdmin, target: &Target) -> anyhow::Result<()> {
    let pass = |side: &Option<Side>, n: &Option<QuotaName>| match (side, n) {
        (None, None) => true,
        (Some(Side::All), Some(_)) => true,
        (Some(Side::Default), Some(QuotaName::Default)) => true,
        (Some(Side::Named(a)), Some(QuotaName::Named(b))) => a == b,
        _ => false,
    };
    for (entity, _) in admin.all_quotas().await? {
        if !(pass(&target.user, &entity.user) && pass(&target.client, &entity.client)) {
            continue;
        }
        let config = admin.quota_entity_config(&entity).await?.unwrap_or_default();
        let shown: Vec<String> = config
            .iter()
            .filter(|(k, _)| mq::QUOTA_KEYS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("Configs for {} are {}", zk_entity_name(&entity), shown.join(","));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(1024.0), "1024.0");
        assert_eq!(java_double(12.5), "12.5");
        assert_eq!(java_double(10485760.0), "1.048576E7");
        assert_eq!(java_double(1e7), "1.0E7");
    }

    #[test]
    fn zookeeper_values_are_checked() {
        assert_eq!(zk_value("producer_byte_rate", "1024").unwrap(), "1024");
        assert!(zk_value("producer_byte_rate", "abc").unwrap_err().to_string().contains("Not a number of type LONG"));
        assert!(zk_value("producer_byte_rate", "-5").is_err());
        assert_eq!(zk_value("bogus", "1").unwrap_err().to_string(), "Unknown Dynamic Configuration 'bogus'.");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod target_tests {
    use super::*;

    fn target_of(args: &[&str]) -> Result<Option<Target>, String> {
        let mut all = vec!["configs", "--describe"];
        all.extend_from_slice(args);
        target(&super::super::command().try_get_matches_from(all).unwrap())
    }

    #[test]
    fn entity_types_pair_with_the_names_that_follow_them() {
        let named = |n: &str| Some(Side::Named(n.into()));
        assert_eq!(
            target_of(&["--entity-type", "clients", "--entity-name", "c"]).unwrap(),
            Some(Target { user: None, client: named("c") })
        );
        assert_eq!(
            target_of(&[
                "--entity-type",
                "users",
                "--entity-name",
                "u",
                "--entity-type",
                "clients",
                "--entity-default"
            ])
            .unwrap(),
            Some(Target { user: named("u"), client: Some(Side::Default) })
        );
        assert_eq!(
            target_of(&[
                "--entity-type",
                "users",
                "--entity-default",
                "--entity-type",
                "clients",
                "--entity-name",
                "c"
            ])
            .unwrap(),
            Some(Target { user: Some(Side::Default), client: named("c") })
        );
        assert_eq!(target_of(&["--user-defaults"]).unwrap(), Some(Target { user: Some(Side::Default), client: None }));
        assert_eq!(
            target_of(&["--user", "u", "--client", "c"]).unwrap(),
            Some(Target { user: named("u"), client: named("c") })
        );
        assert_eq!(
            target_of(&["--entity-type", "clients"]).unwrap(),
            Some(Target { user: None, client: Some(Side::All) })
        );
        assert_eq!(target_of(&["--user", "u"]).unwrap(), None, "a user alone goes the users way");
        assert_eq!(target_of(&["--entity-type", "topics", "--entity-name", "t"]).unwrap(), None);
    }
}
