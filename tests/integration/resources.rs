//! Resource bounds against a real broker process: the shared request-bytes
//! budget (`queued.max.request.bytes`) with back-pressure, stalled partial
//! frames dropped after `gregor.partial.request.timeout.ms`, idle connections
//! closed after `connections.max.idle.ms`, malformed-request warnings
//! rate-limited per address, and a graceful stop with an offline log.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor::client::{Admin, ClientConfig, NewTopic, Producer, ProducerConfig, ProducerRecord};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse};

use crate::common::wire::Wire;
use crate::common::TestBroker;

const WAIT: Duration = Duration::from_secs(60);

/// Waits until the broker closes `stream` (EOF or reset); false if it is still
/// open after [`WAIT`]. Anything the broker sends first is skipped.
fn closed_by_broker(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(500))).expect("read timeout");
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Polls the broker's log until `needle` appears (or [`WAIT`] passes).
fn wait_for_log(b: &TestBroker, needle: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if b.log_text().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn api_versions_ok(addr: SocketAddr) {
    let mut w = Wire::connect(addr);
    w.stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let resp: ApiVersionsResponse = w.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    let md: MetadataResponse = w.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    assert_eq!(md.brokers.len(), 1);
}

/// Finding: five clients announcing 50 MB frames and dribbling their bodies
/// held 271 MB. Now each frame's size comes out of one budget before its body
/// is read, the body grows only as bytes arrive, and a frame that stops
/// arriving is dropped; a normal client is answered once the stalled ones go.
#[test]
fn stalled_partial_frames_are_dropped_and_the_budget_is_shared() {
    let b = TestBroker::start(&[
        "socket.request.max.bytes=1048576",
        "queued.max.request.bytes=1048576",
        "gregor.partial.request.timeout.ms=500",
        "connections.max.idle.ms=5000",
    ]);
    // Each announces 1,000,000 bytes (most of the budget) and sends ten.
    let mut dribblers: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(b.addr).expect("connect");
            let mut start = 1_000_000i32.to_be_bytes().to_vec();
            start.extend_from_slice(&[0u8, 18, 0, 3, 0, 0, 0, 7, 0, 0]);
            s.write_all(&start).expect("write");
            s
        })
        .collect();
    // Waits behind the dribblers for the budget, then is answered.
    api_versions_ok(b.addr);
    for (i, s) in dribblers.iter_mut().enumerate() {
        assert!(closed_by_broker(s), "stalled connection {i} still open");
    }
    assert!(wait_for_log(&b, "gregor.partial.request.timeout.ms"), "no warning; log:\n{}", b.log_text());
    assert!(b.log_text().contains("received 14 bytes of the 1000004 bytes"), "{}", b.log_text());
    // Still serving, and the budget was given back.
    api_versions_ok(b.addr);

    // A connection that sends nothing at all is closed after connections.max.idle.ms.
    let mut idle = TcpStream::connect(b.addr).expect("connect");
    assert!(closed_by_broker(&mut idle), "idle connection still open");
    // So is one that stops in the middle of a length prefix, after the partial-request timeout.
    let mut half = TcpStream::connect(b.addr).expect("connect");
    half.write_all(&[0, 0]).expect("write");
    assert!(closed_by_broker(&mut half), "half a length prefix kept the connection open");
}

