//! The console's JSON API. Every answer is built from fresh client calls
//! (metadata, DescribeConfigs, ListOffsets, groups), except `/api/series`,
//! which the sampler keeps. Bad input is a 400 and an unknown topic or group
//! a 404, each with `{"error": …}`; a cluster that fails to answer is a 502.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::Console;
use crate::client::{ClientError, ConsumerConfig, OffsetSpec, ResponseError, SeekTo, TopicDescription, TopicPartition};

/// The most records one request returns.
pub const MAX_RECORDS: usize = 500;
/// Records returned when `limit` is not given.
const DEFAULT_RECORDS: usize = 50;
/// The most bytes of one key, value or header value sent to the page.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// A record page stops growing past this many bytes of keys and values.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// How long a record request keeps fetching before it answers with what it has.
const RECORDS_DEADLINE: Duration = Duration::from_secs(5);

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        let status = match e.code() {
            Some(ResponseError::UnknownTopicOrPartition | ResponseError::GroupIdNotFound) => StatusCode::NOT_FOUND,
            Some(ResponseError::InvalidTopicException | ResponseError::InvalidRequest) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError { status, message: e.to_string() }
    }
}

type ApiResult = Result<Value, ApiError>;

/// The query string's parameters (the last of a repeated name wins).
#[derive(Debug, Default)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(query: &str) -> Query {
        Query(
            query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{name}: `{v}` is not a valid number"))),
        }
    }
}

/// Decodes `%XX` escapes (and `+` as a space in query strings is left alone:
/// the page encodes with `encodeURIComponent`). Invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn dispatch(console: &Console, path: &[&str], query: &Query) -> ApiResult {
    match path {
        ["overview"] => overview(console).await,
        ["topics"] => topics(console).await,
        ["topics", name] => topic(console, name).await,
        ["topics", name, "records"] => records(console, name, query).await,
        ["groups"] => groups(console).await,
        ["groups", id] => group(console, id).await,
        ["series"] => Ok(console.series.lock().unwrap_or_else(|e| e.into_inner()).to_json()),
        _ => Err(ApiError::not_found(format!("no such API: /api/{}", path.join("/")))),
    }
}

fn under_replicated(t: &TopicDescription) -> usize {
    t.partitions.iter().filter(|p| p.isr.len() < p.replicas.len()).count()
}

fn offline(t: &TopicDescription) -> usize {
    t.partitions.iter().filter(|p| p.leader.is_none_or(|l| l < 0)).count()
}

async fn overview(console: &Console) -> ApiResult {
    let cluster = console.admin.cluster().await?;
    let topics = console.admin.describe_topics(None).await?;
    let user: Vec<&TopicDescription> = topics.iter().filter(|t| !t.internal).collect();
    let mut brokers: Vec<Value> = cluster
        .brokers
        .iter()
        .map(|b| {
            json!({
                "id": b.id, "host": b.host, "port": b.port, "rack": b.rack,
                "controller": cluster.controller == Some(b.id),
                "leaders": topics.iter().flat_map(|t| &t.partitions).filter(|p| p.leader == Some(b.id)).count(),
                "replicas": topics.iter().flat_map(|t| &t.partitions).filter(|p| p.replicas.contains(&b.id)).count(),
            })
        })
        .collect();
    brokers.sort_by_key(|b| b["id"].as_i64());
    Ok(json!({
        "cluster_id": cluster.cluster_id,
        "controller": cluster.controller,
        "brokers": brokers,
        "topics": user.len(),
        "internal_topics": topics.len() - user.len(),
        "partitions": topics.iter().map(|t| t.partitions.len()).sum::<usize>(),
        "under_replicated_partitions": topics.iter().map(under_replicated).sum::<usize>(),
        "offline_partitions": topics.iter().map(offline).sum::<usize>(),
    }))
}

