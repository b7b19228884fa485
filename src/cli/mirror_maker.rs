//! `mirror-maker` (kafka-mirror-maker.sh, Kafka's original `MirrorMaker`):
//! copies the topics matching `--include`/`--whitelist` from a source
//! cluster (`--consumer.config`: its `bootstrap.servers` and `group.id`) into
//! a target cluster (`--producer.config`), until SIGINT/SIGTERM.
//!
//! Each record keeps its key, value, headers and timestamp, and goes to the
//! same partition number when the target topic has that many partitions,
//! else by key. The producer is idempotent with `acks=all`; source offsets
//! are committed only for records the target acknowledged — periodically
//! (`--offset.commit.interval.ms`), before a rebalance takes partitions away
//! (the consumer's revocation hook) and at shutdown after a flush — so a
//! crash copies some records again but never skips one.
//!
//! Kafka's tool relies on the target broker auto-creating topics; this one
//! creates a missing target topic itself, with the source's partition count
//! and the target's default replication factor, so partition numbers line up.
//!
//! `--num.streams N` runs N consumers in the group, sharing one producer.
//! A failed send stops the tool (exit 1, nothing committed past the failed
//! record) unless `--abort.on.send.failure false`, which logs and skips it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command};
use tokio::sync::{mpsc, watch};

use super::common;
use super::connect_standalone::Signals;
use super::verifiable_producer::apply_properties;
use crate::client::{
    Admin, ClientConfig, ClientError, Consumer, ConsumerConfig, ConsumerRecord, DeliveryFuture, NewTopic, Producer,
    ProducerConfig, ProducerRecord, ResponseError,
};

/// A source partition.
type TopicPartition = (String, i32);

pub fn command() -> Command {
    Command::new("mirror-maker")
        .about("Copy topics from one cluster into another (kafka-mirror-maker.sh)")
        .arg(
            common::config_file_arg("consumer.config", "Source cluster consumer config (bootstrap.servers, group.id)")
                .required(true),
        )
        .arg(
            common::config_file_arg("producer.config", "Target cluster producer config (bootstrap.servers)")
                .required(true),
        )
        .arg(
            Arg::new("include")
                .long("include")
                .visible_alias("whitelist")
                .value_name("REGEX")
                .required(true)
                .help("Topics to mirror: a regular expression (',' also separates alternatives)"),
        )
        .arg(
            Arg::new("num.streams")
                .long("num.streams")
                .value_name("N")
                .default_value("1")
                .value_parser(clap::value_parser!(u32).range(1..=64))
                .help("Number of consumers in the group"),
        )
        .arg(
            Arg::new("offset.commit.interval.ms")
                .long("offset.commit.interval.ms")
                .value_name("MS")
                .default_value("60000")
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("How often acknowledged source offsets are committed"),
        )
        .arg(
            Arg::new("abort.on.send.failure")
                .long("abort.on.send.failure")
                .value_name("true|false")
                .default_value("true")
                .value_parser(clap::value_parser!(bool))
                .action(ArgAction::Set)
                .help("Stop on a failed send (true) or log and skip the record (false)"),
        )
}

