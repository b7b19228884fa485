//! The one error type of the client library. Kafka error codes are kept as
//! [`ResponseError`] (so callers can match on them through
//! [`ClientError::code`]) together with the broker's own message when it sent
//! one; everything else is a network, timeout, protocol or configuration
//! problem. Every message is meant to be shown to a user as it is.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use kafka_protocol::ResponseError;

/// Why a client operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker answered with a Kafka error code.
    #[error("{}", KafkaMessage { code: *code, message: message.as_deref(), context })]
    Kafka {
        /// The error code; its name is `code_name(code)`, e.g. `TOPIC_ALREADY_EXISTS`.
        code: ResponseError,
        /// The broker's `error_message`, when it sent one.
        message: Option<String>,
        /// What the client was doing, e.g. "topic 'orders'" or "partition orders-3".
        context: String,
    },
    /// A broker could not be reached or the connection broke.
    #[error("cannot talk to broker {broker}: {source}")]
    Io {
        broker: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// An operation did not finish in time.
    #[error("timed out after {} ms {what}", after.as_millis())]
    Timeout { what: String, after: Duration },
    /// The broker sent something this client cannot understand.
    #[error("protocol error with broker {broker}: {reason}")]
    Protocol { broker: String, reason: String },
    /// A configuration key or value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A consumer partition has no position and `auto.offset.reset` is `none`.
    #[error(
        "no offset for partition {topic}-{partition}: seek to a position first or set auto.offset.reset to \
         earliest or latest"
    )]
    NoOffset { topic: String, partition: i32 },
    /// The producer (or consumer) was closed.
    #[error("the {0} is closed")]
    Closed(&'static str),
    /// An operation the transactional producer does not allow in its current
    /// state, e.g. `send` outside a transaction or `begin_transaction` twice
    /// (Java's `IllegalStateException`).
    #[error("{0}")]
    InvalidState(String),
    /// The current transaction failed; the producer can go on only after
    /// `abort_transaction`.
    #[error("the transaction cannot be committed and must be aborted: {0}")]
    TransactionAbortable(Box<ClientError>),
    /// A record was dropped unsent because its transaction was aborted.
    #[error("the record was not sent: its transaction was aborted")]
    TransactionAborted,
    /// The transactional producer cannot go on (fenced by a newer instance
    /// with the same transactional.id, or not authorized): close it.
    #[error("the transactional producer cannot continue and must be closed: {0}")]
    TransactionFatal(Box<ClientError>),
    /// As group leader, a plugged-in
    /// [`CustomAssignor`](crate::client::CustomAssignor) failed to assign
    /// partitions; this rebalance ended with nothing assigned and the next
    /// poll joins again.
    #[error("the group leader's '{assignor}' assignor failed: {source}")]
    Assignor {
        assignor: String,
        #[source]
        source: Box<ClientError>,
    },
}

impl ClientError {
    /// The Kafka error code, if the broker answered with one.
    pub fn code(&self) -> Option<ResponseError> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            ClientError::TransactionAbortable(cause) | ClientError::TransactionFatal(cause) => cause.code(),
            _ => None,
        }
    }

    /// Whether trying again (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => is_retriable_code(*code),
            ClientError::Io { .. } | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Whether cached metadata (leaders, controller) is likely stale after this error.
    pub(crate) fn invalidates_metadata(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => matches!(
                code,
                ResponseError::NotLeaderOrFollower
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::UnknownTopicOrPartition
                    | ResponseError::NotController
                    | ResponseError::FencedLeaderEpoch
                    | ResponseError::UnknownLeaderEpoch
                    | ResponseError::KafkaStorageError
                    | ResponseError::BrokerNotAvailable
                    | ResponseError::ReplicaNotAvailable
                    | ResponseError::NotCoordinator
            ),
            ClientError::Io { .. } | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn kafka(code: ResponseError, message: Option<String>, context: impl Into<String>) -> ClientError {
        let message = message.filter(|m| !m.trim().is_empty());
        ClientError::Kafka { code, message, context: context.into() }
    }

    /// A Kafka error from a wire error code, or `Ok` for 0.
    pub(crate) fn check(
        code: i16,
        message: Option<&kafka_protocol::protocol::StrBytes>,
        context: impl FnOnce() -> String,
    ) -> Result<(), ClientError> {
        match ResponseError::try_from_code(code) {
            None => Ok(()),
            Some(code) => Err(ClientError::kafka(code, message.map(|m| m.to_string()), context())),
        }
    }

    /// Whether the broker's address refused the connection (nothing listens
    /// there) or could not be resolved.
    pub fn is_refused(&self) -> bool {
        match self {
            ClientError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound
            ),
            _ => false,
        }
    }

    pub(crate) fn io(broker: impl Into<String>, err: std::io::Error) -> ClientError {
        ClientError::Io { broker: broker.into(), source: Arc::new(err) }
    }

    pub(crate) fn protocol(broker: impl Into<String>, reason: impl fmt::Display) -> ClientError {
        ClientError::Protocol { broker: broker.into(), reason: reason.to_string() }
    }

    pub(crate) fn timeout(what: impl Into<String>, after: Duration) -> ClientError {
        ClientError::Timeout { what: what.into(), after }
    }
}

