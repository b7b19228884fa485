//! The API versions this broker advertises (protocol-notes §3) and the
//! ApiVersions answer built from them.
//!
//! Produce advertises v0 (librdkafka before 2.11.1 only compresses when the
//! broker's Produce range includes v0) and serves v0–2 with a hand-written
//! codec that up-converts message formats v0/v1 (`broker::handler::produce_v0`).
//! Every other minimum is what the codec crate can decode, or has a hand-written
//! codec of its own: ListOffsets v0 and Fetch v0–3 (down-converted
//! to message formats v0/v1, `broker::handler::fetch_v0`).

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
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
];

/// APIs the codec crate does not know, served by hand-written codecs:
/// `(api key, min, max)`. ControlledShutdown (7) went with ZooKeeper in Kafka 4.0.
pub const HAND_CODED: &[(i16, i16, i16)] = &[(7, 0, 3)];

/// The lowest Fetch version the codec crate decodes; v0–3 are read and
/// answered by hand (`broker::handler::fetch_v0`, down-converting to message
/// formats v0/v1).
pub const MIN_CODEC_FETCH: i16 = 4;

/// The advertised range of an API, if we serve it at all.
pub fn advertised(api: ApiKey) -> Option<(i16, i16)> {
    ADVERTISED.iter().find(|(a, _, _)| *a == api).map(|&(_, min, max)| (min, max))
}

/// Whether a request of this API and version is served.
pub fn is_served(api: ApiKey, version: i16) -> bool {
    match advertised(api) {
        Some((min, max)) => version >= min && version <= max,
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
            // Produce v0–2, ListOffsets v0 and Fetch v0–3 have their own codecs.
            let min = match api {
                ApiKey::Produce => 3,
                ApiKey::ListOffsets => 1,
                ApiKey::Fetch => MIN_CODEC_FETCH,
                _ => min,
            };
            assert!(range.min <= min && max <= range.max, "{api:?} {min}-{max} vs crate {range}");
        }
    }

    #[test]
    fn produce_v0_advertised_and_served() {
        assert_eq!(advertised(ApiKey::Produce), Some((0, 9)));
        assert!(is_served(ApiKey::Produce, 0));
        assert!(is_served(ApiKey::Produce, 2));
        assert!(is_served(ApiKey::Produce, 3));
        assert!(is_served(ApiKey::JoinGroup, 0));
        assert!(!is_served(ApiKey::OffsetCommit, 1));
        assert!(!is_served(ApiKey::JoinGroup, 8));
        assert_eq!(advertised(ApiKey::Fetch), Some((0, 12)));
        assert!(is_served(ApiKey::Fetch, 0));
    }
}
