//! What a connector is, in Kafka Connect's terms: a connector validates its
//! config and splits the work into task configs; a source task polls
//! records that carry a source partition and offset; a sink task receives
//! batches of records and flushes before the worker commits their offsets.
//! The built-in plugins are found by Kafka's class names (or their simple
//! names, or the short aliases Kafka accepts, e.g. `FileStreamSource`).

use serde_json::{Map, Value};

use super::data::{Data, Schema};
use super::{file, sql, Config, ConnectError, Result};

/// Where a source record comes from (Kafka's `sourcePartition`) and how far
/// along it is (`sourceOffset`): JSON objects, as Kafka keeps them.
pub type SourceMap = Map<String, Value>;

/// A record a source task produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub source_partition: SourceMap,
    pub source_offset: SourceMap,
    pub topic: String,
    pub partition: Option<i32>,
    pub key_schema: Option<Schema>,
    pub key: Data,
    pub value_schema: Option<Schema>,
    pub value: Data,
    pub timestamp: Option<i64>,
}

/// A record a sink task receives.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key_schema: Option<Schema>,
    pub key: Data,
    pub value_schema: Option<Schema>,
    pub value: Data,
}

/// Source offsets stored so far, for a task that starts again.
pub trait OffsetReader {
    fn offset(&self, partition: &SourceMap) -> Option<SourceMap>;
}

/// A source connector: checks its config and makes task configs.
pub trait SourceConnector: Send {
    /// Validates and keeps the config; a bad key is an error naming it.
    fn start(&mut self, config: &Config) -> Result<()>;
    /// At most `max_tasks` task configs.
    fn task_configs(&self, max_tasks: usize) -> Vec<Config>;
    fn task(&self) -> Box<dyn SourceTask>;
}

/// A source task: reads the outside system.
pub trait SourceTask: Send {
    fn start(&mut self, config: &Config, offsets: &dyn OffsetReader) -> Result<()>;
    /// New records, or none yet (the worker waits a little and asks again).
    fn poll(&mut self) -> Result<Vec<SourceRecord>>;
    /// Called after every record returned by earlier polls was acknowledged
    /// by the broker and its source offset stored: a source that keeps its
    /// own position (a replication slot) may move it now, never earlier.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
    fn stop(&mut self) {}
}

/// A sink connector: checks its config and makes task configs.
pub trait SinkConnector: Send {
    fn start(&mut self, config: &Config) -> Result<()>;
    fn task_configs(&self, max_tasks: usize) -> Vec<Config>;
    fn task(&self) -> Box<dyn SinkTask>;
}

/// A sink task: writes records to the outside system.
pub trait SinkTask: Send {
    fn start(&mut self, config: &Config) -> Result<()>;
    fn put(&mut self, records: Vec<SinkRecord>) -> Result<()>;
    /// Makes everything put so far durable; offsets are committed after it.
    fn flush(&mut self) -> Result<()>;
    fn stop(&mut self) {}
}

/// Whether a connector reads into Kafka or writes out of it (Kafka's REST
/// `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    Source,
    Sink,
}

/// A connector plugin.
pub enum Plugin {
    Source(Box<dyn SourceConnector>),
    Sink(Box<dyn SinkConnector>),
}

/// The plugins this build has: (class name, kind, version).
pub fn plugins() -> Vec<(&'static str, &'static str)> {
    vec![
        ("org.apache.kafka.connect.file.FileStreamSinkConnector", "sink"),
        ("org.apache.kafka.connect.file.FileStreamSourceConnector", "source"),
        ("io.confluent.connect.jdbc.JdbcSinkConnector", "sink"),
        ("io.confluent.connect.jdbc.JdbcSourceConnector", "source"),
        ("io.debezium.connector.postgresql.PostgresConnector", "source"),
    ]
}

/// The connector for `connector.class`: full class name, simple name, or
/// the simple name without `Connector`.
pub fn plugin(class: &str) -> Result<Plugin> {
    let simple = class.trim().rsplit('.').next().unwrap_or(class);
    let simple = simple.strip_suffix("Connector").unwrap_or(simple);
    match simple {
        "FileStreamSource" => Ok(Plugin::Source(Box::new(file::FileStreamSourceConnector::default()))),
        "FileStreamSink" => Ok(Plugin::Sink(Box::new(file::FileStreamSinkConnector::default()))),
        "JdbcSource" => Ok(Plugin::Source(Box::new(sql::source::JdbcSourceConnector::default()))),
        "JdbcSink" => Ok(Plugin::Sink(Box::new(sql::sink::JdbcSinkConnector::default()))),
        "Postgres" => Ok(Plugin::Source(Box::new(sql::cdc::PostgresConnector::default()))),
        _ => Err(ConnectError::Config(format!(
            "Failed to find any class that implements Connector and which name matches {class}, available connectors \
             are: {}",
            plugins().iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A required config value.
pub(crate) fn required<'a>(config: &'a Config, key: &str) -> Result<&'a str> {
    config.get(key).map(String::as_str).ok_or_else(|| {
        ConnectError::Config(format!("Missing required configuration \"{key}\" which has no default value."))
    })
}

/// An integer config value with a default.
pub(crate) fn int(config: &Config, key: &str, default: i64) -> Result<i64> {
    match config.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            ConnectError::Config(format!("Invalid value {v} for configuration {key}: Not a number of type INT"))
        }),
    }
}
