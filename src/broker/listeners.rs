//! The broker's listeners: every entry of `listeners` is bound, each with its
//! security protocol (`listener.security.protocol.map`) and the endpoint
//! clients are told to use (`advertised.listeners`, matched by name). A
//! connection remembers which listener accepted it, so the broker can answer
//! with that listener's endpoints and apply its security settings.
//!
//! SSL and SASL_SSL listeners get a TLS acceptor from their `ssl.*` settings
//! ([`tls_acceptors`]), and answers that name brokers use the endpoint of the
//! listener the request came in on ([`endpoint_for`]).
//!
//! It also builds what the broker itself uses to talk to other brokers
//! ([`InterBroker`]): the listener named by `inter.broker.listener.name` (or
//! implied by `security.inter.broker.protocol`) and the client-side security
//! that listener needs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::BrokerError;
use crate::client::Security;
use crate::config::security as config_security;
use crate::config::{BrokerConfig, SecurityProtocol};
use crate::metadata::BrokerInfo;
use crate::network::tls::{self, TlsAcceptor};

/// One bound listener, shared by its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerContext {
    /// Position in `listeners` (the network layer's listener index).
    pub index: usize,
    /// Upper-case listener name (`PLAINTEXT`, `INTERNAL`, …).
    pub name: String,
    pub protocol: SecurityProtocol,
    /// The bound address (the real port when the config said 0).
    pub local: SocketAddr,
    /// Host and port clients of this listener are told to connect to.
    pub advertised: (String, u16),
}

/// How this broker connects to the others.
#[derive(Debug, Clone)]
pub struct InterBroker {
    /// `inter.broker.listener.name`: the other brokers' endpoint to dial.
    pub listener: String,
    /// What the connection does after connecting (TLS, SASL).
    pub security: Security,
}

/// Binds every configured listener, in order; fails on the first that cannot be bound.
pub(crate) async fn bind_all(config: &BrokerConfig) -> Result<Vec<(TcpListener, ListenerContext)>, BrokerError> {
    if config.listeners.is_empty() {
        return Err(BrokerError::NoListener);
    }
    let mut bound = Vec::with_capacity(config.listeners.len());
    for (index, listener) in config.listeners.iter().enumerate() {
        let bind_host = if listener.host.is_empty() { "0.0.0.0".to_string() } else { listener.host.clone() };
        let bind = if bind_host.contains(':') {
            format!("[{bind_host}]:{}", listener.port)
        } else {
            format!("{bind_host}:{}", listener.port)
        };
        let socket =
            TcpListener::bind(&bind).await.map_err(|source| BrokerError::Bind { listener: bind.clone(), source })?;
        let local = socket.local_addr().map_err(|source| BrokerError::Bind { listener: bind, source })?;
        let advertised = match config.advertised_listeners.iter().find(|a| a.name == listener.name) {
            Some(adv) if adv.port != 0 => {
                let host = if adv.is_wildcard_host() { "127.0.0.1".to_string() } else { adv.host.clone() };
                (host, adv.port)
            }
            _ => {
                let host = if listener.is_wildcard_host() { "127.0.0.1".to_string() } else { bind_host.clone() };
                (host, local.port())
            }
        };
        let protocol = config.security_protocol(&listener.name).unwrap_or_default();
        bound.push((socket, ListenerContext { index, name: listener.name.clone(), protocol, local, advertised }));
    }
    Ok(bound)
}

/// The TLS acceptor of each listener (`None` for PLAINTEXT and SASL_PLAINTEXT), built from
/// its `ssl.*` settings; a listener whose key store cannot be read stops the start.
pub(crate) fn tls_acceptors<'a>(
    config: &BrokerConfig,
    listeners: impl IntoIterator<Item = &'a ListenerContext>,
) -> Result<Vec<Option<TlsAcceptor>>, BrokerError> {
    listeners
        .into_iter()
        .map(|l| {
            if !matches!(l.protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
                return Ok(None);
            }
            let fail = |e: &dyn std::fmt::Display| BrokerError::Other(format!("listener {}: {e}", l.name));
            let (settings, warnings) = config_security::listener_tls(config, &l.name).map_err(|e| fail(&e))?;
            for w in warnings {
                tracing::warn!(listener = %l.name, "{w}");
            }
            let server = tls::server_config(&settings).map_err(|e| fail(&e))?;
            Ok(Some(TlsAcceptor::from(server)))
        })
        .collect()
}

