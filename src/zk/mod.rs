//! A ZooKeeper-compatible coordination server (standalone, wire-compatible with
//! ZooKeeper 3.8 clients such as kazoo and the `zookeeper-client` crate).
//!
//! `gregor zookeeper-start config/zookeeper.properties` runs it through [`run`];
//! brokers embed it with [`ZkServer::start`] when `zookeeper.connect` is unset.
//!
//! # What this module owns
//! The client port, the data directory (`dataDir/version-2`, and
//! `dataLogDir/version-2` when set) and everything in them. It does not know about
//! Kafka: the znode layout brokers use is the `metadata` module's business.
//!
//! # Map
//! - [`jute`]: primitive codec and framing (no I/O).
//! - [`proto`]: op codes, error codes, `Stat`, request and response bodies.
//! - [`tree`]: the data tree and its indexes; path validation.
//! - [`txn`], [`db`]: transactions and the database they are applied to.
//! - [`session`]: live sessions, timeouts, ids. [`watch`]: watches and triggers.
//! - [`persist`]: transaction log and snapshots (formats documented there);
//!   [`write_faults`]: the switch tests use to make its writes fail.
//! - `core`: the single-threaded request processor; `ops/`: one file per op group.
//! - [`server`]: accept loop, connections, per-IP limit, [`ZkServer`] lifecycle.
//! - [`fourlw`]: four-letter words. [`config`]: `zookeeper.properties`.
//!
//! # Guarantees and choices
//! - Writes are fsynced to the transaction log before their reply (or any read
//!   reply after them) leaves the server; zxids never go backwards across
//!   restarts. Failed writes and failed multis spend a zxid, as in ZooKeeper.
//! - A full disk (any failed log write or fsync) does not stop the server, unlike
//!   ZooKeeper, which exits: the batch is undone in memory, writes are answered
//!   with MarshallingError (−5) until the log can be written again (retried every
//!   second), reads, pings and sessions keep being served, no session expires
//!   meanwhile, and writes resume by themselves (see `core.rs`, `persist.rs`).
//! - Watch notifications are `{xid −1, zxid −1, err 0}` + `WatcherEvent` and reach
//!   every watching session before the reply of the write that caused them.
//! - Sessions survive restarts (they are in the log and snapshots) and expire after
//!   their negotiated timeout, clamped to `[minSessionTimeout, maxSessionTimeout]`
//!   (default `[2, 20] × tickTime`); expiry deletes their ephemerals.
//! - Containers are deleted once they had children and have none left; TTL nodes
//!   (createTTL) are deleted when childless and unmodified for their TTL. Both are
//!   swept every `znode.container.checkIntervalMs` (default 60 s).
//! - ACLs are stored and returned but not enforced; auth is accepted.
//! - reconfig, sasl and unknown ops answer Unimplemented (−6); a malformed frame
//!   closes that connection only; frames above `jute.maxbuffer` + 1 KiB are refused.

pub mod config;
mod core;
pub mod db;
pub mod error;
pub mod fourlw;
pub mod jute;
pub mod metrics;
mod ops;
pub mod persist;
pub mod proto;
pub mod server;
pub mod session;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod write_faults;

#[cfg(test)]
mod tests;

pub use config::ZkConfig;
pub use error::ZkError;
pub use server::{run, ZkServer};
pub use write_faults::WriteFaults;
