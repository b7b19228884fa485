//! `queued.max.request.bytes`: one budget of request bytes shared by every
//! connection of a listener. A connection reserves its frame's size (read from
//! the length prefix, before any of the body is buffered) and gives it back
//! once the handler is done with the request, so the bytes held by requests
//! being read or handled never exceed the budget however many clients send at
//! once. While the budget is spent, connections wait for it (back-pressure:
//! their bytes stay in the kernel's socket buffers); they are not failed.
//!
//! A frame larger than the whole budget reserves all of it: it proceeds once
//! it has the budget to itself instead of waiting forever.
//!
//! A request's bytes count until its handler returns. Handlers that wait (a
//! long-poll Fetch, a JoinGroup waiting for its group) keep their few bytes
//! reserved meanwhile; since waiters are served in order, a large frame queued
//! behind them waits that long too, and so does everything queued behind it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shared budget; cloning shares it. `unlimited` reserves nothing.
#[derive(Clone, Debug)]
pub struct RequestBudget {
    bytes: Option<Arc<Semaphore>>,
    total: usize,
}

/// Bytes reserved from a [`RequestBudget`]; dropping it gives them back.
#[derive(Debug)]
#[must_use = "the bytes are given back as soon as the reservation is dropped"]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl RequestBudget {
    /// No limit (Kafka's `queued.max.request.bytes=-1`).
    pub fn unlimited() -> RequestBudget {
        RequestBudget { bytes: None, total: 0 }
    }

    /// A budget of `limit` bytes, `None` for no limit.
    pub fn new(limit: Option<u64>) -> RequestBudget {
        match limit {
            Some(limit) => {
                // The semaphore counts at most MAX_PERMITS; larger budgets are as good as unlimited.
                let total = usize::try_from(limit).unwrap_or(usize::MAX).clamp(1, Semaphore::MAX_PERMITS);
                RequestBudget { bytes: Some(Arc::new(Semaphore::new(total))), total }
            }
            None => RequestBudget::unlimited(),
        }
    }

    /// Waits until `bytes` (at most the whole budget) are free and reserves them.
    /// Waiters are served in arrival order, so a large frame is not starved by
    /// a stream of small ones.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let Some(semaphore) = &self.bytes else {
            return Reservation { _permit: None };
        };
        let wanted = u32::try_from(bytes.clamp(1, self.total)).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring cannot fail; if it ever
        // did, carrying on without a reservation beats refusing every request.
        Reservation { _permit: semaphore.clone().acquire_many_owned(wanted).await.ok() }
    }

    /// Bytes free right now (`None`: no limit).
    pub fn available(&self) -> Option<usize> {
        self.bytes.as_ref().map(|s| s.available_permits())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_bytes_and_give_them_back() {
        let budget = RequestBudget::new(Some(100));
        let first = budget.reserve(60).await;
        assert_eq!(budget.available(), Some(40));
        // 60 more do not fit: the second reservation waits until the first is dropped.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(60).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "reserved bytes that were not free");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(30), waiting).await.unwrap().unwrap();
        assert_eq!(budget.available(), Some(40));
        drop(second);
        assert_eq!(budget.available(), Some(100));
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_budget_takes_all_of_it() {
        let budget = RequestBudget::new(Some(100));
        let big = tokio::time::timeout(Duration::from_secs(30), budget.reserve(1_000_000)).await.unwrap();
        assert_eq!(budget.available(), Some(0));
        drop(big);
        assert_eq!(budget.available(), Some(100));
    }

    #[tokio::test]
    async fn unlimited_reserves_nothing() {
        let budget = RequestBudget::new(None);
        let _r = budget.reserve(usize::MAX).await;
        assert_eq!(budget.available(), None);
    }
}
