//! `topics` (kafka-topics.sh): create, list, describe, delete and alter topics
//! with Kafka's flags and Kafka's output formats.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};
use comfy_table::Cell;
use serde::Serialize;

use super::common::{self, kv_arg};
use super::output::{self, Format};
use crate::client::{Admin, ClientConfig, ClientError, NewTopic};
use crate::metadata::admin::ZkAdmin;
use crate::metadata::MetadataError;
use crate::protocol::ErrorCode;

pub fn command() -> Command {
    let cmd = Command::new("topics")
        .about("Create, delete, describe, or change a topic")
        .arg(Arg::new("create").long("create").action(ArgAction::SetTrue).help("Create a new topic"))
        .arg(Arg::new("list").long("list").action(ArgAction::SetTrue).help("List all available topics"))
        .arg(Arg::new("describe").long("describe").action(ArgAction::SetTrue).help("List details for the given topics"))
        .arg(Arg::new("delete").long("delete").action(ArgAction::SetTrue).help("Delete a topic"))
        .arg(
            Arg::new("alter")
                .long("alter")
                .action(ArgAction::SetTrue)
                .help("Alter the number of partitions, or (with --zookeeper) the configs, of a topic"),
        )
        .group(ArgGroup::new("action").args(["create", "list", "describe", "delete", "alter"]).required(true))
        .arg(common::config_file_arg("command-config", "Properties for the admin client (e.g. security.protocol=SSL)"))
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").help("The topic to create, alter, describe or delete"))
        .arg(
            Arg::new("partitions")
                .long("partitions")
                .value_name("N")
                .value_parser(clap::value_parser!(i32))
                .help("The number of partitions (create, or increase with --alter)"),
        )
        .arg(
            Arg::new("replication-factor")
                .long("replication-factor")
                .value_name("N")
                .value_parser(clap::value_parser!(i16))
                .help("The replication factor for each partition"),
        )
        .arg(
            Arg::new("replica-assignment")
                .long("replica-assignment")
                .value_name("B1:B2,B3:B4,...")
                .help("Explicit replica assignment: partitions separated by ',', replicas by ':'"),
        )
        .arg(kv_arg("config", "A topic configuration override, e.g. --config retention.ms=86400000"))
        .arg(
            Arg::new("delete-config")
                .long("delete-config")
                .value_name("NAME")
                .action(ArgAction::Append)
                .help("With --alter --zookeeper: a topic config override to remove"),
        )
        .arg(
            Arg::new("if-not-exists")
                .long("if-not-exists")
                .action(ArgAction::SetTrue)
                .help("With --create: do nothing if the topic exists"),
        )
        .arg(
            Arg::new("if-exists")
                .long("if-exists")
                .action(ArgAction::SetTrue)
                .help("With --alter/--delete/--describe: do nothing if the topic is missing"),
        )
        .arg(
            Arg::new("under-replicated-partitions")
                .long("under-replicated-partitions")
                .action(ArgAction::SetTrue)
                .help("With --describe: only partitions whose ISR is smaller than the replica set"),
        )
        .arg(
            Arg::new("unavailable-partitions")
                .long("unavailable-partitions")
                .action(ArgAction::SetTrue)
                .help("With --describe: only partitions without a leader"),
        )
        .arg(
            Arg::new("exclude-internal")
                .long("exclude-internal")
                .action(ArgAction::SetTrue)
                .help("Leave internal topics out of --list/--describe"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("FORMAT")
                .value_parser(clap::value_parser!(Format))
                .default_value("plain")
                .help("Output format for --list and --describe"),
        );
    common::with_bootstrap(cmd, false)
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let zookeeper = m.get_one::<String>("zookeeper").cloned();
    if m.get_flag("alter") && zookeeper.is_none() && (m.contains_id("config") || m.contains_id("delete-config")) {
        // Kafka 2.x+ alters topic configs through kafka-configs only.
        let which = if m.contains_id("config") { "config" } else { "delete-config" };
        eprintln!(
            "Option combination \"[bootstrap-server],[{which}]\" can't be used with option \"[alter]\" \
             (the kafka-configs CLI supports altering topic configs with a --bootstrap-server option)"
        );
        return Ok(ExitCode::from(super::EXIT_USAGE));
    }
    let bootstrap = match &zookeeper {
        Some(_) => None,
        None => Some(common::bootstrap(m)?),
    };
    let rt = common::runtime()?;
    rt.block_on(async {
        let backend = match (zookeeper, bootstrap) {
            (Some(zk), _) => Backend::Zk(ZkAdmin::connect(&zk).await?),
            (None, Some(bs)) => {
                let mut config = ClientConfig::new(bs);
                common::apply_command_config(&mut config, m.get_one::<std::path::PathBuf>("command-config"))?;
                Backend::Kafka(Admin::connect(config).await?)
            }
            (None, None) => bail!("Missing required argument \"[bootstrap-server]\""),
        };
        let result = if m.get_flag("create") {
            create(&backend, m).await
        } else if m.get_flag("list") {
            list(&backend, m).await
        } else if m.get_flag("describe") {
            describe(&backend, m).await
        } else if m.get_flag("delete") {
            delete(&backend, m).await
        } else {
            alter(&backend, m).await
        };
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("Error while executing topic command : {}", common::error_line(&e));
                Ok(ExitCode::from(super::EXIT_FAILURE))
            }
        }
    })
}

