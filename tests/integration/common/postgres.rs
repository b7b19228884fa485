//! A real PostgreSQL server for the SQL connector tests: `initdb` into a
//! temp dir and `postgres` on a free loopback port with logical decoding on
//! (`wal_level=logical`), trust authentication, user `postgres`. Debian puts
//! the binaries in /usr/lib/postgresql/<version>/bin, which is searched
//! before PATH. initdb and postgres refuse to run as root, so as root they
//! run as the `postgres` system user. Without PostgreSQL the tests skip,
//! except under `CI`, where that is a failure. The server stops on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code)]
pub struct TestPostgres {
    child: Option<Child>,
    pub port: u16,
    bin: PathBuf,
    tmp: tempfile::TempDir,
}

/// A free loopback port (bound, then released). Here rather than shared so
/// the benchmarks can include this file alone.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The directory holding `initdb` and `postgres`, newest Debian version first.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Some(p);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
}

/// uid/gid of the `postgres` user, when we are root (else None: run as ourselves).
fn run_as() -> Option<(u32, u32)> {
    let out = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((id("-u").expect("as root, PostgreSQL needs the postgres user"), id("-g")?))
}

impl TestPostgres {
    /// Starts a server, or `None` (a skip) when PostgreSQL is not installed
    /// and `CI` is unset.
    pub fn start() -> Option<TestPostgres> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but PostgreSQL is not installed (apt-get install postgresql)");
            }
            eprintln!("skipping: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let user = run_as();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)).expect("chown the temp dir");
        }
        let data = tmp.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        as_user(&mut initdb, user);
        let out = initdb.output().expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let mut pg = TestPostgres { child: None, port, bin, tmp };
        pg.spawn(user);
        Some(pg)
    }

    fn spawn(&mut self, user: Option<(u32, u32)>) {
        let log = std::fs::File::create(self.tmp.path().join("postgres.log")).expect("log");
        if let Some((uid, gid)) = user {
            let _ = std::os::unix::fs::chown(self.tmp.path().join("postgres.log"), Some(uid), Some(gid));
        }
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.tmp.path().join("data"))
            .arg("-k")
            .arg(self.tmp.path())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "wal_level=logical"])
            .args(["-c", "max_replication_slots=10", "-c", "max_wal_senders=10", "-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        as_user(&mut cmd, user);
        self.child = Some(cmd.spawn().expect("start postgres"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self.psql_raw("SELECT 1").map(|o| o.trim() == "1").unwrap_or(false);
            if ok {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("postgres exited ({status}); its log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "postgres did not start; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("postgres.log")).unwrap_or_default()
    }

    /// `connection.url` for the `postgres` database.
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL with psql: its output, or its error message.
    pub fn psql_raw(&self, sql: &str) -> Result<String, String> {
        let psql = if self.bin.join("psql").exists() { self.bin.join("psql") } else { PathBuf::from("psql") };
        let out = Command::new(psql)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL with psql; unaligned, tuples only (`a|b` per row).
    pub fn psql(&self, sql: &str) -> String {
        self.psql_raw(sql).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        cmd.gid(gid).uid(uid).env("HOME", "/tmp").env_remove("PGDATA");
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
