//! PostgreSQL change data capture, as Debezium's
//! `io.debezium.connector.postgresql.PostgresConnector`, with its keys:
//! `database.hostname`, `database.port` (5432), `database.user`,
//! `database.password`, `database.dbname`, `topic.prefix` (required),
//! `plugin.name` (only `pgoutput`), `slot.name` (`debezium`),
//! `publication.name` (`dbz_publication`), `table.include.list` (regular
//! expressions matched against `schema.table`), `snapshot.mode` (`initial`,
//! or `no_data`/`never` to stream only), `tombstones.on.delete` (true),
//! `max.batch.size` (2048).
//!
//! Reading: tokio-postgres does not speak the replication protocol, so the
//! task uses the logical decoding SQL functions over a normal connection and
//! decodes `pgoutput` itself ([`super::pgoutput`]). The durable slot
//! (`slot.name`) is never read directly: at start the task copies it into a
//! temporary slot of its own session and consumes that
//! (`pg_logical_slot_get_binary_changes`), so each poll moves on; the
//! durable slot moves only in [`SourceTask::commit`], which the worker calls
//! once every record returned so far is acknowledged and its offset stored
//! (`pg_replication_slot_advance` to the end of the last transaction
//! returned). After a crash the slot may lag the stored offsets, so changes
//! at or below the stored offset are skipped.
//!
//! Records: topic `<topic.prefix>.<schema>.<table>`; key: a struct of the
//! primary key columns (none without a primary key); value: Debezium's
//! envelope `{before, after, source, op, ts_ms}` with op `c`/`u`/`d`, or
//! `r` for snapshot rows, and `source` `{version, connector: "postgresql",
//! name, ts_ms, snapshot, db, schema, table, txId, lsn}`. A delete is its `d`
//! event followed by a tombstone (null value, same key) unless
//! `tombstones.on.delete=false`. Events come in commit order; each carries
//! the source offset `{"lsn": <commit LSN>, "txId": …, "event": <number
//! within the transaction>, "ts_usec": …}` so a restart can skip exactly
//! what was sent. Column values: integers, floats, booleans and bytea as
//! such, every other type as its PostgreSQL text (numeric, dates and
//! times included).
//!
//! Snapshot (`snapshot.mode=initial`, when no offset says it finished):
//! the slot is made first, then every published table is read in one
//! REPEATABLE READ transaction; streamed transactions that this snapshot
//! already saw are dropped, so nothing is sent twice across the boundary.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::pg::{quote_ident, quote_literal, PgConn, Text};
use super::pgoutput::{self, Cell, Lsn, Message, RelColumn};
use super::url::PgTarget;
use super::{boolean, choice, int_at_least, list, ColKind};
use crate::connect::api::{required, OffsetReader, SourceConnector, SourceMap, SourceRecord, SourceTask};
use crate::connect::data::{Data, Schema, SchemaType};
use crate::connect::{Config, ConnectError, Result};

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// What Debezium sends for an unchanged TOASTed value it was not given.
const UNAVAILABLE: &str = "__debezium_unavailable_value";

#[derive(Debug, Clone)]
struct Settings {
    target: PgTarget,
    prefix: String,
    slot: String,
    publication: String,
    include: Vec<regex::Regex>,
    include_names: Vec<String>,
    snapshot: bool,
    tombstones: bool,
    max_batch: usize,
}

fn settings(config: &Config) -> Result<Settings> {
    let host = required(config, "database.hostname")?.trim().to_string();
    let dbname = required(config, "database.dbname")?.trim().to_string();
    let prefix = required(config, "topic.prefix")?.trim().to_string();
    if prefix.is_empty() {
        return Err(ConnectError::Config("Invalid value for configuration topic.prefix: must not be empty".into()));
    }
    let port = int_at_least(config, "database.port", 5432, 1)?;
    let port = u16::try_from(port).map_err(|_| {
        ConnectError::Config(format!("Invalid value {port} for configuration database.port: not a port number"))
    })?;
    choice(config, "plugin.name", "pgoutput", &["pgoutput"])?;
    let snapshot = choice(config, "snapshot.mode", "initial", &["initial", "no_data", "never"])? == "initial";
    let slot = config.get("slot.name").map(|s| s.trim().to_string()).unwrap_or_else(|| "debezium".into());
    if slot.is_empty()
        || slot.len() > 63
        || !slot.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(ConnectError::Config(format!(
            "Invalid value {slot} for configuration slot.name: a slot name is 1 to 63 lower-case letters, digits \
             and underscores"
        )));
    }
    let publication =
        config.get("publication.name").map(|s| s.trim().to_string()).unwrap_or_else(|| "dbz_publication".into());
    let include_names = list(config, "table.include.list");
    let mut include = Vec::new();
    for pattern in &include_names {
        include.push(regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            ConnectError::Config(format!("Invalid value {pattern} for configuration table.include.list: {e}"))
        })?);
    }
    Ok(Settings {
        target: PgTarget {
            host,
            port,
            dbname,
            user: config.get("database.user").cloned(),
            password: config.get("database.password").cloned(),
        },
        prefix,
        slot,
        publication,
        include,
        include_names,
        snapshot,
        tombstones: boolean(config, "tombstones.on.delete", true)?,
        max_batch: int_at_least(config, "max.batch.size", 2048, 1)? as usize,
    })
}

