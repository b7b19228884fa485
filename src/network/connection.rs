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
//!
//! Memory a client can make the broker hold is bounded three ways: a frame's
//! size is reserved from the listener's shared [`RequestBudget`]
//! (`queued.max.request.bytes`) before its body is read; the body buffer grows
//! as bytes arrive instead of being allocated from the length prefix, so a
//! client that announces a large frame and dribbles holds only what it sent;
//! and a frame that stops arriving is dropped after the partial-request
//! timeout. A connection with nothing in flight that receives nothing for
//! `connections.max.idle.ms` is closed. Warnings about bad clients are
//! rate-limited per address ([`PeerWarnings`]).
//!
//! The handler keeps per-connection state (its [`RequestHandler::Session`]:
//! who authenticated, how far a SASL exchange got). The read loop owns it and
//! hands it to each request in turn, which is what keeps a connection's
//! requests strictly ordered and lets the handler change the frame bounds for
//! the next read (raw SASL tokens, a smaller cap before authentication). The
//! stream is anything readable and writable, a TCP socket or a TLS session.
//!
//! The connection measures each request's stages for the handler's metrics
//! ([`RequestHandler::request_done`]): frame read → handler started →
//! handler returned → answer ready (a deferred answer resolved) → writer
//! started writing it → written. The handler classifies the request (a
//! [`RequestTag`] it hands back after `handle`); this layer only keeps the
//! clock, counts requests read but not answered and answers waiting for the
//! writer, and says when connections open and close. A deferred answer is
//! only polled once the writer reaches it (answers go out in order), so its
//! readiness is seen no earlier than the answers before it are written.
//!
//! A handler may also ask for the connection to be muted after an answer
//! ([`RequestHandler::mute_for`]): the loop then reads nothing for that long,
//! which is how a throttled client is held back (the network layer does not
//! know why).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::budget::RequestBudget;
use super::shutdown::Shutdown;
use super::warnings::{PeerWarnings, WARN_INTERVAL};
use crate::protocol::frame;

/// An answer that is not ready yet; `None` closes the connection.
pub type DeferredResponse = Pin<Box<dyn Future<Output = Option<Bytes>> + Send + 'static>>;

/// What the handler wants done with a request.
pub enum Outcome {
    /// Send these bytes (a whole framed response).
    Respond(Bytes),
    /// Send these pieces in order (a whole framed response, some of it in files).
    RespondChunks(Vec<Chunk>),
    /// Send these bytes once they are ready, before any later answer.
    Deferred(DeferredResponse),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Log the reason and close this connection; everyone else carries on.
    Close(String),
    /// Send these bytes, then close (after a failed authentication, Kafka
    /// answers with the error and then drops the connection).
    RespondThenClose(Bytes, String),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Respond(b) => write!(f, "Respond({} bytes)", b.len()),
            Outcome::RespondChunks(c) => write!(f, "RespondChunks({} bytes)", c.iter().map(Chunk::len).sum::<usize>()),
            Outcome::Deferred(_) => f.write_str("Deferred"),
            Outcome::NoResponse => f.write_str("NoResponse"),
            Outcome::Close(reason) => write!(f, "Close({reason})"),
            Outcome::RespondThenClose(b, reason) => write!(f, "RespondThenClose({} bytes, {reason})", b.len()),
        }
    }
}

/// One piece of an answer.
#[derive(Clone)]
pub enum Chunk {
    Bytes(Bytes),
    /// Bytes of an open file, sent from the file.
    File(FileChunk),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `len` bytes of `file` from `position`. A plain TCP connection sends them with
/// `sendfile`, never copying them into this process; other streams (TLS) read
/// them into a buffer first. The file must hold them all: a file cut short
/// meanwhile closes the connection (the answer's length was already promised).
#[derive(Clone)]
pub struct FileChunk {
    pub file: Arc<dyn FileSource>,
    pub position: u64,
    pub len: usize,
}

/// A file an answer's bytes can come from.
pub trait FileSource: Send + Sync + 'static {
    /// Fills `buf` from `position` (the copying path).
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()>;
    /// The operating system's file, for `sendfile`; `None` to always copy.
    fn as_file(&self) -> Option<&std::fs::File>;
}

