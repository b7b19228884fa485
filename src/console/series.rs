//! The charts' time series: a named background task samples every
//! [`INTERVAL`] the end offsets of every topic (→ messages/s), the brokers'
//! `kafka_server_brokertopicmetrics_{bytesin,bytesout,messagesin}_total`
//! counters (→ bytes/s) and every group's total lag, and keeps the last
//! [`KEEP`] samples (10 minutes). Rates are differences of two samples, so a
//! restarted broker (counters back to 0) shows no negative spike: a counter
//! that went down counts as 0 for that step.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Console;
use crate::client::OffsetSpec;
use crate::network::Shutdown;

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// Samples kept: 10 minutes.
pub const KEEP: usize = 300;
/// Topics whose end offsets are sampled (the largest clusters are charted in part).
const MAX_TOPICS: usize = 200;
/// Groups whose lag is sampled.
const MAX_GROUPS: usize = 100;
/// How long one metrics endpoint may take to answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest metrics page read.
const MAX_SCRAPE_BYTES: usize = 16 * 1024 * 1024;

/// Where the console reads the brokers' byte counters.
#[derive(Clone)]
pub enum MetricsSource {
    /// None: the bytes charts stay empty.
    None,
    /// The broker's own registry, rendered in the text format (broker mode).
    Local(Arc<dyn Fn() -> String + Send + Sync>),
    /// `http://host:port/metrics` endpoints, scraped over HTTP (`--metrics-url`).
    Urls(Vec<String>),
}

impl std::fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricsSource::None => f.write_str("None"),
            MetricsSource::Local(_) => f.write_str("Local"),
            MetricsSource::Urls(u) => f.debug_tuple("Urls").field(u).finish(),
        }
    }
}

/// The byte and message counters summed over every source.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub messages_in: f64,
}

/// One raw sample.
#[derive(Debug, Clone, Default)]
struct Raw {
    at: Option<Instant>,
    /// Sum of the partitions' end offsets per topic.
    end_offsets: BTreeMap<String, i64>,
    counters: Option<Counters>,
}

/// One point of the charts.
#[derive(Debug, Clone)]
struct Point {
    /// Milliseconds since the epoch.
    time_ms: i64,
    topic_rates: BTreeMap<String, f64>,
    bytes_in: Option<f64>,
    bytes_out: Option<f64>,
    group_lags: BTreeMap<String, i64>,
}

/// The kept samples.
#[derive(Debug, Default)]
pub struct Series {
    last: Raw,
    points: VecDeque<Point>,
}

impl Series {
    /// The charts' data: `{"interval_ms", "points": [{"time", "topics": {t: msg/s},
    /// "bytes_in", "bytes_out", "groups": {g: lag}}]}`.
    pub fn to_json(&self) -> Value {
        let points: Vec<Value> = self
            .points
            .iter()
            .map(|p| {
                json!({
                    "time": p.time_ms,
                    "topics": p.topic_rates,
                    "bytes_in": p.bytes_in,
                    "bytes_out": p.bytes_out,
                    "groups": p.group_lags,
                })
            })
            .collect();
        json!({ "interval_ms": INTERVAL.as_millis() as u64, "keep": KEEP, "points": points })
    }

    /// Each topic's messages/s at the last sample.
    pub fn latest_topic_rates(&self) -> BTreeMap<String, f64> {
        self.points.back().map(|p| p.topic_rates.clone()).unwrap_or_default()
    }

    /// Each group's total lag at the last sample.
    pub fn latest_group_lags(&self) -> BTreeMap<String, i64> {
        self.points.back().map(|p| p.group_lags.clone()).unwrap_or_default()
    }

