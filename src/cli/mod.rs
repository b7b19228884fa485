//! The multi-call toolkit. One registry maps each tool's name (and the Kafka
//! script names it answers to) to its clap command builder and its run
//! function; the same registry feeds dispatch, `gregor --list`, and later man
//! pages and completions.
//!
//! Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted.
//! stdout carries data, stderr diagnostics.

mod acls;
mod broker_api_versions;
mod cluster;
mod cluster_security;
mod common;
mod configs;
mod connect_distributed;
mod connect_standalone;
mod console;
mod console_consumer;
mod console_producer;
mod consumer_groups;
mod delete_records;
mod dispatch;
mod dump_log;
mod e2e_latency;
pub mod generate;
mod get_offsets;
mod leader_election;
mod log_dirs;
mod mirror_maker;
mod output;
mod perf;
mod preferred_replica_election;
mod reassign_partitions;
mod run_class;
mod server_start;
mod server_stop;
mod streams;
mod streams_reset;
mod topics;
mod transactions;
mod verifiable_consumer;
mod verifiable_producer;
mod zookeeper_shell;
mod zookeeper_start;

use std::process::ExitCode;

pub use dispatch::{main, tool_for_program};

/// One tool of the multi-call binary.
pub struct Tool {
    /// The subcommand name (`gregor server-start`).
    pub name: &'static str,
    /// Kafka script names that invoke it through argv[0] (without `.sh`).
    pub scripts: &'static [Script],
    /// The clap command (name, flags, help).
    pub command: fn() -> clap::Command,
    /// Runs the tool with parsed arguments.
    pub run: fn(&clap::ArgMatches) -> anyhow::Result<ExitCode>,
}

/// A script name and the arguments it stands for (`kafka-producer-perf-test`
/// is `perf producer`).
pub struct Script {
    pub name: &'static str,
    pub args: &'static [&'static str],
}

const fn script(name: &'static str) -> Script {
    Script { name, args: &[] }
}

/// Every tool, in `--list` order.
pub fn registry() -> &'static [Tool] {
    TOOLS
}

static TOOLS: &[Tool] = &[
    Tool {
        name: "server-start",
        scripts: &[script("kafka-server-start")],
        command: server_start::command,
        run: server_start::run,
    },
    Tool {
        name: "zookeeper-start",
        scripts: &[script("zookeeper-server-start")],
        command: zookeeper_start::command,
        run: zookeeper_start::run,
    },
    Tool { name: "topics", scripts: &[script("kafka-topics")], command: topics::command, run: topics::run },
    Tool {
        name: "console-producer",
        scripts: &[script("kafka-console-producer")],
        command: console_producer::command,
        run: console_producer::run,
    },
    Tool {
        name: "console-consumer",
        scripts: &[script("kafka-console-consumer")],
        command: console_consumer::command,
        run: console_consumer::run,
    },
    Tool {
        name: "consumer-groups",
        scripts: &[script("kafka-consumer-groups")],
        command: consumer_groups::command,
        run: consumer_groups::run,
    },
    Tool {
        name: "perf",
        scripts: &[
            Script { name: "kafka-producer-perf-test", args: &["producer"] },
            Script { name: "kafka-consumer-perf-test", args: &["consumer"] },
        ],
        command: perf::command,
        run: perf::run,
    },
    Tool {
        name: "leader-election",
        scripts: &[script("kafka-leader-election")],
        command: leader_election::command,
        run: leader_election::run,
    },
    Tool {
        name: "preferred-replica-election",
        scripts: &[script("kafka-preferred-replica-election")],
        command: preferred_replica_election::command,
        run: preferred_replica_election::run,
    },
    Tool {
        name: "transactions",
        scripts: &[script("kafka-transactions")],
        command: transactions::command,
        run: transactions::run,
    },
    Tool {
        name: "streams-application-reset",
        scripts: &[script("kafka-streams-application-reset")],
        command: streams_reset::command,
        run: streams_reset::run,
    },
    Tool {
        name: "connect-standalone",
        scripts: &[script("connect-standalone")],
        command: connect_standalone::command,
        run: connect_standalone::run,
    },
    Tool {
        name: "connect-distributed",
        scripts: &[script("connect-distributed")],
        command: connect_distributed::command,
        run: connect_distributed::run,
    },
    Tool {
        name: "delete-records",
        scripts: &[script("kafka-delete-records")],
        command: delete_records::command,
        run: delete_records::run,
    },
    Tool {
        name: "get-offsets",
        scripts: &[script("kafka-get-offsets")],
        command: get_offsets::command,
        run: get_offsets::run,
    },
    Tool {
        name: "broker-api-versions",
        scripts: &[script("kafka-broker-api-versions")],
        command: broker_api_versions::command,
        run: broker_api_versions::run,
    },
    Tool { name: "dump-log", scripts: &[script("kafka-dump-log")], command: dump_log::command, run: dump_log::run },
    Tool { name: "log-dirs", scripts: &[script("kafka-log-dirs")], command: log_dirs::command, run: log_dirs::run },
    Tool {
        name: "reassign-partitions",
        scripts: &[script("kafka-reassign-partitions")],
        command: reassign_partitions::command,
        run: reassign_partitions::run,
    },
    Tool {
        name: "verifiable-producer",
        scripts: &[script("kafka-verifiable-producer")],
        command: verifiable_producer::command,
        run: verifiable_producer::run,
    },
    Tool {
        name: "verifiable-consumer",
        scripts: &[script("kafka-verifiable-consumer")],
        command: verifiable_consumer::command,
        run: verifiable_consumer::run,
    },
    Tool {
        name: "zookeeper-shell",
        scripts: &[script("zookeeper-shell")],
        command: zookeeper_shell::command,
        run: zookeeper_shell::run,
    },
    Tool {
        name: "server-stop",
        scripts: &[script("kafka-server-stop")],
        command: server_stop::command,
        run: server_stop::run,
    },
    Tool {
        name: "zookeeper-server-stop",
        scripts: &[script("zookeeper-server-stop")],
        command: server_stop::zookeeper_command,
        run: server_stop::run_zookeeper,
    },
    Tool {
        name: "e2e-latency",
        scripts: &[script("kafka-e2e-latency")],
        command: e2e_latency::command,
        run: e2e_latency::run,
    },
    Tool {
        name: "mirror-maker",
        scripts: &[script("kafka-mirror-maker")],
        command: mirror_maker::command,
        run: mirror_maker::run,
    },
    Tool { name: "configs", scripts: &[script("kafka-configs")], command: configs::command, run: configs::run },
    Tool { name: "acls", scripts: &[script("kafka-acls")], command: acls::command, run: acls::run },
    Tool { name: "streams", scripts: &[], command: streams::command, run: streams::run },
    Tool { name: "run-class", scripts: &[script("kafka-run-class")], command: run_class::command, run: run_class::run },
    Tool { name: "cluster", scripts: &[], command: cluster::command, run: cluster::run },
    Tool { name: "generate", scripts: &[], command: generate::command, run: generate::run },
    Tool { name: "console", scripts: &[], command: console::command, run: console::run },
];

/// Exit code for a runtime error.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code after SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Sets up logging to stderr (`RUST_LOG` overrides the default level).
pub(crate) fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
