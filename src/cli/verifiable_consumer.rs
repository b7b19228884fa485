//! `verifiable-consumer` (kafka-verifiable-consumer.sh): Kafka's system-test
//! consumer. It joins a consumer group, reads a topic and prints one JSON
//! event per line on stdout — `startup_complete`, `partitions_assigned`,
//! `partitions_revoked`, `records_consumed` (per poll, with the offset range
//! of each partition), `record_data` (with `--verbose`), `offsets_committed`
//! and `shutdown_complete` — so a harness can check that every acknowledged
//! message was consumed and committed exactly where the group says.
//!
//! Without `--enable-autocommit` (Kafka's default for this tool) the offsets
//! of each poll's records are committed synchronously right after the poll
//! and the outcome is an `offsets_committed` event. SIGINT/SIGTERM end the
//! poll loop; the consumer then leaves its group (a `partitions_revoked`
//! event) before `shutdown_complete`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::Serialize;

use super::common;
use super::connect_standalone::Signals;
use super::verifiable_producer::{apply_properties, bootstrap_arg, emit, now_ms, Bare};
use crate::client::{Consumer, ConsumerConfig, ConsumerRecord, RebalanceCallbacks};

/// A topic and partition as the consumer's rebalance listener names them.
type TopicPartition = (String, i32);

pub fn command() -> Command {
    Command::new("verifiable-consumer")
        .about("Consume in a group and report records, rebalances and commits as JSON lines (kafka-verifiable-consumer.sh)")
        .arg(bootstrap_arg())
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").required(true).help("Consume messages from this topic"))
        .arg(
            Arg::new("group-id")
                .long("group-id")
                .value_name("GROUP_ID")
                .required(true)
                .help("The group id of the consumer group"),
        )
        .arg(
            Arg::new("group-instance-id")
                .long("group-instance-id")
                .value_name("GROUP_INSTANCE_ID")
                .help("A unique id making this consumer a static member of the group"),
        )
        .arg(
            Arg::new("max-messages")
                .long("max-messages")
                .value_name("N")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Consume this many messages, then stop; -1 consumes until stopped"),
        )
        .arg(
            Arg::new("session-timeout")
                .long("session-timeout")
                .value_name("MS")
                .default_value("30000")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("The consumer's session timeout (session.timeout.ms)"),
        )
        .arg(
            Arg::new("enable-autocommit")
                .long("enable-autocommit")
                .action(ArgAction::SetTrue)
                .help("Let the consumer commit offsets in the background instead of after every poll"),
        )
        .arg(
            Arg::new("reset-policy")
                .long("reset-policy")
                .value_name("RESETPOLICY")
                .default_value("earliest")
                .help("Where to start without a committed offset: earliest, latest or none"),
        )
        .arg(
            Arg::new("assignment-strategy")
                .long("assignment-strategy")
                .value_name("ASSIGNMENT_STRATEGY")
                .default_value("org.apache.kafka.clients.consumer.RangeAssignor")
                .help("The partition assignor (partition.assignment.strategy)"),
        )
        .arg(
            Arg::new("group-protocol")
                .long("group-protocol")
                .value_name("PROTOCOL")
                .default_value("classic")
                .value_parser(["classic", "consumer"])
                .help("The group protocol; only classic is supported (KIP-848's consumer protocol is not)"),
        )
        .arg(common::config_file_arg("consumer.config", "Consumer config properties file"))
        .arg(
            Arg::new("verbose")
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Print a record_data event for every record"),
        )
}

#[derive(Serialize)]
struct PartitionRef {
    topic: String,
    partition: i32,
}

#[derive(Serialize)]
struct Rebalance {
    timestamp: i64,
    name: &'static str,
    partitions: Vec<PartitionRef>,
}

fn rebalance_event(name: &'static str, partitions: &[TopicPartition]) -> Rebalance {
    Rebalance {
        timestamp: now_ms(),
        name,
        partitions: partitions.iter().map(|(t, p)| PartitionRef { topic: t.clone(), partition: *p }).collect(),
    }
}

#[derive(Serialize, Debug, PartialEq)]
struct PartitionSummary {
    topic: String,
    partition: i32,
    count: u64,
    #[serde(rename = "minOffset")]
    min_offset: i64,
    #[serde(rename = "maxOffset")]
    max_offset: i64,
}

#[derive(Serialize)]
struct RecordsConsumed {
    timestamp: i64,
    name: &'static str,
    count: u64,
    partitions: Vec<PartitionSummary>,
}

