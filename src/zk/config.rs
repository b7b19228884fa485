//! `zookeeper.properties` → validated [`ZkConfig`], with every default in one place.
//!
//! Keys of a standalone ZooKeeper 3.8 are understood (`dataDir`, `dataLogDir`,
//! `clientPort`, `clientPortAddress`, `tickTime`, `maxClientCnxns`,
//! `minSessionTimeout`, `maxSessionTimeout`, `snapCount`,
//! `autopurge.snapRetainCount`, `4lw.commands.whitelist`,
//! `znode.container.checkIntervalMs`, `jute.maxbuffer`); keys that only matter to
//! features this server does not have (admin server, quorum, TLS...) are accepted
//! and reported as warnings; unknown keys are warnings too. Invalid values are
//! errors naming the key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use super::error::ZkError;
use super::jute::DEFAULT_MAX_BUFFER;

/// Defaults, as ZooKeeper 3.8 has them.
pub mod defaults {
    pub const CLIENT_PORT: u16 = 2181;
    pub const TICK_TIME_MS: u32 = 2000;
    pub const MAX_CLIENT_CNXNS: u32 = 60;
    pub const SNAP_COUNT: u64 = 100_000;
    pub const SNAP_RETAIN_COUNT: usize = 3;
    pub const CONTAINER_CHECK_INTERVAL_MS: u64 = 60_000;
    /// `metricsProvider.httpPort` of the Prometheus provider.
    pub const METRICS_HTTP_PORT: u16 = 7000;
    /// `metricsProvider.httpHost` of the Prometheus provider.
    pub const METRICS_HTTP_HOST: &str = "0.0.0.0";
}

/// `metricsProvider.className` that turns on the Prometheus endpoint, as in ZooKeeper 3.6+.
pub const PROMETHEUS_PROVIDER: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// Validated server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConfig {
    /// Snapshots (and logs unless `data_log_dir` is set) go to `<data_dir>/version-2`.
    pub data_dir: PathBuf,
    /// Transaction logs go to `<data_log_dir>/version-2` when set.
    pub data_log_dir: Option<PathBuf>,
    /// Listen address (`clientPortAddress` + `clientPort`), default 0.0.0.0:2181.
    pub client_port_address: SocketAddr,
    pub tick_time_ms: u32,
    /// Connections allowed per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    /// Defaults to 2 × tickTime.
    pub min_session_timeout_ms: Option<u32>,
    /// Defaults to 20 × tickTime.
    pub max_session_timeout_ms: Option<u32>,
    /// Transactions between snapshots (`snapCount`).
    pub snapshot_every: u64,
    /// Snapshots kept (`autopurge.snapRetainCount`, at least 3 as in ZooKeeper).
    pub snap_retain_count: usize,
    /// Four-letter words allowed; `None` allows all of them.
    pub four_letter_words: Option<BTreeSet<String>>,
    /// How often empty containers and expired TTL nodes are swept.
    pub container_check_interval_ms: u64,
    /// Largest data/frame accepted (`jute.maxbuffer`); frames may exceed it by 1 KiB.
    pub jute_max_buffer: usize,
    /// Where `/metrics` is served (`metricsProvider.httpHost`, `metricsProvider.httpPort`)
    /// when `metricsProvider.className` is the Prometheus provider; `None`: off.
    pub metrics_provider: Option<(String, u16)>,
}

impl Default for ZkConfig {
    fn default() -> Self {
        ZkConfig::new("/tmp/zookeeper")
    }
}

