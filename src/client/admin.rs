//! Cluster administration: create, delete, list and describe topics, grow
//! partitions, read topic and broker configs, look up offsets.
//!
//! CreateTopics, DeleteTopics and CreatePartitions go to the controller named
//! by Metadata and are retried on NOT_CONTROLLER (and network errors) after a
//! metadata refresh, within `request.timeout.ms`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    ListOffsetsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::cluster::Cluster;
use super::{ClientConfig, ClientError, ResponseError};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// -1 = the broker's `num.partitions` (ignored when `assignments` is set).
    pub partitions: i32,
    /// -1 = the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic config overrides, e.g. `retention.ms`.
    pub configs: BTreeMap<String, String>,
    /// Explicit replica assignment: partition → broker ids (leader first).
    pub assignments: BTreeMap<i32, Vec<i32>>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and the broker's replication factor.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
            assignments: BTreeMap::new(),
        }
    }

    /// Sets a topic config override.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// `None` while the partition has no leader.
    pub leader: Option<i32>,
    /// -1 when the broker does not report epochs.
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// A topic with its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: Option<uuid::Uuid>,
    pub internal: bool,
    /// Sorted by partition id.
    pub partitions: Vec<PartitionInfo>,
}

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// The cluster's identity, controller and brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    /// Sorted by broker id.
    pub brokers: Vec<BrokerInfo>,
}

/// One config entry of a topic or broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntryInfo {
    pub name: String,
    /// `None` for sensitive values and unset ones.
    pub value: Option<String>,
    /// Kafka's ConfigSource: 1 dynamic topic, 2 dynamic broker, 3 dynamic
    /// default broker, 4 static broker, 5 default, 6 dynamic broker logger.
    pub source: i8,
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
}

/// Which offset [`Admin::list_offsets`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the offset the next record will get).
    Latest,
    /// The offset of the record with the largest timestamp.
    MaxTimestamp,
    /// The first offset whose timestamp is at least this (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The ListOffsets wire value.
    pub(crate) fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(ts) => ts,
        }
    }
}

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(sb(s))
}

pub(super) fn timeout_ms(cluster: &Cluster) -> i32 {
    i32::try_from(cluster.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
}

/// An admin client. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Admin {
    pub(super) cluster: Arc<Cluster>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("bootstrap", &self.cluster.config.bootstrap_servers).finish_non_exhaustive()
    }
}

impl Admin {
    /// Connects to the cluster (one Metadata round trip to check it is reachable).
    pub async fn connect(config: ClientConfig) -> Result<Admin, ClientError> {
        let cluster = Cluster::new(config, false)?;
        cluster.retry(|| cluster.refresh()).await?;
        Ok(Admin { cluster })
    }

    /// Connects with connection security built by the caller (a broker's
    /// inter-broker settings) rather than from `config`'s `security.*` keys.
    pub async fn connect_with_security(config: ClientConfig, security: super::Security) -> Result<Admin, ClientError> {
        let cluster = Cluster::with_security(config, false, security)?;
        cluster.retry(|| cluster.refresh()).await?;
        Ok(Admin { cluster })
    }

