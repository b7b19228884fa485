//! A Rust Kafka client: [`Admin`], [`Producer`] and [`Consumer`], speaking the
//! Kafka protocol to gregor or any Kafka-compatible broker.
//!
//! It owns connections (one per broker, pipelined, versions negotiated with
//! ApiVersions), cluster metadata, batching, retries and record decoding. It
//! builds on [`crate::protocol`] for wire glue and must never import the
//! broker or the storage engine: it talks to brokers only over TCP.
//!
//! Parts:
//! - `connection`: one pipelined TCP connection per broker;
//! - `cluster`: bootstrap, connection pool and metadata cache;
//! - [`admin`]: topic and config administration;
//! - [`admin_acls`]: access control lists (create, describe, delete);
//! - [`admin_scram`]: SCRAM credentials (describe, alter);
//! - [`admin_groups`]: consumer-group administration (list, describe, offsets);
//! - [`producer`]: batching producer with idempotence and transactions;
//! - [`consumer`]: consumer with prefetch, of assigned partitions or as a
//!   member of a consumer group (subscribe, rebalances, assignors, commits),
//!   in `read_uncommitted` or `read_committed` isolation;
//! - [`partitioner`]: murmur2 key partitioning compatible with Java and librdkafka.
//!
//! # Admin
//! ```no_run
//! use gregor::client::{Admin, ClientConfig, NewTopic};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let admin = Admin::connect(ClientConfig::new("localhost:9092")).await?;
//! admin.create_topic(NewTopic::new("orders", 3).config("retention.ms", "86400000"), false).await?;
//! for topic in admin.describe_topics(Some(&["orders".to_string()])).await? {
//!     println!("{} has {} partitions", topic.name, topic.partitions.len());
//! }
//! # Ok(()) }
//! ```
//!
//! # Producer
//! ```no_run
//! use gregor::client::{Producer, ProducerConfig, ProducerRecord};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let mut config = ProducerConfig::new("localhost:9092");
//! config.set("compression.type", "lz4")?;
//! let producer = Producer::new(config).await?;
//! let delivery = producer.send(ProducerRecord::new("orders", "hello").key("customer-7")).await?;
//! let meta = delivery.await?;
//! println!("written at {}-{}@{}", meta.topic, meta.partition, meta.offset);
//! producer.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Transactions
//! ```no_run
//! use std::time::Duration;
//! use gregor::client::{Producer, ProducerConfig, ProducerRecord};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let mut config = ProducerConfig::new("localhost:9092");
//! config.set("transactional.id", "orders-writer-1")?;
//! let producer = Producer::new(config).await?;
//! producer.init_transactions(Duration::from_secs(60)).await?; // fences older instances
//! producer.begin_transaction()?;
//! // Each record's future resolves once it is written (not yet committed).
//! let _order = producer.send(ProducerRecord::new("orders", "a")).await?;
//! let _audit = producer.send(ProducerRecord::new("audit", "b")).await?;
//! match producer.commit_transaction(Duration::from_secs(60)).await {
//!     Ok(()) => {}
//!     // A lost record or a coordinator refusal: the transaction is lost, not the producer.
//!     Err(gregor::client::ClientError::TransactionAbortable(_)) => {
//!         producer.abort_transaction(Duration::from_secs(60)).await?
//!     }
//!     Err(other) => return Err(other), // e.g. TransactionFatal: fenced, close the producer
//! }
//! # Ok(()) }
//! ```
//! Consumers with `isolation.level=read_committed` see both records or neither.
//!
//! # Consumer
//! ```no_run
//! use std::time::Duration;
//! use gregor::client::{Consumer, ConsumerConfig, SeekTo};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let mut consumer = Consumer::new(ConsumerConfig::new("localhost:9092")).await?;
//! let partitions = consumer.partitions_for("orders").await?;
//! consumer.assign(partitions.into_iter().map(|p| ("orders".to_string(), p)).collect()).await?;
//! consumer.seek("orders", 0, SeekTo::Beginning).await?;
//! for record in consumer.poll(Duration::from_secs(1)).await? {
//!     println!("{}@{}: {:?}", record.partition, record.offset, record.value);
//! }
//! # Ok(()) }
//! ```
//!
//! # Consumer group
//! ```no_run
//! use std::time::Duration;
//! use gregor::client::{Consumer, ConsumerConfig, RebalanceCallbacks};
//! # async fn run() -> Result<(), gregor::client::ClientError> {
//! let mut config = ConsumerConfig::new("localhost:9092");
//! config.set("group.id", "billing")?;
//! config.set("auto.offset.reset", "earliest")?;
//! let mut consumer = Consumer::new(config).await?;
//! let callbacks = RebalanceCallbacks::new().on_assigned(|tps| eprintln!("now reading {tps:?}"));
//! consumer.subscribe_with_listener(vec!["orders".to_string()], callbacks).await?;
//! for _ in 0..10 {
//!     // Joins the group on the first call; commits every auto.commit.interval.ms.
//!     for record in consumer.poll(Duration::from_secs(1)).await? {
//!         println!("{}@{}: {:?}", record.partition, record.offset, record.value);
//!     }
//! }
//! consumer.close().await?; // commits and leaves the group
//! # Ok(()) }
//! ```

