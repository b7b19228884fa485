//! Application logs into a Kafka topic, as Kafka's `KafkaLog4jAppender` does
//! for log4j (scenario 3 of the quickstart): a log4rs appender of kind
//! `kafka` ([`KafkaAppender`]) and a tracing layer ([`KafkaLayer`]), both on
//! our own producer ([`crate::client::Producer`]).
//!
//! It owns the formatting of log events into lines and their delivery: one
//! background thread per appender with a private tokio runtime
//! (`sink`), so it works in plain programs and inside an application's own
//! runtime alike. It builds on [`crate::client`] only.
//!
//! # A log4rs file in the role of log4j.properties
//! ```yaml
//! appenders:
//!   kafka:
//!     kind: kafka
//!     topic: my-replicated-topic
//!     brokerList: localhost:9092,localhost:9093,localhost:9094
//!     compressionType: none
//!     syncSend: true
//!     encoder:
//!       pattern: "{d(%Y-%m-%d %H:%M:%S,%3f)} [{l:<5}] [{T}] - [{M}(({f}:{L}))] {m}{n}"
//! root:
//!   level: info
//!   appenders: [kafka]
//! ```
//! loaded with [`init_file`] (strict: a bad option is an error naming it), or
//! with log4rs's own `init_file` given [`deserializers`].
//!
//! # Options
//! `topic` (required), `brokerList` (or `bootstrap.servers`, required),
//! `compressionType` (none, gzip, snappy, lz4, zstd), `syncSend` (false),
//! `requiredNumAcks` (1; 0, 1 or -1), `maxBlockMs` (60000), `ignoreExceptions`
//! (true), `retries`, `deliveryTimeoutMs` (120000), `lingerMs` (0),
//! `batchSize` (16384), `key` (`logger`, `none` or a fixed string; default
//! `logger`, so one logger's lines stay in order in one partition),
//! `queueSize` (10000 lines), `properties` (any other producer property,
//! applied last) and `encoder` (log4rs; default [`DEFAULT_PATTERN`]).
//!
//! # Semantics
//! - With `syncSend: true` a log call returns once the broker acknowledged
//!   the line, or it failed, or `maxBlockMs` passed.
//! - Otherwise the line is queued (at most `queueSize`; a full queue drops
//!   the line at once instead of blocking) and the background thread sends
//!   the queue in batches.
//! - A line that cannot be delivered is counted ([`stats`],
//!   [`KafkaAppender::dropped`], [`AppenderHandle::dropped`]) and reported on
//!   stderr, at most every 10 s:
//!   `gregor appender: N log lines could not be delivered to topic T: <reason>`.
//!   With `ignoreExceptions: false` log4rs's `append` also returns the error.
//! - Nothing recurses: events emitted on the appender's own threads (our
//!   client's `tracing` events), events of `gregor::client` targets, and
//!   events raised while a thread is inside the appender are not appended.
//! - `flush` (log4rs's `log::logger().flush()`, [`AppenderHandle::flush`])
//!   and dropping the appender wait at most `maxBlockMs` for delivery.
//! - One trailing line break of a formatted line is removed: the record is
//!   the line; consumers print their own.
//! - Lines of one partition are written in the order they were logged; with
//!   `requiredNumAcks: 1` (no idempotence) a retried batch may land after a
//!   later one, so use `requiredNumAcks: -1` when order must survive retries.

mod append;
mod layer;
mod settings;
mod sink;

use std::path::Path;

use log4rs::append::Append;
use log4rs::config::{Deserializers, RawConfig};
use log4rs::filter::Filter;

pub use append::{KafkaAppender, KafkaAppenderDeserializer};
pub use layer::{AppenderHandle, KafkaLayer, KafkaLayerBuilder};
pub use settings::{AppenderConfig, KeyChoice, RawAppenderConfig};
pub use sink::{AppenderStats, SendError};

/// The log4rs pattern closest to the quickstart's log4j layout
/// `%d [%-5p] [%t] - [%l] %m%n`: log4j's ISO8601 date with milliseconds, the
/// level padded to five, the thread name, the location as
/// `module(file:line)` (log4j's `%l` is `Class.method(File.java:line)`;
/// parentheses are doubled to be literal), the message and a newline.
pub const DEFAULT_PATTERN: &str = "{d(%Y-%m-%d %H:%M:%S,%3f)} [{l:<5}] [{T}] - [{M}(({f}:{L}))] {m}{n}";

