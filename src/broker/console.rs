//! `console.listener`: the web console ([`crate::console`]) for this
//! broker's cluster, served beside the Kafka listeners. The console is a
//! client of the cluster like any other: it dials this broker's
//! inter-broker listener (the one whose security `broker.inter_broker()`
//! describes) and reads the byte counters from this broker's own registry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::listeners::ListenerContext;
use super::Broker;
use crate::client::ClientConfig;
use crate::console::{Console, ConsoleConfig, MetricsSource};
use crate::network::Shutdown;

/// Pause between attempts to reach this broker's own listener.
const RETRY: Duration = Duration::from_secs(1);

/// Connects the console to this broker and serves it on `socket` (already
/// bound, so the address is known at start) until `shutdown`. Requests that
/// arrive before the console's client is connected wait in the accept queue.
pub(super) fn serve(
    broker: Arc<Broker>,
    contexts: &[Arc<ListenerContext>],
    socket: TcpListener,
    mut shutdown: Shutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let inter_broker = broker.inter_broker();
    let listener = contexts.iter().find(|l| l.name == inter_broker.listener).or_else(|| contexts.first());
    let bootstrap = listener.map(|l| format!("{}:{}", l.advertised.0, l.advertised.1)).unwrap_or_default();
    let security = inter_broker.security.clone();
    let mut client = ClientConfig::new(bootstrap);
    client.client_id = format!("gregor-console-{}", broker.node_id);
    let registry = broker.metrics().clone();
    let metrics = MetricsSource::Local(Arc::new(move || registry.render()));
    drop(broker);
    async move {
        let console = loop {
            let config = ConsoleConfig { client: client.clone(), security: security.clone(), metrics: metrics.clone() };
            // A shutdown must not wait out the client's retries.
            let connected = tokio::select! {
                c = Console::connect(config) => c,
                _ = shutdown.wait() => return,
            };
            match connected {
                Ok(console) => break console,
                Err(e) => tracing::debug!(error = %e, "console: this broker is not reachable yet"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.wait() => return,
            }
        };
        let sampler = console.spawn_sampler(shutdown.clone());
        crate::metrics::http::serve(socket, console.handler(), shutdown).await;
        let _ = sampler.await;
    }
}
