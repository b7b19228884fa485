//! `console-consumer` (kafka-console-consumer.sh): prints records, values one
//! per line by default, in Kafka's DefaultMessageFormatter layout; on exit
//! reports `Processed a total of N messages` on stderr, as Kafka does.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command};
use tokio::sync::Notify;

use super::common::{self, kv_arg};
use crate::client::{ClientError, Consumer, ConsumerConfig, ConsumerRecord, SeekTo, TimestampType};
use crate::protocol::ErrorCode;

pub fn command() -> Command {
    let cmd = Command::new("console-consumer")
        .about("Read records from a topic and print them to standard output")
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").help("The topic to consume from"))
        .arg(Arg::new("include").long("include").visible_alias("whitelist").value_name("REGEX").help("Consume every topic whose name matches this regular expression (subscribes; a group is generated when none is given)"))
        .group(clap::ArgGroup::new("source").args(["topic", "include"]).required(true))
        .arg(Arg::new("from-beginning").long("from-beginning").action(ArgAction::SetTrue).help("Start with the earliest record present instead of the latest"))
        .arg(Arg::new("partition").long("partition").value_name("P").value_parser(clap::value_parser!(i32)).help("Consume only this partition"))
        .arg(Arg::new("offset").long("offset").value_name("OFFSET").help("earliest, latest, or an offset (needs --partition)"))
        .arg(Arg::new("max-messages").long("max-messages").value_name("N").value_parser(clap::value_parser!(u64)).help("Exit after this many records"))
        .arg(Arg::new("timeout-ms").long("timeout-ms").value_name("MS").value_parser(clap::value_parser!(u64)).help("Exit if no record arrives for this long"))
        .arg(kv_arg("property", "Formatter properties: print.key, print.value, print.timestamp, print.partition, print.offset, print.headers, key.separator, line.separator, headers.separator, null.literal"))
        .arg(Arg::new("formatter").long("formatter").value_name("CLASS").default_value("kafka.tools.DefaultMessageFormatter").help("The record formatter (only the default one)"))
        .arg(kv_arg("consumer-property", "A consumer config, e.g. --consumer-property fetch.max.wait.ms=100"))
        .arg(common::config_file_arg("consumer.config", "Consumer configs in a properties file"))
        .arg(Arg::new("isolation-level").long("isolation-level").value_name("LEVEL").value_parser(["read_uncommitted", "read_committed"]).help("read_uncommitted (default) or read_committed"))
        .arg(Arg::new("group").long("group").value_name("GROUP").help("Join this consumer group: partitions are shared with its other members and offsets are committed"))
        .arg(Arg::new("skip-message-on-error").long("skip-message-on-error").action(ArgAction::SetTrue).help("Accepted for compatibility"));
    common::with_bootstrap(cmd, false)
}

/// How records are printed (Kafka's DefaultMessageFormatter).
#[derive(Clone, Debug)]
pub struct Formatter {
    pub print_key: bool,
    pub print_value: bool,
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub key_separator: String,
    pub line_separator: String,
    pub headers_separator: String,
    pub null_literal: String,
}

impl Formatter {
    pub fn from_props(props: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Formatter> {
        let flag = |k: &str, default: bool| -> anyhow::Result<bool> {
            match props.get(k).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => bail!("Invalid value {v} for property {k}: expected true or false"),
            }
        };
        let text = |k: &str, default: &str| props.get(k).map_or_else(|| default.to_string(), |v| unescape(v));
        Ok(Formatter {
            print_key: flag("print.key", false)?,
            print_value: flag("print.value", true)?,
            print_timestamp: flag("print.timestamp", false)?,
            print_partition: flag("print.partition", false)?,
            print_offset: flag("print.offset", false)?,
            print_headers: flag("print.headers", false)?,
            key_separator: text("key.separator", "\t"),
            line_separator: text("line.separator", "\n"),
            headers_separator: text("headers.separator", ","),
            null_literal: text("null.literal", "null"),
        })
    }

