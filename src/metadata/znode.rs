//! Kafka's ZooKeeper layout (2.x): the znode paths and their JSON formats.
//! Pure code, no I/O: bytes in, values out. Decoders never panic; whatever
//! does not parse is an `Err` with a reason the caller logs before skipping
//! the znode.
//!
//! Formats written (as Kafka 2.8 writes them, so its tools can read ours):
//! ```text
//! /brokers/ids/<id>   {"version":4,"host":"h","port":9092,"jmx_port":-1,"timestamp":"…",
//!                      "endpoints":["PLAINTEXT://h:9092"],
//!                      "listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"rack":null}
//! /brokers/topics/<t> {"version":3,"partitions":{"0":[0]},"adding_replicas":{},
//!                      "removing_replicas":{},"topic_id":"<base64 uuid>"}
//! …/partitions/<p>/state {"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}
//! /config/topics/<t>  {"version":1,"config":{"retention.ms":"1000"}}
//! /config/brokers/<id> and /config/brokers/<default>   (same format: dynamic broker configs)
//! /config/changes/config_change_<seq> {"version":2,"entity_path":"topics/<t>"}
//!                     (persistent sequential, after every config write, as Kafka 2.x;
//!                      entity_path "brokers/<id>" or "brokers/<default>" for brokers)
//! /controller         {"version":1,"brokerid":0,"timestamp":"…"}
//! /controller_epoch   1
//! /cluster/id         {"version":"1","id":"<base64 uuid>"}
//! /latest_producer_id_block {"version":1,"broker":0,"block_start":"0","block_end":"999"}
//! /admin/preferred_replica_election {"version":1,"partitions":[{"topic":"t","partition":0}]}
//! /admin/unclean_leader_election    (same format; gregor's own, Kafka 2.x has no znode for it)
//! /isr_change_notification/isr_change_<seq> {"version":1,"partitions":[{"topic":"t","partition":0}]}
//! /admin/reassign_partitions {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}
//! ```
//! Topic znodes of any version are read (`{"version":1,"partitions":{…}}` from
//! older tools included); a missing `topic_id` reads as `None`. An ongoing
//! reassignment (Kafka 2.4+, znode version 2 and up) lives in the topic
//! znode: `partitions` holds the full replica set (target first, then the
//! original replicas being removed), `adding_replicas` / `removing_replicas`
//! the replicas joining and leaving, per partition; version 1 has neither,
//! which reads as no reassignment. `/admin/reassign_partitions` is the
//! request Kafka 0.10's tool writes; the controller carries it out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BrokerInfo, ElectionType, PartitionState};

pub const BROKERS: &str = "/brokers";
pub const BROKER_IDS: &str = "/brokers/ids";
pub const BROKER_TOPICS: &str = "/brokers/topics";
pub const CONFIG_TOPICS: &str = "/config/topics";
/// Dynamic broker configs: `/config/brokers/<id>` and `/config/brokers/<default>`.
pub const CONFIG_BROKERS: &str = "/config/brokers";
/// SCRAM credentials (and user quotas) per sanitized user name.
pub const CONFIG_USERS: &str = "/config/users";
/// Client-id quotas per sanitized client id (`<default>` for every client).
pub const CONFIG_CLIENTS: &str = "/config/clients";
/// The entity name of the cluster-wide default broker config.
pub const DEFAULT_ENTITY: &str = "<default>";
/// A config change notification: a persistent sequential child of `/config/changes`.
pub const CONFIG_CHANGE_PREFIX: &str = "/config/changes/config_change_";
pub const DELETE_TOPICS: &str = "/admin/delete_topics";
pub const CONTROLLER: &str = "/controller";
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
pub const CLUSTER_ID: &str = "/cluster/id";
pub const PRODUCER_ID_BLOCK: &str = "/latest_producer_id_block";
pub const ADMIN: &str = "/admin";
pub const ISR_CHANGE_NOTIFICATION: &str = "/isr_change_notification";
/// A leader's notice of ISR changes: a sequential child of
/// [`ISR_CHANGE_NOTIFICATION`], removed by the controller.
pub const ISR_CHANGE_PREFIX: &str = "/isr_change_notification/isr_change_";
/// Kafka's request for preferred-leader elections, carried out (and then
/// deleted) by the controller.
pub const PREFERRED_REPLICA_ELECTION: &str = "/admin/preferred_replica_election";
/// The same for unclean elections (ElectLeaders with election type 1). Kafka
/// 2.x hands those to its controller in memory; we need a znode for it.
pub const UNCLEAN_LEADER_ELECTION: &str = "/admin/unclean_leader_election";
/// Kafka's pre-2.4 reassignment request (what 0.10's tool writes with
/// `--zookeeper`); the controller starts the listed reassignments and removes
/// each partition from it once its reassignment completed.
pub const REASSIGN_PARTITIONS: &str = "/admin/reassign_partitions";

