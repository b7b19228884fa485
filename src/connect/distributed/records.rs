//! The records of the three internal topics, in Kafka's formats (JSON,
//! schemas disabled, UTF-8 keys), so that the topics read as a Java
//! worker's would:
//!
//! - config topic (one partition, so one order for everything):
//!   `connector-<name>` → `{"properties": {…}}` (null: deleted);
//!   `task-<name>-<n>` → `{"properties": {…}}`, taking effect only with
//!   the following `commit-<name>` → `{"tasks": n}`;
//!   `target-state-<name>` → `{"state": "STARTED"|"PAUSED"}`;
//!   `restart-connector-<name>` → `{"include-tasks": b, "only-failed": b}`.
//!   One key is ours: `restart-task-<name>-<n>` (value `{}`), where Kafka
//!   forwards the REST call to the task's worker instead; a Java worker
//!   skips keys it does not know.
//! - offsets topic: `["<connector>", {<source partition>}]` →
//!   `{<source offset>}` (null: forgotten), partitioned by the key's hash.
//! - status topic: `status-connector-<name>` / `status-task-<name>-<n>` →
//!   `{"state", "trace", "worker_id", "generation"}` (null: forgotten).
//!
//! Pure: bytes in, records out; anything malformed is an error, never a panic.

use serde_json::{json, Map, Value};

use super::super::api::SourceMap;
use super::super::herder::TaskState;
use super::super::Config;

/// A record that does not read as Kafka's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record '{key}': {reason}")]
pub struct RecordError {
    pub key: String,
    pub reason: String,
}

fn bad(key: &str, reason: impl Into<String>) -> RecordError {
    RecordError { key: key.to_string(), reason: reason.into() }
}

/// Whether a connector's tasks should run (Kafka's `TargetState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
}

/// One record of the config topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigRecord {
    /// `None`: the connector was deleted.
    Connector {
        name: String,
        config: Option<Config>,
    },
    Task {
        connector: String,
        task: usize,
        config: Config,
    },
    Commit {
        connector: String,
        tasks: usize,
    },
    /// `None`: forgotten with its connector.
    TargetState {
        connector: String,
        state: Option<TargetState>,
    },
    RestartConnector {
        connector: String,
        include_tasks: bool,
        only_failed: bool,
    },
    RestartTask {
        connector: String,
        task: usize,
    },
}

/// `<name>-<n>` → (name, n); names may contain `-`, the number is after the last one.
fn split_task(s: &str) -> Option<(String, usize)> {
    let (name, n) = s.rsplit_once('-')?;
    Some((name.to_string(), n.parse().ok()?))
}

