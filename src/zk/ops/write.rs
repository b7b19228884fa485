//! Single writes: create (all four ops), delete, setData, setACL, check.
//!
//! The `prep_*` functions check a request against the database in ZooKeeper's order
//! (so the first failing condition picks the same error code) and return the
//! transaction to apply. They are shared with `multi.rs`.

use super::super::core::{Core, Ctx};
use super::super::db::{Applied, Database};
use super::super::proto::{CreateOp, CreateRequest, ErrorCode, PathVersion, Response, SetAclRequest, SetDataRequest};
use super::super::tree::{validate_path, DataTree, NodeKind};
use super::super::txn::Txn;

/// Largest TTL ZooKeeper accepts (40 bits of milliseconds).
const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// Create modes by flag value (`CreateMode.fromFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CreateMode {
    ephemeral: bool,
    sequential: bool,
    container: bool,
    ttl: bool,
}

impl CreateMode {
    fn from_flags(flags: i32) -> Option<CreateMode> {
        let m = |ephemeral, sequential, container, ttl| CreateMode { ephemeral, sequential, container, ttl };
        Some(match flags {
            0 => m(false, false, false, false),
            1 => m(true, false, false, false),
            2 => m(false, true, false, false),
            3 => m(true, true, false, false),
            4 => m(false, false, true, false),
            5 => m(false, false, false, true),
            6 => m(false, true, false, true),
            _ => return None,
        })
    }
}

/// `-1` matches any version.
pub(crate) fn check_version(expected: i32, current: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(())
}

/// Parent of a create path; unlike `tree::split_parent` it accepts the trailing
/// slash of a sequential prefix such as `/queue/`.
fn create_parent(path: &str) -> Option<&str> {
    let idx = path.rfind('/')?;
    Some(if idx == 0 { "/" } else { &path[..idx] })
}

pub(crate) fn prep_create(db: &Database, session: i64, req: &CreateRequest) -> Result<Txn, ErrorCode> {
    let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
    match req.op {
        CreateOp::Ttl if !mode.ttl || req.ttl <= 0 || req.ttl > MAX_TTL_MS => return Err(ErrorCode::BadArguments),
        CreateOp::Ttl => {}
        _ if mode.ttl => return Err(ErrorCode::BadArguments),
        _ => {}
    }
    let checked = if mode.sequential { format!("{}1", req.path) } else { req.path.clone() };
    validate_path(&checked)?;
    if req.acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let parent_path = create_parent(&req.path).ok_or(ErrorCode::BadArguments)?;
    let parent = db.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    let path = if mode.sequential { format!("{}{:010}", req.path, parent.cversion) } else { req.path.clone() };
    validate_path(&path)?;
    if path == "/" || db.tree.contains(&path) {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(parent.kind, NodeKind::Ephemeral(_)) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let kind = if mode.ephemeral {
        NodeKind::Ephemeral(session)
    } else if mode.container || req.op == CreateOp::Container {
        NodeKind::Container
    } else if mode.ttl {
        NodeKind::Ttl(req.ttl)
    } else {
        NodeKind::Persistent
    };
    Ok(Txn::Create {
        path,
        data: req.data.clone(),
        acl: req.acl.clone(),
        kind,
        parent_cversion: parent.cversion.wrapping_add(1),
    })
}

pub(crate) fn prep_delete(db: &Database, req: &PathVersion) -> Result<Txn, ErrorCode> {
    validate_path(&req.path)?;
    if DataTree::is_reserved(&req.path) {
        return Err(ErrorCode::BadArguments);
    }
    let node = db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_version(req.version, node.version)?;
    if !node.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(Txn::Delete { path: req.path.clone() })
}

pub(crate) fn prep_set_data(db: &Database, req: &SetDataRequest) -> Result<Txn, ErrorCode> {
    validate_path(&req.path)?;
    let node = db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_version(req.version, node.version)?;
    Ok(Txn::SetData { path: req.path.clone(), data: req.data.clone(), version: node.version.wrapping_add(1) })
}

fn prep_set_acl(db: &Database, req: &SetAclRequest) -> Result<Txn, ErrorCode> {
    validate_path(&req.path)?;
    if req.acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let node = db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_version(req.version, node.aversion)?;
    Ok(Txn::SetAcl { path: req.path.clone(), acl: req.acl.clone(), aversion: node.aversion.wrapping_add(1) })
}

pub(crate) fn prep_check(db: &Database, req: &PathVersion) -> Result<Txn, ErrorCode> {
    validate_path(&req.path)?;
    let node = db.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
    check_version(req.version, node.version)?;
    Ok(Txn::Check { path: req.path.clone() })
}

/// Runs a prepared write and answers it: notifications first, then the reply.
fn finish(core: &mut Core, ctx: &Ctx, prepared: Result<Txn, ErrorCode>, body: impl FnOnce(Applied) -> Response) {
    let (zxid, outcome) = core.commit_write(ctx.session, prepared);
    match outcome {
        Ok(applied) => {
            core.notify(&applied.changes);
            let response = body(applied);
            core.reply_write(ctx, zxid, ErrorCode::Ok, response);
        }
        Err(code) => core.reply_write(ctx, zxid, code, Response::Empty),
    }
}

pub(super) fn create(core: &mut Core, ctx: &Ctx, req: &CreateRequest) {
    let prepared = prep_create(&core.db, ctx.session, req);
    let op = req.op;
    finish(core, ctx, prepared, |applied| {
        let path = applied.created.unwrap_or_default();
        match op {
            CreateOp::Create => Response::Path(path),
            _ => Response::PathStat(path, applied.stat.unwrap_or_default()),
        }
    });
}

pub(super) fn delete(core: &mut Core, ctx: &Ctx, req: &PathVersion) {
    let prepared = prep_delete(&core.db, req);
    finish(core, ctx, prepared, |_| Response::Empty);
}

pub(super) fn set_data(core: &mut Core, ctx: &Ctx, req: SetDataRequest) {
    let prepared = prep_set_data(&core.db, &req);
    finish(core, ctx, prepared, |applied| Response::Stat(applied.stat.unwrap_or_default()));
}

pub(super) fn set_acl(core: &mut Core, ctx: &Ctx, req: SetAclRequest) {
    let prepared = prep_set_acl(&core.db, &req);
    finish(core, ctx, prepared, |applied| Response::Stat(applied.stat.unwrap_or_default()));
}

pub(super) fn check(core: &mut Core, ctx: &Ctx, req: &PathVersion) {
    let prepared = prep_check(&core.db, req);
    finish(core, ctx, prepared, |_| Response::Empty);
}
