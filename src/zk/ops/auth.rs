//! auth (op 100) and whoAmI (op 107). Credentials are accepted and remembered for
//! whoAmI; ACLs are stored but not enforced, so they grant nothing extra.

use super::super::core::{Core, Ctx};
use super::super::proto::{AuthPacket, ClientInfo, ErrorCode, Response};

/// Accepts any scheme. The reply is `{xid, zxid 0, err 0}` as ZooKeeper sends it.
pub(super) fn auth(core: &mut Core, ctx: &Ctx, packet: &AuthPacket) {
    let raw = String::from_utf8_lossy(packet.auth.as_deref().unwrap_or_default()).into_owned();
    // digest credentials are "user:password"; only the user is an identity.
    let user = match packet.scheme.as_str() {
        "digest" => raw.split(':').next().unwrap_or_default().to_string(),
        _ => raw,
    };
    if let Some(conn) = core.conns.get_mut(&ctx.conn) {
        let info = ClientInfo { scheme: packet.scheme.clone(), user };
        if !conn.auth.contains(&info) {
            conn.auth.push(info);
        }
    }
    core.reply(ctx, 0, ErrorCode::Ok, Response::Empty);
}

pub(super) fn who_am_i(core: &mut Core, ctx: &Ctx) {
    let infos = core.conns.get(&ctx.conn).map(|c| c.auth.clone()).unwrap_or_default();
    core.reply_read(ctx, ErrorCode::Ok, Response::WhoAmI(infos));
}
