//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks it: key derivation,
//! Kafka's stored credential format, the `/config/users/<user>` znode JSON, and both halves
//! of the exchange (server and client) as pure state machines — bytes in, bytes out, no I/O.
//!
//! Stable API (the SCRAM admin APIs and `kafka-configs --entity-type users` build on it):
//! [`ScramMechanism`], [`ScramCredential`] (`derive`, `from_salted_password`,
//! `to_kafka_string`, `parse`), [`salted_password`], [`sanitize_user`]/[`desanitize_user`],
//! [`UserConfigZnode`] (with [`decode_users_znode_json`]/[`encode_users_znode_json`]),
//! [`ScramServer`] and [`ScramClient`].
//!
//! Kafka does no SASLprep: a password is its UTF-8 bytes, so neither do we. Salts, salted
//! passwords and keys are secrets: [`ScramCredential`]'s `Debug` shows the iterations only,
//! and no error carries a proof, key or password. Proofs are compared in constant time.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::Digest;

/// Kafka's bounds on SCRAM iterations (both mechanisms).
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;

/// A SCRAM mechanism Kafka supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms, in Kafka's order.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name (`SCRAM-SHA-256`), also the `/config/users` key.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a mechanism name (exact, as Kafka: upper case).
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's wire id of the mechanism in the SCRAM admin APIs (1 = SHA-256, 2 = SHA-512).
    pub fn type_id(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a wire id from the SCRAM admin APIs.
    pub fn from_type_id(id: i8) -> Option<ScramMechanism> {
        match id {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = match <M as KeyInit>::new_from_slice(key) {
                Ok(mac) => mac,
                Err(_) => return Vec::new(),
            };
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<hmac::Hmac<sha2::Sha256>>(key, parts),
            ScramMechanism::Sha512 => run::<hmac::Hmac<sha2::Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => sha2::Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn failure_message(self) -> String {
        format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            self.name()
        )
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the credential codecs (never carrying secret material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    #[error("Iterations {iterations} is less than the minimum {MIN_ITERATIONS} for {mechanism}")]
    TooFewIterations { mechanism: ScramMechanism, iterations: u32 },
    #[error("Iterations {iterations} is more than the maximum {MAX_ITERATIONS} for {mechanism}")]
    TooManyIterations { mechanism: ScramMechanism, iterations: u32 },
    #[error("invalid SCRAM credential: {0}")]
    InvalidCredential(&'static str),
    #[error("invalid user config JSON: {0}")]
    InvalidJson(String),
}

/// `Hi(password, salt, i)` of RFC 5802: PBKDF2-HMAC with one output block — Kafka's
/// "salted password".
pub fn salted_password(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut u = mechanism.hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()]);
    let mut result = u.clone();
    for _ in 1..iterations {
        u = mechanism.hmac(password.as_bytes(), &[&u]);
        for (r, x) in result.iter_mut().zip(&u) {
            *r ^= x;
        }
    }
    result
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the thread's CSPRNG (salts, nonces).
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    bytes
}

fn random_nonce() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes())
}

/// What the server stores for a user and mechanism (Kafka's `ScramCredential`).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

fn check_iterations(mechanism: ScramMechanism, iterations: u32) -> Result<(), ScramError> {
    if iterations < MIN_ITERATIONS {
        return Err(ScramError::TooFewIterations { mechanism, iterations });
    }
    if iterations > MAX_ITERATIONS {
        return Err(ScramError::TooManyIterations { mechanism, iterations });
    }
    Ok(())
}

