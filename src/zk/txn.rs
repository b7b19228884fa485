//! Transactions: the resolved, already-validated changes that the server applies to
//! its database, writes to the transaction log, and replays after a restart.
//!
//! A transaction records outcomes, not requests: a sequential create carries the
//! final name and the parent's new cversion, a setData carries the new version.
//! Replaying one is therefore deterministic. Failed writes are `Error` transactions:
//! ZooKeeper spends a zxid on them too, and logging them keeps the zxid a client has
//! seen from ever going backwards after a restart.
//!
//! Encoding (big-endian, jute primitives): `int tag` followed by the fields below.
//!
//! | tag | txn           | fields                                                        |
//! |-----|---------------|---------------------------------------------------------------|
//! | 1   | CreateSession | long session, int timeoutMs, buffer passwd                    |
//! | 2   | CloseSession  | long session                                                  |
//! | 3   | Create        | ustring path, buffer data, vector ACL, kind, int parentCversion|
//! | 4   | Delete        | ustring path                                                  |
//! | 5   | SetData       | ustring path, buffer data, int newVersion                     |
//! | 6   | SetAcl        | ustring path, vector ACL, int newAversion                     |
//! | 7   | Check         | ustring path                                                  |
//! | 8   | Multi         | int count, then that many transactions (no nesting)           |
//! | 9   | Error         | int err                                                       |
//!
//! `kind` is `int kindTag; long value`: 0 persistent, 1 ephemeral (value = owner
//! session), 2 container, 3 TTL (value = ttl ms).

use super::jute::{DecodeError, Reader, Writer};
use super::proto::Acl;
use super::tree::NodeKind;

/// One change to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    CreateSession { session_id: i64, timeout_ms: i32, passwd: Vec<u8> },
    CloseSession { session_id: i64 },
    Create { path: String, data: Option<Vec<u8>>, acl: Vec<Acl>, kind: NodeKind, parent_cversion: i32 },
    Delete { path: String },
    SetData { path: String, data: Option<Vec<u8>>, version: i32 },
    SetAcl { path: String, acl: Vec<Acl>, aversion: i32 },
    Check { path: String },
    Multi(Vec<Txn>),
    Error { err: i32 },
}

