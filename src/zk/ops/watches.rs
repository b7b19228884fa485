//! Watch management requests: setWatches / setWatches2 (a reconnecting client
//! re-registers its watches; whatever changed since the zxid it last saw fires at
//! once), addWatch (persistent and persistent-recursive), removeWatches and
//! checkWatches.

use super::super::core::{Core, Ctx};
use super::super::proto::{
    event_type, keeper_state, ErrorCode, Response, SetWatchesRequest, WatchKindRequest, WatcherEvent,
};
use super::super::tree::validate_path;
use super::super::watch::{PersistentMode, WatcherType};

fn fire(core: &mut Core, ctx: &Ctx, kind: i32, path: &str) {
    let event = WatcherEvent { event_type: kind, state: keeper_state::SYNC_CONNECTED, path: path.to_string() };
    core.send_event(ctx.session, &event);
}

pub(super) fn set_watches(core: &mut Core, ctx: &Ctx, req: &SetWatchesRequest) {
    let rel = req.relative_zxid;
    for path in &req.data {
        match core.db.tree.get(path).map(|n| n.mzxid) {
            None => fire(core, ctx, event_type::NODE_DELETED, path),
            Some(mzxid) if mzxid > rel => fire(core, ctx, event_type::NODE_DATA_CHANGED, path),
            Some(_) => core.watches.add_data(path, ctx.session),
        }
    }
    for path in &req.exist {
        if core.db.tree.contains(path) {
            fire(core, ctx, event_type::NODE_CREATED, path);
        } else {
            core.watches.add_data(path, ctx.session);
        }
    }
    for path in &req.child {
        match core.db.tree.get(path).map(|n| n.pzxid) {
            None => fire(core, ctx, event_type::NODE_DELETED, path),
            Some(pzxid) if pzxid > rel => fire(core, ctx, event_type::NODE_CHILDREN_CHANGED, path),
            Some(_) => core.watches.add_child(path, ctx.session),
        }
    }
    for path in req.persistent.iter().flatten() {
        core.watches.add_persistent(path, ctx.session, PersistentMode::Persistent);
    }
    for path in req.persistent_recursive.iter().flatten() {
        core.watches.add_persistent(path, ctx.session, PersistentMode::Recursive);
    }
    core.reply_read(ctx, ErrorCode::Ok, Response::Empty);
}

/// addWatch: mode 0 persistent, 1 persistent-recursive. The node need not exist.
/// The reply body is an `ErrorResponse{0}`, as ZooKeeper sends.
pub(super) fn add_watch(core: &mut Core, ctx: &Ctx, path: &str, mode: i32) {
    let checked = validate_path(path).and_then(|()| PersistentMode::from_wire(mode).ok_or(ErrorCode::BadArguments));
    match checked {
        Ok(mode) => {
            core.watches.add_persistent(path, ctx.session, mode);
            core.reply_read(ctx, ErrorCode::Ok, Response::Int(0));
        }
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}

fn checked_kind(req: &WatchKindRequest) -> Result<WatcherType, ErrorCode> {
    validate_path(&req.path)?;
    WatcherType::from_wire(req.kind).ok_or(ErrorCode::BadArguments)
}

pub(super) fn remove_watches(core: &mut Core, ctx: &Ctx, req: &WatchKindRequest) {
    let result = checked_kind(req).and_then(|kind| {
        if core.watches.remove(&req.path, ctx.session, kind) {
            Ok(())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    });
    core.reply_read(ctx, result.err().unwrap_or(ErrorCode::Ok), Response::Empty);
}

pub(super) fn check_watches(core: &mut Core, ctx: &Ctx, req: &WatchKindRequest) {
    let result = checked_kind(req).and_then(|kind| {
        if core.watches.contains(&req.path, ctx.session, kind) {
            Ok(())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    });
    core.reply_read(ctx, result.err().unwrap_or(ErrorCode::Ok), Response::Empty);
}
