//! `/metrics` of `zookeeper-start`, as ZooKeeper 3.6+'s Prometheus metrics
//! provider serves it (`metricsProvider.className=…PrometheusMetricsProvider`,
//! `metricsProvider.httpHost`, `metricsProvider.httpPort`).
//!
//! The numbers are the ones `mntr` reports ([`super::fourlw`]), read by the
//! request processor on its own thread (a [`ZkStats`] snapshot sent back
//! over a oneshot), under ZooKeeper's own metric names — `znode_count`,
//! `watch_count`, `packets_received`, `avg_latency`… — all gauges, as
//! ZooKeeper registers them, plus the process metrics (`process_open_fds`,
//! `process_resident_memory_bytes`). Only what this server can say honestly
//! is reported: it runs standalone, so `quorum_size` is 1 and there are no
//! learner or election metrics. The embedded coordinator of a broker has no
//! endpoint.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{Gauge, Opts, Registry};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::core::{Core, CoreMsg};
use crate::metrics::http;
use crate::network::Shutdown;

/// How long a scrape waits for the request processor.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the request processor knows about itself, read in one go.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZkStats {
    pub znode_count: u64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub avg_latency: f64,
    pub min_latency: u64,
    pub max_latency: u64,
    /// Milliseconds since the server started.
    pub uptime: u64,
    pub global_sessions: u64,
    pub last_zxid: i64,
}

impl ZkStats {
    /// Reads the processor's state (on the processor thread).
    pub(crate) fn read(core: &Core) -> ZkStats {
        let s = &core.stats;
        ZkStats {
            znode_count: core.db.tree.node_count() as u64,
            watch_count: core.watches.watch_count() as u64,
            ephemerals_count: core.db.tree.ephemeral_count() as u64,
            approximate_data_size: core.db.tree.approximate_data_size() as u64,
            num_alive_connections: core.conns.len() as u64,
            // Requests are handled in order as they arrive; between batches none waits.
            outstanding_requests: 0,
            packets_received: s.received,
            packets_sent: s.sent,
            avg_latency: s.avg_latency_ms(),
            min_latency: s.min_latency_ms,
            max_latency: s.max_latency_ms,
            uptime: u64::try_from(core.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            global_sessions: core.sessions.len() as u64,
            last_zxid: core.db.last_zxid,
        }
    }

    /// The stats as ZooKeeper's Prometheus gauges, in `registry`.
    fn register(&self, registry: &Registry) {
        let gauges: [(&str, &str, f64); 15] = [
            ("znode_count", "Znodes in the data tree.", self.znode_count as f64),
            ("watch_count", "Watches set by clients.", self.watch_count as f64),
            ("ephemerals_count", "Ephemeral znodes.", self.ephemerals_count as f64),
            (
                "approximate_data_size",
                "Bytes of znode data and paths, approximately.",
                self.approximate_data_size as f64,
            ),
            ("num_alive_connections", "Open client connections.", self.num_alive_connections as f64),
            ("outstanding_requests", "Requests received and not yet answered.", self.outstanding_requests as f64),
            (
                "packets_received",
                "Client packets received since the start (or the last srst).",
                self.packets_received as f64,
            ),
            ("packets_sent", "Client packets sent since the start (or the last srst).", self.packets_sent as f64),
            ("avg_latency", "Average request latency in milliseconds.", self.avg_latency),
            ("min_latency", "Smallest request latency in milliseconds.", self.min_latency as f64),
            ("max_latency", "Largest request latency in milliseconds.", self.max_latency as f64),
            ("uptime", "Milliseconds since the server started.", self.uptime as f64),
            ("quorum_size", "Voting members of the ensemble (1: standalone).", 1.0),
            ("global_sessions", "Open client sessions.", self.global_sessions as f64),
            ("last_zxid", "The zxid of the last applied transaction.", self.last_zxid as f64),
        ];
        for (name, help, value) in gauges {
            let Ok(g) = Gauge::with_opts(Opts::new(name, help)) else { continue };
            g.set(value);
            if let Err(err) = registry.register(Box::new(g)) {
                tracing::debug!(%err, name, "ZooKeeper gauge not registered");
            }
        }
    }

    /// The stats and the process metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let registry = Registry::new();
        crate::metrics::register_process_collector(&registry);
        self.register(&registry);
        crate::metrics::render(&registry)
    }
}

/// Asks a running server's request processor for its [`ZkStats`].
#[derive(Clone, Debug)]
pub struct StatsSource {
    pub(crate) core_tx: std_mpsc::Sender<CoreMsg>,
}

impl StatsSource {
    /// The current stats; `None` once the server stopped (or it did not answer in time).
    pub async fn read(&self) -> Option<ZkStats> {
        let (reply, rx) = oneshot::channel();
        self.core_tx.send(CoreMsg::Metrics { reply }).ok()?;
        tokio::time::timeout(READ_TIMEOUT, rx).await.ok()?.ok()
    }
}

/// The `/metrics` handler for `source`: 503 when the server does not answer.
pub fn handler(source: StatsSource) -> http::Handler {
    Arc::new(move |req: http::HttpRequest| {
        let source = source.clone();
        Box::pin(async move {
            match req.uri().path() {
                "/metrics" => match source.read().await {
                    Some(stats) => {
                        let body = tokio::task::spawn_blocking(move || stats.render()).await.unwrap_or_default();
                        http::respond(hyper::StatusCode::OK, crate::metrics::TEXT_CONTENT_TYPE, body)
                    }
                    None => http::text(hyper::StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n"),
                },
                "/" => http::text(hyper::StatusCode::OK, "ZooKeeper metrics: GET /metrics\n"),
                _ => http::text(hyper::StatusCode::NOT_FOUND, "not found\n"),
            }
        })
    })
}

/// Binds `host:port` and serves the Prometheus endpoint of `source` until
/// `shutdown`; returns the bound address (port 0 picks one).
pub async fn serve(
    source: StatsSource,
    host: &str,
    port: u16,
    shutdown: Shutdown,
) -> Result<(SocketAddr, JoinHandle<()>), String> {
    let value = if host.contains(':') { format!("http://[{host}]:{port}") } else { format!("http://{host}:{port}") };
    http::start("metricsProvider.httpPort", &value, handler(source), shutdown).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_zookeeper_names_as_gauges() {
        let stats = ZkStats { znode_count: 12, avg_latency: 0.5, packets_received: 3, ..ZkStats::default() };
        let text = stats.render();
        assert!(text.contains("# TYPE znode_count gauge"), "{text}");
        assert!(text.contains("\nznode_count 12\n"), "{text}");
        assert!(text.contains("\navg_latency 0.5\n"), "{text}");
        assert!(text.contains("\npackets_received 3\n"), "{text}");
        assert!(text.contains("\nquorum_size 1\n"), "{text}");
    }
}
