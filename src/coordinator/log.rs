//! The one layer every coordinator's state machine stands on: a narrow handle
//! to the partitions of one internal compacted topic (`__consumer_offsets`
//! for groups, `__transaction_state` for transactions).
//!
//! A coordinator needs three things from the broker and nothing else: append
//! key/value records to a partition it leads and learn when they are
//! committed (and at which offset), read a partition back from its start when
//! it takes the partition over, and hear when it gains or loses leadership.
//! The group coordinator also writes transactional batches for a producer
//! (TxnOffsetCommit) and, replaying, needs to see which records are
//! transactional and where each transaction's COMMIT or ABORT marker lies
//! ([`InternalLog::replay_with_markers`]); a coordinator that needs neither
//! uses the plain [`InternalLog::append`] and [`InternalLog::replay`]. [`InternalLog`]
//! is that contract. It is declared here, on the coordinator's side, and the
//! broker implements it (`broker::internal_log`): dependencies point one way,
//! broker → coordinator, so no coordinator imports a broker type or a request
//! handler. [`LeadershipFollower`] turns the handle's leadership snapshots
//! into load/unload events, so each coordinator's task loop only reacts.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::protocol::ErrorCode;

/// A future a handle returns (trait objects cannot have `async fn`s).
pub type LogFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One record to append: a key and a value (`None`: a tombstone).
pub type Entry = (Bytes, Option<Bytes>);

/// One record met while replaying, in offset order.
#[derive(Clone, Copy, Debug)]
pub struct Replayed<'a> {
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// What [`InternalLog::replay_with_markers`] meets, in offset order: data
/// records with the producer of their batch when it is transactional, and
/// transaction markers (control batches).
#[derive(Clone, Copy, Debug)]
pub enum ReplayItem<'a> {
    Record {
        record: Replayed<'a>,
        /// The batch's producer id when the batch is transactional: the
        /// record counts only once a COMMIT marker of that producer follows.
        txn_producer: Option<i64>,
    },
    /// A COMMIT (`commit`) or ABORT marker of `producer_id` at `offset`.
    Marker { offset: i64, producer_id: i64, commit: bool },
}

/// The producer a transactional batch is written for (TxnOffsetCommit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Which partitions of the topic this broker leads, as of one metadata change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leadership {
    /// The topic's partition count (0 while it does not exist).
    pub partition_count: i32,
    /// Led partitions and their leader epochs.
    pub led: BTreeMap<i32, i32>,
}

/// Why a partition could not be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("{topic}-{partition} is not hosted here")]
    NotHosted { topic: String, partition: i32 },
    #[error("the broker is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// The partitions of one internal compacted topic, as a coordinator sees them.
pub trait InternalLog: Send + Sync + 'static {
    /// The topic's name.
    fn topic(&self) -> &str;

    /// Appends `entries` to `partition` as one uncompressed batch, as its
    /// leader, and waits until they are committed (the high watermark passes
    /// the batch) or the handle's commit timeout passes, as a produce with
    /// acks=all would. With `leader_epoch`, refuses (NOT_LEADER_OR_FOLLOWER)
    /// when the partition is led under another epoch, so a coordinator that
    /// loaded the partition under an old epoch cannot write into a newer
    /// leader's log. Errors are a produce's: NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND),
    /// REQUEST_TIMED_OUT, KAFKA_STORAGE_ERROR, MESSAGE_TOO_LARGE… Nothing to
    /// append is success.
    fn append(
        &self,
        partition: i32,
        leader_epoch: Option<i32>,
        entries: Vec<Entry>,
    ) -> LogFuture<'_, Result<(), ErrorCode>>;

    /// [`InternalLog::append`], answering the batch's base offset (`None`
    /// when there was nothing to append or the handle cannot tell: entry `i`
    /// is at base + `i`). With `txn`, the batch is transactional for that
    /// producer and written as a coordinator writes it (no sequence number):
    /// the partition opens a transaction for the producer, which its COMMIT
    /// or ABORT marker ends, and refuses an older producer epoch
    /// (INVALID_PRODUCER_EPOCH). A handle that only implements `append`
    /// refuses transactional batches (UNKNOWN_SERVER_ERROR).
    fn append_batch(
        &self,
        partition: i32,
        leader_epoch: Option<i32>,
        txn: Option<TxnProducer>,
        entries: Vec<Entry>,
    ) -> LogFuture<'_, Result<Option<i64>, ErrorCode>> {
        Box::pin(async move {
            if txn.is_some() {
                return Err(ErrorCode::UnknownServerError);
            }
            self.append(partition, leader_epoch, entries).await.map(|()| None)
        })
    }

    /// Reads `partition` from its log start to its log end (blocking I/O:
    /// call it from `spawn_blocking`), handing every record of every data
    /// batch to `visit` in offset order. Control batches are skipped, and so
    /// is the batch header (use [`InternalLog::replay_with_markers`] to see
    /// transactions); unreadable batches are skipped with a warning.
    fn replay(&self, partition: i32, visit: &mut dyn FnMut(Replayed<'_>)) -> Result<(), ReplayError>;

    /// As [`InternalLog::replay`], but every record comes with its batch's
    /// producer when the batch is transactional, and transaction markers are
    /// handed over too, in offset order. A handle that only implements
    /// `replay` reports every record as non-transactional and no markers.
    fn replay_with_markers(&self, partition: i32, visit: &mut dyn FnMut(ReplayItem<'_>)) -> Result<(), ReplayError> {
        self.replay(partition, &mut |record| visit(ReplayItem::Record { record, txn_producer: None }))
    }

    /// Which partitions this broker leads now.
    fn leadership(&self) -> Leadership;

    /// Changes whenever leadership (or the topic's partition count) may have
    /// changed: read [`InternalLog::leadership`] again then.
    fn leadership_changes(&self) -> watch::Receiver<u64>;
}

/// The one other thing coordinators read from the broker: which user topics
/// exist (offset commits name them; deleted topics lose their offsets).
pub trait TopicCatalog: Send + Sync + 'static {
    /// The topic's partition count, if it exists.
    fn partition_count(&self, topic: &str) -> Option<usize>;

    /// Existing topics, and those whose metadata could not be read (neither
    /// counts as deleted).
    fn topic_names(&self) -> (HashSet<String>, HashSet<String>);
}

/// A change of leadership of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadershipEvent {
    /// This broker now leads the partition under `leader_epoch`: load it.
    Load { partition: i32, leader_epoch: i32 },
    /// This broker no longer leads the partition under `leader_epoch` (another
    /// broker leads it, or a new epoch began, which comes as a Load next):
    /// drop its state.
    Unload { partition: i32, leader_epoch: i32 },
}

