//! Produce (0): validate each partition's batch — its header (magic, CRC-32C,
//! record count, size), then every record in it as Kafka's log validator does
//! (`protocol::records`; compressed batches are decompressed for this, capped)
//! — append the client's bytes with only baseOffset and partitionLeaderEpoch
//! patched, and answer — or, with acks=0, answer nothing at all. A batch with
//! one bad record is refused whole (INVALID_RECORD from v8, CORRUPT_MESSAGE
//! before; see `errors::from_records`) and nothing of it is stored.
//!
//! acks=all: a partition whose ISR is smaller than min.insync.replicas refuses
//! the batch (NOT_ENOUGH_REPLICAS, nothing written); otherwise the answer
//! waits (on the partition's change signal, no polling) until the HW passes
//! the batch's last offset, at most the request's timeout (REQUEST_TIMED_OUT);
//! an ISR that drops below the minimum meanwhile gives
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use std::sync::Arc;
use std::time::Duration;

use super::sb;
use crate::broker::internal_log::wait_committed;
use crate::broker::replicas::ReplicaManager;
use crate::broker::{now_ms, Partition};
use crate::protocol::batch::{self, BatchError, Compression};
use crate::protocol::records::{self, RecordRules, RecordsError};
use crate::protocol::{errors, internal_topics, ErrorCode};

/// Most bytes the records of one compressed batch may decompress to, as a
/// multiple of the topic's max.message.bytes (the compressed size it accepts).
/// Generous for real data; a decompression bomb is cut off there.
const MAX_DECOMPRESSION_RATIO: u64 = 64;
/// Floor of that cap, so a small max.message.bytes does not refuse batches of
/// highly compressible records.
const MIN_DECOMPRESSED_LIMIT: u64 = 64 * 1024 * 1024;

/// Most bytes the records of one compressed batch (or a v0/v1 wrapper
/// message) may decompress to, for a topic with this max.message.bytes.
pub(crate) fn decompressed_limit(max_message_bytes: u32) -> u64 {
    (u64::from(max_message_bytes) * MAX_DECOMPRESSION_RATIO).max(MIN_DECOMPRESSED_LIMIT)
}

