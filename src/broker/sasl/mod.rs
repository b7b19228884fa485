//! Server-side SASL authentication on SASL_PLAINTEXT / SASL_SSL listeners — Kafka's
//! `SaslServerAuthenticator` (ZooKeeper-era behaviour) as a per-connection state machine
//! that runs before the request router.
//!
//! States: `AwaitHandshake` (ApiVersions is answered normally so clients can pick versions;
//! SaslHandshake picks the mechanism; anything else closes the connection) →
//! `Authenticating` (SaslAuthenticate v0–v2 carries the tokens; after a v0 handshake the
//! tokens come as raw frames with no Kafka header, answered the same way) → `Done` (every
//! API; a new SaslHandshake starts a re-authentication, KIP-368). A failed exchange is
//! answered with SASL_AUTHENTICATION_FAILED (58) and the connection closed; a raw-token
//! failure just closes. With `connections.max.reauth.ms` the session expires: after the
//! deadline any request but the SASL ones closes the connection.
//!
//! Secrets never reach a log line: failures are logged with peer, listener, mechanism,
//! user name and a reason, rate-limited per address.
//!
//! It owns no I/O and no broker state; SCRAM credentials are looked up through the context.

pub mod config;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::network::warnings::PeerWarnings;
use crate::network::Outcome;
use crate::protocol::frame;
use crate::security::plain;
use crate::security::scram::{ct_eq, ScramCredential, ScramMechanism, ScramServer, ServerStep};
pub use config::{ListenerSasl, SaslMechanism, SaslSettings};

/// Kafka error codes of the SASL APIs.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The smallest frame a header-carrying request can be.
const MIN_REQUEST_FRAME: usize = 8;

enum Exchange {
    Plain,
    Scram(Box<ScramServer>),
}

enum Phase {
    AwaitHandshake,
    Authenticating { mechanism: SaslMechanism, raw: bool, exchange: Exchange },
    Done,
}

/// The SASL part of a connection's session.
pub struct SaslState {
    phase: Phase,
    /// The authenticated user (kept through a re-authentication).
    user: Option<String>,
    mechanism: Option<SaslMechanism>,
    expires: Option<Instant>,
    /// Set when the gate authenticated a (new) user: the caller updates the principal.
    changed: bool,
}

impl std::fmt::Debug for SaslState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::AwaitHandshake => "AwaitHandshake",
            Phase::Authenticating { .. } => "Authenticating",
            Phase::Done => "Done",
        };
        f.debug_struct("SaslState").field("phase", &phase).field("user", &self.user).finish()
    }
}

/// What the connection's request handler must do with a request.
#[derive(Debug)]
pub enum Gate {
    /// Route the request as usual.
    Pass,
    /// Answer (or close) with this, and do not route the request.
    Answer(Outcome),
}

/// Everything the gate reads besides the connection's own state.
pub struct GateContext<'a> {
    /// The listener's SASL settings; `None` on a PLAINTEXT/SSL listener.
    pub listener: Option<&'a ListenerSasl>,
    pub listener_name: &'a str,
    /// The SCRAM credential of a user (from ZooKeeper's `/config/users`, via the metadata cache).
    pub scram: &'a (dyn Fn(ScramMechanism, &str) -> Option<ScramCredential> + Sync),
    pub peer: SocketAddr,
    pub failures: &'a PeerWarnings,
}

impl SaslState {
    /// The state of a new connection: on a SASL listener it must authenticate first.
    pub fn new(sasl_listener: bool) -> SaslState {
        let phase = if sasl_listener { Phase::AwaitHandshake } else { Phase::Done };
        SaslState { phase, user: None, mechanism: None, expires: None, changed: false }
    }

    /// The user this connection authenticated as, once it has.
    pub fn authenticated_user(&self) -> Option<&str> {
        match self.phase {
            Phase::Done => self.user.as_deref(),
            _ => None,
        }
    }

    /// The user newly authenticated by the last request, once (to update the principal).
    pub fn take_new_user(&mut self) -> Option<String> {
        if std::mem::take(&mut self.changed) {
            self.user.clone()
        } else {
            None
        }
    }

    /// Frame size bounds for the next read: before authentication frames are capped at
    /// `sasl.server.max.receive.size`, and raw v0 tokens may be as short as one byte.
    pub fn frame_bounds(&self, max_receive: usize, max: usize) -> (usize, usize) {
        match &self.phase {
            Phase::Done => (MIN_REQUEST_FRAME, max),
            Phase::Authenticating { raw: true, .. } => (1, max_receive.min(max)),
            _ => (MIN_REQUEST_FRAME, max_receive.min(max)),
        }
    }