/// A budget that holds only one large request at a time: concurrent producers
/// wait their turn (back-pressure) and every record is acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn producers_wait_for_the_budget_and_all_succeed() {
    let b = TestBroker::start(&["socket.request.max.bytes=1048576", "queued.max.request.bytes=1048576"]);
    let admin = Admin::connect(ClientConfig::new(b.bootstrap())).await.expect("admin connects");
    admin.create_topic(NewTopic::new("big", 1), false).await.expect("create topic");
    let mut tasks = Vec::new();
    for p in 0..4 {
        let bootstrap = b.bootstrap();
        tasks.push(tokio::spawn(async move {
            let producer = Producer::new(ProducerConfig::new(bootstrap)).await.expect("producer");
            let mut offsets = Vec::new();
            for i in 0..3 {
                // Two of these do not fit in the budget together.
                let value = Bytes::from(vec![b'a' + p as u8 + i as u8; 600_000]);
                let delivery = producer.send(ProducerRecord::new("big", value)).await.expect("send");
                let meta = tokio::time::timeout(WAIT, delivery).await.expect("delivered in time").expect("delivered");
                offsets.push(meta.offset);
            }
            offsets
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("producer task"));
    }
    all.sort_unstable();
    assert_eq!(all, (0..12).collect::<Vec<i64>>(), "every record acknowledged once");
}

/// Finding: 11,360 bad requests wrote 1.78 MB of WARN lines. Now one address
/// gets at most one WARN per interval, and the next says how many were suppressed.
#[test]
fn malformed_request_warnings_are_rate_limited_per_address() {
    let b = TestBroker::start(&[]);
    // An unknown API key closes each connection, so every request is a new connection.
    let bad: &[u8] = &[0, 0, 0, 8, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1];
    let count_warnings = |text: &str| {
        text.lines().filter(|l| l.contains("WARN") && l.contains("closing connection: unknown API key")).count()
    };
    for _ in 0..300 {
        let mut s = TcpStream::connect(b.addr).expect("connect");
        s.write_all(bad).expect("write");
        assert!(closed_by_broker(&mut s), "bad request did not close its connection");
    }
    let warnings = count_warnings(&b.log_text());
    assert!(warnings >= 1, "no warning at all; log:\n{}", b.log_text());
    // One per 10 s window: 300 bad requests give a handful at most, not 300.
    assert!(warnings < 30, "{warnings} warnings for 300 bad requests");
    api_versions_ok(b.addr);
    // Once the window has passed, the next warning carries the count of the suppressed ones.
    let deadline = Instant::now() + WAIT;
    let summary = "more malformed requests from 127.0.0.1 suppressed";
    while !b.log_text().contains(summary) && Instant::now() < deadline {
        let mut s = TcpStream::connect(b.addr).expect("connect");
        s.write_all(bad).expect("write");
        assert!(closed_by_broker(&mut s));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(b.log_text().contains(summary), "no summary line; log:\n{}", b.log_text());
}

/// Finding: a log taken offline by an I/O error made a graceful stop fail.
/// Now the stop skips it with a warning, exits 0, and leaves its log dir
/// without the clean-shutdown marker so the next start recovers it.
#[tokio::test(flavor = "multi_thread")]
async fn graceful_stop_with_an_offline_log_exits_zero_and_leaves_the_dir_unclean() {
    let mut b = TestBroker::start(&["log.segment.bytes=1024"]);
    let admin = Admin::connect(ClientConfig::new(b.bootstrap())).await.expect("admin connects");
    admin.create_topic(NewTopic::new("doomed", 1), false).await.expect("create topic");
    let producer = Producer::new(ProducerConfig::new(b.bootstrap())).await.expect("producer");
    let first = producer.send(ProducerRecord::new("doomed", Bytes::from_static(b"kept"))).await.expect("send");
    tokio::time::timeout(WAIT, first).await.expect("delivered in time").expect("delivered");
    // Take the partition directory away: the next roll cannot create its segment,
    // the append fails on I/O and the log goes offline.
    std::fs::rename(b.log_dir().join("doomed-0"), b.dir.join("doomed-0.moved")).expect("move the partition dir");
    let _undeliverable =
        producer.send(ProducerRecord::new("doomed", Bytes::from(vec![b'x'; 2000]))).await.expect("send");
    assert!(wait_for_log(&b, "log is now offline"), "the log did not go offline; log:\n{}", b.log_text());
    drop(producer);
    drop(admin);
    assert_eq!(b.terminate(), Some(0), "log:\n{}", b.log_text());
    assert!(b.log_text().contains("skipping the offline log"), "{}", b.log_text());
    assert!(!b.log_dir().join(".kafka_cleanshutdown").exists(), "a dir with an offline log was marked clean");
}
