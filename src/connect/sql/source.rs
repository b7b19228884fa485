//! The JDBC-style table source (`io.confluent.connect.jdbc.JdbcSourceConnector`)
//! for SQLite and PostgreSQL, with the JDBC source connector's keys:
//! `connection.url`, `connection.user`, `connection.password`, `mode`
//! (`bulk` | `incrementing` | `timestamp` | `timestamp+incrementing`),
//! `incrementing.column.name`, `timestamp.column.name`, `table.whitelist`
//! (alias `table.include.list`; default every table), `table.blacklist`
//! (alias `table.exclude.list`), `query`, `topic.prefix`,
//! `poll.interval.ms` (5000), `batch.max.rows` (100),
//! `timestamp.delay.interval.ms` (0).
//!
//! Each table is polled with the JDBC connector's queries: `incrementing`
//! takes rows whose column is above the last one seen, `timestamp` rows
//! whose timestamp is after the last one and before now minus the delay,
//! `timestamp+incrementing` orders by both so rows that share a timestamp
//! are neither lost nor repeated, and `bulk` copies the whole table every
//! interval. Values are Structs with a schema named after the table (or
//! unnamed for a `query`); timestamp columns are Kafka's Timestamp logical
//! type (INT64 milliseconds) and dates Kafka's Date. The source partition
//! is `{"table": name}` (or `{"query": q}`) and the offset
//! `{"incrementing": n}` and/or `{"timestamp": ms, "timestamp_nanos": ns}`,
//! as the JDBC connector keys them, so a restarted task resumes after the
//! last row whose offset was stored.
//!
//! Timestamps are compared as microseconds since the epoch computed in SQL
//! (SQLite: integer columns are epoch milliseconds, text ones are parsed
//! with `julianday`; PostgreSQL: `EXTRACT(EPOCH …)`, a timestamp without
//! time zone taken as UTC), so every store format compares correctly.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::pg::{quote_ident, quote_path, Text};
use super::{choice, int_at_least, list, open, sqlite_error, ColKind, Db};
use crate::connect::api::{required, OffsetReader, SourceConnector, SourceMap, SourceRecord, SourceTask};
use crate::connect::data::{Data, Schema};
use crate::connect::{Config, ConnectError, Result};

const MODES: &[&str] = &["bulk", "incrementing", "timestamp", "timestamp+incrementing"];

/// The key a task config lists its tables under.
const TASK_TABLES: &str = "tables";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bulk,
    Incrementing,
    Timestamp,
    TimestampIncrementing,
}

impl Mode {
    fn incrementing(self) -> bool {
        matches!(self, Mode::Incrementing | Mode::TimestampIncrementing)
    }
    fn timestamp(self) -> bool {
        matches!(self, Mode::Timestamp | Mode::TimestampIncrementing)
    }
}

/// The checked source settings.
#[derive(Debug, Clone)]
struct Settings {
    mode: Mode,
    inc_col: Option<String>,
    ts_col: Option<String>,
    prefix: String,
    poll_interval: Duration,
    batch: usize,
    delay_micros: i64,
    query: Option<String>,
}

