//! The request processor: one thread that owns the database, sessions, watches and
//! the transaction log, and handles every message from every connection in arrival
//! order.
//!
//! Why one thread: ZooKeeper's guarantees are about order — a client sees its
//! replies in request order, every client sees changes in zxid order, and a watch
//! notification reaches a client before the reply of the write that caused it.
//! Serialising everything through one owner gives that without locks. The thread
//! blocks on fsync, which is why it is a plain OS thread and not a tokio task.
//!
//! Durability: replies and notifications are not sent as they are produced but
//! queued; after a batch of messages the log is fsynced once, and only then is the
//! queue released to the connections. No client can observe a write (directly or
//! through a read that follows it) before it is on disk.
//!
//! Storage failures (a full disk) do not stop the processor. If the log append or
//! fsync of a batch fails, every transaction of the batch is undone in memory (each
//! applied transaction first saved what it touched, see [`Undo`]), so the tree never
//! holds a change that is not durable. Output the batch queued before its first
//! transaction goes out as usual; after that point, write replies become
//! MarshallingError (−5: the request was not carried out; ZooKeeper's answer when a
//! request cannot be processed, and one clients know changed nothing), and a
//! connection that had any other output there (a read that may have seen an undone
//! change, a notification of one, a connect response) gets its error replies and is
//! then closed, so the client reconnects and re-registers its watches. Until the log
//! is writable again writes are refused with −5 straight away, reads, pings and
//! re-attaches are served, and sessions do not expire (expiry is a write); every
//! [`RESUME_EVERY`] the log is reopened (`Persist::resume`), and once that works
//! sessions get a fresh timeout and writes are accepted again.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tracing::{debug, error, info, warn};

use super::config::ZkConfig;
use super::db::{Applied, Database, SessionRecord};
use super::error::ZkError;
use super::jute::Writer;
use super::persist::Persist;
use super::proto::{
    encode_notification, encode_reply, ClientInfo, ConnectRequest, ConnectResponse, ErrorCode, ReplyHeader, Request,
    Response, WatcherEvent,
};
use super::session::{new_password, ConnId, SessionTracker, TimeoutBounds};
use super::tree::{split_parent, SavedNodes, TreeError};
use super::txn::{Txn, TxnRecord};
use super::watch::{Change, WatchManager};
use super::write_faults::WriteFaults;

/// Bytes queued for one connection beyond which it is considered stuck and closed.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Messages handled before the log is fsynced and replies released.
const MAX_BATCH: usize = 1000;
/// Longest sleep of the processor when nothing is due.
const MAX_IDLE: Duration = Duration::from_millis(500);
/// How often a failed transaction log is tried again.
pub(crate) const RESUME_EVERY: Duration = Duration::from_secs(1);

/// What the processor sends to a connection task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A complete frame, length prefix included.
    Frame(Vec<u8>),
    /// Flush what came before and close the connection.
    Close,
}

/// The processor's handle on one connection's outgoing queue.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    pub tx: mpsc::UnboundedSender<Outbound>,
    /// Bytes sent into `tx` and not yet written to the socket.
    pub queued: Arc<AtomicUsize>,
}

/// Messages from the network side (and the server handle) to the processor.
pub(crate) enum CoreMsg {
    /// A new connection sent its ConnectRequest.
    Connect { conn: ConnId, peer: SocketAddr, request: ConnectRequest, out: Outbox },
    /// A request frame on an established connection. The permit bounds how many
    /// requests one connection can have queued here; it is released once handled.
    Request { conn: ConnId, xid: i32, request: Request, received: Instant, permit: Option<OwnedSemaphorePermit> },
    /// The connection is gone.
    Disconnected { conn: ConnId },
    /// A four-letter word from a fresh connection.
    FourLetter { word: String, peer: SocketAddr, reply: oneshot::Sender<String> },
    /// The numbers `/metrics` shows (`metricsProvider`).
    Metrics { reply: oneshot::Sender<super::metrics::ZkStats> },
    /// Stop: with a final snapshot (graceful) or without (simulated crash).
    Shutdown { snapshot: bool, done: Option<oneshot::Sender<Result<(), ZkError>>> },
}

