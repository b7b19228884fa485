//! OffsetForLeaderEpoch (23, v2–4): for each partition this broker leads, the
//! largest leader epoch ≤ the requested one and the offset where it ended
//! (the log end offset for the current epoch), from the leader-epoch cache.
//! Followers ask it before fetching from a new leader to find where their log
//! diverges; consumers use it to detect truncation. A `current_leader_epoch`
//! older than ours is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.

use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::replicas::ReplicaManager;

pub fn handle(replicas: &ReplicaManager, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let resp =
                        EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                    let partition = match replicas.leader_partition(&name, p.partition) {
                        Ok(partition) => partition,
                        Err(code) => return resp.with_error_code(code.code()),
                    };
                    if let Err(code) = partition.check_leader_epoch(p.current_leader_epoch) {
                        return resp.with_error_code(code.code());
                    }
                    let (epoch, end) = partition.end_offset_for_epoch(p.leader_epoch);
                    resp.with_error_code(0).with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(topic.topic).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
