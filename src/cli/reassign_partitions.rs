//! `reassign-partitions` (kafka-reassign-partitions.sh, Kafka's
//! ReassignPartitionsCommand): move partition replicas between brokers.
//!
//! With `--bootstrap-server` (Kafka 2.5+) it uses AlterPartitionReassignments
//! and ListPartitionReassignments: `--generate` proposes a rack-unaware
//! round-robin assignment of whole topics over `--broker-list`, `--execute`
//! starts the reassignments of a JSON file (printing the current assignment
//! for rollback), `--verify` reports each partition and, once all are done,
//! clears the throttles, `--cancel` reverts ongoing ones, `--list` shows what
//! is moving. With `--zookeeper` (Kafka 0.10) `--execute` writes
//! `/admin/reassign_partitions` for the controller, and `--verify` and
//! `--generate` read ZooKeeper.
//!
//! Usage errors exit 2, failures 1 with one `Error: …` line; `--verify` of a
//! reassignment still in progress is not a failure (exit 0), as in Kafka.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};

use super::common;
use crate::client::{Admin, AlterConfigOp, ClientConfig, ConfigResource};
use crate::metadata::admin::ZkAdmin;
use crate::metadata::assignment::{assign_replicas, random_index};

/// A partition and its replicas (target or current), keyed and sorted by partition.
type Assignment = BTreeMap<(String, i32), Vec<i32>>;

pub fn command() -> Command {
    let flag = |name: &'static str, help: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue).help(help);
    let file = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name("FILE").value_parser(clap::value_parser!(PathBuf)).help(help)
    };
    Command::new("reassign-partitions")
        .about("Move partition replicas between brokers (generate, execute, verify, cancel or list reassignments)")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .help("Brokers to connect to"),
        )
        .arg(
            Arg::new("zookeeper")
                .long("zookeeper")
                .value_name("HOST:PORT[/CHROOT]")
                .help("ZooKeeper connection, as Kafka 0.10's tool (--generate, --execute, --verify)"),
        )
        .group(ArgGroup::new("connect").args(["bootstrap-server", "zookeeper"]).required(true))
        .arg(common::config_file_arg("command-config", "Properties for the admin client (with --bootstrap-server)"))
        .arg(flag("generate", "Propose an assignment of the topics of --topics-to-move-json-file over --broker-list"))
        .arg(flag("execute", "Start the reassignments of --reassignment-json-file"))
        .arg(flag("verify", "Report the reassignments of --reassignment-json-file; clear throttles once all are done"))
        .arg(flag("cancel", "Cancel the ongoing reassignments of --reassignment-json-file"))
        .arg(flag("list", "List the ongoing reassignments"))
        .group(ArgGroup::new("action").args(["generate", "execute", "verify", "cancel", "list"]).required(true))
        .arg(file(
            "topics-to-move-json-file",
            r#"The topics to move, as {"topics":[{"topic":"t"}],"version":1} (--generate)"#,
        ))
        .arg(
            Arg::new("broker-list")
                .long("broker-list")
                .value_name("ID,ID,...")
                .help("The brokers to assign the topics to (--generate)"),
        )
        .arg(file(
            "reassignment-json-file",
            r#"The reassignment, as {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#,
        ))
        .arg(
            Arg::new("throttle")
                .long("throttle")
                .value_name("BYTES_PER_SEC")
                .value_parser(clap::value_parser!(i64))
                .help("Limit inter-broker replication of the moving partitions (--execute)"),
        )
        .arg(
            Arg::new("replica-alter-log-dirs-throttle")
                .long("replica-alter-log-dirs-throttle")
                .value_name("BYTES_PER_SEC")
                .value_parser(clap::value_parser!(i64))
                .help("Limit moves between log dirs of a broker (--execute)"),
        )
        .arg(flag("additional", "Start the reassignments even though others are in progress (--execute)"))
        .arg(flag("preserve-throttles", "Leave the throttles in place (--verify, --cancel)"))
        .arg(flag("disable-rack-aware", "Ignore racks when generating (gregor's proposals are rack-unaware anyway)"))
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("MS")
                .value_parser(clap::value_parser!(u64))
                .default_value("10000")
                .help("How long to wait for the cluster to answer"),
        )
}