impl Txn {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Txn::CreateSession { session_id, timeout_ms, passwd } => {
                w.write_int(1);
                w.write_long(*session_id);
                w.write_int(*timeout_ms);
                w.write_buffer(Some(passwd));
            }
            Txn::CloseSession { session_id } => {
                w.write_int(2);
                w.write_long(*session_id);
            }
            Txn::Create { path, data, acl, kind, parent_cversion } => {
                w.write_int(3);
                w.write_str(path);
                w.write_buffer(data.as_deref());
                Acl::encode_vec(acl, w);
                encode_kind(*kind, w);
                w.write_int(*parent_cversion);
            }
            Txn::Delete { path } => {
                w.write_int(4);
                w.write_str(path);
            }
            Txn::SetData { path, data, version } => {
                w.write_int(5);
                w.write_str(path);
                w.write_buffer(data.as_deref());
                w.write_int(*version);
            }
            Txn::SetAcl { path, acl, aversion } => {
                w.write_int(6);
                w.write_str(path);
                Acl::encode_vec(acl, w);
                w.write_int(*aversion);
            }
            Txn::Check { path } => {
                w.write_int(7);
                w.write_str(path);
            }
            Txn::Multi(txns) => {
                w.write_int(8);
                w.write_len(txns.len());
                for t in txns {
                    t.encode(w);
                }
            }
            Txn::Error { err } => {
                w.write_int(9);
                w.write_int(*err);
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Txn, DecodeError> {
        Txn::decode_inner(r, true)
    }

    fn decode_inner(r: &mut Reader<'_>, allow_multi: bool) -> Result<Txn, DecodeError> {
        let tag = r.read_int("txn.tag")?;
        Ok(match tag {
            1 => Txn::CreateSession {
                session_id: r.read_long("txn.session")?,
                timeout_ms: r.read_int("txn.timeout")?,
                passwd: r.read_buffer("txn.passwd")?.unwrap_or_default(),
            },
            2 => Txn::CloseSession { session_id: r.read_long("txn.session")? },
            3 => Txn::Create {
                path: r.read_string("txn.path")?,
                data: r.read_buffer("txn.data")?,
                acl: Acl::decode_vec(r)?,
                kind: decode_kind(r)?,
                parent_cversion: r.read_int("txn.parentCversion")?,
            },
            4 => Txn::Delete { path: r.read_string("txn.path")? },
            5 => Txn::SetData {
                path: r.read_string("txn.path")?,
                data: r.read_buffer("txn.data")?,
                version: r.read_int("txn.version")?,
            },
            6 => Txn::SetAcl {
                path: r.read_string("txn.path")?,
                acl: Acl::decode_vec(r)?,
                aversion: r.read_int("txn.aversion")?,
            },
            7 => Txn::Check { path: r.read_string("txn.path")? },
            8 if allow_multi => {
                // Each sub-transaction is at least a 4-byte tag.
                let n = r.read_vec_len("txn.multi", 4)?.unwrap_or(0);
                let mut txns = Vec::with_capacity(n);
                for _ in 0..n {
                    txns.push(Txn::decode_inner(r, false)?);
                }
                Txn::Multi(txns)
            }
            9 => Txn::Error { err: r.read_int("txn.err")? },
            other => return Err(DecodeError::BadValue { what: "txn tag", value: other.into() }),
        })
    }
}

pub(crate) fn encode_kind(kind: NodeKind, w: &mut Writer) {
    let (tag, value) = match kind {
        NodeKind::Persistent => (0, 0),
        NodeKind::Ephemeral(owner) => (1, owner),
        NodeKind::Container => (2, 0),
        NodeKind::Ttl(ttl) => (3, ttl),
    };
    w.write_int(tag);
    w.write_long(value);
}

pub(crate) fn decode_kind(r: &mut Reader<'_>) -> Result<NodeKind, DecodeError> {
    let tag = r.read_int("node.kind")?;
    let value = r.read_long("node.kindValue")?;
    Ok(match tag {
        0 => NodeKind::Persistent,
        1 => NodeKind::Ephemeral(value),
        2 => NodeKind::Container,
        3 => NodeKind::Ttl(value),
        other => return Err(DecodeError::BadValue { what: "node kind", value: other.into() }),
    })
}

/// A logged transaction: the zxid it was given, the wall-clock time (ms) used for
/// ctime/mtime, and the session that caused it (0 for the server itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    pub zxid: i64,
    pub time_ms: i64,
    pub session_id: i64,
    pub txn: Txn,
}

impl TxnRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.write_long(self.zxid);
        w.write_long(self.time_ms);
        w.write_long(self.session_id);
        self.txn.encode(&mut w);
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<TxnRecord, DecodeError> {
        let mut r = Reader::new(bytes);
        let rec = TxnRecord {
            zxid: r.read_long("record.zxid")?,
            time_ms: r.read_long("record.time")?,
            session_id: r.read_long("record.session")?,
            txn: Txn::decode(&mut r)?,
        };
        if !r.is_empty() {
            return Err(DecodeError::BadLength { what: "record trailing bytes", len: r.remaining() as i64 });
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let txns = vec![
            Txn::CreateSession { session_id: 9, timeout_ms: 4000, passwd: vec![1; 16] },
            Txn::CloseSession { session_id: 9 },
            Txn::Create {
                path: "/a".into(),
                data: None,
                acl: vec![Acl::open_unsafe()],
                kind: NodeKind::Ttl(500),
                parent_cversion: 3,
            },
            Txn::Delete { path: "/a".into() },
            Txn::SetData { path: "/a".into(), data: Some(b"x".to_vec()), version: 2 },
            Txn::SetAcl { path: "/a".into(), acl: vec![], aversion: 1 },
            Txn::Check { path: "/a".into() },
            Txn::Multi(vec![Txn::Delete { path: "/b".into() }, Txn::Check { path: "/c".into() }]),
            Txn::Error { err: -101 },
        ];
        for (i, txn) in txns.into_iter().enumerate() {
            let rec = TxnRecord { zxid: i as i64 + 1, time_ms: 77, session_id: 5, txn };
            assert_eq!(TxnRecord::decode(&rec.encode()), Ok(rec));
        }
    }

    #[test]
    fn nested_multi_is_refused() {
        let mut w = Writer::new();
        Txn::Multi(vec![Txn::Multi(vec![])]).encode(&mut w);
        let bytes = w.into_inner();
        assert!(Txn::decode(&mut Reader::new(&bytes)).is_err());
    }
}
