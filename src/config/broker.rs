//! Stage two for the broker: [`RawConfig`] → [`BrokerConfig`], a validated, typed
//! config, plus the table of every broker key Kafka defines (`BROKER_KEYS`) with its
//! Kafka type, default and validator. Defaults live only in that table.
//!
//! Rules, all Kafka's unless marked *gregor*:
//! - A key in the table with a bad value is an error ([`ConfigError::InvalidValue`]).
//! - A key not in the table is a warning (`The configuration 'x' was supplied but isn't
//!   a known config.`), returned and logged; so are the pre-2.x `port`/`host.name`
//!   family, which gregor ignores. `listener.name.<listener>.<config>` keys are
//!   accepted as they are.
//! - Keys in the table that no typed field covers (`ssl.*`, `sasl.*`, `log.cleaner.*`
//!   tuning, KRaft keys …) are validated by type and stored; read them with
//!   [`BrokerConfig::value_of`].
//! - `broker.id` defaults to -1; Kafka would then generate an id from ZooKeeper's
//!   `/brokers/seqid`. *gregor* does not generate ids: -1 means broker 0
//!   ([`BrokerConfig::broker_id_defaulted`] tells that it happened).
//! - `listeners` defaults to `PLAINTEXT://127.0.0.1:9092` (*gregor*; Kafka's is
//!   `PLAINTEXT://:9092`, every interface) so a quickstart broker is not exposed.
//! - `advertised.listeners` defaults to `listeners`; a wildcard or empty host
//!   (`0.0.0.0`, `::`) is advertised as `127.0.0.1` (*gregor*; Kafka advertises the
//!   machine's canonical host name). A port of 0 means "the port actually bound".
//! - `log.dirs` falls back to `log.dir`, whose default is `<platform data
//!   dir>/kafka-logs` (*gregor*, via `directories`), else Kafka's `/tmp/kafka-logs`.
//! - Retention: `log.retention.ms` > `log.retention.minutes` > `log.retention.hours`;
//!   a negative result means unlimited. Roll: `log.roll.ms` > `log.roll.hours`.
//! - `log.flush.interval.ms` is null by default: the log is flushed on the
//!   `log.flush.scheduler.interval.ms` cadence ([`BrokerConfig::log_flush_ms`]).
//! - `zookeeper.connection.timeout.ms` is null by default and then equals
//!   `zookeeper.session.timeout.ms` (18000), as in Kafka 2.5+.
//! - `queued.max.request.bytes` caps the bytes of all requests being read or
//!   handled; <= 0 (default -1) is no limit, and a limit must be at least
//!   `socket.request.max.bytes`, as in Kafka.
//! - `gregor.partial.request.timeout.ms` (*gregor*, default 30000) closes a
//!   connection that stops sending in the middle of a request; Kafka has no such
//!   key (`connections.max.idle.ms` only covers connections with nothing in flight).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::listener::{self, Listener, SecurityProtocol};
use super::properties::{RawConfig, ValueSource};
use super::value::{self, Check, DefaultValue, KeyDef, Value, ValueType};
use super::{ConfigEntry, ConfigError, ConfigSource, ConfigSynonym};

/// `cleanup.policy` / `log.cleanup.policy`: delete old segments, compact, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: false };

    pub(crate) fn from_items(items: &[String]) -> CleanupPolicy {
        CleanupPolicy { delete: items.iter().any(|i| i == "delete"), compact: items.iter().any(|i| i == "compact") }
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            // Validation never produces an empty policy.
            _ => f.write_str("delete"),
        }
    }
}

/// `compression.type`: `producer` keeps the producer's codec; the others recompress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn name(&self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<CompressionType> {
        [
            CompressionType::Producer,
            CompressionType::Uncompressed,
            CompressionType::Gzip,
            CompressionType::Snappy,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `message.timestamp.type` / `log.message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn name(&self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<TimestampType> {
        match name {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated broker configuration. Field names are the Kafka keys with `_` for `.`;
/// durations end in `_ms`. `Option<u64>` retention/buffer fields use `None` for
/// Kafka's -1 (unlimited / OS default). Fields are public so tests can adjust a
/// validated config; keep them consistent when you do.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    // --- identity and cluster ---
    /// `broker.id`, with -1 (unset) mapped to 0.
    pub broker_id: i32,
    /// `broker.id` was -1: Kafka would have generated an id from ZooKeeper.
    pub broker_id_defaulted: bool,
    pub broker_rack: Option<String>,
    /// `zookeeper.connect`; `None` (or blank) runs the embedded coordinator.
    pub zookeeper_connect: Option<String>,
    pub zookeeper_session_timeout_ms: u64,
    /// `zookeeper.connection.timeout.ms`, else the session timeout.
    pub zookeeper_connection_timeout_ms: u64,
    pub controlled_shutdown_enable: bool,
    /// Attempts at a controlled shutdown before shutting down regardless.
    pub controlled_shutdown_max_retries: u32,
    pub controlled_shutdown_retry_backoff_ms: u64,
    /// How long a ControlledShutdown request to the controller may take.
    pub controller_socket_timeout_ms: u64,

    // --- network ---
    /// Endpoints to bind; wildcard hosts are `0.0.0.0`.
    pub listeners: Vec<Listener>,
    /// Endpoints given to clients in Metadata and registered in ZooKeeper.
    pub advertised_listeners: Vec<Listener>,
    /// Listener name → protocol, from `listener.security.protocol.map`.
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    /// The advertised listener brokers use to talk to each other
    /// (`inter.broker.listener.name`, else the name of `security.inter.broker.protocol`).
    pub inter_broker_listener_name: String,
    pub num_network_threads: usize,
    pub num_io_threads: usize,
    /// `None`: the OS default (-1).
    pub socket_send_buffer_bytes: Option<u32>,
    pub socket_receive_buffer_bytes: Option<u32>,
    /// Largest request frame accepted.
    pub socket_request_max_bytes: u32,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    pub queued_max_requests: usize,
    /// `queued.max.request.bytes`: the bytes all connections together may hold in
    /// requests being read or handled; `None` (Kafka's -1) is no limit.
    pub queued_max_request_bytes: Option<u64>,
    pub request_timeout_ms: u64,
    /// A connection with no request in flight that receives nothing for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `gregor.partial.request.timeout.ms` (*gregor*; Kafka has no such key): a
    /// connection that has started sending a request and then sends nothing more
    /// for this long is closed, so a stalled partial frame stops holding memory.
    pub partial_request_timeout_ms: u64,
    /// `metrics.listener` (*gregor*): where Prometheus scrapes `/metrics`
    /// (`http://host:port`); `None`: no metrics endpoint.
    pub metrics_listener: Option<String>,
    /// `console.listener` (*gregor*): where the web console is served
    /// (`http://host:port`); `None`: no console.
    pub console_listener: Option<String>,

    // --- log ---
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub log_segment_bytes: u32,
    /// `log.roll.ms`, else `log.roll.hours`.
    pub log_roll_ms: u64,
    /// `log.roll.jitter.ms`, else `log.roll.jitter.hours`.
    pub log_roll_jitter_ms: u64,
    /// Effective retention time; `None` = unlimited.
    pub log_retention_ms: Option<u64>,
    /// `None` = unlimited (-1).
    pub log_retention_bytes: Option<u64>,
    pub log_retention_check_interval_ms: u64,
    pub log_index_interval_bytes: u32,
    pub log_index_size_max_bytes: u32,
    pub log_flush_interval_messages: u64,
    /// `None`: not set; see [`BrokerConfig::log_flush_ms`].
    pub log_flush_interval_ms: Option<u64>,
    pub log_flush_scheduler_interval_ms: u64,
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub log_segment_delete_delay_ms: u64,
    pub log_cleanup_policy: CleanupPolicy,
    pub log_cleaner_enable: bool,
    pub log_cleaner_backoff_ms: u64,
    pub log_cleaner_delete_retention_ms: u64,
    pub log_cleaner_min_compaction_lag_ms: u64,
    pub log_cleaner_max_compaction_lag_ms: u64,
    pub log_cleaner_min_cleanable_ratio: f64,
    pub log_preallocate: bool,
    pub log_message_timestamp_type: TimestampType,
    pub log_message_timestamp_difference_max_ms: u64,
    pub log_message_downconversion_enable: bool,
    pub log_message_format_version: String,
    pub message_max_bytes: u32,
    pub compression_type: CompressionType,
    pub num_recovery_threads_per_data_dir: usize,

    // --- replication ---
    pub min_insync_replicas: u32,
    pub replica_lag_time_max_ms: u64,
    pub unclean_leader_election_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    /// Above this share (in %) of a broker's preferred-leader partitions led
    /// elsewhere, the controller moves them back.
    pub leader_imbalance_per_broker_percentage: u32,
    pub leader_imbalance_check_interval_seconds: u64,
    pub num_replica_fetchers: usize,
    pub replica_fetch_max_bytes: u32,
    pub replica_fetch_min_bytes: u32,
    pub replica_fetch_response_max_bytes: u32,
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_backoff_ms: u64,
    pub replica_socket_timeout_ms: u64,
    pub replica_high_watermark_checkpoint_interval_ms: u64,

    // --- group coordinator and offsets ---
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    pub group_max_size: u32,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: u32,
    pub offsets_retention_minutes: u32,
    pub offsets_retention_check_interval_ms: u64,
    pub offset_metadata_max_bytes: u32,
    pub offsets_commit_timeout_ms: u64,

    // --- transactions ---
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: u32,
    pub transaction_state_log_segment_bytes: u32,
    pub transaction_max_timeout_ms: u64,
    pub transactional_id_expiration_ms: u64,
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    pub transaction_remove_expired_transaction_cleanup_interval_ms: u64,
    /// How long a producer id's state is kept after its last write.
    pub producer_id_expiration_ms: u64,
    pub producer_id_expiration_check_interval_ms: u64,

    /// Everything as given in the file and by `--override` (the static layer),
    /// for sources and for keys without a typed field.
    raw: RawConfig,
    /// The dynamic layers from ZooKeeper applied over `raw` (see
    /// [`BrokerConfig::with_dynamic`]); empty for a config read from a file.
    dynamic: DynamicLayers,
}

/// Dynamic broker configs kept in ZooKeeper: the cluster-wide default
/// (`/config/brokers/<default>`) and this broker's own (`/config/brokers/<id>`),
/// which wins over the default; both win over the static file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicLayers {
    pub default: BTreeMap<String, String>,
    pub broker: BTreeMap<String, String>,
}

