//! `preferred-replica-election` (kafka-preferred-replica-election.sh), the
//! Kafka 0.10 tool: with `--zookeeper` it writes the election request to
//! `/admin/preferred_replica_election` for the controller, as the original
//! did; with `--bootstrap-server` (Kafka 2.4+) it sends ElectLeaders and
//! reports like `leader-election`. Without `--path-to-json-file` every
//! partition of every topic is named.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgGroup, ArgMatches, Command};

use super::{common, leader_election};
use crate::client::{Admin, ClientConfig, ElectionType};
use crate::metadata::admin::ZkAdmin;

pub fn command() -> Command {
    Command::new("preferred-replica-election")
        .about("Move the leadership of partitions back to their preferred replicas (Kafka 0.10's tool)")
        .arg(
            Arg::new("zookeeper")
                .long("zookeeper")
                .value_name("HOST:PORT[/CHROOT]")
                .help("ZooKeeper connect string: write the request for the controller there"),
        )
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .help("Brokers to connect to: elect through the ElectLeaders API"),
        )
        .group(ArgGroup::new("connect").args(["zookeeper", "bootstrap-server"]).required(true))
        .arg(common::config_file_arg("admin.config", "Properties for the admin client (with --bootstrap-server)"))
        .arg(
            Arg::new("path-to-json-file")
                .long("path-to-json-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(r#"The partitions, as {"partitions":[{"topic":"t","partition":0},...]} (default: all)"#),
        )
}

/// Kafka 0.10's rendering of a partition set: `Set([t,0], [t,1])`.
fn scala_set(partitions: &[(String, i32)]) -> String {
    let items: Vec<String> = partitions.iter().map(|(t, p)| format!("[{t},{p}]")).collect();
    format!("Set({})", items.join(", "))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let partitions = match m.get_one::<PathBuf>("path-to-json-file") {
        Some(path) => Some(leader_election::read_json_file(path)?),
        None => None,
    };
    let rt = common::runtime()?;
    if let Some(connect) = m.get_one::<String>("zookeeper") {
        let requested = rt.block_on(async {
            let zk = ZkAdmin::connect(connect).await?;
            zk.request_preferred_election(partitions).await
        })?;
        return Ok(match requested {
            Ok(partitions) => {
                let json = String::from_utf8_lossy(&crate::metadata::znode::encode_election(&partitions)).into_owned();
                println!("Created preferred replica election path with {json}");
                println!("Successfully started preferred replica election for partitions {}", scala_set(&partitions));
                ExitCode::SUCCESS
            }
            Err(partitions) => {
                println!("Failed to start preferred replica election");
                eprintln!(
                    "Preferred replica leader election currently in progress for {}. Aborting operation",
                    scala_set(&partitions)
                );
                ExitCode::from(super::EXIT_FAILURE)
            }
        });
    }
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("admin.config") {
        for (key, value) in common::read_properties(path)? {
            if key != "bootstrap.servers" {
                config.set(&key, &value)?;
            }
        }
    }
    config.request_timeout = Duration::from_secs(30);
    let results = rt.block_on(async {
        let admin = Admin::connect(config).await?;
        admin.elect_leaders(ElectionType::Preferred, partitions.as_deref()).await
    })?;
    Ok(leader_election::report(ElectionType::Preferred, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_set_rendering() {
        assert!(command().try_get_matches_from(["p"]).is_err(), "a connection is required");
        assert!(command().try_get_matches_from(["p", "--zookeeper", "z:2181"]).is_ok());
        assert!(command().try_get_matches_from(["p", "--zookeeper", "z", "--bootstrap-server", "b:9092"]).is_err());
        assert_eq!(scala_set(&[("t".into(), 0), ("t".into(), 1)]), "Set([t,0], [t,1])");
    }
}
