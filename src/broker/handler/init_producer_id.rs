//! InitProducerId (22): hands out producer ids for idempotent producers from
//! blocks reserved in ZooKeeper (`/latest_producer_id_block`). Transactions
//! are not implemented yet, so a request with a transactional id is answered
//! UNSUPPORTED_VERSION rather than a retriable error that would make the
//! client retry forever.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::protocol::ErrorCode;

pub async fn handle(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        return resp.with_error_code(ErrorCode::UnsupportedVersion.code());
    }
    // A producer re-initialising with its id keeps it and bumps the epoch.
    // (An exhausted epoch gets a fresh id instead, as in Kafka.)
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX {
        return resp.with_producer_id(req.producer_id).with_producer_epoch(req.producer_epoch + 1).with_error_code(0);
    }
    match broker.next_producer_id().await {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0).with_error_code(0),
        Err(err) => {
            tracing::error!(%err, "cannot allocate producer ids");
            resp.with_error_code(ErrorCode::CoordinatorNotAvailable.code())
        }
    }
}
