//! `log-dirs` (kafka-log-dirs.sh, Kafka's LogDirsCommand): `--describe`
//! asks brokers (all, or `--broker-list 0,1`) for their log dirs with
//! DescribeLogDirs and prints Kafka's two status lines and its JSON document
//! (keys in Kafka's order; `--topic-list a,b` keeps only those topics'
//! replicas). Moving replicas between log dirs is
//! [`Admin::alter_replica_log_dirs`](crate::client::Admin::alter_replica_log_dirs),
//! which Kafka's reassign-partitions tool drives.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig, LogDirInfo};

const TIMEOUT: Duration = Duration::from_secs(30);

pub fn command() -> Command {
    Command::new("log-dirs")
        .about("Describe the log directories of brokers and the replicas in them")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .required(true)
                .help("The server(s) to use for bootstrapping"),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client"))
        .arg(
            Arg::new("describe")
                .long("describe")
                .action(ArgAction::SetTrue)
                .help("Describe the specified log directories on the specified brokers"),
        )
        .arg(
            Arg::new("broker-list")
                .long("broker-list")
                .value_name("BROKERS")
                .help("Comma-separated broker ids to query (default: all brokers)"),
        )
        .arg(
            Arg::new("topic-list")
                .long("topic-list")
                .value_name("TOPICS")
                .help("Comma-separated topics whose replicas to show (default: all topics)"),
        )
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    let _ = command().error(ErrorKind::MissingRequiredArgument, msg).print();
    Ok(ExitCode::from(super::EXIT_USAGE))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    if !m.get_flag("describe") {
        return usage("Command must include exactly one action: --describe");
    }
    let brokers: Option<Vec<i32>> = match m.get_one::<String>("broker-list") {
        None => None,
        Some(list) => {
            let parsed = common::parse_id_list(list);
            match parsed {
                Ok(ids) => Some(ids),
                Err(_) => return usage(format!("Invalid --broker-list '{list}': expected comma-separated broker ids")),
            }
        }
    };
    let topics: Vec<String> = m
        .get_one::<String>("topic-list")
        .map(|l| l.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout = TIMEOUT;
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let admin = Admin::connect(config).await?;
        let mut existing: Vec<i32> = admin.cluster().await?.brokers.iter().map(|b| b.id).collect();
        existing.sort();
        let queried = match brokers {
            None => existing.clone(),
            Some(ids) => {
                let missing: Vec<String> = ids.iter().filter(|id| !existing.contains(id)).map(i32::to_string).collect();
                if !missing.is_empty() {
                    let current: Vec<String> = existing.iter().map(i32::to_string).collect();
                    bail!(
                        "The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
                        missing.join(","),
                        current.join(",")
                    );
                }
                ids
            }
        };
        println!("Querying brokers for log directories information");
        let mut described = Vec::with_capacity(queried.len());
        for id in &queried {
            described.push((*id, admin.describe_log_dirs(*id, None).await?));
        }
        let ids: Vec<String> = queried.iter().map(i32::to_string).collect();
        println!("Received log directory information from brokers {}", ids.join(","));
        println!("{}", to_json(&described, &topics));
        Ok(ExitCode::SUCCESS)
    })
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Kafka's document: `{"version":1,"brokers":[{"broker":0,"logDirs":[{"logDir":…,
/// "error":null,"partitions":[{"partition":"t-0","size":N,"offsetLag":0,"isFuture":false}]}]}]}`.
pub(crate) fn to_json(brokers: &[(i32, Vec<LogDirInfo>)], topics: &[String]) -> String {
    let brokers: Vec<String> = brokers
        .iter()
        .map(|(id, dirs)| {
            let dirs: Vec<String> = dirs
                .iter()
                .map(|d| {
                    let error = match &d.error {
                        None => "null".to_string(),
                        Some(e) => match e.code().and_then(super::delete_records::java_exception) {
                            Some(class) => js(&class),
                            None => js(&e.to_string()),
                        },
                    };
                    let partitions: Vec<String> = d
                        .replicas
                        .iter()
                        .filter(|r| topics.is_empty() || topics.contains(&r.topic))
                        .map(|r| {
                            format!(
                                "{{\"partition\":{},\"size\":{},\"offsetLag\":{},\"isFuture\":{}}}",
                                js(&format!("{}-{}", r.topic, r.partition)),
                                r.size,
                                r.offset_lag,
                                r.is_future
                            )
                        })
                        .collect();
                    format!(
                        "{{\"logDir\":{},\"error\":{error},\"partitions\":[{}]}}",
                        js(&d.path),
                        partitions.join(",")
                    )
                })
                .collect();
            format!("{{\"broker\":{id},\"logDirs\":[{}]}}", dirs.join(","))
        })
        .collect();
    format!("{{\"version\":1,\"brokers\":[{}]}}", brokers.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::LogDirReplica;

    #[test]
    fn json_follows_kafkas_key_order_and_topic_filter() {
        let replica = |t: &str, p: i32| LogDirReplica {
            topic: t.into(),
            partition: p,
            size: 10,
            offset_lag: 0,
            is_future: false,
        };
        let dirs = vec![LogDirInfo {
            path: "/data/\"k\"".into(),
            error: None,
            replicas: vec![replica("a", 0), replica("b", 1)],
            total_bytes: -1,
            usable_bytes: -1,
        }];
        let json = to_json(&[(0, dirs)], &["a".to_string()]);
        assert_eq!(
            json,
            r#"{"version":1,"brokers":[{"broker":0,"logDirs":[{"logDir":"/data/\"k\"","error":null,"partitions":[{"partition":"a-0","size":10,"offsetLag":0,"isFuture":false}]}]}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["brokers"][0]["logDirs"][0]["partitions"][0]["size"], 10);
    }
}
