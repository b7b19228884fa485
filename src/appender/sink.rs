//! The delivery engine behind both front ends (log4rs appender, tracing
//! layer): a bounded queue of formatted lines, drained by one background
//! thread that owns a private tokio runtime and our [`Producer`].
//!
//! Why a thread of its own: log calls come from any thread — plain threads of
//! a non-async program, or worker threads of the application's own tokio
//! runtime, where `block_on` would panic and where our producer's tasks must
//! not compete with the application's. The application thread only pushes to
//! the queue (never blocking; a full queue drops and counts the line) and,
//! with `syncSend`, waits on a plain channel for the broker's answer, at most
//! `maxBlockMs`.
//!
//! Nothing here logs through `log` or `tracing`: a failure is counted and
//! reported on stderr (rate-limited), because logging it would feed it back
//! into the appender. For the same reason every thread of the private runtime
//! carries the re-entrancy flag ([`in_appender`]), so events that our client
//! emits there are ignored by the front ends.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::client::{ClientError, Producer, ProducerConfig, ProducerRecord};

use super::settings::AppenderConfig;
use super::AppenderError;

/// How often a continuing failure is reported on stderr.
const REPORT_EVERY: Duration = Duration::from_secs(10);

thread_local! {
    /// Set on the appender's own threads for their whole life, and on an
    /// application thread while it is inside the appender.
    static IN_APPENDER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is the appender's own or is already appending: a log
/// event here must not be appended again.
pub(crate) fn in_appender() -> bool {
    IN_APPENDER.with(Cell::get)
}

/// Marks the current thread as inside the appender until dropped.
pub(crate) struct ReentrancyGuard {
    was: bool,
}

impl ReentrancyGuard {
    pub(crate) fn enter() -> ReentrancyGuard {
        ReentrancyGuard { was: IN_APPENDER.with(|f| f.replace(true)) }
    }
}

impl Drop for ReentrancyGuard {
    fn drop(&mut self) {
        let was = self.was;
        IN_APPENDER.with(|f| f.set(was));
    }
}

/// Log targets of our own client's internals: with `tracing`'s `log` bridge
/// (or an application forwarding tracing to log) their events can reach the
/// appender from the producer's threads.
pub(crate) fn is_internal_target(target: &str) -> bool {
    target.starts_with("gregor::client")
}

/// Delivery counters of one appender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppenderStats {
    /// The topic the appender writes to.
    pub topic: String,
    /// Lines the broker acknowledged.
    pub delivered: u64,
    /// Lines that will never be delivered: the queue was full, the producer
    /// gave up (`deliveryTimeoutMs`), or the appender closed first.
    pub undelivered: u64,
    /// Lines accepted and not yet acknowledged or failed.
    pub pending: u64,
}

/// One formatted line on its way.
struct Line {
    key: Option<Bytes>,
    value: Bytes,
    timestamp: i64,
    ack: Option<SyncSender<Result<(), String>>>,
}

struct Report {
    unreported: u64,
    reason: String,
    last_print: Option<Instant>,
}

pub(crate) struct SinkShared {
    topic: String,
    max_block: Duration,
    capacity: usize,
    queue: Mutex<VecDeque<Line>>,
    wake: Notify,
    flush_requested: AtomicBool,
    closing: AtomicBool,
    /// Set after the final count at close: late outcomes no longer count.
    finished: AtomicBool,
    close_deadline: Mutex<Option<Instant>>,
    /// Lines accepted and not yet resolved; `idle` is signalled when it drops.
    pending: Mutex<u64>,
    idle: Condvar,
    delivered: AtomicU64,
    undelivered: AtomicU64,
    report: Mutex<Report>,
}

