//! Consumer settings with the Java client's property names and defaults.

use std::str::FromStr;
use std::time::Duration;

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
    /// `isolation.level`: 0 read_uncommitted (default), 1 read_committed.
    pub isolation_level: i8,
    /// `check.crcs`. The batch decoder always verifies CRC-32C, so turning this
    /// off does not skip the check.
    pub check_crcs: bool,
    /// `group.id`, stored for group support to come.
    pub group_id: Option<String>,
    /// `enable.auto.commit`, stored for group support to come.
    pub enable_auto_commit: bool,
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
            isolation_level: 0,
            check_crcs: true,
            group_id: None,
            enable_auto_commit: true,
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
            "isolation.level" => {
                self.isolation_level = match value.trim().to_ascii_lowercase().as_str() {
                    "read_uncommitted" | "0" => 0,
                    "read_committed" | "1" => 1,
                    _ => {
                        return Err(ClientError::Config(format!(
                            "isolation.level: '{value}' must be read_uncommitted or read_committed"
                        )))
                    }
                }
            }
            "check.crcs" => self.check_crcs = parse_bool(key, value)?,
            "group.id" => self.group_id = Some(value.to_string()).filter(|g| !g.is_empty()),
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
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
        assert_eq!(c.isolation_level, 1);
        c.set("group.id", "g1").expect("group");
        assert_eq!(c.group_id.as_deref(), Some("g1"));
        c.set("enable.auto.commit", "false").expect("auto commit");
        let err = c.set("bogus", "1").expect_err("unknown");
        assert!(err.to_string().contains("bogus"), "{err}");
        assert!(c.set("auto.offset.reset", "sometimes").is_err());
    }
}
