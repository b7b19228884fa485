//! A decoder for PostgreSQL's `pgoutput` logical replication messages
//! (protocol version 1), as the logical decoding SQL functions return them:
//! one message per row of `pg_logical_slot_get_binary_changes`.
//!
//! Begin, Commit, Relation, Insert, Update and Delete are decoded; Type and
//! Origin messages are read and ignored, Truncate is reported so the caller
//! can warn, and logical decoding messages (`M`) are ignored. Malformed input
//! is an error, never a panic.

use std::fmt;

/// What can be wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("pgoutput message ends early (reading {0})")]
    Truncated(&'static str),
    #[error("pgoutput message type {0:?} is not known")]
    UnknownMessage(char),
    #[error("pgoutput tuple column kind {0:?} is not known")]
    UnknownColumnKind(char),
    #[error("pgoutput {0} has an unexpected tuple marker {1:?}")]
    UnexpectedMarker(&'static str, char),
    #[error("pgoutput string is not terminated or not UTF-8")]
    BadString,
}

/// A log sequence number, shown as PostgreSQL shows it (`16/B374D848`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl Lsn {
    /// Parses `X/Y` as PostgreSQL writes an LSN.
    pub fn parse(s: &str) -> Option<Lsn> {
        let (hi, lo) = s.trim().split_once('/')?;
        Some(Lsn((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?))
    }
}

/// A column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    /// Part of the replica identity key.
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
}

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    /// An unchanged TOASTed value, not sent.
    Unchanged,
    /// The value in PostgreSQL's text format.
    Text(String),
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        final_lsn: Lsn,
        commit_ts: i64,
        xid: u32,
    },
    Commit {
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_ts: i64,
    },
    Relation {
        oid: u32,
        namespace: String,
        name: String,
        replica_identity: u8,
        columns: Vec<RelColumn>,
    },
    Insert {
        oid: u32,
        new: Vec<Cell>,
    },
    /// `old` is the key (`K`) or the whole old row (`O`, replica identity full) when sent.
    Update {
        oid: u32,
        old: Option<Vec<Cell>>,
        old_is_key: bool,
        new: Vec<Cell>,
    },
    Delete {
        oid: u32,
        old: Vec<Cell>,
        old_is_key: bool,
    },
    Truncate {
        oids: Vec<u32>,
    },
    /// Type, Origin and logical decoding messages: nothing to do.
    Ignored(char),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(DecodeError::Truncated(what))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(self.i32(what)? as u32)
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn lsn(&mut self, what: &'static str) -> Result<Lsn, DecodeError> {
        Ok(Lsn(self.i64(what)? as u64))
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let nul = rest.iter().position(|b| *b == 0).ok_or(DecodeError::BadString)?;
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| DecodeError::BadString)?.to_string();
        self.pos += nul + 1;
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<Cell>, DecodeError> {
        let n = self.i16("tuple column count")?.max(0) as usize;
        let mut cells = Vec::with_capacity(n);
        for _ in 0..n {
            cells.push(match self.u8("tuple column kind")? {
                b'n' => Cell::Null,
                b'u' => Cell::Unchanged,
                b't' | b'b' => {
                    let len = self.i32("column length")?.max(0) as usize;
                    let bytes = self.take(len, "column value")?;
                    Cell::Text(String::from_utf8_lossy(bytes).into_owned())
                }
                other => return Err(DecodeError::UnknownColumnKind(other as char)),
            });
        }
        Ok(cells)
    }
}

