//! Kafka Streams for gregor: stateful stream processing in Rust.
//!
//! Layers, bottom up:
//! - [`serde`]: how keys and values become bytes (Kafka's encodings).
//! - [`processor`]: records, the processor API and the context nodes see.
//! - [`state`]: byte stores (in memory, persistent), changelogged handles,
//!   typed key-value, window and session views.
//! - [`topology`]: the node graph and its subtopologies.
//! - [`exec`]: one task's running subtopology, no I/O.
//! - [`test_driver`]: runs a topology in memory.
//!
//! The DSL ([`dsl`]) builds topologies in Kafka Streams' terms; the runtime
//! ([`runtime`]) runs them against a cluster: stream threads in a consumer
//! group, tasks per partition, changelogs, standbys, exactly-once.

pub mod dsl;
pub mod error;
pub mod examples;
pub mod exec;
pub mod processor;
pub mod runtime;
pub mod serde;
pub mod state;
pub mod test_driver;
pub mod topology;

pub use error::{Result, StreamsError};
pub use processor::{
    processor, DynRecord, Processor, ProcessorContext, PunctuationType, PunctuatorId, Record, RecordMetadata, TaskId,
};
pub use serde::{Serde, SerdeError, SerdeRef, Serdes};
pub use state::{KeyValueStore, SessionStore, StoreSpec, Window, WindowStore, Windowed};
pub use test_driver::TopologyTestDriver;
pub use topology::Topology;
