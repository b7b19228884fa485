//! ZooKeeper wire messages: op codes, error codes, `Stat`, and every request and
//! response body this server speaks, with their jute encodings (see
//! `zookeeper.jute`). Decoding and encoding only; no I/O and no server state.
//!
//! Decoders are strict about what they read and lenient about what follows: a body
//! with trailing bytes decodes (ZooKeeper ignores them too); [`decode_request`]
//! reports how many bytes it consumed so tests can insist on exact round trips.

use super::jute::{DecodeError, Reader, Writer};

/// Reserved xids.
pub mod xid {
    /// Watch notifications.
    pub const NOTIFICATION: i32 = -1;
    /// Pings.
    pub const PING: i32 = -2;
    /// Auth packets.
    pub const AUTH: i32 = -4;
    /// setWatches sent by clients on reconnect.
    pub const SET_WATCHES: i32 = -8;
}

/// Operation codes (`ZooDefs.OpCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpCode {
    Notification,
    Create,
    Delete,
    Exists,
    GetData,
    SetData,
    GetAcl,
    SetAcl,
    GetChildren,
    Sync,
    Ping,
    GetChildren2,
    Check,
    Multi,
    Create2,
    Reconfig,
    CheckWatches,
    RemoveWatches,
    CreateContainer,
    DeleteContainer,
    CreateTtl,
    MultiRead,
    Auth,
    SetWatches,
    Sasl,
    GetEphemerals,
    GetAllChildrenNumber,
    SetWatches2,
    AddWatch,
    WhoAmI,
    CreateSession,
    CloseSession,
    Error,
}

impl OpCode {
    pub fn code(self) -> i32 {
        match self {
            OpCode::Notification => 0,
            OpCode::Create => 1,
            OpCode::Delete => 2,
            OpCode::Exists => 3,
            OpCode::GetData => 4,
            OpCode::SetData => 5,
            OpCode::GetAcl => 6,
            OpCode::SetAcl => 7,
            OpCode::GetChildren => 8,
            OpCode::Sync => 9,
            OpCode::Ping => 11,
            OpCode::GetChildren2 => 12,
            OpCode::Check => 13,
            OpCode::Multi => 14,
            OpCode::Create2 => 15,
            OpCode::Reconfig => 16,
            OpCode::CheckWatches => 17,
            OpCode::RemoveWatches => 18,
            OpCode::CreateContainer => 19,
            OpCode::DeleteContainer => 20,
            OpCode::CreateTtl => 21,
            OpCode::MultiRead => 22,
            OpCode::Auth => 100,
            OpCode::SetWatches => 101,
            OpCode::Sasl => 102,
            OpCode::GetEphemerals => 103,
            OpCode::GetAllChildrenNumber => 104,
            OpCode::SetWatches2 => 105,
            OpCode::AddWatch => 106,
            OpCode::WhoAmI => 107,
            OpCode::CreateSession => -10,
            OpCode::CloseSession => -11,
            OpCode::Error => -1,
        }
    }

    pub fn from_code(code: i32) -> Option<OpCode> {
        Some(match code {
            0 => OpCode::Notification,
            1 => OpCode::Create,
            2 => OpCode::Delete,
            3 => OpCode::Exists,
            4 => OpCode::GetData,
            5 => OpCode::SetData,
            6 => OpCode::GetAcl,
            7 => OpCode::SetAcl,
            8 => OpCode::GetChildren,
            9 => OpCode::Sync,
            11 => OpCode::Ping,
            12 => OpCode::GetChildren2,
            13 => OpCode::Check,
            14 => OpCode::Multi,
            15 => OpCode::Create2,
            16 => OpCode::Reconfig,
            17 => OpCode::CheckWatches,
            18 => OpCode::RemoveWatches,
            19 => OpCode::CreateContainer,
            20 => OpCode::DeleteContainer,
            21 => OpCode::CreateTtl,
            22 => OpCode::MultiRead,
            100 => OpCode::Auth,
            101 => OpCode::SetWatches,
            102 => OpCode::Sasl,
            103 => OpCode::GetEphemerals,
            104 => OpCode::GetAllChildrenNumber,
            105 => OpCode::SetWatches2,
            106 => OpCode::AddWatch,
            107 => OpCode::WhoAmI,
            -10 => OpCode::CreateSession,
            -11 => OpCode::CloseSession,
            -1 => OpCode::Error,
            _ => return None,
        })
    }

