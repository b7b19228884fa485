//! `transactions` (kafka-transactions.sh): list and describe transactions,
//! show the producer state of a partition, find transactions that no
//! coordinator will ever end ("hanging") and abort them, with the
//! subcommands, flags, columns and checks of Kafka's TransactionsCommand.
//!
//! Plain output is Kafka's own table (each column padded to its widest cell
//! and followed by a tab); `--output table|json|yaml` as in our other tools.
//! Usage errors exit 2 (Kafka exits 1 for all errors; we keep our tools'
//! convention), failures exit 1 with Kafka's wording on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use clap::error::ErrorKind;
use clap::{Arg, ArgMatches, Command};
use comfy_table::Cell;
use serde::Serialize;

use super::output::{self, Format};
use crate::client::{
    AbortTransactionSpec, Admin, ClientConfig, ClientError, ListTransactionsOptions, ProducerState, ResponseError,
    TopicPartition, TransactionDescription,
};

const LIST_HEADERS: [&str; 4] = ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"];
const DESCRIBE_HEADERS: [&str; 9] = [
    "CoordinatorId",
    "TransactionalId",
    "ProducerId",
    "ProducerEpoch",
    "TransactionState",
    "TransactionTimeoutMs",
    "CurrentTransactionStartTimeMs",
    "TransactionDurationMs",
    "TopicPartitions",
];
const PRODUCER_HEADERS: [&str; 6] = [
    "ProducerId",
    "ProducerEpoch",
    "LatestCoordinatorEpoch",
    "LastSequence",
    "LastTimestamp",
    "CurrentTransactionStartOffset",
];
const HANGING_HEADERS: [&str; 8] = [
    "Topic",
    "Partition",
    "ProducerId",
    "ProducerEpoch",
    "CoordinatorEpoch",
    "StartOffset",
    "LastTimestamp",
    "Duration(min)",
];

fn topic_arg(help: &'static str) -> Arg {
    Arg::new("topic").long("topic").value_name("TOPIC").help(help)
}

fn partition_arg(help: &'static str) -> Arg {
    Arg::new("partition")
        .long("partition")
        .value_name("PARTITION")
        .value_parser(clap::value_parser!(i32).range(0..))
        .help(help)
}

fn broker_id_arg(help: &'static str) -> Arg {
    Arg::new("broker-id").long("broker-id").value_name("ID").value_parser(clap::value_parser!(i32)).help(help)
}

