//! Reads: exists, getData, getChildren / getChildren2, getACL, sync, getEphemerals,
//! getAllChildrenNumber. Reads spend no zxid; their reply carries the last one.
//! Watch flags register one-shot watches: exists always (so a later create fires
//! NodeCreated), getData and getChildren only when the node exists.

use super::super::core::{Core, Ctx};
use super::super::proto::{ErrorCode, PathWatch, Response, Stat};
use super::super::tree::validate_path;

pub(super) fn exists(core: &mut Core, ctx: &Ctx, req: &PathWatch) {
    if let Err(code) = validate_path(&req.path) {
        return core.reply_read(ctx, code, Response::Empty);
    }
    if req.watch {
        core.watches.add_data(&req.path, ctx.session);
    }
    match core.db.tree.get(&req.path) {
        Some(node) => {
            let stat = node.stat();
            core.reply_read(ctx, ErrorCode::Ok, Response::Stat(stat));
        }
        None => core.reply_read(ctx, ErrorCode::NoNode, Response::Empty),
    }
}

/// getData without the reply (shared with multiRead).
pub(super) fn lookup_data(core: &mut Core, ctx: &Ctx, req: &PathWatch) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
    validate_path(&req.path)?;
    let node = core.db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    let found = (node.data.clone(), node.stat());
    if req.watch {
        core.watches.add_data(&req.path, ctx.session);
    }
    Ok(found)
}

/// getChildren without the reply (shared with multiRead).
pub(super) fn lookup_children(core: &mut Core, ctx: &Ctx, req: &PathWatch) -> Result<(Vec<String>, Stat), ErrorCode> {
    validate_path(&req.path)?;
    let node = core.db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    let found = (node.children.iter().cloned().collect(), node.stat());
    if req.watch {
        core.watches.add_child(&req.path, ctx.session);
    }
    Ok(found)
}

pub(super) fn get_data(core: &mut Core, ctx: &Ctx, req: &PathWatch) {
    match lookup_data(core, ctx, req) {
        Ok((data, stat)) => core.reply_read(ctx, ErrorCode::Ok, Response::Data(data, stat)),
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}

pub(super) fn get_children(core: &mut Core, ctx: &Ctx, req: &PathWatch, with_stat: bool) {
    match lookup_children(core, ctx, req) {
        Ok((children, stat)) => {
            let body = if with_stat { Response::Children2(children, stat) } else { Response::Children(children) };
            core.reply_read(ctx, ErrorCode::Ok, body);
        }
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}

pub(super) fn get_acl(core: &mut Core, ctx: &Ctx, path: &str) {
    let found = validate_path(path)
        .and_then(|()| core.db.tree.get(path).map(|n| (n.acl.clone(), n.stat())).ok_or(ErrorCode::NoNode));
    match found {
        Ok((acl, stat)) => core.reply_read(ctx, ErrorCode::Ok, Response::Acl(acl, stat)),
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}

/// A standalone server is always in sync with itself: echo the path.
pub(super) fn sync(core: &mut Core, ctx: &Ctx, path: String) {
    match validate_path(&path) {
        Ok(()) => core.reply_read(ctx, ErrorCode::Ok, Response::Path(path)),
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}

/// The session's ephemerals whose path starts with the prefix ("/" or "" for all).
pub(super) fn get_ephemerals(core: &mut Core, ctx: &Ctx, prefix: &str) {
    let all = prefix.is_empty() || prefix == "/";
    let paths: Vec<String> =
        core.db.tree.ephemerals_of(ctx.session).filter(|p| all || p.starts_with(prefix)).cloned().collect();
    core.reply_read(ctx, ErrorCode::Ok, Response::Children(paths));
}

pub(super) fn get_all_children_number(core: &mut Core, ctx: &Ctx, path: &str) {
    let found = validate_path(path).and_then(|()| {
        if core.db.tree.contains(path) {
            Ok(core.db.tree.count_descendants(path))
        } else {
            Err(ErrorCode::NoNode)
        }
    });
    match found {
        Ok(n) => core.reply_read(ctx, ErrorCode::Ok, Response::Int(i32::try_from(n).unwrap_or(i32::MAX))),
        Err(code) => core.reply_read(ctx, code, Response::Empty),
    }
}
