//! The store against the in-process ZooKeeper-compatible server: producer-id
//! blocks, added partitions, fencing, and malformed znodes (logged and
//! skipped, never a panic).

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode};

use super::zk_store::{ConnectString, FencedError, Op, ZkSettings, ZkStore};
use super::*;
use crate::zk::{ZkConfig, ZkServer};

const WAIT: Duration = Duration::from_secs(10);

async fn server(dir: &std::path::Path) -> ZkServer {
    let mut config = ZkConfig::new(dir.join("zk"));
    config.client_port_address = "127.0.0.1:0".parse().expect("addr");
    ZkServer::start(config).await.expect("zk server")
}

fn config(connect: &str, id: i32) -> MetadataConfig {
    MetadataConfig {
        leader_rebalance: None,
        unclean_leader_election: false,
        zookeeper_connect: connect.to_string(),
        session_timeout: Duration::from_secs(6),
        connection_timeout: Duration::from_secs(5),
        registration: BrokerRegistration {
            id,
            host: "127.0.0.1".into(),
            port: 9000 + id as u16,
            listeners: vec![("PLAINTEXT".into(), "PLAINTEXT".into(), "127.0.0.1".into(), 9000 + id as u16)],
            rack: None,
            timestamp_ms: 0,
        },
        delete_topic_enable: true,
        cluster_id_if_new: None,
        private_coordinator: false,
    }
}

async fn client(connect: &str) -> Client {
    Client::connector().with_session_timeout(Duration::from_secs(6)).connect(connect).await.expect("client")
}

async fn put(c: &Client, path: &str, data: &[u8]) {
    c.mkdir(path.rsplit_once('/').map_or("/", |(p, _)| p), &CreateMode::Persistent.with_acls(Acls::anyone_all()))
        .await
        .ok();
    c.create(path, data, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("create");
}

fn topic(name: &str, partitions: Vec<Vec<i32>>) -> TopicMetadata {
    TopicMetadata { name: name.into(), topic_id: uuid::Uuid::new_v4(), partitions, configs: Default::default() }
}

#[tokio::test]
async fn producer_id_blocks_never_overlap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let connect = zk.local_addr().to_string();
    let a = MetadataStore::start(config(&connect, 0)).await.expect("a");
    let b = MetadataStore::start(config(&connect, 1)).await.expect("b");
    let mut blocks = Vec::new();
    for _ in 0..3 {
        blocks.push(a.allocate_producer_ids().await.expect("a block"));
        blocks.push(b.allocate_producer_ids().await.expect("b block"));
    }
    for (i, (start, end)) in blocks.iter().enumerate() {
        assert_eq!(*start, i as i64 * PRODUCER_ID_BLOCK);
        assert_eq!(*end, start + PRODUCER_ID_BLOCK);
    }
    let (data, _) = client(&connect).await.get_data(znode::PRODUCER_ID_BLOCK).await.expect("block znode");
    let v: serde_json::Value = serde_json::from_slice(&data).expect("json");
    assert_eq!((v["broker"].clone(), v["block_end"].clone()), (1.into(), "5999".into()));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn created_topics_get_states_and_added_partitions_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let connect = zk.local_addr().to_string();
    let s = MetadataStore::start(config(&connect, 0)).await.expect("store");
    assert_eq!(s.controller_id(), Some(0));
    assert_eq!(s.live_brokers(), vec![0]);
    s.create_topic(topic("t", vec![vec![0]])).await.expect("create");
    assert!(matches!(s.create_topic(topic("t", vec![vec![0]])).await, Err(MetadataError::TopicExists(_))));
    assert!(s.wait_until(WAIT, |v| v.has_all_states("t")).await);
    let updated = s.add_partitions("t", vec![vec![0], vec![0]]).await.expect("add");
    assert_eq!(updated.partitions.len(), 3);
    assert!(s.wait_until(WAIT, |v| v.topics["t"].partitions.len() == 3 && v.has_all_states("t")).await);
    assert_eq!(
        s.partition_state("t", 2),
        Some(PartitionState { leader: 0, leader_epoch: 0, isr: vec![0], controller_epoch: 1 })
    );
    s.delete_topic("t").await.expect("delete");
    assert!(s.wait_until(WAIT, |v| !v.topics.contains_key("t")).await);
    assert!(matches!(s.delete_topic("t").await, Err(MetadataError::UnknownTopic(_))));
    s.shutdown().await;
    // The session closed: the registration and /controller went with it.
    let c = client(&connect).await;
    assert!(c.check_stat("/brokers/ids/0").await.expect("stat").is_none());
    assert!(c.check_stat("/controller").await.expect("stat").is_none());
}