/// Decodes one message.
pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let kind = r.u8("message type")?;
    Ok(match kind {
        b'B' => Message::Begin { final_lsn: r.lsn("final LSN")?, commit_ts: r.i64("commit time")?, xid: r.u32("xid")? },
        b'C' => {
            r.u8("commit flags")?;
            Message::Commit {
                commit_lsn: r.lsn("commit LSN")?,
                end_lsn: r.lsn("end LSN")?,
                commit_ts: r.i64("commit time")?,
            }
        }
        b'R' => {
            let oid = r.u32("relation id")?;
            let namespace = r.string()?;
            let name = r.string()?;
            let replica_identity = r.u8("replica identity")?;
            let n = r.i16("column count")?.max(0) as usize;
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                let flags = r.u8("column flags")?;
                let name = r.string()?;
                columns.push(RelColumn {
                    key: flags & 1 == 1,
                    name,
                    type_oid: r.u32("column type")?,
                    type_modifier: r.i32("type modifier")?,
                });
            }
            Message::Relation { oid, namespace, name, replica_identity, columns }
        }
        b'I' => {
            let oid = r.u32("relation id")?;
            match r.u8("insert marker")? {
                b'N' => Message::Insert { oid, new: r.tuple()? },
                m => return Err(DecodeError::UnexpectedMarker("insert", m as char)),
            }
        }
        b'U' => {
            let oid = r.u32("relation id")?;
            let (mut old, mut old_is_key) = (None, false);
            let mut marker = r.u8("update marker")?;
            if marker == b'K' || marker == b'O' {
                old_is_key = marker == b'K';
                old = Some(r.tuple()?);
                marker = r.u8("update marker")?;
            }
            if marker != b'N' {
                return Err(DecodeError::UnexpectedMarker("update", marker as char));
            }
            Message::Update { oid, old, old_is_key, new: r.tuple()? }
        }
        b'D' => {
            let oid = r.u32("relation id")?;
            let marker = r.u8("delete marker")?;
            if marker != b'K' && marker != b'O' {
                return Err(DecodeError::UnexpectedMarker("delete", marker as char));
            }
            Message::Delete { oid, old: r.tuple()?, old_is_key: marker == b'K' }
        }
        b'T' => {
            let n = r.i32("relation count")?.max(0) as usize;
            r.u8("truncate options")?;
            let mut oids = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                oids.push(r.u32("relation id")?);
            }
            Message::Truncate { oids }
        }
        b'Y' | b'O' | b'M' => Message::Ignored(kind as char),
        other => return Err(DecodeError::UnknownMessage(other as char)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    fn text_tuple(out: &mut Vec<u8>, cells: &[Option<&str>]) {
        out.extend_from_slice(&(cells.len() as i16).to_be_bytes());
        for c in cells {
            match c {
                None => out.push(b'n'),
                Some(v) => {
                    out.push(b't');
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
            }
        }
    }

    #[test]
    fn begin_commit_and_relation() {
        let mut b = vec![b'B'];
        b.extend_from_slice(&0x0000_0001_0000_0A00u64.to_be_bytes());
        b.extend_from_slice(&7_000_000i64.to_be_bytes());
        b.extend_from_slice(&742u32.to_be_bytes());
        assert_eq!(
            decode(&b).unwrap(),
            Message::Begin { final_lsn: Lsn(0x1_0000_0A00), commit_ts: 7_000_000, xid: 742 }
        );
        let mut c = vec![b'C', 0];
        c.extend_from_slice(&0x0A00u64.to_be_bytes());
        c.extend_from_slice(&0x0A40u64.to_be_bytes());
        c.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(decode(&c).unwrap(), Message::Commit { commit_lsn: Lsn(0xA00), end_lsn: Lsn(0xA40), commit_ts: 5 });
        let mut r = vec![b'R'];
        r.extend_from_slice(&16384u32.to_be_bytes());
        s(&mut r, "public");
        s(&mut r, "orders");
        r.push(b'd');
        r.extend_from_slice(&2i16.to_be_bytes());
        r.push(1);
        s(&mut r, "id");
        r.extend_from_slice(&23u32.to_be_bytes());
        r.extend_from_slice(&(-1i32).to_be_bytes());
        r.push(0);
        s(&mut r, "note");
        r.extend_from_slice(&25u32.to_be_bytes());
        r.extend_from_slice(&(-1i32).to_be_bytes());
        let Message::Relation { oid, namespace, name, replica_identity, columns } = decode(&r).unwrap() else {
            panic!("relation")
        };
        assert_eq!((oid, namespace.as_str(), name.as_str(), replica_identity), (16384, "public", "orders", b'd'));
        assert_eq!(columns[0], RelColumn { key: true, name: "id".into(), type_oid: 23, type_modifier: -1 });
        assert!(!columns[1].key);
        // Every prefix of a valid message is an error, not a panic.
        for m in [&b, &c, &r] {
            for n in 0..m.len() {
                assert!(decode(&m[..n]).is_err(), "prefix {n} of {m:?}");
            }
        }
    }

    #[test]
    fn insert_update_delete_and_truncate() {
        let mut i = vec![b'I'];
        i.extend_from_slice(&16384u32.to_be_bytes());
        i.push(b'N');
        text_tuple(&mut i, &[Some("1"), None]);
        assert_eq!(decode(&i).unwrap(), Message::Insert { oid: 16384, new: vec![Cell::Text("1".into()), Cell::Null] });
        let mut u = vec![b'U'];
        u.extend_from_slice(&16384u32.to_be_bytes());
        u.push(b'O');
        text_tuple(&mut u, &[Some("1"), Some("old")]);
        u.push(b'N');
        text_tuple(&mut u, &[Some("1"), Some("new")]);
        u.extend_from_slice(&[]);
        assert_eq!(
            decode(&u).unwrap(),
            Message::Update {
                oid: 16384,
                old: Some(vec![Cell::Text("1".into()), Cell::Text("old".into())]),
                old_is_key: false,
                new: vec![Cell::Text("1".into()), Cell::Text("new".into())]
            }
        );
        let mut u2 = vec![b'U'];
        u2.extend_from_slice(&16384u32.to_be_bytes());
        u2.push(b'N');
        u2.extend_from_slice(&2i16.to_be_bytes());
        u2.extend_from_slice(&[b't', 0, 0, 0, 1, b'2', b'u']);
        assert_eq!(
            decode(&u2).unwrap(),
            Message::Update {
                oid: 16384,
                old: None,
                old_is_key: false,
                new: vec![Cell::Text("2".into()), Cell::Unchanged]
            }
        );
        let mut d = vec![b'D'];
        d.extend_from_slice(&16384u32.to_be_bytes());
        d.push(b'K');
        text_tuple(&mut d, &[Some("1"), None]);
        assert_eq!(
            decode(&d).unwrap(),
            Message::Delete { oid: 16384, old: vec![Cell::Text("1".into()), Cell::Null], old_is_key: true }
        );
        let mut t = vec![b'T'];
        t.extend_from_slice(&2i32.to_be_bytes());
        t.push(0);
        t.extend_from_slice(&1u32.to_be_bytes());
        t.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(decode(&t).unwrap(), Message::Truncate { oids: vec![1, 2] });
        assert_eq!(decode(b"Yxxxx").unwrap(), Message::Ignored('Y'));
        assert_eq!(decode(b"Z").unwrap_err(), DecodeError::UnknownMessage('Z'));
        let mut bad = vec![b'D'];
        bad.extend_from_slice(&1u32.to_be_bytes());
        bad.push(b'N');
        assert_eq!(decode(&bad).unwrap_err(), DecodeError::UnexpectedMarker("delete", 'N'));
        // A column length past the end of the message.
        let mut long = vec![b'I'];
        long.extend_from_slice(&1u32.to_be_bytes());
        long.extend_from_slice(&[b'N', 0, 1, b't', 0x7f, 0xff, 0xff, 0xff, b'x']);
        assert_eq!(decode(&long).unwrap_err(), DecodeError::Truncated("column value"));
    }

    #[test]
    fn lsns_print_and_parse_as_postgresql_writes_them() {
        assert_eq!(Lsn(0x16_B374_D848).to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("16/B374D848"), Some(Lsn(0x16_B374_D848)));
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert_eq!(Lsn::parse("nope"), None);
    }
}
