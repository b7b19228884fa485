//! Cluster-state metrics on a real 3-broker cluster (replica manager,
//! controller, logs, group coordinator, consumer lag) as records flow and a
//! follower dies and comes back; and `zookeeper-start`'s own `/metrics`.

use std::process::Command;
use std::time::Duration;

use crate::common::prom::{self, Scrape};
use crate::common::zk::{wait_for, TestZk};
use crate::common::{bootstrap_of, gregor_bin, ok, pipe_into, run_tool, three_brokers, TestBroker};

const WAIT: Duration = Duration::from_secs(60);
const TOPIC: &str = "metered";

/// Scrapes of the brokers still running, with their index.
fn scrape_live(brokers: &[TestBroker]) -> Vec<(usize, Scrape)> {
    brokers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.child.is_some())
        .map(|(i, b)| (i, prom::scrape(b.metrics.expect("metrics endpoint"))))
        .collect()
}

fn sum(scrapes: &[(usize, Scrape)], name: &str, labels: &[(&str, &str)]) -> f64 {
    scrapes.iter().filter_map(|(_, s)| s.value(name, labels)).sum()
}

/// Polls until `cond` holds for the live brokers' scrapes; panics with the
/// last scrapes otherwise.
fn wait_scrapes(brokers: &[TestBroker], what: &str, mut cond: impl FnMut(&[(usize, Scrape)]) -> bool) {
    let mut last = Vec::new();
    let met = wait_for(WAIT, || {
        last = scrape_live(brokers);
        cond(&last)
    });
    if !met {
        let texts: Vec<String> = last
            .iter()
            .map(|(i, s)| {
                let wanted: Vec<&str> = s
                    .text
                    .lines()
                    .filter(|l| {
                        !l.starts_with('#')
                            && (l.starts_with("kafka_server_replicamanager")
                                || l.starts_with("kafka_controller")
                                || l.starts_with("kafka_consumergroup")
                                || l.starts_with("kafka_log_log_logendoffset"))
                    })
                    .collect();
                format!("broker {i}:\n{}", wanted.join("\n"))
            })
            .collect();
        panic!("timed out waiting for {what}; last scrapes:\n{}", texts.join("\n"));
    }
}

