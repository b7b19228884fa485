//! The worker's membership in `group.id`: a group of protocol type
//! `connect` with Kafka's eager ConnectProtocol (`default`, version 0),
//! spoken with the client's connection and coordinator lookup. JoinGroup
//! carries each worker's REST URL and config offset; the leader's
//! SyncGroup carries every worker's connectors and tasks.
//!
//! A named background task heartbeats the current generation every
//! `heartbeat.interval.ms`; when the coordinator answers that a rebalance
//! is under way, or that the member or generation is gone (a worker that
//! stalled past `session.timeout.ms` was dropped), it sets the rejoin flag
//! and wakes the herder, which stops its work and joins again (eager: all
//! work is given back before every join).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{ApiKey, GroupId, JoinGroupRequest, SyncGroupRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::protocol::{Assignment, WorkerMetadata, PROTOCOL_NAME, PROTOCOL_TYPE};
use crate::client::cluster::Cluster;
use crate::client::connection::Connection;
use crate::client::consumer::group::{find_coordinator, heartbeat, leave_group, GroupError};
use crate::client::{ClientConfig, ClientError, ResponseError};

/// A generation this worker joined.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader: String,
    /// Every member's metadata; filled for the leader only.
    pub members: Vec<(String, WorkerMetadata)>,
}