    /// Appends one record's text to `out`.
    pub fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) {
        let fields = [
            self.print_timestamp,
            self.print_partition,
            self.print_offset,
            self.print_headers,
            self.print_key,
            self.print_value,
        ];
        let mut remaining = fields.iter().filter(|f| **f).count();
        let sep = |out: &mut Vec<u8>, remaining: &mut usize| {
            *remaining -= 1;
            if *remaining > 0 {
                out.extend_from_slice(self.key_separator.as_bytes());
            }
        };
        if self.print_timestamp {
            let kind = match r.timestamp_type {
                TimestampType::LogAppendTime => "LogAppendTime",
                _ => "CreateTime",
            };
            if r.timestamp >= 0 {
                out.extend_from_slice(format!("{kind}:{}", r.timestamp).as_bytes());
            } else {
                out.extend_from_slice(b"NO_TIMESTAMP");
            }
            sep(out, &mut remaining);
        }
        if self.print_partition {
            out.extend_from_slice(format!("Partition:{}", r.partition).as_bytes());
            sep(out, &mut remaining);
        }
        if self.print_offset {
            out.extend_from_slice(format!("Offset:{}", r.offset).as_bytes());
            sep(out, &mut remaining);
        }
        if self.print_headers {
            if r.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            }
            for (i, (k, v)) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(self.headers_separator.as_bytes());
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                match v {
                    Some(v) => out.extend_from_slice(v),
                    None => out.extend_from_slice(self.null_literal.as_bytes()),
                }
            }
            sep(out, &mut remaining);
        }
        if self.print_key {
            match &r.key {
                Some(k) => out.extend_from_slice(k),
                None => out.extend_from_slice(self.null_literal.as_bytes()),
            }
            sep(out, &mut remaining);
        }
        if self.print_value {
            match &r.value {
                Some(v) => out.extend_from_slice(v),
                None => out.extend_from_slice(self.null_literal.as_bytes()),
            }
        }
        out.extend_from_slice(self.line_separator.as_bytes());
    }
}

/// `\t`, `\n`, `\r`, `\\` in separators given on the command line.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn consumer_config(m: &ArgMatches, bootstrap: String) -> anyhow::Result<ConsumerConfig> {
    let mut cfg = ConsumerConfig::new(bootstrap);
    let mut props = common::config_file_values(m, "consumer.config")?;
    props.extend(common::kv_values(m, "consumer-property")?);
    if let Some(g) = m.get_one::<String>("group") {
        match props.get("group.id") {
            Some(other) if other != g => {
                bail!("Option --group {g} conflicts with group.id={other} given in the consumer properties")
            }
            _ => {
                props.insert("group.id".into(), g.clone());
            }
        }
    }
    if m.get_one::<String>("include").is_some() && !props.contains_key("group.id") {
        // As Kafka's console consumer: a throwaway group, whose offsets are not worth keeping.
        let n = uuid::Uuid::new_v4().as_u128() % 100_000;
        props.insert("group.id".into(), format!("console-consumer-{n}"));
        props.entry("enable.auto.commit".into()).or_insert_with(|| "false".into());
    }
    // As Kafka's console consumer: a group starts where it left off; without
    // committed offsets --from-beginning means the earliest record.
    if m.get_flag("from-beginning") && !props.contains_key("auto.offset.reset") {
        props.insert("auto.offset.reset".into(), "earliest".into());
    }
    for (k, v) in &props {
        cfg.set(k, v)?;
    }
    if let Some(level) = m.get_one::<String>("isolation-level") {
        cfg.set("isolation.level", level)?;
    }
    Ok(cfg)
}