/// What this broker uses to reach the others, from its own config.
pub(crate) fn inter_broker(config: &BrokerConfig) -> Result<InterBroker, BrokerError> {
    let listener = config.inter_broker_listener_name.clone();
    let protocol = config.security_protocol(&listener).unwrap_or_default();
    let login = super::sasl::config::inter_broker_login(config)
        .map_err(|e| BrokerError::Other(format!("inter-broker listener {listener}: {e}")))?;
    let sasl = login.map(|l| crate::client::sasl::SaslLogin {
        mechanism: l.mechanism,
        username: l.username,
        password: l.password,
    });
    let tls = match protocol {
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
            let fail = |e: &dyn std::fmt::Display| BrokerError::Other(format!("inter-broker listener {listener}: {e}"));
            let (settings, _) = config_security::inter_broker_tls(config, &listener).map_err(|e| fail(&e))?;
            Some(tls::client_config(&settings).map_err(|e| fail(&e))?)
        }
        _ => None,
    };
    let security = Security { protocol, tls, sasl };
    security.check_supported().map_err(|e| BrokerError::Other(format!("inter-broker listener {listener}: {e}")))?;
    Ok(InterBroker { listener, security })
}

/// Where clients that came in on `listener` reach broker `info` (Kafka's rule: the
/// endpoint of the same-named listener). `None` leaves that broker out of the answer: it
/// has no such listener. This broker answers for itself from `listener` directly, and a
/// registration without endpoints (written by an older gregor) falls back to its host.
pub(crate) fn endpoint_for(listener: &ListenerContext, me: i32, info: &BrokerInfo) -> Option<(String, u16)> {
    if info.id == me {
        return Some(listener.advertised.clone());
    }
    if info.endpoints.is_empty() || listener.name.is_empty() {
        return Some((info.host.clone(), info.port));
    }
    info.endpoint(&listener.name)
}

/// The `listeners=NAME=ip:port,…` value of the broker's `started` log line.
pub(crate) fn describe(listeners: &[Arc<ListenerContext>]) -> String {
    listeners.iter().map(|l| format!("{}={}", l.name, l.local)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn context(name: &str) -> ListenerContext {
        ListenerContext {
            index: 0,
            name: name.into(),
            protocol: SecurityProtocol::Ssl,
            local: "127.0.0.1:9093".parse().unwrap(),
            advertised: ("me.example".into(), 9093),
        }
    }

    fn info(id: i32, endpoints: &[&str]) -> BrokerInfo {
        BrokerInfo {
            id,
            host: "first.example".into(),
            port: 9092,
            rack: None,
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            epoch: 0,
        }
    }

    #[test]
    fn answers_use_the_endpoint_of_the_requests_listener() {
        let ssl = context("SSL");
        let other = info(2, &["PLAINTEXT://b2:9092", "SSL://b2:9093"]);
        assert_eq!(endpoint_for(&ssl, 1, &other), Some(("b2".into(), 9093)));
        // A broker without the listener is left out.
        assert_eq!(endpoint_for(&ssl, 1, &info(3, &["PLAINTEXT://b3:9092"])), None);
        // This broker answers from its own listener.
        assert_eq!(endpoint_for(&ssl, 2, &other), Some(("me.example".into(), 9093)));
        // Registrations without endpoints fall back to their host.
        assert_eq!(endpoint_for(&ssl, 1, &info(4, &[])), Some(("first.example".into(), 9092)));
        // Dialling: the named listener, else the first endpoint; IPv6 hosts bracketed.
        assert_eq!(other.dial_addr("ssl"), "b2:9093");
        assert_eq!(other.dial_addr("INTERNAL"), "first.example:9092");
        assert_eq!(info(5, &["SSL://[::1]:9093"]).dial_addr("SSL"), "[::1]:9093");
    }
}
