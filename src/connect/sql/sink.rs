//! The JDBC-style table sink (`io.confluent.connect.jdbc.JdbcSinkConnector`)
//! for SQLite and PostgreSQL, with the JDBC sink connector's keys:
//! `connection.url`, `connection.user`, `connection.password`,
//! `table.name.format` (`${topic}`), `insert.mode` (`insert` | `upsert` |
//! `update`), `pk.mode` (`none` | `kafka` | `record_key` | `record_value`),
//! `pk.fields`, `auto.create` (false), `auto.evolve` (false),
//! `delete.enabled` (false), `batch.size` (3000).
//!
//! Record values must be Structs with a schema (JsonConverter with
//! `schemas.enable=true`); anything else fails the task with an error naming
//! the record's topic, partition and offset. Each `put` writes inside one
//! open transaction and `flush` commits it, so the worker commits consumer
//! offsets only for rows that are durable. `auto.create` creates a missing
//! table from the value schema (primary key from `pk.mode`), `auto.evolve`
//! adds missing optional columns. With `delete.enabled` (which needs
//! `pk.mode=record_key`) a tombstone deletes the row with its key.
//! Timestamps (Kafka's Timestamp logical type) are written as
//! `YYYY-MM-DD HH:MM:SS.fff` UTC, dates as `YYYY-MM-DD`.

use std::collections::HashMap;

