//! Request handlers, one file per group of operations. Each handler checks the
//! request against the current state, and for writes turns it into a transaction
//! (`txn.rs`) that the processor applies, logs and answers.
//!
//! - `write.rs`: create / create2 / createContainer / createTTL, delete, setData,
//!   setACL, check
//! - `multi.rs`: multi (atomic, with rollback) and multiRead
//! - `read.rs`: exists, getData, getChildren(2), getACL, sync, getEphemerals,
//!   getAllChildrenNumber
//! - `watches.rs`: setWatches(2), addWatch, removeWatches, checkWatches
//! - `auth.rs`: auth, whoAmI
//!
//! Pings and closeSession are answered here; everything else (reconfig, sasl,
//! unknown op codes) gets Unimplemented.

mod auth;
mod multi;
mod read;
mod watches;
mod write;

use super::core::{Core, Ctx};
use super::proto::{ErrorCode, Request, Response};

/// Answers one request of an established session.
pub(crate) fn dispatch(core: &mut Core, ctx: &Ctx, request: Request) {
    match request {
        Request::Ping => core.reply_read(ctx, ErrorCode::Ok, Response::Empty),
        Request::Create(req) => write::create(core, ctx, &req),
        Request::Delete(req) => write::delete(core, ctx, &req),
        Request::SetData(req) => write::set_data(core, ctx, req),
        Request::SetAcl(req) => write::set_acl(core, ctx, req),
        Request::Check(req) => write::check(core, ctx, &req),
        Request::Multi(ops) => multi::multi(core, ctx, ops),
        Request::MultiRead(ops) => multi::multi_read(core, ctx, ops),
        Request::Exists(req) => read::exists(core, ctx, &req),
        Request::GetData(req) => read::get_data(core, ctx, &req),
        Request::GetChildren(req) => read::get_children(core, ctx, &req, false),
        Request::GetChildren2(req) => read::get_children(core, ctx, &req, true),
        Request::GetAcl(path) => read::get_acl(core, ctx, &path),
        Request::Sync(path) => read::sync(core, ctx, path),
        Request::GetEphemerals(prefix) => read::get_ephemerals(core, ctx, &prefix),
        Request::GetAllChildrenNumber(path) => read::get_all_children_number(core, ctx, &path),
        Request::SetWatches(req) => watches::set_watches(core, ctx, &req),
        Request::AddWatch { path, mode } => watches::add_watch(core, ctx, &path, mode),
        Request::RemoveWatches(req) => watches::remove_watches(core, ctx, &req),
        Request::CheckWatches(req) => watches::check_watches(core, ctx, &req),
        Request::Auth(packet) => auth::auth(core, ctx, &packet),
        Request::WhoAmI => auth::who_am_i(core, ctx),
        Request::CloseSession => core.close_session(ctx.session, Some(ctx)),
        Request::Other { op, .. } => {
            tracing::debug!(op, "unsupported operation");
            core.reply_read(ctx, ErrorCode::Unimplemented, Response::Empty);
        }
    }
}
