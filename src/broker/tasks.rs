//! The broker's background work, in one registry of named tasks.
//!
//! Two kinds are registered:
//! - *periodic* tasks ([`TaskRegistry::every`]): a tick on an interval
//!   (blocking storage work off the async workers) that logs its failures
//!   instead of dying, and runs one final tick when the broker shuts down, so
//!   that their work reflects the last moment. Some opt out of the final
//!   tick: the log flusher and the recovery-point checkpoint (the broker's
//!   shutdown closes every log, which flushes it, and then checkpoints the
//!   recovery points, so a last tick would do it twice), the log cleaner (a
//!   compaction pass may take long) and the ISR-shrink check (a leaving
//!   broker has no lag to judge).
//! - *event-driven* tasks ([`TaskRegistry::service`]): loops that react to
//!   metadata changes or channels (partition sync, the replica-fetcher
//!   manager, ISR updates, the coordinators). Each gets the shutdown signal
//!   and does its own last step before it returns (the ISR updater writes the
//!   changes already queued, the group coordinator answers its waiting
//!   members).
//!
//! Every task of a broker is registered here, by a unique name, so that the
//! broker's startup reads as one list and its shutdown waits for all of them.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::storage_io::StorageIo;
use super::{now_ms, Broker, BrokerError};
use crate::network::Shutdown;

/// Whether a task runs once more when the broker shuts down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalTick {
    Run,
    Skip,
}

/// A name registered twice.
#[derive(Debug, thiserror::Error)]
#[error("a task named {0} is already registered")]
pub struct DuplicateTask(pub &'static str);

/// The periodic tasks of one broker (or of any shared context `C`).
pub struct TaskRegistry<C: Send + Sync + 'static> {
    context: Arc<C>,
    shutdown: Shutdown,
    names: BTreeSet<&'static str>,
    handles: Vec<JoinHandle<()>>,
}

impl<C: Send + Sync + 'static> TaskRegistry<C> {
    pub fn new(context: Arc<C>, shutdown: Shutdown) -> TaskRegistry<C> {
        TaskRegistry { context, shutdown, names: BTreeSet::new(), handles: Vec::new() }
    }

    /// Starts `tick` every `every` (the first run one interval from now).
    pub fn every<F>(
        &mut self,
        name: &'static str,
        every: Duration,
        last: FinalTick,
        tick: F,
    ) -> Result<(), DuplicateTask>
    where
        F: Fn(&C) -> Result<(), BrokerError> + Send + Sync + 'static,
    {
        self.periodic(name, every, last, None, tick)
    }

    /// As [`TaskRegistry::every`], for storage work: each tick first waits for
    /// one of the broker's storage-I/O slots (`num.io.threads`) and holds it
    /// while it runs, so the chores count against the same bound as appends.
    pub fn every_io<F>(
        &mut self,
        name: &'static str,
        every: Duration,
        last: FinalTick,
        io: &StorageIo,
        tick: F,
    ) -> Result<(), DuplicateTask>
    where
        F: Fn(&C) -> Result<(), BrokerError> + Send + Sync + 'static,
    {
        self.periodic(name, every, last, Some(io.clone()), tick)
    }

    /// What [`TaskRegistry::every`] and [`TaskRegistry::every_io`] register.
    fn periodic<F>(
        &mut self,
        name: &'static str,
        every: Duration,
        last: FinalTick,
        io: Option<StorageIo>,
        tick: F,
    ) -> Result<(), DuplicateTask>
    where
        F: Fn(&C) -> Result<(), BrokerError> + Send + Sync + 'static,
    {
        if !self.names.insert(name) {
            return Err(DuplicateTask(name));
        }
        self.handles.push(spawn(name, every, last, io, self.context.clone(), self.shutdown.clone(), tick));
        Ok(())
    }

    /// Starts an event-driven task: `run` gets the shared context and the
    /// shutdown signal, and must return once shutdown fires, after its own
    /// last step.
    pub fn service<F, Fut>(&mut self, name: &'static str, run: F) -> Result<(), DuplicateTask>
    where
        F: FnOnce(Arc<C>, Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if !self.names.insert(name) {
            return Err(DuplicateTask(name));
        }
        self.handles.push(tokio::spawn(run(self.context.clone(), self.shutdown.clone())));
        Ok(())
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.names.iter().copied().collect()
    }

    /// The tasks' handles: each ends after its final tick once shutdown is triggered.
    pub fn into_handles(self) -> Vec<JoinHandle<()>> {
        self.handles
    }
}

