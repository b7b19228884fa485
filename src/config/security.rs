//! TLS settings from Kafka's `ssl.*` keys, for a broker listener (server side) and for
//! a client (our client, tools and inter-broker connections).
//!
//! This module owns the rules for reading those keys: the lookup order
//! `listener.name.<lowercase listener>.<key>` → `<key>` → Kafka's default, which key
//! combinations are allowed, and what gregor does not support (JKS/PKCS12 stores,
//! encrypted private keys, principal mapping rules). It is pure: it reads no files and
//! builds no rustls objects — [`crate::network::tls`] does that from the typed settings
//! produced here, so a bad path or certificate is reported there, naming the key.
//!
//! Values of key material (`ssl.keystore.key`, inline certificates) are secrets: they are
//! kept in [`Password`], whose `Debug` prints `[hidden]`, and no error message echoes them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::broker::BrokerConfig;
use super::ConfigError;
use crate::security::password::Password;

/// Where a PEM private key and its certificate chain come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyStore {
    /// `ssl.keystore.location`: one PEM file holding the private key and the chain.
    File { key: String, path: PathBuf },
    /// `ssl.keystore.key` + `ssl.keystore.certificate.chain`, PEM text in the config.
    Inline { key_key: String, key: Password, chain_key: String, chain: Password },
    /// librdkafka's `ssl.key.location` + `ssl.certificate.location`: two PEM files.
    Files { key_key: String, key_path: PathBuf, chain_key: String, chain_path: PathBuf },
}

/// Where trusted CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustStore {
    /// `ssl.truststore.location`: a PEM bundle.
    File { key: String, path: PathBuf },
    /// `ssl.truststore.certificates`: PEM text in the config.
    Inline { key: String, certificates: Password },
}

/// `ssl.client.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Ask for a certificate; a client without one is still accepted (as `User:ANONYMOUS`).
    Requested,
    /// A client without a certificate signed by the trust store is refused.
    Required,
}

/// TLS versions gregor speaks (rustls has nothing older than 1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// What a TLS listener needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsServerSettings {
    /// The upper-case listener name, for messages.
    pub listener: String,
    pub keystore: KeyStore,
    pub truststore: Option<TrustStore>,
    pub client_auth: ClientAuth,
    pub protocols: Vec<TlsVersion>,
    /// IANA names from `ssl.cipher.suites`; empty means the TLS library's defaults.
    pub cipher_suites: Vec<String>,
}

/// What a TLS client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsClientSettings {
    /// `None`: the system CA bundle.
    pub truststore: Option<TrustStore>,
    /// A client certificate to present when the server asks for one.
    pub keystore: Option<KeyStore>,
    /// `ssl.endpoint.identification.algorithm=https`: the server certificate must name
    /// the host dialled (DNS name or IP address SAN).
    pub verify_hostname: bool,
    pub protocols: Vec<TlsVersion>,
    pub cipher_suites: Vec<String>,
}

/// Looks keys up in Kafka's order, remembering which name a value was found under so that
/// messages name the key the user actually wrote.
struct Keys<'a> {
    /// `listener.name.<lowercase listener>.`, for broker listeners.
    prefix: Option<String>,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Keys<'_> {
    /// `(name found under, value)`; the value is trimmed and `None` when unset.
    fn get(&self, key: &str) -> Option<(String, String)> {
        if let Some(prefix) = &self.prefix {
            let name = format!("{prefix}{key}");
            if let Some(v) = (self.lookup)(&name) {
                return Some((name, v.trim().to_string()));
            }
        }
        (self.lookup)(key).map(|v| (key.to_string(), v.trim().to_string()))
    }

    /// Like [`Keys::get`], but an empty value counts as unset (Kafka's null).
    fn non_empty(&self, key: &str) -> Option<(String, String)> {
        self.get(key).filter(|(_, v)| !v.is_empty())
    }

    /// The name to report for `key` when it is missing.
    fn name(&self, key: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{key} (or {prefix}{key})"),
            None => key.to_string(),
        }
    }
}

