//! The appender's options, shared by the log4rs appender and the tracing
//! layer: [`AppenderConfig`] as a program builds it, and the camelCase form a
//! log4rs YAML file gives (the option names of Kafka's `KafkaLog4jAppender`,
//! with Kafka's producer names as aliases). Validation turns either into the
//! producer's [`ProducerConfig`] plus the appender's own settings, so a bad
//! value is refused when the appender is built, naming the option.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::{Compression, ProducerConfig};

use super::AppenderError;

/// Which record key a log line gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyChoice {
    /// The logger name (a `log` record's target, a tracing event's target):
    /// every line of one logger hashes to one partition, so it stays in order.
    #[default]
    Logger,
    /// No key: lines are spread over the partitions (sticky batches).
    None,
    /// The same key for every line (all lines in one partition).
    Fixed(String),
}

impl KeyChoice {
    /// `logger`, `none`, or any other text as a fixed key.
    pub fn parse(text: &str) -> KeyChoice {
        match text {
            "logger" => KeyChoice::Logger,
            "none" => KeyChoice::None,
            fixed => KeyChoice::Fixed(fixed.to_string()),
        }
    }
}

/// Options of a Kafka appender or layer. Defaults follow Kafka's
/// `KafkaLog4jAppender` (acks 1, `retries` unbounded within
/// `deliveryTimeoutMs` 120 s, `lingerMs` 0, `maxBlockMs` 60 s,
/// `ignoreExceptions` true, asynchronous sends).
#[derive(Debug, Clone, PartialEq)]
pub struct AppenderConfig {
    /// `topic` (required).
    pub topic: String,
    /// `brokerList` / `bootstrap.servers` (required), e.g. `localhost:9092,localhost:9093`.
    pub broker_list: String,
    /// `compressionType`: none, gzip, snappy, lz4 or zstd (default none).
    pub compression_type: Compression,
    /// `syncSend`: the log call returns only once the broker acknowledged the
    /// line or it failed, waiting at most `maxBlockMs` (default false).
    pub sync_send: bool,
    /// `requiredNumAcks`: 0, 1 or -1 (all) (default 1, as Kafka's appender).
    pub required_num_acks: i32,
    /// `maxBlockMs`: the longest a log call (or a flush, or closing) waits (default 60000).
    pub max_block: Duration,
    /// `ignoreExceptions`: when false, a line that cannot be queued or (with
    /// `syncSend`) delivered makes log4rs's `append` return the error (default true).
    pub ignore_exceptions: bool,
    /// `retries` (default unbounded; `deliveryTimeoutMs` is the real bound).
    pub retries: Option<u32>,
    /// `deliveryTimeoutMs`: a line's whole life in the producer (default 120000).
    pub delivery_timeout: Duration,
    /// `lingerMs`: how long a batch waits for more lines (default 0, as Kafka's appender).
    pub linger: Duration,
    /// `batchSize` in bytes (default 16384).
    pub batch_size: usize,
    /// `key`: `logger` (default), `none`, or a fixed string.
    pub key: KeyChoice,
    /// `queueSize`: lines waiting for the background sender; when full, further
    /// lines are dropped and counted, never blocking the application (default 10000).
    pub queue_size: usize,
    /// `properties`: any other Kafka producer properties (`client.id`,
    /// `request.timeout.ms`, …), applied last, so they win over the options above.
    pub properties: BTreeMap<String, String>,
}

impl AppenderConfig {
    /// Kafka's appender defaults for `topic` on `broker_list`.
    pub fn new(topic: impl Into<String>, broker_list: impl Into<String>) -> Self {
        AppenderConfig {
            topic: topic.into(),
            broker_list: broker_list.into(),
            compression_type: Compression::None,
            sync_send: false,
            required_num_acks: 1,
            max_block: Duration::from_secs(60),
            ignore_exceptions: true,
            retries: None,
            delivery_timeout: Duration::from_secs(120),
            linger: Duration::ZERO,
            batch_size: 16 * 1024,
            key: KeyChoice::Logger,
            queue_size: 10_000,
            properties: BTreeMap::new(),
        }
    }

