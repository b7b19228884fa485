//! `zookeeper-shell` (zookeeper-shell.sh): ZooKeeper's command-line client
//! (`zkCli`) as Kafka ships it, for poking at the znodes a cluster keeps —
//! `/brokers/ids`, `/controller`, `/config/topics/…` — on our coordinator or
//! on a real ZooKeeper. With a command after the connect string it runs that
//! one command and exits (1 if it failed); without, it reads commands from
//! stdin, with a line editor and ZooKeeper's prompt on a terminal.
//!
//! Commands and output follow ZooKeeper 3.8's shell: `ls [-s] [-R] path`,
//! `get [-s] path`, `set [-s] [-v version] path data [version]`,
//! `create [-s] [-e] path [data]`, `delete [-v version] path`,
//! `deleteall path`, `stat path`, `help`, `quit`; `ls` prints
//! `[a, b]`, `stat` prints `cZxid = 0x…` lines, and errors are ZooKeeper's
//! messages on stderr (`Node does not exist: /x`). The connection lines
//! (`Connecting to …`, `WatchedEvent state:SyncConnected …`) are printed as
//! ZooKeeper prints them, so scripts that cut the last line keep working.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};
use zookeeper_client::{self as zkc, Acls, Client, CreateMode, Stat};

use super::common;

/// How long to try to open a session before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub fn command() -> Command {
    Command::new("zookeeper-shell")
        .about("ZooKeeper's command-line client: ls, get, set, create, delete, stat (zookeeper-shell.sh)")
        .override_usage("gregor zookeeper-shell HOST:PORT[/CHROOT] [-zk-tls-config-file FILE] [COMMAND [ARGS]...]")
        .after_help(COMMANDS_HELP)
        .arg(
            Arg::new("connect")
                .value_name("HOST:PORT[/CHROOT]")
                .required(true)
                .allow_hyphen_values(true)
                .help("The ZooKeeper to connect to"),
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("A command to run, then exit (else commands are read from stdin)"),
        )
}

const COMMANDS_HELP: &str = "Commands:
\tls [-s] [-R] path
\tget [-s] path
\tset [-s] [-v version] path data
\tcreate [-s] [-e] path [data]
\tdelete [-v version] path
\tdeleteall path
\tstat path
\thelp
\tquit";

/// What a command asks of the loop.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Printed this (possibly empty) text.
    Done(String),
    /// `quit`.
    Quit,
}

/// A failed command's one-line message, as ZooKeeper prints it.
type CommandError = String;

/// Splits a command line into words; single and double quotes group words
/// (`set /x "a b"`), as ZooKeeper's own parser does.
fn split_words(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("Unbalanced quotes in command".to_string());
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// A command's flags (`-s`, `-e`, `-R`, `-v N`) and its positional words.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    flags: Vec<char>,
    version: Option<i32>,
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }
}

/// Parses the words after the command name; `allowed` lists its boolean
/// flags, `-v N` is accepted where `versioned`.
fn parse_args(words: &[String], allowed: &str, versioned: bool) -> Result<Parsed, CommandError> {
    let mut parsed = Parsed::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        // A lone "-1" is data or a version, not a flag.
        if w.len() > 1 && w.starts_with('-') && !w[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let flag = &w[1..];
            if flag == "v" && versioned {
                let v = it.next().ok_or("-v needs a version")?;
                parsed.version = Some(v.parse().map_err(|_| format!("version {v} is not a number"))?);
            } else if flag.len() == 1 && allowed.contains(flag) {
                parsed.flags.extend(flag.chars());
            } else {
                return Err(format!("Unrecognized option: {w}"));
            }
        } else {
            parsed.args.push(w.clone());
        }
    }
    Ok(parsed)
}

/// ZooKeeper's message for a failed operation on `path`.
fn zk_message(err: &zkc::Error, path: &str) -> CommandError {
    match err {
        zkc::Error::NoNode => format!("Node does not exist: {path}"),
        zkc::Error::NodeExists => format!("Node already exists: {path}"),
        zkc::Error::NotEmpty => format!("Node not empty: {path}"),
        zkc::Error::BadVersion => format!("version No is not valid : {path}"),
        zkc::Error::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        zkc::Error::NoAuth => format!("Insufficient permission : {path}"),
        zkc::Error::BadArguments(reason) => format!("Invalid path {path}: {reason}"),
        other => format!("{other} (path {path})"),
    }
}