/// Kafka's include-list normalization: `a,b` means `a|b`; spaces and
/// surrounding quotes are dropped.
fn normalize_include(raw: &str) -> String {
    raw.trim().replace(',', "|").replace(' ', "").trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// The partition a record goes to on the target: the same number when the
/// target topic has it, else `None` (by key, as the producer partitions).
fn target_partition(source: i32, target_partitions: i32) -> Option<i32> {
    (source < target_partitions).then_some(source)
}

/// What one stream's sends have achieved, shared between its poll loop, its
/// ack task and its revocation hook.
#[derive(Default)]
struct Progress {
    /// Per source partition, the offset after the last record the target
    /// acknowledged (what may be committed).
    acked: Mutex<BTreeMap<TopicPartition, i64>>,
    sent: AtomicU64,
    settled: AtomicU64,
    /// The first failed send, when it stops the tool.
    failure: Mutex<Option<String>>,
}

impl Progress {
    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Flushes the producer and waits until every record sent so far has
    /// been accounted for, so `acked` is complete.
    async fn settle(&self, producer: &Producer) {
        if let Err(e) = producer.flush().await {
            tracing::warn!("flushing the producer: {e}");
        }
        let target = self.sent.load(Ordering::Acquire);
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.settled.load(Ordering::Acquire) < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The acknowledged offsets of `partitions`; nothing once a send failed
    /// under abort.on.send.failure (those partitions are redone by the next owner).
    fn offsets_for(&self, partitions: &[TopicPartition]) -> BTreeMap<TopicPartition, i64> {
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        partitions.iter().filter_map(|tp| acked.get(tp).map(|o| (tp.clone(), *o))).collect()
    }
}

/// Target topics: created when missing, partition counts cached.
struct Targets {
    source: Admin,
    target: Admin,
    partitions: tokio::sync::Mutex<HashMap<String, i32>>,
}

impl Targets {
    /// The target topic's partition count, creating the topic first if needed.
    async fn partitions(&self, topic: &str) -> anyhow::Result<i32> {
        let mut cache = self.partitions.lock().await;
        if let Some(n) = cache.get(topic) {
            return Ok(*n);
        }
        let n = match partition_count(&self.target, topic).await? {
            Some(n) => n,
            None => {
                let count = partition_count(&self.source, topic).await?.unwrap_or(1);
                tracing::info!(topic, partitions = count, "creating the topic on the target cluster");
                match self.target.create_topic(NewTopic::new(topic, count), false).await {
                    Ok(()) => {}
                    Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot create topic {topic} on the target")),
                }
                count
            }
        };
        cache.insert(topic.to_string(), n);
        Ok(n)
    }
}

/// A topic's partition count, `None` when it does not exist.
async fn partition_count(admin: &Admin, topic: &str) -> anyhow::Result<Option<i32>> {
    match admin.describe_topics(Some(&[topic.to_string()])).await {
        Ok(topics) => Ok(topics.into_iter().find(|t| t.name == topic).map(|t| t.partitions.len() as i32)),
        Err(e) if e.code() == Some(ResponseError::UnknownTopicOrPartition) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot describe topic {topic}")),
    }
}

/// The record as the target gets it.
fn mirrored(r: ConsumerRecord, target_partitions: i32) -> ProducerRecord {
    ProducerRecord {
        partition: target_partition(r.partition, target_partitions),
        topic: r.topic,
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp: Some(r.timestamp),
    }
}

/// Reads the required connection keys of a config file.
fn required(path: &Path, props: &BTreeMap<String, String>, key: &str) -> anyhow::Result<String> {
    match props.get(key).filter(|v| !v.trim().is_empty()) {
        Some(v) => Ok(v.clone()),
        None => bail!("{} must set {key}", path.display()),
    }
}

struct Settings {
    consumer: ConsumerConfig,
    producer: ProducerConfig,
    source_bootstrap: String,
    target_bootstrap: String,
    include: String,
    streams: u32,
    commit_interval: Duration,
    abort_on_failure: bool,
}

fn settings(m: &ArgMatches) -> anyhow::Result<Settings> {
    let consumer_path = m.get_one::<PathBuf>("consumer.config").context("--consumer.config is required")?;
    let producer_path = m.get_one::<PathBuf>("producer.config").context("--producer.config is required")?;
    let consumer_props = common::read_properties(consumer_path)?;
    let source_bootstrap = required(consumer_path, &consumer_props, "bootstrap.servers")?;
    required(consumer_path, &consumer_props, "group.id")?;
    let target_bootstrap = required(producer_path, &common::read_properties(producer_path)?, "bootstrap.servers")?;

    let mut consumer = ConsumerConfig::new(source_bootstrap.clone());
    apply_properties(consumer_path, |k, v| consumer.set(k, v))?;
    // Offsets are committed by the tool, only after the target acknowledged.
    consumer.set("enable.auto.commit", "false")?;
    let mut producer = ProducerConfig::new(target_bootstrap.clone());
    apply_properties(producer_path, |k, v| producer.set(k, v))?;
    producer.set("acks", "all")?;
    producer.set("enable.idempotence", "true")?;

    let include = normalize_include(m.get_one::<String>("include").map_or("", String::as_str));
    if include.is_empty() {
        bail!("--include must name at least one topic pattern");
    }
    regex::Regex::new(&include).with_context(|| format!("--include '{include}' is not a valid regular expression"))?;
    Ok(Settings {
        consumer,
        producer,
        source_bootstrap,
        target_bootstrap,
        include,
        streams: m.get_one::<u32>("num.streams").copied().unwrap_or(1),
        commit_interval: Duration::from_millis(
            m.get_one::<u64>("offset.commit.interval.ms").copied().unwrap_or(60_000),
        ),
        abort_on_failure: m.get_one::<bool>("abort.on.send.failure").copied().unwrap_or(true),
    })
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let s = settings(m)?;
    let rt = common::runtime()?;
    rt.block_on(async move {
        let mut signals = Signals::install()?;
        let targets = Arc::new(Targets {
            source: Admin::connect(ClientConfig::new(s.source_bootstrap.clone()))
                .await
                .context("cannot connect to the source cluster")?,
            target: Admin::connect(ClientConfig::new(s.target_bootstrap.clone()))
                .await
                .context("cannot connect to the target cluster")?,
            partitions: tokio::sync::Mutex::new(HashMap::new()),
        });
        let producer = Producer::new(s.producer).await.context("cannot start the producer")?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut streams = tokio::task::JoinSet::new();
        for i in 0..s.streams {
            let stream = Stream {
                id: i,
                producer: producer.clone(),
                targets: targets.clone(),
                include: s.include.clone(),
                commit_interval: s.commit_interval,
                abort_on_failure: s.abort_on_failure,
            };
            let (config, stop) = (s.consumer.clone(), stop_rx.clone());
            streams.spawn(stream.run(config, stop));
        }
        tracing::info!(include = s.include, streams = s.streams, "mirroring");
        // Until a signal, or until a stream stops on its own (a failure).
        let code = tokio::select! {
            code = signals.next() => code,
            Some(first) = streams.join_next() => {
                let _ = stop_tx.send(true);
                let mut errors = vec![first];
                while let Some(r) = streams.join_next().await { errors.push(r); }
                return finish(errors, producer).await;
            }
        };
        let _ = stop_tx.send(true);
        let mut results = Vec::new();
        while let Some(r) = streams.join_next().await {
            results.push(r);
        }
        // A clean stop exits with the signal's code; a failed stream fails the run.
        finish(results, producer).await.map(|_| code)
    })
}

/// Reports the streams' outcomes after closing the producer: the first
/// error fails the run.
async fn finish(
    results: Vec<Result<anyhow::Result<()>, tokio::task::JoinError>>,
    producer: Producer,
) -> anyhow::Result<ExitCode> {
    if let Err(e) = producer.close().await {
        tracing::warn!("closing the producer: {e}");
    }
    for r in results {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => bail!("a mirror stream failed: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One consumer of the group and its share of the copying.
struct Stream {
    id: u32,
    producer: Producer,
    targets: Arc<Targets>,
    include: String,
    commit_interval: Duration,
    abort_on_failure: bool,
}

impl Stream {
    async fn run(self, mut config: ConsumerConfig, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let client_id = config.client.client_id.clone();
        let base = if client_id.is_empty() { config.group_id.clone().unwrap_or_default() } else { client_id };
        config.set("client.id", &format!("{base}-{}", self.id))?;
        let mut consumer = Consumer::new(config).await.context("cannot start the source consumer")?;
        let progress = Arc::new(Progress::default());
        // Before a rebalance takes partitions away: what the target has is committed.
        let (hook_progress, hook_producer) = (progress.clone(), self.producer.clone());
        consumer.set_revocation_hook(Some(Arc::new(move |partitions, _group| {
            let (progress, producer) = (hook_progress.clone(), hook_producer.clone());
            Box::pin(async move {
                progress.settle(&producer).await;
                progress.offsets_for(&partitions)
            })
        })));
        consumer.subscribe_pattern(&self.include).await.context("cannot subscribe to the source topics")?;

        let (tx, rx) = mpsc::channel::<(TopicPartition, i64, DeliveryFuture)>(100_000);
        let acks = tokio::spawn(track_acks(rx, progress.clone(), self.abort_on_failure));
        let mut committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut last_commit = Instant::now();
        let outcome: anyhow::Result<()> = async {
            loop {
                if *stop.borrow() {
                    return Ok(());
                }
                let records = tokio::select! {
                    _ = stop.changed() => return Ok(()),
                    polled = consumer.poll(Duration::from_millis(500)) => polled?,
                };
                if let Some(failure) = progress.failure() {
                    bail!("{failure}");
                }
                for r in records {
                    let partitions = self.targets.partitions(&r.topic).await?;
                    let (tp, offset) = ((r.topic.clone(), r.partition), r.offset);
                    let fut = match self.producer.send(mirrored(r, partitions)).await {
                        Ok(f) => f,
                        Err(e) if self.abort_on_failure => {
                            bail!("Exiting: sending a record of {}-{} failed: {e}", tp.0, tp.1)
                        }
                        Err(e) => {
                            tracing::error!("Error when sending a record of {}-{} to the target: {e}", tp.0, tp.1);
                            continue;
                        }
                    };
                    progress.sent.fetch_add(1, Ordering::AcqRel);
                    if tx.send((tp, offset, fut)).await.is_err() {
                        bail!("the acknowledgement task stopped");
                    }
                }
                if last_commit.elapsed() >= self.commit_interval {
                    self.commit(&mut consumer, &progress, &mut committed).await?;
                    last_commit = Instant::now();
                }
            }
        }
        .await;
        // Stopping, for a signal or an error: commit what the target has.
        let committed_now = self.commit(&mut consumer, &progress, &mut committed).await;
        drop(tx);
        let _ = acks.await;
        consumer.set_revocation_hook(None);
        if let Err(e) = consumer.close().await {
            tracing::warn!("closing the source consumer: {e}");
        }
        outcome.and(committed_now)
    }

    /// Commits the acknowledged offsets of the partitions this stream owns
    /// (those that moved since the last commit).
    async fn commit(
        &self,
        consumer: &mut Consumer,
        progress: &Progress,
        committed: &mut BTreeMap<TopicPartition, i64>,
    ) -> anyhow::Result<()> {
        progress.settle(&self.producer).await;
        let mut offsets = progress.offsets_for(&consumer.assignment());
        offsets.retain(|tp, o| committed.get(tp) != Some(o));
        if !offsets.is_empty() {
            match consumer.commit_offsets(offsets.clone()).await {
                Ok(()) => committed.extend(offsets),
                // A rebalance under way: the revocation hook commits for it.
                Err(e) => tracing::warn!("committing source offsets failed: {e}"),
            }
        }
        match progress.failure() {
            Some(failure) => bail!("{failure}"),
            None => Ok(()),
        }
    }
}

/// Awaits each send in order and advances the partition's committable
/// offset once the target acknowledged it. After a failure under
/// abort.on.send.failure nothing advances any more.
async fn track_acks(
    mut rx: mpsc::Receiver<(TopicPartition, i64, DeliveryFuture)>,
    progress: Arc<Progress>,
    abort_on_failure: bool,
) {
    while let Some((tp, offset, fut)) = rx.recv().await {
        let result: Result<_, ClientError> = fut.await;
        let advance = match result {
            Ok(_) => progress.failure().is_none(),
            Err(e) if abort_on_failure => {
                let mut failure = progress.failure.lock().unwrap_or_else(|e| e.into_inner());
                if failure.is_none() {
                    *failure = Some(format!("Exiting: sending a record of {}-{} failed: {e}", tp.0, tp.1));
                }
                false
            }
            Err(e) => {
                tracing::error!(
                    "Error when sending a record of {}-{} (offset {offset}) to the target: {e}",
                    tp.0,
                    tp.1
                );
                true
            }
        };
        if advance {
            progress.acked.lock().unwrap_or_else(|e| e.into_inner()).insert(tp, offset + 1);
        }
        progress.settled.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lists_accept_commas_and_quotes() {
        assert_eq!(normalize_include("orders, payments"), "orders|payments");
        assert_eq!(normalize_include("'logs.*'"), "logs.*");
        assert_eq!(normalize_include(" \"a|b\" "), "a|b");
    }

    #[test]
    fn partitions_line_up_when_the_target_has_them() {
        assert_eq!(target_partition(2, 3), Some(2));
        assert_eq!(target_partition(3, 3), None, "by key on a smaller target");
    }

    #[test]
    fn only_acknowledged_offsets_of_owned_partitions_are_committed() {
        let p = Progress::default();
        p.acked.lock().expect("lock").insert(("t".into(), 0), 5);
        p.acked.lock().expect("lock").insert(("t".into(), 1), 9);
        let owned = [("t".to_string(), 1), ("t".to_string(), 2)];
        assert_eq!(p.offsets_for(&owned), BTreeMap::from([(("t".to_string(), 1), 9)]));
    }
}
