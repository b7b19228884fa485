//! `consumer-groups` (kafka-consumer-groups.sh): list and describe consumer
//! groups, reset, delete and inspect their offsets, with Kafka 3.x's
//! ConsumerGroupCommand flags, validation and output formats.
//!
//! Kafka prints some errors on stdout and exits 0; we follow its wording but
//! keep our conventions: diagnostics on stderr, exit 1 for a runtime error and
//! 2 for a usage error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};
use comfy_table::Cell;
use serde::Serialize;

use super::output::{self, Format};
use crate::client::{Admin, ClientConfig, ClientError, CommittedOffset, GroupDescription, OffsetSpec, TopicPartition};
use crate::protocol::ErrorCode;

const MISSING: &str = "-";
const ACTIONS: [&str; 5] = ["list", "describe", "delete", "reset-offsets", "delete-offsets"];
const SCENARIOS: [&str; 8] =
    ["to-offset", "shift-by", "to-datetime", "by-duration", "to-earliest", "to-latest", "to-current", "from-file"];
/// Classic-protocol group states, as ListGroups and DescribeGroups spell them.
const STATES: [&str; 5] = ["PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"];

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
}

pub fn command() -> Command {
    Command::new("consumer-groups")
        .about("List, describe and delete consumer groups, and reset their offsets")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .help("REQUIRED: the server(s) to connect to"),
        )
        .arg(
            // Kafka 0.10's form for groups of the old ZooKeeper-based consumer;
            // refused with a pointer rather than clap's bare "unexpected argument".
            Arg::new("zookeeper").long("zookeeper").value_name("HOST:PORT").hide(true),
        )
        .arg(super::common::config_file_arg(
            "command-config",
            "Property file with client configs (request.timeout.ms, client.id, …)",
        ))
        .arg(flag("list", "List all consumer groups"))
        .arg(flag("describe", "Describe consumer groups and their offset lag"))
        .arg(flag("delete", "Delete consumer groups (they must have no active members)"))
        .arg(flag("reset-offsets", "Reset the offsets of inactive consumer groups"))
        .arg(flag("delete-offsets", "Delete the committed offsets of a group for the given topics"))
        .arg(
            Arg::new("group")
                .long("group")
                .value_name("GROUP")
                .action(ArgAction::Append)
                .help("The consumer group to act on (repeatable)"),
        )
        .arg(flag("all-groups", "Apply to all consumer groups"))
        .arg(
            Arg::new("topic")
                .long("topic")
                .value_name("TOPIC[:P,P...]")
                .action(ArgAction::Append)
                .help("A topic (with --reset-offsets optionally some partitions: topic1:0,1,2) (repeatable)"),
        )
        .arg(flag("all-topics", "With --reset-offsets: every topic the group has committed offsets for"))
        .arg(flag("members", "With --describe: the group's members"))
        .arg(flag("verbose", "With --describe --members: add each member's assignment"))
        .arg(flag("offsets", "With --describe: partitions with their offsets and lag (the default)"))
        .arg(
            Arg::new("state")
                .long("state")
                .value_name("STATE[,STATE...]")
                .num_args(0..=1)
                .help("With --describe: the group's state; with --list: show (or only list) groups in these states"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("MS")
                .value_parser(clap::value_parser!(u64).range(1..=i32::MAX as u64))
                .help("How long to wait for the cluster, in milliseconds"),
        )
        .arg(flag("dry-run", "Only show the new offsets (the default)"))
        .arg(flag("execute", "Commit the new offsets"))
        .arg(flag("export", "Print the new offsets as CSV"))
        .arg(
            Arg::new("to-offset")
                .long("to-offset")
                .value_name("OFFSET")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Reset to this offset"),
        )
        .arg(
            Arg::new("shift-by")
                .long("shift-by")
                .value_name("N")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Shift the current offset by N (may be negative)"),
        )
        .arg(
            Arg::new("to-datetime")
                .long("to-datetime")
                .value_name("YYYY-MM-DDTHH:mm:SS.sss")
                .help("Reset to the first offset at or after this time (UTC unless a zone like +01:00 is given)"),
        )
        .arg(
            Arg::new("by-duration")
                .long("by-duration")
                .value_name("PnDTnHnMnS")
                .allow_hyphen_values(true)
                .help("Reset to the first offset at or after now minus this duration"),
        )
        .arg(flag("to-earliest", "Reset to the earliest offset"))
        .arg(flag("to-latest", "Reset to the latest offset"))
        .arg(flag("to-current", "Reset to the current offset"))
        .arg(
            Arg::new("from-file")
                .long("from-file")
                .value_name("CSV")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Reset to the offsets in a CSV file (topic,partition,offset or group,topic,partition,offset)"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("FORMAT")
                .value_parser(clap::value_parser!(Format))
                .default_value("plain")
                .help("Output format for --list, --describe and --reset-offsets"),
        )
}

// ---------------------------------------------------------------------------
// Validation: raw flags → a checked plan, before any connection is made.

/// What to do, once the flags are checked.
#[derive(Debug)]
enum Action {
    List { states: Option<Vec<String>> },
    Describe { groups: Groups, view: View },
    Delete { groups: Groups },
    Reset { groups: Groups, scope: Scope, scenario: Scenario, execute: bool, export: bool },
    DeleteOffsets { group: String, topics: Vec<TopicArg> },
}

#[derive(Debug, Clone)]
enum Groups {
    All,
    Named(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Offsets,
    Members { verbose: bool },
    State,
}

#[derive(Debug)]
enum Scope {
    AllTopics,
    Topics(Vec<TopicArg>),
    /// Only with --from-file: the partitions are those in the file.
    FromFile,
}

/// A `--topic` value: a topic, optionally with partitions (`t:0,1`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicArg {
    topic: String,
    partitions: Option<Vec<i32>>,
}

#[derive(Debug)]
enum Scenario {
    ToOffset(i64),
    ShiftBy(i64),
    /// Epoch milliseconds.
    ToTimestamp(i64),
    /// Milliseconds to go back from now.
    ByDuration(i64),
    Earliest,
    Latest,
    Current,
    FromFile(BTreeMap<String, BTreeMap<TopicPartition, i64>>),
}

fn usage(msg: impl std::fmt::Display) -> clap::Error {
    command().error(ErrorKind::ArgumentConflict, msg)
}

fn opt(name: &str) -> String {
    format!("\"[{name}]\"")
}

fn groups_of(m: &ArgMatches) -> Option<Groups> {
    if m.get_flag("all-groups") {
        return Some(Groups::All);
    }
    let named: Vec<String> = m.get_many::<String>("group")?.cloned().collect();
    Some(Groups::Named(named))
}

