//! Kafka wire glue with no I/O: bytes in, typed requests out, typed responses
//! back to bytes. The message codecs themselves come from the `kafka-protocol`
//! crate; this module owns framing, the table of API versions we advertise,
//! record-batch validation/patching, record-level validation (decompressing
//! in memory where needed) and the mapping of errors to Kafka codes.
//!
//! It must not touch sockets, files or broker state.

pub mod batch;
pub mod down_convert;
pub mod election;
pub mod errors;
pub mod fetch_response;
pub mod frame;
pub mod internal_topics;
pub mod message_set;
pub mod probe;
pub mod reader;
pub mod records;
pub mod versions;

pub use errors::ErrorCode;
pub use frame::{FrameError, RequestFrame};
