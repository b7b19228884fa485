//! `console-producer` (kafka-console-producer.sh): each line is one record.
//! On a terminal it is an interactive REPL (rustyline on its own thread, a
//! `>` prompt, history under the platform data dir); from a pipe it reads
//! lines to EOF and exits 0 only once every record is acknowledged, reporting
//! each failed record on stderr with the broker's reason.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Arg, ArgAction, ArgMatches, Command};
use tokio::sync::mpsc;

use super::common::{self, kv_arg};
use crate::client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

pub fn command() -> Command {
    let cmd = Command::new("console-producer")
        .about("Read lines from standard input (or a prompt) and publish them as records")
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").required(true).help("The topic to produce to"))
        .arg(kv_arg("property", "Line-reader properties: parse.key=true, key.separator=<sep>, ignore.error=true"))
        .arg(kv_arg("producer-property", "A producer config, e.g. --producer-property linger.ms=0"))
        .arg(common::config_file_arg("producer.config", "Producer configs in a properties file"))
        .arg(
            Arg::new("compression-codec")
                .long("compression-codec")
                .value_name("CODEC")
                .num_args(0..=1)
                .default_missing_value("gzip")
                .value_parser(["none", "gzip", "snappy", "lz4", "zstd"])
                .help("Compression codec: none, gzip (when given without a value), snappy, lz4 or zstd"),
        )
        .arg(
            Arg::new("request-required-acks")
                .long("request-required-acks")
                .value_name("ACKS")
                .default_value("-1")
                .value_parser(["0", "1", "-1", "all"])
                .help("Acknowledgements the producer requires"),
        )
        .arg(
            Arg::new("sync")
                .long("sync")
                .action(ArgAction::SetTrue)
                .help("Send each record synchronously, waiting for its acknowledgement"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("MS")
                .value_parser(clap::value_parser!(u64))
                .default_value("1000")
                .help("How long a record may wait for a batch to fill (linger.ms)"),
        )
        .arg(
            Arg::new("batch-size")
                .long("batch-size")
                .value_name("BYTES")
                .value_parser(clap::value_parser!(usize))
                .help("Batch size in bytes (batch.size)"),
        );
    common::with_bootstrap(cmd, true)
}

/// How lines become records.
#[derive(Clone, Debug)]
struct LineReader {
    parse_key: bool,
    key_separator: String,
    ignore_error: bool,
}

impl LineReader {
    fn from_props(props: &std::collections::BTreeMap<String, String>) -> anyhow::Result<LineReader> {
        let flag = |k: &str| -> anyhow::Result<bool> {
            match props.get(k).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => bail!("Invalid value {v} for property {k}: expected true or false"),
            }
        };
        for k in props.keys() {
            if !matches!(
                k.as_str(),
                "parse.key"
                    | "key.separator"
                    | "ignore.error"
                    | "parse.headers"
                    | "headers.delimiter"
                    | "headers.separator"
                    | "headers.key.separator"
            ) {
                eprintln!("WARN: the line-reader property '{k}' is not known and is ignored");
            }
        }
        Ok(LineReader {
            parse_key: flag("parse.key")?,
            key_separator: props.get("key.separator").cloned().unwrap_or_else(|| "\t".into()),
            ignore_error: flag("ignore.error")?,
        })
    }

    /// The record for one line, or why the line cannot be one.
    fn record(&self, topic: &str, line: &str, number: u64) -> Result<ProducerRecord, String> {
        if !self.parse_key {
            return Ok(ProducerRecord::new(topic, Bytes::copy_from_slice(line.as_bytes())));
        }
        match line.split_once(self.key_separator.as_str()) {
            Some((k, v)) => Ok(ProducerRecord::new(topic, Bytes::copy_from_slice(v.as_bytes()))
                .key(Bytes::copy_from_slice(k.as_bytes()))),
            None if self.ignore_error => Ok(ProducerRecord::new(topic, Bytes::copy_from_slice(line.as_bytes()))),
            None => Err(format!("No key separator found on line number {number}: '{line}'")),
        }
    }
}