    /// Runs the state machine on one request frame.
    pub fn gate(&mut self, cx: &GateContext<'_>, payload: &Bytes) -> Gate {
        if let Phase::Authenticating { raw: true, .. } = self.phase {
            return self.raw_token(cx, payload);
        }
        let Ok(peek) = frame::peek_header(payload) else {
            return match self.phase {
                Phase::Done => Gate::Pass,
                _ => close("malformed request during SASL authentication".into()),
            };
        };
        let api = ApiKey::try_from(peek.api_key).ok();
        match (&self.phase, cx.listener) {
            (Phase::Done, None) => match api {
                Some(ApiKey::SaslHandshake) => self.illegal_state_handshake(payload),
                Some(ApiKey::SaslAuthenticate) => illegal_state_authenticate(
                    payload,
                    "Unexpected SaslAuthenticate request on a listener without SASL",
                ),
                _ => Gate::Pass,
            },
            (Phase::Done, Some(listener)) => match api {
                Some(ApiKey::SaslHandshake) => self.handshake(cx, listener, payload),
                Some(ApiKey::SaslAuthenticate) => illegal_state_authenticate(
                    payload,
                    "SaslAuthenticate request received after successful authentication",
                ),
                Some(ApiKey::ApiVersions) => Gate::Pass,
                _ if self.expires.is_some_and(|at| Instant::now() >= at) => close(format!(
                    "expired SASL session of {} (connections.max.reauth.ms passed without re-authentication)",
                    self.user.as_deref().unwrap_or("?")
                )),
                _ => Gate::Pass,
            },
            (Phase::AwaitHandshake, Some(listener)) => match api {
                Some(ApiKey::ApiVersions) => Gate::Pass,
                Some(ApiKey::SaslHandshake) => self.handshake(cx, listener, payload),
                _ => close(format!(
                    "Unexpected Kafka request of type {} during SASL handshake",
                    api_name(api, peek.api_key)
                )),
            },
            (Phase::Authenticating { .. }, Some(listener)) => match api {
                Some(ApiKey::SaslAuthenticate) => self.authenticate(cx, listener, payload),
                _ => close(format!(
                    "Unexpected Kafka request of type {} during SASL authentication",
                    api_name(api, peek.api_key)
                )),
            },
            // A non-SASL listener starts in Done and never leaves it.
            (_, None) => Gate::Pass,
        }
    }

