//! The background task that owns the ZooKeeper session of a broker.
//!
//! Per session: register `/brokers/ids/<id>`, arm persistent watches
//! (recursive on `/brokers`, `/config/topics`, `/config/brokers` (dynamic
//! broker configs), `/config/users` (SCRAM credentials and quotas),
//! `/config/clients` (client-id quotas), `/admin` — deletion
//! and election requests — `/isr_change_notification`, and the ACL roots
//! `/kafka-acl` and `/kafka-acl-extended`, plain on
//! `/controller`), load the whole view into the
//! cache, take part in the controller election and, while controller, apply
//! the controller's plan after every batch of changes, and check the leader
//! imbalance every `leader.imbalance.check.interval.seconds` when
//! `auto.leader.rebalance.enable` is on.
//!
//! ControlledShutdown requests reach the task through a channel: while
//! controller, it records the broker (with its registration's epoch) as
//! shutting down, runs a pass that moves its leaderships and ISR
//! memberships away, and answers with what it could not move. The record
//! lives as long as that registration and this session's controllership;
//! a new controller starts without it (the broker asks again).
//!
//! Watch events are hints: each names a znode that is re-read, so the cache
//! holds what ZooKeeper holds, whatever the event said. After a reconnect
//! within the same session (coordinator restart, network blip) the watches are
//! armed again — `zookeeper-client` 0.11 does not restore persistent watches —
//! and everything is re-read, since events during the disconnection are lost
//! (ZOOKEEPER-4698). An expired or closed session is terminal: a new session
//! is opened, and registration, watches, reload and election start over.
//! A failed reload or controller write marks the task dirty; a one-second tick
//! repeats the full reload and controller pass until they succeed.
//!
//! Persistent watchers of the crate panic when polled after a terminal event,
//! so each is drained by its own small forwarding task that stops at a
//! terminal event and is aborted before the client goes away.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zookeeper_client::{AddWatchMode, Client, EventType, SessionState, StateWatcher, WatchedEvent};

use super::cache::{MetadataCache, VersionedState};
use super::controller::{self, Action, Policy, ShutdownOutcome};
use super::zk_store::{FencedError, Op, ZkStore};
use super::znode::{self, BrokerRegistration, PathKind};
use super::{ElectionType, MetadataError};

/// How often a dirty task retries, and how long a lost session waits between attempts.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How long closing the session may take at shutdown.
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);

/// What the store and the task share.
pub(super) struct Shared {
    pub zk: ZkStore,
    pub cache: MetadataCache,
    pub broker_id: i32,
    pub registration: BrokerRegistration,
    pub delete_topic_enable: bool,
    pub private_coordinator: bool,
    /// The controller's periodic preferred-leader rebalance (`None`: off).
    pub leader_rebalance: Option<LeaderRebalance>,
    /// The broker's `unclean.leader.election.enable` (topics may override it);
    /// a dynamic broker config can change it at run time.
    pub unclean_leader_election: std::sync::atomic::AtomicBool,
}

/// `leader.imbalance.check.interval.seconds` and
/// `leader.imbalance.per.broker.percentage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderRebalance {
    pub interval: Duration,
    pub percentage: u32,
}

/// A ControlledShutdown request for the controller: the broker, the broker
/// epoch it named (−1: any) and where the answer goes.
pub(super) struct ShutdownRequest {
    pub broker: i32,
    pub broker_epoch: i64,
    pub reply: oneshot::Sender<ShutdownOutcome>,
}

/// This broker's hold on the controller role.
#[derive(Clone, Copy, Debug)]
struct Lease {
    epoch: i32,
    /// Data version of `/controller_epoch` every controller write checks.
    epoch_version: i32,
}

/// One ZooKeeper session and what hangs off it.
pub(super) struct Session {
    client: Client,
    states: StateWatcher,
    events: mpsc::UnboundedReceiver<WatchedEvent>,
    forwarders: Vec<JoinHandle<()>>,
    lease: Option<Lease>,
    /// Brokers in controlled shutdown, with the registration epoch that asked.
    shutting_down: BTreeMap<i32, i64>,
    disconnected: bool,
    dirty: bool,
}

enum Ended {
    Stopped,
    Lost,
}

