//! The producer's background task: decides which batches are ready, sends
//! them to partition leaders, and handles the answers (success, retry, or
//! failure).
//!
//! It owns all sending state without locks: per-partition sequence numbers,
//! retry queues and in-flight counts, per-broker in-flight counts, and the
//! producer id. Responses come back as events from one small task per
//! request, so the loop never waits on the network itself (except for the
//! rare InitProducerId, when nothing is in flight anyway).
//!
//! Ordering: batches of a partition are handed to its connection in sequence
//! order and the broker answers in order. A retried batch waits until nothing
//! else of its partition is in flight and goes out before any newer batch, so
//! retries never reorder records of an idempotent producer.
//!
//! A transactional producer's id and epoch come from `init_transactions`
//! (the sender adopts them, never asks itself); the sender sends
//! AddPartitionsToTxn for partitions new to the transaction, one request at
//! a time, and a partition's batches only after it was added. In an error
//! state or while aborting, it drops every batch not yet sent.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::accumulator::{encode, restamp, OpenBatch, ProducerBatch, TopicPartition};
use super::delivery::BatchAck;
use super::transaction::{TxnErrorKind, TxnState};
use super::{Acks, ProducerShared};
use crate::client::cluster::is_transient;
use crate::client::connection::{ResponseFuture, WriteFuture};
use crate::client::{ClientError, ResponseError};

/// What request tasks and helper tasks report back to the loop.
enum Event {
    /// `Ok(None)`: an acks=0 request was written.
    Response {
        node: i32,
        batches: Vec<ProducerBatch>,
        result: Result<Option<ProduceResponse>, ClientError>,
    },
    MetadataRefreshed,
    Connected {
        node: i32,
        ok: bool,
    },
    /// An AddPartitionsToTxn request of transaction `generation` ended.
    PartitionsAdded {
        generation: u64,
        partitions: BTreeSet<TopicPartition>,
        result: Result<(), ClientError>,
    },
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Sequence number of the next new batch.
    next_sequence: i32,
    /// Batches of this partition in flight.
    in_flight: usize,
    /// Batches to send again, oldest (lowest sequence) first.
    retries: VecDeque<ProducerBatch>,
}

/// What a sent request will report.
enum Pending {
    Response(ResponseFuture<ProduceResponse>),
    Written(WriteFuture),
}

/// A request being assembled for one broker.
struct Plan {
    bytes: usize,
    batches: Vec<ProducerBatch>,
    /// Batches still to be encoded (taken from the accumulator).
    fresh: Vec<(TopicPartition, OpenBatch)>,
}