    fn illegal_state_handshake(&self, payload: &Bytes) -> Gate {
        let Ok(request) = frame::decode_request(payload.clone()) else {
            return close("malformed SaslHandshake request".into());
        };
        let body = SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE);
        respond(
            ApiKey::SaslHandshake,
            request.version,
            request.header.correlation_id,
            ResponseKind::SaslHandshake(body),
        )
    }

    fn handshake(&mut self, cx: &GateContext<'_>, listener: &ListenerSasl, payload: &Bytes) -> Gate {
        let request = match frame::decode_request(payload.clone()) {
            Ok(r) => r,
            Err(err) => return close(format!("malformed SaslHandshake request: {err}")),
        };
        let RequestKind::SaslHandshake(body) = &request.body else {
            return close("malformed SaslHandshake request".into());
        };
        let (version, correlation) = (request.version, request.header.correlation_id);
        let requested = body.mechanism.to_string();
        let mechanisms: Vec<StrBytes> = listener.mechanism_names().into_iter().map(StrBytes::from_static_str).collect();
        let chosen = SaslMechanism::from_name(&requested).filter(|m| listener.enabled(*m));
        let reauth = self.user.is_some();
        let Some(mechanism) = chosen.filter(|m| !reauth || self.mechanism == Some(*m)) else {
            let response = SaslHandshakeResponse::default()
                .with_error_code(UNSUPPORTED_SASL_MECHANISM)
                .with_mechanisms(mechanisms);
            let reason = format!(
                "Unsupported SASL mechanism {requested} on listener {} (enabled: {})",
                cx.listener_name,
                listener.mechanism_names().join(",")
            );
            return respond_then_close(
                ApiKey::SaslHandshake,
                version,
                correlation,
                ResponseKind::SaslHandshake(response),
                reason,
            );
        };
        let exchange = match mechanism {
            SaslMechanism::Plain => Exchange::Plain,
            SaslMechanism::Scram(m) => Exchange::Scram(Box::new(ScramServer::new(m))),
        };
        self.phase = Phase::Authenticating { mechanism, raw: version == 0, exchange };
        let response = SaslHandshakeResponse::default().with_error_code(0).with_mechanisms(mechanisms);
        respond(ApiKey::SaslHandshake, version, correlation, ResponseKind::SaslHandshake(response))
    }

    fn authenticate(&mut self, cx: &GateContext<'_>, listener: &ListenerSasl, payload: &Bytes) -> Gate {
        let request = match frame::decode_request(payload.clone()) {
            Ok(r) => r,
            Err(err) => return close(format!("malformed SaslAuthenticate request: {err}")),
        };
        let RequestKind::SaslAuthenticate(body) = &request.body else {
            return close("malformed SaslAuthenticate request".into());
        };
        let (version, correlation) = (request.version, request.header.correlation_id);
        let lifetime = i64::try_from(listener.reauth_ms).unwrap_or(i64::MAX);
        let answer = |response: SaslAuthenticateResponse| {
            respond(ApiKey::SaslAuthenticate, version, correlation, ResponseKind::SaslAuthenticate(response))
        };
        match self.step(cx, listener, &body.auth_bytes) {
            Step::Challenge(bytes) => answer(SaslAuthenticateResponse::default().with_auth_bytes(bytes.into())),
            Step::Success(user, mechanism, bytes) => match self.finish(listener, user, mechanism) {
                Ok(()) => answer(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(bytes.into())
                        .with_session_lifetime_ms(if version >= 1 { lifetime } else { 0 }),
                ),
                Err(reason) => close(reason),
            },
            Step::Failed { message, reason } => {
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(SASL_AUTHENTICATION_FAILED)
                    .with_error_message(Some(StrBytes::from_string(message)));
                respond_then_close(
                    ApiKey::SaslAuthenticate,
                    version,
                    correlation,
                    ResponseKind::SaslAuthenticate(response),
                    reason,
                )
            }
        }
    }

    fn raw_token(&mut self, cx: &GateContext<'_>, payload: &Bytes) -> Gate {
        let Some(listener) = cx.listener else {
            return close("raw SASL token on a listener without SASL".into());
        };
        match self.step(cx, listener, payload) {
            Step::Challenge(bytes) => Gate::Answer(Outcome::Respond(raw_frame(&bytes))),
            Step::Success(user, mechanism, bytes) => match self.finish(listener, user, mechanism) {
                Ok(()) => Gate::Answer(Outcome::Respond(raw_frame(&bytes))),
                Err(reason) => close(reason),
            },
            Step::Failed { reason, .. } => close(reason),
        }
    }

    /// Feeds one client token to the mechanism.
    fn step(&mut self, cx: &GateContext<'_>, listener: &ListenerSasl, token: &[u8]) -> Step {
        let Phase::Authenticating { mechanism, exchange, .. } = &mut self.phase else {
            return Step::Failed {
                message: "Unexpected SASL token".into(),
                reason: "token outside an exchange".into(),
            };
        };
        let mechanism = *mechanism;
        let outcome = match exchange {
            Exchange::Plain => match plain::parse(token) {
                // A token that does not parse is a plain SaslException in Kafka: the client
                // gets the generic text; the "Authentication failed: …" ones are sent as they are.
                Err(err @ (plain::PlainError::TokenCount(_) | plain::PlainError::NotUtf8)) => {
                    Err((None, generic_failure(mechanism, false), err.to_string()))
                }
                Err(err) => Err((None, err.to_string(), err.to_string())),
                Ok(t) => match listener.plain_users.get(&t.username) {
                    Some(pw) if ct_eq(pw.expose().as_bytes(), t.password.expose().as_bytes()) => {
                        Ok((t.username, Vec::new()))
                    }
                    found => Err((
                        Some(t.username),
                        "Authentication failed: Invalid username or password".to_string(),
                        if found.is_some() { "wrong password" } else { "unknown user" }.to_string(),
                    )),
                },
            },
            Exchange::Scram(server) => {
                let m = server.mechanism();
                match server.step(token, |user| (cx.scram)(m, user)) {
                    Ok(ServerStep::Challenge(bytes)) => return Step::Challenge(bytes),
                    Ok(ServerStep::Success { server_final, username }) => Ok((username, server_final)),
                    Err(err) => Err((err.user, err.message, err.reason.to_string())),
                }
            }
        };
        // Kafka names the phase: "… during re-authentication …" for a live session.
        let outcome = match outcome {
            Err((user, message, why)) if self.user.is_some() => {
                Err((user, message.replace("during authentication", "during re-authentication"), why))
            }
            other => other,
        };
        match outcome {
            Ok((user, bytes)) => Step::Success(user, mechanism, bytes),
            Err((user, message, why)) => {
                let user = user.unwrap_or_else(|| "<unknown>".into());
                log_failure(cx, mechanism, &user, &why);
                Step::Failed {
                    message,
                    reason: format!("failed authentication of user {user} with {}: {why}", mechanism.name()),
                }
            }
        }
    }
}

