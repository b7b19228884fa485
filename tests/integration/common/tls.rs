//! Test certificates, generated per test with rcgen into the test's temp dir: a CA, a
//! broker certificate for `localhost` and `127.0.0.1`, a client certificate
//! `CN=client,OU=test,O=gregor`, and a second, unrelated CA (for "wrong CA refused").
//! Nothing is committed; ECDSA P-256 keys take milliseconds.

use std::path::{Path, PathBuf};

/// PEM files of one test's PKI.
pub struct TestPki {
    _dir: tempfile::TempDir,
    /// The CA that signed the broker and client certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    /// Broker key + certificate in one file (Kafka's PEM key store file).
    pub broker_keystore: PathBuf,
    /// Client key + certificate in one file.
    pub client_keystore: PathBuf,
    /// The client certificate alone and its key alone (librdkafka's two files).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate signed by the unrelated CA.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert, rcgen::Issuer::new(params, key))
}

fn leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
    dn: &[(rcgen::DnType, &str)],
) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in dn {
        params.distinguished_name.push(t.clone(), *v);
    }
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca_cert, ca_issuer) = ca("gregor test CA");
        let (other_cert, other_issuer) = ca("unrelated CA");
        let (broker, broker_key) =
            leaf(&ca_issuer, &["localhost", "127.0.0.1"], &[(rcgen::DnType::CommonName, "broker")]);
        let (client, client_key) = leaf(
            &ca_issuer,
            &[],
            &[
                (rcgen::DnType::OrganizationName, "gregor"),
                (rcgen::DnType::OrganizationalUnitName, "test"),
                (rcgen::DnType::CommonName, "client"),
            ],
        );
        let (stranger, stranger_key) = leaf(&other_issuer, &[], &[(rcgen::DnType::CommonName, "stranger")]);
        let write = |name: &str, text: &str| -> PathBuf {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        TestPki {
            ca: write("ca.pem", &ca_cert.pem()),
            other_ca: write("other-ca.pem", &other_cert.pem()),
            broker_keystore: write("broker.pem", &format!("{broker_key}{broker}")),
            client_keystore: write("client.pem", &format!("{client_key}{client}")),
            client_cert: write("client.crt", &client),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.crt", &stranger),
            stranger_key: write("stranger.key", &stranger_key),
            _dir: dir,
        }
    }

    /// Broker overrides for TLS on every listener: PEM key store and trust store.
    pub fn broker_overrides(&self) -> Vec<String> {
        vec![
            "ssl.keystore.type=PEM".to_string(),
            format!("ssl.keystore.location={}", self.broker_keystore.display()),
            "ssl.truststore.type=PEM".to_string(),
            format!("ssl.truststore.location={}", self.ca.display()),
        ]
    }

    /// A client properties file (`--command-config`) for `security.protocol=SSL`, with
    /// the client certificate when `with_cert`.
    pub fn client_properties(&self, dir: &Path, ca: &Path, with_cert: bool) -> PathBuf {
        let mut text =
            format!("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\n", ca.display());
        if with_cert {
            text.push_str(&format!(
                "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
                self.client_keystore.display()
            ));
        }
        let path = dir.join(if with_cert { "client-mtls.properties" } else { "client-ssl.properties" });
        std::fs::write(&path, text).expect("write client properties");
        path
    }
}