pub(crate) struct Sender {
    shared: Arc<ProducerShared>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    partitions: HashMap<TopicPartition, PartitionState>,
    in_flight_by_node: HashMap<i32, usize>,
    in_flight_total: usize,
    /// Idempotent producer id and epoch.
    producer: Option<(i64, i16)>,
    /// A batch failed for good after getting a sequence: renumber before sending more.
    bump_epoch: bool,
    producer_id_retry_at: Option<Instant>,
    refreshing: bool,
    last_refresh: Option<Instant>,
    want_refresh: bool,
    connecting: HashSet<i32>,
    connect_retry_at: HashMap<i32, Instant>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<ProducerShared>) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Sender {
            shared,
            events_tx,
            events_rx,
            partitions: HashMap::new(),
            in_flight_by_node: HashMap::new(),
            in_flight_total: 0,
            producer: None,
            bump_epoch: false,
            producer_id_retry_at: None,
            refreshing: false,
            last_refresh: None,
            want_refresh: false,
            connecting: HashSet::new(),
            connect_retry_at: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            while let Ok(event) = self.events_rx.try_recv() {
                self.handle(event);
            }
            let now = Instant::now();
            self.expire(now);
            let mut wake_at = now + Duration::from_secs(1);
            let needs_id = if self.shared.txn.is_some() {
                self.sync_transaction();
                false
            } else {
                self.shared.idempotent && (self.producer.is_none() || self.bump_epoch)
            };
            if needs_id && self.in_flight_total == 0 && self.producer_id_retry_at.is_none_or(|t| t <= now) {
                self.init_producer_id().await;
                continue;
            }
            if !needs_id {
                if let Some(t) = self.drain(now) {
                    wake_at = wake_at.min(t);
                }
            } else if let Some(t) = self.producer_id_retry_at {
                wake_at = wake_at.min(t);
            }
            if self.shared.cluster.is_stale() {
                self.want_refresh = true;
            }
            if let Some(t) = self.maybe_refresh(now) {
                wake_at = wake_at.min(t);
            }
            if self.shared.closing.load(Ordering::Acquire) && self.is_idle() {
                return;
            }
            tokio::select! {
                event = self.events_rx.recv() => {
                    if let Some(event) = event {
                        self.handle(event);
                    }
                }
                _ = self.shared.wakeup.notified() => {}
                _ = tokio::time::sleep_until(wake_at.into()) => {}
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight_total == 0
            && self.partitions.values().all(|p| p.retries.is_empty())
            && self.shared.accumulator.lock().unwrap_or_else(|e| e.into_inner()).queued == 0
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Response { node, batches, result } => self.on_response(node, batches, result),
            Event::MetadataRefreshed => self.refreshing = false,
            Event::PartitionsAdded { generation, partitions, result } => {
                let Some(txn) = &self.shared.txn else { return };
                {
                    let mut m = txn.lock();
                    if m.generation == generation {
                        m.adding.clear();
                        match result {
                            Ok(()) => m.added.extend(partitions),
                            Err(err) => {
                                m.fail_with(err);
                            }
                        }
                    }
                }
                txn.changed.notify_waiters();
            }
            Event::Connected { node, ok } => {
                self.connecting.remove(&node);
                if ok {
                    self.connect_retry_at.remove(&node);
                } else {
                    self.connect_retry_at.insert(node, Instant::now() + self.shared.config.client.retry_backoff);
                    self.want_refresh = true;
                }
            }
        }
    }

    /// Starts a metadata refresh if one is wanted and the backoff allows;
    /// returns when to look again.
    fn maybe_refresh(&mut self, now: Instant) -> Option<Instant> {
        if !self.want_refresh || self.refreshing {
            return None;
        }
        let backoff = self.shared.config.client.retry_backoff;
        if let Some(last) = self.last_refresh {
            if now < last + backoff {
                return Some(last + backoff);
            }
        }
        self.want_refresh = false;
        self.refreshing = true;
        self.last_refresh = Some(now);
        let cluster = self.shared.cluster.clone();
        let tx = self.events_tx.clone();
        tokio::spawn(async move {
            if let Err(err) = cluster.refresh().await {
                tracing::debug!(%err, "producer metadata refresh failed");
            }
            let _ = tx.send(Event::MetadataRefreshed);
        });
        None
    }

    /// Fails batches that have outlived `delivery.timeout.ms`.
    fn expire(&mut self, now: Instant) {
        let timeout = self.shared.config.delivery_timeout;
        let mut expired: Vec<OpenBatch> = Vec::new();
        {
            let mut acc = self.shared.accumulator.lock().unwrap_or_else(|e| e.into_inner());
            let mut removed = 0;
            for tq in acc.topics.values_mut() {
                for q in &mut tq.partitions {
                    while q.front().is_some_and(|b| now.duration_since(b.created) >= timeout) {
                        if let Some(b) = q.pop_front() {
                            expired.push(b);
                            removed += 1;
                        }
                    }
                }
            }
            acc.queued -= removed;
        }
        for b in expired {
            let err = expiry_error(&b.shared.topic, b.shared.partition, b.records.len(), timeout);
            if let Some(txn) = &self.shared.txn {
                // A record of the transaction is lost: it must not commit.
                let mut m = txn.lock();
                if m.state != TxnState::Aborting {
                    m.fail_with(err.clone());
                }
            }
            self.shared.finish(b.id, &b.shared, b.bytes, Err(err));
        }
        let mut failed = Vec::new();
        for ps in self.partitions.values_mut() {
            while ps.retries.front().is_some_and(|b| now.duration_since(b.created) >= timeout) {
                if let Some(b) = ps.retries.pop_front() {
                    failed.push(b);
                }
            }
        }
        for b in failed {
            let err = expiry_error(&b.tp.0, b.tp.1, b.record_count as usize, timeout);
            self.fail(b, err);
        }
    }

    /// Sends every ready batch whose leader has a free in-flight slot; returns
    /// the next instant something becomes ready (linger or backoff).
    fn drain(&mut self, now: Instant) -> Option<Instant> {
        let config = &self.shared.config;
        let md = self.shared.cluster.snapshot();
        let mut next: Option<Instant> = None;
        let mut earliest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let all_ready = self.shared.flushing.load(Ordering::Acquire) > 0
            || self.shared.closing.load(Ordering::Acquire)
            || self.shared.memory.available_permits() < config.batch_size.max(4096);
        let mut plans: HashMap<i32, Vec<Plan>> = HashMap::new();
        let mut need_metadata = false;
        let mut need_connect: Vec<(i32, String)> = Vec::new();

        // Requests each broker can take now: 0 unless connected, else the free in-flight slots.
        let mut slots: HashMap<i32, usize> = HashMap::new();
        let mut free_slots = |node: i32, need_connect: &mut Vec<(i32, String)>| -> usize {
            *slots.entry(node).or_insert_with(|| {
                let Some(addr) = md.address(node) else { return 0 };
                if self.shared.cluster.ready_connection(&addr).is_none() {
                    need_connect.push((node, addr));
                    return 0;
                }
                let used = self.in_flight_by_node.get(&node).copied().unwrap_or(0);
                config.max_in_flight.saturating_sub(used)
            })
        };

        // Retries first: per partition, only when nothing else of it is in flight.
        for (tp, ps) in self.partitions.iter_mut() {
            let Some(front) = ps.retries.front() else { continue };
            if let Some(at) = front.retry_at.filter(|at| *at > now) {
                earliest(at);
                continue;
            }
            if ps.in_flight > 0 {
                continue;
            }
            let Some(node) = md.leader(&tp.0, tp.1) else {
                need_metadata = true;
                continue;
            };
            let free = free_slots(node, &mut need_connect);
            let node_plans = plans.entry(node).or_default();
            let size = front.encoded.len();
            if let Some(k) = plan_for(node_plans, free, 0, tp, size, config.max_request_size) {
                if let Some(batch) = ps.retries.pop_front() {
                    node_plans[k].bytes += size;
                    node_plans[k].batches.push(batch);
                }
            }
        }

        // New batches from the accumulator.
        {
            // A transactional producer sends a partition's batches only once the
            // coordinator added the partition to the transaction. Lock order: the
            // transaction before the accumulator, as in `Producer::send`; both
            // guards drop at the end of this block, before dispatch.
            let txn = self.shared.txn.as_ref().map(|t| t.lock());
            let mut acc = self.shared.accumulator.lock().unwrap_or_else(|e| e.into_inner());
            let mut taken = 0usize;
            let ready = |b: &OpenBatch, more_behind: bool| {
                more_behind || b.bytes >= config.batch_size || all_ready || b.created + config.linger <= now
            };
            for (topic, tq) in acc.topics.iter_mut() {
                for (index, q) in tq.partitions.iter_mut().enumerate() {
                    let Some(front) = q.front() else { continue };
                    if !ready(front, q.len() > 1) {
                        earliest(front.created + config.linger);
                        continue;
                    }
                    let tp: TopicPartition = (topic.clone(), index as i32);
                    if txn.as_ref().is_some_and(|m| !m.added.contains(&tp)) {
                        continue;
                    }
                    // Newer batches wait behind retries of the same partition.
                    if self.partitions.get(&tp).is_some_and(|ps| !ps.retries.is_empty()) {
                        continue;
                    }
                    let Some(node) = md.leader(topic, tp.1) else {
                        need_metadata = true;
                        continue;
                    };
                    let free = free_slots(node, &mut need_connect);
                    let node_plans = plans.entry(node).or_default();
                    // The k-th batch of a partition goes into a later request than the
                    // (k-1)-th, so the partition's batches reach the broker in order.
                    let mut start = 0;
                    while let Some(front) = q.front() {
                        if !ready(front, q.len() > 1) {
                            break;
                        }
                        let Some(k) = plan_for(node_plans, free, start, &tp, front.bytes, config.max_request_size)
                        else {
                            break;
                        };
                        let Some(batch) = q.pop_front() else { break };
                        taken += 1;
                        node_plans[k].bytes += batch.bytes;
                        node_plans[k].fresh.push((tp.clone(), batch));
                        start = k + 1;
                    }
                }
            }
            acc.queued -= taken;
        }

        if need_metadata {
            self.want_refresh = true;
        }
        for (node, addr) in need_connect {
            self.connect(node, addr, now, &mut earliest);
        }
        for (node, node_plans) in plans {
            for plan in node_plans {
                if !plan.batches.is_empty() || !plan.fresh.is_empty() {
                    self.dispatch(node, plan);
                }
            }
        }
        next
    }

    fn connect(&mut self, node: i32, addr: String, now: Instant, earliest: &mut impl FnMut(Instant)) {
        if self.connecting.contains(&node) {
            return;
        }
        if let Some(at) = self.connect_retry_at.get(&node) {
            if *at > now {
                earliest(*at);
                return;
            }
        }
        self.connecting.insert(node);
        let cluster = self.shared.cluster.clone();
        let tx = self.events_tx.clone();
        tokio::spawn(async move {
            let ok = cluster.connection(&addr).await.is_ok();
            let _ = tx.send(Event::Connected { node, ok });
        });
    }

    /// Encodes, numbers and sends one request.
    fn dispatch(&mut self, node: i32, mut plan: Plan) {
        let codec = self.shared.config.compression.codec();
        let producer = self.producer.filter(|_| self.shared.idempotent);
        for (tp, open) in plan.fresh.drain(..) {
            // Sequence numbers in the order batches go on the wire.
            let stamp = producer.map(|(pid, epoch)| {
                let ps = self.partitions.entry(tp.clone()).or_default();
                let seq = ps.next_sequence;
                ps.next_sequence = wrap_add(seq, open.records.len() as i32);
                (pid, epoch, seq)
            });
            match encode(open, tp.clone(), codec, stamp) {
                Ok(batch) => plan.batches.push(batch),
                Err((parts, err)) => {
                    if let (Some((_, _, seq)), Some(ps)) = (stamp, self.partitions.get_mut(&tp)) {
                        ps.next_sequence = seq; // never sent: give the numbers back
                    }
                    self.shared.finish(parts.id, &parts.shared, parts.memory, Err(err));
                }
            }
        }
        if plan.batches.is_empty() {
            return;
        }
        let md = self.shared.cluster.snapshot();
        let conn = md.address(node).and_then(|addr| self.shared.cluster.ready_connection(&addr));
        let Some(conn) = conn else {
            let err = ClientError::kafka(ResponseError::NetworkException, None, format!("broker {node}"));
            for b in plan.batches {
                self.retry_or_fail(b, err.clone());
            }
            return;
        };
        let version = match conn.version(ApiKey::Produce) {
            Ok(v) => v,
            Err(err) => {
                for b in plan.batches {
                    self.fail(b, err.clone());
                }
                return;
            }
        };
        let acks = self.shared.config.acks;
        let timeout_ms = i32::try_from(self.shared.config.client.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for b in &plan.batches {
            let data = PartitionProduceData::default().with_index(b.tp.1).with_records(Some(b.encoded.clone()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == &*b.tp.0) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.tp.0.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let transactional_id = self
            .shared
            .txn
            .as_ref()
            .map(|t| TransactionalId(StrBytes::from_string(t.coordinator.transactional_id.clone())));
        let req = ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(acks.as_i16())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics);
        for b in &mut plan.batches {
            b.attempts += 1;
        }
        // acks=0 gets no answer: a request counts as done once written, which
        // still bounds how much sits in the connection's queue.
        let pending = if acks == Acks::None {
            conn.send_oneway(&req, version).map(Pending::Written)
        } else {
            conn.send(&req, version).map(Pending::Response)
        };
        let pending = match pending {
            Ok(p) => p,
            Err(err) => {
                for b in plan.batches {
                    self.retry_or_fail(b, err.clone());
                }
                return;
            }
        };
        for b in &plan.batches {
            self.partitions.entry(b.tp.clone()).or_default().in_flight += 1;
        }
        *self.in_flight_by_node.entry(node).or_default() += 1;
        self.in_flight_total += 1;
        let tx = self.events_tx.clone();
        let batches = plan.batches;
        tokio::spawn(async move {
            let result = match pending {
                Pending::Response(p) => p.await_response().await.map(Some),
                Pending::Written(w) => w.written().await.map(|()| None),
            };
            let _ = tx.send(Event::Response { node, batches, result });
        });
    }

    fn on_response(
        &mut self,
        node: i32,
        batches: Vec<ProducerBatch>,
        result: Result<Option<ProduceResponse>, ClientError>,
    ) {
        if let Some(n) = self.in_flight_by_node.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
        self.in_flight_total = self.in_flight_total.saturating_sub(1);
        for b in &batches {
            if let Some(ps) = self.partitions.get_mut(&b.tp) {
                ps.in_flight = ps.in_flight.saturating_sub(1);
            }
        }
        let resp = match result {
            Ok(Some(resp)) => resp,
            Ok(None) => {
                for b in batches {
                    let ack = BatchAck { base_offset: -1, log_append_time: -1, timestamps: b.timestamps };
                    self.shared.finish(b.id, &b.shared, b.memory, Ok(ack));
                }
                return;
            }
            Err(err) => {
                for b in batches {
                    self.retry_or_fail(b, err.clone());
                }
                return;
            }
        };
        for b in batches {
            let found = resp
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == &*b.tp.0)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == b.tp.1);
            let Some(p) = found else {
                let err = ClientError::protocol(format!("broker {node}"), "Produce answer lacks a partition");
                self.retry_or_fail(b, err);
                continue;
            };
            match ResponseError::try_from_code(p.error_code) {
                None | Some(ResponseError::DuplicateSequenceNumber) => {
                    let ProducerBatch { id, shared, memory, timestamps, .. } = b;
                    let ack =
                        BatchAck { base_offset: p.base_offset, log_append_time: p.log_append_time_ms, timestamps };
                    self.shared.finish(id, &shared, memory, Ok(ack));
                }
                Some(code) => {
                    let err =
                        ClientError::kafka(code, partition_message(p), format!("partition {}-{}", b.tp.0, b.tp.1));
                    self.retry_or_fail(b, err);
                }
            }
        }
    }

    /// Puts a batch back for another attempt, or fails it.
    fn retry_or_fail(&mut self, mut batch: ProducerBatch, err: ClientError) {
        let config = &self.shared.config;
        let expired = batch.created.elapsed() >= config.delivery_timeout;
        let idempotent = self.shared.idempotent;
        let code = err.code();
        if self.shared.txn.is_some() {
            // Fenced: a newer instance owns the transactional.id. A lost producer
            // id or a sequence gap: this transaction cannot be completed. Either
            // way the batch fails; the error goes to the transaction state.
            let verdict = match code {
                Some(ResponseError::InvalidProducerEpoch | ResponseError::ProducerFenced) => {
                    let fenced = ClientError::kafka(
                        ResponseError::ProducerFenced,
                        Some(format!(
                            "The producer was fenced by a newer instance with the same transactional.id ({err})."
                        )),
                        format!("partition {}-{}", batch.tp.0, batch.tp.1),
                    );
                    Some(fenced)
                }
                Some(ResponseError::TransactionalIdAuthorizationFailed | ResponseError::InvalidTxnState) => {
                    Some(err.clone())
                }
                Some(ResponseError::UnknownProducerId) => Some(err.clone()),
                Some(ResponseError::OutOfOrderSequenceNumber) => {
                    (!behind_retry(&mut self.partitions, &batch)).then(|| err.clone())
                }
                _ => None,
            };
            if let Some(err) = verdict {
                self.fail(batch, err);
                return;
            }
        }
        let retriable = match code {
            Some(ResponseError::OutOfOrderSequenceNumber) if idempotent => {
                // Expected behind a batch that is being retried; otherwise the
                // broker lost track of us: renumber under a new epoch.
                if !behind_retry(&mut self.partitions, &batch) {
                    self.bump_epoch = true;
                }
                true
            }
            Some(ResponseError::UnknownProducerId | ResponseError::InvalidProducerEpoch) if idempotent => {
                self.bump_epoch = true;
                true
            }
            Some(ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge | ResponseError::InvalidRecord) => {
                false
            }
            _ => err.is_retriable() || is_transient(&err),
        };
        if err.invalidates_metadata() {
            self.want_refresh = true;
        }
        if retriable && !expired && batch.attempts <= config.retries {
            tracing::debug!(partition = %format!("{}-{}", batch.tp.0, batch.tp.1), attempt = batch.attempts, %err, "retrying batch");
            batch.retry_at = Some(Instant::now() + config.client.retry_backoff);
            let ps = self.partitions.entry(batch.tp.clone()).or_default();
            // Keep retries ordered by sequence (or by creation without idempotence).
            let key = |b: &ProducerBatch| (b.sequence.map(i64::from).unwrap_or(-1), b.id);
            let pos = ps.retries.iter().position(|b| key(b) > key(&batch)).unwrap_or(ps.retries.len());
            ps.retries.insert(pos, batch);
        } else {
            let err = if expired && retriable {
                expiry_error(&batch.tp.0, batch.tp.1, batch.record_count as usize, config.delivery_timeout)
            } else {
                err
            };
            self.fail(batch, err);
        }
    }

    /// Fails a batch for good.
    fn fail(&mut self, batch: ProducerBatch, err: ClientError) {
        tracing::debug!(partition = %format!("{}-{}", batch.tp.0, batch.tp.1), %err, "batch failed");
        if let Some(txn) = &self.shared.txn {
            // Any failed record fails its transaction (before the batch
            // completes, so a commit waiting on it sees the error).
            let mut m = txn.lock();
            if batch.sequence.is_some() {
                m.needs_bump = true;
            }
            if m.state != TxnState::Aborting {
                // For the state only: the batch itself fails with its own error, unwrapped.
                m.fail_with(err.clone());
            }
            drop(m);
            self.shared.finish(batch.id, &batch.shared, batch.memory, Err(err));
            return;
        }
        if self.shared.idempotent && batch.sequence.is_some() {
            // Its sequence numbers were never written: later batches would be out of order.
            self.bump_epoch = true;
        }
        self.shared.finish(batch.id, &batch.shared, batch.memory, Err(err));
    }

    /// Gets a producer id (or bumps the epoch) and renumbers pending retries.
    async fn init_producer_id(&mut self) {
        let cluster = self.shared.cluster.clone();
        let current = self.producer;
        let timeout_ms = i32::try_from(self.shared.config.delivery_timeout.as_millis()).unwrap_or(i32::MAX);
        let result = async {
            let conn = cluster.any_connection().await?;
            let version = conn.version(ApiKey::InitProducerId)?;
            let mut req =
                InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(timeout_ms);
            if let (Some((pid, epoch)), true) = (current, version >= 3) {
                req = req.with_producer_id(ProducerId(pid)).with_producer_epoch(epoch);
            }
            let resp = conn.call(&req, version).await?;
            ClientError::check(resp.error_code, None, || "InitProducerId".to_string())?;
            Ok::<_, ClientError>((resp.producer_id.0, resp.producer_epoch))
        }
        .await;
        match result {
            Ok((pid, epoch)) => {
                tracing::debug!(producer_id = pid, epoch, "idempotent producer initialised");
                self.producer = Some((pid, epoch));
                self.bump_epoch = false;
                self.producer_id_retry_at = None;
                for ps in self.partitions.values_mut() {
                    ps.next_sequence = 0;
                    for b in ps.retries.iter_mut() {
                        let seq = ps.next_sequence;
                        ps.next_sequence = wrap_add(seq, b.record_count);
                        b.sequence = Some(seq);
                        b.encoded = restamp(&b.encoded, (pid, epoch, seq));
                    }
                }
            }
            Err(err) if err.is_retriable() || is_transient(&err) => {
                tracing::debug!(%err, "InitProducerId failed; retrying");
                self.producer_id_retry_at = Some(Instant::now() + self.shared.config.client.retry_backoff);
                self.want_refresh = true;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot get a producer id; failing queued records");
                *self.shared.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
                self.fail_everything(err);
                self.producer_id_retry_at = Some(Instant::now() + self.shared.config.client.retry_backoff);
            }
        }
    }

    /// The transactional part of each loop: adopt the producer id and epoch
    /// of `init_transactions`, drop unsent batches in an error state or while
    /// aborting, and ask the coordinator to add new partitions.
    fn sync_transaction(&mut self) {
        let Some(txn) = &self.shared.txn else { return };
        let (producer, drop_err, to_add) = {
            let mut m = txn.lock();
            let drop_err = match m.state {
                TxnState::Aborting => Some(ClientError::TransactionAborted),
                _ => m.error_state(),
            };
            let can_add = matches!(m.state, TxnState::InTransaction | TxnState::Committing);
            let to_add = if can_add && m.adding.is_empty() && !m.pending.is_empty() {
                let partitions = std::mem::take(&mut m.pending);
                m.adding = partitions.clone();
                m.producer.map(|p| (p, partitions, m.generation))
            } else {
                None
            };
            (m.producer, drop_err, to_add)
        };
        if producer.is_some() && producer != self.producer {
            // A new epoch (init or after an abort): sequences start again at 0.
            self.producer = producer;
            for ps in self.partitions.values_mut() {
                ps.next_sequence = 0;
            }
        }
        if let Some(err) = drop_err {
            self.drop_unsent(err);
        }
        if let Some((producer, partitions, generation)) = to_add {
            let tx = self.events_tx.clone();
            let shared = self.shared.clone();
            let deadline = Instant::now() + self.shared.config.max_block;
            tokio::spawn(async move {
                let Some(txn) = &shared.txn else { return };
                let result = txn.coordinator.add_partitions(producer, &partitions, deadline).await;
                if let Err(err) = &result {
                    tracing::debug!(%err, kind = ?TxnErrorKind::of(err), "AddPartitionsToTxn failed");
                }
                let _ = tx.send(Event::PartitionsAdded { generation, partitions, result });
            });
        }
    }

    /// Fails every batch not sent yet (queued or waiting for a retry).
    fn drop_unsent(&mut self, err: ClientError) {
        let err = match err {
            ClientError::TransactionAbortable(cause) | ClientError::TransactionFatal(cause) => *cause,
            other => other,
        };
        // Numbered retries that are never sent leave a gap in their partitions' sequences.
        if self.partitions.values().any(|ps| ps.retries.iter().any(|b| b.sequence.is_some())) {
            if let Some(txn) = &self.shared.txn {
                txn.lock().needs_bump = true;
            }
        }
        self.fail_everything(err);
    }

    fn fail_everything(&mut self, err: ClientError) {
        let open: Vec<OpenBatch> = {
            let mut acc = self.shared.accumulator.lock().unwrap_or_else(|e| e.into_inner());
            acc.queued = 0;
            acc.topics.values_mut().flat_map(|tq| tq.partitions.iter_mut().flat_map(|q| q.drain(..))).collect()
        };
        for b in open {
            self.shared.finish(b.id, &b.shared, b.bytes, Err(err.clone()));
        }
        let retries: Vec<ProducerBatch> = self.partitions.values_mut().flat_map(|ps| ps.retries.drain(..)).collect();
        for b in retries {
            self.shared.finish(b.id, &b.shared, b.memory, Err(err.clone()));
        }
    }
}

