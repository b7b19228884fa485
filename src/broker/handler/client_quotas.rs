//! Client quota enforcement on the request path (the quota manager is
//! `broker::quotas`): what Produce and Fetch count, and what a throttle does to the
//! answer and the connection.
//!
//! As in Kafka (KIP-219): versions that came after it (Produce v6+, Fetch v8+) get
//! their answer at once with `throttle_time_ms` and the connection is then muted for
//! that long (no next request is read); older versions have the answer itself held
//! back for the throttle time, still with `throttle_time_ms` set. A throttled Fetch
//! answers without records, which are then not counted (Kafka's "unrecord"). Produce
//! with acks=0 has no answer: the connection is muted. Request-time quotas
//! (`request_percentage`) count the time spent handling a request (not a fetch's
//! long poll nor a produce's wait for replication); their throttle goes into the
//! answer's `throttle_time_ms` and mutes the connection. Requests answered before
//! dispatch (SASL, the hand-coded old versions) only mute.
//!
//! Produce v0–2 and Fetch v0–3 (the hand-coded message-format-v0/v1 paths) count the
//! request's and the answer's size and have their answers held back ([`legacy_data`]).

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FetchRequest, ProduceRequest, ResponseKind};

use crate::broker::quotas::{QuotaType, SensorKey};
use crate::broker::session::Session;
use crate::broker::Broker;
use crate::network::Outcome;

use super::fetch::FetchAnswer;

/// Produce v6 and Fetch v8 are the first versions whose throttle is sent before muting.
pub const PRODUCE_KIP219: i16 = 6;
pub const FETCH_KIP219: i16 = 8;

/// The user a session's quotas are looked up by (its principal's name).
fn user(session: &Session) -> &str {
    &session.principal.name
}