fn settings(config: &Config) -> Result<Settings> {
    super::url::parse(required(config, "connection.url")?)?;
    let mode = match choice(config, "mode", "", MODES) {
        Ok(m) => m,
        Err(_) if !config.contains_key("mode") => {
            return Err(ConnectError::Config(
                "Missing required configuration \"mode\" which has no default value.".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    let mode = match mode.as_str() {
        "bulk" => Mode::Bulk,
        "incrementing" => Mode::Incrementing,
        "timestamp" => Mode::Timestamp,
        _ => Mode::TimestampIncrementing,
    };
    let column = |key: &str| config.get(key).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let inc_col = column("incrementing.column.name");
    let ts_col = column("timestamp.column.name");
    if mode.incrementing() && inc_col.is_none() {
        return Err(ConnectError::Config(format!(
            "Invalid value for configuration incrementing.column.name: mode {} needs an incrementing column",
            mode_name(mode)
        )));
    }
    if mode.timestamp() && ts_col.is_none() {
        return Err(ConnectError::Config(format!(
            "Invalid value for configuration timestamp.column.name: mode {} needs a timestamp column",
            mode_name(mode)
        )));
    }
    let prefix = required(config, "topic.prefix")?.trim().to_string();
    let query = config.get("query").map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
    if query.is_some() && !include_list(config).is_empty() {
        return Err(ConnectError::Config(
            "Invalid value for configuration query: a query cannot be combined with table.whitelist".into(),
        ));
    }
    if query.is_some() && prefix.is_empty() {
        return Err(ConnectError::Config(
            "Invalid value for configuration topic.prefix: with a query it is the whole topic name and must not be \
             empty"
                .into(),
        ));
    }
    Ok(Settings {
        mode,
        inc_col,
        ts_col,
        prefix,
        poll_interval: Duration::from_millis(int_at_least(config, "poll.interval.ms", 5000, 1)? as u64),
        batch: int_at_least(config, "batch.max.rows", 100, 1)? as usize,
        delay_micros: int_at_least(config, "timestamp.delay.interval.ms", 0, 0)?.saturating_mul(1000),
        query,
    })
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Bulk => "bulk",
        Mode::Incrementing => "incrementing",
        Mode::Timestamp => "timestamp",
        Mode::TimestampIncrementing => "timestamp+incrementing",
    }
}

fn include_list(config: &Config) -> Vec<String> {
    let mut l = list(config, "table.whitelist");
    l.extend(list(config, "table.include.list"));
    l
}

fn exclude_list(config: &Config) -> Vec<String> {
    let mut l = list(config, "table.blacklist");
    l.extend(list(config, "table.exclude.list"));
    l
}

/// The tables of the database (SQLite: every user table; PostgreSQL: the
/// base tables of the current schema).
fn discover(db: &Db) -> Result<Vec<String>> {
    match db {
        Db::Sqlite(c) => {
            let sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                       ORDER BY name";
            let mut stmt = c.prepare(sql).map_err(|e| sqlite_error("listing tables", e))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| sqlite_error("listing tables", e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| sqlite_error("listing tables", e))
        }
        Db::Postgres(c) => {
            let rows = c.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND \
                 table_type = 'BASE TABLE' ORDER BY 1",
                &[],
            )?;
            Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect())
        }
    }
}

#[derive(Default)]
pub struct JdbcSourceConnector {
    config: Config,
    tables: Vec<String>,
}

impl SourceConnector for JdbcSourceConnector {
    fn start(&mut self, config: &Config) -> Result<()> {
        let s = settings(config)?;
        self.config = config.clone();
        if s.query.is_some() {
            return Ok(());
        }
        let include = include_list(config);
        let exclude = exclude_list(config);
        self.tables = if include.is_empty() { discover(&open(config)?)? } else { include };
        self.tables.retain(|t| !exclude.contains(t));
        if self.tables.is_empty() {
            tracing::warn!("the JDBC source found no tables to copy");
        }
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        if self.tables.is_empty() {
            // A query (or nothing to do yet): one task.
            return vec![self.config.clone()];
        }
        let n = max_tasks.max(1).min(self.tables.len());
        let mut groups = vec![Vec::new(); n];
        for (i, t) in self.tables.iter().enumerate() {
            groups[i % n].push(t.clone());
        }
        groups
            .into_iter()
            .map(|g| {
                let mut c = self.config.clone();
                c.insert(TASK_TABLES.into(), g.join(","));
                c
            })
            .collect()
    }

    fn task(&self) -> Box<dyn SourceTask> {
        Box::new(JdbcSourceTask::default())
    }
}

/// A column of the rows a table yields.
#[derive(Debug, Clone)]
struct Col {
    name: String,
    kind: ColKind,
    optional: bool,
}

/// What a task knows of one table (or the query).
struct Table {
    /// The table name, or `None` for the `query`.
    name: Option<String>,
    partition: SourceMap,
    topic: String,
    /// Learned on the first poll.
    shape: Option<Shape>,
    last_inc: i64,
    /// Microseconds since the epoch.
    last_ts: i64,
    next_poll: Instant,
    pending: VecDeque<SourceRecord>,
}

/// A table's columns, schema and the query text for its mode.
struct Shape {
    cols: Vec<Col>,
    schema: Schema,
    sql: String,
    inc_idx: Option<usize>,
    ts_idx: Option<usize>,
}

#[derive(Default)]
pub struct JdbcSourceTask {
    settings: Option<Settings>,
    db: Option<Db>,
    tables: Vec<Table>,
}

impl SourceTask for JdbcSourceTask {
    fn start(&mut self, config: &Config, offsets: &dyn OffsetReader) -> Result<()> {
        let s = settings(config)?;
        let mut tables = Vec::new();
        let names: Vec<Option<String>> = match &s.query {
            Some(_) => vec![None],
            None => list(config, TASK_TABLES).into_iter().map(Some).collect(),
        };
        for name in names {
            let mut partition = SourceMap::new();
            let topic = match (&name, &s.query) {
                (Some(t), _) => {
                    partition.insert("table".into(), json!(t));
                    format!("{}{t}", s.prefix)
                }
                (None, q) => {
                    partition.insert("query".into(), json!(q.as_deref().unwrap_or("")));
                    s.prefix.clone()
                }
            };
            let mut t = Table {
                name,
                partition,
                topic,
                shape: None,
                last_inc: -1,
                last_ts: 0,
                next_poll: Instant::now(),
                pending: VecDeque::new(),
            };
            if let Some(off) = offsets.offset(&t.partition) {
                if let Some(i) = off.get("incrementing").and_then(Value::as_i64) {
                    t.last_inc = i;
                }
                if let Some(ms) = off.get("timestamp").and_then(Value::as_i64) {
                    let nanos =
                        off.get("timestamp_nanos").and_then(Value::as_i64).unwrap_or(ms.rem_euclid(1000) * 1_000_000);
                    t.last_ts = ms.div_euclid(1000) * 1_000_000 + nanos / 1000;
                }
                tracing::info!(partition = ?t.partition, offset = ?off, "JDBC source resumes after its stored offset");
            }
            tables.push(t);
        }
        self.db = Some(open(config)?);
        self.tables = tables;
        self.settings = Some(s);
        Ok(())
    }

    fn poll(&mut self) -> Result<Vec<SourceRecord>> {
        let (Some(s), Some(db)) = (&self.settings, &self.db) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for t in &mut self.tables {
            let now = Instant::now();
            if t.pending.is_empty() && now >= t.next_poll {
                let more = fetch(s, db, t)?;
                t.next_poll = if more { now } else { now + s.poll_interval };
            }
            let n = t.pending.len().min(s.batch);
            out.extend(t.pending.drain(..n));
        }
        Ok(out)
    }
}

/// Reads the table's next rows into `pending`; true when a full batch came
/// back (more may be waiting).
fn fetch(s: &Settings, db: &Db, t: &mut Table) -> Result<bool> {
    if t.shape.is_none() {
        t.shape = Some(shape(s, db, t)?);
    }
    let Some(shape) = &t.shape else { return Ok(false) };
    let now_micros = || -> Result<i64> {
        match db {
            Db::Sqlite(_) => Ok(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)),
            Db::Postgres(c) => {
                let rows = c.query("SELECT (EXTRACT(EPOCH FROM now()) * 1000000)::int8", &[])?;
                Ok(rows.first().and_then(|r| r.try_get::<_, i64>(0).ok()).unwrap_or(0))
            }
        }
    };
    let params: Vec<i64> = match s.mode {
        Mode::Bulk => vec![],
        Mode::Incrementing => vec![t.last_inc],
        Mode::Timestamp => vec![t.last_ts, now_micros()? - s.delay_micros],
        Mode::TimestampIncrementing => vec![t.last_ts, t.last_inc, now_micros()? - s.delay_micros],
    };
    let rows = read_rows(db, &shape.sql, &shape.cols, &params, t.name.as_deref())?;
    let limited = s.mode.incrementing();
    let full = limited && rows.len() >= s.batch;
    for row in rows {
        let mut offset = SourceMap::new();
        if let Some(i) = shape.inc_idx {
            let Data::Int(v) = row[i] else {
                return Err(ConnectError::Task(format!(
                    "{}: incrementing column {} is null or not an integer",
                    source_name(t),
                    shape.cols[i].name
                )));
            };
            t.last_inc = v;
            offset.insert("incrementing".into(), json!(v));
        }
        if let Some(i) = shape.ts_idx {
            let Some(micros) = row_micros(&row[i]) else {
                return Err(ConnectError::Task(format!(
                    "{}: timestamp column {} is null",
                    source_name(t),
                    shape.cols[i].name
                )));
            };
            t.last_ts = micros;
            offset.insert("timestamp".into(), json!(micros.div_euclid(1000)));
            offset.insert("timestamp_nanos".into(), json!(micros.rem_euclid(1_000_000) * 1000));
        }
        let value = Data::Struct(
            shape
                .cols
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let v = match (c.kind, v) {
                        // Read as microseconds, sent as Kafka's milliseconds.
                        (ColKind::Timestamp, Data::Int(us)) => Data::Int(us.div_euclid(1000)),
                        (_, v) => v,
                    };
                    (c.name.clone(), v)
                })
                .collect(),
        );
        t.pending.push_back(SourceRecord {
            source_partition: t.partition.clone(),
            source_offset: offset,
            topic: t.topic.clone(),
            partition: None,
            key_schema: None,
            key: Data::Null,
            value_schema: Some(shape.schema.clone()),
            value,
            timestamp: None,
        });
    }
    Ok(full)
}

