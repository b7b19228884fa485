//! `connect-distributed` (`bin/connect-distributed.sh`): a worker of a
//! distributed Kafka Connect cluster — `connect-distributed
//! worker.properties` — serving the REST API on `listeners` and running
//! the connectors and tasks its group gives it, until Ctrl-C or SIGTERM;
//! then the REST server stops, tasks flush and commit, and the worker
//! leaves the group so the others take its work at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Arg, ArgMatches, Command};

use super::common;
use super::connect_standalone::{fail, read_worker, serve_until_signal, Signals};
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
        let mut signals = Signals::install()?;
        // Bound first: the worker id is the REST address, port 0 included.
        let listeners = match RestListeners::bind(&config.rest).await {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let (worker_id, url) = (listeners.worker_id().to_string(), listeners.advertised_url().to_string());
        let started = tokio::select! {
            h = DistributedHerder::start(config, worker_id, url) => h,
            code = signals.next() => return Ok(code),
        };
        let herder = match started {
            Ok(h) => h,
            Err(e) => return fail(e),
        };
        let code = serve_until_signal(listeners, Arc::new(herder.clone()), &mut signals).await;
        herder.stop().await;
        Ok(code)
    })
}
