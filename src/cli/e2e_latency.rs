//! `e2e-latency` (kafka-e2e-latency.sh, Kafka's `EndToEndLatency`): the time
//! from sending a record to reading it back, one record at a time — produce,
//! wait for the ack, poll until the consumer has it, check it is the same
//! bytes. Kafka's positional arguments (`broker_list topic num_messages
//! producer_acks message_size_bytes [properties_file]`) and output: a
//! progress line `<i>\t<ms>` every 1000 records, then `Avg latency: … ms`
//! and `Percentiles: 50th = …, 99th = …, 99.9th = …`. A missing topic is
//! created with one partition and replication factor 1, as Kafka's tool does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Arg, ArgMatches, Command};

use super::common;
use crate::client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, NewTopic, Producer, ProducerConfig, ProducerRecord,
};
use crate::client::{ClientError, SeekTo};

/// How long one record may take to come back (Kafka's tool: 60 s).
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "USAGE: kafka-e2e-latency.sh broker_list topic num_messages producer_acks message_size_bytes [optional] properties_file";

pub fn command() -> Command {
    Command::new("e2e-latency")
        .about("Measure produce-to-consume latency one record at a time (kafka-e2e-latency.sh)")
        .override_usage(USAGE.trim_start_matches("USAGE: "))
        .arg(Arg::new("broker_list").required(true).help("Brokers to connect to (host:port,...)"))
        .arg(Arg::new("topic").required(true).help("Topic to use; created with one partition when missing"))
        .arg(
            Arg::new("num_messages")
                .required(true)
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("How many records to send"),
        )
        .arg(
            Arg::new("producer_acks")
                .required(true)
                .value_parser(["1", "all", "-1"])
                .help("1 or all: latency testing needs acknowledged sends"),
        )
        .arg(
            Arg::new("message_size_bytes")
                .required(true)
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Size of each record's value"),
        )
        .arg(
            Arg::new("properties_file")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Client properties applied to both the producer and the consumer"),
        )
}

