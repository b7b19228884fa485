//! The SQL connectors end to end: `gregor connect-standalone` (a real
//! child process) with a real broker and a real database — SQLite files,
//! and a PostgreSQL server started for the test — JsonConverter with
//! schemas. The JDBC-style source picks up new and updated rows and
//! resumes after a restart without repeating any; PostgreSQL change capture
//! delivers inserts, updates and deletes (a "d" event, then a tombstone) in
//! commit order, survives a restart, and advances its replication slot only
//! once records are acknowledged; the sink writes topics into tables.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::postgres::TestPostgres;
use crate::common::{bin_script, stderr, ChildGuard, TestBroker};

const WAIT: Duration = Duration::from_secs(90);

fn worker_properties(dir: &Path, bootstrap: &str, flush_ms: u64) -> PathBuf {
    let text = format!(
        "bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:0\nkey.converter=org.apache.kafka.connect.json.JsonConverter\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\nkey.converter.schemas.enable=true\n\
         value.converter.schemas.enable=true\noffset.storage.file.filename={}\noffset.flush.interval.ms={flush_ms}\n",
        dir.join("connect.offsets").display()
    );
    let path = dir.join("worker.properties");
    std::fs::write(&path, text).expect("worker config");
    path
}

fn connector(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.properties"));
    std::fs::write(&path, format!("name={name}\n{}\n", lines.join("\n"))).expect("connector config");
    path
}

fn start_worker(dir: &Path, worker: &Path, connectors: &[&Path]) -> ChildGuard {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("worker.log")).expect("log");
    ChildGuard(Some(
        bin_script("connect-standalone.sh")
            .arg(worker)
            .args(connectors)
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the worker"),
    ))
}

fn worker_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default()
}

/// The first `n` records of `topic` as (key, value) JSON (`null` for a null).
fn consume(bs: &str, topic: &str, n: usize, dir: &Path) -> Vec<(Value, Value)> {
    let out = bin_script("kafka-console-consumer.sh")
        .args(["--bootstrap-server", bs, "--topic", topic, "--from-beginning"])
        .args(["--max-messages", &n.to_string(), "--timeout-ms", &WAIT.as_millis().to_string()])
        .args(["--property", "print.key=true", "--property", "key.separator=\t"])
        .output()
        .expect("console consumer");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let records: Vec<(Value, Value)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or(("null", l));
            (serde_json::from_str(k).unwrap_or(Value::Null), serde_json::from_str(v).unwrap_or(Value::Null))
        })
        .collect();
    assert_eq!(records.len(), n, "{topic}: {text}\n{}\nworker log:\n{}", stderr(&out), worker_log(dir));
    records
}

fn payloads(records: &[(Value, Value)]) -> Vec<Value> {
    records.iter().map(|(_, v)| v["payload"].clone()).collect()
}

