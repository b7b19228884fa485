//! Prometheus metrics: the broker's registry and the HTTP endpoints that
//! expose it (`metrics.listener` on a broker, ZooKeeper's
//! `metricsProvider.httpPort` on `zookeeper-start`).
//!
//! Names follow Kafka's JMX MBeans as the Prometheus JMX exporter's usual
//! rules print them, so dashboards built for Kafka map onto ours:
//! `kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=t` becomes
//! `kafka_server_brokertopicmetrics_bytesin_total{topic="t"}`: the domain and
//! `type` and `name` lower-cased and joined by `_`, a `PerSec` meter becomes
//! a counter with `_total`, a gauge keeps its name, a `…Ms` histogram keeps
//! its unit in its name and its buckets in milliseconds, and every other key
//! of the MBean name becomes a label of the same name.
//!
//! Hot-path metrics are resolved once (a per-API or per-topic handle kept
//! beside what it counts) and bumped with atomics; whatever the broker
//! already knows (partition states, log sizes, group states, lag) is read
//! when Prometheus scrapes, not maintained on every request.

pub mod flush;
pub mod http;
pub mod requests;

use prometheus::{Encoder, Registry, TextEncoder};

/// The metrics of one broker (or one coordinator process).
pub struct BrokerMetrics {
    registry: Registry,
    /// Per-API request metrics, request channel queues, connections (`requests.rs`).
    pub requests: requests::RequestMetrics,
}

impl std::fmt::Debug for BrokerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerMetrics").finish_non_exhaustive()
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics::new()
    }
}

impl BrokerMetrics {
    /// A registry holding the process metrics (RSS, open files, CPU seconds).
    pub fn new() -> BrokerMetrics {
        let registry = Registry::new();
        register_process_collector(&registry);
        BrokerMetrics { registry, requests: requests::RequestMetrics::new() }
    }

    /// Where this process's metrics are registered.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every registered metric in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// `registry`'s metrics in the text exposition format (version 0.0.4).
pub fn render(registry: &Registry) -> String {
    let families = registry.gather();
    let mut out = Vec::with_capacity(16 * 1024);
    if let Err(err) = TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(%err, "cannot encode the metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The content type of [`render`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `process_resident_memory_bytes`, `process_open_fds`, `process_cpu_seconds_total`…
/// read from `/proc` at each scrape (Linux only).
pub fn register_process_collector(registry: &Registry) {
    #[cfg(target_os = "linux")]
    {
        let collector = prometheus::process_collector::ProcessCollector::for_self();
        if let Err(err) = registry.register(Box::new(collector)) {
            tracing::debug!(%err, "process metrics not registered");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = registry;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_counters_and_process_metrics() {
        let metrics = BrokerMetrics::new();
        let counter = prometheus::IntCounter::new("kafka_test_things_total", "Things.").unwrap();
        metrics.registry().register(Box::new(counter.clone())).unwrap();
        counter.inc_by(3);
        let text = metrics.render();
        assert!(text.contains("kafka_test_things_total 3"), "{text}");
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }
}
