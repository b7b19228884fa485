//! Pieces shared by the client tools: the connection flags, `key=value`
//! parsing, property files, the async runtime and Ctrl-C handling.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command};

/// An error and its causes on one line, each cause once. Many errors show
/// their cause in their own message ("cannot bind listener x: Address in
/// use"), so `{:#}` alone would print that cause a second time.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Adds `--bootstrap-server` (and Kafka's older `--broker-list` alias where asked).
pub fn with_bootstrap(cmd: Command, broker_list_alias: bool) -> Command {
    let mut arg = Arg::new("bootstrap-server")
        .long("bootstrap-server")
        .value_name("HOST:PORT[,HOST:PORT...]")
        .help("Kafka-protocol brokers to connect to");
    if broker_list_alias {
        arg = arg.visible_alias("broker-list");
    }
    cmd.arg(arg).arg(
        Arg::new("zookeeper")
            .long("zookeeper")
            .value_name("HOST:PORT[/CHROOT]")
            .help("ZooKeeper connection, as in Kafka 0.10's tools (instead of --bootstrap-server)"),
    )
}

/// The bootstrap list, or a usage-style error naming what is missing. With
/// `--zookeeper` (Kafka 0.10's old-consumer form) the brokers registered in
/// ZooKeeper are looked up instead.
pub fn bootstrap(m: &ArgMatches) -> anyhow::Result<String> {
    if let Some(b) = m.get_one::<String>("bootstrap-server") {
        return Ok(b.clone());
    }
    if let Some(zk) = m.get_one::<String>("zookeeper") {
        let rt = runtime()?;
        let brokers = rt.block_on(async {
            let admin = crate::metadata::admin::ZkAdmin::connect(zk).await?;
            admin.broker_endpoints().await
        });
        let brokers = brokers.with_context(|| format!("cannot look the brokers up in ZooKeeper at {zk}"))?;
        if brokers.is_empty() {
            bail!("No brokers are registered in ZooKeeper at {zk}");
        }
        return Ok(brokers.join(","));
    }
    bail!("Missing required argument \"[bootstrap-server]\"")
}

/// A repeatable `--flag key=value` argument.
pub fn kv_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("KEY=VALUE").action(ArgAction::Append).help(help)
}

/// Parses `key=value` items (value may contain '=').
pub fn parse_kv<'a>(
    items: impl IntoIterator<Item = &'a String>,
    flag: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            bail!("Invalid {flag} '{item}': expected key=value");
        };
        let k = k.trim();
        if k.is_empty() {
            bail!("Invalid {flag} '{item}': empty key");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The values of a repeatable key=value flag.
pub fn kv_values(m: &ArgMatches, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    match m.get_many::<String>(name) {
        Some(v) => parse_kv(v, &format!("--{name}")),
        None => Ok(BTreeMap::new()),
    }
}

/// A `--producer.config FILE` / `--consumer.config FILE` flag.
pub fn config_file_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("FILE").value_parser(clap::value_parser!(std::path::PathBuf)).help(help)
}

/// The properties of a config-file flag, without `bootstrap.servers` (the
/// command line names the brokers).
pub fn config_file_values(m: &ArgMatches, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(path) = m.get_one::<std::path::PathBuf>(name) else {
        return Ok(BTreeMap::new());
    };
    let mut props = read_properties(path)?;
    props.remove("bootstrap.servers");
    Ok(props)
}

/// Sets the properties of a `--command-config` file on an admin client's
/// config, skipping `bootstrap.servers` (the command line names the brokers)
/// and, with a debug line, keys the admin client does not use.
pub fn set_client_properties(
    config: &mut crate::client::ClientConfig,
    path: &Path,
    props: BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for (k, v) in props {
        if k != "bootstrap.servers" && !config.set(&k, &v).with_context(|| format!("in {}", path.display()))? {
            tracing::debug!(key = k, "ignoring a config this tool does not use");
        }
    }
    Ok(())
}

/// Reads a Java properties file (`--producer.config`, `--consumer.config`).
/// A comma-separated list of ids (`0,1, 2`; empty items skipped).
pub fn parse_id_list(list: &str) -> Result<Vec<i32>, std::num::ParseIntError> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse::<i32>).collect()
}

/// Applies a `--command-config` properties file, when given, to a client config
/// (its keys win over what was set before).
pub fn apply_command_config(
    config: &mut crate::client::ClientConfig,
    path: Option<&std::path::PathBuf>,
) -> anyhow::Result<()> {
    if let Some(path) = path {
        let props = read_properties(path)?;
        set_client_properties(config, path, props)?;
    }
    Ok(())
}

pub fn read_properties(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let map = java_properties::read(std::io::BufReader::new(file))
        .with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(map.into_iter().collect())
}

/// The async runtime for client tools.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
