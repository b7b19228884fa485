//! Dynamic configuration through the admin API: [`Admin::alter_configs`]
//! (AlterConfigs, replaces a resource's whole override set),
//! [`Admin::incremental_alter_configs`] (IncrementalAlterConfigs: SET, DELETE,
//! APPEND, SUBTRACT on single keys), [`Admin::describe_resource_configs`] (DescribeConfigs) with Kafka's
//! synonyms, and [`Admin::describe_cluster`] (DescribeCluster, falling back to
//! Metadata on brokers without it).
//!
//! As Kafka's admin client does, a broker's own resource goes to that broker,
//! and topics and the cluster-wide broker default go to any broker.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest, ApiKey, DescribeClusterRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::{Admin, BrokerInfo, ClusterInfo, ConfigEntryInfo};
use super::connection::Connection;
use super::ClientError;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// What a config change or description is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    Topic(String),
    /// One broker's dynamic config (`/config/brokers/<id>`).
    Broker(i32),
    /// The cluster-wide default broker config (`/config/brokers/<default>`).
    BrokerDefault,
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(t) => (RESOURCE_TOPIC, t.clone()),
            ConfigResource::Broker(id) => (RESOURCE_BROKER, id.to_string()),
            ConfigResource::BrokerDefault => (RESOURCE_BROKER, String::new()),
        }
    }

    /// How errors name it: `topic 't'`, `broker 0`, `the default broker config`.
    pub fn describe(&self) -> String {
        match self {
            ConfigResource::Topic(t) => format!("topic '{t}'"),
            ConfigResource::Broker(id) => format!("broker {id}"),
            ConfigResource::BrokerDefault => "the default broker config".to_string(),
        }
    }
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    /// Removes the override (the key falls back to the next layer).
    Delete(String),
    /// Adds items to a list key.
    Append(String, String),
    /// Removes items from a list key.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn wire(&self) -> (&str, i8, Option<&str>) {
        match self {
            AlterConfigOp::Set(k, v) => (k, 0, Some(v)),
            AlterConfigOp::Delete(k) => (k, 1, None),
            AlterConfigOp::Append(k, v) => (k, 2, Some(v)),
            AlterConfigOp::Subtract(k, v) => (k, 3, Some(v)),
        }
    }
}

/// A synonym of a described config: where else the setting is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonymInfo {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's ConfigSource code (see [`ConfigEntryInfo::source`]).
    pub source: i8,
}

