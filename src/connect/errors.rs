//! What a task does with a record it cannot convert or transform, with
//! Kafka's connector keys: `errors.tolerance` (`none`, the default, fails
//! the task; `all` skips the record), `errors.log.enable` and
//! `errors.log.include.messages` (log each skipped record), and for sink
//! connectors `errors.deadletterqueue.topic.name` (the skipped record's
//! original bytes go there), `errors.deadletterqueue.topic.replication.factor`
//! (3, as in Kafka; the topic is created when first needed) and
//! `errors.deadletterqueue.context.headers.enable` (Kafka's
//! `__connect.errors.*` headers saying where and why it failed).
//! `errors.retry.timeout` and `errors.retry.delay.max.ms` are accepted;
//! conversion and transform failures are not retried (they would fail the
//! same way again).

use bytes::Bytes;

use super::api::int;
use super::{Config, ConnectError, Result};
use crate::client::admin::{Admin, NewTopic};
use crate::client::{ClientConfig, Producer, ProducerConfig, ProducerRecord};

/// Where in the pipeline a record failed (Kafka's stage names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    KeyConverter,
    ValueConverter,
    Transformation,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
        }
    }
}

/// A failed record as it was read or polled.
pub struct Failed<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    /// Sink records only.
    pub offset: Option<i64>,
    pub key: Option<&'a Bytes>,
    pub value: Option<&'a Bytes>,
    pub headers: &'a [(String, Option<Bytes>)],
    pub stage: Stage,
    /// The converter or transform class that failed.
    pub class: &'a str,
}

/// A connector's error settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorPolicy {
    pub tolerate_all: bool,
    pub log: bool,
    pub log_messages: bool,
    pub dlq_topic: Option<String>,
    pub dlq_replication_factor: i16,
    pub context_headers: bool,
}

fn boolean(config: &Config, key: &str) -> Result<bool> {
    match config.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ConnectError::Config(format!(
            "Invalid value {v} for configuration {key}: Expected value to be either true or false"
        ))),
    }
}

impl ErrorPolicy {
    /// Reads and checks the `errors.*` keys; `sink_topics` are a sink's
    /// `topics` (the dead letter queue may not be one of them).
    pub fn from_config(config: &Config, sink_topics: Option<&[String]>) -> Result<ErrorPolicy> {
        let tolerate_all = match config.get("errors.tolerance").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("none") => false,
            Some("all") => true,
            Some(other) => {
                return Err(ConnectError::Config(format!(
                    "Invalid value {other} for configuration errors.tolerance: String must be one of: none, all"
                )))
            }
        };
        for key in ["errors.retry.timeout", "errors.retry.delay.max.ms"] {
            int(config, key, 0)?;
        }
        let rf = int(config, "errors.deadletterqueue.topic.replication.factor", 3)?;
        if rf == 0 || rf < -1 || rf > i64::from(i16::MAX) {
            return Err(ConnectError::Config(format!(
                "Invalid value {rf} for configuration errors.deadletterqueue.topic.replication.factor: Replication \
                 factor must be positive and not larger than the number of brokers, or -1 for the broker's default"
            )));
        }
        let dlq_topic = config
            .get("errors.deadletterqueue.topic.name")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty() && sink_topics.is_some());
        if let (Some(dlq), Some(topics)) = (&dlq_topic, sink_topics) {
            if topics.iter().any(|t| t == dlq) {
                return Err(ConnectError::Config(format!(
                    "The DLQ topic '{dlq}' may not be included in the list of topics ('topics={}') consumed by the \
                     connector (errors.deadletterqueue.topic.name)",
                    topics.join(",")
                )));
            }
        }
        Ok(ErrorPolicy {
            tolerate_all,
            log: boolean(config, "errors.log.enable")?,
            log_messages: boolean(config, "errors.log.include.messages")?,
            dlq_topic,
            dlq_replication_factor: rf as i16,
            context_headers: boolean(config, "errors.deadletterqueue.context.headers.enable")?,
        })
    }
}

/// Reports a task's skipped records: the log, and the dead letter queue.
pub struct Reporter {
    policy: ErrorPolicy,
    connector: String,
    task: usize,
    bootstrap: String,
    producer_props: Vec<(String, String)>,
    producer: Option<Producer>,
}

impl Reporter {
    pub fn new(
        policy: ErrorPolicy,
        connector: &str,
        task: usize,
        bootstrap: &str,
        producer_props: Vec<(String, String)>,
    ) -> Reporter {
        Reporter {
            policy,
            connector: connector.to_string(),
            task,
            bootstrap: bootstrap.to_string(),
            producer_props,
            producer: None,
        }
    }

    /// What to do with a record that failed with `error`: without
    /// `errors.tolerance=all` the error comes back and fails the task;
    /// with it the record is logged and queued and skipped. The dead letter
    /// write is awaited, so the record's offset is committed only once it is
    /// safe there.
    pub async fn tolerate(&mut self, failed: Failed<'_>, error: ConnectError) -> Result<()> {
        if !self.policy.tolerate_all {
            return Err(error);
        }
        self.report(failed, &error).await
    }

