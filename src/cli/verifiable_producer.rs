//! `verifiable-producer` (kafka-verifiable-producer.sh): Kafka's system-test
//! producer. It sends the integers 0, 1, 2, … as string values (optionally
//! `<prefix>.<n>`), at a chosen rate, and prints one JSON event per line on
//! stdout for every acknowledgement and every failure, so a test harness can
//! check later that each acknowledged value was consumed. The event names and
//! fields are Kafka's (`startup_complete`, `producer_send_success`,
//! `producer_send_error`, `shutdown_complete`, `tool_data`).
//!
//! SIGINT/SIGTERM stop sending; what was sent is still flushed and reported
//! before the shutdown lines. Also holds the small pieces the other
//! verifiable tools share (event printing, Java exception names).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};
use serde::Serialize;
use tokio::sync::mpsc;

use super::common;
use super::connect_standalone::Signals;
use crate::client::{code_name, ClientError, DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

/// Milliseconds since the Unix epoch, the `timestamp` of every event.
pub(super) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Prints one event as a JSON line on stdout. Stdout is line-buffered, so a
/// harness reading the pipe sees each event as soon as it happens.
pub(super) fn emit<T: Serialize>(event: &T) {
    match serde_json::to_string(event) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("cannot encode an event: {e}"),
    }
}

/// An event with nothing but its name (`startup_complete`, `shutdown_complete`).
#[derive(Serialize)]
pub(super) struct Bare {
    pub timestamp: i64,
    pub name: &'static str,
}

impl Bare {
    pub(super) fn new(name: &'static str) -> Bare {
        Bare { timestamp: now_ms(), name }
    }
}

/// The Java exception class a Kafka client would have reported for `err`
/// (`class org.apache.kafka.common.errors.NotLeaderOrFollowerException`), as
/// Kafka's tools print `exception.getClass()`.
pub(super) fn java_exception(err: &ClientError) -> String {
    let simple = match err {
        ClientError::Kafka { code, .. } => {
            // NOT_ENOUGH_REPLICAS → NotEnoughReplicasException.
            let mut name = String::new();
            for word in code_name(*code).split('_') {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    name.push(first);
                    name.extend(chars.flat_map(char::to_lowercase));
                }
            }
            format!("errors.{name}Exception")
        }
        ClientError::Timeout { .. } => "errors.TimeoutException".to_string(),
        ClientError::Io { .. } => "errors.NetworkException".to_string(),
        ClientError::Config(_) => "config.ConfigException".to_string(),
        ClientError::Closed(_) | ClientError::InvalidState(_) => return "class java.lang.IllegalStateException".into(),
        _ => "KafkaException".to_string(),
    };
    format!("class org.apache.kafka.common.{simple}")
}

/// Applies a properties file's keys to a client config through `set`. The
/// (de)serializer classes are skipped: these tools always read and write
/// strings or bytes, whatever a shared client config file names.
pub(super) fn apply_properties(
    path: &Path,
    mut set: impl FnMut(&str, &str) -> Result<(), ClientError>,
) -> anyhow::Result<()> {
    for (k, v) in common::read_properties(path)? {
        if k.ends_with(".serializer") || k.ends_with(".deserializer") || k == "bootstrap.servers" {
            continue;
        }
        set(&k, &v).with_context(|| format!("in {}", path.display()))?;
    }
    Ok(())
}

/// The `--bootstrap-server` flag with Kafka's older `--broker-list` spelling.
pub(super) fn bootstrap_arg() -> Arg {
    Arg::new("bootstrap-server")
        .long("bootstrap-server")
        .visible_alias("broker-list")
        .value_name("HOST:PORT[,HOST:PORT...]")
        .required(true)
        .help("The brokers to connect to (--broker-list is the older name)")
}

pub fn command() -> Command {
    Command::new("verifiable-producer")
        .about("Produce the integers 0, 1, 2, ... and report every ack as a JSON line (kafka-verifiable-producer.sh)")
        .arg(bootstrap_arg())
        .arg(Arg::new("topic").long("topic").value_name("TOPIC").required(true).help("Produce messages to this topic"))
        .arg(
            Arg::new("max-messages")
                .long("max-messages")
                .value_name("N")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Produce this many messages; -1 produces until stopped"),
        )
        .arg(
            Arg::new("throughput")
                .long("throughput")
                .value_name("MSGS/SEC")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Throttle to about this many messages per second; -1 = no limit"),
        )
        .arg(
            Arg::new("acks")
                .long("acks")
                .value_name("ACKS")
                .default_value("-1")
                .allow_hyphen_values(true)
                .help("Acknowledgements the leader waits for: 0, 1 or -1 (all)"),
        )
        .arg(common::config_file_arg("producer.config", "Producer config properties file"))
        .arg(
            Arg::new("message-create-time")
                .long("message-create-time")
                .value_name("MS")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Timestamp of the first message (ms since the epoch), advanced with the elapsed time; -1 = now"),
        )
        .arg(
            Arg::new("value-prefix")
                .long("value-prefix")
                .value_name("INT")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i32))
                .help("Values become <prefix>.<n>"),
        )
        .arg(
            Arg::new("repeating-keys")
                .long("repeating-keys")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Keys cycle through 0 .. N-1 (default: no key)"),
        )
}

#[derive(Serialize)]
struct SendSuccess<'a> {
    timestamp: i64,
    name: &'static str,
    key: Option<&'a str>,
    value: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct SendError<'a> {
    timestamp: i64,
    name: &'static str,
    exception: String,
    message: String,
    topic: &'a str,
    key: Option<&'a str>,
    value: &'a str,
}

