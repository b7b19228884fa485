//! Follows the metadata cache: opens the logs of partitions assigned to this
//! broker when their topic appears (or a reassignment adds this broker),
//! deletes them when it disappears (or is re-created under a new topic id, or
//! a reassignment moved the partition away), applies config overrides when they
//! change, and records each partition's leader and leader epoch from its
//! state znode, with its ISR. A hosted partition whose leader is another
//! broker keeps its log (the replica fetchers fetch into it); one that starts
//! following a new leader truncates to its high watermark first.
//!
//! It is level-triggered: every pass compares the whole cached view with what
//! is open here, so it does not matter how many cache changes one pass covers.
//! After each pass it publishes the cache version it applied, which topic
//! creation and deletion wait for.
//!
//! Each pass also applies the dynamic broker configs (`/config/brokers/<default>`
//! and `/config/brokers/<id>`) when they changed, and then re-resolves every
//! topic's config, since topic keys inherit the broker's values.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::partition::StateUpdate;
use super::tasks::{log_failures, TaskRegistry};
use super::{log_config, now_ms, Broker, BrokerError, Partition};
use crate::config::TopicConfig;
use crate::metadata::TopicMetadata;
use crate::network::Shutdown;
use crate::storage::TopicPartition;

/// What was applied for a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTopic {
    pub topic_id: uuid::Uuid,
    pub configs: BTreeMap<String, String>,
}

/// The named task `partition-sync`: one pass per cache change.
pub(crate) fn register(registry: &mut TaskRegistry<Broker>) {
    log_failures([registry.service("partition-sync", run)]);
}

/// Applies every metadata change to the local partitions, one pass at a time.
async fn run(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let mut changes = broker.metadata().subscribe();
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let b = broker.clone();
        // File creation and deletion block: keep them off the async workers.
        match tokio::task::spawn_blocking(move || b.sync_partitions()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(task = "partition-sync", %err, "cannot apply metadata changes"),
            Err(err) => tracing::error!(task = "partition-sync", %err, "pass panicked"),
        }
    }
}

impl Broker {
    /// One pass: brings local partitions in line with the cached metadata.
    pub(crate) fn sync_partitions(&self) -> Result<(), BrokerError> {
        let version = *self.metadata.subscribe().borrow();
        let (topics, unreadable, states, layers) = {
            let view = self.metadata.view();
            let layer = |entity: &str| view.broker_configs.get(entity).cloned().unwrap_or_default();
            let layers = crate::config::DynamicLayers {
                default: layer(crate::metadata::znode::DEFAULT_ENTITY),
                broker: layer(&self.node_id.to_string()),
            };
            let topics: BTreeMap<String, TopicMetadata> =
                view.topics.keys().filter_map(|n| view.topic(n).map(|t| (n.clone(), t))).collect();
            let states: BTreeMap<(String, i32), StateUpdate> = view
                .states
                .iter()
                .flat_map(|(t, s)| {
                    let assignment = view.topics.get(t);
                    s.iter().map(move |(p, v)| {
                        let replicas = assignment
                            .and_then(|a| a.partitions.get(usize::try_from(*p).unwrap_or(usize::MAX)))
                            .cloned()
                            .unwrap_or_default();
                        let update = StateUpdate {
                            leader: v.state.leader,
                            leader_epoch: v.state.leader_epoch,
                            isr: v.state.isr.clone(),
                            replicas,
                            zk_version: v.version,
                        };
                        ((t.clone(), *p), update)
                    })
                })
                .collect();
            (topics, view.unreadable.clone(), states, layers)
        };
        // Broker defaults feed every topic's effective config.
        let broker_reconfigured = self.apply_dynamic_config(layers);
        let mut local = self.local_topics.lock().unwrap_or_else(|e| e.into_inner());

        // Gone, or replaced by a topic of the same name with another id.
        let mut doomed: Vec<String> = Vec::new();
        for tp in self.logs.partitions() {
            let replaced = match (topics.get(&tp.topic), local.get(&tp.topic)) {
                (Some(t), Some(l)) => !t.topic_id.is_nil() && !l.topic_id.is_nil() && t.topic_id != l.topic_id,
                _ => false,
            };
            let gone = !topics.contains_key(&tp.topic) && !unreadable.contains(&tp.topic);
            if (gone || replaced) && !doomed.contains(&tp.topic) {
                doomed.push(tp.topic.clone());
            }
        }
        for name in doomed {
            self.remove_topic_partitions(&name)?;
            local.remove(&name);
            self.replicas.metrics().forget_topic(&name);
            tracing::info!(topic = %name, "deleted the local partitions of a deleted topic");
        }

        // Replicas moved away from this broker (a reassignment completed or
        // was cancelled): stop them and delete their logs, as Kafka's
        // StopReplica with delete. Leadership left them in the same write.
        let mut unassigned = Vec::new();
        for tp in self.logs.partitions() {
            let Some(topic) = topics.get(&tp.topic) else { continue };
            let assigned = usize::try_from(tp.partition).ok().and_then(|i| topic.partitions.get(i));
            if assigned.is_some_and(|replicas| !replicas.contains(&self.node_id)) {
                unassigned.push(tp);
            }
        }
        for tp in unassigned {
            self.replicas.partitions_mut().remove(&tp);
            self.logs.delete(&tp)?;
            tracing::info!(partition = %tp, "deleted a replica this broker no longer holds");
        }

        for (name, topic) in &topics {
            let previous = local.get(name).cloned();
            let reconfigured = broker_reconfigured || previous.as_ref().is_some_and(|p| p.configs != topic.configs);
            self.open_topic_partitions(topic, reconfigured)?;
            let topic_id = match &previous {
                Some(p) if topic.topic_id.is_nil() => p.topic_id,
                _ => topic.topic_id,
            };
            local.insert(name.clone(), LocalTopic { topic_id, configs: topic.configs.clone() });
        }
        local.retain(|name, _| topics.contains_key(name) || unreadable.contains(name));
        drop(local);

        for partition in self.replicas.all_partitions() {
            let key = (partition.tp.topic.clone(), partition.tp.partition);
            match states.get(&key) {
                Some(update) => {
                    // ISR shrinks/expands of a partition led here before and after (metrics).
                    let led_isr = partition.is_leader().then(|| partition.isr());
                    if let Err(err) = partition.apply_state(self.node_id, update, now_ms()) {
                        tracing::error!(partition = %partition.tp, %err, "cannot apply the partition state");
                    } else if let Some(before) = led_isr.filter(|_| partition.is_leader()) {
                        self.state_metrics.record_isr_change(&before, &update.isr);
                    }
                }
                None => partition.clear_leadership(),
            }
        }
        // Waiting fetches and produces re-check (the HW may have moved).
        self.replicas.notify_data_arrived();
        self.synced.send_replace(version);
        Ok(())
    }