/// Paths a Kafka 2.x broker creates at startup (persistent, empty).
pub const STARTUP_PATHS: &[&str] = &[
    "/consumers",
    BROKER_IDS,
    BROKER_TOPICS,
    "/config/changes",
    DELETE_TOPICS,
    "/brokers/seqid",
    ISR_CHANGE_NOTIFICATION,
    PRODUCER_ID_BLOCK,
    "/log_dir_event_notification",
    CONFIG_TOPICS,
    "/config/clients",
    "/config/users",
    "/config/brokers",
    // The ACL authorizer's roots (Kafka's `ZkAclStore` paths).
    "/kafka-acl",
    "/kafka-acl-changes",
    "/kafka-acl-extended/prefixed",
    "/kafka-acl-extended-changes",
];

pub fn broker_path(id: i32) -> String {
    format!("{BROKER_IDS}/{id}")
}

pub fn topic_path(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}")
}

pub fn partitions_path(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions")
}

pub fn partition_path(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions/{partition}")
}

pub fn state_path(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions/{partition}/state")
}

pub fn config_path(topic: &str) -> String {
    format!("{CONFIG_TOPICS}/{topic}")
}

/// `/config/brokers/<entity>`: a broker id, or [`DEFAULT_ENTITY`].
pub fn broker_config_path(entity: &str) -> String {
    format!("{CONFIG_BROKERS}/{entity}")
}

/// Kafka 2.x's change notification body (`version` 2): `entity_path` is
/// `topics/<t>`, `brokers/<id>` or `brokers/<default>`.
pub fn encode_config_change(entity_path: &str) -> Vec<u8> {
    to_bytes(&serde_json::json!({"version": 2, "entity_path": entity_path}))
}

/// The `entity_path` of a change notification (version 2 only, as Kafka 2.x+).
pub fn decode_config_change(bytes: &[u8]) -> Result<String, String> {
    let v = parse(bytes)?;
    if v.get("version").and_then(Value::as_i64) != Some(2) {
        return Err(format!("unsupported change notification version in {v}"));
    }
    v.get("entity_path").and_then(Value::as_str).map(str::to_string).ok_or_else(|| "no \"entity_path\"".into())
}

pub fn delete_request_path(topic: &str) -> String {
    format!("{DELETE_TOPICS}/{topic}")
}

/// Where the 0.8-era consumers kept their offsets, and where OffsetCommit v0
/// still puts them in Kafka's ZooKeeper mode: the offset as a decimal string.
pub const CONSUMERS: &str = "/consumers";

pub fn consumer_offset_path(group: &str, topic: &str, partition: i32) -> String {
    format!("{CONSUMERS}/{group}/offsets/{topic}/{partition}")
}

/// What a watch event's path is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathKind {
    Broker(i32),
    Topic(String),
    PartitionState(String, i32),
    TopicConfig(String),
    /// `/config/brokers/<id or <default>>`.
    BrokerConfig(String),
    DeleteRequest(String),
    Controller,
    /// Placed after the partition states: a batch re-reads states before the
    /// request whose deletion says the controller is done with them.
    ElectionRequest(ElectionType),
    IsrChangeNotification,
    /// `/admin/reassign_partitions`.
    ReassignRequest,
    /// An ACL znode (`/kafka-acl/<Type>/<name>`, `/kafka-acl-extended/prefixed/<Type>/<prefix>`).
    Acl(crate::security::acl::ResourcePattern),
    /// `/config/users/<sanitized user>` (SCRAM credentials).
    UserConfig(String),
    /// `/config/clients/<c>` or `/config/users/<u>/clients/<c>` (quotas only; a user's own
    /// znode is `UserConfig`, whose re-read covers its quotas too).
    QuotaConfig(super::quotas::QuotaEntity),
    Other,
}