#[derive(Default)]
pub struct PostgresConnector {
    config: Config,
}

impl SourceConnector for PostgresConnector {
    fn start(&mut self, config: &Config) -> Result<()> {
        settings(config)?;
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        // One slot, one reader: Debezium's PostgreSQL connector has one task.
        vec![self.config.clone()]
    }
    fn task(&self) -> Box<dyn SourceTask> {
        Box::new(PostgresTask::default())
    }
}

/// A column as the task knows it.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    type_oid: u32,
    kind: ColKind,
    optional: bool,
    pk: bool,
}

/// A captured table: names, columns in tuple order, and its schemas.
#[derive(Debug, Clone)]
struct Relation {
    schema: String,
    table: String,
    columns: Vec<Column>,
    key_schema: Option<Schema>,
    envelope: Schema,
    topic: String,
}

/// The transactions a snapshot saw (`pg_current_snapshot()`), by 32-bit xid.
#[derive(Debug, Clone)]
struct Seen {
    xmin: u32,
    xmax: u32,
    xip: Vec<u32>,
}

impl Seen {
    fn parse(s: &str) -> Option<Seen> {
        let mut parts = s.split(':');
        let xmin = parts.next()?.parse::<u64>().ok()? as u32;
        let xmax = parts.next()?.parse::<u64>().ok()? as u32;
        let xip =
            parts.next().unwrap_or("").split(',').filter_map(|x| x.parse::<u64>().ok()).map(|x| x as u32).collect();
        Some(Seen { xmin, xmax, xip })
    }
    /// Was `xid` committed before the snapshot (so its rows are in it)?
    fn saw(&self, xid: u32) -> bool {
        let before = |a: u32, b: u32| (a.wrapping_sub(b) as i32) < 0;
        before(xid, self.xmin) || (before(xid, self.xmax) && !self.xip.contains(&xid))
    }
}

/// One row change: relation oid, op (`c`/`u`/`d`), old and new tuple.
type Change = (u32, char, Option<Vec<Cell>>, Option<Vec<Cell>>);

/// A transaction being read.
struct Txn {
    commit_lsn: Lsn,
    xid: u32,
    ts_micros: i64,
    changes: Vec<Change>,
}

#[derive(Default)]
pub struct PostgresTask {
    s: Option<Settings>,
    conn: Option<PgConn>,
    read_slot: String,
    relations: HashMap<u32, Relation>,
    /// Skip changes at or below this (commit LSN, event number): already sent.
    resume: Option<(u64, i64)>,
    snapshot_pending: bool,
    seen: Option<Seen>,
    txn: Option<Txn>,
    pending: VecDeque<SourceRecord>,
    /// End of the last transaction read from the temporary slot.
    consumed_end: Lsn,
    /// End of the last transaction whose records were all returned by poll.
    returned_end: Lsn,
    /// Where the durable slot was last advanced to.
    advanced: Lsn,
    partition: SourceMap,
}

impl PostgresTask {
    fn conn(&self) -> Result<&PgConn> {
        self.conn.as_ref().ok_or_else(|| ConnectError::Task("the PostgreSQL task is not started".into()))
    }

    fn settings(&self) -> Result<&Settings> {
        self.s.as_ref().ok_or_else(|| ConnectError::Task("the PostgreSQL task is not started".into()))
    }

    fn included(&self, schema: &str, table: &str) -> bool {
        let Some(s) = &self.s else { return false };
        let name = format!("{schema}.{table}");
        s.include.is_empty() || s.include.iter().any(|r| r.is_match(&name))
    }

