//! One TCP connection to one broker, shared by every request sent to it;
//! wrapped in TLS when the client's [`Security`](super::Security) says so (the
//! certificate is checked against the host name dialled, or its IP address).
//!
//! Requests are pipelined: callers encode their request, register a oneshot
//! under a fresh correlation id and hand the bytes to a writer task; a reader
//! task matches each response frame to its waiter by correlation id. The
//! broker answers a connection's requests in order, but nothing here relies on
//! it. When the connection breaks every waiter gets the error and the
//! connection reports itself closed so the pool replaces it.
//!
//! The API versions are negotiated once per connection with ApiVersions (v3,
//! falling back to v0 when the broker answers UNSUPPORTED_VERSION) and capped
//! to what this client encodes.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::ClientError;
use crate::network::tls;

/// Largest response frame accepted; checked before allocating.
const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;
/// Socket buffering on each side.
const IO_BUFFER: usize = 64 * 1024;

/// Highest version of each API this client speaks, beyond which request
/// shapes change in ways it does not implement (Produce/Fetch v13 address
/// topics by id only).
pub(crate) fn client_max(api: ApiKey) -> i16 {
    let crate_max = api.valid_versions().max;
    let cap = match api {
        ApiKey::Produce | ApiKey::Fetch => 12,
        ApiKey::ApiVersions => 3,
        _ => crate_max,
    };
    cap.min(crate_max)
}

type Waiter = oneshot::Sender<Result<Bytes, ClientError>>;

#[derive(Default)]
struct Pending {
    waiters: HashMap<i32, Waiter>,
    closed: Option<ClientError>,
}

/// State shared between the handle, its reader task and its writer task.
struct Shared {
    addr: String,
    pending: Mutex<Pending>,
}

impl Shared {
    /// Marks the connection dead and fails every waiter with `err`.
    fn close(&self, err: ClientError) {
        let waiters = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.closed.is_none() {
                p.closed = Some(err.clone());
            }
            std::mem::take(&mut p.waiters)
        };
        for (_, w) in waiters {
            let _ = w.send(Err(err.clone()));
        }
    }

    fn remove(&self, correlation_id: i32) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.waiters.remove(&correlation_id);
    }
}