/// Kafka's ConsumerGroupCommandOptions.checkArgs, plus parsing of every
/// value so that bad input is a usage error before anything is sent.
fn validate(m: &ArgMatches) -> Result<Action, clap::Error> {
    let has = |name: &str| match m.try_contains_id(name) {
        Ok(true) => m.value_source(name) != Some(clap::parser::ValueSource::DefaultValue),
        _ => false,
    };
    if has("zookeeper") {
        return Err(usage(format!(
            "{} is not supported: consumer groups are kept by the brokers' group coordinator (the old \
             ZooKeeper-based consumer is gone); use {} HOST:PORT instead",
            opt("zookeeper"),
            opt("bootstrap-server")
        )));
    }
    if !has("bootstrap-server") {
        return Err(usage(format!("Missing required argument {}", opt("bootstrap-server"))));
    }
    let actions: Vec<&str> = ACTIONS.iter().copied().filter(|a| m.get_flag(a)).collect();
    if actions.len() != 1 {
        return Err(usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets",
        ));
    }
    let action = actions[0];
    if has("group") && has("all-groups") {
        return Err(usage(format!("Option {} can't be used with option {}", opt("group"), opt("all-groups"))));
    }
    if has("group") && action == "list" {
        return Err(usage(format!("Option {} can't be used with option {}", opt("group"), opt("list"))));
    }
    if has("topic") && matches!(action, "list" | "describe") {
        return Err(usage(format!("Option {} can't be used with option {}", opt("topic"), opt(action))));
    }
    for sub in ["members", "verbose", "offsets"] {
        if has(sub) && action != "describe" {
            return Err(usage(format!("Option {} can only be used with option {}", opt(sub), opt("describe"))));
        }
    }
    if has("state") && !matches!(action, "describe" | "list") {
        return Err(usage(format!(
            "Option {} can only be used with option {} or {}",
            opt("state"),
            opt("describe"),
            opt("list")
        )));
    }
    if action != "reset-offsets" {
        for name in SCENARIOS.iter().chain(&["dry-run", "execute", "export", "all-topics"]) {
            if has(name) {
                return Err(usage(format!(
                    "Option {} can only be used with option {}",
                    opt(name),
                    opt("reset-offsets")
                )));
            }
        }
    }
    let need_groups = |what: &str| {
        groups_of(m).ok_or_else(|| {
            usage(format!("Option {} takes one of these options: {}, {}", opt(what), opt("group"), opt("all-groups")))
        })
    };
    match action {
        "list" => {
            let states = match (has("state"), m.get_one::<String>("state")) {
                (false, _) => None,
                (true, None) => Some(Vec::new()),
                (true, Some(v)) if v.trim().is_empty() => Some(Vec::new()),
                (true, Some(v)) => Some(parse_states(v).map_err(usage)?),
            };
            Ok(Action::List { states })
        }
        "describe" => {
            let groups = need_groups("describe")?;
            let subs = ["members", "offsets", "state"].iter().filter(|s| has(s)).count();
            if subs > 1 {
                return Err(usage(format!(
                    "Option {} takes at most one of these options: {}, {}, {}",
                    opt("describe"),
                    opt("members"),
                    opt("offsets"),
                    opt("state")
                )));
            }
            if m.get_one::<String>("state").is_some() {
                return Err(usage(format!("Option {} does not take a value for {}", opt("describe"), opt("state"))));
            }
            let view = if has("members") {
                View::Members { verbose: m.get_flag("verbose") }
            } else if has("state") {
                View::State
            } else {
                View::Offsets
            };
            Ok(Action::Describe { groups, view })
        }
        "delete" => {
            let groups = need_groups("delete")?;
            if has("topic") {
                return Err(usage(
                    "The consumer does not support topic-specific offset deletion from a consumer group.",
                ));
            }
            Ok(Action::Delete { groups })
        }
        "delete-offsets" => {
            let (Some(group), Some(topics)) = (m.get_one::<String>("group"), m.get_many::<String>("topic")) else {
                return Err(usage(format!(
                    "Option {} takes the following options: {}, {}",
                    opt("delete-offsets"),
                    opt("group"),
                    opt("topic")
                )));
            };
            let topics = topics.map(|t| parse_topic_arg(t)).collect::<Result<Vec<_>, _>>().map_err(usage)?;
            Ok(Action::DeleteOffsets { group: group.clone(), topics })
        }
        _ => {
            if has("dry-run") && has("execute") {
                return Err(usage(format!(
                    "Option {} only accepts one of {} and {}",
                    opt("reset-offsets"),
                    opt("execute"),
                    opt("dry-run")
                )));
            }
            let groups = need_groups("reset-offsets")?;
            let chosen: Vec<&str> = SCENARIOS.iter().copied().filter(|s| has(s)).collect();
            if chosen.len() > 1 {
                return Err(usage(format!("Option {} can't be used with option {}", opt(chosen[0]), opt(chosen[1]))));
            }
            let Some(&scenario) = chosen.first() else {
                return Err(usage(format!(
                    "Option '{}' requires one of the following scenarios: {}",
                    opt("reset-offsets"),
                    SCENARIOS.iter().map(|s| format!("[{s}]")).collect::<Vec<_>>().join(", ")
                )));
            };
            let scenario = match scenario {
                "to-offset" => Scenario::ToOffset(m.get_one::<i64>("to-offset").copied().unwrap_or_default()),
                "shift-by" => Scenario::ShiftBy(m.get_one::<i64>("shift-by").copied().unwrap_or_default()),
                "to-datetime" => {
                    let v = m.get_one::<String>("to-datetime").map(String::as_str).unwrap_or_default();
                    Scenario::ToTimestamp(parse_datetime(v).map_err(usage)?)
                }
                "by-duration" => {
                    let v = m.get_one::<String>("by-duration").map(String::as_str).unwrap_or_default();
                    Scenario::ByDuration(parse_duration(v).map_err(usage)?)
                }
                "to-earliest" => Scenario::Earliest,
                "to-latest" => Scenario::Latest,
                "to-current" => Scenario::Current,
                _ => {
                    let path = m.get_one::<PathBuf>("from-file").cloned().unwrap_or_default();
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
                    let single = match &groups {
                        Groups::Named(g) if g.len() == 1 => Some(g[0].as_str()),
                        _ => None,
                    };
                    Scenario::FromFile(parse_reset_plan(&text, single).map_err(usage)?)
                }
            };
            let scope = if has("all-topics") {
                if has("topic") {
                    return Err(usage(format!(
                        "Option {} can't be used with option {}",
                        opt("all-topics"),
                        opt("topic")
                    )));
                }
                Scope::AllTopics
            } else if let Some(topics) = m.get_many::<String>("topic") {
                Scope::Topics(topics.map(|t| parse_topic_arg(t)).collect::<Result<Vec<_>, _>>().map_err(usage)?)
            } else if matches!(scenario, Scenario::FromFile(_)) {
                Scope::FromFile
            } else {
                return Err(usage("One of the reset scopes should be defined: --all-topics, --topic."));
            };
            Ok(Action::Reset { groups, scope, scenario, execute: has("execute"), export: has("export") })
        }
    }
}

/// `--state stable,empty` → the states as the broker spells them.
fn parse_states(input: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for s in input.split(',') {
        match STATES.iter().find(|k| k.eq_ignore_ascii_case(s.trim())) {
            Some(k) => out.push(k.to_string()),
            None => return Err(format!("Invalid state list '{input}'. Valid states are: {}", STATES.join(", "))),
        }
    }
    Ok(out)
}

