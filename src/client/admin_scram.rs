//! SCRAM credentials through the admin API:
//! [`Admin::describe_user_scram_credentials`] (DescribeUserScramCredentials:
//! mechanisms and iterations, never secrets) and
//! [`Admin::alter_user_scram_credentials`] (AlterUserScramCredentials).
//!
//! As Kafka's admin client, the client salts and hashes: an upsert sends a
//! fresh random 32-byte salt and the salted password `Hi(password, salt, i)`,
//! so the password itself never leaves the client. Alterations go to the
//! controller, descriptions to any broker, as Java's admin client sends them.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, ApiKey, DescribeUserScramCredentialsRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::ClientError;
use crate::security::password::Password;
pub use crate::security::scram::ScramMechanism;
use crate::security::scram::{salted_password, MAX_ITERATIONS, MIN_ITERATIONS};

/// One stored credential of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    pub mechanism: ScramMechanism,
    pub iterations: i32,
}

/// A change to a user's SCRAM credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserScramCredentialAlteration {
    /// Adds or replaces the credential of `user` for `mechanism`.
    Upsert { user: String, mechanism: ScramMechanism, iterations: u32, password: Password },
    /// Removes the credential of `user` for `mechanism`.
    Delete { user: String, mechanism: ScramMechanism },
}

impl UserScramCredentialAlteration {
    fn user(&self) -> &str {
        match self {
            UserScramCredentialAlteration::Upsert { user, .. } | UserScramCredentialAlteration::Delete { user, .. } => {
                user
            }
        }
    }
}

/// Per user: what it has, or why it could not be described / altered.
pub type PerUser<T> = Vec<(String, Result<T, ClientError>)>;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Admin {
    /// The SCRAM credentials of `users` (`None`: every user that has one), in
    /// the broker's order. A user named but without credentials is a
    /// `RESOURCE_NOT_FOUND` error in its entry.
    pub async fn describe_user_scram_credentials(
        &self,
        users: Option<&[String]>,
    ) -> Result<PerUser<Vec<ScramCredentialInfo>>, ClientError> {
        let req = DescribeUserScramCredentialsRequest::default()
            .with_users(users.map(|us| us.iter().map(|u| UserName::default().with_name(sb(u))).collect()));
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::DescribeUserScramCredentials)?;
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || {
                    "describe SCRAM credentials".to_string()
                })?;
                let mut out = Vec::with_capacity(resp.results.len());
                for r in resp.results {
                    let user = r.user.to_string();
                    let outcome =
                        ClientError::check(r.error_code, r.error_message.as_ref(), || format!("user '{user}'"))
                            .and_then(|()| {
                                r.credential_infos
                                    .iter()
                                    .map(|c| {
                                        let mechanism = ScramMechanism::from_type_id(c.mechanism).ok_or_else(|| {
                                            ClientError::protocol(
                                                conn.addr(),
                                                format!("unknown SCRAM mechanism {}", c.mechanism),
                                            )
                                        })?;
                                        Ok(ScramCredentialInfo { mechanism, iterations: c.iterations })
                                    })
                                    .collect::<Result<Vec<_>, ClientError>>()
                            });
                    out.push((user, outcome));
                }
                Ok(out)
            })
            .await
    }

    /// Applies the alterations; per user (in order of first mention) whether
    /// its alterations were applied. An upsert's iterations must be within
    /// 4096..=16384 (checked here before anything is sent).
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: &[UserScramCredentialAlteration],
    ) -> Result<PerUser<()>, ClientError> {
        let mut deletions = Vec::new();
        let mut upsertions = Vec::new();
        for a in alterations {
            match a {
                UserScramCredentialAlteration::Delete { user, mechanism } => deletions
                    .push(ScramCredentialDeletion::default().with_name(sb(user)).with_mechanism(mechanism.type_id())),
                UserScramCredentialAlteration::Upsert { user, mechanism, iterations, password } => {
                    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(iterations) {
                        return Err(ClientError::Config(format!(
                            "{mechanism} iterations for user '{user}' must be between {MIN_ITERATIONS} and \
                             {MAX_ITERATIONS}, not {iterations}"
                        )));
                    }
                    let mut salt = [0u8; 32];
                    rand::fill(&mut salt[..]);
                    let salted = salted_password(*mechanism, password.expose(), &salt, *iterations);
                    upsertions.push(
                        ScramCredentialUpsertion::default()
                            .with_name(sb(user))
                            .with_mechanism(mechanism.type_id())
                            .with_iterations(i32::try_from(*iterations).unwrap_or(i32::MAX))
                            .with_salt(salt.to_vec().into())
                            .with_salted_password(salted.into()),
                    );
                }
            }
        }
        if alterations.is_empty() {
            return Ok(Vec::new());
        }
        let req = AlterUserScramCredentialsRequest::default().with_deletions(deletions).with_upsertions(upsertions);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::AlterUserScramCredentials)?;
                let resp = conn.call(&req, version).await?;
                let mut out: PerUser<()> = Vec::new();
                for a in alterations {
                    if out.iter().any(|(u, _)| u == a.user()) {
                        continue;
                    }
                    let result = resp.results.iter().find(|r| r.user.as_str() == a.user()).ok_or_else(|| {
                        ClientError::protocol(
                            conn.addr(),
                            format!("no AlterUserScramCredentials result for user '{}'", a.user()),
                        )
                    })?;
                    let outcome = ClientError::check(result.error_code, result.error_message.as_ref(), || {
                        format!("user '{}'", a.user())
                    });
                    out.push((a.user().to_string(), outcome));
                }
                Ok(out)
            })
            .await
    }
}