/// Classifies a (chroot-relative) path.
pub fn classify(path: &str) -> PathKind {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["brokers", "ids", id] => id.parse().map_or(PathKind::Other, PathKind::Broker),
        ["brokers", "topics", t] => PathKind::Topic((*t).to_string()),
        ["brokers", "topics", t, "partitions", p, "state"] => {
            p.parse().map_or(PathKind::Other, |p| PathKind::PartitionState((*t).to_string(), p))
        }
        ["config", "topics", t] => PathKind::TopicConfig((*t).to_string()),
        ["config", "brokers", e] => PathKind::BrokerConfig((*e).to_string()),
        ["config", "users", u] => PathKind::UserConfig((*u).to_string()),
        ["config", "clients", _] | ["config", "users", _, "clients", _] => {
            super::quotas::QuotaEntity::from_path(path).map_or(PathKind::Other, PathKind::QuotaConfig)
        }
        ["admin", "delete_topics", t] => PathKind::DeleteRequest((*t).to_string()),
        ["controller"] => PathKind::Controller,
        ["admin", "preferred_replica_election"] => PathKind::ElectionRequest(ElectionType::Preferred),
        ["admin", "unclean_leader_election"] => PathKind::ElectionRequest(ElectionType::Unclean),
        ["isr_change_notification", _] => PathKind::IsrChangeNotification,
        ["admin", "reassign_partitions"] => PathKind::ReassignRequest,
        ["kafka-acl" | "kafka-acl-extended", ..] => {
            crate::security::acl::pattern_of_path(path).map_or(PathKind::Other, PathKind::Acl)
        }
        _ => PathKind::Other,
    }
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))
}

fn to_bytes(v: &impl Serialize) -> Vec<u8> {
    // Serialising plain maps, strings and numbers cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn as_i32(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

/// An i64 that Kafka writes either as a number or as a string ("timestamp", block bounds).
fn as_i64_lenient(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

// ---- /brokers/ids/<id> ----

/// What a broker writes about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub host: String,
    pub port: u16,
    /// `(listener name, security protocol, host, port)`, the first is the one clients use.
    pub listeners: Vec<(String, String, String, u16)>,
    pub rack: Option<String>,
    pub timestamp_ms: i64,
}

pub fn encode_broker(r: &BrokerRegistration) -> Vec<u8> {
    let endpoints: Vec<String> = r.listeners.iter().map(|(name, _, h, p)| format!("{name}://{h}:{p}")).collect();
    let map: BTreeMap<&str, &str> =
        r.listeners.iter().map(|(name, proto, _, _)| (name.as_str(), proto.as_str())).collect();
    to_bytes(&serde_json::json!({
        "version": 4,
        "host": r.host,
        "port": r.port,
        "jmx_port": -1,
        "timestamp": r.timestamp_ms.to_string(),
        "endpoints": endpoints,
        "listener_security_protocol_map": map,
        "rack": r.rack,
    }))
}

/// Reads a broker registration; the address clients use is the first endpoint
/// (falling back to the legacy host/port fields).
pub fn decode_broker(id: i32, bytes: &[u8]) -> Result<BrokerInfo, String> {
    let v = parse(bytes)?;
    let endpoints: Vec<String> = v
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let from_endpoint = endpoints.first().and_then(|e| {
        let (_, addr) = e.split_once("://")?;
        let (host, port) = addr.rsplit_once(':')?;
        Some((host.trim_matches(|c| c == '[' || c == ']').to_string(), port.parse::<u16>().ok()?))
    });
    let legacy = match (v.get("host").and_then(Value::as_str), v.get("port").and_then(as_i32)) {
        (Some(h), Some(p)) if !h.is_empty() => u16::try_from(p).ok().map(|p| (h.to_string(), p)),
        _ => None,
    };
    let (host, port) = from_endpoint.or(legacy).ok_or("no endpoint and no host/port")?;
    let rack = v.get("rack").and_then(Value::as_str).map(str::to_string);
    Ok(BrokerInfo { id, host, port, rack, endpoints, epoch: 0 })
}

// ---- /brokers/topics/<t> ----

/// A topic znode's content: the replica set of each partition and, for
/// partitions being reassigned, the replicas joining and leaving.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicAssignment {
    /// Replica set per partition, partition index = position.
    pub partitions: Vec<Vec<i32>>,
    /// `adding_replicas`: partition → replicas joining (non-empty lists only).
    pub adding: BTreeMap<i32, Vec<i32>>,
    /// `removing_replicas`: partition → replicas leaving (non-empty lists only).
    pub removing: BTreeMap<i32, Vec<i32>>,
    pub topic_id: Option<uuid::Uuid>,
}