/// Whether `batch` is not the first of its partition's retries, so an
/// out-of-order answer for it is expected rather than a lost sequence.
fn behind_retry(partitions: &mut HashMap<TopicPartition, PartitionState>, batch: &ProducerBatch) -> bool {
    let ps = partitions.entry(batch.tp.clone()).or_default();
    match (ps.retries.front().and_then(|b| b.sequence), batch.sequence) {
        (Some(first), Some(mine)) => first != mine,
        _ => false,
    }
}

impl Plan {
    fn contains(&self, tp: &TopicPartition) -> bool {
        self.fresh.iter().any(|(t, _)| t == tp) || self.batches.iter().any(|b| &b.tp == tp)
    }
}

/// The first request (at index `start` or later) that has room for a batch of
/// `size` bytes of partition `tp` (one batch per partition per request),
/// opening a new one while fewer than `free` exist.
fn plan_for(
    plans: &mut Vec<Plan>,
    free: usize,
    start: usize,
    tp: &TopicPartition,
    size: usize,
    max_request: usize,
) -> Option<usize> {
    let fits = |p: &Plan| !p.contains(tp) && (p.bytes == 0 || p.bytes + size <= max_request);
    if let Some(k) = (start..plans.len()).find(|k| fits(&plans[*k])) {
        return Some(k);
    }
    if plans.len() < free {
        plans.push(Plan { bytes: 0, batches: Vec::new(), fresh: Vec::new() });
        return Some(plans.len() - 1);
    }
    None
}

fn wrap_add(seq: i32, count: i32) -> i32 {
    // Sequences wrap from i32::MAX to 0.
    ((i64::from(seq) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

fn expiry_error(topic: &str, partition: i32, records: usize, timeout: Duration) -> ClientError {
    ClientError::timeout(
        format!("delivering {records} record(s) to {topic}-{partition} (delivery.timeout.ms)"),
        timeout,
    )
}

/// The broker's message for a failed partition, including per-record errors.
fn partition_message(p: &PartitionProduceResponse) -> Option<String> {
    let mut parts: Vec<String> = p.error_message.iter().map(|m| m.to_string()).collect();
    for e in &p.record_errors {
        if let Some(m) = &e.batch_index_error_message {
            parts.push(format!("record {}: {m}", e.batch_index));
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_like_the_broker_expects() {
        assert_eq!(wrap_add(0, 5), 5);
        assert_eq!(wrap_add(i32::MAX, 1), 0);
        assert_eq!(wrap_add(i32::MAX - 1, 3), 1);
    }
}
