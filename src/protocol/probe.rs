//! A guard against requests that would make the codec allocate without bound.
//!
//! The codec sizes every array with `Vec::with_capacity(count)` as soon as it
//! reads the count, so a 16-byte request claiming 2^31 elements asks the
//! allocator for hundreds of gigabytes and aborts the process. A valid count
//! can never exceed the bytes left in the frame (every element takes at least
//! one byte), so each request is first decoded through [`ProbeBuf`], which
//! keeps every length the codec could act on within the frame:
//!
//! - an `i32` larger than the bytes left is read as "bytes left + 1": where it
//!   is an array or bytes length the probe then fails, exactly where the real
//!   decode would fail too (after a huge allocation); where it is a plain value
//!   (a timeout, a max size) nothing changes;
//! - a multi-byte unsigned varint (compact lengths) whose value would exceed the
//!   bytes left fails the probe at once. (A boolean byte ≥ 0x80 followed by
//!   such bytes is refused too: Kafka's booleans are 0 or 1.)
//!
//! Only a request whose probe decodes cleanly is decoded for real. The client
//! guards broker responses the same way ([`fits`]).

use std::ops::Range;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::buf::{ByteBuf, NotEnoughBytesError};
use kafka_protocol::protocol::Decodable;

/// A read-only view of a request that bounds the lengths the codec sees.
struct ProbeBuf {
    inner: Bytes,
}

impl Buf for ProbeBuf {
    fn remaining(&self) -> usize {
        self.inner.remaining()
    }

    fn chunk(&self) -> &[u8] {
        self.inner.chunk()
    }

    fn advance(&mut self, cnt: usize) {
        self.inner.advance(cnt)
    }

    fn try_get_i32(&mut self) -> Result<i32, bytes::TryGetError> {
        let v = self.inner.try_get_i32()?;
        let left = self.inner.remaining();
        if v > 0 && v as usize > left {
            return Ok(i32::try_from(left + 1).unwrap_or(i32::MAX));
        }
        Ok(v)
    }

    fn try_get_u8(&mut self) -> Result<u8, bytes::TryGetError> {
        let b = self.inner.try_get_u8()?;
        if b >= 0x80 {
            // The start of an unsigned varint: compute it from the bytes ahead.
            let mut value = u64::from(b & 0x7f);
            let mut used = 1usize;
            for (i, next) in self.inner.iter().copied().take(4).enumerate() {
                value |= u64::from(next & 0x7f) << (7 * (i + 1));
                used += 1;
                if next < 0x80 {
                    break;
                }
            }
            let left = self.inner.remaining().saturating_sub(used - 1);
            if value > left as u64 + 1 {
                return Err(bytes::TryGetError { requested: value as usize, available: left });
            }
        }
        Ok(b)
    }
}

impl ByteBuf for ProbeBuf {
    fn peek_bytes(&mut self, r: Range<usize>) -> Bytes {
        self.inner.slice(r)
    }

    fn get_bytes(&mut self, size: usize) -> Bytes {
        self.inner.split_to(size)
    }

    fn try_peek_bytes(&mut self, r: Range<usize>) -> Result<Bytes, NotEnoughBytesError> {
        if self.inner.len() < r.end || r.start > r.end {
            return Err(NotEnoughBytesError);
        }
        Ok(self.inner.slice(r))
    }
}

