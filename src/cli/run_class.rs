//! `run-class` (kafka-run-class.sh): Kafka's launcher takes a Java class name
//! and its arguments. Scripts and how-tos call it directly
//! (`kafka-run-class.sh kafka.admin.TopicCommand --list ...`), so the classes
//! behind Kafka's own scripts map to our tools, under the names of every
//! Kafka version since 2.x. The tool runs in this process, looked up in the
//! registry by name when it is needed, so a class whose tool this build
//! lacks gets a clear error rather than a failure to build.
//!
//! The launcher's own options before the class are accepted as Kafka's
//! script reads them: `-name NAME` and `-loggc` only name JVM log files and
//! are ignored; `-daemon` (run in the background) is not supported and the
//! tool runs in the foreground, with a warning. An unknown class fails as
//! `java` does, with exit code 1.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command};

use super::{registry, EXIT_FAILURE, EXIT_USAGE};

/// A Java class and the tool (with the arguments it implies) standing for it.
struct ClassMapping {
    class: &'static str,
    tool: &'static str,
    args: &'static [&'static str],
}

const fn class(class: &'static str, tool: &'static str, args: &'static [&'static str]) -> ClassMapping {
    ClassMapping { class, tool, args }
}

/// The classes Kafka's scripts run (old and new package names).
static CLASSES: &[ClassMapping] = &[
    class("kafka.Kafka", "server-start", &[]),
    class("org.apache.zookeeper.server.quorum.QuorumPeerMain", "zookeeper-start", &[]),
    class("kafka.admin.TopicCommand", "topics", &[]),
    class("org.apache.kafka.tools.TopicCommand", "topics", &[]),
    class("kafka.tools.ConsoleConsumer", "console-consumer", &[]),
    class("org.apache.kafka.tools.consumer.ConsoleConsumer", "console-consumer", &[]),
    class("kafka.tools.ConsoleProducer", "console-producer", &[]),
    class("org.apache.kafka.tools.ConsoleProducer", "console-producer", &[]),
    class("kafka.admin.ConsumerGroupCommand", "consumer-groups", &[]),
    class("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "consumer-groups", &[]),
    class("kafka.tools.ProducerPerformance", "perf", &["producer"]),
    class("org.apache.kafka.tools.ProducerPerformance", "perf", &["producer"]),
    class("kafka.tools.ConsumerPerformance", "perf", &["consumer"]),
    class("org.apache.kafka.tools.ConsumerPerformance", "perf", &["consumer"]),
    class("kafka.admin.LeaderElectionCommand", "leader-election", &[]),
    class("org.apache.kafka.tools.LeaderElectionCommand", "leader-election", &[]),
    class("kafka.admin.PreferredReplicaLeaderElectionCommand", "preferred-replica-election", &[]),
    class("kafka.admin.ReassignPartitionsCommand", "reassign-partitions", &[]),
    class("org.apache.kafka.tools.TransactionsCommand", "transactions", &[]),
    class("kafka.tools.StreamsResetter", "streams-application-reset", &[]),
    class("org.apache.kafka.tools.StreamsResetter", "streams-application-reset", &[]),
    class("org.apache.kafka.streams.examples.wordcount.WordCountDemo", "streams", &["word-count"]),
    class("org.apache.kafka.connect.cli.ConnectStandalone", "connect-standalone", &[]),
    class("org.apache.kafka.connect.cli.ConnectDistributed", "connect-distributed", &[]),
    class("org.apache.kafka.tools.VerifiableProducer", "verifiable-producer", &[]),
    class("org.apache.kafka.tools.VerifiableConsumer", "verifiable-consumer", &[]),
    class("org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka", "zookeeper-shell", &[]),
    class("kafka.tools.ZooKeeperMainWrapper", "zookeeper-shell", &[]),
    class("org.apache.zookeeper.ZooKeeperMain", "zookeeper-shell", &[]),
    class("kafka.tools.EndToEndLatency", "e2e-latency", &[]),
    class("org.apache.kafka.tools.EndToEndLatency", "e2e-latency", &[]),
    class("kafka.tools.MirrorMaker", "mirror-maker", &[]),
    class("kafka.admin.ConfigCommand", "configs", &[]),
    class("kafka.admin.AclCommand", "acls", &[]),
    class("kafka.admin.DeleteRecordsCommand", "delete-records", &[]),
    class("org.apache.kafka.tools.DeleteRecordsCommand", "delete-records", &[]),
    class("kafka.tools.GetOffsetShell", "get-offsets", &[]),
    class("org.apache.kafka.tools.GetOffsetShell", "get-offsets", &[]),
    class("kafka.admin.BrokerApiVersionsCommand", "broker-api-versions", &[]),
    class("kafka.tools.DumpLogSegments", "dump-log", &[]),
    class("org.apache.kafka.tools.DumpLogSegments", "dump-log", &[]),
    class("kafka.admin.LogDirsCommand", "log-dirs", &[]),
    class("org.apache.kafka.tools.LogDirsCommand", "log-dirs", &[]),
];

const USAGE: &str = "USAGE: kafka-run-class.sh [-daemon] [-name servicename] [-loggc] classname [opts]";

pub fn command() -> Command {
    Command::new("run-class")
        .about("Run the gregor tool standing for a Kafka Java class (kafka-run-class.sh)")
        .override_usage("gregor run-class [-daemon] [-name servicename] [-loggc] classname [opts]...")
        .after_help(format!("Classes:\n{}", class_list()))
        .arg(
            Arg::new("args")
                .value_name("ARGS")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_parser(clap::value_parser!(OsString))
                .help("Launcher options, the class name and the class's arguments"),
        )
}

/// The supported classes, one per line, with the tool each runs.
fn class_list() -> String {
    CLASSES
        .iter()
        .map(|c| {
            let tool = std::iter::once(c.tool).chain(c.args.iter().copied()).collect::<Vec<_>>().join(" ");
            format!("  {:<62} gregor {tool}\n", c.class)
        })
        .collect()
}

/// What the launcher options before the class asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Launch {
    daemon: bool,
    name: Option<String>,
    loggc: bool,
}

