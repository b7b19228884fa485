//! ApiVersions (18): the ranges we serve. Unknown versions are answered by the
//! dispatcher with the v0 fallback.

use kafka_protocol::messages::ApiVersionsResponse;

use crate::protocol::versions;

pub fn handle() -> ApiVersionsResponse {
    versions::api_versions_response(0)
}
