//! The client quota metrics, read from the sensors when Prometheus scrapes:
//! Kafka's `kafka.server:type=Produce|Fetch|Request,user=…,client-id=…` MBeans with
//! their `byte-rate` / `request-time` and `throttle-time` attributes, named as the JMX
//! exporter prints them (`kafka_server_produce_byte_rate{user,client_id}`,
//! `kafka_server_produce_throttle_time`, `kafka_server_fetch_…`,
//! `kafka_server_request_request_time`, `kafka_server_request_throttle_time`).
//! Only sensors that exist are shown; idle ones expire in the quota manager.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};

use super::{ClientQuotas, QuotaType};

/// A Prometheus collector over a [`ClientQuotas`].
pub struct QuotaCollector {
    quotas: Arc<ClientQuotas>,
    /// (quota type, rate gauge, throttle gauge).
    gauges: Vec<(QuotaType, GaugeVec, GaugeVec)>,
}

fn gauge(name: &str, help: &str) -> Result<GaugeVec, prometheus::Error> {
    GaugeVec::new(Opts::new(name, help), &["user", "client_id"])
}

impl QuotaCollector {
    pub fn new(quotas: Arc<ClientQuotas>) -> Result<QuotaCollector, prometheus::Error> {
        let gauges = vec![
            (
                QuotaType::Produce,
                gauge("kafka_server_produce_byte_rate", "Bytes per second a client produced, over the quota window.")?,
                gauge(
                    "kafka_server_produce_throttle_time",
                    "Average produce throttle time in ms over the quota window.",
                )?,
            ),
            (
                QuotaType::Fetch,
                gauge("kafka_server_fetch_byte_rate", "Bytes per second a consumer fetched, over the quota window.")?,
                gauge("kafka_server_fetch_throttle_time", "Average fetch throttle time in ms over the quota window.")?,
            ),
            (
                QuotaType::Request,
                gauge(
                    "kafka_server_request_request_time",
                    "Percent of one request handler's time a client used, over the quota window.",
                )?,
                gauge(
                    "kafka_server_request_throttle_time",
                    "Average request-quota throttle time in ms over the window.",
                )?,
            ),
        ];
        Ok(QuotaCollector { quotas, gauges })
    }
}

impl Collector for QuotaCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.iter().flat_map(|(_, r, t)| r.desc().into_iter().chain(t.desc())).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for (_, rate, throttle) in &self.gauges {
            rate.reset();
            throttle.reset();
        }
        for (key, value, throttle_ms) in self.quotas.snapshot() {
            if let Some((_, rate, throttle)) = self.gauges.iter().find(|(q, _, _)| *q == key.quota) {
                let labels = [key.user.as_str(), key.client_id.as_str()];
                rate.with_label_values(&labels).set(value);
                throttle.with_label_values(&labels).set(throttle_ms);
            }
        }
        self.gauges.iter().flat_map(|(_, r, t)| r.collect().into_iter().chain(t.collect())).collect()
    }
}