/// Splits the launcher options off; the rest starts with the class name.
fn launcher_options(args: &[OsString]) -> Result<(Launch, &[OsString]), String> {
    let mut launch = Launch::default();
    let mut rest = args;
    loop {
        match rest.first().and_then(|a| a.to_str()) {
            Some("-daemon") => {
                launch.daemon = true;
                rest = &rest[1..];
            }
            Some("-loggc") => {
                launch.loggc = true;
                rest = &rest[1..];
            }
            Some("-name") => {
                let Some(name) = rest.get(1) else {
                    return Err("-name needs a service name".to_string());
                };
                launch.name = Some(name.to_string_lossy().into_owned());
                rest = &rest[2..];
            }
            _ => return Ok((launch, rest)),
        }
    }
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let args: Vec<OsString> = m.get_many::<OsString>("args").map(|v| v.cloned().collect()).unwrap_or_default();
    let (launch, rest) = match launcher_options(&args) {
        Ok(split) => split,
        Err(e) => {
            eprintln!("Error: {e}\n{USAGE}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let Some((class_name, class_args)) = rest.split_first() else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(EXIT_FAILURE));
    };
    let class_name = class_name.to_string_lossy();
    let Some(mapping) = CLASSES.iter().find(|c| c.class == class_name) else {
        // What `java` prints for a class it cannot find, then what we can run.
        eprintln!("Error: Could not find or load main class {class_name}");
        eprintln!("Caused by: java.lang.ClassNotFoundException: {class_name}");
        eprintln!("\ngregor run-class runs these classes:\n{}", class_list());
        return Ok(ExitCode::from(EXIT_FAILURE));
    };
    let Some(tool) = registry().iter().find(|t| t.name == mapping.tool) else {
        eprintln!(
            "Error: class {class_name} stands for `gregor {}`, which this build of gregor does not have",
            std::iter::once(mapping.tool).chain(mapping.args.iter().copied()).collect::<Vec<_>>().join(" ")
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    };
    if launch.daemon {
        eprintln!("WARN -daemon is not supported by gregor run-class; running {class_name} in the foreground");
    }
    if let Some(name) = &launch.name {
        tracing::debug!(name, "ignoring -name (it only names the JVM's log files)");
    }
    let argv: Vec<OsString> = std::iter::once(OsString::from(tool.name))
        .chain(mapping.args.iter().map(OsString::from))
        .chain(class_args.iter().cloned())
        .collect();
    let matches = match (tool.command)().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    (tool.run)(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn launcher_options_come_off_before_the_class() {
        let args = os(&["-daemon", "-name", "kafkaServer", "-loggc", "kafka.Kafka", "-daemon"]);
        let (launch, rest) = launcher_options(&args).expect("ok");
        assert_eq!(launch, Launch { daemon: true, name: Some("kafkaServer".into()), loggc: true });
        assert_eq!(rest, &os(&["kafka.Kafka", "-daemon"])[..]);
        assert!(launcher_options(&os(&["-name"])).is_err());
    }

    #[test]
    fn every_mapped_tool_is_in_the_registry() {
        for c in CLASSES {
            assert!(registry().iter().any(|t| t.name == c.tool), "{} maps to unknown tool {}", c.class, c.tool);
        }
    }

    #[test]
    fn the_command_keeps_hyphenated_arguments_for_the_class() {
        let m = command()
            .try_get_matches_from(["run-class", "-daemon", "kafka.admin.TopicCommand", "--list", "-h"])
            .expect("parses");
        let args: Vec<OsString> = m.get_many::<OsString>("args").expect("args").cloned().collect();
        assert_eq!(args, os(&["-daemon", "kafka.admin.TopicCommand", "--list", "-h"]));
    }
}
