//! The `security:` section of a `cluster up` spec: one secured listener per
//! broker (SSL, SASL_PLAINTEXT or SASL_SSL), SASL users, an ACL authorizer and
//! super users, turned into Kafka's broker keys, the SCRAM credentials to
//! store in ZooKeeper before the brokers start, and a `client.properties` for
//! the admin user that every tool reads through `--command-config`.
//!
//! ```yaml
//! security:
//!   protocol: SASL_SSL              # SSL | SASL_PLAINTEXT | SASL_SSL (PLAINTEXT: authorizer only)
//!   mechanism: SCRAM-SHA-512        # inter-broker and client.properties; PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
//!   mechanisms: [PLAIN]             # further mechanisms offered to clients (optional)
//!   users: {admin: admin-secret, alice: alice-secret}
//!   admin: admin                    # who the brokers and client.properties log in as (default admin)
//!   tls: {ca: ca.pem, cert: broker.pem, key: broker-key.pem}   # PEM files; paths relative to the spec
//!   authorizer: true
//!   super_users: [User:admin]       # default with an authorizer: the admin user
//! ```
//!
//! It is pure except for [`Security::write_files`]: the property lists are
//! unit-tested. Passwords only go to the files that need them (broker
//! properties for the JAAS lines, `client.properties`), which are made
//! readable by their owner only; they never reach the terminal.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::config::SecurityProtocol;

/// The admin user's default name.
const DEFAULT_ADMIN: &str = "admin";
/// The authorizer class written into `authorizer.class.name`.
const AUTHORIZER_CLASS: &str = "kafka.security.authorizer.AclAuthorizer";
const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
/// The mechanisms `cluster up` can set up.
const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The spec's `security:` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SecuritySpec {
    protocol: String,
    mechanism: Option<String>,
    #[serde(default)]
    mechanisms: Vec<String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    admin: Option<String>,
    tls: Option<TlsSpec>,
    #[serde(default)]
    authorizer: bool,
    #[serde(default)]
    super_users: Vec<String>,
}

/// PEM files the operator provides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    /// The CA certificate(s) that signed the broker certificate.
    ca: PathBuf,
    /// The broker certificate (chain), with SANs for 127.0.0.1 and localhost.
    cert: PathBuf,
    /// The broker certificate's unencrypted private key.
    key: PathBuf,
}

/// The validated security settings of a cluster.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Security {
    pub(super) protocol: SecurityProtocol,
    sasl: Option<Sasl>,
    tls: Option<Tls>,
    authorizer: bool,
    super_users: Vec<String>,
}

/// Passwords stay out of `Debug`.
impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("sasl", &self.sasl.as_ref().map(|s| (&s.inter_broker, &s.enabled, &s.admin, s.users.keys())))
            .field("tls", &self.tls)
            .field("authorizer", &self.authorizer)
            .field("super_users", &self.super_users)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Sasl {
    /// The inter-broker (and client.properties) mechanism.
    inter_broker: String,
    /// Every mechanism offered, the inter-broker one first.
    enabled: Vec<String>,
    admin: String,
    users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A user name `cluster up` can put into JAAS options and ZooKeeper paths
/// as it is: no quoting or sanitizing questions.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// A JAAS option value in double quotes (`\` and `"` escaped).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl SecuritySpec {
    /// Checks the section; relative TLS paths are taken from `base` (the
    /// spec's directory).
    pub(super) fn validate(self, base: &Path) -> anyhow::Result<Security> {
        let Some(protocol) = SecurityProtocol::from_name(&self.protocol) else {
            bail!("security.protocol must be one of SSL, SASL_PLAINTEXT, SASL_SSL, PLAINTEXT; got '{}'", self.protocol);
        };
        let uses_sasl = matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl);
        let uses_tls = matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl);
        let sasl = if uses_sasl {
            let Some(mechanism) = self.mechanism.as_deref() else {
                bail!(
                    "security.mechanism is required with protocol {protocol} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
                );
            };
            let mut enabled: Vec<String> = Vec::new();
            for m in std::iter::once(mechanism).chain(self.mechanisms.iter().map(String::as_str)) {
                let upper = m.trim().to_ascii_uppercase();
                if !MECHANISMS.contains(&upper.as_str()) {
                    bail!("security mechanism '{m}' is not supported: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
                }
                if !enabled.contains(&upper) {
                    enabled.push(upper);
                }
            }
            let admin = self.admin.clone().unwrap_or_else(|| DEFAULT_ADMIN.to_string());
            for (name, password) in &self.users {
                if !plain_name(name) {
                    bail!("security.users: user name '{name}' may hold only letters, digits, '.', '_', '-' and '@'");
                }
                if password.is_empty() {
                    bail!("security.users: user '{name}' has an empty password");
                }
            }
            if !self.users.contains_key(&admin) {
                bail!(
                    "security.users must include the admin user '{admin}': the brokers and client.properties log in \
                     as it"
                );
            }
            Some(Sasl { inter_broker: enabled[0].clone(), enabled, admin, users: self.users })
        } else {
            if self.mechanism.is_some() || !self.mechanisms.is_empty() || !self.users.is_empty() || self.admin.is_some()
            {
                bail!("security.mechanism, mechanisms, users and admin go with protocol SASL_PLAINTEXT or SASL_SSL");
            }
            None
        };
        let tls = match (uses_tls, self.tls) {
            (true, None) => bail!("protocol {protocol} needs security.tls: {{ca: …, cert: …, key: …}} (PEM files)"),
            (false, Some(_)) => bail!("security.tls goes with protocol SSL or SASL_SSL, not {protocol}"),
            (false, None) => None,
            (true, Some(t)) => {
                let resolve = |p: PathBuf, what: &str| -> anyhow::Result<PathBuf> {
                    let p = if p.is_absolute() { p } else { base.join(p) };
                    if !p.is_file() {
                        bail!("security.tls.{what}: {} is not a file", p.display());
                    }
                    Ok(p)
                };
                Some(Tls { ca: resolve(t.ca, "ca")?, cert: resolve(t.cert, "cert")?, key: resolve(t.key, "key")? })
            }
        };
        for u in &self.super_users {
            if !u.split_once(':').is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty()) {
                bail!("security.super_users: '{u}' is not a principal (Type:name, e.g. User:admin)");
            }
        }
        if !self.authorizer && !self.super_users.is_empty() {
            bail!("security.super_users goes with authorizer: true");
        }
        let mut super_users = self.super_users;
        if self.authorizer && super_users.is_empty() {
            match &sasl {
                Some(s) => super_users.push(format!("User:{}", s.admin)),
                None => bail!(
                    "security.super_users is required with an authorizer and protocol {protocol}: the brokers' \
                     principal (User:ANONYMOUS, or User:CN=… from a client certificate) must be a super user"
                ),
            }
        }
        Ok(Security { protocol, sasl, tls, authorizer: self.authorizer, super_users })
    }
}

