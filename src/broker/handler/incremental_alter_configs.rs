//! IncrementalAlterConfigs (44): SET, DELETE, APPEND and SUBTRACT on single
//! keys of a topic's overrides or a broker's dynamic config. The stored set is
//! read from ZooKeeper, the operations applied (`config::dynamic`), and the
//! result validated and written like an AlterConfigs (`alter_configs`), so the
//! checks and error codes are the same; `validate_only` writes nothing.
//! APPEND and SUBTRACT need a list key (`cleanup.policy`, the throttled-replica
//! lists …): INVALID_CONFIG otherwise, as in Kafka.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::{effective_value, replace, resource, stored, Resource};
use super::sb;
use crate::broker::topics::AdminError;
use crate::broker::Broker;
use crate::config::dynamic::{apply_incremental, is_broker_list_key, AlterOp};
use crate::config::topic::is_list_key;
use crate::protocol::ErrorCode;

const OP_NAMES: [&str; 4] = ["SET", "DELETE", "APPEND", "SUBTRACT"];

pub async fn handle(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for res in req.resources {
        let name = res.resource_name.to_string();
        let result = AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let outcome = async {
            let resource = resource(broker, res.resource_type, &name)?;
            let mut ops: Vec<(String, AlterOp)> = Vec::with_capacity(res.configs.len());
            for c in &res.configs {
                let key = c.name.to_string();
                if ops.iter().any(|(k, _)| *k == key) {
                    return Err(AdminError::new(ErrorCode::InvalidRequest, "Error due to duplicate config keys"));
                }
                let value = c.value.as_ref().map(|v| v.to_string());
                if value.is_none() && c.config_operation != 1 {
                    let op = OP_NAMES.get(usize::try_from(c.config_operation).unwrap_or(usize::MAX)).unwrap_or(&"?");
                    return Err(AdminError::new(
                        ErrorCode::InvalidRequest,
                        format!("Null value not supported for : {op}:{key}"),
                    ));
                }
                let op = AlterOp::from_wire(c.config_operation, value.as_deref()).ok_or_else(|| {
                    AdminError::new(
                        ErrorCode::InvalidRequest,
                        format!("Unknown alter config operation {} for {key}", c.config_operation),
                    )
                })?;
                ops.push((key, op));
            }
            let current = stored(broker, &resource).await?;
            let is_list = |k: &str| match &resource {
                Resource::Topic(_) => is_list_key(k),
                Resource::Broker(_) => is_broker_list_key(k),
            };
            let updated = apply_incremental(&current, &ops, is_list, |k| effective_value(broker, &resource, k))
                .map_err(|e| AdminError::new(ErrorCode::InvalidConfig, e.to_string()))?;
            replace(broker, &resource, updated, req.validate_only).await
        };
        responses.push(match outcome.await {
            Ok(()) => result.with_error_code(0).with_error_message(None),
            Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(sb(e.message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