    /// Creates a topic (or only validates the request). An existing topic is
    /// an error whose [`ClientError::code`] is `TopicAlreadyExists`.
    pub async fn create_topic(&self, topic: NewTopic, validate_only: bool) -> Result<(), ClientError> {
        let configs = topic
            .configs
            .iter()
            .map(|(k, v)| CreatableTopicConfig::default().with_name(sb(k)).with_value(Some(sb(v))))
            .collect::<Vec<_>>();
        let assignments = topic
            .assignments
            .iter()
            .map(|(p, brokers)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(*p)
                    .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
            })
            .collect::<Vec<_>>();
        let (partitions, rf) =
            if assignments.is_empty() { (topic.partitions, topic.replication_factor) } else { (-1, -1) };
        let creatable = CreatableTopic::default()
            .with_name(topic_name(&topic.name))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_assignments(assignments)
            .with_configs(configs);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![creatable])
            .with_timeout_ms(timeout_ms(&self.cluster))
            .with_validate_only(validate_only);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::CreateTopics)?;
                let resp = conn.call(&req, version).await?;
                let result = resp.topics.iter().find(|t| t.name.0.as_str() == topic.name).ok_or_else(|| {
                    ClientError::protocol(conn.addr(), format!("CreateTopics answer lacks topic '{}'", topic.name))
                })?;
                ClientError::check(result.error_code, result.error_message.as_ref(), || {
                    format!("create topic '{}'", topic.name)
                })
            })
            .await
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::DeleteTopics)?;
                let mut req = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms(&self.cluster));
                if version >= 6 {
                    req.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
                } else {
                    req.topic_names = vec![topic_name(name)];
                }
                let resp = conn.call(&req, version).await?;
                let result = resp
                    .responses
                    .iter()
                    .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                    .or(resp.responses.first())
                    .ok_or_else(|| ClientError::protocol(conn.addr(), "empty DeleteTopics answer"))?;
                ClientError::check(result.error_code, result.error_message.as_ref(), || {
                    format!("delete topic '{name}'")
                })
            })
            .await
    }

    /// Topic names, sorted; internal topics (`__consumer_offsets`, …) only when asked.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>, ClientError> {
        let md = self.cluster.retry(|| self.cluster.fetch_metadata(None, false)).await?;
        let mut names: Vec<String> = md
            .topics
            .into_iter()
            .filter_map(|(name, t)| match t {
                Ok(t) if include_internal || !t.internal => Some(name),
                _ => None,
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Describes the named topics (or all, when `None`), sorted by name. An
    /// unknown name is an UNKNOWN_TOPIC_OR_PARTITION error.
    pub async fn describe_topics(&self, names: Option<&[String]>) -> Result<Vec<TopicDescription>, ClientError> {
        let md = self.cluster.retry(|| self.cluster.fetch_metadata(names, false)).await?;
        let mut out = Vec::with_capacity(md.topics.len());
        if let Some(names) = names {
            for name in names {
                match md.topics.get(name) {
                    Some(Ok(t)) => out.push(t.clone()),
                    Some(Err(ClientError::Kafka { code: ResponseError::UnknownTopicOrPartition, .. })) | None => {
                        return Err(ClientError::kafka(
                            ResponseError::UnknownTopicOrPartition,
                            Some(format!("Topic '{name}' does not exist.")),
                            format!("topic '{name}'"),
                        ))
                    }
                    Some(Err(e)) => return Err(e.clone()),
                }
            }
        } else {
            out.extend(md.topics.into_values().filter_map(Result::ok));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    /// Every config of a topic with its value and source.
    pub async fn describe_topic_configs(&self, name: &str) -> Result<Vec<ConfigEntryInfo>, ClientError> {
        self.cluster
            .retry(|| async {
                let conn = self.cluster.any_connection().await?;
                self.describe_configs(&conn, RESOURCE_TOPIC, name).await
            })
            .await
    }

    /// Every config of a broker; the request goes to that broker.
    pub async fn describe_broker_configs(&self, broker_id: i32) -> Result<Vec<ConfigEntryInfo>, ClientError> {
        self.cluster
            .retry(|| async {
                let conn = self.cluster.broker_connection(broker_id).await?;
                self.describe_configs(&conn, RESOURCE_BROKER, &broker_id.to_string()).await
            })
            .await
    }

    async fn describe_configs(
        &self,
        conn: &super::connection::Connection,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<ConfigEntryInfo>, ClientError> {
        let version = conn.version(ApiKey::DescribeConfigs)?;
        let req = DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(name))
            .with_configuration_keys(None)]);
        let resp = conn.call(&req, version).await?;
        let result = resp
            .results
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::protocol(conn.addr(), "empty DescribeConfigs answer"))?;
        let what = if resource_type == RESOURCE_TOPIC { "topic" } else { "broker" };
        ClientError::check(result.error_code, result.error_message.as_ref(), || format!("{what} '{name}'"))?;
        let mut entries: Vec<ConfigEntryInfo> = result
            .configs
            .into_iter()
            .map(|c| ConfigEntryInfo {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: c.config_source,
                is_default: c.config_source == SOURCE_DEFAULT,
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(&self, name: &str, total: i32) -> Result<(), ClientError> {
        let req = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(total)
                .with_assignments(None)])
            .with_timeout_ms(timeout_ms(&self.cluster))
            .with_validate_only(false);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::CreatePartitions)?;
                let resp = conn.call(&req, version).await?;
                let result = resp
                    .results
                    .iter()
                    .find(|r| r.name.0.as_str() == name)
                    .ok_or_else(|| ClientError::protocol(conn.addr(), "CreatePartitions answer lacks the topic"))?;
                ClientError::check(result.error_code, result.error_message.as_ref(), || {
                    format!("create partitions for topic '{name}'")
                })
            })
            .await
    }

    /// Cluster id, controller and brokers.
    pub async fn cluster(&self) -> Result<ClusterInfo, ClientError> {
        let md = self.cluster.retry(|| self.cluster.fetch_metadata(Some(&[]), false)).await?;
        Ok(ClusterInfo {
            cluster_id: md.cluster_id,
            controller: md.controller,
            brokers: md.brokers.into_values().collect(),
        })
    }

    /// Looks up an offset of one partition at its leader; -1 when no record
    /// matches a timestamp.
    pub async fn list_offsets(&self, topic: &str, partition: i32, spec: OffsetSpec) -> Result<i64, ClientError> {
        self.cluster.add_interest(topic);
        list_offset(&self.cluster, topic, partition, spec.wire(), 0).await
    }
}