pub fn encode_topic(partitions: &[Vec<i32>], topic_id: Option<uuid::Uuid>) -> Vec<u8> {
    encode_topic_assignment(&TopicAssignment { partitions: partitions.to_vec(), topic_id, ..Default::default() })
}

/// Writes a topic znode as Kafka 2.8 does (version 3), reassignment maps included.
pub fn encode_topic_assignment(a: &TopicAssignment) -> Vec<u8> {
    let parts: BTreeMap<String, &Vec<i32>> = a.partitions.iter().enumerate().map(|(i, r)| (i.to_string(), r)).collect();
    let map = |m: &BTreeMap<i32, Vec<i32>>| -> BTreeMap<String, Vec<i32>> {
        m.iter().filter(|(_, r)| !r.is_empty()).map(|(p, r)| (p.to_string(), r.clone())).collect()
    };
    let mut v = serde_json::json!({
        "version": 3,
        "partitions": parts,
        "adding_replicas": map(&a.adding),
        "removing_replicas": map(&a.removing),
    });
    if let (Some(id), Some(obj)) = (a.topic_id, v.as_object_mut()) {
        obj.insert("topic_id".into(), Value::String(uuid_to_base64(id)));
    }
    to_bytes(&v)
}

/// A topic assignment: replicas per partition (partition numbers must be
/// 0..n without gaps) and the topic id when the znode carries one.
pub fn decode_topic(bytes: &[u8]) -> Result<(Vec<Vec<i32>>, Option<uuid::Uuid>), String> {
    decode_topic_assignment(bytes).map(|a| (a.partitions, a.topic_id))
}

/// A broker-id list of a partition (`what` names it in errors).
fn broker_list(v: &Value, what: &str, k: &str) -> Result<Vec<i32>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} of partition {k} are not an array"))?
        .iter()
        .map(|r| as_i32(r).ok_or_else(|| format!("replica {r} of partition {k} is not a broker id")))
        .collect()
}

/// The whole topic znode. Reassignment entries for partitions the topic
/// does not have, and empty ones, are ignored.
pub fn decode_topic_assignment(bytes: &[u8]) -> Result<TopicAssignment, String> {
    let v = parse(bytes)?;
    let parts = v.get("partitions").and_then(Value::as_object).ok_or("no \"partitions\" object")?;
    let mut by_index = BTreeMap::new();
    for (k, replicas) in parts {
        let index: usize = k.parse().map_err(|_| format!("partition \"{k}\" is not a number"))?;
        by_index.insert(index, broker_list(replicas, "replicas", k)?);
    }
    if by_index.keys().enumerate().any(|(i, k)| i != *k) {
        return Err("partition numbers are not 0..n".into());
    }
    let count = by_index.len();
    let moving = |field: &str| -> Result<BTreeMap<i32, Vec<i32>>, String> {
        let mut out = BTreeMap::new();
        let Some(m) = v.get(field).filter(|m| !m.is_null()) else { return Ok(out) };
        let m = m.as_object().ok_or_else(|| format!("\"{field}\" is not an object"))?;
        for (k, replicas) in m {
            let index: i32 = k.parse().map_err(|_| format!("partition \"{k}\" of {field} is not a number"))?;
            let replicas = broker_list(replicas, field, k)?;
            if index >= 0 && (index as usize) < count && !replicas.is_empty() {
                out.insert(index, replicas);
            }
        }
        Ok(out)
    };
    let adding = moving("adding_replicas")?;
    let removing = moving("removing_replicas")?;
    let topic_id = match v.get("topic_id").and_then(Value::as_str) {
        Some(s) => Some(base64_to_uuid(s).ok_or_else(|| format!("topic_id \"{s}\" is not a base64 UUID"))?),
        None => None,
    };
    Ok(TopicAssignment { partitions: by_index.into_values().collect(), adding, removing, topic_id })
}