/// A produce request after its appends: answered now, not at all (acks=0),
/// or once replication caught up (acks=all).
pub enum Produced {
    Now(Option<ProduceResponse>),
    /// acks=0 and a partition failed: there is no answer to carry the error,
    /// so the connection is closed, as Kafka does, and the client notices
    /// (refreshes its metadata and reconnects). Carries the reason to log.
    CloseConnection(String),
    Waiting(std::pin::Pin<Box<dyn std::future::Future<Output = ProduceResponse> + Send + 'static>>),
}

/// Appends every partition's batch, in request order, before returning; an
/// acks=all answer then waits without holding up the connection's next
/// requests. Each partition's validation and append run in one of the
/// broker's storage-I/O slots (`storage_io`): when the disk falls behind the
/// request waits for a slot, and the connection reads no further request
/// meanwhile (back-pressure, as Kafka's request handlers block on the write).
pub async fn handle(
    replicas: &ReplicaManager,
    authz: &crate::security::authorizer::Authz<'_>,
    req: ProduceRequest,
    version: i16,
) -> Produced {
    use crate::security::acl::AclOperation;
    let acks = req.acks;
    // Kafka: a transactional request without TransactionalId:Write is refused
    // on every partition; then Topic:Write per topic (KIP-679: idempotence
    // needs no extra right).
    let txn_denied =
        req.transactional_id.as_ref().is_some_and(|id| !authz.transactional_id(AclOperation::Write, id.as_str()));
    let acks_valid = (-1..=1).contains(&acks);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut appended_any = false;
    // (topic index, partition index in it, partition, last offset) of acks=all appends.
    let mut pending = Vec::new();
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        let denied = if txn_denied {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        } else if !authz.topic(AclOperation::Write, &name) {
            Some(ErrorCode::TopicAuthorizationFailed)
        } else {
            None
        };
        for pd in topic.partition_data {
            let size = pd.records.as_ref().map_or(0, |r| r.len() as u64);
            let resp = if let Some(code) = denied {
                error_response(pd.index, code, None)
            } else if acks_valid {
                let result = append_partition(replicas, &name, pd.index, pd.records, version, acks).await;
                appended_any |= result.is_ok();
                match result {
                    Ok((resp, partition, last_offset)) => {
                        let records = u64::try_from(last_offset - resp.base_offset + 1).unwrap_or(0);
                        replicas.topic_metrics(&partition).produced(size, records);
                        if acks == -1 {
                            pending.push((responses.len(), partition_responses.len(), partition, last_offset));
                        }
                        resp
                    }
                    Err(e) => {
                        count_failed(replicas, &name, pd.index, e.code, size);
                        error_response(pd.index, e.code, e.message).with_record_errors(e.record_errors)
                    }
                }
            } else {
                error_response(pd.index, ErrorCode::InvalidRequiredAcks, None)
            };
            partition_responses.push(resp);
        }
        responses
            .push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partition_responses));
    }
    if appended_any {
        replicas.notify_data_arrived();
    }
    if acks == 0 {
        return match first_error(&responses) {
            Some(reason) => Produced::CloseConnection(format!("acks=0 produce failed: {reason}")),
            None => Produced::Now(None),
        };
    }
    if pending.is_empty() {
        return Produced::Now(Some(ProduceResponse::default().with_responses(responses)));
    }
    // Counted in the produce purgatory while the answer waits.
    let delayed = replicas.metrics().delayed(crate::metrics::requests::Purgatory::Produce, pending.len());
    Produced::Waiting(Box::pin(async move {
        let _delayed = delayed;
        for (t, p, partition, last_offset) in pending {
            if let Err(code) = wait_committed(&partition, last_offset, deadline).await {
                let resp = &mut responses[t].partition_responses[p];
                *resp = error_response(resp.index, code, None);
            }
        }
        ProduceResponse::default().with_responses(responses)
    }))
}

/// A refused append in the topic's counters (hosted topics only: a client
/// naming topics that do not exist must not create series), and in the
/// all-topics ones. Kafka counts a batch refused for its size as rejected bytes.
fn count_failed(replicas: &ReplicaManager, topic: &str, index: i32, code: ErrorCode, size: u64) {
    let rejected = (code == ErrorCode::MessageTooLarge).then_some(size);
    match replicas.partition(topic, index) {
        Some(partition) => replicas.topic_metrics(&partition).produce_failed(rejected),
        None => replicas.metrics().all_topics().produce_failed(rejected),
    }
}

/// The first failed partition of an answer, as `topic-partition: ERROR`.
fn first_error(responses: &[TopicProduceResponse]) -> Option<String> {
    responses.iter().find_map(|t| {
        t.partition_responses.iter().find(|p| p.error_code != 0).map(|p| {
            let code =
                ErrorCode::try_from_code(p.error_code).map_or_else(|| p.error_code.to_string(), |c| format!("{c:?}"));
            format!("{}-{}: {code}", t.name.0, p.index)
        })
    })
}

/// Why one partition's batch was not appended; `record_errors` only for
/// records refused by a rule of the topic (Produce v8+ carries them).
struct PartitionError {
    code: ErrorCode,
    message: Option<String>,
    record_errors: Vec<BatchIndexAndErrorMessage>,
}

impl From<(ErrorCode, Option<String>)> for PartitionError {
    fn from((code, message): (ErrorCode, Option<String>)) -> Self {
        PartitionError { code, message, record_errors: Vec::new() }
    }
}

impl From<ErrorCode> for PartitionError {
    fn from(code: ErrorCode) -> Self {
        PartitionError { code, message: None, record_errors: Vec::new() }
    }
}

