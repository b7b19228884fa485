//! `StreamsConfig`: Kafka Streams' settings with Kafka's key names and
//! defaults, plus the client settings the runtime hands to its consumers,
//! producers and admin client.
//!
//! Streams keys are parsed and checked here (a bad value is a
//! [`StreamsError::Config`] naming the key). Every other key is a client key:
//! unprefixed ones go to every client that knows them (as Kafka passes them
//! to all its clients), `consumer.`/`producer.`/`admin.` ones to that kind
//! only, and `main.consumer.`/`restore.consumer.`/`global.consumer.` to that
//! one consumer, the more specific prefix winning as in Kafka. Keys the
//! runtime must own (the group id, auto commit, transactional ids) are
//! overwritten when the clients are built, as Kafka Streams does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{ClientError, ConsumerConfig, ProducerConfig};
use crate::streams::error::{Result, StreamsError};
use crate::streams::topology::TimestampExtractorFn;

/// `processing.guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingGuarantee {
    /// `at_least_once` (the default).
    AtLeastOnce,
    /// `exactly_once_v2` (`exactly_once` and `exactly_once_beta` are accepted as deprecated aliases).
    ExactlyOnceV2,
}

/// `default.deserialization.exception.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeserializationHandler {
    /// `LogAndFailExceptionHandler` (the default): the thread stops with the error.
    LogAndFail,
    /// `LogAndContinueExceptionHandler`: the record is skipped with a warning.
    LogAndContinue,
}

/// `default.production.exception.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductionHandler {
    /// `DefaultProductionExceptionHandler`: a failed send fails the thread.
    Fail,
    /// `AlwaysContinueProductionExceptionHandler`-like: a failed send is logged and dropped.
    Continue,
}

/// `default.timestamp.extractor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampExtractorKind {
    /// `FailOnInvalidTimestamp` (the default): a negative timestamp stops the thread.
    FailOnInvalid,
    /// `LogAndSkipOnInvalidTimestamp`: records with a negative timestamp are skipped.
    LogAndSkipOnInvalid,
    /// `UsePartitionTimeOnInvalidTimestamp`: a negative timestamp becomes the partition's time so far.
    UsePartitionTimeOnInvalid,
    /// `WallclockTimestampExtractor`: the processing time.
    WallClock,
}

impl TimestampExtractorKind {
    /// The extractor given to tasks (`None`: the record's own timestamp).
    pub fn extractor(self) -> Option<TimestampExtractorFn> {
        match self {
            TimestampExtractorKind::FailOnInvalid | TimestampExtractorKind::LogAndSkipOnInvalid => None,
            TimestampExtractorKind::UsePartitionTimeOnInvalid => {
                Some(Arc::new(|ts, _, _, partition_time| if ts >= 0 { ts } else { partition_time }))
            }
            TimestampExtractorKind::WallClock => Some(Arc::new(|_, _, _, _| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0)
            })),
        }
    }
}