use super::pg::{quote_ident, quote_path, Text};
use super::{boolean, choice, int_at_least, list, open, sqlite_error, Db, DATE, TIMESTAMP};
use crate::connect::api::{required, SinkConnector, SinkRecord, SinkTask};
use crate::connect::data::{Data, Schema, SchemaType};
use crate::connect::{Config, ConnectError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InsertMode {
    Insert,
    Upsert,
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PkMode {
    None,
    Kafka,
    RecordKey,
    RecordValue,
}

#[derive(Debug, Clone)]
struct Settings {
    insert: InsertMode,
    pk_mode: PkMode,
    pk_fields: Vec<String>,
    table_format: String,
    auto_create: bool,
    auto_evolve: bool,
    delete_enabled: bool,
    batch_size: usize,
}

fn settings(config: &Config) -> Result<Settings> {
    super::url::parse(required(config, "connection.url")?)?;
    let insert = match choice(config, "insert.mode", "insert", &["insert", "upsert", "update"])?.as_str() {
        "upsert" => InsertMode::Upsert,
        "update" => InsertMode::Update,
        _ => InsertMode::Insert,
    };
    let pk_mode = match choice(config, "pk.mode", "none", &["none", "kafka", "record_key", "record_value"])?.as_str() {
        "kafka" => PkMode::Kafka,
        "record_key" => PkMode::RecordKey,
        "record_value" => PkMode::RecordValue,
        _ => PkMode::None,
    };
    let pk_fields = list(config, "pk.fields");
    if insert != InsertMode::Insert && pk_mode == PkMode::None {
        return Err(ConnectError::Config(format!(
            "Invalid value none for configuration pk.mode: insert.mode {} needs a primary key (kafka, record_key or \
             record_value)",
            if insert == InsertMode::Upsert { "upsert" } else { "update" }
        )));
    }
    if pk_mode == PkMode::Kafka && !pk_fields.is_empty() && pk_fields.len() != 3 {
        return Err(ConnectError::Config(
            "Invalid value for configuration pk.fields: with pk.mode=kafka it names exactly 3 columns (topic, \
             partition, offset)"
                .into(),
        ));
    }
    let delete_enabled = boolean(config, "delete.enabled", false)?;
    if delete_enabled && pk_mode != PkMode::RecordKey {
        return Err(ConnectError::Config(
            "Invalid value true for configuration delete.enabled: deletes need pk.mode=record_key".into(),
        ));
    }
    let table_format = config.get("table.name.format").cloned().unwrap_or_else(|| "${topic}".into());
    if table_format.trim().is_empty() {
        return Err(ConnectError::Config(
            "Invalid value for configuration table.name.format: must not be empty".into(),
        ));
    }
    Ok(Settings {
        insert,
        pk_mode,
        pk_fields,
        table_format,
        auto_create: boolean(config, "auto.create", false)?,
        auto_evolve: boolean(config, "auto.evolve", false)?,
        delete_enabled,
        batch_size: int_at_least(config, "batch.size", 3000, 1)? as usize,
    })
}

#[derive(Default)]
pub struct JdbcSinkConnector {
    config: Config,
}

impl SinkConnector for JdbcSinkConnector {
    fn start(&mut self, config: &Config) -> Result<()> {
        settings(config)?;
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone(); max_tasks.max(1)]
    }
    fn task(&self) -> Box<dyn SinkTask> {
        Box::new(JdbcSinkTask::default())
    }
}

/// A column a record writes: name, schema, value.
type Column = (String, Schema, Data);

#[derive(Default)]
pub struct JdbcSinkTask {
    settings: Option<Settings>,
    db: Option<Db>,
    in_txn: bool,
    /// Column names of the tables written so far.
    tables: HashMap<String, Vec<String>>,
    statements: HashMap<String, tokio_postgres::Statement>,
}

fn at(r: &SinkRecord) -> String {
    format!("topic {} partition {} offset {}", r.topic, r.partition, r.offset)
}

impl SinkTask for JdbcSinkTask {
    fn start(&mut self, config: &Config) -> Result<()> {
        self.settings = Some(settings(config)?);
        self.db = Some(open(config)?);
        Ok(())
    }

    fn put(&mut self, records: Vec<SinkRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let batch = self.settings.as_ref().map_or(3000, |s| s.batch_size);
        if !self.in_txn {
            self.exec_batch("BEGIN")?;
            self.in_txn = true;
        }
        for chunk in records.chunks(batch) {
            for r in chunk {
                if let Err(e) = self.write(r) {
                    self.rollback();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.in_txn {
            self.in_txn = false;
            self.exec_batch("COMMIT")?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        // What was not flushed was not committed to Kafka either: it comes again.
        self.rollback();
    }
}

impl JdbcSinkTask {
    fn exec_batch(&self, sql: &str) -> Result<()> {
        match &self.db {
            Some(Db::Sqlite(c)) => c.execute_batch(sql).map_err(|e| sqlite_error(sql, e)),
            Some(Db::Postgres(c)) => c.batch(sql),
            None => Err(ConnectError::Task("the JDBC sink task is not started".into())),
        }
    }

    fn rollback(&mut self) {
        if self.in_txn {
            self.in_txn = false;
            if let Err(e) = self.exec_batch("ROLLBACK") {
                tracing::warn!(error = %e, "rolling back the JDBC sink's transaction failed");
            }
        }
    }

    fn write(&mut self, r: &SinkRecord) -> Result<()> {
        let Some(s) = self.settings.clone() else { return Ok(()) };
        let table = s.table_format.replace("${topic}", &r.topic);
        if r.value.is_null() {
            if !s.delete_enabled {
                return Err(ConnectError::Task(format!(
                    "JdbcSink: the record at {} has a null value (a tombstone); set delete.enabled=true with \
                     pk.mode=record_key to delete rows",
                    at(r)
                )));
            }
            let key = key_columns(&s, r)?;
            if !self.tables.contains_key(&table) && self.columns_of(&table)?.is_empty() {
                // Nothing to delete from.
                return Ok(());
            }
            let wh: Vec<String> = key
                .iter()
                .enumerate()
                .map(|(i, (n, _, _))| format!("{} = {}", quote_ident(n), self.ph(i + 1)))
                .collect();
            let sql = format!("DELETE FROM {} WHERE {}", quote_path(&table), wh.join(" AND "));
            return self.run(&sql, &key, r);
        }
        let (pk, rest) = columns(&s, r)?;
        self.ensure_table(&s, &table, &pk, &rest, r)?;
        let names = |cols: &[Column]| cols.iter().map(|(n, _, _)| quote_ident(n)).collect::<Vec<_>>();
        let all: Vec<Column> = pk.iter().chain(rest.iter()).cloned().collect();
        let sql = match s.insert {
            InsertMode::Insert | InsertMode::Upsert => {
                let marks: Vec<String> = (1..=all.len()).map(|i| self.ph(i)).collect();
                let mut sql = format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    quote_path(&table),
                    names(&all).join(", "),
                    marks.join(", ")
                );
                if s.insert == InsertMode::Upsert {
                    let set: Vec<String> = names(&rest).iter().map(|n| format!("{n} = EXCLUDED.{n}")).collect();
                    let action =
                        if set.is_empty() { "NOTHING".to_string() } else { format!("UPDATE SET {}", set.join(", ")) };
                    sql.push_str(&format!(" ON CONFLICT ({}) DO {action}", names(&pk).join(", ")));
                }
                sql
            }
            InsertMode::Update => {
                if rest.is_empty() {
                    return Ok(());
                }
                let set: Vec<String> =
                    names(&rest).iter().enumerate().map(|(i, n)| format!("{n} = {}", self.ph(i + 1))).collect();
                let wh: Vec<String> = names(&pk)
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{n} = {}", self.ph(rest.len() + i + 1)))
                    .collect();
                let ordered: Vec<Column> = rest.iter().chain(pk.iter()).cloned().collect();
                let sql = format!("UPDATE {} SET {} WHERE {}", quote_path(&table), set.join(", "), wh.join(" AND "));
                return self.run(&sql, &ordered, r);
            }
        };
        self.run(&sql, &all, r)
    }

    /// The n-th (1-based) parameter marker.
    fn ph(&self, n: usize) -> String {
        match self.db {
            Some(Db::Postgres(_)) => format!("${n}"),
            _ => format!("?{n}"),
        }
    }

    fn run(&mut self, sql: &str, cols: &[Column], r: &SinkRecord) -> Result<()> {
        let ctx = |e: ConnectError| match e {
            ConnectError::Task(m) => ConnectError::Task(format!("JdbcSink: writing the record at {}: {m}", at(r))),
            other => other,
        };
        match &self.db {
            Some(Db::Sqlite(c)) => {
                let values =
                    cols.iter().map(|(n, s, d)| sqlite_param(n, s, d)).collect::<Result<Vec<_>>>().map_err(ctx)?;
                let mut stmt = c.prepare_cached(sql).map_err(|e| ctx(sqlite_error(sql, e)))?;
                stmt.execute(rusqlite::params_from_iter(values)).map_err(|e| ctx(sqlite_error(sql, e)))?;
                Ok(())
            }
            Some(Db::Postgres(c)) => {
                let values = cols.iter().map(|(n, s, d)| pg_param(n, s, d)).collect::<Result<Vec<_>>>().map_err(ctx)?;
                if !self.statements.contains_key(sql) {
                    let stmt = c.prepare(sql).map_err(ctx)?;
                    self.statements.insert(sql.to_string(), stmt);
                }
                if let Some(stmt) = self.statements.get(sql) {
                    c.execute_stmt(stmt, &values, sql).map_err(ctx)?;
                }
                Ok(())
            }
            None => Err(ConnectError::Task("the JDBC sink task is not started".into())),
        }
    }

    /// The table's column names; empty when it does not exist.
    fn columns_of(&self, table: &str) -> Result<Vec<String>> {
        match &self.db {
            Some(Db::Sqlite(c)) => {
                let sql = format!("PRAGMA table_info({})", quote_path(table));
                let mut stmt = c.prepare(&sql).map_err(|e| sqlite_error(&sql, e))?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(1)).map_err(|e| sqlite_error(&sql, e))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(|e| sqlite_error(&sql, e))
            }
            Some(Db::Postgres(c)) => {
                let (schema, name) = match table.split_once('.') {
                    Some((s, n)) => (Text(Some(s.to_string())), n),
                    None => (Text(None), table),
                };
                let rows = c.query(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = \
                     COALESCE($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position",
                    &[schema, Text(Some(name.to_string()))],
                )?;
                Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect())
            }
            None => Ok(Vec::new()),
        }
    }

    /// Creates or evolves the table as the settings allow, or fails naming
    /// what is missing.
    fn ensure_table(
        &mut self,
        s: &Settings,
        table: &str,
        pk: &[Column],
        rest: &[Column],
        r: &SinkRecord,
    ) -> Result<()> {
        let known = match self.tables.get(table) {
            Some(c) => c.clone(),
            None => self.columns_of(table)?,
        };
        let postgres = matches!(self.db, Some(Db::Postgres(_)));
        let ty = |schema: &Schema, name: &str| {
            sql_type(schema, postgres).ok_or_else(|| {
                ConnectError::Task(format!(
                    "JdbcSink: the record at {}: field {name} has type {} which cannot be a column",
                    at(r),
                    schema.kind.name()
                ))
            })
        };
        if known.is_empty() {
            if !s.auto_create {
                return Err(ConnectError::Task(format!(
                    "JdbcSink: table {table} is missing and auto-creation is disabled (auto.create=false)"
                )));
            }
            let mut defs = Vec::new();
            for (n, schema, _) in pk.iter().chain(rest) {
                let null = if schema.optional && !pk.iter().any(|(p, _, _)| p == n) { "NULL" } else { "NOT NULL" };
                defs.push(format!("{} {} {null}", quote_ident(n), ty(schema, n)?));
            }
            if !pk.is_empty() {
                let names: Vec<String> = pk.iter().map(|(n, _, _)| quote_ident(n)).collect();
                defs.push(format!("PRIMARY KEY ({})", names.join(", ")));
            }
            let sql = format!("CREATE TABLE IF NOT EXISTS {} ({})", quote_path(table), defs.join(", "));
            tracing::info!(sql, "JdbcSink: creating a missing table");
            self.exec_batch(&sql)?;
        } else {
            let missing: Vec<&Column> = pk.iter().chain(rest).filter(|(n, _, _)| !known.contains(n)).collect();
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|(n, _, _)| n.as_str()).collect();
                if !s.auto_evolve {
                    return Err(ConnectError::Task(format!(
                        "JdbcSink: table {table} is missing columns {names:?} of the record at {} and auto-evolution \
                         is disabled (auto.evolve=false)",
                        at(r)
                    )));
                }
                for (n, schema, _) in missing {
                    if !schema.optional {
                        return Err(ConnectError::Task(format!(
                            "JdbcSink: cannot ALTER TABLE {table} to add missing field {n}, as the field is not \
                             optional and has no default value"
                        )));
                    }
                    let sql = format!(
                        "ALTER TABLE {} ADD COLUMN {} {} NULL",
                        quote_path(table),
                        quote_ident(n),
                        ty(schema, n)?
                    );
                    tracing::info!(sql, "JdbcSink: evolving a table");
                    self.exec_batch(&sql)?;
                }
            }
        }
        let cols = self.columns_of(table)?;
        self.tables.insert(table.to_string(), cols);
        Ok(())
    }
}

/// The primary key columns and the others, by `pk.mode`.
fn columns(s: &Settings, r: &SinkRecord) -> Result<(Vec<Column>, Vec<Column>)> {
    let (Some(schema), Data::Struct(values)) = (&r.value_schema, &r.value) else {
        return Err(ConnectError::Task(format!(
            "JdbcSink: the value of the record at {} is not a struct with a schema (use JsonConverter with \
             schemas.enable=true)",
            at(r)
        )));
    };
    if schema.kind != SchemaType::Struct {
        return Err(ConnectError::Task(format!(
            "JdbcSink: the value schema of the record at {} is not a struct",
            at(r)
        )));
    }
    let fields: Vec<Column> = schema
        .fields
        .iter()
        .map(|(n, fs)| {
            (n.clone(), fs.clone(), values.iter().find(|(v, _)| v == n).map_or(Data::Null, |(_, d)| d.clone()))
        })
        .collect();
    let pk = match s.pk_mode {
        PkMode::None => Vec::new(),
        PkMode::Kafka => {
            let names = if s.pk_fields.is_empty() {
                vec!["__connect_topic".to_string(), "__connect_partition".into(), "__connect_offset".into()]
            } else {
                s.pk_fields.clone()
            };
            vec![
                (names[0].clone(), Schema::string(), Data::String(r.topic.clone())),
                (names[1].clone(), Schema::of(SchemaType::Int32, false), Data::Int(r.partition.into())),
                (names[2].clone(), Schema::of(SchemaType::Int64, false), Data::Int(r.offset)),
            ]
        }
        PkMode::RecordKey => key_columns(s, r)?,
        PkMode::RecordValue => {
            let names = if s.pk_fields.is_empty() {
                fields.iter().map(|(n, _, _)| n.clone()).collect()
            } else {
                s.pk_fields.clone()
            };
            let mut pk = Vec::new();
            for n in names {
                let Some(c) = fields.iter().find(|(f, _, _)| *f == n) else {
                    return Err(ConnectError::Task(format!(
                        "JdbcSink: pk.fields names {n}, which the value of the record at {} does not have",
                        at(r)
                    )));
                };
                pk.push(c.clone());
            }
            pk
        }
    };
    for (n, _, d) in &pk {
        if d.is_null() {
            return Err(ConnectError::Task(format!(
                "JdbcSink: primary key field {n} of the record at {} is null",
                at(r)
            )));
        }
    }
    let rest = fields.into_iter().filter(|(n, _, _)| !pk.iter().any(|(p, _, _)| p == n)).collect();
    Ok((pk, rest))
}

/// The key's columns for `pk.mode=record_key`: a primitive key is one
/// column (named by `pk.fields`, default `__connect_key`), a struct key its
/// fields (all, or those `pk.fields` names).
fn key_columns(s: &Settings, r: &SinkRecord) -> Result<Vec<Column>> {
    let Some(schema) = &r.key_schema else {
        return Err(ConnectError::Task(format!(
            "JdbcSink: pk.mode=record_key needs a key with a schema; the record at {} has none",
            at(r)
        )));
    };
    if r.key.is_null() {
        return Err(ConnectError::Task(format!("JdbcSink: the record at {} has a null key", at(r))));
    }
    if schema.kind != SchemaType::Struct {
        let name = s.pk_fields.first().cloned().unwrap_or_else(|| "__connect_key".into());
        return Ok(vec![(name, schema.clone(), r.key.clone())]);
    }
    let names: Vec<String> = if s.pk_fields.is_empty() {
        schema.fields.iter().map(|(n, _)| n.clone()).collect()
    } else {
        s.pk_fields.clone()
    };
    let mut out = Vec::new();
    for n in names {
        let Some(fs) = schema.field(&n) else {
            return Err(ConnectError::Task(format!(
                "JdbcSink: pk.fields names {n}, which the key of the record at {} does not have",
                at(r)
            )));
        };
        out.push((n.clone(), fs.clone(), r.key.get(&n).cloned().unwrap_or(Data::Null)));
    }
    Ok(out)
}

/// The column type for a field schema (None for compound types).
fn sql_type(s: &Schema, postgres: bool) -> Option<&'static str> {
    let logical = s.name.as_deref();
    Some(match (s.kind, logical, postgres) {
        (SchemaType::Int64, Some(TIMESTAMP), true) => "TIMESTAMP",
        (SchemaType::Int64, Some(TIMESTAMP), false) => "TIMESTAMP",
        (SchemaType::Int32, Some(DATE), _) => "DATE",
        (SchemaType::Int8 | SchemaType::Int16, _, true) => "SMALLINT",
        (SchemaType::Int32, _, true) => "INTEGER",
        (SchemaType::Int64, _, true) => "BIGINT",
        (SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64, _, false) => "INTEGER",
        (SchemaType::Float32, _, true) => "REAL",
        (SchemaType::Float64, _, true) => "DOUBLE PRECISION",
        (SchemaType::Float32 | SchemaType::Float64, _, false) => "REAL",
        (SchemaType::Boolean, _, _) => "BOOLEAN",
        (SchemaType::String, _, _) => "TEXT",
        (SchemaType::Bytes, _, true) => "BYTEA",
        (SchemaType::Bytes, _, false) => "BLOB",
        _ => return None,
    })
}

