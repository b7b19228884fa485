//! Bounded storage I/O: where blocking disk work (appends, reads, fsyncs,
//! segment rolls, retention, truncation, index lookups) runs, and how many
//! such calls may run at once.
//!
//! A broker has one [`StorageIo`] (in its `ReplicaManager`), sized by
//! `num.io.threads` (Kafka's key, default 8). [`StorageIo::run`] first waits
//! for one of its slots (a fair, first-come first-served semaphore), then runs
//! the blocking closure with `tokio::task::block_in_place`: the async worker
//! that called it hands its other tasks to another thread for the duration,
//! so a slow disk call never stalls other connections, and the caller's task
//! itself simply waits, which keeps each connection's requests and each
//! partition's appends in the order they had.
//!
//! Back-pressure: when every slot is busy (the disk falls behind), callers
//! wait for a slot instead of queueing work. A connection reads its next
//! request only after the current one is handled, so what a slow disk holds in
//! memory is bounded by the requests already read (`queued.max.request.bytes`),
//! as Kafka's request handlers block on a slow write.
//!
//! Why `block_in_place` and not `spawn_blocking`: measured on the project's
//! 2-core machine (tokio 1.54, release build, a closure that does nothing),
//! a `block_in_place` call costs the caller 20–90 ns and a `spawn_blocking`
//! round trip 37–160 µs (two thread hand-offs), a thousand times more, which
//! would show at 200,000 small batches a second; and `block_in_place` lets
//! the closure borrow (the partition, the request's bytes) where
//! `spawn_blocking` needs `'static` owned data, so appends would copy or clone
//! more. On a current-thread runtime (`#[tokio::test]`) `block_in_place`
//! panics; there the closure runs inline (still bounded by the slots).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Kafka's default `num.io.threads`.
pub const DEFAULT_IO_THREADS: usize = 8;

/// The broker's storage-I/O slots: at most `limit` blocking storage calls at once.
#[derive(Debug, Clone)]
pub struct StorageIo {
    slots: Arc<Semaphore>,
    limit: usize,
}

impl Default for StorageIo {
    fn default() -> Self {
        StorageIo::new(DEFAULT_IO_THREADS)
    }
}

impl StorageIo {
    /// `threads` slots (at least one).
    pub fn new(threads: usize) -> StorageIo {
        let limit = threads.clamp(1, Semaphore::MAX_PERMITS);
        StorageIo { slots: Arc::new(Semaphore::new(limit)), limit }
    }

    /// How many storage calls may run at once (`num.io.threads`).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many calls run right now.
    pub fn busy(&self) -> usize {
        self.limit.saturating_sub(self.slots.available_permits())
    }

    /// Waits for a slot, then runs the blocking `work` off the async worker
    /// (see the module docs); the slot is given back when `work` returns.
    /// Callers wait in arrival order. Use it for every call that may touch
    /// the disk: `io.run(|| partition.read(offset, max, true, false)).await`.
    pub async fn run<R>(&self, work: impl FnOnce() -> R) -> R {
        // The semaphore is never closed, so acquiring cannot fail; if it ever
        // did, running unbounded is better than refusing storage work.
        let _slot = self.slots.acquire().await.ok();
        blocking(work)
    }

    /// Waits for a slot and hands it over: for work that runs elsewhere
    /// (the periodic storage tasks run on `spawn_blocking` and hold the slot
    /// until their tick ends). The slot is given back when the guard drops.
    pub async fn slot(&self) -> Option<IoSlot> {
        self.slots.clone().acquire_owned().await.ok().map(|p| IoSlot { _permit: p })
    }
}

/// One storage-I/O slot, held until dropped.
#[derive(Debug)]
pub struct IoSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Waits for a slot of `io` and runs `work` off the async worker: the helper
/// for call sites that hold the broker's [`StorageIo`], e.g.
/// `storage_io::run(replicas.storage_io(), || partition.read(...)).await`.
pub async fn run<R>(io: &StorageIo, work: impl FnOnce() -> R) -> R {
    io.run(work).await
}

/// Runs blocking `work` where it cannot stall the async worker: through
/// `block_in_place` on a multi-thread runtime, inline elsewhere (a
/// current-thread runtime, where `block_in_place` panics, or no runtime).
/// Not bounded: prefer [`StorageIo::run`].
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_limit_calls_run_at_once_and_every_caller_gets_its_turn() {
        let io = StorageIo::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (io, running, peak) = (io.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                io.run(|| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
                .await
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        assert_eq!(done, (0..16).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 2, "peak {}", peak.load(Ordering::SeqCst));
        assert_eq!(io.busy(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocked_call_does_not_stall_other_tasks_on_its_worker() {
        let io = StorageIo::new(1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        // Blocks its worker thread until the other task, which must still be
        // scheduled, answers.
        let blocked = tokio::spawn({
            let io = io.clone();
            async move { io.run(move || rx.recv_timeout(Duration::from_secs(30)).is_ok()).await }
        });
        let other = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send(()).unwrap();
        });
        other.await.unwrap();
        assert!(blocked.await.unwrap(), "the blocked call saw the other task run");
    }

    #[tokio::test]
    async fn a_current_thread_runtime_runs_the_work_inline() {
        let io = StorageIo::new(0);
        assert_eq!(io.limit(), 1, "at least one slot");
        assert_eq!(io.run(|| 7).await, 7);
        assert_eq!(run(&io, || 8).await, 8);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_handed_to_blocking_work_is_held_until_dropped() {
        let io = StorageIo::new(1);
        let slot = io.slot().await.unwrap();
        assert_eq!(io.busy(), 1);
        let held = io.clone();
        let seen = tokio::task::spawn_blocking(move || {
            let busy = held.busy();
            drop(slot);
            busy
        })
        .await
        .unwrap();
        assert_eq!(seen, 1, "the slot was held while the work ran");
        assert_eq!(io.busy(), 0);
    }
}
