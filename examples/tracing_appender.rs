//! The tracing counterpart of `log_appender`: a [`KafkaLayer`] in a
//! `tracing_subscriber` registry, beside the usual console output, sends every
//! event as one formatted line to a topic.
//!
//! ```text
//! cargo run --example tracing_appender -- [--brokers LIST] [--topic NAME] [--count N] [--sync]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use gregor::appender::KafkaLayer;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> ExitCode {
    let mut brokers = "localhost:9092,localhost:9093,localhost:9094".to_string();
    let mut topic = "my-replicated-topic".to_string();
    let mut count: u32 = 10;
    let mut sync = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--brokers", Some(v)) => brokers = v,
            ("--topic", Some(v)) => topic = v,
            ("--count", Some(v)) => count = v.parse().unwrap_or(count),
            ("--sync", None) => sync = true,
            _ => {
                eprintln!("usage: tracing_appender [--brokers LIST] [--topic NAME] [--count N] [--sync]");
                return ExitCode::FAILURE;
            }
        }
    }
    let layer = match KafkaLayer::builder(&topic, &brokers).sync_send(sync).max_block(Duration::from_secs(10)).build() {
        Ok(layer) => layer,
        Err(e) => {
            eprintln!("tracing_appender: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer).with(tracing_subscriber::fmt::layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..count {
            tracing::info!(attempt = i, "Kafka Test [{i}]");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // Wait (at most maxBlockMs) for the lines still in flight.
    handle.flush();
    let stats = handle.stats();
    eprintln!("topic {}: {} lines delivered, {} undelivered", stats.topic, stats.delivered, stats.undelivered);
    if stats.undelivered > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
