//! The 0.8.2–0.11-era versions of the group, offset and topic APIs that
//! Kafka 3.x still serves but the codec crate does not decode (versions below
//! [`versions::CODEC_MIN`]), read and written by hand.
//!
//! Each old request is a subset of the codec's lowest version, so it is
//! translated: parsed into the codec's request struct, answered by the same
//! handler the current versions use (one behaviour, two wire forms), and the
//! answer written in the old layout. The one exception is OffsetCommit and
//! OffsetFetch v0, which Kafka's ZooKeeper mode keeps in ZooKeeper
//! (`/consumers/<group>/offsets/<topic>/<partition>`), apart from the group
//! coordinator; so do we.
//!
//! A body that does not parse closes the connection, as Kafka does with a
//! request it cannot read; nothing here panics on input (every read is
//! bounds-checked by [`Reader`], every array count checked against the bytes left).
//!
//! Produce v0–2 and Fetch v0–3 are routed from here too, but live beside the
//! current versions' handlers (`produce_v0`, `fetch_v0`): they convert message
//! formats v0/v1 to and from the record batches v2 the log stores.

mod create_topics;
mod delete_topics;
mod describe_configs;
mod offset_commit;
mod offset_fetch;
mod offset_for_leader_epoch;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use crate::broker::Broker;
use crate::network::Outcome;
use crate::protocol::reader::Reader;
use crate::protocol::versions;

/// Answers `api` v`version` when that version is hand-coded; `None` leaves
/// the request to the codec path.
pub async fn route(
    broker: &Broker,
    authz: &crate::security::authorizer::Authz<'_>,
    api: ApiKey,
    version: i16,
    payload: &Bytes,
) -> Option<Outcome> {
    let codec_min = versions::codec_min(api)?;
    if version < 0 || version >= codec_min {
        return None;
    }
    tracing::trace!(?api, version, "hand-coded request");
    // Produce, Fetch and the translated topic/config/epoch APIs are checked
    // like their current versions. ListOffsets v0 and the old offset APIs
    // (v0 keeps offsets in ZooKeeper) are not checked item by item yet: with
    // an authorizer they are refused (the connection closes) rather than
    // served unchecked.
    if authz.enabled() && matches!(api, ApiKey::ListOffsets | ApiKey::OffsetCommit | ApiKey::OffsetFetch) {
        return Some(Outcome::Close(format!(
            "{api:?} v{version} is not served while an authorizer (authorizer.class.name) is configured"
        )));
    }
    let answer = match api {
        // Message formats v0/v1, converted to and from record batches v2.
        ApiKey::Produce => return Some(super::produce_v0::handle(broker.replicas(), authz, payload, version).await),
        ApiKey::Fetch => super::fetch_v0::handle(broker.replicas(), authz, payload, version).await,
        ApiKey::ListOffsets => {
            // Timestamp lookups read index and segment files.
            broker.replicas().storage_io().run(|| super::list_offsets_v0::handle(broker.replicas(), payload)).await
        }
        ApiKey::OffsetCommit => {
            offset_commit::handle(
                broker.groups(),
                broker.metadata(),
                broker.config().offset_metadata_max_bytes as usize,
                version,
                payload,
            )
            .await
        }
        ApiKey::OffsetFetch => offset_fetch::handle(broker.metadata(), payload).await,
        ApiKey::CreateTopics => create_topics::handle(broker, authz, version, payload).await,
        ApiKey::DeleteTopics => delete_topics::handle(broker, authz, payload).await,
        ApiKey::DescribeConfigs => describe_configs::handle(broker, authz, payload),
        ApiKey::OffsetForLeaderEpoch => offset_for_leader_epoch::handle(broker.replicas(), authz, version, payload),
        _ => return None,
    };
    Some(match answer {
        Ok(bytes) => Outcome::Respond(bytes),
        Err(reason) => Outcome::Close(format!("malformed {api:?} v{version} request: {reason}")),
    })
}

/// Reads the request header (v1: api key, version, correlation id, client
/// id — none of these versions is flexible) and returns the correlation id.
pub(super) fn header(r: &mut Reader<'_>) -> Result<i32, String> {
    let _api_key = r.i16()?;
    let _version = r.i16()?;
    let correlation_id = r.i32()?;
    let _client_id = r.nullable_str()?;
    Ok(correlation_id)
}