/// The write side of a connection: where answers go.
pub trait AnswerSink: AsyncWrite + Unpin + Send + 'static {
    /// Writes a file's bytes; the default reads them and writes them.
    fn write_file(&mut self, chunk: &FileChunk) -> impl Future<Output = io::Result<()>> + Send {
        copy_file(self, chunk)
    }
}

/// Pieces read from a file at a time on the copying path.
const COPY_PIECE: usize = 256 * 1024;

async fn copy_file<W: AsyncWrite + Unpin + Send + ?Sized>(writer: &mut W, chunk: &FileChunk) -> io::Result<()> {
    let mut buf = vec![0u8; chunk.len.min(COPY_PIECE)];
    let mut done = 0usize;
    while done < chunk.len {
        let n = (chunk.len - done).min(buf.len());
        chunk.file.read_exact_at(&mut buf[..n], chunk.position + done as u64)?;
        writer.write_all(&buf[..n]).await?;
        done += n;
    }
    Ok(())
}

/// Any stream's write half: files are copied (TLS must encrypt them anyway).
pub struct Copying<W>(pub W);

/// A plain TCP connection's write half: files go out with `sendfile`.
pub struct TcpSink(pub tokio::net::tcp::OwnedWriteHalf);

macro_rules! delegate_async_write {
    ($t:ty, $($g:tt)*) => {
        impl<$($g)*> AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                self.0.is_write_vectored()
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().0).poll_flush(cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
            }
        }
    };
}

delegate_async_write!(Copying<W>, W: AsyncWrite + Unpin);
delegate_async_write!(TcpSink,);

impl<W: AsyncWrite + Unpin + Send + 'static> AnswerSink for Copying<W> {}

impl AnswerSink for TcpSink {
    async fn write_file(&mut self, chunk: &FileChunk) -> io::Result<()> {
        let Some(file) = chunk.file.as_file() else { return copy_file(self, chunk).await };
        let stream: &tokio::net::TcpStream = self.0.as_ref();
        let mut position = chunk.position;
        let end = chunk.position + chunk.len as u64;
        while position < end {
            stream.writable().await?;
            let remaining = (end - position) as usize;
            let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
                rustix::fs::sendfile(stream, file, Some(&mut position), remaining).map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than the answer promised"))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// An answer ready to write.
enum Answer {
    Bytes(Bytes),
    Chunks(Vec<Chunk>),
}

/// Writes one answer and flushes it.
async fn write_answer<W: AnswerSink>(sink: &mut W, answer: &Answer) -> io::Result<()> {
    match answer {
        Answer::Bytes(bytes) => sink.write_all(bytes).await?,
        Answer::Chunks(chunks) => {
            for chunk in chunks {
                match chunk {
                    Chunk::Bytes(bytes) => sink.write_all(bytes).await?,
                    Chunk::File(file) => sink.write_file(file).await?,
                }
            }
        }
    }
    sink.flush().await
}

/// An answer queued for the writer, with what its request's metrics need.
enum Queued {
    Ready(Answer, Stamps),
    Later(DeferredResponse, Stamps),
}

/// How the handler classified a request, handed back to
/// [`RequestHandler::request_done`] with its times. Not interpreted here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestTag {
    /// The handler's class of the request (say, an index into per-API
    /// metrics); `None`: `request_done` is not called for it.
    pub kind: Option<u16>,
    /// The request's version, as the handler read it.
    pub version: i16,
    /// How long `handle` itself waited on others (a long poll), as opposed
    /// to working: part of the handler's time that is not its own.
    pub waited: Duration,
}

/// When one request passed each stage (monotonic clock).
#[derive(Clone, Copy, Debug)]
pub struct RequestTimes {
    /// Its frame was fully read.
    pub read: Instant,
    /// The handler was called.
    pub started: Instant,
    /// The handler returned.
    pub handled: Instant,
    /// The answer was ready: `handled`, or when a deferred answer resolved.
    pub ready: Instant,
    /// The writer began writing it.
    pub writing: Instant,
    /// Its last byte was written (or, without an answer, `handled`).
    pub written: Instant,
}

/// A request's times so far, carried to the writer with its answer.
#[derive(Clone, Copy, Debug)]
struct Stamps {
    tag: RequestTag,
    read: Instant,
    started: Instant,
    handled: Instant,
}

impl Stamps {
    fn times(&self, ready: Instant, writing: Instant, written: Instant) -> RequestTimes {
        RequestTimes { read: self.read, started: self.started, handled: self.handled, ready, writing, written }
    }
}

/// What this connection added to the handler's queue counts, so that what
/// is left when it closes (answers never written) can be taken back.
#[derive(Debug, Default)]
struct QueueCounts {
    requests: AtomicI64,
    responses: AtomicI64,
}

impl QueueCounts {
    fn change<H: RequestHandler>(&self, handler: &H, requests: i64, responses: i64) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        self.responses.fetch_add(responses, Ordering::Relaxed);
        handler.queues_changed(requests, responses);
    }

    fn settle<H: RequestHandler>(&self, handler: &H) {
        let requests = self.requests.swap(0, Ordering::Relaxed);
        let responses = self.responses.swap(0, Ordering::Relaxed);
        if requests != 0 || responses != 0 {
            handler.queues_changed(-requests, -responses);
        }
    }
}

/// What the listener knows about a new connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Which of the server's listeners accepted it (an index into its list).
    pub listener: usize,
    /// The certificate chain the client presented in the TLS handshake (DER,
    /// leaf first); `None` on plaintext listeners or without a client certificate.
    pub peer_certificates: Option<Vec<Vec<u8>>>,
}

