//! The client side of SASL: the login read from `sasl.mechanism` + `sasl.jaas.config` (or
//! librdkafka's `sasl.username`/`sasl.password`), and the exchange run on a fresh
//! connection right after ApiVersions — SaslHandshake v1, then SaslAuthenticate rounds
//! (PLAIN: one; SCRAM: client-first, client-final, and the broker's signature checked).
//!
//! An authentication failure (SASL_AUTHENTICATION_FAILED, 58) is a Kafka error that is not
//! retriable: the pool reports it instead of reconnecting. The password is only in
//! [`Password`] and never in an error or `Debug` output.

use std::time::Duration;

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::connection::Connection;
use super::ClientError;
use crate::security::jaas::JaasConfig;
use crate::security::mechanism::SaslMechanism;
use crate::security::password::Password;
use crate::security::plain;
use crate::security::scram::ScramClient;

/// Who the client authenticates as, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslLogin {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Password,
}

impl SaslLogin {
    /// Builds the login from the client keys (for a SASL_* `security.protocol`).
    /// `mechanism` is `sasl.mechanism` (Kafka's default GSSAPI is not supported), `jaas`
    /// is `sasl.jaas.config`, `username`/`password` librdkafka's `sasl.username`/`sasl.password`.
    pub fn from_settings(
        mechanism: Option<&str>,
        jaas: Option<&Password>,
        username: Option<&str>,
        password: Option<&Password>,
    ) -> Result<SaslLogin, ClientError> {
        let name = mechanism.map(str::trim).unwrap_or("GSSAPI");
        let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
            ClientError::Config(format!(
                "sasl.mechanism={name} is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
            ))
        })?;
        let (mut user, mut pass) = (username.map(str::to_string), password.cloned());
        if let Some(jaas) = jaas {
            let cfg =
                JaasConfig::parse(jaas.expose()).map_err(|e| ClientError::Config(format!("sasl.jaas.config: {e}")))?;
            let expected = mechanism.login_module();
            let simple = expected.rsplit('.').next().unwrap_or(expected);
            if cfg.module_simple_name() != simple {
                return Err(ClientError::Config(format!(
                    "sasl.jaas.config: the login module must be {expected} for sasl.mechanism={}",
                    mechanism.name()
                )));
            }
            if let Some(u) = cfg.option("username") {
                user = Some(u.expose().to_string());
            }
            if let Some(p) = cfg.option("password") {
                pass = Some(p.clone());
            }
        }
        match (user, pass) {
            (Some(username), Some(password)) if !username.is_empty() => Ok(SaslLogin { mechanism, username, password }),
            _ => Err(ClientError::Config(format!(
                "sasl.mechanism={} needs a user name and password: set sasl.jaas.config (username=\"…\" \
                 password=\"…\") or sasl.username and sasl.password",
                mechanism.name()
            ))),
        }
    }
}

fn auth_failed(conn: &Connection, login: &SaslLogin, code: i16, message: Option<String>) -> ClientError {
    let context = format!("SASL {} authentication as {} to {}", login.mechanism.name(), login.username, conn.addr());
    match ResponseError::try_from_code(code) {
        Some(code) => ClientError::Kafka { code, message, context },
        None => ClientError::protocol(conn.addr(), format!("{context}: unknown error code {code}")),
    }
}

/// Runs the SASL exchange on a connection that has negotiated versions. Returns the
/// session lifetime the broker granted (`connections.max.reauth.ms`), if any.
pub(crate) async fn authenticate(conn: &Connection, login: &SaslLogin) -> Result<Option<Duration>, ClientError> {
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(login.mechanism.name()));
    let resp = conn.call(&handshake, 1).await?;
    if resp.error_code != 0 {
        let offered: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        let message = format!(
            "the broker does not enable SASL mechanism {}; it offers [{}]",
            login.mechanism.name(),
            offered.join(", ")
        );
        return Err(auth_failed(conn, login, resp.error_code, Some(message)));
    }
    let version = conn.version(kafka_protocol::messages::ApiKey::SaslAuthenticate)?;
    let round = |bytes: Vec<u8>| {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
        async move {
            let resp = conn.call(&req, version).await?;
            if resp.error_code != 0 {
                return Err(auth_failed(conn, login, resp.error_code, resp.error_message.map(|m| m.to_string())));
            }
            Ok(resp)
        }
    };
    let last = match login.mechanism {
        SaslMechanism::Plain => round(plain::build(&login.username, &login.password)).await?,
        SaslMechanism::Scram(m) => {
            let mut client = ScramClient::new(m, &login.username, login.password.clone());
            let first = round(client.client_first()).await?;
            let fin = client
                .client_final(&first.auth_bytes)
                .map_err(|e| ClientError::protocol(conn.addr(), format!("SASL {}: {e}", m.name())))?;
            let last = round(fin).await?;
            client
                .verify_server_final(&last.auth_bytes)
                .map_err(|e| ClientError::protocol(conn.addr(), format!("SASL {}: {e}", m.name())))?;
            last
        }
    };
    Ok((last.session_lifetime_ms > 0).then(|| Duration::from_millis(last.session_lifetime_ms as u64)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::security::scram::ScramMechanism;

    #[test]
    fn login_from_jaas_or_librdkafka_keys() {
        let jaas = Password::new(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cret\";",
        );
        let login = SaslLogin::from_settings(Some("SCRAM-SHA-512"), Some(&jaas), None, None).unwrap();
        assert_eq!(login.mechanism, SaslMechanism::Scram(ScramMechanism::Sha512));
        assert_eq!((login.username.as_str(), login.password.expose()), ("alice", "s3cret"));
        assert!(!format!("{login:?}").contains("s3cret"));
        let login = SaslLogin::from_settings(Some("PLAIN"), None, Some("bob"), Some(&Password::new("pw"))).unwrap();
        assert_eq!(login.username, "bob");
    }

    #[test]
    fn clear_errors() {
        let err = SaslLogin::from_settings(None, None, Some("a"), Some(&Password::new("p"))).unwrap_err().to_string();
        assert!(err.contains("sasl.mechanism=GSSAPI is not supported"), "{err}");
        let err = SaslLogin::from_settings(Some("PLAIN"), None, None, None).unwrap_err().to_string();
        assert!(err.contains("sasl.jaas.config"), "{err}");
        let jaas = Password::new("x.ScramLoginModule required username=\"a\" password=\"s3cret\";");
        let err = SaslLogin::from_settings(Some("PLAIN"), Some(&jaas), None, None).unwrap_err().to_string();
        assert!(err.contains("PlainLoginModule") && !err.contains("s3cret"), "{err}");
    }
}
