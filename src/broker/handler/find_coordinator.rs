//! FindCoordinator (10): this broker coordinates every group, so clients that
//! set a group.id but use assign() can run. The group protocol itself is not
//! advertised yet.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::sb;
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let (host, port) = &broker.advertised;
    let mut resp = FindCoordinatorResponse::default()
        .with_error_code(0)
        .with_node_id(BrokerId(broker.node_id))
        .with_host(sb(host.clone()))
        .with_port(i32::from(*port));
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(broker.node_id))
                    .with_host(sb(host.clone()))
                    .with_port(i32::from(*port))
            })
            .collect();
    }
    resp
}
