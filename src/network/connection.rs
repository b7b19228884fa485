//! One client connection: read length-prefixed frames, hand each to the
//! handler strictly in order (Kafka answers a connection's requests in the
//! order they were sent), and write the answers from a separate task so that
//! reading and handling the next request overlaps with sending this answer.
//!
//! A handler may answer with a deferred response (acks=all Produce: the
//! records are appended in order, then the answer waits for replication).
//! The writer awaits deferred answers in request order while the reader goes
//! on with the next requests, so one connection can have several produce
//! requests replicating at once, as a pipelining client expects.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::shutdown::Shutdown;
use crate::protocol::frame;

/// An answer that is not ready yet; `None` closes the connection.
pub type DeferredResponse = Pin<Box<dyn Future<Output = Option<Bytes>> + Send + 'static>>;

/// What the handler wants done with a request.
pub enum Outcome {
    /// Send these bytes (a whole framed response).
    Respond(Bytes),
    /// Send these bytes once they are ready, before any later answer.
    Deferred(DeferredResponse),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Log the reason and close this connection; everyone else carries on.
    Close(String),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Respond(b) => write!(f, "Respond({} bytes)", b.len()),
            Outcome::Deferred(_) => f.write_str("Deferred"),
            Outcome::NoResponse => f.write_str("NoResponse"),
            Outcome::Close(reason) => write!(f, "Close({reason})"),
        }
    }
}

/// An answer queued for the writer.
enum Queued {
    Ready(Bytes),
    Later(DeferredResponse),
}

/// Turns one request payload (without its length prefix) into an outcome.
pub trait RequestHandler: Send + Sync + 'static {
    fn handle(&self, payload: Bytes, peer: SocketAddr) -> impl Future<Output = Outcome> + Send;
}

/// Responses waiting to be written; bounds memory held per connection.
const MAX_QUEUED_RESPONSES: usize = 16;

/// Serves one connection until EOF, a protocol error, or shutdown.
pub async fn run<H: RequestHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    max_frame_bytes: usize,
    mut shutdown: Shutdown,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %err, "set_nodelay failed");
    }
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let (tx, mut rx) = mpsc::channel::<Queued>(MAX_QUEUED_RESPONSES);

    let writer = tokio::spawn(async move {
        while let Some(queued) = rx.recv().await {
            let bytes = match queued {
                Queued::Ready(bytes) => bytes,
                Queued::Later(answer) => match answer.await {
                    Some(bytes) => bytes,
                    None => return,
                },
            };
            if let Err(err) = write_half.write_all(&bytes).await {
                tracing::debug!(%peer, %err, "write failed; closing");
                return;
            }
        }
        let _ = write_half.shutdown().await;
    });

    loop {
        let mut prefix = [0u8; 4];
        let read = tokio::select! {
            _ = shutdown.wait() => break,
            r = reader.read_exact(&mut prefix) => r,
        };
        if let Err(err) = read {
            if err.kind() != std::io::ErrorKind::UnexpectedEof {
                tracing::debug!(%peer, %err, "read failed");
            }
            break;
        }
        let size = match frame::frame_size(prefix, max_frame_bytes) {
            Ok(size) => size,
            Err(err) => {
                tracing::warn!(%peer, %err, "closing connection");
                break;
            }
        };
        // Read into uninitialised capacity: a produce request can be megabytes,
        // and zeroing it first costs as much as copying it.
        let mut payload = BytesMut::with_capacity(size);
        let mut frame = (&mut reader).take(size as u64);
        let complete = loop {
            match frame.read_buf(&mut payload).await {
                Ok(0) => break payload.len() == size,
                Ok(_) if payload.len() == size => break true,
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(%peer, %err, "read failed mid-frame");
                    break false;
                }
            }
        };
        if !complete {
            tracing::debug!(%peer, "connection closed mid-frame");
            break;
        }
        match handler.handle(payload.freeze(), peer).await {
            Outcome::Respond(bytes) => {
                if tx.send(Queued::Ready(bytes)).await.is_err() {
                    break;
                }
            }
            Outcome::Deferred(answer) => {
                if tx.send(Queued::Later(answer)).await.is_err() {
                    break;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, "closing connection: {reason}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
