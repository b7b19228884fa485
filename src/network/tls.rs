//! TLS with rustls: server configs for SSL/SASL_SSL listeners, client configs for our
//! client and inter-broker connections, built from the typed settings of
//! [`crate::config::security`], plus the principal name of a verified client certificate.
//!
//! This is where PEM files are read and where certificate trouble is reported, always
//! naming the config key that pointed at the bad material and never printing key
//! material. Configs use the ring provider through `builder_with_provider`, so nothing
//! process-global is installed and two brokers in one process (tests) cannot disagree.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;

use crate::config::security::{ClientAuth, KeyStore, TlsClientSettings, TlsServerSettings, TlsVersion, TrustStore};

pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Problems building a TLS config. Each names the key whose value is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {key} file {}: {source}", path.display())]
    Read {
        key: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{key}: no PEM private key found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)")]
    NoKey { key: String },
    #[error("{key}: the PEM private key is encrypted; gregor reads unencrypted keys only (e.g. `openssl pkcs8 -topk8 -nocrypt`)")]
    EncryptedKey { key: String },
    #[error("{key}: no PEM certificate found (expected CERTIFICATE blocks)")]
    NoCertificate { key: String },
    #[error("{key}: malformed PEM: {reason}")]
    Pem { key: String, reason: String },
    #[error("{key}: {source}")]
    Rustls {
        key: String,
        #[source]
        source: rustls::Error,
    },
    #[error("{key}: {reason}")]
    Verifier { key: String, reason: String },
    #[error("ssl.cipher.suites: unknown or unsupported cipher suite {0}")]
    UnknownCipherSuite(String),
    #[error("no trusted CA certificates: set ssl.truststore.location (PEM) — no system CA bundle was found either")]
    NoTrustStore,
}

/// System CA bundles, tried in order when a client gives no trust store.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The rustls config for a TLS listener.
pub fn server_config(settings: &TlsServerSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider(&settings.cipher_suites)?;
    let versions = versions(&settings.protocols);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls { key: "ssl.enabled.protocols".into(), source })?;
    let verifier = match (settings.client_auth, &settings.truststore) {
        (ClientAuth::None, _) | (_, None) => WebPkiClientVerifier::no_client_auth(),
        (auth, Some(trust)) => {
            let roots = Arc::new(roots(trust)?);
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let builder = if auth == ClientAuth::Requested { builder.allow_unauthenticated() } else { builder };
            builder
                .build()
                .map_err(|e| TlsError::Verifier { key: trust_key(trust).to_string(), reason: e.to_string() })?
        }
    };
    let (chain, key) = key_store(&settings.keystore)?;
    let config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls { key: key_store_key(&settings.keystore).to_string(), source })?;
    Ok(Arc::new(config))
}

/// The rustls config for a TLS client.
pub fn client_config(settings: &TlsClientSettings) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider(&settings.cipher_suites)?;
    let versions = versions(&settings.protocols);
    let roots = Arc::new(match &settings.truststore {
        Some(trust) => roots(trust)?,
        None => system_roots()?,
    });
    let trust_name = settings.truststore.as_ref().map_or("ssl.truststore.location", trust_key).to_string();
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Verifier { key: trust_name, reason: e.to_string() })?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls { key: "ssl.enabled.protocols".into(), source })?;
    let builder = if settings.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostName(webpki)))
    };
    let config = match &settings.keystore {
        Some(store) => {
            let (chain, key) = key_store(store)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::Rustls { key: key_store_key(store).to_string(), source })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Runs the client handshake over `tcp`, checking the certificate against `host` (a DNS
/// name, or an IP literal checked against the certificate's IP address SANs).
pub async fn connect(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("'{host}' is not a valid TLS server name")))?;
    TlsConnector::from(config).connect(name, tcp).await
}

/// The peer's certificate chain (DER, leaf first) after a server-side handshake.
pub fn peer_certificates(conn: &rustls::ServerConnection) -> Option<Vec<Vec<u8>>> {
    conn.peer_certificates().map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
}

/// The principal name Kafka's `DEFAULT` mapping gives a client certificate: its Subject
/// DN in RFC 2253 form. `None` when the leaf cannot be read.
pub fn principal_name(leaf: &[u8]) -> Option<String> {
    super::x509::subject_dn(leaf)
}