// ---- /admin/reassign_partitions ----

/// One partition of a reassignment request and its target replicas.
pub type ReassignEntry = ((String, i32), Vec<i32>);

pub fn encode_reassign_request(entries: &[ReassignEntry]) -> Vec<u8> {
    let parts: Vec<Value> =
        entries.iter().map(|((t, p), r)| serde_json::json!({"topic": t, "partition": p, "replicas": r})).collect();
    to_bytes(&serde_json::json!({"version": 1, "partitions": parts}))
}

/// The partitions of a reassignment request with their target replicas, in
/// the request's order (a partition listed twice keeps its last entry).
pub fn decode_reassign_request(bytes: &[u8]) -> Result<Vec<ReassignEntry>, String> {
    let v = parse(bytes)?;
    let parts = v.get("partitions").and_then(Value::as_array).ok_or("no \"partitions\" array")?;
    let mut out: Vec<ReassignEntry> = Vec::with_capacity(parts.len());
    for p in parts {
        let topic = p.get("topic").and_then(Value::as_str).ok_or_else(|| format!("no \"topic\" string in {p}"))?;
        let partition =
            p.get("partition").and_then(as_i32).ok_or_else(|| format!("no integer \"partition\" in {p}"))?;
        let replicas = broker_list(p.get("replicas").unwrap_or(&Value::Null), "replicas", &partition.to_string())?;
        let key = (topic.to_string(), partition);
        out.retain(|(k, _)| *k != key);
        out.push((key, replicas));
    }
    Ok(out)
}

// ---- partition state ----

pub fn encode_state(s: &PartitionState) -> Vec<u8> {
    to_bytes(&serde_json::json!({
        "controller_epoch": s.controller_epoch,
        "leader": s.leader,
        "version": 1,
        "leader_epoch": s.leader_epoch,
        "isr": s.isr,
    }))
}

pub fn decode_state(bytes: &[u8]) -> Result<PartitionState, String> {
    let v = parse(bytes)?;
    let field = |name: &str| v.get(name).and_then(as_i32).ok_or_else(|| format!("no integer \"{name}\""));
    let isr = v
        .get("isr")
        .and_then(Value::as_array)
        .ok_or("no \"isr\" array")?
        .iter()
        .map(|b| as_i32(b).ok_or_else(|| format!("isr member {b} is not a broker id")))
        .collect::<Result<_, _>>()?;
    Ok(PartitionState {
        leader: field("leader")?,
        leader_epoch: field("leader_epoch")?,
        isr,
        controller_epoch: field("controller_epoch")?,
    })
}

// ---- election requests ----

/// The znode asking the controller for elections of this type.
pub fn election_path(kind: ElectionType) -> &'static str {
    match kind {
        ElectionType::Preferred => PREFERRED_REPLICA_ELECTION,
        ElectionType::Unclean => UNCLEAN_LEADER_ELECTION,
    }
}

/// Election requests and ISR change notifications share this format.
pub fn encode_election(partitions: &[(String, i32)]) -> Vec<u8> {
    let parts: Vec<Value> = partitions.iter().map(|(t, p)| serde_json::json!({"topic": t, "partition": p})).collect();
    to_bytes(&serde_json::json!({"version": 1, "partitions": parts}))
}

