//! The network side: the tokio accept loop, one task per connection, the per-IP
//! connection limit, and the [`ZkServer`] handle with its lifecycle.
//!
//! A connection task reads frames, decodes them (a malformed frame closes only this
//! connection) and forwards them to the request processor (`core.rs`), which runs
//! on its own thread; it writes back whatever the processor queues for it, in order.
//! The first four bytes of a connection may be a four-letter word instead of a
//! frame length.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use super::config::ZkConfig;
use super::core::{Core, CoreMsg, Outbound, Outbox};
use super::error::ZkError;
use super::fourlw;
use super::jute::{frame_length, Reader, FRAME_SLACK};
use super::proto::{decode_request, ConnectRequest, Request};
use super::session::ConnId;
use super::write_faults::WriteFaults;

/// Requests one connection may have waiting in the processor.
const MAX_IN_FLIGHT: usize = 1000;
/// How long shutdown waits for connection tasks to finish.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// Largest batch of queued frames written with one syscall.
const WRITE_BATCH: usize = 64 * 1024;

/// What connection tasks share.
struct NetCtx {
    core_tx: std_mpsc::Sender<CoreMsg>,
    max_frame: usize,
    max_per_ip: u32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    next_conn: AtomicU64,
}

/// Counts a connection against its IP's limit while alive.
struct IpSlot {
    ctx: Arc<NetCtx>,
    ip: IpAddr,
}

