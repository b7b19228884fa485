//! A full disk under the transaction log (simulated with [`WriteFaults`]): writes
//! are refused with MarshallingError and leave no trace, reads, pings and sessions
//! keep being served, sessions do not expire meanwhile, and once the disk takes
//! writes again the server carries on by itself — and a restart from the data
//! directory recovers exactly what was acknowledged.

use std::net::SocketAddr;
use std::time::Duration;

use zkc::{Acls, Client, CreateMode, Error};
use zookeeper_client as zkc;

use super::super::proto::{
    encode_request, Acl, ConnectRequest, CreateOp, CreateRequest, ErrorCode, PathWatch, Request,
};
use super::super::write_faults::WriteFaults;
use super::super::{ZkConfig, ZkServer};
use super::{connect, persistent, start, test_config, RawConn};

/// Generous: the machine running the tests may be loaded.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);

async fn start_faulty(config: ZkConfig, faults: &WriteFaults) -> ZkServer {
    ZkServer::start_with_faults(config, faults.clone()).await.unwrap_or_else(|e| panic!("server failed to start: {e}"))
}

async fn data(c: &Client, path: &str) -> Option<Vec<u8>> {
    match c.get_data(path).await {
        Ok((data, _)) => Some(data),
        Err(Error::NoNode) => None,
        Err(e) => panic!("get {path}: {e}"),
    }
}

/// Retries a create until the server accepts writes again (it retries the log
/// once a second by itself).
async fn create_when_writable(c: &Client, path: &str, value: &[u8]) -> i64 {
    let deadline = tokio::time::Instant::now() + RECOVERY_TIMEOUT;
    loop {
        match c.create(path, value, &persistent()).await {
            Ok((stat, _)) => return stat.czxid,
            Err(Error::MarshallingError) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create {path} after the disk was freed: {e}"),
        }
    }
}