enum Step {
    Challenge(Vec<u8>),
    Success(String, SaslMechanism, Vec<u8>),
    /// `message` goes to the client, `reason` to the log (neither holds a secret).
    Failed {
        message: String,
        reason: String,
    },
}

impl SaslState {
    /// Completes a successful exchange. A re-authentication must keep the principal.
    fn finish(&mut self, listener: &ListenerSasl, user: String, mechanism: SaslMechanism) -> Result<(), String> {
        if let Some(previous) = &self.user {
            if *previous != user {
                return Err(format!(
                    "Cannot change principals during re-authentication from User.{previous}: User.{user}"
                ));
            }
        } else {
            self.changed = true;
        }
        self.user = Some(user);
        self.mechanism = Some(mechanism);
        self.expires = (listener.reauth_ms > 0).then(|| Instant::now() + Duration::from_millis(listener.reauth_ms));
        self.phase = Phase::Done;
        Ok(())
    }
}

fn log_failure(cx: &GateContext<'_>, mechanism: SaslMechanism, user: &str, why: &str) {
    let peer = cx.peer;
    let listener = cx.listener_name;
    let mechanism = mechanism.name();
    match cx.failures.admit(peer.ip(), Instant::now()) {
        Some(suppressed) => tracing::info!(
            %peer,
            listener,
            mechanism,
            user,
            suppressed,
            "Failed authentication with /{} (user {user}, mechanism {mechanism}): {why}",
            peer.ip()
        ),
        None => tracing::debug!(%peer, listener, mechanism, user, "Failed authentication (suppressed): {why}"),
    }
}

/// Kafka's text for a failed exchange whose cause must not be told (it could reveal
/// whether the user exists).
fn generic_failure(mechanism: SaslMechanism, reauthentication: bool) -> String {
    let phase = if reauthentication { "re-authentication" } else { "authentication" };
    format!("Authentication failed during {phase} due to invalid credentials with SASL mechanism {}", mechanism.name())
}

fn api_name(api: Option<ApiKey>, key: i16) -> String {
    match api {
        Some(api) => format!("{api:?}"),
        None => format!("api key {key}"),
    }
}

fn close(reason: String) -> Gate {
    Gate::Answer(Outcome::Close(reason))
}

fn encode(api: ApiKey, version: i16, correlation: i32, body: &ResponseKind) -> Result<Bytes, String> {
    frame::encode_response(api, version, correlation, body).map_err(|e| e.to_string())
}

fn respond(api: ApiKey, version: i16, correlation: i32, body: ResponseKind) -> Gate {
    match encode(api, version, correlation, &body) {
        Ok(bytes) => Gate::Answer(Outcome::Respond(bytes)),
        Err(reason) => close(reason),
    }
}

fn respond_then_close(api: ApiKey, version: i16, correlation: i32, body: ResponseKind, reason: String) -> Gate {
    match encode(api, version, correlation, &body) {
        Ok(bytes) => Gate::Answer(Outcome::RespondThenClose(bytes, reason)),
        Err(err) => close(err),
    }
}

fn illegal_state_authenticate(payload: &Bytes, message: &'static str) -> Gate {
    let Ok(request) = frame::decode_request(payload.clone()) else {
        return close("malformed SaslAuthenticate request".into());
    };
    let body = SaslAuthenticateResponse::default()
        .with_error_code(ILLEGAL_SASL_STATE)
        .with_error_message(Some(StrBytes::from_static_str(message)));
    respond(
        ApiKey::SaslAuthenticate,
        request.version,
        request.header.correlation_id,
        ResponseKind::SaslAuthenticate(body),
    )
}

