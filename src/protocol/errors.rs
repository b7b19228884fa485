//! Kafka error codes, mapped in one place. Handlers speak in [`ErrorCode`];
//! lower layers' errors are turned into codes here.

pub use kafka_protocol::ResponseError as ErrorCode;

use crate::protocol::records::RecordsError;
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

/// The Kafka error a batch with refused records is answered with. As Kafka
/// (since 2.4, KIP-467): a record that does not parse or breaks a rule is
/// INVALID_RECORD — not retriable, since resending the same bytes cannot help.
/// Produce below v8 predates that code, so those clients get CORRUPT_MESSAGE,
/// the code Kafka used before it. Records that cannot be decompressed at all
/// (or decompress past the cap) are CORRUPT_MESSAGE at every version.
pub fn from_records(err: &RecordsError, produce_version: i16) -> ErrorCode {
    match err {
        RecordsError::Decompress { .. } | RecordsError::DecompressedTooLarge { .. } => ErrorCode::CorruptMessage,
        _ if produce_version >= 8 => ErrorCode::InvalidRecord,
        _ => ErrorCode::CorruptMessage,
    }
}
