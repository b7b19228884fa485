//! Settings shared by every client ([`ClientConfig`]) and the parsing of
//! Kafka-style property values used by the producer and consumer configs.

use std::time::Duration;

use super::ClientError;

/// Connection settings common to [`Admin`](super::Admin),
/// [`Producer`](super::Producer) and [`Consumer`](super::Consumer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Comma-separated `host:port` list used to discover the cluster.
    pub bootstrap_servers: String,
    /// Sent with every request; shows up in broker logs.
    pub client_id: String,
    /// How long to wait for any single response (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Cached metadata older than this is refreshed (`metadata.max.age.ms`).
    pub metadata_max_age: Duration,
    /// Pause before retrying a failed request (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// `security.protocol`: PLAINTEXT (the default), SSL, SASL_PLAINTEXT or SASL_SSL.
    pub security_protocol: crate::config::SecurityProtocol,
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`); unset means Kafka's GSSAPI.
    pub sasl_mechanism: Option<String>,
    /// `sasl.jaas.config`: `…PlainLoginModule required username="…" password="…";`.
    pub sasl_jaas_config: Option<crate::security::password::Password>,
    /// librdkafka's `sasl.username` / `sasl.password`, when no JAAS line is given.
    pub sasl_username: Option<String>,
    pub sasl_password: Option<crate::security::password::Password>,
    /// The `ssl.*` keys (Java client names, and librdkafka's `ssl.ca.location`,
    /// `ssl.certificate.location`, `ssl.key.location`); used for SSL and SASL_SSL.
    pub ssl: crate::config::security::ClientTlsKeys,
}

impl ClientConfig {
    /// Defaults as in the Java client, with client id `gregor`.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: "gregor".to_string(),
            request_timeout: Duration::from_secs(30),
            metadata_max_age: Duration::from_secs(300),
            retry_backoff: Duration::from_millis(100),
            security_protocol: crate::config::SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_jaas_config: None,
            sasl_username: None,
            sasl_password: None,
            ssl: Default::default(),
        }
    }

    /// Applies one of the shared keys; `Ok(false)` when the key is not one of them.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, ClientError> {
        match key {
            "bootstrap.servers" => self.bootstrap_servers = value.to_string(),
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "security.protocol" => {
                self.security_protocol = crate::config::SecurityProtocol::from_name(value).ok_or_else(|| {
                    ClientError::Config(format!(
                        "Invalid value {value} for configuration security.protocol: \
                         String must be one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                    ))
                })?
            }
            "sasl.mechanism" | "sasl.mechanisms" => self.sasl_mechanism = Some(value.trim().to_string()),
            "sasl.jaas.config" => self.sasl_jaas_config = Some(value.into()),
            "sasl.username" => self.sasl_username = Some(value.to_string()),
            "sasl.password" => self.sasl_password = Some(value.into()),
            _ if key.starts_with("ssl.") => return Ok(self.ssl.set(key, value)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the bootstrap list and durations.
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        self.bootstrap_addresses()?;
        check_duration("request.timeout.ms", self.request_timeout)?;
        check_duration("metadata.max.age.ms", self.metadata_max_age)?;
        check_duration("retry.backoff.ms", self.retry_backoff)?;
        if self.request_timeout.is_zero() {
            return Err(ClientError::Config("request.timeout.ms must be positive".into()));
        }
        Ok(())
    }

    /// The bootstrap list as `host:port` strings, checked for shape.
    pub(crate) fn bootstrap_addresses(&self) -> Result<Vec<String>, ClientError> {
        let mut out = Vec::new();
        for raw in self.bootstrap_servers.split(',') {
            let addr = raw.trim();
            if addr.is_empty() {
                continue;
            }
            // Tolerate a listener-style prefix such as PLAINTEXT://host:port.
            let addr = addr.rsplit("://").next().unwrap_or(addr);
            let Some((host, port)) = addr.rsplit_once(':') else {
                return Err(ClientError::Config(format!(
                    "bootstrap.servers entry '{addr}' must be host:port (e.g. localhost:9092)"
                )));
            };
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(ClientError::Config(format!(
                    "bootstrap.servers entry '{addr}' must be host:port with a port from 1 to 65535"
                )));
            }
            out.push(addr.to_string());
        }
        if out.is_empty() {
            return Err(ClientError::Config("bootstrap.servers is empty; give at least one host:port".into()));
        }
        Ok(out)
    }
}

/// Longest duration accepted, as in the Java client (an `int` of milliseconds):
/// keeps deadline arithmetic far from overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// Checks a duration setting against [`MAX_DURATION`].
pub(crate) fn check_duration(key: &str, value: Duration) -> Result<(), ClientError> {
    if value > MAX_DURATION {
        return Err(ClientError::Config(format!("{key} must be at most {} ms", MAX_DURATION.as_millis())));
    }
    Ok(())
}

/// A millisecond property value.
pub(crate) fn parse_ms(key: &str, value: &str) -> Result<Duration, ClientError> {
    let ms: u64 = parse_num(key, value)?;
    let d = Duration::from_millis(ms);
    check_duration(key, d)?;
    Ok(d)
}

/// A numeric property value.
pub(crate) fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ClientError> {
    value.trim().parse().map_err(|_| ClientError::Config(format!("{key}: '{value}' is not a valid number")))
}

/// A boolean property value (`true`/`false`).
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ClientError::Config(format!("{key}: '{value}' must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_list_is_parsed_and_checked() {
        let c = ClientConfig::new(" a:1, PLAINTEXT://b:9092 ,");
        assert_eq!(c.bootstrap_addresses().expect("valid"), vec!["a:1".to_string(), "b:9092".to_string()]);
        assert!(ClientConfig::new("").bootstrap_addresses().is_err());
        assert!(ClientConfig::new("nohost").bootstrap_addresses().is_err());
        assert!(ClientConfig::new("h:99999").bootstrap_addresses().is_err());
        assert!(ClientConfig::new("[::1]:9092").bootstrap_addresses().is_ok());
    }
}
