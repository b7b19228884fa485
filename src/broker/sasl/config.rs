//! The broker's SASL settings, read once at start from the broker config: per SASL
//! listener the enabled mechanisms, the PLAIN user table and the re-authentication
//! interval; and the broker's own login for inter-broker traffic.
//!
//! Kafka's key names: `sasl.enabled.mechanisms` (per listener
//! `listener.name.<l>.sasl.enabled.mechanisms`), the PLAIN users as `user_<name>="pw"`
//! options of `listener.name.<l>.plain.sasl.jaas.config` (an unprefixed `sasl.jaas.config`
//! is accepted with a warning), `connections.max.reauth.ms` (also listener-prefixed),
//! `sasl.server.max.receive.size`, `sasl.mechanism.inter.broker.protocol`. Errors name the
//! key to fix and never echo a JAAS value.

use std::collections::{BTreeMap, HashMap};

use crate::config::{BrokerConfig, SecurityProtocol};
use crate::security::jaas::{JaasConfig, JaasError};
pub use crate::security::mechanism::SaslMechanism;
use crate::security::password::Password;
#[cfg(test)]
use crate::security::scram::ScramMechanism;

/// What a broker needs to authenticate clients on one SASL listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSasl {
    pub mechanisms: Vec<SaslMechanism>,
    /// PLAIN's user table (empty when PLAIN is not enabled).
    pub plain_users: BTreeMap<String, Password>,
    /// `connections.max.reauth.ms`; 0 = sessions never expire.
    pub reauth_ms: u64,
}

impl ListenerSasl {
    pub fn enabled(&self, mechanism: SaslMechanism) -> bool {
        self.mechanisms.contains(&mechanism)
    }

    pub fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }
}

/// The SASL settings of every SASL listener (by upper-case listener name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslSettings {
    pub listeners: HashMap<String, ListenerSasl>,
    /// `sasl.server.max.receive.size`: the largest frame read before authentication.
    pub max_receive_size: usize,
}

