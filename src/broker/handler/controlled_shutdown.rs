//! ControlledShutdown (7), both ends: the controller answers it, and a
//! broker that is shutting down sends it ([`hand_over`]) before it stops
//! accepting, as Kafka's ZooKeeper-mode brokers do.
//!
//! The codec crate dropped the ZooKeeper-era inter-broker APIs (Kafka 4.0
//! removed them), so v0–3 are read and written by hand here. v0 uses request
//! header v0 (no client id), v1–2 header v1, v3 is flexible (header v2,
//! compact strings and arrays, tagged fields). Request: broker id, then the
//! broker epoch (v2+, −1: unknown). Response: error code and the partitions
//! the broker still leads (topic, partition).
//!
//! Only the controller acts: any other broker answers NOT_CONTROLLER (41),
//! and the sender asks whoever its metadata cache names controller. The
//! controller (`metadata::controller`) moves every partition the broker leads
//! to another live ISR member, drops it from the ISRs it is in and answers
//! with the partitions it still leads that another live replica could take
//! once in sync; partitions with no other live replica (RF=1, the last broker
//! of a cluster) are not movable and not reported, so a lone broker does not
//! wait out the retries.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::broker::Broker;
use crate::metadata::{MetadataError, ShutdownOutcome};
use crate::protocol::reader::Reader;
use crate::protocol::ErrorCode;

/// The API key: not in the codec crate's `ApiKey`.
pub const API_KEY: i16 = 7;
/// Served versions.
pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 3;
/// The first flexible version.
const FLEXIBLE: i16 = 3;
/// Largest answer a sender accepts (one entry per partition led).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub version: i16,
    pub correlation_id: i32,
    pub broker_id: i32,
    /// −1 when not sent (v0–1) or unknown.
    pub broker_epoch: i64,
}

/// The answer: error code (0: none) and the partitions still led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub error_code: i16,
    pub remaining: Vec<(String, i32)>,
}