/// Java's `Date.toString()` (`Thu Jan 01 00:00:00 UTC 1970`), in UTC.
fn java_date(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
        None => ms.to_string(),
    }
}

/// ZooKeeper's `stat` lines.
fn format_stat(s: &Stat) -> String {
    format!(
        "cZxid = {:#x}\nctime = {}\nmZxid = {:#x}\nmtime = {}\npZxid = {:#x}\ncversion = {}\ndataVersion = {}\n\
         aclVersion = {}\nephemeralOwner = {:#x}\ndataLength = {}\nnumChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// The child path of `parent`.
fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn one_path(p: &Parsed, usage: &str) -> Result<String, CommandError> {
    match p.args.as_slice() {
        [path] => Ok(path.clone()),
        _ => Err(format!("Usage: {usage}")),
    }
}

/// A session and the commands run on it.
struct Shell {
    client: Client,
}

impl Shell {
    async fn run_command(&self, words: &[String]) -> Result<Outcome, CommandError> {
        let Some((name, rest)) = words.split_first() else { return Ok(Outcome::Done(String::new())) };
        match name.as_str() {
            "ls" | "ls2" => self.ls(&parse_args(rest, "swR", false)?).await.map(Outcome::Done),
            "get" => self.get(&parse_args(rest, "sw", false)?).await.map(Outcome::Done),
            "set" => self.set(&parse_args(rest, "s", true)?).await.map(Outcome::Done),
            "create" => self.create(&parse_args(rest, "sec", false)?).await.map(Outcome::Done),
            "delete" => self.delete(&parse_args(rest, "", true)?).await.map(Outcome::Done),
            "deleteall" | "rmr" => self.delete_all(&parse_args(rest, "", false)?).await.map(Outcome::Done),
            "stat" => self.stat(&parse_args(rest, "w", false)?).await.map(Outcome::Done),
            "help" | "h" => Ok(Outcome::Done(format!("ZooKeeper -server host:port cmd args\n{COMMANDS_HELP}\n"))),
            "quit" | "exit" => Ok(Outcome::Quit),
            other => Err(format!("Command not found: Command not found {other}\n{COMMANDS_HELP}")),
        }
    }

    async fn ls(&self, p: &Parsed) -> Result<String, CommandError> {
        let path = one_path(p, "ls [-s] [-w] [-R] path")?;
        if p.has('R') {
            // Every path of the subtree, depth first, parents before children.
            let mut out = String::new();
            let mut stack = vec![path.clone()];
            while let Some(node) = stack.pop() {
                let mut children = self.client.list_children(&node).await.map_err(|e| zk_message(&e, &node))?;
                out.push_str(&node);
                out.push('\n');
                children.sort();
                stack.extend(children.iter().rev().map(|c| child_path(&node, c)));
            }
            return Ok(out);
        }
        let (mut children, stat) = self.client.get_children(&path).await.map_err(|e| zk_message(&e, &path))?;
        children.sort();
        let mut out = format!("[{}]\n", children.join(", "));
        if p.has('s') {
            out.push_str(&format_stat(&stat));
        }
        Ok(out)
    }

    async fn get(&self, p: &Parsed) -> Result<String, CommandError> {
        let path = one_path(p, "get [-s] [-w] path")?;
        let (data, stat) = self.client.get_data(&path).await.map_err(|e| zk_message(&e, &path))?;
        let mut out = format!("{}\n", String::from_utf8_lossy(&data));
        if p.has('s') {
            out.push_str(&format_stat(&stat));
        }
        Ok(out)
    }

    async fn set(&self, p: &Parsed) -> Result<String, CommandError> {
        // ZooKeeper 3.4's trailing version is still accepted: `set path data 3`.
        let (path, data, version) = match p.args.as_slice() {
            [path, data] => (path, data, p.version),
            [path, data, v] => (path, data, Some(v.parse().map_err(|_| format!("version {v} is not a number"))?)),
            _ => return Err("Usage: set [-s] [-v version] path data".to_string()),
        };
        let stat = self.client.set_data(path, data.as_bytes(), version).await.map_err(|e| zk_message(&e, path))?;
        Ok(if p.has('s') { format_stat(&stat) } else { String::new() })
    }

    async fn create(&self, p: &Parsed) -> Result<String, CommandError> {
        let (path, data) = match p.args.as_slice() {
            [path] => (path, ""),
            [path, data] => (path, data.as_str()),
            // ZooKeeper 3.4 took an ACL after the data; only the open ACL is supported.
            [path, data, acl] if acl == "world:anyone:cdrwa" => (path, data.as_str()),
            [_, _, acl] => return Err(format!("Unsupported ACL {acl}: only world:anyone:cdrwa is supported")),
            _ => return Err("Usage: create [-s] [-e] path [data]".to_string()),
        };
        let mode = match (p.has('s'), p.has('e'), p.has('c')) {
            (_, _, true) => CreateMode::Container,
            (true, true, _) => CreateMode::EphemeralSequential,
            (true, false, _) => CreateMode::PersistentSequential,
            (false, true, _) => CreateMode::Ephemeral,
            (false, false, _) => CreateMode::Persistent,
        };
        let options = mode.with_acls(Acls::anyone_all());
        let (_, sequence) =
            self.client.create(path, data.as_bytes(), &options).await.map_err(|e| zk_message(&e, path))?;
        let created = if p.has('s') { format!("{path}{sequence}") } else { path.clone() };
        Ok(format!("Created {created}\n"))
    }

    async fn delete(&self, p: &Parsed) -> Result<String, CommandError> {
        let path = one_path(p, "delete [-v version] path")?;
        self.client.delete(&path, p.version).await.map_err(|e| zk_message(&e, &path))?;
        Ok(String::new())
    }

    async fn delete_all(&self, p: &Parsed) -> Result<String, CommandError> {
        let path = one_path(p, "deleteall path")?;
        // Children before parents: collect the subtree, then delete it deepest first.
        let mut nodes = Vec::new();
        let mut stack = vec![path.clone()];
        while let Some(node) = stack.pop() {
            match self.client.list_children(&node).await {
                Ok(children) => stack.extend(children.iter().map(|c| child_path(&node, c))),
                Err(zkc::Error::NoNode) if node != path => continue,
                Err(e) => return Err(zk_message(&e, &node)),
            }
            nodes.push(node);
        }
        for node in nodes.iter().rev() {
            match self.client.delete(node, None).await {
                // Gone meanwhile (an ephemeral whose session ended): fine.
                Ok(()) | Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_message(&e, node)),
            }
        }
        Ok(String::new())
    }

    async fn stat(&self, p: &Parsed) -> Result<String, CommandError> {
        let path = one_path(p, "stat [-w] path")?;
        match self.client.check_stat(&path).await {
            Ok(Some(stat)) => Ok(format_stat(&stat)),
            Ok(None) => Err(zk_message(&zkc::Error::NoNode, &path)),
            Err(e) => Err(zk_message(&e, &path)),
        }
    }
}

/// Runs one command line and prints its output; `Ok(false)` after `quit`,
/// `Err(())` when the command failed (its message is on stderr).
fn execute(rt: &tokio::runtime::Runtime, shell: &Shell, line: &str) -> Result<bool, ()> {
    let words = split_words(line).map_err(|e| eprintln!("{e}"))?;
    match rt.block_on(shell.run_command(&words)) {
        Ok(Outcome::Done(text)) => {
            print!("{text}");
            Ok(true)
        }
        Ok(Outcome::Quit) => Ok(false),
        Err(message) => {
            eprintln!("{message}");
            Err(())
        }
    }
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let connect = m.get_one::<String>("connect").cloned().unwrap_or_default();
    let mut words: Vec<String> = m.get_many::<String>("command").into_iter().flatten().cloned().collect();
    // zkCli's `-server host:port` form, which Kafka's script passes to the class.
    let connect = if connect == "-server" && !words.is_empty() { words.remove(0) } else { connect };
    if words.first().map(String::as_str) == Some("-zk-tls-config-file") {
        anyhow::bail!("-zk-tls-config-file: TLS connections to ZooKeeper are not supported");
    }
    let connect = connect.as_str();
    let rt = common::runtime()?;
    println!("Connecting to {connect}");
    let client = rt.block_on(open_session(connect))?;
    println!("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null");
    let shell = Shell { client };
    if !words.is_empty() {
        let line = words.iter().map(|w| quote_word(w)).collect::<Vec<_>>().join(" ");
        let ok = execute(&rt, &shell, &line).is_ok();
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(super::EXIT_FAILURE) });
    }
    if std::io::stdin().is_terminal() {
        interactive(&rt, &shell, connect)
    } else {
        // Commands from a pipe: run each; the exit code says whether all succeeded.
        let mut failed = false;
        for line in std::io::stdin().lock().lines() {
            let line = line.context("cannot read stdin")?;
            match execute(&rt, &shell, &line) {
                Ok(true) => {}
                Ok(false) => break,
                Err(()) => failed = true,
            }
        }
        Ok(if failed { ExitCode::from(super::EXIT_FAILURE) } else { ExitCode::SUCCESS })
    }
}