/// A live connection to one broker.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    client_id: StrBytes,
    correlation: AtomicI32,
    /// Frames for the writer task; bounded in practice by the callers' in-flight limits.
    writer: mpsc::UnboundedSender<Outgoing>,
    /// Broker ranges by API key, known after the ApiVersions handshake.
    ranges: OnceLock<HashMap<i16, (i16, i16)>>,
    request_timeout: Duration,
    reader_task: JoinHandle<()>,
    /// When a SASL session lifetime (`connections.max.reauth.ms`) was granted: the moment
    /// (85% into it) after which the pool opens a fresh connection instead of reusing this
    /// one, so no request reaches the broker after the session expired.
    retire_at: OnceLock<std::time::Instant>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer ends when its channel closes; the reader would wait for the
        // broker to close its side, so stop it now.
        self.reader_task.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("addr", &self.shared.addr).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, starts the reader and writer tasks and negotiates versions.
    pub(crate) async fn connect(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
        security: &super::Security,
    ) -> Result<Arc<Connection>, ClientError> {
        security.check_supported()?;
        let connect_timeout = request_timeout.min(Duration::from_secs(10));
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(ClientError::io(addr, e)),
            Err(_) => return Err(ClientError::timeout(format!("connecting to broker {addr}"), connect_timeout)),
        };
        // Small requests (metadata, acks) must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let shared = Arc::new(Shared { addr: addr.to_string(), pending: Mutex::new(Pending::default()) });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader_task = match &security.tls {
            None => {
                // Plaintext keeps the lock-free owned halves.
                let (read_half, write_half) = stream.into_split();
                tokio::spawn(write_loop(rx, write_half, shared.clone()));
                tokio::spawn(read_loop(read_half, shared.clone()))
            }
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                let stream = match tokio::time::timeout(connect_timeout, tls::connect(tls.clone(), host, stream)).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        let e = std::io::Error::new(e.kind(), format!("TLS handshake failed: {e}"));
                        return Err(ClientError::io(addr, e));
                    }
                    Err(_) => {
                        return Err(ClientError::timeout(
                            format!("in the TLS handshake with broker {addr}"),
                            connect_timeout,
                        ))
                    }
                };
                // One task reads and one writes, so the split's lock is never contended.
                let (read_half, write_half) = tokio::io::split(stream);
                tokio::spawn(write_loop(rx, write_half, shared.clone()));
                tokio::spawn(read_loop(read_half, shared.clone()))
            }
        };
        let conn = Arc::new(Connection {
            shared,
            client_id: StrBytes::from_string(client_id.to_string()),
            correlation: AtomicI32::new(0),
            writer: tx,
            ranges: OnceLock::new(),
            request_timeout,
            reader_task,
            retire_at: OnceLock::new(),
        });
        conn.negotiate().await?;
        if let Some(login) = &security.sasl {
            if let Some(lifetime) = super::sasl::authenticate(&conn, login).await? {
                let _ = conn.retire_at.set(std::time::Instant::now() + lifetime.mul_f64(0.85));
            }
        }
        Ok(conn)
    }

    /// The address this connection was made to.
    pub(crate) fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// How long an ordinary request may take (`request.timeout.ms`).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Whether the connection broke, or its SASL session is about to expire (it is then
    /// useless for new requests and must be replaced).
    pub(crate) fn is_closed(&self) -> bool {
        if self.retire_at.get().is_some_and(|at| std::time::Instant::now() >= *at) {
            return true;
        }
        let p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.closed.is_some()
    }

    /// Closes the connection, failing every waiting request.
    pub(crate) fn close(&self, err: ClientError) {
        self.shared.close(err);
    }

    /// The highest version of `api` both sides support, if any.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16, ClientError> {
        let broker = self.ranges.get().and_then(|r| r.get(&(api as i16)).copied());
        let client = api.valid_versions();
        let max = client_max(api);
        match broker {
            Some((bmin, bmax)) if bmin <= max && client.min <= bmax => Ok(bmax.min(max)),
            _ => Err(ClientError::protocol(
                self.addr(),
                format!(
                    "the broker does not support a version of {api:?} this client speaks ({}..{max}); broker offers \
                     {}",
                    client.min,
                    broker.map_or("none".to_string(), |(a, b)| format!("{a}..{b}"))
                ),
            )),
        }
    }

    /// Encodes and queues `req`; the returned future yields its response.
    pub(crate) fn send<R: Request>(&self, req: &R, version: i16) -> Result<ResponseFuture<R::Response>, ClientError> {
        let correlation_id = self.next_correlation_id();
        let frame = self.encode::<R>(req, version, correlation_id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(err) = &p.closed {
                return Err(err.clone());
            }
            p.waiters.insert(correlation_id, tx);
        }
        if self.writer.send(Outgoing { frame, written: None }).is_err() {
            self.shared.remove(correlation_id);
            return Err(self.closed_error());
        }
        Ok(ResponseFuture {
            rx,
            shared: self.shared.clone(),
            correlation_id,
            version,
            api: R::KEY,
            timeout: self.request_timeout,
            _response: PhantomData,
        })
    }

    /// Queues a request the broker will not answer (Produce with acks=0); the
    /// returned future resolves once it was handed to the socket.
    pub(crate) fn send_oneway<R: Request>(&self, req: &R, version: i16) -> Result<WriteFuture, ClientError> {
        let correlation_id = self.next_correlation_id();
        let frame = self.encode::<R>(req, version, correlation_id)?;
        {
            let p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(err) = &p.closed {
                return Err(err.clone());
            }
        }
        let (tx, rx) = oneshot::channel();
        self.writer.send(Outgoing { frame, written: Some(tx) }).map_err(|_| self.closed_error())?;
        Ok(WriteFuture { rx, shared: self.shared.clone(), timeout: self.request_timeout })
    }

    /// Sends `req` and waits for its response.
    pub(crate) async fn call<R: Request>(&self, req: &R, version: i16) -> Result<R::Response, ClientError> {
        self.send(req, version)?.await_response().await
    }

    fn next_correlation_id(&self) -> i32 {
        // Wraps at i32::MAX; ids only need to be unique among requests in flight.
        self.correlation.fetch_add(1, Ordering::Relaxed) & i32::MAX
    }

    fn closed_error(&self) -> ClientError {
        let p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.closed.clone().unwrap_or_else(|| {
            ClientError::io(self.addr(), std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed"))
        })
    }

    fn encode<R: Request>(&self, req: &R, version: i16, correlation_id: i32) -> Result<Bytes, ClientError> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::protocol(self.addr(), "unknown API key"))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = R::header_version(version);
        let fail =
            |e: String| ClientError::protocol(self.addr(), format!("cannot encode {api:?} v{version} request: {e}"));
        let size = header.compute_size(header_version).map_err(|e| fail(e.to_string()))?
            + req.compute_size(version).map_err(|e| fail(e.to_string()))?;
        let size_i32 = i32::try_from(size)
            .map_err(|_| ClientError::protocol(self.addr(), format!("{api:?} request of {size} bytes is too large")))?;
        let mut buf = BytesMut::with_capacity(4 + size);
        buf.put_i32(size_i32);
        header.encode(&mut buf, header_version).map_err(|e| fail(e.to_string()))?;
        req.encode(&mut buf, version).map_err(|e| fail(e.to_string()))?;
        Ok(buf.freeze())
    }

    /// ApiVersions v3; on UNSUPPORTED_VERSION (KIP-511: the answer is then a v0
    /// body) ask again with v0.
    async fn negotiate(&self) -> Result<(), ClientError> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let body = self.send(&req, 3)?.await_body().await?;
        let error_code = body.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]]));
        let resp = if error_code == Some(35) {
            self.send(&ApiVersionsRequest::default(), 0)?.await_response().await?
        } else {
            let malformed =
                |e: String| ClientError::protocol(self.addr(), format!("malformed ApiVersions response: {e}"));
            crate::protocol::probe::fits::<ApiVersionsResponse>(&body, 3).map_err(malformed)?;
            let mut buf = body;
            ApiVersionsResponse::decode(&mut buf, 3).map_err(|e| malformed(e.to_string()))?
        };
        ClientError::check(resp.error_code, None, || format!("ApiVersions to {}", self.addr()))?;
        let ranges = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        let _ = self.ranges.set(ranges);
        Ok(())
    }
}

