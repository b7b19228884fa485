//! Client quotas through the admin API: [`Admin::describe_client_quotas`]
//! (DescribeClientQuotas) and [`Admin::alter_client_quotas`] (AlterClientQuotas),
//! as Java's admin client sends them (any broker answers; ZooKeeper-mode brokers
//! write the quota znodes themselves).
//!
//! An entity is a list of (type, name) components: type `user` or `client-id`,
//! name `None` for the default.

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, ApiKey, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::ClientError;

/// A quota entity: (entity type, name; `None` = the default), e.g.
/// `[("user", Some("alice")), ("client-id", None)]`.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// What a filter component matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// This name.
    Exact(String),
    /// The `<default>` entity.
    Default,
    /// Any entity of the type.
    Any,
}

/// A change to one quota key: `Some(value)` sets it, `None` removes it.
pub type QuotaOp = (String, Option<f64>);

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Admin {
    /// The quotas of the entities the filter matches (Kafka's `ClientQuotaFilter`):
    /// per component (entity type, match); `strict` leaves out entities with a
    /// type the filter does not mention. Entities with their quota values.
    pub async fn describe_client_quotas(
        &self,
        components: &[(String, QuotaMatch)],
        strict: bool,
    ) -> Result<Vec<(QuotaEntity, Vec<(String, f64)>)>, ClientError> {
        let components = components
            .iter()
            .map(|(t, m)| {
                let (match_type, name) = match m {
                    QuotaMatch::Exact(n) => (0, Some(sb(n))),
                    QuotaMatch::Default => (1, None),
                    QuotaMatch::Any => (2, None),
                };
                ComponentData::default().with_entity_type(sb(t)).with_match_type(match_type).with_match(name)
            })
            .collect();
        let req = DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::DescribeClientQuotas)?;
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || "describe client quotas".into())?;
                Ok(resp
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| {
                        let entity = e
                            .entity
                            .into_iter()
                            .map(|c| (c.entity_type.to_string(), c.entity_name.map(|n| n.to_string())))
                            .collect();
                        let values = e.values.into_iter().map(|v| (v.key.to_string(), v.value)).collect();
                        (entity, values)
                    })
                    .collect())
            })
            .await
    }

    /// Applies quota changes per entity; per entity (in request order) whether it was applied.
    pub async fn alter_client_quotas(
        &self,
        alterations: &[(QuotaEntity, Vec<QuotaOp>)],
        validate_only: bool,
    ) -> Result<Vec<(QuotaEntity, Result<(), ClientError>)>, ClientError> {
        let entries = alterations
            .iter()
            .map(|(entity, ops)| {
                EntryData::default()
                    .with_entity(
                        entity
                            .iter()
                            .map(|(t, n)| {
                                EntityData::default().with_entity_type(sb(t)).with_entity_name(n.as_deref().map(sb))
                            })
                            .collect(),
                    )
                    .with_ops(
                        ops.iter()
                            .map(|(k, v)| {
                                OpData::default().with_key(sb(k)).with_value(v.unwrap_or(0.0)).with_remove(v.is_none())
                            })
                            .collect(),
                    )
            })
            .collect();
        let req = AlterClientQuotasRequest::default().with_entries(entries).with_validate_only(validate_only);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let version = conn.version(ApiKey::AlterClientQuotas)?;
                let resp = conn.call(&req, version).await?;
                Ok(resp
                    .entries
                    .into_iter()
                    .map(|e| {
                        let entity: QuotaEntity = e
                            .entity
                            .into_iter()
                            .map(|c| (c.entity_type.to_string(), c.entity_name.map(|n| n.to_string())))
                            .collect();
                        let describe = describe_entity(&entity);
                        let outcome = ClientError::check(e.error_code, e.error_message.as_ref(), || describe);
                        (entity, outcome)
                    })
                    .collect())
            })
            .await
    }
}

/// Kafka's words for an entity: `user-principal 'u', client-id 'c'`,
/// `the default client-id`.
pub fn describe_entity(entity: &QuotaEntity) -> String {
    entity
        .iter()
        .map(|(t, n)| {
            let type_name = match t.as_str() {
                "user" => "user-principal",
                other => other,
            };
            match n {
                Some(n) => format!("{type_name} '{n}'"),
                None => format!("the default {type_name}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
