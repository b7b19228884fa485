//! `configs` (kafka-configs.sh, Kafka's `kafka.admin.ConfigCommand`): describe
//! and alter topic overrides, per-broker dynamic configs and the cluster-wide
//! broker default.
//!
//! With `--bootstrap-server` it speaks DescribeConfigs and
//! IncrementalAlterConfigs and prints what Kafka's tool prints
//! (`Dynamic configs for topic t are:`, `  k=v sensitive=false synonyms={…}`,
//! `Completed updating config for topic t.`). With `--zookeeper` (the 0.10
//! form) it reads and writes the config znodes itself, with the change
//! notification brokers and Kafka's tools expect, after the same validation
//! the brokers apply (`Configs for topic 't' are k=v`, `Completed Updating
//! config for entity: topic 't'.`).
//!
//! `--add-config 'k1=v1,k2=[a,b]'` takes Kafka's syntax: commas inside square
//! brackets belong to the value and the brackets are dropped.
//!
//! Users (`--entity-type users --entity-name alice`, or `--user alice`) carry
//! SCRAM credentials: `--add-config 'SCRAM-SHA-256=[iterations=8192,password=…]'`
//! and `--delete-config SCRAM-SHA-512`. With `--bootstrap-server` they go
//! through AlterUserScramCredentials (the client salts and hashes the
//! password) and DescribeUserScramCredentials (`SCRAM credential configs for
//! user-principal 'alice' are SCRAM-SHA-256=iterations=8192`); with
//! `--zookeeper` the credential is derived here and written to
//! `/config/users/<user>` with its change notification — the way to create the
//! brokers' own SCRAM user before they start. Described credentials show the
//! mechanism and iterations only, never salts or keys (Kafka's `--zookeeper`
//! describe printed the stored keys; gregor does not).
//!
//! Client quotas (`--entity-type clients`, users' `producer_byte_rate`,
//! `consumer_byte_rate`, `request_percentage`, `--client`, `--user-defaults`, a
//! user's client id with both entity types) are `quotas.rs`'s. IPs and broker
//! loggers are not supported: asking for them is an error (exit 1). Usage errors
//! exit 2.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};

mod quotas;

use super::common;
use crate::client::{Admin, AlterConfigOp, ClientConfig, ConfigResource, DescribedConfig};
use crate::client::{ScramMechanism, UserScramCredentialAlteration};
use crate::config::dynamic::validate_dynamic_broker_configs;
use crate::config::{validate_topic_configs, ConfigSource};
use crate::metadata::admin::ZkAdmin;
use crate::metadata::znode::DEFAULT_ENTITY;
use crate::security::password::Password;
use crate::security::scram::{
    desanitize_user, sanitize_user, ScramCredential, UserConfigZnode, MAX_ITERATIONS, MIN_ITERATIONS,
};

/// Kafka's default SCRAM iterations when `--add-config` names none.
const DEFAULT_SCRAM_ITERATIONS: u32 = 4096;

const ENTITY_TYPES: &[&str] = &["topics", "brokers", "users", "clients", "ips", "broker-loggers"];

