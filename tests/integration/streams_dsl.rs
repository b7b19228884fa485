//! DSL topologies run by `KafkaStreams` against a real broker: every join
//! kind (stream–table, windowed stream–stream, table–table, stream–global), and a windowed
//! count fed out-of-order and late records. The operators' finer semantics
//! are unit-tested with the TopologyTestDriver; these check that what the
//! DSL builds (repartition-free co-partitioned joins, window stores with
//! their changelogs, windowed output keys) runs on real topics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gregor::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord, SeekTo,
};
use gregor::streams::dsl::{
    Consumed, Grouped, JoinWindows, Joined, Materialized, Produced, StreamJoined, StreamsBuilder, TimeWindows,
    WindowedSerdes,
};
use gregor::streams::runtime::{KafkaStreams, State, StreamsConfig};
use gregor::streams::serde::Serdes;

use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(120);

fn broker() -> TestBroker {
    TestBroker::start(&["group.initial.rebalance.delay.ms=0"])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn config(broker: &TestBroker, app: &str, state_dir: &std::path::Path) -> StreamsConfig {
    let props: BTreeMap<String, String> = [
        ("application.id", app.to_string()),
        ("bootstrap.servers", broker.bootstrap()),
        ("state.dir", state_dir.display().to_string()),
        ("commit.interval.ms", "100".to_string()),
        ("cache.max.bytes.buffering", "0".to_string()),
        ("poll.ms", "50".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    StreamsConfig::from_props(props).expect("config")
}

async fn create_topics(broker: &TestBroker, topics: &[(&str, i32)]) {
    let admin = Admin::connect(ClientConfig::new(broker.bootstrap())).await.expect("admin");
    for (name, partitions) in topics {
        admin.create_topic(NewTopic::new(*name, *partitions), false).await.expect("create topic");
    }
}

/// Writes (key, value, timestamp) string records, keyed, and waits for them.
async fn produce(broker: &TestBroker, topic: &str, records: &[(&str, &str, i64)]) {
    let producer = Producer::new(ProducerConfig::new(broker.bootstrap())).await.expect("producer");
    for (k, v, ts) in records {
        let r = ProducerRecord::new(topic, v.as_bytes().to_vec()).key(k.to_string()).timestamp(*ts);
        producer.send(r).await.expect("send").await.expect("delivered");
    }
    producer.close().await.expect("close");
}

/// Reads raw (key, value) records of every partition of `topic` until
/// `count` arrived, then a little longer to see that no more come.
async fn read(broker: &TestBroker, topic: &str, count: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut c = ConsumerConfig::new(broker.bootstrap());
    c.set("fetch.max.wait.ms", "100").expect("wait");
    let mut consumer = Consumer::new(c).await.expect("consumer");
    let parts = consumer.partitions_for(topic).await.expect("partitions");
    consumer.assign(parts.iter().map(|p| (topic.to_string(), *p)).collect()).await.expect("assign");
    for p in &parts {
        consumer.seek(topic, *p, SeekTo::Beginning).await.expect("seek");
    }
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < count {
        assert!(Instant::now() < deadline, "{topic}: {} of {count} records", out.len());
        for r in consumer.poll(Duration::from_millis(300)).await.expect("poll") {
            out.push((r.key.map(|k| k.to_vec()).unwrap_or_default(), r.value.map(|v| v.to_vec()).unwrap_or_default()));
        }
    }
    for _ in 0..3 {
        for r in consumer.poll(Duration::from_millis(300)).await.expect("poll") {
            out.push((r.key.map(|k| k.to_vec()).unwrap_or_default(), r.value.map(|v| v.to_vec()).unwrap_or_default()));
        }
    }
    out
}

fn strings(records: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = records
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).expect("utf8"), String::from_utf8(v).expect("utf8")))
        .collect();
    out.sort();
    out
}