/// Retriable per the Kafka protocol, plus the errors a broker in the middle of
/// leader changes or topic creation sends that the crate's table marks final.
pub(crate) fn is_retriable_code(code: ResponseError) -> bool {
    code.is_retriable()
        || matches!(
            code,
            ResponseError::NotController | ResponseError::BrokerNotAvailable | ResponseError::ThrottlingQuotaExceeded
        )
}

/// The Kafka name of an error code, e.g. `TOPIC_ALREADY_EXISTS`.
pub fn code_name(code: ResponseError) -> String {
    if let ResponseError::Unknown(c) = code {
        return format!("UNKNOWN_ERROR_CODE_{c}");
    }
    let camel = code.to_string();
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// What a user should read when the broker sent no message of its own.
fn describe(code: ResponseError) -> Option<&'static str> {
    use ResponseError as E;
    Some(match code {
        E::UnknownTopicOrPartition => "the topic or partition does not exist",
        E::TopicAlreadyExists => "the topic already exists",
        E::LeaderNotAvailable => "the partition has no leader right now (the topic may still be being created)",
        E::NotLeaderOrFollower => "the broker is not the leader of the partition",
        E::RequestTimedOut => "the broker timed out processing the request",
        E::MessageTooLarge => "the record batch is larger than the broker or topic accepts (message.max.bytes)",
        E::OffsetOutOfRange => "the offset is outside the range the partition holds",
        E::InvalidTopicException => "the topic name is invalid",
        E::InvalidPartitions => "the number of partitions is invalid",
        E::InvalidReplicationFactor => "the replication factor is invalid",
        E::InvalidConfig => "a topic configuration is invalid",
        E::NotController => "the broker is not the controller",
        E::TopicDeletionDisabled => "topic deletion is disabled on the broker (delete.topic.enable=false)",
        E::UnsupportedVersion => "the broker does not support this request version",
        E::UnsupportedCompressionType => "the broker does not support this compression type",
        E::CorruptMessage => "the broker found the record batch corrupt",
        E::InvalidRecord => "the broker refused a record as invalid",
        E::NotEnoughReplicas => "fewer in-sync replicas than min.insync.replicas",
        E::NotEnoughReplicasAfterAppend => "written, but fewer in-sync replicas than min.insync.replicas",
        E::InvalidRequiredAcks => "acks must be 0, 1 or -1",
        E::OutOfOrderSequenceNumber => "the broker received an out-of-order sequence number",
        E::UnknownProducerId => "the broker no longer knows this producer id",
        E::InvalidProducerEpoch => "the producer has been fenced by a newer instance",
        E::ProducerFenced => "the producer has been fenced by a newer instance with the same transactional.id",
        E::TransactionalIdAuthorizationFailed => "not authorized to use this transactional.id",
        E::InvalidTxnState => "the request is not valid in the transaction's current state",
        E::ConcurrentTransactions => "the coordinator is still completing the previous transaction",
        E::InvalidTransactionTimeout => {
            "transaction.timeout.ms is larger than the broker allows (transaction.max.timeout.ms)"
        }
        E::KafkaStorageError => "the broker had a storage error",
        E::PolicyViolation => "the request violates a broker policy",
        E::ClusterAuthorizationFailed | E::TopicAuthorizationFailed => "not authorized",
        _ => return None,
    })
}

struct KafkaMessage<'a> {
    code: ResponseError,
    message: Option<&'a str>,
    context: &'a str,
}

impl fmt::Display for KafkaMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(message) = self.message {
            // The broker's own words are the most precise ("Topic 'x' already exists.").
            return f.write_str(message);
        }
        let name = code_name(self.code);
        let what = describe(self.code).unwrap_or("the broker refused the request");
        if self.context.is_empty() {
            write!(f, "{what} ({name})")
        } else {
            write!(f, "{}: {what} ({name})", self.context)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_kafka_style() {
        assert_eq!(code_name(ResponseError::TopicAlreadyExists), "TOPIC_ALREADY_EXISTS");
        assert_eq!(code_name(ResponseError::UnknownTopicOrPartition), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(code_name(ResponseError::Unknown(1000)), "UNKNOWN_ERROR_CODE_1000");
    }

    #[test]
    fn display_prefers_the_broker_message() {
        let e = ClientError::kafka(ResponseError::TopicAlreadyExists, Some("Topic 'x' already exists.".into()), "x");
        assert_eq!(e.to_string(), "Topic 'x' already exists.");
        assert_eq!(e.code(), Some(ResponseError::TopicAlreadyExists));
        let e = ClientError::kafka(ResponseError::UnknownTopicOrPartition, Some(" ".into()), "topic 'y'");
        assert_eq!(e.to_string(), "topic 'y': the topic or partition does not exist (UNKNOWN_TOPIC_OR_PARTITION)");
    }
}