impl SinkShared {
    fn stats(&self) -> AppenderStats {
        AppenderStats {
            topic: self.topic.clone(),
            delivered: self.delivered.load(Ordering::Acquire),
            undelivered: self.undelivered.load(Ordering::Acquire),
            pending: *self.pending.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Counts `n` lines as undelivered and reports them (rate-limited).
    fn fail(&self, n: u64, reason: &str) {
        if n == 0 || self.finished.load(Ordering::Acquire) {
            return;
        }
        self.undelivered.fetch_add(n, Ordering::AcqRel);
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        report.unreported += n;
        report.reason = reason.to_string();
        if report.last_print.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            self.print(&mut report);
        }
    }

    /// Prints the failures not reported yet, if any.
    fn print(&self, report: &mut Report) {
        if report.unreported == 0 {
            return;
        }
        let n = report.unreported;
        let lines = if n == 1 { "log line" } else { "log lines" };
        eprintln!("gregor appender: {n} {lines} could not be delivered to topic {}: {}", self.topic, report.reason);
        report.unreported = 0;
        report.last_print = Some(Instant::now());
    }

    fn report_due(&self) {
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        if report.last_print.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            self.print(&mut report);
        }
    }

    /// A line's final outcome.
    fn resolve(&self, ack: Option<SyncSender<Result<(), String>>>, outcome: Result<(), String>) {
        match &outcome {
            Ok(()) => {
                if !self.finished.load(Ordering::Acquire) {
                    self.delivered.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(reason) => self.fail(1, reason),
        }
        if let Some(ack) = ack {
            // The caller may have stopped waiting (maxBlockMs): that is fine.
            let _ = ack.try_send(outcome);
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending = pending.saturating_sub(1);
        if *pending == 0 {
            self.idle.notify_all();
        }
    }

    fn take_queue(&self) -> Vec<Line> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect()
    }

    /// Waits until nothing is pending or `deadline` passes; true when idle.
    fn wait_idle(&self, deadline: Instant) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *pending == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            pending = self.idle.wait_timeout(pending, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Every live sink, so a program whose appender log4rs built from a file can
/// still read its counters ([`super::stats`]).
static REGISTRY: Mutex<Vec<Weak<SinkShared>>> = Mutex::new(Vec::new());

pub(crate) fn all_stats() -> Vec<AppenderStats> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.retain(|w| w.strong_count() > 0);
    registry.iter().filter_map(Weak::upgrade).map(|s| s.stats()).collect()
}

/// Why a line was not accepted or (with `syncSend`) not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("the appender's queue for topic {topic} is full ({capacity} lines); the line was dropped")]
    QueueFull { topic: String, capacity: usize },
    #[error("the appender for topic {0} is closed")]
    Closed(String),
    #[error("no acknowledgement from the broker within maxBlockMs ({} ms) for topic {topic}", after.as_millis())]
    Timeout { topic: String, after: Duration },
    #[error("the line could not be delivered to topic {topic}: {reason}")]
    Failed { topic: String, reason: String },
}

/// The queue, the background thread and its counters. Dropping it flushes
/// (waiting at most `maxBlockMs`) and stops the thread.
pub(crate) struct Sink {
    shared: Arc<SinkShared>,
    sync_send: bool,
    done: Mutex<Option<Receiver<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("topic", &self.shared.topic).field("sync_send", &self.sync_send).finish()
    }
}

impl Sink {
    /// Validates the options and starts the background thread; it connects
    /// to the brokers in the background, so an unreachable cluster does not
    /// stop the application from starting.
    pub(crate) fn start(config: &AppenderConfig) -> Result<Sink, AppenderError> {
        let producer_config = config.producer_config()?;
        let shared = Arc::new(SinkShared {
            topic: config.topic.clone(),
            max_block: config.max_block,
            capacity: config.queue_size,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            flush_requested: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            close_deadline: Mutex::new(None),
            pending: Mutex::new(0),
            idle: Condvar::new(),
            delivered: AtomicU64::new(0),
            undelivered: AtomicU64::new(0),
            report: Mutex::new(Report { unreported: 0, reason: String::new(), last_print: None }),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("gregor-appender")
            // Blocking-pool threads (DNS lookups) are ours too.
            .on_thread_start(|| IN_APPENDER.with(|f| f.set(true)))
            .build()
            .map_err(|e| AppenderError::Io(format!("cannot start the appender's runtime: {e}")))?;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let worker_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gregor-appender".to_string())
            .spawn(move || {
                IN_APPENDER.with(|f| f.set(true));
                runtime.block_on(run(worker_shared, producer_config));
                // Tasks still waiting for a broker are abandoned, not awaited.
                runtime.shutdown_background();
                let _ = done_tx.send(());
            })
            .map_err(|e| AppenderError::Io(format!("cannot start the appender's thread: {e}")))?;
        REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&shared));
        Ok(Sink {
            shared,
            sync_send: config.sync_send,
            done: Mutex::new(Some(done_rx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn stats(&self) -> AppenderStats {
        self.shared.stats()
    }

    /// Queues one line; with `syncSend`, waits for its outcome (at most `maxBlockMs`).
    pub(crate) fn send(&self, key: Option<Bytes>, value: Bytes, timestamp: i64) -> Result<(), SendError> {
        let shared = &self.shared;
        let (ack, answer) = if self.sync_send {
            let (tx, rx) = mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        if shared.closing.load(Ordering::Acquire) {
            shared.fail(1, "the appender is closed");
            return Err(SendError::Closed(shared.topic.clone()));
        }
        {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= shared.capacity {
                drop(queue);
                let err = SendError::QueueFull { topic: shared.topic.clone(), capacity: shared.capacity };
                shared.fail(1, &format!("the queue is full ({} lines; queueSize)", shared.capacity));
                return Err(err);
            }
            queue.push_back(Line { key, value, timestamp, ack });
            *shared.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        }
        shared.wake.notify_one();
        let Some(answer) = answer else { return Ok(()) };
        match answer.recv_timeout(shared.max_block) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(SendError::Failed { topic: shared.topic.clone(), reason }),
            // The line stays in flight; its final outcome is still counted.
            Err(_) => Err(SendError::Timeout { topic: shared.topic.clone(), after: shared.max_block }),
        }
    }

    /// Sends what is queued and waits until every accepted line is
    /// acknowledged or failed, at most `maxBlockMs`. True when all settled.
    pub(crate) fn flush(&self) -> bool {
        let shared = &self.shared;
        shared.flush_requested.store(true, Ordering::Release);
        shared.wake.notify_one();
        let settled = shared.wait_idle(Instant::now() + shared.max_block);
        if !settled {
            // Often the last word before the process exits (log4rs never drops
            // its appenders): say what may be lost.
            let pending = shared.stats().pending;
            let lines = if pending == 1 { "log line was" } else { "log lines were" };
            eprintln!(
                "gregor appender: {pending} {lines} still not acknowledged by topic {} after maxBlockMs ({} ms)",
                shared.topic,
                shared.max_block.as_millis()
            );
        }
        settled
    }

    /// Flushes and stops the background thread, waiting at most `maxBlockMs`.
    pub(crate) fn close(&self) {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.max_block;
        {
            let mut d = shared.close_deadline.lock().unwrap_or_else(|e| e.into_inner());
            if d.is_none() {
                *d = Some(deadline);
            }
        }
        shared.closing.store(true, Ordering::Release);
        shared.wake.notify_one();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(done) = done else { return };
        // A little past the worker's own deadline, for its final count.
        if done.recv_timeout(shared.max_block + Duration::from_millis(500)).is_ok() {
            if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = t.join();
            }
        }
        // Otherwise the thread is left to finish on its own: the application
        // must not wait longer than maxBlockMs.
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.close();
    }
}

/// The background task: connects, drains the queue into the producer, and
/// on close delivers what it can before the deadline.
async fn run(shared: Arc<SinkShared>, config: ProducerConfig) {
    let mut producer: Option<Producer> = None;
    let mut last_connect_error = String::new();
    let mut next_connect = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let closing = shared.closing.load(Ordering::Acquire);
        // Closing with nothing to deliver needs no brokers.
        let idle_close = closing && shared.stats().pending == 0;
        if producer.is_none() && !idle_close && (Instant::now() >= next_connect || closing) {
            // A close while the brokers are still being reached cuts the attempt
            // short: an application that logged nothing must not wait on them.
            tokio::select! {
                result = connect(&shared, &config) => match result {
                    Ok(p) => producer = Some(p),
                    Err(e) => {
                        last_connect_error = e;
                        next_connect = Instant::now() + Duration::from_secs(1);
                    }
                },
                _ = closed(&shared), if !closing => continue,
            }
        }
        let lines = shared.take_queue();
        if lines.is_empty() {
            if shared.closing.load(Ordering::Acquire) {
                break;
            }
            if shared.flush_requested.swap(false, Ordering::AcqRel) {
                if let Some(p) = producer.clone() {
                    tokio::spawn(async move {
                        let _ = p.flush().await;
                    });
                }
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tick.tick() => shared.report_due(),
            }
            continue;
        }
        for line in lines {
            let Some(p) = producer.as_ref() else {
                let reason = format!("cannot connect to the brokers: {last_connect_error}");
                shared.resolve(line.ack, Err(reason));
                continue;
            };
            let record = ProducerRecord {
                topic: shared.topic.clone(),
                partition: None,
                key: line.key,
                value: Some(line.value),
                headers: Vec::new(),
                timestamp: Some(line.timestamp),
            };
            match p.send(record).await {
                Ok(delivery) => {
                    let shared = shared.clone();
                    let ack = line.ack;
                    tokio::spawn(async move {
                        let outcome = delivery.await.map(|_| ()).map_err(|e| e.to_string());
                        shared.resolve(ack, outcome);
                    });
                }
                Err(e) => {
                    if matches!(e, ClientError::Closed(_)) {
                        producer = None;
                    }
                    shared.resolve(line.ack, Err(e.to_string()));
                }
            }
        }
    }
    finish(&shared, producer).await;
}

/// Returns once the appender is closing (it swallows wake-ups on the way;
/// the caller's loop looks at the queue afterwards anyway).
async fn closed(shared: &SinkShared) {
    while !shared.closing.load(Ordering::Acquire) {
        shared.wake.notified().await;
    }
}

/// Creates the producer; bounded by the close deadline when closing.
async fn connect(shared: &SinkShared, config: &ProducerConfig) -> Result<Producer, String> {
    let deadline = *shared.close_deadline.lock().unwrap_or_else(|e| e.into_inner());
    let attempt = Producer::new(config.clone());
    let result = match deadline {
        Some(d) => match tokio::time::timeout(d.saturating_duration_since(Instant::now()), attempt).await {
            Ok(r) => r,
            Err(_) => return Err("the appender closed before the brokers could be reached".to_string()),
        },
        None => attempt.await,
    };
    result.map_err(|e| e.to_string())
}

/// Close: waits for outstanding lines until the deadline, counts the rest as
/// undelivered and prints the last report.
async fn finish(shared: &Arc<SinkShared>, producer: Option<Producer>) {
    let deadline = shared
        .close_deadline
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(|| Instant::now() + shared.max_block);
    if let Some(p) = producer {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(remaining, p.flush()).await;
    }
    // Delivery tasks resolve on this runtime: give them the rest of the time.
    loop {
        let pending = *shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *pending)
    };
    shared.fail(left, "the appender closed before the broker acknowledged them (maxBlockMs)");
    shared.finished.store(true, Ordering::Release);
    shared.idle.notify_all();
    let mut report = shared.report.lock().unwrap_or_else(|e| e.into_inner());
    shared.print(&mut report);
}