#[test]
fn stream_table_and_windowed_stream_stream_joins_run_on_real_topics() {
    let b = broker();
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    rt.block_on(async {
        create_topics(
            &b,
            &[
                ("users", 2),
                ("clicks", 2),
                ("enriched", 2),
                ("views", 2),
                ("ads", 2),
                ("matched", 1),
                ("plans", 2),
                ("user-plans", 1),
                ("regions", 1),
                ("orders", 2),
                ("orders-named", 1),
            ],
        )
        .await;
        let s = Serdes::string();
        let builder = StreamsBuilder::new();
        let users = builder.table("users", Consumed::with(s.clone(), s.clone()), Materialized::as_store("users-store"));
        let clicks = builder.stream(&["clicks"], Consumed::with(s.clone(), s.clone()));
        clicks
            .left_join_table(
                &users,
                |click: &String, region: Option<&String>| format!("{click}@{}", region.map_or("?", |r| r.as_str())),
                Joined::with(s.clone(), s.clone(), s.clone()),
            )
            .to("enriched", Produced::with(s.clone(), s.clone()));
        let views = builder.stream(&["views"], Consumed::with(s.clone(), s.clone()));
        let ads = builder.stream(&["ads"], Consumed::with(s.clone(), s.clone()));
        views
            .join(
                &ads,
                |v: &String, a: &String| format!("{v}+{a}"),
                JoinWindows::of_time_difference_without_grace(Duration::from_secs(10)),
                StreamJoined::with(s.clone(), s.clone(), s.clone()),
            )
            .to("matched", Produced::with(s.clone(), s.clone()));
        // Table–table: a user's region beside their plan, once both are known.
        let plans = builder.table("plans", Consumed::with(s.clone(), s.clone()), Materialized::as_store("plans-store"));
        users
            .join(&plans, |region: &String, plan: &String| format!("{region}/{plan}"))
            .to_stream()
            .to("user-plans", Produced::with(s.clone(), s.clone()));
        // Stream–global table: any key, looked up by a field of the value.
        let regions =
            builder.global_table("regions", Consumed::with(s.clone(), s.clone()), Materialized::as_store("regions"));
        builder
            .stream(&["orders"], Consumed::with(s.clone(), s.clone()))
            .join_global(
                &regions,
                |_order: &String, code: &String| code.clone(),
                |code: &String, name: &String| format!("{code}:{name}"),
            )
            .to("orders-named", Produced::with(s.clone(), s.clone()));
        let topology = builder.build().expect("topology");

        let t0 = now_ms() - 60_000;
        produce(&b, "users", &[("u1", "eu", t0), ("u2", "us", t0)]).await;
        // The global table is filled before the stream threads start.
        produce(&b, "regions", &[("eu", "Europe", t0), ("us", "United States", t0)]).await;
        let app = KafkaStreams::new(topology, config(&b, "joins", dir.path())).expect("app");
        app.start().await.expect("start");
        assert!(app.wait_for_state(State::Running, WAIT).await, "state {}", app.state());
        // The table is loaded (its changelog has both users) before clicks arrive.
        read(&b, "joins-users-store-changelog", 2).await;
        produce(&b, "clicks", &[("u1", "c1", t0 + 1000), ("u2", "c2", t0 + 1000), ("u3", "c3", t0 + 1000)]).await;
        let enriched = strings(read(&b, "enriched", 3).await);
        assert_eq!(
            enriched,
            [("u1".into(), "c1@eu".into()), ("u2".into(), "c2@us".into()), ("u3".into(), "c3@?".into())]
        );
        // In time order: k1's view and ad are 5 s apart (a match), k2's ad
        // has no view within 10 s, k3's view no ad.
        produce(&b, "views", &[("k1", "v1", t0), ("k3", "v3", t0)]).await;
        produce(&b, "ads", &[("k2", "a2", t0), ("k1", "a1", t0 + 5_000)]).await;
        let matched = strings(read(&b, "matched", 1).await);
        assert_eq!(matched, [("k1".to_string(), "v1+a1".to_string())]);
        // k2's view 20 s after its ad is outside the window: still one match.
        produce(&b, "views", &[("k2", "v2", t0 + 20_000)]).await;
        let matched = strings(read(&b, "matched", 1).await);
        assert_eq!(matched, [("k1".to_string(), "v1+a1".to_string())]);
        produce(&b, "plans", &[("u1", "gold", t0 + 2000), ("u2", "silver", t0 + 2000), ("u9", "none", t0 + 2000)])
            .await;
        let joined = strings(read(&b, "user-plans", 2).await);
        assert_eq!(joined, [("u1".into(), "eu/gold".into()), ("u2".into(), "us/silver".into())]);
        produce(&b, "orders", &[("o1", "eu", t0 + 3000), ("o2", "us", t0 + 3000), ("o3", "xx", t0 + 3000)]).await;
        let named = strings(read(&b, "orders-named", 2).await);
        assert_eq!(named, [("o1".into(), "eu:Europe".into()), ("o2".into(), "us:United States".into())]);
        app.close().await;
        assert_eq!(app.state(), State::NotRunning);
    });
}

#[test]
fn a_windowed_count_takes_out_of_order_records_within_grace_and_drops_late_ones() {
    let b = broker();
    let rt = runtime();
    let dir = tempfile::tempdir().expect("dir");
    rt.block_on(async {
        create_topics(&b, &[("events", 1), ("window-counts", 1)]).await;
        let s = Serdes::string();
        let builder = StreamsBuilder::new();
        builder
            .stream(&["events"], Consumed::with(s.clone(), s.clone()))
            .group_by_key(Grouped::with(s.clone(), s.clone()))
            .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(10), Duration::from_secs(5)))
            .count(Materialized::as_store("window-counts-store"))
            .to_stream()
            .to("window-counts", Produced::with(WindowedSerdes::time_windowed(s.clone(), 10_000), Serdes::long()));
        let app =
            KafkaStreams::new(builder.build().expect("topology"), config(&b, "windows", dir.path())).expect("app");
        app.start().await.expect("start");
        let base = (now_ms() - 600_000) / 10_000 * 10_000;
        // In offset order: two in [base, base+10s), one in the next window
        // (stream time base+12s), one out of order for the first window
        // (its end + grace = base+15s is still ahead: counted), one that
        // moves stream time to base+25s, then one for the first window
        // again (end + grace passed: dropped as late).
        let times = [0, 3_000, 12_000, 1_000, 25_000, 2_000];
        let records: Vec<(&str, &str, i64)> = times.iter().map(|t| ("a", "x", base + t)).collect();
        produce(&b, "events", &records).await;
        let out = read(&b, "window-counts", 5).await;
        let counts: Vec<(String, i64, i64)> = out
            .into_iter()
            .map(|(k, v)| {
                let (word, start) = k.split_at(k.len() - 8);
                let start = i64::from_be_bytes(start.try_into().expect("8-byte window start"));
                let count = i64::from_be_bytes(v[..].try_into().expect("an 8-byte Long"));
                (String::from_utf8(word.to_vec()).expect("utf8"), start - base, count)
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("a".to_string(), 0, 1),
                ("a".to_string(), 0, 2),
                ("a".to_string(), 10_000, 1),
                ("a".to_string(), 0, 3),
                ("a".to_string(), 20_000, 1)
            ]
        );
        app.close().await;
    });
}