/// The partitions of an election request, duplicates removed, sorted.
pub fn decode_election(bytes: &[u8]) -> Result<Vec<(String, i32)>, String> {
    let v = parse(bytes)?;
    let parts = v.get("partitions").and_then(Value::as_array).ok_or("no \"partitions\" array")?;
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let topic = p.get("topic").and_then(Value::as_str).ok_or_else(|| format!("no \"topic\" string in {p}"))?;
        let partition =
            p.get("partition").and_then(as_i32).ok_or_else(|| format!("no integer \"partition\" in {p}"))?;
        out.push((topic.to_string(), partition));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

// ---- /config/topics/<t> ----

#[derive(Serialize, Deserialize)]
struct EntityConfig {
    version: i32,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

pub fn encode_config(configs: &BTreeMap<String, String>) -> Vec<u8> {
    to_bytes(&EntityConfig { version: 1, config: configs.clone() })
}

pub fn decode_config(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if bytes.is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_slice::<EntityConfig>(bytes).map(|c| c.config).map_err(|e| format!("bad config JSON: {e}"))
}

// ---- controller ----

pub fn encode_controller(broker: i32, timestamp_ms: i64) -> Vec<u8> {
    to_bytes(&serde_json::json!({"version": 1, "brokerid": broker, "timestamp": timestamp_ms.to_string()}))
}

pub fn decode_controller(bytes: &[u8]) -> Result<i32, String> {
    let v = parse(bytes)?;
    v.get("brokerid").and_then(as_i32).ok_or_else(|| "no integer \"brokerid\"".into())
}

pub fn decode_controller_epoch(bytes: &[u8]) -> Result<i32, String> {
    let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8")?;
    s.trim().trim_matches('"').parse().map_err(|_| format!("\"{s}\" is not an epoch"))
}

pub fn encode_controller_epoch(epoch: i32) -> Vec<u8> {
    epoch.to_string().into_bytes()
}

// ---- /cluster/id ----

pub fn encode_cluster_id(id: &str) -> Vec<u8> {
    to_bytes(&serde_json::json!({"version": "1", "id": id}))
}

pub fn decode_cluster_id(bytes: &[u8]) -> Result<String, String> {
    let v = parse(bytes)?;
    match v.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err("no \"id\" string".into()),
    }
}

// ---- /latest_producer_id_block ----

pub fn encode_producer_block(broker: i32, start: i64, end_inclusive: i64) -> Vec<u8> {
    to_bytes(&serde_json::json!({
        "version": 1,
        "broker": broker,
        "block_start": start.to_string(),
        "block_end": end_inclusive.to_string(),
    }))
}

/// The last id of the latest block (inclusive), `None` when the znode is empty.
pub fn decode_producer_block_end(bytes: &[u8]) -> Result<Option<i64>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let v = parse(bytes)?;
    v.get("block_end").and_then(as_i64_lenient).map(Some).ok_or_else(|| "no \"block_end\"".into())
}

// ---- ids ----

/// Kafka's id form: URL-safe base64 without padding. Decoding is lenient
/// about the unused low bits of the last character, as a hand-written
/// decoder that only takes the 128 bits it needs would be.
const KAFKA_ID: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// A UUID as Kafka prints ids: URL-safe base64 without padding (22 characters).
pub fn uuid_to_base64(id: uuid::Uuid) -> String {
    use base64::Engine;
    KAFKA_ID.encode(id.into_bytes())
}