    /// The name used in logs and in the fixtures' file names.
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Notification => "notification",
            OpCode::Create => "create",
            OpCode::Delete => "delete",
            OpCode::Exists => "exists",
            OpCode::GetData => "getData",
            OpCode::SetData => "setData",
            OpCode::GetAcl => "getACL",
            OpCode::SetAcl => "setACL",
            OpCode::GetChildren => "getChildren",
            OpCode::Sync => "sync",
            OpCode::Ping => "ping",
            OpCode::GetChildren2 => "getChildren2",
            OpCode::Check => "check",
            OpCode::Multi => "multi",
            OpCode::Create2 => "create2",
            OpCode::Reconfig => "reconfig",
            OpCode::CheckWatches => "checkWatches",
            OpCode::RemoveWatches => "removeWatches",
            OpCode::CreateContainer => "createContainer",
            OpCode::DeleteContainer => "deleteContainer",
            OpCode::CreateTtl => "createTTL",
            OpCode::MultiRead => "multiRead",
            OpCode::Auth => "auth",
            OpCode::SetWatches => "setWatches",
            OpCode::Sasl => "sasl",
            OpCode::GetEphemerals => "getEphemerals",
            OpCode::GetAllChildrenNumber => "getAllChildrenNumber",
            OpCode::SetWatches2 => "setWatches2",
            OpCode::AddWatch => "addWatch",
            OpCode::WhoAmI => "whoAmI",
            OpCode::CreateSession => "createSession",
            OpCode::CloseSession => "closeSession",
            OpCode::Error => "error",
        }
    }
}

/// Error codes (`KeeperException.Code`) this server produces or relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    Ok,
    SystemError,
    RuntimeInconsistency,
    ConnectionLoss,
    MarshallingError,
    Unimplemented,
    BadArguments,
    NoNode,
    NoAuth,
    BadVersion,
    NoChildrenForEphemerals,
    NodeExists,
    NotEmpty,
    SessionExpired,
    InvalidAcl,
    AuthFailed,
    SessionMoved,
    NoWatcher,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::Ok => 0,
            ErrorCode::SystemError => -1,
            ErrorCode::RuntimeInconsistency => -2,
            ErrorCode::ConnectionLoss => -4,
            ErrorCode::MarshallingError => -5,
            ErrorCode::Unimplemented => -6,
            ErrorCode::BadArguments => -8,
            ErrorCode::NoNode => -101,
            ErrorCode::NoAuth => -102,
            ErrorCode::BadVersion => -103,
            ErrorCode::NoChildrenForEphemerals => -108,
            ErrorCode::NodeExists => -110,
            ErrorCode::NotEmpty => -111,
            ErrorCode::SessionExpired => -112,
            ErrorCode::InvalidAcl => -114,
            ErrorCode::AuthFailed => -115,
            ErrorCode::SessionMoved => -118,
            ErrorCode::NoWatcher => -121,
        }
    }

    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Some(match code {
            0 => ErrorCode::Ok,
            -1 => ErrorCode::SystemError,
            -2 => ErrorCode::RuntimeInconsistency,
            -4 => ErrorCode::ConnectionLoss,
            -5 => ErrorCode::MarshallingError,
            -6 => ErrorCode::Unimplemented,
            -8 => ErrorCode::BadArguments,
            -101 => ErrorCode::NoNode,
            -102 => ErrorCode::NoAuth,
            -103 => ErrorCode::BadVersion,
            -108 => ErrorCode::NoChildrenForEphemerals,
            -110 => ErrorCode::NodeExists,
            -111 => ErrorCode::NotEmpty,
            -112 => ErrorCode::SessionExpired,
            -114 => ErrorCode::InvalidAcl,
            -115 => ErrorCode::AuthFailed,
            -118 => ErrorCode::SessionMoved,
            -121 => ErrorCode::NoWatcher,
            _ => return None,
        })
    }
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event_type {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// Keeper states (`Watcher.Event.KeeperState`).
pub mod keeper_state {
    pub const SYNC_CONNECTED: i32 = 3;
    pub const EXPIRED: i32 = -112;
}

/// The 68-byte `Stat` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub const ENCODED_LEN: usize = 68;

    pub fn decode(r: &mut Reader<'_>) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: r.read_long("stat.czxid")?,
            mzxid: r.read_long("stat.mzxid")?,
            ctime: r.read_long("stat.ctime")?,
            mtime: r.read_long("stat.mtime")?,
            version: r.read_int("stat.version")?,
            cversion: r.read_int("stat.cversion")?,
            aversion: r.read_int("stat.aversion")?,
            ephemeral_owner: r.read_long("stat.ephemeralOwner")?,
            data_length: r.read_int("stat.dataLength")?,
            num_children: r.read_int("stat.numChildren")?,
            pzxid: r.read_long("stat.pzxid")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_long(self.czxid);
        w.write_long(self.mzxid);
        w.write_long(self.ctime);
        w.write_long(self.mtime);
        w.write_int(self.version);
        w.write_int(self.cversion);
        w.write_int(self.aversion);
        w.write_long(self.ephemeral_owner);
        w.write_int(self.data_length);
        w.write_int(self.num_children);
        w.write_long(self.pzxid);
    }
}