/// `topic` or `topic:0,1,2`.
fn parse_topic_arg(arg: &str) -> Result<TopicArg, String> {
    if !arg.contains(':') {
        if arg.is_empty() {
            return Err("Invalid topic arg '', expected a topic name".to_string());
        }
        return Ok(TopicArg { topic: arg.to_string(), partitions: None });
    }
    let parts: Vec<&str> = arg.split(':').collect();
    let [topic, partitions] = parts[..] else {
        return Err(format!("Invalid topic arg '{arg}', expected topic name and partitions"));
    };
    if topic.is_empty() || partitions.is_empty() {
        return Err(format!("Invalid topic arg '{arg}', expected topic name and partitions"));
    }
    let mut out = Vec::new();
    for p in partitions.split(',') {
        match p.trim().parse::<i32>() {
            Ok(n) if n >= 0 => out.push(n),
            _ => return Err(format!("Invalid partition '{p}' specified in topic arg '{arg}'")),
        }
    }
    Ok(TopicArg { topic: topic.to_string(), partitions: Some(out) })
}

fn digits(s: &str, len: usize) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_since_epoch(y: i64, m: i64, d: i64) -> i64 {
    // Count whole years from 1970 by 400-year cycles of 146097 days, then
    // the months and days of the last year.
    let mut days = 0i64;
    let mut year = 1970i64;
    let cycles = (y - year).div_euclid(400);
    days += cycles * 146_097;
    year += cycles * 400;
    while year < y {
        days += if is_leap(year) { 366 } else { 365 };
        year += 1;
    }
    for month in 1..m {
        days += days_in_month(y, month);
    }
    days + d - 1
}

/// A zone suffix (`Z`, `+hh`, `+hhmm`, `+hh:mm`, or `-`) in minutes east of UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    if zone == "Z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = zone[1..].replacen(':', "", 1);
    if !rest.is_ascii() {
        return None;
    }
    let (h, m) = match rest.len() {
        2 => (digits(&rest, 2)?, 0),
        4 => (digits(&rest[..2], 2)?, digits(&rest[2..], 2)?),
        _ => return None,
    };
    (h < 24 && m < 60).then_some(sign * (h * 60 + m))
}

/// `--to-datetime`: `YYYY-MM-DDTHH:mm:SS.sss` with an optional zone (UTC when
/// absent), as Kafka's `Utils.getDateTime` reads it, in epoch milliseconds.
pub(super) fn parse_datetime(value: &str) -> Result<i64, String> {
    let Some((date, time)) = value.split_once('T') else {
        return Err("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format".to_string());
    };
    let unparseable = || format!("Unparseable date: \"{value}\"");
    let parse = || -> Option<i64> {
        let mut d = date.split('-');
        let (y, mo, day) = (digits(d.next()?, 4)?, digits(d.next()?, 2)?, digits(d.next()?, 2)?);
        if d.next().is_some() || !(1..=12).contains(&mo) || day < 1 || day > days_in_month(y, mo) {
            return None;
        }
        let (clock, zone) = match time.find(['+', '-', 'Z']) {
            Some(i) => time.split_at(i),
            None => (time, "Z"),
        };
        let (hms, millis) = clock.split_once('.')?;
        let millis = digits(millis, 3)?;
        let mut t = hms.split(':');
        let (h, mi, s) = (digits(t.next()?, 2)?, digits(t.next()?, 2)?, digits(t.next()?, 2)?);
        if t.next().is_some() || h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let offset_minutes = parse_zone(zone)?;
        let seconds = days_since_epoch(y, mo, day) * 86_400 + h * 3600 + mi * 60 + s - offset_minutes * 60;
        Some(seconds * 1000 + millis)
    };
    parse().ok_or_else(unparseable)
}

