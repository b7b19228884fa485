//! AlterClientQuotas (49, v0–1): set and remove `producer_byte_rate`,
//! `consumer_byte_rate` and `request_percentage` of a user, a client id, a user's
//! client id, or their `<default>`s, as Kafka's ZooKeeper-mode admin manager does:
//! the entity's znode (`/config/clients/<c>`, `/config/users/<u>`,
//! `/config/users/<u>/clients/<c>`) is read, changed and written back with a
//! change notification; the other keys of a user's znode (SCRAM credentials) are
//! kept. Each entry succeeds or fails alone, with Kafka's errors: an unknown key →
//! INVALID_REQUEST "Invalid configuration key k"; a byte rate that is not a whole
//! number → "Configuration k must be a Long value"; a value not above zero →
//! INVALID_REQUEST; an empty entity → "Invalid empty client quota entity".
//! `validate_only` checks without writing. Without AlterConfigs on the cluster every
//! entry is CLUSTER_AUTHORIZATION_FAILED ([`denied`]).

use kafka_protocol::messages::alter_client_quotas_request::EntityData as RequestEntity;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use super::sb;
use crate::metadata::quotas::{self as mq, QuotaEntity, QuotaName};
use crate::metadata::MetadataStore;
use crate::protocol::ErrorCode;

/// Kafka's entity type names.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";

type Refusal = (ErrorCode, String);

/// The quota entity of a request's components (Kafka's checks and messages).
pub fn parse_entity<'a>(
    components: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<QuotaEntity, Refusal> {
    let invalid = |m: String| (ErrorCode::InvalidRequest, m);
    let mut entity = QuotaEntity { user: None, client: None };
    for (entity_type, name) in components {
        let name = name.map_or(QuotaName::Default, |n| QuotaName::Named(n.to_string()));
        let side = match entity_type {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client,
            "" => return Err(invalid("Unexpected empty quota entity type".into())),
            other => {
                return Err((ErrorCode::UnsupportedVersion, format!("Custom entity type '{other}' not supported")));
            }
        };
        if side.is_some() {
            return Err(invalid(format!("Duplicate {entity_type} entity type")));
        }
        *side = Some(name);
    }
    if entity.user.is_none() && entity.client.is_none() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    Ok(entity)
}

/// The stored text of a quota value, or Kafka's refusal.
pub fn quota_value(key: &str, value: f64) -> Result<String, Refusal> {
    let invalid = |m: String| (ErrorCode::InvalidRequest, m);
    if !mq::QUOTA_KEYS.contains(&key) {
        return Err(invalid(format!("Invalid configuration key {key}")));
    }
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(format!("Invalid value {value} for configuration {key}: value must be positive")));
    }
    if key == mq::REQUEST_PERCENTAGE {
        // A DOUBLE config: Java's Double.toString.
        return Ok(if value.fract() == 0.0 && value.abs() < 1e7 { format!("{value:.1}") } else { value.to_string() });
    }
    let epsilon = 1e-6;
    let long = (value + epsilon).floor();
    if (long - value).abs() > epsilon || long > i64::MAX as f64 {
        return Err(invalid(format!("Configuration {key} must be a Long value")));
    }
    Ok(format!("{}", long as i64))
}

fn response_entity(entity: &[RequestEntity]) -> Vec<EntityData> {
    entity
        .iter()
        .map(|e| EntityData::default().with_entity_type(e.entity_type.clone()).with_entity_name(e.entity_name.clone()))
        .collect()
}

pub async fn handle(metadata: &MetadataStore, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let mut entries = Vec::with_capacity(req.entries.len());
    for entry in &req.entries {
        let result = alter(metadata, entry, req.validate_only).await;
        if let Err((code, message)) = &result {
            tracing::info!(?code, %message, "client quota alteration refused");
        }
        let (code, message) = match result {
            Ok(()) => (0, None),
            Err((code, message)) => (code.code(), Some(sb(message))),
        };
        entries.push(
            EntryData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(response_entity(&entry.entity)),
        );
    }
    AlterClientQuotasResponse::default().with_entries(entries)
}

async fn alter(
    metadata: &MetadataStore,
    entry: &kafka_protocol::messages::alter_client_quotas_request::EntryData,
    validate_only: bool,
) -> Result<(), Refusal> {
    let entity = parse_entity(entry.entity.iter().map(|e| (e.entity_type.as_str(), e.entity_name.as_deref())))?;
    let server = |e: crate::metadata::MetadataError| (ErrorCode::UnknownServerError, e.to_string());
    let mut config = metadata.read_quota_entity_config(&entity).await.map_err(server)?.unwrap_or_default();
    for op in &entry.ops {
        let key = op.key.as_str();
        if op.remove {
            config.remove(key);
        } else {
            config.insert(key.to_string(), quota_value(key, op.value)?);
        }
    }
    if validate_only {
        return Ok(());
    }
    metadata.set_quota_config(&entity, &config).await.map_err(server)
}

/// Every entry refused: the principal may not alter the cluster's configs.
pub fn denied(req: &AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let entries = req
        .entries
        .iter()
        .map(|e| {
            EntryData::default()
                .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
                .with_error_message(Some(sb("Cluster authorization failed.")))
                .with_entity(response_entity(&e.entity))
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_and_entities_as_kafka_checks_them() {
        assert_eq!(quota_value("producer_byte_rate", 1024.0).unwrap(), "1024");
        assert_eq!(quota_value("request_percentage", 50.0).unwrap(), "50.0");
        assert_eq!(quota_value("request_percentage", 12.5).unwrap(), "12.5");
        assert_eq!(
            quota_value("producer_byte_rate", 10.5).unwrap_err().1,
            "Configuration producer_byte_rate must be a Long value"
        );
        assert_eq!(quota_value("bogus", 1.0).unwrap_err().1, "Invalid configuration key bogus");
        assert!(quota_value("consumer_byte_rate", -1.0).is_err());
        let e = parse_entity([("user", Some("u")), ("client-id", None)]).unwrap();
        assert_eq!(e.entity_path().unwrap(), "users/u/clients/<default>");
        assert_eq!(parse_entity([]).unwrap_err().1, "Invalid empty client quota entity");
        assert_eq!(parse_entity([("user", Some("a")), ("user", Some("b"))]).unwrap_err().0, ErrorCode::InvalidRequest);
        assert_eq!(parse_entity([("ip", Some("1.2.3.4"))]).unwrap_err().0, ErrorCode::UnsupportedVersion);
    }
}
