//! EndTxn (26), v0–3: a transactional producer commits or aborts. The
//! answer comes once the coordinator's PrepareCommit/PrepareAbort record is
//! committed in `__transaction_state` — the decision is then durable — and
//! the markers and the Complete* record follow in the background, as in
//! Kafka. A retry of an EndTxn that already completed answers success.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::coordinator::txn::state::{fenced_error_for_version, FencedApi};
use crate::coordinator::txn::{EndTxnRequest as TxnEnd, TxnCoordinator, TxnResult};

pub async fn handle(txns: &Arc<TxnCoordinator>, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let request = TxnEnd {
        transactional_id: req.transactional_id.0.to_string(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        result: if req.committed { TxnResult::Commit } else { TxnResult::Abort },
    };
    let code = match txns.end_txn(request).await {
        Ok(()) => 0,
        Err(code) => fenced_error_for_version(FencedApi::EndTxn, version, code).code(),
    };
    EndTxnResponse::default().with_error_code(code)
}
