//! DescribeClientQuotas (48, v0–1): the quotas of the entities a filter matches, read
//! from ZooKeeper, as Kafka's ZooKeeper-mode admin manager answers it. Each filter
//! component names an entity type (`user`, `client-id`) and matches a name exactly
//! (match type 0), the `<default>` (1) or any name (2); with `strict`, entities with
//! a side the filter does not mention are left out. Entities without quota keys are
//! never listed. Without DescribeConfigs on the cluster the answer is
//! CLUSTER_AUTHORIZATION_FAILED ([`denied`]).

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::alter_client_quotas::{CLIENT_ID, USER};
use super::sb;
use crate::metadata::quotas::{QuotaEntity, QuotaName};
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;

/// What a filter component matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Exact(String),
    Default,
    Any,
}

/// Whether one side of an entity passes its component (Kafka's rules).
fn matches(component: Option<&Match>, side: Option<&QuotaName>, strict: bool) -> bool {
    match component {
        Some(Match::Exact(n)) => side == Some(&QuotaName::Named(n.clone())),
        Some(Match::Default) => side == Some(&QuotaName::Default),
        Some(Match::Any) => side.is_some(),
        None => side.is_none() || !strict,
    }
}

/// The entities of `entity` that pass the filter.
pub fn filter(entity: &QuotaEntity, user: Option<&Match>, client: Option<&Match>, strict: bool) -> bool {
    matches(user, entity.user.as_ref(), strict) && matches(client, entity.client.as_ref(), strict)
}

fn error(code: ErrorCode, message: String) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse::default().with_error_code(code.code()).with_error_message(Some(sb(message)))
}

pub async fn handle(metadata: &MetadataStore, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    let mut user = None;
    let mut client = None;
    for c in &req.components {
        let m = match c.match_type {
            0 => Match::Exact(c._match.as_deref().unwrap_or_default().to_string()),
            1 => Match::Default,
            2 => Match::Any,
            other => return error(ErrorCode::InvalidRequest, format!("Unexpected match type {other}")),
        };
        let slot = match c.entity_type.as_str() {
            USER => &mut user,
            CLIENT_ID => &mut client,
            "" => return error(ErrorCode::InvalidRequest, "Unexpected empty filter component entity type".into()),
            other => {
                return error(ErrorCode::UnsupportedVersion, format!("Custom entity type '{other}' not supported"));
            }
        };
        if slot.is_some() {
            let which = if c.entity_type.as_str() == USER { "user" } else { "client" };
            return error(ErrorCode::InvalidRequest, format!("Duplicate {which} filter component entity type"));
        }
        *slot = Some(m);
    }
    let all = match metadata.read_all_quotas().await {
        Ok(all) => all,
        Err(e) => return error(ErrorCode::UnknownServerError, e.to_string()),
    };
    let entries = all
        .into_iter()
        .filter(|(entity, values)| !values.is_empty() && filter(entity, user.as_ref(), client.as_ref(), req.strict))
        .map(|(entity, values)| {
            let side = |t: &str, n: &QuotaName| {
                EntityData::default().with_entity_type(sb(t)).with_entity_name(n.name().map(sb))
            };
            let mut e = Vec::new();
            e.extend(entity.user.as_ref().map(|n| side(USER, n)));
            e.extend(entity.client.as_ref().map(|n| side(CLIENT_ID, n)));
            let values = values.into_iter().map(|(k, v)| ValueData::default().with_key(sb(k)).with_value(v)).collect();
            EntryData::default().with_entity(e).with_values(values)
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

/// The principal may not describe the cluster's configs.
pub fn denied() -> DescribeClientQuotasResponse {
    error(ErrorCode::ClusterAuthorizationFailed, "Cluster authorization failed.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_and_lenient_filters() {
        let u = QuotaEntity::user(QuotaName::Named("u".into()));
        let uc = QuotaEntity { user: Some(QuotaName::Named("u".into())), client: Some(QuotaName::Default) };
        let c = QuotaEntity::client(QuotaName::Named("c".into()));
        let exact = Match::Exact("u".into());
        assert!(filter(&u, Some(&exact), None, true));
        assert!(!filter(&uc, Some(&exact), None, true));
        assert!(filter(&uc, Some(&exact), None, false));
        assert!(!filter(&c, Some(&exact), None, false));
        assert!(filter(&uc, Some(&Match::Any), Some(&Match::Default), true));
        assert!(filter(&c, None, None, false));
        assert!(!filter(&c, None, None, true));
    }
}
