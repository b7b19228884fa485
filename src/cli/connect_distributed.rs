//! `connect-distributed` (`bin/connect-distributed.sh`): a worker of a
//! distributed Kafka Connect cluster — `connect-distributed
//! worker.properties` — serving the REST API on `listeners` and running
//! the connectors and tasks its group gives it, until Ctrl-C or SIGTERM;
//! then the REST server stops, tasks flush and commit, and the worker
//! leaves the group so the others take its work at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use super::common;
use super::connect_standalone::{fail, read_worker};
use crate::connect::distributed::{DistributedConfig, DistributedHerder};
use crate::connect::rest::RestListeners;

pub fn command() -> Command {
    Command::new("connect-distributed")
        .about("Run a Kafka Connect worker of a distributed Connect cluster")
        .override_usage("gregor connect-distributed worker.properties")
        .arg(
            Arg::new("worker")
                .value_name("WORKER_PROPERTIES")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "The worker's config: bootstrap.servers, group.id, config/offset/status.storage.topic, \
                     key/value.converter, listeners, ...",
                ),
        )
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let config = match read_worker(m, DistributedConfig::from_props)? {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let rt = common::runtime()?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        // Bound first: the worker id is the REST address, port 0 included.
        let listeners = match RestListeners::bind(&config.rest).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let (worker_id, url) = (listeners.worker_id().to_string(), listeners.advertised_url().to_string());
        let started = tokio::select! {
            h = DistributedHerder::start(config, worker_id, url) => h,
            _ = interrupt.recv() => return Ok(ExitCode::from(super::EXIT_INTERRUPTED)),
            _ = terminate.recv() => return Ok(ExitCode::SUCCESS),
        };
        let herder = match started {
            Ok(h) => h,
            Err(e) => return fail(e),
        };
        let (stop_rest, rest_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = listeners.serve(Arc::new(herder.clone()), async move {
            let _ = rest_stopped.await;
        });
        let code = tokio::select! {
            _ = interrupt.recv() => ExitCode::from(super::EXIT_INTERRUPTED),
            _ = terminate.recv() => ExitCode::SUCCESS,
        };
        tracing::info!("Kafka Connect stopping");
        let _ = stop_rest.send(());
        server.wait().await;
        herder.stop().await;
        Ok(code)
    })
}
