//! `streams`: Kafka Streams applications that ship with gregor. Today the
//! quickstart's `word-count` (Kafka's WordCountDemo, also reachable as
//! `kafka-run-class.sh org.apache.kafka.streams.examples.wordcount.WordCountDemo`).
//!
//! The demo keeps Kafka's settings: application id `streams-wordcount`,
//! record caching off (every count update is written, so the console
//! consumer shows the changelog the quickstart prints), `auto.offset.reset`
//! earliest, input `streams-plaintext-input`, output
//! `streams-wordcount-output` with 8-byte big-endian Long counts. It runs
//! until Ctrl-C / SIGTERM, then closes cleanly (commit, checkpoint, leave
//! the group); `--run-seconds` stops it by itself as the 0.10 demo did.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use super::common;
use crate::client::{Admin, ClientConfig};
use crate::streams::runtime::{KafkaStreams, State, StreamsConfig};

pub fn command() -> Command {
    Command::new("streams")
        .about("Run Kafka Streams applications (the quickstart's word count)")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("word-count")
                .about("The WordCountDemo: count words of the lines in a topic, write the counts to another")
                .arg(
                    Arg::new("bootstrap-server")
                        .long("bootstrap-server")
                        .alias("bootstrap-servers")
                        .value_name("HOST:PORT[,HOST:PORT...]")
                        .help("Brokers to connect to [default: bootstrap.servers of the properties file, else 127.0.0.1:9092]"),
                )
                .arg(
                    Arg::new("input")
                        .long("input")
                        .value_name("TOPIC")
                        .help("Topic of text lines [default: streams-plaintext-input, or the 0.10 quickstart's streams-file-input when only that exists]"),
                )
                .arg(
                    Arg::new("output")
                        .long("output")
                        .value_name("TOPIC")
                        .default_value("streams-wordcount-output")
                        .help("Topic of (word, count) records, counts as 8-byte big-endian Longs"),
                )
                .arg(
                    Arg::new("application-id")
                        .long("application-id")
                        .value_name("ID")
                        .help("application.id: consumer group, internal topic prefix, state directory [default: streams-wordcount]"),
                )
                .arg(Arg::new("state-dir").long("state-dir").value_name("DIR").help("state.dir [default: /tmp/kafka-streams]"))
                .arg(
                    Arg::new("processing-guarantee")
                        .long("processing-guarantee")
                        .value_name("GUARANTEE")
                        .help("processing.guarantee: at_least_once (default) or exactly_once_v2"),
                )
                .arg(
                    Arg::new("num-stream-threads")
                        .long("num-stream-threads")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u32).range(1..))
                        .help("num.stream.threads [default: 1]"),
                )
                .arg(common::kv_arg("property", "Any Streams config, e.g. --property commit.interval.ms=100"))
                .arg(
                    Arg::new("run-seconds")
                        .long("run-seconds")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64))
                        .help("Stop after this many seconds (as the 0.10 demo did); default: until Ctrl-C"),
                )
                .arg(
                    Arg::new("print-topology")
                        .long("print-topology")
                        .action(clap::ArgAction::SetTrue)
                        .help("Print the topology description and exit"),
                )
                .arg(
                    Arg::new("properties-file")
                        .value_name("PROPERTIES_FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("A Java properties file of Streams configs (the demo's optional argument)"),
                ),
        )
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    match m.subcommand() {
        Some(("word-count", sub)) => word_count(sub),
        _ => Ok(ExitCode::from(super::EXIT_USAGE)),
    }
}

/// The demo's configs: Kafka's WordCountDemo defaults, then the properties
/// file, then the flags.
fn word_count_config(m: &ArgMatches) -> anyhow::Result<BTreeMap<String, String>> {
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    props.insert("application.id".into(), "streams-wordcount".into());
    props.insert("bootstrap.servers".into(), "127.0.0.1:9092".into());
    props.insert("cache.max.bytes.buffering".into(), "0".into());
    props.insert("auto.offset.reset".into(), "earliest".into());
    if let Some(path) = m.get_one::<PathBuf>("properties-file") {
        props.extend(common::read_properties(path)?);
    }
    let flags = [
        ("bootstrap-server", "bootstrap.servers"),
        ("application-id", "application.id"),
        ("state-dir", "state.dir"),
        ("processing-guarantee", "processing.guarantee"),
    ];
    for (flag, key) in flags {
        if let Some(v) = m.get_one::<String>(flag) {
            props.insert(key.into(), v.clone());
        }
    }
    if let Some(n) = m.get_one::<u32>("num-stream-threads") {
        props.insert("num.stream.threads".into(), n.to_string());
    }
    props.extend(common::kv_values(m, "property")?);
    Ok(props)
}

fn word_count(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("warn");
    let output = m.get_one::<String>("output").map_or("streams-wordcount-output", String::as_str).to_string();
    let explicit_input = m.get_one::<String>("input").cloned();
    let props = word_count_config(m)?;
    let config = StreamsConfig::from_props(props)?;
    let run_for = m.get_one::<u64>("run-seconds").map(|s| Duration::from_secs(*s));
    if m.get_flag("print-topology") {
        let input = explicit_input.unwrap_or_else(|| PLAINTEXT_INPUT.to_string());
        let topology = crate::streams::examples::word_count_topology(&input, &output)?;
        print!("{}", topology.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let rt = common::runtime()?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        let input = match explicit_input {
            Some(t) => t,
            None => default_input(&config).await,
        };
        let topology = crate::streams::examples::word_count_topology(&input, &output)?;
        let streams = KafkaStreams::new(topology, config)?;
        if let Err(e) = streams.start().await {
            eprintln!("error: the word count application failed to start: {e}");
            streams.close().await;
            return Ok(ExitCode::from(super::EXIT_FAILURE));
        }
        eprintln!("word count running: {input} -> {output} (Ctrl-C stops it)");
        let deadline = async {
            match run_for {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let code = tokio::select! {
            _ = interrupt.recv() => ExitCode::from(super::EXIT_INTERRUPTED),
            _ = terminate.recv() => ExitCode::SUCCESS,
            _ = deadline => ExitCode::SUCCESS,
            _ = streams.wait_for_state(State::Error, Duration::from_secs(100 * 365 * 86_400)) => {
                let why = streams.error().map(|e| e.to_string()).unwrap_or_else(|| "unknown error".into());
                eprintln!("error: the word count application stopped: {why}");
                ExitCode::from(super::EXIT_FAILURE)
            }
        };
        streams.close().await;
        Ok(code)
    })
}

/// The input of today's quickstart.
const PLAINTEXT_INPUT: &str = "streams-plaintext-input";
/// The input of the 0.10.0 quickstart.
const FILE_INPUT: &str = "streams-file-input";

/// Without `--input`, the demo reads today's quickstart topic, or the
/// 0.10.0 quickstart's `streams-file-input` when only that one exists.
async fn default_input(config: &StreamsConfig) -> String {
    let mut client = ClientConfig::new(config.bootstrap_servers.clone());
    if let Ok(props) = config.admin_props() {
        for (k, v) in props {
            // Keys meant for other clients are not the admin client's business.
            let _ = client.set(&k, &v);
        }
    }
    let topics = match Admin::connect(client).await {
        Ok(admin) => admin.list_topics(false).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if !topics.iter().any(|t| t == PLAINTEXT_INPUT) && topics.iter().any(|t| t == FILE_INPUT) {
        FILE_INPUT.to_string()
    } else {
        PLAINTEXT_INPUT.to_string()
    }
}