    /// The table's columns from the catalog (nullability, primary key),
    /// in `order` when a Relation message gave one.
    fn relation(&self, oid: u32, order: Option<&[RelColumn]>) -> Result<Relation> {
        let s = self.settings()?;
        let c = self.conn()?;
        let oid_text = [Text(Some(oid.to_string()))];
        let names = c.query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = $1::oid",
            &oid_text,
        )?;
        let Some(row) = names.first() else {
            return Err(ConnectError::Task(format!("a change for table oid {oid}, which no longer exists")));
        };
        let (schema, table): (String, String) =
            (row.try_get(0).map_err(|e| task_err(&e))?, row.try_get(1).map_err(|e| task_err(&e))?);
        let rows = c.query(
            "SELECT a.attname::text, a.atttypid::int8, a.attnotnull, COALESCE(a.attnum = ANY(i.indkey), false) FROM \
             pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary WHERE a.attrelid = \
             $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            &oid_text,
        )?;
        let mut catalog = Vec::new();
        for r in rows {
            let name: String = r.try_get(0).map_err(|e| task_err(&e))?;
            let ty: i64 = r.try_get(1).map_err(|e| task_err(&e))?;
            let notnull: bool = r.try_get(2).map_err(|e| task_err(&e))?;
            let pk: bool = r.try_get(3).map_err(|e| task_err(&e))?;
            catalog.push(Column { name, type_oid: ty as u32, kind: kind_of(ty as u32), optional: !notnull, pk });
        }
        let columns = match order {
            None => catalog,
            Some(rel) => rel
                .iter()
                .map(|rc| {
                    let known = catalog.iter().find(|c| c.name == rc.name);
                    Column {
                        name: rc.name.clone(),
                        type_oid: rc.type_oid,
                        kind: kind_of(rc.type_oid),
                        optional: known.is_none_or(|c| c.optional),
                        pk: known.is_some_and(|c| c.pk),
                    }
                })
                .collect(),
        };
        Ok(build_relation(&s.prefix, schema, table, columns))
    }

    /// Reads every published, included table in one snapshot as `r` events.
    fn snapshot(&mut self) -> Result<()> {
        let (publication, db) = {
            let s = self.settings()?;
            (s.publication.clone(), s.target.dbname.clone())
        };
        let c = self.conn()?;
        c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let result = self.snapshot_rows(&publication, &db);
        let c = self.conn()?;
        c.batch("COMMIT")?;
        let (mut records, seen, rels) = result?;
        self.seen = seen;
        self.relations.extend(rels);
        let n = records.len();
        for (i, r) in records.iter_mut().enumerate() {
            let last = i + 1 == n;
            r.source_offset =
                offset_map(json!({"snapshot": true, "last_snapshot_record": last, "lsn": 0, "txId": 0, "event": 0}));
            if last {
                if let Data::Struct(fields) = &mut r.value {
                    if let Some((_, Data::Struct(src))) = fields.iter_mut().find(|(n, _)| n == "source") {
                        if let Some((_, v)) = src.iter_mut().find(|(n, _)| n == "snapshot") {
                            *v = Data::String("last".into());
                        }
                    }
                }
            }
        }
        tracing::info!(rows = n, "PostgreSQL snapshot read");
        self.pending.extend(records);
        Ok(())
    }

    /// The rows of every published, included table, inside the caller's
    /// snapshot transaction; with the snapshot's transaction set.
    #[allow(clippy::type_complexity)]
    fn snapshot_rows(
        &self,
        publication: &str,
        db: &str,
    ) -> Result<(Vec<SourceRecord>, Option<Seen>, Vec<(u32, Relation)>)> {
        let c = self.conn()?;
        let seen = c.query("SELECT pg_current_snapshot()::text", &[])?;
        let seen = seen.first().and_then(|r| r.try_get::<_, String>(0).ok()).and_then(|s| Seen::parse(&s));
        let tables = c.query(
            "SELECT (quote_ident(schemaname) || '.' || quote_ident(tablename))::regclass::oid::int8, \
             schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 2, 3",
            &[Text(Some(publication.to_string()))],
        )?;
        let mut records = Vec::new();
        let mut rels = Vec::new();
        for t in tables {
            let oid: i64 = t.try_get(0).map_err(|e| task_err(&e))?;
            let schema: String = t.try_get(1).map_err(|e| task_err(&e))?;
            let table: String = t.try_get(2).map_err(|e| task_err(&e))?;
            if !self.included(&schema, &table) {
                continue;
            }
            let rel = self.relation(oid as u32, None)?;
            let list: Vec<String> = rel.columns.iter().map(|c| format!("{}::text", quote_ident(&c.name))).collect();
            let sql = format!(
                "SELECT {} FROM {}.{}",
                if list.is_empty() { "1".to_string() } else { list.join(", ") },
                quote_ident(&schema),
                quote_ident(&table)
            );
            let now = now_ms();
            for row in c.query(&sql, &[])? {
                let mut cells = Vec::with_capacity(rel.columns.len());
                for i in 0..rel.columns.len() {
                    let v: Option<String> = row.try_get(i).map_err(|e| task_err(&e))?;
                    cells.push(v.map_or(Cell::Null, Cell::Text));
                }
                let src = Source { db, lsn: None, txid: None, ts_ms: now, snapshot: "true" };
                let (key, value) = event(&rel, 'r', None, Some(&cells), &src)?;
                records.push(record(&rel, key, Some(value), SourceMap::new(), self.partition.clone()));
            }
            rels.push((oid as u32, rel));
        }
        Ok((records, seen, rels))
    }

    /// Reads the next transactions from the temporary slot into `pending`.
    fn stream(&mut self) -> Result<()> {
        let (publication, max) = {
            let s = self.settings()?;
            (s.publication.clone(), s.max_batch)
        };
        let sql = format!(
            "SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, {max}, 'proto_version', '1', \
             'publication_names', {})",
            quote_literal(&publication)
        );
        let rows = self.conn()?.query(&sql, &[Text(Some(self.read_slot.clone()))])?;
        for row in rows {
            let data: Vec<u8> = row.try_get(0).map_err(|e| task_err(&e))?;
            let msg = pgoutput::decode(&data).map_err(|e| ConnectError::Task(e.to_string()))?;
            self.apply(msg)?;
        }
        Ok(())
    }

    fn apply(&mut self, msg: Message) -> Result<()> {
        match msg {
            Message::Begin { final_lsn, commit_ts, xid } => {
                self.txn = Some(Txn {
                    commit_lsn: final_lsn,
                    xid,
                    ts_micros: commit_ts + PG_EPOCH_MICROS,
                    changes: Vec::new(),
                });
            }
            Message::Relation { oid, columns, .. } => {
                let same = self.relations.get(&oid).is_some_and(|r| {
                    r.columns.len() == columns.len()
                        && r.columns.iter().zip(&columns).all(|(a, b)| a.name == b.name && a.type_oid == b.type_oid)
                });
                if !same {
                    let rel = self.relation(oid, Some(&columns))?;
                    self.relations.insert(oid, rel);
                }
            }
            Message::Insert { oid, new } => self.change(oid, 'c', None, Some(new)),
            Message::Update { oid, old, new, .. } => self.change(oid, 'u', old, Some(new)),
            Message::Delete { oid, old, .. } => self.change(oid, 'd', Some(old), None),
            Message::Truncate { oids } => {
                tracing::warn!(?oids, "PostgreSQL TRUNCATE is not captured; the truncated rows get no delete events");
            }
            Message::Commit { end_lsn, .. } => {
                if let Some(txn) = self.txn.take() {
                    self.finish(txn)?;
                }
                self.consumed_end = end_lsn;
            }
            Message::Ignored(_) => {}
        }
        Ok(())
    }

    fn change(&mut self, oid: u32, op: char, before: Option<Vec<Cell>>, after: Option<Vec<Cell>>) {
        if let Some(txn) = &mut self.txn {
            txn.changes.push((oid, op, before, after));
        }
    }

    /// A committed transaction's events, unless the snapshot or an earlier
    /// run already sent them.
    fn finish(&mut self, txn: Txn) -> Result<()> {
        if self.seen.as_ref().is_some_and(|s| s.saw(txn.xid)) {
            return Ok(());
        }
        let (db, tombstones) = {
            let s = self.settings()?;
            (s.target.dbname.clone(), s.tombstones)
        };
        let lsn = txn.commit_lsn.0;
        if self.resume.is_some_and(|(l, _)| lsn < l) {
            return Ok(());
        }
        let mut n = 0i64;
        for (oid, op, before, after) in &txn.changes {
            let Some(rel) = self.relations.get(oid) else {
                return Err(ConnectError::Task(format!(
                    "a change for table oid {oid} came before its Relation message"
                )));
            };
            if !self.included(&rel.schema, &rel.table) {
                continue;
            }
            let src = Source {
                db: &db,
                lsn: Some(lsn as i64),
                txid: Some(txn.xid.into()),
                ts_ms: txn.ts_micros.div_euclid(1000),
                snapshot: "false",
            };
            let (key, value) = event(rel, *op, before.as_deref(), after.as_deref(), &src)?;
            let mut out = vec![(key.clone(), Some(value))];
            if *op == 'd' && tombstones {
                out.push((key, None));
            }
            for (key, value) in out {
                n += 1;
                if self.resume.is_some_and(|(l, e)| lsn == l && n <= e) {
                    continue;
                }
                let offset = offset_map(json!({"lsn": lsn, "txId": txn.xid, "event": n, "ts_usec": txn.ts_micros}));
                self.pending.push_back(record(rel, key, value, offset, self.partition.clone()));
            }
        }
        Ok(())
    }
}