/// The broker keys that stand for one setting, most specific first (Kafka's
/// synonyms: `log.retention.ms` > `log.retention.minutes` > `log.retention.hours`).
pub(crate) fn broker_synonym_names(name: &str) -> &[&str] {
    match name {
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => {
            &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
        }
        "log.roll.ms" | "log.roll.hours" => &["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "log.flush.interval.ms" => &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        _ => std::slice::from_ref(BROKER_KEYS.iter().find(|d| d.name == name).map_or(&"", |d| &d.name)),
    }
}

impl BrokerConfig {
    /// Validates `raw` and builds the typed config. Returns the warnings (unknown or
    /// ignored keys), which are also logged with `tracing::warn!`.
    pub fn from_raw(raw: RawConfig) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        // Check every given key first, in file order, so the first bad line is reported.
        for (key, entry) in raw.iter() {
            match broker_key(key) {
                Some(def) => {
                    value::parse(def, &entry.value)?;
                    if let Some(w) = ignored_key_warning(key) {
                        warnings.push(w);
                    }
                }
                None if is_listener_prefixed(key) => {}
                None => warnings.push(format!("The configuration '{key}' was supplied but isn't a known config.")),
            }
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        let config = build(raw)?;
        Ok((config, warnings))
    }

    /// Reads `path` (if any), applies `--override key=value` strings, and validates.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut raw = match path {
            Some(p) => RawConfig::from_file(p)?,
            None => RawConfig::new(),
        };
        raw.apply_overrides(overrides)?;
        BrokerConfig::from_raw(raw)
    }

    /// Every known broker key with its value, for DescribeConfigs on a broker
    /// resource, sorted by name. A key set in the file or by `--override` is
    /// STATIC_BROKER_CONFIG, otherwise DEFAULT_CONFIG. Each key reports its own value
    /// as Kafka does (so `log.retention.ms` is null unless set; the effective
    /// retention shows on topics). Sensitive values are never returned.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        let mut entries: Vec<ConfigEntry> = BROKER_KEYS
            .iter()
            .map(|def| {
                let own = std::slice::from_ref(&def.name);
                let names = if broker_synonym_names(def.name).first() == Some(&def.name) {
                    broker_synonym_names(def.name)
                } else {
                    own
                };
                let synonyms = self.synonym_chain(names);
                let source = synonyms.first().map_or(ConfigSource::DefaultConfig, |s| s.source);
                let value = if def.sensitive() {
                    None
                } else if def.name == "broker.id" {
                    Some(self.broker_id.to_string())
                } else {
                    self.value_of(def.name)
                };
                ConfigEntry {
                    name: def.name.to_string(),
                    value,
                    source,
                    is_default: source == ConfigSource::DefaultConfig,
                    read_only: !def.dynamic,
                    sensitive: def.sensitive(),
                    synonyms,
                }
            })
            .collect();
        let mut listener_keys: BTreeMap<&str, (&str, ConfigSource)> = BTreeMap::new();
        for (key, entry) in self.raw.iter() {
            listener_keys.insert(key, (entry.value.as_str(), ConfigSource::StaticBrokerConfig));
        }
        for (key, value) in &self.dynamic.default {
            listener_keys.insert(key, (value.as_str(), ConfigSource::DynamicDefaultBrokerConfig));
        }
        for (key, value) in &self.dynamic.broker {
            listener_keys.insert(key, (value.as_str(), ConfigSource::DynamicBrokerConfig));
        }
        for (key, (value, source)) in listener_keys {
            if broker_key(key).is_none() && is_listener_prefixed(key) {
                let sensitive = is_sensitive_listener_key(key);
                let value = (!sensitive).then(|| value.trim().to_string());
                entries.push(ConfigEntry {
                    name: key.to_string(),
                    value: value.clone(),
                    source,
                    is_default: false,
                    read_only: false,
                    sensitive,
                    synonyms: vec![ConfigSynonym { name: key.to_string(), value, source }],
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// DescribeConfigs on the cluster-wide default broker resource (empty name):
    /// only the keys set in `/config/brokers/<default>`, as Kafka answers it.
    pub fn describe_default(&self) -> Vec<ConfigEntry> {
        self.dynamic
            .default
            .iter()
            .map(|(name, raw)| {
                let sensitive = broker_key(name).map_or_else(|| is_sensitive_listener_key(name), |d| d.sensitive());
                let value = if sensitive {
                    None
                } else {
                    match broker_key(name) {
                        Some(def) => value::parse(def, raw).ok().map(|v| v.render()),
                        None => Some(raw.trim().to_string()),
                    }
                };
                let source = ConfigSource::DynamicDefaultBrokerConfig;
                ConfigEntry {
                    name: name.clone(),
                    value: value.clone(),
                    source,
                    is_default: false,
                    read_only: false,
                    sensitive,
                    synonyms: vec![ConfigSynonym { name: name.clone(), value, source }],
                }
            })
            .collect()
    }

    /// Where a broker key's value comes from, most specific layer first:
    /// this broker's dynamic config, the cluster default, the static file.
    fn layered(&self, key: &str) -> Option<(&str, ConfigSource)> {
        if let Some(v) = self.dynamic.broker.get(key) {
            return Some((v, ConfigSource::DynamicBrokerConfig));
        }
        if let Some(v) = self.dynamic.default.get(key) {
            return Some((v, ConfigSource::DynamicDefaultBrokerConfig));
        }
        self.raw.get(key).map(|v| (v, ConfigSource::StaticBrokerConfig))
    }

    /// Kafka's synonym list for a setting known under `names` (most specific
    /// first): every layer that sets one of them, most specific layer first,
    /// then the non-null defaults. Sensitive values are left out.
    pub fn synonym_chain(&self, names: &[&str]) -> Vec<ConfigSynonym> {
        let mut out = Vec::new();
        let sensitive = |n: &str| broker_key(n).is_some_and(|d| d.sensitive());
        let rendered = |n: &str, raw: &str| match broker_key(n) {
            Some(def) => value::parse(def, raw).ok().map(|v| v.render()),
            None => Some(raw.trim().to_string()),
        };
        for (layer, source) in [
            (&self.dynamic.broker, ConfigSource::DynamicBrokerConfig),
            (&self.dynamic.default, ConfigSource::DynamicDefaultBrokerConfig),
        ] {
            for n in names {
                if let Some(raw) = layer.get(*n) {
                    let value = if sensitive(n) { None } else { rendered(n, raw) };
                    out.push(ConfigSynonym { name: n.to_string(), value, source });
                }
            }
        }
        for n in names {
            if let Some(raw) = self.raw.get(n) {
                let value = if sensitive(n) { None } else { rendered(n, raw) };
                out.push(ConfigSynonym { name: n.to_string(), value, source: ConfigSource::StaticBrokerConfig });
            }
        }
        for n in names {
            if let Some(default) = broker_key(n).and_then(KeyDef::default_string) {
                let value = if sensitive(n) { None } else { Some(default) };
                out.push(ConfigSynonym { name: n.to_string(), value, source: ConfigSource::DefaultConfig });
            }
        }
        out
    }

    /// The dynamic layers this config was built with.
    pub fn dynamic_layers(&self) -> &DynamicLayers {
        &self.dynamic
    }

    /// This config with the dynamic layers applied over the static one (any
    /// earlier dynamic layers are replaced). A dynamic key that Kafka does not
    /// allow to change, or whose value does not validate (written to ZooKeeper
    /// by hand, say), is skipped with a warning, as Kafka's broker does; when
    /// the combination does not build, the static config stays in force.
    /// Returns the new config and the warnings.
    pub fn with_dynamic(&self, layers: DynamicLayers) -> (BrokerConfig, Vec<String>) {
        let mut warnings = Vec::new();
        let mut merged = self.raw.clone();
        let mut accepted = DynamicLayers::default();
        for (layer, kept, what) in [
            (&layers.default, &mut accepted.default, "<default>"),
            (&layers.broker, &mut accepted.broker, "this broker"),
        ] {
            for (key, raw) in layer {
                let usable = match broker_key(key) {
                    Some(def) if def.dynamic => match value::parse(def, raw) {
                        Ok(_) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    },
                    Some(_) => Err(format!("{key} cannot be updated dynamically")),
                    None if is_listener_prefixed(key) => Ok(()),
                    None => Err(format!("{key} is not a known broker config")),
                };
                match usable {
                    Ok(()) => {
                        merged.insert(key.clone(), raw.clone(), ValueSource::Override, None);
                        kept.insert(key.clone(), raw.clone());
                    }
                    Err(reason) => warnings.push(format!("ignoring the dynamic config {key} of {what}: {reason}")),
                }
            }
        }
        match build(merged) {
            Ok(mut config) => {
                config.raw = self.raw.clone();
                config.dynamic = accepted;
                (config, warnings)
            }
            Err(e) => {
                warnings.push(format!(
                    "the dynamic broker configs do not combine with the static ones ({e}); keeping the static configs"
                ));
                let mut config = self.clone();
                config.dynamic = DynamicLayers::default();
                (config, warnings)
            }
        }
    }

    /// The value of any known broker key as Kafka renders it (given value, else the
    /// default; `None` for a null default or an unknown key). This is how code reads
    /// keys that have no typed field. Sensitive values are returned: do not log them.
    pub fn value_of(&self, key: &str) -> Option<String> {
        let def = broker_key(key)?;
        match self.layered(key).map(|(v, _)| v) {
            Some(v) => value::parse(def, v).ok().map(|v| v.render()),
            None => def.default_string(),
        }
    }

    /// Whether `key` was given in the file, by `--override` or dynamically (not defaulted).
    pub fn is_set(&self, key: &str) -> bool {
        self.layered(key).is_some()
    }

    /// The raw map this config was built from.
    pub fn raw(&self) -> &RawConfig {
        &self.raw
    }

    /// `host:port` strings to bind, one per listener, in `listeners` order.
    pub fn listener_addrs(&self) -> Vec<String> {
        self.listeners.iter().map(Listener::bind_addr).collect()
    }

    /// The security protocol of a listener name (case-insensitive).
    pub fn security_protocol(&self, listener_name: &str) -> Option<SecurityProtocol> {
        self.listener_security_protocol_map.get(&listener_name.to_ascii_uppercase()).copied()
    }

    /// The advertised endpoint of a listener name, if any.
    pub fn advertised_listener(&self, listener_name: &str) -> Option<&Listener> {
        self.advertised_listeners.iter().find(|l| l.name.eq_ignore_ascii_case(listener_name))
    }

    /// Effective flush interval: `log.flush.interval.ms`, else
    /// `log.flush.scheduler.interval.ms` (Kafka's `logFlushIntervalMs`).
    pub fn log_flush_ms(&self) -> u64 {
        self.log_flush_interval_ms.unwrap_or(self.log_flush_scheduler_interval_ms)
    }
}

const MS_PER_MINUTE: i64 = 60 * 1000;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;

fn build(raw: RawConfig) -> Result<BrokerConfig, ConfigError> {
    let r = Reader { raw: &raw };

    let configured_id = r.number("broker.id")?;
    let broker_id_defaulted = configured_id == -1;
    let broker_id = if broker_id_defaulted { 0 } else { to::<i32>("broker.id", configured_id)? };

    let zookeeper_connect = r.opt_string("zookeeper.connect")?.filter(|s| !s.is_empty());
    let zookeeper_session_timeout_ms = r.u64("zookeeper.session.timeout.ms")?;
    let zookeeper_connection_timeout_ms = match r.opt_number("zookeeper.connection.timeout.ms")? {
        Some(ms) => to("zookeeper.connection.timeout.ms", ms)?,
        None => zookeeper_session_timeout_ms,
    };

    let net = read_listeners(&r)?;

    let retention = match r.opt_number("log.retention.ms")? {
        Some(ms) => ms,
        None => match r.opt_number("log.retention.minutes")? {
            Some(minutes) => minutes.saturating_mul(MS_PER_MINUTE),
            None => r.number("log.retention.hours")?.saturating_mul(MS_PER_HOUR),
        },
    };
    let roll = match r.opt_number("log.roll.ms")? {
        Some(ms) => ms,
        None => r.number("log.roll.hours")?.saturating_mul(MS_PER_HOUR),
    };
    let jitter = match r.opt_number("log.roll.jitter.ms")? {
        Some(ms) => ms,
        None => r.number("log.roll.jitter.hours")?.saturating_mul(MS_PER_HOUR),
    };

    let timestamp_name = r.string("log.message.timestamp.type")?;
    let log_message_timestamp_type = TimestampType::from_name(&timestamp_name)
        .ok_or_else(|| ConfigError::invalid("log.message.timestamp.type", &timestamp_name, "unknown timestamp type"))?;
    let compression_name = r.string("compression.type")?;
    let compression_type = CompressionType::from_name(&compression_name)
        .ok_or_else(|| ConfigError::invalid("compression.type", &compression_name, "unknown compression type"))?;

    Ok(BrokerConfig {
        broker_id,
        broker_id_defaulted,
        broker_rack: r.opt_string("broker.rack")?,
        zookeeper_connect,
        zookeeper_session_timeout_ms,
        zookeeper_connection_timeout_ms,
        controlled_shutdown_enable: r.bool("controlled.shutdown.enable")?,
        controlled_shutdown_max_retries: r.u32("controlled.shutdown.max.retries")?,
        controlled_shutdown_retry_backoff_ms: r.u64("controlled.shutdown.retry.backoff.ms")?,
        controller_socket_timeout_ms: r.u64("controller.socket.timeout.ms")?,

        listeners: net.listeners,
        advertised_listeners: net.advertised,
        listener_security_protocol_map: net.protocol_map,
        inter_broker_listener_name: net.inter_broker,
        num_network_threads: r.usize("num.network.threads")?,
        num_io_threads: r.usize("num.io.threads")?,
        socket_send_buffer_bytes: u32::try_from(r.number("socket.send.buffer.bytes")?).ok(),
        socket_receive_buffer_bytes: u32::try_from(r.number("socket.receive.buffer.bytes")?).ok(),
        socket_request_max_bytes: r.u32("socket.request.max.bytes")?,
        max_connections: r.u32("max.connections")?,
        max_connections_per_ip: r.u32("max.connections.per.ip")?,
        queued_max_requests: r.usize("queued.max.requests")?,
        queued_max_request_bytes: queued_max_request_bytes(&r)?,
        request_timeout_ms: r.u64("request.timeout.ms")?,
        connections_max_idle_ms: r.u64("connections.max.idle.ms")?,
        partial_request_timeout_ms: r.u64(PARTIAL_REQUEST_TIMEOUT_MS)?,
        metrics_listener: http_listener(&r, "metrics.listener")?,
        console_listener: http_listener(&r, "console.listener")?,

        log_dirs: read_log_dirs(&r)?,
        num_partitions: r.i32("num.partitions")?,
        default_replication_factor: r.i16("default.replication.factor")?,
        auto_create_topics_enable: r.bool("auto.create.topics.enable")?,
        delete_topic_enable: r.bool("delete.topic.enable")?,
        log_segment_bytes: r.u32("log.segment.bytes")?,
        log_roll_ms: to("log.roll.ms", roll)?,
        log_roll_jitter_ms: to("log.roll.jitter.ms", jitter)?,
        log_retention_ms: u64::try_from(retention).ok(),
        log_retention_bytes: u64::try_from(r.number("log.retention.bytes")?).ok(),
        log_retention_check_interval_ms: r.u64("log.retention.check.interval.ms")?,
        log_index_interval_bytes: r.u32("log.index.interval.bytes")?,
        log_index_size_max_bytes: r.u32("log.index.size.max.bytes")?,
        log_flush_interval_messages: r.u64("log.flush.interval.messages")?,
        log_flush_interval_ms: match r.opt_number("log.flush.interval.ms")? {
            Some(ms) => Some(to("log.flush.interval.ms", ms)?),
            None => None,
        },
        log_flush_scheduler_interval_ms: r.u64("log.flush.scheduler.interval.ms")?,
        log_flush_offset_checkpoint_interval_ms: r.u64("log.flush.offset.checkpoint.interval.ms")?,
        log_segment_delete_delay_ms: r.u64("log.segment.delete.delay.ms")?,
        log_cleanup_policy: CleanupPolicy::from_items(&r.list("log.cleanup.policy")?),
        log_cleaner_enable: r.bool("log.cleaner.enable")?,
        log_cleaner_backoff_ms: r.u64("log.cleaner.backoff.ms")?,
        log_cleaner_delete_retention_ms: r.u64("log.cleaner.delete.retention.ms")?,
        log_cleaner_min_compaction_lag_ms: r.u64("log.cleaner.min.compaction.lag.ms")?,
        log_cleaner_max_compaction_lag_ms: r.u64("log.cleaner.max.compaction.lag.ms")?,
        log_cleaner_min_cleanable_ratio: r.f64("log.cleaner.min.cleanable.ratio")?,
        log_preallocate: r.bool("log.preallocate")?,
        log_message_timestamp_type,
        log_message_timestamp_difference_max_ms: r.u64("log.message.timestamp.difference.max.ms")?,
        log_message_downconversion_enable: r.bool("log.message.downconversion.enable")?,
        log_message_format_version: r.string("log.message.format.version")?,
        message_max_bytes: r.u32("message.max.bytes")?,
        compression_type,
        num_recovery_threads_per_data_dir: r.usize("num.recovery.threads.per.data.dir")?,

        min_insync_replicas: r.u32("min.insync.replicas")?,
        replica_lag_time_max_ms: r.u64("replica.lag.time.max.ms")?,
        unclean_leader_election_enable: r.bool("unclean.leader.election.enable")?,
        auto_leader_rebalance_enable: r.bool("auto.leader.rebalance.enable")?,
        leader_imbalance_per_broker_percentage: r.u32("leader.imbalance.per.broker.percentage")?,
        leader_imbalance_check_interval_seconds: r.u64("leader.imbalance.check.interval.seconds")?,
        num_replica_fetchers: r.usize("num.replica.fetchers")?,
        replica_fetch_max_bytes: r.u32("replica.fetch.max.bytes")?,
        replica_fetch_min_bytes: r.u32("replica.fetch.min.bytes")?,
        replica_fetch_response_max_bytes: r.u32("replica.fetch.response.max.bytes")?,
        replica_fetch_wait_max_ms: r.u64("replica.fetch.wait.max.ms")?,
        replica_fetch_backoff_ms: r.u64("replica.fetch.backoff.ms")?,
        replica_socket_timeout_ms: r.u64("replica.socket.timeout.ms")?,
        replica_high_watermark_checkpoint_interval_ms: r.u64("replica.high.watermark.checkpoint.interval.ms")?,

        group_initial_rebalance_delay_ms: r.u64("group.initial.rebalance.delay.ms")?,
        group_min_session_timeout_ms: r.u64("group.min.session.timeout.ms")?,
        group_max_session_timeout_ms: r.u64("group.max.session.timeout.ms")?,
        group_max_size: r.u32("group.max.size")?,
        offsets_topic_num_partitions: r.i32("offsets.topic.num.partitions")?,
        offsets_topic_replication_factor: r.i16("offsets.topic.replication.factor")?,
        offsets_topic_segment_bytes: r.u32("offsets.topic.segment.bytes")?,
        offsets_retention_minutes: r.u32("offsets.retention.minutes")?,
        offsets_retention_check_interval_ms: r.u64("offsets.retention.check.interval.ms")?,
        offset_metadata_max_bytes: r.u32("offset.metadata.max.bytes")?,
        offsets_commit_timeout_ms: r.u64("offsets.commit.timeout.ms")?,

        transaction_state_log_num_partitions: r.i32("transaction.state.log.num.partitions")?,
        transaction_state_log_replication_factor: r.i16("transaction.state.log.replication.factor")?,
        transaction_state_log_min_isr: r.u32("transaction.state.log.min.isr")?,
        transaction_state_log_segment_bytes: r.u32("transaction.state.log.segment.bytes")?,
        transaction_max_timeout_ms: r.u64("transaction.max.timeout.ms")?,
        transactional_id_expiration_ms: r.u64("transactional.id.expiration.ms")?,
        transaction_abort_timed_out_transaction_cleanup_interval_ms: r
            .u64("transaction.abort.timed.out.transaction.cleanup.interval.ms")?,
        transaction_remove_expired_transaction_cleanup_interval_ms: r
            .u64("transaction.remove.expired.transaction.cleanup.interval.ms")?,
        producer_id_expiration_ms: r.u64("producer.id.expiration.ms")?,
        producer_id_expiration_check_interval_ms: r.u64("producer.id.expiration.check.interval.ms")?,

        raw,
        dynamic: DynamicLayers::default(),
    })
}

struct Network {
    listeners: Vec<Listener>,
    advertised: Vec<Listener>,
    protocol_map: BTreeMap<String, SecurityProtocol>,
    inter_broker: String,
}

fn read_listeners(r: &Reader<'_>) -> Result<Network, ConfigError> {
    const MAP: &str = "listener.security.protocol.map";
    let protocol_map = listener::parse_protocol_map(MAP, &r.string(MAP)?)?;
    let check_protocols =
        |key: &str, value: &str, list: &[Listener]| match list.iter().find(|l| !protocol_map.contains_key(&l.name)) {
            Some(l) => Err(ConfigError::invalid(
                key,
                value,
                format!("No security protocol defined for listener {} (add it to {MAP})", l.name),
            )),
            None => Ok(()),
        };

    let listeners_value = r.string("listeners")?;
    let mut listeners = listener::parse_listener_list("listeners", &listeners_value)?;
    listener::check_unique_ports("listeners", &listeners_value, &listeners)?;
    check_protocols("listeners", &listeners_value, &listeners)?;
    for l in &mut listeners {
        if l.host.is_empty() {
            l.host = "0.0.0.0".to_string();
        }
    }

    let advertised = match r.opt_string("advertised.listeners")? {
        Some(value) => {
            const KEY: &str = "advertised.listeners";
            let mut list = listener::parse_listener_list(KEY, &value)?;
            listener::check_unique_ports(KEY, &value, &list)?;
            check_protocols(KEY, &value, &list)?;
            for l in &mut list {
                if l.host.is_empty() {
                    l.host = "127.0.0.1".to_string();
                } else if l.is_wildcard_host() {
                    return Err(ConfigError::invalid(
                        KEY,
                        &value,
                        format!(
                            "advertised.listeners cannot use the nonroutable meta-address {}. Use a routable IP address.",
                            l.host
                        ),
                    ));
                }
                if !listeners.iter().any(|b| b.name == l.name) {
                    return Err(ConfigError::invalid(
                        KEY,
                        &value,
                        "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners",
                    ));
                }
            }
            list
        }
        None => listeners
            .iter()
            .map(|l| Listener {
                host: if l.is_wildcard_host() { "127.0.0.1".to_string() } else { l.host.clone() },
                ..l.clone()
            })
            .collect(),
    };

    const IBL: &str = "inter.broker.listener.name";
    const SIBP: &str = "security.inter.broker.protocol";
    let (key, inter_broker) = match r.opt_string(IBL)? {
        Some(name) if r.raw.contains_key(SIBP) => {
            return Err(ConfigError::invalid(IBL, name, format!("Only one of {IBL} and {SIBP} should be set.")))
        }
        Some(name) => (IBL, name.to_ascii_uppercase()),
        None => (SIBP, r.string(SIBP)?),
    };
    if !advertised.iter().any(|l| l.name == inter_broker) {
        let names: Vec<&str> = advertised.iter().map(|l| l.name.as_str()).collect();
        return Err(ConfigError::invalid(
            key,
            &inter_broker,
            format!(
                "{IBL} must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}",
                names.join(",")
            ),
        ));
    }

    Ok(Network { listeners, advertised, protocol_map, inter_broker })
}

/// *gregor*'s stall timeout for a partially received request (see the field doc).
const PARTIAL_REQUEST_TIMEOUT_MS: &str = "gregor.partial.request.timeout.ms";

/// `queued.max.request.bytes`: a positive value caps the bytes held by requests
/// being read or handled; -1 (Kafka's default) and any other value <= 0 mean no
/// limit, as in Kafka. Like Kafka, a limit below `socket.request.max.bytes` is
/// refused: the largest accepted request must fit in the budget.
/// A side HTTP listener (`metrics.listener`, `console.listener`): unset or
/// blank is off; otherwise `http://host:port`, checked here.
fn http_listener(r: &Reader<'_>, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(value) = r.opt_string(key)?.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    crate::metrics::http::parse_listener(key, &value).map_err(|reason| ConfigError::invalid(key, &value, &reason))?;
    Ok(Some(value))
}

fn queued_max_request_bytes(r: &Reader<'_>) -> Result<Option<u64>, ConfigError> {
    const KEY: &str = "queued.max.request.bytes";
    let limit = r.number(KEY)?;
    if limit <= 0 {
        return Ok(None);
    }
    if limit < r.number("socket.request.max.bytes")? {
        return Err(ConfigError::invalid(
            KEY,
            limit.to_string(),
            "queued.max.request.bytes must be larger or equal to socket.request.max.bytes",
        ));
    }
    Ok(Some(limit.unsigned_abs()))
}

fn read_log_dirs(r: &Reader<'_>) -> Result<Vec<PathBuf>, ConfigError> {
    let (key, value) = match r.opt_string("log.dirs")? {
        Some(v) => ("log.dirs", v),
        None => ("log.dir", r.string("log.dir")?),
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for item in value::split_list(&value) {
        let dir = PathBuf::from(item);
        if dirs.contains(&dir) {
            return Err(ConfigError::invalid(key, &value, format!("Duplicate log directory found: {}", dir.display())));
        }
        dirs.push(dir);
    }
    if dirs.is_empty() {
        return Err(ConfigError::invalid(key, &value, "At least one log directory must be defined"));
    }
    Ok(dirs)
}

/// Typed access to raw values with table defaults. Values given in the raw map were
/// already validated by `from_raw`; errors here mean a table/getter mismatch.
struct Reader<'a> {
    raw: &'a RawConfig,
}

impl Reader<'_> {
    fn def(&self, key: &str) -> Result<&'static KeyDef, ConfigError> {
        broker_key(key)
            .ok_or_else(|| ConfigError::invalid(key, "null", "not a known broker configuration (gregor bug)"))
    }

    fn value(&self, key: &str) -> Result<Option<Value>, ConfigError> {
        let def = self.def(key)?;
        match self.raw.get(key) {
            Some(v) => value::parse(def, v).map(Some),
            None => def.default_string().map(|d| value::parse(def, &d)).transpose(),
        }
    }

    fn required(&self, key: &str) -> Result<Value, ConfigError> {
        self.value(key)?.ok_or_else(|| {
            ConfigError::invalid(
                key,
                "null",
                format!("Missing required configuration \"{key}\" which has no default value."),
            )
        })
    }

    fn opt_number(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key)? {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(other) => Err(type_mismatch(key, &other)),
        }
    }

    fn number(&self, key: &str) -> Result<i64, ConfigError> {
        match self.required(key)? {
            Value::Number(n) => Ok(n),
            other => Err(type_mismatch(key, &other)),
        }
    }

    fn i32(&self, key: &str) -> Result<i32, ConfigError> {
        to(key, self.number(key)?)
    }

    fn i16(&self, key: &str) -> Result<i16, ConfigError> {
        to(key, self.number(key)?)
    }

    fn u32(&self, key: &str) -> Result<u32, ConfigError> {
        to(key, self.number(key)?)
    }

    fn u64(&self, key: &str) -> Result<u64, ConfigError> {
        to(key, self.number(key)?)
    }

    fn usize(&self, key: &str) -> Result<usize, ConfigError> {
        to(key, self.number(key)?)
    }

    fn f64(&self, key: &str) -> Result<f64, ConfigError> {
        match self.required(key)? {
            Value::Double(d) => Ok(d),
            other => Err(type_mismatch(key, &other)),
        }
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.required(key)? {
            Value::Bool(b) => Ok(b),
            other => Err(type_mismatch(key, &other)),
        }
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key)? {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(other) => Err(type_mismatch(key, &other)),
        }
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        match self.required(key)? {
            Value::Text(s) => Ok(s),
            other => Err(type_mismatch(key, &other)),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.required(key)? {
            Value::List(items) => Ok(items),
            other => Err(type_mismatch(key, &other)),
        }
    }
}