impl ZkConfig {
    /// Defaults everywhere except the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> ZkConfig {
        ZkConfig {
            data_dir: data_dir.into(),
            data_log_dir: None,
            client_port_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), defaults::CLIENT_PORT),
            tick_time_ms: defaults::TICK_TIME_MS,
            max_client_cnxns: defaults::MAX_CLIENT_CNXNS,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            snapshot_every: defaults::SNAP_COUNT,
            snap_retain_count: defaults::SNAP_RETAIN_COUNT,
            four_letter_words: None,
            container_check_interval_ms: defaults::CONTAINER_CHECK_INTERVAL_MS,
            jute_max_buffer: DEFAULT_MAX_BUFFER,
            metrics_provider: None,
        }
    }

    /// Effective minimum session timeout.
    pub fn min_session_timeout(&self) -> u32 {
        self.min_session_timeout_ms.unwrap_or(self.tick_time_ms.saturating_mul(2))
    }

    /// Effective maximum session timeout.
    pub fn max_session_timeout(&self) -> u32 {
        self.max_session_timeout_ms.unwrap_or(self.tick_time_ms.saturating_mul(20))
    }

    /// Reads a Java properties file. Returns the config and warnings for keys that
    /// were ignored.
    pub fn from_properties_file(path: &Path) -> Result<(ZkConfig, Vec<String>), ZkError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ZkError::ConfigFile { path: path.to_path_buf(), source })?;
        ZkConfig::from_map(&parse_properties(&text))
    }

    /// Builds a config from raw key/value pairs.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<(ZkConfig, Vec<String>), ZkError> {
        let mut warnings = Vec::new();
        let data_dir = map.get("dataDir").map(|s| s.trim()).filter(|s| !s.is_empty()).ok_or_else(|| {
            ZkError::Config { key: "dataDir".into(), reason: "is required (where snapshots are stored)".into() }
        })?;
        let mut cfg = ZkConfig::new(data_dir);
        let mut port = defaults::CLIENT_PORT;
        let mut host: Option<String> = None;
        let mut metrics_class: Option<&str> = None;
        let mut metrics_host = defaults::METRICS_HTTP_HOST.to_string();
        let mut metrics_port = defaults::METRICS_HTTP_PORT;
        for (key, value) in map {
            let value = value.trim();
            match key.as_str() {
                "dataDir" => {}
                "dataLogDir" => {
                    if !value.is_empty() {
                        cfg.data_log_dir = Some(PathBuf::from(value));
                    }
                }
                "clientPort" => port = parse_num(key, value)?,
                "clientPortAddress" => {
                    if !value.is_empty() {
                        host = Some(value.to_string());
                    }
                }
                "tickTime" => {
                    cfg.tick_time_ms = parse_num(key, value)?;
                    if cfg.tick_time_ms == 0 {
                        return Err(invalid(key, value, "must be positive"));
                    }
                }
                "maxClientCnxns" => cfg.max_client_cnxns = parse_num(key, value)?,
                "minSessionTimeout" => cfg.min_session_timeout_ms = parse_optional_timeout(key, value)?,
                "maxSessionTimeout" => cfg.max_session_timeout_ms = parse_optional_timeout(key, value)?,
                "snapCount" => {
                    cfg.snapshot_every = parse_num(key, value)?;
                    if cfg.snapshot_every == 0 {
                        return Err(invalid(key, value, "must be positive"));
                    }
                }
                "autopurge.snapRetainCount" => {
                    let n: usize = parse_num(key, value)?;
                    if n < 3 {
                        warnings.push(format!("{key}={value} raised to 3, the minimum"));
                    }
                    cfg.snap_retain_count = n.max(3);
                }
                "4lw.commands.whitelist" => {
                    let words: BTreeSet<String> =
                        value.split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect();
                    cfg.four_letter_words = if words.contains("*") { None } else { Some(words) };
                }
                "znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = parse_num(key, value)?;
                    if cfg.container_check_interval_ms == 0 {
                        return Err(invalid(key, value, "must be positive"));
                    }
                }
                "jute.maxbuffer" => {
                    cfg.jute_max_buffer = parse_num(key, value)?;
                    if cfg.jute_max_buffer < 1024 {
                        return Err(invalid(key, value, "must be at least 1024"));
                    }
                }
                "metricsProvider.className" => metrics_class = Some(value).filter(|v| !v.is_empty()),
                "metricsProvider.httpPort" => metrics_port = parse_num(key, value)?,
                "metricsProvider.httpHost" => {
                    if !value.is_empty() {
                        metrics_host = value.trim_start_matches('[').trim_end_matches(']').to_string();
                    }
                }
                "autopurge.purgeInterval"
                | "initLimit"
                | "syncLimit"
                | "admin.serverPort"
                | "admin.serverAddress"
                | "admin.idleTimeout"
                | "admin.commandURL"
                | "standaloneEnabled"
                | "reconfigEnabled"
                | "preAllocSize"
                | "globalOutstandingLimit"
                | "syncEnabled"
                | "clientPortListenBacklog"
                | "maxCnxns"
                | "electionAlg"
                | "quorumListenOnAllIPs"
                | "leaderServes"
                | "localSessionsEnabled"
                | "localSessionsUpgradingEnabled"
                | "audit.enable"
                | "serverCnxnFactory"
                | "metricsProvider.exportJvmInfo"
                | "extendedTypesEnabled"
                | "connectToLearnerMasterLimit"
                | "peerType"
                | "maxResponseCacheSize"
                | "maxGetChildrenResponseCacheSize" => {}
                "admin.enableServer" => {
                    if value.eq_ignore_ascii_case("true") {
                        warnings.push("admin.enableServer=true: the AdminServer is not provided; ignored".into());
                    }
                }
                k if k.starts_with("server.") || k.starts_with("group.") || k.starts_with("weight.") => {
                    warnings.push(format!("{k}: ensembles are not supported; running standalone"));
                }
                k if k == "secureClientPort" || k.starts_with("ssl.") || k.starts_with("authProvider.") => {
                    warnings.push(format!("{k}: TLS and authentication providers are not supported; ignored"));
                }
                k if k == "dynamicConfigFile" => {
                    warnings.push(format!("{k}: dynamic reconfiguration is not supported; ignored"));
                }
                k => warnings.push(format!("unknown configuration key {k} ignored")),
            }
        }
        cfg.client_port_address = resolve_listen(host.as_deref(), port)?;
        match metrics_class {
            Some(PROMETHEUS_PROVIDER) => cfg.metrics_provider = Some((metrics_host, metrics_port)),
            Some("org.apache.zookeeper.metrics.impl.NullMetricsProvider") | None => {}
            Some(other) => warnings.push(format!(
                "metricsProvider.className={other}: only {PROMETHEUS_PROVIDER} is provided; metrics are off"
            )),
        }
        if cfg.min_session_timeout() > cfg.max_session_timeout() {
            return Err(ZkError::Config {
                key: "minSessionTimeout".into(),
                reason: format!(
                    "minimum session timeout {} ms exceeds the maximum {} ms",
                    cfg.min_session_timeout(),
                    cfg.max_session_timeout()
                ),
            });
        }
        Ok((cfg, warnings))
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ZkError {
    ZkError::Config { key: key.to_string(), reason: format!("{value:?} {reason}") }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ZkError> {
    value.parse().map_err(|_| invalid(key, value, "is not a valid non-negative number"))
}

/// ZooKeeper uses −1 for "derive from tickTime".
fn parse_optional_timeout(key: &str, value: &str) -> Result<Option<u32>, ZkError> {
    let v: i64 = value.parse().map_err(|_| invalid(key, value, "is not a number"))?;
    if v < 0 {
        return Ok(None);
    }
    u32::try_from(v).map(Some).map_err(|_| invalid(key, value, "is too large"))
}

fn resolve_listen(host: Option<&str>, port: u16) -> Result<SocketAddr, ZkError> {
    let Some(host) = host else {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| invalid("clientPortAddress", host, "does not resolve to an address"))
}

/// Parses Java `.properties` text: `key=value`, `key: value` or `key value`,
/// `#`/`!` comments, backslash line continuations and escapes (`\t`, `\n`, `\uXXXX`...).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut logical = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!')) {
            continue;
        }
        logical.push_str(trimmed);
        // An odd number of trailing backslashes continues the line.
        let trailing = logical.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.pop();
            if lines.clone().next().is_some() {
                continue;
            }
        }
        let (key, value) = split_key_value(&logical);
        map.insert(unescape(&key), unescape(&value));
        logical.clear();
    }
    map
}

