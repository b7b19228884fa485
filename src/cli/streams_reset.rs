//! `streams-application-reset` (kafka-streams-application-reset.sh): Kafka's
//! StreamsResetter. Makes a stopped Kafka Streams application reprocess its
//! input from scratch: the application's consumer group (its id is the
//! `application.id`) gets new committed offsets for the input topics (the
//! earliest by default, or `--to-offset`, `--to-latest`, `--to-datetime`,
//! `--by-duration`, `--shift-by`, `--from-file`), the end for intermediate
//! topics, and the application's internal topics (`<application.id>-…-changelog`,
//! `…-repartition`) are deleted.
//!
//! It refuses while the group has members: committing offsets under a
//! running application would be overwritten by it (and the coordinator
//! refuses administrative commits to a live group anyway). `--force`
//! removes the members first, for instances that died with a long session
//! timeout. Local state stores are the application's business; this tool
//! cannot reach them. Output follows Kafka's lines (stdout), errors go to
//! stderr prefixed `ERROR:`, exit 1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig, ClientError, OffsetSpec, TopicPartition};

const HELP: &str = "\
The Streams Reset Tool lets a stopped Kafka Streams application reprocess its input from scratch.
* It resets the application's committed offsets of its input topics to the earliest available offset (or as a \
reset option says) and moves its offsets of intermediate topics to their end.
* It deletes the internal topics the application created (<application.id>-...-changelog and \
<application.id>-...-repartition); --internal-topics deletes a subset of them only.
* It deletes no output topics (use kafka-topics.sh --delete) and no local state: call KafkaStreams#cleanUp() \
or delete the application's directory under state.dir.
* Stop every instance of the application first: the tool refuses while the group has members; --force removes \
them (members of instances that died but whose session has not yet expired).
Run it with --dry-run first: the changes cannot be undone.";

/// The reset options for input topics; at most one may be given.
const SCENARIOS: [&str; 7] =
    ["to-offset", "to-datetime", "by-duration", "to-earliest", "to-latest", "shift-by", "from-file"];

fn list_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("LIST").value_delimiter(',').action(ArgAction::Append).help(help)
}

pub fn command() -> Command {
    Command::new("streams-application-reset")
        .about("Reset a Kafka Streams application so that it reprocesses its input (Kafka's StreamsResetter)")
        .after_help(HELP)
        .arg(
            Arg::new("application-id")
                .long("application-id")
                .value_name("ID")
                .required(true)
                .help("REQUIRED: the Kafka Streams application ID (application.id)"),
        )
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .visible_alias("bootstrap-servers")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .default_value("localhost:9092")
                .help("The server(s) to connect to"),
        )
        .arg(list_arg(
            "input-topics",
            "Comma-separated input topics: their offsets are reset to the earliest available offset, or as a reset option says",
        ))
        .arg(list_arg(
            "intermediate-topics",
            "[deprecated in Kafka] Comma-separated topics the application both writes and reads: their offsets move to the end",
        ))
        .arg(list_arg(
            "internal-topics",
            "Comma-separated internal topics to delete: a subset of those the default deletes (see a --dry-run without this option)",
        ))
        .arg(
            Arg::new("to-offset")
                .long("to-offset")
                .value_name("OFFSET")
                .value_parser(clap::value_parser!(i64))
                .help("Reset input offsets to this offset"),
        )
        .arg(
            Arg::new("to-datetime")
                .long("to-datetime")
                .value_name("DATETIME")
                .help("Reset input offsets to the first record at or after a time: 'YYYY-MM-DDTHH:mm:SS.sss[zone]'"),
        )
        .arg(
            Arg::new("by-duration")
                .long("by-duration")
                .value_name("DURATION")
                .help("Reset input offsets to the first record at or after now minus a duration: 'PnDTnHnMnS'"),
        )
        .arg(Arg::new("to-earliest").long("to-earliest").action(ArgAction::SetTrue).help("Reset input offsets to the earliest offset (the default)"))
        .arg(Arg::new("to-latest").long("to-latest").action(ArgAction::SetTrue).help("Reset input offsets to the latest offset"))
        .arg(
            Arg::new("shift-by")
                .long("shift-by")
                .value_name("N")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Shift the committed input offsets by N (negative moves back)"),
        )
        .arg(
            Arg::new("from-file")
                .long("from-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Reset input offsets to those of a CSV file of TOPIC,PARTITION,OFFSET lines"),
        )
        .group(ArgGroup::new("scenario").args(SCENARIOS).multiple(false))
        .arg(common::config_file_arg("command-config", "Property file with configs for the admin client"))
        .arg(
            common::config_file_arg("config-file", "Property file with configs for the admin client (older name of --command-config)")
                .conflicts_with("command-config"),
        )
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Show what would be done without changing anything"),
        )
        .arg(
            Arg::new("execute")
                .long("execute")
                .action(ArgAction::SetTrue)
                .conflicts_with("dry-run")
                .hide(true)
                .help("Accepted for compatibility with Kafka 1.x-2.x, where it was the opposite of --dry-run"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Remove the group's members first (stop every instance of the application before using it)"),
        )
}

