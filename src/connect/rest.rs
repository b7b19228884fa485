//! Kafka Connect's REST API over HTTP/1.1, for any [`Herder`]: the paths,
//! status codes and JSON shapes of Kafka Connect's `ConnectorsResource`,
//! `ConnectorPluginsResource` and `RootResource`, and its error body
//! `{"error_code": <status>, "message": …}` (also for an unknown path, 404,
//! and a wrong method, 405).
//!
//! The worker keys are Kafka's: `listeners` (comma-separated
//! `http://host:port`, default `http://127.0.0.1:8083` — Kafka binds every
//! interface; we keep to loopback unless told), `rest.advertised.host.name`
//! and `rest.advertised.port` (what the worker tells others and reports as
//! its `worker_id`, `host:port`). Port 0 binds an ephemeral port, which is
//! why binding ([`RestListeners::bind`]) comes before serving: the herder
//! needs the worker id the bound port makes.
//!
//! Routing is a match on decoded path segments ([`Route::parse`]), pure and
//! unit-tested; the handlers only turn herder answers into responses. Every
//! resource is bounded: connections (a semaphore), request bodies
//! ([`MAX_BODY`]) and how long a client may take to send its headers.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::api;
use super::herder::{Herder, HerderError};
use super::Config;
use crate::metrics::http;

/// Kafka's default listener, on loopback.
pub const DEFAULT_LISTENERS: &str = "http://127.0.0.1:8083";
/// The largest request body accepted (a connector config is a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// How long an open connection may take to finish its request once the worker stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What goes wrong setting up the REST server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// A bad `listeners` / `rest.advertised.*` value; the message names the key.
    #[error("{0}")]
    Config(String),
    #[error("cannot bind the REST listener {listener}: {source}")]
    Bind { listener: String, source: std::io::Error },
}

/// The REST keys of a worker config, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// `(host, port)` per `listeners` entry.
    pub listeners: Vec<(String, u16)>,
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
}

impl RestConfig {
    /// Reads `listeners`, `rest.advertised.host.name`, `rest.advertised.port`.
    pub fn from_props(props: &Config) -> Result<RestConfig, RestError> {
        let listeners = parse_listeners(props.get("listeners").map_or(DEFAULT_LISTENERS, String::as_str))?;
        let advertised_host =
            props.get("rest.advertised.host.name").map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
        let advertised_port = match props.get("rest.advertised.port").map(|p| p.trim()) {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                RestError::Config(format!(
                    "Invalid value {p} for configuration rest.advertised.port: Not a number of type INT in 0..65535"
                ))
            })?),
        };
        Ok(RestConfig { listeners, advertised_host, advertised_port })
    }
}

/// `listeners`: comma-separated `http://host:port` (`https` is not supported).
pub fn parse_listeners(value: &str) -> Result<Vec<(String, u16)>, RestError> {
    let bad = |l: &str, why: &str| RestError::Config(format!("Invalid value {l} for configuration listeners: {why}"));
    let mut out = Vec::new();
    for l in value.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let rest = match l.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad(l, "https listeners are not supported; use http://host:port"))
            }
            _ => return Err(bad(l, "expected http://host:port")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad(l, "expected http://host:port"))?;
        let port: u16 = port.parse().map_err(|_| bad(l, "the port must be a number in 0..65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        out.push((host.to_string(), port));
    }
    if out.is_empty() {
        return Err(bad(value, "at least one listener is required"));
    }
    Ok(out)
}

/// The REST listeners, bound but not yet serving.
pub struct RestListeners {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    advertised_url: String,
    worker_id: String,
}

