//! `zookeeper-start` (zookeeper-server-start.sh): a single-node, persistent,
//! ZooKeeper-compatible coordinator, until SIGINT or SIGTERM; with
//! `metricsProvider.className=…PrometheusMetricsProvider`, its `/metrics` on
//! `metricsProvider.httpHost`:`metricsProvider.httpPort` (named in the started line).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};

use crate::zk::{ZkConfig, ZkServer};

pub fn command() -> Command {
    Command::new("zookeeper-start")
        .about("Start a ZooKeeper-compatible coordinator")
        .override_usage("zookeeper-start [zookeeper.properties]")
        .arg(
            Arg::new("config")
                .value_name("zookeeper.properties")
                .value_parser(clap::value_parser!(PathBuf))
                .help("dataDir, clientPort, tickTime, maxClientCnxns, …; defaults apply without one"),
        )
        .arg(super::server_start::exit_with_parent_arg())
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let exit_with_parent = m.get_flag("exit-with-parent");
    let config = match m.get_one::<PathBuf>("config") {
        Some(path) => {
            let (config, warnings) = ZkConfig::from_properties_file(path)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            config
        }
        None => ZkConfig::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gregor-zk")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let metrics_provider = config.metrics_provider.clone();
        let server = ZkServer::start(config).await?;
        // metricsProvider: ZooKeeper's Prometheus endpoint, beside the client port.
        let (trigger, shutdown) = crate::network::shutdown::channel();
        let mut metrics = None;
        if let Some((host, port)) = metrics_provider {
            match crate::zk::metrics::serve(server.stats_source(), &host, port, shutdown).await {
                Ok(served) => metrics = Some(served),
                Err(err) => {
                    let _ = server.shutdown().await;
                    anyhow::bail!("{err}");
                }
            }
        }
        tracing::info!(
            listener = %server.local_addr(),
            metrics = %metrics.as_ref().map(|(a, _)| format!("http://{a}/metrics")).unwrap_or_else(|| "off".into()),
            data_dir = %data_dir.display(),
            "ZooKeeper-compatible server started"
        );
        let stop = super::server_start::wait_for_signal_or_parent(exit_with_parent).await?;
        trigger.trigger();
        if let Some((_, task)) = metrics {
            let _ = task.await;
        }
        server.shutdown().await?;
        let interrupted = stop == super::server_start::Stop::Interrupted;
        Ok(if interrupted { ExitCode::from(super::EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
    })
}