pub fn command() -> Command {
    Command::new("transactions")
        .about("Analyze transactional state and find and abort hanging transactions")
        .long_about(
            "Analyze the transactional state of producers in the cluster: list and describe transactions, show \
             the producer state of a partition, and detect and recover from hanging transactions.",
        )
        .subcommand_required(true)
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .global(true)
                .help("REQUIRED: the broker(s) to connect to"),
        )
        .arg(
            super::common::config_file_arg(
                "command-config",
                "Property file with admin client configs (request.timeout.ms, client.id, …)",
            )
            .global(true),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("FORMAT")
                .value_parser(clap::value_parser!(Format))
                .default_value("plain")
                .global(true)
                .help("Output format: plain (Kafka's), table, json or yaml"),
        )
        .subcommand(
            Command::new("list").about("List transactions").arg(
                Arg::new("duration-filter")
                    .long("duration-filter")
                    .value_name("MS")
                    .allow_negative_numbers(true)
                    .value_parser(clap::value_parser!(i64))
                    .help("Only transactions running longer than this many milliseconds (< 0: all)"),
            ),
        )
        .subcommand(
            Command::new("describe").about("Describe the state of an active transactional id").arg(
                Arg::new("transactional-id")
                    .long("transactional-id")
                    .value_name("ID")
                    .required(true)
                    .help("The transactional id"),
            ),
        )
        .subcommand(
            Command::new("describe-producers")
                .about("Describe the states of active producers for a topic partition")
                .arg(broker_id_arg("Describe the producer state on this replica instead of the leader"))
                .arg(topic_arg("Topic name").required(true))
                .arg(partition_arg("Partition number").required(true)),
        )
        .subcommand(
            Command::new("abort")
                .about("Abort a hanging transaction (writes its ABORT marker at the partition leader)")
                .arg(topic_arg("Topic name").required(true))
                .arg(partition_arg("Partition number").required(true))
                .arg(
                    Arg::new("start-offset")
                        .long("start-offset")
                        .value_name("OFFSET")
                        .value_parser(clap::value_parser!(i64).range(0..))
                        .conflicts_with_all(["producer-id", "producer-epoch", "coordinator-epoch"])
                        .help("Start offset of the transaction to abort (its producer is looked up)"),
                )
                .arg(
                    Arg::new("producer-id")
                        .long("producer-id")
                        .value_name("ID")
                        .value_parser(clap::value_parser!(i64).range(0..))
                        .help("Producer id (with --producer-epoch and --coordinator-epoch)"),
                )
                .arg(
                    Arg::new("producer-epoch")
                        .long("producer-epoch")
                        .value_name("EPOCH")
                        .value_parser(clap::value_parser!(i16).range(0..))
                        .requires("producer-id")
                        .help("Producer epoch"),
                )
                .arg(
                    Arg::new("coordinator-epoch")
                        .long("coordinator-epoch")
                        .value_name("EPOCH")
                        .allow_negative_numbers(true)
                        .value_parser(clap::value_parser!(i32))
                        .requires("producer-id")
                        .help("Coordinator epoch (-1, as describe-producers shows for none, is sent as 0)"),
                ),
        )
        .subcommand(
            Command::new("find-hanging")
                .about("Find hanging transactions (open longer than the timeout and unknown to their coordinator)")
                .arg(broker_id_arg("Broker id to search for hanging transactions"))
                .arg(
                    Arg::new("max-transaction-timeout")
                        .long("max-transaction-timeout")
                        .value_name("MINUTES")
                        .value_parser(clap::value_parser!(i32).range(0..))
                        .default_value("15")
                        .help("Maximum transaction timeout in minutes, to limit the scope of the search"),
                )
                .arg(topic_arg("Topic name to limit the search to"))
                .arg(partition_arg("Partition number (with --topic)").requires("topic")),
        )
}

/// What to do, validated.
enum Action {
    List { duration: Option<Duration> },
    Describe { transactional_id: String },
    DescribeProducers { tp: TopicPartition, broker_id: Option<i32> },
    Abort { tp: TopicPartition, target: AbortTarget },
    FindHanging { broker_id: Option<i32>, topic: Option<String>, partition: Option<i32>, max_timeout: Duration },
}

enum AbortTarget {
    StartOffset(i64),
    Producer { producer_id: i64, producer_epoch: i16, coordinator_epoch: i32 },
}

fn usage(message: impl std::fmt::Display) -> clap::Error {
    command().error(ErrorKind::MissingRequiredArgument, message)
}

fn tp_of(sub: &ArgMatches) -> Result<TopicPartition, clap::Error> {
    match (sub.get_one::<String>("topic"), sub.get_one::<i32>("partition")) {
        (Some(t), Some(p)) => Ok(TopicPartition::new(t.clone(), *p)),
        _ => Err(usage("--topic and --partition are required")),
    }
}