/// Logs registrations that failed (a duplicate name is a programming error,
/// but it must not stop the broker).
pub(crate) fn log_failures(results: impl IntoIterator<Item = Result<(), DuplicateTask>>) {
    for r in results {
        if let Err(err) = r {
            tracing::error!(%err, "a task was not started");
        }
    }
}

/// Starts every task of a broker: partition sync, replication, the
/// coordinators and the storage chores.
pub fn spawn_all(broker: Arc<Broker>, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
    let mut registry = TaskRegistry::new(broker.clone(), shutdown);
    super::partition_sync::register(&mut registry);
    super::replication::register(&mut registry, broker.config());
    let groups = broker.groups().clone();
    let txns = broker.transactions().clone();
    log_failures([
        registry.service("group-coordinator", move |_, shutdown| crate::coordinator::run(groups, shutdown)),
        registry.service("txn-coordinator", move |_, shutdown| crate::coordinator::txn::service::run(txns, shutdown)),
    ]);
    register_storage_chores(&mut registry, &broker);
    log_failures([registry.service("log-roll-flusher", flush_rolled_segments)]);
    tracing::debug!(tasks = ?registry.names(), "started the broker's tasks");
    registry.into_handles()
}

/// Retention, flushing, recovery-point checkpoints, producer-id expiry and
/// the log cleaner.
fn register_storage_chores(registry: &mut TaskRegistry<Broker>, broker: &Broker) {
    let cfg = broker.config();
    let retention = Duration::from_millis(cfg.log_retention_check_interval_ms.max(1));
    let flush = Duration::from_millis(cfg.log_flush_scheduler_interval_ms.clamp(1, 60_000));
    let checkpoint = Duration::from_millis(cfg.log_flush_offset_checkpoint_interval_ms.max(1));
    let cleaner = Duration::from_millis(cfg.log_cleaner_backoff_ms.max(1));
    let cleaner_enabled = cfg.log_cleaner_enable;
    let producer_expiry = Duration::from_millis(cfg.producer_id_expiration_check_interval_ms.max(1));
    let io = broker.replicas().storage_io();
    log_failures([
        registry.every_io("log-retention", retention, FinalTick::Run, io, |b: &Broker| {
            let deleted = b.logs().enforce_retention(now_ms())?;
            if deleted > 0 {
                tracing::info!(deleted, "retention deleted segments");
            }
            Ok(())
        }),
        registry.every_io("log-flusher", flush, FinalTick::Skip, io, |b: &Broker| Ok(b.logs().flush_due(now_ms())?)),
        registry.every_io("recovery-point-checkpoint", checkpoint, FinalTick::Skip, io, |b: &Broker| {
            Ok(b.logs().checkpoint_recovery_points()?)
        }),
        registry.every("producer-id-expiration", producer_expiry, FinalTick::Run, |b: &Broker| {
            let now = now_ms();
            let expired: usize = b.replicas().all_partitions().iter().map(|p| p.expire_producers(now)).sum();
            if expired > 0 {
                tracing::info!(expired, "expired idle producer ids (producer.id.expiration.ms)");
            }
            Ok(())
        }),
        if cleaner_enabled {
            registry.every("log-cleaner", cleaner, FinalTick::Skip, clean_compacted_logs)
        } else {
            Ok(())
        },
    ]);
}

/// After every roll (`ReplicaManager::notify_rolled`), fsyncs the sealed
/// segments and moves the recovery point, in a storage-I/O slot and off the
/// produce path, as Kafka flushes a rolled segment asynchronously. Without
/// it, sealed segments waited for the `log-flusher` tick (at most a minute
/// here; `log.flush.scheduler.interval.ms` is Long.MAX_VALUE by default), so
/// under sustained writes gigabytes of dirty pages piled up until the kernel
/// throttled the appending thread. Rolls during a pass wake it once more.
/// At shutdown the logs' close flushes everything, so there is no last pass.
async fn flush_rolled_segments(broker: Arc<Broker>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = broker.replicas().rolled() => {}
        }
        let slot = broker.replicas().storage_io().slot().await;
        let b = broker.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let result = b.logs().flush_rolled();
            drop(slot);
            result
        });
        match pass.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(task = "log-roll-flusher", %err, "task failed"),
            Err(err) => {
                tracing::error!(task = "log-roll-flusher", %err, "task panicked; stopping it");
                return;
            }
        }
    }
}

