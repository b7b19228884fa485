//! Replaying changelog partitions into stores: restoring an active task's
//! stores before it processes, and keeping standby replicas current.
//!
//! A [`Restorer`] owns one consumer of our client in assign mode (no group,
//! no commits — the checkpoint file is where restored offsets are kept).
//! Under exactly-once it reads with `isolation.level=read_committed`, so
//! records of aborted transactions never reach a store and the end it
//! restores to is the last stable offset: state a crashed transaction wrote
//! to the changelog is not resurrected. Transaction markers are skipped by
//! the consumer at both levels, so a checkpoint offset may point past the
//! last record applied.
//!
//! The consumer's assignment changes only when the set of partitions asked
//! for changes (an assign refreshes metadata), and a partition is sought
//! only when its position differs from the one asked for, so a stream
//! thread polling standby changelogs every loop keeps its prefetch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::consumer::{ConsumerRecord, SeekTo};
use crate::client::{Consumer, ConsumerConfig, IsolationLevel, OffsetReset};
use crate::streams::error::{Result, StreamsError};
use crate::streams::state::KeyValueBytesStore;

/// How long one poll inside [`Restorer::restore`] waits.
const RESTORE_POLL: Duration = Duration::from_millis(200);
/// Default for how long a restore may go without progress before failing.
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads changelog partitions into stores with one assign-mode consumer.
pub struct Restorer {
    consumer: Consumer,
    read_committed: bool,
    stall_timeout: Duration,
}

impl std::fmt::Debug for Restorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restorer")
            .field("assignment", &self.consumer.assignment())
            .field("read_committed", &self.read_committed)
            .finish_non_exhaustive()
    }
}

impl Restorer {
    /// Connects a consumer. `client_props` are Kafka consumer properties
    /// (security, `client.id`, fetch sizes, …; the streams runtime passes
    /// the plain client keys and the `restore.consumer.`/`consumer.`
    /// prefixed ones, prefix removed). Group, commit, reset and isolation
    /// settings are the restorer's own and are overridden.
    pub async fn new(bootstrap: &str, client_props: &BTreeMap<String, String>, read_committed: bool) -> Result<Self> {
        let mut config = ConsumerConfig::new(bootstrap);
        for (key, value) in client_props {
            config.set(key, value)?;
        }
        config.group_id = None;
        config.group_instance_id = None;
        config.enable_auto_commit = false;
        // Only reached when an asked-for offset is gone (retention, a
        // recreated topic): replay what is left rather than fail.
        config.auto_offset_reset = OffsetReset::Earliest;
        config.isolation_level =
            if read_committed { IsolationLevel::ReadCommitted } else { IsolationLevel::ReadUncommitted };
        let consumer = Consumer::new(config).await?;
        Ok(Restorer { consumer, read_committed, stall_timeout: DEFAULT_STALL_TIMEOUT })
    }

    /// How long [`restore`](Self::restore) may go without progress (the
    /// partition's leader unreachable, …) before it fails. Default 120 s.
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    pub fn read_committed(&self) -> bool {
        self.read_committed
    }

    /// The consumer, for lag and position queries.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Assigns exactly `partitions` unless that is already the assignment.
    async fn ensure_assignment(&mut self, partitions: Vec<(String, i32)>) -> Result<()> {
        // Both sides are in (topic, partition) order.
        if self.consumer.assignment() != partitions {
            self.consumer.assign(partitions).await?;
        }
        Ok(())
    }

    /// The log start and end of an assigned partition; the end is the last
    /// stable offset under read_committed. Leaves the position at the start.
    async fn bounds(&mut self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let position = |c: &Consumer| {
            c.position(topic, partition)
                .ok_or_else(|| StreamsError::store(topic, format!("no offset found for partition {partition}")))
        };
        self.consumer.seek(topic, partition, SeekTo::End).await?;
        let end = position(&self.consumer)?;
        self.consumer.seek(topic, partition, SeekTo::Beginning).await?;
        let start = position(&self.consumer)?;
        Ok((start, end.max(start)))
    }

    /// The end a restore of this partition would stop at now: the high
    /// watermark, or the last stable offset under read_committed.
    pub async fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64> {
        self.ensure_assignment(vec![(topic.to_string(), partition)]).await?;
        Ok(self.bounds(topic, partition).await?.1)
    }

