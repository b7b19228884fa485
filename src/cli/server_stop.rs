//! `server-stop` (kafka-server-stop.sh) and `zookeeper-server-stop`
//! (zookeeper-server-stop.sh): find the running brokers (or coordinators) of
//! this machine and send them SIGTERM, so they shut down cleanly. Kafka's
//! scripts grep `ps` for `kafka.Kafka` / `QuorumPeerMain`; ours read
//! `/proc/<pid>/cmdline` and match only gregor processes, precisely: the
//! executable must be a gregor binary (when `/proc/<pid>/exe` is readable)
//! and the command line must be `gregor server-start …`, a
//! `kafka-server-start[.sh]` argv[0] link, or `gregor run-class kafka.Kafka …`
//! (and the same shapes for `zookeeper-start`). Nothing else is ever
//! signalled: no other program, no `gregor cluster` supervisor, no tool.
//!
//! As in Kafka 3.x, `--node-id N` stops only the broker whose `broker.id`
//! (or `node.id`) is N — read from its `--override`s, else from its
//! properties file — and `--process-role` the ones with that role. With
//! nothing to stop it prints Kafka's "No kafka server to stop" and exits 1.
//! `SIGNAL` in the environment picks another signal, as Kafka's script allows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode, Stdio};

use anyhow::{bail, Context};
use clap::{Arg, ArgMatches, Command};

use super::{EXIT_FAILURE, EXIT_USAGE};

/// Which kind of server a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Broker,
    ZooKeeper,
}

/// A server process found in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    pid: u32,
    kind: Kind,
    /// The tool's own arguments (after `server-start` or the class name).
    args: Vec<String>,
}

pub fn command() -> Command {
    Command::new("server-stop")
        .about("Stop the brokers running on this machine with SIGTERM (kafka-server-stop.sh)")
        .arg(
            Arg::new("node-id")
                .long("node-id")
                .value_name("ID")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i32))
                .help("Stop only the broker with this broker.id / node.id"),
        )
        .arg(
            Arg::new("process-role")
                .long("process-role")
                .value_name("ROLE")
                .value_parser(["broker", "controller"])
                .help(
                    "Stop only servers with this role (gregor's brokers are brokers; there are no KRaft controllers)",
                ),
        )
}

pub fn zookeeper_command() -> Command {
    Command::new("zookeeper-server-stop")
        .about("Stop the ZooKeeper-compatible coordinators running on this machine (zookeeper-server-stop.sh)")
}

/// The basename of a path, without a `.sh` suffix.
fn program_name(arg0: &str) -> &str {
    let base = Path::new(arg0).file_name().and_then(|s| s.to_str()).unwrap_or(arg0);
    base.strip_suffix(".sh").unwrap_or(base)
}

/// Kafka's run-class launcher options that may come before the class name.
fn skip_launcher_options(args: &[String]) -> &[String] {
    let mut rest = args;
    loop {
        match rest.first().map(String::as_str) {
            Some("-daemon") | Some("-loggc") => rest = &rest[1..],
            Some("-name") if rest.len() >= 2 => rest = &rest[2..],
            _ => return rest,
        }
    }
}

/// What a process with this command line and executable is, if it is one
/// of ours. `exe` is the target of `/proc/<pid>/exe` when readable; `ours`
/// are the executable names that count as gregor (its own and `gregor`).
fn classify(argv: &[String], exe: Option<&str>, ours: &[String]) -> Option<(Kind, Vec<String>)> {
    let arg0 = argv.first()?;
    let is_ours = |name: &str| ours.iter().any(|o| o == name);
    match exe {
        // The kernel appends " (deleted)" when the binary was replaced by a rebuild.
        Some(exe) => {
            let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
            if !is_ours(program_name(exe)) {
                return None;
            }
        }
        // Not readable (another user's process): the name must still say gregor.
        None => {
            let name = program_name(arg0);
            if !is_ours(name) && name != "kafka-server-start" && name != "zookeeper-server-start" {
                return None;
            }
        }
    }
    let rest = &argv[1..];
    match program_name(arg0) {
        "kafka-server-start" => return Some((Kind::Broker, rest.to_vec())),
        "zookeeper-server-start" => return Some((Kind::ZooKeeper, rest.to_vec())),
        "kafka-run-class" => return by_class(rest),
        _ => {}
    }
    let (tool, args) = rest.split_first()?;
    match tool.as_str() {
        "server-start" | "kafka-server-start" | "kafka-server-start.sh" => Some((Kind::Broker, args.to_vec())),
        "zookeeper-start" | "zookeeper-server-start" | "zookeeper-server-start.sh" => {
            Some((Kind::ZooKeeper, args.to_vec()))
        }
        "run-class" | "kafka-run-class" | "kafka-run-class.sh" => by_class(args),
        _ => None,
    }
}

