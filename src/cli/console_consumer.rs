//! `console-consumer` (kafka-console-consumer.sh): prints records, values one
//! per line by default, in Kafka's DefaultMessageFormatter layout; on exit
//! reports `Processed a total of N messages` on stderr, as Kafka does.
//!
//! Keys and values are printed as their raw bytes unless a deserializer is
//! named (`--property key.deserializer=CLASS`, `--key-deserializer CLASS`),
//! with Kafka's class names: a Streams application writing `Long` counts is
//! read with `LongDeserializer`. A record a deserializer cannot read (a
//! 3-byte payload for `LongDeserializer`) stops the consumer with exit code 1,
//! or is skipped with `--skip-message-on-error`, as in Kafka.

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
        .arg(kv_arg("property", "Formatter properties: print.key, print.value, print.timestamp, print.partition, print.offset, print.headers, key.separator, line.separator, headers.separator, null.literal, key.deserializer, value.deserializer"))
        .arg(Arg::new("formatter").long("formatter").value_name("CLASS").default_value("kafka.tools.DefaultMessageFormatter").help("The record formatter (only the default one)"))
        .arg(kv_arg("consumer-property", "A consumer config, e.g. --consumer-property fetch.max.wait.ms=100"))
        .arg(common::config_file_arg("consumer.config", "Consumer configs in a properties file"))
        .arg(Arg::new("isolation-level").long("isolation-level").value_name("LEVEL").value_parser(["read_uncommitted", "read_committed"]).help("read_uncommitted (default) or read_committed"))
        .arg(Arg::new("group").long("group").value_name("GROUP").help("Join this consumer group: partitions are shared with its other members and offsets are committed"))
        .arg(Arg::new("key-deserializer").long("key-deserializer").value_name("CLASS").help("How keys are printed, e.g. org.apache.kafka.common.serialization.LongDeserializer (same as --property key.deserializer=CLASS)"))
        .arg(Arg::new("value-deserializer").long("value-deserializer").value_name("CLASS").help("How values are printed, e.g. org.apache.kafka.common.serialization.LongDeserializer (same as --property value.deserializer=CLASS)"))
        .arg(Arg::new("skip-message-on-error").long("skip-message-on-error").action(ArgAction::SetTrue).help("Skip a record that cannot be deserialized (with an error on stderr) instead of stopping"));
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
    pub key_deserializer: Deserializer,
    pub value_deserializer: Deserializer,
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
            key_deserializer: deserializer_prop(props, "key.deserializer")?,
            value_deserializer: deserializer_prop(props, "value.deserializer")?,
        })
    }

    /// Appends one record's text to `out`. A key or value its deserializer
    /// cannot read leaves `out` as it was.
    pub fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) -> Result<(), DeserializeError> {
        let start = out.len();
        let written = self.write_fields(r, out);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    fn write_fields(&self, r: &ConsumerRecord, out: &mut Vec<u8>) -> Result<(), DeserializeError> {
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
                Some(k) => self.key_deserializer.write(k, out)?,
                None => out.extend_from_slice(self.null_literal.as_bytes()),
            }
            sep(out, &mut remaining);
        }
        if self.print_value {
            match &r.value {
                Some(v) => self.value_deserializer.write(v, out)?,
                None => out.extend_from_slice(self.null_literal.as_bytes()),
            }
        }
        out.extend_from_slice(self.line_separator.as_bytes());
        Ok(())
    }
}

/// The deserializer named by a formatter property, raw bytes when absent.
fn deserializer_prop(props: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Deserializer> {
    match props.get(key) {
        None => Ok(Deserializer::Raw),
        Some(class) => Ok(Deserializer::from_class(class.trim())?),
    }
}

/// How a key or value is turned into text: Kafka's deserializers, by class
/// name, whose `toString` the DefaultMessageFormatter prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deserializer {
    /// No deserializer: the bytes as they are (Kafka's formatter default).
    Raw,
    /// `StringDeserializer`: UTF-8, invalid sequences replaced as Java's decoder does.
    String,
    /// `LongDeserializer`: 8 bytes, big-endian two's complement.
    Long,
    /// `IntegerDeserializer`: 4 bytes, big-endian.
    Integer,
    /// `ShortDeserializer`: 2 bytes, big-endian.
    Short,
    /// `DoubleDeserializer`: 8 bytes, big-endian IEEE 754.
    Double,
    /// `FloatDeserializer`: 4 bytes, big-endian IEEE 754.
    Float,
    /// `ByteArrayDeserializer`, `BytesDeserializer`, `ByteBufferDeserializer`: the bytes as they are.
    Bytes,
    /// `UUIDDeserializer`: a UUID in its text form, printed canonically.
    Uuid,
    /// `VoidDeserializer`: only null is valid.
    Void,
}

