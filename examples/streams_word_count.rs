//! A Kafka Streams application written with `gregor::streams`: the
//! quickstart's word count spelled out with the DSL, plus a windowed count
//! of words per minute, run by `KafkaStreams` until Ctrl-C.
//!
//!     cargo run --example streams_word_count -- 127.0.0.1:9092
//!
//! Reads `streams-plaintext-input`; writes `streams-wordcount-output`
//! (word → Long count) and `streams-wordcount-per-minute` (word@window
//! start → Long count).

use std::time::Duration;

use gregor::streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TimeWindows, WindowedSerdes};
use gregor::streams::runtime::{KafkaStreams, State, StreamsConfig};
use gregor::streams::serde::Serdes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9092".to_string());
    let builder = StreamsBuilder::new();
    let words = builder
        .stream(&["streams-plaintext-input"], Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()))
        .flat_map_values(|line: &String| {
            line.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone(), Grouped::with(Serdes::string(), Serdes::string()));
    words
        .count(Materialized::as_store("counts-store"))
        .to_stream()
        .to("streams-wordcount-output", Produced::with(Serdes::string(), Serdes::long()));
    words
        .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10)))
        .count(Materialized::as_store("per-minute-store"))
        .to_stream()
        .to(
            "streams-wordcount-per-minute",
            Produced::with(WindowedSerdes::time_windowed(Serdes::string(), 60_000), Serdes::long()),
        );
    let mut config = StreamsConfig::new("streams-wordcount-example", bootstrap);
    config.set("commit.interval.ms", "1000")?;
    let streams = KafkaStreams::new(builder.build()?, config)?;
    streams.start().await?;
    println!("running; Ctrl-C stops");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = streams.wait_for_state(State::Error, Duration::from_secs(365 * 86_400)) => {
            eprintln!("stopped: {:?}", streams.error());
        }
    }
    streams.close().await;
    Ok(())
}
