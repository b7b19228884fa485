//! How a client's connections protect themselves: the security protocol
//! (`security.protocol`) and, for TLS and SASL listeners, the settings the
//! connection needs once the TCP connection is up.
//!
//! [`Security`] is the runtime form, built once per client (or once per
//! broker for inter-broker traffic) from the string settings in
//! [`ClientConfig`], so that a bad setting fails when the client is created,
//! naming its key, rather than on every connection.

use std::sync::Arc;

use crate::config::SecurityProtocol;
use crate::network::tls;

use super::{ClientConfig, ClientError};

/// What every connection of one client does after connecting.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// The SASL login, for SASL_PLAINTEXT / SASL_SSL.
    pub sasl: Option<super::sasl::SaslLogin>,
    /// The TLS client config (SSL, SASL_SSL), built from the `ssl.*` keys.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Security {
    /// Plaintext, no authentication (the default).
    pub fn plaintext() -> Security {
        Security::default()
    }

    /// The runtime settings for a client configured with `config`.
    pub fn for_client(config: &ClientConfig) -> Result<Security, ClientError> {
        let sasl = match config.security_protocol {
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => Some(super::sasl::SaslLogin::from_settings(
                config.sasl_mechanism.as_deref(),
                config.sasl_jaas_config.as_ref(),
                config.sasl_username.as_deref(),
                config.sasl_password.as_ref(),
            )?),
            _ => None,
        };
        let tls = match config.security_protocol {
            SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
                let (settings, warnings) = config.ssl.settings().map_err(|e| ClientError::Config(e.to_string()))?;
                for w in warnings {
                    tracing::warn!("{w}");
                }
                Some(tls::client_config(&settings).map_err(|e| ClientError::Config(e.to_string()))?)
            }
            _ => None,
        };
        let security = Security { protocol: config.security_protocol, tls, sasl };
        security.check_supported()?;
        Ok(security)
    }

    /// Refuses the protocols this build cannot speak yet.
    pub(crate) fn check_supported(&self) -> Result<(), ClientError> {
        match self.protocol {
            SecurityProtocol::Plaintext => Ok(()),
            SecurityProtocol::Ssl if self.tls.is_some() => Ok(()),
            SecurityProtocol::SaslPlaintext if self.sasl.is_some() => Ok(()),
            SecurityProtocol::SaslSsl if self.tls.is_some() && self.sasl.is_some() => Ok(()),
            other => Err(ClientError::Config(format!("security.protocol={other} is not supported yet"))),
        }
    }
}