/// A raw (SaslHandshake v0) token answer: a length prefix and the token, no Kafka header.
fn raw_frame(token: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + token.len());
    out.put_u32(token.len() as u32);
    out.put_slice(token);
    out.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::{
        ApiVersionsRequest, MetadataRequest, RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
    };
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;
    use crate::security::password::Password;
    use crate::security::scram::ScramClient;

    fn request<T: Encodable>(api: ApiKey, version: i16, body: &T) -> Bytes {
        let mut out = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        header.encode(&mut out, api.request_header_version(version)).unwrap();
        body.encode(&mut out, version).unwrap();
        out.freeze()
    }

    fn handshake(mechanism: &str, version: i16) -> Bytes {
        let body = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
        request(ApiKey::SaslHandshake, version, &body)
    }

    fn authenticate(bytes: &[u8]) -> Bytes {
        let body = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(bytes));
        request(ApiKey::SaslAuthenticate, 2, &body)
    }

    fn auth_response(gate: Gate) -> (SaslAuthenticateResponse, bool) {
        let (bytes, closing) = match gate {
            Gate::Answer(Outcome::Respond(b)) => (b, false),
            Gate::Answer(Outcome::RespondThenClose(b, _)) => (b, true),
            other => panic!("unexpected {other:?}"),
        };
        let mut buf = bytes.slice(4 + 4 + 1..);
        (SaslAuthenticateResponse::decode(&mut buf, 2).unwrap(), closing)
    }

    struct Fixture {
        listener: ListenerSasl,
        bob: ScramCredential,
        failures: PeerWarnings,
    }

    impl Fixture {
        fn new(reauth_ms: u64) -> Fixture {
            let mut plain_users = BTreeMap::new();
            plain_users.insert("alice".to_string(), Password::new("alice-secret"));
            let bob = ScramCredential::generate(ScramMechanism::Sha512, "bob-secret", 4096).unwrap();
            Fixture {
                listener: ListenerSasl {
                    mechanisms: vec![SaslMechanism::Plain, SaslMechanism::Scram(ScramMechanism::Sha512)],
                    plain_users,
                    reauth_ms,
                },
                bob,
                failures: PeerWarnings::new("failed authentications", Duration::from_secs(10)),
            }
        }

        fn lookup(&self) -> impl Fn(ScramMechanism, &str) -> Option<ScramCredential> + Sync + '_ {
            |m, u| (m == ScramMechanism::Sha512 && u == "bob").then(|| self.bob.clone())
        }

        fn cx<'a>(
            &'a self,
            scram: &'a (dyn Fn(ScramMechanism, &str) -> Option<ScramCredential> + Sync),
        ) -> GateContext<'a> {
            GateContext {
                listener: Some(&self.listener),
                listener_name: "SASL_PLAINTEXT",
                scram,
                peer: "127.0.0.1:1".parse().unwrap(),
                failures: &self.failures,
            }
        }
    }

    #[test]
    fn plain_success_then_requests_pass() {
        let f = Fixture::new(0);
        let lk = f.lookup();
        let mut s = SaslState::new(true);
        assert!(matches!(
            s.gate(&f.cx(&lk), &request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())),
            Gate::Pass
        ));
        assert!(matches!(s.gate(&f.cx(&lk), &handshake("PLAIN", 1)), Gate::Answer(Outcome::Respond(_))));
        let (resp, closing) = auth_response(s.gate(&f.cx(&lk), &authenticate(b"\0alice\0alice-secret")));
        assert_eq!((resp.error_code, closing), (0, false));
        assert_eq!(s.take_new_user().as_deref(), Some("alice"));
        assert!(matches!(s.gate(&f.cx(&lk), &request(ApiKey::Metadata, 9, &MetadataRequest::default())), Gate::Pass));
    }

    #[test]
    fn wrong_password_and_early_requests_close() {
        let f = Fixture::new(0);
        let lk = f.lookup();
        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("PLAIN", 1));
        let (resp, closing) = auth_response(s.gate(&f.cx(&lk), &authenticate(b"\0alice\0nope")));
        assert_eq!(resp.error_code, 58);
        assert!(closing);
        assert_eq!(resp.error_message.unwrap().as_str(), "Authentication failed: Invalid username or password");

        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("PLAIN", 1));
        let (resp, closing) = auth_response(s.gate(&f.cx(&lk), &authenticate(b"\0alice")));
        assert_eq!((resp.error_code, closing), (58, true));
        assert_eq!(
            resp.error_message.unwrap().as_str(),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN"
        );

        let mut s = SaslState::new(true);
        let metadata = request(ApiKey::Metadata, 9, &MetadataRequest::default());
        assert!(matches!(s.gate(&f.cx(&lk), &metadata), Gate::Answer(Outcome::Close(_))));
        let mut s = SaslState::new(true);
        assert!(matches!(s.gate(&f.cx(&lk), &handshake("GSSAPI", 1)), Gate::Answer(Outcome::RespondThenClose(_, _))));
    }

    #[test]
    fn scram_exchange_and_raw_v0_tokens() {
        let f = Fixture::new(0);
        let lk = f.lookup();
        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("SCRAM-SHA-512", 1));
        let mut client = ScramClient::new(ScramMechanism::Sha512, "bob", Password::new("bob-secret"));
        let (first, _) = auth_response(s.gate(&f.cx(&lk), &authenticate(&client.client_first())));
        let fin = client.client_final(&first.auth_bytes).unwrap();
        let (last, closing) = auth_response(s.gate(&f.cx(&lk), &authenticate(&fin)));
        assert_eq!((last.error_code, closing), (0, false));
        client.verify_server_final(&last.auth_bytes).unwrap();
        assert_eq!(s.authenticated_user(), Some("bob"));

        // v0 handshake: raw tokens, even a 1-byte one (which fails and closes).
        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("PLAIN", 0));
        assert_eq!(s.frame_bounds(524_288, 100 << 20), (1, 524_288));
        assert!(matches!(s.gate(&f.cx(&lk), &Bytes::from_static(b"x")), Gate::Answer(Outcome::Close(_))));
        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("PLAIN", 0));
        match s.gate(&f.cx(&lk), &Bytes::from_static(b"\0alice\0alice-secret")) {
            Gate::Answer(Outcome::Respond(b)) => assert_eq!(&b[..], &[0, 0, 0, 0]),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.frame_bounds(524_288, 100 << 20), (8, 100 << 20));
    }

    #[test]
    fn reauthentication_keeps_the_principal_and_expiry_closes() {
        let f = Fixture::new(1);
        let lk = f.lookup();
        let mut s = SaslState::new(true);
        s.gate(&f.cx(&lk), &handshake("PLAIN", 1));
        let (resp, _) = auth_response(s.gate(&f.cx(&lk), &authenticate(b"\0alice\0alice-secret")));
        assert_eq!(resp.session_lifetime_ms, 1);
        std::thread::sleep(Duration::from_millis(5));
        let metadata = request(ApiKey::Metadata, 9, &MetadataRequest::default());
        assert!(matches!(s.gate(&f.cx(&lk), &metadata), Gate::Answer(Outcome::Close(_))));
        // Re-authenticate as the same user: fine; as another user: closed.
        s.gate(&f.cx(&lk), &handshake("PLAIN", 1));
        let (resp, _) = auth_response(s.gate(&f.cx(&lk), &authenticate(b"\0alice\0alice-secret")));
        assert_eq!(resp.error_code, 0);
        assert_eq!(s.take_new_user().as_deref(), Some("alice"));
        let mut f2 = Fixture::new(0);
        f2.listener.plain_users.insert("carol".into(), Password::new("c"));
        let lk2 = f2.lookup();
        let mut s = SaslState::new(true);
        s.gate(&f2.cx(&lk2), &handshake("PLAIN", 1));
        auth_response(s.gate(&f2.cx(&lk2), &authenticate(b"\0alice\0alice-secret")));
        s.gate(&f2.cx(&lk2), &handshake("PLAIN", 1));
        assert!(matches!(s.gate(&f2.cx(&lk2), &authenticate(b"\0carol\0c")), Gate::Answer(Outcome::Close(_))));
    }

    #[test]
    fn non_sasl_listener_answers_illegal_state() {
        let f = Fixture::new(0);
        let lk = f.lookup();
        let cx = GateContext { listener: None, ..f.cx(&lk) };
        let mut s = SaslState::new(false);
        match s.gate(&cx, &handshake("PLAIN", 1)) {
            Gate::Answer(Outcome::Respond(b)) => {
                let mut buf = b.slice(8..);
                assert_eq!(SaslHandshakeResponse::decode(&mut buf, 1).unwrap().error_code, 34);
            }
            other => panic!("{other:?}"),
        }
    }
}
