//! Listeners: `NAME://host:port` endpoints (`listeners`, `advertised.listeners`) and
//! the `listener.security.protocol.map` that gives each listener name its protocol.
//!
//! Parsing follows Kafka's `EndPoint.createEndPoint`: the name is normalised to upper
//! case, an IPv6 host may be bracketed, an empty host means every interface. Port 0 is
//! allowed: the broker binds an ephemeral port (tests rely on it).

use std::collections::BTreeMap;
use std::fmt;

use super::ConfigError;

/// Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn name(&self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's id (UpdateMetadata / broker registration JSON).
    pub fn id(&self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Looks a protocol up by name, ignoring case as Kafka does.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One endpoint. In `listeners` an empty host has become `0.0.0.0`; in
/// `advertised.listeners` the host is never a wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Listener {
    /// Upper-case listener name (`PLAINTEXT`, `INTERNAL`, …).
    pub name: String,
    pub host: String,
    /// 0 means an ephemeral port chosen when binding.
    pub port: u16,
}

impl Listener {
    /// `host:port` for `TcpListener::bind`, with an IPv6 host in brackets.
    pub fn bind_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host binds every interface (`0.0.0.0`, `::` or empty) and so cannot be
    /// advertised to clients.
    pub fn is_wildcard_host(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::" | "[::]")
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.bind_addr())
    }
}

/// Parses one `NAME://host:port`. The host is returned as written (possibly empty).
fn parse_endpoint(s: &str) -> Result<Listener, String> {
    let unparsable = || format!("Unable to parse {s} to a broker endpoint");
    let (name, rest) = s.split_once("://").ok_or_else(unparsable)?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("{}: the listener name must be letters, digits, '_' or '-'", unparsable()));
    }
    let (host, port) = rest.rsplit_once(':').ok_or_else(unparsable)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or_else(unparsable)?,
        None => host,
    };
    let host_ok = host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':'));
    if !host_ok {
        return Err(unparsable());
    }
    if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(unparsable());
    }
    let port = port.parse::<u16>().map_err(|_| format!("{}: port must be between 0 and 65535", unparsable()))?;
    Ok(Listener { name: name.to_ascii_uppercase(), host: host.to_string(), port })
}

/// Parses a comma-separated listener list for `key`. Names must be unique and so must
/// non-zero ports (Kafka: "Each listener must have a different port").
pub(crate) fn parse_listener_list(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut listeners: Vec<Listener> = Vec::new();
    for item in super::value::split_list(value) {
        let listener = parse_endpoint(&item).map_err(|reason| ConfigError::invalid(key, value.trim(), reason))?;
        if listeners.iter().any(|l| l.name == listener.name) {
            return Err(ConfigError::invalid(
                key,
                value.trim(),
                format!("Each listener must have a different name; {} appears more than once", listener.name),
            ));
        }
        listeners.push(listener);
    }
    if listeners.is_empty() {
        return Err(ConfigError::invalid(key, value.trim(), "At least one listener must be defined"));
    }
    Ok(listeners)
}

/// Rejects two listeners on the same non-zero port.
pub(crate) fn check_unique_ports(key: &str, value: &str, listeners: &[Listener]) -> Result<(), ConfigError> {
    for (i, a) in listeners.iter().enumerate() {
        if a.port != 0 && listeners[..i].iter().any(|b| b.port == a.port) {
            return Err(ConfigError::invalid(
                key,
                value.trim(),
                format!("Each listener must have a different port; {} is used twice", a.port),
            ));
        }
    }
    Ok(())
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub(crate) fn parse_protocol_map(key: &str, value: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for item in super::value::split_list(value) {
        let (name, protocol) = item.rsplit_once(':').ok_or_else(|| {
            ConfigError::invalid(
                key,
                value.trim(),
                format!("Map entry '{item}' must be of the form LISTENER_NAME:SECURITY_PROTOCOL"),
            )
        })?;
        let protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
            ConfigError::invalid(
                key,
                value.trim(),
                format!(
                    "Unknown security protocol '{}' (expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)",
                    protocol.trim()
                ),
            )
        })?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(ConfigError::invalid(
                key,
                value.trim(),
                format!("Map entry '{item}' has an empty listener name"),
            ));
        }
        map.insert(name, protocol);
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let l = parse_listener_list("listeners", "plaintext://127.0.0.1:9092, SSL://:9093").unwrap();
        assert_eq!(l[0], Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 });
        assert_eq!(l[1].host, "");
        assert_eq!(l[1].port, 9093);
        let v6 = parse_listener_list("listeners", "PLAINTEXT://[::1]:0").unwrap();
        assert_eq!(v6[0].host, "::1");
        assert_eq!(v6[0].port, 0);
        assert_eq!(v6[0].bind_addr(), "[::1]:0");
        assert_eq!(v6[0].to_string(), "PLAINTEXT://[::1]:0");
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "PLAINTEXT:9092",
            "PLAINTEXT://localhost",
            "PLAINTEXT://localhost:port",
            "PLAINTEXT://localhost:70000",
            "PLAINTEXT://localhost:-1",
            "://localhost:9092",
            "PLAINTEXT://local host:9092",
            "",
        ] {
            let err = parse_listener_list("listeners", bad).unwrap_err();
            assert!(matches!(&err, ConfigError::InvalidValue { key, .. } if key == "listeners"), "{bad}: {err}");
        }
        let err = parse_listener_list("listeners", "PLAINTEXT:9092").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value PLAINTEXT:9092 for configuration listeners: Unable to parse PLAINTEXT:9092 to a broker endpoint"
        );
    }

    #[test]
    fn duplicate_names_and_ports() {
        assert!(parse_listener_list("listeners", "A://:1,a://:2").is_err());
        let l = parse_listener_list("listeners", "A://:1,B://:1").unwrap();
        assert!(check_unique_ports("listeners", "", &l).is_err());
        let l = parse_listener_list("listeners", "A://:0,B://:0").unwrap();
        assert!(check_unique_ports("listeners", "", &l).is_ok());
    }

    #[test]
    fn protocol_map() {
        let m = parse_protocol_map("m", "internal:plaintext, EXTERNAL:SASL_SSL").unwrap();
        assert_eq!(m.get("INTERNAL"), Some(&SecurityProtocol::Plaintext));
        assert_eq!(m.get("EXTERNAL"), Some(&SecurityProtocol::SaslSsl));
        assert!(parse_protocol_map("m", "A:TLS").is_err());
        assert!(parse_protocol_map("m", "A").is_err());
    }
}
