//! Configuration: Java `.properties` text and `--override key=value` strings →
//! validated, typed broker and topic configs.
//!
//! This module owns, in one place, every Kafka configuration key gregor knows, its
//! Kafka type, its Kafka default, its validator and whether Kafka lets it change at
//! run time. Everything else in the broker reads typed fields from [`BrokerConfig`]
//! and [`TopicConfig`] and never looks at key strings or defaults itself.
//!
//! It works in two stages:
//!
//! 1. **Raw** ([`properties`]): a properties file and `--override` strings become a
//!    [`RawConfig`], an ordered `key → value` map that remembers where each value came
//!    from (file line, override, or nothing: the default). No value is interpreted.
//! 2. **Typed** ([`broker`], [`topic`]): [`BrokerConfig::from_raw`] checks every key
//!    against Kafka's table, parses and range-checks values with Kafka's rules and
//!    Kafka's error wording (`Invalid value abc for configuration num.partitions: Not a
//!    number of type INT`), fills in defaults and derived values (retention
//!    `ms > minutes > hours`, `log.dirs` falling back to `log.dir`, advertised listeners
//!    falling back to listeners). Unknown keys are warnings, not errors, as in Kafka.
//!    Topic overrides are validated by [`validate_topic_configs`] and merged with the
//!    broker's values by [`TopicConfig::resolve`].
//!
//! Dynamic configuration ([`dynamic`], [`BrokerConfig::with_dynamic`]): the dynamic
//! broker configs kept in ZooKeeper (`/config/brokers/<default>` and
//! `/config/brokers/<id>`) are layered over the static config, per-broker over
//! default over file; [`dynamic`] holds Kafka's rules for what may change at run
//! time and how IncrementalAlterConfigs operations apply.
//!
//! [`BrokerConfig::describe`] and [`describe_topic`] answer the DescribeConfigs API
//! with Kafka's config sources ([`ConfigSource`]) and synonyms.
//!
//! This module does no network I/O and writes nothing: reading the properties file is
//! its only I/O. It must not create log directories or bind listeners; the broker does
//! that with the values found here.

pub mod broker;
pub mod dynamic;
pub mod listener;
pub mod properties;
pub mod security;
pub mod topic;
mod value;

use std::path::PathBuf;

pub use broker::{BrokerConfig, CleanupPolicy, CompressionType, DynamicLayers, TimestampType};
pub use listener::{Listener, SecurityProtocol};
pub use properties::{RawConfig, RawEntry, ValueSource};
pub use topic::{describe_topic, validate_topic_configs, TopicConfig};

/// Errors from loading or validating configuration. Each names the file, key or string
/// at fault so a user can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("cannot read config file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The properties file is not valid `.properties` syntax (e.g. a bad `\u` escape).
    #[error("cannot parse {origin}: {message}")]
    Parse {
        /// The file path, or a description of the input when it was not a file.
        origin: String,
        /// 1-based line number, when known.
        line: Option<usize>,
        message: String,
    },
    /// A known key has a value Kafka would reject. Display matches Kafka's
    /// `ConfigException`.
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue { key: String, value: String, reason: String },
    /// A topic-level config name that Kafka does not know (CreateTopics / AlterConfigs
    /// answer this with INVALID_CONFIG and this message).
    #[error("Unknown topic config name: {0}")]
    UnknownTopicConfig(String),
    /// An `--override` argument without `=` (or with an empty key).
    #[error("invalid --override '{0}': expected key=value")]
    BadOverride(String),
    /// AlterConfigs on a broker named keys Kafka cannot change at run time
    /// (sorted; Kafka prints a Scala `Set`).
    #[error("Cannot update these configs dynamically: Set({})", .0.join(", "))]
    NotDynamic(Vec<String>),
    /// Per-broker keys (listeners, keystores) sent for the cluster-wide default.
    #[error("Cannot update these configs at default cluster level, broker id must be specified: Set({})", .0.join(", "))]
    PerBrokerOnly(Vec<String>),
    /// Keystore/truststore keys without a `listener.name.<l>.` prefix.
    #[error("These security configs can be dynamically updated only per-listener using the listener prefix: Set({})", .0.join(", "))]
    ListenerPrefixOnly(Vec<String>),
    /// A broker config name gregor does not know (*gregor*: Kafka's ZooKeeper
    /// mode stores unknown names; we refuse them so a typo is not silently kept).
    #[error("Unknown broker config name: {0}")]
    UnknownBrokerConfig(String),
    /// IncrementalAlterConfigs APPEND/SUBTRACT on a key that is not a list.
    #[error("Config value {op} is not allowed for config key: {key}")]
    ListOpNotAllowed { op: &'static str, key: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue { key: key.into(), value: value.into(), reason: reason.into() }
    }
}

/// Where a config value came from, with Kafka's DescribeConfigs source codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ConfigSource {
    Unknown,
    /// A per-topic override (stored in ZooKeeper under `/config/topics/<topic>`).
    DynamicTopicConfig,
    /// A per-broker dynamic config (`/config/brokers/<id>`).
    DynamicBrokerConfig,
    /// A cluster-wide dynamic broker default (`/config/brokers/<default>`).
    DynamicDefaultBrokerConfig,
    /// Set in the broker's properties file or by `--override`.
    StaticBrokerConfig,
    /// Kafka's built-in default.
    DefaultConfig,
    /// A dynamic broker logger level.
    DynamicBrokerLoggerConfig,
}

impl ConfigSource {
    /// Kafka's wire code for this source (DescribeConfigs v1+ `config_source`).
    pub fn code(&self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
        }
    }

    /// The source for a wire code; unknown codes map to [`ConfigSource::Unknown`].
    pub fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            _ => ConfigSource::Unknown,
        }
    }
}

/// One row of a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigEntry {
    pub name: String,
    /// The value as Kafka renders it; `None` for sensitive keys and for keys whose
    /// default is null.
    pub value: Option<String>,
    pub source: ConfigSource,
    /// `source == DefaultConfig` (the v0 `is_default` flag).
    pub is_default: bool,
    /// Kafka cannot change this key without a restart.
    pub read_only: bool,
    /// A password-type key; its value is never reported.
    pub sensitive: bool,
    /// Kafka's synonyms (DescribeConfigs v1+): every place this setting is
    /// given, most specific first, ending with the built-in default.
    pub synonyms: Vec<ConfigSynonym>,
}

/// One synonym of a DescribeConfigs entry: a key, its value there and that layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigSynonym {
    pub name: String,
    /// `None` for sensitive values.
    pub value: Option<String>,
    pub source: ConfigSource,
}

impl ConfigSource {
    /// Kafka's enum name (`DYNAMIC_TOPIC_CONFIG`, …), as `kafka-configs` prints it.
    pub fn kafka_name(&self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
        }
    }
}