impl Security {
    /// The listener name: the protocol's own name, so the default
    /// `listener.security.protocol.map` already covers it.
    fn listener(&self) -> &'static str {
        self.protocol.name()
    }

    /// Where the broker key store (key and chain in one PEM file, Kafka's
    /// `ssl.keystore.type=PEM` layout) goes in the cluster directory.
    fn keystore_path(dir: &Path) -> PathBuf {
        dir.join("tls").join("broker-keystore.pem")
    }

    /// Where the admin client settings go.
    pub(super) fn client_properties_path(dir: &Path) -> PathBuf {
        dir.join("client.properties")
    }

    /// The JAAS line logging in as the admin user with `mechanism`, with
    /// PLAIN's `user_<name>` entries when `with_users`.
    fn jaas(&self, mechanism: &str, with_users: bool) -> String {
        let Some(sasl) = &self.sasl else { return String::new() };
        let module = if mechanism == "PLAIN" { PLAIN_MODULE } else { SCRAM_MODULE };
        let admin_password = sasl.users.get(&sasl.admin).map(String::as_str).unwrap_or_default();
        let mut line =
            format!("{module} required username={} password={}", quoted(&sasl.admin), quoted(admin_password));
        if with_users {
            for (user, password) in &sasl.users {
                line.push_str(&format!(" user_{user}={}", quoted(password)));
            }
        }
        line.push(';');
        line
    }

    /// The broker keys for a broker on `port` (replacing the plain
    /// `listeners` line), in the order they are written.
    pub(super) fn broker_properties(&self, port: u16, dir: &Path) -> Vec<(String, String)> {
        let listener = self.listener();
        let prefix = format!("listener.name.{}", listener.to_ascii_lowercase());
        let mut out: Vec<(String, String)> = vec![
            ("listeners".into(), format!("{listener}://127.0.0.1:{port}")),
            ("listener.security.protocol.map".into(), format!("{listener}:{listener}")),
            ("inter.broker.listener.name".into(), listener.into()),
        ];
        if let Some(sasl) = &self.sasl {
            out.push(("sasl.enabled.mechanisms".into(), sasl.enabled.join(",")));
            out.push(("sasl.mechanism.inter.broker.protocol".into(), sasl.inter_broker.clone()));
            for mechanism in &sasl.enabled {
                out.push((
                    format!("{prefix}.{}.sasl.jaas.config", mechanism.to_ascii_lowercase()),
                    self.jaas(mechanism, mechanism == "PLAIN"),
                ));
            }
        }
        if let Some(tls) = &self.tls {
            out.push(("ssl.keystore.type".into(), "PEM".into()));
            out.push(("ssl.keystore.location".into(), Self::keystore_path(dir).display().to_string()));
            out.push(("ssl.truststore.type".into(), "PEM".into()));
            out.push(("ssl.truststore.location".into(), tls.ca.display().to_string()));
        }
        if self.authorizer {
            out.push(("authorizer.class.name".into(), AUTHORIZER_CLASS.into()));
            out.push(("super.users".into(), self.super_users.join(";")));
        }
        out
    }

    /// `client.properties` for the admin user.
    pub(super) fn client_properties(&self) -> Vec<(String, String)> {
        let mut out = vec![("security.protocol".to_string(), self.protocol.name().to_string())];
        if let Some(sasl) = &self.sasl {
            out.push(("sasl.mechanism".into(), sasl.inter_broker.clone()));
            out.push(("sasl.jaas.config".into(), self.jaas(&sasl.inter_broker, false)));
        }
        if let Some(tls) = &self.tls {
            out.push(("ssl.truststore.type".into(), "PEM".into()));
            out.push(("ssl.truststore.location".into(), tls.ca.display().to_string()));
        }
        out
    }

    /// Every (user, SCRAM mechanism, password) to store in ZooKeeper before
    /// the brokers start: each user for each SCRAM mechanism offered.
    pub(super) fn scram_users(&self) -> Vec<(String, String, String)> {
        let Some(sasl) = &self.sasl else { return Vec::new() };
        let mut out = Vec::new();
        for mechanism in sasl.enabled.iter().filter(|m| m.starts_with("SCRAM-")) {
            for (user, password) in &sasl.users {
                out.push((user.clone(), mechanism.clone(), password.clone()));
            }
        }
        out
    }

    /// Writes the broker key store (the key and the certificate chain in one
    /// PEM file) and `client.properties`, both readable by the owner only.
    pub(super) fn write_files(&self, dir: &Path, header: impl Fn(&[(String, String)]) -> String) -> anyhow::Result<()> {
        if let Some(tls) = &self.tls {
            let key = fs::read_to_string(&tls.key).with_context(|| format!("cannot read {}", tls.key.display()))?;
            let cert = fs::read_to_string(&tls.cert).with_context(|| format!("cannot read {}", tls.cert.display()))?;
            if !key.contains("PRIVATE KEY-----") {
                bail!("security.tls.key: {} holds no PEM private key", tls.key.display());
            }
            if key.contains("ENCRYPTED PRIVATE KEY") {
                bail!("security.tls.key: {} is encrypted; give an unencrypted PEM key", tls.key.display());
            }
            if !cert.contains("-----BEGIN CERTIFICATE-----") {
                bail!("security.tls.cert: {} holds no PEM certificate", tls.cert.display());
            }
            let path = Self::keystore_path(dir);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            write_private(&path, &format!("{}\n{}", key.trim_end(), cert))?;
        }
        write_private(&Self::client_properties_path(dir), &header(&self.client_properties()))
    }
}