/// An unsigned varint (flexible versions), at most 5 bytes.
fn uvarint(r: &mut Reader<'_>) -> Result<u32, String> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let b = r.take(1)?[0];
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint longer than 5 bytes".into())
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Skips a tagged-field section (none of them is known to us).
fn skip_tags(r: &mut Reader<'_>) -> Result<(), String> {
    let count = uvarint(r)?;
    for _ in 0..count {
        let _tag = uvarint(r)?;
        let size = uvarint(r)? as usize;
        r.take(size)?;
    }
    Ok(())
}

/// A compact (v3) string.
fn compact_str(r: &mut Reader<'_>) -> Result<String, String> {
    let len = uvarint(r)? as usize;
    let len = len.checked_sub(1).ok_or("a null string")?;
    String::from_utf8(r.take(len)?.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

/// Reads a request payload (header and body, without the length prefix).
pub fn parse_request(payload: &[u8]) -> Result<Request, String> {
    let mut r = Reader::new(payload);
    let _api_key = r.i16()?;
    let version = r.i16()?;
    let correlation_id = r.i32()?;
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(format!("ControlledShutdown v{version} is not supported"));
    }
    if version >= 1 {
        let _client_id = r.nullable_str()?;
    }
    if version >= FLEXIBLE {
        skip_tags(&mut r)?;
    }
    let broker_id = r.i32()?;
    let broker_epoch = if version >= 2 { r.i64()? } else { -1 };
    if version >= FLEXIBLE {
        skip_tags(&mut r)?;
    }
    Ok(Request { version, correlation_id, broker_id, broker_epoch })
}

/// Writes a request frame (with its length prefix).
pub fn encode_request(version: i16, correlation_id: i32, client_id: &str, broker_id: i32, epoch: i64) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    out.put_i16(API_KEY);
    out.put_i16(version);
    out.put_i32(correlation_id);
    if version >= 1 {
        let id = &client_id.as_bytes()[..client_id.len().min(i16::MAX as usize)];
        out.put_i16(id.len() as i16);
        out.put_slice(id);
    }
    if version >= FLEXIBLE {
        put_uvarint(&mut out, 0);
    }
    out.put_i32(broker_id);
    if version >= 2 {
        out.put_i64(epoch);
    }
    if version >= FLEXIBLE {
        put_uvarint(&mut out, 0);
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out.freeze()
}

/// Writes a response frame (with its length prefix).
pub fn encode_response(version: i16, correlation_id: i32, answer: &Answer) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + answer.remaining.len() * 16);
    out.put_i32(0);
    out.put_i32(correlation_id);
    let flexible = version >= FLEXIBLE;
    if flexible {
        put_uvarint(&mut out, 0);
    }
    out.put_i16(answer.error_code);
    // Topic names are at most 249 bytes (validated on creation); clamp anyway.
    fn name(t: &str) -> &[u8] {
        &t.as_bytes()[..t.len().min(i16::MAX as usize)]
    }
    if flexible {
        put_uvarint(&mut out, answer.remaining.len() as u32 + 1);
        for (topic, partition) in &answer.remaining {
            put_uvarint(&mut out, name(topic).len() as u32 + 1);
            out.put_slice(name(topic));
            out.put_i32(*partition);
            put_uvarint(&mut out, 0);
        }
        put_uvarint(&mut out, 0);
    } else {
        out.put_i32(answer.remaining.len() as i32);
        for (topic, partition) in &answer.remaining {
            out.put_i16(name(topic).len() as i16);
            out.put_slice(name(topic));
            out.put_i32(*partition);
        }
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out.freeze()
}

/// Reads a response payload (without the length prefix): correlation id and answer.
pub fn parse_response(version: i16, payload: &[u8]) -> Result<(i32, Answer), String> {
    let mut r = Reader::new(payload);
    let correlation_id = r.i32()?;
    let flexible = version >= FLEXIBLE;
    if flexible {
        skip_tags(&mut r)?;
    }
    let error_code = r.i16()?;
    let mut remaining = Vec::new();
    if flexible {
        let count = (uvarint(&mut r)? as usize).saturating_sub(1);
        // Each entry takes at least 6 bytes: refuse counts the payload cannot hold.
        if count > r.remaining() / 6 {
            return Err(format!("{count} remaining partitions in a {} byte answer", payload.len()));
        }
        for _ in 0..count {
            let topic = compact_str(&mut r)?;
            let partition = r.i32()?;
            skip_tags(&mut r)?;
            remaining.push((topic, partition));
        }
        skip_tags(&mut r)?;
    } else {
        for _ in 0..r.count(6)? {
            let topic = r.str()?;
            remaining.push((topic, r.i32()?));
        }
    }
    Ok((correlation_id, Answer { error_code, remaining }))
}

/// The wire answer for what the controller task said.
fn answer_for(outcome: Result<ShutdownOutcome, MetadataError>) -> Answer {
    let error = |code: ErrorCode| Answer { error_code: code.code(), remaining: Vec::new() };
    match outcome {
        Ok(ShutdownOutcome::Done { remaining }) => Answer { error_code: 0, remaining },
        Ok(ShutdownOutcome::NotController) => error(ErrorCode::NotController),
        Ok(ShutdownOutcome::UnknownBroker) => error(ErrorCode::BrokerNotAvailable),
        Ok(ShutdownOutcome::StaleBrokerEpoch) => error(ErrorCode::StaleBrokerEpoch),
        Err(MetadataError::Timeout(_)) => error(ErrorCode::RequestTimedOut),
        Err(MetadataError::Closed) => error(ErrorCode::NotController),
        Err(e) => {
            tracing::warn!(error = %e, "controlled shutdown failed");
            error(ErrorCode::UnknownServerError)
        }
    }
}

/// What this broker, as controller or not, answers for `broker_id`.
async fn answer(broker: &Broker, broker_id: i32, broker_epoch: i64) -> Answer {
    // A broker the cache does not name controller answers at once; the
    // controller task checks its lease again.
    if broker.metadata().controller_id() != Some(broker.node_id()) {
        return answer_for(Ok(ShutdownOutcome::NotController));
    }
    let timeout = Duration::from_millis(broker.config().controller_socket_timeout_ms.max(1));
    answer_for(broker.metadata().controlled_shutdown(broker_id, broker_epoch, timeout).await)
}

/// Serves one request; `Err` is a malformed request (the connection closes).
pub async fn handle(
    broker: &Broker,
    authz: &crate::security::authorizer::Authz<'_>,
    payload: &[u8],
) -> Result<Bytes, String> {
    let req = parse_request(payload)?;
    if !authz.cluster(crate::security::acl::AclOperation::ClusterAction) {
        // Kafka: only brokers (Cluster:ClusterAction) may ask.
        let denied = Answer { error_code: ErrorCode::ClusterAuthorizationFailed.code(), remaining: Vec::new() };
        return Ok(encode_response(req.version, req.correlation_id, &denied));
    }
    tracing::info!(broker = req.broker_id, epoch = req.broker_epoch, "ControlledShutdown request");
    let answer = answer(broker, req.broker_id, req.broker_epoch).await;
    Ok(encode_response(req.version, req.correlation_id, &answer))
}

/// Sends one request to `addr` and reads the answer, within `timeout`, over TLS when the
/// inter-broker `security` says so.
pub async fn call(
    addr: &str,
    version: i16,
    broker_id: i32,
    epoch: i64,
    timeout: Duration,
    security: &crate::client::Security,
) -> Result<Answer, String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect: {e}"))?;
        match &security.tls {
            None => exchange(tcp, version, broker_id, epoch).await,
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                let stream = crate::network::tls::connect(tls.clone(), host, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                exchange(stream, version, broker_id, epoch).await
            }
        }
    };
    tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// One request and its answer on a connected stream.
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    version: i16,
    broker_id: i32,
    epoch: i64,
) -> Result<Answer, String> {
    {
        let frame = encode_request(version, 1, &format!("broker-{broker_id}-controlled-shutdown"), broker_id, epoch);
        stream.write_all(&frame).await.map_err(|e| format!("cannot send: {e}"))?;
        // A TLS stream buffers until flushed.
        stream.flush().await.map_err(|e| format!("cannot send: {e}"))?;
        let size = stream.read_i32().await.map_err(|e| format!("no answer: {e}"))?;
        let size = usize::try_from(size).ok().filter(|s| *s <= MAX_RESPONSE_BYTES).ok_or("an answer of bad size")?;
        let mut payload = vec![0u8; size];
        stream.read_exact(&mut payload).await.map_err(|e| format!("a truncated answer: {e}"))?;
        let (correlation_id, answer) = parse_response(version, &payload)?;
        if correlation_id != 1 {
            return Err(format!("an answer to correlation id {correlation_id}, not 1"));
        }
        Ok(answer)
    }
}

