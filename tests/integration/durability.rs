//! kill -9 during produce: with log.flush.interval.messages=1 every
//! acknowledged record survives the crash and restart, in order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::common::TestBroker;

#[derive(Clone, Default)]
struct Acks(Arc<Mutex<Vec<(i64, String)>>>);

impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            self.0.lock().expect("lock").push((m.offset(), payload));
        }
    }
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let mut b = TestBroker::start(&["log.flush.interval.messages=1", "log.segment.bytes=65536", "num.partitions=1"]);
    let acks = Acks::default();
    let p: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "1")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "5000")
        .create_with_context(acks.clone())
        .expect("producer");
    let start = Instant::now();
    let mut sent = 0;
    // Keep producing until enough records are acknowledged, then crash the broker mid-stream.
    while acks.0.lock().expect("lock").len() < 3000 && start.elapsed() < Duration::from_secs(60) {
        let payload = format!("record-{sent:06}-{}", "p".repeat(100));
        if p.send(BaseRecord::<(), _>::to("durable").partition(0).payload(&payload)).is_ok() {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    b.kill();
    let _ = p.flush(Duration::from_secs(6));
    drop(p);
    let acked = acks.0.lock().expect("lock").clone();
    assert!(acked.len() >= 3000, "only {} acknowledged", acked.len());

    b.restart();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", "durability")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (lo, hi) = c.fetch_watermarks("durable", 0, Duration::from_secs(30)).expect("watermarks");
    assert_eq!(lo, 0);
    let max_acked = acked.iter().map(|(o, _)| *o).max().unwrap_or(-1);
    assert!(hi > max_acked, "high watermark {hi} lost acknowledged offset {max_acked}");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("durable", 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (log.len() as i64) < hi && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.expect("message");
            assert_eq!(m.offset(), log.len() as i64, "offsets are contiguous");
            log.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    assert_eq!(log.len() as i64, hi);
    for (offset, payload) in &acked {
        assert_eq!(&log[*offset as usize], payload, "acknowledged record at {offset}");
    }
    // Records are in send order.
    let mut sorted = log.clone();
    sorted.sort();
    assert_eq!(sorted, log);
    assert!(b.log_text().contains("recover") || b.log_text().contains("Recover"), "restart ran recovery");
}
