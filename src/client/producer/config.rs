//! Producer settings with the Java client's property names and defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::client::config::{check_duration, parse_bool, parse_ms, parse_num};
use crate::client::{ClientConfig, ClientError};

/// How many acknowledgements the leader must have before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acks {
    /// `acks=0`: no answer at all; offsets are reported as -1.
    None,
    /// `acks=1`: the leader has written the records.
    Leader,
    /// `acks=all` (-1): every in-sync replica has them.
    All,
}

impl Acks {
    /// The wire value.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl FromStr for Acks {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "-1" | "all" => Ok(Acks::All),
            _ => Err(ClientError::Config(format!("acks: '{s}' must be 0, 1, -1 or all"))),
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// Codec for record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub(crate) fn codec(self) -> kafka_protocol::records::Compression {
        use kafka_protocol::records::Compression as C;
        match self {
            Compression::None => C::None,
            Compression::Gzip => C::Gzip,
            Compression::Snappy => C::Snappy,
            Compression::Lz4 => C::Lz4,
            Compression::Zstd => C::Zstd,
        }
    }
}

impl FromStr for Compression {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(ClientError::Config(format!(
                "compression.type: '{s}' must be one of none, gzip, snappy, lz4, zstd"
            ))),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        })
    }
}

/// Producer settings. Start from [`ProducerConfig::new`] and change fields or
/// apply Kafka property names with [`ProducerConfig::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    pub client: ClientConfig,
    /// `acks` (default all).
    pub acks: Acks,
    /// `linger.ms`: how long a batch waits for more records (default 5 ms).
    pub linger: Duration,
    /// `batch.size`: bytes per partition batch before it is sent (default 16384).
    pub batch_size: usize,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `retries`: attempts after the first for retriable errors (default i32::MAX;
    /// `delivery.timeout.ms` is the real bound).
    pub retries: u32,
    /// `delivery.timeout.ms`: upper bound from `send` to success or failure (default 120 s).
    pub delivery_timeout: Duration,
    /// `max.in.flight.requests.per.connection` (default 5; at most 5 with idempotence).
    pub max_in_flight: usize,
    /// `enable.idempotence` (default true). Takes effect only with `acks=all`;
    /// setting `acks` to 0 or 1 through [`ProducerConfig::set`] turns it off
    /// unless it was set explicitly, as in the Java client.
    pub idempotence: bool,
    /// `buffer.memory`: bytes of records waiting to be sent before `send` waits (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.request.size`: largest record (and produce request) accepted (default 1 MiB).
    pub max_request_size: usize,
    /// `max.block.ms`: how long `send` waits for a topic's metadata (default 60 s).
    pub max_block: Duration,
    /// `transactional.id` (default none): makes the producer transactional
    /// (and idempotent); instances with the same id fence each other.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction
    /// stay open before aborting it (default 60000).
    pub transaction_timeout: Duration,
    idempotence_explicit: bool,
}