fn probe<T: Decodable>(buf: &mut ProbeBuf, version: i16) -> Result<(), String> {
    T::decode(buf, version).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether a message body (without its header) decodes as `T` with every
/// length within the body: the client's guard for responses from a broker.
pub fn fits<T: Decodable>(body: &Bytes, version: i16) -> Result<(), String> {
    probe::<T>(&mut ProbeBuf { inner: body.clone() }, version)
}

/// Decodes `payload` through the bounding view; `Err` means malformed.
pub fn check(api: ApiKey, payload: &Bytes, header_version: i16, version: i16) -> Result<(), String> {
    let mut buf = ProbeBuf { inner: payload.clone() };
    RequestHeader::decode(&mut buf, header_version).map_err(|e| e.to_string())?;
    let b = &mut buf;
    match api {
        ApiKey::Produce => probe::<ProduceRequest>(b, version),
        ApiKey::Fetch => probe::<FetchRequest>(b, version),
        ApiKey::ListOffsets => probe::<ListOffsetsRequest>(b, version),
        ApiKey::Metadata => probe::<MetadataRequest>(b, version),
        ApiKey::OffsetCommit => probe::<OffsetCommitRequest>(b, version),
        ApiKey::OffsetFetch => probe::<OffsetFetchRequest>(b, version),
        ApiKey::FindCoordinator => probe::<FindCoordinatorRequest>(b, version),
        ApiKey::JoinGroup => probe::<JoinGroupRequest>(b, version),
        ApiKey::Heartbeat => probe::<HeartbeatRequest>(b, version),
        ApiKey::LeaveGroup => probe::<LeaveGroupRequest>(b, version),
        ApiKey::SyncGroup => probe::<SyncGroupRequest>(b, version),
        ApiKey::DescribeGroups => probe::<DescribeGroupsRequest>(b, version),
        ApiKey::ListGroups => probe::<ListGroupsRequest>(b, version),
        ApiKey::DeleteGroups => probe::<DeleteGroupsRequest>(b, version),
        ApiKey::OffsetDelete => probe::<OffsetDeleteRequest>(b, version),
        ApiKey::ApiVersions => probe::<ApiVersionsRequest>(b, version),
        ApiKey::SaslHandshake => probe::<SaslHandshakeRequest>(b, version),
        ApiKey::SaslAuthenticate => probe::<SaslAuthenticateRequest>(b, version),
        ApiKey::CreateTopics => probe::<CreateTopicsRequest>(b, version),
        ApiKey::DeleteTopics => probe::<DeleteTopicsRequest>(b, version),
        ApiKey::InitProducerId => probe::<InitProducerIdRequest>(b, version),
        ApiKey::OffsetForLeaderEpoch => probe::<OffsetForLeaderEpochRequest>(b, version),
        ApiKey::DescribeConfigs => probe::<DescribeConfigsRequest>(b, version),
        ApiKey::CreatePartitions => probe::<CreatePartitionsRequest>(b, version),
        ApiKey::ElectLeaders => probe::<ElectLeadersRequest>(b, version),
        ApiKey::WriteTxnMarkers => probe::<WriteTxnMarkersRequest>(b, version),
        ApiKey::TxnOffsetCommit => probe::<TxnOffsetCommitRequest>(b, version),
        ApiKey::AddPartitionsToTxn => probe::<AddPartitionsToTxnRequest>(b, version),
        ApiKey::AddOffsetsToTxn => probe::<AddOffsetsToTxnRequest>(b, version),
        ApiKey::EndTxn => probe::<EndTxnRequest>(b, version),
        ApiKey::DescribeProducers => probe::<DescribeProducersRequest>(b, version),
        ApiKey::ListTransactions => probe::<ListTransactionsRequest>(b, version),
        ApiKey::DescribeTransactions => probe::<DescribeTransactionsRequest>(b, version),
        ApiKey::AlterPartitionReassignments => probe::<AlterPartitionReassignmentsRequest>(b, version),
        ApiKey::ListPartitionReassignments => probe::<ListPartitionReassignmentsRequest>(b, version),
        ApiKey::AlterConfigs => probe::<AlterConfigsRequest>(b, version),
        ApiKey::IncrementalAlterConfigs => probe::<IncrementalAlterConfigsRequest>(b, version),
        ApiKey::DescribeCluster => probe::<DescribeClusterRequest>(b, version),
        ApiKey::DeleteRecords => probe::<DeleteRecordsRequest>(b, version),
        ApiKey::DescribeLogDirs => probe::<DescribeLogDirsRequest>(b, version),
        ApiKey::AlterReplicaLogDirs => probe::<AlterReplicaLogDirsRequest>(b, version),
        ApiKey::DescribeUserScramCredentials => probe::<DescribeUserScramCredentialsRequest>(b, version),
        ApiKey::AlterUserScramCredentials => probe::<AlterUserScramCredentialsRequest>(b, version),
        ApiKey::DescribeClientQuotas => probe::<DescribeClientQuotasRequest>(b, version),
        ApiKey::AlterClientQuotas => probe::<AlterClientQuotasRequest>(b, version),
        ApiKey::DescribeAcls => probe::<DescribeAclsRequest>(b, version),
        ApiKey::CreateAcls => probe::<CreateAclsRequest>(b, version),
        ApiKey::DeleteAcls => probe::<DeleteAclsRequest>(b, version),
        other => Err(format!("{other:?} requests are not decoded by this broker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(api: i16, version: i16, body: &[u8]) -> Bytes {
        let mut v = Vec::new();
        v.extend_from_slice(&api.to_be_bytes());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(&(-1i16).to_be_bytes());
        if ApiKey::try_from(api).map(|a| a.request_header_version(version) >= 2).unwrap_or(false) {
            v.push(0);
        }
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn huge_array_counts_are_malformed_not_fatal() {
        // Metadata v1: topics array claiming i32::MAX elements.
        let p = frame(3, 1, &0x7fff_ffffi32.to_be_bytes());
        assert!(check(ApiKey::Metadata, &p, 1, 1).is_err());
        assert!(crate::protocol::frame::decode_request(p).is_err());
        // Metadata v12: compact array with a 5-byte varint count.
        let p = frame(3, 12, &[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(crate::protocol::frame::decode_request(p).is_err());
        // Produce v7: records length claiming 2 GiB.
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id
        body.extend_from_slice(&1i16.to_be_bytes()); // acks
        body.extend_from_slice(&30000i32.to_be_bytes()); // timeout, larger than the frame: a plain value
        body.extend_from_slice(&1i32.to_be_bytes()); // one topic
        body.extend_from_slice(&1i16.to_be_bytes());
        body.push(b't');
        body.extend_from_slice(&1i32.to_be_bytes()); // one partition
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&0x7fff_fff0i32.to_be_bytes()); // records length
        let p = frame(0, 7, &body);
        assert!(crate::protocol::frame::decode_request(p).is_err());
    }

    #[test]
    fn large_plain_values_are_not_mistaken_for_lengths() {
        // Fetch v4 with max_wait 30 s, min_bytes 1, max_bytes 50 MB and no topics decodes.
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&30_000i32.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&52_428_800i32.to_be_bytes());
        body.push(0);
        body.extend_from_slice(&0i32.to_be_bytes());
        let p = frame(1, 4, &body);
        assert!(crate::protocol::frame::decode_request(p).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bodies_never_abort(api in prop::sample::select(vec![0i16, 1, 2, 3, 10, 18, 19, 20, 22, 32, 37]),
                                        version in 0i16..13,
                                        body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = crate::protocol::frame::decode_request(frame(api, version, &body));
        }
    }
}