impl RestListeners {
    /// Binds every listener and logs Kafka's `REST server listening at …`
    /// line per listener.
    pub async fn bind(config: &RestConfig) -> Result<RestListeners, RestError> {
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (host, port) in &config.listeners {
            let target = if host.is_empty() { "0.0.0.0" } else { host.as_str() };
            let listener = TcpListener::bind((target, *port))
                .await
                .map_err(|source| RestError::Bind { listener: format!("http://{host}:{port}"), source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| RestError::Bind { listener: format!("http://{host}:{port}"), source })?;
            listeners.push(listener);
            addrs.push(addr);
        }
        let first = addrs.first().copied().ok_or_else(|| RestError::Config("listeners names no listener".into()))?;
        let host = match &config.advertised_host {
            Some(h) => h.clone(),
            None if first.ip().is_unspecified() => local_hostname(),
            None => first.ip().to_string(),
        };
        let port = config.advertised_port.unwrap_or(first.port());
        let url_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let advertised_url = format!("http://{url_host}:{port}/");
        for addr in &addrs {
            tracing::info!("REST server listening at http://{addr}/, advertising URL {advertised_url}");
        }
        Ok(RestListeners { listeners, addrs, advertised_url, worker_id: format!("{host}:{port}") })
    }

    /// `host:port` others know this worker by (Kafka's `worker_id`).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// `http://host:port/`.
    pub fn advertised_url(&self) -> &str {
        &self.advertised_url
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Serves `herder` until `shutdown` completes; connections then finish
    /// the request in hand and close.
    pub fn serve<H: Herder>(self, herder: Arc<H>, shutdown: impl Future<Output = ()> + Send + 'static) -> RestServer {
        let (trigger, stop) = crate::network::shutdown::channel();
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let handler: http::RawHandler = Arc::new(move |req| {
            let herder = herder.clone();
            Box::pin(async move { handle(herder.as_ref(), req).await })
        });
        let mut accept_loops = Vec::new();
        for listener in self.listeners {
            let serving = http::serve_raw(listener, handler.clone(), limit.clone(), SHUTDOWN_GRACE, stop.clone());
            accept_loops.push(tokio::spawn(serving));
        }
        let stopper = tokio::spawn(async move {
            shutdown.await;
            trigger.trigger();
        });
        RestServer {
            addrs: self.addrs,
            advertised_url: self.advertised_url,
            worker_id: self.worker_id,
            accept_loops,
            stopper,
        }
    }
}

/// The hostname for a worker listening on every interface.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A running REST server.
pub struct RestServer {
    addrs: Vec<SocketAddr>,
    advertised_url: String,
    worker_id: String,
    accept_loops: Vec<JoinHandle<()>>,
    stopper: JoinHandle<()>,
}

impl RestServer {
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn advertised_url(&self) -> &str {
        &self.advertised_url
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Waits until the server has stopped (after its shutdown future
    /// completed and open connections closed).
    pub async fn wait(self) {
        for l in self.accept_loops {
            let _ = l.await;
        }
        self.stopper.abort();
    }
}

/// Binds `listeners` (the worker key's value) and serves `herder` — for a
/// caller that needs no worker id from the bound port before serving.
pub async fn serve<H: Herder>(
    herder: Arc<H>,
    listeners: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RestServer, RestError> {
    let config = RestConfig { listeners: parse_listeners(listeners)?, advertised_host: None, advertised_port: None };
    Ok(RestListeners::bind(&config).await?.serve(herder, shutdown))
}

/// A request's target, decoded from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Root,
    Connectors,
    Connector(String),
    ConnectorConfig(String),
    ConnectorStatus(String),
    ConnectorTasks(String),
    TaskStatus(String, usize),
    TaskRestart(String, usize),
    Pause(String),
    Resume(String),
    Restart(String),
    Plugins,
    Validate(String),
}

impl Route {
    /// The route of a path (percent-decoded per segment); `None` is 404.
    pub fn parse(path: &str) -> Option<Route> {
        let trimmed = path.strip_prefix('/')?;
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Some(Route::Root);
        }
        let segs: Vec<String> = trimmed.split('/').map(percent_decode).collect::<Option<_>>()?;
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let name = |i: usize| segs[i].clone();
        Some(match s.as_slice() {
            ["connectors"] => Route::Connectors,
            ["connectors", n] if !n.is_empty() => Route::Connector(name(1)),
            ["connectors", _, "config"] => Route::ConnectorConfig(name(1)),
            ["connectors", _, "status"] => Route::ConnectorStatus(name(1)),
            ["connectors", _, "tasks"] => Route::ConnectorTasks(name(1)),
            ["connectors", _, "tasks", t, "status"] => Route::TaskStatus(name(1), t.parse().ok()?),
            ["connectors", _, "tasks", t, "restart"] => Route::TaskRestart(name(1), t.parse().ok()?),
            ["connectors", _, "pause"] => Route::Pause(name(1)),
            ["connectors", _, "resume"] => Route::Resume(name(1)),
            ["connectors", _, "restart"] => Route::Restart(name(1)),
            ["connector-plugins"] => Route::Plugins,
            ["connector-plugins", _, "config", "validate"] => Route::Validate(name(1)),
            _ => return None,
        })
    }

    /// The methods this route answers; any other is 405.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Route::Root | Route::ConnectorStatus(_) | Route::ConnectorTasks(_) | Route::TaskStatus(..) => {
                &[Method::GET]
            }
            Route::Plugins => &[Method::GET],
            Route::Connectors => &[Method::GET, Method::POST],
            Route::Connector(_) => &[Method::GET, Method::DELETE],
            Route::ConnectorConfig(_) => &[Method::GET, Method::PUT],
            Route::TaskRestart(..) | Route::Restart(_) => &[Method::POST],
            Route::Pause(_) | Route::Resume(_) | Route::Validate(_) => &[Method::PUT],
        }
    }
}

