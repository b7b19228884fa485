//! AlterConfigs (33): replaces the whole override set of a topic
//! (`/config/topics/<t>`) or the dynamic config of a broker
//! (`/config/brokers/<id>`, or `/config/brokers/<default>` for an empty name),
//! each write followed by a `/config/changes` notification; every broker
//! applies the change through its watch. `validate_only` checks and writes
//! nothing.
//!
//! Also the resource checks and the write shared with IncrementalAlterConfigs,
//! with Kafka's (ZooKeeper mode) errors: an unknown topic is
//! UNKNOWN_TOPIC_OR_PARTITION, an unknown topic key INVALID_CONFIG
//! (`Unknown topic config name: x`), a bad value or a key that cannot change
//! at run time INVALID_REQUEST (`Invalid config value for resource
//! ConfigResource(type=TOPIC, name='t'): …`), a broker id other than this
//! broker's INVALID_REQUEST (the admin client sends a broker's resource to that
//! broker; the cluster default goes to any broker).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::sb;
use crate::broker::topics::AdminError;
use crate::broker::Broker;
use crate::config::dynamic::validate_dynamic_broker_configs;
use crate::config::{validate_topic_configs, ConfigError};
use crate::metadata::znode::DEFAULT_ENTITY;
use crate::protocol::ErrorCode;

pub(super) const TOPIC: i8 = 2;
pub(super) const BROKER: i8 = 4;

/// How long an answered change waits to be applied on this broker, so that a
/// DescribeConfigs right after it sees it (best effort; other brokers follow
/// their watches).
const APPLIED_WAIT: Duration = Duration::from_secs(5);

/// What a resource of an alter request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resource {
    Topic(String),
    /// This broker (`Some(id)`) or the cluster-wide default (`None`).
    Broker(Option<i32>),
}

impl Resource {
    /// Kafka's `ConfigResource` rendering, used in error messages.
    fn display(&self) -> String {
        match self {
            Resource::Topic(t) => format!("ConfigResource(type=TOPIC, name='{t}')"),
            Resource::Broker(Some(id)) => format!("ConfigResource(type=BROKER, name='{id}')"),
            Resource::Broker(None) => "ConfigResource(type=BROKER, name='')".to_string(),
        }
    }
}

/// Checks the resource type and name of an alter request.
pub(super) fn resource(broker: &Broker, resource_type: i8, name: &str) -> Result<Resource, AdminError> {
    match resource_type {
        TOPIC => Ok(Resource::Topic(name.to_string())),
        BROKER if name.is_empty() => Ok(Resource::Broker(None)),
        BROKER => match name.parse::<i32>() {
            Ok(id) if id == broker.node_id() => Ok(Resource::Broker(Some(id))),
            Ok(_) => Err(AdminError::new(
                ErrorCode::InvalidRequest,
                format!("Unexpected broker id, expected {}, but received {name}", broker.node_id()),
            )),
            Err(_) => Err(AdminError::new(
                ErrorCode::InvalidRequest,
                format!("Broker id must be an integer, but it is: {name}"),
            )),
        },
        other => Err(AdminError::new(
            ErrorCode::InvalidRequest,
            format!("AlterConfigs is only supported for topics and brokers, but resource type is {}", type_name(other)),
        )),
    }
}

fn type_name(code: i8) -> String {
    match code {
        8 => "BROKER_LOGGER".to_string(),
        other => format!("UNKNOWN({other})"),
    }
}

/// The stored override set of a resource, read from ZooKeeper.
pub(super) async fn stored(broker: &Broker, resource: &Resource) -> Result<BTreeMap<String, String>, AdminError> {
    let read = match resource {
        Resource::Topic(t) => {
            exists(broker, t)?;
            broker.metadata().read_topic_config(t).await
        }
        Resource::Broker(id) => broker.metadata().read_broker_config(&entity(*id)).await,
    };
    read.map_err(AdminError::from)
}

/// The effective value of a key of the resource (what APPEND starts from when
/// nothing is stored).
pub(super) fn effective_value(broker: &Broker, resource: &Resource, key: &str) -> Option<String> {
    match resource {
        Resource::Topic(t) => {
            let topic = broker.metadata().topic(t)?;
            crate::config::TopicConfig::resolve(&topic.configs, &broker.effective_config()).value_of(key)
        }
        Resource::Broker(_) => broker.effective_config().value_of(key),
    }
}

fn entity(id: Option<i32>) -> String {
    id.map_or_else(|| DEFAULT_ENTITY.to_string(), |id| id.to_string())
}

fn exists(broker: &Broker, topic: &str) -> Result<(), AdminError> {
    match broker.metadata().topic(topic) {
        Some(_) => Ok(()),
        None => Err(AdminError::new(ErrorCode::UnknownTopicOrPartition, format!("Topic '{topic}' does not exist."))),
    }
}

/// Validates a resource's complete new override set and, unless
/// `validate_only`, writes it (with its change notification) and waits briefly
/// until this broker applied it.
pub(super) async fn replace(
    broker: &Broker,
    resource: &Resource,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), AdminError> {
    let refused = |e: ConfigError| match e {
        ConfigError::UnknownTopicConfig(_)
        | ConfigError::UnknownBrokerConfig(_)
        | ConfigError::ListOpNotAllowed { .. } => AdminError::new(ErrorCode::InvalidConfig, e.to_string()),
        other => AdminError::new(
            ErrorCode::InvalidRequest,
            format!("Invalid config value for resource {}: {other}", resource.display()),
        ),
    };
    match resource {
        Resource::Topic(t) => {
            exists(broker, t)?;
            validate_topic_configs(&configs).map_err(refused)?;
            if validate_only {
                return Ok(());
            }
            broker.metadata().set_topic_config(t, &configs).await?;
            broker.wait_synced(APPLIED_WAIT, |b| b.metadata().topic(t).is_some_and(|m| m.configs == configs)).await;
        }
        Resource::Broker(id) => {
            validate_dynamic_broker_configs(&configs, id.is_some()).map_err(refused)?;
            if validate_only {
                return Ok(());
            }
            let entity = entity(*id);
            broker.metadata().set_broker_config(&entity, &configs).await?;
            broker
                .wait_synced(APPLIED_WAIT, |b| {
                    b.metadata().view().broker_configs.get(&entity).is_some_and(|c| *c == configs)
                        || (configs.is_empty() && !b.metadata().view().broker_configs.contains_key(&entity))
                })
                .await;
        }
    }
    tracing::info!(resource = %resource.display(), keys = ?configs.keys().collect::<Vec<_>>(), "configs updated");
    Ok(())
}

pub async fn handle(broker: &Broker, req: AlterConfigsRequest, _version: i16) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let name = res.resource_name.to_string();
        let result = AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let outcome = async {
            let resource = resource(broker, res.resource_type, &name)?;
            let mut configs = BTreeMap::new();
            for c in &res.configs {
                // A null value removes nothing here: AlterConfigs replaces the whole set.
                if let Some(v) = &c.value {
                    configs.insert(c.name.to_string(), v.to_string());
                }
            }
            replace(broker, &resource, configs, req.validate_only).await
        };
        responses.push(match outcome.await {
            Ok(()) => result.with_error_code(0).with_error_message(None),
            Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(sb(e.message))),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}