/// Where topic commands go: a broker's admin API (`--bootstrap-server`) or,
/// like Kafka 0.10's tool, straight to ZooKeeper (`--zookeeper`).
enum Backend {
    Kafka(Admin),
    Zk(ZkAdmin),
}

/// Failures the commands treat specially (`--if-exists`, `--if-not-exists`).
enum Failure {
    Exists,
    Unknown,
    Other(anyhow::Error),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        match e.code() {
            Some(ErrorCode::TopicAlreadyExists) => Failure::Exists,
            Some(ErrorCode::UnknownTopicOrPartition) => Failure::Unknown,
            _ => Failure::Other(e.into()),
        }
    }
}

impl From<MetadataError> for Failure {
    fn from(e: MetadataError) -> Failure {
        match e {
            MetadataError::TopicExists(_) => Failure::Exists,
            MetadataError::UnknownTopic(_) => Failure::Unknown,
            other => Failure::Other(other.into()),
        }
    }
}

/// A topic as the describe output needs it.
struct Described {
    name: String,
    internal: bool,
    marked_for_deletion: bool,
    partitions: Vec<PartitionView>,
    overrides: BTreeMap<String, String>,
}

impl Backend {
    async fn create(&self, t: NewTopic) -> Result<(), Failure> {
        match self {
            Backend::Kafka(a) => Ok(a.create_topic(t, false).await?),
            Backend::Zk(z) => {
                let assignment = (!t.assignments.is_empty()).then(|| t.assignments.values().cloned().collect());
                let partitions = if t.partitions == -1 { 1 } else { t.partitions };
                let rf = if t.replication_factor == -1 { 1 } else { i32::from(t.replication_factor) };
                Ok(z.create_topic(&t.name, partitions, rf, t.configs, assignment).await?)
            }
        }
    }

    async fn list(&self, include_internal: bool) -> Result<Vec<(String, bool)>, Failure> {
        match self {
            Backend::Kafka(a) => Ok(a.list_topics(include_internal).await?.into_iter().map(|t| (t, false)).collect()),
            Backend::Zk(z) => Ok(z
                .list_topics()
                .await?
                .into_iter()
                .filter(|(t, _)| include_internal || !t.starts_with("__"))
                .collect()),
        }
    }

    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<Described>, Failure> {
        match self {
            Backend::Kafka(a) => {
                let mut out = Vec::new();
                for t in a.describe_topics(names).await? {
                    let overrides = a
                        .describe_topic_configs(&t.name)
                        .await?
                        .into_iter()
                        .filter(|c| c.source == 1)
                        .filter_map(|c| c.value.map(|v| (c.name, v)))
                        .collect();
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| PartitionView {
                            partition: p.partition,
                            leader: p.leader,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                        })
                        .collect();
                    out.push(Described {
                        name: t.name,
                        internal: t.internal,
                        marked_for_deletion: false,
                        partitions,
                        overrides,
                    });
                }
                Ok(out)
            }
            Backend::Zk(z) => Ok(z
                .describe(names)
                .await?
                .into_iter()
                .map(|t| Described {
                    internal: t.name.starts_with("__"),
                    name: t.name,
                    marked_for_deletion: t.marked_for_deletion,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionView {
                            partition: p.partition,
                            leader: p.leader,
                            replicas: p.replicas,
                            isr: p.isr,
                        })
                        .collect(),
                    overrides: t.configs,
                })
                .collect()),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), Failure> {
        match self {
            Backend::Kafka(a) => Ok(a.delete_topic(name).await?),
            Backend::Zk(z) => Ok(z.delete_topic(name).await?),
        }
    }

    async fn add_partitions(&self, name: &str, count: i32) -> Result<(), Failure> {
        match self {
            Backend::Kafka(a) => Ok(a.create_partitions(name, count).await?),
            Backend::Zk(z) => Ok(z.add_partitions(name, count).await?),
        }
    }
}

fn other(f: Failure, what: impl FnOnce() -> String) -> anyhow::Error {
    match f {
        Failure::Other(e) => e,
        Failure::Exists => anyhow::anyhow!("{}", what()),
        Failure::Unknown => anyhow::anyhow!("{}", what()),
    }
}