/// Opens a session. A host that refuses connections fails at once (one
/// line, no long wait); a server that accepts but is not serving yet (just
/// started) is tried again until [`CONNECT_TIMEOUT`].
async fn open_session(connect: &str) -> anyhow::Result<Client> {
    let hosts = connect.split('/').next().unwrap_or(connect);
    let mut reachable = false;
    let mut last_io = None;
    for host in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host)).await {
            Ok(Ok(_)) => {
                reachable = true;
                break;
            }
            Ok(Err(e)) => last_io = Some(e.to_string()),
            Err(_) => last_io = Some("connection timed out".to_string()),
        }
    }
    if !reachable {
        let reason = last_io.unwrap_or_else(|| "no host in the connect string".to_string());
        anyhow::bail!("cannot connect to ZooKeeper at {connect}: {reason}");
    }
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        let attempt = Client::connector().with_fail_eagerly().connect(connect);
        let err = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => e,
            Err(_) => zkc::Error::Timeout,
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "cannot connect to ZooKeeper at {connect}: {err} (tried for {} s)",
                CONNECT_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A command-line word re-quoted so `split_words` gives it back unchanged.
fn quote_word(w: &str) -> String {
    if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        return w.to_string();
    }
    if w.contains('"') {
        format!("'{w}'")
    } else {
        format!("\"{w}\"")
    }
}

