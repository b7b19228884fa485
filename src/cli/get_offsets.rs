//! `get-offsets` (kafka-get-offsets.sh, Kafka's GetOffsetShell): prints
//! `topic:partition:offset` for every matching partition, looked up with
//! ListOffsets at its leader.
//!
//! Kafka 3.x's flags: `--topic` (a regular expression, whole-name match),
//! `--partitions 0,1`, or `--topic-partitions` patterns (`t:1`, `t:0-3`,
//! `t:5-`, `t:-3`, `t`, `:0`; not together with the two before),
//! `--time` (−1/latest, −2/earliest, −3/max-timestamp, or a timestamp in ms),
//! `--exclude-internal-topics`, `--command-config`; Kafka 0.10's
//! `kafka-run-class.sh kafka.tools.GetOffsetShell --broker-list …` form too
//! (`--broker-list` is an alias; `--offsets` and `--max-wait-ms` are accepted
//! and ignored, as later Kafka versions do). A partition without an offset for
//! the time is left out; one whose lookup fails is reported on stderr and
//! skipped, as Kafka's tool does; no matching partition at all exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig, OffsetSpec};

const TIMEOUT: Duration = Duration::from_secs(30);

pub fn command() -> Command {
    let cmd = Command::new("get-offsets").about("Print the offsets of topic partitions (earliest, latest, by time)");
    common::with_bootstrap(cmd, true)
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").help(
            "The topic(s) to get offsets of: a regular expression matched against whole names (default: all topics)",
        ))
        .arg(
            Arg::new("partitions")
                .long("partitions")
                .value_name("PARTITIONS")
                .help("Comma-separated partition ids (default: all partitions)"),
        )
        .arg(Arg::new("topic-partitions").long("topic-partitions").value_name("PATTERNS").help(
            "Comma-separated topic-partition patterns: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3 \
             (not with --topic or --partitions)",
        ))
        .arg(Arg::new("time").long("time").value_name("TIME").default_value("-1").allow_hyphen_values(true).help(
            "-1 or latest, -2 or earliest, -3 or max-timestamp, or a timestamp in ms (the first offset whose \
             timestamp is at least it)",
        ))
        .arg(
            Arg::new("exclude-internal-topics")
                .long("exclude-internal-topics")
                .action(ArgAction::SetTrue)
                .help("Leave internal topics out (only matters without --topic / --topic-partitions)"),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client"))
        .arg(Arg::new("offsets").long("offsets").value_name("COUNT").hide(true).help("Ignored (Kafka 0.10)"))
        .arg(Arg::new("max-wait-ms").long("max-wait-ms").value_name("MS").hide(true).help("Ignored (Kafka 0.10)"))
}

/// One `--topic-partitions` pattern: a topic regex (`None`: any topic) and a
/// partition range `[from, to)`.
#[derive(Debug, Clone)]
struct TpFilter {
    topic: Option<regex::Regex>,
    from: i32,
    to: i32,
}

impl TpFilter {
    fn matches(&self, topic: &str, partition: i32) -> bool {
        self.topic.as_ref().is_none_or(|re| re.is_match(topic)) && partition >= self.from && partition < self.to
    }
}

fn whole_name(pattern: &str) -> anyhow::Result<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| anyhow::anyhow!("Invalid topic pattern '{pattern}': {e}"))
}

/// Parses Kafka's `--topic-partitions` list.
fn parse_topic_partitions(list: &str) -> anyhow::Result<Vec<TpFilter>> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (topic, parts) = match item.rsplit_once(':') {
            Some((t, p)) => (t, Some(p)),
            None => (item, None),
        };
        let topic = if topic.is_empty() { None } else { Some(whole_name(topic)?) };
        let bad =
            || anyhow::anyhow!("Invalid partition range '{}' in topic-partition pattern '{item}'", parts.unwrap_or(""));
        let num = |s: &str| s.parse::<i32>().ok().filter(|n| *n >= 0);
        let (from, to) = match parts {
            None | Some("") => (0, i32::MAX),
            Some(p) => match p.split_once('-') {
                None => {
                    let n = num(p).ok_or_else(bad)?;
                    (n, n.saturating_add(1))
                }
                Some(("", hi)) => (0, num(hi).ok_or_else(bad)?),
                Some((lo, "")) => (num(lo).ok_or_else(bad)?, i32::MAX),
                Some((lo, hi)) => (num(lo).ok_or_else(bad)?, num(hi).ok_or_else(bad)?.saturating_add(1)),
            },
        };
        out.push(TpFilter { topic, from, to });
    }
    Ok(out)
}

