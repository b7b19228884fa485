//! Kill/restart durability: every acknowledged write survives an abrupt stop (no
//! final snapshot), zxids keep growing across restarts, snapshots rotate the log,
//! a torn log tail is ignored, and sessions survive a restart.

use std::path::Path;
use std::time::Duration;

use zkc::{Acls, Client, CreateMode};
use zookeeper_client as zkc;

use super::super::ZkConfig;
use super::{connect, persistent, start, test_config};

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("version-2"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Writes `n` nodes under `/d`, returns the highest zxid acknowledged.
async fn write_nodes(c: &Client, from: usize, n: usize) -> i64 {
    let mut last = 0;
    for i in from..from + n {
        let (stat, _) = c
            .create(&format!("/d/n{i:04}"), format!("value-{i}").as_bytes(), &persistent())
            .await
            .unwrap_or_else(|e| panic!("create {i}: {e}"));
        last = last.max(stat.czxid);
        if i % 10 == 0 {
            let stat = c.set_data(&format!("/d/n{i:04}"), b"updated", Some(0)).await.unwrap_or_else(|e| panic!("{e}"));
            last = last.max(stat.mzxid);
        }
    }
    last
}

async fn check_nodes(c: &Client, n: usize) {
    let children = c.list_children("/d").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(children.len(), n, "every acknowledged create must survive");
    for i in 0..n {
        let (data, stat) = c.get_data(&format!("/d/n{i:04}")).await.unwrap_or_else(|e| panic!("node {i}: {e}"));
        if i % 10 == 0 {
            assert_eq!((data.as_slice(), stat.version), (&b"updated"[..], 1), "node {i}");
        } else {
            assert_eq!(data, format!("value-{i}").into_bytes(), "node {i}");
        }
    }
}

#[tokio::test]
async fn killed_server_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;
    c.create("/d", b"", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    let last = write_nodes(&c, 0, 120).await;
    server.kill().await;
    drop(c);
    assert!(files(dir.path(), "snapshot.").is_empty(), "a killed server writes no snapshot");

    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;
    check_nodes(&c, 120).await;
    let (stat, _) = c.create("/after", b"", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stat.czxid > last, "zxid must keep growing: {:#x} <= {last:#x}", stat.czxid);

    // Kill again with garbage appended to the log (a torn last record).
    server.kill().await;
    drop(c);
    let logs = files(dir.path(), "log.");
    let newest = dir.path().join("version-2").join(logs.last().unwrap_or_else(|| panic!("no log file")));
    let mut bytes = std::fs::read(&newest).unwrap_or_else(|e| panic!("{e}"));
    bytes.extend_from_slice(&[0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    std::fs::write(&newest, bytes).unwrap_or_else(|e| panic!("{e}"));
    let server = start(test_config(dir.path())).await;
    let c = connect(server.local_addr()).await;
    check_nodes(&c, 120).await;
    assert!(c.check_stat("/after").await.unwrap_or_else(|e| panic!("{e}")).is_some());
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn snapshots_rotate_logs_and_restart_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = ZkConfig { snapshot_every: 10, ..test_config(dir.path()) };
    let server = start(config.clone()).await;
    let c = connect(server.local_addr()).await;
    c.create("/d", b"", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    let last = write_nodes(&c, 0, 80).await;
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let snapshots = files(dir.path(), "snapshot.");
    assert_eq!(snapshots.len(), 3, "only the newest snapshots are retained: {snapshots:?}");
    assert!(files(dir.path(), "log.").len() <= 4, "old logs are purged: {:?}", files(dir.path(), "log."));

    let server = start(config.clone()).await;
    let c = connect(server.local_addr()).await;
    check_nodes(&c, 80).await;
    let last = last.max(write_nodes(&c, 80, 15).await);
    server.kill().await;
    drop(c);

    let server = start(config).await;
    let c = connect(server.local_addr()).await;
    check_nodes(&c, 95).await;
    let (stat, _) = c.create("/after", b"", &persistent()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stat.czxid > last);
    drop(c);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire_if_not_resumed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = ZkConfig { tick_time_ms: 100, ..test_config(dir.path()) };
    let server = start(config.clone()).await;
    let addr = server.local_addr();
    let keeper = Client::connector()
        .with_detached()
        .with_session_timeout(Duration::from_millis(2000))
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let leaver = Client::connector()
        .with_detached()
        .with_session_timeout(Duration::from_millis(800))
        .connect(&addr.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    keeper.create("/kept", b"", &ephemeral).await.unwrap_or_else(|e| panic!("{e}"));
    leaver.create("/left", b"", &ephemeral).await.unwrap_or_else(|e| panic!("{e}"));
    let session = keeper.session().clone();
    let id = keeper.session_id();
    drop((keeper, leaver));
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));

    let server = start(config).await;
    let resumed = Client::connector()
        .with_session(session)
        .with_session_timeout(Duration::from_millis(2000))
        .connect(&server.local_addr().to_string())
        .await
        .unwrap_or_else(|e| panic!("re-attach after restart: {e}"));
    assert_eq!(resumed.session_id(), id);
    let mut left_gone = false;
    for _ in 0..200 {
        if resumed.check_stat("/left").await.unwrap_or_else(|e| panic!("{e}")).is_none() {
            left_gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(left_gone, "a session not resumed after the restart expires");
    let (_, stat) = resumed.get_data("/kept").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stat.ephemeral_owner, id.0);
    drop(resumed);
    server.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}
