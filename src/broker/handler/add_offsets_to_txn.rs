//! AddOffsetsToTxn (25), v0–3: a transactional producer about to send a
//! consumer group's offsets (TxnOffsetCommit) adds the group's
//! `__consumer_offsets` partition to its transaction, so that the
//! transaction's marker also decides those offsets.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::coordinator::records;
use crate::coordinator::txn::state::{fenced_error_for_version, FencedApi};
use crate::coordinator::txn::TxnCoordinator;
use crate::metadata::MetadataStore;
use crate::protocol::internal_topics::OFFSETS_TOPIC;
use crate::protocol::ErrorCode;

/// `metadata` and `offsets_partitions` (`offsets.topic.num.partitions`)
/// locate the group's `__consumer_offsets` partition; `txns` adds it.
pub async fn handle(
    txns: &Arc<TxnCoordinator>,
    metadata: &MetadataStore,
    offsets_partitions: i32,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let group = req.group_id.0.as_str();
    let code = if group.is_empty() {
        ErrorCode::InvalidRequest.code()
    } else {
        // The group's partition as the group coordinator computes it: over
        // the topic's partition count, or the configured one before it exists.
        let count = metadata.topic(OFFSETS_TOPIC).map_or(offsets_partitions, |t| t.partitions.len() as i32);
        let partition = records::partition_for(group, count.max(1));
        match txns.add_offsets(req.transactional_id.0.as_str(), req.producer_id.0, req.producer_epoch, partition).await
        {
            Ok(()) => 0,
            Err(code) => fenced_error_for_version(FencedApi::AddOffsetsToTxn, version, code).code(),
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
