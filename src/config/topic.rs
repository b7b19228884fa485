//! Topic-level configs: the Kafka topic keys, each with the broker key(s) it inherits
//! from (`TOPIC_KEYS`); validation of overrides (CreateTopics, AlterConfigs), the
//! typed per-topic config ([`TopicConfig`]) and DescribeConfigs on a topic resource.
//!
//! A topic key has no default of its own: when a topic does not override it, its value
//! is the broker's effective value (e.g. `retention.ms` ← the broker's retention after
//! `log.retention.ms > minutes > hours`), so every default still lives in the broker
//! table. The exceptions are the two throttled-replica lists, which no broker key
//! feeds and which default to empty.

use std::collections::BTreeMap;

use super::broker::{
    to, BrokerConfig, CleanupPolicy, CompressionType, TimestampType, CLEANUP_POLICIES, COMPRESSION_TYPES,
    TIMESTAMP_TYPES,
};
use super::value::{self, key as k, Check, DefaultValue, KeyDef, Value, ValueType};
use super::{ConfigEntry, ConfigError, ConfigSource, ConfigSynonym};

/// A topic key and the broker keys it inherits from, most specific first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicKey {
    pub def: KeyDef,
    pub synonyms: &'static [&'static str],
}

const fn t(def: KeyDef, synonyms: &'static [&'static str]) -> TopicKey {
    TopicKey { def, synonyms }
}

use Check::{Any as ANY, AtLeast as MIN, OneOf as ONE_OF};
use DefaultValue::Null as INHERITED;
/// The throttled-replica lists default to empty (no broker key feeds them).
const EMPTY: DefaultValue = DefaultValue::Value("");
const B: ValueType = ValueType::Boolean;
const S: ValueType = ValueType::String;
const I: ValueType = ValueType::Int;
const L: ValueType = ValueType::Long;
const D: ValueType = ValueType::Double;
const LIST: ValueType = ValueType::List;
/// Every topic config is dynamic (AlterConfigs can change it).
const DYN: bool = true;

/// The topic keys Kafka defines (2.8/3.x, without tiered storage), sorted by name.
#[rustfmt::skip]
pub(crate) static TOPIC_KEYS: &[TopicKey] = &[
    t(k("cleanup.policy", LIST, INHERITED, Check::ListOf(CLEANUP_POLICIES), DYN), &["log.cleanup.policy"]),
    t(k("compression.type", S, INHERITED, ONE_OF(COMPRESSION_TYPES), DYN), &["compression.type"]),
    t(k("delete.retention.ms", L, INHERITED, MIN(0), DYN), &["log.cleaner.delete.retention.ms"]),
    t(k("file.delete.delay.ms", L, INHERITED, MIN(0), DYN), &["log.segment.delete.delay.ms"]),
    t(k("flush.messages", L, INHERITED, MIN(0), DYN), &["log.flush.interval.messages"]),
    t(k("flush.ms", L, INHERITED, MIN(0), DYN), &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"]),
    t(k("follower.replication.throttled.replicas", LIST, EMPTY, Check::ThrottledReplicas, DYN), &[]),
    t(k("index.interval.bytes", I, INHERITED, MIN(0), DYN), &["log.index.interval.bytes"]),
    t(k("leader.replication.throttled.replicas", LIST, EMPTY, Check::ThrottledReplicas, DYN), &[]),
    t(k("max.compaction.lag.ms", L, INHERITED, MIN(1), DYN), &["log.cleaner.max.compaction.lag.ms"]),
    t(k("max.message.bytes", I, INHERITED, MIN(0), DYN), &["message.max.bytes"]),
    t(k("message.downconversion.enable", B, INHERITED, ANY, DYN), &["log.message.downconversion.enable"]),
    t(k("message.format.version", S, INHERITED, ANY, DYN), &["log.message.format.version"]),
    t(k("message.timestamp.difference.max.ms", L, INHERITED, MIN(0), DYN), &["log.message.timestamp.difference.max.ms"]),
    t(k("message.timestamp.type", S, INHERITED, ONE_OF(TIMESTAMP_TYPES), DYN), &["log.message.timestamp.type"]),
    t(k("min.cleanable.dirty.ratio", D, INHERITED, Check::Ratio, DYN), &["log.cleaner.min.cleanable.ratio"]),
    t(k("min.compaction.lag.ms", L, INHERITED, MIN(0), DYN), &["log.cleaner.min.compaction.lag.ms"]),
    t(k("min.insync.replicas", I, INHERITED, MIN(1), DYN), &["min.insync.replicas"]),
    t(k("preallocate", B, INHERITED, ANY, DYN), &["log.preallocate"]),
    t(k("retention.bytes", L, INHERITED, ANY, DYN), &["log.retention.bytes"]),
    t(k("retention.ms", L, INHERITED, MIN(-1), DYN), &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]),
    t(k("segment.bytes", I, INHERITED, MIN(14), DYN), &["log.segment.bytes"]),
    t(k("segment.index.bytes", I, INHERITED, MIN(4), DYN), &["log.index.size.max.bytes"]),
    t(k("segment.jitter.ms", L, INHERITED, MIN(0), DYN), &["log.roll.jitter.ms", "log.roll.jitter.hours"]),
    t(k("segment.ms", L, INHERITED, MIN(1), DYN), &["log.roll.ms", "log.roll.hours"]),
    t(k("unclean.leader.election.enable", B, INHERITED, ANY, DYN), &["unclean.leader.election.enable"]),
];

fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|t| t.def.name == name)
}

/// The names of all topic-level configs, sorted.
pub fn topic_config_names() -> impl Iterator<Item = &'static str> {
    TOPIC_KEYS.iter().map(|t| t.def.name)
}

/// The broker keys a topic key inherits from (DescribeConfigs synonyms), most specific
/// first; `None` for an unknown topic key.
pub fn broker_synonyms(topic_key_name: &str) -> Option<&'static [&'static str]> {
    topic_key(topic_key_name).map(|t| t.synonyms)
}

/// Validates topic overrides as CreateTopics / AlterConfigs must: an unknown name is
/// [`ConfigError::UnknownTopicConfig`], a bad value [`ConfigError::InvalidValue`].
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (name, raw) in configs {
        let key = topic_key(name).ok_or_else(|| ConfigError::UnknownTopicConfig(name.clone()))?;
        value::parse(&key.def, raw)?;
    }
    let number = |name: &str| match configs.get(name).map(|raw| raw.trim().parse::<i64>()) {
        Some(Ok(n)) => Some(n),
        _ => None,
    };
    if let (Some(min), Some(max)) = (number("min.compaction.lag.ms"), number("max.compaction.lag.ms")) {
        if min > max {
            return Err(ConfigError::invalid(
                "min.compaction.lag.ms",
                min.to_string(),
                format!("conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"),
            ));
        }
    }
    Ok(())
}

/// A topic's effective, typed config: its overrides over the broker's values.
/// `None` in `retention_*` means unlimited (Kafka's -1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TopicConfig {
    pub cleanup_policy: CleanupPolicy,
    pub compression_type: CompressionType,
    pub delete_retention_ms: u64,
    pub file_delete_delay_ms: u64,
    pub flush_messages: u64,
    pub flush_ms: u64,
    pub follower_replication_throttled_replicas: Vec<String>,
    pub index_interval_bytes: u32,
    pub leader_replication_throttled_replicas: Vec<String>,
    pub max_compaction_lag_ms: u64,
    pub max_message_bytes: u32,
    pub message_downconversion_enable: bool,
    pub message_format_version: String,
    pub message_timestamp_difference_max_ms: u64,
    pub message_timestamp_type: TimestampType,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: u64,
    pub min_insync_replicas: u32,
    pub preallocate: bool,
    pub retention_bytes: Option<u64>,
    pub retention_ms: Option<u64>,
    pub segment_bytes: u32,
    pub segment_index_bytes: u32,
    pub segment_jitter_ms: u64,
    pub segment_ms: u64,
    pub unclean_leader_election_enable: bool,
}