impl ScramCredential {
    /// Derives the credential for `password` with the given salt and iterations.
    pub fn derive(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Result<Self, ScramError> {
        check_iterations(mechanism, iterations)?;
        let salted = salted_password(mechanism, password, salt, iterations);
        Self::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// Derives the credential with a fresh random 32-byte salt (what `kafka-configs` does).
    pub fn generate(mechanism: ScramMechanism, password: &str, iterations: u32) -> Result<Self, ScramError> {
        Self::derive(mechanism, password, &random_bytes(), iterations)
    }

    /// Derives stored and server keys from an already salted password (what
    /// AlterUserScramCredentials carries: the client salts and hashes).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, ScramError> {
        check_iterations(mechanism, iterations)?;
        if salt.is_empty() {
            return Err(ScramError::InvalidCredential("empty salt"));
        }
        if salted.is_empty() {
            return Err(ScramError::InvalidCredential("empty salted password"));
        }
        let client_key = mechanism.hmac(salted, &[b"Client Key"]);
        Ok(ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, &[b"Server Key"]),
            iterations,
        })
    }

    /// Kafka's stored form: `salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`.
    pub fn to_kafka_string(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }

    /// Parses Kafka's stored form (keys in any order, all four required).
    pub fn parse(text: &str) -> Result<Self, ScramError> {
        let (mut salt, mut stored_key, mut server_key, mut iterations) = (None, None, None, None);
        for field in text.split(',') {
            let Some((key, value)) = field.split_once('=') else {
                return Err(ScramError::InvalidCredential("a field without `=`"));
            };
            let decode = |v: &str| B64.decode(v).map_err(|_| ScramError::InvalidCredential("a value is not base64"));
            match key {
                "salt" => salt = Some(decode(value)?),
                "stored_key" => stored_key = Some(decode(value)?),
                "server_key" => server_key = Some(decode(value)?),
                "iterations" => {
                    iterations = Some(
                        value
                            .parse::<u32>()
                            .map_err(|_| ScramError::InvalidCredential("iterations is not a number"))?,
                    )
                }
                _ => return Err(ScramError::InvalidCredential("an unknown field")),
            }
        }
        match (salt, stored_key, server_key, iterations) {
            (Some(salt), Some(stored_key), Some(server_key), Some(iterations)) => {
                Ok(ScramCredential { salt, stored_key, server_key, iterations })
            }
            _ => Err(ScramError::InvalidCredential("a field is missing (salt, stored_key, server_key, iterations)")),
        }
    }
}

/// Kafka's `Sanitizer.sanitize`: the ZooKeeper node name of a user (URL-encoding as Java's
/// `URLEncoder`, with `*` → `%2A` and space → `%20`).
pub fn sanitize_user(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Kafka's `Sanitizer.desanitize` (URL-decoding; `+` is a space). None when not valid.
pub fn desanitize_user(node: &str) -> Option<String> {
    let bytes = node.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = node.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The JSON of `/config/users/<sanitized user>`: `{"version":1,"config":{…}}`. Every key is
/// kept (quota keys such as `producer_byte_rate` share the znode), so a credential update
/// never drops them. `Debug` shows keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserConfigZnode {
    pub config: BTreeMap<String, String>,
}

impl fmt::Debug for UserConfigZnode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfigZnode").field("keys", &self.config.keys().collect::<Vec<_>>()).finish()
    }
}

impl UserConfigZnode {
    /// Decodes the znode data (empty data = no config).
    pub fn decode(bytes: &[u8]) -> Result<Self, ScramError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(UserConfigZnode::default());
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ScramError::InvalidJson(format!("not JSON ({e})")))?;
        let mut config = BTreeMap::new();
        match value.get("config") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        _ => return Err(ScramError::InvalidJson(format!("config value of `{k}` is not a string"))),
                    };
                    config.insert(k.clone(), v);
                }
            }
            Some(_) => return Err(ScramError::InvalidJson("`config` is not an object".into())),
        }
        Ok(UserConfigZnode { config })
    }

    /// Encodes as Kafka writes it: `{"version":1,"config":{…}}`.
    pub fn encode(&self) -> Vec<u8> {
        let value = serde_json::json!({ "version": 1, "config": self.config });
        value.to_string().into_bytes()
    }

    /// The credential stored for `mechanism`, if any.
    pub fn credential(&self, mechanism: ScramMechanism) -> Option<Result<ScramCredential, ScramError>> {
        self.config.get(mechanism.name()).map(|s| ScramCredential::parse(s))
    }

    /// Every well-formed credential (a malformed one is left out).
    pub fn credentials(&self) -> BTreeMap<ScramMechanism, ScramCredential> {
        ScramMechanism::ALL
            .into_iter()
            .filter_map(|m| self.credential(m).and_then(Result::ok).map(|c| (m, c)))
            .collect()
    }

    /// Sets (or replaces) the credential for `mechanism`.
    pub fn set_credential(&mut self, mechanism: ScramMechanism, credential: &ScramCredential) {
        self.config.insert(mechanism.name().to_string(), credential.to_kafka_string());
    }

    /// Removes the credential for `mechanism`; true if there was one.
    pub fn remove_credential(&mut self, mechanism: ScramMechanism) -> bool {
        self.config.remove(mechanism.name()).is_some()
    }
}