/// Compacts the logs of `cleanup.policy=compact` topics whose closed segments
/// changed since their last pass (`log.cleaner.enable`, every `log.cleaner.backoff.ms`).
fn clean_compacted_logs(b: &Broker) -> Result<(), BrokerError> {
    for partition in b.replicas().all_partitions() {
        let config = partition.config();
        if !config.cleanup_policy.compact {
            continue;
        }
        let Some(log) = b.logs().get(&partition.tp) else { continue };
        let retention = i64::try_from(config.delete_retention_ms).unwrap_or(i64::MAX);
        // Open transactions (from the last stable offset on) are not cleaned.
        let cleanable_end = partition.last_stable_offset();
        let stats = log.lock().unwrap_or_else(|e| e.into_inner()).compact(now_ms(), retention, cleanable_end, false);
        match stats {
            Ok(s) if s.records_removed > 0 => tracing::info!(
                partition = %partition.tp,
                removed = s.records_removed,
                segments = s.segments_rewritten,
                bytes_before = s.bytes_before,
                bytes_after = s.bytes_after,
                "compacted the log"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(partition = %partition.tp, %err, "cannot compact the log"),
        }
    }
    Ok(())
}

fn spawn<C, F>(
    name: &'static str,
    every: Duration,
    last: FinalTick,
    io: Option<StorageIo>,
    context: Arc<C>,
    mut shutdown: Shutdown,
    tick: F,
) -> JoinHandle<()>
where
    C: Send + Sync + 'static,
    F: Fn(&C) -> Result<(), BrokerError> + Send + Sync + 'static,
{
    let tick = Arc::new(tick);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick fires at once; skip it
        loop {
            let stopping = tokio::select! {
                _ = shutdown.wait() => true,
                _ = interval.tick() => false,
            };
            if stopping && last == FinalTick::Skip {
                return;
            }
            let (c, t) = (context.clone(), tick.clone());
            let slot = match &io {
                Some(io) => io.slot().await,
                None => None,
            };
            // Storage work blocks: keep it off the async workers.
            let run = move || {
                let result = t(&c);
                drop(slot);
                result
            };
            match tokio::task::spawn_blocking(run).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(task = name, %err, "task failed"),
                Err(err) => {
                    tracing::error!(task = name, %err, "task panicked; stopping it");
                    return;
                }
            }
            if stopping {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn every_task_gets_one_final_tick_at_shutdown_unless_it_opts_out() {
        let (trigger, shutdown) = crate::network::shutdown::channel();
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let mut registry = TaskRegistry::new(counts.clone(), shutdown);
        // An interval far beyond the test: only the final tick can run.
        let hour = Duration::from_secs(3600);
        registry
            .every("checkpoint", hour, FinalTick::Run, |c: &[AtomicUsize; 2]| {
                c[0].fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .expect("first registration");
        registry
            .every("cleaner", hour, FinalTick::Skip, |c: &[AtomicUsize; 2]| {
                c[1].fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .expect("first registration");
        let duplicate = registry.every("cleaner", hour, FinalTick::Run, |_: &[AtomicUsize; 2]| Ok(()));
        assert!(matches!(duplicate, Err(DuplicateTask("cleaner"))));
        assert_eq!(registry.names(), vec!["checkpoint", "cleaner"]);
        trigger.trigger();
        for handle in registry.into_handles() {
            tokio::time::timeout(Duration::from_secs(30), handle).await.expect("task stops").expect("no panic");
        }
        assert_eq!(counts[0].load(Ordering::SeqCst), 1, "the final tick ran once");
        assert_eq!(counts[1].load(Ordering::SeqCst), 0, "no final tick for a task that opts out");
    }

    #[tokio::test]
    async fn an_event_driven_task_gets_the_shutdown_signal_and_shares_the_names() {
        let (trigger, shutdown) = crate::network::shutdown::channel();
        let finished = Arc::new(AtomicUsize::new(0));
        let mut registry = TaskRegistry::new(finished.clone(), shutdown);
        registry
            .service("sync", |done: Arc<AtomicUsize>, mut shutdown: Shutdown| async move {
                shutdown.wait().await;
                done.fetch_add(1, Ordering::SeqCst);
            })
            .expect("first registration");
        let hour = Duration::from_secs(3600);
        let duplicate = registry.every("sync", hour, FinalTick::Run, |_: &AtomicUsize| Ok(()));
        assert!(matches!(duplicate, Err(DuplicateTask("sync"))), "one namespace for both kinds");
        trigger.trigger();
        for handle in registry.into_handles() {
            tokio::time::timeout(Duration::from_secs(30), handle).await.expect("task stops").expect("no panic");
        }
        assert_eq!(finished.load(Ordering::SeqCst), 1, "its last step ran once shutdown fired");
    }
}