/// `--by-duration`: an ISO-8601 duration as Java's `Duration.parse` reads it
/// (`PnDTnHnMn.nS`, signs allowed on the whole and on each part), in
/// milliseconds.
pub(super) fn parse_duration(value: &str) -> Result<i64, String> {
    let bad = || format!("Text cannot be parsed to a Duration: {value}");
    let upper = value.to_ascii_uppercase();
    let (negate, rest) = match upper.as_bytes().first() {
        Some(b'-') => (true, &upper[1..]),
        Some(b'+') => (false, &upper[1..]),
        _ => (false, &upper[..]),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (day_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad());
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    if day_part.is_empty() && time_part.is_none() {
        return Err(bad());
    }
    let number = |s: &str| -> Option<i128> {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 19 {
            return None;
        }
        s.parse::<i128>().ok()
    };
    let mut total: i128 = 0;
    if !day_part.is_empty() {
        let days = day_part.strip_suffix('D').and_then(number).ok_or_else(bad)?;
        total += days * 86_400_000;
    }
    if let Some(mut t) = time_part {
        for (unit, ms) in [('H', 3_600_000i128), ('M', 60_000)] {
            if let Some(i) = t.find(unit) {
                let n = number(&t[..i]).ok_or_else(bad)?;
                total += n * ms;
                t = &t[i + 1..];
            }
        }
        if !t.is_empty() {
            let secs = t.strip_suffix('S').ok_or_else(bad)?;
            let (whole, frac) = match secs.split_once(['.', ',']) {
                Some((w, f)) => (w, f),
                None => (secs, ""),
            };
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n = number(whole).ok_or_else(bad)?;
            let mut frac_ms: i128 = format!("{frac:0<3}")[..3].parse().unwrap_or(0);
            if whole.starts_with('-') {
                frac_ms = -frac_ms;
            }
            total += n * 1000 + frac_ms;
        }
    }
    if negate {
        total = -total;
    }
    i64::try_from(total).map_err(|_| bad())
}

/// A `--from-file` plan: `topic,partition,offset` lines (for the one group
/// named) or `group,topic,partition,offset` lines.
fn parse_reset_plan(
    text: &str,
    single_group: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<TopicPartition, i64>>, String> {
    let mut out: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || format!("Invalid line {} of the reset plan: '{line}'", n + 1);
        let (group, topic, partition, offset) = match (fields.as_slice(), single_group) {
            ([t, p, o], Some(g)) => (g.to_string(), *t, *p, *o),
            ([g, t, p, o], _) => (g.to_string(), *t, *p, *o),
            _ => return Err(bad()),
        };
        let partition: i32 = partition.parse().map_err(|_| bad())?;
        let offset: i64 = offset.parse().map_err(|_| bad())?;
        out.entry(group).or_default().insert(TopicPartition::new(topic, partition), offset);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Running.

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    // Quiet by default; RUST_LOG=debug shows coordinator lookups and retries.
    super::init_logging("error");
    let action = match validate(m) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    if let Action::Reset { execute: false, .. } = &action {
        if !m.get_flag("dry-run") {
            eprintln!(
                "WARN: No action will be performed as the --execute option is missing. In a future major release, \
                 the default behavior of this command will be to prompt the user before executing the reset rather \
                 than doing a dry run. You should add the --dry-run option explicitly if you are scripting this \
                 command and want to keep the current default behavior without prompting."
            );
        }
    }
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    super::common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    if let Some(ms) = m.get_one::<u64>("timeout") {
        config.request_timeout = std::time::Duration::from_millis(*ms);
    }
    let format = m.get_one::<Format>("output").copied().unwrap_or_default();
    let rt = super::common::runtime()?;
    let ok = rt.block_on(async {
        let admin = Admin::connect(config).await?;
        match action {
            Action::List { states } => list(&admin, states, format).await,
            Action::Describe { groups, view } => describe(&admin, groups, view, format).await,
            Action::Delete { groups } => delete(&admin, groups).await,
            Action::Reset { groups, scope, scenario, execute, export } => {
                reset(&admin, groups, &scope, &scenario, execute, export, format).await
            }
            Action::DeleteOffsets { group, topics } => delete_offsets(&admin, &group, &topics).await,
        }
    });
    match ok {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(super::EXIT_FAILURE)),
        Err(e) => {
            eprintln!("Error: Executing consumer group command failed due to {}", super::common::error_line(&e));
            Ok(ExitCode::from(super::EXIT_FAILURE))
        }
    }
}

/// Java's `%-Ns`: left-aligned, padded to at least `width`.
fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// The message of a group-level error, in Kafka's words where it has them.
fn error_text(e: &ClientError) -> String {
    match e.code() {
        Some(ErrorCode::GroupIdNotFound) => "The group id does not exist.".to_string(),
        Some(ErrorCode::NonEmptyGroup) => "The group is not empty.".to_string(),
        Some(ErrorCode::InvalidGroupId) => "The configured groupId is invalid.".to_string(),
        Some(ErrorCode::GroupSubscribedToTopic) => "The consumer group is actively subscribed to the topic".to_string(),
        _ => e.to_string(),
    }
}

/// Consumer groups only (Kafka's listConsumerGroups keeps the consumer
/// protocol and groups that only hold committed offsets).
async fn consumer_groups(admin: &Admin, states: &[String]) -> Result<Vec<(String, Option<String>)>, ClientError> {
    Ok(admin
        .list_groups(states)
        .await?
        .into_iter()
        .filter(|g| g.protocol_type.is_empty() || g.protocol_type == "consumer")
        .map(|g| (g.group_id, g.state))
        .collect())
}

async fn group_ids(admin: &Admin, groups: Groups) -> Result<Vec<String>, ClientError> {
    let mut ids = match groups {
        Groups::All => consumer_groups(admin, &[]).await?.into_iter().map(|g| g.0).collect(),
        Groups::Named(ids) => ids,
    };
    ids.sort();
    ids.dedup();
    Ok(ids)
}

#[derive(Serialize)]
struct ListedGroup {
    group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

async fn list(admin: &Admin, states: Option<Vec<String>>, format: Format) -> anyhow::Result<bool> {
    let with_state = states.is_some();
    let groups = consumer_groups(admin, states.as_deref().unwrap_or_default()).await?;
    let rows: Vec<ListedGroup> = groups
        .into_iter()
        .map(|(group, state)| ListedGroup { group, state: with_state.then(|| state.unwrap_or("Unknown".into())) })
        .collect();
    match format {
        Format::Plain if with_state => {
            let width = rows.iter().map(|r| r.group.len()).fold(15, usize::max) + 10;
            println!("{} {}", pad("GROUP", width), pad("STATE", 20));
            for r in &rows {
                println!("{} {}", pad(&r.group, width), pad(r.state.as_deref().unwrap_or_default(), 20));
            }
        }
        Format::Plain => {
            for r in &rows {
                println!("{}", r.group);
            }
        }
        Format::Table => {
            let header: &[&str] = if with_state { &["GROUP", "STATE"] } else { &["GROUP"] };
            let cells = rows
                .iter()
                .map(|r| {
                    let mut row = vec![Cell::new(&r.group)];
                    if let Some(s) = &r.state {
                        row.push(output::health_cell(s, s == "Stable" || s == "Empty"));
                    }
                    row
                })
                .collect();
            println!("{}", output::table(header, cells));
        }
        f => print!("{}", output::structured(&rows, f)?),
    }
    Ok(true)
}

/// One row of the default `--describe` view.
#[derive(Debug, Serialize)]
struct OffsetRow {
    group: String,
    topic: Option<String>,
    partition: Option<i32>,
    current_offset: Option<i64>,
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    consumer_id: Option<String>,
    host: Option<String>,
    client_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct MemberRow {
    group: String,
    consumer_id: String,
    group_instance_id: Option<String>,
    host: String,
    client_id: String,
    partitions: usize,
    assignment: Vec<TopicPartition>,
}

#[derive(Debug, Serialize)]
struct StateRow {
    group: String,
    coordinator: String,
    assignment_strategy: String,
    state: String,
    members: usize,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Described {
    Offsets(Vec<OffsetRow>),
    Members(Vec<MemberRow>),
    State(StateRow),
}

/// `state` as Kafka's describe reports it; false when the group does not exist.
fn announce_state(group: &str, state: &str) -> bool {
    match state {
        "Dead" => {
            eprintln!("Error: Consumer group '{group}' does not exist.");
            false
        }
        "Empty" => {
            eprintln!("\nConsumer group '{group}' has no active members.");
            true
        }
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.");
            true
        }
        _ => true,
    }
}

/// A group's description, with a coordinator that answers GROUP_ID_NOT_FOUND
/// (as KIP-848 coordinators do) read as Kafka's `Dead`.
async fn describe_one(admin: &Admin, group: &str) -> Result<GroupDescription, ClientError> {
    match admin.describe_groups(&[group.to_string()]).await {
        Ok(mut d) if !d.is_empty() => Ok(d.remove(0)),
        Ok(_) => Err(ClientError::Config(format!("no description of group '{group}'"))),
        Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound) => Ok(GroupDescription {
            group_id: group.to_string(),
            state: "Dead".to_string(),
            protocol_type: String::new(),
            assignor: String::new(),
            members: Vec::new(),
            coordinator: crate::client::Coordinator { id: -1, host: String::new(), port: -1 },
        }),
        Err(e) => Err(e),
    }
}

async fn end_offset(admin: &Admin, tp: &TopicPartition) -> Option<i64> {
    admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await.ok()
}

async fn offset_rows(admin: &Admin, d: &GroupDescription) -> Result<Vec<OffsetRow>, ClientError> {
    let committed = admin.list_group_offsets(&d.group_id, None).await?;
    let mut members: Vec<_> = d.members.iter().filter(|m| !m.assignment.is_empty()).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut rows = Vec::new();
    let mut assigned = std::collections::BTreeSet::new();
    let push = |rows: &mut Vec<OffsetRow>, tp: &TopicPartition, end: Option<i64>, who: Option<(&str, &str, &str)>| {
        let current = committed.get(tp).map(|c| c.offset);
        rows.push(OffsetRow {
            group: d.group_id.clone(),
            topic: Some(tp.topic.clone()),
            partition: Some(tp.partition),
            current_offset: current,
            log_end_offset: end,
            lag: current.and_then(|c| end.map(|e| e - c)),
            consumer_id: Some(who.map_or(MISSING, |w| w.0).to_string()),
            host: Some(who.map_or(MISSING, |w| w.1).to_string()),
            client_id: Some(who.map_or(MISSING, |w| w.2).to_string()),
        });
    };
    for m in members {
        for tp in &m.assignment {
            assigned.insert(tp.clone());
            let end = end_offset(admin, tp).await;
            push(&mut rows, tp, end, Some((&m.member_id, &m.host, &m.client_id)));
        }
    }
    for tp in committed.keys().filter(|tp| !assigned.contains(*tp)) {
        let end = end_offset(admin, tp).await;
        push(&mut rows, tp, end, None);
    }
    Ok(rows)
}

fn opt_text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| MISSING.to_string(), T::to_string)
}

