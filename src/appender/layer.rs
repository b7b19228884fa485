//! The tracing front end: [`KafkaLayer`], a `tracing_subscriber::Layer` that
//! formats each event as one line —
//! `2026-12-07 10:15:02,481 [INFO ] [main] - [app::db(src/db.rs:42)] message key=value`,
//! the same shape as the log4rs pattern [`super::DEFAULT_PATTERN`] — and
//! hands it to the [`Sink`](super::sink::Sink). Built with
//! [`KafkaLayer::builder`], with the same options as the log4rs appender.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::client::Compression;

use super::settings::{AppenderConfig, KeyChoice};
use super::sink::{in_appender, is_internal_target, ReentrancyGuard, Sink};
use super::{AppenderError, AppenderStats};

/// A tracing layer that writes each event as one line to a Kafka topic.
#[derive(Debug, Clone)]
pub struct KafkaLayer {
    sink: Arc<Sink>,
    key: KeyChoice,
}

/// A handle on a layer's delivery, kept by the program after the layer
/// moved into its subscriber: counters and flush.
#[derive(Debug, Clone)]
pub struct AppenderHandle {
    sink: Arc<Sink>,
}

impl AppenderHandle {
    /// Lines delivered, undelivered and pending.
    pub fn stats(&self) -> AppenderStats {
        self.sink.stats()
    }

    /// Lines that could not be delivered so far.
    pub fn dropped(&self) -> u64 {
        self.sink.stats().undelivered
    }

    /// Waits (at most `maxBlockMs`) until every line logged so far is
    /// acknowledged or failed; true when all settled.
    pub fn flush(&self) -> bool {
        self.sink.flush()
    }
}

impl KafkaLayer {
    /// Starts building a layer for `topic` on `broker_list` (Kafka's appender defaults).
    pub fn builder(topic: impl Into<String>, broker_list: impl Into<String>) -> KafkaLayerBuilder {
        KafkaLayerBuilder { config: AppenderConfig::new(topic, broker_list) }
    }

    /// A layer with these options; it connects in the background.
    pub fn new(config: AppenderConfig) -> Result<KafkaLayer, AppenderError> {
        Ok(KafkaLayer { sink: Arc::new(Sink::start(&config)?), key: config.key })
    }

    /// Counters and flush, usable after the layer went into a subscriber.
    pub fn handle(&self) -> AppenderHandle {
        AppenderHandle { sink: self.sink.clone() }
    }
}

/// Options of a [`KafkaLayer`]; each setter is the log4rs option of the same name.
#[derive(Debug, Clone)]
pub struct KafkaLayerBuilder {
    config: AppenderConfig,
}

impl KafkaLayerBuilder {
    /// `compressionType`.
    pub fn compression_type(mut self, compression: Compression) -> Self {
        self.config.compression_type = compression;
        self
    }

    /// `syncSend`.
    pub fn sync_send(mut self, sync: bool) -> Self {
        self.config.sync_send = sync;
        self
    }

    /// `requiredNumAcks`: 0, 1 or -1.
    pub fn required_num_acks(mut self, acks: i32) -> Self {
        self.config.required_num_acks = acks;
        self
    }

    /// `maxBlockMs`.
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.config.max_block = max_block;
        self
    }

    /// `retries`.
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = Some(retries);
        self
    }

    /// `deliveryTimeoutMs`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.delivery_timeout = timeout;
        self
    }

    /// `lingerMs`.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// `key`.
    pub fn key(mut self, key: KeyChoice) -> Self {
        self.config.key = key;
        self
    }

    /// `queueSize`.
    pub fn queue_size(mut self, lines: usize) -> Self {
        self.config.queue_size = lines;
        self
    }

    /// One Kafka producer property (checked at [`KafkaLayerBuilder::build`]).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.properties.insert(key.into(), value.into());
        self
    }

    /// Checks the options and starts the background sender.
    pub fn build(self) -> Result<KafkaLayer, AppenderError> {
        KafkaLayer::new(self.config)
    }
}

impl<S: Subscriber> Layer<S> for KafkaLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if in_appender() || is_internal_target(meta.target()) {
            return;
        }
        let _guard = ReentrancyGuard::enter();
        let mut fields = LineFields::default();
        event.record(&mut fields);
        // Events bridged from the `log` crate carry their origin in log.* fields.
        let target = fields.log_target.as_deref().unwrap_or(meta.target());
        if is_internal_target(target) {
            return;
        }
        let file = fields.log_file.as_deref().or(meta.file()).unwrap_or("?");
        let line = fields.log_line.or(meta.line().map(u64::from));
        let thread = std::thread::current();
        let mut text = String::with_capacity(128);
        let _ = write!(
            text,
            "{} [{:<5}] [{}] - [{}({}:{})] {}",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f"),
            meta.level().as_str(),
            thread.name().unwrap_or("<unnamed>"),
            target,
            file,
            line.map_or_else(|| "?".to_string(), |l| l.to_string()),
            fields.message
        );
        text.push_str(&fields.rest);
        let key = match &self.key {
            KeyChoice::Logger => Some(Bytes::copy_from_slice(target.as_bytes())),
            KeyChoice::None => None,
            KeyChoice::Fixed(k) => Some(Bytes::copy_from_slice(k.as_bytes())),
        };
        // Failures are counted and reported on stderr by the sink; a tracing
        // layer has no caller to return them to.
        let _ = self.sink.send(key, Bytes::from(text), crate::client::producer::now_ms());
    }
}

/// The message and the other fields (` key=value`) of an event.
#[derive(Default)]
struct LineFields {
    message: String,
    rest: String,
    log_target: Option<String>,
    log_file: Option<String>,
    log_line: Option<u64>,
}

impl Visit for LineFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_string()),
            "log.file" => self.log_file = Some(value.to_string()),
            "log.module_path" => {}
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" {
            self.log_line = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name if name.starts_with("log.") => {}
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}
