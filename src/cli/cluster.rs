//! `cluster`: the tutorial's "several brokers on one machine" as one command.
//! `cluster up` writes `zookeeper.properties` and `broker-<id>.properties`
//! into a cluster directory, starts `gregor zookeeper-start` and N
//! `gregor server-start` child processes (logs in `<dir>/logs/`), waits until
//! every broker is registered in ZooKeeper, creates the spec's topics, and
//! records pids and ports in `<dir>/state.yaml` so that `status`, `kill`,
//! `start` and `down` work from other invocations.
//!
//! Children die with their parent: a foreground `up` supervises them; on
//! SIGINT/SIGTERM it stops the brokers, then the coordinator. Should the
//! supervisor die without that chance (SIGKILL), each child notices: it runs
//! with the hidden `--exit-with-parent`, its stdin is a pipe whose only write
//! end the supervisor holds, and end of file shuts it down gracefully. (The
//! crate forbids `unsafe`, so `prctl(PR_SET_PDEATHSIG)` is not an option.)
//! Children get their own process group, so a terminal's Ctrl-C reaches only
//! the supervisor, which stops brokers before the coordinator. With
//! `--detach` the children run on their own (stdin is /dev/null) until
//! `cluster down`.
//!
//! This module only starts and watches processes; it must not reach into the
//! broker: everything it learns comes from ZooKeeper, the Kafka protocol and
//! the operating system.
//!
//! A spec's `security:` section (see [`super::cluster_security`]) secures the
//! brokers' one listener (SSL, SASL_PLAINTEXT or SASL_SSL), stores SCRAM users
//! in ZooKeeper before the brokers start, and writes `client.properties` for
//! the admin user, which `up` names and uses itself to create topics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command};
use comfy_table::Cell;
use serde::{Deserialize, Serialize};

use super::cluster_security::{Security, SecuritySpec};
use super::common::{self, kv_arg};
use super::output::{self, Format};
use crate::client::{Admin, ClientConfig, NewTopic, ResponseError};

/// The state file in the cluster directory.
const STATE_FILE: &str = "state.yaml";
/// The tutorial's ports.
const DEFAULT_ZOOKEEPER_PORT: u16 = 2181;
const DEFAULT_BASE_PORT: u16 = 9092;
/// How often waits poll.
const POLL: Duration = Duration::from_millis(100);

pub fn command() -> Command {
    let timeout = || {
        Arg::new("timeout")
            .long("timeout")
            .value_name("SECONDS")
            .value_parser(clap::value_parser!(u64))
            .default_value("60")
            .help("How long to wait for processes to start (or stop)")
    };
    let id = || {
        Arg::new("broker-id")
            .value_name("BROKER_ID")
            .required(true)
            .value_parser(clap::value_parser!(i32))
            .help("The broker's broker.id")
    };
    Command::new("cluster")
        .about("Run a local multi-broker cluster as child processes")
        .subcommand_required(true)
        .arg(
            Arg::new("dir")
                .long("dir")
                .value_name("DIR")
                .global(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("The cluster directory [default: <platform data dir>/gregor/cluster]"),
        )
        .subcommand(
            Command::new("up")
                .about("Start a coordinator and N brokers; stay in the foreground unless --detach")
                .arg(
                    Arg::new("brokers")
                        .long("brokers")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u16).range(1..=64))
                        .help("Number of brokers, ids 0..N-1 [default: 3, or the spec's brokers]"),
                )
                .arg(
                    Arg::new("spec")
                        .long("spec")
                        .value_name("cluster.yaml")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("YAML spec: zookeeper port, brokers (id, port, overrides), topics to create, security (TLS, SASL, ACLs)"),
                )
                .arg(
                    Arg::new("base-port")
                        .long("base-port")
                        .value_name("PORT")
                        .value_parser(clap::value_parser!(u16).range(1..))
                        .help("Port of the first broker; the next ones count up [default: 9092]"),
                )
                .arg(
                    Arg::new("zookeeper-port")
                        .long("zookeeper-port")
                        .value_name("PORT")
                        .value_parser(clap::value_parser!(u16).range(1..))
                        .help("Port of the coordinator [default: 2181]"),
                )
                .arg(
                    Arg::new("ephemeral-ports")
                        .long("ephemeral-ports")
                        .action(ArgAction::SetTrue)
                        .conflicts_with_all(["base-port", "zookeeper-port"])
                        .help("Pick free ports for everything the spec does not pin"),
                )
                .arg(kv_arg("override", "A broker property for every broker, e.g. --override num.partitions=3"))
                .arg(
                    Arg::new("detach")
                        .long("detach")
                        .short('d')
                        .action(ArgAction::SetTrue)
                        .help("Return once the cluster is up and leave it running (stop it with `cluster down`)"),
                )
                .arg(timeout()),
        )
        .subcommand(
            Command::new("status").about("Show the processes, their ZooKeeper registration and the controller").arg(
                Arg::new("output")
                    .long("output")
                    .value_name("FORMAT")
                    .value_parser(clap::value_parser!(Format))
                    .default_value("table")
                    .help("table (plain is the same), json or yaml"),
            ),
        )
        .subcommand(Command::new("kill").about("SIGKILL one broker (a crash, for the failover demo)").arg(id()))
        .subcommand(
            Command::new("start")
                .about("Start a stopped broker again with the same properties")
                .arg(id())
                .arg(timeout()),
        )
        .subcommand(
            Command::new("down")
                .about("Stop every broker, then the coordinator; keep the data unless --purge")
                .arg(
                    Arg::new("purge")
                        .long("purge")
                        .action(ArgAction::SetTrue)
                        .help("Also delete the generated files, logs and data"),
                )
                .arg(timeout().default_value("30")),
        )
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let Some((name, sub)) = m.subcommand() else {
        bail!("cluster needs a subcommand: up, status, kill, start or down")
    };
    let dir = match sub.get_one::<PathBuf>("dir").or_else(|| m.get_one::<PathBuf>("dir")) {
        Some(d) => d.clone(),
        None => default_dir(),
    };
    let timeout = sub.try_get_one::<u64>("timeout").ok().flatten().map(|s| Duration::from_secs(*s));
    let timeout = timeout.unwrap_or(Duration::from_secs(60));
    match name {
        "up" => up(&dir, sub, timeout),
        "status" => status(&dir, sub.get_one::<Format>("output").copied().unwrap_or(Format::Table)),
        "kill" => kill(&dir, *sub.get_one::<i32>("broker-id").context("broker id")?),
        "start" => start(&dir, *sub.get_one::<i32>("broker-id").context("broker id")?, timeout),
        "down" => down(&dir, sub.get_flag("purge"), timeout),
        other => bail!("unknown cluster subcommand '{other}'"),
    }
}