impl Session {
    /// Sets up a session on the store's current client. `first`: broker start.
    pub(super) async fn establish(shared: &Shared, first: bool) -> Result<Session, MetadataError> {
        let client = shared.zk.client()?;
        let states = client.state_watcher();
        if !first {
            // A coordinator that lost its data (or a new one) gets the layout again.
            shared.zk.ensure_startup_paths().await?;
            let cluster_id = shared.cache.read().cluster_id.clone();
            shared.zk.get_or_create_cluster_id(&cluster_id).await?;
        }
        shared.zk.register_broker(&shared.registration, shared.private_coordinator).await?;
        let (events, forwarders) = arm_watches(&client).await?;
        let mut session = Session {
            client,
            states,
            events,
            forwarders,
            lease: None,
            shutting_down: BTreeMap::new(),
            disconnected: false,
            dirty: false,
        };
        full_reload(shared).await?;
        if first && shared.private_coordinator {
            shared.zk.remove_stale_controller().await?;
        }
        session.elect(shared).await?;
        session.controller_pass(shared, false, None).await;
        if session.dirty {
            // Not fatal: the task retries. Starting without a settled controller
            // pass is fine; requests wait on the cache.
            tracing::warn!("the first controller pass did not complete; retrying in the background");
        }
        tracing::info!(
            broker = shared.broker_id,
            session = %format_args!("{:#x}", session.client.session_id().0),
            controller = ?shared.cache.read().controller,
            "registered in ZooKeeper"
        );
        Ok(session)
    }

    fn teardown(&mut self) {
        for f in self.forwarders.drain(..) {
            f.abort();
        }
    }