/// Kafka's prefix for per-listener keys (`listener.name.sasl_ssl.`).
pub fn listener_prefix(listener: &str) -> String {
    format!("listener.name.{}.", listener.to_ascii_lowercase())
}

/// The TLS settings of a broker listener (SSL or SASL_SSL), with warnings to log.
pub fn listener_tls(config: &BrokerConfig, listener: &str) -> Result<(TlsServerSettings, Vec<String>), ConfigError> {
    let lookup = broker_lookup(config, listener);
    let keys = Keys { prefix: Some(listener_prefix(listener)), lookup: &lookup };
    server_settings(&keys, listener)
}

/// The TLS client side of inter-broker connections: the inter-broker listener's trust store
/// verifies the other brokers, and its key store is this broker's client certificate (for
/// listeners with `ssl.client.auth=required`).
pub fn inter_broker_tls(
    config: &BrokerConfig,
    listener: &str,
) -> Result<(TlsClientSettings, Vec<String>), ConfigError> {
    let lookup = broker_lookup(config, listener);
    let keys = Keys { prefix: Some(listener_prefix(listener)), lookup: &lookup };
    client_settings(&keys)
}

/// A broker key's effective value: a `listener.name.*` key as written (either case of the
/// listener name), any other key as the broker renders it, with Kafka's default.
fn broker_lookup<'a>(config: &'a BrokerConfig, listener: &str) -> impl Fn(&str) -> Option<String> + 'a {
    let upper = format!("listener.name.{}.", listener.to_ascii_uppercase());
    move |key: &str| {
        if let Some(rest) = key.strip_prefix("listener.name.") {
            let raw = config.raw();
            let exact = raw.get(key);
            let upper_form = rest.split_once('.').and_then(|(_, k)| raw.get(&format!("{upper}{k}")));
            return exact.or(upper_form).map(str::to_string);
        }
        config.value_of(key)
    }
}

fn server_settings(keys: &Keys<'_>, listener: &str) -> Result<(TlsServerSettings, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let keystore = keystore(keys)?.ok_or_else(|| {
        ConfigError::invalid(
            keys.name("ssl.keystore.location"),
            "null",
            format!(
                "listener {listener} uses TLS and needs a key store: set ssl.keystore.location to a PEM file \
                 with the private key and certificate chain, or ssl.keystore.key and \
                 ssl.keystore.certificate.chain"
            ),
        )
    })?;
    let truststore = truststore(keys)?;
    let client_auth = match keys.get("ssl.client.auth") {
        None => ClientAuth::None,
        Some((name, v)) => match v.to_ascii_lowercase().as_str() {
            "" | "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => return Err(ConfigError::invalid(name, v, "String must be one of: required, requested, none")),
        },
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        let (name, value) = keys.get("ssl.client.auth").unwrap_or_default();
        return Err(ConfigError::invalid(
            name,
            value,
            format!(
                "client certificates are checked against a trust store: set {} (PEM)",
                keys.name("ssl.truststore.location")
            ),
        ));
    }
    if let Some((name, v)) = keys.non_empty("ssl.principal.mapping.rules") {
        if v != "DEFAULT" {
            return Err(ConfigError::invalid(name, v, "only DEFAULT is supported by gregor"));
        }
    }
    let protocols = protocols(keys, &mut warnings)?;
    let cipher_suites = keys.get("ssl.cipher.suites").map(|(_, v)| split_list(&v)).unwrap_or_default();
    let settings = TlsServerSettings {
        listener: listener.to_ascii_uppercase(),
        keystore,
        truststore,
        client_auth,
        protocols,
        cipher_suites,
    };
    Ok((settings, warnings))
}

fn client_settings(keys: &Keys<'_>) -> Result<(TlsClientSettings, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let keystore = keystore(keys)?;
    let truststore = truststore(keys)?;
    let verify_hostname = match keys.get("ssl.endpoint.identification.algorithm") {
        None => true,
        Some((name, v)) => match v.to_ascii_lowercase().as_str() {
            "https" => true,
            "" => false,
            _ => {
                return Err(ConfigError::invalid(
                    name,
                    v,
                    "must be https (check the server's host name) or empty (do not check it)",
                ))
            }
        },
    };
    let protocols = protocols(keys, &mut warnings)?;
    let cipher_suites = keys.get("ssl.cipher.suites").map(|(_, v)| split_list(&v)).unwrap_or_default();
    Ok((TlsClientSettings { truststore, keystore, verify_hostname, protocols, cipher_suites }, warnings))
}

