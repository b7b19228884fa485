//! The `zookeeper-client` crate (what gregor's brokers use) as a real third-party
//! client against this server: every operation it offers, each watch kind, session
//! expiry and re-attach, reconnection through a proxy that drops connections,
//! multi atomicity, sequential naming, TTL and container nodes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use zkc::{Acls, AddWatchMode, Client, CreateMode, Error, EventType, MultiWriteError, MultiWriteResult};
use zookeeper_client as zkc;

use super::{connect, connect_with, persistent, start, test_config};

const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

fn ephemeral() -> zkc::CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

macro_rules! ok {
    ($e:expr) => {
        $e.await.unwrap_or_else(|e| panic!("{} failed: {e:?}", stringify!($e)))
    };
}

async fn event(fut: impl std::future::Future<Output = zkc::WatchedEvent>) -> zkc::WatchedEvent {
    tokio::time::timeout(EVENT_TIMEOUT, fut).await.unwrap_or_else(|_| panic!("no watch event within {EVENT_TIMEOUT:?}"))
}

fn assert_event(e: &zkc::WatchedEvent, kind: EventType, path: &str) {
    assert_eq!((e.event_type, e.path.as_str()), (kind, path), "unexpected event {e:?}");
}

#[tokio::test]
async fn crud_reads_acls_and_misc_ops() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;

    let (stat, _) = ok!(c.create("/app", b"v0", &persistent()));
    assert_eq!((stat.version, stat.data_length, stat.num_children), (0, 2, 0));
    assert_eq!(c.create("/app", b"", &persistent()).await.err(), Some(Error::NodeExists));
    assert_eq!(c.create("/none/x", b"", &persistent()).await.err(), Some(Error::NoNode));

    let (data, stat) = ok!(c.get_data("/app"));
    assert_eq!((data.as_slice(), stat.version), (&b"v0"[..], 0));
    let stat = ok!(c.set_data("/app", b"v1", Some(0)));
    assert_eq!(stat.version, 1);
    assert_eq!(c.set_data("/app", b"v2", Some(0)).await.err(), Some(Error::BadVersion));
    let stat = ok!(c.set_data("/app", b"v2", None));
    assert_eq!(stat.version, 2);

    assert!(ok!(c.check_stat("/app")).is_some());
    assert!(ok!(c.check_stat("/nope")).is_none());
    assert_eq!(c.get_data("/nope").await.err(), Some(Error::NoNode));

    ok!(c.create("/app/a", b"", &persistent()));
    ok!(c.create("/app/b", b"", &ephemeral()));
    assert_eq!(c.create("/app/b/c", b"", &persistent()).await.err(), Some(Error::NoChildrenForEphemerals));
    let mut children = ok!(c.list_children("/app"));
    children.sort();
    assert_eq!(children, vec!["a".to_string(), "b".to_string()]);
    let (_, stat) = ok!(c.get_children("/app"));
    assert_eq!((stat.num_children, stat.cversion), (2, 2));
    assert_eq!(ok!(c.count_descendants_number("/app")), 2);
    assert_eq!(ok!(c.list_ephemerals("/")), vec!["/app/b".to_string()]);

    ok!(c.mkdir("/deep/er/path", &persistent()));
    assert!(ok!(c.check_stat("/deep/er/path")).is_some());

    assert_eq!(c.delete("/app", None).await.err(), Some(Error::NotEmpty));
    assert_eq!(c.delete("/app/a", Some(5)).await.err(), Some(Error::BadVersion));
    ok!(c.delete("/app/a", Some(0)));
    assert_eq!(c.delete("/app/a", None).await.err(), Some(Error::NoNode));

    let (acl, stat) = ok!(c.get_acl("/app"));
    assert_eq!(acl.len(), 1);
    assert_eq!((acl[0].scheme(), acl[0].id(), stat.aversion), ("world", "anyone", 0));
    let read_only = [zkc::Acl::new(zkc::Permission::READ, zkc::AuthId::anyone())];
    let stat = ok!(c.set_acl("/app", &read_only, Some(0)));
    assert_eq!(stat.aversion, 1);
    assert_eq!(c.set_acl("/app", &read_only, Some(0)).await.err(), Some(Error::BadVersion));
    let (acl, _) = ok!(c.get_acl("/app"));
    assert_eq!(acl[0].permission(), zkc::Permission::READ);

    ok!(c.sync("/app"));
    let (config, stat) = ok!(c.get_config());
    assert!(config.is_empty());
    assert_eq!(stat.aversion, -1);

    ok!(c.auth("digest", b"alice:secret"));
    let users = ok!(c.list_auth_users());
    let users: Vec<(String, String)> = users.iter().map(|u| (u.scheme().to_string(), u.user().to_string())).collect();
    assert!(users.contains(&("ip".to_string(), "127.0.0.1".to_string())), "{users:?}");
    assert!(users.contains(&("digest".to_string(), "alice".to_string())), "{users:?}");

    let mut reader = c.new_multi_reader();
    reader.add_get_data("/app").unwrap_or_else(|e| panic!("{e}"));
    reader.add_get_children("/app").unwrap_or_else(|e| panic!("{e}"));
    reader.add_get_data("/missing").unwrap_or_else(|e| panic!("{e}"));
    let results = ok!(reader.commit());
    assert!(matches!(&results[0], zkc::MultiReadResult::Data { data, .. } if data == b"v2"));
    assert!(matches!(&results[1], zkc::MultiReadResult::Children { children } if children == &vec!["b".to_string()]));
    assert!(matches!(&results[2], zkc::MultiReadResult::Error { err: Error::NoNode }));

    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn sequential_names_follow_the_parent_cversion() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;
    ok!(c.create("/q", b"", &persistent()));
    let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    let eseq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (_, s0) = ok!(c.create("/q/item-", b"", &seq));
    let (_, s1) = ok!(c.create("/q/item-", b"", &seq));
    ok!(c.create("/q/plain", b"", &persistent()));
    ok!(c.delete("/q/plain", None));
    let (_, s2) = ok!(c.create("/q/lock-", b"", &eseq));
    assert_eq!((s0.into_i64(), s1.into_i64(), s2.into_i64()), (0, 1, 4));
    let mut names = ok!(c.list_children("/q"));
    names.sort();
    assert_eq!(names, vec!["item-0000000000", "item-0000000001", "lock-0000000004"]);
    let (_, stat) = ok!(c.get_data("/q/lock-0000000004"));
    assert_eq!(stat.ephemeral_owner, c.session_id().0);
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn one_shot_watches() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let watcher = connect(server.local_addr()).await;
    let writer = connect(server.local_addr()).await;

    // exists on a missing node, then create: NodeCreated.
    let (stat, w) = ok!(watcher.check_and_watch_stat("/w"));
    assert!(stat.is_none());
    ok!(writer.create("/w", b"a", &persistent()));
    assert_event(&event(w.changed()).await, EventType::NodeCreated, "/w");

    // getData watch, then setData: NodeDataChanged.
    let (_, _, w) = ok!(watcher.get_and_watch_data("/w"));
    ok!(writer.set_data("/w", b"b", None));
    assert_event(&event(w.changed()).await, EventType::NodeDataChanged, "/w");

    // getChildren watch, then a child: NodeChildrenChanged.
    let (_, _, w) = ok!(watcher.get_and_watch_children("/w"));
    ok!(writer.create("/w/c", b"", &persistent()));
    assert_event(&event(w.changed()).await, EventType::NodeChildrenChanged, "/w");

    // exists watch on an existing node, then delete: NodeDeleted.
    let (_, w) = ok!(watcher.check_and_watch_stat("/w/c"));
    ok!(writer.delete("/w/c", None));
    assert_event(&event(w.changed()).await, EventType::NodeDeleted, "/w/c");

    // A data watch can be removed (removeWatches); afterwards removal fails.
    let (_, _, w) = ok!(watcher.get_and_watch_data("/w"));
    #[allow(deprecated)] // explicit removal checks the server's answer
    let removed = w.remove().await;
    assert_eq!(removed, Ok(()));

    drop((watcher, writer));
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn persistent_and_recursive_watches() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let watcher = connect(server.local_addr()).await;
    let writer = connect(server.local_addr()).await;
    ok!(writer.create("/p", b"", &persistent()));
    ok!(writer.create("/r", b"", &persistent()));

    let mut p = ok!(watcher.watch("/p", AddWatchMode::Persistent));
    ok!(writer.create("/p/1", b"", &persistent()));
    assert_event(&event(p.changed()).await, EventType::NodeChildrenChanged, "/p");
    ok!(writer.set_data("/p", b"x", None));
    assert_event(&event(p.changed()).await, EventType::NodeDataChanged, "/p");
    // Still there after firing; grandchildren are not its business.
    ok!(writer.create("/p/1/deep", b"", &persistent()));
    ok!(writer.create("/p/2", b"", &persistent()));
    assert_event(&event(p.changed()).await, EventType::NodeChildrenChanged, "/p");

    let mut r = ok!(watcher.watch("/r", AddWatchMode::PersistentRecursive));
    ok!(writer.create("/r/a", b"", &persistent()));
    assert_event(&event(r.changed()).await, EventType::NodeCreated, "/r/a");
    ok!(writer.create("/r/a/b", b"", &persistent()));
    assert_event(&event(r.changed()).await, EventType::NodeCreated, "/r/a/b");
    ok!(writer.set_data("/r/a/b", b"y", None));
    assert_event(&event(r.changed()).await, EventType::NodeDataChanged, "/r/a/b");
    ok!(writer.delete("/r/a/b", None));
    assert_event(&event(r.changed()).await, EventType::NodeDeleted, "/r/a/b");
    ok!(writer.set_data("/r", b"z", None));
    assert_event(&event(r.changed()).await, EventType::NodeDataChanged, "/r");

    #[allow(deprecated)] // explicit removal checks the server's answer
    let removed = (p.remove().await, r.remove().await);
    assert_eq!(removed, (Ok(()), Ok(())));
    drop((watcher, writer));
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn multi_is_atomic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;
    ok!(c.create("/m", b"", &persistent()));
    ok!(c.create("/m/old", b"", &persistent()));

    let mut w = c.new_multi_writer();
    w.add_create("/m/new", b"n", &persistent()).unwrap_or_else(|e| panic!("{e}"));
    w.add_set_data("/m", b"d", Some(0)).unwrap_or_else(|e| panic!("{e}"));
    w.add_check_version("/m", 1).unwrap_or_else(|e| panic!("{e}"));
    w.add_delete("/m/old", None).unwrap_or_else(|e| panic!("{e}"));
    let results = ok!(w.commit());
    assert_eq!(results.len(), 4);
    assert!(matches!(&results[0], MultiWriteResult::Create { path, .. } if path == "/m/new"));
    assert!(matches!(&results[1], MultiWriteResult::SetData { stat } if stat.version == 1));
    assert!(matches!(results[2], MultiWriteResult::Check));
    assert!(matches!(results[3], MultiWriteResult::Delete));
    let (_, before) = ok!(c.get_data("/m"));

    // A failing op undoes the ops before it.
    let mut w = c.new_multi_writer();
    w.add_create("/m/ghost", b"", &ephemeral()).unwrap_or_else(|e| panic!("{e}"));
    w.add_set_data("/m", b"lost", None).unwrap_or_else(|e| panic!("{e}"));
    w.add_check_version("/m", 99).unwrap_or_else(|e| panic!("{e}"));
    w.add_delete("/m/new", None).unwrap_or_else(|e| panic!("{e}"));
    match w.commit().await {
        Err(MultiWriteError::OperationFailed { index: 2, source: Error::BadVersion }) => {}
        other => panic!("expected BadVersion at index 2, got {other:?}"),
    }
    assert!(ok!(c.check_stat("/m/ghost")).is_none());
    assert!(ok!(c.check_stat("/m/new")).is_some());
    let (data, after) = ok!(c.get_data("/m"));
    assert_eq!((data.as_slice(), after.version, after.cversion), (&b"d"[..], before.version, before.cversion));
    assert!(ok!(c.list_ephemerals("/")).is_empty());

    // The failed multi spent a zxid: the next write's zxid skips one.
    let (s1, _) = ok!(c.create("/m/z1", b"", &persistent()));
    let mut w = c.new_multi_writer();
    w.add_check_version("/m", 42).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.commit().await.is_err());
    let (s2, _) = ok!(c.create("/m/z2", b"", &persistent()));
    assert_eq!(s2.czxid, s1.czxid + 2);

    // check inside a multi guards a write (what the controller does).
    let mut cw = c.new_check_writer("/m", Some(after.version)).unwrap_or_else(|e| panic!("{e}"));
    cw.add_set_data("/m/new", b"guarded", None).unwrap_or_else(|e| panic!("{e}"));
    ok!(cw.commit());
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn session_expiry_deletes_ephemerals_and_fires_watches() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = super::super::ZkConfig { tick_time_ms: 100, ..test_config(dir.path()) };
    let server = start(config).await;
    let addr = server.local_addr();
    let observer = connect(addr).await;
    ok!(observer.create("/svc", b"", &persistent()));

    let doomed = Client::connector()
        .with_session_timeout(Duration::from_millis(1000))
        .with_detached()
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doomed.session_timeout(), Duration::from_millis(1000));
    ok!(doomed.create("/svc/member", b"", &ephemeral()));
    let session = doomed.session().clone();
    let (stat, gone) = ok!(observer.check_and_watch_stat("/svc/member"));
    assert!(stat.is_some());
    let (_, _, children) = ok!(observer.get_and_watch_children("/svc"));
    // Dropping a detached client leaves its session open without pinging it.
    drop(doomed);
    assert_event(&event(gone.changed()).await, EventType::NodeDeleted, "/svc/member");
    assert_event(&event(children.changed()).await, EventType::NodeChildrenChanged, "/svc");
    assert!(ok!(observer.check_stat("/svc/member")).is_none());
    // The expired session cannot be re-attached.
    let again = Client::connector()
        .with_session(session)
        .with_session_timeout(Duration::from_millis(1000))
        .connect(&addr.to_string())
        .await;
    assert!(matches!(again, Err(Error::SessionExpired)), "{:?}", again.err());

    // Negotiation clamps the timeout into [2, 20] x tickTime (checked on the raw
    // protocol: the client's own connect deadline is the requested timeout).
    let mut raw = super::RawConn::open(addr).await;
    assert_eq!(raw.handshake(10).await.timeout_ms, 200);
    let mut raw = super::RawConn::open(addr).await;
    assert_eq!(raw.handshake(100_000).await.timeout_ms, 2000);
    drop(observer);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn session_reattaches_with_id_and_password() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let addr = server.local_addr();
    let first = connect_with(Client::connector().with_detached(), addr).await;
    ok!(first.create("/held", b"", &ephemeral()));
    let session = first.session().clone();
    let id = first.session_id();
    drop(first);
    let second = connect_with(Client::connector().with_session(session), addr).await;
    assert_eq!(second.session_id(), id);
    let (_, stat) = ok!(second.get_data("/held"));
    assert_eq!(stat.ephemeral_owner, id.0);
    // Closing it for real removes the ephemeral.
    drop(second);
    let third = connect(addr).await;
    let mut gone = false;
    for _ in 0..100 {
        if ok!(third.check_stat("/held")).is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "closeSession did not remove the ephemeral");
    drop(third);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