fn split_key_value(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                key.push(c);
                if let Some(n) = chars.next() {
                    key.push(n);
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|c| *c == '=' || *c == ':') {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    let value: String = chars.collect();
    (key, value.trim_start().to_string())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_quickstart_file() -> Result<(), ZkError> {
        let text = "# the directory where the snapshot is stored.\n\
                    dataDir=/tmp/zookeeper\n\
                    # the port at which the clients will connect\n\
                    clientPort=2181\n\
                    # disable the per-ip limit on the number of connections since this is a non-production config\n\
                    maxClientCnxns=0\n\
                    # Disable the adminserver by default to avoid port conflicts.\n\
                    admin.enableServer=false\n\
                    # admin.serverPort=8080\n";
        let (cfg, warnings) = ZkConfig::from_map(&parse_properties(text))?;
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/zookeeper"));
        assert_eq!(cfg.client_port_address, "0.0.0.0:2181".parse().map_err(|_| invalid("x", "y", "z"))?);
        assert_eq!(cfg.max_client_cnxns, 0);
        assert_eq!(cfg.tick_time_ms, 2000);
        assert_eq!((cfg.min_session_timeout(), cfg.max_session_timeout()), (4000, 40000));
        assert!(warnings.is_empty(), "{warnings:?}");
        Ok(())
    }

    #[test]
    fn properties_syntax() {
        let m = parse_properties("a = 1\nb:2\nc 3\nd=x\\\n  y\ne=\\u0041\\t\n  # c\n!x\nf\n");
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("2"));
        assert_eq!(m.get("c").map(String::as_str), Some("3"));
        assert_eq!(m.get("d").map(String::as_str), Some("xy"));
        assert_eq!(m.get("e").map(String::as_str), Some("A\t"));
        assert_eq!(m.get("f").map(String::as_str), Some(""));
        assert_eq!(m.len(), 6);
    }

    #[test]
    fn errors_name_the_key_and_unknown_keys_warn() {
        let mut m = BTreeMap::new();
        assert!(matches!(ZkConfig::from_map(&m), Err(ZkError::Config { key, .. }) if key == "dataDir"));
        m.insert("dataDir".to_string(), "/d".to_string());
        m.insert("tickTime".to_string(), "fast".to_string());
        assert!(matches!(ZkConfig::from_map(&m), Err(ZkError::Config { key, .. }) if key == "tickTime"));
        m.insert("tickTime".to_string(), "100".to_string());
        m.insert("bogus".to_string(), "1".to_string());
        m.insert("clientPortAddress".to_string(), "127.0.0.1".to_string());
        m.insert("clientPort".to_string(), "0".to_string());
        m.insert("server.1".to_string(), "h:2888:3888".to_string());
        let (cfg, warnings) = ZkConfig::from_map(&m).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.client_port_address.to_string(), "127.0.0.1:0");
        assert_eq!((cfg.min_session_timeout(), cfg.max_session_timeout()), (200, 2000));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn prometheus_provider_turns_the_endpoint_on() -> Result<(), ZkError> {
        let base = "dataDir=/d\n";
        let (cfg, _) = ZkConfig::from_map(&parse_properties(base))?;
        assert_eq!(cfg.metrics_provider, None, "off unless configured");
        let on = format!("{base}metricsProvider.className={PROMETHEUS_PROVIDER}\n");
        let (cfg, warnings) = ZkConfig::from_map(&parse_properties(&on))?;
        assert_eq!(cfg.metrics_provider, Some(("0.0.0.0".to_string(), 7000)));
        assert!(warnings.is_empty(), "{warnings:?}");
        let text = format!("{on}metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0\n");
        let (cfg, _) = ZkConfig::from_map(&parse_properties(&text))?;
        assert_eq!(cfg.metrics_provider, Some(("127.0.0.1".to_string(), 0)));
        let bad = format!("{on}metricsProvider.httpPort=seven\n");
        assert!(
            matches!(ZkConfig::from_map(&parse_properties(&bad)), Err(ZkError::Config { key, .. }) if key == "metricsProvider.httpPort")
        );
        let other = format!("{base}metricsProvider.className=com.example.Other\n");
        let (cfg, warnings) = ZkConfig::from_map(&parse_properties(&other))?;
        assert_eq!(cfg.metrics_provider, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        Ok(())
    }
}
