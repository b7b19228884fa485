//! InitProducerId (22), v0–4. Without a transactional id it hands out
//! producer ids for idempotent producers from blocks reserved in ZooKeeper
//! (`/latest_producer_id_block`). With one, the transaction coordinator
//! answers (when this broker leads the id's `__transaction_state`
//! partition): it bumps the id's epoch, fencing older producers, and aborts
//! whatever the previous incarnation left open (the client retries on
//! CONCURRENT_TRANSACTIONS until that abort completes).
//!
//! Errors: NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS /
//! COORDINATOR_NOT_AVAILABLE while the id's coordinator is elsewhere, loading
//! or not there yet; INVALID_TRANSACTION_TIMEOUT when `transaction.timeout.ms`
//! is above `transaction.max.timeout.ms`; PRODUCER_FENCED (v4+) or
//! INVALID_PRODUCER_EPOCH (older) for a producer that was fenced (KIP-588).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::coordinator::txn::state::{fenced_error_for_version, FencedApi};
use crate::coordinator::txn::{InitProducerIdRequest as TxnInit, ProducerIdSource, TxnCoordinator};

/// `txns` answers for transactional ids; `producer_ids` hands out fresh ids
/// to idempotent producers.
pub async fn handle(
    txns: &Arc<TxnCoordinator>,
    producer_ids: &dyn ProducerIdSource,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if let Some(transactional_id) = req.transactional_id {
        let request = TxnInit {
            transactional_id: transactional_id.to_string(),
            transaction_timeout_ms: req.transaction_timeout_ms,
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
        };
        return match txns.init_producer_id(request).await {
            Ok(r) => resp.with_producer_id(ProducerId(r.producer_id)).with_producer_epoch(r.producer_epoch),
            Err(code) => {
                resp.with_error_code(fenced_error_for_version(FencedApi::InitProducerId, version, code).code())
            }
        };
    }
    // A producer re-initialising with its id keeps it and bumps the epoch.
    // (An exhausted epoch gets a fresh id instead, as in Kafka.)
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX {
        return resp.with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1).with_error_code(0);
    }
    // The source logs an allocation failure and answers COORDINATOR_NOT_AVAILABLE.
    match producer_ids.next_producer_id().await {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0).with_error_code(0),
        Err(code) => resp.with_error_code(code.code()),
    }
}
