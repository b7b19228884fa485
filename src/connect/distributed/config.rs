//! The distributed worker's keys, validated before anything connects:
//! Kafka's names and defaults for the group (`group.id`,
//! `heartbeat.interval.ms`, `session.timeout.ms`, `rebalance.timeout.ms`),
//! the three internal topics and their partitions and replication
//! factors, and the REST listener the worker advertises as its id
//! (`listeners`, `rest.advertised.*`, read by [`RestConfig`]).

use std::time::Duration;

use super::super::api::{int, required};
use super::super::rest::RestConfig;
use super::super::worker::WorkerConfig;
use super::super::{Config, ConnectError, Result};

/// One internal topic: its name, partitions and replication factor
/// (-1 = the broker's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
}

/// A validated distributed worker config.
#[derive(Debug, Clone)]
pub struct DistributedConfig {
    pub worker: WorkerConfig,
    pub group_id: String,
    pub config_topic: InternalTopic,
    pub offset_topic: InternalTopic,
    pub status_topic: InternalTopic,
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// `listeners` (port 0 allowed) and `rest.advertised.host.name` / `port`.
    pub rest: RestConfig,
}

fn positive_ms(props: &Config, key: &str, default: i64) -> Result<Duration> {
    let v = int(props, key, default)?;
    if v < 1 {
        return Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: Value must be at least 1"
        )));
    }
    Ok(Duration::from_millis(v as u64))
}

/// A partition count or replication factor: at least 1, or -1 for the broker's default.
fn count(props: &Config, key: &str, default: i64) -> Result<i64> {
    let v = int(props, key, default)?;
    if v < 1 && v != -1 {
        return Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: must be at least 1 or -1 to use the broker's default"
        )));
    }
    Ok(v)
}

fn topic_name(props: &Config, key: &str) -> Result<String> {
    let name = required(props, key)?.trim().to_string();
    if name.is_empty() {
        return Err(ConnectError::Config(format!("Invalid value for configuration {key}: must not be empty")));
    }
    Ok(name)
}

impl DistributedConfig {
    pub fn from_props(props: Config) -> Result<DistributedConfig> {
        let group_id = required(&props, "group.id")?.trim().to_string();
        if group_id.is_empty() {
            return Err(ConnectError::Config("Invalid value for configuration group.id: must not be empty".into()));
        }
        let config_name = topic_name(&props, "config.storage.topic")?;
        let offset_name = topic_name(&props, "offset.storage.topic")?;
        let status_name = topic_name(&props, "status.storage.topic")?;
        if config_name == offset_name || config_name == status_name || offset_name == status_name {
            return Err(ConnectError::Config(format!(
                "config.storage.topic ({config_name}), offset.storage.topic ({offset_name}) and status.storage.topic \
                 ({status_name}) must be three different topics"
            )));
        }
        let rf = |key: &str| -> Result<i16> {
            let v = count(&props, key, 3)?;
            i16::try_from(v).map_err(|_| {
                ConnectError::Config(format!("Invalid value {v} for configuration {key}: Value must be at most 32767"))
            })
        };
        let partitions = |key: &str, default: i64| -> Result<i32> {
            let v = count(&props, key, default)?;
            i32::try_from(v).map_err(|_| ConnectError::Config(format!("Invalid value {v} for configuration {key}")))
        };
        let config_topic = InternalTopic {
            name: config_name,
            partitions: 1,
            replication_factor: rf("config.storage.replication.factor")?,
        };
        let offset_topic = InternalTopic {
            name: offset_name,
            partitions: partitions("offset.storage.partitions", 25)?,
            replication_factor: rf("offset.storage.replication.factor")?,
        };
        let status_topic = InternalTopic {
            name: status_name,
            partitions: partitions("status.storage.partitions", 5)?,
            replication_factor: rf("status.storage.replication.factor")?,
        };
        let heartbeat_interval = positive_ms(&props, "heartbeat.interval.ms", 3_000)?;
        let session_timeout = positive_ms(&props, "session.timeout.ms", 10_000)?;
        let rebalance_timeout = positive_ms(&props, "rebalance.timeout.ms", 60_000)?;
        if heartbeat_interval >= session_timeout {
            return Err(ConnectError::Config(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                heartbeat_interval.as_millis(),
                session_timeout.as_millis()
            )));
        }
        // Accepted for compatibility: rebalancing here is eager (see the module docs).
        int(&props, "scheduled.rebalance.max.delay.ms", 300_000)?;
        if let Some(p) = props.get("connect.protocol") {
            if !matches!(p.trim(), "eager" | "compatible" | "sessioned") {
                return Err(ConnectError::Config(format!(
                    "Invalid value {p} for configuration connect.protocol: String must be one of: eager, compatible, \
                     sessioned"
                )));
            }
        }
        let rest = RestConfig::from_props(&props).map_err(|e| ConnectError::Config(e.to_string()))?;
        let worker = WorkerConfig::from_props(props)?;
        Ok(DistributedConfig {
            worker,
            group_id,
            config_topic,
            offset_topic,
            status_topic,
            heartbeat_interval,
            session_timeout,
            rebalance_timeout,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(extra: &[(&str, &str)]) -> Config {
        let mut p: Config = [
            ("bootstrap.servers", "localhost:9092"),
            ("group.id", "connect-cluster"),
            ("config.storage.topic", "connect-configs"),
            ("offset.storage.topic", "connect-offsets"),
            ("status.storage.topic", "connect-status"),
            ("key.converter", "org.apache.kafka.connect.json.JsonConverter"),
            ("value.converter", "org.apache.kafka.connect.json.JsonConverter"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            p.insert(k.to_string(), v.to_string());
        }
        p
    }

    #[test]
    fn kafkas_defaults_apply() {
        let c = DistributedConfig::from_props(props(&[])).expect("valid");
        assert_eq!(c.config_topic.partitions, 1);
        assert_eq!(c.offset_topic.partitions, 25);
        assert_eq!(c.status_topic.partitions, 5);
        assert_eq!(c.offset_topic.replication_factor, 3);
        assert_eq!(c.session_timeout, Duration::from_millis(10_000));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(3_000));
        assert_eq!(c.rebalance_timeout, Duration::from_millis(60_000));
        assert_eq!(c.rest.listeners, vec![("127.0.0.1".to_string(), 8083)]);
    }

    #[test]
    fn required_keys_are_named() {
        for key in
            ["group.id", "config.storage.topic", "offset.storage.topic", "status.storage.topic", "bootstrap.servers"]
        {
            let mut p = props(&[]);
            p.remove(key);
            let err = DistributedConfig::from_props(p).expect_err("missing key").to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("config.storage.replication.factor", "0"),
            ("offset.storage.partitions", "x"),
            ("session.timeout.ms", "-5"),
            ("listeners", "https://nowhere"),
            ("rest.advertised.port", "99999"),
        ] {
            let err = DistributedConfig::from_props(props(&[(key, value)])).expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
        let c = DistributedConfig::from_props(props(&[("status.storage.replication.factor", "-1")])).expect("-1");
        assert_eq!(c.status_topic.replication_factor, -1);
    }
}