impl ProducerConfig {
    /// Defaults as in the Java 3.x producer.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        ProducerConfig {
            client: ClientConfig::new(bootstrap),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            compression: Compression::None,
            retries: i32::MAX as u32,
            delivery_timeout: Duration::from_secs(120),
            max_in_flight: 5,
            idempotence: true,
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
            max_block: Duration::from_secs(60),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            idempotence_explicit: false,
        }
    }

    /// Applies one Kafka producer property. Unknown keys and bad values are
    /// errors that name the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        if self.client.set(key, value)? {
            return Ok(());
        }
        match key {
            "acks" => {
                self.acks = value.parse()?;
                if self.acks != Acks::All && !self.idempotence_explicit {
                    self.idempotence = false;
                }
            }
            "linger.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_num(key, value)?,
            "compression.type" | "compression.codec" => self.compression = value.parse()?,
            "retries" => self.retries = parse_num(key, value)?,
            "delivery.timeout.ms" => self.delivery_timeout = parse_ms(key, value)?,
            "max.in.flight.requests.per.connection" => self.max_in_flight = parse_num(key, value)?,
            "enable.idempotence" => {
                self.idempotence = parse_bool(key, value)?;
                self.idempotence_explicit = true;
            }
            "buffer.memory" => self.buffer_memory = parse_num(key, value)?,
            "max.request.size" => self.max_request_size = parse_num(key, value)?,
            "max.block.ms" => self.max_block = parse_ms(key, value)?,
            "transactional.id" => self.transactional_id = Some(value.to_string()).filter(|t| !t.is_empty()),
            "transaction.timeout.ms" => self.transaction_timeout = parse_ms(key, value)?,
            _ => return Err(ClientError::Config(format!("unknown producer property '{key}'"))),
        }
        Ok(())
    }

    /// Whether the idempotent producer is in effect.
    pub(crate) fn effective_idempotence(&self) -> bool {
        self.idempotence && self.acks == Acks::All
    }

    /// Checks values that cannot work together.
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        self.client.validate()?;
        check_duration("linger.ms", self.linger)?;
        check_duration("delivery.timeout.ms", self.delivery_timeout)?;
        check_duration("max.block.ms", self.max_block)?;
        check_duration("transaction.timeout.ms", self.transaction_timeout)?;
        if self.transactional_id.is_some() {
            // As the Java producer: a transactional producer is an idempotent one.
            if self.acks != Acks::All {
                return Err(ClientError::Config(format!(
                    "transactional.id requires acks=all (acks is {}): a transactional producer is idempotent",
                    self.acks
                )));
            }
            if !self.idempotence {
                return Err(ClientError::Config(
                    "Cannot set a transactional.id without also enabling idempotence (enable.idempotence is false)"
                        .into(),
                ));
            }
            if self.transaction_timeout.is_zero() {
                return Err(ClientError::Config("transaction.timeout.ms must be positive".into()));
            }
        }
        if self.max_in_flight == 0 {
            return Err(ClientError::Config("max.in.flight.requests.per.connection must be at least 1".into()));
        }
        if self.effective_idempotence() && self.max_in_flight > 5 {
            return Err(ClientError::Config(
                "max.in.flight.requests.per.connection must be at most 5 with enable.idempotence=true".into(),
            ));
        }
        if self.idempotence && self.idempotence_explicit && self.acks != Acks::All {
            return Err(ClientError::Config("enable.idempotence=true requires acks=all".into()));
        }
        if self.batch_size == 0 {
            return Err(ClientError::Config("batch.size must be at least 1".into()));
        }
        if self.buffer_memory < 1024 {
            return Err(ClientError::Config("buffer.memory must be at least 1024 bytes".into()));
        }
        if self.max_request_size < 1024 {
            return Err(ClientError::Config("max.request.size must be at least 1024 bytes".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_apply_and_unknown_keys_are_named() {
        let mut c = ProducerConfig::new("localhost:9092");
        assert!(c.effective_idempotence());
        c.set("acks", "1").expect("acks");
        assert_eq!(c.acks, Acks::Leader);
        assert!(!c.effective_idempotence(), "acks=1 turns default idempotence off");
        c.set("linger.ms", "20").expect("linger");
        assert_eq!(c.linger, Duration::from_millis(20));
        c.set("compression.type", "zstd").expect("codec");
        assert_eq!(c.compression, Compression::Zstd);
        c.set("client.id", "me").expect("client.id");
        assert_eq!(c.client.client_id, "me");
        let err = c.set("no.such.key", "1").expect_err("unknown");
        assert!(err.to_string().contains("no.such.key"), "{err}");
        let err = c.set("batch.size", "big").expect_err("bad value");
        assert!(err.to_string().contains("batch.size"), "{err}");
        c.set("enable.idempotence", "true").expect("idempotence");
        assert!(c.validate().is_err(), "explicit idempotence with acks=1");
        assert_eq!("all".parse::<Acks>().expect("all"), Acks::All);
        assert_eq!("-1".parse::<Acks>().expect("-1"), Acks::All);
        assert_eq!("0".parse::<Acks>().expect("0"), Acks::None);
        assert!("2".parse::<Acks>().is_err());
    }

    #[test]
    fn transactional_id_implies_idempotence_and_acks_all() {
        let mut c = ProducerConfig::new("localhost:9092");
        assert_eq!(c.transaction_timeout, Duration::from_secs(60));
        c.set("transactional.id", "orders-tx").expect("transactional.id");
        c.set("transaction.timeout.ms", "15000").expect("timeout");
        assert_eq!(c.transactional_id.as_deref(), Some("orders-tx"));
        assert_eq!(c.transaction_timeout, Duration::from_secs(15));
        c.validate().expect("valid");
        assert!(c.effective_idempotence());

        let mut off = c.clone();
        off.set("enable.idempotence", "false").expect("set");
        let err = off.validate().expect_err("no idempotence");
        assert!(err.to_string().contains("transactional.id"), "{err}");

        let mut acks = c.clone();
        acks.set("acks", "1").expect("set");
        let err = acks.validate().expect_err("acks=1");
        assert!(err.to_string().contains("acks=all"), "{err}");

        let mut zero = c;
        zero.set("transaction.timeout.ms", "0").expect("set");
        assert!(zero.validate().is_err());
        assert!(zero.set("transaction.timeout.ms", "soon").is_err());
    }
}