/// Checks a store type key: gregor reads PEM only.
fn require_pem(keys: &Keys<'_>, type_key: &str, what: &str) -> Result<(), ConfigError> {
    let (name, ty) = keys.get(type_key).unwrap_or_else(|| (type_key.to_string(), "JKS".to_string()));
    if ty.eq_ignore_ascii_case("PEM") {
        return Ok(());
    }
    Err(ConfigError::invalid(
        name.clone(),
        ty,
        format!("gregor reads PEM {what} only: set {name}=PEM and give PEM files (Kafka's default is JKS)"),
    ))
}

fn keystore(keys: &Keys<'_>) -> Result<Option<KeyStore>, ConfigError> {
    let location = keys.non_empty("ssl.keystore.location");
    let key = keys.non_empty("ssl.keystore.key");
    let chain = keys.non_empty("ssl.keystore.certificate.chain");
    if location.is_none() && key.is_none() && chain.is_none() {
        return Ok(None);
    }
    require_pem(keys, "ssl.keystore.type", "key stores")?;
    if let Some((name, _)) = keys.non_empty("ssl.key.password") {
        return Err(ConfigError::invalid(
            name,
            "[hidden]",
            "encrypted PEM private keys are not supported by gregor: give an unencrypted PKCS#8, PKCS#1 or \
             SEC1 key and remove this setting",
        ));
    }
    if let Some((name, _)) = keys.non_empty("ssl.keystore.password") {
        return Err(ConfigError::invalid(
            name,
            "[hidden]",
            "SSL key store password cannot be specified with PEM format, only key password may be specified",
        ));
    }
    match (location, key, chain) {
        (Some((name, path)), None, None) => Ok(Some(KeyStore::File { key: name, path: PathBuf::from(path) })),
        (None, Some((key_key, key)), Some((chain_key, chain))) => Ok(Some(KeyStore::Inline {
            key_key,
            key: Password::new(normalize_pem(&key)),
            chain_key,
            chain: Password::new(normalize_pem(&chain)),
        })),
        (Some((name, _)), _, _) => Err(ConfigError::invalid(
            name,
            "[given]",
            "give either ssl.keystore.location or ssl.keystore.key with ssl.keystore.certificate.chain, not both",
        )),
        (None, Some((name, _)), None) => Err(ConfigError::invalid(
            name,
            "[hidden]",
            format!("{} must be set too", keys.name("ssl.keystore.certificate.chain")),
        )),
        (None, None, Some((name, _))) => {
            Err(ConfigError::invalid(name, "[hidden]", format!("{} must be set too", keys.name("ssl.keystore.key"))))
        }
        (None, None, None) => Ok(None),
    }
}

fn truststore(keys: &Keys<'_>) -> Result<Option<TrustStore>, ConfigError> {
    let location = keys.non_empty("ssl.truststore.location");
    let certificates = keys.non_empty("ssl.truststore.certificates");
    if location.is_none() && certificates.is_none() {
        return Ok(None);
    }
    require_pem(keys, "ssl.truststore.type", "trust stores")?;
    if let Some((name, _)) = keys.non_empty("ssl.truststore.password") {
        return Err(ConfigError::invalid(
            name,
            "[hidden]",
            "SSL trust store password cannot be specified for PEM format",
        ));
    }
    match (location, certificates) {
        (Some((key, path)), None) => Ok(Some(TrustStore::File { key, path: PathBuf::from(path) })),
        (None, Some((key, certs))) => {
            Ok(Some(TrustStore::Inline { key, certificates: Password::new(normalize_pem(&certs)) }))
        }
        (Some((name, _)), Some(_)) => Err(ConfigError::invalid(
            name,
            "[given]",
            "give either ssl.truststore.location or ssl.truststore.certificates, not both",
        )),
        (None, None) => Ok(None),
    }
}