fn required_topic(m: &ArgMatches, action: &str) -> anyhow::Result<String> {
    match m.get_one::<String>("topic") {
        Some(t) => Ok(t.clone()),
        None => bail!("--topic is required with --{action}"),
    }
}

async fn create(backend: &Backend, m: &ArgMatches) -> anyhow::Result<()> {
    let name = required_topic(m, "create")?;
    let configs = common::kv_values(m, "config")?;
    let mut topic = NewTopic {
        name: name.clone(),
        partitions: m.get_one::<i32>("partitions").copied().unwrap_or(-1),
        replication_factor: m.get_one::<i16>("replication-factor").copied().unwrap_or(-1),
        configs,
        assignments: BTreeMap::new(),
    };
    if let Some(spec) = m.get_one::<String>("replica-assignment") {
        if m.contains_id("partitions") || m.contains_id("replication-factor") {
            bail!("Option \"[replica-assignment]\" can't be used with option \"[partitions]\" or \"[replication-factor]\"");
        }
        topic.assignments = parse_assignment(spec)?;
    }
    if crate::metadata::has_collision_chars(&name) {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could \
             collide. To avoid issues it is best to use either, but not both."
        );
    }
    match backend.create(topic).await {
        Ok(()) => {
            println!("Created topic \"{name}\".");
            Ok(())
        }
        Err(Failure::Exists) if m.get_flag("if-not-exists") => Ok(()),
        Err(f) => Err(other(f, || format!("Topic '{name}' already exists."))),
    }
}

/// `0:1,1:2` → partition 0 on brokers [0,1], partition 1 on [1,2].
fn parse_assignment(spec: &str) -> anyhow::Result<BTreeMap<i32, Vec<i32>>> {
    let mut out = BTreeMap::new();
    for (p, part) in spec.split(',').enumerate() {
        let brokers: Result<Vec<i32>, _> = part.split(':').map(|b| b.trim().parse::<i32>()).collect();
        match brokers {
            Ok(b) if !b.is_empty() => {
                out.insert(p as i32, b);
            }
            _ => bail!("Invalid --replica-assignment '{spec}': expected broker ids like 0:1,1:2"),
        }
    }
    Ok(out)
}

async fn list(backend: &Backend, m: &ArgMatches) -> anyhow::Result<()> {
    let listed = backend.list(!m.get_flag("exclude-internal")).await.map_err(|f| other(f, String::new))?;
    let marked: Vec<String> = listed.iter().filter(|(_, m)| *m).map(|(t, _)| t.clone()).collect();
    let topics: Vec<String> = listed.into_iter().map(|(t, _)| t).collect();
    let topics: Vec<String> = match m.get_one::<String>("topic") {
        Some(t) => topics.into_iter().filter(|n| n == t).collect(),
        None => topics,
    };
    match m.get_one::<Format>("output").copied().unwrap_or_default() {
        Format::Plain => {
            for t in topics {
                if marked.contains(&t) {
                    println!("{t} - marked for deletion");
                } else {
                    println!("{t}");
                }
            }
        }
        Format::Table => {
            println!("{}", output::table(&["TOPIC"], topics.into_iter().map(|t| vec![Cell::new(t)]).collect()));
        }
        f => print!("{}", output::structured(&topics, f)?),
    }
    Ok(())
}

/// One topic as `--describe` shows it.
#[derive(Debug, Serialize)]
struct TopicView {
    topic: String,
    partition_count: usize,
    replication_factor: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    marked_for_deletion: bool,
    configs: BTreeMap<String, String>,
    partitions: Vec<PartitionView>,
}

