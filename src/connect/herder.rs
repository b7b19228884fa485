//! What a Connect cluster answers to, whatever its mode: the [`Herder`]
//! (Kafka's name for the part of a worker that owns connector configs and
//! decides which tasks run where). The REST API serves any herder; the
//! standalone herder keeps everything in its one process, the distributed
//! one in compacted topics shared by a group of workers.
//!
//! The types serialize to the JSON shapes of Kafka Connect's REST API.

use std::future::Future;

use serde::{Deserialize, Serialize};

pub use super::api::ConnectorType;
use super::Config;

/// A task's name: its connector and number (`{"connector": …, "task": …}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnectorTaskId {
    pub connector: String,
    pub task: usize,
}

/// `GET /connectors/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: Config,
    pub tasks: Vec<ConnectorTaskId>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// One task's config (`GET /connectors/{name}/tasks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: ConnectorTaskId,
    pub config: Config,
}

impl TaskInfo {
    /// A connector's task configs as the REST API lists them, numbered in order.
    pub fn list(connector: &str, configs: &[Config]) -> Vec<TaskInfo> {
        configs
            .iter()
            .enumerate()
            .map(|(task, config)| TaskInfo {
                id: ConnectorTaskId { connector: connector.to_string(), task },
                config: config.clone(),
            })
            .collect()
    }
}

/// Kafka's connector and task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskState {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
}

/// A connector's own state (`"connector"` in the status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorState {
    pub state: TaskState,
    pub worker_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
}

/// One task's state in a status answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: usize,
    pub state: TaskState,
    pub worker_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
}

/// `GET /connectors/{name}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    pub name: String,
    pub connector: ConnectorState,
    pub tasks: Vec<TaskStatus>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// Why a herder refused; each maps to the HTTP status Kafka answers with,
/// and the body is `{"error_code": <status>, "message": <message>}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HerderError {
    /// 404 `Connector <name> not found` (or a task that does not exist).
    #[error("{0}")]
    NotFound(String),
    /// 409 `Connector <name> already exists`, or a rebalance under way.
    #[error("{0}")]
    Conflict(String),
    /// 400: a bad config (the message names the key) or a bad request.
    #[error("{0}")]
    BadRequest(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl HerderError {
    pub fn status_code(&self) -> u16 {
        match self {
            HerderError::NotFound(_) => 404,
            HerderError::Conflict(_) => 409,
            HerderError::BadRequest(_) => 400,
            HerderError::Internal(_) => 500,
        }
    }

    pub fn connector_not_found(name: &str) -> HerderError {
        HerderError::NotFound(format!("Connector {name} not found"))
    }
}

impl From<super::ConnectError> for HerderError {
    fn from(e: super::ConnectError) -> Self {
        match e {
            super::ConnectError::Config(m) => HerderError::BadRequest(m),
            other => HerderError::Internal(other.to_string()),
        }
    }
}

pub type HerderResult<T> = Result<T, HerderError>;

/// The operations behind Kafka Connect's REST API. Methods return `Send`
/// futures so a server can run them on its connection tasks.
pub trait Herder: Send + Sync + 'static {
    /// `GET /connectors`: names, sorted.
    fn connectors(&self) -> impl Future<Output = HerderResult<Vec<String>>> + Send;
    /// `GET /connectors/{name}`.
    fn connector_info(&self, name: &str) -> impl Future<Output = HerderResult<ConnectorInfo>> + Send;
    /// `POST /connectors` (`allow_replace` false: 409 if it exists) and
    /// `PUT /connectors/{name}/config` (true). Returns whether it was
    /// created (201) rather than updated (200). The config is checked
    /// first; a bad one is `BadRequest` naming the key.
    fn put_connector_config(
        &self,
        name: &str,
        config: Config,
        allow_replace: bool,
    ) -> impl Future<Output = HerderResult<(bool, ConnectorInfo)>> + Send;
    /// `DELETE /connectors/{name}`: stops its tasks and forgets it.
    fn delete_connector(&self, name: &str) -> impl Future<Output = HerderResult<()>> + Send;
    /// `GET /connectors/{name}/status`.
    fn connector_status(&self, name: &str) -> impl Future<Output = HerderResult<ConnectorStatus>> + Send;
    /// `GET /connectors/{name}/tasks`.
    fn task_configs(&self, name: &str) -> impl Future<Output = HerderResult<Vec<TaskInfo>>> + Send;
    /// `PUT /connectors/{name}/pause`: tasks stop moving data (state PAUSED).
    fn pause_connector(&self, name: &str) -> impl Future<Output = HerderResult<()>> + Send;
    /// `PUT /connectors/{name}/resume`.
    fn resume_connector(&self, name: &str) -> impl Future<Output = HerderResult<()>> + Send;
    /// `POST /connectors/{name}/restart[?includeTasks=&onlyFailed=]`.
    fn restart_connector(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> impl Future<Output = HerderResult<()>> + Send;
    /// `POST /connectors/{name}/tasks/{task}/restart`.
    fn restart_task(&self, name: &str, task: usize) -> impl Future<Output = HerderResult<()>> + Send;
    /// The Kafka cluster id for `GET /` (`kafka_cluster_id`).
    fn kafka_cluster_id(&self) -> impl Future<Output = HerderResult<String>> + Send;
}
