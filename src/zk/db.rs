//! The replicated state in one place: the data tree, the table of open sessions
//! (id, timeout, password — what must survive a restart) and the last applied zxid.
//!
//! [`Database::apply`] is the single way transactions change it, for live requests
//! and for log replay alike, so both paths produce the same tree. Liveness (who is
//! connected, when a session expires) lives in `session.rs`, not here.

use std::collections::BTreeMap;

use super::proto::Stat;
use super::tree::{DataTree, TreeError};
use super::txn::{Txn, TxnRecord};
use super::watch::Change;

/// What the database remembers of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub timeout_ms: i32,
    pub passwd: Vec<u8>,
}

/// What applying one transaction did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Tree changes, in order, for watches.
    pub changes: Vec<Change>,
    /// The stat of the node a create/setData/setACL touched.
    pub stat: Option<Stat>,
    /// The path a create made (sequential names resolved).
    pub created: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Database {
    pub tree: DataTree,
    pub sessions: BTreeMap<i64, SessionRecord>,
    /// The zxid of the last transaction applied.
    pub last_zxid: i64,
}

impl Default for Database {
    fn default() -> Self {
        Database::new()
    }
}

impl Database {
    /// A fresh database: the initial tree, no sessions, zxid 0.
    pub fn new() -> Database {
        Database { tree: DataTree::new(), sessions: BTreeMap::new(), last_zxid: 0 }
    }

    /// Applies a logged record and advances `last_zxid` to its zxid.
    pub fn apply_record(&mut self, rec: &TxnRecord) -> Result<Applied, TreeError> {
        let applied = self.apply(&rec.txn, rec.zxid, rec.time_ms)?;
        self.last_zxid = rec.zxid;
        Ok(applied)
    }

    /// Applies one transaction (without touching `last_zxid`). On error nothing has
    /// changed, except inside a `Multi`, which callers only replay from the log
    /// (live multis are applied op by op with rollback, see `ops/multi.rs`).
    pub fn apply(&mut self, txn: &Txn, zxid: i64, time: i64) -> Result<Applied, TreeError> {
        let mut out = Applied::default();
        match txn {
            Txn::CreateSession { session_id, timeout_ms, passwd } => {
                self.sessions.insert(*session_id, SessionRecord { timeout_ms: *timeout_ms, passwd: passwd.clone() });
            }
            Txn::CloseSession { session_id } => {
                self.sessions.remove(session_id);
                let paths: Vec<String> = self.tree.ephemerals_of(*session_id).cloned().collect();
                for path in paths {
                    self.tree.delete_node(&path, zxid)?;
                    out.changes.push(Change::Deleted(path));
                }
            }
            Txn::Create { path, data, acl, kind, parent_cversion } => {
                let stat =
                    self.tree.create_node(path, data.clone(), acl.clone(), *kind, zxid, time, *parent_cversion)?;
                out.stat = Some(stat);
                out.created = Some(path.clone());
                out.changes.push(Change::Created(path.clone()));
            }
            Txn::Delete { path } => {
                self.tree.delete_node(path, zxid)?;
                out.changes.push(Change::Deleted(path.clone()));
            }
            Txn::SetData { path, data, version } => {
                out.stat = Some(self.tree.set_data(path, data.clone(), *version, zxid, time)?);
                out.changes.push(Change::DataChanged(path.clone()));
            }
            Txn::SetAcl { path, acl, aversion } => {
                out.stat = Some(self.tree.set_acl(path, acl.clone(), *aversion)?);
            }
            Txn::Check { .. } | Txn::Error { .. } => {}
            Txn::Multi(txns) => {
                for t in txns {
                    let sub = self.apply(t, zxid, time)?;
                    out.changes.extend(sub.changes);
                }
            }
        }
        Ok(out)
    }
}