/// Kafka's offsets table: a blank line, the header, one line per row.
fn offsets_text(rows: &[OffsetRow]) -> String {
    let mut out = String::new();
    let width = |f: &dyn Fn(&OffsetRow) -> usize| rows.iter().map(f).fold(15, usize::max);
    let g = width(&|r| r.group.len());
    let t = width(&|r| r.topic.as_deref().unwrap_or(MISSING).len());
    let c = width(&|r| r.consumer_id.as_deref().unwrap_or(MISSING).len());
    let h = width(&|r| r.host.as_deref().unwrap_or(MISSING).len());
    let line = |cols: [&str; 9]| {
        format!(
            "{} {} {} {} {} {} {} {} {}",
            pad(cols[0], g),
            pad(cols[1], t),
            pad(cols[2], 10),
            pad(cols[3], 15),
            pad(cols[4], 15),
            pad(cols[5], 15),
            pad(cols[6], c),
            pad(cols[7], h),
            cols[8]
        )
    };
    out.push_str(&format!(
        "\n{}\n",
        line([
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ])
    ));
    for r in rows {
        out.push_str(&format!(
            "{}\n",
            line([
                &r.group,
                &opt_text(&r.topic),
                &opt_text(&r.partition),
                &opt_text(&r.current_offset),
                &opt_text(&r.log_end_offset),
                &opt_text(&r.lag),
                &opt_text(&r.consumer_id),
                &opt_text(&r.host),
                &opt_text(&r.client_id),
            ])
        ));
    }
    out
}