/// `<platform data dir>/cluster` (`~/.local/share/gregor/cluster` on Linux).
fn default_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "gregor")
        .map(|d| d.data_dir().join("cluster"))
        .unwrap_or_else(|| PathBuf::from("/tmp/gregor-cluster"))
}

// ---------------------------------------------------------------------------
// The spec

/// `--spec cluster.yaml`. Every section is optional:
///
/// ```yaml
/// zookeeper: {port: 2181, overrides: {tickTime: "2000"}}
/// overrides: {default.replication.factor: "3"}   # every broker
/// brokers:
///   - {id: 0, port: 9092, overrides: {num.partitions: "3"}}
///   - {id: 1, port: 9093}
///   - {id: 2, port: 9094}
/// topics:
///   - {name: my-replicated-topic, partitions: 1, replication_factor: 3, configs: {retention.ms: "86400000"}}
/// security: {protocol: SASL_PLAINTEXT, mechanism: SCRAM-SHA-512, users: {admin: admin-secret}, authorizer: true}
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    zookeeper: ZookeeperSpec,
    #[serde(default)]
    overrides: Properties,
    #[serde(default)]
    brokers: Vec<BrokerSpec>,
    #[serde(default)]
    topics: Vec<TopicSpec>,
    security: Option<SecuritySpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZookeeperSpec {
    port: Option<u16>,
    #[serde(default)]
    overrides: Properties,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerSpec {
    id: i32,
    port: Option<u16>,
    #[serde(default)]
    overrides: Properties,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicSpec {
    name: String,
    #[serde(default = "one")]
    partitions: i32,
    /// -1: the brokers' `default.replication.factor`.
    #[serde(default = "minus_one")]
    replication_factor: i16,
    #[serde(default)]
    configs: Properties,
}

fn one() -> i32 {
    1
}

fn minus_one() -> i16 {
    -1
}

/// Property values may be written as YAML strings, numbers or booleans.
type Properties = BTreeMap<String, PropertyValue>;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Text(s) => f.write_str(s),
        }
    }
}