/// Why an appender could not be built or a configuration not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppenderError {
    /// An option is missing or invalid; the message names it.
    #[error("invalid Kafka appender configuration: {0}")]
    Config(String),
    /// The background thread or its runtime could not start.
    #[error("{0}")]
    Io(String),
    /// A log4rs configuration file could not be read or is invalid.
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    /// A global logger is already installed.
    #[error("cannot install the log4rs logger: {0}")]
    AlreadyInitialized(String),
}

/// log4rs's standard kinds plus `kafka`.
pub fn deserializers() -> Deserializers {
    let mut d = Deserializers::default();
    d.insert("kafka", KafkaAppenderDeserializer);
    d
}

/// The counters of every live Kafka appender and layer of this process.
pub fn stats() -> Vec<AppenderStats> {
    sink::all_stats()
}

/// Reads a log4rs YAML file with the `kafka` kind registered. Unlike log4rs's
/// own loader, which prints a broken appender's error and goes on without
/// it, every error is returned, naming the appender and the option.
/// (`refresh_rate` is ignored: the file is read once.)
pub fn load_config(path: impl AsRef<Path>) -> Result<log4rs::Config, AppenderError> {
    let path = path.as_ref();
    let file_error = |reason: String| AppenderError::File { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let raw: RawConfig = serde_yaml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
    let deserializers = deserializers();
    let mut appenders = Vec::new();
    let mut errors = Vec::new();
    if let Some(map) = doc.get("appenders").and_then(serde_yaml::Value::as_mapping) {
        for (name, spec) in map {
            let name = name.as_str().map_or_else(|| format!("{name:?}"), str::to_string);
            match build_appender(&name, spec, &deserializers) {
                Ok(a) => appenders.push(a),
                Err(e) => errors.push(format!("appender '{name}': {e}")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(file_error(errors.join("; ")));
    }
    log4rs::Config::builder()
        .appenders(appenders)
        .loggers(raw.loggers())
        .build(raw.root())
        .map_err(|e| file_error(e.errors().iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
}

/// One `appenders:` entry: `kind`, optional `filters`, the rest is the kind's config.
fn build_appender(
    name: &str,
    spec: &serde_yaml::Value,
    deserializers: &Deserializers,
) -> Result<log4rs::config::Appender, String> {
    let (kind, config, filters) = split_kind(spec)?;
    let mut builder = log4rs::config::Appender::builder();
    for filter in filters {
        let (kind, config, _) = split_kind(&filter)?;
        let f = deserializers.deserialize::<dyn Filter>(&kind, config).map_err(|e| format!("filter: {e:#}"))?;
        builder = builder.filter(f);
    }
    let appender = deserializers.deserialize::<dyn Append>(&kind, config).map_err(|e| format!("{e:#}"))?;
    Ok(builder.build(name, appender))
}

type KindSplit = (String, serde_value::Value, Vec<serde_yaml::Value>);

fn split_kind(spec: &serde_yaml::Value) -> Result<KindSplit, String> {
    let mut map = spec.as_mapping().cloned().ok_or_else(|| "must be a map with a `kind`".to_string())?;
    let kind = match map.remove("kind") {
        Some(serde_yaml::Value::String(k)) => k,
        Some(_) => return Err("`kind` must be a string".to_string()),
        None => return Err("missing `kind` (e.g. kind: kafka)".to_string()),
    };
    let filters = match map.remove("filters") {
        Some(serde_yaml::Value::Sequence(f)) => f,
        Some(_) => return Err("`filters` must be a list".to_string()),
        None => Vec::new(),
    };
    let config = serde_value::to_value(serde_yaml::Value::Mapping(map)).map_err(|e| e.to_string())?;
    Ok((kind, config, filters))
}

/// Loads a log4rs YAML file ([`load_config`]) and installs it as the global
/// logger, as log4j reads log4j.properties at startup.
pub fn init_file(path: impl AsRef<Path>) -> Result<log4rs::Handle, AppenderError> {
    let config = load_config(path)?;
    log4rs::init_config(config).map_err(|e| AppenderError::AlreadyInitialized(e.to_string()))
}
