//! The one error type of the streams library: what failed, and whether the
//! application can go on. Processors return it; the runtime decides with the
//! configured handlers whether a record is skipped or the thread stops.

use crate::client::ClientError;

use super::serde::SerdeError;

/// A failure in a topology, a store or the runtime.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamsError {
    /// A key or value could not be (de)serialized.
    #[error("serialization: {0}")]
    Serde(#[from] SerdeError),
    /// A state store failed (I/O, corruption, a missing store).
    #[error("state store {store}: {message}")]
    Store { store: String, message: String },
    /// The topology was built wrong (duplicate names, unknown parents, …).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A config key has an invalid value.
    #[error("invalid config {key}: {message}")]
    Config { key: String, message: String },
    /// A typed view asked for a record or store of another type.
    #[error("type mismatch at {0}")]
    Type(String),
    /// The Kafka client failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A processor gave up on a record.
    #[error("processing: {0}")]
    Processing(String),
    /// The task was fenced or lost its partitions (another instance owns it now).
    #[error("task migrated: {0}")]
    TaskMigrated(String),
    /// The application is shutting down.
    #[error("shutting down")]
    Shutdown,
}

impl StreamsError {
    pub fn store(store: &str, message: impl std::fmt::Display) -> Self {
        StreamsError::Store { store: store.to_string(), message: message.to_string() }
    }
}

/// Result of streams operations.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;
