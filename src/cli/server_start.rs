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
        .arg(exit_with_parent_arg())
}

/// Hidden `--exit-with-parent`, used by `gregor cluster up`: stdin is a pipe
/// from the supervising process, and its end of file (the parent exited,
/// however it died) shuts this process down like SIGTERM. This stands in for
/// `prctl(PR_SET_PDEATHSIG)`, which would need `unsafe`.
pub(super) fn exit_with_parent_arg() -> Arg {
    Arg::new("exit-with-parent")
        .long("exit-with-parent")
        .action(ArgAction::SetTrue)
        .hide(true)
        .help("Shut down when stdin reaches end of file (the parent process is gone)")
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let path = m.get_one::<PathBuf>("config");
    let overrides: Vec<String> = m.get_many::<String>("override").map(|v| v.cloned().collect()).unwrap_or_default();
    if m.get_flag("daemon") {
        tracing::warn!("-daemon is not supported; running in the foreground");
    }
    let exit_with_parent = m.get_flag("exit-with-parent");
    // The warnings (unknown or ignored keys) were logged as the config was read.
    let (config, _warnings) = BrokerConfig::load(path.map(PathBuf::as_path), &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gregor-broker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = Broker::start(config).await?;
        let stop = wait_for_signal_or_parent(exit_with_parent).await?;
        if stop == Stop::ParentGone {
            // `cluster up` died: every broker of its cluster is stopping now,
            // so there is nobody to hand leaderships to.
            running.shutdown_without_handover().await?;
        } else {
            running.shutdown().await?;
        }
        Ok(if stop == Stop::Interrupted { ExitCode::from(super::EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
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

/// Why a server stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// SIGINT (exit code 130).
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// `--exit-with-parent` and stdin reached end of file.
    ParentGone,
}

/// Like [`wait_for_signal`], and with `exit_with_parent` also returns once
/// stdin reaches end of file.
pub(super) async fn wait_for_signal_or_parent(exit_with_parent: bool) -> anyhow::Result<Stop> {
    let signal = async { Ok(if wait_for_signal().await? { Stop::Interrupted } else { Stop::Terminated }) };
    if !exit_with_parent {
        return signal.await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread: blocking stdin reads do not belong on a runtime worker.
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 64];
            loop {
                match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    // A signal interrupting the read says nothing about the parent.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        })
        .context("cannot start the parent-watch thread")?;
    tokio::select! {
        r = signal => r,
        _ = rx => {
            tracing::info!("stdin closed: the parent process is gone; shutting down");
            Ok(Stop::ParentGone)
        }
    }
}