    /// The producer settings these options mean; errors name the option.
    pub fn producer_config(&self) -> Result<ProducerConfig, AppenderError> {
        if self.topic.trim().is_empty() {
            return Err(AppenderError::Config("topic: a Kafka appender needs a topic name".into()));
        }
        if self.broker_list.trim().is_empty() {
            return Err(AppenderError::Config(
                "brokerList: a Kafka appender needs brokerList (or bootstrap.servers), e.g. localhost:9092".into(),
            ));
        }
        if self.queue_size == 0 {
            return Err(AppenderError::Config("queueSize must be at least 1".into()));
        }
        let mut config = ProducerConfig::new(self.broker_list.trim());
        config.client.client_id = "gregor-log-appender".to_string();
        let named = |option: &str, e: crate::client::ClientError| AppenderError::Config(format!("{option}: {e}"));
        config.set("acks", &self.required_num_acks.to_string()).map_err(|_| {
            AppenderError::Config(format!("requiredNumAcks: '{}' must be 0, 1 or -1 (all)", self.required_num_acks))
        })?;
        config.compression = self.compression_type;
        if let Some(retries) = self.retries {
            config.retries = retries;
        }
        config.max_block = self.max_block;
        config.delivery_timeout = self.delivery_timeout;
        config.linger = self.linger;
        config.batch_size = self.batch_size;
        for (key, value) in &self.properties {
            config.set(key, value).map_err(|e| named(&format!("properties.{key}"), e))?;
        }
        config.validate().map_err(|e| named("producer settings", e))?;
        Ok(config)
    }
}

/// `compressionType` with a message naming the option.
pub(crate) fn parse_compression(text: &str) -> Result<Compression, AppenderError> {
    text.parse().map_err(|_| {
        AppenderError::Config(format!("compressionType: '{text}' must be one of none, gzip, snappy, lz4, zstd"))
    })
}

/// A scalar in a YAML `properties:` map: Kafka properties are text, but YAML
/// writes numbers and booleans bare.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum PropertyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Text(s) => f.write_str(s),
        }
    }
}

/// The options as a log4rs file spells them (the appender's `kind: kafka`
/// entry minus `kind` and `filters`); see [`AppenderConfig`] for each one.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAppenderConfig {
    pub(crate) topic: String,
    #[serde(alias = "bootstrap.servers", alias = "bootstrapServers")]
    pub(crate) broker_list: Option<String>,
    #[serde(alias = "compression.type")]
    pub(crate) compression_type: Option<String>,
    pub(crate) sync_send: Option<bool>,
    #[serde(alias = "acks")]
    pub(crate) required_num_acks: Option<PropertyValue>,
    #[serde(alias = "max.block.ms")]
    pub(crate) max_block_ms: Option<u64>,
    pub(crate) ignore_exceptions: Option<bool>,
    pub(crate) retries: Option<u32>,
    #[serde(alias = "delivery.timeout.ms")]
    pub(crate) delivery_timeout_ms: Option<u64>,
    #[serde(alias = "linger.ms")]
    pub(crate) linger_ms: Option<u64>,
    #[serde(alias = "batch.size")]
    pub(crate) batch_size: Option<usize>,
    pub(crate) key: Option<String>,
    pub(crate) queue_size: Option<usize>,
    #[serde(default)]
    pub(crate) properties: BTreeMap<String, PropertyValue>,
    pub(crate) encoder: Option<log4rs::encode::EncoderConfig>,
}