fn row_micros(d: &Data) -> Option<i64> {
    match d {
        Data::Int(us) => Some(*us),
        _ => None,
    }
}

fn source_name(t: &Table) -> String {
    match &t.name {
        Some(n) => format!("table {n}"),
        None => "the query".into(),
    }
}

/// The FROM part: the quoted table, or the query as a subquery.
fn from_clause(s: &Settings, t: &Table) -> String {
    match (&t.name, &s.query) {
        (Some(n), _) => quote_path(n),
        (None, q) => format!("({}) AS gregor_query", q.as_deref().unwrap_or("")),
    }
}

/// A column as selected: timestamps as epoch microseconds, dates as epoch
/// days, PostgreSQL types without a native mapping as text.
fn select_expr(db: &Db, col: &str, kind: ColKind, pg_text: bool) -> String {
    let q = quote_ident(col);
    match (db, kind) {
        (Db::Sqlite(_), ColKind::Timestamp) => format!(
            "(CASE typeof({q}) WHEN 'integer' THEN {q} * 1000 WHEN 'real' THEN CAST({q} * 1000 AS INTEGER) WHEN \
             'null' THEN NULL ELSE CAST(ROUND((julianday({q}) - 2440587.5) * 86400000.0) AS INTEGER) * 1000 END)"
        ),
        (Db::Postgres(_), ColKind::Timestamp) => format!("(EXTRACT(EPOCH FROM {q}) * 1000000)::int8"),
        (Db::Postgres(_), ColKind::Date) => format!("({q} - DATE '1970-01-01')::int4"),
        (Db::Postgres(_), ColKind::Text) if pg_text => format!("{q}::text"),
        _ => q,
    }
}

