//! Replication cost and failover time on a local 3-broker cluster (started
//! with `gregor cluster up`), with librdkafka as the client:
//! - 200,000 × 1 KiB records, RF=3 acks=all, beside a single broker's acks=1
//!   in the same run;
//! - the time from `kill -9` of a partition leader to the first record
//!   acknowledged by its successor (zookeeper.session.timeout.ms = 6000).
//!
//! Run: `cargo bench --bench replication` (GREGOR_BENCH_SCALE=0.1 for a quick pass).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

mod common;

use common::{produce, start_broker};

const GREGOR: &str = env!("CARGO_BIN_EXE_gregor");

fn gregor(args: &[&str]) -> std::process::Output {
    Command::new(GREGOR).args(args).env("NO_COLOR", "1").stderr(Stdio::inherit()).output().expect("run gregor")
}

async fn create_topic(bootstrap: &str, name: &str, rf: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(rf)).set("min.insync.replicas", "2");
    let res = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(res[0].is_ok(), "{res:?}");
}

fn leader_of(zk: &str, topic: &str) -> Option<i32> {
    let out = gregor(&["topics", "--describe", "--zookeeper", zk, "--topic", topic]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("Partition: 0"))?;
    line.split('\t').find_map(|f| f.strip_prefix("Leader: "))?.parse().ok()
}

#[tokio::main]
async fn main() {
    let scale: f64 = std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let count = (200_000.0 * scale) as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster_dir = dir.path().join("cluster").display().to_string();
    let up = gregor(&[
        "cluster",
        "up",
        "--brokers",
        "3",
        "--ephemeral-ports",
        "--detach",
        "--dir",
        &cluster_dir,
        "--override",
        "zookeeper.session.timeout.ms=6000",
        "--override",
        "replica.lag.time.max.ms=10000",
    ]);
    assert!(up.status.success(), "cluster up failed");
    let status = gregor(&["cluster", "status", "--dir", &cluster_dir, "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    let nodes = json["nodes"].as_array().cloned().unwrap_or_default();
    let zk = nodes.iter().find(|n| n["id"].is_null()).and_then(|n| n["endpoint"].as_str()).expect("zk").to_string();
    let brokers: Vec<String> = nodes
        .iter()
        .filter(|n| !n["id"].is_null())
        .filter_map(|n| n["endpoint"].as_str().map(|e| e.trim_start_matches("PLAINTEXT://").to_string()))
        .collect();
    let bootstrap = brokers.join(",");

    // Throughput: RF=3 acks=all on the cluster, then one broker acks=1.
    create_topic(&bootstrap, "rf3", 3).await;
    let rf3 = produce(&bootstrap, "rf3", count, 1024, "all");
    let single = start_broker();
    let single_addr = single.addr.clone();
    create_topic(&single_addr, "rf1", 1).await;
    let rf1 = produce(&single_addr, "rf1", count, 1024, "1");
    drop(single);
    let mb = (count * 1024) as f64 / 1e6;
    println!("{count} x 1 KiB, single broker acks=1: {:.1} MB/s", mb / rf1.as_secs_f64());
    println!(
        "{count} x 1 KiB, 3 brokers RF=3 acks=all: {:.1} MB/s ({:.2} of acks=1)",
        mb / rf3.as_secs_f64(),
        rf1.as_secs_f64() / rf3.as_secs_f64()
    );

    // Failover: kill -9 the leader, time the first acknowledged record after it.
    create_topic(&bootstrap, "failover", 3).await;
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "60000")
        .set("retry.backoff.ms", "20")
        .set("topic.metadata.refresh.interval.ms", "250")
        .create()
        .expect("producer");
    p.send(FutureRecord::<(), _>::to("failover").partition(0).payload("before"), Duration::from_secs(30))
        .await
        .expect("warm-up");
    let leader = leader_of(&zk, "failover").expect("leader");
    let killed = Instant::now();
    let kill = gregor(&["cluster", "kill", &leader.to_string(), "--dir", &cluster_dir]);
    assert!(kill.status.success());
    p.send(FutureRecord::<(), _>::to("failover").partition(0).payload("after"), Duration::from_secs(60))
        .await
        .expect("produce after failover");
    let took = killed.elapsed();
    let new_leader = leader_of(&zk, "failover");
    println!(
        "leader {leader} killed → first acknowledged produce after {:.2} s (new leader {new_leader:?}; session timeout 6 s, target ≤ 7 s)",
        took.as_secs_f64()
    );
    p.flush(Duration::from_secs(10)).expect("flush");
    let _ = gregor(&["cluster", "down", "--dir", &cluster_dir]);
}