fn sqlite(path: &Path, sql: &str) {
    let c = rusqlite::Connection::open(path).expect("open sqlite");
    c.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    c.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn sqlite_rows(path: &Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).expect("open sqlite");
    c.busy_timeout(Duration::from_secs(30)).expect("busy timeout");
    let Ok(mut stmt) = c.prepare(sql) else { return Vec::new() };
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i) {
                    Ok(v) => match v {
                        rusqlite::types::ValueRef::Null => "null".to_string(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                    },
                    Err(_) => "?".into(),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .map(|rows| rows.filter_map(Result::ok).collect::<Vec<_>>());
    rows.unwrap_or_default()
}

/// Polls `f` until it returns `want` or the wait is over (then fails with the last answer).
fn wait_for<T: PartialEq + std::fmt::Debug>(what: &str, want: T, dir: &Path, mut f: impl FnMut() -> T) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = f();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: got {got:?}, want {want:?}\nworker log:\n{}", worker_log(dir));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sqlite_source_picks_up_new_and_updated_rows_resumes_without_duplicates_and_sinks_into_sqlite() {
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let db = d.join("shop.db");
    sqlite(
        &db,
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, active BOOLEAN);
         INSERT INTO users (name, score, active) VALUES ('ada', 1.5, 1), ('bob', NULL, 0);
         CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT,
                             modified TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')));
         INSERT INTO items (id, v) VALUES (1, 'one'), (2, 'two');",
    );
    let url = format!("connection.url=jdbc:sqlite:{}", db.display());
    let worker = worker_properties(d, &bs, 500);
    let inc = connector(
        d,
        "sqlite-inc",
        &[
            "connector.class=io.confluent.connect.jdbc.JdbcSourceConnector",
            &url,
            "mode=incrementing",
            "incrementing.column.name=id",
            "table.whitelist=users",
            "topic.prefix=sqlite-",
            "poll.interval.ms=200",
        ],
    );
    let tsinc = connector(
        d,
        "sqlite-tsinc",
        &[
            "connector.class=JdbcSource",
            &url,
            "mode=timestamp+incrementing",
            "incrementing.column.name=id",
            "timestamp.column.name=modified",
            "table.include.list=items",
            "topic.prefix=ts-",
            "poll.interval.ms=200",
        ],
    );
    let sink_db = d.join("copy.db");
    let sink = connector(
        d,
        "sqlite-sink",
        &[
            "connector.class=io.confluent.connect.jdbc.JdbcSinkConnector",
            &format!("connection.url=jdbc:sqlite:{}", sink_db.display()),
            "topics=sqlite-users",
            "table.name.format=copy_${topic}",
            "insert.mode=upsert",
            "pk.mode=record_value",
            "pk.fields=id",
            "auto.create=true",
        ],
    );
    let mut w = start_worker(d, &worker, &[&inc, &tsinc, &sink]);
    let first = consume(&bs, "sqlite-users", 2, d);
    assert_eq!(
        first[0].1["schema"],
        serde_json::json!({"type":"struct","fields":[
            {"type":"int64","optional":false,"field":"id"},
            {"type":"string","optional":false,"field":"name"},
            {"type":"double","optional":true,"field":"score"},
            {"type":"boolean","optional":true,"field":"active"}],
            "optional":false,"name":"users"})
    );
    assert_eq!(
        payloads(&first),
        [
            serde_json::json!({"id":1,"name":"ada","score":1.5,"active":true}),
            serde_json::json!({"id":2,"name":"bob","score":null,"active":false})
        ]
    );
    sqlite(&db, "INSERT INTO users (name) VALUES ('cy')");
    assert_eq!(payloads(&consume(&bs, "sqlite-users", 3, d))[2]["name"], "cy");

    // timestamp+incrementing: both rows, then an updated row again.
    let items = consume(&bs, "ts-items", 2, d);
    assert_eq!(items[0].1["schema"]["fields"][2]["name"], "org.apache.kafka.connect.data.Timestamp");
    assert_eq!(payloads(&items).iter().map(|p| p["v"].clone()).collect::<Vec<_>>(), ["one", "two"]);
    sqlite(&db, "UPDATE items SET v = 'uno', modified = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1");
    let items = consume(&bs, "ts-items", 3, d);
    assert_eq!(items[2].1["payload"]["id"], 1);
    assert_eq!(items[2].1["payload"]["v"], "uno");

    // The sink copied the users table.
    let want: Vec<String> = ["1|ada|1.5|1", "2|bob|null|0", "3|cy|null|null"].map(String::from).to_vec();
    wait_for("copied users", want, d, || {
        sqlite_rows(&sink_db, "SELECT id, name, score, active FROM \"copy_sqlite-users\" ORDER BY id")
    });

    // Stop cleanly, add a row meanwhile, restart: it arrives, nothing repeats.
    assert_eq!(w.terminate(WAIT), Some(0), "{}", worker_log(d));
    sqlite(&db, "INSERT INTO users (name) VALUES ('dee')");
    let mut w = start_worker(d, &worker, &[&inc, &tsinc, &sink]);
    sqlite(&db, "INSERT INTO users (name) VALUES ('eve')");
    let all = consume(&bs, "sqlite-users", 5, d);
    assert_eq!(
        payloads(&all).iter().map(|p| p["id"].as_i64().unwrap_or(-1)).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "each row once, in order"
    );
    wait_for("copied users", 5, d, || sqlite_rows(&sink_db, "SELECT id FROM \"copy_sqlite-users\"").len());
    assert_eq!(w.terminate(WAIT), Some(0), "{}", worker_log(d));
}