/// The ring provider, limited to the listed cipher suites (IANA names) when any are.
fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>, TlsError> {
    // rustls 0.23.48 deprecates the ring provider because it has no post-quantum key
    // exchange (X25519MLKEM768 needs aws-lc-rs). We keep ring for build time (aws-lc-sys is
    // a large C build); Java Kafka clients do not offer post-quantum groups either.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen = Vec::new();
        for name in cipher_suites {
            let found = all.iter().find(|s| iana_name(s.suite()).is_some_and(|n| n == *name));
            match found {
                Some(s) => chosen.push(*s),
                None => return Err(TlsError::UnknownCipherSuite(name.clone())),
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// rustls spells TLS 1.3 suites `TLS13_AES_128_GCM_SHA256`; IANA (and Java) `TLS_AES_128_GCM_SHA256`.
fn iana_name(suite: rustls::CipherSuite) -> Option<String> {
    let name = suite.as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    })
}

fn versions(protocols: &[TlsVersion]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    protocols
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect()
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { key: key.to_string(), path: path.to_path_buf(), source })
}

fn trust_key(trust: &TrustStore) -> &str {
    match trust {
        TrustStore::File { key, .. } | TrustStore::Inline { key, .. } => key,
    }
}

fn key_store_key(store: &KeyStore) -> &str {
    match store {
        KeyStore::File { key, .. } => key,
        KeyStore::Inline { key_key, .. } | KeyStore::Files { key_key, .. } => key_key,
    }
}

fn roots(trust: &TrustStore) -> Result<RootCertStore, TlsError> {
    let (key, pem) = match trust {
        TrustStore::File { key, path } => (key.as_str(), read(key, path)?),
        TrustStore::Inline { key, certificates } => (key.as_str(), certificates.expose().as_bytes().to_vec()),
    };
    let certs = certificates(key, &pem)?;
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|source| TlsError::Rustls { key: key.to_string(), source })?;
    }
    Ok(store)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    for path in SYSTEM_CA_BUNDLES {
        let Ok(pem) = std::fs::read(path) else { continue };
        let mut store = RootCertStore::empty();
        // A system bundle may hold a certificate webpki dislikes; skip it, keep the rest.
        let (added, _) = store.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
        if added > 0 {
            return Ok(store);
        }
    }
    Err(TlsError::NoTrustStore)
}

fn certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| pem_error(key, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { key: key.to_string() });
    }
    Ok(certs)
}

fn private_key(key: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::EncryptedKey { key: key.to_string() });
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey { key: key.to_string() },
        other => pem_error(key, other),
    })
}

