//! gregor — an Apache-Kafka-compatible streaming platform in one binary.
//!
//! Module map (dependencies point one way, top to bottom):
//!
//! - [`cli`]: the multi-call toolkit (`server-start`, …); the only place with
//!   clap, terminal output and `anyhow`.
//! - [`broker`]: broker wiring and lifecycle; one handler file per Kafka API;
//!   partition state (log end, high watermark, ISR), delayed fetches, periodic
//!   tasks, replication (follower fetchers, ISR changes, acks=all).
//! - [`network`]: the TCP listener with a connection cap and framed connections.
//! - [`protocol`]: Kafka wire glue with no I/O — frames, the advertised API
//!   version table, record-batch validation and patching, error codes.
//! - [`storage`]: the partition log — segments, indexes, crash recovery,
//!   retention, and the log manager that owns every log of a broker.
//! - [`metadata`]: cluster metadata (brokers, topics, partition states,
//!   configs, ids, the controller) in ZooKeeper in Kafka's layout, behind one
//!   interface with a watched cache.
//! - [`config`]: Java properties → validated, typed broker and topic configs,
//!   with every Kafka default in one place.
//! - [`coordinator`]: consumer groups (Kafka's classic protocol) with their
//!   metadata and committed offsets in `__consumer_offsets`.
//! - [`zk`]: a ZooKeeper-compatible coordinator server (`zookeeper-start`, and
//!   embedded in a broker when `zookeeper.connect` is unset).
//! - [`client`]: the Rust Kafka client (Admin, Producer, Consumer) with its
//!   own pipelined connections; builds on [`protocol`], never on the broker
//!   or storage.
//! - [`console`]: the web console (a JSON API over [`client`] and an
//!   embedded page), served by `gregor console` or a broker's `console.listener`.
//! - [`appender`]: application logs into a Kafka topic — a log4rs appender
//!   (`kind: kafka`) and a tracing layer on our producer.
//! - [`machine`]: the machine's own limits (loopback bandwidth, disk write
//!   rate, a process's CPU time) for `gregor perf machine` and the benchmarks.

pub mod appender;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod console;
pub mod coordinator;
pub mod machine;
pub mod metadata;
pub mod metrics;
pub mod network;
pub mod protocol;
pub mod security;
pub mod storage;
pub mod streams;
pub mod zk;
