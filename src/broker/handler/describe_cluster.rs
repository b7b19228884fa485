//! DescribeCluster (60): the cluster id, the controller and the live brokers
//! (id, host and port on the listener the request came in on, rack), from the
//! metadata cache, as Kafka 2.8+ answers it. Authorized operations are filled
//! by the dispatcher (`authorize::describe_cluster`) when asked for; otherwise the
//! field carries Kafka's "not requested" value, -2147483648.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::sb;
use crate::broker::listeners::{endpoint_for, ListenerContext};
use crate::metadata::MetadataStore;

/// Kafka's `authorizedOperations` when they were not asked for (or not known).
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// `me` is this broker's id; endpoints are those of `listener`, the one the request came in on.
pub fn handle(
    metadata: &MetadataStore,
    _req: DescribeClusterRequest,
    _version: i16,
    listener: &ListenerContext,
    me: i32,
) -> DescribeClusterResponse {
    let brokers = metadata
        .brokers()
        .into_iter()
        .filter_map(|b| {
            let (host, port) = endpoint_for(listener, me, &b)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(sb(host))
                    .with_port(i32::from(port))
                    .with_rack(b.rack.map(sb)),
            )
        })
        .collect();
    DescribeClusterResponse::default()
        .with_error_code(0)
        .with_error_message(None)
        .with_cluster_id(sb(metadata.cluster_id()))
        .with_controller_id(BrokerId(metadata.controller_id().unwrap_or(-1)))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED)
}