#[tokio::test]
async fn stale_epoch_writes_are_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let settings = ZkSettings {
        connect: ConnectString::parse(&zk.local_addr().to_string()).expect("connect"),
        session_timeout: Duration::from_secs(6),
        connection_timeout: Duration::from_secs(5),
    };
    let store = ZkStore::open(settings).await.expect("open");
    let (epoch, version) = store.try_become_controller(3, 0).await.expect("elect").expect("won");
    assert_eq!(epoch, 1);
    assert!(store.try_become_controller(4, 0).await.expect("elect again").is_none(), "only one controller");
    store.fenced(version, &[Op::Create("/a".into(), Vec::new())]).await.expect("current epoch writes");
    // Another controller moved the epoch on.
    store.client().expect("client").set_data(znode::CONTROLLER_EPOCH, b"7", None).await.expect("bump");
    let stale = store.fenced(version, &[Op::Create("/b".into(), Vec::new())]).await;
    assert!(matches!(stale, Err(FencedError::Fenced)), "{stale:?}");
    assert!(store.client().expect("client").check_stat("/b").await.expect("stat").is_none());
    store.close();
}

#[tokio::test]
async fn malformed_znodes_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let connect = zk.local_addr().to_string();
    let c = client(&connect).await;
    put(&c, "/brokers/topics/bad", b"{not json").await;
    put(&c, "/brokers/topics/gaps", br#"{"version":1,"partitions":{"1":[0]}}"#).await;
    put(&c, "/brokers/topics/good", br#"{"version":1,"partitions":{"0":[0],"1":[0]}}"#).await;
    put(&c, "/brokers/topics/good/partitions/0/state", br#"{"leader":"x"}"#).await;
    put(&c, "/brokers/ids/7", b"garbage").await;
    put(&c, "/config/topics/good", b"[1,2]").await;
    let s = MetadataStore::start(config(&connect, 0)).await.expect("store");
    assert_eq!(s.topics().iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["good"]);
    assert_eq!(s.live_brokers(), vec![0]);
    assert!(s.view().unreadable.contains("bad") && s.view().unreadable.contains("gaps"));
    // Partition 1 gets a state; the controller overwrites partition 0's unreadable one.
    assert!(s.wait_until(WAIT, |v| v.state("good", 0).is_some() && v.state("good", 1).is_some()).await);
    // Garbage arriving through watches is skipped too.
    c.set_data("/brokers/topics/good", b"\xff\xfe", None).await.expect("set");
    assert!(s.wait_until(WAIT, |v| v.unreadable.contains("good")).await);
    assert!(s.topic("good").is_none());
    // And a repaired znode comes back.
    c.set_data("/brokers/topics/good", br#"{"version":1,"partitions":{"0":[0]}}"#, None).await.expect("set");
    assert!(s.wait_until(WAIT, |v| v.topics.contains_key("good")).await);
    s.shutdown().await;
}

#[tokio::test]
async fn preferred_election_through_the_request_znode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let connect = zk.local_addr().to_string();
    let a = MetadataStore::start(config(&connect, 0)).await.expect("a");
    let b = MetadataStore::start(config(&connect, 1)).await.expect("b");
    a.create_topic(topic("t", vec![vec![0, 1]])).await.expect("create");
    assert!(b.wait_until(WAIT, |v| v.state("t", 0).is_some_and(|s| s.isr == [0, 1])).await);
    // Leadership elsewhere, as after a failover: broker 1 leads.
    let version = b.view().states["t"][&0].version;
    let moved = PartitionState { leader: 1, leader_epoch: 1, isr: vec![0, 1], controller_epoch: 1 };
    b.update_partition_state("t", 0, moved, version).await.expect("move");
    // Asked through the non-controller: the controller elects the preferred replica.
    let states = b.elect_leaders(ElectionType::Preferred, &[("t".into(), 0)], WAIT).await.expect("elect");
    assert_eq!(states, vec![Some(PartitionState { leader: 0, leader_epoch: 2, isr: vec![0, 1], controller_epoch: 1 })]);
    assert_eq!(b.partition_state("t", 0).map(|s| s.leader), Some(0), "the asking broker's cache caught up");
    let c = client(&connect).await;
    assert!(c.check_stat(znode::PREFERRED_REPLICA_ELECTION).await.expect("stat").is_none(), "request removed");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn isr_changes_are_announced_and_the_controller_clears_the_notices() {
    use zookeeper_client::{AddWatchMode, EventType};
    let dir = tempfile::tempdir().expect("tempdir");
    let zk = server(dir.path()).await;
    let connect = zk.local_addr().to_string();
    let s = MetadataStore::start(config(&connect, 0)).await.expect("store");
    s.create_topic(topic("t", vec![vec![0]])).await.expect("create");
    assert!(s.wait_until(WAIT, |v| v.has_all_states("t")).await);
    let c = client(&connect).await;
    let mut watcher = c.watch(znode::ISR_CHANGE_NOTIFICATION, AddWatchMode::PersistentRecursive).await.expect("watch");
    let current = s.view().states["t"][&0].clone();
    s.update_partition_state("t", 0, current.state, current.version).await.expect("write");
    let created = tokio::time::timeout(WAIT, watcher.changed()).await.expect("an event");
    assert_eq!(created.event_type, EventType::NodeCreated);
    assert!(created.path.starts_with(znode::ISR_CHANGE_PREFIX), "{}", created.path);
    let deleted = tokio::time::timeout(WAIT, watcher.changed()).await.expect("an event");
    assert_eq!((deleted.event_type, deleted.path), (EventType::NodeDeleted, created.path));
    s.shutdown().await;
}
