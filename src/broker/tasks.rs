//! Named periodic background tasks. Each runs on its own schedule, logs its
//! failures instead of dying, and stops at shutdown (the final flush and
//! checkpoint are done by the broker's shutdown itself).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{now_ms, Broker};
use crate::network::Shutdown;

/// Starts every periodic task of a broker.
pub fn spawn_all(broker: Arc<Broker>, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
    let cfg = &broker.config;
    let retention = Duration::from_millis(cfg.log_retention_check_interval_ms.max(1));
    let flush = Duration::from_millis(cfg.log_flush_scheduler_interval_ms.clamp(1, 60_000));
    let checkpoint = Duration::from_millis(cfg.log_flush_offset_checkpoint_interval_ms.max(1));
    let cleaner = Duration::from_millis(cfg.log_cleaner_backoff_ms.max(1));
    let cleaner_enabled = cfg.log_cleaner_enable;
    let producer_expiry = Duration::from_millis(cfg.producer_id_expiration_check_interval_ms.max(1));
    let mut tasks = vec![
        spawn("log-retention", retention, broker.clone(), shutdown.clone(), |b| {
            let deleted = b.logs.enforce_retention(now_ms())?;
            if deleted > 0 {
                tracing::info!(deleted, "retention deleted segments");
            }
            Ok(())
        }),
        spawn("log-flusher", flush, broker.clone(), shutdown.clone(), |b| Ok(b.logs.flush_due(now_ms())?)),
        spawn("recovery-point-checkpoint", checkpoint, broker.clone(), shutdown.clone(), |b| {
            Ok(b.logs.checkpoint_recovery_points()?)
        }),
        spawn("producer-id-expiration", producer_expiry, broker.clone(), shutdown.clone(), |b| {
            let now = now_ms();
            let expired: usize = b.all_partitions().iter().map(|p| p.expire_producers(now)).sum();
            if expired > 0 {
                tracing::info!(expired, "expired idle producer ids (producer.id.expiration.ms)");
            }
            Ok(())
        }),
    ];
    if cleaner_enabled {
        tasks.push(spawn("log-cleaner", cleaner, broker, shutdown, clean_compacted_logs));
    }
    tasks
}

/// Compacts the logs of `cleanup.policy=compact` topics whose closed segments
/// changed since their last pass (`log.cleaner.enable`, every `log.cleaner.backoff.ms`).
fn clean_compacted_logs(b: &Broker) -> Result<(), super::BrokerError> {
    for partition in b.all_partitions() {
        let config = partition.config();
        if !config.cleanup_policy.compact {
            continue;
        }
        let Some(log) = b.logs.get(&partition.tp) else { continue };
        let retention = i64::try_from(config.delete_retention_ms).unwrap_or(i64::MAX);
        let stats = log.lock().unwrap_or_else(|e| e.into_inner()).compact(now_ms(), retention, false);
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

fn spawn<F>(name: &'static str, every: Duration, broker: Arc<Broker>, mut shutdown: Shutdown, tick: F) -> JoinHandle<()>
where
    F: Fn(&Broker) -> Result<(), super::BrokerError> + Send + Sync + 'static,
{
    let tick = Arc::new(tick);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick fires at once; skip it
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = interval.tick() => {}
            }
            let (b, t) = (broker.clone(), tick.clone());
            // Storage work blocks: keep it off the async workers.
            match tokio::task::spawn_blocking(move || t(&b)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(task = name, %err, "task failed"),
                Err(err) => {
                    tracing::error!(task = name, %err, "task panicked; stopping it");
                    return;
                }
            }
        }
    })
}