fn producer_config(m: &ArgMatches, bootstrap: String) -> anyhow::Result<ProducerConfig> {
    let mut cfg = ProducerConfig::new(bootstrap);
    cfg.set("acks", m.get_one::<String>("request-required-acks").map_or("-1", String::as_str))?;
    cfg.set("linger.ms", &m.get_one::<u64>("timeout").copied().unwrap_or(1000).to_string())?;
    if let Some(codec) = m.get_one::<String>("compression-codec") {
        cfg.set("compression.type", codec)?;
    }
    if let Some(size) = m.get_one::<usize>("batch-size") {
        cfg.set("batch.size", &size.to_string())?;
    }
    for (k, v) in common::config_file_values(m, "producer.config")? {
        cfg.set(&k, &v)?;
    }
    for (k, v) in common::kv_values(m, "producer-property")? {
        cfg.set(&k, &v)?;
    }
    Ok(cfg)
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = common::bootstrap(m)?;
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let reader = LineReader::from_props(&common::kv_values(m, "property")?)?;
    let cfg = producer_config(m, bootstrap)?;
    let sync = m.get_flag("sync");
    let interactive = std::io::stdin().is_terminal();
    let rt = common::runtime()?;
    rt.block_on(async move {
        let producer = Producer::new(cfg).await.context("cannot start the producer")?;
        let (lines_tx, lines_rx) = mpsc::channel::<Line>(1024);
        let input = if interactive { spawn_repl(lines_tx)? } else { spawn_pipe_reader(lines_tx) };
        let outcome = produce_lines(&producer, &topic, &reader, sync, lines_rx).await;
        producer.close().await.context("flushing the producer")?;
        let _ = input.join();
        let (failed, interrupted) = outcome?;
        Ok(if interrupted {
            ExitCode::from(super::EXIT_INTERRUPTED)
        } else if failed > 0 {
            ExitCode::from(super::EXIT_FAILURE)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// What the input thread hands over.
enum Line {
    Text(String),
    Interrupted,
}

/// Sends every line; returns (failed records, interrupted by Ctrl-C).
async fn produce_lines(
    producer: &Producer,
    topic: &str,
    reader: &LineReader,
    sync: bool,
    mut lines: mpsc::Receiver<Line>,
) -> anyhow::Result<(u64, bool)> {
    // Deliveries are awaited in order by one reporter task, so a pipe of a
    // million lines keeps a million records in flight without a task each.
    let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<(String, usize, DeliveryFuture)>();
    let topic_name = topic.to_string();
    let reporter = tokio::spawn(async move {
        let mut failed = 0u64;
        while let Some((key, len, fut)) = pending_rx.recv().await {
            if let Err(e) = fut.await {
                failed += 1;
                eprintln!("Error when sending message to topic {topic_name} with key: {key}, value: {len} bytes with error: {e}");
            }
        }
        failed
    });
    let mut number = 0u64;
    let mut bad_lines = 0u64;
    let mut interrupted = false;
    while let Some(line) = lines.recv().await {
        let text = match line {
            Line::Text(t) => t,
            Line::Interrupted => {
                interrupted = true;
                break;
            }
        };
        number += 1;
        let record = match reader.record(topic, &text, number) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ERROR: {e}");
                bad_lines += 1;
                continue;
            }
        };
        let key = record.key.as_ref().map_or_else(|| "null".to_string(), |k| String::from_utf8_lossy(k).into_owned());
        let len = record.value.as_ref().map_or(0, Bytes::len);
        let fut = producer.send(record).await?;
        if sync {
            if let Err(e) = fut.await {
                eprintln!(
                    "Error when sending message to topic {topic} with key: {key}, value: {len} bytes with error: {e}"
                );
                bad_lines += 1;
            }
        } else if pending_tx.send((key, len, fut)).is_err() {
            bail!("the delivery reporter stopped");
        }
    }
    producer.flush().await?;
    drop(pending_tx);
    let failed = reporter.await.context("delivery reporter")?;
    Ok((failed + bad_lines, interrupted))
}

/// Reads stdin lines on a plain thread (blocking I/O stays off the runtime).
fn spawn_pipe_reader(tx: mpsc::Sender<Line>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) => {
                    if tx.blocking_send(Line::Text(l)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("ERROR: reading standard input: {e}");
                    return;
                }
            }
        }
    })
}

/// Where the REPL keeps its history.
pub fn history_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "gregor")?;
    Some(dirs.data_dir().join("console-producer-history"))
}

/// The interactive prompt, on its own thread: rustyline must not run on a tokio worker.
fn spawn_repl(tx: mpsc::Sender<Line>) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let mut editor = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    Ok(std::thread::spawn(move || {
        loop {
            match editor.readline(">") {
                Ok(line) => {
                    if !line.is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    if tx.blocking_send(Line::Text(line)).is_err() {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    let _ = tx.blocking_send(Line::Interrupted);
                    break;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    break;
                }
            }
        }
        if let Some(h) = &history {
            if let Some(parent) = h.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(e) = editor.save_history(h) {
                eprintln!("WARN: cannot save history to {}: {e}", h.display());
            }
        }
    }))
}