#[derive(Serialize)]
struct ToolData {
    timestamp: i64,
    name: &'static str,
    sent: u64,
    acked: u64,
    target_throughput: i64,
    avg_throughput: f64,
}

/// The value of the `n`-th message.
fn value_of(n: u64, prefix: Option<i32>) -> String {
    match prefix {
        Some(p) => format!("{p}.{n}"),
        None => n.to_string(),
    }
}

/// What the ack-reporting task needs about one message.
struct InFlight {
    key: Option<String>,
    value: String,
    outcome: Result<DeliveryFuture, ClientError>,
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let bootstrap = m.get_one::<String>("bootstrap-server").cloned().unwrap_or_default();
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let max_messages = m.get_one::<i64>("max-messages").copied().unwrap_or(-1);
    let throughput = m.get_one::<i64>("throughput").copied().unwrap_or(-1);
    let create_time = m.get_one::<i64>("message-create-time").copied().filter(|t| *t >= 0);
    let prefix = m.get_one::<i32>("value-prefix").copied();
    let repeating = m.get_one::<u32>("repeating-keys").copied();
    let mut config = ProducerConfig::new(bootstrap);
    if let Some(path) = m.get_one::<PathBuf>("producer.config") {
        apply_properties(path, |k, v| config.set(k, v))?;
    }
    config.set("acks", m.get_one::<String>("acks").map_or("-1", String::as_str))?;

    let rt = common::runtime()?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        let producer = Producer::new(config).await.context("cannot start the producer")?;
        emit(&Bare::new("startup_complete"));
        // Bounded, so an unlimited rate cannot queue unbounded futures.
        let (tx, mut rx) = mpsc::channel::<InFlight>(10_000);
        let report_topic = topic.clone();
        let reporter = tokio::spawn(async move {
            let mut acked = 0u64;
            while let Some(msg) = rx.recv().await {
                let outcome = match msg.outcome {
                    Ok(fut) => fut.await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(meta) => {
                        acked += 1;
                        emit(&SendSuccess {
                            timestamp: now_ms(),
                            name: "producer_send_success",
                            key: msg.key.as_deref(),
                            value: &msg.value,
                            topic: &meta.topic,
                            partition: meta.partition,
                            offset: meta.offset,
                        });
                    }
                    Err(e) => emit(&SendError {
                        timestamp: now_ms(),
                        name: "producer_send_error",
                        exception: java_exception(&e),
                        message: e.to_string(),
                        topic: &report_topic,
                        key: msg.key.as_deref(),
                        value: &msg.value,
                    }),
                }
            }
            acked
        });

        let start = Instant::now();
        let mut sent = 0u64;
        let mut key_counter = 0u32;
        let interrupted = loop {
            if max_messages >= 0 && sent >= max_messages as u64 {
                break None;
            }
            if throughput > 0 {
                let due = start + Duration::from_secs_f64(sent as f64 / throughput as f64);
                let now = Instant::now();
                if due > now {
                    tokio::select! {
                        code = signals.next() => break Some(code),
                        () = tokio::time::sleep(due - now) => {}
                    }
                }
            }
            let value = value_of(sent, prefix);
            let key = repeating.map(|n| {
                let k = key_counter.to_string();
                key_counter = (key_counter + 1) % n;
                k
            });
            let mut record = ProducerRecord::new(topic.clone(), value.clone());
            if let Some(k) = &key {
                record = record.key(k.clone());
            }
            if let Some(t) = create_time {
                record = record.timestamp(t + start.elapsed().as_millis() as i64);
            }
            let outcome = tokio::select! {
                code = signals.next() => break Some(code),
                outcome = producer.send(record) => outcome,
            };
            sent += 1;
            if tx.send(InFlight { key, value, outcome }).await.is_err() {
                break None;
            }
        };
        drop(tx);
        // Every message sent gets its event before the shutdown lines.
        if let Err(e) = producer.close().await {
            tracing::debug!("closing the producer: {e}");
        }
        let acked = reporter.await.context("the ack-reporting task failed")?;
        emit(&Bare::new("shutdown_complete"));
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        emit(&ToolData {
            timestamp: now_ms(),
            name: "tool_data",
            sent,
            acked,
            target_throughput: throughput,
            avg_throughput: acked as f64 / secs,
        });
        Ok(interrupted.unwrap_or(ExitCode::SUCCESS))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ResponseError;

    #[test]
    fn values_are_integers_with_an_optional_prefix() {
        assert_eq!(value_of(0, None), "0");
        assert_eq!(value_of(42, None), "42");
        assert_eq!(value_of(7, Some(3)), "3.7");
    }

    #[test]
    fn exceptions_carry_java_class_names() {
        let e = ClientError::Kafka {
            code: ResponseError::NotEnoughReplicas,
            message: None,
            context: "partition t-0".into(),
        };
        assert_eq!(java_exception(&e), "class org.apache.kafka.common.errors.NotEnoughReplicasException");
        let t = ClientError::Timeout { what: "x".into(), after: Duration::from_secs(1) };
        assert_eq!(java_exception(&t), "class org.apache.kafka.common.errors.TimeoutException");
    }

    #[test]
    fn events_keep_kafka_field_order() {
        let line = serde_json::to_string(&SendSuccess {
            timestamp: 1,
            name: "producer_send_success",
            key: None,
            value: "0",
            topic: "t",
            partition: 0,
            offset: 5,
        })
        .expect("json");
        assert_eq!(
            line,
            r#"{"timestamp":1,"name":"producer_send_success","key":null,"value":"0","topic":"t","partition":0,"offset":5}"#
        );
    }
}
