//! The Streams partition assignor (`stream` protocol): the group leader
//! turns the topology's subtopologies into tasks and places them on the
//! members — active tasks sticky to where they ran or where their state is,
//! balanced per member, and `num.standby.replicas` standby replicas per
//! stateful task on other processes. It plugs into our consumer as a
//! [`CustomAssignor`]; each stream thread has one, sharing a [`ClientState`]
//! (what the thread reports when it joins) and an [`AssignedTasks`] slot
//! (what it got) with its thread.
//!
//! # Placement rules
//!
//! Members are grouped by process id (one instance with several threads
//! is one process with several members). With `T` tasks and `M` members,
//! every member ends with `floor(T/M)` or `ceil(T/M)` active tasks, and
//! exactly `T mod M` members hold the larger number: stickiness never buys
//! an extra task, it only decides *which* tasks a member keeps. Active
//! tasks are placed in three passes, each respecting that cap:
//! 1. to the member that had the task active in the previous generation;
//! 2. to a member that had it as a standby, else to the least-loaded member
//!    of the process with the highest local offset sum for the task (its
//!    checkpointed changelog offsets: the most caught-up state);
//! 3. to the least-loaded member (ties: the less loaded process, then
//!    member id order).
//!
//! Standbys go only to tasks of subtopologies with changelogged stores, one
//! per process, never on the process of the task's active: preferred are
//! processes that had the task's state (previous active or standby, then
//! the higher offset sum), otherwise the least-loaded process; within the
//! process the member that had the standby before, else its least-loaded
//! member. With fewer other processes than replicas asked for, the task
//! gets fewer standbys (as in Kafka). Standbys are not capped: state
//! locality matters more for them than an even count.
//!
//! # Wire format (our own; Kafka's SubscriptionInfo is internal to Java)
//!
//! Only gregor members speak `stream` with this user data, so the format
//! is ours. All integers are big-endian; a task is `u32 subtopology, i32
//! partition`; a string is `i32 length` (−1: none) then UTF-8; a list is
//! `i32 count` then its items. Later versions may only append fields: a
//! decoder reads the fields of the versions it knows and ignores the rest.
//!
//! Subscription, version 1:
//! `i32 version, i32 latest supported version, 16 bytes process id (UUID),
//! i32 thread index, [task] previous active, [task] previous standby,
//! [task, i64 offset sum] local task offset sums, i32 error code`.
//!
//! Assignment, version 1:
//! `i32 version, i32 error code, string error message,
//! [task, [string topic, i32 partition]] active tasks and their input
//! partitions, [task, [string topic, i32 partition]] standby tasks and
//! their changelog partitions`.
//!
//! Error codes are Kafka's `AssignorError` values: 0 none, 1 incomplete
//! source topic metadata (a source topic is missing), 3 assignment error
//! (co-partitioned topics with different partition counts), 4 shutdown
//! requested (a member asked the whole application to stop; the leader
//! passes it to everyone).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use crate::client::{ClientError, CustomAssignor, MemberAssignment, MemberSubscription};
use crate::streams::processor::TaskId;

/// (topic, partition).
pub type TopicPartition = (String, i32);

/// The version of the user data this build writes.
pub const VERSION: i32 = 1;

/// Kafka's `AssignorError`: no error.
pub const ERROR_NONE: i32 = 0;
/// A source topic of the topology does not exist.
pub const ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA: i32 = 1;
/// The assignment failed (co-partitioned topics with different counts).
pub const ERROR_ASSIGNMENT: i32 = 3;
/// A member asked for the whole application to shut down.
pub const ERROR_SHUTDOWN_REQUESTED: i32 = 4;

/// What the assignor needs of the topology, with resolved topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignorTopology {
    /// (subtopology id, its source topics, its changelog topics).
    pub subtopologies: Vec<(u32, Vec<String>, Vec<String>)>,
    /// Topics that must have the same partition count.
    pub copartition_groups: Vec<BTreeSet<String>>,
}

/// What a thread reports when it joins; shared between the thread (which
/// updates it) and its assignor (which encodes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientState {
    pub process_id: uuid::Uuid,
    pub thread: usize,
    pub prev_active: BTreeSet<TaskId>,
    pub prev_standby: BTreeSet<TaskId>,
    /// Sum of the checkpointed changelog offsets of the local state, per task.
    pub task_offset_sums: BTreeMap<TaskId, i64>,
    /// An `AssignorError` code this member reports (4: shut the application down).
    pub error_code: i32,
}