/// Parses Kafka's 22-character id form (a canonical hyphenated UUID is
/// accepted too, and the standard alphabet's `+` and `/` as `-` and `_`).
pub fn base64_to_uuid(s: &str) -> Option<uuid::Uuid> {
    use base64::Engine;
    if s.len() != 22 {
        return uuid::Uuid::parse_str(s).ok();
    }
    let url_safe: String = s
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    uuid::Uuid::from_slice(&KAFKA_ID.decode(url_safe).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_round_trip_and_old_formats() {
        let id = uuid::Uuid::new_v4();
        let bytes = encode_topic(&[vec![0, 1], vec![1, 0]], Some(id));
        assert_eq!(decode_topic(&bytes), Ok((vec![vec![0, 1], vec![1, 0]], Some(id))));
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["version"], 3);
        assert_eq!(v["partitions"]["1"], serde_json::json!([1, 0]));
        assert_eq!(
            decode_topic(br#"{"version":1,"partitions":{"1":[2],"0":[1]}}"#),
            Ok((vec![vec![1], vec![2]], None))
        );
        assert!(decode_topic(br#"{"version":1,"partitions":{"0":[1],"2":[1]}}"#).is_err());
        assert!(decode_topic(br#"{"version":1,"partitions":{"0":["x"]}}"#).is_err());
        assert!(decode_topic(b"garbage").is_err());
        assert!(decode_topic(br#"{"partitions":{"0":[0]},"topic_id":"nope"}"#).is_err());
    }

    #[test]
    fn topic_reassignment_maps() {
        let a = TopicAssignment {
            partitions: vec![vec![1, 2, 3, 0], vec![0, 1]],
            adding: [(0, vec![3])].into(),
            removing: [(0, vec![0])].into(),
            topic_id: Some(uuid::Uuid::new_v4()),
        };
        let bytes = encode_topic_assignment(&a);
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["adding_replicas"], serde_json::json!({"0": [3]}));
        assert_eq!(v["removing_replicas"], serde_json::json!({"0": [0]}));
        assert_eq!(decode_topic_assignment(&bytes), Ok(a));
        // Version 1 (no maps), null maps, empty lists and unknown partitions: no reassignment.
        let plain = decode_topic_assignment(br#"{"version":1,"partitions":{"0":[1]}}"#).expect("v1");
        assert!(plain.adding.is_empty() && plain.removing.is_empty());
        let odd =
            br#"{"version":2,"partitions":{"0":[1,2]},"adding_replicas":{"0":[],"7":[2]},"removing_replicas":null}"#;
        let odd = decode_topic_assignment(odd).expect("v2");
        assert!(odd.adding.is_empty() && odd.removing.is_empty());
        assert!(decode_topic_assignment(br#"{"partitions":{"0":[1]},"adding_replicas":{"0":"x"}}"#).is_err());
        assert!(decode_topic_assignment(br#"{"partitions":{"0":[1]},"removing_replicas":[1]}"#).is_err());
    }

    #[test]
    fn reassign_requests() {
        let entries = vec![(("t".to_string(), 0), vec![1, 2]), (("u".to_string(), 3), vec![0])];
        let bytes = encode_reassign_request(&entries);
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["partitions"][0], serde_json::json!({"topic":"t","partition":0,"replicas":[1,2]}));
        assert_eq!(decode_reassign_request(&bytes), Ok(entries));
        // What Kafka 0.10's tool writes, with a partition listed twice.
        let written = br#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}"#;
        assert_eq!(decode_reassign_request(written), Ok(vec![(("t".to_string(), 0), vec![2])]));
        assert!(decode_reassign_request(br#"{"partitions":[{"topic":"t","partition":0}]}"#).is_err());
        assert!(decode_reassign_request(b"{").is_err());
        assert_eq!(classify("/admin/reassign_partitions"), PathKind::ReassignRequest);
    }

    #[test]
    fn state_broker_config_controller() {
        let s = PartitionState { leader: 1, leader_epoch: 5, isr: vec![1, 2], controller_epoch: 3 };
        assert_eq!(decode_state(&encode_state(&s)), Ok(s));
        assert!(decode_state(br#"{"leader":1}"#).is_err());

        let r = BrokerRegistration {
            id: 3,
            host: "h".into(),
            port: 9092,
            listeners: vec![("PLAINTEXT".into(), "PLAINTEXT".into(), "h".into(), 9092)],
            rack: None,
            timestamp_ms: 1,
        };
        let v: Value = serde_json::from_slice(&encode_broker(&r)).expect("json");
        assert_eq!(v["version"], 4);
        assert_eq!(v["endpoints"], serde_json::json!(["PLAINTEXT://h:9092"]));
        assert_eq!(v["listener_security_protocol_map"]["PLAINTEXT"], "PLAINTEXT");
        assert_eq!(v["timestamp"], "1");
        let b = decode_broker(3, &encode_broker(&r)).expect("broker");
        assert_eq!((b.host.as_str(), b.port), ("h", 9092));
        assert!(decode_broker(1, br#"{"version":4}"#).is_err());

        let mut c = BTreeMap::new();
        c.insert("retention.ms".to_string(), "10".to_string());
        assert_eq!(decode_config(&encode_config(&c)), Ok(c));
        assert_eq!(decode_controller(&encode_controller(7, 0)), Ok(7));
        assert_eq!(decode_controller_epoch(b"12"), Ok(12));
        assert_eq!(decode_cluster_id(&encode_cluster_id("abc")), Ok("abc".to_string()));
        assert_eq!(decode_producer_block_end(&encode_producer_block(0, 0, 999)), Ok(Some(999)));
        assert_eq!(decode_producer_block_end(b""), Ok(None));
    }

    #[test]
    fn ids_and_paths() {
        let id = uuid::Uuid::new_v4();
        let s = uuid_to_base64(id);
        assert_eq!(s.len(), 22);
        assert_eq!(base64_to_uuid(&s), Some(id));
        assert_eq!(classify("/brokers/ids/3"), PathKind::Broker(3));
        assert_eq!(classify("/brokers/topics/a.b"), PathKind::Topic("a.b".into()));
        assert_eq!(classify("/brokers/topics/t/partitions/2/state"), PathKind::PartitionState("t".into(), 2));
        assert_eq!(classify("/brokers/topics/t/partitions/2"), PathKind::Other);
        assert_eq!(classify("/config/topics/t"), PathKind::TopicConfig("t".into()));
        assert_eq!(classify("/config/brokers/<default>"), PathKind::BrokerConfig("<default>".into()));
        assert_eq!(classify("/config/brokers/2"), PathKind::BrokerConfig("2".into()));
        assert_eq!(broker_config_path(DEFAULT_ENTITY), "/config/brokers/<default>");
        let change = encode_config_change("brokers/<default>");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&change).ok(),
            Some(serde_json::json!({"version": 2, "entity_path": "brokers/<default>"}))
        );
        assert_eq!(decode_config_change(&change), Ok("brokers/<default>".to_string()));
        assert!(decode_config_change(br#"{"version":1,"entity_type":"topics","entity_name":"t"}"#).is_err());
        assert!(decode_config_change(b"garbage").is_err());
        assert_eq!(classify("/admin/delete_topics/t"), PathKind::DeleteRequest("t".into()));
        assert_eq!(classify("/controller"), PathKind::Controller);
        assert_eq!(classify("/admin/preferred_replica_election"), PathKind::ElectionRequest(ElectionType::Preferred));
        assert_eq!(classify("/admin/unclean_leader_election"), PathKind::ElectionRequest(ElectionType::Unclean));
        assert_eq!(classify("/isr_change_notification/isr_change_0000000007"), PathKind::IsrChangeNotification);
        assert_eq!(classify("/isr_change_notification"), PathKind::Other);
        use crate::security::acl::{PatternType, ResourcePattern, ResourceType};
        assert_eq!(
            classify("/kafka-acl/Topic/orders"),
            PathKind::Acl(ResourcePattern::literal(ResourceType::Topic, "orders"))
        );
        assert_eq!(
            classify("/kafka-acl-extended/prefixed/Group/g-"),
            PathKind::Acl(ResourcePattern::new(ResourceType::Group, "g-", PatternType::Prefixed))
        );
        assert_eq!(classify("/kafka-acl/Topic"), PathKind::Other);
        assert_eq!(classify("/kafka-acl-changes/acl_changes_0000000001"), PathKind::Other);
    }

    #[test]
    fn election_requests() {
        let parts = vec![("t".to_string(), 1), ("a".to_string(), 0), ("t".to_string(), 1)];
        let v: Value = serde_json::from_slice(&encode_election(&parts[..2])).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"version":1,"partitions":[{"topic":"t","partition":1},{"topic":"a","partition":0}]})
        );
        let bytes = encode_election(&parts);
        assert_eq!(decode_election(&bytes), Ok(vec![("a".to_string(), 0), ("t".to_string(), 1)]));
        assert!(decode_election(b"{}").is_err());
        assert!(decode_election(br#"{"partitions":[{"topic":"t"}]}"#).is_err());
        assert!(decode_election(b"\xff").is_err());
    }

    proptest::proptest! {
        #[test]
        fn election_requests_round_trip_and_garbage_never_panics(
            parts in proptest::collection::vec(("[a-zA-Z0-9._-]{1,20}", 0i32..10_000), 0..20),
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let mut expected = parts.clone();
            expected.sort();
            expected.dedup();
            proptest::prop_assert_eq!(decode_election(&encode_election(&parts)), Ok(expected));
            let _ = decode_election(&garbage);
        }
    }
}
