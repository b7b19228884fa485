//! Consumer-group timings against a release broker with Kafka's default
//! `group.initial.rebalance.delay.ms` (3000), librdkafka as the client:
//! - subscribe → first assignment for a new group (target: within the
//!   initial delay + 0.5 s); the first run also creates `__consumer_offsets`;
//! - a member leaving cleanly (LeaveGroup) → the survivor owns every partition;
//! - a member dying without leaving (session.timeout.ms = 6000) → the same.
//!
//! Run: `cargo bench --bench groups`.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

#[allow(dead_code)] // the shared producer loop is not used here
mod common;

const TOPIC: &str = "bench-groups";
const PARTITIONS: usize = 6;

/// Remembers when the member last got an assignment and of how many partitions.
#[derive(Clone, Default)]
struct Ctx(Arc<Mutex<Option<(Instant, usize)>>>);

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), tpl.count()));
        }
    }
}

fn member(addr: &str, group: &str, ctx: Ctx) -> BaseConsumer<Ctx> {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("log_level", "3")
        .set("partition.assignment.strategy", "range")
        .create_with_context(ctx)
        .expect("consumer")
}

/// Polls `c` until `done` holds (or 30 s pass).
fn poll_until(c: &BaseConsumer<Ctx>, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() && Instant::now() < deadline {
        let _ = c.poll(Duration::from_millis(10));
    }
}

fn assigned(ctx: &Ctx) -> Option<(Instant, usize)> {
    *ctx.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// The second member: a thread that leaves cleanly when told, or (`crash`) a
/// child process (this benchmark re-run as a member) killed with SIGKILL.
enum Other {
    Thread(Arc<Mutex<bool>>, thread::JoinHandle<()>),
    Process(std::process::Child),
}

fn start_other(addr: &str, group: &str, crash: bool, ctx: &Ctx) -> Other {
    if crash {
        let child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("GREGOR_BENCH_MEMBER", format!("{addr} {group}"))
            .spawn()
            .expect("spawn member");
        return Other::Process(child);
    }
    let stop: Arc<Mutex<bool>> = Arc::default();
    let (addr, group, c2, s2) = (addr.to_string(), group.to_string(), ctx.clone(), stop.clone());
    let handle = thread::spawn(move || {
        let c = member(&addr, &group, c2);
        c.subscribe(&[TOPIC]).expect("subscribe");
        while !*s2.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = c.poll(Duration::from_millis(10));
        }
    });
    Other::Thread(stop, handle)
}

/// Run as a child: a member that polls until it is killed.
fn member_process(spec: &str) {
    let mut parts = spec.split_whitespace();
    let (addr, group) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let c = member(addr, group, Ctx::default());
    c.subscribe(&[TOPIC]).expect("subscribe");
    loop {
        let _ = c.poll(Duration::from_millis(10));
    }
}

fn survivor_takes_over(addr: &str, group: &str, crash: bool) -> Duration {
    let a_ctx = Ctx::default();
    let a = member(addr, group, a_ctx.clone());
    a.subscribe(&[TOPIC]).expect("subscribe");
    poll_until(&a, || assigned(&a_ctx).is_some());
    let b_ctx = Ctx::default();
    let other = start_other(addr, group, crash, &b_ctx);
    // The second member has its share once the survivor holds fewer than all.
    poll_until(&a, || assigned(&a_ctx).is_some_and(|(_, n)| n < PARTITIONS));
    let t0 = Instant::now();
    match other {
        Other::Thread(stop, handle) => {
            *stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
            let _ = handle.join();
        }
        Other::Process(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    poll_until(&a, || assigned(&a_ctx).is_some_and(|(at, n)| at > t0 && n == PARTITIONS));
    let took = assigned(&a_ctx).map_or(Duration::MAX, |(at, _)| at.duration_since(t0));
    drop(a);
    took
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var("GREGOR_BENCH_MEMBER") {
        member_process(&spec);
        return;
    }
    let broker = common::start_broker();
    let addr = broker.addr.clone();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &addr).create().expect("admin");
    let topic = NewTopic::new(TOPIC, PARTITIONS as i32, TopicReplication::Fixed(1));
    let res = admin.create_topics(&[topic], &AdminOptions::new()).await.expect("create");
    assert!(res[0].is_ok(), "{res:?}");

    println!("group.initial.rebalance.delay.ms = 3000 (Kafka's default), {PARTITIONS} partitions, librdkafka");
    for run in 0..5 {
        let ctx = Ctx::default();
        let c = member(&addr, &format!("bench-new-{run}"), ctx.clone());
        let t0 = Instant::now();
        c.subscribe(&[TOPIC]).expect("subscribe");
        poll_until(&c, || assigned(&ctx).is_some());
        let took = assigned(&ctx).map_or(Duration::MAX, |(at, _)| at.duration_since(t0));
        let note = if run == 0 { " (creates __consumer_offsets)" } else { "" };
        println!("subscribe → first assignment, new group {run}: {}{note}", secs(took));
    }
    for run in 0..3 {
        let took = survivor_takes_over(&addr, &format!("bench-leave-{run}"), false);
        println!("member leaves (LeaveGroup) → survivor owns all {PARTITIONS}: {}", secs(took));
    }
    let took = survivor_takes_over(&addr, "bench-crash", true);
    println!("member dies (no LeaveGroup, session.timeout.ms=6000) → survivor owns all: {}", secs(took));
}
