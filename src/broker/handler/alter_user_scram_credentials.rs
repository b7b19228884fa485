//! AlterUserScramCredentials (51, v0): add, replace and delete SCRAM
//! credentials in `/config/users/<sanitized user>`, as Kafka's ZooKeeper-mode
//! `ZkAdminManager`. The client sends the salt and the salted password (never
//! the password); the broker derives the stored and server keys and writes
//! Kafka's credential string, then a `/config/changes/config_change_<n>`
//! notification (`users/<sanitized>`) in the same multi, so Kafka brokers and
//! tools sharing the ZooKeeper see the change. Other keys of the znode (quotas)
//! are kept.
//!
//! Checks are per user, with Kafka's codes and messages; one bad alteration
//! fails every alteration of that user (nothing of it is written) and leaves
//! the other users alone: the same user and mechanism twice →
//! DUPLICATE_RESOURCE; an unknown mechanism → UNSUPPORTED_SASL_MECHANISM; an
//! empty name, iterations outside 4096..=16384, an empty salt or salted
//! password → UNACCEPTABLE_CREDENTIAL; deleting a credential that does not
//! exist → RESOURCE_NOT_FOUND. Salts and keys never reach a log line or an
//! answer. A principal without Alter on the cluster gets
//! CLUSTER_AUTHORIZATION_FAILED for every user ([`denied`]).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};

use super::sb;
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;
use crate::security::scram::{
    sanitize_user, ScramCredential, ScramMechanism, UserConfigZnode, MAX_ITERATIONS, MIN_ITERATIONS,
};

/// One user's requested changes, in request order.
enum Change {
    Upsert { mechanism: ScramMechanism, credential: ScramCredential },
    Delete(ScramMechanism),
}

type Refusal = (ErrorCode, String);

pub async fn handle(
    metadata: &MetadataStore,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Users in order of first mention, each with its changes or why it is refused.
    let mut users: Vec<(String, Result<Vec<Change>, Refusal>)> = Vec::new();
    let mut pairs: BTreeMap<(String, i8), usize> = BTreeMap::new();
    let mut entry = |name: &str| -> usize {
        match users.iter().position(|(u, _)| u == name) {
            Some(i) => i,
            None => {
                users.push((name.to_string(), Ok(Vec::new())));
                users.len() - 1
            }
        }
    };
    let mut requested: Vec<(usize, Result<Change, Refusal>)> = Vec::new();
    for d in &req.deletions {
        let name = d.name.to_string();
        let i = entry(&name);
        *pairs.entry((name, d.mechanism)).or_default() += 1;
        requested.push((i, mechanism(d.mechanism).map(Change::Delete)));
    }
    for u in &req.upsertions {
        let name = u.name.to_string();
        let i = entry(&name);
        *pairs.entry((name, u.mechanism)).or_default() += 1;
        let change = mechanism(u.mechanism).and_then(|m| {
            let iterations = u32::try_from(u.iterations).unwrap_or(0);
            if u.iterations < MIN_ITERATIONS as i32 {
                return Err((ErrorCode::UnacceptableCredential, "Too few iterations".to_string()));
            }
            if iterations > MAX_ITERATIONS {
                return Err((ErrorCode::UnacceptableCredential, "Too many iterations".to_string()));
            }
            ScramCredential::from_salted_password(m, &u.salted_password, &u.salt, iterations)
                .map(|credential| Change::Upsert { mechanism: m, credential })
                .map_err(|e| (ErrorCode::UnacceptableCredential, e.to_string()))
        });
        requested.push((i, change));
    }
    // Kafka's order of checks: duplicates, unknown mechanisms, empty names, then the rest.
    for (i, (name, state)) in users.iter_mut().enumerate() {
        let mine = requested.iter().filter(|(owner, _)| *owner == i);
        let refusal = if pairs.iter().any(|((n, _), count)| n == name && *count > 1) {
            Some((ErrorCode::DuplicateResource, "A user credential cannot be altered twice in the same request".into()))
        } else if let Some((_, Err(r))) =
            mine.clone().find(|(_, c)| matches!(c, Err((ErrorCode::UnsupportedSaslMechanism, _))))
        {
            Some(r.clone())
        } else if name.is_empty() {
            Some((ErrorCode::UnacceptableCredential, "Username must not be empty".into()))
        } else {
            mine.clone().find_map(|(_, c)| c.as_ref().err().cloned())
        };
        *state = match refusal {
            Some(r) => Err(r),
            None => Ok(Vec::new()),
        };
    }
    for (i, change) in requested {
        if let (Ok(changes), Ok(change)) = (&mut users[i].1, change) {
            changes.push(change);
        }
    }
    let mut results = Vec::with_capacity(users.len());
    for (name, state) in users {
        let outcome = match state {
            Err(refusal) => Err(refusal),
            Ok(changes) => apply(metadata, &name, changes).await,
        };
        let result = AlterUserScramCredentialsResult::default().with_user(sb(name.clone()));
        results.push(match outcome {
            Ok(()) => result,
            Err((code, message)) => {
                tracing::debug!(user = name, code = code.code(), %message, "SCRAM credential change refused");
                result.with_error_code(code.code()).with_error_message(Some(sb(message)))
            }
        });
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// The answer to a principal without Alter on the cluster: every user named refused.
pub fn denied(req: &AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let mut users: Vec<String> = Vec::new();
    for name in req.deletions.iter().map(|d| &d.name).chain(req.upsertions.iter().map(|u| &u.name)) {
        if !users.iter().any(|u| u == name.as_str()) {
            users.push(name.to_string());
        }
    }
    let results = users
        .into_iter()
        .map(|u| {
            AlterUserScramCredentialsResult::default()
                .with_user(sb(u))
                .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

fn mechanism(code: i8) -> Result<ScramMechanism, Refusal> {
    ScramMechanism::from_type_id(code)
        .ok_or_else(|| (ErrorCode::UnsupportedSaslMechanism, "Unknown SCRAM mechanism".to_string()))
}

/// Reads the user's znode, applies the changes, writes it back with the
/// change notification.
async fn apply(metadata: &MetadataStore, user: &str, changes: Vec<Change>) -> Result<(), Refusal> {
    let server_error = |e: crate::metadata::MetadataError| (ErrorCode::UnknownServerError, e.to_string());
    let sanitized = sanitize_user(user);
    let mut znode = match metadata.read_user_config_data(&sanitized).await.map_err(server_error)? {
        Some(data) => UserConfigZnode::decode(&data).map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))?,
        None => UserConfigZnode::default(),
    };
    for change in &changes {
        if let Change::Delete(m) = change {
            if !znode.config.contains_key(m.name()) {
                return Err((
                    ErrorCode::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".to_string(),
                ));
            }
        }
    }
    for change in changes {
        match change {
            Change::Delete(m) => {
                znode.remove_credential(m);
            }
            Change::Upsert { mechanism, credential } => znode.set_credential(mechanism, &credential),
        }
    }
    metadata.set_user_config(&sanitized, &znode.config).await.map_err(server_error)?;
    tracing::info!(user, "SCRAM credentials altered");
    Ok(())
}