/// Turns one request payload (without its length prefix) into an outcome.
pub trait RequestHandler: Send + Sync + 'static {
    /// Per-connection state, owned by the connection's read loop.
    type Session: Send + 'static;

    /// The state of a connection that has just been accepted.
    fn open(&self, conn: ConnInfo) -> Self::Session;

    /// Handles one request; the next frame is not read until this returns.
    fn handle(&self, payload: Bytes, session: &mut Self::Session) -> impl Future<Output = Outcome> + Send;

    /// The smallest and largest frame accepted as the connection's next read;
    /// `max` is the listener's `socket.request.max.bytes`.
    fn frame_bounds(&self, _session: &Self::Session, max: usize) -> (usize, usize) {
        (frame::MIN_REQUEST_FRAME, max)
    }

    /// Called right after `handle`: how the request just handled is to be
    /// recorded (the default: not at all).
    fn request_tag(&self, _session: &mut Self::Session) -> RequestTag {
        RequestTag::default()
    }

    /// A request tagged with a `kind` was answered (its answer written, or it
    /// had none), after `times`. Runs on the connection's writer: keep it cheap.
    fn request_done(&self, _tag: RequestTag, _times: &RequestTimes) {}

    /// Requests read and not yet answered, and answers ready and not yet being
    /// written, changed by these amounts (over every connection).
    fn queues_changed(&self, _requests: i64, _responses: i64) {}

    /// A connection was accepted (after its TLS handshake).
    fn connection_opened(&self, _conn: &ConnInfo) {}

    /// A connection opened on listener `listener` (an index, as in [`ConnInfo`]) closed.
    fn connection_closed(&self, _listener: usize) {}

    /// Called after each `handle` with the time it took (a handler that accounts
    /// for its clients' time, as request quotas do, records it here).
    fn handled(&self, _session: &mut Self::Session, _elapsed: Duration) {}

    /// How long to stop reading this connection's requests once the last answer
    /// is queued (a throttled client is muted this way); taken, so it applies once.
    fn mute_for(&self, _session: &mut Self::Session) -> Option<Duration> {
        None
    }
}

