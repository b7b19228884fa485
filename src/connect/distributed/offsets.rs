//! Source offsets in the offsets topic (Kafka's `KafkaOffsetBackingStore`):
//! key `["<connector>", {<partition>}]`, value `{<offset>}`, partitioned
//! by the key's hash as the default partitioner does, so each source
//! partition's history stays in one ordered, compacted partition.
//!
//! The whole topic is read at startup and followed afterwards; the herder
//! reads it to its end again before it starts tasks, so a task that moved
//! from a dead worker resumes from that worker's last stored offsets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::api::SourceMap;
use super::super::worker::{BoxFuture, OffsetStore, WorkerConfig};
use super::super::Result;
use super::log::TopicLog;
use super::records::{offset_key, offset_value, parse_offset};
use crate::client::Admin;

type Offsets = HashMap<Vec<u8>, SourceMap>;

/// The offsets topic as an [`OffsetStore`].
pub struct KafkaOffsetStore {
    log: TopicLog,
    /// Encoded key → latest offset.
    offsets: Arc<Mutex<Offsets>>,
}

fn lock(m: &Mutex<Offsets>) -> std::sync::MutexGuard<'_, Offsets> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KafkaOffsetStore {
    /// Starts following the topic and reads it to its end.
    pub async fn start(
        worker: &WorkerConfig,
        admin: Admin,
        topic: &str,
        timeout: Duration,
    ) -> Result<KafkaOffsetStore> {
        let offsets: Arc<Mutex<Offsets>> = Arc::default();
        let view = offsets.clone();
        let log = TopicLog::start(
            worker,
            admin,
            topic,
            Box::new(move |r| {
                let Some(key) = &r.key else { return };
                match parse_offset(key, r.value.as_deref()) {
                    // Stored under the bytes this worker would write for the same key.
                    Ok((connector, partition, Some(offset))) => {
                        lock(&view).insert(offset_key(&connector, &partition), offset);
                    }
                    Ok((connector, partition, None)) => {
                        lock(&view).remove(&offset_key(&connector, &partition));
                    }
                    Err(e) => tracing::warn!(error = %e, "skipping a record of the offsets topic"),
                }
            }),
        )
        .await?;
        log.read_to_end(timeout).await?;
        Ok(KafkaOffsetStore { log, offsets })
    }

    /// Catches up with offsets other workers stored.
    pub async fn read_to_end(&self, timeout: Duration) -> Result<()> {
        self.log.read_to_end(timeout).await
    }

    pub async fn close(&self) {
        self.log.close().await;
    }
}

impl OffsetStore for KafkaOffsetStore {
    fn get(&self, connector: &str, partition: &SourceMap) -> Option<SourceMap> {
        lock(&self.offsets).get(&offset_key(connector, partition)).cloned()
    }

    fn put_all<'a>(&'a self, connector: &'a str, offsets: Vec<(SourceMap, SourceMap)>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if offsets.is_empty() {
                return Ok(());
            }
            let records: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                offsets.iter().map(|(p, o)| (offset_key(connector, p), Some(offset_value(o)))).collect();
            self.log.send_all(records).await?;
            // Acknowledged by all in-sync replicas: visible here at once, as the reader will see it too.
            let mut view = lock(&self.offsets);
            for (p, o) in offsets {
                view.insert(offset_key(connector, &p), o);
            }
            Ok(())
        })
    }
}