/// What a member got in a generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignedTasks {
    pub generation: i32,
    /// Active task → its input partitions.
    pub active: BTreeMap<TaskId, Vec<TopicPartition>>,
    /// Standby task → its changelog partitions.
    pub standby: BTreeMap<TaskId, Vec<TopicPartition>>,
    /// Why the application cannot run (with `error_code` ≠ 0).
    pub error: Option<String>,
    pub error_code: i32,
}

/// User data that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream assignor {what}: {message}")]
pub struct DecodeError {
    pub what: &'static str,
    pub message: String,
}

/// Bounds-checked big-endian reads.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn fail(&self, message: impl Into<String>) -> DecodeError {
        DecodeError { what: self.what, message: message.into() }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(self.fail(format!("truncated: {n} more bytes needed, {} left", self.buf.len())));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A list length, checked against the bytes left (each item takes at
    /// least `min_item` bytes) before anything is allocated.
    fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| self.fail(format!("negative count {n}")))?;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(self.fail(format!("count {n} exceeds the {} bytes left", self.buf.len())));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        let n = usize::try_from(n).map_err(|_| self.fail(format!("negative string length {n}")))?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| self.fail("string is not UTF-8"))
    }

    fn task(&mut self) -> Result<TaskId, DecodeError> {
        let subtopology = self.u32()?;
        let partition = self.i32()?;
        Ok(TaskId { subtopology, partition })
    }

    fn tasks(&mut self) -> Result<BTreeSet<TaskId>, DecodeError> {
        let n = self.count(8)?;
        (0..n).map(|_| self.task()).collect()
    }

    fn task_partitions(&mut self) -> Result<BTreeMap<TaskId, Vec<TopicPartition>>, DecodeError> {
        let n = self.count(12)?;
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let task = self.task()?;
            let m = self.count(8)?;
            let mut parts = Vec::with_capacity(m);
            for _ in 0..m {
                let topic = self.string()?.ok_or_else(|| self.fail("null topic name"))?;
                parts.push((topic, self.i32()?));
            }
            out.insert(task, parts);
        }
        Ok(out)
    }

    /// The version, refusing versions before the first.
    fn version(&mut self) -> Result<i32, DecodeError> {
        let v = self.i32()?;
        if v < 1 {
            return Err(self.fail(format!("unsupported version {v}")));
        }
        Ok(v)
    }
}

fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn put_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => {
            b.put_i32(len_i32(s.len()));
            b.put_slice(s.as_bytes());
        }
        None => b.put_i32(-1),
    }
}

fn put_task(b: &mut BytesMut, t: TaskId) {
    b.put_u32(t.subtopology);
    b.put_i32(t.partition);
}

fn put_task_partitions(b: &mut BytesMut, tasks: &BTreeMap<TaskId, Vec<TopicPartition>>) {
    b.put_i32(len_i32(tasks.len()));
    for (t, parts) in tasks {
        put_task(b, *t);
        b.put_i32(len_i32(parts.len()));
        for (topic, p) in parts {
            put_string(b, Some(topic));
            b.put_i32(*p);
        }
    }
}

impl ClientState {
    /// The subscription user data (version 1).
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i32(VERSION);
        b.put_i32(VERSION);
        b.put_slice(self.process_id.as_bytes());
        b.put_i32(len_i32(self.thread));
        for set in [&self.prev_active, &self.prev_standby] {
            b.put_i32(len_i32(set.len()));
            for t in set {
                put_task(&mut b, *t);
            }
        }
        b.put_i32(len_i32(self.task_offset_sums.len()));
        for (t, sum) in &self.task_offset_sums {
            put_task(&mut b, *t);
            b.put_i64(*sum);
        }
        b.put_i32(self.error_code);
        b.freeze()
    }

    pub fn decode(data: &[u8]) -> Result<ClientState, DecodeError> {
        let mut r = Reader { buf: data, what: "subscription" };
        r.version()?;
        let _latest = r.i32()?;
        let process_id = uuid::Uuid::from_bytes(r.array()?);
        let thread = r.i32()?;
        let thread = usize::try_from(thread).map_err(|_| r.fail(format!("negative thread index {thread}")))?;
        let prev_active = r.tasks()?;
        let prev_standby = r.tasks()?;
        let n = r.count(16)?;
        let mut task_offset_sums = BTreeMap::new();
        for _ in 0..n {
            let t = r.task()?;
            task_offset_sums.insert(t, r.i64()?);
        }
        let error_code = r.i32()?;
        Ok(ClientState { process_id, thread, prev_active, prev_standby, task_offset_sums, error_code })
    }
}