/// The deserializer class names accepted, for the usage error.
const DESERIALIZER_CLASSES: &[(&str, Deserializer)] = &[
    ("StringDeserializer", Deserializer::String),
    ("LongDeserializer", Deserializer::Long),
    ("IntegerDeserializer", Deserializer::Integer),
    ("ShortDeserializer", Deserializer::Short),
    ("DoubleDeserializer", Deserializer::Double),
    ("FloatDeserializer", Deserializer::Float),
    ("ByteArrayDeserializer", Deserializer::Bytes),
    ("BytesDeserializer", Deserializer::Bytes),
    ("ByteBufferDeserializer", Deserializer::Bytes),
    ("UUIDDeserializer", Deserializer::Uuid),
    ("VoidDeserializer", Deserializer::Void),
];

const SERIALIZATION_PACKAGE: &str = "org.apache.kafka.common.serialization.";

/// A deserializer class this tool does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "Unknown deserializer class {class}: supported are {} (in package {SERIALIZATION_PACKAGE})",
    DESERIALIZER_CLASSES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownDeserializer {
    pub class: String,
}

/// A key or value its deserializer cannot read; the text is Kafka's
/// exception and message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeserializeError {
    #[error("org.apache.kafka.common.errors.SerializationException: Size of data received by {class} is not {expected} (got {got} bytes)")]
    Size { class: &'static str, expected: usize, got: usize },
    #[error("org.apache.kafka.common.errors.SerializationException: Error parsing data into UUID")]
    Uuid,
    #[error("java.lang.IllegalArgumentException: Data should be null for a VoidDeserializer.")]
    NotNull,
}

impl Deserializer {
    /// The deserializer of a Kafka class name (fully qualified, or the bare
    /// class name as a shorthand).
    pub fn from_class(class: &str) -> Result<Deserializer, UnknownDeserializer> {
        let short = class.strip_prefix(SERIALIZATION_PACKAGE).unwrap_or(class);
        DESERIALIZER_CLASSES
            .iter()
            .find(|(name, _)| *name == short)
            .map(|(_, d)| *d)
            .ok_or_else(|| UnknownDeserializer { class: class.to_string() })
    }

    /// Appends the text of non-null `data` to `out`.
    pub fn write(self, data: &[u8], out: &mut Vec<u8>) -> Result<(), DeserializeError> {
        fn fixed<const N: usize>(class: &'static str, data: &[u8]) -> Result<[u8; N], DeserializeError> {
            data.try_into().map_err(|_| DeserializeError::Size { class, expected: N, got: data.len() })
        }
        match self {
            Deserializer::Raw | Deserializer::Bytes => out.extend_from_slice(data),
            Deserializer::String => out.extend_from_slice(String::from_utf8_lossy(data).as_bytes()),
            Deserializer::Long => {
                out.extend_from_slice(i64::from_be_bytes(fixed("LongDeserializer", data)?).to_string().as_bytes())
            }
            Deserializer::Integer => {
                out.extend_from_slice(i32::from_be_bytes(fixed("IntegerDeserializer", data)?).to_string().as_bytes())
            }
            Deserializer::Short => {
                out.extend_from_slice(i16::from_be_bytes(fixed("ShortDeserializer", data)?).to_string().as_bytes())
            }
            Deserializer::Double => {
                let v = f64::from_be_bytes(fixed("DoubleDeserializer", data)?);
                out.extend_from_slice(java_float_text(v.is_nan(), v.is_infinite(), v < 0.0, v.abs(), v).as_bytes())
            }
            Deserializer::Float => {
                let v = f32::from_be_bytes(fixed("FloatDeserializer", data)?);
                let wide = f64::from(v.abs());
                out.extend_from_slice(java_float_text(v.is_nan(), v.is_infinite(), v < 0.0, wide, v).as_bytes())
            }
            Deserializer::Uuid => {
                let text = std::str::from_utf8(data).map_err(|_| DeserializeError::Uuid)?;
                let id = uuid::Uuid::parse_str(text.trim()).map_err(|_| DeserializeError::Uuid)?;
                out.extend_from_slice(id.hyphenated().to_string().as_bytes())
            }
            Deserializer::Void => return Err(DeserializeError::NotNull),
        }
        Ok(())
    }
}