/// A `run-class` command line: the class decides.
fn by_class(args: &[String]) -> Option<(Kind, Vec<String>)> {
    let (class, rest) = skip_launcher_options(args).split_first()?;
    match class.as_str() {
        "kafka.Kafka" => Some((Kind::Broker, rest.to_vec())),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain" => Some((Kind::ZooKeeper, rest.to_vec())),
        _ => None,
    }
}

/// A broker's properties as its command line sets them: the file (the first
/// argument that is not an option), then every `--override`, which win.
/// `read_file` reads a properties file relative to the process's directory.
fn broker_properties(
    args: &[String],
    read_file: impl Fn(&str) -> Option<BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut file = None;
    let mut overrides = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--override" {
            if let Some(kv) = it.next() {
                overrides.push(kv.clone());
            }
        } else if let Some(kv) = a.strip_prefix("--override=") {
            overrides.push(kv.to_string());
        } else if !a.starts_with('-') && file.is_none() {
            file = Some(a.clone());
        }
    }
    let mut props = file.and_then(|f| read_file(&f)).unwrap_or_default();
    for kv in overrides {
        if let Some((k, v)) = kv.split_once('=') {
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    props
}

/// The broker id these properties give (as the broker decides it: broker.id,
/// else node.id, else 0).
fn broker_id(props: &BTreeMap<String, String>) -> i32 {
    let get = |k: &str| props.get(k).and_then(|v| v.parse::<i32>().ok()).filter(|id| *id >= 0);
    get("broker.id").or_else(|| get("node.id")).unwrap_or(0)
}

/// Whether a broker with these properties has `role` (`process.roles` when
/// set, as KRaft servers say; a ZooKeeper-mode broker is a broker only).
fn has_role(props: &BTreeMap<String, String>, role: &str) -> bool {
    match props.get("process.roles") {
        Some(roles) => roles.split(',').any(|r| r.trim() == role),
        None => role == "broker",
    }
}

/// Every gregor server running on this machine, but this process.
fn scan() -> Vec<Server> {
    let me = std::process::id();
    let mut ours = vec!["gregor".to_string()];
    if let Some(name) = std::env::current_exe().ok().as_deref().and_then(Path::file_name).and_then(|s| s.to_str()) {
        let name = name.strip_suffix(" (deleted)").unwrap_or(name);
        if !ours.iter().any(|o| o == name) {
            ours.push(name.to_string());
        }
    }
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        // A process may exit while we look: skip it.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let argv: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let exe = std::fs::read_link(entry.path().join("exe")).ok().map(|p| p.to_string_lossy().into_owned());
        if let Some((kind, args)) = classify(&argv, exe.as_deref(), &ours) {
            found.push(Server { pid, kind, args });
        }
    }
    found.sort_by_key(|s| s.pid);
    found
}

/// Reads a server's properties file, relative to its working directory.
fn read_server_file(pid: u32, file: &str) -> Option<BTreeMap<String, String>> {
    let path = Path::new(file);
    let path: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?.join(path)
    };
    super::common::read_properties(&path).ok()
}

/// The signal to send: `SIGNAL` from the environment (as Kafka's script), else TERM.
fn signal_name() -> anyhow::Result<String> {
    let raw = std::env::var("SIGNAL").unwrap_or_default();
    let name = raw.trim().trim_start_matches("SIG").to_ascii_uppercase();
    match name.as_str() {
        "" => Ok("TERM".to_string()),
        "TERM" | "INT" | "KILL" | "HUP" | "QUIT" => Ok(name),
        _ => bail!("SIGNAL={raw} is not one of TERM, INT, KILL, HUP, QUIT"),
    }
}

/// Sends `signal` with kill(1): std cannot signal processes it did not start,
/// and our crate denies `unsafe`.
fn send(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Process::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill(1)")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed (the process exited, or it is not ours to signal)");
    }
    Ok(())
}