fn validate(m: &ArgMatches) -> Result<Action, clap::Error> {
    if m.get_one::<String>("bootstrap-server").is_none() {
        return Err(usage("Missing required argument \"--bootstrap-server\""));
    }
    match m.subcommand() {
        Some(("list", sub)) => {
            let duration = sub.get_one::<i64>("duration-filter").and_then(|ms| u64::try_from(*ms).ok());
            Ok(Action::List { duration: duration.map(Duration::from_millis) })
        }
        Some(("describe", sub)) => Ok(Action::Describe {
            transactional_id: sub.get_one::<String>("transactional-id").cloned().unwrap_or_default(),
        }),
        Some(("describe-producers", sub)) => {
            Ok(Action::DescribeProducers { tp: tp_of(sub)?, broker_id: sub.get_one::<i32>("broker-id").copied() })
        }
        Some(("abort", sub)) => {
            let tp = tp_of(sub)?;
            let target = if let Some(offset) = sub.get_one::<i64>("start-offset") {
                AbortTarget::StartOffset(*offset)
            } else if let Some(producer_id) = sub.get_one::<i64>("producer-id") {
                let Some(producer_epoch) = sub.get_one::<i16>("producer-epoch") else {
                    return Err(usage("Missing required argument --producer-epoch"));
                };
                let Some(coordinator_epoch) = sub.get_one::<i32>("coordinator-epoch") else {
                    return Err(usage("Missing required argument --coordinator-epoch"));
                };
                AbortTarget::Producer {
                    producer_id: *producer_id,
                    producer_epoch: *producer_epoch,
                    coordinator_epoch: *coordinator_epoch,
                }
            } else {
                return Err(usage(
                    "The transaction to abort must be identified either with --start-offset (for brokers on 3.0 or \
                     above) or with --producer-id, --producer-epoch, and --coordinator-epoch (for older brokers)",
                ));
            };
            Ok(Action::Abort { tp, target })
        }
        Some(("find-hanging", sub)) => {
            let broker_id = sub.get_one::<i32>("broker-id").copied();
            let topic = sub.get_one::<String>("topic").cloned();
            if topic.is_none() && broker_id.is_none() {
                return Err(usage(
                    "The `find-hanging` command requires either --topic or --broker-id to limit the scope of the \
                     search",
                ));
            }
            let minutes = sub.get_one::<i32>("max-transaction-timeout").copied().unwrap_or(15);
            Ok(Action::FindHanging {
                broker_id,
                topic,
                partition: sub.get_one::<i32>("partition").copied(),
                max_timeout: Duration::from_secs(u64::try_from(minutes).unwrap_or(0) * 60),
            })
        }
        _ => Err(usage("a command is required: list, describe, describe-producers, abort or find-hanging")),
    }
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    // Quiet by default; RUST_LOG=debug shows the requests and retries.
    super::init_logging("error");
    let action = match validate(m) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("command-config") {
        let props = super::common::read_properties(path).context("Failed to load admin client properties")?;
        super::common::set_client_properties(&mut config, path, props)?;
    }
    let format = m.get_one::<Format>("output").copied().unwrap_or_default();
    let rt = super::common::runtime()?;
    rt.block_on(async {
        let admin = Admin::connect(config).await.context("Failed to connect to the cluster")?;
        match action {
            Action::List { duration } => list(&admin, duration, format).await,
            Action::Describe { transactional_id } => describe(&admin, &transactional_id, format).await,
            Action::DescribeProducers { tp, broker_id } => describe_producers(&admin, &tp, broker_id, format).await,
            Action::Abort { tp, target } => abort(&admin, tp, target).await,
            Action::FindHanging { broker_id, topic, partition, max_timeout } => {
                find_hanging(&admin, broker_id, topic, partition, max_timeout, format).await
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Kafka's `prettyPrintTable`: every cell padded to its column's width and
/// followed by a tab.
fn plain_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (cell, w) in cells.zip(&widths) {
            s.push_str(&format!("{cell:<w$}\t"));
        }
        s.push('\n');
        s
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Prints rows in the chosen format; `records` is what JSON and YAML show.
fn render<T: Serialize>(format: Format, headers: &[&str], rows: Vec<Vec<String>>, records: &T) -> anyhow::Result<()> {
    match format {
        Format::Plain => print!("{}", plain_table(headers, &rows)),
        Format::Table => {
            let cells = rows.into_iter().map(|r| r.into_iter().map(Cell::new).collect()).collect();
            println!("{}", output::table(headers, cells));
        }
        f => print!("{}", output::structured(records, f)?),
    }
    Ok(())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "None".to_string(), |v| v.to_string())
}

async fn list(admin: &Admin, duration: Option<Duration>, format: Format) -> anyhow::Result<()> {
    let options = ListTransactionsOptions { duration, ..Default::default() };
    let listings = admin.list_transactions(&options).await.context("Failed to list transactions")?;
    let rows = listings
        .iter()
        .map(|l| {
            vec![l.transactional_id.clone(), l.coordinator.to_string(), l.producer_id.to_string(), l.state.clone()]
        })
        .collect();
    render(format, &LIST_HEADERS, rows, &listings)
}

/// DescribeTransactions as JSON/YAML show it: the description and its duration.
#[derive(Serialize)]
struct DescribedTransaction {
    #[serde(flatten)]
    description: TransactionDescription,
    transaction_duration_ms: Option<i64>,
}

async fn describe(admin: &Admin, transactional_id: &str, format: Format) -> anyhow::Result<()> {
    let d = admin
        .describe_transaction(transactional_id)
        .await
        .with_context(|| format!("Failed to describe transaction state of transactional-id `{transactional_id}`"))?;
    let duration = d.transaction_start_time_ms.map(|start| now_ms() - start);
    let partitions: Vec<String> = d.topic_partitions.iter().map(TopicPartition::to_string).collect();
    let row = vec![
        d.coordinator_id.to_string(),
        d.transactional_id.clone(),
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state.clone(),
        d.transaction_timeout_ms.to_string(),
        opt(d.transaction_start_time_ms),
        opt(duration),
        partitions.join(","),
    ];
    render(
        format,
        &DESCRIBE_HEADERS,
        vec![row],
        &DescribedTransaction { description: d, transaction_duration_ms: duration },
    )
}

async fn describe_producers(
    admin: &Admin,
    tp: &TopicPartition,
    broker_id: Option<i32>,
    format: Format,
) -> anyhow::Result<()> {
    let on = broker_id.map_or_else(|| "leader".to_string(), |b| format!("broker {b}"));
    let mut states = admin
        .describe_producers(std::slice::from_ref(tp), broker_id)
        .await
        .with_context(|| format!("Failed to describe producers for partition {tp} on {on}"))?;
    let producers = states.remove(tp).unwrap_or_default();
    let rows = producers
        .iter()
        .map(|p| {
            vec![
                p.producer_id.to_string(),
                p.producer_epoch.to_string(),
                p.coordinator_epoch.unwrap_or(-1).to_string(),
                p.last_sequence.to_string(),
                p.last_timestamp.to_string(),
                opt(p.current_transaction_start_offset),
            ]
        })
        .collect();
    render(format, &PRODUCER_HEADERS, rows, &producers)
}

async fn abort(admin: &Admin, tp: TopicPartition, target: AbortTarget) -> anyhow::Result<()> {
    let spec = match target {
        AbortTarget::Producer { producer_id, producer_epoch, coordinator_epoch } => AbortTransactionSpec {
            topic_partition: tp,
            producer_id,
            producer_epoch,
            // A producer whose transaction hung before its first marker shows
            // -1; 0 is at most any epoch a coordinator can have written.
            coordinator_epoch: coordinator_epoch.max(0),
        },
        AbortTarget::StartOffset(offset) => {
            let mut states = admin
                .describe_producers(std::slice::from_ref(&tp), None)
                .await
                .with_context(|| format!("Failed to validate producer state for partition {tp}"))?;
            let producers = states.remove(&tp).unwrap_or_default();
            let Some(p) = producers.iter().find(|p| p.current_transaction_start_offset == Some(offset)) else {
                return Err(anyhow!(
                    "Could not find any open transactions starting at offset {offset} on partition {tp}"
                ));
            };
            let producer_epoch = i16::try_from(p.producer_epoch)
                .map_err(|_| anyhow!("producer {} has epoch {} out of range", p.producer_id, p.producer_epoch))?;
            AbortTransactionSpec {
                topic_partition: tp,
                producer_id: p.producer_id,
                producer_epoch,
                coordinator_epoch: p.coordinator_epoch.unwrap_or(0),
            }
        }
    };
    admin.abort_transaction(&spec).await.with_context(|| {
        format!(
            "Failed to abort transaction of producer {} (epoch {}, coordinator epoch {}) on partition {}",
            spec.producer_id, spec.producer_epoch, spec.coordinator_epoch, spec.topic_partition
        )
    })?;
    Ok(())
}

/// An open transaction found by `find-hanging`.
#[derive(Serialize)]
struct OpenTransaction {
    topic: String,
    partition: i32,
    producer_id: i64,
    producer_epoch: i32,
    coordinator_epoch: i32,
    start_offset: i64,
    last_timestamp: i64,
    duration_minutes: i64,
}

impl OpenTransaction {
    fn new(tp: &TopicPartition, p: &ProducerState, now: i64) -> OpenTransaction {
        OpenTransaction {
            topic: tp.topic.clone(),
            partition: tp.partition,
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            coordinator_epoch: p.coordinator_epoch.unwrap_or(-1),
            start_offset: p.current_transaction_start_offset.unwrap_or(-1),
            last_timestamp: p.last_timestamp,
            duration_minutes: (now - p.last_timestamp) / 60_000,
        }
    }
}

/// The partitions `find-hanging` searches: one, a topic's, or every
/// (non-internal) topic's, kept to those with a replica on `broker_id` if given.
async fn partitions_to_search(
    admin: &Admin,
    broker_id: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
) -> anyhow::Result<Vec<TopicPartition>> {
    if let (Some(t), Some(p)) = (&topic, partition) {
        return Ok(vec![TopicPartition::new(t.clone(), p)]);
    }
    let topics = match topic {
        Some(t) => vec![t],
        None => admin.list_topics(false).await.context("Failed to list topics")?,
    };
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let described = admin
        .describe_topics(Some(&topics))
        .await
        .with_context(|| format!("Failed to describe {} topics", topics.len()))?;
    Ok(described
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| broker_id.is_none_or(|b| p.replicas.contains(&b)))
                .map(|p| TopicPartition::new(t.name.clone(), p.partition))
        })
        .collect())
}

async fn find_hanging(
    admin: &Admin,
    broker_id: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
    max_timeout: Duration,
    format: Format,
) -> anyhow::Result<()> {
    let partitions = partitions_to_search(admin, broker_id, topic, partition).await?;
    let max_ms = i64::try_from(max_timeout.as_millis()).unwrap_or(i64::MAX);
    let on = broker_id.map_or_else(|| "their leaders".to_string(), |b| format!("broker {b}"));
    let states = if partitions.is_empty() {
        Default::default()
    } else {
        admin
            .describe_producers(&partitions, broker_id)
            .await
            .with_context(|| format!("Failed to describe producers for {} partitions on {on}", partitions.len()))?
    };
    // Open for longer than any transaction may last: the coordinator should
    // have ended it by now, unless it does not know about it.
    let now = now_ms();
    let candidates: Vec<(TopicPartition, ProducerState)> = states
        .into_iter()
        .flat_map(|(tp, producers)| producers.into_iter().map(move |p| (tp.clone(), p)))
        .filter(|(_, p)| p.current_transaction_start_offset.is_some() && now - p.last_timestamp > max_ms)
        .collect();
    let mut hanging = Vec::new();
    if !candidates.is_empty() {
        let mut producer_ids: Vec<i64> = candidates.iter().map(|(_, p)| p.producer_id).collect();
        producer_ids.sort_unstable();
        producer_ids.dedup();
        let transactional_ids = transactional_ids_of(admin, &producer_ids).await?;
        let mut descriptions = std::collections::BTreeMap::new();
        for id in transactional_ids.values() {
            if descriptions.contains_key(id) {
                continue;
            }
            let described = match admin.describe_transaction(id).await {
                Ok(d) => Some(d),
                Err(e) if e.code() == Some(ResponseError::TransactionalIdNotFound) => None,
                Err(e) => return Err(anyhow!(e).context(format!("Failed to describe transactional id `{id}`"))),
            };
            descriptions.insert(id.clone(), described);
        }
        for (tp, p) in &candidates {
            // The coordinator still lists the partition of an ongoing (or
            // committing/aborting) transaction: it will write the marker.
            let expected = transactional_ids
                .get(&p.producer_id)
                .and_then(|id| descriptions.get(id))
                .and_then(Option::as_ref)
                .is_some_and(|d| d.producer_id == p.producer_id && d.topic_partitions.contains(tp));
            if !expected {
                hanging.push(OpenTransaction::new(tp, p, now));
            }
        }
    }
    let rows = hanging
        .iter()
        .map(|t| {
            vec![
                t.topic.clone(),
                t.partition.to_string(),
                t.producer_id.to_string(),
                t.producer_epoch.to_string(),
                t.coordinator_epoch.to_string(),
                t.start_offset.to_string(),
                t.last_timestamp.to_string(),
                t.duration_minutes.to_string(),
            ]
        })
        .collect();
    render(format, &HANGING_HEADERS, rows, &hanging)
}

/// Producer id → transactional id, from ListTransactions filtered by producer
/// id. Brokers without a transaction coordinator (no ListTransactions) know no
/// transactional ids: every open transaction on them is hanging.
async fn transactional_ids_of(
    admin: &Admin,
    producer_ids: &[i64],
) -> anyhow::Result<std::collections::BTreeMap<i64, String>> {
    let options = ListTransactionsOptions { producer_ids: producer_ids.to_vec(), ..Default::default() };
    match admin.list_transactions(&options).await {
        Ok(listings) => Ok(listings
            .into_iter()
            .filter(|l| producer_ids.contains(&l.producer_id))
            .map(|l| (l.producer_id, l.transactional_id))
            .collect()),
        Err(e) if is_unsupported(&e) => {
            eprintln!("WARN: the cluster serves no ListTransactions (no transaction coordinator): {e}");
            Ok(Default::default())
        }
        Err(e) => Err(anyhow!(e).context(format!("Failed to list transactions for {} producers", producer_ids.len()))),
    }
}

fn is_unsupported(e: &ClientError) -> bool {
    e.code() == Some(ResponseError::UnsupportedVersion)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Action, clap::Error> {
        let mut argv = vec!["transactions", "--bootstrap-server", "h:1"];
        argv.extend_from_slice(args);
        validate(&command().try_get_matches_from(argv)?)
    }

    #[test]
    fn flag_combinations() {
        assert!(matches!(parse(&["list"]), Ok(Action::List { duration: None })));
        assert!(matches!(parse(&["list", "--duration-filter", "-1"]), Ok(Action::List { duration: None })));
        assert!(parse(&["describe"]).is_err(), "--transactional-id is required");
        assert!(parse(&["describe-producers", "--topic", "t"]).is_err());
        assert!(matches!(
            parse(&["describe-producers", "--topic", "t", "--partition", "0", "--broker-id", "2"]),
            Ok(Action::DescribeProducers { broker_id: Some(2), .. })
        ));
        assert!(matches!(
            parse(&["abort", "--topic", "t", "--partition", "0", "--start-offset", "4"]),
            Ok(Action::Abort { target: AbortTarget::StartOffset(4), .. })
        ));
        assert!(parse(&["abort", "--topic", "t", "--partition", "0"]).is_err());
        assert!(
            parse(&["abort", "--topic", "t", "--partition", "0", "--start-offset", "4", "--producer-id", "1"]).is_err()
        );
        let missing =
            parse(&["abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"]);
        assert!(missing.is_err_and(|e| e.to_string().contains("--coordinator-epoch")));
        assert!(matches!(
            parse(&[
                "abort",
                "--topic",
                "t",
                "--partition",
                "0",
                "--producer-id",
                "1",
                "--producer-epoch",
                "0",
                "--coordinator-epoch",
                "-1"
            ]),
            Ok(Action::Abort { target: AbortTarget::Producer { coordinator_epoch: -1, .. }, .. })
        ));
        assert!(parse(&["find-hanging"]).is_err_and(|e| e.to_string().contains("--topic or --broker-id")));
        assert!(parse(&["find-hanging", "--partition", "0", "--broker-id", "1"]).is_err());
        assert!(parse(&["find-hanging", "--topic", "t", "--max-transaction-timeout", "-1"]).is_err());
        assert!(matches!(
            parse(&["find-hanging", "--broker-id", "1"]),
            Ok(Action::FindHanging { max_timeout, .. }) if max_timeout == Duration::from_secs(900)
        ));
        let no_bootstrap = validate(&command().try_get_matches_from(["transactions", "list"]).expect("parses"));
        assert!(no_bootstrap.is_err_and(|e| e.to_string().contains("--bootstrap-server")));
    }

    #[test]
    fn plain_output_is_kafkas_padded_tab_table() {
        let out = plain_table(&["ProducerId", "LastSequence"], &[vec!["1234567890123".into(), "7".into()]]);
        assert_eq!(out, "ProducerId   \tLastSequence\t\n1234567890123\t7           \t\n");
    }
}
