//! `kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs`: how long each
//! fsync of a partition log took. Storage records into one process-wide
//! histogram (storage must not know the broker); each broker registers it.
//! Brokers sharing a process (tests) share it, as they share the disk.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts};

use super::requests::MS_BUCKETS;

static LOG_FLUSH: LazyLock<Option<Histogram>> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "kafka_log_logflushstats_logflushrateandtimems",
        "Milliseconds each fsync of a partition log (its unsynced segments and directory) took.",
    )
    .buckets(MS_BUCKETS.to_vec());
    Histogram::with_opts(opts).map_err(|err| tracing::warn!(%err, "log flush histogram not created")).ok()
});

/// Records one log flush that took `took`.
pub fn observe(took: Duration) {
    if let Some(h) = LOG_FLUSH.as_ref() {
        h.observe(took.as_secs_f64() * 1000.0);
    }
}

/// Registers the histogram into `registry` (once per registry).
pub fn register(registry: &prometheus::Registry) {
    if let Some(h) = LOG_FLUSH.as_ref() {
        if let Err(err) = registry.register(Box::new(h.clone())) {
            tracing::debug!(%err, "log flush histogram not registered");
        }
    }
}