fn pem_error(key: &str, e: rustls::pki_types::pem::Error) -> TlsError {
    use rustls::pki_types::pem::Error;
    // Describe the problem without quoting the (possibly secret) text.
    let reason = match e {
        Error::MissingSectionEnd { .. } => "a BEGIN line without its END line".to_string(),
        Error::IllegalSectionStart { .. } => "an unreadable BEGIN line".to_string(),
        Error::Base64Decode(_) => "invalid base64 inside a PEM block".to_string(),
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM blocks".to_string(),
        _ => "unreadable PEM text".to_string(),
    };
    TlsError::Pem { key: key.to_string(), reason }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The private key and certificate chain of a key store.
fn key_store(store: &KeyStore) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match store {
        KeyStore::File { key, path } => {
            let pem = read(key, path)?;
            Ok((certificates(key, &pem)?, private_key(key, &pem)?))
        }
        KeyStore::Inline { key_key, key, chain_key, chain } => {
            Ok((certificates(chain_key, chain.expose().as_bytes())?, private_key(key_key, key.expose().as_bytes())?))
        }
        KeyStore::Files { key_key, key_path, chain_key, chain_path } => {
            let chain = read(chain_key, chain_path)?;
            let key = read(key_key, key_path)?;
            Ok((certificates(chain_key, &chain)?, private_key(key_key, &key)?))
        }
    }
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is still verified against
/// the trust store, only the host name check is skipped, as in Kafka.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::security::password::Password;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A CA, a server certificate for localhost/127.0.0.1 signed by it, a client
    /// certificate `CN=client,OU=test,O=gregor`, and an unrelated second CA.
    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn new() -> Pki {
            let dir = tempfile::tempdir().unwrap();
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca.distinguished_name.push(rcgen::DnType::CommonName, "test ca");
            let ca_cert = ca.self_signed(&ca_key).unwrap();
            let issuer = rcgen::Issuer::new(ca, ca_key);
            let leaf = |names: Vec<String>, dn: &[(rcgen::DnType, &str)]| {
                let key = rcgen::KeyPair::generate().unwrap();
                let mut p = rcgen::CertificateParams::new(names).unwrap();
                p.distinguished_name = rcgen::DistinguishedName::new();
                for (t, v) in dn {
                    p.distinguished_name.push(t.clone(), *v);
                }
                let cert = p.signed_by(&key, &issuer).unwrap();
                (cert.pem(), key.serialize_pem())
            };
            let (server, server_key) =
                leaf(vec!["localhost".into(), "127.0.0.1".into()], &[(rcgen::DnType::CommonName, "broker")]);
            let (client, client_key) = leaf(
                vec![],
                &[
                    (rcgen::DnType::OrganizationName, "gregor"),
                    (rcgen::DnType::OrganizationalUnitName, "test"),
                    (rcgen::DnType::CommonName, "client"),
                ],
            );
            let (other_name, other_name_key) = leaf(vec!["elsewhere.example".into()], &[]);
            let other_key = rcgen::KeyPair::generate().unwrap();
            let mut other = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            other.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let other = other.self_signed(&other_key).unwrap();
            let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
            write("ca.pem", ca_cert.pem());
            write("other-ca.pem", other.pem());
            write("server.pem", format!("{server_key}{server}"));
            write("client.pem", format!("{client_key}{client}"));
            write("client.crt", client);
            write("client.key", client_key);
            write("elsewhere.pem", format!("{other_name_key}{other_name}"));
            Pki { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn server(&self, keystore: &str, client_auth: ClientAuth) -> TlsServerSettings {
            TlsServerSettings {
                listener: "SSL".into(),
                keystore: KeyStore::File { key: "ssl.keystore.location".into(), path: self.path(keystore) },
                truststore: Some(TrustStore::File { key: "ssl.truststore.location".into(), path: self.path("ca.pem") }),
                client_auth,
                protocols: vec![TlsVersion::Tls12, TlsVersion::Tls13],
                cipher_suites: vec![],
            }
        }

        fn client(&self, ca: &str, keystore: Option<&str>) -> TlsClientSettings {
            TlsClientSettings {
                truststore: Some(TrustStore::File { key: "ssl.truststore.location".into(), path: self.path(ca) }),
                keystore: keystore.map(|k| KeyStore::File { key: "ssl.keystore.location".into(), path: self.path(k) }),
                verify_hostname: true,
                protocols: vec![TlsVersion::Tls12, TlsVersion::Tls13],
                cipher_suites: vec![],
            }
        }
    }

    /// Serves one TLS connection that echoes 4 bytes; returns the client's outcome and the
    /// principal name the server saw.
    async fn exchange(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> (io::Result<()>, Option<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = TlsAcceptor::from(server).accept(tcp).await.ok()?;
            let principal =
                peer_certificates(tls.get_ref().1).and_then(|c| c.first().and_then(|leaf| principal_name(leaf)));
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.ok()?;
            tls.write_all(&buf).await.ok()?;
            tls.flush().await.ok()?;
            Some(principal.unwrap_or_else(|| "ANONYMOUS".into()))
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let result = async {
            let mut tls = connect(client, host, tcp).await?;
            tls.write_all(b"ping").await?;
            tls.flush().await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            Ok(())
        }
        .await;
        (result, srv.await.unwrap())
    }

    #[tokio::test]
    async fn handshake_by_ip_and_by_name() {
        let pki = Pki::new();
        let server = server_config(&pki.server("server.pem", ClientAuth::None)).unwrap();
        let client = client_config(&pki.client("ca.pem", None)).unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let (result, principal) = exchange(server.clone(), client.clone(), host).await;
            result.unwrap();
            assert_eq!(principal.as_deref(), Some("ANONYMOUS"));
        }
    }

    #[tokio::test]
    async fn wrong_ca_and_wrong_name_are_refused() {
        let pki = Pki::new();
        let server = server_config(&pki.server("server.pem", ClientAuth::None)).unwrap();
        let wrong_ca = client_config(&pki.client("other-ca.pem", None)).unwrap();
        let (result, _) = exchange(server.clone(), wrong_ca, "127.0.0.1").await;
        assert!(result.is_err());

        let elsewhere = server_config(&pki.server("elsewhere.pem", ClientAuth::None)).unwrap();
        let client = client_config(&pki.client("ca.pem", None)).unwrap();
        let (result, _) = exchange(elsewhere.clone(), client, "127.0.0.1").await;
        assert!(result.unwrap_err().to_string().contains("not valid for name"));
        // With the host name check off, only the chain is verified.
        let mut lax = pki.client("ca.pem", None);
        lax.verify_hostname = false;
        let (result, _) = exchange(elsewhere, client_config(&lax).unwrap(), "127.0.0.1").await;
        result.unwrap();
    }

    #[tokio::test]
    async fn required_client_auth_gives_the_subject_as_principal() {
        let pki = Pki::new();
        let server = server_config(&pki.server("server.pem", ClientAuth::Required)).unwrap();
        let anonymous = client_config(&pki.client("ca.pem", None)).unwrap();
        let (_, principal) = exchange(server.clone(), anonymous, "localhost").await;
        assert_eq!(principal, None, "the server must refuse a client without a certificate");

        let with_cert = client_config(&pki.client("ca.pem", Some("client.pem"))).unwrap();
        let (result, principal) = exchange(server, with_cert, "localhost").await;
        result.unwrap();
        assert_eq!(principal.as_deref(), Some("CN=client,OU=test,O=gregor"));

        // Requested: both are accepted.
        let server = server_config(&pki.server("server.pem", ClientAuth::Requested)).unwrap();
        let anonymous = client_config(&pki.client("ca.pem", None)).unwrap();
        let (result, principal) = exchange(server.clone(), anonymous, "localhost").await;
        result.unwrap();
        assert_eq!(principal.as_deref(), Some("ANONYMOUS"));
        let mut separate = pki.client("ca.pem", None);
        separate.keystore = Some(KeyStore::Files {
            key_key: "ssl.key.location".into(),
            key_path: pki.path("client.key"),
            chain_key: "ssl.certificate.location".into(),
            chain_path: pki.path("client.crt"),
        });
        let (result, principal) = exchange(server, client_config(&separate).unwrap(), "localhost").await;
        result.unwrap();
        assert_eq!(principal.as_deref(), Some("CN=client,OU=test,O=gregor"));
    }

    #[test]
    fn errors_name_the_key_and_hide_the_material() {
        let pki = Pki::new();
        let mut s = pki.server("missing.pem", ClientAuth::None);
        let err = server_config(&s).unwrap_err().to_string();
        assert!(err.contains("ssl.keystore.location") && err.contains("missing.pem"), "{err}");

        s.keystore = KeyStore::File { key: "ssl.keystore.location".into(), path: pki.path("ca.pem") };
        let err = server_config(&s).unwrap_err().to_string();
        assert!(err.contains("no PEM private key"), "{err}");

        let secret = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nc2VjcmV0\n-----END ENCRYPTED PRIVATE KEY-----\n";
        s.keystore = KeyStore::Inline {
            key_key: "ssl.keystore.key".into(),
            key: Password::new(secret),
            chain_key: "ssl.keystore.certificate.chain".into(),
            chain: Password::new(std::fs::read_to_string(pki.path("client.crt")).unwrap()),
        };
        let err = server_config(&s).unwrap_err().to_string();
        assert!(err.contains("ssl.keystore.key") && err.contains("encrypted") && !err.contains("c2VjcmV0"), "{err}");

        let mut s = pki.server("server.pem", ClientAuth::None);
        s.cipher_suites = vec!["TLS_NOPE".into()];
        assert!(server_config(&s).unwrap_err().to_string().contains("TLS_NOPE"));
        s.cipher_suites = vec!["TLS_AES_256_GCM_SHA384".into(), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
        server_config(&s).unwrap();
    }
}