/// A SASL setting the broker cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslConfigError {
    #[error(
        "{key}: SASL mechanism {mechanism} is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); \
         set {key} for listener {listener}"
    )]
    Unsupported { key: String, mechanism: String, listener: String },
    #[error("{key}: no SASL mechanism is enabled for listener {listener}")]
    NoMechanisms { key: String, listener: String },
    #[error("{key}: {source}")]
    Jaas { key: String, source: JaasError },
    #[error("{key}: the login module must be {expected} for {mechanism}")]
    WrongLoginModule { key: String, expected: &'static str, mechanism: &'static str },
    #[error(
        "PLAIN is enabled on listener {listener} but no users are configured: set {key} with \
         user_<name>=\"<password>\" options"
    )]
    NoPlainUsers { key: String, listener: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn prefix(listener: &str) -> String {
    format!("listener.name.{}.", listener.to_ascii_lowercase())
}

/// The given value of `key` for a listener: the listener-prefixed key first, then the plain key.
fn listener_value(config: &BrokerConfig, listener: &str, key: &str) -> Option<(String, String)> {
    let prefixed = format!("{}{key}", prefix(listener));
    if let Some(v) = config.raw().get(&prefixed) {
        return Some((prefixed, v.to_string()));
    }
    config.value_of(key).map(|v| (key.to_string(), v))
}

/// Reads the SASL settings of every SASL listener; also returns warnings to log.
pub fn build(config: &BrokerConfig) -> Result<(SaslSettings, Vec<String>), SaslConfigError> {
    let mut settings = SaslSettings::default();
    let mut warnings = Vec::new();
    let max = config.value_of("sasl.server.max.receive.size").and_then(|v| v.parse::<usize>().ok());
    settings.max_receive_size = max.unwrap_or(524_288).max(64);
    for listener in &config.listeners {
        let protocol = config.security_protocol(&listener.name);
        if !matches!(protocol, Some(SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)) {
            continue;
        }
        let (key, value) = listener_value(config, &listener.name, "sasl.enabled.mechanisms")
            .unwrap_or_else(|| ("sasl.enabled.mechanisms".into(), String::new()));
        let mut mechanisms = Vec::new();
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(m) = SaslMechanism::from_name(name) else {
                return Err(SaslConfigError::Unsupported {
                    key,
                    mechanism: name.to_string(),
                    listener: listener.name.clone(),
                });
            };
            if !mechanisms.contains(&m) {
                mechanisms.push(m);
            }
        }
        if mechanisms.is_empty() {
            return Err(SaslConfigError::NoMechanisms { key, listener: listener.name.clone() });
        }
        let mut plain_users = BTreeMap::new();
        if mechanisms.contains(&SaslMechanism::Plain) {
            let jaas_key = format!("{}plain.sasl.jaas.config", prefix(&listener.name));
            let (key, text) = match config.raw().get(&jaas_key) {
                Some(v) => (jaas_key.clone(), v.to_string()),
                None => match config.raw().get("sasl.jaas.config") {
                    Some(v) => {
                        warnings.push(format!(
                            "sasl.jaas.config without a listener prefix is used for listener {}; Kafka brokers \
                             ignore it — use {jaas_key}",
                            listener.name
                        ));
                        ("sasl.jaas.config".to_string(), v.to_string())
                    }
                    None => {
                        return Err(SaslConfigError::NoPlainUsers { key: jaas_key, listener: listener.name.clone() })
                    }
                },
            };
            let jaas = parse_jaas(&key, &text, SaslMechanism::Plain)?;
            plain_users = jaas.plain_users();
            if plain_users.is_empty() {
                return Err(SaslConfigError::NoPlainUsers { key, listener: listener.name.clone() });
            }
            if protocol == Some(SecurityProtocol::SaslPlaintext) {
                warnings.push(format!(
                    "SASL/PLAIN is enabled on SASL_PLAINTEXT listener {}: passwords cross the network in clear text",
                    listener.name
                ));
            }
        }
        let reauth_ms = match listener_value(config, &listener.name, "connections.max.reauth.ms") {
            Some((key, v)) => v.trim().parse::<u64>().map_err(|_| SaslConfigError::Invalid {
                key,
                reason: "must be a non-negative number of milliseconds".into(),
            })?,
            None => 0,
        };
        settings.listeners.insert(listener.name.clone(), ListenerSasl { mechanisms, plain_users, reauth_ms });
    }
    Ok((settings, warnings))
}

fn parse_jaas(key: &str, text: &str, mechanism: SaslMechanism) -> Result<JaasConfig, SaslConfigError> {
    let jaas = JaasConfig::parse(text).map_err(|source| SaslConfigError::Jaas { key: key.to_string(), source })?;
    let expected = mechanism.login_module();
    let simple = expected.rsplit('.').next().unwrap_or(expected);
    if jaas.login_module != expected && jaas.module_simple_name() != simple {
        return Err(SaslConfigError::WrongLoginModule { key: key.to_string(), expected, mechanism: mechanism.name() });
    }
    Ok(jaas)
}

/// The broker's own SASL login towards other brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterBrokerLogin {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Password,
}