fn protocols(keys: &Keys<'_>, warnings: &mut Vec<String>) -> Result<Vec<TlsVersion>, ConfigError> {
    let Some((name, value)) = keys.get("ssl.enabled.protocols") else {
        return Ok(vec![TlsVersion::Tls12, TlsVersion::Tls13]);
    };
    let mut out = Vec::new();
    for item in split_list(&value) {
        match item.as_str() {
            "TLSv1.2" => out.push(TlsVersion::Tls12),
            "TLSv1.3" => out.push(TlsVersion::Tls13),
            "TLSv1" | "TLSv1.1" | "SSLv3" => {
                warnings.push(format!("{name}: {item} is insecure and not supported by gregor; ignored"))
            }
            _ => {
                return Err(ConfigError::invalid(
                    name,
                    value.clone(),
                    format!("unknown TLS protocol {item}; use TLSv1.2 and/or TLSv1.3"),
                ))
            }
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(ConfigError::invalid(name, value, "no supported protocol left: list TLSv1.2 and/or TLSv1.3"));
    }
    Ok(out)
}

fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Restores the line structure of PEM text given inline in a properties file, where line
/// continuations join the base64 lines (`-----BEGIN CERTIFICATE----- MIIB… -----END
/// CERTIFICATE-----`), as Kafka's own PEM reader accepts. Text without PEM markers is
/// returned unchanged (the reader then reports that it found no certificate).
pub fn normalize_pem(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else { break };
        let label = &after[..label_end];
        let body_and_more = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_and_more.find(&end_marker) else { break };
        let body: String = body_and_more[..end].chars().filter(|c| !c.is_whitespace()).collect();
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        let mut line = String::new();
        for c in body.chars() {
            line.push(c);
            if line.len() == 64 {
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
        }
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&end_marker);
        out.push('\n');
        rest = &body_and_more[end + end_marker.len()..];
    }
    if out.is_empty() {
        text.to_string()
    } else {
        out
    }
}

/// The `ssl.*` keys a client config (a `--command-config` file, `ClientConfig::set`) may
/// give, kept as strings so the client config stays comparable; librdkafka's names
/// (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`) are accepted too, for
/// people coming from kcat.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientTlsKeys {
    values: BTreeMap<String, Password>,
}

impl fmt::Debug for ClientTlsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths and types are harmless; inline key material is not.
        let mut map = f.debug_map();
        for (k, v) in &self.values {
            if matches!(
                k.as_str(),
                "ssl.keystore.key" | "ssl.keystore.certificate.chain" | "ssl.truststore.certificates"
            ) || k.ends_with("password")
            {
                map.entry(k, &"[hidden]");
            } else {
                map.entry(k, &v.expose());
            }
        }
        map.finish()
    }
}

/// Client keys this module reads (Java client names).
const CLIENT_KEYS: &[&str] = &[
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
    "ssl.protocol",
    // Java-only knobs with nothing to map to in rustls: accepted so a Java client config
    // works unchanged, and ignored.
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.provider",
    "ssl.engine.factory.class",
];