/// A float as Java's `Double.toString` / `Float.toString` writes it: the
/// shortest digits that read back to the same value (which Rust's `Display`
/// also gives), always with a fraction (`3.0`), and in `1.0E10` form outside
/// [10^-3, 10^7).
fn java_float_text(
    nan: bool,
    infinite: bool,
    negative: bool,
    magnitude: f64,
    v: impl std::fmt::Display + std::fmt::LowerExp,
) -> String {
    if nan {
        return "NaN".to_string();
    }
    if infinite {
        return if negative { "-Infinity" } else { "Infinity" }.to_string();
    }
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = v.to_string();
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{v:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exponent}")
        } else {
            format!("{mantissa}.0E{exponent}")
        }
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
    let mut props = common::kv_values(m, "property")?;
    // As Kafka: the flags win over the formatter properties.
    for (flag, key) in [("key-deserializer", "key.deserializer"), ("value-deserializer", "value.deserializer")] {
        if let Some(class) = m.get_one::<String>(flag) {
            props.insert(key.to_string(), class.clone());
        }
    }
    let formatter = match Formatter::from_props(&props) {
        Ok(f) => f,
        // A class name the tool does not know is a usage error, as a bad flag is.
        Err(e) if e.downcast_ref::<UnknownDeserializer>().is_some() => {
            eprintln!("Error: {}", common::error_line(&e));
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
        Err(e) => return Err(e),
    };
    let skip_on_error = m.get_flag("skip-message-on-error");
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
        Limits { max_messages, idle_timeout, skip_on_error, interrupted: Arc::new(Notify::new()) },
        &formatter,
        &mut count,
    ));
    eprintln!("Processed a total of {count} messages");
    match result {
        Ok(Stop::Done) => Ok(ExitCode::SUCCESS),
        Ok(Stop::Interrupted) => Ok(ExitCode::from(super::EXIT_INTERRUPTED)),
        Ok(Stop::Failed) => Ok(ExitCode::from(super::EXIT_FAILURE)),
        Err(e) => Err(e),
    }
}

enum Stop {
    Done,
    Interrupted,
    /// A record could not be printed; the error is already on stderr.
    Failed,
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    cfg: ConsumerConfig,
    topic: &str,
    pattern: Option<&str>,
    partition: Option<i32>,
    start: SeekTo,
    limits: Limits,
    formatter: &Formatter,
    count: &mut u64,
) -> anyhow::Result<Stop> {
    // One Ctrl-C listener for the whole run: a fresh `ctrl_c()` per poll
    // would miss a signal arriving while records are being printed.
    let listener = {
        let interrupted = limits.interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.notify_one();
            }
        })
    };
    let subscribe = cfg.group_id.is_some() && partition.is_none();
    let mut consumer = Consumer::new(cfg).await.context("cannot start the consumer")?;
    let limits = &limits;
    let result = if let Some(pattern) = pattern {
        match consumer.subscribe_pattern(pattern).await {
            Ok(()) => print_records(&mut consumer, limits, formatter, count).await,
            Err(e) => Err(e.into()),
        }
    } else if subscribe {
        match consumer.subscribe(vec![topic.to_string()]).await {
            Ok(()) => print_records(&mut consumer, limits, formatter, count).await,
            Err(e) => Err(e.into()),
        }
    } else {
        consume_assigned(&mut consumer, topic, partition, start, limits, formatter, count).await
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
struct Limits {
    max_messages: Option<u64>,
    idle_timeout: Option<Duration>,
    /// `--skip-message-on-error`: a record that cannot be printed is skipped
    /// instead of stopping the consumer.
    skip_on_error: bool,
    interrupted: Arc<Notify>,
}

/// Reads with manually assigned partitions (without a group, or with --partition).
async fn consume_assigned(
    consumer: &mut Consumer,
    topic: &str,
    partition: Option<i32>,
    start: SeekTo,
    limits: &Limits,
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
    limits: &Limits,
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
        let mut failed = false;
        for r in &records {
            if failed || max_messages.is_some_and(|n| *count >= n) {
                unprinted.entry((r.topic.clone(), r.partition)).or_insert(r.offset);
                continue;
            }
            // As Kafka: a record counts as processed even when it cannot be printed.
            *count += 1;
            if let Err(e) = formatter.write(r, &mut buf) {
                if limits.skip_on_error {
                    flush(&stdout, &buf)?;
                    buf.clear();
                    eprintln!("ERROR Error processing message, skipping this message: {e}");
                } else {
                    // Not consumed: the commit at close must not pass it.
                    unprinted.entry((r.topic.clone(), r.partition)).or_insert(r.offset);
                    failed = true;
                    flush(&stdout, &buf)?;
                    buf.clear();
                    eprintln!("ERROR Error processing message, terminating consumer process: {e}");
                }
            }
        }
        // Stopping inside a batch: what was not printed is not consumed, so
        // the commit at close must not pass it.
        for ((t, p), offset) in unprinted {
            consumer.seek(&t, p, SeekTo::Offset(offset)).await?;
        }
        if !flush(&stdout, &buf)? {
            return Ok(Stop::Done);
        }
        if failed {
            return Ok(Stop::Failed);
        }
    }
}

