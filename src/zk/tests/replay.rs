//! Replays the recorded client sessions against our server over one TCP connection
//! and compares every server frame with the one real ZooKeeper 3.8 sent, field by
//! field: xids, error codes, paths, data, versions, cversions, child counts, ACLs,
//! sequence suffixes, multi results and notifications exactly; zxids, times and
//! session ids by relation (equal where the real server's were equal, ordered the
//! same way), since they depend on server state.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::super::jute::Reader;
use super::super::proto::{
    decode_request, Acl, ConnectResponse, CreateOp, CreateRequest, MultiResult, Request, Response, Stat,
};
use super::{decode_reply, load_session, start, test_config, Direction, RawConn};

#[derive(Default)]
struct Relations {
    zxid: BTreeMap<i64, i64>,
    time: HashMap<i64, i64>,
    session: HashMap<i64, i64>,
    session_back: HashMap<i64, i64>,
}

impl Relations {
    fn zxid(&mut self, rec: i64, ours: i64, ctx: &str) {
        if rec <= 0 || ours <= 0 {
            assert_eq!(ours, rec, "{ctx}: zxid {rec} is literal");
            return;
        }
        if let Some(&o) = self.zxid.get(&rec) {
            assert_eq!(ours, o, "{ctx}: recorded zxid {rec:#x} was {o:#x} here before");
            return;
        }
        if let Some((r, &lo)) = self.zxid.range(..rec).next_back() {
            assert!(lo < ours, "{ctx}: zxid order differs ({r:#x}->{lo:#x} but {rec:#x}->{ours:#x})");
        }
        if let Some((r, &hi)) = self.zxid.range(rec + 1..).next() {
            assert!(hi > ours, "{ctx}: zxid order differs ({r:#x}->{hi:#x} but {rec:#x}->{ours:#x})");
        }
        self.zxid.insert(rec, ours);
    }

    fn time(&mut self, rec: i64, ours: i64, ctx: &str) {
        if rec == 0 || ours == 0 {
            assert_eq!(ours, rec, "{ctx}: time 0 is literal");
            return;
        }
        let o = *self.time.entry(rec).or_insert(ours);
        assert_eq!(ours, o, "{ctx}: times equal in the recording differ here");
    }

    fn session(&mut self, rec: i64, ours: i64, ctx: &str) {
        if rec == 0 || ours == 0 {
            assert_eq!(ours, rec, "{ctx}: session 0 is literal");
            return;
        }
        assert_eq!(*self.session.entry(rec).or_insert(ours), ours, "{ctx}: session id relation");
        assert_eq!(*self.session_back.entry(ours).or_insert(rec), rec, "{ctx}: session id relation");
    }

    fn stat(&mut self, rec: &Stat, ours: &Stat, ctx: &str) {
        self.zxid(rec.czxid, ours.czxid, &format!("{ctx} czxid"));
        self.zxid(rec.mzxid, ours.mzxid, &format!("{ctx} mzxid"));
        self.zxid(rec.pzxid, ours.pzxid, &format!("{ctx} pzxid"));
        self.time(rec.ctime, ours.ctime, &format!("{ctx} ctime"));
        self.time(rec.mtime, ours.mtime, &format!("{ctx} mtime"));
        self.session(rec.ephemeral_owner, ours.ephemeral_owner, &format!("{ctx} ephemeralOwner"));
        let exact = |s: &Stat| (s.version, s.cversion, s.aversion, s.data_length, s.num_children);
        assert_eq!(exact(ours), exact(rec), "{ctx}: (version, cversion, aversion, dataLength, numChildren) differ");
    }

