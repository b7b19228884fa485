//! Replication throttles (KIP-73): `leader.replication.throttled.rate` limits the
//! bytes this broker sends to followers for throttled replicas, and
//! `follower.replication.throttled.rate` the bytes it fetches for them. Which
//! replicas are throttled comes from each topic's
//! `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas`
//! (`*`, or `partition:broker` pairs naming this broker), as in Kafka.
//!
//! Kafka measures the rate over `replication.quota.window.num` one-second
//! windows and skips throttled partitions while the measured rate is above the
//! quota. We keep an approximate token bucket instead: it refills at the rate,
//! holds at most one second of it, and a throttled partition may be read or
//! fetched while the bucket is not empty; what was transferred is then taken
//! out, possibly below zero (a batch is never split), so the long-run rate
//! stays at the quota. Unthrottled partitions are never counted or held back.

use std::sync::Mutex;
use std::time::Instant;

/// One direction's quota (leader or follower), shared by every partition.
#[derive(Debug)]
pub struct ReplicationQuota {
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes per second; `None`: unlimited (Kafka's Long.MAX_VALUE default).
    rate: Option<u64>,
    tokens: f64,
    last: Instant,
}

impl Default for ReplicationQuota {
    fn default() -> Self {
        ReplicationQuota { bucket: Mutex::new(Bucket { rate: None, tokens: 0.0, last: Instant::now() }) }
    }
}

impl ReplicationQuota {
    /// Sets the rate from the config value (`i64::MAX` or more: unlimited).
    pub fn set_rate(&self, bytes_per_second: Option<u64>) {
        let rate = bytes_per_second.filter(|r| *r < i64::MAX as u64);
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        if b.rate != rate {
            b.rate = rate;
            // A new quota starts with one full second of budget.
            b.tokens = rate.map_or(0.0, |r| r as f64);
            b.last = Instant::now();
        }
    }

    /// The rate in bytes per second, if limited.
    pub fn rate(&self) -> Option<u64> {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner()).rate
    }

    /// Whether throttled replicas must wait (the bucket is empty).
    pub fn exceeded(&self) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let Some(rate) = b.rate else { return false };
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * rate as f64;
        b.tokens = (b.tokens + refill).min(rate as f64);
        b.last = now;
        b.tokens <= 0.0
    }

    /// Counts bytes transferred for throttled replicas.
    pub fn record(&self, bytes: usize) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        if b.rate.is_some() {
            b.tokens -= bytes as f64;
        }
    }
}

/// Whether a throttled-replicas list (`*` or `partition:broker,...`) names
/// `partition` on `broker`.
pub fn is_throttled(list: &[String], partition: i32, broker: i32) -> bool {
    list.iter().any(|item| {
        let item = item.trim();
        item == "*"
            || item
                .split_once(':')
                .is_some_and(|(p, b)| p.trim().parse::<i32>() == Ok(partition) && b.trim().parse::<i32>() == Ok(broker))
    })
}

/// The broker's two replication quotas.
#[derive(Debug, Default)]
pub struct ReplicationQuotas {
    pub leader: ReplicationQuota,
    pub follower: ReplicationQuota,
}

impl ReplicationQuotas {
    /// Applies `leader.replication.throttled.rate` and
    /// `follower.replication.throttled.rate` from the effective config.
    pub fn configure(&self, config: &crate::config::BrokerConfig) {
        let rate = |key: &str| config.value_of(key).and_then(|v| v.parse::<u64>().ok());
        self.leader.set_rate(rate("leader.replication.throttled.rate"));
        self.follower.set_rate(rate("follower.replication.throttled.rate"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_lists() {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(is_throttled(&list("*"), 3, 1));
        assert!(is_throttled(&list("0:1,2:1"), 2, 1));
        assert!(!is_throttled(&list("0:1,2:1"), 2, 0));
        assert!(!is_throttled(&list("0:1"), 1, 1));
        assert!(!is_throttled(&[], 0, 0));
        assert!(!is_throttled(&list(""), 0, 0));
    }

    #[test]
    fn bucket_limits_and_refills() {
        let q = ReplicationQuota::default();
        assert!(!q.exceeded(), "unlimited by default");
        q.record(1 << 30);
        assert!(!q.exceeded());
        q.set_rate(Some(1000));
        assert!(!q.exceeded(), "a new quota starts with a second of budget");
        q.record(5000);
        assert!(q.exceeded(), "4 s of debt");
        q.set_rate(Some(i64::MAX as u64));
        assert_eq!(q.rate(), None);
        assert!(!q.exceeded());
    }
}