/// Writes `buf` to stdout; `false` when the reader has gone (a broken pipe
/// ends the run quietly).
fn flush(stdout: &std::io::Stdout, buf: &[u8]) -> anyhow::Result<bool> {
    let mut out = stdout.lock();
    match out.write_all(buf).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn poll_error(e: ClientError) -> anyhow::Error {
    anyhow::Error::new(e).context("consuming failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(d: Deserializer, data: &[u8]) -> Result<String, DeserializeError> {
        let mut out = Vec::new();
        d.write(data, &mut out)?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn kafka_class_names_choose_the_deserializer() {
        let long = Deserializer::from_class("org.apache.kafka.common.serialization.LongDeserializer");
        assert_eq!(long.ok(), Some(Deserializer::Long));
        assert_eq!(Deserializer::from_class("IntegerDeserializer").ok(), Some(Deserializer::Integer));
        let err = Deserializer::from_class("com.example.AvroDeserializer").expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.contains("com.example.AvroDeserializer") && msg.contains("LongDeserializer"), "{msg}");
    }

    #[test]
    fn numbers_are_big_endian_and_printed_in_decimal() {
        assert_eq!(text(Deserializer::Long, &3i64.to_be_bytes()).ok().as_deref(), Some("3"));
        assert_eq!(text(Deserializer::Long, &(-7i64).to_be_bytes()).ok().as_deref(), Some("-7"));
        assert_eq!(text(Deserializer::Integer, &65_536i32.to_be_bytes()).ok().as_deref(), Some("65536"));
        assert_eq!(text(Deserializer::Short, &(-2i16).to_be_bytes()).ok().as_deref(), Some("-2"));
        assert_eq!(text(Deserializer::Double, &2.5f64.to_be_bytes()).ok().as_deref(), Some("2.5"));
        assert_eq!(text(Deserializer::Double, &3.0f64.to_be_bytes()).ok().as_deref(), Some("3.0"));
        assert_eq!(text(Deserializer::Double, &1e10f64.to_be_bytes()).ok().as_deref(), Some("1.0E10"));
        assert_eq!(text(Deserializer::Double, &1.5e-5f64.to_be_bytes()).ok().as_deref(), Some("1.5E-5"));
        assert_eq!(text(Deserializer::Double, &f64::NAN.to_be_bytes()).ok().as_deref(), Some("NaN"));
        assert_eq!(text(Deserializer::Float, &0.1f32.to_be_bytes()).ok().as_deref(), Some("0.1"));
        assert_eq!(text(Deserializer::Float, &f32::NEG_INFINITY.to_be_bytes()).ok().as_deref(), Some("-Infinity"));
    }

    #[test]
    fn wrong_sizes_are_errors_naming_the_size() {
        let err = text(Deserializer::Long, b"abc").expect_err("3 bytes");
        assert!(err.to_string().contains("Size of data received by LongDeserializer is not 8"), "{err}");
        assert!(text(Deserializer::Integer, &[0; 8]).is_err());
        assert!(text(Deserializer::Short, &[]).is_err());
        assert!(text(Deserializer::Float, &[0; 3]).is_err());
    }

    #[test]
    fn text_kinds() {
        let mut raw = Vec::new();
        Deserializer::Raw.write(b"\xffa", &mut raw).expect("raw");
        assert_eq!(raw, b"\xffa");
        assert_eq!(text(Deserializer::String, b"\xffa").ok().as_deref(), Some("\u{fffd}a"));
        let id = "123E4567-E89B-12D3-A456-426614174000";
        assert_eq!(
            text(Deserializer::Uuid, id.as_bytes()).ok().as_deref(),
            Some("123e4567-e89b-12d3-a456-426614174000")
        );
        assert!(text(Deserializer::Uuid, b"not a uuid").is_err());
        assert!(text(Deserializer::Void, b"x").is_err());
    }

    #[test]
    fn a_failed_record_leaves_the_output_as_it_was() {
        let mut props = BTreeMap::new();
        props.insert("print.key".to_string(), "true".to_string());
        props.insert("value.deserializer".to_string(), "LongDeserializer".to_string());
        let f = Formatter::from_props(&props).expect("formatter");
        let record = |value: &[u8]| ConsumerRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: Some(bytes::Bytes::from_static(b"kafka")),
            value: Some(bytes::Bytes::copy_from_slice(value)),
            headers: Vec::new(),
        };
        let mut out = b"before\n".to_vec();
        assert!(f.write(&record(b"xy"), &mut out).is_err());
        assert_eq!(out, b"before\n");
        f.write(&record(&3i64.to_be_bytes()), &mut out).expect("8 bytes");
        assert_eq!(out, b"before\nkafka\t3\n");
    }
}