/// Responses waiting to be written; bounds memory held per connection.
const MAX_QUEUED_RESPONSES: usize = 16;

/// The first allocation for a frame body whose bytes have not all arrived yet;
/// the buffer doubles from here as they do.
const FIRST_CHUNK: usize = 64 * 1024;

/// What every connection of a listener shares: limits, the request-bytes
/// budget and the per-address warning limiters.
#[derive(Debug)]
pub struct Shared {
    /// `socket.request.max.bytes`.
    pub max_frame_bytes: usize,
    /// `connections.max.idle.ms`.
    pub idle_timeout: Duration,
    /// `gregor.partial.request.timeout.ms`.
    pub partial_request_timeout: Duration,
    /// `queued.max.request.bytes`.
    pub budget: RequestBudget,
    malformed: PeerWarnings,
    stalled: PeerWarnings,
}

impl Shared {
    pub fn new(
        max_frame_bytes: usize,
        idle_timeout: Duration,
        partial_request_timeout: Duration,
        budget: RequestBudget,
    ) -> Shared {
        Shared {
            max_frame_bytes,
            idle_timeout,
            partial_request_timeout,
            budget,
            malformed: PeerWarnings::new("malformed requests", WARN_INTERVAL),
            stalled: PeerWarnings::new("stalled requests", WARN_INTERVAL),
        }
    }
}

/// How one read attempt ended.
enum Step {
    Read(usize),
    Eof,
    TimedOut,
    Failed(std::io::Error),
    Shutdown,
}

/// One cancel-safe read (`read`/`read_buf` consume nothing unless they
/// complete) bounded by `limit` and by shutdown.
async fn step(read: impl Future<Output = std::io::Result<usize>>, limit: Duration, shutdown: &mut Shutdown) -> Step {
    tokio::select! {
        _ = shutdown.wait() => Step::Shutdown,
        r = tokio::time::timeout(limit, read) => match r {
            Err(_) => Step::TimedOut,
            Ok(Ok(0)) => Step::Eof,
            Ok(Ok(n)) => Step::Read(n),
            Ok(Err(err)) => Step::Failed(err),
        },
    }
}

/// Why the read loop stopped reading a frame.
enum Stop {
    /// EOF, shutdown, or a read error (logged at debug).
    Quietly,
    /// The client began a frame and then sent nothing for the partial-request timeout.
    /// `expected` is `None` while the length prefix itself is incomplete.
    Stalled { received: usize, expected: Option<usize> },
}

/// Reads the 4-byte length prefix. The wait for its first byte is the idle
/// wait (`connections.max.idle.ms`, not counted while answers are still
/// owed); once it has begun, the rest must follow within the partial-request timeout.
async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
    shared: &Shared,
    unanswered: &AtomicUsize,
    peer: SocketAddr,
    shutdown: &mut Shutdown,
) -> Result<[u8; 4], Stop> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let limit = if got == 0 { shared.idle_timeout } else { shared.partial_request_timeout };
        match step(reader.read(&mut prefix[got..]), limit, shutdown).await {
            Step::Read(n) => got += n,
            Step::TimedOut if got == 0 => {
                if unanswered.load(Ordering::Acquire) > 0 {
                    continue;
                }
                tracing::debug!(%peer, idle_ms = shared.idle_timeout.as_millis() as u64, "closing idle connection");
                return Err(Stop::Quietly);
            }
            Step::TimedOut => return Err(Stop::Stalled { received: got, expected: None }),
            Step::Eof | Step::Shutdown => return Err(Stop::Quietly),
            Step::Failed(err) => {
                tracing::debug!(%peer, %err, "read failed");
                return Err(Stop::Quietly);
            }
        }
    }
    Ok(prefix)
}

