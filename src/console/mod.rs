//! The web console: a small JSON API over our own Kafka client and a static,
//! self-contained page (HTML, CSS and vanilla JS embedded in the binary) that
//! calls it. Served by `gregor console --bootstrap-server …` or by a broker
//! with `console.listener` set.
//!
//! It talks to the cluster only through [`crate::client`] (an [`Admin`] for
//! metadata, configs, offsets and groups; a short-lived [`crate::client::Consumer`]
//! per record-browser request), so it never imports the broker: a broker hands
//! it a client config, its inter-broker security and a way to read its own
//! metrics registry. A background task ([`series`]) samples throughput and lag
//! every 2 s for the charts.
//!
//! Parts: `api` (the JSON endpoints), `series` (the sampler, the Prometheus
//! text parser, the `--metrics-url` fetcher), `assets/` (the page).

mod api;
pub mod series;

use std::sync::{Arc, Mutex};

use hyper::StatusCode;

use crate::client::{Admin, ClientConfig, ClientError, Security};
use crate::metrics::http::{json, respond, Handler, HttpRequest};
use crate::network::Shutdown;

pub use series::MetricsSource;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// What the console needs to reach a cluster.
pub struct ConsoleConfig {
    /// Bootstrap servers, client id and timeouts.
    pub client: ClientConfig,
    /// Connection security (from `--command-config`, or a broker's inter-broker settings).
    pub security: Security,
    /// Where bytes in/out come from.
    pub metrics: MetricsSource,
}

/// A running console's state, shared by the HTTP handler and the sampler.
pub struct Console {
    admin: Admin,
    client: ClientConfig,
    security: Security,
    metrics: MetricsSource,
    series: Mutex<series::Series>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("bootstrap", &self.client.bootstrap_servers).finish_non_exhaustive()
    }
}

impl Console {
    /// Connects the admin client (one Metadata round trip).
    pub async fn connect(config: ConsoleConfig) -> Result<Arc<Console>, ClientError> {
        let admin = Admin::connect_with_security(config.client.clone(), config.security.clone()).await?;
        Ok(Arc::new(Console {
            admin,
            client: config.client,
            security: config.security,
            metrics: config.metrics,
            series: Mutex::new(series::Series::default()),
        }))
    }

    /// The HTTP handler: the page's files and `/api/…`.
    pub fn handler(self: &Arc<Console>) -> Handler {
        let console = self.clone();
        Arc::new(move |req: HttpRequest| {
            let console = console.clone();
            Box::pin(async move { console.route(req).await })
        })
    }

    /// Starts the sampler: every [`series::INTERVAL`] until `shutdown`.
    pub fn spawn_sampler(self: &Arc<Console>, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(series::run(self.clone(), shutdown))
    }

    async fn route(&self, req: HttpRequest) -> hyper::Response<crate::metrics::http::Body> {
        if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
            return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
        }
        let path = req.uri().path().to_string();
        let query = api::Query::parse(req.uri().query().unwrap_or(""));
        match path.as_str() {
            "/" | "/index.html" => respond(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML),
            "/app.js" => respond(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
            "/app.css" => respond(StatusCode::OK, "text/css; charset=utf-8", APP_CSS),
            "/favicon.svg" | "/favicon.ico" => respond(StatusCode::OK, "image/svg+xml", FAVICON_SVG),
            p if p.starts_with("/api/") => {
                let segments: Vec<String> = p["/api/".len()..].split('/').map(api::percent_decode).collect();
                let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
                match api::dispatch(self, &segments, &query).await {
                    Ok(value) => json(StatusCode::OK, &value),
                    Err(e) => error(e.status, &e.message),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not found"),
        }
    }
}

/// A JSON error answer: `{"error": message, "status": code}`.
fn error(status: StatusCode, message: &str) -> hyper::Response<crate::metrics::http::Body> {
    json(status, &serde_json::json!({ "error": message, "status": status.as_u16() }))
}