fn type_mismatch(key: &str, value: &Value) -> ConfigError {
    ConfigError::invalid(key, value.render(), "unexpected value type (gregor bug)")
}

/// Converts a validated Kafka number to the field's Rust type.
pub(crate) fn to<T: TryFrom<i64>>(key: &str, n: i64) -> Result<T, ConfigError> {
    T::try_from(n).map_err(|_| {
        let reason = if n < 0 { "Value must be at least 0".to_string() } else { "Value is too large".to_string() };
        ConfigError::invalid(key, n.to_string(), reason)
    })
}

/// Keys Kafka once used that gregor accepts but ignores; worth a warning because in
/// Kafka 2.x they changed the listeners when `listeners` was unset.
fn ignored_key_warning(key: &str) -> Option<String> {
    matches!(key, "port" | "host.name" | "advertised.port" | "advertised.host.name").then(|| {
        format!(
            "The configuration '{key}' is deprecated and ignored by gregor; use listeners / advertised.listeners (e.g. PLAINTEXT://host:9092)."
        )
    })
}

/// `listener.name.<listener>.<config>`: per-listener SSL/SASL settings.
fn is_listener_prefixed(key: &str) -> bool {
    key.strip_prefix("listener.name.")
        .is_some_and(|rest| rest.split_once('.').is_some_and(|(l, c)| !l.is_empty() && !c.is_empty()))
}