/// A frame for the writer task, optionally with someone to tell once it is written.
struct Outgoing {
    frame: Bytes,
    written: Option<oneshot::Sender<()>>,
}

/// A one-way request not yet written; see [`Connection::send_oneway`].
pub(crate) struct WriteFuture {
    rx: oneshot::Receiver<()>,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl WriteFuture {
    /// Waits until the request was written to the socket.
    pub(crate) async fn written(self) -> Result<(), ClientError> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => {
                let p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
                Err(p.closed.clone().unwrap_or_else(|| {
                    ClientError::io(
                        &self.shared.addr,
                        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed"),
                    )
                }))
            }
            Err(_) => Err(ClientError::timeout(format!("writing to broker {}", self.shared.addr), self.timeout)),
        }
    }
}

/// A response not yet received; resolve it with [`ResponseFuture::await_response`].
pub(crate) struct ResponseFuture<T> {
    rx: oneshot::Receiver<Result<Bytes, ClientError>>,
    shared: Arc<Shared>,
    correlation_id: i32,
    version: i16,
    api: i16,
    timeout: Duration,
    _response: PhantomData<fn() -> T>,
}

impl<T: Decodable + HeaderVersion> ResponseFuture<T> {
    /// Waits `timeout` instead of the connection's request timeout (long polls).
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits for the response and decodes it.
    pub(crate) async fn await_response(self) -> Result<T, ClientError> {
        let version = self.version;
        let shared = self.shared.clone();
        let api = self.api;
        let mut body = self.await_body().await?;
        let malformed = |e: String| {
            let api = ApiKey::try_from(api).map_or_else(|_| format!("API {api}"), |a| format!("{a:?}"));
            ClientError::protocol(&shared.addr, format!("malformed {api} v{version} response: {e}"))
        };
        // Lengths beyond the frame would make the codec allocate without bound.
        crate::protocol::probe::fits::<T>(&body, version).map_err(malformed)?;
        T::decode(&mut body, version).map_err(|e| malformed(e.to_string()))
    }

