//! Kafka error codes, mapped in one place. Handlers speak in [`ErrorCode`];
//! lower layers' errors are turned into codes here.

pub use kafka_protocol::ResponseError as ErrorCode;

use crate::storage::StorageError;

/// The wire value of "no error".
pub const NONE: i16 = 0;

/// The wire value of an optional error.
pub fn code(err: Option<ErrorCode>) -> i16 {
    err.map_or(NONE, |e| e.code())
}

/// The Kafka error a storage failure is reported as.
pub fn from_storage(err: &StorageError) -> ErrorCode {
    match err {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::InvalidBatch(_) => ErrorCode::CorruptMessage,
        _ => ErrorCode::KafkaStorageError,
    }
}