/// The leader of `topic`'s partition 0, from `topics --describe`.
fn leader_of(bs: &str, topic: &str) -> Option<usize> {
    let out = run_tool("topics", bs, &["--describe", "--topic", topic]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("Partition: 0"))?;
    let rest = &line[line.find("Leader: ")? + "Leader: ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn three_brokers_report_state_lag_and_a_lost_follower() {
    let zk = TestZk::start();
    let mut brokers = three_brokers(
        &zk,
        &[
            "metrics.listener=http://127.0.0.1:0",
            "offsets.topic.num.partitions=3",
            "group.initial.rebalance.delay.ms=0",
        ],
    );
    let bs = bootstrap_of(&brokers);
    ok(run_tool("topics", &bs, &["--create", "--topic", TOPIC, "--partitions", "1", "--replication-factor", "3"]));

    // Ten records; a group that committed four of them (made by the tool, no consumer).
    let lines: String = (0..10).map(|i| format!("record-{i}\n")).collect();
    let mut producer = Command::new(gregor_bin());
    producer.args(["console-producer", "--bootstrap-server", &bs, "--topic", TOPIC]).env("NO_COLOR", "1");
    ok(pipe_into(producer, &lines));
    ok(run_tool(
        "consumer-groups",
        &bs,
        &["--reset-offsets", "--group", "g", "--topic", TOPIC, "--to-offset", "4", "--execute"],
    ));

    // One controller; every partition (the topic and three of __consumer_offsets)
    // led somewhere, fully replicated; all three replicas at offset 10; the
    // coordinator alone reports the group's lag of six.
    wait_scrapes(&brokers, "a healthy cluster with the group's lag", |s| {
        let controllers: Vec<f64> =
            s.iter().map(|(_, x)| x.get("kafka_controller_kafkacontroller_activecontrollercount", &[])).collect();
        let lag_reports =
            s.iter().filter(|(_, x)| x.value("kafka_consumergroup_lag", &[("consumergroup", "g")]).is_some()).count();
        controllers.iter().filter(|v| **v == 1.0).count() == 1
            && controllers.iter().filter(|v| **v == 0.0).count() == 2
            && sum(s, "kafka_controller_kafkacontroller_globalpartitioncount", &[]) == 4.0
            && sum(s, "kafka_controller_kafkacontroller_globaltopiccount", &[]) == 2.0
            && sum(s, "kafka_server_replicamanager_leadercount", &[]) == 4.0
            && sum(s, "kafka_server_replicamanager_partitioncount", &[]) == 12.0
            && sum(s, "kafka_server_replicamanager_underreplicatedpartitions", &[]) == 0.0
            && sum(s, "kafka_controller_kafkacontroller_offlinepartitionscount", &[]) == 0.0
            && s.iter().all(|(_, x)| {
                x.value("kafka_log_log_logendoffset", &[("topic", TOPIC), ("partition", "0")]) == Some(10.0)
            })
            && lag_reports == 1
            && sum(s, "kafka_consumergroup_lag", &[("consumergroup", "g"), ("topic", TOPIC), ("partition", "0")]) == 6.0
            && sum(s, "kafka_consumergroup_current_offset", &[("consumergroup", "g"), ("topic", TOPIC)]) == 4.0
            && sum(s, "kafka_consumergroup_lag_sum", &[("consumergroup", "g")]) == 6.0
            && sum(s, "kafka_coordinator_group_groupmetadatamanager_numgroups", &[]) == 1.0
            && sum(s, "kafka_coordinator_group_groupmetadatamanager_numgroupsempty", &[]) == 1.0
            && sum(s, "kafka_coordinator_group_groupmetadatamanager_numoffsets", &[]) == 1.0
            && s.iter().all(|(_, x)| {
                x.value("kafka_server_replicafetchermanager_maxlag", &[("clientId", "Replica")]) == Some(0.0)
            })
    });
    let scrapes = scrape_live(&brokers);
    for (_, s) in &scrapes {
        assert!(s.get("kafka_log_log_size", &[("topic", TOPIC), ("partition", "0")]) > 0.0);
        assert_eq!(s.get("kafka_log_log_numlogsegments", &[("topic", TOPIC), ("partition", "0")]), 1.0);
        assert_eq!(s.get("kafka_log_log_logstartoffset", &[("topic", TOPIC), ("partition", "0")]), 0.0);
        assert!(s.get("process_resident_memory_bytes", &[]) > 0.0);
    }

    // More records move the log end offsets and the lag.
    let more: String = (10..15).map(|i| format!("record-{i}\n")).collect();
    let mut producer = Command::new(gregor_bin());
    producer.args(["console-producer", "--bootstrap-server", &bs, "--topic", TOPIC]).env("NO_COLOR", "1");
    ok(pipe_into(producer, &more));
    wait_scrapes(&brokers, "the new records in every replica and the lag", |s| {
        s.iter()
            .all(|(_, x)| x.value("kafka_log_log_logendoffset", &[("topic", TOPIC), ("partition", "0")]) == Some(15.0))
            && sum(s, "kafka_consumergroup_lag", &[("consumergroup", "g"), ("topic", TOPIC)]) == 11.0
    });

    // A partition led by another broker than the group's coordinator: the
    // coordinator asks that leader for its high watermark.
    let coordinator = scrape_live(&brokers)
        .iter()
        .find(|(_, s)| s.value("kafka_consumergroup_lag", &[("consumergroup", "g")]).is_some())
        .map(|(i, _)| *i)
        .expect("the coordinator reports the lag");
    let elsewhere = (coordinator + 1) % 3;
    let assignment = format!("{elsewhere}:{coordinator}");
    ok(run_tool("topics", &bs, &["--create", "--topic", "remote-led", "--replica-assignment", &assignment]));
    let mut producer = Command::new(gregor_bin());
    producer.args(["console-producer", "--bootstrap-server", &bs, "--topic", "remote-led"]).env("NO_COLOR", "1");
    ok(pipe_into(producer, "a\nb\nc\n"));
    ok(run_tool(
        "consumer-groups",
        &bs,
        &["--reset-offsets", "--group", "g", "--topic", "remote-led", "--to-offset", "1", "--execute"],
    ));
    assert_eq!(leader_of(&bs, "remote-led"), Some(elsewhere));
    wait_scrapes(&brokers, "the lag of a partition led elsewhere", |s| {
        let Some((_, c)) = s.iter().find(|(i, _)| *i == coordinator) else { return false };
        c.value("kafka_consumergroup_lag", &[("consumergroup", "g"), ("topic", "remote-led"), ("partition", "0")])
            == Some(2.0)
            && c.value("kafka_consumergroup_lag_sum", &[("consumergroup", "g")]) == Some(13.0)
    });

    // Kill a follower of the topic's partition (not the controller when possible).
    let mut leader = None;
    assert!(wait_for(WAIT, || {
        leader = leader_of(&bs, TOPIC);
        leader.is_some()
    }));
    let leader = leader.expect("leader");
    let controller = scrapes
        .iter()
        .find(|(_, s)| s.get("kafka_controller_kafkacontroller_activecontrollercount", &[]) == 1.0)
        .map(|(i, _)| *i);
    let follower = (0..3).find(|i| *i != leader && Some(*i) != controller).unwrap_or((leader + 1) % 3);
    brokers[follower].kill();

    wait_scrapes(&brokers, "the leader to report the lost follower", |s| {
        let Some((_, l)) = s.iter().find(|(i, _)| *i == leader) else { return false };
        l.get("kafka_server_replicamanager_underreplicatedpartitions", &[]) > 0.0
            && l.get("kafka_server_replicamanager_isrshrinks_total", &[]) > 0.0
    });

    brokers[follower].restart();
    wait_scrapes(&brokers, "the follower back in the ISR", |s| {
        let Some((_, l)) = s.iter().find(|(i, _)| *i == leader) else { return false };
        s.len() == 3
            && sum(s, "kafka_server_replicamanager_underreplicatedpartitions", &[]) == 0.0
            && l.get("kafka_server_replicamanager_isrexpands_total", &[]) > 0.0
    });
}

#[test]
fn zookeeper_start_serves_zookeeper_metrics() {
    let zk = TestZk::start_with(
        "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0\n",
    );
    let metrics = zk.metrics.expect("the started line names the metrics endpoint");
    let before = prom::scrape(metrics);
    let znodes = before.get("znode_count", &[]);
    assert!(znodes >= 1.0, "{}", before.text);
    assert_eq!(before.get("quorum_size", &[]), 1.0);
    for name in
        ["watch_count", "ephemerals_count", "approximate_data_size", "packets_received", "uptime", "avg_latency"]
    {
        assert!(before.value(name, &[]).is_some(), "{name} missing:\n{}", before.text);
    }
    assert!(before.text.contains("# TYPE znode_count gauge"), "{}", before.text);
    assert!(before.get("process_open_fds", &[]) > 0.0);
    assert_eq!(crate::common::http::request(metrics, "GET", "/nope", None).status, 404);

    // A broker registering itself creates znodes (Kafka's layout), one of them ephemeral.
    let _broker = TestBroker::start(&[&format!("zookeeper.connect={}", zk.addr)]);
    let mut last = before;
    assert!(
        wait_for(WAIT, || {
            last = prom::scrape(metrics);
            last.get("znode_count", &[]) > znodes
                && last.get("ephemerals_count", &[]) >= 1.0
                && last.get("num_alive_connections", &[]) >= 1.0
                && last.get("packets_received", &[]) > 0.0
        }),
        "znode_count did not grow:\n{}",
        last.text
    );
}