    /// Replays `topic`-`partition` from `from` (`None`: the beginning) up to
    /// the end offset read when it starts (the last stable offset under
    /// read_committed) into `store`: a null value deletes the key. The store
    /// is flushed at the end. Returns the offset to continue from (the next
    /// checkpoint offset): the end, or `from` if that was already there.
    ///
    /// An offset below the log start starts at the log start (the records
    /// before it were compacted or deleted); an offset beyond the end (the
    /// changelog was truncated or recreated) restores nothing and returns
    /// the end, with a warning — the store may hold state the changelog no
    /// longer has, which only wiping it repairs.
    pub async fn restore(
        &mut self,
        topic: &str,
        partition: i32,
        from: Option<i64>,
        store: &mut dyn KeyValueBytesStore,
    ) -> Result<i64> {
        self.ensure_assignment(vec![(topic.to_string(), partition)]).await?;
        let (start, end) = self.bounds(topic, partition).await?;
        let begin = match from {
            None => start,
            Some(f) if f > end => {
                tracing::warn!(
                    "changelog {topic}-{partition} ends at {end}, before the checkpointed offset {f}: \
                     it was truncated or recreated; the store is not restored"
                );
                return Ok(end);
            }
            Some(f) if f < start => {
                tracing::debug!("changelog {topic}-{partition} starts at {start}, after {f}; restoring from {start}");
                start
            }
            Some(f) => f,
        };
        if begin >= end {
            return Ok(begin);
        }
        self.consumer.seek(topic, partition, SeekTo::Offset(begin)).await?;
        let mut position = begin;
        let mut last_progress = Instant::now();
        let mut applied = 0u64;
        while position < end {
            let records = self.consumer.poll(RESTORE_POLL).await?;
            for record in &records {
                if record.topic == topic && record.partition == partition && record.offset < end {
                    apply(store, record)?;
                    applied += 1;
                }
            }
            // The position passes transaction markers and aborted records too.
            let now_at = self.consumer.position(topic, partition).unwrap_or(position);
            if now_at != position {
                position = now_at;
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= self.stall_timeout {
                return Err(StreamsError::store(
                    topic,
                    format!(
                        "restoring partition {partition} made no progress for {}s (at offset {position}, end {end})",
                        self.stall_timeout.as_secs()
                    ),
                ));
            }
        }
        store.flush()?;
        tracing::debug!("restored {applied} records of {topic}-{partition} from offset {begin} to {end}");
        Ok(end)
    }

    /// One poll of several changelog partitions at once, for standby tasks.
    /// `positions` maps each partition to the offset to read from (`None`:
    /// the beginning); the consumer is assigned and sought accordingly, and
    /// afterwards `positions` holds where the consumer now is (past the
    /// returned records and any markers). A partition whose offset turned
    /// out to be outside the log goes back to `None`.
    pub async fn poll_changelogs(
        &mut self,
        positions: &mut BTreeMap<(String, i32), Option<i64>>,
        timeout: Duration,
    ) -> Result<Vec<ConsumerRecord>> {
        self.ensure_assignment(positions.keys().cloned().collect()).await?;
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        for ((topic, partition), wanted) in positions.iter() {
            let current = self.consumer.position(topic, *partition);
            match wanted {
                Some(offset) if current != Some(*offset) => {
                    self.consumer.seek(topic, *partition, SeekTo::Offset(*offset)).await?;
                }
                None => self.consumer.seek(topic, *partition, SeekTo::Beginning).await?,
                Some(_) => {}
            }
        }
        // On an error the positions stay as asked, so the next call seeks
        // back to them and nothing is skipped.
        let records = self.consumer.poll(timeout).await?;
        for ((topic, partition), wanted) in positions.iter_mut() {
            *wanted = self.consumer.position(topic, *partition);
        }
        Ok(records)
    }

    pub async fn close(self) -> Result<()> {
        Ok(self.consumer.close().await?)
    }
}

/// Applies one changelog record to a store (a null value deletes).
pub(crate) fn apply(store: &mut dyn KeyValueBytesStore, record: &ConsumerRecord) -> Result<()> {
    match &record.key {
        Some(key) => store.put(key.clone(), record.value.clone()),
        None => {
            tracing::warn!(
                "skipping a changelog record without a key at {}-{} offset {}",
                record.topic,
                record.partition,
                record.offset
            );
            Ok(())
        }
    }
}
