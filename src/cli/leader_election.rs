//! `leader-election` (kafka-leader-election.sh): preferred or unclean leader
//! elections through the ElectLeaders API, with the flags, checks and output
//! of Kafka's LeaderElectionCommand.
//!
//! Exactly one of `--all-topic-partitions`, `--topic` (with `--partition`) or
//! `--path-to-json-file` names the partitions; other combinations are usage
//! errors (exit 2). A partition whose election failed makes the tool exit 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig, ElectionType, ResponseError};

/// Kafka's tool waits this long for the election results.
const TIMEOUT: Duration = Duration::from_secs(30);

pub fn command() -> Command {
    Command::new("leader-election")
        .about("Elect preferred or unclean leaders for topic partitions")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .required(true)
                .help("Brokers to connect to"),
        )
        .arg(common::config_file_arg("admin.config", "Properties for the admin client"))
        .arg(
            Arg::new("election-type")
                .long("election-type")
                .value_name("TYPE")
                .required(true)
                .ignore_case(true)
                .value_parser(PossibleValuesParser::new(["PREFERRED", "UNCLEAN"]))
                .help("PREFERRED: move leadership to the preferred replica; UNCLEAN: elect a replica outside the ISR for partitions without a live in-sync replica"),
        )
        .arg(
            Arg::new("topic")
                .long("topic")
                .value_name("TOPIC")
                .requires("partition")
                .help("The topic of the partition to elect a leader for (with --partition)"),
        )
        .arg(
            Arg::new("partition")
                .long("partition")
                .value_name("PARTITION")
                .value_parser(clap::value_parser!(i32).range(0..))
                .requires("topic")
                .help("The partition to elect a leader for (with --topic)"),
        )
        .arg(
            Arg::new("all-topic-partitions")
                .long("all-topic-partitions")
                .action(ArgAction::SetTrue)
                .help("Elect leaders for every partition of every topic"),
        )
        .arg(
            Arg::new("path-to-json-file")
                .long("path-to-json-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("The partitions to elect leaders for: {\"partitions\":[{\"topic\":\"t\",\"partition\":0}]}"),
        )
        .group(ArgGroup::new("partitions").args(["all-topic-partitions", "topic", "path-to-json-file"]).required(true))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let kind = match m.get_one::<String>("election-type").map(|s| s.to_ascii_uppercase()).as_deref() {
        Some("UNCLEAN") => ElectionType::Unclean,
        _ => ElectionType::Preferred,
    };
    let partitions: Option<Vec<(String, i32)>> = if let Some(path) = m.get_one::<PathBuf>("path-to-json-file") {
        Some(read_json_file(path)?)
    } else if let (Some(topic), Some(partition)) = (m.get_one::<String>("topic"), m.get_one::<i32>("partition")) {
        Some(vec![(topic.clone(), *partition)])
    } else {
        None
    };
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("admin.config") {
        for (key, value) in common::read_properties(path)? {
            if key != "bootstrap.servers" && !config.set(&key, &value)? {
                tracing::warn!(key, "ignoring an admin client property gregor does not use");
            }
        }
    }
    config.request_timeout = TIMEOUT;
    let rt = common::runtime()?;
    let results = rt.block_on(async {
        let admin = Admin::connect(config).await?;
        admin.elect_leaders(kind, partitions.as_deref()).await
    })?;

    Ok(report(kind, results))
}

/// Prints the outcome as Kafka's LeaderElectionCommand does; exit 1 when a partition failed.
pub(super) fn report(kind: ElectionType, results: Vec<crate::client::ElectionResult>) -> ExitCode {
    let mut succeeded = Vec::new();
    let mut not_needed = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        let name = format!("{}-{}", r.topic, r.partition);
        match r.error {
            None => succeeded.push(name),
            Some(e) if e.code() == Some(ResponseError::ElectionNotNeeded) => not_needed.push(name),
            Some(e) => failed.push((name, e)),
        }
    }
    if !succeeded.is_empty() {
        println!("Successfully completed leader election ({kind}) for partitions {}", succeeded.join(", "));
    }
    if !not_needed.is_empty() {
        println!("Valid replica already elected for partitions {}", not_needed.join(", "));
    }
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    for (name, e) in &failed {
        println!("Error completing leader election ({kind}) for partition: {name}: {e}");
    }
    eprintln!("Error: {} replica(s) could not be elected", failed.len());
    ExitCode::from(super::EXIT_FAILURE)
}

