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
    vec![
        spawn("log-retention", retention, broker.clone(), shutdown.clone(), |b| {
            let deleted = b.logs.enforce_retention(now_ms())?;
            if deleted > 0 {
                tracing::info!(deleted, "retention deleted segments");
            }
            Ok(())
        }),
        spawn("log-flusher", flush, broker.clone(), shutdown.clone(), |b| Ok(b.logs.flush_due(now_ms())?)),
        spawn("recovery-point-checkpoint", checkpoint, broker, shutdown, |b| {
            Ok(b.logs.checkpoint_recovery_points()?)
        }),
    ]
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
