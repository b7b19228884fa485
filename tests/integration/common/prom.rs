//! Scraping a `/metrics` endpoint in tests: the Prometheus text format
//! parsed into samples, looked up by name and labels.

use std::net::SocketAddr;

use super::http;

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A whole scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses Prometheus's text exposition format (comments skipped).
    pub fn parse(text: &str) -> Scrape {
        let samples = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).filter_map(parse_sample).collect();
        Scrape { text: text.to_string(), samples }
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
            .collect()
    }

    /// The value of the one sample matching, or the sum when several do
    /// (`None` when none does).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        (!found.is_empty()).then(|| found.iter().map(|s| s.value).sum())
    }

    /// Like [`Scrape::value`], panicking with the scrape when absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?} in the scrape:\n{}", self.text))
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (head, value) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], line[close + 1..].trim())
        }
        None => line.split_once(' ')?,
    };
    let value = value.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match head.find('{') {
        Some(open) => (&head[..open], parse_labels(&head[open + 1..head.len() - 1])),
        None => (head, Vec::new()),
    };
    Some(Sample { name: name.trim().to_string(), labels, value })
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let Some(body) = after.strip_prefix('"') else { break };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key, value));
        rest = &body[end..];
    }
    out
}

/// GETs `http://addr/metrics` and parses it (panics unless 200).
pub fn scrape(addr: SocketAddr) -> Scrape {
    let r = http::request(addr, "GET", "/metrics", None);
    assert_eq!(r.status, 200, "GET /metrics: {}", r.body);
    Scrape::parse(&r.body)
}

#[test]
fn parses_the_text_format() {
    let s = Scrape::parse(
        "# HELP x y\n# TYPE x counter\nx_total{topic=\"a\",partition=\"0\"} 3\nx_total{topic=\"b\"} 4\nup 1\nh_bucket{le=\"+Inf\"} 2\n",
    );
    assert_eq!(s.get("x_total", &[("topic", "a")]), 3.0);
    assert_eq!(s.get("x_total", &[]), 7.0);
    assert_eq!(s.get("up", &[]), 1.0);
    assert_eq!(s.get("h_bucket", &[("le", "+Inf")]), 2.0);
    assert!(s.value("nope", &[]).is_none());
}
