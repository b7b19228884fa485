//! Consumer-group timings with our client (`gregor::client::Consumer`) against one broker with Kafka's
//! default `group.initial.rebalance.delay.ms` (3000):
//! - subscribe → first assignment for a brand-new group (target ≤ 3.5 s:
//!   the initial delay plus a few round trips);
//! - the rebalance after a member leaves: from `close()` of one of two
//!   members to the survivor owning every partition (bounded by the
//!   survivor's next heartbeat, `heartbeat.interval.ms`).
//!
//! Run: `cargo bench --bench group_client` (GREGOR_BENCH_SCALE=0.4 for fewer rounds).
//! (`benches/groups.rs` measures the same with librdkafka as the client.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor::client::{Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic};

#[allow(dead_code)] // the producer loop is for the other benches
mod common;

use common::start_broker;

const PARTITIONS: i32 = 4;

fn config(addr: &str, group: &str, heartbeat_ms: u64) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(addr);
    c.set("group.id", group).expect("group.id");
    c.set("heartbeat.interval.ms", &heartbeat_ms.to_string()).expect("heartbeat");
    c.set("fetch.max.wait.ms", "100").expect("fetch wait");
    c
}

/// Subscribe → first non-empty assignment.
async fn time_to_first_assignment(addr: &str, group: &str) -> Duration {
    let start = Instant::now();
    let mut c = Consumer::new(config(addr, group, 3000)).await.expect("consumer");
    c.subscribe(vec!["bench-groups".into()]).await.expect("subscribe");
    while c.assignment().is_empty() {
        c.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(start.elapsed() < Duration::from_secs(60), "no assignment after a minute");
    }
    let took = start.elapsed();
    c.close().await.expect("close");
    took
}

/// A member polling in its own task; its assignment size is published.
fn run(mut c: Consumer, stop: Arc<AtomicBool>) -> (Arc<Mutex<usize>>, tokio::task::JoinHandle<Consumer>) {
    let owned = Arc::new(Mutex::new(0));
    let o = owned.clone();
    let task = tokio::spawn(async move {
        while !stop.load(Ordering::Acquire) {
            c.poll(Duration::from_millis(50)).await.expect("poll");
            *o.lock().expect("owned") = c.assignment().len();
        }
        c
    });
    (owned, task)
}

/// Two members; one closes; time until the other owns every partition.
async fn time_to_take_over(addr: &str, group: &str, heartbeat_ms: u64) -> Duration {
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let mut a = Consumer::new(config(addr, group, heartbeat_ms)).await.expect("consumer");
    a.subscribe(vec!["bench-groups".into()]).await.expect("subscribe");
    let mut b = Consumer::new(config(addr, group, heartbeat_ms)).await.expect("consumer");
    b.subscribe(vec!["bench-groups".into()]).await.expect("subscribe");
    let (owned_a, task_a) = run(a, stop_a.clone());
    let (owned_b, task_b) = run(b, stop_b.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let half = usize::try_from(PARTITIONS / 2).unwrap_or(0);
    while !(*owned_a.lock().expect("a") == half && *owned_b.lock().expect("b") == half) {
        assert!(Instant::now() < deadline, "the two members never split the partitions");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_b.store(true, Ordering::Release);
    let b = task_b.await.expect("member b");
    let start = Instant::now();
    b.close().await.expect("close");
    let all = usize::try_from(PARTITIONS).unwrap_or(0);
    while *owned_a.lock().expect("a") != all {
        assert!(start.elapsed() < Duration::from_secs(60), "the survivor never took over");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = start.elapsed();
    stop_a.store(true, Ordering::Release);
    task_a.await.expect("member a").close().await.expect("close");
    took
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let median = times.get(times.len() / 2).map_or(0.0, ms);
    let min = times.first().map_or(0.0, ms);
    let max = times.last().map_or(0.0, ms);
    println!("{label:<58} median {median:>7.0} ms  min {min:>7.0} ms  max {max:>7.0} ms  ({} runs)", times.len());
}

#[tokio::main]
async fn main() {
    let scale: f64 = std::env::var("GREGOR_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let rounds = ((5.0 * scale).round() as usize).max(1);
    let broker = start_broker();
    let admin = Admin::connect(ClientConfig::new(broker.addr.clone())).await.expect("admin");
    admin.create_topic(NewTopic::new("bench-groups", PARTITIONS), false).await.expect("create topic");

    let mut first = Vec::new();
    for i in 0..rounds {
        first.push(time_to_first_assignment(&broker.addr, &format!("bench-new-{i}")).await);
    }
    summary("new group: subscribe -> first assignment (delay 3000 ms)", first);

    for heartbeat in [3000, 500] {
        let mut takeover = Vec::new();
        for i in 0..rounds {
            takeover.push(time_to_take_over(&broker.addr, &format!("bench-leave-{heartbeat}-{i}"), heartbeat).await);
        }
        summary(&format!("member leaves -> survivor owns all (heartbeat {heartbeat} ms)"), takeover);
    }
}
