//! Consumer groups end to end: our `Consumer::subscribe`, librdkafka group
//! consumers and `console-consumer --group` against a real broker. Members
//! split partitions and see every record once, groups are independent,
//! commits survive a close, and a killed member's partitions move to the
//! survivor after the session timeout. A plugged-in custom assignor gets user
//! data both ways, and its failure does not wedge the group.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord, NewTopic, Producer, ProducerConfig, ProducerRecord,
    RebalanceCallbacks,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message;

use crate::common::{gregor_bin, TestBroker};

const WAIT: Duration = Duration::from_secs(60);

/// A broker whose groups start rebalancing at once.
fn broker() -> TestBroker {
    TestBroker::start(&["group.initial.rebalance.delay.ms=0"])
}

async fn create(b: &TestBroker, topic: &str, partitions: i32) {
    let admin = Admin::connect(ClientConfig::new(b.bootstrap())).await.expect("admin");
    admin.create_topic(NewTopic::new(topic, partitions), false).await.expect("create topic");
}

/// Produces `values` spread over every partition (keys `k<i>`).
async fn produce(b: &TestBroker, topic: &str, values: impl IntoIterator<Item = String>) {
    let producer = Producer::new(ProducerConfig::new(b.bootstrap())).await.expect("producer");
    let mut pending = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let record = ProducerRecord::new(topic, v).key(format!("k{i}"));
        pending.push(producer.send(record).await.expect("send"));
    }
    for d in pending {
        d.await.expect("delivered");
    }
    producer.close().await.expect("close producer");
}

fn config(b: &TestBroker, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(b.bootstrap());
    for (k, v) in [
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        c.set(k, v).expect("property");
    }
    for (k, v) in extra {
        c.set(k, v).expect("property");
    }
    c
}

async fn subscribed(b: &TestBroker, group: &str, topic: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut c = Consumer::new(config(b, group, extra)).await.expect("consumer");
    c.subscribe(vec![topic.to_string()]).await.expect("subscribe");
    c
}

/// A consumer polling in its own task, as an application would.
struct Member {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ConsumerRecord>>>,
    assignment: Arc<Mutex<Vec<(String, i32)>>>,
    task: tokio::task::JoinHandle<Consumer>,
}

impl Member {
    fn run(mut consumer: Consumer) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let (s, r, a) = (stop.clone(), records.clone(), assignment.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Acquire) {
                let got = consumer.poll(Duration::from_millis(200)).await.expect("poll");
                r.lock().expect("records").extend(got);
                *a.lock().expect("assignment") = consumer.assignment();
            }
            consumer
        });
        Member { stop, records, assignment, task }
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        self.assignment.lock().expect("assignment").clone()
    }

    fn count(&self) -> usize {
        self.records.lock().expect("records").len()
    }

    async fn stop(self) -> (Consumer, Vec<ConsumerRecord>) {
        self.stop.store(true, Ordering::Release);
        let consumer = self.task.await.expect("member task");
        let records = self.records.lock().expect("records").clone();
        (consumer, records)
    }
}

/// Waits until `done` holds (or WAIT passed); returns whether it did.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()).collect()
}