    /// Adds a sample; the first one only sets the base of the rates.
    fn push(&mut self, raw: Raw, group_lags: BTreeMap<String, i64>, time_ms: i64) {
        let (Some(now), Some(then)) = (raw.at, self.last.at) else {
            self.last = raw;
            return;
        };
        let secs = now.duration_since(then).as_secs_f64().max(0.001);
        let rate = |new: f64, old: f64| ((new - old).max(0.0)) / secs;
        let topic_rates = raw
            .end_offsets
            .iter()
            .filter_map(|(t, end)| self.last.end_offsets.get(t).map(|old| (t.clone(), rate(*end as f64, *old as f64))))
            .collect();
        let (bytes_in, bytes_out) = match (raw.counters, self.last.counters) {
            (Some(n), Some(o)) => (Some(rate(n.bytes_in, o.bytes_in)), Some(rate(n.bytes_out, o.bytes_out))),
            _ => (None, None),
        };
        self.points.push_back(Point { time_ms, topic_rates, bytes_in, bytes_out, group_lags });
        while self.points.len() > KEEP {
            self.points.pop_front();
        }
        self.last = raw;
    }
}

/// The sampler task: one sample per [`INTERVAL`] until `shutdown`.
pub async fn run(console: Arc<Console>, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait() => return,
        }
        let sample = tokio::select! {
            s = sample(&console) => s,
            _ = shutdown.wait() => return,
        };
        let (raw, lags) = sample;
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        console.series.lock().unwrap_or_else(|e| e.into_inner()).push(raw, lags, time_ms);
    }
}

async fn sample(console: &Console) -> (Raw, BTreeMap<String, i64>) {
    let at = Some(Instant::now());
    let counters = read_counters(&console.metrics).await;
    let mut end_offsets = BTreeMap::new();
    let mut partition_ends: HashMap<(String, i32), i64> = HashMap::new();
    match console.admin.describe_topics(None).await {
        Ok(topics) => {
            for t in topics.iter().filter(|t| !t.internal).take(MAX_TOPICS) {
                let mut sum = 0i64;
                let mut complete = true;
                for p in &t.partitions {
                    match console.admin.list_offsets(&t.name, p.partition, OffsetSpec::Latest).await {
                        Ok(end) => {
                            sum += end;
                            partition_ends.insert((t.name.clone(), p.partition), end);
                        }
                        Err(_) => complete = false,
                    }
                }
                if complete {
                    end_offsets.insert(t.name.clone(), sum);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "console: sampling the topics failed"),
    }
    let mut lags = BTreeMap::new();
    if let Ok(groups) = console.admin.list_groups(&[]).await {
        for g in groups.into_iter().take(MAX_GROUPS) {
            let Ok(offsets) = console.admin.list_group_offsets(&g.group_id, None).await else { continue };
            let mut lag = 0i64;
            for (tp, c) in &offsets {
                let end = match partition_ends.get(&(tp.topic.clone(), tp.partition)) {
                    Some(e) => Some(*e),
                    None => console.admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await.ok(),
                };
                if let (Some(end), true) = (end, c.offset >= 0) {
                    lag += (end - c.offset).max(0);
                }
            }
            lags.insert(g.group_id, lag);
        }
    }
    (Raw { at, end_offsets, counters }, lags)
}

/// Sums the byte counters of every source; `None` when there is no source or
/// one of them could not be read (a partial sum would look like a drop).
async fn read_counters(source: &MetricsSource) -> Option<Counters> {
    match source {
        MetricsSource::None => None,
        MetricsSource::Local(render) => {
            let render = render.clone();
            let text = tokio::task::spawn_blocking(move || render()).await.ok()?;
            Some(counters(&text))
        }
        MetricsSource::Urls(urls) => {
            let mut total = Counters::default();
            for url in urls {
                match http_get(url).await {
                    Ok(text) => {
                        let c = counters(&text);
                        total.bytes_in += c.bytes_in;
                        total.bytes_out += c.bytes_out;
                        total.messages_in += c.messages_in;
                    }
                    Err(e) => {
                        tracing::debug!(url, error = %e, "console: scraping metrics failed");
                        return None;
                    }
                }
            }
            Some(total)
        }
    }
}

/// The broker-wide byte and message counters in a Prometheus text page. Kafka
/// keeps both a per-topic series and an all-topics one (no `topic` label);
/// the latter is used when present, else the per-topic ones are summed.
pub fn counters(text: &str) -> Counters {
    let pick = |name: &str| -> f64 {
        let (mut total, mut topics, mut saw_total) = (0.0, 0.0, false);
        for (labels, value) in samples(text, name) {
            if labels.contains("topic=") {
                topics += value;
            } else {
                total += value;
                saw_total = true;
            }
        }
        if saw_total {
            total
        } else {
            topics
        }
    };
    Counters {
        bytes_in: pick("kafka_server_brokertopicmetrics_bytesin_total"),
        bytes_out: pick("kafka_server_brokertopicmetrics_bytesout_total"),
        messages_in: pick("kafka_server_brokertopicmetrics_messagesin_total"),
    }
}

/// The samples of metric `name` in a text-format page: (label text, value).
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let line = line.trim();
        let rest = line.strip_prefix(name)?;
        let (labels, rest) = if let Some(after) = rest.strip_prefix('{') {
            let close = after.rfind('}')?;
            (&after[..close], &after[close + 1..])
        } else if rest.starts_with(' ') || rest.starts_with('\t') {
            ("", rest)
        } else {
            return None; // a longer name with this prefix
        };
        let value = rest.split_whitespace().next()?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().ok()?,
        };
        value.is_finite().then_some((labels, value))
    })
}