/// ListOffsets for one partition at its leader, following leader changes.
pub(crate) async fn list_offset(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation_level: i8,
) -> Result<i64, ClientError> {
    let deadline = std::time::Instant::now() + cluster.config.request_timeout;
    let mut backoff = cluster.config.retry_backoff;
    loop {
        let result = list_offset_once(cluster, topic, partition, timestamp, isolation_level).await;
        match result {
            Ok(offset) => return Ok(offset),
            // Right after creation a partition may be unknown or leaderless for a moment.
            Err(e)
                if (super::cluster::is_transient(&e) || e.code() == Some(ResponseError::UnknownTopicOrPartition))
                    && std::time::Instant::now() + backoff < deadline =>
            {
                tokio::time::sleep(backoff).await;
                let _ = cluster.refresh().await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn list_offset_once(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation_level: i8,
) -> Result<i64, ClientError> {
    let context = || format!("partition {topic}-{partition}");
    let mut md = cluster.snapshot();
    if !md.topics.contains_key(topic) {
        cluster.refresh().await?;
        md = cluster.snapshot();
    }
    match md.topics.get(topic) {
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(t)) if !t.partitions.iter().any(|p| p.partition == partition) => {
            return Err(ClientError::kafka(
                ResponseError::UnknownTopicOrPartition,
                Some(format!("Partition {partition} of topic '{topic}' does not exist.")),
                context(),
            ))
        }
        _ => {}
    }
    let leader = md
        .leader(topic, partition)
        .ok_or_else(|| ClientError::kafka(ResponseError::LeaderNotAvailable, None, context()))?;
    let conn = cluster.broker_connection(leader).await?;
    let version = conn.version(ApiKey::ListOffsets)?;
    if timestamp == -3 && version < 7 {
        return Err(ClientError::protocol(conn.addr(), "the broker does not support max-timestamp lookups"));
    }
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(if version >= 2 { isolation_level } else { 0 })
        .with_topics(vec![ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![
            ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp),
        ])]);
    let resp = conn.call(&req, version).await?;
    let p = resp
        .topics
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| ClientError::protocol(conn.addr(), "ListOffsets answer lacks the partition"))?;
    ClientError::check(p.error_code, None, context)?;
    Ok(p.offset)
}