/// Decodes `/config/users/<user>` data (see [`UserConfigZnode`]).
pub fn decode_users_znode_json(bytes: &[u8]) -> Result<UserConfigZnode, ScramError> {
    UserConfigZnode::decode(bytes)
}

/// Encodes `/config/users/<user>` data (see [`UserConfigZnode`]).
pub fn encode_users_znode_json(znode: &UserConfigZnode) -> Vec<u8> {
    znode.encode()
}

/// A failed SCRAM exchange: the message for the client (Kafka's generic text, the same for an
/// unknown user and a wrong password), the reason for the broker's log (no secrets) and the
/// user name when it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScramAuthError {
    pub message: String,
    pub reason: &'static str,
    pub user: Option<String>,
}

/// One step of the server: a challenge to send, or success with the final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    Challenge(Vec<u8>),
    Success { server_final: Vec<u8>, username: String },
}

enum ServerState {
    ClientFirst,
    ClientFinal {
        username: String,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        credential: ScramCredential,
    },
    Finished,
}

/// The server half: client-first → server-first → client-final → server-final.
pub struct ScramServer {
    mechanism: ScramMechanism,
    server_nonce: String,
    state: ServerState,
}

fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn unescape_saslname(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// Splits `k=v,k=v,…` into attributes, in order.
fn attributes(msg: &str) -> Option<Vec<(char, &str)>> {
    msg.split(',')
        .map(|field| {
            let mut chars = field.chars();
            let key = chars.next()?;
            (chars.next() == Some('=')).then(|| (key, &field[key.len_utf8() + 1..]))
        })
        .collect()
}

fn printable_nonce(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        Self::with_nonce(mechanism, random_nonce())
    }

    /// With a fixed server nonce (tests against published vectors).
    pub fn with_nonce(mechanism: ScramMechanism, server_nonce: String) -> ScramServer {
        ScramServer { mechanism, server_nonce, state: ServerState::ClientFirst }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Feeds the next client message. `lookup` returns the stored credential of a user for
    /// this mechanism. Any error ends the exchange.
    pub fn step(
        &mut self,
        input: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ServerStep, ScramAuthError> {
        let state = std::mem::replace(&mut self.state, ServerState::Finished);
        match state {
            ServerState::ClientFirst => self.client_first(input, lookup),
            ServerState::ClientFinal { username, gs2_header, client_first_bare, server_first, nonce, credential } => {
                self.client_final(input, username, &gs2_header, &client_first_bare, &server_first, &nonce, &credential)
            }
            ServerState::Finished => Err(self.fail("message after the exchange finished", None)),
        }
    }

    fn fail(&self, reason: &'static str, user: Option<String>) -> ScramAuthError {
        ScramAuthError { message: self.mechanism.failure_message(), reason, user }
    }

    fn client_first(
        &mut self,
        input: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ServerStep, ScramAuthError> {
        let msg = std::str::from_utf8(input).map_err(|_| self.fail("client-first message is not UTF-8", None))?;
        // gs2-header: cbind-flag "," [authzid] ","
        let mut parts = msg.splitn(3, ',');
        let (Some(cbind), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(self.fail("client-first message has no gs2 header", None));
        };
        if cbind != "n" && cbind != "y" {
            return Err(self.fail("channel binding is not supported", None));
        }
        let authzid = match authzid {
            "" => None,
            a => match a.strip_prefix("a=").and_then(unescape_saslname) {
                Some(a) => Some(a),
                None => return Err(self.fail("malformed authorization id", None)),
            },
        };
        let attrs = attributes(bare).ok_or_else(|| self.fail("malformed client-first message", None))?;
        let (Some(('n', name)), Some(('r', nonce))) = (attrs.first().copied(), attrs.get(1).copied()) else {
            return Err(self.fail("client-first message lacks n= and r=", None));
        };
        let username = unescape_saslname(name).ok_or_else(|| self.fail("malformed user name", None))?;
        if username.is_empty() {
            return Err(self.fail("empty user name", None));
        }
        if !printable_nonce(nonce) {
            return Err(self.fail("malformed client nonce", Some(username)));
        }
        if bare.split(',').skip(2).any(|ext| ext.starts_with("tokenauth=")) {
            return Err(self.fail("delegation tokens are not supported", Some(username)));
        }
        if authzid.as_ref().is_some_and(|a| *a != username) {
            return Err(ScramAuthError {
                message: "Authentication failed: Client requested an authorization id that is different from username"
                    .into(),
                reason: "authorization id differs from the user name",
                user: Some(username),
            });
        }
        let Some(credential) = lookup(&username) else {
            return Err(self.fail("unknown user", Some(username)));
        };
        let nonce = format!("{nonce}{}", self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        let gs2_header =
            format!("{cbind},{},", authzid.map(|a| format!("a={}", escape_saslname(&a))).unwrap_or_default());
        let challenge = server_first.clone().into_bytes();
        self.state = ServerState::ClientFinal {
            username,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            credential,
        };
        Ok(ServerStep::Challenge(challenge))
    }

    #[allow(clippy::too_many_arguments)]
    fn client_final(
        &mut self,
        input: &[u8],
        username: String,
        gs2_header: &str,
        client_first_bare: &str,
        server_first: &str,
        nonce: &str,
        credential: &ScramCredential,
    ) -> Result<ServerStep, ScramAuthError> {
        let user = Some(username.clone());
        let msg =
            std::str::from_utf8(input).map_err(|_| self.fail("client-final message is not UTF-8", user.clone()))?;
        let Some((without_proof, proof)) = msg.rsplit_once(",p=") else {
            return Err(self.fail("client-final message has no proof", user));
        };
        let attrs =
            attributes(without_proof).ok_or_else(|| self.fail("malformed client-final message", user.clone()))?;
        let (Some(('c', cbind)), Some(('r', client_nonce))) = (attrs.first().copied(), attrs.get(1).copied()) else {
            return Err(self.fail("client-final message lacks c= and r=", user));
        };
        if B64.decode(cbind).ok().as_deref() != Some(gs2_header.as_bytes()) {
            return Err(self.fail("channel binding does not match the gs2 header", user));
        }
        if client_nonce != nonce {
            return Err(self.fail("invalid nonce in the final client message", user));
        }
        let proof = B64.decode(proof).map_err(|_| self.fail("proof is not base64", user.clone()))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = self.mechanism.hmac(&credential.stored_key, &[auth_message.as_bytes()]);
        if proof.len() != client_signature.len() {
            return Err(self.fail("invalid client proof", user));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        if !ct_eq(&self.mechanism.hash(&client_key), &credential.stored_key) {
            return Err(self.fail("invalid client proof", user));
        }
        let server_signature = self.mechanism.hmac(&credential.server_key, &[auth_message.as_bytes()]);
        let server_final = format!("v={}", B64.encode(server_signature)).into_bytes();
        Ok(ServerStep::Success { server_final, username })
    }
}

/// Why the client half failed (no secrets in the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramClientError {
    #[error("invalid SCRAM server-first message: {0}")]
    ServerFirst(&'static str),
    #[error("SCRAM server-final message: {0}")]
    ServerFinal(String),
    #[error("the broker's SCRAM signature does not match: it does not know this user's key")]
    BadServerSignature,
    #[error("SCRAM client used out of order")]
    OutOfOrder,
    #[error(transparent)]
    Iterations(#[from] ScramError),
}

enum ClientState {
    Start,
    ServerFirst { client_first_bare: String },
    ServerFinal { expected_signature: Vec<u8> },
    Finished,
}

/// The client half: `client_first` → `client_final(server-first)` → `verify_server_final`.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: super::password::Password,
    nonce: String,
    state: ClientState,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: super::password::Password) -> ScramClient {
        Self::with_nonce(mechanism, username, password, random_nonce())
    }

    /// With a fixed client nonce (tests against published vectors).
    pub fn with_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: super::password::Password,
        nonce: String,
    ) -> ScramClient {
        ScramClient { mechanism, username: username.to_string(), password, nonce, state: ClientState::Start }
    }

    /// The client-first message `n,,n=<user>,r=<nonce>`.
    pub fn client_first(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", escape_saslname(&self.username), self.nonce);
        let msg = format!("n,,{bare}").into_bytes();
        self.state = ClientState::ServerFirst { client_first_bare: bare };
        msg
    }

    /// Answers the server-first message with the client-final message (carrying the proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let ClientState::ServerFirst { client_first_bare } = std::mem::replace(&mut self.state, ClientState::Finished)
        else {
            return Err(ScramClientError::OutOfOrder);
        };
        let server_first = std::str::from_utf8(server_first).map_err(|_| ScramClientError::ServerFirst("not UTF-8"))?;
        let attrs = attributes(server_first).ok_or(ScramClientError::ServerFirst("malformed"))?;
        let (Some(('r', nonce)), Some(('s', salt)), Some(('i', iterations))) =
            (attrs.first().copied(), attrs.get(1).copied(), attrs.get(2).copied())
        else {
            return Err(ScramClientError::ServerFirst("lacks r=, s= or i="));
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramClientError::ServerFirst("the nonce does not extend the client nonce"));
        }
        let salt = B64.decode(salt).map_err(|_| ScramClientError::ServerFirst("salt is not base64"))?;
        let iterations: u32 =
            iterations.parse().map_err(|_| ScramClientError::ServerFirst("iterations is not a number"))?;
        check_iterations(self.mechanism, iterations)?;
        let salted = salted_password(self.mechanism, self.password.expose(), &salt, iterations);
        let client_key = self.mechanism.hmac(&salted, &[b"Client Key"]);
        let stored_key = self.mechanism.hash(&client_key);
        let server_key = self.mechanism.hmac(&salted, &[b"Server Key"]);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = self.mechanism.hmac(&stored_key, &[auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
        self.state = ClientState::ServerFinal {
            expected_signature: self.mechanism.hmac(&server_key, &[auth_message.as_bytes()]),
        };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the broker proves it holds the user's server key.
    pub fn verify_server_final(&mut self, server_final: &[u8]) -> Result<(), ScramClientError> {
        let ClientState::ServerFinal { expected_signature } = std::mem::replace(&mut self.state, ClientState::Finished)
        else {
            return Err(ScramClientError::OutOfOrder);
        };
        let text = String::from_utf8_lossy(server_final);
        if let Some(err) = text.strip_prefix("e=") {
            return Err(ScramClientError::ServerFinal(format!("the broker reports `{err}`")));
        }
        let Some(sig) = text.strip_prefix("v=") else {
            return Err(ScramClientError::ServerFinal("has no v= signature".into()));
        };
        let sig = sig.split(',').next().unwrap_or_default();
        match B64.decode(sig) {
            Ok(sig) if ct_eq(&sig, &expected_signature) => Ok(()),
            _ => Err(ScramClientError::BadServerSignature),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::security::password::Password;

    // RFC 7677 §3, SCRAM-SHA-256 example: user "user", password "pencil", 4096 iterations.
    const CNONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SNONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_credential() -> ScramCredential {
        let salt = B64.decode(SALT_B64).unwrap();
        ScramCredential::derive(ScramMechanism::Sha256, "pencil", &salt, 4096).unwrap()
    }

    #[test]
    fn rfc7677_vector_client_side() {
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", Password::new("pencil"), CNONCE.into());
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.client_final(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL.as_bytes());
        client.verify_server_final(SERVER_FINAL.as_bytes()).unwrap();
    }

    #[test]
    fn rfc7677_vector_server_side() {
        let mut server = ScramServer::with_nonce(ScramMechanism::Sha256, SNONCE.into());
        let cred = rfc_credential();
        let step = server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |u| (u == "user").then(|| cred.clone())).unwrap();
        assert_eq!(step, ServerStep::Challenge(SERVER_FIRST.as_bytes().to_vec()));
        let step = server.step(CLIENT_FINAL.as_bytes(), |_| None).unwrap();
        assert_eq!(
            step,
            ServerStep::Success { server_final: SERVER_FINAL.as_bytes().to_vec(), username: "user".into() }
        );
    }

    // SHA-512 reference computed independently with Python's hashlib.pbkdf2_hmac and hmac.
    #[test]
    fn sha512_credential_matches_an_independent_derivation() {
        let cred = ScramCredential::derive(ScramMechanism::Sha512, "alice-secret", b"0123456789abcdef", 4096).unwrap();
        assert_eq!(cred.to_kafka_string(), SHA512_REFERENCE);
        assert_eq!(ScramCredential::parse(SHA512_REFERENCE).unwrap(), cred);
    }
    const SHA512_REFERENCE: &str = "salt=MDEyMzQ1Njc4OWFiY2RlZg==,stored_key=nmk6vIl7V+y4ZT9HOfhwQ3zYKcbc1h3I16wfNiNBKxSQVfy4DJaTPUF6DyLMQvUfc01rDC81sG0sX50SIYRuxA==,server_key=g1mPmv0rsyQxQjzUVMkyUoHzFWOGMs24qWGsiKZZnrSLBr8XsG+aNDVhCuG0mhLppatNVDfAxqWKJ4spGQjdJw==,iterations=4096";

    fn exchange(mech: ScramMechanism, stored_pw: &str, client_pw: &str) -> Result<(), String> {
        let cred = ScramCredential::generate(mech, stored_pw, 4096).unwrap();
        let mut server = ScramServer::new(mech);
        let mut client = ScramClient::new(mech, "al,i=ce", Password::new(client_pw));
        let ServerStep::Challenge(first) = server
            .step(&client.client_first(), |u| (u == "al,i=ce").then(|| cred.clone()))
            .map_err(|e| e.to_string())?
        else {
            return Err("no challenge".into());
        };
        let fin = client.client_final(&first).map_err(|e| e.to_string())?;
        match server.step(&fin, |_| None).map_err(|e| e.to_string())? {
            ServerStep::Success { server_final, username } => {
                assert_eq!(username, "al,i=ce");
                client.verify_server_final(&server_final).map_err(|e| e.to_string())
            }
            ServerStep::Challenge(_) => Err("unexpected challenge".into()),
        }
    }

    #[test]
    fn client_and_server_agree_and_wrong_password_fails() {
        for mech in ScramMechanism::ALL {
            exchange(mech, "pw", "pw").unwrap();
            let err = exchange(mech, "pw", "wrong").unwrap_err();
            assert_eq!(err, mech.failure_message());
        }
    }

    #[test]
    fn unknown_user_and_bad_messages_fail_with_the_generic_message() {
        let mut server = ScramServer::new(ScramMechanism::Sha512);
        let err = server.step(b"n,,n=bob,r=abc", |_| None).unwrap_err();
        assert_eq!(err.user.as_deref(), Some("bob"));
        assert_eq!(err.reason, "unknown user");
        assert!(err.message.ends_with("SCRAM-SHA-512"));
        for bad in [&b"garbage"[..], b"p=tls-unique,,n=a,r=b", b"n,,r=abc", b"n,,n=a,r=b,tokenauth=true", b"\xff\xfe"] {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            assert!(server.step(bad, |_| Some(rfc_credential())).is_err());
        }
    }

    #[test]
    fn credential_string_and_znode_round_trip_keeping_other_keys() {
        let cred = rfc_credential();
        let text = cred.to_kafka_string();
        assert!(text.starts_with("salt=W22ZaJ0SNY7soEsUEjb6gQ==,stored_key="), "{text}");
        assert_eq!(ScramCredential::parse(&text).unwrap(), cred);
        assert!(!format!("{cred:?}").contains("W22Z"));
        let mut znode = UserConfigZnode::decode(br#"{"version":1,"config":{"producer_byte_rate":"1024"}}"#).unwrap();
        znode.set_credential(ScramMechanism::Sha256, &cred);
        let decoded = decode_users_znode_json(&encode_users_znode_json(&znode)).unwrap();
        assert_eq!(decoded.config["producer_byte_rate"], "1024");
        assert_eq!(decoded.credentials()[&ScramMechanism::Sha256], cred);
        assert!(decoded.credential(ScramMechanism::Sha512).is_none());
        assert!(UserConfigZnode::decode(b"").unwrap().config.is_empty());
        assert!(UserConfigZnode::decode(b"{\"config\":[1]}").is_err());
        assert!(ScramCredential::parse("salt=AA==,iterations=4096").is_err());
    }

    #[test]
    fn iterations_are_bounded() {
        assert!(matches!(
            ScramCredential::derive(ScramMechanism::Sha256, "p", b"s", 4095),
            Err(ScramError::TooFewIterations { .. })
        ));
        assert!(matches!(
            ScramCredential::derive(ScramMechanism::Sha256, "p", b"s", 16385),
            Err(ScramError::TooManyIterations { .. })
        ));
    }

    #[test]
    fn sanitizer_matches_kafka() {
        assert_eq!(sanitize_user("alice@x.com"), "alice%40x.com");
        assert_eq!(sanitize_user("a*b c"), "a%2Ab%20c");
        assert_eq!(sanitize_user("é"), "%C3%A9");
        assert_eq!(desanitize_user("alice%40x.com").as_deref(), Some("alice@x.com"));
        assert_eq!(desanitize_user("a+b").as_deref(), Some("a b"));
        assert_eq!(desanitize_user("%C3%A9").as_deref(), Some("é"));
        assert_eq!(desanitize_user("%4"), None);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..96)) {
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let _ = server.step(&bytes, |_| Some(rfc_credential()));
            let _ = server.step(&bytes, |_| None);
            let mut client = ScramClient::new(ScramMechanism::Sha256, "u", Password::new("p"));
            client.client_first();
            let _ = client.client_final(&bytes);
            let _ = ScramCredential::parse(&String::from_utf8_lossy(&bytes));
            let _ = UserConfigZnode::decode(&bytes);
            let _ = desanitize_user(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn a_mutated_proof_fails(index in 0usize..32, flip in 1u8..=255) {
            let mut server = ScramServer::with_nonce(ScramMechanism::Sha256, SNONCE.into());
            let cred = rfc_credential();
            server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |_| Some(cred)).unwrap();
            let (head, proof) = CLIENT_FINAL.rsplit_once(",p=").unwrap();
            let mut proof = B64.decode(proof).unwrap();
            proof[index] ^= flip;
            let msg = format!("{head},p={}", B64.encode(proof));
            proptest::prop_assert!(server.step(msg.as_bytes(), |_| None).is_err());
        }
    }
}
