//! A blocking PostgreSQL connection for connector tasks, over tokio-postgres.
//!
//! Each connection owns a small current-thread runtime that drives its
//! socket while a call waits, so a task can use it from any thread: from a
//! blocking thread (where the worker runs tasks) directly, and from inside
//! the worker's multi-thread runtime through `block_in_place`. Owning the
//! runtime keeps the connection independent of how the worker schedules
//! tasks, and of whether a connector's config check runs inside a runtime
//! at all.
//!
//! Parameters go to the server as text ([`Text`]), which PostgreSQL parses
//! into whatever type the statement expects: one path for every column type
//! without a Rust type per PostgreSQL type.

use std::future::Future;

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Row, Statement};

use super::url::PgTarget;
use crate::connect::{ConnectError, Result};

/// A database error as the task error: PostgreSQL's own message (with its
/// detail), after what we were doing.
pub fn error(doing: &str, e: tokio_postgres::Error) -> ConnectError {
    match e.as_db_error() {
        Some(db) => {
            let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            ConnectError::Task(format!("{doing}: {}: {}{detail}", db.severity(), db.message()))
        }
        None => ConnectError::Task(format!("{doing}: {e}")),
    }
}

/// A parameter sent in text format: PostgreSQL parses it as the type the
/// statement needs there. `None` is SQL NULL.
#[derive(Debug, Clone)]
pub struct Text(pub Option<String>);

impl ToSql for Text {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }
    tokio_postgres::types::to_sql_checked!();
}

/// Text parameters as tokio-postgres wants them.
pub fn params(values: &[Text]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// One connection to PostgreSQL.
pub struct PgConn {
    runtime: Option<tokio::runtime::Runtime>,
    client: tokio_postgres::Client,
}

impl PgConn {
    /// Connects with the URL's target; `user`/`password` (the connector's
    /// `connection.user`/`connection.password`) win over the URL's.
    pub fn connect(target: &PgTarget, user: Option<&str>, password: Option<&str>) -> Result<PgConn> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConnectError::Task(format!("cannot start a runtime for PostgreSQL: {e}")))?;
        let mut config = tokio_postgres::Config::new();
        config.host(&target.host).port(target.port).dbname(&target.dbname);
        config.application_name("gregor-connect");
        config.connect_timeout(std::time::Duration::from_secs(30));
        let user = user.map(str::to_string).or_else(|| target.user.clone()).or_else(|| std::env::var("USER").ok());
        config.user(user.as_deref().unwrap_or("postgres"));
        if let Some(p) = password.or(target.password.as_deref()) {
            config.password(p);
        }
        let where_ = format!("{}:{}/{}", target.host, target.port, target.dbname);
        let connected = run(&runtime, async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = connected.map_err(|e| error(&format!("connecting to PostgreSQL at {where_}"), e))?;
        Ok(PgConn { runtime: Some(runtime), client })
    }

    /// Runs one client call to its end; a failure names what was done.
    fn call<T>(&self, what: &str, f: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T> {
        match &self.runtime {
            Some(rt) => run(rt, f).map_err(|e| error(what, e)),
            None => Err(ConnectError::Task(format!("{what}: the PostgreSQL connection is closed"))),
        }
    }

    pub fn batch(&self, sql: &str) -> Result<()> {
        self.call(sql, self.client.batch_execute(sql))
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement> {
        self.call(sql, self.client.prepare(sql))
    }

    pub fn query(&self, sql: &str, values: &[Text]) -> Result<Vec<Row>> {
        self.call(sql, self.client.query(sql, &params(values)))
    }

    pub fn query_stmt(&self, stmt: &Statement, values: &[Text], what: &str) -> Result<Vec<Row>> {
        self.call(what, self.client.query(stmt, &params(values)))
    }

    pub fn execute(&self, sql: &str, values: &[Text]) -> Result<u64> {
        self.call(sql, self.client.execute(sql, &params(values)))
    }

    pub fn execute_stmt(&self, stmt: &Statement, values: &[Text], what: &str) -> Result<u64> {
        self.call(what, self.client.execute(stmt, &params(values)))
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Dropping a runtime may block; this one has nothing left to wait for.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Drives `f` on `rt`, stepping out of a surrounding multi-thread runtime
/// first when there is one (blocking inside it is not allowed otherwise).
fn run<F: Future>(rt: &tokio::runtime::Runtime, f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(f))
        }
        _ => rt.block_on(f),
    }
}

/// `"name"` with quotes doubled: an identifier PostgreSQL and SQLite read as is.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A dotted name (`schema.table`) quoted part by part.
pub fn quote_path(name: &str) -> String {
    name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

/// `'text'` with quotes doubled: a string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