fn properties(key: &str, v: &Value) -> Result<Config, RecordError> {
    let props = v.get("properties").and_then(Value::as_object).ok_or_else(|| bad(key, "no \"properties\" object"))?;
    Ok(props.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
}

fn parse_json(key: &str, value: &[u8]) -> Result<Value, RecordError> {
    serde_json::from_slice(value).map_err(|e| bad(key, format!("not JSON: {e}")))
}

impl ConfigRecord {
    pub fn key(&self) -> String {
        match self {
            ConfigRecord::Connector { name, .. } => format!("connector-{name}"),
            ConfigRecord::Task { connector, task, .. } => format!("task-{connector}-{task}"),
            ConfigRecord::Commit { connector, .. } => format!("commit-{connector}"),
            ConfigRecord::TargetState { connector, .. } => format!("target-state-{connector}"),
            ConfigRecord::RestartConnector { connector, .. } => format!("restart-connector-{connector}"),
            ConfigRecord::RestartTask { connector, task } => format!("restart-task-{connector}-{task}"),
        }
    }

    /// The value's bytes; `None` is a tombstone.
    pub fn value(&self) -> Option<Vec<u8>> {
        let v = match self {
            ConfigRecord::Connector { config: None, .. } | ConfigRecord::TargetState { state: None, .. } => {
                return None
            }
            ConfigRecord::Connector { config: Some(c), .. } | ConfigRecord::Task { config: c, .. } => {
                json!({ "properties": c })
            }
            ConfigRecord::Commit { tasks, .. } => json!({ "tasks": tasks }),
            ConfigRecord::TargetState { state: Some(s), .. } => {
                json!({ "state": match s { TargetState::Started => "STARTED", TargetState::Paused => "PAUSED" } })
            }
            ConfigRecord::RestartConnector { include_tasks, only_failed, .. } => {
                json!({ "include-tasks": include_tasks, "only-failed": only_failed })
            }
            ConfigRecord::RestartTask { .. } => json!({}),
        };
        Some(v.to_string().into_bytes())
    }

    /// Reads a record; `Ok(None)` for tombstones of keys that need no action.
    pub fn parse(key: &[u8], value: Option<&[u8]>) -> Result<Option<ConfigRecord>, RecordError> {
        let key = std::str::from_utf8(key).map_err(|_| bad("?", "the key is not UTF-8"))?;
        if let Some(name) = key.strip_prefix("connector-") {
            let config = match value {
                None => None,
                Some(v) => Some(properties(key, &parse_json(key, v)?)?),
            };
            return Ok(Some(ConfigRecord::Connector { name: name.to_string(), config }));
        }
        if let Some(rest) = key.strip_prefix("target-state-") {
            let state = match value {
                None => None,
                Some(v) => {
                    let v = parse_json(key, v)?;
                    // Kafka 3.5+ also writes "state.v2" (with STOPPED); "state" is always there.
                    match v.get("state").and_then(Value::as_str) {
                        Some("STARTED") => Some(TargetState::Started),
                        Some("PAUSED") | Some("STOPPED") => Some(TargetState::Paused),
                        other => return Err(bad(key, format!("unknown target state {other:?}"))),
                    }
                }
            };
            return Ok(Some(ConfigRecord::TargetState { connector: rest.to_string(), state }));
        }
        let Some(value) = value else { return Ok(None) };
        if let Some(rest) = key.strip_prefix("task-") {
            let (connector, task) = split_task(rest).ok_or_else(|| bad(key, "expected task-<name>-<n>"))?;
            let config = properties(key, &parse_json(key, value)?)?;
            return Ok(Some(ConfigRecord::Task { connector, task, config }));
        }
        if let Some(name) = key.strip_prefix("commit-") {
            let v = parse_json(key, value)?;
            let tasks = v.get("tasks").and_then(Value::as_u64).ok_or_else(|| bad(key, "no \"tasks\" count"))?;
            let tasks = usize::try_from(tasks).map_err(|_| bad(key, "task count too large"))?;
            return Ok(Some(ConfigRecord::Commit { connector: name.to_string(), tasks }));
        }
        if let Some(name) = key.strip_prefix("restart-connector-") {
            let v = parse_json(key, value)?;
            let flag = |f: &str| v.get(f).and_then(Value::as_bool).unwrap_or(false);
            return Ok(Some(ConfigRecord::RestartConnector {
                connector: name.to_string(),
                include_tasks: flag("include-tasks"),
                only_failed: flag("only-failed"),
            }));
        }
        if let Some(rest) = key.strip_prefix("restart-task-") {
            let (connector, task) = split_task(rest).ok_or_else(|| bad(key, "expected restart-task-<name>-<n>"))?;
            return Ok(Some(ConfigRecord::RestartTask { connector, task }));
        }
        // Keys of newer Kafka versions (session keys, logger levels…) are skipped, as Kafka skips unknown ones.
        Ok(None)
    }
}

/// Whose state a status record reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusKey {
    Connector(String),
    Task(String, usize),
}

impl StatusKey {
    pub fn encode(&self) -> String {
        match self {
            StatusKey::Connector(n) => format!("status-connector-{n}"),
            StatusKey::Task(n, t) => format!("status-task-{n}-{t}"),
        }
    }

    pub fn parse(key: &[u8]) -> Result<StatusKey, RecordError> {
        let key = std::str::from_utf8(key).map_err(|_| bad("?", "the key is not UTF-8"))?;
        if let Some(n) = key.strip_prefix("status-connector-") {
            return Ok(StatusKey::Connector(n.to_string()));
        }
        if let Some(rest) = key.strip_prefix("status-task-") {
            let (n, t) = split_task(rest).ok_or_else(|| bad(key, "expected status-task-<name>-<n>"))?;
            return Ok(StatusKey::Task(n, t));
        }
        Err(bad(key, "not a status key"))
    }
}