/// The sensor and quota of a client, `None` when no quota applies (nothing is recorded).
fn sensor(broker: &Broker, session: &Session, client_id: &str, quota: QuotaType) -> Option<(SensorKey, f64)> {
    let quotas = broker.client_quotas();
    let view = broker.metadata().view();
    quotas.quota_for(&view.quotas, quota, user(session), client_id)
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Counts a Produce request's record bytes; the throttle time it earns.
pub fn record_produce(broker: &Broker, session: &Session, client_id: &str, req: &ProduceRequest) -> Duration {
    let Some((key, quota)) = sensor(broker, session, client_id, QuotaType::Produce) else {
        return Duration::ZERO;
    };
    let bytes: usize = req
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    broker.client_quotas().record(&key, quota, bytes as f64)
}

/// Whether a Fetch comes from a consumer (followers are not subject to client quotas).
pub fn is_consumer_fetch(req: &FetchRequest, version: i16) -> bool {
    let replica = if version <= 14 { req.replica_id.0 } else { req.replica_state.replica_id.0 };
    replica < 0
}

/// Counts a consumer Fetch answer's record bytes. When that takes the client over its
/// quota, the records are taken out of the answer (and out of the count) and the
/// throttle time is returned.
pub fn record_fetch(broker: &Broker, session: &Session, client_id: &str, answer: &mut FetchAnswer) -> Duration {
    let Some((key, quota)) = sensor(broker, session, client_id, QuotaType::Fetch) else {
        return Duration::ZERO;
    };
    let bytes = answer.record_bytes();
    let quotas = broker.client_quotas();
    let throttle = quotas.record(&key, quota, bytes as f64);
    if !throttle.is_zero() {
        quotas.unrecord(&key, bytes as f64);
        answer.drop_records();
    }
    throttle
}

/// Counts the time a request took against the client's `request_percentage`; a
/// throttle mutes the connection.
pub fn record_request_time(broker: &Broker, session: &mut Session, elapsed: Duration) {
    if std::mem::take(&mut session.request_time_recorded) {
        return;
    }
    let throttle = request_throttle(broker, session, elapsed);
    if !throttle.is_zero() {
        session.mute = Some(session.mute.map_or(throttle, |m| m.max(throttle)));
    }
}

/// Records `elapsed` of handling against the client's `request_percentage` quota (once
/// per request: the `handled` hook then skips it) and returns the throttle time it
/// earns, for the answer's `throttle_time_ms`; zero without a request quota.
pub fn request_throttle(broker: &Broker, session: &mut Session, elapsed: Duration) -> Duration {
    session.request_time_recorded = true;
    let client_id = session.client_id.clone();
    let Some((key, quota)) = sensor(broker, session, &client_id, QuotaType::Request) else {
        return Duration::ZERO;
    };
    // Percent of one thread over a second: nanoseconds × 100 / 10⁹.
    let percent_seconds = elapsed.as_secs_f64() * 100.0;
    broker.client_quotas().record(&key, quota, percent_seconds)
}

/// Byte quotas for the hand-coded old versions (Produce v0–2, Fetch v0–3, which
/// predate KIP-219): a produce counts the request's size and a consumer fetch its
/// answer's, as Kafka counted them then, and a throttled answer is held back for
/// the throttle time (an acks=0 produce mutes the connection instead). Followers
/// are not subject to client quotas.
pub fn legacy_data(
    broker: &Broker,
    session: &mut Session,
    api: ApiKey,
    payload: &[u8],
    follower: bool,
    outcome: Outcome,
) -> Outcome {
    if follower {
        return outcome;
    }
    let client_id = header_client_id(payload);
    let (quota, bytes) = match (api, &outcome) {
        (ApiKey::Produce, _) => (QuotaType::Produce, payload.len()),
        (ApiKey::Fetch, Outcome::Respond(answer)) => (QuotaType::Fetch, answer.len()),
        _ => return outcome,
    };
    let Some((key, rate)) = sensor(broker, session, &client_id, quota) else {
        return outcome;
    };
    let throttle = broker.client_quotas().record(&key, rate, bytes as f64);
    throttled(outcome, throttle, false, session)
}

/// The client id of a request header v1 (every version of every API but
/// ControlledShutdown v0): an INT16-length string after the first 8 bytes.
fn header_client_id(payload: &[u8]) -> String {
    let end = crate::protocol::frame::header_v1_client_id_end(payload).unwrap_or(10);
    payload.get(10..end).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

/// Puts a request quota's throttle into an answer's `throttle_time_ms` (the larger
/// of it and what the answer already says). Versions without the field do not
/// encode it, so setting it is harmless there.
pub fn set_throttle_time(body: &mut ResponseKind, ms: i32) {
    macro_rules! with_throttle {
        ($($kind:ident),* $(,)?) => {
            match body {
                $(ResponseKind::$kind(r) => r.throttle_time_ms = r.throttle_time_ms.max(ms),)*
                _ => {}
            }
        };
    }
    with_throttle!(
        AddOffsetsToTxn,
        AddPartitionsToTxn,
        AlterClientQuotas,
        AlterConfigs,
        AlterPartitionReassignments,
        AlterReplicaLogDirs,
        AlterUserScramCredentials,
        ApiVersions,
        CreateAcls,
        CreatePartitions,
        CreateTopics,
        DeleteAcls,
        DeleteGroups,
        DeleteRecords,
        DeleteTopics,
        DescribeAcls,
        DescribeClientQuotas,
        DescribeCluster,
        DescribeConfigs,
        DescribeGroups,
        DescribeLogDirs,
        DescribeProducers,
        DescribeTransactions,
        DescribeUserScramCredentials,
        ElectLeaders,
        EndTxn,
        Fetch,
        FindCoordinator,
        Heartbeat,
        IncrementalAlterConfigs,
        InitProducerId,
        JoinGroup,
        LeaveGroup,
        ListGroups,
        ListOffsets,
        ListPartitionReassignments,
        ListTransactions,
        Metadata,
        OffsetCommit,
        OffsetDelete,
        OffsetFetch,
        OffsetForLeaderEpoch,
        Produce,
        SyncGroup,
        TxnOffsetCommit,
    );
}

/// Applies a throttle to an answer: KIP-219 versions are answered at once and the
/// connection muted; older ones have their answer held back.
pub fn throttled(outcome: Outcome, throttle: Duration, kip219: bool, session: &mut Session) -> Outcome {
    if throttle.is_zero() {
        return outcome;
    }
    // Either way nothing more is read from the connection meanwhile: before KIP-219
    // Kafka read a connection's next request only once the (held) answer was sent.
    session.mute = Some(session.mute.map_or(throttle, |m| m.max(throttle)));
    match outcome {
        Outcome::Respond(bytes) if !kip219 => Outcome::Deferred(Box::pin(async move {
            tokio::time::sleep(throttle).await;
            Some(bytes)
        })),
        Outcome::Deferred(answer) if !kip219 => Outcome::Deferred(Box::pin(async move {
            let bytes = answer.await;
            tokio::time::sleep(throttle).await;
            bytes
        })),
        other => other,
    }
}

/// `throttle_time_ms` for an answer.
pub fn throttle_ms(throttle: Duration) -> i32 {
    ms(throttle)
}

#[cfg(test)]
mod tests {
    use super::header_client_id;

    #[test]
    fn client_id_from_a_raw_header() {
        let mut p = vec![0, 0, 0, 2, 0, 0, 0, 7, 0, 3];
        p.extend_from_slice(b"app rest");
        assert_eq!(header_client_id(&p), "app");
        assert_eq!(header_client_id(&[0, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff]), "");
        assert_eq!(header_client_id(&[0, 0, 0, 2, 0, 0, 0, 7, 0, 9, b'a']), "");
        assert_eq!(header_client_id(&[0, 1]), "");
    }
}
