//! `connect-standalone` (`bin/connect-standalone.sh`): Kafka Connect's
//! standalone worker — `connect-standalone worker.properties
//! [connector1.properties connector2.properties …]` — running the
//! connectors in this process, and those created through the REST API on
//! `listeners`, until Ctrl-C or SIGTERM, then flushing and committing their
//! offsets. A bad connector file stops it at startup (exit 1); a task that
//! fails later shows as FAILED in its status and the worker keeps running. Connector configs may also be JSON
//! (`{"name": …, "config": {…}}` or a flat object), as Kafka accepts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use super::common;
use crate::connect::herder::Herder;
use crate::connect::rest::RestListeners;
use crate::connect::standalone::{self, StandaloneConfig, StandaloneHerder};
use crate::connect::Config;

pub fn command() -> Command {
    Command::new("connect-standalone")
        .about("Run Kafka Connect connectors in a standalone worker")
        .override_usage("gregor connect-standalone worker.properties [connector1.properties connector2.json ...]")
        .arg(
            Arg::new("worker")
                .value_name("WORKER_PROPERTIES")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("The worker's config: bootstrap.servers, key/value.converter, offset.storage.file.filename, ..."),
        )
        .arg(
            Arg::new("connectors")
                .value_name("CONNECTOR_CONFIG")
                .num_args(0..)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Connector configs (.properties or .json): name, connector.class, tasks.max, ..."),
        )
}

/// A connector config file: Java properties, or JSON with `config` or flat.
fn read_connector(path: &Path) -> anyhow::Result<Config> {
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot open {}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
        let mut config = Config::new();
        let body = json.get("config").unwrap_or(&json);
        for (k, v) in body.as_object().into_iter().flatten() {
            config.insert(k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
        if let Some(name) = json.get("name").and_then(|n| n.as_str()) {
            config.entry("name".into()).or_insert_with(|| name.to_string());
        }
        return Ok(config);
    }
    common::read_properties(path)
}

/// Kafka's last words when a worker cannot start: exit code 1.
pub(super) fn fail(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("ERROR Stopping due to error: {message}");
    Ok(ExitCode::from(super::EXIT_FAILURE))
}

/// The `worker` argument's properties, checked by `parse`; the inner error
/// names the key and the file.
pub(super) fn read_worker<T>(
    m: &ArgMatches,
    parse: impl FnOnce(crate::connect::Config) -> crate::connect::Result<T>,
) -> anyhow::Result<Result<T, String>> {
    let path = m.get_one::<PathBuf>("worker").context("the worker config is required")?;
    Ok(common::read_properties(path)
        .map_err(|e| e.to_string())
        .and_then(|p| parse(p).map_err(|e| format!("{e} (in {})", path.display()))))
}

/// SIGINT and SIGTERM, installed before the worker starts.
pub(super) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?,
        })
    }

    /// Waits for the first; its exit code (SIGTERM is a clean stop).
    pub(super) async fn next(&mut self) -> ExitCode {
        tokio::select! {
            _ = self.interrupt.recv() => ExitCode::from(super::EXIT_INTERRUPTED),
            _ = self.terminate.recv() => ExitCode::SUCCESS,
        }
    }
}

/// Serves the REST API for `herder` until a signal, then stops serving
/// (open requests finish) and returns the signal's exit code; the caller
/// stops the herder after.
pub(super) async fn serve_until_signal<H: Herder>(
    listeners: RestListeners,
    herder: Arc<H>,
    signals: &mut Signals,
) -> ExitCode {
    let (stop_rest, rest_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = listeners.serve(herder, async move {
        let _ = rest_stopped.await;
    });
    let code = signals.next().await;
    tracing::info!("Kafka Connect stopping");
    let _ = stop_rest.send(());
    server.wait().await;
    code
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let worker = match read_worker(m, StandaloneConfig::from_props)? {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let mut connectors = Vec::new();
    for path in m.get_many::<PathBuf>("connectors").into_iter().flatten() {
        let setup = read_connector(path).map_err(|e| e.to_string()).and_then(|c| {
            standalone::prepare(c).map_err(|e| format!("Failed to create connector for {}: {e}", path.display()))
        });
        match setup {
            Ok(s) => connectors.push(s),
            Err(e) => {
                eprintln!("ERROR Stopping after connector error: {e}");
                return Ok(ExitCode::from(super::EXIT_FAILURE));
            }
        }
    }
    let rt = common::runtime()?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        // The REST listener is bound first: its bound port makes the worker id.
        let listeners = match RestListeners::bind(&worker.rest).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let herder = match StandaloneHerder::new(worker, listeners.worker_id().to_string()) {
            Ok(h) => Arc::new(h),
            Err(e) => return fail(e),
        };
        for setup in connectors {
            if let Err(e) = herder.put_connector_config(&setup.name, setup.config, false).await {
                eprintln!("ERROR Stopping after connector error: Failed to create connector {}: {e}", setup.name);
                herder.stop().await;
                return Ok(ExitCode::from(super::EXIT_FAILURE));
            }
        }
        tracing::info!(connectors = ?herder.connectors().await.unwrap_or_default(), "Kafka Connect standalone started");
        let code = serve_until_signal(listeners, herder.clone(), &mut signals).await;
        // Every task flushes and commits before the process ends.
        herder.stop().await;
        tracing::info!("Kafka Connect stopped");
        Ok(code)
    })
}