/// A usage error: printed and exit 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("{message}");
    eprintln!("Run with --help for the options.");
    ExitCode::from(super::EXIT_USAGE)
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let action =
        ["generate", "execute", "verify", "cancel", "list"].into_iter().find(|a| m.get_flag(a)).unwrap_or("list");
    let json_file = m.get_one::<PathBuf>("reassignment-json-file");
    if matches!(action, "execute" | "verify" | "cancel") && json_file.is_none() {
        return Ok(usage(&format!("Missing required argument \"[reassignment-json-file]\" for --{action}")));
    }
    if action == "generate"
        && (m.get_one::<PathBuf>("topics-to-move-json-file").is_none() || !m.contains_id("broker-list"))
    {
        return Ok(usage("--generate requires --topics-to-move-json-file and --broker-list"));
    }
    if action != "execute" && (m.contains_id("throttle") || m.contains_id("replica-alter-log-dirs-throttle")) {
        return Ok(usage("--throttle and --replica-alter-log-dirs-throttle are only valid with --execute"));
    }
    let rt = common::runtime()?;
    if let Some(zk) = m.get_one::<String>("zookeeper") {
        if matches!(action, "cancel" | "list") {
            return Ok(usage(&format!("--{action} requires --bootstrap-server")));
        }
        return rt.block_on(zookeeper(zk, action, m));
    }
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    config.request_timeout =
        Duration::from_millis(*m.get_one::<u64>("timeout").unwrap_or(&10_000)).max(Duration::from_secs(1));
    rt.block_on(async {
        let admin = Admin::connect(config).await?;
        match action {
            "generate" => generate_with_admin(&admin, m).await,
            "execute" => execute(&admin, m).await,
            "verify" => verify(&admin, m).await,
            "cancel" => cancel(&admin, m).await,
            _ => list(&admin).await,
        }
    })
}

// ---- JSON files ----

/// The log dirs a reassignment file asks for, other than "any": (topic,
/// partition, broker) → dir.
pub(crate) type LogDirs = BTreeMap<(String, i32, i32), String>;

/// Reads a reassignment file: Kafka's checks (not empty, no empty replica
/// list, no partition twice, no broker twice in a partition, `log_dirs` as
/// long as `replicas`, each "any" or an absolute path).
pub(crate) fn parse_reassignment_file(text: &str) -> anyhow::Result<(Assignment, LogDirs)> {
    let v: serde_json::Value = serde_json::from_str(text).context("the reassignment file is not valid JSON")?;
    let parts =
        v.get("partitions").and_then(|p| p.as_array()).context("the reassignment file has no \"partitions\" array")?;
    if parts.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    let mut out = Assignment::new();
    let mut log_dirs = LogDirs::new();
    for p in parts {
        let topic = p.get("topic").and_then(|t| t.as_str()).with_context(|| format!("no \"topic\" string in {p}"))?;
        let partition = p
            .get("partition")
            .and_then(|n| n.as_i64())
            .and_then(|n| i32::try_from(n).ok())
            .with_context(|| format!("no integer \"partition\" in {p}"))?;
        let replicas: Vec<i32> = p
            .get("replicas")
            .and_then(|r| r.as_array())
            .with_context(|| format!("no \"replicas\" array in {p}"))?
            .iter()
            .map(|r| {
                r.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .with_context(|| format!("replica {r} is not a broker id"))
            })
            .collect::<anyhow::Result<_>>()?;
        let name = format!("{topic}-{partition}");
        if replicas.is_empty() {
            bail!("Partition replica list cannot be empty");
        }
        if let Some(dirs) = p.get("log_dirs").and_then(|d| d.as_array()) {
            if dirs.len() != replicas.len() {
                bail!("Size of replicas list {replicas:?} is different from size of log dirs list {dirs:?} for partition {name}");
            }
            for (broker, d) in replicas.iter().zip(dirs) {
                match d.as_str() {
                    Some("any") => {}
                    Some(dir) if Path::new(dir).is_absolute() => {
                        log_dirs.insert((topic.to_string(), partition, *broker), dir.to_string());
                    }
                    _ => bail!("Log dir {d} of partition {name} must be \"any\" or an absolute path"),
                }
            }
        }
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        if distinct.len() != replicas.len() {
            let mut seen = BTreeSet::new();
            let dups: BTreeSet<String> = replicas.iter().filter(|r| !seen.insert(**r)).map(i32::to_string).collect();
            bail!(
                "Error parsing reassignment: Duplicate replica assignment found: {name} contains multiple entries for {}",
                dups.into_iter().collect::<Vec<_>>().join(",")
            );
        }
        if out.insert((topic.to_string(), partition), replicas).is_some() {
            bail!("Partition reassignment contains duplicate topic partitions: {name}");
        }
    }
    Ok((out, log_dirs))
}

/// The `--reassignment-json-file`, read and checked.
fn reassignment_file(m: &ArgMatches) -> anyhow::Result<(Assignment, LogDirs)> {
    parse_reassignment_file(&read_file(m.get_one::<PathBuf>("reassignment-json-file").context("no file")?)?)
}