/// The inter-broker login, when the inter-broker listener is SASL_*:
/// `sasl.mechanism.inter.broker.protocol` and the `username`/`password` options of
/// `listener.name.<l>.<mechanism lower>.sasl.jaas.config` (else `sasl.jaas.config`).
pub fn inter_broker_login(config: &BrokerConfig) -> Result<Option<InterBrokerLogin>, SaslConfigError> {
    let listener = &config.inter_broker_listener_name;
    if !matches!(config.security_protocol(listener), Some(SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl))
    {
        return Ok(None);
    }
    let key = "sasl.mechanism.inter.broker.protocol";
    let name = config.value_of(key).unwrap_or_else(|| "GSSAPI".into());
    let Some(mechanism) = SaslMechanism::from_name(name.trim()) else {
        return Err(SaslConfigError::Unsupported { key: key.into(), mechanism: name, listener: listener.clone() });
    };
    let jaas_key = format!("{}{}.sasl.jaas.config", prefix(listener), mechanism.name().to_ascii_lowercase());
    let (key, text) = match config.raw().get(&jaas_key) {
        Some(v) => (jaas_key, v.to_string()),
        None => match config.raw().get("sasl.jaas.config") {
            Some(v) => ("sasl.jaas.config".to_string(), v.to_string()),
            None => {
                return Err(SaslConfigError::Invalid {
                    key: jaas_key,
                    reason: format!(
                        "the broker's inter-broker login is missing: give username=\"…\" password=\"…\" for {}",
                        mechanism.name()
                    ),
                });
            }
        },
    };
    let jaas = parse_jaas(&key, &text, mechanism)?;
    let username = jaas.option("username").map(|p| p.expose().to_string()).unwrap_or_default();
    let password = jaas.option("password").cloned().unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return Err(SaslConfigError::Invalid {
            key,
            reason: "the inter-broker login needs the username and password options".into(),
        });
    }
    Ok(Some(InterBrokerLogin { mechanism, username, password }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn config(text: &str) -> BrokerConfig {
        BrokerConfig::from_raw(RawConfig::parse_str(text).unwrap()).unwrap().0
    }

    const BASE: &str =
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\nzookeeper.connect=127.0.0.1:2181\n";

    #[test]
    fn reads_mechanisms_users_and_reauth() {
        let cfg = config(&format!(
            "{BASE}sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\nconnections.max.reauth.ms=2000\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";\n"
        ));
        let (settings, warnings) = build(&cfg).unwrap();
        let l = &settings.listeners["SASL_PLAINTEXT"];
        assert_eq!(l.mechanisms, vec![SaslMechanism::Plain, SaslMechanism::Scram(ScramMechanism::Sha512)]);
        assert_eq!(l.plain_users["alice"].expose(), "alice-secret");
        assert_eq!(l.reauth_ms, 2000);
        assert_eq!(settings.max_receive_size, 524_288);
        assert!(!settings.listeners.contains_key("PLAINTEXT"));
        assert!(warnings.iter().any(|w| w.contains("clear text")));
    }

    #[test]
    fn startup_errors_name_the_key() {
        let err = build(&config(BASE)).unwrap_err().to_string();
        assert!(err.contains("sasl.enabled.mechanisms") && err.contains("GSSAPI"), "{err}");
        let err = build(&config(&format!("{BASE}listener.name.sasl_plaintext.sasl.enabled.mechanisms=OAUTHBEARER\n")))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("listener.name.sasl_plaintext.sasl.enabled.mechanisms"), "{err}");
        let err = build(&config(&format!("{BASE}sasl.enabled.mechanisms=PLAIN\n"))).unwrap_err().to_string();
        assert!(err.contains("listener.name.sasl_plaintext.plain.sasl.jaas.config"), "{err}");
        let err = build(&config(&format!(
            "{BASE}sasl.enabled.mechanisms=PLAIN\nlistener.name.sasl_plaintext.plain.sasl.jaas.config=x.ScramLoginModule required user_a=\"s3cret\";\n"
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("PlainLoginModule") && !err.contains("s3cret"), "{err}");
        // SCRAM needs no JAAS on the broker side (credentials live in ZooKeeper).
        assert!(build(&config(&format!("{BASE}sasl.enabled.mechanisms=SCRAM-SHA-256\n"))).is_ok());
    }

    #[test]
    fn inter_broker_login_from_the_prefixed_jaas() {
        let cfg = config(
            "listeners=SASL_PLAINTEXT://127.0.0.1:0\nzookeeper.connect=127.0.0.1:2181\n\
             security.inter.broker.protocol=SASL_PLAINTEXT\nsasl.enabled.mechanisms=SCRAM-SHA-512\n\
             sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n\
             listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";\n",
        );
        let login = inter_broker_login(&cfg).unwrap().unwrap();
        assert_eq!(login.mechanism, SaslMechanism::Scram(ScramMechanism::Sha512));
        assert_eq!(login.username, "admin");
        assert_eq!(login.password.expose(), "admin-secret");
        assert_eq!(inter_broker_login(&config(BASE)).unwrap(), None);
    }
}
