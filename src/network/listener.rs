//! The accept loop: bounded by a semaphore (max.connections), backing off on
//! accept errors instead of spinning, stopping on shutdown. The connections of
//! one listener share its request-bytes budget and warning limiters.
//!
//! On a TLS listener the handshake runs on the connection's own task (a slow or
//! silent client never holds up accepting), under the partial-request timeout,
//! while holding its connection permit; a failed handshake is a rate-limited
//! warning — Kafka's "Failed authentication with /ip (SSL handshake failed)" —
//! and only that connection is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::budget::RequestBudget;
use super::connection::{self, ConnInfo, RequestHandler, Shared};
use super::shutdown::Shutdown;
use super::tls::{self, TlsAcceptor};
use super::warnings::{PeerWarnings, WARN_INTERVAL};

/// Limits a listener enforces on its connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_frame_bytes: usize,
    /// `queued.max.request.bytes`; `None` is no limit.
    pub max_queued_request_bytes: Option<u64>,
    /// `connections.max.idle.ms`.
    pub idle_timeout: Duration,
    /// `gregor.partial.request.timeout.ms`.
    pub partial_request_timeout: Duration,
}

/// Accepts connections until `shutdown`, serving each on its own task.
/// `index` says which of the server's listeners this is (handed to the
/// handler with each connection); `tls` is set for SSL and SASL_SSL listeners.
pub async fn serve<H: RequestHandler>(
    listener: TcpListener,
    index: usize,
    tls: Option<TlsAcceptor>,
    handler: Arc<H>,
    limits: Limits,
    mut shutdown: Shutdown,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    let shared = Arc::new(Shared::new(
        limits.max_frame_bytes,
        limits.idle_timeout,
        limits.partial_request_timeout,
        RequestBudget::new(limits.max_queued_request_bytes),
    ));
    let failed_handshakes = Arc::new(PeerWarnings::new("failed TLS handshakes", WARN_INTERVAL));
    let mut backoff = Duration::from_millis(5);
    loop {
        let permit = tokio::select! {
            _ = shutdown.wait() => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let handler = handler.clone();
                let shared = shared.clone();
                let mut shutdown = shutdown.clone();
                let tls = tls.clone();
                let failed_handshakes = failed_handshakes.clone();
                tokio::spawn(async move {
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, %err, "set_nodelay failed");
                    }
                    match tls {
                        None => {
                            let conn = ConnInfo { peer, listener: index, peer_certificates: None };
                            connection::run_tcp(stream, conn, handler, shared, shutdown).await;
                        }
                        Some(acceptor) => {
                            let handshake =
                                tokio::time::timeout(shared.partial_request_timeout, acceptor.accept(stream));
                            let outcome = tokio::select! {
                                _ = shutdown.wait() => return,
                                h = handshake => h,
                            };
                            let reason = match outcome {
                                Ok(Ok(stream)) => {
                                    let peer_certificates = tls::peer_certificates(stream.get_ref().1);
                                    let conn = ConnInfo { peer, listener: index, peer_certificates };
                                    connection::run(stream, conn, handler, shared, shutdown).await;
                                    drop(permit);
                                    return;
                                }
                                Ok(Err(err)) => err.to_string(),
                                Err(_) => format!("no handshake within {:?}", shared.partial_request_timeout),
                            };
                            let message =
                                format!("Failed authentication with /{} (SSL handshake failed: {reason})", peer.ip());
                            failed_handshakes.closing(peer, &message);
                        }
                    }
                    drop(permit);
                });
            }
            Err(err) => {
                // Typically EMFILE: wait for descriptors to free up rather than spin.
                tracing::warn!(%err, "accept failed; retrying in {backoff:?}");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