/// The line editor with ZooKeeper's prompt. It runs on this (the main)
/// thread, never on a tokio worker; each command is driven with `block_on`.
fn interactive(rt: &tokio::runtime::Runtime, shell: &Shell, connect: &str) -> anyhow::Result<ExitCode> {
    let mut editor = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
    let mut n = 0u64;
    loop {
        let prompt = format!("[zk: {connect}(CONNECTED) {n}] ");
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if execute(rt, shell, &line) == Ok(false) {
                    return Ok(ExitCode::SUCCESS);
                }
                n += 1;
            }
            Err(rustyline::error::ReadlineError::Interrupted) => return Ok(ExitCode::from(super::EXIT_INTERRUPTED)),
            Err(rustyline::error::ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e).context("cannot read the command line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s).expect("split")
    }

    #[test]
    fn words_split_on_spaces_and_keep_quoted_groups() {
        assert_eq!(words("  ls   /brokers/ids "), ["ls", "/brokers/ids"]);
        assert_eq!(words(r#"set /x "hello world""#), ["set", "/x", "hello world"]);
        assert_eq!(words("create /x ''"), ["create", "/x", ""]);
        assert!(split_words("set /x \"open").is_err());
        for w in ["a b", "", "say \"hi\"", "plain"] {
            assert_eq!(words(&quote_word(w)), [w]);
        }
    }

    #[test]
    fn flags_versions_and_positionals() {
        let p = parse_args(&words("-s -e /a data"), "se", false).expect("parse");
        assert!(p.has('s') && p.has('e'));
        assert_eq!(p.args, ["/a", "data"]);
        let p = parse_args(&words("-v 3 /a"), "", true).expect("parse");
        assert_eq!(p.version, Some(3));
        let p = parse_args(&words("/a -1"), "", true).expect("negative data is not a flag");
        assert_eq!(p.args, ["/a", "-1"]);
        assert!(parse_args(&words("-x /a"), "s", false).is_err());
        assert!(parse_args(&words("-v nope /a"), "", true).is_err());
    }

    #[test]
    fn stat_lines_are_zookeepers() {
        let stat = Stat {
            czxid: 0x1a,
            mzxid: 0x1b,
            pzxid: 0x1a,
            ctime: 0,
            mtime: 1000,
            version: 2,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 1,
        };
        let text = format_stat(&stat);
        assert!(text.starts_with("cZxid = 0x1a\nctime = Thu Jan 01 00:00:00 UTC 1970\nmZxid = 0x1b\n"), "{text}");
        assert!(text.contains("ephemeralOwner = 0x0\ndataLength = 5\nnumChildren = 1\n"), "{text}");
        assert_eq!(zk_message(&zkc::Error::NoNode, "/x"), "Node does not exist: /x");
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