impl TopicConfig {
    /// Merges `overrides` over `broker`. Overrides should have passed
    /// [`validate_topic_configs`] before they were stored; one that does not parse
    /// (written by another tool, say) is logged and the broker's value used.
    pub fn resolve(overrides: &BTreeMap<String, String>, broker: &BrokerConfig) -> TopicConfig {
        let o = Overrides { map: overrides };
        TopicConfig {
            cleanup_policy: o
                .list("cleanup.policy")
                .map(|items| CleanupPolicy::from_items(&items))
                .unwrap_or(broker.log_cleanup_policy),
            compression_type: o
                .text("compression.type")
                .and_then(|s| CompressionType::from_name(&s))
                .unwrap_or(broker.compression_type),
            delete_retention_ms: o.num("delete.retention.ms").unwrap_or(broker.log_cleaner_delete_retention_ms),
            file_delete_delay_ms: o.num("file.delete.delay.ms").unwrap_or(broker.log_segment_delete_delay_ms),
            flush_messages: o.num("flush.messages").unwrap_or(broker.log_flush_interval_messages),
            flush_ms: o.num("flush.ms").unwrap_or(broker.log_flush_ms()),
            follower_replication_throttled_replicas: o
                .list("follower.replication.throttled.replicas")
                .unwrap_or_default(),
            index_interval_bytes: o.num("index.interval.bytes").unwrap_or(broker.log_index_interval_bytes),
            leader_replication_throttled_replicas: o.list("leader.replication.throttled.replicas").unwrap_or_default(),
            max_compaction_lag_ms: o.num("max.compaction.lag.ms").unwrap_or(broker.log_cleaner_max_compaction_lag_ms),
            max_message_bytes: o.num("max.message.bytes").unwrap_or(broker.message_max_bytes),
            message_downconversion_enable: o
                .bool("message.downconversion.enable")
                .unwrap_or(broker.log_message_downconversion_enable),
            message_format_version: o
                .text("message.format.version")
                .unwrap_or_else(|| broker.log_message_format_version.clone()),
            message_timestamp_difference_max_ms: o
                .num("message.timestamp.difference.max.ms")
                .unwrap_or(broker.log_message_timestamp_difference_max_ms),
            message_timestamp_type: o
                .text("message.timestamp.type")
                .and_then(|s| TimestampType::from_name(&s))
                .unwrap_or(broker.log_message_timestamp_type),
            min_cleanable_dirty_ratio: o
                .double("min.cleanable.dirty.ratio")
                .unwrap_or(broker.log_cleaner_min_cleanable_ratio),
            min_compaction_lag_ms: o.num("min.compaction.lag.ms").unwrap_or(broker.log_cleaner_min_compaction_lag_ms),
            min_insync_replicas: o.num("min.insync.replicas").unwrap_or(broker.min_insync_replicas),
            preallocate: o.bool("preallocate").unwrap_or(broker.log_preallocate),
            retention_bytes: o.limit("retention.bytes").unwrap_or(broker.log_retention_bytes),
            retention_ms: o.limit("retention.ms").unwrap_or(broker.log_retention_ms),
            segment_bytes: o.num("segment.bytes").unwrap_or(broker.log_segment_bytes),
            segment_index_bytes: o.num("segment.index.bytes").unwrap_or(broker.log_index_size_max_bytes),
            segment_jitter_ms: o.num("segment.jitter.ms").unwrap_or(broker.log_roll_jitter_ms),
            segment_ms: o.num("segment.ms").unwrap_or(broker.log_roll_ms),
            unclean_leader_election_enable: o
                .bool("unclean.leader.election.enable")
                .unwrap_or(broker.unclean_leader_election_enable),
        }
    }