fn i8(r: &mut Reader<'_>) -> Result<i8, String> {
    Ok(r.take(1)?[0] as i8)
}

/// A boolean as Kafka reads it: any non-zero byte is true.
fn bool(r: &mut Reader<'_>) -> Result<bool, String> {
    Ok(r.take(1)?[0] != 0)
}

/// An i32 array count where −1 means null (`None`), checked against the bytes left.
fn nullable_count(r: &mut Reader<'_>, min_item: usize) -> Result<Option<usize>, String> {
    let n = r.i32()?;
    if n < 0 {
        return Ok(None);
    }
    let n = n as usize;
    if n > r.remaining() / min_item.max(1) {
        return Err(format!("array of {n} items does not fit the {} bytes left", r.remaining()));
    }
    Ok(Some(n))
}

/// A response being written: size prefix (patched by [`Answer::finish`]),
/// the v0 response header (correlation id), then the body. Also used by the
/// hand-coded Produce v0–2 and Fetch v0–3 answers.
pub(super) struct Answer {
    buf: BytesMut,
}

impl Answer {
    pub(super) fn new(correlation_id: i32) -> Answer {
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0);
        buf.put_i32(correlation_id);
        Answer { buf }
    }

    pub(super) fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    pub(super) fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    pub(super) fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub(super) fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// Bytes with an i32 length (a MessageSet).
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.buf.put_slice(b);
    }

    /// An array count.
    pub(super) fn count(&mut self, n: usize) {
        self.buf.put_i32(i32::try_from(n).unwrap_or(i32::MAX));
    }

    pub(super) fn str(&mut self, s: &str) {
        let s = fit_i16(s);
        self.buf.put_i16(s.len() as i16);
        self.buf.put_slice(s.as_bytes());
    }

    pub(super) fn nullable_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.buf.put_i16(-1),
        }
    }

    pub(super) fn finish(mut self) -> Bytes {
        let size = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&size.to_be_bytes());
        self.buf.freeze()
    }
}

/// `s` cut to what an i16-length string holds, at a character boundary.
/// Names come from i16-length request strings; only a long message could be cut.
fn fit_i16(s: &str) -> &str {
    let max = i16::MAX as usize;
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod test_support {
    use bytes::{BufMut, BytesMut};

    /// A request with a v1 header (correlation id 9, client id "t"), body to follow.
    pub fn request(api: i16, version: i16) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_i16(api);
        b.put_i16(version);
        b.put_i32(9);
        b.put_i16(1);
        b.put_slice(b"t");
        b
    }

    pub fn str(b: &mut BytesMut, s: &str) {
        b.put_i16(s.len() as i16);
        b.put_slice(s.as_bytes());
    }

    /// Every strict prefix of a well-formed request is refused.
    pub fn assert_prefixes_refused<T: std::fmt::Debug>(req: &[u8], parse: impl Fn(&[u8]) -> Result<T, String>) {
        assert!(parse(req).is_ok(), "the whole request parses");
        for cut in 0..req.len() {
            assert!(parse(&req[..cut]).is_err(), "cut at {cut} of {}", req.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_frames_and_fits_strings() {
        let mut a = Answer::new(7);
        a.str("ab");
        a.nullable_str(None);
        let bytes = a.finish();
        assert_eq!(&bytes[..], &[0, 0, 0, 10, 0, 0, 0, 7, 0, 2, b'a', b'b', 0xff, 0xff]);
        let long = "é".repeat(20_000);
        assert!(fit_i16(&long).len() <= i16::MAX as usize);
        assert!(long.starts_with(fit_i16(&long)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bytes after a valid header: every parser answers Ok or Err, never panics.
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            let mut req = test_support::request(0, 0).to_vec();
            req.extend_from_slice(&body);
            for version in [0, 1] {
                let _ = offset_commit::parse(&req, version);
                let _ = create_topics::parse(&req, version);
            }
            let _ = offset_fetch::parse(&req);
            let _ = delete_topics::parse(&req);
            let _ = describe_configs::parse(&req);
            let _ = offset_for_leader_epoch::parse(&req);
            let _ = offset_fetch::parse(&body);
        }
    }

    #[test]
    fn nullable_counts() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        assert_eq!(nullable_count(&mut Reader::new(&bytes), 2), Ok(None));
        let bytes = [0, 0, 0, 5, 0, 0];
        assert!(nullable_count(&mut Reader::new(&bytes), 2).is_err());
    }
}