#[derive(Serialize)]
struct RecordData<'a> {
    timestamp: i64,
    name: &'static str,
    key: Option<String>,
    value: Option<String>,
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct CommittedOffset {
    topic: String,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct OffsetsCommitted {
    timestamp: i64,
    name: &'static str,
    offsets: Vec<CommittedOffset>,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Per-partition counts and offset ranges of the records taken from one
/// poll (at most `limit` of them), and the offsets to commit for them.
fn summarize(records: &[ConsumerRecord], limit: Option<u64>) -> (Vec<PartitionSummary>, BTreeMap<TopicPartition, i64>) {
    let mut by_partition: BTreeMap<TopicPartition, PartitionSummary> = BTreeMap::new();
    let take = limit.map_or(records.len(), |l| usize::try_from(l).unwrap_or(usize::MAX));
    for r in records.iter().take(take) {
        let s = by_partition.entry((r.topic.clone(), r.partition)).or_insert(PartitionSummary {
            topic: r.topic.clone(),
            partition: r.partition,
            count: 0,
            min_offset: r.offset,
            max_offset: r.offset,
        });
        s.count += 1;
        s.min_offset = s.min_offset.min(r.offset);
        s.max_offset = s.max_offset.max(r.offset);
    }
    let offsets = by_partition.iter().map(|(tp, s)| (tp.clone(), s.max_offset + 1)).collect();
    (by_partition.into_values().collect(), offsets)
}

fn text(b: &Option<bytes::Bytes>) -> Option<String> {
    b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let max_messages = m.get_one::<i64>("max-messages").copied().filter(|n| *n >= 0).map(|n| n as u64);
    let autocommit = m.get_flag("enable-autocommit");
    let verbose = m.get_flag("verbose");
    let session_ms = m.get_one::<u32>("session-timeout").copied().unwrap_or(30_000);

    if m.get_one::<String>("group-protocol").map(String::as_str) == Some("consumer") {
        anyhow::bail!("--group-protocol consumer (KIP-848) is not supported; use classic");
    }
    let mut config = ConsumerConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("consumer.config") {
        apply_properties(path, |k, v| config.set(k, v))?;
    }
    config.set("group.id", m.get_one::<String>("group-id").map_or("", String::as_str))?;
    if let Some(id) = m.get_one::<String>("group-instance-id") {
        config.set("group.instance.id", id)?;
    }
    config.set("session.timeout.ms", &session_ms.to_string())?;
    // The heartbeat must stay below a short session timeout.
    if config.heartbeat_interval.as_millis() >= u128::from(session_ms) {
        config.set("heartbeat.interval.ms", &(session_ms / 3).max(1).to_string())?;
    }
    config.set("enable.auto.commit", if autocommit { "true" } else { "false" })?;
    config.set("auto.offset.reset", m.get_one::<String>("reset-policy").map_or("earliest", String::as_str))?;
    config.set(
        "partition.assignment.strategy",
        m.get_one::<String>("assignment-strategy").map_or("range", String::as_str),
    )?;

    let rt = common::runtime()?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        let mut consumer = Consumer::new(config).await.context("cannot start the consumer")?;
        let listener = RebalanceCallbacks::new()
            .on_revoked(|tps| emit(&rebalance_event("partitions_revoked", tps)))
            .on_assigned(|tps| emit(&rebalance_event("partitions_assigned", tps)));
        consumer.subscribe_with_listener(vec![topic], listener).await?;
        emit(&Bare::new("startup_complete"));

        let mut consumed = 0u64;
        let mut code = ExitCode::SUCCESS;
        while max_messages.is_none_or(|max| consumed < max) {
            let records = tokio::select! {
                c = signals.next() => { code = c; break; }
                polled = consumer.poll(Duration::from_millis(1000)) => polled?,
            };
            if records.is_empty() {
                continue;
            }
            let limit = max_messages.map(|max| max - consumed);
            let (partitions, offsets) = summarize(&records, limit);
            let count: u64 = partitions.iter().map(|p| p.count).sum();
            if verbose {
                for r in records.iter().take(count as usize) {
                    emit(&RecordData {
                        timestamp: now_ms(),
                        name: "record_data",
                        key: text(&r.key),
                        value: text(&r.value),
                        topic: &r.topic,
                        partition: r.partition,
                        offset: r.offset,
                    });
                }
            }
            consumed += count;
            emit(&RecordsConsumed { timestamp: now_ms(), name: "records_consumed", count, partitions });
            if !autocommit {
                let listed = offsets
                    .iter()
                    .map(|((t, p), o)| CommittedOffset { topic: t.clone(), partition: *p, offset: *o })
                    .collect();
                let result = consumer.commit_offsets(offsets).await;
                emit(&OffsetsCommitted {
                    timestamp: now_ms(),
                    name: "offsets_committed",
                    offsets: listed,
                    success: result.is_ok(),
                    error: result.err().map(|e| e.to_string()),
                });
            }
        }
        if let Err(e) = consumer.close().await {
            eprintln!("WARN closing the consumer: {e}");
        }
        emit(&Bare::new("shutdown_complete"));
        Ok(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TimestampType;

    fn rec(partition: i32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn summaries_count_per_partition_and_commit_past_the_last() {
        let records = [rec(0, 5), rec(1, 0), rec(0, 6), rec(0, 7), rec(1, 1)];
        let (parts, offsets) = summarize(&records, None);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].count, parts[0].min_offset, parts[0].max_offset), (3, 5, 7));
        assert_eq!((parts[1].count, parts[1].min_offset, parts[1].max_offset), (2, 0, 1));
        assert_eq!(offsets[&("t".to_string(), 0)], 8);
        let (parts, offsets) = summarize(&records, Some(2));
        assert_eq!(parts.iter().map(|p| p.count).sum::<u64>(), 2);
        assert_eq!(offsets[&("t".to_string(), 0)], 6);
        assert_eq!(offsets[&("t".to_string(), 1)], 1);
    }
}