/// Reads a frame body of `size` bytes, growing the buffer as bytes arrive.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    size: usize,
    shared: &Shared,
    peer: SocketAddr,
    shutdown: &mut Shutdown,
) -> Result<BytesMut, Stop> {
    // What has already arrived can be taken at once; beyond that, start small.
    // Reading into uninitialised capacity: zeroing a large buffer first would
    // cost as much as copying it.
    let mut payload = BytesMut::with_capacity(size.min(FIRST_CHUNK.max(reader.buffer().len())));
    while payload.len() < size {
        if payload.len() == payload.capacity() {
            grow(&mut payload, size);
        }
        let remaining = (size - payload.len()) as u64;
        let mut frame = (&mut *reader).take(remaining);
        match step(frame.read_buf(&mut payload), shared.partial_request_timeout, shutdown).await {
            Step::Read(_) => {}
            Step::TimedOut => return Err(Stop::Stalled { received: payload.len() + 4, expected: Some(size + 4) }),
            Step::Eof | Step::Shutdown => {
                tracing::debug!(%peer, "connection closed mid-frame");
                return Err(Stop::Quietly);
            }
            Step::Failed(err) => {
                tracing::debug!(%peer, %err, "read failed mid-frame");
                return Err(Stop::Quietly);
            }
        }
    }
    Ok(payload)
}

/// Doubles `payload`'s capacity, never past `size`. A new buffer is allocated
/// exactly (`BytesMut::reserve` may over-allocate to twice the size) and the
/// bytes so far are copied: the copies add up to less than one frame.
fn grow(payload: &mut BytesMut, size: usize) {
    let capacity = payload.len().saturating_mul(2).max(FIRST_CHUNK).min(size);
    let mut bigger = BytesMut::with_capacity(capacity);
    bigger.extend_from_slice(payload);
    *payload = bigger;
}

/// Serves one connection until EOF, a protocol error, a timeout, or shutdown;
/// file bytes in answers are copied (the stream may be TLS).
pub async fn run<S, H>(stream: S, conn: ConnInfo, handler: Arc<H>, shared: Arc<Shared>, shutdown: Shutdown)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    H: RequestHandler,
{
    // One task reads and one writes, so the split's lock is never contended.
    let (read_half, write_half) = tokio::io::split(stream);
    run_halves(read_half, Copying(write_half), conn, handler, shared, shutdown).await;
}

/// [`run`] for a plain TCP connection: owned halves (no lock between reader
/// and writer), and file bytes in answers sent with `sendfile`.
pub async fn run_tcp<H: RequestHandler>(
    stream: tokio::net::TcpStream,
    conn: ConnInfo,
    handler: Arc<H>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) {
    let (read_half, write_half) = stream.into_split();
    run_halves(read_half, TcpSink(write_half), conn, handler, shared, shutdown).await;
}