impl AssignedTasks {
    /// The assignment user data (version 1); the generation is not sent.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i32(VERSION);
        b.put_i32(self.error_code);
        put_string(&mut b, self.error.as_deref());
        put_task_partitions(&mut b, &self.active);
        put_task_partitions(&mut b, &self.standby);
        b.freeze()
    }

    pub fn decode(data: &[u8], generation: i32) -> Result<AssignedTasks, DecodeError> {
        let mut r = Reader { buf: data, what: "assignment" };
        r.version()?;
        let error_code = r.i32()?;
        let error = r.string()?;
        let active = r.task_partitions()?;
        let standby = r.task_partitions()?;
        Ok(AssignedTasks { generation, active, standby, error, error_code })
    }

    fn failed(code: i32, message: &str) -> AssignedTasks {
        AssignedTasks { error: Some(message.to_string()), error_code: code, ..AssignedTasks::default() }
    }
}

/// The `stream` assignor of one stream thread.
pub struct StreamsAssignor {
    topology: Arc<AssignorTopology>,
    num_standby_replicas: usize,
    state: Arc<Mutex<ClientState>>,
    result: Arc<Mutex<Option<AssignedTasks>>>,
}

impl StreamsAssignor {
    pub fn new(
        topology: Arc<AssignorTopology>,
        num_standby_replicas: usize,
        state: Arc<Mutex<ClientState>>,
        result: Arc<Mutex<Option<AssignedTasks>>>,
    ) -> Self {
        StreamsAssignor { topology, num_standby_replicas, state, result }
    }
}

impl CustomAssignor for StreamsAssignor {
    fn name(&self) -> String {
        "stream".to_string()
    }

    fn subscription_user_data(&self) -> Option<Bytes> {
        Some(self.state.lock().unwrap_or_else(|e| e.into_inner()).encode())
    }

