//! DescribeUserScramCredentials (50, v0): which SCRAM mechanisms each user has
//! credentials for, and with how many iterations — never salts or keys — read
//! from `/config/users/<sanitized user>` in ZooKeeper (not from the SASL
//! credential cache: an admin wants what is stored, including what another
//! broker wrote a moment ago), as Kafka's ZooKeeper-mode `ZkAdminManager`.
//!
//! No users (null or empty): every user with at least one credential. Named
//! users: RESOURCE_NOT_FOUND for one without credentials, DUPLICATE_RESOURCE
//! for one named twice, with Kafka's messages. A principal without Describe on
//! the cluster gets CLUSTER_AUTHORIZATION_FAILED ([`denied`]).

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};

use super::sb;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;
use crate::security::scram::{desanitize_user, sanitize_user, UserConfigZnode};

pub async fn handle(
    metadata: &MetadataStore,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let named: Vec<String> = req.users.unwrap_or_default().into_iter().map(|u| u.name.to_string()).collect();
    let results = if named.is_empty() { describe_all(metadata).await } else { describe_named(metadata, &named).await };
    match results {
        Ok(results) => DescribeUserScramCredentialsResponse::default().with_results(results),
        Err(message) => DescribeUserScramCredentialsResponse::default()
            .with_error_code(ErrorCode::UnknownServerError.code())
            .with_error_message(Some(sb(message))),
    }
}

/// The answer to a principal without Describe on the cluster.
pub fn denied() -> DescribeUserScramCredentialsResponse {
    DescribeUserScramCredentialsResponse::default().with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
}

/// The credentials stored for a user (sanitized name); `Ok(None)` when none.
async fn credentials(metadata: &MetadataStore, sanitized: &str) -> Result<Option<Vec<CredentialInfo>>, String> {
    let Some(data) = metadata.read_user_config_data(sanitized).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let znode = match UserConfigZnode::decode(&data) {
        Ok(z) => z,
        Err(e) => {
            tracing::warn!(user = sanitized, reason = %e, "ignoring a malformed user config znode");
            return Ok(None);
        }
    };
    let infos: Vec<CredentialInfo> = znode
        .credentials()
        .into_iter()
        .map(|(mechanism, credential)| {
            CredentialInfo::default()
                .with_mechanism(mechanism.type_id())
                .with_iterations(i32::try_from(credential.iterations).unwrap_or(i32::MAX))
        })
        .collect();
    Ok((!infos.is_empty()).then_some(infos))
}

async fn describe_all(metadata: &MetadataStore) -> Result<Vec<DescribeUserScramCredentialsResult>, String> {
    let mut names = metadata.user_config_names().await.map_err(|e| e.to_string())?;
    names.sort();
    let mut out = Vec::new();
    for sanitized in names {
        // `<default>` holds quota defaults, never credentials; undecodable names are skipped too.
        let Some(user) = desanitize_user(&sanitized) else { continue };
        if let Some(infos) = credentials(metadata, &sanitized).await? {
            out.push(DescribeUserScramCredentialsResult::default().with_user(sb(user)).with_credential_infos(infos));
        }
    }
    Ok(out)
}

async fn describe_named(
    metadata: &MetadataStore,
    named: &[String],
) -> Result<Vec<DescribeUserScramCredentialsResult>, String> {
    let mut out = Vec::new();
    let mut seen: Vec<&String> = Vec::new();
    for user in named {
        if seen.contains(&user) {
            continue;
        }
        seen.push(user);
        let result = DescribeUserScramCredentialsResult::default().with_user(sb(user.clone()));
        if named.iter().filter(|u| *u == user).count() > 1 {
            out.push(result.with_error_code(ErrorCode::DuplicateResource.code()).with_error_message(Some(sb(
                format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
            ))));
            continue;
        }
        match credentials(metadata, &sanitize_user(user)).await? {
            Some(infos) => out.push(result.with_credential_infos(infos)),
            None => out.push(result.with_error_code(ErrorCode::ResourceNotFound.code()).with_error_message(Some(sb(
                format!("Attempt to describe a user credential that does not exist: {user}"),
            )))),
        }
    }
    Ok(out)
}
