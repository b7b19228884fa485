//! Consumer settings with the Java client's property names and defaults.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::assignor::{AssignmentStrategy, CustomAssignor};
use crate::client::config::{check_duration, parse_bool, parse_ms, parse_num};
use crate::client::{ClientConfig, ClientError};

/// Where a partition without a valid position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end (only records produced from now on).
    Latest,
    /// No automatic reset: [`Consumer::poll`](super::Consumer::poll) fails instead.
    None,
}

impl FromStr for OffsetReset {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" | "smallest" | "beginning" => Ok(OffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(OffsetReset::Latest),
            "none" | "error" => Ok(OffsetReset::None),
            _ => Err(ClientError::Config(format!("auto.offset.reset: '{s}' must be earliest, latest or none"))),
        }
    }
}

/// What a consumer reads of transactional records (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// `read_uncommitted` (the default): everything up to the high watermark,
    /// records of open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// `read_committed`: only up to the last stable offset, and never records
    /// of aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value of Fetch and ListOffsets.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl FromStr for IsolationLevel {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            _ => Err(ClientError::Config(format!("isolation.level: '{s}' must be read_uncommitted or read_committed"))),
        }
    }
}

impl std::fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
        })
    }
}

/// Consumer settings. Start from [`ConsumerConfig::new`] and change fields or
/// apply Kafka property names with [`ConsumerConfig::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    pub client: ClientConfig,
    /// `auto.offset.reset` (default latest).
    pub auto_offset_reset: OffsetReset,
    /// `fetch.max.wait.ms`: how long the broker may hold a fetch for `fetch.min.bytes` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes` per fetch response (default 52428800).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` per partition (default 1048576).
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level` (default read_uncommitted).
    pub isolation_level: IsolationLevel,
    /// `check.crcs`. The batch decoder always verifies CRC-32C, so turning this
    /// off does not skip the check.
    pub check_crcs: bool,
    /// `group.id`: the consumer group for [`Consumer::subscribe`](super::Consumer::subscribe)
    /// and for committed offsets.
    pub group_id: Option<String>,
    /// `group.instance.id`: a static member id (KIP-345); a static member
    /// does not leave the group on close, so a quick restart keeps its partitions.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`: the coordinator drops a member it has not heard
    /// from for this long (default 45000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3000).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: longest gap between polls before the member
    /// leaves the group; also the rebalance timeout sent in JoinGroup (default 300000).
    pub max_poll_interval: Duration,
    /// `enable.auto.commit` (default true; only with a `group.id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5000).
    pub auto_commit_interval: Duration,
    /// `partition.assignment.strategy`, in preference order (default
    /// `range,cooperative-sticky` as in Kafka 3.x).
    pub assignment_strategies: Vec<AssignmentStrategy>,
    /// An assignor plugged in by code (not a property), e.g. Kafka Streams'.
    /// When set it is the only protocol offered (`assignment_strategies` is
    /// not used) and the eager rebalance protocol applies.
    pub custom_assignor: Option<Arc<dyn CustomAssignor>>,
}