/// Where input offsets go.
#[derive(Debug, Clone, PartialEq)]
enum Scenario {
    Earliest,
    Latest,
    ToOffset(i64),
    /// Epoch milliseconds.
    ToTimestamp(i64),
    /// Milliseconds before now.
    ByDuration(i64),
    ShiftBy(i64),
    FromFile(BTreeMap<TopicPartition, i64>),
}

/// The validated command line.
#[derive(Debug)]
struct Options {
    application_id: String,
    input_topics: Vec<String>,
    intermediate_topics: Vec<String>,
    internal_topics: Vec<String>,
    scenario: Scenario,
    dry_run: bool,
    force: bool,
}

fn list(m: &ArgMatches, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in m.get_many::<String>(name).into_iter().flatten() {
        let t = t.trim();
        if !t.is_empty() && !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// A `--from-file` plan: `TOPIC,PARTITION,OFFSET` lines.
fn parse_reset_plan(text: &str) -> Result<BTreeMap<TopicPartition, i64>, String> {
    if text.trim().is_empty() {
        return Err("Error parsing reset plan CSV file. It is empty.".to_string());
    }
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || format!("Line {} of the reset plan ('{line}') is not in the format TOPIC,PARTITION,OFFSET", n + 1);
        let [topic, partition, offset] = line.split(',').map(str::trim).collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        let partition: i32 = partition.parse().map_err(|_| bad())?;
        let offset: i64 = offset.parse().map_err(|_| bad())?;
        out.insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(out)
}

fn options(m: &ArgMatches) -> Result<Options, String> {
    let scenario = if let Some(n) = m.get_one::<i64>("to-offset") {
        Scenario::ToOffset(*n)
    } else if let Some(v) = m.get_one::<String>("to-datetime") {
        Scenario::ToTimestamp(super::consumer_groups::parse_datetime(v)?)
    } else if let Some(v) = m.get_one::<String>("by-duration") {
        Scenario::ByDuration(super::consumer_groups::parse_duration(v)?)
    } else if m.get_flag("to-latest") {
        Scenario::Latest
    } else if let Some(n) = m.get_one::<i64>("shift-by") {
        Scenario::ShiftBy(*n)
    } else if let Some(path) = m.get_one::<PathBuf>("from-file") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Scenario::FromFile(parse_reset_plan(&text)?)
    } else {
        Scenario::Earliest
    };
    let application_id = m.get_one::<String>("application-id").cloned().unwrap_or_default();
    if application_id.trim().is_empty() {
        return Err("--application-id must not be empty".to_string());
    }
    Ok(Options {
        application_id,
        input_topics: list(m, "input-topics"),
        intermediate_topics: list(m, "intermediate-topics"),
        internal_topics: list(m, "internal-topics"),
        scenario,
        dry_run: m.get_flag("dry-run"),
        force: m.get_flag("force"),
    })
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    // Quiet by default; RUST_LOG=debug shows coordinator lookups and retries.
    super::init_logging("error");
    let opts = match options(m) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("command-config").or(m.get_one::<PathBuf>("config-file")) {
        let props = common::read_properties(path)?;
        common::set_client_properties(&mut config, path, props)?;
    }
    let rt = common::runtime()?;
    match rt.block_on(reset(config, &opts)) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(super::EXIT_FAILURE)),
        Err(e) => {
            eprintln!("ERROR: {}", error_text(&e));
            Ok(ExitCode::from(super::EXIT_FAILURE))
        }
    }
}