/// Where to start.
fn start_position(m: &ArgMatches) -> anyhow::Result<SeekTo> {
    let from_beginning = m.get_flag("from-beginning");
    match m.get_one::<String>("offset") {
        Some(_) if m.get_one::<i32>("partition").is_none() => {
            bail!("The partition is required when offset is specified.")
        }
        Some(_) if from_beginning => bail!("Options from-beginning and offset cannot be specified together."),
        Some(o) if o == "earliest" => Ok(SeekTo::Beginning),
        Some(o) if o == "latest" => Ok(SeekTo::End),
        Some(o) => match o.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(SeekTo::Offset(n)),
            _ => bail!("The offset '{o}' is invalid: use earliest, latest or a non-negative number"),
        },
        None if from_beginning => Ok(SeekTo::Beginning),
        None => Ok(SeekTo::End),
    }
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = common::bootstrap(m)?;
    let formatter_class = m.get_one::<String>("formatter").map_or("", String::as_str);
    if !matches!(
        formatter_class,
        "kafka.tools.DefaultMessageFormatter" | "org.apache.kafka.tools.consumer.DefaultMessageFormatter" | "default"
    ) {
        bail!("--formatter {formatter_class}: only kafka.tools.DefaultMessageFormatter is available");
    }
    let formatter = Formatter::from_props(&common::kv_values(m, "property")?)?;
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let pattern = m.get_one::<String>("include").cloned();
    let start = start_position(m)?;
    let partition = m.get_one::<i32>("partition").copied();
    if pattern.is_some() && partition.is_some() {
        bail!("The topic is required when partition is specified.");
    }
    let max_messages = m.get_one::<u64>("max-messages").copied();
    let idle_timeout = m.get_one::<u64>("timeout-ms").map(|ms| Duration::from_millis(*ms));
    let cfg = consumer_config(m, bootstrap)?;
    let rt = common::runtime()?;
    let mut count = 0u64;
    let result = rt.block_on(consume(
        cfg,
        &topic,
        pattern.as_deref(),
        partition,
        start,
        max_messages,
        idle_timeout,
        &formatter,
        &mut count,
    ));
    eprintln!("Processed a total of {count} messages");
    match result {
        Ok(Stop::Done) => Ok(ExitCode::SUCCESS),
        Ok(Stop::Interrupted) => Ok(ExitCode::from(super::EXIT_INTERRUPTED)),
        Err(e) => Err(e),
    }
}

enum Stop {
    Done,
    Interrupted,
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    cfg: ConsumerConfig,
    topic: &str,
    pattern: Option<&str>,
    partition: Option<i32>,
    start: SeekTo,
    max_messages: Option<u64>,
    idle_timeout: Option<Duration>,
    formatter: &Formatter,
    count: &mut u64,
) -> anyhow::Result<Stop> {
    // One Ctrl-C listener for the whole run: a fresh `ctrl_c()` per poll
    // would miss a signal arriving while records are being printed.
    let interrupted = Arc::new(Notify::new());
    let listener = {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.notify_one();
            }
        })
    };
    let subscribe = cfg.group_id.is_some() && partition.is_none();
    let mut consumer = Consumer::new(cfg).await.context("cannot start the consumer")?;
    let limits = Limits { max_messages, idle_timeout, interrupted: &interrupted };
    let result = if let Some(pattern) = pattern {
        match consumer.subscribe_pattern(pattern).await {
            Ok(()) => print_records(&mut consumer, &limits, formatter, count).await,
            Err(e) => Err(e.into()),
        }
    } else if subscribe {
        match consumer.subscribe(vec![topic.to_string()]).await {
            Ok(()) => print_records(&mut consumer, &limits, formatter, count).await,
            Err(e) => Err(e.into()),
        }
    } else {
        consume_assigned(&mut consumer, topic, partition, start, &limits, formatter, count).await
    };
    listener.abort();
    // Commit what was printed and leave the group, also after Ctrl-C, so the
    // group's other members take over at once.
    let closed = consumer.close().await;
    match (result, closed) {
        (Err(e), _) => Err(e),
        (Ok(stop), Err(e)) => {
            eprintln!("WARN Closing the consumer failed: {e}");
            Ok(stop)
        }
        (Ok(stop), Ok(())) => Ok(stop),
    }
}

