//! Kafka Connect: connectors that move data between Kafka topics and other
//! systems, in Kafka Connect's model and with its names.
//!
//! - [`data`]: Connect's schema'd values ([`Schema`], [`Data`]).
//! - [`converter`]: bytes ⇄ Connect data — `StringConverter`,
//!   `ByteArrayConverter`, `JsonConverter` (with `schemas.enable`, Kafka's
//!   `{"schema":…,"payload":…}` envelope) — chosen by Kafka's class names.
//! - [`api`]: what a connector is (source and sink connectors and tasks,
//!   their records) and the built-in plugins by class name.
//! - [`file`]: `FileStreamSource` / `FileStreamSink`, the quickstart's pair.
//! - [`transforms`]: single message transforms (`transforms=...`):
//!   InsertField, ReplaceField, ExtractField, ValueToKey, RegexRouter,
//!   TimestampRouter.
//! - [`errors`]: `errors.tolerance`, error logging and the dead letter
//!   queue for records a task cannot convert or transform.
//! - [`sql`]: the JDBC-style SQL table source and sink (SQLite, PostgreSQL)
//!   and PostgreSQL change capture (Debezium's `PostgresConnector`).
//! - [`worker`]: the source and sink task loops and the [`worker::Worker`]
//!   that starts, stops and reports on tasks, for both modes; source
//!   offsets go to an [`worker::OffsetStore`].
//! - [`herder`]: what the REST API asks of a Connect cluster (the
//!   [`herder::Herder`] trait) and its JSON shapes.
//! - [`rest`]: Kafka Connect's REST API (`listeners`, default
//!   `http://127.0.0.1:8083`) over HTTP/1.1, serving any herder.
//! - [`standalone`]: the standalone worker (`connect-standalone`): one
//!   process runs the connectors given on its command line, source offsets
//!   kept in `offset.storage.file.filename`, sink offsets in the consumer
//!   group `connect-<name>`.
//! - [`distributed`]: the distributed worker (`connect-distributed`):
//!   workers in a group share connectors and tasks; configs, source
//!   offsets and states live in compacted topics.
//!
//! Connect builds on [`crate::client`] only.

pub mod api;
pub mod converter;
pub mod data;
pub mod distributed;
pub mod errors;
pub mod file;
pub mod herder;
pub mod rest;
pub mod sql;
pub mod standalone;
pub mod transforms;
pub mod worker;

use std::collections::BTreeMap;

pub use api::{SinkRecord, SinkTask, SourceRecord, SourceTask};
pub use converter::Converter;
pub use data::{Data, Schema, SchemaType};

/// A connector's or worker's configuration: Java properties.
pub type Config = BTreeMap<String, String>;

/// What can go wrong in Connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A bad or missing config key; the message names it.
    #[error("{0}")]
    Config(String),
    /// Bytes a converter cannot read, or data it cannot write.
    #[error("converter: {0}")]
    Converter(String),
    /// A single message transform refused a record.
    #[error("transform: {0}")]
    Transform(String),
    /// A connector task failed.
    #[error("task: {0}")]
    Task(String),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl ConnectError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        ConnectError::Io { path: path.to_string(), source }
    }
}

pub type Result<T, E = ConnectError> = std::result::Result<T, E>;
