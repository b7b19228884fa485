//! Raw-protocol behaviour over a TcpStream: four-letter words, maxClientCnxns,
//! malformed and oversized frames, session re-attach rules, path validation,
//! Unimplemented ops, check/checkWatches/removeWatches/setWatches and the zxid
//! spent by failed writes.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::proto::{
    event_type, Acl, ConnectRequest, CreateOp, CreateRequest, PathVersion, PathWatch, Request, Response,
    SetDataRequest, SetWatchesRequest, WatchKindRequest, WatcherEvent,
};
use super::super::ZkConfig;
use super::{decode_reply, start, test_config, RawConn};

async fn four_letter(addr: std::net::SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
    s.write_all(word.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap_or_else(|_| panic!("{word}: no answer"))
        .unwrap_or_else(|e| panic!("{word}: {e}"));
    out
}

fn create(path: &str, flags: i32) -> Request {
    Request::Create(CreateRequest {
        op: CreateOp::Create,
        path: path.into(),
        data: Some(b"d".to_vec()),
        acl: vec![Acl::open_unsafe()],
        flags,
        ttl: 0,
    })
}

fn watch(path: &str, watch: bool) -> PathWatch {
    PathWatch { path: path.into(), watch }
}

async fn expect_event(conn: &mut RawConn, kind: i32, path: &str) {
    let (header, body) = conn.recv_reply(0).await;
    assert_eq!(header.xid, -1, "expected a notification, got {header:?} {body:?}");
    assert_eq!(header.zxid, -1);
    assert_eq!(body, Response::Event(WatcherEvent { event_type: kind, state: 3, path: path.into() }));
}

#[tokio::test]
async fn four_letter_words() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let addr = server.local_addr();
    let mut session = RawConn::open(addr).await;
    session.handshake(6000).await;

    assert_eq!(four_letter(addr, "ruok").await, "imok");
    assert_eq!(four_letter(addr, "isro").await, "rw");
    let srvr = four_letter(addr, "srvr").await;
    for needle in ["Zookeeper version: 3.8.0", "Latency min/avg/max:", "Mode: standalone", "Node count: 4", "Zxid: 0x1"]
    {
        assert!(srvr.contains(needle), "srvr lacks {needle:?}:\n{srvr}");
    }
    let stat = four_letter(addr, "stat").await;
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    let mntr = four_letter(addr, "mntr").await;
    for needle in ["zk_server_state\tstandalone\n", "zk_znode_count\t4\n", "zk_num_alive_connections\t1\n"] {
        assert!(mntr.contains(needle), "mntr lacks {needle:?}:\n{mntr}");
    }
    let conf = four_letter(addr, "conf").await;
    assert!(conf.contains("tickTime=2000\n") && conf.contains("maxSessionTimeout=40000\n"), "{conf}");
    assert!(four_letter(addr, "dump").await.contains("Global Sessions(1):"));
    assert!(four_letter(addr, "wchs").await.contains("Total watches:0"));
    for word in ["envi", "cons", "dirs", "crst", "srst"] {
        assert!(!four_letter(addr, word).await.is_empty(), "{word}");
    }
    // The session is unaffected by the side traffic.
    let (header, _) = session.call(-2, &Request::Ping).await;
    assert_eq!((header.xid, header.err), (-2, 0));
    drop(session);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = ZkConfig { four_letter_words: Some(BTreeSet::from(["ruok".to_string()])), ..test_config(dir.path()) };
    let server = start(config).await;
    assert_eq!(four_letter(server.local_addr(), "ruok").await, "imok");
    assert_eq!(
        four_letter(server.local_addr(), "srvr").await,
        "srvr is not executed because it is not in the whitelist.\n"
    );
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn max_client_cnxns_is_enforced_per_ip() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(ZkConfig { max_client_cnxns: 2, ..test_config(dir.path()) }).await;
    let addr = server.local_addr();
    let mut a = RawConn::open(addr).await;
    a.handshake(6000).await;
    let mut b = RawConn::open(addr).await;
    b.handshake(6000).await;
    let mut c = RawConn::open(addr).await;
    let mut w = super::super::jute::Writer::new();
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 6000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: None,
    }
    .encode(&mut w);
    let _ = c.stream.write_all(&[&(w.len() as u32).to_be_bytes()[..], w.as_slice()].concat()).await;
    assert!(c.is_closed().await, "a third connection from the same IP is refused");
    drop(a);
    let mut admitted = false;
    for _ in 0..100 {
        let mut d = RawConn::open(addr).await;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 6000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: None,
        };
        if d.connect_with(&req).await.is_some() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "a slot frees up when a connection closes");
    drop(b);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let addr = server.local_addr();
    let mut good = RawConn::open(addr).await;
    good.handshake(6000).await;

    let mut bad = RawConn::open(addr).await;
    bad.handshake(6000).await;
    // A create whose path length runs past the end of the frame.
    bad.send(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 50, b'/', b'x']).await;
    assert!(bad.is_closed().await);

    let mut huge = RawConn::open(addr).await;
    huge.handshake(6000).await;
    huge.stream.write_all(&(2u32 << 20).to_be_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(huge.is_closed().await, "frames above jute.maxbuffer are refused");

    let mut negative = RawConn::open(addr).await;
    negative.stream.write_all(&[0xff, 0xff, 0xff, 0xf0]).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(negative.is_closed().await);

    let mut short_connect = RawConn::open(addr).await;
    short_connect.send(&[0, 0, 0]).await;
    assert!(short_connect.is_closed().await);

    let (header, _) = good.call(-2, &Request::Ping).await;
    assert_eq!((header.xid, header.err), (-2, 0));
    let (header, _) = good.call(1, &create("/still-fine", 0)).await;
    assert_eq!(header.err, 0);
    drop(good);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn session_reattach_rules() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let addr = server.local_addr();
    let mut first = RawConn::open(addr).await;
    let session = first.handshake(6000).await;
    assert_ne!(session.session_id, 0);
    assert_eq!((session.timeout_ms, session.passwd.len(), session.read_only), (6000, 16, Some(false)));

    let mut req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 1,
        timeout_ms: 6000,
        session_id: session.session_id,
        passwd: vec![7; 16],
        read_only: None,
    };
    let mut wrong = RawConn::open(addr).await;
    let refused = wrong.connect_with(&req).await.unwrap_or_else(|| panic!("expected a refusal response"));
    assert_eq!((refused.session_id, refused.timeout_ms, refused.passwd.clone()), (0, 0, vec![0; 16]));
    assert_eq!(refused.read_only, None, "readOnly only echoed when the request had it");
    assert!(wrong.is_closed().await);

    let mut future = RawConn::open(addr).await;
    let too_new = ConnectRequest { last_zxid_seen: 1 << 40, session_id: 0, ..req.clone() };
    assert!(future.connect_with(&too_new).await.is_none(), "a client ahead of the server is refused");

    req.passwd = session.passwd.clone();
    let mut second = RawConn::open(addr).await;
    let resumed = second.connect_with(&req).await.unwrap_or_else(|| panic!("re-attach refused"));
    assert_eq!((resumed.session_id, resumed.passwd.clone()), (session.session_id, session.passwd));
    assert!(first.is_closed().await, "the session's previous connection is closed");
    let (header, _) = second.call(5, &create("/mine", 1)).await;
    assert_eq!(header.err, 0);
    let (_, body) = second.call(6, &Request::Exists(watch("/mine", false))).await;
    assert!(matches!(body, Response::Stat(s) if s.ephemeral_owner == session.session_id));

    let unknown = ConnectRequest { session_id: 12345, ..req };
    let mut stranger = RawConn::open(addr).await;
    let refused = stranger.connect_with(&unknown).await.unwrap_or_else(|| panic!("expected a refusal"));
    assert_eq!(refused.session_id, 0);
    drop(second);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn op_edge_cases() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let mut c = RawConn::open(server.local_addr()).await;
    c.handshake(6000).await;
    let mut other = RawConn::open(server.local_addr()).await;
    other.handshake(6000).await;

    // Unsupported and unknown ops answer Unimplemented with the request's xid.
    for op in [16, 20, 999, 102] {
        let (header, _) = c.call(40 + op, &Request::Other { op, body: vec![0, 0, 0, 0] }).await;
        assert_eq!((header.xid, header.err), (40 + op, -6), "op {op}");
    }
    // Path validation.
    for path in ["no-slash", "/a/", "/a//b", "/.", "/a/..", ""] {
        let (header, _) = c.call(2, &create(path, 0)).await;
        assert_eq!(header.err, -8, "create {path:?}");
        let (header, _) = c.call(3, &Request::GetData(watch(path, false))).await;
        assert_eq!(header.err, -8, "getData {path:?}");
    }
    for path in ["/", "/zookeeper", "/zookeeper/config"] {
        let (header, _) = c.call(4, &Request::Delete(PathVersion { path: path.into(), version: -1 })).await;
        assert_eq!(header.err, -8, "delete {path}");
    }
    let no_acl = Request::Create(CreateRequest {
        op: CreateOp::Create2,
        path: "/x".into(),
        data: None,
        acl: vec![],
        flags: 0,
        ttl: 0,
    });
    assert_eq!(c.call(5, &no_acl).await.0.err, -114, "an empty ACL is InvalidACL");
    let bad_flags = Request::Create(CreateRequest {
        op: CreateOp::Create,
        path: "/x".into(),
        data: None,
        acl: vec![Acl::open_unsafe()],
        flags: 9,
        ttl: 0,
    });
    assert_eq!(c.call(6, &bad_flags).await.0.err, -8);
    let ttl_without_op = Request::Create(CreateRequest {
        op: CreateOp::Create2,
        path: "/x".into(),
        data: None,
        acl: vec![Acl::open_unsafe()],
        flags: 5,
        ttl: 0,
    });
    assert_eq!(c.call(7, &ttl_without_op).await.0.err, -8);

    // Failed writes spend a zxid; reads do not.
    let (h1, _) = c.call(8, &create("/n", 0)).await;
    let (h2, _) = c.call(9, &create("/n", 0)).await;
    let (h3, _) = c.call(10, &Request::Exists(watch("/n", false))).await;
    assert_eq!((h2.err, h2.zxid, h3.zxid), (-110, h1.zxid + 1, h1.zxid + 1));

    // A null data buffer is stored and returned as null.
    let null_data = Request::Create(CreateRequest {
        op: CreateOp::Create,
        path: "/null".into(),
        data: None,
        acl: vec![Acl::open_unsafe()],
        flags: 0,
        ttl: 0,
    });
    assert_eq!(c.call(11, &null_data).await.0.err, 0);
    let (_, body) = c.call(12, &Request::GetData(watch("/null", false))).await;
    assert!(matches!(body, Response::Data(None, s) if s.data_length == 0), "{body:?}");

    // Standalone check.
    let check = |version| Request::Check(PathVersion { path: "/n".into(), version });
    assert_eq!(c.call(13, &check(0)).await.0.err, 0);
    assert_eq!(c.call(14, &check(3)).await.0.err, -103);
    let missing = Request::Check(PathVersion { path: "/nothing".into(), version: -1 });
    assert_eq!(c.call(15, &missing).await.0.err, -101);

    // checkWatches / removeWatches.
    let kind = |kind| WatchKindRequest { path: "/n".into(), kind };
    assert_eq!(c.call(16, &Request::CheckWatches(kind(2))).await.0.err, -121);
    c.call(17, &Request::GetData(watch("/n", true))).await;
    assert_eq!(c.call(18, &Request::CheckWatches(kind(2))).await.0.err, 0);
    assert_eq!(c.call(19, &Request::CheckWatches(kind(1))).await.0.err, -121);
    assert_eq!(c.call(20, &Request::RemoveWatches(kind(2))).await.0.err, 0);
    assert_eq!(c.call(21, &Request::RemoveWatches(kind(3))).await.0.err, -121);
    assert_eq!(c.call(22, &Request::RemoveWatches(kind(7))).await.0.err, -8);

    // addWatch replies with an ErrorResponse body; bad modes are BadArguments.
    let (header, body) = c.call(23, &Request::AddWatch { path: "/n".into(), mode: 1 }).await;
    assert_eq!((header.err, body), (0, Response::Int(0)));
    assert_eq!(c.call(24, &Request::AddWatch { path: "/n".into(), mode: 5 }).await.0.err, -8);

    // getEphemerals filters by prefix.
    c.send_request(25, &create("/n/e1", 1)).await;
    c.send_request(26, &create("/e2", 1)).await;
    // The recursive watch on /n fires for /n/e1.
    expect_event(&mut c, event_type::NODE_CREATED, "/n/e1").await;
    let (_, body) = c.recv_reply(1).await;
    assert!(matches!(body, Response::Path(p) if p == "/n/e1"));
    let (_, body) = c.recv_reply(1).await;
    assert!(matches!(body, Response::Path(p) if p == "/e2"));
    let (_, body) = c.call(27, &Request::GetEphemerals("/n".into())).await;
    assert_eq!(body, Response::Children(vec!["/n/e1".into()]));
    let (_, body) = c.call(28, &Request::GetEphemerals("/".into())).await;
    assert_eq!(body, Response::Children(vec!["/e2".into(), "/n/e1".into()]));
    let (_, body) = c.call(29, &Request::GetAllChildrenNumber("/".into())).await;
    assert_eq!(body, Response::Int(7), "zookeeper, quota, config, n, n/e1, null, e2");

    // setWatches: what changed since relativeZxid fires at once, before the reply.
    let (h, _) = other.call(30, &Request::SetData(SetDataRequest { path: "/n".into(), data: None, version: -1 })).await;
    expect_event(&mut c, event_type::NODE_DATA_CHANGED, "/n").await;
    let set = SetWatchesRequest {
        relative_zxid: h.zxid - 1,
        data: vec!["/n".into(), "/gone".into()],
        exist: vec!["/e2".into(), "/later".into()],
        child: vec!["/n".into()],
        persistent: None,
        persistent_recursive: None,
    };
    other.send_request(-8, &Request::SetWatches(set)).await;
    expect_event(&mut other, event_type::NODE_DATA_CHANGED, "/n").await;
    expect_event(&mut other, event_type::NODE_DELETED, "/gone").await;
    expect_event(&mut other, event_type::NODE_CREATED, "/e2").await;
    let (header, _) = other.recv_reply(101).await;
    assert_eq!((header.xid, header.err), (-8, 0));
    // The ones that had not changed are registered: /later (exist), /n children.
    c.call(31, &create("/later", 0)).await;
    expect_event(&mut other, event_type::NODE_CREATED, "/later").await;
    c.send_request(32, &create("/n/child", 0)).await;
    expect_event(&mut c, event_type::NODE_CREATED, "/n/child").await;
    assert_eq!(c.recv_reply(1).await.0.xid, 32);
    expect_event(&mut other, event_type::NODE_CHILDREN_CHANGED, "/n").await;

    // closeSession: reply, then the server closes; the ephemerals are gone.
    c.send_request(33, &Request::CloseSession).await;
    expect_event(&mut c, event_type::NODE_DELETED, "/n/e1").await;
    let (header, _) = c.recv_reply(-11).await;
    assert_eq!((header.xid, header.err), (33, 0));
    assert!(c.is_closed().await);
    let (_, body) = other.call(34, &Request::Exists(watch("/e2", false))).await;
    assert_eq!(body, Response::Empty);
    drop(other);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn config_file_and_run_lifecycle() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("zookeeper.properties");
    let text = format!(
        "dataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\nsomething.odd=1\n",
        dir.path().join("data").display()
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let (config, warnings) = ZkConfig::from_properties_file(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(warnings, vec!["unknown configuration key something.odd ignored".to_string()]);
    assert_eq!(config.client_port_address.to_string(), "127.0.0.1:0");
    assert!(ZkConfig::from_properties_file(&dir.path().join("missing.properties")).is_err());

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(super::super::run(config, async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "run() should stop cleanly: {result:?}");
    assert!(dir.path().join("data/version-2").is_dir());
}

#[tokio::test]
async fn notifications_reach_every_watcher_before_the_reply() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let mut writer = RawConn::open(server.local_addr()).await;
    writer.handshake(6000).await;
    let mut watcher = RawConn::open(server.local_addr()).await;
    watcher.handshake(6000).await;
    writer.call(1, &Request::Exists(watch("/x", true))).await;
    watcher.call(1, &Request::Exists(watch("/x", true))).await;
    writer.send_request(2, &create("/x", 0)).await;
    expect_event(&mut writer, event_type::NODE_CREATED, "/x").await;
    let (header, _) = writer.recv_reply(1).await;
    assert_eq!((header.xid, header.err), (2, 0));
    expect_event(&mut watcher, event_type::NODE_CREATED, "/x").await;
    // One-shot: a second change does not notify; the next frame is the ping reply.
    writer.call(3, &Request::Delete(PathVersion { path: "/x".into(), version: -1 })).await;
    let (header, _) = watcher.call(-2, &Request::Ping).await;
    assert_eq!(header.xid, -2);
    let raw = decode_reply(&[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 11);
    assert_eq!(raw.0.xid, -2);
    drop((writer, watcher));
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}