#[test]
fn a_bad_sql_connector_config_is_an_error_naming_the_key() {
    let b = TestBroker::start(&[]);
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let worker = worker_properties(d, &b.bootstrap(), 500);
    let cases: [(&[&str], &str); 6] = [
        (&["connector.class=JdbcSource", "mode=bulk", "topic.prefix=x-"], "\"connection.url\""),
        (
            &["connector.class=JdbcSource", "connection.url=jdbc:sqlite:x.db", "mode=sometimes", "topic.prefix=x-"],
            "mode",
        ),
        (
            &["connector.class=JdbcSource", "connection.url=jdbc:sqlite:x.db", "mode=incrementing", "topic.prefix=x-"],
            "incrementing.column.name",
        ),
        (
            &["connector.class=JdbcSource", "connection.url=mysql://h/db", "mode=bulk", "topic.prefix=x-"],
            "connection.url",
        ),
        (&["connector.class=JdbcSink", "connection.url=jdbc:sqlite:x.db", "topics=t", "insert.mode=upsert"], "pk.mode"),
        (&["connector.class=PostgresConnector", "database.hostname=127.0.0.1", "database.dbname=x"], "topic.prefix"),
    ];
    for (lines, key) in cases {
        let c = connector(d, "bad", lines);
        let out = bin_script("connect-standalone.sh").arg(&worker).arg(&c).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{lines:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(key), "{lines:?} should name {key}: {}", stderr(&out));
    }
}