/// `%XX`-decodes a path segment; `None` for a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameters, decoded (`+` is a space); repeated keys keep every value.
fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(&k.replace('+', " "))?, percent_decode(&v.replace('+', " "))?))
        })
        .collect()
}

/// A boolean query parameter (`true`, case-insensitive; absent is false).
fn flag(params: &[(String, String)], key: &str) -> Result<bool, HerderError> {
    match params.iter().rev().find(|(k, _)| k == key) {
        None => Ok(false),
        Some((_, v)) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
        Some((_, v)) => {
            Err(HerderError::BadRequest(format!("Invalid value {v} for query parameter {key}: expected true or false")))
        }
    }
}

type Body = Full<Bytes>;

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// Kafka's error body with its HTTP status.
fn error_response(code: u16, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &json!({"error_code": status.as_u16(), "message": message}))
}

fn herder_error(e: HerderError) -> Response<Body> {
    error_response(e.status_code(), &e.to_string())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, HerderError> {
    serde_json::to_value(v).map_err(|e| HerderError::Internal(e.to_string()))
}

/// Answers one request; never fails (every error is a Kafka error body).
async fn handle<H: Herder>(herder: &H, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let Some(route) = Route::parse(parts.uri.path()) else {
        return error_response(404, "HTTP 404 Not Found");
    };
    if !route.methods().contains(&parts.method) {
        return error_response(405, "HTTP 405 Method Not Allowed");
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                error_response(413, &format!("Request body larger than {MAX_BODY} bytes"))
            } else {
                error_response(400, &format!("Cannot read the request body: {e}"))
            };
        }
    };
    let params = query_params(parts.uri.query());
    match dispatch(herder, &parts.method, route, &params, &body).await {
        Ok(r) => r,
        Err(e) => herder_error(e),
    }
}