/// An ACL entry: permission bits and an `Id{scheme, id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

impl Acl {
    /// Smallest encoding: perms + two empty strings.
    const MIN_LEN: usize = 12;

    /// `world:anyone` with every permission (`ZooDefs.Ids.OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Acl {
        Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }
    }

    /// `world:anyone` read-only (`ZooDefs.Ids.READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Acl {
        Acl { perms: 1, scheme: "world".into(), id: "anyone".into() }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Acl, DecodeError> {
        Ok(Acl {
            perms: r.read_int("acl.perms")?,
            scheme: r.read_string("acl.id.scheme")?,
            id: r.read_string("acl.id.id")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_int(self.perms);
        w.write_str(&self.scheme);
        w.write_str(&self.id);
    }

    pub fn decode_vec(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
        let n = r.read_vec_len("acl vector", Acl::MIN_LEN)?.unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Acl::decode(r)?);
        }
        Ok(out)
    }

    pub fn encode_vec(acl: &[Acl], w: &mut Writer) {
        w.write_len(acl.len());
        for a in acl {
            a.encode(w);
        }
    }
}

/// `ConnectRequest`, the first frame of every session (no request header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Present only when the client sent the trailing byte.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(r: &mut Reader<'_>) -> Result<ConnectRequest, DecodeError> {
        let protocol_version = r.read_int("connect.protocolVersion")?;
        let last_zxid_seen = r.read_long("connect.lastZxidSeen")?;
        let timeout_ms = r.read_int("connect.timeOut")?;
        let session_id = r.read_long("connect.sessionId")?;
        let passwd = r.read_buffer("connect.passwd")?.unwrap_or_default();
        let read_only = if r.is_empty() { None } else { Some(r.read_bool("connect.readOnly")?) };
        Ok(ConnectRequest { protocol_version, last_zxid_seen, timeout_ms, session_id, passwd, read_only })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_int(self.protocol_version);
        w.write_long(self.last_zxid_seen);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
}

/// `ConnectResponse`; `read_only` is written only when the request carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn decode(r: &mut Reader<'_>) -> Result<ConnectResponse, DecodeError> {
        let protocol_version = r.read_int("connectResponse.protocolVersion")?;
        let timeout_ms = r.read_int("connectResponse.timeOut")?;
        let session_id = r.read_long("connectResponse.sessionId")?;
        let passwd = r.read_buffer("connectResponse.passwd")?.unwrap_or_default();
        let read_only = if r.is_empty() { None } else { Some(r.read_bool("connectResponse.readOnly")?) };
        Ok(ConnectResponse { protocol_version, timeout_ms, session_id, passwd, read_only })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_int(self.protocol_version);
        w.write_int(self.timeout_ms);
        w.write_long(self.session_id);
        w.write_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
}

/// `RequestHeader{int xid; int type}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub op: i32,
}

/// `ReplyHeader{int xid; long zxid; int err}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

impl ReplyHeader {
    pub const ENCODED_LEN: usize = 16;

    pub fn decode(r: &mut Reader<'_>) -> Result<ReplyHeader, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_int("reply.xid")?,
            zxid: r.read_long("reply.zxid")?,
            err: r.read_int("reply.err")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_int(self.xid);
        w.write_long(self.zxid);
        w.write_int(self.err);
    }
}

