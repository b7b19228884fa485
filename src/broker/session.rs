//! One client connection's state on the broker: where it came from, which
//! listener accepted it, and who it is. The connection's read loop owns it
//! and hands it to each request in turn (see `network::connection`), so it
//! changes only between requests — what a SASL exchange needs.

use std::net::SocketAddr;
use std::sync::Arc;

use super::listeners::ListenerContext;
use super::sasl::SaslState;
use crate::config::SecurityProtocol;
use crate::security::principal::Principal;

/// What the broker knows about one connection.
#[derive(Debug)]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener that accepted the connection.
    pub listener: Arc<ListenerContext>,
    /// Who the client is: `User:ANONYMOUS` until it proves otherwise.
    pub principal: Principal,
    /// The SASL authentication state (already `Done` on a non-SASL listener).
    pub sasl: SaslState,
    /// How the request being handled is recorded in the request metrics
    /// (set by the dispatcher, taken by the connection after each request).
    pub request: crate::network::RequestTag,
    /// The client id of the last request (what request quotas account to).
    pub client_id: String,
    /// How long to mute the connection after the current answer (a client quota's
    /// throttle, KIP-219); the read loop takes it.
    pub mute: Option<std::time::Duration>,
    /// The current request's handling time is already counted against the
    /// request quota (the dispatcher did it to report the throttle in the answer).
    pub request_time_recorded: bool,
}

impl Session {
    /// A new connection on `listener` that has proved nothing yet.
    pub fn new(peer: SocketAddr, listener: Arc<ListenerContext>) -> Session {
        let sasl_listener = matches!(listener.protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl);
        Session {
            peer,
            listener,
            principal: Principal::anonymous(),
            sasl: SaslState::new(sasl_listener),
            request: Default::default(),
            client_id: String::new(),
            mute: None,
            request_time_recorded: false,
        }
    }
}