/// Kafka's `topic(0,1), other(2)` assignment text.
fn assignment_text(a: &[TopicPartition]) -> String {
    if a.is_empty() {
        return MISSING.to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in a {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            format!("{t}({})", ps.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_members(rows: &[MemberRow], verbose: bool) {
    let width = |min: usize, f: &dyn Fn(&MemberRow) -> usize| rows.iter().map(f).fold(min, usize::max);
    let g = width(15, &|r| r.group.len());
    let c = width(15, &|r| r.consumer_id.len());
    let i = width(17, &|r| r.group_instance_id.as_deref().unwrap_or_default().len());
    let h = width(15, &|r| r.host.len());
    let cl = width(15, &|r| r.client_id.len());
    let wide = rows.iter().any(|r| r.group_instance_id.as_deref().is_some_and(|s| !s.is_empty()));
    let line = |group: &str, id: &str, instance: &str, host: &str, client: &str, n: &str| {
        if wide {
            format!(
                "{} {} {} {} {} {} ",
                pad(group, g),
                pad(id, c),
                pad(instance, i),
                pad(host, h),
                pad(client, cl),
                pad(n, 15)
            )
        } else {
            format!("{} {} {} {} {} ", pad(group, g), pad(id, c), pad(host, h), pad(client, cl), pad(n, 15))
        }
    };
    let mut header = line("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS");
    if verbose {
        header.push_str("ASSIGNMENT");
    }
    println!("\n{header}");
    for r in rows {
        let mut text = line(
            &r.group,
            &r.consumer_id,
            r.group_instance_id.as_deref().unwrap_or_default(),
            &r.host,
            &r.client_id,
            &r.partitions.to_string(),
        );
        if verbose {
            text.push_str(&assignment_text(&r.assignment));
        }
        println!("{text}");
    }
}

fn print_state(s: &StateRow) {
    let w = s.coordinator.len().max(25);
    let line = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        format!("\n{} {} {} {} {}", pad(a, w), pad(b, 25), pad(c, 20), pad(d, 15), e)
    };
    print!("{}", line("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"));
    print!("{}", line(&s.group, &s.coordinator, &s.assignment_strategy, &s.state, &s.members.to_string()));
    println!();
}

async fn describe(admin: &Admin, groups: Groups, view: View, format: Format) -> anyhow::Result<bool> {
    let ids = group_ids(admin, groups).await?;
    let mut ok = true;
    let mut described = Vec::new();
    for id in &ids {
        let d = describe_one(admin, id).await?;
        if !announce_state(id, &d.state) {
            ok = false;
            continue;
        }
        let entry = match view {
            View::Offsets => Described::Offsets(offset_rows(admin, &d).await?),
            View::Members { verbose } => Described::Members(
                d.members
                    .iter()
                    .map(|m| MemberRow {
                        group: d.group_id.clone(),
                        consumer_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        host: m.host.clone(),
                        client_id: m.client_id.clone(),
                        partitions: m.assignment.len(),
                        assignment: if verbose { m.assignment.clone() } else { Vec::new() },
                    })
                    .collect(),
            ),
            View::State => Described::State(StateRow {
                group: d.group_id.clone(),
                coordinator: format!("{}:{} ({})", d.coordinator.host, d.coordinator.port, d.coordinator.id),
                assignment_strategy: d.assignor.clone(),
                state: d.state.clone(),
                members: d.members.len(),
            }),
        };
        described.push(entry);
    }
    match format {
        Format::Plain => {
            for entry in &described {
                match entry {
                    Described::Offsets(rows) if !rows.is_empty() => print!("{}", offsets_text(rows)),
                    Described::Members(rows) if !rows.is_empty() => {
                        print_members(rows, matches!(view, View::Members { verbose: true }))
                    }
                    Described::State(s) => print_state(s),
                    _ => {}
                }
            }
        }
        Format::Table => print_describe_table(&described, view),
        f => print!("{}", output::structured(&described, f)?),
    }
    Ok(ok)
}

fn print_describe_table(described: &[Described], view: View) {
    let mut rows = Vec::new();
    let header: &[&str] = match view {
        View::Offsets => &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ],
        View::Members { verbose: false } => &["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"],
        View::Members { verbose: true } => &["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"],
        View::State => &["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
    };
    for entry in described {
        match entry {
            Described::Offsets(list) => {
                for r in list {
                    rows.push(vec![
                        Cell::new(&r.group),
                        Cell::new(opt_text(&r.topic)),
                        Cell::new(opt_text(&r.partition)),
                        Cell::new(opt_text(&r.current_offset)),
                        Cell::new(opt_text(&r.log_end_offset)),
                        output::health_cell(opt_text(&r.lag), r.lag.unwrap_or(0) == 0),
                        Cell::new(opt_text(&r.consumer_id)),
                        Cell::new(opt_text(&r.host)),
                        Cell::new(opt_text(&r.client_id)),
                    ]);
                }
            }
            Described::Members(list) => {
                for r in list {
                    let mut row = vec![
                        Cell::new(&r.group),
                        Cell::new(&r.consumer_id),
                        Cell::new(&r.host),
                        Cell::new(&r.client_id),
                        Cell::new(r.partitions),
                    ];
                    if matches!(view, View::Members { verbose: true }) {
                        row.push(Cell::new(assignment_text(&r.assignment)));
                    }
                    rows.push(row);
                }
            }
            Described::State(s) => rows.push(vec![
                Cell::new(&s.group),
                Cell::new(&s.coordinator),
                Cell::new(&s.assignment_strategy),
                output::health_cell(&s.state, s.state == "Stable" || s.state == "Empty"),
                Cell::new(s.members),
            ]),
        }
    }
    println!("{}", output::table(header, rows));
}

async fn delete(admin: &Admin, groups: Groups) -> anyhow::Result<bool> {
    let ids = group_ids(admin, groups).await?;
    let results = admin.delete_groups(&ids).await?;
    let quoted = |names: Vec<&String>| names.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ");
    let succeeded: Vec<&String> = results.iter().filter(|(_, r)| r.is_ok()).map(|(g, _)| g).collect();
    let failed: Vec<(&String, &ClientError)> =
        results.iter().filter_map(|(g, r)| r.as_ref().err().map(|e| (g, e))).collect();
    if failed.is_empty() {
        println!("Deletion of requested consumer groups ({}) was successful.", quoted(succeeded));
        return Ok(true);
    }
    eprintln!("Error: Deletion of some consumer groups failed:");
    for (g, e) in failed {
        eprintln!("* Group '{g}' could not be deleted due to: {}", error_text(e));
    }
    if !succeeded.is_empty() {
        println!("\nThese consumer groups were deleted successfully: {}", quoted(succeeded));
    }
    Ok(false)
}

/// The partitions a `--topic` list names: explicit ones as given, a bare
/// topic as all its partitions.
async fn resolve_topics(admin: &Admin, topics: &[TopicArg]) -> Result<Vec<TopicPartition>, ClientError> {
    let mut out = Vec::new();
    let bare: Vec<String> = topics.iter().filter(|t| t.partitions.is_none()).map(|t| t.topic.clone()).collect();
    for t in topics {
        if let Some(ps) = &t.partitions {
            out.extend(ps.iter().map(|p| TopicPartition::new(t.topic.clone(), *p)));
        }
    }
    if !bare.is_empty() {
        for d in admin.describe_topics(Some(&bare)).await? {
            out.extend(d.partitions.iter().map(|p| TopicPartition::new(d.name.clone(), p.partition)));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Clamps a requested offset into [log start, log end], warning as Kafka does.
async fn clamp(admin: &Admin, tp: &TopicPartition, offset: i64) -> Result<i64, ClientError> {
    let end = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?;
    if offset > end {
        eprintln!(
            "WARN: New offset ({offset}) is higher than latest offset for topic partition {tp}. Value will be set to {end}"
        );
        return Ok(end);
    }
    let start = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Earliest).await?;
    if offset < start {
        eprintln!(
            "WARN: New offset ({offset}) is lower than earliest offset for topic partition {tp}. Value will be set to {start}"
        );
        return Ok(start);
    }
    Ok(offset)
}

async fn offset_at(admin: &Admin, tp: &TopicPartition, timestamp: i64) -> Result<i64, ClientError> {
    let found = admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Timestamp(timestamp)).await?;
    if found >= 0 {
        return Ok(found);
    }
    eprintln!(
        "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.",
        tp.partition, tp.topic
    );
    admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await
}

/// The new offsets of one group's partitions under `scenario`.
async fn plan(
    admin: &Admin,
    group: &str,
    partitions: &[TopicPartition],
    committed: &BTreeMap<TopicPartition, CommittedOffset>,
    scenario: &Scenario,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut out = BTreeMap::new();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    let plan_from_file = match scenario {
        Scenario::FromFile(p) => p.get(group),
        _ => None,
    };
    if let Scenario::FromFile(_) = scenario {
        let Some(p) = plan_from_file else {
            eprintln!("Error: No reset plan for group {group} found");
            return Ok(out);
        };
        for (tp, offset) in p {
            out.insert(tp.clone(), clamp(admin, tp, *offset).await?);
        }
        return Ok(out);
    }
    for tp in partitions {
        let offset = match scenario {
            Scenario::ToOffset(n) => clamp(admin, tp, *n).await?,
            Scenario::Earliest => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Earliest).await?,
            Scenario::Latest => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?,
            Scenario::ShiftBy(n) => {
                let Some(c) = committed.get(tp) else {
                    anyhow::bail!("Cannot shift offset for partition {tp} since there is no current committed offset");
                };
                clamp(admin, tp, c.offset.saturating_add(*n)).await?
            }
            Scenario::ToTimestamp(ts) => offset_at(admin, tp, *ts).await?,
            Scenario::ByDuration(ms) => offset_at(admin, tp, now_ms().saturating_sub(*ms)).await?,
            Scenario::Current => match committed.get(tp) {
                Some(c) => c.offset,
                None => admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await?,
            },
            Scenario::FromFile(_) => continue,
        };
        out.insert(tp.clone(), offset);
    }
    Ok(out)
}

#[derive(Serialize)]
struct ResetRow {
    group: String,
    topic: String,
    partition: i32,
    new_offset: i64,
}

async fn reset(
    admin: &Admin,
    groups: Groups,
    scope: &Scope,
    scenario: &Scenario,
    execute: bool,
    export: bool,
    format: Format,
) -> anyhow::Result<bool> {
    let single = matches!(&groups, Groups::Named(g) if g.len() == 1);
    let ids = group_ids(admin, groups).await?;
    let mut ok = true;
    let mut planned: BTreeMap<String, BTreeMap<TopicPartition, i64>> = BTreeMap::new();
    for id in &ids {
        let d = describe_one(admin, id).await?;
        if d.state != "Empty" && d.state != "Dead" {
            eprintln!(
                "Error: Assignments can only be reset if the group '{id}' is inactive, but the current state is {}.",
                d.state
            );
            ok = false;
            planned.insert(id.clone(), BTreeMap::new());
            continue;
        }
        let committed = admin.list_group_offsets(id, None).await?;
        let partitions = match scope {
            Scope::AllTopics => committed.keys().cloned().collect(),
            Scope::Topics(topics) => resolve_topics(admin, topics).await?,
            Scope::FromFile => Vec::new(),
        };
        let offsets = plan(admin, id, &partitions, &committed, scenario).await?;
        if execute {
            admin.alter_group_offsets(id, &offsets).await?;
        }
        planned.insert(id.clone(), offsets);
    }
    let rows: Vec<ResetRow> = planned
        .iter()
        .flat_map(|(g, offsets)| {
            offsets.iter().map(|(tp, o)| ResetRow {
                group: g.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                new_offset: *o,
            })
        })
        .collect();
    if export {
        let mut csv = String::new();
        for r in &rows {
            if single {
                csv.push_str(&format!("{},{},{}\n", r.topic, r.partition, r.new_offset));
            } else {
                csv.push_str(&format!("{},{},{},{}\n", r.group, r.topic, r.partition, r.new_offset));
            }
        }
        println!("{csv}");
        return Ok(ok);
    }
    match format {
        Format::Plain => {
            let line = |a: &str, b: &str, c: &str, d: &str| {
                format!("{} {} {} {}", pad(a, 30), pad(b, 30), pad(c, 10), pad(d, 15))
            };
            if !planned.is_empty() {
                println!("\n{}", line("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"));
            }
            for r in &rows {
                println!("{}", line(&r.group, &r.topic, &r.partition.to_string(), &r.new_offset.to_string()));
            }
        }
        Format::Table => {
            let cells = rows
                .iter()
                .map(|r| {
                    vec![Cell::new(&r.group), Cell::new(&r.topic), Cell::new(r.partition), Cell::new(r.new_offset)]
                })
                .collect();
            println!("{}", output::table(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], cells));
        }
        f => print!("{}", output::structured(&rows, f)?),
    }
    Ok(ok)
}

async fn delete_offsets(admin: &Admin, group: &str, topics: &[TopicArg]) -> anyhow::Result<bool> {
    let mut results: BTreeMap<(String, i32), Option<String>> = BTreeMap::new();
    let mut partitions = Vec::new();
    for t in topics {
        match &t.partitions {
            Some(ps) => partitions.extend(ps.iter().map(|p| TopicPartition::new(t.topic.clone(), *p))),
            None => match admin.describe_topics(Some(std::slice::from_ref(&t.topic))).await {
                Ok(ds) => {
                    for d in ds {
                        partitions
                            .extend(d.partitions.iter().map(|p| TopicPartition::new(d.name.clone(), p.partition)));
                    }
                }
                Err(e) if e.code() == Some(ErrorCode::UnknownTopicOrPartition) => {
                    results.insert(
                        (t.topic.clone(), -1),
                        Some("This server does not host this topic-partition.".to_string()),
                    );
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    partitions.sort();
    partitions.dedup();
    let names = topics.iter().map(|t| t.topic.as_str()).collect::<Vec<_>>().join(", ");
    let outcome =
        if partitions.is_empty() { Ok(BTreeMap::new()) } else { admin.delete_group_offsets(group, &partitions).await };
    let mut ok = true;
    match outcome {
        Ok(per_partition) => {
            let partition_failed = per_partition.values().any(Result::is_err) || !results.is_empty();
            for (tp, r) in per_partition {
                results.insert((tp.topic, tp.partition), r.err().map(|e| error_text(&e)));
            }
            if partition_failed {
                eprintln!("Error: Encounter some partition level error, see the follow-up details:");
                ok = false;
            } else {
                println!("Request succeed for deleting offsets with topic {names} group {group}");
            }
        }
        Err(e) => {
            ok = false;
            match e.code() {
                Some(ErrorCode::InvalidGroupId) => eprintln!("Error: '{group}' is not valid."),
                Some(ErrorCode::GroupIdNotFound) => eprintln!("Error: '{group}' does not exist."),
                Some(ErrorCode::GroupAuthorizationFailed) => eprintln!("Error: Access to '{group}' is not authorized."),
                Some(ErrorCode::NonEmptyGroup) => eprintln!(
                    "Error: Deleting offsets of a consumer group '{group}' is forbidden if the group is not empty."
                ),
                Some(ErrorCode::GroupSubscribedToTopic)
                | Some(ErrorCode::TopicAuthorizationFailed)
                | Some(ErrorCode::UnknownTopicOrPartition) => {
                    eprintln!("Error: Encounter some partition level error, see the follow-up details:")
                }
                Some(_) => eprintln!("Error: Encounter some unknown error: {}", error_text(&e)),
                None => return Err(e.into()),
            }
            for tp in partitions {
                results.insert((tp.topic, tp.partition), Some(error_text(&e)));
            }
        }
    }
    let line = |a: &str, b: &str, c: &str| format!("{} {} {}", pad(a, 30), pad(b, 15), pad(c, 15));
    println!("\n{}", line("TOPIC", "PARTITION", "STATUS"));
    for ((topic, partition), error) in results {
        let p = if partition >= 0 { partition.to_string() } else { "Not Provided".to_string() };
        let status = error.map_or_else(|| "Successful".to_string(), |e| format!("Error: {e}"));
        println!("{}", line(&topic, &p, &status));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_as_kafka_reads_them() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198Z"), Ok(1_605_027_098_198));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198+08:00"), Ok(1_605_027_098_198 - 8 * 3_600_000));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198+0800"), Ok(1_605_027_098_198 - 8 * 3_600_000));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198-01"), Ok(1_605_027_098_198 + 3_600_000));
        assert_eq!(parse_datetime("2024-02-29T12:00:00.000"), Ok(1_709_208_000_000));
        assert_eq!(parse_datetime("1969-12-31T23:59:59.999"), Ok(-1));
    }

    #[test]
    fn bad_datetimes_are_refused_with_kafkas_words() {
        let no_t = parse_datetime("2020-11-10 16:51:38.198").expect_err("refused");
        assert!(no_t.contains("does not contain a 'T'"), "{no_t}");
        for bad in [
            "2020-11-10T16:51:38",
            "2020-13-10T16:51:38.198",
            "2023-02-29T00:00:00.000",
            "2020-11-10T24:00:00.000",
            "2020-11-10T16:51:38.1980",
            "2020-11-10T16:51:38.198+25:00",
            "x-11-10T16:51:38.198",
            "T",
            "2020-11-10T16:51:38.198Zjunk",
            "2020-11-10T16:51:38.198+1\u{e9}1",
            "2020-11-10T16:51:38.\u{e9}8",
            "\u{e9}-11-10T16:51:38.198",
        ] {
            let e = parse_datetime(bad).expect_err("refused");
            assert!(e.starts_with("Unparseable date"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_parse_as_java_duration() {
        assert_eq!(parse_duration("PT0.5S"), Ok(500));
        assert_eq!(parse_duration("PT1H"), Ok(3_600_000));
        assert_eq!(parse_duration("P1DT2H3M4.005S"), Ok(86_400_000 + 7_200_000 + 180_000 + 4_005));
        assert_eq!(parse_duration("pt10m"), Ok(600_000));
        assert_eq!(parse_duration("-PT1M"), Ok(-60_000));
        assert_eq!(parse_duration("PT-1M30S"), Ok(-30_000));
        assert_eq!(parse_duration("P2D"), Ok(172_800_000));
        assert_eq!(parse_duration("PT-0.5S"), Ok(-500));
        for bad in
            ["", "P", "PT", "1H", "PT1", "PTH", "P1H", "PT1.5H", "PT1S2M", "P99999999999999999999D", "PT1.1234567890S"]
        {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn topic_args_take_optional_partitions() {
        assert_eq!(parse_topic_arg("t"), Ok(TopicArg { topic: "t".into(), partitions: None }));
        assert_eq!(parse_topic_arg("t:0,2"), Ok(TopicArg { topic: "t".into(), partitions: Some(vec![0, 2]) }));
        assert_eq!(parse_topic_arg("t:x").expect_err("refused"), "Invalid partition 'x' specified in topic arg 't:x'");
        assert_eq!(
            parse_topic_arg("t:").expect_err("refused"),
            "Invalid topic arg 't:', expected topic name and partitions"
        );
        assert!(parse_topic_arg("a:b:c").is_err());
        assert!(parse_topic_arg(":1").is_err());
        assert!(parse_topic_arg("t:-1").is_err());
        assert!(parse_topic_arg("").is_err());
    }

    #[test]
    fn states_are_case_insensitive_and_checked() {
        assert_eq!(parse_states("stable,EMPTY"), Ok(vec!["Stable".to_string(), "Empty".to_string()]));
        assert!(parse_states("bogus")
            .expect_err("refused")
            .starts_with("Invalid state list 'bogus'. Valid states are:"));
    }

    #[test]
    fn reset_plans_read_both_csv_layouts() {
        let one = parse_reset_plan("t,0,5\nt,1,7\n", Some("g")).expect("plan");
        assert_eq!(one["g"][&TopicPartition::new("t", 1)], 7);
        let many = parse_reset_plan("a,t,0,5\nb,t,0,6\n", None).expect("plan");
        assert_eq!(many["b"][&TopicPartition::new("t", 0)], 6);
        assert!(parse_reset_plan("t,zero,5", Some("g")).is_err());
    }

    fn check(args: &[&str]) -> Result<Action, clap::Error> {
        let mut full = vec!["consumer-groups"];
        full.extend_from_slice(args);
        let m = command().try_get_matches_from(full)?;
        validate(&m)
    }

    #[test]
    fn kafkas_option_rules_are_usage_errors() {
        let bs = ["--bootstrap-server", "h:1"];
        let with = |rest: &[&str]| {
            let mut v = bs.to_vec();
            v.extend_from_slice(rest);
            check(&v)
        };
        assert!(check(&["--list"])
            .expect_err("refused")
            .to_string()
            .contains("Missing required argument \"[bootstrap-server]\""));
        assert!(with(&[]).expect_err("refused").to_string().contains("exactly one action"));
        assert!(with(&["--list", "--describe"]).is_err());
        assert!(with(&["--describe"]).expect_err("refused").to_string().contains("takes one of these options"));
        assert!(with(&["--describe", "--group", "g", "--members", "--state"]).is_err());
        assert!(with(&["--describe", "--group", "g", "--state", "stable"]).is_err());
        assert!(with(&["--list", "--group", "g"]).is_err());
        assert!(with(&["--describe", "--group", "g", "--all-groups"]).is_err());
        assert!(with(&["--delete", "--group", "g", "--topic", "t"]).is_err());
        assert!(with(&["--delete-offsets", "--group", "g"]).is_err());
        assert!(with(&["--reset-offsets", "--group", "g", "--topic", "t"]).is_err());
        assert!(with(&["--reset-offsets", "--group", "g", "--to-earliest"])
            .expect_err("refused")
            .to_string()
            .contains("reset scopes"));
        assert!(with(&["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-latest"]).is_err());
        assert!(with(&["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--execute", "--dry-run"])
            .is_err());
        assert!(with(&["--reset-offsets", "--group", "g", "--all-topics", "--to-datetime", "yesterday"]).is_err());
        assert!(with(&["--reset-offsets", "--group", "g", "--topic", "t:x", "--to-earliest"]).is_err());
        assert!(with(&["--list", "--to-earliest"]).is_err());
        assert!(with(&["--list", "--members"]).is_err());
        assert!(with(&["--list", "--state", "nope"]).is_err());
    }

    #[test]
    fn valid_commands_become_plans() {
        let bs = ["--bootstrap-server", "h:1"];
        let with = |rest: &[&str]| {
            let mut v = bs.to_vec();
            v.extend_from_slice(rest);
            check(&v).expect("valid")
        };
        assert!(matches!(with(&["--list"]), Action::List { states: None }));
        assert!(matches!(with(&["--list", "--state"]), Action::List { states: Some(s) } if s.is_empty()));
        assert!(matches!(
            with(&["--describe", "--all-groups", "--members", "--verbose"]),
            Action::Describe { groups: Groups::All, view: View::Members { verbose: true } }
        ));
        assert!(matches!(
            with(&["--reset-offsets", "--group", "g", "--topic", "t:0", "--shift-by", "-2", "--execute"]),
            Action::Reset { scenario: Scenario::ShiftBy(-2), execute: true, .. }
        ));
        assert!(matches!(
            with(&["--reset-offsets", "--group", "g", "--all-topics", "--by-duration", "PT1H"]),
            Action::Reset { scenario: Scenario::ByDuration(3_600_000), execute: false, .. }
        ));
    }

    #[test]
    fn offsets_table_is_aligned_like_kafka() {
        let row = |topic: &str, p: i32, cur: Option<i64>, who: &str| OffsetRow {
            group: "g".into(),
            topic: Some(topic.into()),
            partition: Some(p),
            current_offset: cur,
            log_end_offset: Some(5),
            lag: cur.map(|c| 5 - c),
            consumer_id: Some(who.into()),
            host: Some(if who == "-" { "-" } else { "/10.0.0.1" }.into()),
            client_id: Some(if who == "-" { "-" } else { "app" }.into()),
        };
        let text = offsets_text(&[
            row("orders", 0, Some(3), "app-0123456789-abcdef"),
            row("a-very-long-topic-name", 1, None, "-"),
        ]);
        let expected = [
            "",
            "GROUP           TOPIC                  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             \
             CONSUMER-ID           HOST            CLIENT-ID",
            "g               orders                 0          3               5               2               \
             app-0123456789-abcdef /10.0.0.1       app",
            "g               a-very-long-topic-name 1          -               5               -               \
             -                     -               -",
            "",
        ];
        assert_eq!(text, expected.join("\n"));
    }

    proptest::proptest! {
        /// Whatever the user types, the flag parsers answer, never panic.
        #[test]
        fn flag_parsers_never_panic(s in "\\PC{0,40}", t in "[-+0-9PTDHMS.:Z]{0,20}") {
            let _ = parse_datetime(&s);
            let _ = parse_datetime(&format!("2020-01-01T{t}"));
            let _ = parse_duration(&s);
            let _ = parse_duration(&t);
            let _ = parse_topic_arg(&s);
            let _ = parse_states(&s);
            let _ = parse_reset_plan(&s, Some("g"));
        }
    }

    #[test]
    fn assignments_print_like_kafka() {
        let a = vec![TopicPartition::new("b", 1), TopicPartition::new("a", 2), TopicPartition::new("b", 0)];
        assert_eq!(assignment_text(&a), "a(2), b(0,1)");
        assert_eq!(assignment_text(&[]), "-");
    }
}