/// `YYYY-MM-DD HH:MM:SS.fff` (UTC) for Kafka's Timestamp, `YYYY-MM-DD` for Date.
fn logical_text(s: &Schema, d: &Data) -> Option<String> {
    let Data::Int(v) = d else { return None };
    match s.name.as_deref() {
        Some(TIMESTAMP) => {
            chrono::DateTime::from_timestamp_millis(*v).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        }
        Some(DATE) => {
            chrono::DateTime::from_timestamp(v.saturating_mul(86_400), 0).map(|t| t.format("%Y-%m-%d").to_string())
        }
        _ => None,
    }
}

fn compound(name: &str) -> ConnectError {
    ConnectError::Task(format!("field {name} is a struct, array or map, which cannot be a column value"))
}

fn sqlite_param(name: &str, s: &Schema, d: &Data) -> Result<rusqlite::types::Value> {
    use rusqlite::types::Value;
    if let Some(t) = logical_text(s, d) {
        return Ok(Value::Text(t));
    }
    Ok(match d {
        Data::Null => Value::Null,
        Data::Boolean(b) => Value::Integer((*b).into()),
        Data::Int(i) => Value::Integer(*i),
        Data::Float(f) => Value::Real(*f),
        Data::String(t) => Value::Text(t.clone()),
        Data::Bytes(b) => Value::Blob(b.to_vec()),
        _ => return Err(compound(name)),
    })
}

