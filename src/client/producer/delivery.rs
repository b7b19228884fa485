//! The outcome of a batch, shared by the sender (which completes it) and the
//! [`DeliveryFuture`]s of its records (which read it).
//!
//! One allocation per batch, not per record: a future is the batch handle plus
//! the record's index, and wakers are kept in a slot per index so polling the
//! same future repeatedly does not grow anything.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::client::ClientError;

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with `acks=0` (the broker does not answer).
    pub offset: i64,
    /// The record's timestamp (CreateTime), or the broker's append time for
    /// topics with `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}

/// A successful batch.
#[derive(Debug)]
pub(crate) struct BatchAck {
    /// -1 when unknown (acks=0).
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time: i64,
    pub timestamps: Vec<i64>,
}

#[derive(Debug, Default)]
struct BatchState {
    outcome: Option<Result<BatchAck, ClientError>>,
    wakers: Vec<Option<Waker>>,
}

/// A batch's identity and eventual outcome.
#[derive(Debug)]
pub(crate) struct BatchShared {
    pub topic: Arc<str>,
    pub partition: i32,
    state: Mutex<BatchState>,
}

impl BatchShared {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<BatchShared> {
        Arc::new(BatchShared { topic, partition, state: Mutex::new(BatchState::default()) })
    }

    /// Records the outcome (the first one wins) and wakes every waiting record.
    pub(crate) fn complete(&self, outcome: Result<BatchAck, ClientError>) {
        let wakers = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.outcome.is_some() {
                return;
            }
            s.outcome = Some(outcome);
            std::mem::take(&mut s.wakers)
        };
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    fn poll_record(&self, index: usize, cx: &mut Context<'_>) -> Poll<Result<RecordMetadata, ClientError>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &s.outcome {
            Some(Ok(ack)) => Poll::Ready(Ok(RecordMetadata {
                topic: self.topic.to_string(),
                partition: self.partition,
                offset: if ack.base_offset >= 0 { ack.base_offset + index as i64 } else { -1 },
                timestamp: if ack.log_append_time >= 0 {
                    ack.log_append_time
                } else {
                    ack.timestamps.get(index).copied().unwrap_or(-1)
                },
            })),
            Some(Err(e)) => Poll::Ready(Err(e.clone())),
            None => {
                if s.wakers.len() <= index {
                    s.wakers.resize(index + 1, None);
                }
                match &mut s.wakers[index] {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// Resolves once the broker acknowledged the record, or it failed for good
/// (non-retriable error, retries exhausted, or `delivery.timeout.ms` passed).
/// Dropping it does not cancel the send.
#[derive(Debug)]
#[must_use = "a DeliveryFuture tells whether the record was written; await it or drop it explicitly"]
pub struct DeliveryFuture {
    batch: Arc<BatchShared>,
    index: usize,
}

impl DeliveryFuture {
    pub(crate) fn new(batch: Arc<BatchShared>, index: usize) -> Self {
        DeliveryFuture { batch, index }
    }

    /// The partition the record went to.
    pub(crate) fn topic_partition(&self) -> (Arc<str>, i32) {
        (self.batch.topic.clone(), self.batch.partition)
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.batch.poll_record(self.index, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn futures_resolve_with_per_record_offsets() {
        let batch = BatchShared::new(Arc::from("t"), 3);
        let f0 = DeliveryFuture::new(batch.clone(), 0);
        let f2 = DeliveryFuture::new(batch.clone(), 2);
        let waiter = tokio::spawn(f2);
        tokio::task::yield_now().await;
        batch.complete(Ok(BatchAck { base_offset: 10, log_append_time: -1, timestamps: vec![5, 6, 7] }));
        let m = waiter.await.expect("join").expect("ok");
        assert_eq!((m.partition, m.offset, m.timestamp), (3, 12, 7));
        assert_eq!(f0.await.expect("ok").offset, 10);
        // A second completion is ignored.
        batch.complete(Err(ClientError::Closed("producer")));
        assert_eq!(DeliveryFuture::new(batch, 1).await.expect("ok").offset, 11);
    }
}