/// The error and its causes, each once: client errors already include
/// their source in their own message.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Java's `List.toString`: `[a, b]`.
fn java_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// The whole reset; `Ok(false)` when a named topic does not exist (the rest
/// is still done, as in Kafka).
async fn reset(config: ClientConfig, opts: &Options) -> anyhow::Result<bool> {
    let admin = Admin::connect(config).await.context("cannot reach the cluster")?;
    remove_or_refuse_members(&admin, &opts.application_id, opts.force).await?;
    let all_topics: BTreeSet<String> = admin.list_topics(true).await?.into_iter().collect();
    if opts.dry_run {
        println!("----Dry run displays the actions which will be performed when running Streams Reset Tool----");
    }
    let found = reset_offsets(&admin, opts, &all_topics).await?;
    delete_internal_topics(&admin, opts, &all_topics).await?;
    Ok(found)
}

/// Refuses while the group has members, or removes them with `--force`.
async fn remove_or_refuse_members(admin: &Admin, group: &str, force: bool) -> anyhow::Result<()> {
    let description = admin
        .describe_groups(&[group.to_string()])
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("no description of group '{group}'"))?;
    if description.members.is_empty() {
        return Ok(());
    }
    if force {
        println!("Force deleting all active members in the group: {group}");
        let members: Vec<(String, Option<String>)> =
            description.members.iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone())).collect();
        admin.remove_group_members(group, &members).await?;
        return Ok(());
    }
    let members: Vec<String> = description
        .members
        .iter()
        .map(|m| format!("(memberId={}, clientId={}, host={})", m.member_id, m.client_id, m.host))
        .collect();
    bail!(
        "Consumer group '{group}' is still active and has following members: {}. Make sure to stop all running \
         application instances before running the reset tool. You can use option '--force' to remove active \
         members from the group.",
        java_list(&members)
    )
}

/// Commits the new offsets of the input and intermediate topics; `Ok(false)`
/// when some named topic does not exist.
async fn reset_offsets(admin: &Admin, opts: &Options, all_topics: &BTreeSet<String>) -> anyhow::Result<bool> {
    let (inputs, intermediates) = (&opts.input_topics, &opts.intermediate_topics);
    if inputs.is_empty() && intermediates.is_empty() {
        println!("No input or intermediate topics specified. Skipping seek.");
        return Ok(true);
    }
    if !inputs.is_empty() {
        println!("Reset-offsets for input topics {}", java_list(inputs));
    }
    if !intermediates.is_empty() {
        println!("Seek-to-end for intermediate topics {}", java_list(intermediates));
    }
    let missing =
        |topics: &[String]| -> Vec<String> { topics.iter().filter(|t| !all_topics.contains(*t)).cloned().collect() };
    let (missing_inputs, missing_intermediates) = (missing(inputs), missing(intermediates));
    let mut all_found = true;
    for (kind, missing) in [("input", &missing_inputs), ("intermediate", &missing_intermediates)] {
        if !missing.is_empty() {
            println!("Following {kind} topics are not found, skipping them");
            for t in missing.iter() {
                println!("Topic: {t}");
            }
            eprintln!("ERROR: {kind} topics not found: {}", java_list(missing));
            all_found = false;
        }
    }
    let present = |topics: &[String], missing: &[String]| -> Vec<String> {
        topics.iter().filter(|t| !missing.contains(t)).cloned().collect()
    };
    let (inputs, intermediates) = (present(inputs, &missing_inputs), present(intermediates, &missing_intermediates));
    if inputs.is_empty() && intermediates.is_empty() {
        return Ok(all_found);
    }
    let group = opts.application_id.as_str();
    let result = async {
        let mut offsets = BTreeMap::new();
        if !inputs.is_empty() {
            println!("Following input topics offsets will be reset to (for consumer group {group})");
            let planned = plan_inputs(admin, group, &partitions_of(admin, &inputs).await?, &opts.scenario).await?;
            for (tp, offset) in &planned {
                println!("Topic: {} Partition: {} Offset: {offset}", tp.topic, tp.partition);
            }
            offsets.extend(planned);
        }
        if !intermediates.is_empty() {
            println!("Following intermediate topics offsets will be reset to end (for consumer group {group})");
            for t in &intermediates {
                println!("Topic: {t}");
            }
            for tp in partitions_of(admin, &intermediates).await? {
                let end = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?;
                offsets.insert(tp, end);
            }
        }
        if !opts.dry_run {
            admin.alter_group_offsets(group, &offsets).await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("ERROR: Resetting offsets failed.");
        return Err(e);
    }
    println!("Done.");
    Ok(all_found)
}

/// Every partition of the topics, sorted.
async fn partitions_of(admin: &Admin, topics: &[String]) -> Result<Vec<TopicPartition>, ClientError> {
    let mut out: Vec<TopicPartition> = admin
        .describe_topics(Some(topics))
        .await?
        .iter()
        .flat_map(|d| d.partitions.iter().map(|p| TopicPartition::new(d.name.clone(), p.partition)))
        .collect();
    out.sort();
    Ok(out)
}

/// Keeps a requested offset within [earliest, latest], saying so as Kafka does.
async fn clamp(admin: &Admin, tp: &TopicPartition, offset: i64) -> Result<i64, ClientError> {
    let end = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?;
    if offset >= end {
        if offset > end {
            println!("New offset ({offset}) is higher than latest offset of {tp}. Value will be set to {end}");
        }
        return Ok(end);
    }
    let start = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Earliest).await?;
    if offset < start {
        println!("New offset ({offset}) is lower than earliest offset of {tp}. Value will be set to {start}");
        return Ok(start);
    }
    Ok(offset)
}

