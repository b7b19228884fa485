//! The accept loop: bounded by a semaphore (max.connections), backing off on
//! accept errors instead of spinning, stopping on shutdown. The connections of
//! one listener share its request-bytes budget and warning limiters.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::budget::RequestBudget;
use super::connection::{self, ConnInfo, RequestHandler, Shared};
use super::shutdown::Shutdown;

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
/// handler with each connection).
pub async fn serve<H: RequestHandler>(
    listener: TcpListener,
    index: usize,
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
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, %err, "set_nodelay failed");
                    }
                    let conn = ConnInfo { peer, listener: index, peer_certificates: None };
                    connection::run(stream, conn, handler, shared, shutdown).await;
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
