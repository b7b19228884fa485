//! Kafka Connect's distributed mode (`connect-distributed`): workers
//! sharing connectors and tasks through a group, with everything durable
//! in three compacted topics.
//!
//! - [`config`]: the worker keys (Kafka's names and defaults).
//! - [`records`]: the internal topics' record formats (Kafka's JSON).
//! - [`log`]: one internal topic, followed from its beginning and written
//!   with `acks=all` (Kafka's `KafkaBasedLog`).
//! - [`offsets`]: [`KafkaOffsetStore`], source offsets in the offsets topic.
//! - [`protocol`]: Kafka's ConnectProtocol v0 (`default`, eager) and the
//!   leader's round-robin assignment.
//! - [`group`]: the worker's membership in `group.id` (protocol type
//!   `connect`) and its heartbeat task.
//! - [`herder`]: [`DistributedHerder`], the [`Herder`](super::herder::Herder)
//!   of a distributed worker.

pub mod config;
pub mod group;
pub mod herder;
pub mod log;
pub mod offsets;
pub mod protocol;
pub mod records;

pub use config::DistributedConfig;
pub use herder::DistributedHerder;
pub use offsets::KafkaOffsetStore;