/// Kafka Streams settings. Build with [`StreamsConfig::from_props`] or
/// [`StreamsConfig::new`] and [`StreamsConfig::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// `application.id` (required): the group id, the prefix of internal topics and of the state directory.
    pub application_id: String,
    /// `bootstrap.servers` (required).
    pub bootstrap_servers: String,
    /// `client.id` (default `<application.id>-<process id>`): prefix of the clients' ids.
    pub client_id: Option<String>,
    /// `num.stream.threads` (default 1).
    pub num_stream_threads: usize,
    /// `state.dir` (default `<tmp>/kafka-streams`).
    pub state_dir: PathBuf,
    /// `processing.guarantee` (default at_least_once).
    pub processing_guarantee: ProcessingGuarantee,
    /// `commit.interval.ms`; `None` = the default (30000, or 100 under exactly_once_v2).
    pub commit_interval_ms: Option<u64>,
    /// `cache.max.bytes.buffering` / `statestore.cache.max.bytes` (default 10485760).
    pub cache_max_bytes: usize,
    /// `num.standby.replicas` (default 0).
    pub num_standby_replicas: usize,
    /// `replication.factor` of internal topics (default -1: the broker's default).
    pub replication_factor: i16,
    /// `default.key.serde` (a Serdes class name; only tools read it).
    pub default_key_serde: Option<String>,
    /// `default.value.serde`.
    pub default_value_serde: Option<String>,
    /// `default.timestamp.extractor`.
    pub timestamp_extractor: TimestampExtractorKind,
    /// `default.deserialization.exception.handler`.
    pub deserialization_handler: DeserializationHandler,
    /// `default.production.exception.handler`.
    pub production_handler: ProductionHandler,
    /// `poll.ms` (default 100): how long a thread blocks in poll.
    pub poll_ms: u64,
    /// `state.cleanup.delay.ms` (default 600000).
    pub state_cleanup_delay_ms: u64,
    /// `max.task.idle.ms` (default 0): how long a task waits for data on an empty input partition.
    pub max_task_idle_ms: i64,
    /// `windowstore.changelog.additional.retention.ms` (default 86400000).
    pub windowstore_changelog_additional_retention_ms: i64,
    /// `acceptable.recovery.lag` (default 10000), for the assignor.
    pub acceptable_recovery_lag: i64,
    /// Client keys as given (prefixed or not), applied when clients are built.
    pub client_props: BTreeMap<String, String>,
}

/// The prefixes Kafka uses to aim a key at one client.
pub const CLIENT_PREFIXES: [&str; 6] =
    ["main.consumer.", "restore.consumer.", "global.consumer.", "consumer.", "producer.", "admin."];

fn default_state_dir() -> PathBuf {
    std::env::temp_dir().join("kafka-streams")
}

fn bad(key: &str, message: impl Into<String>) -> StreamsError {
    StreamsError::Config { key: key.to_string(), message: message.into() }
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| bad(key, format!("'{value}' is not a valid number")))
}

/// Strips Kafka's package from a class name.
fn class(value: &str) -> &str {
    let v = value.trim();
    v.rsplit(['.', '$']).next().unwrap_or(v)
}