/// A TCP proxy whose connections can be cut, and which can refuse new ones.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    refuse: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (cut, _) = watch::channel(0u64);
        let refuse = Arc::new(AtomicBool::new(false));
        let (cut_tx, refusing) = (cut.clone(), refuse.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut_rx = cut_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, cut, refuse, task }
    }

    fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

#[tokio::test]
async fn reconnect_reattaches_and_resends_watches() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let proxy = Proxy::start(server.local_addr()).await;
    let client = connect(proxy.addr).await;
    let writer = connect(server.local_addr()).await;
    ok!(client.create("/r", b"0", &persistent()));
    ok!(client.create("/r/eph", b"", &ephemeral()));
    let id = client.session_id();
    let (_, _, data_watch) = ok!(client.get_and_watch_data("/r"));
    let (_, missing_watch) = ok!(client.check_and_watch_stat("/r/later"));
    let mut state = client.state_watcher();

    // Cut the connection and keep the client out while things change.
    proxy.refuse.store(true, Ordering::SeqCst);
    proxy.cut_all();
    let disconnected = tokio::time::timeout(EVENT_TIMEOUT, state.changed()).await;
    assert_eq!(disconnected.ok(), Some(zkc::SessionState::Disconnected));
    ok!(writer.set_data("/r", b"1", None));
    ok!(writer.create("/r/later", b"", &persistent()));
    proxy.refuse.store(false, Ordering::SeqCst);

    // setWatches on reconnect fires what changed since the client's last zxid.
    assert_event(&event(data_watch.changed()).await, EventType::NodeDataChanged, "/r");
    assert_event(&event(missing_watch.changed()).await, EventType::NodeCreated, "/r/later");
    assert_eq!(client.session_id(), id);
    let (_, stat) = ok!(client.get_data("/r/eph"));
    assert_eq!(stat.ephemeral_owner, id.0);

    // Watches set after the reconnect work too.
    let (_, _, w) = ok!(client.get_and_watch_data("/r"));
    ok!(writer.set_data("/r", b"2", None));
    assert_event(&event(w.changed()).await, EventType::NodeDataChanged, "/r");

    proxy.task.abort();
    drop((client, writer));
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn ttl_and_container_nodes_are_swept() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = super::super::ZkConfig { container_check_interval_ms: 50, ..test_config(dir.path()) };
    let server = start(config).await;
    let c = connect(server.local_addr()).await;
    let ttl = CreateMode::Persistent.with_acls(Acls::anyone_all()).with_ttl(Duration::from_millis(150));
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    ok!(c.create("/ttl", b"", &ttl));
    ok!(c.create("/box", b"", &container));
    ok!(c.create("/never-used-box", b"", &container));
    ok!(c.create("/box/item", b"", &persistent()));
    let (_, stat) = ok!(c.get_data("/box"));
    assert_eq!(stat.ephemeral_owner, 0, "containers show no owner");
    ok!(c.delete("/box/item", None));
    let mut swept = false;
    for _ in 0..200 {
        if ok!(c.check_stat("/ttl")).is_none() && ok!(c.check_stat("/box")).is_none() {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(swept, "TTL node and emptied container should be deleted");
    assert!(ok!(c.check_stat("/never-used-box")).is_some(), "a container that never had children stays");
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}