#[derive(Debug, Serialize)]
struct PartitionView {
    partition: i32,
    leader: Option<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn describe(backend: &Backend, m: &ArgMatches) -> anyhow::Result<()> {
    let names = m.get_one::<String>("topic").map(|t| vec![t.clone()]);
    let topics = match backend.describe(names.as_deref()).await {
        Ok(t) => t,
        Err(Failure::Unknown) => {
            if m.get_flag("if-exists") {
                return Ok(());
            }
            let name = names.map(|n| n.join(",")).unwrap_or_default();
            bail!("Topic '{name}' does not exist as expected");
        }
        Err(f) => return Err(other(f, String::new)),
    };
    let under = m.get_flag("under-replicated-partitions");
    let unavailable = m.get_flag("unavailable-partitions");
    let exclude_internal = m.get_flag("exclude-internal");
    let mut views = Vec::new();
    for t in topics.into_iter().filter(|t| !(exclude_internal && t.internal)) {
        let partition_count = t.partitions.len();
        let replication_factor = t.partitions.first().map_or(0, |p| p.replicas.len());
        let partitions = t
            .partitions
            .into_iter()
            .filter(|p| !under || p.isr.len() < p.replicas.len())
            .filter(|p| !unavailable || p.leader.is_none())
            .collect();
        views.push(TopicView {
            topic: t.name,
            partition_count,
            replication_factor,
            marked_for_deletion: t.marked_for_deletion,
            configs: t.overrides,
            partitions,
        });
    }
    match m.get_one::<Format>("output").copied().unwrap_or_default() {
        Format::Plain => {
            for v in &views {
                if !under && !unavailable {
                    let configs: Vec<String> = v.configs.iter().map(|(k, val)| format!("{k}={val}")).collect();
                    let marked = if v.marked_for_deletion { "\tMarkedForDeletion:true" } else { "" };
                    println!(
                        "Topic:{}\tPartitionCount:{}\tReplicationFactor:{}\tConfigs:{}{marked}",
                        v.topic,
                        v.partition_count,
                        v.replication_factor,
                        configs.join(",")
                    );
                }
                for p in &v.partitions {
                    let leader = p.leader.map_or_else(|| "none".to_string(), |l| l.to_string());
                    println!(
                        "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                        v.topic,
                        p.partition,
                        leader,
                        join(&p.replicas),
                        join(&p.isr)
                    );
                }
            }
        }
        Format::Table => {
            let mut rows = Vec::new();
            for v in &views {
                for p in &v.partitions {
                    let leader = p.leader.map_or_else(|| "none".to_string(), |l| l.to_string());
                    rows.push(vec![
                        Cell::new(&v.topic),
                        Cell::new(p.partition),
                        output::health_cell(leader, p.leader.is_some()),
                        Cell::new(join(&p.replicas)),
                        output::health_cell(join(&p.isr), p.isr.len() == p.replicas.len()),
                    ]);
                }
            }
            println!("{}", output::table(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], rows));
        }
        f => print!("{}", output::structured(&views, f)?),
    }
    Ok(())
}

async fn delete(backend: &Backend, m: &ArgMatches) -> anyhow::Result<()> {
    let name = required_topic(m, "delete")?;
    match backend.delete(&name).await {
        Ok(()) => {
            println!("Topic {name} is marked for deletion.");
            println!("Note: This will have no impact if delete.topic.enable is not set to true.");
            Ok(())
        }
        Err(Failure::Unknown) => {
            if m.get_flag("if-exists") {
                Ok(())
            } else {
                bail!("Topic '{name}' does not exist as expected")
            }
        }
        Err(f) => Err(other(f, String::new)),
    }
}

async fn alter(backend: &Backend, m: &ArgMatches) -> anyhow::Result<()> {
    let name = required_topic(m, "alter")?;
    if m.contains_id("config") || m.contains_id("delete-config") {
        let Backend::Zk(zk) = backend else {
            bail!("--alter --config needs --zookeeper; use kafka-configs with --bootstrap-server");
        };
        alter_configs_in_zookeeper(zk, m, &name).await?;
        if !m.contains_id("partitions") {
            return Ok(());
        }
    }
    let Some(&partitions) = m.get_one::<i32>("partitions") else {
        bail!("--alter needs --partitions N");
    };
    match backend.add_partitions(&name, partitions).await {
        Ok(()) => {
            println!("WARNING: If partitions are increased for a topic that has a key, the partition logic or ordering of the messages will be affected");
            println!("Adding partitions succeeded!");
            Ok(())
        }
        Err(Failure::Unknown) if m.get_flag("if-exists") => Ok(()),
        Err(Failure::Unknown) => bail!("Topic '{name}' does not exist as expected"),
        Err(f) => Err(other(f, String::new)),
    }
}

/// Kafka 0.10's `--zookeeper --alter --config k=v --delete-config k`: the
/// topic's overrides are changed in ZooKeeper (with the change notification)
/// after the same validation the brokers apply.
async fn alter_configs_in_zookeeper(zk: &ZkAdmin, m: &ArgMatches, name: &str) -> anyhow::Result<()> {
    if !zk.topic_exists(name).await? {
        bail!("Topic '{name}' does not exist.");
    }
    println!("WARNING: Altering topic configuration from this script has been deprecated and may be removed in future releases.");
    println!("         Going forward, please use kafka-configs.sh for this functionality");
    let mut configs = zk.entity_config("topics", name).await?;
    configs.extend(common::kv_values(m, "config")?);
    for key in m.get_many::<String>("delete-config").into_iter().flatten() {
        configs.remove(key.trim());
    }
    crate::config::validate_topic_configs(&configs)?;
    zk.set_entity_config("topics", name, &configs).await?;
    println!("Updated config for topic \"{name}\".");
    Ok(())
}
