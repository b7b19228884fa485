//! `connect-standalone` (`bin/connect-standalone.sh`): Kafka Connect's
//! standalone worker — `connect-standalone worker.properties
//! connector1.properties [connector2.properties …]` — running the
//! connectors in this process until Ctrl-C or SIGTERM, then flushing and
//! committing their offsets. Connector configs may also be JSON
//! (`{"name": …, "config": {…}}` or a flat object), as Kafka accepts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use super::common;
use crate::connect::standalone::{self, StandaloneConfig};
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

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let worker_path = m.get_one::<PathBuf>("worker").context("the worker config is required")?;
    let worker = match common::read_properties(worker_path)
        .map_err(|e| e.to_string())
        .and_then(|p| StandaloneConfig::from_props(p).map_err(|e| format!("{e} (in {})", worker_path.display())))
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("ERROR Stopping due to error: {e}");
            return Ok(ExitCode::from(super::EXIT_FAILURE));
        }
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
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        let stop = Arc::new(AtomicBool::new(false));
        let names: Vec<String> = connectors.iter().map(|c| c.name.clone()).collect();
        tracing::info!(connectors = ?names, "Kafka Connect standalone started");
        let mut work = tokio::spawn(standalone::run(worker, connectors, stop.clone()));
        let mut code = ExitCode::SUCCESS;
        let result = tokio::select! {
            r = &mut work => r,
            _ = interrupt.recv() => {
                code = ExitCode::from(super::EXIT_INTERRUPTED);
                stop.store(true, Ordering::Release);
                (&mut work).await
            }
            _ = terminate.recv() => {
                stop.store(true, Ordering::Release);
                (&mut work).await
            }
        };
        match result {
            Ok(Ok(())) => {
                tracing::info!("Kafka Connect stopped");
                Ok(code)
            }
            Ok(Err(e)) => {
                eprintln!("ERROR Kafka Connect stopped on a task failure: {e}");
                Ok(ExitCode::from(super::EXIT_FAILURE))
            }
            Err(e) => Err(anyhow::anyhow!("the worker panicked: {e}")),
        }
    })
}
