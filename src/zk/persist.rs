//! Durability: the transaction log and snapshots in `dataDir/version-2/`
//! (`dataLogDir/version-2/` for logs when configured).
//!
//! Every transaction is appended to the current log file and the file is fsynced
//! before any reply that depends on it leaves the server (the core batches: one
//! fsync covers every transaction processed since the last one). Every
//! `snapshot_every` transactions the whole database is written to a snapshot; the
//! next transaction then starts a new log file, and files no longer needed by the
//! newest `retain` snapshots are deleted. On start the newest readable snapshot is
//! loaded and every later logged transaction replayed, so znodes, sessions and the
//! zxid survive restarts. A torn record at the end of the last log file (a crash in
//! mid-write) is cut off; a gap in the zxid sequence refuses the start instead of
//! silently losing acknowledged writes.
//!
//! A failed write or fsync (a full disk, typically) does not stop the server: the
//! store marks itself failed and refuses appends; the caller rolls back what the
//! failed commit held and answers those writes with an error. [`Persist::resume`]
//! then cuts the abandoned log file back to what was durable (so no record of a
//! refused write can be replayed later), and starts a fresh log file whose header
//! is written and fsynced as a probe; once that works, appends are accepted again.
//! A failed snapshot is only a warning: the log still holds everything, and the
//! next attempt waits for another `snapshot_every` transactions.
//! Every write, fsync, creation and rename goes through [`WriteFaults`], the seam
//! tests use to fill the disk.
//!
//! File formats (all integers big-endian, strings/buffers as in jute):
//!
//! `log.<first zxid, lowercase hex>`:
//! - header: 8 bytes magic `GZKLOG01`, `long` first zxid;
//! - records: `u32 length`, `u32 crc32(payload)` (IEEE), payload =
//!   `long zxid, long timeMs, long sessionId` + transaction (see `txn.rs`).
//!
//! `snapshot.<last zxid, lowercase hex>` (written as `.tmp`, fsynced, renamed):
//! - 8 bytes magic `GZKSNAP1`, `long zxid`;
//! - `int n` sessions: `long id, int timeoutMs, buffer passwd`;
//! - `long n` nodes, parents before children: `ustring path, buffer data,
//!   vector<ACL>, long czxid, long mzxid, long ctime, long mtime, int version,
//!   int cversion, int aversion, long pzxid, int kindTag, long kindValue`;
//! - `u32 crc32` of everything before it.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use tracing::{debug, info, warn};

use super::db::{Database, SessionRecord};
use super::error::ZkError;
use super::jute::{DecodeError, Reader, Writer};
use super::proto::Acl;
use super::tree::{DataTree, Node};
use super::txn::{decode_kind, encode_kind, TxnRecord};
use super::write_faults::WriteFaults;

const LOG_MAGIC: &[u8; 8] = b"GZKLOG01";
const SNAP_MAGIC: &[u8; 8] = b"GZKSNAP1";
const LOG_HEADER_LEN: usize = 16;
/// No record can be larger: requests are bounded by jute.maxbuffer.
const MAX_RECORD: usize = 64 << 20;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3), as used by zip and gzip.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The open log file.
#[derive(Debug)]
struct LogFile {
    file: File,
    path: PathBuf,
    /// Encoded records not yet written.
    pending: Vec<u8>,
    /// The file was just created: its directory entry still needs an fsync.
    new: bool,
    /// Bytes of the file known to be on disk (fsynced); a failed commit may leave
    /// more, which [`Persist::resume`] cuts off.
    durable_len: u64,
    /// Records in `pending`.
    pending_records: u64,
}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub snapshot_zxid: Option<i64>,
    pub replayed: u64,
    pub truncated_tail: bool,
}

/// The transaction log and snapshots of one server.
#[derive(Debug)]
pub struct Persist {
    snap_dir: PathBuf,
    log_dir: PathBuf,
    log: Option<LogFile>,
    txns_since_snapshot: u64,
    snapshot_every: u64,
    /// After a failed snapshot, the next one waits until this many transactions.
    snapshot_not_before: u64,
    retain: usize,
    /// A write or fsync of the log failed and [`Persist::resume`] has not yet
    /// succeeded: appends are refused.
    failed: bool,
    faults: WriteFaults,
}

fn hex_suffix(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() || rest.len() > 16 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(rest, 16).ok().map(|v| v as i64)
}