    /// The effective value of a topic key as Kafka renders it (`-1` for unlimited).
    pub fn value_of(&self, name: &str) -> Option<String> {
        fn limit(v: Option<u64>) -> String {
            v.map_or_else(|| "-1".to_string(), |n| n.to_string())
        }
        Some(match name {
            "cleanup.policy" => self.cleanup_policy.to_string(),
            "compression.type" => self.compression_type.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "follower.replication.throttled.replicas" => self.follower_replication_throttled_replicas.join(","),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "leader.replication.throttled.replicas" => self.leader_replication_throttled_replicas.join(","),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.downconversion.enable" => self.message_downconversion_enable.to_string(),
            "message.format.version" => self.message_format_version.clone(),
            "message.timestamp.difference.max.ms" => self.message_timestamp_difference_max_ms.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.to_string(),
            "min.cleanable.dirty.ratio" => Value::Double(self.min_cleanable_dirty_ratio).render(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "preallocate" => self.preallocate.to_string(),
            "retention.bytes" => limit(self.retention_bytes),
            "retention.ms" => limit(self.retention_ms),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "segment.jitter.ms" => self.segment_jitter_ms.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            _ => return None,
        })
    }
}

/// DescribeConfigs on a topic: every topic key with its effective value. Source: the
/// topic's override → DYNAMIC_TOPIC_CONFIG; else the most specific layer that sets a
/// broker synonym (DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
/// STATIC_BROKER_CONFIG); else DEFAULT_CONFIG (`is_default`). The synonyms list every
/// one of those layers, as Kafka's do.
pub fn describe_topic(overrides: &BTreeMap<String, String>, broker: &BrokerConfig) -> Vec<ConfigEntry> {
    let resolved = TopicConfig::resolve(overrides, broker);
    let mut entries: Vec<ConfigEntry> = TOPIC_KEYS
        .iter()
        .map(|key| {
            let name = key.def.name;
            let overridden = overrides.get(name).and_then(|raw| value::parse(&key.def, raw).ok());
            let mut synonyms = Vec::new();
            if let Some(v) = &overridden {
                synonyms.push(ConfigSynonym {
                    name: name.to_string(),
                    value: Some(v.render()),
                    source: ConfigSource::DynamicTopicConfig,
                });
            }
            synonyms.extend(broker.synonym_chain(key.synonyms));
            let source = synonyms.first().map_or(ConfigSource::DefaultConfig, |s| s.source);
            let value = match overridden {
                Some(v) => Some(v.render()),
                None => resolved.value_of(name),
            };
            ConfigEntry {
                name: name.to_string(),
                value,
                source,
                is_default: source == ConfigSource::DefaultConfig,
                read_only: false,
                sensitive: false,
                synonyms,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// Whether a topic key takes a list (IncrementalAlterConfigs APPEND/SUBTRACT);
/// `None` for an unknown key.
pub fn is_list_key(name: &str) -> Option<bool> {
    topic_key(name).map(|t| t.def.ty == ValueType::List)
}

/// Parsed access to topic overrides; an unparsable override is logged and ignored.
struct Overrides<'a> {
    map: &'a BTreeMap<String, String>,
}

impl Overrides<'_> {
    fn value(&self, name: &str) -> Option<Value> {
        let raw = self.map.get(name)?;
        let key = topic_key(name)?;
        match value::parse(&key.def, raw) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("ignoring topic override: {e}");
                None
            }
        }
    }

    fn num<T: TryFrom<i64>>(&self, name: &str) -> Option<T> {
        match self.value(name)? {
            Value::Number(n) => to(name, n).ok(),
            _ => None,
        }
    }

    /// A -1-means-unlimited number: `Some(None)` for a negative override.
    fn limit(&self, name: &str) -> Option<Option<u64>> {
        match self.value(name)? {
            Value::Number(n) => Some(u64::try_from(n).ok()),
            _ => None,
        }
    }

    fn bool(&self, name: &str) -> Option<bool> {
        match self.value(name)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn double(&self, name: &str) -> Option<f64> {
        match self.value(name)? {
            Value::Double(d) => Some(d),
            _ => None,
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn list(&self, name: &str) -> Option<Vec<String>> {
        match self.value(name)? {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn broker(text: &str) -> BrokerConfig {
        BrokerConfig::from_raw(RawConfig::parse_str(text).unwrap()).unwrap().0
    }

    #[test]
    fn table_is_sorted_unique_and_synonyms_exist() {
        assert!(TOPIC_KEYS.windows(2).all(|w| w[0].def.name < w[1].def.name));
        let defaults = broker("");
        for key in TOPIC_KEYS {
            for s in key.synonyms {
                assert!(
                    crate::config::broker::broker_key(s).is_some(),
                    "{} inherits from unknown broker key {s}",
                    key.def.name
                );
            }
            assert!(
                TopicConfig::resolve(&BTreeMap::new(), &defaults).value_of(key.def.name).is_some(),
                "{} has no typed field",
                key.def.name
            );
        }
        assert_eq!(topic_config_names().count(), TOPIC_KEYS.len());
        assert_eq!(
            broker_synonyms("retention.ms"),
            Some(&["log.retention.ms", "log.retention.minutes", "log.retention.hours"][..])
        );
    }

    #[test]
    fn validation() {
        assert!(validate_topic_configs(&map(&[
            ("retention.ms", "1000"),
            ("cleanup.policy", "compact,delete"),
            ("min.insync.replicas", "2"),
            ("unclean.leader.election.enable", "TRUE"),
        ]))
        .is_ok());
        for policy in ["delete", "compact", "compact,delete", "delete, compact"] {
            assert!(validate_topic_configs(&map(&[("cleanup.policy", policy)])).is_ok(), "{policy}");
        }

        let err = validate_topic_configs(&map(&[("foo", "1")])).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownTopicConfig(n) if n == "foo"));
        assert_eq!(err.to_string(), "Unknown topic config name: foo");

        let err = validate_topic_configs(&map(&[("retention.ms", "abc")])).unwrap_err();
        assert_eq!(err.to_string(), "Invalid value abc for configuration retention.ms: Not a number of type LONG");
        let err = validate_topic_configs(&map(&[("cleanup.policy", "shred")])).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, value, .. } if key == "cleanup.policy" && value == "shred"),
            "{err:?}"
        );
        assert!(validate_topic_configs(&map(&[("cleanup.policy", "")])).is_err());
        assert!(validate_topic_configs(&map(&[("segment.bytes", "10")])).is_err());
        assert!(validate_topic_configs(&map(&[("min.insync.replicas", "0")])).is_err());
        assert!(validate_topic_configs(&map(&[("preallocate", "1")])).is_err());
        assert!(validate_topic_configs(&map(&[("message.timestamp.type", "Now")])).is_err());
        assert!(validate_topic_configs(&map(&[("min.cleanable.dirty.ratio", "2")])).is_err());
        assert!(validate_topic_configs(&map(&[("retention.ms", "-2")])).is_err());
        let err = validate_topic_configs(&map(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
    }

    #[test]
    fn resolve_inherits_broker_values() {
        let c = TopicConfig::resolve(&BTreeMap::new(), &broker(""));
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.flush_messages, i64::MAX as u64);
        assert_eq!(c.flush_ms, i64::MAX as u64);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(c.compression_type, CompressionType::Producer);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.delete_retention_ms, 86_400_000);
        assert_eq!(c.file_delete_delay_ms, 60_000);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
        assert!(!c.unclean_leader_election_enable);

        let b = broker(
            "log.retention.hours=24\nlog.segment.bytes=1048576\nmessage.max.bytes=2000000\nlog.flush.interval.ms=1000\nlog.cleanup.policy=compact\n",
        );
        let c = TopicConfig::resolve(&BTreeMap::new(), &b);
        assert_eq!(c.retention_ms, Some(86_400_000));
        assert_eq!(c.segment_bytes, 1_048_576);
        assert_eq!(c.max_message_bytes, 2_000_000);
        assert_eq!(c.flush_ms, 1000);
        assert!(c.cleanup_policy.compact && !c.cleanup_policy.delete);
    }

    #[test]
    fn overrides_win() {
        let b = broker("log.retention.hours=24\n");
        let o = map(&[
            ("retention.ms", "1000"),
            ("retention.bytes", "-1"),
            ("segment.ms", "60000"),
            ("cleanup.policy", "compact,delete"),
            ("compression.type", "zstd"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.insync.replicas", "2"),
        ]);
        let c = TopicConfig::resolve(&o, &b);
        assert_eq!(c.retention_ms, Some(1000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.segment_ms, 60_000);
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        assert_eq!(c.compression_type, CompressionType::Zstd);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.min_insync_replicas, 2);

        let c = TopicConfig::resolve(&map(&[("retention.ms", "-1")]), &b);
        assert_eq!(c.retention_ms, None);

        // An invalid stored override falls back to the broker's value.
        let c = TopicConfig::resolve(&map(&[("retention.ms", "soon")]), &b);
        assert_eq!(c.retention_ms, Some(86_400_000));
    }

    #[test]
    fn describe_sources() {
        let b = broker("log.retention.hours=24\nlog.segment.bytes=1048576\n");
        let entries = describe_topic(&map(&[("max.message.bytes", " 5000 ")]), &b);
        assert_eq!(entries.len(), TOPIC_KEYS.len());
        let get = |name: &str| entries.iter().find(|e| e.name == name).cloned().unwrap();

        let max = get("max.message.bytes");
        assert_eq!(max.value.as_deref(), Some("5000"));
        assert_eq!(max.source, ConfigSource::DynamicTopicConfig);
        assert_eq!(max.source.code(), 1);
        assert!(!max.is_default);
        assert!(!max.read_only);

        let retention = get("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("86400000"));
        assert_eq!(retention.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(retention.source.code(), 4);
        assert!(!retention.is_default);

        let segment = get("segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("1048576"));
        assert_eq!(segment.source, ConfigSource::StaticBrokerConfig);

        let policy = get("cleanup.policy");
        assert_eq!(policy.value.as_deref(), Some("delete"));
        assert_eq!(policy.source, ConfigSource::DefaultConfig);
        assert_eq!(policy.source.code(), 5);
        assert!(policy.is_default);

        assert_eq!(get("retention.bytes").value.as_deref(), Some("-1"));
        assert_eq!(get("min.cleanable.dirty.ratio").value.as_deref(), Some("0.5"));
        assert_eq!(get("segment.ms").value.as_deref(), Some("604800000"));
        assert_eq!(get("leader.replication.throttled.replicas").value.as_deref(), Some(""));
    }
}