/// Writes a file only its owner may read (it holds a key or a password).
pub(super) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode on open; make sure it is private too.
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SecuritySpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn props(list: &[(String, String)]) -> BTreeMap<&str, &str> {
        list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn tls_files(dir: &Path) {
        fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n").unwrap();
        fs::write(dir.join("broker.pem"), "-----BEGIN CERTIFICATE-----\nQg==\n-----END CERTIFICATE-----\n").unwrap();
        fs::write(dir.join("broker-key.pem"), "-----BEGIN PRIVATE KEY-----\nSw==\n-----END PRIVATE KEY-----\n")
            .unwrap();
    }

    #[test]
    fn sasl_ssl_with_scram_and_an_authorizer() {
        let tmp = tempfile::tempdir().unwrap();
        tls_files(tmp.path());
        let s = spec(
            "protocol: SASL_SSL\nmechanism: SCRAM-SHA-512\nmechanisms: [PLAIN]\n\
             users: {admin: admin-secret, alice: 'al\"ice'}\n\
             tls: {ca: ca.pem, cert: broker.pem, key: broker-key.pem}\nauthorizer: true\n",
        )
        .validate(tmp.path())
        .unwrap();
        let dir = tmp.path().join("cluster");
        let broker = s.broker_properties(9093, &dir);
        let p = props(&broker);
        assert_eq!(p["listeners"], "SASL_SSL://127.0.0.1:9093");
        assert_eq!(p["listener.security.protocol.map"], "SASL_SSL:SASL_SSL");
        assert_eq!(p["inter.broker.listener.name"], "SASL_SSL");
        assert_eq!(p["sasl.enabled.mechanisms"], "SCRAM-SHA-512,PLAIN");
        assert_eq!(p["sasl.mechanism.inter.broker.protocol"], "SCRAM-SHA-512");
        assert_eq!(
            p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" \
             password=\"admin-secret\";"
        );
        assert_eq!(
            p["listener.name.sasl_ssl.plain.sasl.jaas.config"],
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" \
             password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"al\\\"ice\";"
        );
        assert_eq!(p["ssl.keystore.type"], "PEM");
        assert_eq!(p["ssl.keystore.location"], dir.join("tls/broker-keystore.pem").display().to_string());
        assert_eq!(p["ssl.truststore.type"], "PEM");
        assert_eq!(p["ssl.truststore.location"], tmp.path().join("ca.pem").display().to_string());
        assert_eq!(p["authorizer.class.name"], "kafka.security.authorizer.AclAuthorizer");
        assert_eq!(p["super.users"], "User:admin");

        let client = s.client_properties();
        let c = props(&client);
        assert_eq!(c["security.protocol"], "SASL_SSL");
        assert_eq!(c["sasl.mechanism"], "SCRAM-SHA-512");
        assert!(c["sasl.jaas.config"].starts_with("org.apache.kafka.common.security.scram.ScramLoginModule"));
        assert!(!c["sasl.jaas.config"].contains("user_"), "no user list in a client login");
        assert_eq!(c["ssl.truststore.location"], tmp.path().join("ca.pem").display().to_string());

        let users = s.scram_users();
        assert_eq!(users.len(), 2, "each user once, for the one SCRAM mechanism");
        assert!(users.iter().all(|(_, m, _)| m == "SCRAM-SHA-512"));
        assert!(!format!("{s:?}").contains("admin-secret"), "Debug hides passwords");

        s.write_files(&dir, |entries| entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect()).unwrap();
        let keystore = fs::read_to_string(dir.join("tls/broker-keystore.pem")).unwrap();
        assert!(keystore.starts_with("-----BEGIN PRIVATE KEY-----") && keystore.contains("BEGIN CERTIFICATE"));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("client.properties")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(fs::read_to_string(dir.join("client.properties")).unwrap().contains("security.protocol=SASL_SSL"));
    }

    #[test]
    fn the_generated_broker_keys_are_known_broker_configs() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec("protocol: SASL_PLAINTEXT\nmechanism: PLAIN\nusers: {admin: a}\nauthorizer: true\n")
            .validate(tmp.path())
            .unwrap();
        let mut text = String::from("broker.id=0\nzookeeper.connect=127.0.0.1:2181\n");
        for (k, v) in s.broker_properties(9092, tmp.path()) {
            text.push_str(&format!("{k}={v}\n"));
        }
        let path = tmp.path().join("broker.properties");
        fs::write(&path, text).unwrap();
        let (config, _) = crate::config::BrokerConfig::load(Some(&path), &[]).unwrap();
        assert_eq!(config.inter_broker_listener_name, "SASL_PLAINTEXT");
        assert!(s.scram_users().is_empty(), "PLAIN users live in the JAAS line, not ZooKeeper");
    }

    #[test]
    fn mistakes_are_refused_with_the_key_named() {
        let tmp = tempfile::tempdir().unwrap();
        let err = |yaml: &str| spec(yaml).validate(tmp.path()).unwrap_err().to_string();
        assert!(err("protocol: TLS").contains("security.protocol"));
        assert!(err("protocol: SASL_PLAINTEXT\nusers: {admin: a}").contains("security.mechanism is required"));
        assert!(err("protocol: SASL_PLAINTEXT\nmechanism: GSSAPI\nusers: {admin: a}").contains("GSSAPI"));
        assert!(err("protocol: SASL_PLAINTEXT\nmechanism: PLAIN\nusers: {bob: b}").contains("admin user 'admin'"));
        assert!(err("protocol: SASL_PLAINTEXT\nmechanism: PLAIN\nusers: {admin: a, 'x y': b}").contains("user name"));
        assert!(err("protocol: SSL").contains("needs security.tls"));
        assert!(err("protocol: SSL\ntls: {ca: no.pem, cert: no.pem, key: no.pem}").contains("security.tls.ca"));
        assert!(err("protocol: SSL\nauthorizer: true\ntls: {ca: /dev/null, cert: /x, key: /y}").contains("tls"));
        assert!(err("protocol: PLAINTEXT\nauthorizer: true").contains("super_users is required"));
        assert!(err("protocol: PLAINTEXT\nsuper_users: [User:a]").contains("goes with authorizer"));
        assert!(err("protocol: PLAINTEXT\nauthorizer: true\nsuper_users: [admin]").contains("not a principal"));
        assert!(err("protocol: PLAINTEXT\nmechanism: PLAIN").contains("go with protocol SASL"));
        let ok = spec("protocol: PLAINTEXT\nauthorizer: true\nsuper_users: [User:ANONYMOUS]").validate(tmp.path());
        assert_eq!(props(&ok.unwrap().broker_properties(1, tmp.path()))["super.users"], "User:ANONYMOUS");
    }
}