/// Follows leadership of an internal topic's partitions and reports the
/// differences since the last poll as events.
pub struct LeadershipFollower {
    log: Arc<dyn InternalLog>,
    changes: watch::Receiver<u64>,
    current: Leadership,
    /// A change was seen (by [`LeadershipFollower::changed`], or none was
    /// polled yet: the first poll reports whatever is led at once).
    dirty: bool,
}

impl LeadershipFollower {
    pub fn new(log: Arc<dyn InternalLog>) -> LeadershipFollower {
        let changes = log.leadership_changes();
        LeadershipFollower { log, changes, current: Leadership::default(), dirty: true }
    }

    /// The leadership as of the last poll.
    pub fn current(&self) -> &Leadership {
        &self.current
    }

    /// The events since the last poll, or `None` when nothing can have
    /// changed (no leadership change was signalled). Unloads come before
    /// loads; a partition whose leader epoch changed is unloaded and loaded.
    pub fn poll(&mut self) -> Option<Vec<LeadershipEvent>> {
        let signalled = self.changes.has_changed().unwrap_or(false);
        if !self.dirty && !signalled {
            return None;
        }
        self.dirty = false;
        self.changes.borrow_and_update();
        let now = self.log.leadership();
        let events = differences(&self.current, &now);
        self.current = now;
        Some(events)
    }

    /// Waits until leadership may have changed (cancel-safe: use it in
    /// `select!`); `false` once the broker is gone.
    pub async fn changed(&mut self) -> bool {
        let alive = self.changes.changed().await.is_ok();
        // `changed` marks the change seen: remember it for the next poll.
        self.dirty |= alive;
        alive
    }
}

/// The events that lead from `before` to `now`: unloads first, then loads.
pub fn differences(before: &Leadership, now: &Leadership) -> Vec<LeadershipEvent> {
    let mut events = Vec::new();
    for (&partition, &leader_epoch) in &before.led {
        if now.led.get(&partition) != Some(&leader_epoch) {
            events.push(LeadershipEvent::Unload { partition, leader_epoch });
        }
    }
    for (&partition, &leader_epoch) in &now.led {
        if before.led.get(&partition) != Some(&leader_epoch) {
            events.push(LeadershipEvent::Load { partition, leader_epoch });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn led(pairs: &[(i32, i32)]) -> Leadership {
        Leadership { partition_count: 3, led: pairs.iter().copied().collect() }
    }

    #[test]
    fn differences_are_loads_unloads_and_epoch_changes() {
        assert_eq!(
            differences(&Leadership::default(), &led(&[(0, 1), (2, 5)])),
            vec![
                LeadershipEvent::Load { partition: 0, leader_epoch: 1 },
                LeadershipEvent::Load { partition: 2, leader_epoch: 5 }
            ]
        );
        assert_eq!(
            differences(&led(&[(0, 1), (2, 5)]), &led(&[(0, 2), (1, 7)])),
            vec![
                LeadershipEvent::Unload { partition: 0, leader_epoch: 1 },
                LeadershipEvent::Unload { partition: 2, leader_epoch: 5 },
                LeadershipEvent::Load { partition: 0, leader_epoch: 2 },
                LeadershipEvent::Load { partition: 1, leader_epoch: 7 }
            ]
        );
        assert_eq!(differences(&led(&[(0, 2)]), &led(&[(0, 2)])), Vec::new());
    }
}
