//! TCP plumbing shared by the broker: a listener with a connection cap and
//! accept backoff, framed connections that hand each request to a
//! [`RequestHandler`] in order, the shared request-bytes budget, per-address
//! rate-limited warnings, and the shutdown signal.
//!
//! It knows nothing of Kafka semantics beyond the length-prefixed frame.

pub mod budget;
pub mod connection;
pub mod listener;
pub mod shutdown;
pub mod tls;
pub mod warnings;
mod x509;

pub use connection::{Chunk, ConnInfo, FileChunk, FileSource, Outcome, RequestHandler, RequestTag, RequestTimes};
pub use listener::serve;
pub use shutdown::Shutdown;