    /// Opens (creating as needed) the logs of a topic's partitions assigned to
    /// this broker; with `reconfigured`, applies new config overrides to the open ones.
    fn open_topic_partitions(&self, topic: &TopicMetadata, reconfigured: bool) -> Result<(), BrokerError> {
        let topic_config = TopicConfig::resolve(&topic.configs, &self.effective_config());
        let lc = log_config(&topic_config);
        let mut map = self.replicas.partitions_mut();
        for (index, replicas) in topic.partitions.iter().enumerate() {
            if !replicas.contains(&self.node_id) {
                continue;
            }
            let tp = TopicPartition { topic: topic.name.clone(), partition: index as i32 };
            if let Some(existing) = map.get(&tp) {
                if reconfigured {
                    existing.set_config(topic_config.clone());
                    if let Some(log) = self.logs.get(&tp) {
                        log.lock().unwrap_or_else(|e| e.into_inner()).set_config(lc.clone());
                    }
                }
                continue;
            }
            let log = self.logs.get_or_create(&tp, lc.clone())?;
            log.lock().unwrap_or_else(|e| e.into_inner()).set_config(lc.clone());
            let hw = self.replicas.checkpointed_hw(&tp);
            let expiration = i64::try_from(self.config.producer_id_expiration_ms).unwrap_or(i64::MAX);
            map.insert(tp.clone(), Arc::new(Partition::new(tp, log, topic_config.clone(), hw, expiration)));
        }
        Ok(())
    }

    /// Drops a topic's partitions and deletes their logs.
    fn remove_topic_partitions(&self, topic: &str) -> Result<(), BrokerError> {
        {
            let mut map = self.replicas.partitions_mut();
            map.retain(|tp, _| tp.topic != topic);
        }
        for tp in self.logs.partitions().into_iter().filter(|tp| tp.topic == topic) {
            self.logs.delete(&tp)?;
        }
        Ok(())
    }

    /// A receiver that changes after every partition-sync pass (its value:
    /// the metadata-cache version applied).
    pub(crate) fn sync_passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.synced.subscribe()
    }

    /// Waits (at most `timeout`) until `ready` holds after a partition-sync pass.
    pub(crate) async fn wait_synced(&self, timeout: std::time::Duration, ready: impl Fn(&Broker) -> bool) -> bool {
        let mut rx = self.synced.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if ready(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return ready(self),
            }
        }
    }
}