/// Signals `targets`; exit 0 when every signal went out.
fn stop(targets: &[Server]) -> anyhow::Result<ExitCode> {
    let signal = signal_name()?;
    let mut failed = false;
    for s in targets {
        if let Err(e) = send(s.pid, &signal) {
            eprintln!("{e}");
            failed = true;
        }
    }
    Ok(if failed { ExitCode::from(EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let node_id = m.get_one::<i32>("node-id").copied();
    let role = m.get_one::<String>("process-role").cloned();
    if node_id.is_some() && role.is_some() {
        eprintln!("Only one of --process-role or --node-id may be given");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let brokers: Vec<Server> = scan()
        .into_iter()
        .filter(|s| s.kind == Kind::Broker)
        .filter(|s| {
            if node_id.is_none() && role.is_none() {
                return true;
            }
            let props = broker_properties(&s.args, |f| read_server_file(s.pid, f));
            node_id.is_none_or(|id| broker_id(&props) == id) && role.as_deref().is_none_or(|r| has_role(&props, r))
        })
        .collect();
    if brokers.is_empty() {
        match (node_id, role) {
            (Some(id), _) => println!("No kafka server with node id {id} to stop"),
            (_, Some(r)) => println!("No kafka server with process role {r} to stop"),
            _ => println!("No kafka server to stop"),
        }
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    stop(&brokers)
}

pub fn run_zookeeper(_m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let servers: Vec<Server> = scan().into_iter().filter(|s| s.kind == Kind::ZooKeeper).collect();
    if servers.is_empty() {
        println!("No zookeeper server to stop");
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    stop(&servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn ours() -> Vec<String> {
        vec!["gregor".to_string()]
    }

    #[test]
    fn brokers_are_found_in_every_shape_they_are_started() {
        let exe = Some("/opt/gregor/target/release/gregor");
        let b = |argv: &str, exe: Option<&str>| classify(&v(argv), exe, &ours()).map(|(k, a)| (k, a.join(" ")));
        assert_eq!(
            b("/opt/gregor/target/release/gregor server-start config/server.properties", exe),
            Some((Kind::Broker, "config/server.properties".to_string()))
        );
        assert_eq!(
            b("/usr/local/bin/kafka-server-start.sh a.properties", exe),
            Some((Kind::Broker, "a.properties".into()))
        );
        assert_eq!(
            b("gregor run-class -daemon -name k kafka.Kafka s.properties", exe),
            Some((Kind::Broker, "s.properties".into()))
        );
        assert_eq!(b("gregor zookeeper-start zk.properties", exe), Some((Kind::ZooKeeper, "zk.properties".into())));
        assert_eq!(b("zookeeper-server-start zk.properties", exe), Some((Kind::ZooKeeper, "zk.properties".into())));
        assert_eq!(
            b("gregor run-class org.apache.zookeeper.server.quorum.QuorumPeerMain z", exe),
            Some((Kind::ZooKeeper, "z".into()))
        );
        // A rebuilt binary still counts.
        assert!(b("gregor server-start", Some("/x/gregor (deleted)")).is_some());
        // Unreadable exe (another user's process): the name decides.
        assert!(b("/x/gregor server-start", None).is_some());
    }

    #[test]
    fn nothing_else_is_ever_matched() {
        let exe = Some("/opt/gregor/target/release/gregor");
        let b = |argv: &str, exe: Option<&str>| classify(&v(argv), exe, &ours());
        // Other gregor tools, including the cluster supervisor and this tool itself.
        assert_eq!(b("gregor cluster up", exe), None);
        assert_eq!(b("gregor server-stop", exe), None);
        assert_eq!(b("gregor console-consumer --topic server-start", exe), None);
        assert_eq!(b("gregor run-class kafka.admin.TopicCommand --list", exe), None);
        // Other programs whose command lines mention a broker.
        assert_eq!(b("java -cp kafka.jar kafka.Kafka server.properties", Some("/usr/bin/java")), None);
        assert_eq!(b("grep server-start", Some("/usr/bin/grep")), None);
        assert_eq!(b("vim kafka-server-start.sh", Some("/usr/bin/vim")), None);
        assert_eq!(b("bash /x/bin/kafka-server-start.sh c", Some("/usr/bin/bash")), None);
        assert_eq!(b("python3 gregor server-start", None), None);
        assert_eq!(b("", exe), None);
    }

    #[test]
    fn broker_ids_come_from_overrides_then_the_file() {
        let file = |_: &str| Some(BTreeMap::from([("broker.id".to_string(), "4".to_string())]));
        let props = broker_properties(&v("s.properties --override log.dirs=/x"), file);
        assert_eq!(broker_id(&props), 4);
        let props = broker_properties(&v("s.properties --override broker.id=7"), file);
        assert_eq!(broker_id(&props), 7);
        let props = broker_properties(&v("--override=broker.id=9"), |_| None);
        assert_eq!(broker_id(&props), 9);
        let props = broker_properties(&v("--override node.id=2"), |_| None);
        assert_eq!(broker_id(&props), 2);
        assert_eq!(broker_id(&BTreeMap::new()), 0, "an unset broker.id is 0, as the broker decides");
        assert!(has_role(&props, "broker"));
        assert!(!has_role(&props, "controller"));
        let kraft = BTreeMap::from([("process.roles".to_string(), "broker,controller".to_string())]);
        assert!(has_role(&kraft, "controller"));
    }
}
