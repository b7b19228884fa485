//! The data side of the admin client: [`Admin::delete_records`] (DeleteRecords
//! at each partition's leader), [`Admin::describe_log_dirs`] and
//! [`Admin::alter_replica_log_dirs`] (one broker's log dirs), and
//! [`Admin::broker_api_versions`] (one broker's ApiVersions ranges, with the
//! versions this client would use), for the operator tools built on them.

use std::collections::BTreeMap;
use std::time::Instant;

use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, ApiKey, ApiVersionsRequest, DeleteRecordsRequest, DescribeLogDirsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::{timeout_ms, Admin};
use super::{ClientError, ResponseError};

/// One partition's DeleteRecords outcome: its new low watermark, or the error.
#[derive(Debug, Clone)]
pub struct DeleteRecordsResult {
    pub topic: String,
    pub partition: i32,
    pub low_watermark: Result<i64, ClientError>,
}

/// One replica in a log dir, as DescribeLogDirs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirReplica {
    pub topic: String,
    pub partition: i32,
    pub size: i64,
    pub offset_lag: i64,
    pub is_future: bool,
}

/// One log dir of a broker.
#[derive(Debug, Clone)]
pub struct LogDirInfo {
    pub path: String,
    /// `None`, or the error that took the dir offline (KAFKA_STORAGE_ERROR).
    pub error: Option<ClientError>,
    pub replicas: Vec<LogDirReplica>,
    /// −1 when the broker does not say (before v4).
    pub total_bytes: i64,
    pub usable_bytes: i64,
}

/// One API of a broker's ApiVersions answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    pub api_key: i16,
    pub min: i16,
    pub max: i16,
    /// The version this client would speak: the highest both support.
    pub usable: Option<i16>,
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

impl Admin {
    /// Moves the log start offset of each `(topic, partition, offset)` to
    /// `offset` (−1: the high watermark), at each partition's leader, retrying
    /// leader changes within `request.timeout.ms`. Results come in topic and
    /// partition order.
    pub async fn delete_records(
        &self,
        offsets: &[(String, i32, i64)],
    ) -> Result<Vec<DeleteRecordsResult>, ClientError> {
        for (topic, _, _) in offsets {
            self.cluster.add_interest(topic);
        }
        let deadline = Instant::now() + self.cluster.config.request_timeout;
        let mut backoff = self.cluster.config.retry_backoff;
        let mut pending: BTreeMap<(String, i32), i64> = offsets.iter().map(|(t, p, o)| ((t.clone(), *p), *o)).collect();
        let mut done: BTreeMap<(String, i32), Result<i64, ClientError>> = BTreeMap::new();
        self.cluster.refresh().await?;
        loop {
            let md = self.cluster.snapshot();
            let mut by_leader: BTreeMap<i32, Vec<(String, i32, i64)>> = BTreeMap::new();
            let mut retry: Vec<((String, i32), ClientError)> = Vec::new();
            for ((topic, partition), offset) in &pending {
                let context = format!("partition {topic}-{partition}");
                match md.topics.get(topic) {
                    Some(Err(e)) => retry.push(((topic.clone(), *partition), e.clone())),
                    Some(Ok(t)) if !t.partitions.iter().any(|p| p.partition == *partition) => {
                        let err = ClientError::kafka(
                            ResponseError::UnknownTopicOrPartition,
                            Some("This server does not host this topic-partition.".into()),
                            context,
                        );
                        retry.push(((topic.clone(), *partition), err));
                    }
                    _ => match md.leader(topic, *partition) {
                        Some(leader) => by_leader.entry(leader).or_default().push((topic.clone(), *partition, *offset)),
                        None => retry.push((
                            (topic.clone(), *partition),
                            ClientError::kafka(ResponseError::LeaderNotAvailable, None, context),
                        )),
                    },
                }
            }
            for (leader, parts) in by_leader {
                match self.delete_records_at(leader, &parts).await {
                    Ok(results) => retry.extend(results.into_iter().filter_map(|(tp, r)| match r {
                        Ok(low) => {
                            done.insert(tp, Ok(low));
                            None
                        }
                        Err(e) => Some((tp, e)),
                    })),
                    Err(e) => retry.extend(parts.into_iter().map(|(t, p, _)| ((t, p), e.clone()))),
                }
            }
            // Leader changes are retried; an unknown topic or partition is final at once, as
            // Kafka's admin client reports it from the metadata.
            let retriable = super::cluster::is_transient;
            let give_up = Instant::now() + backoff >= deadline;
            for (tp, e) in retry {
                if give_up || !retriable(&e) {
                    done.insert(tp, Err(e));
                }
            }
            pending.retain(|tp, _| !done.contains_key(tp));
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(backoff).await;
            let _ = self.cluster.refresh().await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
        }
        Ok(done
            .into_iter()
            .map(|((topic, partition), low_watermark)| DeleteRecordsResult { topic, partition, low_watermark })
            .collect())
    }

