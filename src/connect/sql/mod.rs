//! SQL connectors: a JDBC-style table source and sink for SQLite and
//! PostgreSQL, and change data capture from PostgreSQL through logical
//! replication, under the class names Kafka users know
//! (`io.confluent.connect.jdbc.JdbcSourceConnector`,
//! `io.confluent.connect.jdbc.JdbcSinkConnector`,
//! `io.debezium.connector.postgresql.PostgresConnector`) and with those
//! connectors' config keys.
//!
//! - [`url`]: `connection.url` parsing (`jdbc:sqlite:…`, `jdbc:postgresql://…`).
//! - [`pg`]: a blocking PostgreSQL connection over tokio-postgres.
//! - [`source`]: the polling table source (`bulk`, `incrementing`,
//!   `timestamp`, `timestamp+incrementing`).
//! - [`sink`]: the table sink (`insert`, `upsert`, `update`; `pk.mode`,
//!   `auto.create`, `auto.evolve`, `delete.enabled`).
//! - [`pgoutput`]: a decoder for PostgreSQL's `pgoutput` logical replication
//!   messages.
//! - [`cdc`]: the Debezium-style PostgreSQL change capture connector.
//!
//! SQLite is embedded (rusqlite, bundled) and PostgreSQL is spoken natively
//! (tokio-postgres), so neither needs a system client library.

pub mod cdc;
pub mod pg;
pub mod pgoutput;
pub mod sink;
pub mod source;
pub mod url;

use std::time::Duration;

use super::data::{Schema, SchemaType};
use super::{Config, ConnectError, Result};
use url::DbUrl;

/// Kafka's `Timestamp` logical type: INT64 milliseconds since the epoch.
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
/// Kafka's `Date` logical type: INT32 days since the epoch.
pub const DATE: &str = "org.apache.kafka.connect.data.Date";

/// An open database for the JDBC-style connectors.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(pg::PgConn),
}

/// Opens `connection.url` with `connection.user` / `connection.password`.
pub fn open(config: &Config) -> Result<Db> {
    let url = super::api::required(config, "connection.url")?;
    match url::parse(url)? {
        DbUrl::Sqlite(path) => {
            let conn = rusqlite::Connection::open(&path)
                .map_err(|e| ConnectError::Task(format!("opening SQLite database {}: {e}", path.display())))?;
            // Other processes write the same file: wait for their locks rather than fail.
            conn.busy_timeout(Duration::from_secs(30))
                .map_err(|e| ConnectError::Task(format!("SQLite {}: {e}", path.display())))?;
            Ok(Db::Sqlite(conn))
        }
        DbUrl::Postgres(target) => {
            let user = config.get("connection.user").map(String::as_str).filter(|u| !u.is_empty());
            let password = config.get("connection.password").map(String::as_str);
            Ok(Db::Postgres(pg::PgConn::connect(&target, user, password)?))
        }
    }
}

/// An SQLite failure as a task error.
pub fn sqlite_error(doing: &str, e: rusqlite::Error) -> ConnectError {
    ConnectError::Task(format!("{doing}: {e}"))
}

/// The Connect types a SQL column can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    /// Kafka's Timestamp (milliseconds); read as microseconds.
    Timestamp,
    /// Kafka's Date (days).
    Date,
}

impl ColKind {
    /// The Connect schema of a column of this kind.
    pub fn schema(self, optional: bool) -> Schema {
        let (kind, name) = match self {
            ColKind::Bool => (SchemaType::Boolean, None),
            ColKind::I16 => (SchemaType::Int16, None),
            ColKind::I32 => (SchemaType::Int32, None),
            ColKind::I64 => (SchemaType::Int64, None),
            ColKind::F32 => (SchemaType::Float32, None),
            ColKind::F64 => (SchemaType::Float64, None),
            ColKind::Text => (SchemaType::String, None),
            ColKind::Bytes => (SchemaType::Bytes, None),
            ColKind::Timestamp => (SchemaType::Int64, Some(TIMESTAMP)),
            ColKind::Date => (SchemaType::Int32, Some(DATE)),
        };
        let mut s = Schema::of(kind, optional);
        if let Some(n) = name {
            s.name = Some(n.to_string());
            s.version = Some(1);
        }
        s
    }

    /// SQLite's type affinity rules applied to a declared type.
    pub fn of_sqlite_decl(decl: Option<&str>) -> ColKind {
        let d = decl.unwrap_or("").to_ascii_uppercase();
        if d.contains("BOOL") {
            ColKind::Bool
        } else if d.contains("TIMESTAMP") || d.contains("DATETIME") {
            ColKind::Timestamp
        } else if d.contains("INT") {
            ColKind::I64
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            ColKind::Text
        } else if d.contains("BLOB") {
            ColKind::Bytes
        } else if ["REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"].iter().any(|t| d.contains(t)) {
            ColKind::F64
        } else {
            // No declared type (an expression) or an unknown one: its text.
            ColKind::Text
        }
    }

    /// The kind a PostgreSQL type is read as; types without a native
    /// mapping are read as their text.
    pub fn of_pg(ty: &tokio_postgres::types::Type) -> ColKind {
        use tokio_postgres::types::Type;
        match *ty {
            Type::BOOL => ColKind::Bool,
            Type::INT2 => ColKind::I16,
            Type::INT4 => ColKind::I32,
            Type::INT8 | Type::OID => ColKind::I64,
            Type::FLOAT4 => ColKind::F32,
            Type::FLOAT8 => ColKind::F64,
            Type::BYTEA => ColKind::Bytes,
            Type::TIMESTAMP | Type::TIMESTAMPTZ => ColKind::Timestamp,
            Type::DATE => ColKind::Date,
            _ => ColKind::Text,
        }
    }
}

/// A comma-separated list config value, entries trimmed, empty ones dropped.
pub fn list(config: &Config, key: &str) -> Vec<String> {
    config
        .get(key)
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// A boolean config value with a default; anything but true/false is an error naming the key.
pub fn boolean(config: &Config, key: &str, default: bool) -> Result<bool> {
    match config.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: Expected value to be either true or false"
        ))),
    }
}

/// One of `allowed` (case-insensitive), or an error naming the key.
pub fn choice(config: &Config, key: &str, default: &str, allowed: &[&str]) -> Result<String> {
    let v = config.get(key).map(|v| v.trim().to_ascii_lowercase()).unwrap_or_else(|| default.to_string());
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: String must be one of: {}",
            allowed.join(", ")
        )))
    }
}

/// An integer config value with a default and a lower bound.
pub fn int_at_least(config: &Config, key: &str, default: i64, min: i64) -> Result<i64> {
    let v = super::api::int(config, key, default)?;
    if v < min {
        return Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: Value must be at least {min}"
        )));
    }
    Ok(v)
}
