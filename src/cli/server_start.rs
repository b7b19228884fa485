//! `server-start` (kafka-server-start.sh): run one broker until SIGINT or
//! SIGTERM, then shut down gracefully (flush, checkpoint, clean-shutdown
//! marker).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::broker::Broker;
use crate::config::BrokerConfig;

pub fn command() -> Command {
    Command::new("server-start")
        .about("Start a Kafka-compatible broker")
        .override_usage("server-start [server.properties] [--override property=value]...")
        .arg(
            Arg::new("config")
                .value_name("server.properties")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Broker properties file (Kafka's keys); defaults apply without one"),
        )
        .arg(
            Arg::new("override")
                .long("override")
                .value_name("property=value")
                .action(ArgAction::Append)
                .help("Override a property of the file, e.g. --override broker.id=1"),
        )
        .arg(Arg::new("daemon").short('d').long("daemon").action(ArgAction::SetTrue).hide(true))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let path = m.get_one::<PathBuf>("config");
    let overrides: Vec<String> = m.get_many::<String>("override").map(|v| v.cloned().collect()).unwrap_or_default();
    if m.get_flag("daemon") {
        tracing::warn!("-daemon is not supported; running in the foreground");
    }
    let (config, warnings) = BrokerConfig::load(path.map(PathBuf::as_path), &overrides)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gregor-broker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = Broker::start(config).await?;
        let interrupted = wait_for_signal().await?;
        running.shutdown().await?;
        Ok(if interrupted { ExitCode::from(super::EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
    })
}

/// Waits for SIGINT (→ true) or SIGTERM (→ false).
pub(super) async fn wait_for_signal() -> anyhow::Result<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => { r.context("cannot listen for SIGINT")?; Ok(true) }
        _ = term.recv() => Ok(false),
    }
}
