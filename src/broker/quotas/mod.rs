//! Client quotas as Kafka enforces them (ZooKeeper mode): `producer_byte_rate`,
//! `consumer_byte_rate` and `request_percentage` per (user, client id), the quota of
//! an entity chosen by Kafka's precedence (`metadata::quotas::precedence`) from the
//! quotas the metadata cache keeps, with the static `quota.producer.default` /
//! `quota.consumer.default` as the lowest layer.
//!
//! Each (quota type, metric entity) has a sensor: values recorded into
//! `quota.window.num` samples of `quota.window.size.seconds`. Its rate is the sum of
//! the live samples over the elapsed window span, taken as at least
//! `(num − 1) × size` so that a fresh sensor does not read a burst as a huge rate.
//! When a recording takes the rate over the quota, the client is throttled for
//! `(rate − quota) / quota × span`, at most `num × size` (Kafka's formula). What the
//! throttle does to the connection is the handlers' business (`handler/mod.rs`).
//!
//! Sensors are shared the way Kafka shares them: an entity's quota is shared by the
//! clients it names (a quota for client id `c` is shared by every user's `c`), while
//! a `<default>` quota gives each user / client id its own sensor. Sensors idle for
//! [`IDLE_EXPIRY`] are dropped; the Prometheus collector ([`QuotaCollector`]) shows
//! the live ones at scrape time.

mod collector;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use collector::QuotaCollector;

use crate::metadata::quotas::{self as mq, QuotaEntity, QuotaValues};

/// Sensors unused for this long are dropped (Kafka: one hour).
pub const IDLE_EXPIRY: Duration = Duration::from_secs(600);

/// Which quota a recording counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaType {
    /// `producer_byte_rate`: bytes of Produce requests' records.
    Produce,
    /// `consumer_byte_rate`: bytes of Fetch responses to consumers.
    Fetch,
    /// `request_percentage`: handler time, as percent of one thread.
    Request,
}

impl QuotaType {
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => mq::PRODUCER_BYTE_RATE,
            QuotaType::Fetch => mq::CONSUMER_BYTE_RATE,
            QuotaType::Request => mq::REQUEST_PERCENTAGE,
        }
    }

    /// Kafka's metric group (`kafka.server:type=Produce|Fetch|Request`).
    pub fn metric_group(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
        }
    }
}

/// The (user, client-id) tags of a sensor, as Kafka's metrics tag it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorKey {
    pub quota: QuotaType,
    pub user: String,
    pub client_id: String,
}

/// Windowed samples of one value.
#[derive(Debug, Default)]
struct Samples {
    /// (window start, sum, count), oldest first.
    windows: VecDeque<(Instant, f64, u64)>,
}

impl Samples {
    fn purge(&mut self, now: Instant, window: Duration, num: u32) {
        let keep = window * num;
        while self.windows.front().is_some_and(|(start, _, _)| now.duration_since(*start) >= keep) {
            self.windows.pop_front();
        }
    }

    fn record(&mut self, value: f64, now: Instant, window: Duration, num: u32) {
        self.purge(now, window, num);
        match self.windows.back_mut() {
            Some((start, sum, count)) if now.duration_since(*start) < window => {
                *sum += value;
                *count += 1;
            }
            _ => self.windows.push_back((now, value, 1)),
        }
    }

    fn total(&self) -> f64 {
        self.windows.iter().map(|(_, s, _)| s).sum()
    }

    fn count(&self) -> u64 {
        self.windows.iter().map(|(_, _, c)| c).sum()
    }

    /// The elapsed span the rate divides by: since the oldest window began, at
    /// least `num − 1` whole windows (Kafka's `Rate.windowSize`).
    fn span(&self, now: Instant, window: Duration, num: u32) -> Duration {
        let elapsed = self.windows.front().map_or(Duration::ZERO, |(start, _, _)| now.duration_since(*start));
        elapsed.max(window * num.saturating_sub(1)).max(window)
    }
}

#[derive(Debug)]
struct Sensor {
    values: Samples,
    throttles: Samples,
    last_used: Instant,
}

/// The broker's client quota manager.
#[derive(Debug)]
pub struct ClientQuotas {
    window: Duration,
    num: u32,
    /// `quota.producer.default` / `quota.consumer.default` when set below Long.MAX_VALUE.
    static_producer: Option<f64>,
    static_consumer: Option<f64>,
    sensors: Mutex<HashMap<SensorKey, Sensor>>,
}

impl ClientQuotas {
    /// From the broker config (`quota.window.num`, `quota.window.size.seconds`, the static defaults).
    pub fn from_config(config: &crate::config::BrokerConfig) -> ClientQuotas {
        let int = |key: &str, default: u64| config.value_of(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(default);
        let static_quota = |key: &str| {
            config
                .value_of(key)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v > 0 && *v < i64::MAX)
                .map(|v| v as f64)
        };
        ClientQuotas::new(
            Duration::from_secs(int("quota.window.size.seconds", 1).max(1)),
            u32::try_from(int("quota.window.num", 11)).unwrap_or(11).max(1),
            static_quota("quota.producer.default"),
            static_quota("quota.consumer.default"),
        )
    }

    pub fn new(window: Duration, num: u32, static_producer: Option<f64>, static_consumer: Option<f64>) -> ClientQuotas {
        ClientQuotas { window, num, static_producer, static_consumer, sensors: Mutex::new(HashMap::new()) }
    }