/// A payload of `len` pseudo-random bytes, different for every `seed`.
fn payload(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Kafka's percentile pick: the element at `len * p`, truncated.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64) * p) as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Applies each property to whichever clients know it; a key neither knows
/// (or a value both refuse) is an error naming it.
fn apply_properties(
    path: &std::path::Path,
    producer: &mut ProducerConfig,
    consumer: &mut ConsumerConfig,
) -> anyhow::Result<()> {
    for (k, v) in common::read_properties(path)? {
        if k == "bootstrap.servers" || k.ends_with(".serializer") || k.ends_with(".deserializer") {
            continue;
        }
        let p = producer.set(&k, &v);
        let c = consumer.set(&k, &v);
        if let (Err(e), Err(_)) = (p, c) {
            return Err(e).with_context(|| format!("in {}", path.display()));
        }
    }
    Ok(())
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let brokers = m.get_one::<String>("broker_list").cloned().unwrap_or_default();
    let topic = m.get_one::<String>("topic").cloned().unwrap_or_default();
    let num = m.get_one::<u64>("num_messages").copied().unwrap_or(1);
    let acks = m.get_one::<String>("producer_acks").cloned().unwrap_or_else(|| "all".into());
    let size = m.get_one::<u32>("message_size_bytes").copied().unwrap_or(1) as usize;

    let mut producer_config = ProducerConfig::new(brokers.clone());
    let mut consumer_config = ConsumerConfig::new(brokers.clone());
    if let Some(path) = m.get_one::<PathBuf>("properties_file") {
        apply_properties(path, &mut producer_config, &mut consumer_config)?;
    }
    producer_config.set("acks", &acks)?;
    producer_config.set("linger.ms", "0")?;
    // fetch.max.wait.ms stays at its default: a waiting fetch is answered as
    // soon as the record is appended, so the wait does not add latency.
    consumer_config.set("enable.auto.commit", "false")?;

    let rt = common::runtime()?;
    rt.block_on(async move {
        let admin = Admin::connect(ClientConfig::new(brokers.clone())).await.context("cannot connect")?;
        if !admin.list_topics(true).await?.contains(&topic) {
            println!(
                "Topic \"{topic}\" does not exist. Will create topic with 1 partition(s) and replication factor = 1"
            );
            let mut new = NewTopic::new(topic.clone(), 1);
            new.replication_factor = 1;
            match admin.create_topic(new, false).await {
                // Another client created it meanwhile: fine.
                Ok(()) => {}
                Err(e) if e.code() == Some(crate::client::ResponseError::TopicAlreadyExists) => {}
                Err(e) => return Err(e).context(format!("cannot create topic {topic}")),
            }
        }
        let mut consumer = Consumer::new(consumer_config).await.context("cannot start the consumer")?;
        let partitions = wait_for_partitions(&consumer, &topic).await?;
        consumer.assign(partitions.iter().map(|p| (topic.clone(), *p)).collect()).await?;
        for p in &partitions {
            consumer.seek(&topic, *p, SeekTo::End).await?;
        }
        let producer = Producer::new(producer_config).await.context("cannot start the producer")?;

        let mut latencies_ms = Vec::with_capacity(num as usize);
        let mut total = Duration::ZERO;
        for i in 0..num {
            let value = payload(size, i);
            let begin = Instant::now();
            producer.send(ProducerRecord::new(topic.clone(), value.clone())).await?.await?;
            let records = poll_some(&mut consumer).await?;
            let elapsed = begin.elapsed();
            let Some(first) = records.first() else {
                bail!("poll timed out: no record came back within {} s", POLL_TIMEOUT.as_secs())
            };
            if first.value.as_ref() != Some(&value) {
                bail!("The message read did not match the message sent (record {i})");
            }
            if records.len() > 1 {
                bail!("Only one result was expected during this test. We found [{}]", records.len());
            }
            if i % 1000 == 0 {
                println!("{i}\t{}", elapsed.as_secs_f64() * 1000.0);
            }
            total += elapsed;
            latencies_ms.push(elapsed.as_millis() as u64);
        }
        println!("Avg latency: {:.4} ms\n", total.as_secs_f64() * 1000.0 / num as f64);
        latencies_ms.sort_unstable();
        println!(
            "Percentiles: 50th = {}, 99th = {}, 99.9th = {}",
            percentile(&latencies_ms, 0.5),
            percentile(&latencies_ms, 0.99),
            percentile(&latencies_ms, 0.999)
        );
        producer.close().await?;
        if let Err(e) = consumer.close().await {
            tracing::debug!("closing the consumer: {e}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The topic's partitions, once its metadata has them (a topic just
/// created may take a moment to get leaders).
async fn wait_for_partitions(consumer: &Consumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.partitions_for(topic).await {
            Ok(p) if !p.is_empty() => return Ok(p),
            Ok(_) | Err(ClientError::Kafka { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(_) => bail!("topic {topic} has no partitions"),
            Err(e) => return Err(e).context(format!("cannot read the partitions of {topic}")),
        }
    }
}

/// Polls until something arrives or the timeout passes.
async fn poll_some(consumer: &mut Consumer) -> anyhow::Result<Vec<crate::client::ConsumerRecord>> {
    let deadline = Instant::now() + POLL_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let records = consumer.poll(left).await?;
        if !records.is_empty() || left.is_zero() {
            return Ok(records);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_as_kafka() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 501);
        assert_eq!(percentile(&v, 0.99), 991);
        assert_eq!(percentile(&v, 0.999), 1000);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.999), 7);
    }

    #[test]
    fn payloads_have_the_size_and_differ() {
        assert_eq!(payload(100, 1).len(), 100);
        assert_ne!(payload(16, 1), payload(16, 2));
    }
}
