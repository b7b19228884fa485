//! The API versions this broker advertises (protocol-notes §3) and the
//! ApiVersions answer built from them.
//!
//! Every minimum is Kafka 3.x's (Produce's v0 also matters to librdkafka before
//! 2.11.1, which only compresses when the broker's Produce range includes v0).
//! Versions below what the codec crate decodes are read and written by hand
//! ([`CODEC_MIN`]): Produce v0–2 and Fetch v0–3 convert message formats v0/v1
//! (`broker::handler::produce_v0`, `fetch_v0`), the others translate into the
//! codec's requests (`broker::handler::legacy`).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// `(api, min advertised, max advertised)`.
pub const ADVERTISED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 9),
    (ApiKey::Fetch, 0, 12),
    (ApiKey::ListOffsets, 0, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 5),
    (ApiKey::DeleteTopics, 0, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::OffsetCommit, 0, 8),
    (ApiKey::OffsetFetch, 0, 7),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    // v0 (without pattern types) predates the codec crate's range.
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// APIs the codec crate does not know, served by hand-written codecs:
/// `(api key, min, max)`. ControlledShutdown (7) went with ZooKeeper in Kafka 4.0.
pub const HAND_CODED: &[(i16, i16, i16)] = &[(7, 0, 3)];

/// APIs whose oldest advertised versions the codec crate cannot decode:
/// `(api, lowest version the codec decodes)`. The versions below it are
/// answered by hand-written codecs (`broker::handler::legacy`) before the codec
/// path is tried.
pub const CODEC_MIN: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 3),
    (ApiKey::Fetch, 4),
    (ApiKey::ListOffsets, 1),
    (ApiKey::OffsetCommit, 2),
    (ApiKey::OffsetFetch, 1),
    (ApiKey::CreateTopics, 2),
    (ApiKey::DeleteTopics, 1),
    (ApiKey::DescribeConfigs, 1),
    (ApiKey::OffsetForLeaderEpoch, 2),
];

/// The advertised range of an API, if we serve it at all.
pub fn advertised(api: ApiKey) -> Option<(i16, i16)> {
    ADVERTISED.iter().find(|(a, _, _)| *a == api).map(|&(_, min, max)| (min, max))
}

/// The lowest version of `api` the codec crate decodes for us, when it is
/// above the advertised minimum (the rest is hand-coded).
pub fn codec_min(api: ApiKey) -> Option<i16> {
    CODEC_MIN.iter().find(|(a, _)| *a == api).map(|&(_, min)| min)
}

/// Whether a request of this API and version is served through the codec
/// crate (hand-coded versions are routed before this is asked).
pub fn is_served(api: ApiKey, version: i16) -> bool {
    match advertised(api) {
        Some((min, max)) => {
            let min = codec_min(api).map_or(min, |c| c.max(min));
            version >= min && version <= max
        }
        None => false,
    }
}

/// The ApiVersions response body. `error_code` 35 (UNSUPPORTED_VERSION) is the
/// KIP-511 answer to a version we do not know; it is then encoded at v0.
/// The v3 top-level tagged fields stay empty: librdkafka 2.0 misreads them.
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = ADVERTISED
        .iter()
        .map(|&(api, min, max)| (api as i16, min, max))
        .chain(HAND_CODED.iter().copied())
        .map(|(api, min, max)| ApiVersion::default().with_api_key(api).with_min_version(min).with_max_version(max))
        .collect();
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys).with_finalized_features_epoch(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_decodable() {
        for &(api, min, max) in ADVERTISED {
            let range = api.valid_versions();
            // The versions below CODEC_MIN are hand-coded.
            let min = codec_min(api).unwrap_or(min);
            assert!(range.min <= min && max <= range.max, "{api:?} {min}-{max} vs crate {range}");
        }
    }

    #[test]
    fn every_advertised_api_has_a_request_probe() {
        use kafka_protocol::messages::RequestHeader;
        use kafka_protocol::protocol::Encodable;
        let mut header = bytes::BytesMut::new();
        RequestHeader::default().encode(&mut header, 1).expect("header");
        let header = header.freeze();
        for &(api, min, max) in ADVERTISED {
            let version = codec_min(api).map_or(min, |c| c.max(min)).min(max);
            // An empty body fails to decode; a missing probe fails differently.
            if let Err(reason) = crate::protocol::probe::check(api, &header, 1, version) {
                assert!(!reason.contains("not decoded by this broker"), "{api:?}: {reason}");
            }
        }
    }

    #[test]
    fn old_produce_and_fetch_are_advertised_and_hand_coded() {
        assert_eq!(advertised(ApiKey::Produce), Some((0, 9)));
        assert!(!is_served(ApiKey::Produce, 2), "hand-coded, not through the codec");
        assert!(is_served(ApiKey::Produce, 3));
        assert!(is_served(ApiKey::JoinGroup, 0));
        assert!(!is_served(ApiKey::OffsetCommit, 1), "hand-coded, not through the codec");
        assert!(is_served(ApiKey::OffsetCommit, 2));
        assert!(!is_served(ApiKey::JoinGroup, 8));
        assert_eq!(advertised(ApiKey::Fetch), Some((0, 12)));
        assert!(!is_served(ApiKey::Fetch, 3), "hand-coded, not through the codec");
        assert!(is_served(ApiKey::Fetch, 4));
    }

    #[test]
    fn hand_coded_versions_are_advertised_and_below_the_codec() {
        for &(api, codec) in CODEC_MIN {
            let (min, _) = advertised(api).expect("advertised");
            assert!(min < codec, "{api:?}: nothing hand-coded below v{codec}");
            assert_eq!(api.valid_versions().min, codec, "{api:?}: the codec's lowest version moved");
        }
        // Kafka 3.x's minimums for the group, offset and topic APIs.
        for api in [ApiKey::OffsetCommit, ApiKey::OffsetFetch, ApiKey::CreateTopics, ApiKey::DeleteTopics] {
            assert_eq!(advertised(api).map(|r| r.0), Some(0), "{api:?}");
        }
    }
}