/// Learns the columns of the table or query and builds the mode's query.
fn shape(s: &Settings, db: &Db, t: &Table) -> Result<Shape> {
    let from = from_clause(s, t);
    let probe = format!("SELECT * FROM {from} LIMIT 0");
    let mut cols = Vec::new();
    // Per column: does PostgreSQL need a ::text cast (types read as text)?
    let mut pg_text = Vec::new();
    match db {
        Db::Sqlite(c) => {
            let stmt = c.prepare(&probe).map_err(|e| sqlite_error(&format!("reading {}", source_name(t)), e))?;
            let mut notnull = std::collections::HashMap::new();
            if let Some(name) = &t.name {
                let mut info = c
                    .prepare(&format!("PRAGMA table_info({})", quote_path(name)))
                    .map_err(|e| sqlite_error("reading the table's columns", e))?;
                let rows = info
                    .query_map([], |r| {
                        let ty: String = r.get(2)?;
                        Ok((
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(3)? != 0
                                || (r.get::<_, i64>(5)? == 1 && ty.eq_ignore_ascii_case("INTEGER")),
                        ))
                    })
                    .map_err(|e| sqlite_error("reading the table's columns", e))?;
                for r in rows.flatten() {
                    notnull.insert(r.0, r.1);
                }
            }
            for col in stmt.columns() {
                let name = col.name().to_string();
                let optional = !notnull.get(&name).copied().unwrap_or(false);
                cols.push(Col { kind: ColKind::of_sqlite_decl(col.decl_type()), name, optional });
                pg_text.push(false);
            }
        }
        Db::Postgres(c) => {
            let stmt = c.prepare(&probe)?;
            let mut notnull = std::collections::HashMap::new();
            let mut oids: Vec<u32> = stmt.columns().iter().filter_map(|c| c.table_oid()).collect();
            oids.sort_unstable();
            oids.dedup();
            for oid in oids {
                let rows = c.query(
                    "SELECT attnum::int2, attnotnull FROM pg_attribute WHERE attrelid = $1 AND attnum > 0",
                    &[Text(Some(oid.to_string()))],
                )?;
                for r in rows {
                    if let (Ok(num), Ok(nn)) = (r.try_get::<_, i16>(0), r.try_get::<_, bool>(1)) {
                        notnull.insert((oid, num), nn);
                    }
                }
            }
            for col in stmt.columns() {
                let kind = ColKind::of_pg(col.type_());
                let nn = match (col.table_oid(), col.column_id()) {
                    (Some(o), Some(n)) => notnull.get(&(o, n)).copied().unwrap_or(false),
                    _ => false,
                };
                let native = matches!(
                    *col.type_(),
                    tokio_postgres::types::Type::TEXT
                        | tokio_postgres::types::Type::VARCHAR
                        | tokio_postgres::types::Type::BPCHAR
                        | tokio_postgres::types::Type::NAME
                );
                pg_text.push(kind == ColKind::Text && !native);
                cols.push(Col { name: col.name().to_string(), kind, optional: !nn });
            }
        }
    }
    let find = |name: &Option<String>, what: &str| -> Result<Option<usize>> {
        let Some(name) = name else { return Ok(None) };
        cols.iter()
            .position(|c| &c.name == name)
            .map(Some)
            .ok_or_else(|| ConnectError::Task(format!("{what} {name} is not a column of {}", source_name(t))))
    };
    let inc_idx = if s.mode.incrementing() { find(&s.inc_col, "incrementing.column.name")? } else { None };
    let ts_idx = if s.mode.timestamp() { find(&s.ts_col, "timestamp.column.name")? } else { None };
    if let Some(i) = inc_idx {
        if !matches!(cols[i].kind, ColKind::I16 | ColKind::I32 | ColKind::I64) {
            return Err(ConnectError::Task(format!(
                "incrementing.column.name {} of {} is not an integer column",
                cols[i].name,
                source_name(t)
            )));
        }
    }
    if let Some(i) = ts_idx {
        if cols[i].kind != ColKind::Timestamp {
            return Err(ConnectError::Task(format!(
                "timestamp.column.name {} of {} is not a timestamp column",
                cols[i].name,
                source_name(t)
            )));
        }
    }
    let list: Vec<String> = cols.iter().zip(&pg_text).map(|(c, txt)| select_expr(db, &c.name, c.kind, *txt)).collect();
    let p = |n: usize| match db {
        Db::Sqlite(_) => format!("?{n}"),
        Db::Postgres(_) => format!("${n}"),
    };
    let inc = inc_idx.map(|i| quote_ident(&cols[i].name)).unwrap_or_default();
    let ts = ts_idx.map(|i| select_expr(db, &cols[i].name, ColKind::Timestamp, false)).unwrap_or_default();
    let filter = match s.mode {
        Mode::Bulk => String::new(),
        Mode::Incrementing => format!(" WHERE {inc} > {} ORDER BY {inc} ASC LIMIT {}", p(1), s.batch),
        Mode::Timestamp => format!(" WHERE {ts} > {} AND {ts} < {} ORDER BY {ts} ASC", p(1), p(2)),
        Mode::TimestampIncrementing => format!(
            " WHERE {ts} < {p3} AND (({ts} = {p1} AND {inc} > {p2}) OR {ts} > {p1}) ORDER BY {ts} ASC, {inc} ASC LIMIT {}",
            s.batch,
            p1 = p(1),
            p2 = p(2),
            p3 = p(3)
        ),
    };
    let sql = format!("SELECT {} FROM {from}{filter}", list.join(", "));
    let fields = cols.iter().map(|c| (c.name.clone(), c.kind.schema(c.optional))).collect();
    let schema = Schema::structure(t.name.as_deref(), fields, false);
    Ok(Shape { cols, schema, sql, inc_idx, ts_idx })
}