fn pg_param(name: &str, s: &Schema, d: &Data) -> Result<Text> {
    if let Some(t) = logical_text(s, d) {
        return Ok(Text(Some(t)));
    }
    Ok(Text(match d {
        Data::Null => None,
        Data::Boolean(b) => Some(b.to_string()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) if f.is_nan() => Some("NaN".into()),
        Data::Float(f) if f.is_infinite() => Some(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()),
        Data::Float(f) => Some(f.to_string()),
        Data::String(t) => Some(t.clone()),
        Data::Bytes(b) => {
            let mut hex = String::with_capacity(2 + b.len() * 2);
            hex.push_str("\\x");
            for byte in b.iter() {
                hex.push_str(&format!("{byte:02x}"));
            }
            Some(hex)
        }
        _ => return Err(compound(name)),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(db: &std::path::Path, extra: &[(&str, &str)]) -> Config {
        let mut c = Config::new();
        c.insert("connection.url".into(), format!("jdbc:sqlite:{}", db.display()));
        c.insert("topics".into(), "t".into());
        for (k, v) in extra {
            c.insert(k.to_string(), v.to_string());
        }
        c
    }

    fn record(offset: i64, key: Option<i64>, value: Option<(&str, Option<i64>)>) -> SinkRecord {
        let key_schema = Schema::structure(None, vec![("id".into(), Schema::of(SchemaType::Int64, false))], false);
        let value_schema = Schema::structure(
            Some("row"),
            vec![("name".into(), Schema::string()), ("age".into(), Schema::of(SchemaType::Int32, true))],
            false,
        );
        SinkRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: 0,
            key_schema: key.map(|_| key_schema),
            key: key.map_or(Data::Null, |k| Data::Struct(vec![("id".into(), Data::Int(k))])),
            value_schema: value.map(|_| value_schema),
            value: value.map_or(Data::Null, |(n, a)| {
                Data::Struct(vec![
                    ("name".into(), Data::String(n.into())),
                    ("age".into(), a.map_or(Data::Null, Data::Int)),
                ])
            }),
        }
    }

    fn rows(db: &std::path::Path, sql: &str) -> Vec<String> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut stmt = c.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "null".to_string(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    }

    #[test]
    fn upserts_by_record_key_and_deletes_on_tombstones_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let c = config(
            &db,
            &[
                ("insert.mode", "upsert"),
                ("pk.mode", "record_key"),
                ("auto.create", "true"),
                ("delete.enabled", "true"),
            ],
        );
        JdbcSinkConnector::default().start(&c).unwrap();
        let mut t = JdbcSinkTask::default();
        t.start(&c).unwrap();
        t.put(vec![record(0, Some(1), Some(("ada", Some(36)))), record(1, Some(2), Some(("bob", None)))]).unwrap();
        t.flush().unwrap();
        assert_eq!(rows(&db, "SELECT id, name, age FROM t ORDER BY id"), ["1|ada|36", "2|bob|null"]);
        t.put(vec![record(2, Some(1), Some(("ada l.", Some(37)))), record(3, Some(2), None)]).unwrap();
        t.flush().unwrap();
        assert_eq!(rows(&db, "SELECT id, name, age FROM t ORDER BY id"), ["1|ada l.|37"]);
        // Put but never flushed: rolled back at stop, so the worker's uncommitted offsets stay consistent.
        t.put(vec![record(4, Some(9), Some(("zed", None)))]).unwrap();
        t.stop();
        assert_eq!(rows(&db, "SELECT id FROM t ORDER BY id"), ["1"]);
    }

    #[test]
    fn bad_records_and_missing_tables_are_errors_naming_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let mut t = JdbcSinkTask::default();
        t.start(&config(&db, &[])).unwrap();
        let e = t.put(vec![record(0, None, Some(("x", None)))]).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("auto.create"), "{e}");
        let mut schemaless = record(5, None, Some(("x", None)));
        schemaless.value_schema = None;
        let mut t = JdbcSinkTask::default();
        t.start(&config(&db, &[("auto.create", "true")])).unwrap();
        let e = t.put(vec![schemaless]).unwrap_err().to_string();
        assert!(e.contains("topic t partition 0 offset 5") && e.contains("schema"), "{e}");
        let e = t.put(vec![record(6, None, None)]).unwrap_err().to_string();
        assert!(e.contains("offset 6") && e.contains("delete.enabled"), "{e}");
        for (k, v, key) in [
            ("insert.mode", "upsert", "pk.mode"),
            ("pk.mode", "primary", "pk.mode"),
            ("delete.enabled", "true", "delete.enabled"),
            ("batch.size", "0", "batch.size"),
        ] {
            let e = JdbcSinkConnector::default().start(&config(&db, &[(k, v)])).unwrap_err().to_string();
            assert!(e.contains(key), "{k}={v}: {e}");
        }
    }

    #[test]
    fn auto_evolve_adds_missing_optional_columns() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        rusqlite::Connection::open(&db).unwrap().execute_batch("CREATE TABLE t (name TEXT NOT NULL)").unwrap();
        let mut t = JdbcSinkTask::default();
        t.start(&config(&db, &[])).unwrap();
        let e = t.put(vec![record(0, None, Some(("ada", Some(1))))]).unwrap_err().to_string();
        assert!(e.contains("age") && e.contains("auto.evolve"), "{e}");
        let mut t = JdbcSinkTask::default();
        t.start(&config(&db, &[("auto.evolve", "true")])).unwrap();
        t.put(vec![record(0, None, Some(("ada", Some(1))))]).unwrap();
        t.flush().unwrap();
        assert_eq!(rows(&db, "SELECT name, age FROM t"), ["ada|1"]);
    }
}
