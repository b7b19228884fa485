//! The log4rs front end: [`KafkaAppender`] (a log4rs `Append`) and
//! [`KafkaAppenderDeserializer`], which lets a log4rs file declare it as
//! `kind: kafka`, as a log4j.properties file declares Kafka's
//! `KafkaLog4jAppender`. It formats each record with its encoder and hands
//! the line to the [`Sink`](super::sink::Sink).

use std::io;

use bytes::Bytes;
use log::Record;
use log4rs::append::Append;
use log4rs::config::{Deserialize, Deserializers};
use log4rs::encode::pattern::PatternEncoder;
use log4rs::encode::Encode;

use super::settings::{AppenderConfig, KeyChoice, RawAppenderConfig};
use super::sink::{in_appender, is_internal_target, ReentrancyGuard, Sink};
use super::{AppenderError, AppenderStats, DEFAULT_PATTERN};

/// A log4rs appender that writes each formatted line as one record to a
/// Kafka topic through our producer.
#[derive(Debug)]
pub struct KafkaAppender {
    sink: Sink,
    encoder: Box<dyn Encode>,
    key: KeyChoice,
    ignore_exceptions: bool,
}

impl KafkaAppender {
    /// An appender with `encoder` (the pattern [`DEFAULT_PATTERN`] when `None`).
    /// It connects in the background; a bad option is an error now.
    pub fn new(config: AppenderConfig, encoder: Option<Box<dyn Encode>>) -> Result<KafkaAppender, AppenderError> {
        let sink = Sink::start(&config)?;
        Ok(KafkaAppender {
            sink,
            encoder: encoder.unwrap_or_else(|| Box::new(PatternEncoder::new(DEFAULT_PATTERN))),
            key: config.key,
            ignore_exceptions: config.ignore_exceptions,
        })
    }

    /// Lines delivered, undelivered and pending.
    pub fn stats(&self) -> AppenderStats {
        self.sink.stats()
    }

    /// Lines that could not be delivered so far.
    pub fn dropped(&self) -> u64 {
        self.sink.stats().undelivered
    }

    fn format(&self, record: &Record) -> anyhow::Result<Bytes> {
        let mut line = LineBuffer(Vec::with_capacity(128));
        self.encoder.encode(&mut line, record)?;
        let mut bytes = line.0;
        // A pattern ends in {n} like log4j's %n; the record is the line itself
        // (consumers print their own newline), so one trailing break goes.
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Ok(Bytes::from(bytes))
    }
}

impl Append for KafkaAppender {
    fn append(&self, record: &Record) -> anyhow::Result<()> {
        // Our own client's events (from the producer's threads, or through a
        // tracing-to-log bridge) would come straight back here.
        if in_appender() || is_internal_target(record.target()) {
            return Ok(());
        }
        let _guard = ReentrancyGuard::enter();
        let value = self.format(record)?;
        let key = match &self.key {
            KeyChoice::Logger => Some(Bytes::copy_from_slice(record.target().as_bytes())),
            KeyChoice::None => None,
            KeyChoice::Fixed(k) => Some(Bytes::copy_from_slice(k.as_bytes())),
        };
        match self.sink.send(key, value, crate::client::producer::now_ms()) {
            Ok(()) => Ok(()),
            // Counted and reported on stderr by the sink either way.
            Err(_) if self.ignore_exceptions => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn flush(&self) {
        self.sink.flush();
    }
}

/// The encoder's output buffer (log4rs encoders write to a `log4rs::encode::Write`).
struct LineBuffer(Vec<u8>);

impl io::Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl log4rs::encode::Write for LineBuffer {}

/// Builds a [`KafkaAppender`] from a log4rs file's `kind: kafka` entry.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaAppenderDeserializer;

impl Deserialize for KafkaAppenderDeserializer {
    type Trait = dyn Append;
    type Config = RawAppenderConfig;

    fn deserialize(&self, raw: RawAppenderConfig, deserializers: &Deserializers) -> anyhow::Result<Box<dyn Append>> {
        let config = raw.to_config()?;
        let encoder = match raw.encoder {
            Some(e) => Some(deserializers.deserialize::<dyn Encode>(&e.kind, e.config)?),
            None => None,
        };
        Ok(Box::new(KafkaAppender::new(config, encoder)?))
    }
}