    fn assign(
        &self,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Result<BTreeMap<String, MemberAssignment>, ClientError> {
        let clients: Vec<(String, Option<ClientState>)> = members
            .iter()
            .map(|m| {
                let state = match m.user_data.as_deref().map(ClientState::decode) {
                    Some(Ok(s)) => Some(s),
                    Some(Err(e)) => {
                        tracing::warn!(member = m.member_id, error = %e, "treating the member as one without local state");
                        None
                    }
                    None => None,
                };
                (m.member_id.clone(), state)
            })
            .collect();
        let plan = plan(&self.topology, self.num_standby_replicas, partitions, &clients);
        Ok(plan
            .into_iter()
            .map(|(member, tasks)| {
                let mut parts: Vec<TopicPartition> = tasks.active.values().flatten().cloned().collect();
                parts.sort();
                parts.dedup();
                (member, MemberAssignment { partitions: parts, user_data: Some(tasks.encode()) })
            })
            .collect())
    }

    fn on_assignment(&self, assignment: &MemberAssignment, generation: i32) {
        let tasks = match assignment.user_data.as_deref().map(|d| AssignedTasks::decode(d, generation)) {
            Some(Ok(t)) => t,
            Some(Err(e)) => AssignedTasks {
                generation,
                ..AssignedTasks::failed(ERROR_ASSIGNMENT, &format!("unreadable assignment from the group leader: {e}"))
            },
            None => AssignedTasks {
                generation,
                ..AssignedTasks::failed(ERROR_ASSIGNMENT, "the group leader sent an assignment without task data")
            },
        };
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(tasks);
    }
}

/// Which process a member belongs to: its process id, or (user data that
/// could not be read) a process of its own.
fn process_key(member: &str, state: &Option<ClientState>) -> String {
    match state {
        Some(s) => s.process_id.to_string(),
        None => format!("member:{member}"),
    }
}

/// The leader's computation: member id → its tasks. Pure, and the same
/// input gives the same output whatever the member order.
pub fn plan(
    topology: &AssignorTopology,
    num_standby_replicas: usize,
    partitions: &BTreeMap<String, i32>,
    members: &[(String, Option<ClientState>)],
) -> BTreeMap<String, AssignedTasks> {
    let mut members: Vec<(String, Option<ClientState>)> = members.to_vec();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let fail_all = |code: i32, message: &str| -> BTreeMap<String, AssignedTasks> {
        members.iter().map(|(m, _)| (m.clone(), AssignedTasks::failed(code, message))).collect()
    };
    // Errors first: everyone learns of them and the application stops.
    if members.iter().any(|(_, s)| s.as_ref().is_some_and(|s| s.error_code == ERROR_SHUTDOWN_REQUESTED)) {
        return fail_all(
            ERROR_SHUTDOWN_REQUESTED,
            "a member of the application requested that all instances shut down",
        );
    }
    let missing: BTreeSet<String> = topology
        .subtopologies
        .iter()
        .flat_map(|(_, sources, _)| sources.iter())
        .filter(|t| !partitions.contains_key(*t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let message = super::topics::missing_source_topics_message(&missing);
        return fail_all(ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA, &message);
    }
    for group in &topology.copartition_groups {
        let counts: BTreeMap<&String, i32> = group.iter().filter_map(|t| partitions.get(t).map(|n| (t, *n))).collect();
        let distinct: BTreeSet<i32> = counts.values().copied().collect();
        if distinct.len() > 1 {
            let listed: Vec<String> = counts.iter().map(|(t, n)| format!("{t}={n}")).collect();
            let message = format!(
                "Topics not co-partitioned: [{}]: co-partitioned topics have different partition counts ({})",
                group.iter().cloned().collect::<Vec<_>>().join(","),
                listed.join(", ")
            );
            return fail_all(ERROR_ASSIGNMENT, &message);
        }
    }
    let mut out: BTreeMap<String, AssignedTasks> =
        members.iter().map(|(m, _)| (m.clone(), AssignedTasks::default())).collect();
    if members.is_empty() {
        return out;
    }

    // The tasks, their input partitions and (stateful ones) changelog partitions.
    let mut tasks: BTreeMap<TaskId, Vec<TopicPartition>> = BTreeMap::new();
    let mut changelogs: BTreeMap<TaskId, Vec<TopicPartition>> = BTreeMap::new();
    for (s, sources, logs) in &topology.subtopologies {
        let n = sources.iter().filter_map(|t| partitions.get(t).copied()).max().unwrap_or(0);
        for p in 0..n {
            let id = TaskId { subtopology: *s, partition: p };
            let parts: Vec<TopicPartition> =
                sources.iter().filter(|t| partitions.get(*t).is_some_and(|c| p < *c)).map(|t| (t.clone(), p)).collect();
            tasks.insert(id, parts);
            if !logs.is_empty() {
                changelogs.insert(id, logs.iter().map(|t| (t.clone(), p)).collect());
            }
        }
    }

    let process: Vec<String> = members.iter().map(|(m, s)| process_key(m, s)).collect();
    let empty = ClientState::default();
    let state = |i: usize| members[i].1.as_ref().unwrap_or(&empty);
    // Threads of a process share its state directory: the best report counts.
    let mut sums: BTreeMap<&str, BTreeMap<TaskId, i64>> = BTreeMap::new();
    for (i, p) in process.iter().enumerate() {
        let entry = sums.entry(p.as_str()).or_default();
        for (t, s) in &state(i).task_offset_sums {
            let e = entry.entry(*t).or_insert(*s);
            *e = (*e).max(*s);
        }
    }
    let sum_of = |p: &str, t: TaskId| sums.get(p).and_then(|m| m.get(&t)).copied().unwrap_or(0);

    // Active tasks, capped per member (see the module doc).
    let m = members.len();
    let floor = tasks.len() / m;
    let mut extra = tasks.len() % m;
    let mut load = vec![0usize; m];
    let can_take = |load: &[usize], extra: usize, i: usize| load[i] < floor || (load[i] == floor && extra > 0);
    let mut owner: BTreeMap<TaskId, usize> = BTreeMap::new();
    let give = |owner: &mut BTreeMap<TaskId, usize>, load: &mut Vec<usize>, extra: &mut usize, t: TaskId, i| {
        owner.insert(t, i);
        load[i] += 1;
        if load[i] == floor + 1 {
            *extra -= 1;
        }
    };
    // 1. Where it ran.
    for t in tasks.keys() {
        if let Some(i) = (0..m).find(|&i| state(i).prev_active.contains(t) && can_take(&load, extra, i)) {
            give(&mut owner, &mut load, &mut extra, *t, i);
        }
    }
    // 2. Where its state is.
    for t in tasks.keys() {
        if owner.contains_key(t) {
            continue;
        }
        let standby = (0..m).find(|&i| state(i).prev_standby.contains(t) && can_take(&load, extra, i));
        let by_sum = || {
            (0..m)
                .filter(|&i| sum_of(&process[i], *t) > 0 && can_take(&load, extra, i))
                .max_by_key(|&i| (sum_of(&process[i], *t), std::cmp::Reverse(load[i]), std::cmp::Reverse(i)))
        };
        if let Some(i) = standby.or_else(by_sum) {
            give(&mut owner, &mut load, &mut extra, *t, i);
        }
    }
    // 3. The least loaded.
    for t in tasks.keys() {
        if owner.contains_key(t) {
            continue;
        }
        let process_load = |i: usize| -> usize { (0..m).filter(|&j| process[j] == process[i]).map(|j| load[j]).sum() };
        let best = (0..m).filter(|&i| can_take(&load, extra, i)).min_by_key(|&i| (load[i], process_load(i), i));
        // The caps add up to the task count, so someone can always take it.
        if let Some(i) = best {
            give(&mut owner, &mut load, &mut extra, *t, i);
        }
    }

    // Standbys: other processes, state first, then the least loaded.
    let mut total = load.clone();
    let mut standby_of: BTreeMap<TaskId, Vec<usize>> = BTreeMap::new();
    let processes: BTreeSet<&str> = process.iter().map(String::as_str).collect();
    for t in changelogs.keys() {
        let Some(&active) = owner.get(t) else { continue };
        for _ in 0..num_standby_replicas {
            let taken: BTreeSet<&str> = std::iter::once(process[active].as_str())
                .chain(standby_of.get(t).into_iter().flatten().map(|&i| process[i].as_str()))
                .collect();
            let had = |p: &str| {
                (0..m)
                    .any(|i| process[i] == p && (state(i).prev_active.contains(t) || state(i).prev_standby.contains(t)))
            };
            let member_load = |p: &str, total: &[usize]| {
                (0..m).filter(|&i| process[i] == p).map(|i| total[i]).min().unwrap_or(usize::MAX)
            };
            let best = processes.iter().filter(|p| !taken.contains(**p)).min_by_key(|p| {
                (!had(p) && sum_of(p, *t) <= 0, std::cmp::Reverse(sum_of(p, *t)), member_load(p, &total), **p)
            });
            let Some(p) = best else {
                tracing::debug!(task = %t, "not enough other instances for another standby replica");
                break;
            };
            let i = (0..m)
                .filter(|&i| process[i] == *p)
                .min_by_key(|&i| (!state(i).prev_standby.contains(t), total[i], i))
                .unwrap_or(active);
            total[i] += 1;
            standby_of.entry(*t).or_default().push(i);
        }
    }

    for (t, i) in &owner {
        if let (Some(a), Some(parts)) = (out.get_mut(&members[*i].0), tasks.get(t)) {
            a.active.insert(*t, parts.clone());
        }
    }
    for (t, holders) in &standby_of {
        for i in holders {
            if let (Some(a), Some(parts)) = (out.get_mut(&members[*i].0), changelogs.get(t)) {
                a.standby.insert(*t, parts.clone());
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn task(s: u32, p: i32) -> TaskId {
        TaskId { subtopology: s, partition: p }
    }

    fn pid(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    /// One stateful subtopology over `input` and one stateless over `other`.
    fn topology() -> AssignorTopology {
        AssignorTopology {
            subtopologies: vec![
                (0, vec!["input".into()], vec!["app-counts-changelog".into()]),
                (1, vec!["other".into()], vec![]),
            ],
            copartition_groups: vec![],
        }
    }

    fn counts(input: i32, other: i32) -> BTreeMap<String, i32> {
        [("input".to_string(), input), ("other".to_string(), other)].into_iter().collect()
    }

    fn state(process: u128, thread: usize) -> ClientState {
        ClientState { process_id: pid(process), thread, ..ClientState::default() }
    }

    /// Runs the assignor through its `CustomAssignor` face (encoding included).
    fn run(
        topo: &AssignorTopology,
        standbys: usize,
        parts: &BTreeMap<String, i32>,
        members: &[(&str, ClientState)],
    ) -> BTreeMap<String, AssignedTasks> {
        let a = StreamsAssignor::new(
            Arc::new(topo.clone()),
            standbys,
            Arc::new(Mutex::new(ClientState::default())),
            Arc::new(Mutex::new(None)),
        );
        let subs: Vec<MemberSubscription> = members
            .iter()
            .map(|(m, s)| MemberSubscription {
                member_id: m.to_string(),
                topics: parts.keys().cloned().collect(),
                user_data: Some(s.encode()),
                ..MemberSubscription::default()
            })
            .collect();
        let out = a.assign(parts, &subs).expect("assign");
        out.into_iter()
            .map(|(m, ma)| {
                let tasks = AssignedTasks::decode(ma.user_data.as_deref().expect("user data"), 1).expect("decode");
                let flat: BTreeSet<TopicPartition> = tasks.active.values().flatten().cloned().collect();
                assert_eq!(flat, ma.partitions.iter().cloned().collect(), "partitions match the active tasks");
                (m, tasks)
            })
            .collect()
    }

    fn active(a: &BTreeMap<String, AssignedTasks>, m: &str) -> BTreeSet<TaskId> {
        a[m].active.keys().copied().collect()
    }

    fn standby(a: &BTreeMap<String, AssignedTasks>, m: &str) -> BTreeSet<TaskId> {
        a[m].standby.keys().copied().collect()
    }

    #[test]
    fn encodings_round_trip_and_bad_bytes_are_errors() {
        let s = ClientState {
            process_id: pid(7),
            thread: 2,
            prev_active: [task(0, 1)].into(),
            prev_standby: [task(1, 0), task(0, 3)].into(),
            task_offset_sums: [(task(0, 3), 42)].into(),
            error_code: 4,
        };
        let bytes = s.encode();
        assert_eq!(ClientState::decode(&bytes).expect("decode"), s);
        // Later versions append fields: the known prefix still reads.
        let mut longer = bytes.to_vec();
        longer[3] = 2;
        longer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(ClientState::decode(&longer).expect("newer version"), s);
        for cut in 0..bytes.len() {
            assert!(ClientState::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut huge = bytes.to_vec();
        huge[28..32].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(ClientState::decode(&huge).is_err(), "a count beyond the data is refused before allocating");
        assert!(ClientState::decode(&[0, 0, 0, 0]).is_err(), "version 0 does not exist");

        let a = AssignedTasks {
            generation: 5,
            active: [(task(0, 1), vec![("input".to_string(), 1)])].into(),
            standby: [(task(0, 0), vec![("app-counts-changelog".to_string(), 0)])].into(),
            error: None,
            error_code: 0,
        };
        let bytes = a.encode();
        assert_eq!(AssignedTasks::decode(&bytes, 5).expect("decode"), a);
        for cut in 0..bytes.len() {
            assert!(AssignedTasks::decode(&bytes[..cut], 5).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn tasks_are_balanced_and_each_runs_once() {
        let members: Vec<(&str, ClientState)> = vec![("m1", state(1, 0)), ("m2", state(1, 1)), ("m3", state(2, 0))];
        let a = run(&topology(), 0, &counts(4, 3), &members);
        let mut all = Vec::new();
        for m in ["m1", "m2", "m3"] {
            let n = a[m].active.len();
            assert!(n == 2 || n == 3, "{m} has {n} tasks");
            all.extend(active(&a, m));
        }
        all.sort();
        let expected: Vec<TaskId> = (0..4).map(|p| task(0, p)).chain((0..3).map(|p| task(1, p))).collect();
        assert_eq!(all, expected);
        // The same input in another order gives the same result.
        let reversed: Vec<(&str, ClientState)> = members.iter().rev().cloned().collect();
        assert_eq!(run(&topology(), 0, &counts(4, 3), &reversed), a);
    }

    #[test]
    fn active_tasks_stay_where_they_ran_within_the_balance_cap() {
        let mut one = state(1, 0);
        one.prev_active = [task(0, 0), task(0, 1), task(0, 2), task(0, 3)].into();
        let mut two = state(2, 0);
        two.prev_active = [task(1, 0)].into();
        let a = run(&topology(), 0, &counts(4, 2), &[("a", one.clone()), ("b", two.clone()), ("c", state(3, 0))]);
        // 6 tasks over 3 members: two each. "a" keeps two of its four.
        assert_eq!(a["a"].active.len(), 2);
        assert!(active(&a, "a").is_subset(&one.prev_active));
        assert!(active(&a, "b").contains(&task(1, 0)), "b keeps its task");
        assert_eq!(a["b"].active.len(), 2);
        assert_eq!(a["c"].active.len(), 2);
        // Alone, a member keeps everything it had and gets the rest.
        let a = run(&topology(), 0, &counts(4, 2), &[("a", one)]);
        assert_eq!(a["a"].active.len(), 6);
    }

    #[test]
    fn a_task_goes_to_the_process_with_the_most_of_its_state() {
        let mut warm = state(2, 0);
        warm.task_offset_sums = [(task(0, 0), 500), (task(0, 1), 10)].into();
        let mut warmer = state(3, 0);
        warmer.task_offset_sums = [(task(0, 1), 900)].into();
        let topo = AssignorTopology { subtopologies: vec![topology().subtopologies[0].clone()], ..topology() };
        let a = run(&topo, 0, &counts(3, 1), &[("x", state(1, 0)), ("y", warm), ("z", warmer)]);
        assert_eq!(active(&a, "y"), [task(0, 0)].into());
        assert_eq!(active(&a, "z"), [task(0, 1)].into());
        assert_eq!(active(&a, "x"), [task(0, 2)].into());
    }

    #[test]
    fn a_previous_standby_is_promoted_when_its_active_leaves() {
        let mut survivor = state(2, 0);
        survivor.prev_active = [task(0, 1)].into();
        survivor.prev_standby = [task(0, 0)].into();
        let topo = AssignorTopology { subtopologies: vec![topology().subtopologies[0].clone()], ..topology() };
        let a = run(&topo, 1, &counts(2, 1), &[("s", survivor)]);
        assert_eq!(active(&a, "s"), [task(0, 0), task(0, 1)].into());
        assert!(a["s"].standby.is_empty(), "no other process to hold a standby");
    }

    #[test]
    fn standbys_go_to_other_processes_and_only_for_stateful_tasks() {
        let members: Vec<(&str, ClientState)> =
            vec![("p1a", state(1, 0)), ("p1b", state(1, 1)), ("p2", state(2, 0)), ("p3", state(3, 0))];
        let a = run(&topology(), 1, &counts(4, 4), &members);
        let process_of = |m: &str| members.iter().find(|(n, _)| *n == m).map(|(_, s)| s.process_id);
        for t in (0..4).map(|p| task(0, p)) {
            let owner = members.iter().find(|(m, _)| a[*m].active.contains_key(&t)).map(|(m, _)| *m).expect("owner");
            let holders: Vec<&str> =
                members.iter().filter(|(m, _)| a[*m].standby.contains_key(&t)).map(|(m, _)| *m).collect();
            assert_eq!(holders.len(), 1, "one standby of {t}");
            assert_ne!(process_of(holders[0]), process_of(owner), "{t}'s standby is on another process");
            assert_eq!(a[holders[0]].standby[&t], vec![("app-counts-changelog".to_string(), t.partition)]);
        }
        for m in ["p1a", "p1b", "p2", "p3"] {
            assert!(standby(&a, m).iter().all(|t| t.subtopology == 0), "stateless tasks have no standbys");
        }
        // Two replicas with three processes: each stateful task has both others.
        let a = run(&topology(), 2, &counts(4, 4), &members);
        for t in (0..4).map(|p| task(0, p)) {
            let procs: BTreeSet<_> = members
                .iter()
                .filter(|(m, _)| a[*m].standby.contains_key(&t) || a[*m].active.contains_key(&t))
                .map(|(_, s)| s.process_id)
                .collect();
            assert_eq!(procs.len(), 3, "{t} is on three processes");
        }
    }

    #[test]
    fn standbys_prefer_processes_that_have_the_state() {
        let mut a1 = state(1, 0);
        a1.prev_active = [task(0, 0)].into();
        let mut b = state(2, 0);
        b.prev_active = [task(0, 1)].into();
        let mut c = state(3, 0);
        c.task_offset_sums = [(task(0, 0), 300)].into();
        let mut d = state(4, 0);
        d.prev_standby = [task(0, 1)].into();
        let topo = AssignorTopology { subtopologies: vec![topology().subtopologies[0].clone()], ..topology() };
        let out = run(&topo, 1, &counts(2, 1), &[("a", a1), ("b", b), ("c", c), ("d", d)]);
        assert_eq!(active(&out, "a"), [task(0, 0)].into());
        assert_eq!(active(&out, "b"), [task(0, 1)].into());
        assert_eq!(standby(&out, "c"), [task(0, 0)].into(), "c has 0_0's state on disk");
        assert_eq!(standby(&out, "d"), [task(0, 1)].into(), "d had 0_1's standby");
    }

    #[test]
    fn different_partition_counts_of_copartitioned_topics_fail_every_member() {
        let topo = AssignorTopology {
            copartition_groups: vec![["input".to_string(), "other".to_string()].into()],
            ..topology()
        };
        let a = run(&topo, 1, &counts(2, 3), &[("m1", state(1, 0)), ("m2", state(2, 0))]);
        for m in ["m1", "m2"] {
            assert_eq!(a[m].error_code, ERROR_ASSIGNMENT);
            let message = a[m].error.clone().expect("message");
            assert!(message.contains("co-partitioned topics have different partition counts"), "{message}");
            assert!(message.contains("input=2") && message.contains("other=3"), "{message}");
            assert!(a[m].active.is_empty() && a[m].standby.is_empty());
        }
        // Equal counts are fine.
        let a = run(&topo, 0, &counts(3, 3), &[("m1", state(1, 0))]);
        assert_eq!(a["m1"].error_code, ERROR_NONE);
        assert_eq!(a["m1"].active.len(), 6);
    }

    #[test]
    fn missing_sources_and_shutdown_requests_reach_everyone() {
        let only_input: BTreeMap<String, i32> = [("input".to_string(), 2)].into();
        let a = run(&topology(), 0, &only_input, &[("m1", state(1, 0)), ("m2", state(2, 0))]);
        assert_eq!(a["m2"].error_code, ERROR_INCOMPLETE_SOURCE_TOPIC_METADATA);
        assert!(a["m2"].error.as_deref().is_some_and(|e| e.contains("other")));
        let mut asks = state(2, 0);
        asks.error_code = ERROR_SHUTDOWN_REQUESTED;
        let a = run(&topology(), 0, &counts(1, 1), &[("m1", state(1, 0)), ("m2", asks)]);
        assert_eq!(a["m1"].error_code, ERROR_SHUTDOWN_REQUESTED);
    }

    #[test]
    fn unreadable_user_data_is_a_member_without_state_and_on_assignment_stores_the_result() {
        let result = Arc::new(Mutex::new(None));
        let a = StreamsAssignor::new(Arc::new(topology()), 1, Arc::new(Mutex::new(state(9, 0))), result.clone());
        assert_eq!(a.name(), "stream");
        let decoded = ClientState::decode(&a.subscription_user_data().expect("data")).expect("decode");
        assert_eq!(decoded.process_id, pid(9));
        let subs = vec![
            MemberSubscription {
                member_id: "junk".into(),
                user_data: Some(Bytes::from_static(b"\x00\x00")),
                ..Default::default()
            },
            MemberSubscription { member_id: "ok".into(), user_data: Some(state(1, 0).encode()), ..Default::default() },
        ];
        let out = a.assign(&counts(2, 2), &subs).expect("assign");
        let total: usize = out.values().map(|m| m.partitions.len()).sum();
        assert_eq!(total, 4, "both members run tasks");
        a.on_assignment(&out["ok"], 3);
        let got = result.lock().expect("lock").clone().expect("stored");
        assert_eq!(got.generation, 3);
        assert_eq!(got.active.len(), 2);
        a.on_assignment(&MemberAssignment::default(), 4);
        let got = result.lock().expect("lock").clone().expect("stored");
        assert_eq!(got.error_code, ERROR_ASSIGNMENT);
    }
}