    /// The longest throttle: the whole window span.
    pub fn max_throttle(&self) -> Duration {
        self.window * self.num
    }

    /// The quota and sensor tags for a client: the most specific entity that sets the
    /// quota, or the static default (Kafka tags those by client id). `None`: unlimited.
    pub fn quota_for(
        &self,
        quotas: &std::collections::BTreeMap<QuotaEntity, QuotaValues>,
        quota: QuotaType,
        user: &str,
        client_id: &str,
    ) -> Option<(SensorKey, f64)> {
        let key = |u: &str, c: &str| SensorKey { quota, user: u.to_string(), client_id: c.to_string() };
        // Without any quota entity (the usual case) skip the eight lookups.
        let found = if quotas.is_empty() { None } else { mq::resolve(quotas, user, client_id, quota.key()) };
        if let Some((entity, value)) = found {
            // A named entity's quota is shared by the clients it names; a default one
            // is per user / client id; a side the entity does not name is not a tag.
            let u = if entity.user.is_some() { user } else { "" };
            let c = if entity.client.is_some() { client_id } else { "" };
            return Some((key(u, c), value));
        }
        let fallback = match quota {
            QuotaType::Produce => self.static_producer,
            QuotaType::Fetch => self.static_consumer,
            QuotaType::Request => None,
        };
        fallback.map(|v| (key("", client_id), v))
    }

    /// Records `value` for the sensor and returns the throttle time it earns
    /// (zero while the rate stays within `quota`).
    pub fn record(&self, key: &SensorKey, quota: f64, value: f64) -> Duration {
        let now = Instant::now();
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        let sensor = sensors.entry(key.clone()).or_insert_with(|| Sensor {
            values: Samples::default(),
            throttles: Samples::default(),
            last_used: now,
        });
        sensor.last_used = now;
        sensor.values.record(value, now, self.window, self.num);
        let span = sensor.values.span(now, self.window, self.num);
        let rate = sensor.values.total() / span.as_secs_f64();
        if quota <= 0.0 || rate <= quota {
            return Duration::ZERO;
        }
        let throttle = span.mul_f64(((rate - quota) / quota).min(f64::from(self.num) * 2.0)).min(self.max_throttle());
        sensor.throttles.record(throttle.as_secs_f64() * 1000.0, now, self.window, self.num);
        throttle
    }

    /// Takes back a recording (a throttled Fetch answers without its records, so
    /// they do not count, as in Kafka).
    pub fn unrecord(&self, key: &SensorKey, value: f64) {
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, sum, _)) = sensors.get_mut(key).and_then(|s| s.values.windows.back_mut()) {
            *sum -= value;
        }
    }

    /// (key, rate per second, average throttle ms) of every live sensor; drops idle ones.
    pub fn snapshot(&self) -> Vec<(SensorKey, f64, f64)> {
        let now = Instant::now();
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        sensors.retain(|_, s| now.duration_since(s.last_used) < IDLE_EXPIRY);
        let mut out: Vec<_> = sensors
            .iter_mut()
            .map(|(k, s)| {
                s.values.purge(now, self.window, self.num);
                s.throttles.purge(now, self.window, self.num);
                let rate = s.values.total() / s.values.span(now, self.window, self.num).as_secs_f64();
                let count = s.throttles.count();
                let avg = if count == 0 { 0.0 } else { s.throttles.total() / count as f64 };
                (k.clone(), rate, avg)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metadata::quotas::QuotaName;

    fn key() -> SensorKey {
        SensorKey { quota: QuotaType::Produce, user: String::new(), client_id: "c".into() }
    }

    #[test]
    fn within_quota_is_free_and_over_it_throttles_by_kafkas_formula() {
        let q = ClientQuotas::new(Duration::from_secs(1), 11, None, None);
        // 10 s minimum span: 5000 bytes at once is a rate of 500/s.
        assert_eq!(q.record(&key(), 1000.0, 5000.0), Duration::ZERO);
        // 20000 in all: 2000/s against 1000/s → (2000−1000)/1000 × 10 s = 10 s.
        let t = q.record(&key(), 1000.0, 15000.0);
        assert!((t.as_secs_f64() - 10.0).abs() < 0.1, "{t:?}");
        // Far over: capped at the whole window span.
        assert_eq!(q.record(&key(), 1000.0, 1e9), Duration::from_secs(11));
        let snap = q.snapshot();
        assert_eq!(snap.len(), 1);
        assert!(snap[0].2 > 0.0);
    }

    #[test]
    fn tags_follow_the_entity() {
        let q = ClientQuotas::new(Duration::from_secs(1), 11, Some(7.0), None);
        let mut quotas = std::collections::BTreeMap::new();
        assert_eq!(q.quota_for(&quotas, QuotaType::Produce, "u", "c").unwrap().1, 7.0);
        assert!(q.quota_for(&quotas, QuotaType::Fetch, "u", "c").is_none());
        quotas.insert(
            QuotaEntity::client(QuotaName::Named("c".into())),
            [(mq::PRODUCER_BYTE_RATE.to_string(), 9.0)].into_iter().collect(),
        );
        let (k, v) = q.quota_for(&quotas, QuotaType::Produce, "u", "c").unwrap();
        assert_eq!((k.user.as_str(), k.client_id.as_str(), v), ("", "c", 9.0));
    }
}