/// A plain HTTP/1.1 GET of `http://host:port/path`; the body of a 200 answer.
pub async fn http_get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}`: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/plain\r\nConnection: close\r\nUser-Agent: gregor-console\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        (&mut stream).take(MAX_SCRAPE_BYTES as u64).read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(SCRAPE_TIMEOUT, fetch).await.map_err(|_| "timed out".to_string())??;
    parse_response(&raw)
}

/// The body of a raw HTTP/1.1 answer (Content-Length, chunked, or to the end).
fn parse_response(raw: &[u8]) -> Result<String, String> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size `{size_text}`"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counters_prefer_the_all_topics_series() {
        let text = "# HELP kafka_server_brokertopicmetrics_bytesin_total x\n\
            kafka_server_brokertopicmetrics_bytesin_total 100\n\
            kafka_server_brokertopicmetrics_bytesin_total{topic=\"a\"} 60\n\
            kafka_server_brokertopicmetrics_bytesin_total{topic=\"b\"} 40\n\
            kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 7\n\
            kafka_server_brokertopicmetrics_bytesout_total{topic=\"b\"} 3e1\n\
            kafka_server_brokertopicmetrics_bytesout_totalx 5\n";
        let c = counters(text);
        assert_eq!(c.bytes_in, 100.0);
        assert_eq!(c.bytes_out, 37.0);
        assert_eq!(c.messages_in, 0.0);
    }

    #[test]
    fn rates_come_from_differences_and_never_go_negative() {
        let mut s = Series::default();
        let t0 = Instant::now();
        let raw = |at: Instant, end: i64, bytes: f64| Raw {
            at: Some(at),
            end_offsets: [("t".to_string(), end)].into(),
            counters: Some(Counters { bytes_in: bytes, bytes_out: 0.0, messages_in: 0.0 }),
        };
        s.push(raw(t0, 10, 1000.0), BTreeMap::new(), 0);
        assert!(s.points.is_empty());
        s.push(raw(t0 + Duration::from_secs(2), 30, 3000.0), [("g".to_string(), 5)].into(), 2000);
        assert_eq!(s.latest_topic_rates()["t"], 10.0);
        assert_eq!(s.points[0].bytes_in, Some(1000.0));
        assert_eq!(s.latest_group_lags()["g"], 5);
        s.push(raw(t0 + Duration::from_secs(4), 30, 0.0), BTreeMap::new(), 4000);
        assert_eq!(s.points[1].bytes_in, Some(0.0));
        for i in 0..400 {
            s.push(raw(t0 + Duration::from_secs(6 + i), 30, 0.0), BTreeMap::new(), 0);
        }
        assert_eq!(s.points.len(), KEEP);
        assert_eq!(s.to_json()["points"].as_array().unwrap().len(), KEEP);
    }

    #[test]
    fn http_answers_are_parsed() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_response(plain).unwrap(), "hello");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "hello");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err().contains("404"));
    }
}