impl ConsumerConfig {
    /// Defaults as in the Java consumer.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        ConsumerConfig {
            client: ClientConfig::new(bootstrap),
            auto_offset_reset: OffsetReset::Latest,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            group_id: None,
            group_instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
            assignment_strategies: vec![AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky],
            custom_assignor: None,
        }
    }

    /// Applies one Kafka consumer property. Unknown keys and bad values are
    /// errors that name the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        if self.client.set(key, value)? {
            return Ok(());
        }
        match key {
            "auto.offset.reset" => self.auto_offset_reset = value.parse()?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_num(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_num(key, value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = parse_num(key, value)?,
            "isolation.level" => self.isolation_level = value.parse()?,
            "check.crcs" => self.check_crcs = parse_bool(key, value)?,
            "group.id" => self.group_id = Some(value.to_string()).filter(|g| !g.is_empty()),
            "group.instance.id" => self.group_instance_id = Some(value.to_string()).filter(|g| !g.is_empty()),
            "session.timeout.ms" => self.session_timeout = parse_ms(key, value)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = parse_ms(key, value)?,
            "max.poll.interval.ms" => self.max_poll_interval = parse_ms(key, value)?,
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_ms(key, value)?,
            "partition.assignment.strategy" => self.assignment_strategies = AssignmentStrategy::parse_list(value)?,
            _ => return Err(ClientError::Config(format!("unknown consumer property '{key}'"))),
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        self.client.validate()?;
        check_duration("fetch.max.wait.ms", self.fetch_max_wait)?;
        if self.fetch_max_bytes < 1 || self.max_partition_fetch_bytes < 1 {
            return Err(ClientError::Config("fetch.max.bytes and max.partition.fetch.bytes must be positive".into()));
        }
        if self.fetch_min_bytes < 0 {
            return Err(ClientError::Config("fetch.min.bytes must not be negative".into()));
        }
        for (key, d) in [
            ("session.timeout.ms", self.session_timeout),
            ("heartbeat.interval.ms", self.heartbeat_interval),
            ("max.poll.interval.ms", self.max_poll_interval),
            ("auto.commit.interval.ms", self.auto_commit_interval),
        ] {
            check_duration(key, d)?;
            if d.is_zero() {
                return Err(ClientError::Config(format!("{key} must be positive")));
            }
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(ClientError::Config(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                self.heartbeat_interval.as_millis(),
                self.session_timeout.as_millis()
            )));
        }
        if self.assignment_strategies.is_empty() {
            return Err(ClientError::Config("partition.assignment.strategy must name at least one assignor".into()));
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return Err(ClientError::Config("group.instance.id needs a group.id".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_apply_and_unknown_keys_are_named() {
        let mut c = ConsumerConfig::new("localhost:9092");
        c.set("auto.offset.reset", "earliest").expect("reset");
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        c.set("fetch.max.wait.ms", "100").expect("wait");
        assert_eq!(c.fetch_max_wait, Duration::from_millis(100));
        c.set("isolation.level", "read_committed").expect("isolation");
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        let err = c.set("isolation.level", "read_some").expect_err("unknown level");
        assert!(err.to_string().contains("must be read_uncommitted or read_committed"), "{err}");
        c.set("isolation.level", "READ_UNCOMMITTED").expect("case-insensitive as in Kafka");
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        c.set("group.id", "g1").expect("group");
        assert_eq!(c.group_id.as_deref(), Some("g1"));
        c.set("enable.auto.commit", "false").expect("auto commit");
        let err = c.set("bogus", "1").expect_err("unknown");
        assert!(err.to_string().contains("bogus"), "{err}");
        assert!(c.set("auto.offset.reset", "sometimes").is_err());
    }

    #[test]
    fn group_properties_have_kafka_defaults_and_are_checked() {
        let mut c = ConsumerConfig::new("localhost:9092");
        assert_eq!(c.session_timeout, Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_poll_interval, Duration::from_secs(300));
        assert_eq!(c.auto_commit_interval, Duration::from_secs(5));
        assert_eq!(c.assignment_strategies, vec![AssignmentStrategy::Range, AssignmentStrategy::CooperativeSticky]);
        c.set("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RoundRobinAssignor")
            .expect("java class name");
        assert_eq!(c.assignment_strategies, vec![AssignmentStrategy::RoundRobin]);
        let err = c.set("partition.assignment.strategy", "magic").expect_err("unknown assignor");
        assert!(err.to_string().contains("partition.assignment.strategy"), "{err}");
        c.set("group.instance.id", "host-1").expect("instance");
        assert!(c.validate().is_err(), "a static member needs a group");
        c.set("group.id", "g").expect("group");
        c.validate().expect("valid");
        c.set("session.timeout.ms", "6000").expect("session");
        c.set("heartbeat.interval.ms", "6000").expect("heartbeat");
        let err = c.validate().expect_err("heartbeat must be below the session timeout");
        assert!(err.to_string().contains("heartbeat.interval.ms"), "{err}");
        assert!(c.set("auto.commit.interval.ms", "soon").is_err());
    }
}