/// When to stop.
struct Limits<'a> {
    max_messages: Option<u64>,
    idle_timeout: Option<Duration>,
    interrupted: &'a Notify,
}

/// Reads with manually assigned partitions (without a group, or with --partition).
async fn consume_assigned(
    consumer: &mut Consumer,
    topic: &str,
    partition: Option<i32>,
    start: SeekTo,
    limits: &Limits<'_>,
    formatter: &Formatter,
    count: &mut u64,
) -> anyhow::Result<Stop> {
    let idle_timeout = limits.idle_timeout;
    let began = Instant::now();
    let partitions = loop {
        match partition {
            Some(p) => break vec![p],
            None => match consumer.partitions_for(topic).await {
                Ok(p) if !p.is_empty() => break p,
                Ok(_) => {}
                Err(e)
                    if e.code() == Some(ErrorCode::UnknownTopicOrPartition)
                        || e.code() == Some(ErrorCode::LeaderNotAvailable) => {}
                Err(e) => return Err(e.into()),
            },
        }
        // The topic does not exist yet: wait for it, as Kafka's consumer does.
        if idle_timeout.is_some_and(|t| began.elapsed() >= t) {
            eprintln!("ERROR Error processing message, terminating consumer process: TimeoutException (topic {topic} does not exist)");
            return Ok(Stop::Done);
        }
        tokio::select! {
            () = limits.interrupted.notified() => return Ok(Stop::Interrupted),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    };
    consumer.assign(partitions.iter().map(|p| (topic.to_string(), *p)).collect()).await?;
    for p in &partitions {
        consumer.seek(topic, *p, start).await?;
    }
    print_records(consumer, limits, formatter, count).await
}

/// Polls and prints until a limit, Ctrl-C or a closed stdout.
async fn print_records(
    consumer: &mut Consumer,
    limits: &Limits<'_>,
    formatter: &Formatter,
    count: &mut u64,
) -> anyhow::Result<Stop> {
    let (max_messages, idle_timeout) = (limits.max_messages, limits.idle_timeout);
    let stdout = std::io::stdout();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut last_record = Instant::now();
    loop {
        if max_messages.is_some_and(|n| *count >= n) {
            return Ok(Stop::Done);
        }
        let wait = match idle_timeout {
            Some(t) => {
                let idle = last_record.elapsed();
                if idle >= t {
                    eprintln!("ERROR Error processing message, terminating consumer process: TimeoutException");
                    return Ok(Stop::Done);
                }
                (t - idle).min(Duration::from_secs(1))
            }
            None => Duration::from_secs(1),
        };
        let records = tokio::select! {
            () = limits.interrupted.notified() => return Ok(Stop::Interrupted),
            r = consumer.poll(wait) => r,
        };
        let records: Vec<ConsumerRecord> = match records {
            Ok(r) => r,
            Err(e) => return Err(poll_error(e)),
        };
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        buf.clear();
        let mut unprinted: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for r in &records {
            if max_messages.is_some_and(|n| *count >= n) {
                unprinted.entry((r.topic.clone(), r.partition)).or_insert(r.offset);
                continue;
            }
            formatter.write(r, &mut buf);
            *count += 1;
        }
        // Stopping inside a batch: what was not printed is not consumed, so
        // the commit at close must not pass it.
        for ((t, p), offset) in unprinted {
            consumer.seek(&t, p, SeekTo::Offset(offset)).await?;
        }
        let mut out = stdout.lock();
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(Stop::Done);
            }
            return Err(e.into());
        }
    }
}

fn poll_error(e: ClientError) -> anyhow::Error {
    anyhow::Error::new(e).context("consuming failed")
}