/// One connection as the processor sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub out: Outbox,
    pub peer: SocketAddr,
    pub session: Option<i64>,
    pub auth: Vec<ClientInfo>,
    pub received: u64,
    pub sent: u64,
    pub close_sent: bool,
    pub last_zxid: i64,
}

/// Output waiting for the batch's fsync.
#[derive(Debug)]
struct Queued {
    conn: ConnId,
    out: Outbound,
    /// Set for the reply to a write: the request's xid, so that the reply can be
    /// turned into an error if the batch is undone.
    write_xid: Option<i32>,
}

/// What a transaction of the current batch changed, saved before it was applied.
#[derive(Debug)]
enum Undo {
    Nodes(SavedNodes),
    Session(i64, Option<SessionRecord>),
}

/// Server-wide counters for the four-letter words.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    pub received: u64,
    pub sent: u64,
    pub min_latency_ms: u64,
    pub max_latency_ms: u64,
    pub total_latency_ms: u64,
    pub latency_count: u64,
}

impl Stats {
    pub fn record_latency(&mut self, ms: u64) {
        if self.latency_count == 0 || ms < self.min_latency_ms {
            self.min_latency_ms = ms;
        }
        self.max_latency_ms = self.max_latency_ms.max(ms);
        self.total_latency_ms += ms;
        self.latency_count += 1;
    }

    pub fn avg_latency_ms(&self) -> f64 {
        if self.latency_count == 0 {
            0.0
        } else {
            self.total_latency_ms as f64 / self.latency_count as f64
        }
    }
}

/// The request a reply belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub conn: ConnId,
    pub session: i64,
    pub xid: i32,
    pub received: Instant,
}

/// Milliseconds since the epoch (ctime/mtime).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub(crate) struct Core {
    pub db: Database,
    pub sessions: SessionTracker,
    pub watches: WatchManager,
    pub persist: Persist,
    pub conns: HashMap<ConnId, Conn>,
    pub stats: Stats,
    pub config: ZkConfig,
    pub started: Instant,
    pending: Vec<Queued>,
    /// Undo records of the transactions applied since the last fsync, oldest first.
    undo: Vec<Undo>,
    /// Paths whose node `undo` already holds a copy of (one copy per path suffices,
    /// see [`super::tree::DataTree::capture_once`]); emptied with `undo`.
    undo_paths: HashSet<String>,
    /// The zxid the last successful fsync covers.
    durable_zxid: i64,
    /// Index in `pending` of the first output queued after the batch's first
    /// transaction (everything before it is safe whatever the fsync does).
    first_txn_output: Option<usize>,
    /// When to try reopening a failed log next.
    resume_at: Instant,
    next_sweep: Instant,
    /// An append of this batch failed (its error, for the log line).
    failure: Option<ZkError>,
    stop_tx: Arc<watch::Sender<bool>>,
}

impl Core {
    /// Recovers the database from the data directory.
    pub fn open(config: ZkConfig, stop_tx: Arc<watch::Sender<bool>>, faults: WriteFaults) -> Result<Core, ZkError> {
        let mut persist = Persist::open(
            &config.data_dir,
            config.data_log_dir.as_deref(),
            config.snapshot_every,
            config.snap_retain_count,
            faults,
        )?;
        let (db, _report) = persist.recover()?;
        let bounds = TimeoutBounds { min_ms: config.min_session_timeout(), max_ms: config.max_session_timeout() };
        let mut sessions = SessionTracker::new(bounds);
        let now = Instant::now();
        for (id, rec) in &db.sessions {
            let timeout = bounds.negotiate(rec.timeout_ms);
            sessions.add(*id, timeout, rec.passwd.clone(), None, now);
        }
        if !db.sessions.is_empty() {
            info!(sessions = db.sessions.len(), "restored sessions; they expire unless their clients reconnect");
        }
        let next_sweep = now + Duration::from_millis(config.container_check_interval_ms);
        let durable_zxid = db.last_zxid;
        Ok(Core {
            db,
            sessions,
            watches: WatchManager::new(),
            persist,
            conns: HashMap::new(),
            stats: Stats::default(),
            config,
            started: now,
            pending: Vec::new(),
            undo: Vec::new(),
            undo_paths: HashSet::new(),
            durable_zxid,
            first_txn_output: None,
            resume_at: now,
            next_sweep,
            failure: None,
            stop_tx,
        })
    }