/// Runs the mode's query and converts every row to Connect data.
fn read_rows(db: &Db, sql: &str, cols: &[Col], params: &[i64], what: Option<&str>) -> Result<Vec<Vec<Data>>> {
    let what = what.map_or_else(|| "reading the query".to_string(), |t| format!("reading table {t}"));
    match db {
        Db::Sqlite(c) => {
            let mut stmt = c.prepare_cached(sql).map_err(|e| sqlite_error(&what, e))?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(|e| sqlite_error(&what, e))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| sqlite_error(&what, e))? {
                let mut values = Vec::with_capacity(cols.len());
                for (i, col) in cols.iter().enumerate() {
                    let v = row.get_ref(i).map_err(|e| sqlite_error(&what, e))?;
                    values.push(sqlite_value(v, col).map_err(|m| ConnectError::Task(format!("{what}: {m}")))?);
                }
                out.push(values);
            }
            Ok(out)
        }
        Db::Postgres(c) => {
            let texts: Vec<Text> = params.iter().map(|p| Text(Some(p.to_string()))).collect();
            let rows = c.query(sql, &texts)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut values = Vec::with_capacity(cols.len());
                for (i, col) in cols.iter().enumerate() {
                    let v = pg_value(&row, i, col.kind)
                        .map_err(|e| ConnectError::Task(format!("{what}: column {}: {e}", col.name)))?;
                    values.push(v);
                }
                out.push(values);
            }
            Ok(out)
        }
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>, col: &Col) -> Result<Data, String> {
    use rusqlite::types::ValueRef;
    let bad = |what: &str| format!("column {}: {what} is not a {:?} value", col.name, col.kind);
    Ok(match (col.kind, v) {
        (_, ValueRef::Null) => Data::Null,
        (ColKind::Bool, ValueRef::Integer(i)) => Data::Boolean(i != 0),
        (ColKind::Bool, ValueRef::Text(t)) => match t {
            b"true" | b"TRUE" | b"t" | b"1" => Data::Boolean(true),
            b"false" | b"FALSE" | b"f" | b"0" => Data::Boolean(false),
            _ => return Err(bad(&String::from_utf8_lossy(t))),
        },
        (ColKind::F32 | ColKind::F64, ValueRef::Real(f)) => Data::Float(f),
        (ColKind::F32 | ColKind::F64, ValueRef::Integer(i)) => Data::Float(i as f64),
        (ColKind::Text, ValueRef::Text(t)) => Data::String(String::from_utf8_lossy(t).into_owned()),
        (ColKind::Text, ValueRef::Integer(i)) => Data::String(i.to_string()),
        (ColKind::Text, ValueRef::Real(f)) => Data::String(f.to_string()),
        (ColKind::Text, ValueRef::Blob(b)) => Data::String(String::from_utf8_lossy(b).into_owned()),
        (ColKind::Bytes, ValueRef::Blob(b) | ValueRef::Text(b)) => Data::Bytes(bytes::Bytes::copy_from_slice(b)),
        (_, ValueRef::Integer(i)) => Data::Int(i),
        (_, ValueRef::Real(f)) if f.fract() == 0.0 => Data::Int(f as i64),
        (_, ValueRef::Text(t)) => match std::str::from_utf8(t).ok().and_then(|s| s.trim().parse::<i64>().ok()) {
            Some(i) => Data::Int(i),
            None => return Err(bad(&String::from_utf8_lossy(t))),
        },
        (_, other) => return Err(bad(&format!("{:?}", other.data_type()))),
    })
}

