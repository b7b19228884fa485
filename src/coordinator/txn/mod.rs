//! The transaction coordinator: its data model and state machine (no I/O),
//! and the service that runs them over the internal-log layer.
//!
//! This module owns Kafka's rules for transactional ids — InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, timeouts and id expiry — and
//! the `__transaction_state` record layout. It must not touch the broker, a
//! request handler or the network: the caller (the transaction coordinator's
//! service, wired over the internal-topic layer) decodes requests, hands
//! them to [`TxnPartition`], appends the [`Write`]s it returns to the
//! partition of `__transaction_state` and reports the commit back, and sends
//! the transaction markers of each [`MarkerJob`]. Keeping the rules pure lets
//! every transition and error code be tested without a cluster.
//!
//! - [`records`]: the record layout (key/value, versions 0 and 1).
//! - [`state`]: one `__transaction_state` partition's transactional ids and
//!   the two-phase commit flow.
//! - [`owned`]: which partitions this broker coordinates (load/unload by
//!   coordinator epoch) and the lookup of a transactional id's state.
//! - [`service`]: the one part with I/O — the running coordinator that
//!   drives the state machine over the internal-log layer and sends markers
//!   through a narrow trait the broker implements.

pub mod owned;
pub mod records;
pub mod service;
pub mod state;

pub use owned::OwnedPartitions;
pub use records::{TxnStatus, TxnValue, TRANSACTION_STATE_TOPIC};
pub use service::{MarkerOutcome, MarkerSender, ProducerIdSource, TxnCoordinator, TxnDescription};
pub use state::{
    AddPartitionsRequest, EndTxnRequest, FencedApi, InitProducerIdRequest, InitProducerIdResponse, LoadReport,
    MarkerJob, ProducerIdAllocator, Reply, Step, TimedOut, TxnMetadata, TxnPartition, TxnResult, Write, WriteOutcome,
};

/// The transaction coordinator's settings, with Kafka's key names and
/// defaults. The broker's typed config wires these from the properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a
    /// producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: how long an idle transactional id
    /// (no transaction in progress) is kept.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_timed_out_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    pub remove_expired_interval_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            abort_timed_out_interval_ms: 10_000,
            remove_expired_interval_ms: 3_600_000,
        }
    }
}

/// The `__transaction_state` partition that coordinates a transactional id:
/// the absolute value of Java's `String.hashCode` modulo the partition count —
/// the same rule as for groups, so the group coordinator's function is used
/// (its tests pin the hash).
pub fn partition_for(transactional_id: &str, partition_count: i32) -> i32 {
    crate::coordinator::records::partition_for(transactional_id, partition_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = TxnConfig::default();
        assert_eq!(c.max_timeout_ms, 900_000);
        assert_eq!(c.id_expiration_ms, 604_800_000);
        assert_eq!(c.abort_timed_out_interval_ms, 10_000);
        assert_eq!(c.remove_expired_interval_ms, 3_600_000);
        assert_eq!(TRANSACTION_STATE_TOPIC, "__transaction_state");
    }
}

#[cfg(test)]
mod state_tests;