#[tokio::test]
async fn full_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let faults = WriteFaults::new();
    let config = ZkConfig { tick_time_ms: 100, ..test_config(dir.path()) };
    let server = start_faulty(config.clone(), &faults).await;
    let addr = server.local_addr();
    let c = connect(addr).await;
    c.create("/kept", b"before", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    // A session whose client went away: it would expire during the outage.
    let idle = Client::connector()
        .with_detached()
        .with_session_timeout(Duration::from_millis(1000))
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    idle.create("/idle-ephemeral", b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(idle);

    faults.set_failing(true);
    // The first write hits the failing fsync (its half-written record is on disk);
    // the later ones are refused straight away. None of them may show.
    assert_eq!(c.create("/refused", b"x", &persistent()).await.err(), Some(Error::MarshallingError));
    assert_eq!(c.set_data("/kept", b"changed", None).await.err(), Some(Error::MarshallingError));
    assert_eq!(c.delete("/kept", None).await.err(), Some(Error::MarshallingError));
    assert_eq!(c.create("/refused2", b"x", &persistent()).await.err(), Some(Error::MarshallingError));
    assert_eq!(data(&c, "/refused").await, None, "a refused create must not be visible");
    assert_eq!(data(&c, "/kept").await.as_deref(), Some(&b"before"[..]), "a refused setData must not be visible");
    let mut children = c.list_children("/").await.unwrap_or_else(|e| panic!("{e}"));
    children.sort();
    assert_eq!(children, ["idle-ephemeral", "kept", "zookeeper"]);

    // Sessions are not expired while writes are impossible: the idle session's
    // timeout (1 s) passes several times over, its ephemeral stays.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(data(&c, "/idle-ephemeral").await.is_some(), "no session may expire while the log is failing");
    assert_eq!(data(&c, "/kept").await.as_deref(), Some(&b"before"[..]));

    faults.set_failing(false);
    let after_zxid = create_when_writable(&c, "/after", b"after").await;
    let stat = c.set_data("/kept", b"updated", Some(0)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stat.version, 1, "the refused setData did not bump the version");
    assert!(stat.mzxid > after_zxid);
    // Once writes work again, the idle session expires as usual.
    let deadline = tokio::time::Instant::now() + RECOVERY_TIMEOUT;
    while data(&c, "/idle-ephemeral").await.is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the idle session never expired after the recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A restart from the data directory (without a final snapshot) recovers
    // everything acknowledged and nothing that was refused.
    drop(c);
    server.kill().await;
    let server = start(config).await;
    let c = connect(server.local_addr()).await;
    assert_eq!(data(&c, "/kept").await.as_deref(), Some(&b"updated"[..]));
    assert_eq!(data(&c, "/after").await.as_deref(), Some(&b"after"[..]));
    assert_eq!(data(&c, "/refused").await, None);
    assert_eq!(data(&c, "/refused2").await, None);
    let (stat, _) = c.create("/later", b"", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stat.czxid > after_zxid, "zxids keep growing after the restart");
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn killed_during_the_outage_restarts_with_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let faults = WriteFaults::new();
    let config = test_config(dir.path());
    let server = start_faulty(config.clone(), &faults).await;
    let c = connect(server.local_addr()).await;
    for i in 0..5 {
        c.create(&format!("/n{i}"), b"v", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    faults.set_failing(true);
    assert_eq!(c.create("/torn", b"x", &persistent()).await.err(), Some(Error::MarshallingError));
    assert_eq!(c.set_data("/n0", b"x", None).await.err(), Some(Error::MarshallingError));
    // Graceful shutdown with an unwritable disk: no snapshot, but no hang either.
    drop(c);
    let _ = server.shutdown().await;

    // The log ends in a half-written record; recovery cuts it off.
    let server = start(config).await;
    let c = connect(server.local_addr()).await;
    let mut children = c.list_children("/").await.unwrap_or_else(|e| panic!("{e}"));
    children.sort();
    assert_eq!(children, ["n0", "n1", "n2", "n3", "n4", "zookeeper"]);
    assert_eq!(data(&c, "/n0").await.as_deref(), Some(&b"v"[..]));
    c.create("/torn", b"now", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

/// Pipelined requests in the batch whose fsync fails: the write is answered with
/// MarshallingError, and no later reply on the connection may show its effect
/// (a read queued behind it is either answered from the undone state or the
/// connection is closed). Pings and reads keep working, and the session can
/// re-attach.
#[tokio::test]
async fn a_read_behind_a_failed_write_never_sees_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let faults = WriteFaults::new();
    let server = start_faulty(test_config(dir.path()), &faults).await;
    let addr = server.local_addr();
    let mut raw = RawConn::open(addr).await;
    let session = raw.handshake(10_000).await;
    faults.set_failing(true);
    let create = Request::Create(CreateRequest {
        op: CreateOp::Create,
        path: "/ghost".into(),
        data: Some(b"boo".to_vec()),
        acl: vec![Acl::open_unsafe()],
        flags: 0,
        ttl: 0,
    });
    let read = Request::GetData(PathWatch { path: "/ghost".into(), watch: false });
    let mut bytes = Vec::new();
    for (xid, req) in [(1, &create), (2, &read)] {
        let payload = encode_request(xid, req);
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&payload);
    }
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &bytes).await.unwrap_or_else(|e| panic!("{e}"));
    let (header, _) = raw.recv_reply(create.op_code()).await;
    assert_eq!((header.xid, header.err), (1, ErrorCode::MarshallingError.code()));
    // In the same batch as the create the read is never answered (the connection
    // closes); in a later one it is answered from the undone state.
    if let Some(payload) = raw.recv().await {
        let (header, body) = super::decode_reply(&payload, read.op_code());
        assert_eq!((header.xid, header.err), (2, ErrorCode::NoNode.code()), "the read saw {body:?}");
    } else {
        // The session survives the closed connection: re-attaching needs no write.
        raw = RawConn::open(addr).await;
        let reattach = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: session.session_id,
            passwd: session.passwd.clone(),
            read_only: Some(false),
        };
        let resumed = raw.connect_with(&reattach).await.unwrap_or_else(|| panic!("re-attach refused"));
        assert_eq!(resumed.session_id, session.session_id);
    }
    // Reads and pings are served while the disk is still full.
    let (header, _) = raw.call(3, &Request::Ping).await;
    assert_eq!(header.err, 0);
    let (header, _) = raw.call(4, &read).await;
    assert_eq!(header.err, ErrorCode::NoNode.code());
    faults.set_failing(false);
    let c = connect_retrying(addr).await;
    create_when_writable(&c, "/ghost", b"real").await;
    assert_eq!(data(&c, "/ghost").await.as_deref(), Some(&b"real"[..]));
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

async fn connect_retrying(addr: SocketAddr) -> Client {
    let deadline = tokio::time::Instant::now() + RECOVERY_TIMEOUT;
    loop {
        match Client::connector().with_session_timeout(Duration::from_secs(6)).connect(&addr.to_string()).await {
            Ok(c) => return c,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "retrying connect");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    }
}