/// Kafka's `controlledShutdown` of a broker that is stopping: asks the
/// controller to move this broker's leaderships, up to
/// `controlled.shutdown.max.retries` attempts `controlled.shutdown.retry.backoff.ms`
/// apart, while the broker still serves everything. From each attempt on,
/// this broker stops fetching as a follower (Kafka's StopReplica), so that
/// no leader takes it back into an ISR the controller removed it from; a
/// failed attempt resumes fetching until the next. Returns whether every
/// movable leadership moved; the shutdown goes on either way.
pub(crate) async fn hand_over(broker: &Broker) -> bool {
    let cfg = broker.config();
    let me = broker.node_id();
    let backoff = Duration::from_millis(cfg.controlled_shutdown_retry_backoff_ms);
    let timeout = Duration::from_millis(cfg.controller_socket_timeout_ms.max(1));
    let attempts = cfg.controlled_shutdown_max_retries;
    if attempts == 0 {
        // Kafka makes no attempt either.
        tracing::info!(broker = me, "controlled.shutdown.max.retries=0: shutting down without handing over");
        return false;
    }
    for attempt in 1..=attempts {
        let controller = broker.metadata().controller_id();
        let epoch = broker.metadata().broker_epoch();
        // Stopped before asking: a fetch arriving at a leader after the
        // controller's change would put this broker back into the ISR.
        broker.replicas().stop_following();
        let result = match controller {
            None => Err("no controller is elected".to_string()),
            Some(c) if c == me => Ok(answer(broker, me, epoch).await),
            Some(c) => {
                let addr = crate::broker::replication::broker_addr(broker, c);
                match addr {
                    Some(addr) => call(&addr, MAX_VERSION, me, epoch, timeout, &broker.inter_broker().security).await,
                    None => Err(format!("controller {c} is not registered")),
                }
            }
        };
        // Whether the controller carried out the request (this broker then
        // follows nothing any more), whatever it could not move.
        let acted = match result {
            Ok(Answer { error_code: 0, remaining }) => {
                if remaining.is_empty() {
                    tracing::info!(broker = me, ?controller, "controlled shutdown succeeded");
                    // Leave once this broker's own cache shows the new leaders, so
                    // that nothing here still acts as their leader.
                    let settled = broker
                        .metadata()
                        .wait_until(backoff.min(Duration::from_secs(5)), |v| {
                            crate::metadata::movable_leaderships(v, me, &std::collections::BTreeSet::from([me]))
                                .is_empty()
                        })
                        .await;
                    if !settled {
                        tracing::debug!("the new leaders did not reach this broker's cache in time");
                    }
                    return true;
                }
                tracing::info!(
                    broker = me,
                    attempt,
                    remaining = remaining.len(),
                    partitions = ?remaining.iter().take(10).collect::<Vec<_>>(),
                    "controlled shutdown: partitions still led here (no other replica in sync yet)"
                );
                true
            }
            Ok(Answer { error_code, .. }) => {
                let error =
                    ErrorCode::try_from_code(error_code).map_or(format!("error {error_code}"), |e| format!("{e:?}"));
                tracing::warn!(broker = me, attempt, ?controller, %error, "controlled shutdown refused");
                false
            }
            Err(reason) => {
                tracing::warn!(broker = me, attempt, ?controller, %reason, "controlled shutdown failed");
                false
            }
        };
        if !acted {
            // Nothing changed: keep the ISRs this broker is in healthy meanwhile.
            broker.replicas().resume_following();
        }
        if attempt < attempts {
            if acted {
                // Followers need time to catch up before they can take over.
                tokio::time::sleep(backoff).await;
            } else {
                // Most failures are a controller change: go again as soon as another is elected.
                broker.metadata().wait_until(backoff, |v| v.controller.is_some() && v.controller != controller).await;
            }
        }
    }
    tracing::warn!(broker = me, "Proceeding to do an unclean shutdown as all the controlled shutdown attempts failed");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let frame = encode_request(version, 9, "cli", 4, 77);
            let req = parse_request(&frame[4..]).expect("parse");
            let epoch = if version >= 2 { 77 } else { -1 };
            assert_eq!(req, Request { version, correlation_id: 9, broker_id: 4, broker_epoch: epoch });
            for cut in 4..frame.len() {
                assert!(parse_request(&frame[4..cut]).is_err(), "v{version} cut at {cut}");
            }
        }
        // v0's header has no client id: the body follows the correlation id.
        let v0 = encode_request(0, 9, "ignored", 4, 77);
        assert_eq!(&v0[12..16], &4i32.to_be_bytes());
        assert!(parse_request(&encode_request(4, 1, "x", 1, 1)[4..]).is_err());
    }

    #[test]
    fn responses_round_trip_in_every_version() {
        let answer = Answer { error_code: 0, remaining: vec![("t".into(), 0), ("other".into(), 7)] };
        for version in MIN_VERSION..=MAX_VERSION {
            let frame = encode_response(version, 5, &answer);
            assert_eq!(parse_response(version, &frame[4..]).expect("parse"), (5, answer.clone()));
            for cut in 4..frame.len() {
                assert!(parse_response(version, &frame[4..cut]).is_err(), "v{version} cut at {cut}");
            }
        }
        // v3: header tagged fields, compact array of compact strings.
        let empty = encode_response(3, 5, &Answer { error_code: 41, remaining: Vec::new() });
        assert_eq!(&empty[4..], &[0, 0, 0, 5, 0, 0, 41, 1, 0]);
    }

    #[test]
    fn the_advertised_range_is_the_served_one() {
        let advertised = crate::protocol::versions::HAND_CODED.iter().find(|(api, _, _)| *api == API_KEY);
        assert_eq!(advertised, Some(&(API_KEY, MIN_VERSION, MAX_VERSION)));
    }

    #[test]
    fn hostile_counts_are_refused() {
        let mut v1 = BytesMut::new();
        v1.put_i32(1);
        v1.put_i16(0);
        v1.put_i32(i32::MAX);
        assert!(parse_response(1, &v1).is_err());
        let mut v3 = BytesMut::new();
        v3.put_i32(1);
        v3.put_u8(0);
        v3.put_i16(0);
        v3.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(parse_response(3, &v3).is_err());
        assert!(parse_response(3, &[0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }
}
