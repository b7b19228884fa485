//! Request-path metrics on a live broker (`metrics::requests`): they move as
//! librdkafka produces and consumes, and go away with a deleted topic.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::prom::{self, Scrape};
use crate::common::{ok, run_tool, TestBroker};

/// The all-topics series: the sample of `name` without a `topic` label.
fn all_topics(s: &Scrape, name: &str) -> f64 {
    s.samples.iter().filter(|x| x.name == name && x.labels.is_empty()).map(|x| x.value).sum()
}

fn produce(bootstrap: &str, topic: &str, acks: &str, count: usize, size: usize) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "0")
        .set("compression.type", "none")
        .create()
        .expect("producer");
    let value = vec![b'x'; size];
    for _ in 0..count {
        producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&value)).expect("queued");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("every record acknowledged");
    producer
}

fn create_topic(broker: &TestBroker, topic: &str) {
    ok(run_tool(
        "kafka-topics",
        &broker.bootstrap(),
        &["--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1"],
    ));
}

#[test]
fn request_and_topic_metrics_move_as_records_flow() {
    const N: usize = 40;
    const SIZE: usize = 300;
    let broker = TestBroker::start(&["metrics.listener=http://127.0.0.1:0"]);
    let metrics = broker.metrics.expect("metrics endpoint");
    create_topic(&broker, "flow");
    let before = prom::scrape(metrics);

    let producer = produce(&broker.bootstrap(), "flow", "1", N, SIZE);
    let mid = prom::scrape(metrics);
    let t = [("topic", "flow")];
    assert_eq!(
        mid.get("kafka_server_brokertopicmetrics_messagesin_total", &t)
            - before.value("kafka_server_brokertopicmetrics_messagesin_total", &t).unwrap_or(0.0),
        N as f64
    );
    let bytes_in = mid.get("kafka_server_brokertopicmetrics_bytesin_total", &t)
        - before.value("kafka_server_brokertopicmetrics_bytesin_total", &t).unwrap_or(0.0);
    assert!(bytes_in >= (N * SIZE) as f64, "bytes in {bytes_in}");
    assert!(
        all_topics(&mid, "kafka_server_brokertopicmetrics_bytesin_total")
            - all_topics(&before, "kafka_server_brokertopicmetrics_bytesin_total")
            >= bytes_in,
        "{}",
        mid.text
    );
    assert!(mid.get("kafka_server_brokertopicmetrics_totalproducerequests_total", &t) >= 1.0);
    let produce = [("request", "Produce")];
    assert!(
        mid.get("kafka_network_requestmetrics_requests_total", &produce)
            > before.value("kafka_network_requestmetrics_requests_total", &produce).unwrap_or(0.0)
    );
    let total = "kafka_network_requestmetrics_totaltimems_count";
    assert!(mid.get(total, &produce) > before.value(total, &produce).unwrap_or(0.0));
    assert!(mid.get("kafka_network_requestmetrics_localtimems_count", &produce) >= 1.0);
    assert!(mid.get("kafka_network_requestmetrics_errors_total", &[("request", "Produce"), ("error", "NONE")]) >= 1.0);
    assert!(mid.get("kafka_network_requestmetrics_requests_total", &[("request", "Metadata")]) >= 1.0);
    assert!(mid.get("kafka_network_requestmetrics_requests_total", &[("request", "ApiVersions")]) >= 1.0);
    // The producer is still connected.
    assert!(mid.get("kafka_server_socketservermetrics_connection_count", &[]) >= 1.0, "{}", mid.text);
    assert!(mid.get("kafka_server_socketservermetrics_connection_creation_total", &[]) >= 1.0);
    drop(producer);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "metrics-requests")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("flow", 0, Offset::Beginning).expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < N && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            m.expect("record");
            seen += 1;
        }
    }
    assert_eq!(seen, N);
    let after = prom::scrape(metrics);
    let bytes_out = after.get("kafka_server_brokertopicmetrics_bytesout_total", &t);
    assert!(bytes_out >= (N * SIZE) as f64, "bytes out {bytes_out}");
    assert!(all_topics(&after, "kafka_server_brokertopicmetrics_bytesout_total") >= bytes_out);
    assert!(after.get("kafka_server_brokertopicmetrics_totalfetchrequests_total", &t) >= 1.0);
    for name in ["FetchConsumer", "Fetch"] {
        assert!(after.get(total, &[("request", name)]) >= 1.0, "{name}: {}", after.text);
    }
    assert!(after.value(total, &[("request", "FetchFollower")]).is_none(), "no follower on one broker");
    drop(consumer);

    // A deleted topic's series go away.
    ok(run_tool("kafka-topics", &broker.bootstrap(), &["--delete", "--topic", "flow"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = prom::scrape(metrics);
        if s.find("kafka_server_brokertopicmetrics_bytesin_total", &t).is_empty() {
            // The all-topics series stays.
            assert!(all_topics(&s, "kafka_server_brokertopicmetrics_bytesin_total") >= bytes_in);
            break;
        }
        assert!(Instant::now() < deadline, "topic series still there:\n{}", s.text);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn acks_all_waits_are_remote_time_and_flushes_are_timed() {
    let broker = TestBroker::start(&["metrics.listener=http://127.0.0.1:0", "log.flush.interval.messages=1"]);
    let metrics = broker.metrics.expect("metrics endpoint");
    create_topic(&broker, "durable");
    drop(produce(&broker.bootstrap(), "durable", "all", 5, 100));
    let s = prom::scrape(metrics);
    assert_eq!(s.get("kafka_server_brokertopicmetrics_messagesin_total", &[("topic", "durable")]), 5.0);
    assert!(s.get("kafka_network_requestmetrics_remotetimems_count", &[("request", "Produce")]) >= 1.0);
    assert!(s.get("kafka_log_logflushstats_logflushrateandtimems_count", &[]) >= 1.0, "{}", s.text);
    // Nothing is waiting any more.
    for op in ["Produce", "Fetch"] {
        let labels = [("delayedOperation", op)];
        assert_eq!(s.get("kafka_server_delayedoperationpurgatory_numdelayedoperations", &labels), 0.0);
        assert_eq!(s.get("kafka_server_delayedoperationpurgatory_purgatorysize", &labels), 0.0);
    }
    assert_eq!(s.get("kafka_network_requestchannel_responsequeuesize", &[]), 0.0);
    // The scrape's own connection is HTTP: the Kafka request queue holds nothing now.
    assert_eq!(s.get("kafka_network_requestchannel_requestqueuesize", &[]), 0.0);
}