fn strings(p: &Properties) -> BTreeMap<String, String> {
    p.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

impl Spec {
    fn read(path: &Path) -> anyhow::Result<Spec> {
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Spec::parse(&text).with_context(|| format!("invalid cluster spec {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Spec> {
        let spec: Spec = if text.trim().is_empty() { Spec::default() } else { serde_yaml::from_str(text)? };
        let mut ids = BTreeSet::new();
        for b in &spec.brokers {
            if b.id < 0 {
                bail!("broker id {} is negative", b.id);
            }
            if !ids.insert(b.id) {
                bail!("broker id {} appears twice", b.id);
            }
        }
        let mut ports = BTreeSet::new();
        for port in spec.brokers.iter().filter_map(|b| b.port).chain(spec.zookeeper.port) {
            if !ports.insert(port) {
                bail!("port {port} appears twice");
            }
        }
        for t in &spec.topics {
            if t.name.is_empty() {
                bail!("a topic has an empty name");
            }
        }
        Ok(spec)
    }
}

// ---------------------------------------------------------------------------
// The state file

/// What `up` leaves in `<dir>/state.yaml` for later invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// The foreground `up` supervising the children; `None` when detached.
    supervisor_pid: Option<u32>,
    zookeeper: Node,
    brokers: Vec<Node>,
    /// The admin client's settings of a secured cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_properties: Option<PathBuf>,
}

/// One child process: the coordinator (`id: None`) or a broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Node {
    id: Option<i32>,
    port: u16,
    pid: Option<u32>,
    properties: PathBuf,
    log: PathBuf,
    /// Where its data lives (`dataDir` / `log.dirs`), removed by `down --purge`.
    data: PathBuf,
    /// A broker's listener protocol when it is not PLAINTEXT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
}

impl Node {
    fn name(&self) -> String {
        match self.id {
            Some(id) => format!("broker {id}"),
            None => "zookeeper".to_string(),
        }
    }

    fn endpoint(&self) -> String {
        match self.id {
            Some(_) => format!("{}://127.0.0.1:{}", self.protocol.as_deref().unwrap_or("PLAINTEXT"), self.port),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    fn tool(&self) -> &'static str {
        if self.id.is_some() {
            "server-start"
        } else {
            "zookeeper-start"
        }
    }

    /// Whether its recorded pid is still this process (not a zombie, and not
    /// a recycled pid running something else).
    fn alive(&self) -> bool {
        self.pid.is_some_and(|pid| process_alive(pid, Some(&self.properties)))
    }
}

impl State {
    fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    fn load(dir: &Path) -> anyhow::Result<State> {
        let path = State::path(dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("no cluster in {} (start one with `gregor cluster up --dir {0}`)", dir.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_yaml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    /// Written to a temporary file and renamed, so a reader never sees half of it.
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = State::path(dir);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        fs::write(&tmp, serde_yaml::to_string(self)?).with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    fn broker(&self, id: i32) -> anyhow::Result<&Node> {
        self.brokers.iter().find(|b| b.id == Some(id)).with_context(|| {
            let ids: Vec<String> = self.brokers.iter().filter_map(|b| b.id).map(|i| i.to_string()).collect();
            format!("no broker {id} in this cluster (brokers: {})", ids.join(", "))
        })
    }

    fn nodes(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.zookeeper).chain(&self.brokers)
    }

    fn supervisor_alive(&self) -> bool {
        self.supervisor_pid.is_some_and(|pid| pid != std::process::id() && process_alive(pid, None))
    }
}

// ---------------------------------------------------------------------------
// Processes

/// Whether `pid` runs (a zombie does not count). With `marker`, its command
/// line must also mention that path, so a recycled pid is not mistaken for
/// ours. Uses /proc where there is one, else `kill -0`.
fn process_alive(pid: u32, marker: Option<&Path>) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self").exists() {
        return Process::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    }
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else { return false };
    // The state letter follows the parenthesised command name.
    let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
    if zombie {
        return false;
    }
    match (marker, fs::read(proc_dir.join("cmdline"))) {
        // Empty while a process is between fork and exec: give it the benefit of the doubt.
        (Some(marker), Ok(cmdline)) if !cmdline.is_empty() => {
            let marker = marker.as_os_str().as_encoded_bytes();
            cmdline.split(|b| *b == 0).any(|arg| arg == marker)
        }
        _ => true,
    }
}

/// Sends a signal with kill(1): std only offers SIGKILL, and only for its own children.
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Process::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill(1)")?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

/// The children this invocation started, reaped as they exit.
#[derive(Default)]
struct Children {
    by_pid: BTreeMap<u32, Child>,
}

impl Children {
    /// Starts `node`'s tool with its properties file, output appended to its
    /// log. `supervised` ties the child's life to ours (see the module docs).
    fn spawn(&mut self, node: &Node, supervised: bool) -> anyhow::Result<u32> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .with_context(|| format!("cannot open {}", node.log.display()))?;
        let exe = std::env::current_exe().context("cannot find the gregor binary")?;
        let mut cmd = Process::new(exe);
        cmd.arg(node.tool()).arg(&node.properties);
        if supervised {
            cmd.arg("--exit-with-parent").stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null());
        }
        cmd.stdout(log.try_clone()?).stderr(log).process_group(0);
        let child = cmd.spawn().with_context(|| format!("cannot start {}", node.name()))?;
        let pid = child.id();
        // The child's stdin pipe stays open inside `Child` until it is dropped.
        self.by_pid.insert(pid, child);
        Ok(pid)
    }

    /// Whether `node` runs. Our own children are asked with waitpid (which
    /// also reaps them); /proc could catch one mid-exec, with no command line yet.
    fn alive(&mut self, node: &Node) -> bool {
        if let Some(pid) = node.pid {
            if let Some(child) = self.by_pid.get_mut(&pid) {
                if matches!(child.try_wait(), Ok(None)) {
                    return true;
                }
                self.by_pid.remove(&pid);
                return false;
            }
        }
        node.alive()
    }

    /// Reaps exited children and reports them on stderr.
    fn reap(&mut self, state: &State) {
        let exited: Vec<(u32, std::process::ExitStatus)> =
            self.by_pid.iter_mut().filter_map(|(pid, c)| c.try_wait().ok().flatten().map(|s| (*pid, s))).collect();
        for (pid, status) in exited {
            self.by_pid.remove(&pid);
            let node = state.nodes().find(|n| n.pid == Some(pid));
            if let Some(node) = node {
                eprintln!("{} (pid {pid}) exited: {status}; its log: {}", node.name(), node.log.display());
            }
        }
    }

    /// Stops the brokers (SIGTERM, together), then the coordinator; SIGKILL
    /// whatever outlives `timeout`. Returns how many were running.
    fn stop_all(&mut self, state: &State, timeout: Duration) -> usize {
        let brokers: Vec<&Node> = state.brokers.iter().collect();
        self.stop(&brokers, timeout) + self.stop(&[&state.zookeeper], timeout)
    }

    fn stop(&mut self, nodes: &[&Node], timeout: Duration) -> usize {
        let running: Vec<&Node> = nodes.iter().copied().filter(|n| self.alive(n)).collect();
        for n in &running {
            if let Some(pid) = n.pid {
                if let Err(e) = signal(pid, "TERM") {
                    eprintln!("cannot stop {}: {}", n.name(), super::common::error_line(&e));
                }
            }
        }
        let deadline = Instant::now() + timeout;
        while running.iter().any(|n| self.alive(n)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        for n in running.iter().filter(|n| self.alive(n)) {
            eprintln!("{} did not stop within {timeout:?}; killing it", n.name());
            if let Some(pid) = n.pid {
                let _ = signal(pid, "KILL");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while running.iter().any(|n| self.alive(n)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        running.len()
    }
}

// ---------------------------------------------------------------------------
// ZooKeeper look-ups

/// What ZooKeeper says about the cluster.
struct Registrations {
    broker_ids: BTreeSet<i32>,
    controller: Option<i32>,
}

async fn zk_client(port: u16, timeout: Duration) -> anyhow::Result<zookeeper_client::Client> {
    let connect = format!("127.0.0.1:{port}");
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(timeout)
        .connect(&connect);
    match tokio::time::timeout(timeout, client).await {
        Ok(r) => r.with_context(|| format!("cannot connect to ZooKeeper at {connect}")),
        Err(_) => bail!("cannot connect to ZooKeeper at {connect} within {timeout:?}"),
    }
}

async fn registrations(zk: &zookeeper_client::Client) -> anyhow::Result<Registrations> {
    let ids = match zk.list_children("/brokers/ids").await {
        Ok(ids) => ids,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(e).context("cannot list /brokers/ids"),
    };
    let controller = match zk.get_data("/controller").await {
        Ok((data, _)) => serde_json::from_slice::<serde_json::Value>(&data)
            .ok()
            .and_then(|v| v["brokerid"].as_i64())
            .and_then(|id| i32::try_from(id).ok()),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => return Err(e).context("cannot read /controller"),
    };
    Ok(Registrations { broker_ids: ids.iter().filter_map(|s| s.parse().ok()).collect(), controller })
}

// ---------------------------------------------------------------------------
// up

/// The resolved layout before anything starts.
struct Plan {
    zookeeper_port: u16,
    zookeeper_overrides: BTreeMap<String, String>,
    /// (id, port, overrides)
    brokers: Vec<(i32, u16, BTreeMap<String, String>)>,
    topics: Vec<TopicSpec>,
    security: Option<Security>,
}

fn plan(m: &ArgMatches) -> anyhow::Result<Plan> {
    let spec_path = m.get_one::<PathBuf>("spec");
    let mut spec = match spec_path {
        Some(p) => Spec::read(p)?,
        None => Spec::default(),
    };
    // TLS paths in the spec are relative to the spec's own directory.
    let base = spec_path.and_then(|p| p.parent()).map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let security = match spec.security.take() {
        Some(s) => Some(s.validate(&base).context("invalid security section of the cluster spec")?),
        None => None,
    };
    let count = m.get_one::<u16>("brokers").copied();
    let ephemeral = m.get_flag("ephemeral-ports");
    let base = m.get_one::<u16>("base-port").copied().unwrap_or(DEFAULT_BASE_PORT);
    let mut common = strings(&spec.overrides);
    common.extend(common::kv_values(m, "override")?);

    let pick = |explicit: Option<u16>, default: u16| -> anyhow::Result<u16> {
        match explicit {
            Some(p) => Ok(p),
            None if ephemeral => free_port(),
            None => Ok(default),
        }
    };
    let zookeeper_port =
        pick(spec.zookeeper.port, m.get_one::<u16>("zookeeper-port").copied().unwrap_or(DEFAULT_ZOOKEEPER_PORT))?;
    let mut brokers = Vec::new();
    if spec.brokers.is_empty() {
        for i in 0..count.unwrap_or(3) {
            let port = pick(None, base.checked_add(i).context("--base-port is too high for that many brokers")?)?;
            brokers.push((i32::from(i), port, common.clone()));
        }
    } else {
        if let Some(n) = count.filter(|n| usize::from(*n) != spec.brokers.len()) {
            bail!("--brokers {n} contradicts the spec, which lists {} brokers", spec.brokers.len());
        }
        for (i, b) in spec.brokers.iter().enumerate() {
            let default = u16::try_from(i).ok().and_then(|i| base.checked_add(i)).context("too many brokers")?;
            let mut overrides = common.clone();
            overrides.extend(strings(&b.overrides));
            brokers.push((b.id, pick(b.port, default)?, overrides));
        }
    }
    Ok(Plan {
        zookeeper_port,
        zookeeper_overrides: strings(&spec.zookeeper.overrides),
        brokers,
        topics: spec.topics,
        security,
    })
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("cannot find a free port")?.port())
}

fn check_port_free(port: u16, who: &str) -> anyhow::Result<()> {
    if TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
        bail!(
            "port {port} for {who} is already in use; choose others (--base-port, --zookeeper-port, the spec's \
             ports) or pass --ephemeral-ports"
        );
    }
    Ok(())
}

/// Java properties text, keys in the given order.
fn properties_text(header: &str, entries: &[(String, String)]) -> String {
    let mut s = format!("# {header}\n# Generated by `gregor cluster up`; edits are overwritten by the next `up`.\n");
    for (k, v) in entries {
        s.push_str(&format!("{k}={}\n", v.replace('\\', "\\\\")));
    }
    s
}

/// Puts `overrides` over `base`, keeping `base`'s order and appending new keys.
fn merged(base: Vec<(&str, String)>, overrides: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        base.into_iter().map(|(k, v)| (k.to_string(), overrides.get(k).cloned().unwrap_or(v))).collect();
    for (k, v) in overrides {
        if !out.iter().any(|(key, _)| key == k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

/// Writes the property files (checking them as the tools will) and returns the state to be.
fn write_files(dir: &Path, plan: &Plan) -> anyhow::Result<State> {
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let zk_data = dir.join("zookeeper");
    let zk_props = dir.join("zookeeper.properties");
    let zk_entries = merged(
        vec![
            ("dataDir", zk_data.display().to_string()),
            ("clientPort", plan.zookeeper_port.to_string()),
            ("clientPortAddress", "127.0.0.1".into()),
            ("maxClientCnxns", "0".into()),
            ("tickTime", "2000".into()),
            ("admin.enableServer", "false".into()),
        ],
        &plan.zookeeper_overrides,
    );
    fs::write(&zk_props, properties_text("The coordinator of a local gregor cluster", &zk_entries))
        .with_context(|| format!("cannot write {}", zk_props.display()))?;
    crate::zk::ZkConfig::from_properties_file(&zk_props).with_context(|| format!("in {}", zk_props.display()))?;
    let zookeeper = Node {
        id: None,
        port: plan.zookeeper_port,
        pid: None,
        properties: zk_props,
        log: logs.join("zookeeper.log"),
        data: zk_data,
        protocol: None,
    };
    if let Some(security) = &plan.security {
        security.write_files(dir, |entries| {
            properties_text("The admin client of a local gregor cluster (--command-config)", entries)
        })?;
    }

    let mut brokers = Vec::new();
    for (id, port, overrides) in &plan.brokers {
        let data = dir.join(format!("kafka-logs-{id}"));
        let path = dir.join(format!("broker-{id}.properties"));
        // The tutorial's config/server.properties, one copy per broker.
        let mut entries = merged(
            vec![
                ("broker.id", id.to_string()),
                ("listeners", format!("PLAINTEXT://127.0.0.1:{port}")),
                ("log.dirs", data.display().to_string()),
                ("num.partitions", "1".into()),
                ("offsets.topic.replication.factor", "1".into()),
                ("transaction.state.log.replication.factor", "1".into()),
                ("transaction.state.log.min.isr", "1".into()),
                ("zookeeper.connect", format!("127.0.0.1:{}", plan.zookeeper_port)),
                ("zookeeper.connection.timeout.ms", "6000".into()),
                ("group.initial.rebalance.delay.ms", "0".into()),
                ("delete.topic.enable", "true".into()),
            ],
            overrides,
        );
        if let Some(security) = &plan.security {
            secure(&mut entries, security.broker_properties(*port, dir), overrides);
        }
        let text = properties_text(&format!("Broker {id} of a local gregor cluster"), &entries);
        if plan.security.is_some() {
            // JAAS lines hold passwords.
            super::cluster_security::write_private(&path, &text)?;
        } else {
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        crate::config::BrokerConfig::load(Some(&path), &[]).with_context(|| format!("in {}", path.display()))?;
        brokers.push(Node {
            id: Some(*id),
            port: *port,
            pid: None,
            properties: path,
            log: logs.join(format!("broker-{id}.log")),
            data,
            protocol: plan.security.as_ref().map(|s| s.protocol.name().to_string()),
        });
    }
    let client_properties = plan.security.as_ref().map(|_| Security::client_properties_path(dir));
    Ok(State { supervisor_pid: None, zookeeper, brokers, client_properties })
}

/// Puts the security keys into a broker's entries: `listeners` replaced in
/// place, the rest appended; a key the spec's overrides set keeps the override.
fn secure(entries: &mut Vec<(String, String)>, keys: Vec<(String, String)>, overrides: &BTreeMap<String, String>) {
    for (k, v) in keys {
        if overrides.contains_key(&k) {
            continue;
        }
        match entries.iter_mut().find(|(key, _)| *key == k) {
            Some(entry) => entry.1 = v,
            None => entries.push((k, v)),
        }
    }
}

fn up(dir: &Path, m: &ArgMatches, timeout: Duration) -> anyhow::Result<ExitCode> {
    let detach = m.get_flag("detach");
    let plan = plan(m)?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
    if let Ok(old) = State::load(&dir) {
        let running: Vec<String> = old.nodes().filter(|n| n.alive()).map(|n| n.name()).collect();
        if !running.is_empty() || old.supervisor_alive() {
            bail!(
                "a cluster is already running in {} ({}); stop it with `gregor cluster down --dir {0}`",
                dir.display(),
                running.join(", ")
            );
        }
    }
    check_port_free(plan.zookeeper_port, "zookeeper")?;
    for (id, port, _) in &plan.brokers {
        check_port_free(*port, &format!("broker {id}"))?;
    }
    let mut state = write_files(&dir, &plan)?;
    if !detach {
        state.supervisor_pid = Some(std::process::id());
    }
    let mut children = Children::default();
    let rt = common::runtime()?;
    // Handlers go in before the first child starts: a signal during startup
    // stops what was started instead of killing `up` and orphaning it.
    let mut signals = {
        let _runtime = rt.enter();
        Signals::install()?
    };
    let started = rt.block_on(async {
        tokio::select! {
            r = bring_up(&mut state, &mut children, &plan, &dir, !detach, timeout) => r.map(|()| None),
            code = signals.recv() => Ok(Some(code)),
        }
    });
    let failed = match started {
        Ok(None) => None,
        Ok(Some(code)) => {
            eprintln!("interrupted during startup; stopping what was started");
            Some(Ok(code))
        }
        Err(e) => {
            eprintln!("cluster up failed; stopping what was started");
            Some(Err(e))
        }
    };
    if let Some(result) = failed {
        children.stop_all(&state, Duration::from_secs(10));
        let _ = fs::remove_file(State::path(&dir));
        return result;
    }
    print!("{}", nodes_table(&state));
    if let Some(path) = &state.client_properties {
        eprintln!("Admin client settings: {} (pass it to the tools as --command-config)", path.display());
    }
    if detach {
        eprintln!("Cluster running in {}; stop it with `gregor cluster down --dir {0}`", dir.display());
        // Dropping the children's handles neither kills nor waits for them.
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("Cluster running in {}; Ctrl-C (or `gregor cluster down --dir {0}`) stops it", dir.display());
    let code = rt.block_on(supervise(&dir, &state, &mut children, &mut signals));
    // `cluster start` may have replaced pids since; stop what the file says now.
    let current = State::load(&dir).unwrap_or(state);
    let stopped = children.stop_all(&current, Duration::from_secs(30));
    eprintln!("stopped {stopped} processes");
    let _ = fs::remove_file(State::path(&dir));
    Ok(code)
}

/// Starts the coordinator and the brokers, waits for their registrations and
/// creates the spec's topics; the state file is written as pids become known.
async fn bring_up(
    state: &mut State,
    children: &mut Children,
    plan: &Plan,
    dir: &Path,
    supervised: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    state.zookeeper.pid = Some(children.spawn(&state.zookeeper, supervised)?);
    state.save(dir)?;
    let zk = loop {
        if !children.alive(&state.zookeeper) {
            bail!("the coordinator exited during startup; {}", log_tail(&state.zookeeper.log));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "the coordinator did not accept connections within {timeout:?}; see {}",
                state.zookeeper.log.display()
            );
        }
        if let Ok(zk) = zk_client(state.zookeeper.port, left.min(Duration::from_secs(2))).await {
            break zk;
        }
        tokio::time::sleep(POLL).await;
    };
    // Brokers that log in to each other with SCRAM need their user before they start.
    if let Some(security) = &plan.security {
        let users = security.scram_users();
        if !users.is_empty() {
            let connect = format!("127.0.0.1:{}", state.zookeeper.port);
            super::configs::store_scram_users(&connect, &users).await.context("cannot store the SCRAM users")?;
        }
    }
    for b in &mut state.brokers {
        b.pid = Some(children.spawn(b, supervised)?);
    }
    state.save(dir)?;

    let bar = steps_bar(state.brokers.len() as u64, "brokers registered");
    let wanted: BTreeSet<i32> = state.brokers.iter().filter_map(|b| b.id).collect();
    loop {
        for b in &state.brokers {
            if !children.alive(b) {
                bar.abandon();
                bail!("{} exited during startup; {}", b.name(), log_tail(&b.log));
            }
        }
        let regs = registrations(&zk).await?;
        let done = wanted.intersection(&regs.broker_ids).count();
        bar.set_position(done as u64);
        if done == wanted.len() {
            bar.finish_and_clear();
            break;
        }
        if Instant::now() >= deadline {
            bar.abandon();
            let missing: Vec<String> = wanted.difference(&regs.broker_ids).map(|i| i.to_string()).collect();
            bail!(
                "brokers {} did not register within {timeout:?}; see {}",
                missing.join(", "),
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    drop(zk);
    if !plan.topics.is_empty() {
        create_topics(state, &plan.topics).await?;
    }
    Ok(())
}

/// A "k/n" bar on a terminal; hidden otherwise.
fn steps_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !output::stderr_is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{pos}}/{{len}} [{{elapsed}}] {{wide_bar}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The last lines of a log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
    format!("the end of {}:\n  {tail}", path.display())
}

async fn create_topics(state: &State, topics: &[TopicSpec]) -> anyhow::Result<()> {
    let bootstrap: Vec<String> = state.brokers.iter().map(|b| format!("127.0.0.1:{}", b.port)).collect();
    let mut config = ClientConfig::new(bootstrap.join(","));
    common::apply_command_config(&mut config, state.client_properties.as_ref())?;
    let admin = Admin::connect(config).await?;
    for t in topics {
        let topic = NewTopic {
            name: t.name.clone(),
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            configs: strings(&t.configs),
            assignments: BTreeMap::new(),
        };
        match admin.create_topic(topic, false).await {
            Ok(()) => eprintln!("Created topic {}.", t.name),
            Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => {
                eprintln!("Topic {} already exists.", t.name)
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create topic {}", t.name)),
        }
    }
    Ok(())
}

/// Waits for SIGINT (→ 130) or SIGTERM (→ 0), reaping children that exit meanwhile.
async fn supervise(dir: &Path, state: &State, children: &mut Children, signals: &mut Signals) -> ExitCode {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            code = signals.recv() => {
                eprintln!("stopping the cluster");
                return code;
            }
            _ = tick.tick() => {
                let current = State::load(dir).unwrap_or_else(|_| state.clone());
                children.reap(&current);
            }
        }
    }
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Needs a runtime context.
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?,
        })
    }

    /// The exit code for the next signal: 130 after SIGINT, 0 after SIGTERM.
    async fn recv(&mut self) -> ExitCode {
        tokio::select! {
            _ = self.interrupt.recv() => ExitCode::from(super::EXIT_INTERRUPTED),
            _ = self.terminate.recv() => ExitCode::SUCCESS,
        }
    }
}

// ---------------------------------------------------------------------------
// status

#[derive(Debug, Serialize)]
struct StatusReport {
    dir: PathBuf,
    supervisor_pid: Option<u32>,
    controller: Option<i32>,
    nodes: Vec<NodeStatus>,
}

#[derive(Debug, Serialize)]
struct NodeStatus {
    name: String,
    /// `None` for the coordinator.
    id: Option<i32>,
    endpoint: String,
    pid: Option<u32>,
    alive: bool,
    /// Whether `/brokers/ids/<id>` exists; `None` when ZooKeeper is unreachable
    /// (and for the coordinator).
    registered: Option<bool>,
    controller: bool,
    log: PathBuf,
}

fn status(dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let state = State::load(dir)?;
    let regs = if state.zookeeper.alive() {
        let rt = common::runtime()?;
        rt.block_on(async {
            let zk = zk_client(state.zookeeper.port, Duration::from_secs(5)).await?;
            let regs = registrations(&zk).await;
            drop(zk);
            regs
        })
        .map_err(|e| eprintln!("warning: {}", super::common::error_line(&e)))
        .ok()
    } else {
        None
    };
    let controller = regs.as_ref().and_then(|r| r.controller);
    let nodes = state
        .nodes()
        .map(|n| NodeStatus {
            name: n.name(),
            id: n.id,
            endpoint: n.endpoint(),
            pid: n.pid,
            alive: n.alive(),
            registered: n.id.and_then(|id| regs.as_ref().map(|r| r.broker_ids.contains(&id))),
            controller: n.id.is_some() && n.id == controller,
            log: n.log.clone(),
        })
        .collect();
    let supervisor_pid = state.supervisor_pid.filter(|_| state.supervisor_alive());
    let report = StatusReport { dir: dir.to_path_buf(), supervisor_pid, controller, nodes };
    match format {
        Format::Json | Format::Yaml => print!("{}", output::structured(&report, format)?),
        Format::Plain | Format::Table => {
            let yes_no = |b: Option<bool>| match b {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let rows = report
                .nodes
                .iter()
                .map(|n| {
                    vec![
                        Cell::new(n.id.map(|i| i.to_string()).unwrap_or_else(|| "zk".into())),
                        Cell::new(&n.endpoint),
                        Cell::new(n.pid.map(|p| p.to_string()).unwrap_or_default()),
                        output::health_cell(if n.alive { "alive" } else { "dead" }, n.alive),
                        match n.registered {
                            Some(r) => output::health_cell(yes_no(Some(r)), r == n.alive),
                            None => Cell::new("-"),
                        },
                        Cell::new(if n.controller { "*" } else { "" }),
                        Cell::new(n.log.display()),
                    ]
                })
                .collect();
            println!("{}", output::table(&["id", "endpoint", "pid", "state", "registered", "controller", "log"], rows));
            match report.supervisor_pid {
                Some(pid) => eprintln!("Supervised by `gregor cluster up` (pid {pid})."),
                None => eprintln!("Detached (no supervising `cluster up`)."),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The table `up` prints: ids, endpoints, pids and log files.
fn nodes_table(state: &State) -> String {
    let rows = state
        .nodes()
        .map(|n| {
            vec![
                Cell::new(n.id.map(|i| i.to_string()).unwrap_or_else(|| "zk".into())),
                Cell::new(n.endpoint()),
                Cell::new(n.pid.map(|p| p.to_string()).unwrap_or_default()),
                Cell::new(n.log.display()),
            ]
        })
        .collect();
    format!("{}\n", output::table(&["id", "endpoint", "pid", "log"], rows))
}

// ---------------------------------------------------------------------------
// kill, start, down

fn kill(dir: &Path, id: i32) -> anyhow::Result<ExitCode> {
    let state = State::load(dir)?;
    let node = state.broker(id)?;
    let Some(pid) = node.pid.filter(|_| node.alive()) else { bail!("broker {id} is not running") };
    signal(pid, "KILL")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.alive() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    eprintln!("Killed broker {id} (pid {pid}). Its ZooKeeper registration goes when its session times out.");
    Ok(ExitCode::SUCCESS)
}

fn start(dir: &Path, id: i32, timeout: Duration) -> anyhow::Result<ExitCode> {
    let mut state = State::load(dir)?;
    let node = state.broker(id)?.clone();
    if node.alive() {
        bail!("broker {id} is already running (pid {})", node.pid.unwrap_or_default());
    }
    if !state.zookeeper.alive() {
        bail!("the coordinator is not running; `gregor cluster down` then `up` restarts the whole cluster");
    }
    let rt = common::runtime()?;
    let mut children = Children::default();
    let deadline = Instant::now() + timeout;
    rt.block_on(async {
        let zk = zk_client(state.zookeeper.port, Duration::from_secs(10)).await?;
        // A crashed broker's registration outlives it by the session timeout;
        // a broker starting before that refuses to run with a duplicate id.
        let mut told = false;
        while registrations(&zk).await?.broker_ids.contains(&id) {
            if Instant::now() >= deadline {
                bail!("broker {id} is still registered in ZooKeeper after {timeout:?}");
            }
            if !told {
                eprintln!("Waiting for broker {id}'s old ZooKeeper session to expire…");
                told = true;
            }
            tokio::time::sleep(POLL).await;
        }
        // Not tied to a supervising `up`: this invocation exits right away.
        let pid = children.spawn(&node, false)?;
        if let Some(b) = state.brokers.iter_mut().find(|b| b.id == Some(id)) {
            b.pid = Some(pid);
        }
        state.save(dir)?;
        let started = state.broker(id)?.clone();
        while !registrations(&zk).await?.broker_ids.contains(&id) {
            if !children.alive(&started) {
                bail!("broker {id} exited during startup; {}", log_tail(&started.log));
            }
            if Instant::now() >= deadline {
                bail!("broker {id} did not register within {timeout:?}; see {}", started.log.display());
            }
            tokio::time::sleep(POLL).await;
        }
        drop(zk);
        eprintln!("Started broker {id} (pid {pid}) on {}.", started.endpoint());
        Ok(ExitCode::SUCCESS)
    })
}

fn down(dir: &Path, purge: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    let state = State::load(dir)?;
    let mut stopped = 0;
    if let Some(pid) = state.supervisor_pid.filter(|_| state.supervisor_alive()) {
        // The supervising `up` stops its children in order and removes the state.
        signal(pid, "TERM")?;
        let deadline = Instant::now() + timeout + Duration::from_secs(5);
        while process_alive(pid, None) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        stopped += 1;
    }
    let mut children = Children::default();
    stopped += children.stop_all(&state, timeout);
    let _ = fs::remove_file(State::path(dir));
    if purge {
        for n in state.nodes() {
            for path in [&n.properties, &n.log] {
                let _ = fs::remove_file(path);
            }
            if n.data.exists() {
                fs::remove_dir_all(&n.data).with_context(|| format!("cannot remove {}", n.data.display()))?;
            }
        }
        let _ = fs::remove_dir(dir.join("logs"));
        let _ = fs::remove_dir(dir);
    }
    eprintln!("Stopped {stopped} processes{}.", if purge { "; removed the data" } else { "" });
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_the_documented_example() {
        let spec = Spec::parse(
            "zookeeper: {port: 2181}\n\
             brokers:\n  - {id: 0, port: 9092, overrides: {num.partitions: \"3\"}}\n  - {id: 1, port: 9093}\n\
             topics:\n  - {name: my-replicated-topic, partitions: 1, replication_factor: 3, configs: {retention.ms: 86400000}}\n",
        )
        .expect("spec");
        assert_eq!(spec.zookeeper.port, Some(2181));
        assert_eq!(spec.brokers.len(), 2);
        assert_eq!(strings(&spec.brokers[0].overrides)["num.partitions"], "3");
        assert_eq!(spec.topics[0].replication_factor, 3);
        assert_eq!(strings(&spec.topics[0].configs)["retention.ms"], "86400000");
    }

    #[test]
    fn spec_rejects_mistakes() {
        assert!(Spec::parse("brokers: [{id: 0}, {id: 0}]").is_err());
        assert!(Spec::parse("brokers: [{id: 0, port: 1}, {id: 1, port: 1}]").is_err());
        assert!(Spec::parse("broker: []").is_err(), "unknown keys are errors");
        assert!(Spec::parse("").is_ok());
    }

    #[test]
    fn plan_takes_the_spec_brokers_and_counts_ports_up_from_the_base() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spec = tmp.path().join("cluster.yaml");
        fs::write(
            &spec,
            "zookeeper: {port: 3000}\noverrides: {num.partitions: 2}\n\
             brokers: [{id: 5, overrides: {num.partitions: 4}}, {id: 7, port: 3100}]\n",
        )
        .expect("spec");
        let spec = spec.to_str().expect("utf-8");
        let m = command()
            .try_get_matches_from(["cluster", "up", "--spec", spec, "--base-port", "4000", "--override", "a.b=c"])
            .expect("args");
        let p = plan(m.subcommand_matches("up").expect("up")).expect("plan");
        assert_eq!(p.zookeeper_port, 3000);
        let layout: Vec<(i32, u16)> = p.brokers.iter().map(|(id, port, _)| (*id, *port)).collect();
        assert_eq!(layout, vec![(5, 4000), (7, 3100)]);
        assert_eq!(p.brokers[0].2["num.partitions"], "4");
        assert_eq!(p.brokers[1].2["num.partitions"], "2");
        assert_eq!(p.brokers[1].2["a.b"], "c");

        let m = command().try_get_matches_from(["cluster", "up", "--spec", spec, "--brokers", "3"]).expect("args");
        assert!(plan(m.subcommand_matches("up").expect("up")).is_err(), "--brokers contradicts the spec");
        let m = command().try_get_matches_from(["cluster", "up"]).expect("args");
        let plan = plan(m.subcommand_matches("up").expect("up")).expect("plan");
        let layout: Vec<(i32, u16)> = plan.brokers.iter().map(|(id, port, _)| (*id, *port)).collect();
        assert_eq!(
            (plan.zookeeper_port, layout),
            (2181, vec![(0, 9092), (1, 9093), (2, 9094)]),
            "the tutorial's ports"
        );
    }

    #[test]
    fn a_security_section_secures_every_broker_file_and_writes_client_properties() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let spec = tmp.path().join("cluster.yaml");
        fs::write(
            &spec,
            "overrides: {super.users: User:root}\n\
             security: {protocol: SASL_PLAINTEXT, mechanism: PLAIN, users: {admin: s3cret}, authorizer: true}\n",
        )
        .expect("spec");
        let m = command()
            .try_get_matches_from(["cluster", "up", "--spec", spec.to_str().expect("utf-8"), "--brokers", "2"])
            .expect("args");
        let plan = plan(m.subcommand_matches("up").expect("up")).expect("plan");
        let state = write_files(tmp.path(), &plan).expect("files");
        let props = fs::read_to_string(tmp.path().join("broker-1.properties")).expect("broker-1");
        assert!(props.contains("\nlisteners=SASL_PLAINTEXT://127.0.0.1:9093\n"), "{props}");
        assert!(!props.contains("PLAINTEXT://127.0.0.1:9093\nlisteners"), "one listeners line: {props}");
        assert_eq!(props.matches("listeners=").count(), 1, "{props}");
        assert!(props.contains("super.users=User:root\n"), "the spec's overrides win: {props}");
        assert!(props.contains("authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n"), "{props}");
        let mode = fs::metadata(tmp.path().join("broker-1.properties")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "passwords: owner only");
        assert_eq!(state.brokers[1].endpoint(), "SASL_PLAINTEXT://127.0.0.1:9093");
        let client = state.client_properties.as_ref().expect("client.properties");
        assert!(fs::read_to_string(client).expect("client").contains("sasl.mechanism=PLAIN\n"));
    }

    #[test]
    fn overrides_replace_in_place_and_append() {
        let o = BTreeMap::from([("b".to_string(), "B".to_string()), ("z".to_string(), "Z".to_string())]);
        let m = merged(vec![("a", "1".into()), ("b", "2".into())], &o);
        assert_eq!(m, vec![("a".into(), "1".into()), ("b".into(), "B".into()), ("z".into(), "Z".into())]);
    }
}