fn pg_value(row: &tokio_postgres::Row, i: usize, kind: ColKind) -> Result<Data, tokio_postgres::Error> {
    fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> Data) -> Data {
        v.map_or(Data::Null, f)
    }
    Ok(match kind {
        ColKind::Bool => or_null(row.try_get::<_, Option<bool>>(i)?, Data::Boolean),
        ColKind::I16 => or_null(row.try_get::<_, Option<i16>>(i)?, |v| Data::Int(v.into())),
        ColKind::I32 | ColKind::Date => or_null(row.try_get::<_, Option<i32>>(i)?, |v| Data::Int(v.into())),
        ColKind::I64 | ColKind::Timestamp => match row.try_get::<_, Option<i64>>(i) {
            Ok(v) => or_null(v, Data::Int),
            // OID columns.
            Err(_) => or_null(row.try_get::<_, Option<u32>>(i)?, |v| Data::Int(v.into())),
        },
        ColKind::F32 => or_null(row.try_get::<_, Option<f32>>(i)?, |v| Data::Float(v.into())),
        ColKind::F64 => or_null(row.try_get::<_, Option<f64>>(i)?, Data::Float),
        ColKind::Text => or_null(row.try_get::<_, Option<String>>(i)?, Data::String),
        ColKind::Bytes => or_null(row.try_get::<_, Option<Vec<u8>>>(i)?, |v| Data::Bytes(v.into())),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Stored(Option<SourceMap>);
    impl OffsetReader for Stored {
        fn offset(&self, _p: &SourceMap) -> Option<SourceMap> {
            self.0.clone()
        }
    }

    fn config(db: &std::path::Path, extra: &[(&str, &str)]) -> Config {
        let mut c = Config::new();
        c.insert("connection.url".into(), format!("jdbc:sqlite:{}", db.display()));
        c.insert("topic.prefix".into(), "p-".into());
        for (k, v) in extra {
            c.insert(k.to_string(), v.to_string());
        }
        c
    }

    #[test]
    fn tables_are_discovered_filtered_and_split_across_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE a (id INTEGER); CREATE TABLE b (id INTEGER); CREATE TABLE c (id INTEGER);")
            .unwrap();
        let mut conn = JdbcSourceConnector::default();
        conn.start(&config(&db, &[("mode", "bulk"), ("table.blacklist", "c")])).unwrap();
        let tasks: Vec<String> = conn.task_configs(5).iter().map(|c| c[TASK_TABLES].clone()).collect();
        assert_eq!(tasks, ["a", "b"]);
        let mut conn = JdbcSourceConnector::default();
        conn.start(&config(&db, &[("mode", "bulk")])).unwrap();
        let tasks: Vec<String> = conn.task_configs(2).iter().map(|c| c[TASK_TABLES].clone()).collect();
        assert_eq!(tasks, ["a,c", "b"]);
        for (extra, key) in [
            (vec![("mode", "sometimes")], "mode"),
            (vec![("mode", "timestamp")], "timestamp.column.name"),
            (vec![("mode", "bulk"), ("batch.max.rows", "0")], "batch.max.rows"),
            (vec![("mode", "bulk"), ("query", "SELECT 1"), ("table.whitelist", "a")], "query"),
        ] {
            let e = JdbcSourceConnector::default().start(&config(&db, &extra)).unwrap_err().to_string();
            assert!(e.contains(key), "{extra:?}: {e}");
        }
    }

    #[test]
    fn incrementing_polls_in_batches_and_resumes_after_the_stored_offset() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME, b BLOB);
                 INSERT INTO t VALUES (1, '2024-01-02 03:04:05.678', x'0102'), (2, 1700000000000, NULL), (3, NULL, NULL);",
            )
            .unwrap();
        let c = config(
            &db,
            &[("mode", "incrementing"), ("incrementing.column.name", "id"), ("batch.max.rows", "2"), ("tables", "t")],
        );
        let mut t = JdbcSourceTask::default();
        t.start(&c, &Stored(None)).unwrap();
        let first = t.poll().unwrap();
        assert_eq!(first.len(), 2, "one batch");
        assert_eq!(first[0].topic, "p-t");
        assert_eq!(first[0].value.get("at"), Some(&Data::Int(1_704_164_645_678)));
        assert_eq!(first[0].value.get("b"), Some(&Data::Bytes(vec![1u8, 2].into())));
        assert_eq!(first[1].value.get("at"), Some(&Data::Int(1_700_000_000_000)));
        assert_eq!(first[1].source_offset["incrementing"], json!(2));
        assert_eq!(t.poll().unwrap().len(), 1, "the rest at once, a full batch having come back");
        let mut resumed = JdbcSourceTask::default();
        resumed.start(&c, &Stored(Some(first[1].source_offset.clone()))).unwrap();
        let rest = resumed.poll().unwrap();
        assert_eq!(rest.iter().map(|r| r.value.get("id").cloned()).collect::<Vec<_>>(), [Some(Data::Int(3))]);
    }
}