async fn dispatch<H: Herder>(
    herder: &H,
    method: &Method,
    route: Route,
    params: &[(String, String)],
    body: &[u8],
) -> Result<Response<Body>, HerderError> {
    let ok = |v: Value| json_response(StatusCode::OK, &v);
    Ok(match (route, method.clone()) {
        (Route::Root, _) => ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": "unknown",
            "kafka_cluster_id": herder.kafka_cluster_id().await?,
        })),
        (Route::Connectors, Method::GET) => {
            let names = herder.connectors().await?;
            let expand: Vec<&str> = params.iter().filter(|(k, _)| k == "expand").map(|(_, v)| v.as_str()).collect();
            let (status, info) = (expand.contains(&"status"), expand.contains(&"info"));
            if !status && !info {
                ok(json!(names))
            } else {
                let mut out = serde_json::Map::new();
                for name in names {
                    let mut entry = serde_json::Map::new();
                    // A connector deleted between listing and expanding is left out.
                    if status {
                        match herder.connector_status(&name).await {
                            Ok(s) => entry.insert("status".into(), to_json(&s)?),
                            Err(HerderError::NotFound(_)) => continue,
                            Err(e) => return Err(e),
                        };
                    }
                    if info {
                        match herder.connector_info(&name).await {
                            Ok(i) => entry.insert("info".into(), to_json(&i)?),
                            Err(HerderError::NotFound(_)) => continue,
                            Err(e) => return Err(e),
                        };
                    }
                    out.insert(name, Value::Object(entry));
                }
                ok(Value::Object(out))
            }
        }
        (Route::Connectors, _) => {
            let (name, config) = create_request(body)?;
            let (_, info) = herder.put_connector_config(&name, config, false).await?;
            let mut r = json_response(StatusCode::CREATED, &to_json(&info)?);
            if let Ok(v) = HeaderValue::from_str(&format!("/connectors/{}", percent_encode(&info.name))) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        (Route::Connector(name), Method::GET) => ok(to_json(&herder.connector_info(&name).await?)?),
        (Route::Connector(name), _) => {
            herder.delete_connector(&name).await?;
            empty(StatusCode::NO_CONTENT)
        }
        (Route::ConnectorConfig(name), Method::GET) => ok(to_json(&herder.connector_info(&name).await?.config)?),
        (Route::ConnectorConfig(name), _) => {
            let mut config = config_map(&parse_json(body)?)?;
            check_name(&name, &mut config)?;
            let (created, info) = herder.put_connector_config(&name, config, true).await?;
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            json_response(status, &to_json(&info)?)
        }
        (Route::ConnectorStatus(name), _) => ok(to_json(&herder.connector_status(&name).await?)?),
        (Route::ConnectorTasks(name), _) => ok(to_json(&herder.task_configs(&name).await?)?),
        (Route::TaskStatus(name, task), _) => {
            let status = herder.connector_status(&name).await?;
            let t = status
                .tasks
                .into_iter()
                .find(|t| t.id == task)
                .ok_or_else(|| HerderError::NotFound(format!("No status found for task {name}-{task}")))?;
            ok(to_json(&t)?)
        }
        (Route::TaskRestart(name, task), _) => {
            herder.restart_task(&name, task).await?;
            empty(StatusCode::NO_CONTENT)
        }
        (Route::Pause(name), _) => {
            herder.pause_connector(&name).await?;
            empty(StatusCode::ACCEPTED)
        }
        (Route::Resume(name), _) => {
            herder.resume_connector(&name).await?;
            empty(StatusCode::ACCEPTED)
        }
        (Route::Restart(name), _) => {
            let include_tasks = flag(params, "includeTasks")?;
            let only_failed = flag(params, "onlyFailed")?;
            herder.restart_connector(&name, include_tasks, only_failed).await?;
            if include_tasks || only_failed {
                json_response(StatusCode::ACCEPTED, &to_json(&herder.connector_status(&name).await?)?)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        (Route::Plugins, _) => ok(plugins_json()),
        (Route::Validate(class), _) => ok(validate(&class, config_map(&parse_json(body)?)?)?),
    })
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_json(body: &[u8]) -> Result<Value, HerderError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HerderError::BadRequest("Request body is empty; a JSON object is required".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| HerderError::BadRequest(format!("Cannot parse the request body as JSON: {e}")))
}

/// A JSON object of config values; scalars become strings as Kafka's
/// `Map<String, String>` binding makes them.
fn config_map(v: &Value) -> Result<Config, HerderError> {
    let obj = v
        .as_object()
        .ok_or_else(|| HerderError::BadRequest("The connector config must be a JSON object of strings".into()))?;
    let mut config = Config::new();
    for (k, v) in obj {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err(HerderError::BadRequest(format!(
                    "Invalid value for configuration {k}: must be a string, not {v}"
                )))
            }
        };
        config.insert(k.clone(), s);
    }
    Ok(config)
}

/// `POST /connectors`'s body: `{"name": …, "config": {…}}`.
fn create_request(body: &[u8]) -> Result<(String, Config), HerderError> {
    let v = parse_json(body)?;
    let obj = v.as_object().ok_or_else(|| {
        HerderError::BadRequest("The request body must be a JSON object {\"name\": …, \"config\": {…}}".into())
    })?;
    let name = match obj.get("name") {
        Some(Value::String(n)) => n.trim().to_string(),
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(HerderError::BadRequest(format!("Invalid connector name {other}: must be a string")))
        }
    };
    let mut config = match obj.get("config") {
        Some(c) if !c.is_null() => config_map(c)?,
        _ => {
            return Err(HerderError::BadRequest(
                "Connector config is missing: the body needs a \"config\" object".into(),
            ))
        }
    };
    let name =
        if name.is_empty() { config.get("name").map(|n| n.trim().to_string()).unwrap_or_default() } else { name };
    if name.is_empty() {
        return Err(HerderError::BadRequest("Connector name must not be empty".into()));
    }
    check_name(&name, &mut config)?;
    Ok((name, config))
}

/// Kafka's rule: a `name` in the config must match the connector's name;
/// an absent one is filled in.
fn check_name(name: &str, config: &mut Config) -> Result<(), HerderError> {
    match config.get("name") {
        Some(n) if n.trim() != name => Err(HerderError::BadRequest(format!(
            "Connector name configuration ({n}) doesn't match connector name in the URL ({name})"
        ))),
        Some(_) => Ok(()),
        None => {
            config.insert("name".into(), name.to_string());
            Ok(())
        }
    }
}