    /// Waits for the response frame and strips its header.
    async fn await_body(self) -> Result<Bytes, ClientError> {
        let ResponseFuture { rx, shared, correlation_id, version, timeout, .. } = self;
        let payload = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => {
                return Err(ClientError::io(
                    &shared.addr,
                    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection closed"),
                ))
            }
            Err(_) => {
                shared.remove(correlation_id);
                let err = ClientError::timeout(format!("waiting for a response from broker {}", shared.addr), timeout);
                // A broker that does not answer in time is treated as gone: later
                // requests on this connection would queue behind the stuck one.
                shared.close(err.clone());
                return Err(err);
            }
        };
        let mut buf = payload;
        ResponseHeader::decode(&mut buf, T::header_version(version))
            .map_err(|e| ClientError::protocol(&shared.addr, format!("malformed response header: {e}")))?;
        Ok(buf)
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    write_half: W,
    shared: Arc<Shared>,
) {
    let mut w = BufWriter::with_capacity(IO_BUFFER, write_half);
    let mut notify: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut result = Ok(());
        // Coalesce whatever else is queued into the same flush.
        while let Some(out) = next.take() {
            result = w.write_all(&out.frame).await;
            notify.extend(out.written);
            if result.is_err() {
                break;
            }
            next = rx.try_recv().ok();
        }
        if result.is_ok() {
            result = w.flush().await;
        }
        if let Err(e) = result {
            shared.close(ClientError::io(&shared.addr, e));
            return;
        }
        for n in notify.drain(..) {
            let _ = n.send(());
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(read_half: R, shared: Arc<Shared>) {
    let mut reader = BufReader::with_capacity(IO_BUFFER, read_half);
    let err = loop {
        match read_frame(&mut reader).await {
            Ok(frame) => {
                let Some(id) = frame.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else {
                    break ClientError::protocol(&shared.addr, "response frame shorter than its header");
                };
                let waiter = {
                    let mut p = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
                    p.waiters.remove(&id)
                };
                // No waiter: the request timed out and its answer is dropped.
                if let Some(w) = waiter {
                    let _ = w.send(Ok(frame));
                }
            }
            Err(FrameReadError::Io(e)) => break ClientError::io(&shared.addr, e),
            Err(FrameReadError::Invalid(reason)) => break ClientError::protocol(&shared.addr, reason),
        }
    };
    shared.close(err);
}

enum FrameReadError {
    Io(std::io::Error),
    Invalid(String),
}

async fn read_frame<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Bytes, FrameReadError> {
    let mut prefix = [0u8; 4];
    reader.read_exact(&mut prefix).await.map_err(FrameReadError::Io)?;
    let size = i32::from_be_bytes(prefix);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| (4..=MAX_RESPONSE_BYTES).contains(s))
        .ok_or_else(|| FrameReadError::Invalid(format!("invalid response frame size {size}")))?;
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let want = (size - buf.len()) as u64;
        let n = (&mut *reader).take(want).read_buf(&mut buf).await.map_err(FrameReadError::Io)?;
        if n == 0 {
            return Err(FrameReadError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a response",
            )));
        }
    }
    Ok(buf.freeze())
}
