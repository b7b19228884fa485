//! multi (op 14) and multiRead (op 22).
//!
//! A multi is all-or-nothing. Each op is checked against the tree as the earlier
//! ops left it, so the ops are applied one by one while copies of every node they
//! touch are kept; if one fails, the copies are put back. The reply header's err is
//! 0 either way — as in ZooKeeper 3.8, failure shows only in the per-op results
//! (earlier ops 0, the failing op its code, later ops RuntimeInconsistency, all as
//! error results) — and a failed multi still spends a zxid. Creates inside a multi
//! are answered with a plain create result (path only), as 3.8 does. While the
//! transaction log is failing a multi is refused as a whole (MarshallingError in
//! the reply header), like any write.

use tracing::error;

use super::super::core::{now_ms, Core, Ctx};
use super::super::proto::{ErrorCode, MultiOp, MultiResult, Request, Response};
use super::super::tree::split_parent;
use super::super::txn::Txn;
use super::read;
use super::write::{prep_check, prep_create, prep_delete, prep_set_data};

/// Nodes a transaction changes (the node and, for creates and deletes, its parent).
fn touched_paths(txn: &Txn) -> Vec<String> {
    match txn {
        Txn::Create { path, .. } | Txn::Delete { path } => {
            let mut v = vec![path.clone()];
            if let Some((parent, _)) = split_parent(path) {
                v.push(parent.to_string());
            }
            v
        }
        Txn::SetData { path, .. } | Txn::SetAcl { path, .. } => vec![path.clone()],
        _ => Vec::new(),
    }
}

pub(super) fn multi(core: &mut Core, ctx: &Ctx, ops: Vec<MultiOp>) {
    if core.writes_refused() {
        return core.refuse_write(ctx);
    }
    let zxid = core.db.last_zxid + 1;
    let time = now_ms();
    let mut saved = Vec::new();
    let mut captured = std::collections::HashSet::new();
    let mut txns = Vec::with_capacity(ops.len());
    let mut results = Vec::with_capacity(ops.len());
    let mut changes = Vec::new();
    let mut failure = None;
    for (i, op) in ops.iter().enumerate() {
        let prepared = match &op.request {
            Request::Create(c) => prep_create(&core.db, ctx.session, c),
            Request::Delete(d) => prep_delete(&core.db, d),
            Request::SetData(s) => prep_set_data(&core.db, s),
            Request::Check(c) => prep_check(&core.db, c),
            // The decoder admits nothing else into a multi.
            _ => Err(ErrorCode::Unimplemented),
        };
        let txn = match prepared {
            Ok(txn) => txn,
            Err(code) => {
                failure = Some((i, code));
                break;
            }
        };
        let touched = touched_paths(&txn);
        let refs: Vec<&str> = touched.iter().map(String::as_str).collect();
        saved.extend(core.db.tree.capture_once(&refs, &mut captured));
        match core.apply_txn(&txn, zxid, time) {
            Ok(applied) => {
                results.push(match &txn {
                    Txn::Create { .. } => MultiResult::Create { path: applied.created.unwrap_or_default() },
                    Txn::Delete { .. } => MultiResult::Delete,
                    Txn::SetData { .. } => MultiResult::SetData { stat: applied.stat.unwrap_or_default() },
                    _ => MultiResult::Check,
                });
                changes.extend(applied.changes);
                txns.push(txn);
            }
            Err(e) => {
                error!(error = %e, "checked multi op failed to apply");
                failure = Some((i, ErrorCode::SystemError));
                break;
            }
        }
    }
    match failure {
        Some((failed, code)) => {
            core.db.tree.restore(saved);
            let results = (0..ops.len())
                .map(|j| MultiResult::Error {
                    err: match j.cmp(&failed) {
                        std::cmp::Ordering::Less => 0,
                        std::cmp::Ordering::Equal => code.code(),
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                    },
                })
                .collect();
            core.log_txn(zxid, time, ctx.session, Txn::Error { err: code.code() });
            core.reply_write(ctx, zxid, ErrorCode::Ok, Response::Multi(results));
        }
        None => {
            core.log_txn(zxid, time, ctx.session, Txn::Multi(txns));
            core.notify(&changes);
            core.reply_write(ctx, zxid, ErrorCode::Ok, Response::Multi(results));
        }
    }
}

pub(super) fn multi_read(core: &mut Core, ctx: &Ctx, ops: Vec<MultiOp>) {
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = match &op.request {
            Request::GetData(req) => {
                read::lookup_data(core, ctx, req).map(|(data, stat)| MultiResult::GetData { data, stat })
            }
            Request::GetChildren(req) => {
                read::lookup_children(core, ctx, req).map(|(children, _)| MultiResult::GetChildren { children })
            }
            _ => Err(ErrorCode::Unimplemented),
        };
        results.push(result.unwrap_or_else(|code| MultiResult::Error { err: code.code() }));
    }
    core.reply_read(ctx, ErrorCode::Ok, Response::Multi(results));
}