/// Kafka's election file: `{"partitions":[{"topic":"t","partition":0},…]}`;
/// a partition listed twice is an error, as in Kafka.
pub(super) fn read_json_file(path: &Path) -> anyhow::Result<Vec<(String, i32)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_election_json(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_election_json(text: &str) -> anyhow::Result<Vec<(String, i32)>> {
    if text.trim().is_empty() {
        bail!("Replica election data is empty");
    }
    let v: serde_json::Value = serde_json::from_str(text).context("Replica election data is not valid JSON")?;
    let Some(list) = v.get("partitions") else {
        bail!("Replica election data is missing \"partitions\" field");
    };
    let Some(list) = list.as_array() else {
        bail!("\"partitions\" must be an array of {{\"topic\": …, \"partition\": …}}");
    };
    let mut out: Vec<(String, i32)> = Vec::with_capacity(list.len());
    for item in list {
        let topic = item.get("topic").and_then(|t| t.as_str());
        let partition = item.get("partition").and_then(|p| p.as_i64()).and_then(|p| i32::try_from(p).ok());
        let (Some(topic), Some(partition)) = (topic, partition) else {
            bail!("each entry of \"partitions\" needs a string \"topic\" and an integer \"partition\": {item}");
        };
        out.push((topic.to_string(), partition));
    }
    let mut sorted = out.clone();
    sorted.sort();
    let mut duplicates: Vec<String> =
        sorted.windows(2).filter(|w| w[0] == w[1]).map(|w| format!("{}-{}", w[0].0, w[0].1)).collect();
    duplicates.dedup();
    if !duplicates.is_empty() {
        bail!("Replica election data contains duplicate partitions: {}", duplicates.join(","));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_as_kafka_reads_them() {
        let parsed = parse_election_json(r#"{"partitions":[{"topic":"t","partition":1},{"topic":"a","partition":0}]}"#)
            .expect("valid");
        assert_eq!(parsed, vec![("t".to_string(), 1), ("a".to_string(), 0)]);
        assert!(parse_election_json("").is_err());
        assert!(parse_election_json("{}").is_err());
        assert!(parse_election_json("[1]").is_err());
        assert!(parse_election_json(r#"{"partitions":[{"topic":"t"}]}"#).is_err());
        let dup = parse_election_json(r#"{"partitions":[{"topic":"t","partition":1},{"topic":"t","partition":1}]}"#);
        assert!(format!("{:#}", dup.expect_err("duplicate")).contains("duplicate partitions: t-1"));
    }

    #[test]
    fn flag_combinations() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["leader-election", "--bootstrap-server", "h:1"];
            argv.extend_from_slice(args);
            command().try_get_matches_from(argv).map(|_| ())
        };
        assert!(parse(&["--election-type", "preferred", "--all-topic-partitions"]).is_ok());
        assert!(parse(&["--election-type", "Unclean", "--topic", "t", "--partition", "0"]).is_ok());
        assert!(parse(&["--election-type", "preferred", "--path-to-json-file", "f.json"]).is_ok());
        assert!(parse(&["--election-type", "preferred"]).is_err());
        assert!(parse(&["--election-type", "preferred", "--all-topic-partitions", "--topic", "t"]).is_err());
        assert!(parse(&["--election-type", "preferred", "--partition", "0"]).is_err());
        assert!(parse(&["--election-type", "preferred", "--topic", "t"]).is_err());
        assert!(parse(&["--election-type", "other", "--all-topic-partitions"]).is_err());
        assert!(parse(&["--all-topic-partitions"]).is_err());
    }
}