async fn topics(console: &Console) -> ApiResult {
    let topics = console.admin.describe_topics(None).await?;
    let rates = console.series.lock().unwrap_or_else(|e| e.into_inner()).latest_topic_rates();
    let list: Vec<Value> = topics
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "internal": t.internal,
                "partitions": t.partitions.len(),
                "replication_factor": t.partitions.iter().map(|p| p.replicas.len()).max().unwrap_or(0),
                "under_replicated": under_replicated(t),
                "offline": offline(t),
                "messages_per_sec": rates.get(&t.name),
            })
        })
        .collect();
    Ok(json!({ "topics": list }))
}

async fn describe_one(console: &Console, name: &str) -> Result<TopicDescription, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("empty topic name"));
    }
    let mut found = console.admin.describe_topics(Some(&[name.to_string()])).await?;
    found.pop().ok_or_else(|| ApiError::not_found(format!("Topic '{name}' does not exist.")))
}

async fn topic(console: &Console, name: &str) -> ApiResult {
    let t = describe_one(console, name).await?;
    let mut partitions = Vec::with_capacity(t.partitions.len());
    for p in &t.partitions {
        let start = console.admin.list_offsets(name, p.partition, OffsetSpec::Earliest).await.ok();
        let end = console.admin.list_offsets(name, p.partition, OffsetSpec::Latest).await.ok();
        partitions.push(json!({
            "partition": p.partition,
            "leader": p.leader.filter(|l| *l >= 0),
            "leader_epoch": p.leader_epoch,
            "replicas": p.replicas,
            "isr": p.isr,
            "offline_replicas": p.offline,
            "under_replicated": p.isr.len() < p.replicas.len(),
            "log_start_offset": start,
            "log_end_offset": end,
            "messages": match (start, end) { (Some(s), Some(e)) => Some((e - s).max(0)), _ => None },
        }));
    }
    let configs: Vec<Value> = match console.admin.describe_topic_configs(name).await {
        Ok(entries) => entries
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "value": if c.sensitive { None } else { c.value.clone() },
                    "default": c.is_default,
                    "source": config_source(c.source),
                    "read_only": c.read_only,
                    "sensitive": c.sensitive,
                })
            })
            .collect(),
        Err(e) => return Err(e.into()),
    };
    Ok(json!({
        "name": t.name,
        "topic_id": t.topic_id.map(|id| id.to_string()),
        "internal": t.internal,
        "replication_factor": t.partitions.iter().map(|p| p.replicas.len()).max().unwrap_or(0),
        "under_replicated": under_replicated(&t),
        "partitions": partitions,
        "configs": configs,
    }))
}

