//! `console`: serves the web console (overview, topics, record browser,
//! consumer groups, live charts) for the cluster at `--bootstrap-server`
//! until SIGINT or SIGTERM. Kafka has no such script; this is gregor's own
//! tool. The same console runs inside a broker with `console.listener`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::common;
use crate::client::{ClientConfig, Security};
use crate::console::{Console, ConsoleConfig, MetricsSource};

pub fn command() -> Command {
    Command::new("console")
        .about("Serve the web console (topics, records, consumer groups, live charts) for a cluster")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .required(true)
                .help("Kafka-protocol brokers to connect to"),
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("http://HOST:PORT")
                .default_value("http://127.0.0.1:9021")
                .help("Where to serve the console (port 0 picks a free port)"),
        )
        .arg(common::config_file_arg(
            "command-config",
            "Properties for the console's client (security.protocol, sasl.*, ssl.*)",
        ))
        .arg(Arg::new("metrics-url").long("metrics-url").value_name("URL").action(ArgAction::Append).help(
            "A broker's Prometheus endpoint (http://host:9404/metrics) for the bytes in/out charts; repeat per broker",
        ))
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    let _ = command().error(ErrorKind::InvalidValue, msg).print();
    Ok(ExitCode::from(super::EXIT_USAGE))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("warn");
    let Some(bootstrap) = m.get_one::<String>("bootstrap-server") else {
        return usage("Missing required argument \"[bootstrap-server]\"");
    };
    let listen = m.get_one::<String>("listen").map_or("http://127.0.0.1:9021", String::as_str);
    if let Err(e) = crate::metrics::http::parse_listener("--listen", listen) {
        return usage(e);
    }
    let urls: Vec<String> = m.get_many::<String>("metrics-url").map(|v| v.cloned().collect()).unwrap_or_default();
    if let Some(bad) = urls.iter().find(|u| !u.starts_with("http://") || u.len() <= "http://".len()) {
        return usage(format!("--metrics-url: `{bad}` is not an http:// URL"));
    }
    let mut client = ClientConfig::new(bootstrap.clone());
    client.client_id = "gregor-console".into();
    common::apply_command_config(&mut client, m.get_one::<PathBuf>("command-config"))?;
    let security = Security::for_client(&client).context("the client settings are not usable")?;
    let metrics = if urls.is_empty() { MetricsSource::None } else { MetricsSource::Urls(urls) };

    let runtime = common::runtime()?;
    runtime.block_on(async move {
        let console = Console::connect(ConsoleConfig { client, security, metrics })
            .await
            .with_context(|| format!("cannot reach the cluster at {bootstrap}"))?;
        let (trigger, shutdown) = crate::network::shutdown::channel();
        let listener = crate::metrics::http::bind("--listen", listen).await.map_err(anyhow::Error::msg)?;
        let addr = listener.local_addr().context("the console's listener has no address")?;
        let sampler = console.spawn_sampler(shutdown.clone());
        let server = tokio::spawn(crate::metrics::http::serve(listener, console.handler(), shutdown));
        println!("Console at http://{addr}/");
        let interrupted = super::server_start::wait_for_signal().await?;
        trigger.trigger();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let _ = server.await;
            let _ = sampler.await;
        })
        .await;
        Ok(if interrupted { ExitCode::from(super::EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
    })
}
