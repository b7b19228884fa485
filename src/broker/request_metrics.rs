//! The broker's side of the request metrics (`metrics::requests`): it
//! registers them, classifies each request for the connection (which slot:
//! Kafka's request name, with Fetch split into `FetchConsumer` and
//! `FetchFollower`; which version), turns the connection's timestamps into
//! Kafka's stage times, and counts the error codes of answers.
//!
//! Error codes are counted per partition (or resource) for the APIs whose
//! answers carry them so (Produce, Fetch, Metadata, ListOffsets,
//! OffsetCommit), from the top-level code for the group, coordinator and
//! transaction APIs that have one, and not at all for the rest, nor for the
//! hand-coded old versions (`legacy`), which write their answers directly.

use kafka_protocol::messages::ResponseKind;

use super::Broker;
use crate::metrics::requests::{self, StageTimes};
use crate::network::{ConnInfo, RequestTag, RequestTimes};

impl Broker {
    /// Registers the request-path metrics into this broker's registry.
    pub(crate) fn register_request_metrics(&self) {
        let registry = self.metrics().registry();
        self.metrics().requests.register(registry);
        self.replicas().metrics().register(registry);
        crate::metrics::flush::register(registry);
    }

    /// The listener name a connection's metrics are labelled with.
    fn listener_name(&self, index: usize) -> &str {
        self.listeners().get(index).map_or("", |l| l.name.as_str())
    }

    pub(crate) fn metrics_connection_opened(&self, conn: &ConnInfo) {
        self.metrics().requests.connection_opened(self.listener_name(conn.listener));
    }

    pub(crate) fn metrics_connection_closed(&self, listener: usize) {
        self.metrics().requests.connection_closed(self.listener_name(listener));
    }

    pub(crate) fn metrics_request_done(&self, tag: RequestTag, times: &RequestTimes) {
        if let Some(slot) = tag.kind {
            self.metrics().requests.record(slot, tag.version, &stage_times(tag, times));
        }
    }
}

/// Kafka's stages from the connection's timestamps: what the handler spent
/// waiting inside `handle` (a fetch's long poll) and a deferred answer's wait
/// (acks=all replication) are remote time; the rest of handling is local.
pub(crate) fn stage_times(tag: RequestTag, t: &RequestTimes) -> StageTimes {
    let handling = t.handled.saturating_duration_since(t.started);
    let waited = tag.waited.min(handling);
    StageTimes {
        request_queue: t.started.saturating_duration_since(t.read),
        local: handling - waited,
        remote: waited + t.ready.saturating_duration_since(t.handled),
        response_queue: t.writing.saturating_duration_since(t.ready),
        response_send: t.written.saturating_duration_since(t.writing),
        total: t.written.saturating_duration_since(t.read),
    }
}

/// The tag of a request from its first bytes (api key, version); Fetch is
/// a consumer's until the dispatcher knows better.
pub(crate) fn tag_for(api_key: i16, version: i16) -> RequestTag {
    RequestTag { kind: requests::slot(api_key, false), version, waited: Default::default() }
}

/// Whether a hand-coded (v0–3) Fetch comes from a follower: its header is
/// api key, version, correlation id, client id (i16 length, −1 null), then
/// `replica_id`.
pub(crate) fn legacy_fetch_is_follower(payload: &[u8]) -> bool {
    let Some(at) = crate::protocol::frame::header_v1_client_id_end(payload) else { return false };
    payload.get(at..at + 4).is_some_and(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]) >= 0)
}

/// Counts the error codes in `body` under `slot`.
pub(crate) fn count_errors(metrics: &requests::RequestMetrics, slot: u16, body: &ResponseKind) {
    record_codes(metrics, slot, |add| match body {
        ResponseKind::Produce(r) => {
            r.responses.iter().flat_map(|t| &t.partition_responses).for_each(|p| add(p.error_code))
        }
        ResponseKind::Fetch(r) => fetch_codes(r, add),
        ResponseKind::Metadata(r) => {
            for t in &r.topics {
                add(t.error_code);
                t.partitions.iter().for_each(|p| add(p.error_code));
            }
        }
        ResponseKind::ListOffsets(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| add(p.error_code)),
        ResponseKind::OffsetCommit(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| add(p.error_code)),
        ResponseKind::ApiVersions(r) => add(r.error_code),
        ResponseKind::FindCoordinator(r) if r.coordinators.is_empty() => add(r.error_code),
        ResponseKind::FindCoordinator(r) => r.coordinators.iter().for_each(|c| add(c.error_code)),
        ResponseKind::JoinGroup(r) => add(r.error_code),
        ResponseKind::SyncGroup(r) => add(r.error_code),
        ResponseKind::Heartbeat(r) => add(r.error_code),
        ResponseKind::LeaveGroup(r) => add(r.error_code),
        ResponseKind::InitProducerId(r) => add(r.error_code),
        ResponseKind::EndTxn(r) => add(r.error_code),
        ResponseKind::AddOffsetsToTxn(r) => add(r.error_code),
        ResponseKind::ListGroups(r) => add(r.error_code),
        ResponseKind::DescribeCluster(r) => add(r.error_code),
        _ => {}
    });
}

/// [`count_errors`] for a Fetch answer not (yet) wrapped in a `ResponseKind`.
pub(crate) fn count_fetch_errors(
    metrics: &requests::RequestMetrics,
    slot: u16,
    resp: &kafka_protocol::messages::FetchResponse,
) {
    record_codes(metrics, slot, |add| fetch_codes(resp, add));
}

fn fetch_codes(r: &kafka_protocol::messages::FetchResponse, add: &mut dyn FnMut(i16)) {
    add(r.error_code);
    r.responses.iter().flat_map(|t| &t.partitions).for_each(|p| add(p.error_code));
}

/// Counts the codes `codes` hands to its argument; runs of one code are counted
/// together (most answers are all NONE).
fn record_codes(metrics: &requests::RequestMetrics, slot: u16, codes: impl FnOnce(&mut dyn FnMut(i16))) {
    let mut run: Option<(i16, u64)> = None;
    let mut add = |code: i16| match &mut run {
        Some((c, n)) if *c == code => *n += 1,
        _ => {
            if let Some((c, n)) = run.replace((code, 1)) {
                metrics.record_error(slot, c, n);
            }
        }
    };
    codes(&mut add);
    if let Some((c, n)) = run {
        metrics.record_error(slot, c, n);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn stages_split_waits_into_remote_time() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = RequestTimes {
            read: at(0),
            started: at(1),
            handled: at(11),
            ready: at(31),
            writing: at(36),
            written: at(38),
        };
        let tag = RequestTag { kind: Some(0), version: 9, waited: Duration::from_millis(4) };
        let s = stage_times(tag, &times);
        assert_eq!(s.request_queue, Duration::from_millis(1));
        assert_eq!(s.local, Duration::from_millis(6));
        assert_eq!(s.remote, Duration::from_millis(24));
        assert_eq!(s.response_queue, Duration::from_millis(5));
        assert_eq!(s.response_send, Duration::from_millis(2));
        assert_eq!(s.total, Duration::from_millis(38));
    }

    #[test]
    fn legacy_fetch_header_says_who_fetches() {
        let mut follower = vec![0, 1, 0, 2, 0, 0, 0, 7, 0, 2, b'i', b'd'];
        follower.extend_from_slice(&3i32.to_be_bytes());
        assert!(legacy_fetch_is_follower(&follower));
        let mut consumer = vec![0, 1, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
        consumer.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(!legacy_fetch_is_follower(&consumer));
        assert!(!legacy_fetch_is_follower(&[0, 1, 0]));
    }
}