/// A connector's or task's reported state.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: TaskState,
    pub trace: Option<String>,
    pub worker_id: String,
    pub generation: i32,
}

fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::Unassigned => "UNASSIGNED",
        TaskState::Running => "RUNNING",
        TaskState::Paused => "PAUSED",
        TaskState::Failed => "FAILED",
        TaskState::Restarting => "RESTARTING",
        TaskState::Stopped => "STOPPED",
    }
}

impl Status {
    pub fn encode(&self) -> Vec<u8> {
        json!({
            "state": state_name(self.state),
            "trace": self.trace,
            "worker_id": self.worker_id,
            "generation": self.generation,
        })
        .to_string()
        .into_bytes()
    }

    pub fn parse(key: &str, value: &[u8]) -> Result<Status, RecordError> {
        let v = parse_json(key, value)?;
        let state = match v.get("state").and_then(Value::as_str) {
            Some("UNASSIGNED") => TaskState::Unassigned,
            Some("RUNNING") => TaskState::Running,
            Some("PAUSED") => TaskState::Paused,
            Some("FAILED") => TaskState::Failed,
            Some("RESTARTING") => TaskState::Restarting,
            Some("STOPPED") | Some("DESTROYED") => TaskState::Stopped,
            other => return Err(bad(key, format!("unknown state {other:?}"))),
        };
        Ok(Status {
            state,
            trace: v.get("trace").and_then(Value::as_str).map(str::to_string),
            worker_id: v.get("worker_id").and_then(Value::as_str).unwrap_or_default().to_string(),
            generation: v.get("generation").and_then(Value::as_i64).and_then(|g| i32::try_from(g).ok()).unwrap_or(-1),
        })
    }
}

/// The offsets topic's key: `["<connector>", {<source partition>}]`.
pub fn offset_key(connector: &str, partition: &SourceMap) -> Vec<u8> {
    Value::Array(vec![Value::String(connector.to_string()), Value::Object(partition.clone())]).to_string().into_bytes()
}

/// An offsets record: (connector, source partition, offset; `None` = forgotten).
pub fn parse_offset(key: &[u8], value: Option<&[u8]>) -> Result<(String, SourceMap, Option<SourceMap>), RecordError> {
    let shown = String::from_utf8_lossy(key).into_owned();
    let k: Value = serde_json::from_slice(key).map_err(|e| bad(&shown, format!("not JSON: {e}")))?;
    let (connector, partition) = match k.as_array().map(Vec::as_slice) {
        Some([Value::String(c), Value::Object(p)]) => (c.clone(), p.clone()),
        _ => return Err(bad(&shown, "expected [\"<connector>\", {<partition>}]")),
    };
    let offset = match value {
        None => None,
        Some(v) => match serde_json::from_slice::<Value>(v).map_err(|e| bad(&shown, format!("not JSON: {e}")))? {
            Value::Object(o) => Some(o),
            Value::Null => None,
            _ => return Err(bad(&shown, "the offset is not a JSON object")),
        },
    };
    Ok((connector, partition, offset))
}

/// The offset's bytes.
pub fn offset_value(offset: &SourceMap) -> Vec<u8> {
    Value::Object(offset.clone()).to_string().into_bytes()
}