async fn append_partition(
    replicas: &ReplicaManager,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    version: i16,
    acks: i16,
) -> Result<(PartitionProduceResponse, Arc<Partition>, i64), PartitionError> {
    if internal_topics::is_internal(topic) {
        // Only the broker itself writes there, through its internal-log handles.
        return Err((ErrorCode::InvalidTopicException, Some(format!("Cannot append to internal topic {topic}"))).into());
    }
    let partition = replicas.leader_partition(topic, index)?;
    let records = records.ok_or((ErrorCode::CorruptMessage, Some("no record batch".to_string())))?;
    let config = partition.config();
    if records.len() as u64 > u64::from(config.max_message_bytes) {
        return Err((
            ErrorCode::MessageTooLarge,
            Some(format!(
                "The request included a message larger than the max message size the server will accept ({} > {}).",
                records.len(),
                config.max_message_bytes
            )),
        )
            .into());
    }
    let headers = batch::validate(&records).map_err(|e| (batch_error_code(&e), Some(e.to_string())))?;
    let [header] = headers.as_slice() else {
        let code = if version >= 8 { ErrorCode::InvalidRecord } else { ErrorCode::CorruptMessage };
        return Err((
            code,
            Some(format!("Produce v{version} requests must carry exactly one record batch per partition")),
        )
            .into());
    };
    if header.compression() == Compression::Zstd && version < 7 {
        return Err(ErrorCode::UnsupportedCompressionType.into());
    }
    if acks == -1 {
        let isr = partition.isr().len().max(1);
        if isr < config.min_insync_replicas as usize {
            return Err((
                ErrorCode::NotEnoughReplicas,
                Some(format!(
                    "The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement of {} for \
                     partition {}",
                    config.min_insync_replicas, partition.tp
                )),
            )
                .into());
        }
    }
    let rules = RecordRules {
        require_keys: config.cleanup_policy.compact,
        max_decompressed_bytes: decompressed_limit(config.max_message_bytes),
    };
    // Decompressing, the append and whatever it brings (a segment roll, a
    // flush.messages fsync) may block: one storage-I/O slot for all of it.
    let appended = replicas
        .storage_io()
        .run(|| -> Result<_, PartitionError> {
            records::validate_records(&records, header, &rules)
                .map_err(|e| records_error(e, version, &partition.tp))?;
            // The one copy of the record bytes: into a buffer we may patch.
            let mut buf = records.to_vec();
            let appended = partition.append(&mut buf, header, now_ms())?;
            if partition.has_unflushed_rolled() {
                // The sealed segment's fsync runs in the background, not here.
                replicas.notify_rolled();
            }
            Ok(appended)
        })
        .await?;
    let resp = PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(0)
        .with_base_offset(appended.base_offset)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(appended.log_start_offset);
    Ok((resp, partition, appended.last_offset))
}

/// The answer to a batch whose records were refused, worded as Kafka words it:
/// each message names the partition; records refused by a rule of the topic
/// are listed in `record_errors` too.
fn records_error(err: RecordsError, version: i16, tp: &impl std::fmt::Display) -> PartitionError {
    let code = errors::from_records(&err, version);
    match err {
        RecordsError::Rejected(mut rejected) => {
            for r in &mut rejected {
                r.message = format!("{} in topic partition {tp}.", r.message);
            }
            let record_errors = rejected
                .iter()
                .map(|r| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(r.batch_index)
                        .with_batch_index_error_message(Some(sb(r.message.as_str())))
                })
                .collect();
            PartitionError { code, message: Some(RecordsError::Rejected(rejected).to_string()), record_errors }
        }
        other => PartitionError {
            code,
            message: Some(format!("{other} in topic partition {tp}.")),
            record_errors: Vec::new(),
        },
    }
}

fn batch_error_code(err: &BatchError) -> ErrorCode {
    match err {
        BatchError::UnsupportedMagic { .. } => ErrorCode::UnsupportedForMessageFormat,
        _ => ErrorCode::CorruptMessage,
    }
}

fn error_response(index: i32, code: ErrorCode, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(sb))
}