/// The first offset at or after `timestamp`, or the end of a partition
/// without such a record.
async fn offset_at(admin: &Admin, tp: &TopicPartition, timestamp: i64) -> Result<i64, ClientError> {
    let found = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Timestamp(timestamp)).await?;
    if found >= 0 {
        return Ok(found);
    }
    println!(
        "Partition {} from topic {} is empty, without a committed record. Falling back to latest known offset.",
        tp.partition, tp.topic
    );
    admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The new offsets of the input partitions.
async fn plan_inputs(
    admin: &Admin,
    group: &str,
    partitions: &[TopicPartition],
    scenario: &Scenario,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let committed = match scenario {
        Scenario::ShiftBy(_) => admin.list_group_offsets(group, Some(partitions)).await?,
        _ => BTreeMap::new(),
    };
    let mut out = BTreeMap::new();
    for tp in partitions {
        let offset = match scenario {
            Scenario::Earliest => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Earliest).await?,
            Scenario::Latest => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?,
            Scenario::ToOffset(n) => clamp(admin, tp, *n).await?,
            Scenario::ToTimestamp(ts) => offset_at(admin, tp, *ts).await?,
            Scenario::ByDuration(ms) => offset_at(admin, tp, now_ms().saturating_sub(*ms)).await?,
            Scenario::ShiftBy(n) => {
                // Without a committed offset the position is where the
                // application's consumer would start: the end (Kafka's
                // auto.offset.reset default).
                let position = match committed.get(tp) {
                    Some(c) => c.offset,
                    None => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?,
                };
                clamp(admin, tp, position.saturating_add(*n)).await?
            }
            Scenario::FromFile(plan) => match plan.get(tp) {
                Some(offset) => clamp(admin, tp, *offset).await?,
                None => bail!("The reset plan has no offset for partition {tp}"),
            },
        };
        out.insert(tp.clone(), offset);
    }
    Ok(out)
}