fn expected(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every value exactly once.
fn assert_exactly_once(got: &[String], want: &BTreeSet<String>) {
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "duplicates among {} records", got.len());
    assert_eq!(&set, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_split_the_partitions_and_see_every_record_once() {
    let b = broker();
    create(&b, "split", 4).await;
    let a = Member::run(subscribed(&b, "g-split", "split", &[]).await);
    let c = Member::run(subscribed(&b, "g-split", "split", &[]).await);
    let balanced = until(|| {
        let (x, y) = (a.assignment(), c.assignment());
        let all: BTreeSet<_> = x.iter().chain(y.iter()).cloned().collect();
        x.len() == 2 && y.len() == 2 && all.len() == 4
    })
    .await;
    assert!(balanced, "assignments {:?} / {:?}", a.assignment(), c.assignment());
    produce(&b, "split", (0..200).map(|i| format!("split-{i}"))).await;
    assert!(until(|| a.count() + c.count() >= 200).await, "got {} + {}", a.count(), c.count());
    tokio::time::sleep(Duration::from_millis(500)).await; // anything extra would show up now
    let (ca, ra) = a.stop().await;
    let (cc, rc) = c.stop().await;
    let mut all = values(&ra);
    all.extend(values(&rc));
    assert_exactly_once(&all, &expected("split", 200));
    // Each member read only its own partitions, and both had some records.
    let pa: BTreeSet<i32> = ra.iter().map(|r| r.partition).collect();
    let pc: BTreeSet<i32> = rc.iter().map(|r| r.partition).collect();
    assert!(pa.is_disjoint(&pc), "{pa:?} / {pc:?}");
    assert!(!ra.is_empty() && !rc.is_empty());
    ca.close().await.expect("close");
    cc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_joining_later_takes_over_without_duplicates_cooperatively() {
    let b = broker();
    create(&b, "coop", 4).await;
    let props = [("partition.assignment.strategy", "cooperative-sticky")];
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let r2 = revoked.clone();
    let mut first = Consumer::new(config(&b, "g-coop", &props)).await.expect("consumer");
    first
        .subscribe_with_listener(
            vec!["coop".into()],
            RebalanceCallbacks::new().on_revoked(move |tps| r2.lock().expect("revoked").extend_from_slice(tps)),
        )
        .await
        .expect("subscribe");
    let a = Member::run(first);
    assert!(until(|| a.assignment().len() == 4).await, "first member alone gets all: {:?}", a.assignment());
    produce(&b, "coop", (0..100).map(|i| format!("coop-{i}"))).await;
    assert!(until(|| a.count() >= 100).await);
    let c = Member::run(subscribed(&b, "g-coop", "coop", &props).await);
    assert!(
        until(|| a.assignment().len() == 2 && c.assignment().len() == 2).await,
        "{:?} / {:?}",
        a.assignment(),
        c.assignment()
    );
    // Only the two partitions that moved were revoked from the first member.
    let moved: BTreeSet<(String, i32)> = revoked.lock().expect("revoked").iter().cloned().collect();
    assert_eq!(moved, c.assignment().into_iter().collect::<BTreeSet<_>>());
    produce(&b, "coop", (100..200).map(|i| format!("coop-{i}"))).await;
    assert!(until(|| a.count() + c.count() >= 200).await, "got {} + {}", a.count(), c.count());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ca, ra) = a.stop().await;
    let (cc, rc) = c.stop().await;
    let mut all = values(&ra);
    all.extend(values(&rc));
    assert_exactly_once(&all, &expected("coop", 200));
    ca.close().await.expect("close");
    cc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_groups_each_see_every_record() {
    let b = broker();
    create(&b, "fanout", 3).await;
    produce(&b, "fanout", (0..60).map(|i| format!("fanout-{i}"))).await;
    let x = Member::run(subscribed(&b, "g-x", "fanout", &[("partition.assignment.strategy", "roundrobin")]).await);
    let y = Member::run(subscribed(&b, "g-y", "fanout", &[]).await);
    assert!(until(|| x.count() >= 60 && y.count() >= 60).await, "{} / {}", x.count(), y.count());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cx, rx) = x.stop().await;
    let (cy, ry) = y.stop().await;
    assert_exactly_once(&values(&rx), &expected("fanout", 60));
    assert_exactly_once(&values(&ry), &expected("fanout", 60));
    cx.close().await.expect("close");
    cy.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_close_and_reopen_resumes_without_gap_or_duplicate() {
    let b = broker();
    create(&b, "resume", 2).await;
    produce(&b, "resume", (0..50).map(|i| format!("resume-{i}"))).await;
    // Auto commit on close.
    let mut first = subscribed(&b, "g-resume", "resume", &[]).await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 50 && Instant::now() < deadline {
        seen.extend(values(&first.poll(Duration::from_millis(200)).await.expect("poll")));
    }
    first.close().await.expect("close commits and leaves");
    produce(&b, "resume", (50..80).map(|i| format!("resume-{i}"))).await;
    // Manual commits this time.
    let mut second = subscribed(&b, "g-resume", "resume", &[("enable.auto.commit", "false")]).await;
    let deadline = Instant::now() + WAIT;
    while seen.len() < 80 && Instant::now() < deadline {
        seen.extend(values(&second.poll(Duration::from_millis(200)).await.expect("poll")));
    }
    second.commit_sync().await.expect("commit_sync");
    let tps = vec![("resume".to_string(), 0), ("resume".to_string(), 1)];
    let committed = second.committed(&tps).await.expect("committed");
    let total: i64 = committed.values().map(|o| o.expect("an offset was committed")).sum();
    assert_eq!(total, 80, "{committed:?}");
    second.close().await.expect("close");
    assert_exactly_once(&seen, &expected("resume", 80));

    // Manual assignment with a group.id starts from the committed offsets,
    // and commits with generation -1.
    let mut manual = Consumer::new(config(&b, "g-resume", &[("enable.auto.commit", "false")])).await.expect("consumer");
    manual.assign(tps.clone()).await.expect("assign");
    let mut explicit = BTreeMap::new();
    explicit.insert(("resume".to_string(), 0), 0i64);
    manual.commit_offsets(explicit).await.expect("commit outside the group");
    let after = manual.committed(&tps).await.expect("committed");
    assert_eq!(after[&("resume".to_string(), 0)], Some(0));
    assert_eq!(after[&("resume".to_string(), 1)], committed[&("resume".to_string(), 1)]);
    let mut again = Vec::new();
    let want = usize::try_from(committed[&("resume".to_string(), 0)].unwrap_or(0)).expect("offset");
    let deadline = Instant::now() + WAIT;
    while again.len() < want && Instant::now() < deadline {
        again.extend(manual.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    assert_eq!(again.len(), want, "partition 0 re-read from offset 0, partition 1 nothing new");
    assert!(again.iter().all(|r| r.partition == 0));
    manual.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_without_a_group_or_after_assign_is_refused() {
    let b = broker();
    create(&b, "refuse", 1).await;
    let mut plain = Consumer::new(ConsumerConfig::new(b.bootstrap())).await.expect("consumer");
    assert!(plain.subscribe(vec!["refuse".into()]).await.is_err());
    assert!(plain.commit_sync().await.is_ok(), "nothing to commit");
    let mut c = Consumer::new(config(&b, "g-refuse", &[])).await.expect("consumer");
    c.assign(vec![("refuse".into(), 0)]).await.expect("assign");
    assert!(c.subscribe(vec!["refuse".into()]).await.is_err());
}

/// `console-consumer --group` as a child process; its stdout lines come through a channel.
fn console_member(
    b: &TestBroker,
    topic: &str,
    group: &str,
    extra: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new(gregor_bin());
    cmd.args(["console-consumer", "--bootstrap-server", &b.bootstrap(), "--topic", topic, "--group", group])
        .args(["--consumer-property", "session.timeout.ms=6000", "--consumer-property", "heartbeat.interval.ms=500"])
        .args(["--consumer-property", "fetch.max.wait.ms=100"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn console-consumer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn console_run(b: &TestBroker, args: &[&str]) -> (Vec<String>, String) {
    let out = Command::new(gregor_bin())
        .args(["console-consumer", "--bootstrap-server", &b.bootstrap()])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run console-consumer");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn console_consumer_group_runs_resume_where_the_last_one_stopped() {
    let b = broker();
    create(&b, "cc", 1).await;
    produce(&b, "cc", (0..10).map(|i| format!("cc-{i}"))).await;
    let run = |n: &str| console_run(&b, &["--topic", "cc", "--group", "cg", "--from-beginning", "--max-messages", n]);
    let (first, _) = run("4");
    assert_eq!(first, (0..4).map(|i| format!("cc-{i}")).collect::<Vec<_>>());
    // --from-beginning does not apply once the group committed an offset.
    let (second, _) = run("4");
    assert_eq!(second, (4..8).map(|i| format!("cc-{i}")).collect::<Vec<_>>());
    let (third, err) = console_run(&b, &["--topic", "cc", "--group", "cg", "--from-beginning", "--timeout-ms", "4000"]);
    assert_eq!(third, vec!["cc-8".to_string(), "cc-9".to_string()]);
    assert!(err.contains("Processed a total of 2 messages"), "{err}");
    // A group given in --consumer.config works the same.
    let dir = tempfile::tempdir().expect("tempdir");
    let props = dir.path().join("consumer.properties");
    std::fs::write(&props, "group.id=cg\n").expect("write properties");
    produce(&b, "cc", ["cc-10".to_string()]).await;
    let (fourth, _) =
        console_run(&b, &["--topic", "cc", "--consumer.config", props.to_str().expect("path"), "--max-messages", "1"]);
    assert_eq!(fourth, vec!["cc-10".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_commits_and_leaves() {
    let b = broker();
    create(&b, "sigint", 1).await;
    produce(&b, "sigint", (0..5).map(|i| format!("sigint-{i}"))).await;
    let (mut child, lines) = console_member(&b, "sigint", "g-sigint", &["--from-beginning"]);
    let mut got = Vec::new();
    while got.len() < 5 {
        got.push(lines.recv_timeout(WAIT).expect("a line from console-consumer"));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(130));
    let mut c = Consumer::new(config(&b, "g-sigint", &[])).await.expect("consumer");
    let committed = c.committed(&[("sigint".to_string(), 0)]).await.expect("committed");
    assert_eq!(committed[&("sigint".to_string(), 0)], Some(5));
    // It left: a new member gets the partition at once, without waiting out a session.
    c.subscribe(vec!["sigint".into()]).await.expect("subscribe");
    let mut polls = 0;
    while c.assignment().is_empty() && polls < 100 {
        assert!(c.poll(Duration::from_millis(200)).await.expect("poll").is_empty(), "nothing new to read");
        polls += 1;
    }
    assert_eq!(c.assignment(), vec![("sigint".to_string(), 0)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_member_hands_its_partitions_to_the_survivor() {
    let b = broker();
    create(&b, "failover", 2).await;
    let (mut child, _lines) = console_member(&b, "failover", "g-failover", &[]);
    let survivor = Member::run(subscribed(&b, "g-failover", "failover", &[]).await);
    assert!(
        until(|| survivor.assignment().len() == 1).await,
        "the console consumer and the survivor share the partitions: {:?}",
        survivor.assignment()
    );
    child.kill().expect("kill -9");
    let _ = child.wait();
    produce(&b, "failover", (0..40).map(|i| format!("failover-{i}"))).await;
    assert!(
        until(|| survivor.assignment().len() == 2 && survivor.count() >= 40).await,
        "after the session timeout the survivor owns both: {:?}, {} records",
        survivor.assignment(),
        survivor.count()
    );
    let (c, records) = survivor.stop().await;
    assert_exactly_once(&values(&records), &expected("failover", 40));
    c.close().await.expect("close");
}

fn rdkafka_member(b: &TestBroker, group: &str, topic: &str) -> BaseConsumer {
    rdkafka_member_with(b, group, topic, &[])
}

fn rdkafka_member_with(b: &TestBroker, group: &str, topic: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = rdkafka::ClientConfig::new();
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let c: BaseConsumer = config
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("rdkafka consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// Polls librdkafka consumers round-robin (each poll also serves its group
/// duties) until `total` messages arrived; returns each one's values.
fn rdkafka_read(members: &[&BaseConsumer], total: usize) -> Vec<Vec<(i32, String)>> {
    let mut out = vec![Vec::new(); members.len()];
    let deadline = Instant::now() + WAIT;
    while out.iter().map(Vec::len).sum::<usize>() < total && Instant::now() < deadline {
        for (i, c) in members.iter().enumerate() {
            if let Some(m) = c.poll(Duration::from_millis(50)) {
                let m = m.expect("message");
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                out[i].push((m.partition(), v));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_members_split_partitions_and_commits_carry_over() {
    let b = broker();
    create(&b, "rdk", 4).await;
    let x = rdkafka_member(&b, "g-rdk", "rdk");
    let y = rdkafka_member(&b, "g-rdk", "rdk");
    // Both must hold partitions before records arrive.
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = x.poll(Duration::from_millis(50));
        let _ = y.poll(Duration::from_millis(50));
        let (ax, ay) = (x.assignment().expect("assignment").count(), y.assignment().expect("assignment").count());
        if ax == 2 && ay == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "librdkafka members never split the partitions: {ax} / {ay}");
    }
    produce(&b, "rdk", (0..100).map(|i| format!("rdk-{i}"))).await;
    let got = rdkafka_read(&[&x, &y], 100);
    let px: BTreeSet<i32> = got[0].iter().map(|(p, _)| *p).collect();
    let py: BTreeSet<i32> = got[1].iter().map(|(p, _)| *p).collect();
    assert!(px.is_disjoint(&py), "{px:?} / {py:?}");
    let all: Vec<String> = got.iter().flatten().map(|(_, v)| v.clone()).collect();
    assert_exactly_once(&all, &expected("rdk", 100));
    x.commit_consumer_state(CommitMode::Sync).expect("commit");
    y.commit_consumer_state(CommitMode::Sync).expect("commit");
    drop(x);
    drop(y);
    // Our consumer in the same group resumes after librdkafka's commits.
    produce(&b, "rdk", (100..120).map(|i| format!("rdk-{i}"))).await;
    let ours = Member::run(subscribed(&b, "g-rdk", "rdk", &[]).await);
    assert!(until(|| ours.count() >= 20).await, "{}", ours.count());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (c, records) = ours.stop().await;
    let want: BTreeSet<String> = (100..120).map(|i| format!("rdk-{i}")).collect();
    assert_exactly_once(&values(&records), &want);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_consumer_and_librdkafka_share_one_group() {
    let b = broker();
    create(&b, "mixed", 4).await;
    // Common protocol: range (ours: range,cooperative-sticky; librdkafka: range,roundrobin).
    let ours = Member::run(subscribed(&b, "g-mixed", "mixed", &[]).await);
    assert!(until(|| ours.assignment().len() == 4).await);
    let theirs = rdkafka_member(&b, "g-mixed", "mixed");
    wait_for_split(&ours, &theirs, 2);
    produce(&b, "mixed", (0..80).map(|i| format!("mixed-{i}"))).await;
    read_between(ours, &theirs, "mixed", 80).await;
}

/// Polls the librdkafka member until it and ours hold `each` partitions apiece.
fn wait_for_split(ours: &Member, theirs: &BaseConsumer, each: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = theirs.poll(Duration::from_millis(100));
        let n = theirs.assignment().expect("assignment").count();
        if n == each && ours.assignment().len() == each {
            return;
        }
        assert!(Instant::now() < deadline, "no split: ours {:?}, librdkafka {n}", ours.assignment());
    }
}

/// Reads `<prefix>-0..total` with both members; both get some, together every one once.
async fn read_between(ours: Member, theirs: &BaseConsumer, prefix: &str, total: usize) {
    let mut theirs_got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while ours.count() + theirs_got.len() < total && Instant::now() < deadline {
        if let Some(m) = theirs.poll(Duration::from_millis(100)) {
            let m = m.expect("message");
            theirs_got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    let (c, records) = ours.stop().await;
    let mut all = values(&records);
    assert!(!all.is_empty() && !theirs_got.is_empty());
    all.extend(theirs_got);
    assert_exactly_once(&all, &expected(prefix, total));
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribing_before_the_topic_exists_picks_it_up_once_created() {
    let b = broker();
    let member = Member::run(subscribed(&b, "g-later", "later", &[]).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(member.assignment().is_empty(), "no topic, no partitions: {:?}", member.assignment());
    create(&b, "later", 2).await;
    produce(&b, "later", (0..20).map(|i| format!("later-{i}"))).await;
    assert!(
        until(|| member.assignment().len() == 2 && member.count() >= 20).await,
        "{:?}, {} records",
        member.assignment(),
        member.count()
    );
    let (c, records) = member.stop().await;
    assert_exactly_once(&values(&records), &expected("later", 20));
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_member_that_restarts_gets_its_partitions_back() {
    let b = broker();
    create(&b, "static", 4).await;
    let props_a = [("group.instance.id", "instance-a")];
    let props_b = [("group.instance.id", "instance-b")];
    let a = Member::run(subscribed(&b, "g-static", "static", &props_a).await);
    let other = Member::run(subscribed(&b, "g-static", "static", &props_b).await);
    assert!(
        until(|| a.assignment().len() == 2 && other.assignment().len() == 2).await,
        "{:?} / {:?}",
        a.assignment(),
        other.assignment()
    );
    let before = a.assignment();
    let (ca, _) = a.stop().await;
    ca.close().await.expect("close without leaving");
    // Back within the session timeout under the same instance id.
    let again = Member::run(subscribed(&b, "g-static", "static", &props_a).await);
    assert!(until(|| !again.assignment().is_empty()).await, "the restarted member got nothing");
    assert_eq!(again.assignment(), before, "a static member keeps its partitions");
    assert_eq!(other.assignment().len(), 2);
    let (c1, _) = again.stop().await;
    let (c2, _) = other.stop().await;
    c1.close().await.expect("close");
    c2.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_sticky_with_librdkafka_in_the_same_group() {
    let b = broker();
    create(&b, "coop-mixed", 6).await;
    let strategy = [("partition.assignment.strategy", "cooperative-sticky")];
    let ours = Member::run(subscribed(&b, "g-coop-mixed", "coop-mixed", &strategy).await);
    assert!(until(|| ours.assignment().len() == 6).await);
    let before: BTreeSet<(String, i32)> = ours.assignment().into_iter().collect();
    let theirs = rdkafka_member_with(&b, "g-coop-mixed", "coop-mixed", &strategy);
    wait_for_split(&ours, &theirs, 3);
    // Ours kept three of the partitions it had and gave up the others.
    assert!(ours.assignment().iter().all(|tp| before.contains(tp)));
    produce(&b, "coop-mixed", (0..90).map(|i| format!("cm-{i}"))).await;
    read_between(ours, &theirs, "cm", 90).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eager_sticky_keeps_partitions_with_their_owners_across_a_rebalance() {
    let b = broker();
    create(&b, "sticky", 6).await;
    let props = [("partition.assignment.strategy", "org.apache.kafka.clients.consumer.StickyAssignor")];
    let a = Member::run(subscribed(&b, "g-sticky", "sticky", &props).await);
    let c = Member::run(subscribed(&b, "g-sticky", "sticky", &props).await);
    assert!(until(|| a.assignment().len() == 3 && c.assignment().len() == 3).await);
    let (before_a, before_c) = (a.assignment(), c.assignment());
    let d = Member::run(subscribed(&b, "g-sticky", "sticky", &props).await);
    assert!(
        until(|| a.assignment().len() == 2 && c.assignment().len() == 2 && d.assignment().len() == 2).await,
        "{:?} / {:?} / {:?}",
        a.assignment(),
        c.assignment(),
        d.assignment()
    );
    assert!(a.assignment().iter().all(|tp| before_a.contains(tp)), "{before_a:?} -> {:?}", a.assignment());
    assert!(c.assignment().iter().all(|tp| before_c.contains(tp)), "{before_c:?} -> {:?}", c.assignment());
    for m in [a, c, d] {
        let (consumer, _) = m.stop().await;
        consumer.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_that_stops_polling_leaves_and_rejoins_when_it_polls_again() {
    let b = broker();
    create(&b, "slow", 2).await;
    let props = [("max.poll.interval.ms", "2000")];
    let lost = Arc::new(Mutex::new(Vec::new()));
    let l2 = lost.clone();
    let mut slow = Consumer::new(config(&b, "g-slow", &props)).await.expect("consumer");
    slow.subscribe_with_listener(
        vec!["slow".into()],
        RebalanceCallbacks::new().on_lost(move |tps| l2.lock().expect("lost").extend_from_slice(tps)),
    )
    .await
    .expect("subscribe");
    let busy = Member::run(subscribed(&b, "g-slow", "slow", &props).await);
    // Poll the slow member until the two share the partitions.
    let deadline = Instant::now() + WAIT;
    while !(slow.assignment().len() == 1 && busy.assignment().len() == 1) {
        slow.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(Instant::now() < deadline, "{:?} / {:?}", slow.assignment(), busy.assignment());
    }
    // Now it does not poll for longer than max.poll.interval.ms: it leaves
    // and the busy member takes everything.
    assert!(until(|| busy.assignment().len() == 2).await, "{:?}", busy.assignment());
    // Its next poll finds it out of the group: partitions lost, then it joins again.
    slow.poll(Duration::from_millis(100)).await.expect("poll");
    assert_eq!(lost.lock().expect("lost").len(), 1, "the partition it held was reported lost");
    let deadline = Instant::now() + WAIT;
    while slow.assignment().len() != 1 {
        slow.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(Instant::now() < deadline, "never rejoined: {:?}", slow.assignment());
    }
    assert!(until(|| busy.assignment().len() == 1).await);
    let (c, _) = busy.stop().await;
    c.close().await.expect("close");
    slow.close().await.expect("close");
}

/// The group's coordinator broker dies: the member finds the new coordinator,
/// keeps its place (or rejoins) and goes on reading; nothing is skipped and
/// its commits land on the new coordinator.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_follows_its_coordinator_to_another_broker() {
    let zk = crate::common::zk::TestZk::start();
    let mut brokers = crate::common::group_cluster(&zk);
    let all: Vec<String> = brokers.iter().map(TestBroker::bootstrap).collect();
    let bootstrap = all.join(",");
    let admin = Admin::connect(ClientConfig::new(bootstrap.clone())).await.expect("admin");
    let mut topic = NewTopic::new("moving", 3);
    topic.replication_factor = 3;
    admin.create_topic(topic, false).await.expect("create topic");
    let mut pconfig = ProducerConfig::new(bootstrap.clone());
    pconfig.set("acks", "all").expect("acks");
    let producer = Producer::new(pconfig).await.expect("producer");
    let send = |range: std::ops::Range<usize>| {
        let producer = &producer;
        async move {
            for i in range {
                let record = ProducerRecord::new("moving", format!("moving-{i}")).key(format!("k{i}"));
                producer.send(record).await.expect("send").await.expect("delivered");
            }
        }
    };
    send(0..30).await;

    let mut config = ConsumerConfig::new(bootstrap.clone());
    for (k, v) in [
        ("group.id", "g-moving"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("auto.commit.interval.ms", "200"),
    ] {
        config.set(k, v).expect("property");
    }
    let mut c = Consumer::new(config).await.expect("consumer");
    c.subscribe(vec!["moving".into()]).await.expect("subscribe");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 30 && Instant::now() < deadline {
        seen.extend(values(&c.poll(Duration::from_millis(200)).await.expect("poll")));
    }
    assert_eq!(seen.len(), 30);
    c.commit_sync().await.expect("commit before the kill");
    let victim = admin.find_group_coordinator("g-moving").await.expect("coordinator").id;
    brokers[usize::try_from(victim).expect("broker id")].kill();

    send(30..60).await;
    let deadline = Instant::now() + WAIT;
    while seen.len() < 60 && Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)).await {
            Ok(records) => seen.extend(values(&records)),
            Err(err) => panic!("poll after the coordinator died: {err}"),
        }
    }
    assert_eq!(seen, expected("moving", 60), "every record, none skipped");
    // Commits reach the new coordinator.
    let deadline = Instant::now() + WAIT;
    loop {
        match c.commit_sync().await {
            Ok(()) => break,
            Err(err) => assert!(Instant::now() < deadline, "no commit after the failover: {err}"),
        }
        c.poll(Duration::from_millis(200)).await.expect("poll");
    }
    let tps: Vec<(String, i32)> = (0..3).map(|p| ("moving".to_string(), p)).collect();
    let committed = c.committed(&tps).await.expect("committed");
    let total: i64 = committed.values().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 60, "{committed:?}");
    assert_ne!(admin.find_group_coordinator("g-moving").await.expect("coordinator").id, victim);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_task_can_drive_two_members_because_poll_keeps_its_timeout() {
    let b = broker();
    create(&b, "alternate", 2).await;
    let mut x = subscribed(&b, "g-alternate", "alternate", &[]).await;
    let mut y = subscribed(&b, "g-alternate", "alternate", &[]).await;
    let deadline = Instant::now() + WAIT;
    while !(x.assignment().len() == 1 && y.assignment().len() == 1) {
        // While one member's JoinGroup waits for the other, its poll must
        // still return so that the other gets polled and joins.
        let started = Instant::now();
        x.poll(Duration::from_millis(100)).await.expect("poll x");
        y.poll(Duration::from_millis(100)).await.expect("poll y");
        assert!(started.elapsed() < Duration::from_secs(5), "a poll blocked for {:?}", started.elapsed());
        assert!(Instant::now() < deadline, "{:?} / {:?}", x.assignment(), y.assignment());
    }
    x.close().await.expect("close");
    y.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_subscription_rebalances_onto_the_new_topics() {
    let b = broker();
    create(&b, "first", 1).await;
    create(&b, "second", 2).await;
    let mut c = subscribed(&b, "g-resubscribe", "first", &[]).await;
    // Change it while the first join may still be under way, and again after.
    c.poll(Duration::from_millis(1)).await.expect("poll");
    c.subscribe(vec!["first".into(), "second".into()]).await.expect("resubscribe");
    let deadline = Instant::now() + WAIT;
    while c.assignment().len() != 3 {
        c.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(Instant::now() < deadline, "{:?}", c.assignment());
    }
    c.subscribe(vec!["second".into()]).await.expect("resubscribe");
    assert_eq!(c.subscription(), vec!["second".to_string()]);
    let deadline = Instant::now() + WAIT;
    while c.assignment() != vec![("second".to_string(), 0), ("second".to_string(), 1)] {
        c.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(Instant::now() < deadline, "{:?}", c.assignment());
    }
    c.unsubscribe().await.expect("unsubscribe");
    assert!(c.assignment().is_empty());
    assert!(c.subscription().is_empty());
    c.assign(vec![("first".into(), 0)]).await.expect("assign after unsubscribe");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_members_restart_causes_no_rebalance() {
    let b = broker();
    create(&b, "static2", 4).await;
    let mut a = subscribed(&b, "g-static2", "static2", &[("group.instance.id", "ia")]).await;
    let mut o = subscribed(&b, "g-static2", "static2", &[("group.instance.id", "ib")]).await;
    let deadline = Instant::now() + WAIT;
    while !(a.assignment().len() == 2 && o.assignment().len() == 2) {
        let _ = tokio::join!(a.poll(Duration::from_millis(100)), o.poll(Duration::from_millis(100)));
        assert!(Instant::now() < deadline);
    }
    let gen_before = o.generation();
    let member_before = a.member_id();
    a.close().await.expect("close");
    let mut a2 = subscribed(&b, "g-static2", "static2", &[("group.instance.id", "ia")]).await;
    let deadline = Instant::now() + WAIT;
    while a2.assignment().is_empty() {
        let _ = tokio::join!(a2.poll(Duration::from_millis(100)), o.poll(Duration::from_millis(100)));
        assert!(Instant::now() < deadline);
    }
    for _ in 0..20 {
        let _ = tokio::join!(a2.poll(Duration::from_millis(100)), o.poll(Duration::from_millis(100)));
    }
    // It did not leave, so the group did not rebalance: same generation, and
    // the restarted member took its old place under a new member id.
    assert_eq!(o.generation(), gen_before);
    assert_eq!(a2.generation(), gen_before);
    assert_ne!(a2.member_id(), member_before);
    assert_eq!(a2.assignment().len() + o.assignment().len(), 4);
    a2.close().await.expect("close");
    o.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn members_joining_and_leaving_mid_stream_lose_and_repeat_nothing() {
    mid_stream(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cooperative_members_joining_and_leaving_mid_stream_lose_and_repeat_nothing() {
    mid_stream(&[("partition.assignment.strategy", "cooperative-sticky")]).await;
}

/// One member reads a topic being written; a second joins; the first
/// leaves; every record is read exactly once by the two together.
async fn mid_stream(props: &[(&str, &str)]) {
    let b = broker();
    create(&b, "stream", 6).await;
    let producer_broker = b.bootstrap();
    let writer = tokio::spawn(async move {
        let producer = Producer::new(ProducerConfig::new(producer_broker)).await.expect("producer");
        for i in 0..600 {
            let record = ProducerRecord::new("stream", format!("stream-{i}")).key(format!("k{i}"));
            producer.send(record).await.expect("send").await.expect("delivered");
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        producer.close().await.expect("close producer");
    });
    let a = Member::run(subscribed(&b, "g-stream", "stream", props).await);
    assert!(until(|| a.count() > 0).await);
    let c = Member::run(subscribed(&b, "g-stream", "stream", props).await);
    assert!(until(|| c.count() > 0).await, "the second member never read: {:?}", c.assignment());
    // The first one leaves while records still flow (close commits first).
    let (ca, ra) = a.stop().await;
    ca.close().await.expect("close");
    writer.await.expect("writer");
    assert!(until(|| ra.len() + c.count() >= 600).await, "{} + {}", ra.len(), c.count());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cc, rc) = c.stop().await;
    let mut all = values(&ra);
    all.extend(values(&rc));
    assert_exactly_once(&all, &expected("stream", 600));
    cc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_subscription_follows_the_matching_topics() {
    let b = broker();
    create(&b, "metrics-cpu", 2).await;
    create(&b, "metrics-disk", 1).await;
    create(&b, "logs", 1).await;
    produce(&b, "metrics-cpu", (0..10).map(|i| format!("cpu-{i}"))).await;
    produce(&b, "metrics-disk", (0..5).map(|i| format!("disk-{i}"))).await;
    produce(&b, "logs", (0..5).map(|i| format!("log-{i}"))).await;
    // The console consumer's --include (Kafka's --whitelist) with a generated group.
    let (lines, _) = console_run(&b, &["--include", "metrics-.*", "--from-beginning", "--max-messages", "15"]);
    let mut want = expected("cpu", 10);
    want.extend(expected("disk", 5));
    assert_exactly_once(&lines, &want);
    // A topic created later joins the subscription at the next metadata refresh.
    let mut c = Consumer::new(config(&b, "g-pattern", &[("metadata.max.age.ms", "500")])).await.expect("consumer");
    c.subscribe_pattern("metrics-.*").await.expect("subscribe");
    assert_eq!(c.subscription(), ["metrics-cpu", "metrics-disk"]);
    let member = Member::run(c);
    assert!(until(|| member.count() >= 15).await, "{} records", member.count());
    create(&b, "metrics-net", 1).await;
    produce(&b, "metrics-net", (0..3).map(|i| format!("net-{i}"))).await;
    assert!(until(|| member.count() >= 18).await, "{} records", member.count());
    let (c, records) = member.stop().await;
    want.extend(expected("net", 3));
    assert_exactly_once(&values(&records), &want);
    assert!(c.subscription().contains(&"metrics-net".to_string()));
    assert!(!c.subscription().contains(&"logs".to_string()));
    c.close().await.expect("close");
    // A pattern that is not a regular expression is refused.
    let mut bad = Consumer::new(config(&b, "g-bad", &[])).await.expect("consumer");
    assert!(bad.subscribe_pattern("metrics-(").await.is_err());
}

/// A tiny plugged-in assignor: every partition goes to the member whose
/// subscription user data says "leader-wanted"; each member's assignment user
/// data names it and lists the tags the leader saw. Optionally fails its first
/// `assign` call.
struct WantedAssignor {
    tag: &'static str,
    fail_first: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<(gregor::client::MemberAssignment, i32)>>>,
}

impl WantedAssignor {
    fn new(tag: &'static str, fail_first: Arc<AtomicBool>) -> Arc<WantedAssignor> {
        Arc::new(WantedAssignor { tag, fail_first, received: Arc::new(Mutex::new(Vec::new())) })
    }

    /// The last assignment handed to `on_assignment`, with its generation.
    fn last(&self) -> Option<(gregor::client::MemberAssignment, i32)> {
        self.received.lock().expect("received").last().cloned()
    }
}

impl gregor::client::CustomAssignor for WantedAssignor {
    fn name(&self) -> String {
        "wanted".into()
    }

    fn subscription_user_data(&self) -> Option<bytes::Bytes> {
        Some(bytes::Bytes::from_static(self.tag.as_bytes()))
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[gregor::client::MemberSubscription],
    ) -> Result<BTreeMap<String, gregor::client::MemberAssignment>, gregor::client::ClientError> {
        if self.fail_first.swap(false, Ordering::AcqRel) {
            return Err(gregor::client::ClientError::Config("boom: the test assignor refuses once".into()));
        }
        let mut tags: Vec<String> =
            members.iter().map(|m| String::from_utf8_lossy(m.user_data.as_deref().unwrap_or(b"none")).into()).collect();
        tags.sort();
        let all: Vec<(String, i32)> =
            partitions.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
        Ok(members
            .iter()
            .map(|m| {
                let wanted = m.user_data.as_deref() == Some(b"leader-wanted".as_slice());
                let user_data = format!("to:{};saw:{}", m.member_id, tags.join(","));
                let a = gregor::client::MemberAssignment {
                    partitions: if wanted { all.clone() } else { Vec::new() },
                    user_data: Some(bytes::Bytes::from(user_data)),
                };
                (m.member_id.clone(), a)
            })
            .collect())
    }

    fn on_assignment(&self, assignment: &gregor::client::MemberAssignment, generation: i32) {
        self.received.lock().expect("received").push((assignment.clone(), generation));
    }
}

async fn custom_member(b: &TestBroker, group: &str, topic: &str, assignor: Arc<WantedAssignor>) -> Consumer {
    let mut config = config(b, group, &[]);
    config.custom_assignor = Some(assignor);
    let mut c = Consumer::new(config).await.expect("consumer");
    c.subscribe(vec![topic.to_string()]).await.expect("subscribe");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_assignor_gets_user_data_both_ways() {
    let b = broker();
    create(&b, "custom", 3).await;
    let no_failure = Arc::new(AtomicBool::new(false));
    let (other, wanted) =
        (WantedAssignor::new("other", no_failure.clone()), WantedAssignor::new("leader-wanted", no_failure));
    let x = Member::run(custom_member(&b, "g-custom", "custom", other.clone()).await);
    let y = Member::run(custom_member(&b, "g-custom", "custom", wanted.clone()).await);
    let settled = until(|| {
        let both = matches!((other.last(), wanted.last()), (Some(a), Some(b)) if a.1 == b.1
            && a.0.user_data.as_deref().is_some_and(|d| d.ends_with(b"saw:leader-wanted,other"))
            && b.0.user_data.as_deref().is_some_and(|d| d.ends_with(b"saw:leader-wanted,other")));
        both && y.assignment().len() == 3 && x.assignment().is_empty()
    })
    .await;
    assert!(
        settled,
        "on_assignment: {:?} / {:?}; assignments {:?} / {:?}",
        other.last(),
        wanted.last(),
        x.assignment(),
        y.assignment()
    );
    // The leader's user data reached each member, addressed to it.
    let (mine, generation) = wanted.last().expect("assigned");
    assert!(generation >= 1, "generation {generation}");
    assert_eq!(mine.partitions, vec![("custom".to_string(), 0), ("custom".to_string(), 1), ("custom".to_string(), 2)]);
    assert!(other.last().expect("assigned").0.partitions.is_empty());
    produce(&b, "custom", (0..30).map(|i| format!("custom-{i}"))).await;
    assert!(until(|| y.count() >= 30).await, "got {}", y.count());
    let (cx, rx) = x.stop().await;
    let (cy, ry) = y.stop().await;
    assert!(rx.is_empty(), "the unwanted member read {} records", rx.len());
    assert_exactly_once(&values(&ry), &expected("custom", 30));
    // Each member saw its own member id in the assignment's user data.
    for (c, a) in [(&cx, &other), (&cy, &wanted)] {
        let data = a.last().expect("assigned").0.user_data.expect("user data");
        assert!(data.starts_with(format!("to:{};", c.member_id()).as_bytes()), "{data:?} for {}", c.member_id());
    }
    cx.close().await.expect("close");
    cy.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_custom_assignor_fails_the_leaders_poll_and_the_group_recovers() {
    let b = broker();
    create(&b, "custom-fail", 2).await;
    // Whichever member leads fails its first assignment.
    let fail_first = Arc::new(AtomicBool::new(true));
    let (other, wanted) =
        (WantedAssignor::new("other", fail_first.clone()), WantedAssignor::new("leader-wanted", fail_first));
    let mut x = custom_member(&b, "g-custom-fail", "custom-fail", other.clone()).await;
    let mut y = custom_member(&b, "g-custom-fail", "custom-fail", wanted.clone()).await;
    let mut errors = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !(y.assignment().len() == 2
        && x.assignment().is_empty()
        && other.last().is_some_and(|a| a.0.user_data.is_some()))
    {
        for c in [&mut x, &mut y] {
            if let Err(e) = c.poll(Duration::from_millis(100)).await {
                errors.push(e);
            }
        }
        assert!(Instant::now() < deadline, "errors {errors:?}; {:?} / {:?}", x.assignment(), y.assignment());
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], gregor::client::ClientError::Assignor { .. }), "{:?}", errors[0]);
    let msg = errors[0].to_string();
    assert!(msg.contains("'wanted' assignor failed") && msg.contains("boom"), "{msg}");
    x.close().await.expect("close");
    y.close().await.expect("close");
}
