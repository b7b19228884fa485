//! ListOffsets (2): earliest (-2) is the log start offset, latest (-1) the
//! high watermark, or the last stable offset for `isolation_level`
//! read_committed (v2+),
//! max-timestamp (-3, v7) the record with the largest timestamp, and any
//! other value the first record whose timestamp is at least that value,
//! found through the time index. No match answers offset -1, as Kafka does.
//! A request with a timestamp or max-timestamp lookup reads index and segment
//! files, so it is answered in one of the broker's storage-I/O slots.

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::replicas::ReplicaManager;
use crate::protocol::errors;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(replicas: &ReplicaManager, req: ListOffsetsRequest, _version: i16) -> ListOffsetsResponse {
    let reads_files =
        req.topics.iter().flat_map(|t| &t.partitions).any(|p| p.timestamp >= 0 || p.timestamp == MAX_TIMESTAMP);
    if reads_files {
        replicas.storage_io().run(|| answer(replicas, req)).await
    } else {
        answer(replicas, req)
    }
}

fn answer(replicas: &ReplicaManager, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_leader_epoch(-1);
                    let partition = match replicas.leader_partition(name, p.partition_index) {
                        Ok(partition) => partition,
                        Err(code) => return resp.with_error_code(code.code()).with_offset(-1).with_timestamp(-1),
                    };
                    let found = match p.timestamp {
                        LATEST if read_committed => Ok(Some((partition.last_stable_offset(), -1))),
                        LATEST => Ok(Some((partition.high_watermark(), -1))),
                        EARLIEST => Ok(Some((partition.log_start_offset(), -1))),
                        MAX_TIMESTAMP => Ok(partition.max_timestamp_and_offset()),
                        ts => partition.offset_for_timestamp(ts),
                    };
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            resp.with_error_code(0).with_offset(offset).with_timestamp(timestamp)
                        }
                        Ok(None) => resp.with_error_code(0).with_offset(-1).with_timestamp(-1),
                        Err(err) => {
                            tracing::error!(partition = %partition.tp, error = %err, "offset lookup failed");
                            resp.with_error_code(errors::from_storage(&err).code()).with_offset(-1).with_timestamp(-1)
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