    async fn serve(
        &mut self,
        shared: &Shared,
        stop: &mut watch::Receiver<bool>,
        requests: &mut mpsc::UnboundedReceiver<ShutdownRequest>,
    ) -> Ended {
        let mut tick = tokio::time::interval(RETRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The imbalance check; its first tick is one interval away, as Kafka's.
        let rebalance_every = shared.leader_rebalance.map_or(Duration::from_secs(3600), |r| r.interval);
        let mut rebalance = tokio::time::interval_at(tokio::time::Instant::now() + rebalance_every, rebalance_every);
        rebalance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                return Ended::Stopped;
            }
            tokio::select! {
                _ = stop.changed() => return Ended::Stopped,
                state = self.states.changed() => match state {
                    SessionState::Disconnected => {
                        if !self.disconnected {
                            tracing::warn!("lost the connection to ZooKeeper; reconnecting");
                        }
                        self.disconnected = true;
                    }
                    SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                        // The state watcher keeps only the latest state, so a short
                        // disconnection may show up as this alone: any (re)connection
                        // after the session began is treated as a reconnect.
                        self.disconnected = false;
                        tracing::info!("reconnected to ZooKeeper; re-arming watches and re-reading metadata");
                        self.after_reconnect(shared).await;
                    }
                    terminal => {
                        tracing::warn!(state = %terminal, "ZooKeeper session ended; opening a new one");
                        return Ended::Lost;
                    }
                },
                Some(first) = self.events.recv() => {
                    let mut batch = vec![first];
                    while let Ok(more) = self.events.try_recv() {
                        batch.push(more);
                    }
                    if let Err(e) = self.apply(shared, batch).await {
                        tracing::warn!(error = %e, "cannot re-read changed metadata; retrying");
                        self.dirty = true;
                    }
                    self.controller_step(shared).await;
                }
                Some(request) = requests.recv() => {
                    let outcome = self.controlled_shutdown(shared, request.broker, request.broker_epoch).await;
                    let _ = request.reply.send(outcome);
                }
                _ = tick.tick(), if self.dirty && !self.disconnected => {
                    self.resync(shared).await;
                }
                _ = rebalance.tick(), if shared.leader_rebalance.is_some() && self.lease.is_some() && !self.disconnected => {
                    self.controller_pass(shared, true, None).await;
                }
            }
        }
    }

    async fn after_reconnect(&mut self, shared: &Shared) {
        match arm_watches(&self.client).await {
            Ok((events, forwarders)) => {
                self.teardown();
                self.events = events;
                self.forwarders = forwarders;
                self.resync(shared).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-arm watches; retrying");
                self.dirty = true;
            }
        }
    }

    /// Full reload, election and controller pass; stays dirty on failure.
    async fn resync(&mut self, shared: &Shared) {
        self.dirty = false;
        if self.forwarders.is_empty() {
            match arm_watches(&self.client).await {
                Ok((events, forwarders)) => {
                    self.events = events;
                    self.forwarders = forwarders;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot arm watches; retrying");
                    self.dirty = true;
                    return;
                }
            }
        }
        let result = async {
            // A coordinator that lost data may have lost our registration too.
            if shared.zk.read_broker(shared.broker_id).await?.is_none() {
                shared.zk.register_broker(&shared.registration, shared.private_coordinator).await?;
            }
            full_reload(shared).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot reload metadata; retrying");
            self.dirty = true;
            return;
        }
        self.controller_step(shared).await;
    }

    /// Re-reads what the events point at (each znode once per batch).
    async fn apply(&mut self, shared: &Shared, batch: Vec<WatchedEvent>) -> Result<(), MetadataError> {
        let mut targets = BTreeSet::new();
        for ev in batch {
            if ev.event_type == EventType::Session {
                continue;
            }
            tracing::debug!(path = %ev.path, event = ?ev.event_type, "metadata changed");
            let kind = znode::classify(&ev.path);
            if kind != PathKind::Other {
                targets.insert(kind);
            }
        }
        for kind in targets {
            reread(shared, kind).await?;
        }
        Ok(())
    }

    /// Election when there is no controller, then the controller's pass.
    async fn controller_step(&mut self, shared: &Shared) {
        let has_controller = shared.cache.read().controller.is_some();
        if !has_controller || self.lease.is_some_and(|_| shared.cache.read().controller != Some(shared.broker_id)) {
            if let Err(e) = self.elect(shared).await {
                tracing::warn!(error = %e, "controller election failed; retrying");
                self.dirty = true;
                return;
            }
        }
        self.controller_pass(shared, false, None).await;
    }

    /// Kafka's election: whoever creates the ephemeral `/controller` (and bumps
    /// `/controller_epoch` in the same multi) is controller.
    async fn elect(&mut self, shared: &Shared) -> Result<(), MetadataError> {
        let me = shared.broker_id;
        let my_session = self.client.session_id().0;
        for _ in 0..3 {
            if let Some((id, owner)) = shared.zk.read_controller().await? {
                shared.cache.update(|v| v.controller = (id >= 0).then_some(id));
                if id == me && owner == my_session {
                    if self.lease.is_none() {
                        let (epoch, epoch_version) = shared.zk.controller_epoch().await?;
                        self.lease = Some(Lease { epoch, epoch_version });
                    }
                } else if self.lease.take().is_some() {
                    tracing::info!(broker = me, "no longer the controller");
                }
                return Ok(());
            }
            if let Some((epoch, epoch_version)) = shared.zk.try_become_controller(me, now_ms()).await? {
                tracing::info!(broker = me, epoch, "elected controller");
                self.lease = Some(Lease { epoch, epoch_version });
                shared.cache.update(|v| v.controller = Some(me));
                return Ok(());
            }
        }
        Ok(())
    }

    /// Kafka's `doControlledShutdown`: records `broker` as shutting down,
    /// runs a pass (which moves its leaderships and ISR memberships away)
    /// and reports the partitions it still leads that could move later.
    async fn controlled_shutdown(&mut self, shared: &Shared, broker: i32, broker_epoch: i64) -> ShutdownOutcome {
        if self.lease.is_none() || self.disconnected {
            // Disconnected, the pass could not write: let the broker go on (or
            // ask the next controller) rather than wait for ZooKeeper.
            return ShutdownOutcome::NotController;
        }
        let registered = shared.cache.read().brokers.get(&broker).map(|b| b.epoch);
        let Some(current) = registered else {
            return ShutdownOutcome::UnknownBroker;
        };
        if broker_epoch >= 0 && broker_epoch < current {
            return ShutdownOutcome::StaleBrokerEpoch;
        }
        tracing::info!(broker, "controlled shutdown requested: moving its leaderships and ISR memberships");
        self.shutting_down.insert(broker, current);
        self.controller_pass(shared, false, Some(broker)).await;
        if self.lease.is_none() {
            return ShutdownOutcome::NotController;
        }
        let shutting: BTreeSet<i32> = self.shutting_down.keys().copied().collect();
        let remaining = controller::movable_leaderships(&shared.cache.read(), broker, &shutting);
        tracing::info!(broker, remaining = remaining.len(), "controlled shutdown pass done");
        ShutdownOutcome::Done { remaining }
    }

    /// While controller: computes the plan and applies it action by action.
    /// `rebalance`: this pass also checks the leader imbalance; `leaving`:
    /// the broker in controlled shutdown that leaves the ISRs it follows.
    async fn controller_pass(&mut self, shared: &Shared, rebalance: bool, leaving: Option<i32>) {
        let Some(lease) = self.lease else { return };
        // A broker is shutting down only as long as the registration that asked
        // lives: once gone (or replaced by a restart) it is an ordinary broker.
        {
            let view = shared.cache.read();
            self.shutting_down.retain(|id, epoch| view.brokers.get(id).is_some_and(|b| b.epoch == *epoch));
        }
        let policy = Policy {
            delete_enabled: shared.delete_topic_enable,
            rebalance_percentage: shared.leader_rebalance.filter(|_| rebalance).map(|r| r.percentage),
            unclean_default: shared.unclean_leader_election.load(std::sync::atomic::Ordering::Relaxed),
            shutting_down: self.shutting_down.keys().copied().collect(),
            leaving_isrs: leaving.into_iter().collect(),
        };
        let actions = controller::plan(&shared.cache.read(), lease.epoch, &policy);
        let mut failed = false;
        for action in actions {
            if failed && matches!(action, Action::DropElectionRequest { .. } | Action::UpdateReassignRequest { .. }) {
                // A write of this pass failed, maybe one the request asked for:
                // keep the request so that the pass after the reload retries it.
                continue;
            }
            match execute(shared, lease, &action).await {
                Ok(()) => {}
                Err(FencedError::Fenced) => {
                    tracing::info!(broker = shared.broker_id, "controller epoch moved on: no longer the controller");
                    self.lease = None;
                    shared.cache.update(|v| v.controller = None);
                    self.dirty = true;
                    return;
                }
                Err(FencedError::Failed(e)) => {
                    tracing::warn!(error = %e, ?action, "controller write failed; retrying after a reload");
                    self.dirty = true;
                    failed = true;
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Resolves once a stop is asked for (or the store that could ask is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The task: serves sessions one after another until stopped, then closes.
///
/// A stop interrupts whatever the task is waiting for — a ZooKeeper call to a
/// coordinator that does not answer, a reconnect that takes up to
/// `zookeeper.connection.timeout.ms` — so that shutdown only waits for the close
/// of the session, which has its own deadline. Without a session, every
/// ControlledShutdown request is answered NotController at once.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut session: Session,
    mut stop: watch::Receiver<bool>,
    mut requests: mpsc::UnboundedReceiver<ShutdownRequest>,
) {
    loop {
        let mut serve_stop = stop.clone();
        let ended = tokio::select! {
            ended = session.serve(&shared, &mut serve_stop, &mut requests) => ended,
            () = stop_requested(&mut stop) => Ended::Stopped,
        };
        session.teardown();
        match ended {
            Ended::Stopped => {
                close(&shared, session).await;
                return;
            }
            Ended::Lost => loop {
                let attempt = async {
                    shared.zk.reconnect().await?;
                    Session::establish(&shared, false).await
                };
                let attempt = async {
                    tokio::select! {
                        attempted = attempt => Some(attempted),
                        () = stop_requested(&mut stop) => None,
                    }
                };
                let Some(attempted) = refusing(&mut requests, attempt).await else {
                    shared.zk.close();
                    return;
                };
                match attempted {
                    Ok(s) => {
                        session = s;
                        break;
                    }
                    Err(MetadataError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot re-establish the ZooKeeper session; retrying");
                        let pause = async {
                            tokio::select! {
                                () = stop_requested(&mut stop) => true,
                                _ = tokio::time::sleep(RETRY_EVERY) => false,
                            }
                        };
                        if refusing(&mut requests, pause).await {
                            shared.zk.close();
                            return;
                        }
                    }
                }
            },
        }
    }
}

/// Runs `work` while answering NotController to every ControlledShutdown
/// request: without a session this broker controls nothing, and a stopping
/// broker must not wait for a session to come back.
async fn refusing<T>(requests: &mut mpsc::UnboundedReceiver<ShutdownRequest>, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            Some(request) = requests.recv() => {
                let _ = request.reply.send(ShutdownOutcome::NotController);
            }
        }
    }
}

/// Closes the session: drops every client handle and waits for the close to be acknowledged.
async fn close(shared: &Shared, session: Session) {
    let Session { client, mut states, events, .. } = session;
    drop(events);
    drop(client);
    shared.zk.close();
    let closed = async {
        loop {
            if states.changed().await.is_terminated() {
                return;
            }
        }
    };
    if tokio::time::timeout(CLOSE_DEADLINE, closed).await.is_err() {
        tracing::warn!("the ZooKeeper session did not close in time; it will expire");
    }
}

/// Arms the persistent watches and starts one forwarder per watcher.
async fn arm_watches(
    client: &Client,
) -> Result<(mpsc::UnboundedReceiver<WatchedEvent>, Vec<JoinHandle<()>>), MetadataError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut forwarders = Vec::new();
    let specs = [
        (znode::BROKERS, AddWatchMode::PersistentRecursive),
        (znode::CONFIG_TOPICS, AddWatchMode::PersistentRecursive),
        (znode::CONFIG_BROKERS, AddWatchMode::PersistentRecursive),
        (znode::CONFIG_USERS, AddWatchMode::PersistentRecursive),
        (znode::CONFIG_CLIENTS, AddWatchMode::PersistentRecursive),
        (znode::ADMIN, AddWatchMode::PersistentRecursive),
        (znode::ISR_CHANGE_NOTIFICATION, AddWatchMode::PersistentRecursive),
        (znode::CONTROLLER, AddWatchMode::Persistent),
        (crate::security::acl::LITERAL_ROOT, AddWatchMode::PersistentRecursive),
        (crate::security::acl::EXTENDED_ROOT, AddWatchMode::PersistentRecursive),
    ];
    for (path, mode) in specs {
        let watching = client.watch(path, mode).await;
        let mut watcher = match watching {
            Ok(w) => w,
            Err(source) => {
                for f in forwarders {
                    JoinHandle::abort(&f);
                }
                return Err(MetadataError::ZooKeeper { action: "watch", path: path.into(), source });
            }
        };
        let tx = tx.clone();
        forwarders.push(tokio::spawn(async move {
            loop {
                let ev = watcher.changed().await;
                let terminal = ev.event_type == EventType::Session && ev.session_state.is_terminated();
                if tx.send(ev).is_err() || terminal {
                    return;
                }
            }
        }));
    }
    Ok((rx, forwarders))
}

/// Reads everything into the cache.
async fn full_reload(shared: &Shared) -> Result<(), MetadataError> {
    let zk = &shared.zk;
    let brokers = zk.read_brokers().await?;
    let controller = zk.read_controller().await?.map(|(id, _)| id).filter(|id| *id >= 0);
    let names = zk.list(znode::BROKER_TOPICS).await?;
    let mut topics = std::collections::BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    let mut configs = std::collections::BTreeMap::new();
    let mut states = std::collections::BTreeMap::new();
    for name in names {
        match zk.read_topic(&name).await? {
            Some(Ok(entry)) => {
                states.insert(name.clone(), zk.read_states(&name, entry.partitions.len()).await?);
                topics.insert(name.clone(), entry);
            }
            Some(Err(reason)) => {
                tracing::warn!(topic = %name, %reason, "skipping a malformed topic assignment");
                unreadable.insert(name.clone());
            }
            None => continue,
        }
        if let Some(c) = zk.read_config(&name).await? {
            configs.insert(name, c);
        }
    }
    let mut broker_configs = std::collections::BTreeMap::new();
    for entity in zk.list(znode::CONFIG_BROKERS).await? {
        if let Some(c) = zk.read_broker_config(&entity).await? {
            broker_configs.insert(entity, c);
        }
    }
    let delete_requests: BTreeSet<String> = zk.list(znode::DELETE_TOPICS).await?.into_iter().collect();
    let isr_change_notifications: BTreeSet<String> =
        zk.list(znode::ISR_CHANGE_NOTIFICATION).await?.into_iter().collect();
    let mut election_requests = std::collections::BTreeMap::new();
    for kind in [ElectionType::Preferred, ElectionType::Unclean] {
        if let Some(partitions) = zk.read_election(kind).await? {
            election_requests.insert(kind, partitions);
        }
    }
    let reassign_request = zk.read_reassign_request().await?;
    let acls = std::sync::Arc::new(zk.read_all_acls().await?);
    let mut scram_users = std::collections::BTreeMap::new();
    for sanitized in zk.list(znode::CONFIG_USERS).await? {
        if let (Some(user), Some(creds)) =
            (crate::security::scram::desanitize_user(&sanitized), zk.read_user_scram(&sanitized).await?)
        {
            if !creds.is_empty() {
                scram_users.insert(user, creds);
            }
        }
    }
    let quotas = read_all_quotas(zk).await?;
    shared.cache.update(|v| {
        v.quotas = quotas;
        v.acls = acls;
        v.reassign_request = reassign_request;
        v.scram_users = scram_users;
        v.brokers = brokers;
        v.controller = controller;
        v.topics = topics;
        v.unreadable = unreadable;
        v.configs = configs;
        v.broker_configs = broker_configs;
        v.states = states;
        v.delete_requests = delete_requests;
        v.election_requests = election_requests;
        v.isr_change_notifications = isr_change_notifications;
    });
    Ok(())
}

/// Every client quota entity's quota keys (`/config/clients/*`, `/config/users/*` and
/// `/config/users/*/clients/*`); entities without quota keys are left out.
pub(super) async fn read_all_quotas(
    zk: &ZkStore,
) -> Result<BTreeMap<super::quotas::QuotaEntity, super::quotas::QuotaValues>, MetadataError> {
    use super::quotas::{QuotaEntity, QuotaName};
    let mut entities = Vec::new();
    for node in zk.list(znode::CONFIG_CLIENTS).await? {
        entities.extend(QuotaName::from_node(&node).map(QuotaEntity::client));
    }
    for node in zk.list(znode::CONFIG_USERS).await? {
        let Some(user) = QuotaName::from_node(&node) else { continue };
        for client in zk.list(&format!("{}/{node}/clients", znode::CONFIG_USERS)).await? {
            if let Some(client) = QuotaName::from_node(&client) {
                entities.push(QuotaEntity { user: Some(user.clone()), client: Some(client) });
            }
        }
        entities.push(QuotaEntity::user(user));
    }
    let mut quotas = BTreeMap::new();
    for entity in entities {
        if let Some(q) = zk.read_quotas(&entity).await? {
            quotas.insert(entity, q);
        }
    }
    Ok(quotas)
}

/// Keeps a cached znode's value, or forgets it once the znode is gone.
fn put<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) {
    match value {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// Re-reads one znode the watches said changed.
async fn reread(shared: &Shared, kind: PathKind) -> Result<(), MetadataError> {
    let zk = &shared.zk;
    match kind {
        PathKind::Broker(id) => {
            let info = zk.read_broker(id).await?;
            shared.cache.update(|v| put(&mut v.brokers, id, info));
        }
        PathKind::Topic(name) => reload_topic(shared, &name).await?,
        PathKind::PartitionState(name, p) => {
            let state = zk.read_state(&name, p).await?;
            shared.cache.update(|v| {
                if !v.topics.contains_key(&name) {
                    return;
                }
                put(v.states.entry(name).or_default(), p, state);
            });
        }
        PathKind::TopicConfig(name) => {
            let config = zk.read_config(&name).await?;
            shared.cache.update(|v| put(&mut v.configs, name, config));
        }
        PathKind::BrokerConfig(entity) => {
            let config = zk.read_broker_config(&entity).await?;
            shared.cache.update(|v| put(&mut v.broker_configs, entity, config));
        }
        PathKind::DeleteRequest(name) => {
            let exists = zk.list(znode::DELETE_TOPICS).await?.contains(&name);
            shared.cache.update(|v| {
                if exists {
                    v.delete_requests.insert(name);
                } else {
                    v.delete_requests.remove(&name);
                }
            });
        }
        PathKind::Controller => {
            let controller = zk.read_controller().await?.map(|(id, _)| id).filter(|id| *id >= 0);
            shared.cache.update(|v| v.controller = controller);
        }
        PathKind::IsrChangeNotification => {
            let names: BTreeSet<String> = zk.list(znode::ISR_CHANGE_NOTIFICATION).await?.into_iter().collect();
            shared.cache.update(|v| v.isr_change_notifications = names);
        }
        PathKind::ElectionRequest(kind) => {
            let request = zk.read_election(kind).await?;
            shared.cache.update(|v| put(&mut v.election_requests, kind, request));
        }
        PathKind::ReassignRequest => {
            let request = zk.read_reassign_request().await?;
            shared.cache.update(|v| v.reassign_request = request);
        }
        PathKind::Acl(pattern) => {
            let entries = zk.read_acl_entries(&pattern).await?.map(|(e, _)| e).unwrap_or_default();
            shared.cache.update(|v| std::sync::Arc::make_mut(&mut v.acls).set(pattern, entries));
        }
        PathKind::UserConfig(sanitized) => {
            let Some(user) = crate::security::scram::desanitize_user(&sanitized) else {
                return Ok(());
            };
            let creds = zk.read_user_scram(&sanitized).await?.filter(|c| !c.is_empty());
            let entity = super::quotas::QuotaEntity::user(
                super::quotas::QuotaName::from_node(&sanitized)
                    .unwrap_or(super::quotas::QuotaName::Named(user.clone())),
            );
            let quotas = zk.read_quotas(&entity).await?;
            shared.cache.update(|v| {
                put(&mut v.scram_users, user, creds);
                put(&mut v.quotas, entity, quotas);
            });
        }
        PathKind::QuotaConfig(entity) => {
            let quotas = zk.read_quotas(&entity).await?;
            shared.cache.update(|v| put(&mut v.quotas, entity, quotas));
        }
        PathKind::Other => {}
    }
    Ok(())
}

/// Re-reads a topic: assignment, config and partition states.
async fn reload_topic(shared: &Shared, name: &str) -> Result<(), MetadataError> {
    let zk = &shared.zk;
    match zk.read_topic(name).await? {
        None => {
            shared.cache.update(|v| v.remove_topic(name));
        }
        Some(Err(reason)) => {
            tracing::warn!(topic = name, %reason, "skipping a malformed topic assignment");
            shared.cache.update(|v| {
                v.remove_topic(name);
                v.unreadable.insert(name.to_string());
            });
        }
        Some(Ok(entry)) => {
            let config = zk.read_config(name).await?;
            let states = zk.read_states(name, entry.partitions.len()).await?;
            shared.cache.update(|v| {
                v.unreadable.remove(name);
                v.topics.insert(name.to_string(), entry);
                v.states.insert(name.to_string(), states);
                match config {
                    Some(c) => v.configs.insert(name.to_string(), c),
                    None => v.configs.remove(name),
                };
            });
        }
    }
    Ok(())
}

/// Applies one controller action as a fenced multi, then writes its effect
/// through to the cache (the watch event that follows re-reads it anyway).
async fn execute(shared: &Shared, lease: Lease, action: &Action) -> Result<(), FencedError> {
    let zk = &shared.zk;
    let fenced = |ops: Vec<Op>| async move { zk.fenced(lease.epoch_version, &ops).await };
    // Removes a request or notice znode; one that is gone already has nothing to drop.
    let drop_znode = |path: String| async move {
        match fenced(vec![Op::Delete(path)]).await {
            Err(FencedError::Failed(MetadataError::ZooKeeper { source: zookeeper_client::Error::NoNode, .. })) => {
                Ok(())
            }
            other => other,
        }
    };
    match action {
        Action::CreateStates { topic, states } => {
            let state_ops: Vec<Op> =
                states.iter().map(|(p, s)| Op::Create(znode::state_path(topic, *p), znode::encode_state(s))).collect();
            let fresh_topic = shared.cache.read().states.get(topic).is_none_or(|s| s.is_empty());
            let mut ops = Vec::new();
            if fresh_topic {
                ops.push(Op::Create(znode::partitions_path(topic), Vec::new()));
            }
            for (p, _) in states {
                ops.push(Op::Create(znode::partition_path(topic, *p), Vec::new()));
            }
            ops.extend(state_ops.iter().cloned());
            match fenced(ops).await {
                Ok(()) => {
                    shared.cache.update(|v| {
                        if v.topics.contains_key(topic) {
                            let entry = v.states.entry(topic.clone()).or_default();
                            for (p, s) in states {
                                entry.insert(*p, VersionedState { state: s.clone(), version: 0 });
                            }
                        }
                    });
                }
                Err(FencedError::Fenced) => return Err(FencedError::Fenced),
                Err(FencedError::Failed(_)) => create_states_one_by_one(shared, lease, topic, states).await?,
            }
            tracing::info!(topic, partitions = states.len(), "controller wrote partition states");
        }
        Action::UpdateState { topic, partition, state, version } => {
            let path = znode::state_path(topic, *partition);
            fenced(vec![Op::SetData(path, znode::encode_state(state), *version)]).await?;
            shared.cache.update(|v| {
                if let Some(states) = v.states.get_mut(topic) {
                    states.insert(*partition, VersionedState { state: state.clone(), version: version + 1 });
                }
            });
            tracing::info!(topic, partition, leader = state.leader, isr = ?state.isr, "controller changed leader/ISR");
        }
        Action::AssignTopicId { topic, topic_id, version } => {
            let assignment = match shared.cache.read().topics.get(topic) {
                Some(t) => znode::TopicAssignment { topic_id: Some(*topic_id), ..t.assignment() },
                None => return Ok(()),
            };
            let data = znode::encode_topic_assignment(&assignment);
            fenced(vec![Op::SetData(znode::topic_path(topic), data, *version)]).await?;
            shared.cache.update(|v| {
                if let Some(t) = v.topics.get_mut(topic) {
                    t.topic_id = Some(*topic_id);
                    t.version = version + 1;
                }
            });
        }
        Action::DeleteTopic { topic } => {
            let mut paths = zk.subtree(&znode::topic_path(topic)).await.map_err(FencedError::Failed)?;
            paths.extend(zk.subtree(&znode::config_path(topic)).await.map_err(FencedError::Failed)?);
            paths.push(znode::delete_request_path(topic));
            fenced(paths.into_iter().map(Op::Delete).collect()).await?;
            shared.cache.update(|v| {
                v.remove_topic(topic);
                v.configs.remove(topic);
                v.delete_requests.remove(topic);
            });
            tracing::info!(topic, "controller deleted topic");
        }
        Action::DropDeleteRequest { topic } => {
            drop_znode(znode::delete_request_path(topic)).await?;
            shared.cache.update(|v| {
                v.delete_requests.remove(topic);
            });
            if shared.delete_topic_enable {
                tracing::info!(topic, "dropped a deletion request for a topic that does not exist");
            } else {
                tracing::info!(topic, "delete.topic.enable=false: dropped the deletion request, topic kept");
            }
        }
        Action::DropElectionRequest { kind } => {
            drop_znode(znode::election_path(*kind).to_string()).await?;
            shared.cache.update(|v| {
                v.election_requests.remove(kind);
            });
            tracing::info!(election = %kind, "controller completed the election request");
        }
        Action::Reassign { topic, assignment, version, states } => {
            let mut ops =
                vec![Op::SetData(znode::topic_path(topic), znode::encode_topic_assignment(assignment), *version)];
            for (p, state, state_version) in states {
                ops.push(Op::SetData(znode::state_path(topic, *p), znode::encode_state(state), *state_version));
            }
            fenced(ops).await?;
            shared.cache.update(|v| {
                if let Some(t) = v.topics.get_mut(topic) {
                    t.partitions = assignment.partitions.clone();
                    t.adding = assignment.adding.clone();
                    t.removing = assignment.removing.clone();
                    t.version = version + 1;
                }
                if let Some(cached) = v.states.get_mut(topic) {
                    for (p, state, state_version) in states {
                        cached.insert(*p, VersionedState { state: state.clone(), version: state_version + 1 });
                    }
                }
            });
            let completed: Vec<i32> = states.iter().map(|(p, _, _)| *p).collect();
            tracing::info!(topic, moving = ?assignment.adding.keys().collect::<Vec<_>>(), ?completed, "controller wrote reassignment progress");
        }
        Action::UpdateReassignRequest { remaining, version } => {
            let path = znode::REASSIGN_PARTITIONS.to_string();
            let op = if remaining.is_empty() {
                Op::Delete(path)
            } else {
                Op::SetData(path, znode::encode_reassign_request(remaining), *version)
            };
            match fenced(vec![op]).await {
                Ok(())
                | Err(FencedError::Failed(MetadataError::ZooKeeper {
                    source: zookeeper_client::Error::NoNode, ..
                })) => {}
                Err(e) => return Err(e),
            }
            shared.cache.update(|v| {
                v.reassign_request = if remaining.is_empty() {
                    None
                } else {
                    Some(super::cache::ReassignRequest { entries: remaining.clone(), version: version + 1 })
                };
            });
            tracing::info!(remaining = remaining.len(), "controller updated /admin/reassign_partitions");
        }
        Action::DropIsrChangeNotification { name } => {
            let path = format!("{}/{name}", znode::ISR_CHANGE_NOTIFICATION);
            drop_znode(path).await?;
            shared.cache.update(|v| {
                v.isr_change_notifications.remove(name);
            });
        }
    }
    Ok(())
}

/// The slow path of [`Action::CreateStates`] when the one-multi attempt failed
/// (some znodes exist already): missing parents first — never upwards of
/// `partitions`, which would resurrect a deleted topic — then each state on its
/// own. A state znode that exists but cannot be read is overwritten.
async fn create_states_one_by_one(
    shared: &Shared,
    lease: Lease,
    topic: &str,
    states: &[(i32, super::PartitionState)],
) -> Result<(), FencedError> {
    let zk = &shared.zk;
    zk.create_if_missing(&znode::partitions_path(topic)).await.map_err(FencedError::Failed)?;
    for (p, state) in states {
        zk.create_if_missing(&znode::partition_path(topic, *p)).await.map_err(FencedError::Failed)?;
        let path = znode::state_path(topic, *p);
        let data = znode::encode_state(state);
        match zk.fenced(lease.epoch_version, &[Op::Create(path.clone(), data.clone())]).await {
            Ok(()) => {}
            Err(FencedError::Failed(MetadataError::ZooKeeper {
                source: zookeeper_client::Error::NodeExists, ..
            })) => {
                if zk.read_state(topic, *p).await.map_err(FencedError::Failed)?.is_none() {
                    tracing::warn!(path, "overwriting an unreadable partition state");
                    zk.fenced(lease.epoch_version, &[Op::SetData(path, data, -1)]).await?;
                }
            }
            Err(e) => return Err(e),
        }
        // The watch event that follows brings the state (and its version) into the cache.
    }
    Ok(())
}