    async fn report(&mut self, failed: Failed<'_>, error: &ConnectError) -> Result<()> {
        if self.policy.log {
            let position = match (failed.partition, failed.offset) {
                (Some(p), Some(o)) => format!("topic={}, partition={p}, offset={o}", failed.topic),
                (Some(p), None) => format!("topic={}, partition={p}", failed.topic),
                _ => format!("topic={}", failed.topic),
            };
            let message = if self.policy.log_messages {
                format!(
                    ", key={:?}, value={:?}",
                    failed.key.map(|k| String::from_utf8_lossy(k).into_owned()),
                    failed.value.map(|v| String::from_utf8_lossy(v).into_owned())
                )
            } else {
                String::new()
            };
            tracing::error!(
                "Error encountered in task {}-{}. Executing stage '{}' with class '{}', where consumed record is \
                 {{{position}{message}}}: {}",
                self.connector,
                self.task,
                failed.stage.name(),
                failed.class,
                error
            );
        }
        let Some(topic) = self.policy.dlq_topic.clone() else { return Ok(()) };
        let mut headers = failed.headers.to_vec();
        if self.policy.context_headers {
            let text = |s: String| Some(Bytes::from(s));
            let mut add = |name: &str, value: Option<Bytes>| headers.push((format!("__connect.errors.{name}"), value));
            add("topic", text(failed.topic.to_string()));
            add("partition", failed.partition.map(|p| Bytes::from(p.to_string())));
            add("offset", failed.offset.map(|o| Bytes::from(o.to_string())));
            add("connector.name", text(self.connector.clone()));
            add("task.id", text(self.task.to_string()));
            add("stage", text(failed.stage.name().to_string()));
            add("class.name", text(failed.class.to_string()));
            add("exception.class.name", text("org.apache.kafka.connect.errors.DataException".to_string()));
            add("exception.message", text(error.to_string()));
            add("exception.stacktrace", text(error.to_string()));
        }
        let record = ProducerRecord {
            topic,
            partition: None,
            key: failed.key.cloned(),
            value: failed.value.cloned(),
            headers,
            timestamp: None,
        };
        let producer = self.producer().await?;
        producer.send(record).await?.await?;
        Ok(())
    }

    async fn producer(&mut self) -> Result<&Producer> {
        if self.producer.is_none() {
            if let Some(topic) = &self.policy.dlq_topic {
                let admin = Admin::connect(ClientConfig::new(self.bootstrap.clone())).await?;
                let new = NewTopic {
                    replication_factor: self.policy.dlq_replication_factor,
                    ..NewTopic::new(topic.clone(), 1)
                };
                match admin.create_topic(new, false).await {
                    Ok(()) => tracing::info!(topic, "created the dead letter queue topic"),
                    Err(e) if e.code() == Some(kafka_protocol::ResponseError::TopicAlreadyExists) => {}
                    Err(e) => {
                        return Err(ConnectError::Task(format!(
                            "cannot create the dead letter queue topic {topic} \
                             (errors.deadletterqueue.topic.replication.factor={}): {e}",
                            self.policy.dlq_replication_factor
                        )))
                    }
                }
            }
            let mut pc = ProducerConfig::new(self.bootstrap.clone());
            pc.set("acks", "all")?;
            pc.set("client.id", &format!("connector-dlq-producer-{}-{}", self.connector, self.task))?;
            for (k, v) in &self.producer_props {
                pc.set(k, v)?;
            }
            self.producer = Some(Producer::new(pc).await?);
        }
        self.producer.as_ref().ok_or_else(|| ConnectError::Task("the dead letter queue producer is gone".into()))
    }

    /// Closes the dead letter queue producer, if one was made.
    pub async fn close(self) {
        if let Some(p) = self.producer {
            let _ = p.close().await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_policy_reads_kafka_keys_and_names_bad_ones() {
        let p = ErrorPolicy::from_config(&Config::new(), None).unwrap();
        assert!(!p.tolerate_all && p.dlq_topic.is_none() && p.dlq_replication_factor == 3);
        let topics = vec!["in".to_string()];
        let p = ErrorPolicy::from_config(
            &config(&[
                ("errors.tolerance", "all"),
                ("errors.deadletterqueue.topic.name", "dlq"),
                ("errors.deadletterqueue.topic.replication.factor", "1"),
                ("errors.deadletterqueue.context.headers.enable", "true"),
            ]),
            Some(&topics),
        )
        .unwrap();
        assert!(p.tolerate_all && p.context_headers);
        assert_eq!((p.dlq_topic.as_deref(), p.dlq_replication_factor), (Some("dlq"), 1));
        // Sources have no dead letter queue.
        let p = ErrorPolicy::from_config(&config(&[("errors.deadletterqueue.topic.name", "dlq")]), None).unwrap();
        assert_eq!(p.dlq_topic, None);
        let err = ErrorPolicy::from_config(&config(&[("errors.tolerance", "some")]), None).unwrap_err();
        assert!(err.to_string().contains("errors.tolerance"), "{err}");
        let err = ErrorPolicy::from_config(&config(&[("errors.deadletterqueue.topic.name", "in")]), Some(&topics))
            .unwrap_err();
        assert!(err.to_string().contains("errors.deadletterqueue.topic.name"), "{err}");
        let err = ErrorPolicy::from_config(&config(&[("errors.log.enable", "yes")]), None).unwrap_err();
        assert!(err.to_string().contains("errors.log.enable"), "{err}");
    }
}