/// DescribeConfigs' source codes, in Kafka's names.
fn config_source(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

/// Bytes as the page shows them: UTF-8 text when valid, else base64 and hex.
/// Only the first [`MAX_FIELD_BYTES`] are sent (`truncated` says so): a page
/// of large records must stay a page.
fn bytes_json(b: &Option<Bytes>) -> Value {
    let Some(b) = b else { return Value::Null };
    let shown = &b[..b.len().min(MAX_FIELD_BYTES)];
    let truncated = shown.len() < b.len();
    // A cut may split a UTF-8 character: accept a valid prefix that lacks at most 3 bytes.
    let text = match std::str::from_utf8(shown) {
        Ok(t) => Some(t),
        Err(e) if truncated && e.error_len().is_none() && shown.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&shown[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(text) => json!({ "encoding": "utf8", "text": text, "size": b.len(), "truncated": truncated }),
        None => json!({
            "encoding": "binary",
            "base64": base64::engine::general_purpose::STANDARD.encode(shown),
            "hex": shown.iter().take(4096).map(|x| format!("{x:02x}")).collect::<String>(),
            "size": b.len(),
            "truncated": truncated,
        }),
    }
}

async fn records(console: &Console, name: &str, query: &Query) -> ApiResult {
    let t = describe_one(console, name).await?;
    let partition: i32 = query.number("partition")?.unwrap_or(0);
    if !t.partitions.iter().any(|p| p.partition == partition) {
        return Err(ApiError::bad_request(format!(
            "partition {partition} does not exist: topic '{name}' has partitions 0 to {}",
            t.partitions.len().saturating_sub(1)
        )));
    }
    let limit: usize = query.number("limit")?.unwrap_or(DEFAULT_RECORDS);
    if limit == 0 || limit > MAX_RECORDS {
        return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_RECORDS}")));
    }
    let offset: Option<i64> = query.number("offset")?;
    let timestamp: Option<i64> = query.number("timestamp")?;
    if offset.is_some() && timestamp.is_some() {
        return Err(ApiError::bad_request("give offset or timestamp, not both"));
    }
    let start = console.admin.list_offsets(name, partition, OffsetSpec::Earliest).await?;
    let end = console.admin.list_offsets(name, partition, OffsetSpec::Latest).await?;
    let from = match (offset, timestamp) {
        (Some(o), _) if o < 0 => return Err(ApiError::bad_request(format!("offset {o} is negative"))),
        (Some(o), _) if o < start || o > end => {
            return Err(ApiError::bad_request(format!(
                "offset {o} is out of range: partition {name}-{partition} holds offsets {start} to {}",
                end - 1
            )))
        }
        (Some(o), _) => o,
        (None, Some(ts)) => match console.admin.list_offsets(name, partition, OffsetSpec::Timestamp(ts)).await? {
            -1 => end,
            o => o.max(start),
        },
        // By default the newest `limit` records.
        (None, None) => (end - limit as i64).max(start),
    };
    let mut out = Vec::new();
    if from < end {
        let mut config = ConsumerConfig::new(console.client.bootstrap_servers.clone());
        config.client = console.client.clone();
        config.client.client_id = format!("{}-records", console.client.client_id);
        config.set("enable.auto.commit", "false").map_err(ApiError::from)?;
        config.set("fetch.max.wait.ms", "100").map_err(ApiError::from)?;
        let mut consumer = crate::client::Consumer::with_security(config, console.security.clone()).await?;
        consumer.assign(vec![(name.to_string(), partition)]).await?;
        consumer.seek(name, partition, SeekTo::Offset(from)).await?;
        let deadline = Instant::now() + RECORDS_DEADLINE;
        let mut next = from;
        let mut page_bytes = 0usize;
        'fetch: while out.len() < limit && next < end && Instant::now() < deadline {
            for r in consumer.poll(Duration::from_millis(300)).await? {
                if r.offset < from {
                    continue;
                }
                next = r.offset + 1;
                let size = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len().min(MAX_FIELD_BYTES));
                page_bytes += size(&r.key) + size(&r.value);
                out.push(json!({
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "timestamp_type": match r.timestamp_type {
                        crate::client::TimestampType::CreateTime => "CreateTime",
                        crate::client::TimestampType::LogAppendTime => "LogAppendTime",
                    },
                    "key": bytes_json(&r.key),
                    "value": bytes_json(&r.value),
                    "headers": r.headers.iter().map(|(k, v)| json!({ "key": k, "value": bytes_json(v) })).collect::<Vec<_>>(),
                }));
                if out.len() >= limit || page_bytes >= MAX_PAGE_BYTES {
                    break 'fetch;
                }
            }
            // Offsets of aborted transactions or control batches leave gaps:
            // the position tells how far the consumer got.
            if let Some(p) = consumer.position(name, partition) {
                next = next.max(p);
            }
        }
        let _ = consumer.close().await;
    }
    Ok(json!({
        "topic": name,
        "partition": partition,
        "from": from,
        "log_start_offset": start,
        "log_end_offset": end,
        "limit": limit,
        "records": out,
    }))
}