/// `--time`: Kafka's numbers and, as Kafka 3.x accepts, their names.
fn parse_time(s: &str) -> Option<OffsetSpec> {
    match s.trim() {
        "-1" | "latest" => Some(OffsetSpec::Latest),
        "-2" | "earliest" => Some(OffsetSpec::Earliest),
        "-3" | "max-timestamp" => Some(OffsetSpec::MaxTimestamp),
        other => other.parse::<i64>().ok().filter(|t| *t >= 0).map(OffsetSpec::Timestamp),
    }
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    let _ = command().error(ErrorKind::ArgumentConflict, msg).print();
    Ok(ExitCode::from(super::EXIT_USAGE))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let Some(spec) = m.get_one::<String>("time").and_then(|t| parse_time(t)) else {
        return usage(format!(
            "Malformed time argument {}: expected -1 (latest), -2 (earliest), -3 (max-timestamp) or a timestamp in ms",
            m.get_one::<String>("time").map_or("", String::as_str)
        ));
    };
    let tp_patterns = m.get_one::<String>("topic-partitions");
    if tp_patterns.is_some() && (m.contains_id("topic") || m.contains_id("partitions")) {
        return usage("--topic-partitions cannot be used with --topic or --partitions");
    }
    let exclude_internal = m.get_flag("exclude-internal-topics");
    let filters: Vec<TpFilter> = match tp_patterns {
        Some(list) => match parse_topic_partitions(list) {
            Ok(f) => f,
            Err(e) => return usage(e),
        },
        None => {
            let topic = match m.get_one::<String>("topic").map(|t| whole_name(t)).transpose() {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let partitions: Option<Vec<i32>> = match m.get_one::<String>("partitions") {
                None => None,
                Some(list) => {
                    let parsed = common::parse_id_list(list);
                    match parsed {
                        Ok(p) => Some(p),
                        Err(_) => return usage(format!("Invalid --partitions '{list}': expected comma-separated ids")),
                    }
                }
            };
            match partitions {
                None => vec![TpFilter { topic, from: 0, to: i32::MAX }],
                Some(ps) => ps
                    .into_iter()
                    .map(|p| TpFilter { topic: topic.clone(), from: p, to: p.saturating_add(1) })
                    .collect(),
            }
        }
    };
    let bootstrap = common::bootstrap(m)?;
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout = TIMEOUT;
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let admin = Admin::connect(config).await?;
        let topics = admin.describe_topics(None).await?;
        let mut wanted: Vec<(String, i32)> = topics
            .iter()
            .filter(|t| !(exclude_internal && t.internal))
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.clone(), p.partition)))
            .filter(|(t, p)| filters.iter().any(|f| f.matches(t, *p)))
            .collect();
        wanted.sort();
        if wanted.is_empty() {
            bail!("Could not match any topic-partitions with the specified filters");
        }
        for (topic, partition) in wanted {
            match admin.list_offsets(&topic, partition, spec).await {
                // No record at or after the timestamp: Kafka leaves the partition out.
                Ok(offset) if offset < 0 => {}
                Ok(offset) => println!("{topic}:{partition}:{offset}"),
                Err(e) => {
                    eprintln!("Skip getting offsets for topic-partition {topic}:{partition} due to error: {e}")
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn topic_partition_patterns_follow_kafka() {
        let f = parse_topic_partitions("a:1,b:0-3,c,d:5-,e:-3,:7").unwrap();
        assert!(f[0].matches("a", 1) && !f[0].matches("a", 0) && !f[0].matches("ab", 1));
        assert!(f[1].matches("b", 0) && f[1].matches("b", 3) && !f[1].matches("b", 4));
        assert!(f[2].matches("c", 0) && f[2].matches("c", 99));
        assert!(f[3].matches("d", 5) && f[3].matches("d", 500) && !f[3].matches("d", 4));
        assert!(f[4].matches("e", 0) && f[4].matches("e", 2) && !f[4].matches("e", 3));
        assert!(f[5].matches("anything", 7) && !f[5].matches("anything", 6));
        assert!(parse_topic_partitions("a:x").is_err());
        assert!(parse_topic_partitions("a:1-b").is_err());
    }

    #[test]
    fn time_accepts_numbers_and_names() {
        assert_eq!(parse_time("-1"), Some(OffsetSpec::Latest));
        assert_eq!(parse_time("earliest"), Some(OffsetSpec::Earliest));
        assert_eq!(parse_time("-3"), Some(OffsetSpec::MaxTimestamp));
        assert_eq!(parse_time("1700000000000"), Some(OffsetSpec::Timestamp(1_700_000_000_000)));
        assert_eq!(parse_time("-7"), None);
        assert_eq!(parse_time("soon"), None);
    }
}