fn is_sensitive_listener_key(key: &str) -> bool {
    key.ends_with("password") || BROKER_KEYS.iter().any(|d| d.sensitive() && key.ends_with(&format!(".{}", d.name)))
}

/// Looks a broker key up in [`BROKER_KEYS`].
pub(crate) fn broker_key(name: &str) -> Option<&'static KeyDef> {
    BROKER_KEYS.iter().find(|d| d.name == name)
}

// Shorthands for the table below.
use value::key as k;
use Check::{Any as ANY, AtLeast as MIN, OneOf as ONE_OF};
use DefaultValue::{Null as NULL, Value as V};
const DYN: bool = true;
const STATIC: bool = false;
const B: ValueType = ValueType::Boolean;
const S: ValueType = ValueType::String;
const I: ValueType = ValueType::Int;
const SH: ValueType = ValueType::Short;
const L: ValueType = ValueType::Long;
const D: ValueType = ValueType::Double;
const LIST: ValueType = ValueType::List;
const CLASS: ValueType = ValueType::Class;
const PW: ValueType = ValueType::Password;
const INT_MAX: &str = "2147483647";
const LONG_MAX: &str = "9223372036854775807";
const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
pub(crate) const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];

/// Every broker key gregor knows: Kafka's name, type, default, validator, and whether
/// Kafka can change it dynamically (DescribeConfigs `read_only = !dynamic`). The
/// defaults are Kafka's (2.8/3.x, ZooKeeper mode) except `listeners` and `log.dir`
/// (see the module docs). Keys with a typed field on [`BrokerConfig`] come first in
/// each group; the rest are validated and stored.
#[rustfmt::skip]
pub(crate) static BROKER_KEYS: &[KeyDef] = &[
    // ---- identity, ZooKeeper ----
    k("broker.id", I, V("-1"), MIN(-1), STATIC),
    k("broker.rack", S, NULL, ANY, STATIC),
    k("broker.id.generation.enable", B, V("true"), ANY, STATIC),
    k("reserved.broker.max.id", I, V("1000"), MIN(0), STATIC),
    k("zookeeper.connect", S, NULL, ANY, STATIC),
    k("zookeeper.session.timeout.ms", I, V("18000"), MIN(0), STATIC),
    k("zookeeper.connection.timeout.ms", I, NULL, MIN(0), STATIC),
    k("zookeeper.max.in.flight.requests", I, V("10"), MIN(1), STATIC),
    k("zookeeper.set.acl", B, V("false"), ANY, STATIC),
    k("zookeeper.sync.time.ms", I, V("2000"), ANY, STATIC),
    k("zookeeper.clientCnxnSocket", S, NULL, ANY, STATIC),
    k("zookeeper.ssl.client.enable", B, V("false"), ANY, STATIC),
    k("zookeeper.ssl.keystore.location", S, NULL, ANY, STATIC),
    k("zookeeper.ssl.keystore.password", PW, NULL, ANY, STATIC),
    k("zookeeper.ssl.keystore.type", S, NULL, ANY, STATIC),
    k("zookeeper.ssl.truststore.location", S, NULL, ANY, STATIC),
    k("zookeeper.ssl.truststore.password", PW, NULL, ANY, STATIC),
    k("zookeeper.ssl.truststore.type", S, NULL, ANY, STATIC),
    k("zookeeper.ssl.protocol", S, V("TLSv1.2"), ANY, STATIC),
    k("zookeeper.ssl.enabled.protocols", LIST, NULL, ANY, STATIC),
    k("zookeeper.ssl.cipher.suites", LIST, NULL, ANY, STATIC),
    k("zookeeper.ssl.endpoint.identification.algorithm", S, V("HTTPS"), ANY, STATIC),
    k("zookeeper.ssl.crl.enable", B, V("false"), ANY, STATIC),
    k("zookeeper.ssl.ocsp.enable", B, V("false"), ANY, STATIC),
    k("controlled.shutdown.enable", B, V("true"), ANY, STATIC),
    k("controlled.shutdown.max.retries", I, V("3"), ANY, STATIC),
    k("controlled.shutdown.retry.backoff.ms", L, V("5000"), ANY, STATIC),
    k("controller.socket.timeout.ms", I, V("30000"), ANY, STATIC),
    k("inter.broker.protocol.version", S, V("3.0-IV1"), ANY, STATIC),
    k("background.threads", I, V("10"), MIN(1), DYN),
    k("auto.create.topics.enable", B, V("true"), ANY, STATIC),
    k("delete.topic.enable", B, V("true"), ANY, STATIC),
    k("create.topic.policy.class.name", CLASS, NULL, ANY, STATIC),
    k("alter.config.policy.class.name", CLASS, NULL, ANY, STATIC),
    k("authorizer.class.name", S, V(""), ANY, STATIC),
    k("super.users", S, NULL, ANY, STATIC),
    k("allow.everyone.if.no.acl.found", B, V("false"), ANY, STATIC),
    k("principal.builder.class", CLASS, NULL, ANY, DYN),
    // ---- network ----
    k("listeners", S, V("PLAINTEXT://127.0.0.1:9092"), ANY, DYN),
    k("advertised.listeners", S, NULL, ANY, DYN),
    k("listener.security.protocol.map", S, V("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), ANY, DYN),
    k("inter.broker.listener.name", S, NULL, ANY, STATIC),
    k("security.inter.broker.protocol", S, V("PLAINTEXT"), ONE_OF(PROTOCOLS), STATIC),
    k("control.plane.listener.name", S, NULL, ANY, STATIC),
    k("num.network.threads", I, V("3"), MIN(1), DYN),
    k("num.io.threads", I, V("8"), MIN(1), DYN),
    k("socket.send.buffer.bytes", I, V("102400"), MIN(-1), STATIC),
    k("socket.receive.buffer.bytes", I, V("102400"), MIN(-1), STATIC),
    k("socket.request.max.bytes", I, V("104857600"), MIN(1), STATIC),
    k("socket.listen.backlog.size", I, V("50"), MIN(1), STATIC),
    k("socket.connection.setup.timeout.ms", L, V("10000"), ANY, STATIC),
    k("socket.connection.setup.timeout.max.ms", L, V("30000"), ANY, STATIC),
    k("max.connections", I, V(INT_MAX), MIN(0), DYN),
    k("max.connections.per.ip", I, V(INT_MAX), MIN(0), DYN),
    k("max.connections.per.ip.overrides", S, V(""), ANY, DYN),
    k("max.connection.creation.rate", I, V(INT_MAX), MIN(0), DYN),
    k("queued.max.requests", I, V("500"), MIN(1), STATIC),
    k("queued.max.request.bytes", L, V("-1"), ANY, STATIC),
    k("request.timeout.ms", I, V("30000"), MIN(0), STATIC),
    k("connections.max.idle.ms", L, V("600000"), MIN(0), STATIC),
    // gregor's own: Kafka has no timeout for a request that stops arriving mid-frame.
    k(PARTIAL_REQUEST_TIMEOUT_MS, L, V("30000"), MIN(1), STATIC),
    // gregor's own: the Prometheus endpoint and the web console (off unless set).
    k("metrics.listener", S, NULL, ANY, STATIC),
    k("console.listener", S, NULL, ANY, STATIC),
    k("connections.max.reauth.ms", L, V("0"), ANY, STATIC),
    k("connection.failed.authentication.delay.ms", I, V("100"), MIN(0), STATIC),
    k("fetch.max.bytes", I, V("57671680"), MIN(1024), STATIC),
    k("max.incremental.fetch.session.cache.slots", I, V("1000"), MIN(0), STATIC),
    // Pre-2.x listener keys: accepted, ignored with a warning.
    k("port", I, V("9092"), ANY, STATIC),
    k("host.name", S, V(""), ANY, STATIC),
    k("advertised.host.name", S, NULL, ANY, STATIC),
    k("advertised.port", I, NULL, ANY, STATIC),
    // ---- log ----
    k("log.dir", S, DefaultValue::DataDir, ANY, STATIC),
    k("log.dirs", S, NULL, ANY, STATIC),
    k("num.partitions", I, V("1"), MIN(1), STATIC),
    k("default.replication.factor", I, V("1"), MIN(1), STATIC),
    k("log.segment.bytes", I, V("1073741824"), MIN(14), DYN),
    k("log.roll.ms", L, NULL, MIN(1), DYN),
    k("log.roll.hours", I, V("168"), MIN(1), STATIC),
    k("log.roll.jitter.ms", L, NULL, MIN(0), DYN),
    k("log.roll.jitter.hours", I, V("0"), MIN(0), STATIC),
    k("log.retention.ms", L, NULL, ANY, DYN),
    k("log.retention.minutes", I, NULL, ANY, STATIC),
    k("log.retention.hours", I, V("168"), ANY, STATIC),
    k("log.retention.bytes", L, V("-1"), ANY, DYN),
    k("log.retention.check.interval.ms", L, V("300000"), MIN(1), STATIC),
    k("log.index.interval.bytes", I, V("4096"), MIN(0), DYN),
    k("log.index.size.max.bytes", I, V("10485760"), MIN(4), DYN),
    k("log.flush.interval.messages", L, V(LONG_MAX), MIN(1), DYN),
    k("log.flush.interval.ms", L, NULL, MIN(0), DYN),
    k("log.flush.scheduler.interval.ms", L, V(LONG_MAX), MIN(0), STATIC),
    k("log.flush.offset.checkpoint.interval.ms", I, V("60000"), MIN(0), STATIC),
    k("log.flush.start.offset.checkpoint.interval.ms", I, V("60000"), MIN(0), STATIC),
    k("log.segment.delete.delay.ms", L, V("60000"), MIN(0), DYN),
    k("log.cleanup.policy", LIST, V("delete"), Check::ListOf(CLEANUP_POLICIES), DYN),
    k("log.cleaner.enable", B, V("true"), ANY, STATIC),
    k("log.cleaner.delete.retention.ms", L, V("86400000"), MIN(0), DYN),
    k("log.cleaner.min.compaction.lag.ms", L, V("0"), MIN(0), DYN),
    k("log.cleaner.max.compaction.lag.ms", L, V(LONG_MAX), MIN(1), DYN),
    k("log.cleaner.min.cleanable.ratio", D, V("0.5"), Check::Ratio, DYN),
    k("log.cleaner.threads", I, V("1"), MIN(0), DYN),
    k("log.cleaner.io.max.bytes.per.second", D, V("1.7976931348623157E308"), ANY, DYN),
    k("log.cleaner.dedupe.buffer.size", L, V("134217728"), ANY, DYN),
    k("log.cleaner.io.buffer.size", I, V("524288"), MIN(0), DYN),
    k("log.cleaner.io.buffer.load.factor", D, V("0.9"), ANY, DYN),
    k("log.cleaner.backoff.ms", L, V("15000"), MIN(0), DYN),
    k("log.preallocate", B, V("false"), ANY, DYN),
    k("log.message.timestamp.type", S, V("CreateTime"), ONE_OF(TIMESTAMP_TYPES), DYN),
    k("log.message.timestamp.difference.max.ms", L, V(LONG_MAX), MIN(0), DYN),
    k("log.message.downconversion.enable", B, V("true"), ANY, DYN),
    k("log.message.format.version", S, V("3.0-IV1"), ANY, STATIC),
    k("message.max.bytes", I, V("1048588"), MIN(0), DYN),
    k("compression.type", S, V("producer"), ONE_OF(COMPRESSION_TYPES), DYN),
    k("num.recovery.threads.per.data.dir", I, V("1"), MIN(1), DYN),
    k("num.replica.alter.log.dirs.threads", I, NULL, ANY, STATIC),
    // ---- replication ----
    k("min.insync.replicas", I, V("1"), MIN(1), DYN),
    k("replica.lag.time.max.ms", L, V("30000"), MIN(0), STATIC),
    k("unclean.leader.election.enable", B, V("false"), ANY, DYN),
    k("auto.leader.rebalance.enable", B, V("true"), ANY, STATIC),
    k("leader.imbalance.per.broker.percentage", I, V("10"), ANY, STATIC),
    k("leader.imbalance.check.interval.seconds", L, V("300"), MIN(1), STATIC),
    k("num.replica.fetchers", I, V("1"), MIN(1), DYN),
    k("replica.fetch.max.bytes", I, V("1048576"), MIN(0), STATIC),
    k("replica.fetch.min.bytes", I, V("1"), MIN(0), STATIC),
    k("replica.fetch.response.max.bytes", I, V("10485760"), MIN(0), STATIC),
    k("replica.fetch.wait.max.ms", I, V("500"), MIN(0), STATIC),
    k("replica.fetch.backoff.ms", I, V("1000"), MIN(0), STATIC),
    k("replica.socket.timeout.ms", I, V("30000"), MIN(0), STATIC),
    k("replica.socket.receive.buffer.bytes", I, V("65536"), ANY, STATIC),
    k("replica.high.watermark.checkpoint.interval.ms", L, V("5000"), MIN(0), STATIC),
    k("replica.selector.class", S, NULL, ANY, STATIC),
    k("fetch.purgatory.purge.interval.requests", I, V("1000"), ANY, STATIC),
    k("producer.purgatory.purge.interval.requests", I, V("1000"), ANY, STATIC),
    k("delete.records.purgatory.purge.interval.requests", I, V("1"), ANY, STATIC),
    // ---- group coordinator, offsets ----
    k("group.initial.rebalance.delay.ms", I, V("3000"), MIN(0), STATIC),
    k("group.min.session.timeout.ms", I, V("6000"), MIN(0), STATIC),
    k("group.max.session.timeout.ms", I, V("1800000"), MIN(0), STATIC),
    k("group.max.size", I, V(INT_MAX), MIN(1), STATIC),
    k("offsets.topic.num.partitions", I, V("50"), MIN(1), STATIC),
    k("offsets.topic.replication.factor", SH, V("3"), MIN(1), STATIC),
    k("offsets.topic.segment.bytes", I, V("104857600"), MIN(1), STATIC),
    k("offsets.topic.compression.codec", I, V("0"), ANY, STATIC),
    k("offsets.retention.minutes", I, V("10080"), MIN(1), STATIC),
    k("offsets.retention.check.interval.ms", L, V("600000"), MIN(1), STATIC),
    k("offsets.load.buffer.size", I, V("5242880"), MIN(1), STATIC),
    k("offsets.commit.timeout.ms", I, V("5000"), MIN(1), STATIC),
    k("offsets.commit.required.acks", SH, V("-1"), ANY, STATIC),
    k("offset.metadata.max.bytes", I, V("4096"), MIN(0), STATIC),
    // ---- transactions ----
    k("transaction.state.log.num.partitions", I, V("50"), MIN(1), STATIC),
    k("transaction.state.log.replication.factor", SH, V("3"), MIN(1), STATIC),
    k("transaction.state.log.min.isr", I, V("2"), MIN(1), STATIC),
    k("transaction.state.log.segment.bytes", I, V("104857600"), MIN(1), STATIC),
    k("transaction.state.log.load.buffer.size", I, V("5242880"), MIN(1), STATIC),
    k("transaction.max.timeout.ms", I, V("900000"), MIN(1), STATIC),
    k("transactional.id.expiration.ms", I, V("604800000"), MIN(1), STATIC),
    k("transaction.abort.timed.out.transaction.cleanup.interval.ms", I, V("10000"), MIN(1), STATIC),
    k("transaction.remove.expired.transaction.cleanup.interval.ms", I, V("3600000"), MIN(1), STATIC),
    k("producer.id.expiration.ms", I, V("86400000"), MIN(1), STATIC),
    k("producer.id.expiration.check.interval.ms", I, V("600000"), MIN(1), STATIC),
    // ---- quotas ----
    k("quota.window.num", I, V("11"), MIN(1), STATIC),
    k("quota.window.size.seconds", I, V("1"), MIN(1), STATIC),
    k("replication.quota.window.num", I, V("11"), MIN(1), STATIC),
    k("replication.quota.window.size.seconds", I, V("1"), MIN(1), STATIC),
    k("alter.log.dirs.replication.quota.window.num", I, V("11"), MIN(1), STATIC),
    k("alter.log.dirs.replication.quota.window.size.seconds", I, V("1"), MIN(1), STATIC),
    k("client.quota.callback.class", CLASS, NULL, ANY, STATIC),
    k("quota.consumer.default", L, V(LONG_MAX), MIN(1), STATIC),
    // Kafka's DynamicConfig.Broker: only ever set dynamically (bytes/s).
    k("leader.replication.throttled.rate", L, V(LONG_MAX), MIN(0), DYN),
    k("follower.replication.throttled.rate", L, V(LONG_MAX), MIN(0), DYN),
    k("replica.alter.log.dirs.io.max.bytes.per.second", L, V(LONG_MAX), MIN(0), DYN),
    k("quota.producer.default", L, V(LONG_MAX), MIN(1), STATIC),
    // ---- metrics ----
    k("metric.reporters", LIST, V(""), ANY, DYN),
    k("metrics.num.samples", I, V("2"), MIN(1), STATIC),
    k("metrics.sample.window.ms", L, V("30000"), MIN(1), STATIC),
    k("metrics.recording.level", S, V("INFO"), ANY, STATIC),
    k("kafka.metrics.reporters", LIST, V(""), ANY, STATIC),
    k("kafka.metrics.polling.interval.secs", I, V("10"), MIN(1), STATIC),
    k("auto.include.jmx.reporter", B, V("true"), ANY, STATIC),
    // ---- delegation tokens, password encoder ----
    k("delegation.token.master.key", PW, NULL, ANY, STATIC),
    k("delegation.token.secret.key", PW, NULL, ANY, STATIC),
    k("delegation.token.max.lifetime.ms", L, V("604800000"), MIN(1), STATIC),
    k("delegation.token.expiry.time.ms", L, V("86400000"), MIN(1), STATIC),
    k("delegation.token.expiry.check.interval.ms", L, V("3600000"), MIN(1), STATIC),
    k("password.encoder.secret", PW, NULL, ANY, STATIC),
    k("password.encoder.old.secret", PW, NULL, ANY, STATIC),
    k("password.encoder.keyfactory.algorithm", S, NULL, ANY, STATIC),
    k("password.encoder.cipher.algorithm", S, V("AES/CBC/PKCS5Padding"), ANY, STATIC),
    k("password.encoder.key.length", I, V("128"), MIN(8), STATIC),
    k("password.encoder.iterations", I, V("4096"), MIN(1024), STATIC),
    // ---- SSL ----
    k("ssl.protocol", S, V("TLSv1.2"), ANY, DYN),
    k("ssl.provider", S, NULL, ANY, DYN),
    k("ssl.cipher.suites", LIST, V(""), ANY, DYN),
    k("ssl.enabled.protocols", LIST, V("TLSv1.2,TLSv1.3"), ANY, DYN),
    k("ssl.keystore.type", S, V("JKS"), ANY, DYN),
    k("ssl.keystore.location", S, NULL, ANY, DYN),
    k("ssl.keystore.password", PW, NULL, ANY, DYN),
    k("ssl.key.password", PW, NULL, ANY, DYN),
    k("ssl.keystore.key", PW, NULL, ANY, DYN),
    k("ssl.keystore.certificate.chain", PW, NULL, ANY, DYN),
    k("ssl.truststore.type", S, V("JKS"), ANY, DYN),
    k("ssl.truststore.location", S, NULL, ANY, DYN),
    k("ssl.truststore.password", PW, NULL, ANY, DYN),
    k("ssl.truststore.certificates", PW, NULL, ANY, DYN),
    k("ssl.keymanager.algorithm", S, V("SunX509"), ANY, DYN),
    k("ssl.trustmanager.algorithm", S, V("PKIX"), ANY, DYN),
    k("ssl.endpoint.identification.algorithm", S, V("https"), ANY, DYN),
    k("ssl.secure.random.implementation", S, NULL, ANY, DYN),
    k("ssl.client.auth", S, V("none"), ONE_OF(&["required", "requested", "none"]), DYN),
    k("ssl.principal.mapping.rules", S, V("DEFAULT"), ANY, STATIC),
    k("ssl.engine.factory.class", CLASS, NULL, ANY, DYN),
    // ---- SASL ----
    k("sasl.mechanism.inter.broker.protocol", S, V("GSSAPI"), ANY, DYN),
    k("sasl.enabled.mechanisms", LIST, V("GSSAPI"), ANY, DYN),
    k("sasl.jaas.config", PW, NULL, ANY, DYN),
    k("sasl.server.callback.handler.class", CLASS, NULL, ANY, STATIC),
    k("sasl.client.callback.handler.class", CLASS, NULL, ANY, STATIC),
    k("sasl.login.class", CLASS, NULL, ANY, STATIC),
    k("sasl.login.callback.handler.class", CLASS, NULL, ANY, STATIC),
    k("sasl.kerberos.service.name", S, NULL, ANY, DYN),
    k("sasl.kerberos.kinit.cmd", S, V("/usr/bin/kinit"), ANY, DYN),
    k("sasl.kerberos.ticket.renew.window.factor", D, V("0.8"), ANY, DYN),
    k("sasl.kerberos.ticket.renew.jitter", D, V("0.05"), ANY, DYN),
    k("sasl.kerberos.min.time.before.relogin", L, V("60000"), ANY, DYN),
    k("sasl.kerberos.principal.to.local.rules", LIST, V("DEFAULT"), ANY, DYN),
    k("sasl.login.refresh.window.factor", D, V("0.8"), ANY, DYN),
    k("sasl.login.refresh.window.jitter", D, V("0.05"), ANY, DYN),
    k("sasl.login.refresh.min.period.seconds", SH, V("60"), ANY, DYN),
    k("sasl.login.refresh.buffer.seconds", SH, V("300"), ANY, DYN),
    k("sasl.server.max.receive.size", I, V("524288"), ANY, STATIC),
    k("security.providers", S, NULL, ANY, STATIC),
    // ---- KRaft (stored; gregor runs in ZooKeeper mode) ----
    k("process.roles", LIST, V(""), ANY, STATIC),
    k("node.id", I, V("-1"), ANY, STATIC),
    k("controller.quorum.voters", LIST, V(""), ANY, STATIC),
    k("controller.listener.names", S, NULL, ANY, STATIC),
    k("metadata.log.dir", S, NULL, ANY, STATIC),
    k("metadata.log.segment.bytes", I, V("1073741824"), MIN(12), STATIC),
    k("metadata.log.segment.ms", L, V("604800000"), ANY, STATIC),
    k("metadata.max.retention.bytes", L, V("-1"), ANY, STATIC),
    k("metadata.max.retention.ms", L, V("604800000"), ANY, STATIC),
    k("controller.quorum.election.timeout.ms", I, V("1000"), ANY, STATIC),
    k("controller.quorum.fetch.timeout.ms", I, V("2000"), ANY, STATIC),
    k("controller.quorum.election.backoff.max.ms", I, V("1000"), ANY, STATIC),
    k("controller.quorum.append.linger.ms", I, V("25"), ANY, STATIC),
    k("controller.quorum.request.timeout.ms", I, V("2000"), ANY, STATIC),
    k("controller.quorum.retry.backoff.ms", I, V("20"), ANY, STATIC),
    k("initial.broker.registration.timeout.ms", I, V("60000"), ANY, STATIC),
    k("broker.heartbeat.interval.ms", I, V("2000"), ANY, STATIC),
    k("broker.session.timeout.ms", I, V("9000"), ANY, STATIC),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ValueSource;
    use std::collections::HashSet;

    fn from_text(text: &str) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        BrokerConfig::from_raw(RawConfig::parse_str(text)?)
    }

    fn invalid(text: &str) -> (String, String, String, String) {
        match from_text(text) {
            Err(e @ ConfigError::InvalidValue { .. }) => {
                let display = e.to_string();
                match e {
                    ConfigError::InvalidValue { key, value, reason } => (key, value, reason, display),
                    _ => unreachable!(),
                }
            }
            other => panic!("expected InvalidValue for {text:?}, got {other:?}"),
        }
    }

    /// The quickstart's config/server.properties (Kafka 2.8, ZooKeeper mode), with its
    /// comments, plus the quickstart edits.
    const SHIPPED_SERVER_PROPERTIES: &str = r#"
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.
# see kafka.server.KafkaConfig for additional details and defaults

############################# Server Basics #############################

# The id of the broker. This must be set to a unique integer for each broker.
broker.id=0

############################# Socket Server Settings #############################

# The address the socket server listens on. It will get the value returned from
# java.net.InetAddress.getCanonicalHostName() if not configured.
#   FORMAT:
#     listeners = listener_name://host_name:port
#   EXAMPLE:
#     listeners = PLAINTEXT://your.host.name:9092
listeners=PLAINTEXT://127.0.0.1:9092

# Hostname and port the broker will advertise to producers and consumers.
#advertised.listeners=PLAINTEXT://your.host.name:9092

# Maps listener names to security protocols, the default is for them to be the same.
#listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL

# The number of threads that the server uses for receiving requests from the network
num.network.threads=3

# The number of threads that the server uses for processing requests, which may include disk I/O
num.io.threads=8

# The send buffer (SO_SNDBUF) used by the socket server
socket.send.buffer.bytes=102400

# The receive buffer (SO_RCVBUF) used by the socket server
socket.receive.buffer.bytes=102400

# The maximum size of a request that the socket server will accept (protection against OOM)
socket.request.max.bytes=104857600

############################# Log Basics #############################

# A comma separated list of directories under which to store log files
log.dirs=/tmp/kafka-logs-0

num.partitions=1
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000

############################# Zookeeper #############################
zookeeper.connect=127.0.0.1:2181
zookeeper.connection.timeout.ms=6000

############################# Group Coordinator Settings #############################
group.initial.rebalance.delay.ms=0

delete.topic.enable=true
"#;

    #[test]
    fn defaults_without_a_file() {
        let (c, warnings) = BrokerConfig::load(None, &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.broker_id, 0);
        assert!(c.broker_id_defaulted);
        assert_eq!(c.listeners, [Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 }]);
        assert_eq!(c.advertised_listeners, c.listeners);
        assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
        assert_eq!(c.security_protocol("plaintext"), Some(SecurityProtocol::Plaintext));
        assert_eq!(c.listener_security_protocol_map.len(), 4);
        assert_eq!(c.log_dirs.len(), 1);
        assert!(c.log_dirs[0].ends_with("kafka-logs"), "{:?}", c.log_dirs);
        assert_eq!(c.zookeeper_connect, None);
        assert_eq!(c.zookeeper_session_timeout_ms, 18000);
        assert_eq!(c.zookeeper_connection_timeout_ms, 18000);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.default_replication_factor, 1);
        assert!(c.auto_create_topics_enable);
        assert!(c.delete_topic_enable);
        assert_eq!(c.log_segment_bytes, 1_073_741_824);
        assert_eq!(c.log_roll_ms, 168 * 3_600_000);
        assert_eq!(c.log_roll_jitter_ms, 0);
        assert_eq!(c.log_retention_ms, Some(168 * 3_600_000));
        assert_eq!(c.log_retention_bytes, None);
        assert_eq!(c.log_retention_check_interval_ms, 300_000);
        assert_eq!(c.log_index_interval_bytes, 4096);
        assert_eq!(c.log_index_size_max_bytes, 10_485_760);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.socket_send_buffer_bytes, Some(102_400));
        assert_eq!(c.socket_receive_buffer_bytes, Some(102_400));
        assert_eq!(c.num_network_threads, 3);
        assert_eq!(c.num_io_threads, 8);
        assert_eq!(c.num_recovery_threads_per_data_dir, 1);
        assert_eq!(c.log_flush_interval_messages, i64::MAX as u64);
        assert_eq!(c.log_flush_interval_ms, None);
        assert_eq!(c.log_flush_ms(), i64::MAX as u64);
        assert_eq!(c.log_cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.replica_lag_time_max_ms, 30_000);
        assert!(!c.unclean_leader_election_enable);
        assert!(c.auto_leader_rebalance_enable);
        assert_eq!(c.leader_imbalance_per_broker_percentage, 10);
        assert_eq!(c.leader_imbalance_check_interval_seconds, 300);
        assert_eq!(c.offsets_topic_num_partitions, 50);
        assert_eq!(c.offsets_topic_replication_factor, 3);
        assert_eq!(c.transaction_state_log_replication_factor, 3);
        assert_eq!(c.transaction_state_log_min_isr, 2);
        assert_eq!(c.transaction_state_log_num_partitions, 50);
        assert_eq!(c.transaction_state_log_segment_bytes, 104_857_600);
        assert_eq!(c.transaction_max_timeout_ms, 900_000);
        assert_eq!(c.transactional_id_expiration_ms, 604_800_000);
        assert_eq!(c.transaction_abort_timed_out_transaction_cleanup_interval_ms, 10_000);
        assert_eq!(c.transaction_remove_expired_transaction_cleanup_interval_ms, 3_600_000);
        assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
        assert_eq!(c.group_min_session_timeout_ms, 6000);
        assert_eq!(c.group_max_session_timeout_ms, 1_800_000);
        assert_eq!(c.offsets_retention_minutes, 10080);
        assert!(c.controlled_shutdown_enable);
        assert_eq!(c.controlled_shutdown_max_retries, 3);
        assert_eq!(c.controlled_shutdown_retry_backoff_ms, 5000);
        assert_eq!(c.controller_socket_timeout_ms, 30_000);
        assert_eq!(c.compression_type, CompressionType::Producer);
        assert_eq!(c.max_connections, i32::MAX as u32);
        assert_eq!(c.max_connections_per_ip, i32::MAX as u32);
        assert_eq!(c.queued_max_requests, 500);
        assert_eq!(c.request_timeout_ms, 30_000);
        assert_eq!(c.broker_rack, None);
        assert_eq!(c.value_of("num.replica.fetchers").as_deref(), Some("1"));
        assert_eq!(c.value_of("ssl.keystore.location"), None);
        assert_eq!(c.value_of("no.such.key"), None);
    }

    #[test]
    fn quickstart_file_parses_without_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, SHIPPED_SERVER_PROPERTIES).unwrap();
        let (c, warnings) = BrokerConfig::load(Some(&path), &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.broker_id, 0);
        assert!(!c.broker_id_defaulted);
        assert_eq!(c.listener_addrs(), ["127.0.0.1:9092"]);
        assert_eq!(c.log_dirs, [PathBuf::from("/tmp/kafka-logs-0")]);
        assert_eq!(c.zookeeper_connect.as_deref(), Some("127.0.0.1:2181"));
        assert_eq!(c.zookeeper_connection_timeout_ms, 6000);
        assert_eq!(c.group_initial_rebalance_delay_ms, 0);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.transaction_state_log_replication_factor, 1);
        assert_eq!(c.transaction_state_log_min_isr, 1);
        assert_eq!(c.log_retention_ms, Some(168 * 3_600_000));
        assert_eq!(c.raw().file(), Some(path.as_path()));
        assert_eq!(c.raw().source("broker.id"), ValueSource::File);
    }

    #[test]
    fn overrides_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, SHIPPED_SERVER_PROPERTIES).unwrap();
        let overrides = [
            "broker.id=3".to_string(),
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            "log.dirs=/tmp/a,/tmp/b".to_string(),
        ];
        let (c, _) = BrokerConfig::load(Some(&path), &overrides).unwrap();
        assert_eq!(c.broker_id, 3);
        assert_eq!(c.listeners[0].port, 0);
        assert_eq!(c.log_dirs, [PathBuf::from("/tmp/a"), PathBuf::from("/tmp/b")]);
        assert_eq!(c.raw().source("broker.id"), ValueSource::Override);
        assert!(matches!(
            BrokerConfig::load(Some(&path), &["broker.id".to_string()]),
            Err(ConfigError::BadOverride(_))
        ));
    }

    #[test]
    fn retention_precedence_ms_minutes_hours() {
        let hours = from_text("log.retention.hours=1\n").unwrap().0;
        assert_eq!(hours.log_retention_ms, Some(3_600_000));
        let minutes = from_text("log.retention.hours=1\nlog.retention.minutes=2\n").unwrap().0;
        assert_eq!(minutes.log_retention_ms, Some(120_000));
        let ms = from_text("log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=5\n").unwrap().0;
        assert_eq!(ms.log_retention_ms, Some(5));
        let unlimited = from_text("log.retention.ms=-1\n").unwrap().0;
        assert_eq!(unlimited.log_retention_ms, None);
        let unlimited = from_text("log.retention.hours=-1\n").unwrap().0;
        assert_eq!(unlimited.log_retention_ms, None);
        let bytes = from_text("log.retention.bytes=1024\n").unwrap().0;
        assert_eq!(bytes.log_retention_bytes, Some(1024));
    }

    #[test]
    fn roll_and_flush_precedence() {
        let c = from_text("log.roll.hours=2\n").unwrap().0;
        assert_eq!(c.log_roll_ms, 7_200_000);
        let c = from_text("log.roll.hours=2\nlog.roll.ms=10\nlog.roll.jitter.hours=1\n").unwrap().0;
        assert_eq!(c.log_roll_ms, 10);
        assert_eq!(c.log_roll_jitter_ms, 3_600_000);
        let c = from_text("log.flush.scheduler.interval.ms=50\n").unwrap().0;
        assert_eq!(c.log_flush_ms(), 50);
        let c = from_text("log.flush.scheduler.interval.ms=50\nlog.flush.interval.ms=7\n").unwrap().0;
        assert_eq!(c.log_flush_interval_ms, Some(7));
        assert_eq!(c.log_flush_ms(), 7);
    }

    #[test]
    fn unknown_key_warns_naming_it() {
        let (c, warnings) = from_text("num.partitions=2\nnum.partitons=3\n").unwrap();
        assert_eq!(c.num_partitions, 2);
        assert_eq!(warnings, ["The configuration 'num.partitons' was supplied but isn't a known config."]);
        // Per-listener security settings are accepted; old listener keys warn.
        let (_, warnings) = from_text("listener.name.plaintext.ssl.keystore.location=/x\nport=9093\n").unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'port'"), "{warnings:?}");
    }

    #[test]
    fn accepted_keys_are_stored_and_still_validated() {
        let (c, warnings) = from_text(
            "num.replica.fetchers=4\nssl.keystore.password=secret\nmetric.reporters=a.B, c.D\nlog.cleaner.threads=2\nprocess.roles=broker\n",
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.num_replica_fetchers, 4);
        assert_eq!(c.value_of("metric.reporters").as_deref(), Some("a.B,c.D"));
        assert_eq!(c.value_of("log.cleaner.threads").as_deref(), Some("2"));
        let (key, value, ..) = invalid("log.cleaner.threads=many\n");
        assert_eq!((key.as_str(), value.as_str()), ("log.cleaner.threads", "many"));
    }

    #[test]
    fn invalid_values_name_key_and_value() {
        let (key, value, reason, display) = invalid("num.partitions=abc\n");
        assert_eq!((key.as_str(), value.as_str()), ("num.partitions", "abc"));
        assert_eq!(reason, "Not a number of type INT");
        assert_eq!(display, "Invalid value abc for configuration num.partitions: Not a number of type INT");

        let (_, _, _, display) = invalid("num.partitions=0\n");
        assert_eq!(display, "Invalid value 0 for configuration num.partitions: Value must be at least 1");

        let (key, value, _, display) = invalid("delete.topic.enable=yes\n");
        assert_eq!((key.as_str(), value.as_str()), ("delete.topic.enable", "yes"));
        assert_eq!(
            display,
            "Invalid value yes for configuration delete.topic.enable: Expected value to be either true or false"
        );
        let c = from_text("delete.topic.enable=FALSE\n").unwrap().0;
        assert!(!c.delete_topic_enable);

        let (key, value, reason, _) = invalid("listeners=PLAINTEXT://localhost\n");
        assert_eq!(key, "listeners");
        assert_eq!(value, "PLAINTEXT://localhost");
        assert!(reason.contains("Unable to parse"), "{reason}");

        let (key, value, ..) = invalid("log.segment.bytes=13\n");
        assert_eq!((key.as_str(), value.as_str()), ("log.segment.bytes", "13"));
        let (key, ..) = invalid("log.retention.ms=1h\n");
        assert_eq!(key, "log.retention.ms");
        let (key, ..) = invalid("compression.type=brotli\n");
        assert_eq!(key, "compression.type");
        let (key, ..) = invalid("log.cleanup.policy=delete,shred\n");
        assert_eq!(key, "log.cleanup.policy");
        let (key, ..) = invalid("log.message.timestamp.type=createtime\n");
        assert_eq!(key, "log.message.timestamp.type");
        let (key, ..) = invalid("offsets.topic.replication.factor=40000\n");
        assert_eq!(key, "offsets.topic.replication.factor");
        let (key, ..) = invalid("broker.id=-2\n");
        assert_eq!(key, "broker.id");
        let (key, ..) = invalid("transaction.max.timeout.ms=0\n");
        assert_eq!(key, "transaction.max.timeout.ms");
        let (key, ..) = invalid("transaction.abort.timed.out.transaction.cleanup.interval.ms=soon\n");
        assert_eq!(key, "transaction.abort.timed.out.transaction.cleanup.interval.ms");
        let (key, ..) = invalid("transaction.state.log.segment.bytes=0\n");
        assert_eq!(key, "transaction.state.log.segment.bytes");
    }

    #[test]
    fn request_memory_and_connection_timeouts() {
        let c = from_text("").unwrap().0;
        assert_eq!(c.queued_max_request_bytes, None, "Kafka's -1: no limit");
        assert_eq!(c.connections_max_idle_ms, 600_000);
        assert_eq!(c.partial_request_timeout_ms, 30_000);
        let c = from_text("queued.max.request.bytes=0\n").unwrap().0;
        assert_eq!(c.queued_max_request_bytes, None, "Kafka treats <= 0 as no limit");
        let text = "socket.request.max.bytes=1048576\nqueued.max.request.bytes=5000000\n\
                    gregor.partial.request.timeout.ms=250\nconnections.max.idle.ms=1000\n";
        let c = from_text(text).unwrap().0;
        assert_eq!(c.queued_max_request_bytes, Some(5_000_000));
        assert_eq!(c.partial_request_timeout_ms, 250);
        assert_eq!(c.connections_max_idle_ms, 1000);
        let (key, value, _, display) = invalid("queued.max.request.bytes=1000\n");
        assert_eq!((key.as_str(), value.as_str()), ("queued.max.request.bytes", "1000"));
        assert!(display.contains("must be larger or equal to socket.request.max.bytes"), "{display}");
        let (key, ..) = invalid("gregor.partial.request.timeout.ms=0\n");
        assert_eq!(key, "gregor.partial.request.timeout.ms");
    }

    #[test]
    fn first_bad_line_is_reported() {
        let (key, ..) = invalid("num.io.threads=x\nnum.network.threads=y\n");
        assert_eq!(key, "num.io.threads");
    }

    #[test]
    fn port_zero_and_many_listeners() {
        let (c, _) = from_text(
            "listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://:0\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\n",
        )
        .unwrap();
        assert_eq!(c.listener_addrs(), ["127.0.0.1:0", "0.0.0.0:0"]);
        assert_eq!(c.advertised_listeners[1].host, "127.0.0.1");
        assert_eq!(c.advertised_listener("internal").map(|l| l.port), Some(0));
    }

    #[test]
    fn advertised_listeners_rules() {
        let (c, _) = from_text("listeners=PLAINTEXT://0.0.0.0:9092\n").unwrap();
        assert_eq!(c.listener_addrs(), ["0.0.0.0:9092"]);
        assert_eq!(c.advertised_listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");

        let (c, _) =
            from_text("listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://broker1.example:19092\n").unwrap();
        assert_eq!(c.advertised_listeners[0].host, "broker1.example");
        assert_eq!(c.advertised_listeners[0].port, 19092);

        let (key, _, reason, _) =
            invalid("listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://0.0.0.0:9092\n");
        assert_eq!(key, "advertised.listeners");
        assert!(reason.contains("nonroutable"), "{reason}");

        let (key, _, reason, _) = invalid("listeners=PLAINTEXT://:9092\nadvertised.listeners=SSL://host:9093\n");
        assert_eq!(key, "advertised.listeners");
        assert!(reason.contains("subset"), "{reason}");
    }

    #[test]
    fn listener_needs_a_security_protocol() {
        let (key, _, reason, _) = invalid("listeners=CLIENT://:9092\n");
        assert_eq!(key, "listeners");
        assert!(reason.contains("No security protocol defined for listener CLIENT"), "{reason}");

        let (key, _, reason, _) =
            invalid("listeners=CLIENT://:9092\nlistener.security.protocol.map=CLIENT:PLAINTEXT\n");
        assert_eq!(key, "security.inter.broker.protocol");
        assert!(reason.contains("advertised.listeners"), "{reason}");

        let (c, _) = from_text(
            "listeners=CLIENT://:9092,REPL://:9093\nlistener.security.protocol.map=CLIENT:PLAINTEXT,REPL:PLAINTEXT\ninter.broker.listener.name=repl\n",
        )
        .unwrap();
        assert_eq!(c.inter_broker_listener_name, "REPL");

        let (key, ..) = invalid("inter.broker.listener.name=PLAINTEXT\nsecurity.inter.broker.protocol=PLAINTEXT\n");
        assert_eq!(key, "inter.broker.listener.name");
    }

    #[test]
    fn log_dirs_fall_back_to_log_dir() {
        let c = from_text("log.dir=/data/k\n").unwrap().0;
        assert_eq!(c.log_dirs, [PathBuf::from("/data/k")]);
        let c = from_text("log.dir=/data/k\nlog.dirs=/d1, /d2\n").unwrap().0;
        assert_eq!(c.log_dirs, [PathBuf::from("/d1"), PathBuf::from("/d2")]);
        let (key, ..) = invalid("log.dirs= , \n");
        assert_eq!(key, "log.dirs");
        let (key, ..) = invalid("log.dirs=/a,/a\n");
        assert_eq!(key, "log.dirs");
    }

    #[test]
    fn zookeeper_connect_is_stored() {
        let c = from_text("zookeeper.connect=zk1:2181,zk2:2181/kafka\n").unwrap().0;
        assert_eq!(c.zookeeper_connect.as_deref(), Some("zk1:2181,zk2:2181/kafka"));
        let c = from_text("zookeeper.connect=\n").unwrap().0;
        assert_eq!(c.zookeeper_connect, None);
    }

    #[test]
    fn describe_reports_sources_and_hides_secrets() {
        let (c, _) = from_text(
            "broker.id=7\nlog.retention.hours=24\nssl.keystore.password=hunter2\nlistener.name.plaintext.sasl.jaas.config=secret\n",
        )
        .unwrap();
        let entries = c.describe();
        let get = |name: &str| entries.iter().find(|e| e.name == name).cloned().unwrap();
        assert!(entries.windows(2).all(|w| w[0].name < w[1].name), "sorted, no duplicates");
        assert_eq!(entries.len(), BROKER_KEYS.len() + 1);

        let id = get("broker.id");
        assert_eq!(id.value.as_deref(), Some("7"));
        assert_eq!(id.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(id.source.code(), 4);
        assert!(!id.is_default);
        assert!(id.read_only);

        let hours = get("log.retention.hours");
        assert_eq!(hours.value.as_deref(), Some("24"));
        assert_eq!(hours.source, ConfigSource::StaticBrokerConfig);

        let parts = get("num.partitions");
        assert_eq!(parts.value.as_deref(), Some("1"));
        assert_eq!(parts.source, ConfigSource::DefaultConfig);
        assert_eq!(parts.source.code(), 5);
        assert!(parts.is_default);

        let ms = get("log.retention.ms");
        assert_eq!(ms.value, None);
        assert!(!ms.read_only, "log.retention.ms is dynamic in Kafka");

        let pw = get("ssl.keystore.password");
        assert!(pw.sensitive);
        assert_eq!(pw.value, None);
        assert_eq!(pw.source, ConfigSource::StaticBrokerConfig);

        let jaas = get("listener.name.plaintext.sasl.jaas.config");
        assert!(jaas.sensitive);
        assert_eq!(jaas.value, None);

        assert_eq!(get("listeners").value.as_deref(), Some("PLAINTEXT://127.0.0.1:9092"));
        assert!(get("log.dir").value.unwrap().ends_with("kafka-logs"));
    }

    #[test]
    fn table_is_consistent() {
        let mut names = HashSet::new();
        for def in BROKER_KEYS {
            assert!(names.insert(def.name), "duplicate key {}", def.name);
            if let Some(d) = def.default_string() {
                value::parse(def, &d).unwrap_or_else(|e| panic!("default of {} does not validate: {e}", def.name));
            }
        }
        for key in [
            "num.recovery.threads.per.data.dir",
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "log.retention.check.interval.ms",
            "zookeeper.connection.timeout.ms",
            "group.initial.rebalance.delay.ms",
            "socket.send.buffer.bytes",
            "socket.receive.buffer.bytes",
            "socket.request.max.bytes",
            "replica.fetch.max.bytes",
            "replica.socket.timeout.ms",
            "log.cleaner.dedupe.buffer.size",
            "transaction.max.timeout.ms",
            "ssl.truststore.location",
            "sasl.enabled.mechanisms",
            "metric.reporters",
        ] {
            assert!(names.contains(key), "{key} missing");
        }
    }

    #[test]
    fn kraft_sample_file_is_accepted_without_warnings() {
        let (c, warnings) = from_text(
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
             listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
             advertised.listeners=PLAINTEXT://localhost:9092\ncontroller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL\n\
             log.dirs=/tmp/kraft-combined-logs\n",
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.listener_addrs(), ["0.0.0.0:9092", "0.0.0.0:9093"]);
        assert_eq!(c.advertised_listeners.len(), 1);
        assert_eq!(c.value_of("process.roles").as_deref(), Some("broker,controller"));
    }

    #[test]
    fn describe_defaults_are_all_default_config() {
        let (c, _) = BrokerConfig::load(None, &[]).unwrap();
        for e in c.describe() {
            assert_eq!(e.source, ConfigSource::DefaultConfig, "{}", e.name);
            assert!(e.is_default);
        }
    }

    #[test]
    fn socket_buffers_minus_one_is_os_default() {
        let c = from_text("socket.send.buffer.bytes=-1\n").unwrap().0;
        assert_eq!(c.socket_send_buffer_bytes, None);
    }

    #[test]
    fn config_source_codes() {
        for (source, code) in [
            (ConfigSource::Unknown, 0),
            (ConfigSource::DynamicTopicConfig, 1),
            (ConfigSource::DynamicBrokerConfig, 2),
            (ConfigSource::DynamicDefaultBrokerConfig, 3),
            (ConfigSource::StaticBrokerConfig, 4),
            (ConfigSource::DefaultConfig, 5),
            (ConfigSource::DynamicBrokerLoggerConfig, 6),
        ] {
            assert_eq!(source.code(), code);
            assert_eq!(ConfigSource::from_code(code), source);
        }
    }
}