async fn groups(console: &Console) -> ApiResult {
    let listed = console.admin.list_groups(&[]).await?;
    let ids: Vec<String> = listed.iter().map(|g| g.group_id.clone()).collect();
    let described = if ids.is_empty() { Vec::new() } else { console.admin.describe_groups(&ids).await? };
    let lags = console.series.lock().unwrap_or_else(|e| e.into_inner()).latest_group_lags();
    let mut list: Vec<Value> = described
        .iter()
        .map(|g| {
            json!({
                "group_id": g.group_id,
                "state": g.state,
                "protocol_type": g.protocol_type,
                "protocol": g.assignor,
                "members": g.members.len(),
                "coordinator": g.coordinator.id,
                "lag": lags.get(&g.group_id),
            })
        })
        .collect();
    list.sort_by(|a, b| a["group_id"].as_str().cmp(&b["group_id"].as_str()));
    Ok(json!({ "groups": list }))
}

async fn group(console: &Console, id: &str) -> ApiResult {
    if id.is_empty() {
        return Err(ApiError::bad_request("empty group id"));
    }
    let g = console
        .admin
        .describe_groups(&[id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("Consumer group '{id}' does not exist.")))?;
    let committed = console.admin.list_group_offsets(id, None).await?;
    if g.state == "Dead" && committed.is_empty() {
        return Err(ApiError::not_found(format!("Consumer group '{id}' does not exist.")));
    }
    // Every partition the group has committed or is assigned.
    let mut owners: BTreeMap<TopicPartition, &crate::client::MemberDescription> = BTreeMap::new();
    for m in &g.members {
        for tp in &m.assignment {
            owners.insert(tp.clone(), m);
        }
    }
    let partitions: BTreeSet<TopicPartition> = committed.keys().chain(owners.keys()).cloned().collect();
    let mut rows = Vec::with_capacity(partitions.len());
    let mut total_lag = 0i64;
    for tp in &partitions {
        let end = console.admin.list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest).await.ok();
        let offset = committed.get(tp).map(|c| c.offset).filter(|o| *o >= 0);
        let lag = match (offset, end) {
            (Some(o), Some(e)) => Some((e - o).max(0)),
            _ => None,
        };
        total_lag += lag.unwrap_or(0);
        let owner = owners.get(tp);
        rows.push(json!({
            "topic": tp.topic,
            "partition": tp.partition,
            "committed_offset": offset,
            "log_end_offset": end,
            "lag": lag,
            "member_id": owner.map(|m| m.member_id.clone()),
            "client_id": owner.map(|m| m.client_id.clone()),
            "host": owner.map(|m| m.host.clone()),
        }));
    }
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": m.assignment.iter().map(|tp| json!({ "topic": tp.topic, "partition": tp.partition })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "group_id": g.group_id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.assignor,
        "coordinator": { "id": g.coordinator.id, "host": g.coordinator.host, "port": g.coordinator.port },
        "members": members,
        "partitions": rows,
        "total_lag": total_lag,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_escapes() {
        let q = Query::parse("partition=1&offset=&limit=20&topic=a%2Fb%20c&bad=%zz");
        assert_eq!(q.number::<i32>("partition").unwrap(), Some(1));
        assert_eq!(q.number::<i64>("offset").unwrap(), None);
        assert_eq!(q.get("topic"), Some("a/b c"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert!(q.number::<i32>("topic").is_err());
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn bytes_are_text_or_binary() {
        assert_eq!(bytes_json(&Some(Bytes::from_static(b"hi")))["text"], "hi");
        let bin = bytes_json(&Some(Bytes::from_static(&[0xff, 0x00])));
        assert_eq!(bin["hex"], "ff00");
        assert_eq!(bin["base64"], "/wA=");
        assert_eq!(bytes_json(&None), Value::Null);
        let mut long = "é".repeat(MAX_FIELD_BYTES).into_bytes();
        long.truncate(MAX_FIELD_BYTES + 1); // the cut falls inside a character
        let cut = bytes_json(&Some(Bytes::from(long)));
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["encoding"], "utf8");
        assert_eq!(cut["text"].as_str().map(str::len), Some(MAX_FIELD_BYTES));
    }
}