/// Which create operation carried a [`CreateRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOp {
    /// op 1: reply `{path}`.
    Create,
    /// op 15: reply `{path; Stat}`.
    Create2,
    /// op 19: reply `{path; Stat}`.
    Container,
    /// op 21: body carries a trailing `long ttl`; reply `{path; Stat}`.
    Ttl,
}

impl CreateOp {
    pub fn op_code(self) -> OpCode {
        match self {
            CreateOp::Create => OpCode::Create,
            CreateOp::Create2 => OpCode::Create2,
            CreateOp::Container => OpCode::CreateContainer,
            CreateOp::Ttl => OpCode::CreateTtl,
        }
    }
}

/// `CreateRequest` / `CreateTTLRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub op: CreateOp,
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    /// Only for [`CreateOp::Ttl`].
    pub ttl: i64,
}

/// A request carrying a path and an expected version (delete, check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathVersion {
    pub path: String,
    pub version: i32,
}

/// A read request carrying a path and a watch flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathWatch {
    pub path: String,
    pub watch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDataRequest {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAclRequest {
    pub path: String,
    pub acl: Vec<Acl>,
    pub version: i32,
}

/// `checkWatches` / `removeWatches`: `{path; int type}` with type 1 children,
/// 2 data, 3 any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchKindRequest {
    pub path: String,
    pub kind: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPacket {
    pub auth_type: i32,
    pub scheme: String,
    pub auth: Option<Vec<u8>>,
}

/// `SetWatches` (op 101) and `SetWatches2` (op 105; the two persistent lists are
/// `Some` only for the latter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetWatchesRequest {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Option<Vec<String>>,
    pub persistent_recursive: Option<Vec<String>>,
}

/// One operation inside a multi or multiRead, with the `err` its `MultiHeader`
/// carried (clients send −1; kept so frames re-encode byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiOp {
    pub header_err: i32,
    pub request: Request,
}

/// A decoded request body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    Create(CreateRequest),
    Delete(PathVersion),
    Exists(PathWatch),
    GetData(PathWatch),
    SetData(SetDataRequest),
    GetAcl(String),
    SetAcl(SetAclRequest),
    GetChildren(PathWatch),
    GetChildren2(PathWatch),
    Sync(String),
    Ping,
    Check(PathVersion),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    CheckWatches(WatchKindRequest),
    RemoveWatches(WatchKindRequest),
    Auth(AuthPacket),
    SetWatches(SetWatchesRequest),
    GetEphemerals(String),
    GetAllChildrenNumber(String),
    AddWatch {
        path: String,
        mode: i32,
    },
    WhoAmI,
    CloseSession,
    /// Any other op (reconfig, sasl, unknown codes): kept raw, answered Unimplemented.
    Other {
        op: i32,
        body: Vec<u8>,
    },
}

impl Request {
    /// The op code this request travels under.
    pub fn op_code(&self) -> i32 {
        match self {
            Request::Create(c) => c.op.op_code().code(),
            Request::Delete(_) => OpCode::Delete.code(),
            Request::Exists(_) => OpCode::Exists.code(),
            Request::GetData(_) => OpCode::GetData.code(),
            Request::SetData(_) => OpCode::SetData.code(),
            Request::GetAcl(_) => OpCode::GetAcl.code(),
            Request::SetAcl(_) => OpCode::SetAcl.code(),
            Request::GetChildren(_) => OpCode::GetChildren.code(),
            Request::GetChildren2(_) => OpCode::GetChildren2.code(),
            Request::Sync(_) => OpCode::Sync.code(),
            Request::Ping => OpCode::Ping.code(),
            Request::Check(_) => OpCode::Check.code(),
            Request::Multi(_) => OpCode::Multi.code(),
            Request::MultiRead(_) => OpCode::MultiRead.code(),
            Request::CheckWatches(_) => OpCode::CheckWatches.code(),
            Request::RemoveWatches(_) => OpCode::RemoveWatches.code(),
            Request::Auth(_) => OpCode::Auth.code(),
            Request::SetWatches(s) => {
                if s.persistent.is_some() {
                    OpCode::SetWatches2.code()
                } else {
                    OpCode::SetWatches.code()
                }
            }
            Request::GetEphemerals(_) => OpCode::GetEphemerals.code(),
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber.code(),
            Request::AddWatch { .. } => OpCode::AddWatch.code(),
            Request::WhoAmI => OpCode::WhoAmI.code(),
            Request::CloseSession => OpCode::CloseSession.code(),
            Request::Other { op, .. } => *op,
        }
    }