impl StreamsConfig {
    /// Defaults as in Kafka Streams; `application.id` and `bootstrap.servers` given.
    pub fn new(application_id: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: bootstrap_servers.into(),
            client_id: None,
            num_stream_threads: 1,
            state_dir: default_state_dir(),
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval_ms: None,
            cache_max_bytes: 10_485_760,
            num_standby_replicas: 0,
            replication_factor: -1,
            default_key_serde: None,
            default_value_serde: None,
            timestamp_extractor: TimestampExtractorKind::FailOnInvalid,
            deserialization_handler: DeserializationHandler::LogAndFail,
            production_handler: ProductionHandler::Fail,
            poll_ms: 100,
            state_cleanup_delay_ms: 600_000,
            max_task_idle_ms: 0,
            windowstore_changelog_additional_retention_ms: 86_400_000,
            acceptable_recovery_lag: 10_000,
            client_props: BTreeMap::new(),
        }
    }

    /// From Java-properties-style keys and values; checks the result.
    pub fn from_props(props: BTreeMap<String, String>) -> Result<Self> {
        let mut c = StreamsConfig::new("", "");
        for (k, v) in &props {
            c.set(k, v)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Applies one key. Streams keys are checked now; client keys when the
    /// clients are built (and in [`StreamsConfig::validate`]).
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self> {
        let key = key.trim();
        match key {
            "application.id" => self.application_id = value.trim().to_string(),
            "bootstrap.servers" => {
                self.bootstrap_servers = value.trim().to_string();
            }
            "client.id" => self.client_id = Some(value.trim().to_string()).filter(|c| !c.is_empty()),
            "num.stream.threads" => {
                let n: usize = num(key, value)?;
                if n == 0 {
                    return Err(bad(key, "must be at least 1"));
                }
                self.num_stream_threads = n;
            }
            "state.dir" => self.state_dir = PathBuf::from(value.trim()),
            "processing.guarantee" => {
                self.processing_guarantee = match value.trim() {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
                    "exactly_once" | "exactly_once_beta" => {
                        tracing::warn!("processing.guarantee={} is deprecated; using exactly_once_v2", value.trim());
                        ProcessingGuarantee::ExactlyOnceV2
                    }
                    other => {
                        return Err(bad(key, format!("'{other}' must be at_least_once or exactly_once_v2")));
                    }
                }
            }
            "commit.interval.ms" => {
                let ms: i64 = num(key, value)?;
                if ms < 0 {
                    return Err(bad(key, "must not be negative"));
                }
                self.commit_interval_ms = Some(ms as u64);
            }
            "cache.max.bytes.buffering" | "statestore.cache.max.bytes" => {
                let n: i64 = num(key, value)?;
                if n < 0 {
                    return Err(bad(key, "must not be negative"));
                }
                self.cache_max_bytes = n as usize;
            }
            "num.standby.replicas" => self.num_standby_replicas = num(key, value)?,
            "replication.factor" => {
                let rf: i16 = num(key, value)?;
                if rf == 0 || rf < -1 {
                    return Err(bad(key, "must be -1 (the broker's default) or at least 1"));
                }
                self.replication_factor = rf;
            }
            "default.key.serde" => self.default_key_serde = Some(value.trim().to_string()),
            "default.value.serde" => self.default_value_serde = Some(value.trim().to_string()),
            "default.timestamp.extractor" => {
                self.timestamp_extractor = match class(value) {
                    "FailOnInvalidTimestamp" => TimestampExtractorKind::FailOnInvalid,
                    "LogAndSkipOnInvalidTimestamp" => TimestampExtractorKind::LogAndSkipOnInvalid,
                    "UsePartitionTimeOnInvalidTimestamp" => TimestampExtractorKind::UsePartitionTimeOnInvalid,
                    "WallclockTimestampExtractor" => TimestampExtractorKind::WallClock,
                    _ => {
                        return Err(bad(
                            key,
                            format!(
                                "unknown class '{value}'; use FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, \
                                 UsePartitionTimeOnInvalidTimestamp or WallclockTimestampExtractor \
                                 (org.apache.kafka.streams.processor.*)"
                            ),
                        ))
                    }
                }
            }
            "default.deserialization.exception.handler" | "deserialization.exception.handler" => {
                self.deserialization_handler = match class(value) {
                    "LogAndFailExceptionHandler" => DeserializationHandler::LogAndFail,
                    "LogAndContinueExceptionHandler" => DeserializationHandler::LogAndContinue,
                    _ => {
                        return Err(bad(
                            key,
                            format!(
                                "unknown class '{value}'; use LogAndFailExceptionHandler or \
                                 LogAndContinueExceptionHandler (org.apache.kafka.streams.errors.*)"
                            ),
                        ))
                    }
                }
            }
            "default.production.exception.handler" | "production.exception.handler" => {
                self.production_handler = match class(value) {
                    "DefaultProductionExceptionHandler" => ProductionHandler::Fail,
                    "AlwaysContinueProductionExceptionHandler" | "LogAndContinueProductionExceptionHandler" => {
                        ProductionHandler::Continue
                    }
                    _ => {
                        return Err(bad(
                            key,
                            format!(
                                "unknown class '{value}'; use DefaultProductionExceptionHandler \
                                 (org.apache.kafka.streams.errors.*)"
                            ),
                        ))
                    }
                }
            }
            "poll.ms" => self.poll_ms = num(key, value)?,
            "state.cleanup.delay.ms" => self.state_cleanup_delay_ms = num(key, value)?,
            "max.task.idle.ms" => {
                let ms: i64 = num(key, value)?;
                if ms < -1 {
                    return Err(bad(key, "must be -1 (never wait) or at least 0"));
                }
                self.max_task_idle_ms = ms;
            }
            "windowstore.changelog.additional.retention.ms" => {
                let ms: i64 = num(key, value)?;
                if ms < 0 {
                    return Err(bad(key, "must not be negative"));
                }
                self.windowstore_changelog_additional_retention_ms = ms;
            }
            "acceptable.recovery.lag" => self.acceptable_recovery_lag = num(key, value)?,
            // Kafka Streams keys the runtime has no use for: accepted so that
            // property files written for Kafka load.
            "application.server"
            | "buffered.records.per.partition"
            | "metrics.recording.level"
            | "metrics.num.samples"
            | "metrics.sample.window.ms"
            | "probing.rebalance.interval.ms"
            | "max.warmup.replicas"
            | "topology.optimization"
            | "rocksdb.config.setter"
            | "upgrade.from"
            | "built.in.metrics.version"
            | "default.dsl.store"
            | "task.timeout.ms"
            | "repartition.purge.interval.ms"
            | "rack.aware.assignment.tags"
            | "window.size.ms"
            | "windowed.inner.class.serde" => {
                self.client_props.remove(key);
            }
            _ => {
                self.client_props.insert(key.to_string(), value.to_string());
            }
        }
        Ok(self)
    }

    /// The commit interval in force.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms.unwrap_or(match self.processing_guarantee {
            ProcessingGuarantee::AtLeastOnce => 30_000,
            ProcessingGuarantee::ExactlyOnceV2 => 100,
        }))
    }

    pub fn exactly_once(&self) -> bool {
        self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    /// Checks required keys and that every client key has a valid value for
    /// the clients it goes to.
    pub fn validate(&self) -> Result<()> {
        if self.application_id.is_empty() {
            return Err(bad("application.id", "is required (the consumer group and internal topic prefix)"));
        }
        if !self.application_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(bad(
                "application.id",
                format!("'{}' may only contain ASCII alphanumerics, '.', '_' and '-'", self.application_id),
            ));
        }
        if self.bootstrap_servers.is_empty() {
            return Err(bad("bootstrap.servers", "is required"));
        }
        self.consumer_config(Consumer::Main, "check")?;
        self.consumer_config(Consumer::Restore, "check")?;
        self.producer_config("check", None)?;
        self.admin_props()?;
        Ok(())
    }

    /// The client keys for one client: unprefixed, then the kind's prefix,
    /// then the most specific prefix.
    fn layered(&self, prefixes: &[&str]) -> Vec<(String, String, bool)> {
        let mut out: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for (k, v) in &self.client_props {
            if !CLIENT_PREFIXES.iter().any(|p| k.starts_with(p)) {
                out.insert(k.clone(), (v.clone(), false));
            }
        }
        for p in prefixes {
            for (k, v) in &self.client_props {
                if let Some(rest) = k.strip_prefix(p) {
                    // "consumer." must not also match "main.consumer." keys: strip_prefix only matches the start.
                    out.insert(rest.to_string(), (v.clone(), true));
                }
            }
        }
        out.into_iter().map(|(k, (v, explicit))| (k, v, explicit)).collect()
    }

    /// The admin client's keys (unprefixed plus `admin.`).
    pub fn admin_props(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, v, _) in self.layered(&["admin."]) {
            out.insert(k, v);
        }
        out.insert("bootstrap.servers".into(), self.bootstrap_servers.clone());
        Ok(out)
    }

    /// Applies client keys to a consumer config: keys the consumer does not
    /// know are skipped when unprefixed (they belong to other clients) and an
    /// error when aimed at the consumer.
    fn apply_consumer(&self, c: &mut ConsumerConfig, prefixes: &[&str]) -> Result<()> {
        for (k, v, explicit) in self.layered(prefixes) {
            match c.set(&k, &v) {
                Ok(()) => {}
                Err(ClientError::Config(m)) if !explicit && m.starts_with("unknown ") => {}
                Err(e) => return Err(bad(&k, e.to_string())),
            }
        }
        Ok(())
    }

    /// A consumer config for one of the runtime's consumers, with the keys
    /// Kafka Streams sets itself; `client_suffix` ends the client id.
    pub fn consumer_config(&self, which: Consumer, client_suffix: &str) -> Result<ConsumerConfig> {
        let mut c = ConsumerConfig::new(self.bootstrap_servers.clone());
        // Kafka Streams' defaults, before the user's keys.
        c.auto_offset_reset = crate::client::OffsetReset::Earliest;
        let prefixes: &[&str] = match which {
            Consumer::Main => &["consumer.", "main.consumer."],
            Consumer::Restore => &["consumer.", "restore.consumer."],
            Consumer::Global => &["consumer.", "global.consumer."],
        };
        self.apply_consumer(&mut c, prefixes)?;
        c.client.bootstrap_servers = self.bootstrap_servers.clone();
        c.client.client_id = format!("{}-{client_suffix}", self.client_id.as_deref().unwrap_or(&self.application_id));
        c.enable_auto_commit = false;
        match which {
            Consumer::Main => {
                c.group_id = Some(self.application_id.clone());
            }
            Consumer::Restore | Consumer::Global => {
                c.group_id = None;
                c.group_instance_id = None;
            }
        }
        if self.exactly_once() {
            c.isolation_level = crate::client::IsolationLevel::ReadCommitted;
        }
        Ok(c)
    }

    /// The consumer keys as properties (for the restorer, which takes a map).
    pub fn restore_consumer_props(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let probe = ConsumerConfig::new("localhost:9092");
        for (k, v, explicit) in self.layered(&["consumer.", "restore.consumer."]) {
            let mut p = probe.clone();
            if explicit || p.set(&k, &v).is_ok() {
                out.insert(k, v);
            }
        }
        out.remove("group.id");
        out.remove("group.instance.id");
        out.insert("enable.auto.commit".into(), "false".into());
        out
    }

    /// The producer config of a stream thread; `transactional_id` under exactly_once_v2.
    pub fn producer_config(&self, client_suffix: &str, transactional_id: Option<String>) -> Result<ProducerConfig> {
        let mut p = ProducerConfig::new(self.bootstrap_servers.clone());
        // Kafka Streams' producer defaults.
        p.linger = Duration::from_millis(100);
        if self.exactly_once() {
            p.transaction_timeout = Duration::from_millis(10_000);
        }
        for (k, v, explicit) in self.layered(&["producer."]) {
            match p.set(&k, &v) {
                Ok(()) => {}
                Err(ClientError::Config(m)) if !explicit && m.starts_with("unknown ") => {}
                Err(e) => return Err(bad(&k, e.to_string())),
            }
        }
        p.client.bootstrap_servers = self.bootstrap_servers.clone();
        p.client.client_id = format!("{}-{client_suffix}", self.client_id.as_deref().unwrap_or(&self.application_id));
        if let Some(id) = transactional_id {
            p.transactional_id = Some(id);
            p.set("enable.idempotence", "true").map_err(|e| bad("enable.idempotence", e.to_string()))?;
            p.set("acks", "all").map_err(|e| bad("acks", e.to_string()))?;
        }
        Ok(p)
    }
}

