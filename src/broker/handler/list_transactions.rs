//! ListTransactions (66, KIP-664), v0–2: the transactional ids this broker
//! coordinates, read from the transaction coordinator without changing it.
//! Every broker answers only for the `__transaction_state` partitions it
//! leads, so admin clients ask them all and merge.
//!
//! Filters as in Kafka: states (a name Kafka does not know is returned in
//! `unknown_state_filters` and filters nothing), producer ids, v1's duration
//! (transactions running longer than it, measured from their start) and v2's
//! transactional-id pattern (a regular expression the whole id must match;
//! an invalid one is INVALID_REGULAR_EXPRESSION). Dead ids are never listed.
//! While a partition is still loading the answer is
//! COORDINATOR_LOAD_IN_PROGRESS with no states, as Kafka's.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use crate::broker::handler::sb;
use crate::broker::now_ms;
use crate::coordinator::txn::service::TxnDescription;
use crate::coordinator::txn::{TxnCoordinator, TxnStatus};
use crate::protocol::ErrorCode;

/// Every state a filter may name.
const STATES: [TxnStatus; 8] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
    TxnStatus::Dead,
    TxnStatus::PrepareEpochFence,
];

/// A request's filters, validated.
#[derive(Debug, Default)]
struct Filters {
    states: Vec<TxnStatus>,
    producer_ids: Vec<i64>,
    /// Keep transactions that started more than this many ms ago (−1: all).
    duration_ms: i64,
    pattern: Option<regex::Regex>,
}

impl Filters {
    /// The filters of `req` at `version`, with the state names Kafka does not
    /// know; an invalid pattern is INVALID_REGULAR_EXPRESSION.
    fn of(req: &ListTransactionsRequest, version: i16) -> Result<(Filters, Vec<StrBytes>), ErrorCode> {
        let mut states = Vec::new();
        let mut unknown = Vec::new();
        for name in &req.state_filters {
            match STATES.iter().find(|s| s.name() == name.as_str()) {
                Some(s) => states.push(*s),
                None => unknown.push(name.clone()),
            }
        }
        let pattern = match req.transactional_id_pattern.as_ref().filter(|p| version >= 2 && !p.is_empty()) {
            None => None,
            // Kafka matches the whole id (Java's Matcher.matches).
            Some(p) => Some(
                regex::Regex::new(&format!("^(?:{})$", p.as_str())).map_err(|_| ErrorCode::InvalidRegularExpression)?,
            ),
        };
        let filters = Filters {
            states,
            producer_ids: req.producer_id_filters.iter().map(|p| p.0).collect(),
            duration_ms: if version >= 1 { req.duration_filter } else { -1 },
            pattern,
        };
        Ok((filters, unknown))
    }

    fn keep(&self, d: &TxnDescription, now_ms: i64) -> bool {
        (self.producer_ids.is_empty() || self.producer_ids.contains(&d.producer_id))
            && (self.states.is_empty() || self.states.contains(&d.state))
            && (self.duration_ms < 0 || now_ms - d.start_timestamp_ms > self.duration_ms)
            && self.pattern.as_ref().is_none_or(|r| r.is_match(&d.transactional_id))
    }
}

pub fn handle(txns: &TxnCoordinator, req: ListTransactionsRequest, version: i16) -> ListTransactionsResponse {
    let response = ListTransactionsResponse::default();
    let (filters, unknown) = match Filters::of(&req, version) {
        Ok(f) => f,
        Err(code) => return response.with_error_code(code.code()),
    };
    let response = response.with_unknown_state_filters(unknown);
    let now = now_ms();
    let (listed, loading) = txns.list(|d| filters.keep(d, now));
    if loading {
        return response.with_error_code(ErrorCode::CoordinatorLoadInProgress.code());
    }
    let states = listed
        .into_iter()
        .map(|d| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(sb(d.transactional_id)))
                .with_producer_id(ProducerId(d.producer_id))
                .with_transaction_state(sb(d.state.name()))
        })
        .collect();
    response.with_error_code(0).with_transaction_states(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(id: &str, producer_id: i64, state: TxnStatus, start: i64) -> TxnDescription {
        TxnDescription {
            transactional_id: id.to_string(),
            state,
            producer_id,
            producer_epoch: 0,
            timeout_ms: 60_000,
            start_timestamp_ms: start,
            partitions: Vec::new(),
        }
    }

    fn request(states: &[&str], producer_ids: &[i64], duration: i64, pattern: Option<&str>) -> ListTransactionsRequest {
        ListTransactionsRequest::default()
            .with_state_filters(states.iter().map(|s| StrBytes::from_string(s.to_string())).collect())
            .with_producer_id_filters(producer_ids.iter().map(|p| ProducerId(*p)).collect())
            .with_duration_filter(duration)
            .with_transactional_id_pattern(pattern.map(|p| StrBytes::from_string(p.to_string())))
    }

    #[test]
    fn filters_as_kafka_applies_them() {
        let open = txn("orders-1", 7, TxnStatus::Ongoing, 1_000);
        let done = txn("billing", 8, TxnStatus::CompleteCommit, -1);
        let keep = |req: ListTransactionsRequest, version: i16| {
            let (f, _) = Filters::of(&req, version).expect("valid");
            [&open, &done]
                .into_iter()
                .filter(|d| f.keep(d, 11_000))
                .map(|d| d.transactional_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keep(request(&[], &[], -1, None), 2), ["orders-1", "billing"]);
        assert_eq!(keep(request(&["Ongoing"], &[], -1, None), 2), ["orders-1"]);
        assert_eq!(keep(request(&[], &[8], -1, None), 2), ["billing"]);
        // Running for 10 s: kept by a 5 s duration, not by a 10 s one.
        assert_eq!(keep(request(&["Ongoing"], &[], 5_000, None), 2), ["orders-1"]);
        assert!(keep(request(&["Ongoing"], &[], 10_000, None), 2).is_empty());
        assert_eq!(keep(request(&["Ongoing"], &[], 10_000, None), 0), ["orders-1"], "v0 has no duration");
        assert_eq!(keep(request(&[], &[], -1, Some("orders-.*")), 2), ["orders-1"]);
        assert_eq!(keep(request(&[], &[], -1, Some("orders")), 2), Vec::<String>::new(), "the whole id must match");
        assert_eq!(keep(request(&[], &[], -1, Some("orders")), 1).len(), 2, "v1 has no pattern");
    }

    #[test]
    fn unknown_states_are_reported_and_bad_patterns_refused() {
        let (f, unknown) = Filters::of(&request(&["Ongoing", "Sleeping"], &[], -1, None), 2).expect("valid");
        assert_eq!(f.states, [TxnStatus::Ongoing]);
        assert_eq!(unknown, [StrBytes::from_static_str("Sleeping")]);
        assert_eq!(
            Filters::of(&request(&[], &[], -1, Some("(")), 2).map(|_| ()),
            Err(ErrorCode::InvalidRegularExpression)
        );
    }
}