impl RawAppenderConfig {
    /// The typed options (without the encoder, which log4rs builds).
    pub(crate) fn to_config(&self) -> Result<AppenderConfig, AppenderError> {
        let broker_list = self.broker_list.clone().ok_or_else(|| {
            AppenderError::Config(
                "brokerList: a Kafka appender needs brokerList (or bootstrap.servers), e.g. localhost:9092".into(),
            )
        })?;
        let mut config = AppenderConfig::new(self.topic.clone(), broker_list);
        if let Some(c) = &self.compression_type {
            config.compression_type = parse_compression(c)?;
        }
        if let Some(v) = self.sync_send {
            config.sync_send = v;
        }
        if let Some(acks) = &self.required_num_acks {
            config.required_num_acks = match acks {
                PropertyValue::Int(n) if [-1, 0, 1].contains(n) => *n as i32,
                PropertyValue::Text(t) if t.eq_ignore_ascii_case("all") => -1,
                other => {
                    return Err(AppenderError::Config(format!("requiredNumAcks: '{other}' must be 0, 1 or -1 (all)")))
                }
            };
        }
        if let Some(ms) = self.max_block_ms {
            config.max_block = Duration::from_millis(ms);
        }
        if let Some(v) = self.ignore_exceptions {
            config.ignore_exceptions = v;
        }
        config.retries = self.retries;
        if let Some(ms) = self.delivery_timeout_ms {
            config.delivery_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.linger_ms {
            config.linger = Duration::from_millis(ms);
        }
        if let Some(n) = self.batch_size {
            config.batch_size = n;
        }
        if let Some(k) = &self.key {
            config.key = KeyChoice::parse(k);
        }
        if let Some(n) = self.queue_size {
            config.queue_size = n;
        }
        config.properties = self.properties.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        // Check the producer settings now, so a bad file fails at load time.
        config.producer_config()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> Result<RawAppenderConfig, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    #[test]
    fn defaults_follow_kafkas_appender() {
        let c = raw("topic: logs\nbrokerList: localhost:9092\n").expect("parse").to_config().expect("valid");
        assert_eq!(c.required_num_acks, 1);
        assert_eq!(c.max_block, Duration::from_secs(60));
        assert!(c.ignore_exceptions);
        assert!(!c.sync_send);
        assert_eq!(c.key, KeyChoice::Logger);
        let p = c.producer_config().expect("producer");
        assert_eq!(p.acks, crate::client::Acks::Leader);
        assert_eq!(p.linger, Duration::ZERO);
        assert_eq!(p.max_block, Duration::from_secs(60));
        assert_eq!(p.delivery_timeout, Duration::from_secs(120));
    }

    #[test]
    fn options_aliases_and_properties_apply() {
        let c = raw(
            "topic: logs\nbootstrap.servers: a:1,b:2\ncompressionType: zstd\nsyncSend: true\nrequiredNumAcks: -1\n\
             maxBlockMs: 500\nignoreExceptions: false\nretries: 3\nkey: none\nqueueSize: 5\n\
             properties:\n  client.id: app\n  linger.ms: 20\n",
        )
        .expect("parse")
        .to_config()
        .expect("valid");
        assert_eq!(c.broker_list, "a:1,b:2");
        assert_eq!(c.compression_type, Compression::Zstd);
        assert!(c.sync_send && !c.ignore_exceptions);
        assert_eq!(c.key, KeyChoice::None);
        let p = c.producer_config().expect("producer");
        assert_eq!(p.acks, crate::client::Acks::All);
        assert_eq!(p.retries, 3);
        assert_eq!(p.max_block, Duration::from_millis(500));
        assert_eq!(p.client.client_id, "app");
        assert_eq!(p.linger, Duration::from_millis(20), "properties win");
        assert_eq!(KeyChoice::parse("svc-a"), KeyChoice::Fixed("svc-a".into()));
    }

    #[test]
    fn bad_options_are_named() {
        let err = raw("brokerList: a:1\n").expect_err("no topic");
        assert!(err.to_string().contains("missing field `topic`"), "{err}");
        let err = raw("topic: t\nbrokerList: a:1\ncompressionType: brotli\n").expect("parse").to_config();
        let msg = err.expect_err("codec").to_string();
        assert!(msg.contains("compressionType: 'brotli' must be one of none, gzip, snappy, lz4, zstd"), "{msg}");
        let err = raw("topic: t\nbrokerList: a:1\nsynSend: true\n").expect_err("typo");
        assert!(err.to_string().contains("unknown field `synSend`"), "{err}");
        let msg = raw("topic: t\n").expect("parse").to_config().expect_err("no brokers").to_string();
        assert!(msg.contains("brokerList"), "{msg}");
        let msg = raw("topic: t\nbrokerList: a:1\nrequiredNumAcks: 2\n").expect("parse").to_config();
        assert!(msg.expect_err("acks").to_string().contains("requiredNumAcks: '2'"));
        let msg = raw("topic: t\nbrokerList: a:1\nproperties:\n  no.such: 1\n").expect("parse").to_config();
        let msg = msg.expect_err("unknown property").to_string();
        assert!(msg.contains("properties.no.such") && msg.contains("unknown producer property"), "{msg}");
        let msg = raw("topic: t\nbrokerList: nohost\n").expect("parse").to_config().expect_err("bad list");
        assert!(msg.to_string().contains("host:port"), "{msg}");
    }
}