    /// Decodes the body of a request sent under `op`.
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<Request, DecodeError> {
        let Some(code) = OpCode::from_code(op) else {
            return Ok(Request::Other { op, body: r.take_rest().to_vec() });
        };
        Ok(match code {
            OpCode::Create => Request::Create(decode_create(CreateOp::Create, r)?),
            OpCode::Create2 => Request::Create(decode_create(CreateOp::Create2, r)?),
            OpCode::CreateContainer => Request::Create(decode_create(CreateOp::Container, r)?),
            OpCode::CreateTtl => Request::Create(decode_create(CreateOp::Ttl, r)?),
            OpCode::Delete => Request::Delete(decode_path_version(r)?),
            OpCode::Check => Request::Check(decode_path_version(r)?),
            OpCode::Exists => Request::Exists(decode_path_watch(r)?),
            OpCode::GetData => Request::GetData(decode_path_watch(r)?),
            OpCode::GetChildren => Request::GetChildren(decode_path_watch(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(decode_path_watch(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest {
                path: r.read_string("setData.path")?,
                data: r.read_buffer("setData.data")?,
                version: r.read_int("setData.version")?,
            }),
            OpCode::GetAcl => Request::GetAcl(r.read_string("getACL.path")?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest {
                path: r.read_string("setACL.path")?,
                acl: Acl::decode_vec(r)?,
                version: r.read_int("setACL.version")?,
            }),
            OpCode::Sync => Request::Sync(r.read_string("sync.path")?),
            OpCode::Ping => Request::Ping,
            OpCode::Multi => Request::Multi(decode_multi(r, false)?),
            OpCode::MultiRead => Request::MultiRead(decode_multi(r, true)?),
            OpCode::CheckWatches => Request::CheckWatches(decode_watch_kind(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(decode_watch_kind(r)?),
            OpCode::Auth => Request::Auth(AuthPacket {
                auth_type: r.read_int("auth.type")?,
                scheme: r.read_string("auth.scheme")?,
                auth: r.read_buffer("auth.auth")?,
            }),
            OpCode::SetWatches | OpCode::SetWatches2 => {
                let v2 = code == OpCode::SetWatches2;
                let relative_zxid = r.read_long("setWatches.relativeZxid")?;
                let data = r.read_string_vec("setWatches.dataWatches")?;
                let exist = r.read_string_vec("setWatches.existWatches")?;
                let child = r.read_string_vec("setWatches.childWatches")?;
                let (persistent, persistent_recursive) = if v2 {
                    (
                        Some(r.read_string_vec("setWatches2.persistentWatches")?),
                        Some(r.read_string_vec("setWatches2.persistentRecursiveWatches")?),
                    )
                } else {
                    (None, None)
                };
                Request::SetWatches(SetWatchesRequest {
                    relative_zxid,
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                })
            }
            OpCode::GetEphemerals => Request::GetEphemerals(r.read_string("getEphemerals.prefixPath")?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(r.read_string("getAllChildrenNumber.path")?),
            OpCode::AddWatch => {
                Request::AddWatch { path: r.read_string("addWatch.path")?, mode: r.read_int("addWatch.mode")? }
            }
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification
            | OpCode::Reconfig
            | OpCode::DeleteContainer
            | OpCode::Sasl
            | OpCode::CreateSession
            | OpCode::Error => Request::Other { op, body: r.take_rest().to_vec() },
        })
    }

    /// Encodes the body (without the request header).
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Request::Create(c) => {
                w.write_str(&c.path);
                w.write_buffer(c.data.as_deref());
                Acl::encode_vec(&c.acl, w);
                w.write_int(c.flags);
                if c.op == CreateOp::Ttl {
                    w.write_long(c.ttl);
                }
            }
            Request::Delete(p) | Request::Check(p) => {
                w.write_str(&p.path);
                w.write_int(p.version);
            }
            Request::Exists(p) | Request::GetData(p) | Request::GetChildren(p) | Request::GetChildren2(p) => {
                w.write_str(&p.path);
                w.write_bool(p.watch);
            }
            Request::SetData(s) => {
                w.write_str(&s.path);
                w.write_buffer(s.data.as_deref());
                w.write_int(s.version);
            }
            Request::GetAcl(p) | Request::Sync(p) | Request::GetEphemerals(p) | Request::GetAllChildrenNumber(p) => {
                w.write_str(p)
            }
            Request::SetAcl(s) => {
                w.write_str(&s.path);
                Acl::encode_vec(&s.acl, w);
                w.write_int(s.version);
            }
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
            Request::Multi(ops) | Request::MultiRead(ops) => {
                for op in ops {
                    w.write_int(op.request.op_code());
                    w.write_bool(false);
                    w.write_int(op.header_err);
                    op.request.encode(w);
                }
                w.write_int(-1);
                w.write_bool(true);
                w.write_int(-1);
            }
            Request::CheckWatches(k) | Request::RemoveWatches(k) => {
                w.write_str(&k.path);
                w.write_int(k.kind);
            }
            Request::Auth(a) => {
                w.write_int(a.auth_type);
                w.write_str(&a.scheme);
                w.write_buffer(a.auth.as_deref());
            }
            Request::SetWatches(s) => {
                w.write_long(s.relative_zxid);
                w.write_string_vec(&s.data);
                w.write_string_vec(&s.exist);
                w.write_string_vec(&s.child);
                if let Some(p) = &s.persistent {
                    w.write_string_vec(p);
                    w.write_string_vec(s.persistent_recursive.as_deref().unwrap_or(&[]));
                }
            }
            Request::AddWatch { path, mode } => {
                w.write_str(path);
                w.write_int(*mode);
            }
            Request::Other { body, .. } => w.write_raw(body),
        }
    }
}

fn decode_create(op: CreateOp, r: &mut Reader<'_>) -> Result<CreateRequest, DecodeError> {
    let path = r.read_string("create.path")?;
    let data = r.read_buffer("create.data")?;
    let acl = Acl::decode_vec(r)?;
    let flags = r.read_int("create.flags")?;
    let ttl = if op == CreateOp::Ttl { r.read_long("createTTL.ttl")? } else { 0 };
    Ok(CreateRequest { op, path, data, acl, flags, ttl })
}

fn decode_path_version(r: &mut Reader<'_>) -> Result<PathVersion, DecodeError> {
    Ok(PathVersion { path: r.read_string("path")?, version: r.read_int("version")? })
}

fn decode_path_watch(r: &mut Reader<'_>) -> Result<PathWatch, DecodeError> {
    Ok(PathWatch { path: r.read_string("path")?, watch: r.read_bool("watch")? })
}

fn decode_watch_kind(r: &mut Reader<'_>) -> Result<WatchKindRequest, DecodeError> {
    Ok(WatchKindRequest { path: r.read_string("watches.path")?, kind: r.read_int("watches.type")? })
}

/// Reads `MultiHeader` + op pairs until the `done` header. Only the ops ZooKeeper
/// allows inside a multi (or a multiRead) are accepted; anything else is malformed,
/// as it is for ZooKeeper's `MultiOperationRecord`.
fn decode_multi(r: &mut Reader<'_>, read_only: bool) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let op = r.read_int("multiHeader.type")?;
        let done = r.read_bool("multiHeader.done")?;
        let header_err = r.read_int("multiHeader.err")?;
        if done {
            return Ok(ops);
        }
        let allowed = if read_only {
            matches!(OpCode::from_code(op), Some(OpCode::GetData | OpCode::GetChildren))
        } else {
            matches!(
                OpCode::from_code(op),
                Some(
                    OpCode::Create
                        | OpCode::Create2
                        | OpCode::CreateContainer
                        | OpCode::CreateTtl
                        | OpCode::Delete
                        | OpCode::SetData
                        | OpCode::Check
                )
            )
        };
        if !allowed {
            return Err(DecodeError::BadValue { what: "multi op type", value: op.into() });
        }
        let request = Request::decode(op, r)?;
        ops.push(MultiOp { header_err, request });
    }
}

/// Decodes a request frame payload (`RequestHeader` + body). Returns the header,
/// the request and the number of bytes consumed.
pub fn decode_request(payload: &[u8]) -> Result<(RequestHeader, Request, usize), DecodeError> {
    let mut r = Reader::new(payload);
    let xid = r.read_int("request.xid")?;
    let op = r.read_int("request.type")?;
    let request = Request::decode(op, &mut r)?;
    Ok((RequestHeader { xid, op }, request, payload.len() - r.remaining()))
}

/// Encodes a request frame payload (no length prefix).
pub fn encode_request(xid: i32, request: &Request) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_int(xid);
    w.write_int(request.op_code());
    request.encode(&mut w);
    w.into_inner()
}

/// `WatcherEvent{int type; int state; ustring path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

impl WatcherEvent {
    pub fn decode(r: &mut Reader<'_>) -> Result<WatcherEvent, DecodeError> {
        Ok(WatcherEvent {
            event_type: r.read_int("event.type")?,
            state: r.read_int("event.state")?,
            path: r.read_string("event.path")?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.write_int(self.event_type);
        w.write_int(self.state);
        w.write_str(&self.path);
    }
}

/// `ClientInfo{ustring authScheme; ustring user}` (whoAmI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub scheme: String,
    pub user: String,
}

/// One result of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// type 1, `{path}` (also what ZooKeeper 3.8 answers for create2 inside a multi).
    Create { path: String },
    /// type 15, `{path; Stat}`.
    Create2 { path: String, stat: Stat },
    /// type 2, no body.
    Delete,
    /// type 5, `Stat`.
    SetData { stat: Stat },
    /// type 13, no body.
    Check,
    /// type 4, `{buffer; Stat}` (multiRead).
    GetData { data: Option<Vec<u8>>, stat: Stat },
    /// type 8, `{vector<ustring>}` (multiRead).
    GetChildren { children: Vec<String> },
    /// type −1, `ErrorResponse{int err}`; the header's err carries the same code.
    Error { err: i32 },
}

impl MultiResult {
    fn op_code(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => OpCode::Create.code(),
            MultiResult::Create2 { .. } => OpCode::Create2.code(),
            MultiResult::Delete => OpCode::Delete.code(),
            MultiResult::SetData { .. } => OpCode::SetData.code(),
            MultiResult::Check => OpCode::Check.code(),
            MultiResult::GetData { .. } => OpCode::GetData.code(),
            MultiResult::GetChildren { .. } => OpCode::GetChildren.code(),
            MultiResult::Error { .. } => OpCode::Error.code(),
        }
    }

    fn encode_all(results: &[MultiResult], w: &mut Writer) {
        for res in results {
            w.write_int(res.op_code());
            w.write_bool(false);
            match res {
                MultiResult::Error { err } => {
                    w.write_int(*err);
                    w.write_int(*err);
                }
                MultiResult::Create { path } => {
                    w.write_int(0);
                    w.write_str(path);
                }
                MultiResult::Create2 { path, stat } => {
                    w.write_int(0);
                    w.write_str(path);
                    stat.encode(w);
                }
                MultiResult::SetData { stat } => {
                    w.write_int(0);
                    stat.encode(w);
                }
                MultiResult::Delete | MultiResult::Check => w.write_int(0),
                MultiResult::GetData { data, stat } => {
                    w.write_int(0);
                    w.write_buffer(data.as_deref());
                    stat.encode(w);
                }
                MultiResult::GetChildren { children } => {
                    w.write_int(0);
                    w.write_string_vec(children);
                }
            }
        }
        w.write_int(-1);
        w.write_bool(true);
        w.write_int(-1);
    }

    fn decode_all(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
        let mut out = Vec::new();
        loop {
            let op = r.read_int("multiResult.type")?;
            let done = r.read_bool("multiResult.done")?;
            let _err = r.read_int("multiResult.err")?;
            if done {
                return Ok(out);
            }
            out.push(match OpCode::from_code(op) {
                Some(OpCode::Create) => MultiResult::Create { path: r.read_string("create.path")? },
                Some(OpCode::Create2) => {
                    MultiResult::Create2 { path: r.read_string("create2.path")?, stat: Stat::decode(r)? }
                }
                Some(OpCode::Delete) => MultiResult::Delete,
                Some(OpCode::Check) => MultiResult::Check,
                Some(OpCode::SetData) => MultiResult::SetData { stat: Stat::decode(r)? },
                Some(OpCode::GetData) => {
                    MultiResult::GetData { data: r.read_buffer("getData.data")?, stat: Stat::decode(r)? }
                }
                Some(OpCode::GetChildren) => {
                    MultiResult::GetChildren { children: r.read_string_vec("getChildren.children")? }
                }
                Some(OpCode::Error) => MultiResult::Error { err: r.read_int("errorResponse.err")? },
                _ => return Err(DecodeError::BadValue { what: "multi result type", value: op.into() }),
            });
        }
    }
}

/// A decoded reply body (after the `ReplyHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// No body (errors, delete, ping, check, auth, setWatches, closeSession...).
    Empty,
    /// `{path}`: create, sync.
    Path(String),
    /// `{path; Stat}`: create2, createContainer, createTTL.
    PathStat(String, Stat),
    /// `Stat`: exists, setData, setACL.
    Stat(Stat),
    /// `{buffer data; Stat}`: getData.
    Data(Option<Vec<u8>>, Stat),
    /// `{vector<ACL>; Stat}`: getACL.
    Acl(Vec<Acl>, Stat),
    /// `{vector<ustring>}`: getChildren, getEphemerals.
    Children(Vec<String>),
    /// `{vector<ustring>; Stat}`: getChildren2.
    Children2(Vec<String>, Stat),
    /// multi / multiRead results.
    Multi(Vec<MultiResult>),
    /// `{int}`: getAllChildrenNumber, and addWatch's `ErrorResponse`.
    Int(i32),
    /// `{vector<ClientInfo>}`: whoAmI.
    WhoAmI(Vec<ClientInfo>),
    /// A notification's `WatcherEvent`.
    Event(WatcherEvent),
}

