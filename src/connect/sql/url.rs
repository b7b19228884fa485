//! `connection.url` as the JDBC connectors take it: `jdbc:sqlite:<path>` or
//! `jdbc:postgresql://host[:port]/database[?user=…&password=…]` (the
//! `jdbc:` prefix optional, `postgres://` accepted too). Parsed here so that
//! a bad URL is a config error naming the key before anything connects.

use std::path::PathBuf;

use crate::connect::{ConnectError, Result};

/// Where a SQL connector's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// An SQLite file (or `:memory:`).
    Sqlite(PathBuf),
    Postgres(PgTarget),
}

/// A PostgreSQL server and database, with the credentials to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

fn bad(url: &str, why: &str) -> ConnectError {
    ConnectError::Config(format!("Invalid value {url} for configuration connection.url: {why}"))
}

/// Parses a `connection.url`.
pub fn parse(url: &str) -> Result<DbUrl> {
    let trimmed = url.trim();
    let rest = trimmed.strip_prefix("jdbc:").unwrap_or(trimmed);
    if let Some(path) = rest.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(bad(url, "an SQLite URL needs a file path (jdbc:sqlite:<path>)"));
        }
        return Ok(DbUrl::Sqlite(PathBuf::from(path)));
    }
    let Some(rest) = rest.strip_prefix("postgresql://").or_else(|| rest.strip_prefix("postgres://")) else {
        return Err(bad(url, "expected jdbc:sqlite:<path> or jdbc:postgresql://host:port/database"));
    };
    let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, dbname) = authority_path.split_once('/').unwrap_or((authority_path, ""));
    // user:password@ before the host, as libpq URIs allow.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad(url, "unterminated [IPv6] host"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => 5432,
        Some(p) => p.parse().map_err(|_| bad(url, &format!("port {p} is not a number from 0 to 65535")))?,
    };
    let mut target = PgTarget {
        host: if host.is_empty() { "localhost".into() } else { host },
        port,
        dbname: dbname.to_string(),
        user: None,
        password: None,
    };
    if let Some(u) = userinfo {
        let (user, password) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
        target.user = Some(user.to_string());
        target.password = password.map(str::to_string);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "user" => target.user = Some(v.to_string()),
            "password" => target.password = Some(v.to_string()),
            _ => {}
        }
    }
    if target.dbname.is_empty() {
        return Err(bad(url, "a PostgreSQL URL needs a database name (jdbc:postgresql://host:port/database)"));
    }
    Ok(DbUrl::Postgres(target))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgresql_urls_with_and_without_jdbc() {
        assert_eq!(parse("jdbc:sqlite:/tmp/a.db").unwrap(), DbUrl::Sqlite("/tmp/a.db".into()));
        assert_eq!(parse("sqlite:rel.db").unwrap(), DbUrl::Sqlite("rel.db".into()));
        let DbUrl::Postgres(t) = parse("jdbc:postgresql://db.example:6543/shop?user=u&password=p&ssl=false").unwrap()
        else {
            panic!("postgres")
        };
        assert_eq!((t.host.as_str(), t.port, t.dbname.as_str()), ("db.example", 6543, "shop"));
        assert_eq!((t.user.as_deref(), t.password.as_deref()), (Some("u"), Some("p")));
        let DbUrl::Postgres(t) = parse("postgres://me:pw@[::1]/x").unwrap() else { panic!("postgres") };
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_deref(), t.password.as_deref()),
            ("::1", 5432, Some("me"), Some("pw"))
        );
        let DbUrl::Postgres(t) = parse("postgresql:///x").unwrap() else { panic!("postgres") };
        assert_eq!(t.host, "localhost");
        for bad in ["mysql://h/db", "jdbc:sqlite:", "jdbc:postgresql://h:port/db", "jdbc:postgresql://h:5432", ""] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("connection.url"), "{bad}: {e}");
        }
    }
}