/// One worker's group membership.
pub struct GroupMember {
    cluster: Arc<Cluster>,
    group_id: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    member_id: String,
    coordinator: Option<String>,
    heartbeat: Option<JoinHandle<()>>,
    /// Set when the group needs this worker to join again.
    rejoin: Arc<AtomicBool>,
    /// Woken with the flag.
    wake: Arc<Notify>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl GroupMember {
    pub fn new(
        bootstrap: &str,
        group_id: &str,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        heartbeat_interval: Duration,
    ) -> Result<GroupMember, ClientError> {
        let mut config = ClientConfig::new(bootstrap);
        config.client_id = format!("connect-{group_id}");
        Ok(GroupMember {
            cluster: Cluster::new(config, false)?,
            group_id: group_id.to_string(),
            session_timeout,
            rebalance_timeout,
            heartbeat_interval,
            member_id: String::new(),
            coordinator: None,
            heartbeat: None,
            rejoin: Arc::new(AtomicBool::new(true)),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Whether the group asked this worker to join again.
    pub fn needs_rejoin(&self) -> bool {
        self.rejoin.load(Ordering::Acquire)
    }

    /// Asks for a rejoin (the config changed).
    pub fn request_rejoin(&self) {
        self.rejoin.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Notified when the heartbeat finds the group rebalancing.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn coordinator(&mut self) -> Result<Arc<Connection>, ClientError> {
        let addr = match &self.coordinator {
            Some(a) => a.clone(),
            None => {
                let c = find_coordinator(&self.cluster, &self.group_id).await?;
                self.coordinator = Some(c.addr.clone());
                c.addr
            }
        };
        match self.cluster.connection(&addr).await {
            Ok(c) => Ok(c),
            Err(e) => {
                self.coordinator = None;
                Err(e)
            }
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// Forgets the coordinator or member id as the error asks.
    fn note(&mut self, err: &ClientError) {
        match GroupError::of(err) {
            GroupError::CoordinatorLost => self.coordinator = None,
            GroupError::Reset => self.member_id.clear(),
            _ => {}
        }
    }

    /// JoinGroup with this worker's metadata; waits for the other members.
    pub async fn join(&mut self, metadata: &WorkerMetadata) -> Result<Joined, ClientError> {
        self.stop_heartbeat();
        self.rejoin.store(false, Ordering::Release);
        let result = self.join_once(metadata).await;
        if let Err(e) = &result {
            self.note(e);
            self.rejoin.store(true, Ordering::Release);
        }
        result
    }

    async fn join_once(&mut self, metadata: &WorkerMetadata) -> Result<Joined, ClientError> {
        // At most twice: a first join may only be handed a member id (MEMBER_ID_REQUIRED).
        for _ in 0..2 {
            let conn = self.coordinator().await?;
            let version = conn.version(ApiKey::JoinGroup)?;
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&self.group_id)))
                .with_session_timeout_ms(ms(self.session_timeout))
                .with_rebalance_timeout_ms(ms(self.rebalance_timeout))
                .with_member_id(sb(&self.member_id))
                .with_protocol_type(sb(PROTOCOL_TYPE))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(sb(PROTOCOL_NAME))
                    .with_metadata(metadata.encode())]);
            // The coordinator holds JoinGroup until every member joined, up to the rebalance timeout.
            let timeout = conn.request_timeout().max(self.rebalance_timeout + Duration::from_secs(5));
            let resp = conn.send(&req, version)?.with_timeout(timeout).await_response().await?;
            if resp.error_code == ResponseError::MemberIdRequired.code() && !resp.member_id.is_empty() {
                self.member_id = resp.member_id.to_string();
                continue;
            }
            ClientError::check(resp.error_code, None, || format!("joining group '{}'", self.group_id))?;
            self.member_id = resp.member_id.to_string();
            let mut members = Vec::with_capacity(resp.members.len());
            for m in resp.members {
                match WorkerMetadata::decode(&m.metadata) {
                    Ok(meta) => members.push((m.member_id.to_string(), meta)),
                    Err(e) => {
                        tracing::warn!(member = %m.member_id.as_str(), error = %e, "ignoring a member's metadata")
                    }
                }
            }
            return Ok(Joined {
                generation: resp.generation_id,
                member_id: self.member_id.clone(),
                leader: resp.leader.to_string(),
                members,
            });
        }
        Err(ClientError::protocol(
            self.coordinator.clone().unwrap_or_default(),
            "JoinGroup kept asking for a member id",
        ))
    }

    /// SyncGroup (the leader passes every member's assignment); on success
    /// heartbeats start for the generation.
    pub async fn sync(
        &mut self,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Assignment, ClientError> {
        let result = self.sync_once(generation, assignments).await;
        match &result {
            Ok(_) => self.start_heartbeat(generation),
            Err(e) => {
                self.note(e);
                self.rejoin.store(true, Ordering::Release);
            }
        }
        result
    }

    async fn sync_once(
        &mut self,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Assignment, ClientError> {
        let conn = self.coordinator().await?;
        let version = conn.version(ApiKey::SyncGroup)?;
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&self.group_id)))
            .with_generation_id(generation)
            .with_member_id(sb(&self.member_id))
            .with_protocol_type(Some(sb(PROTOCOL_TYPE)))
            .with_protocol_name(Some(sb(PROTOCOL_NAME)))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| SyncGroupRequestAssignment::default().with_member_id(sb(&m)).with_assignment(a))
                    .collect(),
            );
        let timeout = conn.request_timeout().max(self.rebalance_timeout + Duration::from_secs(5));
        let resp = conn.send(&req, version)?.with_timeout(timeout).await_response().await?;
        ClientError::check(resp.error_code, None, || format!("syncing group '{}'", self.group_id))?;
        Assignment::decode(&resp.assignment).map_err(|e| ClientError::protocol(conn.addr(), e))
    }

    fn start_heartbeat(&mut self, generation: i32) {
        self.stop_heartbeat();
        let Some(coordinator) = self.coordinator.clone() else {
            self.rejoin.store(true, Ordering::Release);
            return;
        };
        let (cluster, group, member) = (self.cluster.clone(), self.group_id.clone(), self.member_id.clone());
        let (rejoin, wake, interval) = (self.rejoin.clone(), self.wake.clone(), self.heartbeat_interval);
        self.heartbeat = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let result = match cluster.connection(&coordinator).await {
                    Ok(conn) => heartbeat(&conn, &group, generation, &member, None).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {}
                    Err(e) if GroupError::of(&e) == GroupError::Retry => {}
                    Err(e) => {
                        tracing::info!(group, generation, reason = %e, "the group is rebalancing; rejoining");
                        rejoin.store(true, Ordering::Release);
                        wake.notify_one();
                        return;
                    }
                }
            }
        }));
    }

    /// Leaves the group so the others take over at once.
    pub async fn leave(&mut self) {
        self.stop_heartbeat();
        if self.member_id.is_empty() {
            return;
        }
        if let Ok(conn) = self.coordinator().await {
            if let Err(e) = leave_group(&conn, &self.group_id, &self.member_id, None).await {
                tracing::debug!(error = %e, "leaving the group failed");
            }
        }
        self.member_id.clear();
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}