impl ClientTlsKeys {
    /// Takes `key` when it is a TLS client key; `false` otherwise.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        let value = Password::new(value.trim());
        if CLIENT_KEYS.contains(&key) {
            self.values.insert(key.to_string(), value);
            return true;
        }
        // librdkafka names: PEM files, the key in its own file.
        if matches!(key, "ssl.ca.location" | "ssl.certificate.location" | "ssl.key.location") {
            self.values.insert(key.to_string(), value);
            return true;
        }
        false
    }

    /// The typed settings, with warnings to show.
    pub fn settings(&self) -> Result<(TlsClientSettings, Vec<String>), ConfigError> {
        let ca = self.values.get("ssl.ca.location").map(|v| v.expose().to_string());
        let cert = self.values.get("ssl.certificate.location").map(|v| v.expose().to_string());
        let key_file = self.values.get("ssl.key.location").map(|v| v.expose().to_string());
        let lookup = |key: &str| -> Option<String> {
            if let Some(v) = self.values.get(key) {
                return Some(v.expose().to_string());
            }
            match key {
                // A librdkafka CA file is PEM by definition.
                "ssl.truststore.location" => ca.clone(),
                "ssl.truststore.type" if ca.is_some() && !self.values.contains_key("ssl.truststore.location") => {
                    Some("PEM".to_string())
                }
                "ssl.keystore.type" if cert.is_some() && !self.values.contains_key("ssl.keystore.location") => {
                    Some("PEM".to_string())
                }
                _ => None,
            }
        };
        let keys = Keys { prefix: None, lookup: &lookup };
        let (mut settings, warnings) = client_settings(&keys)?;
        match (cert, key_file) {
            (None, None) => {}
            (Some(_), Some(_)) if settings.keystore.is_some() => {
                return Err(ConfigError::invalid(
                    "ssl.certificate.location",
                    "[given]",
                    "give either ssl.keystore.* or ssl.certificate.location with ssl.key.location, not both",
                ))
            }
            (Some(cert), Some(key)) => {
                settings.keystore = Some(KeyStore::Files {
                    key_key: "ssl.key.location".into(),
                    key_path: PathBuf::from(key),
                    chain_key: "ssl.certificate.location".into(),
                    chain_path: PathBuf::from(cert),
                })
            }
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "ssl.certificate.location",
                    "[given]",
                    "ssl.key.location must be set too",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "ssl.key.location",
                    "[given]",
                    "ssl.certificate.location must be set too",
                ))
            }
        }
        Ok((settings, warnings))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn broker(text: &str) -> BrokerConfig {
        let raw = RawConfig::parse_str(text).unwrap();
        BrokerConfig::from_raw(raw).unwrap().0
    }

    const BASE: &str = "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\n";

    #[test]
    fn listener_prefixed_key_wins_over_plain_key() {
        let c = broker(&format!(
            "{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/plain.pem\nlistener.name.ssl.ssl.keystore.location=/prefixed.pem\n"
        ));
        let (s, _) = listener_tls(&c, "SSL").unwrap();
        assert_eq!(
            s.keystore,
            KeyStore::File { key: "listener.name.ssl.ssl.keystore.location".into(), path: "/prefixed.pem".into() }
        );
        assert_eq!(s.client_auth, ClientAuth::None);
        assert_eq!(s.protocols, vec![TlsVersion::Tls12, TlsVersion::Tls13]);
        // An upper-case listener name in the prefix is found too.
        let c = broker(&format!("{BASE}ssl.keystore.type=PEM\nlistener.name.SSL.ssl.keystore.location=/u.pem\n"));
        let (s, _) = listener_tls(&c, "SSL").unwrap();
        assert!(matches!(s.keystore, KeyStore::File { path, .. } if path.as_path() == std::path::Path::new("/u.pem")));
    }

    #[test]
    fn jks_default_is_refused_naming_the_key() {
        let c = broker(&format!("{BASE}ssl.keystore.location=/k.jks\n"));
        let err = listener_tls(&c, "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.keystore.type"), "{err}");
        assert!(err.contains("PEM"), "{err}");
        let c = broker(&format!(
            "{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.truststore.location=/t.jks\n"
        ));
        let err = listener_tls(&c, "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.truststore.type"), "{err}");
    }

    #[test]
    fn missing_keystore_and_bad_combinations_are_errors() {
        let err = listener_tls(&broker(BASE), "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.keystore.location"), "{err}");
        let c =
            broker(&format!("{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.key.password=s3cret\n"));
        let err = listener_tls(&c, "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.key.password") && !err.contains("s3cret"), "{err}");
        let c = broker(&format!("{BASE}ssl.keystore.type=PEM\nssl.keystore.key=-----BEGIN PRIVATE KEY----- c2VjcmV0 -----END PRIVATE KEY-----\n"));
        let err = listener_tls(&c, "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.keystore.certificate.chain") && !err.contains("c2VjcmV0"), "{err}");
        let c =
            broker(&format!("{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.client.auth=required\n"));
        let err = listener_tls(&c, "SSL").unwrap_err().to_string();
        assert!(err.contains("ssl.truststore.location"), "{err}");
        let c = broker(&format!(
            "{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.principal.mapping.rules=RULE:^CN=(.*)$/$1/\n"
        ));
        assert!(listener_tls(&c, "SSL").unwrap_err().to_string().contains("ssl.principal.mapping.rules"));
    }

    #[test]
    fn client_auth_protocols_and_ciphers() {
        let c = broker(&format!(
            "{BASE}listener.name.ssl.ssl.keystore.type=PEM\nlistener.name.ssl.ssl.keystore.location=/k.pem\n\
             ssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\nlistener.name.ssl.ssl.client.auth=requested\n\
             ssl.enabled.protocols=TLSv1.1,TLSv1.3\nssl.cipher.suites=TLS_AES_128_GCM_SHA256\n"
        ));
        let (s, warnings) = listener_tls(&c, "SSL").unwrap();
        assert_eq!(s.client_auth, ClientAuth::Requested);
        assert_eq!(s.protocols, vec![TlsVersion::Tls13]);
        assert_eq!(s.cipher_suites, vec!["TLS_AES_128_GCM_SHA256".to_string()]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(matches!(s.truststore, Some(TrustStore::File { .. })));
        let c = broker(&format!(
            "{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.enabled.protocols=TLSv1\n"
        ));
        assert!(listener_tls(&c, "SSL").unwrap_err().to_string().contains("ssl.enabled.protocols"));
    }

    #[test]
    fn inter_broker_client_uses_the_listener_stores() {
        let c = broker(&format!(
            "{BASE}ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\nssl.truststore.type=PEM\n\
             ssl.truststore.location=/ca.pem\nlistener.name.ssl.ssl.endpoint.identification.algorithm=\n"
        ));
        let (s, _) = inter_broker_tls(&c, "SSL").unwrap();
        assert!(!s.verify_hostname);
        assert!(matches!(s.keystore, Some(KeyStore::File { .. })));
        assert!(matches!(s.truststore, Some(TrustStore::File { .. })));
    }

    #[test]
    fn inline_pem_regains_its_lines() {
        let joined = "-----BEGIN CERTIFICATE----- QUJD REVG -----END CERTIFICATE----- -----BEGIN CERTIFICATE-----\nR0hJ\n-----END CERTIFICATE-----";
        assert_eq!(
            normalize_pem(joined),
            "-----BEGIN CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nR0hJ\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(normalize_pem("not pem"), "not pem");
        assert_eq!(normalize_pem("-----BEGIN X----- unterminated"), "-----BEGIN X----- unterminated");
    }

    #[test]
    fn client_keys_accept_java_and_librdkafka_names() {
        let mut k = ClientTlsKeys::default();
        assert!(k.set("ssl.ca.location", "/ca.pem"));
        assert!(k.set("ssl.certificate.location", "/c.pem"));
        assert!(k.set("ssl.key.location", "/c.key"));
        assert!(!k.set("sasl.mechanism", "PLAIN"));
        let (s, _) = k.settings().unwrap();
        assert!(s.verify_hostname);
        assert_eq!(
            s.truststore,
            Some(TrustStore::File { key: "ssl.truststore.location".into(), path: "/ca.pem".into() })
        );
        assert!(matches!(s.keystore, Some(KeyStore::Files { .. })));

        let mut k = ClientTlsKeys::default();
        k.set("ssl.truststore.location", "/ca.pem");
        let err = k.settings().unwrap_err().to_string();
        assert!(err.contains("ssl.truststore.type"), "{err}");
        k.set("ssl.truststore.type", "PEM");
        k.set("ssl.endpoint.identification.algorithm", "");
        let (s, _) = k.settings().unwrap();
        assert!(!s.verify_hostname);

        let mut k = ClientTlsKeys::default();
        k.set("ssl.keystore.type", "PEM");
        k.set("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----");
        k.set("ssl.keystore.certificate.chain", "x");
        let debug = format!("{k:?}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
        let (s, _) = k.settings().unwrap();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }
}
