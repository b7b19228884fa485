//! Errors of the ZooKeeper-compatible server's lifecycle: configuration, binding,
//! storage and recovery. Wire-level error codes sent to clients are
//! [`super::proto::ErrorCode`], not these.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ZkError {
    /// A configuration key has a value the server cannot use.
    #[error("invalid value for {key}: {reason}")]
    Config { key: String, reason: String },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    ConfigFile { path: PathBuf, source: io::Error },
    /// The client port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// Reading or writing the data directory failed.
    #[error("storage error on {}: {source}", path.display())]
    Storage { path: PathBuf, source: io::Error },
    /// A snapshot or transaction log cannot be used.
    #[error("corrupt data in {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A write of the transaction log failed earlier and the log has not been
    /// reopened since; writes are refused until it is.
    #[error("the transaction log is not writable since an earlier write failed; retrying")]
    LogUnavailable,
    /// A server task stopped unexpectedly.
    #[error("ZooKeeper server stopped unexpectedly: {0}")]
    Stopped(String),
}

impl ZkError {
    pub(crate) fn storage(path: impl Into<PathBuf>, source: io::Error) -> ZkError {
        ZkError::Storage { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> ZkError {
        ZkError::Corrupt { path: path.into(), reason: reason.into() }
    }
}
