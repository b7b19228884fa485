//! A small HTTP/1.1 server (hyper) for the broker's side endpoints: Prometheus
//! `/metrics` (`metrics.listener`), the web console (`console.listener`) and
//! the coordinator's metrics. A listener value is `http://host:port` (port 0
//! picks a free one; the bound address is logged and returned).
//!
//! A handler is a function from a request (with its body already read, at
//! most [`MAX_BODY`] bytes) to a response; routing is up to the handler.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::network::Shutdown;

/// The largest request body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// Connections a side listener serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A response body.
pub type Body = Full<Bytes>;
/// A request with its body read.
pub type HttpRequest = Request<Bytes>;
/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
/// Routes one request.
pub type Handler = Arc<dyn Fn(HttpRequest) -> HandlerFuture + Send + Sync>;

/// Parses a side listener (`metrics.listener`, `console.listener`):
/// `http://host:port`, or `host:port`. `key` names the setting in errors.
pub fn parse_listener(key: &str, value: &str) -> Result<(String, u16), String> {
    let rest = value.trim();
    let rest = match rest.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!("{key}: unsupported scheme `{scheme}` in `{value}` (only http:// is served)"))
        }
        None => rest,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) =
        rest.rsplit_once(':').ok_or_else(|| format!("{key}: `{value}` is not of the form http://host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{key}: `{port}` in `{value}` is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_string(), port))
}

/// Binds a side listener given as `http://host:port`.
pub async fn bind(key: &str, value: &str) -> Result<TcpListener, String> {
    let (host, port) = parse_listener(key, value)?;
    TcpListener::bind((host.as_str(), port)).await.map_err(|e| format!("{key}: cannot bind {value}: {e}"))
}

/// Serves `handler` on `listener` until `shutdown`, at most 64 connections at once.
pub async fn serve(listener: TcpListener, handler: Handler, shutdown: Shutdown) {
    let raw: RawHandler = Arc::new(move |req: Request<Incoming>| {
        let handler = handler.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
            };
            handler(Request::from_parts(parts, body)).await
        })
    });
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    serve_raw(listener, raw, limit, Duration::from_secs(2), shutdown).await
}

/// Routes one request whose body is still to be read (the handler reads and bounds it).
pub type RawHandler = Arc<dyn Fn(Request<Incoming>) -> HandlerFuture + Send + Sync>;

/// The accept loop behind every HTTP server of ours (side listeners, Kafka Connect's REST
/// API): at most `limit` connections at once (more wait to be accepted), a header
/// timeout, backoff on accept errors instead of spinning; on `shutdown` each connection
/// finishes the request in hand within `grace`, and this returns once all are closed.
pub async fn serve_raw(
    listener: TcpListener,
    handler: RawHandler,
    limit: Arc<Semaphore>,
    grace: Duration,
    mut shutdown: Shutdown,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.wait() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(5);
                stream
            }
            Err(e) => {
                // Out of descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "HTTP listener: accepting a connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "HTTP connection ended"); } }
                _ = shutdown.wait() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(grace, conn).await;
                }
            }
        });
    }
    while connections.join_next().await.is_some() {}
}

/// A response with `content_type` and `body`.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", value.to_string())
}

/// The handler of a metrics-only listener: `GET /metrics` answers `scrape()`,
/// `/` a pointer to it, anything else 404.
pub fn metrics_handler(scrape: Arc<dyn Fn() -> String + Send + Sync>) -> Handler {
    Arc::new(move |req: HttpRequest| {
        let scrape = scrape.clone();
        Box::pin(async move {
            match req.uri().path() {
                "/metrics" => {
                    // Collecting reads broker state (and /proc): off the async workers.
                    let body = tokio::task::spawn_blocking(move || scrape()).await.unwrap_or_default();
                    respond(StatusCode::OK, super::TEXT_CONTENT_TYPE, body)
                }
                "/" => text(StatusCode::OK, "gregor metrics: GET /metrics\n"),
                _ => text(StatusCode::NOT_FOUND, "not found\n"),
            }
        })
    })
}

/// Binds `value` (`http://host:port`) and serves `handler` on it until
/// `shutdown`; returns the bound address and the server task.
pub async fn start(
    key: &str,
    value: &str,
    handler: Handler,
    shutdown: Shutdown,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = bind(key, value).await?;
    let addr = listener.local_addr().map_err(|e| format!("{key}: {e}"))?;
    Ok((addr, tokio::spawn(serve(listener, handler, shutdown))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listener_values() {
        assert_eq!(parse_listener("k", "http://127.0.0.1:9404").unwrap(), ("127.0.0.1".into(), 9404));
        assert_eq!(parse_listener("k", "127.0.0.1:0").unwrap(), ("127.0.0.1".into(), 0));
        assert_eq!(parse_listener("k", "http://:9404/").unwrap(), ("0.0.0.0".into(), 9404));
        assert_eq!(parse_listener("k", "http://[::1]:80").unwrap(), ("::1".into(), 80));
        assert!(parse_listener("k", "https://h:1").unwrap_err().contains("k: unsupported scheme"));
        assert!(parse_listener("k", "http://h").is_err());
        assert!(parse_listener("k", "http://h:x").is_err());
    }
}