/// `GET /connector-plugins`.
fn plugins_json() -> Value {
    Value::Array(
        api::plugins()
            .into_iter()
            .map(|(class, kind)| json!({"class": class, "type": kind, "version": env!("CARGO_PKG_VERSION")}))
            .collect(),
    )
}

/// The key a validation message is about: Kafka's messages quote it
/// (`Missing required configuration "topic" …`) or follow `configuration`.
fn key_of_message(message: &str) -> Option<String> {
    let rest = &message[message.find("configuration ")? + "configuration ".len()..];
    let key = match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?,
        None => rest.split([':', ' ']).next()?,
    };
    (!key.is_empty()).then(|| key.to_string())
}

/// `PUT /connector-plugins/{class}/config/validate`: Kafka's ConfigInfos
/// with each key given, the common keys, and the errors of our checks on
/// the keys they name.
fn validate(class: &str, mut config: Config) -> Result<Value, HerderError> {
    let plugin = api::plugin(class).map_err(|e| HerderError::BadRequest(e.to_string()))?;
    let canonical = api::plugins()
        .into_iter()
        .find(|(c, _)| same_plugin(c, class))
        .map_or(class.to_string(), |(c, _)| c.to_string());
    let sink = matches!(plugin, api::Plugin::Sink(_));
    match config.get("connector.class") {
        Some(c) if same_plugin(c, &canonical) => {}
        Some(c) => {
            return Err(HerderError::BadRequest(format!(
                "Included connector type {c} does not match request type {class}"
            )))
        }
        None => {
            config.insert("connector.class".into(), class.to_string());
        }
    }
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = config.clone();
    match config.get("name").map(|n| n.trim()) {
        None => {
            errors
                .entry("name".into())
                .or_default()
                .push("Missing required configuration \"name\" which has no default value.".into());
            checked.insert("name".into(), "validate".into());
        }
        Some("") => {
            errors
                .entry("name".into())
                .or_default()
                .push("Invalid value for configuration name: must not be empty".into());
            checked.insert("name".into(), "validate".into());
        }
        Some(_) => {}
    }
    if let Err(e) = super::worker::task_configs(&checked) {
        let message = e.to_string();
        let key = key_of_message(&message).unwrap_or_else(|| "connector.class".to_string());
        errors.entry(key).or_default().push(message);
    }
    let mut keys: Vec<(String, &str)> = vec![
        ("name".into(), "Common"),
        ("connector.class".into(), "Common"),
        ("tasks.max".into(), "Common"),
        ("key.converter".into(), "Common"),
        ("value.converter".into(), "Common"),
    ];
    if sink {
        keys.push(("topics".into(), "Common"));
    }
    for k in config.keys().chain(errors.keys()) {
        if !keys.iter().any(|(n, _)| n == k) {
            keys.push((k.clone(), "Connector"));
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    let configs: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(order, (k, group))| {
            if !groups.contains(group) {
                groups.push(group);
            }
            let required = matches!(k.as_str(), "name" | "connector.class") || (sink && k == "topics");
            json!({
                "definition": {
                    "name": k,
                    "type": if k == "tasks.max" { "INT" } else { "STRING" },
                    "required": required,
                    "default_value": if k == "tasks.max" { Value::from("1") } else { Value::Null },
                    "importance": if required { "HIGH" } else { "MEDIUM" },
                    "documentation": "",
                    "group": group,
                    "width": "MEDIUM",
                    "display_name": k,
                    "dependents": [],
                    "order": order + 1,
                },
                "value": {
                    "name": k,
                    "value": config.get(k),
                    "recommended_values": [],
                    "errors": errors.get(k).cloned().unwrap_or_default(),
                    "visible": true,
                },
            })
        })
        .collect();
    let error_count: usize = errors.values().map(Vec::len).sum();
    Ok(json!({"name": canonical, "error_count": error_count, "groups": groups, "configs": configs}))
}

/// Whether `class` names the plugin `canonical` (full, simple or short name).
fn same_plugin(class: &str, canonical: &str) -> bool {
    let short = |c: &str| {
        let simple = c.trim().rsplit('.').next().unwrap_or(c).to_string();
        simple.strip_suffix("Connector").map(str::to_string).unwrap_or(simple)
    };
    short(class) == short(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(Route::parse("/"), Some(Route::Root));
        assert_eq!(Route::parse("/connectors"), Some(Route::Connectors));
        assert_eq!(Route::parse("/connectors/"), Some(Route::Connectors));
        assert_eq!(Route::parse("/connectors/a%20b"), Some(Route::Connector("a b".into())));
        assert_eq!(Route::parse("/connectors/x/config"), Some(Route::ConnectorConfig("x".into())));
        assert_eq!(Route::parse("/connectors/x/tasks/3/status"), Some(Route::TaskStatus("x".into(), 3)));
        assert_eq!(Route::parse("/connectors/x/tasks/3/restart"), Some(Route::TaskRestart("x".into(), 3)));
        assert_eq!(Route::parse("/connectors/x/pause"), Some(Route::Pause("x".into())));
        assert_eq!(Route::parse("/connector-plugins"), Some(Route::Plugins));
        assert_eq!(
            Route::parse("/connector-plugins/FileStreamSource/config/validate"),
            Some(Route::Validate("FileStreamSource".into()))
        );
        assert_eq!(Route::parse("/connectors/x/tasks/minus/status"), None);
        assert_eq!(Route::parse("/connectors/x/nope"), None);
        assert_eq!(Route::parse("/connectors/%zz"), None);
        assert_eq!(Route::parse("/connectors/%ff"), None);
        assert_eq!(Route::parse("nope"), None);
        assert_eq!(Route::parse("/connectors//status"), Some(Route::ConnectorStatus(String::new())));
    }

    #[test]
    fn methods_per_route() {
        assert_eq!(Route::Connectors.methods(), &[Method::GET, Method::POST]);
        assert!(!Route::Pause("x".into()).methods().contains(&Method::POST));
        assert!(Route::Connector("x".into()).methods().contains(&Method::DELETE));
    }

    #[test]
    fn listeners_are_http_host_port() {
        assert_eq!(parse_listeners("http://127.0.0.1:0").expect("ok"), vec![("127.0.0.1".to_string(), 0)]);
        assert_eq!(
            parse_listeners("http://a:1, http://[::1]:2/").expect("ok"),
            vec![("a".to_string(), 1), ("::1".to_string(), 2)]
        );
        assert!(parse_listeners("https://a:1").is_err());
        assert!(parse_listeners("a:1").is_err());
        assert!(parse_listeners("http://a:99999").is_err());
        assert!(parse_listeners("").is_err());
    }

    #[test]
    fn create_requests_check_the_name() {
        let (n, c) = create_request(br#"{"name":"x","config":{"tasks.max":1,"topic":"t"}}"#).expect("ok");
        assert_eq!(n, "x");
        assert_eq!(c.get("tasks.max").map(String::as_str), Some("1"));
        assert_eq!(c.get("name").map(String::as_str), Some("x"));
        assert!(create_request(br#"{"name":"x","config":{"name":"y"}}"#).is_err());
        assert!(create_request(br#"{"name":"x"}"#).is_err());
        assert!(create_request(b"{nope").is_err());
        assert!(create_request(br#"{"name":"x","config":{"a":{"b":1}}}"#).is_err());
    }

    #[test]
    fn validation_names_the_key_in_error() {
        let mut c = Config::new();
        c.insert("file".into(), "/tmp/x".into());
        let v = validate("FileStreamSource", c).expect("validated");
        assert_eq!(v["name"], "org.apache.kafka.connect.file.FileStreamSourceConnector");
        assert_eq!(v["error_count"], 2, "{v}");
        let topic = v["configs"].as_array().expect("configs").iter().find(|c| c["value"]["name"] == "topic");
        assert!(topic.is_some_and(|t| t["value"]["errors"][0].as_str().is_some_and(|e| e.contains("topic"))), "{v}");
        assert!(validate("NoSuch", Config::new()).is_err());
        assert_eq!(
            key_of_message("Invalid value x for configuration tasks.max: Not a number"),
            Some("tasks.max".into())
        );
    }

    #[test]
    fn query_flags() {
        let p = query_params(Some("includeTasks=true&onlyFailed=FALSE&expand=status&expand=info"));
        assert_eq!(flag(&p, "includeTasks"), Ok(true));
        assert_eq!(flag(&p, "onlyFailed"), Ok(false));
        assert_eq!(flag(&p, "absent"), Ok(false));
        assert!(flag(&query_params(Some("includeTasks=yes")), "includeTasks").is_err());
    }
}