pub mod admin;
pub mod admin_acls;
pub mod admin_configs;
mod admin_elect;
pub mod admin_groups;
pub mod admin_quotas;
mod admin_reassign;
mod admin_records;
pub mod admin_scram;
pub mod admin_txn;
pub(crate) mod cluster;
mod config;
pub(crate) mod connection;
pub mod consumer;
mod error;
pub mod partitioner;
pub mod producer;
pub mod sasl;
pub mod security;

pub use admin::{
    Admin, BrokerInfo, ClusterInfo, ConfigEntryInfo, NewTopic, OffsetSpec, PartitionInfo, TopicDescription,
};
pub use admin_acls::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
    PatternType, ResourcePattern, ResourcePatternFilter, ResourceType,
};
pub use admin_configs::{AlterConfigOp, ConfigResource, ConfigSynonymInfo, DescribedConfig};
pub use admin_elect::{ElectionResult, ElectionType};
pub use admin_groups::{
    CommittedOffset, Coordinator, GroupDescription, GroupListing, MemberDescription, TopicPartition,
};
pub use admin_quotas::{QuotaEntity, QuotaMatch, QuotaOp};
pub use admin_reassign::{PartitionReassignment, ReassignmentResult};
pub use admin_records::{ApiVersionRange, DeleteRecordsResult, LogDirInfo, LogDirReplica};
pub use admin_scram::{ScramCredentialInfo, ScramMechanism, UserScramCredentialAlteration};
pub use admin_txn::{
    AbortTransactionSpec, ListTransactionsOptions, ProducerState, TransactionDescription, TransactionListing,
};
pub use config::ClientConfig;
pub use consumer::{
    AssignmentStrategy, Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord, CustomAssignor,
    IsolationLevel, MemberAssignment, MemberSubscription, OffsetReset, RebalanceCallbacks, RebalanceListener, SeekTo,
    TimestampType,
};
pub use error::{code_name, ClientError, ResponseError};
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Acks, Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use security::Security;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    /// Handles are shared between a REPL thread and tokio tasks.
    #[test]
    fn handles_can_cross_threads() {
        send_sync::<Producer>();
        send_sync::<DeliveryFuture>();
        send_sync::<Admin>();
        send_sync::<ClientError>();
        send_sync::<Consumer>();
    }

    /// The futures of the transactional calls can be spawned (no lock guard
    /// is held across an await).
    #[allow(dead_code)]
    fn producer_futures_are_send(p: &Producer) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&p.send(ProducerRecord::new("t", "v")));
        is_send(&p.init_transactions(std::time::Duration::ZERO));
        is_send(&p.commit_transaction(std::time::Duration::ZERO));
        is_send(&p.abort_transaction(std::time::Duration::ZERO));
        is_send(&p.send_offsets_to_transaction(&Default::default(), "g"));
    }

    #[test]
    fn durations_beyond_an_int_of_milliseconds_are_refused() {
        let mut c = ProducerConfig::new("localhost:9092");
        assert!(c.set("linger.ms", "99999999999").is_err());
        c.delivery_timeout = std::time::Duration::from_secs(u64::MAX / 4);
        assert!(c.validate().is_err());
    }
}
