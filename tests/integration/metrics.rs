//! The broker's Prometheus endpoint (`metrics.listener`).

use crate::common::{prom, TestBroker};

#[test]
fn metrics_listener_serves_the_text_format_and_is_off_by_default() {
    let broker = TestBroker::start(&["metrics.listener=http://127.0.0.1:0"]);
    let addr = broker.metrics.expect("the started line names the metrics endpoint");
    let scrape = prom::scrape(addr);
    assert!(scrape.get("process_resident_memory_bytes", &[]) > 1_000_000.0);
    assert!(scrape.get("process_open_fds", &[]) > 3.0);
    let r = crate::common::http::request(addr, "GET", "/nope", None);
    assert_eq!(r.status, 404);

    let plain = TestBroker::start(&[]);
    assert_eq!(plain.metrics, None, "no metrics endpoint unless configured");

    let (code, stderr) =
        TestBroker::run_to_exit(&["metrics.listener=https://127.0.0.1:0"], std::time::Duration::from_secs(60));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("metrics.listener"), "{stderr}");
}