impl Response {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Path(p) => w.write_str(p),
            Response::PathStat(p, s) => {
                w.write_str(p);
                s.encode(w);
            }
            Response::Stat(s) => s.encode(w),
            Response::Data(d, s) => {
                w.write_buffer(d.as_deref());
                s.encode(w);
            }
            Response::Acl(a, s) => {
                Acl::encode_vec(a, w);
                s.encode(w);
            }
            Response::Children(c) => w.write_string_vec(c),
            Response::Children2(c, s) => {
                w.write_string_vec(c);
                s.encode(w);
            }
            Response::Multi(results) => MultiResult::encode_all(results, w),
            Response::Int(n) => w.write_int(*n),
            Response::WhoAmI(infos) => {
                w.write_len(infos.len());
                for i in infos {
                    w.write_str(&i.scheme);
                    w.write_str(&i.user);
                }
            }
            Response::Event(e) => e.encode(w),
        }
    }

    /// Decodes the body of a successful (err 0) reply to a request of type `op`.
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<Response, DecodeError> {
        let Some(code) = OpCode::from_code(op) else {
            return Ok(Response::Empty);
        };
        Ok(match code {
            OpCode::Create | OpCode::Sync => Response::Path(r.read_string("path")?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::PathStat(r.read_string("path")?, Stat::decode(r)?)
            }
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(Stat::decode(r)?),
            OpCode::GetData => Response::Data(r.read_buffer("data")?, Stat::decode(r)?),
            OpCode::GetAcl => Response::Acl(Acl::decode_vec(r)?, Stat::decode(r)?),
            OpCode::GetChildren | OpCode::GetEphemerals => Response::Children(r.read_string_vec("children")?),
            OpCode::GetChildren2 => Response::Children2(r.read_string_vec("children")?, Stat::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(MultiResult::decode_all(r)?),
            OpCode::GetAllChildrenNumber | OpCode::AddWatch => Response::Int(r.read_int("int")?),
            OpCode::WhoAmI => {
                let n = r.read_vec_len("clientInfo vector", 8)?.unwrap_or(0);
                let mut infos = Vec::with_capacity(n);
                for _ in 0..n {
                    infos.push(ClientInfo {
                        scheme: r.read_string("clientInfo.authScheme")?,
                        user: r.read_string("clientInfo.user")?,
                    });
                }
                Response::WhoAmI(infos)
            }
            OpCode::Notification => Response::Event(WatcherEvent::decode(r)?),
            _ => Response::Empty,
        })
    }
}

/// Encodes a complete reply frame, length prefix included.
pub fn encode_reply(header: ReplyHeader, body: &Response) -> Vec<u8> {
    let mut w = Writer::frame();
    header.encode(&mut w);
    if header.err == 0 {
        body.encode(&mut w);
    }
    w.finish_frame()
}

/// Encodes a complete notification frame: `{−1, −1, 0}` + `WatcherEvent`
/// (ZooKeeper 3.8 puts zxid −1 in a notification's reply header).
pub fn encode_notification(event: &WatcherEvent) -> Vec<u8> {
    encode_reply(ReplyHeader { xid: xid::NOTIFICATION, zxid: -1, err: 0 }, &Response::Event(event.clone()))
}