/// A JSON object from pairs (tests and callers building partitions).
pub fn object(pairs: &[(&str, Value)]) -> SourceMap {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Map<String, Value>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn round_trip(r: ConfigRecord) {
        let key = r.key();
        let value = r.value();
        let back = ConfigRecord::parse(key.as_bytes(), value.as_deref()).expect("parses").expect("a record");
        assert_eq!(back, r);
    }

    #[test]
    fn config_records_round_trip() {
        let c = cfg(&[("connector.class", "FileStreamSource"), ("file", "/tmp/a.txt"), ("tasks.max", "1")]);
        round_trip(ConfigRecord::Connector { name: "local-file-source".into(), config: Some(c.clone()) });
        round_trip(ConfigRecord::Connector { name: "gone".into(), config: None });
        round_trip(ConfigRecord::Task { connector: "my-conn".into(), task: 3, config: c });
        round_trip(ConfigRecord::Commit { connector: "my-conn".into(), tasks: 2 });
        round_trip(ConfigRecord::TargetState { connector: "a".into(), state: Some(TargetState::Paused) });
        round_trip(ConfigRecord::TargetState { connector: "a".into(), state: Some(TargetState::Started) });
        round_trip(ConfigRecord::RestartConnector { connector: "a".into(), include_tasks: true, only_failed: false });
        round_trip(ConfigRecord::RestartTask { connector: "a-b".into(), task: 7 });
    }

    #[test]
    fn config_values_are_kafkas_json() {
        let r = ConfigRecord::Connector { name: "s".into(), config: Some(cfg(&[("file", "x")])) };
        assert_eq!(r.key(), "connector-s");
        assert_eq!(String::from_utf8(r.value().expect("value")).expect("utf8"), r#"{"properties":{"file":"x"}}"#);
        let r = ConfigRecord::Commit { connector: "s".into(), tasks: 1 };
        assert_eq!(String::from_utf8(r.value().expect("value")).expect("utf8"), r#"{"tasks":1}"#);
        let r = ConfigRecord::TargetState { connector: "s".into(), state: Some(TargetState::Started) };
        assert_eq!(String::from_utf8(r.value().expect("value")).expect("utf8"), r#"{"state":"STARTED"}"#);
        // What a Java worker writes reads back, extra fields and all.
        let java = br#"{"state":"PAUSED","state.v2":"PAUSED"}"#;
        assert_eq!(
            ConfigRecord::parse(b"target-state-s", Some(java)).expect("parses"),
            Some(ConfigRecord::TargetState { connector: "s".into(), state: Some(TargetState::Paused) })
        );
    }

    #[test]
    fn unknown_or_malformed_config_records_do_not_panic() {
        assert_eq!(ConfigRecord::parse(b"session-key", Some(b"{}")).expect("skipped"), None);
        assert!(ConfigRecord::parse(b"connector-x", Some(b"not json")).is_err());
        assert!(ConfigRecord::parse(b"task-x", Some(br#"{"properties":{}}"#)).is_err());
        assert!(ConfigRecord::parse(b"commit-x", Some(br#"{"tasks":-1}"#)).is_err());
        assert!(ConfigRecord::parse(&[0xff, 0xfe], Some(b"{}")).is_err());
    }

    #[test]
    fn status_records_round_trip_in_kafkas_shape() {
        let s =
            Status { state: TaskState::Failed, trace: Some("boom".into()), worker_id: "h:8083".into(), generation: 4 };
        let bytes = s.encode();
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v, json!({"state": "FAILED", "trace": "boom", "worker_id": "h:8083", "generation": 4}));
        assert_eq!(Status::parse("k", &bytes).expect("parses"), s);
        assert_eq!(StatusKey::parse(b"status-task-my-conn-2").expect("key"), StatusKey::Task("my-conn".into(), 2));
        assert_eq!(StatusKey::parse(b"status-connector-my-conn").expect("key"), StatusKey::Connector("my-conn".into()));
        assert_eq!(StatusKey::Task("a".into(), 0).encode(), "status-task-a-0");
        assert!(StatusKey::parse(b"status-task-x").is_err());
    }

    #[test]
    fn offset_records_are_kafkas_key_and_value() {
        let partition = object(&[("filename", json!("/tmp/test.txt"))]);
        let key = offset_key("local-file-source", &partition);
        assert_eq!(std::str::from_utf8(&key).expect("utf8"), r#"["local-file-source",{"filename":"/tmp/test.txt"}]"#);
        let offset = object(&[("position", json!(42))]);
        let value = offset_value(&offset);
        assert_eq!(std::str::from_utf8(&value).expect("utf8"), r#"{"position":42}"#);
        let (c, p, o) = parse_offset(&key, Some(&value)).expect("parses");
        assert_eq!((c.as_str(), p, o), ("local-file-source", partition.clone(), Some(offset)));
        let (_, _, none) = parse_offset(&key, None).expect("tombstone");
        assert_eq!(none, None);
        assert!(parse_offset(b"{}", Some(b"{}")).is_err());
        assert!(parse_offset(&key, Some(b"[1]")).is_err());
    }
}
