//! [`Admin::elect_leaders`]: preferred and unclean leader elections
//! (ElectLeaders, KIP-460), sent to the controller as Kafka's admin client does.

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::admin::{timeout_ms, Admin};
use super::{ClientError, ResponseError};

pub use crate::protocol::election::ElectionType;

/// One partition's outcome.
#[derive(Debug, Clone)]
pub struct ElectionResult {
    pub topic: String,
    pub partition: i32,
    /// `None`: the election happened. `ElectionNotNeeded` means a valid
    /// leader was already in place.
    pub error: Option<ClientError>,
}

impl Admin {
    /// Runs elections for `partitions` (`None`: every partition; the broker
    /// then leaves out the ones that need none). Results are sorted by topic
    /// and partition.
    pub async fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<ElectionResult>, ClientError> {
        let topic_partitions = partitions.map(|parts| {
            let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = std::collections::BTreeMap::new();
            for (t, p) in parts {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect::<Vec<_>>()
        });
        // Leave the broker time to answer before our own request timeout fires.
        let total = timeout_ms(&self.cluster);
        let req = ElectLeadersRequest::default()
            .with_election_type(kind.wire())
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(total - total / 5);
        self.cluster
            .retry(|| async {
                let conn = self.cluster.controller_connection().await?;
                let version = conn.version(ApiKey::ElectLeaders)?;
                if version == 0 && kind == ElectionType::Unclean {
                    return Err(ClientError::kafka(
                        ResponseError::UnsupportedVersion,
                        Some("the broker supports only preferred leader elections (ElectLeaders v0)".into()),
                        "elect leaders",
                    ));
                }
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, None, || "elect leaders".to_string())?;
                let mut results = Vec::new();
                for topic in resp.replica_election_results {
                    for p in topic.partition_result {
                        let name = topic.topic.0.to_string();
                        let context = format!("partition {name}-{}", p.partition_id);
                        let error = ClientError::check(p.error_code, p.error_message.as_ref(), move || context).err();
                        results.push(ElectionResult { topic: name, partition: p.partition_id, error });
                    }
                }
                results.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                Ok(results)
            })
            .await
    }
}