#[test]
fn postgresql_polling_source_and_sink_round_trip() {
    let Some(pg) = TestPostgres::start() else { return };
    pg.psql(
        "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, qty int, placed timestamptz DEFAULT now());
         INSERT INTO orders (item, qty, placed) VALUES ('apple', 3, '2024-01-02 03:04:05.678+00'), ('pear', NULL, now());",
    );
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let url = format!("connection.url={}", pg.jdbc_url());
    let worker = worker_properties(d, &bs, 500);
    let source = connector(
        d,
        "pg-poll",
        &[
            "connector.class=JdbcSourceConnector",
            &url,
            "connection.user=postgres",
            "mode=incrementing",
            "incrementing.column.name=id",
            "table.whitelist=orders",
            "topic.prefix=pg-",
            "poll.interval.ms=200",
        ],
    );
    let sink = connector(
        d,
        "pg-sink",
        &[
            "connector.class=JdbcSink",
            &url,
            "connection.user=postgres",
            "topics=pg-orders",
            "table.name.format=orders_copy",
            "insert.mode=upsert",
            "pk.mode=record_value",
            "pk.fields=id",
            "auto.create=true",
        ],
    );
    let mut w = start_worker(d, &worker, &[&source, &sink]);
    let rows = consume(&bs, "pg-orders", 2, d);
    assert_eq!(
        rows[0].1["schema"]["fields"],
        serde_json::json!([
            {"type":"int32","optional":false,"field":"id"},
            {"type":"string","optional":false,"field":"item"},
            {"type":"int32","optional":true,"field":"qty"},
            {"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"placed"}])
    );
    assert_eq!(rows[0].1["payload"]["placed"], 1_704_164_645_678i64);
    assert_eq!(rows[1].1["payload"]["item"], "pear");
    assert_eq!(rows[1].1["payload"]["qty"], Value::Null);
    pg.psql("INSERT INTO orders (item, qty) VALUES ('plum', 7)");
    assert_eq!(consume(&bs, "pg-orders", 3, d)[2].1["payload"]["item"], "plum");
    let want = "1|apple|3|2024-01-02 03:04:05.678\n2|pear||\n3|plum|7|".to_string();
    wait_for("orders_copy", want, d, || {
        // The table appears with the sink's first commit.
        pg.psql_raw(
            "SELECT id, item, qty, CASE WHEN id = 1 THEN to_char(placed, 'YYYY-MM-DD HH24:MI:SS.MS') END FROM \
             orders_copy ORDER BY id",
        )
        .unwrap_or_default()
        .trim()
        .to_string()
    });
    assert_eq!(w.terminate(WAIT), Some(0), "{}", worker_log(d));
}

fn slot_lsn(pg: &TestPostgres) -> String {
    pg.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'gregor_slot'").trim().to_string()
}

#[test]
fn postgresql_change_capture_delivers_changes_in_order_and_survives_a_restart() {
    let Some(pg) = TestPostgres::start() else { return };
    pg.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint);
         ALTER TABLE accounts REPLICA IDENTITY FULL;
         CREATE TABLE ignored (id int PRIMARY KEY);
         INSERT INTO accounts VALUES (1, 'ada', 100);",
    );
    let b = TestBroker::start(&["group.initial.rebalance.delay.ms=0"]);
    let bs = b.bootstrap();
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    // No periodic flush: the slot must not move until the worker stops and commits.
    let worker = worker_properties(d, &bs, 600_000);
    let cdc = connector(
        d,
        "pg-cdc",
        &[
            "connector.class=io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname=127.0.0.1",
            &format!("database.port={}", pg.port),
            "database.user=postgres",
            "database.dbname=postgres",
            "topic.prefix=dbserver1",
            "plugin.name=pgoutput",
            "slot.name=gregor_slot",
            "table.include.list=public.accounts",
        ],
    );
    let mut w = start_worker(d, &worker, &[&cdc]);
    let topic = "dbserver1.public.accounts";
    let snap = consume(&bs, topic, 1, d);
    assert_eq!(snap[0].0["payload"], serde_json::json!({"id": 1}));
    assert_eq!(snap[0].1["payload"]["op"], "r");
    assert_eq!(snap[0].1["payload"]["after"], serde_json::json!({"id": 1, "owner": "ada", "balance": 100}));
    assert_eq!(snap[0].1["schema"]["name"], "dbserver1.public.accounts.Envelope");
    let created = slot_lsn(&pg);
    pg.psql("INSERT INTO accounts VALUES (2, 'bob', 5); INSERT INTO ignored VALUES (1)");
    pg.psql("BEGIN; UPDATE accounts SET balance = 150 WHERE id = 1; DELETE FROM accounts WHERE id = 2; COMMIT");
    let events = consume(&bs, topic, 5, d);
    let ops: Vec<Value> = events.iter().map(|(_, v)| v["payload"]["op"].clone()).collect();
    assert_eq!(ops, [Value::from("r"), "c".into(), "u".into(), "d".into(), Value::Null]);
    let p = |i: usize| events[i].1["payload"].clone();
    assert_eq!(p(1)["after"], serde_json::json!({"id": 2, "owner": "bob", "balance": 5}));
    assert_eq!(p(1)["before"], Value::Null);
    assert_eq!(p(2)["before"], serde_json::json!({"id": 1, "owner": "ada", "balance": 100}));
    assert_eq!(p(2)["after"], serde_json::json!({"id": 1, "owner": "ada", "balance": 150}));
    assert_eq!(p(3)["before"], serde_json::json!({"id": 2, "owner": "bob", "balance": 5}));
    assert_eq!(p(3)["after"], Value::Null);
    assert_eq!(p(3)["source"]["connector"], "postgresql");
    assert_eq!(p(3)["source"]["table"], "accounts");
    assert_eq!(p(2)["source"]["txId"], p(3)["source"]["txId"], "one transaction");
    assert_eq!(events[3].0["payload"], serde_json::json!({"id": 2}));
    assert_eq!(events[4].0["payload"], serde_json::json!({"id": 2}), "the tombstone has the key");
    assert_eq!(events[4].1, Value::Null);
    // Acknowledged but not committed yet: the slot has not moved.
    assert_eq!(slot_lsn(&pg), created);
    assert_eq!(w.terminate(WAIT), Some(0), "{}", worker_log(d));
    // The clean stop stored offsets and then advanced the slot past the delete's transaction.
    let delete_lsn = p(3)["source"]["lsn"].as_i64().expect("lsn");
    assert_eq!(
        pg.psql(&format!(
            "SELECT confirmed_flush_lsn > '0/0'::pg_lsn + {delete_lsn} FROM pg_replication_slots WHERE slot_name = \
             'gregor_slot'"
        ))
        .trim(),
        "t",
        "slot at {} (was {created})",
        slot_lsn(&pg)
    );

    // Changes while stopped arrive after a restart; nothing earlier repeats.
    pg.psql("INSERT INTO accounts VALUES (3, 'cy', 0); UPDATE accounts SET owner = 'ada l.' WHERE id = 1");
    let worker = worker_properties(d, &bs, 500);
    let mut w = start_worker(d, &worker, &[&cdc]);
    pg.psql("INSERT INTO accounts VALUES (4, 'dee', 1)");
    let events = consume(&bs, topic, 8, d);
    let ops: Vec<Value> = events.iter().map(|(_, v)| v["payload"]["op"].clone()).collect();
    assert_eq!(
        ops,
        [Value::from("r"), "c".into(), "u".into(), "d".into(), Value::Null, "c".into(), "u".into(), "c".into()]
    );
    assert_eq!(events[5].1["payload"]["after"]["id"], 3);
    assert_eq!(events[6].1["payload"]["after"]["owner"], "ada l.");
    assert_eq!(events[7].1["payload"]["after"]["id"], 4);
    assert_eq!(w.terminate(WAIT), Some(0), "{}", worker_log(d));
}