/// Which of the runtime's consumers a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// A stream thread's group member (`main.consumer.`).
    Main,
    /// The restore and standby consumer (`restore.consumer.`).
    Restore,
    /// The global stores' consumer (`global.consumer.`).
    Global,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafka_defaults_and_required_keys() {
        let err = StreamsConfig::from_props(props(&[("bootstrap.servers", "h:9092")])).expect_err("no app id");
        assert!(err.to_string().contains("application.id"), "{err}");
        let err = StreamsConfig::from_props(props(&[("application.id", "a")])).expect_err("no bootstrap");
        assert!(err.to_string().contains("bootstrap.servers"), "{err}");
        let c = StreamsConfig::from_props(props(&[("application.id", "wc"), ("bootstrap.servers", "h:9092")]))
            .expect("valid");
        assert_eq!(c.num_stream_threads, 1);
        assert_eq!(c.commit_interval(), Duration::from_secs(30));
        assert_eq!(c.cache_max_bytes, 10_485_760);
        assert_eq!(c.replication_factor, -1);
        assert_eq!(c.state_dir, std::env::temp_dir().join("kafka-streams"));
        assert_eq!(c.deserialization_handler, DeserializationHandler::LogAndFail);
        let mut eos = c.clone();
        eos.set("processing.guarantee", "exactly_once").expect("alias");
        assert_eq!(eos.processing_guarantee, ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(eos.commit_interval(), Duration::from_millis(100));
        eos.set("commit.interval.ms", "250").expect("explicit");
        assert_eq!(eos.commit_interval(), Duration::from_millis(250));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = StreamsConfig::new("a", "h:9092");
        for (k, v) in [
            ("num.stream.threads", "many"),
            ("num.stream.threads", "0"),
            ("processing.guarantee", "sometimes"),
            ("commit.interval.ms", "-5"),
            ("replication.factor", "0"),
            ("default.deserialization.exception.handler", "com.example.Mine"),
            ("default.timestamp.extractor", "Nope"),
        ] {
            let err = c.set(k, v).expect_err(k);
            assert!(matches!(&err, StreamsError::Config { key, .. } if key == k), "{k}: {err}");
        }
        c.set("consumer.fetch.max.wait.ms", "soon").expect("client keys are checked later");
        let err = c.validate().expect_err("bad consumer value");
        assert!(err.to_string().contains("fetch.max.wait.ms"), "{err}");
    }

    #[test]
    fn client_keys_are_layered_and_streams_owns_some() {
        let mut c = StreamsConfig::new("app", "h:9092");
        c.set("fetch.max.wait.ms", "300").expect("plain");
        c.set("main.consumer.fetch.max.wait.ms", "50").expect("main");
        c.set("restore.consumer.max.partition.fetch.bytes", "2048").expect("restore");
        c.set("linger.ms", "7").expect("producer key, unprefixed");
        c.set("consumer.enable.auto.commit", "true").expect("overridden later");
        c.set(
            "default.deserialization.exception.handler",
            "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
        )
        .expect("handler");
        c.validate().expect("valid: linger.ms is skipped by the consumer, fetch.max.wait.ms by the producer");
        let main = c.consumer_config(Consumer::Main, "StreamThread-1-consumer").expect("main");
        assert_eq!(main.fetch_max_wait, Duration::from_millis(50));
        assert_eq!(main.group_id.as_deref(), Some("app"));
        assert!(!main.enable_auto_commit);
        assert_eq!(main.auto_offset_reset, crate::client::OffsetReset::Earliest);
        let restore = c.consumer_config(Consumer::Restore, "restore-consumer").expect("restore");
        assert_eq!(restore.fetch_max_wait, Duration::from_millis(300));
        assert_eq!(restore.max_partition_fetch_bytes, 2048);
        assert_eq!(restore.group_id, None);
        let p = c.producer_config("producer", Some("app-x-1".into())).expect("producer");
        assert_eq!(p.linger, Duration::from_millis(7));
        assert_eq!(p.transactional_id.as_deref(), Some("app-x-1"));
        assert_eq!(c.deserialization_handler, DeserializationHandler::LogAndContinue);
        c.set("producer.bogus.key", "1").expect("stored");
        assert!(c.validate().is_err(), "an unknown key aimed at the producer is an error");
    }
}