/// A described config with its synonyms, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub entry: ConfigEntryInfo,
    pub synonyms: Vec<ConfigSynonymInfo>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Admin {
    async fn connection_for(&self, resource: &ConfigResource) -> Result<std::sync::Arc<Connection>, ClientError> {
        match resource {
            ConfigResource::Broker(id) => self.cluster.broker_connection(*id).await,
            _ => self.cluster.any_connection().await,
        }
    }

    /// Applies incremental operations to each resource (`validate_only`: only
    /// checks them). Resources are sent one by one; the first refused one is
    /// the error, naming the resource.
    pub async fn incremental_alter_configs(
        &self,
        resources: &[(ConfigResource, Vec<AlterConfigOp>)],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        for (resource, ops) in resources {
            let (resource_type, name) = resource.wire();
            let configs = ops
                .iter()
                .map(|op| {
                    let (key, code, value) = op.wire();
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(sb(key))
                        .with_config_operation(code)
                        .with_value(value.map(sb))
                })
                .collect();
            let req = IncrementalAlterConfigsRequest::default()
                .with_resources(vec![incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(sb(&name))
                    .with_configs(configs)])
                .with_validate_only(validate_only);
            self.cluster
                .retry(|| async {
                    let conn = self.connection_for(resource).await?;
                    let version = conn.version(ApiKey::IncrementalAlterConfigs)?;
                    let resp = conn.call(&req, version).await?;
                    let r = resp
                        .responses
                        .first()
                        .ok_or_else(|| ClientError::protocol(conn.addr(), "empty IncrementalAlterConfigs answer"))?;
                    ClientError::check(r.error_code, r.error_message.as_ref(), || {
                        format!("alter configs of {}", resource.describe())
                    })
                })
                .await?;
        }
        Ok(())
    }

    /// Replaces each resource's whole override set with `configs`
    /// (AlterConfigs; keys left out are removed). `validate_only`: only checks.
    pub async fn alter_configs(
        &self,
        resources: &[(ConfigResource, BTreeMap<String, String>)],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        for (resource, configs) in resources {
            let (resource_type, name) = resource.wire();
            let entries = configs
                .iter()
                .map(|(k, v)| {
                    alter_configs_request::AlterableConfig::default().with_name(sb(k)).with_value(Some(sb(v)))
                })
                .collect();
            let req = AlterConfigsRequest::default()
                .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(sb(&name))
                    .with_configs(entries)])
                .with_validate_only(validate_only);
            self.cluster
                .retry(|| async {
                    let conn = self.connection_for(resource).await?;
                    let version = conn.version(ApiKey::AlterConfigs)?;
                    let resp = conn.call(&req, version).await?;
                    let r = resp
                        .responses
                        .first()
                        .ok_or_else(|| ClientError::protocol(conn.addr(), "empty AlterConfigs answer"))?;
                    ClientError::check(r.error_code, r.error_message.as_ref(), || {
                        format!("alter configs of {}", resource.describe())
                    })
                })
                .await?;
        }
        Ok(())
    }

    /// Every config of a resource with its source and synonyms, sorted by
    /// name (for [`ConfigResource::BrokerDefault`]: only the keys it sets).
    pub async fn describe_resource_configs(
        &self,
        resource: &ConfigResource,
    ) -> Result<Vec<DescribedConfig>, ClientError> {
        let (resource_type, name) = resource.wire();
        self.cluster
            .retry(|| async {
                let conn = self.connection_for(resource).await?;
                let version = conn.version(ApiKey::DescribeConfigs)?;
                let req = DescribeConfigsRequest::default()
                    .with_resources(vec![DescribeConfigsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(sb(&name))
                        .with_configuration_keys(None)])
                    .with_include_synonyms(version >= 1);
                let resp = conn.call(&req, version).await?;
                let result = resp
                    .results
                    .into_iter()
                    .next()
                    .ok_or_else(|| ClientError::protocol(conn.addr(), "empty DescribeConfigs answer"))?;
                ClientError::check(result.error_code, result.error_message.as_ref(), || resource.describe())?;
                let mut out: Vec<DescribedConfig> = result
                    .configs
                    .into_iter()
                    .map(|c| DescribedConfig {
                        entry: ConfigEntryInfo {
                            name: c.name.to_string(),
                            value: c.value.map(|v| v.to_string()),
                            source: c.config_source,
                            is_default: c.config_source == 5,
                            read_only: c.read_only,
                            sensitive: c.is_sensitive,
                        },
                        synonyms: c
                            .synonyms
                            .into_iter()
                            .map(|s| ConfigSynonymInfo {
                                name: s.name.to_string(),
                                value: s.value.map(|v| v.to_string()),
                                source: s.source,
                            })
                            .collect(),
                    })
                    .collect();
                out.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
                Ok(out)
            })
            .await
    }

    /// The cluster id, controller and live brokers (DescribeCluster; Metadata
    /// on brokers that do not serve it).
    pub async fn describe_cluster(&self) -> Result<ClusterInfo, ClientError> {
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                let Ok(version) = conn.version(ApiKey::DescribeCluster) else {
                    return self.cluster().await;
                };
                let req = DescribeClusterRequest::default().with_include_cluster_authorized_operations(false);
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, resp.error_message.as_ref(), || "describe cluster".to_string())?;
                let mut brokers: Vec<BrokerInfo> = resp
                    .brokers
                    .into_iter()
                    .map(|b| BrokerInfo {
                        id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: u16::try_from(b.port).unwrap_or(0),
                        rack: b.rack.map(|r| r.to_string()),
                    })
                    .collect();
                brokers.sort_by_key(|b| b.id);
                Ok(ClusterInfo {
                    cluster_id: Some(resp.cluster_id.to_string()),
                    controller: (resp.controller_id.0 >= 0).then_some(resp.controller_id.0),
                    brokers,
                })
            })
            .await
    }
}
