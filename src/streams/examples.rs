//! Example applications built with the DSL, as Kafka ships them: the
//! topology behind Kafka's `WordCountDemo` (the Streams quickstart). The
//! `gregor` word-count tool and the tests run these.

use super::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use super::error::Result;
use super::serde::Serdes;
use super::topology::Topology;

/// The word count of Kafka's `WordCountDemo`: lines from `input` (keys
/// ignored, usually null) are lowercased and split on non-word characters
/// (Java's `\W+`: anything but ASCII letters, digits and `_`); words are
/// regrouped by word through `<application.id>-counts-store-repartition`,
/// counted in the store `counts-store` (changelog
/// `<application.id>-counts-store-changelog`), and every count update is
/// written to `output` as (word: string, count: long).
pub fn word_count_topology(input: &str, output: &str) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&[input], Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()))
        .flat_map_values(|line: &String| words(line))
        .group_by(|_, word| word.clone(), Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_store("counts-store"))
        .to_stream()
        .to(output, Produced::with(Serdes::string(), Serdes::long()));
    builder.build()
}

/// Lowercased words of a line, split as Java's `split("\\W+")` (without
/// the empty word Java yields for a line that starts with a separator).
fn words(line: &str) -> Vec<String> {
    line.to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::streams::test_driver::TopologyTestDriver;

    #[test]
    fn word_count_gives_the_quickstart_output() {
        let topo = word_count_topology("streams-plaintext-input", "streams-wordcount-output").unwrap();
        assert!(topo.repartition_topics().contains_key("counts-store-repartition"));
        assert_eq!(topo.subtopologies().len(), 2);
        let mut d = TopologyTestDriver::new(topo, "streams-wordcount").unwrap();
        let lines = ["all streams lead to kafka", "hello kafka streams", "join kafka summit"];
        for (i, line) in lines.iter().enumerate() {
            d.pipe_raw("streams-plaintext-input", None, Some(line.as_bytes().to_vec().into()), i as i64 + 1).unwrap();
        }
        let out: Vec<(String, i64)> = d
            .read("streams-wordcount-output", &Serdes::string(), &Serdes::long())
            .unwrap()
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect();
        let expected = [
            ("all", 1),
            ("streams", 1),
            ("lead", 1),
            ("to", 1),
            ("kafka", 1),
            ("hello", 1),
            ("kafka", 2),
            ("streams", 2),
            ("join", 1),
            ("kafka", 3),
            ("summit", 1),
        ];
        assert_eq!(out, expected.iter().map(|(w, n)| (w.to_string(), *n)).collect::<Vec<_>>());
        assert_eq!(d.read_raw("streams-wordcount-counts-store-repartition").len(), 11);
        let log = d.read("streams-wordcount-counts-store-changelog", &Serdes::string(), &Serdes::long()).unwrap();
        assert_eq!(log.len(), 11);
        let (ks, ls) = (Serdes::string(), Serdes::long());
        let mut finals: Vec<(String, i64)> = d
            .store_entries("counts-store")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (ks.deserialize("", Some(&k)).unwrap(), ls.deserialize("", Some(&v)).unwrap()))
            .collect();
        finals.sort();
        let want = [
            ("all", 1),
            ("hello", 1),
            ("join", 1),
            ("kafka", 3),
            ("lead", 1),
            ("streams", 2),
            ("summit", 1),
            ("to", 1),
        ];
        assert_eq!(finals, want.iter().map(|(w, n)| (w.to_string(), *n)).collect::<Vec<_>>());
    }

    #[test]
    fn words_split_like_javas_non_word_pattern() {
        assert_eq!(words("  Hello, KAFKA_streams!  x2 "), vec!["hello", "kafka_streams", "x2"]);
        assert!(words("--").is_empty());
    }
}