pub fn command() -> Command {
    let cmd = Command::new("configs")
        .about("Describe and alter topic and broker configs (kafka-configs.sh)")
        .arg(Arg::new("describe").long("describe").action(ArgAction::SetTrue).help("List configs for the entity"))
        .arg(Arg::new("alter").long("alter").action(ArgAction::SetTrue).help("Alter the configs of the entity"))
        .group(ArgGroup::new("action").args(["describe", "alter"]).required(true))
        .arg(
            Arg::new("entity-type")
                .long("entity-type")
                .value_name("TYPE")
                .action(ArgAction::Append)
                .help("topics, brokers, users (SCRAM credentials and quotas), clients (quotas)"),
        )
        .arg(
            Arg::new("entity-name")
                .long("entity-name")
                .value_name("NAME")
                .action(ArgAction::Append)
                .help("Name of the entity: a topic name, a broker id or a user name"),
        )
        .arg(
            Arg::new("entity-default")
                .long("entity-default")
                .action(ArgAction::Count)
                .help("The cluster-wide default (brokers: /config/brokers/<default>)"),
        )
        .arg(
            Arg::new("topic")
                .long("topic")
                .value_name("TOPIC")
                .help("The topic (same as --entity-type topics --entity-name TOPIC)"),
        )
        .arg(
            Arg::new("broker")
                .long("broker")
                .value_name("ID")
                .help("The broker (same as --entity-type brokers --entity-name ID)"),
        )
        .arg(
            Arg::new("user")
                .long("user")
                .value_name("USER")
                .help("The user (same as --entity-type users --entity-name USER): SCRAM credentials and quotas"),
        )
        .arg(
            Arg::new("client")
                .long("client")
                .value_name("CLIENT_ID")
                .help("The client id (same as --entity-type clients --entity-name CLIENT_ID): quotas"),
        )
        .arg(
            Arg::new("client-defaults")
                .long("client-defaults")
                .action(ArgAction::SetTrue)
                .help("The default client id's quotas (same as --entity-type clients --entity-default)"),
        )
        .arg(
            Arg::new("user-defaults")
                .long("user-defaults")
                .action(ArgAction::SetTrue)
                .help("The default user's quotas (same as --entity-type users --entity-default)"),
        )
        .arg(
            Arg::new("broker-defaults")
                .long("broker-defaults")
                .action(ArgAction::SetTrue)
                .help("The cluster-wide broker default (same as --entity-type brokers --entity-default)"),
        )
        .arg(
            Arg::new("all")
                .long("all")
                .action(ArgAction::SetTrue)
                .help("With --describe: every config, not only the dynamic ones"),
        )
        .arg(
            Arg::new("add-config")
                .long("add-config")
                .value_name("K1=V1,K2=[V1,V2,V3]")
                .help("Configs to add or change; square brackets group list values"),
        )
        .arg(
            Arg::new("add-config-file")
                .long("add-config-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("A properties file of configs to add or change"),
        )
        .arg(
            Arg::new("delete-config")
                .long("delete-config")
                .value_name("K1,K2")
                .action(ArgAction::Append)
                .help("Configs to remove (they fall back to the next layer)"),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client"));
    common::with_bootstrap(cmd, false)
}

/// The entity a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entity {
    /// `topics`, `brokers` or `users`.
    kind: &'static str,
    /// `None`: every entity of the kind (describe only); `Some("")`: the default.
    name: Option<String>,
}

/// What `entity` stands for once the flags name a quota entity (handled by `quotas`).
const QUOTA_PLACEHOLDER: Entity = Entity { kind: "clients", name: Some(String::new()) };

/// A usage error: printed with exit code 2.
fn usage(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("{message}");
    Ok(ExitCode::from(super::EXIT_USAGE))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let quota_target = match quotas::target(m) {
        Ok(t) => t,
        Err(message) => return usage(message),
    };
    let entity = match quota_target.as_ref().map_or_else(|| entity(m), |_| Ok(Ok(QUOTA_PLACEHOLDER))) {
        Ok(Ok(e)) => e,
        Ok(Err(unsupported)) => {
            bail!("Configs for {unsupported} are not supported: topics, brokers, users and clients are.")
        }
        Err(message) => return usage(message),
    };
    let alter = m.get_flag("alter");
    let adds = match added_configs(m) {
        Ok(a) => a,
        Err(e) => return usage(format!("{e:#}")),
    };
    let deletes: Vec<String> = m
        .get_many::<String>("delete-config")
        .into_iter()
        .flatten()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if alter {
        if entity.name.is_none() {
            return usage(format!("an entity name must be specified with --alter of {}", entity.kind));
        }
        if adds.is_empty() && deletes.is_empty() {
            return usage(
                "At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter",
            );
        }
    } else if !adds.is_empty() || !deletes.is_empty() {
        return usage("--add-config, --add-config-file and --delete-config go with --alter");
    }
    if let Some(dup) = deletes.iter().find(|d| adds.contains_key(*d)) {
        return usage(format!("Invalid entity config: config {dup} is both added and deleted"));
    }
    let zookeeper = m.get_one::<String>("zookeeper").cloned();
    if zookeeper.is_some() && m.contains_id("bootstrap-server") {
        return usage("Only one of --bootstrap-server or --zookeeper must be specified");
    }
    if zookeeper.is_none() && !m.contains_id("bootstrap-server") {
        return usage("One of the required --bootstrap-server or --zookeeper arguments must be specified");
    }
    if zookeeper.is_some() && m.get_flag("all") {
        return usage("--all is only supported with --bootstrap-server");
    }
    if let Some(target) = quota_target.clone() {
        let rt = common::runtime()?;
        return rt.block_on(async {
            match zookeeper {
                Some(zk) => {
                    let admin = ZkAdmin::connect(&zk).await?;
                    if alter {
                        quotas::zk_alter(&admin, &target, &adds, &deletes).await?;
                    } else {
                        quotas::zk_describe(&admin, &target).await?;
                    }
                }
                None => {
                    let bootstrap = common::bootstrap(m)?;
                    let mut config = ClientConfig::new(bootstrap);
                    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
                    let admin = Admin::connect(config).await?;
                    if alter {
                        quotas::alter_via_admin(&admin, &target, &adds, &deletes).await?;
                    } else {
                        quotas::describe_via_admin(&admin, &target).await?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        });
    }
    if entity.kind == "users" {
        // A user's quota keys go the quota way, SCRAM mechanisms the SCRAM way (as Kafka's tool splits them).
        let is_quota = |k: &String| crate::metadata::quotas::QUOTA_KEYS.contains(&k.as_str());
        let quota_adds: BTreeMap<String, String> =
            adds.iter().filter(|(k, _)| is_quota(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let quota_deletes: Vec<String> = deletes.iter().filter(|k| is_quota(k)).cloned().collect();
        let adds: BTreeMap<String, String> = adds.into_iter().filter(|(k, _)| !is_quota(k)).collect();
        let deletes: Vec<String> = deletes.into_iter().filter(|k| !is_quota(k)).collect();
        let user_target = quotas::Target {
            user: Some(entity.name.clone().map_or(quotas::Side::All, quotas::Side::Named)),
            client: None,
        };
        let scram_part = !alter || !adds.is_empty() || !deletes.is_empty();
        let quota_part = !alter || !quota_adds.is_empty() || !quota_deletes.is_empty();
        let changes = scram_changes(&adds, &deletes)?;
        let rt = common::runtime()?;
        return rt.block_on(async {
            match zookeeper {
                Some(zk) => {
                    let admin = ZkAdmin::connect(&zk).await?;
                    if alter {
                        let name = entity.name.clone().unwrap_or_default();
                        if scram_part {
                            zk_alter_scram(&admin, &name, &changes).await?;
                            if !quota_part {
                                println!("Completed Updating config for entity: {}.", zk_entity_name("users", &name));
                            }
                        }
                        if quota_part {
                            quotas::zk_alter(&admin, &user_target, &quota_adds, &quota_deletes).await?;
                        }
                    } else {
                        zk_describe_users(&admin, entity.name.as_deref()).await?;
                    }
                }
                None => {
                    let bootstrap = common::bootstrap(m)?;
                    let mut config = ClientConfig::new(bootstrap);
                    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
                    let admin = Admin::connect(config).await?;
                    if alter {
                        let name = entity.name.clone().unwrap_or_default();
                        if scram_part {
                            alter_scram_via_admin(&admin, &name, changes).await?;
                            if !quota_part {
                                println!("Completed updating config for user {name}.");
                            }
                        }
                        if quota_part {
                            quotas::alter_via_admin(&admin, &user_target, &quota_adds, &quota_deletes).await?;
                        }
                    } else {
                        quotas::describe_via_admin(&admin, &user_target).await?;
                        describe_users_via_admin(&admin, entity.name.as_deref()).await?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        });
    }
    let rt = common::runtime()?;
    rt.block_on(async {
        match zookeeper {
            Some(zk) => {
                let admin = ZkAdmin::connect(&zk).await?;
                if alter {
                    zk_alter(&admin, &entity, adds, &deletes).await?;
                } else {
                    zk_describe(&admin, &entity).await?;
                }
            }
            None => {
                let bootstrap = common::bootstrap(m)?;
                let mut config = ClientConfig::new(bootstrap);
                common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
                let admin = Admin::connect(config).await?;
                if alter {
                    alter_via_admin(&admin, &entity, adds, &deletes).await?;
                } else {
                    describe_via_admin(&admin, &entity, m.get_flag("all")).await?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The entity from the flags: `Err` is a usage message, `Ok(Err(kind))` an
/// entity type that is not supported.
fn entity(m: &ArgMatches) -> Result<Result<Entity, String>, String> {
    let types: Vec<&String> = m.get_many::<String>("entity-type").into_iter().flatten().collect();
    let names: Vec<&String> = m.get_many::<String>("entity-name").into_iter().flatten().collect();
    let default = m.get_count("entity-default") > 0;
    let shortcuts =
        [m.contains_id("topic"), m.contains_id("broker"), m.get_flag("broker-defaults"), m.contains_id("user")];
    let shortcut_count = shortcuts.iter().filter(|s| **s).count();
    if shortcut_count > 0 {
        if !types.is_empty() || !names.is_empty() || default || shortcut_count > 1 {
            return Err("Only one entity can be given: --topic, --broker, --broker-defaults, --user, or --entity-type with --entity-name/--entity-default".into());
        }
        if let Some(t) = m.get_one::<String>("topic") {
            return Ok(Ok(Entity { kind: "topics", name: Some(t.clone()) }));
        }
        if let Some(b) = m.get_one::<String>("broker") {
            return Ok(Ok(Entity { kind: "brokers", name: Some(b.clone()) }));
        }
        if let Some(u) = m.get_one::<String>("user") {
            return Ok(Ok(Entity { kind: "users", name: Some(u.clone()) }));
        }
        return Ok(Ok(Entity { kind: "brokers", name: Some(String::new()) }));
    }
    let [kind] = types.as_slice() else {
        return Err(if types.is_empty() {
            "Missing required argument \"[entity-type]\"".into()
        } else {
            "Only one --entity-type is supported by gregor (several go with user and client quotas)".into()
        });
    };
    let kind = match ENTITY_TYPES.iter().find(|t| *t == kind) {
        Some(&"topics") => "topics",
        Some(&"brokers") => "brokers",
        Some(&"users") if default => return Ok(Err("the default user (quotas)".to_string())),
        Some(&"users") => "users",
        Some(other) => return Ok(Err((*other).to_string())),
        None => return Err(format!("--entity-type must be one of {}", ENTITY_TYPES.join(", "))),
    };
    if names.len() > 1 || (default && !names.is_empty()) {
        return Err("Only one of --entity-name or --entity-default may be given".into());
    }
    if default && kind == "topics" {
        return Err("--entity-default is not supported for topics".into());
    }
    let name = match (names.first(), default) {
        (Some(n), _) => Some((*n).clone()),
        (None, true) => Some(String::new()),
        (None, false) => None,
    };
    if kind == "brokers" {
        if let Some(n) = name.as_deref().filter(|n| !n.is_empty()) {
            if n.parse::<i32>().is_err() {
                return Err(format!("The entity name for brokers must be a valid integer broker id, found: {n}"));
            }
        }
    }
    if kind != "brokers" && name.as_deref() == Some("") {
        return Err(format!("an entity name must be specified for {kind}"));
    }
    Ok(Ok(Entity { kind, name }))
}

/// `--add-config` and `--add-config-file` (only one of them), as one map.
fn added_configs(m: &ArgMatches) -> anyhow::Result<BTreeMap<String, String>> {
    match (m.get_one::<String>("add-config"), m.get_one::<PathBuf>("add-config-file")) {
        (Some(_), Some(_)) => bail!("Only one of --add-config or --add-config-file must be specified"),
        (Some(spec), None) => parse_add_config(spec),
        (None, Some(path)) => {
            let props = common::read_properties(path)?;
            Ok(props.into_iter().map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect())
        }
        (None, None) => Ok(BTreeMap::new()),
    }
}

/// Splits `s` on `sep` outside square brackets.
fn split_outside_brackets(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = (depth - 1).max(0),
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Kafka's `--add-config` syntax: `k1=v1,k2=[a,b]`; brackets group a list
/// value and are dropped; every item needs exactly one `=` outside brackets.
fn parse_add_config(spec: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in split_outside_brackets(spec, ',') {
        let pair = split_outside_brackets(item, '=');
        let [key, value] = pair.as_slice() else {
            bail!("Invalid entity config: all configs to be added must be in the format \"key=val\".");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("Invalid entity config: all configs to be added must be in the format \"key=val\".");
        }
        let value: String = value.chars().filter(|c| *c != '[' && *c != ']').collect();
        out.insert(key.to_string(), value.trim().to_string());
    }
    Ok(out)
}

fn resource(entity: &Entity, name: &str) -> anyhow::Result<ConfigResource> {
    Ok(match entity.kind {
        "topics" => ConfigResource::Topic(name.to_string()),
        _ if name.is_empty() => ConfigResource::BrokerDefault,
        _ => ConfigResource::Broker(name.parse().with_context(|| format!("invalid broker id {name}"))?),
    })
}

/// Kafka's names for the entity in `--bootstrap-server` output.
fn singular(kind: &str) -> &str {
    kind.strip_suffix('s').unwrap_or(kind)
}

async fn alter_via_admin(
    admin: &Admin,
    entity: &Entity,
    adds: BTreeMap<String, String>,
    deletes: &[String],
) -> anyhow::Result<()> {
    let name = entity.name.clone().unwrap_or_default();
    let resource = resource(entity, &name)?;
    if !deletes.is_empty() {
        // Kafka checks that what is deleted is a known config of the resource.
        let known: Vec<String> = match &resource {
            ConfigResource::BrokerDefault => {
                let mut all: Vec<String> =
                    crate::config::BrokerConfig::load(None, &[])?.0.describe().into_iter().map(|e| e.name).collect();
                all.extend(admin.describe_resource_configs(&resource).await?.into_iter().map(|c| c.entry.name));
                all
            }
            _ => admin.describe_resource_configs(&resource).await?.into_iter().map(|c| c.entry.name).collect(),
        };
        let invalid: Vec<&str> = deletes.iter().filter(|d| !known.contains(d)).map(String::as_str).collect();
        if !invalid.is_empty() {
            bail!("Invalid config(s): {}", invalid.join(","));
        }
    }
    let mut ops: Vec<AlterConfigOp> = adds.into_iter().map(|(k, v)| AlterConfigOp::Set(k, v)).collect();
    ops.extend(deletes.iter().map(|k| AlterConfigOp::Delete(k.clone())));
    admin.incremental_alter_configs(&[(resource, ops)], false).await?;
    if name.is_empty() {
        println!("Completed updating default config for {} in the cluster.", entity.kind);
    } else {
        println!("Completed updating config for {} {name}.", singular(entity.kind));
    }
    Ok(())
}

async fn describe_via_admin(admin: &Admin, entity: &Entity, all: bool) -> anyhow::Result<()> {
    let names: Vec<String> = match &entity.name {
        Some(n) => vec![n.clone()],
        None if entity.kind == "topics" => admin.list_topics(true).await?,
        None => {
            let mut ids: Vec<String> =
                admin.describe_cluster().await?.brokers.into_iter().map(|b| b.id.to_string()).collect();
            ids.push(String::new());
            ids
        }
    };
    for name in names {
        let resource = resource(entity, &name)?;
        let wanted = match &resource {
            ConfigResource::Topic(_) => ConfigSource::DynamicTopicConfig,
            ConfigResource::Broker(_) => ConfigSource::DynamicBrokerConfig,
            ConfigResource::BrokerDefault => ConfigSource::DynamicDefaultBrokerConfig,
        };
        if name.is_empty() {
            println!("Default configs for {} in the cluster are:", entity.kind);
        } else {
            let which = if all { "All" } else { "Dynamic" };
            println!("{which} configs for {} {name} are:", singular(entity.kind));
        }
        for c in admin.describe_resource_configs(&resource).await? {
            if all || c.entry.source == wanted.code() {
                println!("  {}", render_entry(&c));
            }
        }
    }
    Ok(())
}

/// `k=v sensitive=false synonyms={SOURCE:k=v, …}` as Kafka prints an entry.
fn render_entry(c: &DescribedConfig) -> String {
    let synonyms: Vec<String> = c
        .synonyms
        .iter()
        .map(|s| {
            let source = ConfigSource::from_code(s.source).kafka_name();
            format!("{source}:{}={}", s.name, s.value.as_deref().unwrap_or("null"))
        })
        .collect();
    format!(
        "{}={} sensitive={} synonyms={{{}}}",
        c.entry.name,
        c.entry.value.as_deref().unwrap_or("null"),
        c.entry.sensitive,
        synonyms.join(", ")
    )
}

/// The `--zookeeper` name of an entity: `topic 't'`, `brokers '0'`,
/// `default brokers`, `user-principal 'alice'`.
fn zk_entity_name(kind: &str, name: &str) -> String {
    let type_name = match kind {
        "topics" => "topic",
        "users" => "user-principal",
        other => other,
    };
    if name == DEFAULT_ENTITY {
        format!("default {type_name}")
    } else {
        format!("{type_name} '{name}'")
    }
}

async fn zk_alter(
    admin: &ZkAdmin,
    entity: &Entity,
    adds: BTreeMap<String, String>,
    deletes: &[String],
) -> anyhow::Result<()> {
    let raw_name = entity.name.clone().unwrap_or_default();
    let name = if raw_name.is_empty() { DEFAULT_ENTITY.to_string() } else { raw_name };
    if entity.kind == "topics" && !admin.topic_exists(&name).await? {
        bail!("Topic '{name}' does not exist.");
    }
    let mut configs = admin.entity_config(entity.kind, &name).await?;
    let invalid: Vec<&str> = deletes.iter().filter(|d| !configs.contains_key(*d)).map(String::as_str).collect();
    if !invalid.is_empty() {
        bail!("Invalid config(s): {}", invalid.join(","));
    }
    configs.extend(adds);
    for d in deletes {
        configs.remove(d);
    }
    if entity.kind == "topics" {
        validate_topic_configs(&configs)?;
    } else {
        validate_dynamic_broker_configs(&configs, name != DEFAULT_ENTITY)?;
    }
    admin.set_entity_config(entity.kind, &name, &configs).await?;
    println!("Completed Updating config for entity: {}.", zk_entity_name(entity.kind, &name));
    Ok(())
}

async fn zk_describe(admin: &ZkAdmin, entity: &Entity) -> anyhow::Result<()> {
    let names: Vec<String> = match &entity.name {
        Some(n) if n.is_empty() => vec![DEFAULT_ENTITY.to_string()],
        Some(n) => vec![n.clone()],
        None if entity.kind == "topics" => admin.list_topics().await?.into_iter().map(|(t, _)| t).collect(),
        None => admin.config_entities(entity.kind).await?,
    };
    for name in names {
        let configs = admin.entity_config(entity.kind, &name).await?;
        let rendered: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("Configs for {} are {}", zk_entity_name(entity.kind, &name), rendered.join(","));
    }
    Ok(())
}

/// Stores SCRAM credentials `(user, mechanism, password)` in ZooKeeper at
/// `connect`, as `--zookeeper --alter --entity-type users` does (for `cluster up`).
pub(super) async fn store_scram_users(connect: &str, users: &[(String, String, String)]) -> anyhow::Result<()> {
    let admin = ZkAdmin::connect(connect).await?;
    let mut by_user: BTreeMap<&str, Vec<ScramChange>> = BTreeMap::new();
    for (user, mechanism, password) in users {
        let mechanism =
            ScramMechanism::from_name(mechanism).with_context(|| format!("{mechanism} is not a SCRAM mechanism"))?;
        by_user.entry(user).or_default().push(ScramChange::Upsert {
            mechanism,
            iterations: DEFAULT_SCRAM_ITERATIONS,
            password: Password::new(password.clone()),
        });
    }
    for (user, changes) in by_user {
        zk_alter_scram(&admin, user, &changes).await?;
    }
    Ok(())
}

/// One SCRAM change asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ScramChange {
    Upsert { mechanism: ScramMechanism, iterations: u32, password: Password },
    Delete(ScramMechanism),
}

/// What users' `--add-config` / `--delete-config` may name: SCRAM mechanisms.
fn scram_mechanism(key: &str) -> anyhow::Result<ScramMechanism> {
    ScramMechanism::from_name(key).with_context(|| {
        format!(
            "Invalid configuration key {key}: users take SCRAM credentials (SCRAM-SHA-256, SCRAM-SHA-512) and \
             quotas (producer_byte_rate, consumer_byte_rate, request_percentage)"
        )
    })
}

/// Kafka's credential value `[iterations=<n>,]password=<password>` (the
/// password is the rest, commas included). Errors never repeat the value.
fn parse_scram_value(mechanism: ScramMechanism, value: &str) -> anyhow::Result<(u32, Password)> {
    let invalid =
        || anyhow::anyhow!("Invalid credential property {mechanism}: expected [iterations=<n>,]password=<password>");
    let (iterations, rest) = match value.strip_prefix("iterations=") {
        Some(after) => {
            let (n, rest) = after.split_once(',').ok_or_else(invalid)?;
            (n.trim().parse::<u32>().map_err(|_| invalid())?, rest)
        }
        None => (DEFAULT_SCRAM_ITERATIONS, value),
    };
    let password = rest.strip_prefix("password=").ok_or_else(invalid)?;
    if password.is_empty() {
        bail!("Invalid credential property {mechanism}: the password is empty");
    }
    if iterations < MIN_ITERATIONS {
        bail!("Iterations {iterations} is less than the minimum {MIN_ITERATIONS} required for {mechanism}");
    }
    if iterations > MAX_ITERATIONS {
        bail!("Iterations {iterations} is more than the maximum {MAX_ITERATIONS} allowed for {mechanism}");
    }
    Ok((iterations, Password::new(password)))
}

/// The users' `--add-config` / `--delete-config` as SCRAM changes.
fn scram_changes(adds: &BTreeMap<String, String>, deletes: &[String]) -> anyhow::Result<Vec<ScramChange>> {
    let mut out = Vec::new();
    for (key, value) in adds {
        let mechanism = scram_mechanism(key)?;
        let (iterations, password) = parse_scram_value(mechanism, value)?;
        out.push(ScramChange::Upsert { mechanism, iterations, password });
    }
    for key in deletes {
        out.push(ScramChange::Delete(scram_mechanism(key)?));
    }
    Ok(out)
}

/// `--zookeeper`: derives each credential (fresh salt) and rewrites the
/// user's znode, keeping its other keys, with the change notification.
async fn zk_alter_scram(admin: &ZkAdmin, user: &str, changes: &[ScramChange]) -> anyhow::Result<()> {
    let sanitized = sanitize_user(user);
    let mut znode = match admin.user_config_data(&sanitized).await? {
        Some(data) => UserConfigZnode::decode(&data).with_context(|| format!("/config/users/{sanitized}"))?,
        None => UserConfigZnode::default(),
    };
    let missing: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            ScramChange::Delete(m) if !znode.config.contains_key(m.name()) => Some(m.name()),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        bail!("Invalid config(s): {}", missing.join(","));
    }
    for change in changes {
        match change {
            ScramChange::Upsert { mechanism, iterations, password } => {
                let credential = ScramCredential::generate(*mechanism, password.expose(), *iterations)?;
                znode.set_credential(*mechanism, &credential);
            }
            ScramChange::Delete(m) => {
                znode.remove_credential(*m);
            }
        }
    }
    // Before any broker has run, /config/users and /config/changes may not exist yet.
    admin.ensure_startup_paths().await?;
    admin.set_entity_config("users", &sanitized, &znode.config).await?;
    Ok(())
}

/// `--zookeeper --describe` of users: mechanisms and iterations, other keys as stored.
async fn zk_describe_users(admin: &ZkAdmin, name: Option<&str>) -> anyhow::Result<()> {
    let sanitized: Vec<String> = match name {
        Some(n) => vec![sanitize_user(n)],
        None => admin.config_entities("users").await?,
    };
    for s in sanitized {
        let Some(user) = desanitize_user(&s) else { continue };
        let znode = match admin.user_config_data(&s).await? {
            Some(data) => UserConfigZnode::decode(&data).with_context(|| format!("/config/users/{s}"))?,
            None => UserConfigZnode::default(),
        };
        println!("Configs for {} are {}", zk_entity_name("users", &user), render_user_config(&znode));
    }
    Ok(())
}

/// A user's stored keys for display: a credential as `iterations=<n>` only.
fn render_user_config(znode: &UserConfigZnode) -> String {
    znode
        .config
        .iter()
        .map(|(k, v)| match ScramMechanism::from_name(k) {
            Some(m) => match znode.credential(m) {
                Some(Ok(c)) => format!("{k}=iterations={}", c.iterations),
                _ => format!("{k}=<malformed>"),
            },
            None => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn alter_scram_via_admin(admin: &Admin, user: &str, changes: Vec<ScramChange>) -> anyhow::Result<()> {
    let alterations: Vec<UserScramCredentialAlteration> = changes
        .into_iter()
        .map(|c| match c {
            ScramChange::Upsert { mechanism, iterations, password } => {
                UserScramCredentialAlteration::Upsert { user: user.to_string(), mechanism, iterations, password }
            }
            ScramChange::Delete(mechanism) => {
                UserScramCredentialAlteration::Delete { user: user.to_string(), mechanism }
            }
        })
        .collect();
    for (_, outcome) in admin.alter_user_scram_credentials(&alterations).await? {
        outcome?;
    }
    Ok(())
}

/// Kafka's `SCRAM credential configs for user-principal 'alice' are
/// SCRAM-SHA-256=iterations=8192, …`; users without credentials print nothing.
async fn describe_users_via_admin(admin: &Admin, name: Option<&str>) -> anyhow::Result<()> {
    let named: Option<Vec<String>> = name.map(|n| vec![n.to_string()]);
    let mut failed = 0;
    for (user, outcome) in admin.describe_user_scram_credentials(named.as_deref()).await? {
        match outcome {
            Ok(infos) => {
                println!("SCRAM credential configs for user-principal '{user}' are {}", render_scram_infos(&infos))
            }
            Err(e) if e.code() == Some(crate::client::ResponseError::ResourceNotFound) => {}
            Err(e) => {
                failed += 1;
                eprintln!("Error retrieving SCRAM credential configs for user-principal '{user}': {e}");
            }
        }
    }
    if failed > 0 {
        bail!("could not describe the SCRAM credentials of {failed} user(s)");
    }
    Ok(())
}

fn render_scram_infos(infos: &[crate::client::ScramCredentialInfo]) -> String {
    infos.iter().map(|i| format!("{}=iterations={}", i.mechanism, i.iterations)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn add_config_brackets_and_errors() {
        assert_eq!(parse_add_config("retention.ms=1000").unwrap(), map(&[("retention.ms", "1000")]));
        assert_eq!(
            parse_add_config(
                "cleanup.policy=[compact,delete], retention.ms = 5,follower.replication.throttled.replicas=[0:1,1:2]"
            )
            .unwrap(),
            map(&[
                ("cleanup.policy", "compact,delete"),
                ("retention.ms", "5"),
                ("follower.replication.throttled.replicas", "0:1,1:2"),
            ])
        );
        assert_eq!(parse_add_config("k=").unwrap(), map(&[("k", "")]));
        assert!(parse_add_config("k").is_err());
        assert!(parse_add_config("k=v=w").is_err());
        assert!(parse_add_config("=v").is_err());
        assert!(parse_add_config("a=1,,b=2").is_err());
    }

    fn matches(args: &[&str]) -> ArgMatches {
        let mut all = vec!["configs"];
        all.extend_from_slice(args);
        command().try_get_matches_from(all).unwrap()
    }

    #[test]
    fn entities_from_flags() {
        let e = entity(&matches(&["--describe", "--topic", "t"])).unwrap().unwrap();
        assert_eq!(e, Entity { kind: "topics", name: Some("t".into()) });
        let e = entity(&matches(&["--describe", "--entity-type", "brokers", "--entity-default"])).unwrap().unwrap();
        assert_eq!(e, Entity { kind: "brokers", name: Some(String::new()) });
        let e = entity(&matches(&["--describe", "--broker-defaults"])).unwrap().unwrap();
        assert_eq!(e.name.as_deref(), Some(""));
        let e = entity(&matches(&["--describe", "--entity-type", "brokers"])).unwrap().unwrap();
        assert_eq!(e.name, None);
        assert_eq!(
            entity(&matches(&["--describe", "--entity-type", "users"])).unwrap(),
            Ok(Entity { kind: "users", name: None })
        );
        assert_eq!(
            entity(&matches(&["--alter", "--user", "alice"])).unwrap(),
            Ok(Entity { kind: "users", name: Some("alice".into()) })
        );
        assert!(entity(&matches(&["--describe", "--entity-type", "users", "--entity-default"])).unwrap().is_err());
        assert_eq!(entity(&matches(&["--describe", "--entity-type", "clients"])).unwrap(), Err("clients".to_string()));
        assert!(entity(&matches(&["--describe", "--user", "a", "--topic", "t"])).is_err());
        assert!(entity(&matches(&["--describe", "--entity-type", "widgets"])).is_err());
        assert!(entity(&matches(&["--describe", "--entity-type", "brokers", "--entity-name", "x"])).is_err());
        assert!(entity(&matches(&["--describe", "--topic", "t", "--broker", "1"])).is_err());
        assert!(entity(&matches(&["--describe"])).is_err());
    }

    #[test]
    fn entries_render_as_kafka() {
        let c = DescribedConfig {
            entry: crate::client::ConfigEntryInfo {
                name: "retention.ms".into(),
                value: Some("1000".into()),
                source: 1,
                is_default: false,
                read_only: false,
                sensitive: false,
            },
            synonyms: vec![
                crate::client::ConfigSynonymInfo { name: "retention.ms".into(), value: Some("1000".into()), source: 1 },
                crate::client::ConfigSynonymInfo {
                    name: "log.retention.hours".into(),
                    value: Some("168".into()),
                    source: 5,
                },
            ],
        };
        assert_eq!(
            render_entry(&c),
            "retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}"
        );
        assert_eq!(zk_entity_name("topics", "t"), "topic 't'");
        assert_eq!(zk_entity_name("brokers", "<default>"), "default brokers");
    }

    #[test]
    fn scram_values_follow_kafkas_syntax_and_never_echo_the_password() {
        let (i, p) = parse_scram_value(ScramMechanism::Sha256, "iterations=8192,password=alice-secret").unwrap();
        assert_eq!((i, p.expose()), (8192, "alice-secret"));
        let (i, p) = parse_scram_value(ScramMechanism::Sha512, "password=a,b=c").unwrap();
        assert_eq!((i, p.expose()), (4096, "a,b=c"), "the password is the rest, commas included");
        let e = parse_scram_value(ScramMechanism::Sha256, "iterations=100,password=hunter2").unwrap_err();
        assert_eq!(e.to_string(), "Iterations 100 is less than the minimum 4096 required for SCRAM-SHA-256");
        assert!(parse_scram_value(ScramMechanism::Sha256, "iterations=20000,password=x").is_err());
        for bad in ["hunter2", "pass=hunter2", "iterations=x,password=hunter2", "password="] {
            let e = parse_scram_value(ScramMechanism::Sha256, bad).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
        let adds = parse_add_config(
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=alice-secret]",
        )
        .unwrap();
        let changes = scram_changes(&adds, &["SCRAM-SHA-512".to_string()]).unwrap();
        assert_eq!(changes.len(), 3);
        assert!(matches!(changes[0], ScramChange::Upsert { mechanism: ScramMechanism::Sha256, iterations: 8192, .. }));
        assert_eq!(changes[2], ScramChange::Delete(ScramMechanism::Sha512));
        let quota = parse_add_config("producer_byte_rate=1024").unwrap();
        assert!(scram_changes(&quota, &[]).unwrap_err().to_string().contains("Invalid configuration key"));
        assert!(!format!("{changes:?}").contains("alice-secret"), "Debug hides passwords");
    }

    #[test]
    fn user_configs_render_iterations_only() {
        let mut znode = UserConfigZnode::default();
        let c = ScramCredential::derive(ScramMechanism::Sha256, "pw", b"salt", 8192).unwrap();
        znode.set_credential(ScramMechanism::Sha256, &c);
        znode.config.insert("producer_byte_rate".into(), "1024".into());
        assert_eq!(render_user_config(&znode), "SCRAM-SHA-256=iterations=8192,producer_byte_rate=1024");
        assert_eq!(zk_entity_name("users", "alice"), "user-principal 'alice'");
    }
}
