//! Scenario 3 of the quickstart: a program logs `Kafka Test [0]` .. `[9]`, one
//! a second, through the `log` crate into a Kafka topic, configured by a log4rs
//! file (`config/log4rs-kafka.yaml`) as the Java tutorial's program is by
//! log4j.properties with Kafka's log appender.
//!
//! ```text
//! cargo run --example log_appender -- [CONFIG] [--count N] [--interval-ms MS]
//! ```
//!
//! The integration test `appender::tutorial_end_to_end` runs this file's
//! [`run`] in a child process against a three-broker cluster.

use std::process::ExitCode;
use std::time::Duration;

/// Parses the arguments, installs the log4rs configuration and logs the lines.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut config = "config/log4rs-kafka.yaml".to_string();
    let mut count: u32 = 10;
    let mut interval = Duration::from_secs(1);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--count" => count = value("--count")?.parse().map_err(|_| "--count must be a number")?,
            "--interval-ms" => {
                let ms: u64 = value("--interval-ms")?.parse().map_err(|_| "--interval-ms must be a number")?;
                interval = Duration::from_millis(ms);
            }
            "-h" | "--help" => {
                println!("usage: log_appender [CONFIG] [--count N] [--interval-ms MS]");
                return Ok(());
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            path => config = path.to_string(),
        }
    }
    gregor::appender::init_file(&config).map_err(|e| e.to_string())?;
    for i in 0..count {
        log::info!("Kafka Test [{i}]");
        if i + 1 < count {
            std::thread::sleep(interval);
        }
    }
    // log4rs keeps its logger for the life of the process: flush before exiting
    // (waits at most maxBlockMs for lines still in flight).
    log::logger().flush();
    for s in gregor::appender::stats() {
        eprintln!(
            "topic {}: {} lines delivered, {} undelivered, {} unconfirmed",
            s.topic, s.delivered, s.undelivered, s.pending
        );
        if s.undelivered + s.pending > 0 {
            return Err(format!("{} log lines were not delivered to {}", s.undelivered + s.pending, s.topic));
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("log_appender: {e}");
            ExitCode::FAILURE
        }
    }
}