    /// The processor loop; returns when told to stop or when every sender is gone.
    pub fn run(mut self, rx: Receiver<CoreMsg>) -> Result<(), ZkError> {
        let result = self.run_inner(&rx);
        // Whatever happened, make the network side let go.
        self.stop_tx.send_replace(true);
        if let Err(e) = &result {
            error!(error = %e, "ZooKeeper request processor stopped");
        }
        result
    }

    fn run_inner(&mut self, rx: &Receiver<CoreMsg>) -> Result<(), ZkError> {
        loop {
            let now = Instant::now();
            if self.persist.is_failed() && now >= self.resume_at {
                self.try_resume(now);
            }
            let mut wake = self.next_sweep.min(now + MAX_IDLE);
            if self.persist.is_failed() {
                // Sessions do not expire meanwhile; only the next retry is due.
                wake = wake.min(self.resume_at);
            } else if let Some(deadline) = self.sessions.next_deadline() {
                wake = wake.min(deadline);
            }
            let mut stop = None;
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(msg) => stop = self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = Some((false, None)),
            }
            let mut handled = 1;
            while stop.is_none() && handled < MAX_BATCH {
                match rx.try_recv() {
                    Ok(msg) => stop = self.handle(msg),
                    Err(_) => break,
                }
                handled += 1;
            }
            let now = Instant::now();
            if !self.persist.is_failed() {
                self.expire_sessions(now);
            }
            if now >= self.next_sweep {
                if !self.persist.is_failed() {
                    self.sweep();
                }
                self.next_sweep = now + Duration::from_millis(self.config.container_check_interval_ms);
            }
            self.flush();
            if self.persist.snapshot_due() {
                if let Err(e) = self.persist.snapshot(&self.db) {
                    warn!(error = %e, "cannot write a snapshot; the transaction log still holds everything, retrying later");
                }
            }
            if let Some((snapshot, done)) = stop {
                let result = self.stop(snapshot);
                return match done {
                    Some(done) => {
                        let _ = done.send(result);
                        Ok(())
                    }
                    None => result,
                };
            }
        }
    }

    fn stop(&mut self, snapshot: bool) -> Result<(), ZkError> {
        self.close_all();
        if snapshot && self.persist.is_failed() {
            // Everything acknowledged is in the log; recovery replays it.
            warn!("skipping the final snapshot: the data directory is not writable");
        } else if snapshot && self.persist.has_unsnapshotted() {
            self.persist.snapshot(&self.db)?;
        }
        info!(zxid = format_args!("{:#x}", self.db.last_zxid), snapshot, "ZooKeeper request processor stopped");
        Ok(())
    }

    fn close_all(&mut self) {
        for conn in self.conns.values_mut() {
            if !conn.close_sent {
                let _ = conn.out.tx.send(Outbound::Close);
                conn.close_sent = true;
            }
        }
    }

    /// Handles one message; `Some` asks the loop to stop.
    #[allow(clippy::type_complexity)]
    fn handle(&mut self, msg: CoreMsg) -> Option<(bool, Option<oneshot::Sender<Result<(), ZkError>>>)> {
        match msg {
            CoreMsg::Connect { conn, peer, request, out } => self.on_connect(conn, peer, request, out),
            CoreMsg::Request { conn, xid, request, received, permit } => {
                self.on_request(conn, xid, request, received);
                drop(permit);
            }
            CoreMsg::Disconnected { conn } => self.on_disconnect(conn),
            CoreMsg::FourLetter { word, peer, reply } => {
                debug!(%peer, word, "four-letter word");
                let _ = reply.send(super::fourlw::respond(self, &word));
            }
            CoreMsg::Metrics { reply } => {
                let _ = reply.send(super::metrics::ZkStats::read(self));
            }
            CoreMsg::Shutdown { snapshot, done } => return Some((snapshot, done)),
        }
        None
    }

    // ----- output -----

    /// Queues a frame or close for a connection; released after the next fsync.
    pub fn send(&mut self, conn: ConnId, out: Outbound) {
        self.pending.push(Queued { conn, out, write_xid: None });
    }

    /// Queues a reply to `ctx`'s request (not a write: see [`Core::reply_write`]).
    pub fn reply(&mut self, ctx: &Ctx, zxid: i64, err: ErrorCode, body: Response) {
        self.queue_reply(ctx, zxid, err, &body, false);
    }

    /// Queues the reply to a write request (whatever its outcome), which becomes
    /// MarshallingError if the batch's fsync fails.
    pub fn reply_write(&mut self, ctx: &Ctx, zxid: i64, err: ErrorCode, body: Response) {
        self.queue_reply(ctx, zxid, err, &body, true);
    }

    fn queue_reply(&mut self, ctx: &Ctx, zxid: i64, err: ErrorCode, body: &Response, write: bool) {
        let frame = encode_reply(ReplyHeader { xid: ctx.xid, zxid, err: err.code() }, body);
        self.stats.record_latency(ctx.received.elapsed().as_millis() as u64);
        if let Some(c) = self.conns.get_mut(&ctx.conn) {
            c.last_zxid = zxid;
        }
        let write_xid = write.then_some(ctx.xid);
        self.pending.push(Queued { conn: ctx.conn, out: Outbound::Frame(frame), write_xid });
    }

    /// Whether writes are refused (the transaction log failed and is not back yet).
    pub fn writes_refused(&self) -> bool {
        self.persist.is_failed()
    }

    /// Answers a write that cannot be carried out while the log is failing.
    pub fn refuse_write(&mut self, ctx: &Ctx) {
        let zxid = self.db.last_zxid;
        self.reply_write(ctx, zxid, STORAGE_FAILED, Response::Empty);
    }

    /// Queues a reply with the current zxid (reads and other non-transactions).
    pub fn reply_read(&mut self, ctx: &Ctx, err: ErrorCode, body: Response) {
        let zxid = self.db.last_zxid;
        self.reply(ctx, zxid, err, body);
    }

    /// Queues a notification for a session, if it is connected.
    pub fn send_event(&mut self, session: i64, event: &WatcherEvent) {
        if let Some(conn) = self.sessions.get(session).and_then(|s| s.conn) {
            self.send(conn, Outbound::Frame(encode_notification(event)));
        }
    }

    /// Fires the watches a list of changes triggers.
    pub fn notify(&mut self, changes: &[Change]) {
        for change in changes {
            for (session, event) in self.watches.trigger(change) {
                self.send_event(session, &event);
            }
        }
    }

    /// Fsyncs the log, then releases queued output; if the log write fails,
    /// undoes the batch first (see the module docs).
    fn flush(&mut self) {
        let committed = match self.failure.take() {
            Some(e) => Err(e),
            // Refused writes appended nothing; there is nothing to sync.
            None if self.persist.is_failed() => Ok(()),
            None => self.persist.commit(),
        };
        match committed {
            Ok(()) => {
                self.undo.clear();
                self.undo_paths.clear();
                self.durable_zxid = self.db.last_zxid;
            }
            Err(e) => self.undo_batch(&e),
        }
        self.first_txn_output = None;
        self.release();
    }

    /// Hands queued output to the connections.
    fn release(&mut self) {
        let mut overflowed = Vec::new();
        for Queued { conn: conn_id, out, .. } in std::mem::take(&mut self.pending) {
            let Some(conn) = self.conns.get_mut(&conn_id) else {
                continue;
            };
            if conn.close_sent {
                continue;
            }
            match out {
                Outbound::Frame(frame) => {
                    let queued = conn.out.queued.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
                    if queued > MAX_QUEUED_BYTES {
                        warn!(peer = %conn.peer, queued, "client is not reading its replies; closing the connection");
                        let _ = conn.out.tx.send(Outbound::Close);
                        conn.close_sent = true;
                        overflowed.push(conn_id);
                        continue;
                    }
                    if conn.out.tx.send(Outbound::Frame(frame)).is_ok() {
                        conn.sent += 1;
                        self.stats.sent += 1;
                    }
                }
                Outbound::Close => {
                    let _ = conn.out.tx.send(Outbound::Close);
                    conn.close_sent = true;
                }
            }
        }
        for conn in overflowed {
            self.detach(conn);
        }
    }

    // ----- transactions -----

    /// Applies a transaction to the database, first saving what it touches so the
    /// batch can be undone if its fsync fails. On error nothing has changed.
    pub fn apply_txn(&mut self, txn: &Txn, zxid: i64, time: i64) -> Result<Applied, TreeError> {
        self.first_txn_output.get_or_insert(self.pending.len());
        let mut paths = Vec::new();
        let mut sessions = Vec::new();
        touched(&self.db, txn, &mut paths, &mut sessions);
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let saved = self.db.tree.capture_once(&refs, &mut self.undo_paths);
        let mark = self.undo.len();
        self.undo.push(Undo::Nodes(saved));
        for id in sessions {
            let record = self.db.sessions.get(&id).cloned();
            self.undo.push(Undo::Session(id, record));
        }
        let applied = self.db.apply(txn, zxid, time);
        if applied.is_err() {
            // `apply` changed nothing: the saved copies are not needed.
            for undo in self.undo.drain(mark..) {
                if let Undo::Nodes(saved) = undo {
                    for (path, _) in saved {
                        self.undo_paths.remove(&path);
                    }
                }
            }
        }
        applied
    }

    /// Gives the next zxid to `txn`, logs it and advances the database zxid. The
    /// caller has already applied it with [`Core::apply_txn`] (or it changes nothing).
    pub fn log_txn(&mut self, zxid: i64, time_ms: i64, session: i64, txn: Txn) {
        self.first_txn_output.get_or_insert(self.pending.len());
        self.db.last_zxid = zxid;
        let rec = TxnRecord { zxid, time_ms, session_id: session, txn };
        if let Err(e) = self.persist.append(&rec) {
            self.failure.get_or_insert(e);
        }
    }

    /// Runs a checked write: applies and logs the transaction, or logs an error
    /// transaction (ZooKeeper spends a zxid on failed writes too). Returns the zxid
    /// and what applying did. While the log is failing nothing is applied or
    /// logged and the outcome is [`STORAGE_FAILED`].
    pub fn commit_write(
        &mut self,
        session: i64,
        prepared: Result<Txn, ErrorCode>,
    ) -> (i64, Result<Applied, ErrorCode>) {
        if self.writes_refused() {
            return (self.db.last_zxid, Err(STORAGE_FAILED));
        }
        let zxid = self.db.last_zxid + 1;
        let time = now_ms();
        let (txn, outcome) = match prepared {
            Ok(txn) => match self.apply_txn(&txn, zxid, time) {
                Ok(applied) => (txn, Ok(applied)),
                Err(e) => {
                    error!(error = %e, "checked transaction failed to apply");
                    (Txn::Error { err: ErrorCode::SystemError.code() }, Err(ErrorCode::SystemError))
                }
            },
            Err(code) => (Txn::Error { err: code.code() }, Err(code)),
        };
        self.log_txn(zxid, time, session, txn);
        (zxid, outcome)
    }

    /// The log append or fsync of this batch failed: undoes its transactions,
    /// brings the live sessions back in line with the database, and rewrites the
    /// output queued after the first transaction (see the module docs).
    fn undo_batch(&mut self, cause: &ZkError) {
        let undone = self.db.last_zxid - self.durable_zxid;
        error!(
            error = %cause,
            undone_transactions = undone,
            "transaction log write failed; writes are refused until the disk accepts them again \
             (retrying every {} s), reads and sessions are still served",
            RESUME_EVERY.as_secs()
        );
        self.undo_paths.clear();
        for undo in std::mem::take(&mut self.undo).into_iter().rev() {
            match undo {
                Undo::Nodes(saved) => self.db.tree.restore(saved),
                Undo::Session(id, Some(record)) => {
                    self.db.sessions.insert(id, record);
                }
                Undo::Session(id, None) => {
                    self.db.sessions.remove(&id);
                }
            }
        }
        self.db.last_zxid = self.durable_zxid;
        let now = Instant::now();
        self.resume_at = now + RESUME_EVERY;
        // Sessions created in the batch are gone again; sessions it closed (or
        // expired) are back, detached, with a fresh timeout.
        let created: Vec<i64> =
            self.sessions.iter().map(|s| s.id).filter(|id| !self.db.sessions.contains_key(id)).collect();
        for id in created {
            if let Some(conn) = self.sessions.remove(id).and_then(|s| s.conn) {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session = None;
                }
                self.send(conn, Outbound::Close);
            }
            self.watches.remove_session(id);
        }
        let bounds = self.sessions.bounds;
        let closed: Vec<(i64, SessionRecord)> = self
            .db
            .sessions
            .iter()
            .filter(|(id, _)| self.sessions.get(**id).is_none())
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        for (id, record) in closed {
            self.sessions.add(id, bounds.negotiate(record.timeout_ms), record.passwd, None, now);
        }
        let Some(cut) = self.first_txn_output else {
            return;
        };
        let zxid = self.db.last_zxid;
        let mut broken = HashSet::new();
        for queued in self.pending.split_off(cut.min(self.pending.len())) {
            if broken.contains(&queued.conn) {
                continue;
            }
            match (queued.out, queued.write_xid) {
                (Outbound::Frame(_), Some(xid)) => {
                    let header = ReplyHeader { xid, zxid, err: STORAGE_FAILED.code() };
                    let frame = encode_reply(header, &Response::Empty);
                    self.send(queued.conn, Outbound::Frame(frame));
                }
                (Outbound::Frame(_), None) | (Outbound::Close, _) => {
                    broken.insert(queued.conn);
                    self.send(queued.conn, Outbound::Close);
                }
            }
        }
    }

    /// Tries to reopen the failed log; on success sessions start a fresh timeout
    /// (their clients could not have done anything about the outage).
    fn try_resume(&mut self, now: Instant) {
        match self.persist.resume(self.db.last_zxid + 1) {
            Ok(()) => {
                let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
                for id in ids {
                    self.sessions.touch(id, now);
                }
                info!(
                    zxid = format_args!("{:#x}", self.db.last_zxid),
                    "transaction log writable again; accepting writes"
                );
            }
            Err(e) => {
                debug!(error = %e, "the transaction log is still not writable");
                self.resume_at = now + RESUME_EVERY;
            }
        }
    }

    // ----- connections and sessions -----

    fn on_connect(&mut self, conn_id: ConnId, peer: SocketAddr, req: ConnectRequest, out: Outbox) {
        let auth = vec![ClientInfo { scheme: "ip".into(), user: peer.ip().to_string() }];
        self.conns.insert(
            conn_id,
            Conn { out, peer, session: None, auth, received: 1, sent: 0, close_sent: false, last_zxid: 0 },
        );
        self.stats.received += 1;
        if req.last_zxid_seen > self.db.last_zxid {
            warn!(
                %peer,
                client_zxid = format_args!("{:#x}", req.last_zxid_seen),
                server_zxid = format_args!("{:#x}", self.db.last_zxid),
                "refusing session: client has seen a newer zxid than this server"
            );
            self.send(conn_id, Outbound::Close);
            return;
        }
        let read_only = req.read_only.map(|_| false);
        let now = Instant::now();
        if req.session_id == 0 {
            let timeout = self.sessions.bounds.negotiate(req.timeout_ms);
            let id = self.sessions.next_id();
            let passwd = new_password();
            let txn = Txn::CreateSession { session_id: id, timeout_ms: timeout as i32, passwd: passwd.clone() };
            let (_, outcome) = self.commit_write(id, Ok(txn));
            if outcome.is_err() {
                self.send(conn_id, Outbound::Close);
                return;
            }
            self.sessions.add(id, timeout, passwd.clone(), Some(conn_id), now);
            if let Some(c) = self.conns.get_mut(&conn_id) {
                c.session = Some(id);
            }
            info!(%peer, session = format_args!("{id:#x}"), timeout_ms = timeout, "session established");
            self.send_connect_response(conn_id, timeout, id, passwd, read_only);
            return;
        }
        let id = req.session_id;
        let valid = self.sessions.get(id).is_some_and(|s| s.passwd == req.passwd);
        if !valid {
            info!(%peer, session = format_args!("{id:#x}"), "rejecting reconnect: session expired or wrong password");
            self.send_connect_response(conn_id, 0, 0, vec![0; 16], read_only);
            self.send(conn_id, Outbound::Close);
            return;
        }
        // Re-attach: the old connection (if any) loses the session and its watches;
        // the client re-registers them with setWatches right after this.
        if let Some(old) = self.sessions.get(id).and_then(|s| s.conn) {
            if old != conn_id {
                self.detach(old);
                self.send(old, Outbound::Close);
            }
        }
        let timeout = self.sessions.bounds.negotiate(req.timeout_ms);
        let mut passwd = Vec::new();
        if let Some(s) = self.sessions.get_mut(id) {
            s.timeout_ms = timeout;
            s.conn = Some(conn_id);
            passwd = s.passwd.clone();
        }
        self.sessions.touch(id, now);
        if let Some(c) = self.conns.get_mut(&conn_id) {
            c.session = Some(id);
        }
        info!(%peer, session = format_args!("{id:#x}"), "session re-attached");
        self.send_connect_response(conn_id, timeout, id, passwd, read_only);
    }

    fn send_connect_response(
        &mut self,
        conn: ConnId,
        timeout: u32,
        session_id: i64,
        passwd: Vec<u8>,
        read_only: Option<bool>,
    ) {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: i32::try_from(timeout).unwrap_or(i32::MAX),
            session_id,
            passwd,
            read_only,
        };
        let mut w = Writer::frame();
        resp.encode(&mut w);
        self.send(conn, Outbound::Frame(w.finish_frame()));
    }

    /// Separates a connection from its session: the session stays (and ticks
    /// towards expiry); the connection's watches go.
    fn detach(&mut self, conn_id: ConnId) {
        let Some(session) = self.conns.get_mut(&conn_id).and_then(|c| c.session.take()) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(session) {
            if s.conn == Some(conn_id) {
                s.conn = None;
                self.watches.remove_session(session);
            }
        }
    }

    fn on_disconnect(&mut self, conn_id: ConnId) {
        self.detach(conn_id);
        if let Some(c) = self.conns.remove(&conn_id) {
            debug!(peer = %c.peer, "connection closed");
        }
    }

    /// Ends a session: deletes its ephemerals (firing watches), closes its
    /// connection, and answers `reply_to` (a closeSession request) if given.
    pub fn close_session(&mut self, session: i64, reply_to: Option<&Ctx>) {
        if self.writes_refused() {
            // The session stays (and expires later) if its client goes away.
            if let Some(ctx) = reply_to {
                self.refuse_write(ctx);
            }
            return;
        }
        let (zxid, outcome) = self.commit_write(session, Ok(Txn::CloseSession { session_id: session }));
        if let Ok(applied) = outcome {
            self.notify(&applied.changes);
        }
        let conn = self.sessions.remove(session).and_then(|s| s.conn);
        self.watches.remove_session(session);
        if let Some(ctx) = reply_to {
            self.reply_write(ctx, zxid, ErrorCode::Ok, Response::Empty);
        }
        if let Some(conn) = conn {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = None;
            }
            self.send(conn, Outbound::Close);
        }
    }

    fn expire_sessions(&mut self, now: Instant) {
        for id in self.sessions.expired(now) {
            info!(session = format_args!("{id:#x}"), "session expired");
            self.close_session(id, None);
        }
    }

    /// Deletes containers that had children and have none left, and TTL nodes
    /// that are childless and older (by mtime) than their TTL.
    fn sweep(&mut self) {
        let now = now_ms();
        let due: Vec<String> = self
            .db
            .tree
            .sweep_candidates()
            .filter(|p| {
                self.db.tree.get(p).is_some_and(|n| {
                    n.children.is_empty()
                        && match n.kind {
                            super::tree::NodeKind::Container => n.cversion > 0,
                            super::tree::NodeKind::Ttl(ttl) => now.saturating_sub(n.mtime) > ttl,
                            _ => false,
                        }
                })
            })
            .cloned()
            .collect();
        for path in due {
            debug!(path, "sweeping empty container or expired TTL node");
            let (_, outcome) = self.commit_write(0, Ok(Txn::Delete { path }));
            if let Ok(applied) = outcome {
                self.notify(&applied.changes);
            }
        }
    }

    fn on_request(&mut self, conn_id: ConnId, xid: i32, request: Request, received: Instant) {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return;
        };
        conn.received += 1;
        self.stats.received += 1;
        // Requests pipelined behind a refused connect, or after the session ended,
        // have no session to run in.
        let Some(session) = conn.session else {
            return;
        };
        if conn.close_sent {
            return;
        }
        self.sessions.touch(session, Instant::now());
        let ctx = Ctx { conn: conn_id, session, xid, received };
        super::ops::dispatch(self, &ctx, request);
    }
}

/// The answer to a write that was not carried out because the transaction log
/// could not be written.
pub(crate) const STORAGE_FAILED: ErrorCode = ErrorCode::MarshallingError;

/// The znodes (each with its parent where children change) and sessions a
/// transaction may change, for its undo record.
fn touched(db: &Database, txn: &Txn, paths: &mut Vec<String>, sessions: &mut Vec<i64>) {
    let with_parent = |path: &str, paths: &mut Vec<String>| {
        paths.push(path.to_string());
        if let Some((parent, _)) = split_parent(path) {
            paths.push(parent.to_string());
        }
    };
    match txn {
        Txn::CreateSession { session_id, .. } => sessions.push(*session_id),
        Txn::CloseSession { session_id } => {
            sessions.push(*session_id);
            for path in db.tree.ephemerals_of(*session_id) {
                with_parent(path, paths);
            }
        }
        Txn::Create { path, .. } | Txn::Delete { path } => with_parent(path, paths),
        Txn::SetData { path, .. } | Txn::SetAcl { path, .. } => paths.push(path.clone()),
        Txn::Multi(txns) => {
            for t in txns {
                touched(db, t, paths, sessions);
            }
        }
        Txn::Check { .. } | Txn::Error { .. } => {}
    }
}
