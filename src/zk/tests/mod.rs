//! Tests that need fixtures, a running server or a real client. They travel with
//! the module. Fixtures are read from `$GREGOR_FIXTURES`, else
//! `$CARGO_MANIFEST_DIR/../shared/fixtures`, else `/work/shared/fixtures`.

mod client;
mod codec;
mod disk_full;
mod durability;
mod network;
mod replay;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::jute::{frame_length, Reader, Writer};
use super::proto::{encode_request, ConnectRequest, ConnectResponse, ReplyHeader, Request, Response};
use super::{ZkConfig, ZkServer};

/// How long a test waits for any single reply before failing.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn fixtures_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("GREGOR_FIXTURES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.join("zookeeper").is_dir() {
            return c;
        }
    }
    panic!("ZooKeeper fixtures not found: set GREGOR_FIXTURES to the shared fixtures directory");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    ClientToServer,
    ServerToClient,
}

/// One recorded frame (without its length prefix).
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub name: String,
    pub direction: Direction,
    pub op: String,
    pub bytes: Vec<u8>,
}

/// A recorded session in wire order (`<seq>_<c2s|s2c>_<op>.bin`).
pub(crate) fn load_session(client: &str) -> Vec<Frame> {
    let dir = fixtures_dir().join("zookeeper").join(client);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .filter(|n| n.ends_with(".bin"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no frames in {}", dir.display());
    names
        .into_iter()
        .map(|name| {
            let parts: Vec<&str> = name.trim_end_matches(".bin").splitn(3, '_').collect();
            assert_eq!(parts.len(), 3, "unexpected fixture name {name}");
            let direction = match parts[1] {
                "c2s" => Direction::ClientToServer,
                "s2c" => Direction::ServerToClient,
                other => panic!("unexpected direction {other} in {name}"),
            };
            let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            Frame { op: parts[2].to_string(), name, direction, bytes }
        })
        .collect()
}

/// A config for tests: loopback, port 0, no per-IP limit.
pub(crate) fn test_config(dir: &Path) -> ZkConfig {
    ZkConfig { client_port_address: SocketAddr::from(([127, 0, 0, 1], 0)), max_client_cnxns: 0, ..ZkConfig::new(dir) }
}

pub(crate) async fn start(config: ZkConfig) -> ZkServer {
    ZkServer::start(config).await.unwrap_or_else(|e| panic!("server failed to start: {e}"))
}

/// A `zookeeper-client` session (6 s timeout) with `connector`'s other settings.
pub(crate) async fn connect_with(connector: zookeeper_client::Connector, addr: SocketAddr) -> zookeeper_client::Client {
    connector
        .with_session_timeout(Duration::from_secs(6))
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// A `zookeeper-client` session with a 6 s timeout.
pub(crate) async fn connect(addr: SocketAddr) -> zookeeper_client::Client {
    connect_with(zookeeper_client::Client::connector(), addr).await
}

/// Create options for a persistent node anyone may change.
pub(crate) fn persistent() -> zookeeper_client::CreateOptions<'static> {
    zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all())
}

/// A raw protocol connection for byte-level tests.
pub(crate) struct RawConn {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl RawConn {
    pub async fn open(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        RawConn { stream, buf: BytesMut::new() }
    }

    /// Sends one frame (adds the length prefix).
    pub async fn send(&mut self, payload: &[u8]) {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.stream.write_all(&bytes).await.unwrap_or_else(|e| panic!("write: {e}"));
    }

    pub async fn send_request(&mut self, xid: i32, request: &Request) {
        self.send(&encode_request(xid, request)).await;
    }

    /// The next frame's payload, or `None` once the server closed the connection.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(len) = frame_length(&self.buf, usize::MAX).unwrap_or_else(|e| panic!("bad frame: {e}")) {
                self.buf.advance(4);
                return Some(self.buf.split_to(len).to_vec());
            }
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .unwrap_or_else(|_| panic!("no reply within {REPLY_TIMEOUT:?}"));
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Whether the server closes the connection (within the reply timeout).
    pub async fn is_closed(&mut self) -> bool {
        self.recv().await.is_none()
    }

    /// Connect handshake for a new session.
    pub async fn handshake(&mut self, timeout_ms: i32) -> ConnectResponse {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        self.connect_with(&req).await.unwrap_or_else(|| panic!("connection closed during handshake"))
    }

    pub async fn connect_with(&mut self, req: &ConnectRequest) -> Option<ConnectResponse> {
        let mut w = Writer::new();
        req.encode(&mut w);
        self.send(w.as_slice()).await;
        let payload = self.recv().await?;
        Some(ConnectResponse::decode(&mut Reader::new(&payload)).unwrap_or_else(|e| panic!("connect response: {e}")))
    }

    /// Sends a request and returns the next frame as (header, body decoded for `op`).
    pub async fn call(&mut self, xid: i32, request: &Request) -> (ReplyHeader, Response) {
        let op = request.op_code();
        self.send_request(xid, request).await;
        self.recv_reply(op).await
    }

    pub async fn recv_reply(&mut self, op: i32) -> (ReplyHeader, Response) {
        let payload = self.recv().await.unwrap_or_else(|| panic!("connection closed"));
        decode_reply(&payload, op)
    }
}

/// Decodes a reply payload given the op of its request (notifications by xid −1).
pub(crate) fn decode_reply(payload: &[u8], op: i32) -> (ReplyHeader, Response) {
    let mut r = Reader::new(payload);
    let header = ReplyHeader::decode(&mut r).unwrap_or_else(|e| panic!("reply header: {e}"));
    let op = if header.xid == super::proto::xid::NOTIFICATION { 0 } else { op };
    let body = if header.err != 0 {
        Response::Empty
    } else {
        Response::decode(op, &mut r).unwrap_or_else(|e| panic!("reply body for op {op}: {e}"))
    };
    assert!(r.is_empty(), "{} trailing bytes in reply to op {op}", r.remaining());
    (header, body)
}