    /// One DeleteRecords request to `leader`.
    #[allow(clippy::type_complexity)]
    async fn delete_records_at(
        &self,
        leader: i32,
        parts: &[(String, i32, i64)],
    ) -> Result<Vec<((String, i32), Result<i64, ClientError>)>, ClientError> {
        let mut by_topic: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
        for (t, p, o) in parts {
            by_topic
                .entry(t.as_str())
                .or_default()
                .push(DeleteRecordsPartition::default().with_partition_index(*p).with_offset(*o));
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| DeleteRecordsTopic::default().with_name(topic_name(t)).with_partitions(ps))
            .collect();
        // Leave the broker time to answer before our own request timeout fires.
        let total = timeout_ms(&self.cluster);
        let req = DeleteRecordsRequest::default().with_topics(topics).with_timeout_ms(total - total / 5);
        let conn = self.cluster.broker_connection(leader).await?;
        let version = conn.version(ApiKey::DeleteRecords)?;
        let resp = conn.call(&req, version).await?;
        let mut out = Vec::new();
        for topic in resp.topics {
            let name = topic.name.0.to_string();
            for p in topic.partitions {
                let context = format!("partition {name}-{}", p.partition_index);
                let result = ClientError::check(p.error_code, None, || context).map(|()| p.low_watermark);
                out.push(((name.clone(), p.partition_index), result));
            }
        }
        Ok(out)
    }

    /// The log dirs of broker `node` with the replicas in them (`topics`:
    /// `None` for all, else only those topics' partitions).
    pub async fn describe_log_dirs(
        &self,
        node: i32,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<LogDirInfo>, ClientError> {
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| DescribableLogDirTopic::default().with_topic(topic_name(t)).with_partitions(ps.clone()))
                .collect::<Vec<_>>()
        });
        let req = DescribeLogDirsRequest::default().with_topics(topics);
        let conn = self.cluster.broker_connection(node).await?;
        let version = conn.version(ApiKey::DescribeLogDirs)?;
        let resp = conn.call(&req, version).await?;
        ClientError::check(resp.error_code, None, || format!("describe log dirs of broker {node}"))?;
        Ok(resp
            .results
            .into_iter()
            .map(|dir| {
                let path = dir.log_dir.to_string();
                let error = ClientError::check(dir.error_code, None, || format!("log dir {path}")).err();
                let replicas = dir
                    .topics
                    .into_iter()
                    .flat_map(|t| {
                        let name = t.name.0.to_string();
                        t.partitions.into_iter().map(move |p| LogDirReplica {
                            topic: name.clone(),
                            partition: p.partition_index,
                            size: p.partition_size,
                            offset_lag: p.offset_lag,
                            is_future: p.is_future_key,
                        })
                    })
                    .collect();
                LogDirInfo { path, error, replicas, total_bytes: dir.total_bytes, usable_bytes: dir.usable_bytes }
            })
            .collect())
    }

    /// Asks broker `node` to move its replicas of `moves` (topic, partition,
    /// target dir) to those log dirs; one result per partition.
    pub async fn alter_replica_log_dirs(
        &self,
        node: i32,
        moves: &[(String, i32, String)],
    ) -> Result<Vec<((String, i32), Option<ClientError>)>, ClientError> {
        let mut by_dir: BTreeMap<&str, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for (t, p, d) in moves {
            by_dir.entry(d.as_str()).or_default().entry(t.as_str()).or_default().push(*p);
        }
        let dirs = by_dir
            .into_iter()
            .map(|(d, ts)| {
                let topics = ts
                    .into_iter()
                    .map(|(t, ps)| AlterReplicaLogDirTopic::default().with_name(topic_name(t)).with_partitions(ps))
                    .collect();
                AlterReplicaLogDir::default().with_path(StrBytes::from_string(d.to_string())).with_topics(topics)
            })
            .collect();
        let req = AlterReplicaLogDirsRequest::default().with_dirs(dirs);
        let conn = self.cluster.broker_connection(node).await?;
        let version = conn.version(ApiKey::AlterReplicaLogDirs)?;
        let resp = conn.call(&req, version).await?;
        let mut out = Vec::new();
        for t in resp.results {
            let name = t.topic_name.0.to_string();
            for p in t.partitions {
                let context = format!("partition {name}-{}", p.partition_index);
                out.push(((name.clone(), p.partition_index), ClientError::check(p.error_code, None, || context).err()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Broker `node`'s ApiVersions answer, ordered by API key, each with the
    /// version this client would use (`None`: no version in common).
    pub async fn broker_api_versions(&self, node: i32) -> Result<Vec<ApiVersionRange>, ClientError> {
        let conn = self.cluster.broker_connection(node).await?;
        let version = conn.version(ApiKey::ApiVersions)?;
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp = conn.call(&req, version).await?;
        ClientError::check(resp.error_code, None, || format!("ApiVersions of broker {node}"))?;
        let mut out: Vec<ApiVersionRange> = resp
            .api_keys
            .into_iter()
            .map(|k| {
                let usable = ApiKey::try_from(k.api_key).ok().and_then(|api| {
                    let client_min = api.valid_versions().min;
                    let client_max = super::connection::client_max(api);
                    (k.min_version <= client_max && client_min <= k.max_version).then(|| k.max_version.min(client_max))
                });
                ApiVersionRange { api_key: k.api_key, min: k.min_version, max: k.max_version, usable }
            })
            .collect();
        out.sort_by_key(|r| r.api_key);
        Ok(out)
    }
}
