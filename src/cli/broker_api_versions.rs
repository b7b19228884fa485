//! `broker-api-versions` (kafka-broker-api-versions.sh): every broker's
//! ApiVersions answer in the text of Kafka's BrokerApiVersionsCommand
//! (`NodeApiVersions.toString(true)`): per broker `host:port (id: N rack: R)
//! -> (`, then one line per API in key order — `Name(key): min to max [usable:
//! v]` (a single version when min equals max; `[unusable: node too new/old]`
//! when this client speaks no version in the broker's range), `Name(key):
//! UNSUPPORTED` for client APIs the broker does not list — and `)`. A broker
//! that cannot be asked gets `-> ERROR: …` and the tool still exits 0, as Kafka's.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgMatches, Command};
use kafka_protocol::messages::ApiKey;

use super::common;
use crate::client::{Admin, ApiVersionRange, ClientConfig};

const TIMEOUT: Duration = Duration::from_secs(30);

/// APIs that only KRaft controllers or brokers among themselves speak: Kafka's
/// tool leaves them out of the UNSUPPORTED lines (they are not client APIs).
const NOT_CLIENT_APIS: &[i16] = &[4, 5, 6, 7, 52, 53, 54, 58, 59, 62, 63, 67, 70, 73, 80, 81, 82];

pub fn command() -> Command {
    Command::new("broker-api-versions")
        .about("Print the API versions every broker of the cluster supports")
        .arg(
            Arg::new("bootstrap-server")
                .long("bootstrap-server")
                .value_name("HOST:PORT[,HOST:PORT...]")
                .required(true)
                .help("The server(s) to connect to"),
        )
        .arg(common::config_file_arg("command-config", "Properties for the admin client"))
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout = TIMEOUT;
    common::apply_command_config(&mut config, m.get_one::<PathBuf>("command-config"))?;
    let rt = common::runtime()?;
    rt.block_on(async {
        let admin = Admin::connect(config).await?;
        let mut brokers = admin.cluster().await?.brokers;
        brokers.sort_by_key(|b| b.id);
        for b in brokers {
            let rack = b.rack.as_deref().unwrap_or("null");
            let node = format!("{}:{} (id: {} rack: {rack})", b.host, b.port, b.id);
            match admin.broker_api_versions(b.id).await {
                Ok(ranges) => println!("{node} -> {}", render(&ranges)),
                Err(e) => println!("{node} -> ERROR: {e}"),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// APIs Kafka 3.x's client knows that the codec crate no longer has: key,
/// name, and the highest version Kafka 3.x speaks.
const OUTSIDE_CODEC: &[(i16, &str, i16)] = &[(7, "ControlledShutdown", 3)];

/// Kafka's name of an API key (`UNKNOWN(k)` for keys nobody here knows).
fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?}({key})"),
        Err(_) => match OUTSIDE_CODEC.iter().find(|(k, _, _)| *k == key) {
            Some((_, name, _)) => format!("{name}({key})"),
            None => format!("UNKNOWN({key})"),
        },
    }
}

/// One broker's answer in `NodeApiVersions.toString(true)`'s layout.
fn render(ranges: &[ApiVersionRange]) -> String {
    let mut lines: std::collections::BTreeMap<i16, String> = std::collections::BTreeMap::new();
    for r in ranges {
        let versions = if r.min == r.max { r.min.to_string() } else { format!("{} to {}", r.min, r.max) };
        let known = ApiKey::try_from(r.api_key).ok();
        let outside = OUTSIDE_CODEC.iter().find(|(k, _, _)| *k == r.api_key);
        let usable = match (known, r.usable) {
            (None, _) => match outside {
                Some((_, _, latest)) if r.min <= *latest => format!(" [usable: {}]", r.max.min(*latest)),
                Some(_) => " [unusable: node too new]".to_string(),
                None => String::new(),
            },
            (Some(_), Some(v)) => format!(" [usable: {v}]"),
            (Some(api), None) if r.min > api.valid_versions().max => " [unusable: node too new]".to_string(),
            (Some(_), None) => " [unusable: node too old]".to_string(),
        };
        lines.insert(r.api_key, format!("{}: {versions}{usable}", api_name(r.api_key)));
    }
    for key in 0..100i16 {
        if ApiKey::try_from(key).is_ok() && !NOT_CLIENT_APIS.contains(&key) && !lines.contains_key(&key) {
            lines.insert(key, format!("{}: UNSUPPORTED", api_name(key)));
        }
    }
    let body: Vec<String> = lines.into_values().collect();
    format!("(\n\t{}\n)", body.join(",\n\t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_kafkas_node_api_versions() {
        let ranges = [
            ApiVersionRange { api_key: 0, min: 0, max: 9, usable: Some(9) },
            ApiVersionRange { api_key: 18, min: 3, max: 3, usable: Some(3) },
            ApiVersionRange { api_key: 1, min: 90, max: 91, usable: None },
            ApiVersionRange { api_key: 7, min: 0, max: 3, usable: None },
        ];
        let text = render(&ranges);
        assert!(text
            .starts_with("(\n\tProduce(0): 0 to 9 [usable: 9],\n\tFetch(1): 90 to 91 [unusable: node too new],\n\t"));
        assert!(text.contains("\n\tApiVersions(18): 3 [usable: 3],\n"), "{text}");
        assert!(text.contains("\n\tListOffsets(2): UNSUPPORTED,\n"), "{text}");
        assert!(text.contains("\n\tControlledShutdown(7): 0 to 3 [usable: 3],\n"), "{text}");
        assert!(!text.contains("LeaderAndIsr"), "inter-broker APIs are not listed: {text}");
        assert!(text.ends_with("\n)"), "{text}");
    }
}