/// Reads `{"topics":[{"topic":"t"},...],"version":1}`.
fn parse_topics(text: &str) -> anyhow::Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(text).context("the topics-to-move file is not valid JSON")?;
    let topics =
        v.get("topics").and_then(|t| t.as_array()).context("the topics-to-move file has no \"topics\" array")?;
    let mut out = Vec::new();
    for t in topics {
        let name = t.get("topic").and_then(|n| n.as_str()).with_context(|| format!("no \"topic\" string in {t}"))?;
        if out.iter().any(|n| n == name) {
            bail!("List of topics to reassign contains duplicate entries: {name}");
        }
        out.push(name.to_string());
    }
    if out.is_empty() {
        bail!("List of topics to reassign is empty");
    }
    Ok(out)
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Kafka's reassignment JSON, keys in Kafka's order, partitions sorted.
pub(crate) fn format_assignment(a: &Assignment) -> String {
    let parts: Vec<String> = a
        .iter()
        .map(|((t, p), r)| {
            let replicas: Vec<String> = r.iter().map(i32::to_string).collect();
            let dirs = vec!["\"any\""; r.len()];
            format!(
                r#"{{"topic":{},"partition":{p},"replicas":[{}],"log_dirs":[{}]}}"#,
                serde_json::Value::String(t.clone()),
                replicas.join(","),
                dirs.join(",")
            )
        })
        .collect();
    format!(r#"{{"version":1,"partitions":[{}]}}"#, parts.join(","))
}

fn names(parts: impl IntoIterator<Item = (String, i32)>) -> String {
    parts.into_iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(",")
}

fn ids(l: &[i32]) -> String {
    l.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// `--broker-list 1,2,3`.
fn parse_broker_list(s: &str) -> anyhow::Result<Vec<i32>> {
    let list: Vec<i32> = s
        .split(',')
        .map(|b| b.trim().parse::<i32>().with_context(|| format!("\"{b}\" in --broker-list is not a broker id")))
        .collect::<anyhow::Result<_>>()?;
    let mut seen = BTreeSet::new();
    let dups: Vec<String> = list.iter().filter(|b| !seen.insert(**b)).map(i32::to_string).collect();
    if !dups.is_empty() {
        bail!("Broker list contains duplicate entries: {}", dups.join(","));
    }
    Ok(list)
}

/// Kafka's proposal: each topic spread over the brokers with the rack-unaware
/// round-robin of topic creation, same partition count and replication factor.
fn propose(current: &Assignment, brokers: &[i32]) -> anyhow::Result<Assignment> {
    let mut by_topic: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((t, _), r) in current {
        let e = by_topic.entry(t.as_str()).or_insert((0, r.len()));
        e.0 += 1;
    }
    let mut out = Assignment::new();
    for (topic, (count, rf)) in by_topic {
        if rf > brokers.len() {
            bail!("Replication factor: {rf} larger than available brokers: {}.", brokers.len());
        }
        let n = brokers.len();
        for (p, replicas) in
            assign_replicas(brokers, count, rf, random_index(n), random_index(n), 0).into_iter().enumerate()
        {
            out.insert((topic.to_string(), p as i32), replicas);
        }
    }
    Ok(out)
}

fn print_generated(current: &Assignment, proposed: &Assignment) {
    println!("Current partition replica assignment\n{}\n", format_assignment(current));
    println!("Proposed partition reassignment configuration\n{}", format_assignment(proposed));
}

/// `t-p-b`, as Kafka names a replica.
fn replica_name((topic, partition, broker): &(String, i32, i32)) -> String {
    format!("{topic}-{partition}-{broker}")
}

/// Asks each broker to move its replicas into the requested log dirs,
/// retrying replicas the reassignment has not created yet until `timeout`.
async fn move_log_dirs(admin: &Admin, dirs: &LogDirs, timeout: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pending = dirs.clone();
    loop {
        let mut by_broker: BTreeMap<i32, Vec<(String, i32, String)>> = BTreeMap::new();
        for ((t, p, b), d) in &pending {
            by_broker.entry(*b).or_default().push((t.clone(), *p, d.clone()));
        }
        for (broker, moves) in by_broker {
            for ((topic, partition), err) in admin.alter_replica_log_dirs(broker, &moves).await? {
                match err {
                    None => {
                        pending.remove(&(topic, partition, broker));
                    }
                    Some(e) if e.code() == Some(crate::client::ResponseError::ReplicaNotAvailable) => {}
                    Some(e) => bail!("cannot move replica {}: {e}", replica_name(&(topic, partition, broker))),
                }
            }
        }
        if pending.is_empty() {
            let plural = if dirs.len() == 1 { "" } else { "s" };
            let names: Vec<String> = dirs.keys().map(replica_name).collect();
            println!("Successfully started log directory move{plural} for: {}", names.join(","));
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let names: Vec<String> = pending.keys().map(replica_name).collect();
            bail!(
                "Replicas {} were not created within {} ms to be moved to their log dirs",
                names.join(","),
                timeout.as_millis()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kafka's lines for the replicas asked to move between log dirs: done when
/// the broker reports the replica in the requested dir.
async fn verify_log_dirs(admin: &Admin, dirs: &LogDirs) -> anyhow::Result<bool> {
    if dirs.is_empty() {
        return Ok(true);
    }
    println!("\nStatus of replica log directory movement:");
    let mut all_done = true;
    for (replica, wanted) in dirs {
        let (topic, partition, broker) = replica;
        let described = admin.describe_log_dirs(*broker, Some(&[(topic.clone(), vec![*partition])])).await?;
        let holder = described
            .iter()
            .find(|d| d.replicas.iter().any(|r| &r.topic == topic && r.partition == *partition && !r.is_future));
        match holder {
            Some(d) if Path::new(&d.path) == Path::new(wanted) => {
                println!("Reassignment of replica {} completed successfully.", replica_name(replica));
            }
            Some(d) => {
                all_done = false;
                println!(
                    "Reassignment of replica {} is still in progress: it is in {} rather than {wanted}.",
                    replica_name(replica),
                    d.path
                );
            }
            None => {
                all_done = false;
                println!("Partition {topic}-{partition} is not found in any live log dir on broker {broker}.");
            }
        }
    }
    Ok(all_done)
}

// ---- throttles ----

/// What `--throttle` limits, by Kafka's rule: on each topic, the leader side
/// throttles the existing replicas of its moving partitions (`p:b`) and the
/// follower side the replicas being added; the rates go to every broker
/// involved in a move (old and new replicas).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ThrottlePlan {
    /// Topic → `leader.replication.throttled.replicas` entries.
    pub leader: BTreeMap<String, Vec<String>>,
    /// Topic → `follower.replication.throttled.replicas` entries.
    pub follower: BTreeMap<String, Vec<String>>,
    /// Brokers that get `leader.replication.throttled.rate` / `follower.replication.throttled.rate`.
    pub brokers: BTreeSet<i32>,
}

/// Computes the throttles of a move from `current` to `target` (partitions
/// whose replica set does not change are not throttled).
pub(crate) fn throttle_plan(current: &Assignment, target: &Assignment) -> ThrottlePlan {
    let mut plan = ThrottlePlan::default();
    for (key, wanted) in target {
        let Some(existing) = current.get(key) else { continue };
        if existing == wanted {
            continue;
        }
        let (topic, p) = key;
        let leader = plan.leader.entry(topic.clone()).or_default();
        leader.extend(existing.iter().map(|b| format!("{p}:{b}")));
        let added: Vec<i32> = wanted.iter().copied().filter(|b| !existing.contains(b)).collect();
        if !added.is_empty() {
            plan.follower.entry(topic.clone()).or_default().extend(added.iter().map(|b| format!("{p}:{b}")));
        }
        plan.brokers.extend(existing.iter().chain(wanted));
    }
    plan
}

/// The broker keys `--throttle` sets and `--verify` clears.
const RATE_KEYS: [&str; 2] = ["leader.replication.throttled.rate", "follower.replication.throttled.rate"];
/// The broker key of `--replica-alter-log-dirs-throttle`.
const LOG_DIRS_RATE_KEY: &str = "replica.alter.log.dirs.io.max.bytes.per.second";
/// The topic keys naming the throttled replicas.
const REPLICA_KEYS: [&str; 2] = ["leader.replication.throttled.replicas", "follower.replication.throttled.replicas"];

/// Config keys and values to set on one broker or topic.
type Settings = Vec<(String, String)>;

/// The config changes a throttle makes: per broker the rates, per topic the
/// throttled replicas (Kafka's `--throttle` writes the same keys).
fn throttle_changes(
    plan: &ThrottlePlan,
    rate: Option<i64>,
    log_dirs_rate: Option<i64>,
) -> (BTreeMap<i32, Settings>, BTreeMap<String, Settings>) {
    let mut brokers: BTreeMap<i32, Settings> = BTreeMap::new();
    for b in &plan.brokers {
        let entry = brokers.entry(*b).or_default();
        if let Some(r) = rate {
            entry.extend(RATE_KEYS.iter().map(|k| (k.to_string(), r.to_string())));
        }
        if let Some(r) = log_dirs_rate {
            entry.push((LOG_DIRS_RATE_KEY.to_string(), r.to_string()));
        }
    }
    brokers.retain(|_, v| !v.is_empty());
    let mut topics: BTreeMap<String, Settings> = BTreeMap::new();
    if rate.is_some() {
        for (side, replicas) in [(REPLICA_KEYS[0], &plan.leader), (REPLICA_KEYS[1], &plan.follower)] {
            for (topic, list) in replicas {
                topics.entry(topic.clone()).or_default().push((side.to_string(), list.join(",")));
            }
        }
    }
    (brokers, topics)
}

/// Kafka's lines after a throttle was set.
fn report_throttle(rate: Option<i64>, log_dirs_rate: Option<i64>) {
    if rate.is_some() || log_dirs_rate.is_some() {
        println!(
            "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed."
        );
    }
    if let Some(r) = rate {
        println!("The inter-broker throttle limit was set to {r} B/s");
    }
    if let Some(r) = log_dirs_rate {
        println!("The replica-alter-dir throttle limit was set to {r} B/s");
    }
}

/// Sets the throttles of a move through IncrementalAlterConfigs.
async fn set_throttles(
    admin: &Admin,
    plan: &ThrottlePlan,
    rate: Option<i64>,
    log_dirs_rate: Option<i64>,
) -> anyhow::Result<()> {
    let (brokers, topics) = throttle_changes(plan, rate, log_dirs_rate);
    let set = |kv: Vec<(String, String)>| kv.into_iter().map(|(k, v)| AlterConfigOp::Set(k, v)).collect::<Vec<_>>();
    let mut changes: Vec<(ConfigResource, Vec<AlterConfigOp>)> =
        brokers.into_iter().map(|(b, kv)| (ConfigResource::Broker(b), set(kv))).collect();
    changes.extend(topics.into_iter().map(|(t, kv)| (ConfigResource::Topic(t), set(kv))));
    if changes.is_empty() {
        return Ok(());
    }
    admin.incremental_alter_configs(&changes, false).await.context("cannot set the replication throttles")?;
    report_throttle(rate, log_dirs_rate);
    Ok(())
}

/// Removes the throttle configs from `brokers` and `topics`.
async fn clear_throttles(admin: &Admin, brokers: &[i32], topics: &[String]) -> anyhow::Result<()> {
    let delete = |keys: &[&str]| keys.iter().map(|k| AlterConfigOp::Delete(k.to_string())).collect::<Vec<_>>();
    let mut broker_keys: Vec<&str> = RATE_KEYS.to_vec();
    broker_keys.push(LOG_DIRS_RATE_KEY);
    let mut changes: Vec<(ConfigResource, Vec<AlterConfigOp>)> =
        brokers.iter().map(|b| (ConfigResource::Broker(*b), delete(&broker_keys))).collect();
    changes.extend(topics.iter().map(|t| (ConfigResource::Topic(t.clone()), delete(&REPLICA_KEYS))));
    admin.incremental_alter_configs(&changes, false).await.context("cannot clear the replication throttles")?;
    Ok(())
}

/// Kafka's lines after clearing.
async fn clear_and_report(admin: &Admin, topics: Vec<String>) -> anyhow::Result<()> {
    let brokers: Vec<i32> = admin.cluster().await?.brokers.iter().map(|b| b.id).collect();
    clear_throttles(admin, &brokers, &topics).await?;
    println!("Clearing broker-level throttles on brokers {}", ids(&brokers));
    let plural = if topics.len() == 1 { "" } else { "s" };
    println!("Clearing topic-level throttles on topic{plural} {}", topics.join(","));
    Ok(())
}

// ---- --bootstrap-server ----

/// The current replicas of the topics of `wanted` (every partition of them).
async fn current_assignment(admin: &Admin, topics: &[String]) -> anyhow::Result<Assignment> {
    let described = admin.describe_topics(Some(topics)).await?;
    let mut out = Assignment::new();
    for t in described {
        for p in t.partitions {
            out.insert((t.name.clone(), p.partition), p.replicas);
        }
    }
    Ok(out)
}

fn topics_of(a: &Assignment) -> Vec<String> {
    a.keys().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

async fn generate_with_admin(admin: &Admin, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let topics =
        parse_topics(&read_file(m.get_one::<PathBuf>("topics-to-move-json-file").context("no topics file")?)?)?;
    let brokers = parse_broker_list(m.get_one::<String>("broker-list").map_or("", String::as_str))?;
    let known: Vec<i32> = admin.cluster().await?.brokers.iter().map(|b| b.id).collect();
    if let Some(b) = brokers.iter().find(|b| !known.contains(b)) {
        bail!("Unknown broker id {b}");
    }
    let current = current_assignment(admin, &topics).await?;
    let proposed = propose(&current, &brokers)?;
    print_generated(&current, &proposed);
    Ok(ExitCode::SUCCESS)
}

async fn execute(admin: &Admin, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let (target, dirs) = reassignment_file(m)?;
    let known: Vec<i32> = admin.cluster().await?.brokers.iter().map(|b| b.id).collect();
    let mut wanted_brokers: BTreeSet<i32> = BTreeSet::new();
    target.values().for_each(|r| wanted_brokers.extend(r));
    if let Some(b) = wanted_brokers.iter().find(|b| !known.contains(b)) {
        bail!("Unknown broker id {b}");
    }
    let all_current = current_assignment(admin, &topics_of(&target)).await?;
    let missing: Vec<(String, i32)> = target.keys().filter(|k| !all_current.contains_key(*k)).cloned().collect();
    if !missing.is_empty() {
        bail!("Unable to find partition: {}", names(missing));
    }
    let ongoing = admin.list_partition_reassignments(None).await?;
    if !ongoing.is_empty() && !m.get_flag("additional") {
        bail!(
            "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment."
        );
    }
    let current: Assignment = all_current.into_iter().filter(|(k, _)| target.contains_key(k)).collect();
    println!(
        "Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback",
        format_assignment(&current)
    );
    let plan = throttle_plan(&current, &target);
    let rate = m.get_one::<i64>("throttle").copied().filter(|r| *r >= 0);
    let log_dirs_rate = m.get_one::<i64>("replica-alter-log-dirs-throttle").copied().filter(|r| *r >= 0);
    set_throttles(admin, &plan, rate, log_dirs_rate).await?;
    let changes: BTreeMap<(String, i32), Option<Vec<i32>>> =
        target.iter().map(|(k, r)| (k.clone(), Some(r.clone()))).collect();
    let results = admin.alter_partition_reassignments(&changes).await?;
    let errors: Vec<String> =
        results.iter().filter_map(|r| r.error.as_ref().map(|e| format!("{}-{}: {e}", r.topic, r.partition))).collect();
    if !errors.is_empty() {
        let plural = if errors.len() == 1 { "" } else { "s" };
        bail!("Error reassigning partition{plural}:\n{}", errors.join("\n"));
    }
    let plural = if target.len() == 1 { "" } else { "s" };
    println!("Successfully started partition reassignment{plural} for {}", names(target.into_keys()));
    if !dirs.is_empty() {
        let timeout = Duration::from_millis(*m.get_one::<u64>("timeout").unwrap_or(&10_000));
        move_log_dirs(admin, &dirs, timeout).await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(admin: &Admin, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let (target, dirs) = reassignment_file(m)?;
    let keys: Vec<(String, i32)> = target.keys().cloned().collect();
    let ongoing = admin.list_partition_reassignments(Some(&keys)).await?;
    let current = current_assignment(admin, &topics_of(&target)).await?;
    println!("Status of partition reassignment:");
    let mut all_done = true;
    for (key, wanted) in &target {
        let name = format!("{}-{}", key.0, key.1);
        if ongoing.contains_key(key) {
            all_done = false;
            println!("Reassignment of partition {name} is still in progress.");
        } else {
            match current.get(key) {
                Some(r) if r == wanted => println!("Reassignment of partition {name} is completed."),
                Some(r) => {
                    all_done = false;
                    println!(
                        "There is no active reassignment of partition {name}, but replica set is {} rather than {}.",
                        ids(r),
                        ids(wanted)
                    );
                }
                None => {
                    all_done = false;
                    println!("Partition {name} does not exist.");
                }
            }
        }
    }
    let all_done = verify_log_dirs(admin, &dirs).await? && all_done;
    if all_done && !m.get_flag("preserve-throttles") {
        println!();
        clear_and_report(admin, topics_of(&target)).await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn cancel(admin: &Admin, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let target = reassignment_file(m)?.0;
    let keys: Vec<(String, i32)> = target.keys().cloned().collect();
    let ongoing = admin.list_partition_reassignments(Some(&keys)).await?;
    if ongoing.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        let changes: BTreeMap<(String, i32), Option<Vec<i32>>> = ongoing.keys().map(|k| (k.clone(), None)).collect();
        let results = admin.alter_partition_reassignments(&changes).await?;
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("{}-{}: {e}", r.topic, r.partition)))
            .collect();
        if !errors.is_empty() {
            let plural = if errors.len() == 1 { "" } else { "s" };
            bail!("Error cancelling partition reassignment{plural} for:\n{}", errors.join("\n"));
        }
        let plural = if changes.len() == 1 { "" } else { "s" };
        println!("Successfully cancelled partition reassignment{plural} for: {}", names(changes.into_keys()));
    }
    if !m.get_flag("preserve-throttles") {
        clear_and_report(admin, topics_of(&target)).await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(admin: &Admin) -> anyhow::Result<ExitCode> {
    let ongoing = admin.list_partition_reassignments(None).await?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
    } else {
        println!("Current partition reassignments:");
        for ((t, p), r) in ongoing {
            // Kafka leaves out an empty side.
            let adding = if r.adding.is_empty() { String::new() } else { format!(" adding: {}.", ids(&r.adding)) };
            let removing =
                if r.removing.is_empty() { String::new() } else { format!(" removing: {}.", ids(&r.removing)) };
            println!("{t}-{p}: replicas: {}.{adding}{removing}", ids(&r.replicas));
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---- --zookeeper (Kafka 0.10) ----

async fn zookeeper(connect: &str, action: &str, m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let zk = ZkAdmin::connect(connect).await.with_context(|| format!("cannot connect to ZooKeeper at {connect}"))?;
    let current_of = |topics: Vec<crate::metadata::admin::TopicView>| -> Assignment {
        topics
            .into_iter()
            .flat_map(|t| t.partitions.into_iter().map(move |p| ((t.name.clone(), p.partition), p.replicas)))
            .collect()
    };
    match action {
        "generate" => {
            let topics =
                parse_topics(&read_file(m.get_one::<PathBuf>("topics-to-move-json-file").context("no topics file")?)?)?;
            let brokers = parse_broker_list(m.get_one::<String>("broker-list").map_or("", String::as_str))?;
            let current = current_of(zk.describe(Some(&topics)).await?);
            print_generated(&current, &propose(&current, &brokers)?);
            Ok(ExitCode::SUCCESS)
        }
        "execute" => {
            let (target, dirs) = reassignment_file(m)?;
            if !dirs.is_empty() {
                bail!("Moving replicas between log dirs needs --bootstrap-server (Kafka 0.10's ZooKeeper path has no log dirs)");
            }
            let topics = topics_of(&target);
            let all_current = current_of(zk.describe(Some(&topics)).await?);
            let missing: Vec<(String, i32)> =
                target.keys().filter(|k| !all_current.contains_key(*k)).cloned().collect();
            if !missing.is_empty() {
                bail!("The proposed assignment contains non-existent partitions: {}", names(missing));
            }
            let known = zk.broker_ids().await?;
            let unknown: BTreeSet<i32> = target.values().flatten().copied().filter(|b| !known.contains(b)).collect();
            if !unknown.is_empty() {
                bail!(
                    "The proposed assignment contains non-existent brokerIDs: {}",
                    ids(&unknown.into_iter().collect::<Vec<_>>())
                );
            }
            let current: Assignment = all_current.into_iter().filter(|(k, _)| target.contains_key(k)).collect();
            let plan = throttle_plan(&current, &target);
            let entries: Vec<crate::metadata::znode::ReassignEntry> = target.into_iter().collect();
            if !zk.pending_reassignments().await?.is_empty() {
                println!("There is an existing assignment running.");
                return Ok(ExitCode::from(super::EXIT_FAILURE));
            }
            println!(
                "Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback",
                format_assignment(&current)
            );
            let rate = m.get_one::<i64>("throttle").copied().filter(|r| *r >= 0);
            let log_dirs_rate = m.get_one::<i64>("replica-alter-log-dirs-throttle").copied().filter(|r| *r >= 0);
            set_throttles_zk(&zk, &plan, rate, log_dirs_rate).await?;
            if zk.request_reassignment(&entries).await? {
                println!("Successfully started reassignment of partitions.");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("There is an existing assignment running.");
                Ok(ExitCode::from(super::EXIT_FAILURE))
            }
        }
        _ => {
            let target = reassignment_file(m)?.0;
            let pending: BTreeSet<(String, i32)> =
                zk.pending_reassignments().await?.into_iter().map(|(k, _)| k).collect();
            let current = current_of(zk.describe(Some(&topics_of(&target))).await?);
            println!("Status of partition reassignment: ");
            for (key, wanted) in &target {
                let name = format!("[{},{}]", key.0, key.1);
                if pending.contains(key) {
                    println!("Reassignment of partition {name} is still in progress");
                } else if current.get(key) == Some(wanted) {
                    println!("Reassignment of partition {name} completed successfully");
                } else {
                    println!("Reassignment of partition {name} failed");
                }
            }
            if !target.keys().any(|k| pending.contains(k)) && clear_throttles_zk(&zk, &topics_of(&target)).await? {
                println!("Throttle was removed.");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--throttle` with `--zookeeper`: the same keys written straight into the
/// config znodes (with their change notifications), as Kafka 0.10.1's tool did.
async fn set_throttles_zk(
    zk: &ZkAdmin,
    plan: &ThrottlePlan,
    rate: Option<i64>,
    log_dirs_rate: Option<i64>,
) -> anyhow::Result<()> {
    let (brokers, topics) = throttle_changes(plan, rate, log_dirs_rate);
    let targets = brokers
        .into_iter()
        .map(|(b, kv)| ("brokers", b.to_string(), kv))
        .chain(topics.into_iter().map(|(t, kv)| ("topics", t, kv)));
    let mut any = false;
    for (entity_type, name, kv) in targets {
        let mut config = zk.entity_config(entity_type, &name).await?;
        config.extend(kv);
        zk.set_entity_config(entity_type, &name, &config).await?;
        any = true;
    }
    if any {
        report_throttle(rate, log_dirs_rate);
    }
    Ok(())
}

/// Removes the throttle keys from every registered broker and from `topics`
/// through ZooKeeper; whether there was any to remove.
async fn clear_throttles_zk(zk: &ZkAdmin, topics: &[String]) -> anyhow::Result<bool> {
    let brokers = zk.broker_ids().await?;
    let targets = brokers
        .iter()
        .map(|b| ("brokers", b.to_string(), &[RATE_KEYS[0], RATE_KEYS[1], LOG_DIRS_RATE_KEY][..]))
        .chain(topics.iter().map(|t| ("topics", t.clone(), &REPLICA_KEYS[..])));
    let mut removed = false;
    for (entity_type, name, keys) in targets {
        let mut config = zk.entity_config(entity_type, &name).await?;
        let before = config.len();
        config.retain(|k, _| !keys.contains(&k.as_str()));
        if config.len() != before {
            zk.set_entity_config(entity_type, &name, &config).await?;
            removed = true;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The replicas of a reassignment file.
    fn parse(text: &str) -> anyhow::Result<Assignment> {
        parse_reassignment_file(text).map(|(assignment, _)| assignment)
    }

    fn a(entries: &[(&str, i32, &[i32])]) -> Assignment {
        entries.iter().map(|(t, p, r)| ((t.to_string(), *p), r.to_vec())).collect()
    }

    #[test]
    fn reassignment_files() {
        let parsed = parse(
            r#"{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[3,1],"log_dirs":["any","any"]},{"topic":"t","partition":0,"replicas":[1]}]}"#,
        )
        .expect("parse");
        assert_eq!(parsed, a(&[("t", 0, &[1]), ("t", 1, &[3, 1])]));
        assert_eq!(
            format_assignment(&parsed),
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"t","partition":1,"replicas":[3,1],"log_dirs":["any","any"]}]}"#
        );
        assert_eq!(parse(&format_assignment(&parsed)).expect("round trip"), parsed);
        let err = |text: &str| parse(text).expect_err(text).to_string();
        assert!(err("{").contains("not valid JSON"));
        assert_eq!(err(r#"{"version":1,"partitions":[]}"#), "Partition reassignment list cannot be empty");
        assert_eq!(
            err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#),
            "Partition replica list cannot be empty"
        );
        assert!(err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}"#)
            .contains("t-0 contains multiple entries for 1"));
        assert!(err(
            r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#
        )
        .contains("duplicate topic partitions: t-0"));
        assert!(err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any","any"]}]}"#)
            .contains("log dirs"));
        assert!(err(r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["rel/dir"]}]}"#)
            .contains("must be \"any\" or an absolute path"));
        let text = r#"{"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","/d/2"]}]}"#;
        parse(text).expect("a log dir per replica");
        assert_eq!(
            parse_reassignment_file(text).expect("parse").1.into_iter().collect::<Vec<_>>(),
            [(("t".to_string(), 0, 2), "/d/2".to_string())]
        );
        assert_eq!(
            parse_topics(r#"{"topics":[{"topic":"a"},{"topic":"b"}],"version":1}"#).expect("topics"),
            ["a", "b"]
        );
        assert!(parse_topics(r#"{"topics":[{"topic":"a"},{"topic":"a"}]}"#).is_err());
        assert_eq!(parse_broker_list("1,2, 3").expect("list"), [1, 2, 3]);
        assert!(parse_broker_list("1,1").is_err() && parse_broker_list("1,x").is_err());
    }

    #[test]
    fn throttles_follow_kafkas_rule() {
        let current = a(&[("t", 0, &[0, 1, 2]), ("t", 1, &[1, 2, 0]), ("u", 0, &[0])]);
        let target = a(&[("t", 0, &[1, 2, 3]), ("t", 1, &[1, 2, 0]), ("u", 0, &[4])]);
        let plan = throttle_plan(&current, &target);
        assert_eq!(plan.leader["t"], ["0:0", "0:1", "0:2"]);
        assert_eq!(plan.follower["t"], ["0:3"]);
        assert_eq!(
            (plan.leader["u"].as_slice(), plan.follower["u"].as_slice()),
            (&["0:0".to_string()][..], &["0:4".to_string()][..])
        );
        assert_eq!(plan.brokers, BTreeSet::from([0, 1, 2, 3, 4]));
        assert_eq!(throttle_plan(&current, &current), ThrottlePlan::default());
    }

    #[test]
    fn proposals_use_only_the_listed_brokers() {
        let current = a(&[("t", 0, &[0, 1]), ("t", 1, &[1, 2]), ("t", 2, &[2, 0])]);
        let proposed = propose(&current, &[3, 4, 5]).expect("propose");
        assert_eq!(proposed.len(), 3);
        for r in proposed.values() {
            assert_eq!(r.len(), 2);
            assert!(r.iter().all(|b| [3, 4, 5].contains(b)) && r[0] != r[1]);
        }
        assert!(propose(&current, &[3]).is_err());
    }

    #[test]
    fn flags() {
        assert!(command().try_get_matches_from(["r", "--list"]).is_err(), "a connection is required");
        assert!(command().try_get_matches_from(["r", "--bootstrap-server", "b:1"]).is_err(), "an action is required");
        assert!(command().try_get_matches_from(["r", "--bootstrap-server", "b:1", "--list", "--verify"]).is_err());
        assert!(command()
            .try_get_matches_from(["r", "--zookeeper", "z", "--verify", "--reassignment-json-file", "f"])
            .is_ok());
    }
}