impl IpSlot {
    fn acquire(ctx: &Arc<NetCtx>, ip: IpAddr) -> Option<IpSlot> {
        let mut map = ctx.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(ip).or_insert(0);
        if ctx.max_per_ip > 0 && *count >= ctx.max_per_ip {
            return None;
        }
        *count += 1;
        Some(IpSlot { ctx: ctx.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.ctx.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// A running ZooKeeper-compatible server.
pub struct ZkServer {
    local_addr: SocketAddr,
    stop_tx: Arc<watch::Sender<bool>>,
    core_tx: std_mpsc::Sender<CoreMsg>,
    accept_task: Option<JoinHandle<()>>,
    core_thread: Option<std::thread::JoinHandle<Result<(), ZkError>>>,
}

impl ZkServer {
    /// Binds the client port (port 0 picks a free one), recovers the data
    /// directory and returns once the server is listening.
    pub async fn start(config: ZkConfig) -> Result<ZkServer, ZkError> {
        ZkServer::start_with_faults(config, WriteFaults::from_env()).await
    }

    /// [`ZkServer::start`] with a failure switch for the log and snapshot writes,
    /// for tests that fill the disk.
    pub async fn start_with_faults(config: ZkConfig, faults: WriteFaults) -> Result<ZkServer, ZkError> {
        let (stop_tx, _) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        // The port first: a second server started by mistake on a taken port
        // fails at once, before it reads (and locks) a data directory that may
        // be the running server's.
        let addr = config.client_port_address;
        let listener = TcpListener::bind(addr).await.map_err(|source| ZkError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ZkError::Bind { addr, source })?;
        let open_cfg = config.clone();
        let open_stop = stop_tx.clone();
        let core = tokio::task::spawn_blocking(move || Core::open(open_cfg, open_stop, faults))
            .await
            .map_err(|e| ZkError::Stopped(format!("recovery task failed: {e}")))??;
        let (core_tx, core_rx) = std_mpsc::channel();
        let core_thread = std::thread::Builder::new()
            .name("zk-processor".into())
            .spawn(move || core.run(core_rx))
            .map_err(|e| ZkError::Stopped(format!("cannot start the request processor thread: {e}")))?;
        let ctx = Arc::new(NetCtx {
            core_tx: core_tx.clone(),
            max_frame: config.jute_max_buffer + FRAME_SLACK,
            max_per_ip: config.max_client_cnxns,
            per_ip: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        });
        let accept_task = tokio::spawn(accept_loop(listener, ctx, stop_tx.subscribe()));
        info!(%local_addr, data_dir = %config.data_dir.display(), "ZooKeeper server listening");
        Ok(ZkServer { local_addr, stop_tx, core_tx, accept_task: Some(accept_task), core_thread: Some(core_thread) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that reads the server's stats for `/metrics` (see [`super::metrics`]).
    pub fn stats_source(&self) -> super::metrics::StatsSource {
        super::metrics::StatsSource { core_tx: self.core_tx.clone() }
    }

    /// Resolves when the server stopped on its own (its request processor ended).
    async fn stopped_on_its_own(&self) {
        let mut rx = self.stop_tx.subscribe();
        stopped(&mut rx).await;
    }

    /// Graceful stop: no new connections, connections closed, a final snapshot
    /// written. Sessions are kept (in the snapshot), as ZooKeeper keeps them: clients
    /// that reconnect to the restarted server within their timeout keep them.
    pub async fn shutdown(mut self) -> Result<(), ZkError> {
        self.stop(true).await
    }

    /// Abrupt stop without a final snapshot — what a crash (kill -9) leaves behind
    /// on disk. Every acknowledged write is in the fsynced log anyway; restarting on
    /// the same data directory replays it. Meant for crash tests.
    pub async fn kill(mut self) {
        if let Err(e) = self.stop(false).await {
            debug!(error = %e, "server killed after an earlier failure");
        }
    }

    async fn stop(&mut self, snapshot: bool) -> Result<(), ZkError> {
        self.stop_tx.send_replace(true);
        if let Some(task) = self.accept_task.take() {
            if !snapshot {
                task.abort();
            }
            let _ = task.await;
        }
        let (done_tx, done_rx) = oneshot::channel();
        let sent = self.core_tx.send(CoreMsg::Shutdown { snapshot, done: Some(done_tx) }).is_ok();
        let reported = if sent { done_rx.await.ok() } else { None };
        let joined = match self.core_thread.take() {
            Some(handle) => tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| ZkError::Stopped(e.to_string()))
                .and_then(|r| r.map_err(|_| ZkError::Stopped("request processor panicked".into())))
                .and_then(|r| r),
            None => Ok(()),
        };
        match reported {
            Some(result) => result.and(joined),
            None => joined,
        }
    }
}

impl Drop for ZkServer {
    /// Dropping without [`ZkServer::shutdown`] stops like [`ZkServer::kill`], but
    /// without waiting.
    fn drop(&mut self) {
        if self.core_thread.is_some() {
            self.stop_tx.send_replace(true);
            if let Some(task) = self.accept_task.take() {
                task.abort();
            }
            let _ = self.core_tx.send(CoreMsg::Shutdown { snapshot: false, done: None });
        }
    }
}

/// Runs a server until `shutdown` resolves (or the server fails), then stops it
/// gracefully. For `gregor zookeeper-start`.
pub async fn run(config: ZkConfig, shutdown: impl Future<Output = ()>) -> Result<(), ZkError> {
    let server = ZkServer::start(config).await?;
    tokio::select! {
        () = shutdown => info!("shutting down the ZooKeeper server"),
        () = server.stopped_on_its_own() => warn!("the ZooKeeper server stopped on its own"),
    }
    server.shutdown().await
}

async fn accept_loop(listener: TcpListener, ctx: Arc<NetCtx>, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(10);
                    let Some(slot) = IpSlot::acquire(&ctx, peer.ip()) else {
                        warn!(%peer, limit = ctx.max_per_ip, "too many connections from this address (maxClientCnxns); closing");
                        drop(stream);
                        continue;
                    };
                    let conn = ctx.next_conn.fetch_add(1, Ordering::Relaxed);
                    tasks.spawn(serve_connection(stream, peer, conn, ctx.clone(), stop.clone(), slot));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    warn!(error = %e, "accept failed; retrying in {} ms", backoff.as_millis());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!("connections did not close in time; aborting them");
        tasks.abort_all();
    }
}

/// Reads one whole frame (after the 4 bytes already peeked), or `None` on EOF,
/// error, stop or a bad length.
async fn read_frame(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    max: usize,
    stop: &mut watch::Receiver<bool>,
) -> Option<BytesMut> {
    loop {
        match frame_length(buf, max) {
            Ok(Some(len)) => {
                buf.advance(4);
                return Some(buf.split_to(len));
            }
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "refusing connection");
                return None;
            }
        }
        tokio::select! {
            () = stopped(stop) => return None,
            r = rd.read_buf(buf) => match r {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
        }
    }
}

/// Splits every complete frame off `buf` and decodes it.
fn take_requests(buf: &mut BytesMut, max: usize) -> Result<Vec<(i32, Request)>, String> {
    let mut out = Vec::new();
    while let Some(len) = frame_length(buf, max).map_err(|e| e.to_string())? {
        buf.advance(4);
        let payload = buf.split_to(len);
        let (header, request, _) = decode_request(&payload).map_err(|e| e.to_string())?;
        out.push((header.xid, request));
    }
    Ok(out)
}

async fn write_out(
    wr: &mut OwnedWriteHalf,
    first: Vec<u8>,
    rx: &mut mpsc::UnboundedReceiver<Outbound>,
    queued: &AtomicUsize,
) -> Result<bool, std::io::Error> {
    let mut batch = first;
    let mut close = false;
    while batch.len() < WRITE_BATCH {
        match rx.try_recv() {
            Ok(Outbound::Frame(f)) => batch.extend_from_slice(&f),
            Ok(Outbound::Close) => {
                close = true;
                break;
            }
            Err(_) => break,
        }
    }
    wr.write_all(&batch).await?;
    queued.fetch_sub(batch.len().min(queued.load(Ordering::Acquire)), Ordering::AcqRel);
    Ok(close)
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    ctx: Arc<NetCtx>,
    mut stop: watch::Receiver<bool>,
    _slot: IpSlot,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(4096);
    while buf.len() < 4 {
        tokio::select! {
            () = stopped(&mut stop) => return,
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
    if let Some(word) = fourlw::parse(&buf) {
        let (tx, rx) = oneshot::channel();
        if ctx.core_tx.send(CoreMsg::FourLetter { word: word.to_string(), peer, reply: tx }).is_ok() {
            if let Ok(text) = rx.await {
                let _ = wr.write_all(text.as_bytes()).await;
            }
        }
        let _ = wr.shutdown().await;
        return;
    }
    let Some(payload) = read_frame(&mut rd, &mut buf, ctx.max_frame, &mut stop).await else {
        return;
    };
    let request = match ConnectRequest::decode(&mut Reader::new(&payload)) {
        Ok(r) => r,
        Err(e) => {
            warn!(%peer, error = %e, "malformed ConnectRequest; closing");
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let out = Outbox { tx: out_tx, queued: queued.clone() };
    if ctx.core_tx.send(CoreMsg::Connect { conn, peer, request, out }).is_err() {
        return;
    }
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let reason: String = loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break "server stopping".into(),
            out = out_rx.recv() => match out {
                Some(Outbound::Frame(frame)) => match write_out(&mut wr, frame, &mut out_rx, &queued).await {
                    Ok(false) => {}
                    Ok(true) => break "closed by server".into(),
                    Err(e) => break format!("write failed: {e}"),
                },
                Some(Outbound::Close) | None => break "closed by server".into(),
            },
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => break "closed by client".into(),
                Err(e) => break format!("read failed: {e}"),
                Ok(_) => {
                    let requests = match take_requests(&mut buf, ctx.max_frame) {
                        Ok(r) => r,
                        Err(e) => {
                            warn!(%peer, error = %e, "malformed request; closing the connection");
                            break format!("malformed request: {e}");
                        }
                    };
                    let mut lost = false;
                    for (xid, request) in requests {
                        let permit = permits.clone().acquire_owned().await.ok();
                        let msg = CoreMsg::Request { conn, xid, request, received: Instant::now(), permit };
                        if ctx.core_tx.send(msg).is_err() {
                            lost = true;
                            break;
                        }
                    }
                    if lost {
                        break "request processor gone".into();
                    }
                }
            },
        }
    };
    debug!(%peer, conn, reason, "connection closing");
    let _ = wr.shutdown().await;
    let _ = ctx.core_tx.send(CoreMsg::Disconnected { conn });
}
