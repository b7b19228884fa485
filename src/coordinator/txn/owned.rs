//! Which `__transaction_state` partitions this broker coordinates, and their
//! loaded state: the lookup every transactional request starts with.
//!
//! Leadership of a partition is followed by the caller (the internal-log
//! layer): on becoming leader it calls [`OwnedPartitions::begin_loading`],
//! replays the partition, and hands the result to
//! [`OwnedPartitions::finish_loading`]; on losing it,
//! [`OwnedPartitions::unload`]. A load that finishes after leadership moved
//! on (another epoch, or unloaded meanwhile) is dropped, so stale state never
//! answers requests. No I/O here.

use std::collections::HashMap;

use super::state::TxnPartition;
use crate::protocol::ErrorCode;

#[derive(Debug)]
enum Slot {
    Loading(i32),
    Loaded(Box<TxnPartition>),
}

/// The partitions this broker leads, by partition id.
#[derive(Debug, Default)]
pub struct OwnedPartitions {
    partition_count: i32,
    slots: HashMap<i32, Slot>,
}

impl OwnedPartitions {
    /// `partition_count` of `__transaction_state` (0 until the topic exists).
    pub fn new(partition_count: i32) -> OwnedPartitions {
        OwnedPartitions { partition_count, slots: HashMap::new() }
    }

    pub fn set_partition_count(&mut self, partition_count: i32) {
        self.partition_count = partition_count;
    }

    /// This broker became leader of `partition` at `coordinator_epoch`.
    pub fn begin_loading(&mut self, partition: i32, coordinator_epoch: i32) {
        self.slots.insert(partition, Slot::Loading(coordinator_epoch));
    }

    /// A load finished; kept only if that load is still the current one.
    /// Returns whether it was kept (if not, its marker jobs are dropped too).
    pub fn finish_loading(&mut self, state: TxnPartition) -> bool {
        let current = matches!(
            self.slots.get(&state.partition()),
            Some(Slot::Loading(epoch)) if *epoch == state.coordinator_epoch()
        );
        if current {
            self.slots.insert(state.partition(), Slot::Loaded(Box::new(state)));
        }
        current
    }

    /// Leadership of `partition` moved away (`None`: whatever the epoch;
    /// `Some(e)`: only if loaded or loading at an epoch up to `e`).
    pub fn unload(&mut self, partition: i32, coordinator_epoch: Option<i32>) {
        let epoch = match self.slots.get(&partition) {
            Some(Slot::Loading(e)) => *e,
            Some(Slot::Loaded(state)) => state.coordinator_epoch(),
            None => return,
        };
        if coordinator_epoch.is_none_or(|e| epoch <= e) {
            self.slots.remove(&partition);
        }
    }

    /// The state coordinating `transactional_id`, or the error Kafka answers:
    /// COORDINATOR_NOT_AVAILABLE before the topic exists,
    /// COORDINATOR_LOAD_IN_PROGRESS while loading, NOT_COORDINATOR when
    /// another broker leads the partition.
    pub fn for_id(&mut self, transactional_id: &str) -> Result<&mut TxnPartition, ErrorCode> {
        if self.partition_count <= 0 {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let partition = super::partition_for(transactional_id, self.partition_count);
        match self.slots.get_mut(&partition) {
            Some(Slot::Loaded(state)) => Ok(state),
            Some(Slot::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    /// Whether some partition is still loading (ListTransactions says so).
    pub fn is_loading(&self) -> bool {
        self.slots.values().any(|slot| matches!(slot, Slot::Loading(_)))
    }

    /// Every loaded partition (timers, ListTransactions).
    pub fn loaded_mut(&mut self) -> impl Iterator<Item = &mut TxnPartition> {
        self.slots.values_mut().filter_map(|slot| match slot {
            Slot::Loaded(state) => Some(state.as_mut()),
            Slot::Loading(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::txn::{partition_for, TxnConfig};

    #[test]
    fn lookup_follows_loading_and_leadership() {
        let id = "my-txn";
        let partition = partition_for(id, 50);
        let mut owned = OwnedPartitions::new(0);
        assert_eq!(owned.for_id(id).err(), Some(ErrorCode::CoordinatorNotAvailable));
        owned.set_partition_count(50);
        assert_eq!(owned.for_id(id).err(), Some(ErrorCode::NotCoordinator));
        owned.begin_loading(partition, 5);
        assert_eq!(owned.for_id(id).err(), Some(ErrorCode::CoordinatorLoadInProgress));
        // A load from an older leadership is dropped.
        assert!(!owned.finish_loading(TxnPartition::new(partition, 4, TxnConfig::default())));
        assert!(owned.finish_loading(TxnPartition::new(partition, 5, TxnConfig::default())));
        assert_eq!(owned.for_id(id).map(|p| p.coordinator_epoch()), Ok(5));
        assert_eq!(owned.loaded_mut().count(), 1);
        // An older resignation does not unload a newer leadership.
        owned.unload(partition, Some(4));
        assert!(owned.for_id(id).is_ok());
        owned.unload(partition, Some(5));
        assert_eq!(owned.for_id(id).err(), Some(ErrorCode::NotCoordinator));
        // Unloaded while loading: the late load is dropped.
        owned.begin_loading(partition, 6);
        owned.unload(partition, None);
        assert!(!owned.finish_loading(TxnPartition::new(partition, 6, TxnConfig::default())));
        assert_eq!(owned.for_id(id).err(), Some(ErrorCode::NotCoordinator));
    }
}