/// Files named `<prefix><hex>` in `dir`, sorted by the number.
fn list_numbered(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>, ZkError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| ZkError::storage(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ZkError::storage(dir, e))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(|n| hex_suffix(n, prefix)) {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path, faults: &WriteFaults) -> Result<(), ZkError> {
    File::open(dir).and_then(|d| faults.sync_all(&d)).map_err(|e| ZkError::storage(dir, e))
}

impl Persist {
    /// Opens (creating if needed) `<data_dir>/version-2` and, if given,
    /// `<data_log_dir>/version-2`.
    pub fn open(
        data_dir: &Path,
        data_log_dir: Option<&Path>,
        snapshot_every: u64,
        retain: usize,
        faults: WriteFaults,
    ) -> Result<Persist, ZkError> {
        let snap_dir = data_dir.join("version-2");
        let log_dir = data_log_dir.map_or_else(|| snap_dir.clone(), |d| d.join("version-2"));
        for dir in [&snap_dir, &log_dir] {
            fs::create_dir_all(dir).map_err(|e| ZkError::storage(dir.as_path(), e))?;
        }
        Ok(Persist {
            snap_dir,
            log_dir,
            log: None,
            txns_since_snapshot: 0,
            snapshot_every: snapshot_every.max(1),
            snapshot_not_before: 0,
            retain: retain.max(1),
            failed: false,
            faults,
        })
    }

    pub fn snap_dir(&self) -> &Path {
        &self.snap_dir
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Loads the newest readable snapshot and replays the logs after it.
    pub fn recover(&mut self) -> Result<(Database, RecoveryReport), ZkError> {
        let mut report = RecoveryReport::default();
        let snapshots = list_numbered(&self.snap_dir, "snapshot.")?;
        let mut db = None;
        for (zxid, path) in snapshots.iter().rev() {
            match read_snapshot(path) {
                Ok(loaded) => {
                    info!(path = %path.display(), zxid, "loaded snapshot");
                    report.snapshot_zxid = Some(*zxid);
                    db = Some(loaded);
                    break;
                }
                Err(e) => warn!(path = %path.display(), error = %e, "skipping unreadable snapshot"),
            }
        }
        let mut db = db.unwrap_or_default();
        let logs = list_numbered(&self.log_dir, "log.")?;
        let count = logs.len();
        for (i, (_, path)) in logs.iter().enumerate() {
            let last = i + 1 == count;
            let (records, torn) = read_log(path, last)?;
            report.truncated_tail |= torn;
            for rec in records {
                if rec.zxid <= db.last_zxid {
                    continue;
                }
                if rec.zxid != db.last_zxid + 1 {
                    return Err(ZkError::corrupt(
                        path,
                        format!(
                            "transaction log skips from zxid {:#x} to {:#x}; acknowledged writes would be lost",
                            db.last_zxid, rec.zxid
                        ),
                    ));
                }
                db.apply_record(&rec)
                    .map_err(|e| ZkError::corrupt(path, format!("cannot replay zxid {:#x}: {e}", rec.zxid)))?;
                report.replayed += 1;
            }
        }
        self.txns_since_snapshot = report.replayed;
        info!(zxid = format_args!("{:#x}", db.last_zxid), replayed = report.replayed, "recovered database");
        Ok((db, report))
    }

    /// Whether a log write failed and [`Persist::resume`] has not succeeded since.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    fn check_failed(&self) -> Result<(), ZkError> {
        if self.failed {
            return Err(ZkError::LogUnavailable);
        }
        Ok(())
    }

    /// Creates (or overwrites) `log.<first_zxid>` with its header queued.
    fn start_log(&mut self, first_zxid: i64) -> Result<LogFile, ZkError> {
        let path = self.log_dir.join(format!("log.{first_zxid:x}"));
        // A file with this name can only hold a torn tail from a crash, or a log
        // abandoned after a failed write (its first zxid was never acknowledged),
        // so overwriting it loses nothing.
        let file = self
            .faults
            .check()
            .and_then(|()| OpenOptions::new().create(true).write(true).truncate(true).open(&path))
            .map_err(|e| ZkError::storage(&path, e))?;
        let mut pending = Vec::with_capacity(4096);
        pending.extend_from_slice(LOG_MAGIC);
        pending.extend_from_slice(&first_zxid.to_be_bytes());
        debug!(path = %path.display(), "started transaction log");
        Ok(LogFile { file, path, pending, new: true, durable_len: 0, pending_records: 0 })
    }

    /// Queues a record for the current log file, starting a new file if needed.
    /// Nothing is durable until [`Persist::commit`] returns.
    pub fn append(&mut self, rec: &TxnRecord) -> Result<(), ZkError> {
        self.check_failed()?;
        if self.log.is_none() {
            match self.start_log(rec.zxid) {
                Ok(log) => self.log = Some(log),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        let payload = rec.encode();
        if let Some(log) = self.log.as_mut() {
            log.pending.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            log.pending.extend_from_slice(&crc32(&payload).to_be_bytes());
            log.pending.extend_from_slice(&payload);
            log.pending_records += 1;
        }
        self.txns_since_snapshot += 1;
        Ok(())
    }

    /// Writes and fsyncs everything appended so far. On failure the store is
    /// failed until [`Persist::resume`]: nothing appended since the last successful
    /// commit is durable, and the caller must undo it.
    pub fn commit(&mut self) -> Result<(), ZkError> {
        self.check_failed()?;
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        if log.pending.is_empty() && !log.new {
            return Ok(());
        }
        let faults = &self.faults;
        let result = faults
            .write_all(&mut log.file, &log.pending)
            .and_then(|()| faults.sync_data(&log.file))
            .map_err(|e| ZkError::storage(&log.path, e));
        let written = log.pending.len() as u64;
        let records = std::mem::take(&mut log.pending_records);
        log.pending.clear();
        let new = log.new;
        let result = result.and_then(|()| if new { sync_dir(&self.log_dir, faults) } else { Ok(()) });
        match result {
            Ok(()) => {
                log.new = false;
                log.durable_len += written;
                Ok(())
            }
            Err(e) => {
                self.txns_since_snapshot = self.txns_since_snapshot.saturating_sub(records);
                self.failed = true;
                Err(e)
            }
        }
    }

    /// After a failure: cuts the abandoned log file back to its durable length (or
    /// removes it when nothing in it was durable), then starts `log.<next_zxid>`
    /// and makes its header durable — the probe that the disk takes writes again.
    /// On success appends are accepted again; on failure the store stays failed
    /// and the caller retries later.
    pub fn resume(&mut self, next_zxid: i64) -> Result<(), ZkError> {
        if !self.failed {
            return Ok(());
        }
        let fresh_path = self.log_dir.join(format!("log.{next_zxid:x}"));
        if let Some(old) = self.log.take() {
            // The fresh file overwrites a same-named one anyway.
            if old.path != fresh_path {
                let cut = if old.durable_len == 0 {
                    fs::remove_file(&old.path)
                        .map_err(|e| ZkError::storage(&old.path, e))
                        .and_then(|()| sync_dir(&self.log_dir, &self.faults))
                } else {
                    old.file
                        .set_len(old.durable_len)
                        .and_then(|()| self.faults.sync_all(&old.file))
                        .map_err(|e| ZkError::storage(&old.path, e))
                };
                if let Err(e) = cut {
                    self.log = Some(old);
                    return Err(e);
                }
            }
        }
        let mut fresh = self.start_log(next_zxid)?;
        let header = std::mem::take(&mut fresh.pending);
        self.faults
            .write_all(&mut fresh.file, &header)
            .and_then(|()| self.faults.sync_data(&fresh.file))
            .map_err(|e| ZkError::storage(&fresh.path, e))?;
        sync_dir(&self.log_dir, &self.faults)?;
        info!(path = %fresh.path.display(), "the transaction log is writable again");
        fresh.new = false;
        fresh.durable_len = header.len() as u64;
        self.log = Some(fresh);
        self.failed = false;
        Ok(())
    }

    /// Whether enough transactions have accumulated for a snapshot.
    pub fn snapshot_due(&self) -> bool {
        !self.failed && self.txns_since_snapshot >= self.snapshot_every.max(self.snapshot_not_before)
    }

    /// Whether any transaction was logged since the last snapshot.
    pub fn has_unsnapshotted(&self) -> bool {
        self.txns_since_snapshot > 0
    }

    /// Commits the log, writes a snapshot of `db`, rolls the log and purges files
    /// the retained snapshots no longer need.
    /// A failed snapshot changes nothing (the log still holds every transaction);
    /// the next attempt waits for another `snapshot_every` transactions.
    pub fn snapshot(&mut self, db: &Database) -> Result<(), ZkError> {
        self.commit()?;
        let bytes = encode_snapshot(db);
        let final_path = self.snap_dir.join(format!("snapshot.{:x}", db.last_zxid));
        let tmp_path = self.snap_dir.join(format!("snapshot.{:x}.tmp", db.last_zxid));
        let faults = &self.faults;
        let written = faults
            .check()
            .and_then(|()| File::create(&tmp_path))
            .and_then(|mut f| {
                faults.write_all(&mut f, &bytes)?;
                faults.sync_all(&f)
            })
            .and_then(|()| faults.check())
            .and_then(|()| fs::rename(&tmp_path, &final_path))
            .map_err(|e| ZkError::storage(&tmp_path, e))
            .and_then(|()| sync_dir(&self.snap_dir, faults));
        if let Err(e) = written {
            // A leftover .tmp is never read; removing it just gives the space back.
            let _ = fs::remove_file(&tmp_path);
            self.snapshot_not_before = self.txns_since_snapshot + self.snapshot_every;
            return Err(e);
        }
        info!(path = %final_path.display(), nodes = db.tree.node_count(), "wrote snapshot");
        self.log = None;
        self.txns_since_snapshot = 0;
        self.snapshot_not_before = 0;
        if let Err(e) = self.purge() {
            warn!(error = %e, "could not purge old snapshots and logs");
        }
        Ok(())
    }

    /// Keeps the newest `retain` snapshots and the logs they need.
    fn purge(&mut self) -> Result<(), ZkError> {
        let snapshots = list_numbered(&self.snap_dir, "snapshot.")?;
        if snapshots.len() > self.retain {
            for (_, path) in &snapshots[..snapshots.len() - self.retain] {
                fs::remove_file(path).map_err(|e| ZkError::storage(path, e))?;
            }
        }
        let Some(oldest_kept) = snapshots.get(snapshots.len().saturating_sub(self.retain)).map(|(z, _)| *z) else {
            return Ok(());
        };
        let logs = list_numbered(&self.log_dir, "log.")?;
        for pair in logs.windows(2) {
            let ((_, path), (next_start, _)) = (&pair[0], &pair[1]);
            // Every record of this file is below the next file's first zxid; if that
            // is at or below the snapshot, the snapshot covers the whole file.
            if *next_start <= oldest_kept + 1 {
                fs::remove_file(path).map_err(|e| ZkError::storage(path, e))?;
            }
        }
        Ok(())
    }
}

/// Reads one log file. In the last file a bad record ends the log and is cut off;
/// in earlier files reading stops there (a gap, if any, is caught by the caller).
fn read_log(path: &Path, last: bool) -> Result<(Vec<TxnRecord>, bool), ZkError> {
    let bytes = fs::read(path).map_err(|e| ZkError::storage(path, e))?;
    let mut records = Vec::new();
    if bytes.len() < LOG_HEADER_LEN || &bytes[..8] != LOG_MAGIC {
        if last && (bytes.len() < LOG_HEADER_LEN && LOG_MAGIC.starts_with(&bytes[..bytes.len().min(8)])) {
            warn!(path = %path.display(), "ignoring log file with a torn header");
            return Ok((records, true));
        }
        return Err(ZkError::corrupt(path, "not a transaction log (bad header)"));
    }
    let mut off = LOG_HEADER_LEN;
    let mut torn = false;
    while off < bytes.len() {
        match parse_record(&bytes[off..]) {
            Some((rec, used)) => {
                records.push(rec);
                off += used;
            }
            None => {
                torn = true;
                break;
            }
        }
    }
    if torn {
        warn!(path = %path.display(), offset = off, "transaction log ends in a torn or corrupt record; ignoring the rest");
        if last {
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| {
                    f.set_len(off as u64)?;
                    f.sync_all()
                })
                .map_err(|e| ZkError::storage(path, e))?;
        }
    }
    Ok((records, torn))
}

fn parse_record(buf: &[u8]) -> Option<(TxnRecord, usize)> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = buf.get(8..8 + len)?;
    if crc32(payload) != crc {
        return None;
    }
    let rec = TxnRecord::decode(payload).ok()?;
    Some((rec, 8 + len))
}

fn encode_snapshot(db: &Database) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_raw(SNAP_MAGIC);
    w.write_long(db.last_zxid);
    w.write_len(db.sessions.len());
    for (id, s) in &db.sessions {
        w.write_long(*id);
        w.write_int(s.timeout_ms);
        w.write_buffer(Some(&s.passwd));
    }
    let nodes = db.tree.preorder();
    w.write_long(nodes.len() as i64);
    for (path, n) in nodes {
        w.write_str(path);
        w.write_buffer(n.data.as_deref());
        Acl::encode_vec(&n.acl, &mut w);
        w.write_long(n.czxid);
        w.write_long(n.mzxid);
        w.write_long(n.ctime);
        w.write_long(n.mtime);
        w.write_int(n.version);
        w.write_int(n.cversion);
        w.write_int(n.aversion);
        w.write_long(n.pzxid);
        encode_kind(n.kind, &mut w);
    }
    let mut bytes = w.into_inner();
    let crc = crc32(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    bytes
}

fn read_snapshot(path: &Path) -> Result<Database, ZkError> {
    let bytes = fs::read(path).map_err(|e| ZkError::storage(path, e))?;
    if bytes.len() < 20 || &bytes[..8] != SNAP_MAGIC {
        return Err(ZkError::corrupt(path, "not a snapshot (bad header)"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32(body) != crc {
        return Err(ZkError::corrupt(path, "snapshot checksum mismatch"));
    }
    decode_snapshot(&body[8..]).map_err(|e| ZkError::corrupt(path, e.to_string()))
}

#[derive(Debug, thiserror::Error)]
enum SnapshotError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Tree(#[from] super::tree::TreeError),
    #[error("{0}")]
    Other(&'static str),
}

fn decode_snapshot(body: &[u8]) -> Result<Database, SnapshotError> {
    let mut r = Reader::new(body);
    let last_zxid = r.read_long("snapshot.zxid")?;
    let mut db = Database { tree: DataTree::empty(), sessions: Default::default(), last_zxid };
    let n = r.read_vec_len("snapshot.sessions", 16)?.unwrap_or(0);
    for _ in 0..n {
        let id = r.read_long("session.id")?;
        let timeout_ms = r.read_int("session.timeout")?;
        let passwd = r.read_buffer("session.passwd")?.unwrap_or_default();
        db.sessions.insert(id, SessionRecord { timeout_ms, passwd });
    }
    let count = r.read_long("snapshot.nodes")?;
    if count < 1 {
        return Err(SnapshotError::Other("snapshot has no root node"));
    }
    for _ in 0..count {
        let path = r.read_string("node.path")?;
        let node = Node {
            data: r.read_buffer("node.data")?,
            acl: Acl::decode_vec(&mut r)?,
            czxid: r.read_long("node.czxid")?,
            mzxid: r.read_long("node.mzxid")?,
            ctime: r.read_long("node.ctime")?,
            mtime: r.read_long("node.mtime")?,
            version: r.read_int("node.version")?,
            cversion: r.read_int("node.cversion")?,
            aversion: r.read_int("node.aversion")?,
            pzxid: r.read_long("node.pzxid")?,
            kind: decode_kind(&mut r)?,
            children: Default::default(),
        };
        db.tree.insert_restored(path, node)?;
    }
    if !r.is_empty() || !db.tree.contains("/") {
        return Err(SnapshotError::Other("snapshot has trailing bytes or no root"));
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::super::tree::NodeKind;
    use super::super::txn::Txn;
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn rec(zxid: i64, txn: Txn) -> TxnRecord {
        TxnRecord { zxid, time_ms: 1000 + zxid, session_id: 0, txn }
    }

    fn create(path: &str, parent_cversion: i32) -> Txn {
        Txn::Create {
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            acl: vec![Acl::open_unsafe()],
            kind: NodeKind::Persistent,
            parent_cversion,
        }
    }

    #[test]
    fn log_and_snapshot_recover() -> Result<(), ZkError> {
        let dir = tempfile::tempdir().map_err(|e| ZkError::storage("tmp", e))?;
        let mut db = Database::new();
        {
            let mut p = Persist::open(dir.path(), None, 3, 2, WriteFaults::new())?;
            for (i, path) in ["/a", "/b", "/c", "/d", "/e"].iter().enumerate() {
                let r = rec(i as i64 + 1, create(path, i as i32));
                db.apply_record(&r).map_err(|e| ZkError::corrupt("test", e.to_string()))?;
                p.append(&r)?;
                p.commit()?;
                if p.snapshot_due() {
                    p.snapshot(&db)?;
                }
            }
        }
        let mut p = Persist::open(dir.path(), None, 3, 2, WriteFaults::new())?;
        let (got, report) = p.recover()?;
        assert_eq!(report.snapshot_zxid, Some(3));
        assert_eq!(report.replayed, 2);
        assert_eq!(got.last_zxid, 5);
        assert_eq!(got.tree.get("/e").and_then(|n| n.data.clone()), Some(b"/e".to_vec()));
        assert_eq!(got.tree.get("/").map(|n| n.stat()), db.tree.get("/").map(|n| n.stat()));
        Ok(())
    }

    #[test]
    fn torn_tail_is_ignored_and_gap_is_refused() -> Result<(), ZkError> {
        let dir = tempfile::tempdir().map_err(|e| ZkError::storage("tmp", e))?;
        {
            let mut p = Persist::open(dir.path(), None, 100, 3, WriteFaults::new())?;
            p.append(&rec(1, create("/a", 0)))?;
            p.append(&rec(2, create("/b", 1)))?;
            p.commit()?;
        }
        let log = dir.path().join("version-2/log.1");
        let mut bytes = fs::read(&log).map_err(|e| ZkError::storage(&log, e))?;
        let full = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 50, 1, 2, 3]);
        fs::write(&log, &bytes).map_err(|e| ZkError::storage(&log, e))?;
        let mut p = Persist::open(dir.path(), None, 100, 3, WriteFaults::new())?;
        let (db, report) = p.recover()?;
        assert!(report.truncated_tail);
        assert_eq!(db.last_zxid, 2);
        assert_eq!(fs::metadata(&log).map(|m| m.len() as usize).ok(), Some(full));
        // A later log that skips zxids means lost writes: refuse to start.
        let mut p2 = Persist::open(dir.path(), None, 100, 3, WriteFaults::new())?;
        p2.append(&rec(5, create("/c", 2)))?;
        p2.commit()?;
        let mut p3 = Persist::open(dir.path(), None, 100, 3, WriteFaults::new())?;
        assert!(matches!(p3.recover(), Err(ZkError::Corrupt { .. })));
        Ok(())
    }

    #[test]
    fn failed_commit_is_cut_off_and_writes_resume() -> Result<(), ZkError> {
        let dir = tempfile::tempdir().map_err(|e| ZkError::storage("tmp", e))?;
        let faults = WriteFaults::new();
        let mut p = Persist::open(dir.path(), None, 100, 3, faults.clone())?;
        p.append(&rec(1, create("/a", 0)))?;
        p.commit()?;
        let durable = fs::metadata(dir.path().join("version-2/log.1")).map_err(|e| ZkError::storage("log", e))?.len();
        faults.set_failing(true);
        p.append(&rec(2, create("/b", 1)))?;
        assert!(matches!(p.commit(), Err(ZkError::Storage { .. })));
        assert!(p.is_failed());
        assert!(matches!(p.append(&rec(2, create("/b", 1))), Err(ZkError::LogUnavailable)));
        assert!(p.resume(2).is_err(), "the disk is still full");
        faults.set_failing(false);
        p.resume(2)?;
        assert!(!p.is_failed());
        let cut = fs::metadata(dir.path().join("version-2/log.1")).map_err(|e| ZkError::storage("log", e))?.len();
        assert_eq!(cut, durable, "the half-written record is cut off");
        p.append(&rec(2, create("/c", 1)))?;
        p.commit()?;
        drop(p);
        let (db, report) = Persist::open(dir.path(), None, 100, 3, WriteFaults::new())?.recover()?;
        assert!(!report.truncated_tail);
        assert_eq!(db.last_zxid, 2);
        assert!(db.tree.contains("/a") && db.tree.contains("/c") && !db.tree.contains("/b"));
        Ok(())
    }

    #[test]
    fn failed_snapshot_is_not_fatal() -> Result<(), ZkError> {
        let dir = tempfile::tempdir().map_err(|e| ZkError::storage("tmp", e))?;
        let faults = WriteFaults::new();
        let mut p = Persist::open(dir.path(), None, 1, 3, faults.clone())?;
        let mut db = Database::new();
        let r = rec(1, create("/a", 0));
        db.apply_record(&r).map_err(|e| ZkError::corrupt("test", e.to_string()))?;
        p.append(&r)?;
        p.commit()?;
        faults.set_failing(true);
        assert!(p.snapshot(&db).is_err());
        assert!(!p.is_failed(), "the log is untouched by a failed snapshot");
        assert!(!p.snapshot_due(), "the next attempt waits for more transactions");
        let names: Vec<String> = fs::read_dir(dir.path().join("version-2"))
            .map_err(|e| ZkError::storage("dir", e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        assert_eq!(names, ["log.1"], "no snapshot and no leftover .tmp");
        faults.set_failing(false);
        let r = rec(2, create("/b", 1));
        db.apply_record(&r).map_err(|e| ZkError::corrupt("test", e.to_string()))?;
        p.append(&r)?;
        p.commit()?;
        assert!(p.snapshot_due());
        p.snapshot(&db)?;
        Ok(())
    }
}