    fn response(&mut self, rec: &Response, ours: &Response, ctx: &str) {
        let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        match (rec, ours) {
            (Response::Empty, Response::Empty) => {}
            (Response::Path(a), Response::Path(b)) => assert_eq!(b, a, "{ctx}: path"),
            (Response::PathStat(a, s), Response::PathStat(b, t)) => {
                assert_eq!(b, a, "{ctx}: path");
                self.stat(s, t, ctx);
            }
            (Response::Stat(s), Response::Stat(t)) => self.stat(s, t, ctx),
            (Response::Data(a, s), Response::Data(b, t)) => {
                assert_eq!(b, a, "{ctx}: data");
                self.stat(s, t, ctx);
            }
            (Response::Acl(a, s), Response::Acl(b, t)) => {
                assert_eq!(b, a, "{ctx}: acl");
                self.stat(s, t, ctx);
            }
            (Response::Children(a), Response::Children(b)) => {
                assert_eq!(sorted(b), sorted(a), "{ctx}: children")
            }
            (Response::Children2(a, s), Response::Children2(b, t)) => {
                assert_eq!(sorted(b), sorted(a), "{ctx}: children");
                self.stat(s, t, ctx);
            }
            (Response::Int(a), Response::Int(b)) => assert_eq!(b, a, "{ctx}: int"),
            (Response::WhoAmI(a), Response::WhoAmI(b)) => assert_eq!(b, a, "{ctx}: whoAmI"),
            (Response::Event(a), Response::Event(b)) => assert_eq!(b, a, "{ctx}: watcher event"),
            (Response::Multi(a), Response::Multi(b)) => {
                assert_eq!(b.len(), a.len(), "{ctx}: number of multi results");
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let ctx = format!("{ctx} result {i}");
                    match (x, y) {
                        (MultiResult::SetData { stat: s }, MultiResult::SetData { stat: t }) => self.stat(s, t, &ctx),
                        (MultiResult::Create2 { path: p, stat: s }, MultiResult::Create2 { path: q, stat: t }) => {
                            assert_eq!(q, p, "{ctx}");
                            self.stat(s, t, &ctx);
                        }
                        (MultiResult::GetData { data: d, stat: s }, MultiResult::GetData { data: e, stat: t }) => {
                            assert_eq!(e, d, "{ctx}: data");
                            self.stat(s, t, &ctx);
                        }
                        (MultiResult::GetChildren { children: c }, MultiResult::GetChildren { children: d }) => {
                            assert_eq!(sorted(d), sorted(c), "{ctx}: children");
                        }
                        (x, y) => assert_eq!(y, x, "{ctx}"),
                    }
                }
            }
            (a, b) => panic!("{ctx}: expected {a:?}, got {b:?}"),
        }
    }
}

fn create_fixtures_root() -> Request {
    Request::Create(CreateRequest {
        op: CreateOp::Create,
        path: "/fixtures".into(),
        data: Some(Vec::new()),
        acl: vec![Acl::open_unsafe()],
        flags: 0,
        ttl: 0,
    })
}

async fn replay(client: &str, with_fixtures_root: bool) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let server = start(test_config(dir.path())).await;
    let addr = server.local_addr();
    if with_fixtures_root {
        let mut setup = RawConn::open(addr).await;
        setup.handshake(6000).await;
        let (header, _) = setup.call(1, &create_fixtures_root()).await;
        assert_eq!(header.err, 0);
        let (header, _) = setup.call(2, &Request::CloseSession).await;
        assert_eq!(header.err, 0);
    }
    let mut conn = RawConn::open(addr).await;
    let mut rel = Relations::default();
    let mut ops_by_xid: HashMap<i32, i32> = HashMap::new();
    let frames = load_session(client);
    let expected = frames.iter().filter(|f| f.direction == Direction::ServerToClient && f.op != "connect").count();
    let mut compared = 0;
    for frame in frames {
        let ctx = format!("{client}/{}", frame.name);
        match frame.direction {
            Direction::ClientToServer => {
                if frame.op != "connect" {
                    let (header, _, _) = decode_request(&frame.bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    ops_by_xid.insert(header.xid, header.op);
                }
                conn.send(&frame.bytes).await;
            }
            Direction::ServerToClient => {
                let ours = conn.recv().await.unwrap_or_else(|| panic!("{ctx}: server closed the connection"));
                if frame.op == "connect" {
                    let rec = ConnectResponse::decode(&mut Reader::new(&frame.bytes))
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    let got = ConnectResponse::decode(&mut Reader::new(&ours)).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(got.protocol_version, rec.protocol_version, "{ctx}");
                    assert_eq!(got.timeout_ms, rec.timeout_ms, "{ctx}: negotiated timeout");
                    assert_eq!(got.passwd.len(), rec.passwd.len(), "{ctx}: password length");
                    assert_eq!(got.read_only, rec.read_only, "{ctx}: readOnly flag");
                    rel.session(rec.session_id, got.session_id, &ctx);
                    continue;
                }
                let op_of = |xid: i32| ops_by_xid.get(&xid).copied().unwrap_or(0);
                let (rh, rb) = decode_reply(
                    &frame.bytes,
                    op_of(i32::from_be_bytes([frame.bytes[0], frame.bytes[1], frame.bytes[2], frame.bytes[3]])),
                );
                let (oh, ob) = decode_reply(&ours, op_of(rh.xid));
                assert_eq!(oh.xid, rh.xid, "{ctx}: xid (got {ob:?})");
                assert_eq!(oh.err, rh.err, "{ctx}: err");
                rel.zxid(rh.zxid, oh.zxid, &format!("{ctx} header"));
                rel.response(&rb, &ob, &ctx);
                compared += 1;
            }
        }
    }
    assert_eq!(compared, expected, "{client}: every recorded reply compared");
    assert!(conn.is_closed().await, "{client}: the server must close the connection after closeSession");
    server.shutdown().await.unwrap_or_else(|e| panic!("shutdown: {e}"));
}

#[tokio::test]
async fn replay_kazoo_session() {
    replay("kazoo", false).await;
}

#[tokio::test]
async fn replay_zookeeper_client_session() {
    replay("zookeeper-client", true).await;
}