/// Whether Kafka Streams would have created a topic of this name (Kafka's
/// `matchesInternalTopicFormat`): changelogs, repartition topics and the
/// topics of foreign-key joins.
fn is_internal_topic_name(name: &str) -> bool {
    let fk_join = |marker: &str| {
        name.strip_suffix("-topic").and_then(|rest| rest.rsplit_once(marker)).is_some_and(|(prefix, digits)| {
            !prefix.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
    };
    name.ends_with("-changelog")
        || name.ends_with("-repartition")
        || name.ends_with("-subscription-registration-topic")
        || name.ends_with("-subscription-response-topic")
        || fk_join("-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-")
        || fk_join("-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-")
}

/// The internal topics of the application among `topics`.
fn inferred_internal_topics<'a>(application_id: &str, topics: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let prefix = format!("{application_id}-");
    topics.into_iter().filter(|t| t.starts_with(&prefix) && is_internal_topic_name(t)).cloned().collect()
}

async fn delete_internal_topics(admin: &Admin, opts: &Options, all_topics: &BTreeSet<String>) -> anyhow::Result<()> {
    let inferred = inferred_internal_topics(&opts.application_id, all_topics);
    let to_delete = if opts.internal_topics.is_empty() {
        println!("Deleting inferred internal topics {}", java_list(&inferred));
        inferred
    } else {
        if let Some(other) = opts.internal_topics.iter().find(|t| !inferred.contains(t)) {
            bail!(
                "Invalid topic specified in the --internal-topics option: '{other}' is not an internal topic of \
                 application '{}'. Ensure that the topics specified are all internal topics. Do a dry run without \
                 the --internal-topics option to see the list of all internal topics that can be deleted.",
                opts.application_id
            );
        }
        println!("Deleting specified internal topics {}", java_list(&opts.internal_topics));
        opts.internal_topics.clone()
    };
    if !opts.dry_run {
        let mut failed = false;
        for topic in &to_delete {
            match admin.delete_topic(topic).await {
                Ok(()) => {}
                // Gone meanwhile: what was wanted.
                Err(e) if e.code() == Some(crate::client::ResponseError::UnknownTopicOrPartition) => {}
                Err(e) => {
                    eprintln!("ERROR: deleting topic {topic}: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            bail!("Encountered an error deleting one or more topics");
        }
    }
    println!("Done.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let m = command()
            .try_get_matches_from(std::iter::once("streams-application-reset").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        options(&m)
    }

    #[test]
    fn internal_topics_are_found_by_kafkas_rules() {
        let topics: Vec<String> = [
            "app-counts-changelog",
            "app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition",
            "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic",
            "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-x-topic",
            "app-input",
            "other-counts-changelog",
            "apple-counts-changelog",
            "app",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            inferred_internal_topics("app", &topics),
            vec![
                "app-counts-changelog".to_string(),
                "app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition".to_string(),
                "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic".to_string(),
            ]
        );
    }

    #[test]
    fn options_take_kafkas_flags() {
        let o = parse(&["--application-id", "app", "--input-topics", "a,b", "--input-topics", "c,a"]).expect("ok");
        assert_eq!(o.input_topics, ["a", "b", "c"]);
        assert_eq!(o.scenario, Scenario::Earliest);
        let o = parse(&["--application-id", "app", "--shift-by", "-2", "--dry-run"]).expect("ok");
        assert_eq!(o.scenario, Scenario::ShiftBy(-2));
        assert!(o.dry_run);
        let o = parse(&["--application-id", "app", "--bootstrap-servers", "h:1", "--by-duration", "PT1M"]).expect("ok");
        assert_eq!(o.scenario, Scenario::ByDuration(60_000));
        assert!(parse(&["--input-topics", "a"]).is_err(), "the application id is required");
        assert!(parse(&["--application-id", "app", "--to-earliest", "--to-latest"]).is_err());
        assert!(parse(&["--application-id", "app", "--to-datetime", "yesterday"]).is_err());
        assert!(parse(&["--application-id", "app", "--dry-run", "--execute"]).is_err());
    }

    #[test]
    fn reset_plans_are_topic_partition_offset_lines() {
        let plan = parse_reset_plan("in,0,5\nin,1,7\n\n").expect("plan");
        assert_eq!(plan.get(&TopicPartition::new("in", 1)), Some(&7));
        assert!(parse_reset_plan("").is_err());
        assert!(parse_reset_plan("in,0").is_err());
        assert!(parse_reset_plan("in,x,1").is_err());
    }
}
