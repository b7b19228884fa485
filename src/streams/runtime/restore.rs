//! TEMPORARY stub until streams-state lands.
use crate::client::{Consumer, ConsumerConfig, SeekTo};
use crate::streams::error::Result;
use crate::streams::state::KeyValueBytesStore;
use std::collections::BTreeMap;
use std::time::Duration;
pub struct Restorer {
    consumer: Consumer,
}
impl Restorer {
    pub async fn new(bootstrap: &str, client_props: &BTreeMap<String, String>, read_committed: bool) -> Result<Self> {
        let mut c = ConsumerConfig::new(bootstrap);
        for (k, v) in client_props {
            c.set(k, v)?;
        }
        if read_committed {
            c.set("isolation.level", "read_committed")?;
        }
        Ok(Restorer { consumer: Consumer::new(c).await? })
    }
    pub async fn restore(
        &mut self,
        topic: &str,
        partition: i32,
        from: Option<i64>,
        store: &mut dyn KeyValueBytesStore,
    ) -> Result<i64> {
        self.consumer.assign(vec![(topic.to_string(), partition)]).await?;
        self.consumer.seek(topic, partition, SeekTo::End).await?;
        let end = self.consumer.position(topic, partition).unwrap_or(0);
        self.consumer
            .seek(
                topic,
                partition,
                match from {
                    Some(o) => SeekTo::Offset(o),
                    None => SeekTo::Beginning,
                },
            )
            .await?;
        while self.consumer.position(topic, partition).is_none_or(|p| p < end) {
            for r in self.consumer.poll(Duration::from_millis(200)).await? {
                if let Some(k) = r.key {
                    store.put(k, r.value)?;
                }
            }
        }
        Ok(self.consumer.position(topic, partition).unwrap_or(end).max(end))
    }
}
