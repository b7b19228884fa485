//! `delete-records` (kafka-delete-records.sh): moves partitions' log start
//! offsets forward through the DeleteRecords API, with the flags, JSON file
//! and output of Kafka's DeleteRecordsCommand.
//!
//! The offset file is Kafka's `{"partitions":[{"topic":"t","partition":0,
//! "offset":5}],"version":1}` (offset −1: the high watermark). As Kafka's
//! tool, a partition the brokers refuse is printed as `error: …` and the tool
//! still exits 0; a bad file or an unreachable cluster exits 1.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Arg, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig, ClientError, ResponseError};

/// How long the tool waits for the brokers (Kafka's admin client default).
const TIMEOUT: Duration = Duration::from_secs(30);

pub fn command() -> Command {
    Command::new("delete-records")
        .about("Delete records of partitions below given offsets (move their log start offsets)")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .required(true)
                .help("The server(s) to connect to"),
        )
        .arg(
            Arg::new("offset-json-file")
                .long("offset-json-file")
                .value_name("FILE")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "The JSON file with offset per partition: {\"partitions\":[{\"topic\":\"foo\",\"partition\":1,\
                     \"offset\":1}],\"version\":1}",
                ),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client"))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let path = m.get_one::<PathBuf>("offset-json-file").cloned().unwrap_or_default();
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let offsets = parse_offset_json(&text).with_context(|| format!("in {}", path.display()))?;
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout = TIMEOUT;
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    let rt = common::runtime()?;
    let results = rt.block_on(async {
        let admin = Admin::connect(config).await?;
        println!("Executing records delete operation");
        admin.delete_records(&offsets).await
    })?;
    println!("Records delete operation completed:");
    for r in results {
        match r.low_watermark {
            Ok(low) => println!("partition: {}-{}\tlow_watermark: {low}", r.topic, r.partition),
            Err(e) => println!("partition: {}-{}\terror: {}", r.topic, r.partition, java_style(&e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An error as Kafka's tool prints a failed future: the Java exception class
/// of the error code, then the message.
pub(super) fn java_style(e: &ClientError) -> String {
    match e.code().and_then(java_exception) {
        Some(class) => format!("{class}: {e}"),
        None => e.to_string(),
    }
}

/// The Java exception class Kafka's clients raise for an error code
/// (`OFFSET_OUT_OF_RANGE` → `org.apache.kafka.common.errors.OffsetOutOfRangeException`).
pub(super) fn java_exception(code: ResponseError) -> Option<String> {
    let name = match code {
        ResponseError::Unknown(_) => return None,
        ResponseError::RequestTimedOut => "TimeoutException".to_string(),
        other => {
            let camel = other.to_string();
            // KAFKA_STORAGE_ERROR is KafkaStorageException, not …ErrorException.
            format!("{}Exception", camel.strip_suffix("Error").unwrap_or(&camel))
        }
    };
    Some(format!("org.apache.kafka.common.errors.{name}"))
}

/// Kafka's offset file: version 1 (the default when absent), a `partitions`
/// array of `{topic, partition, offset}`; a partition listed twice is an error.
pub(super) fn parse_offset_json(text: &str) -> anyhow::Result<Vec<(String, i32, i64)>> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| anyhow::anyhow!("The input string is not a valid JSON"))?;
    let version = match v.get("version") {
        None => 1,
        Some(n) => n.as_i64().ok_or_else(|| anyhow::anyhow!("The \"version\" field must be a number"))?,
    };
    if version != 1 {
        bail!("Not supported version field value {version}");
    }
    let Some(list) = v.get("partitions") else { bail!("Missing partitions field") };
    let Some(list) = list.as_array() else { bail!("The \"partitions\" field must be an array") };
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let topic = p.get("topic").and_then(|t| t.as_str());
        let partition = p.get("partition").and_then(|n| n.as_i64()).and_then(|n| i32::try_from(n).ok());
        let offset = p.get("offset").and_then(|n| n.as_i64());
        match (topic, partition, offset) {
            (Some(t), Some(p), Some(o)) => out.push((t.to_string(), p, o)),
            _ => bail!(
                "Entry {} of \"partitions\" needs a string \"topic\", an integer \"partition\" and an integer \
                 \"offset\"",
                i + 1
            ),
        }
    }
    let mut seen = BTreeSet::new();
    let duplicates: Vec<String> =
        out.iter().filter(|(t, p, _)| !seen.insert((t.clone(), *p))).map(|(t, p, _)| format!("{t}-{p}")).collect();
    if !duplicates.is_empty() {
        bail!("Offset json file contains duplicate topic partitions: {}", duplicates.join(","));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_offset_file() {
        let text = r#"{"partitions":[{"topic":"a","partition":0,"offset":5},{"topic":"b","partition":2,"offset":-1}],"version":1}"#;
        assert_eq!(parse_offset_json(text).unwrap(), vec![("a".into(), 0, 5), ("b".into(), 2, -1)]);
        // The version defaults to 1.
        assert_eq!(parse_offset_json(r#"{"partitions":[]}"#).unwrap(), vec![]);
    }

    #[test]
    fn error_codes_name_kafkas_exception_classes() {
        let name = |c| java_exception(c).unwrap();
        assert_eq!(name(ResponseError::OffsetOutOfRange), "org.apache.kafka.common.errors.OffsetOutOfRangeException");
        assert_eq!(name(ResponseError::KafkaStorageError), "org.apache.kafka.common.errors.KafkaStorageException");
        assert_eq!(name(ResponseError::RequestTimedOut), "org.apache.kafka.common.errors.TimeoutException");
        assert_eq!(java_exception(ResponseError::Unknown(999)), None);
    }

    #[test]
    fn refuses_bad_offset_files_as_kafka_does() {
        let err = |t: &str| parse_offset_json(t).unwrap_err().to_string();
        assert_eq!(err("not json"), "The input string is not a valid JSON");
        assert_eq!(err(r#"{"version":2,"partitions":[]}"#), "Not supported version field value 2");
        assert_eq!(err(r#"{"version":1}"#), "Missing partitions field");
        assert!(err(r#"{"partitions":[{"topic":"a","partition":0}]}"#).contains("\"offset\""));
        assert_eq!(
            err(r#"{"partitions":[{"topic":"a","partition":0,"offset":1},{"topic":"a","partition":0,"offset":2}]}"#),
            "Offset json file contains duplicate topic partitions: a-0"
        );
    }
}