fn task_err(e: &tokio_postgres::Error) -> ConnectError {
    ConnectError::Task(format!("reading from PostgreSQL: {e}"))
}

fn offset_map(v: Value) -> SourceMap {
    match v {
        Value::Object(m) => m,
        _ => SourceMap::new(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The Connect kind a column of this PostgreSQL type is sent as.
fn kind_of(type_oid: u32) -> ColKind {
    match type_oid {
        16 => ColKind::Bool,
        21 => ColKind::I16,
        23 => ColKind::I32,
        20 | 26 => ColKind::I64,
        700 => ColKind::F32,
        701 => ColKind::F64,
        17 => ColKind::Bytes,
        _ => ColKind::Text,
    }
}

fn build_relation(prefix: &str, schema: String, table: String, columns: Vec<Column>) -> Relation {
    let base = format!("{prefix}.{schema}.{table}");
    let row_fields = columns.iter().map(|c| (c.name.clone(), c.kind.schema(c.optional))).collect();
    let row_schema = Schema::structure(Some(&format!("{base}.Value")), row_fields, true);
    let key_fields: Vec<(String, Schema)> =
        columns.iter().filter(|c| c.pk).map(|c| (c.name.clone(), c.kind.schema(false))).collect();
    let key_schema = if key_fields.is_empty() {
        None
    } else {
        Some(Schema::structure(Some(&format!("{base}.Key")), key_fields, false))
    };
    let string = Schema::string;
    let opt = |k| Schema::of(k, true);
    let mut source = Schema::structure(
        Some("io.debezium.connector.postgresql.Source"),
        vec![
            ("version".into(), string()),
            ("connector".into(), string()),
            ("name".into(), string()),
            ("ts_ms".into(), Schema::of(SchemaType::Int64, false)),
            ("snapshot".into(), Schema::optional_string()),
            ("db".into(), string()),
            ("schema".into(), string()),
            ("table".into(), string()),
            ("txId".into(), opt(SchemaType::Int64)),
            ("lsn".into(), opt(SchemaType::Int64)),
        ],
        false,
    );
    source.optional = false;
    let envelope = Schema::structure(
        Some(&format!("{base}.Envelope")),
        vec![
            ("before".into(), row_schema.clone()),
            ("after".into(), row_schema.clone()),
            ("source".into(), source),
            ("op".into(), string()),
            ("ts_ms".into(), opt(SchemaType::Int64)),
        ],
        false,
    );
    Relation { topic: base, schema, table, columns, key_schema, envelope }
}

/// The `source` block's changing parts.
struct Source<'a> {
    db: &'a str,
    lsn: Option<i64>,
    txid: Option<i64>,
    ts_ms: i64,
    snapshot: &'a str,
}

/// A cell in its Connect form.
fn cell_data(col: &Column, cell: &Cell) -> Result<Data> {
    let text = match cell {
        Cell::Null => return Ok(Data::Null),
        Cell::Unchanged => {
            return Ok(if col.kind == ColKind::Text { Data::String(UNAVAILABLE.into()) } else { Data::Null });
        }
        Cell::Text(t) => t,
    };
    let bad = || ConnectError::Task(format!("column {}: {text:?} is not a {:?} value", col.name, col.kind));
    Ok(match col.kind {
        ColKind::Bool => Data::Boolean(text == "t" || text == "true"),
        ColKind::I16 | ColKind::I32 | ColKind::I64 => Data::Int(text.parse().map_err(|_| bad())?),
        ColKind::F32 | ColKind::F64 => Data::Float(text.parse().map_err(|_| bad())?),
        ColKind::Bytes => {
            let hex = text.strip_prefix("\\x").ok_or_else(bad)?;
            let mut out = Vec::with_capacity(hex.len() / 2);
            let b = hex.as_bytes();
            if b.len() % 2 != 0 {
                return Err(bad());
            }
            for pair in b.chunks(2) {
                let s = std::str::from_utf8(pair).map_err(|_| bad())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            }
            Data::Bytes(out.into())
        }
        _ => Data::String(text.clone()),
    })
}

fn row(rel: &Relation, cells: &[Cell]) -> Result<Data> {
    let mut fields = Vec::with_capacity(rel.columns.len());
    for (i, col) in rel.columns.iter().enumerate() {
        fields.push((col.name.clone(), cell_data(col, cells.get(i).unwrap_or(&Cell::Null))?));
    }
    Ok(Data::Struct(fields))
}

/// Key and envelope of one change.
fn event(
    rel: &Relation,
    op: char,
    before: Option<&[Cell]>,
    after: Option<&[Cell]>,
    src: &Source<'_>,
) -> Result<(Data, Data)> {
    let before = before.map(|c| row(rel, c)).transpose()?;
    let after = after.map(|c| row(rel, c)).transpose()?;
    let key = match (&rel.key_schema, after.as_ref().or(before.as_ref())) {
        (Some(ks), Some(r)) => {
            Data::Struct(ks.fields.iter().map(|(n, _)| (n.clone(), r.get(n).cloned().unwrap_or(Data::Null))).collect())
        }
        _ => Data::Null,
    };
    let opt_int = |v: Option<i64>| v.map_or(Data::Null, Data::Int);
    let source = Data::Struct(vec![
        ("version".into(), Data::String(env!("CARGO_PKG_VERSION").into())),
        ("connector".into(), Data::String("postgresql".into())),
        ("name".into(), Data::String(rel.topic.split('.').next().unwrap_or("").into())),
        ("ts_ms".into(), Data::Int(src.ts_ms)),
        ("snapshot".into(), Data::String(src.snapshot.into())),
        ("db".into(), Data::String(src.db.into())),
        ("schema".into(), Data::String(rel.schema.clone())),
        ("table".into(), Data::String(rel.table.clone())),
        ("txId".into(), opt_int(src.txid)),
        ("lsn".into(), opt_int(src.lsn)),
    ]);
    let value = Data::Struct(vec![
        ("before".into(), before.unwrap_or(Data::Null)),
        ("after".into(), after.unwrap_or(Data::Null)),
        ("source".into(), source),
        ("op".into(), Data::String(op.to_string())),
        ("ts_ms".into(), Data::Int(now_ms())),
    ]);
    Ok((key, value))
}

fn record(rel: &Relation, key: Data, value: Option<Data>, offset: SourceMap, partition: SourceMap) -> SourceRecord {
    let key_schema = if key.is_null() { None } else { rel.key_schema.clone() };
    let (value_schema, value) = match value {
        Some(v) => (Some(rel.envelope.clone()), v),
        None => (None, Data::Null),
    };
    SourceRecord {
        source_partition: partition,
        source_offset: offset,
        topic: rel.topic.clone(),
        partition: None,
        key_schema,
        key,
        value_schema,
        value,
        timestamp: None,
    }
}

impl SourceTask for PostgresTask {
    fn start(&mut self, config: &Config, offsets: &dyn OffsetReader) -> Result<()> {
        let s = settings(config)?;
        let conn = PgConn::connect(&s.target, None, None)?;
        let level = conn.query("SHOW wal_level", &[])?;
        let level: String = level.first().and_then(|r| r.try_get(0).ok()).unwrap_or_default();
        if level != "logical" {
            return Err(ConnectError::Task(format!(
                "PostgreSQL's wal_level is {level}; change capture needs wal_level=logical"
            )));
        }
        let exists = !conn
            .query("SELECT 1 FROM pg_publication WHERE pubname = $1", &[Text(Some(s.publication.clone()))])?
            .is_empty();
        if !exists {
            let plain = |n: &String| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            let target = if s.include_names.is_empty() || !s.include_names.iter().all(plain) {
                "FOR ALL TABLES".to_string()
            } else {
                let names: Vec<String> = s
                    .include_names
                    .iter()
                    .map(|n| n.split('.').map(quote_ident).collect::<Vec<_>>().join("."))
                    .collect();
                format!("FOR TABLE {}", names.join(", "))
            };
            tracing::info!(publication = s.publication, target, "creating the publication");
            conn.batch(&format!("CREATE PUBLICATION {} {target}", quote_ident(&s.publication)))?;
        }
        let slot = [Text(Some(s.slot.clone()))];
        let existing = conn.query("SELECT plugin::text FROM pg_replication_slots WHERE slot_name = $1", &slot)?;
        match existing.first().map(|r| r.try_get::<_, Option<String>>(0)) {
            Some(Ok(Some(p))) if p == "pgoutput" => {}
            Some(_) => {
                return Err(ConnectError::Task(format!(
                    "replication slot {} exists but does not use the pgoutput plugin",
                    s.slot
                )))
            }
            None => {
                tracing::info!(slot = s.slot, "creating the replication slot");
                conn.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", &slot)?;
            }
        }
        let mut partition = SourceMap::new();
        partition.insert("server".into(), json!(s.prefix));
        let stored = offsets.offset(&partition);
        let snapshot_done = match &stored {
            None => false,
            Some(o) => {
                o.get("snapshot").and_then(Value::as_bool) != Some(true)
                    || o.get("last_snapshot_record").and_then(Value::as_bool) == Some(true)
            }
        };
        if let Some(o) = &stored {
            let lsn = o.get("lsn").and_then(Value::as_u64).unwrap_or(0);
            let event = o.get("event").and_then(Value::as_i64).unwrap_or(i64::MAX);
            if lsn > 0 {
                self.resume = Some((lsn, event));
            }
            tracing::info!(offset = ?o, "PostgreSQL change capture resumes after its stored offset");
        }
        self.snapshot_pending = s.snapshot && !snapshot_done;
        // A session-private copy to consume; the durable slot moves only in commit().
        // Unique per process and task: two connectors on one slot must not share a copy.
        static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.read_slot = format!("{}_r{}_{n}", s.slot, std::process::id());
        self.read_slot.truncate(63);
        conn.query(
            "SELECT pg_copy_logical_replication_slot($1, $2, true)",
            &[slot[0].clone(), Text(Some(self.read_slot.clone()))],
        )?;
        self.partition = partition;
        self.conn = Some(conn);
        self.s = Some(s);
        Ok(())
    }

    fn poll(&mut self) -> Result<Vec<SourceRecord>> {
        if self.conn.is_none() {
            return Ok(Vec::new());
        }
        if self.snapshot_pending {
            self.snapshot_pending = false;
            self.snapshot()?;
        }
        if self.pending.is_empty() {
            self.stream()?;
        }
        let max = self.s.as_ref().map_or(2048, |s| s.max_batch);
        let n = self.pending.len().min(max);
        let out: Vec<SourceRecord> = self.pending.drain(..n).collect();
        if self.pending.is_empty() {
            self.returned_end = self.consumed_end;
        }
        Ok(out)
    }

    fn commit(&mut self) -> Result<()> {
        if self.returned_end <= self.advanced {
            return Ok(());
        }
        let (Some(s), Some(c)) = (&self.s, &self.conn) else { return Ok(()) };
        c.query(
            "SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
            &[Text(Some(s.slot.clone())), Text(Some(self.returned_end.to_string()))],
        )?;
        tracing::debug!(slot = s.slot, lsn = %self.returned_end, "replication slot advanced");
        self.advanced = self.returned_end;
        Ok(())
    }

    fn stop(&mut self) {
        // The temporary slot goes with the session.
        self.conn = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_what_committed_before_it() {
        let s = Seen::parse("100:105:101,103").unwrap();
        assert!(s.saw(99) && s.saw(102) && s.saw(104));
        assert!(!s.saw(101) && !s.saw(103) && !s.saw(105) && !s.saw(200));
    }

    /// A task with one known table and no connection, fed messages directly.
    fn task(resume: Option<(u64, i64)>) -> PostgresTask {
        let mut c = Config::new();
        for (k, v) in [("database.hostname", "h"), ("database.dbname", "db"), ("topic.prefix", "srv")] {
            c.insert(k.into(), v.into());
        }
        let col = |name: &str, type_oid: u32, pk: bool| Column {
            name: name.into(),
            type_oid,
            kind: kind_of(type_oid),
            optional: !pk,
            pk,
        };
        let rel = build_relation("srv", "public".into(), "t".into(), vec![col("id", 23, true), col("v", 25, false)]);
        let mut t = PostgresTask { s: Some(settings(&c).unwrap()), resume, ..PostgresTask::default() };
        t.relations.insert(7, rel);
        t.partition = offset_map(json!({"server": "srv"}));
        t
    }

    fn txn(t: &mut PostgresTask, lsn: u64, xid: u32, msgs: Vec<Message>) {
        t.apply(Message::Begin { final_lsn: Lsn(lsn), commit_ts: 0, xid }).unwrap();
        for m in msgs {
            t.apply(m).unwrap();
        }
        t.apply(Message::Commit { commit_lsn: Lsn(lsn), end_lsn: Lsn(lsn + 8), commit_ts: 0 }).unwrap();
    }

    fn cells(id: &str, v: Option<&str>) -> Vec<Cell> {
        vec![Cell::Text(id.into()), v.map_or(Cell::Null, |v| Cell::Text(v.into()))]
    }

    #[test]
    fn events_carry_offsets_and_a_restart_skips_exactly_what_was_sent() {
        let changes = || {
            vec![
                Message::Insert { oid: 7, new: cells("1", Some("a")) },
                Message::Delete { oid: 7, old: cells("1", None), old_is_key: true },
            ]
        };
        let mut t = task(None);
        txn(&mut t, 100, 5, changes());
        let r: Vec<SourceRecord> = t.pending.drain(..).collect();
        assert_eq!(r.len(), 3, "insert, delete, tombstone");
        assert_eq!(r[0].topic, "srv.public.t");
        assert_eq!(r[0].source_partition["server"], json!("srv"));
        assert_eq!(
            r[1].source_offset,
            offset_map(json!({"lsn": 100, "txId": 5, "event": 2, "ts_usec": PG_EPOCH_MICROS}))
        );
        assert_eq!(r[1].value.get("op"), Some(&Data::String("d".into())));
        assert_eq!(r[2].value, Data::Null);
        assert_eq!(r[2].key, Data::Struct(vec![("id".into(), Data::Int(1))]));
        assert_eq!(t.consumed_end, Lsn(108));
        // Stored offset: event 1 of the transaction at 100. The slot lagged and replays 90 and 100.
        let mut t = task(Some((100, 1)));
        txn(&mut t, 90, 4, changes());
        txn(&mut t, 100, 5, changes());
        txn(&mut t, 110, 6, changes());
        let events: Vec<(i64, i64)> = t
            .pending
            .iter()
            .map(|r| (r.source_offset["lsn"].as_i64().unwrap(), r.source_offset["event"].as_i64().unwrap()))
            .collect();
        assert_eq!(events, [(100, 2), (100, 3), (110, 1), (110, 2), (110, 3)]);
        // A snapshot that saw transaction 6 drops it from the stream.
        let mut t = task(None);
        t.seen = Seen::parse("7:7:");
        txn(&mut t, 110, 6, changes());
        assert!(t.pending.is_empty());
    }

    #[test]
    fn cells_become_connect_values_by_type() {
        let col = |type_oid| Column { name: "c".into(), type_oid, kind: kind_of(type_oid), optional: true, pk: false };
        assert_eq!(cell_data(&col(23), &Cell::Text("42".into())).unwrap(), Data::Int(42));
        assert_eq!(cell_data(&col(16), &Cell::Text("t".into())).unwrap(), Data::Boolean(true));
        assert_eq!(cell_data(&col(701), &Cell::Text("1.5".into())).unwrap(), Data::Float(1.5));
        assert_eq!(cell_data(&col(17), &Cell::Text("\\x4142".into())).unwrap(), Data::Bytes("AB".into()));
        assert_eq!(cell_data(&col(1700), &Cell::Text("12.30".into())).unwrap(), Data::String("12.30".into()));
        assert_eq!(cell_data(&col(25), &Cell::Unchanged).unwrap(), Data::String(UNAVAILABLE.into()));
        assert_eq!(cell_data(&col(23), &Cell::Null).unwrap(), Data::Null);
        assert!(cell_data(&col(23), &Cell::Text("x".into())).is_err());
        assert!(cell_data(&col(17), &Cell::Text("\\x4".into())).is_err());
    }
}