async fn run_halves<R, W, H>(
    read_half: R,
    mut write_half: W,
    conn: ConnInfo,
    handler: Arc<H>,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AnswerSink,
    H: RequestHandler,
{
    let peer = conn.peer;
    let listener = conn.listener;
    handler.connection_opened(&conn);
    let mut session = handler.open(conn);
    let queues = Arc::new(QueueCounts::default());
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let (tx, mut rx) = mpsc::channel::<Queued>(MAX_QUEUED_RESPONSES);
    // Answers queued or being awaited by the writer: while any is owed the
    // connection is not idle (a deferred produce may wait for replication).
    let unanswered = Arc::new(AtomicUsize::new(0));

    let writer = tokio::spawn({
        let unanswered = unanswered.clone();
        let handler = handler.clone();
        let queues = queues.clone();
        async move {
            while let Some(queued) = rx.recv().await {
                let (answer, stamps, ready) = match queued {
                    Queued::Ready(answer, stamps) => (answer, stamps, stamps.handled),
                    Queued::Later(answer, stamps) => match answer.await {
                        Some(bytes) => {
                            queues.change(&*handler, -1, 1);
                            (Answer::Bytes(bytes), stamps, Instant::now())
                        }
                        None => return,
                    },
                };
                let writing = Instant::now();
                queues.change(&*handler, 0, -1);
                // Flush after every answer: over TLS, write_all returns once rustls has
                // taken the plaintext, and the last records' ciphertext can stay in its
                // buffer (the socket was full) until the next write, which never comes
                // while the client waits for this answer: a fetch stalled for good.
                // On a plain TcpStream flush does nothing.
                let written = write_answer(&mut write_half, &answer).await;
                unanswered.fetch_sub(1, Ordering::AcqRel);
                if let Err(err) = written {
                    tracing::debug!(%peer, %err, "write failed; closing");
                    return;
                }
                if stamps.tag.kind.is_some() {
                    handler.request_done(stamps.tag, &stamps.times(ready, writing, Instant::now()));
                }
            }
            let _ = write_half.shutdown().await;
        }
    });

    loop {
        // Muted after the last request (even one without an answer, acks=0): the
        // next request stays in the socket until the time is up.
        if let Some(mute) = handler.mute_for(&mut session) {
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(mute) => {}
            }
        }
        let (min, max) = handler.frame_bounds(&session, shared.max_frame_bytes);
        let read = async {
            let prefix = read_prefix(&mut reader, &shared, &unanswered, peer, &mut shutdown).await?;
            let size = match frame::frame_size(prefix, min, max) {
                Ok(size) => size,
                Err(err) => {
                    shared.malformed.closing(peer, &err);
                    return Err(Stop::Quietly);
                }
            };
            // Reserve before buffering any of the body; while the budget is
            // spent, this connection waits and its bytes stay in the socket.
            let reservation = tokio::select! {
                _ = shutdown.wait() => return Err(Stop::Quietly),
                r = shared.budget.reserve(size) => r,
            };
            let payload = read_body(&mut reader, size, &shared, peer, &mut shutdown).await?;
            Ok((payload, reservation))
        };
        let (payload, reservation) = match read.await {
            Ok(frame) => frame,
            Err(Stop::Quietly) => break,
            Err(Stop::Stalled { received, expected }) => {
                let of = match expected {
                    Some(total) => format!("of the {total} bytes of a request"),
                    None => "of a request's 4-byte length prefix".to_string(),
                };
                let reason = format!(
                    "received {received} bytes {of}, then nothing for {} ms (gregor.partial.request.timeout.ms)",
                    shared.partial_request_timeout.as_millis()
                );
                shared.stalled.closing(peer, &reason);
                break;
            }
        };
        let read_at = Instant::now();
        queues.change(&*handler, 1, 0);
        let outcome = handler.handle(payload.freeze(), &mut session).await;
        handler.handled(&mut session, read_at.elapsed());
        let handled = Instant::now();
        let stamps = Stamps { tag: handler.request_tag(&mut session), read: read_at, started: read_at, handled };
        // The handler is done with the request bytes (a deferred answer holds
        // only its response), so they go back to the budget here.
        drop(reservation);
        let queued = match outcome {
            Outcome::Respond(bytes) => {
                queues.change(&*handler, -1, 1);
                Queued::Ready(Answer::Bytes(bytes), stamps)
            }
            Outcome::RespondChunks(chunks) => {
                queues.change(&*handler, -1, 1);
                Queued::Ready(Answer::Chunks(chunks), stamps)
            }
            Outcome::Deferred(answer) => Queued::Later(answer, stamps),
            Outcome::NoResponse => {
                queues.change(&*handler, -1, 0);
                if stamps.tag.kind.is_some() {
                    handler.request_done(stamps.tag, &stamps.times(handled, handled, handled));
                }
                continue;
            }
            Outcome::Close(reason) => {
                shared.malformed.closing(peer, &reason);
                break;
            }
            Outcome::RespondThenClose(bytes, reason) => {
                tracing::debug!(%peer, %reason, "closing after the answer");
                unanswered.fetch_add(1, Ordering::AcqRel);
                queues.change(&*handler, -1, 1);
                let _ = tx.send(Queued::Ready(Answer::Bytes(bytes), stamps)).await;
                break;
            }
        };
        unanswered.fetch_add(1, Ordering::AcqRel);
        if tx.send(queued).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
    queues.settle(&*handler);
    handler.connection_closed(listener);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A file on disk (so `sendfile` has a real descriptor), or the same bytes
    /// without one (the copying path).
    struct TestFile {
        file: std::fs::File,
        real: bool,
    }

    impl FileSource for TestFile {
        fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
            std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, position)
        }
        fn as_file(&self) -> Option<&std::fs::File> {
            self.real.then_some(&self.file)
        }
    }

    /// Answers every request with a 4-byte length prefix, `b"head"`, `len`
    /// bytes of the file from `position`, and `b"tail"`.
    struct FileAnswers {
        file: Arc<TestFile>,
        position: u64,
        len: usize,
    }

    impl RequestHandler for FileAnswers {
        type Session = ();
        fn open(&self, _conn: ConnInfo) {}
        async fn handle(&self, _payload: Bytes, _session: &mut ()) -> Outcome {
            let size = (8 + self.len) as i32;
            let mut head = size.to_be_bytes().to_vec();
            head.extend_from_slice(b"head");
            let file = FileChunk { file: self.file.clone(), position: self.position, len: self.len };
            Outcome::RespondChunks(vec![
                Chunk::Bytes(Bytes::from(head)),
                Chunk::File(file),
                Chunk::Bytes(Bytes::from_static(b"tail")),
            ])
        }
    }

    fn content() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
    }

    /// Serves one connection with `handler` over plain TCP (`sendfile`) or the
    /// generic path (copying), sends one request, and reads until EOF.
    async fn exchange(handler: FileAnswers, tcp: bool) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_trigger, shutdown) = crate::network::shutdown::channel();
        let server = tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            let conn = ConnInfo { peer, listener: 0, peer_certificates: None };
            let shared = Arc::new(Shared::new(
                1 << 20,
                Duration::from_secs(30),
                Duration::from_secs(30),
                RequestBudget::unlimited(),
            ));
            if tcp {
                run_tcp(stream, conn, Arc::new(handler), shared, shutdown).await;
            } else {
                run(stream, conn, Arc::new(handler), shared, shutdown).await;
            }
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]).await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        server.await.unwrap();
        got
    }

    async fn check(real: bool, tcp: bool) {
        let bytes = content();
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&bytes).unwrap();
        let file = Arc::new(TestFile { file: tmp, real });
        let (position, len) = (12_345u64, 2_500_000usize);
        let got = exchange(FileAnswers { file, position, len }, tcp).await;
        let mut want = ((8 + len) as i32).to_be_bytes().to_vec();
        want.extend_from_slice(b"head");
        want.extend_from_slice(&bytes[position as usize..position as usize + len]);
        want.extend_from_slice(b"tail");
        assert_eq!(got.len(), want.len(), "real={real} tcp={tcp}");
        assert!(got == want, "bytes differ (real={real} tcp={tcp})");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_chunks_go_out_whole_by_sendfile_and_by_copying() {
        check(true, true).await; // sendfile
        check(false, true).await; // no descriptor: copied
        check(true, false).await; // generic stream (as TLS): copied
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_shorter_than_promised_closes_the_connection() {
        for (real, tcp) in [(true, true), (false, true)] {
            let mut tmp = tempfile::tempfile().unwrap();
            tmp.write_all(&[7u8; 1000]).unwrap();
            let file = Arc::new(TestFile { file: tmp, real });
            let got = exchange(FileAnswers { file, position: 500, len: 100_000 }, tcp).await;
            // The prefix promised 100,008 bytes; the connection closes after what the file had.
            assert!(got.len() < 4 + 100_008, "real={real}: got {} bytes", got.len());
            assert_eq!(&got[4..8], b"head");
        }
    }
}
